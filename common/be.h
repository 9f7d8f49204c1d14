/* Big-endian loads and stores, for LMDB keys whose byte order must be
 * their numeric order (volume ids, log indexes), and for the formats that
 * already store integers that way. Little-endian ones are in common/le.h.
 *
 * Byte by byte, so they work at any alignment and on any host. */
#ifndef CASK_BE_H
#define CASK_BE_H

#include <stdint.h>

static inline void be_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * (3 - i)));
}

static inline void be_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * (7 - i)));
}

static inline uint32_t be_get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t be_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

#endif
