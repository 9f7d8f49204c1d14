#include "master/write/purge.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/httpc.h"
#include "common/key.h"
#include "common/log.h"
#include "master/write/keylock.h"

/* What a volume's POST /_/purge takes at most: keys and body bytes. */
#define VOL_KEYS_MAX 1024
#define VOL_BODY_MAX (1u << 20)
/* Entries one round takes, over every volume: a few volumes' worth of
 * full batches, so one failing volume does not stall the others. */
#define ROUND_MAX 4096
/* A 200 names one status per key: "204\n" or "404\n". */
#define ANSWER_MAX (8 * VOL_KEYS_MAX)

struct item {
	uint32_t vol;
	uint64_t seq;
	bool locked; /* this item took its key's lock */
	bool go;     /* locked, still queued, and sent this round */
	bool purged; /* the volume answered 204 or 404 */
	size_t keylen;
	char key[KEY_MAX + 1];
};

/* One volume's share of a round: items[first, first + n), of which the
 * `go` ones are in the body, one percent-encoded key per line. */
struct group {
	uint32_t vol;
	size_t first, n, ngo;
	char url[IDX_ADDR_MAX + 16];
	struct buf body, answer;
	struct httpc_sink sink;
	long code; /* 0: no answer */
	CURL *easy;
	struct httpc_signed sig;
};

struct purge {
	struct idx *ix;
	struct commit *cm;
	struct vols *vs;
	long timeout_ms, interval_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping, poked;
	struct httpc *http; /* per-key DELETEs to volumes without /_/purge */
	CURLM *multi;	    /* keeps the POSTs' connections between rounds */
	struct curl_slist *headers;
	atomic_uint_fast64_t done, failed;
	/* The round in progress (worker thread only). */
	struct item *items; /* ROUND_MAX */
	size_t *order;	    /* ROUND_MAX: items sorted by key */
	struct group *groups;
	size_t n, ngroups, vol_n;
	bool more; /* the scan stopped at a cap: more may be queued */
};

static int collect(void *arg, const struct idx_purge *e)
{
	struct purge *p = arg;
	const struct vol *v = vol_by_id(p->vs, e->vol);
	if (!v || !atomic_load(&v->healthy))
		return IDX_SCAN_SKIP_VOL;
	if (p->n && p->items[p->n - 1].vol != e->vol)
		p->vol_n = 0;
	struct item *it = &p->items[p->n++];
	it->vol = e->vol;
	it->seq = e->seq;
	it->keylen = e->keylen;
	memcpy(it->key, e->key, e->keylen);
	it->key[e->keylen] = '\0';
	if (p->n == ROUND_MAX) {
		p->more = true;
		return IDX_SCAN_STOP;
	}
	if (++p->vol_n == VOL_KEYS_MAX) {
		p->more = true;
		return IDX_SCAN_SKIP_VOL;
	}
	return IDX_SCAN_NEXT;
}

static int by_key(const void *a, const void *b, void *items)
{
	const struct item
		*x = &((const struct item *)items)[*(const size_t *)a],
		*y = &((const struct item *)items)[*(const size_t *)b];
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* Takes each distinct key's lock once (one key's copies on several
 * volumes share it) and marks the items that may be purged: a write in
 * flight keeps its key for the next round, and an entry that changed
 * meanwhile belongs to a write that came and went. */
static void lock_items(struct purge *p)
{
	for (size_t i = 0; i < p->n; i++)
		p->order[i] = i;
	qsort_r(p->order, p->n, sizeof(*p->order), by_key, p->items);
	for (size_t i = 0; i < p->n;) {
		size_t j = i + 1;
		while (j < p->n &&
		       by_key(&p->order[i], &p->order[j], p->items) == 0)
			j++;
		struct item *first = &p->items[p->order[i]];
		bool held = keylock_try(first->key, first->keylen,
					KEYLOCK_PURGE) == 0;
		first->locked = held;
		for (; i < j; i++) {
			struct item *it = &p->items[p->order[i]];
			it->go = held &&
				 idx_purge_pending(p->ix, it->vol, it->key,
						   it->keylen, it->seq) == 0;
		}
	}
}

/* Splits the round by volume (the scan returns entries in volume order)
 * and writes each volume's body, up to what one POST may carry. */
static int build_groups(struct purge *p)
{
	p->ngroups = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct item *it = &p->items[i];
		struct group *g =
			p->ngroups ? &p->groups[p->ngroups - 1] : NULL;
		if (!g || g->vol != it->vol) {
			g = &p->groups[p->ngroups++];
			buf_free(&g->body);
			buf_free(&g->answer);
			*g = (struct group){.vol = it->vol, .first = i};
			const struct vol *v = vol_by_id(p->vs, it->vol);
			if (v)
				snprintf(g->url, sizeof(g->url),
					 "http://%s/_/purge", v->addr);
		}
		g->n++;
		char path[KEY_PCT_MAX];
		long len = it->go ? key_pct_encode(it->key, it->keylen, path,
						   sizeof(path))
				  : -1;
		if (!g->url[0] || len < 0) {
			it->go = false;
			continue;
		}
		if (g->body.len + (size_t)len + 1 > VOL_BODY_MAX) {
			it->go = false; /* next round */
			p->more = true;
			continue;
		}
		buf_append(&g->body, path, (size_t)len);
		buf_append(&g->body, "\n", 1);
		g->ngo++;
	}
	for (size_t k = 0; k < p->ngroups; k++)
		if (buf_failed(&p->groups[k].body))
			return -ENOMEM;
	return 0;
}

/* Sends every group's POST at once and waits for all the answers. */
static void post_groups(struct purge *p)
{
	size_t running = 0;
	for (size_t k = 0; k < p->ngroups; k++) {
		struct group *g = &p->groups[k];
		if (!g->ngo)
			continue;
		g->sink =
			(struct httpc_sink){.b = &g->answer, .max = ANSWER_MAX};
		CURL *e = curl_easy_init();
		if (!e)
			continue;
		curl_easy_setopt(e, CURLOPT_URL, g->url);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, g->body.data);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)g->body.len);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER,
				 httpc_sign_before(&g->sig, p->headers, "POST",
						   g->url, g->body.len,
						   g->body.data));
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_keep);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &g->sink);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, p->timeout_ms);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_PRIVATE, g);
		if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
			curl_easy_cleanup(e);
			continue;
		}
		g->easy = e;
		running++;
	}
	while (running) {
		int still = 0;
		if (curl_multi_perform(p->multi, &still) != CURLM_OK)
			break;
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(p->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct group *g = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					  (char **)&g);
			if (m->data.result == CURLE_OK)
				curl_easy_getinfo(m->easy_handle,
						  CURLINFO_RESPONSE_CODE,
						  &g->code);
			running--;
		}
		if (running)
			curl_multi_poll(p->multi, NULL, 0, 100, NULL);
	}
	for (size_t k = 0; k < p->ngroups; k++) {
		struct group *g = &p->groups[k];
		if (!g->easy)
			continue;
		curl_multi_remove_handle(p->multi, g->easy);
		curl_easy_cleanup(g->easy);
		g->easy = NULL;
	}
}

/* Reads a 200's lines, one per key sent, in order: 204 and 404 purged
 * the key; anything else leaves it queued. Returns the keys not purged,
 * or -EBADMSG when the answer does not list every key. */
static long read_answer(struct purge *p, struct group *g)
{
	const char *s = g->answer.data ? g->answer.data : "";
	size_t len = g->answer.len;
	if (g->sink.too_big || len != 4 * g->ngo)
		return -EBADMSG;
	long bad = 0;
	size_t line = 0;
	for (size_t i = g->first; i < g->first + g->n; i++) {
		struct item *it = &p->items[i];
		if (!it->go)
			continue;
		const char *l = s + 4 * line++;
		if (l[3] != '\n')
			return -EBADMSG;
		it->purged =
			memcmp(l, "204", 3) == 0 || memcmp(l, "404", 3) == 0;
		bad += !it->purged;
	}
	return bad;
}

/* A volume that predates /_/purge (404 or 405 for the endpoint), or
 * refused the batch as a whole (400, 413: one bad key must not hold up
 * the others), gets the group's keys as one DELETE each, in parallel. */
static void delete_each(struct purge *p, struct group *g)
{
	const struct vol *v = vol_by_id(p->vs, g->vol);
	size_t url_max = IDX_ADDR_MAX + KEY_PCT_MAX + 16;
	char *urls = malloc(g->ngo * url_max);
	const char **u = malloc(g->ngo * sizeof(*u));
	long *codes = malloc(g->ngo * sizeof(*codes));
	size_t *which = malloc(g->ngo * sizeof(*which));
	size_t n = 0;
	if (!v || !urls || !u || !codes || !which)
		goto out;
	for (size_t i = g->first; i < g->first + g->n; i++) {
		const struct item *it = &p->items[i];
		char path[KEY_PCT_MAX];
		if (!it->go ||
		    key_pct_encode(it->key, it->keylen, path, sizeof(path)) < 0)
			continue;
		u[n] = urls + n * url_max;
		snprintf(urls + n * url_max, url_max, "http://%s%s", v->addr,
			 path);
		which[n++] = i;
	}
	if (httpc_request_all(p->http, "DELETE", u, n, p->timeout_ms, codes))
		n = 0;
	for (size_t k = 0; k < n; k++) {
		struct item *it = &p->items[which[k]];
		it->purged = codes[k] == 204 || codes[k] == 404;
		if (!it->purged) {
			log_warn("purge: DELETE %s failed: %s", u[k],
				 codes[k] ? "unexpected status" : "no answer");
			atomic_fetch_add(&p->failed, 1);
		}
	}
out:
	free(urls);
	free(u);
	free(codes);
	free(which);
}

/* One pass over up to ROUND_MAX entries: one POST /_/purge per volume
 * with all of its keys, sent in parallel (the volume writes them with
 * one sync), then one commit batch retiring every copy that went.
 * Returns how many were purged. */
static size_t round_once(struct purge *p)
{
	p->n = 0;
	p->vol_n = 0;
	p->more = false;
	/* Only the leader purges: its key locks are the ones writers hold. */
	if (!commit_leads(p->cm) || idx_purge_scan(p->ix, 0, collect, p) ||
	    !p->n)
		return 0;
	for (size_t i = 0; i < p->n; i++)
		p->items[i].locked = p->items[i].go = p->items[i].purged =
			false;
	lock_items(p);
	if (build_groups(p) == 0) {
		post_groups(p);
		for (size_t k = 0; k < p->ngroups; k++) {
			struct group *g = &p->groups[k];
			if (!g->ngo)
				continue;
			long bad = g->code == 200 ? read_answer(p, g) : 0;
			if (g->code == 404 || g->code == 405 ||
			    g->code == 400 || g->code == 413) {
				delete_each(p, g);
				continue;
			}
			if (g->code == 200 && bad >= 0) {
				if (bad)
					log_warn("purge: POST %s: %ld of %zu "
						 "keys not purged",
						 g->url, bad, g->ngo);
				atomic_fetch_add(&p->failed, (uint64_t)bad);
				continue;
			}
			log_warn("purge: POST %s (%zu keys) failed: %s", g->url,
				 g->ngo,
				 g->code == 200 ? "malformed answer"
				 : g->code	? "unexpected status"
						: "no answer");
			atomic_fetch_add(&p->failed, g->ngo);
		}
	}
	/* The volumes are done with these keys: a client may write them
	 * again now. Retiring the entries needs no lock, as the index
	 * guards itself: a write that lands meanwhile drops the entries for
	 * its volumes, and CMD_PURGE_DONE retires only an unchanged one. */
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].locked)
			keylock_release(p->items[i].key, p->items[i].keylen);
	assert(p->n > 0);
	struct cmd *done = malloc(p->n * sizeof(*done));
	int *results = malloc(p->n * sizeof(*results));
	size_t ndone = 0;
	for (size_t i = 0; done && results && i < p->n; i++) {
		const struct item *it = &p->items[i];
		if (it->go && it->purged)
			done[ndone++] = (struct cmd){.type = CMD_PURGE_DONE,
						     .key = it->key,
						     .keylen = it->keylen,
						     .nvols = 1,
						     .vols = {it->vol},
						     .seq = it->seq};
	}
	/* One batch: the commands share transactions (log syncs). */
	if (ndone && commit_run_many(p->cm, done, ndone, results) == 0)
		atomic_fetch_add(&p->done, ndone);
	else if (ndone)
		ndone = 0;
	free(done);
	free(results);
	return ndone;
}

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), "purge");
	struct purge *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		p->poked = false;
		pthread_mutex_unlock(&p->mu);
		size_t got = round_once(p);
		pthread_mutex_lock(&p->mu);
		/* More is queued and the last round made progress: go on. */
		if ((p->more && got) || p->poked || p->stopping)
			continue;
		struct timespec until =
			clock_deadline_ms((uint64_t)p->interval_ms);
		while (!p->poked && !p->stopping &&
		       pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void purge_free(struct purge *p)
{
	for (size_t k = 0; p->groups && k < ROUND_MAX; k++) {
		buf_free(&p->groups[k].body);
		buf_free(&p->groups[k].answer);
	}
	curl_slist_free_all(p->headers);
	if (p->multi)
		curl_multi_cleanup(p->multi);
	httpc_free(p->http);
	free(p->items);
	free(p->order);
	free(p->groups);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

int purge_start(struct idx *ix, struct commit *cm, struct vols *vs,
		long timeout_ms, long interval_ms, struct purge **out)
{
	struct purge *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct purge){.ix = ix,
			    .cm = cm,
			    .vs = vs,
			    .timeout_ms = timeout_ms,
			    .interval_ms = interval_ms};
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->http = httpc_new();
	p->multi = curl_multi_init();
	/* No "Expect: 100-continue": a body over 1 KiB would wait a round
	 * trip for the go-ahead. */
	p->headers = curl_slist_append(NULL, "Content-Type: text/plain");
	struct curl_slist *h =
		p->headers ? curl_slist_append(p->headers, "Expect:") : NULL;
	if (h)
		p->headers = h;
	p->items = calloc(ROUND_MAX, sizeof(*p->items));
	p->order = calloc(ROUND_MAX, sizeof(*p->order));
	/* A group per volume at most, and no more than items. */
	p->groups = calloc(ROUND_MAX, sizeof(*p->groups));
	int rc = p->http && p->multi && h && p->items && p->order && p->groups
			 ? -pthread_create(&p->thread, NULL, worker, p)
			 : -ENOMEM;
	if (rc) {
		purge_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void purge_poke(struct purge *p)
{
	pthread_mutex_lock(&p->mu);
	p->poked = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void purge_counts(struct purge *p, uint64_t *done, uint64_t *failed)
{
	*done = atomic_load(&p->done);
	*failed = atomic_load(&p->failed);
}

void purge_stop(struct purge *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	purge_free(p);
}
