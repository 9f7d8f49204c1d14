/* Linearizable reads: barriers batched per read index, and the leader
 * lease that lets API threads read without the driver
 * (master/repl/node.h, node_int.h). */
#include "master/repl/node_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

void node_read_complete(struct node *n, struct node_read *rd, int result)
{
	if (result)
		atomic_fetch_add(&n->reads_failed, 1);
	rd->result = result;
	rd->done(rd);
}

void node_read(struct node *n, struct node_read *rd)
{
	assert(n && rd && rd->done);
	atomic_fetch_add(&n->reads, 1);
	rd->next = NULL;
	rd->deadline_us = clock_mono_us() + (uint64_t)n->o.timeout_ms * 1000u;
	pthread_mutex_lock(&n->mu);
	if (n->stopping) {
		pthread_mutex_unlock(&n->mu);
		node_read_complete(n, rd, -ESHUTDOWN);
		return;
	}
	if (n->read_tail)
		n->read_tail->next = rd;
	else
		n->read_head = rd;
	n->read_tail = rd;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

/* Lease reads let API threads answer a read on the leader from their own
 * LMDB read transaction, without the driver: node_lease_read hands out
 * the commit index published here while the lease published here lasts,
 * and the reader needs state/ applied at least that far.
 *
 * Why that is linearizable. Every write or read that completed before
 * the read began revealed some index i to its client: a write is
 * acknowledged only once applied (here, or at the leader of an older
 * term, whose commits our committed no-op follows), a read returned a
 * state applied through i, which some master learned committed from a
 * message this leader sent (APPEND commit, READ_INDEX_RESP) or from its
 * own core. The commit index is published before any message that carries
 * it leaves, and every local apply follows the publication, so i is at
 * most the commit the reader loads, hence at most its applied state. No
 * other master commits anything in this term, and while the lease lasts
 * no master leads a later term: the voters behind the quorum-th freshest
 * acknowledgement refuse votes for election_ticks of their own ticks after
 * hearing us, a message stamped with our tick T left no earlier than that
 * tick was due (T ticks after start), and the deadline is that plus
 * election_ticks - 2 ticks, one tick short of the core's own lease as a
 * margin for drift. A leadership transfer voids the lease in the core
 * before TIMEOUT_NOW is queued, so the deadline 0 is published before it
 * leaves. Lastly, the state read is committed (only committed entries are
 * applied) and taken during the read, so the read takes effect then. */
void node_lease_publish(struct node *n)
{
	struct raft_status st;
	raft_status(n->r, &st);
	uint64_t t = 0, until = 0;
	unsigned ticks = raft_lease_ticks(n->r);
	/* Our no-op is committed when the commit index is of our term. */
	if (st.role == RAFT_LEADER && ticks >= 2 &&
	    raft_term_at(n->r, st.commit, &t) == 0 && t == st.term)
		until = n->next_tick + (ticks - 2) * n->tick_us;
	/* Our no-op, and so everything an earlier leader acknowledged, is
	 * at or below the commit index of our first lease. */
	if (until && n->floor_term != st.term) {
		n->floor_term = st.term;
		atomic_store(&n->write_floor, st.commit);
	}
	/* Commit (and floor) first: a reader that sees the deadline sees
	 * this commit or a later one. */
	atomic_store(&n->read_commit, st.commit);
	atomic_store(&n->lease_until_us, until);
}

int node_lease_read(struct node *n, uint64_t *index)
{
	assert(n && index);
	/* The deadline first: the commit loaded after it is at least the one
	 * published with it (node_lease_publish stores in the other order). */
	if (clock_mono_us() >= atomic_load(&n->lease_until_us))
		return -EAGAIN;
	*index = atomic_load(&n->read_commit);
	atomic_fetch_add(&n->reads_lease, 1);
	return 0;
}

int node_lease_write(struct node *n, uint64_t *floor)
{
	assert(n && floor);
	if (clock_mono_us() >= atomic_load(&n->lease_until_us))
		return -EAGAIN;
	*floor = atomic_load(&n->write_floor);
	return 0;
}

/* A read that brought its read index (a lease read that found state/
 * behind) only waits for the apply. false: no memory, ask the leader. */
static bool wait_applied(struct node *n, struct node_read *rd)
{
	struct node_read_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return false;
	b->index = rd->index;
	b->head = rd;
	rd->next = NULL;
	b->next = n->ready;
	n->ready = b;
	return true;
}

void node_reads_queue(struct node *n, struct node_read *list)
{
	while (list) {
		struct node_read *rd = list;
		list = rd->next;
		if (rd->index && wait_applied(n, rd))
			continue;
		rd->next = n->waiting;
		n->waiting = rd;
	}
}

/* One raft_read_index for every read that has none yet; again for a batch
 * whose answer did not come (a leader lost in between). */
void node_reads_ask(struct node *n, uint64_t now)
{
	assert(!n->in_ready);
	struct node_read_batch **bp = &n->asked;
	while (*bp) {
		struct node_read_batch *b = *bp;
		if (now - b->asked_us < NODE_READ_RETRY_MS * 1000u && b->head) {
			bp = &b->next;
			continue;
		}
		*bp = b->next;
		struct node_read **tail = &b->head;
		while (*tail)
			tail = &(*tail)->next;
		*tail = n->waiting;
		n->waiting = b->head;
		free(b);
	}
	if (!n->waiting)
		return;
	struct node_read_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return;
	b->ctx = ++n->read_ctx;
	if (raft_read_index(n->r, b->ctx)) {
		free(b); /* no leader yet, or its no-op is not committed */
		return;
	}
	b->asked_us = now;
	b->head = n->waiting;
	n->waiting = NULL;
	b->next = n->asked;
	n->asked = b;
}

void node_reads_found(struct node *n, const struct raft_read_state *rs,
		      size_t nrs)
{
	assert(rs || !nrs);
	for (size_t i = 0; i < nrs; i++)
		for (struct node_read_batch **bp = &n->asked; *bp;
		     bp = &(*bp)->next) {
			struct node_read_batch *b = *bp;
			if (b->ctx != rs[i].ctx)
				continue;
			*bp = b->next;
			b->index = rs[i].index;
			b->next = n->ready;
			n->ready = b;
			break;
		}
}

void node_reads_release(struct node *n)
{
	struct node_read_batch **bp = &n->ready;
	while (*bp) {
		struct node_read_batch *b = *bp;
		if (b->index > n->applied) {
			bp = &b->next;
			continue;
		}
		*bp = b->next;
		while (b->head) {
			struct node_read *rd = b->head;
			b->head = rd->next;
			node_read_complete(n, rd, 0);
		}
		free(b);
	}
}

/* Reads past their deadline, from every list (each in arrival order per
 * batch). */
void node_reads_expire(struct node *n, uint64_t now)
{
	struct node_read **pp = &n->waiting;
	while (*pp) {
		struct node_read *rd = *pp;
		if (rd->deadline_us > now) {
			pp = &rd->next;
			continue;
		}
		*pp = rd->next;
		node_read_complete(n, rd,
				   n->info.leader ? -ETIMEDOUT : -ENOTCONN);
	}
	struct node_read_batch **lists[] = {&n->asked, &n->ready};
	for (size_t l = 0; l < 2; l++)
		for (struct node_read_batch *b = *lists[l]; b; b = b->next) {
			pp = &b->head;
			while (*pp) {
				struct node_read *rd = *pp;
				if (rd->deadline_us > now) {
					pp = &rd->next;
					continue;
				}
				*pp = rd->next;
				node_read_complete(n, rd, -ETIMEDOUT);
			}
		}
}

void node_reads_fail(struct node *n)
{
	while (n->waiting) {
		struct node_read *rd = n->waiting;
		n->waiting = rd->next;
		node_read_complete(n, rd, -ESHUTDOWN);
	}
	struct node_read_batch *lists[] = {n->asked, n->ready};
	for (size_t l = 0; l < 2; l++)
		while (lists[l]) {
			struct node_read_batch *b = lists[l];
			lists[l] = b->next;
			while (b->head) {
				struct node_read *rd = b->head;
				b->head = rd->next;
				node_read_complete(n, rd, -ESHUTDOWN);
			}
			free(b);
		}
	n->asked = n->ready = NULL;
}
