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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source/mysql/msnap.h"
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

/* Apply a step text. */
static void step(struct snap_pos *p, const char *text)
{
	snap_pos_apply(p, text, strlen(text));
}

/* The snapshot part of a position: requests, chunks, table ends, and the
 * checkpoint round trip (what a restart resumes from). */
static void test_position(void **state)
{
	struct snap_pos p = { 0 }, q = { 0 };
	char path[] = "/tmp/rowcast-test-msnapXXXXXX", err[512];
	struct ckpt *c;
	int fd;

	(void)state;
	step(&p, "q\t1\ti\tshop\torders\t\nq\t1\ti\tshop\tlines\t\n");
	step(&p, "q\t2\td\tshop\tusers\tstatus = 'open' AND id > 5\n");
	assert_int_equal(p.n, 3);
	assert_int_equal(p.last_id, 2);
	assert_false(p.started);
	step(&p, "c\t100\t100\t1000\n");
	assert_true(p.started);
	assert_string_equal(p.max_key, "1000");
	assert_string_equal(p.last_key, "100");
	/* a later chunk keeps the max key of the table's start */
	step(&p, "c\t50\t150\t2000\n");
	assert_string_equal(p.max_key, "1000");
	assert_string_equal(p.last_key, "150");
	assert_int_equal(p.rows, 150);
	assert_int_equal(p.chunks, 2);
	/* the end of a table: the next one starts afresh */
	step(&p, "c\t0\t\t\nd\n");
	assert_int_equal(p.n, 2);
	assert_string_equal(p.v[0].table, "lines");
	assert_false(p.started);
	assert_null(p.max_key);
	assert_null(p.last_key);
	assert_int_equal(p.rows, 0);
	assert_int_equal(p.tables_done, 1);
	/* a composite key with string literals survives the checkpoint */
	step(&p, "c\t7\t3,_utf8mb4 X'c3a9' COLLATE utf8mb4_general_ci\t9,_binary X'ff'\n");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	snap_pos_store(&p, c);
	assert_true(ckpt_write(c, err, sizeof(err)));
	ckpt_close(c);
	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	assert_true(snap_pos_load(&q, c, err, sizeof(err)));
	ckpt_close(c);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.last_id, 2);
	assert_int_equal(q.tables_done, 1);
	assert_string_equal(q.v[0].db, "shop");
	assert_string_equal(q.v[0].table, "lines");
	assert_null(q.v[0].where);
	assert_false(q.v[0].on_demand);
	assert_string_equal(q.v[1].table, "users");
	assert_string_equal(q.v[1].where, "status = 'open' AND id > 5");
	assert_true(q.v[1].on_demand);
	assert_int_equal(q.v[1].id, 2);
	assert_true(q.started);
	assert_string_equal(q.last_key, "3,_utf8mb4 X'c3a9' COLLATE utf8mb4_general_ci");
	assert_string_equal(q.max_key, "9,_binary X'ff'");
	assert_int_equal(q.rows, 7);
	assert_int_equal(q.chunks, 1);
	/* a copy is the same, and independent */
	snap_pos_copy(&p, &q);
	step(&q, "d\nd\n");
	assert_int_equal(q.n, 0);
	assert_int_equal(p.n, 2);
	unlink(path);
	{
		char lock[sizeof(path) + 8];

		snprintf(lock, sizeof(lock), "%s.lock", path);
		unlink(lock);
	}
	snap_pos_free(&p);
	snap_pos_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_rows),
		cmocka_unit_test(test_rows_in_bytes),
		cmocka_unit_test(test_pace),
		cmocka_unit_test(test_position),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
