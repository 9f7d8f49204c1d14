/* cask-thrasher: load generator and correctness checker (see engine.h).
 * Exit status: 0 when every answer was right, 1 when any was wrong, 2 for
 * bad flags. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/flags.h"
#include "common/key.h"
#include "thrasher/engine.h"

#define MAX_MASTERS    64
#define MASTER_URL_MAX 300

/* "4K" or "1K-64K" into [min, max]. */
static int parse_size_range(const char *s, uint64_t *min, uint64_t *max)
{
	char lo[64];
	const char *dash = strchr(s, '-');
	size_t n = dash ? (size_t)(dash - s) : strlen(s);
	if (n >= sizeof(lo))
		return -EINVAL;
	memcpy(lo, s, n);
	lo[n] = '\0';
	if (flags_parse_size(lo, min))
		return -EINVAL;
	*max = *min;
	if (dash && flags_parse_size(dash + 1, max))
		return -EINVAL;
	return *min >= 1 && *min <= *max ? 0 : -EINVAL;
}

/* Splits "a:1,http://b:2/" into base URLs "http://a:1", "http://b:2".
 * Returns how many, or 0 when the list is empty or does not fit. */
static size_t parse_masters(char *list, char (*out)[MASTER_URL_MAX], size_t cap)
{
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(t);
		while (len && t[len - 1] == '/')
			t[--len] = '\0';
		const char *scheme = strncmp(t, "http://", 7) ? "http://" : "";
		if (!len || n == cap || strlen(scheme) + len >= MASTER_URL_MAX)
			return 0;
		snprintf(out[n++], MASTER_URL_MAX, "%s%s", scheme, t);
	}
	return n;
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void report_text(const struct thr_result *r, double rate)
{
	/* minikeyvalue's two lines, so results compare directly. */
	printf("%llu write/read/delete in %.3fs\n",
	       (unsigned long long)r->sequences, r->seconds);
	printf("thats %.2f/sec\n", rate);
	printf("%-12s %9s %9s %9s %9s %9s\n", "op", "count", "p50 ms", "p90 ms",
	       "p99 ms", "max ms");
	for (int i = 0; i < THR_NOPS; i++) {
		const struct hist *h = &r->lat[i];
		if (!h->count)
			continue;
		printf("%-12s %9llu %9.2f %9.2f %9.2f %9.2f\n", thr_op_names[i],
		       (unsigned long long)h->count, ms(hist_quantile(h, 0.50)),
		       ms(hist_quantile(h, 0.90)), ms(hist_quantile(h, 0.99)),
		       ms(h->max_us));
	}
	printf("errors %llu\n", (unsigned long long)r->errors);
}

/* User + system CPU this process has used since it started: a benchmark
 * that measures the machine's CPU around the thrasher subtracts it to get
 * the servers' share, so start-up counts too. */
static uint64_t self_cpu_us(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void report_json(const struct thr_result *r, double rate,
			uint64_t cpu_us)
{
	printf("{\"sequences\":%llu,\"seconds\":%.3f,\"per_sec\":%.2f,"
	       "\"errors\":%llu,\"cpu_us\":%llu,\"latency_ms\":{",
	       (unsigned long long)r->sequences, r->seconds, rate,
	       (unsigned long long)r->errors, (unsigned long long)cpu_us);
	for (int i = 0; i < THR_NOPS; i++) {
		const struct hist *h = &r->lat[i];
		printf("%s\"%s\":{\"count\":%llu,\"p50\":%.3f,\"p90\":%.3f,"
		       "\"p99\":%.3f,\"max\":%.3f}",
		       i ? "," : "", thr_op_names[i],
		       (unsigned long long)h->count, ms(hist_quantile(h, 0.50)),
		       ms(hist_quantile(h, 0.90)), ms(hist_quantile(h, 0.99)),
		       ms(h->max_us));
	}
	printf("}}\n");
}

int main(int argc, char **argv)
{
	long conc, timeout_s;
	uint64_t nops, seed;
	const char *masters, *size, *duration, *history, *prefix;
	bool json, keep, mkv;
	const struct flag flags[] = {
		{"masters", FLAG_STR, &masters, "localhost:3000",
		 "masters, comma separated host:port; requests are spread over "
		 "all"},
		{"c", FLAG_INT, &conc, "16", "concurrent workers"},
		{"n", FLAG_SIZE, &nops, "10000", "sequences to run"},
		{"duration", FLAG_STR, &duration, NULL,
		 "run for this long instead of -n (e.g. 30s, 5m)"},
		{"size", FLAG_STR, &size, "1K",
		 "value size, fixed (4K) or a range (1-64K)"},
		{"seed", FLAG_SIZE, &seed, "1", "seed of the values' bytes"},
		{"prefix", FLAG_STR, &prefix, NULL,
		 "key prefix (default /thrasher/<pid>-<time>/): keys must be "
		 "fresh"},
		{"keep", FLAG_BOOL, &keep, "false",
		 "PUT and GET only: leave the keys (to load a cluster)"},
		{"mkv", FLAG_BOOL, &mkv, "false",
		 "minikeyvalue's benchmark: PUT/GET/DELETE, no GET after the "
		 "DELETE"},
		{"timeout", FLAG_INT, &timeout_s, "60", "seconds per request"},
		{"json", FLAG_BOOL, &json, "false",
		 "print the summary as one JSON object"},
		{"history", FLAG_STR, &history, NULL,
		 "write every request's invoke/return times and result here "
		 "(JSON lines)"},
		{0},
	};
	int rc = flags_parse(flags, argc, argv,
			     "Runs concurrent PUT/GET/DELETE/GET sequences "
			     "(PUT/GET/DELETE with -mkv) on fresh keys and "
			     "checks every answer.");
	if (rc)
		return rc > 0 ? 0 : 2;
	struct thr_opts o = {.concurrency = (unsigned)conc,
			     .ops = nops,
			     .seed = seed,
			     .keep = keep,
			     .mkv = mkv,
			     .timeout_ms = timeout_s * 1000};
	static char urls[MAX_MASTERS][MASTER_URL_MAX];
	static char mlist[MAX_MASTERS * MASTER_URL_MAX];
	const char *murls[MAX_MASTERS];
	if (strlen(masters) < sizeof(mlist)) {
		strcpy(mlist, masters);
		o.nmasters = parse_masters(mlist, urls, MAX_MASTERS);
	}
	for (size_t i = 0; i < o.nmasters; i++)
		murls[i] = urls[i];
	o.masters = murls;
	double secs = 0;
	char unit[8] = "";
	if (*duration &&
	    (sscanf(duration, "%lf%7s", &secs, unit) < 1 || secs <= 0 ||
	     (strcmp(unit, "s") != 0 && strcmp(unit, "m") != 0 &&
	      strcmp(unit, "ms") != 0 && unit[0]))) {
		fprintf(stderr, "%s: -duration takes e.g. 30s, 500ms, 5m\n",
			argv[0]);
		return 2;
	}
	if (*duration)
		o.duration_ms =
			(uint64_t)(secs * (strcmp(unit, "m") == 0    ? 60e3
					   : strcmp(unit, "ms") == 0 ? 1
								     : 1e3));
	char defprefix[64];
	snprintf(defprefix, sizeof(defprefix), "/thrasher/%ld-%ld/",
		 (long)getpid(), (long)time(NULL));
	o.prefix = *prefix ? prefix : defprefix;
	if (!o.nmasters || conc < 1 || conc > 10000 || timeout_s < 1 ||
	    parse_size_range(size, &o.size_min, &o.size_max) ||
	    o.prefix[0] != '/' || strlen(o.prefix) > KEY_MAX - 24 ||
	    (!o.duration_ms && nops == 0) || (keep && mkv)) {
		fprintf(stderr,
			"%s: -masters host:port,..., -c >= 1, -n >= 1, -size "
			"N or MIN-MAX (>= 1), -prefix /..., not both -keep "
			"and -mkv (try -help)\n",
			argv[0]);
		return 2;
	}
	if (*history && !(o.history = fopen(history, "w"))) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], history,
			strerror(errno));
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "%s: libcurl failed to initialize\n", argv[0]);
		return 1;
	}
	struct thr_result *res = malloc(sizeof(*res));
	rc = res ? thr_run(&o, res) : -ENOMEM;
	uint64_t cpu_us = self_cpu_us();
	if (rc) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(-rc));
	} else {
		double rate = res->seconds > 0
				      ? (double)res->sequences / res->seconds
				      : 0;
		if (json)
			report_json(res, rate, cpu_us);
		else
			report_text(res, rate);
	}
	int status = rc || res->errors ? 1 : 0;
	if (o.history && fclose(o.history)) {
		fprintf(stderr, "%s: writing %s: %s\n", argv[0], history,
			strerror(errno));
		status = 1;
	}
	free(res);
	curl_global_cleanup();
	return status;
}
