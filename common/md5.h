/* MD5 of values, through OpenSSL's EVP interface.
 *
 * MD5 is not used for security here: it names a value's content in
 * Content-Md5 and in rendezvous placement, as minikeyvalue does.
 * A context is owned by its caller; one thread at a time. */
#ifndef CASK_MD5_H
#define CASK_MD5_H

#include <stddef.h>
#include <stdint.h>

#define MD5_LEN 16

struct md5 {
	void *ctx; /* EVP_MD_CTX */
};

/* Returns 0 or -ENOMEM. A successful init must be paired with final or
 * discard. */
int md5_init(struct md5 *m);
void md5_update(struct md5 *m, const void *buf, size_t len);
void md5_final(struct md5 *m, uint8_t out[MD5_LEN]);
void md5_discard(struct md5 *m);

/* One-shot digest. Returns 0 or -ENOMEM. */
int md5_buf(const void *buf, size_t len, uint8_t out[MD5_LEN]);

/* Writes 32 lowercase hex digits and a NUL. */
void md5_hex(const uint8_t md5[MD5_LEN], char out[2 * MD5_LEN + 1]);

/* Parses 32 hex digits. Returns 0 or -EINVAL. */
int md5_from_hex(const char *hex, uint8_t out[MD5_LEN]);

#endif
