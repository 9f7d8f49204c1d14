/* Small file-system helpers. */
#ifndef CASK_FS_H
#define CASK_FS_H

/* Makes the entries of folder `dir` durable: a file created, renamed or
 * removed in it survives a crash only once the folder itself is synced.
 * Returns 0 or a negative errno. */
int fs_sync_dir(const char *dir);

#endif
