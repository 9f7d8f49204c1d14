/* cask-rebuild: brings the master's index in line with what the volumes
 * hold, online, through the master's admin endpoints.
 *
 * Every copy on every volume (rebuild/scan.h) is merged, in key order,
 * with the index's records (GET /_/admin/records). Per key:
 *   missing   on volumes, no record: added (the copies with the value
 *             most replicas agree on, ordered by placement)
 *   orphan    a good copy on a volume the record does not name: added to
 *             the record's volumes
 *   stale     the record names a volume that lacks the copy: dropped
 *   mismatch  replicas (or record and replicas) disagree on the md5:
 *             reported; the record keeps the copies matching its md5
 *   lost      a record no volume holds: reported, removed with -prune
 * Changes are posted in batches as compare-and-set upserts, so a key a
 * client wrote or deleted meanwhile is left alone (reported as skipped).
 * Re-running finds only what is still different, so an interrupted run
 * is resumed by running it again.
 * Exit status: 0 in line (or -dry-run done), 1 when something could not
 * be applied or read, 2 for bad flags. */
#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/adminc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/placement.h"
#include "common/progress.h"
#include "common/sign.h"
#include "rebuild/scan.h"

#define BATCH_BYTES (900u << 10)

struct run {
	const char *master;
	bool dry_run, prune;
	size_t batch_max;
	struct adminc_volumes vs;
	struct scan sc;
	size_t at; /* next copy to merge */
	struct buf batch;
	size_t batch_lines;
	uint64_t keys, records, missing, orphan, stale, mismatch, lost;
	uint64_t applied, skipped;
	int rc;
	struct progress pr;
};

static const char *addr(const struct run *r, int vol)
{
	return vol >= 0 ? r->vs.v[vol].addr : "(unknown volume)";
}

static void say(const struct run *r, const char *what, const char *key,
		size_t keylen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void say(const struct run *r, const char *what, const char *key,
		size_t keylen, const char *fmt, ...)
{
	if (r->pr.tty && r->pr.drawn_us)
		fputs("\r\033[K", stderr);
	printf("%-8s %.*s", what, (int)keylen, key);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void skipped(void *arg, const char *key, size_t keylen,
		    const char *error)
{
	struct run *r = arg;
	r->skipped++;
	say(r, "skipped", key, keylen, ": %s (written meanwhile; run again)",
	    error);
}

static void flush(struct run *r)
{
	if (!r->batch_lines)
		return;
	size_t applied = 0;
	int rc = buf_failed(&r->batch)
			 ? -ENOMEM
			 : adminc_post_records(r->master, r->batch.data,
					       r->batch.len, &applied, skipped,
					       r);
	if (rc && !r->rc)
		r->rc = rc;
	r->applied += applied;
	buf_free(&r->batch);
	r->batch_lines = 0;
}

static void add_line(struct run *r)
{
	buf_append(&r->batch, "\n", 1);
	if (++r->batch_lines == r->batch_max || r->batch.len > BATCH_BYTES)
		flush(r);
}

/* Appends an upsert of key to the batch. */
static void upsert(struct run *r, const char *key, size_t keylen,
		   const struct copy *good, const int *vols, unsigned n,
		   const struct adminc_record *rec)
{
	char hex[2 * MD5_LEN + 1];
	struct buf *b = &r->batch;
	buf_append(b, "{\"key\":", 7);
	buf_json_string(b, key, keylen);
	md5_hex(good->md5, hex);
	buf_printf(b, ",\"size\":%llu,\"md5\":\"%s\",\"volumes\":[",
		   (unsigned long long)good->size, hex);
	for (unsigned i = 0; i < n; i++) {
		buf_append(b, i ? "," : "", i ? 1 : 0);
		buf_json_string(b, addr(r, vols[i]), strlen(addr(r, vols[i])));
	}
	if (rec) {
		md5_hex(rec->md5, hex);
		buf_printf(b,
			   "],\"state\":\"%s\",\"created_ms\":%llu,"
			   "\"expect\":\"%s\"}",
			   rec->unlinked ? "unlinked" : "live",
			   (unsigned long long)rec->created_ms, hex);
	} else {
		buf_append(b, "],\"expect\":\"absent\"}", 20);
	}
	add_line(r);
}

static void prune(struct run *r, const struct adminc_record *rec)
{
	char hex[2 * MD5_LEN + 1];
	md5_hex(rec->md5, hex);
	buf_append(&r->batch, "{\"key\":", 7);
	buf_json_string(&r->batch, rec->key, rec->keylen);
	buf_printf(&r->batch, ",\"remove\":true,\"expect\":\"%s\"}", hex);
	add_line(r);
}

static bool same_value(const struct copy *a, const uint8_t *md5, uint64_t size)
{
	return a->size == size && memcmp(a->md5, md5, MD5_LEN) == 0;
}

/* The copy whose value most copies share (first wins ties). */
static const struct copy *majority(const struct copy *g, size_t n)
{
	const struct copy *best = &g[0];
	size_t best_n = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		for (size_t j = 0; j < n; j++)
			k += same_value(&g[j], g[i].md5, g[i].size);
		if (k > best_n) {
			best = &g[i];
			best_n = k;
		}
	}
	return best;
}

static bool in(const int *vols, unsigned n, int v)
{
	for (unsigned i = 0; i < n; i++)
		if (vols[i] == v)
			return true;
	return false;
}

/* One key: its copies g[0..n) (maybe none) and its record (maybe NULL). */
static void judge(struct run *r, const char *key, size_t keylen,
		  const struct copy *g, size_t n,
		  const struct adminc_record *rec)
{
	r->keys += n > 0;
	if (!n) {
		/* Only an index record can have no copy on any volume. */
		assert(rec);
		r->lost++;
		say(r, "lost", key, keylen, ": no volume holds it%s",
		    r->prune && !r->dry_run ? " (pruned)" : "");
		if (r->prune && !r->dry_run)
			prune(r, rec);
		return;
	}
	for (size_t i = 1; i < n; i++)
		if (!same_value(&g[i], g[0].md5, g[0].size)) {
			char a[2 * MD5_LEN + 1], b[2 * MD5_LEN + 1];
			md5_hex(g[0].md5, a);
			md5_hex(g[i].md5, b);
			r->mismatch++;
			say(r, "mismatch", key, keylen,
			    ": %s has %s, %s has %s", addr(r, g[0].vol), a,
			    addr(r, g[i].vol), b);
			break;
		}
	const struct copy *good = majority(g, n);
	for (size_t i = 0; rec && i < n; i++)
		if (same_value(&g[i], rec->md5, rec->size))
			good = &g[i];
	if (rec && !same_value(good, rec->md5, rec->size)) {
		char a[2 * MD5_LEN + 1];
		md5_hex(rec->md5, a);
		r->mismatch++;
		say(r, "mismatch", key, keylen,
		    ": the index says %s, no volume holds that value", a);
		return;
	}
	/* The good copies, ordered by placement among themselves. */
	const char *addrs[ADMINC_MAX_VOLS], *zones[ADMINC_MAX_VOLS];
	int cand[ADMINC_MAX_VOLS] = {0}, vols[ADMINC_MAX_VOLS] = {0};
	size_t order[ADMINC_MAX_VOLS];
	unsigned ng = 0;
	for (size_t i = 0; i < n && ng < ADMINC_MAX_VOLS; i++)
		if (same_value(&g[i], good->md5, good->size)) {
			cand[ng] = g[i].vol;
			zones[ng] = g[i].vol >= 0 ? r->vs.v[g[i].vol].zone : "";
			addrs[ng++] = addr(r, g[i].vol);
		}
	int picked = placement_pick(key, keylen, addrs, zones, ng, ng, order);
	for (int i = 0; i < picked; i++)
		vols[i] = cand[order[i]];
	if (!rec) {
		r->missing++;
		if (r->dry_run)
			say(r, "missing", key, keylen, ": on %u volume%s", ng,
			    ng == 1 ? "" : "s");
		else
			upsert(r, key, keylen, good, vols, ng, NULL);
		return;
	}
	bool change = false;
	for (unsigned i = 0; i < ng; i++)
		if (!in(rec->vols, rec->nvols, vols[i])) {
			r->orphan++;
			change = true;
			say(r, "orphan", key, keylen, ": on %s",
			    addr(r, vols[i]));
		}
	for (unsigned i = 0; i < rec->nvols; i++)
		if (!in(vols, ng, rec->vols[i])) {
			r->stale++;
			change = true;
			say(r, "stale", key, keylen, ": %s lacks it",
			    addr(r, rec->vols[i]));
		}
	if (change && !r->dry_run)
		upsert(r, key, keylen, good, vols, ng, rec);
}

/* Judges every key of the copies before (key, keylen), or all that are
 * left when key is NULL; then the record's own key. */
static void merge_until(struct run *r, const char *key, size_t keylen,
			const struct adminc_record *rec)
{
	const struct copy *c = r->sc.c;
	while (r->at < r->sc.n &&
	       (!key ||
		scan_keycmp(c[r->at].key, c[r->at].keylen, key, keylen) < 0)) {
		size_t end = r->at + 1;
		while (end < r->sc.n &&
		       scan_keycmp(c[end].key, c[end].keylen, c[r->at].key,
				   c[r->at].keylen) == 0)
			end++;
		judge(r, c[r->at].key, c[r->at].keylen, &c[r->at], end - r->at,
		      NULL);
		r->at = end;
		progress_update(&r->pr, r->keys, r->skipped);
	}
	if (!key)
		return;
	size_t end = r->at;
	while (end < r->sc.n &&
	       scan_keycmp(c[end].key, c[end].keylen, key, keylen) == 0)
		end++;
	judge(r, key, keylen, &c[r->at], end - r->at, rec);
	r->at = end;
	progress_update(&r->pr, r->keys, r->skipped);
}

static int on_record(void *arg, const struct adminc_record *rec)
{
	struct run *r = arg;
	r->records++;
	merge_until(r, rec->key, rec->keylen, rec);
	return 0;
}

int main(int argc, char **argv)
{
	const char *master;
	bool dry_run, prune_lost;
	long batch;
	const char *secret_file;
	const struct flag flags[] = {
		{"master", FLAG_STR, &master, "localhost:3000",
		 "the master (host:port); its volumes are read"},
		{"dry-run", FLAG_BOOL, &dry_run, "false",
		 "print the differences, change nothing"},
		{"prune", FLAG_BOOL, &prune_lost, "false",
		 "remove records that no volume holds"},
		{"batch", FLAG_INT, &batch, "1000",
		 "records per admin request (1..1000)"},
		{"secret-file", FLAG_STR, &secret_file, NULL,
		 "the cluster secret, as the daemons were given it"},
		{0},
	};
	int rc = flags_parse(flags, argc, argv,
			     "Regenerates the master's index from what the "
			     "volumes hold, online.");
	if (rc)
		return rc > 0 ? 0 : 2;
	if (!*master || batch < 1 || batch > 1000) {
		fprintf(stderr, "%s: -master host:port, -batch 1..1000\n",
			argv[0]);
		return 2;
	}
	if (sign_init(secret_file))
		return 2;
	char base[1024];
	snprintf(base, sizeof(base), "%s%s",
		 strncmp(master, "http://", 7) ? "http://" : "", master);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct run *r = calloc(1, sizeof(*r));
	if (!r)
		return 1;
	r->master = base;
	r->dry_run = dry_run;
	r->prune = prune_lost;
	r->batch_max = (size_t)batch;
	uint64_t t0 = clock_mono_us();
	rc = adminc_volumes(base, &r->vs);
	if (!rc)
		rc = scan_volumes(&r->vs, &r->sc);
	if (!rc) {
		progress_init(&r->pr, "rebuild", 0);
		rc = adminc_records(base, &r->vs, 1000, on_record, r);
	}
	if (!rc) {
		merge_until(r, NULL, 0, NULL);
		flush(r);
		rc = r->rc;
		progress_end(&r->pr);
	}
	double secs = (double)(clock_mono_us() - t0) / 1e6;
	if (!rc)
		printf("rebuild: %zu volumes, %llu keys on volumes, %llu "
		       "records; missing %llu, orphan %llu, stale %llu, "
		       "mismatch %llu, lost %llu; %s %llu, skipped %llu in "
		       "%.2fs (%.0f keys/s)\n",
		       r->vs.n, (unsigned long long)r->keys,
		       (unsigned long long)r->records,
		       (unsigned long long)r->missing,
		       (unsigned long long)r->orphan,
		       (unsigned long long)r->stale,
		       (unsigned long long)r->mismatch,
		       (unsigned long long)r->lost,
		       r->dry_run ? "dry run, would apply" : "applied",
		       (unsigned long long)(r->dry_run
						    ? r->missing + r->orphan +
							      r->stale
						    : r->applied),
		       (unsigned long long)r->skipped, secs,
		       secs > 0 ? (double)r->keys / secs : 0);
	else
		log_error("rebuild failed: %s", strerror(-rc));
	int status = rc || r->skipped ? 1 : 0;
	scan_free(&r->sc);
	adminc_volumes_free(&r->vs);
	buf_free(&r->batch);
	free(r);
	curl_global_cleanup();
	return status;
}
