/* Joining a running cluster (node_options.join): a thread of its own asks
 * until a member adds us. Redirects are followed by hand (a follower
 * answers 307 to its leader), the body re-sent and signed again
 * (master/repl/node_int.h). */
#include "master/repl/node_int.h"

#include <assert.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/httpc.h"
#include "common/log.h"

/* POSTs the add to url, following up to three redirects (a follower
 * answers 307 to its leader) with the body signed afresh for each hop:
 * a signature is good once, at the host it names. Returns the last
 * status, or 0 when no answer came. */
static long ask(CURL *h, const char *url, const char *body)
{
	char at[TRANSPORT_URL_MAX + 32];
	snprintf(at, sizeof(at), "%s", url);
	long code = 0;
	for (int hop = 0; hop < 4; hop++) {
		struct curl_slist *hdrs = NULL;
		code = 0;
		if (!httpc_sign_body(&hdrs, "POST", at, body, strlen(body))) {
			curl_easy_setopt(h, CURLOPT_URL, at);
			curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
			if (curl_easy_perform(h) == CURLE_OK)
				curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE,
						  &code);
		}
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(hdrs);
		char *next = NULL;
		if ((code != 307 && code != 308) ||
		    curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next) !=
			    CURLE_OK ||
		    !next || strlen(next) >= sizeof(at))
			break;
		memmove(at, next, strlen(next) + 1);
	}
	return code;
}

static void *join(void *arg)
{
	pthread_setname_np(pthread_self(), "raft-join");
	struct node *n = arg;
	char url[TRANSPORT_URL_MAX + 32], self[TRANSPORT_URL_MAX], body[400];
	if (transport_peer_url(n->tp, n->o.id, self, sizeof(self)))
		return NULL;
	snprintf(url, sizeof(url), "%s/_/raft/members", n->o.join);
	snprintf(body, sizeof(body), "add %" PRIu64 " %s", n->o.id, self);
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 35000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpc_discard);
	for (;;) {
		pthread_mutex_lock(&n->mu);
		bool stop = n->stopping;
		pthread_mutex_unlock(&n->mu);
		if (stop)
			break;
		if (ask(h, url, body) == 200) {
			log_info("raft: joined through %s", n->o.join);
			break;
		}
		struct timespec d = {0, 300 * 1000000};
		nanosleep(&d, NULL);
	}
	curl_easy_cleanup(h);
	return NULL;
}

void node_join_start(struct node *n)
{
	assert(n->o.join && !n->joining);
	n->joining = pthread_create(&n->joiner, NULL, join, n) == 0;
}

void node_join_wait(struct node *n)
{
	if (n->joining)
		pthread_join(n->joiner, NULL);
	n->joining = false;
}
