/* The master's status page: see ui.h. */
#include "master/http/ui.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fetch.h"
#include "common/html.h"
#include "common/metrics.h"

#define MAX_PEERS  RAFT_MAX_NODES
#define MAX_VOLS   64 /* shown; a bigger cluster shows its first 64 */
#define STATUS_MAX (64 * 1024)
#define IDLE_MS	   60000
#define FETCH_MS   500

/* What the last poll saw of one peer or volume: its /_/status, or "". */
struct seen {
	char key[NODE_URL_MAX]; /* the URL polled */
	char *status;
};

struct ui {
	struct ui_deps d;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	uint64_t viewed_ms; /* monotonic; 0: never */
	uint64_t polled_ms;
	size_t nseen;
	struct seen seen[MAX_PEERS + MAX_VOLS];
	struct metrics_sample before, now;
	uint64_t before_ms, now_ms;
};

/* A numeric or string field "name": in a JSON object, from `from` on:
 * copied as text (a string without its quotes). "" when absent. */
static void field(const char *from, const char *name, char *out, size_t cap)
{
	char pat[48];
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	const char *p = from ? strstr(from, pat) : NULL;
	out[0] = '\0';
	if (!p)
		return;
	p += strlen(pat);
	bool quoted = *p == '"';
	p += quoted;
	size_t n = quoted ? strcspn(p, "\"") : strcspn(p, ",}]");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* Copies the status polled from url, or NULL (the caller frees). */
static char *seen_status(struct ui *u, const char *url)
{
	char *s = NULL;
	pthread_mutex_lock(&u->mu);
	for (size_t i = 0; !s && i < u->nseen; i++)
		if (strcmp(u->seen[i].key, url) == 0 && u->seen[i].status)
			s = strdup(u->seen[i].status);
	pthread_mutex_unlock(&u->mu);
	return s;
}

struct targets {
	size_t n;
	char url[MAX_PEERS + MAX_VOLS][NODE_URL_MAX + 16];
};

static void add_volume(void *arg, const struct vol *v)
{
	struct targets *t = arg;
	if (t->n < MAX_PEERS + MAX_VOLS)
		snprintf(t->url[t->n++], sizeof(t->url[0]), "http://%s",
			 v->addr);
}

/* One poll: every other master's and every volume's /_/status. */
static void poll_once(struct ui *u)
{
	struct targets *t = calloc(1, sizeof(*t));
	if (!t)
		return;
	if (u->d.node) {
		struct node_info self;
		node_info(u->d.node, &self);
		struct node_peer p[MAX_PEERS];
		size_t n = node_peers(u->d.node, p, MAX_PEERS);
		for (size_t i = 0; i < n; i++)
			if (p[i].id != self.id && p[i].url[0])
				snprintf(t->url[t->n++], sizeof(t->url[0]),
					 "%s", p[i].url);
	}
	vol_each(u->d.vs, add_volume, t);
	struct seen fresh[MAX_PEERS + MAX_VOLS] = {0};
	for (size_t i = 0; i < t->n; i++) {
		char url[sizeof(t->url[0]) + 16];
		snprintf(url, sizeof(url), "%s/_/status", t->url[i]);
		struct fetch_resp r = {0};
		int rc = fetch("GET", url, NULL, 0, FETCH_MS, STATUS_MAX, &r);
		snprintf(fresh[i].key, sizeof(fresh[i].key), "%s", t->url[i]);
		if (!rc && r.code == 200 && r.body.data)
			fresh[i].status = buf_steal(&r.body);
		buf_free(&r.body);
	}
	struct metrics_sample now;
	metrics_http_sample(&now);
	pthread_mutex_lock(&u->mu);
	for (size_t i = 0; i < u->nseen; i++)
		free(u->seen[i].status);
	memcpy(u->seen, fresh, sizeof(fresh));
	u->nseen = t->n;
	u->polled_ms = clock_mono_ms();
	u->before = u->now;
	u->before_ms = u->now_ms;
	u->now = now;
	u->now_ms = u->polled_ms;
	pthread_mutex_unlock(&u->mu);
	free(t);
}

static void *run(void *arg)
{
	struct ui *u = arg;
	pthread_setname_np(pthread_self(), "ui-poll");
	pthread_mutex_lock(&u->mu);
	while (!u->stopping) {
		uint64_t now = clock_mono_ms();
		bool wanted = u->viewed_ms && now - u->viewed_ms < IDLE_MS;
		if (wanted && now - u->polled_ms >= UI_POLL_MS) {
			pthread_mutex_unlock(&u->mu);
			poll_once(u);
			pthread_mutex_lock(&u->mu);
			continue;
		}
		struct timespec until = clock_deadline_ms(UI_POLL_MS);
		pthread_cond_timedwait(&u->cv, &u->mu, &until);
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

int ui_start(const struct ui_deps *d, struct ui **out)
{
	struct ui *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->d = *d;
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cv, NULL);
	metrics_http_sample(&u->now);
	u->now_ms = clock_mono_ms();
	if (pthread_create(&u->thread, NULL, run, u)) {
		pthread_cond_destroy(&u->cv);
		pthread_mutex_destroy(&u->mu);
		free(u);
		return -EAGAIN;
	}
	*out = u;
	return 0;
}

void ui_stop(struct ui *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->stopping = true;
	pthread_cond_signal(&u->cv);
	pthread_mutex_unlock(&u->mu);
	pthread_join(u->thread, NULL);
	for (size_t i = 0; i < u->nseen; i++)
		free(u->seen[i].status);
	pthread_cond_destroy(&u->cv);
	pthread_mutex_destroy(&u->mu);
	free(u);
}

static void masters(struct ui *u, struct buf *b)
{
	buf_printf(b, "<h2>Masters</h2><table id=\"masters\"><tr><th>id</th>"
		      "<th>URL</th><th>role</th><th>term</th><th>commit</th>"
		      "<th>applied</th><th>lag</th><th>voter</th></tr>");
	if (!u->d.node) {
		struct idx_stats st = {0};
		idx_stats(u->d.ix, &st);
		buf_printf(b,
			   "<tr class=\"leader\"><td>-</td><td>this master, "
			   "alone</td><td>leader</td><td>-</td><td>-</td><td>"
			   "%" PRIu64 "</td><td>0</td><td>yes</td></tr>"
			   "</table>\n",
			   st.applied);
		return;
	}
	struct node_info self;
	node_info(u->d.node, &self);
	struct node_peer p[MAX_PEERS];
	size_t n = node_peers(u->d.node, p, MAX_PEERS);
	for (size_t i = 0; i < n; i++) {
		char role[24] = "", term[24] = "", commit[24] = "",
		     applied[24] = "";
		bool me = p[i].id == self.id;
		if (me) {
			snprintf(role, sizeof(role), "%s",
				 node_role_name(self.role));
			snprintf(term, sizeof(term), "%" PRIu64, self.term);
			snprintf(commit, sizeof(commit), "%" PRIu64,
				 self.commit);
			snprintf(applied, sizeof(applied), "%" PRIu64,
				 self.applied);
		} else {
			char *st = seen_status(u, p[i].url);
			const char *raft = st ? strstr(st, "\"raft\":") : NULL;
			field(raft, "role", role, sizeof(role));
			field(raft, "term", term, sizeof(term));
			field(raft, "commit", commit, sizeof(commit));
			field(raft, "applied", applied, sizeof(applied));
			free(st);
		}
		bool leads = p[i].id == self.leader;
		long long lag =
			applied[0] ? (long long)self.commit - atoll(applied)
				   : -1;
		buf_printf(b, "<tr%s><td>%" PRIu64 "%s</td><td>",
			   leads ? " class=\"leader\"" : "", p[i].id,
			   me ? " (this one)" : "");
		html_text(b, p[i].url);
		buf_printf(b, "</td><td>");
		if (role[0])
			html_text(b, role);
		else
			buf_printf(b, "<span class=\"bad\">no answer</span>");
		buf_printf(b, "</td><td>");
		html_text(b, term);
		buf_printf(b, "</td><td>");
		html_text(b, commit);
		buf_printf(b, "</td><td>");
		html_text(b, applied);
		buf_printf(b, "</td><td>");
		if (lag >= 0)
			buf_printf(b, "%lld", lag < 0 ? 0 : lag);
		buf_printf(b, "</td><td>%s</td></tr>",
			   p[i].voter ? "yes" : "learner");
	}
	buf_printf(b, "</table>\n<p>Leader: %s%" PRIu64 "</p>\n",
		   self.leader ? "master " : "none known", self.leader);
}

struct vol_rows {
	struct ui *u;
	struct buf *b;
	size_t n;
};

static void volume_row(void *arg, const struct vol *v)
{
	struct vol_rows *vr = arg;
	struct buf *b = vr->b;
	if (vr->n++ >= MAX_VOLS)
		return;
	char url[NODE_URL_MAX + 16];
	snprintf(url, sizeof(url), "http://%s", v->addr);
	char *st = seen_status(vr->u, url);
	char id[64], keys[24], live[24], dead[24], free_b[24], passes[24],
		bad[24];
	field(st, "id", id, sizeof(id));
	field(st, "keys", keys, sizeof(keys));
	field(st, "live_bytes", live, sizeof(live));
	field(st, "dead_bytes", dead, sizeof(dead));
	field(st, "disk_free", free_b, sizeof(free_b));
	const char *scrub = st ? strstr(st, "\"scrub\":") : NULL;
	field(scrub, "passes", passes, sizeof(passes));
	field(scrub, "bad", bad, sizeof(bad));
	bool healthy = atomic_load(&v->healthy);
	bool ident = atomic_load(&v->ident_ok);
	const char *zone = atomic_load(&v->zone);
	buf_printf(b, "<tr><td>%" PRIu32 "</td><td>", v->id);
	html_text(b, v->addr);
	buf_printf(b, "</td><td>");
	html_text(b, zone && *zone ? zone : "-");
	buf_printf(b, "</td><td class=\"%s\">%s</td><td class=\"%s\">",
		   healthy ? "ok" : "bad", healthy ? "healthy" : "down",
		   ident ? "ok" : "bad");
	html_text(b, ident ? (id[0] ? id : "confirmed") : "unconfirmed");
	buf_printf(b, "</td><td>%s</td><td>",
		   atomic_load(&v->active) ? "active" : "draining/retired");
	html_text(b, keys[0] ? keys : "?");
	buf_printf(b, "</td><td>");
	if (live[0])
		html_bytes(b, strtoull(live, NULL, 10));
	buf_printf(b, "</td><td>");
	if (dead[0])
		html_bytes(b, strtoull(dead, NULL, 10));
	buf_printf(b, "</td><td>");
	if (free_b[0])
		html_bytes(b, strtoull(free_b, NULL, 10));
	buf_printf(b, "</td><td>");
	if (passes[0])
		html_printf(b, "%s passes, %s bad", passes, bad);
	buf_printf(b, "</td></tr>");
	free(st);
}

static void volumes(struct ui *u, struct buf *b)
{
	buf_printf(b, "<h2>Volumes</h2><table id=\"volumes\"><tr><th>id</th>"
		      "<th>address</th><th>zone</th><th>health</th>"
		      "<th>identity</th><th>state</th><th>keys</th>"
		      "<th>live</th><th>dead</th><th>disk free</th>"
		      "<th>scrub</th></tr>");
	struct vol_rows vr = {u, b, 0};
	vol_each(u->d.vs, volume_row, &vr);
	buf_printf(b, "</table>\n");
	if (vr.n > MAX_VOLS)
		buf_printf(b, "<p>and %zu more</p>\n", vr.n - MAX_VOLS);
}

void ui_render(struct ui *u, struct buf *b)
{
	pthread_mutex_lock(&u->mu);
	bool woke = !u->viewed_ms || clock_mono_ms() - u->viewed_ms >= IDLE_MS;
	u->viewed_ms = clock_mono_ms();
	if (woke)
		pthread_cond_signal(&u->cv);
	uint64_t age = u->polled_ms ? clock_mono_ms() - u->polled_ms : 0;
	struct metrics_sample before = u->before, now = u->now;
	double secs = (double)(u->now_ms - u->before_ms) / 1000.0;
	pthread_mutex_unlock(&u->mu);

	html_begin(b, "cask master", UI_REFRESH_S);
	if (!age && woke)
		buf_printf(b,
			   "<p>Asking the other masters and the volumes; "
			   "this page reloads in %d s.</p>\n",
			   UI_REFRESH_S);
	else
		buf_printf(b, "<p>Peers and volumes as seen %.1f s ago.</p>\n",
			   (double)age / 1000.0);
	masters(u, b);
	volumes(u, b);

	struct idx_stats st = {0};
	idx_stats(u->d.ix, &st);
	struct repair_counts rc;
	repair_counts(u->d.rp, &rc);
	buf_printf(b,
		   "<h2>Keys, repair, purge, rebalance</h2><table>"
		   "<tr><th>keys</th><td>%" PRIu64 "</td></tr>"
		   "<tr><th>replicas</th><td>%u</td></tr>"
		   "<tr><th>under-replicated (last pass)</th><td>%" PRIu64
		   "</td></tr><tr><th>repairs queued</th><td>%" PRIu64
		   "</td></tr><tr><th>copies repaired</th><td>%" PRIu64
		   "</td></tr><tr><th>repairs failed</th><td>%" PRIu64
		   "</td></tr><tr><th>copies lost</th><td%s>%" PRIu64
		   "</td></tr><tr><th>purges waiting</th><td>%" PRIu64
		   "</td></tr><tr><th>rebalance moves answered</th><td>%" PRIu64
		   "</td></tr></table>\n",
		   st.keys, u->d.replicas, rc.under_replicated, rc.queued,
		   rc.repaired, rc.failed, st.lost ? " class=\"bad\"" : "",
		   st.lost, st.purge, now.count[METRICS_REBALANCE]);
	buf_printf(b, "<h2>Requests (last %.0f s)</h2>\n", secs);
	html_requests(b, &before, &now, secs);
	buf_printf(b, "<h2>Last events</h2>\n");
	html_events(b);
	buf_printf(b,
		   "<p>JSON: <a href=\"/_/status\">/_/status</a>, "
		   "Prometheus: <a href=\"/_/metrics\">/_/metrics</a></p>\n");
	html_end(b);
}
