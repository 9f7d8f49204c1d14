/* cask-volume on a full disk: a size-limited tmpfs. Needs root to mount;
 * elsewhere it exits 77, which automake reports as SKIP. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "tests/harness.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			failed = 1;                                            \
			goto out;                                              \
		}                                                              \
	} while (0)

static long put(int port, const char *key, const void *val, size_t len)
{
	char url[256];
	struct harness_resp r;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, key);
	if (harness_http("PUT", url, val, len, NULL, &r))
		return -1;
	long code = r.code;
	if (code == 507 && !strstr(r.body, "no space"))
		code = -2;
	harness_resp_free(&r);
	return code;
}

static int same(int port, const char *key, const void *val, size_t len)
{
	char url[256];
	struct harness_resp r;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, key);
	if (harness_http("GET", url, NULL, 0, NULL, &r))
		return 0;
	int ok = r.code == 200 && r.len == len && !memcmp(r.body, val, len);
	harness_resp_free(&r);
	return ok;
}

int main(void)
{
	const char *dir = harness_tmpdir("full");
	char mnt[600], log[600], portbuf[16];
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	snprintf(log, sizeof(log), "%s/volume.log", dir);
	mkdir(mnt, 0755);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=6m")) {
		fprintf(stderr, "SKIP: cannot mount a tmpfs (%s): needs root\n",
			strerror(errno));
		return 77;
	}
	int failed = 0;
	enum { VAL = 256 * 1024, MAXKEYS = 64 };
	static char vals[MAXKEYS][VAL];
	int port = harness_free_port();
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	const char *args[] = {"-port",	       portbuf, "-bind",
			      "127.0.0.1",     "-dir",	mnt,
			      "-segment-size", "1M",	NULL};
	struct harness_proc p;
	CHECK(harness_start(&p, "cask-volume", port, args, log) == 0);

	int stored = 0;
	long code = 0;
	for (int i = 0; i < MAXKEYS; i++) {
		char key[32];
		snprintf(key, sizeof(key), "/full/%d", i);
		harness_fill(vals[i], VAL, (unsigned)i + 1);
		code = put(port, key, vals[i], VAL);
		if (code != 201)
			break;
		stored++;
	}
	/* 6 MiB cannot hold 64 × 256 KiB: the disk fills, with a clear 507. */
	CHECK(code == 507);
	CHECK(stored >= 8);
	/* Every key acknowledged before the disk filled still reads back,
	 * now and after a crash and restart. */
	for (int i = 0; i < stored; i++) {
		char key[32];
		snprintf(key, sizeof(key), "/full/%d", i);
		CHECK(same(port, key, vals[i], VAL));
	}
	harness_signal(&p, SIGKILL);
	CHECK(harness_restart(&p) == 0);
	for (int i = 0; i < stored; i++) {
		char key[32];
		snprintf(key, sizeof(key), "/full/%d", i);
		CHECK(same(port, key, vals[i], VAL));
	}
	/* Room made by deletes can be written again once merged; a small
	 * value fits in what is left or is refused cleanly. */
	code = put(port, "/small", "s", 1);
	CHECK(code == 201 || code == 507);
	harness_stop(&p);
	printf("disk full: %d values stored, then 507; all read back\n",
	       stored);
out:
	if (p.pid > 0)
		harness_signal(&p, SIGKILL);
	umount2(mnt, MNT_DETACH);
	printf("%d passed, %d failed\n", failed ? 0 : 1, failed);
	return failed;
}
