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

#endif
