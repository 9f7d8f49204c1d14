/* State machine snapshots on disk, for Raft compaction and catch-up.
 *
 * A snapshot is a compacted LMDB copy of state/ (mdb_env_copyfd2 with
 * MDB_CP_COMPACT), one file, `<dir>/raft/snapshot.mdb`, replaced
 * atomically (write a temp file, fsync, rename, fsync the folder). The
 * transport streams it to a follower that fell behind the log; the
 * follower installs what it received into its live state/ in one LMDB
 * write transaction (machine.h install), so a crash mid-install
 * leaves the old state as it was, and keeps the file as its own
 * snapshot for when it leads.
 *
 * Threads: the node's driver thread, except snap_write (below);
 * snap_state_* while no node runs (before it starts, after it stopped).
 * Errors: 0 or a negative errno, logged here. */
#ifndef CASK_MASTER_SNAPSHOT_H
#define CASK_MASTER_SNAPSHOT_H

#include <stddef.h>

#include "master/repl/machine.h"

/* Paths inside `<dir>/raft/`: the snapshot and where one is received. */
int snap_path(const char *dir, char *out, size_t cap);
int snap_incoming_path(const char *dir, char *out, size_t cap);

/* Taking a snapshot, in two steps so that the copy, which takes as long
 * as reading the whole index, keeps off the driver thread:
 *
 *   snap_write    any thread: writes a compacted copy of m, synced, to
 *                 `<dir>/raft/snapshot.mdb.tmp`. m keeps being applied
 *                 meanwhile; the copy is one consistent read view, so it
 *                 holds at least what was applied when snap_write began
 *                 (its own applied index says exactly where it stands).
 *   snap_publish  driver thread: makes that copy the snapshot (rename,
 *                 folder synced).
 *   snap_abandon  driver thread: drops a copy that will not be published.
 *
 * A snapshot may thus be ahead of the index its metadata names: whoever
 * installs or restores it replays the log from that index, and the
 * machine's apply skips what it already holds. */
int snap_write(const struct machine *m, const char *dir);
int snap_publish(const char *dir);
void snap_abandon(const char *dir);

/* Replaces m's contents with the received snapshot, then keeps that file
 * as this master's snapshot. */
int snap_install(const struct machine *m, const char *dir);

/* state/ after a crash of the machine.
 *
 * A replicated master commits state/ without syncing (machine relax_sync):
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
