/* On-disk record header of a Bitcask segment.
 *
 * A record is this header, then the key, then the value. All integers are
 * little-endian. Byte offsets:
 *
 *    0  u32 magic       REC_MAGIC
 *    4  u32 hdr_crc     CRC32C of bytes 8..47
 *    8  u32 data_crc    CRC32C of key then value (0 while pending)
 *   12  u8  type        enum rec_type
 *   13  u8  reserved    0
 *   14  u16 klen        1..KEY_MAX
 *   16  u64 vlen        value bytes, at most REC_VALUE_MAX
 *   24  u64 timestamp   ns since the Unix epoch, when reserved
 *   32  u8  md5[16]     MD5 of the value (zero while pending)
 *   48  key, value
 *
 * The header has its own checksum so that recovery can trust the sizes
 * (and skip a record by length) even when the body is damaged, and can
 * resynchronise on the next valid header when the header itself is bad.
 *
 * Pure functions on caller-owned buffers; thread-safe.
 */
#ifndef CASK_RECORD_H
#define CASK_RECORD_H

#include <stdint.h>

#include "common/key.h"
#include "common/md5.h"

#define REC_MAGIC     0x4b534143u /* "CASK" as little-endian bytes */
#define REC_HDR_SIZE  48
#define REC_VALUE_MAX (UINT64_C(1) << 40)

enum rec_type {
	REC_PENDING = 1,   /* reserved, body being written */
	REC_PUT = 2,	   /* committed value */
	REC_TOMBSTONE = 3, /* deletion; vlen is 0 */
	REC_ABORTED = 4,   /* reservation abandoned; dead */
};

struct rec_hdr {
	uint32_t data_crc;
	uint8_t type;
	uint16_t klen;
	uint64_t vlen;
	uint64_t timestamp;
	uint8_t md5[MD5_LEN];
};

/* Total bytes the record occupies on disk. */
static inline uint64_t rec_size(uint16_t klen, uint64_t vlen)
{
	return REC_HDR_SIZE + (uint64_t)klen + vlen;
}

void rec_encode(const struct rec_hdr *h, uint8_t out[REC_HDR_SIZE]);

/* Decodes and validates magic, header CRC, type and sizes. Returns 0, or
 * -EBADMSG when the bytes are not a trustworthy header. */
int rec_decode(const uint8_t in[REC_HDR_SIZE], struct rec_hdr *h);

/* Checking a stored put against what the keydir says it holds, before its
 * bytes are trusted: the one check behind both a GET's copy and the scrub.
 * The value may arrive in pieces, so a big one needs no big buffer:
 *
 *   struct rec_verify v;
 *   const char *why = rec_verify_begin(&v, head, key, klen, size, md5);
 *   ... rec_verify_update(&v, piece, n) over the value, in order ...
 *   if (!why) why = rec_verify_end(&v);
 *
 * A reason is a short static string for logs and reports; NULL means
 * sound. The md5 of the value is not recomputed here (it costs far more
 * than the CRC); the scrub does that on top. */
struct rec_verify {
	uint32_t want; /* data CRC from the header */
	uint32_t crc;  /* over the key and the value bytes seen so far */
	uint64_t left; /* value bytes still expected */
};

/* Checks the header and key bytes `head` (REC_HDR_SIZE + klen bytes as
 * read from disk): a valid header of a put of exactly `key` with a value
 * of `size` bytes whose md5 is `md5`. Returns NULL and readies v for the
 * value, or "bad header" (or "key mismatch" for a sound header followed
 * by other key bytes). */
const char *rec_verify_begin(struct rec_verify *v, const uint8_t *head,
			     const char *key, uint16_t klen, uint64_t size,
			     const uint8_t md5[MD5_LEN]);

/* Feeds the next n value bytes. */
void rec_verify_update(struct rec_verify *v, const void *p, size_t n);

/* After exactly `size` value bytes: NULL when key and value match the
 * header's data CRC, else "data CRC mismatch". */
const char *rec_verify_end(const struct rec_verify *v);

#endif
