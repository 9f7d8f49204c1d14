/*
 * Wire format of the Raft core's messages (the payload format of
 * configuration entries is the core's own: raft.h):
 * little-endian, fixed-width fields, self-delimiting, so a message can
 * cross machines and compilers. Pure like the core: no I/O, and memory
 * only as each function says.
 *
 * Errors: encoders return 0 or -ENOSPC (cap smaller than the size);
 * decoders return 0, -EINVAL for bytes that are not a valid encoding
 * (short, long, unknown version, message or entry type, counts past the
 * buffer, a configuration raft_conf_valid() refuses), or -ENOMEM. A
 * message that decodes may still be one raft_step() drops.
 */
#ifndef CASK_RAFT_CODEC_H
#define CASK_RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* raft_msg_size() is the exact encoded size. raft_msg_decode() allocates
 * m->entries (free with raft_msg_release()); entry payloads point into buf,
 * which must outlive m.
 */
size_t raft_msg_size(const struct raft_msg *m);
int raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap);
int raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m);
void raft_msg_release(struct raft_msg *m);

#endif
