/* The road from a command to the applied index.
 *
 * On a master alone this is group commit (commit_local.c): one thread
 * takes every command submitted since its last transaction, numbers them
 * with consecutive log indexes and applies them with one idx_apply (one
 * synced LMDB commit), so many concurrent writers share each fsync. A
 * replicated master puts Raft here instead (commit_raft.c, over
 * master/repl/node.h): same submit, same completion, the index assigned
 * by the log.
 *
 * Threads: commit_submit and commit_run from any thread; `done` callbacks
 * run on the commit thread, must not block, and must not submit. */
#ifndef CASK_MASTER_COMMIT_H
#define CASK_MASTER_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/repl/node.h"
#include "master/state/cmd.h"
#include "master/state/index.h"

struct commit_req {
	uint8_t cmd[CMD_MAX_LEN];
	size_t len;
	/* Out: the command's outcome (see cmd.h), or the error that kept
	 * it from being applied (-EIO, -ENOSPC, -ESHUTDOWN). */
	int result;
	void (*done)(struct commit_req *r); /* owner's completion */
	void *arg;
	struct commit_req *next;   /* queue link, owned by the commit thread */
	struct node_proposal prop; /* a replicated master's, while queued */
};

struct commit;

/* Starts the commit thread over `ix` (borrowed). Returns 0 or -errno. */
int commit_start(struct idx *ix, struct commit **out);

/* A replicated master: commands go to the Raft node (borrowed; it must
 * outlive cm), which also reports -ENOTCONN (not the leader), -ECANCELED
 * (lost to a new leader) and -ETIMEDOUT (undecided) as outcomes. */
int commit_start_node(struct node *nd, struct commit **out);

/* Queues r (owned by the caller until done runs). */
void commit_submit(struct commit *cm, struct commit_req *r);

/* Encodes c, submits it and waits. Returns the outcome as above, or
 * -EINVAL when c does not encode. */
int commit_run(struct commit *cm, const struct cmd *c);

/* Like commit_run for n commands at once, so they share transactions;
 * results[i] gets each outcome. Returns 0 or -ENOMEM. */
int commit_run_many(struct commit *cm, const struct cmd *c, size_t n,
		    int *results);

/* Finishes what was queued, then stops the thread and frees cm; later
 * submissions are not allowed. NULL is a no-op. */
void commit_stop(struct commit *cm);

/* True when commands submitted here can commit: always for a master
 * alone, only on the leader when replicated. Work that must run on one
 * master only (the purge worker) checks it. */
bool commit_leads(struct commit *cm);

/* Commands applied since start, and transactions that carried them
 * (synced log writes on a replicated master). */
void commit_counts(struct commit *cm, uint64_t *cmds, uint64_t *txns);

#endif
