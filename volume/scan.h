/* scan: walks the records of one segment file in offset order.
 *
 * Used by recovery (with verification, to rebuild the keydir and find the
 * torn tail), by merge and by hint writing (to enumerate records).
 *
 * Damage handling: a header that fails its checks is skipped by scanning
 * forward for the next valid header; a complete record whose data CRC
 * fails is skipped by length; pending and aborted records are skipped by
 * length. Damage counts as corrupt only when a good record follows it;
 * otherwise it is the torn tail, and `end` tells where good data stops.
 *
 * Threads: one scan per call, on the caller's thread; the file must not be
 * written in the scanned range meanwhile.
 * Errors: 0, -EIO (read failed), -ENOMEM, or whatever fn returned.
 */
#ifndef CASK_SCAN_H
#define CASK_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "volume/record.h"

struct scan_result {
	uint64_t end;	  /* offset just past the last good record */
	uint64_t corrupt; /* damaged records followed by good ones */
};

/* Called for every good put and tombstone. `key` (h->klen bytes) is valid
 * only during the call. A non-zero return stops the scan with it. */
typedef int (*scan_fn)(void *arg, const struct rec_hdr *h, uint64_t off,
		       const char *key);

/* Scans [from, size) of fd. With verify, every record's data CRC is
 * checked (reading its value); without, only records without a value
 * (tombstones) are, as that costs nothing. */
int scan_segment(int fd, uint64_t from, uint64_t size, bool verify, scan_fn fn,
		 void *arg, struct scan_result *res);

#endif
