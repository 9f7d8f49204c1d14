/* The recently seen signatures: see replay.h. */
#include "common/replay.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define START_SLOTS 1024u

/* expires 0 marks a slot never used; a slot whose time passed keeps its
 * place in the probe chains until it is reused or the table is rebuilt. */
struct slot {
	uint64_t tag;
	uint64_t expires;
};

struct replay {
	pthread_mutex_t mu;
	struct slot *t;
	uint32_t cap;  /* a power of two */
	uint32_t used; /* slots with expires != 0, live or not */
};

struct replay *replay_new(void)
{
	struct replay *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->t = calloc(START_SLOTS, sizeof(*r->t));
	if (!r->t) {
		free(r);
		return NULL;
	}
	r->cap = START_SLOTS;
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void replay_free(struct replay *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->t);
	free(r);
}

/* Where tag lives, or where it would go (the first slot past its time
 * on its chain, else the empty slot ending the chain). The table is never
 * more than half used, so the chain ends. */
static struct slot *find(struct slot *t, uint32_t cap, uint64_t tag,
			 uint64_t now_ms)
{
	struct slot *reuse = NULL;
	/* Fibonacci hashing: the multiply spreads every bit of the tag over
	 * the high half, so tags alike in their low bits do not pile up. */
	uint32_t start = (uint32_t)((tag * 0x9e3779b97f4a7c15u) >> 32);
	for (uint32_t i = start & (cap - 1);; i = (i + 1) & (cap - 1)) {
		struct slot *s = &t[i];
		if (!s->expires)
			return reuse ? reuse : s;
		if (s->tag == tag)
			return s;
		if (s->expires <= now_ms && !reuse)
			reuse = s;
	}
}

/* Rebuilds the table with only the live tags, doubling it when they
 * fill more than a quarter of it. */
static int rebuild(struct replay *r, uint64_t now_ms)
{
	uint32_t live = 0;
	for (uint32_t i = 0; i < r->cap; i++)
		live += r->t[i].expires > now_ms;
	uint32_t cap = r->cap;
	if (live >= cap / 4) {
		if (cap >= REPLAY_MAX_SLOTS && live >= cap / 2)
			return -ENOSPC;
		if (cap < REPLAY_MAX_SLOTS)
			cap *= 2;
	}
	assert(cap >= START_SLOTS);
	struct slot *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->cap; i++)
		if (r->t[i].expires > now_ms)
			*find(t, cap, r->t[i].tag, now_ms) = r->t[i];
	free(r->t);
	r->t = t;
	r->cap = cap;
	r->used = live;
	return 0;
}

int replay_add(struct replay *r, uint64_t tag, uint64_t expires_ms,
	       uint64_t now_ms)
{
	assert(r && expires_ms > now_ms);
	int rc = 0;
	pthread_mutex_lock(&r->mu);
	struct slot *s = find(r->t, r->cap, tag, now_ms);
	if (s->expires && s->tag == tag && s->expires > now_ms) {
		rc = -EEXIST;
		goto out;
	}
	if (!s->expires && r->used + 1 > r->cap / 2) {
		rc = rebuild(r, now_ms);
		if (rc)
			goto out;
		s = find(r->t, r->cap, tag, now_ms);
	}
	if (!s->expires)
		r->used++;
	s->tag = tag;
	s->expires = expires_ms;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}
