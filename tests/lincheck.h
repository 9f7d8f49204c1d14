/* A linearizability checker for per-key registers, Wing & Gong's search
 * with Lowe's memoization, as Porcupine and Knossos do it.
 *
 * A history is a list of operations with the client's invoke and return
 * times. Each key is an independent register holding a value (0: absent):
 *   PUT v     OK: the key was absent and now holds v; FAIL (403): it was
 *             present and is unchanged
 *   GET       OK: read `value` (0 for a 404)
 *   DELETE    OK (204): it was present and is now absent; FAIL (404): it
 *             was absent
 * An operation whose outcome the client does not know (a timeout, a 5xx
 * after the request may have been applied) is UNKNOWN: it may take effect
 * at any point after its invocation, or never. The history is
 * linearizable when every key's operations can be put in one order that
 * respects real time (an operation that returned before another was
 * invoked comes first) and this model.
 *
 * Memory: the caller's ops array is only read; the checker allocates
 * per-key scratch and frees it. Threads: no shared state.
 * Errors: lincheck_check returns 1 (linearizable), 0 (not: *bad_key gets
 * the index of an operation of the offending key), -E2BIG (a key with
 * more than LINCHECK_MAX_OPS operations) or -ENOMEM. */
#ifndef CASK_TESTS_LINCHECK_H
#define CASK_TESTS_LINCHECK_H

#include <stddef.h>
#include <stdint.h>

#define LINCHECK_MAX_OPS 64

enum lincheck_kind { LINCHECK_PUT = 1, LINCHECK_GET, LINCHECK_DELETE };
enum lincheck_outcome { LINCHECK_OK = 1, LINCHECK_FAIL, LINCHECK_UNKNOWN };

struct lincheck_op {
	const char *key; /* NUL-terminated */
	enum lincheck_kind kind;
	enum lincheck_outcome outcome;
	uint64_t value;	      /* PUT: written; GET: read (0 = absent) */
	uint64_t invoke, ret; /* any monotonic unit; ret ignored if UNKNOWN */
};

int lincheck_check(const struct lincheck_op *ops, size_t n, size_t *bad_key);

#endif
