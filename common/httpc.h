/* HTTP client helpers over libcurl, for daemons talking to daemons.
 *
 * Requests carry no body, discard what they receive, never follow
 * redirects, and never raise signals (CURLOPT_NOSIGNAL), so they are safe
 * on any thread. A `struct httpc` is one reusable connection cache (one
 * for single requests, one for parallel ones), used by one thread at a
 * time; reusing it keeps TCP connections alive.
 * Errors: 0 or a negative errno: -ETIMEDOUT, -ECONNREFUSED, -EIO for any
 * other transfer failure, -ENOMEM. */
#ifndef CASK_HTTPC_H
#define CASK_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Initializes libcurl; call once from main before any thread starts. */
int httpc_global_init(void);
void httpc_global_cleanup(void);

struct httpc;

struct httpc *httpc_new(void);
void httpc_free(struct httpc *h); /* NULL is a no-op */

/* Sends `method` to url and stores the status in *code. */
int httpc_request(struct httpc *h, const char *method, const char *url,
		  long timeout_ms, long *code);

/* Sends `method` to every url at once, in parallel (at most
 * HTTPC_PER_HOST connections to one host, the rest wait their turn), and
 * stores each status in codes[i], 0 for a transfer that failed. h keeps
 * the connections for the next call, as httpc_request does; NULL uses
 * new ones. Returns 0 or -ENOMEM. */
#define HTTPC_PER_HOST 16
int httpc_request_all(struct httpc *h, const char *method,
		      const char *const *urls, size_t n, long timeout_ms,
		      long *codes);

/* Maps a libcurl CURLcode to a negative errno as above. */
int httpc_errno(int curlcode);

/* libcurl write callbacks (CURLOPT_WRITEFUNCTION, or HEADERFUNCTION).
 * httpc_discard drops what arrives (libcurl would print it otherwise).
 * httpc_keep appends it to sink->b while it stays within sink->max bytes;
 * past that it sets too_big and fails the transfer, as it does when the
 * buffer cannot grow (buf_failed). */
struct httpc_sink {
	struct buf *b;
	size_t max;
	bool too_big;
};
size_t httpc_discard(char *p, size_t size, size_t n, void *arg);
size_t httpc_keep(char *p, size_t size, size_t n, void *sink);

#endif
