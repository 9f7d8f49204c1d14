/* cask-admin: one request on the internal plane, signed with the cluster
 * secret, for what an operator asks of the cluster by hand (volumes
 * added, drained or removed, membership, records, a scrub): curl, with
 * the signature curl cannot make. The answer's body goes to stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fetch.h"
#include "common/flags.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/sign.h"

#define BODY_MAX   (64u << 20)
#define ANSWER_MAX (1024u << 20)

/* Reads the body to send: a literal, or @FILE, or @- for stdin. */
static int read_body(const char *arg, struct buf *out)
{
	if (arg[0] != '@') {
		buf_append(out, arg, strlen(arg));
		return buf_failed(out) ? -ENOMEM : 0;
	}
	FILE *f = strcmp(arg, "@-") == 0 ? stdin : fopen(arg + 1, "rb");
	if (!f) {
		fprintf(stderr, "cask-admin: %s: %s\n", arg + 1,
			strerror(errno));
		return -errno;
	}
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
	       out->len + n <= BODY_MAX)
		buf_append(out, chunk, n);
	int rc = ferror(f) || out->len + n > BODY_MAX ? -EFBIG : 0;
	if (f != stdin)
		fclose(f);
	if (rc)
		fprintf(stderr, "cask-admin: %s: unreadable or over 64 MiB\n",
			arg);
	return buf_failed(out) ? -ENOMEM : rc;
}

int main(int argc, char **argv)
{
	const char *method, *data, *secret_file, *url;
	long timeout_ms;
	const struct flag flags[] = {
		{"X", FLAG_STR, &method, NULL,
		 "method; without it GET, or POST with -d"},
		{"d", FLAG_STR, &data, NULL,
		 "body to send: text, @FILE, or @- for stdin"},
		{"url", FLAG_STR, &url, NULL,
		 "http://host:port/path?query (required)"},
		{"secret-file", FLAG_STR, &secret_file, NULL,
		 "the cluster secret, as the daemons were given it "
		 "(required)"},
		{"timeout", FLAG_INT, &timeout_ms, "60000",
		 "milliseconds to wait for the answer"},
		{0},
	};
	int rc = flags_parse(flags, argc, argv,
			     "Sends one signed request on the internal plane "
			     "and prints the answer; exits 0 on a 2xx.");
	if (rc)
		return rc > 0 ? 0 : 2;
	if (!*url || !*secret_file || timeout_ms < 1) {
		fprintf(stderr,
			"%s: -url and -secret-file are required "
			"(try -help)\n",
			argv[0]);
		return 2;
	}
	if (sign_init(secret_file))
		return 2;
	struct buf body = {0};
	if (*data && read_body(data, &body))
		return 2;
	const char *m = *method ? method : *data ? "POST" : "GET";
	if (httpc_global_init())
		return 1;
	struct fetch_resp r = {0};
	rc = fetch(m, url, *data ? (body.data ? body.data : "") : NULL,
		   body.len, timeout_ms, ANSWER_MAX, &r);
	buf_free(&body);
	if (rc) {
		log_error("%s %s: %s", m, url, strerror(-rc));
		return 1;
	}
	if (r.body.len)
		fwrite(r.body.data, 1, r.body.len, stdout);
	buf_free(&r.body);
	if (r.code < 200 || r.code > 299)
		fprintf(stderr, "cask-admin: %s %s: status %ld\n", m, url,
			r.code);
	httpc_global_cleanup();
	sign_cleanup();
	return r.code >= 200 && r.code <= 299 ? 0 : 1;
}
