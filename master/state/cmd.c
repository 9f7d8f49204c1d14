#include "master/state/cmd.h"

#include <errno.h>
#include <string.h>

#include "common/le.h"
#include "common/placement.h"

/* Layout: version (1), type (1), then the fields of the type, integers
 * little-endian. Keys are u16-length-prefixed, addrs u32-prefixed (u16
 * for CMD_VOLUME). */
#define CMD_VERSION	  1
#define CMD_VERSION_ZONES 2 /* addrs carry @zone (cmd.h) */
/* The longest host:port a CMD_VOLUME may name (the index's limit). */
#define CMD_ADDR_MAX 255

struct writer {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool full;
};

static void put_bytes(struct writer *w, const void *d, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	if (n) /* d may be NULL then: an empty CMD_VOLUMES */
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void put_uint(struct writer *w, uint64_t v, unsigned bytes)
{
	uint8_t b[8];
	le_putn(b, v, bytes);
	put_bytes(w, b, bytes);
}

static void put_key(struct writer *w, const struct cmd *c)
{
	put_uint(w, c->keylen, 2);
	put_bytes(w, c->key, c->keylen);
}

static void put_vols(struct writer *w, const struct cmd *c)
{
	put_uint(w, c->nvols, 1);
	for (unsigned i = 0; i < c->nvols; i++)
		put_uint(w, c->vols[i], 4);
}

static bool names_volumes(const struct cmd *c)
{
	return c->type == CMD_VOLUMES || c->type == CMD_VOLUME;
}

/* The version a command is written with: the oldest that holds it. */
static unsigned version_of(const struct cmd *c)
{
	return names_volumes(c) && c->addrs &&
			       memchr(c->addrs, '@', c->addrslen)
		       ? CMD_VERSION_ZONES
		       : CMD_VERSION;
}

/* Whether every non-empty entry of the comma-separated addrs is a
 * volume spec (host:port[@zone]) with a host:port of at most
 * CMD_ADDR_MAX bytes. No NUL anywhere: the index stores a volume as
 * address NUL zone. */
static bool valid_specs(const struct cmd *c)
{
	if (c->addrslen && memchr(c->addrs, '\0', c->addrslen))
		return false;
	size_t i = 0;
	while (i < c->addrslen) {
		const char *a = c->addrs + i;
		const char *comma = memchr(a, ',', c->addrslen - i);
		size_t len = comma ? (size_t)(comma - a) : c->addrslen - i;
		i += len + 1;
		size_t alen, zlen;
		const char *zone;
		if (len && (placement_spec(a, len, &alen, &zone, &zlen) ||
			    alen > CMD_ADDR_MAX))
			return false;
	}
	return true;
}

static bool valid(const struct cmd *c)
{
	bool keyed = c->type != CMD_VOLUMES && c->type != CMD_VOLUME &&
		     c->type != CMD_VOL_IDENT && c->type != CMD_VOL_HEALTH;
	if (keyed && (c->keylen == 0 || c->keylen > KEY_MAX || !c->key))
		return false;
	if (c->nvols > CMD_MAX_VOLS)
		return false;
	switch (c->type) {
	case CMD_PUT:
	case CMD_PURGE_ADD:
		return c->nvols > 0;
	case CMD_RECORD:
		return c->expect <= CMD_EXPECT_MD5 &&
		       (c->remove ||
			(c->nvols > 0 && c->state >= 1 && c->state <= 2));
	case CMD_VOLUME:
		/* One spec: the index applies addrs whole, and asserts it
		 * is one ("a:1@z,b:2" would abort every master). */
		return c->addrslen > 0 && c->addrs &&
		       !memchr(c->addrs, ',', c->addrslen) && valid_specs(c) &&
		       c->state >= 1 && c->state <= 3;
	case CMD_PURGE_DONE:
		return c->nvols == 1;
	case CMD_VOLUMES:
		return c->addrslen <= CMD_MAX_ADDRS &&
		       (c->addrs || c->addrslen == 0) && valid_specs(c);
	case CMD_VOL_IDENT:
		return c->nvols == 1 && c->state == 0;
	case CMD_VOL_HEALTH:
		return c->nvols == 1 && c->state >= CMD_VH_DEAD &&
		       c->state <= CMD_VH_VERIFIED;
	case CMD_LOST:
		return c->nvols > 0 && c->state >= CMD_LOST_MISSING &&
		       c->state <= CMD_LOST_CORRUPT;
	case CMD_UNLINK:
	case CMD_DELETE:
		return true;
	}
	return false;
}

long cmd_encode(const struct cmd *c, uint8_t *out, size_t cap)
{
	if (!valid(c))
		return -EINVAL;
	struct writer w = {out, 0, cap, false};
	put_uint(&w, version_of(c), 1);
	put_uint(&w, (uint64_t)c->type, 1);
	switch (c->type) {
	case CMD_PUT:
		put_key(&w, c);
		put_uint(&w, c->size, 8);
		put_bytes(&w, c->md5, MD5_LEN);
		put_uint(&w, c->created_ms, 8);
		put_vols(&w, c);
		break;
	case CMD_UNLINK:
		put_key(&w, c);
		break;
	case CMD_DELETE:
		put_key(&w, c);
		put_uint(&w, c->protect, 1);
		break;
	case CMD_PURGE_DONE:
		put_key(&w, c);
		put_uint(&w, c->vols[0], 4);
		put_uint(&w, c->seq, 8);
		break;
	case CMD_PURGE_ADD:
		put_key(&w, c);
		put_vols(&w, c);
		break;
	case CMD_VOLUMES:
		put_uint(&w, c->addrslen, 4);
		put_bytes(&w, c->addrs, c->addrslen);
		break;
	case CMD_RECORD:
		put_key(&w, c);
		put_uint(&w,
			 (uint64_t)c->remove | (uint64_t)c->purge_dropped << 1 |
				 (uint64_t)c->written << 2,
			 1);
		put_uint(&w, (uint64_t)c->expect, 1);
		put_bytes(&w, c->expect_md5, MD5_LEN);
		put_uint(&w, c->state, 1);
		put_uint(&w, c->size, 8);
		put_bytes(&w, c->md5, MD5_LEN);
		put_uint(&w, c->created_ms, 8);
		put_vols(&w, c);
		break;
	case CMD_VOLUME:
		put_uint(&w, c->state, 1);
		put_uint(&w, c->addrslen, 2);
		put_bytes(&w, c->addrs, c->addrslen);
		break;
	case CMD_VOL_IDENT:
	case CMD_VOL_HEALTH:
		put_uint(&w, c->vols[0], 4);
		put_uint(&w, c->state, 1);
		put_bytes(&w, c->md5, MD5_LEN);
		break;
	case CMD_LOST:
		put_key(&w, c);
		put_uint(&w, c->state, 1);
		put_bytes(&w, c->expect_md5, MD5_LEN);
		put_vols(&w, c);
		break;
	}
	return w.full ? -ENOSPC : (long)w.len;
}

struct reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static const uint8_t *get_bytes(struct reader *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t get_uint(struct reader *r, unsigned bytes)
{
	const uint8_t *b = get_bytes(r, bytes);
	return b ? le_getn(b, bytes) : 0;
}

static void get_key(struct reader *r, struct cmd *c)
{
	c->keylen = (size_t)get_uint(r, 2);
	c->key = (const char *)get_bytes(r, c->keylen);
}

static void get_vols(struct reader *r, struct cmd *c)
{
	c->nvols = (unsigned)get_uint(r, 1);
	if (c->nvols > CMD_MAX_VOLS) {
		r->bad = true;
		return;
	}
	for (unsigned i = 0; i < c->nvols; i++)
		c->vols[i] = (uint32_t)get_uint(r, 4);
}

static void get_md5(struct reader *r, uint8_t out[MD5_LEN])
{
	const uint8_t *m = get_bytes(r, MD5_LEN);
	if (m)
		memcpy(out, m, MD5_LEN);
}

int cmd_decode(const uint8_t *in, size_t len, struct cmd *out)
{
	struct reader r = {in, len, 0, false};
	memset(out, 0, sizeof(*out));
	uint64_t version = get_uint(&r, 1);
	if (version != CMD_VERSION && version != CMD_VERSION_ZONES)
		return -EINVAL;
	out->type = (enum cmd_type)get_uint(&r, 1);
	switch (out->type) {
	case CMD_PUT: {
		get_key(&r, out);
		out->size = get_uint(&r, 8);
		get_md5(&r, out->md5);
		out->created_ms = get_uint(&r, 8);
		get_vols(&r, out);
		break;
	}
	case CMD_UNLINK:
		get_key(&r, out);
		break;
	case CMD_DELETE:
		get_key(&r, out);
		out->protect = get_uint(&r, 1) != 0;
		break;
	case CMD_PURGE_DONE:
		get_key(&r, out);
		out->nvols = 1;
		out->vols[0] = (uint32_t)get_uint(&r, 4);
		out->seq = get_uint(&r, 8);
		break;
	case CMD_PURGE_ADD:
		get_key(&r, out);
		get_vols(&r, out);
		break;
	case CMD_VOLUMES:
		out->addrslen = (size_t)get_uint(&r, 4);
		out->addrs = (const char *)get_bytes(&r, out->addrslen);
		break;
	case CMD_RECORD: {
		get_key(&r, out);
		uint64_t flags = get_uint(&r, 1);
		out->remove = flags & 1;
		out->purge_dropped = flags & 2;
		out->written = flags & 4;
		out->expect = (enum cmd_expect)get_uint(&r, 1);
		get_md5(&r, out->expect_md5);
		out->state = (uint8_t)get_uint(&r, 1);
		out->size = get_uint(&r, 8);
		get_md5(&r, out->md5);
		out->created_ms = get_uint(&r, 8);
		get_vols(&r, out);
		if (flags > 7)
			r.bad = true;
		break;
	}
	case CMD_VOLUME:
		out->state = (uint8_t)get_uint(&r, 1);
		out->addrslen = (size_t)get_uint(&r, 2);
		out->addrs = (const char *)get_bytes(&r, out->addrslen);
		break;
	case CMD_VOL_IDENT:
	case CMD_VOL_HEALTH:
		out->nvols = 1;
		out->vols[0] = (uint32_t)get_uint(&r, 4);
		out->state = (uint8_t)get_uint(&r, 1);
		get_md5(&r, out->md5);
		break;
	case CMD_LOST:
		get_key(&r, out);
		out->state = (uint8_t)get_uint(&r, 1);
		get_md5(&r, out->expect_md5);
		get_vols(&r, out);
		break;
	default:
		return -EINVAL;
	}
	/* One encoding per command: a version-1 address with an '@' would
	 * mean something else to the build that wrote it. */
	if (r.bad || r.off != len || !valid(out) || version != version_of(out))
		return -EINVAL;
	return 0;
}
