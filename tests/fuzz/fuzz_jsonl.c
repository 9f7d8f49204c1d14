/* Fuzzes the NDJSON parser (common/jsonl.h): every line a tool or a
 * master reads from /_/keys, /_/admin/records or a volume list.
 *
 * Invariants, for every line jsonl_parse() accepts:
 *  - decoded strings point into the line;
 *  - writing the members back out (names and strings with
 *    buf_json_string, the writers' own encoder) and parsing that gives
 *    the same members, and writing those gives the same line: the
 *    parser and the writers agree on every byte, so keys that are not
 *    UTF-8 round-trip;
 *  - jsonl_u64() accepts a NUMBER exactly when it is 1 to 20 digits
 *    naming at most UINT64_MAX, with that value;
 *  - a callback's nonzero return stops the parse and is its result. */
#include <errno.h>
#include <stdbool.h>

#include "common/buf.h"
#include "common/jsonl.h"
#include "tests/fuzz/fuzz.h"

struct members {
	struct jsonl_member *m;
	size_t n, cap;
};

static int collect(void *arg, const struct jsonl_member *m)
{
	struct members *ms = arg;
	if (ms->n == ms->cap) {
		ms->cap = ms->cap ? 2 * ms->cap : 16;
		ms->m = realloc(ms->m, ms->cap * sizeof(*ms->m));
		FUZZ_CHECK(ms->m);
	}
	ms->m[ms->n++] = *m;
	return 0;
}

static int stop(void *arg, const struct jsonl_member *m)
{
	(void)arg;
	(void)m;
	return 7;
}

/* The reference for jsonl_u64: digits only, checked for overflow. */
static bool ref_u64(const struct jsonl_member *m, uint64_t *out)
{
	if (m->type != JSONL_NUMBER || m->len == 0 || m->len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < m->len; i++) {
		unsigned d = (unsigned)(m->str[i] - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static void check_member(const struct jsonl_member *m, const char *line,
			 size_t len)
{
	FUZZ_CHECK(fuzz_within(m->name, m->namelen, line, len));
	if (m->type == JSONL_STRING || m->type == JSONL_NUMBER)
		FUZZ_CHECK(fuzz_within(m->str, m->len, line, len));
	if (m->type == JSONL_STRINGS) {
		FUZZ_CHECK(m->nstrs <= JSONL_MAX_STRS);
		for (unsigned i = 0; i < m->nstrs; i++)
			FUZZ_CHECK(
				fuzz_within(m->strs[i], m->lens[i], line, len));
	}
	uint64_t got = 0, want = 0;
	bool ok = jsonl_u64(m, &got) == 0;
	FUZZ_CHECK(ok == ref_u64(m, &want));
	FUZZ_CHECK(!ok || got == want);
}

/* Writes the members out as one object, as cask's writers would. */
static void write_line(struct buf *b, const struct members *ms)
{
	buf_append(b, "{", 1);
	for (size_t i = 0; i < ms->n; i++) {
		const struct jsonl_member *m = &ms->m[i];
		if (i)
			buf_append(b, ",", 1);
		buf_json_string(b, m->name, m->namelen);
		buf_append(b, ":", 1);
		switch (m->type) {
		case JSONL_STRING:
			buf_json_string(b, m->str, m->len);
			break;
		case JSONL_NUMBER:
			buf_append(b, m->str, m->len);
			break;
		case JSONL_BOOL:
			buf_printf(b, "%s", m->boolean ? "true" : "false");
			break;
		case JSONL_NULL:
			buf_append(b, "null", 4);
			break;
		case JSONL_STRINGS:
			buf_append(b, "[", 1);
			for (unsigned j = 0; j < m->nstrs; j++) {
				if (j)
					buf_append(b, ",", 1);
				buf_json_string(b, m->strs[j], m->lens[j]);
			}
			buf_append(b, "]", 1);
			break;
		}
	}
	buf_append(b, "}", 1);
	FUZZ_CHECK(!buf_failed(b));
}

static bool bytes_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool member_equal(const struct jsonl_member *a,
			 const struct jsonl_member *b)
{
	if (!bytes_equal(a->name, a->namelen, b->name, b->namelen) ||
	    a->type != b->type)
		return false;
	switch (a->type) {
	case JSONL_STRING:
	case JSONL_NUMBER:
		return bytes_equal(a->str, a->len, b->str, b->len);
	case JSONL_BOOL:
		return a->boolean == b->boolean;
	case JSONL_NULL:
		return true;
	case JSONL_STRINGS:
		if (a->nstrs != b->nstrs)
			return false;
		for (unsigned i = 0; i < a->nstrs; i++)
			if (!bytes_equal(a->strs[i], a->lens[i], b->strs[i],
					 b->lens[i]))
				return false;
		return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly size bytes, so reading one past the line is caught. */
	char *line = malloc(size ? size : 1);
	FUZZ_CHECK(line);
	if (size)
		memcpy(line, data, size);
	struct members ms = {0};
	int rc = jsonl_parse(line, size, collect, &ms);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		for (size_t i = 0; i < ms.n; i++)
			check_member(&ms.m[i], line, size);
		struct buf once = {0}, twice = {0};
		write_line(&once, &ms);
		char *copy = malloc(once.len);
		FUZZ_CHECK(copy);
		memcpy(copy, once.data, once.len);
		struct members again = {0};
		FUZZ_CHECK(jsonl_parse(copy, once.len, collect, &again) == 0);
		FUZZ_CHECK(again.n == ms.n);
		for (size_t i = 0; i < ms.n; i++)
			FUZZ_CHECK(member_equal(&ms.m[i], &again.m[i]));
		write_line(&twice, &again);
		FUZZ_CHECK(bytes_equal(once.data, once.len, twice.data,
				       twice.len));
		free(again.m);
		free(copy);
		buf_free(&once);
		buf_free(&twice);
	}
	if (ms.n > 0) {
		/* The parse called back at least once: stopping at the
		 * first member must return what the callback did. */
		memcpy(line, data, size);
		FUZZ_CHECK(jsonl_parse(line, size, stop, NULL) == 7);
	}
	free(ms.m);
	free(line);
	return 0;
}
