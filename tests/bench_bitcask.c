/* Benchmark of the Bitcask engine in-process, no HTTP: put and get cost
 * per value size (sync none: engine speed), group commit throughput with
 * 64 writers, keydir memory and reopen time at 1M keys. Prints markdown
 * table rows. Works in a directory under /tmp that it removes. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "volume/bitcask.h"

#define MILLION 1000000

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_bitcask: %s: %s\n", what, strerror(-rc));
	exit(1);
}

static struct bc *open_store(const char *dir, enum bc_sync sync)
{
	struct bc_options o = {.dir = dir,
			       .segment_size = 1ull << 30,
			       .sync = sync,
			       .merge_threshold = 0.5};
	struct bc *bc;
	int rc = bc_open(&o, &bc);
	if (rc)
		die("open", rc);
	return bc;
}

static int key_of(long i, char *out)
{
	return sprintf(out, "/bench/%08ld", i);
}

static void size_rows(const char *base, size_t size)
{
	char dir[256], k[32];
	snprintf(dir, sizeof(dir), "%s/size%zu", base, size);
	struct bc *bc = open_store(dir, BC_SYNC_NONE);
	long n = (long)((64u << 20) / size);
	if (n > 100000)
		n = 100000;
	char *val = malloc(size);
	if (!val)
		die("malloc", -ENOMEM);
	memset(val, 'v', size);
	double t0 = now();
	for (long i = 0; i < n; i++) {
		int rc = bc_put(bc, k, (size_t)key_of(i, k), val, size, NULL);
		if (rc)
			die("put", rc);
	}
	double put = (now() - t0) / (double)n * 1e9;
	t0 = now();
	for (long i = 0; i < n; i++) {
		struct bc_entry e;
		void *copy;
		int fd;
		/* The volume's GET path for values up to 64 KiB. */
		int rc = bc_read(bc, k, (size_t)key_of((i * 7919) % n, k), size,
				 &e, &copy, &fd);
		if (rc)
			die("get", rc);
		if (!copy || e.size != size)
			die("get", -EIO);
		free(copy);
	}
	double get = (now() - t0) / (double)n * 1e9;
	char label[32];
	if (size >= 1024)
		snprintf(label, sizeof(label), "%zu KiB", size / 1024);
	else
		snprintf(label, sizeof(label), "%zu B", size);
	printf("| bitcask put %s | %.0f ns/op |\n", label, put);
	printf("| bitcask get %s (bc_read: lookup, pread into a copy) | %.0f "
	       "ns/op |\n",
	       label, get);
	bc_close(bc);
	free(val);
	rm_rf(dir);
}

struct batch_arg {
	struct bc *bc;
	int id, n;
};

static void *batch_writer(void *p)
{
	struct batch_arg *a = p;
	char k[32], v[4096];
	memset(v, 'b', sizeof(v));
	for (int i = 0; i < a->n; i++) {
		int rc = bc_put(a->bc, k,
				(size_t)key_of((long)a->id * a->n + i, k), v,
				sizeof(v), NULL);
		if (rc)
			die("batch put", rc);
	}
	return NULL;
}

static void batch_row(const char *base)
{
	enum { T = 64, PER = 150 };
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/batch", base);
	struct bc *bc = open_store(dir, BC_SYNC_BATCH);
	pthread_t t[T];
	struct batch_arg a[T];
	double t0 = now();
	for (int i = 0; i < T; i++) {
		a[i] = (struct batch_arg){bc, i, PER};
		pthread_create(&t[i], NULL, batch_writer, &a[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	double secs = now() - t0;
	struct bc_stats st;
	bc_stats(bc, &st);
	printf("| bitcask put 4 KiB, sync batch, 64 threads | %.0f writes/s, "
	       "%.1f writes per fsync |\n",
	       (double)(T * PER) / secs,
	       st.syncs ? (double)st.synced_writes / (double)st.syncs : 0.0);
	bc_close(bc);
	rm_rf(dir);
}

/* CPU of the process: user + system, in seconds. */
static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The cost of one durable small write: the volume's group commit syncs
 * about this often per PUT and per DELETE under light load. */
static void sync_row(const char *base)
{
	enum { N = 2000 };
	char dir[256], k[32], v[25];
	snprintf(dir, sizeof(dir), "%s/sync", base);
	memset(v, 's', sizeof(v));
	struct bc *bc = open_store(dir, BC_SYNC_ALWAYS);
	double t0 = now(), c0 = cpu_now();
	for (long i = 0; i < N; i++) {
		int rc =
			bc_put(bc, k, (size_t)key_of(i, k), v, sizeof(v), NULL);
		if (rc)
			die("sync put", rc);
	}
	double secs = now() - t0, cpu = cpu_now() - c0;
	printf("| bitcask put 25 B, sync always, one writer | %.0f µs/op, "
	       "%.0f µs CPU/op |\n",
	       secs * 1e6 / N, cpu * 1e6 / N);
	bc_close(bc);
	rm_rf(dir);
}

static void million_rows(const char *base)
{
	char dir[256], k[32], v[16];
	snprintf(dir, sizeof(dir), "%s/million", base);
	memset(v, 'm', sizeof(v));
	struct bc *bc = open_store(dir, BC_SYNC_NONE);
	for (long i = 0; i < MILLION; i++) {
		int rc =
			bc_put(bc, k, (size_t)key_of(i, k), v, sizeof(v), NULL);
		if (rc)
			die("put", rc);
	}
	struct bc_stats st;
	bc_stats(bc, &st);
	double per = (double)st.keydir_bytes / (double)st.keys;
	size_t klen = (size_t)key_of(0, k);
	printf("| bitcask keydir at 1M keys (%zu-byte keys) | %.1f bytes/key "
	       "(key + %.1f) |\n",
	       klen, per, per - (double)klen);
	bc_close(bc);

	double t0 = now();
	bc = open_store(dir, BC_SYNC_NONE);
	double hinted = now() - t0;
	bc_stats(bc, &st);
	if (st.keys != MILLION)
		die("reopen lost keys", -EIO);
	bc_close(bc);
	printf("| bitcask reopen 1M keys, with hints | %.0f ms |\n",
	       hinted * 1e3);

	char hint[300];
	snprintf(hint, sizeof(hint), "%s/00000001.hint", dir);
	unlink(hint);
	t0 = now();
	bc = open_store(dir, BC_SYNC_NONE);
	double scanned = now() - t0;
	bc_close(bc);
	printf("| bitcask reopen 1M keys, scan without hints | %.0f ms |\n",
	       scanned * 1e3);
	rm_rf(dir);
}

int main(void)
{
	static const size_t sizes[] = {128,  256,  512,	  1024,
				       4096, 8192, 16384, 32768};
	char base[] = "/tmp/bench_bitcask.XXXXXX";
	if (!mkdtemp(base))
		die("mkdtemp", -errno);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		size_rows(base, sizes[i]);
	batch_row(base);
	sync_row(base);
	million_rows(base);
	rm_rf(base);
	return 0;
}
