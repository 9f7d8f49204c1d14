/* Raft messages between masters, over HTTP on the masters' own ports.
 *
 * Outbound: every peer has a bounded queue of encoded messages. One thread
 * drives a libcurl multi handle: whenever a peer has messages and no POST
 * in flight, everything queued (up to a batch cap) leaves in one
 *   POST <peer>/_/raft/msgs   body: (u32 LE length ‖ raft_msg_encode)*
 * so replication is pipelined (the core does not wait for answers) and
 * batched. The receiver holds the POST until its node stepped the batch
 * and queued what it had to say back (transport_reply), and answers with
 * whatever is queued for the sender: an append's acknowledgement or a
 * read index rides back in the answer instead of a POST of its own. While
 * such a POST waits, nothing queued for its sender leaves any other way.
 * A POST that fails or times out is dropped, which Raft treats as network
 * loss; a full queue drops new messages. A dead or stopped peer therefore
 * costs a bounded queue and one connection, never a blocked sender or a
 * blocked neighbour. Snapshots stream a file as
 *   POST <peer>/_/raft/snapshot   X-Raft-Msg: hex(raft_msg_encode)
 * and report their outcome through a callback.
 *
 * Every POST carries X-Raft-From (the sender's id), and nothing a POST
 * says changes an address: those come from the owner (the -peers flag,
 * and each member's address in the Raft configuration). A POST from an id
 * without an address (a leader a joining master has not learned yet)
 * gets a peer entry of its own, whose messages leave only in the answers
 * to that peer's POSTs until an address is set.
 *
 * Inbound: transport_http answers those two paths inside the master's
 * libmicrohttpd daemon. Bodies are bounded; every message is decoded
 * here, once, and a batch with one that does not decode is refused (400)
 * whole: the node gets decoded messages only.
 *
 * Threads: every function may be called from any thread; callbacks run on
 * MHD threads (on_msg, on_snapshot) or the transport thread (snapshot
 * done) and must not block.
 * Errors: 0 or a negative errno. */
#ifndef CASK_MASTER_TRANSPORT_H
#define CASK_MASTER_TRANSPORT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define TRANSPORT_URL_MAX 256

struct transport_reply;

/* Received messages, decoded. The entries' payloads point into the bytes
 * they were decoded from, which the batch keeps: msgs are valid until
 * transport_batch_free. */
struct transport_batch {
	struct raft_msg *msgs;
	size_t n;
	uint8_t *bytes; /* what msgs point into */
};

/* Frees msgs, their entries and the bytes. NULL is a no-op. */
void transport_batch_free(struct transport_batch *b);

struct transport_callbacks {
	void *arg;
	/* A POST's body or a POST's answer, decoded (the callee owns b).
	 * A non-NULL reply must be passed to transport_reply once what
	 * stepping the batch produced was given to transport_send; its
	 * sender waits for it. */
	void (*on_msgs)(void *arg, struct transport_batch *b,
			struct transport_reply *reply);
	/* A snapshot arrived whole and synced at the options' incoming_path
	 * with its SNAPSHOT message (b holds just that one; the callee owns
	 * b). No other snapshot is received until
	 * transport_snapshot_consumed. Returns 0, or -EINVAL with a
	 * one-line *why for a file the callee refuses (the sender is told
	 * 400, and the next upload may come). */
	int (*on_snapshot)(void *arg, struct transport_batch *b,
			   const char **why);
	/* A snapshot sent to `to` was (ok) or was not delivered. */
	void (*snapshot_done)(void *arg, uint64_t to, bool ok);
};

struct transport_options {
	uint64_t id;
	long timeout_ms;	   /* per message POST */
	size_t queue_max;	   /* messages queued per peer */
	const char *incoming_path; /* where a received snapshot is written */
};

struct transport_counts {
	uint64_t sent, received, dropped, posts, failed_posts;
	uint64_t answers; /* answers that carried messages back */
	uint64_t snapshots_sent, snapshots_received;
};

struct transport;

int transport_start(const struct transport_options *o,
		    const struct transport_callbacks *cb,
		    struct transport **out);

/* Stops the thread, drops what is queued, frees t. NULL is a no-op. */
void transport_stop(struct transport *t);

/* Whether url can be a peer's base URL: "http://host:port", shorter than
 * TRANSPORT_URL_MAX, without ',', '=', quotes, spaces or line breaks. */
bool transport_url_ok(const char *url);

/* Sets (or replaces) a peer's base URL, one transport_url_ok accepts
 * (trailing slashes dropped). */
int transport_set_peer(struct transport *t, uint64_t id, const char *url);

/* Copies a peer's URL into out; -ENOENT when unknown or without one. */
int transport_peer_url(struct transport *t, uint64_t id, char *out, size_t cap);

/* The table as "id=url,id=url", peers without an address left out
 * (NUL-terminated; -ENOSPC if cap is short). */
int transport_peers(struct transport *t, char *out, size_t cap);

/* Merges a table in that form: unknown ids are added, known ones kept.
 * Returns how many were added, or -EINVAL for a malformed table. */
int transport_merge_peers(struct transport *t, const char *table);

/* Queues m for m->to (copied). Dropped when the queue is full or the peer
 * has no address. */
void transport_send(struct transport *t, const struct raft_msg *m);

/* Streams the file at path to m->to with m; the outcome is reported with
 * snapshot_done. At most one snapshot per peer at a time (a second one is
 * reported as failed). */
void transport_send_snapshot(struct transport *t, const struct raft_msg *m,
			     const char *path);

/* The batch handed over with `reply` was stepped and its replies queued:
 * answer its POST. Exactly once per reply; any thread. */
void transport_reply(struct transport *t, struct transport_reply *reply);

/* The node is done with the received snapshot file. */
void transport_snapshot_consumed(struct transport *t);

void transport_counts(struct transport *t, struct transport_counts *out);

/* Answers POST /_/raft/msgs and /_/raft/snapshot. `state` is a pointer the
 * caller keeps per request (NULL at first), released by
 * transport_http_done when the request ends. */
enum MHD_Result transport_http(struct transport *t, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *upload, size_t *upload_size,
			       void **state);
void transport_http_done(void *state);

#endif
