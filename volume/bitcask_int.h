/* Internals of the Bitcask engine shared by bitcask.c (open, write, read,
 * close), merge.c and scrub.c. Not for users of bitcask.h.
 *
 * Locks, in the order they nest:
 *   merge_mu    one merge at a time
 *   keydir shard locks (inside keydir.c)
 *   wmu         active segment, reservations, segment creation
 *   segs_lock   the segment table and each segment's fd[] and gen
 *   sync_mu     group-commit state
 *   cset_mu     the corrupt-key set (takes a shard read lock inside)
 *   scrub_mu    scrub pass state (never held during a read)
 * bc_get holds a shard read lock while it dups the segment fd under
 * segs_lock, so a location and the file it refers to are read together;
 * merge retires a file version only after it has moved every entry off
 * it under the shard write locks. bc_read pins the file version instead
 * of dup'ing it (readers[gen], taken under the same two locks), then reads
 * with no lock held; merge closes or frees a file version only once its
 * readers are gone.
 */
#ifndef CASK_BITCASK_INT_H
#define CASK_BITCASK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "volume/bitcask.h"
#include "volume/corrupt.h"
#include "volume/keydir.h"

struct bc_seg {
	uint32_t id;
	int fd[2]; /* fd[gen] is current; the other is -1 outside merge */
	uint8_t gen;
	_Atomic uint64_t bytes; /* records' length, reservations included */
	_Atomic uint64_t live;	/* record bytes the keydir points at */
	_Atomic uint64_t tomb;	/* tombstone bytes */
	_Atomic int writers;	/* reservations not yet committed/aborted */
	_Atomic int readers[2]; /* bc_read copies in progress from fd[i] */
	uint64_t hint_len;	/* bytes covered by the hint file on disk */
	uint64_t alloc_end;	/* disk allocated up to here (active; wmu) */
	uint64_t zero_end;	/* zeros written up to here (active; wmu) */
};

struct bc_commit; /* bitcask.c */
struct bc_tomb;	  /* bitcask.c */

struct bc {
	struct bc_options opt;
	char *dir;
	int lock_fd;
	bool recovered; /* the keydir reflects the whole directory */
	struct keydir *kd;

	pthread_rwlock_t segs_lock;
	struct bc_seg **segs; /* indexed by segment id; NULL if none */
	uint32_t segs_cap;

	pthread_mutex_t wmu;
	pthread_cond_t idle_cv; /* signalled when writers drops to 0 */
	struct bc_seg *active;
	uint64_t writers;
	struct bc_write *inflight; /* puts between reservation and release */
	/* Durable tombstones not yet published because an older put of their
	 * key is in flight; the end of that put publishes them. */
	struct bc_tomb *tomb_wait;
	_Atomic uint64_t disk_bytes; /* sum of segment bytes */

	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;	  /* wakes the sync thread */
	pthread_cond_t synced_cv; /* wakes committers */
	uint64_t sync_req, sync_done;
	uint32_t *dirty; /* ids of segments written since the last sync */
	/* Asynchronous commits (puts, tombstone batches) waiting for their
	 * sync, in ticket order. */
	struct bc_commit *commits, **commits_tail;
	size_t ndirty, dirty_cap;
	/* Filling group commits (sync_main's gather): when the last write
	 * was queued, the mean gap between writes, how many writes a delay
	 * gathered lately (x16), and how many syncs go undelayed before the
	 * next try. */
	uint64_t last_write_us, gap_us;
	unsigned gather_gain, gather_skip;
	bool sync_stop, sync_running;
	pthread_t sync_thread;

	pthread_mutex_t merge_mu;
	pthread_mutex_t mstop_mu;
	pthread_cond_t mstop_cv;
	bool merge_stop, merge_running;
	pthread_t merge_thread;

	/* Keys found corrupt, for bc_corrupt_next. cset_count mirrors the
	 * set's size and cset_adding counts reports in progress, so a write
	 * can skip cset_mu while both are 0 (bc_forget_corrupt). */
	pthread_mutex_t cset_mu;
	struct corrupt_set *cset;
	_Atomic uint32_t cset_count, cset_adding;

	/* Scrub passes (scrub.c), under scrub_mu: one at a time. */
	pthread_mutex_t scrub_mu;
	pthread_cond_t scrub_cv; /* wakes the scrub thread, pass waiters and
				  * a paced pass (stop, limit lifted) */
	bool scrub_stop, scrub_thread_running;
	bool scrub_running;   /* a pass holds the slot */
	bool scrub_requested; /* bc_scrub_start gave the slot to the thread */
	bool scrub_fast;      /* the current pass ignores scrub_rate */
	uint64_t scrub_passes, scrub_last_pass_ms;
	pthread_t scrub_thread;
	/* Of the pass in progress, or else the last one. */
	_Atomic uint64_t scrub_records, scrub_bytes, scrub_bad;

	char id[BC_ID_LEN + 1];
	char run[BC_RUN_LEN + 1];

	_Atomic int failed; /* sticky -EIO once a sync has failed */
	_Atomic uint64_t corrupt, truncated, syncs, synced_writes, sync_delays,
		merges, scrub_errors, scrub_bytes_total, corrupt_reads;
};

/* Segment table lookup; the caller holds segs_lock. */
static inline struct bc_seg *bc_seg_at(struct bc *bc, uint32_t id)
{
	return id < bc->segs_cap ? bc->segs[id] : NULL;
}

/* Reads exactly len bytes at off, retrying short reads; -EIO on an error
 * or the end of the file. */
int bc_pread_all(int fd, void *p, size_t len, uint64_t off);

/* Subtracts a dead record's bytes from its segment's live count. */
void bc_account_dead(struct bc *bc, uint32_t seg, uint64_t bytes);

/* Writes the hint of a segment from the records the keydir points at and
 * its tombstones. The caller ensures nothing writes to it meanwhile. */
int bc_write_seg_hint(struct bc *bc, struct bc_seg *seg);

/* bc_get with the keydir's location itself, for scrub. */
int bc_lookup(struct bc *bc, const char *key, size_t klen,
	      struct keydir_loc *loc, int *fd);

/* Records key as corrupt (found bad at loc, for the reason why, a static
 * string) unless the key has moved on from loc meanwhile, and logs it the
 * first time. Any thread. */
void bc_report_corrupt(struct bc *bc, const char *key, uint16_t klen,
		       const struct keydir_loc *loc, const char *why);

/* Whether key has a corrupt report (cheap while there are none). */
bool bc_is_corrupt(struct bc *bc, const char *key, uint16_t klen);

/* Drops key's corrupt report, if any: called after the keydir stopped
 * pointing at the reported record (a newer put, a delete). */
void bc_forget_corrupt(struct bc *bc, const char *key, uint16_t klen);

/* Scrub thread (scrub.c). */
int bc_scrubber_start(struct bc *bc);
void bc_scrubber_stop(struct bc *bc);

/* Background merge thread (merge.c). */
int bc_merger_start(struct bc *bc);
void bc_merger_stop(struct bc *bc);

#endif
