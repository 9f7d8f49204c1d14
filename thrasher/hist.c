#include "thrasher/hist.h"

static unsigned msb(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static unsigned bucket_of(uint64_t v)
{
	if (v < 32)
		return (unsigned)v;
	unsigned m = msb(v);
	return (m - 4) * 32 + (unsigned)((v >> (m - 5)) & 31);
}

/* The smallest value that lands in bucket i. */
static uint64_t bucket_low(unsigned i)
{
	if (i < 32)
		return i;
	unsigned m = i / 32 + 4;
	return (uint64_t)(32 + i % 32) << (m - 5);
}

void hist_add(struct hist *h, uint64_t us)
{
	h->bucket[bucket_of(us)]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (!h->count)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > want) {
			uint64_t v = bucket_low(i);
			return v > h->max_us ? h->max_us : v;
		}
	}
	return h->max_us;
}
