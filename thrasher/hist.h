/* Latency histograms for cask-thrasher.
 *
 * Log-linear buckets (32 per power of two, so a reported percentile is
 * within about 3% of the true value) over microseconds: fixed size,
 * constant time to record, any run length. The maximum is kept exactly.
 * A histogram is owned by one thread; no allocation. */
#ifndef CASK_THRASHER_HIST_H
#define CASK_THRASHER_HIST_H

#include <stdint.h>

#define HIST_BUCKETS (64 * 32)

struct hist {
	uint64_t count;
	uint64_t max_us;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t us);

/* The value (microseconds) below which a fraction q (0..1) of the
 * samples lie; 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
