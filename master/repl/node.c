/* The driver thread: its loop, the inbox other threads fill, stepping
 * messages, and the Ready loop (master/repl/node.h, node_int.h). The
 * concerns it drives (propose.c, read.c, compact.c, members.c) never call
 * back into this file. */
#include "master/repl/node_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "master/repl/snapshot.h"

static void push_inbox(struct node *n, struct node_inbox *it)
{
	assert(n && it);
	it->next = NULL;
	pthread_mutex_lock(&n->mu);
	if (n->in_tail)
		n->in_tail->next = it;
	else
		n->in_head = it;
	n->in_tail = it;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

/* Transport callbacks (MHD and transport threads). */

static void on_msgs(void *arg, struct transport_batch *b,
		    struct transport_reply *reply)
{
	struct node *n = arg;
	struct node_inbox *it = calloc(1, sizeof(*it));
	pthread_mutex_lock(&n->mu);
	bool full = n->in_batches >= NODE_INBOX_MAX;
	n->in_batches += it && !full;
	pthread_mutex_unlock(&n->mu);
	if (!it || full) {
		free(it);
		transport_batch_free(b); /* lost, as on the network */
		if (reply)
			transport_reply(n->tp, reply);
		return;
	}
	*it = (struct node_inbox){
		.type = NODE_IN_MSGS, .batch = b, .reply = reply};
	push_inbox(n, it);
}

/* The core installs what it is given and a failed install stops the
 * master, so a peer's upload is checked before the core sees it. */
static int on_snapshot(void *arg, struct transport_batch *b, const char **why)
{
	struct node *n = arg;
	char path[4096];
	int rc = snap_incoming_path(n->dir, path, sizeof(path));
	if (!rc)
		rc = n->m.ops->check(n->m.arg, path, b->msgs[0].snap.index,
				     why);
	if (rc) {
		log_warn("raft: refused a snapshot from %" PRIu64 ": %s",
			 b->msgs[0].from, rc == -EINVAL ? *why : strerror(-rc));
		*why = rc == -EINVAL ? *why : "cannot check the snapshot";
		transport_batch_free(b);
		transport_snapshot_consumed(n->tp);
		return -EINVAL;
	}
	struct node_inbox *it = calloc(1, sizeof(*it));
	if (!it) {
		transport_batch_free(b);
		transport_snapshot_consumed(n->tp);
		return 0; /* lost, as on the network */
	}
	*it = (struct node_inbox){.type = NODE_IN_SNAPSHOT, .batch = b};
	push_inbox(n, it);
	return 0;
}

static void snapshot_done(void *arg, uint64_t to, bool ok)
{
	struct node *n = arg;
	struct node_inbox *it = calloc(1, sizeof(*it));
	if (!it)
		return; /* the core retries once the follower asks again */
	*it = (struct node_inbox){
		.type = NODE_IN_SNAP_DONE, .id = to, .ok = ok};
	push_inbox(n, it);
}

struct transport_callbacks node_callbacks(struct node *n)
{
	return (struct transport_callbacks){n, on_msgs, on_snapshot,
					    snapshot_done};
}

/* A graceful stop: the driver hands leadership over (members.c) while
 * this thread waits for it, asking again every 500 ms. */
int node_step_down(struct node *n, unsigned wait_ms)
{
	assert(n);
	for (unsigned waited = 0;; waited += 20) {
		struct node_info in;
		node_info(n, &in);
		if (in.role != RAFT_LEADER)
			return 0;
		if (waited >= wait_ms)
			return -ETIMEDOUT;
		if (waited % 500 == 0) {
			struct node_inbox *it = calloc(1, sizeof(*it));
			if (it) {
				it->type = NODE_IN_STEP_DOWN;
				push_inbox(n, it);
			}
		}
		struct timespec d = {0, 20 * 1000000};
		nanosleep(&d, NULL);
	}
}

/* Stepping messages. */

/* The match the status page and a graceful hand-over read: an
 * acknowledgement counts up to our own last entry at most, as the core
 * clamps it too (to what it sent), so a peer cannot claim to be the most
 * up-to-date successor with entries that do not exist. */
static void note_match(struct node *n, const struct raft_msg *m)
{
	if (m->type != RAFT_MSG_APPEND_RESP || m->reject)
		return;
	struct raft_status st;
	raft_status(n->r, &st);
	uint64_t index = m->index < st.last_index ? m->index : st.last_index;
	int i = raft_conf_find(&n->conf, m->from);
	if (i >= 0 && index > n->match[i])
		n->match[i] = index;
}

static void step_batch(struct node *n, const struct transport_batch *b)
{
	assert(!n->in_ready);
	for (size_t i = 0; i < b->n; i++) {
		pthread_mutex_lock(&n->mu);
		note_match(n, &b->msgs[i]);
		pthread_mutex_unlock(&n->mu);
		raft_step(n->r, &b->msgs[i]);
	}
}

/* The Ready loop, exactly as raft.h requires. */

/* A leader's APPENDs and HEARTBEATs may leave before its own log write is
 * synced (Raft thesis 10.2.1), so the leader's fsync and the followers'
 * overlap: they promise nothing about our disk. Our entries count towards
 * the commit only through acknowledgements, which this thread steps after
 * raftlog_save returned, so a commit still needs a majority of synced
 * logs. For the same reason a READ_INDEX_RESP, which carries the commit
 * index, may leave early. The term they carry must be durable already, or
 * a restarted leader could lead the same term again with other entries:
 * hence the test against the last term saved. Everything else (votes,
 * append acknowledgements, snapshots) waits for the sync. */
static bool send_early(const struct node *n, const struct raft_ready *rd,
		       const struct raft_msg *m)
{
	return rd->role == RAFT_LEADER && !rd->snapshot &&
	       m->term == n->saved_term &&
	       (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
		m->type == RAFT_MSG_READ_INDEX_RESP);
}

/* Whether nothing in the Ready waits for the sync: then the POSTs whose
 * batches produced it may be answered before it, and a follower's read
 * or its next entries do not wait for our disk. */
static bool none_late(const struct node *n, const struct raft_ready *rd)
{
	for (size_t i = 0; i < rd->n_msgs; i++)
		if (!send_early(n, rd, &rd->msgs[i]))
			return false;
	return true;
}

static void send_all(struct node *n, const struct raft_ready *rd, bool early)
{
	for (size_t i = 0; i < rd->n_msgs; i++) {
		const struct raft_msg *m = &rd->msgs[i];
		if (send_early(n, rd, m) != early)
			continue;
		if (m->type == RAFT_MSG_SNAPSHOT)
			transport_send_snapshot(n->tp, m, n->snap_file);
		else
			transport_send(n->tp, m);
	}
}

/* What stepping the batches produced is queued: their POSTs may answer
 * now, carrying it back. */
static void answer_senders(struct node *n)
{
	while (n->stepped) {
		struct node_inbox *it = n->stepped;
		n->stepped = it->next;
		transport_reply(n->tp, it->reply);
		free(it);
	}
}

void node_handle_ready(struct node *n)
{
	/* Not re-entered: nothing called from here hands work back. */
	assert(!n->in_ready);
	while (raft_has_ready(n->r)) {
		struct raft_ready rd;
		raft_ready(n->r, &rd);
		n->in_ready = true;
		if (rd.snapshot)
			node_compact_install(n, rd.snapshot);
		node_lease_publish(n);
		send_all(n, &rd, true);
		if (none_late(n, &rd))
			answer_senders(n);
		/* The committed entries are in our stable log already: the
		 * writes and reads waiting for them need not also wait for
		 * the new entries' sync. */
		if (rd.n_committed)
			node_props_apply(n, rd.committed, rd.n_committed);
		node_reads_found(n, rd.reads, rd.n_reads);
		node_reads_release(n);
		int rc = raftlog_save(n->rl, rd.snapshot, rd.entries,
				      rd.n_entries,
				      rd.hs_changed ? &rd.hs : NULL);
		if (rc) {
			/* Nothing may be sent that promises unsynced state. */
			log_error("raft: persisting failed: %s", strerror(-rc));
			abort();
		}
		if (rd.hs_changed)
			n->saved_term = rd.hs.term;
		atomic_fetch_add(&n->entries_saved, rd.n_entries);
		send_all(n, &rd, false);
		answer_senders(n);
		assert(n->in_ready);
		n->in_ready = false;
		raft_advance(n->r, &rd);
	}
	answer_senders(n);
	node_reads_release(n);
}

/* Publishing what other threads may read. */

/* Gives the transport each member's address from c, the committed
 * configuration (raft_conf): members' addresses come from there and the
 * -peers flag only. A member without one (a configuration from before
 * addresses) keeps the flag's. */
static void conf_addresses(struct node *n, const struct raft_conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		char now[TRANSPORT_URL_MAX];
		if (!c->addr[i][0] || (transport_peer_url(n->tp, c->ids[i], now,
							  sizeof(now)) == 0 &&
				       strcmp(now, c->addr[i]) == 0))
			continue;
		if (transport_set_peer(n->tp, c->ids[i], c->addr[i]))
			log_warn("raft: member %" PRIu64
				 " has an address we cannot use: %s",
				 c->ids[i], c->addr[i]);
	}
}

void node_publish(struct node *n)
{
	node_lease_publish(n); /* acknowledgements may have extended it */
	struct raft_status st;
	raft_status(n->r, &st);
	if (st.leader != n->last_leader) {
		if (st.leader)
			log_info("raft: term %" PRIu64 " leader %" PRIu64,
				 st.term, st.leader);
		atomic_fetch_add(&n->leader_changes, st.leader != 0);
		n->last_leader = st.leader;
	}
	const struct raft_conf *c = raft_conf(n->r);
	size_t voters = 0;
	for (size_t i = 0; i < c->n; i++)
		voters += !c->learner[i];
	pthread_mutex_lock(&n->mu);
	bool conf_changed = memcmp(&n->conf, c, sizeof(*c)) != 0;
	if (conf_changed) {
		uint64_t m[RAFT_MAX_NODES] = {0};
		for (size_t i = 0; i < c->n; i++) {
			int k = raft_conf_find(&n->conf, c->ids[i]);
			m[i] = k >= 0 ? n->match[k] : 0;
		}
		memcpy(n->match, m, sizeof(m));
		n->conf = *c;
	}
	int self = raft_conf_find(c, n->o.id);
	if (self >= 0)
		n->match[self] = st.last_index;
	n->info = (struct node_info){.role = st.role,
				     .id = n->o.id,
				     .term = st.term,
				     .leader = st.leader,
				     .commit = st.commit,
				     .applied = n->applied,
				     .snapshot_index = n->snap_index,
				     .single = voters == 1 && self >= 0};
	pthread_mutex_unlock(&n->mu);
	if (conf_changed)
		conf_addresses(n, c);
}

/* Remembers peer addresses learned at runtime across restarts. */
static void save_peers(struct node *n)
{
	char now[NODE_PEERS_MAX];
	if (transport_peers(n->tp, now, sizeof(now)) ||
	    strcmp(now, n->peers_saved) == 0)
		return;
	if (raftlog_set_peers(n->rl, now) == 0)
		strcpy(n->peers_saved, now);
}

/* The driver thread. */

static void take_work(struct node *n, struct node_inbox **in,
		      struct node_proposal **props, struct node_read **reads,
		      struct node_member_job **jobs, bool *stopping)
{
	*in = n->in_head;
	n->in_batches = 0;
	*props = n->prop_head;
	*reads = n->read_head;
	*jobs = n->jobs_in;
	*stopping = n->stopping;
	n->in_head = n->in_tail = NULL;
	n->prop_head = n->prop_tail = NULL;
	n->read_head = n->read_tail = NULL;
	n->jobs_in = NULL;
}

static void process_inbox(struct node *n, struct node_inbox *in)
{
	while (in) {
		struct node_inbox *it = in;
		in = it->next;
		switch (it->type) {
		case NODE_IN_MSGS:
			step_batch(n, it->batch);
			if (it->reply) {
				transport_batch_free(it->batch);
				it->batch = NULL;
				it->next = n->stepped;
				n->stepped = it;
				continue;
			}
			break;
		case NODE_IN_SNAPSHOT:
			/* The transport hands a snapshot as one message. */
			assert(it->batch->n == 1);
			step_batch(n, it->batch);
			/* The Ready that installs it reads the file: handle
			 * it before releasing. */
			node_handle_ready(n);
			transport_snapshot_consumed(n->tp);
			break;
		case NODE_IN_SNAP_DONE:
			assert(!n->in_ready);
			raft_report_snapshot(n->r, it->id, it->ok);
			break;
		case NODE_IN_STEP_DOWN:
			node_members_transfer(n);
			break;
		}
		transport_batch_free(it->batch);
		free(it);
	}
}

/* Everything still held fails with -ESHUTDOWN. */
static void fail_all(struct node *n)
{
	node_props_fail(n);
	node_reads_fail(n);
	node_members_fail(n);
}

void *node_run(void *arg)
{
	pthread_setname_np(pthread_self(), "raft-driver");
	struct node *n = arg;
	for (;;) {
		struct node_inbox *in;
		struct node_proposal *props;
		struct node_read *reads;
		struct node_member_job *jobs;
		bool stopping;
		pthread_mutex_lock(&n->mu);
		while (!n->in_head && !n->prop_head && !n->read_head &&
		       !n->jobs_in && !n->snap_written && !n->stopping) {
			uint64_t now = clock_mono_us();
			if (now >= n->next_tick)
				break;
			uint64_t wake = n->next_tick;
			struct timespec ts = {(time_t)(wake / 1000000u),
					      (long)(wake % 1000000u) * 1000};
			pthread_cond_timedwait(&n->cv, &n->mu, &ts);
		}
		take_work(n, &in, &props, &reads, &jobs, &stopping);
		pthread_mutex_unlock(&n->mu);
		if (stopping) {
			process_inbox(n, in);
			answer_senders(n);
			node_props_propose(n, props, clock_mono_us());
			while (reads) {
				struct node_read *rd = reads;
				reads = rd->next;
				node_read_complete(n, rd, -ESHUTDOWN);
			}
			node_members_refuse(jobs);
			break;
		}
		uint64_t now = clock_mono_us();
		for (; now >= n->next_tick; n->next_tick += n->tick_us)
			raft_tick(n->r);
		process_inbox(n, in);
		node_props_propose(n, props, now);
		node_reads_queue(n, reads);
		node_members_queue(n, jobs);
		node_reads_ask(n, now);
		node_members_run(n, now);
		node_handle_ready(n);
		node_props_expire(n, now);
		node_reads_expire(n, now);
		node_compact_poll(n, now);
		node_publish(n);
		save_peers(n);
	}
	fail_all(n);
	return NULL;
}
