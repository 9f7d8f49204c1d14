#include "common/httpserver.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/connguard.h"
#include "common/flags.h"
#include "common/httpd.h"
#include "common/log.h"

struct httpserver {
	struct httpserver_options o;
	struct MHD_Daemon *d;
	struct connguard *guard; /* NULL: none */
	atomic_uint open;
	atomic_bool stopping;
};

/* Counts a request once the daemon's handler gave it state. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct httpserver *s = cls;
	bool fresh = *con_cls == NULL;
	/* Counted before the handler runs: it may suspend the connection,
	 * and a drain that saw the count still 0 meanwhile would stop the
	 * daemon under a suspended connection (libmicrohttpd aborts). */
	if (fresh)
		atomic_fetch_add(&s->open, 1);
	size_t given = *upload_size;
	enum MHD_Result ret = s->o.handler(s->o.cls, c, url, method, version,
					   upload, upload_size, con_cls);
	if (fresh && !*con_cls)
		atomic_fetch_sub(&s->open, 1);
	if (s->guard) {
		const union MHD_ConnectionInfo *sc = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		const union MHD_ConnectionInfo *su = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_CONNECTION_SUSPENDED);
		connguard_called(s->guard, sc ? sc->socket_context : NULL,
				 fresh, given - *upload_size,
				 su && su->suspended == MHD_YES);
	}
	return ret;
}

static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct httpserver *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		*socket_context = connguard_open(s->guard, c);
	else
		connguard_close(s->guard, *socket_context);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpserver *s = cls;
	bool counted = *con_cls != NULL;
	if (s->o.completed)
		s->o.completed(s->o.cls, c, con_cls, toe);
	if (s->guard) {
		const union MHD_ConnectionInfo *sc = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		connguard_ended(s->guard, sc ? sc->socket_context : NULL);
	}
	if (counted)
		atomic_fetch_sub(&s->open, 1);
}

/* Once stopping, a new connection is closed as soon as it is accepted.
 * MHD_quiesce_daemon would take the listening socket out of every
 * worker's epoll set instead, but in 0.9.75 it races with a worker doing
 * the same when it sees the daemon quiesced, and the loser's failed
 * EPOLL_CTL_DEL aborts the process ("Failed to remove listen FD from epoll
 * set"), as a volume's SIGTERM did in make distcheck. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen)
{
	const struct httpserver *s = cls;
	(void)addr;
	(void)addrlen;
	return atomic_load(&s->stopping) ? MHD_NO : MHD_YES;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("httpd: %s", line);
}

int httpserver_start(const struct httpserver_options *o,
		     struct httpserver **out)
{
	assert(o && o->bind && o->handler && out);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_port = htons((uint16_t)o->port)};
	if (inet_pton(AF_INET, o->bind, &addr.sin_addr) != 1)
		return -EINVAL;
	struct httpserver *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	*out = s;
	/* Suspending is not available to thread-per-connection, whose
	 * threads may simply block. */
	unsigned flags = MHD_USE_ERROR_LOG |
			 (o->threads ? MHD_USE_EPOLL_INTERNAL_THREAD |
					       MHD_ALLOW_SUSPEND_RESUME
				     : MHD_USE_THREAD_PER_CONNECTION |
					       MHD_USE_POLL_INTERNAL_THREAD |
					       MHD_USE_ITC);
	/* Options left at libmicrohttpd's default are left out. A pool of
	 * one is its single internal thread (it warns about that size). */
	struct MHD_OptionItem opts[16];
	size_t n = 0;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
					    (intptr_t)mhd_log, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
					    (intptr_t)on_completed, s};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK,
					    (intptr_t)http_unescape_none, NULL};
	opts[n++] =
		(struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					(intptr_t)o->connection_memory, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
					    (intptr_t)o->timeout_s, NULL};
	if (o->limits.max_connections)
		opts[n++] = (struct MHD_OptionItem){
			MHD_OPTION_CONNECTION_LIMIT,
			(intptr_t)o->limits.max_connections, NULL};
	if (o->limits.per_ip_connections)
		opts[n++] = (struct MHD_OptionItem){
			MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			(intptr_t)o->limits.per_ip_connections, NULL};
	if (o->limits.client_timeout_ms) {
		s->guard = connguard_new(o->limits.client_timeout_ms,
					 o->limits.min_rate);
		if (!s->guard) {
			*out = NULL;
			free(s);
			return -ENOMEM;
		}
		opts[n++] =
			(struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
						(intptr_t)on_connection, s};
	}
	if (o->thread_stack)
		opts[n++] = (struct MHD_OptionItem){
			MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)o->thread_stack,
			NULL};
	if (o->backlog)
		opts[n++] =
			(struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE,
						(intptr_t)o->backlog, NULL};
	if (o->reuse_address)
		opts[n++] = (struct MHD_OptionItem){
			MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
	if (o->threads > 1)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
						    (intptr_t)o->threads, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	assert(n <= sizeof(opts) / sizeof(opts[0]));
	s->d = MHD_start_daemon(flags, 0, on_accept, s, on_request, s,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!s->d) {
		*out = NULL;
		connguard_free(s->guard);
		free(s);
		return -EADDRINUSE;
	}
	return 0;
}

int httpserver_limits_parse(long conns, long per_ip, const char *timeout,
			    uint64_t min_rate, struct httpserver_limits *out)
{
	long ms = strcmp(timeout, "0") == 0
			  ? 0
			  : flags_parse_duration_ms(timeout, 3600e3);
	if (conns < 1 || conns > 1000000 || per_ip < 0 || per_ip > conns ||
	    ms < 0) {
		fprintf(stderr, "-max-connections is 1..1000000, "
				"-max-connections-per-ip 0..-max-connections, "
				"-client-timeout a duration like 30s, or 0\n");
		return -EINVAL;
	}
	*out = (struct httpserver_limits){(unsigned)conns, (unsigned)per_ip,
					  (unsigned)ms, min_rate};
	return 0;
}

bool httpserver_stopping(const struct httpserver *s)
{
	return atomic_load(&s->stopping);
}

void httpserver_quiesce(struct httpserver *s)
{
	atomic_store(&s->stopping, true);
}

bool httpserver_wait(const atomic_uint *n, unsigned grace_ms)
{
	const struct timespec tick = {0, 10 * 1000000};
	for (unsigned waited = 0; atomic_load(n); waited += 10) {
		if (grace_ms != HTTPSERVER_FOREVER && waited >= grace_ms)
			return false;
		nanosleep(&tick, NULL);
	}
	return true;
}

bool httpserver_drain(struct httpserver *s, unsigned grace_ms)
{
	assert(atomic_load(&s->stopping));
	return httpserver_wait(&s->open, grace_ms);
}

void httpserver_stop(struct httpserver *s)
{
	if (!s)
		return;
	httpserver_quiesce(s);
	MHD_stop_daemon(s->d);
	connguard_free(s->guard);
	free(s);
}

uint64_t httpserver_slow_closed(const struct httpserver *s)
{
	return s->guard ? connguard_closed(s->guard) : 0;
}
