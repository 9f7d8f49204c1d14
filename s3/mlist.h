/* A master's listing answer with records (GET /prefix?list&meta):
 *   {"next":"K","keys":["/b/a",...],"meta":[{"size":N,"md5":"HEX",
 *    "created_ms":N},...]}
 * read one key at a time. The answer is decoded in place: the strings
 * handed out point into it and are valid while it is. No allocation;
 * thread-safe. */
#ifndef CASK_S3_MLIST_H
#define CASK_S3_MLIST_H

#include <stddef.h>
#include <stdint.h>

struct mlist_entry {
	const char *key; /* not NUL-terminated */
	size_t keylen;
	uint64_t size;
	char md5[33];
	int64_t created_ms;
};

/* Calls fn for every key in order, then sets *next (not NUL-terminated;
 * *nextlen 0 on the last page). fn's nonzero return stops the walk and
 * is returned. Returns 0, or -EINVAL for an answer of another shape
 * (keys and meta of different lengths included). */
int mlist_parse(char *json, size_t len,
		int (*fn)(void *arg, const struct mlist_entry *e), void *arg,
		const char **next, size_t *nextlen);

#endif
