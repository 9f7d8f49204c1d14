/* What both implementations of commit.h share: waiting for commands, and
 * dispatching to the implementation (commit_int.h). */
#include "master/write/commit_int.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

void commit_submit(struct commit *cm, struct commit_req *r)
{
	assert(cm && r && r->done);
	cm->ops->submit(cm, r);
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
	if (cm)
		cm->ops->stop(cm);
}

bool commit_leads(struct commit *cm)
{
	return cm->ops->leads(cm);
}

void commit_counts(struct commit *cm, uint64_t *cmds, uint64_t *txns)
{
	cm->ops->counts(cm, cmds, txns);
}
