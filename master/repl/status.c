/* What other threads read of a node: its published info, the leader's
 * address, /_/status and /_/metrics (master/repl/node.h, node_int.h).
 * Everything here takes mu or atomics only, never the core. */
#include "master/repl/node_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/metrics.h"

void node_info(struct node *n, struct node_info *out)
{
	assert(n && out);
	pthread_mutex_lock(&n->mu);
	*out = n->info;
	pthread_mutex_unlock(&n->mu);
}

int node_leader_url(struct node *n, char *out, size_t cap)
{
	assert(out && cap);
	struct node_info in;
	node_info(n, &in);
	if (in.role == RAFT_LEADER)
		return -EAGAIN;
	if (!in.leader)
		return -ENOENT;
	return transport_peer_url(n->tp, in.leader, out, cap) ? -ENOENT : 0;
}

const char *node_role_name(enum raft_role r)
{
	switch (r) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_PRECANDIDATE:
		return "precandidate";
	default:
		return "follower";
	}
}

void node_status_json(struct node *n, struct buf *b)
{
	pthread_mutex_lock(&n->mu);
	struct node_info in = n->info;
	struct raft_conf conf = n->conf;
	uint64_t match[RAFT_MAX_NODES];
	memcpy(match, n->match, sizeof(match));
	pthread_mutex_unlock(&n->mu);
	buf_printf(b,
		   ",\"raft\":{\"id\":%" PRIu64
		   ",\"role\":\"%s\",\"term\":%" PRIu64 ",\"leader\":%" PRIu64
		   ",\"commit\":%" PRIu64 ",\"applied\":%" PRIu64
		   ",\"snapshot\":%" PRIu64 ",\"snapshotting\":%s"
		   ",\"peers\":[",
		   in.id, node_role_name(in.role), in.term, in.leader,
		   in.commit, in.applied, in.snapshot_index,
		   atomic_load(&n->snapping) ? "true" : "false");
	for (size_t i = 0; i < conf.n; i++) {
		char url[TRANSPORT_URL_MAX] = "";
		transport_peer_url(n->tp, conf.ids[i], url, sizeof(url));
		buf_printf(b,
			   "%s{\"id\":%" PRIu64 ",\"url\":\"%s\",\"voter\":%s"
			   ",\"match\":%" PRIu64 "}",
			   i ? "," : "", conf.ids[i], url,
			   conf.learner[i] ? "false" : "true", match[i]);
	}
	buf_append(b, "]}", 2);
}

_Static_assert(NODE_URL_MAX == TRANSPORT_URL_MAX, "node.h says the size");

size_t node_peers(struct node *n, struct node_peer *out, size_t cap)
{
	pthread_mutex_lock(&n->mu);
	struct raft_conf conf = n->conf;
	uint64_t match[RAFT_MAX_NODES];
	memcpy(match, n->match, sizeof(match));
	pthread_mutex_unlock(&n->mu);
	size_t k = 0;
	for (size_t i = 0; i < conf.n && k < cap; i++, k++) {
		out[k] = (struct node_peer){.id = conf.ids[i],
					    .match = match[i],
					    .voter = !conf.learner[i]};
		transport_peer_url(n->tp, conf.ids[i], out[k].url,
				   sizeof(out[k].url));
	}
	return k;
}

void node_metrics(struct node *n, struct buf *b)
{
	struct node_info in;
	node_info(n, &in);
	struct transport_counts tc;
	transport_counts(n->tp, &tc);
	metrics_gauge(b, "cask_master_raft_term", "Current Raft term.",
		      (double)in.term);
	metrics_gauge(b, "cask_master_raft_leader", "1 when this master leads.",
		      in.role == RAFT_LEADER);
	metrics_gauge(b, "cask_master_raft_commit_index",
		      "Highest log index known committed.", (double)in.commit);
	metrics_gauge(b, "cask_master_raft_snapshot_index",
		      "Index of the last snapshot.", (double)in.snapshot_index);
	metrics_gauge(b, "cask_master_raft_snapshot_writing",
		      "1 while a snapshot is being written.",
		      atomic_load(&n->snapping));
	metrics_counter(b, "cask_master_raft_log_syncs_total",
			"fdatasync and fsync calls of the Raft log: one per "
			"saved batch, two more per new segment.",
			raftlog_syncs(n->rl));
	metrics_counter(b, "cask_master_raft_entries_persisted_total",
			"Log entries persisted (divide by syncs: entries per "
			"sync).",
			atomic_load(&n->entries_saved));
	metrics_counter(b, "cask_master_raft_proposals_total",
			"Commands proposed.", atomic_load(&n->proposals));
	metrics_counter(b, "cask_master_raft_proposals_failed_total",
			"Proposals refused, lost or timed out.",
			atomic_load(&n->proposals_failed));
	metrics_counter(b, "cask_master_raft_reads_total",
			"Linearizable read barriers.", atomic_load(&n->reads));
	metrics_counter(b, "cask_master_raft_lease_reads_total",
			"Reads the leader answered from its lease, without "
			"the driver thread.",
			atomic_load(&n->reads_lease));
	metrics_counter(b, "cask_master_raft_reads_failed_total",
			"Read barriers that got no read index in time.",
			atomic_load(&n->reads_failed));
	metrics_counter(b, "cask_master_raft_leader_changes_total",
			"Leaders seen.", atomic_load(&n->leader_changes));
	metrics_counter(b, "cask_master_raft_messages_sent_total",
			"Raft messages delivered to peers.", tc.sent);
	metrics_counter(b, "cask_master_raft_messages_received_total",
			"Raft messages received.", tc.received);
	metrics_counter(b, "cask_master_raft_messages_dropped_total",
			"Raft messages dropped (full queue, failed POST).",
			tc.dropped);
	metrics_counter(b, "cask_master_raft_posts_total",
			"Batched message POSTs sent.", tc.posts);
	metrics_counter(b, "cask_master_raft_answers_total",
			"POST answers that carried messages back.", tc.answers);
	metrics_counter(b, "cask_master_raft_snapshots_sent_total",
			"Snapshots streamed to followers.", tc.snapshots_sent);
	metrics_counter(b, "cask_master_raft_snapshots_installed_total",
			"Snapshots received and installed.",
			atomic_load(&n->snapshots_installed));
	metrics_counter(b, "cask_master_raft_snapshots_taken_total",
			"Log compactions.", atomic_load(&n->snapshots_taken));
}

void node_counts(struct node *n, uint64_t *cmds, uint64_t *syncs)
{
	*cmds = atomic_load(&n->cmds);
	*syncs = raftlog_syncs(n->rl);
}

struct transport *node_transport(struct node *n)
{
	assert(n);
	return n->tp;
}
