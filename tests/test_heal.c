/* Self-healing through real processes (DESIGN.md, "Promises"): one master,
 * five volumes, three replicas. A volume's directory is wiped and it comes
 * back at the same address; a small and a large record rot on another; a
 * third is killed for longer than -repair-after. With no tool run, every
 * key returns to three good copies, checked by reading each copy straight
 * from each volume the record names, while a reader that GETs random keys
 * through the master the whole time sees only 200 with the exact bytes.
 *
 * The reader's rules, what a client such as curl -L sees:
 *   - it follows the master's 302 and the volumes' ?alt= 302s;
 *   - a connection refused by a volume just killed (no HTTP answer at
 *     all) is retried once through the master, once the master's status
 *     shows that volume unhealthy (once per volume: two killed together
 *     may refuse one read each); an HTTP answer is never retried;
 *   - it does not read the large rotten value between the rot and the
 *     scrub's report of it: a value over 64 KiB is sent by sendfile
 *     unchecked until the scrub finds it (DESIGN.md, "Never serve wrong
 *     bytes"); once reported, the volume refuses it and the reader reads
 *     it like any other key. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/fixture.h"
#include "tests/harness.h"

#define NVOL	 5
#define NKEYS	 200
#define REPLICAS 3

static struct fixture F;
static char *values[NKEYS];
static size_t sizes[NKEYS];
static int nkeys = NKEYS; /* keys the running test stored */
static int via;		  /* the master requests go to */

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The pause between two polls (never a wait for an outcome). */
static void pause_ms(long ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&d, NULL);
}

static void key_path(int i, char *out, size_t cap)
{
	snprintf(out, cap, "/heal/k%03d", i);
}

static long master_req(const char *method, const char *path,
		       struct harness_resp *out)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", F.murl[via], path);
	return harness_request_ms(method, url, NULL, 0, 10000, out);
}

/* Whether the master's /_/status shows the volume at addr unhealthy. */
static bool master_sees_down(const char *addr)
{
	struct harness_resp r = {0};
	if (master_req("GET", "/_/status", &r) != 200)
		return false;
	char pat[96];
	snprintf(pat, sizeof(pat), "\"address\":\"%s\"", addr);
	const char *p = strstr(r.body, pat);
	const char *end = p ? strchr(p, '}') : NULL;
	const char *h = p ? strstr(p, "\"healthy\":false") : NULL;
	bool down = h && end && h < end;
	harness_resp_free(&r);
	return down;
}

static bool volume_answers(const char *addr)
{
	char url[512];
	snprintf(url, sizeof(url), "http://%s/_/health", addr);
	return harness_request_ms("GET", url, NULL, 0, 1000, NULL) == 200;
}

/* ---- the reader ---- */

static atomic_bool reader_stop;
static atomic_int skip_key = -1; /* the large rotten key, while it rots */
static atomic_long reads, read_failures, refused_retries;
static char first_failure[512];
static pthread_mutex_t failure_mu = PTHREAD_MUTEX_INITIALIZER;

static void fail_read(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void fail_read(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&failure_mu);
	if (!first_failure[0])
		vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
	pthread_mutex_unlock(&failure_mu);
	va_end(ap);
	atomic_fetch_add(&read_failures, 1);
}

/* One read through the master, following redirects. Returns 0 when the
 * exact bytes came, 1 when a volume refused the connection (retryable
 * once), -1 for a wrong answer (recorded). */
static int read_once(int i, char *refused, size_t cap)
{
	char path[64], loc[4096];
	key_path(i, path, sizeof(path));
	struct harness_resp r = {0};
	long code = master_req("GET", path, &r);
	if (code != 302) {
		fail_read("GET %s through the master: %ld (%s)", path, code,
			  r.body ? r.body : "");
		harness_resp_free(&r);
		return -1;
	}
	int rc = harness_header(&r, "Location", loc, sizeof(loc));
	harness_resp_free(&r);
	if (rc) {
		fail_read("GET %s: %ld without Location", path, code);
		return -1;
	}
	for (int hop = 0; hop < 4; hop++) {
		struct harness_resp v = {0};
		if (harness_http("GET", loc, NULL, 0, NULL, &v)) {
			harness_resp_free(&v);
			/* host:port of the volume that refused */
			const char *h = loc + strlen("http://");
			const char *slash = strchr(h, '/');
			snprintf(refused, cap, "%.*s",
				 (int)(slash ? slash - h : 0), h);
			return 1;
		}
		if (v.code == 302 &&
		    harness_header(&v, "Location", loc, sizeof(loc)) == 0) {
			harness_resp_free(&v);
			continue;
		}
		bool ok = v.code == 200 && v.len == sizes[i] &&
			  memcmp(v.body, values[i], sizes[i]) == 0;
		if (!ok)
			fail_read("GET %s: %ld from %s", path, v.code, loc);
		harness_resp_free(&v);
		return ok ? 0 : -1;
	}
	fail_read("GET %s: redirects without end at %s", path, loc);
	return -1;
}

static void *reader(void *arg)
{
	(void)arg;
	unsigned seed = 7;
	while (!atomic_load(&reader_stop)) {
		int i = (int)(rand_r(&seed) % NKEYS);
		if (i == atomic_load(&skip_key))
			continue;
		/* Volumes that refused this read so far. */
		char refused[NVOL][64];
		int nref = 0;
		while (read_once(i, refused[nref], sizeof(refused[0])) == 1) {
			/* A refusing volume is retried once, after the
			 * master noticed, or once it is back (a restart
			 * quicker than a health check). Another volume
			 * killed at the same moment may refuse the retry:
			 * that one earns its own. */
			bool again = false;
			for (int k = 0; k < nref; k++)
				again |= strcmp(refused[k], refused[nref]) == 0;
			if (again || nref == NVOL - 1) {
				fail_read("GET key %d: refused twice, by %s", i,
					  refused[nref]);
				break;
			}
			uint64_t until = now_ms() + 5000;
			while (!master_sees_down(refused[nref]) &&
			       !volume_answers(refused[nref]) &&
			       now_ms() < until)
				pause_ms(20);
			atomic_fetch_add(&refused_retries, 1);
			nref++;
		}
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

/* ---- checks straight on the volumes ---- */

/* How many of key i's recorded copies read back exact from their volume
 * (no redirects followed); *named gets how many the record names, and
 * `on` (may be NULL) whether volume addr `on` is one of them. */
static int good_copies(int i, int *named, const char *on, bool *has_on)
{
	char path[64], vols[1024];
	key_path(i, path, sizeof(path));
	struct harness_resp r = {0};
	*named = 0;
	if (has_on)
		*has_on = false;
	if (master_req("GET", path, &r) != 302 ||
	    harness_header(&r, "Key-Volumes", vols, sizeof(vols))) {
		harness_resp_free(&r);
		return 0;
	}
	harness_resp_free(&r);
	int good = 0;
	for (char *save = NULL, *v = strtok_r(vols, ",", &save); v;
	     v = strtok_r(NULL, ",", &save)) {
		(*named)++;
		if (on && has_on && strcmp(v, on) == 0)
			*has_on = true;
		char url[256];
		snprintf(url, sizeof(url), "http://%s%s", v, path);
		struct harness_resp c = {0};
		long code = harness_request_ms("GET", url, NULL, 0, 5000, &c);
		good += code == 200 && c.len == sizes[i] &&
			memcmp(c.body, values[i], sizes[i]) == 0;
		harness_resp_free(&c);
	}
	return good;
}

/* Polls until every key has REPLICAS good copies and names no other. */
static bool all_healed(long deadline_ms, int *bad_key)
{
	uint64_t until = now_ms() + (uint64_t)deadline_ms;
	int from = 0;
	while (now_ms() < until) {
		int i = from;
		for (; i < nkeys; i++) {
			int named;
			if (good_copies(i, &named, NULL, NULL) != REPLICAS ||
			    named != REPLICAS)
				break;
		}
		if (i == nkeys)
			return true;
		from = i; /* keys before it were whole already */
		*bad_key = i;
		pause_ms(100);
	}
	return false;
}

static long status_number(const char *field)
{
	struct harness_resp r = {0};
	if (master_req("GET", "/_/status", &r) != 200)
		return -1;
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", field);
	const char *p = strstr(r.body, pat);
	long v = p ? strtol(p + strlen(pat), NULL, 10) : -1;
	harness_resp_free(&r);
	return v;
}

/* The repair gauges come back to 0 once a pass finds nothing to do. */
static bool repair_idle(long deadline_ms)
{
	uint64_t until = now_ms() + (uint64_t)deadline_ms;
	while (now_ms() < until) {
		if (status_number("under_replicated") == 0 &&
		    status_number("queued") == 0 &&
		    status_number("lost_copies") == 0)
			return true;
		pause_ms(100);
	}
	return false;
}

/* ---- damage ---- */

/* Flips 10 bytes in the middle of key i's value in volume vi's segment
 * files. Returns whether the value was found. */
static bool rot(int vi, int i)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/v%d", F.dir, vi);
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	bool done = false;
	size_t probe = sizes[i] < 256 ? sizes[i] : 256;
	for (struct dirent *e; !done && (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 5, ".data") != 0)
			continue;
		char path[900];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		int fd = open(path, O_RDWR);
		ck_assert_int_ge(fd, 0);
		struct stat st;
		ck_assert_int_eq(fstat(fd, &st), 0);
		char *buf = malloc((size_t)st.st_size + 1);
		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0),
				 st.st_size);
		char *at = memmem(buf, (size_t)st.st_size, values[i], probe);
		if (at) {
			off_t off = (at - buf) + (off_t)(sizes[i] / 2);
			char flip[10];
			for (int k = 0; k < 10; k++)
				flip[k] = (char)~values[i][sizes[i] / 2 + k];
			ck_assert_int_eq(pwrite(fd, flip, 10, off), 10);
			done = true;
		}
		free(buf);
		close(fd);
	}
	closedir(d);
	return done;
}

/* Runs cask-rebuild -dry-run against the master; returns what it
 * printed (caller frees) and its exit status in *status. */
static char *rebuild_dry_run(int *status)
{
	char out[600], bin[600];
	snprintf(out, sizeof(out), "%s/rebuild.out", F.dir);
	const char *dir = getenv("CASK_BIN");
	snprintf(bin, sizeof(bin), "%s/cask-rebuild", dir ? dir : ".");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execl(bin, "cask-rebuild", "-master", F.murl[via], "-dry-run",
		      "-secret-file", harness_secret(), (char *)NULL);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	FILE *f = fopen(out, "r");
	ck_assert_ptr_nonnull(f);
	char *text = calloc(1, 65536);
	ck_assert_ptr_nonnull(text);
	(void)!fread(text, 1, 65535, f);
	fclose(f);
	return text;
}

/* Polls until the purge queue is empty. */
static bool purged(long deadline_ms)
{
	uint64_t until = now_ms() + (uint64_t)deadline_ms;
	while (status_number("purge_queue") != 0 && now_ms() < until)
		pause_ms(50);
	return status_number("purge_queue") == 0;
}

static bool names_vol(int i, int vi);

/* Polls until volume vi's /_/corrupt lists key i, or the repair already
 * moved the key off it (its purge clears the report). */
static bool reported(int vi, int i, long deadline_ms)
{
	char path[64], url[256], want[96];
	key_path(i, path, sizeof(path));
	snprintf(want, sizeof(want), "\"key\":\"%s\"", path);
	snprintf(url, sizeof(url), "http://%s/_/corrupt", F.vaddr[vi]);
	uint64_t until = now_ms() + (uint64_t)deadline_ms;
	while (now_ms() < until) {
		struct harness_resp r = {0};
		bool has = harness_request_ms("GET", url, NULL, 0, 5000, &r) ==
				   200 &&
			   strstr(r.body, want);
		harness_resp_free(&r);
		if (has || !names_vol(i, vi))
			return true;
		pause_ms(50);
	}
	return false;
}

/* Whether key i's record names volume vi. */
static bool names_vol(int i, int vi)
{
	int named;
	bool on;
	good_copies(i, &named, F.vaddr[vi], &on);
	return on;
}

/* A key over or under 64 KiB whose record names volume vi but not both
 * volumes a and b (-1: no such condition), with all its copies good. */
static int key_on_except(int vi, bool large, int a, int b)
{
	for (int i = 0; i < NKEYS; i++) {
		if ((sizes[i] > 64 * 1024) != large)
			continue;
		int named;
		bool on;
		if (good_copies(i, &named, F.vaddr[vi], &on) != REPLICAS || !on)
			continue;
		if (a >= 0 && names_vol(i, a) && names_vol(i, b))
			continue;
		return i;
	}
	return -1;
}

/* A key whose record names volume vi, over or under 64 KiB. */
static int key_on(int vi, bool large)
{
	for (int i = 0; i < NKEYS; i++) {
		if ((sizes[i] > 64 * 1024) != large)
			continue;
		int named;
		bool on;
		if (good_copies(i, &named, F.vaddr[vi], &on) == REPLICAS && on)
			return i;
	}
	return -1;
}

/* Stores keys 0..n-1 through master `via`: 100 B to 100 KB, every tenth
 * over 64 KiB (sent by sendfile). */
static void store_keys(int n)
{
	nkeys = n;
	for (int i = 0; i < n; i++) {
		sizes[i] = i % 10 == 0 ? 70000 + (size_t)i * 100
				       : 100 + ((size_t)i * 7919) % 60000;
		values[i] = malloc(sizes[i]);
		harness_fill(values[i], sizes[i], (unsigned long long)i + 1);
		char path[64], url[128];
		key_path(i, path, sizeof(path));
		snprintf(url, sizeof(url), "%s%s", F.murl[via], path);
		/* A new leader says 503 until it has confirmed itself. */
		long code;
		uint64_t until = now_ms() + 10000;
		while ((code = harness_request("PUT", url, values[i], sizes[i],
					       NULL)) == 503 &&
		       now_ms() < until)
			pause_ms(50);
		ck_assert_int_eq(code, 201);
	}
}

static void free_keys(void)
{
	for (int i = 0; i < nkeys; i++) {
		free(values[i]);
		values[i] = NULL;
	}
}

/* GET of key i on volume vi with ?alt=a,b answers 302 to a with alt=b. */
static void expect_alt(int vi, int i)
{
	char path[64], url[256], loc[512], want[256];
	key_path(i, path, sizeof(path));
	snprintf(url, sizeof(url), "http://%s%s?alt=127.0.0.1:1,127.0.0.1:2",
		 F.vaddr[vi], path);
	struct harness_resp r = {0};
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Location", loc, sizeof(loc)), 0);
	harness_resp_free(&r);
	snprintf(want, sizeof(want), "http://127.0.0.1:1%s?alt=127.0.0.1:2",
		 path);
	ck_assert_str_eq(loc, want);
}

static void start_reader(pthread_t *rd)
{
	atomic_store(&reader_stop, false);
	atomic_store(&reads, 0);
	atomic_store(&read_failures, 0);
	atomic_store(&refused_retries, 0);
	first_failure[0] = '\0';
	ck_assert_int_eq(pthread_create(rd, NULL, reader, NULL), 0);
}

static void stop_reader(pthread_t rd)
{
	atomic_store(&reader_stop, true);
	pthread_join(rd, NULL);
	ck_assert_msg(atomic_load(&read_failures) == 0,
		      "%ld of %ld reads failed; first: %s",
		      atomic_load(&read_failures), atomic_load(&reads),
		      first_failure);
	ck_assert_int_gt(atomic_load(&reads), 100);
}

START_TEST(every_key_heals_and_no_read_fails)
{
	const char *args[] = {"-repair-after", "2s", "-repair-rate", "200",
			      NULL};
	const struct fixture_opts o = {.tag = "heal",
				       .volumes = NVOL,
				       .masters = 1,
				       .check_interval = "100ms",
				       .master_args = args};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	via = 0;
	store_keys(NKEYS);
	pthread_t rd;
	start_reader(&rd);
	int bad = -1;

	/* (i) A wiped directory, back at the same address. */
	ck_assert_int_ge(harness_signal(&F.vol[0], SIGKILL), 0);
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/v0", F.dir);
	harness_rmtree(dir);
	ck_assert_int_eq(harness_restart(&F.vol[0]), 0);
	/* What a reader sent there before the master knows gets: the next
	 * copy of the master's ?alt= list, with the rest of it. */
	expect_alt(0, 0);
	ck_assert_msg(all_healed(60000, &bad), "key %d not healed after wipe",
		      bad);

	/* (ii) A small and a large record rot on another volume. */
	int small = key_on(1, false), large = key_on(1, true);
	ck_assert_int_ge(small, 0);
	ck_assert_int_ge(large, 0);
	atomic_store(&skip_key, large);
	ck_assert(rot(1, small));
	ck_assert(rot(1, large));
	/* Straight from the volume, the small rotten value is no 200. */
	char path[64], url[256];
	key_path(small, path, sizeof(path));
	snprintf(url, sizeof(url), "http://%s%s", F.vaddr[1], path);
	ck_assert_int_ne(harness_request("GET", url, NULL, 0, NULL), 200);
	expect_alt(1, small);
	snprintf(url, sizeof(url), "http://%s/_/scrub", F.vaddr[1]);
	long sc = harness_request("POST", url, NULL, 0, NULL);
	ck_assert(sc >= 200 && sc < 300);
	/* Once the scrub has reported the large one, the volume refuses it
	 * (500, then the ?alt= list): from here on the reader takes it too. */
	ck_assert(reported(1, large, 30000));
	atomic_store(&skip_key, -1);
	ck_assert_msg(all_healed(60000, &bad), "key %d not healed after rot",
		      bad);
	/* Repair and rebuild agree: once the replaced copies are purged, a
	 * rebuild finds nothing to do. */
	ck_assert(repair_idle(10000));
	ck_assert(purged(10000));
	int st;
	char *text = rebuild_dry_run(&st);
	ck_assert_msg(st == 0 && strstr(text, "missing 0, orphan 0, stale 0, "
					      "mismatch 0, lost 0"),
		      "rebuild after repair: %s", text);
	free(text);

	/* (iii) A volume down for longer than -repair-after. */
	ck_assert_int_ge(harness_signal(&F.vol[2], SIGKILL), 0);
	ck_assert_msg(all_healed(60000, &bad),
		      "key %d not healed after a volume died", bad);
	ck_assert(repair_idle(10000));

	stop_reader(rd);
	ck_assert_int_gt(status_number("repaired"), 0);
	ck_assert_int_eq(status_number("under_replicated"), 0);
	struct harness_resp mr = {0};
	ck_assert_int_eq(master_req("GET", "/_/metrics", &mr), 200);
	ck_assert_ptr_nonnull(strstr(mr.body, "cask_master_repaired_total "));
	ck_assert_ptr_nonnull(
		strstr(mr.body, "cask_master_repair_under_replicated 0"));
	ck_assert_ptr_nonnull(strstr(mr.body, "cask_master_lost_copies 0"));
	harness_resp_free(&mr);
	fprintf(stderr,
		"heal: %ld reads, %ld retried after a refusal, %ld copies "
		"repaired, %ld repair attempts failed\n",
		atomic_load(&reads), atomic_load(&refused_retries),
		status_number("repaired"), status_number("failed"));

	/* A key with no good copy left answers 503, not 302: every volume
	 * its record names is killed. */
	char vols[256];
	key_path(0, path, sizeof(path));
	struct harness_resp r = {0};
	ck_assert_int_eq(master_req("GET", path, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Key-Volumes", vols, sizeof(vols)),
			 0);
	harness_resp_free(&r);
	for (int v = 0; v < NVOL; v++)
		if (F.vol[v].pid && strstr(vols, F.vaddr[v]))
			ck_assert_int_ge(harness_signal(&F.vol[v], SIGKILL), 0);
	long code = 0;
	for (uint64_t until = now_ms() + 5000; now_ms() < until; pause_ms(50)) {
		code = master_req("GET", path, &r);
		if (code == 503)
			ck_assert_ptr_nonnull(strstr(r.body, "no good copy"));
		harness_resp_free(&r);
		if (code == 503)
			break;
		ck_assert_int_eq(code, 302); /* until the master notices */
	}
	ck_assert_int_eq(code, 503);
	ck_assert_int_eq(master_req("HEAD", path, NULL), 503);
	ck_assert_int_eq(fixture_stop(&F), 0);
	free_keys();
}
END_TEST

/* The three faults at once: while the wiped volume is being verified
 * and the dead one waits out -repair-after, copies rot on a third. Every
 * rotten key keeps a good copy off the other two (else nothing could
 * heal it). */
START_TEST(all_faults_at_once)
{
	const char *args[] = {"-repair-after", "2s", "-repair-rate", "200",
			      NULL};
	const struct fixture_opts o = {.tag = "heal-all",
				       .volumes = NVOL,
				       .masters = 1,
				       .check_interval = "100ms",
				       .master_args = args};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	via = 0;
	store_keys(NKEYS);
	int small = key_on_except(1, false, 0, 2);
	int large = key_on_except(1, true, 0, 2);
	ck_assert_int_ge(small, 0);
	ck_assert_int_ge(large, 0);
	pthread_t rd;
	atomic_store(&skip_key, large);
	start_reader(&rd);
	ck_assert_int_ge(harness_signal(&F.vol[2], SIGKILL), 0);
	/* The master knows the dead one is down before the wiped one's
	 * copies are replaced, so that no repair is sent there: every
	 * attempt must then succeed (the count below). */
	for (uint64_t until = now_ms() + 10000;
	     !master_sees_down(F.vaddr[2]) && now_ms() < until;)
		pause_ms(20);
	ck_assert(master_sees_down(F.vaddr[2]));
	ck_assert_int_ge(harness_signal(&F.vol[0], SIGKILL), 0);
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/v0", F.dir);
	harness_rmtree(dir);
	ck_assert_int_eq(harness_restart(&F.vol[0]), 0);
	ck_assert(rot(1, small));
	ck_assert(rot(1, large));
	char url[256];
	snprintf(url, sizeof(url), "http://%s/_/scrub", F.vaddr[1]);
	long sc = harness_request("POST", url, NULL, 0, NULL);
	ck_assert(sc >= 200 && sc < 300);
	ck_assert(reported(1, large, 30000));
	atomic_store(&skip_key, -1);
	int bad = -1;
	ck_assert_msg(all_healed(60000, &bad), "key %d not healed", bad);
	ck_assert(repair_idle(10000));
	stop_reader(rd);
	ck_assert_int_eq(status_number("failed"), 0);
	ck_assert_int_eq(fixture_stop(&F), 0);
	free_keys();
}
END_TEST

/* The master that says it leads, among those running, or -1. */
static int leader_now(void)
{
	for (int i = 0; i < F.nmaster; i++) {
		if (!F.master[i].pid)
			continue;
		char url[128];
		snprintf(url, sizeof(url), "%s/_/status", F.murl[i]);
		struct harness_resp r = {0};
		long code = harness_request_ms("GET", url, NULL, 0, 2000, &r);
		bool leads = code == 200 &&
			     strstr(r.body, "\"role\":\"leader\"") != NULL;
		harness_resp_free(&r);
		if (leads)
			return i;
	}
	return -1;
}

static int wait_leader(long deadline_ms)
{
	uint64_t until = now_ms() + (uint64_t)deadline_ms;
	int l;
	while ((l = leader_now()) < 0 && now_ms() < until)
		pause_ms(20);
	return l;
}

/* A repair interrupted by killing the leader resumes and finishes on the
 * new one: what it knows (the dead volume, the lost copies) is in the
 * replicated index, not in the old leader's memory. */
START_TEST(repair_resumes_on_a_new_leader)
{
	const char *args[] = {"-repair-after", "1s", "-repair-rate", "4", NULL};
	const struct fixture_opts o = {.tag = "heal3",
				       .volumes = NVOL,
				       .masters = 3,
				       .replicated = true,
				       .check_interval = "100ms",
				       .master_args = args};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	via = wait_leader(10000);
	ck_assert_int_ge(via, 0);
	store_keys(40);
	ck_assert_int_ge(harness_signal(&F.vol[4], SIGKILL), 0);
	/* Let the leader mark the volume dead and repair a few copies. */
	uint64_t until = now_ms() + 20000;
	while (status_number("repaired") < 3 && now_ms() < until)
		pause_ms(50);
	ck_assert_int_ge(status_number("repaired"), 3);
	ck_assert_int_gt(status_number("queued"), 0);
	int old = via;
	ck_assert_int_ge(harness_signal(&F.master[old], SIGKILL), 0);
	via = wait_leader(10000);
	ck_assert_int_ge(via, 0);
	ck_assert_int_ne(via, old);
	int bad = -1;
	ck_assert_msg(all_healed(60000, &bad),
		      "key %d not healed on the new leader", bad);
	ck_assert(repair_idle(10000));
	ck_assert_int_gt(status_number("repaired"), 0);
	/* A follower agrees: it reads from the healed copies too. */
	via = (old + 1) % 3 == via ? (old + 2) % 3 : (old + 1) % 3;
	ck_assert_msg(all_healed(10000, &bad), "key %d on the follower", bad);
	ck_assert_int_eq(fixture_stop(&F), 0);
	free_keys();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("heal");
	TCase *tc = tcase_create("heal");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, every_key_heals_and_no_read_fails);
	tcase_add_test(tc, repair_resumes_on_a_new_leader);
	tcase_add_test(tc, all_faults_at_once);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
