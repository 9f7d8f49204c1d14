/* The master's index: an LMDB state machine changed only by commands.
 *
 * One environment, `<dir>/state/`, with six named databases:
 *   keys     key → record (state, size, md5, created, volume ids)
 *   volumes  id (u32 big-endian) → state + address [+ NUL + zone]; a
 *            value without the NUL (as every build before zones wrote
 *            it) is a volume without a zone
 *   purge    volume id (u32 BE) ‖ key → sequence (u64): copies to delete
 *   applied  "index" → u64 index, u64 term of the last applied command
 *   volids   volume id (u32 BE) → identity of its data directory and
 *            its health flags (unverified, dead): self-healing
 *   lost     volume id (u32 BE) ‖ key → why (cmd_lost_why): copies known
 *            missing or corrupt; an entry exists only while the key's
 *            record names that volume
 *
 * idx_apply applies a batch of encoded commands (master/state/cmd.h) in one
 * write transaction that also moves `applied`, committed with LMDB's
 * default durable sync (unless idx_relax_sync): after it returns 0, the
 * changes and the applied index survive a crash together. Commands at or below
 * the applied index are skipped, so replaying a log after a restart is
 * harmless. This is the state machine a Raft log feeds; nothing else writes the
 * environment.
 *
 * Threads: every function may be called from any thread. Writers are
 * serialized by LMDB; readers never block and see the last committed
 * state. A thread must not nest calls (one read transaction per thread).
 * Errors: 0 or a negative errno; LMDB failures map to -EIO, a full map to
 * -ENOSPC. */
#ifndef CASK_MASTER_INDEX_H
#define CASK_MASTER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/placement.h"
#include "master/state/cmd.h"

#define IDX_ADDR_MAX 256
/* Volume ids run from 1 to this; a volume past it is refused (-ENOSPC). */
#define IDX_VOL_MAX_ID 4096
#define IDX_ZONE_MAX   PLACEMENT_ZONE_MAX

enum idx_state {
	IDX_LIVE = 1,
	IDX_UNLINKED = 2,
};

struct idx_record {
	enum idx_state state;
	uint64_t size;
	uint8_t md5[MD5_LEN];
	uint64_t created_ms;
	unsigned nvols;
	uint32_t vols[CMD_MAX_VOLS]; /* in placement order */
};

/* Volume states as stored (and carried by CMD_VOLUME). */
enum idx_vol_state {
	IDX_VOL_ACTIVE = 1,   /* new keys are placed on it */
	IDX_VOL_RETIRED = 2,  /* out of the set; records may still name it */
	IDX_VOL_DRAINING = 3, /* no new keys; rebalance empties it */
};

struct idx_volume {
	uint32_t id;
	bool active;   /* in the current volume set */
	bool draining; /* not active, and being emptied */
	char addr[IDX_ADDR_MAX];
	char zone[IDX_ZONE_MAX]; /* "" for none */
};

struct idx_entry {
	uint64_t index; /* strictly increasing within and across batches */
	uint64_t term;
	const uint8_t *cmd;
	size_t len;
};

struct idx_stats {
	uint64_t keys;	/* records, live and unlinked */
	uint64_t purge; /* copies waiting to be deleted */
	uint64_t lost;	/* entries of the lost database */
	uint64_t applied;
	uint64_t term;
};

struct idx;

/* Opens (creating if needed) `<dir>/state/`. Returns 0 or -errno. */
int idx_open(const char *dir, struct idx **out);

/* Closes the environment; no call may be running. NULL is a no-op. */
void idx_close(struct idx *ix);

/* Applies `n` entries in one transaction. results[i] receives each
 * command's own outcome (0, -EEXIST, -ENOENT, -EPERM as documented in
 * cmd.h, or -EINVAL for bytes that do not decode); those outcomes are part
 * of the replicated state and do not fail the batch. The return value is
 * 0, or the error that rolled the whole batch back. */
int idx_apply(struct idx *ix, const struct idx_entry *e, size_t n,
	      int *results);

int idx_stats(struct idx *ix, struct idx_stats *out);

/* The applied index now. A read begun after this returns sees at least
 * this state (LMDB readers see the last commit as of their start). */
int idx_applied(struct idx *ix, uint64_t *applied);

/* For a state machine a synced log replays (Raft): commits are not
 * synced at all (MDB_NOSYNC). A crash of the process loses nothing (the
 * kernel has every write, and LMDB's commits stay atomic), but a crash of
 * the machine may tear the environment: the owner must be able to rebuild
 * it from a snapshot and its log (master/repl/snapshot.h), and idx_sync makes
 * everything durable, as before a clean close. */
int idx_relax_sync(struct idx *ix);
int idx_sync(struct idx *ix);

/* Looks up a key. Returns 0, -ENOENT, or -EIO. */
int idx_get(struct idx *ix, const char *key, size_t keylen,
	    struct idx_record *out);

/* Which copies of a record (bit i: rec.vols[i]) are not believed good:
 * `lost` the ones marked lost or on a volume marked dead (repair
 * replaces them), `unverified` the ones on a volume whose identity
 * changed and was not verified yet (repair waits for the verification).
 * Reads use neither. */
struct idx_copies {
	uint32_t lost;
	uint32_t unverified;
};

/* idx_get, plus the copies' standing in the same read. Cheap when
 * nothing is lost and no volume is flagged (two atomic loads), so the
 * read path can always use it. Returns 0, -ENOENT, or -EIO. */
int idx_get_copies(struct idx *ix, const char *key, size_t keylen,
		   struct idx_record *out, struct idx_copies *cp);

/* A volume's recorded identity and health (CMD_VOL_IDENT, CMD_VOL_HEALTH). */
struct idx_vol_health {
	uint8_t ident[MD5_LEN];
	bool unverified;
	bool dead;
};

/* Returns 0, -ENOENT when no identity was recorded for vol, or -EIO. */
int idx_vol_health(struct idx *ix, uint32_t vol, struct idx_vol_health *out);

/* Whether some copy is lost or some volume is flagged dead or
 * unverified (atomic loads; may lag a concurrent apply by one batch). */
bool idx_damaged_any(struct idx *ix);

/* Calls fn for every record, from `start` (inclusive; NULL for the first
 * key) in key order, that has a copy in idx_copies' lost or unverified
 * set. fn's nonzero return stops the walk and is returned; else 0 or
 * -EIO. fn runs inside the read and must not call the index. */
int idx_damaged(struct idx *ix, const char *start, size_t startlen,
		int (*fn)(void *arg, const char *key, size_t keylen,
			  const struct idx_record *r,
			  const struct idx_copies *cp),
		void *arg);

/* Calls fn for every volume, live and retired, in id order. */
int idx_volumes(struct idx *ix,
		int (*fn)(void *arg, const struct idx_volume *v), void *arg);

/* Listing keys in byte order, minikeyvalue's ?list and ?unlinked. */
struct idx_list {
	const char *prefix; /* keys that start with it */
	size_t prefixlen;
	const char *start; /* first key to consider, or NULL */
	size_t startlen;
	bool unlinked; /* list unlinked records instead of live ones */
	size_t limit;  /* 0: no limit */
	size_t max;    /* an answer may never hold more than this */
	/* Called per key; a nonzero return stops the listing with it. */
	int (*fn)(void *arg, const char *key, size_t keylen);
	/* Called instead of fn when set, with the key's record too: read
	 * in the listing's own transaction, so key and record always come
	 * from the same state (r is valid during the call only). */
	int (*fn_record)(void *arg, const char *key, size_t keylen,
			 const struct idx_record *r);
	void *arg;
	/* Out: the first key not returned when `limit` cut the list. */
	char next[KEY_MAX + 1];
	size_t nextlen;
};

/* Returns 0, -E2BIG when more than `max` keys would be returned, fn's
 * nonzero value, or -EIO. */
int idx_list(struct idx *ix, struct idx_list *l);

/* Calls fn for every record, live and unlinked, in key order, starting at
 * `start` (inclusive; NULL or empty for the first key). fn's nonzero
 * return stops the scan and is returned; else 0 or -EIO. */
int idx_records(struct idx *ix, const char *start, size_t startlen,
		int (*fn)(void *arg, const char *key, size_t keylen,
			  const struct idx_record *r),
		void *arg);

/* One queued purge: delete `key` from volume `vol`. */
struct idx_purge {
	uint32_t vol;
	const char *key; /* valid during the callback only */
	size_t keylen;
	uint64_t seq;
};

enum {
	IDX_SCAN_NEXT = 0,     /* go on */
	IDX_SCAN_STOP = 1,     /* end the scan */
	IDX_SCAN_SKIP_VOL = 2, /* jump to the next volume's entries */
};

/* Calls fn for queued purges in (volume, key) order, starting with volume
 * `from_vol`. fn returns one of the IDX_SCAN_* values. */
int idx_purge_scan(struct idx *ix, uint32_t from_vol,
		   int (*fn)(void *arg, const struct idx_purge *p), void *arg);

/* Returns 0 when (vol, key) is queued with sequence seq, else -ENOENT. */
int idx_purge_pending(struct idx *ix, uint32_t vol, const char *key,
		      size_t keylen, uint64_t seq);

/* Snapshots (master/repl/snapshot.h). idx_copy writes a compacted copy of the
 * environment to fd (a consistent read view; exactly the applied index
 * when the caller is the only writer). idx_install replaces every
 * database with the contents of the copy at `path` in one write
 * transaction, so readers see the old state or the new one and a crash
 * mid-install leaves the old state; once it returns, the new state is
 * durable (idx_relax_sync or not). */
int idx_copy(struct idx *ix, int fd);
int idx_install(struct idx *ix, const char *path);

/* Whether the file at path is a copy idx_install can take that stands for
 * at least `index`: an LMDB file, at most the index's map size, with the
 * index's databases, and an applied index no lower. Reads only. Returns
 * 0, or -EINVAL (with a one-line *why) for anything else, -ENOMEM. A
 * peer's upload is checked so before the node acts on it. */
int idx_check_copy(const char *path, uint64_t index, const char **why);

#endif
