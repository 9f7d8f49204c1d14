/* Unit tests of the Raft log on disk (master/repl/raftlog.h): what is saved
 * comes back after a reopen, in the order and shape raft_restore wants. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/repl/raftlog.h"
#include "tests/harness.h"

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

int main(void)
{
	Suite *s = suite_create("raftlog");
	TCase *tc = tcase_create("raftlog");
	tcase_add_test(tc, empty_then_saved);
	tcase_add_test(tc, overwrite_truncates);
	tcase_add_test(tc, compact_and_snapshot);
	tcase_add_test(tc, peers_table);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
