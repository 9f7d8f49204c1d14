/*
 * Unit tests for the raft core: one test per rule of figure 2 of the Raft
 * paper, then one or more per feature (PreVote, CheckQuorum, flow control,
 * snapshots, membership, transfer, reads, the wire format).
 *
 * The harness is a tiny in-memory cluster (raft/tests/memnet.h): messages
 * go through raft_msg_encode/decode, a filter can drop them, and
 * everything is delivered in order until the network is quiet.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/raft_codec.h"
#include "raft/tests/memnet.h"

#define N_MAX 6

_Static_assert(N_MAX <= MEMNET_MAX_ID, "every node id is a memnet slot");

/* The cores are net.r[1..N_MAX]; net.cut[from][to] cuts a link. */
struct cluster {
	struct memnet net;
	/* Drop messages of this type (0: none). */
	uint8_t drop_type;
	uint64_t applied[N_MAX + 1];
	uint64_t n_normal[N_MAX + 1];
	uint64_t last_read_ctx[N_MAX + 1];
	uint64_t last_read_index[N_MAX + 1];
	uint64_t snaps[N_MAX + 1];
	size_t sent[RAFT_MSG_READ_INDEX_RESP + 1];
	size_t appends_to[N_MAX + 1]; /* APPENDs carrying entries */
	size_t max_entries;
};

static struct raft_options opts(uint64_t id)
{
	return (struct raft_options){
		.id = id,
		.election_ticks = 10,
		.heartbeat_ticks = 1,
		.lease_reads = false,
		.seed = id * 7919,
	};
}

static bool on_persist(struct memnet *net, int id, const struct raft_ready *rd)
{
	struct cluster *c = net->arg;
	if (rd->snapshot) {
		c->applied[id] = rd->snapshot->index;
		c->snaps[id]++;
	}
	return true;
}

static void on_send(struct memnet *net, int from, const struct raft_msg *m)
{
	struct cluster *c = net->arg;
	c->sent[m->type]++;
	if (m->type == RAFT_MSG_APPEND && m->n_entries)
		c->appends_to[m->to]++;
	if (m->n_entries > c->max_entries)
		c->max_entries = m->n_entries;
	if (m->type == c->drop_type || net->cut[from][m->to] || !net->r[m->to])
		return;
	ck_assert_int_eq(memnet_queue(net, from, m, 0, 0), 0);
}

static void on_apply(struct memnet *net, int id, const struct raft_ready *rd)
{
	struct cluster *c = net->arg;
	for (size_t i = 0; i < rd->n_committed; i++) {
		ck_assert_uint_eq(rd->committed[i].index, c->applied[id] + 1);
		c->applied[id]++;
		c->n_normal[id] += rd->committed[i].type == RAFT_ENTRY_NORMAL;
	}
	for (size_t i = 0; i < rd->n_reads; i++) {
		c->last_read_ctx[id] = rd->reads[i].ctx;
		c->last_read_index[id] = rd->reads[i].index;
	}
}

static const struct memnet_hooks hooks = {
	.persist = on_persist,
	.send = on_send,
	.apply = on_apply,
};

static void flush(struct cluster *c)
{
	memnet_flush(&c->net);
}

static bool deliver_one(struct cluster *c)
{
	flush(c);
	if (!c->net.n)
		return false;
	ck_assert_int_eq(memnet_deliver(&c->net, 0), 0);
	flush(c);
	return true;
}

static void deliver(struct cluster *c)
{
	while (deliver_one(c))
		;
}

static void tick(struct cluster *c, int times)
{
	for (int t = 0; t < times; t++) {
		memnet_tick(&c->net);
		deliver(c);
	}
}

/* A cluster without cores yet: the test creates them in net.r. */
static struct cluster *cluster_alloc(void)
{
	struct cluster *c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	memnet_init(&c->net, &hooks, true, c);
	return c;
}

static struct cluster *cluster_new(int n, unsigned max_batch)
{
	struct cluster *c = cluster_alloc();
	struct raft_conf conf = {.n = (size_t)n};
	for (int id = 1; id <= n; id++)
		conf.ids[id - 1] = (uint64_t)id;
	for (int id = 1; id <= n; id++) {
		struct raft_options o = opts((uint64_t)id);
		o.max_batch = max_batch;
		ck_assert_int_eq(raft_new(&o, &c->net.r[id]), 0);
		ck_assert_int_eq(raft_bootstrap(c->net.r[id], &conf), 0);
	}
	flush(c);
	return c;
}

static void cluster_free(struct cluster *c)
{
	memnet_free(&c->net);
	free(c);
}

static struct raft_status status(struct cluster *c, int id)
{
	struct raft_status st;
	raft_status(c->net.r[id], &st);
	return st;
}

/* Make id campaign now, as a leadership transfer would. */
static void elect(struct cluster *c, int id)
{
	struct raft_msg m = {
		.type = RAFT_MSG_TIMEOUT_NOW,
		.from = id == 1 ? 2 : 1,
		.to = (uint64_t)id,
		.term = status(c, id).term,
	};
	raft_step(c->net.r[id], &m);
	deliver(c);
	ck_assert_int_eq(status(c, id).role, RAFT_LEADER);
}

static void propose(struct cluster *c, int id, uint64_t v)
{
	ck_assert_int_eq(raft_propose(c->net.r[id], &v, sizeof(v), NULL), 0);
	deliver(c);
}

static void step(struct cluster *c, int to, struct raft_msg m)
{
	m.to = (uint64_t)to;
	ck_assert_int_eq(raft_step(c->net.r[to], &m), 0);
	flush(c);
}

/* The last message sent, taken from the queue (for inspection). */
static struct raft_msg take_last(struct cluster *c, struct memnet_packet *keep)
{
	ck_assert_uint_gt(c->net.n, 0);
	memnet_pop_last(&c->net, keep);
	struct raft_msg m;
	ck_assert_int_eq(raft_msg_decode(keep->buf, keep->len, &m), 0);
	return m;
}

static void drain(struct cluster *c)
{
	memnet_drop_all(&c->net);
}

/* What one Ready of r asked for; r is advanced past it. */
struct ready_sum {
	bool hs_changed;
	uint64_t hs_commit;
	size_t n_entries;
	size_t n_committed;
	uint64_t last_committed;
	size_t n_reads;
	uint64_t read_index;
};

static struct ready_sum ready_sum(struct raft *r)
{
	ck_assert(raft_has_ready(r));
	struct raft_ready rd;
	raft_ready(r, &rd);
	struct ready_sum s = {
		.hs_changed = rd.hs_changed,
		.hs_commit = rd.hs.commit,
		.n_entries = rd.n_entries,
		.n_committed = rd.n_committed,
		.n_reads = rd.n_reads,
	};
	if (rd.n_committed)
		s.last_committed = rd.committed[rd.n_committed - 1].index;
	if (rd.n_reads)
		s.read_index = rd.reads[rd.n_reads - 1].index;
	raft_advance(r, &rd);
	return s;
}

/* An APPEND from leader 1 to node 2 of entries after `prev`, all of term t. */
static void append_to_2(struct cluster *c, uint64_t t, uint64_t prev, size_t n,
			uint64_t commit)
{
	struct raft_entry e[8];
	ck_assert_uint_le(n, 8);
	for (size_t i = 0; i < n; i++)
		e[i] = (struct raft_entry){.term = t, .index = prev + 1 + i};
	struct raft_msg m = {.type = RAFT_MSG_APPEND,
			     .from = 1,
			     .to = 2,
			     .term = t,
			     .index = prev,
			     .log_term = t,
			     .commit = commit,
			     .n_entries = n,
			     .entries = e};
	ck_assert_int_eq(raft_step(c->net.r[2], &m), 0);
}

/* Three nodes, 1 leading, everything delivered: its term and last index. */
static struct cluster *leader_1(uint64_t *term, uint64_t *last)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	*term = status(c, 2).term;
	*last = status(c, 2).last_index;
	return c;
}

static void read_resp_to_2(struct cluster *c, uint64_t from, uint64_t t,
			   uint64_t index)
{
	struct raft_msg m = {.type = RAFT_MSG_READ_INDEX_RESP,
			     .from = from,
			     .to = 2,
			     .term = t,
			     .ctx = 9,
			     .index = index};
	ck_assert_int_eq(raft_step(c->net.r[2], &m), 0);
}

/* ---- figure 2: all servers ---- */

START_TEST(rule_higher_term_makes_follower)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	uint64_t t = status(c, 1).term;
	step(c, 1,
	     (struct raft_msg){
		     .type = RAFT_MSG_APPEND_RESP, .from = 2, .term = t + 5});
	ck_assert_int_eq(status(c, 1).role, RAFT_FOLLOWER);
	ck_assert_uint_eq(status(c, 1).term, t + 5);
	ck_assert_uint_eq(status(c, 1).vote, 0);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(rule_apply_committed_in_order)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	for (uint64_t v = 1; v <= 10; v++)
		propose(c, 1, v);
	tick(c, 1);
	for (int id = 1; id <= 3; id++) {
		ck_assert_uint_eq(c->n_normal[id], 10);
		ck_assert_uint_eq(c->applied[id], status(c, 1).commit);
	}
	cluster_free(c);
}
END_TEST

/* ---- figure 2: RequestVote ---- */

START_TEST(rule_vote_rejects_stale_term)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	uint64_t t = status(c, 2).term;
	size_t before = c->sent[RAFT_MSG_VOTE_RESP];
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 3,
			       .term = t - 1,
			       .index = 100,
			       .log_term = 100});
	ck_assert_uint_eq(status(c, 2).vote, 1);
	ck_assert_uint_eq(c->sent[RAFT_MSG_VOTE_RESP], before);
	/* A stale PreVote gets an explicit rejection. */
	step(c, 2,
	     (struct raft_msg){
		     .type = RAFT_MSG_PREVOTE, .from = 3, .term = t - 1});
	struct memnet_packet p;
	struct raft_msg m = take_last(c, &p);
	ck_assert_int_eq(m.type, RAFT_MSG_PREVOTE_RESP);
	ck_assert(m.reject);
	ck_assert_uint_eq(m.term, t);
	free(p.buf);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(rule_vote_once_per_term)
{
	struct cluster *c = cluster_new(3, 0);
	tick(c, 0);
	/* Past the lease, as after a real election timeout. */
	for (int i = 0; i < 10; i++)
		raft_tick(c->net.r[3]);
	drain(c);
	step(c, 3,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 1,
			       .term = 2,
			       .index = 1,
			       .log_term = 1});
	ck_assert_uint_eq(status(c, 3).vote, 1);
	step(c, 3,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 2,
			       .term = 2,
			       .index = 1,
			       .log_term = 1});
	ck_assert_uint_eq(status(c, 3).vote, 1);
	struct memnet_packet p;
	struct raft_msg m = take_last(c, &p);
	ck_assert_int_eq(m.type, RAFT_MSG_VOTE_RESP);
	ck_assert(m.reject);
	free(p.buf);
	/* Asking again is answered the same way (a lost response). */
	step(c, 3,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 1,
			       .term = 2,
			       .index = 1,
			       .log_term = 1});
	m = take_last(c, &p);
	ck_assert(!m.reject);
	free(p.buf);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(rule_vote_needs_up_to_date_log)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	propose(c, 1, 7);
	for (int i = 0; i < 10; i++)
		raft_tick(c->net.r[3]);
	drain(c);
	struct raft_status st = status(c, 3);
	/* Same last term, shorter log: rejected. */
	step(c, 3,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 2,
			       .term = st.term + 1,
			       .index = st.last_index - 1,
			       .log_term = st.term});
	ck_assert_uint_eq(status(c, 3).vote, 0);
	/* Higher last term, even if shorter: granted. */
	step(c, 3,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 2,
			       .term = st.term + 1,
			       .index = 1,
			       .log_term = st.term + 1});
	ck_assert_uint_eq(status(c, 3).vote, 2);
	drain(c);
	cluster_free(c);
}
END_TEST

/* ---- figure 2: AppendEntries ---- */

START_TEST(rule_append_rejects_missing_prev)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	uint64_t t = status(c, 2).term;
	struct raft_entry e = {.term = t, .index = 11};
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 1,
			       .term = t,
			       .index = 10,
			       .log_term = t,
			       .n_entries = 1,
			       .entries = &e});
	struct memnet_packet p;
	struct raft_msg m = take_last(c, &p);
	ck_assert_int_eq(m.type, RAFT_MSG_APPEND_RESP);
	ck_assert(m.reject);
	/* The hint points at our last entry, not one step back. */
	ck_assert_uint_eq(m.hint, status(c, 2).last_index);
	free(p.buf);
	ck_assert_uint_eq(status(c, 2).last_index, 2);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(rule_append_truncates_conflicts_and_commits_min)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	uint64_t t = status(c, 2).term;
	struct raft_entry old[2] = {{.term = t, .index = 3},
				    {.term = t, .index = 4}};
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 1,
			       .term = t,
			       .index = 2,
			       .log_term = t,
			       .n_entries = 2,
			       .entries = old});
	ck_assert_uint_eq(status(c, 2).last_index, 4);
	/* Entry 4 is not vouched for by this message: commit stops at 3. */
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 1,
			       .term = t,
			       .index = 2,
			       .log_term = t,
			       .commit = 50,
			       .n_entries = 1,
			       .entries = old});
	ck_assert_uint_eq(status(c, 2).commit, 3);
	/* A new leader overwrites index 4 with its own entry. */
	struct raft_entry repl[2] = {{.term = t + 1, .index = 4},
				     {.term = t + 1, .index = 5}};
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 3,
			       .term = t + 1,
			       .index = 3,
			       .log_term = t,
			       .commit = 50,
			       .n_entries = 1,
			       .entries = repl});
	uint64_t term4;
	ck_assert_int_eq(raft_term_at(c->net.r[2], 4, &term4), 0);
	ck_assert_uint_eq(term4, t + 1);
	ck_assert_uint_eq(status(c, 2).last_index, 4);
	/* commit = min(leaderCommit, index of last new entry). */
	ck_assert_uint_eq(status(c, 2).commit, 4);
	/* A duplicate of an old APPEND must not truncate anything. */
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 3,
			       .term = t + 1,
			       .index = 2,
			       .log_term = t,
			       .n_entries = 1,
			       .entries = old});
	ck_assert_uint_eq(status(c, 2).last_index, 4);
	drain(c);
	cluster_free(c);
}
END_TEST

/* ---- figure 2: candidates and leaders ---- */

START_TEST(rule_election_timeout_elects_a_leader)
{
	struct cluster *c = cluster_new(3, 0);
	tick(c, 40);
	int leaders = 0;
	for (int id = 1; id <= 3; id++)
		leaders += status(c, id).role == RAFT_LEADER;
	ck_assert_int_eq(leaders, 1);
	/* The new leader's no-op commits everywhere. */
	for (int id = 1; id <= 3; id++)
		ck_assert_uint_eq(status(c, id).commit, 2);
	cluster_free(c);
}
END_TEST

START_TEST(rule_candidate_yields_to_leader_of_its_term)
{
	struct cluster *c = cluster_new(3, 0);
	tick(c, 10);
	drain(c);
	c->drop_type = RAFT_MSG_VOTE;
	/* 2 becomes a candidate whose votes are lost. */
	struct raft_msg tn = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 1};
	tn.term = status(c, 2).term;
	step(c, 2, tn);
	ck_assert_int_eq(status(c, 2).role, RAFT_CANDIDATE);
	uint64_t t = status(c, 2).term;
	step(c, 2,
	     (struct raft_msg){
		     .type = RAFT_MSG_HEARTBEAT, .from = 3, .term = t});
	ck_assert_int_eq(status(c, 2).role, RAFT_FOLLOWER);
	ck_assert_uint_eq(status(c, 2).leader, 3);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(rule_commit_only_current_term)
{
	/* Figure 8: node 1 holds entry 2 of term 2, never replicated. */
	struct raft_conf conf = {.n = 3, .ids = {1, 2, 3}};
	uint8_t cbuf[64];
	raft_conf_encode(&conf, cbuf, sizeof(cbuf));
	struct raft_entry ents[2] = {
		{.term = 1,
		 .index = 1,
		 .type = RAFT_ENTRY_CONFIG,
		 .len = raft_conf_size(&conf),
		 .data = cbuf},
		{.term = 2, .index = 2, .type = RAFT_ENTRY_NORMAL},
	};
	struct cluster *c = cluster_alloc();
	for (int id = 1; id <= 3; id++) {
		struct raft_options o = opts((uint64_t)id);
		o.max_batch = 1;
		struct raft_hard_state hs = {.term = 3, .commit = 1};
		ck_assert_int_eq(raft_new(&o, &c->net.r[id]), 0);
		ck_assert_int_eq(raft_restore(c->net.r[id], &hs, NULL, ents,
					      id == 1 ? 2 : 1),
				 0);
	}
	flush(c);
	c->applied[1] = c->applied[2] = c->applied[3] = 1;
	/* Node 3 is away. Node 1 wins with node 2's vote, brings node 2 up
	 * to date one entry at a time: entry 2 (term 2) then reaches a
	 * majority before the no-op (term 4) does, and must not commit. */
	for (int id = 1; id <= 3; id++)
		c->net.cut[3][id] = c->net.cut[id][3] = true;
	struct raft_msg tn = {
		.type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .term = 3};
	step(c, 1, tn);
	bool seen = false;
	while (deliver_one(c)) {
		if (status(c, 2).last_index != 2)
			continue;
		seen = true;
		ck_assert_uint_eq(status(c, 1).commit, 1);
	}
	ck_assert(seen);
	ck_assert_int_eq(status(c, 1).role, RAFT_LEADER);
	for (int id = 1; id <= 3; id++)
		c->net.cut[3][id] = c->net.cut[id][3] = false;
	tick(c, 3);
	ck_assert_uint_eq(status(c, 1).commit, 3);
	ck_assert_uint_eq(status(c, 3).commit, 3);
	cluster_free(c);
}
END_TEST

/* ---- PreVote and CheckQuorum ---- */

START_TEST(prevote_partitioned_node_does_not_disrupt)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	uint64_t t = status(c, 1).term;
	for (int id = 1; id <= 3; id++)
		c->net.cut[3][id] = c->net.cut[id][3] = true;
	tick(c, 100);
	/* Node 3 campaigned many times without raising its term. */
	ck_assert_uint_eq(status(c, 3).term, t);
	ck_assert_int_eq(status(c, 3).role, RAFT_PRECANDIDATE);
	for (int id = 1; id <= 3; id++)
		c->net.cut[3][id] = c->net.cut[id][3] = false;
	tick(c, 5);
	ck_assert_int_eq(status(c, 1).role, RAFT_LEADER);
	ck_assert_uint_eq(status(c, 1).term, t);
	ck_assert_int_eq(status(c, 3).role, RAFT_FOLLOWER);
	cluster_free(c);
}
END_TEST

START_TEST(check_quorum_isolated_leader_steps_down)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	for (int id = 1; id <= 3; id++)
		c->net.cut[1][id] = c->net.cut[id][1] = true;
	tick(c, 25);
	ck_assert_int_eq(status(c, 1).role, RAFT_FOLLOWER);
	/* The others elected a new leader in a higher term. */
	ck_assert(status(c, 2).role == RAFT_LEADER ||
		  status(c, 3).role == RAFT_LEADER);
	ck_assert_int_eq(raft_propose(c->net.r[1], "x", 1, NULL), -EPERM);
	cluster_free(c);
}
END_TEST

START_TEST(lease_ignores_votes_while_leader_is_heard)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	uint64_t t = status(c, 2).term;
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 3,
			       .term = t + 1,
			       .index = 99,
			       .log_term = 99});
	ck_assert_uint_eq(status(c, 2).term, t);
	/* Unless the leader itself asked for it (TimeoutNow). */
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_VOTE,
			       .from = 3,
			       .term = t + 1,
			       .index = 99,
			       .log_term = 99,
			       .force = true});
	ck_assert_uint_eq(status(c, 2).term, t + 1);
	ck_assert_uint_eq(status(c, 2).vote, 3);
	drain(c);
	cluster_free(c);
}
END_TEST

/* ---- replication ---- */

START_TEST(replication_batches_and_pipelines)
{
	struct cluster *c = cluster_new(3, 4);
	elect(c, 1);
	/* Pipeline: 20 proposals between two Readys go out at once, without
	 * waiting for answers, as full batches rather than one APPEND each. */
	size_t before = c->appends_to[2];
	for (uint64_t v = 0; v < 20; v++)
		ck_assert_int_eq(raft_propose(c->net.r[1], &v, 8, NULL), 0);
	flush(c);
	ck_assert_uint_eq(c->appends_to[2] - before, 20 / 4);
	ck_assert_uint_eq(c->max_entries, 4);
	deliver(c);
	/* Batches: a follower that missed 40 entries gets them four at a
	 * time. */
	c->net.cut[1][3] = true;
	for (uint64_t v = 0; v < 40; v++)
		propose(c, 1, v);
	c->net.cut[1][3] = false;
	before = c->appends_to[3];
	tick(c, 2);
	ck_assert_uint_eq(c->n_normal[3], 60);
	ck_assert_uint_le(c->appends_to[3] - before, 40 / 4 + 2);
	ck_assert_uint_eq(c->max_entries, 4);
	cluster_free(c);
}
END_TEST

START_TEST(replication_flow_control_slow_follower)
{
	struct cluster *c = cluster_new(3, 1);
	elect(c, 1);
	c->net.cut[1][3] = true; /* 3 hears nothing */
	for (uint64_t v = 0; v < 100; v++)
		ck_assert_int_eq(raft_propose(c->net.r[1], &v, 8, NULL), 0);
	/* Both followers are in replicate state: at most max_inflight (32)
	 * APPENDs of one entry each go out to each before the leader waits. */
	size_t before = c->sent[RAFT_MSG_APPEND];
	flush(c);
	ck_assert_uint_eq(c->sent[RAFT_MSG_APPEND] - before, 2 * 32);
	deliver(c);
	c->net.cut[1][3] = false;
	tick(c, 5);
	ck_assert_uint_eq(c->n_normal[3], 100);
	cluster_free(c);
}
END_TEST

START_TEST(replication_fast_backtracking)
{
	struct cluster *c = cluster_new(3, 64);
	elect(c, 1);
	/* Node 3 misses 50 entries, then catches up in a few round trips
	 * instead of 50. */
	c->net.cut[1][3] = true;
	for (uint64_t v = 0; v < 50; v++)
		propose(c, 1, v);
	c->net.cut[1][3] = false;
	size_t before = c->sent[RAFT_MSG_APPEND_RESP];
	tick(c, 1);
	ck_assert_uint_eq(status(c, 3).last_index, status(c, 1).last_index);
	ck_assert_uint_le(c->sent[RAFT_MSG_APPEND_RESP] - before, 8);
	cluster_free(c);
}
END_TEST

START_TEST(replication_conflict_term_hint)
{
	/* Node 2's log has 20 entries of term 2 the leader never had. */
	struct raft_conf conf = {.n = 2, .ids = {1, 2}};
	uint8_t cbuf[64];
	raft_conf_encode(&conf, cbuf, sizeof(cbuf));
	struct raft_entry ents[22];
	ents[0] = (struct raft_entry){.term = 1,
				      .index = 1,
				      .type = RAFT_ENTRY_CONFIG,
				      .len = raft_conf_size(&conf),
				      .data = cbuf};
	for (int i = 1; i < 22; i++)
		ents[i] = (struct raft_entry){.term = 2,
					      .index = (uint64_t)i + 1};
	struct cluster *c = cluster_alloc();
	struct raft_hard_state hs = {.term = 3, .commit = 1};
	ck_assert_int_eq(
		raft_new(&(struct raft_options){.id = 2}, &c->net.r[2]), 0);
	/* Leader 1 has term 3 entries at 2..3 after its own election. */
	struct raft_entry mine[3] = {
		ents[0], {.term = 3, .index = 2}, {.term = 3, .index = 3}};
	ck_assert_int_eq(
		raft_new(&(struct raft_options){.id = 1}, &c->net.r[1]), 0);
	hs.term = 4;
	ck_assert_int_eq(raft_restore(c->net.r[1], &hs, NULL, mine, 3), 0);
	hs.term = 3;
	ck_assert_int_eq(raft_restore(c->net.r[2], &hs, NULL, ents, 22), 0);
	flush(c);
	c->applied[1] = c->applied[2] = 1;
	struct raft_msg tn = {
		.type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .term = 4};
	step(c, 1, tn);
	size_t before = c->sent[RAFT_MSG_APPEND];
	deliver(c);
	ck_assert_int_eq(status(c, 1).role, RAFT_LEADER);
	ck_assert_uint_eq(status(c, 2).last_index, 4);
	ck_assert_uint_eq(status(c, 2).commit, 4);
	ck_assert_uint_le(c->sent[RAFT_MSG_APPEND] - before, 4);
	cluster_free(c);
}
END_TEST

START_TEST(leader_appends_noop)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 2);
	struct raft_status st = status(c, 2);
	ck_assert_uint_eq(st.last_index, 2);
	uint64_t t;
	ck_assert_int_eq(raft_term_at(c->net.r[2], 2, &t), 0);
	ck_assert_uint_eq(t, st.term);
	ck_assert_uint_eq(st.commit, 2);
	cluster_free(c);
}
END_TEST

START_TEST(single_node_cluster)
{
	struct cluster *c = cluster_new(1, 0);
	tick(c, 25);
	ck_assert_int_eq(status(c, 1).role, RAFT_LEADER);
	propose(c, 1, 5);
	ck_assert_uint_eq(c->n_normal[1], 1);
	ck_assert_int_eq(raft_read_index(c->net.r[1], 9), 0);
	flush(c);
	ck_assert_uint_eq(c->last_read_ctx[1], 9);
	cluster_free(c);
}
END_TEST

/* ---- snapshots ---- */

START_TEST(snapshot_sent_to_follower_behind_compaction)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	c->net.cut[1][3] = true;
	for (uint64_t v = 0; v < 20; v++)
		propose(c, 1, v);
	uint64_t applied = c->applied[1];
	ck_assert_int_eq(raft_compact(c->net.r[1], applied + 1), -EINVAL);
	ck_assert_int_eq(raft_compact(c->net.r[1], applied - 2), 0);
	ck_assert_uint_eq(raft_snapshot_meta(c->net.r[1])->index, applied - 2);
	ck_assert_uint_eq(status(c, 1).first_index, applied - 1);
	ck_assert_int_eq(raft_compact(c->net.r[1], 1), 0);
	c->net.cut[1][3] = false;
	tick(c, 3);
	ck_assert_uint_eq(c->snaps[3], 1);
	ck_assert_uint_eq(c->applied[3], c->applied[1]);
	ck_assert_uint_eq(raft_snapshot_meta(c->net.r[3])->index, applied - 2);
	ck_assert_uint_eq(raft_conf(c->net.r[3])->n, 3);
	/* Replication continues after the snapshot. */
	propose(c, 1, 99);
	ck_assert_uint_eq(c->applied[3], c->applied[1]);
	cluster_free(c);
}
END_TEST

START_TEST(snapshot_failure_reported_retries)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	c->net.cut[1][3] = true;
	for (uint64_t v = 0; v < 5; v++)
		propose(c, 1, v);
	ck_assert_int_eq(raft_compact(c->net.r[1], c->applied[1]), 0);
	c->net.cut[1][3] = false;
	c->drop_type = RAFT_MSG_SNAPSHOT;
	tick(c, 1);
	raft_report_snapshot(c->net.r[1], 3, false);
	c->drop_type = 0;
	tick(c, 3);
	ck_assert_uint_eq(c->applied[3], c->applied[1]);
	cluster_free(c);
}
END_TEST

START_TEST(restart_from_persisted_state)
{
	struct raft_conf conf = {.n = 1, .ids = {1}};
	struct raft_snap_meta snap = {.index = 5, .term = 2, .conf = conf};
	struct raft_entry ents[2] = {{.term = 2, .index = 6},
				     {.term = 3, .index = 7}};
	struct raft_hard_state hs = {.term = 3, .vote = 1, .commit = 6};
	struct raft *r;
	ck_assert_int_eq(raft_new(&(struct raft_options){.id = 1}, &r), 0);
	ck_assert_int_eq(raft_restore(r, &hs, &snap, ents, 2), 0);
	ck_assert_int_eq(raft_restore(r, &hs, &snap, ents, 2), -EINVAL);
	ck_assert_int_eq(raft_bootstrap(r, &conf), -EINVAL);
	struct raft_status st;
	raft_status(r, &st);
	ck_assert_uint_eq(st.term, 3);
	ck_assert_uint_eq(st.vote, 1);
	ck_assert_uint_eq(st.first_index, 6);
	ck_assert_uint_eq(st.last_index, 7);
	/* Committed entries above the snapshot are applied again. */
	struct raft_ready rd;
	ck_assert(raft_has_ready(r));
	raft_ready(r, &rd);
	ck_assert_uint_eq(rd.n_committed, 1);
	ck_assert_uint_eq(rd.n_entries, 0);
	ck_assert(!rd.hs_changed);
	raft_advance(r, &rd);
	ck_assert(!raft_has_ready(r));
	uint64_t t;
	ck_assert_int_eq(raft_term_at(r, 4, &t), -ENOENT);
	raft_free(r);
	/* Entries that do not follow the snapshot are refused. */
	ck_assert_int_eq(raft_new(&(struct raft_options){.id = 1}, &r), 0);
	ck_assert_int_eq(raft_restore(r, &hs, &snap, ents + 1, 1), -EINVAL);
	raft_free(r);
}
END_TEST

/* ---- membership ---- */

START_TEST(membership_learner_then_voter)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	for (uint64_t v = 0; v < 10; v++)
		propose(c, 1, v);
	/* The new node starts empty and joins as a learner. */
	ck_assert_int_eq(
		raft_new(&(struct raft_options){.id = 4}, &c->net.r[4]), 0);
	c->net.cut[1][4] = true;
	ck_assert_int_eq(raft_propose_conf(c->net.r[1], RAFT_CONF_PROMOTE, 4,
					   NULL, NULL),
			 -EINVAL);
	uint64_t at;
	char longer[RAFT_ADDR_MAX + 1];
	memset(longer, 'a', RAFT_ADDR_MAX);
	longer[RAFT_ADDR_MAX] = '\0';
	ck_assert_int_eq(raft_propose_conf(c->net.r[1], RAFT_CONF_ADD_LEARNER,
					   4, longer, &at),
			 -EINVAL);
	ck_assert_int_eq(raft_propose_conf(c->net.r[1], RAFT_CONF_ADD_LEARNER,
					   4, "http://n4", &at),
			 0);
	/* One change at a time. */
	ck_assert_int_eq(
		raft_propose_conf(c->net.r[1], RAFT_CONF_REMOVE, 3, NULL, NULL),
		-EBUSY);
	deliver(c);
	ck_assert_uint_ge(status(c, 1).commit, at);
	ck_assert_uint_eq(raft_conf(c->net.r[1])->n, 4);
	/* Not caught up: promotion refused. */
	ck_assert_int_eq(raft_propose_conf(c->net.r[1], RAFT_CONF_PROMOTE, 4,
					   NULL, NULL),
			 -EBUSY);
	c->net.cut[1][4] = false;
	tick(c, 3);
	ck_assert_uint_eq(c->n_normal[4], 10);
	/* A learner never campaigns. */
	ck_assert_int_eq(status(c, 4).role, RAFT_FOLLOWER);
	ck_assert_int_eq(raft_propose_conf(c->net.r[1], RAFT_CONF_PROMOTE, 4,
					   NULL, NULL),
			 0);
	deliver(c);
	tick(c, 1);
	/* The address replicated with the configuration, and the promotion
	 * kept it. */
	const struct raft_conf *conf = raft_conf(c->net.r[4]);
	ck_assert(!conf->learner[raft_conf_find(conf, 4)]);
	ck_assert_str_eq(conf->addr[raft_conf_find(conf, 4)], "http://n4");
	conf = raft_conf(c->net.r[2]);
	ck_assert_str_eq(conf->addr[raft_conf_find(conf, 4)], "http://n4");
	/* Four voters: the commit needs three of them. */
	c->net.cut[1][2] = c->net.cut[1][3] = true;
	propose(c, 1, 77);
	ck_assert_uint_eq(c->n_normal[1], 10);
	c->net.cut[1][2] = false;
	tick(c, 1);
	ck_assert_uint_eq(c->n_normal[1], 11);
	cluster_free(c);
}
END_TEST

START_TEST(membership_remove_leader_steps_down)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	ck_assert_int_eq(raft_propose_conf(c->net.r[1], RAFT_CONF_ADD_LEARNER,
					   1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(raft_propose_conf(c->net.r[1], 0, 1, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(
		raft_propose_conf(c->net.r[1], RAFT_CONF_REMOVE, 9, NULL, NULL),
		-EINVAL);
	ck_assert_int_eq(
		raft_propose_conf(c->net.r[1], RAFT_CONF_REMOVE, 1, NULL, NULL),
		0);
	deliver(c);
	ck_assert_int_eq(status(c, 1).role, RAFT_FOLLOWER);
	tick(c, 40);
	ck_assert(status(c, 2).role == RAFT_LEADER ||
		  status(c, 3).role == RAFT_LEADER);
	/* The removed node stays quiet. */
	ck_assert_int_eq(status(c, 1).role, RAFT_FOLLOWER);
	int lead = status(c, 2).role == RAFT_LEADER ? 2 : 3;
	ck_assert_int_eq(raft_propose_conf(c->net.r[lead], RAFT_CONF_REMOVE, 1,
					   NULL, NULL),
			 -EINVAL);
	cluster_free(c);
}
END_TEST

/* ---- leadership transfer ---- */

START_TEST(transfer_leadership)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	ck_assert_int_eq(raft_transfer_leadership(c->net.r[2], 3), -EPERM);
	ck_assert_int_eq(raft_transfer_leadership(c->net.r[1], 9), -EINVAL);
	ck_assert_int_eq(raft_transfer_leadership(c->net.r[1], 1), 0);
	/* Target behind: it is caught up first. */
	c->net.cut[1][3] = true;
	propose(c, 1, 1);
	c->net.cut[1][3] = false;
	ck_assert_int_eq(raft_transfer_leadership(c->net.r[1], 3), 0);
	ck_assert_int_eq(raft_propose(c->net.r[1], "x", 1, NULL), -EBUSY);
	ck_assert(!raft_lease_valid(c->net.r[1]));
	deliver(c);
	ck_assert_int_eq(status(c, 3).role, RAFT_LEADER);
	ck_assert_int_eq(status(c, 1).role, RAFT_FOLLOWER);
	propose(c, 3, 2);
	ck_assert_uint_eq(c->n_normal[1], 2);
	cluster_free(c);
}
END_TEST

START_TEST(transfer_aborts_when_target_is_gone)
{
	struct cluster *c = cluster_new(3, 0);
	elect(c, 1);
	for (int id = 1; id <= 3; id++)
		c->net.cut[3][id] = c->net.cut[id][3] = true;
	ck_assert_int_eq(raft_transfer_leadership(c->net.r[1], 3), 0);
	tick(c, 12);
	ck_assert_int_eq(status(c, 1).role, RAFT_LEADER);
	ck_assert_int_eq(raft_propose(c->net.r[1], "x", 1, NULL), 0);
	cluster_free(c);
}
END_TEST

/* ---- reads ---- */

START_TEST(read_index_at_leader_and_follower)
{
	struct cluster *c = cluster_new(3, 0);
	ck_assert_int_eq(raft_read_index(c->net.r[1], 1), -EPERM);
	elect(c, 1);
	propose(c, 1, 5);
	uint64_t commit = status(c, 1).commit;
	size_t hb = c->sent[RAFT_MSG_HEARTBEAT];
	ck_assert_int_eq(raft_read_index(c->net.r[1], 11), 0);
	deliver(c);
	/* Confirmed by a heartbeat round, not by a log write. */
	ck_assert_uint_gt(c->sent[RAFT_MSG_HEARTBEAT], hb);
	ck_assert_uint_eq(status(c, 1).last_index, commit);
	ck_assert_uint_eq(c->last_read_ctx[1], 11);
	ck_assert_uint_eq(c->last_read_index[1], commit);
	ck_assert_int_eq(raft_read_index(c->net.r[2], 12), 0);
	deliver(c);
	ck_assert_uint_eq(c->last_read_ctx[2], 12);
	ck_assert_uint_eq(c->last_read_index[2], commit);
	/* A leader cut off from the others never answers. */
	for (int id = 2; id <= 3; id++)
		c->net.cut[1][id] = c->net.cut[id][1] = true;
	ck_assert_int_eq(raft_read_index(c->net.r[1], 13), 0);
	deliver(c);
	ck_assert_uint_eq(c->last_read_ctx[1], 11);
	cluster_free(c);
}
END_TEST

/* Commit is volatile (Raft figure 2): a Ready that only moves it asks for
 * no write, and committed entries are handed out once they are in the
 * stable log, so they can be applied while new ones are persisted. */
START_TEST(ready_commit_alone_is_not_persisted)
{
	uint64_t t, base;
	struct cluster *c = leader_1(&t, &base);
	ck_assert_uint_eq(status(c, 2).commit, base);
	append_to_2(c, t, base, 2, base + 1);
	struct ready_sum rs = ready_sum(c->net.r[2]);
	ck_assert_uint_eq(rs.n_entries, 2);
	ck_assert(rs.hs_changed); /* rides along with the entries */
	ck_assert_uint_eq(rs.hs_commit, base + 1);
	ck_assert_uint_eq(rs.n_committed, 0); /* base + 1 was not stable */
	rs = ready_sum(c->net.r[2]);
	ck_assert_uint_eq(rs.n_entries, 0);
	ck_assert_uint_eq(rs.n_committed, 1);
	ck_assert_uint_eq(rs.last_committed, base + 1);
	ck_assert(!raft_has_ready(c->net.r[2]));
	append_to_2(c, t, base + 2, 0, base + 2);
	rs = ready_sum(c->net.r[2]);
	ck_assert(!rs.hs_changed);
	ck_assert_uint_eq(rs.n_entries, 0);
	ck_assert_uint_eq(rs.last_committed, base + 2);
	ck_assert(!raft_has_ready(c->net.r[2]));
	/* A new term must be durable before anything is answered. */
	struct raft_msg hb = {
		.type = RAFT_MSG_HEARTBEAT, .from = 3, .to = 2, .term = t + 1};
	ck_assert_int_eq(raft_step(c->net.r[2], &hb), 0);
	rs = ready_sum(c->net.r[2]);
	ck_assert(rs.hs_changed);
	drain(c);
	cluster_free(c);
}
END_TEST

/* A follower's read index is committed: the follower may commit that far
 * at once, but only over entries this term's leader has vouched for. */
START_TEST(read_index_commits_at_follower)
{
	uint64_t t, base;
	struct cluster *c = leader_1(&t, &base);
	append_to_2(c, t, base, 4, base);
	while (raft_has_ready(c->net.r[2]))
		ready_sum(c->net.r[2]);
	ck_assert_uint_eq(status(c, 2).commit, base);
	read_resp_to_2(c, 1, t, base + 2);
	struct ready_sum rs = ready_sum(c->net.r[2]);
	ck_assert_uint_eq(rs.n_committed, 2);
	ck_assert_uint_eq(rs.last_committed, base + 2);
	ck_assert_uint_eq(rs.n_reads, 1);
	ck_assert_uint_eq(rs.read_index, base + 2);
	ck_assert(!rs.hs_changed);
	/* Entries the leader has not sent us are not committed here. */
	read_resp_to_2(c, 1, t, base + 9);
	ck_assert_uint_eq(status(c, 2).commit, base + 4);
	/* A new leader has vouched for nothing yet: the entries of the old
	 * one it has not confirmed stay uncommitted. */
	append_to_2(c, t, base + 4, 2, base + 4);
	while (raft_has_ready(c->net.r[2]))
		ready_sum(c->net.r[2]);
	struct raft_msg hb = {
		.type = RAFT_MSG_HEARTBEAT, .from = 3, .to = 2, .term = t + 1};
	ck_assert_int_eq(raft_step(c->net.r[2], &hb), 0);
	read_resp_to_2(c, 3, t + 1, base + 6);
	ck_assert_uint_eq(status(c, 2).commit, base + 4);
	while (raft_has_ready(c->net.r[2]))
		ready_sum(c->net.r[2]);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(read_index_waits_for_first_commit)
{
	struct cluster *c = cluster_new(3, 0);
	tick(c, 10);
	c->net.cut[1][2] = c->net.cut[1][3] = true;
	struct raft_msg tn = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 2};
	tn.term = status(c, 1).term;
	step(c, 1, tn);
	c->net.cut[1][2] = c->net.cut[1][3] = false;
	drain(c);
	/* Fake the votes: leader whose no-op is not committed. */
	for (int id = 2; id <= 3; id++)
		step(c, 1,
		     (struct raft_msg){.type = RAFT_MSG_VOTE_RESP,
				       .from = (uint64_t)id,
				       .term = status(c, 1).term});
	ck_assert_int_eq(status(c, 1).role, RAFT_LEADER);
	ck_assert_int_eq(raft_read_index(c->net.r[1], 1), -EAGAIN);
	ck_assert_int_eq(
		raft_propose_conf(c->net.r[1], RAFT_CONF_REMOVE, 3, NULL, NULL),
		-EBUSY);
	/* A follower's read is refused the same way. */
	step(c, 1,
	     (struct raft_msg){.type = RAFT_MSG_READ_INDEX,
			       .from = 2,
			       .term = status(c, 1).term,
			       .ctx = 5});
	struct memnet_packet p;
	struct raft_msg m = take_last(c, &p);
	ck_assert_int_eq(m.type, RAFT_MSG_READ_INDEX_RESP);
	ck_assert(m.reject);
	free(p.buf);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(lease_read_without_round_trip)
{
	struct cluster *c = cluster_alloc();
	struct raft_conf conf = {.n = 3, .ids = {1, 2, 3}};
	for (int id = 1; id <= 3; id++) {
		struct raft_options o = opts((uint64_t)id);
		o.lease_reads = true;
		ck_assert_int_eq(raft_new(&o, &c->net.r[id]), 0);
		ck_assert_int_eq(raft_bootstrap(c->net.r[id], &conf), 0);
	}
	flush(c);
	tick(c, 10);
	elect(c, 1);
	ck_assert(!raft_lease_valid(c->net.r[2]));
	tick(c, 1);
	ck_assert(raft_lease_valid(c->net.r[1]));
	size_t hb = c->sent[RAFT_MSG_HEARTBEAT];
	ck_assert_int_eq(raft_read_index(c->net.r[1], 21), 0);
	flush(c);
	ck_assert_uint_eq(c->sent[RAFT_MSG_HEARTBEAT], hb);
	ck_assert_uint_eq(c->last_read_ctx[1], 21);
	/* A follower's read is answered from the lease too. */
	ck_assert_int_eq(raft_read_index(c->net.r[3], 22), 0);
	deliver(c);
	ck_assert_uint_eq(c->last_read_ctx[3], 22);
	/* Cut off, the lease runs out before anyone else may lead, and
	 * raft_lease_ticks counts down to the tick where it does. */
	for (int id = 2; id <= 3; id++)
		c->net.cut[1][id] = c->net.cut[id][1] = true;
	unsigned left = raft_lease_ticks(c->net.r[1]);
	ck_assert_uint_gt(left, 0);
	ck_assert_uint_eq(raft_lease_ticks(c->net.r[2]), 0);
	for (unsigned i = 1; i < left; i++) {
		tick(c, 1);
		ck_assert_uint_eq(raft_lease_ticks(c->net.r[1]), left - i);
		ck_assert(raft_lease_valid(c->net.r[1]));
	}
	tick(c, 1);
	ck_assert_uint_eq(raft_lease_ticks(c->net.r[1]), 0);
	ck_assert(!raft_lease_valid(c->net.r[1]));
	ck_assert_int_eq(status(c, 2).role, RAFT_FOLLOWER);
	ck_assert_int_eq(status(c, 3).role, RAFT_FOLLOWER);
	cluster_free(c);
}
END_TEST

/* ---- a peer that lies (raft.h, "Peers are not trusted") ---- */

/* An entry of type CONFIG carrying conf, encoded into buf. */
static struct raft_entry conf_entry(const struct raft_conf *conf, uint64_t term,
				    uint64_t index, uint8_t *buf, size_t cap)
{
	ck_assert_int_eq(raft_conf_encode(conf, buf, cap), 0);
	return (struct raft_entry){.term = term,
				   .index = index,
				   .type = RAFT_ENTRY_CONFIG,
				   .len = raft_conf_size(conf),
				   .data = buf};
}

/* Steps m into node `to` and checks that nothing happened: no message,
 * no change of term, vote, leader, commit or log. */
static void assert_dropped(struct cluster *c, int to, struct raft_msg m)
{
	struct raft_status before = status(c, to);
	size_t queued = c->net.n;
	ck_assert_int_eq(raft_step(c->net.r[to], &m), 0);
	flush(c);
	struct raft_status after = status(c, to);
	ck_assert_uint_eq(c->net.n, queued);
	ck_assert_uint_eq(after.term, before.term);
	ck_assert_uint_eq(after.vote, before.vote);
	ck_assert_uint_eq(after.leader, before.leader);
	ck_assert_uint_eq(after.commit, before.commit);
	ck_assert_uint_eq(after.last_index, before.last_index);
	ck_assert_int_eq(after.role, before.role);
}

START_TEST(defend_drops_message_for_another_node)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	/* Sent to 3, delivered to 2: a stale address after a move. */
	assert_dropped(c, 2,
		       (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
					 .from = 1,
					 .to = 3,
					 .term = t + 1});
	cluster_free(c);
}
END_TEST

START_TEST(defend_drops_sender_outside_configuration)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	/* A forced vote passes the lease: only membership stops it. */
	struct raft_msg v = {.type = RAFT_MSG_VOTE,
			     .from = 99,
			     .to = 2,
			     .term = t + 1,
			     .index = 99,
			     .log_term = 99,
			     .force = true};
	assert_dropped(c, 2, v);
	v.type = RAFT_MSG_PREVOTE;
	assert_dropped(c, 2, v);
	/* Nor from nobody, nor in our own name. */
	v.from = 0;
	assert_dropped(c, 2, v);
	v.from = 2;
	assert_dropped(c, 2, v);
	/* Leader messages too, while 2 hears its own leader. */
	assert_dropped(c, 2,
		       (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
					 .from = 99,
					 .to = 2,
					 .term = t + 1});
	/* At the leader, an answer from a stranger counts for nothing, and
	 * its claim to lead a later term deposes no one, however long the
	 * leader has led. */
	assert_dropped(c, 1,
		       (struct raft_msg){.type = RAFT_MSG_APPEND_RESP,
					 .from = 99,
					 .to = 1,
					 .term = t + 1});
	tick(c, 20);
	assert_dropped(c, 1,
		       (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
					 .from = 99,
					 .to = 1,
					 .term = t + 1});
	cluster_free(c);
}
END_TEST

/* A new node learns the log from a leader it cannot know yet, and keeps
 * following it through configurations older than the one adding it. */
START_TEST(defend_joining_node_follows_leader_through_old_confs)
{
	struct cluster *c = cluster_alloc();
	ck_assert_int_eq(
		raft_new(&(struct raft_options){.id = 6}, &c->net.r[6]), 0);
	/* Waiting to join, it takes no vote from anyone. */
	assert_dropped(c, 6,
		       (struct raft_msg){.type = RAFT_MSG_VOTE,
					 .from = 4,
					 .to = 6,
					 .term = 3,
					 .force = true});
	struct raft_conf old = {.n = 3, .ids = {1, 2, 3}};
	struct raft_conf mid = {.n = 4, .ids = {1, 2, 3, 4}};
	uint8_t b1[64], b2[64];
	struct raft_entry e[2] = {conf_entry(&old, 1, 1, b1, sizeof(b1)),
				  {.term = 2, .index = 2}};
	step(c, 6,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 4,
			       .term = 3,
			       .commit = 2,
			       .n_entries = 2,
			       .entries = e});
	ck_assert_uint_eq(status(c, 6).commit, 2);
	ck_assert_uint_eq(raft_conf(c->net.r[6])->n, 3);
	/* Leader 4 is not in {1, 2, 3}, nor is 6: 6 still follows it. */
	e[0] = conf_entry(&mid, 2, 3, b2, sizeof(b2));
	step(c, 6,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 4,
			       .term = 3,
			       .index = 2,
			       .log_term = 2,
			       .commit = 3,
			       .n_entries = 1,
			       .entries = e});
	ck_assert_uint_eq(status(c, 6).last_index, 3);
	ck_assert_uint_eq(status(c, 6).commit, 3);
	ck_assert_uint_eq(status(c, 6).leader, 4);
	cluster_free(c);
}
END_TEST

/* A member that slept through the changes adding the current leader
 * follows it once it has heard no leader for an election timeout. */
START_TEST(defend_lagging_member_follows_unknown_leader)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	struct raft_msg hb = {
		.type = RAFT_MSG_HEARTBEAT, .from = 5, .to = 2, .term = t + 1};
	assert_dropped(c, 2, hb);
	for (int i = 0; i < 10; i++)
		raft_tick(c->net.r[2]);
	drain(c);
	step(c, 2, hb);
	ck_assert_uint_eq(status(c, 2).term, t + 1);
	ck_assert_uint_eq(status(c, 2).leader, 5);
	/* Heard now, and still taken from it for the rest of its term. */
	struct raft_entry e = {.term = t + 1, .index = last + 1};
	step(c, 2,
	     (struct raft_msg){.type = RAFT_MSG_APPEND,
			       .from = 5,
			       .term = t + 1,
			       .index = last,
			       .log_term = t,
			       .n_entries = 1,
			       .entries = &e});
	ck_assert_uint_eq(status(c, 2).last_index, last + 1);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(defend_one_leader_per_term)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	assert_dropped(c, 2,
		       (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
					 .from = 3,
					 .to = 2,
					 .term = t,
					 .commit = last});
	/* A read is answered by the leader only. */
	read_resp_to_2(c, 3, t, 1);
	flush(c);
	ck_assert_uint_eq(c->last_read_ctx[2], 0);
	cluster_free(c);
}
END_TEST

/* The attack of issue 19: an ack for entries 2 was never sent let the
 * leader commit what only it holds. */
START_TEST(defend_forged_ack_does_not_commit)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	step(c, 1,
	     (struct raft_msg){.type = RAFT_MSG_APPEND_RESP,
			       .from = 2,
			       .term = t,
			       .index = 1000});
	c->net.cut[1][2] = c->net.cut[1][3] = true;
	propose(c, 1, 7);
	ck_assert_uint_eq(status(c, 1).last_index, last + 1);
	ck_assert_uint_eq(status(c, 1).commit, last);
	/* Once 2 really holds it, it commits. */
	c->net.cut[1][2] = false;
	tick(c, 2);
	ck_assert_uint_eq(status(c, 1).commit, last + 1);
	cluster_free(c);
}
END_TEST

/* A rejection of an index never sent would point the follower's next
 * APPEND past the log, where none can be built: it would starve. */
START_TEST(defend_reject_past_sent_is_ignored)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	step(c, 1,
	     (struct raft_msg){.type = RAFT_MSG_APPEND_RESP,
			       .from = 2,
			       .term = t,
			       .reject = true,
			       .index = 1000,
			       .hint = 999});
	propose(c, 1, 7);
	tick(c, 3);
	ck_assert_uint_eq(c->n_normal[2], 1);
	cluster_free(c);
}
END_TEST

/* Acknowledging a read round not started yet would confirm every later
 * read without the peer. */
START_TEST(defend_read_round_ack_clamped)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	step(c, 1,
	     (struct raft_msg){.type = RAFT_MSG_HEARTBEAT_RESP,
			       .from = 2,
			       .term = t,
			       .ctx = UINT64_MAX});
	for (int id = 2; id <= 3; id++)
		c->net.cut[1][id] = c->net.cut[id][1] = true;
	ck_assert_int_eq(raft_read_index(c->net.r[1], 5), 0);
	deliver(c);
	/* A late answer to an old round makes the leader count again. */
	step(c, 1,
	     (struct raft_msg){
		     .type = RAFT_MSG_HEARTBEAT_RESP, .from = 3, .term = t});
	ck_assert_uint_eq(c->last_read_ctx[1], 0);
	cluster_free(c);
}
END_TEST

/* An answer echoing a tick the leader has not reached would stretch its
 * lease past what the peers promised. */
START_TEST(defend_answer_from_the_future_dropped)
{
	struct cluster *c = cluster_alloc();
	struct raft_conf conf = {.n = 3, .ids = {1, 2, 3}};
	for (int id = 1; id <= 3; id++) {
		struct raft_options o = opts((uint64_t)id);
		o.lease_reads = true;
		ck_assert_int_eq(raft_new(&o, &c->net.r[id]), 0);
		ck_assert_int_eq(raft_bootstrap(c->net.r[id], &conf), 0);
	}
	flush(c);
	tick(c, 10);
	elect(c, 1);
	tick(c, 1); /* the leader's clock is at 11, acknowledged */
	ck_assert_uint_eq(raft_lease_ticks(c->net.r[1]), 9);
	for (int id = 2; id <= 3; id++) {
		c->net.cut[1][id] = c->net.cut[id][1] = true;
		step(c, 1,
		     (struct raft_msg){.type = RAFT_MSG_HEARTBEAT_RESP,
				       .from = (uint64_t)id,
				       .term = status(c, 1).term,
				       .tick = 13});
	}
	tick(c, 2);
	ck_assert_uint_eq(raft_lease_ticks(c->net.r[1]), 7);
	cluster_free(c);
}
END_TEST

START_TEST(defend_term_overflow_dropped)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	struct raft_msg v = {.type = RAFT_MSG_VOTE,
			     .from = 3,
			     .to = 2,
			     .term = UINT64_MAX,
			     .index = 99,
			     .log_term = 99,
			     .force = true};
	assert_dropped(c, 2, v);
	v.type = RAFT_MSG_PREVOTE;
	assert_dropped(c, 2, v);
	assert_dropped(c, 2,
		       (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
					 .from = 1,
					 .to = 2,
					 .term = UINT64_MAX});
	/* The last term there is is a term like any other. */
	v.type = RAFT_MSG_VOTE;
	v.term = UINT64_MAX - 1;
	step(c, 2, v);
	ck_assert_uint_eq(status(c, 2).term, UINT64_MAX - 1);
	ck_assert_uint_eq(status(c, 2).vote, 3);
	drain(c);
	cluster_free(c);
}
END_TEST

/* A node campaigns up to the last term, never past it to 0. */
START_TEST(defend_term_stops_before_wrap)
{
	struct raft_conf conf = {.n = 1, .ids = {1}};
	struct raft_snap_meta snap = {.index = 1, .term = 1, .conf = conf};
	for (uint64_t from = UINT64_MAX - 2; from < UINT64_MAX; from++) {
		struct raft_hard_state hs = {.term = from, .commit = 1};
		struct raft *r;
		ck_assert_int_eq(raft_new(&(struct raft_options){.id = 1}, &r),
				 0);
		ck_assert_int_eq(raft_restore(r, &hs, &snap, NULL, 0), 0);
		for (int i = 0; i < 50; i++)
			raft_tick(r);
		struct raft_status st;
		raft_status(r, &st);
		ck_assert_uint_eq(st.term, UINT64_MAX - 1);
		ck_assert_int_eq(st.role, from == UINT64_MAX - 2
						  ? RAFT_LEADER
						  : RAFT_FOLLOWER);
		raft_free(r);
	}
}
END_TEST

/* Likewise the log: a snapshot at the last index leaves no room. */
START_TEST(defend_log_stops_before_wrap)
{
	struct raft_conf conf = {.n = 1, .ids = {1}};
	struct raft_snap_meta snap = {
		.index = UINT64_MAX - 1, .term = 1, .conf = conf};
	struct raft_hard_state hs = {.term = 1, .commit = snap.index};
	struct raft *r;
	ck_assert_int_eq(raft_new(&(struct raft_options){.id = 1}, &r), 0);
	ck_assert_int_eq(raft_restore(r, &hs, &snap, NULL, 0), 0);
	for (int i = 0; i < 50; i++)
		raft_tick(r);
	struct raft_status st;
	raft_status(r, &st);
	ck_assert_int_eq(st.role, RAFT_LEADER);
	ck_assert_uint_eq(st.last_index, UINT64_MAX - 1);
	ck_assert_int_eq(raft_propose(r, "x", 1, NULL), -ENOSPC);
	raft_free(r);
}
END_TEST

START_TEST(defend_malformed_append_dropped)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	/* Node 2's log starts after a snapshot: an entry below it would be
	 * read from before the array. */
	ck_assert_int_eq(raft_compact(c->net.r[2], last), 0);
	struct raft_entry e[2] = {{.term = t, .index = last + 1},
				  {.term = t, .index = last + 2}};
	struct raft_msg m = {.type = RAFT_MSG_APPEND,
			     .from = 1,
			     .to = 2,
			     .term = t,
			     .index = last,
			     .log_term = t,
			     .commit = last + 2,
			     .n_entries = 2,
			     .entries = e};
	e[1].index = last + 3; /* a gap */
	assert_dropped(c, 2, m);
	e[1].index = 1; /* behind the snapshot */
	assert_dropped(c, 2, m);
	e[1].index = last + 2;
	e[1].term = t + 1; /* past the leader's term */
	assert_dropped(c, 2, m);
	e[1].term = t;
	e[0].term = t - 1; /* before the previous entry's */
	assert_dropped(c, 2, m);
	e[0].term = t;
	e[1].type = 9;
	assert_dropped(c, 2, m);
	e[1].type = RAFT_ENTRY_CONFIG; /* whose payload is no conf */
	e[1].data = "xyz";
	e[1].len = 3;
	assert_dropped(c, 2, m);
	struct raft_msg far = {.type = RAFT_MSG_APPEND,
			       .from = 1,
			       .to = 2,
			       .term = t,
			       .index = UINT64_MAX};
	assert_dropped(c, 2, far);
	/* The same message, well formed, goes in. */
	e[1] = (struct raft_entry){.term = t, .index = last + 2};
	step(c, 2, m);
	ck_assert_uint_eq(status(c, 2).last_index, last + 2);
	drain(c);
	cluster_free(c);
}
END_TEST

START_TEST(defend_malformed_snapshot_dropped)
{
	uint64_t t, last;
	struct cluster *c = leader_1(&t, &last);
	struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT,
			     .from = 1,
			     .to = 2,
			     .term = t,
			     .snap = {.index = last + 10,
				      .term = t,
				      .conf = {.n = RAFT_MAX_NODES + 1}}};
	for (size_t i = 0; i < RAFT_MAX_NODES; i++)
		m.snap.conf.ids[i] = i + 1;
	assert_dropped(c, 2, m);
	m.snap.conf = (struct raft_conf){.n = 3, .ids = {1, 2, 2}};
	assert_dropped(c, 2, m);
	m.snap.conf.ids[2] = 0;
	assert_dropped(c, 2, m);
	m.snap.conf.ids[2] = 3;
	m.snap.term = t + 1;
	assert_dropped(c, 2, m);
	m.snap.term = 0;
	assert_dropped(c, 2, m);
	m.snap.term = t;
	m.snap.index = UINT64_MAX;
	assert_dropped(c, 2, m);
	ck_assert_uint_eq(raft_snapshot_meta(c->net.r[2])->index, 0);
	ck_assert_uint_eq(raft_conf(c->net.r[2])->n, 3);
	cluster_free(c);
}
END_TEST

START_TEST(codec_refuses_what_no_peer_sends)
{
	uint8_t buf[512];
	struct raft_conf conf;
	/* A configuration naming an id twice, or id 0. */
	struct raft_conf dup = {.n = 2, .ids = {4, 4}};
	ck_assert(!raft_conf_valid(&dup));
	ck_assert_int_eq(raft_conf_encode(&dup, buf, sizeof(buf)), -EINVAL);
	struct raft_conf ok = {.n = 2, .ids = {4, 5}};
	ck_assert(raft_conf_valid(&ok));
	ck_assert_int_eq(raft_conf_encode(&ok, buf, sizeof(buf)), 0);
	memcpy(buf + 4 + 9, buf + 4, 8); /* the second id is the first */
	ck_assert_int_eq(raft_conf_decode(buf, raft_conf_size(&ok), &conf),
			 -EINVAL);
	memset(buf + 4, 0, 8);
	ck_assert_int_eq(raft_conf_decode(buf, raft_conf_size(&ok), &conf),
			 -EINVAL);
	struct raft *r;
	ck_assert_int_eq(raft_new(&(struct raft_options){.id = 4}, &r), 0);
	ck_assert_int_eq(raft_bootstrap(r, &dup), -EINVAL);
	raft_free(r);
	/* The same in a snapshot message. */
	struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .snap.conf = ok};
	size_t len = raft_msg_size(&m);
	ck_assert_int_eq(raft_msg_encode(&m, buf, sizeof(buf)), 0);
	memcpy(buf + len - 9, buf + len - 18, 8);
	struct raft_msg d;
	ck_assert_int_eq(raft_msg_decode(buf, len, &d), -EINVAL);
	m.snap.conf = dup;
	ck_assert_int_eq(raft_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* An entry of a type the core does not know. */
	struct raft_entry e = {.term = 1, .index = 1, .type = 3};
	m = (struct raft_msg){
		.type = RAFT_MSG_APPEND, .n_entries = 1, .entries = &e};
	len = raft_msg_size(&m);
	ck_assert_int_eq(raft_msg_encode(&m, buf, sizeof(buf)), 0);
	ck_assert_int_eq(raft_msg_decode(buf, len, &d), -EINVAL);
	/* A count of entries the bytes cannot hold allocates nothing. */
	m.n_entries = 0;
	len = raft_msg_size(&m);
	ck_assert_int_eq(raft_msg_encode(&m, buf, sizeof(buf)), 0);
	memset(buf + len - 4, 0xff, 4);
	ck_assert_int_eq(raft_msg_decode(buf, len, &d), -EINVAL);
}
END_TEST

/* ---- API edges ---- */

START_TEST(options_are_validated)
{
	struct raft *r;
	ck_assert_int_eq(raft_new(&(struct raft_options){0}, &r), -EINVAL);
	ck_assert_int_eq(
		raft_new(&(struct raft_options){.id = 1, .max_inflight = 1000},
			 &r),
		-EINVAL);
	ck_assert_int_eq(raft_new(&(struct raft_options){.id = 1,
							 .election_ticks = 3,
							 .heartbeat_ticks = 3},
				  &r),
			 -EINVAL);
	raft_free(NULL);
	ck_assert_int_eq(raft_new(&(struct raft_options){.id = 1}, &r), 0);
	ck_assert_int_eq(raft_propose(r, "x", 1, NULL), -EPERM);
	ck_assert_int_eq(raft_propose_conf(r, RAFT_CONF_REMOVE, 1, NULL, NULL),
			 -EPERM);
	ck_assert(!raft_lease_valid(r));
	struct raft_conf big = {.n = RAFT_MAX_NODES + 1};
	ck_assert_int_eq(raft_bootstrap(r, &big), -EINVAL);
	ck_assert(!raft_has_ready(r));
	raft_report_snapshot(r, 2, true);
	raft_free(r);
}
END_TEST

/* ---- wire format ---- */

START_TEST(codec_round_trip)
{
	char a[] = "hello", b[] = "";
	struct raft_entry ents[2] = {
		{.term = 7,
		 .index = 8,
		 .type = RAFT_ENTRY_CONFIG,
		 .len = 5,
		 .data = a},
		{.term = 7,
		 .index = 9,
		 .type = RAFT_ENTRY_NOOP,
		 .len = 0,
		 .data = b},
	};
	struct raft_msg m = {
		.type = RAFT_MSG_SNAPSHOT,
		.reject = true,
		.force = true,
		.from = 1,
		.to = 2,
		.term = 3,
		.index = 4,
		.log_term = 5,
		.commit = 6,
		.hint = 7,
		.hint_term = 8,
		.ctx = 9,
		.tick = UINT64_MAX,
		.n_entries = 2,
		.entries = ents,
		.snap = {.index = 10,
			 .term = 11,
			 .conf = {.n = 2, .ids = {1, 5}, .learner = {0, 1}}},
	};
	size_t len = raft_msg_size(&m);
	uint8_t *buf = malloc(len);
	ck_assert_int_eq(raft_msg_encode(&m, buf, len - 1), -ENOSPC);
	ck_assert_int_eq(raft_msg_encode(&m, buf, len), 0);
	struct raft_msg d;
	ck_assert_int_eq(raft_msg_decode(buf, len, &d), 0);
	ck_assert_int_eq(d.type, m.type);
	ck_assert(d.reject && d.force);
	ck_assert_uint_eq(d.from + d.to + d.term + d.index + d.log_term +
				  d.commit + d.hint + d.hint_term + d.ctx,
			  45);
	ck_assert_uint_eq(d.tick, UINT64_MAX);
	ck_assert_uint_eq(d.n_entries, 2);
	ck_assert_uint_eq(d.entries[0].len, 5);
	ck_assert_mem_eq(d.entries[0].data, "hello", 5);
	ck_assert_uint_eq(d.entries[1].index, 9);
	ck_assert_int_eq(d.entries[1].type, RAFT_ENTRY_NOOP);
	ck_assert_uint_eq(d.snap.index, 10);
	ck_assert_uint_eq(d.snap.conf.n, 2);
	ck_assert(d.snap.conf.learner[1]);
	raft_msg_release(&d);
	/* Every truncation and a trailing byte are refused. */
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(raft_msg_decode(buf, cut, &d), -EINVAL);
	uint8_t *longer = calloc(1, len + 1);
	memcpy(longer, buf, len);
	ck_assert_int_eq(raft_msg_decode(longer, len + 1, &d), -EINVAL);
	buf[0] = 99;
	ck_assert_int_eq(raft_msg_decode(buf, len, &d), -EINVAL);
	buf[0] = 1;
	buf[1] = 0;
	ck_assert_int_eq(raft_msg_decode(buf, len, &d), -EINVAL);
	free(longer);
	free(buf);
}
END_TEST

START_TEST(codec_conf)
{
	struct raft_conf c = {.n = 3, .ids = {1, 2, 3}, .learner = {0, 0, 1}};
	uint8_t buf[64];
	ck_assert_int_eq(raft_conf_encode(&c, buf, 3), -ENOSPC);
	ck_assert_int_eq(raft_conf_encode(&c, buf, sizeof(buf)), 0);
	struct raft_conf d;
	ck_assert_int_eq(raft_conf_decode(buf, raft_conf_size(&c), &d), 0);
	ck_assert_uint_eq(d.n, 3);
	ck_assert(d.learner[2]);
	ck_assert_int_eq(raft_conf_find(&d, 3), 2);
	ck_assert_int_eq(raft_conf_find(&d, 4), -1);
	ck_assert_int_eq(raft_conf_decode(buf, raft_conf_size(&c) - 1, &d),
			 -EINVAL);
	uint8_t bad[4] = {200, 0, 0, 0};
	ck_assert_int_eq(raft_conf_decode(bad, 4, &d), -EINVAL);
	struct raft_conf big = {.n = RAFT_MAX_NODES + 1};
	ck_assert_int_eq(raft_conf_encode(&big, buf, sizeof(buf)), -EINVAL);
	struct raft_msg m = {.type = RAFT_MSG_APPEND, .snap.conf = big};
	ck_assert_int_eq(raft_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}
END_TEST

/* Addresses ride with their members; a configuration written before
 * there were addresses (flags 0 or 1, nothing after) reads as none. */
START_TEST(codec_conf_addresses)
{
	struct raft_conf c = {.n = 2, .ids = {7, 9}, .learner = {0, 1}};
	strcpy(c.addr[0], "http://127.0.0.1:3001");
	uint8_t buf[RAFT_CONF_MAX_SIZE];
	ck_assert_uint_eq(raft_conf_size(&c), 4 + 9 + 2 + 21 + 9);
	ck_assert_int_eq(raft_conf_encode(&c, buf, raft_conf_size(&c) - 1),
			 -ENOSPC);
	ck_assert_int_eq(raft_conf_encode(&c, buf, sizeof(buf)), 0);
	struct raft_conf d;
	ck_assert_int_eq(raft_conf_decode(buf, raft_conf_size(&c), &d), 0);
	ck_assert_str_eq(d.addr[0], "http://127.0.0.1:3001");
	ck_assert_str_eq(d.addr[1], "");
	ck_assert(!d.learner[0] && d.learner[1]);
	/* Cut inside the address, a NUL in it, an unknown flag: refused. */
	ck_assert_int_eq(raft_conf_decode(buf, 4 + 9 + 2 + 10, &d), -EINVAL);
	buf[4 + 9 + 2 + 3] = '\0';
	ck_assert_int_eq(raft_conf_decode(buf, raft_conf_size(&c), &d),
			 -EINVAL);
	ck_assert_int_eq(raft_conf_encode(&c, buf, sizeof(buf)), 0);
	buf[4 + 8] |= 4;
	ck_assert_int_eq(raft_conf_decode(buf, raft_conf_size(&c), &d),
			 -EINVAL);
	/* A length past what an address may be. */
	ck_assert_int_eq(raft_conf_encode(&c, buf, sizeof(buf)), 0);
	buf[4 + 9] = RAFT_ADDR_MAX & 0xff;
	buf[4 + 9 + 1] = RAFT_ADDR_MAX >> 8;
	ck_assert_int_eq(raft_conf_decode(buf, sizeof(buf), &d), -EINVAL);
	/* An address that fills its slot without a NUL is no configuration. */
	memset(c.addr[1], 'x', RAFT_ADDR_MAX);
	ck_assert(!raft_conf_valid(&c));
	/* The old form: id, then 0 or 1. */
	const uint8_t old[] = {1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1};
	ck_assert_int_eq(raft_conf_decode(old, sizeof(old), &d), 0);
	ck_assert(d.n == 1 && d.ids[0] == 5 && d.learner[0]);
	ck_assert_str_eq(d.addr[0], "");
	/* In a snapshot message too. */
	strcpy(c.addr[1], "http://b");
	struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .snap.conf = c};
	size_t len = raft_msg_size(&m);
	ck_assert_int_eq(raft_msg_encode(&m, buf, sizeof(buf)), 0);
	struct raft_msg dm;
	ck_assert_int_eq(raft_msg_decode(buf, len, &dm), 0);
	ck_assert_str_eq(dm.snap.conf.addr[1], "http://b");
	raft_msg_release(&dm);
}
END_TEST

static Suite *raft_suite(void)
{
	Suite *s = suite_create("raft");
	TCase *fig2 = tcase_create("figure2");
	tcase_add_test(fig2, rule_higher_term_makes_follower);
	tcase_add_test(fig2, rule_apply_committed_in_order);
	tcase_add_test(fig2, rule_vote_rejects_stale_term);
	tcase_add_test(fig2, rule_vote_once_per_term);
	tcase_add_test(fig2, rule_vote_needs_up_to_date_log);
	tcase_add_test(fig2, rule_append_rejects_missing_prev);
	tcase_add_test(fig2, rule_append_truncates_conflicts_and_commits_min);
	tcase_add_test(fig2, rule_election_timeout_elects_a_leader);
	tcase_add_test(fig2, rule_candidate_yields_to_leader_of_its_term);
	tcase_add_test(fig2, rule_commit_only_current_term);
	suite_add_tcase(s, fig2);
	TCase *f = tcase_create("features");
	tcase_add_test(f, prevote_partitioned_node_does_not_disrupt);
	tcase_add_test(f, check_quorum_isolated_leader_steps_down);
	tcase_add_test(f, lease_ignores_votes_while_leader_is_heard);
	tcase_add_test(f, replication_batches_and_pipelines);
	tcase_add_test(f, replication_flow_control_slow_follower);
	tcase_add_test(f, replication_fast_backtracking);
	tcase_add_test(f, replication_conflict_term_hint);
	tcase_add_test(f, leader_appends_noop);
	tcase_add_test(f, single_node_cluster);
	tcase_add_test(f, snapshot_sent_to_follower_behind_compaction);
	tcase_add_test(f, snapshot_failure_reported_retries);
	tcase_add_test(f, restart_from_persisted_state);
	tcase_add_test(f, membership_learner_then_voter);
	tcase_add_test(f, membership_remove_leader_steps_down);
	tcase_add_test(f, transfer_leadership);
	tcase_add_test(f, transfer_aborts_when_target_is_gone);
	tcase_add_test(f, read_index_at_leader_and_follower);
	tcase_add_test(f, read_index_waits_for_first_commit);
	tcase_add_test(f, read_index_commits_at_follower);
	tcase_add_test(f, ready_commit_alone_is_not_persisted);
	tcase_add_test(f, lease_read_without_round_trip);
	tcase_add_test(f, options_are_validated);
	tcase_add_test(f, codec_round_trip);
	tcase_add_test(f, codec_conf);
	tcase_add_test(f, codec_conf_addresses);
	suite_add_tcase(s, f);
	TCase *d = tcase_create("defensive");
	tcase_add_test(d, defend_drops_message_for_another_node);
	tcase_add_test(d, defend_drops_sender_outside_configuration);
	tcase_add_test(d, defend_joining_node_follows_leader_through_old_confs);
	tcase_add_test(d, defend_lagging_member_follows_unknown_leader);
	tcase_add_test(d, defend_one_leader_per_term);
	tcase_add_test(d, defend_forged_ack_does_not_commit);
	tcase_add_test(d, defend_reject_past_sent_is_ignored);
	tcase_add_test(d, defend_read_round_ack_clamped);
	tcase_add_test(d, defend_answer_from_the_future_dropped);
	tcase_add_test(d, defend_term_overflow_dropped);
	tcase_add_test(d, defend_term_stops_before_wrap);
	tcase_add_test(d, defend_log_stops_before_wrap);
	tcase_add_test(d, defend_malformed_append_dropped);
	tcase_add_test(d, defend_malformed_snapshot_dropped);
	tcase_add_test(d, codec_refuses_what_no_peer_sends);
	suite_add_tcase(s, d);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(raft_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
