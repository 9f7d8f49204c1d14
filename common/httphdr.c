#include "common/httphdr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int httphdr_content_length(const char *v, uint64_t *n)
{
	/* strtoull alone would take leading spaces, a sign ("-1" is
	 * 2^64-1) and clamp an overflow; the checks refuse all three. */
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || errno || *end)
		return -EINVAL;
	*n = x;
	return 0;
}

int httphdr_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	const char *p = h + 6;
	char *end;
	if (*p == '-') {
		if (p[1] < '0' || p[1] > '9')
			return 0;
		errno = 0;
		uint64_t n = strtoull(p + 1, &end, 10);
		if (errno || *end || n == 0)
			return n == 0 && !errno && !*end ? -1 : 0;
		if (size == 0)
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return 1;
	}
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	uint64_t a = strtoull(p, &end, 10);
	if (errno || *end != '-')
		return 0;
	p = end + 1;
	uint64_t b = UINT64_MAX;
	if (*p) {
		if (*p < '0' || *p > '9')
			return 0;
		b = strtoull(p, &end, 10);
		if (errno || *end)
			return 0;
		if (b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*from = a;
	*to = b >= size ? size - 1 : b;
	return 1;
}
