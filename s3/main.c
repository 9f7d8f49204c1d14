/* cask-s3: the S3 REST API in front of a cask cluster. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/sign.h"
#include "s3/creds.h"
#include "s3/gateway.h"
#include "s3/upstream.h"

int main(int argc, char **argv)
{
	long port, max_conns, per_ip;
	uint64_t max_object, min_rate;
	const char *masters, *creds_file, *bind, *secret_file, *level, *domain;
	const char *client_timeout, *timeout;
	bool insecure;
	const struct flag flags[] = {
		{"masters", FLAG_STR, &masters, NULL,
		 "comma-separated master URLs (required)"},
		{"port", FLAG_INT, &port, "9000", "TCP port to listen on"},
		SIGN_DAEMON_FLAGS(&bind, &secret_file, &insecure),
		{"credentials", FLAG_STR, &creds_file, NULL,
		 "file of lines ACCESS_KEY SECRET_KEY: who may sign requests "
		 "(required)"},
		{"domain", FLAG_STR, &domain, NULL,
		 "serve virtual-host-style requests to BUCKET.DOMAIN too"},
		{"max-object", FLAG_SIZE, &max_object, "1G",
		 "largest object accepted (EntityTooLarge above)"},
		{"timeout", FLAG_STR, &timeout, "10s",
		 "to reach a master or a volume, and for a master's answer"},
		HTTPSERVER_LIMIT_FLAGS(&max_conns, "1024", &per_ip, "512",
				       &client_timeout, &min_rate),
		{"log-level", FLAG_STR, &level, "info",
		 "debug, info, warn or error"},
		{0},
	};
	int rc = flags_parse(flags, argc, argv,
			     "Serves the S3 REST API over a cask cluster.");
	if (rc)
		return rc > 0 ? 0 : 2;
	int lvl = log_parse_level(level);
	long timeout_ms = flags_parse_duration_ms(timeout, 3600e3);
	if (!*masters || !*creds_file || lvl < 0 || port < 0 || port > 65535 ||
	    timeout_ms <= 0) {
		fprintf(stderr,
			"%s: -masters and -credentials are required; -port "
			"is 0..65535; -timeout a duration (try -help)\n",
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
	struct s3_creds *creds;
	rc = s3_creds_load(creds_file, &creds);
	if (rc)
		return 1;
	struct upstream *up;
	if (upstream_new(masters, timeout_ms, &up)) {
		log_error("-masters: comma-separated http:// URLs, at most "
			  "16");
		s3_creds_free(creds);
		return 2;
	}

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (httpc_global_init()) {
		log_error("libcurl would not start");
		return 1;
	}
	struct gw_options o = {.bind = bind,
			       .port = (int)port,
			       .domain = *domain ? domain : NULL,
			       .limits = limits,
			       .creds = creds,
			       .up = up,
			       .max_object = max_object,
			       .timeout_ms = timeout_ms};
	struct gw *g;
	rc = gw_start(&o, &g);
	if (rc) {
		log_error("cannot listen on %s:%ld: %s", bind, port,
			  strerror(-rc));
		return 1;
	}
	log_info("cask-s3 serving on %s:%ld for %s", bind, port, masters);
	int sig;
	sigwait(&sigs, &sig);
	log_info("signal %d: finishing requests in flight", sig);
	gw_stop(g, 30000);
	upstream_free(up);
	s3_creds_free(creds);
	httpc_global_cleanup();
	sign_cleanup();
	log_info("stopped cleanly");
	return 0;
}
