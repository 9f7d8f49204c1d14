/* Prometheus text-format metrics.
 *
 * HTTP requests are counted by method and status code with a latency
 * histogram; observation is lock-free (relaxed atomics), so it is cheap on
 * every request from any thread. Other counters belong to their modules,
 * which print them with metrics_counter / metrics_gauge when rendering. */
#ifndef CASK_METRICS_H
#define CASK_METRICS_H

#include <stdint.h>

#include "common/buf.h"

enum metrics_method {
	METRICS_GET,
	METRICS_HEAD,
	METRICS_PUT,
	METRICS_DELETE,
	METRICS_POST,
	METRICS_UNLINK,
	METRICS_REBALANCE,
	METRICS_OTHER,
	METRICS_METHODS,
};

/* Maps a method name to its slot (METRICS_OTHER when unknown). */
enum metrics_method metrics_method_of(const char *name);

/* Records one finished request. Thread-safe. */
void metrics_http_observe(enum metrics_method m, int code, uint64_t usec);

/* Appends the request counters and histograms, named
 * `<prefix>_http_requests_total` and `<prefix>_http_request_seconds`. */
void metrics_render_http(struct buf *b, const char *prefix);

/* The request counters summed over status codes, per method, with the
 * latency histogram: for a page that shows rates and p99s over the time
 * between two samples. */
#define METRICS_BOUNDS 15
struct metrics_sample {
	uint64_t count[METRICS_METHODS];
	uint64_t errors[METRICS_METHODS]; /* answered 5xx, or no answer */
	uint64_t bucket[METRICS_METHODS][METRICS_BOUNDS + 1]; /* last: +Inf */
};
void metrics_http_sample(struct metrics_sample *out);

/* The method's name ("GET", ...). */
const char *metrics_method_name(enum metrics_method m);

/* The 99th percentile latency, in seconds, of m's requests between two
 * samples (upper bound of its histogram bucket; +Inf past the last
 * bound); 0 when there were none. */
double metrics_p99(const struct metrics_sample *from,
		   const struct metrics_sample *to, enum metrics_method m);

void metrics_counter(struct buf *b, const char *name, const char *help,
		     uint64_t value);
void metrics_gauge(struct buf *b, const char *name, const char *help,
		   double value);

#endif
