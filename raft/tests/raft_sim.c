/*
 * Deterministic simulator for the raft core. One seed drives everything: a
 * 3- or 5-node cluster, a network that drops, duplicates, delays and
 * reorders messages and partitions links (both ways or one way), nodes that
 * crash and restart from what they had persisted, and clients that propose,
 * read, change membership and transfer leadership. After every step the
 * Raft safety properties are checked; once the faults stop, the cluster
 * must elect a leader and commit every proposal within a bounded time.
 *
 * Usage: raft_sim [--seed S] [--seeds N] [--steps N] [-v]
 * Without --seed it runs seeds 1..N (5000, or 100000 with CASK_SOAK set);
 * --trace prints the cluster every 50 steps. A failure prints the command
 * that replays it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/tests/memnet.h"

#define SIM_NODES      9 /* ids 1..9; ids are never reused */
#define SIM_ELECTION   10
#define SIM_LIVE_TICKS 400
#define SIM_TABLE      (1u << 16)

_Static_assert(SIM_NODES <= MEMNET_MAX_ID, "every node id is a memnet slot");

/* A node's core is S.net.r[id], NULL while down. */
struct sim_node {
	bool exists;
	/* What survives a crash. */
	struct raft_hard_state hs;
	struct raft_snap_meta snap;
	uint64_t snap_hash;
	struct raft_entry *log; /* entries after snap.index */
	size_t n_log;
	size_t cap_log;
	/* The state machine: a hash chain over applied entries. */
	uint64_t applied;
	uint64_t hash;
	uint64_t incoming_hash;
	uint64_t lead_term;
};

struct sim_slot {
	uint32_t gen;
	uint64_t index;
	uint64_t term;
	uint64_t payload;
	uint64_t prev_term;
};

struct sim_link {
	uint64_t term;
	uint64_t hash;
};

struct sim_read {
	uint64_t ctx;
	int node;
	uint64_t required;
};

struct sim {
	uint64_t seed;
	uint64_t rng;
	uint64_t step;
	uint64_t steps;
	bool verbose;
	bool trace;
	bool faults;
	int n_initial;
	struct sim_node nodes[SIM_NODES + 1];
	int next_id;

	/* Packets are tagged with the snapshot payload streamed alongside;
	 * cut links (S.net.cut) lose what crosses them. */
	struct memnet net;
	unsigned drop_pct;
	unsigned dup_pct;
	unsigned max_delay;

	/* Ground truth, indexed by log index: term and state hash after
	 * applying it, as first seen on any node. */
	struct sim_link *chain;
	uint64_t known;
	size_t cap_chain;
	uint64_t *leaders; /* by term */
	size_t cap_leaders;

	uint64_t n_values;
	bool *value_applied;
	size_t cap_values;

	struct sim_read *reads;
	size_t n_reads;
	size_t cap_reads;
	uint64_t next_ctx;

	uint64_t stat_reads;
	uint64_t stat_applied;
	uint64_t stat_elections;
	uint64_t stat_snaps;
	uint64_t stat_led;
};

static struct sim_slot *table;
static uint32_t table_gen;

static struct sim S;

_Noreturn static void sim_fail(const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"raft_sim: seed %" PRIu64 " step %" PRIu64 ": %s\n"
		"replay: tests/raft_sim --seed %" PRIu64 " --steps %" PRIu64
		" -v\n",
		S.seed, S.step, why, S.seed, S.steps);
	exit(1);
}

static void *sim_grow(void *p, size_t *cap, size_t need, size_t sz)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	uint8_t *np = realloc(p, n * sz);
	if (!np)
		sim_fail("out of memory");
	memset(np + *cap * sz, 0, (n - *cap) * sz);
	*cap = n;
	return np;
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t sim_rand(void)
{
	return mix(S.rng += 0x9e3779b97f4a7c15ull);
}

static unsigned pick(unsigned n)
{
	return (unsigned)(sim_rand() % n);
}

static uint64_t hash_bytes(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = 0x84222325cbf29ce4ull ^ len;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return mix(h);
}

static uint64_t entry_hash(const struct raft_entry *e)
{
	return mix(hash_bytes(e->data, e->len) ^ (e->term << 8) ^ e->type);
}

/* ---- persisted log mirror ---- */

static uint64_t mirror_last(const struct sim_node *n)
{
	return n->snap.index + n->n_log;
}

static uint64_t mirror_term(const struct sim_node *n, uint64_t i)
{
	if (i == n->snap.index)
		return n->snap.term;
	if (i < n->snap.index || i > mirror_last(n))
		return 0;
	return n->log[i - n->snap.index - 1].term;
}

static void mirror_truncate(struct sim_node *n, uint64_t from)
{
	while (n->n_log && mirror_last(n) >= from)
		free(n->log[--n->n_log].data);
}

static void mirror_drop_prefix(struct sim_node *n, uint64_t upto)
{
	size_t drop = 0;
	while (drop < n->n_log && n->log[drop].index <= upto)
		free(n->log[drop++].data);
	memmove(n->log, n->log + drop, (n->n_log - drop) * sizeof(*n->log));
	n->n_log -= drop;
}

/* Log matching: the same (index, term) must always carry the same payload
 * and follow the same term; by induction the whole prefixes then agree. */
static void check_log_matching(uint64_t index, uint64_t term, uint64_t payload,
			       uint64_t prev_term)
{
	uint64_t h = mix(index * 31 + term) & (SIM_TABLE - 1);
	for (unsigned probe = 0; probe < SIM_TABLE; probe++) {
		struct sim_slot *s = &table[(h + probe) & (SIM_TABLE - 1)];
		if (s->gen != table_gen) {
			*s = (struct sim_slot){table_gen, index, term, payload,
					       prev_term};
			return;
		}
		if (s->index == index && s->term == term) {
			if (s->payload != payload || s->prev_term != prev_term)
				sim_fail("log matching: entry %" PRIu64
					 " term %" PRIu64 " differs",
					 index, term);
			return;
		}
	}
	sim_fail("log matching table full");
}

/* ---- state machine ---- */

static void chain_check(uint64_t index, uint64_t term, uint64_t hash)
{
	S.chain = sim_grow(S.chain, &S.cap_chain, index + 1, sizeof(*S.chain));
	if (index <= S.known) {
		if (S.chain[index].hash != hash || S.chain[index].term != term)
			sim_fail("state machine safety: index %" PRIu64
				 " applied differently",
				 index);
		return;
	}
	if (index != S.known + 1)
		sim_fail("state machine: index %" PRIu64
			 " applied with a gap after %" PRIu64,
			 index, S.known);
	S.chain[index] = (struct sim_link){term, hash};
	S.known = index;
}

static void apply(struct sim_node *n, const struct raft_entry *e)
{
	if (e->index != n->applied + 1)
		sim_fail("node applied %" PRIu64 " after %" PRIu64, e->index,
			 n->applied);
	n->hash = mix(n->hash ^ entry_hash(e));
	n->applied = e->index;
	chain_check(e->index, e->term, n->hash);
	S.stat_applied++;
	if (e->type == RAFT_ENTRY_NORMAL && e->len == 8) {
		uint64_t v;
		memcpy(&v, e->data, 8);
		if (v == 0 || v > S.n_values)
			sim_fail("applied a value never proposed");
		S.value_applied[v] = true;
	}
}

/* ---- network ---- */

/* Queues m for delivery after a random delay, with the snapshot that
 * would be streamed alongside. */
static void net_push(struct memnet *net, int from, const struct raft_msg *m)
{
	uint64_t at = S.step + (S.max_delay ? pick(S.max_delay + 1) : 0);
	if (memnet_queue(net, from, m, at, S.nodes[from].snap_hash))
		sim_fail("encode failed");
}

static void sim_send(struct memnet *net, int from, const struct raft_msg *m)
{
	if (m->to < 1 || m->to > SIM_NODES)
		sim_fail("message to unknown node %" PRIu64, m->to);
	if (m->type == RAFT_MSG_SNAPSHOT &&
	    m->snap.index != S.nodes[from].snap.index)
		sim_fail("snapshot message does not match persisted");
	net_push(net, from, m);
	if (S.dup_pct && pick(100) < S.dup_pct)
		net_push(net, from, m);
}

/* Lost to a node that is down, over a cut link, or at random; what
 * arrives brings its snapshot payload along. */
static bool sim_arrive(struct memnet *net, const struct memnet_packet *p)
{
	bool lost = !net->r[p->to] || net->cut[p->from][p->to] ||
		    (S.drop_pct && pick(100) < S.drop_pct);
	if (!lost)
		S.nodes[p->to].incoming_hash = p->tag;
	return !lost;
}

/* ---- ready processing ---- */

static void persist_entries(int id, const struct raft_ready *rd)
{
	struct sim_node *n = &S.nodes[id];
	if (!rd->n_entries)
		return;
	uint64_t first = rd->entries[0].index;
	if (rd->role == RAFT_LEADER && first != mirror_last(n) + 1)
		sim_fail("leader append-only: node %d rewrote from %" PRIu64,
			 id, first);
	if (first <= n->snap.index || first > mirror_last(n) + 1)
		sim_fail("entries to persist start at %" PRIu64, first);
	mirror_truncate(n, first);
	for (size_t i = 0; i < rd->n_entries; i++) {
		const struct raft_entry *e = &rd->entries[i];
		check_log_matching(e->index, e->term, entry_hash(e),
				   mirror_term(n, e->index - 1));
		n->log = sim_grow(n->log, &n->cap_log, n->n_log + 1,
				  sizeof(*n->log));
		struct raft_entry *c = &n->log[n->n_log++];
		*c = *e;
		c->data = malloc(e->len ? e->len : 1);
		if (e->len)
			memcpy(c->data, e->data, e->len);
	}
}

static void persist_hs(int id, const struct raft_ready *rd)
{
	struct sim_node *n = &S.nodes[id];
	const struct raft_hard_state *hs = &rd->hs;
	if (hs->term < n->hs.term ||
	    (hs->term == n->hs.term && n->hs.vote && hs->vote != n->hs.vote))
		sim_fail("node %d changed term/vote %" PRIu64 "/%" PRIu64
			 " -> %" PRIu64 "/%" PRIu64,
			 id, n->hs.term, n->hs.vote, hs->term, hs->vote);
	if (hs->commit < n->hs.commit)
		sim_fail("node %d commit went back", id);
	n->hs = *hs;
}

static void answer_reads(int id, const struct raft_ready *rd)
{
	for (size_t i = 0; i < rd->n_reads; i++) {
		const struct raft_read_state *rs = &rd->reads[i];
		for (size_t j = 0; j < S.n_reads; j++) {
			struct sim_read *sr = &S.reads[j];
			if (sr->ctx != rs->ctx)
				continue;
			if (sr->node != id)
				sim_fail("read answered on the wrong node");
			/* Serving at rs->index must include every write
			 * acknowledged before the read began. */
			if (rs->index < sr->required)
				sim_fail("stale read on node %d: index %" PRIu64
					 " < %" PRIu64,
					 id, rs->index, sr->required);
			S.stat_reads++;
			S.reads[j] = S.reads[--S.n_reads];
			break;
		}
	}
}

static void crash(int id);

/* Steps 1-3 of a Ready, checked against what the node persisted before. */
static bool sim_persist(struct memnet *net, int id, const struct raft_ready *rd)
{
	struct sim_node *n = &S.nodes[id];
	(void)net;
	if (rd->snapshot) {
		const struct raft_snap_meta *s = rd->snapshot;
		if (s->index <= n->applied)
			sim_fail("snapshot %" PRIu64 " behind applied %" PRIu64,
				 s->index, n->applied);
		if (s->index <= S.known &&
		    S.chain[s->index].hash != n->incoming_hash)
			sim_fail("snapshot payload mismatch");
		n->snap = *s;
		n->snap_hash = n->incoming_hash;
		mirror_truncate(n, 0);
		n->applied = s->index;
		n->hash = n->incoming_hash;
		S.stat_snaps++;
	}
	persist_entries(id, rd);
	persist_hs(id, rd);
	/* Power loss after the disk write, before anything left. */
	if (S.faults && pick(1000) == 0) {
		crash(id);
		return false;
	}
	return true;
}

static void sim_apply(struct memnet *net, int id, const struct raft_ready *rd)
{
	(void)net;
	for (size_t i = 0; i < rd->n_committed; i++)
		apply(&S.nodes[id], &rd->committed[i]);
	answer_reads(id, rd);
}

static const struct memnet_hooks sim_hooks = {
	.persist = sim_persist,
	.send = sim_send,
	.apply = sim_apply,
	.arrive = sim_arrive,
};

/* Election safety and leader completeness, for every live node. */
static void check_leaders(void)
{
	for (int id = 1; id <= SIM_NODES; id++) {
		struct sim_node *n = &S.nodes[id];
		struct raft *r = S.net.r[id];
		if (!r)
			continue;
		struct raft_status st;
		raft_status(r, &st);
		if (st.role != RAFT_LEADER)
			continue;
		S.leaders = sim_grow(S.leaders, &S.cap_leaders, st.term + 1,
				     sizeof(uint64_t));
		if (S.leaders[st.term] && S.leaders[st.term] != (uint64_t)id)
			sim_fail("election safety: %" PRIu64
				 " and %d lead term %" PRIu64,
				 S.leaders[st.term], id, st.term);
		S.leaders[st.term] = (uint64_t)id;
		if (n->lead_term == st.term)
			continue;
		n->lead_term = st.term;
		S.stat_elections++;
		if (st.last_index < S.known)
			sim_fail(
				"leader completeness: leader %d lacks %" PRIu64,
				id, S.known);
		for (uint64_t i = st.first_index; i <= S.known; i++) {
			uint64_t t = 0;
			raft_term_at(r, i, &t);
			if (t != S.chain[i].term)
				sim_fail("leader completeness: leader %d has "
					 "term %" PRIu64 " at %" PRIu64,
					 id, t, i);
		}
	}
}

/* With --trace: one line per node, to follow a failing seed. */
static void trace(void)
{
	printf("step %" PRIu64 " net %zu:", S.step, S.net.n);
	for (int id = 1; id <= SIM_NODES; id++) {
		struct raft_status st;
		if (!S.net.r[id]) {
			printf(" %d:%s", id, S.nodes[id].exists ? "down" : "-");
			continue;
		}
		raft_status(S.net.r[id], &st);
		printf(" %d:%c/t%" PRIu64 "/c%" PRIu64 "/l%" PRIu64, id,
		       "FPCL"[st.role], st.term, st.commit, st.last_index);
	}
	printf("\n");
}

static void settle(void)
{
	for (int id = 1; id <= SIM_NODES; id++)
		memnet_process(&S.net, id);
	check_leaders();
}

/* ---- node lifecycle ---- */

static void start(int id)
{
	struct sim_node *n = &S.nodes[id];
	struct raft_options o = {
		.id = (uint64_t)id,
		.election_ticks = SIM_ELECTION,
		.heartbeat_ticks = 1,
		.max_batch = pick(2) ? 1 : 1 + pick(64),
		.max_inflight = 1 + pick(8),
		.lease_reads = true,
		.seed = sim_rand(),
	};
	if (raft_new(&o, &S.net.r[id]))
		sim_fail("raft_new");
	if (raft_restore(S.net.r[id], &n->hs, &n->snap, n->log, n->n_log))
		sim_fail("raft_restore");
	n->applied = n->snap.index;
	n->hash = n->snap_hash;
	n->lead_term = 0;
	n->exists = true;
}

static void crash(int id)
{
	memnet_crash(&S.net, id);
	for (size_t j = 0; j < S.n_reads;)
		if (S.reads[j].node == id)
			S.reads[j] = S.reads[--S.n_reads];
		else
			j++;
}

static void deliver(size_t k)
{
	if (memnet_deliver(&S.net, k))
		sim_fail("decode failed");
}

/* ---- client actions ---- */

static int leader_id(void)
{
	int best = 0;
	uint64_t term = 0;
	for (int id = 1; id <= SIM_NODES; id++) {
		struct raft_status st;
		if (!S.net.r[id])
			continue;
		raft_status(S.net.r[id], &st);
		if (st.role == RAFT_LEADER && st.term >= term) {
			best = id;
			term = st.term;
		}
	}
	return best;
}

/* Any node that believes it leads: a deposed leader cut off from the
 * others still takes writes, which is how logs diverge. */
static int some_leader(void)
{
	int ids[SIM_NODES] = {0}, n = 0;
	for (int id = 1; id <= SIM_NODES; id++) {
		struct raft_status st;
		if (!S.net.r[id])
			continue;
		raft_status(S.net.r[id], &st);
		if (st.role == RAFT_LEADER)
			ids[n++] = id;
	}
	return n ? ids[pick((unsigned)n)] : 0;
}

static int random_live(void)
{
	int ids[SIM_NODES] = {0}, n = 0;
	for (int id = 1; id <= SIM_NODES; id++)
		if (S.net.r[id])
			ids[n++] = id;
	return n ? ids[pick((unsigned)n)] : 0;
}

static int random_down(void)
{
	int ids[SIM_NODES] = {0}, n = 0;
	for (int id = 1; id <= SIM_NODES; id++)
		if (S.nodes[id].exists && !S.net.r[id])
			ids[n++] = id;
	return n ? ids[pick((unsigned)n)] : 0;
}

static void propose_value(int id, uint64_t v)
{
	raft_propose(S.net.r[id], &v, sizeof(v), NULL);
}

static void client_propose(void)
{
	int id = pick(5) ? some_leader() : random_live();
	if (!id)
		return;
	S.value_applied = sim_grow(S.value_applied, &S.cap_values,
				   S.n_values + 2, sizeof(bool));
	uint64_t v = ++S.n_values;
	propose_value(id, v);
}

static void client_read(void)
{
	int id = pick(2) ? some_leader() : random_live();
	if (!id)
		return;
	uint64_t ctx = ++S.next_ctx;
	if (raft_read_index(S.net.r[id], ctx))
		return;
	S.reads = sim_grow(S.reads, &S.cap_reads, S.n_reads + 1,
			   sizeof(*S.reads));
	S.reads[S.n_reads++] = (struct sim_read){ctx, id, S.known};
}

static void client_membership(void)
{
	int lid = leader_id();
	if (!lid)
		return;
	struct raft *r = S.net.r[lid];
	const struct raft_conf *c = raft_conf(r);
	size_t voters = 0, learners = 0;
	for (size_t i = 0; i < c->n; i++)
		c->learner[i] ? learners++ : voters++;
	unsigned what = pick(3);
	if (what == 0 && S.next_id <= SIM_NODES) {
		if (raft_propose_conf(r, RAFT_CONF_ADD_LEARNER,
				      (uint64_t)S.next_id, NULL, NULL) == 0) {
			start(S.next_id);
			S.next_id++;
		}
	} else if (what == 1 && learners) {
		for (size_t i = 0; i < c->n; i++)
			if (c->learner[i]) {
				raft_propose_conf(r, RAFT_CONF_PROMOTE,
						  c->ids[i], NULL, NULL);
				break;
			}
	} else if (what == 2 && c->n) {
		size_t i = pick((unsigned)c->n);
		if (c->learner[i] || voters > 3)
			raft_propose_conf(r, RAFT_CONF_REMOVE, c->ids[i], NULL,
					  NULL);
	}
}

static void client_transfer(void)
{
	int lid = leader_id();
	if (!lid)
		return;
	const struct raft_conf *c = raft_conf(S.net.r[lid]);
	if (c->n)
		raft_transfer_leadership(S.net.r[lid],
					 c->ids[pick((unsigned)c->n)]);
}

static void compact(int id)
{
	struct sim_node *n = &S.nodes[id];
	if (n->applied <= n->snap.index)
		return;
	/* Sometimes keep a few entries, so a follower can catch up from
	 * the log or from the snapshot. */
	uint64_t back = pick(8);
	uint64_t at = n->applied - back > n->snap.index ? n->applied - back
							: n->applied;
	if (raft_compact(S.net.r[id], at))
		return;
	n->snap = *raft_snapshot_meta(S.net.r[id]);
	n->snap_hash = S.chain[at].hash;
	mirror_drop_prefix(n, at);
}

static void partition(void)
{
	memset(S.net.cut, 0, sizeof(S.net.cut));
	switch (pick(3)) {
	case 0: { /* one node, often a leader, cut off both ways */
		int a = some_leader();
		if (!a || pick(2))
			a = 1 + (int)pick(SIM_NODES);
		for (int b = 1; b <= SIM_NODES; b++)
			S.net.cut[a][b] = S.net.cut[b][a] = true;
		break;
	}
	case 1: /* random one-way cuts */
		for (int k = 0; k < 3; k++)
			S.net.cut[1 + pick(SIM_NODES)][1 + pick(SIM_NODES)] =
				true;
		break;
	default: /* split in two halves */
		for (int a = 1; a <= SIM_NODES; a++)
			for (int b = 1; b <= SIM_NODES; b++)
				S.net.cut[a][b] = (a & 1) != (b & 1);
		break;
	}
}

static void tick_all(void)
{
	memnet_tick(&S.net);
}

/* Deliver a few due messages, in random order. */
static void deliver_some(void)
{
	unsigned budget = 1 + pick(16);
	for (unsigned i = 0; i < budget; i++) {
		size_t due[64], n = 0;
		for (size_t k = 0; k < S.net.n && n < 64; k++)
			if (S.net.q[k].at <= S.step)
				due[n++] = k;
		if (!n)
			return;
		deliver(due[pick((unsigned)n)]);
		settle();
	}
}

static void fault_step(void)
{
	unsigned a = pick(1000);
	if (a < 150) {
		tick_all();
	} else if (a < 700) {
		deliver_some();
	} else if (a < 800) {
		client_propose();
	} else if (a < 870) {
		client_read();
	} else if (a < 885) {
		/* Leaders die young: that is where logs diverge. */
		int id = pick(2) ? some_leader() : random_live();
		if (id)
			crash(id);
	} else if (a < 920) {
		int id = random_down();
		if (id)
			start(id);
	} else if (a < 935) {
		partition();
	} else if (a < 950) {
		memset(S.net.cut, 0, sizeof(S.net.cut));
	} else if (a < 965) {
		client_membership();
	} else if (a < 975) {
		client_transfer();
	} else {
		int id = random_live();
		if (id)
			compact(id);
	}
}

/* After the faults: every proposal must end up applied everywhere. */
static void check_liveness(void)
{
	memset(S.net.cut, 0, sizeof(S.net.cut));
	S.drop_pct = S.dup_pct = 0;
	for (int id = 1; id <= SIM_NODES; id++)
		if (S.nodes[id].exists && !S.net.r[id])
			start(id);
	settle();
	unsigned retry_at = 0;
	for (unsigned t = 0; t < SIM_LIVE_TICKS; t++) {
		S.step++;
		tick_all();
		settle();
		while (S.net.n) {
			deliver(0);
			settle();
		}
		if (S.trace)
			trace();
		int lid = leader_id();
		if (!lid)
			continue;
		struct raft_status st;
		raft_status(S.net.r[lid], &st);
		/* Clients retry what a deposed leader may have dropped. */
		if (st.commit >= st.last_index && t >= retry_at) {
			retry_at = t + 2 * SIM_ELECTION;
			for (uint64_t v = 1; v <= S.n_values; v++)
				if (!S.value_applied[v])
					propose_value(lid, v);
			settle();
			continue;
		}
		bool done = st.commit == st.last_index;
		for (uint64_t v = 1; done && v <= S.n_values; v++)
			done = S.value_applied[v];
		const struct raft_conf *c = raft_conf(S.net.r[lid]);
		for (size_t i = 0; done && i < c->n; i++)
			done = S.nodes[c->ids[i]].applied == st.commit;
		if (done) {
			if (S.verbose)
				printf("seed %" PRIu64 ": converged in %u "
				       "ticks\n",
				       S.seed, t);
			return;
		}
	}
	uint64_t missing = 0;
	for (uint64_t v = 1; v <= S.n_values; v++)
		missing += !S.value_applied[v];
	sim_fail("liveness: no convergence %u ticks after the faults stopped"
		 " (leader %d, %" PRIu64 " values not applied)",
		 SIM_LIVE_TICKS, leader_id(), missing);
}

static void sim_reset(void)
{
	for (int id = 1; id <= SIM_NODES; id++) {
		struct sim_node *n = &S.nodes[id];
		mirror_truncate(n, 0);
		free(n->log);
	}
	memnet_free(&S.net);
	free(S.chain);
	free(S.leaders);
	free(S.value_applied);
	free(S.reads);
	bool verbose = S.verbose, tr = S.trace;
	memset(&S, 0, sizeof(S));
	memnet_init(&S.net, &sim_hooks, false, NULL);
	S.verbose = verbose;
	S.trace = tr;
}

static void run_seed(uint64_t seed, uint64_t steps)
{
	sim_reset();
	S.seed = seed;
	S.steps = steps;
	S.rng = seed * 0x9e3779b97f4a7c15ull;
	table_gen++;
	S.n_initial = seed & 1 ? 3 : 5;
	S.next_id = S.n_initial + 1;
	S.drop_pct = pick(10);
	S.dup_pct = pick(5);
	S.max_delay = pick(12);
	struct raft_conf conf = {.n = (size_t)S.n_initial};
	for (int id = 1; id <= S.n_initial; id++)
		conf.ids[id - 1] = (uint64_t)id;
	for (int id = 1; id <= S.n_initial; id++) {
		start(id);
		if (raft_bootstrap(S.net.r[id], &conf))
			sim_fail("bootstrap");
	}
	settle();
	S.faults = true;
	for (S.step = 1; S.step <= steps; S.step++) {
		fault_step();
		settle();
		S.stat_led += leader_id() != 0;
		if (S.trace && S.step % 50 == 0)
			trace();
	}
	S.faults = false;
	check_liveness();
	if (S.verbose)
		printf("seed %" PRIu64 ": %d nodes, %" PRIu64
		       " applied, %" PRIu64 " values, %" PRIu64
		       " reads, %" PRIu64 " elections, %" PRIu64
		       " snapshots, last index %" PRIu64 ", led %" PRIu64 "\n",
		       seed, S.n_initial, S.stat_applied, S.n_values,
		       S.stat_reads, S.stat_elections, S.stat_snaps, S.known,
		       S.stat_led);
}

int main(int argc, char **argv)
{
	uint64_t first = 1, seeds = getenv("CASK_SOAK") ? 100000 : 5000;
	uint64_t steps = 2000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 10);
			seeds = 1;
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			seeds = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--first") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
			steps = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--trace")) {
			S.trace = S.verbose = true;
		} else if (!strcmp(argv[i], "-v")) {
			S.verbose = true;
		} else {
			fprintf(stderr, "usage: raft_sim [--seed S | --first S "
					"--seeds N] [--steps N] [-v]\n");
			return 2;
		}
	}
	table = calloc(SIM_TABLE, sizeof(*table));
	if (!table)
		return 1;
	for (uint64_t s = first; s < first + seeds; s++)
		run_seed(s, steps);
	sim_reset();
	free(table);
	printf("raft_sim: %" PRIu64 " seeds x %" PRIu64 " steps passed\n",
	       seeds, steps);
	return 0;
}
