/* A 1 GiB PUT through cask-master: the value streams to three volumes
 * and the master's resident memory grows by at most 64 MiB. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/md5.h"
#include "tests/fixture.h"
#include "tests/harness.h"

#define NVOL	      3
#define SIZE	      (1ull << 30)
#define RSS_BUDGET_KB (64 * 1024)

/* Reads a "VmRSS:"-style field of /proc/pid/status in kB, or -1. */
static long proc_kb(int pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	size_t fl = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, fl) == 0)
			kb = strtol(line + fl, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

START_TEST(one_gib_put_in_bounded_memory)
{
	/* The default health-check interval: nothing here waits for one. */
	const struct fixture_opts o = {
		.tag = "master-big", .volumes = NVOL, .masters = 1};
	struct fixture f;
	ck_assert_int_eq(fixture_start(&f, &o), 0);
	struct harness_proc *master = &f.master[0];

	char *v = malloc(SIZE);
	ck_assert_ptr_nonnull(v);
	harness_fill(v, SIZE, 42);
	uint8_t d[MD5_LEN];
	char want[2 * MD5_LEN + 1], got[64], url[256];
	ck_assert_int_eq(md5_buf(v, SIZE, d), 0);
	md5_hex(d, want);

	long before = proc_kb(master->pid, "VmRSS:");
	ck_assert_int_gt(before, 0);
	snprintf(url, sizeof(url), "%s/big", f.murl[0]);
	struct harness_resp r;
	ck_assert_int_eq(harness_http("PUT", url, v, SIZE, NULL, &r), 0);
	ck_assert_int_eq(r.code, 201);
	harness_resp_free(&r);
	long peak = proc_kb(master->pid, "VmHWM:");
	printf("master RSS before %ld kB, peak %ld kB\n", before, peak);
	ck_assert_int_le(peak - before, RSS_BUDGET_KB);
	free(v);

	ck_assert_int_eq(harness_http("HEAD", url, NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.code, 302);
	ck_assert_int_eq(harness_header(&r, "Content-Md5", got, sizeof(got)),
			 0);
	ck_assert_str_eq(got, want);
	char loc[512];
	ck_assert_int_eq(harness_header(&r, "Location", loc, sizeof(loc)), 0);
	harness_resp_free(&r);
	ck_assert_int_eq(harness_http("HEAD", loc, NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.code, 200);
	ck_assert_int_eq(harness_header(&r, "Content-Md5", got, sizeof(got)),
			 0);
	ck_assert_str_eq(got, want);
	harness_resp_free(&r);
	ck_assert_int_eq(fixture_stop(&f), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("master_big");
	TCase *tc = tcase_create("big");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, one_gib_put_in_bounded_memory);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
