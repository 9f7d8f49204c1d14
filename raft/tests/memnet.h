/*
 * An in-memory Raft cluster for the core's own programs (the unit tests,
 * the simulator, the benchmark): cores with ids 1..MEMNET_MAX_ID, a queue
 * of messages in flight, and the Ready loop of raft.h, so that each
 * program writes only what it does differently.
 *
 * The caller creates the cores (raft_new, then bootstrap or restore) and
 * stores them in r[id]; memnet frees them in memnet_crash and memnet_free.
 * It drives them with memnet_tick, memnet_process/memnet_flush and
 * memnet_deliver. Everything else goes through the hooks, each optional:
 *
 *   persist  steps 1-3 of a Ready (install the snapshot, persist entries
 *            and hard state). Returning false means the node crashed
 *            there: the hook has called memnet_crash, nothing is sent and
 *            the Ready is never advanced. NULL persists nothing.
 *   send     step 4, once per message: queue it with memnet_queue (once,
 *            twice, or not at all for a lost message), or hand it over
 *            directly. NULL queues each message once, at time 0, tag 0.
 *   apply    steps 5-6: rd->committed and rd->reads. NULL ignores them.
 *   arrive   at delivery: false when the packet is lost on the way (it
 *            must be for a target that is down); true lets it reach its
 *            node, and the hook may note p->tag first. NULL loses it when
 *            the target is down or the link is cut.
 *
 * A snapshot message is reported to its sender (raft_report_snapshot) as
 * delivered or not, as a transport streaming the payload would. Nothing
 * here draws randomness or reads a clock: a run is as deterministic as
 * the hooks. Not thread-safe.
 */
#ifndef CASK_RAFT_MEMNET_H
#define CASK_RAFT_MEMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define MEMNET_MAX_ID RAFT_MAX_NODES

/* One message in flight, encoded with raft_msg_encode. */
struct memnet_packet {
	uint64_t at; /* the caller's delivery time; memnet ignores it */
	uint64_t from, to;
	uint64_t tag; /* the caller's, e.g. the snapshot payload sent along */
	uint8_t *buf;
	size_t len;
};

struct memnet;

struct memnet_hooks {
	bool (*persist)(struct memnet *net, int id,
			const struct raft_ready *rd);
	void (*send)(struct memnet *net, int from, const struct raft_msg *m);
	void (*apply)(struct memnet *net, int id, const struct raft_ready *rd);
	bool (*arrive)(struct memnet *net, const struct memnet_packet *p);
};

struct memnet {
	struct raft *r[MEMNET_MAX_ID + 1]; /* NULL: down or never started */
	bool cut[MEMNET_MAX_ID + 1][MEMNET_MAX_ID + 1]; /* [from][to] */
	struct memnet_packet *q;			/* in flight */
	size_t n, cap;
	/* Keep q in send order (memnet_deliver(net, 0) is then FIFO);
	 * otherwise delivering packet k moves the last one into its slot. */
	bool fifo;
	const struct memnet_hooks *hooks;
	void *arg; /* the caller's */
};

/* An empty cluster: no cores, nothing in flight, no link cut. */
void memnet_init(struct memnet *net, const struct memnet_hooks *hooks,
		 bool fifo, void *arg);

/* Frees every core and every packet in flight. */
void memnet_free(struct memnet *net);

/* The node stops at once: its core is freed and r[id] is NULL. What it
 * persisted is the caller's to keep. */
void memnet_crash(struct memnet *net, int id);

/* One tick on every live core. */
void memnet_tick(struct memnet *net);

/* Handles node id's Readies until it has none (or crashes). Returns
 * whether there was any. */
bool memnet_process(struct memnet *net, int id);

/* memnet_process on every node, in id order. Returns whether any had a
 * Ready: stepping messages into cores from send makes new ones. */
bool memnet_flush(struct memnet *net);

/* Puts an encoded copy of m, sent by `from`, on the network. Returns 0,
 * -EINVAL for a node id out of range, or -ENOMEM. */
int memnet_queue(struct memnet *net, int from, const struct raft_msg *m,
		 uint64_t at, uint64_t tag);

/* Takes packet k off the network and, unless it is lost, steps it into
 * its node (no Ready is handled). Returns 0, or the raft_msg_decode error
 * (the packet is dropped). */
int memnet_deliver(struct memnet *net, size_t k);

/* Takes the packet sent last off the network, undelivered: the caller
 * owns p->buf. The network must not be empty. */
void memnet_pop_last(struct memnet *net, struct memnet_packet *p);

/* Drops every packet in flight. */
void memnet_drop_all(struct memnet *net);

#endif
