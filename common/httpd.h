/* Small helpers for answering over libmicrohttpd: the one set of reply
 * helpers the masters and the volumes share.
 *
 * Every error answer is text/plain with a one-line reason ending in '\n',
 * so `curl` shows the operator what was wrong. Every 503 carries
 * Retry-After: 1, since each one here is transient (no leader or quorum,
 * overloaded, shutting down). Each helper queues the response and
 * releases its reference; the return value is MHD's (MHD_NO when out of
 * memory, which makes MHD close the connection). Threads: whichever
 * thread MHD calls the access handler on. The errno → status table is
 * common/httperr.h. */
#ifndef CASK_HTTPD_H
#define CASK_HTTPD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/sign.h"

/* Queues `code` with a text body built from fmt (a '\n' is appended;
 * the line is cut at 510 bytes). A 503 gets Retry-After. */
enum MHD_Result http_reply_text(struct MHD_Connection *c, unsigned code,
				const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Queues httperr_status(err) with `why`, or httperr_reason(err) when why
 * is NULL. *code, if not NULL, gets the status sent. */
enum MHD_Result http_reply_errno(struct MHD_Connection *c, int err,
				 const char *why, unsigned *code);

/* Queues `code` (a 3xx) with an empty body and Location: location. */
enum MHD_Result http_reply_redirect(struct MHD_Connection *c, unsigned code,
				    const char *location);

/* A write reached a node that does not lead while `leader` (a base URL,
 * "http://host:port") does: queues 307 to leader ‖ path ‖ the request's
 * query arguments, as sent, so that `curl -L` re-sends the request there.
 * 414 when the URL would exceed 8 KiB. *code, if not NULL, gets the
 * status sent. */
enum MHD_Result http_reply_to_leader(struct MHD_Connection *c,
				     const char *leader, const char *path,
				     unsigned *code);

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

/* Refuses, on a request's first call, a body whose end two parsers could
 * see in different places (request smuggling): two Content-Lengths, or a
 * Content-Length beside a Transfer-Encoding, which libmicrohttpd ignores
 * for the chunked framing while the daemon would go by the length. Any
 * encoding but chunked alone is refused too: libmicrohttpd would read
 * such a body until the connection closes. Returns 0 with *chunked set,
 * or the status (400, 501) with a one-line reason in *why. */
unsigned http_check_framing(struct MHD_Connection *c, bool *chunked,
			    const char **why);

/* Checks the internal plane's signature on a request (common/sign.h)
 * from its first access-handler call: the target is url and the query
 * arguments as sent, the length its Content-Length ("chunked" when it
 * has none and a Transfer-Encoding), the authority its Host, which must
 * name this end of the connection (its port, and its address when it is
 * an IPv4 literal). body (the request's, zeroed) gets
 * the digest the signature carries, for http_signed_body. Returns 0 when
 * signing is off or the signature holds; otherwise a negative errno with
 * *why set to a one-line reason: -EACCES (answer 403) or -ENOSPC (503). */
int http_check_signed(struct MHD_Connection *c, const char *method,
		      const char *url, struct sign_body *body,
		      const char **why);

/* The digest check of a signed request's body, called with every later
 * access-handler call's upload before the handler sees it: it hashes what
 * arrives and, on the call that ends the body (size 0), compares. Returns
 * 0 to go on; -EACCES (403: the body is not the one signed) or -ENOMEM
 * (503) with *why, and the request must then not be acted on. */
int http_signed_body(struct sign_body *body, const char *upload, size_t size,
		     const char **why);

/* The request's query arguments as sent ("?a=1&b", "" when none) into
 * out (cap bytes, > 0). Returns the length, or -ENAMETOOLONG when they
 * do not fit. */
long http_query_as_sent(struct MHD_Connection *c, char *out, size_t cap);

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
