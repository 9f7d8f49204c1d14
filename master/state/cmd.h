/* Commands: every change to the master's index, as bytes.
 *
 * The index is a state machine: it changes only by applying commands, in
 * order, each exactly once (master/state/index.h). A command is encoded here so
 * that it can be written to a log and replicated (Raft) before it is
 * applied; the encoding is versioned and self-describing enough to be
 * decoded by any later build.
 *
 * Versions: 1 is every command as the first build wrote it; 2 is the
 * same layout, written only for a CMD_VOLUMES or CMD_VOLUME whose
 * addresses carry a zone (host:port@zone). A build that predates zones
 * refuses those instead of taking "host:port@zone" for an address, and
 * every other command stays readable by it, so masters can be upgraded
 * one at a time. A version-1 address never holds an '@'.
 *
 * Commands carry facts, not intentions that depend on local state: the
 * creation time and the volume ids of a PUT are chosen by the proposer and
 * recorded, so applying the same command on every master gives the same
 * index.
 *
 * Memory: cmd_encode writes into a caller buffer; cmd_decode leaves
 * pointers (key, addrs) into the encoded bytes, which must outlive the
 * decoded struct. No allocation, no shared state: thread-safe. */
#ifndef CASK_MASTER_CMD_H
#define CASK_MASTER_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/key.h"
#include "common/md5.h"

/* Most replicas a key may have. */
#define CMD_MAX_VOLS 16
/* Longest comma-separated volume list a CMD_VOLUMES may carry. */
#define CMD_MAX_ADDRS 8192
/* Enough room for any encoded command. */
#define CMD_MAX_LEN (64 + KEY_MAX + CMD_MAX_ADDRS + 4 * CMD_MAX_VOLS)

enum cmd_type {
	/* Record a value stored on `vols`; fails with -EEXIST when the key
	 * is live. Replaces an unlinked record (its other copies are
	 * queued for purge). */
	CMD_PUT = 1,
	/* Soft delete: the record stays, listed by ?unlinked. -ENOENT when
	 * absent or already unlinked. */
	CMD_UNLINK = 2,
	/* Remove the record and queue its copies for purge. -ENOENT when
	 * absent; -EPERM when `protect` is set and the key is live. */
	CMD_DELETE = 3,
	/* A purge of (vols[0], key) is done; removes the queue entry if its
	 * sequence is still `seq` (a newer entry for the same copy stays). */
	CMD_PURGE_DONE = 4,
	/* Queue copies for purge without a record: what a failed PUT left. */
	CMD_PURGE_ADD = 5,
	/* The set of volumes new keys are placed on: `addrs`, comma
	 * separated host:port[@zone]. Unknown addresses get fresh ids; known
	 * ones missing from the list are retired (kept, so records can still
	 * name them). Volumes are matched by host:port; a listed one takes
	 * the listed zone, or none without @zone. */
	CMD_VOLUMES = 6,
	/* Set a key's whole record (rebuild, rebalance), or with `remove`
	 * delete it, provided the current record is what `expect` says,
	 * else -ESTALE. An upsert naming a volume with a queued purge of
	 * the key fails with -EBUSY (that copy is on its way out) unless
	 * `written`: the proposer just wrote the copies under the key's
	 * lock, so those purges are cancelled as a PUT's are. With
	 * `purge_dropped`, volumes of the old record missing from the new
	 * one are queued for purge. */
	CMD_RECORD = 7,
	/* Set one volume's state (`state`: IDX_VOL_*) by address, `addrs`
	 * host:port[@zone]; an unknown address gets a fresh id. With @zone
	 * the volume's zone becomes that, without it the zone stays.
	 * -ENOENT when retiring an unknown address. */
	CMD_VOLUME = 8,
	/* Self-healing (master/write/repair.h). The data-directory identity
	 * of volume vols[0] is `md5` (the md5 of the id it shows). The first
	 * one recorded is trusted; a different one marks the volume
	 * unverified (its copies are unknown until CMD_VOL_HEALTH
	 * VERIFIED), clears `dead` and forgets its lost copies, since they
	 * describe the old disk. */
	CMD_VOL_IDENT = 9,
	/* Volume vols[0]'s health as the leader judged it, `state` a
	 * cmd_vol_health. VERIFIED carries the identity it verified in
	 * `md5` and is -ESTALE when the recorded one differs; every state
	 * is -ENOENT for a volume with no identity recorded. */
	CMD_VOL_HEALTH = 10,
	/* The copies of `key` on vols are lost (`state`: cmd_lost_why):
	 * reads skip them and repair replaces them. Only copies the record
	 * names are marked; -ESTALE when the record is absent or its md5 is
	 * not `expect_md5` (the record changed since the loss was seen).
	 * The mark goes when a record stops naming the copy or a new value
	 * is written to it. */
	CMD_LOST = 11,
};

enum cmd_vol_health {
	CMD_VH_DEAD = 1,     /* unhealthy longer than -repair-after */
	CMD_VH_ALIVE = 2,    /* back with the same identity */
	CMD_VH_VERIFIED = 3, /* listing compared with the records */
};

enum cmd_lost_why {
	CMD_LOST_MISSING = 1, /* absent or wrong after an identity change */
	CMD_LOST_CORRUPT = 2, /* the volume reported the record corrupt */
};

enum cmd_expect {
	CMD_EXPECT_ANY = 0,
	CMD_EXPECT_ABSENT = 1,
	CMD_EXPECT_MD5 = 2, /* present, with md5 expect_md5 */
};

struct cmd {
	enum cmd_type type;
	const char *key; /* not NUL-terminated */
	size_t keylen;
	uint64_t size;	      /* PUT */
	uint8_t md5[MD5_LEN]; /* PUT, RECORD; VOL_IDENT, VOL_HEALTH: identity */
	uint64_t created_ms;  /* PUT: wall clock of the proposer */
	bool protect;	      /* DELETE */
	uint64_t seq;	      /* PURGE_DONE */
	/* PUT, PURGE_ADD, LOST; PURGE_DONE, VOL_IDENT, VOL_HEALTH (1) */
	unsigned nvols;
	uint32_t vols[CMD_MAX_VOLS];
	/* VOLUMES, VOLUME: host:port[@zone], not NUL-terminated */
	const char *addrs;
	size_t addrslen;
	/* RECORD: IDX_LIVE/IDX_UNLINKED; VOLUME: IDX_VOL_*; VOL_HEALTH:
	 * cmd_vol_health; LOST: cmd_lost_why */
	uint8_t state;
	bool remove, purge_dropped, written; /* RECORD */
	enum cmd_expect expect;		     /* RECORD */
	uint8_t expect_md5[MD5_LEN];	     /* RECORD, LOST */
};

/* Encodes `c` into out (capacity cap). Returns the length, or -EINVAL for
 * a command that breaks the limits above, -ENOSPC when cap is too small. */
long cmd_encode(const struct cmd *c, uint8_t *out, size_t cap);

/* Decodes `len` bytes. Returns 0, or -EINVAL for anything malformed,
 * truncated, of an unknown version or type, or with trailing bytes. */
int cmd_decode(const uint8_t *in, size_t len, struct cmd *out);

#endif
