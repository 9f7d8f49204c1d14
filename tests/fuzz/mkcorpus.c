/* Writes the binary seeds of the fuzz targets: Raft messages and master
 * commands as this build encodes them, one file per case, into
 * DIR/raft_codec and DIR/cmd (tests/fuzz/Makefile.inc says how to run it).
 * The text seeds (jsonl, key, range, content_length) are written by hand.
 *
 *   mkcorpus DIR      exits 1 when an encoding or a file write fails */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/state/cmd.h"
#include "raft/raft.h"
#include "raft/raft_codec.h"

static const char *dir;
static int failed;

static void save(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		failed = 1;
	}
}

static void msg(const char *name, const struct raft_msg *m)
{
	size_t n = raft_msg_size(m);
	uint8_t *b = malloc(n);
	if (!b || raft_msg_encode(m, b, n)) {
		fprintf(stderr, "%s: encoding failed\n", name);
		failed = 1;
	} else {
		save("raft_codec", name, b, n);
	}
	free(b);
}

static void cmd(const char *name, const struct cmd *c)
{
	static uint8_t b[CMD_MAX_LEN];
	long n = cmd_encode(c, b, sizeof(b));
	if (n < 0) {
		fprintf(stderr, "%s: encoding failed: %s\n", name,
			strerror((int)-n));
		failed = 1;
		return;
	}
	save("cmd", name, b, (size_t)n);
}

static void raft_seeds(void)
{
	struct raft_conf three = {.n = 4, .ids = {1, 2, 3, 4}};
	three.learner[3] = true;
	for (int i = 0; i < 3; i++)
		snprintf(three.addr[i], RAFT_ADDR_MAX, "http://127.0.0.1:30%d0",
			 i);
	uint8_t conf[RAFT_CONF_MAX_SIZE];
	if (raft_conf_encode(&three, conf, sizeof(conf)))
		failed = 1;
	save("raft_codec", "conf-3-voters-1-learner", conf,
	     raft_conf_size(&three));
	/* As configurations were written before they had addresses. */
	struct raft_conf bare = {.n = 2, .ids = {1, 2}, .learner = {0, 1}};
	uint8_t old[4 + 2 * 9];
	if (raft_conf_encode(&bare, old, sizeof(old)))
		failed = 1;
	save("raft_codec", "conf-without-addresses", old, sizeof(old));

	uint8_t put[CMD_MAX_LEN];
	struct cmd pc = {.type = CMD_PUT,
			 .key = "/photos/cat.jpg",
			 .keylen = 15,
			 .size = 1024,
			 .created_ms = 1700000000000,
			 .nvols = 3,
			 .vols = {1, 2, 3}};
	long putlen = cmd_encode(&pc, put, sizeof(put));
	if (putlen < 0)
		failed = 1;

	struct raft_msg m = {.type = RAFT_MSG_PREVOTE,
			     .from = 1,
			     .to = 2,
			     .term = 5,
			     .index = 10,
			     .log_term = 4};
	msg("prevote", &m);
	m.type = RAFT_MSG_VOTE;
	m.force = true;
	msg("vote-forced", &m);
	m = (struct raft_msg){.type = RAFT_MSG_VOTE_RESP,
			      .from = 2,
			      .to = 1,
			      .term = 6,
			      .reject = true};
	msg("vote-resp-reject", &m);
	m.type = RAFT_MSG_PREVOTE_RESP;
	m.reject = false;
	msg("prevote-resp", &m);

	struct raft_entry es[3] = {
		{.term = 6, .index = 11, .type = RAFT_ENTRY_NOOP},
		{.term = 6,
		 .index = 12,
		 .type = RAFT_ENTRY_NORMAL,
		 .len = (size_t)putlen,
		 .data = put},
		{.term = 6,
		 .index = 13,
		 .type = RAFT_ENTRY_CONFIG,
		 .len = raft_conf_size(&three),
		 .data = conf},
	};
	m = (struct raft_msg){.type = RAFT_MSG_APPEND,
			      .from = 1,
			      .to = 3,
			      .term = 6,
			      .index = 10,
			      .log_term = 5,
			      .commit = 10,
			      .tick = 42,
			      .n_entries = 3,
			      .entries = es};
	msg("append-noop-put-conf", &m);
	m.n_entries = 0;
	m.entries = NULL;
	msg("append-empty", &m);
	m = (struct raft_msg){.type = RAFT_MSG_APPEND_RESP,
			      .from = 3,
			      .to = 1,
			      .term = 6,
			      .index = 13,
			      .tick = 42};
	msg("append-resp", &m);
	m.reject = true;
	m.index = 10;
	m.hint = 8;
	m.hint_term = 4;
	msg("append-resp-reject-hint", &m);
	m = (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
			      .from = 1,
			      .to = 2,
			      .term = 6,
			      .commit = 13,
			      .ctx = 77,
			      .tick = 43};
	msg("heartbeat", &m);
	m.type = RAFT_MSG_HEARTBEAT_RESP;
	m.from = 2;
	m.to = 1;
	msg("heartbeat-resp", &m);
	m = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT,
			      .from = 1,
			      .to = 4,
			      .term = 6,
			      .snap = {.index = 13, .term = 6, .conf = three}};
	msg("snapshot", &m);
	m = (struct raft_msg){
		.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = 6};
	msg("timeout-now", &m);
	m = (struct raft_msg){
		.type = RAFT_MSG_READ_INDEX, .from = 2, .to = 1, .ctx = 9};
	msg("read-index", &m);
	m = (struct raft_msg){.type = RAFT_MSG_READ_INDEX_RESP,
			      .from = 1,
			      .to = 2,
			      .term = 6,
			      .index = 13,
			      .ctx = 9};
	msg("read-index-resp", &m);
}

static void cmd_seeds(void)
{
	static const uint8_t md5[MD5_LEN] = {0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00,
					     0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98,
					     0xec, 0xf8, 0x42, 0x7e};
	struct cmd c = {.type = CMD_PUT,
			.key = "/photos/cat.jpg",
			.keylen = 15,
			.size = 1024,
			.created_ms = 1700000000000,
			.nvols = 3,
			.vols = {1, 2, 3}};
	memcpy(c.md5, md5, MD5_LEN);
	cmd("put", &c);
	cmd("unlink",
	    &(struct cmd){.type = CMD_UNLINK, .key = "/a", .keylen = 2});
	cmd("delete-protect", &(struct cmd){.type = CMD_DELETE,
					    .key = "/a",
					    .keylen = 2,
					    .protect = true});
	cmd("purge-done", &(struct cmd){.type = CMD_PURGE_DONE,
					.key = "/a",
					.keylen = 2,
					.nvols = 1,
					.vols = {2},
					.seq = 99});
	cmd("purge-add", &(struct cmd){.type = CMD_PURGE_ADD,
				       .key = "/b",
				       .keylen = 2,
				       .nvols = 2,
				       .vols = {4, 5}});
	const char *plain = "10.0.0.1:3001,10.0.0.2:3001,10.0.0.3:3001";
	cmd("volumes", &(struct cmd){.type = CMD_VOLUMES,
				     .addrs = plain,
				     .addrslen = strlen(plain)});
	const char *zoned = "a:1@eu-1,b:1@eu-2,c:1";
	cmd("volumes-zones", &(struct cmd){.type = CMD_VOLUMES,
					   .addrs = zoned,
					   .addrslen = strlen(zoned)});
	cmd("volumes-empty", &(struct cmd){.type = CMD_VOLUMES});
	c = (struct cmd){.type = CMD_RECORD,
			 .key = "/photos/cat.jpg",
			 .keylen = 15,
			 .size = 1024,
			 .created_ms = 1700000000000,
			 .nvols = 2,
			 .vols = {1, 4},
			 .state = 1,
			 .written = true,
			 .purge_dropped = true,
			 .expect = CMD_EXPECT_MD5};
	memcpy(c.md5, md5, MD5_LEN);
	memcpy(c.expect_md5, md5, MD5_LEN);
	cmd("record-upsert", &c);
	cmd("record-remove", &(struct cmd){.type = CMD_RECORD,
					   .key = "/gone",
					   .keylen = 5,
					   .remove = true,
					   .expect = CMD_EXPECT_ANY});
	cmd("volume-draining-zone", &(struct cmd){.type = CMD_VOLUME,
						  .addrs = "10.0.0.4:3001@eu-3",
						  .addrslen = 18,
						  .state = 2});
	cmd("volume-retire", &(struct cmd){.type = CMD_VOLUME,
					   .addrs = "10.0.0.4:3001",
					   .addrslen = 13,
					   .state = 3});
	c = (struct cmd){.type = CMD_VOL_IDENT, .nvols = 1, .vols = {3}};
	memcpy(c.md5, md5, MD5_LEN);
	cmd("vol-ident", &c);
	c.type = CMD_VOL_HEALTH;
	c.state = CMD_VH_VERIFIED;
	cmd("vol-health-verified", &c);
	c = (struct cmd){.type = CMD_LOST,
			 .key = "/photos/cat.jpg",
			 .keylen = 15,
			 .state = CMD_LOST_CORRUPT,
			 .nvols = 1,
			 .vols = {2}};
	memcpy(c.expect_md5, md5, MD5_LEN);
	cmd("lost-corrupt", &c);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus DIR\n");
		return 2;
	}
	dir = argv[1];
	raft_seeds();
	cmd_seeds();
	return failed;
}
