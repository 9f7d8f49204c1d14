/* Bitcask engine: open and recovery, the write path with group commit,
 * reads, key walks, stats and close. Merge and scrub live in their own
 * files; see bitcask_int.h for the locking rules. */
#include "volume/bitcask.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/fs.h"
#include "common/log.h"
#include "volume/bitcask_int.h"
#include "volume/hint.h"
#include "volume/record.h"
#include "volume/scan.h"

/* Disk space allocated ahead of the active segment's tail. */
#define PREALLOC (UINT64_C(1) << 20)

/* A large value starts its writeback every this many bytes as it
 * streams in, so the commit's fdatasync waits for the tail rather than
 * for the whole value (the dirty-page thresholds here are gigabytes, so
 * the kernel would otherwise write nothing before the sync). */
#define WRITEBACK_STEP (8u << 20)

/* Values up to this size are gathered in memory and written in one go;
 * at most one such buffer per connection, so memory stays bounded. */
#define INLINE_MAX (64 * 1024)

/* A commit waiting for the group sync (under sync_mu while queued): a
 * put or a batch of tombstones. The sync thread calls end once the sync
 * numbered `ticket` is done (rc 0) or failed. */
struct bc_commit {
	uint64_t ticket;
	struct bc_commit *next;
	void (*end)(struct bc_commit *c, int rc);
};

#define container_of(p, type, member)                                          \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

/* A write handle's one life: reserved, bytes appended while W_OPEN; then
 * either aborted, or sealed by its commit (final header written, owned by
 * the commit path until commit_end frees it). */
enum bc_write_state { W_OPEN = 1, W_SEALED };

struct bc_write {
	struct bc *bc;
	enum bc_write_state state;
	struct bc_seg *seg;
	uint64_t off;	   /* record offset */
	uint64_t size;	   /* value bytes reserved */
	uint64_t done;	   /* value bytes written */
	uint64_t flushing; /* value bytes whose writeback was started */
	uint64_t timestamp;
	uint32_t crc;
	struct md5 md5;
	/* Small values are gathered here with their header and key and
	 * written with one pwrite at commit: every pwrite takes the file's
	 * inode lock, which concurrent small PUTs otherwise queue on. */
	uint8_t *rec;
	/* A value of unknown size (BC_SIZE_UNKNOWN) until its commit: the
	 * bytes so far, in an unlinked file of the data directory; -1
	 * otherwise. Such a write has no place (seg NULL) until then. */
	int spool;
	/* Links in bc->inflight, under wmu, from reservation to release. */
	struct bc_write *inext, *iprev;
	/* An asynchronous commit: whom to tell, and its place in the group
	 * commit queue until the sync that covers it ends. */
	bc_commit_fn commit_done;
	void *commit_arg;
	struct bc_commit commit;
	uint8_t digest[MD5_LEN];
	uint16_t klen;
	char key[];
};

static int seg_fd(const struct bc_seg *seg)
{
	return seg->fd[seg->gen];
}

static int pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
	const uint8_t *c = p;
	while (len > 0) {
		ssize_t k = pwrite(fd, c, len, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == ENOSPC || errno == EDQUOT ? -ENOSPC
								  : -EIO;
		c += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

int bc_pread_all(int fd, void *p, size_t len, uint64_t off)
{
	uint8_t *c = p;
	while (len > 0) {
		ssize_t k = pread(fd, c, len, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO;
		c += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* ---- segment table ---- */

static void seg_free(struct bc_seg *seg)
{
	for (int i = 0; i < 2; i++)
		if (seg->fd[i] >= 0)
			close(seg->fd[i]);
	free(seg);
}

/* Adds seg to the table, growing it; takes segs_lock. */
static int seg_insert(struct bc *bc, struct bc_seg *seg)
{
	int rc = 0;
	pthread_rwlock_wrlock(&bc->segs_lock);
	if (seg->id >= bc->segs_cap) {
		uint32_t cap = bc->segs_cap ? bc->segs_cap : 64;
		while (cap <= seg->id)
			cap *= 2;
		struct bc_seg **s =
			realloc(bc->segs, cap * sizeof(struct bc_seg *));
		if (!s) {
			rc = -ENOMEM;
		} else {
			memset(s + bc->segs_cap, 0,
			       (cap - bc->segs_cap) * sizeof(struct bc_seg *));
			bc->segs = s;
			bc->segs_cap = cap;
		}
	}
	if (!rc)
		bc->segs[seg->id] = seg;
	pthread_rwlock_unlock(&bc->segs_lock);
	return rc;
}

/* Opens (or creates) segment `id`. Returns it, or NULL with *err set. */
static struct bc_seg *seg_open(struct bc *bc, uint32_t id, bool create,
			       int *err)
{
	char path[PATH_MAX];
	*err = hint_path(path, bc->dir, id, "data");
	if (*err)
		return NULL;
	int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
	int fd = open(path, flags, 0644);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	struct bc_seg *seg = calloc(1, sizeof(*seg));
	if (!seg) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	seg->id = id;
	seg->fd[0] = fd;
	seg->fd[1] = -1;
	return seg;
}

void bc_account_dead(struct bc *bc, uint32_t id, uint64_t bytes)
{
	pthread_rwlock_rdlock(&bc->segs_lock);
	struct bc_seg *seg = bc_seg_at(bc, id);
	if (seg)
		atomic_fetch_sub(&seg->live, bytes);
	pthread_rwlock_unlock(&bc->segs_lock);
}

/* Makes a new, empty active segment. Called with wmu held. The directory
 * is synced so that the file itself survives a crash, not just its data. */
static int roll(struct bc *bc)
{
	uint32_t id = bc->active ? bc->active->id + 1 : 1;
	if (id > KEYDIR_SEG_MAX)
		return -ENOSPC;
	int rc;
	struct bc_seg *seg = seg_open(bc, id, true, &rc);
	if (!seg)
		return rc;
	rc = fs_sync_dir(bc->dir);
	if (!rc)
		rc = seg_insert(bc, seg);
	if (rc) {
		char path[PATH_MAX];
		if (!hint_path(path, bc->dir, id, "data"))
			unlink(path);
		seg_free(seg);
		return rc;
	}
	/* Give back the old segment's preallocated tail. Failing only wastes
	 * that space, so it does not fail the write. */
	if (bc->active)
		(void)!ftruncate(seg_fd(bc->active),
				 (off_t)atomic_load(&bc->active->bytes));
	bc->active = seg;
	return 0;
}

/* ---- keydir updates shared by recovery and the write path ---- */

static int publish_put(struct bc *bc, struct bc_seg *seg, const char *key,
		       uint16_t klen, uint64_t off, uint64_t vlen,
		       const uint8_t md5[MD5_LEN])
{
	struct keydir_loc loc = {.seg = seg->id,
				 .gen = seg->gen,
				 .off = off,
				 .size = vlen},
			  old;
	bool had_old;
	memcpy(loc.md5, md5, MD5_LEN);
	int rc = keydir_put(bc->kd, key, klen, &loc, &old, &had_old);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		atomic_fetch_add(&seg->live, rec_size(klen, vlen));
		if (had_old)
			bc_account_dead(bc, old.seg, rec_size(klen, old.size));
		bc_forget_corrupt(bc, key, klen);
	}
	return 0;
}

static void publish_del(struct bc *bc, struct bc_seg *seg, const char *key,
			uint16_t klen, uint64_t off)
{
	struct keydir_loc old;
	atomic_fetch_add(&seg->tomb, rec_size(klen, 0));
	if (keydir_del(bc->kd, key, klen, seg->id, off, &old) == 1) {
		bc_account_dead(bc, old.seg, rec_size(klen, old.size));
		bc_forget_corrupt(bc, key, klen);
	}
}

/* ---- recovery ---- */

struct recover_ctx {
	struct bc *bc;
	struct bc_seg *seg;
};

static int recover_rec(void *arg, const struct rec_hdr *h, uint64_t off,
		       const char *key)
{
	struct recover_ctx *c = arg;
	if (h->type == REC_TOMBSTONE) {
		publish_del(c->bc, c->seg, key, h->klen, off);
		return 0;
	}
	return publish_put(c->bc, c->seg, key, h->klen, off, h->vlen, h->md5);
}

static int recover_hint(void *arg, const struct hint_entry *e)
{
	struct rec_hdr h = {.type = e->type, .klen = e->klen, .vlen = e->vlen};
	memcpy(h.md5, e->md5, MD5_LEN);
	return recover_rec(arg, &h, e->off, e->key);
}

/* Where the bytes of [from, to) of fd that are not zeros end: the file
 * past it holds only zeros written ahead of the tail. A read error
 * answers `to`, so the whole rest counts as torn. */
static uint64_t data_end(int fd, uint64_t from, uint64_t to)
{
	char buf[16 * 1024];
	for (uint64_t pos = to; pos > from;) {
		size_t n = pos - from < sizeof(buf) ? (size_t)(pos - from)
						    : sizeof(buf);
		if (pread(fd, buf, n, (off_t)(pos - n)) != (ssize_t)n)
			return to;
		while (n > 0 && !buf[n - 1])
			n--, pos--;
		if (n > 0)
			return pos;
	}
	return from;
}

/* Loads one segment into the keydir: its hint, then a verified scan of
 * whatever lies beyond the hint, cutting a torn tail. */
static int recover_seg(struct bc *bc, struct bc_seg *seg)
{
	struct recover_ctx ctx = {bc, seg};
	struct stat st;
	if (fstat(seg_fd(seg), &st))
		return -EIO;
	uint64_t size = (uint64_t)st.st_size, from = 0;
	int rc = hint_load(bc->dir, seg->id, size, &from, recover_hint, &ctx);
	if (rc == -EBADMSG)
		log_warn("bitcask %s: segment %08u: invalid hint, scanning",
			 bc->dir, seg->id);
	else if (rc && rc != -ENOENT)
		return rc;
	bool hinted = rc == 0;
	if (!hinted)
		from = 0;

	struct scan_result res;
	rc = scan_segment(seg_fd(seg), from, size, true, recover_rec, &ctx,
			  &res);
	if (rc)
		return rc;
	if (res.corrupt) {
		log_warn("bitcask %s: segment %08u: skipped %llu corrupt "
			 "record(s)",
			 bc->dir, seg->id, (unsigned long long)res.corrupt);
		atomic_fetch_add(&bc->corrupt, res.corrupt);
	}
	if (res.end < size) {
		/* Zeros written ahead of the tail are not damage. */
		uint64_t torn = data_end(seg_fd(seg), res.end, size) - res.end;
		if (torn)
			log_warn("bitcask %s: segment %08u: truncating torn "
				 "tail at %llu (%llu bytes)",
				 bc->dir, seg->id, (unsigned long long)res.end,
				 (unsigned long long)torn);
		if (ftruncate(seg_fd(seg), (off_t)res.end))
			return -EIO;
		atomic_fetch_add(&bc->truncated, torn);
		size = res.end;
	}
	atomic_store(&seg->bytes, size);
	atomic_fetch_add(&bc->disk_bytes, size);
	seg->hint_len = hinted && from == size ? size : 0;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Parses "NNNNNNNN.data". */
static bool data_name(const char *name, uint32_t *id)
{
	uint32_t v = 0;
	for (int i = 0; i < 8; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(name[i] - '0');
	}
	if (strcmp(name + 8, ".data") != 0 || v == 0 || v > KEYDIR_SEG_MAX)
		return false;
	*id = v;
	return true;
}

/* Lists segment ids in ascending order and removes temporary files left
 * by an interrupted merge or hint write. */
static int list_segments(struct bc *bc, uint32_t **ids, size_t *n)
{
	DIR *d = opendir(bc->dir);
	if (!d)
		return -errno;
	size_t cap = 0, cnt = 0;
	uint32_t *v = NULL;
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		uint32_t id;
		size_t len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (!data_name(de->d_name, &id))
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 64;
			uint32_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[cnt++] = id;
	}
	closedir(d);
	if (rc) {
		free(v);
		return rc;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u32);
	*ids = v;
	*n = cnt;
	return 0;
}

static int recover(struct bc *bc)
{
	uint32_t *ids = NULL;
	size_t n = 0;
	int rc = list_segments(bc, &ids, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		struct bc_seg *seg = seg_open(bc, ids[i], false, &rc);
		if (!seg)
			break;
		rc = seg_insert(bc, seg);
		if (rc) {
			seg_free(seg);
			break;
		}
		bc->active = seg;
		rc = recover_seg(bc, seg);
	}
	free(ids);
	if (rc)
		return rc;
	if (!bc->active ||
	    atomic_load(&bc->active->bytes) >= bc->opt.segment_size)
		rc = roll(bc);
	return rc;
}

/* ---- group commit ---- */

/* Unlinks the commits that the sync up to `target` covers, in order.
 * Called with sync_mu held. */
static struct bc_commit *take_commits(struct bc *bc, uint64_t target)
{
	struct bc_commit *first = bc->commits, *last = NULL;
	for (struct bc_commit *c = first; c && c->ticket <= target; c = c->next)
		last = c;
	if (!last)
		return NULL;
	bc->commits = last->next;
	last->next = NULL;
	if (!bc->commits)
		bc->commits_tail = &bc->commits;
	return first;
}

/* How long a sync may wait for more writes to join it, and how many
 * syncs go undelayed after a delay that gathered nothing. */
#define GATHER_US    1000
#define GATHER_PROBE 64

/* Makes group commits fill. A sync on this disk costs ~40-90 us of CPU
 * whether it covers one write or fifty, and under load the next write
 * arrives within a millisecond, so one sync per write spends CPU that
 * concurrent clients need. While writes come that close together, the
 * sync waits GATHER_US for more. A delay that gathers nothing (a lone
 * client, whose next write waits for this one) only costs latency, so
 * after such delays the next GATHER_PROBE syncs go at once; then one more
 * try tells whether the load changed. Called with sync_mu held. */
static void gather(struct bc *bc)
{
	if (bc->gather_skip) {
		bc->gather_skip--;
		return;
	}
	if (bc->gap_us > 2 * GATHER_US)
		return;
	uint64_t before = bc->sync_req;
	pthread_mutex_unlock(&bc->sync_mu);
	/* A plain sleep: waiting on sync_cv would wake at every write. */
	struct timespec ts = {0, GATHER_US * 1000L};
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&bc->sync_mu);
	atomic_fetch_add(&bc->sync_delays, 1);
	uint64_t joined = bc->sync_req - before;
	joined = joined < 64 ? joined : 64;
	bc->gather_gain = (3 * bc->gather_gain + 16 * (unsigned)joined) / 4;
	if (bc->gather_gain < 8) /* under half a write per delay */
		bc->gather_skip = GATHER_PROBE;
}

static void *sync_main(void *arg)
{
	pthread_setname_np(pthread_self(), "bc-sync");
	struct bc *bc = arg;
	uint32_t *ids = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&bc->sync_mu);
	for (;;) {
		while (bc->sync_req == bc->sync_done && !bc->sync_stop)
			pthread_cond_wait(&bc->sync_cv, &bc->sync_mu);
		if (bc->sync_req == bc->sync_done)
			break;
		if (!bc->sync_stop)
			gather(bc);
		uint64_t target = bc->sync_req;
		size_t n = bc->ndirty;
		/* Swap buffers so committers can queue the next batch while
		 * this one syncs. */
		uint32_t *mine = bc->dirty;
		bc->dirty = ids;
		bc->dirty_cap = cap;
		bc->ndirty = 0;
		ids = mine;
		cap = n > cap ? n : cap;
		pthread_mutex_unlock(&bc->sync_mu);

		bool failed = false;
		pthread_rwlock_rdlock(&bc->segs_lock);
		for (size_t i = 0; i < n; i++) {
			struct bc_seg *seg = bc_seg_at(bc, mine[i]);
			if (seg && fdatasync(seg_fd(seg)))
				failed = true;
		}
		pthread_rwlock_unlock(&bc->segs_lock);

		pthread_mutex_lock(&bc->sync_mu);
		if (failed && !atomic_exchange(&bc->failed, -EIO))
			log_error("bitcask %s: fdatasync failed; refusing "
				  "writes from now on",
				  bc->dir);
		atomic_fetch_add(&bc->syncs, 1);
		atomic_fetch_add(&bc->synced_writes, target - bc->sync_done);
		bc->sync_done = target;
		pthread_cond_broadcast(&bc->synced_cv);
		/* Publish and answer outside sync_mu, so committers can queue
		 * the next batch meanwhile. */
		struct bc_commit *c = take_commits(bc, target);
		pthread_mutex_unlock(&bc->sync_mu);
		int rc = atomic_load(&bc->failed) ? -EIO : 0;
		while (c) {
			struct bc_commit *next = c->next;
			c->end(c, rc);
			c = next;
		}
		pthread_mutex_lock(&bc->sync_mu);
	}
	pthread_mutex_unlock(&bc->sync_mu);
	free(ids);
	return NULL;
}

/* Queues seg for the next group sync, counting `writes` records, and
 * returns the ticket that sync will reach. Called with sync_mu held. */
static int sync_ticket(struct bc *bc, struct bc_seg *seg, uint64_t writes,
		       uint64_t *ticket)
{
	bool queued = false;
	for (size_t i = 0; i < bc->ndirty && !queued; i++)
		queued = bc->dirty[i] == seg->id;
	if (!queued && bc->ndirty == bc->dirty_cap) {
		size_t cap = bc->dirty_cap ? 2 * bc->dirty_cap : 8;
		uint32_t *d = realloc(bc->dirty, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		bc->dirty = d;
		bc->dirty_cap = cap;
	}
	if (!queued)
		bc->dirty[bc->ndirty++] = seg->id;
	uint64_t now = clock_mono_us(), gap = now - bc->last_write_us;
	gap = gap < 1000000 ? gap : 1000000;
	bc->gap_us = (7 * bc->gap_us + gap) / 8;
	bc->last_write_us = now;
	bc->sync_req += writes;
	*ticket = bc->sync_req;
	pthread_cond_signal(&bc->sync_cv);
	return 0;
}

/* Queues c behind the next group sync of seg. The sync thread owns c
 * from here and may end it at once. Returns 0, or -ENOMEM with c not
 * queued. */
static int queue_commit(struct bc *bc, struct bc_seg *seg, uint64_t writes,
			struct bc_commit *c)
{
	assert(bc->opt.sync == BC_SYNC_BATCH);
	pthread_mutex_lock(&bc->sync_mu);
	int rc = sync_ticket(bc, seg, writes, &c->ticket);
	if (!rc) {
		c->next = NULL;
		*bc->commits_tail = c;
		bc->commits_tail = &c->next;
	}
	pthread_mutex_unlock(&bc->sync_mu);
	return rc;
}

/* Under BC_SYNC_ALWAYS and BC_SYNC_NONE: returns once the bytes written
 * so far to seg (`writes` records) are as durable as the mode promises.
 * (BC_SYNC_BATCH commits go through queue_commit.) */
static int wait_durable(struct bc *bc, struct bc_seg *seg, uint64_t writes)
{
	assert(bc->opt.sync != BC_SYNC_BATCH);
	if (bc->opt.sync == BC_SYNC_ALWAYS) {
		if (fdatasync(seg_fd(seg))) {
			if (!atomic_exchange(&bc->failed, -EIO))
				log_error("bitcask %s: fdatasync failed; "
					  "refusing writes from now on",
					  bc->dir);
			return -EIO;
		}
		atomic_fetch_add(&bc->syncs, 1);
		atomic_fetch_add(&bc->synced_writes, writes);
	}
	return atomic_load(&bc->failed) ? -EIO : 0;
}

/* ---- write path ---- */

/* Writes zeros over [from, to) of fd and starts their writeback, so the
 * next group commit does not wait for them. */
static int zero_fill(int fd, uint64_t from, uint64_t to)
{
	static const char zeros[64 * 1024];
	for (uint64_t pos = from; pos < to;) {
		size_t n = to - pos < sizeof(zeros) ? (size_t)(to - pos)
						    : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)pos);
		if (w <= 0)
			return w < 0 && (errno == ENOSPC || errno == EDQUOT)
				       ? -ENOSPC
				       : -EIO;
		pos += (uint64_t)w;
	}
	(void)sync_file_range(fd, (off_t)from, (off_t)(to - from),
			      SYNC_FILE_RANGE_WRITE);
	return 0;
}

/* Allocates disk blocks for [off, off + len) before the body arrives, so
 * a full disk answers now, PREALLOC ahead so small records do not pay a
 * syscall each.
 *
 * A small record lands in zeros written ahead: overwriting written blocks
 * inside the file's length leaves the group commit's fdatasync no
 * metadata to write (no size change, no unwritten extent to convert),
 * which measured about a third less CPU per sync on this disk. The file
 * is then longer than its records: recovery cuts an all-zero tail
 * silently, roll and close cut it. A large record would double its
 * writes that way, so it gets FALLOC_FL_KEEP_SIZE blocks instead, which
 * leave the file length at what was written. Called with wmu held. */
static int preallocate(struct bc *bc, struct bc_seg *seg, uint64_t off,
		       uint64_t len)
{
	uint64_t end = off + len, max = bc->opt.segment_size;
	bool small = len <= INLINE_MAX;
	if (end <= (small ? seg->zero_end : seg->alloc_end))
		return 0;
	uint64_t want = end;
	if (end < max)
		want = max - end > PREALLOC ? end + PREALLOC : max;
	int fd = seg_fd(seg);
	if (small) {
		int rc = zero_fill(
			fd, seg->zero_end > off ? seg->zero_end : off, want);
		if (rc == 0) {
			seg->zero_end = want;
			if (seg->alloc_end < want)
				seg->alloc_end = want;
			return 0;
		}
		if (rc != -ENOSPC)
			return rc;
	} else if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off,
			     (off_t)(want - off)) == 0 ||
		   errno == EOPNOTSUPP) {
		seg->alloc_end = want;
		return 0;
	}
	/* Near a full disk the step ahead may not fit where the record does. */
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) {
		if (seg->alloc_end < end)
			seg->alloc_end = end;
		return 0;
	}
	return errno == ENOSPC || errno == EDQUOT || errno == EOPNOTSUPP
		       ? -ENOSPC
		       : -EIO;
}

/* Reserves len bytes at the end of the active segment, under wmu, and
 * allocates them on disk. Nothing is written here, so a failed
 * reservation leaves the segment as it was. A put's write `w` joins the
 * in-flight list in the same critical section that gives it its place, so
 * a later tombstone always sees the puts that precede it. */
static int reserve(struct bc *bc, uint64_t len, struct bc_write *w,
		   struct bc_seg **seg_out, uint64_t *off_out)
{
	int rc = 0;
	pthread_mutex_lock(&bc->wmu);
	struct bc_seg *seg = bc->active;
	uint64_t off = atomic_load(&seg->bytes);
	uint64_t max = bc->opt.segment_size;
	if (off > 0 && (off >= max || len > max - off)) {
		rc = roll(bc);
		seg = bc->active;
		off = 0;
	}
	if (!rc && bc->opt.max_disk &&
	    atomic_load(&bc->disk_bytes) + len > bc->opt.max_disk)
		rc = -ENOSPC;
	if (!rc && off + len > KEYDIR_OFF_MAX)
		rc = -EFBIG;
	if (!rc)
		rc = preallocate(bc, seg, off, len);
	if (!rc) {
		atomic_store(&seg->bytes, off + len);
		atomic_fetch_add(&bc->disk_bytes, len);
		atomic_fetch_add(&seg->writers, 1);
		bc->writers++;
		seg->hint_len = 0;
		*seg_out = seg;
		*off_out = off;
		if (w) {
			w->iprev = NULL;
			w->inext = bc->inflight;
			if (bc->inflight)
				bc->inflight->iprev = w;
			bc->inflight = w;
		}
	}
	pthread_mutex_unlock(&bc->wmu);
	return rc;
}

/* Tombstones are written in batches (bc_purge_async): one reservation,
 * one pwrite and one sync for all of them. A tombstone is published (its
 * key removed from the keydir) once it is durable and no put of its key
 * reserved before it is still in flight: such a put, committed after the
 * tombstone, would be published over the deletion, while recovery, which
 * orders records by place, would apply the deletion. Rather than wait
 * for those puts (the body of one may be arriving on the very thread
 * that would wait), the tombstone is parked in bc->tomb_wait and the end
 * of the last such put publishes it. */
struct bc_tomb {
	struct bc_purge *batch;
	const char *key; /* in the batch's allocation */
	uint16_t klen;
	uint64_t off;		       /* the record's offset in batch->seg */
	struct bc_tomb *wnext, *wprev; /* bc->tomb_wait, under wmu */
};

struct bc_purge {
	struct bc *bc;
	struct bc_commit commit;
	struct bc_seg *seg;
	uint64_t off, len; /* the reservation that holds every tombstone */
	bc_purge_fn done;
	void *arg;
	size_t n, ntomb;
	/* Tombstones not yet published, plus one while the sync's end is
	 * still publishing: whoever takes it to 0 finishes the batch. */
	atomic_size_t unpublished;
	int *results;	      /* n: 0 or -ENOENT, in request order */
	struct bc_tomb *tomb; /* ntomb, one per present key */
};

static bool older_put_in_flight(struct bc *bc, const char *key, uint16_t klen,
				uint32_t seg, uint64_t off)
{
	for (struct bc_write *w = bc->inflight; w; w = w->inext)
		if (w->klen == klen && memcmp(w->key, key, klen) == 0 &&
		    (w->seg->id < seg || (w->seg->id == seg && w->off < off)))
			return true;
	return false;
}

static void tomb_wait_unlink(struct bc *bc, struct bc_tomb *t)
{
	if (t->wprev)
		t->wprev->wnext = t->wnext;
	else
		bc->tomb_wait = t->wnext;
	if (t->wnext)
		t->wnext->wprev = t->wprev;
}

static void purge_unref(struct bc_purge *p, size_t k);

/* Publishes tombstones taken off bc->tomb_wait (linked by wnext), with
 * no lock held. */
static void publish_parked(struct bc *bc, struct bc_tomb *t)
{
	while (t) {
		struct bc_tomb *next = t->wnext;
		publish_del(bc, t->batch->seg, t->key, t->klen, t->off);
		purge_unref(t->batch, 1);
		t = next;
	}
}

/* Ends a reservation. A record that was abandoned at the very tail of the
 * active segment is cut off again, so failed uploads do not eat space.
 * The end of a put (w) publishes the tombstones that waited for it. */
static void release(struct bc *bc, struct bc_seg *seg, uint64_t off,
		    uint64_t len, bool rollback, struct bc_write *w)
{
	struct bc_tomb *ready = NULL;
	pthread_mutex_lock(&bc->wmu);
	if (w) {
		if (w->iprev)
			w->iprev->inext = w->inext;
		else
			bc->inflight = w->inext;
		if (w->inext)
			w->inext->iprev = w->iprev;
		for (struct bc_tomb *t = bc->tomb_wait, *next; t; t = next) {
			next = t->wnext;
			if (t->klen != w->klen ||
			    memcmp(t->key, w->key, w->klen) != 0 ||
			    older_put_in_flight(bc, t->key, t->klen,
						t->batch->seg->id, t->off))
				continue;
			tomb_wait_unlink(bc, t);
			t->wnext = ready;
			ready = t;
		}
	}
	if (rollback && seg == bc->active &&
	    atomic_load(&seg->bytes) == off + len &&
	    ftruncate(seg_fd(seg), (off_t)off) == 0) {
		seg->alloc_end = off;
		seg->zero_end = off;
		atomic_store(&seg->bytes, off);
		atomic_fetch_sub(&bc->disk_bytes, len);
	}
	atomic_fetch_sub(&seg->writers, 1);
	if (--bc->writers == 0)
		pthread_cond_broadcast(&bc->idle_cv);
	pthread_mutex_unlock(&bc->wmu);
	/* Outside wmu: keydir locks nest outside it. */
	publish_parked(bc, ready);
}

static int check_key(const char *key, size_t klen)
{
	return key && klen > 0 && klen <= KEY_MAX ? 0 : -EINVAL;
}

/* Gives w its record: reserves rec_size(klen, w->size) bytes and, for a
 * streamed value, writes the provisional header. On failure w has no
 * place (seg NULL, no buffer) and still owns its md5 and spool. */
static int place(struct bc_write *w)
{
	struct bc *bc = w->bc;
	uint64_t len = rec_size(w->klen, w->size);
	if (w->size <= INLINE_MAX) {
		w->rec = malloc((size_t)len);
		if (!w->rec)
			return -ENOMEM;
		memcpy(w->rec + REC_HDR_SIZE, w->key, w->klen);
	}
	int rc = reserve(bc, len, w, &w->seg, &w->off);
	if (rc) {
		free(w->rec);
		w->rec = NULL;
		return rc;
	}
	/* A gathered record leaves its space unwritten (zeros) until commit,
	 * which recovery skips. A streamed one gets a provisional header so
	 * recovery can skip it by length should we crash before commit. */
	if (w->rec)
		return 0;
	uint8_t rec[REC_HDR_SIZE + KEY_MAX];
	struct rec_hdr h = {.type = REC_PENDING,
			    .klen = w->klen,
			    .vlen = w->size,
			    .timestamp = w->timestamp};
	rec_encode(&h, rec);
	memcpy(rec + REC_HDR_SIZE, w->key, w->klen);
	rc = pwrite_all(seg_fd(w->seg), rec, REC_HDR_SIZE + w->klen, w->off);
	if (rc) {
		release(bc, w->seg, w->off, len, true, w);
		w->seg = NULL;
	}
	return rc;
}

/* An unlinked file in the data directory, for a value of unknown size:
 * a crash between mkstemps and unlink leaves a .tmp that the next open
 * removes. */
static int spool_open(struct bc *bc, int *fd)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/spool-XXXXXX.tmp", bc->dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	*fd = mkstemps(path, 4);
	if (*fd < 0)
		return errno == ENOSPC || errno == EDQUOT ? -ENOSPC : -EIO;
	unlink(path);
	return 0;
}

int bc_write_begin(struct bc *bc, const char *key, size_t klen, uint64_t size,
		   struct bc_write **out)
{
	assert(bc && out);
	int rc = check_key(key, klen);
	if (rc)
		return rc;
	if (size > REC_VALUE_MAX && size != BC_SIZE_UNKNOWN)
		return -EFBIG;
	if (atomic_load(&bc->failed))
		return -EIO;
	struct bc_write *w = malloc(sizeof(*w) + klen);
	if (!w)
		return -ENOMEM;
	*w = (struct bc_write){.bc = bc,
			       .state = W_OPEN,
			       .size = size,
			       .spool = -1,
			       .klen = (uint16_t)klen,
			       .timestamp = clock_wall_ns()};
	memcpy(w->key, key, klen);
	rc = md5_init(&w->md5);
	if (rc) {
		free(w);
		return rc;
	}
	w->crc = crc32c_update(0, key, klen);
	rc = size == BC_SIZE_UNKNOWN ? spool_open(bc, &w->spool) : place(w);
	if (rc) {
		md5_discard(&w->md5);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int bc_write_append(struct bc_write *w, const void *data, size_t len)
{
	assert(w && w->state == W_OPEN && w->done <= w->size);
	assert(data || !len);
	uint64_t limit = w->spool >= 0 ? REC_VALUE_MAX : w->size;
	if (len > limit - w->done)
		return -EFBIG;
	if (w->spool >= 0) {
		int rc = pwrite_all(w->spool, data, len, w->done);
		if (rc)
			return rc;
	} else if (w->rec) {
		memcpy(w->rec + REC_HDR_SIZE + w->klen + w->done, data, len);
	} else {
		int rc = pwrite_all(seg_fd(w->seg), data, len,
				    w->off + REC_HDR_SIZE + w->klen + w->done);
		if (rc)
			return rc;
	}
	w->crc = crc32c_update(w->crc, data, len);
	md5_update(&w->md5, data, len);
	w->done += len;
	if (w->bc->opt.sync != BC_SYNC_NONE && w->spool < 0 &&
	    w->done - w->flushing >= WRITEBACK_STEP) {
		/* A hint to the kernel: a failure leaves the work to the
		 * commit's fdatasync, which reports errors. */
		uint64_t at = w->off + REC_HDR_SIZE + w->klen + w->flushing;
		(void)sync_file_range(seg_fd(w->seg), (off_t)at,
				      (off_t)(w->done - w->flushing),
				      SYNC_FILE_RANGE_WRITE);
		w->flushing = w->done;
	}
	return 0;
}

/* Writes the record's final header; a gathered record goes out whole. */
static int write_final_header(struct bc_write *w, uint8_t type,
			      const uint8_t md5[MD5_LEN])
{
	uint8_t hdr[REC_HDR_SIZE];
	struct rec_hdr h = {.data_crc = type == REC_ABORTED ? 0 : w->crc,
			    .type = type,
			    .klen = w->klen,
			    .vlen = w->size,
			    .timestamp = w->timestamp};
	memcpy(h.md5, md5, MD5_LEN);
	if (w->rec && type == REC_PUT) {
		rec_encode(&h, w->rec);
		return pwrite_all(seg_fd(w->seg), w->rec,
				  (size_t)rec_size(w->klen, w->size), w->off);
	}
	rec_encode(&h, hdr);
	return pwrite_all(seg_fd(w->seg), hdr, sizeof(hdr), w->off);
}

void bc_write_abort(struct bc_write *w)
{
	static const uint8_t zero[MD5_LEN];
	assert(w && w->state == W_OPEN);
	md5_discard(&w->md5);
	if (w->spool >= 0)
		close(w->spool);
	if (w->seg) {
		/* If this fails, the pending header still lets recovery skip
		 * it. */
		write_final_header(w, REC_ABORTED, zero);
		release(w->bc, w->seg, w->off, rec_size(w->klen, w->size), true,
			w);
	}
	free(w->rec);
	free(w);
}

/* A spooled value's size is known: its record is placed now, and the
 * bytes move from the spool into it with one copy (from the spool's page
 * cache, through a mapping). The CRC and md5 were taken as the bytes
 * arrived. The spool is closed, and so freed, either way; on failure w
 * may have a place, which bc_write_abort gives back. */
static int unspool(struct bc_write *w)
{
	w->size = w->done;
	int rc = place(w);
	if (!rc && w->size) {
		void *v = mmap(NULL, (size_t)w->size, PROT_READ, MAP_SHARED,
			       w->spool, 0);
		if (v == MAP_FAILED) {
			rc = -ENOMEM;
		} else if (w->rec) {
			memcpy(w->rec + REC_HDR_SIZE + w->klen, v,
			       (size_t)w->size);
		} else {
			uint64_t at = w->off + REC_HDR_SIZE + w->klen;
			rc = pwrite_all(seg_fd(w->seg), v, (size_t)w->size, at);
			if (!rc && w->bc->opt.sync != BC_SYNC_NONE)
				(void)sync_file_range(seg_fd(w->seg), (off_t)at,
						      (off_t)w->size,
						      SYNC_FILE_RANGE_WRITE);
		}
		if (v != MAP_FAILED)
			munmap(v, (size_t)w->size);
	}
	close(w->spool);
	w->spool = -1;
	return rc;
}

/* Ends a sealed put once its sync is done (rc 0) or failed: the key is
 * published before the reservation ends, as a tombstone waiting for older
 * puts of its key expects (see struct bc_tomb). */
static void commit_end(struct bc_write *w, int rc)
{
	assert(w->state == W_SEALED && w->commit_done);
	struct bc *bc = w->bc;
	if (!rc)
		rc = publish_put(bc, w->seg, w->key, w->klen, w->off, w->size,
				 w->digest);
	release(bc, w->seg, w->off, rec_size(w->klen, w->size), false, w);
	w->commit_done(w->commit_arg, rc, rc ? NULL : w->digest);
	free(w->rec);
	free(w);
}

static void put_synced(struct bc_commit *c, int rc)
{
	commit_end(container_of(c, struct bc_write, commit), rc);
}

int bc_write_commit_async(struct bc_write *w, bc_commit_fn done, void *arg)
{
	assert(w && w->state == W_OPEN && done);
	if (w->spool >= 0) {
		int rc = unspool(w);
		if (rc) {
			bc_write_abort(w);
			return rc;
		}
	}
	if (w->done != w->size) {
		bc_write_abort(w);
		return -EINVAL;
	}
	w->state = W_SEALED;
	struct bc *bc = w->bc;
	md5_final(&w->md5, w->digest);
	int rc = write_final_header(w, REC_PUT, w->digest);
	if (rc) {
		release(bc, w->seg, w->off, rec_size(w->klen, w->size), false,
			w);
		free(w->rec);
		free(w);
		return rc;
	}
	w->commit_done = done;
	w->commit_arg = arg;
	if (bc->opt.sync != BC_SYNC_BATCH) {
		commit_end(w, wait_durable(bc, w->seg, 1));
		return 0;
	}
	w->commit.end = put_synced;
	rc = queue_commit(bc, w->seg, 1, &w->commit);
	if (rc)
		commit_end(w, rc);
	return 0;
}

struct commit_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ended;
	int rc;
	uint8_t *md5;
};

static void commit_wake(void *arg, int rc, const uint8_t md5[MD5_LEN])
{
	struct commit_wait *cw = arg;
	pthread_mutex_lock(&cw->mu);
	if (!rc && cw->md5)
		memcpy(cw->md5, md5, MD5_LEN);
	cw->rc = rc;
	cw->ended = true;
	pthread_cond_signal(&cw->cv);
	pthread_mutex_unlock(&cw->mu);
}

int bc_write_commit(struct bc_write *w, uint8_t md5[MD5_LEN])
{
	struct commit_wait cw = {.md5 = md5};
	pthread_mutex_init(&cw.mu, NULL);
	pthread_cond_init(&cw.cv, NULL);
	int rc = bc_write_commit_async(w, commit_wake, &cw);
	if (!rc) {
		pthread_mutex_lock(&cw.mu);
		while (!cw.ended)
			pthread_cond_wait(&cw.cv, &cw.mu);
		rc = cw.rc;
		pthread_mutex_unlock(&cw.mu);
	}
	pthread_cond_destroy(&cw.cv);
	pthread_mutex_destroy(&cw.mu);
	return rc;
}

int bc_put(struct bc *bc, const char *key, size_t klen, const void *val,
	   uint64_t size, uint8_t md5[MD5_LEN])
{
	assert(val || !size);
	struct bc_write *w;
	int rc = bc_write_begin(bc, key, klen, size, &w);
	if (rc)
		return rc;
	rc = bc_write_append(w, val, (size_t)size);
	if (rc) {
		bc_write_abort(w);
		return rc;
	}
	return bc_write_commit(w, md5);
}

/* Frees a finished (or failed) batch after telling its caller. */
static void purge_finish(struct bc_purge *p, int rc)
{
	struct bc *bc = p->bc;
	release(bc, p->seg, p->off, p->len, false, NULL);
	p->done(p->arg, rc, rc ? NULL : p->results);
	free(p);
}

static void purge_unref(struct bc_purge *p, size_t k)
{
	assert(atomic_load(&p->unpublished) >= k);
	if (atomic_fetch_sub(&p->unpublished, k) == k)
		purge_finish(p, 0);
}

/* The batch's sync is done: publishes every tombstone no older put of
 * its key is in flight for, parks the others in bc->tomb_wait. */
static void purge_synced(struct bc_commit *c, int rc)
{
	struct bc_purge *p = container_of(c, struct bc_purge, commit);
	struct bc *bc = p->bc;
	if (rc) {
		purge_finish(p, rc);
		return;
	}
	/* The tombstones published here are moved to the front of the
	 * array under wmu: once a parked one is listed, another thread may
	 * publish it and touch its links at any time. */
	size_t now = 0;
	atomic_store(&p->unpublished, p->ntomb + 1);
	pthread_mutex_lock(&bc->wmu);
	for (size_t i = 0; i < p->ntomb; i++) {
		struct bc_tomb *t = &p->tomb[i];
		if (!older_put_in_flight(bc, t->key, t->klen, p->seg->id,
					 t->off)) {
			struct bc_tomb tmp = p->tomb[now];
			p->tomb[now++] = *t;
			*t = tmp;
		}
	}
	for (size_t i = now; i < p->ntomb; i++) {
		struct bc_tomb *t = &p->tomb[i];
		t->wprev = NULL;
		t->wnext = bc->tomb_wait;
		if (bc->tomb_wait)
			bc->tomb_wait->wprev = t;
		bc->tomb_wait = t;
	}
	pthread_mutex_unlock(&bc->wmu);
	for (size_t i = 0; i < now; i++)
		publish_del(bc, p->seg, p->tomb[i].key, p->tomb[i].klen,
			    p->tomb[i].off);
	purge_unref(p, now + 1);
}

int bc_purge_async(struct bc *bc, const struct bc_key *keys, size_t n,
		   bc_purge_fn done, void *arg)
{
	assert(bc && keys && done);
	if (n == 0 || n > BC_PURGE_MAX)
		return -EINVAL;
	size_t kbytes = 0;
	for (size_t i = 0; i < n; i++) {
		int rc = check_key(keys[i].key, keys[i].klen);
		if (rc)
			return rc;
		kbytes += keys[i].klen;
	}
	if (atomic_load(&bc->failed))
		return -EIO;
	/* One allocation: the batch, its tombstones, results and keys. */
	struct bc_purge *p =
		malloc(sizeof(*p) + n * (sizeof(struct bc_tomb) + sizeof(int)) +
		       kbytes);
	if (!p)
		return -ENOMEM;
	*p = (struct bc_purge){.bc = bc, .done = done, .arg = arg, .n = n};
	p->tomb = (struct bc_tomb *)(p + 1);
	p->results = (int *)(p->tomb + n);
	char *kp = (char *)(p->results + n);
	uint64_t len = 0;
	for (size_t i = 0; i < n; i++) {
		struct keydir_loc loc;
		if (keydir_get(bc->kd, keys[i].key, keys[i].klen, &loc, NULL,
			       NULL)) {
			p->results[i] = -ENOENT;
			continue;
		}
		p->results[i] = 0;
		memcpy(kp, keys[i].key, keys[i].klen);
		p->tomb[p->ntomb++] = (struct bc_tomb){
			.batch = p,
			.key = kp,
			.klen = (uint16_t)keys[i].klen,
			.off = len, /* relative until reserved */
		};
		kp += keys[i].klen;
		len += rec_size((uint16_t)keys[i].klen, 0);
	}
	if (p->ntomb == 0) {
		done(arg, 0, p->results);
		free(p);
		return 0;
	}
	uint8_t *recs = malloc((size_t)len);
	if (!recs) {
		free(p);
		return -ENOMEM;
	}
	uint64_t now = clock_wall_ns();
	for (size_t i = 0; i < p->ntomb; i++) {
		const struct bc_tomb *t = &p->tomb[i];
		struct rec_hdr h = {.data_crc =
					    crc32c_update(0, t->key, t->klen),
				    .type = REC_TOMBSTONE,
				    .klen = t->klen,
				    .timestamp = now};
		rec_encode(&h, recs + t->off);
		memcpy(recs + t->off + REC_HDR_SIZE, t->key, t->klen);
	}
	int rc = reserve(bc, len, NULL, &p->seg, &p->off);
	if (!rc) {
		p->len = len;
		rc = pwrite_all(seg_fd(p->seg), recs, (size_t)len, p->off);
		if (rc)
			release(bc, p->seg, p->off, len, true, NULL);
	}
	free(recs);
	if (rc) {
		free(p);
		return rc;
	}
	for (size_t i = 0; i < p->ntomb; i++)
		p->tomb[i].off += p->off;
	p->commit.end = purge_synced;
	if (bc->opt.sync != BC_SYNC_BATCH)
		purge_synced(&p->commit, wait_durable(bc, p->seg, p->ntomb));
	else if ((rc = queue_commit(bc, p->seg, p->ntomb, &p->commit)))
		purge_finish(p, rc);
	return 0;
}

struct purge_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ended;
	int rc;
	int *results;
	size_t n;
};

static void purge_wake(void *arg, int rc, const int *results)
{
	struct purge_wait *pw = arg;
	pthread_mutex_lock(&pw->mu);
	if (!rc)
		memcpy(pw->results, results, pw->n * sizeof(int));
	pw->rc = rc;
	pw->ended = true;
	pthread_cond_signal(&pw->cv);
	pthread_mutex_unlock(&pw->mu);
}

int bc_purge(struct bc *bc, const struct bc_key *keys, size_t n, int *results)
{
	assert(results);
	struct purge_wait pw = {.results = results, .n = n};
	pthread_mutex_init(&pw.mu, NULL);
	pthread_cond_init(&pw.cv, NULL);
	int rc = bc_purge_async(bc, keys, n, purge_wake, &pw);
	if (!rc) {
		pthread_mutex_lock(&pw.mu);
		while (!pw.ended)
			pthread_cond_wait(&pw.cv, &pw.mu);
		rc = pw.rc;
		pthread_mutex_unlock(&pw.mu);
	}
	pthread_cond_destroy(&pw.cv);
	pthread_mutex_destroy(&pw.mu);
	return rc;
}

int bc_delete(struct bc *bc, const char *key, size_t klen)
{
	const struct bc_key k = {key, klen};
	int result;
	int rc = bc_purge(bc, &k, 1, &result);
	return rc ? rc : result;
}

/* ---- reads ---- */

struct pin {
	struct bc *bc;
	bool copy; /* bc_read: pin the file for values up to max, not dup */
	uint64_t max;
	struct bc_seg *seg; /* pinned: fd is seg->fd[gen], not ours */
	uint8_t gen;
	int fd;
	int rc;
};

static void pin_fd(void *arg, const struct keydir_loc *loc)
{
	struct pin *p = arg;
	pthread_rwlock_rdlock(&p->bc->segs_lock);
	struct bc_seg *seg = bc_seg_at(p->bc, loc->seg);
	int fd = seg ? seg->fd[loc->gen] : -1;
	if (fd < 0) {
		p->rc = -EIO;
	} else if (p->copy && loc->size <= p->max) {
		atomic_fetch_add(&seg->readers[loc->gen], 1);
		p->seg = seg;
		p->gen = loc->gen;
		p->fd = fd;
	} else if ((p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		p->rc = errno == EMFILE || errno == ENFILE ? -EMFILE : -EIO;
	}
	pthread_rwlock_unlock(&p->bc->segs_lock);
}

static int lookup(struct bc *bc, const char *key, size_t klen,
		  struct keydir_loc *loc, struct pin *p, bool want_file)
{
	int rc = check_key(key, klen);
	if (rc)
		return rc;
	rc = keydir_get(bc->kd, key, klen, loc, want_file ? pin_fd : NULL, p);
	return rc ? rc : p->rc;
}

static void entry_of(const struct keydir_loc *loc, size_t klen,
		     struct bc_entry *e)
{
	e->segment = loc->seg;
	e->value_offset = loc->off + REC_HDR_SIZE + klen;
	e->size = loc->size;
	memcpy(e->md5, loc->md5, MD5_LEN);
}

int bc_lookup(struct bc *bc, const char *key, size_t klen,
	      struct keydir_loc *loc, int *fd)
{
	assert(bc && loc);
	struct pin p = {.bc = bc, .fd = -1};
	int rc = lookup(bc, key, klen, loc, &p, fd != NULL);
	if (!rc && fd)
		*fd = p.fd;
	return rc;
}

int bc_get(struct bc *bc, const char *key, size_t klen, struct bc_entry *e,
	   int *fd)
{
	assert(e);
	struct keydir_loc loc;
	int rc = bc_lookup(bc, key, klen, &loc, fd);
	if (!rc)
		entry_of(&loc, klen, e);
	return rc;
}

/* Reads a whole record: header and key into head, the value into val, in
 * one system call for the usual case. -EIO on an error or a short file. */
static int read_record(int fd, uint8_t *head, size_t hlen, void *val,
		       uint64_t size, uint64_t off)
{
	struct iovec iov[2] = {{head, hlen}, {val, (size_t)size}};
	ssize_t k;
	do
		k = preadv(fd, iov, 2, (off_t)off);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -EIO;
	/* A short read is finished piece by piece. */
	uint64_t got = (uint64_t)k;
	if (got < hlen) {
		int rc = bc_pread_all(fd, head + got, hlen - got, off + got);
		if (rc)
			return rc;
		got = hlen;
	}
	return got - hlen == size
		       ? 0
		       : bc_pread_all(fd, (uint8_t *)val + (got - hlen),
				      (size_t)(size - (got - hlen)), off + got);
}

int bc_read(struct bc *bc, const char *key, size_t klen, size_t max,
	    struct bc_entry *e, void **val, int *fd)
{
	assert(bc && e && val && fd);
	struct pin p = {.bc = bc, .copy = true, .max = max, .fd = -1};
	struct keydir_loc loc;
	*val = NULL;
	*fd = -1;
	int rc = lookup(bc, key, klen, &loc, &p, true);
	if (rc)
		return rc;
	entry_of(&loc, klen, e);
	/* Known bad (a scrub or an earlier read found it): refused without
	 * a read, whichever the form, until a write or delete ends the
	 * report. The key is looked up first, so a write that ends it can
	 * only make this refuse a good value for a moment, never hand out
	 * a bad one. */
	if (bc_is_corrupt(bc, key, (uint16_t)klen)) {
		if (p.seg)
			atomic_fetch_sub(&p.seg->readers[p.gen], 1);
		else
			close(p.fd);
		atomic_fetch_add(&bc->corrupt_reads, 1);
		return -EBADMSG;
	}
	if (!p.seg) {
		*fd = p.fd;
		return 0;
	}
	/* malloc(0) may return NULL, which would read as "no copy". */
	void *buf = malloc(e->size ? e->size : 1);
	uint8_t head[REC_HDR_SIZE + KEY_MAX];
	rc = buf ? read_record(p.fd, head, REC_HDR_SIZE + klen, buf, e->size,
			       loc.off)
		 : -ENOMEM;
	atomic_fetch_sub(&p.seg->readers[p.gen], 1);
	const char *why = rc == -EIO ? "unreadable record" : NULL;
	if (!rc) {
		struct rec_verify v;
		why = rec_verify_begin(&v, head, key, (uint16_t)klen, e->size,
				       e->md5);
		if (!why) {
			rec_verify_update(&v, buf, (size_t)e->size);
			why = rec_verify_end(&v);
		}
		if (why)
			rc = -EBADMSG;
	}
	if (why) {
		atomic_fetch_add(&bc->corrupt_reads, 1);
		bc_report_corrupt(bc, key, (uint16_t)klen, &loc, why);
	}
	if (rc) {
		free(buf);
		return rc;
	}
	*val = buf;
	return 0;
}

struct keys_arg {
	bc_key_fn cb;
	void *arg;
};

static void keys_one(void *arg, const char *key, size_t klen,
		     const struct keydir_loc *loc)
{
	struct keys_arg *k = arg;
	k->cb(k->arg, key, klen, loc->size, loc->md5);
}

int bc_keys_next(struct bc *bc, struct bc_cursor *cur, const char *prefix,
		 size_t plen, bc_key_fn cb, void *arg)
{
	assert(bc && cur && cb && (prefix || !plen));
	if (cur->shard >= KEYDIR_SHARDS)
		return 0;
	struct keys_arg k = {cb, arg};
	keydir_walk(bc->kd, cur->shard, prefix, plen, keys_one, &k);
	cur->shard++;
	return cur->shard < KEYDIR_SHARDS ? 1 : 0;
}

void bc_stats(struct bc *bc, struct bc_stats *st)
{
	assert(bc && st);
	memset(st, 0, sizeof(*st));
	st->keys = keydir_count(bc->kd);
	st->keydir_bytes = keydir_bytes(bc->kd);
	pthread_rwlock_rdlock(&bc->segs_lock);
	for (uint32_t i = 0; i < bc->segs_cap; i++) {
		struct bc_seg *seg = bc->segs[i];
		if (!seg)
			continue;
		uint64_t bytes = atomic_load(&seg->bytes),
			 live = atomic_load(&seg->live);
		st->segments++;
		st->live_bytes += live;
		st->dead_bytes += bytes > live ? bytes - live : 0;
	}
	pthread_rwlock_unlock(&bc->segs_lock);
	st->corrupt_records = atomic_load(&bc->corrupt);
	st->truncated_bytes = atomic_load(&bc->truncated);
	st->syncs = atomic_load(&bc->syncs);
	st->synced_writes = atomic_load(&bc->synced_writes);
	st->sync_delays = atomic_load(&bc->sync_delays);
	st->merges = atomic_load(&bc->merges);
	st->scrub_errors = atomic_load(&bc->scrub_errors);
	st->scrub_bytes_total = atomic_load(&bc->scrub_bytes_total);
	st->scrub_rate = bc->opt.scrub_rate;
	st->corrupt_reads = atomic_load(&bc->corrupt_reads);
	pthread_mutex_lock(&bc->cset_mu);
	st->corrupt_seq = corrupt_seq(bc->cset);
	st->corrupt_dropped = corrupt_dropped_seq(bc->cset);
	st->corrupt_keys = corrupt_count(bc->cset);
	pthread_mutex_unlock(&bc->cset_mu);
	pthread_mutex_lock(&bc->scrub_mu);
	st->scrub_running = bc->scrub_running;
	st->scrub_passes = bc->scrub_passes;
	st->scrub_last_pass_ms = bc->scrub_last_pass_ms;
	st->scrub_records = atomic_load(&bc->scrub_records);
	st->scrub_bytes = atomic_load(&bc->scrub_bytes);
	st->scrub_bad = atomic_load(&bc->scrub_bad);
	pthread_mutex_unlock(&bc->scrub_mu);
	st->disk_free = bc_disk_free(bc);
}

uint64_t bc_disk_free(struct bc *bc)
{
	struct statvfs vfs;
	return statvfs(bc->dir, &vfs) == 0
		       ? (uint64_t)vfs.f_bavail * vfs.f_frsize
		       : 0;
}

/* ---- hints ---- */

struct hint_ctx {
	struct bc *bc;
	struct bc_seg *seg;
	struct hint_builder hb;
};

static int hint_rec(void *arg, const struct rec_hdr *h, uint64_t off,
		    const char *key)
{
	struct hint_ctx *c = arg;
	struct hint_entry e = {.type = h->type,
			       .klen = h->klen,
			       .off = off,
			       .vlen = h->vlen,
			       .key = key};
	memcpy(e.md5, h->md5, MD5_LEN);
	if (h->type == REC_PUT) {
		/* Only what the keydir still points at: dead puts would make
		 * the hint bigger and could only resurrect stale values. */
		struct keydir_loc loc;
		if (keydir_get(c->bc->kd, key, h->klen, &loc, NULL, NULL) ||
		    loc.seg != c->seg->id || loc.off != off)
			return 0;
	}
	hint_add(&c->hb, &e);
	return 0;
}

int bc_write_seg_hint(struct bc *bc, struct bc_seg *seg)
{
	struct hint_ctx c = {.bc = bc, .seg = seg};
	struct scan_result res;
	uint64_t size = atomic_load(&seg->bytes);
	int rc = scan_segment(seg_fd(seg), 0, size, false, hint_rec, &c, &res);
	if (rc) {
		hint_builder_free(&c.hb);
		return rc;
	}
	rc = hint_write(bc->dir, seg->id, size, &c.hb);
	if (!rc)
		seg->hint_len = size;
	return rc;
}

/* ---- open and close ---- */

static int lock_dir(struct bc *bc)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/LOCK", bc->dir);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	bc->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (bc->lock_fd < 0)
		return -errno;
	if (flock(bc->lock_fd, LOCK_EX | LOCK_NB))
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

/* ---- identity ---- */

/* Fills out with 2 * n lowercase hex characters of fresh randomness. */
static int random_hex(char *out, size_t n)
{
	uint8_t raw[BC_ID_LEN / 2];
	assert(n <= sizeof(raw));
	for (size_t got = 0; got < n;) {
		ssize_t k = getrandom(raw + got, n - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		got += (size_t)k;
	}
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

/* Reads dir/id: BC_ID_LEN lowercase hex characters and a newline. Returns
 * 0, -ENOENT, or -EBADMSG when it holds anything else. */
static int read_id(struct bc *bc, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char text[BC_ID_LEN + 2];
	ssize_t n;
	do
		n = read(fd, text, sizeof(text));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -EIO;
	bool ok = n == BC_ID_LEN + 1 && text[BC_ID_LEN] == '\n';
	for (int i = 0; ok && i < BC_ID_LEN; i++)
		ok = (text[i] >= '0' && text[i] <= '9') ||
		     (text[i] >= 'a' && text[i] <= 'f');
	if (!ok)
		return -EBADMSG;
	memcpy(bc->id, text, BC_ID_LEN);
	bc->id[BC_ID_LEN] = '\0';
	return 0;
}

/* Draws a new id and makes dir/id durable: a crash leaves the old file
 * (or none) or the new one, never a torn one. */
static int write_id(struct bc *bc, const char *path)
{
	char tmp[PATH_MAX], text[BC_ID_LEN + 1];
	int n = snprintf(tmp, sizeof(tmp), "%s/id.tmp", bc->dir);
	if (n < 0 || n >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int rc = random_hex(bc->id, BC_ID_LEN / 2);
	if (rc)
		return rc;
	memcpy(text, bc->id, BC_ID_LEN);
	text[BC_ID_LEN] = '\n';
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = fs_write_all(fd, text, sizeof(text));
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		rc = fs_sync_dir(bc->dir);
	if (rc)
		unlink(tmp);
	return rc;
}

/* The directory's id, made on the first open without one: a new
 * directory, one an older build made, or one whose id file was damaged
 * (a new id only makes a master verify this volume's copies). */
static int load_id(struct bc *bc)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/id", bc->dir);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int rc = read_id(bc, path);
	if (rc == 0 || (rc != -ENOENT && rc != -EBADMSG))
		return rc;
	if (rc == -EBADMSG)
		log_warn("bitcask %s: id file is damaged; drawing a new id",
			 bc->dir);
	rc = write_id(bc, path);
	if (!rc)
		log_info("bitcask %s: new volume id %s", bc->dir, bc->id);
	return rc;
}

const char *bc_id(const struct bc *bc)
{
	return bc->id;
}

const char *bc_run(const struct bc *bc)
{
	return bc->run;
}

static void destroy(struct bc *bc)
{
	for (uint32_t i = 0; i < bc->segs_cap; i++)
		if (bc->segs[i])
			seg_free(bc->segs[i]);
	free(bc->segs);
	free(bc->dirty);
	keydir_free(bc->kd);
	corrupt_free(bc->cset);
	if (bc->lock_fd >= 0)
		close(bc->lock_fd);
	pthread_rwlock_destroy(&bc->segs_lock);
	pthread_mutex_destroy(&bc->wmu);
	pthread_cond_destroy(&bc->idle_cv);
	pthread_mutex_destroy(&bc->sync_mu);
	pthread_cond_destroy(&bc->sync_cv);
	pthread_cond_destroy(&bc->synced_cv);
	pthread_mutex_destroy(&bc->merge_mu);
	pthread_mutex_destroy(&bc->mstop_mu);
	pthread_cond_destroy(&bc->mstop_cv);
	pthread_mutex_destroy(&bc->cset_mu);
	pthread_mutex_destroy(&bc->scrub_mu);
	pthread_cond_destroy(&bc->scrub_cv);
	free(bc->dir);
	free(bc);
}

int bc_open(const struct bc_options *opt, struct bc **out)
{
	assert(opt && out);
	if (!opt->dir || !opt->dir[0] || opt->segment_size < REC_HDR_SIZE ||
	    opt->sync > BC_SYNC_NONE || !(opt->merge_threshold > 0) ||
	    opt->merge_threshold > 1)
		return -EINVAL;
	struct bc *bc = calloc(1, sizeof(*bc));
	if (!bc)
		return -ENOMEM;
	bc->opt = *opt;
	bc->lock_fd = -1;
	bc->gap_us = 1000000; /* no load seen yet */
	pthread_rwlock_init(&bc->segs_lock, NULL);
	pthread_mutex_init(&bc->wmu, NULL);
	pthread_cond_init(&bc->idle_cv, NULL);
	pthread_mutex_init(&bc->sync_mu, NULL);
	pthread_cond_init(&bc->sync_cv, NULL);
	pthread_cond_init(&bc->synced_cv, NULL);
	bc->commits_tail = &bc->commits;
	pthread_mutex_init(&bc->merge_mu, NULL);
	pthread_mutex_init(&bc->mstop_mu, NULL);
	pthread_cond_init(&bc->mstop_cv, NULL);
	pthread_mutex_init(&bc->cset_mu, NULL);
	pthread_mutex_init(&bc->scrub_mu, NULL);
	pthread_cond_init(&bc->scrub_cv, NULL);
	bc->dir = strdup(opt->dir);
	bc->opt.dir = bc->dir;
	int rc = bc->dir ? 0 : -ENOMEM;
	if (!rc && mkdir(bc->dir, 0755) && errno != EEXIST)
		rc = -errno;
	if (!rc)
		rc = lock_dir(bc);
	if (!rc)
		rc = load_id(bc);
	if (!rc)
		rc = random_hex(bc->run, BC_RUN_LEN / 2);
	if (!rc)
		rc = corrupt_new(opt->corrupt_max ? opt->corrupt_max
						  : CORRUPT_CAP_DEFAULT,
				 &bc->cset);
	if (!rc)
		rc = keydir_new(&bc->kd);
	if (!rc)
		rc = recover(bc);
	bc->recovered = rc == 0;
	if (!rc && opt->sync == BC_SYNC_BATCH) {
		rc = -pthread_create(&bc->sync_thread, NULL, sync_main, bc);
		bc->sync_running = rc == 0;
	}
	if (!rc && opt->merge_interval_ms)
		rc = bc_merger_start(bc);
	if (!rc)
		rc = bc_scrubber_start(bc);
	if (rc) {
		log_error("bitcask %s: open failed: %s", opt->dir,
			  strerror(-rc));
		bc_close(bc);
		return rc;
	}
	*out = bc;
	return 0;
}

void bc_close(struct bc *bc)
{
	if (!bc)
		return;
	pthread_mutex_lock(&bc->wmu);
	while (bc->writers)
		pthread_cond_wait(&bc->idle_cv, &bc->wmu);
	pthread_mutex_unlock(&bc->wmu);
	bc_scrubber_stop(bc);
	bc_merger_stop(bc);
	if (bc->sync_running) {
		pthread_mutex_lock(&bc->sync_mu);
		bc->sync_stop = true;
		pthread_cond_signal(&bc->sync_cv);
		pthread_mutex_unlock(&bc->sync_mu);
		pthread_join(bc->sync_thread, NULL);
	}
	/* Hints only for a store that recovered fully: after a failed open
	 * the keydir may be partial and a hint would lose records. */
	if (bc->active)
		(void)!ftruncate(seg_fd(bc->active),
				 (off_t)atomic_load(&bc->active->bytes));
	bool write_hints = bc->recovered && !atomic_load(&bc->failed);
	for (uint32_t i = 0; write_hints && i < bc->segs_cap; i++) {
		struct bc_seg *seg = bc->segs[i];
		uint64_t bytes = seg ? atomic_load(&seg->bytes) : 0;
		if (!seg || bytes == 0 || seg->hint_len == bytes)
			continue;
		int rc = fdatasync(seg_fd(seg)) ? -EIO : 0;
		if (!rc)
			rc = bc_write_seg_hint(bc, seg);
		if (rc)
			log_warn("bitcask %s: segment %08u: no hint written: "
				 "%s",
				 bc->dir, seg->id, strerror(-rc));
	}
	destroy(bc);
}
