/* See mlist.h. */
#include "s3/mlist.h"

#include <errno.h>
#include <string.h>

#include "common/jsonl.h"

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xc0 | (cp >> 6));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xe0 | (cp >> 12));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*w++ = (char)(0xf0 | (cp >> 18));
		*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	}
	return w;
}

/* Decodes the JSON string at *pp (its opening quote) in place; *pp moves
 * past the closing quote. The decoded bytes start where the quote was:
 * no escape is shorter than what it decodes to. */
static int string_at(char **pp, const char *end, const char **s, size_t *len)
{
	char *p = *pp, *w = p;
	if (p >= end || *p != '"')
		return -EINVAL;
	p++;
	while (p < end && *p != '"') {
		if (*p != '\\') {
			*w++ = *p++;
			continue;
		}
		if (end - p < 2)
			return -EINVAL;
		char e = p[1];
		p += 2;
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e && simple) {
			*w++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
			continue;
		}
		unsigned cp, lo;
		if (e != 'u' || end - p < 4 || hex4(p, &cp))
			return -EINVAL;
		p += 4;
		if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 &&
		    p[0] == '\\' && p[1] == 'u' && hex4(p + 2, &lo) == 0 &&
		    lo >= 0xdc00 && lo < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		w = put_utf8(w, cp);
	}
	if (p >= end)
		return -EINVAL;
	*s = *pp;
	*len = (size_t)(w - *pp);
	*pp = p + 1;
	return 0;
}

/* The position just after `"name":[` (or `"name":` for a scalar). */
static char *member(char *json, const char *end, const char *name)
{
	size_t n = strlen(name);
	for (char *p = json; p + n + 3 <= end; p++)
		if (p[0] == '"' && memcmp(p + 1, name, n) == 0 &&
		    p[n + 1] == '"' && p[n + 2] == ':')
			return p + n + 3;
	return NULL;
}

static int meta_member(void *arg, const struct jsonl_member *m)
{
	struct mlist_entry *e = arg;
	uint64_t v;
	if (jsonl_is(m, "size") && jsonl_u64(m, &e->size) == 0)
		return 0;
	if (jsonl_is(m, "created_ms") && jsonl_u64(m, &v) == 0) {
		e->created_ms = (int64_t)v;
		return 0;
	}
	if (jsonl_is(m, "md5") && m->type == JSONL_STRING && m->len == 32) {
		memcpy(e->md5, m->str, 32);
		e->md5[32] = '\0';
		return 0;
	}
	return -EINVAL;
}

int mlist_parse(char *json, size_t len,
		int (*fn)(void *arg, const struct mlist_entry *e), void *arg,
		const char **next, size_t *nextlen)
{
	const char *end = json + len;
	char *n = member(json, end, "next");
	char *k = member(json, end, "keys");
	char *m = member(json, end, "meta");
	if (!n || !k || !m || k >= end || *k != '[' || m >= end || *m != '[')
		return -EINVAL;
	/* next comes first: decode it before anything moves. */
	if (string_at(&n, end, next, nextlen))
		return -EINVAL;
	k++;
	m++;
	for (;;) {
		k = (char *)skip_ws(k, end);
		m = (char *)skip_ws(m, end);
		if (k < end && *k == ']')
			return m < end && *m == ']' ? 0 : -EINVAL;
		struct mlist_entry e = {.created_ms = -1};
		if (string_at(&k, end, &e.key, &e.keylen) || m >= end ||
		    *m != '{')
			return -EINVAL;
		char *close = memchr(m, '}', (size_t)(end - m));
		if (!close ||
		    jsonl_parse(m, (size_t)(close + 1 - m), meta_member, &e) ||
		    !e.md5[0])
			return -EINVAL;
		m = close + 1;
		int rc = fn(arg, &e);
		if (rc)
			return rc;
		k = (char *)skip_ws(k, end);
		m = (char *)skip_ws(m, end);
		if (k < end && *k == ',')
			k++;
		if (m < end && *m == ',')
			m++;
	}
}
