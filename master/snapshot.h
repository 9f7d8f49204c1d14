/* State machine snapshots on disk, for Raft compaction and catch-up.
 *
 * A snapshot is a compacted LMDB copy of state/ (mdb_env_copyfd2 with
 * MDB_CP_COMPACT), one file, `<dir>/raft/snapshot.mdb`, replaced
 * atomically (write a temp file, fsync, rename, fsync the folder). The
 * transport streams it to a follower that fell behind the log; the
 * follower installs what it received into its live state/ in one LMDB
 * write transaction (master/index.h idx_install), so a crash mid-install
 * leaves the old state as it was, and keeps the file as its own
 * snapshot for when it leads.
 *
 * Threads: the node's driver thread only. Errors: 0 or a negative errno,
 * logged here. */
#ifndef CASK_MASTER_SNAPSHOT_H
#define CASK_MASTER_SNAPSHOT_H

#include <stddef.h>

#include "master/index.h"

/* Paths inside `<dir>/raft/`: the snapshot and where one is received. */
int snap_path(const char *dir, char *out, size_t cap);
int snap_incoming_path(const char *dir, char *out, size_t cap);

/* Writes the snapshot of ix as it is now. The caller must be the only
 * writer of ix, so the copy is exactly its applied index. */
int snap_save(struct idx *ix, const char *dir);

/* Replaces ix's contents with the received snapshot, then keeps that file
 * as this master's snapshot. */
int snap_install(struct idx *ix, const char *dir);

#endif
