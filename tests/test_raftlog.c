/* Unit tests of the Raft log on disk (master/repl/raftlog.h): what is saved
 * comes back after a reopen, in the order and shape raft_restore wants;
 * torn tails are cut, damage is refused, segments roll and are reclaimed,
 * and an LMDB log of the first format is imported. Real files in a temp
 * folder. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/be.h"
#include "common/le.h"
#include "master/repl/raftlog.h"
#include "master/repl/raftlog_int.h"
#include "master/state/lmdbenv.h"
#include "tests/harness.h"

#define BATCH_HDR 17 /* as raftlog.c: record header 9 + u32 bytes, u32 crc */
#define ENTRY_REC 26 /* record header 9 + index, term, type */

static struct raft_entry ent(uint64_t index, uint64_t term, const char *s)
{
	return (struct raft_entry){.index = index,
				   .term = term,
				   .type = RAFT_ENTRY_NORMAL,
				   .len = strlen(s),
				   .data = (void *)s};
}

static struct raftlog *reopen(struct raftlog *rl, const char *dir)
{
	raftlog_close(rl);
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	return rl;
}

START_TEST(empty_then_saved)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	struct raftlog_state st;
	bool empty;
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert(empty);
	ck_assert_uint_eq(st.n, 0);
	struct raft_entry e[3] = {ent(1, 1, "a"), ent(2, 1, "bb"),
				  ent(3, 2, "ccc")};
	struct raft_hard_state hs = {.term = 2, .vote = 3, .commit = 2};
	ck_assert_int_eq(raftlog_save(rl, NULL, e, 3, &hs), 0);
	ck_assert_uint_eq(raftlog_syncs(rl), 1);
	rl = reopen(rl, dir);
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert(!empty);
	ck_assert(!st.has_snap);
	ck_assert_uint_eq(st.hs.term, 2);
	ck_assert_uint_eq(st.hs.vote, 3);
	ck_assert_uint_eq(st.hs.commit, 2);
	ck_assert_uint_eq(st.n, 3);
	ck_assert_uint_eq(st.ents[2].index, 3);
	ck_assert_uint_eq(st.ents[2].term, 2);
	ck_assert_uint_eq(st.ents[2].len, 3);
	ck_assert_mem_eq(st.ents[2].data, "ccc", 3);
	raftlog_state_free(&st);
	raftlog_close(rl);
}
END_TEST

/* Appending at an index replaces that entry and everything after it. */
START_TEST(overwrite_truncates)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	struct raft_entry e[4] = {ent(1, 1, "a"), ent(2, 1, "b"),
				  ent(3, 1, "c"), ent(4, 1, "d")};
	ck_assert_int_eq(raftlog_save(rl, NULL, e, 4, NULL), 0);
	struct raft_entry f[1] = {ent(2, 3, "x")};
	ck_assert_int_eq(raftlog_save(rl, NULL, f, 1, NULL), 0);
	struct raftlog_state st;
	bool empty;
	rl = reopen(rl, dir);
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert_uint_eq(st.n, 2);
	ck_assert_uint_eq(st.ents[1].term, 3);
	ck_assert_mem_eq(st.ents[1].data, "x", 1);
	raftlog_state_free(&st);
	raftlog_close(rl);
}
END_TEST

/* Compaction drops the prefix; an installed snapshot drops everything. */
START_TEST(compact_and_snapshot)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	struct raft_entry e[4] = {ent(1, 1, "a"), ent(2, 1, "b"),
				  ent(3, 2, "c"), ent(4, 2, "d")};
	ck_assert_int_eq(raftlog_save(rl, NULL, e, 4, NULL), 0);
	struct raft_snap_meta m = {.index = 2, .term = 1};
	m.conf.n = 3;
	m.conf.ids[0] = 1;
	m.conf.ids[1] = 2;
	m.conf.ids[2] = 5;
	m.conf.learner[2] = true;
	ck_assert_int_eq(raftlog_compact(rl, &m), 0);
	struct raftlog_state st;
	bool empty;
	rl = reopen(rl, dir);
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert(st.has_snap);
	ck_assert_uint_eq(st.snap.index, 2);
	ck_assert_uint_eq(st.snap.conf.n, 3);
	ck_assert(st.snap.conf.learner[2]);
	ck_assert_uint_eq(st.n, 2);
	ck_assert_uint_eq(st.ents[0].index, 3);
	raftlog_state_free(&st);

	struct raft_snap_meta s = {.index = 10, .term = 4, .conf = m.conf};
	struct raft_entry g[1] = {ent(11, 4, "z")};
	ck_assert_int_eq(raftlog_save(rl, &s, g, 1, NULL), 0);
	rl = reopen(rl, dir);
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert_uint_eq(st.snap.index, 10);
	ck_assert_uint_eq(st.n, 1);
	ck_assert_uint_eq(st.ents[0].index, 11);
	raftlog_state_free(&st);
	raftlog_close(rl);
}
END_TEST

START_TEST(peers_table)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	char buf[64];
	ck_assert_int_eq(raftlog_get_peers(rl, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(raftlog_set_peers(rl, "1=http://a:1,2=http://b:2"), 0);
	rl = reopen(rl, dir);
	ck_assert_int_eq(raftlog_get_peers(rl, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1=http://a:1,2=http://b:2");
	ck_assert_int_eq(raftlog_get_peers(rl, buf, 8), -ENOSPC);
	raftlog_close(rl);
}
END_TEST

static char *seg_path(const char *dir, unsigned seq)
{
	static char p[600];
	snprintf(p, sizeof(p), "%s/raft/%016x.log", dir, seq);
	return p;
}

static int count_segs(const char *dir)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/raft", dir);
	DIR *d = opendir(p);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		n += l == 20 && strcmp(de->d_name + 16, ".log") == 0;
	}
	closedir(d);
	return n;
}

static void file_rw(const char *path, void *buf, size_t len, off_t off,
		    bool write)
{
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ssize_t n =
		write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	ck_assert_int_eq(n, (ssize_t)len);
	close(fd);
}

/* Where the written bytes of a segment end (the last one must not be 0). */
static size_t data_end(const char *path)
{
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	uint8_t *b = malloc(sb.st_size);
	file_rw(path, b, sb.st_size, 0, false);
	size_t end = sb.st_size;
	while (end && !b[end - 1])
		end--;
	free(b);
	return end;
}

static void expect_entries(struct raftlog *rl, uint64_t first, size_t n)
{
	struct raftlog_state st;
	bool empty;
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert_uint_eq(st.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(st.ents[i].index, first + i);
	raftlog_state_free(&st);
}

/* A crash in the middle of the last save: whatever prefix of its batch
 * reached the disk, with zeros or junk after it, the log is what the
 * previous saves made, and the next save is read back after it. */
START_TEST(torn_tail_every_byte)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	struct raft_entry e[3] = {ent(1, 1, "a"), ent(2, 1, "bb"),
				  ent(3, 2, "ccc")};
	struct raft_hard_state hs = {.term = 2, .vote = 1, .commit = 2};
	ck_assert_int_eq(raftlog_save(rl, NULL, e, 3, &hs), 0);
	struct raft_entry t[1] = {ent(4, 2, "tail")};
	ck_assert_int_eq(raftlog_save(rl, NULL, t, 1, NULL), 0);
	raftlog_close(rl);
	const char *seg = seg_path(dir, 1);
	size_t end = data_end(seg), len = BATCH_HDR + ENTRY_REC + 4;
	uint8_t orig[64], junk[64];
	file_rw(seg, orig, len, end - len, false);
	for (int fill = 0; fill < 2; fill++)
		for (size_t k = end - len; k < end; k++) {
			file_rw(seg, orig, len, end - len, true);
			memset(junk, fill ? 0xa5 : 0, sizeof(junk));
			file_rw(seg, junk, end - k, k, true);
			ck_assert_int_eq(raftlog_open(dir, &rl), 0);
			struct raftlog_state st;
			bool empty;
			ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
			ck_assert_uint_eq(st.n, 3);
			ck_assert_uint_eq(st.hs.term, 2);
			ck_assert_uint_eq(st.hs.commit, 2);
			ck_assert_mem_eq(st.ents[2].data, "ccc", 3);
			raftlog_state_free(&st);
			struct raft_entry u[1] = {ent(4, 3, "new!")};
			ck_assert_int_eq(raftlog_save(rl, NULL, u, 1, NULL), 0);
			rl = reopen(rl, dir);
			ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
			ck_assert_uint_eq(st.n, 4);
			ck_assert_uint_eq(st.ents[3].term, 3);
			ck_assert_mem_eq(st.ents[3].data, "new!", 4);
			raftlog_state_free(&st);
			raftlog_close(rl);
		}
}
END_TEST

/* A bad batch with good ones after it is damage, not a torn write: the
 * log refuses to open rather than silently losing synced entries. */
START_TEST(mid_log_damage)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	for (uint64_t i = 1; i <= 3; i++) {
		struct raft_entry e[1] = {ent(i, 1, "xyz")};
		ck_assert_int_eq(raftlog_save(rl, NULL, e, 1, NULL), 0);
	}
	raftlog_close(rl);
	const char *seg = seg_path(dir, 1);
	size_t len = BATCH_HDR + ENTRY_REC + 3;
	/* A payload byte of the second batch, then its header. */
	off_t at[2] = {2 * len - 1, len + 2};
	for (int i = 0; i < 2; i++) {
		uint8_t b;
		file_rw(seg, &b, 1, at[i], false);
		b ^= 0x40;
		file_rw(seg, &b, 1, at[i], true);
		ck_assert_int_eq(raftlog_open(dir, &rl), -EINVAL);
		b ^= 0x40;
		file_rw(seg, &b, 1, at[i], true);
	}
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	expect_entries(rl, 1, 3);
	raftlog_close(rl);
}
END_TEST

/* Small segments: saves roll over several, everything comes back, and
 * compaction deletes the segments whose entries are all dead. */
START_TEST(rollover_and_reclaim)
{
	raftlog_test_segment_size(16 << 10);
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	ck_assert_int_eq(raftlog_set_peers(rl, "1=http://a:1"), 0);
	static char pay[1000];
	memset(pay, 'p', sizeof(pay) - 1);
	struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = 0};
	for (uint64_t i = 1; i <= 100; i += 4) {
		struct raft_entry e[4];
		for (int j = 0; j < 4; j++)
			e[j] = ent(i + j, 1, pay);
		hs.commit = i + 3;
		ck_assert_int_eq(raftlog_save(rl, NULL, e, 4, &hs), 0);
	}
	int before = count_segs(dir);
	ck_assert_int_ge(before, 5);
	rl = reopen(rl, dir);
	expect_entries(rl, 1, 100);
	struct raft_snap_meta m = {.index = 90, .term = 1};
	m.conf.n = 1;
	m.conf.ids[0] = 1;
	uint64_t s0 = raftlog_syncs(rl);
	ck_assert_int_eq(raftlog_compact(rl, &m), 0);
	ck_assert_uint_eq(raftlog_syncs(rl), s0 + 1);
	int after = count_segs(dir);
	ck_assert_int_le(after, 2);
	rl = reopen(rl, dir);
	struct raftlog_state st;
	bool empty;
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert(st.has_snap);
	ck_assert_uint_eq(st.snap.index, 90);
	ck_assert_uint_eq(st.hs.commit, 100);
	ck_assert_uint_eq(st.n, 10);
	ck_assert_uint_eq(st.ents[0].index, 91);
	ck_assert_mem_eq(st.ents[9].data, pay, sizeof(pay) - 1);
	raftlog_state_free(&st);
	char buf[64];
	ck_assert_int_eq(raftlog_get_peers(rl, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1=http://a:1");
	/* Everything compacted: one segment is left, and it still knows. */
	m.index = 100;
	ck_assert_int_eq(raftlog_compact(rl, &m), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(raftlog_set_peers(rl, "1=http://a:1"), 0);
	ck_assert_int_eq(count_segs(dir), 1);
	rl = reopen(rl, dir);
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert(!empty);
	ck_assert_uint_eq(st.snap.index, 100);
	ck_assert_uint_eq(st.hs.commit, 100);
	ck_assert_uint_eq(st.n, 0);
	raftlog_state_free(&st);
	ck_assert_int_eq(raftlog_get_peers(rl, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1=http://a:1");
	/* A batch bigger than a segment gets a segment of its own. */
	static char big[40 << 10];
	memset(big, 'B', sizeof(big) - 1);
	struct raft_entry b[1] = {ent(101, 2, big)};
	ck_assert_int_eq(raftlog_save(rl, NULL, b, 1, NULL), 0);
	rl = reopen(rl, dir);
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert_uint_eq(st.n, 1);
	ck_assert_uint_eq(st.ents[0].len, sizeof(big) - 1);
	ck_assert_mem_eq(st.ents[0].data, big, sizeof(big) - 1);
	raftlog_state_free(&st);
	raftlog_close(rl);
	raftlog_test_segment_size(RAFTLOG_SEG_SIZE);
}
END_TEST

/* The next segment is zeroed ahead, off the writer's thread: the
 * rollover renames that very file. Closing drops an unused one. */
START_TEST(rollover_uses_spare)
{
	raftlog_test_segment_size(16 << 10);
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	char tmp[600], seg[600];
	snprintf(tmp, sizeof(tmp), "%s/raft/0000000000000002.log.tmp", dir);
	snprintf(seg, sizeof(seg), "%s/raft/0000000000000002.log", dir);
	struct stat st;
	int polls = 0;
	while (stat(tmp, &st) || st.st_size != 16 << 10) {
		ck_assert_int_lt(++polls, 2000);
		usleep(5000);
	}
	ino_t spare = st.st_ino;
	static char pay[1000];
	memset(pay, 's', sizeof(pay) - 1);
	for (uint64_t i = 1; count_segs(dir) < 2; i++) {
		ck_assert_uint_lt(i, 100);
		struct raft_entry e = ent(i, 1, pay);
		ck_assert_int_eq(raftlog_save(rl, NULL, &e, 1, NULL), 0);
	}
	ck_assert_int_eq(stat(seg, &st), 0);
	ck_assert_uint_eq(st.st_ino, spare);
	raftlog_close(rl);
	snprintf(tmp, sizeof(tmp), "%s/raft/0000000000000003.log.tmp", dir);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	raftlog_test_segment_size(RAFTLOG_SEG_SIZE);
}
END_TEST

/* The first batch of a fresh segment torn away: the segment is empty but
 * named, and the next save there must carry the metadata, since the older
 * segments it replaces get deleted. */
START_TEST(torn_first_batch_of_segment)
{
	raftlog_test_segment_size(8 << 10);
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	ck_assert_int_eq(raftlog_set_peers(rl, "2=http://b:2"), 0);
	struct raft_hard_state hs = {.term = 5, .vote = 2, .commit = 7};
	ck_assert_int_eq(raftlog_save(rl, NULL, NULL, 0, &hs), 0);
	static char pay[3000];
	memset(pay, 'q', sizeof(pay) - 1);
	uint64_t i = 1;
	while (count_segs(dir) < 2) {
		struct raft_entry e[1] = {ent(i, 5, pay)};
		ck_assert_int_eq(raftlog_save(rl, NULL, e, 1, NULL), 0);
		i++;
	}
	raftlog_close(rl);
	static uint8_t zeros[8 << 10];
	file_rw(seg_path(dir, 2), zeros, sizeof(zeros), 0, true);
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	expect_entries(rl, 1, i - 2);
	struct raft_snap_meta m = {.index = i - 2, .term = 5};
	m.conf.n = 1;
	m.conf.ids[0] = 2;
	ck_assert_int_eq(raftlog_compact(rl, &m), 0);
	ck_assert_int_eq(count_segs(dir), 1);
	rl = reopen(rl, dir);
	struct raftlog_state st;
	bool empty;
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert_uint_eq(st.hs.term, 5);
	ck_assert_uint_eq(st.hs.commit, 7);
	ck_assert_uint_eq(st.snap.index, i - 2);
	ck_assert_uint_eq(st.n, 0);
	raftlog_state_free(&st);
	char buf[64];
	ck_assert_int_eq(raftlog_get_peers(rl, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "2=http://b:2");
	raftlog_close(rl);
	raftlog_test_segment_size(RAFTLOG_SEG_SIZE);
}
END_TEST

/* A conflicting suffix replaced, within a segment and across segments
 * (old 7 and 8 are in the second, their replacements in the third), also
 * after the segments before were reclaimed. */
START_TEST(conflict_truncation)
{
	for (int small = 0; small < 2; small++) {
		raftlog_test_segment_size(small ? 4 << 10 : RAFTLOG_SEG_SIZE);
		const char *dir = harness_tmpdir("raftlog");
		struct raftlog *rl;
		ck_assert_int_eq(raftlog_open(dir, &rl), 0);
		struct raft_snap_meta s = {.index = 4, .term = 1};
		s.conf.n = 1;
		s.conf.ids[0] = 1;
		static char pay[1500];
		memset(pay, 'c', sizeof(pay) - 1);
		for (uint64_t i = 5; i <= 10; i++) {
			struct raft_entry e[1] = {
				ent(i, 1, small ? pay : "old")};
			ck_assert_int_eq(raftlog_save(rl, i == 5 ? &s : NULL, e,
						      1, NULL),
					 0);
		}
		if (small)
			ck_assert_int_eq(count_segs(dir), 3);
		struct raft_entry f[2] = {ent(7, 2, "new7"), ent(8, 2, "new8")};
		ck_assert_int_eq(raftlog_save(rl, NULL, f, 2, NULL), 0);
		rl = reopen(rl, dir);
		struct raftlog_state st;
		bool empty;
		ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
		ck_assert_uint_eq(st.snap.index, 4);
		ck_assert_uint_eq(st.n, 4);
		ck_assert_uint_eq(st.ents[0].index, 5);
		ck_assert_uint_eq(st.ents[1].term, 1);
		ck_assert_uint_eq(st.ents[2].index, 7);
		ck_assert_uint_eq(st.ents[2].term, 2);
		ck_assert_mem_eq(st.ents[3].data, "new8", 4);
		raftlog_state_free(&st);
		s.index = 6;
		ck_assert_int_eq(raftlog_compact(rl, &s), 0);
		/* New 7 and 8 went in after old 9 and 10: the replay from
		 * there meets those dead ones first. */
		if (small)
			ck_assert_int_eq(count_segs(dir), 1);
		rl = reopen(rl, dir);
		ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
		ck_assert_uint_eq(st.snap.index, 6);
		ck_assert_uint_eq(st.n, 2);
		ck_assert_uint_eq(st.ents[0].index, 7);
		ck_assert_uint_eq(st.ents[0].term, 2);
		ck_assert_mem_eq(st.ents[1].data, "new8", 4);
		raftlog_state_free(&st);
		raftlog_close(rl);
	}
	raftlog_test_segment_size(RAFTLOG_SEG_SIZE);
}
END_TEST

/* An installed snapshot drops every entry, even ones past it. */
START_TEST(snapshot_drops_all)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	struct raft_entry e[3] = {ent(1, 1, "a"), ent(2, 1, "b"),
				  ent(3, 1, "c")};
	ck_assert_int_eq(raftlog_save(rl, NULL, e, 3, NULL), 0);
	struct raft_snap_meta s = {.index = 2, .term = 3};
	s.conf.n = 1;
	s.conf.ids[0] = 1;
	ck_assert_int_eq(raftlog_save(rl, &s, NULL, 0, NULL), 0);
	rl = reopen(rl, dir);
	struct raftlog_state st;
	bool empty;
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert(!empty);
	ck_assert(st.has_snap);
	ck_assert_uint_eq(st.snap.term, 3);
	ck_assert_uint_eq(st.n, 0);
	raftlog_state_free(&st);
	raftlog_close(rl);
}
END_TEST

/* Each save, compaction and peer update is one fdatasync. */
START_TEST(one_sync_each)
{
	const char *dir = harness_tmpdir("raftlog");
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	ck_assert_uint_eq(raftlog_syncs(rl), 0);
	struct raft_hard_state hs = {.term = 1};
	for (uint64_t i = 1; i <= 10; i++) {
		struct raft_entry e[2] = {ent(2 * i - 1, 1, "x"),
					  ent(2 * i, 1, "y")};
		hs.commit = 2 * i;
		uint64_t s0 = raftlog_syncs(rl);
		ck_assert_int_eq(raftlog_save(rl, NULL, e, 2, &hs), 0);
		ck_assert_uint_eq(raftlog_syncs(rl), s0 + 1);
	}
	uint64_t s0 = raftlog_syncs(rl);
	ck_assert_int_eq(raftlog_set_peers(rl, "1=http://a:1"), 0);
	struct raft_snap_meta m = {.index = 5, .term = 1};
	m.conf.n = 1;
	m.conf.ids[0] = 1;
	ck_assert_int_eq(raftlog_compact(rl, &m), 0);
	ck_assert_uint_eq(raftlog_syncs(rl), s0 + 2);
	/* Nothing to save is no write at all. */
	ck_assert_int_eq(raftlog_save(rl, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(raftlog_syncs(rl), s0 + 2);
	raftlog_close(rl);
}
END_TEST

/* The first format, written as the LMDB log did. */
static void write_lmdb_log(const char *dir)
{
	static const char *const names[] = {"entries", "meta"};
	MDB_dbi dbi[2];
	MDB_env *env;
	ck_assert_int_eq(
		lmdbenv_open(dir, "raft", 64 << 20, names, dbi, 2, &env), 0);
	MDB_txn *txn;
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	uint8_t hs[24];
	le_put64(hs, 7);
	le_put64(hs + 8, 2);
	le_put64(hs + 16, 4);
	MDB_val k = {2, "hs"}, v = {24, hs};
	ck_assert_int_eq(mdb_put(txn, dbi[1], &k, &v, 0), 0);
	struct raft_conf c = {.n = 2, .ids = {1, 2}};
	uint8_t snap[128];
	le_put64(snap, 2);
	le_put64(snap + 8, 6);
	ck_assert_int_eq(raft_conf_encode(&c, snap + 16, sizeof(snap) - 16), 0);
	k = (MDB_val){4, "snap"};
	v = (MDB_val){16 + raft_conf_size(&c), snap};
	ck_assert_int_eq(mdb_put(txn, dbi[1], &k, &v, 0), 0);
	k = (MDB_val){5, "peers"};
	v = (MDB_val){12, "1=http://a:1"};
	ck_assert_int_eq(mdb_put(txn, dbi[1], &k, &v, 0), 0);
	for (uint64_t i = 3; i <= 5; i++) {
		uint8_t kb[8], vb[12];
		be_put64(kb, i);
		le_put64(vb, 7);
		vb[8] = RAFT_ENTRY_NORMAL;
		vb[9] = 'o';
		vb[10] = 'l';
		vb[11] = 'd';
		k = (MDB_val){8, kb};
		v = (MDB_val){12, vb};
		ck_assert_int_eq(mdb_put(txn, dbi[0], &k, &v, 0), 0);
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void expect_imported(struct raftlog *rl)
{
	struct raftlog_state st;
	bool empty;
	ck_assert_int_eq(raftlog_load(rl, &st, &empty), 0);
	ck_assert(!empty);
	ck_assert_uint_eq(st.hs.term, 7);
	ck_assert_uint_eq(st.hs.vote, 2);
	ck_assert_uint_eq(st.hs.commit, 4);
	ck_assert(st.has_snap);
	ck_assert_uint_eq(st.snap.index, 2);
	ck_assert_uint_eq(st.snap.term, 6);
	ck_assert_uint_eq(st.snap.conf.n, 2);
	ck_assert_uint_eq(st.snap.conf.ids[1], 2);
	ck_assert_uint_eq(st.n, 3);
	ck_assert_uint_eq(st.ents[0].index, 3);
	ck_assert_uint_eq(st.ents[2].term, 7);
	ck_assert_mem_eq(st.ents[2].data, "old", 3);
	raftlog_state_free(&st);
	char buf[64];
	ck_assert_int_eq(raftlog_get_peers(rl, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1=http://a:1");
}

/* An LMDB log is imported once and set aside; segments left by an import
 * that did not finish are redone from it. */
START_TEST(import_lmdb)
{
	const char *dir = harness_tmpdir("raftlog");
	write_lmdb_log(dir);
	/* A half-done earlier import. */
	int fd = open(seg_path(dir, 1), O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "junk", 4), 4);
	close(fd);
	struct raftlog *rl;
	ck_assert_int_eq(raftlog_open(dir, &rl), 0);
	expect_imported(rl);
	char p[600];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/raft/data.mdb", dir);
	ck_assert_int_ne(stat(p, &sb), 0);
	snprintf(p, sizeof(p), "%s/raft/data.mdb.imported", dir);
	ck_assert_int_eq(stat(p, &sb), 0);
	struct raft_entry e[1] = {ent(6, 8, "new")};
	ck_assert_int_eq(raftlog_save(rl, NULL, e, 1, NULL), 0);
	rl = reopen(rl, dir);
	expect_entries(rl, 3, 4);
	raftlog_close(rl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raftlog");
	TCase *tc = tcase_create("raftlog");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_then_saved);
	tcase_add_test(tc, overwrite_truncates);
	tcase_add_test(tc, compact_and_snapshot);
	tcase_add_test(tc, peers_table);
	tcase_add_test(tc, torn_tail_every_byte);
	tcase_add_test(tc, mid_log_damage);
	tcase_add_test(tc, rollover_and_reclaim);
	tcase_add_test(tc, rollover_uses_spare);
	tcase_add_test(tc, torn_first_batch_of_segment);
	tcase_add_test(tc, conflict_truncation);
	tcase_add_test(tc, snapshot_drops_all);
	tcase_add_test(tc, one_sync_each);
	tcase_add_test(tc, import_lmdb);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
