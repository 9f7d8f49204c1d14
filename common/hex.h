/* Hex digits, for percent-encoding, md5 strings and JSON escapes. */
#ifndef CASK_HEX_H
#define CASK_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1 if c is not one. */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Writes 2 * n lowercase hex digits of p and a NUL to out. */
static inline void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Decodes nchars hex digits (an even count) into nchars / 2 bytes.
 * Returns 0, or -1 at the first character that is not a digit. */
static inline int hex_decode(const char *s, size_t nchars, uint8_t *out)
{
	for (size_t i = 0; i + 1 < nchars; i += 2) {
		int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return nchars % 2 ? -1 : 0;
}

#endif
