/* Cluster tests of failure domains (zones): real volumes, a real master
 * and cask-rebalance on 127.0.0.1 ephemeral ports.
 *
 * Six volumes in three zones of two, three replicas: every key gets one
 * copy per zone, so losing both volumes of a zone loses no read; and an
 * unzoned cluster that is labelled later is brought to one copy per zone
 * by cask-rebalance. Every volume shares the host 127.0.0.1, so hosts add
 * nothing here: the zones alone spread the copies. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/fixture.h"
#include "tests/harness.h"

#define NVOL   6
#define NKEYS  100
#define VALMAX 3000

/* Volume i lives in zone z<i/2>. */
static int zone_of(int i)
{
	return i / 2;
}

/* Six volumes, and a master (3 replicas) over them, labelled with their
 * zones when `zoned`; `extra` more master flags (NULL-terminated, or
 * NULL). */
static void start_cluster(struct fixture *f, bool zoned,
			  const char *const *extra)
{
	static const char *const args[] = {"-replicas", "3", NULL};
	const struct fixture_opts o = {.tag = "zones",
				       .volumes = NVOL,
				       .masters = 0,
				       .check_interval = "200ms",
				       .master_args = args};
	ck_assert_int_eq(fixture_start(f, &o), 0);
	if (zoned) {
		/* The fixture's -volumes override, known only now that the
		 * volumes have their ports. */
		size_t n = 0;
		for (int i = 0; i < NVOL; i++)
			n += (size_t)snprintf(f->volume_list + n,
					      sizeof(f->volume_list) - n,
					      "%s%s@z%d", i ? "," : "",
					      f->vaddr[i], zone_of(i));
		ck_assert_uint_lt(n, sizeof(f->volume_list));
	}
	ck_assert_int_eq(fixture_start_master(f, 0, NULL, extra), 0);
}

/* The index of the volume at addr (len bytes), or -1. */
static int volume_at(const struct fixture *f, const char *addr, size_t len)
{
	for (int i = 0; i < NVOL; i++)
		if (strlen(f->vaddr[i]) == len &&
		    memcmp(f->vaddr[i], addr, len) == 0)
			return i;
	return -1;
}

struct keys {
	char name[NKEYS][32];
	size_t len[NKEYS];
	unsigned char val[NKEYS][VALMAX];
};

static void put_keys(const struct fixture *f, struct keys *k)
{
	for (int i = 0; i < NKEYS; i++) {
		snprintf(k->name[i], sizeof(k->name[i]), "/zones/%d", i);
		k->len[i] = 1 + (size_t)(i * 37) % VALMAX;
		harness_fill(k->val[i], k->len[i], (unsigned long long)i + 1);
		char url[128];
		snprintf(url, sizeof(url), "%s%s", f->murl[0], k->name[i]);
		ck_assert_int_eq(
			harness_request("PUT", url, k->val[i], k->len[i], NULL),
			201);
	}
}

/* GET through the master without following: the 302 and its headers. */
static void get_meta(const struct fixture *f, const char *key,
		     struct harness_resp *r)
{
	char url[128];
	snprintf(url, sizeof(url), "%s%s", f->murl[0], key);
	ck_assert_int_eq(harness_http("GET", url, NULL, 0, NULL, r), 0);
	ck_assert_msg(r->code == 302, "GET %s: %ld %s", key, r->code, r->body);
}

/* Whether key's record has exactly one copy per zone (Key-Volumes), and
 * is balanced when `balanced` says so. */
static bool one_per_zone(const struct fixture *f, const char *key,
			 bool balanced)
{
	struct harness_resp r;
	get_meta(f, key, &r);
	char vols[512], bal[32];
	ck_assert_int_eq(harness_header(&r, "Key-Volumes", vols, sizeof(vols)),
			 0);
	ck_assert_int_eq(harness_header(&r, "Key-Balance", bal, sizeof(bal)),
			 0);
	harness_resp_free(&r);
	int per_zone[NVOL / 2] = {0}, n = 0;
	for (char *p = vols; *p;) {
		char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int v = volume_at(f, p, len);
		ck_assert_msg(v >= 0, "%s: unknown volume in %s", key, vols);
		per_zone[zone_of(v)]++;
		n++;
		p += len + (comma ? 1 : 0);
	}
	if (balanced)
		ck_assert_msg(strcmp(bal, "balanced") == 0, "%s: %s on %s", key,
			      bal, vols);
	return n == 3 && per_zone[0] == 1 && per_zone[1] == 1 &&
	       per_zone[2] == 1;
}

/* GET through the master, following its 302: 200 with the exact bytes. */
static void read_back(const struct fixture *f, const struct keys *k, int i)
{
	struct harness_resp r;
	get_meta(f, k->name[i], &r);
	char loc[256];
	ck_assert_int_eq(harness_header(&r, "Location", loc, sizeof(loc)), 0);
	harness_resp_free(&r);
	ck_assert_int_eq(harness_http("GET", loc, NULL, 0, NULL, &r), 0);
	ck_assert_msg(r.code == 200, "GET %s: %ld", loc, r.code);
	ck_assert_uint_eq(r.len, k->len[i]);
	ck_assert(memcmp(r.body, k->val[i], k->len[i]) == 0);
	harness_resp_free(&r);
}

/* Polls /_/status until volume i shows as `healthy` (up to 10 s). */
static void wait_health(const struct fixture *f, int i, bool healthy)
{
	char url[128], want[160];
	snprintf(url, sizeof(url), "%s/_/status", f->murl[0]);
	snprintf(want, sizeof(want),
		 "\"address\":\"%s\",\"zone\":\"z%d\",\"active\":true,"
		 "\"healthy\":%s,",
		 f->vaddr[i], zone_of(i), healthy ? "true" : "false");
	for (int t = 0; t < 200; t++) {
		struct harness_resp r;
		ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
		bool seen = strstr(r.body, want) != NULL;
		harness_resp_free(&r);
		if (seen)
			return;
		struct timespec d = {0, 50 * 1000000};
		nanosleep(&d, NULL);
	}
	ck_abort_msg("the master never showed %s", want);
}

/* The master's applied index, from /_/status. */
static long applied_index(const struct fixture *f)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_/status", f->murl[0]);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	const char *p = strstr(r.body, "\"applied\":");
	ck_assert_ptr_nonnull(p);
	long n = strtol(p + 10, NULL, 10);
	harness_resp_free(&r);
	return n;
}

/* The applied index once nothing more is being committed: the same over
 * a second of health checks (every 200 ms), so that a volume's identity
 * the master records late is not taken for a command the restart made. */
static long settled_applied_index(const struct fixture *f)
{
	long last = applied_index(f);
	for (int same = 0, t = 0; same < 10 && t < 300; t++) {
		struct timespec d = {0, 100 * 1000000};
		nanosleep(&d, NULL);
		long now = applied_index(f);
		same = now == last ? same + 1 : 0;
		last = now;
	}
	return last;
}

START_TEST(zone_loss_loses_no_read)
{
	struct fixture f;
	start_cluster(&f, true, NULL);
	static struct keys k;
	put_keys(&f, &k);
	for (int i = 0; i < NKEYS; i++)
		ck_assert_msg(one_per_zone(&f, k.name[i], true),
			      "%s is not on one volume per zone", k.name[i]);
	/* A restart with the same -volumes changes nothing: not even a
	 * command to record the set again. */
	long applied = settled_applied_index(&f);
	ck_assert_int_eq(harness_stop_clean(&f.master[0]), 0);
	ck_assert_int_eq(harness_restart(&f.master[0]), 0);
	ck_assert_int_eq(applied_index(&f), applied);
	for (int i = 0; i < NKEYS; i++)
		ck_assert(one_per_zone(&f, k.name[i], true));
	/* Zone z2 goes away whole. */
	ck_assert_int_ge(harness_signal(&f.vol[4], SIGKILL), 0);
	ck_assert_int_ge(harness_signal(&f.vol[5], SIGKILL), 0);
	wait_health(&f, 4, false);
	wait_health(&f, 5, false);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < NKEYS; i++)
			read_back(&f, &k, i);
	ck_assert_int_eq(fixture_stop(&f), 0);
}
END_TEST

/* Whether key's record names the volume at addr. */
static bool names_volume(const struct fixture *f, const char *key,
			 const char *addr)
{
	struct harness_resp r;
	get_meta(f, key, &r);
	char vols[512];
	ck_assert_int_eq(harness_header(&r, "Key-Volumes", vols, sizeof(vols)),
			 0);
	harness_resp_free(&r);
	return strstr(vols, addr) != NULL;
}

/* A volume dead past -repair-after: repair replaces each of its copies in
 * the zone the survivors do not cover (the dead volume's zone partner),
 * not merely on the next volume in the key's rendezvous order, which is
 * often in a zone a survivor already holds. */
START_TEST(repair_keeps_one_copy_per_zone)
{
	static const char *const args[] = {"-repair-after", "1s",
					   "-repair-rate", "500", NULL};
	struct fixture f;
	start_cluster(&f, true, args);
	static struct keys k;
	put_keys(&f, &k);
	int on_dead = 0;
	for (int i = 0; i < NKEYS; i++)
		on_dead += names_volume(&f, k.name[i], f.vaddr[2]);
	ck_assert_int_gt(on_dead, 0);
	ck_assert_int_ge(harness_signal(&f.vol[2], SIGKILL), 0);
	wait_health(&f, 2, false);
	bool healed = false;
	for (int t = 0; t < 600 && !healed; t++) {
		healed = true;
		for (int i = 0; healed && i < NKEYS; i++)
			healed = !names_volume(&f, k.name[i], f.vaddr[2]);
		if (!healed) {
			struct timespec d = {0, 50 * 1000000};
			nanosleep(&d, NULL);
		}
	}
	ck_assert_msg(healed, "copies on the dead volume were not replaced");
	for (int i = 0; i < NKEYS; i++) {
		ck_assert_msg(one_per_zone(&f, k.name[i], false),
			      "%s lost its one copy per zone in repair",
			      k.name[i]);
		read_back(&f, &k, i);
	}
	ck_assert_int_eq(fixture_stop(&f), 0);
}
END_TEST

static void post_volume(const struct fixture *f, const char *body, long want,
			const char *reason)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_/admin/volumes", f->murl[0]);
	struct harness_resp r;
	long code = harness_request("POST", url, body, strlen(body), &r);
	ck_assert_msg(code == want, "%s: %ld %s", body, code, r.body);
	if (reason)
		ck_assert_msg(strstr(r.body, reason), "%s: %s", body, r.body);
	harness_resp_free(&r);
}

/* Starts $CASK_BIN/<tool> with args (NULL-terminated), output to out;
 * returns its exit status. */
static int run(const char *tool, const char *const *args, const char *out)
{
	pid_t pid = harness_spawn_tool(tool, args, out);
	ck_assert_int_ge(pid, 0);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	static char text[1 << 16];
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = '\0';
	fclose(fp);
	return text;
}

static void wait_purged(const struct fixture *f)
{
	ck_assert_msg(fixture_wait_status(f, 0, "\"purge_queue\":0,", 30000) ==
			      0,
		      "the purge queue never emptied");
}

START_TEST(relabel_then_rebalance)
{
	struct fixture f;
	start_cluster(&f, false, NULL);
	static struct keys k;
	put_keys(&f, &k);
	/* Unzoned, rendezvous puts some keys twice in a future zone. */
	int crowded = 0;
	for (int i = 0; i < NKEYS; i++)
		crowded += !one_per_zone(&f, k.name[i], true);
	ck_assert_int_gt(crowded, 0);

	/* Bad zones are refused with a reason and change nothing. */
	char body[160];
	snprintf(body, sizeof(body), "{\"add\":\"%s@\"}", f.vaddr[0]);
	post_volume(&f, body, 400, "empty zone");
	snprintf(body, sizeof(body), "{\"add\":\"%s@a b\"}", f.vaddr[0]);
	post_volume(&f, body, 400, "zone is letters");
	/* Label every volume through the admin API: ids stay. */
	for (int i = 0; i < NVOL; i++) {
		snprintf(body, sizeof(body), "{\"add\":\"%s@z%d\"}", f.vaddr[i],
			 zone_of(i));
		post_volume(&f, body, 200, NULL);
	}
	char url[128];
	snprintf(url, sizeof(url), "%s/_/admin/volumes", f.murl[0]);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	for (int i = 0; i < NVOL; i++) {
		char want[160];
		snprintf(want, sizeof(want),
			 "{\"id\":%d,\"address\":\"%s\",\"zone\":\"z%d\","
			 "\"state\":\"active\"",
			 i + 1, f.vaddr[i], zone_of(i));
		ck_assert_msg(strstr(r.body, want), "no %s in %s", want,
			      r.body);
	}
	harness_resp_free(&r);
	/* Keys keep their records (GET uses them) until rebalance runs. */
	int unbalanced = 0;
	for (int i = 0; i < NKEYS; i++) {
		struct harness_resp m;
		get_meta(&f, k.name[i], &m);
		char bal[32];
		ck_assert_int_eq(
			harness_header(&m, "Key-Balance", bal, sizeof(bal)), 0);
		unbalanced += strcmp(bal, "unbalanced") == 0;
		harness_resp_free(&m);
		read_back(&f, &k, i);
	}
	ck_assert_int_ge(unbalanced, crowded);

	char out[512];
	snprintf(out, sizeof(out), "%s/rebalance.out", f.dir);
	const char *rebal[] = {"-master", f.murl[0], "-c", "4", NULL};
	ck_assert_msg(run("cask-rebalance", rebal, out) == 0, "%s", slurp(out));
	ck_assert_msg(run("cask-rebalance", rebal, out) == 0, "%s", slurp(out));
	ck_assert_msg(strstr(slurp(out), " 0 unbalanced: moved 0,"), "%s",
		      slurp(out));
	wait_purged(&f);
	for (int i = 0; i < NKEYS; i++) {
		ck_assert_msg(one_per_zone(&f, k.name[i], true),
			      "%s is not on one volume per zone", k.name[i]);
		read_back(&f, &k, i);
	}
	ck_assert_int_eq(fixture_stop(&f), 0);
}
END_TEST

START_TEST(bad_volumes_flag)
{
	const char *dir = harness_tmpdir("zones-flag");
	char db[512], out[512];
	snprintf(db, sizeof(db), "%s/m", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	static const char *const bad[] = {"127.0.0.1:1@", "127.0.0.1:1@a b",
					  "127.0.0.1:1@z,127.0.0.1:1@y", "@z"};
	static const char *const why[] = {"empty zone", "zone is letters",
					  "listed twice", "is empty"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = {"-db", db, "-volumes", bad[i], NULL};
		ck_assert_int_eq(run("cask-master", args, out), 2);
		ck_assert_msg(strstr(slurp(out), why[i]), "%s: %s", bad[i],
			      slurp(out));
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("zones");
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, bad_volumes_flag);
	tcase_add_test(tc, zone_loss_loses_no_read);
	tcase_add_test(tc, relabel_then_rebalance);
	tcase_add_test(tc, repair_keeps_one_copy_per_zone);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
