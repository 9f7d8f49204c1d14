/* Cluster tests of cask-master: one master and three volumes, real
 * processes on 127.0.0.1 ephemeral ports, every row of the API table. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/md5.h"
#include "tests/fixture.h"
#include "tests/harness.h"

#define NVOL 3

/* NVOL volumes and one master (flags and all). */
static void start_cluster(struct fixture *c, const char *const *extra)
{
	const struct fixture_opts o = {.tag = "master",
				       .volumes = NVOL,
				       .masters = 1,
				       .check_interval = "200ms",
				       .master_args = extra};
	ck_assert_int_eq(fixture_start(c, &o), 0);
}

static void stop_cluster(struct fixture *c)
{
	ck_assert_int_eq(fixture_stop(c), 0);
}

static long req(struct harness_proc *m, const char *method, const char *path,
		const void *body, size_t len, struct harness_resp *out)
{
	char url[2048];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", m->port, path);
	return harness_request(method, url, body, len, out);
}

static long put(struct harness_proc *m, const char *path, const char *v)
{
	return req(m, "PUT", path, v, strlen(v), NULL);
}

/* GETs path through the master, follows the redirect and returns the
 * volume's body (caller frees) or NULL. */
static char *fetch(struct harness_proc *m, const char *path, size_t *len)
{
	struct harness_resp r, v;
	if (req(m, "GET", path, NULL, 0, &r) != 302)
		return NULL;
	char loc[1024];
	ck_assert_int_eq(harness_header(&r, "Location", loc, sizeof(loc)), 0);
	harness_resp_free(&r);
	if (harness_http("GET", loc, NULL, 0, NULL, &v) || v.code != 200) {
		harness_resp_free(&v);
		return NULL;
	}
	*len = v.len;
	free(v.headers);
	return v.body;
}

static struct fixture shared;
static bool shared_up;

static long status_number(struct harness_proc *m, const char *field)
{
	struct harness_resp r;
	ck_assert_int_eq(req(m, "GET", "/_/status", NULL, 0, &r), 200);
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", field);
	const char *p = strstr(r.body, pat);
	long v = p ? strtol(p + strlen(pat), NULL, 10) : -1;
	harness_resp_free(&r);
	return v;
}

static void sleep_ms(long ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&d, NULL);
}

/* Polls /_/status until it contains text, for up to 5 s. */
static bool status_has(struct harness_proc *m, const char *text)
{
	for (int waited = 0; waited < 5000; waited += 20) {
		struct harness_resp r;
		ck_assert_int_eq(req(m, "GET", "/_/status", NULL, 0, &r), 200);
		bool has = strstr(r.body, text) != NULL;
		harness_resp_free(&r);
		if (has)
			return true;
		sleep_ms(20);
	}
	return false;
}

static struct harness_proc *cluster(void)
{
	if (!shared_up) {
		const char *extra[] = {"-max-value", "100M", "-list-max", "20",
				       NULL};
		start_cluster(&shared, extra);
		shared_up = true;
	}
	return &shared.master[0];
}

START_TEST(put_get_delete_roundtrip)
{
	struct harness_proc *m = cluster();
	ck_assert_int_eq(put(m, "/wehave", "bigswag"), 201);
	ck_assert_int_eq(put(m, "/wehave", "other"), 403);
	struct harness_resp r;
	ck_assert_int_eq(req(m, "GET", "/wehave", NULL, 0, &r), 302);
	char h[1024];
	ck_assert_int_eq(harness_header(&r, "Content-Md5", h, sizeof(h)), 0);
	ck_assert_str_eq(h, "df86f5729538f57b0c5312f673abefe4");
	ck_assert_int_eq(harness_header(&r, "Key-Balance", h, sizeof(h)), 0);
	ck_assert_str_eq(h, "balanced");
	ck_assert_int_eq(harness_header(&r, "Key-Volumes", h, sizeof(h)), 0);
	ck_assert_int_eq(strlen(h), strlen(shared.volumes));
	harness_resp_free(&r);
	ck_assert_int_eq(req(m, "HEAD", "/wehave", NULL, 0, NULL), 302);
	size_t len;
	char *body = fetch(m, "/wehave", &len);
	ck_assert_ptr_nonnull(body);
	ck_assert_mem_eq(body, "bigswag", 7);
	free(body);
	/* Keys are percent-decoded; volumes get them re-encoded. */
	ck_assert_int_eq(put(m, "/sp%20ace%2Fx", "s"), 201);
	body = fetch(m, "/sp%20ace/x", &len);
	ck_assert_ptr_nonnull(body);
	free(body);

	ck_assert_int_eq(req(m, "DELETE", "/wehave", NULL, 0, NULL), 204);
	ck_assert_int_eq(req(m, "GET", "/wehave", NULL, 0, &r), 404);
	ck_assert_int_eq(harness_header(&r, "Content-Length", h, sizeof(h)), 0);
	ck_assert_str_eq(h, "0");
	harness_resp_free(&r);
	ck_assert_int_eq(req(m, "DELETE", "/wehave", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(m, "HEAD", "/nothere", NULL, 0, NULL), 404);
	/* Deleted keys can be written again: at once, or after a 409 while
	 * the purge worker holds the key to delete the old copies. */
	long code = 409;
	for (int i = 0; i < 100 && code == 409; i++) {
		code = put(m, "/wehave", "again");
		if (code == 409)
			sleep_ms(20);
	}
	ck_assert_int_eq(code, 201);
}
END_TEST

START_TEST(unlink_and_listing)
{
	struct harness_proc *m = cluster();
	ck_assert_int_eq(put(m, "/l/a", "1"), 201);
	ck_assert_int_eq(put(m, "/l/b", "2"), 201);
	ck_assert_int_eq(put(m, "/l/c<&>", "3"), 201);
	ck_assert_int_eq(put(m, "/lz", "4"), 201);
	struct harness_resp r;
	ck_assert_int_eq(req(m, "GET", "/l/?list", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "{\"next\":\"\",\"keys\":[\"/l/a\",\"/l/b\","
				 "\"/l/c\\u003c\\u0026\\u003e\"]}");
	harness_resp_free(&r);
	ck_assert_int_eq(req(m, "GET", "/l/?list&limit=2", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body,
			 "{\"next\":\"/l/c\\u003c\\u0026\\u003e\",\"keys\":"
			 "[\"/l/a\",\"/l/b\"]}");
	harness_resp_free(&r);
	ck_assert_int_eq(
		req(m, "GET", "/l/?list&start=/l/b&limit=5", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "{\"next\":\"\",\"keys\":[\"/l/b\","
				 "\"/l/c\\u003c\\u0026\\u003e\"]}");
	harness_resp_free(&r);
	ck_assert_int_eq(req(m, "GET", "/l/?list&limit=x", NULL, 0, NULL), 400);
	ck_assert_int_eq(req(m, "GET", "/l/?bogus", NULL, 0, NULL), 403);

	ck_assert_int_eq(req(m, "UNLINK", "/l/a", NULL, 0, NULL), 204);
	ck_assert_int_eq(req(m, "UNLINK", "/l/a", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(m, "UNLINK", "/l/none", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(m, "GET", "/l/a", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(m, "GET", "/l/?unlinked", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "{\"next\":\"\",\"keys\":[\"/l/a\"]}");
	harness_resp_free(&r);
	/* An unlinked key can be PUT again (minikeyvalue semantics). */
	ck_assert_int_eq(put(m, "/l/a", "new"), 201);
	ck_assert_int_eq(req(m, "UNLINK", "/l/a", NULL, 0, NULL), 204);
	ck_assert_int_eq(req(m, "DELETE", "/l/a", NULL, 0, NULL), 204);
	ck_assert_int_eq(req(m, "GET", "/l/?unlinked", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "{\"next\":\"\",\"keys\":[]}");
	harness_resp_free(&r);

	/* An unpaged listing over -list-max (20 here) is refused. */
	for (int i = 0; i < 21; i++) {
		char k[32];
		snprintf(k, sizeof(k), "/many/%02d", i);
		ck_assert_int_eq(put(m, k, "x"), 201);
	}
	ck_assert_int_eq(req(m, "GET", "/many/?list", NULL, 0, NULL), 413);
	ck_assert_int_eq(req(m, "GET", "/many/?list&limit=20", NULL, 0, &r),
			 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"next\":\"/many/20\""));
	harness_resp_free(&r);
}
END_TEST

/* One key of the metadata test: its value's size and md5, and the
 * creation time its GET answered. */
struct meta_key {
	const char *path;
	size_t size;
	char md5[2 * MD5_LEN + 1];
	unsigned long long created;
};

/* GET or HEAD path: 302 with Key-Size equal to size and Key-Created
 * within [before, after]; the Key-Created value in *created. */
static void check_key_meta(struct harness_proc *m, const char *method,
			   const char *path, size_t size,
			   unsigned long long before, unsigned long long after,
			   unsigned long long *created)
{
	struct harness_resp r;
	char h[64], want[32], *end;
	snprintf(want, sizeof(want), "%zu", size);
	ck_assert_int_eq(req(m, method, path, NULL, 0, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Key-Size", h, sizeof(h)), 0);
	ck_assert_str_eq(h, want);
	ck_assert_int_eq(harness_header(&r, "Key-Created", h, sizeof(h)), 0);
	unsigned long long t = strtoull(h, &end, 10);
	ck_assert_msg(h[0] >= '0' && h[0] <= '9' && *end == '\0',
		      "Key-Created %s is not a decimal number", h);
	ck_assert_uint_ge(t, before);
	ck_assert_uint_le(t, after);
	harness_resp_free(&r);
	*created = t;
}

/* The JSON listing of keys[from..to) as cask answers it with ?meta. */
static void meta_listing(struct buf *b, const struct meta_key *keys, int from,
			 int to, const char *next)
{
	buf_printf(b, "{\"next\":\"%s\",\"keys\":[", next);
	for (int i = from; i < to; i++)
		buf_printf(b, "%s\"%s\"", i > from ? "," : "", keys[i].path);
	buf_printf(b, "],\"meta\":[");
	for (int i = from; i < to; i++)
		buf_printf(
			b,
			"%s{\"size\":%zu,\"md5\":\"%s\",\"created_ms\":%llu}",
			i > from ? "," : "", keys[i].size, keys[i].md5,
			keys[i].created);
	buf_printf(b, "]}");
}

static void check_body(struct harness_proc *m, const char *path,
		       const char *want)
{
	struct harness_resp r;
	ck_assert_int_eq(req(m, "GET", path, NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, want);
	harness_resp_free(&r);
}

/* Key-Size and Key-Created on a live key's 302, and ?list&meta: what an
 * S3 gateway needs without one request per key. */
START_TEST(key_metadata)
{
	struct harness_proc *m = cluster();
	struct meta_key keys[] = {
		{"/meta/a", 1, "", 0},
		{"/meta/b", 1000, "", 0},
		{"/meta/c", 70000, "", 0},
	};
	char *val = malloc(70000);
	ck_assert_ptr_nonnull(val);
	for (int i = 0; i < 3; i++) {
		uint8_t sum[MD5_LEN];
		harness_fill(val, keys[i].size, 40 + (unsigned long long)i);
		ck_assert_int_eq(md5_buf(val, keys[i].size, sum), 0);
		md5_hex(sum, keys[i].md5);
		unsigned long long before = clock_wall_ms();
		ck_assert_int_eq(
			req(m, "PUT", keys[i].path, val, keys[i].size, NULL),
			201);
		unsigned long long after = clock_wall_ms(), head;
		check_key_meta(m, "GET", keys[i].path, keys[i].size, before,
			       after, &keys[i].created);
		check_key_meta(m, "HEAD", keys[i].path, keys[i].size, before,
			       after, &head);
		ck_assert_uint_eq(head, keys[i].created);
	}
	free(val);

	/* Not on a 404: absent, or unlinked (which has a record). */
	struct harness_resp r;
	char h[64];
	ck_assert_int_eq(put(m, "/meta-u", "gone"), 201);
	ck_assert_int_eq(req(m, "UNLINK", "/meta-u", NULL, 0, NULL), 204);
	const char *absent[] = {"/meta/none", "/meta-u"};
	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < 2; j++) {
			ck_assert_int_eq(req(m, j ? "HEAD" : "GET", absent[i],
					     NULL, 0, &r),
					 404);
			ck_assert_int_eq(
				harness_header(&r, "Key-Size", h, sizeof(h)),
				-ENOENT);
			ck_assert_int_eq(
				harness_header(&r, "Key-Created", h, sizeof(h)),
				-ENOENT);
			harness_resp_free(&r);
		}
	}

	/* ?list&meta: one element per key, same order, same paging. */
	struct buf want = {0};
	meta_listing(&want, keys, 0, 3, "");
	check_body(m, "/meta/?list&meta", want.data);
	check_body(m, "/meta/?meta&list", want.data);
	buf_free(&want);
	meta_listing(&want, keys, 0, 2, "/meta/c");
	check_body(m, "/meta/?list&meta&limit=2", want.data);
	buf_free(&want);
	meta_listing(&want, keys, 2, 3, "");
	check_body(m, "/meta/?list&limit=2&start=/meta/c&meta", want.data);
	buf_free(&want);
	meta_listing(&want, keys, 1, 2, "/meta/c");
	check_body(m, "/meta/?list&meta&start=/meta/b&limit=1", want.data);
	buf_free(&want);
	/* An empty page has an empty meta array. */
	check_body(m, "/meta/none?list&meta",
		   "{\"next\":\"\",\"keys\":[],\"meta\":[]}");

	/* Without meta: keys only, as before. */
	ck_assert_int_eq(req(m, "GET", "/meta/?list", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "{\"next\":\"\",\"keys\":[\"/meta/a\","
				 "\"/meta/b\",\"/meta/c\"]}");
	ck_assert_ptr_null(strstr(r.body, "\"meta\""));
	harness_resp_free(&r);
	ck_assert_int_eq(req(m, "GET", "/meta/?list&limit=1", NULL, 0, &r),
			 200);
	ck_assert_str_eq(r.body,
			 "{\"next\":\"/meta/b\",\"keys\":[\"/meta/a\"]}");
	harness_resp_free(&r);

	/* ?unlinked&meta describes the unlinked records. */
	ck_assert_int_eq(req(m, "GET", "/meta-u?unlinked&meta", NULL, 0, &r),
			 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"keys\":[\"/meta-u\"],\"meta\":"
					     "[{\"size\":4,\"md5\":\""));
	harness_resp_free(&r);

	/* meta is a flag of a listing, not an operation of its own. */
	const char *refused[] = {"/meta/?meta", "/meta/a?meta",
				 "/meta/?meta&bogus", "/meta/?bogus&meta&list"};
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(req(m, "GET", refused[i], NULL, 0, &r), 403);
		ck_assert_msg(strncmp(r.body, "unknown query", 13) == 0,
			      "%s: %s", refused[i], r.body);
		harness_resp_free(&r);
	}
	ck_assert_int_eq(req(m, "GET", "/meta/?list&meta=1", NULL, 0, &r), 400);
	ck_assert_msg(strncmp(r.body, "meta takes no value", 19) == 0, "%s",
		      r.body);
	harness_resp_free(&r);
}
END_TEST

static int port_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Admin endpoints (used by rebuild and rebalance) refuse bad input with a
 * one-line 4xx and change nothing: a batch with one bad line applies none. */
START_TEST(admin_bad_input_changes_nothing)
{
	struct harness_proc *m = cluster();
	char vol[64];
	size_t vl = strcspn(shared.volumes, ",");
	ck_assert_uint_lt(vl, sizeof(vol));
	memcpy(vol, shared.volumes, vl);
	vol[vl] = '\0';
	struct harness_resp before, after, r;
	ck_assert_int_eq(
		req(m, "GET", "/_/admin/records?limit=10000", NULL, 0, &before),
		200);

	/* md5 of "x" */
	char good[256], body[512];
	snprintf(good, sizeof(good),
		 "{\"key\":\"/adm/new\",\"size\":1,\"md5\":"
		 "\"9dd4e461268c8034f5c8564e155c67a6\",\"volumes\":[\"%s\"]}\n",
		 vol);
	snprintf(body, sizeof(body), "%snot json\n", good);
	ck_assert_int_eq(
		req(m, "POST", "/_/admin/records", body, strlen(body), &r),
		400);
	ck_assert_ptr_nonnull(strstr(r.body, "line 2"));
	harness_resp_free(&r);
	const char *bad_lines[] = {
		"{\"key\":\"/adm/u\",\"size\":1,\"md5\":"
		"\"9dd4e461268c8034f5c8564e155c67a6\","
		"\"volumes\":[\"127.0.0.1:1\"]}\n", /* unknown volume */
		"{\"key\":\"/_/adm\",\"size\":1,\"md5\":"
		"\"9dd4e461268c8034f5c8564e155c67a6\","
		"\"volumes\":[\"127.0.0.1:1\"]}\n", /* reserved key */
		"{\"key\":\"/adm/m\",\"size\":1,\"md5\":\"zz\"}\n",
		"{\"key\":\"/adm/m\"}\n", /* an upsert without its value */
		NULL};
	for (int i = 0; bad_lines[i]; i++) {
		ck_assert_int_eq(req(m, "POST", "/_/admin/records",
				     bad_lines[i], strlen(bad_lines[i]), &r),
				 400);
		ck_assert_ptr_nonnull(strchr(r.body, '\n'));
		harness_resp_free(&r);
	}
	/* More lines than one batch may hold. */
	struct buf many = {0};
	for (int i = 0; i < 1001; i++)
		buf_append(&many, good, strlen(good));
	ck_assert(!buf_failed(&many));
	ck_assert_int_eq(
		req(m, "POST", "/_/admin/records", many.data, many.len, NULL),
		413);
	buf_free(&many);
	ck_assert_int_eq(
		req(m, "GET", "/_/admin/records?limit=abc", NULL, 0, NULL),
		400);

	ck_assert_int_eq(req(m, "POST", "/_/admin/volumes", "{\"frob\":\"x\"}",
			     12, NULL),
			 400);
	ck_assert_int_eq(req(m, "POST", "/_/admin/volumes",
			     "{\"drain\":\"nocolon\"}", 19, NULL),
			 400);
	ck_assert_int_eq(req(m, "POST", "/_/admin/volumes",
			     "{\"drain\":\"127.0.0.1:1\"}", 23, NULL),
			 404);
	/* 3 volumes, 3 replicas: none can go. */
	snprintf(body, sizeof(body), "{\"remove\":\"%s\"}", vol);
	ck_assert_int_eq(
		req(m, "POST", "/_/admin/volumes", body, strlen(body), NULL),
		409);

	ck_assert_int_eq(req(m, "GET", "/adm/new", NULL, 0, NULL), 404);
	ck_assert_int_eq(
		req(m, "GET", "/_/admin/records?limit=10000", NULL, 0, &after),
		200);
	ck_assert_str_eq(after.body, before.body);
	harness_resp_free(&before);
	harness_resp_free(&after);
	ck_assert_int_eq(req(m, "GET", "/_/admin/volumes", NULL, 0, &r), 200);
	ck_assert_ptr_null(strstr(r.body, "draining"));
	ck_assert_ptr_null(strstr(r.body, "retired"));
	harness_resp_free(&r);
}
END_TEST

START_TEST(bad_input_status_codes)
{
	struct harness_proc *m = cluster();
	char ans[4096];
	char longkey[700] = "/";
	memset(longkey + 1, 'k', 600);
	longkey[601] = '\0';
	ck_assert_int_eq(put(m, longkey, "v"), 414);
	ck_assert_int_eq(put(m, "/_/mine", "v"), 400);
	ck_assert_int_eq(put(m, "/bad%zz", "v"), 400);
	ck_assert_int_eq(put(m, "/nul%00", "v"), 400);
	ck_assert_int_eq(req(m, "PUT", "/empty", "", 0, NULL), 411);
	const char nolen[] = "PUT /nolen HTTP/1.0\r\n\r\n";
	ck_assert_int_eq(harness_raw(m->port, nolen, strlen(nolen), 5000, ans,
				     sizeof(ans)),
			 411);
	ck_assert_msg(harness_text_line(ans, "PUT needs a non-empty body") == 0,
		      "%s", ans);
	/* A length beside an encoding could be framed two ways (request
	 * smuggling): 400 before the body, not a PUT streamed with the wrong
	 * length that times out on the volumes. Both orders. */
	const char both[] = "PUT /both HTTP/1.1\r\nHost: x\r\n"
			    "Content-Length: 1\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n"
			    "3\r\nabc\r\n0\r\n\r\n";
	ck_assert_int_eq(harness_raw(m->port, both, strlen(both), 5000, ans,
				     sizeof(ans)),
			 400);
	ck_assert_msg(
		harness_text_line(
			ans, "both Content-Length and Transfer-Encoding") == 0,
		"%s", ans);
	const char both2[] = "PUT /both HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: chunked\r\n"
			     "Content-Length: 3\r\n\r\n"
			     "3\r\nabc\r\n0\r\n\r\n";
	ck_assert_int_eq(harness_raw(m->port, both2, strlen(both2), 5000, ans,
				     sizeof(ans)),
			 400);
	const char twice[] = "PUT /both HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 3\r\nContent-Length: 5\r\n"
			     "\r\nabc";
	ck_assert_int_eq(harness_raw(m->port, twice, strlen(twice), 5000, ans,
				     sizeof(ans)),
			 400);
	ck_assert_msg(harness_text_line(ans, "more than one Content-Length") ==
			      0,
		      "%s", ans);
	/* libmicrohttpd would read a body in any other encoding to the
	 * connection's close. */
	const char gzip[] = "PUT /both HTTP/1.1\r\nHost: x\r\n"
			    "Transfer-Encoding: gzip, chunked\r\n\r\n"
			    "3\r\nabc\r\n0\r\n\r\n";
	ck_assert_int_eq(harness_raw(m->port, gzip, strlen(gzip), 5000, ans,
				     sizeof(ans)),
			 501);
	ck_assert_msg(
		harness_text_line(ans, "only Transfer-Encoding: chunked") == 0,
		"%s", ans);
	const char empty[] = "PUT /empty HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	ck_assert_int_eq(harness_raw(m->port, empty, strlen(empty), 5000, ans,
				     sizeof(ans)),
			 411);
	ck_assert_msg(harness_text_line(ans, "PUT needs a non-empty body") == 0,
		      "%s", ans);
	const char huge[] = "PUT /huge HTTP/1.1\r\nHost: x\r\n"
			    "Content-Length: 209715200\r\n\r\n";
	ck_assert_int_eq(harness_raw(m->port, huge, strlen(huge), 5000, ans,
				     sizeof(ans)),
			 413);
	ck_assert_int_eq(req(m, "PATCH", "/x", NULL, 0, NULL), 405);
	ck_assert_msg(harness_text_line(ans, "value larger than -max-value") ==
			      0,
		      "%s", ans);
	ck_assert_int_eq(req(m, "GET", "/huge", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(m, "GET", "/both", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(m, "GET", "/empty", NULL, 0, NULL), 404);
	/* What libmicrohttpd refuses itself is one line of text too. */
	char err[8192];
	ck_assert_msg(
		harness_parser_refusals(m->port, false, err, sizeof(err)) == 0,
		"%s", err);
	const char junk[] = "GARBAGE\r\n\r\n";
	int code = harness_raw(m->port, junk, strlen(junk), 5000, ans,
			       sizeof(ans));
	ck_assert(code == 400 || code == -EIO);

	/* 409: a PUT whose body is still arriving holds the key. */
	int fd = port_connect(m->port);
	const char slow[] = "PUT /busy HTTP/1.1\r\nHost: x\r\n"
			    "Content-Length: 10\r\n\r\nabc";
	ck_assert_int_eq(send(fd, slow, strlen(slow), 0), (long)strlen(slow));
	ck_assert(status_has(m, "\"puts_in_flight\":1,"));
	ck_assert_int_eq(put(m, "/busy", "v"), 409);
	ck_assert_int_eq(req(m, "DELETE", "/busy", NULL, 0, NULL), 409);
	close(fd); /* the client goes away: nothing is recorded */
	long got = 0;
	for (int i = 0; i < 100 && (got = put(m, "/busy", "v")) == 409; i++)
		sleep_ms(200);
	ck_assert_int_eq(got, 201);

	struct harness_resp r;
	ck_assert_int_eq(req(m, "GET", "/_/health", NULL, 0, NULL), 200);
	ck_assert_int_eq(req(m, "GET", "/_/status", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"purge_queue\":"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"healthy\":true"));
	harness_resp_free(&r);
	ck_assert_int_eq(req(m, "GET", "/_/metrics", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "cask_master_http_requests_total"
					     "{method=\"PUT\",code=\"201\"}"));
	harness_resp_free(&r);
}
END_TEST

static void check_value(struct harness_proc *m, const char *key, size_t size,
			unsigned long long seed)
{
	char *v = malloc(size);
	harness_fill(v, size, seed);
	ck_assert_int_eq(req(m, "PUT", key, v, size, NULL), 201);
	size_t len = 0;
	char *got = fetch(m, key, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, size);
	ck_assert(memcmp(got, v, size) == 0);
	free(got);
	free(v);
}

START_TEST(value_sizes)
{
	struct harness_proc *m = cluster();
	check_value(m, "/size/1B", 1, 1);
	/* Either side of the fan-out's whole-body upload (put.c SMALL_PUT). */
	check_value(m, "/size/64K", 64 << 10, 4);
	check_value(m, "/size/64K+1", (64 << 10) + 1, 5);
	check_value(m, "/size/1M", 1 << 20, 2);
	check_value(m, "/size/64M", 64 << 20, 3);
}
END_TEST

/* A chunked PUT by hand, as `curl -T -` or python-requests with a
 * generator send one: the head on a new connection, one chunk per
 * chunk_send, then chunked_end. */
static int chunked_begin(int port, const char *path)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "PUT %s HTTP/1.1\r\nHost: x\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n",
			 path);
	int fd = port_connect(port);
	struct timeval tv = {60, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
	return fd;
}

/* Value i of a chunked stream: each piece filled from its own seed, so
 * no test holds a big value to send it. */
static void piece_fill(char *buf, size_t len, unsigned long long seed, size_t i)
{
	harness_fill(buf, len, seed * 1000003u + i);
}

/* Streams `size` bytes to path in pieces of `piece`, and returns the
 * status; the value's md5 (hex) in md5hex. */
static int put_chunked(int port, const char *path, size_t size, size_t piece,
		       unsigned long long seed, char md5hex[2 * MD5_LEN + 1],
		       char *ans, size_t cap)
{
	char *buf = malloc(piece);
	ck_assert_ptr_nonnull(buf);
	struct md5 h;
	ck_assert_int_eq(md5_init(&h), 0);
	int fd = chunked_begin(port, path);
	for (size_t off = 0, i = 0; off < size; off += piece, i++) {
		size_t n = size - off < piece ? size - off : piece;
		piece_fill(buf, n, seed, i);
		md5_update(&h, buf, n);
		ck_assert(harness_chunk_send(fd, buf, n));
	}
	int code = harness_chunked_end(fd, ans, cap);
	close(fd);
	uint8_t sum[MD5_LEN];
	md5_final(&h, sum);
	md5_hex(sum, md5hex);
	free(buf);
	return code;
}

/* Reads path back through the master: the recorded md5 and the bytes'
 * must both be want. */
static void check_md5(struct harness_proc *m, const char *path,
		      const char *want, size_t size)
{
	struct harness_resp r;
	char h[64];
	ck_assert_int_eq(req(m, "GET", path, NULL, 0, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Content-Md5", h, sizeof(h)), 0);
	ck_assert_str_eq(h, want);
	harness_resp_free(&r);
	size_t len = 0;
	char *got = fetch(m, path, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, size);
	uint8_t sum[MD5_LEN];
	char hex[2 * MD5_LEN + 1];
	md5_buf(got, len, sum);
	md5_hex(sum, hex);
	ck_assert_str_eq(hex, want);
	free(got);
}

/* Chunked bodies either side of each switch in master/write/put.h: sent
 * whole once gathered (64 KiB), sent with their length once gathered in
 * the ring (4 MiB), streamed chunked to the volumes beyond. */
START_TEST(chunked_puts)
{
	struct harness_proc *m = cluster();
	const size_t sizes[] = {1,	  64 << 10,	  (64 << 10) + 1,
				4u << 20, (4u << 20) + 1, (9u << 20) + 3};
	char ans[4096], md5hex[2 * MD5_LEN + 1], path[64];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(path, sizeof(path), "/chunked/%zu", sizes[i]);
		ck_assert_int_eq(put_chunked(m->port, path, sizes[i], 50001, i,
					     md5hex, ans, sizeof(ans)),
				 201);
		check_md5(m, path, md5hex, sizes[i]);
		/* The key's lock went with the PUT. */
		ck_assert_int_eq(put(m, path, "again"), 403);
	}
}
END_TEST

/* Peak resident memory of a process, in KiB. */
static long vm_hwm_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	long kib = -1;
	while (kib < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/* A big chunked upload goes through the PUT ring like any streamed
 * PUT: the master's memory stays where it was. */
START_TEST(chunked_put_memory_is_bounded)
{
	struct harness_proc *m = cluster();
	size_t size = 96u << 20;
	char ans[4096], md5hex[2 * MD5_LEN + 1];
	long before = vm_hwm_kib(m->pid);
	ck_assert_int_eq(put_chunked(m->port, "/chunked/96M", size, 1u << 20, 7,
				     md5hex, ans, sizeof(ans)),
			 201);
	long grew = vm_hwm_kib(m->pid) - before;
	ck_assert_msg(grew < 24 * 1024, "the master grew %ld KiB", grew);
	check_md5(m, "/chunked/96M", md5hex, size);
}
END_TEST

/* Past -max-value a chunked PUT fails as soon as the bytes pass it, with
 * its body still arriving: nothing recorded, the key free, the copies
 * purged. The 413 and its reason come once the body ends, since
 * libmicrohttpd 0.9.75 answers no chunked request before that. Two
 * masters over the shared volumes: one whose limit is inside the
 * gathering ring, one whose limit is beyond it (streamed). */
static void wait_status_number(struct harness_proc *m, const char *field,
			       long want)
{
	long got = -1;
	for (int i = 0; i < 250 && got != want; i++) {
		got = status_number(m, field);
		if (got != want)
			sleep_ms(20);
	}
	ck_assert_int_eq(got, want);
}

static void over_limit(struct harness_proc *m, const char *path, size_t limit)
{
	char *buf = malloc(1u << 20);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 'o', 1u << 20);
	int fd = chunked_begin(m->port, path);
	for (size_t sent = 0; sent <= limit; sent += 1u << 20)
		ck_assert(harness_chunk_send(fd, buf, 1u << 20));
	wait_status_number(m, "puts_in_flight", 0);
	ck_assert_int_eq(req(m, "GET", path, NULL, 0, NULL), 404);
	ck_assert(harness_chunk_send(fd, buf, 1u << 20));
	char ans[4096];
	ck_assert_int_eq(harness_chunked_end(fd, ans, sizeof(ans)), 413);
	ck_assert_msg(harness_text_line(ans, "value larger than -max-value") ==
			      0,
		      "%s", ans);
	close(fd);
	/* A client that goes on past the limit by as much again is cut off
	 * instead of being read forever. */
	wait_status_number(m, "purge_queue", 0);
	fd = chunked_begin(m->port, path);
	bool open = true;
	for (size_t sent = 0; open && sent < 4 * limit; sent += 1u << 20)
		open = harness_chunk_send(fd, buf, 1u << 20);
	/* Read to the end, it would have had its 413 now. */
	ck_assert_int_eq(open ? harness_chunked_end(fd, ans, sizeof(ans)) : -1,
			 -1);
	close(fd);
	free(buf);
	wait_status_number(m, "puts_in_flight", 0);
	ck_assert_int_eq(req(m, "GET", path, NULL, 0, NULL), 404);
	/* Nothing of it is left: the key takes a value of its own, and the
	 * copies the streamed bodies left on the volumes go. */
	wait_status_number(m, "purge_queue", 0);
	ck_assert_int_eq(put(m, path, "fits"), 201);
}

START_TEST(chunked_put_over_max_value)
{
	cluster();
	const char *gathered[] = {"-max-value", "2M", NULL};
	const char *streamed[] = {"-max-value", "6M", NULL};
	ck_assert_int_eq(fixture_start_master(&shared, 2, NULL, gathered), 0);
	ck_assert_int_eq(fixture_start_master(&shared, 3, NULL, streamed), 0);
	over_limit(&shared.master[2], "/over/gathered", 2u << 20);
	over_limit(&shared.master[3], "/over/streamed", 6u << 20);
	harness_stop(&shared.master[2]);
	harness_stop(&shared.master[3]);
}
END_TEST

/* `curl -T -` (a chunked upload from standard input) end to end, and
 * curl shows a refusal's one-line reason. */
START_TEST(curl_upload_from_stdin)
{
	if (system("curl --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "curl_upload_from_stdin: no curl, skipped\n");
		return;
	}
	struct harness_proc *m = cluster();
	const char *dir = harness_tmpdir("curl");
	const size_t size = (12u << 20) + 5;
	char *v = malloc(size);
	ck_assert_ptr_nonnull(v);
	harness_fill(v, size, 42);
	char file[600], out[600], answer[600], cmd[2400];
	snprintf(file, sizeof(file), "%s/value", dir);
	snprintf(out, sizeof(out), "%s/code", dir);
	snprintf(answer, sizeof(answer), "%s/answer", dir);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(v, 1, size, f), size);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd),
		 "curl -sS -T - -o %s -w '%%{http_code}' "
		 "http://127.0.0.1:%d/curl/stdin < %s > %s",
		 answer, m->port, file, out);
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(system(cmd), 0);
		char code[16] = "", body[256] = "";
		FILE *c = fopen(out, "r"), *b = fopen(answer, "r");
		ck_assert_ptr_nonnull(c);
		ck_assert_ptr_nonnull(b);
		ck_assert_ptr_nonnull(fgets(code, sizeof(code), c));
		if (!fgets(body, sizeof(body), b))
			body[0] = '\0';
		fclose(c);
		fclose(b);
		/* Then again: the key exists. */
		ck_assert_str_eq(code, round ? "403" : "201");
		ck_assert_str_eq(body,
				 round ? "key exists (DELETE it first)\n" : "");
	}
	size_t len = 0;
	char *got = fetch(m, "/curl/stdin", &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, size);
	ck_assert(memcmp(got, v, size) == 0);
	free(got);
	free(v);
}
END_TEST

static int worker_failures;
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;

static void *client(void *arg)
{
	long id = (long)arg;
	struct harness_proc *m = &shared.master[0];
	for (int i = 0; i < 8; i++) {
		char k[64], v[64];
		snprintf(k, sizeof(k), "/conc/%ld/%d", id, i);
		snprintf(v, sizeof(v), "value-%ld-%d", id, i);
		size_t len = 0;
		char *got = NULL;
		bool ok = put(m, k, v) == 201 &&
			  (got = fetch(m, k, &len)) != NULL &&
			  len == strlen(v) && memcmp(got, v, len) == 0 &&
			  req(m, "GET", "/wehave", NULL, 0, NULL) == 302 &&
			  req(m, "DELETE", k, NULL, 0, NULL) == 204 &&
			  req(m, "GET", k, NULL, 0, NULL) == 404;
		free(got);
		if (!ok) {
			pthread_mutex_lock(&fail_mu);
			worker_failures++;
			pthread_mutex_unlock(&fail_mu);
		}
	}
	return NULL;
}

START_TEST(concurrent_clients)
{
	struct harness_proc *m = cluster();
	if (req(m, "GET", "/wehave", NULL, 0, NULL) != 302)
		ck_assert_int_eq(put(m, "/wehave", "bigswag"), 201);
	pthread_t t[64];
	for (long i = 0; i < 64; i++)
		pthread_create(&t[i], NULL, client, (void *)i);
	for (int i = 0; i < 64; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(worker_failures, 0);
}
END_TEST

/* Many deletes at once: the purge worker batches them per volume, where
 * one key's copies on several volumes share a round (and its key lock).
 * Every copy goes, and a key written again right after its DELETE keeps
 * its new value. */
START_TEST(purge_deletes_every_copy)
{
	struct harness_proc *m = cluster();
	enum { KEYS = 150 };
	char path[64], want[64];
	for (int i = 0; i < KEYS; i++) {
		snprintf(path, sizeof(path), "/pg/%d", i);
		ck_assert_int_eq(put(m, path, "first"), 201);
	}
	for (int i = 0; i < KEYS; i++) {
		snprintf(path, sizeof(path), "/pg/%d", i);
		ck_assert_int_eq(req(m, "DELETE", path, NULL, 0, NULL), 204);
		snprintf(want, sizeof(want), "again-%d", i);
		if (i % 2)
			ck_assert_int_eq(put(m, path, want), 201);
	}
	long left = -1;
	for (int i = 0; i < 300 && left != 0; i++) {
		sleep_ms(100);
		left = status_number(m, "purge_queue");
	}
	ck_assert_int_eq(left, 0);
	for (int i = 0; i < KEYS; i++) {
		snprintf(path, sizeof(path), "/pg/%d", i);
		if (i % 2) {
			size_t len;
			char *body = fetch(m, path, &len);
			ck_assert_ptr_nonnull(body);
			snprintf(want, sizeof(want), "again-%d", i);
			ck_assert_uint_eq(len, strlen(want));
			ck_assert_mem_eq(body, want, len);
			free(body);
			continue;
		}
		for (int v = 0; v < NVOL; v++) {
			char url[256];
			snprintf(url, sizeof(url), "http://127.0.0.1:%d%s",
				 shared.vol[v].port, path);
			struct harness_resp r;
			ck_assert_int_eq(
				harness_http("GET", url, NULL, 0, NULL, &r), 0);
			ck_assert_int_eq(r.code, 404);
			harness_resp_free(&r);
		}
	}
}
END_TEST

/* The body of a volume's GET /_/keys?prefix=P (caller frees). */
static char *volume_keys(const struct harness_proc *v, const char *prefix)
{
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_/keys?prefix=%s",
		 v->port, prefix);
	struct harness_resp r;
	ck_assert_int_eq(harness_http("GET", url, NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.code, 200);
	free(r.headers);
	return r.body;
}

static long wait_purge_queue(struct harness_proc *m, long want)
{
	long left = -1;
	for (int i = 0; i < 300 && left != want; i++) {
		sleep_ms(100);
		left = status_number(m, "purge_queue");
	}
	return left;
}

/* Many DELETEs: the purge worker sends each volume one POST /_/purge per
 * round (at most 1024 keys, so more keys than that take two), and the
 * copies on a volume that is down stay queued until it returns; then the
 * queue drains and no volume holds any of the bytes. */
START_TEST(purge_batches_drain_with_volume_down)
{
	struct fixture c;
	start_cluster(&c, NULL);
	struct harness_proc *m = &c.master[0];
	enum { KEYS = 1100 };
	char path[64];
	for (int i = 0; i < KEYS; i++) {
		snprintf(path, sizeof(path), "/pd/%d", i);
		ck_assert_int_eq(put(m, path, "doomed"), 201);
	}
	harness_signal(&c.vol[1], SIGKILL);
	ck_assert(status_has(m, "\"healthy\":false"));
	for (int i = 0; i < KEYS; i++) {
		snprintf(path, sizeof(path), "/pd/%d", i);
		ck_assert_int_eq(req(m, "DELETE", path, NULL, 0, NULL), 204);
	}
	/* The live volumes' copies go; the dead one's wait. */
	ck_assert_int_eq(wait_purge_queue(m, KEYS), KEYS);
	for (int v = 0; v < NVOL; v += 2) {
		char *keys = volume_keys(&c.vol[v], "/pd/");
		ck_assert_str_eq(keys, "");
		free(keys);
	}
	sleep_ms(600);
	ck_assert_int_eq(status_number(m, "purge_queue"), KEYS);

	ck_assert_int_eq(harness_restart(&c.vol[1]), 0);
	ck_assert_int_eq(wait_purge_queue(m, 0), 0);
	for (int v = 0; v < NVOL; v++) {
		char *keys = volume_keys(&c.vol[v], "/pd/");
		ck_assert_str_eq(keys, "");
		free(keys);
	}
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pd/7", c.vol[1].port);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 404);
	/* Batched: the returning volume synced a few times, not per key. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_/status",
		 c.vol[1].port);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	const char *syncs = strstr(r.body, "\"syncs\":");
	ck_assert_ptr_nonnull(syncs);
	ck_assert_int_lt(strtol(syncs + 8, NULL, 10), 10);
	harness_resp_free(&r);
	stop_cluster(&c);
}
END_TEST

START_TEST(volume_failures)
{
	struct fixture c;
	start_cluster(&c, NULL);
	struct harness_proc *m = &c.master[0];
	ck_assert_int_eq(put(m, "/before", "here"), 201);

	/* Killed before a PUT: a clear 5xx and no record. */
	harness_signal(&c.vol[2], SIGKILL);
	long code = put(m, "/during", "lost");
	ck_assert_int_ge(code, 500);
	ck_assert_int_eq(req(m, "GET", "/during", NULL, 0, NULL), 404);

	/* GETs redirect only to live replicas once the check noticed. */
	ck_assert(status_has(m, "\"healthy\":false"));
	char dead[64];
	snprintf(dead, sizeof(dead), ":%d/", c.vol[2].port);
	for (int i = 0; i < 30; i++) {
		struct harness_resp r;
		char loc[512];
		ck_assert_int_eq(req(m, "GET", "/before", NULL, 0, &r), 302);
		ck_assert_int_eq(
			harness_header(&r, "Location", loc, sizeof(loc)), 0);
		ck_assert_ptr_null(strstr(loc, dead));
		harness_resp_free(&r);
	}

	/* DELETE while a replica is down: 204 now, purge when it is back
	 * (the copy stays queued while its volume is unhealthy). */
	ck_assert_int_eq(req(m, "DELETE", "/before", NULL, 0, NULL), 204);
	ck_assert_int_ge(status_number(m, "purge_queue"), 1);
	ck_assert_int_eq(harness_restart(&c.vol[2]), 0);
	long left = -1;
	for (int i = 0; i < 100 && left != 0; i++) {
		sleep_ms(100);
		left = status_number(m, "purge_queue");
	}
	ck_assert_int_eq(left, 0);
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/before", c.vol[2].port);
	struct harness_resp r;
	ck_assert_int_eq(harness_http("GET", url, NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.code, 404);
	harness_resp_free(&r);
	/* And the failed PUT's partial copies were purged too. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/during", c.vol[0].port);
	ck_assert_int_eq(harness_http("GET", url, NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.code, 404);
	harness_resp_free(&r);
	ck_assert_int_eq(put(m, "/during", "now"), 201);
	stop_cluster(&c);
}
END_TEST

/* Sends req on an open connection and reads one whole answer (headers,
 * then Content-Length bytes) into ans; returns its status code, or -1
 * when none came within 5 s. */
static int exchange(int fd, const char *req, char *ans, size_t cap)
{
	size_t len = strlen(req);
	if (len && send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	return harness_read_answer(fd, ans, cap, 5000);
}

/* SIGTERM: a PUT still receiving its body finishes (and is kept), while
 * a new request on a keep-alive connection gets 503 with a reason; then
 * the master exits 0. */
START_TEST(sigterm_finishes_requests_in_flight)
{
	struct fixture c;
	start_cluster(&c, NULL);
	struct harness_proc *m = &c.master[0];
	char ans[4096];
	int idle = port_connect(m->port), slow = port_connect(m->port);
	const char health[] = "GET /_/health HTTP/1.1\r\nHost: x\r\n\r\n";
	ck_assert_int_eq(exchange(idle, health, ans, sizeof(ans)), 200);
	const char head[] = "PUT /drain/k HTTP/1.1\r\nHost: x\r\n"
			    "Content-Length: 10\r\n\r\n01234";
	ck_assert_int_eq(send(slow, head, strlen(head), 0), (long)strlen(head));
	/* The PUT must have begun before the signal, or it is a new request
	 * refused like any other. */
	long started = 0;
	for (int i = 0; i < 500 && started != 1; i++) {
		started = status_number(m, "puts_in_flight");
		if (started != 1)
			sleep_ms(10);
	}
	ck_assert_int_eq(started, 1);
	kill(m->pid, SIGTERM);
	int code = 200;
	for (int i = 0; i < 500 && code == 200; i++)
		code = exchange(idle, health, ans, sizeof(ans));
	ck_assert_int_eq(code, 503);
	ck_assert_ptr_nonnull(strstr(ans, "shutting down"));
	ck_assert_ptr_nonnull(strcasestr(ans, "Retry-After:"));
	ck_assert_int_eq(exchange(slow, "56789", ans, sizeof(ans)), 201);
	close(idle);
	close(slow);
	ck_assert_int_eq(harness_stop_clean(m), 0);
	ck_assert_int_eq(harness_restart(m), 0);
	size_t len;
	char *v = fetch(m, "/drain/k", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_mem_eq(v, "0123456789", 10);
	free(v);
	stop_cluster(&c);
}
END_TEST

START_TEST(master_restart_keeps_everything)
{
	struct fixture c;
	start_cluster(&c, NULL);
	struct harness_proc *m = &c.master[0];
	ck_assert_int_eq(put(m, "/r/live", "1"), 201);
	ck_assert_int_eq(put(m, "/r/gone", "2"), 201);
	ck_assert_int_eq(req(m, "UNLINK", "/r/gone", NULL, 0, NULL), 204);
	ck_assert_int_eq(harness_stop_clean(m), 0);
	ck_assert_int_eq(harness_restart(m), 0);
	ck_assert_int_eq(req(m, "GET", "/r/live", NULL, 0, NULL), 302);
	ck_assert_int_eq(req(m, "GET", "/r/gone", NULL, 0, NULL), 404);
	/* kill -9 right after an acknowledged write loses nothing. */
	ck_assert_int_eq(put(m, "/r/acked", "3"), 201);
	harness_signal(m, SIGKILL);
	ck_assert_int_eq(harness_restart(m), 0);
	ck_assert_int_eq(req(m, "GET", "/r/acked", NULL, 0, NULL), 302);
	struct harness_resp r;
	ck_assert_int_eq(req(m, "GET", "/r/?unlinked", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "{\"next\":\"\",\"keys\":[\"/r/gone\"]}");
	harness_resp_free(&r);
	stop_cluster(&c);
}
END_TEST

START_TEST(protect_and_fallback)
{
	/* A second master over the shared volumes, with its own index. */
	cluster();
	const char *extra[] = {"-protect",  "-fallback", "fallback.example:80",
			       "-replicas", "2",	 NULL};
	ck_assert_int_eq(fixture_start_master(&shared, 1, NULL, extra), 0);
	struct harness_proc *pm = &shared.master[1];
	ck_assert_int_eq(put(pm, "/p", "v"), 201);
	ck_assert_int_eq(req(pm, "DELETE", "/p", NULL, 0, NULL), 403);
	struct harness_resp r;
	char h[512];
	ck_assert_int_eq(req(pm, "GET", "/p", NULL, 0, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Key-Volumes", h, sizeof(h)), 0);
	ck_assert_ptr_nonnull(strchr(h, ','));
	ck_assert_ptr_null(strchr(strchr(h, ',') + 1, ','));
	harness_resp_free(&r);
	ck_assert_int_eq(req(pm, "UNLINK", "/p", NULL, 0, NULL), 204);
	ck_assert_int_eq(req(pm, "DELETE", "/p", NULL, 0, NULL), 204);
	ck_assert_int_eq(req(pm, "GET", "/missing", NULL, 0, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Location", h, sizeof(h)), 0);
	ck_assert_str_eq(h, "http://fallback.example:80/missing");
	harness_resp_free(&r);
	harness_stop(pm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("master");
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, put_get_delete_roundtrip);
	tcase_add_test(tc, unlink_and_listing);
	tcase_add_test(tc, key_metadata);
	tcase_add_test(tc, bad_input_status_codes);
	tcase_add_test(tc, admin_bad_input_changes_nothing);
	tcase_add_test(tc, value_sizes);
	tcase_add_test(tc, chunked_puts);
	tcase_add_test(tc, chunked_put_memory_is_bounded);
	tcase_add_test(tc, chunked_put_over_max_value);
	tcase_add_test(tc, curl_upload_from_stdin);
	tcase_add_test(tc, concurrent_clients);
	tcase_add_test(tc, purge_deletes_every_copy);
	tcase_add_test(tc, protect_and_fallback);
	tcase_add_test(tc, volume_failures);
	tcase_add_test(tc, purge_batches_drain_with_volume_down);
	tcase_add_test(tc, master_restart_keeps_everything);
	tcase_add_test(tc, sigterm_finishes_requests_in_flight);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* Outside any test: an unclean stop fails the run all the same. */
	if (shared_up && fixture_stop(&shared) != 0)
		failed++;
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
