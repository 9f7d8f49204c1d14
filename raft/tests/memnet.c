#include "raft/tests/memnet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_codec.h"

void memnet_init(struct memnet *net, const struct memnet_hooks *hooks,
		 bool fifo, void *arg)
{
	memset(net, 0, sizeof(*net));
	net->hooks = hooks;
	net->fifo = fifo;
	net->arg = arg;
}

void memnet_drop_all(struct memnet *net)
{
	for (size_t k = 0; k < net->n; k++)
		free(net->q[k].buf);
	net->n = 0;
}

void memnet_free(struct memnet *net)
{
	for (int id = 1; id <= MEMNET_MAX_ID; id++)
		memnet_crash(net, id);
	memnet_drop_all(net);
	free(net->q);
	net->q = NULL;
	net->cap = 0;
}

void memnet_crash(struct memnet *net, int id)
{
	raft_free(net->r[id]);
	net->r[id] = NULL;
}

void memnet_tick(struct memnet *net)
{
	for (int id = 1; id <= MEMNET_MAX_ID; id++)
		if (net->r[id])
			raft_tick(net->r[id]);
}

bool memnet_process(struct memnet *net, int id)
{
	const struct memnet_hooks *h = net->hooks;
	bool any = false;
	while (net->r[id] && raft_has_ready(net->r[id])) {
		any = true;
		struct raft_ready rd;
		raft_ready(net->r[id], &rd);
		if (h->persist && !h->persist(net, id, &rd))
			break;
		for (size_t i = 0; i < rd.n_msgs; i++) {
			if (h->send)
				h->send(net, id, &rd.msgs[i]);
			else
				memnet_queue(net, id, &rd.msgs[i], 0, 0);
		}
		if (h->apply)
			h->apply(net, id, &rd);
		raft_advance(net->r[id], &rd);
	}
	return any;
}

bool memnet_flush(struct memnet *net)
{
	bool any = false;
	for (int id = 1; id <= MEMNET_MAX_ID; id++)
		if (net->r[id]) /* the benchmark times this loop */
			any |= memnet_process(net, id);
	return any;
}

static bool valid_id(uint64_t id)
{
	return id >= 1 && id <= MEMNET_MAX_ID;
}

int memnet_queue(struct memnet *net, int from, const struct raft_msg *m,
		 uint64_t at, uint64_t tag)
{
	if (!valid_id((uint64_t)from) || !valid_id(m->to))
		return -EINVAL;
	if (net->n == net->cap) {
		size_t cap = net->cap ? 2 * net->cap : 64;
		struct memnet_packet *q = realloc(net->q, cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		net->q = q;
		net->cap = cap;
	}
	size_t len = raft_msg_size(m);
	uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	int rc = raft_msg_encode(m, buf, len);
	if (rc) {
		free(buf);
		return rc;
	}
	net->q[net->n++] = (struct memnet_packet){
		.at = at,
		.from = (uint64_t)from,
		.to = m->to,
		.tag = tag,
		.buf = buf,
		.len = len,
	};
	return 0;
}

int memnet_deliver(struct memnet *net, size_t k)
{
	struct memnet_packet p = net->q[k];
	if (net->fifo)
		memmove(net->q + k, net->q + k + 1,
			(net->n - k - 1) * sizeof(*net->q));
	else
		net->q[k] = net->q[net->n - 1];
	net->n--;
	struct raft_msg m;
	int rc = raft_msg_decode(p.buf, p.len, &m);
	if (rc) {
		free(p.buf);
		return rc;
	}
	bool arrives = net->hooks->arrive
			       ? net->hooks->arrive(net, &p)
			       : net->r[p.to] && !net->cut[p.from][p.to];
	struct raft *from = net->r[p.from];
	if (m.type == RAFT_MSG_SNAPSHOT && from)
		raft_report_snapshot(from, m.to, arrives);
	if (arrives)
		raft_step(net->r[p.to], &m);
	raft_msg_release(&m);
	free(p.buf);
	return 0;
}

void memnet_pop_last(struct memnet *net, struct memnet_packet *p)
{
	*p = net->q[--net->n];
}
