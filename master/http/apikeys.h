/* The public plane's keys (-api-keys FILE; DESIGN.md, Security).
 *
 * The file has one key per line, "KEY read" or "KEY write", blank lines
 * and '#' comments aside; a key is 16 to 256 printable bytes without
 * spaces. Like the cluster secret it must not be readable by others.
 * With keys loaded, a write (PUT, DELETE, UNLINK) needs
 * "Authorization: Bearer KEY" with a write key. Reads need a key (read or
 * write) only when the file names a read key, since a read-only key means
 * reads are not for everyone; otherwise they stay open, as minikeyvalue's
 * are. Keys are compared in constant time.
 *
 * Memory: the table is the caller's to free. Threads: apikeys_check from
 * any thread once loaded. Errors: apikeys_load returns 0, or -ENOENT,
 * -EACCES, -EPERM (readable by others), -EINVAL (a bad line, logged with
 * its number), -ENOMEM; the key text is never logged. */
#ifndef CASK_MASTER_APIKEYS_H
#define CASK_MASTER_APIKEYS_H

#include <stdbool.h>

#define APIKEYS_MAX 4096

struct apikeys;

int apikeys_load(const char *path, struct apikeys **out);
void apikeys_free(struct apikeys *k); /* NULL is a no-op */

/* Whether a request may go on: `write` for PUT, DELETE and UNLINK,
 * `authorization` the header's value (NULL when absent). Returns 0, or
 * -EACCES (answer 401: no key, or not one of these) or -EPERM (403: a
 * read key for a write), with *why a one-line reason. */
int apikeys_check(const struct apikeys *k, bool write,
		  const char *authorization, const char **why);

#endif
