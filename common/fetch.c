#include "common/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>

#include "common/httpc.h"

int fetch(const char *method, const char *url, const void *body, size_t len,
	  long timeout_ms, size_t max, struct fetch_resp *out)
{
	out->code = 0;
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	struct httpc_sink s = {&out->body, max, false};
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	if (!h || httpc_sign_body(&h, method, url, body, body ? len : 0)) {
		curl_slist_free_all(h);
		curl_easy_cleanup(e);
		return -ENOMEM;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_keep);
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
