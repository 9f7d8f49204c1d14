/* The index (master/state/index.h) as the replicated state machine
 * (master/repl/machine.h): log entries carry encoded commands
 * (master/state/cmd.h), applied with idx_apply; snapshots are idx_copy and
 * idx_install. What the owner watches is the volume set: an applied
 * CMD_VOLUMES or CMD_VOLUME reports a change, so the master reloads it
 * (master/write/volumes.h).
 *
 * Threads and errors: those of index.h; the adapter keeps no state. */
#ifndef CASK_MASTER_INDEX_MACHINE_H
#define CASK_MASTER_INDEX_MACHINE_H

#include "master/repl/machine.h"
#include "master/state/index.h"

/* The machine over ix (borrowed: it must outlive every use of *out). */
void index_machine(struct idx *ix, struct machine *out);

#endif
