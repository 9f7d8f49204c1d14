/* Fuzzes the Raft wire codec (raft/raft_codec.h): every message a peer
 * (or a stranger) can send to /_/raft/msgs, and the configuration
 * payloads those messages carry.
 *
 * Invariants, for every input the decoder accepts:
 *  - it is exactly raft_msg_size() bytes, entry payloads point into it;
 *  - encoding the decoded message gives the input back, except that a
 *    message's reject or force byte other than 0 is read as true and
 *    written as 1 (a configuration's flags must be exact);
 *  - decoding that encoding gives the same message (a fixpoint), and an
 *    encoding into one byte less is -ENOSPC;
 * and the same for raft_conf_decode(), on the whole input and on every
 * RAFT_ENTRY_CONFIG payload of an accepted message. */
#include <errno.h>
#include <stdbool.h>

#include "raft/raft.h"
#include "raft/raft_codec.h"
#include "tests/fuzz/fuzz.h"

/* Where the codec puts a message's booleans (raft_codec.c's layout):
 * version, type, reject, force. */
#define MSG_REJECT_AT 2
#define MSG_FORCE_AT  3

static bool conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->ids[i] != b->ids[i] || a->learner[i] != b->learner[i] ||
		    strcmp(a->addr[i], b->addr[i]) != 0)
			return false;
	return true;
}

static void check_conf(const uint8_t *data, size_t size)
{
	struct raft_conf c = {0};
	if (raft_conf_decode(data, size, &c))
		return;
	FUZZ_CHECK(c.n <= RAFT_MAX_NODES);
	FUZZ_CHECK(raft_conf_size(&c) == size);
	uint8_t out[RAFT_CONF_MAX_SIZE];
	FUZZ_CHECK(size <= sizeof(out));
	FUZZ_CHECK(raft_conf_encode(&c, out, size - 1) == -ENOSPC);
	FUZZ_CHECK(raft_conf_encode(&c, out, size) == 0);
	FUZZ_CHECK(memcmp(out, data, size) == 0);
	struct raft_conf again = {0};
	FUZZ_CHECK(raft_conf_decode(out, size, &again) == 0);
	FUZZ_CHECK(conf_equal(&c, &again));
}

static bool msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
	if (a->type != b->type || a->reject != b->reject ||
	    a->force != b->force || a->from != b->from || a->to != b->to ||
	    a->term != b->term || a->index != b->index ||
	    a->log_term != b->log_term || a->commit != b->commit ||
	    a->hint != b->hint || a->hint_term != b->hint_term ||
	    a->ctx != b->ctx || a->tick != b->tick ||
	    a->n_entries != b->n_entries || a->snap.index != b->snap.index ||
	    a->snap.term != b->snap.term ||
	    !conf_equal(&a->snap.conf, &b->snap.conf))
		return false;
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct raft_entry *x = &a->entries[i],
					*y = &b->entries[i];
		if (x->term != y->term || x->index != y->index ||
		    x->type != y->type || x->len != y->len ||
		    (x->len && memcmp(x->data, y->data, x->len) != 0))
			return false;
	}
	return true;
}

static void check_msg(const uint8_t *data, size_t size)
{
	struct raft_msg m;
	if (raft_msg_decode(data, size, &m))
		return;
	FUZZ_CHECK(m.type >= RAFT_MSG_PREVOTE &&
		   m.type <= RAFT_MSG_READ_INDEX_RESP);
	FUZZ_CHECK(raft_msg_size(&m) == size);
	FUZZ_CHECK(m.n_entries == 0 || m.entries);
	for (size_t i = 0; i < m.n_entries; i++) {
		const struct raft_entry *e = &m.entries[i];
		FUZZ_CHECK(fuzz_within(e->data, e->len, data, size));
		if (e->type == RAFT_ENTRY_CONFIG)
			check_conf(e->data, e->len);
	}
	if (m.type != RAFT_MSG_SNAPSHOT)
		FUZZ_CHECK(m.snap.index == 0 && m.snap.term == 0 &&
			   m.snap.conf.n == 0);

	uint8_t *out = malloc(size), *want = malloc(size);
	FUZZ_CHECK(out && want);
	FUZZ_CHECK(raft_msg_encode(&m, out, size - 1) == -ENOSPC);
	FUZZ_CHECK(raft_msg_encode(&m, out, size) == 0);
	memcpy(want, data, size);
	want[MSG_REJECT_AT] = want[MSG_REJECT_AT] != 0;
	want[MSG_FORCE_AT] = want[MSG_FORCE_AT] != 0;
	FUZZ_CHECK(memcmp(out, want, size) == 0);

	struct raft_msg again;
	FUZZ_CHECK(raft_msg_decode(out, size, &again) == 0);
	FUZZ_CHECK(msg_equal(&m, &again));
	raft_msg_release(&again);
	FUZZ_CHECK(again.entries == NULL && again.n_entries == 0);
	raft_msg_release(&m);
	free(out);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_msg(data, size);
	check_conf(data, size);
	return 0;
}
