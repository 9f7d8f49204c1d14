/* Small file-system helpers. */
#ifndef CASK_FS_H
#define CASK_FS_H

#include <stddef.h>

/* Makes the entries of folder `dir` durable: a file created, renamed or
 * removed in it survives a crash only once the folder itself is synced.
 * Returns 0 or a negative errno. */
int fs_sync_dir(const char *dir);

/* Writes all len bytes of p to fd, again after short writes and EINTR.
 * Returns 0 or a negative errno (-EIO for a write that took nothing). */
int fs_write_all(int fd, const void *p, size_t len);

#endif
