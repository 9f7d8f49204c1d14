/* libmicrohttpd's own error pages, in one line of text.
 *
 * libmicrohttpd refuses some requests before any handler of ours sees
 * them (a header without a colon, a Content-Length that is not a number,
 * headers past its memory pool, a bad chunk size, HTTP/2.0 in the request
 * line) and answers with an HTML page compiled into the library, which no
 * option turns off. The build links libmicrohttpd's archive and has ld
 * wrap the one function those pages are made with
 * (-Wl,--wrap=MHD_create_response_from_buffer, configure.ac): the wrapper
 * here swaps such a page for the one-line text/plain reason every other
 * error of ours has, and passes every other body through unchanged.
 * tests/test_master and tests/test_volume send each of those requests.
 *
 * Thread rules: pure functions, any thread. */
#ifndef CASK_COMMON_MHDPAGE_H
#define CASK_COMMON_MHDPAGE_H

#include <stddef.h>

/* If `body` is one of libmicrohttpd's HTML error pages, the one line
 * (static, ending in '\n') to send instead; else NULL. */
const char *mhdpage_reason(const void *body, size_t len);

#endif
