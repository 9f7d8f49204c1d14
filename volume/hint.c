#include "volume/hint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/fs.h"
#include "common/le.h"
#include "volume/record.h"

#define HINT_VERSION 1
#define HDR_SIZE     32
#define ENTRY_FIXED  35
/* Far above any real hint (tens of bytes per record of a segment), low
 * enough that a garbage size cannot make us allocate the machine. */
#define HINT_MAX (UINT64_C(1) << 34)

int hint_path(char *out, const char *dir, uint32_t seg, const char *ext)
{
	int n = snprintf(out, PATH_MAX, "%s/%08u.%s", dir, seg, ext);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

void hint_add(struct hint_builder *hb, const struct hint_entry *e)
{
	uint8_t f[ENTRY_FIXED];
	f[0] = e->type;
	le_put16(f + 1, e->klen);
	le_put64(f + 3, e->off);
	le_put64(f + 11, e->vlen);
	memcpy(f + 19, e->md5, MD5_LEN);
	buf_append(&hb->b, f, sizeof(f));
	buf_append(&hb->b, e->key, e->klen);
	hb->count++;
}

void hint_builder_free(struct hint_builder *hb)
{
	buf_free(&hb->b);
	hb->count = 0;
}

int hint_write(const char *dir, uint32_t seg, uint64_t covered,
	       struct hint_builder *hb)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	uint8_t h[HDR_SIZE] = {0}, t[4];
	int rc = hint_path(tmp, dir, seg, "hint.tmp");
	if (!rc)
		rc = hint_path(path, dir, seg, "hint");
	if (!rc && buf_failed(&hb->b))
		rc = -ENOMEM;
	if (rc) {
		hint_builder_free(hb);
		return rc;
	}
	le_put32(h, HINT_MAGIC);
	le_put32(h + 4, HINT_VERSION);
	le_put32(h + 8, seg);
	le_put64(h + 16, covered);
	le_put64(h + 24, hb->count);
	uint32_t crc = crc32c_update(0, h, sizeof(h));
	crc = crc32c_update(crc, hb->b.data, hb->b.len);
	le_put32(t, crc);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
	} else {
		rc = fs_write_all(fd, h, sizeof(h));
		if (!rc)
			rc = fs_write_all(fd, hb->b.data, hb->b.len);
		if (!rc)
			rc = fs_write_all(fd, t, sizeof(t));
		if (!rc && fsync(fd))
			rc = -EIO;
		close(fd);
		if (!rc && rename(tmp, path))
			rc = -errno;
		if (rc)
			unlink(tmp);
		else
			rc = fs_sync_dir(dir);
	}
	hint_builder_free(hb);
	return rc;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	struct stat st;
	int rc = 0;
	uint8_t *data = NULL;
	if (fstat(fd, &st)) {
		rc = -EIO;
	} else if (st.st_size < HDR_SIZE + 4 ||
		   (uint64_t)st.st_size > HINT_MAX) {
		rc = -EBADMSG;
	} else if (!(data = malloc((size_t)st.st_size))) {
		rc = -ENOMEM;
	} else {
		size_t got = 0, n = (size_t)st.st_size;
		while (!rc && got < n) {
			ssize_t k = read(fd, data + got, n - got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				rc = -EIO;
			else if (k == 0)
				rc = -EBADMSG;
			else
				got += (size_t)k;
		}
	}
	close(fd);
	if (rc) {
		free(data);
		return rc;
	}
	*out = data;
	*len = (size_t)st.st_size;
	return 0;
}

/* Parses the entry at *pos, checking each length against the bounds. */
static int parse_entry(const uint8_t *p, size_t end, size_t *pos,
		       uint64_t covered, struct hint_entry *e)
{
	if (end - *pos < ENTRY_FIXED)
		return -EBADMSG;
	const uint8_t *f = p + *pos;
	e->type = f[0];
	e->klen = le_get16(f + 1);
	e->off = le_get64(f + 3);
	e->vlen = le_get64(f + 11);
	memcpy(e->md5, f + 19, MD5_LEN);
	if (e->type != REC_PUT && e->type != REC_TOMBSTONE)
		return -EBADMSG;
	if (e->klen == 0 || e->klen > KEY_MAX || e->vlen > REC_VALUE_MAX)
		return -EBADMSG;
	if (e->type == REC_TOMBSTONE && e->vlen != 0)
		return -EBADMSG;
	if (e->off > covered || rec_size(e->klen, e->vlen) > covered - e->off)
		return -EBADMSG;
	if (end - *pos - ENTRY_FIXED < e->klen)
		return -EBADMSG;
	e->key = (const char *)f + ENTRY_FIXED;
	*pos += ENTRY_FIXED + e->klen;
	return 0;
}

int hint_load(const char *dir, uint32_t seg, uint64_t seg_size,
	      uint64_t *covered, hint_fn fn, void *arg)
{
	char path[PATH_MAX];
	uint8_t *p;
	size_t len;
	int rc = hint_path(path, dir, seg, "hint");
	if (rc)
		return rc;
	rc = read_file(path, &p, &len);
	if (rc)
		return rc;
	size_t end = len - 4;
	uint64_t cov = le_get64(p + 16), count = le_get64(p + 24);
	if (le_get32(p + end) != crc32c_update(0, p, end) ||
	    le_get32(p) != HINT_MAGIC || le_get32(p + 4) != HINT_VERSION ||
	    le_get32(p + 8) != seg || cov > seg_size)
		rc = -EBADMSG;
	/* Validate everything before applying anything, so a bad hint leaves
	 * no partial state behind and the caller can fall back to a scan. */
	struct hint_entry e;
	size_t pos = HDR_SIZE;
	uint64_t n = 0;
	while (!rc && pos < end) {
		rc = parse_entry(p, end, &pos, cov, &e);
		n++;
	}
	if (!rc && n != count)
		rc = -EBADMSG;
	for (pos = HDR_SIZE; !rc && pos < end;) {
		parse_entry(p, end, &pos, cov, &e);
		rc = fn(arg, &e);
	}
	free(p);
	if (!rc)
		*covered = cov;
	return rc;
}

int hint_remove(const char *dir, uint32_t seg)
{
	char path[PATH_MAX];
	int rc = hint_path(path, dir, seg, "hint");
	if (rc)
		return rc;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return fs_sync_dir(dir);
}
