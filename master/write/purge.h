/* The purge worker: deletes the copies that the index queued for removal
 * (DELETE, replaced unlinked records, failed PUTs) from the volumes.
 *
 * The queue is durable (the index's purge database), so a purge survives
 * restarts; an entry leaves it only by a committed CMD_PURGE_DONE after
 * the volume answered 204 or 404. Volumes the health check marks down are
 * skipped and retried when they return. A round sends up to 64 DELETEs
 * in parallel and commits the removal of the ones that succeeded as one
 * batch. Each copy is deleted under its key's write lock (held until that
 * commit) and only while its queue entry is unchanged, so a purge never
 * deletes a value written after it was queued.
 *
 * Threads: one worker thread; purge_poke from any thread. */
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
