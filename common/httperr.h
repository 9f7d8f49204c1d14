/* The errno → HTTP status table: the one place that says how an
 * operation's outcome (0 or a negative errno, as every module here
 * returns) is answered over HTTP, by the masters and the volumes alike.
 *
 *   errno                        status  meaning
 *   0                            200     done (callers that create or
 *                                        delete answer 201 or 204)
 *   -EINVAL                      400     the request is malformed
 *   -EPERM, -EEXIST              403     refused: the key is protected,
 *                                        or exists
 *   -ENOENT                      404     no such key (or thing)
 *   -EBUSY, -ESTALE              409     another write to the key is in
 *                                        flight; the record changed
 *                                        under a conditional write
 *   -EFBIG, -E2BIG               413     too large (a value, a listing)
 *   -ENAMETOOLONG                414     a key over KEY_MAX bytes
 *   -ENOSPC                      507     no room on the disk
 *   -ENOTCONN, -ECANCELED,       503     transient, with Retry-After:
 *   -ETIMEDOUT, -ESHUTDOWN,              no leader or quorum, the leader
 *   -EAGAIN                              was lost mid-request (the
 *                                        outcome is unknown, or the
 *                                        write did not happen on a
 *                                        leader), nothing was decided in
 *                                        time, shutting down
 *   anything else (-EIO, -ENOMEM) 500    a fault here
 *
 * A lost leader is always 503, never 307: a redirect needs a known
 * leader's URL and must come before the work starts (a follower answers
 * 307 to the leader on a write's first call, common/httpd.h
 * http_reply_to_leader); once the write began here, retrying is the
 * client's decision, and Retry-After says when.
 *
 * Pure functions: thread-safe, no allocation. */
#ifndef CASK_HTTPERR_H
#define CASK_HTTPERR_H

/* The status that answers an operation that ended with err. */
unsigned httperr_status(int err);

/* A short default reason for err (a static string, no '\n'), for callers
 * that have nothing more precise to say. */
const char *httperr_reason(int err);

#endif
