/* cask-rebuild's view of the volumes: every copy of every key, read from
 * each volume's GET /_/keys in parallel (one thread per volume).
 *
 * Volumes that are active or draining must all answer, since a volume
 * missing from the scan would make its keys look lost; retired ones are
 * read when they answer and skipped (with a warning) when they do not.
 * The copies are sorted by key in the index's order (bytes, then
 * length), then by volume. Memory: owned by the scan, freed by
 * scan_free. Errors: 0 or negative errno, logged here. */
#ifndef CASK_REBUILD_SCAN_H
#define CASK_REBUILD_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/adminc.h"

struct copy {
	char *key;
	size_t keylen;
	int vol; /* index into the volumes */
	uint64_t size;
	uint8_t md5[MD5_LEN];
};

struct scan {
	struct copy *c;
	size_t n;
};

int scan_volumes(const struct adminc_volumes *vs, struct scan *out);
void scan_free(struct scan *s);

/* The index's key order: memcmp, then the shorter first. */
int scan_keycmp(const char *a, size_t alen, const char *b, size_t blen);

#endif
