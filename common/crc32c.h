/* CRC32C (Castagnoli), as used by iSCSI, ext4 and LevelDB.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a slice-by-8
 * table otherwise; both give identical results. Thread-safe. */
#ifndef CASK_CRC32C_H
#define CASK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (0 to start) over `len` bytes. */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);

#endif
