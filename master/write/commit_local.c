/* Group commit on a master alone (master/write/commit.h): one thread
 * applies everything submitted since its last transaction with one
 * idx_apply, numbering the commands after the applied index. */
#include "master/write/commit_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"

/* Bounds one transaction so a burst cannot hold the writer for long. */
#define BATCH_MAX 256

struct local {
	struct commit cm; /* first: the ops */
	struct idx *ix;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct commit_req *head, *tail;
	bool stopping;
	uint64_t last_index;
	atomic_uint_fast64_t cmds, txns;
};

static struct local *local_of(struct commit *cm)
{
	return (struct local *)cm;
}

static void apply_batch(struct local *l, struct commit_req **reqs, size_t n)
{
	struct idx_entry e[BATCH_MAX];
	int results[BATCH_MAX];
	for (size_t i = 0; i < n; i++)
		e[i] = (struct idx_entry){.index = l->last_index + 1 + i,
					  .term = 0,
					  .cmd = reqs[i]->cmd,
					  .len = reqs[i]->len};
	int rc = idx_apply(l->ix, e, n, results);
	if (rc)
		log_error("index: applying %zu commands failed: %s", n,
			  rc == -ENOSPC ? "map full" : "I/O error");
	else
		l->last_index += n;
	atomic_fetch_add(&l->cmds, rc ? 0 : n);
	atomic_fetch_add(&l->txns, rc ? 0 : 1);
	for (size_t i = 0; i < n; i++) {
		reqs[i]->result = rc ? rc : results[i];
		reqs[i]->done(reqs[i]);
	}
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "commit");
	struct local *l = arg;
	struct commit_req *reqs[BATCH_MAX];
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->head && !l->stopping)
			pthread_cond_wait(&l->cv, &l->mu);
		if (!l->head)
			break;
		size_t n = 0;
		while (l->head && n < BATCH_MAX) {
			reqs[n++] = l->head;
			l->head = l->head->next;
		}
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&l->mu);
		apply_batch(l, reqs, n);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void submit(struct commit *cm, struct commit_req *r)
{
	struct local *l = local_of(cm);
	r->next = NULL;
	pthread_mutex_lock(&l->mu);
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void stop(struct commit *cm)
{
	struct local *l = local_of(cm);
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

static bool leads(struct commit *cm)
{
	(void)cm;
	return true;
}

static void counts(struct commit *cm, uint64_t *cmds, uint64_t *txns)
{
	struct local *l = local_of(cm);
	*cmds = atomic_load(&l->cmds);
	*txns = atomic_load(&l->txns);
}

static const struct commit_ops ops = {submit, stop, leads, counts};

int commit_start(struct idx *ix, struct commit **out)
{
	struct idx_stats st;
	int rc = idx_stats(ix, &st);
	if (rc)
		return rc;
	struct local *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cm.ops = &ops;
	l->ix = ix;
	l->last_index = st.applied;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	rc = pthread_create(&l->thread, NULL, run, l);
	if (rc) {
		free(l);
		return -rc;
	}
	*out = &l->cm;
	return 0;
}
