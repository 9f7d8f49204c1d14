/* Per-key write locks: at most one write (PUT, DELETE, UNLINK, purge) to a
 * key is in flight on this master, as minikeyvalue's LockKey.
 *
 * A lock is not waited for: a second writer is told the key is busy (the
 * API answers 409). Locks live in memory only; they guard the volumes
 * from interleaved writes, while the index guards itself
 * (master/state/index.h). Thread-safe. */
#ifndef CASK_MASTER_KEYLOCK_H
#define CASK_MASTER_KEYLOCK_H

#include <stddef.h>

enum keylock_owner {
	KEYLOCK_CLIENT, /* a client's PUT, DELETE or UNLINK */
	KEYLOCK_PURGE,	/* the purge worker deleting a copy */
};

/* Takes the lock on key. Returns 0, -EBUSY when held, or -ENOMEM.
 * A client finding the lock held by the purge worker waits up to
 * KEYLOCK_PURGE_WAIT_MS for it rather than failing: the purge holds a
 * key only while its volumes answer one batched POST /_/purge, and
 * DELETE-then-PUT of a key is a common pattern that would otherwise see
 * spurious 409s. */
int keylock_try(const char *key, size_t keylen, enum keylock_owner owner);

#define KEYLOCK_PURGE_WAIT_MS 50

/* Releases a lock taken by keylock_try (from any thread). */
void keylock_release(const char *key, size_t keylen);

#endif
