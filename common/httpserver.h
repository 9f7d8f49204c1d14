/* The libmicrohttpd server skeleton the master's API and the volume share:
 * start with the options both need, stop in the one order that is safe.
 *
 * Start: a daemon bound to one IPv4 address, with URLs left undecoded
 * (http_unescape_none: keys are decoded and validated by the daemon),
 * libmicrohttpd's errors logged through common/log.h, and either
 *   threads >= 1: polling threads on epoll (a pool when more than one)
 *                 whose connections may be suspended and resumed, or
 *   threads == 0: a thread per connection (no suspending: a handler
 *                 simply blocks).
 * The skeleton counts the requests that are open: from the first
 * access-handler call that sets *con_cls until the completion callback
 * sees it, so a stop can wait for them.
 *
 * Stop, in this order:
 *   httpserver_quiesce   from now on a new connection is closed as soon
 *                        as it is accepted (the listening socket stays
 *                        open until the daemon stops: closing it early
 *                        let its descriptor number be reused under
 *                        libmicrohttpd's threads). Keep-alive connections
 *                        still bring requests; handlers refuse them when
 *                        httpserver_stopping says so, if they wish.
 *   httpserver_drain     waits (bounded) for the open requests to end.
 *   httpserver_stop      stops the daemon, which closes every connection
 *                        and the listening socket, and frees s. No
 *                        connection may be suspended then (libmicrohttpd
 *                        aborts the process): the caller first waits for
 *                        whatever would resume one.
 *
 * Threads: start and the stop sequence from one thread; httpserver_
 * stopping from any; the callbacks run on libmicrohttpd's threads.
 * Memory: the options are copied; o->cls is borrowed for the server's
 * lifetime. */
#ifndef CASK_HTTPSERVER_H
#define CASK_HTTPSERVER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* grace_ms for httpserver_wait that never gives up. */
#define HTTPSERVER_FOREVER 0xffffffffu

/* What one client may hold. */
struct httpserver_limits {
	unsigned max_connections;    /* 0: libmicrohttpd's default */
	unsigned per_ip_connections; /* from one client address; 0: any */
	/* Slow clients (common/connguard.h): headers within this, bodies at
	 * min_rate bytes/s over windows this long; 0: no guard. */
	unsigned client_timeout_ms;
	uint64_t min_rate;
};

/* The flags (common/flags.h) for the limits, worded once for every
 * daemon; httpserver_limits_parse turns their values into limits. */
/* clang-format off */
#define HTTPSERVER_LIMIT_FLAGS(conns, conns_def, per_ip, per_ip_def,          \
			       timeout, min_rate)                             \
	{"max-connections", FLAG_INT, (conns), (conns_def),                   \
	 "concurrent connections"},                                           \
	{"max-connections-per-ip", FLAG_INT, (per_ip), (per_ip_def),          \
	 "concurrent connections from one client address (0: no limit)"},     \
	{"client-timeout", FLAG_STR, (timeout), "30s",                        \
	 "a client sends a request's headers within this, and a body at "     \
	 "-min-rate or faster over every such span, or is cut off (0: never)"}, \
	{"min-rate", FLAG_SIZE, (min_rate), "1K",                             \
	 "slowest request body accepted, in bytes per second"}
/* clang-format on */

/* 0, or -EINVAL (and a line on stderr) for values out of range. */
int httpserver_limits_parse(long conns, long per_ip, const char *timeout,
			    uint64_t min_rate, struct httpserver_limits *out);

struct httpserver_options {
	const char *bind; /* dotted IPv4 address */
	int port;	  /* 0: an ephemeral port */
	unsigned threads; /* see above */
	struct httpserver_limits limits;
	size_t connection_memory; /* per connection: bounds the headers */
	unsigned timeout_s;	  /* an idle connection is closed after */
	size_t thread_stack;	  /* 0: the default */
	unsigned backlog;	  /* listen(2) backlog; 0: the default */
	bool reuse_address;	  /* SO_REUSEADDR on the listening socket */
	MHD_AccessHandlerCallback handler;
	MHD_RequestCompletedCallback completed; /* may be NULL */
	void *cls;				/* the first argument of both */
};

struct httpserver;

/* Returns 0, -EINVAL (bind is not an IPv4 address), -ENOMEM or
 * -EADDRINUSE (libmicrohttpd would not start, the port taken most
 * likely). *out is set before the first request can arrive, so handlers
 * may use it; NULL on failure. */
int httpserver_start(const struct httpserver_options *o,
		     struct httpserver **out);

/* True once httpserver_quiesce ran. */
bool httpserver_stopping(const struct httpserver *s);

void httpserver_quiesce(struct httpserver *s);

/* Waits up to grace_ms for every open request to end. Returns whether
 * they did. */
bool httpserver_drain(struct httpserver *s, unsigned grace_ms);

/* Waits up to grace_ms (or HTTPSERVER_FOREVER) for *n to be 0, checking
 * every 10 ms: for a daemon's own count of suspended operations. Returns
 * whether it was reached. */
bool httpserver_wait(const atomic_uint *n, unsigned grace_ms);

/* Connections closed for being slow (connguard_closed), 0 without a
 * guard. */
uint64_t httpserver_slow_closed(const struct httpserver *s);

/* Frees s; NULL is a no-op. */
void httpserver_stop(struct httpserver *s);

#endif
