#include "master/repl/raftlog.h"

#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/le.h"
#include "common/log.h"
#include "common/be.h"
#include "master/state/lmdbenv.h"
#include "raft/raft_codec.h"

/* Sparse: only what is written takes disk space. */
#define MAP_SIZE  ((size_t)4 << 30)
#define ENTRY_HDR 9 /* term + type */

struct raftlog {
	MDB_env *env;
	MDB_dbi entries, meta;
	atomic_uint_fast64_t syncs;
};

static int mdb_fail(const char *what, int rc)
{
	log_error("raft log: %s: %s", what, mdb_strerror(rc));
	return lmdbenv_error(rc);
}

int raftlog_open(const char *dir, struct raftlog **out)
{
	static const char *const names[] = {"entries", "meta"};
	MDB_dbi dbis[2];
	struct raftlog *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	int rc = lmdbenv_open(dir, "raft", MAP_SIZE, names, dbis, 2, &rl->env);
	if (rc) {
		log_error("raft log: open %s/raft: %s", dir, strerror(-rc));
		free(rl);
		return rc;
	}
	rl->entries = dbis[0];
	rl->meta = dbis[1];
	*out = rl;
	return 0;
}

void raftlog_close(struct raftlog *rl)
{
	if (!rl)
		return;
	mdb_env_close(rl->env);
	free(rl);
}

void raftlog_state_free(struct raftlog_state *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->ents[i].data);
	free(st->ents);
	st->ents = NULL;
	st->n = 0;
}

static int load_meta(struct raftlog *rl, MDB_txn *txn, struct raftlog_state *st,
		     bool *empty)
{
	MDB_val k = {2, "hs"}, v;
	int rc = mdb_get(txn, rl->meta, &k, &v);
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
	rc = mdb_get(txn, rl->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size < 16 || raft_conf_decode((uint8_t *)v.mv_data + 16,
					       v.mv_size - 16, &st->snap.conf))
		return MDB_CORRUPTED;
	st->snap.index = le_get64(v.mv_data);
	st->snap.term = le_get64((uint8_t *)v.mv_data + 8);
	st->has_snap = true;
	*empty = false;
	return 0;
}

static int load_entries(struct raftlog *rl, MDB_txn *txn,
			struct raftlog_state *st)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, rl->entries, &cur);
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

int raftlog_load(struct raftlog *rl, struct raftlog_state *st, bool *empty)
{
	memset(st, 0, sizeof(*st));
	*empty = true;
	MDB_txn *txn;
	int rc = mdb_txn_begin(rl->env, NULL, MDB_RDONLY, &txn);
	if (!rc)
		rc = load_meta(rl, txn, st, empty);
	if (!rc)
		rc = load_entries(rl, txn, st);
	mdb_txn_abort(txn);
	if (st->n)
		*empty = false;
	if (rc == ENOMEM) {
		raftlog_state_free(st);
		return -ENOMEM;
	}
	if (rc) {
		raftlog_state_free(st);
		return mdb_fail("load", rc);
	}
	return 0;
}

/* Deletes every entry with index >= from. */
static int truncate_from(struct raftlog *rl, MDB_txn *txn, uint64_t from)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, rl->entries, &cur);
	if (rc)
		return rc;
	uint8_t kb[8];
	be_put64(kb, from);
	MDB_val k = {8, kb}, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = mdb_cursor_del(cur, 0)))
			break;
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Deletes every entry with index <= upto. */
static int drop_upto(struct raftlog *rl, MDB_txn *txn, uint64_t upto)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, rl->entries, &cur);
	if (rc)
		return rc;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || be_get64(k.mv_data) > upto)
			break;
		if ((rc = mdb_cursor_del(cur, 0)))
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_snap(struct raftlog *rl, MDB_txn *txn,
		    const struct raft_snap_meta *snap)
{
	uint8_t b[16 + 16 + RAFT_MAX_NODES * 9 + 64];
	le_put64(b, snap->index);
	le_put64(b + 8, snap->term);
	if (raft_conf_encode(&snap->conf, b + 16, sizeof(b) - 16))
		return EINVAL;
	MDB_val k = {4, "snap"}, v = {16 + raft_conf_size(&snap->conf), b};
	return mdb_put(txn, rl->meta, &k, &v, 0);
}

static int put_entries(struct raftlog *rl, MDB_txn *txn,
		       const struct raft_entry *ents, size_t n)
{
	int rc = truncate_from(rl, txn, ents[0].index);
	for (size_t i = 0; !rc && i < n; i++) {
		uint8_t kb[8];
		be_put64(kb, ents[i].index);
		MDB_val k = {8, kb}, v = {ENTRY_HDR + ents[i].len, NULL};
		rc = mdb_put(txn, rl->entries, &k, &v, MDB_RESERVE);
		if (rc)
			break;
		uint8_t *p = v.mv_data;
		le_put64(p, ents[i].term);
		p[8] = ents[i].type;
		if (ents[i].len)
			memcpy(p + ENTRY_HDR, ents[i].data, ents[i].len);
	}
	return rc;
}

int raftlog_save(struct raftlog *rl, const struct raft_snap_meta *snap,
		 const struct raft_entry *ents, size_t n,
		 const struct raft_hard_state *hs)
{
	assert(rl && (ents || !n));
	/* The core hands out a contiguous run of its log. */
	for (size_t i = 1; i < n; i++)
		assert(ents[i].index == ents[0].index + i);
	if (!snap && !n && !hs)
		return 0;
	MDB_txn *txn;
	int rc = mdb_txn_begin(rl->env, NULL, 0, &txn);
	if (rc)
		return mdb_fail("begin", rc);
	if (snap) {
		rc = mdb_drop(txn, rl->entries, 0);
		if (!rc)
			rc = put_snap(rl, txn, snap);
	}
	if (!rc && n)
		rc = put_entries(rl, txn, ents, n);
	if (!rc && hs) {
		uint8_t b[24];
		le_put64(b, hs->term);
		le_put64(b + 8, hs->vote);
		le_put64(b + 16, hs->commit);
		MDB_val k = {2, "hs"}, v = {24, b};
		rc = mdb_put(txn, rl->meta, &k, &v, 0);
	}
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_fail("save", rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return mdb_fail("commit", rc);
	atomic_fetch_add(&rl->syncs, 1);
	return 0;
}

int raftlog_compact(struct raftlog *rl, const struct raft_snap_meta *snap)
{
	assert(rl && snap);
	MDB_txn *txn;
	int rc = mdb_txn_begin(rl->env, NULL, 0, &txn);
	if (rc)
		return mdb_fail("begin", rc);
	rc = put_snap(rl, txn, snap);
	if (!rc)
		rc = drop_upto(rl, txn, snap->index);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_fail("compact", rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return mdb_fail("commit", rc);
	atomic_fetch_add(&rl->syncs, 1);
	return 0;
}

int raftlog_get_peers(struct raftlog *rl, char *out, size_t cap)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(rl->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return mdb_fail("begin", rc);
	MDB_val k = {5, "peers"}, v;
	rc = mdb_get(txn, rl->meta, &k, &v);
	out[0] = '\0';
	if (!rc && v.mv_size < cap) {
		memcpy(out, v.mv_data, v.mv_size);
		out[v.mv_size] = '\0';
	}
	mdb_txn_abort(txn);
	if (!rc && v.mv_size >= cap)
		return -ENOSPC;
	if (rc && rc != MDB_NOTFOUND)
		return mdb_fail("peers", rc);
	return 0;
}

int raftlog_set_peers(struct raftlog *rl, const char *peers)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(rl->env, NULL, 0, &txn);
	if (rc)
		return mdb_fail("begin", rc);
	MDB_val k = {5, "peers"}, v = {strlen(peers), (void *)peers};
	rc = mdb_put(txn, rl->meta, &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_fail("peers", rc);
	}
	rc = mdb_txn_commit(txn);
	return rc ? mdb_fail("commit", rc) : 0;
}

uint64_t raftlog_syncs(const struct raftlog *rl)
{
	return atomic_load(&rl->syncs);
}
