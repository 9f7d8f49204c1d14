/* Starting a node (restore from raft/ and the machine, or bootstrap from
 * -peers) and stopping it (master/repl/node.h, node_int.h). */
#include "master/repl/node_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "master/repl/snapshot.h"

/* The configuration -peers names, with the addresses node_start gave
 * the transport. */
static int parse_peers(struct node *n, const char *peers,
		       struct raft_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	for (const char *p = peers; *p;) {
		char *end;
		unsigned long long id = strtoull(p, &end, 10);
		if (conf->n == RAFT_MAX_NODES || !id)
			return -EINVAL;
		/* The founding configuration carries the addresses, so a
		 * master that joins later learns them from the log. */
		if (transport_peer_url(n->tp, id, conf->addr[conf->n],
				       RAFT_ADDR_MAX))
			return -EINVAL;
		conf->ids[conf->n++] = id;
		const char *comma = strchr(end, ',');
		p = comma ? comma + 1 : end + strlen(end);
	}
	return raft_conf_find(conf, n->o.id) < 0 ? -EINVAL : 0;
}

static int restore(struct node *n)
{
	struct raftlog_state st;
	bool empty;
	int rc = raftlog_load(n->rl, &st, &empty);
	if (rc)
		return rc;
	uint64_t applied;
	rc = n->m.ops->applied(n->m.arg, &applied);
	if (rc) {
		raftlog_state_free(&st);
		return rc;
	}
	n->applied = applied;
	if (empty) {
		raftlog_state_free(&st);
		if (n->o.join)
			return 0; /* the leader will send us the log */
		if (applied)
			return -EEXIST; /* state/ from a master without -peers
					 */
		struct raft_conf conf;
		rc = parse_peers(n, n->o.peers, &conf);
		return rc ? rc : raft_bootstrap(n->r, &conf);
	}
	/* Entries up to the log's snapshot are gone from the log: the
	 * machine must hold them already. */
	if (st.has_snap && applied < st.snap.index) {
		raftlog_state_free(&st);
		return -ESTALE;
	}
	n->snap_index = st.has_snap ? st.snap.index : 0;
	n->saved_term = st.hs.term;
	rc = raft_restore(n->r, &st.hs, st.has_snap ? &st.snap : NULL, st.ents,
			  st.n);
	raftlog_state_free(&st);
	return rc;
}

int node_start(const struct node_options *o, const struct machine *m,
	       struct node **out)
{
	assert(o && o->dir && o->peers && o->tick_ms && m && m->ops && out);
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->o = *o;
	n->m = *m;
	snprintf(n->dir, sizeof(n->dir), "%s", o->dir);
	n->o.dir = n->dir;
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	char incoming[4096];
	int rc = snap_path(n->dir, n->snap_file, sizeof(n->snap_file));
	if (!rc)
		rc = snap_incoming_path(n->dir, incoming, sizeof(incoming));
	if (!rc)
		rc = raftlog_open(n->dir, &n->rl);
	struct transport_options to = {.id = o->id,
				       .timeout_ms = 1000,
				       .queue_max = NODE_QUEUE_MAX,
				       .incoming_path = incoming};
	struct transport_callbacks cb = node_callbacks(n);
	if (!rc)
		rc = transport_start(&to, &cb, &n->tp);
	/* Addresses: the flag first, then what was learned before. */
	if (!rc && transport_merge_peers(n->tp, o->peers) < 0)
		rc = -EINVAL;
	if (!rc)
		rc = raftlog_get_peers(n->rl, n->peers_saved,
				       sizeof(n->peers_saved));
	if (!rc)
		transport_merge_peers(n->tp, n->peers_saved);
	struct raft_options ro = {.id = o->id,
				  .election_ticks = o->election_ticks,
				  .heartbeat_ticks = 2,
				  .max_inflight = 64,
				  .lease_reads = true,
				  .seed = o->id ^ clock_mono_us()};
	if (!rc)
		rc = raft_new(&ro, &n->r);
	if (!rc)
		rc = restore(n);
	n->tick_us = (uint64_t)o->tick_ms * 1000u;
	n->next_tick = clock_mono_us() + n->tick_us;
	/* From here on state/ commits are not synced: the log replays what
	 * a crash of the host takes (master/repl/snapshot.h). */
	if (!rc)
		rc = snap_state_mark(n->dir);
	if (!rc)
		rc = n->m.ops->relax_sync(n->m.arg);
	if (!rc) {
		node_handle_ready(n); /* persists a bootstrap before anything */
		node_publish(n);
		rc = -pthread_create(&n->thread, NULL, node_run, n);
	}
	if (!rc && o->join && !n->info.term)
		node_join_start(n);
	if (rc) {
		log_error("raft: starting node %" PRIu64 " in %s: %s", o->id,
			  o->dir,
			  rc == -EEXIST ? "state/ was written without -peers; "
					  "start from an empty -db"
			  : rc == -ESTALE ? "state/ is older than the log's "
					    "snapshot (raft/snapshot.mdb)"
					  : strerror(-rc));
		transport_stop(n->tp);
		if (n->r)
			raft_free(n->r);
		raftlog_close(n->rl);
		free(n);
		return rc;
	}
	*out = n;
	return 0;
}

void node_stop(struct node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	node_join_wait(n);
	pthread_join(n->thread, NULL);
	node_compact_stop(n);
	/* Nothing applies any more: the machine can be made durable, and
	 * then needs no restore whatever happens to the host. */
	int rc = n->m.ops->sync(n->m.arg);
	if (rc)
		log_warn("raft: syncing state/: %s", strerror(-rc));
	else
		snap_state_clean(n->dir);
	while (n->in_head) {
		struct node_inbox *it = n->in_head;
		n->in_head = it->next;
		if (it->reply)
			transport_reply(n->tp, it->reply);
		transport_batch_free(it->batch);
		free(it);
	}
	transport_stop(n->tp);
	raft_free(n->r);
	raftlog_close(n->rl);
	free(n->pend);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	free(n);
}
