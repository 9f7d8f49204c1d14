/* Fuzzes key decoding (common/key.h): the request path of every public
 * request, percent-decoded into the key the index stores.
 *
 * Invariants, for every path:
 *  - key_pct_decode() either refuses a malformed escape or gives at most
 *    as many bytes as it read; a buffer of exactly that many is enough
 *    (no NUL then), one byte less is -ENAMETOOLONG;
 *  - key_pct_encode() of those bytes writes only unreserved characters,
 *    '/' and %XX, needs exactly its length plus the NUL, and decodes
 *    back to the same bytes;
 *  - key_from_path() accepts exactly the keys the header describes (a
 *    reference check here: at most KEY_MAX bytes, a leading '/' and
 *    more, no NUL, not under "/_/", no "." or ".." segment), returns the
 *    decoded bytes NUL-terminated, and accepts its own key encoded again;
 *    a refusal is one of the three errors with a one-line reason. */
#include <errno.h>
#include <stdbool.h>

#include "common/key.h"
#include "tests/fuzz/fuzz.h"

static bool has_dot_segment(const char *k, size_t len)
{
	size_t seg = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && k[i] != '/')
			continue;
		size_t n = i - seg;
		if ((n == 1 && k[seg] == '.') ||
		    (n == 2 && k[seg] == '.' && k[seg + 1] == '.'))
			return true;
		seg = i + 1;
	}
	return false;
}

/* What key_from_path must answer for a path that decodes to k (n bytes). */
static long ref_key(const char *k, size_t n)
{
	if (n > KEY_MAX)
		return -ENAMETOOLONG;
	if (n < 2 || k[0] != '/' || memchr(k, '\0', n))
		return -EINVAL;
	if (n >= 3 && memcmp(k, "/_/", 3) == 0)
		return -EPERM;
	if (has_dot_segment(k, n))
		return -EINVAL;
	return (long)n;
}

static bool encoded_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("-_.~/%", c);
}

static void check_encode(const char *k, size_t n)
{
	size_t cap = 3 * n + 1;
	char *enc = malloc(cap);
	FUZZ_CHECK(enc);
	long e = key_pct_encode(k, n, enc, cap);
	FUZZ_CHECK(e >= (long)n && e <= (long)(3 * n) && enc[e] == '\0');
	for (long i = 0; i < e; i++)
		FUZZ_CHECK(enc[i] && encoded_char(enc[i]));
	/* Exactly the length and its NUL; one byte less is refused
	 * without a write past it (short is allocated to size). */
	char *tight = malloc((size_t)e + 1), *short_ = malloc((size_t)e);
	FUZZ_CHECK(tight && (short_ || e == 0));
	FUZZ_CHECK(key_pct_encode(k, n, tight, (size_t)e + 1) == e);
	FUZZ_CHECK(key_pct_encode(k, n, short_, (size_t)e) == -ENAMETOOLONG);
	free(short_);
	char *back = malloc(n + 1);
	FUZZ_CHECK(back);
	FUZZ_CHECK(key_pct_decode(enc, (size_t)e, back, n + 1) == (long)n);
	FUZZ_CHECK(n == 0 || memcmp(back, k, n) == 0);
	free(back);
	free(tight);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_cstr(data, size);
	size_t len = strlen(path);

	char *dec = malloc(len + 1);
	FUZZ_CHECK(dec);
	long n = key_pct_decode(path, len, dec, len + 1);
	FUZZ_CHECK(n == -EINVAL || (n >= 0 && n <= (long)len));
	if (n >= 0) {
		FUZZ_CHECK(dec[n] == '\0');
		/* Exactly n bytes fit, without the NUL; fewer do not. */
		char *tight = malloc(n ? (size_t)n : 1);
		FUZZ_CHECK(tight);
		FUZZ_CHECK(key_pct_decode(path, len, tight, (size_t)n) == n);
		FUZZ_CHECK(n == 0 || memcmp(tight, dec, (size_t)n) == 0);
		if (n > 0)
			FUZZ_CHECK(key_pct_decode(path, len, tight,
						  (size_t)n - 1) ==
				   -ENAMETOOLONG);
		free(tight);
		check_encode(dec, (size_t)n);
	}

	char key[KEY_MAX + 1];
	const char *why = NULL;
	long k = key_from_path(path, key, &why);
	if (n >= 0)
		FUZZ_CHECK(k == ref_key(dec, (size_t)n));
	if (k >= 0) {
		FUZZ_CHECK(k == n && memcmp(key, dec, (size_t)k) == 0 &&
			   key[k] == '\0');
		char enc[KEY_PCT_MAX];
		FUZZ_CHECK(key_pct_encode(key, (size_t)k, enc, sizeof(enc)) >=
			   k);
		char again[KEY_MAX + 1];
		FUZZ_CHECK(key_from_path(enc, again, NULL) == k);
		FUZZ_CHECK(memcmp(again, key, (size_t)k) == 0);
	} else {
		FUZZ_CHECK(k == -EINVAL || k == -ENAMETOOLONG || k == -EPERM);
		FUZZ_CHECK(why && *why && !strchr(why, '\n'));
		/* A malformed escape is refused as such, or as too long
		 * when the key overflows before it; never as reserved. */
		FUZZ_CHECK(n >= 0 || k == -EINVAL || k == -ENAMETOOLONG);
	}
	free(dec);
	free(path);
	return 0;
}
