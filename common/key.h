/* Keys: the percent-decoded URL path, leading '/' included.
 *
 * A key is at most KEY_MAX bytes after decoding (LMDB's key limit). It
 * must not contain NUL, must not lie under the reserved "/_/" prefix, and
 * must have no "." or ".." segment: clients (curl among them) remove dot
 * segments before sending, so such a key could be stored but never read
 * back through a redirect. */
#ifndef CASK_KEY_H
#define CASK_KEY_H

#include <stddef.h>

#define KEY_MAX 511
/* Room for a key percent-encoded (every byte as %XX), NUL included. */
#define KEY_PCT_MAX (3 * KEY_MAX + 1)

/* Percent-decodes `in` (`inlen` bytes) into `out` (capacity `cap`).
 * Returns the decoded length, -EINVAL on a malformed escape, or
 * -ENAMETOOLONG if it does not fit. `out` is NUL-terminated when room
 * allows; decoded bytes may include NUL. */
long key_pct_decode(const char *in, size_t inlen, char *out, size_t cap);

/* Percent-encodes `in` for use in a URL path: unreserved characters and
 * '/' pass, every other byte becomes %XX. Returns the encoded length
 * (excluding the NUL) or -ENAMETOOLONG when `cap` is too small. */
long key_pct_encode(const char *in, size_t inlen, char *out, size_t cap);

/* Decodes and validates a raw request path as a key. `out` must hold
 * KEY_MAX + 1 bytes. Returns the key length, or:
 *   -ENAMETOOLONG  longer than KEY_MAX bytes (HTTP 414)
 *   -EINVAL        malformed escape, NUL byte, no leading '/', "/" alone,
 *                  or a dot segment (HTTP 400)
 *   -EPERM         under the reserved "/_/" prefix (HTTP 400)
 * and sets *why (if not NULL) to a one-line reason for the client. */
long key_from_path(const char *path, char out[KEY_MAX + 1], const char **why);

#endif
