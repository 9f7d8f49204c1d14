/*
 * Throughput of the raft core alone: a 3-node cluster in one process, no
 * I/O, no encoding. The leader takes `batch` proposals, then every node
 * hands its Ready over (raft/tests/memnet.h, with messages stepped straight
 * into their target instead of queued) until the cluster is quiet. Prints
 * entries committed per second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/raft.h"
#include "raft/tests/memnet.h"

#define NODES 3

static struct memnet net;
static int leader;
static uint64_t committed;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void step_now(struct memnet *n, int from, const struct raft_msg *m)
{
	(void)from;
	raft_step(n->r[m->to], m);
}

static void count(struct memnet *n, int id, const struct raft_ready *rd)
{
	(void)n;
	if (id == leader)
		committed += rd->n_committed;
}

static const struct memnet_hooks hooks = {.send = step_now, .apply = count};

/* Drain every node's Ready until nothing is left to do. */
static void pump(void)
{
	while (memnet_flush(&net))
		;
}

static int setup(unsigned batch)
{
	struct raft_conf conf = {.n = NODES, .ids = {1, 2, 3}};
	memnet_init(&net, &hooks, false, NULL);
	for (int id = 1; id <= NODES; id++) {
		struct raft_options o = {
			.id = (uint64_t)id,
			.max_batch = batch,
			.max_inflight = 64,
			.seed = (uint64_t)id,
		};
		if (raft_new(&o, &net.r[id]) ||
		    raft_bootstrap(net.r[id], &conf))
			return -1;
	}
	pump();
	for (int t = 0; t < 100; t++) {
		memnet_tick(&net);
		pump();
		for (int id = 1; id <= NODES; id++) {
			struct raft_status st;
			raft_status(net.r[id], &st);
			if (st.role == RAFT_LEADER &&
			    st.commit == st.last_index) {
				leader = id;
				return 0;
			}
		}
	}
	return -1;
}

int main(void)
{
	static const unsigned batches[] = {1, 16, 64, 256};
	uint8_t payload[128];
	memset(payload, 0xab, sizeof(payload));
	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		unsigned batch = batches[b];
		if (setup(batch)) {
			fprintf(stderr, "bench_raft: no leader\n");
			return 1;
		}
		committed = 0;
		uint64_t proposed = 0;
		double start = now(), elapsed;
		do {
			for (unsigned i = 0; i < batch; i++)
				if (raft_propose(net.r[leader], payload,
						 sizeof(payload), NULL) == 0)
					proposed++;
			pump();
			/* Compact now and then, as the master will. */
			struct raft_status st;
			raft_status(net.r[leader], &st);
			if (st.applied - st.first_index > 4096)
				for (int id = 1; id <= NODES; id++) {
					raft_status(net.r[id], &st);
					raft_compact(net.r[id], st.applied);
				}
			elapsed = now() - start;
		} while (elapsed < 1.0);
		memnet_free(&net);
		if (committed < proposed) {
			fprintf(stderr, "bench_raft: %llu of %llu committed\n",
				(unsigned long long)committed,
				(unsigned long long)proposed);
			return 1;
		}
		printf("| raft core, 3 nodes, batch %u | %.0f entries/s |\n",
		       batch, (double)committed / elapsed);
	}
	return 0;
}
