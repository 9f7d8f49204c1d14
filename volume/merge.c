/* Merge (compaction) of sealed segments, and the thread that runs it.
 *
 * A segment is rewritten under its own id, so (segment, offset) order,
 * which decides which record of a key wins, survives compaction:
 *   1. copy the records the keydir points at (and the tombstones still
 *      needed) into NNNNNNNN.merge.tmp, fdatasync it;
 *   2. remove the old hint (it describes the old offsets), rename the
 *      copy over NNNNNNNN.data, sync the directory;
 *   3. install the new file as the segment's other generation, move each
 *      keydir entry that still points at its old place to the new one;
 *   4. close the old file once the bc_read copies pinning it end (open
 *      dups from bc_get keep reading it) and write the new hint.
 * Reads and writes go on meanwhile; each keydir entry moves under its
 * shard lock only, and the segment table is locked only to swap fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/clock.h"
#include "common/log.h"
#include "volume/bitcask_int.h"
#include "volume/hint.h"
#include "volume/record.h"
#include "volume/scan.h"

#define COPY_BUF (1u << 20)

/* A record copied to the new file, remembered to move its entry later:
 * old offset, new offset, value size, md5, klen, key. */
#define MOVE_FIXED (8 + 8 + 8 + MD5_LEN + 2)

struct merge_ctx {
	struct bc *bc;
	struct bc_seg *seg;
	bool oldest; /* no older segment can hold a put a tombstone hides */
	int in, out;
	uint64_t out_off;
	uint64_t tomb; /* tombstone bytes kept */
	uint8_t *copy;
	struct buf moves;
	struct hint_builder hb;
};

static int copy_range(struct merge_ctx *c, uint64_t from, uint64_t len)
{
	for (uint64_t done = 0; done < len;) {
		size_t n =
			len - done < COPY_BUF ? (size_t)(len - done) : COPY_BUF;
		ssize_t k = pread(c->in, c->copy, n, (off_t)(from + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO;
		for (ssize_t w = 0; w < k;) {
			ssize_t m = pwrite(c->out, c->copy + w, (size_t)(k - w),
					   (off_t)(c->out_off + done + w));
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0)
				return errno == ENOSPC ? -ENOSPC : -EIO;
			w += m;
		}
		done += (uint64_t)k;
	}
	return 0;
}

static int merge_rec(void *arg, const struct rec_hdr *h, uint64_t off,
		     const char *key)
{
	struct merge_ctx *c = arg;
	struct keydir_loc loc;
	bool found = keydir_get(c->bc->kd, key, h->klen, &loc, NULL, NULL) == 0;
	if (h->type == REC_PUT) {
		if (!found || loc.seg != c->seg->id || loc.gen != c->seg->gen ||
		    loc.off != off)
			return 0;
	} else {
		/* A tombstone hides puts in older segments; once a newer
		 * put exists, or no older segment exists, it hides nothing. */
		bool newer =
			found && (loc.seg > c->seg->id ||
				  (loc.seg == c->seg->id && loc.off > off));
		if (c->oldest || newer)
			return 0;
	}
	uint64_t len = rec_size(h->klen, h->vlen);
	int rc = copy_range(c, off, len);
	if (rc)
		return rc;
	struct hint_entry e = {.type = h->type,
			       .klen = h->klen,
			       .off = c->out_off,
			       .vlen = h->vlen,
			       .key = key};
	memcpy(e.md5, h->md5, MD5_LEN);
	hint_add(&c->hb, &e);
	if (h->type == REC_PUT) {
		uint8_t f[MOVE_FIXED];
		memcpy(f, &off, 8);
		memcpy(f + 8, &c->out_off, 8);
		memcpy(f + 16, &h->vlen, 8);
		memcpy(f + 24, h->md5, MD5_LEN);
		memcpy(f + 24 + MD5_LEN, &h->klen, 2);
		buf_append(&c->moves, f, sizeof(f));
		buf_append(&c->moves, key, h->klen);
	} else {
		c->tomb += len;
	}
	c->out_off += len;
	return buf_failed(&c->moves) ? -ENOMEM : 0;
}

static void move_entries(struct merge_ctx *c, uint8_t old_gen)
{
	const uint8_t *p = (const uint8_t *)c->moves.data,
		      *end = (const uint8_t *)buf_end(&c->moves);
	while (p < end) {
		struct keydir_loc from = {.seg = c->seg->id, .gen = old_gen},
				  to = {.seg = c->seg->id,
					.gen = (uint8_t)(old_gen ^ 1)};
		uint16_t klen;
		memcpy(&from.off, p, 8);
		memcpy(&to.off, p + 8, 8);
		memcpy(&to.size, p + 16, 8);
		memcpy(to.md5, p + 24, MD5_LEN);
		memcpy(&klen, p + 24 + MD5_LEN, 2);
		keydir_move(c->bc->kd, (const char *)p + MOVE_FIXED, klen,
			    &from, &to);
		p += MOVE_FIXED + klen;
	}
}

/* Waits for the bc_read copies from a file version that no keydir entry
 * points at any more, so no new one can start. They hold no lock and each
 * is a single pread, so polling costs merge little and readers nothing. */
static void wait_readers(struct bc_seg *seg, uint8_t gen)
{
	struct timespec tick = {0, 100 * 1000};
	while (atomic_load(&seg->readers[gen]) > 0)
		nanosleep(&tick, NULL);
}

/* Drops a segment nothing points at any more. */
static int drop_segment(struct bc *bc, struct bc_seg *seg)
{
	char path[PATH_MAX];
	int rc = hint_remove(bc->dir, seg->id);
	if (!rc)
		rc = hint_path(path, bc->dir, seg->id, "data");
	if (!rc && unlink(path))
		rc = -errno;
	if (!rc)
		rc = fs_sync_dir(bc->dir);
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&bc->segs_lock);
	bc->segs[seg->id] = NULL;
	pthread_rwlock_unlock(&bc->segs_lock);
	atomic_fetch_sub(&bc->disk_bytes, atomic_load(&seg->bytes));
	for (int i = 0; i < 2; i++) {
		/* A reader may have pinned it before its last key moved on. */
		wait_readers(seg, (uint8_t)i);
		if (seg->fd[i] >= 0)
			close(seg->fd[i]);
	}
	free(seg);
	return 0;
}

static int install(struct merge_ctx *c, const char *tmp)
{
	struct bc *bc = c->bc;
	struct bc_seg *seg = c->seg;
	char path[PATH_MAX];
	int rc = fdatasync(c->out) ? -EIO : 0;
	if (!rc)
		rc = hint_remove(bc->dir, seg->id);
	if (!rc)
		rc = hint_path(path, bc->dir, seg->id, "data");
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		rc = fs_sync_dir(bc->dir);
	if (rc)
		return rc;

	uint8_t g = seg->gen;
	uint64_t old_bytes = atomic_load(&seg->bytes);
	pthread_rwlock_wrlock(&bc->segs_lock);
	seg->fd[g ^ 1] = c->out;
	seg->gen = g ^ 1;
	pthread_rwlock_unlock(&bc->segs_lock);
	c->out = -1;
	move_entries(c, g);
	/* Every entry has left the old file, and every bc_get that read an
	 * old location held its shard lock while it dup'ed the old fd or,
	 * for bc_read, pinned it. */
	wait_readers(seg, g);
	pthread_rwlock_wrlock(&bc->segs_lock);
	close(seg->fd[g]);
	seg->fd[g] = -1;
	pthread_rwlock_unlock(&bc->segs_lock);
	atomic_store(&seg->bytes, c->out_off);
	atomic_store(&seg->tomb, c->tomb);
	atomic_fetch_sub(&bc->disk_bytes, old_bytes - c->out_off);
	seg->hint_len = 0;
	rc = hint_write(bc->dir, seg->id, c->out_off, &c->hb);
	if (!rc)
		seg->hint_len = c->out_off;
	else
		log_warn("bitcask %s: segment %08u: merged, but no hint: %s",
			 bc->dir, seg->id, strerror(-rc));
	return 0;
}

static int merge_seg(struct bc *bc, struct bc_seg *seg, bool oldest)
{
	char tmp[PATH_MAX];
	struct merge_ctx c = {.bc = bc,
			      .seg = seg,
			      .oldest = oldest,
			      .in = seg->fd[seg->gen],
			      .out = -1};
	int rc = hint_path(tmp, bc->dir, seg->id, "merge.tmp");
	if (rc)
		return rc;
	c.copy = malloc(COPY_BUF);
	if (!c.copy)
		return -ENOMEM;
	c.out = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c.out < 0)
		rc = -errno;
	struct scan_result res;
	if (!rc)
		rc = scan_segment(c.in, 0, atomic_load(&seg->bytes), false,
				  merge_rec, &c, &res);
	if (!rc && c.out_off == 0) {
		close(c.out);
		c.out = -1;
		unlink(tmp);
		rc = drop_segment(bc, seg);
	} else if (!rc) {
		rc = install(&c, tmp);
	}
	if (c.out >= 0) {
		close(c.out);
		unlink(tmp);
	}
	free(c.copy);
	buf_free(&c.moves);
	hint_builder_free(&c.hb);
	return rc;
}

/* Picks sealed segments worth merging. A segment's tombstones only count
 * as reclaimable when it is the oldest, since elsewhere they must stay. */
static int candidates(struct bc *bc, uint32_t **out, size_t *n,
		      uint32_t *oldest)
{
	size_t cnt = 0, cap = 0;
	uint32_t *v = NULL;
	*oldest = 0;
	pthread_mutex_lock(&bc->wmu);
	pthread_rwlock_rdlock(&bc->segs_lock);
	for (uint32_t i = 0; i < bc->segs_cap; i++) {
		struct bc_seg *seg = bc->segs[i];
		if (!seg)
			continue;
		if (!*oldest)
			*oldest = seg->id;
		uint64_t bytes = atomic_load(&seg->bytes),
			 live = atomic_load(&seg->live),
			 tomb = atomic_load(&seg->tomb);
		if (seg == bc->active || atomic_load(&seg->writers) || !bytes)
			continue;
		uint64_t dead = bytes > live ? bytes - live : 0;
		if (seg->id != *oldest)
			dead = dead > tomb ? dead - tomb : 0;
		if ((double)dead < bc->opt.merge_threshold * (double)bytes)
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 16;
			uint32_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				v = NULL;
				cnt = 0;
				break;
			}
			v = nv;
		}
		v[cnt++] = seg->id;
	}
	pthread_rwlock_unlock(&bc->segs_lock);
	pthread_mutex_unlock(&bc->wmu);
	if (cap && !v)
		return -ENOMEM;
	*out = v;
	*n = cnt;
	return 0;
}

int bc_merge(struct bc *bc)
{
	uint32_t *ids = NULL, oldest;
	size_t n = 0;
	int merged = 0, rc = 0;
	pthread_mutex_lock(&bc->merge_mu);
	rc = candidates(bc, &ids, &n, &oldest);
	for (size_t i = 0; !rc && i < n; i++) {
		pthread_rwlock_rdlock(&bc->segs_lock);
		struct bc_seg *seg = bc_seg_at(bc, ids[i]);
		pthread_rwlock_unlock(&bc->segs_lock);
		if (!seg)
			continue;
		rc = merge_seg(bc, seg, seg->id == oldest);
		if (rc) {
			log_error("bitcask %s: merge of segment %08u failed: "
				  "%s",
				  bc->dir, ids[i], strerror(-rc));
			break;
		}
		merged++;
		atomic_fetch_add(&bc->merges, 1);
	}
	pthread_mutex_unlock(&bc->merge_mu);
	free(ids);
	return rc ? rc : merged;
}

static void *merge_main(void *arg)
{
	pthread_setname_np(pthread_self(), "bc-merge");
	struct bc *bc = arg;
	pthread_mutex_lock(&bc->mstop_mu);
	while (!bc->merge_stop) {
		struct timespec ts =
			clock_deadline_ms((uint64_t)bc->opt.merge_interval_ms);
		pthread_cond_timedwait(&bc->mstop_cv, &bc->mstop_mu, &ts);
		if (bc->merge_stop)
			break;
		pthread_mutex_unlock(&bc->mstop_mu);
		bc_merge(bc);
		pthread_mutex_lock(&bc->mstop_mu);
	}
	pthread_mutex_unlock(&bc->mstop_mu);
	return NULL;
}

int bc_merger_start(struct bc *bc)
{
	int rc = pthread_create(&bc->merge_thread, NULL, merge_main, bc);
	bc->merge_running = rc == 0;
	return -rc;
}

void bc_merger_stop(struct bc *bc)
{
	if (!bc->merge_running)
		return;
	pthread_mutex_lock(&bc->mstop_mu);
	bc->merge_stop = true;
	pthread_cond_signal(&bc->mstop_cv);
	pthread_mutex_unlock(&bc->mstop_mu);
	pthread_join(bc->merge_thread, NULL);
	bc->merge_running = false;
}
