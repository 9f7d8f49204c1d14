/* Internals of the Raft log shared by its files (raftlog.c, the segments;
 * raftlog_lmdb.c, the reader of the LMDB log it replaced) and its unit
 * tests. Nothing else includes this. */
#ifndef CASK_MASTER_RAFTLOG_INT_H
#define CASK_MASTER_RAFTLOG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "master/repl/raftlog.h"

/* The first store of the log: an LMDB environment in <dir>/raft/ with
 * databases "entries" (u64 big-endian index → u64 term LE ‖ u8 type ‖
 * payload) and "meta" ("hs", "snap", "peers"). */
#define RAFTLOG_LMDB_DATA "data.mdb"
#define RAFTLOG_LMDB_LOCK "lock.mdb"

/* Reads the whole LMDB log in <dir>/raft/ into st (as raftlog_load) and
 * its peer table into *peers (malloc'd, NULL when none was stored).
 * Logs its own failures; 0 or a negative errno with nothing allocated. */
int raftlog_lmdb_read(const char *dir, struct raftlog_state *st, bool *empty,
		      char **peers);

/* Tests only: the size of the segments created from now on (the default
 * is RAFTLOG_SEG_SIZE), so rollover needs kilobytes, not megabytes. */
#define RAFTLOG_SEG_SIZE ((size_t)8 << 20)
void raftlog_test_segment_size(size_t bytes);

#endif
