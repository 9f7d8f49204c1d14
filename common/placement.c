#include "common/placement.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/md5.h"

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

int placement_pick(const char *key, size_t keylen, const char *const *addrs,
		   size_t n, size_t want, size_t *out)
{
	struct scored stack[16];
	struct scored *s = n <= 16 ? stack : malloc(n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct md5 m;
		if (md5_init(&m)) {
			if (s != stack)
				free(s);
			return -ENOMEM;
		}
		md5_update(&m, key, keylen);
		md5_update(&m, addrs[i], strlen(addrs[i]));
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
