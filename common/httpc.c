#include "common/httpc.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/sign.h"

struct httpc {
	CURL *easy;
	CURLM *multi; /* made by the first httpc_request_all */
};

/* Appends the header with a value sign_request or sign_request_body
 * made (rc its return). */
static int append_signature(struct curl_slist **h, int rc,
			    const char value[SIGN_VALUE_MAX])
{
	if (rc == -ENOTCONN)
		return 0;
	if (rc)
		return rc;
	char line[sizeof(SIGN_HEADER) + 2 + SIGN_VALUE_MAX];
	snprintf(line, sizeof(line), SIGN_HEADER ": %s", value);
	struct curl_slist *n = curl_slist_append(*h, line);
	if (!n)
		return -ENOMEM;
	*h = n;
	return 0;
}

int httpc_sign(struct curl_slist **h, const char *method, const char *url,
	       uint64_t length)
{
	char value[SIGN_VALUE_MAX];
	return append_signature(h, sign_request(method, url, length, value),
				value);
}

int httpc_sign_body(struct curl_slist **h, const char *method, const char *url,
		    const void *body, size_t len)
{
	char value[SIGN_VALUE_MAX];
	return append_signature(
		h, sign_request_body(method, url, body, len, value), value);
}

int httpc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) ? -EIO : 0;
}

void httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

struct httpc *httpc_new(void)
{
	struct httpc *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->easy = curl_easy_init();
	if (!h->easy) {
		free(h);
		return NULL;
	}
	return h;
}

void httpc_free(struct httpc *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->easy);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h);
}

size_t httpc_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

size_t httpc_keep(char *p, size_t size, size_t n, void *sink)
{
	struct httpc_sink *s = sink;
	size_t len = size * n;
	if (len > s->max - s->b->len) {
		s->too_big = true;
		return 0; /* aborts the transfer */
	}
	buf_append(s->b, p, len);
	return buf_failed(s->b) ? 0 : len;
}

int httpc_errno(int curlcode)
{
	switch (curlcode) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

struct curl_slist *httpc_sign_before(struct httpc_signed *s,
				     struct curl_slist *rest,
				     const char *method, const char *url,
				     uint64_t length, const void *body)
{
	char value[SIGN_VALUE_MAX];
	if (body ? sign_request_body(method, url, body, length, value)
		 : sign_request(method, url, length, value))
		return rest;
	snprintf(s->line, sizeof(s->line), SIGN_HEADER ": %s", value);
	s->node.data = s->line;
	s->node.next = rest;
	return &s->node;
}

/* Sets e up for one bodiless request; its signature goes to *hdrs, which
 * the caller frees after the transfer. */
static int setup(CURL *e, const char *method, const char *url, long timeout_ms,
		 struct curl_slist **hdrs)
{
	if (httpc_sign(hdrs, method, url, 0))
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_discard);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	if (method[0] == 'H')
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (method[0] != 'G')
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	return 0;
}

int httpc_request(struct httpc *h, const char *method, const char *url,
		  long timeout_ms, long *code)
{
	assert(h && method && url && code);
	curl_easy_reset(h->easy);
	*code = 0;
	struct curl_slist *hdrs = NULL;
	if (setup(h->easy, method, url, timeout_ms, &hdrs))
		return -ENOMEM;
	CURLcode rc = curl_easy_perform(h->easy);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK)
		return httpc_errno((int)rc);
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, code);
	return 0;
}

static CURLM *multi_new(void)
{
	CURLM *m = curl_multi_init();
	if (m)
		curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS,
				  (long)HTTPC_PER_HOST);
	return m;
}

int httpc_request_all(struct httpc *h, const char *method,
		      const char *const *urls, size_t n, long timeout_ms,
		      long *codes)
{
	if (h && !h->multi)
		h->multi = multi_new();
	CURLM *m = h ? h->multi : multi_new();
	CURL **e = calloc(n ? n : 1, sizeof(*e));
	struct curl_slist **hdrs = calloc(n ? n : 1, sizeof(*hdrs));
	int rc = (!m || !e || !hdrs) ? -ENOMEM : 0;
	for (size_t i = 0; !rc && i < n; i++) {
		codes[i] = 0;
		e[i] = curl_easy_init();
		if (!e[i]) {
			rc = -ENOMEM;
			break;
		}
		if (setup(e[i], method, urls[i], timeout_ms, &hdrs[i])) {
			curl_easy_cleanup(e[i]);
			e[i] = NULL;
			rc = -ENOMEM;
			break;
		}
		curl_easy_setopt(e[i], CURLOPT_PRIVATE, (void *)&codes[i]);
		curl_multi_add_handle(m, e[i]);
	}
	int running = 1;
	while (!rc && running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	CURLMsg *msg;
	int left;
	while (!rc && (msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK) {
			long *code;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&code);
			curl_easy_getinfo(msg->easy_handle,
					  CURLINFO_RESPONSE_CODE, code);
		}
	for (size_t i = 0; e && i < n && e[i]; i++) {
		curl_multi_remove_handle(m, e[i]);
		curl_easy_cleanup(e[i]);
	}
	for (size_t i = 0; hdrs && i < n; i++)
		curl_slist_free_all(hdrs[i]);
	free(hdrs);
	free(e);
	if (m && !h)
		curl_multi_cleanup(m);
	return rc;
}
