/* cask-rebalance: moves every key whose record differs from its placement
 * over the active volumes, online, by asking the master to REBALANCE it
 * (master/write/move.h: copy, verify, commit, purge the old copies).
 *
 * The records are read a page at a time (GET /_/admin/records) and judged
 * here, so balanced keys cost no request; unbalanced ones go to the
 * master `-c` at a time with libcurl multi. A key busy with a client's
 * write (409) is retried after the others. The master's answer is
 * idempotent, so an interrupted run is finished by running it again, and
 * nothing is moved twice.
 * Exit status: 0 when every key is where placement says, 1 otherwise, 2
 * for bad flags. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/adminc.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/httpc.h"
#include "common/key.h"
#include "common/log.h"
#include "common/placement.h"
#include "common/progress.h"
#include "common/sign.h"

/* A busy key is tried this many times before it counts as an error. */
#define BUSY_TRIES 50

struct todo {
	char *key;
	size_t keylen;
	unsigned tries;
	struct httpc_signed sig; /* of the attempt in flight */
};

struct run {
	const char *master;
	const struct adminc_volumes *vs;
	const char **active; /* addresses of the active volumes */
	const char **zones;  /* and their zones */
	int *active_idx;
	size_t nactive;
	struct todo *q;
	size_t n, cap;
	uint64_t checked, moved, already, gone, errors;
};

/* Whether the record's volumes are the placement's, in order. */
static bool balanced(const struct run *r, const struct adminc_record *rec)
{
	size_t win[ADMINC_MAX_VOLS];
	size_t want =
		r->vs->replicas < r->nactive ? r->vs->replicas : r->nactive;
	int n = placement_pick(rec->key, rec->keylen, r->active, r->zones,
			       r->nactive, want, win);
	if (n < 0 || (unsigned)n != rec->nvols)
		return false;
	for (int i = 0; i < n; i++)
		if (r->active_idx[win[i]] != rec->vols[i])
			return false;
	return true;
}

static int on_record(void *arg, const struct adminc_record *rec)
{
	struct run *r = arg;
	r->checked++;
	if (balanced(r, rec))
		return 0;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 1024;
		struct todo *q = realloc(r->q, cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		r->q = q;
		r->cap = cap;
	}
	struct todo *t = &r->q[r->n];
	t->key = malloc(rec->keylen + 1);
	if (!t->key)
		return -ENOMEM;
	memcpy(t->key, rec->key, rec->keylen);
	t->key[rec->keylen] = '\0';
	t->keylen = rec->keylen;
	t->tries = 0;
	r->n++;
	return 0;
}

static CURL *request(const struct run *r, struct todo *t)
{
	char path[KEY_PCT_MAX], url[1024 + sizeof(path)];
	if (key_pct_encode(t->key, t->keylen, path, sizeof(path)) < 0)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", r->master, path);
	CURL *e = curl_easy_init();
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "REBALANCE");
	curl_easy_setopt(
		e, CURLOPT_HTTPHEADER,
		httpc_sign_before(&t->sig, NULL, "REBALANCE", url, 0, NULL));
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_discard);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t);
	return e;
}

/* Sends every queued key, -c at a time; busy ones go round again. */
static void move_all(struct run *r, unsigned conc)
{
	CURLM *m = curl_multi_init();
	struct progress pr;
	progress_init(&pr, "rebalance", r->n);
	/* Indexes into r->q: `now` to send, `later` busy (409) ones. */
	size_t *now = malloc((r->n ? r->n : 1) * sizeof(*now));
	size_t *later = malloc((r->n ? r->n : 1) * sizeof(*later));
	size_t nnow = r->n, head = 0, nlater = 0, inflight = 0, done = 0;
	for (size_t i = 0; now && i < r->n; i++)
		now[i] = i;
	while (m && now && later && (head < nnow || inflight || nlater)) {
		if (head == nnow && !inflight) {
			/* Only busy keys are left: give their writers time. */
			struct timespec d = {0, 100 * 1000000};
			nanosleep(&d, NULL);
			memcpy(now, later, nlater * sizeof(*now));
			nnow = nlater;
			head = nlater = 0;
		}
		while (inflight < conc && head < nnow) {
			struct todo *t = &r->q[now[head++]];
			CURL *e = request(r, t);
			if (!e) {
				r->errors++;
				continue;
			}
			curl_multi_add_handle(m, e);
			inflight++;
		}
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct todo *t;
			long code = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&t);
			curl_easy_getinfo(msg->easy_handle,
					  CURLINFO_RESPONSE_CODE, &code);
			CURLcode cc = msg->data.result;
			curl_multi_remove_handle(m, msg->easy_handle);
			curl_easy_cleanup(msg->easy_handle);
			inflight--;
			if (cc == CURLE_OK && code == 409 &&
			    ++t->tries < BUSY_TRIES) {
				later[nlater++] = (size_t)(t - r->q);
				continue;
			}
			done++;
			if (cc == CURLE_OK && code == 204)
				r->moved++;
			else if (cc == CURLE_OK && code == 200)
				r->already++;
			else if (cc == CURLE_OK && code == 404)
				r->gone++;
			else {
				r->errors++;
				fprintf(stderr, "%srebalance: %s: %s %ld\n",
					pr.tty ? "\r\033[K" : "", t->key,
					cc ? curl_easy_strerror(cc) : "status",
					code);
			}
			progress_update(&pr, done, r->errors);
		}
		if (inflight)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	progress_end(&pr);
	free(now);
	free(later);
	if (m)
		curl_multi_cleanup(m);
}

int main(int argc, char **argv)
{
	const char *master, *secret_file;
	long conc;
	const struct flag flags[] = {
		{"master", FLAG_STR, &master, "localhost:3000",
		 "the master (host:port)"},
		{"c", FLAG_INT, &conc, "8", "keys moved at once"},
		{"secret-file", FLAG_STR, &secret_file, NULL,
		 "the cluster secret, as the daemons were given it"},
		{0},
	};
	int rc = flags_parse(flags, argc, argv,
			     "Moves every key to the volumes placement says "
			     "it belongs on, online.");
	if (rc)
		return rc > 0 ? 0 : 2;
	if (!*master || conc < 1 || conc > 1024) {
		fprintf(stderr, "%s: -master host:port, -c 1..1024\n", argv[0]);
		return 2;
	}
	if (sign_init(secret_file))
		return 2;
	char base[1024];
	snprintf(base, sizeof(base), "%s%s",
		 strncmp(master, "http://", 7) ? "http://" : "", master);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct adminc_volumes vs;
	struct run r = {.master = base, .vs = &vs};
	uint64_t t0 = clock_mono_us();
	rc = adminc_volumes(base, &vs);
	if (!rc) {
		r.active = calloc(vs.n, sizeof(*r.active));
		r.zones = calloc(vs.n, sizeof(*r.zones));
		r.active_idx = calloc(vs.n, sizeof(*r.active_idx));
		rc = r.active && r.zones && r.active_idx ? 0 : -ENOMEM;
		for (size_t i = 0; !rc && i < vs.n; i++)
			if (vs.v[i].state == ADMINC_ACTIVE) {
				r.active_idx[r.nactive] = (int)i;
				r.zones[r.nactive] = vs.v[i].zone;
				r.active[r.nactive++] = vs.v[i].addr;
			}
	}
	if (!rc)
		rc = adminc_records(base, &vs, 1000, on_record, &r);
	if (!rc)
		move_all(&r, (unsigned)conc);
	double secs = (double)(clock_mono_us() - t0) / 1e6;
	if (rc)
		log_error("rebalance failed: %s", strerror(-rc));
	else
		printf("rebalance: %llu keys checked, %zu unbalanced: moved "
		       "%llu, already balanced %llu, gone %llu, errors %llu "
		       "in %.2fs (%.0f keys/s)\n",
		       (unsigned long long)r.checked, r.n,
		       (unsigned long long)r.moved,
		       (unsigned long long)r.already,
		       (unsigned long long)r.gone, (unsigned long long)r.errors,
		       secs, secs > 0 ? (double)r.checked / secs : 0);
	for (size_t i = 0; i < r.n; i++)
		free(r.q[i].key);
	free(r.q);
	free(r.active);
	free(r.zones);
	free(r.active_idx);
	if (!rc)
		adminc_volumes_free(&vs);
	curl_global_cleanup();
	return rc || r.errors ? 1 : 0;
}
