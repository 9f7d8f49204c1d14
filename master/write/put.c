#include "master/write/put.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/httpc.h"
#include "common/httperr.h"
#include "common/key.h"
#include "common/log.h"
#include "common/md5.h"
#include "common/sign.h"
#include "master/write/keylock.h"

/* A stalled replica fails the PUT after this long without progress. */
#define STALL_SECONDS 60L
/* Idle connections each fan-out thread keeps open to the volumes. */
#define MAX_IDLE_CONNECTIONS 256L
/* A value up to this size is uploaded once the whole body is here, as
 * libcurl's in-memory POST fields: request line, headers and body leave
 * in one send, so each volume wakes once per PUT instead of twice. */
#define SMALL_PUT (64u * 1024)
/* Easy handles each fan-out thread keeps for reuse: creating and freeing
 * three per PUT was a tenth of the fan-out thread's time. */
#define HANDLE_POOL 192

struct target {
	struct put *p;
	CURL *h;
	uint32_t id;
	char addr[IDX_ADDR_MAX];
	uint64_t rpos; /* bytes handed to libcurl */
	bool paused;
	bool done;
	CURLcode cc;
	long code;
	char md5hex[2 * MD5_LEN + 1];
	struct httpc_signed sig;
};

struct fanout;

struct put {
	pthread_mutex_t mu;
	int refs;
	bool owns_lock;
	char key[KEY_MAX + 1];
	size_t keylen;
	uint64_t size; /* PUT_SIZE_UNKNOWN until a chunked body ends */
	uint64_t max;
	bool md5sum;
	struct md5 md5; /* fed by put_feed, in body order */
	long connect_timeout_ms;
	struct commit *cm;
	struct purge *pg;
	struct put_io io;
	bool io_on;
	unsigned nkeep;
	uint32_t keep[CMD_MAX_VOLS];

	uint8_t *ring;
	size_t cap;
	uint64_t wpos; /* bytes received from the client (and hashed) */
	bool small;    /* SMALL_PUT: uploaded whole, once it is all here */
	bool chunked;  /* no Content-Length: targets set up once it starts */
	bool ended;    /* the whole body is here (put_finish) */
	bool started;  /* the transfers were added to the multi */
	bool waiting;  /* the HTTP layer is suspended */
	bool failed;   /* a replica failed, or the body is too big: stop */
	bool toobig;   /* a chunked body went past max */
	bool aborted;  /* the client went away */
	bool finished; /* status is final */
	unsigned status;
	char why[256];

	/* Owned by the fan-out thread until the transfers end. */
	struct fanout *f;
	struct put *next;
	unsigned running;
	/* The index command that settles the PUT (CMD_PUT, or the purge of
	 * partial copies), and the status to answer after a purge. */
	struct commit_req cr;
	unsigned final;

	unsigned n;
	struct target t[CMD_MAX_VOLS];
};

/* A fan-out thread drives the uploads of many PUTs at once through one
 * libcurl multi handle, whose connection cache keeps the TCP connections
 * to the volumes alive from one PUT to the next: a 4 KiB PUT then costs
 * three requests on open connections, not a thread, a multi handle and
 * three connects (and three threads accepted on the volumes). */
struct fanout {
	pthread_t thread;
	CURLM *multi;
	pthread_mutex_t mu;
	struct put *incoming; /* started, not yet added to the multi */
	struct put *retry;    /* failed to commit: purge their copies */
	unsigned puts;	      /* started and not yet finished */
	bool stopping;
	CURL *pool[HANDLE_POOL]; /* reset handles, under mu */
	unsigned npool;
	/* Fan-out thread only: small PUTs whose body is still arriving,
	 * and PUTs whose transfers run. */
	struct put *pending;
	struct put *active;
};

#define FANOUTS 2

static struct fanout fanouts[FANOUTS];
static unsigned nfanouts;
static atomic_uint next_fanout;
static atomic_uint active_puts;
static struct curl_slist *put_headers;

unsigned put_active(void)
{
	return atomic_load(&active_puts);
}

/* A handle for a new transfer: a reset one from the pool, or a new one. */
static CURL *handle_get(struct fanout *f)
{
	pthread_mutex_lock(&f->mu);
	CURL *h = f->npool ? f->pool[--f->npool] : NULL;
	pthread_mutex_unlock(&f->mu);
	return h ? h : curl_easy_init();
}

/* Takes back a handle that is in no multi. Any thread. */
static void handle_put(struct fanout *f, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&f->mu);
	bool kept = f->npool < HANDLE_POOL;
	if (kept)
		f->pool[f->npool++] = h;
	pthread_mutex_unlock(&f->mu);
	if (!kept)
		curl_easy_cleanup(h);
}

static void unref(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	assert(p->refs > 0);
	int left = --p->refs;
	pthread_mutex_unlock(&p->mu);
	if (left)
		return;
	for (unsigned i = 0; i < p->n; i++)
		if (p->t[i].h)
			handle_put(p->f, p->t[i].h);
	if (p->owns_lock)
		keylock_release(p->key, p->keylen);
	md5_discard(&p->md5);
	pthread_mutex_destroy(&p->mu);
	free(p->ring);
	free(p);
}

/* The lowest position some replica still needs. Called locked. */
static uint64_t low_water(const struct put *p)
{
	uint64_t low = p->wpos;
	for (unsigned i = 0; i < p->n; i++)
		if (!p->t[i].done && p->t[i].rpos < low)
			low = p->t[i].rpos;
	return low;
}

/* Resumes the HTTP layer when it waits and may go on. Called locked. */
static void maybe_resume(struct put *p)
{
	if (!p->waiting || !p->io_on)
		return;
	size_t used = (size_t)(p->wpos - low_water(p));
	if (p->finished || p->cap - used >= p->cap / 2) {
		p->waiting = false;
		p->io.resume(p->io.arg);
	}
}

static size_t read_body(char *dst, size_t size, size_t nitems, void *arg)
{
	struct target *t = arg;
	struct put *p = t->p;
	size_t want = size * nitems;
	pthread_mutex_lock(&p->mu);
	if (p->failed || p->aborted) {
		pthread_mutex_unlock(&p->mu);
		return CURL_READFUNC_ABORT;
	}
	uint64_t avail = p->wpos - t->rpos;
	if (avail == 0 && p->ended) {
		pthread_mutex_unlock(&p->mu);
		return 0; /* the end of a body sent chunked */
	}
	if (avail == 0) {
		t->paused = true;
		pthread_mutex_unlock(&p->mu);
		return CURL_READFUNC_PAUSE;
	}
	size_t off = (size_t)(t->rpos % p->cap);
	size_t n = want;
	if (n > avail)
		n = (size_t)avail;
	if (n > p->cap - off)
		n = p->cap - off;
	memcpy(dst, p->ring + off, n);
	t->rpos += n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

static size_t read_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct target *t = arg;
	size_t len = size * nitems;
	static const char name[] = "Content-Md5:";
	size_t nl = sizeof(name) - 1;
	if (len > nl && strncasecmp(line, name, nl) == 0) {
		const char *v = line + nl;
		size_t vl = len - nl;
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
			      v[vl - 1] == ' '))
			vl--;
		if (vl == 2 * MD5_LEN) {
			memcpy(t->md5hex, v, vl);
			t->md5hex[vl] = '\0';
		}
	}
	return len;
}

/* Sets up t's upload of a body of `size` bytes (PUT_SIZE_UNKNOWN: sent
 * chunked). */
static int setup_target(struct put *p, struct target *t, uint64_t size)
{
	char path[KEY_PCT_MAX], url[IDX_ADDR_MAX + sizeof(path) + 16];
	if (key_pct_encode(p->key, p->keylen, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	snprintf(url, sizeof(url), "http://%s%s", t->addr, path);
	t->h = handle_get(p->f);
	if (!t->h)
		return -ENOMEM;
	CURL *h = t->h;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	bool chunked = size == PUT_SIZE_UNKNOWN;
	if (p->small) {
		/* The ring holds the whole body from its start: nothing was
		 * consumed, so it never wrapped. */
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)size);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, (char *)p->ring);
	} else {
		/* Without a size libcurl sends the body chunked. */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 chunked ? (curl_off_t)-1 : (curl_off_t)size);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(h, CURLOPT_READDATA, t);
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpc_discard);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER,
			 httpc_sign_before(&t->sig, put_headers, "PUT", url,
					   chunked ? SIGN_CHUNKED : size,
					   NULL));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
	/* Big buffers for big values; libcurl's 16 KiB floor for small. */
	long buf = size < 512 * 1024 ? (long)size : 512L * 1024;
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, buf);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)t);
	return 0;
}

/* A chunked PUT's transfers, set up when it starts: with the body's size
 * when it ended while gathered (small again when it is), else chunked.
 * A target that cannot be set up counts as a failed replica. Fan-out
 * thread. */
static void setup_targets(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	uint64_t size = p->ended ? p->size : PUT_SIZE_UNKNOWN;
	p->small = size <= SMALL_PUT;
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		if (setup_target(p, t, size) == 0)
			continue;
		pthread_mutex_lock(&p->mu);
		t->done = true;
		t->cc = CURLE_OUT_OF_MEMORY;
		p->failed = true;
		pthread_mutex_unlock(&p->mu);
	}
}

/* Whether a PUT still being gathered may start its transfers, or settle
 * without them: a small one once its body is all here, a chunked one
 * once it ended or filled the ring, any other at once. Called locked. */
static bool ready(const struct put *p)
{
	if (p->aborted || p->failed || p->ended)
		return true;
	if (p->chunked)
		return p->wpos == p->cap;
	return !p->small || p->wpos == p->size;
}

/* Decides the answer once every transfer ended; returns the md5 to
 * record through out. */
static unsigned judge(struct put *p, uint8_t *out)
{
	char hex[2 * MD5_LEN + 1] = "";
	for (unsigned i = 0; i < p->n; i++) {
		const struct target *t = &p->t[i];
		if (t->cc != CURLE_OK) {
			snprintf(p->why, sizeof(p->why), "volume %s failed: %s",
				 t->addr, curl_easy_strerror(t->cc));
			return 502;
		}
		if (t->code != 201) {
			snprintf(p->why, sizeof(p->why),
				 "volume %s answered %ld", t->addr, t->code);
			return t->code == 507 ? 507 : 502;
		}
	}
	if (p->md5sum) {
		/* Every replica took the whole body, so put_feed hashed all
		 * of it and will not touch the hash again. */
		uint8_t ours[MD5_LEN];
		md5_final(&p->md5, ours);
		md5_hex(ours, hex);
	}
	for (unsigned i = 0; i < p->n; i++) {
		const struct target *t = &p->t[i];
		if (!t->md5hex[0])
			continue;
		if (!hex[0])
			memcpy(hex, t->md5hex, sizeof(hex));
		if (strcasecmp(hex, t->md5hex) != 0) {
			snprintf(p->why, sizeof(p->why),
				 "volume %s stored md5 %s, expected %s",
				 t->addr, t->md5hex, hex);
			return 502;
		}
	}
	if (!hex[0] || md5_from_hex(hex, out)) {
		snprintf(p->why, sizeof(p->why), "no md5 for the value");
		return 502;
	}
	return 201;
}

/* Publishes the answer. Runs on the fan-out or the commit thread. */
static void finish(struct put *p, unsigned status)
{
	if (status != 201)
		log_warn("put %s: %u %s", p->key, status, p->why);
	/* The volumes are settled: the next writer of the key may start
	 * before the client has even read this answer. */
	keylock_release(p->key, p->keylen);
	struct fanout *f = p->f;
	pthread_mutex_lock(&p->mu);
	p->owns_lock = false;
	p->status = status;
	p->finished = true;
	maybe_resume(p);
	pthread_mutex_unlock(&p->mu);
	unref(p);
	atomic_fetch_sub(&active_puts, 1);
	/* The last PUT out lets a stopping fan-out thread exit; it checks
	 * under f->mu, so f outlives this. */
	pthread_mutex_lock(&f->mu);
	if (--f->puts == 0 && f->stopping)
		curl_multi_wakeup(f->multi);
	pthread_mutex_unlock(&f->mu);
}

static void purged(struct commit_req *cr)
{
	struct put *p = cr->arg;
	if (cr->result)
		log_error("put %s: queueing the purge of partial copies "
			  "failed: %s",
			  p->key, strerror(-cr->result));
	purge_poke(p->pg);
	finish(p, p->final);
}

/* Queues the copies this failed PUT may have left for purge, then
 * answers `status`. Fan-out thread only (it submits). */
static void purge_copies(struct put *p, unsigned status)
{
	struct cmd c = {
		.type = CMD_PURGE_ADD, .key = p->key, .keylen = p->keylen};
	for (unsigned i = 0; i < p->n; i++) {
		bool keep = false;
		for (unsigned j = 0; j < p->nkeep; j++)
			keep |= p->keep[j] == p->t[i].id;
		if (!keep)
			c.vols[c.nvols++] = p->t[i].id;
	}
	long len = c.nvols ? cmd_encode(&c, p->cr.cmd, sizeof(p->cr.cmd)) : 0;
	if (len <= 0) {
		finish(p, status);
		return;
	}
	p->final = status;
	p->cr.len = (size_t)len;
	p->cr.done = purged;
	p->cr.arg = p;
	commit_submit(p->cm, &p->cr);
}

/* Commit thread: the CMD_PUT is applied (or not). It must not submit, so
 * a failure goes back to the fan-out thread to purge the copies. */
static void recorded(struct commit_req *cr)
{
	struct put *p = cr->arg;
	int rc = cr->result;
	if (rc == 0) {
		finish(p, 201);
		return;
	}
	snprintf(p->why, sizeof(p->why), "index commit failed: %s",
		 strerror(-rc));
	/* Raft outcomes (master/repl/node.h) are transient 503s: the client
	 * retries. */
	p->final = httperr_status(rc);
	struct fanout *f = p->f;
	pthread_mutex_lock(&f->mu);
	p->next = f->retry;
	f->retry = p;
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
}

/* Every transfer of p ended: record the key, or purge and refuse.
 * Fan-out thread; the commit runs while the thread drives other PUTs. */
static void settle(struct put *p)
{
	for (unsigned i = 0; p->started && i < p->n; i++)
		if (p->t[i].h)
			curl_multi_remove_handle(p->f->multi, p->t[i].h);
	pthread_mutex_lock(&p->mu);
	bool aborted = p->aborted, toobig = p->toobig;
	uint64_t size = p->size;
	pthread_mutex_unlock(&p->mu);
	uint8_t md5[MD5_LEN];
	unsigned status;
	/* Too big first: the HTTP layer may have cut such a client off
	 * since. */
	if (toobig) {
		status = 413;
		snprintf(p->why, sizeof(p->why),
			 "value larger than -max-value");
	} else if (aborted) {
		status = 400;
		snprintf(p->why, sizeof(p->why), "client went away");
	} else if (size == 0) {
		status = 411;
		snprintf(p->why, sizeof(p->why), "PUT needs a non-empty body");
	} else {
		status = judge(p, md5);
	}
	if (status != 201) {
		/* A PUT that ended before its transfers started (a small or
		 * chunked one still being gathered) sent nothing: there is
		 * nothing to purge. */
		if (p->started)
			purge_copies(p, status);
		else
			finish(p, status);
		return;
	}
	struct cmd c = {.type = CMD_PUT,
			.key = p->key,
			.keylen = p->keylen,
			.size = size,
			.created_ms = clock_wall_ms(),
			.nvols = p->n};
	memcpy(c.md5, md5, MD5_LEN);
	for (unsigned i = 0; i < p->n; i++)
		c.vols[i] = p->t[i].id;
	long len = cmd_encode(&c, p->cr.cmd, sizeof(p->cr.cmd));
	if (len < 0) {
		snprintf(p->why, sizeof(p->why), "command does not encode");
		purge_copies(p, 500);
		return;
	}
	p->cr.len = (size_t)len;
	p->cr.done = recorded;
	p->cr.arg = p;
	commit_submit(p->cm, &p->cr);
}

static void finish_transfers(struct fanout *f)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(f->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct target *t;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&t);
		CURLcode cc = m->data.result;
		long code = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
				  &code);
		struct put *p = t->p;
		pthread_mutex_lock(&p->mu);
		t->done = true;
		t->cc = cc;
		t->code = code;
		if (cc != CURLE_OK || code != 201)
			p->failed = true;
		pthread_mutex_unlock(&p->mu);
		p->running--;
	}
}

static void start_transfers(struct fanout *f, struct put *p)
{
	pthread_mutex_lock(&p->mu);
	p->started = true;
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++) {
		if (p->t[i].done)
			continue; /* set up failed: judged as failed */
		if (curl_multi_add_handle(f->multi, p->t[i].h) == CURLM_OK) {
			p->running++;
			continue;
		}
		/* Counts as a failed replica: judged as one. */
		pthread_mutex_lock(&p->mu);
		p->t[i].done = true;
		p->t[i].cc = CURLE_OUT_OF_MEMORY;
		p->failed = true;
		pthread_mutex_unlock(&p->mu);
	}
}

/* Moves newly started PUTs into the multi (a small one once its body is
 * all here) and takes the failed commits back. Returns false once the
 * thread should exit. */
static bool take_work(struct fanout *f, struct put **retry)
{
	pthread_mutex_lock(&f->mu);
	struct put *in = f->incoming;
	*retry = f->retry;
	f->incoming = NULL;
	f->retry = NULL;
	bool go = !f->stopping || f->puts;
	pthread_mutex_unlock(&f->mu);
	while (in) {
		struct put *p = in;
		in = in->next;
		p->next = f->pending;
		f->pending = p;
	}
	for (struct put **pp = &f->pending; *pp;) {
		struct put *p = *pp;
		pthread_mutex_lock(&p->mu);
		bool wait = !ready(p);
		bool send = !p->aborted && !p->failed && p->size != 0;
		bool chunked = p->chunked;
		pthread_mutex_unlock(&p->mu);
		if (wait) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		/* A chunked body's transfers take the size if it is known by
		 * now. One abandoned, refused or empty before it started
		 * sends nothing: straight to settle. */
		if (send && chunked)
			setup_targets(p);
		if (send)
			start_transfers(f, p);
		p->next = f->active;
		f->active = p;
	}
	return go;
}

static void *fanout_main(void *arg)
{
	pthread_setname_np(pthread_self(), "put-fanout");
	struct fanout *f = arg;
	struct put *retry;
	while (take_work(f, &retry)) {
		while (retry) {
			struct put *p = retry;
			retry = p->next;
			purge_copies(p, p->final);
		}
		/* Unpause replicas that have new bytes, or must see the
		 * failure; unpausing may call read_body at once. */
		for (struct put *p = f->active; p; p = p->next) {
			CURL *resume[CMD_MAX_VOLS];
			unsigned nresume = 0;
			pthread_mutex_lock(&p->mu);
			for (unsigned i = 0; i < p->n; i++) {
				struct target *t = &p->t[i];
				if (t->paused &&
				    (t->rpos < p->wpos || p->ended ||
				     p->failed || p->aborted)) {
					t->paused = false;
					resume[nresume++] = t->h;
				}
			}
			pthread_mutex_unlock(&p->mu);
			for (unsigned i = 0; i < nresume; i++)
				curl_easy_pause(resume[i], CURLPAUSE_CONT);
		}
		int running;
		curl_multi_perform(f->multi, &running);
		finish_transfers(f);
		for (struct put **pp = &f->active; *pp;) {
			struct put *p = *pp;
			if (p->running) {
				pthread_mutex_lock(&p->mu);
				maybe_resume(p);
				pthread_mutex_unlock(&p->mu);
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			settle(p);
		}
		curl_multi_poll(f->multi, NULL, 0, 1000, NULL);
	}
	return NULL;
}

int put_system_start(void)
{
	/* Volumes take the body right away; waiting for 100-continue would
	 * cost a round trip per replica. A small PUT goes as POST fields,
	 * which would otherwise say they are a form. */
	put_headers = curl_slist_append(NULL, "Expect:");
	struct curl_slist *l =
		put_headers ? curl_slist_append(put_headers, "Content-Type:")
			    : NULL;
	if (!l) {
		curl_slist_free_all(put_headers);
		put_headers = NULL;
		return -ENOMEM;
	}
	for (nfanouts = 0; nfanouts < FANOUTS; nfanouts++) {
		struct fanout *f = &fanouts[nfanouts];
		*f = (struct fanout){0};
		f->multi = curl_multi_init();
		if (!f->multi)
			break;
		curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS,
				  MAX_IDLE_CONNECTIONS);
		pthread_mutex_init(&f->mu, NULL);
		if (pthread_create(&f->thread, NULL, fanout_main, f)) {
			pthread_mutex_destroy(&f->mu);
			curl_multi_cleanup(f->multi);
			break;
		}
	}
	if (nfanouts == FANOUTS)
		return 0;
	put_system_stop();
	return -ENOMEM;
}

void put_system_stop(void)
{
	for (unsigned i = 0; i < nfanouts; i++) {
		struct fanout *f = &fanouts[i];
		pthread_mutex_lock(&f->mu);
		f->stopping = true;
		pthread_mutex_unlock(&f->mu);
		curl_multi_wakeup(f->multi);
	}
	for (unsigned i = 0; i < nfanouts; i++) {
		struct fanout *f = &fanouts[i];
		pthread_join(f->thread, NULL);
		while (f->npool)
			curl_easy_cleanup(f->pool[--f->npool]);
		pthread_mutex_destroy(&f->mu);
		curl_multi_cleanup(f->multi);
	}
	nfanouts = 0;
	curl_slist_free_all(put_headers);
	put_headers = NULL;
}

int put_start(const struct put_params *pp, struct put **out)
{
	bool chunked = pp->size == PUT_SIZE_UNKNOWN;
	if (pp->n == 0 || pp->n > CMD_MAX_VOLS || pp->size == 0 ||
	    (chunked && pp->max == 0) || pp->keylen > KEY_MAX || !nfanouts)
		return -EINVAL;
	struct put *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	p->refs = 2;
	p->owns_lock = true;
	memcpy(p->key, pp->key, pp->keylen);
	p->keylen = pp->keylen;
	p->size = pp->size;
	p->max = pp->max;
	p->chunked = chunked;
	p->md5sum = pp->md5sum;
	p->connect_timeout_ms = pp->connect_timeout_ms;
	p->cm = pp->cm;
	p->pg = pp->pg;
	p->io = pp->io;
	p->io_on = true;
	p->nkeep = pp->nkeep;
	memcpy(p->keep, pp->keep, sizeof(p->keep[0]) * pp->nkeep);
	/* A chunked body is gathered in SMALL_PUT bytes at first: most are
	 * small. */
	p->cap = chunked		   ? SMALL_PUT
		 : pp->size < PUT_RING_MAX ? (size_t)pp->size
					   : PUT_RING_MAX;
	p->small = !chunked && pp->size <= SMALL_PUT;
	p->ring = malloc(p->cap);
	p->n = pp->n;
	struct fanout *f =
		&fanouts[atomic_fetch_add(&next_fanout, 1) % nfanouts];
	p->f = f;
	int rc = p->ring ? 0 : -ENOMEM;
	if (!rc && p->md5sum)
		rc = md5_init(&p->md5);
	for (unsigned i = 0; !rc && i < p->n; i++) {
		struct target *t = &p->t[i];
		t->p = p;
		t->id = pp->ids[i];
		snprintf(t->addr, sizeof(t->addr), "%s", pp->addrs[i]);
		if (!chunked)
			rc = setup_target(p, t, p->size);
	}
	if (rc) {
		/* No fan-out thread saw it and the caller keeps its lock. */
		p->refs = 1;
		p->owns_lock = false;
		unref(p);
		return rc;
	}
	atomic_fetch_add(&active_puts, 1);
	pthread_mutex_lock(&f->mu);
	f->puts++;
	p->next = f->incoming;
	f->incoming = p;
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
	*out = p;
	return 0;
}

size_t put_feed(struct put *p, const char *data, size_t len)
{
	assert(p && (data || !len));
	pthread_mutex_lock(&p->mu);
	assert(p->wpos <= p->size);
	if (p->failed || p->finished) {
		pthread_mutex_unlock(&p->mu);
		return len;
	}
	if (p->chunked && len > p->max - p->wpos) {
		/* Past -max-value: the PUT fails now and keeps nothing; the
		 * rest of the body is dropped as it comes. */
		p->toobig = true;
		p->failed = true;
		pthread_mutex_unlock(&p->mu);
		curl_multi_wakeup(p->f->multi);
		return len;
	}
	size_t all = len;
	uint64_t room = p->size - p->wpos;
	if (len > room)
		len = (size_t)room; /* MHD enforces Content-Length */
	/* A chunked body about to fill its first ring gets a full one, before
	 * the ring is full and so before the transfers can start: nothing
	 * reads it yet. Without the memory, the small ring serves (and the
	 * body streams from SMALL_PUT bytes on). */
	if (p->chunked && !p->started && p->cap < PUT_RING_MAX &&
	    len >= p->cap - p->wpos) {
		uint8_t *ring = realloc(p->ring, PUT_RING_MAX);
		if (ring) {
			p->ring = ring;
			p->cap = PUT_RING_MAX;
		}
	}
	size_t space = p->cap - (size_t)(p->wpos - low_water(p));
	size_t n = len < space ? len : space;
	uint64_t from = p->wpos;
	pthread_mutex_unlock(&p->mu);
	/* Only this thread writes past wpos and readers stop at it, so the
	 * copy and the hash need no lock; the body arrives in order, so
	 * hashing here keeps them off the fan-out thread. */
	if (p->md5sum && n)
		md5_update(&p->md5, data, n);
	size_t done = 0;
	while (done < n) {
		size_t off = (size_t)((from + done) % p->cap);
		size_t c = n - done;
		if (c > p->cap - off)
			c = p->cap - off;
		memcpy(p->ring + off, data + done, c);
		done += c;
	}
	pthread_mutex_lock(&p->mu);
	p->wpos += n;
	/* A PUT being gathered starts once ready: earlier bytes give the
	 * fan-out thread nothing to do. */
	bool wake = n && (p->started || ready(p));
	if (n < len) {
		p->waiting = true;
		p->io.suspend(p->io.arg);
		/* Space the replicas freed while the lock was dropped woke
		 * no one: look again. */
		maybe_resume(p);
	}
	pthread_mutex_unlock(&p->mu);
	if (wake)
		curl_multi_wakeup(p->f->multi);
	return n < len ? n : all;
}

bool put_finish(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	/* Once: the fan-out thread starts a gathered body now, or lets its
	 * chunked transfers see the end. */
	bool wake = !p->ended;
	if (!p->ended && p->chunked)
		p->size = p->wpos;
	p->ended = true;
	bool answered = p->finished;
	if (!answered) {
		p->waiting = true;
		p->io.suspend(p->io.arg);
	}
	pthread_mutex_unlock(&p->mu);
	if (wake)
		curl_multi_wakeup(p->f->multi);
	return answered;
}

unsigned put_status(struct put *p, const char **why)
{
	pthread_mutex_lock(&p->mu);
	unsigned s = p->status;
	pthread_mutex_unlock(&p->mu);
	*why = p->why;
	return s;
}

void put_detach(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	p->io_on = false;
	if (!p->finished)
		p->aborted = true;
	pthread_mutex_unlock(&p->mu);
	curl_multi_wakeup(p->f->multi);
	unref(p);
}
