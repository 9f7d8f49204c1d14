/* Hint files: NNNNNNNN.hint beside NNNNNNNN.data, a compact list of the
 * puts and tombstones of the segment's first `covered` bytes, so that
 * recovery need not read the values.
 *
 * Layout (little-endian): a 32-byte header
 *    0 u32 magic HINT_MAGIC   4 u32 version (1)   8 u32 segment id
 *   12 u32 reserved (0)      16 u64 covered      24 u64 entry count
 * then per entry
 *    0 u8 type (REC_PUT or REC_TOMBSTONE)   1 u16 klen   3 u64 record
 *   offset   11 u64 value size   19 md5[16]   35 key
 * then a u32 CRC32C of everything before it.
 *
 * A hint is written to a temporary name, fsynced and renamed, so it is
 * either whole or absent; a damaged one fails its CRC and is ignored.
 *
 * Memory: a hint_builder owns its buffer until hint_write or
 * hint_builder_free. Threads: no shared state; one builder per thread.
 * Errors: 0 or a negative errno; -EBADMSG for an invalid hint file.
 */
#ifndef CASK_HINT_H
#define CASK_HINT_H

#include <stdint.h>

#include "common/buf.h"
#include "common/md5.h"

#define HINT_MAGIC 0x544e4843u /* "CHNT" */

struct hint_entry {
	uint8_t type;
	uint16_t klen;
	uint64_t off; /* record offset in the segment */
	uint64_t vlen;
	uint8_t md5[MD5_LEN];
	const char *key;
};

struct hint_builder {
	struct buf b;
	uint64_t count;
};

void hint_add(struct hint_builder *hb, const struct hint_entry *e);
void hint_builder_free(struct hint_builder *hb);

/* Writes dir/NNNNNNNN.hint atomically (temporary file, fsync, rename)
 * and frees the builder. */
int hint_write(const char *dir, uint32_t seg, uint64_t covered,
	       struct hint_builder *hb);

typedef int (*hint_fn)(void *arg, const struct hint_entry *e);

/* Validates dir/NNNNNNNN.hint in full (CRC, every length against
 * seg_size), then calls fn for each entry in order. Returns 0 and sets
 * *covered, -ENOENT when there is no hint, -EBADMSG when it is invalid
 * (fn was not called), -EIO/-ENOMEM, or fn's non-zero return. */
int hint_load(const char *dir, uint32_t seg, uint64_t seg_size,
	      uint64_t *covered, hint_fn fn, void *arg);

/* Removes the hint of seg, if any; fsyncs the directory. */
int hint_remove(const char *dir, uint32_t seg);

/* Formats dir/NNNNNNNN.<ext> into out (PATH_MAX bytes). */
int hint_path(char *out, const char *dir, uint32_t seg, const char *ext);

#endif
