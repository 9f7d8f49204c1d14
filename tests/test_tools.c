/* Cluster tests of cask-thrasher, cask-rebuild and cask-rebalance: real
 * daemons and real tool processes on 127.0.0.1 ephemeral ports. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/jsonl.h"
#include "common/md5.h"
#include "common/placement.h"
#include "tests/fixture.h"
#include "tests/harness.h"

/* `nvol` volumes and a master keeping `replicas` copies of each key. */
static void start_cluster(struct fixture *c, int nvol, const char *replicas)
{
	const char *args[] = {"-replicas", replicas, NULL};
	const struct fixture_opts o = {.tag = "tools",
				       .volumes = nvol,
				       .masters = 1,
				       .check_interval = "200ms",
				       .master_args = args};
	ck_assert_int_eq(fixture_start(c, &o), 0);
}

static void stop_cluster(struct fixture *c)
{
	ck_assert_int_eq(fixture_stop(c), 0);
}

/* Starts $CASK_BIN/<tool> with args, stdout and stderr to `out`. */
static pid_t spawn(const char *tool, const char *const *args, const char *out)
{
	pid_t pid = harness_spawn_tool(tool, args, out);
	ck_assert_int_ge(pid, 0);
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(const char *tool, const char *const *args, const char *out)
{
	return wait_exit(spawn(tool, args, out));
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	struct buf b = {0};
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_append(&b, "", 1);
	ck_assert(!buf_failed(&b));
	return buf_steal(&b);
}

/* Runs a tool and checks its exit status; on a mismatch the assertion
 * shows what the tool printed. */
#define ck_assert_run(tool, args, out, status)                                 \
	do {                                                                   \
		int st_ = run(tool, args, out);                                \
		if (st_ != (status)) {                                         \
			char *text_ = slurp(out);                              \
			ck_abort_msg("%s exited %d, not %d:\n%s", tool, st_,   \
				     (int)(status), text_);                    \
		}                                                              \
	} while (0)

static char *tmpfile_in(const struct fixture *c, const char *name)
{
	static char path[8][512];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 512, "%s/%s", c->dir, name);
	return p;
}

/* --- what was written: key → md5, from a thrasher -history ---------- */

struct written {
	size_t n;
	char **key;
	char (*md5)[33];
};

struct hline {
	const char *key;
	size_t keylen;
	const char *value;
	bool put, ok;
};

static int hmember(void *arg, const struct jsonl_member *m)
{
	struct hline *h = arg;
	if (jsonl_is(m, "key")) {
		h->key = m->str;
		h->keylen = m->len;
	} else if (jsonl_is(m, "value")) {
		h->value = m->str;
	} else if (jsonl_is(m, "op")) {
		h->put = m->len == 3 && memcmp(m->str, "put", 3) == 0;
	} else if (jsonl_is(m, "ok")) {
		h->ok = m->boolean;
	}
	return 0;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_written(const char *history, struct written *w)
{
	char *text = slurp(history);
	memset(w, 0, sizeof(*w));
	size_t cap = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		struct hline h = {0};
		ck_assert_int_eq(jsonl_parse(line, strlen(line), hmember, &h),
				 0);
		if (!h.put || !h.ok)
			continue;
		if (w->n == cap) {
			cap = cap ? 2 * cap : 1024;
			w->key = realloc(w->key, cap * sizeof(*w->key));
			w->md5 = realloc(w->md5, cap * sizeof(*w->md5));
		}
		w->key[w->n] = strndup(h.key, h.keylen);
		memcpy(w->md5[w->n], h.value, 32);
		w->md5[w->n][32] = '\0';
		w->n++;
	}
	free(text);
	/* Sort keys and md5s together: sort an index. */
	char **pairs = malloc((w->n ? w->n : 1) * sizeof(*pairs));
	for (size_t i = 0; i < w->n; i++) {
		pairs[i] = malloc(strlen(w->key[i]) + 34);
		sprintf(pairs[i], "%s %s", w->key[i], w->md5[i]);
		free(w->key[i]);
	}
	qsort(pairs, w->n, sizeof(*pairs), by_str);
	for (size_t i = 0; i < w->n; i++) {
		char *sp = strrchr(pairs[i], ' ');
		memcpy(w->md5[i], sp + 1, 33);
		*sp = '\0';
		w->key[i] = pairs[i];
	}
	free(pairs);
}

static void free_written(struct written *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->key[i]);
	free(w->key);
	free(w->md5);
}

/* GETs key through the master: 302 with Content-Md5 md5, Key-Balance
 * balanced, `nvols` volumes, and the volume's bytes hash to md5. */
static void check_key(const struct fixture *c, const char *key, const char *md5,
		      int nvols)
{
	char url[1024], h[1024];
	snprintf(url, sizeof(url), "%s%s", c->murl[0], key);
	struct harness_resp r, v;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Content-Md5", h, sizeof(h)), 0);
	ck_assert_str_eq(h, md5);
	ck_assert_int_eq(harness_header(&r, "Key-Balance", h, sizeof(h)), 0);
	ck_assert_msg(strcmp(h, "balanced") == 0, "%s is %s", key, h);
	ck_assert_int_eq(harness_header(&r, "Key-Volumes", h, sizeof(h)), 0);
	int commas = 0;
	for (char *p = h; *p; p++)
		commas += *p == ',';
	ck_assert_int_eq(commas + 1, nvols);
	ck_assert_int_eq(harness_header(&r, "Location", h, sizeof(h)), 0);
	harness_resp_free(&r);
	ck_assert_int_eq(harness_request("GET", h, NULL, 0, &v), 200);
	uint8_t d[MD5_LEN];
	char hex[33];
	md5_buf(v.body, v.len, d);
	md5_hex(d, hex);
	ck_assert_str_eq(hex, md5);
	harness_resp_free(&v);
}

static void wait_purged(const struct fixture *c)
{
	ck_assert_msg(fixture_wait_status(c, 0, "\"purge_queue\":0,", 30000) ==
			      0,
		      "purge queue did not drain");
}

/* --- thrasher -------------------------------------------------------- */

START_TEST(thrasher_clean_run)
{
	struct fixture c;
	start_cluster(&c, 3, "3");
	char masters[160];
	/* The same master twice: exercises spreading over -masters. */
	snprintf(masters, sizeof(masters), "%s,127.0.0.1:%d", c.murl[0],
		 c.mport[0]);
	const char *hist = tmpfile_in(&c, "history");
	const char *args[] = {"-masters", masters,    "-n",    "300",
			      "-c",	  "8",	      "-size", "1-16K",
			      "-json",	  "-history", hist,    NULL};
	const char *out = tmpfile_in(&c, "thrasher.out");
	ck_assert_run("cask-thrasher", args, out, 0);
	char *text = slurp(out);
	ck_assert_ptr_nonnull(strstr(text, "\"sequences\":300,"));
	ck_assert_ptr_nonnull(strstr(text, "\"errors\":0,"));
	free(text);
	text = slurp(hist);
	size_t lines = 0;
	for (char *p = text; *p; p++)
		lines += *p == '\n';
	ck_assert_uint_eq(lines, 4 * 300);
	free(text);
	/* The text summary keeps minikeyvalue's two lines. */
	const char *plain[] = {"-masters", c.murl[0], "-n", "20", NULL};
	ck_assert_run("cask-thrasher", plain, out, 0);
	text = slurp(out);
	ck_assert_ptr_nonnull(strstr(text, "20 write/read/delete in "));
	ck_assert_ptr_nonnull(strstr(text, "\nthats "));
	free(text);
	const char *bad[] = {"-masters", c.murl[0], "-size", "0", NULL};
	ck_assert_run("cask-thrasher", bad, out, 2);
	stop_cluster(&c);
}
END_TEST

/* A volume that stores what it is given and serves it back with its
 * first byte flipped: the thrasher must notice. */
struct corrupt_vol {
	pthread_mutex_t mu;
	char key[1024];
	struct buf value;
};

struct upload {
	struct buf body;
};

static enum MHD_Result corrupt_handler(void *cls, struct MHD_Connection *c,
				       const char *url, const char *method,
				       const char *version, const char *data,
				       size_t *size, void **state)
{
	struct corrupt_vol *cv = cls;
	(void)version;
	if (!*state) {
		*state = calloc(1, sizeof(struct upload));
		return MHD_YES;
	}
	struct upload *up = *state;
	if (*size) {
		buf_append(&up->body, data, *size);
		*size = 0;
		return MHD_YES;
	}
	struct MHD_Response *resp;
	unsigned code = 200;
	uint8_t d[MD5_LEN];
	char hex[33];
	pthread_mutex_lock(&cv->mu);
	if (strcmp(url, "/_/health") == 0) {
		resp = MHD_create_response_from_buffer(2, "ok",
						       MHD_RESPMEM_PERSISTENT);
	} else if (strcmp(method, "PUT") == 0) {
		snprintf(cv->key, sizeof(cv->key), "%s", url);
		buf_free(&cv->value);
		buf_append(&cv->value, up->body.data ? up->body.data : "",
			   up->body.len);
		md5_buf(cv->value.data, cv->value.len, d);
		md5_hex(d, hex);
		resp = MHD_create_response_from_buffer(0, "",
						       MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(resp, "Content-Md5", hex);
		code = 201;
	} else if (strcmp(method, "GET") == 0 && cv->value.len) {
		char *copy = malloc(cv->value.len);
		memcpy(copy, cv->value.data, cv->value.len);
		copy[0] ^= 0x5a;
		resp = MHD_create_response_from_buffer(cv->value.len, copy,
						       MHD_RESPMEM_MUST_FREE);
	} else {
		resp = MHD_create_response_from_buffer(0, "",
						       MHD_RESPMEM_PERSISTENT);
		code = strcmp(method, "DELETE") == 0 ? 204 : 404;
	}
	pthread_mutex_unlock(&cv->mu);
	enum MHD_Result ret = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void corrupt_done(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *state;
	(void)cls;
	(void)c;
	(void)toe;
	if (up) {
		buf_free(&up->body);
		free(up);
	}
	*state = NULL;
}

START_TEST(thrasher_names_corrupted_key)
{
	struct corrupt_vol cv = {.mu = PTHREAD_MUTEX_INITIALIZER};
	int port = harness_free_port();
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
		(uint16_t)port, NULL, NULL, corrupt_handler, &cv,
		MHD_OPTION_NOTIFY_COMPLETED, corrupt_done, NULL,
		MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	struct fixture c;
	char vol[32];
	snprintf(vol, sizeof(vol), "127.0.0.1:%d", port);
	const char *one[] = {"-replicas", "1", NULL};
	const struct fixture_opts o = {.tag = "tools",
				       .masters = 1,
				       .volume_list = vol,
				       .check_interval = "200ms",
				       .master_args = one};
	ck_assert_int_eq(fixture_start(&c, &o), 0);
	const char *out = tmpfile_in(&c, "thrasher.out");
	const char *args[] = {"-masters", c.murl[0], "-n",	 "5", "-c",
			      "1",	  "-prefix", "/broken/", NULL};
	ck_assert_run("cask-thrasher", args, out, 1);
	char *text = slurp(out);
	ck_assert_msg(strstr(text, "get /broken/0: wrong byte at offset 0"),
		      "%s", text);
	free(text);
	stop_cluster(&c);
	MHD_stop_daemon(d);
	buf_free(&cv.value);
}
END_TEST

/* --- rebuild --------------------------------------------------------- */

static void list_all(const struct fixture *c, const struct written *w)
{
	size_t seen = 0;
	char next[1024] = "";
	do {
		char url[2048];
		snprintf(url, sizeof(url), "%s/rb/?list&limit=1000%s%s",
			 c->murl[0], next[0] ? "&start=" : "", next);
		struct harness_resp r;
		ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
		/* {"next":"K","keys":["k1",...]} with plain keys */
		char *p = strstr(r.body, "\"next\":\"") + 8;
		char *q = strchr(p, '"');
		memcpy(next, p, (size_t)(q - p));
		next[q - p] = '\0';
		for (p = strstr(r.body, "\"keys\":[") + 8; *p == '"';) {
			q = strchr(p + 1, '"');
			ck_assert_uint_lt(seen, w->n);
			ck_assert_int_eq((int)(q - p - 1),
					 (int)strlen(w->key[seen]));
			ck_assert(memcmp(p + 1, w->key[seen],
					 (size_t)(q - p - 1)) == 0);
			seen++;
			p = q + 1 + (q[1] == ',');
		}
		harness_resp_free(&r);
	} while (next[0]);
	ck_assert_uint_eq(seen, w->n);
}

/* The volumes (indexes into c) that record `key`, from Key-Volumes. */
static int key_volumes(const struct fixture *c, const char *key, int *out)
{
	char url[1024], h[1024];
	snprintf(url, sizeof(url), "%s%s", c->murl[0], key);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 302);
	ck_assert_int_eq(harness_header(&r, "Key-Volumes", h, sizeof(h)), 0);
	harness_resp_free(&r);
	int n = 0;
	for (char *t = strtok(h, ","); t; t = strtok(NULL, ","))
		for (int i = 0; i < c->nvol; i++)
			if (strcmp(t, c->vaddr[i]) == 0)
				out[n++] = i;
	return n;
}

static long vol_req(const struct fixture *c, int v, const char *method,
		    const char *key, const void *body, size_t len,
		    struct harness_resp *out)
{
	char url[1024];
	snprintf(url, sizeof(url), "http://%s%s", c->vaddr[v], key);
	return harness_request(method, url, body, len, out);
}

START_TEST(rebuild_from_volumes)
{
	struct fixture c;
	start_cluster(&c, 3, "2");
	const char *hist = tmpfile_in(&c, "history");
	const char *out = tmpfile_in(&c, "out");
	const char *load[] = {"-masters", c.murl[0], "-n",    "5000",
			      "-c",	  "16",	     "-size", "1-32K",
			      "-keep",	  "-prefix", "/rb/",  "-history",
			      hist,	  NULL};
	ck_assert_run("cask-thrasher", load, out, 0);
	struct written w;
	load_written(hist, &w);
	ck_assert_uint_eq(w.n, 5000);

	/* Destroy the index; a fresh master knows nothing. */
	harness_stop(&c.master[0]);
	char idx[600];
	snprintf(idx, sizeof(idx), "%s/m1", c.dir);
	harness_rmtree(idx);
	ck_assert_int_eq(harness_restart(&c.master[0]), 0);
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", c.murl[0], w.key[0]);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 404);

	const char *rebuild[] = {"-master", c.murl[0] + 7, NULL};
	ck_assert_run("cask-rebuild", rebuild, out, 0);
	char *text = slurp(out);
	ck_assert_msg(strstr(text, "missing 5000,"), "%s", text);
	free(text);
	list_all(&c, &w);
	for (size_t i = 0; i < w.n; i++)
		check_key(&c, w.key[i], w.md5[i], 2);

	/* Plant: an extra copy (orphan), a replica with other bytes
	 * (mismatch), a key only a volume has (missing), a key no volume
	 * has any more (lost). */
	int v0[3], v1[3], v2[3];
	ck_assert_int_eq(key_volumes(&c, w.key[0], v0), 2);
	int spare = 3 - v0[0] - v0[1];
	struct harness_resp r;
	ck_assert_int_eq(vol_req(&c, v0[0], "GET", w.key[0], NULL, 0, &r), 200);
	ck_assert_int_eq(
		vol_req(&c, spare, "PUT", w.key[0], r.body, r.len, NULL), 201);
	harness_resp_free(&r);
	ck_assert_int_eq(key_volumes(&c, w.key[1], v1), 2);
	ck_assert_int_eq(vol_req(&c, v1[1], "PUT", w.key[1], "other", 5, NULL),
			 201);
	ck_assert_int_eq(vol_req(&c, 0, "PUT", "/rb/planted", "p", 1, NULL),
			 201);
	ck_assert_int_eq(key_volumes(&c, w.key[2], v2), 2);
	ck_assert_int_eq(vol_req(&c, v2[0], "DELETE", w.key[2], NULL, 0, NULL),
			 204);
	ck_assert_int_eq(vol_req(&c, v2[1], "DELETE", w.key[2], NULL, 0, NULL),
			 204);

	const char *dry[] = {"-master", c.murl[0], "-dry-run", NULL};
	ck_assert_run("cask-rebuild", dry, out, 0);
	text = slurp(out);
	char want[1024];
	snprintf(want, sizeof(want), "orphan   %s: on %s", w.key[0],
		 c.vaddr[spare]);
	ck_assert_msg(strstr(text, want), "%s", text);
	snprintf(want, sizeof(want), "mismatch %s: ", w.key[1]);
	ck_assert_msg(strstr(text, want), "%s", text);
	ck_assert_msg(strstr(text, "missing  /rb/planted: on 1 volume"), "%s",
		      text);
	snprintf(want, sizeof(want), "lost     %s: no volume holds it",
		 w.key[2]);
	ck_assert_msg(strstr(text, want), "%s", text);
	free(text);
	/* A dry run changes nothing. */
	ck_assert_int_eq(key_volumes(&c, w.key[0], v0), 2);
	snprintf(url, sizeof(url), "%s/rb/planted", c.murl[0]);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 404);

	/* Bring it in line: the orphan joins the record, the mismatched
	 * replica leaves it, the planted key appears, the lost one stays
	 * until -prune. */
	ck_assert_run("cask-rebuild", rebuild, out, 0);
	ck_assert_int_eq(key_volumes(&c, w.key[0], v0), 3);
	ck_assert_int_eq(key_volumes(&c, w.key[1], v1), 1);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 302);
	snprintf(url, sizeof(url), "%s%s", c.murl[0], w.key[2]);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 302);
	const char *prune[] = {"-master", c.murl[0], "-prune", NULL};
	ck_assert_run("cask-rebuild", prune, out, 0);
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, NULL), 404);
	free_written(&w);
	stop_cluster(&c);
}
END_TEST

/* --- rebalance ------------------------------------------------------- */

static void volume_keys(const struct fixture *c, int v, const char *prefix,
			char ***keys, size_t *n)
{
	char url[256];
	snprintf(url, sizeof(url), "http://%s/_/keys?prefix=%s", c->vaddr[v],
		 prefix);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	*n = 0;
	*keys = NULL;
	size_t cap = 0;
	for (char *line = strtok(r.body, "\n"); line;
	     line = strtok(NULL, "\n")) {
		struct hline h = {0};
		ck_assert_int_eq(jsonl_parse(line, strlen(line), hmember, &h),
				 0);
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			*keys = realloc(*keys, cap * sizeof(**keys));
		}
		(*keys)[(*n)++] = strndup(h.key, h.keylen);
	}
	harness_resp_free(&r);
	if (*n)
		qsort(*keys, *n, sizeof(**keys), by_str);
}

/* Every volume holds exactly the keys placement gives it. */
static void check_placement(const struct fixture *c, const struct written *w,
			    const int *active, int nactive)
{
	const char *addrs[FIXTURE_MAX_VOLUMES];
	for (int i = 0; i < nactive; i++)
		addrs[i] = c->vaddr[active[i]];
	for (int v = 0; v < c->nvol; v++) {
		char **keys;
		size_t n, at = 0;
		volume_keys(c, v, "/rb/", &keys, &n);
		for (size_t k = 0; k < w->n; k++) {
			size_t win[3];
			int got = placement_pick(w->key[k], strlen(w->key[k]),
						 addrs, NULL, (size_t)nactive,
						 3, win);
			bool mine = false;
			for (int i = 0; i < got; i++)
				mine |= active[win[i]] == v;
			if (!mine)
				continue;
			ck_assert_msg(at < n &&
					      strcmp(keys[at], w->key[k]) == 0,
				      "volume %d lacks %s", v, w->key[k]);
			at++;
		}
		ck_assert_msg(at == n, "volume %d holds %zu extra keys", v,
			      n - at);
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
	}
}

static void volume_admin(const struct fixture *c, const char *verb, int v)
{
	char url[128], body[128];
	snprintf(url, sizeof(url), "%s/_/admin/volumes", c->murl[0]);
	snprintf(body, sizeof(body), "{\"%s\":\"%s\"}", verb, c->vaddr[v]);
	ck_assert_int_eq(harness_request("POST", url, body, strlen(body), NULL),
			 200);
}

START_TEST(rebalance_while_thrashing)
{
	struct fixture c;
	start_cluster(&c, 3, "3");
	const char *hist = tmpfile_in(&c, "history");
	const char *out = tmpfile_in(&c, "out");
	const char *tout = tmpfile_in(&c, "thrasher.out");
	const char *load[] = {"-masters", c.murl[0], "-n",    "1500",
			      "-c",	  "16",	     "-size", "1-16K",
			      "-keep",	  "-prefix", "/rb/",  "-history",
			      hist,	  NULL};
	ck_assert_run("cask-thrasher", load, out, 0);
	struct written w;
	load_written(hist, &w);
	ck_assert_uint_eq(w.n, 1500);

	ck_assert_int_eq(fixture_start_volume(&c, 3), 0);
	ck_assert_int_eq(fixture_start_volume(&c, 4), 0);
	volume_admin(&c, "add", 3);
	volume_admin(&c, "add", 4);
	const char *thrash[] = {"-masters", c.murl[0], "-n",   "600", "-c",
				"4",	    "-size",   "1-4K", NULL};
	pid_t t = spawn("cask-thrasher", thrash, tout);
	const char *rebal[] = {"-master", c.murl[0], "-c", "8", NULL};
	ck_assert_run("cask-rebalance", rebal, out, 0);
	int ts = wait_exit(t);
	char *text = slurp(tout);
	ck_assert_msg(ts == 0, "thrasher: %s", text);
	free(text);
	/* A second run finds nothing to move. */
	ck_assert_run("cask-rebalance", rebal, out, 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, " 0 unbalanced: moved 0,"), "%s", text);
	free(text);
	wait_purged(&c);
	for (size_t i = 0; i < w.n; i++)
		check_key(&c, w.key[i], w.md5[i], 3);
	const int all[] = {0, 1, 2, 3, 4};
	check_placement(&c, &w, all, 5);

	/* Drain a volume: it ends empty, every key keeps 3 replicas. */
	volume_admin(&c, "drain", 0);
	ck_assert_run("cask-rebalance", rebal, out, 0);
	wait_purged(&c);
	for (size_t i = 0; i < w.n; i++)
		check_key(&c, w.key[i], w.md5[i], 3);
	const int rest[] = {1, 2, 3, 4};
	check_placement(&c, &w, rest, 4);
	char **keys;
	size_t n;
	volume_keys(&c, 0, "/", &keys, &n);
	ck_assert_uint_eq(n, 0);
	free(keys);
	free_written(&w);
	stop_cluster(&c);
}
END_TEST

/* --- thrasher -mkv --------------------------------------------------- */

/* A number member of a thrasher -json summary ("name":N), or -1. */
static long long json_number(const char *text, const char *name)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\"%s\":", name);
	const char *p = strstr(text, needle);
	return p ? strtoll(p + strlen(needle), NULL, 10) : -1;
}

/* The op's count in a thrasher -json summary's latency_ms, or -1. */
static long long op_count(const char *text, const char *op)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\"%s\":{\"count\":", op);
	const char *p = strstr(text, needle);
	return p ? strtoll(p + strlen(needle), NULL, 10) : -1;
}

/* minikeyvalue's benchmark over 3 replicated masters: two of every three
 * PUTs reach a follower and are re-sent to the leader after its 307, the
 * inline (under 64 KiB) and the streamed upload alike. */
START_TEST(thrasher_mkv)
{
	struct fixture c;
	const char *margs[] = {"-replicas", "3", NULL};
	const struct fixture_opts o = {.tag = "tools",
				       .volumes = 3,
				       .masters = 3,
				       .replicated = true,
				       .check_interval = "200ms",
				       .master_args = margs};
	ck_assert_int_eq(fixture_start(&c, &o), 0);
	int leader = -1;
	for (int tries = 0; leader < 0 && tries < 50; tries++)
		for (int i = 0; leader < 0 && i < 3; i++)
			if (fixture_wait_status(&c, i, "\"role\":\"leader\"",
						100) == 0)
				leader = i;
	ck_assert_int_ge(leader, 0);
	char masters[160];
	snprintf(masters, sizeof(masters), "%s,%s,%s", c.murl[0], c.murl[1],
		 c.murl[2]);
	const char *hist = tmpfile_in(&c, "history");
	const char *out = tmpfile_in(&c, "thrasher.out");
	const char *args[] = {"-masters", masters, "-n",       "300",  "-c",
			      "8",	  "-size", "25",       "-mkv", "-json",
			      "-prefix",  "/mkv/", "-history", hist,   NULL};
	ck_assert_run("cask-thrasher", args, out, 0);
	char *text = slurp(out);
	ck_assert_int_eq(json_number(text, "sequences"), 300);
	ck_assert_int_eq(json_number(text, "errors"), 0);
	ck_assert_int_gt(json_number(text, "cpu_us"), 0);
	ck_assert_int_eq(op_count(text, "put"), 300);
	ck_assert_int_eq(op_count(text, "get"), 300);
	ck_assert_int_eq(op_count(text, "delete"), 300);
	ck_assert_int_eq(op_count(text, "get-deleted"), 0);
	free(text);
	text = slurp(hist);
	size_t lines = 0;
	for (char *p = text; *p; p++)
		lines += *p == '\n';
	ck_assert_uint_eq(lines, 3 * 300);
	free(text);
	/* Values on both sides of the inline limit. */
	const char *big[] = {"-masters", masters, "-n",	     "20",
			     "-c",	 "4",	  "-size",   "60K-70K",
			     "-mkv",	 "-json", "-prefix", "/mkv/big/",
			     NULL};
	ck_assert_run("cask-thrasher", big, out, 0);
	text = slurp(out);
	ck_assert_int_eq(json_number(text, "sequences"), 20);
	ck_assert_int_eq(json_number(text, "errors"), 0);
	free(text);

	/* Every key is gone: from the index at once, from the volumes once
	 * the leader's purge queue is empty. */
	char url[256];
	snprintf(url, sizeof(url), "%s/mkv/?list", c.murl[leader]);
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	ck_assert_msg(strstr(r.body, "\"keys\":[]") != NULL, "list: %s",
		      r.body);
	harness_resp_free(&r);
	ck_assert_msg(fixture_wait_status(&c, leader, "\"purge_queue\":0,",
					  30000) == 0,
		      "purge queue did not drain");
	for (int v = 0; v < 3; v++) {
		char **keys;
		size_t n;
		volume_keys(&c, v, "/mkv/", &keys, &n);
		ck_assert_msg(n == 0, "volume %d still holds %s", v, keys[0]);
		free(keys);
	}
	stop_cluster(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools");
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, thrasher_clean_run);
	tcase_add_test(tc, thrasher_names_corrupted_key);
	tcase_add_test(tc, rebuild_from_volumes);
	tcase_add_test(tc, rebalance_while_thrashing);
	tcase_add_test(tc, thrasher_mkv);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
