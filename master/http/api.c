#include "master/http/api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/httpd.h"
#include "common/httperr.h"
#include "common/httphdr.h"
#include "common/httpserver.h"
#include "common/key.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/placement.h"
#include "common/sign.h"
#include "master/http/admin.h"
#include "master/http/apikeys.h"
#include "master/http/ui.h"
#include "master/repl/raft_http.h"
#include "master/write/keylock.h"
#include "master/write/put.h"

/* Beyond this many PUTs in flight, new ones are told to come back. */
#define MAX_PUTS 512
#define URL_MAX	 (IDX_ADDR_MAX + KEY_PCT_MAX + 16)

struct api {
	struct api_options opt;
	struct api_deps d;
	struct httpserver *hs;
	struct admin *admin; /* /_/admin/ and REBALANCE (master/http/admin.h) */
	struct ui *ui;	     /* /_/ui (master/http/ui.h) */
};

enum kind {
	KIND_READ,
	KIND_PUT,
	KIND_WRITE,    /* DELETE, UNLINK */
	KIND_REDIRECT, /* a write on a follower: 307 once the body is read */
};

/* A follower reads and drops a write's body up to this size before its
 * 307, so the client keeps its connection: libmicrohttpd closes one whose
 * body was left unread, and a new connection per redirected write costs
 * the client, the follower and the leader more than the bytes do. Larger
 * bodies get the 307 at once and lose the connection. */
#define REDIRECT_DRAIN_MAX (64 * 1024)

struct req {
	struct api *a;
	struct MHD_Connection *c;
	struct sign_body body_sig; /* a signed body's digest check */
	enum kind kind;
	enum metrics_method method;
	uint64_t start_us;
	unsigned status;
	bool answered;
	struct put *put;
	uint64_t received; /* a PUT's body bytes, taken or dropped */
	bool locked;	   /* holds the key's write lock (KIND_WRITE) */
	bool suspended;
	atomic_bool committed;
	struct commit_req *cr;
	bool refused;		/* its signature did not hold */
	bool raft;		/* a /_/raft/ request, handled by the node */
	void *raft_state;	/* its per-request state */
	bool reading;		/* waits for a linearizable read index */
	atomic_bool read_ready; /* rd.result is set */
	struct node_read rd;
	struct admin_req *admin;
	size_t keylen;
	char key[KEY_MAX + 1];
};

static enum MHD_Result queue(struct req *r, unsigned code,
			     struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	r->status = code;
	r->answered = true;
	enum MHD_Result ret = MHD_queue_response(r->c, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result empty(struct req *r, unsigned code)
{
	r->status = code;
	r->answered = true;
	return http_reply_empty(r->c, code);
}

static enum MHD_Result reply_buf(struct req *r, struct buf *b,
				 const char *content_type)
{
	r->answered = true;
	return http_reply_buf(r->c, b, content_type, &r->status);
}

static struct MHD_Response *empty_response(void)
{
	return MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result text(struct req *r, unsigned code, const char *why)
{
	r->status = code;
	r->answered = true;
	return http_reply_text(r->c, code, "%s", why);
}

/* An operation ended with rc: the answer common/httperr.h gives it, with
 * `why` or, when NULL, the table's reason. */
static enum MHD_Result failed(struct req *r, int rc, const char *why)
{
	r->answered = true;
	return http_reply_errno(r->c, rc, why, &r->status);
}

/* A write reached a follower before any work: 307 to the leader with the
 * same path and query (curl -L re-sends the body), or 503 when there is
 * no leader to send it to. */
static enum MHD_Result not_leader(struct api *a, struct req *r, const char *url)
{
	char leader[IDX_ADDR_MAX + 16];
	int rc = node_leader_url(a->d.node, leader, sizeof(leader));
	if (rc)
		return text(r, 503,
			    rc == -EAGAIN ? "leadership is changing: retry"
					  : "no leader: retry");
	r->answered = true;
	return http_reply_to_leader(r->c, leader, url, &r->status);
}

static bool leads(struct api *a)
{
	struct node_info in;
	if (!a->d.node)
		return true;
	node_info(a->d.node, &in);
	return in.role == RAFT_LEADER;
}

/* The request's Content-Length in *size: 1, 0 when there is none, -1
 * when it is not a decimal number. */
static int content_length(struct req *r, unsigned long long *size)
{
	const char *cl = MHD_lookup_connection_value(
		r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t n = 0;
	*size = 0;
	if (!cl)
		return 0;
	if (httphdr_content_length(cl, &n))
		return -1;
	*size = n;
	return 1;
}

/* The first call of a write this master does not lead: redirect after
 * the (small) body, or now. */
static enum MHD_Result redirect_write(struct api *a, struct req *r,
				      const char *url)
{
	unsigned long long size;
	int has = content_length(r, &size);
	/* A chunked body has no length to bound the drain. */
	if (MHD_lookup_connection_value(r->c, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	    has < 0 || (has && size > REDIRECT_DRAIN_MAX))
		return not_leader(a, r, url);
	r->kind = KIND_REDIRECT;
	return MHD_YES;
}

/* Reads wait for this master to have applied a read index the leader
 * confirmed, unless it is the only voter. */
static bool needs_barrier(struct api *a)
{
	struct node_info in;
	if (!a->d.node)
		return false;
	node_info(a->d.node, &in);
	return !in.single;
}

static void read_released(struct node_read *rd)
{
	struct req *r = rd->arg;
	atomic_store(&r->read_ready, true);
	MHD_resume_connection(r->c);
}

/* The leader within its lease reads at once when state/ is applied
 * through the read index the lease gave (*index, else 0). */
static bool lease_read(struct api *a, uint64_t *index)
{
	uint64_t applied;
	*index = 0;
	return a->d.node && node_lease_read(a->d.node, index) == 0 &&
	       idx_applied(a->d.ix, &applied) == 0 && applied >= *index;
}

/* A write may be refused from local state (key exists, no such key) when
 * that state holds every acknowledged write: on a master alone, or on
 * the leader within its lease once it applied what earlier leaders
 * acknowledged. A leader just elected, or deposed without knowing it
 * (stopped, cut off), may not hold them. */
static bool knows_all_writes(struct api *a)
{
	uint64_t floor, applied;
	if (!needs_barrier(a))
		return true;
	return node_lease_write(a->d.node, &floor) == 0 &&
	       idx_applied(a->d.ix, &applied) == 0 && applied >= floor;
}

/* Otherwise the read waits: for the apply only, given that index, else
 * for one from the leader. */
static enum MHD_Result read_barrier(struct api *a, struct req *r,
				    uint64_t index)
{
	r->reading = true;
	r->rd.done = read_released;
	r->rd.arg = r;
	r->rd.index = index;
	MHD_suspend_connection(r->c);
	node_read(a->d.node, &r->rd);
	return MHD_YES;
}

/* Decodes the request path as a key, answering 414/400 when it is not. */
static bool take_key(struct req *r, const char *url, enum MHD_Result *ret)
{
	const char *why = "bad key";
	long n = key_from_path(url, r->key, &why);
	if (n < 0) {
		*ret = text(r, n == -ENAMETOOLONG ? 414 : 400, why);
		return false;
	}
	r->keylen = (size_t)n;
	return true;
}

static unsigned rand_below(unsigned n)
{
	static _Thread_local uint64_t x;
	if (!x)
		x = clock_mono_us() ^ (uint64_t)(uintptr_t)&x;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (unsigned)(x % n);
}

static bool balanced(struct api *a, const struct req *r,
		     const struct idx_record *rec)
{
	const struct vol_active *act = vol_active(a->d.vs);
	size_t have[CMD_MAX_VOLS];
	for (unsigned i = 0; i < rec->nvols; i++) {
		size_t j = 0;
		while (j < act->n && act->v[j]->id != rec->vols[i])
			j++;
		if (j == act->n)
			return false; /* a copy on a volume no longer active */
		have[i] = j;
	}
	return placement_balanced(r->key, r->keylen, act, act->n,
				  vol_active_addr, a->opt.replicas, have,
				  rec->nvols) == 1;
}

/* `alt`, when not NULL, is the failover list a volume follows (?alt=). */
static enum MHD_Result redirect(struct req *r, unsigned code, const char *host,
				const char *alt, struct MHD_Response *resp)
{
	char path[KEY_PCT_MAX], url[URL_MAX + CMD_MAX_VOLS * IDX_ADDR_MAX];
	if (key_pct_encode(r->key, r->keylen, path, sizeof(path)) < 0) {
		MHD_destroy_response(resp);
		return text(r, 500, "key does not encode");
	}
	char sig[SIGN_QUERY_MAX] = "";
	if (r->a->opt.signed_reads)
		sign_read(path, clock_wall_ms() / 1000 + SIGN_READ_TTL_S, sig);
	snprintf(url, sizeof(url), "http://%s%s%s%s%s%s", host, path,
		 sig[0] || alt ? "?" : "", sig, sig[0] && alt ? "&" : "",
		 alt ? "alt=" : "");
	if (alt)
		snprintf(url + strlen(url), sizeof(url) - strlen(url), "%s",
			 alt);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, url);
	return queue(r, code, resp);
}

static enum MHD_Result get_key(struct api *a, struct req *r, const char *url)
{
	enum MHD_Result ret;
	if (!take_key(r, url, &ret))
		return ret;
	struct idx_record rec;
	struct idx_copies cp;
	int rc = idx_get_copies(a->d.ix, r->key, r->keylen, &rec, &cp);
	if (rc && rc != -ENOENT)
		return text(r, 500, "index read failed");
	struct MHD_Response *resp = empty_response();
	if (!resp)
		return MHD_NO;
	if (!rc) {
		char hex[2 * MD5_LEN + 1];
		md5_hex(rec.md5, hex);
		MHD_add_response_header(resp, "Content-Md5", hex);
	}
	if (rc || rec.state != IDX_LIVE) {
		if (a->opt.fallback[0])
			return redirect(r, 302, a->opt.fallback, NULL, resp);
		return queue(r, 404, resp);
	}
	/* What a gateway (s3/) needs to answer HEAD without reading the
	 * value: its size, and when it was written (ms since the epoch). */
	char num[24];
	snprintf(num, sizeof(num), "%" PRIu64, rec.size);
	MHD_add_response_header(resp, "Key-Size", num);
	snprintf(num, sizeof(num), "%" PRIu64, rec.created_ms);
	MHD_add_response_header(resp, "Key-Created", num);
	char vols[CMD_MAX_VOLS * IDX_ADDR_MAX] = "";
	size_t vl = 0;
	const struct vol *good[CMD_MAX_VOLS];
	unsigned ngood = 0;
	for (unsigned i = 0; i < rec.nvols; i++) {
		const struct vol *v = vol_by_id(a->d.vs, rec.vols[i]);
		if (!v)
			continue;
		vl += (size_t)snprintf(vols + vl, sizeof(vols) - vl, "%s%s",
				       vl ? "," : "", v->addr);
		if (atomic_load(&v->healthy) && atomic_load(&v->ident_ok) &&
		    !((cp.lost | cp.unverified) & (1u << i)))
			good[ngood++] = v;
	}
	MHD_add_response_header(resp, "Key-Volumes", vols);
	MHD_add_response_header(resp, "Key-Balance",
				balanced(a, r, &rec) ? "balanced"
						     : "unbalanced");
	if (ngood == 0) {
		MHD_destroy_response(resp);
		return text(r, 503, "no good copy of the key is reachable");
	}
	/* One at random first; the others, in record order, are where the
	 * volume sends the reader if its copy turns out missing or corrupt
	 * before this master knows. */
	unsigned first = rand_below(ngood);
	char alt[CMD_MAX_VOLS * IDX_ADDR_MAX] = "";
	size_t al = 0;
	for (unsigned i = 0; i < ngood; i++)
		if (i != first)
			al += (size_t)snprintf(alt + al, sizeof(alt) - al,
					       "%s%s", al ? "," : "",
					       good[i]->addr);
	return redirect(r, 302, good[first]->addr, al ? alt : NULL, resp);
}

/* Appends s as a JSON string exactly as Go's encoding/json does, so that
 * listings are byte-identical to minikeyvalue's: <, > and & escaped,
 * invalid UTF-8 replaced by U+FFFD, U+2028/2029 escaped. */
static void json_go_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	buf_append(b, "\"", 1);
	size_t run = 0, i = 0;
	while (i < len) {
		unsigned char c = u[i];
		if (c < 0x80) {
			const char *esc = NULL;
			char ub[7];
			if (c >= 0x20 && c != '"' && c != '\\' && c != '<' &&
			    c != '>' && c != '&') {
				i++;
				continue;
			}
			switch (c) {
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			default:
				memcpy(ub, "\\u00", 4);
				ub[4] = hex[c >> 4];
				ub[5] = hex[c & 15];
				ub[6] = '\0';
				esc = ub;
			}
			buf_append(b, s + run, i - run);
			buf_append(b, esc, strlen(esc));
			run = ++i;
			continue;
		}
		/* Multi-byte: decode and validate as Go's utf8 package. */
		size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
		uint32_t cp = n == 4 ? c & 7u : n == 3 ? c & 15u : c & 31u;
		bool ok = n && i + n <= len && c <= 0xf4;
		for (size_t k = 1; ok && k < n; k++) {
			ok = (u[i + k] & 0xc0) == 0x80;
			cp = cp << 6 | (u[i + k] & 63u);
		}
		if (ok)
			ok = !(n == 3 && cp < 0x800) &&
			     !(n == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
			     !(cp >= 0xd800 && cp <= 0xdfff);
		if (!ok || cp == 0x2028 || cp == 0x2029) {
			buf_append(b, s + run, i - run);
			buf_printf(b, "\\u%04x", ok ? cp : 0xfffdu);
			i += ok ? n : 1;
			run = i;
			continue;
		}
		i += n;
	}
	buf_append(b, s + run, len - run);
	buf_append(b, "\"", 1);
}

/* A listing's answer as it is built: the keys and, with ?meta, one
 * element per key in the same order. */
struct list_out {
	struct buf keys;
	struct buf meta;
	bool with_meta;
	size_t n;
};

static int list_one(void *arg, const char *key, size_t keylen,
		    const struct idx_record *rec)
{
	struct list_out *o = arg;
	if (o->n)
		buf_append(&o->keys, ",", 1);
	json_go_string(&o->keys, key, keylen);
	if (o->with_meta) {
		char hex[2 * MD5_LEN + 1];
		md5_hex(rec->md5, hex);
		buf_printf(&o->meta,
			   "%s{\"size\":%" PRIu64 ",\"md5\":\"%s\""
			   ",\"created_ms\":%" PRIu64 "}",
			   o->n ? "," : "", rec->size, hex, rec->created_ms);
	}
	o->n++;
	return buf_failed(&o->keys) || buf_failed(&o->meta) ? -ENOMEM : 0;
}

/* The query arguments. The operation is the first argument that is not
 * `meta`, which is a flag of the listing and may come anywhere. */
struct query {
	unsigned n;
	const char *first;
	const char *first_value;
	bool meta;
	const char *meta_value;
};

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct query *q = cls;
	(void)kind;
	q->n++;
	if (strcmp(key, "meta") == 0) {
		q->meta = true;
		q->meta_value = value;
	} else if (!q->first) {
		q->first = key;
		q->first_value = value;
	}
	return MHD_YES;
}

static enum MHD_Result list(struct api *a, struct req *r, const char *url,
			    const struct query *q)
{
	/* As minikeyvalue: the operation is the first query argument
	 * (`meta` aside, which minikeyvalue does not know). */
	bool unlinked = q->first && strcmp(q->first, "unlinked") == 0;
	if (!q->first || (!unlinked && strcmp(q->first, "list") != 0) ||
	    (q->first_value && q->first_value[0]))
		return text(r, 403, "unknown query: use ?list or ?unlinked");
	if (q->meta_value && q->meta_value[0])
		return text(r, 400, "meta takes no value");
	char prefix[KEY_MAX + 1], start[KEY_MAX + 1], num[32];
	long plen = key_pct_decode(url, strlen(url), prefix, sizeof(prefix));
	if (plen == -ENAMETOOLONG)
		return text(r, 414, "prefix longer than 511 bytes");
	if (plen < 1 || prefix[0] != '/' || memchr(prefix, 0, (size_t)plen))
		return text(r, 400, "malformed prefix");
	long slen = http_query_arg(r->c, "start", start, sizeof(start));
	if (slen == -ENOENT)
		slen = 0;
	else if (slen < 0)
		return text(r, 400, "malformed start");
	size_t limit = 0;
	long nlen = http_query_arg(r->c, "limit", num, sizeof(num) - 1);
	if (nlen >= 0) {
		char *end;
		num[nlen] = '\0';
		errno = 0;
		long long v = strtoll(num, &end, 10);
		if (nlen == 0 || *end || errno || v < 0)
			return text(r, 400, "limit must be a number >= 0");
		limit = (size_t)v;
	} else if (nlen != -ENOENT) {
		return text(r, 400, "malformed limit");
	}
	struct list_out o = {.with_meta = q->meta};
	/* One read gives each key with its record, so a meta element
	 * always describes the key beside it. */
	struct idx_list l = {.prefix = prefix,
			     .prefixlen = (size_t)plen,
			     .start = slen ? start : NULL,
			     .startlen = (size_t)slen,
			     .unlinked = unlinked,
			     .limit = limit,
			     .max = a->opt.list_max,
			     .fn_record = list_one,
			     .arg = &o};
	int rc = idx_list(a->d.ix, &l);
	if (rc || buf_failed(&o.keys) || buf_failed(&o.meta)) {
		buf_free(&o.keys);
		buf_free(&o.meta);
		if (rc == -E2BIG)
			return text(r, 413,
				    "too many keys: page with &limit=N");
		return text(r, 500, "listing failed");
	}
	/* Without meta, exactly minikeyvalue's bytes. */
	struct buf out = {0};
	buf_append(&out, "{\"next\":", 8);
	json_go_string(&out, l.next, l.nextlen);
	buf_append(&out, ",\"keys\":[", 9);
	buf_append(&out, o.keys.data, o.keys.len);
	buf_append(&out, "]", 1);
	if (o.with_meta) {
		buf_append(&out, ",\"meta\":[", 9);
		buf_append(&out, o.meta.data, o.meta.len);
		buf_append(&out, "]", 1);
	}
	buf_append(&out, "}", 1);
	buf_free(&o.keys);
	buf_free(&o.meta);
	return reply_buf(r, &out, "application/json");
}

struct status_ctx {
	struct buf *b;
	struct idx *ix;
	bool first;
};

static void status_vol(void *arg, const struct vol *v)
{
	struct status_ctx *s = arg;
	buf_printf(s->b,
		   "%s{\"id\":%" PRIu32 ",\"address\":", s->first ? "" : ",",
		   v->id);
	json_go_string(s->b, v->addr, strlen(v->addr));
	const char *zone = atomic_load(&v->zone);
	buf_append(s->b, ",\"zone\":", 8);
	json_go_string(s->b, zone, strlen(zone));
	/* Verified: the committed identity's listing was compared with the
	 * records, so its copies count for reads and repair. */
	struct idx_vol_health ih;
	bool verified = idx_vol_health(s->ix, v->id, &ih) == 0 &&
			!ih.unverified && !ih.dead;
	buf_printf(s->b,
		   ",\"active\":%s,\"healthy\":%s,\"identity_ok\":%s"
		   ",\"verified\":%s}",
		   atomic_load(&v->active) ? "true" : "false",
		   atomic_load(&v->healthy) ? "true" : "false",
		   atomic_load(&v->ident_ok) ? "true" : "false",
		   verified ? "true" : "false");
	s->first = false;
}

static enum MHD_Result status(struct api *a, struct req *r)
{
	struct idx_stats st;
	if (idx_stats(a->d.ix, &st))
		return text(r, 500, "index read failed");
	struct buf b = {0};
	buf_printf(&b,
		   "{\"keys\":%" PRIu64 ",\"purge_queue\":%" PRIu64
		   ",\"applied\":%" PRIu64 ",\"puts_in_flight\":%u"
		   ",\"replicas\":%u,\"volumes\":[",
		   st.keys, st.purge, st.applied, put_active(),
		   a->opt.replicas);
	struct status_ctx s = {&b, a->d.ix, true};
	vol_each(a->d.vs, status_vol, &s);
	buf_append(&b, "]", 1);
	struct repair_counts rpc;
	repair_counts(a->d.rp, &rpc);
	buf_printf(&b,
		   ",\"repair\":{\"under_replicated\":%" PRIu64
		   ",\"queued\":%" PRIu64 ",\"repaired\":%" PRIu64
		   ",\"failed\":%" PRIu64 ",\"lost_copies\":%" PRIu64 "}",
		   rpc.under_replicated, rpc.queued, rpc.repaired, rpc.failed,
		   st.lost);
	if (a->d.node)
		node_status_json(a->d.node, &b);
	buf_append(&b, "}\n", 2);
	return reply_buf(r, &b, "application/json");
}

static void count_healthy(void *arg, const struct vol *v)
{
	unsigned *n = arg;
	*n += atomic_load(&v->healthy);
}

static enum MHD_Result metrics(struct api *a, struct req *r)
{
	struct idx_stats st = {0};
	uint64_t purged, purge_failed, cmds, txns;
	unsigned healthy = 0;
	idx_stats(a->d.ix, &st);
	purge_counts(a->d.pg, &purged, &purge_failed);
	commit_counts(a->d.cm, &cmds, &txns);
	vol_each(a->d.vs, count_healthy, &healthy);
	struct buf b = {0};
	metrics_render_http(&b, "cask_master");
	metrics_gauge(&b, "cask_master_keys", "Records in the index.",
		      (double)st.keys);
	metrics_gauge(&b, "cask_master_purge_queue",
		      "Copies waiting to be deleted from volumes.",
		      (double)st.purge);
	metrics_gauge(&b, "cask_master_applied_index",
		      "Last command applied to the index.", (double)st.applied);
	metrics_gauge(&b, "cask_master_volumes_healthy",
		      "Volumes answering their health check.", healthy);
	metrics_gauge(&b, "cask_master_puts_in_flight",
		      "PUTs streaming to volumes.", put_active());
	metrics_counter(&b, "cask_master_purged_total",
			"Copies deleted from volumes.", purged);
	metrics_counter(&b, "cask_master_purge_failures_total",
			"Purge attempts that failed (retried).", purge_failed);
	struct repair_counts rp;
	repair_counts(a->d.rp, &rp);
	metrics_gauge(&b, "cask_master_repair_under_replicated",
		      "Keys with a copy not believed good (last repair pass).",
		      (double)rp.under_replicated);
	metrics_gauge(&b, "cask_master_repair_queued",
		      "Keys waiting for a repair copy.", (double)rp.queued);
	metrics_gauge(&b, "cask_master_lost_copies",
		      "Copies marked lost in the index.", (double)st.lost);
	metrics_counter(&b, "cask_master_repaired_total",
			"Lost copies replaced by repair.", rp.repaired);
	metrics_counter(&b, "cask_master_repair_failures_total",
			"Repair attempts that failed (retried).", rp.failed);
	metrics_counter(&b, "cask_master_commands_total",
			"Commands applied to the index.", cmds);
	metrics_counter(&b, "cask_master_commits_total",
			"Index transactions (group commits).", txns);
	if (a->d.node)
		node_metrics(a->d.node, &b);
	return reply_buf(r, &b, "text/plain; version=0.0.4");
}

static enum MHD_Result system_get(struct api *a, struct req *r, const char *url)
{
	if (strcmp(url, "/_/health") == 0)
		return text(r, 200, "ok");
	if (strcmp(url, "/_/status") == 0)
		return status(a, r);
	if (strcmp(url, "/_/metrics") == 0)
		return metrics(a, r);
	if (strcmp(url, "/_/ui") == 0) {
		struct buf b = {0};
		ui_render(a->ui, &b);
		return reply_buf(r, &b, "text/html; charset=utf-8");
	}
	return text(r, 400, "keys under /_/ are reserved");
}

static void put_suspend(void *arg)
{
	struct req *r = arg;
	MHD_suspend_connection(r->c);
}

static void put_resume(void *arg)
{
	struct req *r = arg;
	MHD_resume_connection(r->c);
}

/* The first call of a PUT: everything that can be refused before the
 * body is read is refused here. A chunked body (http_check_framing let only
 * that encoding through) has no size yet: put.h bounds it as it comes. */
static enum MHD_Result put_begin(struct api *a, struct req *r, const char *url)
{
	enum MHD_Result ret;
	if (!take_key(r, url, &ret))
		return ret;
	unsigned long long size = PUT_SIZE_UNKNOWN;
	bool chunked = MHD_lookup_connection_value(
			       r->c, MHD_HEADER_KIND,
			       MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
	if (!chunked && (content_length(r, &size) <= 0 || size == 0))
		return text(r, 411,
			    "PUT needs a non-empty body, with a "
			    "Content-Length or chunked");
	if (!chunked && size > a->opt.max_value)
		return text(r, 413, "value larger than -max-value");
	if (put_active() >= MAX_PUTS) {
		return text(r, 503, "too many PUTs in flight");
	}
	/* The live-key refusal below must be right: the volumes are written
	 * before the proposal, so going ahead on a live key would overwrite
	 * its copies. A leader confirms itself within milliseconds. */
	if (!knows_all_writes(a))
		return text(r, 503, "leadership not confirmed yet: retry");
	if (keylock_try(r->key, r->keylen, KEYLOCK_CLIENT))
		return text(r, 409, "another write to this key is in flight");
	struct idx_record rec;
	int rc = idx_get(a->d.ix, r->key, r->keylen, &rec);
	if (rc == 0 && rec.state == IDX_LIVE) {
		keylock_release(r->key, r->keylen);
		return text(r, 403, "key exists (DELETE it first)");
	}
	if (rc && rc != -ENOENT) {
		keylock_release(r->key, r->keylen);
		return text(r, 500, "index read failed");
	}
	const struct vol_active *act = vol_active(a->d.vs);
	size_t win[CMD_MAX_VOLS];
	int n = placement_pick_set(r->key, r->keylen, act, act->n,
				   vol_active_addr, a->opt.replicas, win);
	if (n < (int)a->opt.replicas) {
		keylock_release(r->key, r->keylen);
		return text(r, 503, "fewer volumes than -replicas");
	}
	struct put_params pp = {.key = r->key,
				.keylen = r->keylen,
				.size = size,
				.max = a->opt.max_value,
				.n = (unsigned)n,
				.md5sum = a->opt.md5sum,
				.connect_timeout_ms = a->opt.voltimeout_ms,
				.cm = a->d.cm,
				.pg = a->d.pg,
				.io = {put_suspend, put_resume, r}};
	for (int i = 0; i < n; i++) {
		pp.ids[i] = act->v[win[i]]->id;
		pp.addrs[i] = act->v[win[i]]->addr;
	}
	if (rc == 0) {
		pp.nkeep = rec.nvols;
		memcpy(pp.keep, rec.vols, sizeof(rec.vols[0]) * rec.nvols);
	}
	rc = put_start(&pp, &r->put);
	if (rc) {
		keylock_release(r->key, r->keylen);
		return text(r, 500, "could not start the upload");
	}
	return MHD_YES;
}

/* A PUT refused while its body arrives (over -max-value, a failed
 * replica) still reads the body, so that the answer can be sent:
 * libmicrohttpd 0.9.75 sends none before the end of a chunked body. A
 * client that goes on past -max-value beyond -max-value more is cut off
 * instead, so a refused body costs at most what an accepted one would. */
static bool drained_too_long(const struct req *r)
{
	uint64_t max = r->a->opt.max_value;
	return r->received > max && r->received - max > max;
}

static enum MHD_Result put_body(struct req *r, const char *data, size_t *size)
{
	if (*size) {
		size_t took = put_feed(r->put, data, *size);
		r->received += took;
		*size -= took;
		return drained_too_long(r) ? MHD_NO : MHD_YES;
	}
	if (!put_finish(r->put))
		return MHD_YES;
	const char *why;
	unsigned code = put_status(r->put, &why);
	if (code == 201)
		return empty(r, 201);
	return text(r, code, why);
}

static void write_done(struct commit_req *cr)
{
	struct req *r = cr->arg;
	keylock_release(r->key, r->keylen);
	r->locked = false;
	atomic_store(&r->committed, true);
	MHD_resume_connection(r->c);
}

static enum MHD_Result write_begin(struct api *a, struct req *r,
				   const char *url, bool unlink)
{
	enum MHD_Result ret;
	if (!take_key(r, url, &ret))
		return ret;
	if (keylock_try(r->key, r->keylen, KEYLOCK_CLIENT))
		return text(r, 409, "another write to this key is in flight");
	r->locked = true;
	/* Cheap refusals from a read when they are sure to be right;
	 * otherwise the proposal goes ahead and apply decides (it re-checks
	 * either way). */
	struct idx_record rec;
	int rc = knows_all_writes(a) ? idx_get(a->d.ix, r->key, r->keylen, &rec)
				     : -EAGAIN;
	if (rc == -ENOENT || (!rc && unlink && rec.state != IDX_LIVE))
		return text(r, 404, "no such key");
	if (rc && rc != -EAGAIN)
		return text(r, 500, "index read failed");
	if (!rc && !unlink && a->opt.protect && rec.state == IDX_LIVE)
		return text(r, 403, "protected: UNLINK the key before DELETE");
	struct cmd c = {.type = unlink ? CMD_UNLINK : CMD_DELETE,
			.key = r->key,
			.keylen = r->keylen,
			.protect = a->opt.protect};
	r->cr = malloc(sizeof(*r->cr));
	if (!r->cr)
		return text(r, 500, "out of memory");
	long len = cmd_encode(&c, r->cr->cmd, sizeof(r->cr->cmd));
	if (len < 0)
		return text(r, 500, "command does not encode");
	r->cr->len = (size_t)len;
	r->cr->done = write_done;
	r->cr->arg = r;
	/* Suspend first: the commit may finish before this returns. */
	r->suspended = true;
	MHD_suspend_connection(r->c);
	commit_submit(a->d.cm, r->cr);
	return MHD_YES;
}

/* The commit's outcome. A leader lost meanwhile (-ENOTCONN) is a 503 as
 * for a PUT, not a 307: the write began here, and whether it happened is
 * unknown (common/httperr.h). */
static enum MHD_Result write_end(struct api *a, struct req *r)
{
	int rc = r->cr->result;
	if (rc == 0) {
		if (r->method == METRICS_DELETE)
			purge_poke(a->d.pg);
		return empty(r, 204);
	}
	if (rc == -EPERM)
		return failed(r, rc, "protected: UNLINK the key before DELETE");
	if (httperr_status(rc) == 503)
		return failed(r, rc, "the change was not committed: retry");
	return failed(r, rc,
		      httperr_status(rc) == 500 ? "index commit failed" : NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct req *r = *con_cls;
	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->a = a;
		r->c = c;
		r->method = metrics_method_of(method);
		r->start_us = clock_mono_us();
		*con_cls = r;
		/* Keep-alive connections outlive the listening socket. */
		if (httpserver_stopping(a->hs))
			return text(r, 503, "shutting down: retry");
		const char *framing_why;
		bool chunked;
		unsigned bad = http_check_framing(c, &chunked, &framing_why);
		if (bad)
			return text(r, bad, framing_why);
		if (strncmp(url, "/_/raft/", 8) == 0 ||
		    admin_claims(url, method)) {
			const char *why = NULL;
			int rc = http_check_signed(c, method, url, &r->body_sig,
						   &why);
			r->refused = rc != 0;
			if (rc)
				return text(r, rc == -ENOSPC ? 503 : 403, why);
		} else if (a->opt.keys && strncmp(url, "/_/", 3) != 0) {
			bool write = r->method != METRICS_GET &&
				     r->method != METRICS_HEAD;
			const char *why = NULL;
			int rc = apikeys_check(
				a->opt.keys, write,
				MHD_lookup_connection_value(
					c, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_AUTHORIZATION),
				&why);
			r->refused = rc != 0;
			if (rc)
				return text(r, rc == -EPERM ? 403 : 401, why);
		}
		r->raft = a->d.node && strncmp(url, "/_/raft/", 8) == 0;
		if (r->raft)
			return raft_http(a->d.node, c, url, method, upload_data,
					 upload_data_size, &r->raft_state);
		switch (r->method) {
		case METRICS_PUT:
			r->kind = KIND_PUT;
			if (!leads(a))
				return redirect_write(a, r, url);
			return put_begin(a, r, url);
		case METRICS_DELETE:
		case METRICS_UNLINK:
			r->kind = KIND_WRITE;
			if (!leads(a))
				return redirect_write(a, r, url);
			return MHD_YES;
		default:
			/* Answering on the first call costs keep-alive. */
			return MHD_YES;
		}
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
		return text(r, body_rc == -ENOMEM ? 503 : 403, body_why);
	}
	if (r->kind == KIND_REDIRECT) {
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return not_leader(a, r, url);
	}
	if (admin_claims(url, method)) {
		enum MHD_Result ret =
			admin_handle(a->admin, c, url, method, upload_data,
				     upload_data_size, &r->admin, &r->status);
		r->answered = r->status != 0;
		return ret;
	}
	if (r->raft)
		return raft_http(a->d.node, c, url, method, upload_data,
				 upload_data_size, &r->raft_state);
	if (r->answered) {
		*upload_data_size = 0; /* a body after a refusal is dropped */
		return MHD_YES;
	}
	if (r->kind == KIND_PUT)
		return put_body(r, upload_data, upload_data_size);
	if (*upload_data_size) {
		*upload_data_size = 0; /* bodies of other methods are ignored */
		return MHD_YES;
	}
	switch (r->method) {
	case METRICS_GET:
	case METRICS_HEAD:
		if (strncmp(url, "/_/", 3) == 0)
			return system_get(a, r, url);
		uint64_t index;
		if (!r->reading && !lease_read(a, &index) && needs_barrier(a))
			return read_barrier(a, r, index);
		if (r->reading && !atomic_load(&r->read_ready))
			return MHD_YES;
		if (r->reading && r->rd.result)
			return failed(r, r->rd.result,
				      r->rd.result == -ENOTCONN
					      ? "no leader: retry"
					      : "no read index from the leader "
						"in time: retry");
		if (r->method == METRICS_GET) {
			struct query q = {0};
			MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND,
						  count_arg, &q);
			if (q.n)
				return list(a, r, url, &q);
		}
		return get_key(a, r, url);
	case METRICS_DELETE:
	case METRICS_UNLINK:
		if (r->suspended)
			return write_end(a, r);
		return write_begin(a, r, url, r->method == METRICS_UNLINK);
	default:
		return text(r, 405, "method not allowed");
	}
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	*con_cls = NULL;
	sign_body_free(&r->body_sig);
	if (r->raft) {
		raft_http_done(r->raft_state);
		free(r);
		return;
	}
	if (r->put)
		put_detach(r->put);
	if (r->locked)
		keylock_release(r->key, r->keylen);
	metrics_http_observe(r->method, r->answered ? (int)r->status : 0,
			     clock_mono_us() - r->start_us);
	admin_req_free(r->admin);
	free(r->cr);
	free(r);
}

int api_start(const struct api_options *opt, const struct api_deps *deps,
	      struct api **out)
{
	struct api *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->opt = *opt;
	a->d = *deps;
	struct move_deps md = {deps->ix, deps->cm,	deps->vs,
			       deps->pg, opt->replicas, opt->voltimeout_ms};
	a->admin = admin_new(&md);
	struct ui_deps ud = {deps->ix, deps->vs, deps->rp, deps->node,
			     opt->replicas};
	if (!a->admin || ui_start(&ud, &a->ui)) {
		admin_free(a->admin);
		free(a);
		return -ENOMEM;
	}
	struct httpserver_options ho = {.bind = opt->bind,
					.port = opt->port,
					.threads = opt->threads,
					.limits = opt->limits,
					.connection_memory = 32 * 1024,
					.timeout_s = 120,
					.reuse_address = true,
					.handler = handle,
					.completed = completed,
					.cls = a};
	int rc = httpserver_start(&ho, &a->hs);
	if (rc) {
		ui_stop(a->ui);
		admin_free(a->admin);
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void api_stop(struct api *a, unsigned grace_ms)
{
	httpserver_quiesce(a->hs);
	admin_drain(a->admin);
	/* Requests in flight finish, and none may still be suspended when
	 * the daemon stops: a write waiting for its commit, a read for its
	 * read index, a raft POST for the node's answer. The node still runs
	 * and answers them all. */
	httpserver_drain(a->hs, grace_ms);
	httpserver_stop(a->hs);
	ui_stop(a->ui);
	admin_free(a->admin);
	free(a);
}
