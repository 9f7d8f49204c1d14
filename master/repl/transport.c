#include "master/repl/transport.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/httpc.h"
#include "common/httpd.h"
#include "common/httphdr.h"
#include "common/le.h"
#include "common/log.h"
#include "raft/raft_codec.h"

#define MAX_PEERS	   (2 * RAFT_MAX_NODES)
#define BATCH_BYTES	   ((size_t)4 << 20)  /* per POST, beyond one message */
#define BODY_MAX	   ((size_t)64 << 20) /* largest inbound POST */
#define MSG_HEX_MAX	   8192		      /* X-Raft-Msg of a snapshot */
#define SNAP_TIMEOUT_MS	   600000L
#define CONNECT_TIMEOUT_MS 300L

struct qmsg {
	uint8_t *buf;
	size_t len;
};

struct peer {
	uint64_t id;
	char url[TRANSPORT_URL_MAX];
	struct qmsg *q;
	size_t qn;
	/* The message POST in flight, and the answer it is bringing back. */
	CURL *post;
	bool busy;
	uint8_t *body;
	size_t body_len, body_msgs;
	struct curl_slist *hdrs;
	struct buf resp;
	struct httpc_sink sink; /* into resp, up to BODY_MAX */
	/* POSTs from this peer waiting for our answer: what we queue for it
	 * meanwhile leaves in that answer, not in a POST of our own. */
	unsigned replying;
	/* The snapshot: queued (path set), then in flight (snap set). */
	char snap_path[4096];
	char *snap_hex;
	CURL *snap;
	FILE *snap_file;
	struct curl_slist *snap_hdrs;
};

struct transport {
	struct transport_options o;
	struct transport_callbacks cb;
	char incoming[4096];
	pthread_t thread;
	pthread_mutex_t mu;
	CURLM *multi;
	bool stopping;
	struct peer peers[MAX_PEERS];
	size_t npeers;
	atomic_bool receiving; /* a snapshot upload or install is under way */
	atomic_uint_fast64_t sent, received, dropped, posts, failed_posts,
		answers, snaps_sent, snaps_received;
};

/* Something queued for p may leave in a POST now: none in flight, and
 * no POST of p's waiting for an answer that would carry it. Caller holds
 * mu. */
static bool post_due(const struct peer *p)
{
	return p->qn && !p->busy && !p->replying && p->url[0];
}

static struct peer *find(struct transport *t, uint64_t id)
{
	for (size_t i = 0; i < t->npeers; i++)
		if (t->peers[i].id == id)
			return &t->peers[i];
	return NULL;
}

/* Headers every POST carries. Caller holds mu. */
static struct curl_slist *common_headers(struct transport *t)
{
	char from[64];
	struct curl_slist *h = NULL;
	snprintf(from, sizeof(from), "X-Raft-From: %" PRIu64, t->o.id);
	h = curl_slist_append(h, from);
	if (h)
		h = curl_slist_append(h, "Expect:");
	if (h)
		h = curl_slist_append(h,
				      "Content-Type: application/octet-stream");
	return h;
}

static CURL *new_easy(struct transport *t, struct peer *p, const char *path,
		      long timeout_ms)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	char url[TRANSPORT_URL_MAX + 32];
	snprintf(url, sizeof(url), "%s%s", p->url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	/* A message POST's answer carries messages, bounded like an inbound
	 * POST; a snapshot's carries nothing. */
	bool msgs = strcmp(path, "/_/raft/msgs") == 0;
	if (msgs)
		p->sink = (struct httpc_sink){.b = &p->resp, .max = BODY_MAX};
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION,
			 msgs ? httpc_keep : httpc_discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &p->sink);
	curl_easy_setopt(h, CURLOPT_PRIVATE, p);
	(void)t;
	return h;
}

/* Takes what is queued for p (up to BATCH_BYTES) as one body of
 * (u32 LE length ‖ message)*: *bytes long, *n messages. NULL when nothing
 * is queued or memory is short (the queue is then kept). Caller holds mu. */
static uint8_t *pack(struct peer *p, size_t *bytes, size_t *n)
{
	*n = *bytes = 0;
	while (*n < p->qn &&
	       (*n == 0 || *bytes + 4 + p->q[*n].len <= BATCH_BYTES))
		*bytes += 4 + p->q[(*n)++].len;
	uint8_t *body = *n ? malloc(*bytes) : NULL;
	if (!body)
		return NULL;
	size_t off = 0;
	for (size_t i = 0; i < *n; i++) {
		le_put32(body + off, (uint32_t)p->q[i].len);
		memcpy(body + off + 4, p->q[i].buf, p->q[i].len);
		off += 4 + p->q[i].len;
		free(p->q[i].buf);
	}
	memmove(p->q, p->q + *n, (p->qn - *n) * sizeof(*p->q));
	p->qn -= *n;
	return body;
}

/* Packs what is queued for p into one body and starts its POST. Caller
 * holds mu; transport thread. */
static void start_post(struct transport *t, struct peer *p)
{
	struct curl_slist *hdrs = common_headers(t);
	if (!p->post)
		p->post = new_easy(t, p, "/_/raft/msgs", t->o.timeout_ms);
	if (!hdrs || !p->post) {
		curl_slist_free_all(hdrs);
		return; /* retried on the next round */
	}
	size_t bytes, n;
	uint8_t *body = pack(p, &bytes, &n);
	if (!body) {
		curl_slist_free_all(hdrs);
		return;
	}
	char url[TRANSPORT_URL_MAX + 32];
	snprintf(url, sizeof(url), "%s/_/raft/msgs", p->url);
	if (httpc_sign_body(&hdrs, "POST", url, body, bytes)) {
		curl_slist_free_all(hdrs);
		free(body);
		return; /* lost, as the network may lose it */
	}
	curl_easy_setopt(p->post, CURLOPT_URL, url);
	curl_easy_setopt(p->post, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(p->post, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)bytes);
	curl_easy_setopt(p->post, CURLOPT_HTTPHEADER, hdrs);
	p->body = body;
	p->body_len = bytes;
	p->body_msgs = n;
	p->hdrs = hdrs;
	p->busy = true;
	buf_free(&p->resp);
	curl_multi_add_handle(t->multi, p->post);
	atomic_fetch_add(&t->posts, 1);
}

static size_t read_file(char *buf, size_t size, size_t n, void *arg)
{
	return fread(buf, 1, size * n, arg);
}

static void snap_failed(struct transport *t, struct peer *p)
{
	uint64_t id = p->id;
	p->snap_path[0] = '\0';
	free(p->snap_hex);
	p->snap_hex = NULL;
	pthread_mutex_unlock(&t->mu);
	t->cb.snapshot_done(t->cb.arg, id, false);
	pthread_mutex_lock(&t->mu);
}

/* Opens the queued snapshot file and starts its POST. Caller holds mu. */
static void start_snapshot(struct transport *t, struct peer *p)
{
	FILE *f = fopen(p->snap_path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st)) {
		log_warn("raft: snapshot %s for %" PRIu64 ": %s", p->snap_path,
			 p->id, strerror(errno));
		if (f)
			fclose(f);
		snap_failed(t, p);
		return;
	}
	struct curl_slist *hdrs = common_headers(t);
	char *line = malloc(strlen(p->snap_hex) + 16);
	CURL *h = new_easy(t, p, "/_/raft/snapshot", SNAP_TIMEOUT_MS);
	if (line) {
		sprintf(line, "X-Raft-Msg: %s", p->snap_hex);
		hdrs = hdrs ? curl_slist_append(hdrs, line) : NULL;
	}
	free(line);
	char url[TRANSPORT_URL_MAX + 32];
	snprintf(url, sizeof(url), "%s/_/raft/snapshot", p->url);
	if (hdrs && httpc_sign(&hdrs, "POST", url, (uint64_t)st.st_size)) {
		curl_slist_free_all(hdrs);
		hdrs = NULL;
	}
	if (!hdrs || !h) {
		curl_slist_free_all(hdrs);
		if (h)
			curl_easy_cleanup(h);
		fclose(f);
		snap_failed(t, p);
		return;
	}
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_file);
	curl_easy_setopt(h, CURLOPT_READDATA, f);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)st.st_size);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	p->snap = h;
	p->snap_file = f;
	p->snap_hdrs = hdrs;
	p->snap_path[0] = '\0';
	curl_multi_add_handle(t->multi, h);
}

static int decode_batch(uint8_t *bytes, size_t len,
			struct transport_batch **out);

/* The POST's answer carried messages for us: step them like a POST of the
 * peer's own (one that does not decode drops the answer, as the network
 * would). Caller holds mu, which is let go around the callback. */
static void take_answer(struct transport *t, struct peer *p)
{
	size_t len = p->resp.len;
	if (!len)
		return;
	uint8_t *body = (uint8_t *)buf_steal(&p->resp);
	struct transport_batch *b;
	if (!body)
		return;
	if (decode_batch(body, len, &b)) {
		free(body);
		return;
	}
	atomic_fetch_add(&t->received, b->n);
	pthread_mutex_unlock(&t->mu);
	t->cb.on_msgs(t->cb.arg, b, NULL);
	pthread_mutex_lock(&t->mu);
}

static void finish_post(struct transport *t, struct peer *p, bool ok)
{
	curl_multi_remove_handle(t->multi, p->post);
	free(p->body);
	curl_slist_free_all(p->hdrs);
	p->body = NULL;
	p->hdrs = NULL;
	p->busy = false;
	if (ok) {
		atomic_fetch_add(&t->sent, p->body_msgs);
		take_answer(t, p);
	} else {
		atomic_fetch_add(&t->failed_posts, 1);
		atomic_fetch_add(&t->dropped, p->body_msgs);
		/* A fresh connection next time: the old one may be wedged. */
		curl_easy_cleanup(p->post);
		p->post = NULL;
	}
}

static void finish_snapshot(struct transport *t, struct peer *p, bool ok)
{
	curl_multi_remove_handle(t->multi, p->snap);
	curl_easy_cleanup(p->snap);
	fclose(p->snap_file);
	curl_slist_free_all(p->snap_hdrs);
	free(p->snap_hex);
	p->snap = NULL;
	p->snap_file = NULL;
	p->snap_hdrs = NULL;
	p->snap_hex = NULL;
	uint64_t id = p->id;
	if (ok)
		atomic_fetch_add(&t->snaps_sent, 1);
	else
		log_warn("raft: snapshot to %" PRIu64 " failed", id);
	pthread_mutex_unlock(&t->mu);
	t->cb.snapshot_done(t->cb.arg, id, ok);
	pthread_mutex_lock(&t->mu);
}

static void reap(struct transport *t)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(t->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct peer *p;
		long code = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
				  &code);
		bool ok = m->data.result == CURLE_OK && code / 100 == 2;
		if (m->easy_handle == p->post)
			finish_post(t, p, ok);
		else
			finish_snapshot(t, p, ok);
	}
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "raft-transport");
	struct transport *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stopping) {
		for (size_t i = 0; i < t->npeers; i++) {
			struct peer *p = &t->peers[i];
			if (post_due(p))
				start_post(t, p);
			if (!p->snap && p->snap_path[0] && p->url[0])
				start_snapshot(t, p);
		}
		pthread_mutex_unlock(&t->mu);
		int running;
		curl_multi_perform(t->multi, &running);
		pthread_mutex_lock(&t->mu);
		reap(t);
		pthread_mutex_unlock(&t->mu);
		curl_multi_poll(t->multi, NULL, 0, 100, NULL);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int transport_start(const struct transport_options *o,
		    const struct transport_callbacks *cb,
		    struct transport **out)
{
	assert(o && o->incoming_path && o->queue_max && cb && cb->on_msgs &&
	       cb->on_snapshot && cb->snapshot_done && out);
	struct transport *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->o = *o;
	t->cb = *cb;
	if (snprintf(t->incoming, sizeof(t->incoming), "%s",
		     o->incoming_path) >= (int)sizeof(t->incoming)) {
		free(t);
		return -ENAMETOOLONG;
	}
	t->o.incoming_path = t->incoming;
	pthread_mutex_init(&t->mu, NULL);
	t->multi = curl_multi_init();
	if (!t->multi) {
		free(t);
		return -ENOMEM;
	}
	int rc = pthread_create(&t->thread, NULL, run, t);
	if (rc) {
		curl_multi_cleanup(t->multi);
		free(t);
		return -rc;
	}
	*out = t;
	return 0;
}

void transport_stop(struct transport *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stopping = true;
	pthread_mutex_unlock(&t->mu);
	curl_multi_wakeup(t->multi);
	pthread_join(t->thread, NULL);
	for (size_t i = 0; i < t->npeers; i++) {
		struct peer *p = &t->peers[i];
		if (p->busy)
			curl_multi_remove_handle(t->multi, p->post);
		if (p->post)
			curl_easy_cleanup(p->post);
		free(p->body);
		buf_free(&p->resp);
		curl_slist_free_all(p->hdrs);
		if (p->snap) {
			curl_multi_remove_handle(t->multi, p->snap);
			curl_easy_cleanup(p->snap);
			fclose(p->snap_file);
			curl_slist_free_all(p->snap_hdrs);
		}
		free(p->snap_hex);
		for (size_t k = 0; k < p->qn; k++)
			free(p->q[k].buf);
		free(p->q);
	}
	curl_multi_cleanup(t->multi);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

bool transport_url_ok(const char *url)
{
	size_t n = strlen(url);
	return n > 7 && n < TRANSPORT_URL_MAX &&
	       strncmp(url, "http://", 7) == 0 && !strpbrk(url, ",= \"\\\r\n");
}

/* A peer without an address that nothing uses: no POST of ours or its
 * in flight, no snapshot. Caller holds mu. */
static struct peer *idle_unaddressed(struct transport *t)
{
	for (size_t i = 0; i < t->npeers; i++) {
		struct peer *p = &t->peers[i];
		if (!p->url[0] && !p->replying && !p->busy && !p->snap &&
		    !p->snap_path[0])
			return p;
	}
	return NULL;
}

/* A new peer without an address (NULL when the table is full or memory
 * short). When full, an idle peer without an address makes room: those
 * come from POSTs alone, and must not crowd out the members the
 * configuration names. Caller holds mu. */
static struct peer *add_locked(struct transport *t, uint64_t id)
{
	assert(id && !find(t, id));
	struct peer *p = t->npeers < MAX_PEERS ? &t->peers[t->npeers]
					       : idle_unaddressed(t);
	if (!p)
		return NULL;
	if (p->q) {
		for (size_t k = 0; k < p->qn; k++)
			free(p->q[k].buf);
		atomic_fetch_add(&t->dropped, p->qn);
		p->qn = 0;
		log_info("raft: forgetting peer %" PRIu64
			 " (no address) for %" PRIu64,
			 p->id, id);
	} else if (!(p->q = calloc(t->o.queue_max, sizeof(*p->q)))) {
		return NULL;
	} else {
		t->npeers++;
	}
	p->id = id;
	p->url[0] = '\0';
	return p;
}

/* Caller holds mu. */
static int set_peer_locked(struct transport *t, uint64_t id, const char *url)
{
	if (!id || !transport_url_ok(url))
		return -EINVAL;
	struct peer *p = find(t, id);
	if (!p && !(p = add_locked(t, id)))
		return t->npeers == MAX_PEERS ? -ENOSPC : -ENOMEM;
	snprintf(p->url, sizeof(p->url), "%s", url);
	size_t n = strlen(p->url);
	while (n > 7 && p->url[n - 1] == '/')
		p->url[--n] = '\0';
	return 0;
}

int transport_set_peer(struct transport *t, uint64_t id, const char *url)
{
	pthread_mutex_lock(&t->mu);
	int rc = set_peer_locked(t, id, url);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int transport_peer_url(struct transport *t, uint64_t id, char *out, size_t cap)
{
	pthread_mutex_lock(&t->mu);
	struct peer *p = find(t, id);
	int rc = !p || !p->url[0]	 ? -ENOENT
		 : strlen(p->url) >= cap ? -ENOSPC
					 : 0;
	if (!rc)
		strcpy(out, p->url);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int transport_peers(struct transport *t, char *out, size_t cap)
{
	pthread_mutex_lock(&t->mu);
	size_t n = 0;
	int rc = 0;
	out[0] = '\0';
	for (size_t i = 0; i < t->npeers && !rc; i++) {
		if (!t->peers[i].url[0])
			continue;
		int w = snprintf(out + n, cap - n, "%s%" PRIu64 "=%s",
				 n ? "," : "", t->peers[i].id, t->peers[i].url);
		if (w < 0 || (size_t)w >= cap - n)
			rc = -ENOSPC;
		else
			n += (size_t)w;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int transport_merge_peers(struct transport *t, const char *table)
{
	int added = 0;
	pthread_mutex_lock(&t->mu);
	for (const char *p = table; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[TRANSPORT_URL_MAX + 24], *eq, *end;
		if (len >= sizeof(item)) {
			added = -EINVAL;
			break;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		p += len + (comma ? 1 : 0);
		eq = strchr(item, '=');
		errno = 0;
		unsigned long long id = eq ? strtoull(item, &end, 10) : 0;
		if (!eq || end != eq || errno || !id ||
		    !transport_url_ok(eq + 1)) {
			added = -EINVAL;
			break;
		}
		const struct peer *known = find(t, id);
		if ((!known || !known->url[0]) &&
		    set_peer_locked(t, id, eq + 1) == 0)
			added++;
	}
	pthread_mutex_unlock(&t->mu);
	return added;
}

void transport_send(struct transport *t, const struct raft_msg *m)
{
	assert(t && m);
	size_t len = raft_msg_size(m);
	uint8_t *buf = malloc(len);
	if (!buf) {
		atomic_fetch_add(&t->dropped, 1);
		return;
	}
	/* raft_msg_size is the exact size: the encoding always fits. */
	int rc = raft_msg_encode(m, buf, len);
	assert(rc == 0);
	pthread_mutex_lock(&t->mu);
	struct peer *p = find(t, m->to);
	if (!p || p->qn == t->o.queue_max) {
		pthread_mutex_unlock(&t->mu);
		free(buf);
		atomic_fetch_add(&t->dropped, 1);
		return;
	}
	p->q[p->qn++] = (struct qmsg){buf, len};
	bool wake = post_due(p);
	pthread_mutex_unlock(&t->mu);
	if (wake)
		curl_multi_wakeup(t->multi);
}

void transport_send_snapshot(struct transport *t, const struct raft_msg *m,
			     const char *path)
{
	assert(t && m && m->type == RAFT_MSG_SNAPSHOT && path);
	size_t len = raft_msg_size(m);
	uint8_t *buf = malloc(len);
	char *hex = malloc(2 * len + 1);
	bool ok = buf && hex && 2 * len < MSG_HEX_MAX &&
		  raft_msg_encode(m, buf, len) == 0 &&
		  strlen(path) < sizeof(((struct peer *)0)->snap_path);
	for (size_t i = 0; ok && i < len; i++)
		sprintf(hex + 2 * i, "%02x", buf[i]);
	free(buf);
	pthread_mutex_lock(&t->mu);
	struct peer *p = find(t, m->to);
	ok = ok && p && !p->snap && !p->snap_path[0];
	if (ok) {
		strcpy(p->snap_path, path);
		p->snap_hex = hex;
	}
	pthread_mutex_unlock(&t->mu);
	if (!ok) {
		free(hex);
		t->cb.snapshot_done(t->cb.arg, m->to, false);
		return;
	}
	curl_multi_wakeup(t->multi);
}

void transport_snapshot_consumed(struct transport *t)
{
	atomic_store(&t->receiving, false);
}

void transport_counts(struct transport *t, struct transport_counts *out)
{
	out->sent = atomic_load(&t->sent);
	out->received = atomic_load(&t->received);
	out->dropped = atomic_load(&t->dropped);
	out->posts = atomic_load(&t->posts);
	out->failed_posts = atomic_load(&t->failed_posts);
	out->answers = atomic_load(&t->answers);
	out->snapshots_sent = atomic_load(&t->snaps_sent);
	out->snapshots_received = atomic_load(&t->snaps_received);
}

/* Inbound. */

enum in_kind { IN_MSGS = 1, IN_SNAPSHOT };

/* A POST of messages waits for the node to step them (suspended) so
 * that its answer carries the node's reply to their sender. */
enum in_answer { ANSWER_NONE, ANSWER_WAIT, ANSWER_READY };

struct inbound {
	enum in_kind kind;
	enum in_answer answer;
	bool orphan; /* the request ended while the node held it */
	uint64_t from;
	struct MHD_Connection *c;
	uint8_t *body; /* IN_MSGS */
	size_t len, cap;
	int fd;			      /* IN_SNAPSHOT */
	struct transport_batch *snap; /* its message, decoded */
	bool failed;
	const char *why;
	unsigned code;
	struct transport *t;
};

void transport_batch_free(struct transport_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		raft_msg_release(&b->msgs[i]);
	free(b->msgs);
	free(b->bytes);
	free(b);
}

/* A batch of the n messages in bytes: framed (each after its u32 LE
 * length, n counted by the caller) or one message alone. On success the
 * batch owns bytes; else -EINVAL (a message does not decode) or
 * -ENOMEM. */
static int decode_msgs(uint8_t *bytes, size_t len, size_t n, bool framed,
		       struct transport_batch **out)
{
	struct transport_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->msgs = calloc(n ? n : 1, sizeof(*b->msgs));
	if (!b->msgs) {
		free(b);
		return -ENOMEM;
	}
	for (size_t off = 0; b->n < n; b->n++) {
		size_t l = len;
		if (framed) {
			l = le_get32(bytes + off);
			off += 4;
		}
		/* A failed decode releases what it allocated itself. */
		int rc = raft_msg_decode(bytes + off, l, &b->msgs[b->n]);
		if (rc) {
			transport_batch_free(b); /* bytes stay the caller's */
			return rc;
		}
		off += l;
	}
	b->bytes = bytes;
	*out = b;
	return 0;
}

/* Decodes (u32 LE length ‖ raft_msg_encode)*: -EINVAL for bad framing or
 * a message that does not decode, -ENOMEM. On success the batch owns
 * bytes. */
static int decode_batch(uint8_t *bytes, size_t len,
			struct transport_batch **out)
{
	size_t n = 0;
	for (size_t off = 0; off < len; n++) {
		if (len - off < 4)
			return -EINVAL;
		size_t l = le_get32(bytes + off);
		off += 4;
		if (l > len - off)
			return -EINVAL;
		off += l;
	}
	return decode_msgs(bytes, len, n, true, out);
}

static int unhex(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s);
	if (n % 2 || n > MSG_HEX_MAX)
		return -EINVAL;
	uint8_t *b = malloc(n / 2 + 1);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(b);
			return -EINVAL;
		}
		b[i] = (uint8_t)v;
	}
	*out = b;
	*len = n / 2;
	return 0;
}

static void fail(struct inbound *in, unsigned code, const char *why)
{
	if (!in->failed) {
		in->failed = true;
		in->code = code;
		in->why = why;
	}
}

/* Whether size bytes fit on the disk the snapshot goes to with 64 MiB to
 * spare: an upload is refused before its bytes fill the disk the index
 * and the log need too. */
static bool room_for(const struct transport *t, uint64_t size)
{
	char dir[sizeof(t->incoming)];
	snprintf(dir, sizeof(dir), "%s", t->incoming);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	struct statvfs vs;
	if (statvfs(slash ? dir : ".", &vs))
		return false;
	uint64_t avail = (uint64_t)vs.f_bavail * vs.f_frsize;
	return avail >= 64u << 20 && size <= avail - (64u << 20);
}

static enum MHD_Result begin(struct transport *t, struct MHD_Connection *c,
			     const char *url, const char *method, void **state)
{
	if (strcmp(method, "POST") != 0)
		return http_reply_text(c, 405, "raft endpoints take POST");
	enum in_kind kind = strcmp(url, "/_/raft/msgs") == 0	   ? IN_MSGS
			    : strcmp(url, "/_/raft/snapshot") == 0 ? IN_SNAPSHOT
								   : 0;
	if (!kind)
		return http_reply_text(c, 404, "no such raft endpoint");
	const char *cl = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t size = 0;
	if (!cl || httphdr_content_length(cl, &size) ||
	    (kind == IN_MSGS && size > BODY_MAX))
		return http_reply_text(c, 413,
				       "raft body too large or "
				       "without a Content-Length");
	if (kind == IN_SNAPSHOT && !room_for(t, size))
		return http_reply_text(c, 507,
				       "snapshot larger than the free disk");
	struct inbound *in = calloc(1, sizeof(*in));
	if (!in)
		return MHD_NO;
	in->kind = kind;
	in->t = t;
	in->fd = -1;
	in->c = c;
	const char *from =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Raft-From");
	in->from = from ? strtoull(from, NULL, 10) : 0;
	*state = in;
	if (kind == IN_MSGS) {
		in->cap = (size_t)size;
		in->body = malloc(in->cap ? in->cap : 1);
		if (!in->body)
			fail(in, 503, "out of memory");
		return MHD_YES;
	}
	const char *hex =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Raft-Msg");
	uint8_t *msg = NULL;
	size_t msglen = 0;
	if (!hex || unhex(hex, &msg, &msglen) ||
	    decode_msgs(msg, msglen, 1, false, &in->snap)) {
		free(msg);
		fail(in, 400, "bad X-Raft-Msg");
		return MHD_YES;
	}
	if (in->snap->msgs[0].type != RAFT_MSG_SNAPSHOT) {
		fail(in, 400, "X-Raft-Msg is not a snapshot message");
		return MHD_YES;
	}
	bool idle = false;
	if (!atomic_compare_exchange_strong(&t->receiving, &idle, true)) {
		fail(in, 503, "another snapshot is being received");
		return MHD_YES;
	}
	in->fd = open(t->incoming, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0644);
	if (in->fd < 0) {
		log_error("raft: %s: %s", t->incoming, strerror(errno));
		atomic_store(&t->receiving, false);
		fail(in, 500, "cannot write the snapshot");
	}
	return MHD_YES;
}

static void take(struct inbound *in, const char *data, size_t n)
{
	if (in->failed)
		return;
	if (in->kind == IN_MSGS) {
		if (n > in->cap - in->len) {
			fail(in, 400, "body longer than its Content-Length");
			return;
		}
		memcpy(in->body + in->len, data, n);
		in->len += n;
		return;
	}
	while (n) {
		ssize_t w = write(in->fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("raft: writing the snapshot: %s",
				  strerror(errno));
			fail(in, 507, "cannot write the snapshot");
			return;
		}
		data += w;
		n -= (size_t)w;
	}
}

/* The node stepped the batch and queued its reply: answer with what is
 * queued for the sender (204 when nothing is). */
static enum MHD_Result answer(struct transport *t, struct MHD_Connection *c,
			      struct inbound *in)
{
	size_t bytes = 0, n = 0;
	uint8_t *body = NULL;
	pthread_mutex_lock(&t->mu);
	struct peer *p = find(t, in->from);
	bool more = false;
	if (p) {
		body = pack(p, &bytes, &n);
		p->replying--;
		more = post_due(p);
	}
	in->answer = ANSWER_NONE;
	pthread_mutex_unlock(&t->mu);
	if (more)
		curl_multi_wakeup(t->multi);
	if (!body)
		return http_reply_empty(c, 204);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		bytes, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		atomic_fetch_add(&t->dropped, n);
		return MHD_NO;
	}
	atomic_fetch_add(&t->sent, n);
	atomic_fetch_add(&t->answers, 1);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/octet-stream");
	enum MHD_Result ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* A batch the node must not step: a snapshot comes only with its upload
 * (stepping one without the file would install nothing, or what another
 * upload left), and a sender speaks only for itself. */
static const char *batch_refused(const struct transport_batch *b, uint64_t from)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->msgs[i].type == RAFT_MSG_SNAPSHOT)
			return "a snapshot comes through /_/raft/snapshot";
		if (b->msgs[i].from != from)
			return "a message from another member than X-Raft-From";
	}
	return NULL;
}

static enum MHD_Result end(struct transport *t, struct MHD_Connection *c,
			   struct inbound *in)
{
	if (in->failed)
		return http_reply_text(c, in->code, "%s", in->why);
	if (in->kind == IN_MSGS) {
		if (in->answer == ANSWER_READY)
			return answer(t, c, in);
		struct transport_batch *b;
		int rc = decode_batch(in->body, in->len, &b);
		if (rc == -ENOMEM)
			return http_reply_text(c, 503, "out of memory");
		if (rc)
			return http_reply_text(c, 400, "malformed raft batch");
		const char *why = batch_refused(b, in->from);
		if (why) {
			transport_batch_free(b); /* frees in->body too */
			in->body = NULL;
			return http_reply_text(c, 400, "%s", why);
		}
		atomic_fetch_add(&t->received, b->n);
		in->body = NULL; /* b has it */
		pthread_mutex_lock(&t->mu);
		struct peer *p = find(t, in->from);
		if (!p && in->from)
			p = add_locked(t, in->from);
		if (p) {
			p->replying++;
			in->answer = ANSWER_WAIT;
			MHD_suspend_connection(c);
		}
		pthread_mutex_unlock(&t->mu);
		t->cb.on_msgs(t->cb.arg, b,
			      p ? (struct transport_reply *)in : NULL);
		return p ? MHD_YES : http_reply_empty(c, 204);
	}
	int rc = fsync(in->fd);
	close(in->fd);
	in->fd = -1;
	if (rc)
		return http_reply_text(c, 507, "cannot sync the snapshot");
	atomic_fetch_add(&t->snaps_received, 1);
	struct transport_batch *snap = in->snap;
	in->snap = NULL;
	const char *why = NULL;
	if (t->cb.on_snapshot(t->cb.arg, snap, &why))
		return http_reply_text(c, 400, "snapshot refused: %s", why);
	return http_reply_empty(c, 204);
}

enum MHD_Result transport_http(struct transport *t, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *upload, size_t *upload_size,
			       void **state)
{
	struct inbound *in = *state;
	if (!in)
		return begin(t, c, url, method, state);
	if (*upload_size) {
		take(in, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return end(t, c, in);
}

void transport_reply(struct transport *t, struct transport_reply *reply)
{
	assert(t && reply);
	struct inbound *in = (struct inbound *)reply;
	pthread_mutex_lock(&t->mu);
	if (in->orphan) {
		pthread_mutex_unlock(&t->mu);
		free(in->body);
		free(in);
		return;
	}
	in->answer = ANSWER_READY;
	MHD_resume_connection(in->c);
	pthread_mutex_unlock(&t->mu);
}

void transport_http_done(void *state)
{
	struct inbound *in = state;
	if (!in)
		return;
	if (in->kind == IN_MSGS) {
		struct transport *t = in->t;
		pthread_mutex_lock(&t->mu);
		struct peer *p =
			in->answer != ANSWER_NONE ? find(t, in->from) : NULL;
		if (p)
			p->replying--;
		bool more = p && post_due(p);
		/* The node still holds it: transport_reply frees it. */
		bool held = in->answer == ANSWER_WAIT;
		in->orphan = held;
		in->answer = ANSWER_NONE;
		pthread_mutex_unlock(&t->mu);
		if (more)
			curl_multi_wakeup(t->multi);
		if (held)
			return;
	}
	if (in->fd >= 0) {
		close(in->fd);
		/* An upload cut short frees the slot for the next one. */
		atomic_store(&in->t->receiving, false);
	} else if (in->kind == IN_SNAPSHOT && in->snap && !in->failed) {
		atomic_store(&in->t->receiving, false);
	}
	free(in->body);
	transport_batch_free(in->snap);
	free(in);
}
