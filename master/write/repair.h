/* Self-healing: the repair thread. Every key returns to -replicas good
 * copies with no operator step (DESIGN.md, "Master: index and Raft").
 *
 * Every round (the health-check interval) the thread reads each volume's
 * GET /_/health for its data-directory id and its count of corrupt-record
 * reports. On every master it confirms the id against the index before
 * reads go back to a volume that was down (vol->ident_ok). On the leader
 * only (commit_leads), it also turns what it sees into commands, so the
 * knowledge is replicated and a new leader resumes from the index:
 *   - a new id: CMD_VOL_IDENT (the volume's copies become unverified);
 *     then the volume's GET /_/keys is compared with every record naming
 *     it, each copy missing or with another md5 is marked lost
 *     (CMD_LOST), and the volume is marked verified;
 *   - new corrupt reports (GET /_/corrupt?since=SEQ): CMD_LOST per copy;
 *   - down longer than `after_ms` (measured by this leader): CMD_VOL_HEALTH
 *     DEAD, so every copy on it counts as lost; back with the same id:
 *     ALIVE again, and its copies that were not yet replaced are good;
 *   - then, for every record with a lost copy, at most `rate` copies a
 *     second: under the key's lock, move_copies (master/write/move.h) copies
 *     a good replica (md5 checked) to the best placement volume that
 *     lacks the key and commits one CMD_RECORD replacing the lost copy,
 *     which goes to the purge queue. A key with no good source, or no
 *     volume to go to, is counted failed and tried again next round.
 *
 * Memory: a verification holds 40 bytes per key on the verified volume
 * (at most REPAIR_VERIFY_MAX keys; past that the volume stays unverified,
 * which reads treat as not good, and the failure is logged); everything
 * else is bounded. Threads: one repair thread; repair_counts from any. */
#ifndef CASK_MASTER_REPAIR_H
#define CASK_MASTER_REPAIR_H

#include <stdint.h>

#include "master/write/move.h"

#define REPAIR_VERIFY_MAX (64u << 20)

struct repair_options {
	long interval_ms; /* between rounds */
	long after_ms;	  /* -repair-after: down this long is dead */
	long rate;	  /* -repair-rate: copies per second, >= 1 */
	long timeout_ms;  /* for /_/health and /_/corrupt */
};

struct repair_counts {
	uint64_t under_replicated; /* keys with a copy not good, last pass */
	uint64_t queued;	   /* of those, waiting for a copy now */
	uint64_t repaired;	   /* copies replaced since start */
	uint64_t failed;	   /* attempts that failed since start */
};

struct repair;

/* Starts the thread. deps and opt are copied; what deps points to is
 * borrowed and must outlive repair_stop. Returns 0 or -errno. */
int repair_start(const struct move_deps *deps, const struct repair_options *opt,
		 struct repair **out);

void repair_counts(struct repair *rp, struct repair_counts *out);

/* Stops the thread (a copy in progress finishes first). NULL is a no-op. */
void repair_stop(struct repair *rp);

#endif
