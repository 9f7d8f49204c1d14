/* GET /_/ui on a master: the cluster at a glance, as an HTML page the
 * master renders (common/html.h), refreshing itself every UI_REFRESH_S.
 *
 * It shows every master of the configuration (role, term, commit,
 * applied index, lag behind the leader's commit, the leader marked),
 * every volume (health, identity, zone, state, keys, live and dead bytes,
 * free disk, scrub), repair and purge progress, rebalance moves, request
 * rates and p99s, and the last events logged here.
 *
 * The other masters' and the volumes' own /_/status are fetched by a
 * thread of its own, every UI_POLL_MS while the page is being looked at
 * (it sleeps once nobody asked for a minute), so rendering never waits
 * on a peer: a page shows what the last poll saw, and says how old that
 * is. Threads: ui_render from any thread. Memory: ui_stop frees what
 * ui_start made; the deps are borrowed until then. */
#ifndef CASK_MASTER_UI_H
#define CASK_MASTER_UI_H

#include "common/buf.h"
#include "master/repl/node.h"
#include "master/state/index.h"
#include "master/write/repair.h"
#include "master/write/volumes.h"

#define UI_REFRESH_S 5
#define UI_POLL_MS   2000

struct ui_deps {
	struct idx *ix;
	struct vols *vs;
	struct repair *rp;
	struct node *node; /* NULL for a master alone */
	unsigned replicas;
};

struct ui;

/* Returns 0, -ENOMEM or -EAGAIN (no thread). */
int ui_start(const struct ui_deps *d, struct ui **out);
void ui_stop(struct ui *u); /* NULL is a no-op */

/* Appends the page to b. */
void ui_render(struct ui *u, struct buf *b);

#endif
