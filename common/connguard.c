/* Slow clients: see connguard.h. */
#include "common/connguard.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/log.h"

enum state {
	WAITING,   /* for a request's headers */
	RECEIVING, /* its body */
	HANDLED,   /* by the daemon, suspended, or being answered */
};

struct entry {
	struct entry *prev, *next;
	int fd;
	enum state state;
	bool cut;	/* shut down already */
	uint64_t since; /* µs: WAITING since, or RECEIVING's window start */
	uint64_t bytes; /* RECEIVING: body bytes in this window */
};

struct connguard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool stopping;
	struct entry *head;
	uint64_t timeout_us, min_bytes; /* min_bytes per window */
	atomic_uint_fast64_t closed;
};

/* Shuts down what overstayed. Caller holds mu. */
static void sweep(struct connguard *g, uint64_t now)
{
	for (struct entry *e = g->head; e; e = e->next) {
		if (e->cut || e->state == HANDLED ||
		    now - e->since < g->timeout_us)
			continue;
		if (e->state == RECEIVING && e->bytes >= g->min_bytes) {
			e->since = now; /* a new window */
			e->bytes = 0;
			continue;
		}
		log_debug("httpd: closing a connection %s",
			  e->state == WAITING ? "that sent no request in time"
					      : "sending its body too slowly");
		shutdown(e->fd, SHUT_RDWR);
		e->cut = true;
		atomic_fetch_add(&g->closed, 1);
	}
}

static void *run(void *arg)
{
	struct connguard *g = arg;
	pthread_setname_np(pthread_self(), "httpd-guard");
	/* A quarter of the timeout between sweeps: a slow client is cut at
	 * most 25% late. */
	uint64_t tick_ms = g->timeout_us / 4000;
	if (tick_ms < 10)
		tick_ms = 10;
	pthread_mutex_lock(&g->mu);
	while (!g->stopping) {
		struct timespec until = clock_deadline_ms(tick_ms);
		pthread_cond_timedwait(&g->cv, &g->mu, &until);
		sweep(g, clock_mono_us());
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

struct connguard *connguard_new(unsigned timeout_ms, uint64_t min_rate)
{
	assert(timeout_ms > 0);
	struct connguard *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->timeout_us = (uint64_t)timeout_ms * 1000u;
	g->min_bytes = min_rate * timeout_ms / 1000u;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	if (pthread_create(&g->thread, NULL, run, g)) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return NULL;
	}
	return g;
}

void connguard_free(struct connguard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stopping = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	assert(!g->head);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void *connguard_open(struct connguard *g, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct entry *e = ci ? calloc(1, sizeof(*e)) : NULL;
	if (!e)
		return NULL;
	e->fd = ci->connect_fd;
	e->state = WAITING;
	e->since = clock_mono_us();
	pthread_mutex_lock(&g->mu);
	e->next = g->head;
	if (g->head)
		g->head->prev = e;
	g->head = e;
	pthread_mutex_unlock(&g->mu);
	return e;
}

void connguard_close(struct connguard *g, void *entry)
{
	struct entry *e = entry;
	if (!e)
		return;
	pthread_mutex_lock(&g->mu);
	if (e->prev)
		e->prev->next = e->next;
	else
		g->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	pthread_mutex_unlock(&g->mu);
	free(e);
}

void connguard_called(struct connguard *g, void *entry, bool first,
		      size_t upload, bool suspended)
{
	struct entry *e = entry;
	if (!e)
		return;
	pthread_mutex_lock(&g->mu);
	if (suspended) {
		e->state = HANDLED;
	} else if (upload || first) {
		/* A request's first call may precede its body: its window
		 * starts now; a resumed upload starts a fresh one. */
		if (e->state != RECEIVING) {
			e->state = RECEIVING;
			e->since = clock_mono_us();
			e->bytes = 0;
		}
		e->bytes += upload;
	} else {
		e->state = HANDLED; /* the body is in */
	}
	pthread_mutex_unlock(&g->mu);
}

void connguard_ended(struct connguard *g, void *entry)
{
	struct entry *e = entry;
	if (!e)
		return;
	pthread_mutex_lock(&g->mu);
	e->state = WAITING;
	e->since = clock_mono_us();
	pthread_mutex_unlock(&g->mu);
}

uint64_t connguard_closed(const struct connguard *g)
{
	return atomic_load(&g->closed);
}
