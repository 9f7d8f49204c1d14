#include "volume/record.h"

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
