/* Commit on a replicated master (master/write/commit.h): every command is
 * a proposal to the Raft node, its outcome the entry's apply. */
#include "master/write/commit_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

struct raft_commit {
	struct commit cm; /* first: the ops */
	struct node *node;
};

static struct node *node_of(struct commit *cm)
{
	return ((struct raft_commit *)cm)->node;
}

static void proposed(struct node_proposal *p)
{
	struct commit_req *r = p->arg;
	r->result = p->result;
	r->done(r);
}

static void submit(struct commit *cm, struct commit_req *r)
{
	r->prop = (struct node_proposal){
		.data = r->cmd, .len = r->len, .done = proposed, .arg = r};
	node_submit(node_of(cm), &r->prop);
}

static void stop(struct commit *cm)
{
	free(cm);
}

static bool leads(struct commit *cm)
{
	struct node_info in;
	node_info(node_of(cm), &in);
	return in.role == RAFT_LEADER;
}

static void counts(struct commit *cm, uint64_t *cmds, uint64_t *txns)
{
	node_counts(node_of(cm), cmds, txns);
}

static const struct commit_ops ops = {submit, stop, leads, counts};

int commit_start_node(struct node *nd, struct commit **out)
{
	assert(nd && out);
	struct raft_commit *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cm.ops = &ops;
	c->node = nd;
	*out = &c->cm;
	return 0;
}
