/* cask-s3 through real S3 clients (DESIGN.md, "S3 gateway"): three
 * replicated masters, three volumes and a gateway given all three
 * masters, as child processes. Each case runs tests/s3_clients.py with
 * Debian's aws-cli, boto3, rclone or s3cmd; what the clients stored is
 * checked in the cluster itself through a master, not through the
 * gateway. A GET of a large object is checked to stream: the gateway's
 * peak RSS grows by far less than the object. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fixture.h"
#include "tests/harness.h"

#define ACCESS "CASKTESTKEY0001"
#define SECRET "c2VjcmV0IGZvciB0aGUgdGVzdHMgb25seQ"

/* Under AddressSanitizer the gateway's memory is the sanitizer's
 * (quarantined frees, shadow pages): the 1 GiB case then still runs, for
 * its memory errors, but its RSS bound holds for the plain build only. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECK "0"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_CHECK "0"
#endif
#endif
#ifndef RSS_CHECK
#define RSS_CHECK "1"
#endif

static struct fixture F;
static struct harness_proc gw;
static char endpoint[64];

static void start(void)
{
	const struct fixture_opts o = {
		.tag = "s3", .volumes = 3, .masters = 3, .replicated = true};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	char creds[600], log[600], masters[160];
	snprintf(creds, sizeof(creds), "%s/s3.credentials", F.dir);
	FILE *f = fopen(creds, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# access key, secret key\n%s %s\nOTHERKEY other-secret\n",
		ACCESS, SECRET);
	fclose(f);
	snprintf(log, sizeof(log), "%s/s3.log", F.dir);
	snprintf(masters, sizeof(masters), "%s,%s,%s", F.murl[0], F.murl[1],
		 F.murl[2]);
	int port = harness_free_port();
	ck_assert_int_gt(port, 0);
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	const char *args[] = {"-port",	      p,     "-masters", masters,
			      "-credentials", creds, NULL};
	ck_assert_int_eq(harness_start(&gw, "cask-s3", port, args, log), 0);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
	/* Writes need a leader: wait for one. */
	bool led = false;
	for (int round = 0; round < 100 && !led; round++)
		for (int i = 0; i < 3 && !led; i++)
			led = fixture_wait_status(&F, i, "\"role\":\"leader\"",
						  100) == 0;
	ck_assert(led);
}

static void stop(void)
{
	harness_stop(&gw);
	ck_assert_int_eq(fixture_stop(&F), 0);
}

/* Runs s3_clients.py `name`; its output goes to the test's log. */
static void client_case(const char *name)
{
	char script[600], work[600], out[700];
	const char *src = getenv("CASK_SRC");
	snprintf(script, sizeof(script), "%s/tests/s3_clients.py",
		 src ? src : "..");
	snprintf(work, sizeof(work), "%s/work-%s", F.dir, name);
	ck_assert_int_eq(mkdir(work, 0755), 0);
	snprintf(out, sizeof(out), "%s.out", work);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		setenv("S3_ENDPOINT", endpoint, 1);
		setenv("S3_KEY", ACCESS, 1);
		setenv("S3_SECRET", SECRET, 1);
		setenv("CASK_MASTER", F.murl[1], 1);
		setenv("WORK", work, 1);
		char gwpid[16];
		snprintf(gwpid, sizeof(gwpid), "%d", (int)gw.pid);
		setenv("S3_PID", gwpid, 1);
		setenv("S3_RSS_CHECK", RSS_CHECK, 1);
		execl("/usr/bin/python3", "python3", script, name,
		      (char *)NULL);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	FILE *f = fopen(out, "r");
	char line[1024];
	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "s3_clients.py %s failed (its output is above)", name);
}

START_TEST(awscli)
{
	client_case("awscli");
}
END_TEST

START_TEST(boto3)
{
	client_case("boto3");
}
END_TEST

START_TEST(refusals)
{
	client_case("refusals");
}
END_TEST

START_TEST(chunked)
{
	client_case("chunked");
}
END_TEST

START_TEST(rclone)
{
	client_case("rclone");
}
END_TEST

START_TEST(s3cmd)
{
	client_case("s3cmd");
}
END_TEST

START_TEST(big)
{
	client_case("big");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("clients");
	tcase_set_timeout(tc, 600);
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, boto3);
	tcase_add_test(tc, chunked);
	tcase_add_test(tc, awscli);
	tcase_add_test(tc, s3cmd);
	tcase_add_test(tc, rclone);
	tcase_add_test(tc, big);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
