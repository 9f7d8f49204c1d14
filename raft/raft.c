/*
 * Raft core: elections (PreVote, CheckQuorum), replication with flow
 * control, snapshots, single-server membership changes, leadership
 * transfer and linearizable reads. See raft.h for the contract; the rule
 * numbers in comments refer to figure 2 of the Raft paper.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

/* UINT64_MAX is never a term or an index here (raft.h): term + 1 and
 * index + 1 stay in range whatever a peer sent. */
#define TERM_MAX  (UINT64_MAX - 1)
#define INDEX_MAX (UINT64_MAX - 1)

enum pr_state { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

/* What the leader knows about one peer (and, for votes, any role). */
struct progress {
	uint64_t id;
	uint64_t match;
	uint64_t next;
	uint64_t pending_snap;
	uint64_t lease_tick;  /* our clock when the last answered msg left */
	uint64_t read_ack;    /* highest read round acknowledged */
	uint64_t sent_commit; /* commit index our last APPEND carried */
	uint64_t sent_index;  /* highest index sent this term: acks stop here */
	uint64_t infl[RAFT_MAX_INFLIGHT]; /* last index of each APPEND */
	unsigned infl_head;
	unsigned infl_count;
	enum pr_state state;
	bool learner;
	bool paused; /* probe: one APPEND in flight, wait for its answer */
	bool active; /* answered during this CheckQuorum period */
	bool lease_ok;
	bool voted;
	bool granted;
};

struct pending_read {
	uint64_t ctx;
	uint64_t index;
	uint64_t round;
	uint64_t from;
};

struct raft {
	struct raft_options o;
	enum raft_role role;
	uint64_t term;
	uint64_t vote;
	uint64_t leader;
	uint64_t commit;
	uint64_t applied;

	/* ents[i].index == snap.index + 1 + i; entries above stable have not
	 * been handed to the caller for persistence yet. */
	struct raft_entry *ents;
	size_t n_ents;
	size_t cap_ents;
	struct raft_snap_meta snap;
	uint64_t stable;
	bool snap_pending;

	struct raft_conf conf; /* as of the commit index */
	struct progress prs[RAFT_MAX_NODES];
	size_t n_prs;

	unsigned election_elapsed;
	unsigned heartbeat_elapsed;
	unsigned heard_elapsed; /* since the leader last spoke to us */
	unsigned timeout;	/* randomized election timeout */
	uint64_t now;
	uint64_t rng;

	uint64_t term_start; /* index of the leader's no-op */
	/* Our log up to here is the leader's of this term, as its APPENDs
	 * proved: a follower may commit up to it whatever index the leader
	 * tells it is committed. */
	uint64_t leader_match;
	uint64_t pending_conf;
	uint64_t transferee;
	bool lease_void; /* we sent TIMEOUT_NOW: others may win early */

	uint64_t read_round;
	struct pending_read *preads;
	size_t n_preads;
	size_t cap_preads;
	struct raft_read_state *reads;
	size_t n_reads;
	size_t cap_reads;

	/* Queued messages; APPEND entries are attached in raft_ready(), since
	 * the log may move in memory before then. */
	struct raft_msg *out;
	size_t n_out;
	size_t cap_out;
	struct raft_msg *ready_msgs;
	size_t cap_ready_msgs;
	/* Proposals or a commit advance since the last raft_ready(): the
	 * leader's APPENDs for all of them are built there (flush_appends),
	 * one per follower and batch rather than one per proposal and ack. */
	bool appends_due;

	struct raft_hard_state saved;
};

/* Grow *arr to hold n + 1 elements of size sz. */
static int reserve(void *arr, size_t *cap, size_t n, size_t sz)
{
	void **p = arr;
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *np = realloc(*p, ncap * sz);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/* splitmix64: the only randomness, seeded by the caller. */
static uint64_t rnd(struct raft *r)
{
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- log ---- */

static uint64_t last_index(const struct raft *r)
{
	return r->snap.index + r->n_ents;
}

static struct raft_entry *entry(const struct raft *r, uint64_t i)
{
	return &r->ents[i - r->snap.index - 1];
}

int raft_term_at(const struct raft *r, uint64_t i, uint64_t *term)
{
	if (i == r->snap.index) {
		*term = r->snap.term;
		return 0;
	}
	if (i < r->snap.index || i > last_index(r))
		return -ENOENT;
	*term = entry(r, i)->term;
	return 0;
}

/* Term at i, or 0 when i is compacted away or beyond the log. */
static uint64_t term_of(const struct raft *r, uint64_t i)
{
	uint64_t t = 0;
	raft_term_at(r, i, &t);
	return t;
}

static uint64_t last_term(const struct raft *r)
{
	return term_of(r, last_index(r));
}

static void truncate_from(struct raft *r, uint64_t i)
{
	while (last_index(r) >= i) {
		free(r->ents[r->n_ents - 1].data);
		r->n_ents--;
	}
	if (r->stable >= i)
		r->stable = i - 1;
}

static int append_one(struct raft *r, uint64_t term, uint8_t type,
		      const void *data, size_t len)
{
	if (last_index(r) >= INDEX_MAX)
		return -ENOSPC;
	if (reserve(&r->ents, &r->cap_ents, r->n_ents, sizeof(*r->ents)))
		return -ENOMEM;
	void *copy = NULL;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	uint64_t index = last_index(r) + 1;
	r->ents[r->n_ents++] = (struct raft_entry){
		.term = term,
		.index = index,
		.type = type,
		.len = len,
		.data = copy,
	};
	return 0;
}

static bool up_to_date(const struct raft *r, uint64_t term, uint64_t index)
{
	uint64_t lt = last_term(r);
	return term > lt || (term == lt && index >= last_index(r));
}

/*
 * The largest index <= i whose term is <= term: where a log that has `term`
 * at some point may still match ours. Used on both sides of a rejection, so
 * one round trip skips a whole term of conflicting entries.
 */
static uint64_t match_hint(const struct raft *r, uint64_t i, uint64_t term)
{
	if (i > last_index(r))
		i = last_index(r);
	while (i > r->snap.index && entry(r, i)->term > term)
		i--;
	return i;
}

/* ---- configuration and progress ---- */

static struct progress *pr_get(struct raft *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

static bool is_voter(const struct raft *r, uint64_t id)
{
	int i = raft_conf_find(&r->conf, id);
	return i >= 0 && !r->conf.learner[i];
}

/* Whether id is in the committed configuration or in one our log holds
 * beyond it. The scan runs only for ids the committed one lacks. */
static bool in_conf(const struct raft *r, uint64_t id)
{
	if (raft_conf_find(&r->conf, id) >= 0)
		return true;
	for (uint64_t i = r->commit + 1; i <= last_index(r); i++) {
		const struct raft_entry *e = entry(r, i);
		struct raft_conf c;
		if (e->type == RAFT_ENTRY_CONFIG &&
		    raft_conf_decode(e->data, e->len, &c) == 0 &&
		    raft_conf_find(&c, id) >= 0)
			return true;
	}
	return false;
}

static size_t n_voters(const struct raft *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++)
		n += !r->prs[i].learner;
	return n;
}

static size_t quorum(const struct raft *r)
{
	return n_voters(r) / 2 + 1;
}

static void pr_reset(struct raft *r, struct progress *p)
{
	uint64_t id = p->id;
	bool learner = p->learner;
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->learner = learner;
	p->next = last_index(r) + 1;
	if (id == r->o.id) {
		p->match = last_index(r);
		p->active = true;
	}
}

static void become_follower(struct raft *r, uint64_t term, uint64_t leader);

/* Make the progress table follow r->conf, keeping what we know of peers
 * that stay. */
static void set_conf(struct raft *r, const struct raft_conf *c)
{
	struct progress old[RAFT_MAX_NODES];
	size_t n_old = r->n_prs;
	memcpy(old, r->prs, sizeof(old[0]) * n_old);
	r->conf = *c;
	r->n_prs = c->n;
	for (size_t i = 0; i < c->n; i++) {
		struct progress *p = &r->prs[i];
		size_t j = 0;
		while (j < n_old && old[j].id != c->ids[i])
			j++;
		if (j < n_old) {
			*p = old[j];
		} else {
			p->id = c->ids[i];
			pr_reset(r, p);
		}
		p->learner = c->learner[i];
	}
	if (r->transferee && !is_voter(r, r->transferee))
		r->transferee = 0;
	/* A leader that was removed hands over by falling silent. */
	if (r->role == RAFT_LEADER && !is_voter(r, r->o.id))
		become_follower(r, r->term, 0);
}

static void commit_to(struct raft *r, uint64_t c)
{
	if (c > last_index(r))
		c = last_index(r);
	for (uint64_t i = r->commit + 1; i <= c; i++) {
		struct raft_entry *e = entry(r, i);
		struct raft_conf nc;
		r->commit = i;
		if (e->type == RAFT_ENTRY_CONFIG &&
		    raft_conf_decode(e->data, e->len, &nc) == 0)
			set_conf(r, &nc);
	}
}

/* ---- messages ---- */

static struct raft_msg *send(struct raft *r, uint8_t type, uint64_t to)
{
	if (reserve(&r->out, &r->cap_out, r->n_out, sizeof(*r->out)))
		return NULL;
	struct raft_msg *m = &r->out[r->n_out++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = r->o.id;
	m->to = to;
	m->term = r->term;
	return m;
}

static void add_read(struct raft *r, uint64_t ctx, uint64_t index)
{
	if (reserve(&r->reads, &r->cap_reads, r->n_reads, sizeof(*r->reads)))
		return;
	r->reads[r->n_reads++] = (struct raft_read_state){ctx, index};
}

static bool infl_full(const struct raft *r, const struct progress *p)
{
	return p->infl_count >= r->o.max_inflight;
}

static bool pr_paused(const struct raft *r, const struct progress *p)
{
	switch (p->state) {
	case PR_PROBE:
		return p->paused;
	case PR_REPLICATE:
		return infl_full(r, p);
	default:
		return true;
	}
}

static void pr_become(struct raft *r, struct progress *p, enum pr_state s)
{
	p->state = s;
	p->paused = false;
	p->infl_head = p->infl_count = 0;
	if (s == PR_PROBE)
		p->next = (p->pending_snap > p->match ? p->pending_snap
						      : p->match) +
			  1;
	else if (s == PR_REPLICATE)
		p->next = p->match + 1;
	p->pending_snap = s == PR_SNAPSHOT ? r->snap.index : 0;
}

static void note_sent(struct progress *p, uint64_t index)
{
	if (index > p->sent_index)
		p->sent_index = index;
}

static void send_snapshot(struct raft *r, struct progress *p)
{
	struct raft_msg *m = send(r, RAFT_MSG_SNAPSHOT, p->id);
	if (!m)
		return;
	m->snap = r->snap;
	m->tick = r->now;
	note_sent(p, r->snap.index);
	pr_become(r, p, PR_SNAPSHOT);
}

/* Send p what it lacks; false when there was nothing (allowed) to send. */
static bool send_append(struct raft *r, struct progress *p, bool if_empty)
{
	if (pr_paused(r, p))
		return false;
	uint64_t prev = p->next - 1;
	if (prev < r->snap.index) {
		send_snapshot(r, p);
		return false;
	}
	size_t n = 0, bytes = 0;
	for (uint64_t i = p->next; i <= last_index(r) && n < r->o.max_batch;
	     i++) {
		bytes += entry(r, i)->len;
		if (n && bytes > r->o.max_batch_bytes)
			break;
		n++;
	}
	if (!n && !if_empty)
		return false;
	struct raft_msg *m = send(r, RAFT_MSG_APPEND, p->id);
	if (!m)
		return false;
	m->index = prev;
	m->log_term = term_of(r, prev);
	m->commit = r->commit;
	m->n_entries = n;
	m->tick = r->now;
	p->sent_commit = r->commit;
	note_sent(p, prev + n);
	if (p->state == PR_REPLICATE && n) {
		p->next = prev + n + 1;
		p->infl[(p->infl_head + p->infl_count) % RAFT_MAX_INFLIGHT] =
			prev + n;
		p->infl_count++;
	} else if (p->state == PR_PROBE) {
		p->paused = true;
	}
	return true;
}

static void broadcast_heartbeat(struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (p->id == r->o.id)
			continue;
		struct raft_msg *m = send(r, RAFT_MSG_HEARTBEAT, p->id);
		if (!m)
			return;
		/* Never past what the follower is known to hold. */
		m->commit = p->match < r->commit ? p->match : r->commit;
		m->ctx = r->read_round;
		m->tick = r->now;
	}
}

/* ---- roles ---- */

static void reset(struct raft *r, uint64_t term)
{
	if (r->term != term) {
		r->term = term;
		r->vote = 0;
	}
	r->leader = 0;
	r->leader_match = 0;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	r->timeout =
		r->o.election_ticks + (unsigned)(rnd(r) % r->o.election_ticks);
	r->transferee = 0;
	r->lease_void = false;
	r->n_preads = 0;
	for (size_t i = 0; i < r->n_prs; i++)
		pr_reset(r, &r->prs[i]);
}

static void become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	/* A leader that steps down on its own keeps refusing votes for a
	 * while: its lease may still be counting on it. */
	if (r->role == RAFT_LEADER)
		r->heard_elapsed = 0;
	reset(r, term);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
}

static void become_leader(struct raft *r)
{
	reset(r, r->term);
	r->role = RAFT_LEADER;
	r->leader = r->o.id;
	/* A config entry of an older term may still be uncommitted. */
	r->pending_conf = last_index(r);
	if (append_one(r, r->term, RAFT_ENTRY_NOOP, NULL, 0) == 0) {
		struct progress *self = pr_get(r, r->o.id);
		self->match = self->next = last_index(r);
		self->next++;
	}
	r->term_start = last_index(r);
}

static void maybe_commit(struct raft *r);

static void campaign(struct raft *r, bool pre, bool force)
{
	if (!is_voter(r, r->o.id) || r->term >= TERM_MAX)
		return;
	uint64_t term = r->term + 1;
	if (pre) {
		reset(r, r->term);
		r->role = RAFT_PRECANDIDATE;
	} else {
		reset(r, term);
		r->role = RAFT_CANDIDATE;
		r->vote = r->o.id;
	}
	struct progress *self = pr_get(r, r->o.id);
	self->voted = self->granted = true;
	if (quorum(r) == 1) {
		if (pre)
			campaign(r, false, force);
		else
			become_leader(r);
		maybe_commit(r);
		return;
	}
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (p->id == r->o.id || p->learner)
			continue;
		struct raft_msg *m =
			send(r, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, p->id);
		if (!m)
			return;
		m->term = term;
		m->index = last_index(r);
		m->log_term = last_term(r);
		m->force = force;
	}
}

/* The k-th largest of v[0..n), k >= 1: the value a quorum of k reaches. */
static uint64_t kth_largest(uint64_t *v, size_t n, size_t k)
{
	/* Insertion sort, descending: n is tiny. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return k && k <= n ? v[k - 1] : 0;
}

/* Rule 5.4.2: a leader only counts replicas for entries of its own term. */
static void maybe_commit(struct raft *r)
{
	uint64_t m[RAFT_MAX_NODES];
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++)
		if (!r->prs[i].learner)
			m[n++] = r->prs[i].match;
	uint64_t c = kth_largest(m, n, quorum(r));
	if (c > r->commit && term_of(r, c) == r->term) {
		commit_to(r, c);
		r->appends_due = true;
	}
}

static bool quorum_active(struct raft *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++)
		n += !r->prs[i].learner && r->prs[i].active;
	return n >= quorum(r);
}

unsigned raft_lease_ticks(const struct raft *r)
{
	if (r->role != RAFT_LEADER || !r->o.lease_reads || r->lease_void)
		return 0;
	/* The quorum-th freshest acknowledgement: the voters behind it refuse
	 * to vote until election_ticks after they heard us, so no other
	 * leader exists before then. One tick of margin covers drift. */
	uint64_t t[RAFT_MAX_NODES];
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		if (p->learner)
			continue;
		if (p->id == r->o.id)
			t[n++] = r->now;
		else if (p->lease_ok)
			t[n++] = p->lease_tick;
	}
	if (n < quorum(r))
		return 0;
	uint64_t age = r->now - kth_largest(t, n, quorum(r)) + 1;
	return age < r->o.election_ticks ? r->o.election_ticks - (unsigned)age
					 : 0;
}

bool raft_lease_valid(const struct raft *r)
{
	return raft_lease_ticks(r) > 0;
}

static void release_reads(struct raft *r)
{
	size_t done = 0;
	for (; done < r->n_preads; done++) {
		struct pending_read *pr = &r->preads[done];
		size_t acks = 0;
		for (size_t i = 0; i < r->n_prs; i++) {
			const struct progress *p = &r->prs[i];
			acks += !p->learner &&
				(p->id == r->o.id || p->read_ack >= pr->round);
		}
		if (acks < quorum(r))
			break;
		if (pr->from == r->o.id) {
			add_read(r, pr->ctx, pr->index);
		} else {
			struct raft_msg *m =
				send(r, RAFT_MSG_READ_INDEX_RESP, pr->from);
			if (m) {
				m->ctx = pr->ctx;
				m->index = pr->index;
			}
		}
	}
	if (!done)
		return;
	memmove(r->preads, r->preads + done,
		(r->n_preads - done) * sizeof(*r->preads));
	r->n_preads -= done;
}

/* Answer a read at the leader, for us or for a follower. */
static int leader_read(struct raft *r, uint64_t from, uint64_t ctx)
{
	/* Until our no-op commits, our commit index may be behind the
	 * cluster's. */
	if (r->commit < r->term_start)
		return -EAGAIN;
	if (quorum(r) == 1 || raft_lease_valid(r)) {
		if (from == r->o.id) {
			add_read(r, ctx, r->commit);
		} else {
			struct raft_msg *m =
				send(r, RAFT_MSG_READ_INDEX_RESP, from);
			if (!m)
				return -ENOMEM;
			m->ctx = ctx;
			m->index = r->commit;
		}
		return 0;
	}
	if (reserve(&r->preads, &r->cap_preads, r->n_preads,
		    sizeof(*r->preads)))
		return -ENOMEM;
	r->preads[r->n_preads++] = (struct pending_read){
		.ctx = ctx,
		.index = r->commit,
		.round = ++r->read_round,
		.from = from,
	};
	broadcast_heartbeat(r);
	return 0;
}

static void send_timeout_now(struct raft *r, uint64_t to)
{
	if (send(r, RAFT_MSG_TIMEOUT_NOW, to))
		r->lease_void = true;
}

/* ---- handlers ---- */

static void ack_leader_msg(struct raft *r, struct progress *p,
			   const struct raft_msg *m)
{
	p->active = true;
	if (!p->lease_ok || m->tick > p->lease_tick) {
		p->lease_ok = true;
		p->lease_tick = m->tick;
	}
}

static void handle_append_resp(struct raft *r, struct progress *p,
			       const struct raft_msg *m)
{
	if (m->reject) {
		/* Stale rejections are for APPENDs we no longer expect; one
		 * past what we sent answers no APPEND at all. */
		if (m->index <= p->match || m->index > p->sent_index ||
		    (p->state == PR_PROBE && m->index != p->next - 1))
			return;
		uint64_t next = m->hint;
		if (m->hint_term)
			next = match_hint(r, m->hint, m->hint_term);
		if (next > m->index - 1)
			next = m->index - 1;
		if (p->state == PR_REPLICATE)
			pr_become(r, p, PR_PROBE);
		p->next = (next > p->match ? next : p->match) + 1;
		p->paused = false;
		send_append(r, p, true);
		return;
	}
	if (p->state == PR_PROBE)
		p->paused = false;
	/* A peer holds at most what we sent it: a forged or confused ack
	 * must not count it as a replica of entries it never received. */
	uint64_t index = m->index < p->sent_index ? m->index : p->sent_index;
	if (index > p->match) {
		p->match = index;
		if (p->next <= index)
			p->next = index + 1;
		while (p->infl_count && p->infl[p->infl_head] <= index) {
			p->infl_head = (p->infl_head + 1) % RAFT_MAX_INFLIGHT;
			p->infl_count--;
		}
		if (p->state == PR_PROBE ||
		    (p->state == PR_SNAPSHOT && p->match >= p->pending_snap))
			pr_become(r, p, PR_REPLICATE);
		maybe_commit(r);
	}
	while (send_append(r, p, false))
		;
	if (p->id == r->transferee && p->match == last_index(r))
		send_timeout_now(r, p->id);
}

static void step_leader(struct raft *r, const struct raft_msg *m)
{
	struct progress *p = pr_get(r, m->from);
	if (!p)
		return;
	/* An answer echoes the tick of what it answers: one from our future
	 * answers nothing, and would stretch the lease past what the peer
	 * promised. */
	if ((m->type == RAFT_MSG_APPEND_RESP ||
	     m->type == RAFT_MSG_HEARTBEAT_RESP) &&
	    m->tick > r->now)
		return;
	switch (m->type) {
	case RAFT_MSG_APPEND_RESP:
		ack_leader_msg(r, p, m);
		handle_append_resp(r, p, m);
		break;
	case RAFT_MSG_HEARTBEAT_RESP: {
		ack_leader_msg(r, p, m);
		/* No one can confirm a read round not started yet. */
		uint64_t ctx = m->ctx < r->read_round ? m->ctx : r->read_round;
		if (ctx > p->read_ack)
			p->read_ack = ctx;
		if (p->state == PR_PROBE)
			p->paused = false;
		/* Lost APPENDs would otherwise hold the window shut. */
		if (p->state == PR_REPLICATE && infl_full(r, p)) {
			p->infl_head = (p->infl_head + 1) % RAFT_MAX_INFLIGHT;
			p->infl_count--;
		}
		if (p->match < last_index(r))
			send_append(r, p, true);
		release_reads(r);
		break;
	}
	case RAFT_MSG_READ_INDEX:
		if (leader_read(r, m->from, m->ctx) == -EAGAIN) {
			struct raft_msg *resp =
				send(r, RAFT_MSG_READ_INDEX_RESP, m->from);
			if (resp) {
				resp->ctx = m->ctx;
				resp->reject = true;
			}
		}
		break;
	default:
		break;
	}
}

static void handle_append(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg *resp = send(r, RAFT_MSG_APPEND_RESP, m->from);
	if (!resp)
		return;
	resp->tick = m->tick;
	if (m->index < r->commit) {
		resp->index = r->commit;
		return;
	}
	uint64_t t;
	/* Rule 2 of AppendEntries: the previous entry must match. */
	if (raft_term_at(r, m->index, &t) || t != m->log_term) {
		resp->reject = true;
		resp->index = m->index;
		resp->hint = match_hint(r, m->index, m->log_term);
		resp->hint_term = term_of(r, resp->hint);
		return;
	}
	/* Rules 3 and 4: drop a conflicting suffix, append what is new. */
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->index <= last_index(r)) {
			if (entry(r, e->index)->term == e->term)
				continue;
			truncate_from(r, e->index);
		}
		if (append_one(r, e->term, e->type, e->data, e->len)) {
			/* Acknowledge only what we hold. */
			resp->index = last_index(r);
			return;
		}
	}
	uint64_t last_new = m->index + m->n_entries;
	if (last_new > r->leader_match)
		r->leader_match = last_new;
	/* Rule 5: commit no further than the last new entry. */
	commit_to(r, m->commit < last_new ? m->commit : last_new);
	resp->index = last_new;
}

static void restore_snapshot(struct raft *r, const struct raft_snap_meta *s)
{
	uint64_t t;
	if (raft_term_at(r, s->index, &t) == 0 && t == s->term) {
		/* We hold the entry: keep the log, just commit. */
		commit_to(r, s->index);
		return;
	}
	truncate_from(r, r->snap.index + 1);
	r->snap = *s;
	r->stable = s->index;
	r->commit = r->applied = s->index;
	r->snap_pending = true;
	set_conf(r, &s->conf);
}

static bool from_leader(const struct raft_msg *m)
{
	return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
	       m->type == RAFT_MSG_SNAPSHOT;
}

static void step_follower(struct raft *r, const struct raft_msg *m)
{
	if (from_leader(m)) {
		/* A term has one leader: another claiming it is lying. */
		if (r->leader && m->from != r->leader)
			return;
		r->election_elapsed = 0;
		r->heard_elapsed = 0;
		r->leader = m->from;
	}
	switch (m->type) {
	case RAFT_MSG_APPEND:
		handle_append(r, m);
		break;
	case RAFT_MSG_HEARTBEAT: {
		commit_to(r, m->commit > r->commit ? m->commit : r->commit);
		struct raft_msg *resp =
			send(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
		if (resp) {
			resp->ctx = m->ctx;
			resp->tick = m->tick;
		}
		break;
	}
	case RAFT_MSG_SNAPSHOT: {
		if (m->snap.index > r->commit)
			restore_snapshot(r, &m->snap);
		struct raft_msg *resp = send(r, RAFT_MSG_APPEND_RESP, m->from);
		if (resp) {
			resp->index = r->commit;
			resp->tick = m->tick;
		}
		break;
	}
	case RAFT_MSG_TIMEOUT_NOW:
		campaign(r, false, true);
		break;
	case RAFT_MSG_READ_INDEX_RESP:
		if (m->reject || m->from != r->leader)
			break;
		/* The read's index is committed: if we hold the leader's
		 * entries that far, the read need not wait for the APPEND
		 * that would tell us so. */
		commit_to(r, m->index < r->leader_match ? m->index
							: r->leader_match);
		add_read(r, m->ctx, m->index);
		break;
	default:
		break;
	}
}

static void step_candidate(struct raft *r, const struct raft_msg *m)
{
	bool pre = r->role == RAFT_PRECANDIDATE;
	uint8_t want = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
	if (from_leader(m)) {
		/* Someone won this term. */
		become_follower(r, m->term, m->from);
		step_follower(r, m);
		return;
	}
	if (m->type != want)
		return;
	struct progress *p = pr_get(r, m->from);
	if (!p || p->learner || p->voted)
		return;
	p->voted = true;
	p->granted = !m->reject;
	size_t yes = 0, no = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		yes += r->prs[i].voted && r->prs[i].granted;
		no += r->prs[i].voted && !r->prs[i].granted;
	}
	if (yes >= quorum(r)) {
		if (pre) {
			campaign(r, false, m->force);
		} else {
			become_leader(r);
			maybe_commit(r);
			r->appends_due = true; /* our no-op */
		}
	} else if (no >= quorum(r)) {
		become_follower(r, r->term, 0);
	}
}

static void handle_vote(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PREVOTE;
	bool can = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
		   (pre && m->term > r->term);
	struct raft_msg *resp = send(
		r, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
	if (!resp)
		return;
	/* Rule 2 of RequestVote: never vote for a less complete log. */
	if (can && up_to_date(r, m->log_term, m->index)) {
		resp->term = m->term;
		resp->force = m->force;
		if (!pre) {
			r->vote = m->from;
			r->election_elapsed = 0;
		}
	} else {
		resp->reject = true;
	}
}

/* Entries that can follow m->index in the log of m's leader: one by one,
 * of terms from m->log_term up to m->term, of known types. */
static bool entries_valid(const struct raft_msg *m)
{
	if (m->index > INDEX_MAX || m->n_entries > INDEX_MAX - m->index ||
	    (m->n_entries && !m->entries))
		return false;
	uint64_t term = m->log_term;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		struct raft_conf c;
		if (e->index != m->index + 1 + i || !e->term ||
		    e->term < term || e->term > m->term ||
		    e->type > RAFT_ENTRY_NOOP || (e->len && !e->data))
			return false;
		if (e->type == RAFT_ENTRY_CONFIG &&
		    raft_conf_decode(e->data, e->len, &c))
			return false;
		term = e->term;
	}
	return true;
}

/* What m says about itself, before any state is looked at (raft.h). */
static bool msg_valid(const struct raft *r, const struct raft_msg *m)
{
	if (m->to != r->o.id || !m->from || m->from == r->o.id ||
	    m->term > TERM_MAX)
		return false;
	const struct raft_snap_meta *s = &m->snap;
	switch (m->type) {
	case RAFT_MSG_APPEND:
		return entries_valid(m);
	case RAFT_MSG_SNAPSHOT:
		return s->index && s->index <= INDEX_MAX && s->term &&
		       s->term <= m->term && raft_conf_valid(&s->conf);
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE:
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_APPEND_RESP:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_HEARTBEAT_RESP:
	case RAFT_MSG_TIMEOUT_NOW:
	case RAFT_MSG_READ_INDEX:
	case RAFT_MSG_READ_INDEX_RESP:
		return true;
	default:
		return false;
	}
}

/* Whether we take m from its sender: a member, or the leader of a node
 * that may not know the current configuration yet (raft.h). A leader is
 * never that node: it heard a quorum of its configuration lately. */
static bool sender_ok(const struct raft *r, const struct raft_msg *m)
{
	if (in_conf(r, m->from))
		return true;
	if (m->type == RAFT_MSG_READ_INDEX_RESP)
		return m->from == r->leader;
	return from_leader(m) &&
	       (m->from == r->leader || !in_conf(r, r->o.id) ||
		(r->role != RAFT_LEADER &&
		 r->heard_elapsed >= r->o.election_ticks));
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	if (!msg_valid(r, m) || !sender_ok(r, m))
		return 0;
	bool vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
	if (m->term > r->term) {
		/* CheckQuorum's other half: while we hear from a leader (or
		 * might be one) we ignore candidates, so a node coming back
		 * from a partition cannot depose a healthy leader. */
		if (vote_req && !m->force &&
		    (r->role == RAFT_LEADER ||
		     r->heard_elapsed < r->o.election_ticks))
			return 0;
		bool keep = m->type == RAFT_MSG_PREVOTE ||
			    (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject);
		if (!keep)
			become_follower(r, m->term,
					from_leader(m) ? m->from : 0);
	} else if (m->term < r->term) {
		if (m->type == RAFT_MSG_APPEND ||
		    m->type == RAFT_MSG_HEARTBEAT) {
			/* Tell a deposed leader about the new term. */
			send(r, RAFT_MSG_APPEND_RESP, m->from);
		} else if (m->type == RAFT_MSG_PREVOTE) {
			struct raft_msg *resp =
				send(r, RAFT_MSG_PREVOTE_RESP, m->from);
			if (resp)
				resp->reject = true;
		}
		return 0;
	}
	if (vote_req) {
		handle_vote(r, m);
		return 0;
	}
	switch (r->role) {
	case RAFT_LEADER:
		step_leader(r, m);
		break;
	case RAFT_FOLLOWER:
		step_follower(r, m);
		break;
	default:
		step_candidate(r, m);
		break;
	}
	return 0;
}

void raft_tick(struct raft *r)
{
	r->now++;
	if (r->heard_elapsed < r->o.election_ticks)
		r->heard_elapsed++;
	r->election_elapsed++;
	if (r->role != RAFT_LEADER) {
		if (r->election_elapsed >= r->timeout)
			campaign(r, true, false);
		return;
	}
	if (r->election_elapsed >= r->o.election_ticks) {
		r->election_elapsed = 0;
		r->transferee = 0;
		if (!quorum_active(r)) {
			become_follower(r, r->term, 0);
			return;
		}
		for (size_t i = 0; i < r->n_prs; i++)
			r->prs[i].active = r->prs[i].id == r->o.id;
	}
	if (++r->heartbeat_elapsed >= r->o.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		broadcast_heartbeat(r);
	}
}

/* ---- client requests ---- */

static int propose(struct raft *r, uint8_t type, const void *data, size_t len,
		   uint64_t *index)
{
	if (r->role != RAFT_LEADER)
		return -EPERM;
	if (r->transferee)
		return -EBUSY;
	int rc = append_one(r, r->term, type, data, len);
	if (rc)
		return rc;
	struct progress *self = pr_get(r, r->o.id);
	self->match = last_index(r);
	self->next = self->match + 1;
	if (index)
		*index = last_index(r);
	maybe_commit(r);
	r->appends_due = true;
	return 0;
}

int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index)
{
	return propose(r, RAFT_ENTRY_NORMAL, data, len, index);
}

int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t id,
		      const char *addr, uint64_t *index)
{
	if (r->role != RAFT_LEADER)
		return -EPERM;
	/* One change at a time, and only once our no-op has committed:
	 * otherwise two single-server changes from different terms could
	 * build disjoint majorities. */
	if (r->pending_conf > r->commit || r->commit < r->term_start)
		return -EBUSY;
	struct raft_conf c = r->conf;
	int i = raft_conf_find(&c, id);
	switch (op) {
	case RAFT_CONF_ADD_LEARNER:
		if (i >= 0 || c.n == RAFT_MAX_NODES || !id ||
		    (addr && strlen(addr) >= RAFT_ADDR_MAX))
			return -EINVAL;
		c.ids[c.n] = id;
		if (addr)
			memcpy(c.addr[c.n], addr, strlen(addr) + 1);
		else
			c.addr[c.n][0] = '\0';
		c.learner[c.n++] = true;
		break;
	case RAFT_CONF_PROMOTE:
		if (i < 0 || !c.learner[i])
			return -EINVAL;
		/* A voter that is far behind would stall commits. */
		if (pr_get(r, id)->match < r->commit)
			return -EBUSY;
		c.learner[i] = false;
		break;
	case RAFT_CONF_REMOVE:
		if (i < 0)
			return -EINVAL;
		c.n--;
		c.ids[i] = c.ids[c.n];
		c.learner[i] = c.learner[c.n];
		memcpy(c.addr[i], c.addr[c.n], RAFT_ADDR_MAX);
		break;
	default:
		return -EINVAL;
	}
	uint8_t buf[RAFT_CONF_MAX_SIZE];
	raft_conf_encode(&c, buf, sizeof(buf));
	uint64_t at;
	int rc = propose(r, RAFT_ENTRY_CONFIG, buf, raft_conf_size(&c), &at);
	if (rc)
		return rc;
	r->pending_conf = at;
	if (index)
		*index = at;
	return 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
	if (r->role == RAFT_LEADER)
		return leader_read(r, r->o.id, ctx);
	if (!r->leader)
		return -EPERM;
	struct raft_msg *m = send(r, RAFT_MSG_READ_INDEX, r->leader);
	if (!m)
		return -ENOMEM;
	m->ctx = ctx;
	return 0;
}

int raft_transfer_leadership(struct raft *r, uint64_t to)
{
	if (r->role != RAFT_LEADER)
		return -EPERM;
	if (to == r->o.id)
		return 0;
	if (!is_voter(r, to))
		return -EINVAL;
	struct progress *p = pr_get(r, to);
	r->transferee = to;
	/* The transfer is abandoned at the next CheckQuorum round. */
	r->election_elapsed = 0;
	if (p->match == last_index(r))
		send_timeout_now(r, to);
	else
		send_append(r, p, true);
	return 0;
}

int raft_compact(struct raft *r, uint64_t index)
{
	if (index > r->applied || index > r->stable)
		return -EINVAL;
	if (index <= r->snap.index)
		return 0;
	/* The configuration as of index: start from the last snapshot's and
	 * replay the config entries up to index. */
	struct raft_conf c = r->snap.conf;
	for (uint64_t i = r->snap.index + 1; i <= index; i++) {
		struct raft_entry *e = entry(r, i);
		if (e->type == RAFT_ENTRY_CONFIG)
			raft_conf_decode(e->data, e->len, &c);
	}
	size_t drop = index - r->snap.index;
	uint64_t term = entry(r, index)->term;
	for (size_t i = 0; i < drop; i++)
		free(r->ents[i].data);
	memmove(r->ents, r->ents + drop, (r->n_ents - drop) * sizeof(*r->ents));
	r->n_ents -= drop;
	r->snap.index = index;
	r->snap.term = term;
	r->snap.conf = c;
	return 0;
}

void raft_report_snapshot(struct raft *r, uint64_t id, bool ok)
{
	struct progress *p = pr_get(r, id);
	if (r->role != RAFT_LEADER || !p || p->state != PR_SNAPSHOT)
		return;
	if (!ok)
		p->pending_snap = 0;
	/* Probe from just after the snapshot; wait for a heartbeat answer
	 * before sending, as the follower may still be installing it. */
	pr_become(r, p, PR_PROBE);
	p->paused = true;
}

/* ---- ready / advance ---- */

static struct raft_hard_state hard_state(const struct raft *r)
{
	return (struct raft_hard_state){r->term, r->vote, r->commit};
}

/* Whether the hard state must be saved: a vote or a term must be durable
 * before anything that depends on it leaves; the commit index rides along
 * with a write that happens anyway. Saving it alone would double a
 * follower's syncs, one for each APPEND and one for the commit it learns
 * from the next. */
static bool hs_due(const struct raft *r, bool writing)
{
	struct raft_hard_state hs = hard_state(r);
	return hs.term != r->saved.term || hs.vote != r->saved.vote ||
	       (writing && hs.commit != r->saved.commit);
}

/* What every follower lacks, in as few APPENDs as its window and the batch
 * limits allow; an empty one when only the commit index moved past what
 * it was last told. */
static void flush_appends(struct raft *r)
{
	if (!r->appends_due)
		return;
	r->appends_due = false;
	if (r->role != RAFT_LEADER)
		return;
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (p->id == r->o.id)
			continue;
		bool sent = false;
		while (send_append(r, p, false))
			sent = true;
		if (!sent && p->sent_commit < r->commit)
			send_append(r, p, true);
	}
}

bool raft_has_ready(const struct raft *r)
{
	return r->snap_pending || r->stable < last_index(r) || r->n_out ||
	       (r->appends_due && r->role == RAFT_LEADER) ||
	       r->applied < r->commit || r->n_reads || hs_due(r, false);
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
	flush_appends(r);
	memset(rd, 0, sizeof(*rd));
	rd->role = r->role;
	rd->leader = r->leader;
	rd->hs = hard_state(r);
	if (r->snap_pending)
		rd->snapshot = &r->snap;
	if (r->stable < last_index(r)) {
		rd->entries = entry(r, r->stable + 1);
		rd->n_entries = last_index(r) - r->stable;
	}
	rd->hs_changed = hs_due(r, rd->snapshot || rd->n_entries);
	/* Only entries already in our stable log: the caller may apply them
	 * while it persists the new ones. Those committed but not stable
	 * come in the next Ready. */
	uint64_t upto = r->commit < r->stable ? r->commit : r->stable;
	if (r->applied < upto) {
		rd->committed = entry(r, r->applied + 1);
		rd->n_committed = upto - r->applied;
	}
	rd->reads = r->reads;
	rd->n_reads = r->n_reads;
	/* Attach entries to APPENDs now; drop those the log moved under
	 * (compacted, or we are no longer the leader that sent them). */
	if (r->n_out > r->cap_ready_msgs) {
		struct raft_msg *nm =
			realloc(r->ready_msgs, r->n_out * sizeof(*nm));
		if (!nm)
			return;
		r->ready_msgs = nm;
		r->cap_ready_msgs = r->n_out;
	}
	size_t n = 0;
	for (size_t i = 0; i < r->n_out; i++) {
		struct raft_msg *m = &r->out[i];
		if (m->type == RAFT_MSG_APPEND) {
			uint64_t t;
			if (r->role != RAFT_LEADER || m->term != r->term ||
			    raft_term_at(r, m->index, &t) || t != m->log_term ||
			    m->index + m->n_entries > last_index(r))
				continue;
			if (m->n_entries)
				m->entries = entry(r, m->index + 1);
		}
		if (m->type == RAFT_MSG_SNAPSHOT &&
		    m->snap.index != r->snap.index) {
			struct progress *p = pr_get(r, m->to);
			m->snap = r->snap;
			if (p && r->role == RAFT_LEADER && m->term == r->term)
				note_sent(p, r->snap.index);
		}
		r->ready_msgs[n++] = *m;
	}
	rd->msgs = r->ready_msgs;
	rd->n_msgs = n;
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
	if (rd->hs_changed)
		r->saved = rd->hs;
	r->snap_pending = false;
	if (rd->n_entries)
		r->stable = rd->entries[rd->n_entries - 1].index;
	if (rd->n_committed)
		r->applied = rd->committed[rd->n_committed - 1].index;
	r->n_out = 0;
	r->n_reads = 0;
}

/* ---- lifecycle ---- */

int raft_new(const struct raft_options *opt, struct raft **out)
{
	if (!opt->id || opt->max_inflight > RAFT_MAX_INFLIGHT)
		return -EINVAL;
	struct raft *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->o = *opt;
	if (!r->o.election_ticks)
		r->o.election_ticks = 10;
	if (!r->o.heartbeat_ticks)
		r->o.heartbeat_ticks = 1;
	if (!r->o.max_batch)
		r->o.max_batch = 64;
	if (!r->o.max_batch_bytes)
		r->o.max_batch_bytes = 1 << 20;
	if (!r->o.max_inflight)
		r->o.max_inflight = 32;
	if (r->o.heartbeat_ticks >= r->o.election_ticks) {
		free(r);
		return -EINVAL;
	}
	r->rng = opt->seed ^ (opt->id * 0x2545f4914f6cdd1dull);
	reset(r, 0);
	*out = r;
	return 0;
}

void raft_free(struct raft *r)
{
	if (!r)
		return;
	truncate_from(r, r->snap.index + 1);
	free(r->ents);
	free(r->preads);
	free(r->reads);
	free(r->out);
	free(r->ready_msgs);
	free(r);
}

static bool empty(const struct raft *r)
{
	return !r->term && !last_index(r) && !r->conf.n;
}

int raft_bootstrap(struct raft *r, const struct raft_conf *conf)
{
	uint8_t buf[RAFT_CONF_MAX_SIZE];
	if (!empty(r) || raft_conf_encode(conf, buf, sizeof(buf)))
		return -EINVAL;
	int rc = append_one(r, 1, RAFT_ENTRY_CONFIG, buf, raft_conf_size(conf));
	if (rc)
		return rc;
	r->term = 1;
	commit_to(r, 1);
	return 0;
}

int raft_restore(struct raft *r, const struct raft_hard_state *hs,
		 const struct raft_snap_meta *snap,
		 const struct raft_entry *ents, size_t n)
{
	if (!empty(r) || (snap && !raft_conf_valid(&snap->conf)))
		return -EINVAL;
	if (snap) {
		r->snap = *snap;
		set_conf(r, &snap->conf);
	}
	for (size_t i = 0; i < n; i++) {
		if (ents[i].index != last_index(r) + 1 ||
		    append_one(r, ents[i].term, ents[i].type, ents[i].data,
			       ents[i].len)) {
			truncate_from(r, r->snap.index + 1);
			return -EINVAL;
		}
	}
	r->stable = last_index(r);
	r->term = hs->term;
	r->vote = hs->vote;
	r->commit = r->applied = r->snap.index;
	commit_to(r, hs->commit);
	/* The caller's state machine restarts from the snapshot: entries
	 * above it are handed back for applying. */
	r->saved = hard_state(r);
	return 0;
}

void raft_status(const struct raft *r, struct raft_status *st)
{
	*st = (struct raft_status){
		.id = r->o.id,
		.role = r->role,
		.term = r->term,
		.vote = r->vote,
		.leader = r->leader,
		.commit = r->commit,
		.applied = r->applied,
		.first_index = r->snap.index + 1,
		.last_index = last_index(r),
	};
}

const struct raft_conf *raft_conf(const struct raft *r)
{
	return &r->conf;
}

const struct raft_snap_meta *raft_snapshot_meta(const struct raft *r)
{
	return &r->snap;
}
