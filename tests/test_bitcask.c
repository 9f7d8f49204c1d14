/* Unit tests for the Bitcask engine: records, keydir, hints, the write
 * and read paths, group commit, merge, and recovery from damage. Every
 * test works on real files in its own directory under /tmp. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/key.h"
#include "volume/bitcask.h"
#include "volume/corrupt.h"
#include "volume/hint.h"
#include "volume/keydir.h"
#include "volume/record.h"

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/bctest.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static struct bc_options opts(const char *dir, enum bc_sync sync,
			      uint64_t segment_size)
{
	return (struct bc_options){.dir = dir,
				   .segment_size = segment_size,
				   .sync = sync,
				   .merge_threshold = 0.5};
}

static struct bc *open_ok(const struct bc_options *o)
{
	struct bc *bc;
	ck_assert_int_eq(bc_open(o, &bc), 0);
	return bc;
}

/* Deterministic contents for key i at version v. */
static size_t make_val(int i, int v, char *out, size_t max)
{
	size_t len = (size_t)(17 + (i * 37 + v * 11) % 200);
	if (len > max)
		len = max;
	for (size_t j = 0; j < len; j++)
		out[j] = (char)('a' + (i + v + (int)j) % 26);
	return len;
}

static int key_of(int i, char *out)
{
	return sprintf(out, "/key/%d", i);
}

/* Inverse of key_of; keys from the store are not NUL-terminated. */
static int key_index(const char *key, size_t klen)
{
	char k[32];
	ck_assert_uint_lt(klen, sizeof(k));
	memcpy(k, key, klen);
	k[klen] = '\0';
	return atoi(k + 5);
}

/* Asserts key holds exactly val[0..len) through bc_read's copy. */
static void expect_copy(struct bc *bc, const char *key, const void *val,
			size_t len)
{
	struct bc_entry e;
	void *got;
	int fd;
	int rc = bc_read(bc, key, strlen(key), len, &e, &got, &fd);
	ck_assert_msg(rc == 0, "read %s: %d", key, rc);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(fd, -1);
	ck_assert_uint_eq(e.size, len);
	ck_assert_msg(memcmp(got, val, len) == 0, "copy of %s differs", key);
	free(got);
}

/* Asserts key holds exactly val[0..len), through the fd bc_get returns
 * and through bc_read's copy. */
static void expect_val(struct bc *bc, const char *key, const void *val,
		       size_t len)
{
	expect_copy(bc, key, val, len);

	struct bc_entry e;
	int fd;
	int rc = bc_get(bc, key, strlen(key), &e, &fd);
	ck_assert_msg(rc == 0, "get %s: %d", key, rc);
	ck_assert_uint_eq(e.size, len);
	char *buf = malloc(len + 1);
	ck_assert_int_eq(pread(fd, buf, len, (off_t)e.value_offset),
			 (ssize_t)len);
	ck_assert_msg(memcmp(buf, val, len) == 0, "value of %s differs", key);
	uint8_t md5[MD5_LEN];
	md5_buf(val, len, md5);
	ck_assert_mem_eq(e.md5, md5, MD5_LEN);
	free(buf);
	close(fd);
}

static void expect_absent(struct bc *bc, const char *key)
{
	struct bc_entry e;
	ck_assert_int_eq(bc_get(bc, key, strlen(key), &e, NULL), -ENOENT);
}

static void copy_file(const char *from, const char *to, off_t len)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(out, 0);
	char buf[65536];
	off_t done = 0;
	while (done < len) {
		size_t n = len - done < (off_t)sizeof(buf)
				   ? (size_t)(len - done)
				   : sizeof(buf);
		ssize_t k = pread(in, buf, n, done);
		ck_assert_int_gt(k, 0);
		ck_assert_int_eq(write(out, buf, (size_t)k), k);
		done += k;
	}
	close(in);
	close(out);
}

static off_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* ---- records ---- */

START_TEST(record_roundtrip)
{
	struct rec_hdr h = {.data_crc = 0xdeadbeef,
			    .type = REC_PUT,
			    .klen = 42,
			    .vlen = 123456789012ull,
			    .timestamp = 1700000000123456789ull},
		       d;
	for (int i = 0; i < MD5_LEN; i++)
		h.md5[i] = (uint8_t)(i * 7);
	uint8_t b[REC_HDR_SIZE];
	rec_encode(&h, b);
	ck_assert_uint_eq(b[0], 'C');
	ck_assert_uint_eq(b[3], 'K');
	ck_assert_int_eq(rec_decode(b, &d), 0);
	ck_assert_uint_eq(d.data_crc, h.data_crc);
	ck_assert_uint_eq(d.type, REC_PUT);
	ck_assert_uint_eq(d.klen, 42);
	ck_assert_uint_eq(d.vlen, h.vlen);
	ck_assert_uint_eq(d.timestamp, h.timestamp);
	ck_assert_mem_eq(d.md5, h.md5, MD5_LEN);
	/* Little-endian on disk, whatever the host. */
	ck_assert_uint_eq(b[14], 42);
	ck_assert_uint_eq(b[15], 0);
	/* Any single flipped bit is caught. */
	for (int i = 0; i < REC_HDR_SIZE * 8; i++) {
		b[i / 8] ^= (uint8_t)(1 << (i % 8));
		ck_assert_int_eq(rec_decode(b, &d), -EBADMSG);
		b[i / 8] ^= (uint8_t)(1 << (i % 8));
	}
	/* Sizes are checked even under a valid CRC. */
	h.klen = 0;
	rec_encode(&h, b);
	ck_assert_int_eq(rec_decode(b, &d), -EBADMSG);
	h.klen = KEY_MAX + 1;
	rec_encode(&h, b);
	ck_assert_int_eq(rec_decode(b, &d), -EBADMSG);
	h.klen = 1;
	h.vlen = REC_VALUE_MAX + 1;
	rec_encode(&h, b);
	ck_assert_int_eq(rec_decode(b, &d), -EBADMSG);
	h.vlen = 1;
	h.type = REC_TOMBSTONE;
	rec_encode(&h, b);
	ck_assert_int_eq(rec_decode(b, &d), -EBADMSG);
	h.type = 9;
	h.vlen = 0;
	rec_encode(&h, b);
	ck_assert_int_eq(rec_decode(b, &d), -EBADMSG);
}
END_TEST

/* ---- keydir ---- */

static struct keydir_loc mkloc(uint32_t seg, uint64_t off, uint64_t size)
{
	struct keydir_loc l = {.seg = seg, .off = off, .size = size};
	memset(l.md5, (int)(off & 0xff), MD5_LEN);
	return l;
}

START_TEST(keydir_basic)
{
	struct keydir *kd;
	struct keydir_loc l, old;
	bool had;
	ck_assert_int_eq(keydir_new(&kd), 0);
	ck_assert_int_eq(keydir_get(kd, "a", 1, &l, NULL, NULL), -ENOENT);
	l = mkloc(1, 100, 5);
	ck_assert_int_eq(keydir_put(kd, "a", 1, &l, &old, &had), 1);
	ck_assert(!had);
	/* Older location loses; newer replaces. */
	l = mkloc(1, 50, 6);
	ck_assert_int_eq(keydir_put(kd, "a", 1, &l, &old, &had), 0);
	l = mkloc(2, 10, 7);
	ck_assert_int_eq(keydir_put(kd, "a", 1, &l, &old, &had), 1);
	ck_assert(had);
	ck_assert_uint_eq(old.off, 100);
	ck_assert_int_eq(keydir_get(kd, "a", 1, &l, NULL, NULL), 0);
	ck_assert_uint_eq(l.seg, 2);
	ck_assert_uint_eq(l.size, 7);
	/* Moves only from the exact location. */
	struct keydir_loc from = mkloc(2, 11, 7), to = mkloc(2, 3, 7);
	to.gen = 1;
	ck_assert_int_eq(keydir_move(kd, "a", 1, &from, &to), 0);
	from.off = 10;
	ck_assert_int_eq(keydir_move(kd, "a", 1, &from, &to), 1);
	ck_assert_int_eq(keydir_get(kd, "a", 1, &l, NULL, NULL), 0);
	ck_assert_uint_eq(l.gen, 1);
	ck_assert_uint_eq(l.off, 3);
	/* A tombstone older than the entry does not remove it. */
	ck_assert_int_eq(keydir_del(kd, "a", 1, 1, 999, &old), 0);
	ck_assert_int_eq(keydir_del(kd, "a", 1, 3, 0, &old), 1);
	ck_assert_int_eq(keydir_get(kd, "a", 1, &l, NULL, NULL), -ENOENT);
	ck_assert_uint_eq(keydir_count(kd), 0);
	keydir_free(kd);
}
END_TEST

struct walk_state {
	uint8_t *seen;
	int n;
	bool dup;
};

static void walk_mark(void *arg, const char *key, size_t klen,
		      const struct keydir_loc *loc)
{
	struct walk_state *w = arg;
	int i = key_index(key, klen);
	ck_assert_int_lt(i, w->n);
	if (w->seen[i])
		w->dup = true;
	w->seen[i] = 1;
	ck_assert_uint_eq(loc->size, (uint64_t)i);
}

START_TEST(keydir_many)
{
	enum { N = 200000 };
	struct keydir *kd;
	struct keydir_loc l, old;
	bool had;
	char k[32];
	ck_assert_int_eq(keydir_new(&kd), 0);
	for (int i = 0; i < N; i++) {
		l = mkloc(1, (uint64_t)i, (uint64_t)i);
		ck_assert_int_eq(
			keydir_put(kd, k, (size_t)key_of(i, k), &l, &old, &had),
			1);
	}
	ck_assert_uint_eq(keydir_count(kd), N);
	/* The memory goal: key bytes + 48 per key (keys here average 11). */
	uint64_t full = keydir_bytes(kd);
	ck_assert_msg(full < (uint64_t)N * (11 + 48), "%llu bytes",
		      (unsigned long long)full);
	/* Delete two thirds: exercises backward shift and slab compaction. */
	for (int i = 0; i < N; i++)
		if (i % 3)
			ck_assert_int_eq(keydir_del(kd, k, (size_t)key_of(i, k),
						    9, 0, &old),
					 1);
	ck_assert_uint_eq(keydir_count(kd), (N + 2) / 3);
	for (int i = 0; i < N; i++) {
		int rc =
			keydir_get(kd, k, (size_t)key_of(i, k), &l, NULL, NULL);
		ck_assert_int_eq(rc, i % 3 ? -ENOENT : 0);
		if (!rc)
			ck_assert_uint_eq(l.off, (uint64_t)i);
	}
	struct walk_state w = {calloc(N, 1), N, false};
	for (unsigned s = 0; s < KEYDIR_SHARDS; s++)
		keydir_walk(kd, s, "/key/", 5, walk_mark, &w);
	ck_assert(!w.dup);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(w.seen[i], i % 3 ? 0 : 1);
	/* A prefix that matches nothing. */
	memset(w.seen, 0, N);
	for (unsigned s = 0; s < KEYDIR_SHARDS; s++)
		keydir_walk(kd, s, "/nope", 5, walk_mark, &w);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(w.seen[i], 0);
	free(w.seen);
	ck_assert_uint_lt(keydir_bytes(kd), full);
	keydir_free(kd);
}
END_TEST

/* ---- hints ---- */

struct hint_seen {
	int n;
	uint64_t last_off;
};

static int hint_count(void *arg, const struct hint_entry *e)
{
	struct hint_seen *s = arg;
	char k[32];
	key_of(s->n, k);
	ck_assert_uint_eq(e->klen, strlen(k));
	ck_assert_mem_eq(e->key, k, e->klen);
	ck_assert_uint_eq(e->off, (uint64_t)s->n * 100);
	ck_assert_uint_eq(e->type, s->n % 5 ? REC_PUT : REC_TOMBSTONE);
	s->n++;
	return 0;
}

START_TEST(hint_roundtrip)
{
	char *dir = tmpdir(), path[256];
	struct hint_builder hb = {0};
	char k[32];
	for (int i = 0; i < 100; i++) {
		struct hint_entry e = {.type = i % 5 ? REC_PUT : REC_TOMBSTONE,
				       .klen = (uint16_t)key_of(i, k),
				       .off = (uint64_t)i * 100,
				       .vlen = i % 5 ? 10 : 0,
				       .key = k};
		hint_add(&hb, &e);
	}
	ck_assert_int_eq(hint_write(dir, 7, 10000, &hb), 0);
	struct hint_seen s = {0};
	uint64_t cov = 0;
	ck_assert_int_eq(hint_load(dir, 7, 10000, &cov, hint_count, &s), 0);
	ck_assert_int_eq(s.n, 100);
	ck_assert_uint_eq(cov, 10000);
	/* A hint claiming more than the segment holds is refused. */
	s.n = 0;
	ck_assert_int_eq(hint_load(dir, 7, 9999, &cov, hint_count, &s),
			 -EBADMSG);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(hint_load(dir, 8, 10000, &cov, hint_count, &s),
			 -ENOENT);
	/* Every flipped byte is refused before any entry is applied. */
	hint_path(path, dir, 7, "hint");
	off_t len = file_size(path);
	int fd = open(path, O_RDWR);
	for (off_t i = 0; i < len; i++) {
		uint8_t b;
		ck_assert_int_eq(pread(fd, &b, 1, i), 1);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, i), 1);
		ck_assert_int_eq(hint_load(dir, 7, 10000, &cov, hint_count, &s),
				 -EBADMSG);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, i), 1);
	}
	close(fd);
	ck_assert_int_eq(s.n, 0);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* ---- engine ---- */

START_TEST(engine_basic)
{
	char *dir = tmpdir();
	struct bc_options o = opts(dir, BC_SYNC_BATCH, 1 << 20);
	struct bc *bc = open_ok(&o);
	struct bc *other;
	ck_assert_int_eq(bc_open(&o, &other), -EBUSY);
	uint8_t md5[MD5_LEN], want[MD5_LEN];
	ck_assert_int_eq(bc_put(bc, "/a", 2, "hello", 5, md5), 0);
	md5_buf("hello", 5, want);
	ck_assert_mem_eq(md5, want, MD5_LEN);
	expect_val(bc, "/a", "hello", 5);
	ck_assert_int_eq(bc_put(bc, "/a", 2, "world!", 6, NULL), 0);
	expect_val(bc, "/a", "world!", 6);
	ck_assert_int_eq(bc_delete(bc, "/a", 2), 0);
	expect_absent(bc, "/a");
	ck_assert_int_eq(bc_delete(bc, "/a", 2), -ENOENT);

	/* Argument checks. */
	char big[KEY_MAX + 1];
	memset(big, 'k', sizeof(big));
	struct bc_write *w;
	ck_assert_int_eq(bc_put(bc, big, sizeof(big), "x", 1, NULL), -EINVAL);
	ck_assert_int_eq(bc_put(bc, big, KEY_MAX, "x", 1, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "", 0, "x", 1, NULL), -EINVAL);
	ck_assert_int_eq(bc_write_begin(bc, "/b", 2, REC_VALUE_MAX + 1, &w),
			 -EFBIG);

	/* Streaming: too much, too little, abort keeps the old value. */
	ck_assert_int_eq(bc_put(bc, "/s", 2, "old", 3, NULL), 0);
	ck_assert_int_eq(bc_write_begin(bc, "/s", 2, 6, &w), 0);
	ck_assert_int_eq(bc_write_append(w, "abc", 3), 0);
	ck_assert_int_eq(bc_write_append(w, "defg", 4), -EFBIG);
	ck_assert_int_eq(bc_write_commit(w, NULL), -EINVAL);
	expect_val(bc, "/s", "old", 3);
	ck_assert_int_eq(bc_write_begin(bc, "/s", 2, 6, &w), 0);
	ck_assert_int_eq(bc_write_append(w, "abc", 3), 0);
	bc_write_abort(w);
	expect_val(bc, "/s", "old", 3);
	ck_assert_int_eq(bc_write_begin(bc, "/s", 2, 6, &w), 0);
	ck_assert_int_eq(bc_write_append(w, "abc", 3), 0);
	ck_assert_int_eq(bc_write_append(w, "def", 3), 0);
	ck_assert_int_eq(bc_write_commit(w, NULL), 0);
	expect_val(bc, "/s", "abcdef", 6);
	/* Zero-length value. */
	ck_assert_int_eq(bc_put(bc, "/z", 2, "", 0, NULL), 0);
	expect_val(bc, "/z", "", 0);

	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.keys, 3);
	ck_assert_uint_ge(st.syncs, 1);
	bc_close(bc);

	bc = open_ok(&o);
	expect_val(bc, "/s", "abcdef", 6);
	expect_val(bc, "/z", "", 0);
	expect_absent(bc, "/a");
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.keys, 3);
	ck_assert_uint_eq(st.corrupt_records, 0);
	ck_assert_uint_eq(st.truncated_bytes, 0);
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

static void count_key(void *arg, const char *key, size_t klen, uint64_t size,
		      const uint8_t md5[MD5_LEN])
{
	uint8_t *seen = arg;
	seen[key_index(key, klen)]++;
}

START_TEST(engine_segments_and_keys)
{
	enum { N = 3000 };
	char *dir = tmpdir(), k[32], v[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 16384);
	struct bc *bc = open_ok(&o);
	for (int i = 0; i < N; i++) {
		size_t len = make_val(i, 0, v, sizeof(v));
		ck_assert_int_eq(
			bc_put(bc, k, (size_t)key_of(i, k), v, len, NULL), 0);
	}
	/* A value bigger than a segment gets one of its own. */
	char *huge = malloc(50000);
	memset(huge, 'h', 50000);
	ck_assert_int_eq(bc_put(bc, "/huge", 5, huge, 50000, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/after", 6, "x", 1, NULL), 0);
	struct bc_entry e1, e2;
	ck_assert_int_eq(bc_get(bc, "/huge", 5, &e1, NULL), 0);
	ck_assert_int_eq(bc_get(bc, "/after", 6, &e2, NULL), 0);
	ck_assert_uint_ne(e1.segment, e2.segment);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_gt(st.segments, 10);

	uint8_t *seen = calloc(N, 1);
	struct bc_cursor cur = {0};
	int rc, calls = 0;
	while ((rc = bc_keys_next(bc, &cur, "/key/", 5, count_key, seen)) == 1)
		calls++;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(calls, KEYDIR_SHARDS - 1);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(seen[i], 1);
	bc_close(bc);

	bc = open_ok(&o);
	for (int i = 0; i < N; i += 7) {
		key_of(i, k);
		size_t n = make_val(i, 0, v, sizeof(v));
		expect_val(bc, k, v, n);
	}
	expect_val(bc, "/huge", huge, 50000);
	bc_close(bc);
	free(huge);
	free(seen);
	rm_rf(dir);
	free(dir);
}
END_TEST

struct writer_arg {
	struct bc *bc;
	int id, n;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	char k[32], v[256];
	for (int i = 0; i < a->n; i++) {
		int idx = a->id * a->n + i;
		size_t len = make_val(idx, 1, v, sizeof(v));
		int rc = bc_put(a->bc, k, (size_t)key_of(idx, k), v, len, NULL);
		if (rc)
			return (void *)(intptr_t)rc;
	}
	return NULL;
}

static void run_writers(struct bc *bc, int threads, int per)
{
	pthread_t t[64];
	struct writer_arg a[64];
	for (int i = 0; i < threads; i++) {
		a[i] = (struct writer_arg){bc, i, per};
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &a[i]), 0);
	}
	for (int i = 0; i < threads; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		ck_assert_ptr_null(ret);
	}
}

START_TEST(group_commit)
{
	enum { T = 16, PER = 100 };
	char *dir = tmpdir(), k[32], v[256];
	struct bc_options o = opts(dir, BC_SYNC_BATCH, 1 << 16);
	struct bc *bc = open_ok(&o);
	run_writers(bc, T, PER);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.keys, T * PER);
	ck_assert_uint_eq(st.synced_writes, T * PER);
	ck_assert_msg(st.syncs < st.synced_writes / 2,
		      "%llu syncs for %llu writes",
		      (unsigned long long)st.syncs,
		      (unsigned long long)st.synced_writes);
	bc_close(bc);
	bc = open_ok(&o);
	for (int i = 0; i < T * PER; i++) {
		key_of(i, k);
		size_t n = make_val(i, 1, v, sizeof(v));
		expect_val(bc, k, v, n);
	}
	bc_close(bc);

	/* ALWAYS: one sync per write. */
	o.sync = BC_SYNC_ALWAYS;
	bc = open_ok(&o);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(bc_put(bc, "/x", 2, "v", 1, NULL), 0);
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.syncs, 20);
	ck_assert_uint_eq(st.synced_writes, 20);
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* A sync waits for more writes only while that gathers some: a lone
 * writer, whose next write waits for this one, is seldom held back, and
 * concurrent writers are. */
START_TEST(group_commit_gathers)
{
	enum { LONE = 300, T = 16, PER = 100 };
	char *dir = tmpdir();
	struct bc_options o = opts(dir, BC_SYNC_BATCH, 1 << 16);
	struct bc *bc = open_ok(&o);
	for (int i = 0; i < LONE; i++)
		ck_assert_int_eq(bc_put(bc, "/lone", 5, "v", 1, NULL), 0);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.syncs, LONE);
	/* One try, then one per 64 syncs undelayed (volume/bitcask.c). */
	ck_assert_msg(st.sync_delays <= LONE / 64 + 2, "%llu of %d delayed",
		      (unsigned long long)st.sync_delays, LONE);
	bc_close(bc);
	rm_rf(dir);
	mkdir(dir, 0755);

	bc = open_ok(&o);
	run_writers(bc, T, PER);
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.synced_writes, T * PER);
	ck_assert_uint_gt(st.sync_delays, 0);
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

START_TEST(concurrent_writers_none)
{
	enum { T = 8, PER = 2000 };
	char *dir = tmpdir(), k[32], v[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 18);
	struct bc *bc = open_ok(&o);
	run_writers(bc, T, PER);
	for (int i = 0; i < T * PER; i++) {
		key_of(i, k);
		size_t n = make_val(i, 1, v, sizeof(v));
		expect_val(bc, k, v, n);
	}
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* Interleaved streaming writes proceed in parallel into one segment. */
START_TEST(interleaved_streams)
{
	char *dir = tmpdir();
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	struct bc_write *a, *b;
	char va[3000], vb[3000];
	memset(va, 'A', sizeof(va));
	memset(vb, 'B', sizeof(vb));
	ck_assert_int_eq(bc_write_begin(bc, "/a", 2, sizeof(va), &a), 0);
	ck_assert_int_eq(bc_write_begin(bc, "/b", 2, sizeof(vb), &b), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(bc_write_append(b, vb + i * 1000, 1000), 0);
		ck_assert_int_eq(bc_write_append(a, va + i * 1000, 1000), 0);
	}
	expect_absent(bc, "/a");
	ck_assert_int_eq(bc_write_commit(b, NULL), 0);
	ck_assert_int_eq(bc_write_commit(a, NULL), 0);
	expect_val(bc, "/a", va, sizeof(va));
	expect_val(bc, "/b", vb, sizeof(vb));
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

struct del_arg {
	struct bc *bc;
	int rc;
};

static void *delete_race(void *p)
{
	struct del_arg *a = p;
	a->rc = bc_delete(a->bc, "/race", 5);
	return NULL;
}

/* A delete reserved after an unfinished put of the same key, but durable
 * first: the put precedes it in the log, so the key must end up absent at
 * run time exactly as recovery will see it. */
START_TEST(delete_after_inflight_put)
{
	char *dir = tmpdir();
	struct bc_options o = opts(dir, BC_SYNC_ALWAYS, 1 << 20);
	struct bc *bc = open_ok(&o);
	ck_assert_int_eq(bc_put(bc, "/race", 5, "old", 3, NULL), 0);
	struct bc_write *w;
	ck_assert_int_eq(bc_write_begin(bc, "/race", 5, 3, &w), 0);
	ck_assert_int_eq(bc_write_append(w, "new", 3), 0);

	struct bc_stats st;
	bc_stats(bc, &st);
	uint64_t synced = st.synced_writes;
	struct del_arg a = {bc, -1};
	pthread_t t;
	pthread_create(&t, NULL, delete_race, &a);
	/* Once the tombstone is durable the delete is ready to publish. */
	do {
		sched_yield();
		bc_stats(bc, &st);
	} while (st.synced_writes == synced);
	ck_assert_int_eq(bc_write_commit(w, NULL), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(a.rc, 0);
	expect_absent(bc, "/race");
	bc_close(bc);
	bc = open_ok(&o);
	expect_absent(bc, "/race");
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* A batch of deletions: present keys are deleted, absent ones answered
 * -ENOENT, in order, all tombstones covered by one fdatasync; the
 * deletions survive a restart, and bad batches change nothing. */
START_TEST(purge_batch)
{
	char *dir = tmpdir();
	struct bc_options o = opts(dir, BC_SYNC_BATCH, 1 << 20);
	struct bc *bc = open_ok(&o);
	enum { N = 300 };
	char names[N][16];
	struct bc_key keys[N + 1];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "/p/%d", i);
		if (i % 3 != 1)
			ck_assert_int_eq(bc_put(bc, names[i], strlen(names[i]),
						"v", 1, NULL),
					 0);
		keys[i] = (struct bc_key){names[i], strlen(names[i])};
	}
	ck_assert_int_eq(bc_put(bc, "/keep", 5, "kept", 4, NULL), 0);

	/* Bad batches: nothing is deleted. */
	int results[BC_PURGE_MAX + 1];
	ck_assert_int_eq(bc_purge(bc, keys, 0, results), -EINVAL);
	ck_assert_int_eq(bc_purge(bc, keys, BC_PURGE_MAX + 1, results),
			 -EINVAL);
	keys[N] = (struct bc_key){"", 0};
	ck_assert_int_eq(bc_purge(bc, keys, N + 1, results), -EINVAL);
	expect_val(bc, "/p/0", "v", 1);

	struct bc_stats st;
	bc_stats(bc, &st);
	uint64_t syncs = st.syncs;
	ck_assert_int_eq(bc_purge(bc, keys, N, results), 0);
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.syncs, syncs + 1);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(results[i], i % 3 == 1 ? -ENOENT : 0);
		expect_absent(bc, names[i]);
	}
	expect_val(bc, "/keep", "kept", 4);
	/* Nothing present: nothing written, answered at once. */
	ck_assert_int_eq(bc_purge(bc, keys, 2, results), 0);
	ck_assert_int_eq(results[0], -ENOENT);
	ck_assert_int_eq(results[1], -ENOENT);
	bc_close(bc);

	/* And after a restart. */
	bc = open_ok(&o);
	for (int i = 0; i < N; i++)
		expect_absent(bc, names[i]);
	expect_val(bc, "/keep", "kept", 4);
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

struct purge_seen {
	atomic_int calls;
	int rc, result;
};

static void purge_seen_done(void *arg, int rc, const int *results)
{
	struct purge_seen *ps = arg;
	ps->rc = rc;
	ps->result = rc ? 1 : results[0];
	atomic_fetch_add(&ps->calls, 1);
}

/* A batched tombstone behind an unfinished put of its key does not wait
 * for it on the caller's thread: it is parked, and the put's end
 * publishes it, so the key ends up absent as recovery will see it. */
START_TEST(purge_behind_inflight_put)
{
	char *dir = tmpdir();
	struct bc_options o = opts(dir, BC_SYNC_BATCH, 1 << 20);
	struct bc *bc = open_ok(&o);
	ck_assert_int_eq(bc_put(bc, "/race", 5, "old", 3, NULL), 0);
	struct bc_write *w;
	ck_assert_int_eq(bc_write_begin(bc, "/race", 5, 3, &w), 0);
	ck_assert_int_eq(bc_write_append(w, "new", 3), 0);
	struct bc_stats st;
	bc_stats(bc, &st);
	uint64_t synced = st.synced_writes;
	struct purge_seen ps = {0};
	const struct bc_key k = {"/race", 5};
	ck_assert_int_eq(bc_purge_async(bc, &k, 1, purge_seen_done, &ps), 0);
	do {
		sched_yield();
		bc_stats(bc, &st);
	} while (st.synced_writes == synced);
	/* Durable, but parked behind the put. */
	struct timespec d = {0, 20000000};
	nanosleep(&d, NULL);
	ck_assert_int_eq(atomic_load(&ps.calls), 0);
	expect_val(bc, "/race", "old", 3);
	ck_assert_int_eq(bc_write_commit(w, NULL), 0);
	ck_assert_int_eq(atomic_load(&ps.calls), 1);
	ck_assert_int_eq(ps.rc, 0);
	ck_assert_int_eq(ps.result, 0);
	expect_absent(bc, "/race");
	bc_close(bc);
	bc = open_ok(&o);
	expect_absent(bc, "/race");
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* Asynchronous commits: each callback runs once, after its key became
 * visible, and one sync covers many of them. */
struct async_put {
	struct bc *bc;
	char key[32];
	int rc;
	bool visible;
	atomic_int *ended;
};

static void async_done(void *arg, int rc, const uint8_t md5[MD5_LEN])
{
	struct async_put *p = arg;
	struct bc_entry e;
	p->rc = rc;
	p->visible = rc == 0 &&
		     bc_get(p->bc, p->key, strlen(p->key), &e, NULL) == 0 &&
		     memcmp(e.md5, md5, MD5_LEN) == 0;
	atomic_fetch_add(p->ended, 1);
}

START_TEST(async_commit)
{
	enum { N = 200 };
	char *dir = tmpdir(), v[256];
	struct bc_options o = opts(dir, BC_SYNC_BATCH, 1 << 20);
	struct bc *bc = open_ok(&o);
	static struct async_put puts[N];
	atomic_int ended = 0;
	ck_assert_int_eq(bc_put(bc, "/key/0", 6, "old", 3, NULL), 0);
	for (int i = 0; i < N; i++) {
		struct async_put *p = &puts[i];
		*p = (struct async_put){.bc = bc, .rc = 1, .ended = &ended};
		key_of(i, p->key);
		size_t n = make_val(i, 1, v, sizeof(v));
		struct bc_write *w;
		ck_assert_int_eq(
			bc_write_begin(bc, p->key, strlen(p->key), n, &w), 0);
		ck_assert_int_eq(bc_write_append(w, v, n), 0);
		ck_assert_int_eq(bc_write_commit_async(w, async_done, p), 0);
	}
	/* A tombstone behind a queued commit of its key waits for it, on
	 * this thread, without deadlock, and wins. */
	ck_assert_int_eq(bc_delete(bc, puts[0].key, strlen(puts[0].key)), 0);
	while (atomic_load(&ended) < N)
		sched_yield();
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(puts[i].rc, 0);
		ck_assert(puts[i].visible);
	}
	expect_absent(bc, puts[0].key);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.synced_writes, N + 2);
	ck_assert_uint_lt(st.syncs, N / 2);

	/* A short value fails at once: no callback. */
	struct bc_write *w;
	ck_assert_int_eq(bc_write_begin(bc, "/short", 6, 3, &w), 0);
	ck_assert_int_eq(bc_write_append(w, "ab", 2), 0);
	ck_assert_int_eq(bc_write_commit_async(w, async_done, NULL), -EINVAL);
	expect_absent(bc, "/short");
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* ---- merge ---- */

START_TEST(merge_correctness)
{
	enum { N = 2000 };
	char *dir = tmpdir(), k[32], v[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 32768);
	struct bc *bc = open_ok(&o);
	for (int i = 0; i < N; i++) {
		size_t len = make_val(i, 0, v, sizeof(v));
		ck_assert_int_eq(
			bc_put(bc, k, (size_t)key_of(i, k), v, len, NULL), 0);
	}
	/* Keep a descriptor of an old location across the merge. */
	struct bc_entry old;
	int oldfd;
	key_of(1, k);
	ck_assert_int_eq(bc_get(bc, k, strlen(k), &old, &oldfd), 0);
	for (int i = 0; i < N; i++) {
		key_of(i, k);
		if (i % 4 == 1) {
			size_t len = make_val(i, 2, v, sizeof(v));
			ck_assert_int_eq(bc_put(bc, k, strlen(k), v, len, NULL),
					 0);
		} else if (i % 4 == 2) {
			ck_assert_int_eq(bc_delete(bc, k, strlen(k)), 0);
		}
	}
	struct bc_stats before, after;
	bc_stats(bc, &before);
	int merged = bc_merge(bc);
	ck_assert_int_gt(merged, 0);
	bc_stats(bc, &after);
	ck_assert_uint_eq(after.merges, (uint64_t)merged);
	ck_assert_uint_lt(after.dead_bytes, before.dead_bytes);
	ck_assert_uint_eq(after.live_bytes, before.live_bytes);
	ck_assert_uint_eq(after.keys, before.keys);

	char *ov = malloc(old.size);
	ck_assert_int_eq(pread(oldfd, ov, old.size, (off_t)old.value_offset),
			 (ssize_t)old.size);
	ck_assert_mem_eq(ov, v, make_val(1, 0, v, sizeof(v)));
	free(ov);
	close(oldfd);

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			key_of(i, k);
			if (i % 4 == 2) {
				expect_absent(bc, k);
				continue;
			}
			size_t len =
				make_val(i, i % 4 == 1 ? 2 : 0, v, sizeof(v));
			expect_val(bc, k, v, len);
		}
		ck_assert_int_eq(bc_scrub(bc), 0);
		bc_close(bc);
		bc = open_ok(&o);
		struct bc_stats st;
		bc_stats(bc, &st);
		ck_assert_uint_eq(st.keys, after.keys);
		ck_assert_uint_eq(st.corrupt_records, 0);
	}
	/* Deleting everything lets merge drop whole segments. */
	for (int i = 0; i < N; i++) {
		key_of(i, k);
		if (i % 4 != 2)
			ck_assert_int_eq(bc_delete(bc, k, strlen(k)), 0);
	}
	for (int i = 0; i < 3 && bc_merge(bc) > 0; i++)
		;
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.keys, 0);
	ck_assert_uint_lt(st.segments, after.segments);
	bc_close(bc);
	bc = open_ok(&o);
	for (int i = 0; i < N; i += 3) {
		key_of(i, k);
		expect_absent(bc, k);
	}
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

START_TEST(read_copy_or_fd)
{
	char *dir = tmpdir();
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	static char big[4097];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('A' + i % 23);
	ck_assert_int_eq(bc_put(bc, "/small", 6, big, 100, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/edge", 5, big, 4096, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/big", 4, big, 4097, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/empty", 6, "", 0, NULL), 0);

	/* Up to max: a copy, no descriptor. */
	expect_copy(bc, "/small", big, 100);
	struct bc_entry e;
	void *val;
	int fd;
	ck_assert_int_eq(bc_read(bc, "/edge", 5, 4096, &e, &val, &fd), 0);
	ck_assert_ptr_nonnull(val);
	ck_assert_int_eq(fd, -1);
	ck_assert_uint_eq(e.size, 4096);
	ck_assert_mem_eq(val, big, 4096);
	uint8_t md5[MD5_LEN];
	md5_buf(big, 4096, md5);
	ck_assert_mem_eq(e.md5, md5, MD5_LEN);
	free(val);
	ck_assert_int_eq(bc_read(bc, "/empty", 6, 4096, &e, &val, &fd), 0);
	ck_assert_ptr_nonnull(val);
	ck_assert_int_eq(fd, -1);
	ck_assert_uint_eq(e.size, 0);
	free(val);

	/* Over max: bc_get's descriptor, no copy. */
	ck_assert_int_eq(bc_read(bc, "/big", 4, 4096, &e, &val, &fd), 0);
	ck_assert_ptr_null(val);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(e.size, 4097);
	char got[4097];
	ck_assert_int_eq(pread(fd, got, sizeof(got), (off_t)e.value_offset),
			 (ssize_t)sizeof(got));
	ck_assert_mem_eq(got, big, sizeof(got));
	close(fd);
	ck_assert_int_eq(bc_read(bc, "/small", 6, 0, &e, &val, &fd), 0);
	ck_assert_ptr_null(val);
	ck_assert_int_ge(fd, 0);
	close(fd);

	/* Errors leave both empty. */
	val = big;
	fd = 7;
	ck_assert_int_eq(bc_read(bc, "/nope", 5, 4096, &e, &val, &fd), -ENOENT);
	ck_assert_ptr_null(val);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(bc_read(bc, "", 0, 4096, &e, &val, &fd), -EINVAL);
	ck_assert_ptr_null(val);
	ck_assert_int_eq(fd, -1);
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

struct churn_arg {
	struct bc *bc;
	volatile bool stop;
};

static void *reader(void *p)
{
	struct churn_arg *a = p;
	char k[32], v[256];
	while (!a->stop) {
		for (int i = 0; i < 500; i += 3) {
			key_of(i, k);
			size_t n = make_val(i, 0, v, sizeof(v));
			expect_val(a->bc, k, v, n);
		}
	}
	return NULL;
}

/* Copies keys that are being overwritten, so merge drops segments that
 * copies may have pinned: each copy must be one whole written version. */
static void *churn_copier(void *p)
{
	struct churn_arg *a = p;
	char k[32], v[256];
	while (!a->stop) {
		for (int i = 1; i < 500; i += 3) {
			key_of(i, k);
			struct bc_entry e;
			void *got;
			int fd;
			ck_assert_int_eq(bc_read(a->bc, k, strlen(k), 256, &e,
						 &got, &fd),
					 0);
			bool found = false;
			for (int round = 0; round < 20 && !found; round++) {
				size_t n = make_val(i, round, v, sizeof(v));
				found = e.size == n && memcmp(got, v, n) == 0;
			}
			ck_assert_msg(found, "copy of %s is no version", k);
			free(got);
		}
	}
	return NULL;
}

/* Background merge while readers and writers run. */
START_TEST(merge_background)
{
	char *dir = tmpdir(), k[32], v[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 8192);
	o.merge_interval_ms = 5;
	struct bc *bc = open_ok(&o);
	for (int i = 0; i < 500; i++) {
		size_t len = make_val(i, 0, v, sizeof(v));
		ck_assert_int_eq(
			bc_put(bc, k, (size_t)key_of(i, k), v, len, NULL), 0);
	}
	struct churn_arg a = {bc, false};
	pthread_t t, tc;
	pthread_create(&t, NULL, reader, &a);
	pthread_create(&tc, NULL, churn_copier, &a);
	for (int round = 0; round < 20; round++)
		for (int i = 1; i < 500; i += 3) {
			size_t len = make_val(i, round, v, sizeof(v));
			ck_assert_int_eq(bc_put(bc, k, (size_t)key_of(i, k), v,
						len, NULL),
					 0);
		}
	usleep(50000);
	a.stop = true;
	pthread_join(t, NULL);
	pthread_join(tc, NULL);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_gt(st.merges, 0);
	bc_close(bc);
	bc = open_ok(&o);
	for (int i = 1; i < 500; i += 3) {
		key_of(i, k);
		size_t n = make_val(i, 19, v, sizeof(v));
		expect_val(bc, k, v, n);
	}
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* ---- recovery ---- */

enum { RN = 6 };

/* Writes RN records into a fresh store with no hint and returns the
 * end offset of each record in segment 1. */
static void build_small(const char *dir, uint64_t ends[RN], char *path)
{
	char k[32], v[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	uint64_t end = 0;
	for (int i = 0; i < RN; i++) {
		size_t len = make_val(i, 0, v, 40);
		int klen = key_of(i, k);
		ck_assert_int_eq(bc_put(bc, k, (size_t)klen, v, len, NULL), 0);
		end += REC_HDR_SIZE + (uint64_t)klen + len;
		ends[i] = end;
	}
	bc_close(bc);
	sprintf(path, "%s/00000001.data", dir);
	ck_assert_int_eq(file_size(path), (off_t)end);
}

static struct bc *open_copy(const char *src, off_t len, const char *dir)
{
	char to[256];
	rm_rf(dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	sprintf(to, "%s/00000001.data", dir);
	copy_file(src, to, len);
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	return open_ok(&o);
}

START_TEST(recover_truncate_every_offset)
{
	char *dir = tmpdir(), *work = tmpdir(), src[256], k[32], v[256];
	uint64_t ends[RN];
	build_small(dir, ends, src);
	size_t flen = (size_t)file_size(src);
	uint8_t *bytes = malloc(flen);
	int fd = open(src, O_RDONLY);
	ck_assert_int_eq(pread(fd, bytes, flen, 0), (ssize_t)flen);
	close(fd);
	for (uint64_t cut = 0; cut <= ends[RN - 1]; cut++) {
		struct bc *bc = open_copy(src, (off_t)cut, work);
		uint64_t good = 0;
		for (int i = 0; i < RN; i++) {
			key_of(i, k);
			if (ends[i] <= cut) {
				size_t n = make_val(i, 0, v, 40);
				expect_val(bc, k, v, n);
				good = ends[i];
			} else {
				expect_absent(bc, k);
			}
		}
		struct bc_stats st;
		bc_stats(bc, &st);
		ck_assert_uint_eq(st.corrupt_records, 0);
		/* A torn record's trailing zeros cannot be told from the
		 * zeros written ahead of the tail: they are not counted. */
		uint64_t torn = cut;
		while (torn > good && !bytes[torn - 1])
			torn--;
		ck_assert_uint_eq(st.truncated_bytes, torn - good);
		/* The store keeps working after the cut. */
		ck_assert_int_eq(bc_put(bc, "/new", 4, "n", 1, NULL), 0);
		bc_close(bc);
		struct bc_options o = opts(work, BC_SYNC_NONE, 1 << 20);
		bc = open_ok(&o);
		expect_val(bc, "/new", "n", 1);
		bc_close(bc);
	}
	free(bytes);
	rm_rf(dir);
	rm_rf(work);
	free(dir);
	free(work);
}
END_TEST

/* Small records are written into zeros laid ahead of the tail; a crash
 * leaves those zeros in the file, and recovery cuts them as no damage. */
START_TEST(recover_zeros_ahead)
{
	char *dir = tmpdir(), *work = tmpdir(), src[256], to[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	ck_assert_int_eq(bc_put(bc, "/a", 2, "alpha", 5, NULL), 0);
	sprintf(src, "%s/00000001.data", dir);
	off_t rec = (off_t)(REC_HDR_SIZE + 2 + 5);
	ck_assert_int_gt(file_size(src), 64 * 1024);
	sprintf(to, "%s/00000001.data", work);
	copy_file(src, to, file_size(src));
	bc_close(bc);
	ck_assert_int_eq(file_size(src), rec);

	struct bc_options wo = opts(work, BC_SYNC_NONE, 1 << 20);
	bc = open_ok(&wo);
	expect_val(bc, "/a", "alpha", 5);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.corrupt_records, 0);
	ck_assert_uint_eq(st.truncated_bytes, 0);
	ck_assert_int_eq(file_size(to), rec);
	ck_assert_int_eq(bc_put(bc, "/b", 2, "beta", 4, NULL), 0);
	bc_close(bc);
	bc = open_ok(&wo);
	expect_val(bc, "/a", "alpha", 5);
	expect_val(bc, "/b", "beta", 4);
	bc_close(bc);
	rm_rf(dir);
	rm_rf(work);
	free(dir);
	free(work);
}
END_TEST

START_TEST(recover_flipped_middle)
{
	char *dir = tmpdir(), *work = tmpdir(), src[256], k[32], v[256],
	     to[256];
	uint64_t ends[RN];
	build_small(dir, ends, src);
	const int bad = 2;
	for (uint64_t pos = ends[bad - 1]; pos < ends[bad]; pos++) {
		struct bc *bc = open_copy(src, (off_t)ends[RN - 1], work);
		bc_close(bc);
		sprintf(to, "%s/00000001.hint", work);
		unlink(to);
		sprintf(to, "%s/00000001.data", work);
		int fd = open(to, O_RDWR);
		uint8_t b;
		ck_assert_int_eq(pread(fd, &b, 1, (off_t)pos), 1);
		b ^= 0x5a;
		ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)pos), 1);
		close(fd);
		struct bc_options o = opts(work, BC_SYNC_NONE, 1 << 20);
		bc = open_ok(&o);
		for (int i = 0; i < RN; i++) {
			key_of(i, k);
			if (i == bad) {
				expect_absent(bc, k);
			} else {
				size_t n = make_val(i, 0, v, 40);
				expect_val(bc, k, v, n);
			}
		}
		struct bc_stats st;
		bc_stats(bc, &st);
		ck_assert_msg(st.corrupt_records == 1,
			      "flip at %llu: %llu corrupt",
			      (unsigned long long)pos,
			      (unsigned long long)st.corrupt_records);
		ck_assert_uint_eq(st.truncated_bytes, 0);
		bc_close(bc);
	}
	rm_rf(dir);
	rm_rf(work);
	free(dir);
	free(work);
}
END_TEST

/* A reservation never committed (a crash mid-upload) in the middle of a
 * segment is skipped by length; what follows it loads. */
START_TEST(recover_pending_middle)
{
	char *dir = tmpdir(), *work = tmpdir(), src[256], to[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	ck_assert_int_eq(bc_put(bc, "/before", 7, "b", 1, NULL), 0);
	/* One small record (gathered in memory: its space stays zeros) and
	 * one streamed record (a provisional header), both unfinished. */
	struct bc_write *w, *big;
	ck_assert_int_eq(bc_write_begin(bc, "/pending", 8, 1000, &w), 0);
	ck_assert_int_eq(bc_write_append(w, "half", 4), 0);
	ck_assert_int_eq(bc_write_begin(bc, "/big", 4, 200000, &big), 0);
	ck_assert_int_eq(bc_write_append(big, "half", 4), 0);
	ck_assert_int_eq(bc_put(bc, "/after1", 7, "a1", 2, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/after2", 7, "a2", 2, NULL), 0);
	/* "Crash": copy the segment as it is now. */
	sprintf(src, "%s/00000001.data", dir);
	rm_rf(work);
	mkdir(work, 0755);
	sprintf(to, "%s/00000001.data", work);
	copy_file(src, to, file_size(src));
	bc_write_abort(w);
	bc_write_abort(big);
	bc_close(bc);

	struct bc_options wo = opts(work, BC_SYNC_NONE, 1 << 20);
	bc = open_ok(&wo);
	expect_val(bc, "/before", "b", 1);
	expect_absent(bc, "/pending");
	expect_absent(bc, "/big");
	expect_val(bc, "/after1", "a1", 2);
	expect_val(bc, "/after2", "a2", 2);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.corrupt_records, 0);
	ck_assert_uint_eq(st.truncated_bytes, 0);
	bc_close(bc);

	/* A pending record at the tail is a torn tail: cut off. A small one
	 * never reached the file at all. */
	bc = open_ok(&o);
	ck_assert_int_eq(bc_write_begin(bc, "/small", 6, 100, &w), 0);
	ck_assert_int_eq(bc_write_begin(bc, "/tail", 5, 100000, &big), 0);
	off_t len = file_size(src);
	rm_rf(work);
	mkdir(work, 0755);
	copy_file(src, to, len);
	bc_write_abort(w);
	bc_write_abort(big);
	bc_close(bc);
	bc = open_ok(&wo);
	expect_absent(bc, "/small");
	expect_absent(bc, "/tail");
	expect_val(bc, "/after2", "a2", 2);
	bc_stats(bc, &st);
	/* Past the last good record: the small record's unwritten space,
	 * then the streamed one's provisional header and key. */
	ck_assert_uint_eq(st.truncated_bytes,
			  (REC_HDR_SIZE + 6 + 100) + (REC_HDR_SIZE + 5));
	bc_close(bc);
	rm_rf(dir);
	rm_rf(work);
	free(dir);
	free(work);
}
END_TEST

/* A hint written at close covers the segment up to then; records
 * appended later (and not hinted, as after a crash) are scanned. */
START_TEST(recover_hint_then_tail)
{
	char *dir = tmpdir(), *work = tmpdir(), k[32], v[256], p[256], q[256];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(bc_put(bc, k, (size_t)key_of(i, k), v,
					make_val(i, 0, v, sizeof(v)), NULL),
				 0);
	ck_assert_int_eq(bc_delete(bc, "/key/5", 6), 0);
	bc_close(bc);
	sprintf(p, "%s/00000001.hint", dir);
	ck_assert_int_gt(file_size(p), 0);

	bc = open_ok(&o);
	for (int i = 100; i < 150; i++)
		ck_assert_int_eq(bc_put(bc, k, (size_t)key_of(i, k), v,
					make_val(i, 0, v, sizeof(v)), NULL),
				 0);
	ck_assert_int_eq(bc_delete(bc, "/key/7", 6), 0);
	/* Copy data and the old hint before close rewrites it. */
	rm_rf(work);
	mkdir(work, 0755);
	sprintf(p, "%s/00000001.data", dir);
	sprintf(q, "%s/00000001.data", work);
	copy_file(p, q, file_size(p));
	sprintf(p, "%s/00000001.hint", dir);
	sprintf(q, "%s/00000001.hint", work);
	copy_file(p, q, file_size(p));
	bc_close(bc);

	struct bc_options wo = opts(work, BC_SYNC_NONE, 1 << 20);
	for (int pass = 0; pass < 2; pass++) {
		bc = open_ok(pass ? &o : &wo);
		for (int i = 0; i < 150; i++) {
			key_of(i, k);
			if (i == 5 || i == 7)
				expect_absent(bc, k);
			else
				expect_val(bc, k, v,
					   make_val(i, 0, v, sizeof(v)));
		}
		struct bc_stats st;
		bc_stats(bc, &st);
		ck_assert_uint_eq(st.keys, 148);
		bc_close(bc);
	}
	rm_rf(dir);
	rm_rf(work);
	free(dir);
	free(work);
}
END_TEST

/* Overwrites one byte of the store's first segment. */
static void poke(const char *dir, uint64_t off, char c)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/00000001.data", dir);
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

/* Collects corrupt-key reports as "seq key size why" lines. */
static void report_line(void *arg, const struct corrupt_report *r)
{
	char line[KEY_MAX + 96];
	snprintf(line, sizeof(line), "%llu %.*s %llu %s\n",
		 (unsigned long long)r->seq, (int)r->klen, r->key,
		 (unsigned long long)r->size, r->why);
	strcat(arg, line);
}

/* Every report above since, as report_line lines, paging by two. */
static void reports(struct bc *bc, uint64_t since, char *out)
{
	out[0] = '\0';
	struct bc_stats st;
	bc_stats(bc, &st);
	while (bc_corrupt_next(bc, &since, st.corrupt_seq, 2, report_line,
			       out) == 1)
		;
}

START_TEST(scrub_finds_rot)
{
	char *dir = tmpdir(), got[1024];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	ck_assert_int_eq(bc_put(bc, "/a", 2, "aaaaaaaa", 8, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/b", 2, "bbbbbbbb", 8, NULL), 0);
	ck_assert_int_eq(bc_scrub(bc), 0);
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.scrub_passes, 1);
	ck_assert_uint_eq(st.scrub_records, 2);
	ck_assert_uint_eq(st.scrub_bytes, 2 * rec_size(2, 8));
	ck_assert_uint_eq(st.corrupt_seq, 0);
	struct bc_entry e;
	ck_assert_int_eq(bc_get(bc, "/b", 2, &e, NULL), 0);
	poke(dir, e.value_offset + 3, 'X');
	ck_assert_int_eq(bc_scrub(bc), 1);
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.scrub_errors, 1);
	ck_assert_uint_eq(st.scrub_bad, 1);
	ck_assert_uint_eq(st.scrub_passes, 2);
	ck_assert(!st.scrub_running);
	ck_assert_uint_eq(st.corrupt_seq, 1);
	ck_assert_uint_eq(st.corrupt_keys, 1);
	reports(bc, 0, got);
	ck_assert_str_eq(got, "1 /b 8 data CRC mismatch\n");

	/* The same rot found again, by a scrub or a read, is no new report;
	 * the read is refused and counted. */
	ck_assert_int_eq(bc_scrub(bc), 1);
	void *val = "x";
	int fd = 7;
	ck_assert_int_eq(bc_read(bc, "/b", 2, 4096, &e, &val, &fd), -EBADMSG);
	ck_assert_ptr_null(val);
	ck_assert_int_eq(fd, -1);
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.corrupt_reads, 1);
	ck_assert_uint_eq(st.corrupt_seq, 1);
	ck_assert_uint_eq(st.scrub_errors, 2);

	/* A good copy written over it ends the report. */
	ck_assert_int_eq(bc_put(bc, "/b", 2, "BBBBBBBB", 8, NULL), 0);
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.corrupt_keys, 0);
	ck_assert_uint_eq(st.corrupt_seq, 1);
	reports(bc, 0, got);
	ck_assert_str_eq(got, "");
	expect_copy(bc, "/b", "BBBBBBBB", 8);
	ck_assert_int_eq(bc_scrub(bc), 0);
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* A copied value is checked before bc_read hands it out: header, key and
 * data CRC, each on its own. */
START_TEST(read_checks_record)
{
	char *dir = tmpdir(), got[1024];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	static char big[70000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	ck_assert_int_eq(bc_put(bc, "/value", 6, big, 1000, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/header", 7, big, 1000, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/keyrot", 7, big, 1000, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/empty", 6, "", 0, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/good", 5, big, 1000, NULL), 0);
	ck_assert_int_eq(bc_put(bc, "/large", 6, big, sizeof(big), NULL), 0);
	struct bc_entry e;
	ck_assert_int_eq(bc_get(bc, "/value", 6, &e, NULL), 0);
	poke(dir, e.value_offset + 999, 'Z');
	ck_assert_int_eq(bc_get(bc, "/header", 7, &e, NULL), 0);
	/* The timestamp: only the header's own CRC notices. */
	poke(dir, e.value_offset - 7 - REC_HDR_SIZE + 25, 1);
	ck_assert_int_eq(bc_get(bc, "/keyrot", 7, &e, NULL), 0);
	poke(dir, e.value_offset - 1, 'T');
	ck_assert_int_eq(bc_get(bc, "/empty", 6, &e, NULL), 0);
	poke(dir, e.value_offset - 6, 'E');

	const char *bad[] = {"/value", "/header", "/keyrot", "/empty"};
	for (int i = 0; i < 4; i++) {
		void *val;
		int fd;
		ck_assert_int_eq(bc_read(bc, bad[i], strlen(bad[i]), 65536, &e,
					 &val, &fd),
				 -EBADMSG);
		ck_assert_ptr_null(val);
		ck_assert_int_eq(fd, -1);
	}
	reports(bc, 0, got);
	ck_assert_str_eq(got, "1 /value 1000 data CRC mismatch\n"
			      "2 /header 1000 bad header\n"
			      "3 /keyrot 1000 key mismatch\n"
			      "4 /empty 0 key mismatch\n");
	reports(bc, 2, got);
	ck_assert_str_eq(got, "3 /keyrot 1000 key mismatch\n"
			      "4 /empty 0 key mismatch\n");
	/* No false positives, on either side of the copy limit. */
	expect_val(bc, "/good", big, 1000);
	expect_val(bc, "/large", big, sizeof(big));
	struct bc_stats st;
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.corrupt_reads, 4);
	/* A delete ends a report too, and the numbers go on. */
	ck_assert_int_eq(bc_delete(bc, "/header", 7), 0);
	ck_assert_int_eq(bc_put(bc, "/empty", 6, "e", 1, NULL), 0);
	reports(bc, 0, got);
	ck_assert_str_eq(got, "1 /value 1000 data CRC mismatch\n"
			      "3 /keyrot 1000 key mismatch\n");
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.corrupt_keys, 2);
	ck_assert_uint_eq(st.corrupt_seq, 4);
	/* The set lives in memory only: a restart forgets it, and a scrub
	 * finds the rot again. (The record whose key bytes rotted is no
	 * longer /keyrot's once hints are rebuilt from the disk: the key is
	 * absent, which is no wrong byte either.) */
	bc_close(bc);
	bc = open_ok(&o);
	bc_stats(bc, &st);
	ck_assert_uint_eq(st.corrupt_seq, 0);
	ck_assert_int_eq(bc_scrub(bc), 1);
	reports(bc, 0, got);
	ck_assert_str_eq(got, "1 /value 1000 data CRC mismatch\n");
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

START_TEST(corrupt_set_bounds)
{
	struct corrupt_set *cs;
	ck_assert_int_eq(corrupt_new(3, &cs), 0);
	uint64_t seq;
	char got[1024];
	ck_assert_int_eq(corrupt_add(cs, "/a", 2, 10, "x", &seq), 1);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(corrupt_add(cs, "/b", 2, 20, "y", &seq), 1);
	ck_assert_uint_eq(seq, 2);
	ck_assert_int_eq(corrupt_add(cs, "/a", 2, 10, "z", &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_uint_eq(corrupt_count(cs), 2);
	ck_assert_int_eq(corrupt_remove(cs, "/a", 2), 1);
	ck_assert_int_eq(corrupt_remove(cs, "/a", 2), 0);
	ck_assert_int_eq(corrupt_add(cs, "/c", 2, 30, "x", &seq), 1);
	ck_assert_int_eq(corrupt_add(cs, "/d", 2, 40, "x", &seq), 1);
	ck_assert_uint_eq(seq, 4);
	ck_assert_uint_eq(corrupt_dropped_seq(cs), 0);
	/* A fifth report has no room: the one 3 numbers older (/b, 2) goes;
	 * number 1 (/a) had been removed already. */
	ck_assert_int_eq(corrupt_add(cs, "/e", 2, 50, "x", &seq), 1);
	ck_assert_uint_eq(seq, 5);
	ck_assert_uint_eq(corrupt_dropped_seq(cs), 2);
	ck_assert_uint_eq(corrupt_count(cs), 3);
	ck_assert_int_eq(corrupt_remove(cs, "/b", 2), 0);
	uint64_t last;
	got[0] = '\0';
	ck_assert_uint_eq(corrupt_list(cs, 0, 5, 10, report_line, got, &last),
			  3);
	ck_assert_str_eq(got, "3 /c 30 x\n4 /d 40 x\n5 /e 50 x\n");
	ck_assert_uint_eq(last, 5);
	/* Paging: at most max, and `last` resumes after them. */
	got[0] = '\0';
	ck_assert_uint_eq(corrupt_list(cs, 0, 5, 1, report_line, got, &last),
			  1);
	ck_assert_str_eq(got, "3 /c 30 x\n");
	ck_assert_uint_eq(last, 3);
	got[0] = '\0';
	ck_assert_uint_eq(
		corrupt_list(cs, last, 4, 10, report_line, got, &last), 1);
	ck_assert_str_eq(got, "4 /d 40 x\n");
	ck_assert_uint_eq(last, 4);
	ck_assert_uint_eq(corrupt_list(cs, 5, 99, 10, report_line, got, &last),
			  0);
	ck_assert_uint_eq(last, 5);
	/* A key removed and found bad again is a new report. */
	ck_assert_int_eq(corrupt_remove(cs, "/c", 2), 1);
	ck_assert_int_eq(corrupt_add(cs, "/c", 2, 31, "x", &seq), 1);
	ck_assert_uint_eq(seq, 6);
	ck_assert_uint_eq(corrupt_seq(cs), 6);
	corrupt_free(cs);
}
END_TEST

START_TEST(volume_id)
{
	char *dir = tmpdir(), path[256], id[BC_ID_LEN + 1], run[BC_RUN_LEN + 1];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 1 << 20);
	struct bc *bc = open_ok(&o);
	ck_assert_uint_eq(strlen(bc_id(bc)), BC_ID_LEN);
	ck_assert_uint_eq(strspn(bc_id(bc), "0123456789abcdef"), BC_ID_LEN);
	ck_assert_uint_eq(strspn(bc_run(bc), "0123456789abcdef"), BC_RUN_LEN);
	strcpy(id, bc_id(bc));
	strcpy(run, bc_run(bc));
	ck_assert_int_eq(bc_put(bc, "/k", 2, "v", 1, NULL), 0);
	bc_close(bc);

	/* The file holds it, and every open reads it back. */
	snprintf(path, sizeof(path), "%s/id", dir);
	char text[64] = {0};
	int fd = open(path, O_RDONLY);
	ck_assert_int_eq(read(fd, text, sizeof(text)), BC_ID_LEN + 1);
	close(fd);
	ck_assert_int_eq(strncmp(text, id, BC_ID_LEN), 0);
	bc = open_ok(&o);
	ck_assert_str_eq(bc_id(bc), id);
	ck_assert_str_ne(bc_run(bc), run);
	bc_close(bc);

	/* A directory an older build made (no id) gets one, keeping its
	 * data; so does one whose id file was damaged. */
	ck_assert_int_eq(unlink(path), 0);
	bc = open_ok(&o);
	ck_assert_str_ne(bc_id(bc), id);
	ck_assert_uint_eq(strspn(bc_id(bc), "0123456789abcdef"), BC_ID_LEN);
	strcpy(id, bc_id(bc));
	expect_copy(bc, "/k", "v", 1);
	bc_close(bc);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "not an id\n", 10), 10);
	close(fd);
	bc = open_ok(&o);
	ck_assert_str_ne(bc_id(bc), id);
	strcpy(id, bc_id(bc));
	bc_close(bc);

	/* An emptied directory is a new volume. */
	rm_rf(dir);
	bc = open_ok(&o);
	ck_assert_str_ne(bc_id(bc), id);
	expect_absent(bc, "/k");
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

static struct bc_stats stats_of(struct bc *bc)
{
	struct bc_stats st;
	bc_stats(bc, &st);
	return st;
}

/* Polls cond, an expression on the bc_stats `st` in scope, refreshing it
 * every 10 ms for up to 30 s. */
#define WAIT_STATS(bc, cond)                                                   \
	do {                                                                   \
		st = stats_of(bc);                                             \
		for (int polls_ = 0; !(cond) && polls_ < 3000; polls_++) {     \
			struct timespec d_ = {0, 10 * 1000 * 1000};            \
			nanosleep(&d_, NULL);                                  \
			st = stats_of(bc);                                     \
		}                                                              \
		ck_assert_msg(cond, "timed out waiting for %s", #cond);        \
	} while (0)

/* The scrub thread: paced passes one after the other that find rot on
 * their own; bc_scrub_start lifts the pace; close stops a paced pass. */
START_TEST(background_scrub)
{
	char *dir = tmpdir(), got[1024];
	struct bc_options o = opts(dir, BC_SYNC_NONE, 4 << 20);
	o.scrub_rate = 256 << 10;
	static char val[100000];
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (char)('a' + i % 26);
	struct bc *bc = open_ok(&o);
	struct bc_stats st;
	char k[32];
	for (int i = 0; i < 6; i++) {
		key_of(i, k);
		ck_assert_int_eq(
			bc_put(bc, k, strlen(k), val, sizeof(val), NULL), 0);
	}
	struct bc_entry e;
	ck_assert_int_eq(bc_get(bc, "/key/4", 6, &e, NULL), 0);
	poke(dir, e.value_offset + 70000, '!');
	/* Found without being asked, and only after as long as the rate
	 * allows for what the pass read. */
	WAIT_STATS(bc, st.corrupt_seq == 1);
	reports(bc, 0, got);
	ck_assert_str_eq(got, "1 /key/4 100000 data CRC mismatch\n");
	/* Known bad: refused in the descriptor form too, which reads
	 * nothing itself. */
	void *copy = "x";
	int fd = 7;
	ck_assert_int_eq(bc_read(bc, "/key/4", 6, 65536, &e, &copy, &fd),
			 -EBADMSG);
	ck_assert_ptr_null(copy);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(bc_read(bc, "/key/3", 6, 65536, &e, &copy, &fd), 0);
	ck_assert_ptr_null(copy);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* Between two passes the figures are the last whole pass's (the
	 * first one began before the puts). */
	WAIT_STATS(bc, !st.scrub_running && st.scrub_records == 6 &&
			       st.scrub_bad == 1);
	ck_assert_uint_eq(st.scrub_bytes, 6 * rec_size(6, sizeof(val)));
	ck_assert_uint_ge(st.scrub_bytes_total, st.scrub_bytes);
	ck_assert_uint_ge(st.scrub_last_pass_ms + 1,
			  st.scrub_bytes * 1000 / o.scrub_rate);
	ck_assert_uint_eq(st.corrupt_reads, 1);
	bc_close(bc);

	/* A crawl: a pass would take minutes. Asking for one while it runs
	 * gets false, and lifts the limit, so the pass ends soon. */
	o.scrub_rate = 4096;
	bc = open_ok(&o);
	WAIT_STATS(bc, st.scrub_running && st.scrub_bytes > 0);
	ck_assert(!bc_scrub_start(bc));
	WAIT_STATS(bc, st.scrub_passes == 1 && !st.scrub_running);
	ck_assert_uint_eq(st.scrub_bad, 1);
	bc_close(bc);

	/* Closing in the middle of a paced pass does not wait for it. */
	bc = open_ok(&o);
	WAIT_STATS(bc, st.scrub_running && st.scrub_bytes > 0);
	bc_close(bc);

	/* With no background scrub, bc_scrub_start runs a pass at once. */
	o.scrub_rate = 0;
	bc = open_ok(&o);
	ck_assert_uint_eq(stats_of(bc).scrub_passes, 0);
	ck_assert(bc_scrub_start(bc));
	WAIT_STATS(bc, !st.scrub_running && st.scrub_passes == 1);
	ck_assert_uint_eq(st.scrub_records, 6);
	ck_assert_uint_eq(st.scrub_bad, 1);
	ck_assert_uint_eq(st.corrupt_seq, 1);
	bc_close(bc);
	rm_rf(dir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bitcask");
	TCase *t = tcase_create("unit");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, record_roundtrip);
	tcase_add_test(t, keydir_basic);
	tcase_add_test(t, keydir_many);
	tcase_add_test(t, hint_roundtrip);
	tcase_add_test(t, engine_basic);
	tcase_add_test(t, engine_segments_and_keys);
	tcase_add_test(t, group_commit);
	tcase_add_test(t, group_commit_gathers);
	tcase_add_test(t, concurrent_writers_none);
	tcase_add_test(t, interleaved_streams);
	tcase_add_test(t, delete_after_inflight_put);
	tcase_add_test(t, purge_batch);
	tcase_add_test(t, purge_behind_inflight_put);
	tcase_add_test(t, async_commit);
	tcase_add_test(t, read_copy_or_fd);
	tcase_add_test(t, merge_correctness);
	tcase_add_test(t, merge_background);
	tcase_add_test(t, recover_truncate_every_offset);
	tcase_add_test(t, recover_zeros_ahead);
	tcase_add_test(t, recover_flipped_middle);
	tcase_add_test(t, recover_pending_middle);
	tcase_add_test(t, recover_hint_then_tail);
	tcase_add_test(t, scrub_finds_rot);
	tcase_add_test(t, read_checks_record);
	tcase_add_test(t, corrupt_set_bounds);
	tcase_add_test(t, volume_id);
	tcase_add_test(t, background_scrub);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
