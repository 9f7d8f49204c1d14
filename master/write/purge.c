#include "master/write/purge.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/httpc.h"
#include "common/key.h"
#include "common/log.h"
#include "master/write/keylock.h"

#define BATCH 64

struct item {
	uint32_t vol;
	uint64_t seq;
	bool locked; /* this item took its key's lock */
	size_t keylen;
	char key[KEY_MAX + 1];
	char url[IDX_ADDR_MAX + KEY_PCT_MAX + 16];
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
	struct httpc *http;
	atomic_uint_fast64_t done, failed;
	struct item batch[BATCH];
	size_t n;
};

static int collect(void *arg, const struct idx_purge *e)
{
	struct purge *p = arg;
	const struct vol *v = vol_by_id(p->vs, e->vol);
	if (!v || !atomic_load(&v->healthy))
		return IDX_SCAN_SKIP_VOL;
	struct item *it = &p->batch[p->n++];
	it->vol = e->vol;
	it->seq = e->seq;
	it->keylen = e->keylen;
	memcpy(it->key, e->key, e->keylen);
	it->key[e->keylen] = '\0';
	return p->n == BATCH ? IDX_SCAN_STOP : IDX_SCAN_NEXT;
}

/* Whether an earlier item of the batch is the same key: its lock
 * covers this one too. */
static bool shares_lock(const struct purge *p, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (p->batch[j].locked &&
		    p->batch[j].keylen == p->batch[i].keylen &&
		    memcmp(p->batch[j].key, p->batch[i].key,
			   p->batch[i].keylen) == 0)
			return true;
	return false;
}

/* One pass over up to BATCH entries, their DELETEs sent in parallel (a
 * volume fsyncs each tombstone, so one at a time could not keep up with
 * clients deleting). Returns how many were purged. */
static size_t round_once(struct purge *p)
{
	p->n = 0;
	/* Only the leader purges: its key locks are the ones writers hold. */
	if (!commit_leads(p->cm) || idx_purge_scan(p->ix, 0, collect, p))
		return 0;
	const char *urls[BATCH];
	long codes[BATCH];
	size_t go[BATCH], ngo = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct item *it = &p->batch[i];
		it->locked = false;
		if (!shares_lock(p, i)) {
			if (keylock_try(it->key, it->keylen, KEYLOCK_PURGE))
				continue; /* a write is in flight; next round */
			it->locked = true;
		}
		const struct vol *v = vol_by_id(p->vs, it->vol);
		char path[KEY_PCT_MAX];
		/* Only while the entry is unchanged: a write that came and
		 * went meanwhile owns what is on the volume now. */
		if (!v ||
		    idx_purge_pending(p->ix, it->vol, it->key, it->keylen,
				      it->seq) ||
		    key_pct_encode(it->key, it->keylen, path, sizeof(path)) < 0)
			continue;
		snprintf(it->url, sizeof(it->url), "http://%s%s", v->addr,
			 path);
		urls[ngo] = it->url;
		go[ngo++] = i;
	}
	struct cmd done[BATCH];
	size_t ndone = 0;
	if (ngo && httpc_request_all(p->http, "DELETE", urls, ngo,
				     p->timeout_ms, codes) == 0)
		for (size_t k = 0; k < ngo; k++) {
			const struct item *it = &p->batch[go[k]];
			if (codes[k] != 204 && codes[k] != 404) {
				log_warn("purge: DELETE %s failed: %s", it->url,
					 codes[k] ? "unexpected status"
						  : "no answer");
				atomic_fetch_add(&p->failed, 1);
				continue;
			}
			done[ndone++] = (struct cmd){.type = CMD_PURGE_DONE,
						     .key = it->key,
						     .keylen = it->keylen,
						     .nvols = 1,
						     .vols = {it->vol},
						     .seq = it->seq};
		}
	int results[BATCH];
	if (ndone && commit_run_many(p->cm, done, ndone, results) == 0)
		atomic_fetch_add(&p->done, ndone);
	for (size_t i = 0; i < p->n; i++)
		if (p->batch[i].locked)
			keylock_release(p->batch[i].key, p->batch[i].keylen);
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
		if (got == BATCH || p->poked || p->stopping)
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
	p->http = httpc_new();
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	int rc = p->http ? -pthread_create(&p->thread, NULL, worker, p)
			 : -ENOMEM;
	if (rc) {
		httpc_free(p->http);
		free(p);
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
	httpc_free(p->http);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
