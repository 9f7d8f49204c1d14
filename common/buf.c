#include "common/buf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What every buffer satisfies between calls: no storage and nothing in
 * it, or storage with room for the terminator after len bytes. */
static void check(const struct buf *b)
{
	assert(b);
	assert(b->data ? b->len < b->cap : b->len == 0 && b->cap == 0);
}

static bool reserve(struct buf *b, size_t extra)
{
	check(b);
	if (b->failed)
		return false;
	if (extra < b->cap - b->len)
		return true;
	/* A size that cannot be represented fails like a failed malloc. */
	if (extra > SIZE_MAX / 4 - b->len) {
		b->failed = true;
		return false;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d) {
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	assert(data || !len);
	if (!reserve(b, len))
		return;
	if (len) /* an empty buffer's data may be NULL: memcpy wants none */
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	assert(fmt);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n)) {
		b->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_json_string(struct buf *b, const char *s, size_t len)
{
	assert(s || !len);
	buf_append(b, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			buf_append(b, esc, 2);
		} else {
			buf_printf(b, "\\u%04x", c);
		}
	}
	buf_append(b, s + run, len - run);
	buf_append(b, "\"", 1);
}

bool buf_failed(const struct buf *b)
{
	check(b);
	return b->failed;
}

char *buf_steal(struct buf *b)
{
	if (!reserve(b, 0)) {
		buf_free(b);
		return NULL;
	}
	/* An empty buffer that was never appended to has no terminator. */
	b->data[b->len] = '\0';
	char *d = b->data;
	*b = (struct buf){0};
	return d;
}

void buf_free(struct buf *b)
{
	check(b);
	free(b->data);
	*b = (struct buf){0};
}
