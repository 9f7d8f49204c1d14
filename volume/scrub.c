/* Scrub and corrupt-key reports: re-reads every live record and checks it
 * against its header and the keydir, so bit rot is found before a client
 * reads it, and keeps the set of keys found bad (by a scrub or by a GET's
 * check) for a master to pull.
 *
 * A pass walks the keydir one shard at a time, copying that shard's keys
 * out first so that no lock is held during disk reads; each record is then
 * read through a dup()ed descriptor, which stays valid even if merge
 * replaces the segment meanwhile. Passes run one at a time: on the scrub
 * thread (background passes at opt.scrub_rate, and those bc_scrub_start
 * asks for) or on a bc_scrub caller.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "volume/bitcask_int.h"
#include "volume/record.h"

#define READ_BUF (1u << 20)

/* Between two background passes: a store of a few records must not make
 * the thread spin, and a big one hardly notices a second. */
#define PAUSE_MS 1000

/* ---- corrupt-key reports ---- */

/* Logs one line about a bad record, the key JSON-escaped so that no byte
 * of it can break the line. */
static void log_bad(enum log_level lvl, struct bc *bc, const char *key,
		    uint16_t klen, const struct keydir_loc *loc,
		    const char *why, const char *outcome)
{
	struct buf k = {0};
	buf_json_string(&k, key, klen);
	log_msg(lvl,
		"bitcask %s: corrupt record: key %s in segment %08u at %llu: "
		"%s; %s",
		bc->dir, buf_failed(&k) ? "(no memory)" : k.data, loc->seg,
		(unsigned long long)loc->off, why, outcome);
	buf_free(&k);
}

void bc_report_corrupt(struct bc *bc, const char *key, uint16_t klen,
		       const struct keydir_loc *loc, const char *why)
{
	/* Announced before the keydir is read: a write that replaces the key
	 * after that read sees it and takes cset_mu to remove the report
	 * (see bc_forget_corrupt). */
	atomic_fetch_add(&bc->cset_adding, 1);
	pthread_mutex_lock(&bc->cset_mu);
	struct keydir_loc now;
	int rc = keydir_get(bc->kd, key, klen, &now, NULL, NULL);
	/* A record the key no longer points at is no copy a master keeps. */
	bool current = rc == 0 && now.seg == loc->seg && now.gen == loc->gen &&
		       now.off == loc->off;
	uint64_t seq = 0;
	if (current)
		rc = corrupt_add(bc->cset, key, klen, loc->size, why, &seq);
	atomic_store(&bc->cset_count, corrupt_count(bc->cset));
	pthread_mutex_unlock(&bc->cset_mu);
	atomic_fetch_sub(&bc->cset_adding, 1);
	char outcome[64];
	if (!current)
		log_bad(LOG_LEVEL_WARN, bc, key, klen, loc, why,
			"the key was rewritten meanwhile");
	else if (rc < 0)
		log_bad(LOG_LEVEL_ERROR, bc, key, klen, loc, why,
			"not reported: out of memory");
	else if (rc == 1) {
		snprintf(outcome, sizeof(outcome), "reported as %llu",
			 (unsigned long long)seq);
		log_bad(LOG_LEVEL_ERROR, bc, key, klen, loc, why, outcome);
	}
	/* rc == 0: reported and logged before; once is enough. */
}

bool bc_is_corrupt(struct bc *bc, const char *key, uint16_t klen)
{
	if (!atomic_load(&bc->cset_adding) && !atomic_load(&bc->cset_count))
		return false;
	pthread_mutex_lock(&bc->cset_mu);
	bool has = corrupt_has(bc->cset, key, klen);
	pthread_mutex_unlock(&bc->cset_mu);
	return has;
}

void bc_forget_corrupt(struct bc *bc, const char *key, uint16_t klen)
{
	/* The common case, a store with nothing reported, costs two loads. */
	if (!atomic_load(&bc->cset_adding) && !atomic_load(&bc->cset_count))
		return;
	pthread_mutex_lock(&bc->cset_mu);
	corrupt_remove(bc->cset, key, klen);
	atomic_store(&bc->cset_count, corrupt_count(bc->cset));
	pthread_mutex_unlock(&bc->cset_mu);
}

int bc_corrupt_next(struct bc *bc, uint64_t *since, uint64_t until, size_t max,
		    corrupt_fn fn, void *arg)
{
	assert(bc && since && fn && max > 0);
	pthread_mutex_lock(&bc->cset_mu);
	corrupt_list(bc->cset, *since, until, max, fn, arg, since);
	bool more = *since < until && *since < corrupt_seq(bc->cset);
	pthread_mutex_unlock(&bc->cset_mu);
	return more ? 1 : 0;
}

uint64_t bc_corrupt_seq(struct bc *bc, uint64_t *dropped)
{
	assert(bc && dropped);
	pthread_mutex_lock(&bc->cset_mu);
	uint64_t seq = corrupt_seq(bc->cset);
	*dropped = corrupt_dropped_seq(bc->cset);
	pthread_mutex_unlock(&bc->cset_mu);
	return seq;
}

/* ---- scrub passes ---- */

struct pass {
	struct bc *bc;
	bool threaded; /* on the scrub thread: paced, stopped by close */
	uint64_t start_us;
	uint64_t bytes; /* read so far */
	long bad;
	uint8_t *rbuf;
};

static void count_bytes(struct pass *p, uint64_t n)
{
	p->bytes += n;
	atomic_fetch_add(&p->bc->scrub_bytes, n);
	atomic_fetch_add(&p->bc->scrub_bytes_total, n);
}

/* Keeps a background pass to opt.scrub_rate bytes per second on average
 * since it began, unless bc_scrub_start lifted the limit. Returns
 * -ECANCELED once bc_close wants the thread to end. */
static int pace(struct pass *p)
{
	struct bc *bc = p->bc;
	if (!p->threaded)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&bc->scrub_mu);
	for (;;) {
		if (bc->scrub_stop) {
			rc = -ECANCELED;
			break;
		}
		if (bc->scrub_fast || !bc->opt.scrub_rate)
			break;
		uint64_t due =
			p->start_us + (uint64_t)((double)p->bytes * 1e6 /
						 (double)bc->opt.scrub_rate);
		uint64_t now = clock_mono_us();
		if (now >= due)
			break;
		struct timespec ts = clock_deadline_ms((due - now) / 1000 + 1);
		pthread_cond_timedwait(&bc->scrub_cv, &bc->scrub_mu, &ts);
	}
	pthread_mutex_unlock(&bc->scrub_mu);
	return rc;
}

/* Checks one record the keydir points at. Returns 0 if it is sound or
 * gone, 1 if it is bad (reported), or a negative errno when the pass
 * must stop. */
static int check_one(struct pass *p, const char *key, uint16_t klen)
{
	struct bc *bc = p->bc;
	struct keydir_loc loc;
	int fd;
	int rc = bc_lookup(bc, key, klen, &loc, &fd);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	uint8_t head[REC_HDR_SIZE + KEY_MAX];
	uint64_t voff = loc.off + REC_HDR_SIZE + klen;
	struct rec_verify v;
	const char *why = NULL;
	if (bc_pread_all(fd, head, REC_HDR_SIZE + klen, loc.off))
		why = "unreadable header";
	else
		why = rec_verify_begin(&v, head, key, klen, loc.size, loc.md5);
	count_bytes(p, REC_HDR_SIZE + klen);
	struct md5 m;
	if (!why && (rc = md5_init(&m)) == 0) {
		for (uint64_t done = 0; !rc && !why && done < loc.size;) {
			size_t n = loc.size - done < READ_BUF
					   ? (size_t)(loc.size - done)
					   : READ_BUF;
			if (bc_pread_all(fd, p->rbuf, n, voff + done)) {
				why = "unreadable value";
				break;
			}
			rec_verify_update(&v, p->rbuf, n);
			md5_update(&m, p->rbuf, n);
			done += n;
			count_bytes(p, n);
			rc = pace(p);
		}
		uint8_t digest[MD5_LEN];
		md5_final(&m, digest);
		if (!rc && !why)
			why = rec_verify_end(&v);
		if (!rc && !why && memcmp(digest, loc.md5, MD5_LEN) != 0)
			why = "md5 mismatch";
	}
	close(fd);
	if (rc)
		return rc;
	atomic_fetch_add(&bc->scrub_records, 1);
	if (!why)
		return 0;
	atomic_fetch_add(&bc->scrub_bad, 1);
	atomic_fetch_add(&bc->scrub_errors, 1);
	bc_report_corrupt(bc, key, klen, &loc, why);
	return 1;
}

static void collect(void *arg, const char *key, size_t klen,
		    const struct keydir_loc *loc)
{
	struct buf *b = arg;
	(void)loc;
	uint16_t k16 = (uint16_t)klen;
	buf_append(b, &k16, sizeof(k16));
	buf_append(b, key, klen);
}

/* One pass over every live record. Returns the bad records found or a
 * negative errno. */
static long run_pass(struct pass *p)
{
	int rc = 0;
	p->rbuf = malloc(READ_BUF);
	if (!p->rbuf)
		return -ENOMEM;
	for (unsigned s = 0; !rc && s < KEYDIR_SHARDS; s++) {
		struct buf keys = {0};
		keydir_walk(p->bc->kd, s, NULL, 0, collect, &keys);
		if (buf_failed(&keys))
			rc = -ENOMEM;
		for (size_t at = 0; !rc && at < keys.len;) {
			uint16_t klen;
			memcpy(&klen, keys.data + at, sizeof(klen));
			int r = check_one(p, keys.data + at + sizeof(klen),
					  klen);
			if (r < 0)
				rc = r;
			else
				p->bad += r;
			at += sizeof(klen) + klen;
			if (!rc)
				rc = pace(p);
		}
		buf_free(&keys);
	}
	free(p->rbuf);
	return rc ? rc : p->bad;
}

/* Claims the one pass slot, so that the status shows the pass from now
 * on; called with scrub_mu held. */
static void claim(struct bc *bc)
{
	assert(!bc->scrub_running);
	bc->scrub_running = true;
	atomic_store(&bc->scrub_records, 0);
	atomic_store(&bc->scrub_bytes, 0);
	atomic_store(&bc->scrub_bad, 0);
}

/* Gives the slot back; called with scrub_mu held. A pass that did not
 * finish is not counted. */
static void pass_end(struct bc *bc, struct pass *p, long rc)
{
	bc->scrub_running = false;
	bc->scrub_fast = false;
	if (rc >= 0) {
		bc->scrub_passes++;
		bc->scrub_last_pass_ms = (clock_mono_us() - p->start_us) / 1000;
	} else if (rc != -ECANCELED) {
		log_error("bitcask %s: scrub pass failed: %s", bc->dir,
			  strerror((int)-rc));
	}
	pthread_cond_broadcast(&bc->scrub_cv);
}

long bc_scrub(struct bc *bc)
{
	assert(bc);
	struct pass p;
	pthread_mutex_lock(&bc->scrub_mu);
	while (bc->scrub_running)
		pthread_cond_wait(&bc->scrub_cv, &bc->scrub_mu);
	claim(bc);
	p = (struct pass){.bc = bc, .start_us = clock_mono_us()};
	pthread_mutex_unlock(&bc->scrub_mu);
	long rc = run_pass(&p);
	pthread_mutex_lock(&bc->scrub_mu);
	pass_end(bc, &p, rc);
	pthread_mutex_unlock(&bc->scrub_mu);
	return rc;
}

bool bc_scrub_start(struct bc *bc)
{
	assert(bc);
	pthread_mutex_lock(&bc->scrub_mu);
	bool start = !bc->scrub_running;
	/* The thread runs it, but it is running from here on, so a status
	 * read right after the answer already shows it. */
	if (start) {
		claim(bc);
		bc->scrub_requested = true;
	}
	bc->scrub_fast = true;
	pthread_cond_broadcast(&bc->scrub_cv);
	pthread_mutex_unlock(&bc->scrub_mu);
	return start;
}

static void *scrub_main(void *arg)
{
	pthread_setname_np(pthread_self(), "bc-scrub");
	struct bc *bc = arg;
	uint64_t due = clock_mono_us(); /* first background pass at once */
	pthread_mutex_lock(&bc->scrub_mu);
	while (!bc->scrub_stop) {
		bool background = bc->opt.scrub_rate && !bc->scrub_running &&
				  clock_mono_us() >= due;
		if (!bc->scrub_requested && !background) {
			if (bc->opt.scrub_rate && !bc->scrub_running) {
				uint64_t now = clock_mono_us();
				struct timespec ts = clock_deadline_ms(
					due > now ? (due - now) / 1000 + 1 : 0);
				pthread_cond_timedwait(&bc->scrub_cv,
						       &bc->scrub_mu, &ts);
			} else {
				pthread_cond_wait(&bc->scrub_cv, &bc->scrub_mu);
			}
			continue;
		}
		/* A requested pass already holds the slot (bc_scrub_start). */
		if (!bc->scrub_requested)
			claim(bc);
		bc->scrub_requested = false;
		struct pass p = {.bc = bc,
				 .threaded = true,
				 .start_us = clock_mono_us()};
		pthread_mutex_unlock(&bc->scrub_mu);
		long rc = run_pass(&p);
		pthread_mutex_lock(&bc->scrub_mu);
		pass_end(bc, &p, rc);
		due = clock_mono_us() + PAUSE_MS * 1000;
	}
	pthread_mutex_unlock(&bc->scrub_mu);
	return NULL;
}

int bc_scrubber_start(struct bc *bc)
{
	int rc = pthread_create(&bc->scrub_thread, NULL, scrub_main, bc);
	bc->scrub_thread_running = rc == 0;
	return -rc;
}

void bc_scrubber_stop(struct bc *bc)
{
	if (!bc->scrub_thread_running)
		return;
	pthread_mutex_lock(&bc->scrub_mu);
	bc->scrub_stop = true;
	pthread_cond_broadcast(&bc->scrub_cv);
	pthread_mutex_unlock(&bc->scrub_mu);
	pthread_join(bc->scrub_thread, NULL);
	bc->scrub_thread_running = false;
}
