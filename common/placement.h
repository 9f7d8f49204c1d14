/* Rendezvous (highest random weight) placement, as minikeyvalue does it.
 *
 * Each volume scores md5(key ‖ address); the `want` highest scores, byte-
 * wise, win, best first. The result depends on the volumes' names, not
 * their order, and adding a volume moves only the keys it now wins.
 * Pure function of its inputs: thread-safe, no allocation kept. */
#ifndef CASK_PLACEMENT_H
#define CASK_PLACEMENT_H

#include <stddef.h>

/* Writes into out[] the indexes (into addrs) of the min(want, n) winning
 * volumes, best first. Returns how many, or -ENOMEM. */
int placement_pick(const char *key, size_t keylen, const char *const *addrs,
		   size_t n, size_t want, size_t *out);

#endif
