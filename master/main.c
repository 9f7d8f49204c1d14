/* cask-master: the index and the public API, minikeyvalue-compatible. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/flags.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/sign.h"
#include "common/placement.h"
#include "master/http/api.h"
#include "master/write/commit.h"
#include "master/state/index.h"
#include "master/repl/node.h"
#include "master/write/index_machine.h"
#include "master/write/purge.h"
#include "master/write/put.h"
#include "master/write/repair.h"
#include "master/repl/snapshot.h"
#include "master/write/volumes.h"

/* Whether host:port a (len bytes) is named in the n bytes of a
 * normalized list. */
static bool listed(const char *list, size_t n, const char *a, size_t len)
{
	for (size_t i = 0; i < n;) {
		const char *comma = memchr(list + i, ',', n - i);
		size_t end = comma ? (size_t)(comma - list) : n;
		const char *at = memchr(list + i, '@', end - i);
		size_t alen = at ? (size_t)(at - list) - i : end - i;
		if (alen == len && memcmp(list + i, a, len) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

/* Normalizes -volumes (host:port[@zone],...): trims spaces, an http://
 * prefix and a trailing '/', drops empty entries. Returns the count, or
 * -EINVAL for an unusable entry (said on stderr). */
static int normalize_volumes(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	int count = 0;
	const char *p = in;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *a = p;
		p += len + (comma ? 1 : 0);
		while (len && *a == ' ') {
			a++;
			len--;
		}
		while (len && a[len - 1] == ' ')
			len--;
		if (len > 7 && strncmp(a, "http://", 7) == 0) {
			a += 7;
			len -= 7;
		}
		if (!len)
			continue;
		size_t alen, zlen;
		const char *zone;
		const char *why = placement_spec(a, len, &alen, &zone, &zlen);
		while (!why && alen && a[alen - 1] == '/')
			alen--;
		if (!why && (!alen || alen >= IDX_ADDR_MAX ||
			     memchr(a, '/', alen) || memchr(a, ' ', alen)))
			why = "not host:port";
		if (!why && listed(out, n, a, alen))
			why = "listed twice";
		if (!why && n + alen + zlen + 3 > cap)
			why = "the list is too long";
		if (why) {
			fprintf(stderr, "-volumes: \"%.*s\": %s\n", (int)len, a,
				why);
			return -EINVAL;
		}
		if (n)
			out[n++] = ',';
		memcpy(out + n, a, alen);
		n += alen;
		if (zone) {
			out[n++] = '@';
			memcpy(out + n, zone, zlen);
			n += zlen;
		}
		count++;
	}
	out[n] = '\0';
	return count;
}

struct same_ctx {
	const char *list;
	int listed;
	int active;
	bool differ;
};

/* Whether the index's volume v is what the list says: active when
 * listed, with the listed zone. */
static int compare_one(void *arg, const struct idx_volume *v)
{
	struct same_ctx *s = arg;
	size_t len = strlen(v->addr);
	bool listed = false;
	for (const char *p = s->list; *p;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		size_t alen, zlen;
		const char *zone;
		/* normalize_volumes checked every entry. */
		if (!placement_spec(p, l, &alen, &zone, &zlen) && alen == len &&
		    memcmp(p, v->addr, len) == 0) {
			listed = true;
			if (zlen != strlen(v->zone) ||
			    (zlen && memcmp(zone, v->zone, zlen) != 0))
				s->differ = true;
		}
		p += l + (comma ? 1 : 0);
	}
	s->active += v->active;
	if (listed != v->active)
		s->differ = true;
	return 0;
}

/* Records -volumes in the index when it differs from what is there. */
static int sync_volumes(struct idx *ix, struct commit *cm, const char *list,
			int count)
{
	struct same_ctx s = {list, count, 0, false};
	int rc = idx_volumes(ix, compare_one, &s);
	if (rc)
		return rc;
	if (!s.differ && s.active == count)
		return 0;
	struct cmd c = {
		.type = CMD_VOLUMES, .addrs = list, .addrslen = strlen(list)};
	log_info("volume set is now %s", list);
	return commit_run(cm, &c);
}

/* The volume set to reload when the Raft log changes it (set once the
 * set is loaded; the node may apply before that). */
static _Atomic(struct vols *) reload_target;

static void reload_volumes(void *arg)
{
	(void)arg;
	struct vols *vs = atomic_load(&reload_target);
	if (vs)
		vol_reload(vs);
}

/* A replicated master records -volumes once it knows who leads: the
 * leader proposes the set, followers learn it from the log. */
static void sync_volumes_replicated(struct node *nd, struct idx *ix,
				    struct commit *cm, const char *list,
				    int count)
{
	for (int waited = 0; waited < 10000; waited += 50) {
		struct node_info in;
		node_info(nd, &in);
		if (in.leader && in.role != RAFT_LEADER)
			return;
		if (in.role == RAFT_LEADER &&
		    sync_volumes(ix, cm, list, count) == 0)
			return;
		struct timespec d = {0, 50 * 1000000};
		nanosleep(&d, NULL);
	}
	log_warn("raft: no leader after 10 s; the volume set is recorded "
		 "by whichever master leads first");
}

/* Stops what main started, in the reverse order; each stop accepts NULL
 * for a part that never started. */
static void stop_all(bool putting, struct repair *rp, struct purge *pg,
		     struct vols *vs, struct commit *cm, struct node *nd,
		     struct idx *ix)
{
	if (putting)
		put_system_stop();
	repair_stop(rp);
	purge_stop(pg);
	atomic_store(&reload_target, NULL);
	vol_stop(vs);
	commit_stop(cm);
	node_stop(nd);
	idx_close(ix);
}

int main(int argc, char **argv)
{
	long port, replicas, subvolumes, threads;
	uint64_t max_value, list_max;
	bool protect, md5sum, insecure, signed_reads;
	const char *secret_file;
	const char *db, *volumes, *fallback, *voltimeout, *interval, *bind,
		*level, *peers, *join, *self_url;
	long id, snapshot_entries, repair_rate, max_conns, per_ip;
	uint64_t min_rate;
	const char *client_timeout, *api_keys;
	const char *repair_after;
	const struct flag flags[] = {
		{"port", FLAG_INT, &port, "3000", "TCP port to listen on"},
		SIGN_DAEMON_FLAGS(&bind, &secret_file, &insecure),
		{"db", FLAG_STR, &db, NULL, "index directory (required)"},
		{"volumes", FLAG_STR, &volumes, NULL,
		 "volumes, comma separated host:port[@zone] (required)"},
		{"replicas", FLAG_INT, &replicas, "3",
		 "copies of each value (at most the number of volumes)"},
		{"protect", FLAG_BOOL, &protect, "false",
		 "refuse DELETE of a key that was not UNLINKed first"},
		{"fallback", FLAG_STR, &fallback, NULL,
		 "host:port to redirect GETs of absent keys to"},
		{"md5sum", FLAG_BOOL, &md5sum, "true",
		 "compute values' md5 while streaming and check the volumes'"},
		{"voltimeout", FLAG_STR, &voltimeout, "1s",
		 "timeout for volume health checks, purges and connects"},
		{"subvolumes", FLAG_INT, &subvolumes, "10",
		 "accepted for minikeyvalue compatibility; cask volumes have "
		 "no subvolumes"},
		{"check-interval", FLAG_STR, &interval, "1s",
		 "time between volume health checks and purge rounds"},
		{"max-value", FLAG_SIZE, &max_value, "1G",
		 "largest value accepted (413 above)"},
		{"list-max", FLAG_SIZE, &list_max, "1000000",
		 "most keys an unpaged ?list may return (413 above)"},
		{"threads", FLAG_INT, &threads, "2", "HTTP polling threads"},
		HTTPSERVER_LIMIT_FLAGS(&max_conns, "1024", &per_ip, "256",
				       &client_timeout, &min_rate),
		{"api-keys", FLAG_STR, &api_keys, NULL,
		 "file of \"KEY read|write\" lines: writes need "
		 "Authorization: Bearer KEY with a write key, and reads one "
		 "too when a read key is listed"},
		{"signed-reads", FLAG_BOOL, &signed_reads, "false",
		 "redirects to volumes carry a signature good for 60 s, "
		 "which volumes run with -signed-reads require "
		 "(needs -secret-file)"},
		{"log-level", FLAG_STR, &level, "info",
		 "debug, info, warn or error"},
		{"id", FLAG_INT, &id, "0", "this master's id in -peers"},
		{"peers", FLAG_STR, &peers, NULL,
		 "the masters, id=http://host:port,... (this one included); "
		 "omitted: a master alone"},
		{"join", FLAG_STR, &join, NULL,
		 "URL of a running master: ask the cluster to add this one"},
		{"url", FLAG_STR, &self_url, NULL,
		 "this master's URL as peers reach it, with -join "
		 "(default http://BIND:PORT)"},
		{"snapshot-entries", FLAG_INT, &snapshot_entries, "10000",
		 "compact the Raft log after this many applied entries"},
		{"repair-after", FLAG_STR, &repair_after, "15m",
		 "a volume down this long has its copies re-replicated"},
		{"repair-rate", FLAG_INT, &repair_rate, "50",
		 "most copies repaired per second"},
		{0},
	};
	int rc = flags_parse(flags, argc, argv,
			     "Keeps the key index in LMDB and redirects reads "
			     "to the volumes that hold each value.");
	if (rc)
		return rc > 0 ? 0 : 2;
	char vlist[CMD_MAX_ADDRS + 1];
	int nvol = normalize_volumes(volumes, vlist, sizeof(vlist));
	long timeout_ms = flags_parse_duration_ms(voltimeout, 3600e3);
	long interval_ms = flags_parse_duration_ms(interval, 3600e3);
	long repair_after_ms =
		flags_parse_duration_ms(repair_after, 30 * 86400e3);
	int lvl = log_parse_level(level);
	if (!*db || nvol < 1 || timeout_ms < 0 || interval_ms < 0 || lvl < 0 ||
	    port < 0 || port > 65535 || replicas < 1 ||
	    replicas > CMD_MAX_VOLS || threads < 1 || threads > 64 ||
	    list_max < 1 || strchr(fallback, '/') || id < 0 ||
	    ((*peers || *join) && id < 1) || snapshot_entries < 1 ||
	    repair_after_ms < 0 || repair_rate < 1) {
		fprintf(stderr,
			"%s: -db and -volumes (host:port,...) are required; "
			"-replicas is 1..%d; -voltimeout and -repair-after "
			"are durations like 1s; -repair-rate is >= 1; "
			"-fallback is host:port; -peers and -join need "
			"-id N (try -help)\n",
			argv[0], CMD_MAX_VOLS);
		return 2;
	}
	if (strlen(self_url) >= RAFT_ADDR_MAX) {
		fprintf(stderr, "%s: -url must be shorter than %d bytes\n",
			argv[0], RAFT_ADDR_MAX);
		return 2;
	}
	struct httpserver_limits limits;
	if (httpserver_limits_parse(max_conns, per_ip, client_timeout, min_rate,
				    &limits))
		return 2;
	log_set_level((enum log_level)lvl);
	if (sign_init(secret_file) || sign_bind(bind, insecure, &bind))
		return 1;
	if (signed_reads && !sign_enabled()) {
		log_error("-signed-reads needs -secret-file");
		return 2;
	}
	struct apikeys *keys = NULL;
	if (*api_keys && apikeys_load(api_keys, &keys))
		return 1;
	if (replicas > nvol) {
		log_warn("-replicas %ld > %d volumes: using %d", replicas, nvol,
			 nvol);
		replicas = nvol;
	}

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (httpc_global_init()) {
		log_error("libcurl failed to initialize");
		return 1;
	}

	struct idx *ix = NULL;
	struct commit *cm = NULL;
	struct vols *vs = NULL;
	struct purge *pg = NULL;
	struct repair *rp = NULL;
	struct api *api = NULL;
	struct node *nd = NULL;
	bool putting = false;
	bool replicated = *peers || *join;
	const char *what = "checking state/ after a restart of the machine";
	if (replicated)
		rc = snap_state_recover(db);
	if (!rc) {
		what = "opening the index";
		rc = idx_open(db, &ix);
	}
	char own[600];
	if (!rc && replicated && !*peers) {
		/* Joining: this master's own address is all it knows. */
		if (*self_url)
			snprintf(own, sizeof(own), "%ld=%s", id, self_url);
		else
			snprintf(own, sizeof(own), "%ld=http://%s:%ld", id,
				 strcmp(bind, "0.0.0.0") ? bind : "127.0.0.1",
				 port);
		peers = own;
	}
	if (!rc && replicated) {
		what = "starting Raft";
		struct machine m;
		index_machine(ix, &m);
		struct node_options no = {.id = (uint64_t)id,
					  .dir = db,
					  .peers = peers,
					  .join = *join ? join : NULL,
					  .tick_ms = 10,
					  .election_ticks = 50,
					  .snapshot_entries =
						  (uint64_t)snapshot_entries,
					  .timeout_ms = 3000,
					  .on_changed = reload_volumes};
		rc = node_start(&no, &m, &nd);
		if (!rc)
			rc = commit_start_node(nd, &cm);
	} else if (!rc) {
		what = "starting the commit thread";
		rc = commit_start(ix, &cm);
		if (!rc) {
			what = "recording the volume set";
			rc = sync_volumes(ix, cm, vlist, nvol);
		}
	}
	if (!rc) {
		what = "loading the volume set";
		rc = vol_start(ix, timeout_ms, interval_ms, &vs);
		atomic_store(&reload_target, vs);
	}
	if (!rc) {
		what = "starting the purge worker";
		rc = purge_start(ix, cm, vs, timeout_ms, interval_ms, &pg);
	}
	struct api_options ao = {.bind = bind,
				 .port = (int)port,
				 .replicas = (unsigned)replicas,
				 .protect = protect,
				 .fallback = fallback,
				 .md5sum = md5sum,
				 .voltimeout_ms = timeout_ms,
				 .max_value = max_value,
				 .list_max = (size_t)list_max,
				 .threads = (unsigned)threads,
				 .limits = limits,
				 .keys = keys,
				 .signed_reads = signed_reads};
	struct move_deps md = {ix, cm, vs, pg, (unsigned)replicas, timeout_ms};
	struct repair_options ro = {.interval_ms = interval_ms,
				    .after_ms = repair_after_ms,
				    .rate = repair_rate,
				    .timeout_ms = timeout_ms};
	if (!rc) {
		what = "starting the repair thread";
		rc = repair_start(&md, &ro, &rp);
	}
	struct api_deps deps = {
		.ix = ix, .cm = cm, .vs = vs, .pg = pg, .rp = rp, .node = nd};
	if (!rc) {
		what = "starting the PUT fan-out";
		rc = put_system_start();
		putting = !rc;
	}
	if (!rc) {
		what = "listening";
		rc = api_start(&ao, &deps, &api);
	}
	if (rc) {
		log_error("cask-master: %s failed (-db %s, port %ld): %s", what,
			  db, port, strerror(-rc));
		stop_all(putting, rp, pg, vs, cm, nd, ix);
		return 1;
	}
	if (nd && !*join)
		sync_volumes_replicated(nd, ix, cm, vlist, nvol);
	log_info("cask-master on %s:%ld, index %s, %d volumes, %ld replicas",
		 bind, port, db, nvol, replicas);

	int sig;
	sigwait(&sigs, &sig);
	log_info("signal %d: finishing requests in flight", sig);
	/* A rolling restart loses no write: a follower takes over first. */
	if (nd && node_step_down(nd, 2000))
		log_warn("raft: leadership transfer did not finish in 2 s");
	api_stop(api, 30000);
	stop_all(true, rp, pg, vs, cm, nd, ix);
	httpc_global_cleanup();
	sign_cleanup();
	apikeys_free(keys);
	log_info("stopped cleanly");
	return 0;
}
