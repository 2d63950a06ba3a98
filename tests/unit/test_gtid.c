/* SPDX-License-Identifier: MIT */
/* Unit tests: MariaDB GTID states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "source/mysql/gtid.h"

static void roundtrip(const char *in, const char *want)
{
	struct gtid_state st = { 0 };
	struct rc_buf b = { 0 };
	char err[256];

	assert_true(gtid_state_parse(&st, in, err, sizeof(err)));
	gtid_state_format(&st, &b);
	assert_string_equal(b.data ? b.data : "", want);
	buf_free(&b);
	gtid_state_free(&st);
}

static void test_parse(void **state)
{
	(void)state;
	roundtrip("", "");
	roundtrip("0-1-42", "0-1-42");
	roundtrip("2-1-5, 0-1-42", "0-1-42,2-1-5");	/* sorted by domain */
	roundtrip("4294967295-4294967295-18446744073709551615",
		  "4294967295-4294967295-18446744073709551615");
}

static void test_bad(void **state)
{
	static const char *const bad[] = {
		"0-1", "0-1-", "a-1-2", "0-1-2-3", "0-1-2,0-1-3", "4294967296-1-1",
		"0-1-18446744073709551616", "-1-2",
	};
	struct gtid_state st = { 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(gtid_state_parse(&st, bad[i], err, sizeof(err)));
	assert_true(gtid_state_parse(&st, "0-1-2,0-1-3" + 6, err, sizeof(err)));
	gtid_state_free(&st);
}

static void test_apply(void **state)
{
	struct gtid_state st = { 0 };
	struct rc_buf b = { 0 };
	char err[256];

	(void)state;
	assert_true(gtid_state_parse(&st, "1-1-10", err, sizeof(err)));
	assert_true(gtid_state_apply_text(&st, "0-2-7"));
	assert_true(gtid_state_apply_text(&st, "1-3-11"));
	assert_true(gtid_state_apply_text(&st, "5-1-1"));
	assert_false(gtid_state_apply_text(&st, "x"));
	gtid_state_format(&st, &b);
	assert_string_equal(b.data, "0-2-7,1-3-11,5-1-1");
	buf_free(&b);
	gtid_state_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
