/* The Raft log on disk: append-only segments in `<dir>/raft/`.
 *
 * Segments are `NNNNNNNNNNNNNNNN.log` (16 hex digits, numbered from 1,
 * consecutive), each created as 8 MiB of zeros synced before it gets its
 * name, so an append overwrites allocated blocks and its fdatasync has no
 * file size or extent to record; a batch bigger than that gets a segment
 * of its own. The next segment is prepared ahead as `<name>.tmp` by a
 * thread of the log's own, so a rollover is a rename (its sync is not
 * counted by raftlog_syncs); a leftover .tmp is removed at open. A
 * segment holds batches; a batch is what one call writes, with one pwrite
 * and one fdatasync. All integers are little-endian:
 *
 *   record  u32 len ‖ u32 crc32c(kind ‖ body) ‖ u8 kind ‖ body[len]
 *   batch   BATCH record (u32 bytes, u32 crc32c of them) ‖ records
 *
 *   ENTRY       index, term (u64), type (u8), payload
 *   HARD_STATE  term, vote, commit (u64)
 *   SNAP        index, term (u64) ‖ raft_conf_encode(conf): drops all
 *   COMPACT     as SNAP, but drops only the entries <= index
 *   PEERS       the peer address table, "id=url,id=url"
 *
 * Replaying every batch in order gives the state: later records replace
 * earlier ones, and an ENTRY at index i first drops the entries >= i (a
 * conflicting suffix). A segment's first batch starts with the current
 * HARD_STATE, snapshot (as COMPACT) and PEERS, so a segment stands alone:
 * once no live entry is in the segments before it, those are deleted.
 *
 * Crashes: only the last batch can be unsynced. At open, bytes after the
 * last intact batch of the last segment are an unfinished write: they
 * are zeroed (and the log ends there). An intact batch after a bad one, or
 * anything but zeros after the end of an older segment, is damage:
 * raftlog_open and raftlog_load return -EINVAL and log it. Damage to the
 * last batch itself cannot be told from a tear; it is dropped like one.
 *
 * Upgrade: a `data.mdb` in `<dir>/raft/` is the LMDB log this replaced;
 * open imports it into segments and renames it `data.mdb.imported`
 * (segments found beside it are an import that did not finish; redone).
 *
 * When raftlog_save returns 0 the entries, the hard state and the
 * snapshot metadata it was given are on disk together: the Ready
 * contract's "persist before sending" is one call and one fdatasync.
 *
 * Memory: the log keeps the metadata and, per live entry, the number of
 * its segment; entries are read from disk only by raftlog_load, which
 * allocates them and their payloads (free with raftlog_state_free).
 * Threads: one thread at a time per raftlog (the node's driver thread);
 * raftlog_syncs from any. Errors: 0 or a negative errno, logged here;
 * after a failed write or sync every later write fails with -EIO, as what
 * is on disk is no longer known. */
#ifndef CASK_MASTER_RAFTLOG_H
#define CASK_MASTER_RAFTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct raftlog;

/* What is on disk, as raft_restore wants it. */
struct raftlog_state {
	struct raft_hard_state hs;
	bool has_snap;
	struct raft_snap_meta snap;
	struct raft_entry *ents; /* contiguous, after snap.index */
	size_t n;
};

/* Opens (creating if needed) `<dir>/raft/`. */
int raftlog_open(const char *dir, struct raftlog **out);

/* NULL is a no-op. */
void raftlog_close(struct raftlog *rl);

/* Reads everything back. `empty` is set when nothing was ever saved. */
int raftlog_load(struct raftlog *rl, struct raftlog_state *st, bool *empty);

void raftlog_state_free(struct raftlog_state *st);

/* One batch, one fdatasync, in the Ready order: with `snap`, every stored
 * entry is dropped and the metadata recorded; with entries, those with
 * index >= ents[0].index are deleted and ents appended; with `hs`, the
 * hard state is replaced. Any part may be NULL / 0. */
int raftlog_save(struct raftlog *rl, const struct raft_snap_meta *snap,
		 const struct raft_entry *ents, size_t n,
		 const struct raft_hard_state *hs);

/* The state machine has a durable snapshot at snap->index: records the
 * metadata and drops the entries up to it. */
int raftlog_compact(struct raftlog *rl, const struct raft_snap_meta *snap);

/* The peer table: a NUL-terminated string (at most cap - 1 bytes);
 * get yields "" when none was stored. */
int raftlog_get_peers(struct raftlog *rl, char *out, size_t cap);
int raftlog_set_peers(struct raftlog *rl, const char *peers);

/* fdatasync and fsync calls since open returned (for metrics): one per
 * save, compaction and peer update, two more (the
 * zero fill, the folder) when a segment is made. */
uint64_t raftlog_syncs(const struct raftlog *rl);

#endif
