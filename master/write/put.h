/* A streaming PUT: the request body goes to every replica at once.
 *
 * The HTTP layer feeds body chunks as they arrive; they are hashed (md5)
 * and copied into a bounded ring (at most PUT_RING_MAX bytes, or the
 * value's size when smaller) from which a fan-out thread uploads to all
 * replicas in parallel with libcurl multi. A few fan-out threads serve
 * every PUT, each with one multi handle whose connection cache keeps the
 * connections to the volumes open between PUTs. The ring frees space only
 * when every replica has consumed it, so the slowest replica paces the
 * client and memory stays bounded whatever the value's size.
 *
 * When every replica answered 201 with the same md5, a CMD_PUT is
 * submitted to the commit thread (group commit: concurrent PUTs share a
 * synced transaction) and the answer is 201 once it is applied.
 * Otherwise nothing is recorded, the copies that may exist are queued for
 * purge (CMD_PURGE_ADD), and the answer is a 5xx saying which volume
 * failed and how.
 *
 * A chunked body (no Content-Length: `curl -T -`) has no size until its
 * end, and is bounded by put_params.max as it arrives: past it the PUT
 * fails at once (413, the uploads aborted, nothing recorded). Until the
 * ring would overflow (64 KiB at first, then PUT_RING_MAX) it is only
 * gathered; a body that ends within it goes to the volumes with its
 * Content-Length like any other (one send when it is small). A longer one
 * goes out chunked as it arrives, through the same ring and with the same
 * back-pressure, signed as chunked (common/sign.h); the volumes spool it
 * (volume/bitcask.h). Either way the md5 is taken as the bytes arrive
 * and checked against every replica's, and the answer is 201 only once
 * every replica stored the whole body and the index recorded its size.
 *
 * Flow control goes through `struct put_io`: put_feed and put_finish call
 * suspend (the HTTP layer stops delivering: MHD_suspend_connection) when
 * they must wait; resume follows, from any thread, once they may go on.
 * Both are called with the put's lock held, and resume only after
 * suspend, so a wake-up is never lost or early.
 *
 * Ownership: put_start takes over the key's write lock
 * (master/write/keylock.h); it is released once the volumes and the index are
 * settled, before the answer is ready. The put itself is freed when both the
 * HTTP layer (put_detach) and the fan-out side are done with it. */
#ifndef CASK_MASTER_PUT_H
#define CASK_MASTER_PUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/write/commit.h"
#include "master/write/purge.h"

#define PUT_RING_MAX (4u << 20)

/* put_params.size of a chunked body. */
#define PUT_SIZE_UNKNOWN UINT64_MAX

struct put_io {
	void (*suspend)(void *arg);
	void (*resume)(void *arg);
	void *arg;
};

struct put_params {
	const char *key;
	size_t keylen;
	uint64_t size; /* Content-Length, > 0, or PUT_SIZE_UNKNOWN */
	uint64_t max;  /* -max-value: the bound of a chunked body */
	unsigned n;    /* replicas */
	uint32_t ids[CMD_MAX_VOLS];
	const char *addrs[CMD_MAX_VOLS]; /* copied */
	/* Volumes holding copies of an unlinked record the PUT replaces:
	 * never purged when the PUT fails. */
	unsigned nkeep;
	uint32_t keep[CMD_MAX_VOLS];
	bool md5sum; /* compute the md5 here and check the volumes' */
	long connect_timeout_ms;
	struct commit *cm;
	struct purge *pg;
	struct put_io io;
};

struct put;

/* Starts the fan-out threads; call once, after httpc_global_init. Returns
 * 0 or -ENOMEM. */
int put_system_start(void);

/* Waits for every started PUT to finish (the commit thread must still
 * run), then stops the fan-out threads. */
void put_system_stop(void);

/* Starts a PUT. Returns 0 or -errno (the caller keeps the key lock
 * on failure). */
int put_start(const struct put_params *pp, struct put **out);

/* Takes up to len bytes of body. Returns how many were taken; fewer than
 * len means io.suspend was called and io.resume will follow. After a
 * failure the rest of the body is accepted and dropped. */
size_t put_feed(struct put *p, const char *data, size_t len);

/* The body is complete (a chunked body's size is now known; an empty one
 * is answered 411). Returns true when the answer is ready; false means
 * io.suspend was called and io.resume will follow when it is. */
bool put_finish(struct put *p);

/* The HTTP status to answer and a one-line reason. */
unsigned put_status(struct put *p, const char **why);

/* The HTTP layer is done (answered, or the client went away, which aborts
 * the uploads). No io callback is made after this returns. */
void put_detach(struct put *p);

/* PUTs started and not yet answered. */
unsigned put_active(void);

#endif
