/* SPDX-License-Identifier: MIT */
/* Unit tests: prepared XA transactions as the checkpoint keeps them
 * ("XID<TAB>FILE:OFFSET<TAB>KEY"), and the pending list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "source/mysql/xa.h"

static void test_round_trip(void **state)
{
	static const char *const texts[] = {
		"X'31',X'',1\tmysql-bin.000001:1234\t0-1-5",
		"X'6162',X'63',2\tbinlog:with:colons.000007:4\tmysql-bin.000007:4",
		"X'',X'',0\tb.1:18446744073709551615\t3E11FA47-71CA-11E1-9E33-C80AA9429562:23",
	};
	struct xa_pending x;
	struct rc_buf b = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_true(xa_parse(texts[i], &x));
		buf_reset(&b);
		xa_format(&x, &b);
		assert_string_equal(b.data, texts[i]);
	}
	assert_true(xa_parse(texts[1], &x));
	assert_string_equal(x.xid, "X'6162',X'63',2");
	assert_string_equal(x.file, "binlog:with:colons.000007");
	assert_int_equal(x.offset, 4);
	assert_string_equal(x.key, "mysql-bin.000007:4");
	buf_free(&b);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", "X'31',X'',1", "X'31',X'',1\tf:12", "X'31',X'',1\tf:12\tk\tmore",
		"\tf:12\tk", "X'31',X'',1\t:12\tk", "X'31',X'',1\tf:\tk", "X'31',X'',1\tf:1x\tk",
		"X'31',X'',1\tf12\tk", "X'31',X'',1\tf:12\t",
	};
	struct xa_pending x;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xa_parse(bad[i], &x))
			fail_msg("accepted '%s'", bad[i]);
}

static void test_list(void **state)
{
	struct xa_list l = { 0 }, c = { 0 };
	struct xa_pending a, b;

	(void)state;
	assert_true(xa_parse("X'61',X'',1\tf.1:100\t0-1-1", &a));
	assert_true(xa_parse("X'62',X'',1\tf.1:200\t0-1-2", &b));
	xa_list_add(&l, &a);
	xa_list_add(&l, &b);
	assert_non_null(xa_list_find(&l, "X'62',X'',1"));
	assert_null(xa_list_find(&l, "X'63',X'',1"));
	xa_list_copy(&c, &l);
	xa_list_remove(&l, &a);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].key, "0-1-2");
	assert_int_equal(c.n, 2);	/* the copy stands on its own */
	xa_list_remove(&l, &a);		/* not there: nothing happens */
	assert_int_equal(l.n, 1);
	xa_list_free(&l);
	xa_list_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
