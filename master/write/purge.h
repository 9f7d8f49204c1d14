/* The purge worker: deletes the copies that the index queued for removal
 * (DELETE, replaced unlinked records, failed PUTs) from the volumes.
 *
 * The queue is durable (the index's purge database), so a purge survives
 * restarts; an entry leaves it only by a committed CMD_PURGE_DONE after
 * the volume answered 204 or 404 for its key. Volumes the health check
 * marks down are skipped and retried when they return.
 *
 * A round takes up to 4096 entries, at most 1024 per volume, and sends
 * each volume ONE POST /_/purge with all of its keys (at most 1 MiB of
 * body; what does not fit waits for the next round), every volume in
 * parallel; the volume writes the tombstones under one sync and answers
 * a status per key. The copies answered 204 or 404 are retired with one
 * commit batch; the rest stay queued. A volume that answers 404 or 405
 * for the endpoint (one that predates it), or refuses the batch whole
 * (400, 413), gets that round's keys as one DELETE each instead.
 *
 * Each copy is deleted under its key's write lock (held until that
 * commit; a key's copies on several volumes share one lock) and only
 * while its queue entry is unchanged, so a purge never deletes a value
 * written after it was queued.
 *
 * Threads: one worker thread; purge_poke and purge_counts from any
 * thread. Memory: about 3 MiB for the round, allocated at start. */
#ifndef CASK_MASTER_PURGE_H
#define CASK_MASTER_PURGE_H

#include <stdint.h>

#include "master/write/commit.h"
#include "master/state/index.h"
#include "master/write/volumes.h"

struct purge;

/* Starts the worker (all arguments borrowed). Returns 0 or -errno. */
int purge_start(struct idx *ix, struct commit *cm, struct vols *vs,
		long timeout_ms, long interval_ms, struct purge **out);

/* Asks the worker to look at the queue now rather than at its next round. */
void purge_poke(struct purge *p);

/* Copies deleted and attempts that failed, since start. */
void purge_counts(struct purge *p, uint64_t *done, uint64_t *failed);

void purge_stop(struct purge *p); /* NULL is a no-op */

#endif
