/* The XML S3 speaks: escaped text and the error document.
 *
 * Builders append to a struct buf (common/buf.h), whose allocation
 * failure is sticky and checked once by the caller. Thread-safe. */
#ifndef CASK_S3_XML_H
#define CASK_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define XML_NS	 "http://s3.amazonaws.com/doc/2006-03-01/"

/* Appends s (len bytes) with &, <, >, " and ' escaped, and control
 * characters (which XML 1.0 cannot carry) as numeric references. */
void xml_text(struct buf *b, const char *s, size_t len);

/* Appends <tag>text</tag>, the text escaped. */
void xml_elem(struct buf *b, const char *tag, const char *text, size_t len);

/* Appends <tag>N</tag>. */
void xml_elem_u64(struct buf *b, const char *tag, uint64_t n);

/* Appends an ISO 8601 time in UTC with milliseconds, as S3 writes
 * LastModified: 2026-12-03T17:00:00.000Z. */
void xml_time(struct buf *b, const char *tag, int64_t ms);

/* The whole error document: <Error><Code>..</Code><Message>..</Message>
 * <Resource>..</Resource><RequestId>..</RequestId></Error>. */
void xml_error(struct buf *b, const char *code, const char *message,
	       const char *resource, const char *request_id);

#endif
