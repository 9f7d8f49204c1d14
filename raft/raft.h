/*
 * Raft consensus core: a pure state machine in the style of etcd's raft.
 *
 * The core does no I/O, reads no clock, draws no randomness of its own and
 * starts no threads. The caller drives it with four kinds of input:
 *
 *   raft_tick()        one unit of logical time (all nodes must tick at the
 *                      same nominal rate; lease reads assume bounded drift)
 *   raft_step()        a message received from a peer
 *   raft_propose*()    a client write or a membership change (leader only)
 *   raft_read_index()  a linearizable read request
 *
 * and takes back work with raft_ready() / raft_advance():
 *
 *   struct raft_ready rd;
 *   if (raft_has_ready(r)) {
 *           raft_ready(r, &rd);
 *           1. if rd.snapshot: install the snapshot payload that came with
 *              the RAFT_MSG_SNAPSHOT message and persist its metadata; the
 *              stable log is replaced by it (drop every stored entry).
 *           2. persist rd.entries: first delete every stored entry with
 *              index >= rd.entries[0].index, then append them.
 *           3. if rd.hs_changed: persist rd.hs (term, vote, commit).
 *              It is set when the term or vote moved, or when the commit
 *              moved in a Ready that persists entries or a snapshot
 *              anyway. A commit alone costs no write: commit is volatile
 *              in Raft, a restarted node relearns it from the leader, and
 *              a state machine ahead of the restored commit only skips
 *              what it already applied (see raft_restore).
 *           4. only now send rd.msgs (a vote or an append acknowledgement
 *              must never leave before the state it promises is durable).
 *           5. apply rd.committed in order. They are entries of the
 *              stable log only, durable before this Ready, so this step
 *              may come before 1-4 when there is no rd.snapshot.
 *           6. serve rd.reads once the applied index reaches their index.
 *           raft_advance(r, &rd);
 *   }
 *
 * Between raft_ready() and raft_advance() the caller must not call any
 * function that changes the core (tick, step, propose, read, transfer,
 * compact, report); the pointers in rd point into the core and stay valid
 * until raft_advance(). Getters are fine.
 *
 * A node that crashes loses everything it had not persisted. To restart it,
 * create a core with raft_new() and hand it what is on disk with
 * raft_restore(): hard state, snapshot metadata, stored entries.
 *
 * Memory: raft_new() allocates the core; the log is kept in memory from the
 * last compaction point on (raft_compact() frees the prefix); every payload
 * given to the core is copied. raft_propose*(), raft_read_index() and
 * raft_restore() return -ENOMEM when malloc fails; when queueing an outgoing
 * message fails, that message is dropped, which Raft treats as network
 * loss. raft_step() returns 0: messages that are stale for the current
 * term or state are ignored, as the protocol requires.
 *
 * Peers are not trusted. Whatever a message says, raft_step() neither
 * crashes nor breaks the core's invariants: what it cannot believe it
 * drops (returns 0 and changes nothing, not even the term). Dropped:
 *   - a message addressed to another id (a stale address), from id 0, or
 *     in this node's own name.
 *   - a term or index of UINT64_MAX. The node itself stops at
 *     UINT64_MAX - 1 (at that term it no longer campaigns; with a log at
 *     that index raft_propose*() returns -ENOSPC), so term + 1 and
 *     index + 1 never wrap, whatever a peer sent.
 *   - a sender outside the configuration: the committed one, or any that
 *     the log holds beyond it (a new member speaks before its entry
 *     commits everywhere). This keeps removed or misconfigured nodes
 *     from disrupting the cluster. One exception keeps it live: a
 *     node may not know the current leader yet, because it is joining
 *     (after raft_new() alone its configuration is empty, and while it
 *     replays the log it passes configurations that predate it) or
 *     because it slept through the changes that added that leader. So
 *     a non-leader takes APPEND, HEARTBEAT and SNAPSHOT from outside the
 *     configuration while it is not in its own configuration, or after
 *     it has heard no leader for election_ticks. After that it takes
 *     them from that leader for the rest of the leader's term. Votes
 *     come only from members.
 *   - in a term whose leader this node already follows, APPEND,
 *     HEARTBEAT and SNAPSHOT from any other sender (a term has one
 *     leader); READ_INDEX_RESP from anyone but the leader.
 *   - an APPEND whose entries do not follow its index one by one, or
 *     whose terms fall outside log_term..term, or whose types are
 *     unknown, or a CONFIG whose payload raft_conf_decode() refuses.
 *     A SNAPSHOT with index or term 0, a term past the message's, or a
 *     conf that raft_conf_valid() refuses.
 *   - at the leader, an answer that echoes a tick later than its clock.
 * Answers count only for what they answer. The leader clamps an
 * acknowledged index to the highest index it sent that peer in this
 * term, so a forged ack cannot make it count a replica of entries that
 * never left. It ignores a rejection of an index it never sent, and it
 * clamps an acknowledged read round to the last round it started. A
 * member can still lie about what it holds: Raft tolerates crashes, not
 * Byzantine peers, and authenticating peers is the transport's job.
 *
 * Threads: a core is not thread-safe; one thread at a time per core.
 *
 * Errors: functions return 0 on success or a negative errno:
 *   -EPERM   this node is not the leader (or knows none, for reads)
 *   -EBUSY   a leadership transfer or a membership change is in progress,
 *            or the learner to promote has not caught up
 *   -EAGAIN  the leader has not committed an entry of its term yet
 *   -EINVAL  bad argument; -ENOMEM out of memory; -ENOSPC buffer too small,
 *            or the log is at the last index there is
 */
#ifndef CASK_RAFT_H
#define CASK_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_MAX_NODES	  16  /* voters + learners in one configuration */
#define RAFT_ADDR_MAX	  128 /* a member's address, with its NUL */
#define RAFT_MAX_INFLIGHT 256 /* cap on raft_options.max_inflight */

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 0, /* opaque client payload */
	RAFT_ENTRY_CONFIG = 1, /* payload: raft_conf_encode() of the new set */
	RAFT_ENTRY_NOOP = 2,   /* appended by every new leader */
};

struct raft_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type; /* enum raft_entry_type */
	size_t len;
	void *data;
};

/* A cluster configuration: voters and non-voting learners, each with the
 * address its peers reach it at. The core only carries the addresses
 * (they replicate and snapshot with the configuration, so every member
 * learns them from the log, not from what a peer says); "" is none, as in
 * configurations written before addresses were. */
struct raft_conf {
	size_t n;
	uint64_t ids[RAFT_MAX_NODES];
	bool learner[RAFT_MAX_NODES];
	char addr[RAFT_MAX_NODES][RAFT_ADDR_MAX];
};

/* What the state machine snapshot stands for. The payload is the caller's. */
struct raft_snap_meta {
	uint64_t index;
	uint64_t term;
	struct raft_conf conf;
};

struct raft_hard_state {
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
};

enum raft_msg_type {
	RAFT_MSG_PREVOTE = 1,
	RAFT_MSG_PREVOTE_RESP,
	RAFT_MSG_VOTE,
	RAFT_MSG_VOTE_RESP,
	RAFT_MSG_APPEND,
	RAFT_MSG_APPEND_RESP,
	RAFT_MSG_HEARTBEAT,
	RAFT_MSG_HEARTBEAT_RESP,
	RAFT_MSG_SNAPSHOT, /* the caller streams its payload alongside */
	RAFT_MSG_TIMEOUT_NOW,
	RAFT_MSG_READ_INDEX,
	RAFT_MSG_READ_INDEX_RESP,
};

/*
 * A message between peers: a plain struct the caller serialises with
 * raft_msg_encode(). Which fields matter depends on the type:
 *   index/log_term  APPEND: previous entry; (PRE)VOTE: candidate's last
 *                   entry; APPEND_RESP: last index accepted or rejected;
 *                   READ_INDEX_RESP: the read index
 *   hint/hint_term  APPEND_RESP reject: where the follower's log may match
 *   ctx             HEARTBEAT(_RESP): read round; READ_INDEX(_RESP): the
 *                   caller's read context
 *   tick            leader's clock when sent, echoed back (leader lease)
 *   force           (PRE)VOTE sent after TIMEOUT_NOW: bypasses the lease
 */
struct raft_msg {
	uint8_t type; /* enum raft_msg_type */
	bool reject;
	bool force;
	uint64_t from;
	uint64_t to;
	uint64_t term;
	uint64_t index;
	uint64_t log_term;
	uint64_t commit;
	uint64_t hint;
	uint64_t hint_term;
	uint64_t ctx;
	uint64_t tick;
	size_t n_entries;
	struct raft_entry *entries;
	struct raft_snap_meta snap; /* SNAPSHOT only */
};

enum raft_role {
	RAFT_FOLLOWER = 0,
	RAFT_PRECANDIDATE,
	RAFT_CANDIDATE,
	RAFT_LEADER,
};

/* A read that may be served once the applied index reaches index. */
struct raft_read_state {
	uint64_t ctx;
	uint64_t index;
};

struct raft_ready {
	enum raft_role role; /* soft state, informational */
	uint64_t leader;
	bool hs_changed;
	struct raft_hard_state hs;
	const struct raft_snap_meta *snapshot; /* NULL unless one to install */
	const struct raft_entry *entries;      /* to persist */
	size_t n_entries;
	const struct raft_msg *msgs; /* to send after persisting */
	size_t n_msgs;
	const struct raft_entry *committed; /* to apply */
	size_t n_committed;
	const struct raft_read_state *reads;
	size_t n_reads;
};

struct raft_options {
	uint64_t id;		  /* this node, non-zero */
	unsigned election_ticks;  /* minimum election timeout; default 10 */
	unsigned heartbeat_ticks; /* default 1; must be < election_ticks */
	unsigned max_batch;	  /* entries per APPEND; default 64 */
	size_t max_batch_bytes;	  /* payload bytes per APPEND; default 1 MiB */
	unsigned max_inflight; /* APPENDs in flight per follower; default 32 */
	bool lease_reads; /* serve reads from the leader lease when valid */
	uint64_t seed;	  /* randomizes election timeouts */
};

struct raft_status {
	uint64_t id;
	enum raft_role role;
	uint64_t term;
	uint64_t vote;
	uint64_t leader;
	uint64_t commit;
	uint64_t applied;
	uint64_t first_index; /* first entry held in memory */
	uint64_t last_index;
};

enum raft_conf_op {
	RAFT_CONF_ADD_LEARNER = 1, /* a new node, non-voting */
	RAFT_CONF_PROMOTE,	   /* learner to voter, once caught up */
	RAFT_CONF_REMOVE,
};

struct raft;

/* Lifecycle. raft_new() copies opt; zero fields take their default. */
int raft_new(const struct raft_options *opt, struct raft **out);
void raft_free(struct raft *r);

/*
 * Start a brand-new cluster member: the log gets entry 1 (term 1, CONFIG,
 * conf), committed. Every founding member must bootstrap with the same conf,
 * one raft_conf_valid() accepts. A node joining later neither bootstraps
 * nor restores: it waits for the leader, whose messages raft_step() takes
 * while this node's own configuration is empty. Only valid on an empty
 * core.
 */
int raft_bootstrap(struct raft *r, const struct raft_conf *conf);

/*
 * Restart from persisted state. snap may be NULL (no compaction yet), or
 * its conf one raft_conf_valid() accepts; ents must be contiguous and
 * start right after snap->index (or at 1). Only valid on an empty core.
 * Committed entries above the snapshot come back in the next Ready's
 * committed list: a state machine that is ahead of the snapshot skips
 * those at or below its own applied index.
 */
int raft_restore(struct raft *r, const struct raft_hard_state *hs,
		 const struct raft_snap_meta *snap,
		 const struct raft_entry *ents, size_t n);

/* Inputs. */
void raft_tick(struct raft *r);
int raft_step(struct raft *r, const struct raft_msg *m);
int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index);
/* addr: the new node's address for RAFT_CONF_ADD_LEARNER (shorter than
 * RAFT_ADDR_MAX, may be NULL for none); the other ops keep the member's
 * address and ignore it. */
int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t id,
		      const char *addr, uint64_t *index);
/*
 * Ask for a linearizable read. The answer comes as a raft_read_state with
 * the same ctx in a later Ready; no answer (a lost leader) means retry.
 */
int raft_read_index(struct raft *r, uint64_t ctx);
int raft_transfer_leadership(struct raft *r, uint64_t to);

/*
 * The caller has a durable snapshot of its state machine at index (at most
 * the applied index): entries up to it are dropped from memory, and peers
 * that need them will be sent RAFT_MSG_SNAPSHOT carrying
 * raft_snapshot_meta(). The caller streams, alongside that message, the
 * state machine as of exactly snap.index; the receiver installs it when
 * its Ready says so, and acknowledges only after that Ready.
 */
int raft_compact(struct raft *r, uint64_t index);

/* The transport delivered (ok) or failed to deliver a snapshot to id. */
void raft_report_snapshot(struct raft *r, uint64_t id, bool ok);

/* Output. */
bool raft_has_ready(const struct raft *r);
void raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, const struct raft_ready *rd);

/* Getters. */
void raft_status(const struct raft *r, struct raft_status *st);
const struct raft_conf *raft_conf(const struct raft *r);
/* Snapshot metadata of the last compaction (index 0 if none). */
const struct raft_snap_meta *raft_snapshot_meta(const struct raft *r);
int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term);
/* True while a read at the leader would be answered from the lease. */
bool raft_lease_valid(const struct raft *r);
/* How long the lease lasts: it holds now and through the next n - 1
 * ticks (n > 0 exactly when raft_lease_valid); 0 when there is none. */
unsigned raft_lease_ticks(const struct raft *r);

/* The payload of RAFT_ENTRY_CONFIG entries: at most RAFT_CONF_MAX_SIZE
 * bytes. */
#define RAFT_CONF_MAX_SIZE (4 + RAFT_MAX_NODES * (9 + 2 + RAFT_ADDR_MAX))
size_t raft_conf_size(const struct raft_conf *c);
int raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t cap);
int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c);
/* Index of id in c, or -1. */
int raft_conf_find(const struct raft_conf *c, uint64_t id);
/* At most RAFT_MAX_NODES ids, each non-zero and listed once, each address
 * NUL-terminated: what raft_conf_encode() and raft_conf_decode() accept. */
bool raft_conf_valid(const struct raft_conf *c);

#endif
