/* corrupt: the bounded set of keys a volume found corrupt, as reports a
 * master pulls.
 *
 * Each report gets the next sequence number (1, 2, ...), so a poller that
 * remembers the last one it saw asks only for what is newer. A key is in
 * the set at most once: finding it bad again adds nothing until it has
 * left (corrupt_remove, when the key is overwritten or deleted). The set
 * holds at most `cap` reports: a report whose number is `cap` or more
 * below the newest is dropped to make room, and the newest number dropped
 * is remembered (corrupt_dropped_seq), so a poller can tell whether it
 * missed any.
 *
 * Memory: keys are copied; `why` strings are not, so they must be static.
 * Threads: none of its own and no locking; the caller serialises every
 * call (the engine holds one mutex around it).
 * Errors: 0 or a negative errno (-ENOMEM).
 */
#ifndef CASK_CORRUPT_H
#define CASK_CORRUPT_H

#include <stddef.h>
#include <stdint.h>

#define CORRUPT_CAP_DEFAULT 65536

struct corrupt_set;

/* A set of at most cap (> 0) reports. */
int corrupt_new(uint32_t cap, struct corrupt_set **out);
void corrupt_free(struct corrupt_set *cs);

/* Reports key (klen 1..KEY_MAX) as corrupt. Returns 1 with *seq set to
 * its new number, 0 when the key is already in the set (*seq is then its
 * earlier number), or -ENOMEM. */
int corrupt_add(struct corrupt_set *cs, const char *key, uint16_t klen,
		uint64_t size, const char *why, uint64_t *seq);

/* Returns 1 if key has a report, else 0. */
int corrupt_has(const struct corrupt_set *cs, const char *key, uint16_t klen);

/* Removes key's report. Returns 1 if there was one, else 0. */
int corrupt_remove(struct corrupt_set *cs, const char *key, uint16_t klen);

struct corrupt_report {
	uint64_t seq;
	const char *key; /* klen bytes, valid during the callback only */
	uint16_t klen;
	uint64_t size; /* value size the index holds for the key */
	const char *why;
};

typedef void (*corrupt_fn)(void *arg, const struct corrupt_report *r);

/* Calls fn, in ascending number, for up to max reports numbered above
 * since and at most until. Returns how many it called fn for; *last (if
 * not NULL) gets the number up to which the set was looked through, to
 * pass as the next `since` (it is `until` once nothing is left). */
size_t corrupt_list(const struct corrupt_set *cs, uint64_t since,
		    uint64_t until, size_t max, corrupt_fn fn, void *arg,
		    uint64_t *last);

/* Number of the newest report (0: none yet). */
uint64_t corrupt_seq(const struct corrupt_set *cs);

/* Number of the newest report dropped for lack of room (0: none). */
uint64_t corrupt_dropped_seq(const struct corrupt_set *cs);

/* Reports in the set. */
uint32_t corrupt_count(const struct corrupt_set *cs);

#endif
