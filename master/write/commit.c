#include "master/write/commit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"
#include "master/repl/node.h"

/* Bounds one transaction so a burst cannot hold the writer for long. */
#define BATCH_MAX 256

struct commit {
	struct node *node; /* replicated: everything goes through Raft */
	struct idx *ix;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct commit_req *head, *tail;
	bool stopping;
	uint64_t last_index;
	atomic_uint_fast64_t cmds, txns;
};

static void apply_batch(struct commit *cm, struct commit_req **reqs, size_t n)
{
	struct idx_entry e[BATCH_MAX];
	int results[BATCH_MAX];
	for (size_t i = 0; i < n; i++)
		e[i] = (struct idx_entry){.index = cm->last_index + 1 + i,
					  .term = 0,
					  .cmd = reqs[i]->cmd,
					  .len = reqs[i]->len};
	int rc = idx_apply(cm->ix, e, n, results);
	if (rc)
		log_error("index: applying %zu commands failed: %s", n,
			  rc == -ENOSPC ? "map full" : "I/O error");
	else
		cm->last_index += n;
	atomic_fetch_add(&cm->cmds, rc ? 0 : n);
	atomic_fetch_add(&cm->txns, rc ? 0 : 1);
	for (size_t i = 0; i < n; i++) {
		reqs[i]->result = rc ? rc : results[i];
		reqs[i]->done(reqs[i]);
	}
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "commit");
	struct commit *cm = arg;
	struct commit_req *reqs[BATCH_MAX];
	pthread_mutex_lock(&cm->mu);
	for (;;) {
		while (!cm->head && !cm->stopping)
			pthread_cond_wait(&cm->cv, &cm->mu);
		if (!cm->head)
			break;
		size_t n = 0;
		while (cm->head && n < BATCH_MAX) {
			reqs[n++] = cm->head;
			cm->head = cm->head->next;
		}
		if (!cm->head)
			cm->tail = NULL;
		pthread_mutex_unlock(&cm->mu);
		apply_batch(cm, reqs, n);
		pthread_mutex_lock(&cm->mu);
	}
	pthread_mutex_unlock(&cm->mu);
	return NULL;
}

int commit_start(struct idx *ix, struct commit **out)
{
	struct idx_stats st;
	int rc = idx_stats(ix, &st);
	if (rc)
		return rc;
	struct commit *cm = calloc(1, sizeof(*cm));
	if (!cm)
		return -ENOMEM;
	cm->ix = ix;
	cm->last_index = st.applied;
	pthread_mutex_init(&cm->mu, NULL);
	pthread_cond_init(&cm->cv, NULL);
	rc = pthread_create(&cm->thread, NULL, run, cm);
	if (rc) {
		free(cm);
		return -rc;
	}
	*out = cm;
	return 0;
}

int commit_start_node(struct node *nd, struct commit **out)
{
	struct commit *cm = calloc(1, sizeof(*cm));
	if (!cm)
		return -ENOMEM;
	cm->node = nd;
	*out = cm;
	return 0;
}

void commit_submit(struct commit *cm, struct commit_req *r)
{
	if (cm->node) {
		node_submit(cm->node, r);
		return;
	}
	r->next = NULL;
	pthread_mutex_lock(&cm->mu);
	if (cm->tail)
		cm->tail->next = r;
	else
		cm->head = r;
	cm->tail = r;
	pthread_cond_signal(&cm->cv);
	pthread_mutex_unlock(&cm->mu);
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t left;
};

static void wake_waiter(struct commit_req *r)
{
	struct waiter *w = r->arg;
	pthread_mutex_lock(&w->mu);
	if (--w->left == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int commit_run_many(struct commit *cm, const struct cmd *c, size_t n,
		    int *results)
{
	struct commit_req *r = malloc((n ? n : 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			   0};
	size_t queued = 0;
	for (size_t i = 0; i < n; i++) {
		long len = cmd_encode(&c[i], r[i].cmd, sizeof(r[i].cmd));
		results[i] = len < 0 ? (int)len : 0;
		r[i].len = len < 0 ? 0 : (size_t)len;
		r[i].done = wake_waiter;
		r[i].arg = &w;
		queued += len >= 0;
	}
	w.left = queued;
	for (size_t i = 0; i < n; i++)
		if (results[i] == 0)
			commit_submit(cm, &r[i]);
	pthread_mutex_lock(&w.mu);
	while (w.left)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	for (size_t i = 0; i < n; i++)
		if (results[i] == 0)
			results[i] = r[i].result;
	free(r);
	return 0;
}

int commit_run(struct commit *cm, const struct cmd *c)
{
	int result;
	int rc = commit_run_many(cm, c, 1, &result);
	return rc ? rc : result;
}

void commit_stop(struct commit *cm)
{
	if (!cm)
		return;
	if (cm->node) {
		free(cm);
		return;
	}
	pthread_mutex_lock(&cm->mu);
	cm->stopping = true;
	pthread_cond_signal(&cm->cv);
	pthread_mutex_unlock(&cm->mu);
	pthread_join(cm->thread, NULL);
	pthread_mutex_destroy(&cm->mu);
	pthread_cond_destroy(&cm->cv);
	free(cm);
}

bool commit_leads(struct commit *cm)
{
	struct node_info in;
	if (!cm->node)
		return true;
	node_info(cm->node, &in);
	return in.role == RAFT_LEADER;
}

void commit_counts(struct commit *cm, uint64_t *cmds, uint64_t *txns)
{
	if (cm->node) {
		node_counts(cm->node, cmds, txns);
		return;
	}
	*cmds = atomic_load(&cm->cmds);
	*txns = atomic_load(&cm->txns);
}
