/* REBALANCE of one key: move its copies to where placement says they
 * belong, without a moment when the key is unreadable.
 *
 * The new volumes get a copy of a replica whose bytes match the recorded
 * md5 (checked while downloading it to a temp file, so memory stays
 * bounded whatever the value's size, and again from each volume's 201
 * Content-Md5); only then is the new volume list committed, as one
 * CMD_RECORD that also queues the copies no longer wanted for purge. A
 * failure commits nothing and queues the copies it wrote for purge.
 *
 * The caller holds the key's write lock (master/write/keylock.h) for the whole
 * call, so no PUT, DELETE or purge of the key interleaves. Blocking
 * (volume transfers, a commit): run it on a worker thread. */
#ifndef CASK_MASTER_MOVE_H
#define CASK_MASTER_MOVE_H

#include <stddef.h>

#include "master/write/commit.h"
#include "master/state/index.h"
#include "master/write/purge.h"
#include "master/write/volumes.h"

struct move_deps {
	struct idx *ix;
	struct commit *cm;
	struct vols *vs;
	struct purge *pg;
	unsigned replicas;
	long timeout_ms; /* connect timeout to volumes */
};

/* Returns the HTTP status: 200 already balanced, 204 moved, 404 absent,
 * 409 the record changed, 502/503 a volume failed or none holds good
 * bytes, 500 local failure; *why gets a one-line reason (static). */
unsigned move_key(const struct move_deps *d, const char *key, size_t keylen,
		  const char **why);

/* The machinery under move_key, for repair (master/write/repair.h): with
 * the key's lock held and `rec` as read under it, copies the value from
 * a replica whose bytes match rec (never from the copies whose bit is
 * set in `skip`, bit i for rec->vols[i]) to each of miss[0..nmiss), then
 * commits want[0..nwant) as the record (expecting rec's md5), queueing
 * the copies it drops for purge. Returns 204, or a status as move_key's
 * (503 when no replica has the recorded bytes). */
unsigned move_copies(const struct move_deps *d, const char *key, size_t keylen,
		     const struct idx_record *rec, uint32_t skip,
		     const struct vol **miss, unsigned nmiss,
		     const uint32_t *want, unsigned nwant, const char **why);

#endif
