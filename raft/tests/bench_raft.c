/*
 * Throughput of the raft core alone: a 3-node cluster in one process, no
 * I/O, no encoding. The leader takes `batch` proposals, then every node
 * hands its Ready over (messages are stepped straight into their target)
 * until the cluster is quiet. Prints entries committed per second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/raft.h"

#define NODES 3

static struct raft *nodes[NODES + 1];
static int leader;
static uint64_t committed;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Drain every node's Ready until nothing is left to do. */
static void pump(void)
{
	bool busy = true;
	while (busy) {
		busy = false;
		for (int id = 1; id <= NODES; id++) {
			struct raft *r = nodes[id];
			if (!raft_has_ready(r))
				continue;
			busy = true;
			struct raft_ready rd;
			raft_ready(r, &rd);
			for (size_t i = 0; i < rd.n_msgs; i++)
				raft_step(nodes[rd.msgs[i].to], &rd.msgs[i]);
			if (id == leader)
				committed += rd.n_committed;
			raft_advance(r, &rd);
		}
	}
}

static int setup(unsigned batch)
{
	struct raft_conf conf = {.n = NODES, .ids = {1, 2, 3}};
	for (int id = 1; id <= NODES; id++) {
		struct raft_options o = {
			.id = (uint64_t)id,
			.max_batch = batch,
			.max_inflight = 64,
			.seed = (uint64_t)id,
		};
		if (raft_new(&o, &nodes[id]) ||
		    raft_bootstrap(nodes[id], &conf))
			return -1;
	}
	pump();
	for (int t = 0; t < 100; t++) {
		for (int id = 1; id <= NODES; id++)
			raft_tick(nodes[id]);
		pump();
		for (int id = 1; id <= NODES; id++) {
			struct raft_status st;
			raft_status(nodes[id], &st);
			if (st.role == RAFT_LEADER &&
			    st.commit == st.last_index) {
				leader = id;
				return 0;
			}
		}
	}
	return -1;
}

static void teardown(void)
{
	for (int id = 1; id <= NODES; id++)
		raft_free(nodes[id]);
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
				if (raft_propose(nodes[leader], payload,
						 sizeof(payload), NULL) == 0)
					proposed++;
			pump();
			/* Compact now and then, as the master will. */
			struct raft_status st;
			raft_status(nodes[leader], &st);
			if (st.applied - st.first_index > 4096)
				for (int id = 1; id <= NODES; id++) {
					raft_status(nodes[id], &st);
					raft_compact(nodes[id], st.applied);
				}
			elapsed = now() - start;
		} while (elapsed < 1.0);
		teardown();
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
