/* The Raft log on disk: an LMDB environment of its own, `<dir>/raft/`.
 *
 * Two named databases:
 *   entries  u64 index (big-endian, so LMDB's order is the log's) →
 *            u64 term (LE) ‖ u8 type ‖ payload
 *   meta     "hs" → term, vote, commit (3 × u64 LE)
 *            "snap" → index, term (2 × u64 LE) ‖ raft_conf_encode(conf)
 *            "peers" → the peer address table, "id=url,id=url"
 *
 * Every write is one transaction committed with LMDB's durable sync, so
 * when raftlog_save returns 0 the entries, the hard state and the
 * snapshot metadata it was given are on disk together: the Ready
 * contract's "persist before sending" is one call and one sync.
 *
 * Memory: raftlog_load allocates the entries and their payloads; free
 * them with raftlog_state_free. Everything else copies or borrows.
 * Threads: one thread at a time per raftlog (the node's driver thread).
 * Errors: 0 or a negative errno; LMDB failures are logged here and map to
 * -EIO (-ENOSPC for a full map, -EINVAL for corrupt records). */
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

/* One synced transaction, in the Ready order: with `snap`, every stored
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

/* Synced transactions since open (for metrics). */
uint64_t raftlog_syncs(const struct raftlog *rl);

#endif
