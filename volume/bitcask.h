/* Bitcask: one append-only store of key → value per data directory.
 *
 * Layout: segment files NNNNNNNN.data (8 decimal digits, ids ascending in
 * write order) and, beside some of them, NNNNNNNN.hint. A record is a
 * fixed header (see record.h), the key, then the value. The header carries
 * its own CRC32C, so recovery can tell a torn header from a torn value and
 * skip a bad record without losing what follows it.
 *
 * Writes are streamed: bc_write_begin reserves the record's space in the
 * active segment under a short lock (rolling to a new segment at
 * segment_size; a value bigger than that gets a segment of its own),
 * bc_write_append pwrite()s body bytes at their place outside any lock, and
 * bc_write_commit seals the header and waits for the fsync that covers it
 * (group commit under BC_SYNC_BATCH) before the key becomes visible. So
 * concurrent large uploads progress in parallel, and small writes are not
 * stuck behind them.
 *
 * A value whose size is known only at its end (a chunked upload) is
 * spooled: its bytes go to an unlinked file in the data directory as they
 * arrive (their CRC and md5 taken on the way), and its commit reserves the
 * record at its exact size, copies the value in and seals it like any
 * other. The record format, the one-seek read and the crash story are
 * those of every record: a crash leaves at most a spool the next open
 * removes. The price is one more write of the value, paid only by chunked
 * uploads of values too large for the master to gather (it sends smaller
 * ones with a Content-Length). The alternatives were worse: reserving an
 * upper bound (the volume's -max-value) and patching the header at the
 * end would allocate a gigabyte for every chunked upload and give each its
 * own segment; growing a record at the tail of the active segment would
 * hold the tail from every other writer, or seal a segment early each time
 * one came, and segments (each an open descriptor) would multiply.
 *
 * Ordering: for one key, the record reserved last wins, at run time and on
 * recovery alike (records compare by (segment id, offset); merge rewrites
 * a segment under its own id, so that order survives compaction).
 *
 * Integrity: a value bc_read copies is checked against its record before
 * it is handed out (-EBADMSG, never wrong bytes); a scrub re-reads every
 * record (bc_scrub, bc_scrub_start, and a background thread at
 * scrub_rate). Every key found bad either way is reported: a bounded
 * in-memory set of numbered reports (bc_corrupt_next) that a key leaves
 * when it is overwritten or deleted. The set does not survive bc_close;
 * after a restart the next scrub pass finds the rot again.
 *
 * Identity: each data directory holds a random id in its file `id`
 * (bc_id), drawn when the directory is first opened without one, so an
 * emptied directory comes back as a new volume.
 *
 * Threads: every function may be called from any thread concurrently,
 * except bc_open/bc_close. A struct bc_write belongs to one thread.
 *
 * Errors: functions return 0 or a negative errno:
 *   -ENOENT  key absent           -ENOSPC  no room on disk (or max_disk)
 *   -EFBIG   value over limits    -EIO     read/write/sync failed
 *   -ENOMEM  allocation failed    -EINVAL  bad argument (e.g. key length)
 *   -EBUSY   bc_open: another process holds the directory's LOCK file
 *   -EBADMSG bc_read: the record failed its check (reported as corrupt)
 */
#ifndef CASK_BITCASK_H
#define CASK_BITCASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/key.h"
#include "common/md5.h"
#include "volume/corrupt.h"

/* Hex characters of bc_id and bc_run. */
#define BC_ID_LEN  32
#define BC_RUN_LEN 16

enum bc_sync {
	BC_SYNC_ALWAYS, /* one fdatasync per write, serially */
	BC_SYNC_BATCH,	/* group commit: one fdatasync covers every write
			 * that arrived while the previous one ran */
	BC_SYNC_NONE,	/* never wait for the disk (acknowledged writes
			 * can be lost on power failure) */
};

struct bc_options {
	const char *dir;       /* created if missing */
	uint64_t segment_size; /* roll threshold, e.g. 1 GiB */
	enum bc_sync sync;
	double merge_threshold;	    /* merge a sealed segment whose dead
				     * fraction is at least this (0.5) */
	uint64_t merge_interval_ms; /* how often the merge thread looks;
				     * 0 disables background merging */
	uint64_t max_disk;	    /* bytes of segments allowed; 0 = no
				     * limit but the filesystem's */
	uint64_t scrub_rate;	    /* background scrub: record bytes read
				     * per second, pass after pass; 0: no
				     * background passes */
	uint32_t corrupt_max;	    /* corrupt-key reports kept; 0:
				     * CORRUPT_CAP_DEFAULT */
};

struct bc;

/* Opens (creating if needed) and recovers the store: hint files first,
 * then a scan of every segment newer than its hint. A torn tail is
 * truncated; a corrupt record in the middle is skipped, counted in
 * bc_stats.corrupt_records and logged, and every record after it loads.
 * Reads the directory's id, or draws one and writes it (temp file, fsync,
 * rename, directory fsync) when there is none or it is unreadable. Starts
 * the sync, merge and scrub threads. */
int bc_open(const struct bc_options *opt, struct bc **out);

/* Clean shutdown: waits for in-flight writes to finish or abort, syncs,
 * writes hint files for every segment that lacks one, frees everything.
 * Callers must have stopped issuing new operations. */
void bc_close(struct bc *bc);

struct bc_write;

/* bc_write_begin's size for a value whose size is known only at its
 * end. */
#define BC_SIZE_UNKNOWN UINT64_MAX

/* Reserves a record for `key` with a value of exactly `size` bytes.
 * Disk space is allocated now (fallocate), so a full disk answers
 * -ENOSPC before the client sends the body.
 *
 * With size BC_SIZE_UNKNOWN nothing is reserved yet: the value is spooled
 * (see above) until bc_write_commit*, which reserves it and may then
 * answer -ENOSPC. The spool's bytes count in the filesystem's free space
 * but not in max_disk. Such a write takes its place in the store's order
 * (see Ordering) when it commits, not when it begins. */
int bc_write_begin(struct bc *bc, const char *key, size_t klen, uint64_t size,
		   struct bc_write **out);

/* Writes the next `len` body bytes (pwrite at their place, or to the
 * spool). Returns -EFBIG if that would exceed the reserved size (for a
 * spooled value, REC_VALUE_MAX), -EIO/-ENOSPC on write failure (the
 * write must then be aborted). */
int bc_write_append(struct bc_write *w, const void *data, size_t len);

/* Seals the record: requires exactly `size` bytes appended (-EINVAL
 * otherwise, and the write is aborted; a spooled value's size is what was
 * appended), writes the final header, waits for the covering sync, then
 * publishes the key. Frees `w` in every case. On success `md5` (if not
 * NULL) receives the value's digest. Built on bc_write_commit_async. */
int bc_write_commit(struct bc_write *w, uint8_t md5[MD5_LEN]);

/* Called once when an asynchronous commit ends: rc is 0 once the record is
 * durable and its key visible, else a negative errno (the key then keeps
 * its previous value). md5 is the value's digest on success, NULL
 * otherwise, and is valid only during the call. */
typedef void (*bc_commit_fn)(void *arg, int rc, const uint8_t md5[MD5_LEN]);

/* The same as bc_write_commit without waiting: `w` is consumed in every
 * case. Returns 0 when `done` will be called exactly once: under
 * BC_SYNC_BATCH on the sync thread, right after the fdatasync that covers
 * the record (the key is published before the call); under ALWAYS and
 * NONE, or when queueing fails, inline before this returns. Returns a
 * negative errno when the commit failed at once (wrong size, header write
 * failed; for a spooled value also the reservation, -ENOSPC, or the
 * copy): `done` is then never called. A spooled value is copied into its
 * record on the calling thread before this returns. `done` runs on a thread
 * shared by every write, so it must not block, and must not call bc_write_*,
 * bc_put, bc_delete or bc_purge: a nested commit would wait for the very
 * thread it runs on. */
int bc_write_commit_async(struct bc_write *w, bc_commit_fn done, void *arg);

/* Abandons the record: it is marked dead on disk (recovery skips it, merge
 * reclaims it) and the key keeps its previous value. Frees `w`. */
void bc_write_abort(struct bc_write *w);

/* Convenience for small values and tests: begin + append + commit. */
int bc_put(struct bc *bc, const char *key, size_t klen, const void *val,
	   uint64_t size, uint8_t md5[MD5_LEN]);

/* Most keys one bc_purge_async takes. */
#define BC_PURGE_MAX 1024

struct bc_key {
	const char *key;
	size_t klen;
};

/* Called once when a batch of deletions ends. rc 0: every present key's
 * tombstone is durable and the key is gone from the keydir; results[i]
 * (one per key, in request order, valid only during the call) is 0 for a
 * key that was deleted, -ENOENT for one that was absent. rc < 0: the
 * batch failed (results is NULL) and the keys that were present still
 * read as before, unless recovery later applies tombstones that reached
 * the disk (a failed sync makes the store refuse writes anyway). */
typedef void (*bc_purge_fn)(void *arg, int rc, const int *results);

/* Deletes n keys (1..BC_PURGE_MAX) with one tombstone per present key:
 * all of them are written in one reservation with one pwrite and covered
 * by one sync (under BC_SYNC_BATCH they join the group commit like a
 * put; under ALWAYS one fdatasync on the calling thread, under NONE
 * none). Absent keys are answered -ENOENT and write nothing. A tombstone
 * is published only once no put of its key reserved before it is still
 * in flight (see bc_write_begin's ordering), without blocking on it: the
 * end of that put publishes it. Keys are copied; nothing is kept.
 *
 * Returns 0 when `done` will be called exactly once: on the sync thread
 * after the covering fdatasync, on the thread that ends an older put of
 * one of the keys, or inline before this returns (no key present, sync
 * modes ALWAYS and NONE, queueing failed). Returns a negative errno when
 * nothing was deleted at once (-EINVAL for a bad key or n, -ENOSPC,
 * -EIO, -ENOMEM): `done` is then never called. `done` has the
 * constraints of a bc_commit_fn: it must not block nor call bc_write_*,
 * bc_put, bc_delete or bc_purge. */
int bc_purge_async(struct bc *bc, const struct bc_key *keys, size_t n,
		   bc_purge_fn done, void *arg);

/* bc_purge_async that waits: fills results[0..n) as above and returns the
 * batch's rc. */
int bc_purge(struct bc *bc, const struct bc_key *keys, size_t n, int *results);

/* Deletes one key (bc_purge of one): 0 once its tombstone is durable and
 * the key gone, -ENOENT when the key is absent (nothing is written). */
int bc_delete(struct bc *bc, const char *key, size_t klen);

struct bc_entry {
	uint32_t segment;
	uint64_t value_offset; /* file offset of the first value byte */
	uint64_t size;
	uint8_t md5[MD5_LEN];
};

/* Looks up `key`. With fd != NULL also returns a dup()ed descriptor of the
 * segment that holds the value, owned by the caller (libmicrohttpd closes
 * it when the response ends), so a segment removed by merge stays readable
 * until the last response that reads it is done. */
int bc_get(struct bc *bc, const char *key, size_t klen, struct bc_entry *e,
	   int *fd);

/* Looks up `key` like bc_get with a descriptor, but a value of at most
 * `max` bytes comes back as a copy instead: *val is a malloc()ed buffer of
 * e->size bytes (never NULL, even for an empty value) that the caller
 * frees, and *fd is -1. A bigger value comes back as bc_get's dup()ed
 * descriptor in *fd, with *val NULL. The copy costs one pread and no
 * descriptor: the file version is pinned rather than dup()ed, and no lock
 * is held across the read, so a read that misses the page cache holds up
 * no writer (merge waits for it before it closes that file). The copy is
 * read with its header and key and checked (rec_verify: header, key,
 * data CRC) before it is returned: a record that fails is -EBADMSG,
 * counted (corrupt_reads), logged and reported as corrupt, and so is one
 * that cannot be read whole (-EIO). The descriptor form gives the bytes as
 * stored, as sendfile would (e->md5 lets the client check them; the scrub
 * checks the records). A key already reported corrupt is -EBADMSG
 * (counted) in either form, without a read. On error both are left
 * empty. */
int bc_read(struct bc *bc, const char *key, size_t klen, size_t max,
	    struct bc_entry *e, void **val, int *fd);

/* Streams live keys in chunks without holding the whole key set in
 * memory. A cursor starts zeroed. Each call fills `cb` with the keys of
 * the next part of the keydir (those starting with prefix, if plen > 0)
 * and returns 1 while more may follow, 0 when the walk is done, or a
 * negative errno. Keys present for the whole walk are reported exactly
 * once; keys written or deleted during it may or may not be. */
struct bc_cursor {
	uint32_t shard;
};
typedef void (*bc_key_fn)(void *arg, const char *key, size_t klen,
			  uint64_t size, const uint8_t md5[MD5_LEN]);
int bc_keys_next(struct bc *bc, struct bc_cursor *cur, const char *prefix,
		 size_t plen, bc_key_fn cb, void *arg);

/* Runs a scrub pass on the calling thread, without rate limit, once no
 * other pass runs: re-reads every live record and checks its header, key,
 * data CRC and md5. Returns the number of bad records found (each
 * counted, reported as corrupt and logged) or a negative errno. */
long bc_scrub(struct bc *bc);

/* Asks the scrub thread for a pass now, without rate limit, and returns
 * at once: true if it starts one, false if a pass is already running
 * (that pass then goes on without rate limit). bc_stats shows progress. */
bool bc_scrub_start(struct bc *bc);

/* Pages through the corrupt-key reports in ascending number: calls fn
 * for up to max (> 0) reports numbered above *since and at most until,
 * under the set's lock (fn must not call into the engine), and moves
 * *since past them. Returns 1 while more may follow, 0 when none is left
 * up to until. */
int bc_corrupt_next(struct bc *bc, uint64_t *since, uint64_t until, size_t max,
		    corrupt_fn fn, void *arg);

/* Number of the newest corrupt-key report (0: none), and in *dropped
 * that of the newest one dropped for lack of room: bc_stats's two
 * fields, without its cost, for a health check polled every second. */
uint64_t bc_corrupt_seq(struct bc *bc, uint64_t *dropped);

/* The data directory's id: BC_ID_LEN lowercase hex characters (16 random
 * bytes), NUL-terminated, valid until bc_close. */
const char *bc_id(const struct bc *bc);

/* BC_RUN_LEN lowercase hex characters drawn anew by every bc_open: report
 * numbers count from 1 again in each run, so a poller keeps its place
 * per (id, run). */
const char *bc_run(const struct bc *bc);

/* Merges every sealed segment whose dead fraction is at least the
 * threshold, now, on the calling thread. Returns segments merged. */
int bc_merge(struct bc *bc);

struct bc_stats {
	uint64_t keys;
	uint64_t live_bytes; /* record bytes of live keys */
	uint64_t dead_bytes; /* overwritten, deleted, aborted, tombstones */
	uint32_t segments;
	uint64_t corrupt_records; /* skipped during recovery */
	uint64_t truncated_bytes; /* torn tails cut during recovery */
	uint64_t syncs;		  /* fdatasync calls for writes */
	uint64_t synced_writes;	  /* writes covered by those syncs */
	uint64_t sync_delays;	  /* syncs held back to gather writes */
	uint64_t merges;	  /* segments merged */
	uint64_t scrub_errors;	  /* bad records found by scrubs, ever */
	uint64_t disk_free;	  /* bytes free on the data filesystem */
	uint64_t keydir_bytes;	  /* memory held by the keydir */
	uint64_t corrupt_reads;	  /* bc_read copies that failed a check */
	uint64_t corrupt_seq;	  /* newest report number (0: none) */
	uint64_t corrupt_dropped; /* newest report dropped for room (0: none) */
	uint32_t corrupt_keys;	  /* reports in the set */
	bool scrub_running;
	uint64_t scrub_passes;	     /* finished since bc_open */
	uint64_t scrub_records;	     /* of the pass in progress, or else */
	uint64_t scrub_bytes;	     /* the last one: records checked, */
	uint64_t scrub_bad;	     /* bytes read, bad records found */
	uint64_t scrub_last_pass_ms; /* duration of the last finished pass */
	uint64_t scrub_bytes_total;  /* read by every pass */
	uint64_t scrub_rate;	     /* bc_options.scrub_rate */
};

void bc_stats(struct bc *bc, struct bc_stats *st);

/* Bytes free on the store's filesystem for an unprivileged writer (0
 * when unknown). Any thread. */
uint64_t bc_disk_free(struct bc *bc);

#endif
