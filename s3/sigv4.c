/* AWS Signature Version 4 for S3: see sigv4.h. */
#include "s3/sigv4.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TERMINATOR "aws4_request"
#define MAC_LEN	   32

/* A piece of a longer string: not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

static bool span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && !memcmp(s.p, lit, n);
}

static int fail(struct sigv4_error *err, int rc, const char *code,
		unsigned status, const char *message)
{
	err->code = code;
	err->status = status;
	err->message = message;
	return rc;
}

/* Where the signature came from: the malformed cases are worded apart. */
enum mode { MODE_HEADER, MODE_QUERY };

static int malformed(struct sigv4_error *err, enum mode m, const char *msg)
{
	return fail(err, -EINVAL,
		    m == MODE_HEADER ? "AuthorizationHeaderMalformed"
				     : "AuthorizationQueryParametersError",
		    400, msg);
}

static int bad_request(struct sigv4_error *err, const char *msg)
{
	return fail(err, -EINVAL, "InvalidRequest", 400, msg);
}

static int no_memory(struct sigv4_error *err)
{
	return fail(err, -ENOMEM, "InternalError", 500,
		    "out of memory checking the signature");
}

/* The canonical request goes to SHA-256 as it is written, through a
 * small buffer. */
struct sink {
	EVP_MD_CTX *md;
	bool bad;
	size_t n;
	unsigned char buf[512];
};

static void sink_flush(struct sink *s)
{
	if (s->n && !EVP_DigestUpdate(s->md, s->buf, s->n))
		s->bad = true;
	s->n = 0;
}

static void sink_put(struct sink *s, const void *p, size_t n)
{
	if (n > sizeof(s->buf) - s->n) {
		sink_flush(s);
		if (n >= sizeof(s->buf)) {
			if (!EVP_DigestUpdate(s->md, p, n))
				s->bad = true;
			return;
		}
	}
	memcpy(s->buf + s->n, p, n);
	s->n += n;
}

static void sink_str(struct sink *s, const char *z)
{
	sink_put(s, z, strlen(z));
}

static void sink_byte(struct sink *s, char c)
{
	sink_put(s, &c, 1);
}

/* The value trimmed, each run of spaces and tabs in it one space. */
static void sink_trimmed(struct sink *s, const char *v)
{
	bool gap = false, any = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			gap = true;
			continue;
		}
		if (gap && any)
			sink_byte(s, ' ');
		gap = false;
		any = true;
		sink_byte(s, *v);
	}
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* Writes p's n bytes percent-encoded and a NUL to out (room for 3 * n +
 * 1). Returns the length written. */
static size_t encode(const char *p, size_t n, bool keep_slash, char *out)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			out[k++] = (char)c;
		} else {
			out[k++] = '%';
			out[k++] = digits[c >> 4];
			out[k++] = digits[c & 15];
		}
	}
	out[k] = '\0';
	return k;
}

/* Writes p's n bytes percent-decoded and a NUL to out (room for n + 1).
 * Returns the length written, or -1 for a '%' without two hex digits. */
static ptrdiff_t decode(const char *p, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%') {
			out[k++] = p[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		int hi = hex_digit(p[i + 1]), lo = hex_digit(p[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		out[k++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[k] = '\0';
	return (ptrdiff_t)k;
}

/* One query parameter, decoded (NUL-terminated, perhaps holding a NUL
 * of its own) and encoded again. */
struct param {
	const char *name, *value;
	size_t name_len, value_len;
	const char *ename, *evalue;
};

struct query {
	struct param *v;
	size_t n;
	char *mem;
};

static void query_free(struct query *q)
{
	free(q->v);
	free(q->mem);
}

/* Splits the raw query into q. Returns 0, -EINVAL (a bad escape, too many
 * parameters) or -ENOMEM, with err set. */
static int query_parse(const char *raw, size_t len, struct query *q,
		       struct sigv4_error *err)
{
	size_t most = 1;
	for (size_t i = 0; i < len; i++)
		most += raw[i] == '&';
	if (most > SIGV4_PARAMS_MAX) {
		size_t n = 0;
		for (size_t i = 0; i < len; i++)
			n += raw[i] != '&' &&
			     (i + 1 == len || raw[i + 1] == '&');
		if (n > SIGV4_PARAMS_MAX)
			return bad_request(err,
					   "too many parameters in the query");
		most = n;
	}
	q->v = calloc(most, sizeof(*q->v));
	/* Decoded: at most len bytes and two NULs a parameter; encoded
	 * again: three times that. */
	q->mem = malloc(4 * (len + 2 * most));
	if (!q->v || !q->mem)
		return no_memory(err);
	char *dec = q->mem, *enc = q->mem + len + 2 * most;
	const char *p = raw, *end = raw + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *seg_end = amp ? amp : end;
		if (seg_end == p) {
			p++; /* an '&' right away: an empty parameter, none */
			continue;
		}
		const char *eq = memchr(p, '=', (size_t)(seg_end - p));
		const char *name_end = eq ? eq : seg_end;
		const char *val = eq ? eq + 1 : seg_end;
		struct param *pa = &q->v[q->n++];
		ptrdiff_t k = decode(p, (size_t)(name_end - p), dec);
		if (k < 0)
			return bad_request(
				err, "a query parameter has a bad %-escape");
		pa->name = dec;
		pa->name_len = (size_t)k;
		dec += k + 1;
		k = decode(val, (size_t)(seg_end - val), dec);
		if (k < 0)
			return bad_request(
				err, "a query parameter has a bad %-escape");
		pa->value = dec;
		pa->value_len = (size_t)k;
		dec += k + 1;
		pa->ename = enc;
		enc += encode(pa->name, pa->name_len, false, enc) + 1;
		pa->evalue = enc;
		enc += encode(pa->value, pa->value_len, false, enc) + 1;
		if (!amp)
			break;
		p = amp + 1;
	}
	return 0;
}

/* The parameter named (exactly, or ignoring case), and how many are. */
static const struct param *query_find(const struct query *q, const char *name,
				      bool nocase, unsigned *count)
{
	const struct param *hit = NULL;
	size_t n = strlen(name);
	*count = 0;
	for (size_t i = 0; i < q->n; i++) {
		const struct param *pa = &q->v[i];
		if (pa->name_len != n || (nocase ? strcasecmp(pa->name, name)
						 : strcmp(pa->name, name)) != 0)
			continue;
		if (!hit)
			hit = pa;
		++*count;
	}
	return hit;
}

static int param_order(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->ename, y->ename);
	return c ? c : strcmp(x->evalue, y->evalue);
}

/* The signature's parts, wherever they came from. */
struct parts {
	struct span credential, signed_headers, signature;
	struct span access_key, date, region;
};

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
static int parse_authorization(const char *v, struct parts *f,
			       struct sigv4_error *err)
{
	const char *p = v;
	while (*p == ' ')
		p++;
	const char *alg = p;
	while (*p && *p != ' ')
		p++;
	if (!span_is((struct span){alg, (size_t)(p - alg)}, ALGORITHM))
		return fail(err, -EINVAL, "InvalidArgument", 400,
			    "unsupported Authorization type: only "
			    "AWS4-HMAC-SHA256 is taken");
	static const char *const names[3] = {"Credential", "SignedHeaders",
					     "Signature"};
	struct span *slot[3] = {&f->credential, &f->signed_headers,
				&f->signature};
	bool seen[3] = {false, false, false};
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		const char *eq = memchr(start, '=', (size_t)(end - start));
		if (!eq || eq + 1 == end)
			return malformed(err, MODE_HEADER,
					 "the Authorization header wants "
					 "Credential=, SignedHeaders= and "
					 "Signature=, each with a value");
		struct span name = {start, (size_t)(eq - start)};
		int i = 0;
		while (i < 3 && !span_is(name, names[i]))
			i++;
		if (i == 3 || seen[i])
			return malformed(err, MODE_HEADER,
					 "the Authorization header has a part "
					 "unknown or repeated");
		seen[i] = true;
		*slot[i] = (struct span){eq + 1, (size_t)(end - eq - 1)};
		if (!*p)
			break;
		p++;
	}
	if (!seen[0] || !seen[1] || !seen[2])
		return malformed(err, MODE_HEADER,
				 "the Authorization header wants Credential=, "
				 "SignedHeaders= and Signature=");
	return 0;
}

/* AK/DATE/REGION/s3/aws4_request */
static int parse_credential(struct parts *f, enum mode m,
			    struct sigv4_error *err)
{
	struct span part[5];
	const char *p = f->credential.p, *end = p + f->credential.n;
	int n = 0;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *e = slash ? slash : end;
		if (n == 5)
			return malformed(err, m,
					 "the Credential has too many parts");
		part[n++] = (struct span){p, (size_t)(e - p)};
		if (!slash)
			break;
		p = slash + 1;
	}
	if (n != 5)
		return malformed(err, m,
				 "the Credential is not "
				 "ACCESS_KEY/DATE/REGION/s3/aws4_request");
	if (part[0].n == 0 ||
	    part[0].n >= sizeof(((struct sigv4_auth *)0)->access_key) ||
	    memchr(part[0].p, '\0', part[0].n))
		return malformed(err, m,
				 "the Credential's access key is empty "
				 "or too long");
	bool date_ok = part[1].n == 8;
	for (size_t i = 0; date_ok && i < 8; i++)
		date_ok = part[1].p[i] >= '0' && part[1].p[i] <= '9';
	if (!date_ok)
		return malformed(err, m,
				 "the Credential's date is not YYYYMMDD");
	bool region_ok = part[2].n > 0 && part[2].n <= SIGV4_REGION_MAX;
	for (size_t i = 0; region_ok && i < part[2].n; i++)
		region_ok = part[2].p[i] > ' ' && part[2].p[i] < 127;
	if (!region_ok)
		return malformed(err, m,
				 "the Credential's region is empty, "
				 "too long or not printable");
	if (!span_is(part[3], "s3"))
		return malformed(err, m,
				 "the Credential's service is not s3: this "
				 "endpoint is S3");
	if (!span_is(part[4], TERMINATOR))
		return malformed(err, m,
				 "the Credential does not end in "
				 "/aws4_request");
	f->access_key = part[0];
	f->date = part[1];
	f->region = part[2];
	return 0;
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Writes v (not negative) as n decimal digits. */
static void put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Checks a UTC time and writes its epoch seconds and ISO 8601 basic
 * form (YYYYMMDDTHHMMSSZ). */
static bool civil(int y, int mo, int d, int h, int mi, int s, int64_t *t,
		  char iso[17])
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30,
				      31, 31, 30, 31, 30, 31};
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
		return false;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return false;
	/* Leap days before year y, counted from year 1. */
	int64_t before = (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
	int64_t before1970 = 1969 / 4 - 1969 / 100 + 1969 / 400;
	int64_t days = 365 * (int64_t)(y - 1970) + before - before1970;
	for (int i = 1; i < mo; i++)
		days += mdays[i - 1] + (i == 2 && leap(y));
	days += d - 1;
	*t = days * 86400 + h * 3600 + mi * 60 + s;
	put_digits(iso, y, 4);
	put_digits(iso + 4, mo, 2);
	put_digits(iso + 6, d, 2);
	iso[8] = 'T';
	put_digits(iso + 9, h, 2);
	put_digits(iso + 11, mi, 2);
	put_digits(iso + 13, s, 2);
	iso[15] = 'Z';
	iso[16] = '\0';
	return true;
}

/* 20130524T000000Z */
static bool parse_iso(const char *v, size_t n, int64_t *t, char iso[17])
{
	if (n != 16 || v[8] != 'T' || v[15] != 'Z')
		return false;
	return civil(digits(v, 4), digits(v + 4, 2), digits(v + 6, 2),
		     digits(v + 9, 2), digits(v + 11, 2), digits(v + 13, 2), t,
		     iso);
}

/* RFC 1123: "Fri, 24 May 2013 00:00:00 GMT" (or UTC, +0000, -0000) */
static bool parse_http_date(const char *v, int64_t *t, char iso[17])
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	size_t n = strlen(v);
	if (n < 25 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' ||
	    v[11] != ' ' || v[16] != ' ' || v[19] != ':' || v[22] != ':')
		return false;
	if (strcmp(v + 25, " GMT") != 0 && strcmp(v + 25, " UTC") != 0 &&
	    strcmp(v + 25, " +0000") != 0 && strcmp(v + 25, " -0000") != 0)
		return false;
	int mo = 0;
	for (int i = 0; i < 12 && !mo; i++)
		if (!memcmp(v + 8, months + 3 * i, 3))
			mo = i + 1;
	return mo &&
	       civil(digits(v + 12, 4), mo, digits(v + 5, 2), digits(v + 17, 2),
		     digits(v + 20, 2), digits(v + 23, 2), t, iso);
}

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Lower-case names, ';'-separated, strictly ascending, host among them.
 * Fills names and *n. */
static int parse_signed(struct span v, enum mode m, struct span *names,
			unsigned *n, struct sigv4_error *err)
{
	const char *p = v.p, *end = v.p + v.n;
	bool host = false;
	*n = 0;
	for (;;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;
		struct span name = {p, (size_t)(e - p)};
		bool ok = name.n > 0 && name.n <= SIGV4_HEADER_NAME_MAX;
		for (size_t i = 0; ok && i < name.n; i++)
			ok = token_char(name.p[i]);
		if (ok && *n) {
			struct span prev = names[*n - 1];
			size_t k = prev.n < name.n ? prev.n : name.n;
			int c = memcmp(prev.p, name.p, k);
			ok = c < 0 || (c == 0 && prev.n < name.n);
		}
		if (!ok)
			return malformed(err, m,
					 "SignedHeaders must be lower-case "
					 "header names, sorted, each once, "
					 "';'-separated");
		if (*n == SIGV4_SIGNED_MAX)
			return malformed(err, m, "too many SignedHeaders");
		names[(*n)++] = name;
		host |= span_is(name, "host");
		if (!semi)
			break;
		p = semi + 1;
	}
	if (!host)
		return malformed(err, m, "SignedHeaders must include host");
	return 0;
}

static bool too_long(const char *v)
{
	return strnlen(v, SIGV4_VALUE_MAX + 1) > SIGV4_VALUE_MAX;
}

static int header_too_long(struct sigv4_error *err)
{
	return fail(err, -EINVAL, "RequestHeaderSectionTooLarge", 400,
		    "a header's value is over 8 KiB");
}

/* Reads the payload's kind from x-amz-content-sha256's value. */
static bool classify(const char *v, size_t n, struct sigv4_auth *out)
{
	struct span s = {v, n};
	if (span_is(s, "UNSIGNED-PAYLOAD")) {
		out->payload = SIGV4_PAYLOAD_UNSIGNED;
	} else if (span_is(s, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")) {
		out->payload = SIGV4_PAYLOAD_STREAMING;
	} else if (span_is(s, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")) {
		out->payload = SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
	} else if (n == 64 && !hex_decode(v, 64, out->sha256)) {
		out->payload = SIGV4_PAYLOAD_SHA256;
	} else {
		return false;
	}
	return true;
}

static int hmac(const void *key, size_t key_len, const void *msg, size_t n,
		uint8_t mac[MAC_LEN])
{
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), key, (int)key_len, msg, n, mac, &len) ||
	    len != MAC_LEN)
		return -ENOMEM;
	return 0;
}

/* HMAC chain "AWS4" secret -> date -> region -> "s3" -> "aws4_request". */
static int derive_key(const char *secret, struct span date, struct span region,
		      uint8_t key[MAC_LEN])
{
	char k0[4 + S3_CREDS_KEY_MAX + 1];
	size_t n = strlen(secret);
	if (n > S3_CREDS_KEY_MAX)
		return -EINVAL;
	static const char prefix[4] = {'A', 'W', 'S', '4'};
	memcpy(k0, prefix, sizeof(prefix));
	memcpy(k0 + 4, secret, n + 1); /* its NUL too: k0 has room */
	uint8_t a[MAC_LEN], b[MAC_LEN];
	int rc = hmac(k0, 4 + n, date.p, date.n, a);
	if (!rc)
		rc = hmac(a, MAC_LEN, region.p, region.n, b);
	if (!rc)
		rc = hmac(b, MAC_LEN, "s3", 2, a);
	if (!rc)
		rc = hmac(a, MAC_LEN, TERMINATOR, strlen(TERMINATOR), key);
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return rc;
}

/* The presigned URL's own parameters into f, its date and expiry. */
static int presigned_parts(const struct query *q, struct parts *f,
			   struct span *date, struct span *expires,
			   struct sigv4_error *err)
{
	static const char *const names[6] = {
		"X-Amz-Algorithm", "X-Amz-Credential",	  "X-Amz-Date",
		"X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature"};
	struct span v[6];
	for (int i = 0; i < 6; i++) {
		unsigned count;
		const struct param *pa = query_find(q, names[i], false, &count);
		if (!pa)
			return malformed(
				err, MODE_QUERY,
				"a presigned URL needs X-Amz-Algorithm, "
				"X-Amz-Credential, X-Amz-Date, X-Amz-Expires, "
				"X-Amz-SignedHeaders and X-Amz-Signature");
		if (count > 1 || strlen(pa->value) != pa->value_len ||
		    pa->value_len > SIGV4_VALUE_MAX)
			return malformed(err, MODE_QUERY,
					 "a presigned URL's X-Amz- parameter "
					 "is repeated or holds a NUL");
		v[i] = (struct span){pa->value, pa->value_len};
	}
	if (!span_is(v[0], ALGORITHM))
		return malformed(err, MODE_QUERY,
				 "X-Amz-Algorithm must be AWS4-HMAC-SHA256");
	f->credential = v[1];
	*date = v[2];
	*expires = v[3];
	f->signed_headers = v[4];
	f->signature = v[5];
	return 0;
}

static bool is_presigned(const struct query *q)
{
	static const char *const names[3] = {
		"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"};
	for (int i = 0; i < 3; i++) {
		unsigned count;
		if (query_find(q, names[i], false, &count))
			return true;
	}
	return false;
}

/* Everything sigv4_check works out before hashing. */
struct work {
	enum mode mode;
	struct parts f;
	struct span names[SIGV4_SIGNED_MAX];
	unsigned nnames;
	const char *payload; /* as hashed */
	size_t payload_len;
	bool payload_in_query;
	int64_t t;
};

/* Hashes the canonical request into hash. Returns 0, or a negative
 * errno with err set. */
static int canonical_hash(const struct sigv4_request *r, struct work *w,
			  struct query *q, uint8_t hash[MAC_LEN],
			  struct sigv4_error *err)
{
	size_t plen = strlen(r->path);
	char *dec = malloc(4 * plen + 2);
	struct sink *s = calloc(1, sizeof(*s));
	int rc = 0;
	if (!dec || !s) {
		rc = no_memory(err);
		goto out;
	}
	s->md = EVP_MD_CTX_new();
	s->bad = false;
	s->n = 0;
	if (!s->md || !EVP_DigestInit_ex(s->md, EVP_sha256(), NULL)) {
		rc = no_memory(err);
		goto out;
	}
	sink_str(s, r->method);
	sink_byte(s, '\n');
	ptrdiff_t k = decode(r->path, plen, dec);
	if (k < 0) {
		rc = bad_request(err, "the path has a bad %-escape");
		goto out;
	}
	char *enc = dec + plen + 1;
	sink_put(s, enc, encode(dec, (size_t)k, true, enc));
	sink_byte(s, '\n');
	qsort(q->v, q->n, sizeof(*q->v), param_order);
	bool first = true;
	for (size_t i = 0; i < q->n; i++) {
		const struct param *pa = &q->v[i];
		if (w->mode == MODE_QUERY &&
		    !strcmp(pa->name, "X-Amz-Signature"))
			continue;
		if (!first)
			sink_byte(s, '&');
		first = false;
		sink_str(s, pa->ename);
		sink_byte(s, '=');
		sink_str(s, pa->evalue);
	}
	sink_byte(s, '\n');
	for (unsigned i = 0; i < w->nnames; i++) {
		char name[SIGV4_HEADER_NAME_MAX + 1];
		memcpy(name, w->names[i].p, w->names[i].n);
		name[w->names[i].n] = '\0';
		const char *v = r->header(r->arg, name);
		if (!v) {
			rc = fail(err, -EACCES, "SignatureDoesNotMatch", 403,
				  "a signed header is not in the request");
			goto out;
		}
		if (too_long(v)) {
			rc = header_too_long(err);
			goto out;
		}
		sink_str(s, name);
		sink_byte(s, ':');
		sink_trimmed(s, v);
		sink_byte(s, '\n');
	}
	sink_byte(s, '\n');
	sink_put(s, w->f.signed_headers.p, w->f.signed_headers.n);
	sink_byte(s, '\n');
	sink_put(s, w->payload, w->payload_len);
	sink_flush(s);
	unsigned len = 0;
	if (s->bad || !EVP_DigestFinal_ex(s->md, hash, &len) || len != MAC_LEN)
		rc = no_memory(err);
out:
	if (s)
		EVP_MD_CTX_free(s->md);
	free(s);
	free(dec);
	return rc;
}

static bool method_ok(const char *m)
{
	size_t n = strnlen(m, 33);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] <= ' ' || m[i] >= 127)
			return false;
	return true;
}

/* Header auth: Authorization, the date, x-amz-content-sha256. */
static int header_parts(const struct sigv4_request *r, const char *auth,
			struct work *w, struct sigv4_auth *out,
			struct sigv4_error *err)
{
	int rc = parse_authorization(auth, &w->f, err);
	if (rc)
		return rc;
	const char *xdate = r->header(r->arg, "x-amz-date");
	const char *date = xdate ? NULL : r->header(r->arg, "date");
	if ((xdate && too_long(xdate)) || (date && too_long(date)))
		return header_too_long(err);
	if (xdate ? !parse_iso(xdate, strlen(xdate), &w->t, out->amz_date)
		  : !date || !parse_http_date(date, &w->t, out->amz_date))
		return fail(err, -EACCES, "AccessDenied", 403,
			    "AWS authentication requires a valid Date or "
			    "x-amz-date header");
	const char *sha = r->header(r->arg, "x-amz-content-sha256");
	if (!sha)
		return bad_request(err, "Missing required header for this "
					"request: x-amz-content-sha256");
	if (too_long(sha))
		return header_too_long(err);
	w->payload = sha;
	w->payload_len = strlen(sha);
	return 0;
}

/* Presigned: the query's parameters, the date, and the payload. */
static int query_parts(const struct sigv4_request *r, const struct query *q,
		       struct work *w, struct sigv4_auth *out,
		       struct sigv4_error *err)
{
	struct span date, expires;
	int rc = presigned_parts(q, &w->f, &date, &expires, err);
	if (rc)
		return rc;
	if (!parse_iso(date.p, date.n, &w->t, out->amz_date))
		return malformed(err, MODE_QUERY,
				 "X-Amz-Date must be YYYYMMDDTHHMMSSZ");
	int e = expires.n >= 1 && expires.n <= 6
			? digits(expires.p, (int)expires.n)
			: -1;
	if (e < 1 || e > SIGV4_EXPIRES_MAX)
		return malformed(err, MODE_QUERY,
				 "X-Amz-Expires must be a number of seconds "
				 "from 1 to 604800");
	if (r->now > w->t + e)
		return fail(err, -EACCES, "AccessDenied", 403,
			    "Request has expired");
	if (r->now < w->t - SIGV4_SKEW_S)
		return fail(err, -EACCES, "AccessDenied", 403,
			    "Request is not valid yet");
	unsigned count;
	const struct param *pa =
		query_find(q, "X-Amz-Content-Sha256", true, &count);
	if (pa) {
		if (count > 1 || strlen(pa->value) != pa->value_len)
			return malformed(err, MODE_QUERY,
					 "X-Amz-Content-Sha256 is repeated or "
					 "holds a NUL");
		w->payload = pa->value;
		w->payload_len = pa->value_len;
		w->payload_in_query = true;
	} else {
		w->payload = "UNSIGNED-PAYLOAD";
		w->payload_len = strlen(w->payload);
	}
	return 0;
}

static int check(const struct sigv4_request *r, const struct s3_creds *c,
		 struct query *q, struct work *w, struct sigv4_auth *out,
		 struct sigv4_error *err)
{
	if (!r->method || !method_ok(r->method))
		return bad_request(err, "the request's method is not a token");
	if (!r->path || r->path[0] != '/' || too_long(r->path))
		return bad_request(err, "the path is empty, does not start "
					"with / or is over 8 KiB");
	const char *raw = r->query ? r->query : "";
	if (too_long(raw))
		return bad_request(err, "the query is over 8 KiB");
	int rc = query_parse(raw, strlen(raw), q, err);
	if (rc)
		return rc;
	const char *auth = r->header(r->arg, "authorization");
	bool presigned = is_presigned(q);
	if (auth && presigned)
		return fail(err, -EINVAL, "InvalidArgument", 400,
			    "only one auth mechanism allowed: the "
			    "Authorization header or X-Amz-Algorithm");
	if (!auth && !presigned)
		return fail(err, -ENOENT, "AccessDenied", 403,
			    "anonymous requests are refused: sign them");
	if (auth && too_long(auth))
		return header_too_long(err);
	w->mode = auth ? MODE_HEADER : MODE_QUERY;
	rc = auth ? header_parts(r, auth, w, out, err)
		  : query_parts(r, q, w, out, err);
	if (rc)
		return rc;
	rc = parse_credential(&w->f, w->mode, err);
	if (rc)
		return rc;
	if (memcmp(w->f.date.p, out->amz_date, 8) != 0)
		return malformed(err, w->mode,
				 "the Credential's date is not the request's "
				 "X-Amz-Date");
	rc = parse_signed(w->f.signed_headers, w->mode, w->names, &w->nnames,
			  err);
	if (rc)
		return rc;
	if (w->mode == MODE_QUERY && !w->payload_in_query) {
		/* A payload hash among the signed headers is the one. */
		for (unsigned i = 0; i < w->nnames; i++) {
			if (!span_is(w->names[i], "x-amz-content-sha256"))
				continue;
			const char *v =
				r->header(r->arg, "x-amz-content-sha256");
			if (v && too_long(v))
				return header_too_long(err);
			if (v) {
				w->payload = v;
				w->payload_len = strlen(v);
			}
		}
	}
	if (!classify(w->payload, w->payload_len, out))
		return fail(err, -EINVAL, "InvalidArgument", 400,
			    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
			    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
			    "STREAMING-UNSIGNED-PAYLOAD-TRAILER or a SHA-256");
	memcpy(out->access_key, w->f.access_key.p, w->f.access_key.n);
	out->access_key[w->f.access_key.n] = '\0';
	const char *secret = s3_creds_secret(c, out->access_key);
	if (!secret)
		return fail(err, -EACCES, "InvalidAccessKeyId", 403,
			    "the access key is not one of this gateway's");
	if (w->mode == MODE_HEADER &&
	    (r->now > w->t + SIGV4_SKEW_S || r->now < w->t - SIGV4_SKEW_S))
		return fail(err, -EACCES, "RequestTimeTooSkewed", 403,
			    "the request's time is more than 15 minutes from "
			    "the server's");
	uint8_t given[MAC_LEN], hash[MAC_LEN], mac[MAC_LEN];
	if (w->f.signature.n != 2 * MAC_LEN ||
	    hex_decode(w->f.signature.p, 2 * MAC_LEN, given))
		return fail(err, -EACCES, "SignatureDoesNotMatch", 403,
			    "the signature is not 64 hex digits");
	rc = canonical_hash(r, w, q, hash, err);
	if (rc)
		return rc;
	snprintf(out->scope, sizeof(out->scope), "%.8s/%.*s/s3/" TERMINATOR,
		 out->amz_date, (int)w->f.region.n, w->f.region.p);
	char hash_hex[2 * MAC_LEN + 1];
	hex_encode(hash, MAC_LEN, hash_hex);
	char sts[320];
	int n = snprintf(sts, sizeof(sts), ALGORITHM "\n%s\n%s\n%s",
			 out->amz_date, out->scope, hash_hex);
	if (derive_key(secret, w->f.date, w->f.region, out->signing_key) ||
	    hmac(out->signing_key, MAC_LEN, sts, (size_t)n, mac))
		return no_memory(err);
	if (CRYPTO_memcmp(mac, given, MAC_LEN))
		return fail(err, -EACCES, "SignatureDoesNotMatch", 403,
			    "the signature does not hold for this request "
			    "and the access key's secret");
	hex_encode(mac, MAC_LEN, out->seed);
	return 0;
}

int sigv4_check(const struct sigv4_request *r, const struct s3_creds *c,
		struct sigv4_auth *out, struct sigv4_error *err)
{
	struct query q = {NULL, 0, NULL};
	struct work *w = calloc(1, sizeof(*w));
	memset(out, 0, sizeof(*out));
	*err = (struct sigv4_error){NULL, 0, NULL};
	int rc = w ? check(r, c, &q, w, out, err) : no_memory(err);
	query_free(&q);
	free(w);
	if (rc)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

/* The chunk decoder. */

enum chunk_state { S_LINE, S_DATA, S_DATA_CR, S_DATA_LF, S_TRAILER, S_DONE };

struct trailer {
	char text[SIGV4_CHUNK_LINE_MAX + 2]; /* name NUL value NUL */
	const char *value;
};

struct sigv4_chunks {
	bool sign;
	uint8_t key[MAC_LEN];
	char amz_date[sizeof(((struct sigv4_auth *)0)->amz_date)];
	char scope[sizeof(((struct sigv4_auth *)0)->scope)];
	char prev[2 * MAC_LEN + 1];
	uint64_t max, total;
	enum chunk_state state;
	int err;
	char line[SIGV4_CHUNK_LINE_MAX + 1]; /* and its '\r' */
	size_t line_len;
	size_t size, have; /* the chunk's */
	uint8_t want[MAC_LEN];
	char *buf;
	size_t cap;
	struct trailer trailers[SIGV4_TRAILERS_MAX];
	unsigned ntrailers;
};

int sigv4_chunks_new(const struct sigv4_auth *a, uint64_t decoded_max,
		     struct sigv4_chunks **out)
{
	*out = NULL;
	if (a->payload != SIGV4_PAYLOAD_STREAMING &&
	    a->payload != SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER)
		return -EINVAL;
	struct sigv4_chunks *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->sign = a->payload == SIGV4_PAYLOAD_STREAMING;
	memcpy(d->key, a->signing_key, MAC_LEN);
	memcpy(d->amz_date, a->amz_date, sizeof(d->amz_date));
	d->amz_date[sizeof(d->amz_date) - 1] = '\0';
	memcpy(d->scope, a->scope, sizeof(d->scope));
	d->scope[sizeof(d->scope) - 1] = '\0';
	memcpy(d->prev, a->seed, sizeof(d->prev));
	d->prev[sizeof(d->prev) - 1] = '\0';
	d->max = decoded_max;
	d->state = S_LINE;
	*out = d;
	return 0;
}

/* Checks a chunk's data against the signature its line gave. */
static int chunk_verify(struct sigv4_chunks *d, const char *data, size_t n)
{
	uint8_t h[MAC_LEN], mac[MAC_LEN];
	char hh[2 * MAC_LEN + 1], sts[512];
	if (!EVP_Digest(data, n, h, NULL, EVP_sha256(), NULL))
		return -ENOMEM;
	hex_encode(h, MAC_LEN, hh);
	int k = snprintf(sts, sizeof(sts),
			 "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256
			 "\n%s",
			 d->amz_date, d->scope, d->prev, hh);
	if (k < 0 || (size_t)k >= sizeof(sts))
		return -EBADMSG;
	if (hmac(d->key, MAC_LEN, sts, (size_t)k, mac))
		return -ENOMEM;
	if (CRYPTO_memcmp(mac, d->want, MAC_LEN))
		return -EACCES;
	hex_encode(mac, MAC_LEN, d->prev);
	return 0;
}

/* hex-size[;chunk-signature=64hex], its CRLF gone. */
static int chunk_line(struct sigv4_chunks *d)
{
	static const char ext[] = ";chunk-signature=";
	const size_t ext_len = sizeof(ext) - 1;
	const char *p = d->line;
	size_t n = d->line_len, i = 0;
	uint64_t size = 0;
	for (; i < n && hex_digit(p[i]) >= 0; i++) {
		size = size * 16 + (uint64_t)hex_digit(p[i]);
		if (size > SIGV4_CHUNK_MAX)
			return -E2BIG;
	}
	if (i == 0)
		return -EBADMSG;
	if (d->sign) {
		if (n - i != ext_len + 2 * MAC_LEN ||
		    memcmp(p + i, ext, ext_len) != 0 ||
		    hex_decode(p + i + ext_len, 2 * MAC_LEN, d->want))
			return -EBADMSG;
	} else if (i != n) {
		return -EBADMSG;
	}
	if (size > d->max - d->total)
		return -EBADMSG;
	d->size = (size_t)size;
	d->have = 0;
	if (size == 0) {
		d->state = S_TRAILER;
		return d->sign ? chunk_verify(d, "", 0) : 0;
	}
	if (d->sign && d->cap < d->size) {
		char *b = realloc(d->buf, d->size);
		if (!b)
			return -ENOMEM;
		d->buf = b;
		d->cap = d->size;
	}
	d->state = S_DATA;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* "name:value", its CRLF gone; empty ends the body. */
static int trailer_line(struct sigv4_chunks *d)
{
	if (d->line_len == 0) {
		d->state = S_DONE;
		return 0;
	}
	if (d->sign)
		return -EBADMSG;
	const char *p = d->line, *end = p + d->line_len;
	const char *colon = memchr(p, ':', d->line_len);
	if (!colon || colon == p)
		return -EBADMSG;
	for (const char *c = p; c < colon; c++)
		if (!((*c >= 'A' && *c <= 'Z') || token_char(*c)))
			return -EBADMSG;
	const char *v = colon + 1;
	while (v < end && is_space(*v))
		v++;
	while (end > v && is_space(end[-1]))
		end--;
	size_t name_len = (size_t)(colon - p);
	if (name_len == strlen("x-amz-trailer-signature") &&
	    !strncasecmp(p, "x-amz-trailer-signature", name_len))
		return 0;
	for (unsigned i = 0; i < d->ntrailers; i++)
		if (strlen(d->trailers[i].text) == name_len &&
		    !strncasecmp(d->trailers[i].text, p, name_len))
			return -EBADMSG;
	if (d->ntrailers == SIGV4_TRAILERS_MAX)
		return -EBADMSG;
	struct trailer *t = &d->trailers[d->ntrailers++];
	memcpy(t->text, p, name_len);
	t->text[name_len] = '\0';
	char *val = t->text + name_len + 1;
	memcpy(val, v, (size_t)(end - v));
	val[end - v] = '\0';
	t->value = val;
	return 0;
}

int sigv4_chunks_feed(struct sigv4_chunks *d, const char *in, size_t len,
		      int (*out)(void *arg, const char *p, size_t n), void *arg)
{
	if (d->err)
		return d->err;
	int rc = 0;
	size_t i = 0;
	while (i < len && !rc) {
		switch (d->state) {
		case S_LINE:
		case S_TRAILER: {
			char c = in[i++];
			if (c != '\n') {
				if (d->line_len == sizeof(d->line))
					rc = -EBADMSG; /* too long */
				else
					d->line[d->line_len++] = c;
				break;
			}
			if (!d->line_len || d->line[d->line_len - 1] != '\r') {
				rc = -EBADMSG;
				break;
			}
			d->line_len--;
			rc = d->state == S_LINE ? chunk_line(d)
						: trailer_line(d);
			d->line_len = 0;
			break;
		}
		case S_DATA: {
			size_t k = d->size - d->have;
			if (k > len - i)
				k = len - i;
			if (d->sign) {
				memcpy(d->buf + d->have, in + i, k);
			} else {
				rc = out(arg, in + i, k);
				d->total += k;
			}
			d->have += k;
			i += k;
			if (d->have == d->size)
				d->state = S_DATA_CR;
			break;
		}
		case S_DATA_CR:
			if (in[i++] != '\r')
				rc = -EBADMSG;
			d->state = S_DATA_LF;
			break;
		case S_DATA_LF:
			if (in[i++] != '\n') {
				rc = -EBADMSG;
				break;
			}
			d->state = S_LINE;
			if (!d->sign)
				break;
			rc = chunk_verify(d, d->buf, d->size);
			if (!rc) {
				rc = out(arg, d->buf, d->size);
				d->total += d->size;
			}
			break;
		case S_DONE:
			rc = -EBADMSG;
			break;
		}
		if (rc > 0)
			rc = 0;
	}
	if (rc)
		d->err = rc;
	return rc;
}

int sigv4_chunks_end(struct sigv4_chunks *d)
{
	if (d->err || d->state != S_DONE ||
	    (d->max != UINT64_MAX && d->total != d->max))
		return -EBADMSG;
	return 0;
}

uint64_t sigv4_chunks_total(const struct sigv4_chunks *d)
{
	return d->total;
}

const char *sigv4_chunks_trailer(const struct sigv4_chunks *d, const char *name)
{
	for (unsigned i = 0; i < d->ntrailers; i++)
		if (!strcasecmp(d->trailers[i].text, name))
			return d->trailers[i].value;
	return NULL;
}

void sigv4_chunks_free(struct sigv4_chunks *d)
{
	if (!d)
		return;
	OPENSSL_cleanse(d->key, sizeof(d->key));
	free(d->buf);
	free(d);
}
