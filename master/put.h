/* A streaming PUT: the request body goes to every replica at once.
 *
 * The HTTP layer feeds body chunks as they arrive; they are copied into a
 * bounded ring (at most PUT_RING_MAX bytes, or the value's size when
 * smaller) from which one worker thread per PUT uploads to all replicas in
 * parallel with libcurl multi, and computes the value's md5 on the way.
 * The ring frees space only when every replica (and the md5) has consumed
 * it, so the slowest replica paces the client and memory stays bounded
 * whatever the value's size.
 *
 * When every replica answered 201 with the same md5, the worker commits a
 * CMD_PUT and the answer is 201. Otherwise nothing is recorded, the copies
 * that may exist are queued for purge (CMD_PURGE_ADD), and the answer is
 * a 5xx saying which volume failed and how.
 *
 * Flow control goes through `struct put_io`: put_feed and put_finish call
 * suspend (the HTTP layer stops delivering: MHD_suspend_connection) when
 * they must wait; the worker calls resume once they may go on. Both are
 * called with the put's lock held, and resume only after suspend, so a
 * wake-up is never lost or early.
 *
 * Ownership: put_start takes over the key's write lock (master/keylock.h);
 * the worker releases it once the volumes and the index are settled,
 * before the answer is ready. The put itself is freed when both the HTTP
 * layer (put_detach) and the worker are done with it. */
#ifndef CASK_MASTER_PUT_H
#define CASK_MASTER_PUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/commit.h"
#include "master/purge.h"

#define PUT_RING_MAX (4u << 20)

struct put_io {
	void (*suspend)(void *arg);
	void (*resume)(void *arg);
	void *arg;
};

struct put_params {
	const char *key;
	size_t keylen;
	uint64_t size; /* Content-Length, > 0 */
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

/* Starts the worker. Returns 0 or -errno (the caller keeps the key lock
 * on failure). */
int put_start(const struct put_params *pp, struct put **out);

/* Takes up to len bytes of body. Returns how many were taken; fewer than
 * len means io.suspend was called and io.resume will follow. After a
 * failure the rest of the body is accepted and dropped. */
size_t put_feed(struct put *p, const char *data, size_t len);

/* The body is complete. Returns true when the answer is ready; false
 * means io.suspend was called and io.resume will follow when it is. */
bool put_finish(struct put *p);

/* The HTTP status to answer and a one-line reason. */
unsigned put_status(struct put *p, const char **why);

/* The HTTP layer is done (answered, or the client went away, which aborts
 * the uploads). No io callback is made after this returns. */
void put_detach(struct put *p);

/* PUTs whose worker is still running. */
unsigned put_active(void);

#endif
