/* Joining a running cluster (node_options.join): a thread of its own asks
 * until a member adds us. Redirects are followed (a follower answers 307
 * to its leader), the body re-sent (master/repl/node_int.h). */
#include "master/repl/node_int.h"

#include <assert.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/httpc.h"
#include "common/log.h"

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
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 35000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpc_discard);
	for (;;) {
		pthread_mutex_lock(&n->mu);
		bool stop = n->stopping;
		pthread_mutex_unlock(&n->mu);
		if (stop)
			break;
		/* Signed afresh each time: a signature is good once. A 307
		 * re-sends it to the leader, which has not seen it. */
		struct curl_slist *hdrs = NULL;
		long code = 0;
		if (!httpc_sign_body(&hdrs, "POST", url, body, strlen(body))) {
			curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
			if (curl_easy_perform(h) == CURLE_OK)
				curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE,
						  &code);
		}
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(hdrs);
		if (code == 200) {
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
