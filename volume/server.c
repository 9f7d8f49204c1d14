#include "volume/server.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/html.h"
#include "common/httpd.h"
#include "common/httperr.h"
#include "common/httphdr.h"
#include "common/httpserver.h"
#include "common/key.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sign.h"

struct srv {
	struct httpserver *hs;
	struct bc *bc;
	uint64_t max_value;
	bool signed_reads;   /* GETs of keys need sign_read's query */
	bool pool;	     /* polling threads: PUT, DELETE and purge end
			      * off them */
	atomic_uint pending; /* operations whose connection waits suspended */
	atomic_uint_fast64_t bytes_in;
	atomic_uint_fast64_t bytes_out;
	/* Bytes declared by the large PUTs open now (HOLD_CHECK_MIN and
	 * up): at most half the free disk. */
	atomic_uint_fast64_t held;
	pthread_mutex_t ui_mu; /* the sample /_/ui last showed, and when */
	struct metrics_sample ui_sample;
	uint64_t ui_ms;
};

/* An operation that may wait for the disk: in pool mode it runs off the
 * polling thread while its connection is suspended. */
enum op_state { OP_NONE, OP_RUNNING, OP_DONE };

/* Per-request state, from the first access-handler call to completion.
 * The connection holds one reference and a running operation another, so
 * a request outlives whichever of MHD's completion callback and the
 * operation's end comes last. */
struct req {
	struct srv *srv;
	struct MHD_Connection *conn;
	struct sign_body body_sig; /* a signed body's digest check */
	atomic_int refs;
	pthread_mutex_t mu; /* op, suspended, op_rc, md5 while running */
	enum op_state op;
	bool suspended;
	int op_rc;
	uint8_t md5[MD5_LEN];
	enum metrics_method method;
	unsigned code;
	uint64_t start_usec;
	bool system;   /* a /_/ endpoint */
	bool refused;  /* answered on the first call: drop what follows */
	uint64_t held; /* counted in srv.held until the request ends */
	struct bc_write *w;
	uint64_t expected;
	uint64_t received;
	int err;	       /* first engine error while receiving the body */
	struct purge_body *pb; /* POST /_/purge only */
	char key[KEY_MAX + 1];
	size_t klen;
};

/* POST /_/purge: the body is one percent-encoded key per line, decoded
 * as it arrives, so what a request holds is bounded by its keys (at most
 * BC_PURGE_MAX of KEY_MAX bytes) and one line, whatever the client sends.
 * Every line is checked before anything is deleted: the first bad one
 * decides the answer, and the rest of the body is dropped unread. */
#define PURGE_BODY_MAX (1u << 20)
/* The longest line that can decode to a key: every byte as %XX, and a
 * '\r' for clients that end lines so. */
#define PURGE_LINE_MAX (3 * KEY_MAX + 1)

struct purge_body {
	uint64_t received;
	unsigned err_code; /* first error, answered once the body is in */
	char why[160];
	size_t n, lines;
	uint32_t off[BC_PURGE_MAX]; /* of each key in keys */
	uint16_t len[BC_PURGE_MAX];
	struct buf keys; /* decoded keys, back to back */
	int results[BC_PURGE_MAX];
	size_t llen;
	char line[PURGE_LINE_MAX + 1]; /* the line being received */
};

static enum MHD_Result reply_text(struct req *r, struct MHD_Connection *c,
				  unsigned code, const char *why)
{
	r->code = code;
	return http_reply_text(c, code, "%s", why);
}

static enum MHD_Result reply_empty(struct req *r, struct MHD_Connection *c,
				   unsigned code)
{
	r->code = code;
	return http_reply_empty(c, code);
}

/* An engine error, answered as common/httperr.h says; a fault of this
 * volume's (500) is logged. */
static enum MHD_Result reply_engine_error(struct req *r,
					  struct MHD_Connection *c, int err,
					  const char *what)
{
	const char *why = NULL;
	switch (err) {
	case -ENOSPC:
		why = "no space left on this volume";
		break;
	case -EFBIG:
		why = "value too large for this volume";
		break;
	default:
		if (httperr_status(err) == MHD_HTTP_INTERNAL_SERVER_ERROR) {
			log_error("%s %.*s: %s", what, (int)r->klen, r->key,
				  strerror(-err));
			why = "storage error on this volume";
		}
	}
	return http_reply_errno(c, err, why, &r->code);
}

static void add_md5_headers(struct MHD_Response *resp,
			    const uint8_t md5[MD5_LEN])
{
	char hex[2 * MD5_LEN + 1], etag[2 * MD5_LEN + 3];
	md5_hex(md5, hex);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	MHD_add_response_header(resp, "Content-Md5", hex);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
}

/* A value up to this size is copied and goes out in one sendmsg with the
 * header. From a descriptor, MHD sends the header (TCP_NODELAY, no
 * MSG_MORE) and then the sendfile body: two TCP segments, which made a hot
 * 4 KiB GET pay for the network stack twice and lose to nginx. On loopback
 * the copy is faster at every size measured (4 KiB to 256 KiB); the bound
 * keeps what a response in flight holds to the size of its connection's
 * buffer (64 KiB per connection), under glibc's mmap threshold, and leaves
 * big values to sendfile, which spares real NICs a copy. */
#define COPY_MAX (64 * 1024)

/* PUTs declaring this much or more count towards the disk held by
 * uploads in flight (smaller ones cannot add up to a disk through the
 * connection limits). */
#define HOLD_CHECK_MIN (1u << 20)

/* A master's redirect may carry ?alt=V2,V3: the other copies it believes
 * good. When this copy is missing or unreadable (a wiped disk, a corrupt
 * record the master does not know about yet), the reader is sent on to
 * the next one with the rest of the list, rather than given an error
 * while a good copy exists. Returns MHD_NO-or-YES as answered, or -1
 * when there is no list to follow. */
static int follow_alt(struct req *r, struct MHD_Connection *c)
{
	char alt[2048], path[KEY_PCT_MAX], url[sizeof(alt) + KEY_PCT_MAX + 16];
	long n = http_query_arg(c, "alt", alt, sizeof(alt));
	if (n <= 0 || key_pct_encode(r->key, r->klen, path, sizeof(path)) < 0)
		return -1;
	alt[n] = '\0';
	for (long i = 0; i < n; i++)
		if (!strchr("0123456789abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:,[]",
			    alt[i]))
			return -1; /* host:port lists only */
	char *rest = strchr(alt, ',');
	if (rest)
		*rest++ = '\0';
	if (!alt[0])
		return -1;
	/* The read's signature holds on the next copy: it covers the path,
	 * not the host. */
	char exp[24], sig[80], signed_q[sizeof(exp) + sizeof(sig) + 16] = "";
	if (http_query_arg(c, "exp", exp, sizeof(exp)) > 0 &&
	    http_query_arg(c, "sig", sig, sizeof(sig)) > 0)
		snprintf(signed_q, sizeof(signed_q), "exp=%s&sig=%s&", exp,
			 sig);
	bool more = rest && *rest;
	snprintf(url, sizeof(url), "http://%s%s%s%s%s%s", alt, path,
		 signed_q[0] || more ? "?" : "", signed_q, more ? "alt=" : "",
		 more ? rest : "");
	size_t ul = strlen(url);
	if (ul && url[ul - 1] == '&')
		url[ul - 1] = '\0';
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, url);
	r->code = MHD_HTTP_FOUND;
	enum MHD_Result ret = MHD_queue_response(c, r->code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle_get(struct srv *s, struct req *r,
				  struct MHD_Connection *c, const char *url)
{
	if (s->signed_reads) {
		char exp[24], sig[80];
		const char *why = NULL;
		long ne = http_query_arg(c, "exp", exp, sizeof(exp));
		long ns = http_query_arg(c, "sig", sig, sizeof(sig));
		if (sign_read_check(url, ne > 0 ? exp : NULL,
				    ns > 0 ? sig : NULL, &why))
			return reply_text(r, c, MHD_HTTP_FORBIDDEN, why);
	}
	struct bc_entry e;
	void *val;
	int fd;
	/* HEAD sends no body: a descriptor spares the read. */
	size_t max = r->method == METRICS_HEAD ? 0 : COPY_MAX;
	int rc = bc_read(s->bc, r->key, r->klen, max, &e, &val, &fd);
	int alt = rc == -ENOENT || httperr_status(rc) >= 500 ? follow_alt(r, c)
							     : -1;
	if (alt >= 0)
		return (enum MHD_Result)alt;
	if (rc == -ENOENT)
		return reply_text(r, c, MHD_HTTP_NOT_FOUND, "no such key");
	/* The engine has counted, logged and reported it. */
	if (rc == -EBADMSG)
		return reply_text(r, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "corrupt record");
	if (rc)
		return reply_engine_error(r, c, rc, "get");

	uint64_t from = 0, to = e.size ? e.size - 1 : 0, len = e.size;
	unsigned code = MHD_HTTP_OK;
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_RANGE);
	int pr = httphdr_range(range, e.size, &from, &to);
	if (pr < 0) {
		free(val);
		if (fd >= 0)
			close(fd);
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, e.size);
		static const char why[] = "range not satisfiable\n";
		struct MHD_Response *resp = MHD_create_response_from_buffer(
			sizeof(why) - 1, (void *)why, MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; charset=utf-8");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE,
					cr);
		r->code = MHD_HTTP_RANGE_NOT_SATISFIABLE;
		enum MHD_Result ret = MHD_queue_response(c, r->code, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (pr > 0) {
		code = MHD_HTTP_PARTIAL_CONTENT;
		len = to - from + 1;
	}
	/* MHD frees the copy, or closes the fd (a dup), when the response
	 * ends. */
	struct MHD_Response *resp =
		val ? MHD_create_response_from_buffer_with_free_callback_cls(
			      len, (char *)val + from, free, val)
		    : MHD_create_response_from_fd_at_offset64(
			      len, fd, e.value_offset + from);
	if (!resp) {
		free(val);
		if (fd >= 0)
			close(fd);
		return MHD_NO;
	}
	add_md5_headers(resp, e.md5);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/octet-stream");
	if (code == MHD_HTTP_PARTIAL_CONTENT) {
		char cr[96];
		snprintf(cr, sizeof(cr),
			 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, to,
			 e.size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE,
					cr);
	}
	if (r->method == METRICS_GET)
		atomic_fetch_add(&s->bytes_out, len);
	r->code = code;
	enum MHD_Result ret = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The request's Content-Length: 0 and *n; -ENOENT when it has none;
 * -EINVAL with the reason in *why when it does not parse (two of them
 * were refused by http_check_framing). */
static int content_length(struct MHD_Connection *c, uint64_t *n,
			  const char **why)
{
	const char *cl = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl)
		return -ENOENT;
	*why = "malformed Content-Length";
	return httphdr_content_length(cl, n);
}

/* First call of a PUT: validate the headers and reserve the record, so a
 * bad request or a full disk is answered before the body is sent. A
 * chunked body (a master streaming a value it could not gather) is
 * spooled by the engine until its size is known (volume/bitcask.h). */
static enum MHD_Result begin_put(struct srv *s, struct req *r,
				 struct MHD_Connection *c, bool chunked)
{
	uint64_t n = BC_SIZE_UNKNOWN;
	const char *why;
	int rc = content_length(c, &n, &why);
	if (rc == -ENOENT && !chunked)
		return reply_text(r, c, MHD_HTTP_LENGTH_REQUIRED,
				  "PUT needs a Content-Length or a chunked "
				  "body");
	if (rc && rc != -ENOENT)
		return reply_text(r, c, MHD_HTTP_BAD_REQUEST, why);
	if (!rc && n > s->max_value)
		return reply_text(r, c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "value larger than -max-value");
	r->expected = n;
	if (n != BC_SIZE_UNKNOWN && n >= HOLD_CHECK_MIN) {
		/* A declared length is allocated on disk at once; slow or
		 * stalled uploads together must not hold the disk every other
		 * writer needs. */
		uint64_t half = bc_disk_free(s->bc) / 2;
		uint64_t held = atomic_fetch_add(&s->held, n);
		r->held = n;
		r->refused = n > half || held + n > half;
		if (n > half)
			return reply_text(r, c, MHD_HTTP_INSUFFICIENT_STORAGE,
					  "value larger than half the free "
					  "disk");
		if (held + n > half)
			return reply_text(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "uploads in flight hold half the "
					  "free disk: retry");
	}
	rc = bc_write_begin(s->bc, r->key, r->klen, n, &r->w);
	if (rc)
		return reply_engine_error(r, c, rc, "reserve");
	return MHD_YES;
}

/* The last reference frees: a running purge writes its results into
 * r->pb, so it lives as long as the request does. */
static void req_unref(struct req *r)
{
	assert(atomic_load(&r->refs) > 0);
	if (atomic_fetch_sub(&r->refs, 1) == 1) {
		if (r->pb) {
			buf_free(&r->pb->keys);
			free(r->pb);
		}
		sign_body_free(&r->body_sig);
		pthread_mutex_destroy(&r->mu);
		free(r);
	}
}

/* Answers a purge: one line per key, in request order. */
static enum MHD_Result reply_purge(struct req *r, struct MHD_Connection *c)
{
	const struct purge_body *pb = r->pb;
	if (r->op_rc)
		return reply_engine_error(r, c, r->op_rc, "purge");
	struct buf b = {0};
	for (size_t i = 0; i < pb->n; i++)
		buf_append(&b, pb->results[i] == -ENOENT ? "404\n" : "204\n",
			   4);
	return http_reply_buf(c, &b, "text/plain", &r->code);
}

/* Answers a PUT, DELETE or purge from its operation's result. */
static enum MHD_Result reply_op(struct req *r, struct MHD_Connection *c)
{
	int rc = r->op_rc;
	if (r->pb)
		return reply_purge(r, c);
	if (r->method == METRICS_DELETE) {
		if (rc == -ENOENT)
			return reply_text(r, c, MHD_HTTP_NOT_FOUND,
					  "no such key");
		if (rc)
			return reply_engine_error(r, c, rc, "delete");
		return reply_empty(r, c, MHD_HTTP_NO_CONTENT);
	}
	if (rc)
		return reply_engine_error(r, c, rc, "commit");
	char hex[2 * MD5_LEN + 1];
	md5_hex(r->md5, hex);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Md5", hex);
	r->code = MHD_HTTP_CREATED;
	enum MHD_Result ret = MHD_queue_response(c, r->code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Takes the operation's reference before it starts. */
static void op_begin(struct req *r)
{
	assert(r->op == OP_NONE);
	r->op = OP_RUNNING;
	atomic_fetch_add(&r->refs, 1);
	atomic_fetch_add(&r->srv->pending, 1);
}

/* Gives back what op_begin took, for an operation that did not start. */
static void op_abandon(struct req *r)
{
	assert(r->op == OP_RUNNING);
	r->op = OP_NONE;
	atomic_fetch_sub(&r->refs, 1);
	atomic_fetch_sub(&r->srv->pending, 1);
}

/* Ends an operation (a bc_commit_fn for PUT), on whichever thread it ended
 * (the engine's sync thread, the thread that ended a put an older DELETE
 * waited for, or inline): records the result
 * and resumes the connection if the handler suspended it, so MHD calls the
 * handler again to answer. Resuming a connection that was never suspended is
 * undefined in MHD, hence `suspended` under the request's lock. */
static void op_end(void *arg, int rc, const uint8_t md5[MD5_LEN])
{
	struct req *r = arg;
	struct srv *s = r->srv;
	pthread_mutex_lock(&r->mu);
	assert(r->op == OP_RUNNING);
	r->op = OP_DONE;
	r->op_rc = rc;
	if (md5)
		memcpy(r->md5, md5, MD5_LEN);
	if (r->suspended)
		MHD_resume_connection(r->conn);
	pthread_mutex_unlock(&r->mu);
	req_unref(r);
	/* Last: srv_stop frees s once nothing is pending. */
	atomic_fetch_sub(&s->pending, 1);
}

/* After starting an operation: suspends the connection until op_end, or
 * answers at once if it has already ended. */
static enum MHD_Result op_wait(struct req *r, struct MHD_Connection *c)
{
	pthread_mutex_lock(&r->mu);
	bool wait = r->op != OP_DONE;
	if (wait) {
		MHD_suspend_connection(c);
		r->suspended = true;
	}
	pthread_mutex_unlock(&r->mu);
	return wait ? MHD_YES : reply_op(r, c);
}

/* Last call of a PUT: the body is in; seal it. A polling thread must not
 * wait for the group commit (other connections need it), so in pool mode
 * the commit ends on the engine's sync thread, which resumes us. */
static enum MHD_Result finish_put(struct srv *s, struct req *r,
				  struct MHD_Connection *c)
{
	if (r->err)
		return reply_engine_error(r, c, r->err, "write");
	/* A PUT whose reservation failed was answered on its first call. */
	assert(r->w);
	struct bc_write *w = r->w;
	r->w = NULL;
	if (!s->pool) {
		r->op_rc = bc_write_commit(w, r->md5);
		return reply_op(r, c);
	}
	op_begin(r);
	int rc = bc_write_commit_async(w, op_end, r);
	if (rc) {
		op_abandon(r);
		return reply_engine_error(r, c, rc, "commit");
	}
	return op_wait(r, c);
}

/* A DELETE is a purge of one key. */
static void delete_end(void *arg, int rc, const int *results)
{
	op_end(arg, rc ? rc : results[0], NULL);
}

/* In pool mode a DELETE ends off the polling thread, as a PUT's commit
 * does: on the sync thread after the fdatasync that covers its
 * tombstone, or, when an older put of its key is in flight (whose body
 * may be arriving on this very polling thread), when that put ends. */
static enum MHD_Result start_delete(struct srv *s, struct req *r,
				    struct MHD_Connection *c)
{
	if (!s->pool) {
		r->op_rc = bc_delete(s->bc, r->key, r->klen);
		return reply_op(r, c);
	}
	const struct bc_key k = {r->key, r->klen};
	op_begin(r);
	int rc = bc_purge_async(s->bc, &k, 1, delete_end, r);
	if (rc) {
		op_abandon(r);
		return reply_engine_error(r, c, rc, "delete");
	}
	return op_wait(r, c);
}

static void purge_fail(struct purge_body *pb, unsigned code, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));

/* Keeps the first error only: it is the one the client gets. */
static void purge_fail(struct purge_body *pb, unsigned code, const char *fmt,
		       ...)
{
	if (pb->err_code)
		return;
	pb->err_code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pb->why, sizeof(pb->why), fmt, ap);
	va_end(ap);
}

/* Decodes one complete line (without its '\n') into the key list. */
static void purge_line(struct purge_body *pb)
{
	size_t n = pb->llen;
	pb->llen = 0;
	pb->lines++;
	if (pb->err_code)
		return;
	if (n && pb->line[n - 1] == '\r')
		n--;
	if (n == 0) {
		purge_fail(pb, MHD_HTTP_BAD_REQUEST, "line %zu is empty",
			   pb->lines);
		return;
	}
	if (pb->n == BC_PURGE_MAX) {
		purge_fail(pb, MHD_HTTP_CONTENT_TOO_LARGE,
			   "more than %d keys in one purge", BC_PURGE_MAX);
		return;
	}
	pb->line[n] = '\0';
	char key[KEY_MAX + 1];
	const char *why = NULL;
	long k = key_from_path(pb->line, key, &why);
	if (k < 0) {
		purge_fail(pb, MHD_HTTP_BAD_REQUEST, "line %zu: %s", pb->lines,
			   why ? why : "malformed key");
		return;
	}
	pb->off[pb->n] = (uint32_t)pb->keys.len;
	pb->len[pb->n] = (uint16_t)k;
	pb->n++;
	buf_append(&pb->keys, key, (size_t)k);
}

static enum MHD_Result receive_purge(struct srv *s, struct req *r,
				     const char *data, size_t *size)
{
	struct purge_body *pb = r->pb;
	size_t n = *size;
	*size = 0;
	atomic_fetch_add(&s->bytes_in, n);
	pb->received += n;
	if (pb->received > PURGE_BODY_MAX)
		purge_fail(pb, MHD_HTTP_CONTENT_TOO_LARGE,
			   "purge body larger than %u bytes", PURGE_BODY_MAX);
	while (n && !pb->err_code) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		if (take > PURGE_LINE_MAX - pb->llen) {
			purge_fail(pb, MHD_HTTP_BAD_REQUEST,
				   "line %zu: key too long", pb->lines + 1);
			break;
		}
		memcpy(pb->line + pb->llen, data, take);
		pb->llen += take;
		if (!nl)
			break;
		purge_line(pb);
		data = nl + 1;
		n -= take + 1;
	}
	return MHD_YES;
}

static void purge_end(void *arg, int rc, const int *results)
{
	struct req *r = arg;
	if (!rc)
		memcpy(r->pb->results, results, r->pb->n * sizeof(int));
	op_end(r, rc, NULL);
}

/* The body is in: every line was good, so delete them all as one batch
 * (one group-commit sync) and answer once it is durable. */
static enum MHD_Result finish_purge(struct srv *s, struct req *r,
				    struct MHD_Connection *c)
{
	struct purge_body *pb = r->pb;
	if (pb->llen) /* a last line without its '\n' */
		purge_line(pb);
	if (!pb->err_code && buf_failed(&pb->keys))
		purge_fail(pb, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (pb->err_code)
		return reply_text(r, c, pb->err_code, pb->why);
	if (pb->n == 0)
		return reply_purge(r, c);
	struct bc_key *keys = malloc(pb->n * sizeof(*keys));
	if (!keys)
		return reply_engine_error(r, c, -ENOMEM, "purge");
	for (size_t i = 0; i < pb->n; i++)
		keys[i] =
			(struct bc_key){pb->keys.data + pb->off[i], pb->len[i]};
	int rc;
	if (!s->pool) {
		r->op_rc = bc_purge(s->bc, keys, pb->n, pb->results);
		free(keys);
		return reply_op(r, c);
	}
	op_begin(r);
	rc = bc_purge_async(s->bc, keys, pb->n, purge_end, r);
	free(keys); /* the engine copied them */
	if (rc) {
		op_abandon(r);
		return reply_engine_error(r, c, rc, "purge");
	}
	return op_wait(r, c);
}

/* First call of POST /_/purge: a body announced too big is refused
 * before it is sent. */
static enum MHD_Result begin_purge(struct req *r, struct MHD_Connection *c)
{
	uint64_t n = 0;
	const char *why;
	int rc = content_length(c, &n, &why);
	if (rc && rc != -ENOENT)
		return reply_text(r, c, MHD_HTTP_BAD_REQUEST, why);
	if (!rc && n > PURGE_BODY_MAX)
		return reply_text(r, c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "purge body larger than 1048576 bytes");
	r->pb = calloc(1, sizeof(*r->pb));
	return r->pb ? MHD_YES : MHD_NO;
}

/* A refused body is still read, so that its answer can be sent:
 * libmicrohttpd 0.9.75 sends nothing before the end of a chunked body.
 * A client that goes on past -max-value beyond -max-value more is cut
 * off instead: what a refused body may cost is what an accepted one
 * would. */
static bool drained_too_long(const struct srv *s, const struct req *r)
{
	return r->received > s->max_value &&
	       r->received - s->max_value > s->max_value;
}

static enum MHD_Result receive_put(struct srv *s, struct req *r,
				   const char *data, size_t *size)
{
	size_t n = *size;
	*size = 0;
	atomic_fetch_add(&s->bytes_in, n);
	r->received += n;
	if (drained_too_long(s, r))
		return MHD_NO;
	if (r->err)
		return MHD_YES;
	assert(r->w);
	/* MHD enforces Content-Length, but a bug there must not let a body
	 * overrun its reservation; a chunked one is bounded here. */
	uint64_t limit =
		r->expected == BC_SIZE_UNKNOWN ? s->max_value : r->expected;
	r->err = r->received > limit ? -EFBIG : bc_write_append(r->w, data, n);
	if (r->err) {
		bc_write_abort(r->w);
		r->w = NULL;
	}
	return MHD_YES;
}

/* /_/keys: NDJSON produced one keydir shard at a time, as the client
 * reads, so memory stays bounded whatever the key count. */
struct keys_stream {
	struct bc *bc;
	struct bc_cursor cur;
	struct buf out;
	size_t sent;
	bool done;
	char prefix[KEY_MAX + 1];
	size_t plen;
};

static void keys_line(void *arg, const char *key, size_t klen, uint64_t size,
		      const uint8_t md5[MD5_LEN])
{
	struct keys_stream *ks = arg;
	char hex[2 * MD5_LEN + 1];
	md5_hex(md5, hex);
	buf_append(&ks->out, "{\"key\":", 7);
	buf_json_string(&ks->out, key, klen);
	buf_printf(&ks->out, ",\"size\":%" PRIu64 ",\"md5\":\"%s\"}\n", size,
		   hex);
}

static ssize_t keys_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct keys_stream *ks = cls;
	(void)pos;
	while (ks->sent == ks->out.len) {
		if (ks->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		ks->out.len = 0;
		ks->sent = 0;
		int rc = bc_keys_next(ks->bc, &ks->cur, ks->prefix, ks->plen,
				      keys_line, ks);
		if (rc < 0 || buf_failed(&ks->out)) {
			log_error("/_/keys: walk failed: %s",
				  strerror(rc < 0 ? -rc : ENOMEM));
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		ks->done = rc == 0;
	}
	size_t n = ks->out.len - ks->sent;
	if (n > max)
		n = max;
	memcpy(dst, ks->out.data + ks->sent, n);
	ks->sent += n;
	return (ssize_t)n;
}

static void keys_free(void *cls)
{
	struct keys_stream *ks = cls;
	buf_free(&ks->out);
	free(ks);
}

static enum MHD_Result handle_keys(struct srv *s, struct req *r,
				   struct MHD_Connection *c)
{
	struct keys_stream *ks = calloc(1, sizeof(*ks));
	if (!ks)
		return MHD_NO;
	ks->bc = s->bc;
	long n = http_query_arg(c, "prefix", ks->prefix, sizeof(ks->prefix));
	if (n == -ENOENT)
		n = 0;
	if (n < 0) {
		free(ks);
		return reply_text(r, c, MHD_HTTP_BAD_REQUEST,
				  "malformed prefix");
	}
	ks->plen = (size_t)n;
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 64 * 1024, keys_read, ks, keys_free);
	if (!resp) {
		keys_free(ks);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/x-ndjson");
	r->code = MHD_HTTP_OK;
	enum MHD_Result ret = MHD_queue_response(c, r->code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The fields /_/health and /_/status share: who this volume is and how
 * far its corrupt-key reports go. */
static void identity_fields(struct buf *b, struct srv *s)
{
	uint64_t dropped, seq = bc_corrupt_seq(s->bc, &dropped);
	buf_printf(b,
		   "\"id\":\"%s\",\"run\":\"%s\",\"corrupt_seq\":%" PRIu64
		   ",\"corrupt_dropped_seq\":%" PRIu64,
		   bc_id(s->bc), bc_run(s->bc), seq, dropped);
}

/* Cheap (no bc_stats): every master polls it every second. */
static enum MHD_Result handle_health(struct srv *s, struct req *r,
				     struct MHD_Connection *c)
{
	struct buf b = {0};
	buf_printf(&b, "{\"status\":\"ok\",");
	identity_fields(&b, s);
	buf_append(&b, "}\n", 2);
	return http_reply_buf(c, &b, "application/json", &r->code);
}

/* The volume's /_/status document, into b. */
static void status_json(struct srv *s, struct buf *b)
{
	struct bc_stats st;
	bc_stats(s->bc, &st);
	buf_append(b, "{", 1);
	identity_fields(b, s);
	buf_printf(b,
		   ",\"corrupt_overflow\":%s,\"corrupt_keys\":%u"
		   ",\"corrupt_reads\":%" PRIu64 ",\"keys\":%" PRIu64
		   ",\"live_bytes\":%" PRIu64 ",\"dead_bytes\":%" PRIu64
		   ",\"segments\":%u,\"corrupt_records\":%" PRIu64
		   ",\"truncated_bytes\":%" PRIu64 ",\"syncs\":%" PRIu64
		   ",\"synced_writes\":%" PRIu64 ",\"merges\":%" PRIu64
		   ",\"scrub_errors\":%" PRIu64 ",\"disk_free\":%" PRIu64
		   ",\"keydir_bytes\":%" PRIu64,
		   st.corrupt_dropped ? "true" : "false", st.corrupt_keys,
		   st.corrupt_reads, st.keys, st.live_bytes, st.dead_bytes,
		   st.segments, st.corrupt_records, st.truncated_bytes,
		   st.syncs, st.synced_writes, st.merges, st.scrub_errors,
		   st.disk_free, st.keydir_bytes);
	buf_printf(b,
		   ",\"scrub\":{\"running\":%s,\"passes\":%" PRIu64
		   ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
		   ",\"bad\":%" PRIu64 ",\"last_pass_ms\":%" PRIu64
		   ",\"rate\":%" PRIu64 "}}\n",
		   st.scrub_running ? "true" : "false", st.scrub_passes,
		   st.scrub_records, st.scrub_bytes, st.scrub_bad,
		   st.scrub_last_pass_ms, st.scrub_rate);
}

static enum MHD_Result handle_status(struct srv *s, struct req *r,
				     struct MHD_Connection *c)
{
	struct buf b = {0};
	status_json(s, &b);
	return http_reply_buf(c, &b, "application/json", &r->code);
}

/* GET /_/ui: the volume's status as a page (common/html.h), with its
 * request rates since the page was last shown and its last events. */
static enum MHD_Result handle_ui(struct srv *s, struct req *r,
				 struct MHD_Connection *c)
{
	struct buf js = {0}, b = {0};
	status_json(s, &js);
	struct metrics_sample now;
	metrics_http_sample(&now);
	uint64_t now_ms = clock_mono_ms();
	pthread_mutex_lock(&s->ui_mu);
	struct metrics_sample before = s->ui_sample;
	double secs = (double)(now_ms - s->ui_ms) / 1000.0;
	s->ui_sample = now;
	s->ui_ms = now_ms;
	pthread_mutex_unlock(&s->ui_mu);
	html_begin(&b, "cask volume", 5);
	buf_printf(&b, "<h2>Status</h2><div id=\"status\">");
	if (js.data && html_json(&b, js.data, js.len))
		buf_printf(&b, "<p class=\"bad\">status unreadable</p>");
	buf_printf(&b, "</div><h2>Requests (last %.0f s)</h2>\n", secs);
	html_requests(&b, &before, &now, secs);
	buf_printf(&b, "<h2>Last events</h2>\n");
	html_events(&b);
	buf_printf(&b, "<p>JSON: <a href=\"/_/status\">/_/status</a>, "
		       "Prometheus: <a href=\"/_/metrics\">/_/metrics</a>"
		       "</p>\n");
	html_end(&b);
	buf_free(&js);
	return http_reply_buf(c, &b, "text/html; charset=utf-8", &r->code);
}

static enum MHD_Result handle_metrics(struct srv *s, struct req *r,
				      struct MHD_Connection *c)
{
	struct bc_stats st;
	bc_stats(s->bc, &st);
	struct buf b = {0};
	metrics_render_http(&b, "cask_volume");
	metrics_counter(&b, "cask_volume_bytes_in_total",
			"Request body bytes received.",
			atomic_load(&s->bytes_in));
	metrics_counter(&b, "cask_volume_bytes_out_total",
			"Value bytes sent by GET.", atomic_load(&s->bytes_out));
	metrics_counter(&b, "cask_volume_fsyncs_total",
			"fdatasync calls that made writes durable.", st.syncs);
	metrics_counter(&b, "cask_volume_synced_writes_total",
			"Writes made durable; divided by fsyncs gives writes "
			"per fsync.",
			st.synced_writes);
	metrics_counter(&b, "cask_volume_fsync_delays_total",
			"Group commits held back up to 1 ms for more writes "
			"to join them.",
			st.sync_delays);
	metrics_counter(&b, "cask_volume_merges_total", "Segments merged.",
			st.merges);
	metrics_counter(&b, "cask_volume_corrupt_records_total",
			"Corrupt records skipped during recovery.",
			st.corrupt_records);
	metrics_counter(&b, "cask_volume_scrub_errors_total",
			"Records that failed a scrub.", st.scrub_errors);
	metrics_counter(&b, "cask_volume_scrub_passes_total",
			"Scrub passes finished.", st.scrub_passes);
	metrics_counter(&b, "cask_volume_scrub_bytes_total",
			"Record bytes read by scrub passes.",
			st.scrub_bytes_total);
	metrics_gauge(&b, "cask_volume_scrub_running",
		      "1 while a scrub pass runs.", st.scrub_running ? 1 : 0);
	metrics_counter(&b, "cask_volume_corrupt_reads_total",
			"GETs refused because the record failed its check.",
			st.corrupt_reads);
	metrics_counter(&b, "cask_volume_corrupt_reports_total",
			"Keys reported corrupt (the newest report number).",
			st.corrupt_seq);
	metrics_gauge(&b, "cask_volume_corrupt_keys",
		      "Keys reported corrupt and not rewritten since.",
		      (double)st.corrupt_keys);
	metrics_gauge(&b, "cask_volume_keys", "Live keys.", (double)st.keys);
	metrics_gauge(&b, "cask_volume_live_bytes", "Bytes of live records.",
		      (double)st.live_bytes);
	metrics_gauge(&b, "cask_volume_dead_bytes",
		      "Bytes of dead records awaiting merge.",
		      (double)st.dead_bytes);
	metrics_gauge(&b, "cask_volume_segments", "Segment files.",
		      (double)st.segments);
	metrics_gauge(&b, "cask_volume_disk_free_bytes",
		      "Free bytes on the data filesystem.",
		      (double)st.disk_free);
	metrics_gauge(&b, "cask_volume_keydir_bytes",
		      "Memory held by the key directory.",
		      (double)st.keydir_bytes);
	return http_reply_buf(c, &b, "text/plain; version=0.0.4", &r->code);
}

/* POST /_/scrub answers at once; the pass runs on the engine's scrub
 * thread and shows in /_/status. */
static enum MHD_Result handle_scrub(struct srv *s, struct req *r,
				    struct MHD_Connection *c)
{
	bool started = bc_scrub_start(s->bc);
	const char *body = started ? "{\"started\":true}\n"
				   : "{\"started\":false,\"running\":true}\n";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	r->code = started ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK;
	enum MHD_Result ret = MHD_queue_response(c, r->code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* /_/corrupt: the corrupt-key reports as NDJSON, a page at a time as the
 * client reads, up to the newest number when the request came. */
#define CORRUPT_PAGE 256

struct corrupt_stream {
	struct bc *bc;
	uint64_t since, until;
	struct buf out;
	size_t sent;
	bool done;
};

static void corrupt_line(void *arg, const struct corrupt_report *rep)
{
	struct corrupt_stream *cs = arg;
	buf_printf(&cs->out, "{\"seq\":%" PRIu64 ",\"key\":", rep->seq);
	buf_json_string(&cs->out, rep->key, rep->klen);
	buf_printf(&cs->out, ",\"size\":%" PRIu64 ",\"why\":", rep->size);
	buf_json_string(&cs->out, rep->why, strlen(rep->why));
	buf_append(&cs->out, "}\n", 2);
}

static ssize_t corrupt_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct corrupt_stream *cs = cls;
	(void)pos;
	while (cs->sent == cs->out.len) {
		if (cs->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		cs->out.len = 0;
		cs->sent = 0;
		cs->done = bc_corrupt_next(cs->bc, &cs->since, cs->until,
					   CORRUPT_PAGE, corrupt_line, cs) == 0;
		if (buf_failed(&cs->out)) {
			log_error("/_/corrupt: out of memory");
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	size_t n = cs->out.len - cs->sent;
	if (n > max)
		n = max;
	memcpy(dst, cs->out.data + cs->sent, n);
	cs->sent += n;
	return (ssize_t)n;
}

static void corrupt_stream_free(void *cls)
{
	struct corrupt_stream *cs = cls;
	buf_free(&cs->out);
	free(cs);
}

static enum MHD_Result handle_corrupt(struct srv *s, struct req *r,
				      struct MHD_Connection *c)
{
	char arg[24];
	uint64_t since = 0;
	long n = http_query_arg(c, "since", arg, sizeof(arg));
	if (n >= 0) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(arg, &end, 10);
		if (n == 0 || arg[0] < '0' || arg[0] > '9' || errno || *end)
			n = -EINVAL;
		since = v;
	}
	if (n < 0 && n != -ENOENT)
		return reply_text(r, c, MHD_HTTP_BAD_REQUEST,
				  "since must be a report number (decimal)");
	uint64_t dropped, until = bc_corrupt_seq(s->bc, &dropped);
	struct corrupt_stream *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return MHD_NO;
	cs->bc = s->bc;
	cs->since = since;
	cs->until = until;
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 64 * 1024, corrupt_read, cs,
		corrupt_stream_free);
	if (!resp) {
		corrupt_stream_free(cs);
		return MHD_NO;
	}
	char seq[24];
	snprintf(seq, sizeof(seq), "%" PRIu64, until);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/x-ndjson");
	MHD_add_response_header(resp, "Cask-Volume-Id", bc_id(s->bc));
	MHD_add_response_header(resp, "Cask-Volume-Run", bc_run(s->bc));
	MHD_add_response_header(resp, "Cask-Corrupt-Seq", seq);
	r->code = MHD_HTTP_OK;
	enum MHD_Result ret = MHD_queue_response(c, r->code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle_system(struct srv *s, struct req *r,
				     struct MHD_Connection *c, const char *url)
{
	bool get = r->method == METRICS_GET || r->method == METRICS_HEAD;
	if (strcmp(url, "/_/health") == 0 && get)
		return handle_health(s, r, c);
	if (strcmp(url, "/_/status") == 0 && get)
		return handle_status(s, r, c);
	if (strcmp(url, "/_/ui") == 0 && get)
		return handle_ui(s, r, c);
	if (strcmp(url, "/_/metrics") == 0 && get)
		return handle_metrics(s, r, c);
	if (strcmp(url, "/_/keys") == 0 && get)
		return handle_keys(s, r, c);
	if (strcmp(url, "/_/corrupt") == 0 && get)
		return handle_corrupt(s, r, c);
	if (strcmp(url, "/_/scrub") == 0 && r->method == METRICS_POST)
		return handle_scrub(s, r, c);
	return reply_text(r, c, MHD_HTTP_NOT_FOUND, "no such system endpoint");
}

/* The internal plane (DESIGN.md, Security): what only cluster members
 * and the tools may ask of a volume. GETs of keys are public, reached by
 * the masters' redirects; so are health, status and metrics. */
static bool internal(const struct req *r, const char *url)
{
	if (!r->system)
		return r->method == METRICS_PUT || r->method == METRICS_DELETE;
	return strcmp(url, "/_/keys") == 0 || strcmp(url, "/_/corrupt") == 0 ||
	       r->method == METRICS_POST;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **req_cls)
{
	struct srv *s = cls;
	struct req *r = *req_cls;
	(void)version;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = s;
		r->conn = c;
		atomic_init(&r->refs, 1);
		pthread_mutex_init(&r->mu, NULL);
		*req_cls = r;
		r->start_usec = clock_mono_us();
		r->method = metrics_method_of(method);
		r->system = strncmp(url, "/_/", 3) == 0;
		const char *why = NULL;
		bool chunked;
		unsigned bad = http_check_framing(c, &chunked, &why);
		if (bad)
			return reply_text(r, c, bad, why);
		if (internal(r, url)) {
			int rc = http_check_signed(c, method, url, &r->body_sig,
						   &why);
			r->refused = rc != 0;
			if (rc)
				return reply_text(
					r, c,
					rc == -ENOSPC
						? MHD_HTTP_SERVICE_UNAVAILABLE
						: MHD_HTTP_FORBIDDEN,
					why);
		}
		if (r->system && r->method != METRICS_GET &&
		    r->method != METRICS_HEAD && r->method != METRICS_POST)
			return reply_text(r, c, MHD_HTTP_BAD_REQUEST,
					  "keys under /_/ are reserved");
		if (r->system && r->method == METRICS_POST &&
		    strcmp(url, "/_/purge") == 0)
			return begin_purge(r, c);
		if (r->system)
			return MHD_YES;
		if (r->method != METRICS_GET && r->method != METRICS_HEAD &&
		    r->method != METRICS_PUT && r->method != METRICS_DELETE) {
			struct MHD_Response *resp =
				MHD_create_response_from_buffer(
					sizeof("method not allowed\n") - 1,
					"method not allowed\n",
					MHD_RESPMEM_PERSISTENT);
			if (!resp)
				return MHD_NO;
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
						"GET, HEAD, PUT, DELETE");
			r->code = MHD_HTTP_METHOD_NOT_ALLOWED;
			enum MHD_Result ret =
				MHD_queue_response(c, r->code, resp);
			MHD_destroy_response(resp);
			return ret;
		}
		long n = key_from_path(url, r->key, &why);
		if (n < 0)
			return reply_text(r, c,
					  n == -ENAMETOOLONG
						  ? MHD_HTTP_URI_TOO_LONG
						  : MHD_HTTP_BAD_REQUEST,
					  why);
		r->klen = (size_t)n;
		if (r->method == METRICS_PUT)
			return begin_put(s, r, c, chunked);
		/* Answering on the first call made MHD 0.9.75 close
		 * keep-alive connections; answer on the second. */
		return MHD_YES;
	}

	if (r->refused) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	const char *body_why;
	int body_rc = http_signed_body(&r->body_sig, upload_data,
				       *upload_data_size, &body_why);
	if (body_rc) {
		r->refused = true;
		*upload_data_size = 0;
		return reply_text(r, c,
				  body_rc == -ENOMEM
					  ? MHD_HTTP_SERVICE_UNAVAILABLE
					  : MHD_HTTP_FORBIDDEN,
				  body_why);
	}
	/* Resumed after its operation ended: MHD's resumption orders this
	 * read after op_end's writes. */
	if (r->op == OP_DONE)
		return reply_op(r, c);
	if (r->pb) {
		if (*upload_data_size)
			return receive_purge(s, r, upload_data,
					     upload_data_size);
		return finish_purge(s, r, c);
	}
	if (r->system) {
		/* No other system endpoint takes a body: drop it unbuffered. */
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return handle_system(s, r, c, url);
	}
	switch (r->method) {
	case METRICS_PUT:
		if (*upload_data_size)
			return receive_put(s, r, upload_data, upload_data_size);
		return finish_put(s, r, c);
	case METRICS_GET:
	case METRICS_HEAD:
		return handle_get(s, r, c, url);
	case METRICS_DELETE:
		return start_delete(s, r, c);
	default:
		return MHD_NO;
	}
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	/* A client that went away mid-upload leaves no visible key. */
	if (r->w)
		bc_write_abort(r->w);
	if (r->held)
		atomic_fetch_sub(&r->srv->held, r->held);
	metrics_http_observe(r->method, (int)r->code,
			     clock_mono_us() - r->start_usec);
	*req_cls = NULL;
	req_unref(r);
}

int srv_start(const struct srv_options *opt, struct bc *bc, struct srv **out)
{
	struct srv *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->bc = bc;
	s->max_value = opt->max_value;
	s->signed_reads = opt->signed_reads;
	pthread_mutex_init(&s->ui_mu, NULL);
	metrics_http_sample(&s->ui_sample);
	s->ui_ms = clock_mono_ms();
	s->pool = opt->threads > 0;
	struct httpserver_options ho = {.bind = opt->bind,
					.port = opt->port,
					.threads = opt->threads,
					.limits = opt->limits,
					.connection_memory = 64 * 1024,
					.timeout_s = 120,
					.thread_stack = 256 * 1024,
					.backlog = 1024,
					.handler = handler,
					.completed = completed,
					.cls = s};
	int rc = httpserver_start(&ho, &s->hs);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void srv_stop(struct srv *s, unsigned grace_ms)
{
	httpserver_quiesce(s->hs);
	httpserver_drain(s->hs, grace_ms);
	/* MHD must not stop while a connection is suspended, and only the end
	 * of its operation resumes it. Each ends: a commit with its sync, a
	 * delete once the older puts of its key end, which the still running
	 * polling threads finish or time out. */
	httpserver_wait(&s->pending, HTTPSERVER_FOREVER);
	httpserver_stop(s->hs);
	pthread_mutex_destroy(&s->ui_mu);
	free(s);
}
