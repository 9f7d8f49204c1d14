#include "master/write/repair.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fetch.h"
#include "common/httpc.h"
#include "common/jsonl.h"
#include "common/key.h"
#include "common/log.h"
#include "common/md5.h"
#include "common/placement.h"
#include "master/write/keylock.h"

/* Keys handled per walk of the index, and commands per commit batch. */
#define BATCH 64
/* Largest /_/health answer read. */
#define HEALTH_MAX (64 * 1024)
/* A /_/keys line: a key escaped at worst 6 bytes per byte, and the rest. */
#define LINE_MAX_LEN (6 * KEY_MAX + 512)

/* What this master knows of one volume beyond the index. */
struct volstate {
	uint64_t down_since_ms; /* monotonic; 0 while it answers */
	uint64_t corrupt_seen;	/* reports taken up to this seq */
	bool corrupt_known;	/* corrupt_seen holds for this leadership */
	uint8_t run[MD5_LEN];	/* ... and for this run of the volume */
};

struct repair {
	struct move_deps d;
	struct repair_options o;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping; /* under mu */
	bool leading;
	uint64_t next_copy_us; /* throttle: no copy starts before it */
	struct volstate vol[VOL_MAX_ID + 1];
	atomic_uint_fast64_t under, queued, repaired, failed;
	/* A walk's batch of keys (the walk may not call the index). */
	size_t nbatch;
	size_t batchlen[BATCH];
	char batch[BATCH][KEY_MAX + 1];
	uint8_t batchmd5[BATCH][MD5_LEN];
	bool batchlost[BATCH]; /* the repair walk's: has a lost copy */
	/* The repair walk, resumed across rounds after walk_after. */
	bool walk_resume;
	size_t walk_afterlen;
	char walk_after[KEY_MAX + 1];
	uint64_t walk_under, walk_lost, walk_fixed;
};

static bool stopping(struct repair *rp)
{
	pthread_mutex_lock(&rp->mu);
	bool s = rp->stopping;
	pthread_mutex_unlock(&rp->mu);
	return s;
}

/* Sleeps up to ms unless stopped; true when stopping. */
static bool nap(struct repair *rp, uint64_t ms)
{
	struct timespec until = clock_deadline_ms(ms);
	pthread_mutex_lock(&rp->mu);
	if (!rp->stopping)
		pthread_cond_timedwait(&rp->cv, &rp->mu, &until);
	bool s = rp->stopping;
	pthread_mutex_unlock(&rp->mu);
	return s;
}

/* ---- what a volume says about itself ---- */

struct health {
	bool up;
	uint8_t ident[MD5_LEN]; /* md5 of its id ("" for a volume without) */
	uint8_t run[MD5_LEN];	/* md5 of its run id: reports are per run */
	bool has_seq;
	uint64_t corrupt_seq;
	uint64_t dropped_seq; /* newest report dropped unpulled */
};

/* The string value of "name":"..." in a JSON text (first occurrence). */
static size_t json_str(const char *s, const char *name, const char **val)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":\"", name);
	const char *p = strstr(s, pat);
	if (!p)
		return 0;
	p += strlen(pat);
	const char *q = strchr(p, '"');
	if (!q)
		return 0;
	*val = p;
	return (size_t)(q - p);
}

static bool json_u64(const char *s, const char *name, uint64_t *out)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	const char *p = strstr(s, pat);
	if (!p)
		return false;
	p += strlen(pat);
	if (*p < '0' || *p > '9')
		return false;
	*out = strtoull(p, NULL, 10);
	return true;
}

static void poll_health(struct repair *rp, const struct vol *v,
			struct health *h)
{
	char url[IDX_ADDR_MAX + 32];
	snprintf(url, sizeof(url), "http://%s/_/health", v->addr);
	struct fetch_resp resp = {0};
	memset(h, 0, sizeof(*h));
	int rc =
		fetch("GET", url, NULL, 0, rp->o.timeout_ms, HEALTH_MAX, &resp);
	h->up = rc == 0 && resp.code == 200;
	if (h->up) {
		buf_append(&resp.body, "", 1); /* NUL-terminated */
		const char *s = buf_failed(&resp.body) ? "" : resp.body.data;
		const char *id = "";
		size_t idlen = json_str(s, "id", &id);
		md5_buf(id, idlen, h->ident);
		const char *run = "";
		size_t runlen = json_str(s, "run", &run);
		md5_buf(run, runlen, h->run);
		h->has_seq = json_u64(s, "corrupt_seq", &h->corrupt_seq);
		json_u64(s, "corrupt_dropped_seq", &h->dropped_seq);
	}
	buf_free(&resp.body);
}

/* ---- identity ---- */

static int commit_vol(struct repair *rp, enum cmd_type type, uint32_t vol,
		      uint8_t state, const uint8_t ident[MD5_LEN])
{
	struct cmd c = {
		.type = type, .nvols = 1, .vols = {vol}, .state = state};
	if (ident)
		memcpy(c.md5, ident, MD5_LEN);
	return commit_run(rp->d.cm, &c);
}

/* Confirms the volume's identity against the index (recording it when
 * leading). Returns whether the index now holds it, and its standing. */
static bool check_identity(struct repair *rp, const struct vol *v,
			   const struct health *h, struct idx_vol_health *ih)
{
	int rc = idx_vol_health(rp->d.ix, v->id, ih);
	bool same = rc == 0 && memcmp(ih->ident, h->ident, MD5_LEN) == 0;
	/* Nothing recorded contradicts it (a new cluster, a follower
	 * before the leader's record arrives). */
	bool unknown = rc == -ENOENT;
	if (!same && rp->leading && rc != -EIO) {
		int cr = commit_vol(rp, CMD_VOL_IDENT, v->id, 0, h->ident);
		if (cr == 0 && rc == 0)
			log_warn("repair: volume %s has a new data directory: "
				 "its copies are unknown until verified",
				 v->addr);
		if (cr == 0)
			rc = idx_vol_health(rp->d.ix, v->id, ih);
		same = cr == 0 && rc == 0 &&
		       memcmp(ih->ident, h->ident, MD5_LEN) == 0;
	}
	vol_set_ident_ok(rp->d.vs, v->id, same || unknown);
	return same;
}

/* ---- verification of a volume whose identity changed ---- */

struct vent {
	uint8_t key[MD5_LEN]; /* md5 of the key */
	uint8_t md5[MD5_LEN];
	uint64_t size;
};

/* A GET whose NDJSON answer is handled a line at a time as it arrives,
 * so memory stays bounded whatever its length. fn returns 0 or a
 * negative errno that ends the transfer. */
struct lines {
	int (*fn)(void *arg, char *line, size_t len);
	void *arg;
	char line[LINE_MAX_LEN];
	size_t len;
	int rc;
};

static size_t lines_data(char *p, size_t size, size_t n, void *arg)
{
	struct lines *l = arg;
	size_t len = size * n;
	for (size_t i = 0; i < len && !l->rc; i++) {
		if (p[i] == '\n') {
			if (l->len)
				l->rc = l->fn(l->arg, l->line, l->len);
			l->len = 0;
		} else if (l->len == sizeof(l->line)) {
			l->rc = -EPROTO;
		} else {
			l->line[l->len++] = p[i];
		}
	}
	return l->rc ? 0 : len;
}

static int stream_lines(struct repair *rp, const char *url,
			int (*fn)(void *arg, char *line, size_t len), void *arg)
{
	struct lines *l = malloc(sizeof(*l));
	CURL *e = l ? curl_easy_init() : NULL;
	if (!e) {
		free(l);
		return -ENOMEM;
	}
	l->fn = fn;
	l->arg = arg;
	l->len = 0;
	l->rc = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, rp->o.timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, lines_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)l);
	struct httpc_signed sig;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER,
			 httpc_sign_before(&sig, NULL, "GET", url, 0, NULL));
	CURLcode cc = curl_easy_perform(e);
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	int rc = l->rc;
	if (!rc && (cc != CURLE_OK || code != 200))
		rc = cc != CURLE_OK ? httpc_errno((int)cc) : -EPROTO;
	if (!rc && l->len) /* a last line without its newline */
		rc = fn(arg, l->line, l->len);
	free(l);
	return rc;
}

/* The volume's GET /_/keys, sorted by key hash. */
struct listing {
	struct vent *e;
	size_t n, cap;
	struct vent cur;
	bool has_key;
};

static int vent_cmp(const void *a, const void *b)
{
	return memcmp(a, b, MD5_LEN);
}

static int listing_member(void *arg, const struct jsonl_member *m)
{
	struct listing *l = arg;
	if (jsonl_is(m, "key") && m->type == JSONL_STRING) {
		l->has_key = true;
		return md5_buf(m->str, m->len, l->cur.key);
	}
	if (jsonl_is(m, "size"))
		return jsonl_u64(m, &l->cur.size);
	if (jsonl_is(m, "md5") && m->type == JSONL_STRING &&
	    m->len == 2 * MD5_LEN) {
		char hex[2 * MD5_LEN + 1];
		memcpy(hex, m->str, m->len);
		hex[m->len] = '\0';
		return md5_from_hex(hex, l->cur.md5);
	}
	return 0;
}

static int listing_line(void *arg, char *line, size_t len)
{
	struct listing *l = arg;
	memset(&l->cur, 0, sizeof(l->cur));
	l->has_key = false;
	if (jsonl_parse(line, len, listing_member, l) || !l->has_key)
		return -EPROTO;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		if (cap > REPAIR_VERIFY_MAX)
			return -E2BIG;
		struct vent *e = realloc(l->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	l->e[l->n++] = l->cur;
	return 0;
}

static int list_volume(struct repair *rp, const struct vol *v,
		       struct listing *l)
{
	char url[IDX_ADDR_MAX + 32];
	snprintf(url, sizeof(url), "http://%s/_/keys", v->addr);
	int rc = stream_lines(rp, url, listing_line, l);
	if (!rc && l->n)
		qsort(l->e, l->n, sizeof(l->e[0]), vent_cmp);
	return rc;
}

struct verify_walk {
	struct repair *rp;
	uint32_t vol;
	const struct listing *l;
	const char *after; /* resume: skip keys up to and including it */
	size_t afterlen;
	uint64_t missing;
};

static void batch_add(struct repair *rp, const char *key, size_t keylen,
		      const uint8_t md5[MD5_LEN])
{
	assert(rp->nbatch < BATCH && keylen <= KEY_MAX);
	memcpy(rp->batch[rp->nbatch], key, keylen);
	rp->batchlen[rp->nbatch] = keylen;
	if (md5)
		memcpy(rp->batchmd5[rp->nbatch], md5, MD5_LEN);
	rp->nbatch++;
}

static bool names(const struct idx_record *r, uint32_t vol)
{
	for (unsigned i = 0; i < r->nvols; i++)
		if (r->vols[i] == vol)
			return true;
	return false;
}

static int verify_one(void *arg, const char *key, size_t keylen,
		      const struct idx_record *r)
{
	struct verify_walk *w = arg;
	struct repair *rp = w->rp;
	if (w->after && keylen == w->afterlen &&
	    memcmp(key, w->after, keylen) == 0)
		return 0;
	if (!names(r, w->vol))
		return 0;
	struct vent want = {.size = r->size};
	md5_buf(key, keylen, want.key);
	const struct vent *got = w->l->n ? bsearch(&want, w->l->e, w->l->n,
						   sizeof(want), vent_cmp)
					 : NULL;
	if (got && got->size == r->size &&
	    memcmp(got->md5, r->md5, MD5_LEN) == 0)
		return 0;
	batch_add(rp, key, keylen, r->md5);
	return rp->nbatch == BATCH;
}

/* Commits CMD_LOST for the batch's copies on vol. */
static int commit_lost(struct repair *rp, uint32_t vol, enum cmd_lost_why why)
{
	struct cmd c[BATCH];
	int res[BATCH];
	for (size_t i = 0; i < rp->nbatch; i++) {
		c[i] = (struct cmd){.type = CMD_LOST,
				    .key = rp->batch[i],
				    .keylen = rp->batchlen[i],
				    .state = (uint8_t)why,
				    .nvols = 1,
				    .vols = {vol}};
		memcpy(c[i].expect_md5, rp->batchmd5[i], MD5_LEN);
	}
	int rc = rp->nbatch ? commit_run_many(rp->d.cm, c, rp->nbatch, res) : 0;
	for (size_t i = 0; !rc && i < rp->nbatch; i++)
		if (res[i] && res[i] != -ESTALE)
			rc = res[i];
	return rc;
}

/* Compares the volume's listing with every record naming it: each copy
 * missing or different is marked lost, then the volume verified. Records
 * written to it during the walk may be marked lost too; that costs one
 * needless copy, never a read of missing bytes. */
static void verify(struct repair *rp, const struct vol *v,
		   const uint8_t ident[MD5_LEN])
{
	struct listing *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	int rc = list_volume(rp, v, l);
	if (rc) {
		log_warn("repair: volume %s: listing its keys failed (%s); "
			 "it stays unverified",
			 v->addr, strerror(-rc));
		goto out;
	}
	struct verify_walk w = {.rp = rp, .vol = v->id, .l = l};
	char after[KEY_MAX + 1];
	do {
		rp->nbatch = 0;
		rc = idx_records(rp->d.ix, w.after, w.afterlen, verify_one, &w);
		if (rc < 0)
			break;
		int cr = commit_lost(rp, v->id, CMD_LOST_MISSING);
		if (cr) {
			rc = cr;
			break;
		}
		w.missing += rp->nbatch;
		if (rc == 1) {
			size_t last = rp->nbatch - 1;
			memcpy(after, rp->batch[last], rp->batchlen[last]);
			w.after = after;
			w.afterlen = rp->batchlen[last];
		}
	} while (rc == 1 && !stopping(rp));
	if (rc) {
		if (rc < 0)
			log_warn("repair: volume %s: verification stopped: %s",
				 v->addr, strerror(-rc));
		goto out;
	}
	rc = commit_vol(rp, CMD_VOL_HEALTH, v->id, CMD_VH_VERIFIED, ident);
	if (rc == 0)
		log_info("repair: volume %s verified: %zu keys on it, %" PRIu64
			 " recorded copies missing or different",
			 v->addr, l->n, w.missing);
out:
	free(l->e);
	free(l);
}

/* ---- corrupt-record reports ---- */

struct report {
	uint64_t seq;
	const char *key;
	size_t keylen;
};

static int report_member(void *arg, const struct jsonl_member *m)
{
	struct report *r = arg;
	if (jsonl_is(m, "seq"))
		return jsonl_u64(m, &r->seq);
	if (jsonl_is(m, "key") && m->type == JSONL_STRING) {
		r->key = m->str;
		r->keylen = m->len;
	}
	return 0;
}

/* Marks the batch's copies on vol lost when the record still names it.
 * Returns whether the marks were committed. */
static bool take_reports(struct repair *rp, const struct vol *v)
{
	for (size_t i = 0; i < rp->nbatch; i++) {
		struct idx_record rec;
		if (idx_get(rp->d.ix, rp->batch[i], rp->batchlen[i], &rec) ||
		    !names(&rec, v->id)) {
			rp->batchlen[i] = 0; /* nothing to mark */
			continue;
		}
		memcpy(rp->batchmd5[i], rec.md5, MD5_LEN);
	}
	size_t n = 0;
	for (size_t i = 0; i < rp->nbatch; i++)
		if (rp->batchlen[i]) {
			if (n != i) {
				memcpy(rp->batch[n], rp->batch[i],
				       rp->batchlen[i]);
				memcpy(rp->batchmd5[n], rp->batchmd5[i],
				       MD5_LEN);
				rp->batchlen[n] = rp->batchlen[i];
			}
			n++;
		}
	rp->nbatch = n;
	int rc = commit_lost(rp, v->id, CMD_LOST_CORRUPT);
	for (size_t i = 0; !rc && i < n; i++)
		log_warn("repair: volume %s reported %.*s corrupt: that copy "
			 "is lost",
			 v->addr, (int)rp->batchlen[i], rp->batch[i]);
	rp->nbatch = 0;
	return rc == 0;
}

struct pull {
	struct repair *rp;
	const struct vol *v;
	uint64_t top;
	bool ok;
};

static int pull_line(void *arg, char *line, size_t len)
{
	struct pull *pl = arg;
	struct report r = {0};
	if (jsonl_parse(line, len, report_member, &r) || !r.key ||
	    r.keylen == 0 || r.keylen > KEY_MAX)
		return 0; /* not a report: skipped */
	batch_add(pl->rp, r.key, r.keylen, NULL);
	if (r.seq > pl->top)
		pl->top = r.seq;
	if (pl->rp->nbatch == BATCH)
		pl->ok &= take_reports(pl->rp, pl->v);
	return 0;
}

/* Pulls the reports after st->corrupt_seen, up to seq, streaming them
 * (a volume keeps up to 65536). */
static void pull_corrupt(struct repair *rp, const struct vol *v,
			 struct volstate *st, const struct health *h)
{
	if (!st->corrupt_known || memcmp(st->run, h->run, MD5_LEN) != 0 ||
	    h->corrupt_seq < st->corrupt_seen) {
		/* A new leadership, or a restarted volume (reports live in
		 * its memory): from the start. */
		st->corrupt_seen = 0;
		st->corrupt_known = true;
		memcpy(st->run, h->run, MD5_LEN);
	}
	if (h->corrupt_seq == st->corrupt_seen)
		return;
	if (h->dropped_seq > st->corrupt_seen) {
		/* Reports were dropped before they were pulled: a scrub
		 * finds those keys again and reports them anew. */
		char url[IDX_ADDR_MAX + 32];
		long code = 0;
		snprintf(url, sizeof(url), "http://%s/_/scrub", v->addr);
		httpc_request(NULL, "POST", url, rp->o.timeout_ms, &code);
		log_warn("repair: volume %s dropped corrupt-key reports "
			 "before they were pulled; asked it to scrub (%ld)",
			 v->addr, code);
	}
	char url[IDX_ADDR_MAX + 64];
	snprintf(url, sizeof(url), "http://%s/_/corrupt?since=%" PRIu64,
		 v->addr, st->corrupt_seen);
	struct pull pl = {rp, v, h->corrupt_seq, true};
	rp->nbatch = 0;
	int rc = stream_lines(rp, url, pull_line, &pl);
	pl.ok &= take_reports(rp, v);
	if (rc)
		log_warn("repair: volume %s: GET /_/corrupt failed: %s",
			 v->addr, strerror(-rc));
	/* Reports count as taken once their marks are committed; after a
	 * failure they are pulled again (marks are idempotent). */
	if (!rc && pl.ok)
		st->corrupt_seen = pl.top;
}

/* ---- one round over the volumes ---- */

static void check_volume(struct repair *rp, const struct vol *v)
{
	struct volstate *st = &rp->vol[v->id];
	struct health h;
	poll_health(rp, v, &h);
	uint64_t now = clock_mono_ms();
	if (!h.up) {
		vol_set_ident_ok(rp->d.vs, v->id, false);
		if (!rp->leading)
			return;
		if (!st->down_since_ms)
			st->down_since_ms = now;
		if (now - st->down_since_ms < (uint64_t)rp->o.after_ms)
			return;
		struct idx_vol_health ih;
		int rc = idx_vol_health(rp->d.ix, v->id, &ih);
		if (rc == -ENOENT) {
			/* Never seen up: an identity no volume shows, so
			 * that whatever comes back is verified first. */
			static const uint8_t none[MD5_LEN];
			if (commit_vol(rp, CMD_VOL_IDENT, v->id, 0, none) == 0)
				rc = idx_vol_health(rp->d.ix, v->id, &ih);
		}
		if (rc == 0 && !ih.dead &&
		    commit_vol(rp, CMD_VOL_HEALTH, v->id, CMD_VH_DEAD, NULL) ==
			    0)
			log_warn("repair: volume %s down for %" PRIu64
				 " ms: its copies count as lost",
				 v->addr, now - st->down_since_ms);
		return;
	}
	st->down_since_ms = 0;
	struct idx_vol_health ih;
	if (!check_identity(rp, v, &h, &ih) || !rp->leading)
		return;
	if (ih.dead &&
	    commit_vol(rp, CMD_VOL_HEALTH, v->id, CMD_VH_ALIVE, NULL) == 0)
		log_info("repair: volume %s is back with its data: its copies "
			 "that were not replaced count again",
			 v->addr);
	if (ih.unverified)
		verify(rp, v, h.ident);
	if (h.has_seq)
		pull_corrupt(rp, v, st, &h);
}

struct vol_list {
	size_t n;
	const struct vol *v[VOL_MAX_ID];
};

static void list_one(void *arg, const struct vol *v)
{
	struct vol_list *l = arg;
	l->v[l->n++] = v;
}

/* ---- the repair of one key ---- */

static void throttle(struct repair *rp)
{
	uint64_t now = clock_mono_us();
	if (rp->next_copy_us > now)
		nap(rp, (rp->next_copy_us - now + 999) / 1000);
	now = clock_mono_us();
	uint64_t step = 1000000u / (uint64_t)rp->o.rate;
	rp->next_copy_us =
		(rp->next_copy_us > now ? rp->next_copy_us : now) + step;
}

static bool readable(struct repair *rp, const struct vol *v)
{
	struct idx_vol_health ih;
	if (!v || !atomic_load(&v->healthy) || !atomic_load(&v->ident_ok))
		return false;
	int rc = idx_vol_health(rp->d.ix, v->id, &ih);
	return rc == -ENOENT || (rc == 0 && !ih.dead && !ih.unverified);
}

/* Repairs one key; returns whether every lost copy was replaced. */
static bool repair_key(struct repair *rp, const char *key, size_t keylen)
{
	if (keylock_try(key, keylen, KEYLOCK_CLIENT))
		return false; /* a write is in flight: next round */
	struct idx_record rec;
	struct idx_copies cp;
	bool done = false;
	const char *why = NULL;
	int rc = idx_get_copies(rp->d.ix, key, keylen, &rec, &cp);
	if (rc || !cp.lost) {
		done = rc == -ENOENT || (!rc && !cp.lost);
		goto out;
	}
	uint32_t bad = cp.lost | cp.unverified;
	bool source = false;
	for (unsigned i = 0; i < rec.nvols; i++)
		if (!(bad & (1u << i)) &&
		    readable(rp, vol_by_id(rp->d.vs, rec.vols[i])))
			source = true;
	if (!source) {
		why = "no good copy left to copy from";
		goto out;
	}
	/* Where placement would add copies to the ones that stay: a lost
	 * copy is replaced in a zone (then on a host) the survivors do not
	 * cover while there is one, never on a volume the record names or
	 * one that cannot be read. */
	const struct vol_active *act = vol_active(rp->d.vs);
	size_t *idx = malloc((3 * act->n + 1) * sizeof(*idx));
	size_t *keep = idx, *avoid = idx + act->n, *pick = idx + 2 * act->n;
	size_t nkeep = 0, navoid = 0;
	unsigned nlost = (unsigned)__builtin_popcount(cp.lost);
	int n = idx ? 0 : -ENOMEM;
	for (size_t j = 0; idx && j < act->n; j++) {
		const struct vol *t = act->v[j];
		int slot = -1;
		for (unsigned i = 0; i < rec.nvols; i++)
			if (rec.vols[i] == t->id)
				slot = (int)i;
		if (slot >= 0 && !(cp.lost & (1u << slot)))
			keep[nkeep++] = j;
		if (slot >= 0 || !readable(rp, t))
			avoid[navoid++] = j;
	}
	if (idx)
		n = placement_complete(key, keylen, act, act->n,
				       vol_active_addr, keep, nkeep, avoid,
				       navoid, nkeep + nlost, pick);
	uint32_t want[CMD_MAX_VOLS];
	const struct vol *miss[CMD_MAX_VOLS];
	unsigned nmiss = 0;
	memcpy(want, rec.vols, rec.nvols * sizeof(want[0]));
	for (unsigned i = 0; i < rec.nvols && (int)nmiss < n; i++) {
		if (!(cp.lost & (1u << i)))
			continue;
		miss[nmiss] = act->v[pick[nmiss]];
		want[i] = miss[nmiss++]->id;
	}
	free(idx);
	if (!nmiss) {
		why = n < 0 ? "out of memory" : "no volume to copy to";
		goto out;
	}
	unsigned status = move_copies(&rp->d, key, keylen, &rec, bad, miss,
				      nmiss, want, rec.nvols, &why);
	if (status == 204) {
		atomic_fetch_add(&rp->repaired, nmiss);
		for (unsigned i = 0, k = 0; i < rec.nvols; i++)
			if (want[i] != rec.vols[i]) {
				const struct vol *from =
					vol_by_id(rp->d.vs, rec.vols[i]);
				log_info("repair: %.*s: lost copy on %s "
					 "replaced by one on %s",
					 (int)keylen, key,
					 from ? from->addr : "?",
					 miss[k++]->addr);
			}
		done = nmiss == nlost;
		why = NULL;
	}
out:
	keylock_release(key, keylen);
	if (why) {
		atomic_fetch_add(&rp->failed, 1);
		log_warn("repair: %.*s: %s", (int)keylen, key, why);
	}
	return done;
}

static int damaged_one(void *arg, const char *key, size_t keylen,
		       const struct idx_record *r, const struct idx_copies *cp)
{
	struct repair *rp = arg;
	(void)r;
	if (rp->walk_resume && keylen == rp->walk_afterlen &&
	    memcmp(key, rp->walk_after, keylen) == 0)
		return 0;
	/* Unverified copies only: counted, but the verification decides. */
	rp->batchlost[rp->nbatch] = cp->lost != 0;
	batch_add(rp, key, keylen, NULL);
	return rp->nbatch == BATCH;
}

/* A slice of the walk over the damaged records, repairing as it goes:
 * at most about a second (or a round), so that the volumes' identities
 * and reports are looked at again soon whatever the backlog; the next
 * round resumes after the last key handled. The gauges are those of the
 * last whole walk until this one ends. */
static void repair_pass(struct repair *rp)
{
	if (!idx_damaged_any(rp->d.ix)) {
		rp->walk_resume = false;
		rp->walk_under = rp->walk_lost = rp->walk_fixed = 0;
		atomic_store(&rp->under, 0);
		atomic_store(&rp->queued, 0);
		return;
	}
	uint64_t budget =
		(uint64_t)(rp->o.interval_ms > 1000 ? rp->o.interval_ms : 1000);
	uint64_t until = clock_mono_ms() + budget;
	int rc;
	do {
		rp->nbatch = 0;
		rc = idx_damaged(rp->d.ix,
				 rp->walk_resume ? rp->walk_after : NULL,
				 rp->walk_resume ? rp->walk_afterlen : 0,
				 damaged_one, rp);
		if (rc < 0)
			return;
		size_t i = 0;
		for (; i < rp->nbatch; i++) {
			if (stopping(rp) || clock_mono_ms() >= until ||
			    !commit_leads(rp->d.cm))
				break;
			rp->walk_under++;
			if (!rp->batchlost[i])
				continue;
			rp->walk_lost++;
			if (atomic_load(&rp->queued) <
			    rp->walk_lost - rp->walk_fixed)
				atomic_store(&rp->queued,
					     rp->walk_lost - rp->walk_fixed);
			throttle(rp);
			rp->walk_fixed +=
				repair_key(rp, rp->batch[i], rp->batchlen[i]);
		}
		if (i > 0) {
			memcpy(rp->walk_after, rp->batch[i - 1],
			       rp->batchlen[i - 1]);
			rp->walk_afterlen = rp->batchlen[i - 1];
			rp->walk_resume = true;
		}
		if (i < rp->nbatch)
			return; /* out of time: the next round goes on */
	} while (rc == 1);
	atomic_store(&rp->under, rp->walk_under - rp->walk_fixed);
	atomic_store(&rp->queued, rp->walk_lost - rp->walk_fixed);
	rp->walk_resume = false;
	rp->walk_under = rp->walk_lost = rp->walk_fixed = 0;
}

static void round_once(struct repair *rp)
{
	bool leads = commit_leads(rp->d.cm);
	if (leads && !rp->leading) {
		/* What an earlier leadership measured is stale: down times
		 * start again, reports are pulled again (marks repeat
		 * harmlessly). */
		memset(rp->vol, 0, sizeof(rp->vol));
		rp->walk_resume = false;
		rp->walk_under = rp->walk_lost = rp->walk_fixed = 0;
	}
	rp->leading = leads;
	struct vol_list *l = malloc(sizeof(*l));
	if (!l)
		return;
	l->n = 0;
	vol_each(rp->d.vs, list_one, l);
	for (size_t i = 0; i < l->n && !stopping(rp); i++)
		check_volume(rp, l->v[i]);
	free(l);
	if (rp->leading && !stopping(rp))
		repair_pass(rp);
}

static void *repair_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "repair");
	struct repair *rp = arg;
	while (!nap(rp, (uint64_t)rp->o.interval_ms))
		round_once(rp);
	return NULL;
}

int repair_start(const struct move_deps *deps, const struct repair_options *opt,
		 struct repair **out)
{
	assert(opt->rate >= 1 && opt->interval_ms > 0 && opt->after_ms >= 0);
	struct repair *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->d = *deps;
	rp->o = *opt;
	pthread_mutex_init(&rp->mu, NULL);
	pthread_cond_init(&rp->cv, NULL);
	int rc = -pthread_create(&rp->thread, NULL, repair_thread, rp);
	if (rc) {
		pthread_mutex_destroy(&rp->mu);
		pthread_cond_destroy(&rp->cv);
		free(rp);
		return rc;
	}
	*out = rp;
	return 0;
}

void repair_counts(struct repair *rp, struct repair_counts *out)
{
	out->under_replicated = atomic_load(&rp->under);
	out->queued = atomic_load(&rp->queued);
	out->repaired = atomic_load(&rp->repaired);
	out->failed = atomic_load(&rp->failed);
}

void repair_stop(struct repair *rp)
{
	if (!rp)
		return;
	pthread_mutex_lock(&rp->mu);
	rp->stopping = true;
	pthread_cond_signal(&rp->cv);
	pthread_mutex_unlock(&rp->mu);
	pthread_join(rp->thread, NULL);
	pthread_mutex_destroy(&rp->mu);
	pthread_cond_destroy(&rp->cv);
	free(rp);
}
