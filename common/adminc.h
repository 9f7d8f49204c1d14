/* A client of the master's admin endpoints (master/http/admin.h), for
 * cask-rebuild and cask-rebalance: the volume set and the index records.
 *
 * `master` is a base URL ("http://host:port"). Memory: adminc_volumes
 * fills a caller struct freed with adminc_volumes_free; records are
 * handed to a callback and valid during it only. Thread-safe (no shared
 * state) once curl_global_init ran.
 * Errors: 0, -EPROTO for an answer that is not what the endpoint
 * promises (logged once here, with the status), or common/fetch.h's. */
#ifndef CASK_ADMINC_H
#define CASK_ADMINC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/key.h"
#include "common/md5.h"
#include "common/placement.h"

#define ADMINC_ADDR_MAX 256
#define ADMINC_MAX_VOLS 16

enum adminc_state {
	ADMINC_ACTIVE,
	ADMINC_DRAINING,
	ADMINC_RETIRED,
};

struct adminc_volume {
	uint32_t id;
	enum adminc_state state;
	bool healthy;
	char addr[ADMINC_ADDR_MAX];
	char zone[PLACEMENT_ZONE_MAX]; /* "" for none (or an older master) */
};

struct adminc_volumes {
	unsigned replicas;
	size_t n;
	struct adminc_volume *v;
};

int adminc_volumes(const char *master, struct adminc_volumes *out);
void adminc_volumes_free(struct adminc_volumes *vs);

/* The index of the volume named addr in vs, or -1. */
int adminc_volume_index(const struct adminc_volumes *vs, const char *addr,
			size_t len);

struct adminc_record {
	const char *key;
	size_t keylen;
	bool unlinked;
	uint64_t size;
	uint64_t created_ms;
	uint8_t md5[MD5_LEN];
	unsigned nvols;
	int vols[ADMINC_MAX_VOLS]; /* indexes into the volumes, -1 unknown */
};

/* Calls fn for every record in key order, a page of `page` at a time.
 * fn's nonzero return stops the walk and is returned. */
int adminc_records(const char *master, const struct adminc_volumes *vs,
		   size_t page,
		   int (*fn)(void *arg, const struct adminc_record *r),
		   void *arg);

/* POSTs an NDJSON batch to /_/admin/records. *applied gets how many
 * lines were applied; fn (may be NULL) is called with each line the
 * master did not apply and why ("stale", "busy", ...). */
int adminc_post_records(const char *master, const char *body, size_t len,
			size_t *applied,
			void (*fn)(void *arg, const char *key, size_t keylen,
				   const char *error),
			void *arg);

#endif
