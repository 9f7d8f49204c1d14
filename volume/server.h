/* The volume's HTTP surface, over libmicrohttpd.
 *
 *   PUT /key      201 (Content-Md5), 411 without Content-Length, 413 over
 *                 max_value, 507 when the disk is full
 *   GET /key      200 via sendfile, Range → 206, unsatisfiable → 416
 *   HEAD /key     headers only
 *   DELETE /key   204, 404 when absent
 *   GET /_/keys[?prefix=P]  every live key as NDJSON, streamed
 *   GET /_/status, /_/metrics, /_/health;  POST /_/scrub
 *
 * Connections are served by a pool of `threads` epoll threads. A PUT never
 * holds one while it waits for its group commit: its connection is
 * suspended and the engine's sync thread resumes it (a DELETE likewise
 * waits on a thread of its own). A GET that misses the page cache does
 * block its polling thread in sendfile, so the pool must be large enough
 * to keep disk reads in flight. threads = 0 serves each connection on a
 * thread of its own, where PUT and DELETE simply block.
 *
 * Threads: srv_start/srv_stop from one thread; handlers run on MHD's. */
#ifndef CASK_VOLUME_SERVER_H
#define CASK_VOLUME_SERVER_H

#include <stdint.h>

#include "volume/bitcask.h"

struct srv_options {
	const char *bind; /* address to listen on */
	int port;
	uint64_t max_value;
	unsigned max_connections;
	unsigned threads; /* polling threads; 0: one per connection */
};

struct srv;

/* Starts serving `bc` (borrowed; must outlive the server). Returns 0,
 * -EADDRINUSE or -EINVAL (bad bind address), or -EIO. */
int srv_start(const struct srv_options *opt, struct bc *bc, struct srv **out);

/* Graceful stop: stops accepting, lets requests in flight finish (up to
 * grace_ms, and in any case until every suspended PUT or DELETE has
 * ended), then closes every connection and frees the server. */
void srv_stop(struct srv *s, unsigned grace_ms);

#endif
