/* Replicated masters as real processes on 127.0.0.1: three (and more)
 * cask-master with -peers over three volumes, while clients write and
 * read through every master.
 *
 * After each fault: every PUT that got 201 reads back byte-exact from
 * every master, every DELETE that got 204 is 404 everywhere, no term
 * ever had two leaders (polled /_/status), and the history is
 * linearizable per key (tests/lincheck.h). CASK_SOAK=1 runs longer. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/md5.h"
#include "tests/fixture.h"
#include "tests/harness.h"
#include "tests/lincheck.h"

#define NVOL	  3
#define MAXM	  FIXTURE_MAX_MASTERS
#define WORKERS	  4
#define MAX_OPS	  200000
#define MAX_TERMS 4096

/* The processes, and which masters clients may use (under mu). */
struct cl {
	struct fixture f;
	bool up[MAXM], stopped[MAXM];
};

static struct cl C;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void sleep_ms(unsigned ms)
{
	struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&d, NULL);
}

static bool soak(void)
{
	const char *s = getenv("CASK_SOAK");
	return s && *s && strcmp(s, "0") != 0;
}

/* Processes. */

static void set_up(int i)
{
	pthread_mutex_lock(&mu);
	C.up[i] = true;
	C.stopped[i] = false;
	pthread_mutex_unlock(&mu);
}

static void start_master(int i, const char *join)
{
	ck_assert_int_eq(fixture_start_master(&C.f, i, join, NULL), 0);
	set_up(i);
}

static void start_cluster(int masters, const char *snapshot_entries)
{
	memset(&C, 0, sizeof(C));
	const char *args[] = {"-snapshot-entries", snapshot_entries, NULL};
	const struct fixture_opts o = {.tag = "cluster",
				       .volumes = NVOL,
				       .masters = masters,
				       .replicated = true,
				       .check_interval = "200ms",
				       .master_args = args};
	ck_assert_int_eq(fixture_start(&C.f, &o), 0);
	for (int i = 0; i < masters; i++)
		set_up(i);
}

/* Every master still running must stop cleanly. */
static void stop_cluster(void)
{
	ck_assert_int_eq(fixture_stop(&C.f), 0);
}

static void set_down(int i)
{
	pthread_mutex_lock(&mu);
	C.up[i] = false;
	pthread_mutex_unlock(&mu);
}

/* Status: who leads, and the history of leaders per term. */

struct claim {
	uint64_t term;
	int master;
};
static struct claim claims[MAX_TERMS];
static size_t nclaims;

struct st {
	char role[16];
	uint64_t term, leader, commit, applied, snapshot;
};

static uint64_t field(const char *s, const char *name)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	const char *p = strstr(s, "\"raft\":");
	p = p ? strstr(p, pat) : NULL;
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* One request with a 3 s timeout: a SIGSTOPped master must not hang a
 * client. */
static long http(const char *method, const char *url, const void *body,
		 size_t len, struct harness_resp *out)
{
	return harness_request_ms(method, url, body, len, 3000L, out);
}

static int status(int i, struct st *st)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_/status",
		 C.f.mport[i]);
	struct harness_resp r;
	long code = http("GET", url, NULL, 0, &r);
	if (code == -1)
		return -EIO;
	if (code != 200) {
		harness_resp_free(&r);
		return -EIO;
	}
	memset(st, 0, sizeof(*st));
	const char *role = strstr(r.body, "\"role\":\"");
	if (role)
		sscanf(role + 8, "%15[a-z]", st->role);
	st->term = field(r.body, "term");
	st->leader = field(r.body, "leader");
	st->commit = field(r.body, "commit");
	st->applied = field(r.body, "applied");
	st->snapshot = field(r.body, "snapshot");
	harness_resp_free(&r);
	if (strcmp(st->role, "leader") == 0) {
		pthread_mutex_lock(&mu);
		bool seen = false;
		for (size_t k = 0; k < nclaims; k++) {
			if (claims[k].term != st->term)
				continue;
			ck_assert_msg(claims[k].master == i,
				      "term %" PRIu64 " had leaders %d and %d",
				      st->term, claims[k].master + 1, i + 1);
			seen = true;
		}
		if (!seen && nclaims < MAX_TERMS)
			claims[nclaims++] = (struct claim){st->term, i};
		pthread_mutex_unlock(&mu);
	}
	return 0;
}

static bool alive(int i)
{
	pthread_mutex_lock(&mu);
	bool a = C.up[i] && !C.stopped[i];
	pthread_mutex_unlock(&mu);
	return a;
}

/* The index of the master every live master agrees leads, or -1. */
static int wait_leader(int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		int leader = -1;
		bool agree = true;
		for (int i = 0; i < C.f.nmaster; i++) {
			struct st st;
			if (!alive(i))
				continue;
			if (status(i, &st) || !st.leader) {
				agree = false;
				continue;
			}
			if (leader < 0)
				leader = (int)st.leader - 1;
			agree &= leader == (int)st.leader - 1;
		}
		if (agree && leader >= 0 && alive(leader))
			return leader;
		sleep_ms(20);
	}
	return -1;
}

/* Waits until every live master applied what the leader committed. */
static void wait_caught_up(int timeout_ms)
{
	int l = wait_leader(timeout_ms);
	ck_assert_int_ge(l, 0);
	struct st ls;
	ck_assert_int_eq(status(l, &ls), 0);
	for (int waited = 0;; waited += 20) {
		bool all = true;
		for (int i = 0; i < C.f.nmaster; i++) {
			struct st st;
			if (alive(i) &&
			    (status(i, &st) || st.applied < ls.commit))
				all = false;
		}
		if (all)
			return;
		ck_assert_msg(waited < timeout_ms, "masters did not catch up");
		sleep_ms(20);
	}
}

/* Clients. */

/* A counter from master i's /_/metrics; fails the test when absent. */
static unsigned long metric(int i, const char *name)
{
	char url[128], line[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_/metrics",
		 C.f.mport[i]);
	snprintf(line, sizeof(line), "\n%s ", name);
	struct harness_resp r;
	ck_assert_int_eq(http("GET", url, NULL, 0, &r), 200);
	const char *m = strstr(r.body, line);
	ck_assert_msg(m != NULL, "no %s in /_/metrics", name);
	unsigned long v = strtoul(m + strlen(line), NULL, 10);
	harness_resp_free(&r);
	return v;
}

static long request(int i, const char *method, const char *path,
		    const void *body, size_t len, struct harness_resp *out)
{
	char url[1024];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", C.f.mport[i], path);
	struct harness_resp r;
	for (int hop = 0;; hop++) {
		if (http(method, url, body, len, &r) < 0)
			return -1;
		if (r.code != 307 || hop == 3)
			break;
		int rc = harness_header(&r, "Location", url, sizeof(url));
		harness_resp_free(&r);
		if (rc)
			return -1;
	}
	return harness_resp_give(&r, out);
}

static uint64_t hash_of(const void *b, size_t len)
{
	uint8_t d[MD5_LEN];
	md5_buf(b, len, d);
	uint64_t v;
	memcpy(&v, d, sizeof(v));
	return v | 1; /* never 0, which means absent */
}

/* GET through master i: the hash of the value it points at (from
 * Content-Md5), 0 for 404, or -1 for anything else. */
static int64_t get_hash(int i, const char *path)
{
	struct harness_resp r;
	long code = request(i, "GET", path, NULL, 0, &r);
	if (code < 0)
		return -1;
	int64_t v = code == 404 ? 0 : -1;
	char hex[64];
	uint8_t d[MD5_LEN];
	if (code == 302 &&
	    harness_header(&r, "Content-Md5", hex, sizeof(hex)) == 0 &&
	    md5_from_hex(hex, d) == 0) {
		uint64_t u;
		memcpy(&u, d, sizeof(u));
		v = (int64_t)((u | 1) & INT64_MAX);
	}
	harness_resp_free(&r);
	return v;
}

static struct lincheck_op *hist;
static atomic_size_t nhist;

struct written {
	char key[32];
	char value[256];
	size_t len;
	bool put_ok, put_unknown, del_ok, del_unknown;
};
static struct written *wr;
static atomic_size_t nwr;
static atomic_bool stop_workers;
static atomic_uint_fast64_t acked;
static atomic_uint_fast64_t last_acked_invoke; /* of a PUT that got 201 */

static void record(const char *key, enum lincheck_kind k,
		   enum lincheck_outcome o, uint64_t value, uint64_t t0)
{
	size_t at = atomic_fetch_add(&nhist, 1);
	if (at >= MAX_OPS)
		return;
	hist[at] = (struct lincheck_op){
		key, k, o, value & INT64_MAX, t0, clock_mono_us()};
}

static int pick_master(unsigned *seed)
{
	for (;;) {
		int i = (int)(rand_r(seed) % (unsigned)C.f.nmaster);
		if (alive(i))
			return i;
	}
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	while (!atomic_load(&stop_workers)) {
		size_t at = atomic_fetch_add(&nwr, 1);
		if (at >= MAX_OPS / 4)
			break;
		struct written *w = &wr[at];
		snprintf(w->key, sizeof(w->key), "/k/%zu", at);
		w->len = 1 + rand_r(&seed) % 200;
		harness_fill(w->value, w->len, at);
		uint64_t h = hash_of(w->value, w->len);
		uint64_t t0 = clock_mono_us();
		long c = request(pick_master(&seed), "PUT", w->key, w->value,
				 w->len, NULL);
		w->put_ok = c == 201;
		w->put_unknown = c != 201 && c != 403;
		record(w->key, LINCHECK_PUT,
		       c == 201	  ? LINCHECK_OK
		       : c == 403 ? LINCHECK_FAIL
				  : LINCHECK_UNKNOWN,
		       h, t0);
		if (w->put_ok) {
			atomic_fetch_add(&acked, 1);
			uint64_t seen = atomic_load(&last_acked_invoke);
			while (seen < t0 &&
			       !atomic_compare_exchange_weak(&last_acked_invoke,
							     &seen, t0))
				;
		}
		t0 = clock_mono_us();
		int64_t g = get_hash(pick_master(&seed), w->key);
		record(w->key, LINCHECK_GET,
		       g < 0 ? LINCHECK_UNKNOWN : LINCHECK_OK,
		       g < 0 ? 0 : (uint64_t)g, t0);
		if (rand_r(&seed) % 2)
			continue; /* keep half of the keys */
		t0 = clock_mono_us();
		c = request(pick_master(&seed), "DELETE", w->key, NULL, 0,
			    NULL);
		w->del_ok = c == 204;
		w->del_unknown = c != 204 && c != 404;
		record(w->key, LINCHECK_DELETE,
		       c == 204	  ? LINCHECK_OK
		       : c == 404 ? LINCHECK_FAIL
				  : LINCHECK_UNKNOWN,
		       0, t0);
	}
	return NULL;
}

static pthread_t workers[WORKERS];

/* Writes through the leader at once, so that its commit index runs ahead
 * of its applied state: every one must still be taken. */
struct burst {
	int leader, id;
	long codes[10];
};

static void *burst_writer(void *arg)
{
	struct burst *b = arg;
	for (int i = 0; i < 10; i++) {
		char key[48];
		snprintf(key, sizeof(key), "/r/burst%d-%d", b->id, i);
		b->codes[i] = request(b->leader, "PUT", key, "v", 1, NULL);
	}
	return NULL;
}

static void start_load(void)
{
	atomic_store(&stop_workers, false);
	for (uintptr_t i = 0; i < WORKERS; i++)
		ck_assert_int_eq(
			pthread_create(&workers[i], NULL, worker, (void *)i),
			0);
}

static void stop_load(void)
{
	atomic_store(&stop_workers, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
}

/* Waits until n more PUTs were acknowledged. */
static void await_acks(uint64_t n, int timeout_ms)
{
	uint64_t want = atomic_load(&acked) + n;
	for (int waited = 0; atomic_load(&acked) < want; waited += 10) {
		ck_assert_msg(waited < timeout_ms, "writes stalled");
		sleep_ms(10);
	}
}

/* The checks after every fault. */
static void verify(void)
{
	wait_caught_up(10000);
	size_t n = atomic_load(&nwr);
	if (n > MAX_OPS / 4)
		n = MAX_OPS / 4;
	size_t checked = 0;
	for (size_t k = 0; k < n; k++) {
		struct written *w = &wr[k];
		if (!w->key[0] || w->put_unknown || w->del_unknown)
			continue;
		for (int i = 0; i < C.f.nmaster; i++) {
			if (!alive(i))
				continue;
			if (w->del_ok || !w->put_ok) {
				ck_assert_msg(request(i, "GET", w->key, NULL, 0,
						      NULL) == 404,
					      "%s must be 404 on master %d",
					      w->key, i + 1);
				continue;
			}
			struct harness_resp r, v;
			ck_assert_int_eq(request(i, "GET", w->key, NULL, 0, &r),
					 302);
			char loc[512];
			ck_assert_int_eq(harness_header(&r, "Location", loc,
							sizeof(loc)),
					 0);
			harness_resp_free(&r);
			ck_assert_int_eq(
				harness_http("GET", loc, NULL, 0, NULL, &v), 0);
			ck_assert_int_eq(v.code, 200);
			ck_assert_uint_eq(v.len, w->len);
			ck_assert_mem_eq(v.body, w->value, w->len);
			harness_resp_free(&v);
		}
		checked++;
	}
	ck_assert_uint_gt(checked, 0);
	size_t bad = 0, nh = atomic_load(&nhist);
	if (nh > MAX_OPS)
		nh = MAX_OPS;
	int rc = lincheck_check(hist, nh, &bad);
	/* The offending key's history, to tell a checker bug from a
	 * cluster bug. */
	for (size_t k = 0; rc == 0 && k < nh; k++)
		if (strcmp(hist[k].key, hist[bad].key) == 0)
			fprintf(stderr,
				"%s: kind %d outcome %d value %" PRIu64
				" invoked %" PRIu64 " returned %" PRIu64 "\n",
				hist[k].key, (int)hist[k].kind,
				(int)hist[k].outcome, hist[k].value,
				hist[k].invoke, hist[k].ret);
	ck_assert_msg(rc == 1, "history not linearizable (%d) at key %s", rc,
		      rc == 0 ? hist[bad].key : "?");
}

static void reset_history(void)
{
	free(hist);
	free(wr);
	hist = calloc(MAX_OPS, sizeof(*hist));
	wr = calloc(MAX_OPS / 4, sizeof(*wr));
	ck_assert(hist && wr);
	atomic_store(&nhist, 0);
	atomic_store(&nwr, 0);
	nclaims = 0;
}

/* Tests. */

START_TEST(lincheck_small)
{
	/* Sequential put, get, delete, get. */
	struct lincheck_op ok[] = {
		{"/a", LINCHECK_PUT, LINCHECK_OK, 7, 0, 10},
		{"/a", LINCHECK_GET, LINCHECK_OK, 7, 11, 20},
		{"/a", LINCHECK_DELETE, LINCHECK_OK, 0, 21, 30},
		{"/a", LINCHECK_GET, LINCHECK_OK, 0, 31, 40},
	};
	size_t bad;
	ck_assert_int_eq(lincheck_check(ok, 4, &bad), 1);
	/* A read that overlaps the put may see either. */
	struct lincheck_op overlap[] = {
		{"/a", LINCHECK_PUT, LINCHECK_OK, 7, 0, 50},
		{"/a", LINCHECK_GET, LINCHECK_OK, 0, 10, 20},
		{"/a", LINCHECK_GET, LINCHECK_OK, 7, 30, 40},
	};
	ck_assert_int_eq(lincheck_check(overlap, 3, &bad), 1);
	/* A stale read after the put returned is not linearizable. */
	struct lincheck_op stale[] = {
		{"/b", LINCHECK_PUT, LINCHECK_OK, 7, 0, 10},
		{"/b", LINCHECK_GET, LINCHECK_OK, 0, 20, 30},
	};
	ck_assert_int_eq(lincheck_check(stale, 2, &bad), 0);
	ck_assert_str_eq(stale[bad].key, "/b");
	/* Once seen new, never old again (reads do not overlap). */
	struct lincheck_op flip[] = {
		{"/c", LINCHECK_PUT, LINCHECK_OK, 7, 0, 100},
		{"/c", LINCHECK_GET, LINCHECK_OK, 7, 10, 20},
		{"/c", LINCHECK_GET, LINCHECK_OK, 0, 30, 40},
	};
	ck_assert_int_eq(lincheck_check(flip, 3, &bad), 0);
	/* An unknown put may or may not have happened. */
	struct lincheck_op unknown[] = {
		{"/d", LINCHECK_PUT, LINCHECK_UNKNOWN, 7, 0, 0},
		{"/d", LINCHECK_GET, LINCHECK_OK, 0, 10, 20},
		{"/d", LINCHECK_GET, LINCHECK_OK, 7, 30, 40},
	};
	ck_assert_int_eq(lincheck_check(unknown, 3, &bad), 1);
	/* Two creates of one key cannot both succeed. */
	struct lincheck_op twice[] = {
		{"/e", LINCHECK_PUT, LINCHECK_OK, 7, 0, 10},
		{"/e", LINCHECK_PUT, LINCHECK_OK, 8, 5, 15},
	};
	ck_assert_int_eq(lincheck_check(twice, 2, &bad), 0);
	/* A 404 delete after a successful put that nothing removed. */
	struct lincheck_op del[] = {
		{"/f", LINCHECK_PUT, LINCHECK_OK, 7, 0, 10},
		{"/f", LINCHECK_DELETE, LINCHECK_FAIL, 0, 20, 30},
	};
	ck_assert_int_eq(lincheck_check(del, 2, &bad), 0);
}
END_TEST

/* Writes through any master, reads from every master, 307 from followers,
 * 503 with Retry-After when no quorum. */
/* Sends method with a body of len bytes to url twice on one connection
 * cache and returns how many new connections the second one needed: 0
 * when the first answer kept the connection alive. With `expect`, the
 * body waits for 100 Continue, so a server that answers at once never
 * has unread bytes when it closes (a close over unread bytes resets the
 * connection, and the client may lose the answer). */
static long connects_after(const char *method, const char *url, size_t len,
			   bool expect)
{
	char *body = malloc(len + 1);
	ck_assert_ptr_nonnull(body);
	memset(body, 'b', len);
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(
		NULL, expect ? "Expect: 100-continue" : "Expect:");
	long connects = -1;
	for (int i = 0; i < 2; i++) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		if (len) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
		}
		ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
		long code = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		ck_assert_int_eq(code, 307);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(body);
	return connects;
}

START_TEST(replication_and_redirects)
{
	start_cluster(3, "10000");
	reset_history();
	int l = wait_leader(10000);
	ck_assert_int_ge(l, 0);
	int f = (l + 1) % 3;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/r/x?a=1", C.f.mport[f]);
	struct harness_resp r;
	ck_assert_int_eq(harness_http("PUT", url, "v", 1, NULL, &r), 0);
	ck_assert_int_eq(r.code, 307);
	char loc[256], want[256];
	ck_assert_int_eq(harness_header(&r, "Location", loc, sizeof(loc)), 0);
	snprintf(want, sizeof(want), "http://127.0.0.1:%d/r/x?a=1",
		 C.f.mport[l]);
	ck_assert_str_eq(loc, want);
	harness_resp_free(&r);
	/* The follower drops small bodies and keeps the connection; a large
	 * one is not read, so the connection closes. Nothing is written. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/r/keep", C.f.mport[f]);
	ck_assert_int_eq(connects_after("PUT", url, 4096, false), 0);
	ck_assert_int_eq(connects_after("DELETE", url, 0, false), 0);
	ck_assert_int_eq(connects_after("PUT", url, 256 * 1024, true), 1);
	ck_assert_int_eq(request(l, "GET", "/r/keep", NULL, 0, NULL), 404);
	start_load();
	await_acks(200, 30000);
	stop_load();
	verify();
	/* A follower acknowledges appends in the answers to the leader's
	 * POSTs, not with POSTs of its own: these writes reach both
	 * followers in at least a batch each, but they POST next to
	 * nothing. */
	int fs[2] = {f, (l + 2) % 3};
	unsigned long posts[2], answers[2];
	for (int i = 0; i < 2; i++) {
		posts[i] = metric(fs[i], "cask_master_raft_posts_total");
		answers[i] = metric(fs[i], "cask_master_raft_answers_total");
	}
	for (int i = 0; i < 40; i++) {
		char key[32];
		snprintf(key, sizeof(key), "/r/answer%d", i);
		ck_assert_int_eq(request(l, "PUT", key, "v", 1, NULL), 201);
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_ge(
			metric(fs[i], "cask_master_raft_answers_total"),
			answers[i] + 10);
		ck_assert_uint_lt(metric(fs[i], "cask_master_raft_posts_total"),
				  posts[i] + 10);
	}
	struct burst bursts[8];
	pthread_t bt[8];
	for (int i = 0; i < 8; i++) {
		bursts[i] = (struct burst){.leader = l, .id = i};
		ck_assert_int_eq(
			pthread_create(&bt[i], NULL, burst_writer, &bursts[i]),
			0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(bt[i], NULL);
		for (int k = 0; k < 10; k++)
			ck_assert_int_eq(bursts[i].codes[k], 201);
	}
	/* Without a quorum: 503 with Retry-After, never a hang. */
	for (int i = 0; i < 3; i++)
		if (i != f) {
			harness_stop(&C.f.master[i]);
			set_down(i);
		}
	sleep_ms(500);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/k/0", C.f.mport[f]);
	uint64_t t0 = clock_mono_us();
	ck_assert_int_eq(harness_http("GET", url, NULL, 0, NULL, &r), 0);
	ck_assert_int_eq(r.code, 503);
	ck_assert_int_eq(harness_header(&r, "Retry-After", loc, sizeof(loc)),
			 0);
	harness_resp_free(&r);
	ck_assert_uint_lt(clock_mono_us() - t0, 5000000);
	ck_assert_int_eq(harness_http("PUT", url, "v", 1, NULL, &r), 0);
	ck_assert_int_eq(r.code, 503);
	harness_resp_free(&r);
	stop_cluster();
}
END_TEST

/* kill -9 the leader under load, restart it; SIGSTOP the leader for
 * several election timeouts, SIGCONT; restart the whole cluster. */
START_TEST(leader_faults)
{
	start_cluster(3, "10000");
	reset_history();
	start_load();
	int rounds = soak() ? 5 : 1;
	for (int round = 0; round < rounds; round++) {
		await_acks(50, 30000);
		int l = wait_leader(10000);
		ck_assert_int_ge(l, 0);
		uint64_t t0 = clock_mono_us();
		harness_signal(&C.f.master[l], SIGKILL);
		set_down(l);
		/* The first PUT sent after the kill that got its 201. */
		while (atomic_load(&last_acked_invoke) < t0) {
			ck_assert_msg(clock_mono_us() - t0 < 10000000,
				      "no write after the leader died");
			sleep_ms(1);
		}
		fprintf(stderr,
			"test_cluster: leader kill -9 to the first 201 of a "
			"PUT sent after it: %.0f ms\n",
			(double)(clock_mono_us() - t0) / 1000);
		ck_assert_int_eq(harness_restart(&C.f.master[l]), 0);
		set_up(l);
		await_acks(50, 30000);

		l = wait_leader(10000);
		ck_assert_int_ge(l, 0);
		pthread_mutex_lock(&mu);
		C.stopped[l] = true;
		pthread_mutex_unlock(&mu);
		kill(C.f.master[l].pid, SIGSTOP);
		await_acks(50, 30000);
		kill(C.f.master[l].pid, SIGCONT);
		pthread_mutex_lock(&mu);
		C.stopped[l] = false;
		pthread_mutex_unlock(&mu);
		await_acks(50, 30000);
	}
	stop_load();
	verify();
	/* The whole cluster, at once. */
	for (int i = 0; i < C.f.nmaster; i++)
		harness_signal(&C.f.master[i], SIGKILL);
	for (int i = 0; i < C.f.nmaster; i++)
		ck_assert_int_eq(harness_restart(&C.f.master[i]), 0);
	verify();
	stop_cluster();
}
END_TEST

/* A follower misses enough writes that the log is compacted past it:
 * it must install a snapshot. */
START_TEST(snapshot_catch_up)
{
	start_cluster(3, "50");
	reset_history();
	int l = wait_leader(10000);
	ck_assert_int_ge(l, 0);
	int f = (l + 1) % 3;
	harness_signal(&C.f.master[f], SIGKILL);
	set_down(f);
	start_load();
	await_acks(300, 60000);
	stop_load();
	ck_assert_int_eq(harness_restart(&C.f.master[f]), 0);
	set_up(f);
	verify();
	struct st st;
	ck_assert_int_eq(status(f, &st), 0);
	ck_assert_uint_gt(st.snapshot, 0);
	/* It caught up through a snapshot: at least one, and more if the
	 * leader compacted again while it was catching up. */
	ck_assert_uint_ge(
		metric(f, "cask_master_raft_snapshots_installed_total"), 1);
	stop_cluster();
}
END_TEST

/* Whether master i's /_/status says it is writing a snapshot. */
static bool snapshotting(int i)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_/status",
		 C.f.mport[i]);
	struct harness_resp r;
	if (http("GET", url, NULL, 0, &r) < 0)
		return false;
	bool yes = r.code == 200 && strstr(r.body, "\"snapshotting\":true");
	harness_resp_free(&r);
	return yes;
}

/* Reads the FIFO at path to its end: the writer blocked on it goes on. */
static void drain(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0)
		ck_assert(n > 0 || errno == EINTR);
	close(fd);
}

/* Copying state/ for a snapshot takes as long as reading the whole index.
 * Here every master's copy goes to a FIFO that nothing reads, a disk that
 * never finishes: the cluster must keep its leader and go on committing
 * meanwhile. Once the FIFO is read, that copy fails (a FIFO cannot be
 * synced), and the next one, a second later, goes to disk and compacts the
 * log. */
START_TEST(snapshot_off_driver)
{
	start_cluster(3, "50");
	reset_history();
	int l = wait_leader(10000);
	ck_assert_int_ge(l, 0);
	char fifo[3][600];
	for (int i = 0; i < 3; i++) {
		snprintf(fifo[i], sizeof(fifo[i]),
			 "%s/m%d/raft/snapshot.mdb.tmp", C.f.dir, i + 1);
		ck_assert_int_eq(mkfifo(fifo[i], 0600), 0);
	}
	struct st before, after;
	ck_assert_int_eq(status(l, &before), 0);
	start_load();
	for (int i = 0; i < 3; i++)
		for (int waited = 0; !snapshotting(i); waited += 20) {
			ck_assert_msg(waited < 30000,
				      "master %d began no snapshot", i + 1);
			sleep_ms(20);
		}
	await_acks(200, 30000);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(snapshotting(i),
			      "master %d is no longer writing its snapshot",
			      i + 1);
	ck_assert_int_eq(status(l, &after), 0);
	ck_assert_str_eq(after.role, "leader");
	ck_assert_uint_eq(after.term, before.term);
	ck_assert_uint_eq(after.snapshot, 0);
	for (int i = 0; i < 3; i++)
		drain(fifo[i]);
	for (int i = 0; i < 3; i++)
		for (int waited = 0;
		     !metric(i, "cask_master_raft_snapshots_taken_total");
		     waited += 20) {
			ck_assert_msg(waited < 30000,
				      "master %d compacted no log", i + 1);
			sleep_ms(20);
		}
	stop_load();
	verify();
	stop_cluster();
}
END_TEST

/* What a crash of the machine may leave of stopped master i's state/,
 * which is not synced: torn pages, under a marker from another boot. */
static void tear_state(int i)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/m%d/state/unsynced", C.f.dir, i + 1);
	FILE *f = fopen(path, "r+");
	ck_assert_msg(f != NULL, "no %s", path);
	ck_assert_int_ge(fputs("00000000-0000-0000-0000-000000000000\n", f), 0);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/m%d/state/data.mdb", C.f.dir, i + 1);
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	ck_assert_int_gt(size, 0);
	rewind(f);
	for (long k = 0; k < size; k++)
		fputc(0xa5, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* How often master i logged that it rebuilt state/. */
static int restores(int i)
{
	char path[600], line[1024];
	snprintf(path, sizeof(path), "%s/m%d.log", C.f.dir, i + 1);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "in a restart of the machine") != NULL;
	fclose(f);
	return n;
}

static bool exists(int i, const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/m%d/%s", C.f.dir, i + 1, name);
	return access(path, F_OK) == 0;
}

/* state/ on a replicated master commits without syncing: a crash of the
 * process keeps it as it is, a clean stop syncs it, and after a crash of
 * every machine at once each master rebuilds it from its snapshot
 * (iteration 0, the log compacted every 50 entries) or from the whole
 * log (1, never compacted). */
START_TEST(machine_crash)
{
	start_cluster(3, _i == 0 ? "50" : "100000");
	reset_history();
	start_load();
	await_acks(150, 30000);
	int l = wait_leader(10000);
	ck_assert_int_ge(l, 0);
	int f = (l + 1) % 3;
	harness_signal(&C.f.master[f], SIGKILL);
	set_down(f);
	ck_assert(exists(f, "state/unsynced"));
	ck_assert_int_eq(harness_restart(&C.f.master[f]), 0);
	set_up(f);
	ck_assert_int_eq(restores(f), 0);
	set_down(f);
	ck_assert_int_eq(harness_stop_clean(&C.f.master[f]), 0);
	ck_assert(!exists(f, "state/unsynced"));
	ck_assert_int_eq(harness_restart(&C.f.master[f]), 0);
	set_up(f);
	await_acks(50, 30000);
	stop_load();
	verify();
	for (int i = 0; i < C.f.nmaster; i++) {
		struct st st;
		ck_assert_int_eq(status(i, &st), 0);
		if (_i == 0)
			ck_assert_uint_gt(st.snapshot, 0);
		else
			ck_assert(!exists(i, "raft/snapshot.mdb"));
		harness_signal(&C.f.master[i], SIGKILL);
	}
	for (int i = 0; i < C.f.nmaster; i++)
		tear_state(i);
	for (int i = 0; i < C.f.nmaster; i++)
		ck_assert_int_eq(harness_restart(&C.f.master[i]), 0);
	verify();
	for (int i = 0; i < C.f.nmaster; i++)
		ck_assert_int_eq(restores(i), 1);
	stop_cluster();
}
END_TEST

/* The Raft endpoints take bytes from the network: garbage gets a clear
 * 4xx on every master and disturbs nothing (same leader, same term, writes
 * still commit everywhere). */
START_TEST(raft_endpoints_refuse_garbage)
{
	start_cluster(3, "10000");
	int l = wait_leader(10000);
	ck_assert_int_ge(l, 0);
	/* First a cluster that takes writes: volumes seen healthy. */
	long code = 0;
	for (int waited = 0; code != 201; waited += 50) {
		ck_assert_msg(waited < 20000, "no write went through");
		code = request(l, "PUT", "/garbage/before", "v", 1, NULL);
		if (code != 201)
			sleep_ms(50);
	}
	struct st before;
	ck_assert_int_eq(status(l, &before), 0);
	static const char junk[] = "\x07garbage that is no raft batch\xff";
	for (int i = 0; i < 3; i++) {
		struct harness_resp r;
		ck_assert_int_eq(request(i, "POST", "/_/raft/msgs", junk,
					 sizeof(junk) - 1, &r),
				 400);
		ck_assert_ptr_nonnull(strstr(r.body, "malformed raft batch"));
		harness_resp_free(&r);
		ck_assert_int_eq(
			request(i, "GET", "/_/raft/msgs", NULL, 0, NULL), 405);
		ck_assert_int_eq(request(i, "POST", "/_/raft/nothing", junk,
					 sizeof(junk) - 1, NULL),
				 404);
		/* A snapshot without its X-Raft-Msg header. */
		ck_assert_int_eq(request(i, "POST", "/_/raft/snapshot", junk,
					 sizeof(junk) - 1, NULL),
				 400);
	}
	struct st after;
	ck_assert_int_eq(status(l, &after), 0);
	ck_assert_str_eq(after.role, "leader");
	ck_assert_uint_eq(after.term, before.term);
	ck_assert_int_eq(request(l, "PUT", "/garbage/after", "v", 1, NULL),
			 201);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(
			request(i, "GET", "/garbage/after", NULL, 0, NULL),
			302);
	stop_cluster();
}
END_TEST

/* A membership request, asked again while the answer is 503 (no leader
 * known for a moment: the client is told to retry), for up to 10 s. */
static long members(int i, const char *body)
{
	for (int waited = 0;; waited += 100) {
		struct harness_resp r;
		long code = request(i, "POST", "/_/raft/members", body,
				    strlen(body), &r);
		if (code < 0)
			return code;
		if (code != 503 || waited >= 10000)
			return harness_resp_give(&r, NULL);
		fprintf(stderr, "test_cluster: members '%s': 503 %s", body,
			r.body);
		harness_resp_free(&r);
		sleep_ms(100);
	}
}

/* A fourth master joins with -join under load, then one is removed; a
 * leader stopped with SIGTERM hands over first. */
START_TEST(membership)
{
	start_cluster(3, "100");
	reset_history();
	start_load();
	await_acks(100, 30000);
	char join[64];
	snprintf(join, sizeof(join), "http://127.0.0.1:%d", C.f.mport[0]);
	start_master(3, join);
	for (int waited = 0;; waited += 50) {
		struct st st;
		if (status(3, &st) == 0 && st.leader && st.applied > 0)
			break;
		ck_assert_msg(waited < 20000, "the new master did not join");
		sleep_ms(50);
	}
	await_acks(100, 30000);
	/* Idempotent: asking again answers 200. */
	char body[128];
	snprintf(body, sizeof(body), "add 4 http://127.0.0.1:%d", C.f.mport[3]);
	ck_assert_int_eq(members(1, body), 200);
	ck_assert_int_eq(members(0, "bogus"), 400);
	/* Remove master 3 (whoever leads). */
	ck_assert_int_eq(members(0, "remove 3"), 200);
	set_down(2);
	ck_assert_int_eq(harness_stop_clean(&C.f.master[2]), 0);
	await_acks(100, 30000);
	/* Graceful stop of the leader: a follower takes over first. */
	int l = wait_leader(10000);
	ck_assert_int_ge(l, 0);
	set_down(l);
	ck_assert_int_eq(harness_stop_clean(&C.f.master[l]), 0);
	await_acks(50, 30000);
	stop_load();
	verify();
	stop_cluster();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cluster");
	TCase *unit = tcase_create("lincheck");
	tcase_add_test(unit, lincheck_small);
	suite_add_tcase(s, unit);
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, soak() ? 900 : 180);
	tcase_add_test(tc, replication_and_redirects);
	tcase_add_test(tc, raft_endpoints_refuse_garbage);
	tcase_add_test(tc, leader_faults);
	tcase_add_test(tc, snapshot_catch_up);
	tcase_add_test(tc, snapshot_off_driver);
	tcase_add_loop_test(tc, machine_crash, 0, 2);
	tcase_add_test(tc, membership);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
