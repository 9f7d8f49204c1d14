/* Unit tests for common/: flags, keys, CRC32C, md5, buffers. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/flags.h"
#include "common/key.h"
#include "common/md5.h"

START_TEST(crc32c_known_vectors)
{
	/* RFC 3720 B.4 test vectors. */
	unsigned char zeros[32] = {0}, ones[32], inc[32];
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	ck_assert_uint_eq(crc32c_update(0, zeros, 32), 0x8a9136aa);
	ck_assert_uint_eq(crc32c_update(0, ones, 32), 0x62a8ab43);
	ck_assert_uint_eq(crc32c_update(0, inc, 32), 0x46dd794e);
	ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xe3069283);
	/* Incremental equals one-shot, at every split point. */
	for (size_t i = 0; i <= 32; i++)
		ck_assert_uint_eq(crc32c_update(crc32c_update(0, inc, i),
						inc + i, 32 - i),
				  0x46dd794e);
}
END_TEST

START_TEST(md5_known_vectors)
{
	uint8_t d[MD5_LEN];
	char hex[33];
	ck_assert_int_eq(md5_buf("bigswag", 7, d), 0);
	md5_hex(d, hex);
	ck_assert_str_eq(hex, "df86f5729538f57b0c5312f673abefe4");
	ck_assert_int_eq(md5_buf("", 0, d), 0);
	md5_hex(d, hex);
	ck_assert_str_eq(hex, "d41d8cd98f00b204e9800998ecf8427e");
	uint8_t back[MD5_LEN];
	ck_assert_int_eq(md5_from_hex(hex, back), 0);
	ck_assert_mem_eq(back, d, MD5_LEN);
	ck_assert_int_eq(md5_from_hex("zz", back), -EINVAL);
}
END_TEST

START_TEST(key_validation)
{
	char k[KEY_MAX + 1];
	const char *why = NULL;
	ck_assert_int_eq(key_from_path("/wehave", k, &why), 7);
	ck_assert_str_eq(k, "/wehave");
	ck_assert_int_eq(key_from_path("/a%20b", k, &why), 4);
	ck_assert_str_eq(k, "/a b");
	ck_assert_int_eq(key_from_path("/a%2", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a%zz", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a%00b", k, &why), -EINVAL);
	ck_assert_str_eq(why, "key contains a NUL byte");
	ck_assert_int_eq(key_from_path("/_/status", k, &why), -EPERM);
	ck_assert_int_eq(key_from_path("/", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("noslash", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a/../b", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a/./b", k, &why), -EINVAL);
	ck_assert_int_eq(key_from_path("/a/..b", k, &why), 6);

	char longp[2000];
	memset(longp, 'x', sizeof(longp));
	longp[0] = '/';
	longp[511] = '\0';
	ck_assert_int_eq(key_from_path(longp, k, &why), 511);
	longp[511] = 'x';
	longp[512] = '\0';
	ck_assert_int_eq(key_from_path(longp, k, &why), -ENAMETOOLONG);
	longp[1999] = '\0';
	ck_assert_int_eq(key_from_path(longp, k, &why), -ENAMETOOLONG);
	/* %41 decodes to one byte, so 3*511 bytes of escapes still fit. */
	char esc[3 * 510 + 2] = "/";
	for (int i = 0; i < 510; i++)
		memcpy(esc + 1 + 3 * i, "%41", 3);
	esc[sizeof(esc) - 1] = '\0';
	ck_assert_int_eq(key_from_path(esc, k, &why), 511);
}
END_TEST

START_TEST(pct_roundtrip)
{
	char enc[64], dec[64];
	const char in[] = "/a b/\xff?&%";
	long n = key_pct_encode(in, sizeof(in) - 1, enc, sizeof(enc));
	ck_assert_str_eq(enc, "/a%20b/%FF%3F%26%25");
	long m = key_pct_decode(enc, (size_t)n, dec, sizeof(dec));
	ck_assert_int_eq(m, (long)sizeof(in) - 1);
	ck_assert_mem_eq(dec, in, sizeof(in) - 1);
	ck_assert_int_eq(key_pct_encode(in, sizeof(in) - 1, enc, 4),
			 -ENAMETOOLONG);
}
END_TEST

START_TEST(flags_forms)
{
	const char *dir = NULL;
	long port = 0;
	uint64_t size = 0;
	bool protect = true;
	struct flag f[] = {
		{"dir", FLAG_STR, &dir, "/tmp/x", "data"},
		{"port", FLAG_INT, &port, "3000", "port"},
		{"segment-size", FLAG_SIZE, &size, "1G", "size"},
		{"protect", FLAG_BOOL, &protect, NULL, "protect"},
		{0},
	};
	char *a1[] = {"p", NULL};
	ck_assert_int_eq(flags_parse(f, 1, a1, ""), 0);
	ck_assert_str_eq(dir, "/tmp/x");
	ck_assert_int_eq(port, 3000);
	ck_assert_uint_eq(size, 1ull << 30);
	ck_assert(!protect);

	char *a2[] = {"p",   "-port",	 "3001", "--dir=/srv", "-segment-size",
		      "64M", "-protect", NULL};
	ck_assert_int_eq(flags_parse(f, 7, a2, ""), 0);
	ck_assert_int_eq(port, 3001);
	ck_assert_str_eq(dir, "/srv");
	ck_assert_uint_eq(size, 64ull << 20);
	ck_assert(protect);

	char *a3[] = {"p", "-port", "nope", NULL};
	ck_assert_int_eq(flags_parse(f, 3, a3, ""), -EINVAL);
	char *a4[] = {"p", "-bogus", NULL};
	ck_assert_int_eq(flags_parse(f, 2, a4, ""), -EINVAL);
	char *a5[] = {"p", "-segment-size", "12Q", NULL};
	ck_assert_int_eq(flags_parse(f, 3, a5, ""), -EINVAL);
	char *a6[] = {"p", "-protect=false", NULL};
	ck_assert_int_eq(flags_parse(f, 2, a6, ""), 0);
	ck_assert(!protect);
}
END_TEST

START_TEST(buf_json)
{
	struct buf b = {0};
	buf_json_string(&b, "a\"b\\c\n\x01", 7);
	buf_printf(&b, ",%d", 42);
	ck_assert(!buf_failed(&b));
	ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\",42");
	char *s = buf_steal(&b);
	ck_assert_ptr_null(b.data);
	free(s);
}
END_TEST

/* A buffer nothing was appended to still hands over a C string. The
 * block freed just before is what malloc hands out next, so without the
 * terminator the string would start with its leftovers. */
START_TEST(buf_steal_empty)
{
	char *junk = malloc(256);
	ck_assert_ptr_nonnull(junk);
	memset(junk, 'x', 256);
	free(junk);
	struct buf b = {0};
	char *s = buf_steal(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	ck_assert_ptr_null(b.data);
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("all");
	tcase_add_test(tc, crc32c_known_vectors);
	tcase_add_test(tc, md5_known_vectors);
	tcase_add_test(tc, key_validation);
	tcase_add_test(tc, pct_roundtrip);
	tcase_add_test(tc, flags_forms);
	tcase_add_test(tc, buf_json);
	tcase_add_test(tc, buf_steal_empty);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
