#include "volume/record.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/le.h"

void rec_encode(const struct rec_hdr *h, uint8_t out[REC_HDR_SIZE])
{
	le_put32(out, REC_MAGIC);
	le_put32(out + 8, h->data_crc);
	out[12] = h->type;
	out[13] = 0;
	le_put16(out + 14, h->klen);
	le_put64(out + 16, h->vlen);
	le_put64(out + 24, h->timestamp);
	memcpy(out + 32, h->md5, MD5_LEN);
	le_put32(out + 4, crc32c_update(0, out + 8, REC_HDR_SIZE - 8));
}

int rec_decode(const uint8_t in[REC_HDR_SIZE], struct rec_hdr *h)
{
	if (le_get32(in) != REC_MAGIC)
		return -EBADMSG;
	if (le_get32(in + 4) != crc32c_update(0, in + 8, REC_HDR_SIZE - 8))
		return -EBADMSG;
	h->data_crc = le_get32(in + 8);
	h->type = in[12];
	h->klen = le_get16(in + 14);
	h->vlen = le_get64(in + 16);
	h->timestamp = le_get64(in + 24);
	memcpy(h->md5, in + 32, MD5_LEN);
	if (h->type < REC_PENDING || h->type > REC_ABORTED || in[13] != 0)
		return -EBADMSG;
	if (h->klen == 0 || h->klen > KEY_MAX || h->vlen > REC_VALUE_MAX)
		return -EBADMSG;
	if (h->type == REC_TOMBSTONE && h->vlen != 0)
		return -EBADMSG;
	return 0;
}

const char *rec_verify_begin(struct rec_verify *v, const uint8_t *head,
			     const char *key, uint16_t klen, uint64_t size,
			     const uint8_t md5[MD5_LEN])
{
	assert(v && head && key && md5);
	struct rec_hdr h;
	if (rec_decode(head, &h) || h.type != REC_PUT || h.klen != klen ||
	    h.vlen != size || memcmp(h.md5, md5, MD5_LEN) != 0)
		return "bad header";
	if (memcmp(head + REC_HDR_SIZE, key, klen) != 0)
		return "key mismatch";
	v->want = h.data_crc;
	v->crc = crc32c_update(0, key, klen);
	v->left = size;
	return NULL;
}

void rec_verify_update(struct rec_verify *v, const void *p, size_t n)
{
	assert(v && n <= v->left && (p || !n));
	v->crc = crc32c_update(v->crc, p, n);
	v->left -= n;
}

const char *rec_verify_end(const struct rec_verify *v)
{
	assert(v && v->left == 0);
	return v->crc == v->want ? NULL : "data CRC mismatch";
}
