/* The corrupt-key set: a ring of `cap` slots indexed by sequence number,
 * so listing from a number is a walk from its slot and the report a new
 * one displaces is the one `cap` numbers older, and a hash table by key,
 * so the overwrite of a key finds its report in O(1). */
#include "volume/corrupt.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/key.h"

struct entry {
	uint64_t seq;
	uint64_t size;
	const char *why;
	struct entry *hnext; /* hash chain */
	uint16_t klen;
	char key[];
};

struct corrupt_set {
	uint32_t cap;
	uint32_t count;
	uint64_t seq;	  /* newest number given */
	uint64_t dropped; /* newest number dropped */
	struct entry **ring;
	struct entry **buckets;
	uint32_t mask; /* buckets - 1; a power of two at least cap */
};

int corrupt_new(uint32_t cap, struct corrupt_set **out)
{
	assert(cap > 0 && out);
	struct corrupt_set *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	uint32_t nb = 1;
	while (nb < cap && nb < (UINT32_C(1) << 31))
		nb <<= 1;
	cs->cap = cap;
	cs->mask = nb - 1;
	cs->ring = calloc(cap, sizeof(*cs->ring));
	cs->buckets = calloc(nb, sizeof(*cs->buckets));
	if (!cs->ring || !cs->buckets) {
		corrupt_free(cs);
		return -ENOMEM;
	}
	*out = cs;
	return 0;
}

void corrupt_free(struct corrupt_set *cs)
{
	if (!cs)
		return;
	for (uint32_t i = 0; cs->ring && i < cs->cap; i++)
		free(cs->ring[i]);
	free(cs->ring);
	free(cs->buckets);
	free(cs);
}

static struct entry **chain_of(const struct corrupt_set *cs, const char *key,
			       uint16_t klen)
{
	return &cs->buckets[crc32c_update(0, key, klen) & cs->mask];
}

/* The link that points at key's entry, or at the NULL ending its chain. */
static struct entry **find(const struct corrupt_set *cs, const char *key,
			   uint16_t klen)
{
	struct entry **pp = chain_of(cs, key, klen);
	while (*pp &&
	       ((*pp)->klen != klen || memcmp((*pp)->key, key, klen) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

/* Unlinks e from its chain and its slot and frees it. */
static void drop(struct corrupt_set *cs, struct entry *e)
{
	struct entry **pp = find(cs, e->key, e->klen);
	assert(*pp == e);
	*pp = e->hnext;
	cs->ring[e->seq % cs->cap] = NULL;
	cs->count--;
	free(e);
}

int corrupt_add(struct corrupt_set *cs, const char *key, uint16_t klen,
		uint64_t size, const char *why, uint64_t *seq)
{
	assert(cs && key && klen > 0 && klen <= KEY_MAX && why && seq);
	struct entry *e = *find(cs, key, klen);
	if (e) {
		*seq = e->seq;
		return 0;
	}
	e = malloc(sizeof(*e) + klen);
	if (!e)
		return -ENOMEM;
	e->seq = ++cs->seq;
	e->size = size;
	e->why = why;
	e->klen = klen;
	memcpy(e->key, key, klen);
	struct entry *old = cs->ring[e->seq % cs->cap];
	if (old) {
		cs->dropped = old->seq;
		drop(cs, old);
	}
	struct entry **chain = chain_of(cs, key, klen);
	e->hnext = *chain;
	*chain = e;
	cs->ring[e->seq % cs->cap] = e;
	cs->count++;
	*seq = e->seq;
	return 1;
}

int corrupt_has(const struct corrupt_set *cs, const char *key, uint16_t klen)
{
	assert(cs && key);
	return *find(cs, key, klen) ? 1 : 0;
}

int corrupt_remove(struct corrupt_set *cs, const char *key, uint16_t klen)
{
	assert(cs && key);
	struct entry *e = *find(cs, key, klen);
	if (!e)
		return 0;
	drop(cs, e);
	return 1;
}

size_t corrupt_list(const struct corrupt_set *cs, uint64_t since,
		    uint64_t until, size_t max, corrupt_fn fn, void *arg,
		    uint64_t *last)
{
	assert(cs && fn);
	if (until > cs->seq)
		until = cs->seq;
	/* Only the newest cap numbers can still have a slot. */
	uint64_t s = cs->seq > cs->cap && since < cs->seq - cs->cap
			     ? cs->seq - cs->cap
			     : since;
	size_t n = 0;
	while (s < until && n < max) {
		s++;
		const struct entry *e = cs->ring[s % cs->cap];
		if (!e || e->seq != s)
			continue;
		struct corrupt_report r = {.seq = e->seq,
					   .key = e->key,
					   .klen = e->klen,
					   .size = e->size,
					   .why = e->why};
		fn(arg, &r);
		n++;
	}
	if (last)
		*last = s > since ? s : since;
	return n;
}

uint64_t corrupt_seq(const struct corrupt_set *cs)
{
	return cs->seq;
}

uint64_t corrupt_dropped_seq(const struct corrupt_set *cs)
{
	return cs->dropped;
}

uint32_t corrupt_count(const struct corrupt_set *cs)
{
	return cs->count;
}
