/* The gateway's side of the cluster: requests to the masters' public API
 * and streamed transfers to and from the volumes they redirect to.
 *
 * Writes go to the leader. The gateway does not know which master leads:
 * it remembers the last one that took a write and follows a follower's
 * 307 to the leader it names; a master that cannot be reached gives way
 * to the next in -masters. Reads go to the same master (every master
 * answers reads linearizably).
 *
 * A streamed PUT is sent with Expect: 100-continue, so a master that
 * refuses it or redirects it does so before any of the body is sent, and
 * the body can still go elsewhere. A streamed GET holds at most
 * UPSTREAM_GET_BUF bytes of what the volume sent: the volume's connection
 * waits while the client is slower. Both drive libcurl on the calling
 * thread and block it (the gateway runs a thread per connection).
 *
 * Errors: 0 or a negative errno: -ECONNREFUSED when no master answered,
 * -EIO for a transfer that failed midway, -ENOMEM. */
#ifndef CASK_S3_UPSTREAM_H
#define CASK_S3_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

#define UPSTREAM_GET_BUF (256 * 1024)

struct upstream;

/* masters: comma-separated base URLs ("http://127.0.0.1:3000,..."), at
 * most 16. Returns 0 or -EINVAL (empty, too many, not http://), -ENOMEM. */
int upstream_new(const char *masters, long timeout_ms, struct upstream **out);
void upstream_free(struct upstream *u); /* NULL is a no-op */

/* A master's answer. For a key's GET or HEAD (302), what the master says
 * of the value; reason is the first line of an error's body. */
struct up_resp {
	long code;
	struct buf body; /* at most the call's `max` bytes */
	char location[4096];
	char md5[33];	 /* Content-Md5, "" when absent */
	int64_t size;	 /* Key-Size, -1 when absent */
	int64_t created; /* Key-Created (ms since the epoch), -1 when absent */
	char reason[256];
};

/* Sends method to path (percent-encoded, with its query) on a master:
 * the leader when `write`, with body (len bytes, may be NULL). Follows a
 * follower's 307 (at most a few hops), never a 302. out is filled
 * (free its body with up_resp_free) whatever the status. */
int upstream_call(struct upstream *u, const char *method, const char *path,
		  const void *body, size_t len, bool write, size_t max,
		  struct up_resp *out);
void up_resp_free(struct up_resp *r);

/* A PUT streamed to the leader, `length` bytes. up_put_begin returns 0
 * when the leader is waiting for the body, or 1 when a master answered
 * without it (*early filled: a refusal); the caller then calls
 * up_put_write as bytes come and up_put_end once all are sent. */
struct up_put;
int up_put_begin(struct upstream *u, const char *path, uint64_t length,
		 struct up_put **out, struct up_resp *early);
/* Blocks until libcurl has taken the bytes. -EIO when the transfer ended
 * first (its answer is up_put_end's). */
int up_put_write(struct up_put *p, const void *data, size_t n);
/* Waits for the master's answer and frees p. */
int up_put_end(struct up_put *p, struct up_resp *out);
/* Drops the connection before the body is whole, so that the master
 * stores nothing, and frees p. NULL is a no-op. */
void up_put_abort(struct up_put *p);

/* A GET of url (a volume's, from a master's Location), following the
 * volumes' own ?alt= redirects, with `range` ("bytes=0-99") sent as is
 * when not NULL. up_get_begin returns once the headers came: *code is the
 * volume's status, *length its Content-Length (-1 when unknown), and
 * content_range its Content-Range ("" when none). */
struct up_get;
int up_get_begin(const char *url, const char *range, long timeout_ms,
		 struct up_get **out, long *code, int64_t *length,
		 char *content_range, size_t cap);
/* Up to max bytes of the body; 0 at its end, -EIO when it broke off. */
ssize_t up_get_read(struct up_get *g, char *buf, size_t max);
void up_get_end(struct up_get *g); /* NULL is a no-op */

#endif
