/* See gateway.h. */
#include "s3/gateway.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/clock.h"
#include "common/httpd.h"
#include "common/key.h"
#include "common/log.h"
#include "common/md5.h"
#include "common/metrics.h"
#include "s3/mlist.h"
#include "s3/sigv4.h"
#include "s3/xml.h"

#define BUCKET_MAX     63
#define BUCKETS_PREFIX "/.s3/buckets/"
/* What a DeleteObjects may send (1000 keys of up to 1 KiB, in XML);
 * other requests without a value may send 64 KiB, which is dropped. */
#define DELETE_BODY_MAX (2u << 20)
#define SMALL_BODY_MAX	(64 * 1024)
#define DELETE_KEYS_MAX 1000
#define LIST_PAGE	1000
#define LIST_ANSWER_MAX (8u << 20)
#define FWD_BUF		(64 * 1024)

struct gw {
	struct gw_options o;
	struct httpserver *srv;
	atomic_uint_fast64_t requests, refused, bytes_in, bytes_out;
	atomic_uint_fast64_t next_id;
};

enum op {
	OP_NONE,
	OP_LIST_BUCKETS,
	OP_CREATE_BUCKET,
	OP_HEAD_BUCKET,
	OP_DELETE_BUCKET,
	OP_LIST_OBJECTS,
	OP_BUCKET_LOCATION,
	OP_PUT_OBJECT,
	OP_GET_OBJECT,
	OP_HEAD_OBJECT,
	OP_DELETE_OBJECT,
	OP_DELETE_OBJECTS,
	OP_COPY_OBJECT,
};

struct greq {
	struct gw *g;
	struct MHD_Connection *c;
	enum op op;
	enum metrics_method method;
	uint64_t start_us;
	char id[20];
	char resource[KEY_MAX + 64]; /* what an error names */
	char bucket[BUCKET_MAX + 1];
	char key[KEY_MAX + 1]; /* the cask key of the object, /b/k */
	size_t keylen;
	bool answered;
	unsigned status;
	/* A PUT's body on its way. */
	struct sigv4_auth auth;
	struct sigv4_chunks *chunks;
	EVP_MD_CTX *sha;
	struct md5 md5;
	bool md5_on;
	struct up_put *put;
	uint64_t length;   /* the value's, as declared */
	uint64_t received; /* of the value, decoded */
	char held;	   /* the last byte, sent once the body is proven */
	bool holding;
	int failed; /* a negative errno once the body went wrong */
	const char *failed_code, *failed_why;
	unsigned failed_status;
	size_t small;	 /* bytes of another request's body */
	struct buf body; /* a DeleteObjects's, kept */
};

/* ---- answers ---- */

static enum MHD_Result queue(struct greq *r, unsigned code,
			     struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "x-amz-request-id", r->id);
	MHD_add_response_header(resp, "Server", "cask-s3");
	r->status = code;
	r->answered = true;
	enum MHD_Result ret = MHD_queue_response(r->c, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result s3_error(struct greq *r, unsigned code,
				const char *s3code, const char *message)
{
	struct buf b = {0};
	xml_error(&b, s3code, message, r->resource, r->id);
	if (buf_failed(&b)) {
		buf_free(&b);
		return MHD_NO;
	}
	size_t len = b.len;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, buf_steal(&b), MHD_RESPMEM_MUST_FREE);
	if (resp)
		MHD_add_response_header(resp, "Content-Type",
					"application/xml");
	if (code >= 500 && resp)
		MHD_add_response_header(resp, "Retry-After", "1");
	return queue(r, code, resp);
}

static enum MHD_Result reply_xml(struct greq *r, struct buf *b)
{
	if (buf_failed(b)) {
		buf_free(b);
		return s3_error(r, 500, "InternalError", "out of memory");
	}
	size_t len = b->len;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, buf_steal(b), MHD_RESPMEM_MUST_FREE);
	if (resp)
		MHD_add_response_header(resp, "Content-Type",
					"application/xml");
	return queue(r, 200, resp);
}

static enum MHD_Result reply_empty(struct greq *r, unsigned code)
{
	return queue(r, code,
		     MHD_create_response_from_buffer(0, NULL,
						     MHD_RESPMEM_PERSISTENT));
}

/* A master's or the transport's failure, as S3 would say it. */
static enum MHD_Result cluster_error(struct greq *r, int rc,
				     const struct up_resp *u)
{
	if (rc) {
		log_warn("s3: %s: the cluster: %s", r->resource, strerror(-rc));
		return s3_error(r, 503, "ServiceUnavailable",
				"the cluster cannot be reached");
	}
	log_warn("s3: %s: a master answered %ld: %s", r->resource, u->code,
		 u->reason);
	if (u->code == 507)
		return s3_error(r, 507, "InsufficientStorage",
				"no volume has room");
	if (u->code == 503)
		return s3_error(r, 503, "ServiceUnavailable",
				"the cluster has no leader");
	if (u->code == 409)
		return s3_error(r, 409, "OperationAborted",
				"another write to this key is in flight");
	return s3_error(r, 500, "InternalError", "the cluster refused");
}

/* ---- names ---- */

static bool bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > BUCKET_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && ((c != '-' && c != '.') || i == 0 || i == n - 1))
			return false;
	}
	return true;
}

/* The percent-encoded cask path of key[0..len), with `query` after it. */
static int cask_path(const char *key, size_t len, const char *query, char *out,
		     size_t cap)
{
	long n = key_pct_encode(key, len, out, cap);
	if (n < 0 || (size_t)n + strlen(query) + 1 > cap)
		return -ENAMETOOLONG;
	strcpy(out + n, query);
	return 0;
}

static int bucket_path(const char *bucket, char *out, size_t cap)
{
	char key[sizeof(BUCKETS_PREFIX) + BUCKET_MAX];
	int n = snprintf(key, sizeof(key), BUCKETS_PREFIX "%s", bucket);
	return cask_path(key, (size_t)n, "", out, cap);
}

/* 1 when the bucket exists, 0 when not, or a negative errno. */
static int bucket_exists(struct greq *r, const char *bucket)
{
	char path[KEY_PCT_MAX + 1];
	if (bucket_path(bucket, path, sizeof(path)))
		return -ENAMETOOLONG;
	struct up_resp u;
	int rc = upstream_call(r->g->o.up, "HEAD", path, NULL, 0, false, 0, &u);
	up_resp_free(&u);
	if (rc)
		return rc;
	if (u.code == 302)
		return 1;
	return u.code == 404 ? 0 : -EIO;
}

/* DELETE of a cask path: 204 whether it was there or not, as S3 says. */
static enum MHD_Result delete_path(struct greq *r, const char *path)
{
	struct up_resp u;
	int rc = upstream_call(r->g->o.up, "DELETE", path, NULL, 0, true, 4096,
			       &u);
	enum MHD_Result ret = !rc && (u.code == 204 || u.code == 404)
				      ? reply_empty(r, 204)
				      : cluster_error(r, rc, &u);
	up_resp_free(&u);
	return ret;
}

/* ---- request state ---- */

static const char *header(void *arg, const char *name)
{
	return MHD_lookup_connection_value(arg, MHD_HEADER_KIND, name);
}

/* A query argument, percent-decoded (the server leaves them as sent). */
static long arg(struct greq *r, const char *name, char *out, size_t cap)
{
	return http_query_arg(r->c, name, out, cap);
}

static bool has_arg(struct greq *r, const char *name)
{
	return MHD_lookup_connection_value_n(r->c, MHD_GET_ARGUMENT_KIND, name,
					     strlen(name), NULL,
					     NULL) == MHD_YES;
}

/* ---- buckets ---- */

struct bucket_walk {
	struct buf *b;
};

static int bucket_one(void *arg, const struct mlist_entry *e)
{
	struct bucket_walk *w = arg;
	size_t skip = strlen(BUCKETS_PREFIX);
	if (e->keylen <= skip)
		return 0;
	buf_printf(w->b, "<Bucket>");
	xml_elem(w->b, "Name", e->key + skip, e->keylen - skip);
	xml_time(w->b, "CreationDate", e->created_ms);
	buf_printf(w->b, "</Bucket>");
	return 0;
}

static enum MHD_Result list_buckets(struct greq *r)
{
	struct up_resp u;
	int rc = upstream_call(r->g->o.up, "GET",
			       "/.s3/buckets/?list&meta&limit=100000", NULL, 0,
			       false, LIST_ANSWER_MAX, &u);
	if (rc || u.code != 200) {
		enum MHD_Result ret = cluster_error(r, rc, &u);
		up_resp_free(&u);
		return ret;
	}
	struct buf b = {0};
	struct bucket_walk w = {&b};
	buf_printf(&b, XML_HEAD "<ListAllMyBucketsResult xmlns=\"" XML_NS "\">"
				"<Owner><ID>cask</ID><DisplayName>cask</"
				"DisplayName></Owner><Buckets>");
	const char *next;
	size_t nextlen;
	if (buf_failed(&u.body) ||
	    mlist_parse(u.body.data, u.body.len, bucket_one, &w, &next,
			&nextlen)) {
		up_resp_free(&u);
		buf_free(&b);
		return s3_error(r, 500, "InternalError",
				"the master's listing did not parse");
	}
	up_resp_free(&u);
	buf_printf(&b, "</Buckets></ListAllMyBucketsResult>\n");
	return reply_xml(r, &b);
}

static enum MHD_Result create_bucket(struct greq *r)
{
	char path[KEY_PCT_MAX + 1], body[64];
	if (bucket_path(r->bucket, path, sizeof(path)))
		return s3_error(r, 400, "InvalidBucketName", "name too long");
	int n = snprintf(body, sizeof(body), "{\"created_ms\":%" PRIu64 "}\n",
			 clock_wall_ms());
	struct up_resp u;
	int rc = upstream_call(r->g->o.up, "PUT", path, body, (size_t)n, true,
			       4096, &u);
	enum MHD_Result ret;
	if (!rc && u.code == 201) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(
			0, NULL, MHD_RESPMEM_PERSISTENT);
		char loc[BUCKET_MAX + 2];
		snprintf(loc, sizeof(loc), "/%s", r->bucket);
		if (resp)
			MHD_add_response_header(resp, "Location", loc);
		ret = queue(r, 200, resp);
	} else if (!rc && u.code == 403) {
		ret = s3_error(r, 409, "BucketAlreadyOwnedByYou",
			       "the bucket exists");
	} else {
		ret = cluster_error(r, rc, &u);
	}
	up_resp_free(&u);
	return ret;
}

static enum MHD_Result head_bucket(struct greq *r)
{
	int rc = bucket_exists(r, r->bucket);
	if (rc < 0)
		return s3_error(r, 503, "ServiceUnavailable",
				"the cluster cannot be reached");
	if (!rc)
		return s3_error(r, 404, "NoSuchBucket",
				"the bucket does not exist");
	return reply_empty(r, 200);
}

static enum MHD_Result delete_bucket(struct greq *r)
{
	char key[BUCKET_MAX + 3], path[KEY_PCT_MAX + 64];
	int n = snprintf(key, sizeof(key), "/%s/", r->bucket);
	int rc = bucket_exists(r, r->bucket);
	if (rc == 0)
		return s3_error(r, 404, "NoSuchBucket",
				"the bucket does not exist");
	struct up_resp u;
	if (rc > 0)
		rc = cask_path(key, (size_t)n, "?list&limit=1", path,
			       sizeof(path));
	if (rc < 0)
		return s3_error(r, 503, "ServiceUnavailable",
				"the cluster cannot be reached");
	rc = upstream_call(r->g->o.up, "GET", path, NULL, 0, false, 65536, &u);
	bool empty = !rc && u.code == 200 && !buf_failed(&u.body) &&
		     u.body.len && strstr(u.body.data, "\"keys\":[]");
	if (rc || u.code != 200) {
		enum MHD_Result ret = cluster_error(r, rc, &u);
		up_resp_free(&u);
		return ret;
	}
	up_resp_free(&u);
	if (!empty)
		return s3_error(r, 409, "BucketNotEmpty",
				"the bucket you tried to delete is not empty");
	if (bucket_path(r->bucket, path, sizeof(path)))
		return s3_error(r, 400, "InvalidBucketName", "name too long");
	return delete_path(r, path);
}

static enum MHD_Result bucket_location(struct greq *r)
{
	struct buf b = {0};
	buf_printf(&b, XML_HEAD "<LocationConstraint xmlns=\"" XML_NS
				"\"></LocationConstraint>\n");
	return reply_xml(r, &b);
}

/* ---- ListObjects ---- */

struct lister {
	struct greq *r;
	struct buf *out;
	bool v2, url;
	const char *prefix; /* of the object keys */
	size_t prefixlen;
	const char *delim;
	size_t delimlen;
	size_t max, count;
	size_t base; /* strlen("/b/") */
	/* Where the next page starts: a cask key, and whether a key equal
	 * to it is to be skipped (StartAfter, a marker). */
	char start[KEY_MAX + 2];
	size_t startlen;
	bool exclusive;
	char last_cp[KEY_MAX + 1]; /* the last CommonPrefix given */
	size_t last_cplen;
	bool truncated;
	bool restart; /* the walk jumped past a common prefix */
	char next_marker[KEY_MAX + 1];
	size_t next_markerlen;
};

static void list_text(struct lister *l, const char *tag, const char *s,
		      size_t n)
{
	if (!l->url) {
		xml_elem(l->out, tag, s, n);
		return;
	}
	char enc[KEY_PCT_MAX + 1];
	long e = key_pct_encode(s, n, enc, sizeof(enc));
	xml_elem(l->out, tag, enc, e > 0 ? (size_t)e : 0);
}

static void mark(struct lister *l, const char *key, size_t n)
{
	memcpy(l->next_marker, key, n);
	l->next_markerlen = n;
}

static int list_one(void *arg, const struct mlist_entry *e)
{
	struct lister *l = arg;
	if (e->keylen < l->base)
		return 0;
	const char *rel = e->key + l->base;
	size_t rlen = e->keylen - l->base;
	if (l->exclusive && e->keylen == l->startlen &&
	    memcmp(e->key, l->start, e->keylen) == 0)
		return 0;
	if (l->count == l->max) {
		l->truncated = true;
		return 1;
	}
	if (l->delimlen && rlen >= l->prefixlen) {
		const char *d = memmem(rel + l->prefixlen, rlen - l->prefixlen,
				       l->delim, l->delimlen);
		if (d) {
			size_t cplen = (size_t)(d - rel) + l->delimlen;
			if (cplen == l->last_cplen &&
			    memcmp(rel, l->last_cp, cplen) == 0)
				return 0; /* in the group already given */
			memcpy(l->last_cp, rel, cplen);
			l->last_cplen = cplen;
			buf_printf(l->out, "<CommonPrefixes>");
			list_text(l, "Prefix", rel, cplen);
			buf_printf(l->out, "</CommonPrefixes>");
			l->count++;
			mark(l, rel, cplen);
			/* Jump past the group: the first key after every key
			 * that starts with it, when its last byte can grow. */
			unsigned char lastc = (unsigned char)rel[cplen - 1];
			if (lastc < 0xff) {
				memcpy(l->start, e->key, l->base + cplen);
				l->start[l->base + cplen - 1] =
					(char)(lastc + 1);
				l->startlen = l->base + cplen;
				l->exclusive = false;
				l->restart = true;
				return 1;
			}
			return 0;
		}
	}
	buf_printf(l->out, "<Contents>");
	list_text(l, "Key", rel, rlen);
	xml_time(l->out, "LastModified", e->created_ms);
	buf_printf(l->out,
		   "<ETag>&quot;%s&quot;</ETag><Size>%" PRIu64
		   "</Size><Owner><ID>cask</ID><DisplayName>cask</"
		   "DisplayName></Owner><StorageClass>STANDARD</"
		   "StorageClass></Contents>",
		   e->md5, e->size);
	l->count++;
	mark(l, rel, rlen);
	memcpy(l->start, e->key, e->keylen);
	l->startlen = e->keylen;
	l->exclusive = true;
	return 0;
}

/* Hex of s, the continuation token (opaque to the client). */
static void token_of(const char *s, size_t n, bool exclusive, char *out)
{
	*out++ = exclusive ? 'a' : 'f';
	for (size_t i = 0; i < n; i++)
		out += sprintf(out, "%02x", (unsigned char)s[i]);
	*out = '\0';
}

static int token_parse(const char *t, size_t n, struct lister *l)
{
	if (n < 1 || (t[0] != 'a' && t[0] != 'f') || (n - 1) % 2 ||
	    (n - 1) / 2 > KEY_MAX)
		return -EINVAL;
	l->exclusive = t[0] == 'a';
	l->startlen = (n - 1) / 2;
	for (size_t i = 0; i < l->startlen; i++) {
		unsigned v;
		if (sscanf(t + 1 + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		l->start[i] = (char)v;
	}
	return 0;
}

static enum MHD_Result list_objects(struct greq *r)
{
	char prefix[KEY_MAX + 1] = "", delim[16] = "", num[16];
	char token[2 * KEY_MAX + 8] = "", after[KEY_MAX + 1] = "";
	char enc[16] = "", list_type[8] = "";
	long plen = arg(r, "prefix", prefix, sizeof(prefix));
	long dlen = arg(r, "delimiter", delim, sizeof(delim));
	long nlen = arg(r, "max-keys", num, sizeof(num));
	long elen = arg(r, "encoding-type", enc, sizeof(enc));
	long tlen = arg(r, "list-type", list_type, sizeof(list_type));
	bool v2 = tlen == 1 && list_type[0] == '2';
	long clen = arg(r, v2 ? "continuation-token" : "marker", token,
			sizeof(token));
	long alen = v2 ? arg(r, "start-after", after, sizeof(after)) : -ENOENT;
	if ((plen < 0 && plen != -ENOENT) || (dlen < 0 && dlen != -ENOENT) ||
	    (clen < 0 && clen != -ENOENT) || (alen < 0 && alen != -ENOENT) ||
	    (tlen >= 0 && !v2 && !(tlen == 1 && list_type[0] == '1')))
		return s3_error(r, 400, "InvalidArgument",
				"a listing argument is malformed or too long");
	if (elen >= 0 && strcmp(enc, "url") != 0)
		return s3_error(r, 400, "InvalidArgument",
				"encoding-type must be url");
	size_t max = 1000;
	if (nlen >= 0) {
		char *end;
		num[nlen] = '\0';
		long v = strtol(num, &end, 10);
		if (!nlen || *end || v < 0)
			return s3_error(r, 400, "InvalidArgument",
					"max-keys must be a number >= 0");
		max = v < 1000 ? (size_t)v : 1000;
	}
	struct buf out = {0};
	struct lister l = {.r = r,
			   .out = &out,
			   .v2 = v2,
			   .url = elen >= 0,
			   .prefix = prefix,
			   .prefixlen = plen > 0 ? (size_t)plen : 0,
			   .delim = delim,
			   .delimlen = dlen > 0 ? (size_t)dlen : 0,
			   .max = max};
	char base[BUCKET_MAX + 3];
	l.base = (size_t)snprintf(base, sizeof(base), "/%s/", r->bucket);
	/* Where to begin: the bucket's prefix, or after a marker/token. */
	memcpy(l.start, base, l.base);
	memcpy(l.start + l.base, prefix, l.prefixlen);
	l.startlen = l.base + l.prefixlen;
	if (l.startlen > KEY_MAX)
		return s3_error(r, 400, "KeyTooLongError", "prefix too long");
	if (v2 && clen > 0) {
		if (token_parse(token, (size_t)clen, &l))
			return s3_error(r, 400, "InvalidArgument",
					"the continuation token is not one "
					"this gateway gave");
	} else if ((!v2 && clen > 0) || alen > 0) {
		const char *m = alen > 0 ? after : token;
		size_t mlen = (size_t)(alen > 0 ? alen : clen);
		if (l.base + mlen > KEY_MAX)
			return s3_error(r, 400, "KeyTooLongError",
					"marker too long");
		/* Only where it lies after the prefix's first key. */
		char cand[KEY_MAX + 1];
		memcpy(cand, base, l.base);
		memcpy(cand + l.base, m, mlen);
		size_t candlen = l.base + mlen;
		int cmp = memcmp(cand, l.start,
				 candlen < l.startlen ? candlen : l.startlen);
		if (cmp > 0 || (cmp == 0 && candlen >= l.startlen)) {
			memcpy(l.start, cand, candlen);
			l.startlen = candlen;
			l.exclusive = true;
		}
	}
	int ex = bucket_exists(r, r->bucket);
	if (ex <= 0)
		return ex == 0 ? s3_error(r, 404, "NoSuchBucket",
					  "the bucket does not exist")
			       : s3_error(r, 503, "ServiceUnavailable",
					  "the cluster cannot be reached");
	buf_printf(&out, XML_HEAD "<ListBucketResult xmlns=\"" XML_NS "\">");
	xml_elem(&out, "Name", r->bucket, strlen(r->bucket));
	list_text(&l, "Prefix", prefix, l.prefixlen);
	if (l.delimlen)
		list_text(&l, "Delimiter", delim, l.delimlen);
	xml_elem_u64(&out, "MaxKeys", max);
	if (l.url)
		xml_elem(&out, "EncodingType", "url", 3);
	if (v2 && clen > 0)
		xml_elem(&out, "ContinuationToken", token, (size_t)clen);
	if (alen > 0)
		list_text(&l, "StartAfter", after, (size_t)alen);
	if (!v2)
		list_text(&l, "Marker", token, clen > 0 ? (size_t)clen : 0);
	char pfx[KEY_MAX + 1];
	memcpy(pfx, base, l.base);
	memcpy(pfx + l.base, prefix, l.prefixlen);
	bool more = max > 0;
	while (more && !buf_failed(&out)) {
		char path[KEY_PCT_MAX + 3 * KEY_MAX + 96], q[3 * KEY_MAX + 64];
		char senc[3 * KEY_MAX + 1];
		long sl =
			key_pct_encode(l.start, l.startlen, senc, sizeof(senc));
		snprintf(q, sizeof(q), "?list&meta&limit=%d&start=%s",
			 LIST_PAGE, sl > 0 ? senc : "");
		struct up_resp u;
		int rc = cask_path(pfx, l.base + l.prefixlen, q, path,
				   sizeof(path));
		if (rc) {
			buf_free(&out);
			return s3_error(r, 400, "KeyTooLongError",
					"prefix too long");
		}
		rc = upstream_call(r->g->o.up, "GET", path, NULL, 0, false,
				   LIST_ANSWER_MAX, &u);
		if (rc || u.code != 200) {
			buf_free(&out);
			enum MHD_Result ret = cluster_error(r, rc, &u);
			up_resp_free(&u);
			return ret;
		}
		const char *next;
		size_t nextlen;
		l.restart = false;
		rc = buf_failed(&u.body)
			     ? -ENOMEM
			     : mlist_parse(u.body.data, u.body.len, list_one,
					   &l, &next, &nextlen);
		if (rc < 0) {
			up_resp_free(&u);
			buf_free(&out);
			return s3_error(r, 500, "InternalError",
					"the master's listing did not parse");
		}
		if (l.truncated) {
			more = false;
		} else if (!l.restart) {
			more = nextlen > 0;
			if (more) {
				memcpy(l.start, next, nextlen);
				l.startlen = nextlen;
				l.exclusive = false;
			}
		}
		up_resp_free(&u);
	}
	buf_printf(&out, "<IsTruncated>%s</IsTruncated>",
		   l.truncated ? "true" : "false");
	if (v2) {
		xml_elem_u64(&out, "KeyCount", l.count);
		if (l.truncated) {
			char t[2 * KEY_MAX + 8];
			token_of(l.start, l.startlen, l.exclusive, t);
			xml_elem(&out, "NextContinuationToken", t, strlen(t));
		}
	} else if (l.truncated && l.delimlen) {
		list_text(&l, "NextMarker", l.next_marker, l.next_markerlen);
	}
	buf_printf(&out, "</ListBucketResult>\n");
	return reply_xml(r, &out);
}

/* ---- objects ---- */

static void http_date(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static ssize_t read_volume(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct up_get *g = cls;
	(void)pos;
	ssize_t n = up_get_read(g, buf, max);
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void end_volume(void *cls)
{
	up_get_end(cls);
}

static ssize_t read_nothing(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls, (void)pos, (void)buf, (void)max;
	return MHD_CONTENT_READER_END_OF_STREAM;
}

static void object_headers(struct MHD_Response *resp, const struct up_resp *u)
{
	char etag[40], date[64];
	snprintf(etag, sizeof(etag), "\"%s\"", u->md5);
	MHD_add_response_header(resp, "ETag", etag);
	if (u->created >= 0) {
		http_date(u->created, date, sizeof(date));
		MHD_add_response_header(resp, "Last-Modified", date);
	}
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	MHD_add_response_header(resp, "Content-Type", "binary/octet-stream");
}

/* GET and HEAD: the master says where the value is; a GET streams it. */
static enum MHD_Result get_object(struct greq *r, bool head)
{
	char path[KEY_PCT_MAX + 1];
	if (cask_path(r->key, r->keylen, "", path, sizeof(path)))
		return s3_error(r, 400, "KeyTooLongError", "key too long");
	struct up_resp u;
	int rc = upstream_call(r->g->o.up, "GET", path, NULL, 0, false, 4096,
			       &u);
	if (!rc && u.code == 404) {
		up_resp_free(&u);
		int ex = bucket_exists(r, r->bucket);
		if (head)
			return reply_empty(r, 404);
		return ex == 0 ? s3_error(r, 404, "NoSuchBucket",
					  "the bucket does not exist")
			       : s3_error(r, 404, "NoSuchKey",
					  "the specified key does not exist");
	}
	if (rc || u.code != 302 || !u.location[0] || u.size < 0) {
		enum MHD_Result ret = cluster_error(r, rc, &u);
		up_resp_free(&u);
		return ret;
	}
	up_resp_free(&u);
	const char *inm = header(r->c, "If-None-Match");
	char etag[40];
	snprintf(etag, sizeof(etag), "\"%s\"", u.md5);
	if (inm && (strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0)) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(
			0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp)
			object_headers(resp, &u);
		return queue(r, 304, resp);
	}
	const char *im = header(r->c, "If-Match");
	if (im && strcmp(im, etag) != 0 && strcmp(im, "*") != 0)
		return s3_error(r, 412, "PreconditionFailed",
				"At least one of the pre-conditions you "
				"specified did not hold");
	const char *range = header(r->c, "Range");
	if (head) {
		struct MHD_Response *resp = MHD_create_response_from_callback(
			(uint64_t)u.size, 4096, read_nothing, NULL, NULL);
		if (resp)
			object_headers(resp, &u);
		return queue(r, 200, resp);
	}
	struct up_get *g;
	long code;
	int64_t length;
	char crange[128];
	rc = up_get_begin(u.location, range, r->g->o.timeout_ms, &g, &code,
			  &length, crange, sizeof(crange));
	if (rc) {
		log_warn("s3: %s: GET %s: %s", r->resource, u.location,
			 strerror(-rc));
		return s3_error(r, 503, "ServiceUnavailable",
				"no volume holding the value answered");
	}
	if (code == 416) {
		up_get_end(g);
		return s3_error(r, 416, "InvalidRange",
				"The requested range is not satisfiable");
	}
	if ((code != 200 && code != 206) || length < 0 ||
	    (code == 200 && length != u.size)) {
		up_get_end(g);
		log_warn("s3: %s: a volume answered %ld", r->resource, code);
		return s3_error(r, 503, "ServiceUnavailable",
				"no volume holding the value answered");
	}
	struct MHD_Response *resp = MHD_create_response_from_callback(
		(uint64_t)length, FWD_BUF, read_volume, g, end_volume);
	if (!resp) {
		up_get_end(g);
		return MHD_NO;
	}
	object_headers(resp, &u);
	if (code == 206)
		MHD_add_response_header(resp, "Content-Range", crange);
	atomic_fetch_add(&r->g->bytes_out, (uint64_t)length);
	return queue(r, (unsigned)code, resp);
}

static enum MHD_Result delete_object(struct greq *r)
{
	char path[KEY_PCT_MAX + 1];
	if (cask_path(r->key, r->keylen, "", path, sizeof(path)))
		return s3_error(r, 400, "KeyTooLongError", "key too long");
	return delete_path(r, path);
}

/* A master's answer to a PUT before its body (rc 1), or the transfer's
 * failure (rc < 0), as S3 says it. */
static enum MHD_Result put_refused(struct greq *r, int rc,
				   struct up_resp *early)
{
	if (rc < 0)
		return cluster_error(r, rc, NULL);
	enum MHD_Result ret;
	if (early->code == 403)
		ret = s3_error(r, 409, "OperationAborted",
			       "the object exists: cask cannot replace an "
			       "object yet; delete it first");
	else if (early->code == 413)
		ret = s3_error(r, 413, "EntityTooLarge",
			       "Your proposed upload exceeds the maximum "
			       "allowed size");
	else
		ret = cluster_error(r, 0, early);
	up_resp_free(early);
	return ret;
}

/* The body proved good: the held last byte goes, and the master answers.
 * Returns 0 on its 201, else -1 with the answer queued in *ret. */
static int put_commit(struct greq *r, enum MHD_Result *ret)
{
	struct up_resp u;
	/* A failed write shows in the master's answer. */
	(void)up_put_write(r->put, &r->held, 1);
	int rc = up_put_end(r->put, &u);
	r->put = NULL;
	if (!rc && u.code == 201) {
		up_resp_free(&u);
		return 0;
	}
	*ret = cluster_error(r, rc, &u);
	if (!rc)
		up_resp_free(&u);
	return -1;
}

/* The first call of a PUT: the declared length, the bucket, and the
 * leader waiting for the body. Returns MHD_YES with r->put set to go on,
 * or the refusal queued. */
static enum MHD_Result put_begin(struct greq *r)
{
	const char *cl = header(r->c, "Content-Length");
	const char *dcl = header(r->c, "x-amz-decoded-content-length");
	bool streaming =
		r->auth.payload == SIGV4_PAYLOAD_STREAMING ||
		r->auth.payload == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
	const char *len = streaming ? dcl : cl;
	char *end;
	if (!len || !*len)
		return s3_error(r, 411, "MissingContentLength",
				"You must provide the Content-Length HTTP "
				"header.");
	errno = 0;
	unsigned long long v = strtoull(len, &end, 10);
	if (*end || errno || *len == '-')
		return s3_error(r, 400, "InvalidArgument",
				"Content-Length is not a number");
	if (v > r->g->o.max_object)
		return s3_error(r, 413, "EntityTooLarge",
				"Your proposed upload exceeds the maximum "
				"allowed size");
	if (v == 0)
		return s3_error(r, 501, "NotImplemented",
				"cask stores no empty values");
	r->length = v;
	int ex = bucket_exists(r, r->bucket);
	if (ex <= 0)
		return ex == 0 ? s3_error(r, 404, "NoSuchBucket",
					  "the bucket does not exist")
			       : s3_error(r, 503, "ServiceUnavailable",
					  "the cluster cannot be reached");
	if (r->auth.payload == SIGV4_PAYLOAD_SHA256) {
		r->sha = EVP_MD_CTX_new();
		if (!r->sha || !EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL))
			return s3_error(r, 503, "SlowDown", "out of memory");
	}
	if (streaming && sigv4_chunks_new(&r->auth, v, &r->chunks))
		return s3_error(r, 503, "SlowDown", "out of memory");
	if (md5_init(&r->md5))
		return s3_error(r, 503, "SlowDown", "out of memory");
	r->md5_on = true;
	char path[KEY_PCT_MAX + 1];
	if (cask_path(r->key, r->keylen, "", path, sizeof(path)))
		return s3_error(r, 400, "KeyTooLongError", "key too long");
	struct up_resp early;
	int rc = up_put_begin(r->g->o.up, path, v, &r->put, &early);
	if (rc == 0)
		return MHD_YES;
	return put_refused(r, rc, &early);
}

static void put_fail(struct greq *r, int err, unsigned status, const char *code,
		     const char *why)
{
	if (r->failed)
		return;
	r->failed = err;
	r->failed_status = status;
	r->failed_code = code;
	r->failed_why = why;
	up_put_abort(r->put);
	r->put = NULL;
}

/* Decoded value bytes: to the master, all but the last byte seen. */
static int forward(void *arg, const char *p, size_t n)
{
	struct greq *r = arg;
	if (!n || r->failed)
		return 0;
	if (r->received + n > r->length) {
		put_fail(r, -EINVAL, 400, "IncompleteBody",
			 "the body is longer than its declared length");
		return -EINVAL;
	}
	r->received += n;
	if (r->sha)
		EVP_DigestUpdate(r->sha, p, n);
	md5_update(&r->md5, p, n);
	if (r->holding && up_put_write(r->put, &r->held, 1)) {
		put_fail(r, -EIO, 0, NULL, NULL);
		return -EIO;
	}
	if (n > 1 && up_put_write(r->put, p, n - 1)) {
		put_fail(r, -EIO, 0, NULL, NULL);
		return -EIO;
	}
	r->held = p[n - 1];
	r->holding = true;
	return 0;
}

static void put_upload(struct greq *r, const char *data, size_t n)
{
	if (r->failed)
		return;
	atomic_fetch_add(&r->g->bytes_in, n);
	if (!r->chunks) {
		forward(r, data, n);
		return;
	}
	int rc = sigv4_chunks_feed(r->chunks, data, n, forward, r);
	if (rc == -EACCES)
		put_fail(r, rc, 403, "SignatureDoesNotMatch",
			 "a chunk's signature does not match");
	else if (rc < 0 && rc != -EIO)
		put_fail(r, rc, 400, "IncompleteBody",
			 "the aws-chunked body is malformed");
}

/* The body is whole: prove it, then let the master have its last byte. */
static enum MHD_Result put_end(struct greq *r)
{
	if (!r->failed && r->chunks && sigv4_chunks_end(r->chunks))
		put_fail(r, -EINVAL, 400, "IncompleteBody",
			 "the aws-chunked body ended early");
	if (!r->failed && r->received != r->length)
		put_fail(r, -EINVAL, 400, "IncompleteBody",
			 "You did not provide the number of bytes "
			 "specified by the Content-Length HTTP header");
	if (!r->failed && r->sha) {
		uint8_t got[32];
		EVP_DigestFinal_ex(r->sha, got, NULL);
		if (memcmp(got, r->auth.sha256, 32) != 0)
			put_fail(r, -EACCES, 400, "XAmzContentSHA256Mismatch",
				 "The provided 'x-amz-content-sha256' header "
				 "does not match what was computed.");
	}
	uint8_t md5[MD5_LEN];
	md5_final(&r->md5, md5);
	r->md5_on = false;
	const char *want = header(r->c, "Content-MD5");
	if (!r->failed && want) {
		unsigned char raw[MD5_LEN + 2];
		int n = EVP_DecodeBlock(raw, (const unsigned char *)want,
					(int)strlen(want));
		if (n < MD5_LEN || memcmp(raw, md5, MD5_LEN) != 0)
			put_fail(r, -EINVAL, 400, "BadDigest",
				 "The Content-MD5 you specified did not "
				 "match what we received.");
	}
	if (r->failed) {
		if (r->failed_code)
			return s3_error(r, r->failed_status, r->failed_code,
					r->failed_why);
		return s3_error(r, 503, "ServiceUnavailable",
				"the cluster stopped taking the body");
	}
	enum MHD_Result ret;
	if (put_commit(r, &ret))
		return ret;
	char hex[2 * MD5_LEN + 1], etag[40];
	md5_hex(md5, hex);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp)
		MHD_add_response_header(resp, "ETag", etag);
	return queue(r, 200, resp);
}

/* ---- DeleteObjects and CopyObject ---- */

/* The text of the next <tag>...</tag> at or after *pos in doc, with the
 * five entities and numeric references decoded, into out. Returns its
 * length (moving *pos past it), -ENOENT when there is none, -EINVAL for
 * one that is malformed or does not fit. */
static long xml_next(const char *doc, size_t len, size_t *pos, const char *tag,
		     char *out, size_t cap)
{
	char open[32], close[32];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *p = memmem(doc + *pos, len - *pos, open, strlen(open));
	if (!p)
		return -ENOENT;
	p += strlen(open);
	const char *end =
		memmem(p, len - (size_t)(p - doc), close, strlen(close));
	if (!end)
		return -EINVAL;
	size_t n = 0;
	for (const char *q = p; q < end;) {
		char c = *q++;
		if (c == '&') {
			const char *semi = memchr(q, ';', (size_t)(end - q));
			if (!semi)
				return -EINVAL;
			size_t el = (size_t)(semi - q);
			if (el == 3 && memcmp(q, "amp", 3) == 0)
				c = '&';
			else if (el == 2 && memcmp(q, "lt", 2) == 0)
				c = '<';
			else if (el == 2 && memcmp(q, "gt", 2) == 0)
				c = '>';
			else if (el == 4 && memcmp(q, "quot", 4) == 0)
				c = '"';
			else if (el == 4 && memcmp(q, "apos", 4) == 0)
				c = '\'';
			else if (el >= 2 && el < 8 && q[0] == '#') {
				char num[8];
				memcpy(num, q + 1, el - 1);
				num[el - 1] = '\0';
				char *e;
				long v = num[0] == 'x' ? strtol(num + 1, &e, 16)
						       : strtol(num, &e, 10);
				if (*e || v < 1 || v > 255)
					return -EINVAL;
				c = (char)v;
			} else {
				return -EINVAL;
			}
			q = semi + 1;
		}
		if (n + 1 >= cap)
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	*pos = (size_t)(end - doc) + strlen(close);
	return (long)n;
}

/* A body held whole is the one signed (and the one its Content-MD5
 * names). Returns 0, or queues the refusal and returns -1. */
static int small_body_ok(struct greq *r, enum MHD_Result *ret)
{
	if (buf_failed(&r->body)) {
		*ret = s3_error(r, 503, "SlowDown", "out of memory");
		return -1;
	}
	if (r->auth.payload == SIGV4_PAYLOAD_SHA256) {
		uint8_t got[32];
		unsigned n = 0;
		if (!EVP_Digest(r->body.data ? r->body.data : "", r->body.len,
				got, &n, EVP_sha256(), NULL) ||
		    memcmp(got, r->auth.sha256, 32) != 0) {
			*ret = s3_error(r, 400, "XAmzContentSHA256Mismatch",
					"The provided 'x-amz-content-sha256' "
					"header does not match what was "
					"computed.");
			return -1;
		}
	} else if (r->auth.payload != SIGV4_PAYLOAD_UNSIGNED) {
		*ret = s3_error(r, 501, "NotImplemented",
				"aws-chunked is taken for object bodies only");
		return -1;
	}
	const char *want = header(r->c, "Content-MD5");
	if (want) {
		uint8_t md5[MD5_LEN];
		unsigned char raw[MD5_LEN + 2];
		int n = EVP_DecodeBlock(raw, (const unsigned char *)want,
					(int)strlen(want));
		if (md5_buf(r->body.data ? r->body.data : "", r->body.len,
			    md5) ||
		    n < MD5_LEN || memcmp(raw, md5, MD5_LEN) != 0) {
			*ret = s3_error(r, 400, "BadDigest",
					"The Content-MD5 you specified did "
					"not match what we received.");
			return -1;
		}
	}
	return 0;
}

static enum MHD_Result delete_objects(struct greq *r)
{
	enum MHD_Result ret;
	if (small_body_ok(r, &ret))
		return ret;
	const char *doc = r->body.data ? r->body.data : "";
	size_t len = r->body.len;
	bool quiet = strstr(doc, "<Quiet>true</Quiet>") != NULL;
	struct buf out = {0};
	buf_printf(&out, XML_HEAD "<DeleteResult xmlns=\"" XML_NS "\">");
	size_t pos = 0, nkeys = 0;
	char obj[KEY_MAX + 2];
	long n;
	while ((n = xml_next(doc, len, &pos, "Key", obj, sizeof(obj))) >= 0) {
		if (++nkeys > DELETE_KEYS_MAX) {
			buf_free(&out);
			return s3_error(r, 400, "MalformedXML",
					"at most 1000 keys per request");
		}
		char key[KEY_MAX + 1], path[KEY_PCT_MAX + 1];
		int kl = snprintf(key, sizeof(key), "/%s/%s", r->bucket, obj);
		struct up_resp u = {0};
		int rc = kl > 0 && (size_t)kl < sizeof(key) &&
					 memchr(obj, 0, (size_t)n) == NULL
				 ? cask_path(key, (size_t)kl, "", path,
					     sizeof(path))
				 : -ENAMETOOLONG;
		if (!rc)
			rc = upstream_call(r->g->o.up, "DELETE", path, NULL, 0,
					   true, 4096, &u);
		bool ok = !rc && (u.code == 204 || u.code == 404);
		up_resp_free(&u);
		if (ok && quiet)
			continue;
		buf_printf(&out, ok ? "<Deleted>" : "<Error>");
		xml_elem(&out, "Key", obj, (size_t)n);
		if (!ok)
			buf_printf(&out, "<Code>InternalError</Code><Message>"
					 "the cluster did not delete it"
					 "</Message>");
		buf_printf(&out, ok ? "</Deleted>" : "</Error>");
	}
	if (n == -EINVAL || (!nkeys && !strstr(doc, "<Delete"))) {
		buf_free(&out);
		return s3_error(r, 400, "MalformedXML",
				"The XML you provided was not well-formed");
	}
	buf_printf(&out, "</DeleteResult>\n");
	return reply_xml(r, &out);
}

/* The source of a copy, "/bucket/key" or "bucket/key" percent-encoded,
 * as the cask key /bucket/key into key. Returns its length or -EINVAL. */
static long copy_source(const char *src, char key[KEY_MAX + 1])
{
	src += *src == '/';
	if (strchr(src, '?'))
		return -EINVAL; /* versionId: there are no versions */
	key[0] = '/';
	long n = key_pct_decode(src, strlen(src), key + 1, KEY_MAX);
	if (n <= 0 || memchr(key + 1, 0, (size_t)n))
		return -EINVAL;
	const char *slash = memchr(key + 1, '/', (size_t)n);
	if (!slash || !bucket_ok(key + 1, (size_t)(slash - key - 1)) ||
	    slash == key + n)
		return -EINVAL;
	return n + 1;
}

/* CopyObject: the source streamed from its volume into a PUT of the
 * destination, whose last byte goes only once the bytes proved to be
 * the source's (its recorded md5). */
static enum MHD_Result copy_object(struct greq *r)
{
	char src[KEY_MAX + 1], path[KEY_PCT_MAX + 1];
	long sl = copy_source(header(r->c, "x-amz-copy-source"), src);
	if (sl < 0)
		return s3_error(r, 400, "InvalidArgument",
				"x-amz-copy-source must be bucket/key");
	if (cask_path(src, (size_t)sl, "", path, sizeof(path)))
		return s3_error(r, 400, "KeyTooLongError", "key too long");
	struct up_resp u;
	int rc = upstream_call(r->g->o.up, "GET", path, NULL, 0, false, 4096,
			       &u);
	up_resp_free(&u);
	if (!rc && u.code == 404)
		return s3_error(r, 404, "NoSuchKey",
				"The specified key does not exist.");
	if (rc || u.code != 302 || u.size <= 0 || !u.location[0])
		return cluster_error(r, rc, &u);
	int ex = bucket_exists(r, r->bucket);
	if (ex <= 0)
		return ex == 0 ? s3_error(r, 404, "NoSuchBucket",
					  "the bucket does not exist")
			       : s3_error(r, 503, "ServiceUnavailable",
					  "the cluster cannot be reached");
	struct up_get *g;
	long code;
	int64_t length;
	char crange[128];
	rc = up_get_begin(u.location, NULL, r->g->o.timeout_ms, &g, &code,
			  &length, crange, sizeof(crange));
	if (rc)
		return s3_error(r, 503, "ServiceUnavailable",
				"no volume holding the source answered");
	if (code != 200 || length != u.size) {
		up_get_end(g);
		return s3_error(r, 503, "ServiceUnavailable",
				"no volume holding the source answered");
	}
	if (cask_path(r->key, r->keylen, "", path, sizeof(path))) {
		up_get_end(g);
		return s3_error(r, 400, "KeyTooLongError", "key too long");
	}
	struct up_resp early;
	rc = up_put_begin(r->g->o.up, path, (uint64_t)length, &r->put, &early);
	if (rc) {
		up_get_end(g);
		return put_refused(r, rc, &early);
	}
	if (md5_init(&r->md5)) {
		up_get_end(g);
		return s3_error(r, 503, "SlowDown", "out of memory");
	}
	r->md5_on = true;
	r->length = (uint64_t)length;
	char *chunk = malloc(FWD_BUF);
	ssize_t n = chunk ? 1 : -ENOMEM;
	while (n > 0 && !r->failed) {
		n = up_get_read(g, chunk, FWD_BUF);
		if (n > 0)
			forward(r, chunk, (size_t)n);
	}
	free(chunk);
	up_get_end(g);
	uint8_t md5[MD5_LEN];
	md5_final(&r->md5, md5);
	r->md5_on = false;
	char hex[2 * MD5_LEN + 1];
	md5_hex(md5, hex);
	if (n < 0 || r->failed || r->received != r->length ||
	    strcmp(hex, u.md5) != 0) {
		up_put_abort(r->put);
		r->put = NULL;
		return s3_error(r, 503, "ServiceUnavailable",
				"the source could not be read whole");
	}
	enum MHD_Result ret;
	if (put_commit(r, &ret))
		return ret;
	struct buf out = {0};
	buf_printf(&out, XML_HEAD "<CopyObjectResult xmlns=\"" XML_NS "\">");
	xml_time(&out, "LastModified", (int64_t)clock_wall_ms());
	buf_printf(&out, "<ETag>&quot;%s&quot;</ETag></CopyObjectResult>\n",
		   hex);
	return reply_xml(r, &out);
}

/* ---- routing ---- */

/* Splits the request into bucket and key and picks the operation. */
static enum MHD_Result route(struct greq *r, const char *method,
			     const char *url)
{
	const char *host = header(r->c, "Host");
	const char *path = url + 1;
	char bucket[BUCKET_MAX + 2] = "";
	const char *dom = r->g->o.domain;
	if (dom && host) {
		size_t hl = strcspn(host, ":"), dl = strlen(dom);
		if (hl > dl + 1 && host[hl - dl - 1] == '.' &&
		    strncasecmp(host + hl - dl, dom, dl) == 0 &&
		    hl - dl - 1 <= BUCKET_MAX)
			snprintf(bucket, sizeof(bucket), "%.*s",
				 (int)(hl - dl - 1), host);
	}
	if (!bucket[0]) {
		size_t bl = strcspn(path, "/");
		if (bl > BUCKET_MAX)
			return s3_error(r, 400, "InvalidBucketName",
					"The specified bucket is not valid.");
		snprintf(bucket, sizeof(bucket), "%.*s", (int)bl, path);
		path += bl;
		path += *path == '/';
	}
	snprintf(r->resource, sizeof(r->resource), "%s", url);
	bool get = strcmp(method, "GET") == 0;
	bool head = strcmp(method, "HEAD") == 0;
	bool put = strcmp(method, "PUT") == 0;
	bool del = strcmp(method, "DELETE") == 0;
	if (!bucket[0]) {
		if (get)
			r->op = OP_LIST_BUCKETS;
		return MHD_YES;
	}
	if (!bucket_ok(bucket, strlen(bucket)))
		return s3_error(r, 400, "InvalidBucketName",
				"The specified bucket is not valid.");
	memcpy(r->bucket, bucket, strlen(bucket) + 1); /* bucket_ok: fits */
	static const char *const unsupported[] = {
		"uploads",    "uploadId", "acl",	"policy",
		"versioning", "tagging",  "lifecycle",	"cors",
		"versions",   "website",  "encryption", "object-lock",
		"retention"};
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(*unsupported);
	     i++) {
		if (!has_arg(r, unsupported[i]))
			continue;
		char why[96];
		snprintf(why, sizeof(why),
			 "cask-s3 does not implement ?%s (man cask-s3)",
			 unsupported[i]);
		return s3_error(r, 501, "NotImplemented", why);
	}
	if (!*path) {
		if (get && has_arg(r, "location"))
			r->op = OP_BUCKET_LOCATION;
		else if (get)
			r->op = OP_LIST_OBJECTS;
		else if (put)
			r->op = OP_CREATE_BUCKET;
		else if (head)
			r->op = OP_HEAD_BUCKET;
		else if (del)
			r->op = OP_DELETE_BUCKET;
		else if (strcmp(method, "POST") == 0 && has_arg(r, "delete"))
			r->op = OP_DELETE_OBJECTS;
		return MHD_YES;
	}
	char obj[KEY_MAX + 1];
	long n = key_pct_decode(path, strlen(path), obj, sizeof(obj));
	if (n == -ENAMETOOLONG ||
	    strlen(bucket) + 2 + (size_t)(n > 0 ? n : 0) > KEY_MAX)
		return s3_error(r, 400, "KeyTooLongError",
				"Your key is too long");
	if (n <= 0 || memchr(obj, 0, (size_t)n))
		return s3_error(r, 400, "InvalidURI",
				"Couldn't parse the specified URI.");
	r->keylen = (size_t)snprintf(r->key, sizeof(r->key), "/%s/%.*s", bucket,
				     (int)n, obj);
	if (get)
		r->op = OP_GET_OBJECT;
	else if (head)
		r->op = OP_HEAD_OBJECT;
	else if (put && header(r->c, "x-amz-copy-source"))
		r->op = OP_COPY_OBJECT;
	else if (put)
		r->op = OP_PUT_OBJECT;
	else if (del)
		r->op = OP_DELETE_OBJECT;
	return MHD_YES;
}

static enum MHD_Result run(struct greq *r)
{
	switch (r->op) {
	case OP_LIST_BUCKETS:
		return list_buckets(r);
	case OP_CREATE_BUCKET:
		return create_bucket(r);
	case OP_HEAD_BUCKET:
		return head_bucket(r);
	case OP_DELETE_BUCKET:
		return delete_bucket(r);
	case OP_LIST_OBJECTS:
		return list_objects(r);
	case OP_BUCKET_LOCATION:
		return bucket_location(r);
	case OP_GET_OBJECT:
		return get_object(r, false);
	case OP_HEAD_OBJECT:
		return get_object(r, true);
	case OP_DELETE_OBJECT:
		return delete_object(r);
	case OP_PUT_OBJECT:
		return put_end(r);
	case OP_DELETE_OBJECTS:
		return delete_objects(r);
	case OP_COPY_OBJECT:
		return copy_object(r);
	case OP_NONE:
		break;
	}
	return s3_error(r, 405, "MethodNotAllowed",
			"The specified method is not allowed against this "
			"resource.");
}

/* ---- system endpoints ---- */

static enum MHD_Result system_page(struct greq *r, const char *url)
{
	if (strcmp(url, "/_/health") == 0) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(
			3, (void *)"ok\n", MHD_RESPMEM_PERSISTENT);
		return queue(r, 200, resp);
	}
	if (strcmp(url, "/_/metrics") != 0)
		return s3_error(r, 404, "NoSuchKey", "no such system page");
	struct gw *g = r->g;
	struct buf b = {0};
	metrics_render_http(&b, "cask_s3");
	metrics_counter(&b, "cask_s3_refused_total",
			"requests refused for their signature or key",
			atomic_load(&g->refused));
	metrics_counter(&b, "cask_s3_received_bytes_total",
			"object bytes received from clients",
			atomic_load(&g->bytes_in));
	metrics_counter(&b, "cask_s3_sent_bytes_total",
			"object bytes sent to clients",
			atomic_load(&g->bytes_out));
	return http_reply_buf(r->c, &b, "text/plain; version=0.0.4", NULL);
}

/* ---- the handler ---- */

static enum MHD_Result first_call(struct greq *r, const char *url,
				  const char *method)
{
	if (strncmp(url, "/_/", 3) == 0)
		return system_page(r, url);
	bool chunked;
	const char *why;
	unsigned bad = http_check_framing(r->c, &chunked, &why);
	if (bad)
		return s3_error(r, bad, "InvalidRequest", why);
	char query[8192];
	if (http_query_as_sent(r->c, query, sizeof(query)) < 0)
		return s3_error(r, 400, "InvalidURI", "the query is too long");
	snprintf(r->resource, sizeof(r->resource), "%s", url);
	struct sigv4_request sr = {.method = method,
				   .path = url,
				   .query = query[0] ? query + 1 : query,
				   .header = header,
				   .arg = r->c,
				   .now = (int64_t)time(NULL)};
	struct sigv4_error err = {0};
	const char *authz = header(r->c, "Authorization");
	if ((authz && strncmp(authz, "AWS ", 4) == 0) ||
	    has_arg(r, "AWSAccessKeyId")) {
		atomic_fetch_add(&r->g->refused, 1);
		return s3_error(r, 400, "InvalidRequest",
				"The authorization mechanism you have "
				"provided is not supported. Please use "
				"AWS4-HMAC-SHA256.");
	}
	if (sigv4_check(&sr, r->g->o.creds, &r->auth, &err)) {
		atomic_fetch_add(&r->g->refused, 1);
		return s3_error(r, err.status, err.code, err.message);
	}
	enum MHD_Result ret = route(r, method, url);
	if (r->answered)
		return ret;
	if (r->op == OP_PUT_OBJECT)
		return put_begin(r);
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct gw *g = cls;
	(void)version;
	struct greq *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		r->g = g;
		r->c = c;
		r->method = metrics_method_of(method);
		r->start_us = clock_mono_us();
		snprintf(r->id, sizeof(r->id), "%016" PRIxFAST64,
			 atomic_fetch_add(&g->next_id, 1));
		atomic_fetch_add(&g->requests, 1);
		return first_call(r, url, method);
	}
	if (r->answered) {
		*upload_size = 0; /* a refused body is read and dropped */
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->op == OP_PUT_OBJECT) {
			put_upload(r, upload, *upload_size);
		} else if ((r->small += *upload_size) >
			   (r->op == OP_DELETE_OBJECTS ? DELETE_BODY_MAX
						       : SMALL_BODY_MAX)) {
			*upload_size = 0;
			return s3_error(r, 400, "MaxMessageLengthExceeded",
					"Your request was too big.");
		} else if (r->op == OP_DELETE_OBJECTS) {
			buf_append(&r->body, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return run(r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c;
	struct greq *r = *con_cls;
	if (!r)
		return;
	metrics_http_observe(
		r->method,
		toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? (int)r->status : 0,
		clock_mono_us() - r->start_us);
	up_put_abort(r->put);
	sigv4_chunks_free(r->chunks);
	EVP_MD_CTX_free(r->sha);
	buf_free(&r->body);
	if (r->md5_on)
		md5_discard(&r->md5);
	free(r);
	*con_cls = NULL;
}

int gw_start(const struct gw_options *o, struct gw **out)
{
	*out = NULL;
	struct gw *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->o = *o;
	g->next_id = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	struct httpserver_options so = {.bind = o->bind,
					.port = o->port,
					.threads = 0,
					.limits = o->limits,
					.connection_memory = 64 * 1024,
					.timeout_s = 60,
					.handler = handle,
					.completed = completed,
					.cls = g};
	int rc = httpserver_start(&so, &g->srv);
	if (rc) {
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void gw_stop(struct gw *g, unsigned grace_ms)
{
	if (!g)
		return;
	httpserver_quiesce(g->srv);
	httpserver_drain(g->srv, grace_ms);
	httpserver_stop(g->srv);
	free(g);
}
