#include "volume/keydir.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"

/* Entry layout inside a chunk, packed and unaligned (read with memcpy):
 *   0 u32 seg | gen << 31,  4 u48 off,  10 u48 size,  16 md5[16],
 *  32 u16 klen,  34 key. */
#define ENTRY_FIXED 34
#define CHUNK_BITS  12
#define CHUNK_SIZE  (1u << CHUNK_BITS)
#define CHUNK_MAX   (1u << (32 - CHUNK_BITS))
#define REF_EMPTY   UINT32_MAX /* cannot name an entry: none fits there */
#define MIN_SLOTS   16
/* Compact a shard's chunks once this much is dead and it is half the
 * total: deletes leave holes, and the slab must not grow without bound. */
#define COMPACT_MIN (4 * CHUNK_SIZE)

struct shard {
	pthread_rwlock_t lock;
	uint32_t *slots; /* REF_EMPTY or chunk << CHUNK_BITS | offset */
	uint32_t nslots; /* power of two, or 0 before the first insert */
	uint32_t count;
	uint8_t **chunks;
	uint32_t nchunks, chunks_cap;
	uint32_t tail; /* bytes used in the last chunk */
	uint64_t dead; /* bytes of removed entries still in chunks */
	uint64_t used; /* bytes of all entries in chunks */
};

struct keydir {
	struct shard shards[KEYDIR_SHARDS];
};

static uint64_t rotl(uint64_t v, int r)
{
	return v << r | v >> (64 - r);
}

/* Murmur3-style mixing, 8 bytes at a time: keys are short and many, and
 * the top byte picks the shard, so every input bit must reach it. */
static uint64_t hash_key(const char *key, size_t klen)
{
	const uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (klen * c2);
	size_t i = 0;
	for (; i + 8 <= klen; i += 8) {
		uint64_t v;
		memcpy(&v, key + i, 8);
		h ^= rotl(v * c1, 31) * c2;
		h = rotl(h, 27) * 5 + 0x52dce729;
	}
	uint64_t t = 0;
	for (size_t j = 0; i + j < klen; j++)
		t |= (uint64_t)(uint8_t)key[i + j] << (8 * j);
	h ^= rotl(t * c1, 31) * c2;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint8_t *entry_at(const struct shard *s, uint32_t ref)
{
	return s->chunks[ref >> CHUNK_BITS] + (ref & (CHUNK_SIZE - 1));
}

static uint16_t entry_klen(const uint8_t *e)
{
	uint16_t klen;
	memcpy(&klen, e + 32, 2);
	return klen;
}

static void entry_set_loc(uint8_t *e, const struct keydir_loc *loc)
{
	uint32_t sg = loc->seg | (uint32_t)(loc->gen & 1) << 31;
	memcpy(e, &sg, 4);
	le_putn(e + 4, loc->off, 6);
	le_putn(e + 10, loc->size, 6);
	memcpy(e + 16, loc->md5, MD5_LEN);
}

static void entry_loc(const uint8_t *e, struct keydir_loc *loc)
{
	uint32_t sg;
	memcpy(&sg, e, 4);
	loc->seg = sg & KEYDIR_SEG_MAX;
	loc->gen = (uint8_t)(sg >> 31);
	loc->off = le_getn(e + 4, 6);
	loc->size = le_getn(e + 10, 6);
	memcpy(loc->md5, e + 16, MD5_LEN);
}

static bool loc_newer(const struct keydir_loc *a, const struct keydir_loc *b)
{
	return a->seg > b->seg || (a->seg == b->seg && a->off > b->off);
}

int keydir_new(struct keydir **out)
{
	struct keydir *kd = calloc(1, sizeof(*kd));
	if (!kd)
		return -ENOMEM;
	for (int i = 0; i < KEYDIR_SHARDS; i++)
		pthread_rwlock_init(&kd->shards[i].lock, NULL);
	*out = kd;
	return 0;
}

static void free_chunks(uint8_t **chunks, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(chunks[i]);
	free(chunks);
}

void keydir_free(struct keydir *kd)
{
	if (!kd)
		return;
	for (int i = 0; i < KEYDIR_SHARDS; i++) {
		struct shard *s = &kd->shards[i];
		free_chunks(s->chunks, s->nchunks);
		free(s->slots);
		pthread_rwlock_destroy(&s->lock);
	}
	free(kd);
}

static struct shard *shard_of(struct keydir *kd, uint64_t h)
{
	return &kd->shards[h >> 56];
}

/* Returns the slot holding key, or the empty slot where it would go. */
static uint32_t find_slot(const struct shard *s, uint64_t h, const char *key,
			  size_t klen)
{
	uint32_t mask = s->nslots - 1, i = (uint32_t)h & mask;
	for (;;) {
		uint32_t ref = s->slots[i];
		if (ref == REF_EMPTY)
			return i;
		const uint8_t *e = entry_at(s, ref);
		if (entry_klen(e) == klen &&
		    memcmp(e + ENTRY_FIXED, key, klen) == 0)
			return i;
		i = (i + 1) & mask;
	}
}

static uint32_t ideal_slot(const struct shard *s, uint32_t ref)
{
	const uint8_t *e = entry_at(s, ref);
	uint64_t h = hash_key((const char *)e + ENTRY_FIXED, entry_klen(e));
	return (uint32_t)h & (s->nslots - 1);
}

static int resize(struct shard *s, uint32_t nslots)
{
	uint32_t *slots = malloc((size_t)nslots * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	memset(slots, 0xff, (size_t)nslots * sizeof(*slots));
	uint32_t *old = s->slots, oldn = s->nslots;
	s->slots = slots;
	s->nslots = nslots;
	for (uint32_t i = 0; i < oldn; i++) {
		if (old[i] == REF_EMPTY)
			continue;
		uint32_t j = ideal_slot(s, old[i]);
		while (slots[j] != REF_EMPTY)
			j = (j + 1) & (nslots - 1);
		slots[j] = old[i];
	}
	free(old);
	return 0;
}

/* Appends an entry to the shard's slab. Returns its ref or REF_EMPTY. */
static uint32_t slab_alloc(struct shard *s, size_t need)
{
	if (s->nchunks == 0 || s->tail + need > CHUNK_SIZE) {
		if (s->nchunks == CHUNK_MAX)
			return REF_EMPTY;
		if (s->nchunks == s->chunks_cap) {
			uint32_t cap = s->chunks_cap ? 2 * s->chunks_cap : 4;
			uint8_t **c = realloc(s->chunks, cap * sizeof(*c));
			if (!c)
				return REF_EMPTY;
			s->chunks = c;
			s->chunks_cap = cap;
		}
		uint8_t *chunk = malloc(CHUNK_SIZE);
		if (!chunk)
			return REF_EMPTY;
		if (s->nchunks > 0)
			s->dead += CHUNK_SIZE - s->tail; /* unusable tail */
		s->chunks[s->nchunks++] = chunk;
		s->tail = 0;
	}
	uint32_t ref = (s->nchunks - 1) << CHUNK_BITS | s->tail;
	s->tail += (uint32_t)need;
	s->used += need;
	return ref;
}

/* Copies live entries into fresh chunks, dropping the holes left by
 * deletes. On allocation failure the shard is left as it was. */
static void compact(struct shard *s)
{
	struct shard n = {0};
	for (uint32_t i = 0; i < s->nslots; i++) {
		if (s->slots[i] == REF_EMPTY)
			continue;
		const uint8_t *e = entry_at(s, s->slots[i]);
		size_t len = ENTRY_FIXED + entry_klen(e);
		uint32_t ref = slab_alloc(&n, len);
		if (ref == REF_EMPTY) {
			free_chunks(n.chunks, n.nchunks);
			return;
		}
		memcpy(entry_at(&n, ref), e, len);
	}
	/* Second pass rewrites refs only once every copy succeeded. */
	uint32_t next = 0;
	for (uint32_t i = 0; i < s->nslots; i++) {
		if (s->slots[i] == REF_EMPTY)
			continue;
		size_t len = ENTRY_FIXED + entry_klen(entry_at(s, s->slots[i]));
		if ((next & (CHUNK_SIZE - 1)) + len > CHUNK_SIZE)
			next = ((next >> CHUNK_BITS) + 1) << CHUNK_BITS;
		s->slots[i] = next;
		next += (uint32_t)len;
	}
	free_chunks(s->chunks, s->nchunks);
	s->chunks = n.chunks;
	s->nchunks = n.nchunks;
	s->chunks_cap = n.chunks_cap;
	s->tail = n.tail;
	s->used = n.used;
	s->dead = n.dead;
}

int keydir_get(struct keydir *kd, const char *key, size_t klen,
	       struct keydir_loc *loc, keydir_pin_fn pin, void *arg)
{
	uint64_t h = hash_key(key, klen);
	struct shard *s = shard_of(kd, h);
	int rc = -ENOENT;
	pthread_rwlock_rdlock(&s->lock);
	if (s->nslots) {
		uint32_t ref = s->slots[find_slot(s, h, key, klen)];
		if (ref != REF_EMPTY) {
			entry_loc(entry_at(s, ref), loc);
			if (pin)
				pin(arg, loc);
			rc = 0;
		}
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

static int put_locked(struct shard *s, uint64_t h, const char *key, size_t klen,
		      const struct keydir_loc *loc, struct keydir_loc *old,
		      bool *had_old)
{
	*had_old = false;
	if (s->nslots == 0 && resize(s, MIN_SLOTS))
		return -ENOMEM;
	uint32_t i = find_slot(s, h, key, klen);
	if (s->slots[i] != REF_EMPTY) {
		uint8_t *e = entry_at(s, s->slots[i]);
		entry_loc(e, old);
		if (!loc_newer(loc, old))
			return 0;
		*had_old = true;
		entry_set_loc(e, loc);
		return 1;
	}
	if ((uint64_t)(s->count + 1) * 4 > (uint64_t)s->nslots * 3) {
		if (resize(s, s->nslots * 2))
			return -ENOMEM;
		i = find_slot(s, h, key, klen);
	}
	uint32_t ref = slab_alloc(s, ENTRY_FIXED + klen);
	if (ref == REF_EMPTY)
		return -ENOMEM;
	uint8_t *e = entry_at(s, ref);
	entry_set_loc(e, loc);
	uint16_t k16 = (uint16_t)klen;
	memcpy(e + 32, &k16, 2);
	memcpy(e + ENTRY_FIXED, key, klen);
	s->slots[i] = ref;
	s->count++;
	return 1;
}

int keydir_put(struct keydir *kd, const char *key, size_t klen,
	       const struct keydir_loc *loc, struct keydir_loc *old,
	       bool *had_old)
{
	if (klen == 0 || klen > UINT16_MAX || loc->seg > KEYDIR_SEG_MAX ||
	    loc->off > KEYDIR_OFF_MAX || loc->size > KEYDIR_OFF_MAX)
		return -EINVAL;
	uint64_t h = hash_key(key, klen);
	struct shard *s = shard_of(kd, h);
	pthread_rwlock_wrlock(&s->lock);
	int rc = put_locked(s, h, key, klen, loc, old, had_old);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* Backward-shift deletion: keeps probe chains intact without tombstone
 * slots, so lookups never slow down after many deletes. */
static void remove_slot(struct shard *s, uint32_t i)
{
	uint32_t mask = s->nslots - 1;
	s->dead += ENTRY_FIXED + entry_klen(entry_at(s, s->slots[i]));
	s->slots[i] = REF_EMPTY;
	s->count--;
	for (uint32_t j = (i + 1) & mask; s->slots[j] != REF_EMPTY;
	     j = (j + 1) & mask) {
		uint32_t k = ideal_slot(s, s->slots[j]);
		/* Move j back to the hole unless its home lies in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays)
			continue;
		s->slots[i] = s->slots[j];
		s->slots[j] = REF_EMPTY;
		i = j;
	}
	if (s->dead >= COMPACT_MIN && s->dead * 2 >= s->used)
		compact(s);
}

int keydir_del(struct keydir *kd, const char *key, size_t klen, uint32_t seg,
	       uint64_t off, struct keydir_loc *old)
{
	uint64_t h = hash_key(key, klen);
	struct shard *s = shard_of(kd, h);
	int rc = 0;
	pthread_rwlock_wrlock(&s->lock);
	if (s->nslots) {
		uint32_t i = find_slot(s, h, key, klen);
		if (s->slots[i] != REF_EMPTY) {
			entry_loc(entry_at(s, s->slots[i]), old);
			struct keydir_loc at = {.seg = seg, .off = off};
			if (loc_newer(&at, old)) {
				remove_slot(s, i);
				rc = 1;
			}
		}
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int keydir_move(struct keydir *kd, const char *key, size_t klen,
		const struct keydir_loc *from, const struct keydir_loc *to)
{
	uint64_t h = hash_key(key, klen);
	struct shard *s = shard_of(kd, h);
	int rc = 0;
	pthread_rwlock_wrlock(&s->lock);
	if (s->nslots) {
		uint32_t ref = s->slots[find_slot(s, h, key, klen)];
		if (ref != REF_EMPTY) {
			uint8_t *e = entry_at(s, ref);
			struct keydir_loc cur;
			entry_loc(e, &cur);
			if (cur.seg == from->seg && cur.gen == from->gen &&
			    cur.off == from->off) {
				entry_set_loc(e, to);
				rc = 1;
			}
		}
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

void keydir_walk(struct keydir *kd, unsigned shard, const char *prefix,
		 size_t plen, keydir_walk_fn fn, void *arg)
{
	assert(kd && fn && (prefix || !plen));
	assert(shard < KEYDIR_SHARDS);
	struct shard *s = &kd->shards[shard];
	pthread_rwlock_rdlock(&s->lock);
	for (uint32_t i = 0; i < s->nslots; i++) {
		if (s->slots[i] == REF_EMPTY)
			continue;
		const uint8_t *e = entry_at(s, s->slots[i]);
		uint16_t klen = entry_klen(e);
		const char *k = (const char *)e + ENTRY_FIXED;
		if (klen < plen || (plen && memcmp(k, prefix, plen) != 0))
			continue;
		struct keydir_loc loc;
		entry_loc(e, &loc);
		fn(arg, k, klen, &loc);
	}
	pthread_rwlock_unlock(&s->lock);
}

uint64_t keydir_count(struct keydir *kd)
{
	uint64_t n = 0;
	for (int i = 0; i < KEYDIR_SHARDS; i++) {
		struct shard *s = &kd->shards[i];
		pthread_rwlock_rdlock(&s->lock);
		n += s->count;
		pthread_rwlock_unlock(&s->lock);
	}
	return n;
}

uint64_t keydir_bytes(struct keydir *kd)
{
	uint64_t n = sizeof(*kd);
	for (int i = 0; i < KEYDIR_SHARDS; i++) {
		struct shard *s = &kd->shards[i];
		pthread_rwlock_rdlock(&s->lock);
		n += (uint64_t)s->nslots * sizeof(uint32_t) +
		     (uint64_t)s->nchunks * CHUNK_SIZE +
		     (uint64_t)s->chunks_cap * sizeof(uint8_t *);
		pthread_rwlock_unlock(&s->lock);
	}
	return n;
}
