/* Internals of the replicated master (master/repl/node.h), shared by its
 * files, one concern each. Not for users of node.h.
 *
 *   node.c     the driver thread: its loop, the inbox, the Ready handling
 *   propose.c  proposals, and applying committed entries to the machine
 *   read.c     read barriers in batches, the leader lease
 *   compact.c  snapshots: the writer thread, compaction, installing
 *   members.c  membership changes, handing leadership over on a stop
 *   join.c     the thread that asks a running cluster to add us
 *   start.c    start (restore or bootstrap) and stop
 *   status.c   what other threads read: info, /_/status, /_/metrics
 *
 * Threads: fields under "driver thread only" belong to the driver (and
 * to node_start before the driver exists, node_stop after it ended);
 * those "under mu" are shared with callers' threads; atomics are read
 * anywhere. Between raft_ready and raft_advance the core must not be
 * changed (raft.h): n->in_ready says when that is, and every file that
 * changes the core asserts it is not. Locks: mu only, never held while
 * calling the core, the machine or a completion. */
#ifndef CASK_MASTER_NODE_INT_H
#define CASK_MASTER_NODE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "master/repl/machine.h"
#include "master/repl/node.h"
#include "master/repl/raftlog.h"
#include "master/repl/transport.h"
#include "raft/raft.h"

/* Messages queued per peer; when to ask again for a read index lost
 * with a leader; when to retry a snapshot that could not be written; room
 * for the peer table. */
#define NODE_QUEUE_MAX	   4096
#define NODE_READ_RETRY_MS 300
/* Message batches waiting for the driver: past this, a batch is dropped
 * as the network would drop it, so a flood costs bounded memory. */
#define NODE_INBOX_MAX	   1024
#define NODE_SNAP_RETRY_MS 1000
#define NODE_PEERS_MAX	   (2 * RAFT_MAX_NODES * (TRANSPORT_URL_MAX + 24))

/* Work handed to the driver thread by other threads. */
enum node_in_type {
	NODE_IN_MSGS = 1,
	NODE_IN_SNAPSHOT,
	NODE_IN_SNAP_DONE,
	NODE_IN_STEP_DOWN
};

struct node_inbox {
	enum node_in_type type;
	/* IN_MSGS: a batch; IN_SNAPSHOT: its one message. Owned. */
	struct transport_batch *batch;
	struct transport_reply *reply; /* IN_MSGS: its sender waits */
	uint64_t id;		       /* IN_SNAP_DONE */
	bool ok;
	struct node_inbox *next;
};

/* A proposal in the log, waiting for its entry to commit. */
struct node_pending {
	struct node_proposal *p;
	uint64_t index, term, deadline_us;
};

/* Reads waiting for one read index. */
struct node_read_batch {
	uint64_t ctx, index, asked_us;
	struct node_read *head;
	struct node_read_batch *next;
};

struct node_member_job {
	enum node_member_op op;
	uint64_t id;
	char url[RAFT_ADDR_MAX]; /* add: the address its configuration gets */
	void (*done)(void *arg, int result);
	void *arg;
	uint64_t wait_index; /* a proposed change, until applied */
	bool promoted;
	uint64_t deadline_us;
	struct node_member_job *next;
};

struct node {
	struct node_options o;
	struct machine m;
	char dir[4096], snap_file[4096];
	struct raftlog *rl;
	struct transport *tp;
	struct raft *r;
	pthread_t thread, joiner;
	bool joining;

	/* Shared with other threads, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	bool snap_written, snap_ok; /* by the snapshot thread, when done */
	struct node_inbox *in_head, *in_tail;
	size_t in_batches; /* NODE_IN_MSGS items in the inbox */
	struct node_proposal *prop_head, *prop_tail;
	struct node_read *read_head, *read_tail;
	struct node_member_job *jobs_in;
	struct node_info info;
	uint64_t match[RAFT_MAX_NODES];
	struct raft_conf conf;

	/* Driver thread only. */
	bool in_ready; /* between raft_ready and raft_advance */
	/* Batches stepped whose senders wait for our reply (see
	 * node_answer_senders), linked through next. */
	struct node_inbox *stepped;
	struct node_pending *pend;
	size_t npend, cap_pend;
	struct node_read *waiting;     /* reads without a read index yet */
	struct node_read_batch *asked; /* read index requested */
	struct node_read_batch *ready; /* read index known, waiting for apply */
	uint64_t read_ctx;
	struct node_member_job *job;
	/* The last entry handed to the machine (or the snapshot installed):
	 * the machine may hold more after installing a snapshot written
	 * while it applied (master/repl/snapshot.h). */
	uint64_t applied, snap_index;
	/* Snapshots (compact.c): whether one is being written off this
	 * thread, the applied index when it began (snap_at), the count of
	 * snapshots installed then and now, and when a failed one may be
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
	char peers_saved[NODE_PEERS_MAX];

	atomic_uint_fast64_t cmds, entries_saved, proposals, proposals_failed,
		reads, reads_lease, reads_failed, leader_changes,
		snapshots_taken, snapshots_installed;
};

/* Everything below runs on the driver thread unless it says otherwise. */

/* node.c: the driver. */
/* The transport's callbacks: they fill the inbox (any thread). */
struct transport_callbacks node_callbacks(struct node *n);
/* Runs the Ready loop until the core has nothing more to hand out. */
void node_handle_ready(struct node *n);
/* Publishes role, term, commit, configuration for other threads. */
void node_publish(struct node *n);
void *node_run(void *arg); /* the thread */

/* propose.c. Proposes a queue (linked through next) taken from
 * prop_head; what the core refuses completes at once. */
void node_props_propose(struct node *n, struct node_proposal *list,
			uint64_t now);
/* Hands committed entries to the machine and settles their proposals;
 * aborts when the machine cannot apply them (see the file). */
void node_props_apply(struct node *n, const struct raft_entry *e, size_t count);
void node_props_expire(struct node *n, uint64_t now); /* -ETIMEDOUT */
void node_props_fail(struct node *n); /* every pending: -ESHUTDOWN */

/* read.c. */
/* Publishes the commit index and the lease for node_lease_read. */
void node_lease_publish(struct node *n);
/* Takes a queue from read_head: to wait for a read index, or only for
 * the apply when the read brought one. */
void node_reads_queue(struct node *n, struct node_read *list);
void node_reads_ask(struct node *n, uint64_t now); /* raft_read_index */
/* The core answered read indexes (rd.reads). */
void node_reads_found(struct node *n, const struct raft_read_state *rs,
		      size_t nrs);
void node_reads_release(struct node *n); /* those the apply reached */
void node_reads_expire(struct node *n, uint64_t now);
void node_reads_fail(struct node *n); /* every held read: -ESHUTDOWN */
/* Completes rd (any thread), counting a failure. */
void node_read_complete(struct node *n, struct node_read *rd, int result);

/* compact.c. */
/* Starts a snapshot when enough was applied, publishes one written. */
void node_compact_poll(struct node *n, uint64_t now);
/* Installs the snapshot the Ready carries (rd.snapshot); aborts when it
 * cannot (the old state is intact on disk, a restart tries again). */
void node_compact_install(struct node *n, const struct raft_snap_meta *s);
/* node_stop: waits for a snapshot being written and drops it. */
void node_compact_stop(struct node *n);

/* members.c. */
/* Takes jobs_in: one job runs at a time, the others get -EBUSY. */
void node_members_queue(struct node *n, struct node_member_job *list);
void node_members_run(struct node *n, uint64_t now); /* the running job */
void node_members_fail(struct node *n); /* the running job: -ESHUTDOWN */
/* Jobs that arrived while stopping: -ESHUTDOWN each. */
void node_members_refuse(struct node_member_job *list);
void node_members_transfer(struct node *n); /* lead no more, on a stop */

/* join.c, from node_start and node_stop. Without a thread (none could be
 * made) the node still waits to be added by hand. */
void node_join_start(struct node *n);
void node_join_wait(struct node *n);

#endif
