#include "rebuild/scan.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fetch.h"
#include "common/jsonl.h"
#include "common/log.h"

#define TIMEOUT_MS  (600 * 1000)
#define LISTING_MAX (8ull << 30)

struct reader {
	const struct adminc_volumes *vs;
	int vol;
	pthread_t thread;
	struct copy *c;
	size_t n, cap;
	struct copy cur;
	int rc;
};

static int copy_member(void *arg, const struct jsonl_member *m)
{
	struct reader *r = arg;
	char hex[2 * MD5_LEN + 1];
	if (jsonl_is(m, "key") && m->type == JSONL_STRING &&
	    m->len <= KEY_MAX) {
		r->cur.key = (char *)m->str;
		r->cur.keylen = m->len;
	} else if (jsonl_is(m, "size")) {
		return jsonl_u64(m, &r->cur.size);
	} else if (jsonl_is(m, "md5") && m->type == JSONL_STRING &&
		   m->len == 2 * MD5_LEN) {
		memcpy(hex, m->str, m->len);
		hex[m->len] = '\0';
		return md5_from_hex(hex, r->cur.md5);
	}
	return 0;
}

static int keep_copy(struct reader *r)
{
	if (!r->cur.key)
		return -EPROTO;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 1024;
		struct copy *c = realloc(r->c, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		r->c = c;
		r->cap = cap;
	}
	struct copy *c = &r->c[r->n];
	*c = r->cur;
	c->vol = r->vol;
	c->key = malloc(c->keylen + 1);
	if (!c->key)
		return -ENOMEM;
	memcpy(c->key, r->cur.key, c->keylen);
	c->key[c->keylen] = '\0';
	r->n++;
	return 0;
}

static void *read_volume(void *arg)
{
	struct reader *r = arg;
	const struct adminc_volume *v = &r->vs->v[r->vol];
	char url[ADMINC_ADDR_MAX + 32];
	snprintf(url, sizeof(url), "http://%s/_/keys", v->addr);
	struct fetch_resp resp = {0};
	r->rc = fetch("GET", url, NULL, 0, TIMEOUT_MS, LISTING_MAX, &resp);
	if (!r->rc && resp.code != 200)
		r->rc = -EPROTO;
	char *p = resp.body.data, *end = buf_end(&resp.body);
	while (!r->rc && p && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		if (e > p) {
			memset(&r->cur, 0, sizeof(r->cur));
			r->rc = jsonl_parse(p, (size_t)(e - p), copy_member, r);
			if (!r->rc)
				r->rc = keep_copy(r);
		}
		p = e + 1;
	}
	buf_free(&resp.body);
	return NULL;
}

int scan_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

static int by_key_then_vol(const void *x, const void *y)
{
	const struct copy *a = x, *b = y;
	int c = scan_keycmp(a->key, a->keylen, b->key, b->keylen);
	return c ? c : (a->vol > b->vol) - (a->vol < b->vol);
}

static void free_copies(struct copy *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].key);
	free(c);
}

int scan_volumes(const struct adminc_volumes *vs, struct scan *out)
{
	memset(out, 0, sizeof(*out));
	struct reader *r = calloc(vs->n, sizeof(*r));
	if (!r)
		return -ENOMEM;
	size_t started = 0;
	int rc = 0;
	for (; started < vs->n; started++) {
		r[started] = (struct reader){.vs = vs, .vol = (int)started};
		if ((rc = -pthread_create(&r[started].thread, NULL, read_volume,
					  &r[started])))
			break;
	}
	size_t total = 0;
	for (size_t i = 0; i < started; i++) {
		pthread_join(r[i].thread, NULL);
		const struct adminc_volume *v = &vs->v[i];
		if (r[i].rc && v->state == ADMINC_RETIRED) {
			log_warn("retired volume %s did not list its keys "
				 "(skipped): %s",
				 v->addr, strerror(-r[i].rc));
			free_copies(r[i].c, r[i].n);
			r[i].c = NULL;
			r[i].n = 0;
		} else if (r[i].rc) {
			log_error("volume %s did not list its keys: %s",
				  v->addr, strerror(-r[i].rc));
			rc = rc ? rc : r[i].rc;
		}
		total += r[i].n;
	}
	struct copy *all =
		rc ? NULL : malloc((total ? total : 1) * sizeof(*all));
	if (!rc && !all)
		rc = -ENOMEM;
	for (size_t i = 0; i < started; i++) {
		if (!rc) {
			if (r[i].n) /* an empty volume has no array at all */
				memcpy(all + out->n, r[i].c,
				       r[i].n * sizeof(*all));
			out->n += r[i].n;
			free(r[i].c);
		} else {
			free_copies(r[i].c, r[i].n);
		}
	}
	free(r);
	if (rc)
		return rc;
	qsort(all, out->n, sizeof(*all), by_key_then_vol);
	out->c = all;
	return 0;
}

void scan_free(struct scan *s)
{
	free_copies(s->c, s->n);
	memset(s, 0, sizeof(*s));
}
