/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: PostgreSQL text values to JSON, one table row per case: type
 * OID, typmod, the server's text, the JSON wanted, and whether the type's
 * own rule applied (false: fell back to a string of the text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "source/pg/pgvalue.h"

/* One case. */
struct vcase {
	uint32_t oid;		/* type */
	int32_t typmod;		/* modifier */
	const char *in;		/* server text */
	const char *want;	/* JSON */
	bool exact;		/* rendered by the type's rule */
};

static const struct vcase cases[] = {
	{ 16, -1, "t", "true", true },
	{ 16, -1, "f", "false", true },
	{ 16, -1, "x", "\"x\"", false },
	{ 21, -1, "-32768", "-32768", true },
	{ 23, -1, "2147483647", "2147483647", true },
	{ 20, -1, "-9223372036854775808", "-9223372036854775808", true },
	{ 26, -1, "4294967295", "4294967295", true },
	{ 5069, -1, "18446744073709551615", "18446744073709551615", true },
	{ 23, -1, "12a", "\"12a\"", false },
	{ 23, -1, "", "\"\"", false },
	{ 1700, -1, "-12.500", "\"-12.500\"", true },
	{ 1700, -1, "NaN", "\"NaN\"", true },
	{ 1700, -1, "-Infinity", "\"-Infinity\"", true },
	{ 1700, -1, "1e5", "\"1e5\"", false },
	{ 701, -1, "1e+100", "1e+100", true },
	{ 701, -1, "-0", "-0", true },
	{ 701, -1, "0.1", "0.1", true },
	{ 700, -1, "1.5e-07", "1.5e-07", true },
	{ 701, -1, "NaN", "\"NaN\"", true },
	{ 701, -1, "Infinity", "\"Infinity\"", true },
	{ 701, -1, "-Infinity", "\"-Infinity\"", true },
	{ 701, -1, "1.", "\"1.\"", false },
	{ 25, -1, "a\"b\\\n\xc3\xa9", "\"a\\\"b\\\\\\n\xc3\xa9\"", true },
	{ 1042, 14, "ab  ", "\"ab  \"", true },
	{ 18, -1, "\\377", "\"\\\\377\"", true },
	{ 17, -1, "\\x", "\"\"", true },
	{ 17, -1, "\\x66", "\"Zg==\"", true },
	{ 17, -1, "\\x666f", "\"Zm8=\"", true },
	{ 17, -1, "\\x666F6f", "\"Zm9v\"", true },
	{ 17, -1, "\\x00ff10", "\"AP8Q\"", true },
	{ 17, -1, "\\x6", "\"\\\\x6\"", false },
	{ 17, -1, "\\xzz", "\"\\\\xzz\"", false },
	{ 17, -1, "abc", "\"abc\"", false },
	{ 114, -1, "{\"a\": 1, \"a\": [true]}", "{\"a\": 1, \"a\": [true]}", true },
	{ 3802, -1, "[1, \"x\", null]", "[1, \"x\", null]", true },
	{ 1082, -1, "2024-02-29", "\"2024-02-29\"", true },
	{ 1082, -1, "0044-03-15 BC", "\"-0043-03-15\"", true },
	{ 1082, -1, "0001-01-01 BC", "\"0000-01-01\"", true },
	{ 1082, -1, "5874897-12-31", "\"5874897-12-31\"", true },
	{ 1082, -1, "infinity", "\"infinity\"", true },
	{ 1082, -1, "-infinity", "\"-infinity\"", true },
	{ 1082, -1, "02/29/2024", "\"02/29/2024\"", false },
	{ 1114, -1, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\"", true },
	{ 1114, -1, "2024-01-02 03:04:05.12", "\"2024-01-02 03:04:05.12\"", true },
	{ 1114, 3, "2024-01-02 03:04:05.12", "\"2024-01-02 03:04:05.120\"", true },
	{ 1114, 0, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\"", true },
	{ 1114, 6, "0044-03-15 12:00:00.5 BC", "\"-0043-03-15 12:00:00.500000\"", true },
	{ 1114, -1, "294276-12-31 23:59:59.999999", "\"294276-12-31 23:59:59.999999\"", true },
	{ 1114, -1, "-infinity", "\"-infinity\"", true },
	{ 1184, -1, "2024-01-02 03:04:05+00", "\"2024-01-02 03:04:05Z\"", true },
	{ 1184, -1, "2024-01-01 01:04:05.5+05:30", "\"2023-12-31 19:34:05.5Z\"", true },
	{ 1184, -1, "2023-12-31 22:00:00-03", "\"2024-01-01 01:00:00Z\"", true },
	{ 1184, -1, "1850-01-01 12:00:00+00:19:32", "\"1850-01-01 11:40:28Z\"", true },
	{ 1184, -1, "0044-03-15 00:10:00+00:19:32 BC", "\"-0043-03-14 23:50:28Z\"", true },
	{ 1184, -1, "2000-03-01 00:00:00+01", "\"2000-02-29 23:00:00Z\"", true },
	{ 1184, 2, "2024-01-02 03:04:05+00", "\"2024-01-02 03:04:05.00Z\"", true },
	{ 1184, -1, "infinity", "\"infinity\"", true },
	{ 1184, -1, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\"", false },
	{ 1083, -1, "24:00:00", "\"24:00:00\"", true },
	{ 1083, 2, "03:04:05.1", "\"03:04:05.10\"", true },
	{ 1266, -1, "12:00:01.25+05:30", "\"12:00:01.25+05:30\"", true },
	{ 1266, -1, "12:00:01-08", "\"12:00:01-08:00\"", true },
	{ 1186, -1, "00:00:00", "\"PT0S\"", true },
	{ 1186, -1, "1 year 2 mons 3 days 04:05:06.789", "\"P1Y2M3DT4H5M6.789S\"", true },
	{ 1186, -1, "-1 years -2 mons +3 days -04:05:06.5", "\"P-1Y-2M3DT-4H-5M-6.5S\"", true },
	{ 1186, -1, "-1 days", "\"P-1D\"", true },
	{ 1186, -1, "1 day -00:00:00.5", "\"P1DT-0.5S\"", true },
	{ 1186, -1, "10 mons 3 days -04:05:06.5", "\"P10M3DT-4H-5M-6.5S\"", true },
	{ 1186, -1, "1000:00:00", "\"PT1000H\"", true },
	{ 1186, -1, "00:05:00", "\"PT5M\"", true },
	{ 1186, -1, "00:00:07.100", "\"PT7.1S\"", true },
	{ 1186, -1, "P1Y2M", "\"P1Y2M\"", true },
	{ 1186, -1, "@ 1 year", "\"@ 1 year\"", false },
	{ 1186, -1, "1 fortnight", "\"1 fortnight\"", false },
	{ 22, -1, "1 2 3", "[1,2,3]", true },
	{ 30, -1, "", "[]", true },
	{ 2950, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"", true },
	{ 869, -1, "10.0.0.1/8", "\"10.0.0.1/8\"", true },
	{ 790, -1, "$1,234.50", "\"$1,234.50\"", true },
	{ 1560, 3, "101", "\"101\"", true },
	{ 600, -1, "(1,2)", "\"(1,2)\"", true },
	{ 99999, -1, "happy", "\"happy\"", false },
	/* arrays */
	{ 1007, -1, "{}", "[]", true },
	{ 1007, -1, "{1,NULL,-3}", "[1,null,-3]", true },
	{ 1007, -1, "[0:1]={1,2}", "[1,2]", true },
	{ 1007, -1, "{{1,2},{3,4}}", "[[1,2],[3,4]]", true },
	{ 1009, -1, "{\"a b\",\"NULL\",NULL,\"\\\"\",\"\\\\\",\"\"}",
	  "[\"a b\",\"NULL\",null,\"\\\"\",\"\\\\\",\"\"]", true },
	{ 1009, -1, "{null,Null}", "[null,null]", true },
	{ 1000, -1, "{t,f}", "[true,false]", true },
	{ 1231, -1, "{1.50,NaN}", "[\"1.50\",\"NaN\"]", true },
	{ 1022, -1, "{1.5,Infinity}", "[1.5,\"Infinity\"]", true },
	{ 1001, -1, "{\"\\\\x666f\",NULL}", "[\"Zm8=\",null]", true },
	{ 1185, -1, "{\"2024-01-02 03:04:05+01\"}", "[\"2024-01-02 02:04:05Z\"]", true },
	{ 1115, 3, "{\"2024-01-02 03:04:05\"}", "[\"2024-01-02 03:04:05.000\"]", true },
	{ 3807, -1, "{\"{\\\"a\\\": 1}\",\"[]\"}", "[{\"a\": 1},[]]", true },
	{ 1020, -1, "{(3,4),(1,2);(3,5),(1,2)}", "[\"(3,4),(1,2)\",\"(3,5),(1,2)\"]", true },
	{ 1007, -1, "{1,x}", "[1,\"x\"]", false },
	{ 1007, -1, "{1,2", "\"{1,2\"", false },
	{ 1007, -1, "{1,,2}", "\"{1,,2}\"", false },
	{ 1009, -1, "{\"abc}", "\"{\\\"abc}\"", false },
	{ 1007, -1, "{1}x", "\"{1}x\"", false },
	{ 1007, -1, "[0:1]{1}", "\"[0:1]{1}\"", false },
	{ 3905, -1, "{\"[1,2)\",empty}",
	  "[{\"lower\":1,\"upper\":2,\"lower_inc\":true,\"upper_inc\":false},{\"empty\":true}]", true },
	/* ranges and multiranges */
	{ 3904, -1, "empty", "{\"empty\":true}", true },
	{ 3904, -1, "[1,10)", "{\"lower\":1,\"upper\":10,\"lower_inc\":true,\"upper_inc\":false}", true },
	{ 3906, -1, "(,5.5]", "{\"lower\":null,\"upper\":\"5.5\",\"lower_inc\":false,\"upper_inc\":true}", true },
	{ 3912, -1, "[2020-01-01,infinity)",
	  "{\"lower\":\"2020-01-01\",\"upper\":\"infinity\",\"lower_inc\":true,\"upper_inc\":false}", true },
	{ 3910, -1, "[\"2020-01-01 10:00:00+02\",)",
	  "{\"lower\":\"2020-01-01 08:00:00Z\",\"upper\":null,\"lower_inc\":true,\"upper_inc\":false}", true },
	{ 3908, -1, "[\"2020-01-01 10:00:00\",\"2020-01-01 \"\"x\")",
	  "{\"lower\":\"2020-01-01 10:00:00\",\"upper\":\"2020-01-01 \\\"x\",\"lower_inc\":true,\"upper_inc\":false}", false },
	{ 4451, -1, "{}", "[]", true },
	{ 4451, -1, "{[1,3),[5,7)}",
	  "[{\"lower\":1,\"upper\":3,\"lower_inc\":true,\"upper_inc\":false},"
	  "{\"lower\":5,\"upper\":7,\"lower_inc\":true,\"upper_inc\":false}]", true },
	{ 3904, -1, "[1,10", "\"[1,10\"", false },
	{ 3904, -1, "[1;10)", "\"[1;10)\"", false },
	{ 4451, -1, "{[1,3)", "\"{[1,3)\"", false },
};

static void test_cases(void **state)
{
	struct rc_buf b = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vcase *c = &cases[i];
		bool exact;

		buf_reset(&b);
		buf_puts(&b, "<");	/* what is there stays */
		exact = pgv_render(&b, c->oid, c->typmod, c->in, strlen(c->in));
		if (strcmp(b.data + 1, c->want) != 0 || exact != c->exact || b.data[0] != '<')
			fail_msg("oid %u '%s': got %s (%s), want %s (%s)", c->oid, c->in, b.data + 1,
				 exact ? "exact" : "fallback", c->want, c->exact ? "exact" : "fallback");
	}
	buf_free(&b);
}

static void test_tables(void **state)
{
	(void)state;
	assert_int_equal(pgv_array_elem(1007), 23);
	assert_int_equal(pgv_array_elem(6157), 4536);
	assert_int_equal(pgv_array_elem(23), 0);
	assert_true(pgv_type_known(1007));
	assert_true(pgv_type_known(25));
	assert_false(pgv_type_known(16400));
}

/* Every prefix and byte mutation of array, range and time texts renders
 * valid output without reading past the text (heap copies for ASan). */
static void test_robust(void **state)
{
	static const struct { uint32_t oid; const char *in; } seeds[] = {
		{ 1009, "{{\"a\\\"b\",NULL},{c,\"\"}}" }, { 1007, "[0:1][1:1]={{1},{2}}" },
		{ 3910, "[\"2020-01-01 10:00:00+02\",\"2021-01-01 10:00:00.5+02\")" },
		{ 4535, "{[2020-01-01,2020-02-01),(,infinity)}" },
		{ 1186, "-1 years -2 mons +3 days -04:05:06.5" },
		{ 1184, "0044-03-15 00:10:00.123+00:19:32 BC" }, { 17, "\\x00ff10" },
		{ 3807, "{\"{\\\"a\\\": 1}\",\"[]\"}" }, { 3913, "{\"[2020-01-01,2020-02-01)\"}" },
	};
	static const char vals[] = { '\0', '"', '\\', '{', '}', ',', '[', ']', '(', ')', ' ', '-', 'x', '9' };
	struct rc_buf b = { 0 };

	(void)state;
	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		size_t n = strlen(seeds[k].in);
		char *p;

		for (size_t len = 0; len <= n; len++) {
			p = malloc(len ? len : 1);
			assert_non_null(p);
			memcpy(p, seeds[k].in, len);
			buf_reset(&b);
			(void)pgv_render(&b, seeds[k].oid, -1, p, len);
			assert_true(b.len > 0);
			free(p);
		}
		p = malloc(n);
		assert_non_null(p);
		for (size_t i = 0; i < n; i++) {
			for (size_t v = 0; v < sizeof(vals); v++) {
				memcpy(p, seeds[k].in, n);
				p[i] = vals[v];
				buf_reset(&b);
				(void)pgv_render(&b, seeds[k].oid, -1, p, n);
				assert_true(b.len > 0);
			}
		}
		free(p);
	}
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_robust),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
