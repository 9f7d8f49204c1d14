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
 * Threads: the node's driver thread only; snap_state_* while no node
 * runs (before it starts, after it stopped). Errors: 0 or a negative
 * errno, logged here. */
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

/* state/ after a crash of the machine.
 *
 * A replicated master commits state/ without syncing (idx_relax_sync):
 * everything it applies is in its synced log or in the snapshot the log
 * was compacted to. A crash of the process loses nothing, since the
 * kernel holds every write; a crash of the machine (power cut, kernel
 * panic) may leave state/ torn. So `<dir>/state/unsynced` names the boot
 * (Linux's boot_id) under which unsynced commits were made:
 *
 *   snap_state_recover  before state/ is opened: when the marker names
 *                       another boot (or this boot's id is unknown),
 *                       replaces state/ with the snapshot, or with an empty
 *                       environment when there is none yet (the log then
 *                       still starts at entry 1), and logs that it did.
 *   snap_state_mark     before the first unsynced commit: records this
 *                       boot, synced.
 *   snap_state_clean    after state/ was synced for a clean stop: removes
 *                       the marker.
 *
 * The log replays what the snapshot lacks (raft_restore). */
int snap_state_recover(const char *dir);
int snap_state_mark(const char *dir);
int snap_state_clean(const char *dir);

#endif
