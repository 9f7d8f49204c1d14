/* The master's public HTTP API (minikeyvalue-compatible) and its system
 * endpoints, over libmicrohttpd.
 *
 *   PUT /key             201; 403 exists, 409 busy, 411 empty or with
 *                        neither a Content-Length nor a chunked body
 *                        (streamed like any other, master/write/put.h),
 *                        413 over max_value, 414/400 bad key, 5xx when a
 *                        replica fails
 *   any request          400 with two Content-Lengths, or one beside a
 *                        Transfer-Encoding; 501 for an encoding other
 *                        than chunked (before the body is read)
 *   GET, HEAD /key       302 to a replica believed good, chosen at random:
 *                        on a healthy volume whose identity is confirmed,
 *                        not lost, not on a dead or unverified volume
 *                        (master/state/index.h idx_get_copies); the other
 *                        good ones ride along as ?alt=V2,V3, which a
 *                        volume follows when it lacks the key or finds it
 *                        corrupt. Headers Content-Md5, Key-Volumes,
 *                        Key-Balance. 404 absent or unlinked, or 302 to
 *                        the fallback; 503 when no copy is good
 *   DELETE /key          204 once committed, purge in the background;
 *                        404 absent, 403 live under `protect`
 *   UNLINK /key          204 soft delete; 404 absent or unlinked
 *   GET /p?list|unlinked[&start=K][&limit=N]  {"next":..,"keys":[..]}
 *   GET /_/health, /_/status (JSON), /_/metrics (Prometheus), /_/ui (the
 *   cluster as an HTML page, master/http/ui.h)
 * With opt.keys, writes (and reads, when a read key is listed) need a
 * Bearer key (401/403, master/http/apikeys.h); with opt.signed_reads the
 * 302s carry a read signature (common/sign.h).
 *   /_/raft/...          the Raft transport and membership
 * (master/repl/raft_http.h)
 *
 * Replicated (deps.node set): writes on a follower get 307 to the
 * leader's URL with the same path and query, 503 with Retry-After when
 * no leader is known; a write whose leader is lost after it began gets
 * 503 with Retry-After (common/httperr.h), whatever its method. Reads
 * first wait for a linearizable read index (node_read), 503 with
 * Retry-After when none comes in time.
 *
 * Threads: MHD's epoll thread pool answers reads inline (LMDB reads do
 * not block). Writes never hold a polling thread: a PUT's connection is
 * suspended while its worker waits on the volumes, a DELETE's or UNLINK's
 * while its command is committed. */
#ifndef CASK_MASTER_API_H
#define CASK_MASTER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/httpserver.h"
#include "master/http/apikeys.h"
#include "master/write/commit.h"
#include "master/state/index.h"
#include "master/repl/node.h"
#include "master/write/purge.h"
#include "master/write/repair.h"
#include "master/write/volumes.h"

struct api_options {
	const char *bind;
	int port;
	unsigned replicas;
	bool protect;
	const char *fallback; /* host:port for absent keys, or "" */
	bool md5sum;
	long voltimeout_ms;
	uint64_t max_value;
	size_t list_max; /* largest unbounded ?list answer (else 413) */
	unsigned threads;
	struct httpserver_limits limits;
	/* -api-keys (master/http/apikeys.h), borrowed; NULL: open. */
	const struct apikeys *keys;
	bool signed_reads; /* 302s carry a read signature (common/sign.h) */
};

struct api_deps {
	struct idx *ix;
	struct commit *cm;
	struct vols *vs;
	struct purge *pg;
	struct repair *rp;
	struct node *node; /* the Raft node, or NULL for a master alone */
};

struct api;

/* Starts serving. Options and deps are borrowed for the api's lifetime.
 * Returns 0, -EADDRINUSE, -EINVAL (bad bind address) or -EIO. */
int api_start(const struct api_options *opt, const struct api_deps *deps,
	      struct api **out);

/* Stops accepting, answers new requests on open connections 503, lets
 * the requests in flight finish (up to grace_ms), then closes every
 * connection and frees the api. The node (deps.node) must still run. */
void api_stop(struct api *a, unsigned grace_ms);

#endif
