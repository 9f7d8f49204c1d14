/* Rendezvous (highest random weight) placement with failure domains.
 *
 * Each volume scores md5(key ‖ address), the address being host:port
 * without its zone: labelling zones does not change a score. Placement is
 * a preference order over the whole set, and a key's `want` replicas are
 * its first `want` volumes, best first:
 *
 *  - When no volume of the set has a zone, the order is the scores',
 *    highest first: minikeyvalue's rendezvous hashing, what every cask
 *    before zones did, so an existing cluster does not move.
 *  - Otherwise three greedy walks over the volumes in score order: the
 *    first takes each volume whose zone is not taken yet (the best volume
 *    of every zone, zones ranked by their best score); the second each
 *    remaining one whose host (the address up to its last ':') is not
 *    taken yet by a volume already in the order; the third the rest.
 *    Volumes without a zone share one zone, the unnamed one.
 *
 * So replicas go to distinct zones while there are enough zones, then to
 * distinct hosts, then to distinct volumes, each the highest scores that
 * satisfy that. The order of want-1 replicas is a prefix of the order of
 * want (the walks only stop earlier), and placing a subset that is a
 * key's placement gives the same order again (provided a volume of the
 * subset has a zone whenever one of the set has). Ties (the same address
 * twice) keep the set's order. The result depends on the volumes' names
 * and zones, not their order, and adding a volume moves only the keys it
 * now wins (or, with zones, whose zone or host it newly covers).
 *
 * Who uses what: PUT, Key-Balance, REBALANCE and cask-rebalance take
 * placement_pick_set / placement_balanced; a copier that replaces lost
 * copies takes placement_complete, since the first volumes of the whole
 * order that lack the key need not be in the zone the loss uncovered.
 *
 * A set of volumes is anything addr(set, i) names for i < n: callers pass
 * their own volume table, so no address array is built and no count is
 * capped. Scores for more than 16 volumes are kept in memory allocated
 * for the call.
 *
 * Pure functions of their inputs: thread-safe, nothing kept. Errors:
 * -ENOMEM. */
#ifndef CASK_PLACEMENT_H
#define CASK_PLACEMENT_H

#include <stddef.h>

/* Longest zone label, and the bytes that hold one with its NUL. */
#define PLACEMENT_ZONE_LEN 63
#define PLACEMENT_ZONE_MAX (PLACEMENT_ZONE_LEN + 1)

/* The set's i-th volume: returns its address (host:port, no zone) and
 * sets *zone to its zone, "" or NULL for none. Both NUL-terminated and
 * valid for the call; *zone is NULL on entry. Called once per volume. */
typedef const char *(*placement_addr_fn)(const void *set, size_t i,
					 const char **zone);

/* Writes into out[] the indexes (into the set) of the min(want, n)
 * volumes that come first in the key's preference order, best first.
 * want == n gives the whole order. Returns how many, or -ENOMEM. */
int placement_pick_set(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, size_t want,
		       size_t *out);

/* For repair: the volumes to add to a key whose copies on keep[0..nkeep)
 * stay, to reach `want` replicas, never one of avoid[0..navoid) (dead,
 * lost, or unusable volumes; all indexes into the set). The same walks as
 * placement_pick_set, with the kept volumes' zones and hosts taken first,
 * so a lost copy is replaced in a zone (then on a host) the survivors do
 * not cover while there is one. With nothing kept or avoided it is
 * placement_pick_set. Writes up to want - nkeep indexes into out, best
 * first; fewer when the set runs out. Returns how many, or -ENOMEM. */
int placement_complete(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, const size_t *keep,
		       size_t nkeep, const size_t *avoid, size_t navoid,
		       size_t want, size_t *out);

/* placement_pick_set over an array of n addresses; zones (may be NULL
 * for none) holds each one's zone, NULL or "" for none. */
int placement_pick(const char *key, size_t keylen, const char *const *addrs,
		   const char *const *zones, size_t n, size_t want,
		   size_t *out);

/* Whether a key that lives on have[0..nhave) (indexes into the set, best
 * first) is where placement puts it: the same volumes in the same order,
 * what Key-Balance reports. Returns 1, 0, or -ENOMEM. */
int placement_balanced(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, size_t want,
		       const size_t *have, size_t nhave);

/* Splits a volume spec "host:port[@zone]" of len bytes (not NUL-
 * terminated): *addrlen gets the address's length, *zone (into s) and
 * *zonelen the zone's, NULL and 0 when there is none. A zone is 1 to
 * PLACEMENT_ZONE_LEN of [A-Za-z0-9._-]. The address is not checked beyond
 * being non-empty. Returns NULL, or a one-line reason it is not valid. */
const char *placement_spec(const char *s, size_t len, size_t *addrlen,
			   const char **zone, size_t *zonelen);

#endif
