#include "master/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"

int snap_path(const char *dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/raft/snapshot.mdb", dir);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int snap_incoming_path(const char *dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/raft/incoming.mdb", dir);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The rename is durable only once the folder is synced. */
static int sync_dir(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/raft", dir);
	return fs_sync_dir(path);
}

int snap_save(struct idx *ix, const char *dir)
{
	char path[4096], tmp[4112];
	int rc = snap_path(dir, path, sizeof(path));
	if (rc)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		log_error("snapshot: %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = idx_copy(ix, fd);
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		rc = sync_dir(dir);
	if (rc) {
		unlink(tmp);
		log_error("snapshot: writing %s failed: %s", path,
			  strerror(-rc));
	}
	return rc;
}

int snap_install(struct idx *ix, const char *dir)
{
	char path[4096], in[4096] = "";
	int rc = snap_path(dir, path, sizeof(path));
	if (!rc)
		rc = snap_incoming_path(dir, in, sizeof(in));
	if (!rc)
		rc = idx_install(ix, in);
	if (!rc && rename(in, path))
		rc = -errno;
	if (!rc)
		rc = sync_dir(dir);
	if (rc)
		log_error("snapshot: installing %s failed: %s", in,
			  strerror(-rc));
	return rc;
}
