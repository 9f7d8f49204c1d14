/* Command-line flags.
 *
 * Parsed with getopt_long_only, so "-port 3001", "--port 3001" and
 * "--port=3001" all work. "--help" prints every flag with its default.
 * Each flag's default is given as text and parsed like a command-line
 * value, so the help output and the behaviour can never disagree.
 *
 * Storage is owned by the caller (the `value` pointers). String values
 * point into argv or at the static default; they are never freed.
 */
#ifndef CASK_FLAGS_H
#define CASK_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

enum flag_type {
	FLAG_STR,  /* const char ** */
	FLAG_INT,  /* long * (decimal) */
	FLAG_SIZE, /* uint64_t *, with optional K/M/G/T suffix (powers of 2) */
	FLAG_BOOL, /* bool *; "-name" alone sets it, "-name=false" clears it */
};

struct flag {
	const char *name;
	enum flag_type type;
	void *value;
	const char *def; /* NULL means "" for strings, 0/false otherwise */
	const char *help;
};

/* Parses argv against `flags` (terminated by an entry with name NULL).
 * Returns 0 on success, 1 if --help was printed (caller exits 0), or
 * -EINVAL after printing a one-line error to stderr. */
int flags_parse(const struct flag *flags, int argc, char **argv,
		const char *summary);

/* Parses a Go duration ("1s", "500ms", "1.5s", "2m"), as minikeyvalue's
 * -voltimeout takes, of at most max_ms (anything above 0 counts at least
 * 1 ms). Returns milliseconds or -EINVAL. */
long flags_parse_duration_ms(const char *s, double max_ms);

/* Parses a size such as "512", "64K", "1G". Returns 0 or -EINVAL. */
int flags_parse_size(const char *s, uint64_t *out);

#endif
