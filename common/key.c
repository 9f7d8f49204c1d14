#include "common/key.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "common/hex.h"

long key_pct_decode(const char *in, size_t inlen, char *out, size_t cap)
{
	assert((in || !inlen) && (out || !cap));
	size_t n = 0;
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= inlen)
				return -EINVAL;
			int hi = hex_digit(in[i + 1]),
			    lo = hex_digit(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (n >= cap)
			return -ENAMETOOLONG;
		out[n++] = c;
	}
	if (n < cap)
		out[n] = '\0';
	return (long)n;
}

long key_pct_encode(const char *in, size_t inlen, char *out, size_t cap)
{
	assert((in || !inlen) && (out || !cap));
	static const char digits[] = "0123456789ABCDEF";
	size_t n = 0;
	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			    c == '.' || c == '~' || c == '/';
		if (n + (plain ? 1 : 3) >= cap)
			return -ENAMETOOLONG;
		if (plain) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = digits[c >> 4];
			out[n++] = digits[c & 15];
		}
	}
	if (n >= cap) /* an empty key into no room at all */
		return -ENAMETOOLONG;
	out[n] = '\0';
	return (long)n;
}

static int has_dot_segment(const char *k, size_t len)
{
	size_t seg = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || k[i] == '/') {
			size_t sl = i - seg;
			if ((sl == 1 && k[seg] == '.') ||
			    (sl == 2 && k[seg] == '.' && k[seg + 1] == '.'))
				return 1;
			seg = i + 1;
		}
	}
	return 0;
}

long key_from_path(const char *path, char out[KEY_MAX + 1], const char **why)
{
	assert(path && out);
	const char *reason = NULL;
	long rc;
	size_t inlen = strlen(path);
	long n = key_pct_decode(path, inlen, out, KEY_MAX + 1);
	if (n == -ENAMETOOLONG || n > KEY_MAX) {
		reason = "key longer than 511 bytes";
		rc = -ENAMETOOLONG;
	} else if (n < 0) {
		reason = "malformed percent-encoding in key";
		rc = -EINVAL;
	} else if (n < 2 || out[0] != '/') {
		reason = "key must be a path like /name";
		rc = -EINVAL;
	} else if (memchr(out, '\0', (size_t)n)) {
		reason = "key contains a NUL byte";
		rc = -EINVAL;
	} else if (n >= 3 && memcmp(out, "/_/", 3) == 0) {
		reason = "keys under /_/ are reserved";
		rc = -EPERM;
	} else if (has_dot_segment(out + 1, (size_t)n - 1)) {
		reason = "key has a . or .. path segment";
		rc = -EINVAL;
	} else {
		return n;
	}
	if (why)
		*why = reason;
	return rc;
}
