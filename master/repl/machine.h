/* The replicated state machine, as the replication runtime sees it.
 *
 * The node (master/repl/node.h) feeds committed log entries to a machine
 * and snapshots it, knowing nothing of what the entries mean: the owner
 * (master/main.c) hands it an implementation, today the LMDB index
 * (master/write/index_machine.h). The contract the node relies on:
 *
 *   apply       applies n entries (indexes consecutive, the first the
 *               node's applied index + 1) in one transaction that also
 *               moves the applied index to the last one, so a crash keeps
 *               both or neither. Entries the machine holds already are
 *               skipped with result 0: an installed snapshot may hold more
 *               than its index says (master/repl/snapshot.h). An entry
 *               without data (a no-op or a configuration of the log)
 *               moves the applied index only. results[i] gets each
 *               entry's outcome, which is part of the replicated state
 *               (the proposer is told it) and does not fail the batch;
 *               *changed is set when an entry changed something the owner
 *               watches (node_options.on_changed). Returns 0, or the
 *               error that rolled the whole batch back.
 *   applied     the applied index now.
 *   copy        writes a consistent copy of the machine to fd (at least
 *               what was applied when it began; apply may run meanwhile);
 *               the caller syncs and closes fd.
 *   install     replaces the whole state with a copy at path, atomically
 *               and durably; the owner's watched state may have changed.
 *   check       whether the file at path, which a peer sent, is a copy
 *               install can take standing for at least `index`; -EINVAL
 *               with a one-line *why when not. Reads only.
 *   relax_sync  from now on commits need not be synced (the log replays
 *               what a crash of the host takes, master/repl/snapshot.h);
 *   sync        makes everything applied so far durable.
 *
 * Threads: apply, install, relax_sync and sync on the node's driver
 * thread (and its start and stop); copy on the snapshot thread while
 * apply runs; applied and check on any. Errors: 0 or a negative errno. */
#ifndef CASK_MASTER_MACHINE_H
#define CASK_MASTER_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct machine_entry {
	uint64_t index, term;
	const uint8_t *data; /* NULL with len 0: no command */
	size_t len;
};

struct machine_ops {
	int (*apply)(void *arg, const struct machine_entry *e, size_t n,
		     int *results, bool *changed);
	int (*applied)(void *arg, uint64_t *index);
	int (*copy)(void *arg, int fd);
	int (*install)(void *arg, const char *path);
	int (*check)(void *arg, const char *path, uint64_t index,
		     const char **why);
	int (*relax_sync)(void *arg);
	int (*sync)(void *arg);
};

/* An implementation and its argument, both borrowed by the node. */
struct machine {
	const struct machine_ops *ops;
	void *arg;
};

#endif
