/* The S3 REST API over a cask cluster (DESIGN.md, "S3 gateway").
 *
 * A bucket b is the key prefix /b/ and an object key k the cask key
 * /b/k; that bucket b exists is the key /.s3/buckets/b (bucket names
 * cannot begin with a dot, so no object key can be one of those). The
 * gateway keeps no state of its own: any number can serve one cluster.
 *
 * Every request but /_/health and /_/metrics is authenticated with
 * SigV4 (s3/sigv4.h) against the credentials; a body is forwarded to the
 * cluster as it arrives, except its last byte, which goes only once the
 * whole body is proven to be the one signed: a master stores nothing
 * until it has every byte, so a forged body is never stored. GETs are
 * streamed from the volume the master redirects to, a bounded buffer at
 * a time (s3/upstream.h).
 *
 * Threads: a thread per connection (handlers block on the cluster);
 * start and stop from one thread. Memory: the options' pointers are
 * borrowed for the gateway's lifetime. */
#ifndef CASK_S3_GATEWAY_H
#define CASK_S3_GATEWAY_H

#include <stdint.h>

#include "common/httpserver.h"
#include "s3/creds.h"
#include "s3/upstream.h"

struct gw_options {
	const char *bind;
	int port;
	const char *domain; /* virtual-host style under it; NULL: path only */
	struct httpserver_limits limits;
	const struct s3_creds *creds;
	struct upstream *up;
	uint64_t max_object; /* 413 EntityTooLarge above */
	long timeout_ms;     /* to a volume, per connection attempt */
};

struct gw;

/* 0, or -EADDRINUSE / -ENOMEM / -EINVAL as httpserver_start says. */
int gw_start(const struct gw_options *o, struct gw **out);
/* Finishes the requests in flight (up to grace_ms) and frees g. */
void gw_stop(struct gw *g, unsigned grace_ms);

#endif
