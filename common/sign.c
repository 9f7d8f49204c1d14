/* The internal plane's request signatures: see sign.h. */
#include "common/sign.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/replay.h"

#define MAC_LEN	  32
#define NONCE_LEN 16

/* Keyed once; each signature works on a copy, so threads share nothing
 * but this read-only context and the counter. */
static EVP_MAC *mac_alg;
static EVP_MAC_CTX *mac_keyed;
static struct replay *seen;
static uint8_t nonce_prefix[NONCE_LEN / 2];
static atomic_uint_fast64_t nonce_next;

static int read_secret(const char *path, uint8_t *out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("secret file %s: %s", path, strerror(err));
		return err == ENOENT || err == EACCES ? -err : -EIO;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		log_error("secret file %s is not a regular file", path);
		close(fd);
		return -EIO;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		log_error("secret file %s is readable by others: chmod 600 it",
			  path);
		close(fd);
		return -EPERM;
	}
	size_t n = 0;
	for (;;) {
		ssize_t k = read(fd, out + n, SIGN_SECRET_MAX + 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			log_error("secret file %s: %s", path, strerror(errno));
			close(fd);
			return -EIO;
		}
		if (k == 0 || (n += (size_t)k) > SIGN_SECRET_MAX)
			break;
	}
	close(fd);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' ||
		     out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	if (n < SIGN_SECRET_MIN || n > SIGN_SECRET_MAX) {
		log_error("secret file %s: the secret must be %d to %d bytes",
			  path, SIGN_SECRET_MIN, SIGN_SECRET_MAX);
		return -EINVAL;
	}
	*len = n;
	return 0;
}

int sign_init(const char *path)
{
	assert(!mac_keyed);
	if (!path || !*path)
		return 0;
	uint8_t key[SIGN_SECRET_MAX + 1];
	size_t len = 0;
	int rc = read_secret(path, key, &len);
	if (rc)
		return rc;
	if (getrandom(nonce_prefix, sizeof(nonce_prefix), 0) !=
	    (ssize_t)sizeof(nonce_prefix)) {
		log_error("getrandom: %s", strerror(errno));
		OPENSSL_cleanse(key, sizeof(key));
		return -EIO;
	}
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	mac_keyed = mac_alg ? EVP_MAC_CTX_new(mac_alg) : NULL;
	seen = replay_new();
	if (!seen || !mac_keyed || !EVP_MAC_init(mac_keyed, key, len, params)) {
		OPENSSL_cleanse(key, sizeof(key));
		log_error("cannot set up HMAC-SHA256");
		sign_cleanup();
		return -ENOMEM;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

void sign_cleanup(void)
{
	EVP_MAC_CTX_free(mac_keyed);
	EVP_MAC_free(mac_alg);
	replay_free(seen);
	mac_keyed = NULL;
	mac_alg = NULL;
	seen = NULL;
}

int sign_bind(const char *bind, bool insecure, const char **out)
{
	if (!*bind) {
		*out = mac_keyed ? "0.0.0.0" : "127.0.0.1";
		if (!mac_keyed)
			log_warn("no -secret-file: the internal plane is not "
				 "authenticated, so listening on 127.0.0.1 "
				 "only");
		return 0;
	}
	*out = bind;
	if (mac_keyed || strncmp(bind, "127.", 4) == 0)
		return 0;
	if (!insecure) {
		log_error("-bind %s without -secret-file would let anyone who "
			  "reaches it write to the cluster: give "
			  "-secret-file, or -insecure to do it anyway",
			  bind);
		return -EPERM;
	}
	log_warn("-insecure: anyone who reaches %s can speak the internal "
		 "plane",
		 bind);
	return 0;
}

bool sign_enabled(void)
{
	return mac_keyed != NULL;
}

/* The MAC of one request, as sign.h spells the signed text. */
static int compute(const char *method, const char *authority,
		   const char *target, size_t tlen, uint64_t ms,
		   const char *nonce, uint64_t length, const char *digest,
		   uint8_t out[MAC_LEN])
{
	char head[96 + SIGN_AUTHORITY_MAX], tail[200];
	int hn = snprintf(head, sizeof(head), "cask-v2\n%s\n%s\n", method,
			  authority);
	char lenbuf[24];
	if (length == SIGN_CHUNKED)
		strcpy(lenbuf, "chunked");
	else
		snprintf(lenbuf, sizeof(lenbuf), "%" PRIu64, length);
	int tn = snprintf(tail, sizeof(tail), "\n%" PRIu64 "\n%s\n%s\n%s%s", ms,
			  nonce, lenbuf, digest ? digest : "",
			  digest ? "\n" : "");
	if (hn < 0 || (size_t)hn >= sizeof(head) || tn < 0 ||
	    (size_t)tn >= sizeof(tail))
		return -EINVAL;
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(mac_keyed);
	size_t n = 0;
	int ok = c && EVP_MAC_update(c, (const uint8_t *)head, (size_t)hn) &&
		 EVP_MAC_update(c, (const uint8_t *)target, tlen) &&
		 EVP_MAC_update(c, (const uint8_t *)tail, (size_t)tn) &&
		 EVP_MAC_final(c, out, &n, MAC_LEN) && n == MAC_LEN;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -ENOMEM;
}

/* The MAC of a signed read, as sign.h spells its text. */
static int read_mac(const char *path, uint64_t exp, uint8_t out[MAC_LEN])
{
	char tail[32];
	int n = snprintf(tail, sizeof(tail), "\n%" PRIu64 "\n", exp);
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(mac_keyed);
	size_t len = 0;
	int ok = c && n > 0 &&
		 EVP_MAC_update(c, (const uint8_t *)"cask-read-v1\n", 13) &&
		 EVP_MAC_update(c, (const uint8_t *)path, strlen(path)) &&
		 EVP_MAC_update(c, (const uint8_t *)tail, (size_t)n) &&
		 EVP_MAC_final(c, out, &len, MAC_LEN) && len == MAC_LEN;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -ENOMEM;
}

int sign_read(const char *path, uint64_t expires_s, char out[SIGN_QUERY_MAX])
{
	assert(path && out);
	out[0] = '\0';
	if (!mac_keyed)
		return -ENOTCONN;
	uint8_t mac[MAC_LEN];
	int rc = read_mac(path, expires_s, mac);
	if (rc)
		return rc;
	char hex[2 * MAC_LEN + 1];
	hex_encode(mac, MAC_LEN, hex);
	snprintf(out, SIGN_QUERY_MAX, "exp=%" PRIu64 "&sig=%s", expires_s, hex);
	return 0;
}

int sign_read_check(const char *path, const char *exp, const char *sig,
		    const char **why)
{
	assert(path && why);
	if (!mac_keyed) {
		*why = "signed reads need the cluster's -secret-file";
		return -EACCES;
	}
	if (!exp || !sig) {
		*why = "reads here need the signature a master's redirect "
		       "carries: GET the key from a master";
		return -EACCES;
	}
	uint64_t e = 0;
	size_t i = 0;
	for (; exp[i] >= '0' && exp[i] <= '9' && i < 15; i++)
		e = e * 10 + (uint64_t)(exp[i] - '0');
	uint8_t got[MAC_LEN], want[MAC_LEN];
	if (!i || exp[i] || strlen(sig) != 2 * MAC_LEN ||
	    hex_decode(sig, 2 * MAC_LEN, got)) {
		*why = "malformed exp or sig";
		return -EACCES;
	}
	if (e * 1000 < clock_wall_ms()) {
		*why = "this read's signature expired: GET the key from a "
		       "master again";
		return -EACCES;
	}
	if (read_mac(path, e, want) || CRYPTO_memcmp(got, want, MAC_LEN)) {
		*why = "wrong read signature";
		return -EACCES;
	}
	return 0;
}

/* Splits "http://host:port/path?q" into its authority (copied) and its
 * path and query (returned); NULL for anything else. */
static const char *split_url(const char *url,
			     char authority[SIGN_AUTHORITY_MAX])
{
	const char *p = strstr(url, "://");
	const char *path = p ? strchr(p + 3, '/') : NULL;
	if (!path || (size_t)(path - (p + 3)) >= SIGN_AUTHORITY_MAX)
		return NULL;
	memcpy(authority, p + 3, (size_t)(path - (p + 3)));
	authority[path - (p + 3)] = '\0';
	return path;
}

/* The header's value, with the body's SHA-256 in hex when digest is not
 * NULL. */
static int sign_value(const char *method, const char *target, uint64_t length,
		      const char *digest, char out[SIGN_VALUE_MAX])
{
	assert(method && target && out);
	out[0] = '\0';
	if (!mac_keyed)
		return -ENOTCONN;
	char authority[SIGN_AUTHORITY_MAX];
	const char *path = split_url(target, authority);
	if (!path)
		return -EINVAL;
	uint8_t nonce[NONCE_LEN];
	memcpy(nonce, nonce_prefix, sizeof(nonce_prefix));
	uint64_t k = atomic_fetch_add(&nonce_next, 1);
	for (size_t i = 0; i < 8; i++)
		nonce[8 + i] = (uint8_t)(k >> (56 - 8 * i));
	char nhex[2 * NONCE_LEN + 1];
	hex_encode(nonce, NONCE_LEN, nhex);
	uint64_t ms = clock_wall_ms();
	uint8_t mac[MAC_LEN];
	int rc = compute(method, authority, path, strlen(path), ms, nhex,
			 length, digest, mac);
	if (rc)
		return rc;
	char mhex[2 * MAC_LEN + 1];
	hex_encode(mac, MAC_LEN, mhex);
	snprintf(out, SIGN_VALUE_MAX, "%" PRIu64 " %s %s%s%s", ms, nhex, mhex,
		 digest ? " " : "", digest ? digest : "");
	return 0;
}

int sign_request(const char *method, const char *target, uint64_t length,
		 char out[SIGN_VALUE_MAX])
{
	return sign_value(method, target, length, NULL, out);
}

int sign_request_body(const char *method, const char *target, const void *body,
		      size_t len, char out[SIGN_VALUE_MAX])
{
	assert(body || !len);
	uint8_t sha[SIGN_DIGEST_LEN];
	unsigned n = 0;
	out[0] = '\0';
	if (!mac_keyed)
		return -ENOTCONN;
	if (!EVP_Digest(body ? body : "", len, sha, &n, EVP_sha256(), NULL) ||
	    n != SIGN_DIGEST_LEN)
		return -ENOMEM;
	char hex[2 * SIGN_DIGEST_LEN + 1];
	hex_encode(sha, SIGN_DIGEST_LEN, hex);
	return sign_value(method, target, len, hex, out);
}

/* Splits "ms nonce mac [digest]" into its fields (digest[0] is '\0'
 * without one); 0 or -EINVAL. */
static int parse(const char *v, uint64_t *ms, char nonce[2 * NONCE_LEN + 1],
		 uint8_t mac[MAC_LEN], char digest[2 * SIGN_DIGEST_LEN + 1])
{
	uint64_t t = 0;
	size_t i = 0;
	for (; v[i] >= '0' && v[i] <= '9'; i++) {
		if (i >= 15) /* ms of the next 30,000 years fit in 15 digits */
			return -EINVAL;
		t = t * 10 + (uint64_t)(v[i] - '0');
	}
	if (!i || v[i] != ' ')
		return -EINVAL;
	v += i + 1;
	const size_t base = 2 * NONCE_LEN + 1 + 2 * MAC_LEN;
	size_t n = strlen(v);
	if ((n != base && n != base + 1 + 2 * SIGN_DIGEST_LEN) ||
	    v[2 * NONCE_LEN] != ' ' || (n > base && v[base] != ' '))
		return -EINVAL;
	uint8_t raw[NONCE_LEN], sha[SIGN_DIGEST_LEN];
	if (hex_decode(v, 2 * NONCE_LEN, raw) ||
	    hex_decode(v + 2 * NONCE_LEN + 1, 2 * MAC_LEN, mac) ||
	    (n > base && hex_decode(v + base + 1, 2 * SIGN_DIGEST_LEN, sha)))
		return -EINVAL;
	memcpy(nonce, v, 2 * NONCE_LEN);
	nonce[2 * NONCE_LEN] = '\0';
	digest[0] = '\0';
	if (n > base)
		memcpy(digest, v + base + 1, 2 * SIGN_DIGEST_LEN + 1);
	*ms = t;
	return 0;
}

int sign_check(const char *method, const char *authority, const char *target,
	       uint64_t length, const char *value, struct sign_body *body,
	       const char **why)
{
	assert(method && target && why);
	if (!mac_keyed)
		return 0;
	if (!value) {
		*why = "unsigned request to the internal plane: give every "
		       "daemon and tool the cluster's -secret-file";
		return -EACCES;
	}
	uint64_t ms;
	char nonce[2 * NONCE_LEN + 1];
	uint8_t got[MAC_LEN];
	char digest[2 * SIGN_DIGEST_LEN + 1];
	if (parse(value, &ms, nonce, got, digest)) {
		*why = "malformed " SIGN_HEADER " header";
		return -EACCES;
	}
	if (digest[0] && !body) {
		*why = "a body digest this endpoint does not check";
		return -EACCES;
	}
	uint64_t now = clock_wall_ms();
	if (ms + SIGN_WINDOW_MS < now || ms > now + SIGN_WINDOW_MS) {
		*why = "signature expired: is this host's clock more than 30 s "
		       "off?";
		return -EACCES;
	}
	uint8_t want[MAC_LEN];
	if (!authority || strlen(authority) >= SIGN_AUTHORITY_MAX) {
		*why = "a signed request needs the Host it was signed for";
		return -EACCES;
	}
	int rc = compute(method, authority, target, strlen(target), ms, nonce,
			 length, digest[0] ? digest : NULL, want);
	if (rc == -EINVAL) { /* a method no signer would send */
		*why = "method too long to be signed";
		return -EACCES;
	}
	if (rc) {
		*why = "cannot compute the signature: retry";
		return -ENOSPC;
	}
	if (CRYPTO_memcmp(got, want, MAC_LEN) != 0) {
		*why = "wrong signature: not this cluster's secret";
		return -EACCES;
	}
	uint64_t tag = 0;
	for (size_t i = 0; i < 8; i++)
		tag = tag << 8 | want[i];
	rc = replay_add(seen, tag, ms + SIGN_WINDOW_MS + 1, now);
	if (rc == -EEXIST) {
		*why = "replayed signature";
		return -EACCES;
	}
	if (rc) {
		*why = "too many signed requests to remember: retry";
		return -ENOSPC;
	}
	if (body) {
		*body = (struct sign_body){.set = digest[0] != '\0'};
		if (body->set)
			hex_decode(digest, 2 * SIGN_DIGEST_LEN, body->want);
	}
	return 0;
}

int sign_body_update(struct sign_body *b, const void *data, size_t n)
{
	assert(b && b->set && !b->ended);
	if (!b->md) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(md);
			return -ENOMEM;
		}
		b->md = md;
	}
	return EVP_DigestUpdate(b->md, data, n) ? 0 : -ENOMEM;
}

int sign_body_end(struct sign_body *b, const char **why)
{
	assert(b && why);
	if (!b->set || b->ended)
		return 0;
	uint8_t got[SIGN_DIGEST_LEN];
	unsigned n = 0;
	int rc = b->md ? 0 : sign_body_update(b, "", 0);
	b->ended = true;
	if (rc || !EVP_DigestFinal_ex(b->md, got, &n) || n != sizeof(got)) {
		*why = "cannot check the body's digest: retry";
		return -ENOMEM;
	}
	if (CRYPTO_memcmp(got, b->want, sizeof(got)) != 0) {
		*why = "the body is not the one that was signed";
		return -EACCES;
	}
	return 0;
}

void sign_body_free(struct sign_body *b)
{
	if (b) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
	}
}
