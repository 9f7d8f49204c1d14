/* A stranger on the network, against a live cluster of three replicated
 * masters and three volumes, all given the cluster secret.
 *
 * Every internal request (DESIGN.md, Security) is sent unsigned, signed
 * with another secret, signed with the right secret a minute ago or a
 * minute ahead, and with a malformed header; each gets 403 with a
 * one-line reason. Each request is one that would change something if it
 * were obeyed (a vote with a huge term, a member added, a volume added, a
 * record rewritten, a copy written or deleted on a volume), and afterwards
 * the masters' terms, commits, membership and keys, and every volume's
 * listing, are what they were, and the cluster goes on serving. A signed
 * request sent a second time is refused too, and cannot undo what came
 * after it. Daemons without a secret listen on loopback only, and refuse
 * another address unless -insecure. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/le.h"
#include "common/sign.h"
#include "raft/raft_codec.h"
#include "tests/fixture.h"
#include "tests/harness.h"

#define NVOL	 3
#define NMASTERS 3
#define NKEYS	 5

static struct fixture F;

static void pause_ms(long ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&d, NULL);
}

static int wait_leader(void)
{
	for (int tries = 0; tries < 500; tries++) {
		for (int i = 0; i < NMASTERS; i++)
			if (fixture_wait_status(&F, i, "\"role\":\"leader\"",
						1) == 0)
				return i;
		pause_ms(20);
	}
	return -1;
}

static void start(void)
{
	const struct fixture_opts o = {.tag = "hostile",
				       .volumes = NVOL,
				       .masters = NMASTERS,
				       .replicated = true};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	int l = wait_leader();
	ck_assert_int_ge(l, 0);
	for (int i = 0; i < NKEYS; i++) {
		char url[96], val[16];
		snprintf(url, sizeof(url), "%s/keep/%d", F.murl[l], i);
		snprintf(val, sizeof(val), "value-%d", i);
		/* A new leader answers 503 until it committed its first
		 * entry. */
		long code = 503;
		for (int t = 0; t < 500 && code == 503; t++)
			if ((code = harness_request("PUT", url, val,
						    strlen(val), NULL)) == 503)
				pause_ms(20);
		ck_assert_int_eq(code, 201);
	}
	/* Every master applied them and the leader's verification of each
	 * volume (commits of its own), so that what follows starts even. */
	char applied[32];
	snprintf(applied, sizeof(applied), "\"keys\":%d,", NKEYS);
	for (int i = 0; i < NMASTERS; i++) {
		ck_assert_int_eq(fixture_wait_status(&F, i, applied, 10000), 0);
		ck_assert_int_eq(fixture_wait_verified(&F, i, 10000), 0);
	}
}

static void stop(void)
{
	ck_assert_int_eq(fixture_stop(&F), 0);
}

/* What a stranger could change, as the cluster shows it: each master's
 * term, membership, key count and records, and each volume's listing.
 * Not the commit index: the leader commits on its own (a volume's health
 * seen again), and what a forged entry would do shows in the rest. */
struct state {
	char master[NMASTERS][2048];
	char *records[NMASTERS];
	char *volume[NVOL];
};

/* Copies the value of "name": in a JSON body, up to the next ',' or '}'
 * (or the whole array for "peers"). */
static void field(const char *body, const char *name, char *out, size_t cap)
{
	char pat[40];
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	const char *p = strstr(body, pat);
	ck_assert_msg(p, "no %s in %s", name, body);
	p += strlen(pat);
	size_t n = *p == '[' ? strcspn(p, "]") + 1 : strcspn(p, ",}");
	ck_assert_uint_lt(n, cap);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void capture(struct state *s)
{
	for (int i = 0; i < NMASTERS; i++) {
		char url[96];
		snprintf(url, sizeof(url), "%s/_/status", F.murl[i]);
		struct harness_resp r;
		ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
		const char *raft = strstr(r.body, "\"raft\":");
		ck_assert_ptr_nonnull(raft);
		char keys[32], term[32], peers[1024];
		field(r.body, "keys", keys, sizeof(keys));
		field(raft, "term", term, sizeof(term));
		field(raft, "peers", peers, sizeof(peers));
		/* match moves with heartbeats' acknowledgements; the rest must
		 * not. */
		for (char *m = strstr(peers, "\"match\":"); m;
		     m = strstr(m + 1, "\"match\":"))
			for (char *d = m + 8; *d >= '0' && *d <= '9'; d++)
				*d = '#';
		snprintf(s->master[i], sizeof(s->master[i]),
			 "keys %s term %s peers %s", keys, term, peers);
		harness_resp_free(&r);
		snprintf(url, sizeof(url), "%s/_/admin/records?limit=10000",
			 F.murl[i]);
		ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
		s->records[i] = r.body;
		free(r.headers);
	}
	for (int i = 0; i < NVOL; i++) {
		char url[96];
		snprintf(url, sizeof(url), "http://%s/_/keys", F.vaddr[i]);
		struct harness_resp r;
		long code = harness_request("GET", url, NULL, 0, &r);
		ck_assert_msg(code == 200, "%s: %ld %s", url, code, r.body);
		s->volume[i] = r.body;
		free(r.headers);
	}
}

static void assert_same(const struct state *a, const struct state *b)
{
	for (int i = 0; i < NMASTERS; i++) {
		ck_assert_str_eq(a->master[i], b->master[i]);
		ck_assert_str_eq(a->records[i], b->records[i]);
	}
	for (int i = 0; i < NVOL; i++)
		ck_assert_str_eq(a->volume[i], b->volume[i]);
}

static void state_free(struct state *s)
{
	for (int i = 0; i < NMASTERS; i++)
		free(s->records[i]);
	for (int i = 0; i < NVOL; i++)
		free(s->volume[i]);
}

/* A /_/raft/msgs body: one VOTE from master 2 to master 1 with a term
 * no election would reach, which a master that obeyed it would adopt. */
static size_t forged_vote(uint8_t *out, size_t cap)
{
	struct raft_msg m = {.type = RAFT_MSG_VOTE,
			     .force = true,
			     .from = 2,
			     .to = 1,
			     .term = UINT64_MAX / 2,
			     .index = UINT64_MAX / 2,
			     .log_term = UINT64_MAX / 2};
	size_t n = raft_msg_size(&m);
	ck_assert_uint_le(n + 4, cap);
	le_put32(out, (uint32_t)n);
	ck_assert_int_eq(raft_msg_encode(&m, out + 4, cap - 4), 0);
	return n + 4;
}

struct attack {
	bool on_volume; /* else on master 1 (index 0) */
	const char *method, *path;
	const char *body;   /* NULL: none; "VOTE": forged_vote() */
	const char *header; /* one more header line, or NULL */
};

static const struct attack attacks[] = {
	{false, "POST", "/_/raft/msgs", "VOTE", "X-Raft-From: 2"},
	{false, "POST", "/_/raft/snapshot", "not a snapshot", NULL},
	{false, "POST", "/_/raft/members", "add 9 http://127.0.0.1:9", NULL},
	{false, "GET", "/_/admin/volumes", NULL, NULL},
	{false, "POST", "/_/admin/volumes", "{\"address\":\"127.0.0.1:9\"}",
	 NULL},
	{false, "GET", "/_/admin/records", NULL, NULL},
	{false, "POST", "/_/admin/records",
	 "{\"key\":\"/keep/0\",\"size\":1,\"md5\":"
	 "\"00000000000000000000000000000000\",\"volumes\":[1]}\n",
	 NULL},
	{false, "REBALANCE", "/keep/1", NULL, NULL},
	{true, "PUT", "/keep/0", "rewritten", NULL},
	{true, "PUT", "/planted", "planted", NULL},
	{true, "DELETE", "/keep/1", NULL, NULL},
	{true, "POST", "/_/purge", "/keep/2\n", NULL},
	{true, "POST", "/_/scrub", NULL, NULL},
	{true, "GET", "/_/keys", NULL, NULL},
	{true, "GET", "/_/corrupt", NULL, NULL},
};

/* How a stranger's request is signed, if at all. */
enum forgery {
	FORGE_NONE,	  /* no header */
	FORGE_GARBAGE,	  /* a header that is no signature */
	FORGE_SECRET,	  /* another secret */
	FORGE_EARLY,	  /* a minute before now */
	FORGE_LATE,	  /* a minute after */
	FORGE_LENGTH,	  /* the right secret over another length */
	FORGE_OTHER_HOST, /* the right secret, for another member */
	FORGE_COUNT,
};

static const char *length_of(const struct attack *a);

/* The X-Cask-Auth value (NULL: none) forgery f gives a's request to url;
 * other is another member's URL for the same request. */
static const char *forge(enum forgery f, const struct attack *a,
			 const char *url, const char *other, const char *secret,
			 char v[SIGN_VALUE_MAX])
{
	const char *nonce = "0123456789abcdef0123456789abcdef";
	uint64_t now = clock_wall_ms();
	switch (f) {
	case FORGE_NONE:
		return NULL;
	case FORGE_GARBAGE:
		return "garbage";
	case FORGE_SECRET:
		harness_sign_as("not-the-cluster-secret", a->method, url, now,
				nonce, length_of(a), v);
		break;
	case FORGE_EARLY:
	case FORGE_LATE:
		harness_sign_as(secret, a->method, url,
				f == FORGE_EARLY ? now - 60000 : now + 60000,
				nonce, length_of(a), v);
		break;
	case FORGE_LENGTH:
		harness_sign_as(secret, a->method, url, now, nonce, "1234", v);
		break;
	default:
		harness_sign_as(secret, a->method, other, now, nonce,
				length_of(a), v);
		break;
	}
	return v;
}

/* Sends attack a to every volume, or to master 1, signed as forgery f
 * says, and checks each answer is 403 with one line of text. */
static void send_attack(const struct attack *a, enum forgery f,
			const char *secret)
{
	uint8_t vote[512];
	const void *body = a->body;
	size_t len = a->body ? strlen(a->body) : 0;
	if (a->body && strcmp(a->body, "VOTE") == 0) {
		len = forged_vote(vote, sizeof(vote));
		body = vote;
	}
	for (int i = 0; i < (a->on_volume ? NVOL : 1); i++) {
		char url[160], other[160];
		if (a->on_volume) {
			snprintf(url, sizeof(url), "http://%s%s", F.vaddr[i],
				 a->path);
			snprintf(other, sizeof(other), "http://%s%s",
				 F.vaddr[(i + 1) % NVOL], a->path);
		} else {
			snprintf(url, sizeof(url), "%s%s", F.murl[0], a->path);
			snprintf(other, sizeof(other), "%s%s", F.murl[1],
				 a->path);
		}
		char v[SIGN_VALUE_MAX], line[SIGN_VALUE_MAX + 32];
		const char *auth = forge(f, a, url, other, secret, v);
		const char *extra[3] = {0};
		int ne = 0;
		if (auth) {
			snprintf(line, sizeof(line), SIGN_HEADER ": %s", auth);
			extra[ne++] = line;
		}
		if (a->header)
			extra[ne++] = a->header;
		struct harness_resp r;
		ck_assert_int_eq(harness_http_unsigned(a->method, url, body,
						       len, extra, &r),
				 0);
		ck_assert_msg(r.code == 403, "%s %s (auth %s): %ld %s",
			      a->method, url, auth ? auth : "none", r.code,
			      r.body);
		char *nl = strchr(r.body, '\n');
		ck_assert_msg(nl && nl[1] == '\0' && nl > r.body,
			      "not one line: %s", r.body);
		harness_resp_free(&r);
	}
}

static void secret_text(char *out, size_t cap)
{
	FILE *f = fopen(harness_secret(), "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(out, (int)cap, f));
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

static const char *length_of(const struct attack *a)
{
	static char s[24];
	uint8_t vote[512];
	size_t len = !a->body ? 0
		     : strcmp(a->body, "VOTE") == 0
			     ? forged_vote(vote, sizeof(vote))
			     : strlen(a->body);
	snprintf(s, sizeof(s), "%zu", len);
	return s;
}

START_TEST(strangers_change_nothing)
{
	start();
	struct state before, after;
	capture(&before);
	char secret[256];
	secret_text(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(attacks) / sizeof(*attacks); i++)
		for (int f = 0; f < FORGE_COUNT; f++)
			send_attack(&attacks[i], (enum forgery)f, secret);
	capture(&after);
	assert_same(&before, &after);
	state_free(&before);
	state_free(&after);

	/* Still serving: a write and a read through every master. */
	int l = wait_leader();
	ck_assert_int_ge(l, 0);
	char url[96];
	snprintf(url, sizeof(url), "%s/after", F.murl[l]);
	ck_assert_int_eq(harness_request("PUT", url, "still", 5, NULL), 201);
	for (int i = 0; i < NMASTERS; i++) {
		snprintf(url, sizeof(url), "%s/keep/0", F.murl[i]);
		struct harness_resp r;
		ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 302);
		harness_resp_free(&r);
	}
	stop();
}
END_TEST

/* Sends method url with body and the given X-Cask-Auth value. */
static long send_with(const char *method, const char *url, const char *body,
		      const char *auth)
{
	char line[SIGN_VALUE_MAX + 32];
	snprintf(line, sizeof(line), SIGN_HEADER ": %s", auth);
	const char *extra[] = {line, NULL};
	struct harness_resp r;
	ck_assert_int_eq(harness_http_unsigned(method, url, body,
					       body ? strlen(body) : 0, extra,
					       &r),
			 0);
	long code = r.code;
	harness_resp_free(&r);
	return code;
}

/* On the path between members a body can be swapped for another of the
 * same length: a signature over its digest makes that a 403 that changes
 * nothing, on a volume's purge and a master's admin records. The body
 * that was signed still passes. */
START_TEST(swapped_bodies_are_refused)
{
	start();
	struct state before, after;
	capture(&before);
	char secret[256];
	secret_text(secret, sizeof(secret));
	const char *nonce = "00112233445566778899aabbccddeeff";
	const char meant[] = "/keep/9\n", sent[] = "/keep/2\n";
	char v[SIGN_VALUE_MAX], url[160];
	snprintf(url, sizeof(url), "http://%s/_/purge", F.vaddr[0]);
	harness_sign_digest(secret, "POST", url, clock_wall_ms(), nonce, meant,
			    strlen(meant), v);
	ck_assert_int_eq(send_with("POST", url, sent, v), 403);
	const char rec[] = "{\"key\":\"/keep/0\",\"size\":1,\"md5\":"
			   "\"00000000000000000000000000000000\","
			   "\"volumes\":[1]}\n";
	char other[sizeof(rec)];
	memcpy(other, rec, sizeof(rec));
	other[9] = '1'; /* /keep/1 */
	snprintf(url, sizeof(url), "%s/_/admin/records", F.murl[0]);
	harness_sign_digest(secret, "POST", url, clock_wall_ms(), nonce, other,
			    strlen(other), v);
	ck_assert_int_eq(send_with("POST", url, rec, v), 403);
	capture(&after);
	assert_same(&before, &after);
	state_free(&before);
	state_free(&after);
	/* The body that was signed passes. */
	snprintf(url, sizeof(url), "http://%s/_/purge", F.vaddr[0]);
	harness_sign_digest(secret, "POST", url, clock_wall_ms(),
			    "ffeeddccbbaa99887766554433221100", meant,
			    strlen(meant), v);
	ck_assert_int_eq(send_with("POST", url, meant, v), 200);
	stop();
}
END_TEST

START_TEST(replays_are_refused)
{
	start();
	char url[96], v1[SIGN_VALUE_MAX], v2[SIGN_VALUE_MAX];
	snprintf(url, sizeof(url), "http://%s/replayed", F.vaddr[0]);
	ck_assert_int_eq(sign_request("PUT", url, 2, v1), 0);
	ck_assert_int_eq(send_with("PUT", url, "v1", v1), 201);
	ck_assert_int_eq(sign_request("PUT", url, 2, v2), 0);
	ck_assert_int_eq(send_with("PUT", url, "v2", v2), 201);
	/* Sending the first again would roll the value back. */
	ck_assert_int_eq(send_with("PUT", url, "v1", v1), 403);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	ck_assert_str_eq(r.body, "v2");
	harness_resp_free(&r);
	/* On a master, and on another master that has not seen it: each
	 * remembers only what it accepted, but a captured request is bound to
	 * its target, not to a host, and the first master spent it. */
	snprintf(url, sizeof(url), "%s/_/admin/volumes", F.murl[0]);
	ck_assert_int_eq(sign_request("GET", url, 0, v1), 0);
	ck_assert_int_eq(send_with("GET", url, NULL, v1), 200);
	ck_assert_int_eq(send_with("GET", url, NULL, v1), 403);
	stop();
}
END_TEST

/* A message from master 2 to master 1, encoded and framed as a
 * /_/raft/msgs body (framed) or bare, for X-Raft-Msg. */
static size_t encode(const struct raft_msg *m, bool framed, uint8_t *out,
		     size_t cap)
{
	size_t n = raft_msg_size(m), off = framed ? 4 : 0;
	ck_assert_uint_le(n + off, cap);
	if (framed)
		le_put32(out, (uint32_t)n);
	ck_assert_int_eq(raft_msg_encode(m, out + off, cap - off), 0);
	return n + off;
}

static long post_signed(const char *path, const void *body, size_t len,
			const char *const *extra, char *why, size_t cap)
{
	char url[160];
	snprintf(url, sizeof(url), "%s%s", F.murl[0], path);
	struct harness_resp r;
	ck_assert_int_eq(harness_http("POST", url, body, len, extra, &r), 0);
	snprintf(why, cap, "%s", r.body);
	long code = r.code;
	harness_resp_free(&r);
	return code;
}

/* Peer addresses come from the configuration only. A POST's own say (the
 * X-Raft-Peers table it used to carry) changes nothing, and POSTs from
 * ids no configuration names cannot crowd the table: a master joining
 * afterwards, knowing only the URL it joins through, is added, learns
 * every member's address from the log and serves. */
START_TEST(addresses_come_from_the_configuration)
{
	start();
	char table[4096];
	int k = snprintf(table, sizeof(table), "X-Raft-Peers: ");
	for (int id = 40; id < 80; id++)
		k += snprintf(table + k, sizeof(table) - (size_t)k,
			      "%s%d=http://127.0.0.1:%d", id > 40 ? "," : "",
			      id, 9000 + id);
	for (int i = 0; i < NMASTERS; i++) {
		char url[160];
		snprintf(url, sizeof(url), "%s/_/raft/msgs", F.murl[i]);
		for (int id = 100; id < 140; id++) {
			char from[32];
			snprintf(from, sizeof(from), "X-Raft-From: %d", id);
			const char *extra[] = {from, table, NULL};
			struct harness_resp r;
			ck_assert_int_eq(
				harness_http("POST", url, "", 0, extra, &r), 0);
			ck_assert_msg(r.code / 100 == 2, "%ld %s", r.code,
				      r.body);
			harness_resp_free(&r);
		}
		/* What each master shows of its members is as it was. */
		snprintf(url, sizeof(url), "%s/_/status", F.murl[i]);
		struct harness_resp r;
		ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
		for (int m = 0; m < NMASTERS; m++) {
			char member[128];
			snprintf(member, sizeof(member),
				 "{\"id\":%d,\"url\":\"%s\"", m + 1, F.murl[m]);
			ck_assert_msg(strstr(r.body, member), "%s not in %s",
				      member, r.body);
		}
		ck_assert_ptr_null(strstr(r.body, "127.0.0.1:904"));
		harness_resp_free(&r);
	}
	char join[96];
	snprintf(join, sizeof(join), "%s", F.murl[0]);
	ck_assert_int_eq(fixture_start_master(&F, NMASTERS, join, NULL), 0);
	ck_assert_int_eq(
		fixture_wait_status(&F, NMASTERS, "\"keys\":5,", 20000), 0);
	/* It knows every member at the address the log gave. */
	char url[160];
	snprintf(url, sizeof(url), "%s/_/status", F.murl[NMASTERS]);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	for (int m = 0; m <= NMASTERS; m++) {
		char member[128];
		snprintf(member, sizeof(member), "{\"id\":%d,\"url\":\"%s\"",
			 m + 1, F.murl[m]);
		ck_assert_msg(strstr(r.body, member), "%s not in %s", member,
			      r.body);
	}
	harness_resp_free(&r);
	/* And it serves: a read through it, a write through the leader. */
	snprintf(url, sizeof(url), "%s/keep/3", F.murl[NMASTERS]);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 302);
	int l = wait_leader();
	ck_assert_int_ge(l, 0);
	snprintf(url, sizeof(url), "%s/after-join", F.murl[l]);
	ck_assert_int_eq(harness_request("PUT", url, "joined", 6, NULL), 201);
	stop();
}
END_TEST

/* A member holds the secret, so its requests pass the signature check;
 * what it sends must still never stop a master or bend its state. */
START_TEST(bad_input_from_a_member_is_refused)
{
	start();
	struct state before, after;
	capture(&before);
	const char *from2[] = {"X-Raft-From: 2", NULL};
	char why[512];
	uint8_t buf[1024];
	/* A snapshot message without its upload: stepping it would install
	 * a file that is not there (a master used to abort). */
	struct raft_msg snap = {.type = RAFT_MSG_SNAPSHOT,
				.from = 2,
				.to = 1,
				.term = 1,
				.snap = {.index = 1000,
					 .term = 1,
					 .conf = {.n = 3, .ids = {1, 2, 3}}}};
	size_t n = encode(&snap, true, buf, sizeof(buf));
	ck_assert_int_eq(
		post_signed("/_/raft/msgs", buf, n, from2, why, sizeof(why)),
		400);
	ck_assert_ptr_nonnull(strstr(why, "/_/raft/snapshot"));
	/* Speaking for another member. */
	struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = 3, .to = 1};
	n = encode(&hb, true, buf, sizeof(buf));
	ck_assert_int_eq(
		post_signed("/_/raft/msgs", buf, n, from2, why, sizeof(why)),
		400);
	/* An upload that is not an index copy. */
	n = encode(&snap, false, buf, sizeof(buf));
	char hdr[2 * sizeof(buf) + 32];
	int k = snprintf(hdr, sizeof(hdr), "X-Raft-Msg: ");
	for (size_t i = 0; i < n; i++)
		k += snprintf(hdr + k, sizeof(hdr) - (size_t)k, "%02x", buf[i]);
	const char *snap_hdrs[] = {"X-Raft-From: 2", hdr, NULL};
	const char junk[] = "this is not an LMDB file, whatever it claims";
	ck_assert_int_eq(post_signed("/_/raft/snapshot", junk, sizeof(junk) - 1,
				     snap_hdrs, why, sizeof(why)),
			 400);
	ck_assert_ptr_nonnull(strstr(why, "snapshot refused"));
	/* A member's address is not overwritten by an add. */
	char url[160];
	snprintf(url, sizeof(url), "add 2 http://127.0.0.1:%d",
		 harness_free_port());
	long code = post_signed("/_/raft/members", url, strlen(url), NULL, why,
				sizeof(why));
	if (code == 307) { /* master 1 follows: ask the leader */
		int l = wait_leader();
		char lurl[160];
		snprintf(lurl, sizeof(lurl), "%s/_/raft/members", F.murl[l]);
		struct harness_resp r;
		ck_assert_int_eq(
			harness_http("POST", lurl, url, strlen(url), NULL, &r),
			0);
		code = r.code;
		snprintf(why, sizeof(why), "%s", r.body);
		harness_resp_free(&r);
	}
	ck_assert_msg(code == 409, "%ld %s", code, why);
	for (int i = 0; i < NMASTERS; i++)
		ck_assert_int_eq(harness_wait_health(F.mport[i], 2000), 0);
	capture(&after);
	assert_same(&before, &after);
	state_free(&before);
	state_free(&after);
	stop();
}
END_TEST

/* A TCP connection to 127.0.0.1:port from the loopback address `from`
 * (127.0.0.x: distinct client addresses for the per-IP limit). */
static int connect_from(const char *from, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	ck_assert_int_eq(inet_pton(AF_INET, from, &a.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

/* GET /_/health from `from` on a fresh connection: the status, or -1
 * when the server closed it without an answer (a limit refused it). */
static int health_from(const char *from, int port)
{
	int fd = connect_from(from, port);
	const char *req = "GET /_/health HTTP/1.1\r\nHost: x\r\n"
			  "Connection: close\r\n\r\n";
	ssize_t w = send(fd, req, strlen(req), MSG_NOSIGNAL);
	char ans[512] = "";
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = w > 0 ? recv(fd, ans, sizeof(ans) - 1, 0) : -1;
	close(fd);
	int code = -1;
	if (n > 12 && sscanf(ans, "HTTP/1.1 %d", &code) == 1)
		return code;
	return -1;
}

/* Whether the server closed fd (a read sees the end or a reset),
 * waiting up to ms. */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) != 1)
		return false;
	char c;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* Slow clients at the limits of one daemon (a volume or a master, on
 * port): one address filling its share cannot lock others out, and
 * clients that trickle their headers or bodies are cut off within the
 * deadline, so honest ones are served again. */
static void slow_clients_on(int port, const char *put_path)
{
	enum { PER_IP = 3 };
	int slow[2 * PER_IP];
	/* Slow headers from .11, a byte at a time: its share is full. */
	for (int i = 0; i < PER_IP; i++) {
		slow[i] = connect_from("127.0.0.11", port);
		const char *part = "GET /_/health HTTP/1.1\r\nH";
		ck_assert_int_eq(
			send(slow[i], part, strlen(part), MSG_NOSIGNAL),
			(ssize_t)strlen(part));
	}
	/* Slow bodies from .12: headers at once, then a trickle. */
	for (int i = PER_IP; i < 2 * PER_IP; i++) {
		slow[i] = connect_from("127.0.0.12", port);
		char head[256];
		int n = snprintf(head, sizeof(head),
				 "PUT %s%d HTTP/1.1\r\nHost: x\r\n"
				 "Content-Length: 1000000\r\n\r\nab",
				 put_path, i);
		char signed_head[512];
		size_t m = harness_sign_raw(head, (size_t)n, signed_head,
					    sizeof(signed_head));
		ck_assert_int_eq(send(slow[i], signed_head, m, MSG_NOSIGNAL),
				 (ssize_t)m);
	}
	/* A fourth from .11 is over its share; another address is served
	 * while the slow ones hold theirs. */
	ck_assert_int_eq(health_from("127.0.0.11", port), -1);
	ck_assert_int_eq(health_from("127.0.0.13", port), 200);
	/* The trickle goes on, a byte every 100 ms: below 1 KiB/s. Within
	 * the 1 s deadline and a sweep, every slow one is cut. */
	uint64_t t0 = clock_mono_ms();
	int open = 2 * PER_IP;
	while (open && clock_mono_ms() - t0 < 4000) {
		open = 0;
		for (int i = 0; i < 2 * PER_IP; i++) {
			if (slow[i] < 0)
				continue;
			if (closed_within(slow[i], 0)) {
				close(slow[i]);
				slow[i] = -1;
				continue;
			}
			send(slow[i], i < PER_IP ? "o" : "x", 1, MSG_NOSIGNAL);
			open++;
		}
		pause_ms(100);
	}
	ck_assert_int_eq(open, 0);
	ck_assert_uint_ge(clock_mono_ms() - t0, 700); /* not before 1 s */
	/* Their address is welcome again. */
	ck_assert_int_eq(health_from("127.0.0.11", port), 200);
}

START_TEST(slow_clients_are_cut_off)
{
	const char *limits[] = {"-max-connections",
				"8",
				"-max-connections-per-ip",
				"3",
				"-client-timeout",
				"1s",
				"-min-rate",
				"1K",
				NULL};
	const struct fixture_opts o = {.tag = "slow",
				       .volumes = 1,
				       .masters = 1,
				       .volume_args = limits,
				       .master_args = limits};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	slow_clients_on(F.vol[0].port, "/slow");
	slow_clients_on(F.mport[0], "/slow");
	/* Honest traffic, through the master to the volume, still works. */
	char url[96];
	snprintf(url, sizeof(url), "%s/honest", F.murl[0]);
	ck_assert_int_eq(harness_request("PUT", url, "ok", 2, NULL), 201);
	stop();
}
END_TEST

static const char *keys_file(const char *name, const char *text, mode_t mode)
{
	static char path[600];
	snprintf(path, sizeof(path), "%s/%s", F.dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

/* Sends method url with "Authorization: Bearer key" (key NULL: none). */
static long with_key(const char *method, const char *url, const char *key,
		     const char *body, char *why, size_t cap)
{
	char auth[128] = "";
	if (key)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	const char *extra[] = {key ? auth : NULL, NULL};
	struct harness_resp r;
	ck_assert_int_eq(harness_http(method, url, body,
				      body ? strlen(body) : 0, extra, &r),
			 0);
	snprintf(why, cap, "%s", r.body ? r.body : "");
	long code = r.code;
	harness_resp_free(&r);
	return code;
}

#define WKEY "w-0123456789abcdef"
#define RKEY "r-0123456789abcdef"

START_TEST(api_keys_guard_the_public_plane)
{
	const struct fixture_opts o = {.tag = "keys", .volumes = 1};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	const char *both = keys_file(
		"both", "# comment\n" WKEY " write\n\n" RKEY " read\n", 0600);
	const char *a1[] = {"-api-keys", both, "-replicas", "1", NULL};
	ck_assert_int_eq(fixture_start_master(&F, 0, NULL, a1), 0);
	char url[96], why[512];
	snprintf(url, sizeof(url), "%s/k", F.murl[0]);
	ck_assert_int_eq(with_key("PUT", url, NULL, "v", why, sizeof(why)),
			 401);
	ck_assert_ptr_nonnull(strstr(why, "Bearer"));
	ck_assert_int_eq(with_key("PUT", url, "w-0123456789abcdeX", "v", why,
				  sizeof(why)),
			 401);
	ck_assert_int_eq(with_key("PUT", url, RKEY, "v", why, sizeof(why)),
			 403);
	ck_assert_int_eq(with_key("GET", url, RKEY, NULL, why, sizeof(why)),
			 404); /* none of those wrote */
	ck_assert_int_eq(with_key("PUT", url, WKEY, "v", why, sizeof(why)),
			 201);
	/* A read key is listed: reads need a key too. */
	ck_assert_int_eq(with_key("GET", url, NULL, NULL, why, sizeof(why)),
			 401);
	ck_assert_int_eq(with_key("GET", url, RKEY, NULL, why, sizeof(why)),
			 302);
	ck_assert_int_eq(with_key("GET", url, WKEY, NULL, why, sizeof(why)),
			 302);
	ck_assert_int_eq(with_key("UNLINK", url, RKEY, NULL, why, sizeof(why)),
			 403);
	ck_assert_int_eq(with_key("DELETE", url, WKEY, NULL, why, sizeof(why)),
			 204);
	/* Health stays open for load balancers. */
	snprintf(url, sizeof(url), "%s/_/health", F.murl[0]);
	ck_assert_int_eq(with_key("GET", url, NULL, NULL, why, sizeof(why)),
			 200);
	/* Write keys only: reads stay open. */
	const char *writers = keys_file("writers", WKEY " write\n", 0600);
	const char *a2[] = {"-api-keys", writers, "-replicas", "1", NULL};
	ck_assert_int_eq(fixture_start_master(&F, 1, NULL, a2), 0);
	snprintf(url, sizeof(url), "%s/k2", F.murl[1]);
	ck_assert_int_eq(with_key("PUT", url, WKEY, "v", why, sizeof(why)),
			 201);
	ck_assert_int_eq(with_key("GET", url, NULL, NULL, why, sizeof(why)),
			 302);
	ck_assert_int_eq(with_key("PUT", url, NULL, "v", why, sizeof(why)),
			 401);
	harness_stop(&F.master[1]);
	/* A file others can read, or with a short key, stops the start. */
	const char *open_file = keys_file("open", WKEY " write\n", 0644);
	const char *a3[] = {"-api-keys", open_file, NULL};
	ck_assert_int_ne(fixture_start_master(&F, 2, NULL, a3), 0);
	const char *bad = keys_file("bad", "short write\n", 0600);
	const char *a4[] = {"-api-keys", bad, NULL};
	ck_assert_int_ne(fixture_start_master(&F, 3, NULL, a4), 0);
	stop();
}
END_TEST

/* GET url (no redirect followed): the status, Location into loc. */
static long get_loc(const char *url, char *loc, size_t cap)
{
	struct harness_resp r;
	ck_assert_int_eq(harness_http_unsigned("GET", url, NULL, 0, NULL, &r),
			 0);
	loc[0] = '\0';
	harness_header(&r, "Location", loc, cap);
	long code = r.code;
	harness_resp_free(&r);
	return code;
}

START_TEST(signed_reads_need_the_masters_redirect)
{
	const char *sr[] = {"-signed-reads", NULL};
	const char *margs[] = {"-signed-reads", "-replicas", "2", NULL};
	const struct fixture_opts o = {.tag = "sreads",
				       .volumes = 2,
				       .masters = 1,
				       .volume_args = sr,
				       .master_args = margs};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	char url[160], loc[512], next[512];
	snprintf(url, sizeof(url), "%s/sr/key%%20one", F.murl[0]);
	ck_assert_int_eq(harness_request("PUT", url, "secret bytes", 12, NULL),
			 201);
	ck_assert_int_eq(get_loc(url, loc, sizeof(loc)), 302);
	ck_assert_ptr_nonnull(strstr(loc, "/sr/key%20one?exp="));
	ck_assert_ptr_nonnull(strstr(loc, "&sig="));
	ck_assert_ptr_nonnull(strstr(loc, "&alt="));
	struct harness_resp r;
	ck_assert_int_eq(harness_http_unsigned("GET", loc, NULL, 0, NULL, &r),
			 0);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.body, "secret bytes");
	harness_resp_free(&r);
	ck_assert_int_eq(harness_http_unsigned("HEAD", loc, NULL, 0, NULL, &r),
			 0);
	ck_assert_int_eq(r.code, 200);
	harness_resp_free(&r);
	/* Straight to a volume, or with the signature bent: 403. */
	char *q = strchr(loc, '?');
	ck_assert_ptr_nonnull(q);
	snprintf(next, sizeof(next), "%.*s", (int)(q - loc), loc);
	ck_assert_int_eq(get_loc(next, url, sizeof(url)), 403);
	snprintf(next, sizeof(next), "%s", loc);
	char *sig = strstr(next, "&sig=") + 5;
	sig[0] = sig[0] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(get_loc(next, url, sizeof(url)), 403);
	/* Another key's path with this signature. */
	snprintf(next, sizeof(next), "%s", loc);
	char *k = strstr(next, "key%20one");
	k[3] = 'X';
	ck_assert_int_eq(get_loc(next, url, sizeof(url)), 403);
	/* Made right, but expired. */
	char old[SIGN_QUERY_MAX];
	ck_assert_int_eq(
		sign_read("/sr/key%20one", clock_wall_ms() / 1000 - 5, old), 0);
	snprintf(next, sizeof(next), "%.*s?%s", (int)(q - loc), loc, old);
	ck_assert_int_eq(get_loc(next, url, sizeof(url)), 403);
	/* A copy gone from the first volume: it sends the reader on with
	 * the signature, and the next one serves it. */
	snprintf(next, sizeof(next), "%.*s", (int)(q - loc), loc);
	ck_assert_int_eq(harness_request("DELETE", next, NULL, 0, NULL), 204);
	ck_assert_int_eq(get_loc(loc, next, sizeof(next)), 302);
	ck_assert_ptr_nonnull(strstr(next, "?exp="));
	ck_assert_int_eq(harness_http_unsigned("GET", next, NULL, 0, NULL, &r),
			 0);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.body, "secret bytes");
	harness_resp_free(&r);
	stop();
}
END_TEST

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char *text = calloc(1, 65536);
	ck_assert_ptr_nonnull(text);
	size_t n = fread(text, 1, 65535, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* A PUT declaring more than half the volume's free disk is refused at
 * its headers, before anything is allocated, so declared lengths alone
 * cannot take the disk from other writers; the volume then takes a PUT
 * as before. */
START_TEST(declared_lengths_cannot_take_the_disk)
{
	const char *big[] = {"-max-value", "1000T", NULL};
	const struct fixture_opts o = {
		.tag = "held", .volumes = 1, .volume_args = big};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	struct statvfs vfs;
	ck_assert_int_eq(statvfs(F.dir, &vfs), 0);
	unsigned long long free_b =
		(unsigned long long)vfs.f_bavail * vfs.f_frsize;
	char head[256], signed_head[512], ans[1024];
	int n = snprintf(head, sizeof(head),
			 "PUT /huge HTTP/1.1\r\nHost: x\r\n"
			 "Content-Length: %llu\r\n\r\n",
			 free_b / 10 * 8);
	size_t m = harness_sign_raw(head, (size_t)n, signed_head,
				    sizeof(signed_head));
	ck_assert_int_eq(harness_raw(F.vol[0].port, signed_head, m, 5000, ans,
				     sizeof(ans)),
			 507);
	ck_assert_ptr_nonnull(strstr(ans, "half the free disk"));
	char url[96];
	snprintf(url, sizeof(url), "http://%s/small", F.vaddr[0]);
	ck_assert_int_eq(harness_request("PUT", url, "ok", 2, NULL), 201);
	snprintf(url, sizeof(url), "http://%s/huge", F.vaddr[0]);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 404);
	stop();
}
END_TEST

/* cask-admin signs what an operator asks by hand; without the secret,
 * or with another, the cluster refuses it and nothing changes. */
START_TEST(cask_admin_signs_operator_requests)
{
	const char *two[] = {"-replicas", "2", NULL};
	const struct fixture_opts o = {
		.tag = "admin", .volumes = 3, .masters = 1, .master_args = two};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	char url[128], out[600], drain[64];
	snprintf(url, sizeof(url), "%s/_/admin/volumes", F.murl[0]);
	snprintf(out, sizeof(out), "%s/admin.out", F.dir);
	snprintf(drain, sizeof(drain), "{\"drain\":\"%s\"}", F.vaddr[1]);
	const char *other =
		keys_file("other", "another-cluster-secret\n", 0600);
	const char *wrong[] = {"-url",	       url,   "-d", drain,
			       "-secret-file", other, NULL};
	int st;
	pid_t pid = harness_spawn_tool("cask-admin", wrong, out);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 1);
	char *text = slurp(out);
	ck_assert_ptr_nonnull(strstr(text, "status 403"));
	free(text);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	ck_assert_ptr_null(strstr(r.body, "draining"));
	harness_resp_free(&r);
	/* With the cluster's secret (harness_spawn_tool gives it). */
	const char *right[] = {"-url", url, "-d", drain, NULL};
	pid = harness_spawn_tool("cask-admin", right, out);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	text = slurp(out);
	ck_assert_ptr_nonnull(strstr(text, "\"state\":\"draining\""));
	free(text);
	stop();
}
END_TEST

/* Runs cask-volume with args until it is healthy or exits; returns its
 * exit status, or -1 once it answered on port (then it is stopped). */
static int volume_outcome(const char *const *args, int port, const char *log)
{
	pid_t pid = harness_spawn_tool("cask-volume", args, log);
	ck_assert_int_gt(pid, 0);
	for (int i = 0; i < 1000; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		if (harness_wait_health(port, 10) == 0) {
			kill(pid, SIGTERM);
			ck_assert_int_eq(waitpid(pid, &st, 0), pid);
			return -1;
		}
	}
	ck_abort_msg("cask-volume neither started nor exited");
	return 0;
}

START_TEST(no_secret_means_loopback_only)
{
	const char *dir = harness_tmpdir("nosecret");
	char data[600], log[600], port[16];
	snprintf(data, sizeof(data), "%s/v", dir);
	snprintf(log, sizeof(log), "%s/v.log", dir);
	int p = harness_free_port();
	snprintf(port, sizeof(port), "%d", p);
	const char *refused[] = {"-dir",  data,		  "-port",
				 port,	  "-secret-file", "",
				 "-bind", "0.0.0.0",	  NULL};
	ck_assert_int_eq(volume_outcome(refused, p, log), 1);
	char *text = slurp(log);
	ck_assert_ptr_nonnull(
		strstr(text, "-bind 0.0.0.0 without -secret-file"));
	free(text);
	const char *insecure[] = {"-dir",	  data, "-port", port,
				  "-secret-file", "",	"-bind", "0.0.0.0",
				  "-insecure",	  NULL};
	ck_assert_int_eq(volume_outcome(insecure, p, log), -1);
	text = slurp(log);
	ck_assert_ptr_nonnull(strstr(text, "-insecure: anyone who reaches"));
	free(text);
	const char *plain[] = {"-dir",	       data, "-port", port,
			       "-secret-file", "",   NULL};
	ck_assert_int_eq(volume_outcome(plain, p, log), -1);
	text = slurp(log);
	ck_assert_ptr_nonnull(strstr(text, "127.0.0.1 only"));
	ck_assert_ptr_nonnull(strstr(text, "on 127.0.0.1:"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, strangers_change_nothing);
	tcase_add_test(tc, replays_are_refused);
	tcase_add_test(tc, swapped_bodies_are_refused);
	tcase_add_test(tc, bad_input_from_a_member_is_refused);
	tcase_add_test(tc, addresses_come_from_the_configuration);
	tcase_add_test(tc, slow_clients_are_cut_off);
	tcase_add_test(tc, api_keys_guard_the_public_plane);
	tcase_add_test(tc, signed_reads_need_the_masters_redirect);
	tcase_add_test(tc, cask_admin_signs_operator_requests);
	tcase_add_test(tc, declared_lengths_cannot_take_the_disk);
	tcase_add_test(tc, no_secret_means_loopback_only);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
