/* Fuzzes the Range header parser (common/httphdr.h), which decides which
 * bytes of a stored value a volume sends.
 *
 * The input is "SIZE\nVALUE": the value's size in decimal, then the
 * header; without a newline the whole input is the header of a 100-byte
 * value (so plain header seeds work too).
 *
 * Invariants: the answer is -1, 0 or 1; a range is inside the value
 * (from <= to < size), so the volume never reads past a record; the
 * parser agrees with a reference written from RFC 9110's grammar
 * (without strtoull); and a range written back as "bytes=from-to" parses
 * to itself. */
#include <inttypes.h>
#include <stdbool.h>

#include "common/httphdr.h"
#include "tests/fuzz/fuzz.h"

/* 1*DIGIT at *p: 1 with *v, 0 when there is no digit, -1 on overflow. */
static int digits(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (s == *p)
		return 0;
	*p = s;
	*v = x;
	return 1;
}

/* One byte range, as httphdr_range() documents it. */
static int ref_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
	if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	const char *p = h + 6;
	uint64_t a, b = UINT64_MAX;
	if (*p == '-') {
		p++;
		if (digits(&p, &a) != 1 || *p)
			return 0;
		if (a == 0 || size == 0)
			return -1;
		*from = a >= size ? 0 : size - a;
		*to = size - 1;
		return 1;
	}
	if (digits(&p, &a) != 1 || *p++ != '-')
		return 0;
	if (*p && (digits(&p, &b) != 1 || *p || b < a))
		return 0;
	if (a >= size)
		return -1;
	*from = a;
	*to = b < size ? b : size - 1;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size);
	char *h = strchr(in, '\n');
	uint64_t len = 100;
	if (h) {
		*h++ = '\0';
		const char *p = in;
		if (digits(&p, &len) != 1 || *p)
			len = 100;
	} else {
		h = in;
	}

	uint64_t from = 7, to = 7, rfrom = 0, rto = 0;
	int rc = httphdr_range(h, len, &from, &to);
	FUZZ_CHECK(rc >= -1 && rc <= 1);
	FUZZ_CHECK(rc == ref_range(h, len, &rfrom, &rto));
	if (rc == 1) {
		FUZZ_CHECK(from <= to && to < len);
		FUZZ_CHECK(from == rfrom && to == rto);
		char again[64];
		snprintf(again, sizeof(again), "bytes=%" PRIu64 "-%" PRIu64,
			 from, to);
		uint64_t f2, t2;
		FUZZ_CHECK(httphdr_range(again, len, &f2, &t2) == 1);
		FUZZ_CHECK(f2 == from && t2 == to);
	} else {
		FUZZ_CHECK(from == 7 && to == 7); /* left alone */
	}
	FUZZ_CHECK(httphdr_range(NULL, len, &from, &to) == 0);
	free(in);
	return 0;
}
