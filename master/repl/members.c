/* Membership changes, one at a time, driven every loop of the driver,
 * and handing leadership over on a graceful stop
 * (master/repl/node.h, node_int.h). */
#include "master/repl/node_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void node_member_change(struct node *n, enum node_member_op op, uint64_t id,
			const char *url, void (*done)(void *arg, int result),
			void *arg)
{
	assert(n && done);
	bool add = op == NODE_MEMBER_ADD;
	/* The address as the configuration keeps it: no trailing slash. */
	char want[RAFT_ADDR_MAX] = "";
	size_t len = add && url ? strlen(url) : 0;
	while (len > 7 && url[len - 1] == '/')
		len--;
	int rc = !id || (add && (!url || !transport_url_ok(url) ||
				 len >= sizeof(want)))
			 ? -EINVAL
			 : 0;
	if (!rc && add) {
		memcpy(want, url, len);
		/* A member's address is never overwritten (its traffic would
		 * go elsewhere); one that was removed may come back at a new
		 * one. A configuration from before addresses has none: the
		 * -peers flag's is the one. */
		char known[TRANSPORT_URL_MAX];
		pthread_mutex_lock(&n->mu);
		int at = raft_conf_find(&n->conf, id);
		if (at >= 0)
			snprintf(known, sizeof(known), "%s", n->conf.addr[at]);
		pthread_mutex_unlock(&n->mu);
		if (at >= 0 && !known[0])
			rc = transport_peer_url(n->tp, id, known,
						sizeof(known));
		if (at >= 0 && (rc || strcmp(known, want) != 0))
			rc = -EEXIST;
	}
	if (rc) {
		done(arg, rc);
		return;
	}
	struct node_member_job *j = calloc(1, sizeof(*j));
	if (!j) {
		done(arg, -ENOMEM);
		return;
	}
	*j = (struct node_member_job){
		.op = op,
		.id = id,
		.done = done,
		.arg = arg,
		.deadline_us = clock_mono_us() + 30u * 1000000u,
	};
	memcpy(j->url, want, sizeof(want));
	pthread_mutex_lock(&n->mu);
	j->next = n->jobs_in;
	n->jobs_in = j;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void node_members_refuse(struct node_member_job *list)
{
	while (list) {
		struct node_member_job *j = list;
		list = j->next;
		j->done(j->arg, -ESHUTDOWN);
		free(j);
	}
}

void node_members_queue(struct node *n, struct node_member_job *list)
{
	while (list) {
		struct node_member_job *j = list;
		list = j->next;
		if (n->job) {
			j->done(j->arg, -EBUSY);
			free(j);
			continue;
		}
		n->job = j;
	}
}

static void job_end(struct node *n, int result)
{
	struct node_member_job *j = n->job;
	assert(j);
	n->job = NULL;
	j->done(j->arg, result);
	free(j);
}

void node_members_run(struct node *n, uint64_t now)
{
	struct node_member_job *j = n->job;
	if (!j)
		return;
	assert(!n->in_ready);
	if (now > j->deadline_us) {
		job_end(n, -ETIMEDOUT);
		return;
	}
	if (j->wait_index) {
		if (n->applied < j->wait_index)
			return;
		j->wait_index = 0;
		if (j->op == NODE_MEMBER_REMOVE || j->promoted) {
			job_end(n, 0);
			return;
		}
	}
	const struct raft_conf *c = raft_conf(n->r);
	int at = raft_conf_find(c, j->id);
	enum raft_conf_op op;
	if (j->op == NODE_MEMBER_REMOVE) {
		if (at < 0) {
			job_end(n, 0);
			return;
		}
		op = RAFT_CONF_REMOVE;
	} else if (at < 0) {
		op = RAFT_CONF_ADD_LEARNER;
	} else if (c->learner[at]) {
		op = RAFT_CONF_PROMOTE;
	} else {
		job_end(n, 0); /* already a voter: a join retried */
		return;
	}
	uint64_t index;
	int rc = raft_propose_conf(n->r, op, j->id, j->url, &index);
	if (rc == -EBUSY || rc == -EAGAIN)
		return; /* catching up, or another change: next round */
	if (rc) {
		job_end(n, rc == -EPERM ? -ENOTCONN : rc);
		return;
	}
	j->wait_index = index;
	j->promoted = op == RAFT_CONF_PROMOTE;
}

void node_members_fail(struct node *n)
{
	if (n->job)
		job_end(n, -ESHUTDOWN);
}

/* Leadership goes to the most up-to-date voter (the highest match). */
void node_members_transfer(struct node *n)
{
	assert(!n->in_ready);
	struct raft_status st;
	raft_status(n->r, &st);
	if (st.role != RAFT_LEADER)
		return;
	const struct raft_conf *c = raft_conf(n->r);
	uint64_t best = 0, best_match = 0;
	pthread_mutex_lock(&n->mu);
	for (size_t i = 0; i < c->n; i++) {
		int k = raft_conf_find(&n->conf, c->ids[i]);
		uint64_t m = k >= 0 ? n->match[k] : 0;
		if (c->ids[i] != n->o.id && !c->learner[i] &&
		    (!best || m > best_match)) {
			best = c->ids[i];
			best_match = m;
		}
	}
	pthread_mutex_unlock(&n->mu);
	if (best) {
		log_info("raft: handing leadership to %" PRIu64, best);
		raft_transfer_leadership(n->r, best);
	}
}
