/* The master's admin endpoints and REBALANCE, for cask-rebuild and
 * cask-rebalance (see README.md, "Admin endpoints"):
 *
 *   GET  /_/admin/records[?start=K][&limit=N]  index records as NDJSON
 *   POST /_/admin/records   NDJSON upserts/removals, one command each
 *   GET  /_/admin/volumes   {"replicas":N} then one line per volume
 *   POST /_/admin/volumes   {"add"|"activate"|"drain"|"remove":"host:port"}
 *   REBALANCE /key          master/write/move.h
 *
 * Every change is a command (master/state/cmd.h) through the commit path, so
 * it replicates like a client's write. Work that blocks (commits, volume
 * transfers) runs on a worker thread while the connection is suspended,
 * never on a polling thread.
 *
 * The API (master/http/api.c) hands a request over with admin_claims and
 * admin_handle and releases its state with admin_req_free when MHD
 * completes it. Threads: any. */
#ifndef CASK_MASTER_ADMIN_H
#define CASK_MASTER_ADMIN_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "master/write/move.h"

struct admin;
struct admin_req;

/* deps is copied. Returns NULL when out of memory. */
struct admin *admin_new(const struct move_deps *deps);

/* Refuses new workers (503) and waits for running ones: call before the
 * HTTP daemon stops, since workers resume connections. */
void admin_drain(struct admin *ad);

/* Frees ad, after the HTTP daemon stopped. NULL is a no-op. */
void admin_free(struct admin *ad);

/* Whether this request is the admin's to answer. */
bool admin_claims(const char *url, const char *method);

/* MHD's access handler for a claimed request, from its second call on
 * (the first only carries headers). *state starts NULL and is the
 * admin's; *status gets the answered code for metrics. */
enum MHD_Result admin_handle(struct admin *ad, struct MHD_Connection *c,
			     const char *url, const char *method,
			     const char *upload, size_t *upload_size,
			     struct admin_req **state, unsigned *status);

void admin_req_free(struct admin_req *r); /* NULL is a no-op */

#endif
