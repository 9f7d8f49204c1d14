#include "common/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>

#include "common/httpc.h"

struct sink {
	struct buf *b;
	size_t max;
	bool too_big;
};

static size_t keep(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (s->b->len + len > s->max) {
		s->too_big = true;
		return 0; /* aborts the transfer */
	}
	buf_append(s->b, p, len);
	return buf_failed(s->b) ? 0 : len;
}

int fetch(const char *method, const char *url, const void *body, size_t len,
	  long timeout_ms, size_t max, struct fetch_resp *out)
{
	out->code = 0;
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	struct sink s = {&out->body, max, false};
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)&s);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	}
	if (strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	CURLcode cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->code);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (s.too_big)
		return -EFBIG;
	if (buf_failed(&out->body))
		return -ENOMEM;
	return httpc_errno((int)cc);
}
