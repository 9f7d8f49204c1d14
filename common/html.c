/* The HTML status pages: see html.h. */
#include "common/html.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define DEPTH_MAX 8

static const char style[] =
	"body{font:14px/1.4 sans-serif;margin:1em 2em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}"
	"table{border-collapse:collapse;margin:.3em 0}"
	"th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;"
	"vertical-align:top}th{background:#f2f2f2}"
	".ok{color:#070}.bad{color:#b00;font-weight:bold}"
	".leader{font-weight:bold}pre{background:#f7f7f7;padding:.5em;"
	"overflow-x:auto}";

void html_textn(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '<':
			buf_append(b, "&lt;", 4);
			break;
		case '>':
			buf_append(b, "&gt;", 4);
			break;
		case '&':
			buf_append(b, "&amp;", 5);
			break;
		case '"':
			buf_append(b, "&quot;", 6);
			break;
		default:
			buf_append(b, s + i, 1);
		}
	}
}

void html_text(struct buf *b, const char *s)
{
	html_textn(b, s, strlen(s));
}

void html_printf(struct buf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		html_textn(b, line,
			   (size_t)n < sizeof(line) ? (size_t)n
						    : sizeof(line) - 1);
}

void html_begin(struct buf *b, const char *title, unsigned refresh_s)
{
	buf_printf(b,
		   "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		   "<meta charset=\"utf-8\">"
		   "<meta http-equiv=\"refresh\" content=\"%u\">"
		   "<title>",
		   refresh_s);
	html_text(b, title);
	buf_printf(b, "</title><style>%s</style></head><body><h1>", style);
	html_text(b, title);
	buf_printf(b, "</h1>\n");
}

void html_end(struct buf *b)
{
	buf_printf(b, "</body></html>\n");
}

void html_bytes(struct buf *b, unsigned long long n)
{
	static const char *const units[] = {"B",   "KiB", "MiB",
					    "GiB", "TiB", "PiB"};
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		buf_printf(b, "%llu B", n);
	else
		buf_printf(b, "%.1f %s", v, units[u]);
}

/* A cursor over JSON text. */
struct js {
	const char *p, *end;
	int depth;
};

static void skip_ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' ||
				 *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

/* A string's raw contents (escapes left as they are, which html_textn
 * shows faithfully enough for a status page). */
static int string_span(struct js *j, const char **s, size_t *n)
{
	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	const char *start = ++j->p;
	while (j->p < j->end && *j->p != '"')
		j->p += *j->p == '\\' && j->p + 1 < j->end ? 2 : 1;
	if (j->p >= j->end)
		return -EINVAL;
	*s = start;
	*n = (size_t)(j->p++ - start);
	return 0;
}

static bool is_bytes(const char *name, size_t n)
{
	return (n >= 5 && memcmp(name + n - 5, "bytes", 5) == 0) ||
	       (n >= 4 && memcmp(name + n - 4, "free", 4) == 0);
}

static int value(struct buf *b, struct js *j, const char *name, size_t nlen);

/* One object of an array of them: its values into row, its names into
 * head. */
static int object_row(struct js *j, struct buf *row, struct buf *head)
{
	skip_ws(j);
	if (j->p >= j->end || *j->p != '{')
		return -EINVAL;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		const char *k;
		size_t kn;
		skip_ws(j);
		if (string_span(j, &k, &kn))
			return -EINVAL;
		skip_ws(j);
		if (j->p >= j->end || *j->p++ != ':')
			return -EINVAL;
		buf_printf(head, "<th>");
		html_textn(head, k, kn);
		buf_printf(head, "</th>");
		buf_printf(row, "<td>");
		if (value(row, j, k, kn))
			return -EINVAL;
		buf_printf(row, "</td>");
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		return j->p < j->end && *j->p++ == '}' ? 0 : -EINVAL;
	}
}

/* An array whose first element is an object: one row per element, the
 * columns the first element's names. */
static int object_rows(struct buf *b, struct js *j)
{
	buf_printf(b, "<table>");
	for (bool first = true;; first = false) {
		struct buf row = {0}, head = {0};
		int rc = object_row(j, &row, &head);
		if (!rc && first)
			buf_printf(b, "<tr>%s</tr>", head.len ? head.data : "");
		if (!rc)
			buf_printf(b, "<tr>%s</tr>", row.len ? row.data : "");
		buf_free(&row);
		buf_free(&head);
		if (rc)
			return rc;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		break;
	}
	buf_printf(b, "</table>");
	return j->p < j->end && *j->p++ == ']' ? 0 : -EINVAL;
}

static int container(struct buf *b, struct js *j, bool object)
{
	if (++j->depth > DEPTH_MAX)
		return -EINVAL;
	j->p++;
	skip_ws(j);
	char close = object ? '}' : ']';
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		buf_printf(b, object ? "{}" : "(none)");
		return 0;
	}
	if (!object && *j->p == '{') {
		int rc = object_rows(b, j);
		j->depth--;
		return rc;
	}
	buf_printf(b, object ? "<table>" : "<ol>");
	for (;;) {
		skip_ws(j);
		const char *k = NULL;
		size_t kn = 0;
		if (object) {
			if (string_span(j, &k, &kn))
				return -EINVAL;
			skip_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return -EINVAL;
			buf_printf(b, "<tr><th>");
			html_textn(b, k, kn);
			buf_printf(b, "</th><td>");
		} else {
			buf_printf(b, "<li>");
		}
		if (value(b, j, k, kn))
			return -EINVAL;
		buf_printf(b, object ? "</td></tr>" : "</li>");
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		break;
	}
	if (j->p >= j->end || *j->p++ != close)
		return -EINVAL;
	buf_printf(b, object ? "</table>" : "</ol>");
	j->depth--;
	return 0;
}

static int value(struct buf *b, struct js *j, const char *name, size_t nlen)
{
	skip_ws(j);
	if (j->p >= j->end)
		return -EINVAL;
	if (*j->p == '{' || *j->p == '[')
		return container(b, j, *j->p == '{');
	if (*j->p == '"') {
		const char *s;
		size_t n;
		if (string_span(j, &s, &n))
			return -EINVAL;
		html_textn(b, s, n);
		return 0;
	}
	const char *start = j->p;
	while (j->p < j->end &&
	       (strchr("+-.eE", *j->p) || (*j->p >= '0' && *j->p <= '9') ||
		(*j->p >= 'a' && *j->p <= 'z')))
		j->p++;
	if (j->p == start)
		return -EINVAL;
	size_t n = (size_t)(j->p - start);
	bool digits = start[0] >= '0' && start[0] <= '9';
	if (name && digits && is_bytes(name, nlen))
		html_bytes(b, strtoull(start, NULL, 10));
	else
		html_textn(b, start, n);
	return 0;
}

int html_json(struct buf *b, const char *json, size_t len)
{
	struct js j = {json, json + len, 0};
	int rc = value(b, &j, NULL, 0);
	skip_ws(&j);
	return rc || j.p != j.end ? -EINVAL : 0;
}

void html_requests(struct buf *b, const struct metrics_sample *from,
		   const struct metrics_sample *to, double seconds)
{
	buf_printf(b, "<table><tr><th>method</th><th>requests/s</th>"
		      "<th>errors/s</th><th>p99</th><th>total</th></tr>");
	bool any = false;
	for (int m = 0; m < METRICS_METHODS; m++) {
		uint64_t n = to->count[m] - from->count[m];
		if (!to->count[m])
			continue;
		any = true;
		double p99 = metrics_p99(from, to, (enum metrics_method)m);
		buf_printf(b, "<tr><td>%s</td><td>%.1f</td><td>%.1f</td><td>",
			   metrics_method_name((enum metrics_method)m),
			   seconds > 0 ? (double)n / seconds : 0,
			   seconds > 0
				   ? (double)(to->errors[m] - from->errors[m]) /
					     seconds
				   : 0);
		if (!n)
			buf_printf(b, "-");
		else if (p99 > 1e9)
			buf_printf(b, "&gt; 10 s");
		else if (p99 < 0.001)
			buf_printf(b, "&le; %.0f µs", p99 * 1e6);
		else
			buf_printf(b, "&le; %.1f ms", p99 * 1e3);
		buf_printf(b, "</td><td>%llu</td></tr>",
			   (unsigned long long)to->count[m]);
	}
	if (!any)
		buf_printf(b, "<tr><td colspan=\"5\">none yet</td></tr>");
	buf_printf(b, "</table>\n");
}

static void one_event(void *arg, const char *line)
{
	struct buf *b = arg;
	html_text(b, line);
	buf_append(b, "\n", 1);
}

void html_events(struct buf *b)
{
	buf_printf(b, "<pre>");
	log_recent(one_event, b);
	buf_printf(b, "</pre>\n");
}
