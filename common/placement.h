/* Rendezvous (highest random weight) placement, as minikeyvalue does it.
 *
 * Each volume scores md5(key ‖ address); the `want` highest scores, byte-
 * wise, win, best first (ties keep the set's order). The result depends on
 * the volumes' names, not their order, and adding a volume moves only the
 * keys it now wins.
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

/* The address of the set's i-th volume, a NUL-terminated string that
 * stays valid for the call. */
typedef const char *(*placement_addr_fn)(const void *set, size_t i);

/* Writes into out[] the indexes (into the set) of the min(want, n)
 * winning volumes, best first. Returns how many, or -ENOMEM. */
int placement_pick_set(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, size_t want,
		       size_t *out);

/* placement_pick_set over an array of n addresses. */
int placement_pick(const char *key, size_t keylen, const char *const *addrs,
		   size_t n, size_t want, size_t *out);

/* Whether a key that lives on have[0..nhave) (indexes into the set, best
 * first) is where placement puts it: the same volumes in the same order,
 * what Key-Balance reports. Returns 1, 0, or -ENOMEM. */
int placement_balanced(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, size_t want,
		       const size_t *have, size_t nhave);

#endif
