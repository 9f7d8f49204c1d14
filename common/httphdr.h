/* HTTP header values that cask parses itself rather than leaving to
 * libmicrohttpd: pure functions of the value's text, so the volume and
 * the master share one parser and it can be unit-tested and fuzzed
 * (tests/fuzz) without a connection. No allocation; thread-safe. */
#ifndef CASK_HTTPHDR_H
#define CASK_HTTPHDR_H

#include <stdint.h>

/* Parses a Content-Length value `v`: one or more decimal digits and
 * nothing else (no sign, no spaces, no list), at most UINT64_MAX.
 * Returns 0 with *n set, or -EINVAL. Strict on purpose: a value two
 * parsers could read differently lets a client smuggle a request. */
int httphdr_content_length(const char *v, uint64_t *n);

/* Parses a Range value `h` ("bytes=a-b", "bytes=a-", "bytes=-n") against
 * a value of `size` bytes. Returns 1 with [*from, *to] set, from <= to <
 * size; 0 when the header is to be ignored and the whole value sent (h
 * NULL, another unit, several ranges, malformed: RFC 9110 lets a server
 * ignore a Range); -1 when unsatisfiable (416): the first byte is past
 * the end, or a suffix of 0 bytes, or any suffix of an empty value. */
int httphdr_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to);

#endif
