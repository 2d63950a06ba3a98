/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the snapshot reader's chunk sizing by time and by bytes, and
 * its rows/s limit (the reading itself is tested live: test_snapshot_reader.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "source/mysql/snapshot.h"

static void test_next_rows(void **state)
{
	static const struct {
		size_t rows;		/* rows of the last chunk */
		uint64_t elapsed_us;	/* its time */
		uint64_t target_us;	/* wanted time */
		size_t min, max;	/* bounds */
		size_t want;		/* next chunk's rows */
	} cases[] = {
		{ 1000, 500000, 500000, 1, 100000, 1000 },	/* on target */
		{ 1000, 400000, 500000, 1, 100000, 1250 },	/* a bit fast */
		{ 1000, 100000, 500000, 1, 100000, 2000 },	/* fast: at most x2 */
		{ 1000, 0, 500000, 1, 100000, 2000 },		/* no time measured */
		{ 1000, 625000, 500000, 1, 100000, 800 },	/* a bit slow */
		{ 1000, 9000000, 500000, 1, 100000, 500 },	/* slow: at most /2 */
		{ 80000, 100000, 500000, 1, 100000, 100000 },	/* capped */
		{ 10, 9000000, 500000, 8, 100000, 8 },		/* floor */
		{ 0, 0, 500000, 5, 100000, 5 },			/* empty chunk */
		{ 1, 9000000, 500000, 0, 0, 1 },		/* never 0 rows */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(snap_next_rows(cases[i].rows, cases[i].elapsed_us,
						cases[i].target_us, cases[i].min, cases[i].max),
				 cases[i].want);
}

static void test_rows_in_bytes(void **state)
{
	(void)state;
	assert_int_equal(snap_rows_in_bytes(34691, 16777216 + 300, 16777216), 34690);
	assert_int_equal(snap_rows_in_bytes(1000, 250000, 1000000), 4000);	/* room for more */
	assert_int_equal(snap_rows_in_bytes(10, 50000000, 1000), 1);		/* never 0 rows */
	assert_true(snap_rows_in_bytes(1000, 250000, 0) == SIZE_MAX);		/* no limit */
	assert_true(snap_rows_in_bytes(0, 0, 1000) == SIZE_MAX);		/* nothing read */
}

static void test_pace(void **state)
{
	(void)state;
	assert_int_equal(snap_pace_us(5000, 1000, 0), 0);		/* no limit */
	assert_int_equal(snap_pace_us(5000, 1000, -1), 0);
	assert_int_equal(snap_pace_us(1000, 1000000, 1000), 0);		/* on the rate */
	assert_int_equal(snap_pace_us(1000, 2000000, 1000), 0);		/* slower */
	assert_int_equal(snap_pace_us(1000, 250000, 1000), 750000);	/* 4x too fast */
	assert_int_equal(snap_pace_us(3, 0, 2), 1500000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_rows),
		cmocka_unit_test(test_rows_in_bytes),
		cmocka_unit_test(test_pace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
