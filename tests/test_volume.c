/* cask-volume driven through HTTP as a real child process. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/md5.h"
#include "tests/harness.h"

struct vol {
	struct harness_proc p;
	const char *dir;
};

static void vol_start(struct vol *v, const char *const extra[])
{
	v->dir = harness_tmpdir("vol");
	char data[600], log[600], port[16];
	snprintf(data, sizeof(data), "%s/data", v->dir);
	snprintf(log, sizeof(log), "%s/volume.log", v->dir);
	int p = harness_free_port();
	snprintf(port, sizeof(port), "%d", p);
	const char *args[32] = {"-port",     port,   "-bind",
				"127.0.0.1", "-dir", data};
	int n = 6;
	for (int i = 0; extra && extra[i] && n < 30; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	ck_assert_int_eq(harness_start(&v->p, "cask-volume", p, args, log), 0);
}

static char *url_of(const struct vol *v, const char *path)
{
	static __thread char url[4096];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", v->p.port, path);
	return url;
}

static long req(const struct vol *v, const char *method, const char *path,
		const void *body, size_t len, struct harness_resp *out)
{
	return harness_request(method, url_of(v, path), body, len, out);
}

static void assert_value(const struct vol *v, const char *key, const void *want,
			 size_t len)
{
	struct harness_resp r;
	ck_assert_int_eq(req(v, "GET", key, NULL, 0, &r), 200);
	ck_assert_uint_eq(r.len, len);
	ck_assert(memcmp(r.body, want, len) == 0);
	uint8_t md5[MD5_LEN];
	char hex[33], got[64];
	md5_buf(want, len, md5);
	md5_hex(md5, hex);
	ck_assert_int_eq(harness_header(&r, "Content-Md5", got, sizeof(got)),
			 0);
	ck_assert_str_eq(got, hex);
	harness_resp_free(&r);
}

START_TEST(put_get_head_delete)
{
	struct vol v;
	vol_start(&v, NULL);
	struct harness_resp r;
	ck_assert_int_eq(req(&v, "PUT", "/wehave", "bigswag", 7, &r), 201);
	char md5[64];
	ck_assert_int_eq(harness_header(&r, "Content-Md5", md5, sizeof(md5)),
			 0);
	ck_assert_str_eq(md5, "df86f5729538f57b0c5312f673abefe4");
	harness_resp_free(&r);
	assert_value(&v, "/wehave", "bigswag", 7);

	ck_assert_int_eq(req(&v, "HEAD", "/wehave", NULL, 0, &r), 200);
	char cl[32], etag[64];
	ck_assert_int_eq(harness_header(&r, "Content-Length", cl, sizeof(cl)),
			 0);
	ck_assert_str_eq(cl, "7");
	ck_assert_int_eq(harness_header(&r, "ETag", etag, sizeof(etag)), 0);
	ck_assert_str_eq(etag, "\"df86f5729538f57b0c5312f673abefe4\"");
	ck_assert_uint_eq(r.len, 0);
	harness_resp_free(&r);

	/* Overwrite is allowed on a volume: the master decides policy. */
	ck_assert_int_eq(req(&v, "PUT", "/wehave", "smallswag", 9, NULL), 201);
	assert_value(&v, "/wehave", "smallswag", 9);

	/* Percent-encoded keys address the decoded key. */
	ck_assert_int_eq(req(&v, "PUT", "/a%20b", "x", 1, NULL), 201);
	assert_value(&v, "/a%20b", "x", 1);
	assert_value(&v, "/%61%20%62", "x", 1);
	assert_value(&v, "/%61%20%62", "x", 1);

	ck_assert_int_eq(req(&v, "DELETE", "/wehave", NULL, 0, NULL), 204);
	ck_assert_int_eq(req(&v, "GET", "/wehave", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "HEAD", "/wehave", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "DELETE", "/wehave", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "GET", "/never", NULL, 0, NULL), 404);
	harness_stop(&v.p);
}
END_TEST

static void check_range(struct vol *v, const char *range, long code,
			const char *body, const char *content_range)
{
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "Range: %s", range);
	const char *extra[] = {hdr, NULL};
	struct harness_resp r;
	ck_assert_int_eq(
		harness_http("GET", url_of(v, "/digits"), NULL, 0, extra, &r),
		0);
	ck_assert_msg(r.code == code, "%s: got %ld want %ld", range, r.code,
		      code);
	if (body) {
		ck_assert_uint_eq(r.len, strlen(body));
		ck_assert(memcmp(r.body, body, r.len) == 0);
	}
	if (content_range) {
		char cr[64];
		ck_assert_int_eq(
			harness_header(&r, "Content-Range", cr, sizeof(cr)), 0);
		ck_assert_str_eq(cr, content_range);
	}
	harness_resp_free(&r);
}

START_TEST(ranges)
{
	struct vol v;
	vol_start(&v, NULL);
	ck_assert_int_eq(req(&v, "PUT", "/digits", "0123456789", 10, NULL),
			 201);
	check_range(&v, "bytes=0-0", 206, "0", "bytes 0-0/10");
	check_range(&v, "bytes=2-5", 206, "2345", "bytes 2-5/10");
	check_range(&v, "bytes=7-", 206, "789", "bytes 7-9/10");
	check_range(&v, "bytes=-3", 206, "789", "bytes 7-9/10");
	check_range(&v, "bytes=-30", 206, "0123456789", "bytes 0-9/10");
	check_range(&v, "bytes=5-100", 206, "56789", "bytes 5-9/10");
	check_range(&v, "bytes=10-20", 416, "range not satisfiable\n",
		    "bytes */10");
	check_range(&v, "bytes=-0", 416, "range not satisfiable\n",
		    "bytes */10");
	/* Multiple or malformed ranges are ignored: the whole value. */
	check_range(&v, "bytes=0-1,3-4", 200, "0123456789", NULL);
	check_range(&v, "bytes=x-y", 200, "0123456789", NULL);
	check_range(&v, "items=0-1", 200, "0123456789", NULL);
	harness_stop(&v.p);
}
END_TEST

/* GET of [from, to] of key through a Range header: 206, the bytes and the
 * Content-Range of a value of `size` bytes. */
static void expect_range(struct vol *v, const char *key, const char *val,
			 size_t size, size_t from, size_t to)
{
	char hdr[96], want_cr[96], cr[96];
	snprintf(hdr, sizeof(hdr), "Range: bytes=%zu-%zu", from, to);
	snprintf(want_cr, sizeof(want_cr), "bytes %zu-%zu/%zu", from, to, size);
	const char *extra[] = {hdr, NULL};
	struct harness_resp r;
	ck_assert_int_eq(
		harness_http("GET", url_of(v, key), NULL, 0, extra, &r), 0);
	ck_assert_int_eq(r.code, 206);
	ck_assert_uint_eq(r.len, to - from + 1);
	ck_assert(memcmp(r.body, val + from, r.len) == 0);
	ck_assert_int_eq(harness_header(&r, "Content-Range", cr, sizeof(cr)),
			 0);
	ck_assert_str_eq(cr, want_cr);
	harness_resp_free(&r);
}

/* Values up to 64 KiB are sent from a copy, bigger ones with sendfile:
 * both byte-exact, whole, in ranges and under HEAD, on each side of the
 * bound. */
START_TEST(copied_and_sendfile_values)
{
	static const size_t sizes[] = {1, 4096, 65535, 65536, 65537, 300000};
	struct vol v;
	vol_start(&v, NULL);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char key[32], cl[32], want_cl[32];
		snprintf(key, sizeof(key), "/cs/%zu", n);
		char *val = malloc(n);
		harness_fill(val, n, 7 * i + 3);
		ck_assert_int_eq(req(&v, "PUT", key, val, n, NULL), 201);
		assert_value(&v, key, val, n);
		expect_range(&v, key, val, n, 0, 0);
		expect_range(&v, key, val, n, n / 3, n - 1);
		expect_range(&v, key, val, n, n - 1, n - 1);
		if (n > 2)
			expect_range(&v, key, val, n, 1, n - 2);
		struct harness_resp r;
		ck_assert_int_eq(req(&v, "HEAD", key, NULL, 0, &r), 200);
		snprintf(want_cl, sizeof(want_cl), "%zu", n);
		ck_assert_int_eq(
			harness_header(&r, "Content-Length", cl, sizeof(cl)),
			0);
		ck_assert_str_eq(cl, want_cl);
		ck_assert_uint_eq(r.len, 0);
		harness_resp_free(&r);
		free(val);
	}
	harness_stop(&v.p);
}
END_TEST

START_TEST(sizes_one_byte_to_64mib)
{
	static const size_t sizes[] = {1,     2,       100,	4096,
				       65536, 1 << 20, 3 << 20, 64 << 20};
	struct vol v;
	const char *extra[] = {"-segment-size", "16M", NULL};
	vol_start(&v, extra);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char key[32];
		snprintf(key, sizeof(key), "/size/%zu", sizes[i]);
		char *val = malloc(sizes[i]);
		harness_fill(val, sizes[i], i + 1);
		ck_assert_int_eq(req(&v, "PUT", key, val, sizes[i], NULL), 201);
		assert_value(&v, key, val, sizes[i]);
		free(val);
	}
	/* Zero-length values are a volume's business too. */
	ck_assert_int_eq(req(&v, "PUT", "/empty", "", 0, NULL), 201);
	assert_value(&v, "/empty", "", 0);
	/* Everything survives a clean restart. */
	harness_stop(&v.p);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char key[32];
		snprintf(key, sizeof(key), "/size/%zu", sizes[i]);
		char *val = malloc(sizes[i]);
		harness_fill(val, sizes[i], i + 1);
		assert_value(&v, key, val, sizes[i]);
		free(val);
	}
	harness_stop(&v.p);
}
END_TEST

struct worker {
	struct vol *v;
	int id;
	int rounds;
	int failures;
};

static void *concurrent_worker(void *arg)
{
	struct worker *w = arg;
	char key[64], val[4096], got[4096];
	for (int i = 0; i < w->rounds; i++) {
		snprintf(key, sizeof(key), "/c/%d/%d", w->id, i);
		harness_fill(val, sizeof(val), (unsigned)(w->id * 1000 + i));
		struct harness_resp r;
		if (req(w->v, "PUT", key, val, sizeof(val), NULL) != 201)
			w->failures++;
		if (req(w->v, "GET", key, NULL, 0, &r) != 200) {
			w->failures++;
			continue;
		}
		memcpy(got, r.body, r.len < sizeof(got) ? r.len : sizeof(got));
		if (r.len != sizeof(val) || memcmp(got, val, sizeof(val)) != 0)
			w->failures++;
		harness_resp_free(&r);
		if (i % 2 && req(w->v, "DELETE", key, NULL, 0, NULL) != 204)
			w->failures++;
	}
	return NULL;
}

/* 64 clients at once doing PUT, GET and DELETE, in the given serving
 * mode; then group commit must have covered several writes per sync. */
static void concurrent_clients(const char *const extra[])
{
	struct vol v;
	vol_start(&v, extra);
	enum { N = 64 };
	pthread_t t[N];
	struct worker w[N];
	for (int i = 0; i < N; i++) {
		w[i] = (struct worker){&v, i, 20, 0};
		pthread_create(&t[i], NULL, concurrent_worker, &w[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	/* Group commit: fewer syncs than writes under concurrency. */
	struct harness_resp r;
	ck_assert_int_eq(req(&v, "GET", "/_/status", NULL, 0, &r), 200);
	unsigned long long keys, syncs, writes;
	ck_assert_ptr_nonnull(strstr(r.body, "\"keys\":"));
	sscanf(strstr(r.body, "\"keys\":"), "\"keys\":%llu", &keys);
	sscanf(strstr(r.body, "\"syncs\":"), "\"syncs\":%llu", &syncs);
	sscanf(strstr(r.body, "\"synced_writes\":"), "\"synced_writes\":%llu",
	       &writes);
	ck_assert_uint_eq(keys, N * 10);
	ck_assert_uint_ge(writes, N * 30);
	ck_assert_uint_lt(syncs, writes);
	harness_resp_free(&r);
	harness_stop(&v.p);
}

START_TEST(sixty_four_concurrent_clients)
{
	concurrent_clients(NULL);
}
END_TEST

/* -threads 0: a thread per connection, where PUT and DELETE wait for
 * their sync on the connection's own thread instead of suspending. */
START_TEST(sixty_four_clients_thread_per_connection)
{
	const char *extra[] = {"-threads", "0", NULL};
	concurrent_clients(extra);
}
END_TEST

/* Writers that record which keys were acknowledged, for crash tests. */
struct storm {
	struct vol *v;
	int id;
	atomic_int *acked_total;
	int acked[4096];
	int nacked;
};

static size_t storm_size(int id, int i)
{
	return (size_t)((id * 7919 + i * 104729) % 70000) + 1;
}

static void *storm_worker(void *arg)
{
	struct storm *s = arg;
	for (int i = 0; i < 4096; i++) {
		char key[64];
		snprintf(key, sizeof(key), "/storm/%d/%d", s->id, i);
		size_t len = storm_size(s->id, i);
		char *val = malloc(len);
		harness_fill(val, len, (unsigned)(s->id << 16 | i));
		long code = req(s->v, "PUT", key, val, len, NULL);
		free(val);
		if (code != 201)
			break; /* the volume is gone */
		s->acked[s->nacked++] = i;
		atomic_fetch_add(s->acked_total, 1);
	}
	return NULL;
}

START_TEST(kill9_during_write_storm)
{
	struct vol v;
	const char *extra[] = {"-segment-size", "2M", NULL};
	vol_start(&v, extra);
	enum { N = 16 };
	atomic_int total = 0;
	pthread_t t[N];
	static struct storm s[N];
	for (int i = 0; i < N; i++) {
		s[i] = (struct storm){.v = &v, .id = i, .acked_total = &total};
		pthread_create(&t[i], NULL, storm_worker, &s[i]);
	}
	/* Let enough writes land to span several segments, then crash. */
	while (atomic_load(&total) < 600) {
		struct timespec d = {0, 1000000};
		nanosleep(&d, NULL);
	}
	harness_signal(&v.p, SIGKILL);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	int checked = 0;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < s[i].nacked; j++) {
			char key[64];
			int k = s[i].acked[j];
			snprintf(key, sizeof(key), "/storm/%d/%d", i, k);
			size_t len = storm_size(i, k);
			char *val = malloc(len);
			harness_fill(val, len, (unsigned)(i << 16 | k));
			assert_value(&v, key, val, len);
			free(val);
			checked++;
		}
	ck_assert_int_ge(checked, 600);
	/* The store still takes writes after recovery. */
	ck_assert_int_eq(req(&v, "PUT", "/after", "crash", 5, NULL), 201);
	assert_value(&v, "/after", "crash", 5);
	harness_stop(&v.p);
}
END_TEST

/* The number after "field": in a JSON body, or -1 when absent. */
static long long json_num(const char *body, const char *field)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", field);
	const char *p = strstr(body, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The string after "field": in a JSON body, copied into out ("" when
 * absent). */
static void json_str(const char *body, const char *field, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":\"", field);
	const char *p = strstr(body, pat);
	out[0] = '\0';
	if (!p)
		return;
	p += strlen(pat);
	size_t n = strcspn(p, "\"");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* GET path and returns a number field of its JSON answer. */
static long long get_num(struct vol *v, const char *path, const char *field)
{
	struct harness_resp r;
	ck_assert_int_eq(req(v, "GET", path, NULL, 0, &r), 200);
	long long n = json_num(r.body, field);
	harness_resp_free(&r);
	return n;
}

/* Polls /_/status until no scrub pass runs and `passes` have finished
 * (at most 60 s), and returns that status body; the caller frees it. */
static char *wait_scrub_passes(struct vol *v, long long passes)
{
	for (int i = 0; i < 6000; i++) {
		struct harness_resp r;
		ck_assert_int_eq(req(v, "GET", "/_/status", NULL, 0, &r), 200);
		const char *sc = strstr(r.body, "\"scrub\":{");
		ck_assert_ptr_nonnull(sc);
		if (strstr(sc, "\"running\":false") &&
		    json_num(sc, "passes") >= passes) {
			char *body = strdup(r.body);
			harness_resp_free(&r);
			return body;
		}
		harness_resp_free(&r);
		struct timespec d = {0, 10 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	ck_abort_msg("scrub pass %lld did not end", passes);
	return NULL;
}

START_TEST(keys_listing_and_status)
{
	struct vol v;
	/* No background pass, so that the POST below starts one. */
	const char *const no_scrub[] = {"-scrub-rate", "0", NULL};
	vol_start(&v, no_scrub);
	ck_assert_int_eq(req(&v, "PUT", "/list/a", "1", 1, NULL), 201);
	ck_assert_int_eq(req(&v, "PUT", "/list/b", "22", 2, NULL), 201);
	ck_assert_int_eq(req(&v, "PUT", "/other", "333", 3, NULL), 201);
	ck_assert_int_eq(req(&v, "PUT", "/list/q\"uote", "4", 1, NULL), 201);
	ck_assert_int_eq(req(&v, "DELETE", "/list/b", NULL, 0, NULL), 204);
	struct harness_resp r;
	ck_assert_int_eq(req(&v, "GET", "/_/keys", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(
		strstr(r.body, "{\"key\":\"/list/a\",\"size\":1,\"md5\":"
			       "\"c4ca4238a0b923820dcc509a6f75849b\"}\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "{\"key\":\"/other\",\"size\":3"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"/list/q\\\"uote\""));
	ck_assert_ptr_null(strstr(r.body, "/list/b"));
	harness_resp_free(&r);

	ck_assert_int_eq(req(&v, "GET", "/_/keys?prefix=/list/", NULL, 0, &r),
			 200);
	ck_assert_ptr_nonnull(strstr(r.body, "/list/a"));
	ck_assert_ptr_null(strstr(r.body, "/other"));
	harness_resp_free(&r);

	ck_assert_int_eq(req(&v, "GET", "/_/status", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"keys\":3,"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"corrupt_records\":0,"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"disk_free\":"));
	harness_resp_free(&r);

	ck_assert_int_eq(req(&v, "GET", "/_/metrics", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(
		r.body,
		"cask_volume_http_requests_total{method=\"PUT\",code=\"201\"} "
		"4\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "cask_volume_fsyncs_total "));
	ck_assert_ptr_nonnull(
		strstr(r.body, "cask_volume_fsync_delays_total "));
	ck_assert_ptr_nonnull(
		strstr(r.body, "cask_volume_synced_writes_total"));
	ck_assert_ptr_nonnull(
		strstr(r.body, "cask_volume_http_request_seconds_bucket{"));
	harness_resp_free(&r);

	/* A scrub answers at once; its outcome shows in the status. */
	ck_assert_int_eq(req(&v, "POST", "/_/scrub", NULL, 0, &r), 202);
	ck_assert_str_eq(r.body, "{\"started\":true}\n");
	harness_resp_free(&r);
	char *st = wait_scrub_passes(&v, 1);
	const char *sc = strstr(st, "\"scrub\":{");
	ck_assert_int_eq(json_num(sc, "passes"), 1);
	ck_assert_int_eq(json_num(sc, "records"), 3);
	ck_assert_int_eq(json_num(sc, "bad"), 0);
	ck_assert_int_gt(json_num(sc, "bytes"), 3 * 48);
	ck_assert_int_eq(json_num(sc, "rate"), 0);
	ck_assert_int_eq(json_num(st, "scrub_errors"), 0);
	ck_assert_int_eq(json_num(st, "corrupt_seq"), 0);
	free(st);
	harness_stop(&v.p);
}
END_TEST

static int raw(struct vol *v, const char *request, char *answer, size_t cap)
{
	size_t len = strlen(request), cap2 = len + 256;
	char *signed_req = malloc(cap2);
	ck_assert_ptr_nonnull(signed_req);
	size_t n = harness_sign_raw(request, len, signed_req, cap2);
	int code = harness_raw(v->p.port, signed_req, n, 5000, answer, cap);
	free(signed_req);
	return code;
}

START_TEST(bad_input_changes_nothing)
{
	struct vol v;
	const char *extra[] = {"-max-value", "1K", NULL};
	vol_start(&v, extra);
	static char answer[65536];
	ck_assert_int_eq(req(&v, "PUT", "/keep", "safe", 4, NULL), 201);

	/* Neither a Content-Length nor a chunked body → 411. */
	ck_assert_int_eq(
		raw(&v, "PUT /nolen HTTP/1.0\r\n\r\n", answer, sizeof(answer)),
		411);
	/* A length beside an encoding: two parsers could disagree on where
	 * the body ends (request smuggling). Refused before the body, with a
	 * reason, as is an encoding libmicrohttpd would read to the close. */
	ck_assert_int_eq(raw(&v,
			     "PUT /both HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 3\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"
			     "4\r\nabcd\r\n0\r\n\r\n",
			     answer, sizeof(answer)),
			 400);
	ck_assert_msg(harness_text_line(
			      answer,
			      "both Content-Length and Transfer-Encoding") == 0,
		      "%s", answer);
	ck_assert_int_eq(raw(&v,
			     "PUT /gzip HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: gzip\r\n\r\nabcd",
			     answer, sizeof(answer)),
			 501);
	ck_assert_msg(harness_text_line(answer,
					"only Transfer-Encoding: chunked") == 0,
		      "%s", answer);
	/* What libmicrohttpd refuses itself is one line of text too. */
	char err[8192];
	ck_assert_msg(
		harness_parser_refusals(v.p.port, true, err, sizeof(err)) == 0,
		"%s", err);
	/* Over -max-value → 413 before the body is read. */
	char *big = malloc(2048);
	memset(big, 'b', 2048);
	ck_assert_int_eq(req(&v, "PUT", "/big", big, 2048, NULL), 413);
	free(big);
	/* Keys: too long, reserved, bad escapes, NUL, dot segments. */
	char longkey[700] = "/";
	memset(longkey + 1, 'k', 600);
	ck_assert_int_eq(req(&v, "PUT", longkey, "x", 1, NULL), 414);
	ck_assert_int_eq(req(&v, "GET", longkey, NULL, 0, NULL), 414);
	ck_assert_int_eq(req(&v, "PUT", "/_/mine", "x", 1, NULL), 400);
	ck_assert_int_eq(req(&v, "DELETE", "/_/status", NULL, 0, NULL), 400);
	ck_assert_int_eq(req(&v, "GET", "/_/nothing", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "PUT", "/bad%zzescape", "x", 1, NULL), 400);
	ck_assert_int_eq(req(&v, "PUT", "/trailing%4", "x", 1, NULL), 400);
	ck_assert_int_eq(req(&v, "PUT", "/nul%00byte", "x", 1, NULL), 400);
	ck_assert_int_eq(req(&v, "PUT", "/a/../keep", "x", 1, NULL), 400);
	ck_assert_int_eq(req(&v, "DELETE", "/a/./keep", NULL, 0, NULL), 400);
	ck_assert_int_eq(raw(&v, "GET /a/../keep HTTP/1.1\r\nHost: x\r\n\r\n",
			     answer, sizeof(answer)),
			 400);
	/* Unknown methods → 405 with Allow. */
	ck_assert_int_eq(req(&v, "BREW", "/keep", NULL, 0, NULL), 405);
	ck_assert_int_eq(req(&v, "POST", "/keep", "x", 1, NULL), 405);
	/* Malformed request line and huge headers → 4xx from the parser. */
	ck_assert_int_eq(raw(&v, "GET keep HTTP/1.1\r\nHost: x\r\n\r\n", answer,
			     sizeof(answer)),
			 400);
	ck_assert_int_eq(raw(&v,
			     "GET /keep HTTP/1.1\r\nHost: x\r\n"
			     "no colon here\r\n\r\n",
			     answer, sizeof(answer)),
			 400);
	/* A line that is not HTTP at all is dropped without an answer. */
	ck_assert_int_lt(raw(&v, "GARBAGE\r\n\r\n", answer, sizeof(answer)), 0);
	/* Conflicting lengths could smuggle a request: refused. */
	ck_assert_int_eq(raw(&v,
			     "PUT /smuggle HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 5\r\nContent-Length: 7\r\n\r\n"
			     "hello",
			     answer, sizeof(answer)),
			 400);
	ck_assert_ptr_nonnull(strstr(answer, "more than one Content-Length"));
	int code;
	char *huge = malloc(200000);
	int n = snprintf(huge, 200000, "GET /keep HTTP/1.1\r\nHost: x\r\nX: ");
	memset(huge + n, 'h', 150000);
	strcpy(huge + n + 150000, "\r\n\r\n");
	code = raw(&v, huge, answer, sizeof(answer));
	ck_assert_msg(code >= 400 && code < 500, "huge header got %d", code);
	free(huge);
	/* Malformed Content-Length → 400. */
	ck_assert_int_eq(raw(&v,
			     "PUT /neg HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: -5\r\n\r\n",
			     answer, sizeof(answer)) /
				 100,
			 4);

	/* Nothing above changed anything. */
	struct harness_resp r;
	ck_assert_int_eq(req(&v, "GET", "/_/status", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"keys\":1,"));
	harness_resp_free(&r);
	assert_value(&v, "/keep", "safe", 4);
	ck_assert_int_eq(req(&v, "GET", "/both", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "GET", "/gzip", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "GET", "/big", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "GET", "/smuggle", NULL, 0, NULL), 404);
	harness_stop(&v.p);
}
END_TEST

START_TEST(client_disconnect_mid_upload)
{
	struct vol v;
	vol_start(&v, NULL);
	ck_assert_int_eq(req(&v, "PUT", "/before", "b", 1, NULL), 201);
	static char answer[4096];
	/* A body shorter than its Content-Length, then the client leaves. */
	char request[8192];
	int n = snprintf(request, sizeof(request),
			 "PUT /torn HTTP/1.1\r\nHost: x\r\n"
			 "Content-Length: 100000\r\n\r\n");
	memset(request + n, 't', 4000);
	request[n + 4000] = '\0';
	ck_assert_int_lt(raw(&v, request, answer, sizeof(answer)), 0);
	/* The abort is processed when MHD sees the close; poll for it. */
	for (int i = 0; i < 500; i++) {
		struct harness_resp r;
		ck_assert_int_eq(req(&v, "GET", "/_/metrics", NULL, 0, &r),
				 200);
		int seen = strstr(r.body, "method=\"PUT\",code=\"0\"") != NULL;
		harness_resp_free(&r);
		if (seen)
			break;
		struct timespec d = {0, 10000000};
		nanosleep(&d, NULL);
	}
	ck_assert_int_eq(req(&v, "GET", "/torn", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "PUT", "/after", "a", 1, NULL), 201);
	assert_value(&v, "/before", "b", 1);
	assert_value(&v, "/after", "a", 1);
	/* After a crash the torn record stays invisible and the segment
	 * stays readable. */
	harness_signal(&v.p, SIGKILL);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	ck_assert_int_eq(req(&v, "GET", "/torn", NULL, 0, NULL), 404);
	assert_value(&v, "/before", "b", 1);
	assert_value(&v, "/after", "a", 1);
	harness_stop(&v.p);
}
END_TEST

static int connect_local(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
}

/* A chunked PUT by hand, signed as the masters sign one: the head on a
 * new connection, then one chunk per chunk_send, then chunked_end. */
static int chunked_begin(const struct vol *v, const char *key)
{
	char head[512], signed_head[1024];
	int n = snprintf(head, sizeof(head),
			 "PUT %s HTTP/1.1\r\nHost: x\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n",
			 key);
	size_t len = harness_sign_raw(head, (size_t)n, signed_head,
				      sizeof(signed_head));
	int fd = connect_local(v->p.port);
	send_all(fd, signed_head, len);
	return fd;
}

/* A chunked body (what a master sends when it streams a value it could
 * not gather) is spooled until its end and stored like any other; past
 * -max-value it is refused with a reason and nothing is kept; and what
 * was stored survives kill -9, with no spool left behind. */
START_TEST(chunked_put_is_spooled)
{
	struct vol v;
	const char *extra[] = {"-max-value", "8M", NULL};
	vol_start(&v, extra);
	static char answer[8192];
	ck_assert_int_eq(raw(&v,
			     "PUT /small HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"
			     "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n",
			     answer, sizeof(answer)),
			 201);
	assert_value(&v, "/small", "abcdefg", 7);
	/* As with Content-Length: 0, an empty value. */
	ck_assert_int_eq(raw(&v,
			     "PUT /empty HTTP/1.1\r\nHost: x\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			     answer, sizeof(answer)),
			 201);
	assert_value(&v, "/empty", "", 0);

	size_t len = (5u << 20) + 7, piece = 100003;
	char *val = malloc(len);
	ck_assert_ptr_nonnull(val);
	harness_fill(val, len, 19);
	int fd = chunked_begin(&v, "/large");
	for (size_t off = 0; off < len; off += piece)
		ck_assert(harness_chunk_send(
			fd, val + off, len - off < piece ? len - off : piece));
	ck_assert_int_eq(harness_chunked_end(fd, answer, sizeof(answer)), 201);
	close(fd);
	uint8_t md5[MD5_LEN];
	char hex[2 * MD5_LEN + 1];
	md5_buf(val, len, md5);
	md5_hex(md5, hex);
	ck_assert_ptr_nonnull(strstr(answer, hex));
	assert_value(&v, "/large", val, len);

	/* Past -max-value: 413 with its reason once the body ends. */
	fd = chunked_begin(&v, "/over");
	for (int i = 0; i < 9; i++)
		ck_assert(harness_chunk_send(fd, val, 1u << 20));
	ck_assert_int_eq(harness_chunked_end(fd, answer, sizeof(answer)), 413);
	ck_assert_msg(harness_text_line(answer, "value too large") == 0, "%s",
		      answer);
	close(fd);
	/* A client that goes on past it by as much again is cut off. */
	fd = chunked_begin(&v, "/flood");
	bool open = true;
	for (int i = 0; i < 24 && open; i++)
		open = harness_chunk_send(fd, val, 1u << 20);
	ck_assert_int_eq(open ? harness_chunked_end(fd, answer, sizeof(answer))
			      : -1,
			 -1);
	close(fd);
	/* A client gone mid-body, or a crash mid-body, leaves nothing. */
	fd = chunked_begin(&v, "/torn");
	ck_assert(harness_chunk_send(fd, val, 1u << 20));
	close(fd);

	/* What a crash can leave: nothing but a spool that was not unlinked
	 * yet, which the next open removes. */
	harness_signal(&v.p, SIGKILL);
	char stray[700], pattern[700];
	snprintf(stray, sizeof(stray), "%s/data/spool-crash0.tmp", v.dir);
	snprintf(pattern, sizeof(pattern), "%s/data/*.tmp", v.dir);
	FILE *f = fopen(stray, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs("partial value", f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	assert_value(&v, "/small", "abcdefg", 7);
	assert_value(&v, "/empty", "", 0);
	assert_value(&v, "/large", val, len);
	ck_assert_int_eq(req(&v, "GET", "/over", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "GET", "/flood", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "GET", "/torn", NULL, 0, NULL), 404);
	glob_t g;
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
	free(val);
	harness_stop(&v.p);
}
END_TEST

/* PUT requests answered so far, by any code, from /_/metrics. */
static unsigned long long puts_answered(struct vol *v)
{
	struct harness_resp r;
	ck_assert_int_eq(req(v, "GET", "/_/metrics", NULL, 0, &r), 200);
	unsigned long long sum = 0, n;
	const char *tag = "_http_requests_total{method=\"PUT\",code=\"";
	for (const char *p = r.body; (p = strstr(p, tag)); p++) {
		const char *end = strchr(p, '}');
		if (end && sscanf(end + 1, " %llu", &n) == 1)
			sum += n;
	}
	harness_resp_free(&r);
	return sum;
}

/* A client that leaves once its body is sent, perhaps while its PUT waits
 * suspended for the group commit. A PUT whose body MHD handed over in full
 * is committed anyway, so the key ends durable and visible although no 201
 * reached the client (which, having none, retries: PUT is idempotent); a
 * PUT that MHD saw abandoned earlier is aborted and the key stays absent.
 * Either way, what the volume showed survives a crash unchanged. */
START_TEST(client_gone_while_put_syncs)
{
	enum { N = 20 };
	struct vol v;
	vol_start(&v, NULL);
	unsigned long long before = puts_answered(&v);
	for (int i = 0; i < N; i++) {
		char plain[256], request[512];
		int n = snprintf(plain, sizeof(plain),
				 "PUT /gone/%d HTTP/1.1\r\nHost: x\r\n"
				 "Content-Length: 7\r\n\r\ngone-%02d",
				 i, i);
		int fd = connect_local(v.p.port);
		send_all(fd, request,
			 harness_sign_raw(plain, (size_t)n, request,
					  sizeof(request)));
		close(fd);
	}
	for (int i = 0; i < 500 && puts_answered(&v) < before + N; i++) {
		struct timespec d = {0, 10000000};
		nanosleep(&d, NULL);
	}
	ck_assert_uint_eq(puts_answered(&v), before + N);
	bool shown[N];
	for (int i = 0; i < N; i++) {
		char key[32], val[8];
		snprintf(key, sizeof(key), "/gone/%d", i);
		snprintf(val, sizeof(val), "gone-%02d", i);
		long code = req(&v, "GET", key, NULL, 0, NULL);
		ck_assert(code == 200 || code == 404);
		shown[i] = code == 200;
		if (shown[i])
			assert_value(&v, key, val, 7);
	}
	harness_signal(&v.p, SIGKILL);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	for (int i = 0; i < N; i++) {
		char key[32], val[8];
		snprintf(key, sizeof(key), "/gone/%d", i);
		snprintf(val, sizeof(val), "gone-%02d", i);
		if (shown[i])
			assert_value(&v, key, val, 7);
		else
			ck_assert_int_eq(req(&v, "GET", key, NULL, 0, NULL),
					 404);
	}
	harness_stop(&v.p);
}
END_TEST

struct slow_delete {
	struct vol *v;
	long code;
};

static void *slow_delete_main(void *arg)
{
	struct slow_delete *d = arg;
	d->code = req(d->v, "DELETE", "/slow", NULL, 0, NULL);
	return NULL;
}

/* A DELETE waits for the older PUTs of its key to end. With one polling
 * thread, the body of such a PUT arrives on the very thread that took the
 * DELETE, so the DELETE must wait elsewhere or the volume hangs. */
START_TEST(delete_behind_slow_put_one_thread)
{
	struct vol v;
	const char *extra[] = {"-threads", "1", NULL};
	vol_start(&v, extra);
	ck_assert_int_eq(req(&v, "PUT", "/slow", "old", 3, NULL), 201);
	int fd = connect_local(v.p.port);
	const char *plain = "PUT /slow HTTP/1.1\r\nHost: x\r\n"
			    "Content-Length: 8\r\n\r\nnew-";
	char head[512];
	send_all(fd, head,
		 harness_sign_raw(plain, strlen(plain), head, sizeof(head)));
	struct timespec d = {0, 200000000};
	nanosleep(&d, NULL);
	struct slow_delete del = {&v, -1};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, slow_delete_main, &del), 0);
	nanosleep(&d, NULL);
	ck_assert_int_eq(req(&v, "GET", "/_/health", NULL, 0, NULL), 200);
	send_all(fd, "body", 4);
	char answer[1024];
	ssize_t n = read(fd, answer, sizeof(answer) - 1);
	ck_assert_int_gt(n, 12);
	answer[n] = '\0';
	ck_assert_ptr_nonnull(strstr(answer, " 201 "));
	close(fd);
	pthread_join(t, NULL);
	ck_assert_int_eq(del.code, 204);
	ck_assert_int_eq(req(&v, "GET", "/slow", NULL, 0, NULL), 404);
	harness_stop(&v.p);
}
END_TEST

/* Polls /_/status until the volume has merged `n` segments (or about 10 s
 * passed) and returns how many it merged. */
static unsigned long long wait_merges(struct vol *v, unsigned long long n)
{
	unsigned long long merges = 0;
	for (int i = 0; i < 1000 && merges < n; i++) {
		struct harness_resp r;
		ck_assert_int_eq(req(v, "GET", "/_/status", NULL, 0, &r), 200);
		const char *m = strstr(r.body, "\"merges\":");
		ck_assert_ptr_nonnull(m);
		sscanf(m, "\"merges\":%llu", &merges);
		harness_resp_free(&r);
		struct timespec d = {0, 10000000};
		nanosleep(&d, NULL);
	}
	return merges;
}

START_TEST(merge_while_serving)
{
	struct vol v;
	const char *extra[] = {"-segment-size", "64K", "-merge-interval", "50",
			       NULL};
	vol_start(&v, extra);
	char val[1024];
	/* Overwrite a small key set many times: most segments go dead. */
	for (int round = 0; round < 20; round++)
		for (int k = 0; k < 16; k++) {
			char key[32];
			snprintf(key, sizeof(key), "/m/%d", k);
			harness_fill(val, sizeof(val),
				     (unsigned)(round * 100 + k));
			ck_assert_int_eq(
				req(&v, "PUT", key, val, sizeof(val), NULL),
				201);
		}
	ck_assert_uint_gt(wait_merges(&v, 1), 0);
	for (int k = 0; k < 16; k++) {
		char key[32];
		snprintf(key, sizeof(key), "/m/%d", k);
		harness_fill(val, sizeof(val), (unsigned)(19 * 100 + k));
		assert_value(&v, key, val, sizeof(val));
	}
	harness_stop(&v.p);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	for (int k = 0; k < 16; k++) {
		char key[32];
		snprintf(key, sizeof(key), "/m/%d", k);
		harness_fill(val, sizeof(val), (unsigned)(19 * 100 + k));
		assert_value(&v, key, val, sizeof(val));
	}
	harness_stop(&v.p);
}
END_TEST

enum { GM_KEYS = 8, GM_ROUNDS = 30, GM_LEN = 1500 };

struct gm_reader {
	struct vol *v;
	atomic_bool *stop;
	int gets;
	int failures;
};

/* True if body is the value some round of the writer gave /gm/f/k. */
static bool gm_is_version(const struct harness_resp *r, int k)
{
	char want[GM_LEN];
	if (r->len != GM_LEN)
		return false;
	for (int round = 0; round < GM_ROUNDS; round++) {
		harness_fill(want, GM_LEN, (unsigned)(round * 100 + k));
		if (memcmp(r->body, want, GM_LEN) == 0)
			return true;
	}
	return false;
}

static void *gm_reader_main(void *arg)
{
	struct gm_reader *g = arg;
	char key[32], want[GM_LEN];
	for (int i = 0; !atomic_load(g->stop); i++) {
		int k = i % GM_KEYS;
		struct harness_resp r;
		/* A key that stays put while merge moves it... */
		snprintf(key, sizeof(key), "/gm/s/%d", k);
		harness_fill(want, GM_LEN, (unsigned)(5000 + k));
		if (req(g->v, "GET", key, NULL, 0, &r) != 200 ||
		    r.len != GM_LEN || memcmp(r.body, want, GM_LEN) != 0)
			g->failures++;
		harness_resp_free(&r);
		/* ...and one overwritten until merge drops its segments. */
		snprintf(key, sizeof(key), "/gm/f/%d", k);
		if (req(g->v, "GET", key, NULL, 0, &r) != 200 ||
		    !gm_is_version(&r, k))
			g->failures++;
		harness_resp_free(&r);
		g->gets += 2;
	}
	return NULL;
}

/* GETs of copied values while merge rewrites and drops the segments that
 * hold them: every answer is a whole, once-written value. */
START_TEST(get_while_merging)
{
	struct vol v;
	const char *extra[] = {"-segment-size", "16K", "-merge-interval", "5",
			       NULL};
	vol_start(&v, extra);
	char key[32], val[GM_LEN];
	for (int k = 0; k < GM_KEYS; k++) {
		snprintf(key, sizeof(key), "/gm/s/%d", k);
		harness_fill(val, GM_LEN, (unsigned)(5000 + k));
		ck_assert_int_eq(req(&v, "PUT", key, val, GM_LEN, NULL), 201);
		snprintf(key, sizeof(key), "/gm/f/%d", k);
		harness_fill(val, GM_LEN, (unsigned)k);
		ck_assert_int_eq(req(&v, "PUT", key, val, GM_LEN, NULL), 201);
	}
	enum { READERS = 4 };
	atomic_bool stop = false;
	struct gm_reader g[READERS];
	pthread_t t[READERS];
	for (int i = 0; i < READERS; i++) {
		g[i] = (struct gm_reader){&v, &stop, 0, 0};
		pthread_create(&t[i], NULL, gm_reader_main, &g[i]);
	}
	for (int round = 1; round < GM_ROUNDS; round++)
		for (int k = 0; k < GM_KEYS; k++) {
			snprintf(key, sizeof(key), "/gm/f/%d", k);
			harness_fill(val, GM_LEN, (unsigned)(round * 100 + k));
			ck_assert_int_eq(req(&v, "PUT", key, val, GM_LEN, NULL),
					 201);
		}
	/* Readers go on until merge has run under them. */
	unsigned long long merges = wait_merges(&v, 2);
	atomic_store(&stop, true);
	for (int i = 0; i < READERS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(g[i].failures, 0);
		ck_assert_int_gt(g[i].gets, 0);
	}
	ck_assert_uint_ge(merges, 2);
	harness_stop(&v.p);
}
END_TEST

/* Reads a whole file into memory (the caller frees it). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	char *data = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	data[n] = '\0';
	*len = (size_t)n;
	return data;
}

/* Rots the stored copy of a value: finds its bytes (which must occur
 * exactly once) in the volume's segment files and flips the byte `at`
 * into them, as a disk would. */
static void rot_value(const struct vol *v, const void *val, size_t len,
		      size_t at)
{
	char pattern[700];
	snprintf(pattern, sizeof(pattern), "%s/data/*.data", v->dir);
	glob_t g;
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	int found = 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		size_t n;
		char *data = slurp(g.gl_pathv[i], &n);
		for (char *p = data; n >= len && p <= data + n - len;) {
			char *hit = memmem(p, (size_t)(data + n - p), val, len);
			if (!hit)
				break;
			found++;
			FILE *f = fopen(g.gl_pathv[i], "r+b");
			ck_assert_ptr_nonnull(f);
			ck_assert_int_eq(
				fseek(f, hit - data + (long)at, SEEK_SET), 0);
			int flipped = (unsigned char)hit[at] ^ 0x55;
			ck_assert_int_eq(fputc(flipped, f), flipped);
			fclose(f);
			p = hit + 1;
		}
		free(data);
	}
	globfree(&g);
	ck_assert_int_eq(found, 1);
}

/* How many lines of the volume's log contain `what`. */
static int log_count(const struct vol *v, const char *what)
{
	size_t n;
	char *log = slurp(v->p.log, &n);
	int count = 0;
	for (const char *p = log; (p = strstr(p, what)); p++)
		count++;
	free(log);
	return count;
}

/* The reports /_/corrupt?since=... answers (the caller frees the body). */
static char *corrupt_list(struct vol *v, const char *query)
{
	char path[64];
	snprintf(path, sizeof(path), "/_/corrupt%s", query);
	struct harness_resp r;
	ck_assert_int_eq(req(v, "GET", path, NULL, 0, &r), 200);
	char ct[64];
	ck_assert_int_eq(harness_header(&r, "Content-Type", ct, sizeof(ct)), 0);
	ck_assert_str_eq(ct, "application/x-ndjson");
	char *body = strdup(r.body);
	harness_resp_free(&r);
	return body;
}

START_TEST(get_refuses_corrupt_small_value)
{
	struct vol v;
	const char *const no_scrub[] = {"-scrub-rate", "0", NULL};
	vol_start(&v, no_scrub);
	static char rot[3000], good[3000], rot2[40000], fresh[3000];
	harness_fill(rot, sizeof(rot), 1);
	harness_fill(good, sizeof(good), 2);
	harness_fill(rot2, sizeof(rot2), 3);
	harness_fill(fresh, sizeof(fresh), 4);
	ck_assert_int_eq(req(&v, "PUT", "/rot", rot, sizeof(rot), NULL), 201);
	ck_assert_int_eq(req(&v, "PUT", "/good", good, sizeof(good), NULL),
			 201);
	ck_assert_int_eq(req(&v, "PUT", "/rot2", rot2, sizeof(rot2), NULL),
			 201);
	ck_assert_int_eq(get_num(&v, "/_/health", "corrupt_seq"), 0);
	rot_value(&v, rot, sizeof(rot), 1234);

	/* Refused with a reason, never the bytes, whole or in part. */
	struct harness_resp r;
	ck_assert_int_eq(req(&v, "GET", "/rot", NULL, 0, &r), 500);
	ck_assert_str_eq(r.body, "corrupt record\n");
	harness_resp_free(&r);
	const char *range[] = {"Range: bytes=0-99", NULL};
	ck_assert_int_eq(
		harness_http("GET", url_of(&v, "/rot"), NULL, 0, range, &r), 0);
	ck_assert_int_eq(r.code, 500);
	ck_assert_str_eq(r.body, "corrupt record\n");
	harness_resp_free(&r);

	/* Reported once, counted every time. */
	ck_assert_int_eq(get_num(&v, "/_/health", "corrupt_seq"), 1);
	ck_assert_int_eq(req(&v, "GET", "/_/status", NULL, 0, &r), 200);
	ck_assert_int_eq(json_num(r.body, "corrupt_reads"), 2);
	ck_assert_int_eq(json_num(r.body, "corrupt_keys"), 1);
	ck_assert_int_eq(json_num(r.body, "corrupt_seq"), 1);
	ck_assert_ptr_nonnull(strstr(r.body, "\"corrupt_overflow\":false"));
	harness_resp_free(&r);
	ck_assert_int_eq(req(&v, "GET", "/_/metrics", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(
		strstr(r.body, "\ncask_volume_corrupt_reads_total 2\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\ncask_volume_corrupt_keys 1\n"));
	harness_resp_free(&r);
	char *list = corrupt_list(&v, "");
	ck_assert_str_eq(list, "{\"seq\":1,\"key\":\"/rot\",\"size\":3000,"
			       "\"why\":\"data CRC mismatch\"}\n");
	free(list);
	list = corrupt_list(&v, "?since=1");
	ck_assert_str_eq(list, "");
	free(list);
	ck_assert_int_eq(log_count(&v, "corrupt record: key \"/rot\" in "
				       "segment 00000001 at "),
			 1);

	/* No false positives: a good value, whole and in ranges. */
	assert_value(&v, "/good", good, sizeof(good));
	const char *range2[] = {"Range: bytes=100-199", NULL};
	ck_assert_int_eq(
		harness_http("GET", url_of(&v, "/good"), NULL, 0, range2, &r),
		0);
	ck_assert_int_eq(r.code, 206);
	ck_assert_uint_eq(r.len, 100);
	ck_assert(memcmp(r.body, good + 100, 100) == 0);
	harness_resp_free(&r);

	/* A second rotten key is the next report; a poller that saw the
	 * first asks only for what is newer. */
	rot_value(&v, rot2, sizeof(rot2), 39999);
	ck_assert_int_eq(req(&v, "GET", "/rot2", NULL, 0, NULL), 500);
	list = corrupt_list(&v, "?since=1");
	ck_assert_str_eq(list, "{\"seq\":2,\"key\":\"/rot2\",\"size\":40000,"
			       "\"why\":\"data CRC mismatch\"}\n");
	free(list);

	/* Repair: a good copy over the bad one, or a delete, ends a report;
	 * the numbers never go back. */
	ck_assert_int_eq(req(&v, "PUT", "/rot", fresh, sizeof(fresh), NULL),
			 201);
	assert_value(&v, "/rot", fresh, sizeof(fresh));
	list = corrupt_list(&v, "?since=0");
	ck_assert_str_eq(list, "{\"seq\":2,\"key\":\"/rot2\",\"size\":40000,"
			       "\"why\":\"data CRC mismatch\"}\n");
	free(list);
	ck_assert_int_eq(req(&v, "DELETE", "/rot2", NULL, 0, NULL), 204);
	list = corrupt_list(&v, "");
	ck_assert_str_eq(list, "");
	free(list);
	ck_assert_int_eq(req(&v, "GET", "/_/status", NULL, 0, &r), 200);
	ck_assert_int_eq(json_num(r.body, "corrupt_keys"), 0);
	ck_assert_int_eq(json_num(r.body, "corrupt_seq"), 2);
	harness_resp_free(&r);

	/* Bad input: a clear 400, nothing changed. */
	const char *bad[] = {"?since=abc", "?since=", "?since=-1", "?since=1x",
			     "?since=99999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/_/corrupt%s", bad[i]);
		ck_assert_int_eq(req(&v, "GET", path, NULL, 0, &r), 400);
		ck_assert_str_eq(r.body,
				 "since must be a report number (decimal)\n");
		harness_resp_free(&r);
	}
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
}
END_TEST

START_TEST(scrub_finds_rot_in_large_value)
{
	struct vol v;
	const char *const no_scrub[] = {"-scrub-rate", "0", NULL};
	vol_start(&v, no_scrub);
	static char big[200000], small[1000];
	harness_fill(big, sizeof(big), 5);
	harness_fill(small, sizeof(small), 6);
	ck_assert_int_eq(req(&v, "PUT", "/big", big, sizeof(big), NULL), 201);
	ck_assert_int_eq(req(&v, "PUT", "/small", small, sizeof(small), NULL),
			 201);
	rot_value(&v, big, sizeof(big), 150000);

	struct harness_resp r;
	ck_assert_int_eq(req(&v, "POST", "/_/scrub", NULL, 0, &r), 202);
	ck_assert_str_eq(r.body, "{\"started\":true}\n");
	harness_resp_free(&r);
	char *st = wait_scrub_passes(&v, 1);
	const char *sc = strstr(st, "\"scrub\":{");
	ck_assert_int_eq(json_num(sc, "records"), 2);
	ck_assert_int_eq(json_num(sc, "bad"), 1);
	ck_assert_int_eq(json_num(st, "scrub_errors"), 1);
	ck_assert_int_eq(json_num(st, "corrupt_seq"), 1);
	ck_assert_int_eq(json_num(st, "corrupt_reads"), 0);
	free(st);
	char *list = corrupt_list(&v, "");
	ck_assert_str_eq(list, "{\"seq\":1,\"key\":\"/big\",\"size\":200000,"
			       "\"why\":\"data CRC mismatch\"}\n");
	free(list);
	ck_assert_int_eq(req(&v, "GET", "/_/metrics", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(
		strstr(r.body, "\ncask_volume_scrub_errors_total 1\n"));
	ck_assert_ptr_nonnull(
		strstr(r.body, "\ncask_volume_scrub_passes_total 1\n"));
	harness_resp_free(&r);
	assert_value(&v, "/small", small, sizeof(small));

	/* Known bad now: no more sendfile of it, nor a 200 to HEAD. */
	ck_assert_int_eq(req(&v, "GET", "/big", NULL, 0, &r), 500);
	ck_assert_str_eq(r.body, "corrupt record\n");
	harness_resp_free(&r);
	ck_assert_int_eq(req(&v, "HEAD", "/big", NULL, 0, NULL), 500);
	ck_assert_int_eq(get_num(&v, "/_/status", "corrupt_reads"), 2);

	/* A second pass finds the same rot and reports nothing new. */
	ck_assert_int_eq(req(&v, "POST", "/_/scrub", NULL, 0, NULL), 202);
	st = wait_scrub_passes(&v, 2);
	ck_assert_int_eq(json_num(strstr(st, "\"scrub\":{"), "bad"), 1);
	ck_assert_int_eq(json_num(st, "corrupt_seq"), 1);
	free(st);

	/* The repair: a good copy written over it is served again. */
	ck_assert_int_eq(req(&v, "PUT", "/big", big, sizeof(big), NULL), 201);
	assert_value(&v, "/big", big, sizeof(big));
	list = corrupt_list(&v, "");
	ck_assert_str_eq(list, "");
	free(list);
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
}
END_TEST

START_TEST(background_scrub_finds_rot)
{
	struct vol v;
	const char *const slow[] = {"-scrub-rate", "64K", NULL};
	vol_start(&v, slow);
	static char val[20000];
	harness_fill(val, sizeof(val), 7);
	ck_assert_int_eq(req(&v, "PUT", "/quiet", val, sizeof(val), NULL), 201);
	rot_value(&v, val, sizeof(val), 10);
	/* Nobody reads the key or asks for a scrub. */
	long long seq = 0;
	for (int i = 0; i < 3000 && seq < 1; i++) {
		seq = get_num(&v, "/_/health", "corrupt_seq");
		struct timespec d = {0, 10 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	ck_assert_int_eq(seq, 1);
	char *list = corrupt_list(&v, "?since=0");
	ck_assert_str_eq(list, "{\"seq\":1,\"key\":\"/quiet\",\"size\":20000,"
			       "\"why\":\"data CRC mismatch\"}\n");
	free(list);
	ck_assert_int_eq(get_num(&v, "/_/status", "corrupt_reads"), 0);
	ck_assert_int_eq(get_num(&v, "/_/status", "rate"), 64 * 1024);
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
}
END_TEST

/* A POST while a slow background pass runs starts nothing new but lifts
 * the pass's rate limit, so it ends soon instead of in minutes. */
START_TEST(scrub_post_while_running)
{
	struct vol v;
	const char *const crawl[] = {"-scrub-rate", "1K", NULL};
	vol_start(&v, crawl);
	static char val[60000];
	harness_fill(val, sizeof(val), 8);
	ck_assert_int_eq(req(&v, "PUT", "/a", val, sizeof(val), NULL), 201);
	ck_assert_int_eq(req(&v, "PUT", "/b", val, sizeof(val), NULL), 201);
	/* The first pass began before the PUTs and saw no key; wait for one
	 * that is reading them (at 1 KiB/s it takes two minutes). */
	struct harness_resp r = {0};
	bool crawling = false;
	for (int i = 0; i < 3000 && !crawling; i++) {
		ck_assert_int_eq(req(&v, "GET", "/_/status", NULL, 0, &r), 200);
		const char *sc = strstr(r.body, "\"scrub\":{");
		crawling = strstr(sc, "\"running\":true") &&
			   json_num(sc, "bytes") > 0;
		harness_resp_free(&r);
		struct timespec d = {0, 10 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	ck_assert(crawling);
	long long passes = get_num(&v, "/_/status", "passes");
	ck_assert_int_eq(req(&v, "POST", "/_/scrub", NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "{\"started\":false,\"running\":true}\n");
	harness_resp_free(&r);
	char *st = wait_scrub_passes(&v, passes + 1);
	const char *sc = strstr(st, "\"scrub\":{");
	ck_assert_int_eq(json_num(sc, "records"), 2);
	ck_assert_int_eq(json_num(sc, "bad"), 0);
	ck_assert_int_lt(json_num(sc, "last_pass_ms"), 60000);
	free(st);
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
}
END_TEST

/* The id in /_/health and /_/status names the data directory: the same
 * after a restart, new once the directory was emptied. */
START_TEST(volume_identity)
{
	struct vol v;
	vol_start(&v, NULL);
	struct harness_resp r;
	char id[64], run[64], other[64];
	ck_assert_int_eq(req(&v, "GET", "/_/health", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"ok\""));
	json_str(r.body, "id", id, sizeof(id));
	json_str(r.body, "run", run, sizeof(run));
	ck_assert_int_eq(json_num(r.body, "corrupt_seq"), 0);
	ck_assert_int_eq(json_num(r.body, "corrupt_dropped_seq"), 0);
	harness_resp_free(&r);
	ck_assert_uint_eq(strlen(id), 32);
	ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
	ck_assert_uint_eq(strlen(run), 16);
	ck_assert_int_eq(req(&v, "GET", "/_/status", NULL, 0, &r), 200);
	json_str(r.body, "id", other, sizeof(other));
	ck_assert_str_eq(other, id);
	harness_resp_free(&r);
	ck_assert_int_eq(req(&v, "PUT", "/kept", "v", 1, NULL), 201);

	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	ck_assert_int_eq(req(&v, "GET", "/_/health", NULL, 0, &r), 200);
	json_str(r.body, "id", other, sizeof(other));
	ck_assert_str_eq(other, id);
	json_str(r.body, "run", other, sizeof(other));
	ck_assert_str_ne(other, run);
	harness_resp_free(&r);
	assert_value(&v, "/kept", "v", 1);

	/* A wiped disk: same address, new volume. */
	harness_stop(&v.p);
	char data[700];
	snprintf(data, sizeof(data), "%s/data", v.dir);
	harness_rmtree(data);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	ck_assert_int_eq(req(&v, "GET", "/_/health", NULL, 0, &r), 200);
	json_str(r.body, "id", other, sizeof(other));
	harness_resp_free(&r);
	ck_assert_uint_eq(strspn(other, "0123456789abcdef"), 32);
	ck_assert_str_ne(other, id);
	ck_assert_int_eq(req(&v, "GET", "/kept", NULL, 0, NULL), 404);
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
}
END_TEST

/* POST /_/purge: present keys answered 204, absent ones 404, in request
 * order, with one fdatasync for the whole batch; the keys are gone, and
 * stay gone after kill -9 (the tombstones were durable before the 200). */
static void purge_batch(const char *const extra[], bool one_sync)
{
	struct vol v;
	vol_start(&v, extra);
	enum { N = 200 };
	char key[64];
	struct buf body = {0};
	for (int i = 0; i < N; i++) {
		/* Keys that need decoding too: "/pb/N x". */
		snprintf(key, sizeof(key), "/pb/%d%%20x", i);
		if (i % 4 != 3)
			ck_assert_int_eq(req(&v, "PUT", key, "v", 1, NULL),
					 201);
		buf_printf(&body, "/pb/%d%%20x\n", i);
	}
	ck_assert_int_eq(req(&v, "PUT", "/pb/keep", "kept", 4, NULL), 201);
	long long syncs = get_num(&v, "/_/status", "syncs");
	struct harness_resp r;
	ck_assert_int_eq(req(&v, "POST", "/_/purge", body.data, body.len, &r),
			 200);
	if (one_sync)
		ck_assert_int_eq(get_num(&v, "/_/status", "syncs"), syncs + 1);
	char type[64];
	ck_assert_int_eq(harness_header(&r, "Content-Type", type, sizeof(type)),
			 0);
	ck_assert_str_eq(type, "text/plain");
	ck_assert_uint_eq(r.len, 4 * N);
	for (int i = 0; i < N; i++)
		ck_assert_mem_eq(r.body + 4 * i, i % 4 == 3 ? "404\n" : "204\n",
				 4);
	harness_resp_free(&r);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/pb/%d%%20x", i);
		ck_assert_int_eq(req(&v, "GET", key, NULL, 0, NULL), 404);
	}
	assert_value(&v, "/pb/keep", "kept", 4);
	/* Again: every key absent now; a last line without '\n' counts. */
	ck_assert_int_eq(
		req(&v, "POST", "/_/purge", "/pb/0%20x\r\n/pb/1%20x", 20, &r),
		200);
	ck_assert_str_eq(r.body, "404\n404\n");
	harness_resp_free(&r);
	/* An empty batch is nothing to do. */
	ck_assert_int_eq(req(&v, "POST", "/_/purge", "", 0, &r), 200);
	ck_assert_uint_eq(r.len, 0);
	harness_resp_free(&r);

	harness_signal(&v.p, SIGKILL);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/pb/%d%%20x", i);
		ck_assert_int_eq(req(&v, "GET", key, NULL, 0, NULL), 404);
	}
	assert_value(&v, "/pb/keep", "kept", 4);
	buf_free(&body);
	harness_stop(&v.p);
}

START_TEST(purge_deletes_a_batch)
{
	purge_batch(NULL, true);
}
END_TEST

/* The other serving and sync modes take the same batch. */
START_TEST(purge_thread_per_connection_sync_always)
{
	const char *extra[] = {"-threads", "0", "-sync", "always", NULL};
	purge_batch(extra, true);
}
END_TEST

START_TEST(purge_sync_none)
{
	const char *extra[] = {"-sync", "none", NULL};
	purge_batch(extra, false);
}
END_TEST

/* Sends a purge body and checks the status and that /pb/here is still
 * there afterwards: a refused batch deletes nothing. */
static void purge_refused(struct vol *v, const struct buf *body, long code,
			  const char *why)
{
	struct harness_resp r;
	ck_assert_int_eq(req(v, "POST", "/_/purge", body->data, body->len, &r),
			 code);
	char type[64];
	ck_assert_int_eq(harness_header(&r, "Content-Type", type, sizeof(type)),
			 0);
	ck_assert_ptr_nonnull(strstr(type, "text/plain"));
	ck_assert_msg(strstr(r.body, why), "%s", r.body);
	ck_assert_int_eq((int)strcspn(r.body, "\n"), (int)r.len - 1);
	harness_resp_free(&r);
	assert_value(v, "/pb/here", "v", 1);
}

START_TEST(purge_refuses_bad_batches)
{
	struct vol v;
	vol_start(&v, NULL);
	ck_assert_int_eq(req(&v, "PUT", "/pb/here", "v", 1, NULL), 201);
	struct buf b = {0};

	/* 1025 keys. */
	buf_printf(&b, "/pb/here\n");
	for (int i = 1; i <= 1024; i++)
		buf_printf(&b, "/pb/%d\n", i);
	purge_refused(&v, &b, 413, "more than 1024 keys");

	/* A body over 1 MiB, announced by its Content-Length. */
	b.len = 0;
	buf_printf(&b, "/pb/here\n");
	while (b.len <= (1u << 20))
		buf_printf(&b, "/pb/%0500d\n", 7);
	purge_refused(&v, &b, 413, "larger than 1048576 bytes");

	/* Malformed lines, after a good one. */
	const char *bad[][2] = {
		{"/pb/here\n/pb/%zz\n/pb/x\n", "line 2"},
		{"/pb/here\n\n/pb/x\n", "line 2 is empty"},
		{"/pb/here\nno-slash\n", "line 2"},
		{"/pb/here\n/_/reserved\n", "line 2"},
		{"/pb/here\n/pb/%00\n", "line 2"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b.len = 0;
		buf_printf(&b, "%s", bad[i][0]);
		purge_refused(&v, &b, 400, bad[i][1]);
	}
	/* A key longer than 511 bytes, and a line no key can decode from. */
	b.len = 0;
	buf_printf(&b, "/pb/here\n/%0511d\n", 1);
	purge_refused(&v, &b, 400, "line 2");
	b.len = 0;
	buf_printf(&b, "/pb/here\n/%03000d\n", 1);
	purge_refused(&v, &b, 400, "line 2: key too long");
	buf_free(&b);
	/* Other methods on the endpoint. */
	ck_assert_int_eq(req(&v, "GET", "/_/purge", NULL, 0, NULL), 404);
	ck_assert_int_eq(req(&v, "DELETE", "/_/purge", NULL, 0, NULL), 400);
	assert_value(&v, "/pb/here", "v", 1);
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
}
END_TEST

struct deleter {
	struct vol *v;
	int id, failures;
};

static void *deleter_main(void *arg)
{
	struct deleter *d = arg;
	char key[64];
	for (int i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "/cd/%d/%d", d->id, i);
		if (req(d->v, "DELETE", key, NULL, 0, NULL) != 204)
			d->failures++;
		if (req(d->v, "DELETE", key, NULL, 0, NULL) != 404)
			d->failures++;
	}
	return NULL;
}

/* Many DELETEs at once, with few polling threads: each waits for its
 * sync suspended, so they share syncs and none holds a thread. */
START_TEST(concurrent_deletes)
{
	struct vol v;
	const char *extra[] = {"-threads", "2", NULL};
	vol_start(&v, extra);
	enum { N = 32 };
	char key[64];
	for (int t = 0; t < N; t++)
		for (int i = 0; i < 16; i++) {
			snprintf(key, sizeof(key), "/cd/%d/%d", t, i);
			ck_assert_int_eq(req(&v, "PUT", key, "v", 1, NULL),
					 201);
		}
	long long syncs = get_num(&v, "/_/status", "syncs");
	pthread_t th[N];
	struct deleter d[N];
	for (int t = 0; t < N; t++) {
		d[t] = (struct deleter){&v, t, 0};
		ck_assert_int_eq(
			pthread_create(&th[t], NULL, deleter_main, &d[t]), 0);
	}
	for (int t = 0; t < N; t++) {
		pthread_join(th[t], NULL);
		ck_assert_int_eq(d[t].failures, 0);
	}
	ck_assert_int_eq(get_num(&v, "/_/status", "keys"), 0);
	ck_assert_int_lt(get_num(&v, "/_/status", "syncs") - syncs, N * 16);
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
}
END_TEST

START_TEST(sigterm_is_clean)
{
	struct vol v;
	vol_start(&v, NULL);
	ck_assert_int_eq(req(&v, "PUT", "/k", "v", 1, NULL), 201);
	ck_assert_int_eq(harness_stop_clean(&v.p), 0);
	/* A clean shutdown leaves hint files for a fast restart. */
	char pattern[700];
	snprintf(pattern, sizeof(pattern), "%s/data/*.hint", v.dir);
	glob_t g;
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	ck_assert_uint_ge(g.gl_pathc, 1);
	globfree(&g);
	ck_assert_int_eq(harness_restart(&v.p), 0);
	assert_value(&v, "/k", "v", 1);
	harness_stop(&v.p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("volume");
	TCase *tc = tcase_create("daemon");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, put_get_head_delete);
	tcase_add_test(tc, ranges);
	tcase_add_test(tc, copied_and_sendfile_values);
	tcase_add_test(tc, sizes_one_byte_to_64mib);
	tcase_add_test(tc, sixty_four_concurrent_clients);
	tcase_add_test(tc, sixty_four_clients_thread_per_connection);
	tcase_add_test(tc, kill9_during_write_storm);
	tcase_add_test(tc, keys_listing_and_status);
	tcase_add_test(tc, bad_input_changes_nothing);
	tcase_add_test(tc, client_disconnect_mid_upload);
	tcase_add_test(tc, client_gone_while_put_syncs);
	tcase_add_test(tc, chunked_put_is_spooled);
	tcase_add_test(tc, delete_behind_slow_put_one_thread);
	tcase_add_test(tc, merge_while_serving);
	tcase_add_test(tc, get_while_merging);
	tcase_add_test(tc, get_refuses_corrupt_small_value);
	tcase_add_test(tc, scrub_finds_rot_in_large_value);
	tcase_add_test(tc, background_scrub_finds_rot);
	tcase_add_test(tc, scrub_post_while_running);
	tcase_add_test(tc, volume_identity);
	tcase_add_test(tc, sigterm_is_clean);
	tcase_add_test(tc, purge_deletes_a_batch);
	tcase_add_test(tc, purge_thread_per_connection_sync_always);
	tcase_add_test(tc, purge_sync_none);
	tcase_add_test(tc, purge_refuses_bad_batches);
	tcase_add_test(tc, concurrent_deletes);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
