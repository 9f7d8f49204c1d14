/* Unit tests for common/sign.h and common/replay.h: the secret file's
 * rules, the signed text as sign.h spells it (recomputed here with
 * OpenSSL directly), and every way a signature is refused. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/replay.h"
#include "common/sign.h"
#include "tests/harness.h"

#define SECRET "0123456789abcdef-test-secret"

static char dir[256];

static const char *write_secret(const char *name, const char *text, mode_t mode)
{
	static char path[512];
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/cask-sign-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(dir));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void teardown(void)
{
	sign_cleanup();
	if (dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		ck_assert_int_eq(system(cmd), 0);
		dir[0] = '\0';
	}
}

static void init_good(void)
{
	ck_assert_int_eq(sign_init(write_secret("s", SECRET "\n", 0600)), 0);
	ck_assert(sign_enabled());
}

START_TEST(secret_file_rules)
{
	ck_assert_int_eq(sign_init(NULL), 0);
	ck_assert(!sign_enabled());
	ck_assert_int_eq(sign_init(""), 0);
	ck_assert(!sign_enabled());
	write_secret("x", "", 0600);
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(sign_init(missing), -ENOENT);
	ck_assert_int_eq(sign_init(write_secret("o", SECRET, 0604)), -EPERM);
	ck_assert(!sign_enabled());
	ck_assert_int_eq(sign_init(write_secret("short", "short\n", 0600)),
			 -EINVAL);
	ck_assert_int_eq(sign_init(dir), -EIO); /* a directory */
	char *big = malloc(SIGN_SECRET_MAX + 2);
	memset(big, 'k', SIGN_SECRET_MAX + 1);
	big[SIGN_SECRET_MAX + 1] = '\0';
	ck_assert_int_eq(sign_init(write_secret("big", big, 0600)), -EINVAL);
	free(big);
	ck_assert(!sign_enabled());
	/* Group-readable is allowed: a service group may share it. */
	ck_assert_int_eq(sign_init(write_secret("g", SECRET, 0640)), 0);
	ck_assert(sign_enabled());
}
END_TEST

static void spec_value(const char *method, const char *target, uint64_t ms,
		       const char *nonce, const char *length, char *out)
{
	char url[256];
	snprintf(url, sizeof(url), "http://h:1%s", target);
	harness_sign_as(SECRET, method, url, ms, nonce, length, out);
}

START_TEST(signature_is_the_documented_hmac)
{
	init_good();
	char v[SIGN_VALUE_MAX];
	ck_assert_int_eq(sign_request("PUT", "http://h:1/k%20?x=1", 5, v), 0);
	uint64_t ms;
	char nonce[33], want[SIGN_VALUE_MAX];
	ck_assert_int_eq(sscanf(v, "%" SCNu64 " %32s", &ms, nonce), 2);
	uint64_t now = clock_wall_ms();
	ck_assert(ms <= now && ms + 1000 > now);
	spec_value("PUT", "/k%20?x=1", ms, nonce, "5", want);
	ck_assert_str_eq(v, want);
	ck_assert_int_eq(sign_request("PUT", "http://h:1/k", SIGN_CHUNKED, v),
			 0);
	ck_assert_int_eq(sscanf(v, "%" SCNu64 " %32s", &ms, nonce), 2);
	spec_value("PUT", "/k", ms, nonce, "chunked", want);
	ck_assert_str_eq(v, want);
	/* Nonces never repeat within a process. */
	char v2[SIGN_VALUE_MAX], n2[33];
	ck_assert_int_eq(sign_request("PUT", "http://h:1/k", SIGN_CHUNKED, v2),
			 0);
	ck_assert_int_eq(sscanf(v2, "%*s %32s", n2), 1);
	ck_assert_str_ne(nonce, n2);
	ck_assert_int_eq(sign_request("GET", "nourl", 0, v), -EINVAL);
	ck_assert_int_eq(sign_request("GET", "/k", 0, v),
			 -EINVAL); /* no host */
}
END_TEST

START_TEST(check_accepts_once_and_refuses_the_rest)
{
	init_good();
	const char *why = NULL;
	char v[SIGN_VALUE_MAX];
	ck_assert_int_eq(sign_request("POST", "http://h:1/_/raft/msgs", 42, v),
			 0);
	/* Altered in any signed part. */
	ck_assert_int_eq(
		sign_check("PUT", "h:1", "/_/raft/msgs", 42, v, NULL, &why),
		-EACCES);
	ck_assert_int_eq(
		sign_check("POST", "h:1", "/_/raft/msg", 42, v, NULL, &why),
		-EACCES);
	ck_assert_int_eq(
		sign_check("POST", "h:1", "/_/raft/msgs", 43, v, NULL, &why),
		-EACCES);
	ck_assert_int_eq(sign_check("POST", "h:1", "/_/raft/msgs", SIGN_CHUNKED,
				    v, NULL, &why),
			 -EACCES);
	ck_assert_str_eq(why, "wrong signature: not this cluster's secret");
	/* At another host than the one it was signed for, or none. */
	ck_assert_int_eq(
		sign_check("POST", "h:2", "/_/raft/msgs", 42, v, NULL, &why),
		-EACCES);
	ck_assert_int_eq(
		sign_check("POST", "", "/_/raft/msgs", 42, v, NULL, &why),
		-EACCES);
	ck_assert_int_eq(
		sign_check("POST", NULL, "/_/raft/msgs", 42, v, NULL, &why),
		-EACCES);
	ck_assert_ptr_nonnull(strstr(why, "Host"));
	/* Good once, then a replay. */
	ck_assert_int_eq(
		sign_check("POST", "h:1", "/_/raft/msgs", 42, v, NULL, &why),
		0);
	ck_assert_int_eq(
		sign_check("POST", "h:1", "/_/raft/msgs", 42, v, NULL, &why),
		-EACCES);
	ck_assert_str_eq(why, "replayed signature");
	/* A method longer than any signer sends: refused, not an error. */
	char method[200];
	memset(method, 'M', sizeof(method) - 1);
	method[sizeof(method) - 1] = '\0';
	ck_assert_int_eq(
		sign_check(method, "h:1", "/_/raft/msgs", 42, v, NULL, &why),
		-EACCES);
	/* Missing and malformed. */
	ck_assert_int_eq(
		sign_check("GET", "h:1", "/_/keys", 0, NULL, NULL, &why),
		-EACCES);
	ck_assert_ptr_nonnull(strstr(why, "unsigned"));
	const char *bad[] = {"",
			     "abc",
			     "123",
			     "123 xyz",
			     "1 00000000000000000000000000000000 00",
			     "99999999999999999999 0 0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_int_eq(sign_check("GET", "h:1", "/_/keys", 0, bad[i],
					    NULL, &why),
				 -EACCES);
		ck_assert_str_eq(why, "malformed X-Cask-Auth header");
	}
	/* Right MAC, wrong time: either side of the window. */
	char old[SIGN_VALUE_MAX];
	uint64_t now = clock_wall_ms();
	const char *nonce = "00112233445566778899aabbccddeeff";
	spec_value("GET", "/_/keys", now - SIGN_WINDOW_MS - 2000, nonce, "0",
		   old);
	ck_assert_int_eq(
		sign_check("GET", "h:1", "/_/keys", 0, old, NULL, &why),
		-EACCES);
	ck_assert_ptr_nonnull(strstr(why, "expired"));
	spec_value("GET", "/_/keys", now + SIGN_WINDOW_MS + 2000, nonce, "0",
		   old);
	ck_assert_int_eq(
		sign_check("GET", "h:1", "/_/keys", 0, old, NULL, &why),
		-EACCES);
	/* Inside the window, made elsewhere with the same secret: good. */
	spec_value("GET", "/_/keys", now - 10000, nonce, "0", old);
	ck_assert_int_eq(
		sign_check("GET", "h:1", "/_/keys", 0, old, NULL, &why), 0);
	/* A different secret. */
	sign_cleanup();
	ck_assert_int_eq(
		sign_init(write_secret("t", "another-secret-entirely", 0600)),
		0);
	ck_assert_int_eq(sign_request("GET", "http://h:1/_/keys", 0, v), 0);
	sign_cleanup();
	init_good();
	ck_assert_int_eq(sign_check("GET", "h:1", "/_/keys", 0, v, NULL, &why),
			 -EACCES);
	/* Off: nothing is checked. */
	sign_cleanup();
	ck_assert_int_eq(
		sign_check("GET", "h:1", "/_/keys", 0, NULL, NULL, &why), 0);
	ck_assert_int_eq(sign_request("GET", "http://h:1/_/keys", 0, v),
			 -ENOTCONN);
	ck_assert_str_eq(v, "");
}
END_TEST

START_TEST(bind_defaults_follow_the_secret)
{
	const char *b = NULL;
	ck_assert_int_eq(sign_bind("", false, &b), 0);
	ck_assert_str_eq(b, "127.0.0.1");
	ck_assert_int_eq(sign_bind("127.0.0.2", false, &b), 0);
	ck_assert_str_eq(b, "127.0.0.2");
	ck_assert_int_eq(sign_bind("0.0.0.0", false, &b), -EPERM);
	ck_assert_int_eq(sign_bind("10.1.2.3", false, &b), -EPERM);
	ck_assert_int_eq(sign_bind("0.0.0.0", true, &b), 0);
	ck_assert_str_eq(b, "0.0.0.0");
	init_good();
	ck_assert_int_eq(sign_bind("", false, &b), 0);
	ck_assert_str_eq(b, "0.0.0.0");
	ck_assert_int_eq(sign_bind("10.1.2.3", false, &b), 0);
	ck_assert_str_eq(b, "10.1.2.3");
}
END_TEST

START_TEST(replay_set_remembers_until_expiry)
{
	struct replay *r = replay_new();
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(replay_add(r, 7, 100, 10), 0);
	ck_assert_int_eq(replay_add(r, 7, 100, 99), -EEXIST);
	ck_assert_int_eq(replay_add(r, 7, 200, 100), 0); /* expired: anew */
	ck_assert_int_eq(replay_add(r, 7, 300, 150), -EEXIST);
	/* Many live tags, colliding on the low bits too: all kept while the
	 * table grows. */
	enum { N = 300000 };
	for (uint64_t i = 1; i <= N; i++)
		ck_assert_int_eq(replay_add(r, i << 20, 1000, 200), 0);
	for (uint64_t i = 1; i <= N; i += 997)
		ck_assert_int_eq(replay_add(r, i << 20, 1000, 201), -EEXIST);
	/* Once they all expire, the space is used again without growing past
	 * what the live ones need. */
	for (uint64_t i = 1; i <= N; i++)
		ck_assert_int_eq(replay_add(r, (i << 20) | 1, 2000, 1000), 0);
	ck_assert_int_eq(replay_add(r, 1 << 20, 3000, 1000), 0);
	replay_free(r);
}
END_TEST

/* A purge of "abc" signed with its digest, for h:1. */
static void sign_abc(char v[SIGN_VALUE_MAX])
{
	ck_assert_int_eq(
		sign_request_body("POST", "http://h:1/_/purge", "abc", 3, v),
		0);
}

/* sign_check of such a purge at h:1, into a fresh b. */
static int check_abc(const char *v, struct sign_body *b, const char **why)
{
	*b = (struct sign_body){0};
	return sign_check("POST", "h:1", "/_/purge", 3, v, b, why);
}

/* A body the sender held whole is signed by its digest: the receiver
 * gets the digest only where it checks it, and only that body passes. */
START_TEST(digest_binds_the_body)
{
	init_good();
	const char *why = NULL;
	char v[SIGN_VALUE_MAX], want[SIGN_VALUE_MAX];
	sign_abc(v);
	uint64_t ms;
	char nonce[33];
	ck_assert_int_eq(sscanf(v, "%" SCNu64 " %32s", &ms, nonce), 2);
	harness_sign_digest(SECRET, "POST", "http://h:1/_/purge", ms, nonce,
			    "abc", 3, want);
	ck_assert_str_eq(v, want);
	ck_assert_ptr_nonnull(strstr(v, " ba7816bf8f01cfea414140de5dae2223b"
					"00361a396177a9cb410ff61f20015ad"));
	/* Where no digest is checked, one is refused. */
	ck_assert_int_eq(
		sign_check("POST", "h:1", "/_/purge", 3, v, NULL, &why),
		-EACCES);
	ck_assert_ptr_nonnull(strstr(why, "digest"));
	/* Taken: the same bytes in any pieces pass, once. */
	struct sign_body b;
	ck_assert_int_eq(check_abc(v, &b, &why), 0);
	ck_assert(b.set);
	ck_assert_int_eq(sign_body_update(&b, "a", 1), 0);
	ck_assert_int_eq(sign_body_update(&b, "bc", 2), 0);
	ck_assert_int_eq(sign_body_end(&b, &why), 0);
	ck_assert_int_eq(sign_body_end(&b, &why), 0);
	sign_body_free(&b);
	/* Other bytes of the same length do not. */
	sign_abc(v);
	ck_assert_int_eq(check_abc(v, &b, &why), 0);
	ck_assert_int_eq(sign_body_update(&b, "abd", 3), 0);
	ck_assert_int_eq(sign_body_end(&b, &why), -EACCES);
	ck_assert_str_eq(why, "the body is not the one that was signed");
	sign_body_free(&b);
	/* Nor does an empty one, nor a digest changed or taken away. */
	sign_abc(v);
	ck_assert_int_eq(check_abc(v, &b, &why), 0);
	ck_assert_int_eq(sign_body_end(&b, &why), -EACCES);
	sign_body_free(&b);
	sign_abc(v);
	char *d = strrchr(v, ' ');
	d[1] = d[1] == '0' ? '1' : '0';
	ck_assert_int_eq(check_abc(v, &b, &why), -EACCES);
	*d = '\0';
	ck_assert_int_eq(check_abc(v, &b, &why), -EACCES);
	ck_assert_str_eq(why, "wrong signature: not this cluster's secret");
	/* Without a digest there is nothing to check. */
	ck_assert_int_eq(sign_request("POST", "http://h:1/_/purge", 3, v), 0);
	ck_assert_int_eq(check_abc(v, &b, &why), 0);
	ck_assert(!b.set);
	ck_assert_int_eq(sign_body_end(&b, &why), 0);
	sign_body_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sign");
	TCase *tc = tcase_create("sign");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, secret_file_rules);
	tcase_add_test(tc, signature_is_the_documented_hmac);
	tcase_add_test(tc, check_accepts_once_and_refuses_the_rest);
	tcase_add_test(tc, digest_binds_the_body);
	tcase_add_test(tc, bind_defaults_follow_the_secret);
	tcase_add_test(tc, replay_set_remembers_until_expiry);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
