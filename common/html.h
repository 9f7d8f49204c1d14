/* The HTML status pages (/_/ui) the daemons render themselves: no
 * framework and no script, so they read the same with JavaScript off; a
 * meta refresh reloads them. Everything put in a page is escaped here.
 *
 * Memory: output is appended to the caller's buf (buf_failed tells of
 * a failed allocation, as buf.h says). Threads: any; html_events reads
 * the log's ring under its lock. */
#ifndef CASK_HTML_H
#define CASK_HTML_H

#include <stddef.h>

#include "common/buf.h"
#include "common/metrics.h"

/* The page's head and title (h1), reloading every refresh_s seconds. */
void html_begin(struct buf *b, const char *title, unsigned refresh_s);
void html_end(struct buf *b);

/* Text, escaped. */
void html_text(struct buf *b, const char *s);
void html_textn(struct buf *b, const char *s, size_t n);
void html_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A byte count as "12.3 MiB". */
void html_bytes(struct buf *b, unsigned long long n);

/* A JSON document (a daemon's own /_/status) as nested tables: objects
 * as name/value rows, arrays of objects as one table with a column per
 * name, byte counts (names ending in "bytes" or "free") in units. Depth
 * is bounded. Returns 0, or -EINVAL at the first byte that is not JSON
 * (what came before stays in b). */
int html_json(struct buf *b, const char *json, size_t len);

/* Requests per method between two samples taken `seconds` apart: rate,
 * errors (5xx or no answer) and p99, for the methods that had any. */
void html_requests(struct buf *b, const struct metrics_sample *from,
		   const struct metrics_sample *to, double seconds);

/* The log's last lines (common/log.h log_recent), newest last. */
void html_events(struct buf *b);

#endif
