/* POST /_/raft/members: change the set of masters at runtime.
 *
 *   add ID URL   add master ID at URL (learner, then voter once caught up)
 *   remove ID    remove master ID
 *
 * One line of text in the body. Answered by the leader: 200 once the
 * change is committed; a follower answers 307 to the leader, 503 with
 * Retry-After when there is none; 400 for a malformed request, 504 when
 * the change did not finish in time (a new master that cannot catch up).
 *
 * Threads: MHD's; the connection is suspended while the change runs. */
#ifndef CASK_MASTER_MEMBERS_H
#define CASK_MASTER_MEMBERS_H

#include <microhttpd.h>
#include <stddef.h>

struct node;

enum MHD_Result members_http(struct node *n, struct MHD_Connection *c,
			     const char *method, const char *upload,
			     size_t *upload_size, void **state);
void members_http_done(void *state);

#endif
