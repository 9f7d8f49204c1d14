/* The Raft log's first format, LMDB, read once to import it into the
 * segments (raftlog.c). Nothing here writes the old format. */
#include "master/repl/raftlog_int.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "common/be.h"
#include "common/le.h"
#include "common/log.h"
#include "master/state/lmdbenv.h"
#include "raft/raft.h"

/* As the old log opened it: sparse, only what was written takes disk. */
#define MAP_SIZE  ((size_t)4 << 30)
#define ENTRY_HDR 9 /* term + type */

static int load_meta(MDB_txn *txn, MDB_dbi meta, struct raftlog_state *st,
		     bool *empty, char **peers)
{
	MDB_val k = {2, "hs"}, v;
	int rc = mdb_get(txn, meta, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (!rc) {
		if (v.mv_size != 24)
			return MDB_CORRUPTED;
		st->hs.term = le_get64(v.mv_data);
		st->hs.vote = le_get64((uint8_t *)v.mv_data + 8);
		st->hs.commit = le_get64((uint8_t *)v.mv_data + 16);
		*empty = false;
	}
	k = (MDB_val){4, "snap"};
	rc = mdb_get(txn, meta, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (!rc) {
		if (v.mv_size < 16 ||
		    raft_conf_decode((uint8_t *)v.mv_data + 16, v.mv_size - 16,
				     &st->snap.conf))
			return MDB_CORRUPTED;
		st->snap.index = le_get64(v.mv_data);
		st->snap.term = le_get64((uint8_t *)v.mv_data + 8);
		st->has_snap = true;
		*empty = false;
	}
	k = (MDB_val){5, "peers"};
	rc = mdb_get(txn, meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (memchr(v.mv_data, '\0', v.mv_size))
		return MDB_CORRUPTED;
	*peers = malloc(v.mv_size + 1);
	if (!*peers)
		return ENOMEM;
	memcpy(*peers, v.mv_data, v.mv_size);
	(*peers)[v.mv_size] = '\0';
	return 0;
}

static int load_entries(MDB_txn *txn, MDB_dbi entries, struct raftlog_state *st)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, entries, &cur);
	if (rc)
		return rc;
	size_t cap = 0;
	MDB_val k, v;
	uint64_t want = st->has_snap ? st->snap.index + 1 : 1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || v.mv_size < ENTRY_HDR ||
		    be_get64(k.mv_data) != want) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (st->n == cap) {
			cap = cap ? 2 * cap : 256;
			void *p = realloc(st->ents, cap * sizeof(*st->ents));
			if (!p) {
				rc = ENOMEM;
				break;
			}
			st->ents = p;
		}
		struct raft_entry *e = &st->ents[st->n];
		e->index = want++;
		e->term = le_get64(v.mv_data);
		e->type = ((uint8_t *)v.mv_data)[8];
		e->len = v.mv_size - ENTRY_HDR;
		e->data = NULL;
		if (e->len) {
			e->data = malloc(e->len);
			if (!e->data) {
				rc = ENOMEM;
				break;
			}
			memcpy(e->data, (uint8_t *)v.mv_data + ENTRY_HDR,
			       e->len);
		}
		st->n++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int raftlog_lmdb_read(const char *dir, struct raftlog_state *st, bool *empty,
		      char **peers)
{
	static const char *const names[] = {"entries", "meta"};
	memset(st, 0, sizeof(*st));
	*empty = true;
	*peers = NULL;
	MDB_dbi dbis[2];
	MDB_env *env;
	int rc = lmdbenv_open(dir, "raft", MAP_SIZE, names, dbis, 2, &env);
	if (rc) {
		log_error("raft log: opening the LMDB log in %s/raft: %s", dir,
			  strerror(-rc));
		return rc;
	}
	MDB_txn *txn;
	rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (!rc) {
		rc = load_meta(txn, dbis[1], st, empty, peers);
		if (!rc)
			rc = load_entries(txn, dbis[0], st);
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	if (st->n)
		*empty = false;
	if (rc) {
		raftlog_state_free(st);
		free(*peers);
		*peers = NULL;
		if (rc == ENOMEM)
			return -ENOMEM;
		log_error("raft log: reading the LMDB log in %s/raft: %s", dir,
			  mdb_strerror(rc));
		return rc == MDB_CORRUPTED ? -EINVAL : lmdbenv_error(rc);
	}
	return 0;
}
