/* Unit tests for the master's command encoding and LMDB state machine. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master/state/cmd.h"
#include "master/state/index.h"
#include "tests/harness.h"

static uint64_t next_index;

/* Applies one command; returns its outcome. */
static int apply(struct idx *ix, const struct cmd *c)
{
	uint8_t b[CMD_MAX_LEN];
	long len = cmd_encode(c, b, sizeof(b));
	ck_assert_int_gt(len, 0);
	struct idx_entry e = {++next_index, 1, b, (size_t)len};
	int result = 99;
	ck_assert_int_eq(idx_apply(ix, &e, 1, &result), 0);
	return result;
}

static struct cmd put_cmd(const char *key, uint32_t v1, uint32_t v2)
{
	struct cmd c = {.type = CMD_PUT,
			.key = key,
			.keylen = strlen(key),
			.size = 7,
			.created_ms = 1234,
			.nvols = 2,
			.vols = {v1, v2}};
	memset(c.md5, 0xab, MD5_LEN);
	return c;
}

static struct cmd key_cmd(enum cmd_type t, const char *key)
{
	return (struct cmd){.type = t, .key = key, .keylen = strlen(key)};
}

static struct idx *fresh(void)
{
	struct idx *ix;
	next_index = 0;
	ck_assert_int_eq(idx_open(harness_tmpdir("idx"), &ix), 0);
	struct cmd v = {
		.type = CMD_VOLUMES, .addrs = "a:1,b:2,c:3", .addrslen = 11};
	ck_assert_int_eq(apply(ix, &v), 0);
	return ix;
}

START_TEST(cmd_roundtrip_and_rejects)
{
	struct cmd c = put_cmd("/k", 1, 2), d;
	uint8_t b[CMD_MAX_LEN];
	long len = cmd_encode(&c, b, sizeof(b));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(cmd_decode(b, (size_t)len, &d), 0);
	ck_assert_int_eq(d.type, CMD_PUT);
	ck_assert_int_eq(d.keylen, 2);
	ck_assert_mem_eq(d.key, "/k", 2);
	ck_assert_uint_eq(d.size, 7);
	ck_assert_uint_eq(d.nvols, 2);
	ck_assert_uint_eq(d.vols[1], 2);
	/* Every truncation and a trailing byte are refused. */
	for (long i = 0; i < len; i++)
		ck_assert_int_eq(cmd_decode(b, (size_t)i, &d), -EINVAL);
	b[len] = 0;
	ck_assert_int_eq(cmd_decode(b, (size_t)len + 1, &d), -EINVAL);
	ck_assert_int_eq(cmd_encode(&c, b, 10), -ENOSPC);
	c.nvols = 0;
	ck_assert_int_eq(cmd_encode(&c, b, sizeof(b)), -EINVAL);
	c = key_cmd(CMD_UNLINK, "");
	ck_assert_int_eq(cmd_encode(&c, b, sizeof(b)), -EINVAL);
	b[0] = 9;
	ck_assert_int_eq(cmd_decode(b, 4, &d), -EINVAL);
}
END_TEST

START_TEST(put_unlink_delete_semantics)
{
	struct idx *ix = fresh();
	struct idx_record r;
	struct cmd p = put_cmd("/a", 1, 2);
	ck_assert_int_eq(apply(ix, &p), 0);
	ck_assert_int_eq(apply(ix, &p), -EEXIST);
	ck_assert_int_eq(idx_get(ix, "/a", 2, &r), 0);
	ck_assert_int_eq(r.state, IDX_LIVE);
	ck_assert_uint_eq(r.nvols, 2);
	ck_assert_uint_eq(r.created_ms, 1234);

	struct cmd protect = key_cmd(CMD_DELETE, "/a");
	protect.protect = true;
	ck_assert_int_eq(apply(ix, &protect), -EPERM);
	struct cmd u = key_cmd(CMD_UNLINK, "/a");
	ck_assert_int_eq(apply(ix, &u), 0);
	ck_assert_int_eq(apply(ix, &u), -ENOENT);
	ck_assert_int_eq(idx_get(ix, "/a", 2, &r), 0);
	ck_assert_int_eq(r.state, IDX_UNLINKED);
	ck_assert_int_eq(apply(ix, &protect), 0);
	ck_assert_int_eq(idx_get(ix, "/a", 2, &r), -ENOENT);
	ck_assert_int_eq(apply(ix, &protect), -ENOENT);

	struct idx_stats st;
	ck_assert_int_eq(idx_stats(ix, &st), 0);
	ck_assert_uint_eq(st.keys, 0);
	ck_assert_uint_eq(st.purge, 2);
	ck_assert_uint_eq(st.applied, next_index);
	idx_close(ix);
}
END_TEST

struct seen {
	uint32_t vol[8];
	uint64_t seq[8];
	int n;
};

static int see(void *arg, const struct idx_purge *p)
{
	struct seen *s = arg;
	s->vol[s->n] = p->vol;
	s->seq[s->n++] = p->seq;
	return s->n == 8 ? IDX_SCAN_STOP : IDX_SCAN_NEXT;
}

START_TEST(purge_queue_sequences)
{
	struct idx *ix = fresh();
	struct cmd p = put_cmd("/k", 1, 2), d = key_cmd(CMD_DELETE, "/k");
	ck_assert_int_eq(apply(ix, &p), 0);
	ck_assert_int_eq(apply(ix, &d), 0);
	uint64_t first = next_index;
	struct seen s = {0};
	ck_assert_int_eq(idx_purge_scan(ix, 0, see, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_uint_eq(s.vol[0], 1);
	ck_assert_uint_eq(s.seq[0], first);

	/* A new PUT to volume 1 cancels that purge (it would delete the
	 * new copy); the purge of volume 2 stays. */
	p = put_cmd("/k", 1, 3);
	ck_assert_int_eq(apply(ix, &p), 0);
	ck_assert_int_eq(idx_purge_pending(ix, 1, "/k", 2, first), -ENOENT);
	ck_assert_int_eq(idx_purge_pending(ix, 2, "/k", 2, first), 0);

	/* A stale PURGE_DONE (older sequence) leaves a newer entry. */
	ck_assert_int_eq(apply(ix, &d), 0);
	struct cmd done = {.type = CMD_PURGE_DONE,
			   .key = "/k",
			   .keylen = 2,
			   .nvols = 1,
			   .vols = {1},
			   .seq = first};
	ck_assert_int_eq(apply(ix, &done), -ENOENT);
	ck_assert_int_eq(idx_purge_pending(ix, 1, "/k", 2, next_index - 1), 0);
	done.vols[0] = 2;
	ck_assert_int_eq(apply(ix, &done), 0);
	ck_assert_int_eq(idx_purge_pending(ix, 2, "/k", 2, first), -ENOENT);
	struct idx_stats st;
	ck_assert_int_eq(idx_stats(ix, &st), 0);
	ck_assert_uint_eq(st.purge, 2); /* volumes 1 and 3 */

	struct cmd add = {.type = CMD_PURGE_ADD,
			  .key = "/x",
			  .keylen = 2,
			  .nvols = 1,
			  .vols = {3}};
	ck_assert_int_eq(apply(ix, &add), 0);
	ck_assert_int_eq(idx_stats(ix, &st), 0);
	ck_assert_uint_eq(st.purge, 3);
	idx_close(ix);
}
END_TEST

START_TEST(replay_is_skipped_and_batch_atomic)
{
	struct idx *ix = fresh();
	uint8_t b[2][CMD_MAX_LEN];
	struct cmd c1 = put_cmd("/r1", 1, 2), c2 = put_cmd("/r2", 1, 2);
	long l1 = cmd_encode(&c1, b[0], CMD_MAX_LEN);
	long l2 = cmd_encode(&c2, b[1], CMD_MAX_LEN);
	struct idx_entry e[2] = {{next_index + 1, 3, b[0], (size_t)l1},
				 {next_index + 2, 3, b[1], (size_t)l2}};
	int res[2];
	ck_assert_int_eq(idx_apply(ix, e, 2, res), 0);
	ck_assert_int_eq(res[0], 0);
	ck_assert_int_eq(res[1], 0);
	/* Applying the same entries again changes nothing (log replay). */
	ck_assert_int_eq(idx_apply(ix, e, 2, res), 0);
	ck_assert_int_eq(res[1], 0);
	struct idx_stats st;
	ck_assert_int_eq(idx_stats(ix, &st), 0);
	ck_assert_uint_eq(st.keys, 2);
	ck_assert_uint_eq(st.applied, next_index + 2);
	ck_assert_uint_eq(st.term, 3);
	/* Garbage is an outcome, not a failure. */
	uint8_t junk[3] = {1, 77, 0};
	struct idx_entry j = {next_index + 3, 3, junk, 3};
	ck_assert_int_eq(idx_apply(ix, &j, 1, res), 0);
	ck_assert_int_eq(res[0], -EINVAL);
	idx_close(ix);
}
END_TEST

struct vseen {
	char addrs[8][IDX_ADDR_MAX];
	bool active[8];
	int n;
};

static int vsee(void *arg, const struct idx_volume *v)
{
	struct vseen *s = arg;
	snprintf(s->addrs[s->n], IDX_ADDR_MAX, "%s", v->addr);
	s->active[s->n++] = v->active;
	return 0;
}

START_TEST(volume_set_keeps_ids)
{
	struct idx *ix = fresh();
	struct cmd v = {
		.type = CMD_VOLUMES, .addrs = "c:3,d:4,d:4", .addrslen = 11};
	ck_assert_int_eq(apply(ix, &v), 0);
	struct vseen s = {0};
	ck_assert_int_eq(idx_volumes(ix, vsee, &s), 0);
	ck_assert_int_eq(s.n, 4);
	ck_assert_str_eq(s.addrs[0], "a:1");
	ck_assert(!s.active[0]);
	ck_assert_str_eq(s.addrs[2], "c:3");
	ck_assert(s.active[2]);
	ck_assert_str_eq(s.addrs[3], "d:4");
	ck_assert(s.active[3]);
	idx_close(ix);
}
END_TEST

struct zseen {
	uint32_t id[8];
	char addr[8][IDX_ADDR_MAX];
	char zone[8][IDX_ZONE_MAX];
	bool active[8];
	int n;
};

static int zsee(void *arg, const struct idx_volume *v)
{
	struct zseen *s = arg;
	s->id[s->n] = v->id;
	snprintf(s->addr[s->n], IDX_ADDR_MAX, "%s", v->addr);
	snprintf(s->zone[s->n], IDX_ZONE_MAX, "%s", v->zone);
	s->active[s->n++] = v->active;
	return 0;
}

static struct zseen zones_now(struct idx *ix)
{
	struct zseen s = {0};
	ck_assert_int_eq(idx_volumes(ix, zsee, &s), 0);
	return s;
}

static struct cmd volumes_cmd(const char *list)
{
	return (struct cmd){
		.type = CMD_VOLUMES, .addrs = list, .addrslen = strlen(list)};
}

static struct cmd volume_cmd(const char *spec, uint8_t state)
{
	return (struct cmd){.type = CMD_VOLUME,
			    .state = state,
			    .addrs = spec,
			    .addrslen = strlen(spec)};
}

/* Volume ids are never reused, so they run out at IDX_VOL_MAX_ID: the
 * next volume is refused rather than one no master could load. */
START_TEST(volume_ids_run_out_cleanly)
{
	struct idx *ix = fresh();
	struct vseen s = {0};
	ck_assert_int_eq(idx_volumes(ix, vsee, &s), 0);
	int have = s.n;
	int n = IDX_VOL_MAX_ID - have;
	struct idx_entry *e = calloc((size_t)n, sizeof(*e));
	uint8_t(*b)[CMD_MAX_LEN] = calloc((size_t)n, CMD_MAX_LEN);
	char(*spec)[32] = calloc((size_t)n, 32);
	int *res = calloc((size_t)n, sizeof(*res));
	ck_assert(e && b && spec && res);
	for (int i = 0; i < n; i++) {
		snprintf(spec[i], 32, "h%d:1", i);
		struct cmd c = volume_cmd(spec[i], IDX_VOL_ACTIVE);
		long len = cmd_encode(&c, b[i], CMD_MAX_LEN);
		ck_assert_int_gt(len, 0);
		e[i] = (struct idx_entry){++next_index, 1, b[i], (size_t)len};
	}
	ck_assert_int_eq(idx_apply(ix, e, (size_t)n, res), 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(res[i], 0);
	struct cmd one = volume_cmd("past:1", IDX_VOL_ACTIVE);
	ck_assert_int_eq(apply(ix, &one), -ENOSPC);
	struct cmd list = volumes_cmd("past:1,past:2");
	ck_assert_int_eq(apply(ix, &list), -ENOSPC);
	/* A known volume still changes state. */
	struct cmd drain = volume_cmd("h0:1", IDX_VOL_DRAINING);
	ck_assert_int_eq(apply(ix, &drain), 0);
	free(e);
	free(b);
	free(spec);
	free(res);
	idx_close(ix);
}
END_TEST

START_TEST(cmd_zone_versions)
{
	uint8_t b[CMD_MAX_LEN];
	struct cmd d;
	/* Without zones, the bytes every earlier build wrote: version 1. */
	struct cmd v = volumes_cmd("a:1,b:2");
	static const uint8_t v1[] = {1,	  6,   7,   0,	 0,   0,  'a',
				     ':', '1', ',', 'b', ':', '2'};
	ck_assert_int_eq(cmd_encode(&v, b, sizeof(b)), sizeof(v1));
	ck_assert_mem_eq(b, v1, sizeof(v1));
	ck_assert_int_eq(cmd_decode(v1, sizeof(v1), &d), 0);
	struct cmd one = volume_cmd("a:1", IDX_VOL_DRAINING);
	static const uint8_t one1[] = {1, 8, 3, 3, 0, 'a', ':', '1'};
	ck_assert_int_eq(cmd_encode(&one, b, sizeof(b)), sizeof(one1));
	ck_assert_mem_eq(b, one1, sizeof(one1));
	/* With a zone: version 2, decoded back to the same spec. */
	v = volumes_cmd("a:1@z1,b:2");
	long len = cmd_encode(&v, b, sizeof(b));
	ck_assert_int_gt(len, 0);
	ck_assert_uint_eq(b[0], 2);
	ck_assert_int_eq(cmd_decode(b, (size_t)len, &d), 0);
	ck_assert_uint_eq(d.addrslen, 10);
	ck_assert(memcmp(d.addrs, "a:1@z1,b:2", 10) == 0);
	/* One encoding per command: an '@' under version 1 (another
	 * build's address) and version 2 without a zone are refused. */
	b[0] = 1;
	ck_assert_int_eq(cmd_decode(b, (size_t)len, &d), -EINVAL);
	uint8_t v2[sizeof(v1)];
	memcpy(v2, v1, sizeof(v1));
	v2[0] = 2;
	ck_assert_int_eq(cmd_decode(v2, sizeof(v2), &d), -EINVAL);
	one = volume_cmd("a:1@rack-2", IDX_VOL_ACTIVE);
	len = cmd_encode(&one, b, sizeof(b));
	ck_assert_int_gt(len, 0);
	ck_assert_uint_eq(b[0], 2);
	ck_assert_int_eq(cmd_decode(b, (size_t)len, &d), 0);
	ck_assert_uint_eq(d.type, CMD_VOLUME);
	ck_assert_uint_eq(d.addrslen, 10);
	/* Bad zones never encode. */
	static const char *const bad[] = {"a:1@", "a:1@x y", "@z", "a:1,b:2@"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cmd c = volumes_cmd(bad[i]);
		ck_assert_int_eq(cmd_encode(&c, b, sizeof(b)), -EINVAL);
		if (!strchr(bad[i], ',')) {
			c = volume_cmd(bad[i], IDX_VOL_ACTIVE);
			ck_assert_int_eq(cmd_encode(&c, b, sizeof(b)), -EINVAL);
		}
	}
	/* Other commands keep version 1. */
	struct cmd p = put_cmd("/k", 1, 2);
	ck_assert_int_gt(cmd_encode(&p, b, sizeof(b)), 0);
	ck_assert_uint_eq(b[0], 1);
}
END_TEST

START_TEST(volume_zones_relabel)
{
	struct idx *ix = fresh(); /* a:1, b:2, c:3, no zones */
	struct zseen s = zones_now(ix);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.zone[0], "");
	/* Labelling keeps every id: volumes are matched by host:port. */
	struct cmd v = volumes_cmd("a:1@z1,b:2@z2,c:3@z3,d:4@z3");
	ck_assert_int_eq(apply(ix, &v), 0);
	s = zones_now(ix);
	ck_assert_int_eq(s.n, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(s.id[i], (uint32_t)i + 1);
		ck_assert(s.active[i]);
	}
	ck_assert_str_eq(s.addr[0], "a:1");
	ck_assert_str_eq(s.zone[0], "z1");
	ck_assert_str_eq(s.zone[3], "z3");
	/* Relabel, unlabel, retire: a retired volume keeps its zone. */
	v = volumes_cmd("a:1@z9,b:2,c:3@z3");
	ck_assert_int_eq(apply(ix, &v), 0);
	s = zones_now(ix);
	ck_assert_str_eq(s.zone[0], "z9");
	ck_assert_str_eq(s.zone[1], "");
	ck_assert_str_eq(s.zone[2], "z3");
	ck_assert_str_eq(s.zone[3], "z3");
	ck_assert(!s.active[3]);
	/* CMD_VOLUME: @zone sets it, none keeps it, a new one gets an id. */
	struct cmd one = volume_cmd("b:2@zb", IDX_VOL_ACTIVE);
	ck_assert_int_eq(apply(ix, &one), 0);
	one = volume_cmd("b:2", IDX_VOL_DRAINING);
	ck_assert_int_eq(apply(ix, &one), 0);
	one = volume_cmd("e:5@ze", IDX_VOL_ACTIVE);
	ck_assert_int_eq(apply(ix, &one), 0);
	s = zones_now(ix);
	ck_assert_int_eq(s.n, 5);
	ck_assert_uint_eq(s.id[1], 2);
	ck_assert_str_eq(s.zone[1], "zb");
	ck_assert(!s.active[1]);
	ck_assert_uint_eq(s.id[4], 5);
	ck_assert_str_eq(s.addr[4], "e:5");
	ck_assert_str_eq(s.zone[4], "ze");
	idx_close(ix);
}
END_TEST

/* The raw value of volume id in the index at dir (closed). */
static size_t raw_volume(const char *dir, uint32_t id, uint8_t *out,
			 const uint8_t *put, size_t putlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/state", dir);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, 1ull << 30), 0);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "volumes", 0, &dbi), 0);
	uint8_t k[4] = {(uint8_t)(id >> 24), (uint8_t)(id >> 16),
			(uint8_t)(id >> 8), (uint8_t)id};
	MDB_val kv = {4, k}, vv = {putlen, (void *)put};
	size_t n = 0;
	if (put) {
		ck_assert_int_eq(mdb_put(txn, dbi, &kv, &vv, 0), 0);
	} else {
		ck_assert_int_eq(mdb_get(txn, dbi, &kv, &vv), 0);
		memcpy(out, vv.mv_data, vv.mv_size);
		n = vv.mv_size;
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	return n;
}

START_TEST(volume_zone_format_compatible)
{
	const char *dir = harness_tmpdir("idx");
	struct idx *ix;
	next_index = 0;
	ck_assert_int_eq(idx_open(dir, &ix), 0);
	struct cmd v = volumes_cmd("a:1,b:2@z2");
	ck_assert_int_eq(apply(ix, &v), 0);
	idx_close(ix);
	/* No zone: state ‖ address, what the build before zones wrote. */
	uint8_t b[512];
	static const uint8_t plain[] = {IDX_VOL_ACTIVE, 'a', ':', '1'};
	ck_assert_uint_eq(raw_volume(dir, 1, b, NULL, 0), sizeof(plain));
	ck_assert_mem_eq(b, plain, sizeof(plain));
	static const uint8_t zoned[] = {
		IDX_VOL_ACTIVE, 'b', ':', '2', 0, 'z', '2'};
	ck_assert_uint_eq(raw_volume(dir, 2, b, NULL, 0), sizeof(zoned));
	ck_assert_mem_eq(b, zoned, sizeof(zoned));
	/* An old build's value opens as a volume without a zone. */
	static const uint8_t old[] = {IDX_VOL_DRAINING, 'x', ':', '9'};
	raw_volume(dir, 9, NULL, old, sizeof(old));
	ck_assert_int_eq(idx_open(dir, &ix), 0);
	struct zseen s = zones_now(ix);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.addr[2], "x:9");
	ck_assert_str_eq(s.zone[2], "");
	ck_assert_str_eq(s.zone[1], "z2");
	idx_close(ix);
}
END_TEST

static int collect(void *arg, const char *key, size_t len)
{
	char *out = arg;
	strncat(out, key, len);
	strcat(out, " ");
	return 0;
}

START_TEST(list_pages_and_limits)
{
	struct idx *ix = fresh();
	const char *keys[] = {"/a", "/b1", "/b2", "/b3", "/c"};
	for (int i = 0; i < 5; i++) {
		struct cmd p = put_cmd(keys[i], 1, 2);
		ck_assert_int_eq(apply(ix, &p), 0);
	}
	struct cmd u = key_cmd(CMD_UNLINK, "/b2");
	ck_assert_int_eq(apply(ix, &u), 0);
	char out[256] = "";
	struct idx_list l = {.prefix = "/b",
			     .prefixlen = 2,
			     .limit = 1,
			     .max = 100,
			     .fn = collect,
			     .arg = out};
	ck_assert_int_eq(idx_list(ix, &l), 0);
	ck_assert_str_eq(out, "/b1 ");
	ck_assert_str_eq(l.next, "/b3");
	out[0] = '\0';
	l.start = "/b3";
	l.startlen = 3;
	ck_assert_int_eq(idx_list(ix, &l), 0);
	ck_assert_str_eq(out, "/b3 ");
	ck_assert_uint_eq(l.nextlen, 0);
	/* A start before the prefix stays inside it. */
	out[0] = '\0';
	l.start = "/a";
	l.startlen = 2;
	l.limit = 0;
	ck_assert_int_eq(idx_list(ix, &l), 0);
	ck_assert_str_eq(out, "/b1 /b3 ");
	out[0] = '\0';
	l.unlinked = true;
	ck_assert_int_eq(idx_list(ix, &l), 0);
	ck_assert_str_eq(out, "/b2 ");
	/* Unbounded listings over max are refused. */
	struct idx_list all = {.prefix = "/",
			       .prefixlen = 1,
			       .max = 3,
			       .fn = collect,
			       .arg = out};
	ck_assert_int_eq(idx_list(ix, &all), -E2BIG);
	all.max = 4;
	out[0] = '\0';
	ck_assert_int_eq(idx_list(ix, &all), 0);
	ck_assert_str_eq(out, "/a /b1 /b3 /c ");
	idx_close(ix);
}
END_TEST

START_TEST(survives_reopen)
{
	const char *dir = harness_tmpdir("idx");
	struct idx *ix;
	next_index = 0;
	ck_assert_int_eq(idx_open(dir, &ix), 0);
	struct cmd p = put_cmd("/keep", 1, 2);
	ck_assert_int_eq(apply(ix, &p), 0);
	idx_close(ix);
	ck_assert_int_eq(idx_open(dir, &ix), 0);
	struct idx_record r;
	ck_assert_int_eq(idx_get(ix, "/keep", 5, &r), 0);
	struct idx_stats st;
	ck_assert_int_eq(idx_stats(ix, &st), 0);
	ck_assert_uint_eq(st.applied, 1);
	idx_close(ix);
}
END_TEST

static struct cmd ident_cmd(uint32_t vol, uint8_t fill)
{
	struct cmd c = {.type = CMD_VOL_IDENT, .nvols = 1, .vols = {vol}};
	memset(c.md5, fill, MD5_LEN);
	return c;
}

static struct cmd health_cmd(uint32_t vol, enum cmd_vol_health h, uint8_t fill)
{
	struct cmd c = {.type = CMD_VOL_HEALTH,
			.nvols = 1,
			.vols = {vol},
			.state = (uint8_t)h};
	memset(c.md5, fill, MD5_LEN);
	return c;
}

static struct cmd lost_cmd(const char *key, uint32_t vol, uint8_t md5fill)
{
	struct cmd c = {.type = CMD_LOST,
			.key = key,
			.keylen = strlen(key),
			.state = CMD_LOST_CORRUPT,
			.nvols = 1,
			.vols = {vol}};
	memset(c.expect_md5, md5fill, MD5_LEN);
	return c;
}

static struct idx_copies copies(struct idx *ix, const char *key)
{
	struct idx_record r;
	struct idx_copies cp;
	ck_assert_int_eq(idx_get_copies(ix, key, strlen(key), &r, &cp), 0);
	return cp;
}

START_TEST(heal_cmds_roundtrip)
{
	struct cmd cs[] = {ident_cmd(7, 0x11),
			   health_cmd(7, CMD_VH_VERIFIED, 0x22),
			   lost_cmd("/k", 3, 0x33)};
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		uint8_t b[CMD_MAX_LEN];
		struct cmd d;
		long len = cmd_encode(&cs[i], b, sizeof(b));
		ck_assert_int_gt(len, 0);
		ck_assert_int_eq(cmd_decode(b, (size_t)len, &d), 0);
		ck_assert_int_eq(d.type, cs[i].type);
		ck_assert_uint_eq(d.nvols, 1);
		ck_assert_uint_eq(d.vols[0], cs[i].vols[0]);
		ck_assert_uint_eq(d.state, cs[i].state);
		ck_assert_mem_eq(d.md5, cs[i].md5, MD5_LEN);
		ck_assert_mem_eq(d.expect_md5, cs[i].expect_md5, MD5_LEN);
		ck_assert_uint_eq(d.keylen, cs[i].keylen);
		for (long j = 0; j < len; j++)
			ck_assert_int_eq(cmd_decode(b, (size_t)j, &d), -EINVAL);
	}
	uint8_t b[CMD_MAX_LEN];
	struct cmd bad = health_cmd(1, CMD_VH_VERIFIED, 0);
	bad.state = 4;
	ck_assert_int_eq(cmd_encode(&bad, b, sizeof(b)), -EINVAL);
	bad = lost_cmd("/k", 1, 0);
	bad.nvols = 0;
	ck_assert_int_eq(cmd_encode(&bad, b, sizeof(b)), -EINVAL);
}
END_TEST

START_TEST(lost_marks_follow_the_record)
{
	struct idx *ix = fresh();
	struct cmd p = put_cmd("/a", 1, 2);
	ck_assert_int_eq(apply(ix, &p), 0);
	struct idx_copies cp = copies(ix, "/a");
	ck_assert_uint_eq(cp.lost | cp.unverified, 0);
	ck_assert(!idx_damaged_any(ix));
	/* A mark needs the record's md5, and only named copies are marked. */
	struct cmd l = lost_cmd("/a", 2, 0x01);
	ck_assert_int_eq(apply(ix, &l), -ESTALE);
	l = lost_cmd("/nope", 2, 0xab);
	ck_assert_int_eq(apply(ix, &l), -ESTALE);
	l = lost_cmd("/a", 3, 0xab);
	ck_assert_int_eq(apply(ix, &l), 0);
	ck_assert(!idx_damaged_any(ix));
	l = lost_cmd("/a", 2, 0xab);
	ck_assert_int_eq(apply(ix, &l), 0);
	ck_assert(idx_damaged_any(ix));
	cp = copies(ix, "/a");
	ck_assert_uint_eq(cp.lost, 2u);
	struct idx_stats st;
	ck_assert_int_eq(idx_stats(ix, &st), 0);
	ck_assert_uint_eq(st.lost, 1);
	/* A record that replaces the lost copy drops the mark. */
	struct cmd r = {.type = CMD_RECORD,
			.key = "/a",
			.keylen = 2,
			.state = IDX_LIVE,
			.size = 7,
			.expect = CMD_EXPECT_MD5,
			.written = true,
			.purge_dropped = true,
			.nvols = 2,
			.vols = {1, 3}};
	memset(r.md5, 0xab, MD5_LEN);
	memset(r.expect_md5, 0xab, MD5_LEN);
	ck_assert_int_eq(apply(ix, &r), 0);
	ck_assert_uint_eq(copies(ix, "/a").lost, 0);
	ck_assert(!idx_damaged_any(ix));
	ck_assert_int_eq(idx_purge_pending(ix, 2, "/a", 2, next_index), 0);
	/* DELETE drops marks too. */
	l = lost_cmd("/a", 3, 0xab);
	ck_assert_int_eq(apply(ix, &l), 0);
	ck_assert(idx_damaged_any(ix));
	struct cmd d = key_cmd(CMD_DELETE, "/a");
	ck_assert_int_eq(apply(ix, &d), 0);
	ck_assert(!idx_damaged_any(ix));
	ck_assert_int_eq(idx_stats(ix, &st), 0);
	ck_assert_uint_eq(st.lost, 0);
	idx_close(ix);
}
END_TEST

static int collect_damaged(void *arg, const char *key, size_t keylen,
			   const struct idx_record *r,
			   const struct idx_copies *cp)
{
	char *out = arg;
	(void)r;
	snprintf(out + strlen(out), 64, "%.*s:%u/%u ", (int)keylen, key,
		 cp->lost, cp->unverified);
	return 0;
}

START_TEST(identity_and_dead_volumes)
{
	struct idx *ix = fresh();
	struct cmd p = put_cmd("/a", 1, 2), q = put_cmd("/b", 2, 3);
	ck_assert_int_eq(apply(ix, &p), 0);
	ck_assert_int_eq(apply(ix, &q), 0);
	struct idx_vol_health h;
	ck_assert_int_eq(idx_vol_health(ix, 2, &h), -ENOENT);
	struct cmd hc = health_cmd(2, CMD_VH_DEAD, 0);
	ck_assert_int_eq(apply(ix, &hc), -ENOENT);
	/* The first identity is trusted; the same again changes nothing. */
	struct cmd ic = ident_cmd(2, 0x11);
	ck_assert_int_eq(apply(ix, &ic), 0);
	ck_assert_int_eq(apply(ix, &ic), 0);
	ck_assert_int_eq(idx_vol_health(ix, 2, &h), 0);
	ck_assert(!h.unverified && !h.dead);
	ck_assert(!idx_damaged_any(ix));
	struct cmd l = lost_cmd("/b", 2, 0xab);
	ck_assert_int_eq(apply(ix, &l), 0);
	/* A new identity: unverified, and the old disk's marks are gone. */
	ic = ident_cmd(2, 0x22);
	ck_assert_int_eq(apply(ix, &ic), 0);
	ck_assert_int_eq(idx_vol_health(ix, 2, &h), 0);
	ck_assert(h.unverified && !h.dead);
	ck_assert_uint_eq(h.ident[0], 0x22);
	ck_assert_uint_eq(copies(ix, "/a").unverified, 2u);
	ck_assert_uint_eq(copies(ix, "/b").unverified, 1u);
	ck_assert_uint_eq(copies(ix, "/b").lost, 0);
	char out[256] = "";
	ck_assert_int_eq(idx_damaged(ix, NULL, 0, collect_damaged, out), 0);
	ck_assert_str_eq(out, "/a:0/2 /b:0/1 ");
	/* Verification of another identity is stale. */
	hc = health_cmd(2, CMD_VH_VERIFIED, 0x11);
	ck_assert_int_eq(apply(ix, &hc), -ESTALE);
	hc = health_cmd(2, CMD_VH_VERIFIED, 0x22);
	ck_assert_int_eq(apply(ix, &hc), 0);
	ck_assert(!idx_damaged_any(ix));
	/* Dead: every copy on it counts as lost, until alive again. */
	ic = ident_cmd(3, 0x33);
	ck_assert_int_eq(apply(ix, &ic), 0);
	hc = health_cmd(3, CMD_VH_DEAD, 0);
	ck_assert_int_eq(apply(ix, &hc), 0);
	ck_assert_uint_eq(copies(ix, "/b").lost, 2u);
	out[0] = '\0';
	ck_assert_int_eq(idx_damaged(ix, "/b", 2, collect_damaged, out), 0);
	ck_assert_str_eq(out, "/b:2/0 ");
	hc = health_cmd(3, CMD_VH_ALIVE, 0);
	ck_assert_int_eq(apply(ix, &hc), 0);
	ck_assert(!idx_damaged_any(ix));
	idx_close(ix);
}
END_TEST

START_TEST(heal_state_survives_reopen)
{
	const char *dir = harness_tmpdir("idx");
	struct idx *ix;
	next_index = 0;
	ck_assert_int_eq(idx_open(dir, &ix), 0);
	struct cmd p = put_cmd("/a", 1, 2);
	ck_assert_int_eq(apply(ix, &p), 0);
	struct cmd l = lost_cmd("/a", 1, 0xab);
	ck_assert_int_eq(apply(ix, &l), 0);
	idx_close(ix);
	ck_assert_int_eq(idx_open(dir, &ix), 0);
	ck_assert(idx_damaged_any(ix));
	ck_assert_uint_eq(copies(ix, "/a").lost, 1u);
	idx_close(ix);
}
END_TEST

/* Copies ix into a snapshot file and installs it into `into`. */
static void snapshot_into(struct idx *ix, struct idx *into)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/snap", harness_tmpdir("snap"));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(idx_copy(ix, fd), 0);
	close(fd);
	ck_assert_int_eq(idx_install(into, path), 0);
}

START_TEST(heal_state_travels_in_snapshots)
{
	struct idx *a = fresh();
	struct cmd p = put_cmd("/a", 1, 2), q = put_cmd("/b", 2, 3);
	ck_assert_int_eq(apply(a, &p), 0);
	ck_assert_int_eq(apply(a, &q), 0);
	struct cmd l = lost_cmd("/a", 1, 0xab);
	ck_assert_int_eq(apply(a, &l), 0);
	struct cmd ic = ident_cmd(3, 0x33), hc = health_cmd(3, CMD_VH_DEAD, 0);
	ck_assert_int_eq(apply(a, &ic), 0);
	ck_assert_int_eq(apply(a, &hc), 0);
	struct idx *b = fresh();
	ck_assert(!idx_damaged_any(b));
	snapshot_into(a, b);
	ck_assert(idx_damaged_any(b));
	ck_assert_uint_eq(copies(b, "/a").lost, 1u);
	ck_assert_uint_eq(copies(b, "/b").lost, 2u);
	struct idx_vol_health h;
	ck_assert_int_eq(idx_vol_health(b, 3, &h), 0);
	ck_assert(h.dead);
	/* A snapshot without marks clears them, counts included. */
	struct idx *c = fresh();
	snapshot_into(c, b);
	ck_assert(!idx_damaged_any(b));
	ck_assert_int_eq(idx_vol_health(b, 3, &h), -ENOENT);
	idx_close(a);
	idx_close(b);
	idx_close(c);
}
END_TEST

START_TEST(put_over_unlinked_drops_marks)
{
	struct idx *ix = fresh();
	struct cmd p = put_cmd("/a", 1, 2);
	ck_assert_int_eq(apply(ix, &p), 0);
	struct cmd l = lost_cmd("/a", 1, 0xab);
	ck_assert_int_eq(apply(ix, &l), 0);
	struct cmd u = key_cmd(CMD_UNLINK, "/a");
	ck_assert_int_eq(apply(ix, &u), 0);
	ck_assert_uint_eq(copies(ix, "/a").lost, 1u);
	/* A new value over the unlinked record rewrote volume 1's copy. */
	p = put_cmd("/a", 1, 3);
	ck_assert_int_eq(apply(ix, &p), 0);
	ck_assert_uint_eq(copies(ix, "/a").lost, 0);
	ck_assert(!idx_damaged_any(ix));
	idx_close(ix);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("master_index");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, cmd_roundtrip_and_rejects);
	tcase_add_test(tc, put_unlink_delete_semantics);
	tcase_add_test(tc, purge_queue_sequences);
	tcase_add_test(tc, replay_is_skipped_and_batch_atomic);
	tcase_add_test(tc, volume_set_keeps_ids);
	tcase_add_test(tc, volume_ids_run_out_cleanly);
	tcase_add_test(tc, cmd_zone_versions);
	tcase_add_test(tc, volume_zones_relabel);
	tcase_add_test(tc, volume_zone_format_compatible);
	tcase_add_test(tc, list_pages_and_limits);
	tcase_add_test(tc, survives_reopen);
	tcase_add_test(tc, heal_cmds_roundtrip);
	tcase_add_test(tc, lost_marks_follow_the_record);
	tcase_add_test(tc, identity_and_dead_volumes);
	tcase_add_test(tc, heal_state_survives_reopen);
	tcase_add_test(tc, heal_state_travels_in_snapshots);
	tcase_add_test(tc, put_over_unlinked_drops_marks);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
