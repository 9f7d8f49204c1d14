/* Snapshots of the machine: taking them for compaction, installing the
 * ones a leader sent (master/repl/node_int.h, snapshot.h).
 *
 * Copying the machine takes as long as reading the whole index, which
 * grows with it (a million keys: 160 MB), while a driver that stops
 * ticking for an election timeout costs the cluster its leader and every
 * write waits behind it. So the copy is written on a thread of its own,
 * and the driver only publishes it and drops the log prefix once it is
 * synced. The copy holds at least what was applied when it began
 * (snap_at), so the log is compacted to snap_at; a snapshot installed
 * meanwhile supersedes it. */
#include "master/repl/node_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "master/repl/snapshot.h"

static void *write_snapshot(void *arg)
{
	pthread_setname_np(pthread_self(), "raft-snapshot");
	struct node *n = arg;
	bool ok = snap_write(&n->m, n->dir) == 0;
	pthread_mutex_lock(&n->mu);
	n->snap_ok = ok;
	n->snap_written = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

static void snapshot_written(struct node *n, uint64_t now)
{
	assert(!n->in_ready);
	pthread_join(n->snapper, NULL);
	atomic_store(&n->snapping, false);
	if (!n->snap_ok || n->installs != n->snap_installs) {
		snap_abandon(n->dir);
		if (!n->snap_ok)
			n->snap_retry_us = now + NODE_SNAP_RETRY_MS * 1000u;
		return;
	}
	/* The log may forget what the synced snapshot holds: state/ itself
	 * is not synced, and after a crash of the host it restarts from
	 * the snapshot (snap_state_recover). */
	if (snap_publish(n->dir)) {
		snap_abandon(n->dir);
		n->snap_retry_us = now + NODE_SNAP_RETRY_MS * 1000u;
		return;
	}
	int rc = raft_compact(n->r, n->snap_at);
	if (rc) {
		log_warn("raft: compacting at %" PRIu64 ": %s", n->snap_at,
			 strerror(-rc));
		return;
	}
	if (raftlog_compact(n->rl, raft_snapshot_meta(n->r)) == 0) {
		n->snap_index = n->snap_at;
		atomic_fetch_add(&n->snapshots_taken, 1);
	}
}

void node_compact_poll(struct node *n, uint64_t now)
{
	if (atomic_load(&n->snapping)) {
		pthread_mutex_lock(&n->mu);
		bool written = n->snap_written;
		n->snap_written = false;
		pthread_mutex_unlock(&n->mu);
		if (written)
			snapshot_written(n, now);
		return;
	}
	if (n->applied < n->snap_index + n->o.snapshot_entries ||
	    now < n->snap_retry_us)
		return;
	/* After a restart state/ may be ahead of the commit the core
	 * learned so far; it compacts only entries it handed out. */
	struct raft_status st;
	raft_status(n->r, &st);
	if (st.applied < n->applied)
		return;
	n->snap_at = n->applied;
	n->snap_installs = n->installs;
	int rc = pthread_create(&n->snapper, NULL, write_snapshot, n);
	if (rc) {
		log_warn("raft: no thread for a snapshot: %s", strerror(rc));
		n->snap_retry_us = now + NODE_SNAP_RETRY_MS * 1000u;
		return;
	}
	atomic_store(&n->snapping, true);
}

void node_compact_install(struct node *n, const struct raft_snap_meta *s)
{
	assert(n->in_ready && s);
	if (snap_install(&n->m, n->dir)) {
		log_error("raft: cannot install the snapshot at %" PRIu64,
			  s->index);
		abort(); /* the old state is intact on disk */
	}
	n->applied = s->index;
	n->snap_index = s->index;
	n->installs++;
	atomic_fetch_add(&n->snapshots_installed, 1);
	if (n->o.on_changed)
		n->o.on_changed(n->o.arg);
}

void node_compact_stop(struct node *n)
{
	/* A snapshot being written is finished, not published: the next
	 * start takes another. */
	if (atomic_load(&n->snapping)) {
		pthread_join(n->snapper, NULL);
		atomic_store(&n->snapping, false);
		snap_abandon(n->dir);
	}
}
