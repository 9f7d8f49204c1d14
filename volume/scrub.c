/* Scrub: re-reads every live record and checks it against its header and
 * the keydir, so bit rot is found before a client reads it.
 *
 * Walks the keydir one shard at a time, copying that shard's keys out
 * first so that no lock is held during disk reads; each record is then
 * read through a descriptor obtained with bc_get, which stays valid even
 * if merge replaces the segment meanwhile.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "volume/bitcask_int.h"
#include "volume/record.h"

#define READ_BUF (1u << 20)

static void collect(void *arg, const char *key, size_t klen,
		    const struct keydir_loc *loc)
{
	struct buf *b = arg;
	uint16_t k16 = (uint16_t)klen;
	buf_append(b, &k16, sizeof(k16));
	buf_append(b, key, klen);
}

/* Returns 0 if the record is sound, 1 if it is bad (logged), or a
 * negative errno when it could not be checked. */
static int check_one(struct bc *bc, const char *key, uint16_t klen,
		     uint8_t *rbuf)
{
	struct bc_entry e;
	int fd;
	int rc = bc_get(bc, key, klen, &e, &fd);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	uint8_t hb[REC_HDR_SIZE + KEY_MAX];
	struct rec_hdr h;
	const char *why = NULL;
	uint64_t off = e.value_offset - REC_HDR_SIZE - klen;
	if (bc_pread_all(fd, hb, REC_HDR_SIZE + klen, off))
		why = "unreadable header";
	else if (rec_decode(hb, &h) || h.type != REC_PUT || h.klen != klen ||
		 h.vlen != e.size || memcmp(hb + REC_HDR_SIZE, key, klen) != 0)
		why = "bad header";
	struct md5 m;
	if (!why && md5_init(&m) == 0) {
		uint32_t crc = crc32c_update(0, key, klen);
		for (uint64_t done = 0; !why && done < e.size;) {
			size_t n = e.size - done < READ_BUF
					   ? (size_t)(e.size - done)
					   : READ_BUF;
			if (bc_pread_all(fd, rbuf, n, e.value_offset + done))
				why = "unreadable value";
			crc = crc32c_update(crc, rbuf, n);
			md5_update(&m, rbuf, n);
			done += n;
		}
		uint8_t digest[MD5_LEN];
		md5_final(&m, digest);
		if (!why && crc != h.data_crc)
			why = "data CRC mismatch";
		else if (!why && (memcmp(digest, h.md5, MD5_LEN) != 0 ||
				  memcmp(digest, e.md5, MD5_LEN) != 0))
			why = "md5 mismatch";
	} else if (!why) {
		rc = -ENOMEM;
	}
	close(fd);
	if (rc)
		return rc;
	if (!why)
		return 0;
	log_error("bitcask %s: scrub: key %.*s in segment %08u at %llu: %s",
		  bc->dir, (int)klen, key, e.segment, (unsigned long long)off,
		  why);
	return 1;
}

long bc_scrub(struct bc *bc)
{
	long bad = 0;
	int rc = 0;
	uint8_t *rbuf = malloc(READ_BUF);
	if (!rbuf)
		return -ENOMEM;
	for (unsigned s = 0; !rc && s < KEYDIR_SHARDS; s++) {
		struct buf keys = {0};
		keydir_walk(bc->kd, s, NULL, 0, collect, &keys);
		if (buf_failed(&keys))
			rc = -ENOMEM;
		for (size_t p = 0; !rc && p < keys.len;) {
			uint16_t klen;
			memcpy(&klen, keys.data + p, sizeof(klen));
			int r = check_one(bc, keys.data + p + sizeof(klen),
					  klen, rbuf);
			if (r < 0)
				rc = r;
			else
				bad += r;
			p += sizeof(klen) + klen;
		}
		buf_free(&keys);
	}
	free(rbuf);
	atomic_fetch_add(&bc->scrub_errors, (uint64_t)bad);
	return rc ? rc : bad;
}
