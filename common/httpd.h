/* Small helpers for answering over libmicrohttpd.
 *
 * Every error answer is text/plain with a one-line reason ending in '\n',
 * so `curl` shows the operator what was wrong. Each helper queues the
 * response and releases its reference; the return value is MHD's. */
#ifndef CASK_HTTPD_H
#define CASK_HTTPD_H

#include <microhttpd.h>
#include <stddef.h>

#include "common/buf.h"

/* Queues `code` with a text body built from fmt (a '\n' is appended). */
enum MHD_Result http_reply_text(struct MHD_Connection *c, unsigned code,
				const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Queues `code` with an empty body (Content-Length: 0). */
enum MHD_Result http_reply_empty(struct MHD_Connection *c, unsigned code);

/* Queues `code` with `data`, which MHD frees with free() when done. */
enum MHD_Result http_reply_owned(struct MHD_Connection *c, unsigned code,
				 const char *content_type, char *data,
				 size_t len);

/* Queues 200 with the response built in b, or, when building it ran out
 * of memory, 500 with a one-line reason. b is consumed either way (its data
 * handed to MHD or freed). *code, if not NULL, gets the status sent. */
enum MHD_Result http_reply_buf(struct MHD_Connection *c, struct buf *b,
			       const char *content_type, unsigned *code);

/* An MHD_OPTION_UNESCAPE_CALLBACK that leaves the URL as sent, so that
 * the daemon decodes keys itself and can reject bad escapes and NUL bytes
 * instead of having MHD silently truncate them. */
size_t http_unescape_none(void *cls, struct MHD_Connection *c, char *s);

/* Looks up a query argument and percent-decodes it in place into `out`
 * (capacity `cap`). Returns the decoded length, -ENOENT when absent,
 * -EINVAL when malformed, -ENAMETOOLONG when it does not fit. */
long http_query_arg(struct MHD_Connection *c, const char *name, char *out,
		    size_t cap);

#endif
