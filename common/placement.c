#include "common/placement.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/md5.h"

/* Sets up to this size are scored on the stack. */
#define STACK_VOLS 16

struct scored {
	uint8_t score[MD5_LEN];
	size_t idx;
	const char *zone; /* never NULL: "" for none */
	const char *host; /* the address up to its last ':' */
	size_t hostlen;
	bool kept;  /* a copy that stays: its zone and host are taken */
	bool taken; /* kept, avoided, or already in the order */
};

static int by_score_desc(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	int c = memcmp(y->score, x->score, MD5_LEN);
	if (c)
		return c;
	/* Stable on ties, as Go's sort.Stable in minikeyvalue. */
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static size_t host_len(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	return colon ? (size_t)(colon - addr) : strlen(addr);
}

static bool same_host(const struct scored *a, const struct scored *b)
{
	return a->hostlen == b->hostlen &&
	       memcmp(a->host, b->host, a->hostlen) == 0;
}

/* Whether any of the `n` picked volumes shares s's zone (by_zone) or
 * host. */
static bool covered(struct scored *const *picked, size_t n,
		    const struct scored *s, bool by_zone)
{
	for (size_t i = 0; i < n; i++)
		if (by_zone ? strcmp(picked[i]->zone, s->zone) == 0
			    : same_host(picked[i], s))
			return true;
	return false;
}

/* Whether i is one of list[0..n). */
static bool listed(const size_t *list, size_t n, size_t i)
{
	for (size_t k = 0; k < n; k++)
		if (list[k] == i)
			return true;
	return false;
}

/* The walks of placement.h over s[0..n), sorted by score, after the kept
 * volumes (their zones and hosts taken): up to `want` more volumes into
 * out, best first. Returns how many. */
static size_t walk(struct scored *s, size_t n, bool zoned, size_t want,
		   size_t *out, struct scored **picked)
{
	size_t npicked = 0, got = 0;
	for (size_t j = 0; j < n; j++)
		if (s[j].kept)
			picked[npicked++] = &s[j];
	/* No zones: the last walk alone, pure rendezvous with hosts not
	 * considered, exactly the order clusters had before zones. */
	for (int w = zoned ? 0 : 2; w < 3 && got < want; w++)
		for (size_t j = 0; j < n && got < want; j++) {
			if (s[j].taken ||
			    (w < 2 && covered(picked, npicked, &s[j], w == 0)))
				continue;
			s[j].taken = true;
			picked[npicked++] = &s[j];
			out[got++] = s[j].idx;
		}
	return got;
}

/* placement_complete, which placement_pick_set is with nothing kept or
 * avoided. */
static int place(const char *key, size_t keylen, const void *set, size_t n,
		 placement_addr_fn addr, const size_t *keep, size_t nkeep,
		 const size_t *avoid, size_t navoid, size_t want, size_t *out)
{
	assert(key && addr && (out || !want));
	assert((keep || !nkeep) && (avoid || !navoid));
	struct scored stack[STACK_VOLS];
	struct scored *stack_picked[STACK_VOLS];
	struct scored *s = n <= STACK_VOLS ? stack : malloc(n * sizeof(*s));
	struct scored **picked =
		n <= STACK_VOLS ? stack_picked : malloc(n * sizeof(*picked));
	int rc = s && picked ? 0 : -ENOMEM;
	bool zoned = false;
	for (size_t i = 0; !rc && i < n; i++) {
		const char *zone = NULL;
		const char *a = addr(set, i, &zone);
		assert(a);
		struct md5 m;
		if (md5_init(&m)) {
			rc = -ENOMEM;
			break;
		}
		md5_update(&m, key, keylen);
		md5_update(&m, a, strlen(a));
		md5_final(&m, s[i].score);
		s[i].idx = i;
		s[i].zone = zone ? zone : "";
		s[i].host = a;
		s[i].hostlen = host_len(a);
		s[i].kept = listed(keep, nkeep, i);
		s[i].taken = s[i].kept || listed(avoid, navoid, i);
		zoned |= s[i].zone[0] != '\0';
	}
	if (!rc) {
		qsort(s, n, sizeof(*s), by_score_desc);
		size_t room = nkeep < want ? want - nkeep : 0;
		rc = (int)walk(s, n, zoned, room, out, picked);
	}
	if (s != stack)
		free(s);
	if (picked != stack_picked)
		free(picked);
	return rc;
}

int placement_pick_set(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, size_t want,
		       size_t *out)
{
	return place(key, keylen, set, n, addr, NULL, 0, NULL, 0, want, out);
}

int placement_complete(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, const size_t *keep,
		       size_t nkeep, const size_t *avoid, size_t navoid,
		       size_t want, size_t *out)
{
	for (size_t k = 0; k < nkeep; k++)
		assert(keep[k] < n);
	return place(key, keylen, set, n, addr, keep, nkeep, avoid, navoid,
		     want, out);
}

struct array_set {
	const char *const *addrs;
	const char *const *zones;
};

static const char *array_addr(const void *set, size_t i, const char **zone)
{
	const struct array_set *a = set;
	*zone = a->zones ? a->zones[i] : NULL;
	return a->addrs[i];
}

int placement_pick(const char *key, size_t keylen, const char *const *addrs,
		   const char *const *zones, size_t n, size_t want, size_t *out)
{
	struct array_set a = {addrs, zones};
	return placement_pick_set(key, keylen, &a, n, array_addr, want, out);
}

int placement_balanced(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, size_t want,
		       const size_t *have, size_t nhave)
{
	assert(have || !nhave);
	if (want > n)
		want = n;
	/* A key on more volumes than placement picks is unbalanced. */
	if (nhave != want)
		return 0;
	size_t stack[STACK_VOLS];
	size_t *win = want <= STACK_VOLS ? stack : malloc(want * sizeof(*win));
	if (!win)
		return -ENOMEM;
	int got = placement_pick_set(key, keylen, set, n, addr, want, win);
	/* Only the volumes the pick wrote are compared (it writes all
	 * `want` of them: want <= n). */
	int rc = got < 0 ? got : (size_t)got == want;
	for (size_t i = 0; rc == 1 && i < (size_t)got; i++)
		rc = win[i] == have[i];
	if (win != stack)
		free(win);
	return rc;
}

static bool zone_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

const char *placement_spec(const char *s, size_t len, size_t *addrlen,
			   const char **zone, size_t *zonelen)
{
	const char *at = memchr(s, '@', len);
	*addrlen = at ? (size_t)(at - s) : len;
	*zone = NULL;
	*zonelen = 0;
	if (!*addrlen)
		return "the address before @zone is empty";
	if (!at)
		return NULL;
	size_t zl = len - *addrlen - 1;
	if (!zl)
		return "empty zone after @";
	if (zl > PLACEMENT_ZONE_LEN)
		return "zone longer than 63 characters";
	for (size_t i = 0; i < zl; i++)
		if (!zone_char(at[1 + i]))
			return "a zone is letters, digits, '.', '_' and '-'";
	*zone = at + 1;
	*zonelen = zl;
	return NULL;
}
