/* SPDX-License-Identifier: MIT */
/* Unit tests: reused buffers and the JSON string/base64 writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"

static void check_str(const char *in, size_t n, const char *want, unsigned want_bad)
{
	struct rc_buf b = { 0 };
	unsigned bad = 0;

	buf_json_str(&b, in, n, &bad);
	assert_string_equal(b.data, want);
	assert_int_equal(bad, want_bad);
	buf_free(&b);
}

static void test_json_str(void **state)
{
	(void)state;
	check_str("plain", 5, "\"plain\"", 0);
	check_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"", 0);
	check_str("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"", 0);
	check_str("\x01\x1f", 2, "\"\\u0001\\u001f\"", 0);
	check_str("nul\0x", 5, "\"nul\\u0000x\"", 0);
	/* 2-, 3- and 4-byte UTF-8 pass through */
	check_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", 0);
	/* invalid: lone continuation, overlong, surrogate, truncated */
	check_str("\x80", 1, "\"\xef\xbf\xbd\"", 1);
	check_str("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"", 2);
	check_str("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", 3);
	check_str("a\xe2\x82", 3, "\"a\xef\xbf\xbd\xef\xbf\xbd\"", 2);
	check_str("", 0, "\"\"", 0);
	/* runs of plain bytes and UTF-8 around escapes and replacements */
	check_str("ab\x7f\xc3\xa9\"x\xffyz\n", 11, "\"ab\x7f\xc3\xa9\\\"x\xef\xbf\xbdyz\\n\"", 1);
}

/* Every special byte at every position of a string longer than the 8-byte
 * steps of the writer, with plain bytes around it. */
static void test_json_str_positions(void **state)
{
	static const struct {
		const char *in, *out;
		unsigned bad;
	} sp[] = {
		{ "\"", "\\\"", 0 }, { "\\", "\\\\", 0 }, { "\n", "\\n", 0 },
		{ "\x01", "\\u0001", 0 }, { "\x7f", "\x7f", 0 }, { "\xc3\xa9", "\xc3\xa9", 0 },
		{ "\xff", "\xef\xbf\xbd", 1 }, { "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd", 2 },
	};
	char in[64], want[64];

	(void)state;
	for (size_t k = 0; k < sizeof(sp) / sizeof(sp[0]); k++) {
		for (size_t pos = 0; pos <= 24; pos++) {
			size_t n = strlen(sp[k].in);

			memset(in, 'a', pos);
			memcpy(in + pos, sp[k].in, n);
			memset(in + pos + n, 'z', 24 - pos);
			want[0] = '"';
			memset(want + 1, 'a', pos);
			strcpy(want + 1 + pos, sp[k].out);
			memset(want + 1 + pos + strlen(sp[k].out), 'z', 24 - pos);
			strcpy(want + 1 + pos + strlen(sp[k].out) + 24 - pos, "\"");
			check_str(in, pos + n + 24 - pos, want, sp[k].bad);
		}
	}
}

static void test_base64(void **state)
{
	static const struct { const char *in; const char *out; } cases[] = {
		{ "", "\"\"" }, { "f", "\"Zg==\"" }, { "fo", "\"Zm8=\"" },
		{ "foo", "\"Zm9v\"" }, { "foob", "\"Zm9vYg==\"" }, { "fooba", "\"Zm9vYmE=\"" },
		{ "foobar", "\"Zm9vYmFy\"" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rc_buf b = { 0 };

		buf_json_base64(&b, (const uint8_t *)cases[i].in, strlen(cases[i].in));
		assert_string_equal(b.data, cases[i].out);
		buf_free(&b);
	}
}

static void test_integers(void **state)
{
	struct rc_buf b = { 0 };

	(void)state;
	buf_put_u64(&b, 18446744073709551615ULL);
	buf_putc(&b, ' ');
	buf_put_i64(&b, INT64_MIN);
	buf_putc(&b, ' ');
	buf_put_i64(&b, 0);
	assert_string_equal(b.data, "18446744073709551615 -9223372036854775808 0");
	buf_reset(&b);
	for (uint64_t v = 1; v < 10000000000000000000ULL; v *= 10) {
		buf_put_u64(&b, v - 1);
		buf_putc(&b, ',');
	}
	assert_string_equal(b.data, "0,9,99,999,9999,99999,999999,9999999,99999999,999999999,"
			    "9999999999,99999999999,999999999999,9999999999999,99999999999999,"
			    "999999999999999,9999999999999999,99999999999999999,"
			    "999999999999999999,");
	buf_free(&b);
}

static void test_digits_back(void **state)
{
	char tmp[32], *end = tmp + sizeof(tmp), *p;

	(void)state;
	p = buf_digits_back(end, 7, 2);
	assert_memory_equal(p, "07", 2);
	assert_int_equal(end - p, 2);
	p = buf_digits_back(end, 2026, 4);
	assert_memory_equal(p, "2026", 4);
	p = buf_digits_back(end, 123, 6);
	assert_memory_equal(p, "000123", 6);
	p = buf_digits_back(end, 0, 0);
	assert_memory_equal(p, "0", 1);
	assert_int_equal(end - p, 1);
	p = buf_digits_back(end, 1050, 2);
	assert_memory_equal(p, "1050", 4);
}

static void test_growth(void **state)
{
	struct rc_buf b = { 0 };

	(void)state;
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_memory_equal(b.data, "0,1,2,", 6);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_true(b.cap > 0);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_json_str_positions),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_digits_back),
		cmocka_unit_test(test_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
