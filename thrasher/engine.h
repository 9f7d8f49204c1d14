/* cask-thrasher's engine: concurrent PUT → GET → DELETE → GET sequences
 * on fresh keys, checked answer by answer.
 *
 * One thread drives `concurrency` sequences at once with libcurl multi;
 * each keeps its own easy handle, so connections to masters and volumes
 * are reused. Values are never held in memory: byte i of a value is a
 * pure function of (seed, operation number, i), generated when uploading
 * and again when checking a download, so values of any size cost no
 * memory and a run is reproducible from its seed. The one exception is
 * a PUT of a value under 64 KiB: it is generated into a per-worker
 * buffer so that its headers and body leave in one write.
 *
 * A sequence is PUT /key (201), GET /key following the redirect (200 and
 * exactly the bytes written), DELETE /key (204), GET /key (404). Any other
 * answer is printed to stderr with the key and counted as an error; a
 * failed PUT ends its sequence (there is nothing to read back), other
 * failures do not (the key is still cleaned up).
 *
 * With `mkv` a sequence is minikeyvalue's own benchmark instead: PUT,
 * GET, DELETE, and no GET after the DELETE, so figures compare with the
 * ones it publishes. */
#ifndef CASK_THRASHER_ENGINE_H
#define CASK_THRASHER_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "thrasher/hist.h"

enum thr_op {
	THR_PUT,
	THR_GET,
	THR_DELETE,
	THR_GET_DELETED,
	THR_NOPS,
};

extern const char *const thr_op_names[THR_NOPS];

struct thr_opts {
	const char *const *masters; /* base URLs "http://host:port" */
	size_t nmasters;	    /* operation i goes to masters[i % n] */
	unsigned concurrency;
	uint64_t ops;		     /* sequences to run; 0 with duration_ms */
	uint64_t duration_ms;	     /* 0: run `ops` sequences */
	uint64_t size_min, size_max; /* value size, uniform in [min, max] */
	uint64_t seed;
	const char *prefix; /* keys are <prefix><operation number> */
	bool keep;	    /* stop after the GET: leave the keys */
	bool mkv;	    /* stop after the DELETE */
	long timeout_ms;    /* per request */
	FILE *history;	    /* NULL, or one JSON line per request */
};

struct thr_result {
	uint64_t sequences; /* finished */
	uint64_t errors;
	double seconds;
	struct hist lat[THR_NOPS];
};

/* Runs to completion. Returns 0 (errors are in out->errors) or -ENOMEM
 * when libcurl could not be set up. */
int thr_run(const struct thr_opts *o, struct thr_result *out);

#endif
