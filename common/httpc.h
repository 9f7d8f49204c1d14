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
#include <stdint.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/sign.h"

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

/* Appends the internal plane's signature (common/sign.h) for `method` on
 * url with a body of `length` bytes (0 for none, SIGN_CHUNKED) to *h,
 * when signing is on; a list set with CURLOPT_HTTPHEADER must outlive
 * the transfer. Every request made here and in common/fetch.h is signed.
 * Returns 0, or -ENOMEM with *h unchanged (still the caller's to free). */
int httpc_sign(struct curl_slist **h, const char *method, const char *url,
	       uint64_t length);

/* httpc_sign for a body the caller holds whole (len bytes): the
 * signature carries its digest too, so the body cannot be swapped on the
 * way (common/sign.h). */
int httpc_sign_body(struct curl_slist **h, const char *method, const char *url,
		    const void *body, size_t len);

/* A signature header in the caller's memory, linked in front of a list
 * shared by many transfers, so that a hot path signs without allocating.
 * It must outlive its transfer. */
struct httpc_signed {
	struct curl_slist node;
	char line[sizeof(SIGN_HEADER) + 2 + SIGN_VALUE_MAX];
};

/* Returns the list to set with CURLOPT_HTTPHEADER: rest when signing is
 * off or failed (the request then goes unsigned and is refused, which
 * the caller sees as a 403), else s->node followed by rest. body, when
 * not NULL, is the whole body (length bytes), whose digest is signed. */
struct curl_slist *httpc_sign_before(struct httpc_signed *s,
				     struct curl_slist *rest,
				     const char *method, const char *url,
				     uint64_t length, const void *body);

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
