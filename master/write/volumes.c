#include "master/write/volumes.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/httpc.h"
#include "common/log.h"

struct snapshot {
	struct snapshot *older; /* kept until vol_stop: readers hold none */
	struct vol_active set;
};

/* A zone label a volume had; kept until vol_stop, since a reader may
 * still hold it after a relabel. */
struct zone_name {
	struct zone_name *next;
	char name[];
};

struct vols {
	struct idx *ix;
	struct zone_name *zones; /* under mu */
	long timeout_ms, interval_ms;
	_Atomic(struct vol *) by_id[VOL_MAX_ID + 1];
	_Atomic(struct snapshot *) current;
	pthread_mutex_t mu; /* reload and stop */
	pthread_cond_t cv;
	bool stopping;
	pthread_t thread;
	bool started;
};

struct loader {
	struct vols *vs;
	const struct vol *active[VOL_MAX_ID];
	size_t nactive;
	int rc;
};

/* The kept copy of a zone label (under mu), or NULL without memory. */
static const char *zone_intern(struct vols *vs, const char *zone)
{
	for (struct zone_name *z = vs->zones; z; z = z->next)
		if (strcmp(z->name, zone) == 0)
			return z->name;
	size_t len = strlen(zone);
	struct zone_name *z = malloc(sizeof(*z) + len + 1);
	if (!z)
		return NULL;
	memcpy(z->name, zone, len + 1);
	z->next = vs->zones;
	vs->zones = z;
	return z->name;
}

static int load_one(void *arg, const struct idx_volume *iv)
{
	struct loader *l = arg;
	if (iv->id == 0 || iv->id > VOL_MAX_ID) {
		l->rc = -ERANGE;
		return 1;
	}
	const char *zone = zone_intern(l->vs, iv->zone);
	if (!zone) {
		l->rc = -ENOMEM;
		return 1;
	}
	struct vol *v = l->vs->by_id[iv->id];
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v) {
			l->rc = -ENOMEM;
			return 1;
		}
		v->id = iv->id;
		atomic_store(&v->zone, zone); /* before readers can see v */
		snprintf(v->addr, sizeof(v->addr), "%s", iv->addr);
		/* Optimistic until the first check says otherwise. */
		atomic_store(&v->healthy, true);
		atomic_store(&v->ident_ok, true);
		l->vs->by_id[iv->id] = v;
	}
	atomic_store(&v->zone, zone);
	atomic_store(&v->active, iv->active);
	if (iv->active)
		l->active[l->nactive++] = v;
	return 0;
}

int vol_reload(struct vols *vs)
{
	struct loader *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->vs = vs;
	pthread_mutex_lock(&vs->mu);
	int rc = idx_volumes(vs->ix, load_one, l);
	if (!rc)
		rc = l->rc;
	struct snapshot *s = NULL;
	if (!rc) {
		s = malloc(sizeof(*s) + l->nactive * sizeof(s->set.v[0]));
		if (!s)
			rc = -ENOMEM;
	}
	if (!rc) {
		s->set.n = l->nactive;
		memcpy(s->set.v, l->active, l->nactive * sizeof(s->set.v[0]));
		s->older = atomic_load(&vs->current);
		atomic_store(&vs->current, s);
	}
	pthread_mutex_unlock(&vs->mu);
	free(l);
	return rc;
}

const struct vol *vol_by_id(struct vols *vs, uint32_t id)
{
	return id <= VOL_MAX_ID ? vs->by_id[id] : NULL;
}

const struct vol_active *vol_active(struct vols *vs)
{
	return &atomic_load(&vs->current)->set;
}

const char *vol_active_addr(const void *act, size_t i, const char **zone)
{
	const struct vol_active *a = act;
	assert(i < a->n);
	*zone = atomic_load(&a->v[i]->zone);
	return a->v[i]->addr;
}

void vol_set_ident_ok(struct vols *vs, uint32_t id, bool ok)
{
	struct vol *v = id <= VOL_MAX_ID ? vs->by_id[id] : NULL;
	if (v)
		atomic_store(&v->ident_ok, ok);
}

void vol_each(struct vols *vs, void (*fn)(void *arg, const struct vol *v),
	      void *arg)
{
	for (uint32_t id = 1; id <= VOL_MAX_ID; id++)
		if (vs->by_id[id])
			fn(arg, vs->by_id[id]);
}

static void check_all(struct vols *vs)
{
	struct vol *v[VOL_MAX_ID];
	char(*urls)[IDX_ADDR_MAX + 32] = malloc(VOL_MAX_ID * sizeof(*urls));
	const char **u = malloc(VOL_MAX_ID * sizeof(*u));
	long *codes = malloc(VOL_MAX_ID * sizeof(*codes));
	size_t n = 0;
	if (!urls || !u || !codes)
		goto out;
	for (uint32_t id = 1; id <= VOL_MAX_ID; id++) {
		if (!vs->by_id[id])
			continue;
		v[n] = vs->by_id[id];
		snprintf(urls[n], sizeof(urls[n]), "http://%s/_/health",
			 v[n]->addr);
		u[n] = urls[n];
		n++;
	}
	if (httpc_request_all(NULL, "GET", u, n, vs->timeout_ms, codes))
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool up = codes[i] == 200;
		bool was = atomic_exchange(&v[i]->healthy, up);
		if (!up) {
			atomic_store(&v[i]->ident_ok, false);
			atomic_fetch_add(&v[i]->failed_checks, 1);
		}
		if (up != was)
			log_warn("volume %s is %s", v[i]->addr,
				 up ? "up again" : "down");
	}
out:
	free(urls);
	free(u);
	free(codes);
}

static void *checker(void *arg)
{
	pthread_setname_np(pthread_self(), "vol-health");
	struct vols *vs = arg;
	pthread_mutex_lock(&vs->mu);
	while (!vs->stopping) {
		struct timespec until =
			clock_deadline_ms((uint64_t)vs->interval_ms);
		pthread_cond_timedwait(&vs->cv, &vs->mu, &until);
		if (vs->stopping)
			break;
		pthread_mutex_unlock(&vs->mu);
		check_all(vs);
		pthread_mutex_lock(&vs->mu);
	}
	pthread_mutex_unlock(&vs->mu);
	return NULL;
}

int vol_start(struct idx *ix, long timeout_ms, long interval_ms,
	      struct vols **out)
{
	struct vols *vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->ix = ix;
	vs->timeout_ms = timeout_ms;
	vs->interval_ms = interval_ms;
	pthread_mutex_init(&vs->mu, NULL);
	pthread_cond_init(&vs->cv, NULL);
	int rc = vol_reload(vs);
	if (!rc) {
		check_all(vs);
		rc = -pthread_create(&vs->thread, NULL, checker, vs);
		vs->started = rc == 0;
	}
	if (rc) {
		vol_stop(vs);
		return rc;
	}
	*out = vs;
	return 0;
}

void vol_stop(struct vols *vs)
{
	if (!vs)
		return;
	if (vs->started) {
		pthread_mutex_lock(&vs->mu);
		vs->stopping = true;
		pthread_cond_signal(&vs->cv);
		pthread_mutex_unlock(&vs->mu);
		pthread_join(vs->thread, NULL);
	}
	struct snapshot *s = atomic_load(&vs->current);
	while (s) {
		struct snapshot *older = s->older;
		free(s);
		s = older;
	}
	for (uint32_t id = 1; id <= VOL_MAX_ID; id++)
		free(vs->by_id[id]);
	while (vs->zones) {
		struct zone_name *next = vs->zones->next;
		free(vs->zones);
		vs->zones = next;
	}
	pthread_mutex_destroy(&vs->mu);
	pthread_cond_destroy(&vs->cv);
	free(vs);
}
