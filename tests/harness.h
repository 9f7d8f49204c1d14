/* Harness for tests that drive real daemons.
 *
 * Daemons are child processes on 127.0.0.1 ephemeral ports with their data
 * in a temp folder. Every child gets PR_SET_PDEATHSIG(SIGKILL), so a test
 * that fails or crashes never leaves a daemon behind, and every folder
 * made by harness_tmpdir is removed when the test process exits.
 *
 * Binaries are found in $CASK_BIN (set by `make check`). Not thread-safe
 * except harness_http, which may be called from many threads at once. */
#ifndef CASK_HARNESS_H
#define CASK_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/sign.h"

struct harness_proc {
	pid_t pid;
	int port;
	char bin[64];
	char *argv[48]; /* point into argbuf, for restart */
	char argbuf[4096];
	char log[512]; /* stdout+stderr of the child */
};

/* Makes a fresh temp folder, removed at exit. Aborts the test on error. */
const char *harness_tmpdir(const char *tag);

/* Removes a folder tree. */
void harness_rmtree(const char *path);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int harness_free_port(void);

/* The cluster secret of this test process: a file made on first use,
 * which harness_start gives cask-master and cask-volume as -secret-file
 * (unless args name one) and with which harness_http signs every
 * request, public or internal, as the daemons' own clients do. */
const char *harness_secret(void);

/* Starts $CASK_BIN/<bin> with the NULL-terminated args (argv[0] is added)
 * and `port` recorded for the helpers below. Output goes to `log`. Waits
 * until GET /_/health answers 200 (up to 20 s). Returns 0, -ECHILD when
 * it exited first, or -errno. */
int harness_start(struct harness_proc *p, const char *bin, int port,
		  const char *const args[], const char *log);

/* Starts $CASK_BIN/<tool> with the NULL-terminated args, stdout and
 * stderr to the file out, and, for every tool but cask-thrasher (which
 * speaks only the public plane), -secret-file harness_secret() unless
 * args name one. Returns
 * the child's pid, or -1 when fork failed. */
pid_t harness_spawn_tool(const char *tool, const char *const *args,
			 const char *out);

/* Restarts a stopped process with its original arguments. */
int harness_restart(struct harness_proc *p);

/* Polls GET http://127.0.0.1:port/_/health until 200. 0 or -ETIMEDOUT. */
int harness_wait_health(int port, int timeout_ms);

/* Sends sig; for SIGKILL/SIGTERM also reaps and returns the wait status
 * (-ETIMEDOUT after 30 s for SIGTERM, then it is killed). */
int harness_signal(struct harness_proc *p, int sig);

/* SIGTERM then reap; no-op when not running. */
void harness_stop(struct harness_proc *p);

/* SIGTERM then reap, for a test that requires a clean stop: returns the
 * wait status (0 for exit 0), and when it is not 0 copies the child's
 * log to stderr, since the test's temp folder is gone by the time
 * anyone looks. */
int harness_stop_clean(struct harness_proc *p);

struct harness_resp {
	long code;
	char *body; /* NUL-terminated, owned */
	size_t len;
	char *headers; /* raw header block, owned */
};

/* One HTTP request (redirects not followed). `body` may be NULL for no
 * body; with len given it is sent with Content-Length. `extra` is an
 * optional NULL-terminated list of "Header: value" lines. Returns 0 or
 * -EIO when no HTTP answer came. */
int harness_http(const char *method, const char *url, const void *body,
		 size_t len, const char *const *extra, struct harness_resp *r);

/* harness_http without the signature: what a stranger sends. */
int harness_http_unsigned(const char *method, const char *url, const void *body,
			  size_t len, const char *const *extra,
			  struct harness_resp *r);

/* harness_http without extra headers, for the status: returns the code,
 * or -1 when no HTTP answer came. The response goes to *out when out is
 * not NULL (the caller frees it), else it is freed. */
long harness_request(const char *method, const char *url, const void *body,
		     size_t len, struct harness_resp *out);

/* harness_request giving up after timeout_ms (harness_request and
 * harness_http wait up to 120 s): a stopped server must not hang it. */
long harness_request_ms(const char *method, const char *url, const void *body,
			size_t len, long timeout_ms, struct harness_resp *out);

/* Copies the value of header `name` (case-insensitive) into out.
 * Returns 0 or -ENOENT. */
int harness_header(const struct harness_resp *r, const char *name, char *out,
		   size_t cap);

void harness_resp_free(struct harness_resp *r);

/* Hands r to out when the caller wants it, else frees it; returns its
 * status code. */
long harness_resp_give(struct harness_resp *r, struct harness_resp *out);

/* Sends raw bytes on a fresh TCP connection and reads the answer until
 * the peer closes or `timeout_ms` passes; returns the status code parsed
 * from the first line, or -EIO. For malformed-request tests. */
int harness_raw(int port, const void *req, size_t len, int timeout_ms,
		char *answer, size_t cap);

/* 0 when an answer harness_raw read is an error in one line of
 * text/plain that begins with `why`; else -EBADMSG. */
int harness_text_line(const char *answer, const char *why);

/* Sends to the daemon on `port` each request libmicrohttpd's own parser
 * refuses (a header without a colon, a Content-Length that is not a
 * number or too large, headers past the memory limit, a bad chunk, an
 * HTTP version other than 1.x), signed when `sign`, and checks each
 * answer's status and its one line of text (common/mhdpage.h). Returns 0,
 * or -EBADMSG with what differed in err. */
int harness_parser_refusals(int port, bool sign, char *err, size_t cap);

/* The X-Cask-Auth value common/sign.h describes for a request to target
 * (a whole URL: its authority is signed), computed here from that
 * description alone with OpenSSL's HMAC: for a signature made with
 * another secret, at another time, for another host, or to check the
 * wire format. */
void harness_sign_as(const char *secret, const char *method, const char *target,
		     uint64_t ms, const char *nonce, const char *length,
		     char out[SIGN_VALUE_MAX]);

/* harness_sign_as for a body whose SHA-256 the signature carries (the
 * length signed is len). */
void harness_sign_digest(const char *secret, const char *method,
			 const char *target, uint64_t ms, const char *nonce,
			 const void *body, size_t len,
			 char out[SIGN_VALUE_MAX]);

/* Copies a raw request into out (capacity cap) with the signature
 * harness_http would give it inserted after the request line, taken over
 * the method, target and Content-Length (or chunked Transfer-Encoding)
 * of the head; a request whose head cannot be parsed is copied as it is.
 * Returns the length written; aborts when out is too small. */
size_t harness_sign_raw(const char *req, size_t len, char *out, size_t cap);

/* Reads one whole answer (headers, then its Content-Length bytes) from fd
 * into ans, waiting up to timeout_ms: its status, or -1 when none came. */
int harness_read_answer(int fd, char *ans, size_t cap, int timeout_ms);

/* A chunked body sent by hand on fd: one chunk per harness_chunk_send
 * (false once the server closed the connection), then
 * harness_chunked_end, which sends the last chunk and reads one answer
 * (headers, then its Content-Length) into ans: its status, or -1 when
 * none came. */
bool harness_chunk_send(int fd, const void *data, size_t len);
int harness_chunked_end(int fd, char *ans, size_t cap);

/* Fills buf with deterministic pseudo-random bytes from seed. */
void harness_fill(void *buf, size_t len, unsigned long long seed);

#endif
