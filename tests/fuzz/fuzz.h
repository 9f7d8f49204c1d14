/* What the libFuzzer targets share (tests/fuzz/fuzz_NAME.c, built with
 * --enable-fuzzers and run by scripts/fuzz.sh).
 *
 * A target feeds one input to one parser and checks what must hold for
 * every input: a round trip (decode, encode, decode gives the same), the
 * parser's documented bounds, or agreement with a plain reference
 * implementation in the target. FUZZ_CHECK aborts on a broken invariant,
 * which libFuzzer reports as a crash and saves the input; it is not
 * assert() so that NDEBUG cannot turn the checks off. */
#ifndef CASK_TESTS_FUZZ_H
#define CASK_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* libFuzzer's entry point: each target defines it. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (what libmicrohttpd hands over for a header
 * or a path): a malloc'd copy, NUL-terminated, cut at its first NUL.
 * Aborts when out of memory; the caller frees it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = calloc(1, size + 1);
	FUZZ_CHECK(s);
	if (size)
		memcpy(s, data, size);
	return s;
}

/* Whether [p, p + len) lies inside [base, base + size): decoders that
 * return pointers into their input must not point anywhere else. */
static inline int fuzz_within(const void *p, size_t len, const void *base,
			      size_t size)
{
	uintptr_t q = (uintptr_t)p, b = (uintptr_t)base;
	return len == 0 || (q >= b && len <= size && q - b <= size - len);
}

#endif
