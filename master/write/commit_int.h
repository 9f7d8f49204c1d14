/* Internals of commit (master/write/commit.h): the two implementations
 * behind the one contract, commit_local.c (a master alone) and
 * commit_raft.c (replicated), and what commit.c shares on top of them.
 * Not for users of commit.h. */
#ifndef CASK_MASTER_COMMIT_INT_H
#define CASK_MASTER_COMMIT_INT_H

#include "master/write/commit.h"

/* One implementation; each function has the contract of the commit.h
 * function of the same name. */
struct commit_ops {
	void (*submit)(struct commit *cm, struct commit_req *r);
	void (*stop)(struct commit *cm); /* frees cm */
	bool (*leads)(struct commit *cm);
	void (*counts)(struct commit *cm, uint64_t *cmds, uint64_t *txns);
};

/* The head of each implementation's own struct. */
struct commit {
	const struct commit_ops *ops;
};

#endif
