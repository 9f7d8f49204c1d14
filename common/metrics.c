#include "common/metrics.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

static const char *const method_names[METRICS_METHODS] = {
	"GET", "HEAD", "PUT", "DELETE", "POST", "UNLINK", "REBALANCE", "OTHER"};

/* The codes cask answers with; anything else is counted as code 0. */
static const int codes[] = {200, 201, 204, 206, 302, 307, 400,
			    403, 404, 405, 409, 411, 413, 414,
			    416, 500, 502, 503, 504, 507, 0};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
				0.005,	0.01,	 0.025,	 0.05,	0.1,
				0.25,	0.5,	 1,	 2.5,	10};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))
_Static_assert(NBOUNDS == METRICS_BOUNDS, "metrics.h says how many");

struct slot {
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t usec_sum;
	atomic_uint_fast64_t bucket[NBOUNDS]; /* non-cumulative */
};

static struct slot slots[METRICS_METHODS][NCODES];

enum metrics_method metrics_method_of(const char *name)
{
	assert(name);
	for (int i = 0; i < METRICS_OTHER; i++)
		if (strcmp(name, method_names[i]) == 0)
			return (enum metrics_method)i;
	return METRICS_OTHER;
}

void metrics_http_observe(enum metrics_method m, int code, uint64_t usec)
{
	assert((unsigned)m <= METRICS_OTHER);
	size_t c = 0;
	while (c < NCODES - 1 && codes[c] != code)
		c++;
	struct slot *s = &slots[m][c];
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->usec_sum, usec, memory_order_relaxed);
	double sec = (double)usec / 1e6;
	for (size_t i = 0; i < NBOUNDS; i++)
		if (sec <= bounds[i]) {
			atomic_fetch_add_explicit(&s->bucket[i], 1,
						  memory_order_relaxed);
			break;
		}
}

void metrics_render_http(struct buf *b, const char *prefix)
{
	buf_printf(b,
		   "# HELP %s_http_requests_total HTTP requests answered.\n"
		   "# TYPE %s_http_requests_total counter\n",
		   prefix, prefix);
	for (int m = 0; m < METRICS_METHODS; m++)
		for (size_t c = 0; c < NCODES; c++) {
			uint64_t n = atomic_load(&slots[m][c].count);
			if (n)
				buf_printf(b,
					   "%s_http_requests_total{method=\"%"
					   "s\",code=\"%d\"} %llu\n",
					   prefix, method_names[m], codes[c],
					   (unsigned long long)n);
		}
	buf_printf(b,
		   "# HELP %s_http_request_seconds HTTP request latency.\n"
		   "# TYPE %s_http_request_seconds histogram\n",
		   prefix, prefix);
	for (int m = 0; m < METRICS_METHODS; m++)
		for (size_t c = 0; c < NCODES; c++) {
			struct slot *s = &slots[m][c];
			uint64_t n = atomic_load(&s->count);
			if (!n)
				continue;
			uint64_t cum = 0;
			for (size_t i = 0; i < NBOUNDS; i++) {
				cum += atomic_load(&s->bucket[i]);
				buf_printf(
					b,
					"%s_http_request_seconds_bucket{"
					"method=\"%s\",code=\"%d\",le=\"%g\"}"
					" %llu\n",
					prefix, method_names[m], codes[c],
					bounds[i], (unsigned long long)cum);
			}
			buf_printf(
				b,
				"%s_http_request_seconds_bucket{method=\"%s\""
				",code=\"%d\",le=\"+Inf\"} %llu\n"
				"%s_http_request_seconds_sum{method=\"%s\","
				"code=\"%d\"} %.6f\n"
				"%s_http_request_seconds_count{method=\"%s\","
				"code=\"%d\"} %llu\n",
				prefix, method_names[m], codes[c],
				(unsigned long long)n, prefix, method_names[m],
				codes[c],
				(double)atomic_load(&s->usec_sum) / 1e6, prefix,
				method_names[m], codes[c],
				(unsigned long long)n);
		}
}

void metrics_http_sample(struct metrics_sample *out)
{
	memset(out, 0, sizeof(*out));
	for (int m = 0; m < METRICS_METHODS; m++)
		for (size_t c = 0; c < NCODES; c++) {
			struct slot *s = &slots[m][c];
			uint64_t n = atomic_load(&s->count), in_bounds = 0;
			out->count[m] += n;
			if (codes[c] >= 500 || codes[c] == 0)
				out->errors[m] += n;
			for (size_t i = 0; i < NBOUNDS; i++) {
				uint64_t k = atomic_load(&s->bucket[i]);
				out->bucket[m][i] += k;
				in_bounds += k;
			}
			out->bucket[m][NBOUNDS] +=
				n > in_bounds ? n - in_bounds : 0;
		}
}

const char *metrics_method_name(enum metrics_method m)
{
	assert((unsigned)m < METRICS_METHODS);
	return method_names[m];
}

double metrics_p99(const struct metrics_sample *from,
		   const struct metrics_sample *to, enum metrics_method m)
{
	uint64_t n = to->count[m] - from->count[m];
	if (!n)
		return 0;
	uint64_t want = n - n / 100, cum = 0;
	for (size_t i = 0; i < NBOUNDS; i++) {
		cum += to->bucket[m][i] - from->bucket[m][i];
		if (cum >= want)
			return bounds[i];
	}
	return 1.0 / 0.0;
}

void metrics_counter(struct buf *b, const char *name, const char *help,
		     uint64_t value)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
		   name, name, (unsigned long long)value);
}

void metrics_gauge(struct buf *b, const char *name, const char *help,
		   double value)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help,
		   name, name, value);
}
