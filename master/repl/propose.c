/* Proposals, from node_submit to their entry's apply: the pending list
 * (in log order), and handing committed entries to the machine
 * (master/repl/node_int.h). */
#include "master/repl/node_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void complete(struct node_proposal *p, int result)
{
	p->result = result;
	p->done(p);
}

void node_submit(struct node *n, struct node_proposal *p)
{
	assert(n && p && p->done && (p->data || !p->len));
	p->next = NULL;
	pthread_mutex_lock(&n->mu);
	if (n->stopping) {
		pthread_mutex_unlock(&n->mu);
		complete(p, -ESHUTDOWN);
		return;
	}
	if (n->prop_tail)
		n->prop_tail->next = p;
	else
		n->prop_head = p;
	n->prop_tail = p;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void node_props_propose(struct node *n, struct node_proposal *list,
			uint64_t now)
{
	assert(!n->in_ready);
	struct raft_status st;
	raft_status(n->r, &st);
	while (list) {
		struct node_proposal *p = list;
		list = p->next;
		atomic_fetch_add(&n->proposals, 1);
		uint64_t index;
		int rc = raft_propose(n->r, p->data, p->len, &index);
		if (rc == 0 && n->npend == n->cap_pend) {
			size_t cap = n->cap_pend ? 2 * n->cap_pend : 256;
			void *np = realloc(n->pend, cap * sizeof(*n->pend));
			if (np) {
				n->pend = np;
				n->cap_pend = cap;
			}
		}
		if (rc == 0 && n->npend < n->cap_pend) {
			n->pend[n->npend++] = (struct node_pending){
				p, index, st.term,
				now + (uint64_t)n->o.timeout_ms * 1000u};
			continue;
		}
		atomic_fetch_add(&n->proposals_failed, 1);
		/* -EBUSY: a transfer is under way; the client retries. */
		complete(p, rc == -EPERM || rc == -EBUSY ? -ENOTCONN
			    : rc			 ? rc
							 : -ENOMEM);
	}
}

/* The committed entry at index (term) decided the oldest proposals. */
static void settle(struct node *n, uint64_t index, uint64_t term, int result)
{
	size_t k = 0;
	for (; k < n->npend && n->pend[k].index <= index; k++) {
		struct node_pending *p = &n->pend[k];
		bool mine = p->index == index && p->term == term;
		if (!mine)
			atomic_fetch_add(&n->proposals_failed, 1);
		complete(p->p, mine ? result : -ECANCELED);
	}
	if (!k)
		return;
	memmove(n->pend, n->pend + k, (n->npend - k) * sizeof(*n->pend));
	n->npend -= k;
}

void node_props_apply(struct node *n, const struct raft_entry *e, size_t count)
{
	assert(n && e && count);
	/* Entries at or below the applied index are in the machine already
	 * (state/ ahead of the log after a restart): only the rest goes. */
	size_t skip = 0;
	while (skip < count && e[skip].index <= n->applied)
		skip++;
	e += skip;
	count -= skip;
	if (!count)
		return;
	struct machine_entry *me = malloc(count * sizeof(*me));
	int *res = malloc(count * sizeof(*res));
	if (!me || !res) {
		log_error("raft: out of memory applying %zu entries", count);
		abort(); /* cannot skip committed entries; restart replays */
	}
	for (size_t i = 0; i < count; i++) {
		/* The core hands out the log in order, without gaps. */
		assert(e[i].index == n->applied + 1 + i);
		bool normal = e[i].type == RAFT_ENTRY_NORMAL;
		/* No-ops and configurations move the applied index only. */
		me[i] = (struct machine_entry){
			.index = e[i].index,
			.term = e[i].term,
			.data = normal ? e[i].data : NULL,
			.len = normal ? e[i].len : 0,
		};
	}
	bool changed = false;
	int rc = n->m.ops->apply(n->m.arg, me, count, res, &changed);
	if (rc) {
		/* The log says these are committed; a replica that cannot
		 * apply them must not serve: stop, restart replays. */
		log_error("raft: applying entries %" PRIu64 "..%" PRIu64
			  " failed: %s",
			  e[0].index, e[count - 1].index, strerror(-rc));
		abort();
	}
	for (size_t i = 0; i < count; i++) {
		settle(n, e[i].index, e[i].term, res[i]);
		n->applied = e[i].index;
		atomic_fetch_add(&n->cmds, e[i].type == RAFT_ENTRY_NORMAL);
	}
	free(me);
	free(res);
	if (changed && n->o.on_changed)
		n->o.on_changed(n->o.arg);
}

void node_props_expire(struct node *n, uint64_t now)
{
	size_t k = 0;
	while (k < n->npend && n->pend[k].deadline_us <= now)
		complete(n->pend[k++].p, -ETIMEDOUT);
	if (k) {
		atomic_fetch_add(&n->proposals_failed, k);
		memmove(n->pend, n->pend + k,
			(n->npend - k) * sizeof(*n->pend));
		n->npend -= k;
	}
}

void node_props_fail(struct node *n)
{
	for (size_t i = 0; i < n->npend; i++)
		complete(n->pend[i].p, -ESHUTDOWN);
	n->npend = 0;
}
