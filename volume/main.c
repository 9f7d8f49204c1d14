/* cask-volume: one Bitcask store served over HTTP. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "common/log.h"
#include "common/sign.h"
#include "volume/bitcask.h"
#include "volume/server.h"

static int parse_sync(const char *s, enum bc_sync *out)
{
	if (strcmp(s, "always") == 0)
		*out = BC_SYNC_ALWAYS;
	else if (strcmp(s, "batch") == 0)
		*out = BC_SYNC_BATCH;
	else if (strcmp(s, "none") == 0)
		*out = BC_SYNC_NONE;
	else
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	long port, merge_pct, merge_interval, max_conns, per_ip, threads;
	uint64_t segment_size, max_value, scrub_rate, min_rate;
	const char *client_timeout;
	const char *dir, *sync_name, *bind, *level, *secret_file;
	bool insecure, signed_reads;
	const struct flag flags[] = {
		{"port", FLAG_INT, &port, "3001", "TCP port to listen on"},
		SIGN_DAEMON_FLAGS(&bind, &secret_file, &insecure),
		{"dir", FLAG_STR, &dir, NULL, "data directory (required)"},
		{"sync", FLAG_STR, &sync_name, "batch",
		 "durability: always, batch (group commit) or none"},
		{"segment-size", FLAG_SIZE, &segment_size, "1G",
		 "roll segment files at this size"},
		{"max-value", FLAG_SIZE, &max_value, "1G",
		 "largest value accepted (413 above)"},
		{"merge-threshold", FLAG_INT, &merge_pct, "50",
		 "merge a segment once this percentage of it is dead"},
		{"merge-interval", FLAG_INT, &merge_interval, "10000",
		 "milliseconds between merge checks (0: never merge)"},
		{"scrub-rate", FLAG_SIZE, &scrub_rate, "4M",
		 "background scrub: record bytes re-read and checked per "
		 "second, pass after pass (0: no background scrub); a pass "
		 "asked for with POST /_/scrub is not rate-limited"},
		HTTPSERVER_LIMIT_FLAGS(&max_conns, "1024", &per_ip, "512",
				       &client_timeout, &min_rate),
		{"threads", FLAG_INT, &threads, "8",
		 "HTTP polling threads; a GET that misses the page cache "
		 "holds one, so size it for the disk reads to keep in flight "
		 "(0: a thread per connection)"},
		{"signed-reads", FLAG_BOOL, &signed_reads, "false",
		 "serve GET and HEAD of keys only with the signature a "
		 "master run with -signed-reads puts in its redirect "
		 "(needs -secret-file)"},
		{"log-level", FLAG_STR, &level, "info",
		 "debug, info, warn or error"},
		{0},
	};
	int rc = flags_parse(flags, argc, argv,
			     "Stores blobs in Bitcask segment files and serves "
			     "them over HTTP.");
	if (rc)
		return rc > 0 ? 0 : 2;

	enum bc_sync sync;
	int lvl = log_parse_level(level);
	if (!*dir || parse_sync(sync_name, &sync) || lvl < 0 || port < 0 ||
	    port > 65535 || merge_pct < 1 || merge_pct > 100 ||
	    merge_interval < 0 || threads < 0 || threads > 1024 ||
	    segment_size < 4096) {
		fprintf(stderr,
			"%s: -dir is required; -sync is always|batch|"
			"none; -merge-threshold is 1..100; -threads is "
			"0..1024; -segment-size at least 4K (try -help)\n",
			argv[0]);
		return 2;
	}
	struct httpserver_limits limits;
	if (httpserver_limits_parse(max_conns, per_ip, client_timeout, min_rate,
				    &limits))
		return 2;
	log_set_level((enum log_level)lvl);
	if (sign_init(secret_file) || sign_bind(bind, insecure, &bind))
		return 1;
	if (signed_reads && !sign_enabled()) {
		log_error("-signed-reads needs -secret-file");
		return 2;
	}

	/* Signals are taken synchronously by the main thread; every other
	 * thread inherits the block. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct bc_options bo = {
		.dir = dir,
		.segment_size = segment_size,
		.sync = sync,
		.merge_threshold = (double)merge_pct / 100.0,
		.merge_interval_ms = (uint64_t)merge_interval,
		.scrub_rate = scrub_rate,
	};
	struct bc *bc;
	rc = bc_open(&bo, &bc);
	if (rc) {
		log_error("cannot open %s: %s", dir, strerror(-rc));
		return 1;
	}
	struct srv_options so = {
		.bind = bind,
		.port = (int)port,
		.max_value = max_value,
		.limits = limits,
		.signed_reads = signed_reads,
		.threads = (unsigned)threads,
	};
	struct srv *srv;
	rc = srv_start(&so, bc, &srv);
	if (rc) {
		log_error("cannot listen on %s:%ld: %s", bind, port,
			  strerror(-rc));
		bc_close(bc);
		return 1;
	}
	log_info("cask-volume %s serving %s on %s:%ld", bc_id(bc), dir, bind,
		 port);

	int sig;
	sigwait(&sigs, &sig);
	log_info("signal %d: finishing requests in flight", sig);
	srv_stop(srv, 30000);
	bc_close(bc);
	sign_cleanup();
	log_info("stopped cleanly");
	return 0;
}
