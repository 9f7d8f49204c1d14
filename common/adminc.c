#include "common/adminc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fetch.h"
#include "common/jsonl.h"
#include "common/log.h"

#define TIMEOUT_MS (120 * 1000)
#define ANSWER_MAX (256u << 20)

/* Calls fn for each line of an NDJSON answer (modified in place). */
static int each_line(struct buf *b,
		     int (*fn)(void *arg, const struct jsonl_member *m),
		     void (*end)(void *arg), void *arg)
{
	char *p = b->data, *stop = buf_end(b);
	while (p && p < stop) {
		char *nl = memchr(p, '\n', (size_t)(stop - p));
		char *e = nl ? nl : stop;
		if (e > p) {
			int rc = jsonl_parse(p, (size_t)(e - p), fn, arg);
			if (rc)
				return rc;
			end(arg);
		}
		p = e + 1;
	}
	return 0;
}

static int get(const char *url, const char *method, const char *body,
	       size_t len, struct buf *out)
{
	struct fetch_resp r = {0};
	int rc = fetch(method, url, body, len, TIMEOUT_MS, ANSWER_MAX, &r);
	if (!rc && r.code != 200) {
		log_error("%s %s: status %ld: %.*s", method, url, r.code,
			  (int)(r.body.len < 200 ? r.body.len : 200),
			  r.body.data ? r.body.data : "");
		rc = -EPROTO;
	} else if (rc) {
		log_error("%s %s: %s", method, url, strerror(-rc));
	}
	if (rc)
		buf_free(&r.body);
	else
		*out = r.body;
	return rc;
}

struct vol_parse {
	struct adminc_volumes *vs;
	struct adminc_volume cur;
	bool bad;
};

static int vol_member(void *arg, const struct jsonl_member *m)
{
	struct vol_parse *p = arg;
	uint64_t v;
	if (jsonl_is(m, "replicas") && !jsonl_u64(m, &v))
		p->vs->replicas = (unsigned)v;
	else if (jsonl_is(m, "id") && !jsonl_u64(m, &v))
		p->cur.id = (uint32_t)v;
	else if (jsonl_is(m, "address") && m->type == JSONL_STRING &&
		 m->len < ADMINC_ADDR_MAX) {
		memcpy(p->cur.addr, m->str, m->len);
		p->cur.addr[m->len] = '\0';
	} else if (jsonl_is(m, "zone") && m->type == JSONL_STRING &&
		   m->len < PLACEMENT_ZONE_MAX) {
		memcpy(p->cur.zone, m->str, m->len);
		p->cur.zone[m->len] = '\0';
	} else if (jsonl_is(m, "state") && m->type == JSONL_STRING)
		p->cur.state = m->len == 6 && !memcmp(m->str, "active", 6)
				       ? ADMINC_ACTIVE
			       : m->len == 8 && !memcmp(m->str, "draining", 8)
				       ? ADMINC_DRAINING
				       : ADMINC_RETIRED;
	else if (jsonl_is(m, "healthy") && m->type == JSONL_BOOL)
		p->cur.healthy = m->boolean;
	return 0;
}

static void vol_end(void *arg)
{
	struct vol_parse *p = arg;
	if (p->cur.id) {
		struct adminc_volume *v =
			realloc(p->vs->v, (p->vs->n + 1) * sizeof(*v));
		if (!v)
			p->bad = true;
		else {
			p->vs->v = v;
			v[p->vs->n++] = p->cur;
		}
	}
	memset(&p->cur, 0, sizeof(p->cur));
}

int adminc_volumes(const char *master, struct adminc_volumes *out)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s/_/admin/volumes", master);
	memset(out, 0, sizeof(*out));
	struct buf b = {0};
	int rc = get(url, "GET", NULL, 0, &b);
	if (rc)
		return rc;
	struct vol_parse p = {.vs = out};
	rc = each_line(&b, vol_member, vol_end, &p);
	buf_free(&b);
	if (!rc && p.bad)
		rc = -ENOMEM;
	if (!rc && (!out->replicas || !out->n)) {
		log_error("%s: no replicas or no volumes in the answer", url);
		rc = -EPROTO;
	}
	if (rc)
		adminc_volumes_free(out);
	return rc;
}

void adminc_volumes_free(struct adminc_volumes *vs)
{
	free(vs->v);
	memset(vs, 0, sizeof(*vs));
}

int adminc_volume_index(const struct adminc_volumes *vs, const char *addr,
			size_t len)
{
	for (size_t i = 0; i < vs->n; i++)
		if (strlen(vs->v[i].addr) == len &&
		    memcmp(vs->v[i].addr, addr, len) == 0)
			return (int)i;
	return -1;
}

struct rec_parse {
	const struct adminc_volumes *vs;
	struct adminc_record r;
	bool have_key;
	char next[KEY_MAX + 1];
	size_t nextlen;
	bool has_next;
	size_t count;
	int (*fn)(void *arg, const struct adminc_record *r);
	void *arg;
	int stop;
};

static int rec_member(void *arg, const struct jsonl_member *m)
{
	struct rec_parse *p = arg;
	struct adminc_record *r = &p->r;
	char hex[2 * MD5_LEN + 1];
	if (jsonl_is(m, "key") && m->type == JSONL_STRING) {
		r->key = m->str;
		r->keylen = m->len;
		p->have_key = true;
	} else if (jsonl_is(m, "next") && m->type == JSONL_STRING &&
		   m->len <= KEY_MAX) {
		memcpy(p->next, m->str, m->len);
		p->nextlen = m->len;
		p->has_next = true;
	} else if (jsonl_is(m, "state") && m->type == JSONL_STRING) {
		r->unlinked = m->len == 8 && !memcmp(m->str, "unlinked", 8);
	} else if (jsonl_is(m, "size")) {
		return jsonl_u64(m, &r->size);
	} else if (jsonl_is(m, "created_ms")) {
		return jsonl_u64(m, &r->created_ms);
	} else if (jsonl_is(m, "md5") && m->type == JSONL_STRING &&
		   m->len == 2 * MD5_LEN) {
		memcpy(hex, m->str, m->len);
		hex[m->len] = '\0';
		return md5_from_hex(hex, r->md5);
	} else if (jsonl_is(m, "volumes") && m->type == JSONL_STRINGS) {
		r->nvols = m->nstrs;
		for (unsigned i = 0; i < m->nstrs; i++)
			r->vols[i] = adminc_volume_index(p->vs, m->strs[i],
							 m->lens[i]);
	}
	return 0;
}

static void rec_end(void *arg)
{
	struct rec_parse *p = arg;
	if (p->have_key && !p->stop) {
		p->stop = p->fn(p->arg, &p->r);
		p->count++;
	}
	memset(&p->r, 0, sizeof(p->r));
	p->have_key = false;
}

int adminc_records(const char *master, const struct adminc_volumes *vs,
		   size_t page,
		   int (*fn)(void *arg, const struct adminc_record *r),
		   void *arg)
{
	struct rec_parse *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vs = vs;
	p->fn = fn;
	p->arg = arg;
	int rc = 0;
	for (bool first = true; !rc && !p->stop && (first || p->has_next);
	     first = false) {
		char start[KEY_PCT_MAX] = "";
		if (p->has_next && key_pct_encode(p->next, p->nextlen, start,
						  sizeof(start)) < 0) {
			rc = -ENAMETOOLONG;
			break;
		}
		/* The key encoding keeps '/', which a query value may hold. */
		char url[1024 + sizeof(start)];
		snprintf(url, sizeof(url), "%s/_/admin/records?limit=%zu%s%s",
			 master, page, p->has_next ? "&start=" : "", start);
		p->has_next = false;
		struct buf b = {0};
		rc = get(url, "GET", NULL, 0, &b);
		if (!rc)
			rc = each_line(&b, rec_member, rec_end, p);
		buf_free(&b);
	}
	if (!rc)
		rc = p->stop;
	free(p);
	return rc;
}

struct post_parse {
	uint64_t applied;
	const char *key;
	size_t keylen;
	const char *error;
	void (*fn)(void *arg, const char *key, size_t keylen,
		   const char *error);
	void *arg;
};

static int post_member(void *arg, const struct jsonl_member *m)
{
	struct post_parse *p = arg;
	if (jsonl_is(m, "applied"))
		return jsonl_u64(m, &p->applied);
	if (jsonl_is(m, "key") && m->type == JSONL_STRING) {
		p->key = m->str;
		p->keylen = m->len;
	} else if (jsonl_is(m, "error") && m->type == JSONL_STRING) {
		p->error = m->str;
		/* error names are plain words: terminate in place */
		((char *)m->str)[m->len] = '\0';
	}
	return 0;
}

static void post_end(void *arg)
{
	struct post_parse *p = arg;
	if (p->key && p->error && p->fn)
		p->fn(p->arg, p->key, p->keylen, p->error);
	p->key = p->error = NULL;
}

int adminc_post_records(const char *master, const char *body, size_t len,
			size_t *applied,
			void (*fn)(void *arg, const char *key, size_t keylen,
				   const char *error),
			void *arg)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s/_/admin/records", master);
	struct buf b = {0};
	int rc = get(url, "POST", body, len, &b);
	if (rc)
		return rc;
	struct post_parse p = {.fn = fn, .arg = arg};
	rc = each_line(&b, post_member, post_end, &p);
	buf_free(&b);
	*applied = (size_t)p.applied;
	return rc;
}
