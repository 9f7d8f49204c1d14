#include "thrasher/engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/key.h"
#include "common/md5.h"
#include "common/progress.h"

const char *const thr_op_names[THR_NOPS] = {"put", "get", "delete",
					    "get-deleted"};

#define URL_MAX (512 + KEY_PCT_MAX)
/* Wrong answers printed; a broken cluster should not flood the terminal. */
#define ERRORS_PRINTED 100
/* Values up to this size are generated into memory and sent with their
 * headers in one write: libcurl appends POSTFIELDS shorter than 64 KiB to
 * the request head. A streamed upload writes the head, then calls
 * on_read and writes the body, so the server wakes twice per PUT and
 * a benchmark of small values measures that second wake-up. */
#define INLINE_MAX (64 * 1024 - 1)

struct run {
	const struct thr_opts *o;
	struct thr_result *res;
	CURLM *multi;
	/* "Expect:" (no 100-continue round trip) and "Content-Type:" (no
	 * form content type on an inline body). */
	struct curl_slist *put_headers;
	uint64_t next_op;
	uint64_t start_us, deadline_us;
};

struct slot {
	struct run *run;
	unsigned id;
	CURL *e;
	enum thr_op step;
	uint64_t opno;
	uint64_t size;
	uint64_t off; /* bytes uploaded, or downloaded and checked */
	uint64_t bad_at;
	bool bad;
	bool hashing; /* md5 is initialized */
	uint64_t t0;
	struct md5 md5; /* of the bytes sent or received, for -history */
	/* The start of a non-GET answer's body: the server's one-line
	 * reason, printed with a wrong status. */
	char reason[120];
	size_t reason_len;
	uint8_t *inline_buf; /* the value of an inline PUT */
	size_t inline_cap;
	char key[KEY_MAX + 1];
	char url[URL_MAX];
};

/* splitmix64: a good 64-bit mix, so nearby inputs give unrelated bytes. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t value_base(const struct slot *s)
{
	return mix(s->run->o->seed ^ mix(s->opno));
}

/* Writes bytes [off, off + len) of slot s's value into out. */
static void value_bytes(const struct slot *s, uint64_t off, uint8_t *out,
			size_t len)
{
	uint64_t base = value_base(s);
	for (size_t i = 0; i < len;) {
		uint64_t at = off + i;
		uint64_t block = mix(base + at / 8);
		for (unsigned b = (unsigned)(at % 8); b < 8 && i < len; b++)
			out[i++] = (uint8_t)(block >> (8 * b));
	}
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t want = size * n;
	if (want > s->size - s->off)
		want = (size_t)(s->size - s->off);
	value_bytes(s, s->off, (uint8_t *)p, want);
	if (s->hashing)
		md5_update(&s->md5, p, want);
	s->off += want;
	return want;
}

/* A follower answers a write with 307 to the leader; following it means
 * sending the body again, which values generated from the seed allow. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
	struct slot *s = arg;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > s->size)
		return CURL_SEEKFUNC_CANTSEEK;
	s->off = (uint64_t)offset;
	if (s->hashing && offset == 0) {
		md5_discard(&s->md5);
		s->hashing = md5_init(&s->md5) == 0;
	}
	return CURL_SEEKFUNC_OK;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t len = size * n;
	if (s->step != THR_GET) {
		size_t room = sizeof(s->reason) - 1 - s->reason_len;
		size_t take = len < room ? len : room;
		memcpy(s->reason + s->reason_len, p, take);
		s->reason_len += take;
		return len;
	}
	if (s->hashing)
		md5_update(&s->md5, p, len);
	uint8_t want[16384];
	for (size_t done = 0; done < len && !s->bad;) {
		size_t chunk =
			len - done < sizeof(want) ? len - done : sizeof(want);
		if (s->off + chunk > s->size) {
			s->bad = true;
			s->bad_at = s->size;
			break;
		}
		value_bytes(s, s->off, want, chunk);
		for (size_t i = 0; i < chunk; i++)
			if (want[i] != (uint8_t)p[done + i]) {
				s->bad = true;
				s->bad_at = s->off + i;
				break;
			}
		s->off += chunk;
		done += chunk;
	}
	return len;
}

static uint64_t now_us(const struct run *r)
{
	return clock_mono_us() - r->start_us;
}

/* Generates the slot's value into its inline buffer. */
static int fill_inline(struct slot *s)
{
	size_t len = (size_t)s->size;
	if (len > s->inline_cap) {
		uint8_t *p = realloc(s->inline_buf, len);
		if (!p)
			return -ENOMEM;
		s->inline_buf = p;
		s->inline_cap = len;
	}
	value_bytes(s, 0, s->inline_buf, len);
	return 0;
}

/* PUT of the slot's value. A 307 from a follower is followed with the
 * same method and body either way: libcurl keeps CUSTOMREQUEST and
 * re-sends POSTFIELDS on a 307, and rewinds a streamed body with
 * on_seek. */
static void setup_put(struct slot *s)
{
	CURL *e = s->e;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->run->put_headers);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 2L);
	if (s->size <= INLINE_MAX && fill_inline(s) == 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, (void *)s->inline_buf);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)s->size);
		if (s->hashing)
			md5_update(&s->md5, s->inline_buf, (size_t)s->size);
		s->off = s->size;
		return;
	}
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(e, CURLOPT_READDATA, (void *)s);
	curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(e, CURLOPT_SEEKDATA, (void *)s);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->size);
}

static void begin_step(struct slot *s, enum thr_op step)
{
	const struct thr_opts *o = s->run->o;
	CURL *e = s->e;
	s->step = step;
	s->off = 0;
	s->bad = false;
	s->reason_len = 0;
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, s->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)s);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)s);
	s->hashing = o->history && md5_init(&s->md5) == 0;
	switch (step) {
	case THR_PUT:
		setup_put(s);
		break;
	case THR_GET:
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, 2L);
		break;
	case THR_DELETE:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, 2L);
		break;
	case THR_GET_DELETED:
	case THR_NOPS:
		break;
	}
	s->t0 = now_us(s->run);
	curl_multi_add_handle(s->run->multi, e);
}

/* Starts the slot's next sequence; false when the run is over. */
static bool begin_sequence(struct slot *s)
{
	struct run *r = s->run;
	const struct thr_opts *o = r->o;
	if (o->duration_ms ? clock_mono_us() >= r->deadline_us
			   : r->next_op >= o->ops)
		return false;
	s->opno = r->next_op++;
	uint64_t span = o->size_max - o->size_min + 1;
	s->size = o->size_min + (span ? mix(o->seed + s->opno) % span : 0);
	snprintf(s->key, sizeof(s->key), "%s%llu", o->prefix,
		 (unsigned long long)s->opno);
	char path[KEY_PCT_MAX];
	if (key_pct_encode(s->key, strlen(s->key), path, sizeof(path)) < 0)
		path[0] = '\0';
	snprintf(s->url, sizeof(s->url), "%s%s",
		 o->masters[s->opno % o->nmasters], path);
	begin_step(s, THR_PUT);
	return true;
}

static void history_line(struct slot *s, long code, bool ok, uint64_t t1)
{
	const struct thr_opts *o = s->run->o;
	uint8_t d[MD5_LEN];
	char hex[2 * MD5_LEN + 1] = "";
	if (s->hashing) {
		md5_final(&s->md5, d);
		s->hashing = false;
		if (s->step == THR_PUT || (s->step == THR_GET && code == 200))
			md5_hex(d, hex);
	}
	struct buf b = {0};
	buf_printf(&b, "{\"proc\":%u,\"op\":\"%s\",\"key\":", s->id,
		   thr_op_names[s->step]);
	buf_json_string(&b, s->key, strlen(s->key));
	buf_printf(&b,
		   ",\"invoke_us\":%llu,\"return_us\":%llu,\"status\":%ld,"
		   "\"value\":\"%s\",\"ok\":%s}\n",
		   (unsigned long long)s->t0, (unsigned long long)t1, code, hex,
		   ok ? "true" : "false");
	if (!buf_failed(&b))
		fwrite(b.data, 1, b.len, o->history);
	buf_free(&b);
}

/* Judges the answer to the slot's current step; prints what was wrong. */
static bool judge(struct slot *s, CURLcode cc, long code)
{
	static const long want[THR_NOPS] = {201, 200, 204, 404};
	const char *name = thr_op_names[s->step];
	bool right = cc == CURLE_OK && code == want[s->step] &&
		     (s->step != THR_GET || (!s->bad && s->off == s->size));
	uint64_t errors = s->run->res->errors;
	if (right || errors > ERRORS_PRINTED)
		return right;
	if (errors == ERRORS_PRINTED) {
		fprintf(stderr, "thrasher: more wrong answers, not printed\n");
		return false;
	}
	if (cc != CURLE_OK) {
		fprintf(stderr, "thrasher: %s %s: %s\n", name, s->key,
			curl_easy_strerror(cc));
		return false;
	}
	if (code != want[s->step]) {
		s->reason[s->reason_len] = '\0';
		s->reason[strcspn(s->reason, "\r\n")] = '\0';
		fprintf(stderr, "thrasher: %s %s: status %ld, want %ld%s%s\n",
			name, s->key, code, want[s->step],
			s->reason[0] ? ": " : "", s->reason);
		return false;
	}
	if (s->step == THR_GET && (s->bad || s->off != s->size)) {
		char *from = NULL;
		curl_easy_getinfo(s->e, CURLINFO_EFFECTIVE_URL, &from);
		if (s->bad && s->bad_at < s->size)
			fprintf(stderr,
				"thrasher: get %s: wrong byte at offset %llu "
				"of %llu (from %s)\n",
				s->key, (unsigned long long)s->bad_at,
				(unsigned long long)s->size, from ? from : "?");
		else
			fprintf(stderr,
				"thrasher: get %s: %llu bytes or more, want "
				"%llu (from %s)\n",
				s->key,
				(unsigned long long)(s->bad ? s->off + 1
							    : s->off),
				(unsigned long long)s->size, from ? from : "?");
		return false;
	}
	return true;
}

/* A step finished: record it and start what follows. Returns false when
 * the slot has nothing more to do. */
static bool step_done(struct slot *s, CURLcode cc)
{
	struct run *r = s->run;
	uint64_t t1 = now_us(r);
	long code = 0;
	curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(r->multi, s->e);
	hist_add(&r->res->lat[s->step], t1 - s->t0);
	bool ok = judge(s, cc, code);
	r->res->errors += !ok;
	if (r->o->history)
		history_line(s, code, ok, t1);
	switch (s->step) {
	case THR_PUT:
		if (ok) {
			begin_step(s, THR_GET);
			return true;
		}
		break;
	case THR_GET:
		if (!r->o->keep) {
			begin_step(s, THR_DELETE);
			return true;
		}
		break;
	case THR_DELETE:
		if (ok && !r->o->mkv) {
			begin_step(s, THR_GET_DELETED);
			return true;
		}
		break;
	case THR_GET_DELETED:
	case THR_NOPS:
		break;
	}
	r->res->sequences++;
	return begin_sequence(s);
}

int thr_run(const struct thr_opts *o, struct thr_result *out)
{
	memset(out, 0, sizeof(*out));
	struct run r = {.o = o, .res = out};
	struct slot *slots = calloc(o->concurrency, sizeof(*slots));
	r.multi = curl_multi_init();
	r.put_headers = curl_slist_append(NULL, "Expect:");
	struct curl_slist *h =
		r.put_headers
			? curl_slist_append(r.put_headers, "Content-Type:")
			: NULL;
	if (h)
		r.put_headers = h;
	int rc = slots && r.multi && h ? 0 : -ENOMEM;
	for (unsigned i = 0; !rc && i < o->concurrency; i++) {
		slots[i] = (struct slot){.run = &r, .id = i};
		slots[i].e = curl_easy_init();
		if (!slots[i].e)
			rc = -ENOMEM;
	}
	struct progress pr;
	progress_init(&pr, "thrasher", o->duration_ms ? 0 : o->ops);
	r.start_us = clock_mono_us();
	r.deadline_us = r.start_us + o->duration_ms * 1000;
	unsigned active = 0;
	for (unsigned i = 0; !rc && i < o->concurrency; i++)
		active += begin_sequence(&slots[i]);
	while (!rc && active) {
		int running;
		curl_multi_perform(r.multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(r.multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s;
			CURLcode cc = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&s);
			active -= !step_done(s, cc);
		}
		progress_update(&pr, out->sequences, out->errors);
		if (active)
			curl_multi_poll(r.multi, NULL, 0, 100, NULL);
	}
	progress_end(&pr);
	out->seconds = (double)(clock_mono_us() - r.start_us) / 1e6;
	for (unsigned i = 0; slots && i < o->concurrency; i++) {
		if (slots[i].e)
			curl_easy_cleanup(slots[i].e);
		free(slots[i].inline_buf);
	}
	free(slots);
	curl_slist_free_all(r.put_headers);
	if (r.multi)
		curl_multi_cleanup(r.multi);
	return rc;
}
