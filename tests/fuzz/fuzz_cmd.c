/* Fuzzes the master's command decoding (master/state/cmd.h): the bytes of
 * every Raft log entry a master applies to its index, and so of anything
 * a leader, a corrupt log or a forged append can hand it.
 *
 * Invariants, for every input cmd_decode() accepts:
 *  - the command keeps cmd.h's limits, and its key and addresses point
 *    into the input;
 *  - cmd_encode() gives the input back byte for byte (the decoder takes
 *    one encoding per command), except DELETE's `protect` byte, which is
 *    read as "not 0" and written as 1; into one byte less it is -ENOSPC;
 *  - decoding that encoding gives the same command;
 *  - the index can apply it: master/state/index.c takes a CMD_VOLUME's
 *    addrs as one spec and each entry of a CMD_VOLUMES list as one,
 *    asserts placement_spec() accepts them, and stores an address of
 *    under IDX_ADDR_MAX bytes followed by a NUL and the zone. */
#include <errno.h>
#include <stdbool.h>

#include "common/placement.h"
#include "master/state/cmd.h"
#include "master/state/index.h"
#include "tests/fuzz/fuzz.h"

/* Whether spec (len bytes) is a volume the index can store. */
static bool storable(const char *spec, size_t len)
{
	size_t alen, zlen;
	const char *zone;
	return !placement_spec(spec, len, &alen, &zone, &zlen) &&
	       alen < IDX_ADDR_MAX && zlen < IDX_ZONE_MAX &&
	       !memchr(spec, '\0', len);
}

static bool appliable(const struct cmd *c)
{
	if (c->type == CMD_VOLUME)
		return storable(c->addrs, c->addrslen);
	if (c->type != CMD_VOLUMES)
		return true;
	for (size_t i = 0; i < c->addrslen;) {
		const char *a = c->addrs + i;
		const char *comma = memchr(a, ',', c->addrslen - i);
		size_t len = comma ? (size_t)(comma - a) : c->addrslen - i;
		if (len && !storable(a, len))
			return false;
		i += len + 1;
	}
	return true;
}

static bool cmd_equal(const struct cmd *a, const struct cmd *b)
{
	return a->type == b->type && a->keylen == b->keylen &&
	       (a->keylen == 0 || memcmp(a->key, b->key, a->keylen) == 0) &&
	       a->size == b->size && memcmp(a->md5, b->md5, MD5_LEN) == 0 &&
	       a->created_ms == b->created_ms && a->protect == b->protect &&
	       a->seq == b->seq && a->nvols == b->nvols &&
	       memcmp(a->vols, b->vols, a->nvols * sizeof(a->vols[0])) == 0 &&
	       a->addrslen == b->addrslen &&
	       (a->addrslen == 0 ||
		memcmp(a->addrs, b->addrs, a->addrslen) == 0) &&
	       a->state == b->state && a->remove == b->remove &&
	       a->purge_dropped == b->purge_dropped &&
	       a->written == b->written && a->expect == b->expect &&
	       memcmp(a->expect_md5, b->expect_md5, MD5_LEN) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmd c;
	if (cmd_decode(data, size, &c))
		return 0;
	FUZZ_CHECK(size <= CMD_MAX_LEN);
	FUZZ_CHECK(c.keylen <= KEY_MAX && c.nvols <= CMD_MAX_VOLS &&
		   c.addrslen <= CMD_MAX_ADDRS);
	FUZZ_CHECK(fuzz_within(c.key, c.keylen, data, size));
	FUZZ_CHECK(fuzz_within(c.addrs, c.addrslen, data, size));
	FUZZ_CHECK(appliable(&c));

	static uint8_t out[CMD_MAX_LEN], want[CMD_MAX_LEN];
	FUZZ_CHECK(cmd_encode(&c, out, size - 1) == -ENOSPC);
	FUZZ_CHECK(cmd_encode(&c, out, sizeof(out)) == (long)size);
	memcpy(want, data, size);
	if (c.type == CMD_DELETE) /* version, type, key, protect */
		want[size - 1] = want[size - 1] != 0;
	FUZZ_CHECK(memcmp(out, want, size) == 0);

	struct cmd again;
	FUZZ_CHECK(cmd_decode(out, size, &again) == 0);
	FUZZ_CHECK(cmd_equal(&c, &again));
	return 0;
}
