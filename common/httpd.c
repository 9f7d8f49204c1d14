#include "common/httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/httperr.h"
#include "common/key.h"
#include "common/sign.h"

/* The longest Location http_reply_to_leader builds. */
#define LOCATION_MAX 8192

/* Queues r (consumed) as `code`, with Retry-After on a 503. */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned code,
			     struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;
	if (code == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result http_reply_owned(struct MHD_Connection *c, unsigned code,
				 const char *content_type, char *data,
				 size_t len)
{
	assert(c && (data || !len));
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(data);
		return MHD_NO;
	}
	if (content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					content_type);
	return queue(c, code, r);
}

enum MHD_Result http_reply_text(struct MHD_Connection *c, unsigned code,
				const char *fmt, ...)
{
	assert(c && fmt);
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	char *body = malloc((size_t)n);
	if (!body)
		return MHD_NO;
	memcpy(body, line, (size_t)n);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		(size_t)n, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	return queue(c, code, r);
}

enum MHD_Result http_reply_errno(struct MHD_Connection *c, int err,
				 const char *why, unsigned *code)
{
	unsigned status = httperr_status(err);
	if (code)
		*code = status;
	return http_reply_text(c, status, "%s",
			       why ? why : httperr_reason(err));
}

enum MHD_Result http_reply_redirect(struct MHD_Connection *c, unsigned code,
				    const char *location)
{
	assert(code >= 300 && code < 400 && location);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
	return queue(c, code, r);
}

struct query_buf {
	char *out;
	size_t len, cap;
};

/* Appends one argument as sent (the daemons keep URLs undecoded, see
 * http_unescape_none); stops the walk when it does not fit. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind,
			       const char *key, const char *value)
{
	struct query_buf *q = cls;
	(void)kind;
	int n = snprintf(q->out + q->len, q->cap - q->len, "%c%s%s%s",
			 q->len ? '&' : '?', key, value ? "=" : "",
			 value ? value : "");
	if (n < 0 || (size_t)n >= q->cap - q->len) {
		q->len = q->cap;
		return MHD_NO;
	}
	q->len += (size_t)n;
	return MHD_YES;
}

long http_query_as_sent(struct MHD_Connection *c, char *out, size_t cap)
{
	assert(c && out && cap);
	struct query_buf q = {out, 0, cap};
	out[0] = '\0';
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	return q.len < q.cap ? (long)q.len : -ENAMETOOLONG;
}

enum MHD_Result http_reply_to_leader(struct MHD_Connection *c,
				     const char *leader, const char *path,
				     unsigned *code)
{
	assert(leader && path);
	char loc[LOCATION_MAX];
	int n = snprintf(loc, sizeof(loc), "%s%s", leader, path);
	bool fits = n >= 0 && (size_t)n < sizeof(loc);
	if (fits)
		fits = http_query_as_sent(c, loc + n,
					  sizeof(loc) - (size_t)n) >= 0;
	if (!fits) {
		if (code)
			*code = MHD_HTTP_URI_TOO_LONG;
		return http_reply_text(c, MHD_HTTP_URI_TOO_LONG,
				       "URL too long to redirect");
	}
	if (code)
		*code = MHD_HTTP_TEMPORARY_REDIRECT;
	return http_reply_redirect(c, MHD_HTTP_TEMPORARY_REDIRECT, loc);
}

/* How a request says where its body ends. */
struct framing {
	unsigned lengths;   /* Content-Length headers */
	unsigned encodings; /* Transfer-Encoding headers */
	bool chunked;	    /* the one encoding is exactly "chunked" */
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind,
				     const char *key, const char *value)
{
	struct framing *f = cls;
	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->lengths++;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->encodings++;
		f->chunked = value && strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

unsigned http_check_framing(struct MHD_Connection *c, bool *chunked,
			    const char **why)
{
	struct framing f = {0};
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
	*chunked = f.encodings == 1 && f.chunked;
	*why = "more than one Content-Length";
	if (f.lengths > 1)
		return MHD_HTTP_BAD_REQUEST;
	*why = "both Content-Length and Transfer-Encoding";
	if (f.lengths && f.encodings)
		return MHD_HTTP_BAD_REQUEST;
	*why = "only Transfer-Encoding: chunked is supported";
	if (f.encodings && !*chunked)
		return MHD_HTTP_NOT_IMPLEMENTED;
	return 0;
}

/* Whether a Host header can name this end of the connection: its port
 * (when it has one) is the one the client reached, and so is its address
 * when it is an IPv4 literal. A host name cannot be checked here and
 * passes on the port alone, so a signature for a name could be spent once
 * more on another receiver at the same port; members named by address
 * (as -volumes and -peers usually name them) get the whole check. */
static bool names_us(struct MHD_Connection *c, const char *host)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_in self = {0};
	socklen_t len = sizeof(self);
	if (!ci ||
	    getsockname(ci->connect_fd, (struct sockaddr *)&self, &len) ||
	    self.sin_family != AF_INET)
		return false;
	char name[SIGN_AUTHORITY_MAX];
	size_t n = strlen(host);
	if (n >= sizeof(name))
		return false;
	memcpy(name, host, n + 1);
	char *colon = strrchr(name, ':');
	if (colon && !strchr(colon, ']')) {
		char *end;
		errno = 0;
		unsigned long port = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end ||
		    port != ntohs(self.sin_port))
			return false;
		*colon = '\0';
	}
	struct in_addr a;
	return inet_pton(AF_INET, name, &a) != 1 ||
	       a.s_addr == self.sin_addr.s_addr;
}

int http_check_signed(struct MHD_Connection *c, const char *method,
		      const char *url, struct sign_body *body, const char **why)
{
	assert(c && method && url && why);
	if (!sign_enabled())
		return 0;
	char target[LOCATION_MAX];
	int n = snprintf(target, sizeof(target), "%s", url);
	bool fits = n >= 0 && (size_t)n < sizeof(target);
	if (fits)
		fits = http_query_as_sent(c, target + n,
					  sizeof(target) - (size_t)n) >= 0;
	if (!fits) {
		*why = "URL too long to be signed";
		return -EACCES;
	}
	const char *cl = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t length = 0;
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (errno || end == cl || *end || *cl < '0' || *cl > '9') {
			*why = "malformed Content-Length";
			return -EACCES;
		}
		length = v;
	} else if (MHD_lookup_connection_value(
			   c, MHD_HEADER_KIND,
			   MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		length = SIGN_CHUNKED;
	}
	const char *host =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	if (host && !names_us(c, host)) {
		*why = "signed for another host";
		return -EACCES;
	}
	/* HTTP/1.0 may leave Host out: that is the empty authority, which
	 * no signer of ours produces for a URL naming a host. */
	return sign_check(
		method, host ? host : "", target, length,
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, SIGN_HEADER),
		body, why);
}

int http_signed_body(struct sign_body *body, const char *upload, size_t size,
		     const char **why)
{
	assert(body && why);
	if (!body->set || body->ended)
		return 0;
	int rc = size ? sign_body_update(body, upload, size)
		      : sign_body_end(body, why);
	if (rc == -ENOMEM)
		*why = "out of memory checking the body's digest: retry";
	return rc;
}

enum MHD_Result http_reply_empty(struct MHD_Connection *c, unsigned code)
{
	/* 0.9.75 has no MHD_create_response_empty; a zero-length persistent
	 * buffer is its equivalent. */
	return queue(
		c, code,
		MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT));
}

enum MHD_Result http_reply_buf(struct MHD_Connection *c, struct buf *b,
			       const char *content_type, unsigned *code)
{
	assert(c && b);
	if (buf_failed(b)) {
		buf_free(b);
		if (code)
			*code = 500;
		return http_reply_text(c, 500, "out of memory");
	}
	if (code)
		*code = 200;
	size_t len = b->len;
	return http_reply_owned(c, 200, content_type, buf_steal(b), len);
}

size_t http_unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

long http_query_arg(struct MHD_Connection *c, const char *name, char *out,
		    size_t cap)
{
	const char *v =
		MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	if (!v)
		return -ENOENT;
	return key_pct_decode(v, strlen(v), out, cap);
}
