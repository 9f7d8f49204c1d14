/* The Raft log as append-only segments (the format is in raftlog.h).
 *
 * The writer keeps the metadata (hard state, snapshot, peers) and, for
 * each live entry, only the segment that holds it: entries are read from
 * disk once, by raftlog_load, and the core keeps them from then on. A
 * batch is applied to that in-memory state by parsing the very bytes that
 * were synced, so replay at open and the live state cannot disagree. */
#include "master/repl/raftlog_int.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/le.h"
#include "common/log.h"
#include "raft/raft.h"

#define SEG_ALIGN  4096
#define REC_HDR	   9 /* u32 len, u32 crc, u8 kind */
#define BATCH_BODY 8 /* u32 bytes, u32 crc of those bytes */
#define BATCH_HDR  (REC_HDR + BATCH_BODY)
#define ENTRY_HDR  17 /* u64 index, u64 term, u8 type */
#define META_MAX   (16 + 16 + RAFT_CONF_MAX_SIZE + 64) /* snap meta */
#define NAME_LEN   20 /* 16 hex digits ".log" */

enum rec_kind {
	REC_BATCH = 1,
	REC_ENTRY = 2,
	REC_HARD_STATE = 3,
	REC_SNAP = 4,
	REC_COMPACT = 5,
	REC_PEERS = 6,
};

static size_t seg_size = RAFTLOG_SEG_SIZE;

void raftlog_test_segment_size(size_t bytes)
{
	seg_size = bytes;
}

struct seg {
	uint64_t seq;
	size_t size; /* of the file, zero-filled ahead */
	size_t used; /* bytes of valid batches from the start */
};

/* The live entries, first .. first + n - 1, with the segment of the record
 * that last wrote each; with `keep`, the entries themselves (payloads
 * owned). A Raft log only ever grows at its end or loses a prefix or a
 * suffix, so this is one contiguous run. */
struct entlist {
	uint64_t first;
	size_t n, cap;
	uint64_t *seq;
	struct raft_entry *ents; /* only with keep */
	bool keep;
};

struct meta {
	bool has_hs;
	struct raft_hard_state hs;
	bool has_snap;
	struct raft_snap_meta snap;
	char *peers; /* NULL when none */
};

struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

/* The next segment, zeroed and synced ahead by a thread of its own, so
 * a rollover on the driver thread is a rename: writing 8 MiB and syncing
 * them there stalled heartbeats long enough, on a busy disk, for the
 * followers to elect a new leader. */
struct spare {
	pthread_t thread;
	bool running; /* started and not yet joined */
	uint64_t seq;
	int fd; /* after the join: the zeroed file, or -1 */
	int rc;
	char tmp[4200];
};

struct raftlog {
	char path[4096]; /* <dir>/raft */
	int dirfd;
	int fd; /* the last segment's */
	struct seg *segs;
	size_t nsegs, segcap;
	struct meta m;
	struct entlist live;
	struct wbuf body, out;
	bool failed; /* a write or sync failed: what is on disk is unknown */
	atomic_uint_fast64_t syncs;
	struct spare spare;
};

/* Growable buffers and records. */

static int wb_reserve(struct wbuf *w, size_t more)
{
	if (w->cap - w->len >= more)
		return 0;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap - w->len < more)
		cap *= 2;
	void *p = realloc(w->p, cap);
	if (!p)
		return -ENOMEM;
	w->p = p;
	w->cap = cap;
	return 0;
}

/* Appends one record whose body is a ‖ b. */
static int put_rec(struct wbuf *w, uint8_t kind, const void *a, size_t alen,
		   const void *b, size_t blen)
{
	if (alen + blen > UINT32_MAX)
		return -E2BIG;
	int rc = wb_reserve(w, REC_HDR + alen + blen);
	if (rc)
		return rc;
	uint8_t *p = w->p + w->len;
	uint32_t crc = crc32c_update(0, &kind, 1);
	crc = crc32c_update(crc, a, alen);
	crc = crc32c_update(crc, b, blen);
	le_put32(p, (uint32_t)(alen + blen));
	le_put32(p + 4, crc);
	p[8] = kind;
	if (alen)
		memcpy(p + REC_HDR, a, alen);
	if (blen)
		memcpy(p + REC_HDR + alen, b, blen);
	w->len += REC_HDR + alen + blen;
	return 0;
}

static int put_snap(struct wbuf *w, uint8_t kind,
		    const struct raft_snap_meta *snap)
{
	uint8_t b[META_MAX];
	le_put64(b, snap->index);
	le_put64(b + 8, snap->term);
	if (raft_conf_encode(&snap->conf, b + 16, sizeof(b) - 16))
		return -EINVAL;
	return put_rec(w, kind, b, 16 + raft_conf_size(&snap->conf), NULL, 0);
}

static int put_hs(struct wbuf *w, const struct raft_hard_state *hs)
{
	uint8_t b[24];
	le_put64(b, hs->term);
	le_put64(b + 8, hs->vote);
	le_put64(b + 16, hs->commit);
	return put_rec(w, REC_HARD_STATE, b, sizeof(b), NULL, 0);
}

static int put_entry(struct wbuf *w, const struct raft_entry *e)
{
	uint8_t b[ENTRY_HDR];
	le_put64(b, e->index);
	le_put64(b + 8, e->term);
	b[16] = e->type;
	return put_rec(w, REC_ENTRY, b, sizeof(b), e->data, e->len);
}

/* The records that make a segment stand alone: replaying from its start
 * gives the metadata, so every older segment whose entries are dead can
 * go. The snapshot is a COMPACT record: it must not drop the live entries
 * of older segments when those are replayed too. */
static int put_header(struct wbuf *w, const struct meta *m)
{
	int rc = 0;
	if (m->has_hs)
		rc = put_hs(w, &m->hs);
	if (!rc && m->has_snap)
		rc = put_snap(w, REC_COMPACT, &m->snap);
	if (!rc && m->peers)
		rc = put_rec(w, REC_PEERS, m->peers, strlen(m->peers), NULL, 0);
	return rc;
}

/* The entry list. */

static void entlist_truncate(struct entlist *l, size_t k)
{
	if (l->keep)
		for (size_t i = k; i < l->n; i++)
			free(l->ents[i].data);
	if (k < l->n)
		l->n = k;
}

static void entlist_free(struct entlist *l)
{
	entlist_truncate(l, 0);
	free(l->seq);
	free(l->ents);
	l->seq = NULL;
	l->ents = NULL;
	l->cap = 0;
}

/* Drops the entries with index <= upto. */
static void entlist_drop_upto(struct entlist *l, uint64_t upto)
{
	if (!l->n || upto < l->first)
		return;
	size_t k = upto - l->first + 1 < l->n ? upto - l->first + 1 : l->n;
	if (l->keep) {
		for (size_t i = 0; i < k; i++)
			free(l->ents[i].data);
		memmove(l->ents, l->ents + k, (l->n - k) * sizeof(*l->ents));
	}
	memmove(l->seq, l->seq + k, (l->n - k) * sizeof(*l->seq));
	l->n -= k;
	l->first += k;
}

/* An entry at index i replaces i and everything after it. One that does
 * not continue the run (replay from a segment whose older neighbours were
 * deleted meets the dead ones first) starts a new run; finish() checks
 * that what is left continues the snapshot. */
static int entlist_put(struct entlist *l, const struct raft_entry *e,
		       uint64_t seq)
{
	if (l->n && e->index >= l->first && e->index <= l->first + l->n)
		entlist_truncate(l, e->index - l->first);
	else
		entlist_truncate(l, 0);
	if (!l->n)
		l->first = e->index;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint64_t *s = realloc(l->seq, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		l->seq = s;
		if (l->keep) {
			struct raft_entry *p =
				realloc(l->ents, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			l->ents = p;
		}
		l->cap = cap;
	}
	if (l->keep) {
		struct raft_entry *d = &l->ents[l->n];
		*d = *e;
		d->data = NULL;
		if (e->len) {
			d->data = malloc(e->len);
			if (!d->data)
				return -ENOMEM;
			memcpy(d->data, e->data, e->len);
		}
	}
	l->seq[l->n++] = seq;
	return 0;
}

/* Records. */

static int get_snap(const uint8_t *b, size_t len, struct raft_snap_meta *s)
{
	if (len < 16 || raft_conf_decode(b + 16, len - 16, &s->conf))
		return -EINVAL;
	s->index = le_get64(b);
	s->term = le_get64(b + 8);
	return 0;
}

/* One record's effect; -EINVAL for a body that is not its kind's. */
static int apply(struct meta *m, struct entlist *l, uint8_t kind,
		 const uint8_t *b, size_t len, uint64_t seq)
{
	switch (kind) {
	case REC_ENTRY: {
		if (len < ENTRY_HDR || !le_get64(b))
			return -EINVAL;
		struct raft_entry e = {.index = le_get64(b),
				       .term = le_get64(b + 8),
				       .type = b[16],
				       .len = len - ENTRY_HDR,
				       .data = (void *)(b + ENTRY_HDR)};
		return entlist_put(l, &e, seq);
	}
	case REC_HARD_STATE:
		if (len != 24)
			return -EINVAL;
		m->hs.term = le_get64(b);
		m->hs.vote = le_get64(b + 8);
		m->hs.commit = le_get64(b + 16);
		m->has_hs = true;
		return 0;
	case REC_SNAP:
	case REC_COMPACT:
		if (get_snap(b, len, &m->snap))
			return -EINVAL;
		m->has_snap = true;
		if (kind == REC_SNAP)
			entlist_truncate(l, 0);
		else
			entlist_drop_upto(l, m->snap.index);
		return 0;
	case REC_PEERS: {
		if (memchr(b, '\0', len))
			return -EINVAL;
		char *p = malloc(len + 1);
		if (!p)
			return -ENOMEM;
		memcpy(p, b, len);
		p[len] = '\0';
		free(m->peers);
		m->peers = p;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* The records of one batch (its CRC already checked). */
static int apply_batch(struct meta *m, struct entlist *l, const uint8_t *p,
		       size_t len, uint64_t seq)
{
	while (len) {
		if (len < REC_HDR || len - REC_HDR < le_get32(p))
			return -EINVAL;
		size_t n = le_get32(p);
		if (crc32c_update(0, p + 8, 1 + n) != le_get32(p + 4))
			return -EINVAL;
		int rc = apply(m, l, p[8], p + REC_HDR, n, seq);
		if (rc)
			return rc;
		p += REC_HDR + n;
		len -= REC_HDR + n;
	}
	return 0;
}

/* Whether an intact batch header starts at off, claiming *len bytes of
 * records that fit in the segment. */
static bool header_at(const uint8_t *buf, size_t off, size_t size, size_t *len)
{
	if (size < BATCH_HDR || off > size - BATCH_HDR)
		return false;
	const uint8_t *p = buf + off;
	if (le_get32(p) != BATCH_BODY || p[8] != REC_BATCH ||
	    crc32c_update(0, p + 8, 1 + BATCH_BODY) != le_get32(p + 4))
		return false;
	*len = le_get32(p + REC_HDR);
	return *len >= REC_HDR && *len <= size - off - BATCH_HDR;
}

/* Whether a whole, intact batch starts at off; its body length in *len. */
static bool batch_at(const uint8_t *buf, size_t off, size_t size, size_t *len)
{
	const uint8_t *p = buf + off;
	return header_at(buf, off, size, len) &&
	       crc32c_update(0, p + BATCH_HDR, *len) ==
		       le_get32(p + REC_HDR + 4);
}

/* Whether an intact batch starts anywhere in [from, size): bytes that are
 * not a batch followed by one are damage, not a torn tail, because only
 * the last batch is ever unsynced and nothing is written after it. */
static bool batch_after(const uint8_t *buf, size_t from, size_t size)
{
	size_t len;
	for (size_t off = from; size >= BATCH_HDR && off <= size - BATCH_HDR;
	     off++)
		if (buf[off] == BATCH_BODY && batch_at(buf, off, size, &len))
			return true;
	return false;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Segment files. */

static int seg_name(const struct raftlog *rl, uint64_t seq, const char *ext,
		    char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%016" PRIx64 ".log%s", rl->path, seq,
			 ext);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static bool parse_name(const char *name, uint64_t *seq)
{
	if (strlen(name) != NAME_LEN || strcmp(name + 16, ".log") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
					       : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*seq = v;
	return true;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int push_seg(struct raftlog *rl, uint64_t seq, size_t size)
{
	if (rl->nsegs == rl->segcap) {
		size_t cap = rl->segcap ? 2 * rl->segcap : 16;
		struct seg *p = realloc(rl->segs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		rl->segs = p;
		rl->segcap = cap;
	}
	rl->segs[rl->nsegs++] = (struct seg){.seq = seq, .size = size};
	return 0;
}

static void unlink_seg(struct raftlog *rl, uint64_t seq)
{
	char p[4200];
	if (!seg_name(rl, seq, "", p, sizeof(p)) && unlink(p) &&
	    errno != ENOENT)
		log_warn("raft log: removing %s: %s", p, strerror(errno));
}

/* Finds the segments; leftovers of an interrupted creation (.tmp) or
 * deletion (anything before a gap in the numbering: only prefixes are
 * deleted) are removed. */
static int list_segs(struct raftlog *rl)
{
	DIR *d = opendir(rl->path);
	if (!d)
		return -errno;
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		uint64_t seq;
		size_t l = strlen(de->d_name);
		if (l == NAME_LEN + 4 &&
		    strcmp(de->d_name + NAME_LEN, ".tmp") == 0)
			unlinkat(dirfd(d), de->d_name, 0);
		else if (parse_name(de->d_name, &seq))
			rc = push_seg(rl, seq, 0);
	}
	closedir(d);
	if (rc || !rl->nsegs)
		return rc;
	qsort(rl->segs, rl->nsegs, sizeof(*rl->segs), cmp_seq);
	size_t from = rl->nsegs;
	while (from > 1 && rl->segs[from - 2].seq + 1 == rl->segs[from - 1].seq)
		from--;
	from = from ? from - 1 : 0; /* the run is segs[from..] */
	for (size_t i = 0; i < from; i++)
		unlink_seg(rl, rl->segs[i].seq);
	memmove(rl->segs, rl->segs + from,
		(rl->nsegs - from) * sizeof(*rl->segs));
	rl->nsegs -= from;
	return 0;
}

static int sync_fd(struct raftlog *rl, int fd, bool dir)
{
	if (dir ? fsync(fd) : fdatasync(fd))
		return -errno;
	atomic_fetch_add(&rl->syncs, 1);
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int write_zeros(int fd, size_t from, size_t to)
{
	static const uint8_t zeros[64 << 10];
	while (from < to) {
		size_t n =
			to - from < sizeof(zeros) ? to - from : sizeof(zeros);
		int rc = pwrite_all(fd, zeros, n, (off_t)from);
		if (rc)
			return rc;
		from += n;
	}
	return 0;
}

/* Creates segment seq, size bytes of zeros on disk before it gets its
 * name, so an append overwrites allocated blocks and its fdatasync has no
 * size or extent to record. Opens it as the segment written to. */
/* Not counted in raftlog_syncs: it runs beside the writer, whose syncs
 * per save the counter tells exactly. */
static void *spare_main(void *arg)
{
	pthread_setname_np(pthread_self(), "raftlog-spare");
	struct spare *sp = arg;
	sp->fd = open(sp->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	sp->rc = sp->fd < 0 ? -errno : write_zeros(sp->fd, 0, seg_size);
	if (!sp->rc && fdatasync(sp->fd))
		sp->rc = -errno;
	if (sp->rc && sp->fd >= 0) {
		close(sp->fd);
		sp->fd = -1;
		unlink(sp->tmp);
	}
	return NULL;
}

/* Starts preparing segment seq. Failing to only means that rollover
 * creates it inline. */
static void spare_start(struct raftlog *rl, uint64_t seq)
{
	struct spare *sp = &rl->spare;
	assert(!sp->running);
	sp->seq = seq;
	sp->fd = -1;
	sp->running =
		seg_name(rl, seq, ".tmp", sp->tmp, sizeof(sp->tmp)) == 0 &&
		pthread_create(&sp->thread, NULL, spare_main, sp) == 0;
}

/* Waits for the spare; returns its fd if it is segment seq of `size`
 * bytes, else drops it and returns -1 (seq 0, no segment, drops any). */
static int spare_take(struct raftlog *rl, uint64_t seq, size_t size)
{
	struct spare *sp = &rl->spare;
	if (!sp->running)
		return -1;
	pthread_join(sp->thread, NULL);
	sp->running = false;
	if (sp->fd >= 0 && (sp->seq != seq || size != seg_size)) {
		close(sp->fd);
		unlink(sp->tmp);
		sp->fd = -1;
	}
	return sp->fd;
}

static int seg_create(struct raftlog *rl, uint64_t seq, size_t size)
{
	char tmp[4200], name[4200];
	int rc = seg_name(rl, seq, ".tmp", tmp, sizeof(tmp));
	if (!rc)
		rc = seg_name(rl, seq, "", name, sizeof(name));
	if (rc)
		return rc;
	int fd = spare_take(rl, seq, size);
	if (fd < 0) {
		fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = -errno;
			log_error("raft log: creating %s: %s", tmp,
				  strerror(-rc));
			return rc;
		}
		rc = write_zeros(fd, 0, size);
		if (!rc)
			rc = sync_fd(rl, fd, false);
	}
	if (!rc && rename(tmp, name))
		rc = -errno;
	if (!rc)
		rc = sync_fd(rl, rl->dirfd, true);
	if (!rc)
		rc = push_seg(rl, seq, size);
	if (rc) {
		log_error("raft log: creating %s: %s", name, strerror(-rc));
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (rl->fd >= 0)
		close(rl->fd);
	rl->fd = fd;
	spare_start(rl, seq + 1);
	return 0;
}

static int read_seg(const struct raftlog *rl, uint64_t seq, uint8_t **buf,
		    size_t *cap, size_t *size)
{
	char name[4200];
	int rc = seg_name(rl, seq, "", name, sizeof(name));
	if (rc)
		return rc;
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb)) {
		rc = -errno;
		goto out;
	}
	if ((size_t)sb.st_size > *cap) {
		void *p = realloc(*buf, (size_t)sb.st_size);
		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		*buf = p;
		*cap = (size_t)sb.st_size;
	}
	for (size_t got = 0; got < (size_t)sb.st_size;) {
		ssize_t n = pread(fd, *buf + got, (size_t)sb.st_size - got,
				  (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	*size = (size_t)sb.st_size;
out:
	if (rc && rc != -ENOMEM)
		log_error("raft log: reading %s: %s", name, strerror(-rc));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Replay. */

/* What is left must continue the snapshot (or start the log). */
static int finish(struct meta *m, struct entlist *l)
{
	if (m->has_snap)
		entlist_drop_upto(l, m->snap.index);
	uint64_t want = m->has_snap ? m->snap.index + 1 : 1;
	if (l->n && l->first != want) {
		log_error("raft log: entries start at %" PRIu64
			  ", expected %" PRIu64,
			  l->first, want);
		return -EINVAL;
	}
	return 0;
}

/* Replays every segment in order into m and l, setting each segment's size
 * and used bytes. With `repair`, a torn tail of the last segment is zeroed
 * on disk so that no stale bytes can ever follow a later append. */
static int replay(struct raftlog *rl, struct meta *m, struct entlist *l,
		  bool repair)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < rl->nsegs; i++) {
		struct seg *s = &rl->segs[i];
		bool last = i + 1 == rl->nsegs;
		size_t size = 0, off = 0, len;
		if ((rc = read_seg(rl, s->seq, &buf, &cap, &size)))
			break;
		while (!rc && batch_at(buf, off, size, &len)) {
			rc = apply_batch(m, l, buf + BATCH_HDR + off, len,
					 s->seq);
			off += BATCH_HDR + len;
		}
		if (rc == -ENOMEM)
			break;
		/* A torn batch whose header survived is skipped whole: its
		 * payload bytes are the clients' and prove nothing. */
		size_t scan = off + 1;
		if (!rc && header_at(buf, off, size, &len))
			scan = off + BATCH_HDR + len;
		if (rc || batch_after(buf, scan, size) ||
		    (!last && !all_zero(buf + off, size - off))) {
			log_error("raft log: segment %016" PRIx64
				  " is damaged at offset %zu",
				  s->seq, off);
			rc = -EINVAL;
			break;
		}
		s->size = size;
		s->used = off;
		if (repair && !all_zero(buf + off, size - off)) {
			size_t end = size;
			while (!buf[end - 1])
				end--;
			log_warn("raft log: segment %016" PRIx64
				 ": %zu bytes of an unfinished write after "
				 "offset %zu dropped",
				 s->seq, end - off, off);
			char name[4200];
			rc = seg_name(rl, s->seq, "", name, sizeof(name));
			int fd = rc ? -1 : open(name, O_WRONLY | O_CLOEXEC);
			if (!rc && fd < 0)
				rc = -errno;
			if (!rc)
				rc = write_zeros(fd, off, end);
			if (!rc && fdatasync(fd))
				rc = -errno;
			if (fd >= 0)
				close(fd);
			if (rc)
				log_error("raft log: zeroing %s: %s", name,
					  strerror(-rc));
		}
	}
	free(buf);
	return rc ? rc : finish(m, l);
}

/* Writing. */

/* The first segment that must stay: the newest that holds a header (every
 * written segment does, from its first batch) or the one holding the
 * first live entry, if older. Only a prefix is ever deleted. */
static size_t keep_from(const struct raftlog *rl)
{
	size_t h = rl->nsegs;
	while (h > 0 && !rl->segs[h - 1].used)
		h--;
	if (!h)
		return 0;
	h--;
	if (!rl->live.n)
		return h;
	size_t e = 0;
	while (e < h && rl->segs[e].seq < rl->live.seq[0])
		e++;
	return e;
}

/* Deletes the segments nothing needs. Not synced: should the unlinks be
 * lost in a crash, the segments replay to the same state (and a gap in
 * the numbering is cleaned up at open). */
static void reclaim(struct raftlog *rl)
{
	size_t k = keep_from(rl);
	for (size_t i = 0; i < k; i++)
		unlink_seg(rl, rl->segs[i].seq);
	memmove(rl->segs, rl->segs + k, (rl->nsegs - k) * sizeof(*rl->segs));
	rl->nsegs -= k;
}

/* Appends rl->body as one batch with one write and one fdatasync, rolling
 * to a new segment first when it does not fit; then applies it. */
static int write_batch(struct raftlog *rl)
{
	assert(rl->nsegs && rl->fd >= 0 && rl->body.len);
	if (rl->failed)
		return -EIO;
	struct seg *s = &rl->segs[rl->nsegs - 1];
	struct wbuf *o = &rl->out;
	o->len = 0;
	int rc = wb_reserve(o, BATCH_HDR);
	if (rc)
		return rc;
	o->len = BATCH_HDR;
	if (s->used == 0 && (rc = put_header(o, &rl->m)))
		return rc;
	if (s->used + o->len + rl->body.len > s->size) {
		/* A new segment starts with the header instead. */
		o->len = BATCH_HDR;
		if ((rc = put_header(o, &rl->m)))
			return rc;
		size_t need = o->len + rl->body.len;
		size_t size = need > seg_size ? (need + SEG_ALIGN - 1) /
							SEG_ALIGN * SEG_ALIGN
					      : seg_size;
		if ((rc = seg_create(rl, s->seq + 1, size)))
			return rc;
		s = &rl->segs[rl->nsegs - 1];
	}
	if ((rc = wb_reserve(o, rl->body.len)))
		return rc;
	memcpy(o->p + o->len, rl->body.p, rl->body.len);
	o->len += rl->body.len;
	size_t n = o->len - BATCH_HDR;
	uint8_t b[BATCH_BODY];
	le_put32(b, (uint32_t)n);
	le_put32(b + 4, crc32c_update(0, o->p + BATCH_HDR, n));
	uint8_t kind = REC_BATCH;
	uint32_t crc = crc32c_update(crc32c_update(0, &kind, 1), b, sizeof(b));
	le_put32(o->p, BATCH_BODY);
	le_put32(o->p + 4, crc);
	o->p[8] = kind;
	memcpy(o->p + REC_HDR, b, sizeof(b));
	rc = pwrite_all(rl->fd, o->p, o->len, (off_t)s->used);
	if (!rc)
		rc = sync_fd(rl, rl->fd, false);
	if (!rc)
		rc = apply_batch(&rl->m, &rl->live, o->p + BATCH_HDR, n,
				 s->seq);
	if (rc) {
		log_error("raft log: writing segment %016" PRIx64 ": %s",
			  s->seq, strerror(-rc));
		rl->failed = true;
		return rc;
	}
	s->used += o->len;
	reclaim(rl);
	return 0;
}

/* Opening, and the import of the LMDB log. */

static int import_lmdb(struct raftlog *rl, const char *dir)
{
	struct raftlog_state st;
	bool empty;
	char *peers;
	int rc = raftlog_lmdb_read(dir, &st, &empty, &peers);
	if (rc)
		return rc;
	/* Segments beside data.mdb are an import that did not finish. */
	for (size_t i = 0; i < rl->nsegs; i++)
		unlink_seg(rl, rl->segs[i].seq);
	rl->nsegs = 0;
	rc = seg_create(rl, 1, seg_size);
	if (!rc && st.has_snap)
		rc = raftlog_save(rl, &st.snap, NULL, 0, NULL);
	for (size_t i = 0; !rc && i < st.n;) {
		size_t k = 1, bytes = st.ents[i].len;
		while (i + k < st.n && bytes < seg_size / 2)
			bytes += st.ents[i + k++].len;
		rc = raftlog_save(rl, NULL, st.ents + i, k, NULL);
		i += k;
	}
	/* Zeros when the old log had none, as its load gave too. */
	if (!rc && !empty)
		rc = raftlog_save(rl, NULL, NULL, 0, &st.hs);
	if (!rc && peers)
		rc = raftlog_set_peers(rl, peers);
	size_t n = st.n;
	raftlog_state_free(&st);
	free(peers);
	if (rc)
		return rc;
	char from[4200], to[4200];
	snprintf(from, sizeof(from), "%s/%s", rl->path, RAFTLOG_LMDB_DATA);
	snprintf(to, sizeof(to), "%s/%s.imported", rl->path, RAFTLOG_LMDB_DATA);
	if (rename(from, to) || sync_fd(rl, rl->dirfd, true)) {
		rc = -errno;
		log_error("raft log: renaming %s: %s", from, strerror(-rc));
		return rc;
	}
	snprintf(from, sizeof(from), "%s/%s", rl->path, RAFTLOG_LMDB_LOCK);
	unlink(from);
	log_info("raft log: imported %zu entries from the LMDB log (kept as "
		 "%s)",
		 n, to);
	return 0;
}

static int open_last(struct raftlog *rl)
{
	char name[4200];
	int rc = seg_name(rl, rl->segs[rl->nsegs - 1].seq, "", name,
			  sizeof(name));
	if (rc)
		return rc;
	rl->fd = open(name, O_RDWR | O_CLOEXEC);
	if (rl->fd < 0) {
		rc = -errno;
		log_error("raft log: opening %s: %s", name, strerror(-rc));
		return rc;
	}
	spare_start(rl, rl->segs[rl->nsegs - 1].seq + 1);
	return 0;
}

static int open_dir(struct raftlog *rl, const char *dir)
{
	int n = snprintf(rl->path, sizeof(rl->path), "%s/raft", dir);
	if (n < 0 || (size_t)n >= sizeof(rl->path))
		return -ENAMETOOLONG;
	if ((mkdir(dir, 0755) && errno != EEXIST) ||
	    (mkdir(rl->path, 0755) && errno != EEXIST))
		return -errno;
	rl->dirfd = open(rl->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return rl->dirfd < 0 ? -errno : 0;
}

int raftlog_open(const char *dir, struct raftlog **out)
{
	assert(dir && out);
	struct raftlog *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->fd = rl->dirfd = -1;
	int rc = open_dir(rl, dir);
	if (!rc)
		rc = list_segs(rl);
	if (rc && rc != -ENOMEM)
		log_error("raft log: opening %s/raft: %s", dir, strerror(-rc));
	char mdb[4200];
	snprintf(mdb, sizeof(mdb), "%s/%s", rl->path, RAFTLOG_LMDB_DATA);
	if (!rc && access(mdb, F_OK) == 0)
		rc = import_lmdb(rl, dir);
	else if (!rc && rl->nsegs)
		rc = replay(rl, &rl->m, &rl->live, true);
	if (!rc && !rl->nsegs)
		rc = seg_create(rl, 1, seg_size);
	else if (!rc && rl->fd < 0)
		rc = open_last(rl);
	if (rc) {
		raftlog_close(rl);
		return rc;
	}
	atomic_store(&rl->syncs, 0);
	*out = rl;
	return 0;
}

void raftlog_close(struct raftlog *rl)
{
	if (!rl)
		return;
	(void)spare_take(rl, 0, 0);
	if (rl->fd >= 0)
		close(rl->fd);
	if (rl->dirfd >= 0)
		close(rl->dirfd);
	entlist_free(&rl->live);
	free(rl->m.peers);
	free(rl->segs);
	free(rl->body.p);
	free(rl->out.p);
	free(rl);
}

void raftlog_state_free(struct raftlog_state *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->ents[i].data);
	free(st->ents);
	st->ents = NULL;
	st->n = 0;
}

int raftlog_load(struct raftlog *rl, struct raftlog_state *st, bool *empty)
{
	assert(rl && st && empty);
	memset(st, 0, sizeof(*st));
	struct meta m = {0};
	struct entlist l = {.keep = true};
	int rc = replay(rl, &m, &l, false);
	free(m.peers);
	if (rc) {
		entlist_free(&l);
		return rc;
	}
	free(l.seq);
	st->hs = m.hs;
	st->has_snap = m.has_snap;
	st->snap = m.snap;
	st->ents = l.ents;
	st->n = l.n;
	*empty = !m.has_hs && !m.has_snap && !l.n;
	return 0;
}

int raftlog_save(struct raftlog *rl, const struct raft_snap_meta *snap,
		 const struct raft_entry *ents, size_t n,
		 const struct raft_hard_state *hs)
{
	assert(rl && (ents || !n));
	/* The core hands out a contiguous run of its log. */
	for (size_t i = 1; i < n; i++)
		assert(ents[i].index == ents[0].index + i);
	if (!snap && !n && !hs)
		return 0;
	rl->body.len = 0;
	int rc = snap ? put_snap(&rl->body, REC_SNAP, snap) : 0;
	for (size_t i = 0; !rc && i < n; i++)
		rc = put_entry(&rl->body, &ents[i]);
	if (!rc && hs)
		rc = put_hs(&rl->body, hs);
	return rc ? rc : write_batch(rl);
}

int raftlog_compact(struct raftlog *rl, const struct raft_snap_meta *snap)
{
	assert(rl && snap);
	rl->body.len = 0;
	int rc = put_snap(&rl->body, REC_COMPACT, snap);
	return rc ? rc : write_batch(rl);
}

int raftlog_get_peers(struct raftlog *rl, char *out, size_t cap)
{
	assert(rl && out && cap);
	const char *p = rl->m.peers ? rl->m.peers : "";
	size_t len = strlen(p);
	out[0] = '\0';
	if (len >= cap)
		return -ENOSPC;
	memcpy(out, p, len + 1);
	return 0;
}

int raftlog_set_peers(struct raftlog *rl, const char *peers)
{
	assert(rl && peers);
	rl->body.len = 0;
	int rc = put_rec(&rl->body, REC_PEERS, peers, strlen(peers), NULL, 0);
	return rc ? rc : write_batch(rl);
}

uint64_t raftlog_syncs(const struct raftlog *rl)
{
	return atomic_load(&rl->syncs);
}
