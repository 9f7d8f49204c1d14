#include "common/jsonl.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "common/hex.h"

struct parser {
	char *p, *end;
};

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\r' || *ps->p == '\n'))
		ps->p++;
}

/* Writes code point cp as UTF-8 at *w; below 0x100 as the single byte
 * (see the header: \u00XX is a byte). */
static void put_cp(char **w, unsigned cp)
{
	char *o = *w;
	if (cp < 0x100) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 63));
	} else {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 63));
		*o++ = (char)(0x80 | (cp & 63));
	}
	*w = o;
}

/* Decodes a string at ps->p (on its opening quote) in place. */
static int string(struct parser *ps, const char **out, size_t *len)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return -EINVAL;
	char *r = ++ps->p, *w = r;
	*out = r;
	while (r < ps->end && *r != '"') {
		if ((unsigned char)*r < 0x20)
			return -EINVAL;
		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		if (++r >= ps->end)
			return -EINVAL;
		char c = *r++;
		static const char from[] = "\"\\/bfnrt",
				  to[] = "\"\\/\b\f\n\r\t";
		const char *at = strchr(from, c);
		if (c && at) {
			*w++ = to[at - from];
			continue;
		}
		if (c != 'u' || ps->end - r < 4)
			return -EINVAL;
		unsigned cp = 0;
		for (int i = 0; i < 4; i++) {
			int h = hex_digit(r[i]);
			if (h < 0)
				return -EINVAL;
			cp = cp << 4 | (unsigned)h;
		}
		r += 4;
		put_cp(&w, cp);
	}
	if (r >= ps->end)
		return -EINVAL;
	*len = (size_t)(w - *out);
	ps->p = r + 1;
	return 0;
}

static bool word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static int value(struct parser *ps, struct jsonl_member *m)
{
	if (ps->p >= ps->end)
		return -EINVAL;
	char c = *ps->p;
	if (c == '"') {
		m->type = JSONL_STRING;
		return string(ps, &m->str, &m->len);
	}
	if (c == '[') {
		m->type = JSONL_STRINGS;
		m->nstrs = 0;
		ps->p++;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		for (;;) {
			if (m->nstrs == JSONL_MAX_STRS)
				return -EINVAL;
			skip_space(ps);
			int rc = string(ps, &m->strs[m->nstrs],
					&m->lens[m->nstrs]);
			if (rc)
				return rc;
			m->nstrs++;
			skip_space(ps);
			if (ps->p < ps->end && *ps->p == ',') {
				ps->p++;
				continue;
			}
			if (ps->p < ps->end && *ps->p == ']') {
				ps->p++;
				return 0;
			}
			return -EINVAL;
		}
	}
	if (word(ps, "true") || word(ps, "false")) {
		m->type = JSONL_BOOL;
		m->boolean = ps->p[-1] == 'e' && ps->p[-2] == 'u';
		return 0;
	}
	if (word(ps, "null")) {
		m->type = JSONL_NULL;
		return 0;
	}
	m->type = JSONL_NUMBER;
	m->str = ps->p;
	while (ps->p < ps->end && strchr("+-0123456789.eE", *ps->p) && *ps->p)
		ps->p++;
	m->len = (size_t)(ps->p - m->str);
	return m->len ? 0 : -EINVAL;
}

int jsonl_parse(char *line, size_t len,
		int (*fn)(void *arg, const struct jsonl_member *m), void *arg)
{
	assert((line || !len) && fn);
	struct parser ps = {line, line + len};
	skip_space(&ps);
	if (ps.p >= ps.end || *ps.p++ != '{')
		return -EINVAL;
	skip_space(&ps);
	bool first = true;
	while (ps.p < ps.end && *ps.p != '}') {
		if (!first) {
			if (*ps.p++ != ',')
				return -EINVAL;
			skip_space(&ps);
		}
		first = false;
		struct jsonl_member m;
		int rc = string(&ps, &m.name, &m.namelen);
		if (rc)
			return rc;
		skip_space(&ps);
		if (ps.p >= ps.end || *ps.p++ != ':')
			return -EINVAL;
		skip_space(&ps);
		if ((rc = value(&ps, &m)))
			return rc;
		if ((rc = fn(arg, &m)))
			return rc;
		skip_space(&ps);
	}
	if (ps.p >= ps.end)
		return -EINVAL;
	ps.p++;
	skip_space(&ps);
	return ps.p == ps.end ? 0 : -EINVAL;
}

bool jsonl_is(const struct jsonl_member *m, const char *name)
{
	return m->namelen == strlen(name) &&
	       memcmp(m->name, name, m->namelen) == 0;
}

int jsonl_u64(const struct jsonl_member *m, uint64_t *out)
{
	if (m->type != JSONL_NUMBER || m->len == 0 || m->len > 20)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < m->len; i++) {
		char c = m->str[i];
		unsigned d = (unsigned)(c - '0');
		/* Exact: v * 10 + d <= UINT64_MAX, so UINT64_MAX itself
		 * parses. */
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
