/* Everything under /_/raft/, inside the master's libmicrohttpd daemon:
 *
 *   POST /_/raft/msgs, /_/raft/snapshot   the transport (transport.h)
 *   POST /_/raft/members                  change the set of masters:
 *
 *     add ID URL   add master ID at URL (learner, then voter once caught up)
 *     remove ID    remove master ID
 *
 * One line of text in the body. Answered by the leader: 200 once the
 * change is committed; a follower answers 307 to the leader, 503 with
 * Retry-After when there is none; 400 for a malformed request, 409 while
 * another change runs, 413 for a body over 512 bytes; 503 with
 * Retry-After, as common/httperr.h maps every lost or slow leader, when the
 * change did not finish in time (a new master that cannot catch up).
 *
 * `state` is a pointer the caller keeps per request (NULL at first),
 * released by raft_http_done when the request ends; n must outlive it.
 * Threads: MHD's; a membership change suspends its connection while it
 * runs, and the node resumes it. */
#ifndef CASK_MASTER_RAFT_HTTP_H
#define CASK_MASTER_RAFT_HTTP_H

#include <microhttpd.h>
#include <stddef.h>

#include "master/repl/node.h"

enum MHD_Result raft_http(struct node *n, struct MHD_Connection *c,
			  const char *url, const char *method,
			  const char *upload, size_t *upload_size,
			  void **state);
void raft_http_done(void *state);

#endif
