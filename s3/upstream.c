/* See upstream.h. */
#include "s3/upstream.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "common/httpc.h"
#include "common/log.h"

#define MAX_MASTERS 16
#define BASE_MAX    256
/* A 503 from a master means no leader yet, a 409 another write to the
 * key in flight (a purge of its old copies, say): an election takes
 * about a second and a purge less, so a write is retried this many
 * times, 100 ms apart, before the client hears of it. */
#define RETRIES_BUSY 30

struct upstream {
	char masters[MAX_MASTERS][BASE_MAX];
	size_t n;
	long timeout_ms;
	pthread_mutex_t mu;
	char leader[BASE_MAX]; /* the master that took the last write */
};

int upstream_new(const char *masters, long timeout_ms, struct upstream **out)
{
	*out = NULL;
	struct upstream *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->timeout_ms = timeout_ms;
	pthread_mutex_init(&u->mu, NULL);
	const char *p = masters;
	while (*p) {
		size_t len = strcspn(p, ",");
		while (len && p[len - 1] == '/')
			len--; /* "http://h:1/" names the same master */
		if (u->n == MAX_MASTERS || len < 8 || len >= BASE_MAX ||
		    strncmp(p, "http://", 7) != 0) {
			upstream_free(u);
			return -EINVAL;
		}
		memcpy(u->masters[u->n++], p, len);
		p += strcspn(p, ",");
		p += *p == ',';
	}
	if (!u->n) {
		upstream_free(u);
		return -EINVAL;
	}
	snprintf(u->leader, sizeof(u->leader), "%s", u->masters[0]);
	*out = u;
	return 0;
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->mu);
	free(u);
}

static void get_leader(struct upstream *u, char out[BASE_MAX])
{
	pthread_mutex_lock(&u->mu);
	memcpy(out, u->leader, BASE_MAX);
	pthread_mutex_unlock(&u->mu);
}

static void set_leader(struct upstream *u, const char *base)
{
	pthread_mutex_lock(&u->mu);
	snprintf(u->leader, sizeof(u->leader), "%s", base);
	pthread_mutex_unlock(&u->mu);
}

/* The master after `base` in -masters, for when base cannot be reached. */
static void next_master(struct upstream *u, char base[BASE_MAX])
{
	size_t i = 0;
	while (i < u->n && strcmp(u->masters[i], base) != 0)
		i++;
	snprintf(base, BASE_MAX, "%s", u->masters[(i + 1) % u->n]);
}

/* "http://host:port" of a URL, into base. Returns 0 or -EINVAL. */
static int base_of(const char *url, char base[BASE_MAX])
{
	if (strncmp(url, "http://", 7) != 0)
		return -EINVAL;
	size_t len = 7 + strcspn(url + 7, "/?");
	if (len >= BASE_MAX)
		return -EINVAL;
	memcpy(base, url, len);
	base[len] = '\0';
	return 0;
}

static void nap_ms(long ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&d, NULL);
}

/* ---- answers ---- */

/* Copies header value `name` of line p (n bytes) into out, trimmed. */
static bool header_is(const char *p, size_t n, const char *name, char *out,
		      size_t cap)
{
	size_t nl = strlen(name);
	if (n <= nl || p[nl] != ':' || strncasecmp(p, name, nl) != 0)
		return false;
	p += nl + 1;
	n -= nl + 1;
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static int64_t number(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return errno || end == s || *end || v < 0 ? -1 : (int64_t)v;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct up_resp *r = arg;
	size_t len = size * n;
	char v[64];
	/* A new status line (a 100 Continue before the answer) starts over. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->location[0] = r->md5[0] = '\0';
		r->size = r->created = -1;
	}
	header_is(p, len, "Location", r->location, sizeof(r->location));
	header_is(p, len, "Content-Md5", r->md5, sizeof(r->md5));
	if (header_is(p, len, "Key-Size", v, sizeof(v)))
		r->size = number(v);
	if (header_is(p, len, "Key-Created", v, sizeof(v)))
		r->created = number(v);
	return len;
}

static void resp_init(struct up_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->size = r->created = -1;
}

/* The first line of an error's body, for logs and the client. */
static void take_reason(struct up_resp *r)
{
	if (r->code < 300 || buf_failed(&r->body) || !r->body.len)
		return;
	size_t n = strcspn(r->body.data, "\r\n");
	n = n < r->body.len ? n : r->body.len;
	if (n >= sizeof(r->reason))
		n = sizeof(r->reason) - 1;
	memcpy(r->reason, r->body.data, n);
	r->reason[n] = '\0';
}

void up_resp_free(struct up_resp *r)
{
	buf_free(&r->body);
}

/* ---- plain calls ---- */

struct body_src {
	const char *p;
	size_t left;
};

static size_t read_body(char *out, size_t size, size_t n, void *arg)
{
	struct body_src *s = arg;
	size_t k = size * n < s->left ? size * n : s->left;
	memcpy(out, s->p, k);
	s->p += k;
	s->left -= k;
	return k;
}

static int call_once(struct upstream *u, const char *method, const char *url,
		     const void *body, size_t len, size_t max,
		     struct up_resp *out)
{
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	struct body_src src = {body, len};
	struct httpc_sink sink = {.b = &out->body, .max = max};
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, u->timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_keep);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)&sink);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)out);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (body) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(e, CURLOPT_READDATA, (void *)&src);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->code);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (cc != CURLE_OK && !(sink.too_big && out->code))
		return httpc_errno((int)cc);
	take_reason(out);
	return 0;
}

int upstream_call(struct upstream *u, const char *method, const char *path,
		  const void *body, size_t len, bool write, size_t max,
		  struct up_resp *out)
{
	char base[BASE_MAX], url[8192];
	get_leader(u, base);
	int rc = -ECONNREFUSED;
	unsigned refused = 0, hops = 0, busy = 0;
	for (;;) {
		resp_init(out);
		if ((size_t)snprintf(url, sizeof(url), "%s%s", base, path) >=
		    sizeof(url))
			return -ENAMETOOLONG;
		rc = call_once(u, method, url, body, len, max, out);
		if (rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EIO) {
			up_resp_free(out);
			if (++refused >= u->n)
				return rc;
			next_master(u, base);
			continue;
		}
		if (rc)
			return rc;
		if (write && out->code == 307 && hops++ < 4 &&
		    base_of(out->location, base) == 0) {
			up_resp_free(out);
			continue;
		}
		if (write && (out->code == 503 || out->code == 409) &&
		    busy++ < RETRIES_BUSY) {
			up_resp_free(out);
			nap_ms(100);
			continue;
		}
		if (write && out->code < 500)
			set_leader(u, base);
		return 0;
	}
}

/* One libcurl transfer driven on the calling thread. */
struct xfer {
	CURLM *m;
	CURL *e;
	bool done;
	CURLcode result;
};

static int xfer_open(struct xfer *x)
{
	x->m = curl_multi_init();
	x->e = curl_easy_init();
	return x->m && x->e ? 0 : -ENOMEM;
}

static int xfer_start(struct xfer *x)
{
	return curl_multi_add_handle(x->m, x->e) == CURLM_OK ? 0 : -ENOMEM;
}

/* Runs the transfer until cond(arg) holds or it ends. */
static int xfer_pump(struct xfer *x, bool (*cond)(const void *),
		     const void *arg)
{
	while (!x->done && !cond(arg)) {
		int running;
		if (curl_multi_perform(x->m, &running) != CURLM_OK)
			return -EIO;
		CURLMsg *msg;
		int q;
		while ((msg = curl_multi_info_read(x->m, &q)))
			if (msg->msg == CURLMSG_DONE) {
				x->done = true;
				x->result = msg->data.result;
			}
		if (x->done || cond(arg))
			break;
		if (curl_multi_poll(x->m, NULL, 0, 1000, NULL) != CURLM_OK)
			return -EIO;
	}
	return 0;
}

static void xfer_close(struct xfer *x)
{
	if (x->m && x->e)
		curl_multi_remove_handle(x->m, x->e);
	if (x->e)
		curl_easy_cleanup(x->e);
	if (x->m)
		curl_multi_cleanup(x->m);
}

/* ---- streamed PUT ---- */

struct up_put {
	struct xfer x;
	struct curl_slist *h;
	const char *pending; /* bytes handed to up_put_write, not yet taken */
	size_t left;
	bool asked;  /* libcurl asked for the body: the master said 100 */
	bool paused; /* the read callback paused the transfer */
	struct up_resp resp;
	struct httpc_sink sink; /* into resp.body */
	curl_socket_t fd;	/* the connection's, for up_put_abort */
};

static size_t read_pending(char *out, size_t size, size_t n, void *arg)
{
	struct up_put *p = arg;
	p->asked = true;
	if (!p->left) {
		p->paused = true;
		return CURL_READFUNC_PAUSE;
	}
	size_t k = size * n < p->left ? size * n : p->left;
	memcpy(out, p->pending, k);
	p->pending += k;
	p->left -= k;
	return k;
}

static bool asked(const void *arg)
{
	const struct up_put *p = arg;
	return p->asked;
}

static bool taken(const void *arg)
{
	const struct up_put *p = arg;
	return p->left == 0;
}

static bool never(const void *arg)
{
	(void)arg;
	return false;
}

static void put_free(struct up_put *p)
{
	if (!p)
		return;
	xfer_close(&p->x);
	curl_slist_free_all(p->h);
	free(p);
}

static int note_socket(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct up_put *p = arg;
	if (purpose == CURLSOCKTYPE_IPCXN)
		p->fd = fd;
	return CURL_SOCKOPT_OK;
}

static int put_open(struct upstream *u, const char *url, uint64_t length,
		    struct up_put **out)
{
	struct up_put *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	resp_init(&p->resp);
	p->fd = CURL_SOCKET_BAD;
	p->sink = (struct httpc_sink){.b = &p->resp.body, .max = 4096};
	p->h = curl_slist_append(NULL, "Expect: 100-continue");
	if (xfer_open(&p->x) || !p->h) {
		put_free(p);
		return -ENOMEM;
	}
	CURL *e = p->x.e;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, u->timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->h);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)length);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_pending);
	curl_easy_setopt(e, CURLOPT_READDATA, (void *)p);
	curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, note_socket);
	curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, (void *)p);
	/* The master's answer to a refused PUT comes before any 100, and
	 * its 100 comes at once: there is no reason to ever wait it out. */
	curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_keep);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)&p->sink);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)&p->resp);
	if (xfer_start(&p->x)) {
		put_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

/* The answer of a transfer that ended, into out (which takes the body). */
static int put_result(struct up_put *p, struct up_resp *out)
{
	curl_easy_getinfo(p->x.e, CURLINFO_RESPONSE_CODE, &p->resp.code);
	*out = p->resp;
	memset(&p->resp.body, 0, sizeof(p->resp.body));
	if (p->x.result != CURLE_OK && !out->code) {
		up_resp_free(out);
		return httpc_errno((int)p->x.result);
	}
	take_reason(out);
	return 0;
}

int up_put_begin(struct upstream *u, const char *path, uint64_t length,
		 struct up_put **out, struct up_resp *early)
{
	char base[BASE_MAX], url[8192];
	get_leader(u, base);
	unsigned refused = 0, hops = 0, busy = 0;
	*out = NULL;
	for (;;) {
		if ((size_t)snprintf(url, sizeof(url), "%s%s", base, path) >=
		    sizeof(url))
			return -ENAMETOOLONG;
		struct up_put *p;
		int rc = put_open(u, url, length, &p);
		if (rc)
			return rc;
		rc = xfer_pump(&p->x, asked, p);
		if (!rc && !p->x.done) {
			*out = p;
			set_leader(u, base);
			return 0;
		}
		rc = rc ? rc : put_result(p, early);
		put_free(p);
		if (rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EIO) {
			if (++refused >= u->n)
				return rc;
			next_master(u, base);
			continue;
		}
		if (rc)
			return rc;
		if (early->code == 307 && hops++ < 4 &&
		    base_of(early->location, base) == 0) {
			up_resp_free(early);
			continue;
		}
		if ((early->code == 503 || early->code == 409) &&
		    busy++ < RETRIES_BUSY) {
			up_resp_free(early);
			nap_ms(100);
			continue;
		}
		return 1;
	}
}

static void unpause(struct up_put *p)
{
	if (p->paused) {
		p->paused = false;
		curl_easy_pause(p->x.e, CURLPAUSE_CONT);
	}
}

int up_put_write(struct up_put *p, const void *data, size_t n)
{
	assert(!p->left);
	if (!n)
		return 0;
	if (p->x.done)
		return -EIO;
	p->pending = data;
	p->left = n;
	unpause(p);
	int rc = xfer_pump(&p->x, taken, p);
	p->pending = NULL;
	if (rc || p->left) {
		p->left = 0;
		return -EIO;
	}
	return 0;
}

int up_put_end(struct up_put *p, struct up_resp *out)
{
	unpause(p);
	int rc = xfer_pump(&p->x, never, p);
	if (!rc)
		rc = put_result(p, out);
	put_free(p);
	return rc;
}

void up_put_abort(struct up_put *p)
{
	if (!p)
		return;
	/* Reset rather than close: libmicrohttpd 0.9.75 on epoll may miss a
	 * FIN that comes right behind body bytes and keep the PUT (and its
	 * key's write lock) until its client timeout; a reset it sees. */
	if (p->fd != CURL_SOCKET_BAD) {
		struct linger now = {1, 0};
		setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
	}
	put_free(p);
}

/* ---- streamed GET ---- */

struct up_get {
	struct xfer x;
	struct curl_slist *h;
	char *buf; /* what the volume sent, not yet read: [head, tail) */
	size_t head, tail;
	bool paused, headers;
	char content_range[128];
	int64_t length;
};

static size_t get_data(char *p, size_t size, size_t n, void *arg)
{
	struct up_get *g = arg;
	size_t len = size * n;
	g->headers = true;
	if (g->head == g->tail)
		g->head = g->tail = 0;
	if (UPSTREAM_GET_BUF - g->tail < len) {
		/* Room at the front: move what is left there first. */
		memmove(g->buf, g->buf + g->head, g->tail - g->head);
		g->tail -= g->head;
		g->head = 0;
	}
	if (UPSTREAM_GET_BUF - g->tail < len) {
		g->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	memcpy(g->buf + g->tail, p, len);
	g->tail += len;
	return len;
}

static size_t get_header(char *p, size_t size, size_t n, void *arg)
{
	struct up_get *g = arg;
	size_t len = size * n;
	char v[64];
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		g->content_range[0] = '\0';
		g->length = -1;
	}
	header_is(p, len, "Content-Range", g->content_range,
		  sizeof(g->content_range));
	if (header_is(p, len, "Content-Length", v, sizeof(v)))
		g->length = number(v);
	/* The blank line that ends a final answer's headers. */
	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		long code = 0;
		curl_easy_getinfo(g->x.e, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && (code < 300 || code >= 400))
			g->headers = true;
	}
	return len;
}

static bool has_headers(const void *arg)
{
	const struct up_get *g = arg;
	return g->headers;
}

static bool has_data(const void *arg)
{
	const struct up_get *g = arg;
	return g->head != g->tail;
}

int up_get_begin(const char *url, const char *range, long timeout_ms,
		 struct up_get **out, long *code, int64_t *length,
		 char *content_range, size_t cap)
{
	*out = NULL;
	struct up_get *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->length = -1;
	g->buf = malloc(UPSTREAM_GET_BUF);
	char line[160];
	if (range) {
		snprintf(line, sizeof(line), "Range: %s", range);
		g->h = curl_slist_append(NULL, line);
	}
	if (xfer_open(&g->x) || !g->buf || (range && !g->h)) {
		up_get_end(g);
		return -ENOMEM;
	}
	CURL *e = g->x.e;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 8L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, g->h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, get_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)g);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, get_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)g);
	if (xfer_start(&g->x)) {
		up_get_end(g);
		return -ENOMEM;
	}
	int rc = xfer_pump(&g->x, has_headers, g);
	*code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
	if (!rc && g->x.done && g->x.result != CURLE_OK && !g->headers)
		rc = httpc_errno((int)g->x.result);
	if (rc) {
		up_get_end(g);
		return rc;
	}
	*length = g->length;
	snprintf(content_range, cap, "%s", g->content_range);
	*out = g;
	return 0;
}

ssize_t up_get_read(struct up_get *g, char *buf, size_t max)
{
	if (g->head == g->tail) {
		if (g->paused) {
			g->paused = false;
			curl_easy_pause(g->x.e, CURLPAUSE_CONT);
		}
		if (xfer_pump(&g->x, has_data, g))
			return -EIO;
	}
	if (g->head == g->tail)
		return g->x.done && g->x.result == CURLE_OK ? 0 : -EIO;
	size_t n = g->tail - g->head < max ? g->tail - g->head : max;
	memcpy(buf, g->buf + g->head, n);
	g->head += n;
	return (ssize_t)n;
}

void up_get_end(struct up_get *g)
{
	if (!g)
		return;
	xfer_close(&g->x);
	curl_slist_free_all(g->h);
	free(g->buf);
	free(g);
}
