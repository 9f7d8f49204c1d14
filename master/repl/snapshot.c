#include "master/repl/snapshot.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"

/* <dir>/<rel> into out; -ENAMETOOLONG when it does not fit. */
static int in_dir(const char *dir, const char *rel, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", dir, rel);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int snap_path(const char *dir, char *out, size_t cap)
{
	return in_dir(dir, "raft/snapshot.mdb", out, cap);
}

int snap_incoming_path(const char *dir, char *out, size_t cap)
{
	return in_dir(dir, "raft/incoming.mdb", out, cap);
}

/* The rename is durable only once the folder is synced. */
static int sync_dir(const char *dir)
{
	char path[4096];
	int rc = in_dir(dir, "raft", path, sizeof(path));
	return rc ? rc : fs_sync_dir(path);
}

/* Where snap_write puts the copy until snap_publish. */
static int tmp_path(const char *dir, char *out, size_t cap)
{
	return in_dir(dir, "raft/snapshot.mdb.tmp", out, cap);
}

int snap_write(const struct machine *m, const char *dir)
{
	assert(m && dir);
	char tmp[4096];
	int rc = tmp_path(dir, tmp, sizeof(tmp));
	if (rc)
		return rc;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		log_error("snapshot: %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = m->ops->copy(m->arg, fd);
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	if (rc) {
		unlink(tmp);
		log_error("snapshot: writing %s failed: %s", tmp,
			  strerror(-rc));
	}
	return rc;
}

int snap_publish(const char *dir)
{
	char path[4096], tmp[4096];
	int rc = snap_path(dir, path, sizeof(path));
	if (!rc)
		rc = tmp_path(dir, tmp, sizeof(tmp));
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		rc = sync_dir(dir);
	if (rc)
		log_error("snapshot: publishing %s failed: %s", path,
			  strerror(-rc));
	return rc;
}

void snap_abandon(const char *dir)
{
	char tmp[4096];
	if (tmp_path(dir, tmp, sizeof(tmp)) == 0)
		unlink(tmp);
}

int snap_install(const struct machine *m, const char *dir)
{
	assert(m && dir);
	char path[4096], in[4096] = "";
	int rc = snap_path(dir, path, sizeof(path));
	if (!rc)
		rc = snap_incoming_path(dir, in, sizeof(in));
	if (!rc)
		rc = m->ops->install(m->arg, in);
	if (!rc && rename(in, path))
		rc = -errno;
	if (!rc)
		rc = sync_dir(dir);
	if (rc)
		log_error("snapshot: installing %s failed: %s", in,
			  strerror(-rc));
	return rc;
}

/* The kernel's id for this boot, "" when unknown (it then matches no
 * marker, so every start restores: slower, never wrong). */
static void boot_id(char *out, size_t cap)
{
	*out = '\0';
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return;
	if (!fgets(out, (int)cap, f))
		*out = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* A synced copy of the file at `from` as `to`. */
static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		int rc = -errno;
		close(in);
		return rc;
	}
	char buf[1 << 16];
	int rc = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		rc = fs_write_all(out, buf, (size_t)n);
		if (rc)
			break;
	}
	if (!rc && fsync(out))
		rc = -errno;
	close(in);
	if (close(out) && !rc)
		rc = -errno;
	return rc;
}

/* state/ becomes the snapshot, or empty without one. */
static int restore_state(const char *dir, bool *from_snapshot)
{
	char snap[4096], data[4096], tmp[4096], lock[4096], sdir[4096];
	int rc = snap_path(dir, snap, sizeof(snap));
	if (!rc)
		rc = in_dir(dir, "state/data.mdb", data, sizeof(data));
	if (!rc)
		rc = in_dir(dir, "state/data.mdb.restore", tmp, sizeof(tmp));
	if (!rc)
		rc = in_dir(dir, "state/lock.mdb", lock, sizeof(lock));
	if (!rc)
		rc = in_dir(dir, "state", sdir, sizeof(sdir));
	if (rc)
		return rc;
	*from_snapshot = access(snap, F_OK) == 0;
	if (*from_snapshot) {
		rc = copy_file(snap, tmp);
		if (!rc && rename(tmp, data))
			rc = -errno;
		if (rc)
			unlink(tmp);
	} else if (unlink(data) && errno != ENOENT) {
		rc = -errno;
	}
	/* The reader table of the torn environment means nothing now. */
	if (!rc && unlink(lock) && errno != ENOENT)
		rc = -errno;
	return rc ? rc : fs_sync_dir(sdir);
}

int snap_state_recover(const char *dir)
{
	char path[4096], boot[64], seen[64] = "";
	int rc = in_dir(dir, "state/unsynced", path, sizeof(path));
	if (rc)
		return rc;
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(seen, sizeof(seen), f))
		*seen = '\0';
	fclose(f);
	seen[strcspn(seen, "\n")] = '\0';
	boot_id(boot, sizeof(boot));
	if (*boot && strcmp(seen, boot) == 0)
		return 0; /* the kernel that holds the writes is still up */
	bool from_snapshot = false;
	rc = restore_state(dir, &from_snapshot);
	if (rc) {
		log_error("snapshot: restoring %s/state after a restart of "
			  "the machine: %s",
			  dir, strerror(-rc));
		return rc;
	}
	log_warn("snapshot: %s/state may have lost writes in a restart of "
		 "the machine: %s",
		 dir,
		 from_snapshot ? "restored it from raft/snapshot.mdb, the log "
				 "replays the rest"
			       : "emptied it (no snapshot yet), the log "
				 "replays it all");
	return 0;
}

int snap_state_mark(const char *dir)
{
	char path[4096], sdir[4096], boot[64];
	int rc = in_dir(dir, "state/unsynced", path, sizeof(path));
	if (!rc)
		rc = in_dir(dir, "state", sdir, sizeof(sdir));
	if (rc)
		return rc;
	boot_id(boot, sizeof(boot));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
	} else {
		size_t len = strlen(boot);
		boot[len] = '\n';
		rc = fs_write_all(fd, boot, len + 1);
		if (!rc && fsync(fd))
			rc = -errno;
		close(fd);
	}
	if (!rc)
		rc = fs_sync_dir(sdir);
	if (rc)
		log_error("snapshot: writing %s: %s", path, strerror(-rc));
	return rc;
}

int snap_state_clean(const char *dir)
{
	char path[4096], sdir[4096];
	int rc = in_dir(dir, "state/unsynced", path, sizeof(path));
	if (!rc)
		rc = in_dir(dir, "state", sdir, sizeof(sdir));
	if (!rc && unlink(path) && errno != ENOENT)
		rc = -errno;
	if (!rc)
		rc = fs_sync_dir(sdir);
	if (rc)
		log_warn("snapshot: removing %s: %s", path, strerror(-rc));
	return rc;
}
