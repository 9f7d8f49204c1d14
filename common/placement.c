#include "common/placement.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/md5.h"

/* Sets up to this size are scored on the stack. */
#define STACK_VOLS 16

struct scored {
	uint8_t score[MD5_LEN];
	size_t idx;
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

int placement_pick_set(const char *key, size_t keylen, const void *set,
		       size_t n, placement_addr_fn addr, size_t want,
		       size_t *out)
{
	assert(key && addr && (out || !want));
	struct scored stack[STACK_VOLS];
	struct scored *s = n <= STACK_VOLS ? stack : malloc(n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *a = addr(set, i);
		assert(a);
		struct md5 m;
		if (md5_init(&m)) {
			if (s != stack)
				free(s);
			return -ENOMEM;
		}
		md5_update(&m, key, keylen);
		md5_update(&m, a, strlen(a));
		md5_final(&m, s[i].score);
		s[i].idx = i;
	}
	qsort(s, n, sizeof(*s), by_score_desc);
	if (want > n)
		want = n;
	for (size_t i = 0; i < want; i++)
		out[i] = s[i].idx;
	if (s != stack)
		free(s);
	return (int)want;
}

static const char *array_addr(const void *set, size_t i)
{
	return ((const char *const *)set)[i];
}

int placement_pick(const char *key, size_t keylen, const char *const *addrs,
		   size_t n, size_t want, size_t *out)
{
	return placement_pick_set(key, keylen, addrs, n, array_addr, want, out);
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
	int rc = got < 0 ? got : 1;
	for (size_t i = 0; rc == 1 && i < want; i++)
		rc = win[i] == have[i];
	if (win != stack)
		free(win);
	return rc;
}
