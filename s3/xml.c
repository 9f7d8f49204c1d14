/* See xml.h. */
#include "s3/xml.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void xml_text(struct buf *b, const char *s, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		char num[8];
		switch (c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n') {
				snprintf(num, sizeof(num), "&#%u;", c);
				rep = num;
			}
		}
		if (!rep)
			continue;
		buf_append(b, s + run, i - run);
		buf_append(b, rep, strlen(rep));
		run = i + 1;
	}
	buf_append(b, s + run, len - run);
}

void xml_elem(struct buf *b, const char *tag, const char *text, size_t len)
{
	buf_printf(b, "<%s>", tag);
	xml_text(b, text, len);
	buf_printf(b, "</%s>", tag);
}

void xml_elem_u64(struct buf *b, const char *tag, uint64_t n)
{
	buf_printf(b, "<%s>%llu</%s>", tag, (unsigned long long)n, tag);
}

void xml_time(struct buf *b, const char *tag, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char s[40];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "<%s>%s.%03dZ</%s>", tag, s, (int)(ms % 1000), tag);
}

void xml_error(struct buf *b, const char *code, const char *message,
	       const char *resource, const char *request_id)
{
	buf_printf(b, XML_HEAD "<Error>");
	xml_elem(b, "Code", code, strlen(code));
	xml_elem(b, "Message", message, strlen(message));
	xml_elem(b, "Resource", resource, strlen(resource));
	xml_elem(b, "RequestId", request_id, strlen(request_id));
	buf_printf(b, "</Error>\n");
}
