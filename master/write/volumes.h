/* The volume set as the master sees it: who the volumes are (from the
 * index) and whether each answers (from a background health check).
 *
 * Volumes are named by id. Their addresses come from the index's volumes
 * database and never change for an id, so `struct vol` pointers stay valid
 * until vol_stop; a zone may be relabelled (vol_reload publishes it). Liveness
 * is refreshed every interval by GET /_/health on every volume in parallel; a
 * request never waits for a check. A volume is read from while healthy &&
 * ident_ok.
 *
 * Threads: vol_start and vol_stop from one thread; everything else from
 * any thread, lock-free on the read path (atomics and immutable
 * snapshots). */
#ifndef CASK_MASTER_VOLUMES_H
#define CASK_MASTER_VOLUMES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/state/index.h"

/* Highest volume id the master can track. */
#define VOL_MAX_ID IDX_VOL_MAX_ID

struct vol {
	uint32_t id;
	char addr[IDX_ADDR_MAX]; /* host:port */
	/* Its failure domain, "" for none; the string stays valid until
	 * vol_stop, a relabel publishes another one. */
	_Atomic(const char *) zone;
	atomic_bool healthy;
	/* Its data directory is the one the index knows (master/write/repair.h
	 * confirms it): cleared when a check fails, so a volume that comes
	 * back is not read from before its identity is confirmed (a wiped
	 * disk would answer 404 for every key). */
	atomic_bool ident_ok;
	atomic_bool active; /* new keys may be placed on it */
	atomic_uint_fast64_t failed_checks;
};

/* The volumes new keys are placed on; immutable once published. */
struct vol_active {
	size_t n;
	const struct vol *v[];
};

struct vols;

/* Loads the volume set from ix (borrowed), checks every volume once, and
 * starts the checker thread. Returns 0 or -errno. */
int vol_start(struct idx *ix, long timeout_ms, long interval_ms,
	      struct vols **out);

/* Reloads the set after a CMD_VOLUMES was applied. Returns 0 or -errno. */
int vol_reload(struct vols *vs);

/* The volume with this id, or NULL. */
const struct vol *vol_by_id(struct vols *vs, uint32_t id);

/* The current active set (never NULL after vol_start). */
const struct vol_active *vol_active(struct vols *vs);

/* The address and zone of an active set's i-th volume: the
 * placement_addr_fn (common/placement.h) that places keys on a struct
 * vol_active. */
const char *vol_active_addr(const void *act, size_t i, const char **zone);

/* Sets a volume's ident_ok (the repair thread's confirmation). */
void vol_set_ident_ok(struct vols *vs, uint32_t id, bool ok);

/* Calls fn for every known volume, in id order. */
void vol_each(struct vols *vs, void (*fn)(void *arg, const struct vol *v),
	      void *arg);

void vol_stop(struct vols *vs); /* NULL is a no-op */

#endif
