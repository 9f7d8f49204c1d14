#include "master/state/lmdbenv.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

/* Readers are one per thread that reads: HTTP pools, workers, the
 * driver; far above what a master runs. */
#define MAX_READERS 512

int lmdbenv_error(int rc)
{
	if (rc == MDB_SUCCESS)
		return 0;
	if (rc == MDB_MAP_FULL)
		return -ENOSPC;
	if (rc > 0 && rc < 1000)
		return -rc;
	return -EIO;
}

int lmdbenv_open(const char *db, const char *name, size_t mapsize,
		 const char *const *names, MDB_dbi *dbis, unsigned n,
		 MDB_env **out)
{
	char path[4096];
	int len = snprintf(path, sizeof(path), "%s/%s", db, name);
	if (len < 0 || (size_t)len >= sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(db, 0755) && errno != EEXIST)
		return -errno;
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	int rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, n);
	if (!rc)
		rc = mdb_env_set_mapsize(env, mapsize);
	if (!rc)
		rc = mdb_env_set_maxreaders(env, MAX_READERS);
	if (!rc)
		rc = mdb_env_open(env, path, 0, 0644);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	for (unsigned i = 0; !rc && i < n; i++)
		rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &dbis[i]);
	if (!rc) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc) {
		if (txn)
			mdb_txn_abort(txn);
		if (env)
			mdb_env_close(env);
		return lmdbenv_error(rc);
	}
	*out = env;
	return 0;
}
