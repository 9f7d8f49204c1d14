#include "volume/scan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"

#define READ_BUF (1u << 20)

/* A window of the file, refilled by pread as the scan moves on. */
struct reader {
	int fd;
	uint64_t size;
	uint8_t *buf;
	uint64_t boff;
	size_t blen;
};

/* Points *p at bytes [off, off + n) of the file, n <= READ_BUF. Returns
 * 0, -ENODATA past the end, or -EIO. */
static int need(struct reader *r, uint64_t off, size_t n, const uint8_t **p)
{
	if (off > r->size || n > r->size - off)
		return -ENODATA;
	if (off >= r->boff && off + n <= r->boff + r->blen) {
		*p = r->buf + (off - r->boff);
		return 0;
	}
	size_t len =
		r->size - off < READ_BUF ? (size_t)(r->size - off) : READ_BUF;
	size_t got = 0;
	while (got < len) {
		ssize_t k = pread(r->fd, r->buf + got, len - got,
				  (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO;
		got += (size_t)k;
	}
	r->boff = off;
	r->blen = len;
	*p = r->buf;
	return 0;
}

/* Finds the next offset >= from holding a valid header. Returns 0 and
 * sets *at, -ENODATA when there is none, or -EIO. */
static int resync(struct reader *r, uint64_t from, uint64_t *at)
{
	static const uint8_t magic[4] = {
		REC_MAGIC & 0xff, (REC_MAGIC >> 8) & 0xff,
		(REC_MAGIC >> 16) & 0xff, REC_MAGIC >> 24};
	uint64_t pos = from;
	while (pos < r->size && r->size - pos >= REC_HDR_SIZE) {
		size_t win = r->size - pos < READ_BUF ? (size_t)(r->size - pos)
						      : READ_BUF;
		const uint8_t *p;
		int rc = need(r, pos, win, &p);
		if (rc)
			return rc;
		const uint8_t *m = memmem(p, win, magic, sizeof(magic));
		if (!m) {
			pos += win - (sizeof(magic) - 1);
			continue;
		}
		uint64_t cand = pos + (uint64_t)(m - p);
		struct rec_hdr h;
		rc = need(r, cand, REC_HDR_SIZE, &p);
		if (rc)
			return rc;
		if (rec_decode(p, &h) == 0) {
			*at = cand;
			return 0;
		}
		pos = cand + 1;
	}
	return -ENODATA;
}

static int data_crc(struct reader *r, uint64_t voff, uint64_t vlen,
		    uint32_t crc, uint32_t *out)
{
	for (uint64_t done = 0; done < vlen;) {
		size_t n = vlen - done < READ_BUF ? (size_t)(vlen - done)
						  : READ_BUF;
		const uint8_t *p;
		int rc = need(r, voff + done, n, &p);
		if (rc)
			return rc;
		crc = crc32c_update(crc, p, n);
		done += n;
	}
	*out = crc;
	return 0;
}

int scan_segment(int fd, uint64_t from, uint64_t size, bool verify, scan_fn fn,
		 void *arg, struct scan_result *res)
{
	struct reader r = {.fd = fd, .size = size};
	char key[KEY_MAX];
	uint64_t pos = from, tentative = 0;
	int rc = 0;

	res->end = from;
	res->corrupt = 0;
	r.buf = malloc(READ_BUF);
	if (!r.buf)
		return -ENOMEM;
	while (pos < size && size - pos >= REC_HDR_SIZE) {
		const uint8_t *p;
		struct rec_hdr h;
		rc = need(&r, pos, REC_HDR_SIZE, &p);
		if (rc)
			break;
		if (rec_decode(p, &h)) {
			/* All zeros: space reserved for a record that a crash
			 * kept from being written, not damage. */
			static const uint8_t zeros[REC_HDR_SIZE];
			if (memcmp(p, zeros, REC_HDR_SIZE) != 0)
				tentative++;
			rc = resync(&r, pos + 1, &pos);
			if (rc)
				break;
			continue;
		}
		uint64_t len = rec_size(h.klen, h.vlen);
		if (len > size - pos)
			break; /* torn: the record runs past the end */
		if (h.type == REC_PENDING || h.type == REC_ABORTED) {
			pos += len;
			continue;
		}
		rc = need(&r, pos + REC_HDR_SIZE, h.klen, &p);
		if (rc)
			break;
		memcpy(key, p, h.klen);
		if (verify || h.vlen == 0) {
			uint32_t crc;
			rc = data_crc(&r, pos + REC_HDR_SIZE + h.klen, h.vlen,
				      crc32c_update(0, key, h.klen), &crc);
			if (rc)
				break;
			if (crc != h.data_crc) {
				tentative++;
				pos += len;
				continue;
			}
		}
		res->corrupt += tentative;
		tentative = 0;
		rc = fn(arg, &h, pos, key);
		if (rc)
			break;
		pos += len;
		res->end = pos;
	}
	free(r.buf);
	return rc == -ENODATA ? 0 : rc;
}
