/*
 * Wire format of raft messages and configuration entries: little-endian,
 * fixed-width fields, so a message can cross machines and versions of gcc.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/raft_codec.h"

#define MSG_VERSION 1
#define MSG_HEADER  (4 + 10 * 8 + 4)
#define ENTRY_HEAD  (8 + 8 + 1 + 4)

struct cursor {
	uint8_t *w;
	const uint8_t *r;
	size_t left;
	bool bad;
};

static void put8(struct cursor *c, uint8_t v)
{
	*c->w++ = v;
}

static void put32(struct cursor *c, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*c->w++ = (uint8_t)(v >> (8 * i));
}

static void put64(struct cursor *c, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*c->w++ = (uint8_t)(v >> (8 * i));
}

/* Readers return 0 past the end and mark the cursor, so callers check once. */
static bool take(struct cursor *c, size_t n)
{
	if (c->bad || c->left < n) {
		c->bad = true;
		return false;
	}
	c->left -= n;
	return true;
}

static uint8_t get8(struct cursor *c)
{
	return take(c, 1) ? *c->r++ : 0;
}

static uint32_t get32(struct cursor *c)
{
	uint32_t v = 0;
	if (!take(c, 4))
		return 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)*c->r++ << (8 * i);
	return v;
}

static uint64_t get64(struct cursor *c)
{
	uint64_t v = 0;
	if (!take(c, 8))
		return 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)*c->r++ << (8 * i);
	return v;
}

/* Per member: id, flags (CONF_LEARNER, CONF_ADDR), and with CONF_ADDR a
 * u16 length and the address. A configuration written before addresses
 * has flags 0 or 1 and reads the same. */
#define CONF_LEARNER 1u
#define CONF_ADDR    2u

size_t raft_conf_size(const struct raft_conf *c)
{
	size_t n = 4;
	for (size_t i = 0; i < c->n; i++) {
		size_t a = strnlen(c->addr[i], RAFT_ADDR_MAX);
		n += 9 + (a ? 2 + a : 0);
	}
	return n;
}

static void conf_put(struct cursor *c, const struct raft_conf *conf)
{
	put32(c, (uint32_t)conf->n);
	for (size_t i = 0; i < conf->n; i++) {
		size_t a = strlen(conf->addr[i]);
		put64(c, conf->ids[i]);
		put8(c, (uint8_t)((conf->learner[i] ? CONF_LEARNER : 0) |
				  (a ? CONF_ADDR : 0)));
		if (!a)
			continue;
		put8(c, (uint8_t)(a & 0xff));
		put8(c, (uint8_t)(a >> 8));
		memcpy(c->w, conf->addr[i], a);
		c->w += a;
	}
}

static void conf_get(struct cursor *c, struct raft_conf *conf)
{
	memset(conf, 0, sizeof(*conf)); /* copies compare whole */
	uint32_t n = get32(c);
	if (n > RAFT_MAX_NODES) {
		c->bad = true;
		return;
	}
	conf->n = n;
	for (size_t i = 0; i < n; i++) {
		conf->ids[i] = get64(c);
		uint8_t flags = get8(c);
		conf->learner[i] = flags & CONF_LEARNER;
		conf->addr[i][0] = '\0';
		if (flags & ~(CONF_LEARNER | CONF_ADDR)) {
			c->bad = true;
			return;
		}
		if (!(flags & CONF_ADDR))
			continue;
		size_t a = get8(c);
		a |= (size_t)get8(c) << 8;
		if (!a || a >= RAFT_ADDR_MAX || !take(c, a) ||
		    memchr(c->r, '\0', a)) {
			c->bad = true;
			return;
		}
		memcpy(conf->addr[i], c->r, a);
		conf->addr[i][a] = '\0';
		c->r += a;
	}
	if (!raft_conf_valid(conf))
		c->bad = true;
}

/* An id twice would count its vote twice; id 0 means "nobody" in the
 * core (no vote, no leader). */
bool raft_conf_valid(const struct raft_conf *c)
{
	if (c->n > RAFT_MAX_NODES)
		return false;
	for (size_t i = 0; i < c->n; i++) {
		if (!c->ids[i] || !memchr(c->addr[i], '\0', RAFT_ADDR_MAX))
			return false;
		for (size_t j = 0; j < i; j++)
			if (c->ids[j] == c->ids[i])
				return false;
	}
	return true;
}

int raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t cap)
{
	if (!raft_conf_valid(c))
		return -EINVAL;
	if (cap < raft_conf_size(c))
		return -ENOSPC;
	struct cursor cur = {.w = buf};
	conf_put(&cur, c);
	return 0;
}

int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c)
{
	struct cursor cur = {.r = buf, .left = len};
	conf_get(&cur, c);
	return cur.bad || cur.left ? -EINVAL : 0;
}

int raft_conf_find(const struct raft_conf *c, uint64_t id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->ids[i] == id)
			return (int)i;
	return -1;
}

size_t raft_msg_size(const struct raft_msg *m)
{
	size_t n = MSG_HEADER;
	for (size_t i = 0; i < m->n_entries; i++)
		n += ENTRY_HEAD + m->entries[i].len;
	if (m->type == RAFT_MSG_SNAPSHOT)
		n += 16 + raft_conf_size(&m->snap.conf);
	return n;
}

int raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap)
{
	if (m->n_entries > UINT32_MAX || !raft_conf_valid(&m->snap.conf))
		return -EINVAL;
	for (size_t i = 0; i < m->n_entries; i++)
		if (m->entries[i].len > UINT32_MAX)
			return -EINVAL;
	if (cap < raft_msg_size(m))
		return -ENOSPC;
	struct cursor c = {.w = buf};
	put8(&c, MSG_VERSION);
	put8(&c, m->type);
	put8(&c, m->reject);
	put8(&c, m->force);
	put64(&c, m->from);
	put64(&c, m->to);
	put64(&c, m->term);
	put64(&c, m->index);
	put64(&c, m->log_term);
	put64(&c, m->commit);
	put64(&c, m->hint);
	put64(&c, m->hint_term);
	put64(&c, m->ctx);
	put64(&c, m->tick);
	put32(&c, (uint32_t)m->n_entries);
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		put64(&c, e->term);
		put64(&c, e->index);
		put8(&c, e->type);
		put32(&c, (uint32_t)e->len);
		if (e->len)
			memcpy(c.w, e->data, e->len);
		c.w += e->len;
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		put64(&c, m->snap.index);
		put64(&c, m->snap.term);
		conf_put(&c, &m->snap.conf);
	}
	return 0;
}

int raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m)
{
	struct cursor c = {.r = buf, .left = len};
	memset(m, 0, sizeof(*m));
	if (get8(&c) != MSG_VERSION)
		return -EINVAL;
	m->type = get8(&c);
	m->reject = get8(&c) != 0;
	m->force = get8(&c) != 0;
	m->from = get64(&c);
	m->to = get64(&c);
	m->term = get64(&c);
	m->index = get64(&c);
	m->log_term = get64(&c);
	m->commit = get64(&c);
	m->hint = get64(&c);
	m->hint_term = get64(&c);
	m->ctx = get64(&c);
	m->tick = get64(&c);
	uint32_t n = get32(&c);
	/* Each entry needs ENTRY_HEAD bytes: a lying count fails here, before
	 * it can make us allocate. */
	if (c.bad || m->type < RAFT_MSG_PREVOTE ||
	    m->type > RAFT_MSG_READ_INDEX_RESP || n > c.left / ENTRY_HEAD)
		return -EINVAL;
	if (n) {
		m->entries = calloc(n, sizeof(*m->entries));
		if (!m->entries)
			return -ENOMEM;
		m->n_entries = n;
	}
	for (uint32_t i = 0; i < n && !c.bad; i++) {
		struct raft_entry *e = &m->entries[i];
		e->term = get64(&c);
		e->index = get64(&c);
		e->type = get8(&c);
		if (e->type > RAFT_ENTRY_NOOP)
			c.bad = true;
		e->len = get32(&c);
		if (take(&c, e->len)) {
			e->data = (void *)c.r;
			c.r += e->len;
		}
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		m->snap.index = get64(&c);
		m->snap.term = get64(&c);
		conf_get(&c, &m->snap.conf);
	}
	if (c.bad || c.left) {
		raft_msg_release(m);
		return -EINVAL;
	}
	return 0;
}

void raft_msg_release(struct raft_msg *m)
{
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
}
