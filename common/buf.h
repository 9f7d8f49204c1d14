/* A growable byte buffer for building small responses (JSON, metrics).
 *
 * Owned by its user; free with buf_free. Allocation failure is sticky:
 * later appends are ignored and buf_failed reports it, so a builder can
 * append freely and check once. */
#ifndef CASK_BUF_H
#define CASK_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

void buf_append(struct buf *b, const void *data, size_t len);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends `s` as a JSON string literal, quotes included. */
void buf_json_string(struct buf *b, const char *s, size_t len);
bool buf_failed(const struct buf *b);
/* One past the last byte. An empty buffer may have no data at all, and
 * NULL + 0 is undefined behaviour, so walk buffers from data to buf_end. */
static inline char *buf_end(const struct buf *b)
{
	return b->len ? b->data + b->len : b->data;
}
/* Hands the NUL-terminated data to the caller, who frees it. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

#endif
