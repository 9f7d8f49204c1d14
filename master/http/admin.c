#include "master/http/admin.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/httpc.h"
#include "common/httpd.h"
#include "common/httperr.h"
#include "common/jsonl.h"
#include "common/key.h"
#include "common/log.h"
#include "common/placement.h"
#include "master/write/keylock.h"

/* A POST body's bounds: a batch stays one short burst of commits. */
#define BODY_MAX  (1u << 20)
#define LINES_MAX 1000
/* Workers at once; more get 503 (rebalance and rebuild use a few). */
#define JOBS_MAX     64
#define PAGE_DEFAULT 1000
#define PAGE_MAX     10000
#define NDJSON	     "application/x-ndjson"

struct admin {
	struct move_deps d;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned jobs;
	bool stopping; /* no new workers */
};

enum what {
	POST_RECORDS,
	POST_VOLUMES,
	REBALANCE,
};

struct admin_req {
	struct admin *ad;
	struct MHD_Connection *c;
	enum what what;
	struct buf body;
	bool too_big;
	bool answered;
	atomic_bool done; /* the worker's answer is ready */
	unsigned code;
	char *answer; /* owned; NULL for a text reason in `why` */
	size_t answer_len;
	const char *why;
	char reason[160];
	size_t keylen;
	char key[KEY_MAX + 1];
};

struct admin *admin_new(const struct move_deps *deps)
{
	struct admin *ad = calloc(1, sizeof(*ad));
	if (!ad)
		return NULL;
	ad->d = *deps;
	pthread_mutex_init(&ad->mu, NULL);
	pthread_cond_init(&ad->cv, NULL);
	return ad;
}

void admin_drain(struct admin *ad)
{
	pthread_mutex_lock(&ad->mu);
	ad->stopping = true;
	while (ad->jobs)
		pthread_cond_wait(&ad->cv, &ad->mu);
	pthread_mutex_unlock(&ad->mu);
}

void admin_free(struct admin *ad)
{
	if (!ad)
		return;
	pthread_mutex_destroy(&ad->mu);
	pthread_cond_destroy(&ad->cv);
	free(ad);
}

bool admin_claims(const char *url, const char *method)
{
	return strcmp(method, "REBALANCE") == 0 ||
	       strncmp(url, "/_/admin/", 9) == 0;
}

void admin_req_free(struct admin_req *r)
{
	if (!r)
		return;
	buf_free(&r->body);
	free(r->answer);
	free(r);
}

static enum MHD_Result reply_text(unsigned *status, struct MHD_Connection *c,
				  unsigned code, const char *why)
{
	*status = code;
	return http_reply_text(c, code, "%s", why);
}

/* --- GET /_/admin/records ------------------------------------------ */

struct page {
	struct admin *ad;
	struct buf *b;
	size_t limit, n;
};

static const char *state_name(enum idx_state s)
{
	return s == IDX_UNLINKED ? "unlinked" : "live";
}

static int record_line(void *arg, const char *key, size_t keylen,
		       const struct idx_record *r)
{
	struct page *p = arg;
	if (p->n == p->limit) {
		buf_append(p->b, "{\"next\":", 8);
		buf_json_string(p->b, key, keylen);
		buf_append(p->b, "}\n", 2);
		return 1;
	}
	char hex[2 * MD5_LEN + 1];
	md5_hex(r->md5, hex);
	buf_append(p->b, "{\"key\":", 7);
	buf_json_string(p->b, key, keylen);
	buf_printf(p->b,
		   ",\"state\":\"%s\",\"size\":%" PRIu64
		   ",\"md5\":\"%s\",\"created_ms\":%" PRIu64 ",\"volumes\":[",
		   state_name(r->state), r->size, hex, r->created_ms);
	for (unsigned i = 0; i < r->nvols; i++) {
		const struct vol *v = vol_by_id(p->ad->d.vs, r->vols[i]);
		if (i)
			buf_append(p->b, ",", 1);
		buf_json_string(p->b, v ? v->addr : "",
				v ? strlen(v->addr) : 0);
	}
	buf_append(p->b, "]}\n", 3);
	p->n++;
	return buf_failed(p->b) ? -ENOMEM : 0;
}

static enum MHD_Result records_get(struct admin *ad, struct MHD_Connection *c,
				   unsigned *status)
{
	char start[KEY_MAX + 1], num[24];
	long slen = http_query_arg(c, "start", start, sizeof(start));
	if (slen == -ENOENT)
		slen = 0;
	else if (slen < 0)
		return reply_text(status, c, 400, "malformed start");
	size_t limit = PAGE_DEFAULT;
	long nlen = http_query_arg(c, "limit", num, sizeof(num) - 1);
	if (nlen >= 0) {
		num[nlen] = '\0';
		char *end;
		errno = 0;
		unsigned long long v = strtoull(num, &end, 10);
		if (!nlen || *end || errno || num[0] == '-' || v < 1 ||
		    v > PAGE_MAX)
			return reply_text(status, c, 400,
					  "limit must be 1..10000");
		limit = (size_t)v;
	} else if (nlen != -ENOENT) {
		return reply_text(status, c, 400, "malformed limit");
	}
	struct buf b = {0};
	struct page p = {ad, &b, limit, 0};
	int rc = idx_records(ad->d.ix, start, (size_t)slen, record_line, &p);
	if (rc < 0) {
		buf_free(&b);
		return reply_text(status, c, 500, "index read failed");
	}
	return http_reply_buf(c, &b, NDJSON, status);
}

/* --- GET /_/admin/volumes ------------------------------------------ */

struct vlist {
	struct admin *ad;
	struct buf *b;
	unsigned active;
};

static int volume_line(void *arg, const struct idx_volume *iv)
{
	struct vlist *l = arg;
	const struct vol *v = vol_by_id(l->ad->d.vs, iv->id);
	bool healthy = v && atomic_load(&v->healthy);
	buf_printf(l->b, "{\"id\":%" PRIu32 ",\"address\":", iv->id);
	buf_json_string(l->b, iv->addr, strlen(iv->addr));
	buf_append(l->b, ",\"zone\":", 8);
	buf_json_string(l->b, iv->zone, strlen(iv->zone));
	buf_printf(l->b, ",\"state\":\"%s\",\"healthy\":%s}\n",
		   iv->active	  ? "active"
		   : iv->draining ? "draining"
				  : "retired",
		   healthy ? "true" : "false");
	l->active += iv->active;
	return 0;
}

static int volumes_list(struct admin *ad, struct buf *b)
{
	buf_printf(b, "{\"replicas\":%u}\n", ad->d.replicas);
	struct vlist l = {ad, b, 0};
	return idx_volumes(ad->d.ix, volume_line, &l);
}

static enum MHD_Result volumes_get(struct admin *ad, struct MHD_Connection *c,
				   unsigned *status)
{
	struct buf b = {0};
	if (volumes_list(ad, &b)) {
		buf_free(&b);
		return reply_text(status, c, 500, "index read failed");
	}
	return http_reply_buf(c, &b, NDJSON, status);
}

/* --- workers ------------------------------------------------------- */

static void set_reason(struct admin_req *r, unsigned code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_reason(struct admin_req *r, unsigned code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->code = code;
	r->why = r->reason;
}

static void set_answer(struct admin_req *r, struct buf *b)
{
	if (buf_failed(b)) {
		buf_free(b);
		set_reason(r, 500, "out of memory");
		return;
	}
	r->code = 200;
	r->answer_len = b->len;
	r->answer = buf_steal(b);
}

/* A volume's id by address, among every volume the master knows. */
struct find_vol {
	const char *addr;
	size_t len;
	uint32_t id;
};

static void match_vol(void *arg, const struct vol *v)
{
	struct find_vol *f = arg;
	if (strlen(v->addr) == f->len && memcmp(v->addr, f->addr, f->len) == 0)
		f->id = v->id;
}

static uint32_t vol_id_of(struct admin *ad, const char *addr, size_t len)
{
	struct find_vol f = {addr, len, 0};
	vol_each(ad->d.vs, match_vol, &f);
	return f.id;
}

struct line {
	struct admin *ad;
	struct cmd *c;
	bool have_key, have_md5, have_size, have_vols;
	const char *err;
};

static int record_member(void *arg, const struct jsonl_member *m)
{
	struct line *l = arg;
	struct cmd *c = l->c;
	if (jsonl_is(m, "key") && m->type == JSONL_STRING) {
		c->key = m->str;
		c->keylen = m->len;
		l->have_key = true;
	} else if (jsonl_is(m, "remove") && m->type == JSONL_BOOL) {
		c->remove = m->boolean;
	} else if (jsonl_is(m, "state") && m->type == JSONL_STRING) {
		if (m->len == 4 && memcmp(m->str, "live", 4) == 0)
			c->state = IDX_LIVE;
		else if (m->len == 8 && memcmp(m->str, "unlinked", 8) == 0)
			c->state = IDX_UNLINKED;
		else
			l->err = "state must be live or unlinked";
	} else if (jsonl_is(m, "size")) {
		l->have_size = jsonl_u64(m, &c->size) == 0;
		if (!l->have_size)
			l->err = "size must be a number";
	} else if (jsonl_is(m, "created_ms")) {
		if (jsonl_u64(m, &c->created_ms))
			l->err = "created_ms must be a number";
	} else if (jsonl_is(m, "md5") || jsonl_is(m, "expect")) {
		bool expect = jsonl_is(m, "expect");
		char hex[2 * MD5_LEN + 1];
		if (m->type != JSONL_STRING) {
			l->err = "md5 and expect are strings";
		} else if (expect && m->len == 6 &&
			   memcmp(m->str, "absent", 6) == 0) {
			c->expect = CMD_EXPECT_ABSENT;
		} else if (m->len != 2 * MD5_LEN) {
			l->err = "md5 is 32 hex digits";
		} else {
			memcpy(hex, m->str, m->len);
			hex[m->len] = '\0';
			if (md5_from_hex(hex, expect ? c->expect_md5 : c->md5))
				l->err = "md5 is 32 hex digits";
			if (expect)
				c->expect = CMD_EXPECT_MD5;
			else
				l->have_md5 = true;
		}
	} else if (jsonl_is(m, "volumes") && m->type == JSONL_STRINGS) {
		c->nvols = 0;
		for (unsigned i = 0; i < m->nstrs && !l->err; i++) {
			uint32_t id = vol_id_of(l->ad, m->strs[i], m->lens[i]);
			if (!id)
				l->err = "unknown volume";
			c->vols[c->nvols++] = id;
		}
		l->have_vols = c->nvols > 0;
	} else {
		l->err = "unknown member or wrong type";
	}
	return l->err ? -EINVAL : 0;
}

static const char *check_record(const struct line *l)
{
	const struct cmd *c = l->c;
	if (!l->have_key || !c->keylen)
		return "key missing";
	if (c->keylen > KEY_MAX)
		return "key longer than 511 bytes";
	if (c->key[0] != '/' || memchr(c->key, 0, c->keylen) ||
	    (c->keylen >= 3 && memcmp(c->key, "/_/", 3) == 0))
		return "key must start with / and not lie under /_/";
	if (c->remove)
		return NULL;
	if (!l->have_md5 || !l->have_size || !l->have_vols)
		return "an upsert needs size, md5 and volumes";
	for (unsigned i = 0; i < c->nvols; i++)
		for (unsigned j = 0; j < i; j++)
			if (c->vols[i] == c->vols[j])
				return "volume listed twice";
	return NULL;
}

static const char *result_name(int rc)
{
	switch (rc) {
	case -ESTALE:
		return "stale";
	case -EBUSY:
		return "busy";
	default:
		return "failed";
	}
}

static void records_post(struct admin_req *r)
{
	struct admin *ad = r->ad;
	struct cmd *cmds = calloc(LINES_MAX, sizeof(*cmds));
	int *results = calloc(LINES_MAX, sizeof(*results));
	bool *locked = calloc(LINES_MAX, sizeof(*locked));
	if (!cmds || !results || !locked) {
		set_reason(r, 500, "out of memory");
		goto out;
	}
	uint64_t now = (uint64_t)time(NULL) * 1000;
	size_t n = 0, lineno = 0;
	char *p = r->body.data, *end = buf_end(&r->body);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *stop = nl ? nl : end;
		lineno++;
		if (stop == p) {
			p = stop + 1;
			continue;
		}
		if (n == LINES_MAX) {
			set_reason(r, 413, "more than %d records in one batch",
				   LINES_MAX);
			goto out;
		}
		cmds[n] = (struct cmd){.type = CMD_RECORD,
				       .state = IDX_LIVE,
				       .created_ms = now};
		struct line l = {.ad = ad, .c = &cmds[n]};
		int rc = jsonl_parse(p, (size_t)(stop - p), record_member, &l);
		const char *err = rc ? (l.err ? l.err : "not a JSON object")
				     : check_record(&l);
		if (err) {
			set_reason(r, 400, "line %zu: %s", lineno, err);
			goto out;
		}
		n++;
		p = stop + 1;
	}
	/* As a client's write would, skip keys with a write in flight. */
	struct cmd *go = calloc(n ? n : 1, sizeof(*go));
	size_t *at = calloc(n ? n : 1, sizeof(*at));
	size_t ngo = 0;
	if (!go || !at) {
		free(go);
		free(at);
		set_reason(r, 500, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		locked[i] = keylock_try(cmds[i].key, cmds[i].keylen,
					KEYLOCK_CLIENT) == 0;
		results[i] = locked[i] ? 0 : -EBUSY;
		if (locked[i]) {
			at[ngo] = i;
			go[ngo++] = cmds[i];
		}
	}
	int *goresults = calloc(ngo ? ngo : 1, sizeof(*goresults));
	int rc = goresults ? commit_run_many(ad->d.cm, go, ngo, goresults)
			   : -ENOMEM;
	for (size_t i = 0; i < ngo; i++)
		results[at[i]] = rc ? rc : goresults[i];
	for (size_t i = 0; i < n; i++)
		if (locked[i])
			keylock_release(cmds[i].key, cmds[i].keylen);
	free(go);
	free(at);
	free(goresults);
	struct buf b = {0};
	size_t applied = 0;
	for (size_t i = 0; i < n; i++)
		applied += results[i] == 0;
	buf_printf(&b, "{\"applied\":%zu,\"failed\":%zu}\n", applied,
		   n - applied);
	for (size_t i = 0; i < n; i++) {
		if (!results[i])
			continue;
		buf_printf(&b, "{\"line\":%zu,\"key\":", i + 1);
		buf_json_string(&b, cmds[i].key, cmds[i].keylen);
		buf_printf(&b, ",\"error\":\"%s\"}\n", result_name(results[i]));
	}
	set_answer(r, &b);
out:
	free(cmds);
	free(results);
	free(locked);
}

struct volume_change {
	uint8_t state;
	const char *addr;
	size_t len;
	unsigned members;
};

static int volume_member(void *arg, const struct jsonl_member *m)
{
	struct volume_change *v = arg;
	static const struct {
		const char *name;
		uint8_t state;
	} acts[] = {{"add", IDX_VOL_ACTIVE},
		    {"activate", IDX_VOL_ACTIVE},
		    {"drain", IDX_VOL_DRAINING},
		    {"remove", IDX_VOL_RETIRED}};
	v->members++;
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (jsonl_is(m, acts[i].name) && m->type == JSONL_STRING) {
			v->state = acts[i].state;
			v->addr = m->str;
			v->len = m->len;
			return 0;
		}
	return -EINVAL;
}

static int count_active(void *arg, const struct idx_volume *iv)
{
	struct find_vol *f = arg;
	f->id += iv->active;
	return 0;
}

static void volumes_post(struct admin_req *r)
{
	struct admin *ad = r->ad;
	struct volume_change v = {0};
	if (jsonl_parse(r->body.data, r->body.len, volume_member, &v) ||
	    v.members != 1) {
		set_reason(r, 400,
			   "want one of {\"add\"|\"activate\"|\"drain\"|"
			   "\"remove\":\"host:port[@zone]\"}");
		return;
	}
	if (v.len > 7 && memcmp(v.addr, "http://", 7) == 0) {
		v.addr += 7;
		v.len -= 7;
	}
	size_t zlen;
	const char *zone;
	const char *bad = placement_spec(v.addr, v.len, &v.len, &zone, &zlen);
	if (bad) {
		set_reason(r, 400, "%s", bad);
		return;
	}
	while (v.len && v.addr[v.len - 1] == '/')
		v.len--;
	if (!v.len || v.len >= IDX_ADDR_MAX - 1 ||
	    !memchr(v.addr, ':', v.len) || strcspn(v.addr, "/, \t") < v.len) {
		set_reason(r, 400, "the address must be host:port[@zone]");
		return;
	}
	/* addr, and spec: what CMD_VOLUME carries (a zone sets it, none
	 * keeps the volume's). */
	char addr[IDX_ADDR_MAX], spec[IDX_ADDR_MAX + IDX_ZONE_MAX];
	memcpy(addr, v.addr, v.len);
	addr[v.len] = '\0';
	snprintf(spec, sizeof(spec), "%s%s%.*s", addr, zone ? "@" : "",
		 (int)zlen, zone ? zone : "");
	const struct vol *known =
		vol_by_id(ad->d.vs, vol_id_of(ad, addr, v.len));
	bool was_active = known && atomic_load(&known->active);
	struct find_vol act = {0};
	if (idx_volumes(ad->d.ix, count_active, &act)) {
		set_reason(r, 500, "index read failed");
		return;
	}
	if (v.state != IDX_VOL_ACTIVE && !known) {
		set_reason(r, 404, "no volume %s", addr);
		return;
	}
	if (v.state != IDX_VOL_ACTIVE && was_active &&
	    act.id - 1 < ad->d.replicas) {
		set_reason(r, 409,
			   "%s is needed: fewer active volumes than -replicas "
			   "would remain",
			   addr);
		return;
	}
	if (v.state == IDX_VOL_ACTIVE) {
		/* Refuse a typo before new keys are placed on it. */
		char url[IDX_ADDR_MAX + 16];
		snprintf(url, sizeof(url), "http://%s/_/health", addr);
		struct httpc *h = httpc_new();
		long code = 0;
		int rc = h ? httpc_request(h, "GET", url, ad->d.timeout_ms,
					   &code)
			   : -ENOMEM;
		httpc_free(h);
		if (rc || code != 200) {
			set_reason(r, 502,
				   "volume %s does not answer /_/health", addr);
			return;
		}
	}
	struct cmd c = {.type = CMD_VOLUME,
			.state = v.state,
			.addrs = spec,
			.addrslen = strlen(spec)};
	int rc = commit_run(ad->d.cm, &c);
	if (!rc)
		rc = vol_reload(ad->d.vs);
	if (rc == -ENOSPC) {
		set_reason(r, 409, "no volume id left: all %d were given",
			   IDX_VOL_MAX_ID);
		return;
	}
	if (rc) {
		set_reason(r, httperr_status(rc), "volume change failed: %s",
			   strerror(-rc));
		return;
	}
	log_info("admin: volume %s is now %s", spec,
		 v.state == IDX_VOL_ACTIVE     ? "active"
		 : v.state == IDX_VOL_DRAINING ? "draining"
					       : "retired");
	struct buf b = {0};
	if (volumes_list(ad, &b)) {
		buf_free(&b);
		set_reason(r, 500, "index read failed");
		return;
	}
	set_answer(r, &b);
}

static void rebalance(struct admin_req *r)
{
	const char *why;
	unsigned code = move_key(&r->ad->d, r->key, r->keylen, &why);
	keylock_release(r->key, r->keylen);
	r->code = code;
	r->why = why;
}

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), "admin-worker");
	struct admin_req *r = arg;
	struct admin *ad = r->ad;
	switch (r->what) {
	case POST_RECORDS:
		records_post(r);
		break;
	case POST_VOLUMES:
		volumes_post(r);
		break;
	case REBALANCE:
		rebalance(r);
		break;
	}
	atomic_store(&r->done, true);
	/* r may be freed once resumed: only ad is touched after this. */
	MHD_resume_connection(r->c);
	pthread_mutex_lock(&ad->mu);
	ad->jobs--;
	pthread_cond_broadcast(&ad->cv);
	pthread_mutex_unlock(&ad->mu);
	return NULL;
}

/* Suspends the connection and hands r to a worker thread. */
static bool start_worker(struct admin_req *r)
{
	struct admin *ad = r->ad;
	pthread_mutex_lock(&ad->mu);
	bool room = ad->jobs < JOBS_MAX && !ad->stopping;
	ad->jobs += room;
	pthread_mutex_unlock(&ad->mu);
	if (!room)
		return false;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	MHD_suspend_connection(r->c);
	int rc = pthread_create(&t, &attr, worker, r);
	pthread_attr_destroy(&attr);
	if (rc) {
		MHD_resume_connection(r->c);
		pthread_mutex_lock(&ad->mu);
		ad->jobs--;
		pthread_cond_broadcast(&ad->cv);
		pthread_mutex_unlock(&ad->mu);
		return false;
	}
	return true;
}

static enum MHD_Result answer(struct admin_req *r, unsigned *status)
{
	r->answered = true;
	*status = r->code;
	if (r->answer) {
		char *data = r->answer;
		r->answer = NULL;
		return http_reply_owned(r->c, r->code, NDJSON, data,
					r->answer_len);
	}
	if (r->code == 204)
		return http_reply_empty(r->c, 204);
	return http_reply_text(r->c, r->code, "%s", r->why);
}

/* The first call of a claimed request with a handler: GETs are answered,
 * the rest get their state. */
static enum MHD_Result begin(struct admin *ad, struct MHD_Connection *c,
			     const char *url, const char *method,
			     struct admin_req **state, unsigned *status)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	bool rebal = strcmp(method, "REBALANCE") == 0;
	bool records = strcmp(url, "/_/admin/records") == 0;
	bool volumes = strcmp(url, "/_/admin/volumes") == 0;
	if (!rebal && !records && !volumes)
		return reply_text(status, c, 404, "no such admin endpoint");
	if (get && records)
		return records_get(ad, c, status);
	if (get && volumes)
		return volumes_get(ad, c, status);
	if (!post && !rebal)
		return reply_text(status, c, 405,
				  "admin endpoints take GET or POST");
	struct admin_req *r = calloc(1, sizeof(*r));
	if (!r)
		return MHD_NO;
	r->ad = ad;
	r->c = c;
	r->what = rebal ? REBALANCE : records ? POST_RECORDS : POST_VOLUMES;
	*state = r;
	if (!rebal)
		return MHD_YES;
	const char *why = "bad key";
	long n = key_from_path(url, r->key, &why);
	if (n < 0) {
		r->answered = true;
		return reply_text(status, c, n == -ENAMETOOLONG ? 414 : 400,
				  why);
	}
	r->keylen = (size_t)n;
	if (keylock_try(r->key, r->keylen, KEYLOCK_CLIENT)) {
		r->answered = true;
		return reply_text(status, c, 409,
				  "another write to this key is in flight");
	}
	if (!start_worker(r)) {
		keylock_release(r->key, r->keylen);
		r->answered = true;
		return reply_text(status, c, 503,
				  "too many admin requests, or stopping");
	}
	return MHD_YES;
}

enum MHD_Result admin_handle(struct admin *ad, struct MHD_Connection *c,
			     const char *url, const char *method,
			     const char *upload, size_t *upload_size,
			     struct admin_req **state, unsigned *status)
{
	struct admin_req *r = *state;
	if (!r) {
		if (*upload_size && strcmp(method, "POST") != 0) {
			*upload_size = 0; /* REBALANCE and GET take no body */
			return MHD_YES;
		}
		enum MHD_Result ret = begin(ad, c, url, method, state, status);
		r = *state;
		if (!r || r->answered || r->what == REBALANCE)
			return ret;
	}
	if (r->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (atomic_load(&r->done))
		return answer(r, status);
	if (*upload_size) {
		if (r->body.len + *upload_size > BODY_MAX)
			r->too_big = true;
		else
			buf_append(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->what == REBALANCE)
		return MHD_YES; /* a spurious call while suspended */
	r->answered = true;
	if (r->too_big)
		return reply_text(status, c, 413, "body larger than 1 MiB");
	if (buf_failed(&r->body))
		return reply_text(status, c, 500, "out of memory");
	if (!r->body.len)
		return reply_text(status, c, 400, "empty body");
	r->answered = false;
	if (!start_worker(r)) {
		r->answered = true;
		return reply_text(status, c, 503,
				  "too many admin requests, or stopping");
	}
	return MHD_YES;
}
