/* A replicated master: the Raft core (raft/raft.h) driven by one thread
 * over the LMDB log (master/repl/raftlog.h), the HTTP transport
 * (master/repl/transport.h) and a replicated state machine
 * (master/repl/machine.h) the owner provides.
 *
 * The driver thread ticks the core on the monotonic clock, steps received
 * messages, proposes queued commands, and runs the Ready loop as raft.h
 * prescribes: install a snapshot, persist entries and hard state (one
 * synced LMDB transaction for everything that arrived meanwhile: group
 * commit), send (a leader's APPENDs and HEARTBEATs while its own sync
 * runs: they promise nothing about its disk), apply committed entries with
 * one machine apply per Ready (the applied index moves in the same
 * transaction), release reads, advance. A proposer learns its command's
 * outcome from the apply, or -ENOTCONN (not the leader), -ECANCELED (its
 * entry lost to a new leader), -ETIMEDOUT (nothing decided within the
 * timeout: the command may still apply later).
 *
 * Reads: node_read waits until the applied index reaches a read index
 * the leader confirmed (lease or a heartbeat round, raft_read_index);
 * waiting reads share one raft_read_index per batch. On the leader,
 * node_lease_read spares reads the driver while its lease lasts. A follower's
 * read index comes from the leader. Bounded: -ENOTCONN (no leader) or
 * -ETIMEDOUT instead.
 *
 * Compaction: once `snapshot_entries` entries were applied since the last
 * snapshot, a thread of its own (raft-snapshot) writes a compacted copy
 * of the machine, synced, while the driver goes on applying; the driver
 * then makes it raft/snapshot.mdb and drops the log up to what was applied
 * when the copy began (the copy may hold more; see master/repl/snapshot.h).
 * A copy that could not be written is retried a second later. node_stop
 * waits for a copy under way and drops it.
 *
 * The HTTP side (/_/raft/: messages, snapshots, membership) is
 * master/repl/raft_http.h; the internals are in master/repl/node_int.h.
 *
 * Memory: requests (proposals, reads) are the caller's, borrowed by the
 * node from submission until their completion runs.
 * Threads: every function may be called from any thread; completion
 * callbacks run on the driver thread and must neither block nor submit.
 * Errors: 0 or a negative errno, logged where they happen. */
#ifndef CASK_MASTER_NODE_H
#define CASK_MASTER_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "master/repl/machine.h"
#include "raft/raft.h"

struct node_options {
	uint64_t id;
	const char *dir;   /* the master's -db; raft/ is made inside */
	const char *peers; /* "1=http://h:p,2=...", this master included */
	const char *join;  /* a member's URL to ask to add us, or NULL */
	unsigned tick_ms;
	unsigned election_ticks;
	uint64_t snapshot_entries;
	long timeout_ms; /* longest wait of a proposal or a read */
	/* Called on the driver thread after the machine reported a change
	 * its owner watches (machine.h apply), or installed a snapshot. */
	void (*on_changed)(void *arg);
	void *arg;
};

/* A command to replicate. */
struct node_proposal {
	const uint8_t *data; /* the command, borrowed until done runs */
	size_t len;
	/* Out: the machine's result for the entry (machine.h apply), or
	 * -ENOTCONN, -ECANCELED, -ETIMEDOUT, -ESHUTDOWN as above. */
	int result;
	void (*done)(struct node_proposal *p); /* driver thread */
	void *arg;
	struct node_proposal *next; /* owned by the node while queued */
};

struct node_read {
	void (*done)(struct node_read *rd); /* driver thread */
	void *arg;
	/* A read index from node_lease_read (wait for the apply only), or 0
	 * (ask the leader). */
	uint64_t index;
	int result; /* 0: read the index now; -ENOTCONN, -ETIMEDOUT */
	/* Owned by the node while queued. */
	uint64_t deadline_us;
	struct node_read *next;
};

struct node_info {
	enum raft_role role;
	uint64_t id, term, leader, commit, applied, snapshot_index;
	bool single; /* the only voter: every local read is linearizable */
};

struct node;

/* Opens raft/ in o->dir, restores or bootstraps, starts the transport and
 * the driver thread. m is copied; what it points to is borrowed until
 * node_stop, which leaves the machine synced. */
int node_start(const struct node_options *o, const struct machine *m,
	       struct node **out);

/* Stops the driver and the transport (pending work fails with
 * -ESHUTDOWN), closes raft/. NULL is a no-op. */
void node_stop(struct node *n);

/* Proposes p's command; p->done runs once with the outcome. */
void node_submit(struct node *n, struct node_proposal *p);

/* Queues a linearizable read barrier; rd->done runs once. */
void node_read(struct node *n, struct node_read *rd);

/* The leader's fast path, for any thread: while this master leads with a
 * valid lease (its no-op committed), 0 and a read index; a read is then
 * linearizable if it begins once the machine's applied index reached
 * that index (else node_read with it waits for the apply). -EAGAIN: use
 * node_read. The argument is at node_lease_publish in read.c. */
int node_lease_read(struct node *n, uint64_t *index);

/* For a write's refusals from local state (key exists, no such key):
 * while the lease holds, 0 and the commit index at which this term's
 * lease began. Once the applied index reached it, the machine holds
 * every write an earlier leader acknowledged, and this leader
 * acknowledges its own only once applied. -EAGAIN otherwise. */
int node_lease_write(struct node *n, uint64_t *floor);

void node_info(struct node *n, struct node_info *out);

/* The leader's base URL: 0, -EAGAIN when we lead, -ENOENT when no leader
 * is known (or its address is not). */
int node_leader_url(struct node *n, char *out, size_t cap);

/* Hands leadership to the most up-to-date voter and waits (up to wait_ms)
 * until this master no longer leads. 0, or -ETIMEDOUT. */
int node_step_down(struct node *n, unsigned wait_ms);

/* Membership change: add (id, url) as a voter (learner first,
 * promoted once caught up) or remove id. done(arg, result) runs once on
 * the driver thread: 0, -ENOTCONN (not leader), -ETIMEDOUT, -EINVAL,
 * -EEXIST (an add of a member at another URL than it has). */
enum node_member_op { NODE_MEMBER_ADD = 1, NODE_MEMBER_REMOVE };
void node_member_change(struct node *n, enum node_member_op op, uint64_t id,
			const char *url, void (*done)(void *arg, int result),
			void *arg);

/* ,"raft":{...} for /_/status and the Raft rows of /_/metrics. */
void node_status_json(struct node *n, struct buf *b);

/* "leader", "candidate", "precandidate" or "follower", as /_/status
 * names a role. */
const char *node_role_name(enum raft_role r);

/* The configuration as this master sees it, for the status page: up to
 * cap members with their URL ("" when unknown), whether they vote, and
 * their acknowledged index (0 unless this master leads). Returns how
 * many were written. */
#define NODE_URL_MAX 256 /* TRANSPORT_URL_MAX */
struct node_peer {
	uint64_t id, match;
	bool voter;
	char url[NODE_URL_MAX];
};
size_t node_peers(struct node *n, struct node_peer *out, size_t cap);
void node_metrics(struct node *n, struct buf *b);

/* Commands applied and synced log writes, as commit_counts reports. */
void node_counts(struct node *n, uint64_t *cmds, uint64_t *syncs);

/* The node's transport (for its HTTP side), valid until node_stop. */
struct transport;
struct transport *node_transport(struct node *n);

#endif
