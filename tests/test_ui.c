/* The status pages in a real browser: three replicated masters and three
 * volumes, and headless Chromium (Debian's chromium) with JavaScript off
 * loading /_/ui. The DOM a master's page ends with names the leader in
 * the masters table and every volume, healthy, in the volumes table; a
 * volume's page shows its identity and counts; a screenshot of each is
 * taken and is a real PNG. Neither page has any script, so it reads the
 * same with JavaScript off. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/fixture.h"
#include "tests/harness.h"

#define NVOL	 3
#define NMASTERS 3

static struct fixture F;

/* Chromium, headless, sandbox off (tests run as root in CI). Headless
 * Chromium neither dumps nor draws a page with scripts off, so that the
 * pages read without JavaScript is checked on their HTML: there is none
 * in them (no_script). */
#define CHROMIUM "chromium --headless --no-sandbox --disable-gpu "

/* The DOM Chromium ends with for url (caller frees). */
static char *dump_dom(const char *url)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), CHROMIUM "--dump-dom '%s' 2>/dev/null", url);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t cap = 1 << 20, n = 0;
	char *dom = malloc(cap);
	ck_assert_ptr_nonnull(dom);
	size_t k;
	while (n + 1 < cap && (k = fread(dom + n, 1, cap - 1 - n, p)) > 0)
		n += k;
	dom[n] = '\0';
	ck_assert_int_eq(pclose(p), 0);
	return dom;
}

static void screenshot(const char *url, const char *png)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 CHROMIUM "--window-size=1200,1000 --screenshot='%s' '%s' "
			  ">/dev/null 2>&1",
		 png, url);
	ck_assert_int_eq(system(cmd), 0);
	FILE *f = fopen(png, "rb");
	ck_assert_ptr_nonnull(f);
	unsigned char sig[8];
	ck_assert_uint_eq(fread(sig, 1, 8, f), 8);
	fclose(f);
	ck_assert_mem_eq(sig, "\x89PNG\r\n\x1a\n", 8);
	struct stat st;
	ck_assert_int_eq(stat(png, &st), 0);
	ck_assert_int_gt(st.st_size, 10000); /* more than a blank page */
}

static void no_script(const char *url)
{
	struct harness_resp r;
	ck_assert_int_eq(harness_request("GET", url, NULL, 0, &r), 200);
	char type[64];
	ck_assert_int_eq(harness_header(&r, "Content-Type", type, sizeof(type)),
			 0);
	ck_assert_ptr_nonnull(strstr(type, "text/html"));
	ck_assert_ptr_null(strstr(r.body, "<script"));
	ck_assert_ptr_null(strstr(r.body, "javascript:"));
	ck_assert_ptr_nonnull(strstr(r.body, "http-equiv=\"refresh\""));
	harness_resp_free(&r);
}

/* The section of dom from the table with id `id` to its end. */
static char *table(const char *dom, const char *id)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "<table id=\"%s\">", id);
	const char *start = strstr(dom, pat);
	if (!start)
		return NULL;
	const char *end = strstr(start, "</table>");
	return end ? strndup(start, (size_t)(end - start)) : NULL;
}

/* Whether a master's page shows a leader row and every volume healthy. */
static bool complete(const char *dom, int *leader_id)
{
	char *m = table(dom, "masters"), *v = table(dom, "volumes");
	bool ok = m && v;
	const char *row = m ? strstr(m, "<tr class=\"leader\"><td>") : NULL;
	ok = ok && row && strstr(row, "<td>leader</td>");
	if (row)
		*leader_id = atoi(row + strlen("<tr class=\"leader\"><td>"));
	for (int i = 0; ok && i < NVOL; i++) {
		const char *at = strstr(v, F.vaddr[i]);
		const char *next = at ? strstr(at, "</tr>") : NULL;
		const char *healthy = at ? strstr(at, ">healthy<") : NULL;
		ok = at && healthy && healthy < next;
	}
	free(m);
	free(v);
	return ok;
}

START_TEST(status_pages_in_a_browser)
{
	const struct fixture_opts o = {.tag = "ui",
				       .volumes = NVOL,
				       .masters = NMASTERS,
				       .replicated = true};
	ck_assert_int_eq(fixture_start(&F, &o), 0);
	char url[128];
	snprintf(url, sizeof(url), "%s/_/ui", F.murl[1]);
	/* The first view sets the page's poller going; a later one shows
	 * what it saw. */
	char *dom = NULL;
	int leader = 0;
	for (int tries = 0; tries < 30; tries++) {
		free(dom);
		dom = dump_dom(url);
		if (complete(dom, &leader))
			break;
		struct timespec d = {0, 300000000};
		nanosleep(&d, NULL);
	}
	ck_assert_msg(complete(dom, &leader), "incomplete page:\n%s", dom);
	ck_assert_int_ge(leader, 1);
	ck_assert_int_le(leader, NMASTERS);
	/* The leader the page names is the one that says it leads. */
	ck_assert_int_eq(fixture_wait_status(&F, leader - 1,
					     "\"role\":\"leader\"", 5000),
			 0);
	for (int i = 0; i < NMASTERS; i++)
		ck_assert_ptr_nonnull(strstr(dom, F.murl[i]));
	ck_assert_ptr_nonnull(strstr(dom, "Last events"));
	free(dom);
	char png[600];
	snprintf(png, sizeof(png), "%s/master.png", F.dir);
	screenshot(url, png);
	no_script(url);

	snprintf(url, sizeof(url), "http://%s/_/ui", F.vaddr[0]);
	dom = dump_dom(url);
	ck_assert_ptr_nonnull(strstr(dom, "<div id=\"status\">"));
	ck_assert_ptr_nonnull(strstr(dom, "<th>live_bytes</th>"));
	ck_assert_ptr_nonnull(strstr(dom, "<th>disk_free</th>"));
	free(dom);
	snprintf(png, sizeof(png), "%s/volume.png", F.dir);
	screenshot(url, png);
	no_script(url);
	ck_assert_int_eq(fixture_stop(&F), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ui");
	TCase *tc = tcase_create("browser");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, status_pages_in_a_browser);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
