#include "tests/lincheck.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Visited (linearized set, register value) pairs: a search that reaches
 * one again cannot succeed from there either. Open addressing. */
struct memo {
	uint64_t *mask, *value;
	bool *used;
	size_t cap, n;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static int memo_grow(struct memo *m)
{
	struct memo g = {0};
	g.cap = m->cap ? 2 * m->cap : 1024;
	g.mask = calloc(g.cap, sizeof(*g.mask));
	g.value = calloc(g.cap, sizeof(*g.value));
	g.used = calloc(g.cap, sizeof(*g.used));
	if (!g.mask || !g.value || !g.used) {
		free(g.mask);
		free(g.value);
		free(g.used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->used[i])
			continue;
		size_t h = mix(m->mask[i] ^ mix(m->value[i])) % g.cap;
		while (g.used[h])
			h = (h + 1) % g.cap;
		g.used[h] = true;
		g.mask[h] = m->mask[i];
		g.value[h] = m->value[i];
		g.n++;
	}
	free(m->mask);
	free(m->value);
	free(m->used);
	*m = g;
	return 0;
}

/* Adds (mask, value); 1 if new, 0 if seen, -ENOMEM. */
static int memo_add(struct memo *m, uint64_t mask, uint64_t value)
{
	if (2 * (m->n + 1) > m->cap && memo_grow(m))
		return -ENOMEM;
	size_t h = mix(mask ^ mix(value)) % m->cap;
	for (; m->used[h]; h = (h + 1) % m->cap)
		if (m->mask[h] == mask && m->value[h] == value)
			return 0;
	m->used[h] = true;
	m->mask[h] = mask;
	m->value[h] = value;
	m->n++;
	return 1;
}

/* The model: can op take effect on `value`, and what does it leave? */
static bool step(const struct lincheck_op *op, uint64_t value, uint64_t *next)
{
	*next = value;
	switch (op->kind) {
	case LINCHECK_PUT:
		if (op->outcome == LINCHECK_FAIL)
			return value != 0;
		if (value != 0)
			return false;
		*next = op->value;
		return true;
	case LINCHECK_GET:
		return value == op->value;
	case LINCHECK_DELETE:
		if (op->outcome == LINCHECK_FAIL)
			return value == 0;
		if (value == 0)
			return false;
		*next = 0;
		return true;
	}
	return false;
}

struct search {
	const struct lincheck_op *const *ops;
	size_t n;
	uint64_t must; /* ops with a known outcome */
	struct memo memo;
};

/* Depth-first: linearize one more candidate. 1 found, 0 not, <0 error. */
static int search(struct search *s, uint64_t done, uint64_t value)
{
	if ((done & s->must) == s->must)
		return 1;
	int fresh = memo_add(&s->memo, done, value);
	if (fresh <= 0)
		return fresh;
	/* The earliest return among pending known ops bounds the candidates:
	 * nothing invoked after it may go first. */
	uint64_t min_ret = UINT64_MAX;
	for (size_t i = 0; i < s->n; i++)
		if (!(done >> i & 1) && (s->must >> i & 1) &&
		    s->ops[i]->ret < min_ret)
			min_ret = s->ops[i]->ret;
	for (size_t i = 0; i < s->n; i++) {
		const struct lincheck_op *op = s->ops[i];
		if (done >> i & 1 || op->invoke > min_ret)
			continue;
		uint64_t next;
		if (!step(op, value, &next))
			continue;
		int rc = search(s, done | (uint64_t)1 << i, next);
		if (rc)
			return rc;
	}
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct lincheck_op *x = *(const struct lincheck_op *const *)a;
	const struct lincheck_op *y = *(const struct lincheck_op *const *)b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->invoke < y->invoke ? -1 : x->invoke > y->invoke;
}

/* Unknown outcomes: the op may have happened with either result, or not
 * at all. Modelled as an op that is never required, whose effect is an
 * OK of its kind (a FAIL changes nothing, so skipping covers it). */
static struct lincheck_op known(const struct lincheck_op *op)
{
	struct lincheck_op k = *op;
	if (k.outcome == LINCHECK_UNKNOWN) {
		k.outcome = LINCHECK_OK;
		k.ret = UINT64_MAX;
	}
	return k;
}

static int check_key(const struct lincheck_op *const *ops, size_t n)
{
	if (n > LINCHECK_MAX_OPS)
		return -E2BIG;
	struct lincheck_op local[LINCHECK_MAX_OPS];
	const struct lincheck_op *ptr[LINCHECK_MAX_OPS];
	struct search s = {ptr, 0, 0, {0}};
	for (size_t i = 0; i < n; i++) {
		/* A GET with no answer constrains nothing. */
		if (ops[i]->kind == LINCHECK_GET &&
		    ops[i]->outcome == LINCHECK_UNKNOWN)
			continue;
		local[s.n] = known(ops[i]);
		if (ops[i]->outcome != LINCHECK_UNKNOWN)
			s.must |= (uint64_t)1 << s.n;
		ptr[s.n] = &local[s.n];
		s.n++;
	}
	int rc = search(&s, 0, 0);
	free(s.memo.mask);
	free(s.memo.value);
	free(s.memo.used);
	return rc;
}

int lincheck_check(const struct lincheck_op *ops, size_t n, size_t *bad_key)
{
	const struct lincheck_op **by = malloc((n ? n : 1) * sizeof(*by));
	if (!by)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		by[i] = &ops[i];
	qsort(by, n, sizeof(*by), cmp_key);
	int rc = 1;
	for (size_t i = 0; i < n && rc == 1;) {
		size_t j = i;
		while (j < n && strcmp(by[j]->key, by[i]->key) == 0)
			j++;
		rc = check_key(by + i, j - i);
		if (rc == 0)
			*bad_key = (size_t)(by[i] - ops);
		i = j;
	}
	free(by);
	return rc;
}
