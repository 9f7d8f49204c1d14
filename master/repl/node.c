#include "master/repl/node.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/httpc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "master/repl/members.h"
#include "master/repl/raftlog.h"
#include "master/repl/snapshot.h"
#include "master/repl/transport.h"
#include "raft/raft_codec.h"

#define QUEUE_MAX     4096 /* messages queued per peer */
#define READ_RETRY_MS 300  /* re-ask for a read index lost with a leader */
#define SNAP_RETRY_MS 1000 /* after a snapshot that could not be written */
#define PEERS_MAX     (2 * RAFT_MAX_NODES * (TRANSPORT_URL_MAX + 24))

/* Work handed to the driver thread by other threads. */
enum in_type { IN_MSGS = 1, IN_SNAPSHOT, IN_SNAP_DONE, IN_STEP_DOWN };

struct inbox {
	enum in_type type;
	uint8_t *buf; /* IN_MSGS: a batch; IN_SNAPSHOT: the message */
	size_t len;
	struct transport_reply *reply; /* IN_MSGS: its sender waits */
	uint64_t id;		       /* IN_SNAP_DONE */
	bool ok;
	struct inbox *next;
};

struct pending {
	struct commit_req *r;
	uint64_t index, term, deadline_us;
};

/* Reads waiting for one read index. */
struct batch {
	uint64_t ctx, index, asked_us;
	struct node_read *head;
	struct batch *next;
};

struct member_job {
	enum node_member_op op;
	uint64_t id;
	void (*done)(void *arg, int result);
	void *arg;
	uint64_t wait_index; /* a proposed change, until applied */
	bool promoted;
	uint64_t deadline_us;
	struct member_job *next;
};

struct node {
	struct node_options o;
	char dir[4096], snap_file[4096];
	struct idx *ix;
	struct raftlog *rl;
	struct transport *tp;
	/* Batches stepped whose senders wait for our reply (see
	 * answer_senders), linked through next. */
	struct inbox *stepped;
	struct raft *r;
	pthread_t thread, joiner;
	bool joining;

	/* Shared with other threads, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	bool snap_written, snap_ok; /* by the snapshot thread, when done */
	struct inbox *in_head, *in_tail;
	struct commit_req *prop_head, *prop_tail;
	struct node_read *read_head, *read_tail;
	struct member_job *jobs_in;
	struct node_info info;
	uint64_t match[RAFT_MAX_NODES];
	struct raft_conf conf;

	/* Driver thread only. */
	struct pending *pend;
	size_t npend, cap_pend;
	struct node_read *waiting; /* reads without a read index yet */
	struct batch *asked;	   /* read index requested */
	struct batch *ready;	   /* read index known, waiting for apply */
	uint64_t read_ctx;
	struct member_job *job;
	uint64_t applied, snap_index;
	/* Snapshots (see maybe_compact): whether one is being written off
	 * this thread, the applied index when it began (snap_at), the count
	 * of snapshots installed then and now, and when a failed one may be
	 * tried again. */
	pthread_t snapper;
	atomic_bool snapping; /* read by /_/status and /_/metrics too */
	uint64_t snap_at, snap_installs, installs, snap_retry_us;
	uint64_t saved_term; /* the term in the synced hard state */
	uint64_t last_leader;
	uint64_t tick_us, next_tick; /* when raft_tick is due next */

	/* Lease reads (node_lease_read), written by the driver only. */
	atomic_uint_fast64_t read_commit, lease_until_us;
	/* node_lease_write: the commit index when this term's first lease
	 * was published, and that term (driver only). */
	atomic_uint_fast64_t write_floor;
	uint64_t floor_term;
	char peers_saved[PEERS_MAX];

	atomic_uint_fast64_t cmds, entries_saved, proposals, proposals_failed,
		reads, reads_lease, reads_failed, leader_changes,
		snapshots_taken, snapshots_installed;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void push_inbox(struct node *n, struct inbox *it)
{
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

static void on_msgs(void *arg, uint8_t *body, size_t len,
		    struct transport_reply *reply)
{
	struct node *n = arg;
	struct inbox *it = calloc(1, sizeof(*it));
	if (!it) {
		free(body); /* lost, as on the network */
		if (reply)
			transport_reply(n->tp, reply);
		return;
	}
	*it = (struct inbox){
		.type = IN_MSGS, .buf = body, .len = len, .reply = reply};
	push_inbox(n, it);
}

static void on_snapshot(void *arg, uint8_t *msg, size_t len)
{
	struct node *n = arg;
	struct inbox *it = calloc(1, sizeof(*it));
	if (!it) {
		free(msg);
		transport_snapshot_consumed(n->tp);
		return;
	}
	*it = (struct inbox){.type = IN_SNAPSHOT, .buf = msg, .len = len};
	push_inbox(n, it);
}

static void snapshot_done(void *arg, uint64_t to, bool ok)
{
	struct node *n = arg;
	struct inbox *it = calloc(1, sizeof(*it));
	if (!it)
		return; /* the core retries once the follower asks again */
	*it = (struct inbox){.type = IN_SNAP_DONE, .id = to, .ok = ok};
	push_inbox(n, it);
}

/* Stepping messages. */

static void note_match(struct node *n, const struct raft_msg *m)
{
	if (m->type != RAFT_MSG_APPEND_RESP || m->reject)
		return;
	int i = raft_conf_find(&n->conf, m->from);
	if (i >= 0 && m->index > n->match[i])
		n->match[i] = m->index;
}

static void step_batch(struct node *n, const uint8_t *b, size_t len)
{
	for (size_t off = 0; off + 4 <= len;) {
		size_t l = (size_t)b[off] | (size_t)b[off + 1] << 8 |
			   (size_t)b[off + 2] << 16 | (size_t)b[off + 3] << 24;
		off += 4;
		struct raft_msg m;
		if (l > len - off || raft_msg_decode(b + off, l, &m))
			return; /* transport validated it; cannot happen */
		pthread_mutex_lock(&n->mu);
		note_match(n, &m);
		pthread_mutex_unlock(&n->mu);
		raft_step(n->r, &m);
		raft_msg_release(&m);
		off += l;
	}
}

/* Completing proposals and reads. */

static void complete(struct commit_req *r, int result)
{
	r->result = result;
	r->done(r);
}

static void read_done(struct node *n, struct node_read *rd, int result)
{
	if (result)
		atomic_fetch_add(&n->reads_failed, 1);
	rd->result = result;
	rd->done(rd);
}

/* The committed entry at index (term) decided the oldest proposals. */
static void settle(struct node *n, uint64_t index, uint64_t term, int result)
{
	size_t k = 0;
	for (; k < n->npend && n->pend[k].index <= index; k++) {
		struct pending *p = &n->pend[k];
		bool mine = p->index == index && p->term == term;
		if (!mine)
			atomic_fetch_add(&n->proposals_failed, 1);
		complete(p->r, mine ? result : -ECANCELED);
	}
	if (!k)
		return;
	memmove(n->pend, n->pend + k, (n->npend - k) * sizeof(*n->pend));
	n->npend -= k;
}

static void expire(struct node *n, uint64_t now)
{
	size_t k = 0;
	while (k < n->npend && n->pend[k].deadline_us <= now)
		complete(n->pend[k++].r, -ETIMEDOUT);
	if (k) {
		atomic_fetch_add(&n->proposals_failed, k);
		memmove(n->pend, n->pend + k,
			(n->npend - k) * sizeof(*n->pend));
		n->npend -= k;
	}
	/* Reads: every list is in arrival order per batch. */
	struct node_read **pp = &n->waiting;
	while (*pp) {
		struct node_read *rd = *pp;
		if (rd->deadline_us > now) {
			pp = &rd->next;
			continue;
		}
		*pp = rd->next;
		read_done(n, rd, n->info.leader ? -ETIMEDOUT : -ENOTCONN);
	}
	struct batch **lists[] = {&n->asked, &n->ready};
	for (size_t l = 0; l < 2; l++)
		for (struct batch *b = *lists[l]; b; b = b->next) {
			pp = &b->head;
			while (*pp) {
				struct node_read *rd = *pp;
				if (rd->deadline_us > now) {
					pp = &rd->next;
					continue;
				}
				*pp = rd->next;
				read_done(n, rd, -ETIMEDOUT);
			}
		}
}

static void release_reads(struct node *n)
{
	struct batch **bp = &n->ready;
	while (*bp) {
		struct batch *b = *bp;
		if (b->index > n->applied) {
			bp = &b->next;
			continue;
		}
		*bp = b->next;
		while (b->head) {
			struct node_read *rd = b->head;
			b->head = rd->next;
			read_done(n, rd, 0);
		}
		free(b);
	}
}

/* A read that brought its read index (a lease read that found state/
 * behind) only waits for the apply. false: no memory, ask the leader. */
static bool wait_applied(struct node *n, struct node_read *rd)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b)
		return false;
	b->index = rd->index;
	b->head = rd;
	rd->next = NULL;
	b->next = n->ready;
	n->ready = b;
	return true;
}

/* One raft_read_index for every read that has none yet; again for a batch
 * whose answer did not come (a leader lost in between). */
static void ask_reads(struct node *n, uint64_t now)
{
	struct batch **bp = &n->asked;
	while (*bp) {
		struct batch *b = *bp;
		if (now - b->asked_us < READ_RETRY_MS * 1000u && b->head) {
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
	struct batch *b = calloc(1, sizeof(*b));
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

static void read_states(struct node *n, const struct raft_read_state *rs,
			size_t nrs)
{
	for (size_t i = 0; i < nrs; i++)
		for (struct batch **bp = &n->asked; *bp; bp = &(*bp)->next) {
			struct batch *b = *bp;
			if (b->ctx != rs[i].ctx)
				continue;
			*bp = b->next;
			b->index = rs[i].index;
			b->next = n->ready;
			n->ready = b;
			break;
		}
}

/* Applying. */

static void apply(struct node *n, const struct raft_entry *e, size_t count)
{
	struct idx_entry *ie = malloc(count * sizeof(*ie));
	int *res = malloc(count * sizeof(*res));
	if (!ie || !res) {
		log_error("raft: out of memory applying %zu entries", count);
		abort(); /* cannot skip committed entries; restart replays */
	}
	bool volumes = false;
	static const uint8_t none = 0;
	for (size_t i = 0; i < count; i++) {
		bool normal = e[i].type == RAFT_ENTRY_NORMAL;
		/* No-ops and configurations move the applied index too,
		 * as commands that do not decode (a result nobody reads). */
		ie[i] = (struct idx_entry){.index = e[i].index,
					   .term = e[i].term,
					   .cmd = normal ? e[i].data : &none,
					   .len = normal ? e[i].len : 0};
		struct cmd c;
		if (normal && e[i].index > n->applied &&
		    cmd_decode(e[i].data, e[i].len, &c) == 0)
			volumes |=
				c.type == CMD_VOLUMES || c.type == CMD_VOLUME;
	}
	int rc = idx_apply(n->ix, ie, count, res);
	if (rc) {
		/* The log says these are committed; a replica that cannot
		 * apply them must not serve: stop, restart replays. */
		log_error("raft: applying entries %" PRIu64 "..%" PRIu64
			  " failed: %s",
			  e[0].index, e[count - 1].index, strerror(-rc));
		abort();
	}
	for (size_t i = 0; i < count; i++)
		if (e[i].index > n->applied) {
			settle(n, e[i].index, e[i].term, res[i]);
			n->applied = e[i].index;
			atomic_fetch_add(&n->cmds,
					 e[i].type == RAFT_ENTRY_NORMAL);
		}
	free(ie);
	free(res);
	if (volumes && n->o.on_volumes)
		n->o.on_volumes(n->o.arg);
}

/* The Ready loop, exactly as raft.h requires. */

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
static void publish_lease(struct node *n)
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
		struct inbox *it = n->stepped;
		n->stepped = it->next;
		transport_reply(n->tp, it->reply);
		free(it);
	}
}

static void handle_ready(struct node *n)
{
	while (raft_has_ready(n->r)) {
		struct raft_ready rd;
		raft_ready(n->r, &rd);
		if (rd.snapshot) {
			if (snap_install(n->ix, n->dir)) {
				log_error("raft: cannot install the snapshot "
					  "at %" PRIu64,
					  rd.snapshot->index);
				abort(); /* the old state is intact on disk */
			}
			n->applied = rd.snapshot->index;
			n->snap_index = rd.snapshot->index;
			n->installs++;
			atomic_fetch_add(&n->snapshots_installed, 1);
			if (n->o.on_volumes)
				n->o.on_volumes(n->o.arg);
		}
		publish_lease(n);
		send_all(n, &rd, true);
		if (none_late(n, &rd))
			answer_senders(n);
		/* The committed entries are in our stable log already: the
		 * writes and reads waiting for them need not also wait for
		 * the new entries' sync. */
		if (rd.n_committed)
			apply(n, rd.committed, rd.n_committed);
		read_states(n, rd.reads, rd.n_reads);
		release_reads(n);
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
		raft_advance(n->r, &rd);
	}
	answer_senders(n);
	release_reads(n);
}

/* Compaction.
 *
 * Copying state/ takes as long as reading the whole index, which grows
 * with it (a million keys: 160 MB), while a driver that stops ticking for
 * an election timeout costs the cluster its leader and every write waits
 * behind it. So the copy is written on a thread of its own, and the
 * driver only publishes it and drops the log prefix once it is synced.
 * The copy holds at least what was applied when it began (snap_at), so
 * the log is compacted to snap_at; a snapshot installed meanwhile
 * supersedes it. */

static void *write_snapshot(void *arg)
{
	pthread_setname_np(pthread_self(), "raft-snapshot");
	struct node *n = arg;
	bool ok = snap_write(n->ix, n->dir) == 0;
	pthread_mutex_lock(&n->mu);
	n->snap_ok = ok;
	n->snap_written = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

static void snapshot_written(struct node *n, uint64_t now)
{
	pthread_join(n->snapper, NULL);
	atomic_store(&n->snapping, false);
	if (!n->snap_ok || n->installs != n->snap_installs) {
		snap_abandon(n->dir);
		if (!n->snap_ok)
			n->snap_retry_us = now + SNAP_RETRY_MS * 1000u;
		return;
	}
	/* The log may forget what the synced snapshot holds: state/ itself
	 * is not synced, and after a crash of the machine it restarts from
	 * the snapshot (snap_state_recover). */
	if (snap_publish(n->dir)) {
		snap_abandon(n->dir);
		n->snap_retry_us = now + SNAP_RETRY_MS * 1000u;
		return;
	}
	int rc = raft_compact(n->r, n->snap_at);
	if (rc) {
		log_warn("raft: compacting at %" PRIu64 ": %s", n->snap_at,
			 strerror(-rc));
		return;
	}
	if (raftlog_compact(n->rl, raft_snapshot_meta(n->r)) == 0) {
		n->snap_index = n->snap_at;
		atomic_fetch_add(&n->snapshots_taken, 1);
	}
}

static void maybe_compact(struct node *n, uint64_t now)
{
	if (atomic_load(&n->snapping)) {
		pthread_mutex_lock(&n->mu);
		bool written = n->snap_written;
		n->snap_written = false;
		pthread_mutex_unlock(&n->mu);
		if (written)
			snapshot_written(n, now);
		return;
	}
	if (n->applied < n->snap_index + n->o.snapshot_entries ||
	    now < n->snap_retry_us)
		return;
	/* After a restart state/ may be ahead of the commit the core
	 * learned so far; it compacts only entries it handed out. */
	struct raft_status st;
	raft_status(n->r, &st);
	if (st.applied < n->applied)
		return;
	n->snap_at = n->applied;
	n->snap_installs = n->installs;
	int rc = pthread_create(&n->snapper, NULL, write_snapshot, n);
	if (rc) {
		log_warn("raft: no thread for a snapshot: %s", strerror(rc));
		n->snap_retry_us = now + SNAP_RETRY_MS * 1000u;
		return;
	}
	atomic_store(&n->snapping, true);
}

/* Membership jobs, one at a time, driven every loop. */

static void job_end(struct node *n, int result)
{
	struct member_job *j = n->job;
	n->job = NULL;
	j->done(j->arg, result);
	free(j);
}

static void run_job(struct node *n, uint64_t now)
{
	struct member_job *j = n->job;
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
	int rc = raft_propose_conf(n->r, op, j->id, &index);
	if (rc == -EBUSY || rc == -EAGAIN)
		return; /* catching up, or another change: next round */
	if (rc) {
		job_end(n, rc == -EPERM ? -ENOTCONN : rc);
		return;
	}
	j->wait_index = index;
	j->promoted = op == RAFT_CONF_PROMOTE;
}

/* Handing leadership over on a graceful stop. */

static void step_down(struct node *n)
{
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

/* Publishing what other threads may read. */

static void publish(struct node *n)
{
	publish_lease(n); /* acknowledgements may have extended it */
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
	if (memcmp(&n->conf, c, sizeof(*c)) != 0) {
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
}

/* Remembers peer addresses learned at runtime across restarts. */
static void save_peers(struct node *n)
{
	char now[PEERS_MAX];
	if (transport_peers(n->tp, now, sizeof(now)) ||
	    strcmp(now, n->peers_saved) == 0)
		return;
	if (raftlog_set_peers(n->rl, now) == 0)
		strcpy(n->peers_saved, now);
}

/* The driver thread. */

static void take_work(struct node *n, struct inbox **in,
		      struct commit_req **props, struct node_read **reads,
		      struct member_job **jobs, bool *stopping)
{
	*in = n->in_head;
	*props = n->prop_head;
	*reads = n->read_head;
	*jobs = n->jobs_in;
	*stopping = n->stopping;
	n->in_head = n->in_tail = NULL;
	n->prop_head = n->prop_tail = NULL;
	n->read_head = n->read_tail = NULL;
	n->jobs_in = NULL;
}

static void process_inbox(struct node *n, struct inbox *in)
{
	while (in) {
		struct inbox *it = in;
		in = it->next;
		struct raft_msg m;
		switch (it->type) {
		case IN_MSGS:
			step_batch(n, it->buf, it->len);
			if (it->reply) {
				free(it->buf);
				it->next = n->stepped;
				n->stepped = it;
				continue;
			}
			break;
		case IN_SNAPSHOT:
			if (raft_msg_decode(it->buf, it->len, &m) == 0) {
				raft_step(n->r, &m);
				raft_msg_release(&m);
				/* The Ready that installs it reads the
				 * file: handle it before releasing. */
				handle_ready(n);
			}
			transport_snapshot_consumed(n->tp);
			break;
		case IN_SNAP_DONE:
			raft_report_snapshot(n->r, it->id, it->ok);
			break;
		case IN_STEP_DOWN:
			step_down(n);
			break;
		}
		free(it->buf);
		free(it);
	}
}

static void propose_all(struct node *n, struct commit_req *props, uint64_t now)
{
	struct raft_status st;
	raft_status(n->r, &st);
	while (props) {
		struct commit_req *r = props;
		props = r->next;
		atomic_fetch_add(&n->proposals, 1);
		uint64_t index;
		int rc = raft_propose(n->r, r->cmd, r->len, &index);
		if (rc == 0 && n->npend == n->cap_pend) {
			size_t cap = n->cap_pend ? 2 * n->cap_pend : 256;
			void *p = realloc(n->pend, cap * sizeof(*n->pend));
			if (p) {
				n->pend = p;
				n->cap_pend = cap;
			}
		}
		if (rc == 0 && n->npend < n->cap_pend) {
			n->pend[n->npend++] = (struct pending){
				r, index, st.term,
				now + (uint64_t)n->o.timeout_ms * 1000u};
			continue;
		}
		atomic_fetch_add(&n->proposals_failed, 1);
		/* -EBUSY: a transfer is under way; the client retries. */
		complete(r, rc == -EPERM || rc == -EBUSY ? -ENOTCONN
			    : rc			 ? rc
							 : -ENOMEM);
	}
}

static void fail_all(struct node *n)
{
	for (size_t i = 0; i < n->npend; i++)
		complete(n->pend[i].r, -ESHUTDOWN);
	n->npend = 0;
	while (n->waiting) {
		struct node_read *rd = n->waiting;
		n->waiting = rd->next;
		read_done(n, rd, -ESHUTDOWN);
	}
	struct batch *lists[] = {n->asked, n->ready};
	for (size_t l = 0; l < 2; l++)
		while (lists[l]) {
			struct batch *b = lists[l];
			lists[l] = b->next;
			while (b->head) {
				struct node_read *rd = b->head;
				b->head = rd->next;
				read_done(n, rd, -ESHUTDOWN);
			}
			free(b);
		}
	n->asked = n->ready = NULL;
	if (n->job)
		job_end(n, -ESHUTDOWN);
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "raft-driver");
	struct node *n = arg;
	for (;;) {
		struct inbox *in;
		struct commit_req *props;
		struct node_read *reads;
		struct member_job *jobs;
		bool stopping;
		pthread_mutex_lock(&n->mu);
		while (!n->in_head && !n->prop_head && !n->read_head &&
		       !n->jobs_in && !n->snap_written && !n->stopping) {
			uint64_t now = now_us();
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
			propose_all(n, props, now_us());
			while (reads) {
				struct node_read *rd = reads;
				reads = rd->next;
				read_done(n, rd, -ESHUTDOWN);
			}
			while (jobs) {
				struct member_job *j = jobs;
				jobs = j->next;
				j->done(j->arg, -ESHUTDOWN);
				free(j);
			}
			break;
		}
		uint64_t now = now_us();
		for (; now >= n->next_tick; n->next_tick += n->tick_us)
			raft_tick(n->r);
		process_inbox(n, in);
		propose_all(n, props, now);
		while (reads) {
			struct node_read *rd = reads;
			reads = rd->next;
			if (rd->index && wait_applied(n, rd))
				continue;
			rd->next = n->waiting;
			n->waiting = rd;
		}
		while (jobs) {
			struct member_job *j = jobs;
			jobs = j->next;
			if (n->job) {
				j->done(j->arg, -EBUSY);
				free(j);
				continue;
			}
			n->job = j;
		}
		ask_reads(n, now);
		if (n->job)
			run_job(n, now);
		handle_ready(n);
		expire(n, now);
		maybe_compact(n, now);
		publish(n);
		save_peers(n);
	}
	fail_all(n);
	return NULL;
}

/* Joining a running cluster: ask until a member adds us. Redirects are
 * followed (a follower answers 307 to its leader), the body re-sent. */
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
		long code = 0;
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
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

/* Parses -peers into the transport and a configuration. */
static int parse_peers(struct node *n, const char *peers,
		       struct raft_conf *conf)
{
	int rc = transport_merge_peers(n->tp, peers);
	if (rc < 0)
		return rc;
	memset(conf, 0, sizeof(*conf));
	for (const char *p = peers; *p;) {
		char *end;
		unsigned long long id = strtoull(p, &end, 10);
		if (conf->n == RAFT_MAX_NODES || !id)
			return -EINVAL;
		conf->ids[conf->n++] = id;
		const char *comma = strchr(end, ',');
		p = comma ? comma + 1 : end + strlen(end);
	}
	return raft_conf_find(conf, n->o.id) < 0 ? -EINVAL : 0;
}

static int restore(struct node *n)
{
	struct raftlog_state st;
	bool empty;
	int rc = raftlog_load(n->rl, &st, &empty);
	if (rc)
		return rc;
	struct idx_stats is;
	rc = idx_stats(n->ix, &is);
	if (rc) {
		raftlog_state_free(&st);
		return rc;
	}
	n->applied = is.applied;
	if (empty) {
		raftlog_state_free(&st);
		if (n->o.join)
			return 0; /* the leader will send us the log */
		if (is.applied)
			return -EEXIST; /* state/ from a master without -peers
					 */
		struct raft_conf conf;
		rc = parse_peers(n, n->o.peers, &conf);
		return rc ? rc : raft_bootstrap(n->r, &conf);
	}
	/* Entries up to the log's snapshot are gone from the log: state/
	 * must hold them already. */
	if (st.has_snap && is.applied < st.snap.index) {
		raftlog_state_free(&st);
		return -ESTALE;
	}
	n->snap_index = st.has_snap ? st.snap.index : 0;
	n->saved_term = st.hs.term;
	rc = raft_restore(n->r, &st.hs, st.has_snap ? &st.snap : NULL, st.ents,
			  st.n);
	raftlog_state_free(&st);
	return rc;
}

int node_start(const struct node_options *o, struct idx *ix, struct node **out)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->o = *o;
	n->ix = ix;
	snprintf(n->dir, sizeof(n->dir), "%s", o->dir);
	n->o.dir = n->dir;
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	char incoming[4096];
	int rc = snap_path(n->dir, n->snap_file, sizeof(n->snap_file));
	if (!rc)
		rc = snap_incoming_path(n->dir, incoming, sizeof(incoming));
	if (!rc)
		rc = raftlog_open(n->dir, &n->rl);
	struct transport_options to = {.id = o->id,
				       .timeout_ms = 1000,
				       .queue_max = QUEUE_MAX,
				       .incoming_path = incoming};
	struct transport_callbacks cb = {n, on_msgs, on_snapshot,
					 snapshot_done};
	if (!rc)
		rc = transport_start(&to, &cb, &n->tp);
	/* Addresses: the flag first, then what was learned before. */
	if (!rc && transport_merge_peers(n->tp, o->peers) < 0)
		rc = -EINVAL;
	if (!rc)
		rc = raftlog_get_peers(n->rl, n->peers_saved,
				       sizeof(n->peers_saved));
	if (!rc)
		transport_merge_peers(n->tp, n->peers_saved);
	struct raft_options ro = {.id = o->id,
				  .election_ticks = o->election_ticks,
				  .heartbeat_ticks = 2,
				  .max_inflight = 64,
				  .lease_reads = true,
				  .seed = o->id ^ now_us()};
	if (!rc)
		rc = raft_new(&ro, &n->r);
	if (!rc)
		rc = restore(n);
	n->tick_us = (uint64_t)o->tick_ms * 1000u;
	n->next_tick = now_us() + n->tick_us;
	/* From here on state/ commits are not synced: the log replays what
	 * a crash of the machine takes (master/repl/snapshot.h). */
	if (!rc)
		rc = snap_state_mark(n->dir);
	if (!rc)
		rc = idx_relax_sync(ix);
	if (!rc) {
		handle_ready(n); /* persists a bootstrap before anything */
		publish(n);
		rc = -pthread_create(&n->thread, NULL, run, n);
	}
	if (!rc && o->join && !n->info.term) {
		n->joining = pthread_create(&n->joiner, NULL, join, n) == 0;
	}
	if (rc) {
		log_error("raft: starting node %" PRIu64 " in %s: %s", o->id,
			  o->dir,
			  rc == -EEXIST ? "state/ was written without -peers; "
					  "start from an empty -db"
			  : rc == -ESTALE ? "state/ is older than the log's "
					    "snapshot (raft/snapshot.mdb)"
					  : strerror(-rc));
		transport_stop(n->tp);
		if (n->r)
			raft_free(n->r);
		raftlog_close(n->rl);
		free(n);
		return rc;
	}
	*out = n;
	return 0;
}

void node_stop(struct node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (n->joining)
		pthread_join(n->joiner, NULL);
	pthread_join(n->thread, NULL);
	/* A snapshot being written is finished, not published: the next
	 * start takes another. */
	if (atomic_load(&n->snapping)) {
		pthread_join(n->snapper, NULL);
		snap_abandon(n->dir);
	}
	/* Nothing applies any more: state/ can be made durable, and then
	 * needs no restore whatever happens to the machine. */
	int rc = idx_sync(n->ix);
	if (rc)
		log_warn("raft: syncing state/: %s", strerror(-rc));
	else
		snap_state_clean(n->dir);
	while (n->in_head) {
		struct inbox *it = n->in_head;
		n->in_head = it->next;
		if (it->reply)
			transport_reply(n->tp, it->reply);
		free(it->buf);
		free(it);
	}
	transport_stop(n->tp);
	raft_free(n->r);
	raftlog_close(n->rl);
	free(n->pend);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	free(n);
}

void node_submit(struct node *n, struct commit_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&n->mu);
	if (n->stopping) {
		pthread_mutex_unlock(&n->mu);
		complete(r, -ESHUTDOWN);
		return;
	}
	if (n->prop_tail)
		n->prop_tail->next = r;
	else
		n->prop_head = r;
	n->prop_tail = r;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void node_read(struct node *n, struct node_read *rd)
{
	atomic_fetch_add(&n->reads, 1);
	rd->next = NULL;
	rd->deadline_us = now_us() + (uint64_t)n->o.timeout_ms * 1000u;
	pthread_mutex_lock(&n->mu);
	if (n->stopping) {
		pthread_mutex_unlock(&n->mu);
		read_done(n, rd, -ESHUTDOWN);
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

int node_lease_read(struct node *n, uint64_t *index)
{
	/* The deadline first: the commit loaded after it is at least the one
	 * published with it (publish_lease stores in the other order). */
	if (now_us() >= atomic_load(&n->lease_until_us))
		return -EAGAIN;
	*index = atomic_load(&n->read_commit);
	atomic_fetch_add(&n->reads_lease, 1);
	return 0;
}

int node_lease_write(struct node *n, uint64_t *floor)
{
	if (now_us() >= atomic_load(&n->lease_until_us))
		return -EAGAIN;
	*floor = atomic_load(&n->write_floor);
	return 0;
}

void node_info(struct node *n, struct node_info *out)
{
	pthread_mutex_lock(&n->mu);
	*out = n->info;
	pthread_mutex_unlock(&n->mu);
}

int node_leader_url(struct node *n, char *out, size_t cap)
{
	struct node_info in;
	node_info(n, &in);
	if (in.role == RAFT_LEADER)
		return -EAGAIN;
	if (!in.leader)
		return -ENOENT;
	return transport_peer_url(n->tp, in.leader, out, cap) ? -ENOENT : 0;
}

int node_step_down(struct node *n, unsigned wait_ms)
{
	for (unsigned waited = 0;; waited += 20) {
		struct node_info in;
		node_info(n, &in);
		if (in.role != RAFT_LEADER)
			return 0;
		if (waited >= wait_ms)
			return -ETIMEDOUT;
		if (waited % 500 == 0) {
			struct inbox *it = calloc(1, sizeof(*it));
			if (it) {
				it->type = IN_STEP_DOWN;
				push_inbox(n, it);
			}
		}
		struct timespec d = {0, 20 * 1000000};
		nanosleep(&d, NULL);
	}
}

void node_member_change(struct node *n, enum node_member_op op, uint64_t id,
			const char *url, void (*done)(void *arg, int result),
			void *arg)
{
	if (!id || (op == NODE_MEMBER_ADD &&
		    (!url || transport_set_peer(n->tp, id, url)))) {
		done(arg, -EINVAL);
		return;
	}
	struct member_job *j = calloc(1, sizeof(*j));
	if (!j) {
		done(arg, -ENOMEM);
		return;
	}
	*j = (struct member_job){
		.op = op,
		.id = id,
		.done = done,
		.arg = arg,
		.deadline_us = now_us() + 30u * 1000000u,
	};
	pthread_mutex_lock(&n->mu);
	j->next = n->jobs_in;
	n->jobs_in = j;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

static const char *role_name(enum raft_role r)
{
	switch (r) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_PRECANDIDATE:
		return "precandidate";
	default:
		return "follower";
	}
}

void node_status_json(struct node *n, struct buf *b)
{
	pthread_mutex_lock(&n->mu);
	struct node_info in = n->info;
	struct raft_conf conf = n->conf;
	uint64_t match[RAFT_MAX_NODES];
	memcpy(match, n->match, sizeof(match));
	pthread_mutex_unlock(&n->mu);
	buf_printf(b,
		   ",\"raft\":{\"id\":%" PRIu64
		   ",\"role\":\"%s\",\"term\":%" PRIu64 ",\"leader\":%" PRIu64
		   ",\"commit\":%" PRIu64 ",\"applied\":%" PRIu64
		   ",\"snapshot\":%" PRIu64 ",\"snapshotting\":%s"
		   ",\"peers\":[",
		   in.id, role_name(in.role), in.term, in.leader, in.commit,
		   in.applied, in.snapshot_index,
		   atomic_load(&n->snapping) ? "true" : "false");
	for (size_t i = 0; i < conf.n; i++) {
		char url[TRANSPORT_URL_MAX] = "";
		transport_peer_url(n->tp, conf.ids[i], url, sizeof(url));
		buf_printf(b,
			   "%s{\"id\":%" PRIu64 ",\"url\":\"%s\",\"voter\":%s"
			   ",\"match\":%" PRIu64 "}",
			   i ? "," : "", conf.ids[i], url,
			   conf.learner[i] ? "false" : "true", match[i]);
	}
	buf_append(b, "]}", 2);
}

void node_metrics(struct node *n, struct buf *b)
{
	struct node_info in;
	node_info(n, &in);
	struct transport_counts tc;
	transport_counts(n->tp, &tc);
	metrics_gauge(b, "cask_master_raft_term", "Current Raft term.",
		      (double)in.term);
	metrics_gauge(b, "cask_master_raft_leader", "1 when this master leads.",
		      in.role == RAFT_LEADER);
	metrics_gauge(b, "cask_master_raft_commit_index",
		      "Highest log index known committed.", (double)in.commit);
	metrics_gauge(b, "cask_master_raft_snapshot_index",
		      "Index of the last snapshot.", (double)in.snapshot_index);
	metrics_gauge(b, "cask_master_raft_snapshot_writing",
		      "1 while a snapshot is being written.",
		      atomic_load(&n->snapping));
	metrics_counter(b, "cask_master_raft_log_syncs_total",
			"Synced writes of the Raft log.", raftlog_syncs(n->rl));
	metrics_counter(b, "cask_master_raft_entries_persisted_total",
			"Log entries persisted (divide by syncs: entries per "
			"sync).",
			atomic_load(&n->entries_saved));
	metrics_counter(b, "cask_master_raft_proposals_total",
			"Commands proposed.", atomic_load(&n->proposals));
	metrics_counter(b, "cask_master_raft_proposals_failed_total",
			"Proposals refused, lost or timed out.",
			atomic_load(&n->proposals_failed));
	metrics_counter(b, "cask_master_raft_reads_total",
			"Linearizable read barriers.", atomic_load(&n->reads));
	metrics_counter(b, "cask_master_raft_lease_reads_total",
			"Reads the leader answered from its lease, without "
			"the driver thread.",
			atomic_load(&n->reads_lease));
	metrics_counter(b, "cask_master_raft_reads_failed_total",
			"Read barriers that got no read index in time.",
			atomic_load(&n->reads_failed));
	metrics_counter(b, "cask_master_raft_leader_changes_total",
			"Leaders seen.", atomic_load(&n->leader_changes));
	metrics_counter(b, "cask_master_raft_messages_sent_total",
			"Raft messages delivered to peers.", tc.sent);
	metrics_counter(b, "cask_master_raft_messages_received_total",
			"Raft messages received.", tc.received);
	metrics_counter(b, "cask_master_raft_messages_dropped_total",
			"Raft messages dropped (full queue, failed POST).",
			tc.dropped);
	metrics_counter(b, "cask_master_raft_posts_total",
			"Batched message POSTs sent.", tc.posts);
	metrics_counter(b, "cask_master_raft_answers_total",
			"POST answers that carried messages back.", tc.answers);
	metrics_counter(b, "cask_master_raft_snapshots_sent_total",
			"Snapshots streamed to followers.", tc.snapshots_sent);
	metrics_counter(b, "cask_master_raft_snapshots_installed_total",
			"Snapshots received and installed.",
			atomic_load(&n->snapshots_installed));
	metrics_counter(b, "cask_master_raft_snapshots_taken_total",
			"Log compactions.", atomic_load(&n->snapshots_taken));
}

void node_counts(struct node *n, uint64_t *cmds, uint64_t *syncs)
{
	*cmds = atomic_load(&n->cmds);
	*syncs = raftlog_syncs(n->rl);
}

struct http_state {
	bool members;
	void *inner;
};

enum MHD_Result node_http(struct node *n, struct MHD_Connection *c,
			  const char *url, const char *method,
			  const char *upload, size_t *upload_size, void **state)
{
	struct http_state *s = *state;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return MHD_NO;
		s->members = strcmp(url, "/_/raft/members") == 0;
		*state = s;
	}
	if (s->members)
		return members_http(n, c, method, upload, upload_size,
				    &s->inner);
	return transport_http(n->tp, c, url, method, upload, upload_size,
			      &s->inner);
}

void node_http_done(struct node *n, void *state)
{
	struct http_state *s = state;
	(void)n;
	if (!s)
		return;
	if (s->members)
		members_http_done(s->inner);
	else
		transport_http_done(s->inner);
	free(s);
}
