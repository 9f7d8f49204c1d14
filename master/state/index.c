#include "master/state/index.h"

#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/be.h"
#include "common/le.h"
#include "master/state/lmdbenv.h"

/* The map only reserves address space; the file grows as it fills. */
#define MAP_SIZE    (256ull << 30)
#define REC_VERSION 1
/* version, state, size, md5, created, nvols */
#define REC_FIXED     (1 + 1 + 8 + MD5_LEN + 8 + 1)
#define PURGE_KEY_MAX (4 + KEY_MAX)
/* A volume's value: state, address, NUL, zone. */
#define VOL_VAL_MAX (1 + IDX_ADDR_MAX + IDX_ZONE_MAX)
/* volids value: version, flags, identity */
#define VOLID_VERSION	 1
#define VOLID_LEN	 (2 + MD5_LEN)
#define VOLID_UNVERIFIED 1u
#define VOLID_DEAD	 2u

struct idx {
	MDB_env *env;
	MDB_dbi keys, volumes, purge, applied, volids, lost;
	/* Entries in lost, and volids entries with a flag set: while both
	 * are 0, reads skip those databases. Set by the (single) writer;
	 * raised before a commit that adds entries and set exactly after
	 * it, so a reader never skips an entry that is committed. */
	atomic_uint_fast64_t nlost, nflagged;
};

static int refresh_counts(struct idx *ix, MDB_txn *txn, uint64_t *lost,
			  uint64_t *flagged);

static int count_now(struct idx *ix)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return lmdbenv_error(rc);
	uint64_t lost, flagged;
	rc = refresh_counts(ix, txn, &lost, &flagged);
	mdb_txn_abort(txn);
	if (rc)
		return lmdbenv_error(rc);
	atomic_store(&ix->nlost, lost);
	atomic_store(&ix->nflagged, flagged);
	return 0;
}

int idx_open(const char *dir, struct idx **out)
{
	static const char *const names[] = {"keys",    "volumes", "purge",
					    "applied", "volids",  "lost"};
	MDB_dbi dbis[6];
	struct idx *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	int rc = lmdbenv_open(dir, "state", MAP_SIZE, names, dbis, 6, &ix->env);
	if (rc) {
		free(ix);
		return rc;
	}
	ix->keys = dbis[0];
	ix->volumes = dbis[1];
	ix->purge = dbis[2];
	ix->applied = dbis[3];
	ix->volids = dbis[4];
	ix->lost = dbis[5];
	rc = count_now(ix);
	if (rc) {
		idx_close(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

void idx_close(struct idx *ix)
{
	if (!ix)
		return;
	mdb_env_close(ix->env);
	free(ix);
}

static int rec_decode(const MDB_val *v, struct idx_record *r)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size < REC_FIXED || p[0] != REC_VERSION)
		return -EIO;
	r->state = (enum idx_state)p[1];
	r->size = le_get64(p + 2);
	memcpy(r->md5, p + 10, MD5_LEN);
	r->created_ms = le_get64(p + 10 + MD5_LEN);
	r->nvols = p[REC_FIXED - 1];
	if (r->nvols > CMD_MAX_VOLS || v->mv_size != REC_FIXED + 4 * r->nvols)
		return -EIO;
	for (unsigned i = 0; i < r->nvols; i++)
		r->vols[i] = be_get32(p + REC_FIXED + 4 * i);
	return 0;
}

static int rec_put(struct idx *ix, MDB_txn *txn, const MDB_val *key,
		   const struct idx_record *r)
{
	uint8_t b[REC_FIXED + 4 * CMD_MAX_VOLS];
	b[0] = REC_VERSION;
	b[1] = (uint8_t)r->state;
	le_put64(b + 2, r->size);
	memcpy(b + 10, r->md5, MD5_LEN);
	le_put64(b + 10 + MD5_LEN, r->created_ms);
	b[REC_FIXED - 1] = (uint8_t)r->nvols;
	for (unsigned i = 0; i < r->nvols; i++)
		be_put32(b + REC_FIXED + 4 * i, r->vols[i]);
	MDB_val v = {REC_FIXED + 4 * r->nvols, b};
	return mdb_put(txn, ix->keys, (MDB_val *)key, &v, 0);
}

/* Reads a record inside txn: 0, MDB_NOTFOUND, or an LMDB error. */
static int rec_get(struct idx *ix, MDB_txn *txn, const MDB_val *key,
		   struct idx_record *r)
{
	MDB_val v;
	int rc = mdb_get(txn, ix->keys, (MDB_val *)key, &v);
	if (rc)
		return rc;
	return rec_decode(&v, r) ? MDB_CORRUPTED : 0;
}

static size_t purge_key(uint8_t *out, uint32_t vol, const char *key,
			size_t keylen)
{
	be_put32(out, vol);
	memcpy(out + 4, key, keylen);
	return 4 + keylen;
}

static int purge_add(struct idx *ix, MDB_txn *txn, uint32_t vol,
		     const MDB_val *key, uint64_t seq)
{
	uint8_t k[PURGE_KEY_MAX], s[8];
	MDB_val kv = {purge_key(k, vol, key->mv_data, key->mv_size), k};
	le_put64(s, seq);
	MDB_val sv = {8, s};
	return mdb_put(txn, ix->purge, &kv, &sv, 0);
}

static int purge_del(struct idx *ix, MDB_txn *txn, uint32_t vol,
		     const MDB_val *key)
{
	uint8_t k[PURGE_KEY_MAX];
	MDB_val kv = {purge_key(k, vol, key->mv_data, key->mv_size), k};
	int rc = mdb_del(txn, ix->purge, &kv, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The lost mark of (vol, key), if any, goes: the copy is gone from the
 * record or holds a value written since. */
static int lost_del(struct idx *ix, MDB_txn *txn, uint32_t vol,
		    const MDB_val *key)
{
	uint8_t k[PURGE_KEY_MAX];
	MDB_val kv = {purge_key(k, vol, key->mv_data, key->mv_size), k};
	int rc = mdb_del(txn, ix->lost, &kv, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Every lost mark of one volume goes (its identity changed). */
static int lost_drop_vol(struct idx *ix, MDB_txn *txn, uint32_t vol)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, ix->lost, &cur);
	if (rc)
		return rc;
	uint8_t seek[4];
	be_put32(seek, vol);
	MDB_val k = {4, seek}, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 4 || be_get32(k.mv_data) != vol)
			break;
		if ((rc = mdb_cursor_del(cur, 0)))
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static bool has_vol(const uint32_t *vols, unsigned n, uint32_t v)
{
	for (unsigned i = 0; i < n; i++)
		if (vols[i] == v)
			return true;
	return false;
}

/* Stores the record a PUT or RECORD command describes. */
static int rec_put_cmd(struct idx *ix, MDB_txn *txn, const MDB_val *key,
		       const struct cmd *c, enum idx_state state)
{
	struct idx_record r = {.state = state,
			       .size = c->size,
			       .created_ms = c->created_ms,
			       .nvols = c->nvols};
	memcpy(r.md5, c->md5, MD5_LEN);
	memcpy(r.vols, c->vols, sizeof(r.vols[0]) * c->nvols);
	return rec_put(ix, txn, key, &r);
}

static int apply_put(struct idx *ix, MDB_txn *txn, const struct cmd *c,
		     uint64_t index, int *result)
{
	MDB_val key = {c->keylen, (void *)c->key};
	struct idx_record old = {0};
	int rc = rec_get(ix, txn, &key, &old);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (!rc && old.state == IDX_LIVE) {
		*result = -EEXIST;
		return 0;
	}
	/* Replacing an unlinked record: copies the new value did not
	 * overwrite are now garbage. */
	for (unsigned i = 0; !rc && i < old.nvols; i++)
		if (!has_vol(c->vols, c->nvols, old.vols[i]) &&
		    (rc = purge_add(ix, txn, old.vols[i], &key, index)))
			return rc;
	/* The new value overwrote whatever a queued purge meant to delete
	 * on these volumes; purging now would delete the new copy. */
	for (unsigned i = 0; i < c->nvols; i++)
		if ((rc = purge_del(ix, txn, c->vols[i], &key)) ||
		    (rc = lost_del(ix, txn, c->vols[i], &key)))
			return rc;
	for (unsigned i = 0; i < old.nvols; i++)
		if ((rc = lost_del(ix, txn, old.vols[i], &key)))
			return rc;
	*result = 0;
	return rec_put_cmd(ix, txn, &key, c, IDX_LIVE);
}

static int apply_unlink(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			int *result)
{
	MDB_val key = {c->keylen, (void *)c->key};
	struct idx_record r;
	int rc = rec_get(ix, txn, &key, &r);
	if (rc == MDB_NOTFOUND || (!rc && r.state != IDX_LIVE)) {
		*result = -ENOENT;
		return 0;
	}
	if (rc)
		return rc;
	r.state = IDX_UNLINKED;
	*result = 0;
	return rec_put(ix, txn, &key, &r);
}

static int apply_delete(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			uint64_t index, int *result)
{
	MDB_val key = {c->keylen, (void *)c->key};
	struct idx_record r;
	int rc = rec_get(ix, txn, &key, &r);
	if (rc == MDB_NOTFOUND) {
		*result = -ENOENT;
		return 0;
	}
	if (rc)
		return rc;
	if (c->protect && r.state == IDX_LIVE) {
		*result = -EPERM;
		return 0;
	}
	for (unsigned i = 0; i < r.nvols; i++)
		if ((rc = purge_add(ix, txn, r.vols[i], &key, index)) ||
		    (rc = lost_del(ix, txn, r.vols[i], &key)))
			return rc;
	*result = 0;
	return mdb_del(txn, ix->keys, &key, NULL);
}

static int apply_purge_done(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			    int *result)
{
	uint8_t k[PURGE_KEY_MAX];
	MDB_val kv = {purge_key(k, c->vols[0], c->key, c->keylen), k}, v;
	int rc = mdb_get(txn, ix->purge, &kv, &v);
	if (rc == MDB_NOTFOUND ||
	    (!rc && (v.mv_size != 8 || le_get64(v.mv_data) != c->seq))) {
		*result = -ENOENT;
		return 0;
	}
	if (rc)
		return rc;
	*result = 0;
	return mdb_del(txn, ix->purge, &kv, NULL);
}

static int apply_purge_add(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			   uint64_t index, int *result)
{
	MDB_val key = {c->keylen, (void *)c->key};
	*result = 0;
	for (unsigned i = 0; i < c->nvols; i++) {
		int rc = purge_add(ix, txn, c->vols[i], &key, index);
		if (rc)
			return rc;
	}
	return 0;
}

/* Whether host:port `addr` (len bytes) is named by an entry of the
 * comma-separated host:port[@zone] `list`; *zone and *zonelen get the
 * first such entry's zone (NULL and 0 for none). */
static bool in_list(const char *list, size_t listlen, const char *addr,
		    size_t len, const char **zone, size_t *zonelen)
{
	size_t i = 0;
	while (i < listlen) {
		const char *comma = memchr(list + i, ',', listlen - i);
		size_t end = comma ? (size_t)(comma - list) : listlen;
		const char *at = memchr(list + i, '@', end - i);
		size_t alen = at ? (size_t)(at - list) - i : end - i;
		if (alen == len && memcmp(list + i, addr, len) == 0) {
			*zone = at ? at + 1 : NULL;
			*zonelen = at ? end - (size_t)(at - list) - 1 : 0;
			return true;
		}
		i = end + 1;
	}
	return false;
}

/* A stored volume: state, address and zone (pointers into the value). */
struct vol_val {
	uint8_t state;
	const char *addr;
	size_t len;
	const char *zone;
	size_t zonelen;
};

static int vol_parse(const MDB_val *k, const MDB_val *v, struct vol_val *out)
{
	if (k->mv_size != 4 || v->mv_size < 1)
		return MDB_CORRUPTED;
	const char *p = (const char *)v->mv_data + 1;
	size_t len = v->mv_size - 1;
	const char *nul = memchr(p, '\0', len);
	out->state = ((const uint8_t *)v->mv_data)[0];
	out->addr = p;
	out->len = nul ? (size_t)(nul - p) : len;
	out->zone = nul ? nul + 1 : p + len;
	out->zonelen = nul ? len - out->len - 1 : 0;
	if (out->len >= IDX_ADDR_MAX || out->zonelen >= IDX_ZONE_MAX)
		return MDB_CORRUPTED;
	return 0;
}

/* A volume's value into v: with a zone, state ‖ addr ‖ NUL ‖ zone;
 * without, state ‖ addr, the value every build before zones wrote and
 * reads. Returns its size. */
static size_t vol_value(uint8_t v[VOL_VAL_MAX], uint8_t state, const char *addr,
			size_t len, const char *zone, size_t zonelen)
{
	assert(len < IDX_ADDR_MAX && zonelen < IDX_ZONE_MAX);
	v[0] = state;
	memcpy(v + 1, addr, len);
	size_t n = 1 + len;
	if (zonelen) {
		v[n++] = '\0';
		memcpy(v + n, zone, zonelen);
		n += zonelen;
	}
	return n;
}

static int vol_put_state(struct idx *ix, MDB_txn *txn, uint32_t id,
			 uint8_t state, const char *addr, size_t len,
			 const char *zone, size_t zonelen)
{
	uint8_t k[4], v[VOL_VAL_MAX];
	if (len >= IDX_ADDR_MAX || zonelen >= IDX_ZONE_MAX)
		return MDB_BAD_VALSIZE;
	be_put32(k, id);
	MDB_val kv = {4, k},
		vv = {vol_value(v, state, addr, len, zone, zonelen), v};
	return mdb_put(txn, ix->volumes, &kv, &vv, 0);
}

static bool same_zone(const struct vol_val *vv, const char *zone, size_t len)
{
	return vv->zonelen == len && (!len || memcmp(vv->zone, zone, len) == 0);
}

static int apply_volumes(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			 int *result)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, ix->volumes, &cur);
	if (rc)
		return rc;
	/* Every known volume: active with the listed zone when listed,
	 * retired (its zone kept) otherwise. */
	uint32_t next_id = 1;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct vol_val vv;
		if ((rc = vol_parse(&k, &v, &vv)))
			break;
		uint32_t id = be_get32(k.mv_data);
		const char *zone = vv.zone;
		size_t zonelen = vv.zonelen;
		bool active = in_list(c->addrs, c->addrslen, vv.addr, vv.len,
				      &zone, &zonelen);
		uint8_t state = active ? IDX_VOL_ACTIVE : IDX_VOL_RETIRED;
		if (vv.state != state || !same_zone(&vv, zone, zonelen)) {
			uint8_t nv[VOL_VAL_MAX];
			MDB_val val = {vol_value(nv, state, vv.addr, vv.len,
						 zone, zonelen),
				       nv};
			/* The key too: k points into the page the put
			 * rewrites when the value's size changes. */
			uint8_t kb[4];
			be_put32(kb, id);
			MDB_val kv = {4, kb};
			rc = mdb_cursor_put(cur, &kv, &val, MDB_CURRENT);
			if (rc)
				break;
		}
		if (id >= next_id)
			next_id = id + 1;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	/* Listed addresses not known yet get fresh ids, in list order. */
	size_t i = 0;
	while (i < c->addrslen) {
		const char *a = c->addrs + i;
		const char *comma = memchr(a, ',', c->addrslen - i);
		size_t len = comma ? (size_t)(comma - a) : c->addrslen - i;
		i += len + 1;
		size_t before = a > c->addrs ? (size_t)(a - c->addrs) - 1 : 0;
		const char *zone, *dup;
		size_t alen, zonelen, duplen;
		if (len == 0)
			continue;
		/* cmd_decode admitted only valid specs. */
		const char *bad =
			placement_spec(a, len, &alen, &zone, &zonelen);
		assert(!bad);
		(void)bad;
		if (in_list(c->addrs, before, a, alen, &dup, &duplen))
			continue; /* a duplicate of an earlier one */
		bool known = false;
		rc = mdb_cursor_open(txn, ix->volumes, &cur);
		if (rc)
			return rc;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct vol_val vv;
			if ((rc = vol_parse(&k, &v, &vv)))
				break;
			if (vv.len == alen && memcmp(vv.addr, a, alen) == 0)
				known = true;
		}
		mdb_cursor_close(cur);
		if (rc != MDB_NOTFOUND)
			return rc;
		if (!known && next_id > IDX_VOL_MAX_ID) {
			*result = -ENOSPC;
			return 0;
		}
		if (!known &&
		    (rc = vol_put_state(ix, txn, next_id++, IDX_VOL_ACTIVE, a,
					alen, zone, zonelen)))
			return rc;
	}
	*result = 0;
	return 0;
}

static bool record_expected(const struct cmd *c, int found,
			    const struct idx_record *r)
{
	switch (c->expect) {
	case CMD_EXPECT_ANY:
		return true;
	case CMD_EXPECT_ABSENT:
		return found == MDB_NOTFOUND;
	case CMD_EXPECT_MD5:
		return found == 0 &&
		       memcmp(r->md5, c->expect_md5, MD5_LEN) == 0;
	}
	return false;
}

static int apply_record(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			uint64_t index, int *result)
{
	MDB_val key = {c->keylen, (void *)c->key};
	struct idx_record old = {0};
	int rc = rec_get(ix, txn, &key, &old);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (!record_expected(c, rc, &old)) {
		*result = -ESTALE;
		return 0;
	}
	bool found = rc == 0;
	*result = 0;
	/* Lost marks follow the record: a copy it no longer names, or one
	 * it newly names (just written), has none. */
	for (unsigned i = 0; found && i < old.nvols; i++)
		if ((c->remove || !has_vol(c->vols, c->nvols, old.vols[i])) &&
		    (rc = lost_del(ix, txn, old.vols[i], &key)))
			return rc;
	for (unsigned i = 0; !c->remove && i < c->nvols; i++)
		if (!has_vol(old.vols, found ? old.nvols : 0, c->vols[i]) &&
		    (rc = lost_del(ix, txn, c->vols[i], &key)))
			return rc;
	if (c->remove) {
		if (!found)
			return 0;
		return mdb_del(txn, ix->keys, &key, NULL);
	}
	for (unsigned i = 0; i < c->nvols; i++) {
		uint8_t k[PURGE_KEY_MAX];
		MDB_val kv = {purge_key(k, c->vols[i], c->key, c->keylen), k},
			v;
		rc = mdb_get(txn, ix->purge, &kv, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc)
			return rc;
		if (!c->written) {
			*result = -EBUSY;
			return 0;
		}
		if ((rc = mdb_del(txn, ix->purge, &kv, NULL)))
			return rc;
	}
	for (unsigned i = 0; c->purge_dropped && found && i < old.nvols; i++)
		if (!has_vol(c->vols, c->nvols, old.vols[i]) &&
		    (rc = purge_add(ix, txn, old.vols[i], &key, index)))
			return rc;
	return rec_put_cmd(ix, txn, &key, c, (enum idx_state)c->state);
}

static int apply_volume(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			int *result)
{
	size_t alen, zonelen;
	const char *zone;
	/* cmd_decode admitted only a valid spec. */
	const char *bad =
		placement_spec(c->addrs, c->addrslen, &alen, &zone, &zonelen);
	assert(!bad);
	(void)bad;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, ix->volumes, &cur);
	if (rc)
		return rc;
	uint32_t next_id = 1, id = 0;
	char kept[IDX_ZONE_MAX];
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct vol_val vv;
		if ((rc = vol_parse(&k, &v, &vv)))
			break;
		uint32_t at = be_get32(k.mv_data);
		if (vv.len == alen && memcmp(vv.addr, c->addrs, alen) == 0) {
			id = at;
			/* Without @zone the volume keeps the zone it has. */
			if (!zone) {
				memcpy(kept, vv.zone, vv.zonelen);
				zone = kept;
				zonelen = vv.zonelen;
			}
		}
		if (at >= next_id)
			next_id = at + 1;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	if (!id && c->state == IDX_VOL_RETIRED) {
		*result = -ENOENT;
		return 0;
	}
	/* Ids are never reused (records and lost marks may still name a
	 * retired one), so they run out: refused, rather than a volume the
	 * masters cannot load at their next start. */
	if (!id && next_id > IDX_VOL_MAX_ID) {
		*result = -ENOSPC;
		return 0;
	}
	*result = 0;
	return vol_put_state(ix, txn, id ? id : next_id, c->state, c->addrs,
			     alen, zone, zonelen);
}

/* Reads vol's volids entry: 0, MDB_NOTFOUND, or an LMDB error. */
static int volid_get(struct idx *ix, MDB_txn *txn, uint32_t vol, uint8_t *flags,
		     uint8_t ident[MD5_LEN])
{
	uint8_t k[4];
	be_put32(k, vol);
	MDB_val kv = {4, k}, v;
	int rc = mdb_get(txn, ix->volids, &kv, &v);
	if (rc)
		return rc;
	const uint8_t *p = v.mv_data;
	if (v.mv_size != VOLID_LEN || p[0] != VOLID_VERSION)
		return MDB_CORRUPTED;
	*flags = p[1];
	if (ident)
		memcpy(ident, p + 2, MD5_LEN);
	return 0;
}

static int volid_put(struct idx *ix, MDB_txn *txn, uint32_t vol, uint8_t flags,
		     const uint8_t ident[MD5_LEN])
{
	uint8_t k[4], b[VOLID_LEN];
	be_put32(k, vol);
	b[0] = VOLID_VERSION;
	b[1] = flags;
	memcpy(b + 2, ident, MD5_LEN);
	MDB_val kv = {4, k}, v = {VOLID_LEN, b};
	return mdb_put(txn, ix->volids, &kv, &v, 0);
}

static int apply_vol_ident(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			   int *result)
{
	uint8_t flags, ident[MD5_LEN];
	int rc = volid_get(ix, txn, c->vols[0], &flags, ident);
	*result = 0;
	if (rc == MDB_NOTFOUND)
		return volid_put(ix, txn, c->vols[0], 0, c->md5);
	if (rc)
		return rc;
	if (memcmp(ident, c->md5, MD5_LEN) == 0)
		return 0;
	/* Another disk: what was known about the old one's copies, lost or
	 * good, says nothing about this one's. */
	if ((rc = lost_drop_vol(ix, txn, c->vols[0])))
		return rc;
	return volid_put(ix, txn, c->vols[0], VOLID_UNVERIFIED, c->md5);
}

static int apply_vol_health(struct idx *ix, MDB_txn *txn, const struct cmd *c,
			    int *result)
{
	uint8_t flags, ident[MD5_LEN];
	int rc = volid_get(ix, txn, c->vols[0], &flags, ident);
	if (rc == MDB_NOTFOUND) {
		*result = -ENOENT;
		return 0;
	}
	if (rc)
		return rc;
	uint8_t now = flags;
	switch (c->state) {
	case CMD_VH_DEAD:
		now |= VOLID_DEAD;
		break;
	case CMD_VH_ALIVE:
		now &= (uint8_t)~VOLID_DEAD;
		break;
	case CMD_VH_VERIFIED:
		if (memcmp(ident, c->md5, MD5_LEN) != 0) {
			*result = -ESTALE;
			return 0;
		}
		now &= (uint8_t)~VOLID_UNVERIFIED;
		break;
	}
	*result = 0;
	return now == flags ? 0 : volid_put(ix, txn, c->vols[0], now, ident);
}

static int apply_lost(struct idx *ix, MDB_txn *txn, const struct cmd *c,
		      int *result)
{
	MDB_val key = {c->keylen, (void *)c->key};
	struct idx_record r;
	int rc = rec_get(ix, txn, &key, &r);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (rc || memcmp(r.md5, c->expect_md5, MD5_LEN) != 0) {
		*result = -ESTALE;
		return 0;
	}
	*result = 0;
	for (unsigned i = 0; i < c->nvols; i++) {
		if (!has_vol(r.vols, r.nvols, c->vols[i]))
			continue;
		uint8_t k[PURGE_KEY_MAX], why = c->state;
		MDB_val kv = {purge_key(k, c->vols[i], c->key, c->keylen), k},
			v = {1, &why};
		if ((rc = mdb_put(txn, ix->lost, &kv, &v, 0)))
			return rc;
	}
	return 0;
}

static int apply_one(struct idx *ix, MDB_txn *txn, const struct idx_entry *e,
		     int *result)
{
	struct cmd c;
	if (cmd_decode(e->cmd, e->len, &c)) {
		*result = -EINVAL;
		return 0;
	}
	switch (c.type) {
	case CMD_PUT:
		return apply_put(ix, txn, &c, e->index, result);
	case CMD_UNLINK:
		return apply_unlink(ix, txn, &c, result);
	case CMD_DELETE:
		return apply_delete(ix, txn, &c, e->index, result);
	case CMD_PURGE_DONE:
		return apply_purge_done(ix, txn, &c, result);
	case CMD_PURGE_ADD:
		return apply_purge_add(ix, txn, &c, e->index, result);
	case CMD_VOLUMES:
		return apply_volumes(ix, txn, &c, result);
	case CMD_RECORD:
		return apply_record(ix, txn, &c, e->index, result);
	case CMD_VOLUME:
		return apply_volume(ix, txn, &c, result);
	case CMD_VOL_IDENT:
		return apply_vol_ident(ix, txn, &c, result);
	case CMD_VOL_HEALTH:
		return apply_vol_health(ix, txn, &c, result);
	case CMD_LOST:
		return apply_lost(ix, txn, &c, result);
	}
	/* cmd_decode admits only the types above. */
	assert(!"unknown command type");
	*result = -EINVAL;
	return 0;
}

static int read_applied(struct idx *ix, MDB_txn *txn, uint64_t *index,
			uint64_t *term)
{
	MDB_val k = {5, "index"}, v;
	int rc = mdb_get(txn, ix->applied, &k, &v);
	*index = *term = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size != 16)
		return MDB_CORRUPTED;
	*index = le_get64(v.mv_data);
	*term = le_get64((uint8_t *)v.mv_data + 8);
	return 0;
}

static int refresh_counts(struct idx *ix, MDB_txn *txn, uint64_t *lost,
			  uint64_t *flagged)
{
	MDB_stat st;
	int rc = mdb_stat(txn, ix->lost, &st);
	if (rc)
		return rc;
	*lost = st.ms_entries;
	*flagged = 0;
	/* One entry per volume: a short walk. */
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(txn, ix->volids, &cur)))
		return rc;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		*flagged += v.mv_size == VOLID_LEN &&
			    ((const uint8_t *)v.mv_data)[1] != 0;
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Before a commit: raise the counts the commit may raise. */
static void raise_counts(struct idx *ix, uint64_t lost, uint64_t flagged)
{
	if (lost > atomic_load(&ix->nlost))
		atomic_store(&ix->nlost, lost);
	if (flagged > atomic_load(&ix->nflagged))
		atomic_store(&ix->nflagged, flagged);
}

int idx_apply(struct idx *ix, const struct idx_entry *e, size_t n, int *results)
{
	assert(ix && (n == 0 || (e && results)));
	MDB_txn *txn;
	int rc = mdb_txn_begin(ix->env, NULL, 0, &txn);
	if (rc)
		return lmdbenv_error(rc);
	uint64_t applied, term;
	rc = read_applied(ix, txn, &applied, &term);
	for (size_t i = 0; !rc && i < n; i++) {
		assert(i == 0 || e[i].index > e[i - 1].index);
		results[i] = 0;
		if (e[i].index <= applied)
			continue;
		rc = apply_one(ix, txn, &e[i], &results[i]);
		applied = e[i].index;
		term = e[i].term;
	}
	if (!rc) {
		uint8_t b[16];
		le_put64(b, applied);
		le_put64(b + 8, term);
		MDB_val k = {5, "index"}, v = {16, b};
		rc = mdb_put(txn, ix->applied, &k, &v, 0);
	}
	uint64_t lost = 0, flagged = 0;
	if (!rc)
		rc = refresh_counts(ix, txn, &lost, &flagged);
	if (rc) {
		mdb_txn_abort(txn);
		return lmdbenv_error(rc);
	}
	raise_counts(ix, lost, flagged);
	rc = mdb_txn_commit(txn);
	if (rc) {
		/* Counts left raised only cost reads a lookup; put them
		 * right if the environment still reads. */
		(void)count_now(ix);
		return lmdbenv_error(rc);
	}
	atomic_store(&ix->nlost, lost);
	atomic_store(&ix->nflagged, flagged);
	return 0;
}

static int read_begin(struct idx *ix, MDB_txn **txn)
{
	int rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, txn);
	return rc ? lmdbenv_error(rc) : 0;
}

/* A read transaction with a cursor on dbi; both closed by the caller. */
static int read_cursor(struct idx *ix, MDB_dbi dbi, MDB_txn **txn,
		       MDB_cursor **cur)
{
	int rc = read_begin(ix, txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(*txn, dbi, cur);
	if (rc) {
		mdb_txn_abort(*txn);
		return lmdbenv_error(rc);
	}
	return 0;
}

int idx_stats(struct idx *ix, struct idx_stats *out)
{
	MDB_txn *txn;
	int rc = read_begin(ix, &txn);
	if (rc)
		return rc;
	MDB_stat ks, ps, ls;
	rc = mdb_stat(txn, ix->keys, &ks);
	if (!rc)
		rc = mdb_stat(txn, ix->purge, &ps);
	if (!rc)
		rc = mdb_stat(txn, ix->lost, &ls);
	if (!rc)
		rc = read_applied(ix, txn, &out->applied, &out->term);
	mdb_txn_abort(txn);
	if (rc)
		return lmdbenv_error(rc);
	out->keys = ks.ms_entries;
	out->purge = ps.ms_entries;
	out->lost = ls.ms_entries;
	return 0;
}

int idx_applied(struct idx *ix, uint64_t *applied)
{
	MDB_txn *txn;
	int rc = read_begin(ix, &txn);
	if (rc)
		return rc;
	uint64_t term;
	rc = read_applied(ix, txn, applied, &term);
	mdb_txn_abort(txn);
	return rc ? lmdbenv_error(rc) : 0;
}

int idx_relax_sync(struct idx *ix)
{
	int rc = mdb_env_set_flags(ix->env, MDB_NOSYNC, 1);
	return rc ? lmdbenv_error(rc) : 0;
}

int idx_sync(struct idx *ix)
{
	int rc = mdb_env_sync(ix->env, 1);
	return rc ? lmdbenv_error(rc) : 0;
}

int idx_get(struct idx *ix, const char *key, size_t keylen,
	    struct idx_record *out)
{
	if (keylen == 0 || keylen > KEY_MAX)
		return -ENOENT;
	MDB_txn *txn;
	int rc = read_begin(ix, &txn);
	if (rc)
		return rc;
	MDB_val k = {keylen, (void *)key};
	rc = rec_get(ix, txn, &k, out);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return rc ? lmdbenv_error(rc) : 0;
}

/* The standing of r's copies inside txn; uses the counts to skip the
 * databases that are empty. */
static int copies_in(struct idx *ix, MDB_txn *txn, const MDB_val *key,
		     const struct idx_record *r, struct idx_copies *cp)
{
	bool lost = atomic_load(&ix->nlost) > 0;
	bool flagged = atomic_load(&ix->nflagged) > 0;
	*cp = (struct idx_copies){0};
	for (unsigned i = 0; (lost || flagged) && i < r->nvols; i++) {
		int rc;
		if (flagged) {
			uint8_t f;
			rc = volid_get(ix, txn, r->vols[i], &f, NULL);
			if (rc && rc != MDB_NOTFOUND)
				return rc;
			if (!rc && (f & VOLID_DEAD))
				cp->lost |= 1u << i;
			else if (!rc && (f & VOLID_UNVERIFIED))
				cp->unverified |= 1u << i;
		}
		if (lost) {
			uint8_t k[PURGE_KEY_MAX];
			MDB_val kv = {purge_key(k, r->vols[i], key->mv_data,
						key->mv_size),
				      k},
				v;
			rc = mdb_get(txn, ix->lost, &kv, &v);
			if (rc && rc != MDB_NOTFOUND)
				return rc;
			if (!rc)
				cp->lost |= 1u << i;
		}
	}
	/* A copy counts once: lost wins over unverified. */
	cp->unverified &= ~cp->lost;
	return 0;
}

int idx_get_copies(struct idx *ix, const char *key, size_t keylen,
		   struct idx_record *out, struct idx_copies *cp)
{
	if (keylen == 0 || keylen > KEY_MAX)
		return -ENOENT;
	MDB_txn *txn;
	int rc = read_begin(ix, &txn);
	if (rc)
		return rc;
	MDB_val k = {keylen, (void *)key};
	rc = rec_get(ix, txn, &k, out);
	if (!rc)
		rc = copies_in(ix, txn, &k, out, cp);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return rc ? lmdbenv_error(rc) : 0;
}

int idx_vol_health(struct idx *ix, uint32_t vol, struct idx_vol_health *out)
{
	MDB_txn *txn;
	int rc = read_begin(ix, &txn);
	if (rc)
		return rc;
	uint8_t flags = 0;
	rc = volid_get(ix, txn, vol, &flags, out->ident);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return lmdbenv_error(rc);
	out->unverified = flags & VOLID_UNVERIFIED;
	out->dead = flags & VOLID_DEAD;
	return 0;
}

bool idx_damaged_any(struct idx *ix)
{
	return atomic_load(&ix->nlost) > 0 || atomic_load(&ix->nflagged) > 0;
}

int idx_volumes(struct idx *ix,
		int (*fn)(void *arg, const struct idx_volume *v), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = read_cursor(ix, ix->volumes, &txn, &cur);
	if (rc)
		return rc;
	MDB_val k, v;
	int stop = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && !stop;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct vol_val vv;
		if ((rc = vol_parse(&k, &v, &vv)))
			break;
		struct idx_volume vol = {.id = be_get32(k.mv_data),
					 .active = vv.state == IDX_VOL_ACTIVE,
					 .draining =
						 vv.state == IDX_VOL_DRAINING};
		memcpy(vol.addr, vv.addr, vv.len);
		vol.addr[vv.len] = '\0';
		memcpy(vol.zone, vv.zone, vv.zonelen);
		vol.zone[vv.zonelen] = '\0';
		stop = fn(arg, &vol);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (stop)
		return stop;
	return rc == MDB_NOTFOUND ? 0 : lmdbenv_error(rc);
}

int idx_list(struct idx *ix, struct idx_list *l)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	l->nextlen = 0;
	l->next[0] = '\0';
	int rc = read_begin(ix, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, ix->keys, &cur);
	if (rc) {
		mdb_txn_abort(txn);
		return lmdbenv_error(rc);
	}
	/* Start at the later of the prefix and `start`: a start before
	 * the prefix must not list keys outside it. */
	MDB_val k = {l->prefixlen, (void *)l->prefix}, v;
	if (l->start && l->startlen > 0 && l->startlen <= KEY_MAX) {
		size_t m =
			l->startlen < l->prefixlen ? l->startlen : l->prefixlen;
		int cmp = memcmp(l->start, l->prefix, m);
		if (cmp > 0 || (cmp == 0 && l->startlen > l->prefixlen))
			k = (MDB_val){l->startlen, (void *)l->start};
	}
	size_t limit = l->limit && l->limit <= l->max ? l->limit : 0;
	size_t count = 0;
	int out = 0;
	if (k.mv_size == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	else
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < l->prefixlen ||
		    memcmp(k.mv_data, l->prefix, l->prefixlen) != 0)
			break;
		struct idx_record r;
		if (rec_decode(&v, &r)) {
			rc = MDB_CORRUPTED;
			break;
		}
		if ((r.state == IDX_UNLINKED) != l->unlinked)
			continue;
		if (limit && count == limit) {
			memcpy(l->next, k.mv_data, k.mv_size);
			l->next[k.mv_size] = '\0';
			l->nextlen = k.mv_size;
			break;
		}
		if (!limit && count == l->max) {
			out = -E2BIG;
			break;
		}
		out = l->fn_record
			      ? l->fn_record(l->arg, k.mv_data, k.mv_size, &r)
			      : l->fn(l->arg, k.mv_data, k.mv_size);
		if (out)
			break;
		count++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (out)
		return out;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdbenv_error(rc);
}

/* Walks the records in key order from start (or the first), in one read
 * transaction: step gets each and returns 0 to go on, or what the walk
 * returns. A record that does not decode ends the walk with -EIO. */
static int walk_records(struct idx *ix, const char *start, size_t startlen,
			int (*step)(struct idx *ix, MDB_txn *txn,
				    const MDB_val *k,
				    const struct idx_record *r, void *ctx),
			void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = read_cursor(ix, ix->keys, &txn, &cur);
	if (rc)
		return rc;
	MDB_val k = {startlen, (void *)start}, v;
	bool seek = start && startlen > 0 && startlen <= KEY_MAX;
	rc = mdb_cursor_get(cur, &k, &v, seek ? MDB_SET_RANGE : MDB_FIRST);
	int out = 0;
	for (; !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct idx_record r;
		if (rec_decode(&v, &r)) {
			rc = MDB_CORRUPTED;
			break;
		}
		if ((out = step(ix, txn, &k, &r, ctx)))
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (out)
		return out;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdbenv_error(rc);
}

struct record_walk {
	int (*fn)(void *arg, const char *key, size_t keylen,
		  const struct idx_record *r);
	void *arg;
};

static int record_step(struct idx *ix, MDB_txn *txn, const MDB_val *k,
		       const struct idx_record *r, void *ctx)
{
	const struct record_walk *w = ctx;
	(void)ix;
	(void)txn;
	return w->fn(w->arg, k->mv_data, k->mv_size, r);
}

int idx_records(struct idx *ix, const char *start, size_t startlen,
		int (*fn)(void *arg, const char *key, size_t keylen,
			  const struct idx_record *r),
		void *arg)
{
	struct record_walk w = {fn, arg};
	return walk_records(ix, start, startlen, record_step, &w);
}

struct damaged_walk {
	int (*fn)(void *arg, const char *key, size_t keylen,
		  const struct idx_record *r, const struct idx_copies *cp);
	void *arg;
};

static int damaged_step(struct idx *ix, MDB_txn *txn, const MDB_val *k,
			const struct idx_record *r, void *ctx)
{
	const struct damaged_walk *w = ctx;
	struct idx_copies cp;
	if (copies_in(ix, txn, k, r, &cp))
		return lmdbenv_error(MDB_CORRUPTED);
	if (!(cp.lost | cp.unverified))
		return 0;
	return w->fn(w->arg, k->mv_data, k->mv_size, r, &cp);
}

int idx_damaged(struct idx *ix, const char *start, size_t startlen,
		int (*fn)(void *arg, const char *key, size_t keylen,
			  const struct idx_record *r,
			  const struct idx_copies *cp),
		void *arg)
{
	struct damaged_walk w = {fn, arg};
	return walk_records(ix, start, startlen, damaged_step, &w);
}

int idx_purge_scan(struct idx *ix, uint32_t from_vol,
		   int (*fn)(void *arg, const struct idx_purge *p), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = read_cursor(ix, ix->purge, &txn, &cur);
	if (rc)
		return rc;
	uint8_t seek[4];
	be_put32(seek, from_vol);
	MDB_val k = {4, seek}, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (!rc) {
		if (k.mv_size < 5 || v.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		struct idx_purge p = {.vol = be_get32(k.mv_data),
				      .key = (char *)k.mv_data + 4,
				      .keylen = k.mv_size - 4,
				      .seq = le_get64(v.mv_data)};
		int what = fn(arg, &p);
		if (what == IDX_SCAN_STOP)
			break;
		if (what == IDX_SCAN_SKIP_VOL) {
			if (p.vol == UINT32_MAX)
				break;
			be_put32(seek, p.vol + 1);
			k = (MDB_val){4, seek};
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		} else {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdbenv_error(rc);
}

int idx_purge_pending(struct idx *ix, uint32_t vol, const char *key,
		      size_t keylen, uint64_t seq)
{
	if (keylen == 0 || keylen > KEY_MAX)
		return -ENOENT;
	MDB_txn *txn;
	int rc = read_begin(ix, &txn);
	if (rc)
		return rc;
	uint8_t k[PURGE_KEY_MAX];
	MDB_val kv = {purge_key(k, vol, key, keylen), k}, v;
	rc = mdb_get(txn, ix->purge, &kv, &v);
	bool match = !rc && v.mv_size == 8 && le_get64(v.mv_data) == seq;
	mdb_txn_abort(txn);
	if (rc && rc != MDB_NOTFOUND)
		return lmdbenv_error(rc);
	return match ? 0 : -ENOENT;
}

int idx_copy(struct idx *ix, int fd)
{
	int rc = mdb_env_copyfd2(ix->env, fd, MDB_CP_COMPACT);
	return rc ? lmdbenv_error(rc) : 0;
}

/* Replaces the contents of dst with those of src (same name) in txn. */
static int copy_db(MDB_txn *from, MDB_txn *txn, const char *name, MDB_dbi dst)
{
	MDB_dbi src;
	int rc = mdb_drop(txn, dst, 0);
	if (rc)
		return rc;
	rc = mdb_dbi_open(from, name, 0, &src);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	MDB_cursor *cur;
	rc = mdb_cursor_open(from, src, &cur);
	if (rc)
		return rc;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = mdb_put(txn, dst, &k, &v, MDB_APPEND)))
			break;
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int idx_check_copy(const char *path, uint64_t index, const char **why)
{
	struct stat st;
	if (stat(path, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > MAP_SIZE) {
		*why = "not a file of at most the index's map size";
		return -EINVAL;
	}
	MDB_env *env;
	MDB_txn *txn = NULL;
	if (mdb_env_create(&env))
		return -ENOMEM;
	int rc = mdb_env_set_maxdbs(env, 8);
	if (!rc)
		rc = mdb_env_set_mapsize(env, MAP_SIZE);
	if (rc) {
		mdb_env_close(env);
		return -ENOMEM;
	}
	*why = "not an LMDB file";
	rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK,
			  0644);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	MDB_dbi dbi;
	const char *names[] = {"keys", "volumes", "purge", "applied"};
	for (size_t i = 0; !rc && i < sizeof(names) / sizeof(*names); i++) {
		*why = "without the index's databases";
		rc = mdb_dbi_open(txn, names[i], 0, &dbi);
	}
	MDB_val k = {5, "index"}, v;
	if (!rc) {
		*why = "without an applied index";
		rc = mdb_get(txn, dbi, &k, &v);
	}
	if (!rc && (v.mv_size != 16 || le_get64(v.mv_data) < index)) {
		*why = "older than the index it is sent for";
		rc = MDB_CORRUPTED;
	}
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc ? -EINVAL : 0;
}

int idx_install(struct idx *ix, const char *path)
{
	MDB_env *env;
	MDB_txn *from = NULL, *txn = NULL;
	int rc = mdb_env_create(&env);
	if (rc)
		return lmdbenv_error(rc);
	rc = mdb_env_set_maxdbs(env, 8);
	if (!rc)
		rc = mdb_env_set_mapsize(env, MAP_SIZE);
	if (!rc)
		rc = mdb_env_open(env, path,
				  MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0644);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &from);
	if (!rc)
		rc = mdb_txn_begin(ix->env, NULL, 0, &txn);
	if (!rc)
		rc = copy_db(from, txn, "keys", ix->keys);
	if (!rc)
		rc = copy_db(from, txn, "volumes", ix->volumes);
	if (!rc)
		rc = copy_db(from, txn, "purge", ix->purge);
	if (!rc)
		rc = copy_db(from, txn, "applied", ix->applied);
	/* A snapshot from a build before self-healing has neither: empty. */
	if (!rc)
		rc = copy_db(from, txn, "volids", ix->volids);
	if (!rc)
		rc = copy_db(from, txn, "lost", ix->lost);
	uint64_t lost = 0, flagged = 0;
	if (!rc)
		rc = refresh_counts(ix, txn, &lost, &flagged);
	if (!rc)
		raise_counts(ix, lost, flagged);
	if (!rc) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (!rc) {
		atomic_store(&ix->nlost, lost);
		atomic_store(&ix->nflagged, flagged);
	}
	/* The log is about to forget what this replaces: durable now,
	 * even under idx_relax_sync. */
	if (!rc)
		rc = mdb_env_sync(ix->env, 1);
	if (txn)
		mdb_txn_abort(txn);
	if (from)
		mdb_txn_abort(from);
	mdb_env_close(env);
	return rc ? lmdbenv_error(rc) : 0;
}
