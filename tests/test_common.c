/* Unit tests for common/: flags, keys, CRC32C, md5, buffers, placement,
 * the errno → HTTP table, HTTP header values, byte order and clocks. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/be.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/flags.h"
#include "common/httperr.h"
#include "common/httphdr.h"
#include "common/key.h"
#include "common/le.h"
#include "common/md5.h"
#include "common/mhdpage.h"
#include "common/placement.h"

START_TEST(crc32c_known_vectors)
{
	/* RFC 3720 B.4 test vectors. */
	unsigned char zeros[32] = {0}, ones[32], inc[32];
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	ck_assert_uint_eq(crc32c_update(0, zeros, 32), 0x8a9136aa);
	ck_assert_uint_eq(crc32c_update(0, ones, 32), 0x62a8ab43);
	ck_assert_uint_eq(crc32c_update(0, inc, 32), 0x46dd794e);
	ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xe3069283);
	/* Incremental equals one-shot, at every split point. */
	for (size_t i = 0; i <= 32; i++)
		ck_assert_uint_eq(crc32c_update(crc32c_update(0, inc, i),
						inc + i, 32 - i),
				  0x46dd794e);
}
END_TEST

START_TEST(md5_known_vectors)
{
	uint8_t d[MD5_LEN];
	char hex[33];
	ck_assert_int_eq(md5_buf("bigswag", 7, d), 0);
	md5_hex(d, hex);
	ck_assert_str_eq(hex, "df86f5729538f57b0c5312f673abefe4");
	ck_assert_int_eq(md5_buf("", 0, d), 0);
	md5_hex(d, hex);
	ck_assert_str_eq(hex, "d41d8cd98f00b204e9800998ecf8427e");
	uint8_t back[MD5_LEN];
	ck_assert_int_eq(md5_from_hex(hex, back), 0);
	ck_assert_mem_eq(back, d, MD5_LEN);
	ck_assert_int_eq(md5_from_hex("zz", back), -EINVAL);
}
END_TEST

START_TEST(key_validation)
{
	char k[KEY_MAX + 1];
	const char *why = NULL;
	ck_assert_int_eq(key_from_path("/wehave", k, &why), 7);
	ck_assert_str_eq(k, "/wehave");
	ck_assert_int_eq(key_from_path("/a%20b", k, &why), 4);
	ck_assert_str_eq(k, "/a b");
	ck_assert_int_eq(key_from_path("/a%2", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a%zz", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a%00b", k, &why), -EINVAL);
	ck_assert_str_eq(why, "key contains a NUL byte");
	ck_assert_int_eq(key_from_path("/_/status", k, &why), -EPERM);
	ck_assert_int_eq(key_from_path("/", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("noslash", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a/../b", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a/./b", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a/..b", k, &why), 6);

	char longp[2000];
	memset(longp, 'x', sizeof(longp));
	longp[0] = '/';
	longp[511] = '\0';
	ck_assert_int_eq(key_from_path(longp, k, &why), 511);
	longp[511] = 'x';
	longp[512] = '\0';
	ck_assert_int_eq(key_from_path(longp, k, &why), -ENAMETOOLONG);
	longp[1999] = '\0';
	ck_assert_int_eq(key_from_path(longp, k, &why), -ENAMETOOLONG);
	/* %41 decodes to one byte, so 3*511 bytes of escapes still fit. */
	char esc[3 * 510 + 2] = "/";
	for (int i = 0; i < 510; i++)
		memcpy(esc + 1 + 3 * i, "%41", 3);
	esc[sizeof(esc) - 1] = '\0';
	ck_assert_int_eq(key_from_path(esc, k, &why), 511);
}
END_TEST

START_TEST(pct_roundtrip)
{
	char enc[64], dec[64];
	const char in[] = "/a b/\xff?&%";
	long n = key_pct_encode(in, sizeof(in) - 1, enc, sizeof(enc));
	ck_assert_str_eq(enc, "/a%20b/%FF%3F%26%25");
	long m = key_pct_decode(enc, (size_t)n, dec, sizeof(dec));
	ck_assert_int_eq(m, (long)sizeof(in) - 1);
	ck_assert_mem_eq(dec, in, sizeof(in) - 1);
	ck_assert_int_eq(key_pct_encode(in, sizeof(in) - 1, enc, 4),
			 -ENAMETOOLONG);
}
END_TEST

START_TEST(flags_forms)
{
	const char *dir = NULL;
	long port = 0;
	uint64_t size = 0;
	bool protect = true;
	struct flag f[] = {
		{"dir", FLAG_STR, &dir, "/tmp/x", "data"},
		{"port", FLAG_INT, &port, "3000", "port"},
		{"segment-size", FLAG_SIZE, &size, "1G", "size"},
		{"protect", FLAG_BOOL, &protect, NULL, "protect"},
		{0},
	};
	char *a1[] = {"p", NULL};
	ck_assert_int_eq(flags_parse(f, 1, a1, ""), 0);
	ck_assert_str_eq(dir, "/tmp/x");
	ck_assert_int_eq(port, 3000);
	ck_assert_uint_eq(size, 1ull << 30);
	ck_assert(!protect);

	char *a2[] = {"p",   "-port",	 "3001", "--dir=/srv", "-segment-size",
		      "64M", "-protect", NULL};
	ck_assert_int_eq(flags_parse(f, 7, a2, ""), 0);
	ck_assert_int_eq(port, 3001);
	ck_assert_str_eq(dir, "/srv");
	ck_assert_uint_eq(size, 64ull << 20);
	ck_assert(protect);

	char *a3[] = {"p", "-port", "nope", NULL};
	ck_assert_int_eq(flags_parse(f, 3, a3, ""), -EINVAL);
	char *a4[] = {"p", "-bogus", NULL};
	ck_assert_int_eq(flags_parse(f, 2, a4, ""), -EINVAL);
	char *a5[] = {"p", "-segment-size", "12Q", NULL};
	ck_assert_int_eq(flags_parse(f, 3, a5, ""), -EINVAL);
	char *a6[] = {"p", "-protect=false", NULL};
	ck_assert_int_eq(flags_parse(f, 2, a6, ""), 0);
	ck_assert(!protect);
}
END_TEST

START_TEST(buf_json)
{
	struct buf b = {0};
	buf_json_string(&b, "a\"b\\c\n\x01", 7);
	buf_printf(&b, ",%d", 42);
	ck_assert(!buf_failed(&b));
	ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\",42");
	char *s = buf_steal(&b);
	ck_assert_ptr_null(b.data);
	free(s);
}
END_TEST

/* A buffer nothing was appended to still hands over a C string. The
 * block freed just before is what malloc hands out next, so without the
 * terminator the string would start with its leftovers. */
START_TEST(buf_steal_empty)
{
	char *junk = malloc(256);
	ck_assert_ptr_nonnull(junk);
	memset(junk, 'x', 256);
	free(junk);
	struct buf b = {0};
	char *s = buf_steal(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	ck_assert_ptr_null(b.data);
	free(s);
}
END_TEST

/* More volumes than the 64 the read path once judged: a volume set as a
 * caller keeps it, named through placement_addr_fn. */
#define MANY_VOLS 100

struct vol_set {
	char addr[MANY_VOLS][32];
};

static const char *set_addr(const void *set, size_t i, const char **zone)
{
	(void)zone; /* no zones: pure rendezvous */
	return ((const struct vol_set *)set)->addr[i];
}

/* The placement computed the slow way: the three best md5(key ‖ addr). */
static void brute_top3(const struct vol_set *vs, const char *key, size_t out[3])
{
	uint8_t best[3][MD5_LEN] = {{0}};
	bool have[3] = {false, false, false};
	for (size_t i = 0; i < MANY_VOLS; i++) {
		struct md5 m;
		uint8_t s[MD5_LEN];
		ck_assert_int_eq(md5_init(&m), 0);
		md5_update(&m, key, strlen(key));
		md5_update(&m, vs->addr[i], strlen(vs->addr[i]));
		md5_final(&m, s);
		for (int k = 0; k < 3; k++) {
			if (have[k] && memcmp(s, best[k], MD5_LEN) <= 0)
				continue;
			for (int j = 2; j > k; j--) {
				memcpy(best[j], best[j - 1], MD5_LEN);
				out[j] = out[j - 1];
				have[j] = have[j - 1];
			}
			memcpy(best[k], s, MD5_LEN);
			out[k] = i;
			have[k] = true;
			break;
		}
	}
}

START_TEST(placement_many_volumes)
{
	static struct vol_set vs;
	for (int i = 0; i < MANY_VOLS; i++)
		snprintf(vs.addr[i], sizeof(vs.addr[i]), "10.0.%d.%d:3001",
			 i / 10, i % 10);
	unsigned beyond = 0;
	for (int k = 0; k < 300; k++) {
		char key[32];
		snprintf(key, sizeof(key), "/many/%d", k);
		size_t want[3], got[3];
		brute_top3(&vs, key, want);
		ck_assert_int_eq(placement_pick_set(key, strlen(key), &vs,
						    MANY_VOLS, set_addr, 3,
						    got),
				 3);
		for (int i = 0; i < 3; i++)
			ck_assert_uint_eq(got[i], want[i]);
		ck_assert_int_eq(placement_balanced(key, strlen(key), &vs,
						    MANY_VOLS, set_addr, 3,
						    want, 3),
				 1);
		/* The same volumes in another order, two of them, or a
		 * volume that is not a winner: all unbalanced. */
		size_t swapped[3] = {want[1], want[0], want[2]};
		ck_assert_int_eq(placement_balanced(key, strlen(key), &vs,
						    MANY_VOLS, set_addr, 3,
						    swapped, 3),
				 0);
		ck_assert_int_eq(placement_balanced(key, strlen(key), &vs,
						    MANY_VOLS, set_addr, 3,
						    want, 2),
				 0);
		size_t other[3] = {want[0], want[1], 0};
		for (size_t v = 0; other[2] == want[0] || other[2] == want[1] ||
				   other[2] == want[2];
		     v++)
			other[2] = v;
		ck_assert_int_eq(placement_balanced(key, strlen(key), &vs,
						    MANY_VOLS, set_addr, 3,
						    other, 3),
				 0);
		/* A key whose best volume lies past the 64th is one the
		 * capped read path called balanced whatever its record. */
		if (want[0] >= 64) {
			beyond++;
			size_t low[3] = {0, 1, 2};
			ck_assert_int_eq(placement_balanced(key, strlen(key),
							    &vs, MANY_VOLS,
							    set_addr, 3, low,
							    3),
					 0);
		}
	}
	ck_assert_uint_gt(beyond, 0);
	/* The array form is the same placement. */
	const char *addrs[MANY_VOLS];
	for (int i = 0; i < MANY_VOLS; i++)
		addrs[i] = vs.addr[i];
	size_t a[3], b[3];
	ck_assert_int_eq(placement_pick("/k", 2, addrs, NULL, MANY_VOLS, 3, a),
			 3);
	ck_assert_int_eq(
		placement_pick_set("/k", 2, &vs, MANY_VOLS, set_addr, 3, b), 3);
	ck_assert_mem_eq(a, b, sizeof(a));
	/* Fewer volumes than wanted: every one, and balanced on all. */
	ck_assert_int_eq(placement_pick_set("/k", 2, &vs, 2, set_addr, 3, a),
			 2);
	ck_assert_int_eq(placement_balanced("/k", 2, &vs, 2, set_addr, 3, a, 2),
			 1);
}
END_TEST

/* Volumes with zones, for the failure-domain rule (placement.h). */
#define ZVOLS_MAX 16

struct zset {
	size_t n;
	char addr[ZVOLS_MAX][32];
	char zone[ZVOLS_MAX][8];
};

static const char *zset_addr(const void *set, size_t i, const char **zone)
{
	const struct zset *z = set;
	*zone = z->zone[i];
	return z->addr[i];
}

static void zset_add(struct zset *z, const char *addr, const char *zone)
{
	ck_assert_uint_lt(z->n, ZVOLS_MAX);
	snprintf(z->addr[z->n], sizeof(z->addr[0]), "%s", addr);
	snprintf(z->zone[z->n], sizeof(z->zone[0]), "%s", zone);
	z->n++;
}

static void score_of(const char *key, const char *addr, uint8_t out[MD5_LEN])
{
	struct md5 m;
	ck_assert_int_eq(md5_init(&m), 0);
	md5_update(&m, key, strlen(key));
	md5_update(&m, addr, strlen(addr));
	md5_final(&m, out);
}

/* The set's indexes sorted by score, best first: the slow way. */
static void by_score(const struct zset *z, const char *key, size_t *out)
{
	uint8_t s[ZVOLS_MAX][MD5_LEN];
	for (size_t i = 0; i < z->n; i++) {
		score_of(key, z->addr[i], s[i]);
		out[i] = i;
	}
	for (size_t i = 1; i < z->n; i++)
		for (size_t j = i;
		     j > 0 && memcmp(s[out[j]], s[out[j - 1]], MD5_LEN) > 0;
		     j--) {
			size_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
}

static size_t host_of(const char *addr)
{
	return (size_t)(strrchr(addr, ':') - addr);
}

static bool same_host(const struct zset *z, size_t a, size_t b)
{
	return host_of(z->addr[a]) == host_of(z->addr[b]) &&
	       memcmp(z->addr[a], z->addr[b], host_of(z->addr[a])) == 0;
}

START_TEST(placement_zones_one_per_zone)
{
	/* 3 zones × 2 volumes, on one host as in the tests, or each on
	 * its own. */
	for (int hosts = 0; hosts < 2; hosts++) {
		struct zset z = {0};
		for (int i = 0; i < 6; i++) {
			char a[32], zone[8];
			snprintf(a, sizeof(a), "10.0.0.%d:%d", hosts ? i : 1,
				 3001 + i);
			snprintf(zone, sizeof(zone), "z%d", i / 2);
			zset_add(&z, a, zone);
		}
		for (int k = 0; k < 500; k++) {
			char key[32];
			snprintf(key, sizeof(key), "/zone/%d", k);
			size_t got[6], order[6];
			ck_assert_int_eq(placement_pick_set(key, strlen(key),
							    &z, z.n, zset_addr,
							    3, got),
					 3);
			/* The best volume of each zone, ranked by score. */
			by_score(&z, key, order);
			bool seen[3] = {false, false, false};
			size_t best[3], nb = 0;
			for (size_t i = 0; i < 6; i++) {
				int zi = z.zone[order[i]][1] - '0';
				if (!seen[zi]) {
					seen[zi] = true;
					best[nb++] = order[i];
				}
			}
			ck_assert_uint_eq(nb, 3);
			for (int i = 0; i < 3; i++)
				ck_assert_uint_eq(got[i], best[i]);
			ck_assert_int_eq(placement_balanced(key, strlen(key),
							    &z, z.n, zset_addr,
							    3, got, 3),
					 1);
			/* Fewer replicas are a prefix of more. */
			size_t all[6];
			ck_assert_int_eq(placement_pick_set(key, strlen(key),
							    &z, z.n, zset_addr,
							    6, all),
					 6);
			ck_assert_mem_eq(all, got, sizeof(got[0]) * 3);
		}
	}
}
END_TEST

START_TEST(placement_zones_then_hosts)
{
	/* Two zones for three replicas: both zones, then a third host;
	 * a fourth replica can only share a host. */
	struct zset z = {0};
	zset_add(&z, "h1:1", "a");
	zset_add(&z, "h1:2", "a");
	zset_add(&z, "h2:1", "a");
	zset_add(&z, "h3:1", "b");
	zset_add(&z, "h3:2", "b");
	unsigned third_in[2] = {0, 0};
	for (int k = 0; k < 500; k++) {
		char key[32];
		snprintf(key, sizeof(key), "/hosts/%d", k);
		size_t got[4], order[5] = {0};
		ck_assert_int_eq(placement_pick_set(key, strlen(key), &z, z.n,
						    zset_addr, 4, got),
				 4);
		by_score(&z, key, order);
		/* The first two: the best of each zone, best first. */
		size_t a = SIZE_MAX, b = SIZE_MAX;
		for (size_t i = 0; i < 5; i++) {
			size_t v = order[i];
			if (z.zone[v][0] == 'a' && a == SIZE_MAX)
				a = v;
			if (z.zone[v][0] == 'b' && b == SIZE_MAX)
				b = v;
		}
		bool a_first = false;
		for (size_t i = 0; i < 5 && order[i] != b; i++)
			a_first |= order[i] == a;
		ck_assert_uint_eq(got[0], a_first ? a : b);
		ck_assert_uint_eq(got[1], a_first ? b : a);
		/* The third: the best volume on a host not used yet. */
		size_t third = SIZE_MAX;
		for (size_t i = 0; i < 5 && third == SIZE_MAX; i++) {
			size_t v = order[i];
			if (v != a && v != b && !same_host(&z, v, a) &&
			    !same_host(&z, v, b))
				third = v;
		}
		ck_assert_uint_ne(third, SIZE_MAX);
		ck_assert_uint_eq(got[2], third);
		third_in[z.zone[third][0] - 'a']++;
		/* The fourth: the best of the rest. */
		for (size_t i = 0; i < 5; i++) {
			size_t v = order[i];
			if (v != got[0] && v != got[1] && v != got[2]) {
				ck_assert_uint_eq(got[3], v);
				break;
			}
		}
	}
	/* Zone b's hosts are both taken by then: the third is always in a. */
	ck_assert_uint_eq(third_in[0], 500);
}
END_TEST

START_TEST(placement_zones_order_free)
{
	/* Input order does not matter; unzoned volumes in a zoned set are
	 * one zone. */
	struct zset z = {0}, r = {0};
	static const char *const addrs[] = {"h1:1", "h1:2", "h2:1",
					    "h2:2", "h3:1", "h4:1"};
	static const char *const zones[] = {"x", "x", "y", "", "", "y"};
	for (int i = 0; i < 6; i++)
		zset_add(&z, addrs[i], zones[i]);
	for (int i = 5; i >= 0; i--)
		zset_add(&r, addrs[i], zones[i]);
	for (int k = 0; k < 300; k++) {
		char key[32];
		snprintf(key, sizeof(key), "/free/%d", k);
		size_t a[6], b[6];
		ck_assert_int_eq(placement_pick_set(key, strlen(key), &z, 6,
						    zset_addr, 6, a),
				 6);
		ck_assert_int_eq(placement_pick_set(key, strlen(key), &r, 6,
						    zset_addr, 6, b),
				 6);
		for (int i = 0; i < 6; i++)
			ck_assert_str_eq(z.addr[a[i]], r.addr[b[i]]);
		/* x, y and the unnamed zone come first, one each. */
		bool seen[3] = {false, false, false};
		for (int i = 0; i < 3; i++) {
			const char *zn = z.zone[a[i]];
			int zi = zn[0] == 'x' ? 0 : zn[0] == 'y' ? 1 : 2;
			ck_assert(!seen[zi]);
			seen[zi] = true;
		}
		/* Again: the same answer. */
		size_t c[6];
		placement_pick_set(key, strlen(key), &z, 6, zset_addr, 6, c);
		ck_assert_mem_eq(a, c, sizeof(a));
	}
}
END_TEST

START_TEST(placement_no_zones_is_rendezvous)
{
	/* No zone anywhere: exactly the score order, hosts ignored (the
	 * order clusters had before zones), for "" and NULL zones alike. */
	struct zset z = {0};
	for (int i = 0; i < 8; i++) {
		char a[32];
		snprintf(a, sizeof(a), "h%d:%d", i % 3, 3001 + i);
		zset_add(&z, a, "");
	}
	const char *addrs[8];
	for (int i = 0; i < 8; i++)
		addrs[i] = z.addr[i];
	for (int k = 0; k < 300; k++) {
		char key[32];
		snprintf(key, sizeof(key), "/plain/%d", k);
		size_t got[8], order[8], arr[8];
		ck_assert_int_eq(placement_pick_set(key, strlen(key), &z, 8,
						    zset_addr, 8, got),
				 8);
		by_score(&z, key, order);
		ck_assert_mem_eq(got, order, sizeof(got));
		ck_assert_int_eq(placement_pick(key, strlen(key), addrs, NULL,
						8, 8, arr),
				 8);
		ck_assert_mem_eq(arr, order, sizeof(arr));
	}
}
END_TEST

START_TEST(placement_complete_replaces_in_zone)
{
	struct zset z = {0}, plain = {0};
	for (int i = 0; i < 6; i++) {
		char a[32], zone[8];
		snprintf(a, sizeof(a), "127.0.0.1:%d", 3001 + i);
		snprintf(zone, sizeof(zone), "z%d", i / 2);
		zset_add(&z, a, zone);
		zset_add(&plain, a, "");
	}
	for (int k = 0; k < 300; k++) {
		char key[32];
		snprintf(key, sizeof(key), "/repair/%d", k);
		size_t p[3], add[3];
		ck_assert_int_eq(placement_pick_set(key, strlen(key), &z, 6,
						    zset_addr, 3, p),
				 3);
		/* Nothing kept or avoided: the placement itself. */
		ck_assert_int_eq(placement_complete(key, strlen(key), &z, 6,
						    zset_addr, NULL, 0, NULL, 0,
						    3, add),
				 3);
		ck_assert_mem_eq(add, p, sizeof(p));
		/* One copy lost: replaced in its own zone, by that zone's
		 * other volume. */
		for (int lost = 0; lost < 3; lost++) {
			size_t keep[2], nk = 0;
			for (int i = 0; i < 3; i++)
				if (i != lost)
					keep[nk++] = p[i];
			ck_assert_int_eq(placement_complete(key, strlen(key),
							    &z, 6, zset_addr,
							    keep, 2, &p[lost],
							    1, 3, add),
					 1);
			ck_assert_uint_ne(add[0], p[lost]);
			ck_assert_str_eq(z.zone[add[0]], z.zone[p[lost]]);
		}
		/* Two lost: one in each zone the survivor does not cover. */
		ck_assert_int_eq(placement_complete(key, strlen(key), &z, 6,
						    zset_addr, &p[0], 1, &p[1],
						    2, 3, add),
				 2);
		ck_assert_str_ne(z.zone[add[0]], z.zone[add[1]]);
		ck_assert_str_ne(z.zone[add[0]], z.zone[p[0]]);
		ck_assert_str_ne(z.zone[add[1]], z.zone[p[0]]);
		/* No zones: the best scores that are neither kept nor
		 * avoided. */
		size_t order[6];
		by_score(&plain, key, order);
		size_t keep = order[1], avoid = order[0];
		ck_assert_int_eq(placement_complete(key, strlen(key), &plain, 6,
						    zset_addr, &keep, 1, &avoid,
						    1, 3, add),
				 2);
		ck_assert_uint_eq(add[0], order[2]);
		ck_assert_uint_eq(add[1], order[3]);
		/* Enough kept: nothing to add. */
		ck_assert_int_eq(placement_complete(key, strlen(key), &z, 6,
						    zset_addr, p, 3, NULL, 0, 3,
						    add),
				 0);
	}
}
END_TEST

START_TEST(placement_spec_forms)
{
	size_t alen, zlen;
	const char *zone;
	const char *s = "10.0.0.1:3001@rack-1.a_b";
	ck_assert_ptr_null(placement_spec(s, strlen(s), &alen, &zone, &zlen));
	ck_assert_uint_eq(alen, 13);
	ck_assert_uint_eq(zlen, 10);
	ck_assert(memcmp(zone, "rack-1.a_b", 10) == 0);
	s = "10.0.0.1:3001";
	ck_assert_ptr_null(placement_spec(s, strlen(s), &alen, &zone, &zlen));
	ck_assert_uint_eq(alen, 13);
	ck_assert_ptr_null(zone);
	ck_assert_uint_eq(zlen, 0);
	/* Not NUL-terminated: only len bytes count. */
	ck_assert_ptr_null(placement_spec("h:1@zz,", 6, &alen, &zone, &zlen));
	ck_assert_uint_eq(zlen, 2);
	static const char *const bad[] = {"h:1@",    "@z",	"h:1@a b",
					  "h:1@a@b", "h:1@a/b", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_ptr_nonnull(placement_spec(bad[i], strlen(bad[i]),
						     &alen, &zone, &zlen));
	char longz[80] = "h:1@";
	memset(longz + 4, 'z', 64);
	ck_assert_ptr_nonnull(
		placement_spec(longz, strlen(longz), &alen, &zone, &zlen));
	ck_assert_ptr_null(placement_spec(longz, 4 + 63, &alen, &zone, &zlen));
}
END_TEST

START_TEST(httperr_table)
{
	ck_assert_uint_eq(httperr_status(0), 200);
	ck_assert_uint_eq(httperr_status(-EINVAL), 400);
	ck_assert_uint_eq(httperr_status(-EEXIST), 403);
	ck_assert_uint_eq(httperr_status(-EPERM), 403);
	ck_assert_uint_eq(httperr_status(-ENOENT), 404);
	ck_assert_uint_eq(httperr_status(-EBUSY), 409);
	ck_assert_uint_eq(httperr_status(-ESTALE), 409);
	ck_assert_uint_eq(httperr_status(-EFBIG), 413);
	ck_assert_uint_eq(httperr_status(-ENAMETOOLONG), 414);
	ck_assert_uint_eq(httperr_status(-ENOSPC), 507);
	/* A leader lost mid-request is the same 503 for every write. */
	ck_assert_uint_eq(httperr_status(-ENOTCONN), 503);
	ck_assert_uint_eq(httperr_status(-ECANCELED), 503);
	ck_assert_uint_eq(httperr_status(-ETIMEDOUT), 503);
	ck_assert_uint_eq(httperr_status(-ESHUTDOWN), 503);
	ck_assert_uint_eq(httperr_status(-EIO), 500);
	ck_assert_uint_eq(httperr_status(-ENOMEM), 500);
	ck_assert_str_eq(httperr_reason(-ENOENT), "no such key");
	ck_assert_ptr_null(strchr(httperr_reason(-ETIMEDOUT), '\n'));
}
END_TEST

START_TEST(httphdr_content_lengths)
{
	uint64_t n = 7;
	ck_assert_int_eq(httphdr_content_length("0", &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(httphdr_content_length("0012", &n), 0);
	ck_assert_uint_eq(n, 12);
	ck_assert_int_eq(httphdr_content_length("18446744073709551615", &n), 0);
	ck_assert_uint_eq(n, UINT64_MAX);
	/* What strtoull alone would take: an overflow, a sign, spaces. */
	const char *bad[] = {"",    "18446744073709551616",
			     "-1",  "+1",
			     " 1",  "1 ",
			     "1,1", "0x10",
			     "1e3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 7;
		ck_assert_int_eq(httphdr_content_length(bad[i], &n), -EINVAL);
		ck_assert_uint_eq(n, 7);
	}
}
END_TEST

START_TEST(httphdr_ranges)
{
	uint64_t from = 0, to = 0;
	ck_assert_int_eq(httphdr_range("bytes=0-9", 100, &from, &to), 1);
	ck_assert_uint_eq(from, 0);
	ck_assert_uint_eq(to, 9);
	ck_assert_int_eq(httphdr_range("bytes=90-", 100, &from, &to), 1);
	ck_assert_uint_eq(from, 90);
	ck_assert_uint_eq(to, 99);
	ck_assert_int_eq(httphdr_range("bytes=95-200", 100, &from, &to), 1);
	ck_assert_uint_eq(to, 99);
	ck_assert_int_eq(httphdr_range("bytes=-10", 100, &from, &to), 1);
	ck_assert_uint_eq(from, 90);
	ck_assert_uint_eq(to, 99);
	ck_assert_int_eq(httphdr_range("bytes=-1000", 100, &from, &to), 1);
	ck_assert_uint_eq(from, 0);
	/* Unsatisfiable: 416. */
	ck_assert_int_eq(httphdr_range("bytes=100-", 100, &from, &to), -1);
	ck_assert_int_eq(httphdr_range("bytes=-0", 100, &from, &to), -1);
	ck_assert_int_eq(httphdr_range("bytes=-5", 0, &from, &to), -1);
	ck_assert_int_eq(httphdr_range("bytes=0-", 0, &from, &to), -1);
	/* Ignored: the whole value is sent. */
	const char *ignored[] = {NULL,
				 "",
				 "items=0-1",
				 "bytes=0-1,5-6",
				 "bytes=5-4",
				 "bytes=",
				 "bytes=-",
				 "bytes= 1-2",
				 "bytes=1- 2",
				 "bytes=+1-2",
				 "bytes=1-2x",
				 "bytes=--1",
				 "bytes=99999999999999999999-"};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		ck_assert_int_eq(httphdr_range(ignored[i], 100, &from, &to), 0);
}
END_TEST

/* libmicrohttpd's pages are recognised by their head and mapped by their
 * phrase; every other body, ours included, passes untouched. */
START_TEST(mhdpage_reasons)
{
	const char cl[] = "<html><head><title>Request malformed</title></head>"
			  "<body>Your HTTP request has wrong value for "
			  "<b>Content-Length</b> header.</body></html>";
	ck_assert_str_eq(mhdpage_reason(cl, strlen(cl)),
			 "Content-Length is not a number\n");
	const char big[] = "<html><head><title>Request too big</title></head>"
			   "<body>Your HTTP header was too big for the memory "
			   "constraints of this webserver.</body></html>";
	ck_assert_str_eq(mhdpage_reason(big, strlen(big)),
			 "request headers too large\n");
	const char odd[] = "<html><head><title>New</title></head></html>";
	ck_assert_str_eq(mhdpage_reason(odd, strlen(odd)),
			 "request refused by the HTTP parser\n");
	/* Cut short, a page is still one: its head is all it needs. */
	ck_assert_ptr_nonnull(mhdpage_reason(cl, 19));
	ck_assert_ptr_null(mhdpage_reason(cl, 18));
	const char ui[] = "<!DOCTYPE html>\n<html lang=\"en\"><head>";
	ck_assert_ptr_null(mhdpage_reason(ui, strlen(ui)));
	ck_assert_ptr_null(mhdpage_reason("no such key\n", 12));
	ck_assert_ptr_null(mhdpage_reason("", 0));
	ck_assert_ptr_null(mhdpage_reason(NULL, 0));
}
END_TEST

START_TEST(byte_order_and_clocks)
{
	uint8_t b[8];
	be_put32(b, 0x01020304u);
	ck_assert_mem_eq(b, "\x01\x02\x03\x04", 4);
	ck_assert_uint_eq(be_get32(b), 0x01020304u);
	be_put64(b, 0x0102030405060708ull);
	ck_assert_mem_eq(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	ck_assert_uint_eq(be_get64(b), 0x0102030405060708ull);
	le_put32(b, 0x01020304u);
	ck_assert_uint_eq(b[0], 4);
	ck_assert_uint_eq(le_get32(b), 0x01020304u);
	uint64_t t0 = clock_mono_us();
	ck_assert_uint_ge(clock_mono_us(), t0);
	struct timespec d = clock_deadline_ms(1500);
	ck_assert_int_lt(d.tv_nsec, 1000000000L);
	ck_assert_int_ge(d.tv_nsec, 0);
	uint64_t at =
		(uint64_t)d.tv_sec * 1000u + (uint64_t)d.tv_nsec / 1000000u;
	ck_assert_uint_ge(at, clock_wall_ms() + 1400);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("all");
	tcase_add_test(tc, crc32c_known_vectors);
	tcase_add_test(tc, md5_known_vectors);
	tcase_add_test(tc, key_validation);
	tcase_add_test(tc, pct_roundtrip);
	tcase_add_test(tc, flags_forms);
	tcase_add_test(tc, buf_json);
	tcase_add_test(tc, buf_steal_empty);
	tcase_add_test(tc, placement_many_volumes);
	tcase_add_test(tc, placement_zones_one_per_zone);
	tcase_add_test(tc, placement_zones_then_hosts);
	tcase_add_test(tc, placement_zones_order_free);
	tcase_add_test(tc, placement_no_zones_is_rendezvous);
	tcase_add_test(tc, placement_complete_replaces_in_zone);
	tcase_add_test(tc, placement_spec_forms);
	tcase_add_test(tc, httperr_table);
	tcase_add_test(tc, httphdr_content_lengths);
	tcase_add_test(tc, httphdr_ranges);
	tcase_add_test(tc, mhdpage_reasons);
	tcase_add_test(tc, byte_order_and_clocks);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
