#include "common/md5.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "common/hex.h"

/* Fetched once: EVP_md5() makes every init look the algorithm up again
 * under a global lock, which concurrent requests queue on. */
static EVP_MD *md5_algo;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_fetch(void)
{
	md5_algo = EVP_MD_fetch(NULL, "MD5", NULL);
}

int md5_init(struct md5 *m)
{
	pthread_once(&md5_once, md5_fetch);
	if (!md5_algo)
		return -ENOMEM;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex2(ctx, md5_algo, NULL)) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	m->ctx = ctx;
	return 0;
}

void md5_update(struct md5 *m, const void *buf, size_t len)
{
	assert(m && m->ctx && (buf || !len));
	EVP_DigestUpdate(m->ctx, buf, len);
}

void md5_final(struct md5 *m, uint8_t out[MD5_LEN])
{
	assert(m && m->ctx && out);
	unsigned int n = MD5_LEN;
	EVP_DigestFinal_ex(m->ctx, out, &n);
	md5_discard(m);
}

void md5_discard(struct md5 *m)
{
	EVP_MD_CTX_free(m->ctx);
	m->ctx = NULL;
}

int md5_buf(const void *buf, size_t len, uint8_t out[MD5_LEN])
{
	struct md5 m;
	int rc = md5_init(&m);
	if (rc)
		return rc;
	md5_update(&m, buf, len);
	md5_final(&m, out);
	return 0;
}

void md5_hex(const uint8_t md5[MD5_LEN], char out[2 * MD5_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < MD5_LEN; i++) {
		out[2 * i] = digits[md5[i] >> 4];
		out[2 * i + 1] = digits[md5[i] & 15];
	}
	out[2 * MD5_LEN] = '\0';
}

int md5_from_hex(const char *hex, uint8_t out[MD5_LEN])
{
	for (int i = 0; i < MD5_LEN; i++) {
		int hi = hex_digit(hex[2 * i]);
		int lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * MD5_LEN] == '\0' ? 0 : -EINVAL;
}
