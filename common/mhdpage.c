#include "common/mhdpage.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

/* What every page of libmicrohttpd 0.9.7x begins with; our own bodies
 * never do (the status pages start with a doctype). */
#define PAGE_HEAD "<html><head><title>"

static const struct {
	const char *mark; /* a phrase only that page has */
	const char *line;
} pages[] = {
	{"header was too big", "request headers too large\n"},
	{"too large value for <b>Content-Length", "Content-Length too large\n"},
	{"wrong value for <b>Content-Length",
	 "Content-Length is not a number\n"},
	{"chunk size used in your HTTP chunked", "chunk size too large\n"},
	{"chunked encoding was syntactically", "malformed chunked encoding\n"},
	{"version is too old", "HTTP version not supported: use HTTP/1.1\n"},
	{"version is not supported",
	 "HTTP version not supported: use HTTP/1.1\n"},
	{"&quot;Host:&quot; header required",
	 "an HTTP/1.1 request needs a Host header\n"},
	{"syntactically incorrect", "malformed request\n"},
	{"Internal server error", "internal server error\n"},
};

const char *mhdpage_reason(const void *body, size_t len)
{
	const size_t head = sizeof(PAGE_HEAD) - 1;
	if (!body || len < head || memcmp(body, PAGE_HEAD, head) != 0)
		return NULL;
	/* The pages are NUL-free and short: search a bounded copy. */
	char page[1024];
	size_t n = len < sizeof(page) - 1 ? len : sizeof(page) - 1;
	memcpy(page, body, n);
	page[n] = '\0';
	for (size_t i = 0; i < sizeof(pages) / sizeof(*pages); i++)
		if (strstr(page, pages[i].mark))
			return pages[i].line;
	return "request refused by the HTTP parser\n";
}

/* ld's --wrap names; they are the linker's interface, not ours. */
struct MHD_Response *
__real_MHD_create_response_from_buffer(size_t size, void *buffer,
				       enum MHD_ResponseMemoryMode mode);
struct MHD_Response *
__wrap_MHD_create_response_from_buffer(size_t size, void *buffer,
				       enum MHD_ResponseMemoryMode mode);

struct MHD_Response *
__wrap_MHD_create_response_from_buffer(size_t size, void *buffer,
				       enum MHD_ResponseMemoryMode mode)
{
	const char *line = mhdpage_reason(buffer, size);
	if (!line)
		return __real_MHD_create_response_from_buffer(size, buffer,
							      mode);
	if (mode == MHD_RESPMEM_MUST_FREE)
		free(buffer);
	struct MHD_Response *r = __real_MHD_create_response_from_buffer(
		strlen(line), (void *)line, MHD_RESPMEM_PERSISTENT);
	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; charset=utf-8");
	return r;
}
