#include "master/write/move.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/httpc.h"
#include "common/httperr.h"
#include "common/key.h"
#include "common/log.h"
#include "common/md5.h"
#include "common/placement.h"

struct download {
	FILE *f;
	struct md5 md5;
	uint64_t size;
	bool write_failed;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n;
	if (fwrite(p, 1, len, d->f) != len) {
		d->write_failed = true;
		return 0;
	}
	md5_update(&d->md5, p, len);
	d->size += len;
	return len;
}

/* Keeps the Content-Md5 header of a volume's answer. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	char *hex = arg;
	size_t len = size * n;
	static const char name[] = "Content-Md5:";
	if (len > sizeof(name) && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		const char *v = p + sizeof(name) - 1;
		while (*v == ' ')
			v++;
		if (p + len - v >= 2 * MD5_LEN) {
			memcpy(hex, v, 2 * MD5_LEN);
			hex[2 * MD5_LEN] = '\0';
		}
	}
	return len;
}

static void common_opts(CURL *e, const char *url, long timeout_ms)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	/* Values may be large: no overall timeout, but no stalls either. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
}

static void vol_url(char *url, size_t cap, const struct vol *v,
		    const char *path)
{
	snprintf(url, cap, "http://%s%s", v->addr, path);
}

/* Downloads the key from v into f. True when it arrived whole and its
 * bytes match the record. */
static bool fetch_good(const struct move_deps *d, const struct vol *v,
		       const char *path, const struct idx_record *rec, FILE *f)
{
	char url[IDX_ADDR_MAX + KEY_PCT_MAX + 16];
	vol_url(url, sizeof(url), v, path);
	struct download dl = {.f = f};
	CURL *e = curl_easy_init();
	if (!e || md5_init(&dl.md5)) {
		if (e)
			curl_easy_cleanup(e);
		return false;
	}
	rewind(f);
	common_opts(e, url, d->timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)&dl);
	CURLcode cc = curl_easy_perform(e);
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	uint8_t got[MD5_LEN];
	md5_final(&dl.md5, got);
	bool ok = cc == CURLE_OK && code == 200 && !dl.write_failed &&
		  fflush(f) == 0 && dl.size == rec->size &&
		  memcmp(got, rec->md5, MD5_LEN) == 0;
	if (!ok)
		log_warn("copy: %s is not a good source (status %ld, %s)", url,
			 code,
			 cc != CURLE_OK
				 ? curl_easy_strerror(cc)
				 : "size or md5 differs from the record");
	return ok;
}

/* Uploads f to v. True on 201 with the recorded md5. */
static bool store(const struct move_deps *d, const struct vol *v,
		  const char *path, const struct idx_record *rec, FILE *f)
{
	char url[IDX_ADDR_MAX + KEY_PCT_MAX + 16];
	vol_url(url, sizeof(url), v, path);
	char hex[2 * MD5_LEN + 1] = "", want[2 * MD5_LEN + 1];
	md5_hex(rec->md5, want);
	CURL *e = curl_easy_init();
	if (!e)
		return false;
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	rewind(f);
	common_opts(e, url, d->timeout_ms);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READDATA, (void *)f);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rec->size);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)hex);
	struct httpc_signed sig;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER,
			 httpc_sign_before(&sig, h, "PUT", url,
					   (uint64_t)rec->size, NULL));
	CURLcode cc = curl_easy_perform(e);
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	bool ok = cc == CURLE_OK && code == 201 && strcmp(hex, want) == 0;
	if (!ok)
		log_warn("copy: PUT %s failed (status %ld, %s)", url, code,
			 cc != CURLE_OK ? curl_easy_strerror(cc)
					: "md5 differs from the record");
	return ok;
}

static bool has(const uint32_t *ids, unsigned n, uint32_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The copies a failed move wrote are not in any record: purge them. */
static void forget(const struct move_deps *d, const char *key, size_t keylen,
		   const uint32_t *ids, unsigned n)
{
	if (!n)
		return;
	struct cmd c = {.type = CMD_PURGE_ADD, .key = key, .keylen = keylen};
	c.nvols = n;
	memcpy(c.vols, ids, n * sizeof(ids[0]));
	if (commit_run(d->cm, &c) == 0)
		purge_poke(d->pg);
}

/* Copies the value from a good replica to each of the `nmiss` volumes;
 * `wrote` gets the ones that took a copy. Returns 0 or an HTTP status. */
static unsigned copy_to(const struct move_deps *d, const char *path,
			const struct idx_record *rec, uint32_t skip,
			const struct vol **miss, unsigned nmiss,
			uint32_t *wrote, unsigned *nwrote, const char **why)
{
	FILE *f = tmpfile();
	if (!f) {
		*why = "no temp file for the copy";
		return 500;
	}
	bool got = false;
	for (unsigned i = 0; i < rec->nvols && !got; i++) {
		if (skip & (1u << i))
			continue;
		const struct vol *src = vol_by_id(d->vs, rec->vols[i]);
		if (src && atomic_load(&src->healthy))
			got = fetch_good(d, src, path, rec, f);
	}
	unsigned status = 0;
	if (!got) {
		*why = "no live replica has the recorded bytes";
		status = 503;
	}
	for (unsigned i = 0; !status && i < nmiss; i++) {
		if (!store(d, miss[i], path, rec, f)) {
			*why = "a volume refused the copy";
			status = 502;
		}
		wrote[(*nwrote)++] = miss[i]->id;
	}
	fclose(f);
	return status;
}

unsigned move_key(const struct move_deps *d, const char *key, size_t keylen,
		  const char **why)
{
	struct idx_record rec;
	struct idx_copies cp;
	int rc = idx_get_copies(d->ix, key, keylen, &rec, &cp);
	if (rc == -ENOENT) {
		*why = "no such key";
		return 404;
	}
	if (rc) {
		*why = "index read failed";
		return 500;
	}
	const struct vol_active *act = vol_active(d->vs);
	size_t win[CMD_MAX_VOLS];
	int n = placement_pick_set(key, keylen, act, act->n, vol_active_addr,
				   d->replicas, win);
	if (n <= 0) {
		*why = n ? httperr_reason(n) : "no active volumes";
		return n ? httperr_status(n) : 503;
	}
	uint32_t want[CMD_MAX_VOLS];
	const struct vol *miss[CMD_MAX_VOLS];
	unsigned nmiss = 0;
	bool same = (unsigned)n == rec.nvols;
	for (int i = 0; i < n; i++) {
		want[i] = act->v[win[i]]->id;
		same = same && rec.vols[i] == want[i];
		if (!has(rec.vols, rec.nvols, want[i]))
			miss[nmiss++] = act->v[win[i]];
	}
	if (same) {
		*why = "already balanced";
		return 200;
	}
	/* Copies not believed good are no source. */
	return move_copies(d, key, keylen, &rec, cp.lost | cp.unverified, miss,
			   nmiss, want, (unsigned)n, why);
}

unsigned move_copies(const struct move_deps *d, const char *key, size_t keylen,
		     const struct idx_record *rec, uint32_t skip,
		     const struct vol **miss, unsigned nmiss,
		     const uint32_t *want, unsigned nwant, const char **why)
{
	assert(nwant > 0 && nwant <= CMD_MAX_VOLS && nmiss <= nwant);
	char path[KEY_PCT_MAX];
	if (key_pct_encode(key, keylen, path, sizeof(path)) < 0) {
		*why = "key does not encode";
		return 500;
	}
	uint32_t wrote[CMD_MAX_VOLS];
	unsigned nwrote = 0;
	unsigned status =
		copy_to(d, path, rec, skip, miss, nmiss, wrote, &nwrote, why);
	if (status) {
		forget(d, key, keylen, wrote, nwrote);
		return status;
	}
	struct cmd c = {.type = CMD_RECORD,
			.key = key,
			.keylen = keylen,
			.expect = CMD_EXPECT_MD5,
			.written = true,
			.purge_dropped = true,
			.state = (uint8_t)rec->state,
			.size = rec->size,
			.created_ms = rec->created_ms,
			.nvols = nwant};
	memcpy(c.expect_md5, rec->md5, MD5_LEN);
	memcpy(c.md5, rec->md5, MD5_LEN);
	memcpy(c.vols, want, sizeof(want[0]) * nwant);
	int rc = commit_run(d->cm, &c);
	if (rc) {
		forget(d, key, keylen, wrote, nwrote);
		*why = rc == -ESTALE ? "the key changed during the copy"
		       : httperr_status(rc) == 503 ? httperr_reason(rc)
						   : "index commit failed";
		return httperr_status(rc);
	}
	purge_poke(d->pg);
	*why = "moved";
	return 204;
}
