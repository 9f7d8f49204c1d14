/* Slow clients: deadlines libmicrohttpd does not keep.
 *
 * libmicrohttpd closes a connection only once it has been idle for its
 * timeout, so a client sending a byte now and then holds its connection
 * (and its slot under the connection limits) for ever. The guard tracks
 * every connection of one server and closes, from a thread of its own,
 * one that
 *   - waits for a request's headers (from accept, or from the end of the
 *     previous request) for longer than timeout_ms, or
 *   - sends a request body at less than min_rate bytes/s over a whole
 *     window of timeout_ms.
 * A request being handled (after its body, or while the daemon keeps its
 * connection suspended) or answered is never cut: the daemon's own
 * timeouts bound those.
 *
 * Closing is shutdown(2) of the socket, which libmicrohttpd then sees
 * fail and cleans up as a client that left; the descriptor stays
 * libmicrohttpd's, and the guard forgets a connection (under its lock)
 * when it is told of the close, before libmicrohttpd closes the
 * descriptor.
 *
 * Threads: connguard_new/free from one thread; the rest from
 * libmicrohttpd's threads, each connection's calls from the one thread
 * serving it. Memory: one entry per connection, owned by the guard,
 * handed out as an opaque pointer for libmicrohttpd's socket context. */
#ifndef CASK_CONNGUARD_H
#define CASK_CONNGUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct connguard;

/* Starts the guard's thread. NULL when out of memory or threads. */
struct connguard *connguard_new(unsigned timeout_ms, uint64_t min_rate);

/* Stops the thread and frees g, once every connection was closed (the
 * server stopped). NULL is a no-op. */
void connguard_free(struct connguard *g);

/* A connection was accepted / closed (MHD_OPTION_NOTIFY_CONNECTION).
 * open returns the entry to keep as its socket context, NULL when out of
 * memory (the connection is then not guarded). */
void *connguard_open(struct connguard *g, struct MHD_Connection *c);
void connguard_close(struct connguard *g, void *entry);

/* One access-handler call on the connection returned: `first` for the
 * request's first call, `upload` the body bytes it was given, and
 * whether the daemon left the connection suspended. */
void connguard_called(struct connguard *g, void *entry, bool first,
		      size_t upload, bool suspended);

/* The request ended (MHD_OPTION_NOTIFY_COMPLETED): from now on the
 * connection waits for its next request's headers. */
void connguard_ended(struct connguard *g, void *entry);

/* Connections closed for being slow so far. */
uint64_t connguard_closed(const struct connguard *g);

#endif
