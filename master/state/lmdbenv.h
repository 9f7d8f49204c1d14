/* The master's LMDB environments (state/ and raft/ under -db): opening one
 * with its named databases, and LMDB's error codes as negative errnos.
 * Threads: as LMDB's own rules. */
#ifndef CASK_LMDBENV_H
#define CASK_LMDBENV_H

#include <lmdb.h>
#include <stddef.h>

/* An LMDB return code as 0 or a negative errno: MDB_MAP_FULL is -ENOSPC,
 * an OS errno passes through, any other LMDB failure is -EIO. */
int lmdbenv_error(int rc);

/* Creates folders db and db/name if missing and opens the environment
 * there with a map of mapsize bytes, then opens (creating) the n named
 * databases into dbis. Returns 0 with *out set, or a negative errno with
 * nothing left open. */
int lmdbenv_open(const char *db, const char *name, size_t mapsize,
		 const char *const *names, MDB_dbi *dbis, unsigned n,
		 MDB_env **out);

#endif
