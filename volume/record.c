#include "volume/record.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void rec_encode(const struct rec_hdr *h, uint8_t out[REC_HDR_SIZE])
{
	put32(out, REC_MAGIC);
	put32(out + 8, h->data_crc);
	out[12] = h->type;
	out[13] = 0;
	put16(out + 14, h->klen);
	put64(out + 16, h->vlen);
	put64(out + 24, h->timestamp);
	memcpy(out + 32, h->md5, MD5_LEN);
	put32(out + 4, crc32c_update(0, out + 8, REC_HDR_SIZE - 8));
}

int rec_decode(const uint8_t in[REC_HDR_SIZE], struct rec_hdr *h)
{
	if (get32(in) != REC_MAGIC)
		return -EBADMSG;
	if (get32(in + 4) != crc32c_update(0, in + 8, REC_HDR_SIZE - 8))
		return -EBADMSG;
	h->data_crc = get32(in + 8);
	h->type = in[12];
	h->klen = get16(in + 14);
	h->vlen = get64(in + 16);
	h->timestamp = get64(in + 24);
	memcpy(h->md5, in + 32, MD5_LEN);
	if (h->type < REC_PENDING || h->type > REC_ABORTED || in[13] != 0)
		return -EBADMSG;
	if (h->klen == 0 || h->klen > REC_KEY_MAX || h->vlen > REC_VALUE_MAX)
		return -EBADMSG;
	if (h->type == REC_TOMBSTONE && h->vlen != 0)
		return -EBADMSG;
	return 0;
}
