/* keydir: the in-memory index of a Bitcask store, key → location.
 *
 * Built for tens of millions of keys. The table is split into
 * KEYDIR_SHARDS shards by key hash, each with its own rwlock, so lookups
 * and updates on different keys rarely contend and a walk can stream one
 * shard at a time. Within a shard, entries (location + key bytes) are
 * packed back to back in 4 KiB slab chunks and the hash table is an
 * open-addressing array of 4-byte references into them: about 34 bytes
 * plus the key per entry, plus 5-11 bytes of table per key.
 *
 * Ordering: a location is (seg, off); the greater one is the newer record.
 * The gen bit does not take part: it only names which file version of a
 * segment a location refers to while merge replaces that segment.
 *
 * Memory: the keydir copies keys; callers keep ownership of their buffers.
 * Threads: every function is safe to call concurrently, except
 * keydir_free. Callbacks run with the shard's read lock held and must not
 * call back into the keydir.
 * Errors: 0 or a negative errno (-ENOENT, -ENOMEM, -EINVAL).
 */
#ifndef CASK_KEYDIR_H
#define CASK_KEYDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/md5.h"

#define KEYDIR_SHARDS  256
#define KEYDIR_SEG_MAX ((UINT32_C(1) << 31) - 1)
#define KEYDIR_OFF_MAX ((UINT64_C(1) << 48) - 1)

struct keydir_loc {
	uint32_t seg;  /* segment id, at most KEYDIR_SEG_MAX */
	uint8_t gen;   /* 0 or 1: file version of the segment */
	uint64_t off;  /* record offset, at most KEYDIR_OFF_MAX */
	uint64_t size; /* value size, at most KEYDIR_OFF_MAX */
	uint8_t md5[MD5_LEN];
};

struct keydir;

int keydir_new(struct keydir **out);
void keydir_free(struct keydir *kd);

/* Called with the shard's read lock held, so whatever it does is
 * consistent with the location it is given (e.g. dup the segment's fd
 * before merge can retire it). */
typedef void (*keydir_pin_fn)(void *arg, const struct keydir_loc *loc);

/* Looks up key. Returns 0 and fills loc (and calls pin, if not NULL), or
 * -ENOENT. */
int keydir_get(struct keydir *kd, const char *key, size_t klen,
	       struct keydir_loc *loc, keydir_pin_fn pin, void *arg);

/* Inserts key → loc, or replaces the existing entry when loc is newer.
 * Returns 1 if loc was stored (*had_old tells whether it replaced *old),
 * 0 if the existing entry is newer and was kept, or -ENOMEM. */
int keydir_put(struct keydir *kd, const char *key, size_t klen,
	       const struct keydir_loc *loc, struct keydir_loc *old,
	       bool *had_old);

/* Removes key if its entry is older than (seg, off). Returns 1 and fills
 * *old when removed, 0 when absent or newer. */
int keydir_del(struct keydir *kd, const char *key, size_t klen, uint32_t seg,
	       uint64_t off, struct keydir_loc *old);

/* Points key at `to` only if it still points exactly at `from` (seg, gen
 * and off). Returns 1 if moved, 0 otherwise. Used by merge. */
int keydir_move(struct keydir *kd, const char *key, size_t klen,
		const struct keydir_loc *from, const struct keydir_loc *to);

typedef void (*keydir_walk_fn)(void *arg, const char *key, size_t klen,
			       const struct keydir_loc *loc);

/* Calls fn for every key of one shard that starts with prefix. */
void keydir_walk(struct keydir *kd, unsigned shard, const char *prefix,
		 size_t plen, keydir_walk_fn fn, void *arg);

uint64_t keydir_count(struct keydir *kd);

/* Heap bytes held: slab chunks, tables and shard headers. */
uint64_t keydir_bytes(struct keydir *kd);

#endif
