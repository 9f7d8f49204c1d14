#include "master/put.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/key.h"
#include "common/log.h"
#include "common/md5.h"
#include "master/keylock.h"

/* A stalled replica fails the PUT after this long without progress. */
#define STALL_SECONDS 60L

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
};

struct put {
	pthread_mutex_t mu;
	int refs;
	bool owns_lock;
	char key[KEY_MAX + 1];
	size_t keylen;
	uint64_t size;
	bool md5sum;
	long connect_timeout_ms;
	struct commit *cm;
	struct purge *pg;
	struct put_io io;
	bool io_on;
	unsigned nkeep;
	uint32_t keep[CMD_MAX_VOLS];

	uint8_t *ring;
	size_t cap;
	uint64_t wpos;	 /* bytes received from the client */
	uint64_t md5pos; /* bytes hashed */
	bool waiting;	 /* the HTTP layer is suspended */
	bool failed;	 /* a replica failed: stop uploading */
	bool aborted;	 /* the client went away */
	bool finished;	 /* status is final */
	unsigned status;
	char why[256];

	CURLM *multi;
	unsigned n;
	struct target t[CMD_MAX_VOLS];
};

static atomic_uint active_puts;

unsigned put_active(void)
{
	return atomic_load(&active_puts);
}

static void unref(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	int left = --p->refs;
	pthread_mutex_unlock(&p->mu);
	if (left)
		return;
	for (unsigned i = 0; i < p->n; i++)
		if (p->t[i].h)
			curl_easy_cleanup(p->t[i].h);
	if (p->multi)
		curl_multi_cleanup(p->multi);
	if (p->owns_lock)
		keylock_release(p->key, p->keylen);
	pthread_mutex_destroy(&p->mu);
	free(p->ring);
	free(p);
}

/* The lowest position some consumer still needs. Called locked. */
static uint64_t low_water(const struct put *p)
{
	uint64_t low = p->md5sum ? p->md5pos : p->wpos;
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

static size_t discard(char *ptr, size_t size, size_t nitems, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nitems;
}

static struct curl_slist *no_expect;
static pthread_once_t no_expect_once = PTHREAD_ONCE_INIT;

static void make_no_expect(void)
{
	/* Volumes take the body right away; waiting for 100-continue would
	 * cost a round trip per replica. */
	no_expect = curl_slist_append(NULL, "Expect:");
}

static int setup_target(struct put *p, struct target *t)
{
	char path[3 * KEY_MAX + 1], url[IDX_ADDR_MAX + sizeof(path) + 16];
	if (key_pct_encode(p->key, p->keylen, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	snprintf(url, sizeof(url), "http://%s%s", t->addr, path);
	t->h = curl_easy_init();
	if (!t->h)
		return -ENOMEM;
	CURL *h = t->h;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)p->size);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
	curl_easy_setopt(h, CURLOPT_READDATA, t);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, no_expect);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)t);
	return curl_multi_add_handle(p->multi, h) == CURLM_OK ? 0 : -ENOMEM;
}

static void finish_transfers(struct put *p)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(p->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct target *t;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&t);
		CURLcode cc = m->data.result;
		long code = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
				  &code);
		pthread_mutex_lock(&p->mu);
		t->done = true;
		t->cc = cc;
		t->code = code;
		if (cc != CURLE_OK || code != 201)
			p->failed = true;
		pthread_mutex_unlock(&p->mu);
	}
}

/* Runs the uploads to the end. */
static void transfer(struct put *p, struct md5 *m)
{
	int running = (int)p->n;
	while (running) {
		CURL *resume[CMD_MAX_VOLS];
		unsigned nresume = 0;
		pthread_mutex_lock(&p->mu);
		for (unsigned i = 0; i < p->n; i++) {
			struct target *t = &p->t[i];
			if (t->paused &&
			    (t->rpos < p->wpos || p->failed || p->aborted)) {
				t->paused = false;
				resume[nresume++] = t->h;
			}
		}
		uint64_t from = p->md5pos, to = p->wpos;
		pthread_mutex_unlock(&p->mu);
		/* Unpausing may call read_body at once: not under the lock. */
		for (unsigned i = 0; i < nresume; i++)
			curl_easy_pause(resume[i], CURLPAUSE_CONT);
		if (p->md5sum && to > from) {
			/* [from, to) stays put until md5pos moves. */
			while (from < to) {
				size_t off = (size_t)(from % p->cap);
				size_t n = (size_t)(to - from);
				if (n > p->cap - off)
					n = p->cap - off;
				md5_update(m, p->ring + off, n);
				from += n;
			}
			pthread_mutex_lock(&p->mu);
			p->md5pos = to;
			pthread_mutex_unlock(&p->mu);
		}
		curl_multi_perform(p->multi, &running);
		finish_transfers(p);
		pthread_mutex_lock(&p->mu);
		maybe_resume(p);
		pthread_mutex_unlock(&p->mu);
		if (running)
			curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
	}
}

/* Decides the answer once every transfer ended; returns the md5 to
 * record through out. */
static unsigned judge(struct put *p, const uint8_t *ours, uint8_t *out)
{
	char hex[2 * MD5_LEN + 1] = "";
	if (ours)
		md5_hex(ours, hex);
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

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned record(struct put *p, const uint8_t *md5)
{
	struct cmd c = {.type = CMD_PUT,
			.key = p->key,
			.keylen = p->keylen,
			.size = p->size,
			.created_ms = now_ms(),
			.nvols = p->n};
	memcpy(c.md5, md5, MD5_LEN);
	for (unsigned i = 0; i < p->n; i++)
		c.vols[i] = p->t[i].id;
	int rc = commit_run(p->cm, &c);
	if (rc == 0)
		return 201;
	snprintf(p->why, sizeof(p->why), "index commit failed: %s",
		 strerror(-rc));
	return rc == -EEXIST ? 403 : 500;
}

static void purge_copies(struct put *p)
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
	if (!c.nvols)
		return;
	int rc = commit_run(p->cm, &c);
	if (rc)
		log_error("put %s: queueing the purge of partial copies "
			  "failed: %s",
			  p->key, strerror(-rc));
	purge_poke(p->pg);
}

static void *worker(void *arg)
{
	struct put *p = arg;
	struct md5 m;
	bool hashing = p->md5sum && md5_init(&m) == 0;
	if (p->md5sum && !hashing) {
		pthread_mutex_lock(&p->mu);
		p->failed = true;
		pthread_mutex_unlock(&p->mu);
		snprintf(p->why, sizeof(p->why), "out of memory");
	}
	transfer(p, &m);
	uint8_t ours[MD5_LEN], md5[MD5_LEN];
	if (hashing)
		md5_final(&m, ours);
	pthread_mutex_lock(&p->mu);
	bool aborted = p->aborted;
	pthread_mutex_unlock(&p->mu);
	unsigned status;
	if (aborted) {
		status = 400;
		snprintf(p->why, sizeof(p->why), "client went away");
	} else if (p->md5sum && !hashing) {
		status = 500;
	} else {
		status = judge(p, hashing ? ours : NULL, md5);
	}
	if (status == 201)
		status = record(p, md5);
	if (status != 201) {
		log_warn("put %s: %u %s", p->key, status, p->why);
		purge_copies(p);
	}
	/* The volumes are settled: the next writer of the key may start
	 * before the client has even read this answer. */
	keylock_release(p->key, p->keylen);
	pthread_mutex_lock(&p->mu);
	p->owns_lock = false;
	p->status = status;
	p->finished = true;
	maybe_resume(p);
	pthread_mutex_unlock(&p->mu);
	atomic_fetch_sub(&active_puts, 1);
	unref(p);
	return NULL;
}

int put_start(const struct put_params *pp, struct put **out)
{
	pthread_once(&no_expect_once, make_no_expect);
	if (pp->n == 0 || pp->n > CMD_MAX_VOLS || pp->size == 0 ||
	    pp->keylen > KEY_MAX || !no_expect)
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
	p->md5sum = pp->md5sum;
	p->connect_timeout_ms = pp->connect_timeout_ms;
	p->cm = pp->cm;
	p->pg = pp->pg;
	p->io = pp->io;
	p->io_on = true;
	p->nkeep = pp->nkeep;
	memcpy(p->keep, pp->keep, sizeof(p->keep[0]) * pp->nkeep);
	p->cap = pp->size < PUT_RING_MAX ? (size_t)pp->size : PUT_RING_MAX;
	p->ring = malloc(p->cap);
	p->multi = curl_multi_init();
	p->n = pp->n;
	int rc = p->ring && p->multi ? 0 : -ENOMEM;
	for (unsigned i = 0; !rc && i < p->n; i++) {
		struct target *t = &p->t[i];
		t->p = p;
		t->id = pp->ids[i];
		snprintf(t->addr, sizeof(t->addr), "%s", pp->addrs[i]);
		rc = setup_target(p, t);
	}
	pthread_t th;
	pthread_attr_t attr;
	if (!rc) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		atomic_fetch_add(&active_puts, 1);
		rc = -pthread_create(&th, &attr, worker, p);
		pthread_attr_destroy(&attr);
		if (rc)
			atomic_fetch_sub(&active_puts, 1);
	}
	if (rc) {
		/* The worker never ran and the caller keeps its lock. */
		p->refs = 1;
		p->owns_lock = false;
		for (unsigned i = 0; i < p->n; i++)
			if (p->t[i].h)
				curl_multi_remove_handle(p->multi, p->t[i].h);
		unref(p);
		return rc;
	}
	*out = p;
	return 0;
}

size_t put_feed(struct put *p, const char *data, size_t len)
{
	pthread_mutex_lock(&p->mu);
	if (p->failed || p->finished) {
		pthread_mutex_unlock(&p->mu);
		return len;
	}
	size_t all = len;
	uint64_t room = p->size - p->wpos;
	if (len > room)
		len = (size_t)room; /* MHD enforces Content-Length */
	size_t space = p->cap - (size_t)(p->wpos - low_water(p));
	size_t n = len < space ? len : space;
	size_t done = 0;
	while (done < n) {
		size_t off = (size_t)((p->wpos + done) % p->cap);
		size_t c = n - done;
		if (c > p->cap - off)
			c = p->cap - off;
		memcpy(p->ring + off, data + done, c);
		done += c;
	}
	p->wpos += n;
	if (n < len) {
		p->waiting = true;
		p->io.suspend(p->io.arg);
	}
	pthread_mutex_unlock(&p->mu);
	if (n)
		curl_multi_wakeup(p->multi);
	return n < len ? n : all;
}

bool put_finish(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	bool ready = p->finished;
	if (!ready) {
		p->waiting = true;
		p->io.suspend(p->io.arg);
	}
	pthread_mutex_unlock(&p->mu);
	return ready;
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
	curl_multi_wakeup(p->multi);
	unref(p);
}
