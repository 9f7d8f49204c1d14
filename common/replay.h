/* The signatures seen lately, so that a captured request cannot be sent
 * again (common/sign.h).
 *
 * A set of 64-bit tags, each remembered until its expiry time passes: an
 * open-addressing table that starts small, doubles while more than half
 * of it is live, and stops at REPLAY_MAX_SLOTS. Expired tags are reused
 * in place as the probes meet them and dropped when the table grows, so
 * memory follows the rate of signed requests over the window, not the
 * daemon's age.
 *
 * Threads: every call takes the set's mutex. Memory: the set owns its
 * table; replay_free releases it. */
#ifndef CASK_REPLAY_H
#define CASK_REPLAY_H

#include <stdint.h>

/* 2^22 slots of 16 bytes: 64 MiB at most, room for two million live
 * tags, which a 30 s window fills only past 70,000 signed requests a
 * second. */
#define REPLAY_MAX_SLOTS (1u << 22)

struct replay;

/* NULL when out of memory. */
struct replay *replay_new(void);
void replay_free(struct replay *r); /* NULL is a no-op */

/* Records tag until expires_ms, given the time now_ms (both on one
 * clock). Returns 0 when the tag was new, -EEXIST when it is remembered
 * and not expired (a replay), -ENOSPC when the set is full of live tags
 * (it grows no further), -ENOMEM when growing failed. */
int replay_add(struct replay *r, uint64_t tag, uint64_t expires_ms,
	       uint64_t now_ms);

#endif
