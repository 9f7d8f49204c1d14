#include "common/httpd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"

enum MHD_Result http_reply_owned(struct MHD_Connection *c, unsigned code,
				 const char *content_type, char *data,
				 size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(data);
		return MHD_NO;
	}
	if (content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					content_type);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result http_reply_text(struct MHD_Connection *c, unsigned code,
				const char *fmt, ...)
{
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
	return http_reply_owned(c, code, "text/plain; charset=utf-8", body,
				(size_t)n);
}

enum MHD_Result http_reply_empty(struct MHD_Connection *c, unsigned code)
{
	/* 0.9.75 has no MHD_create_response_empty; a zero-length persistent
	 * buffer is its equivalent. */
	struct MHD_Response *r =
		MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result http_reply_buf(struct MHD_Connection *c, struct buf *b,
			       const char *content_type, unsigned *code)
{
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
