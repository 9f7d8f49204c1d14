/* Flat JSON objects, one per line: what cask's tools and admin endpoints
 * exchange (records, /_/keys, volume lists).
 *
 * An object's values may be strings, numbers, booleans, null, or arrays of
 * at most JSONL_MAX_STRS strings; nesting is refused. Strings are decoded
 * in place (the line is modified; decoded strings point into it), so a
 * member is valid only while the line is. \u00XX escapes give the byte
 * XX, the inverse of buf_json_string, so keys that are not UTF-8 round-
 * trip exactly. No allocation; thread-safe. */
#ifndef CASK_JSONL_H
#define CASK_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONL_MAX_STRS 16

enum jsonl_type {
	JSONL_STRING,
	JSONL_NUMBER, /* `str` holds its text */
	JSONL_BOOL,
	JSONL_NULL,
	JSONL_STRINGS,
};

struct jsonl_member {
	const char *name;
	size_t namelen;
	enum jsonl_type type;
	const char *str; /* STRING, NUMBER; not NUL-terminated */
	size_t len;
	bool boolean;
	unsigned nstrs; /* STRINGS */
	const char *strs[JSONL_MAX_STRS];
	size_t lens[JSONL_MAX_STRS];
};

/* Parses the object in line[0..len) and calls fn per member; a nonzero
 * return from fn stops the parse and is returned. Returns 0 or -EINVAL
 * for anything that is not one flat object (trailing spaces allowed). */
int jsonl_parse(char *line, size_t len,
		int (*fn)(void *arg, const struct jsonl_member *m), void *arg);

/* Whether m is named `name`. */
bool jsonl_is(const struct jsonl_member *m, const char *name);

/* A NUMBER member as an unsigned integer. Returns 0 or -EINVAL. */
int jsonl_u64(const struct jsonl_member *m, uint64_t *out);

#endif
