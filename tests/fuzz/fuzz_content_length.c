/* Fuzzes the Content-Length parser (common/httphdr.h) that the volume,
 * the master's API and its Raft transport share: the number that sizes a
 * reservation on disk and bounds a request body.
 *
 * Invariants: it accepts exactly 1*DIGIT naming at most UINT64_MAX (a
 * reference without strtoull decides), with that value; a refused value
 * leaves *n alone; and an accepted value printed back in decimal parses
 * to itself. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "common/httphdr.h"
#include "tests/fuzz/fuzz.h"

static bool ref_length(const char *v, uint64_t *n)
{
	uint64_t x = 0;
	if (!*v)
		return false;
	for (; *v; v++) {
		unsigned d = (unsigned)(*v - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*n = x;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = fuzz_cstr(data, size);
	uint64_t n = 7, want = 0;
	int rc = httphdr_content_length(v, &n);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK((rc == 0) == ref_length(v, &want));
	if (rc == 0) {
		FUZZ_CHECK(n == want);
		char back[32];
		snprintf(back, sizeof(back), "%" PRIu64, n);
		uint64_t again = 0;
		FUZZ_CHECK(httphdr_content_length(back, &again) == 0 &&
			   again == n);
	} else {
		FUZZ_CHECK(n == 7);
	}
	free(v);
	return 0;
}
