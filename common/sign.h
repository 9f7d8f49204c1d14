/* The internal plane's request signatures (DESIGN.md, Security).
 *
 * Every request between cluster members and tools on the internal plane
 * (Raft, admin, REBALANCE, volume writes, scrub and key listings) carries
 *
 *   X-Cask-Auth: <unix ms> <nonce: 32 hex> <HMAC-SHA256: 64 hex>[ <digest>]
 *
 * the MAC keyed with the cluster secret over
 *
 *   "cask-v2\n" method "\n" authority "\n" target "\n" ms "\n" nonce "\n"
 *   length "\n" [digest "\n"]
 *
 * where authority is the receiver's host:port as the URL names it (the
 * request's Host header), target is the path and query as sent
 * ("/_/raft/append", "/k?x=1"), length is the body's Content-Length in
 * decimal, or "chunked" for a body sent without one (a request without a
 * body says 0), and digest, when the sender had the body before sending
 * (Raft messages, admin and purge bodies; not a streamed value), is the
 * body's SHA-256 in lowercase hex. A receiver that takes a digest checks
 * the body against it before acting on it (sign_body_*); one that does
 * not refuses a signature with one.
 *
 * A signature is good at the receiver it names only: each checks that
 * the Host names it (common/httpd.h), so one captured on its way to one
 * volume cannot be spent on another, and a request that is redirected is
 * signed again for its next hop. A receiver accepts a signature within
 * SIGN_WINDOW_MS of its own clock, once: the MACs it accepted are
 * remembered (common/replay.h) until their time runs out, so the same
 * header sent again is refused. Nonces are a per-process random prefix
 * and a counter, unique without a syscall each.
 *
 * The secret is the content of a file (-secret-file), trailing
 * whitespace dropped, at least SIGN_SECRET_MIN bytes, in a file others
 * cannot read. It is never logged. One secret per process: sign_init runs
 * once in main before any thread starts; everything else is callable
 * from any thread.
 *
 * Errors: sign_init returns 0 or a negative errno, logged once here:
 * -ENOENT/-EACCES/-EIO (the file), -EPERM (readable by others), -EINVAL
 * (too short or too long). */
#ifndef CASK_SIGN_H
#define CASK_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGN_HEADER	   "X-Cask-Auth"
#define SIGN_WINDOW_MS	   30000
#define SIGN_SECRET_MIN	   16
#define SIGN_SECRET_MAX	   4096
#define SIGN_VALUE_MAX	   200	      /* the header's value and its NUL */
#define SIGN_DIGEST_LEN	   32	      /* SHA-256 */
#define SIGN_AUTHORITY_MAX 256	      /* host:port and its NUL */
#define SIGN_CHUNKED	   UINT64_MAX /* length of a body sent chunked */

/* Loads the secret from path; NULL or "" leaves signing off. */
int sign_init(const char *path);
void sign_cleanup(void);

/* The address a daemon listens on, once sign_init ran: `bind` when given,
 * else 0.0.0.0 with a secret and 127.0.0.1 without one (said in the log).
 * Returns 0, or -EPERM (logged) for an address other than loopback
 * without a secret, unless `insecure`. *out is bind or a static string. */
int sign_bind(const char *bind, bool insecure, const char **out);

/* Signed reads (-signed-reads): a master's 302 to a volume carries
 *   exp=<unix s>&sig=<HMAC-SHA256 hex over "cask-read-v1\n" path "\n" exp "\n">
 * for the key's path as sent (percent-encoded), valid SIGN_READ_TTL_S from
 * the redirect; a volume with -signed-reads serves GET and HEAD of keys
 * only with one, and passes it on when it sends the reader to another
 * copy (the path is the same there). */
#define SIGN_READ_TTL_S 60
#define SIGN_QUERY_MAX	96 /* the query and its NUL */

/* Writes "exp=E&sig=HEX" for path, valid until expires_s, to out.
 * Returns 0, or -ENOTCONN when signing is off. */
int sign_read(const char *path, uint64_t expires_s, char out[SIGN_QUERY_MAX]);

/* Checks a read's exp and sig query values (NULL when absent) for path.
 * Returns 0, or -EACCES with a one-line *why (missing, expired, wrong). */
int sign_read_check(const char *path, const char *exp, const char *sig,
		    const char **why);

/* The three flags (common/flags.h) every daemon takes for this, worded
 * once: -bind (a const char *), -secret-file (const char *), -insecure
 * (bool). */
/* clang-format off */
#define SIGN_DAEMON_FLAGS(bind, secret_file, insecure)                        \
	{"bind", FLAG_STR, (bind), NULL,                                      \
	 "IPv4 address to bind (default 0.0.0.0 with -secret-file, else "     \
	 "127.0.0.1)"},                                                       \
	{"secret-file", FLAG_STR, (secret_file), NULL,                        \
	 "the cluster secret: signs and checks the internal plane"},          \
	{"insecure", FLAG_BOOL, (insecure), "false",                          \
	 "allow -bind to a non-loopback address without -secret-file"}
/* clang-format on */

/* Whether a secret was loaded: requests are signed and checked. */
bool sign_enabled(void);

/* Writes the header's value for a request of `length` body bytes (0 for
 * none, SIGN_CHUNKED) to target, a whole URL ("http://host:port/path?q")
 * whose authority, path and query are signed. Returns 0, -EINVAL for a
 * URL without a path or with an authority of SIGN_AUTHORITY_MAX bytes or
 * more, -ENOTCONN when signing is off (out is then ""). */
int sign_request(const char *method, const char *target, uint64_t length,
		 char out[SIGN_VALUE_MAX]);

/* sign_request with the digest of body (len bytes), which is then the
 * length signed too. */
int sign_request_body(const char *method, const char *target, const void *body,
		      size_t len, char out[SIGN_VALUE_MAX]);

/* A received body's check against the digest its signature carries:
 * filled by sign_check, fed every byte of the body with
 * sign_body_update, ended once with sign_body_end before the request is
 * acted on, freed with sign_body_free. Owned by the request; one thread
 * at a time. */
struct sign_body {
	bool set; /* the signature carried a digest */
	bool ended;
	uint8_t want[SIGN_DIGEST_LEN];
	void *md; /* the running SHA-256 */
};

/* Checks a received signature: authority is the request's Host (NULL
 * when absent: refused), value the header's (NULL when absent), length as
 * the request declared it (SIGN_CHUNKED for none with a chunked
 * body). body, where the receiver can check a digest, gets it (NULL: a
 * signature with a digest is refused). Returns 0 when signing is off or
 * the signature is good and new; otherwise -EACCES with *why set to a
 * one-line reason (missing, malformed, expired, wrong, replayed, a digest
 * not taken here), or -ENOSPC when too many signatures are live to
 * remember another (*why set too). */
int sign_check(const char *method, const char *authority, const char *target,
	       uint64_t length, const char *value, struct sign_body *body,
	       const char **why);

/* Returns 0 or -ENOMEM. Only while b->set and not ended. */
int sign_body_update(struct sign_body *b, const void *data, size_t n);
/* Returns 0 (no digest, the body matches, or ended already), -EACCES
 * when the body is not the one signed, or -ENOMEM; *why set with an
 * error. */
int sign_body_end(struct sign_body *b, const char **why);
void sign_body_free(struct sign_body *b);

#endif
