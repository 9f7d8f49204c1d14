/* The volume's HTTP surface, over libmicrohttpd.
 *
 *   PUT /key      201 (Content-Md5), 413 over max_value, 507 when the
 *                 disk is full; overwrites allowed. The body has a
 *                 Content-Length or is chunked (Transfer-Encoding: chunked
 *                 alone; spooled until its end, volume/bitcask.h); 411
 *                 with neither
 *   any request   400 with two Content-Lengths or with a Content-Length
 *                 beside a Transfer-Encoding, 501 for an encoding other
 *                 than chunked: on the first call, before anything else
 *   GET /key      200; Range → 206, unsatisfiable → 416; 500 "corrupt
 *                 record" when the stored record fails its check (below);
 *                 with signed_reads, 403 without a valid exp&sig
 *                 (common/sign.h sign_read_check), which ?alt= hand-offs
 *                 carry on
 *   HEAD /key     headers only (reads and checks no value; 500 for a
 *                 key reported corrupt)
 *   DELETE /key   204, 404 when absent
 *   GET /_/keys[?prefix=P]  every live key as NDJSON, streamed
 *   GET /_/metrics          Prometheus text
 *   GET /_/ui               the status as an HTML page (common/html.h)
 *
 * Never serve wrong bytes. A value up to 64 KiB is read with its header
 * and key and checked (header CRC, key, data CRC over key and value)
 * before any byte is sent, Range or not; a mismatch is answered 500
 * "corrupt record" (text/plain, one line), counted (corrupt_reads,
 * cask_volume_corrupt_reads_total), logged once (key, segment, offset)
 * and reported; one that cannot be read whole is a 500 and reported too.
 * A larger value goes out with sendfile unchecked: the scrub covers it,
 * and so does its Content-Md5. Once a key is reported corrupt, GET and
 * HEAD of it are 500 "corrupt record" whatever its size, until a PUT or
 * DELETE ends the report.
 *
 * Self-healing contract, for a master's repair loop (volumes do not know
 * masters; masters poll):
 *
 *   GET /_/health → 200 application/json, one line:
 *     {"status":"ok","id":"<32 hex>","run":"<16 hex>","corrupt_seq":N,
 *      "corrupt_dropped_seq":D}
 *     id    the data directory's identity: 16 random bytes drawn when the
 *           directory was created (or first opened by a build without
 *           ids), kept in <dir>/id. Another id at the same address is
 *           another disk (wiped or replaced): its copies are unknown
 *           until verified.
 *     run   random, new at every start. Report numbers count from 1 in
 *           each run, so a poller keeps its cursor per (id, run) and
 *           starts again from 0 when either changes.
 *     corrupt_seq  number of the newest corrupt-key report (0: none);
 *           a change is the cue to pull /_/corrupt.
 *     corrupt_dropped_seq  number of the newest report dropped because
 *           the set was full (0: none). A poller whose cursor is below it
 *           has missed reports and must verify all of the volume's keys.
 *   GET /_/corrupt[?since=S] → 200 application/x-ndjson, streamed: one
 *     line per report still held with S < seq <= corrupt_seq (as of the
 *     request), ascending seq:
 *       {"seq":N,"key":"<JSON string>","size":BYTES,"why":"<reason>"}
 *     size is the value size the volume's index holds; why is for humans
 *     ("bad header", "key mismatch", "data CRC mismatch", "md5 mismatch",
 *     "unreadable header", "unreadable value", "unreadable record").
 *     Headers Cask-Volume-Id, Cask-Volume-Run, and Cask-Corrupt-Seq (the
 *     upper bound used: pass it as the next since). S defaults to 0;
 *     anything but decimal digits fitting 64 bits → 400 "since must be a
 *     report number (decimal)".
 *     A key is reported when a GET or a scrub finds its current record
 *     bad, once: found again, it keeps its number. Its report is held
 *     until the key is written (PUT) or deleted (DELETE) here, which is
 *     how a master repairs: it writes a good copy where placement wants
 *     one and purges the bad one with DELETE. At most 65536 reports are
 *     held; a new one drops the one 65536 numbers older (see
 *     corrupt_dropped_seq). The set lives in memory only: after a restart
 *     (new run) it is empty, and the scrub pass that starts with the
 *     daemon finds the rot again (at -scrub-rate; POST /_/scrub to hurry).
 *   POST /_/scrub → 202 {"started":true}: a pass over every live record
 *     starts now, not rate-limited; or 200
 *     {"started":false,"running":true}: one is running, and from now on
 *     it is not rate-limited either. Answers at once; no body is read.
 *   GET /_/status → 200 application/json: the health fields, then
 *     "corrupt_overflow" (corrupt_dropped_seq > 0), "corrupt_keys"
 *     (reports held), "corrupt_reads" (GETs refused), keys, bytes,
 *     segments, recovery, sync and merge counters, "scrub_errors" (bad
 *     records found by every pass), and
 *     "scrub":{"running":bool,"passes":N,"records":N,"bytes":N,"bad":N,
 *     "last_pass_ms":T,"rate":R}: passes finished since start; records
 *     checked, record bytes read and bad records found by the pass
 *     running, or else by the last one; the last finished pass's
 *     duration; -scrub-rate in bytes/s (0: no background passes).
 *
 * Connections are served by a pool of `threads` epoll threads. A PUT never
 * holds one while it waits for its group commit: its connection is
 * suspended and the engine's sync thread resumes it (a DELETE likewise
 * waits on a thread of its own). A GET that misses the page cache does
 * block its polling thread in sendfile, so the pool must be large enough
 * to keep disk reads in flight. threads = 0 serves each connection on a
 * thread of its own, where PUT and DELETE simply block.
 *
 * Threads: srv_start/srv_stop from one thread; handlers run on MHD's. */
#ifndef CASK_VOLUME_SERVER_H
#define CASK_VOLUME_SERVER_H

#include <stdint.h>

#include "common/httpserver.h"
#include "volume/bitcask.h"

struct srv_options {
	const char *bind; /* address to listen on */
	int port;
	uint64_t max_value;
	struct httpserver_limits limits;
	bool signed_reads; /* GET and HEAD of keys need a master's signature */
	unsigned threads;  /* polling threads; 0: one per connection */
};

struct srv;

/* Starts serving `bc` (borrowed; must outlive the server). Returns 0,
 * -EADDRINUSE or -EINVAL (bad bind address), or -EIO. */
int srv_start(const struct srv_options *opt, struct bc *bc, struct srv **out);

/* Graceful stop: stops accepting, lets requests in flight finish (up to
 * grace_ms, and in any case until every suspended PUT or DELETE has
 * ended), then closes every connection and frees the server. */
void srv_stop(struct srv *s, unsigned grace_ms);

#endif
