/* SPDX-License-Identifier: MIT */
/* Unit tests: checkpoint file round trip, damage detection, locking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "checkpoint/checkpoint.h"
#include "base/log.h"

static char dir[] = "/tmp/rowcast-test-ckpt-XXXXXX";
static char path[300];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static void test_missing_then_roundtrip(void **state)
{
	struct ckpt *c;
	char err[512];

	(void)state;
	unlink(path);
	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	assert_false(ckpt_exists(c));
	ckpt_set(c, "source", "gtid_state", "0-1-5,1-1-9");
	ckpt_set(c, "progress", "gtid", "0-1-6");
	ckpt_set(c, "progress", "next_row", "17");
	ckpt_set(c, "future", "lsn", "0/16B3748");	/* a section we do not know */
	assert_true(ckpt_write(c, err, sizeof(err)));
	ckpt_close(c);

	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	assert_true(ckpt_exists(c));
	assert_string_equal(ckpt_get(c, "source", "gtid_state"), "0-1-5,1-1-9");
	assert_string_equal(ckpt_get(c, "progress", "next_row"), "17");
	assert_string_equal(ckpt_get(c, "future", "lsn"), "0/16B3748");
	assert_string_equal(ckpt_get(c, "rowcast", "format"), "1");
	ckpt_clear_section(c, "progress");
	assert_null(ckpt_get(c, "progress", "gtid"));
	ckpt_set(c, "source", "gtid_state", NULL);
	assert_null(ckpt_get(c, "source", "gtid_state"));
	ckpt_close(c);
}

static int ended;

static void on_ended(void *arg)
{
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* The writer thread: what it writes reads back, the result is taken once,
 * and a folder that is gone is a failure that names the path. */
static void test_async(void **state)
{
	struct ckpt_async *a;
	struct ckpt *c;
	char err[512], bad[400];

	(void)state;
	unlink(path);
	ended = 0;
	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	a = ckpt_async_new(c, on_ended, &ended);
	assert_int_equal(ckpt_async_result(a, err, sizeof(err)), -1);
	ckpt_set(c, "source", "gtid_state", "0-1-77");
	assert_true(ckpt_async_submit(a));
	ckpt_set(c, "source", "gtid_state", "0-1-78");	/* after the hand-over: not in it */
	ckpt_async_wait(a);
	assert_int_equal(ckpt_async_result(a, err, sizeof(err)), 1);
	assert_int_equal(ckpt_async_result(a, err, sizeof(err)), -1);
	assert_int_equal(__atomic_load_n(&ended, __ATOMIC_SEQ_CST), 1);
	assert_true(ckpt_exists(c));
	ckpt_async_free(a);
	ckpt_close(c);
	assert_true(ckpt_read_only(path, &c, err, sizeof(err)));
	assert_string_equal(ckpt_get(c, "source", "gtid_state"), "0-1-77");
	ckpt_close(c);

	snprintf(bad, sizeof(bad), "%s/gone/checkpoint", dir);
	assert_true(ckpt_read_only(bad, &c, err, sizeof(err)));
	a = ckpt_async_new(c, NULL, NULL);
	assert_true(ckpt_async_submit(a));
	ckpt_async_wait(a);
	assert_int_equal(ckpt_async_result(a, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/gone/checkpoint.tmp: open"));
	ckpt_async_free(a);
	ckpt_close(c);
}

static void test_damage(void **state)
{
	struct ckpt *c;
	char err[512], want[600];
	char *text;
	FILE *f;
	long n;

	(void)state;
	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	ckpt_set(c, "source", "gtid_state", "0-1-5");
	assert_true(ckpt_write(c, err, sizeof(err)));
	ckpt_close(c);

	/* one changed digit */
	f = fopen(path, "r+");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	text = calloc(1, (size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*strstr(text, "0-1-5") = '7';
	write_file(text);
	free(text);
	assert_false(ckpt_open(path, &c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: damaged: checksum does not match its contents", path);
	assert_string_equal(err, want);

	write_file("");
	assert_false(ckpt_open(path, &c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: damaged: the file is empty", path);
	assert_string_equal(err, want);

	write_file("[source]\ngtid_state = 0-1-5\n");
	assert_false(ckpt_open(path, &c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: damaged: no [checksum] section", path);
	assert_string_equal(err, want);
}

static void test_newer_format(void **state)
{
	static const char body[] = "[rowcast]\nformat = 9\n";
	struct ckpt *c;
	char err[512], want[600], full[300];

	(void)state;
	/* a valid checksum over a format this version does not know */
	snprintf(full, sizeof(full), "%s\n[checksum]\ncrc32 = %08lx\n", body,
		 crc32(0L, (const Bytef *)body, (uInt)strlen(body)));
	write_file(full);
	assert_false(ckpt_open(path, &c, err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "%s: format version 9 is newer than this rowcast understands (1)", path);
	assert_string_equal(err, want);
	unlink(path);
}

static void test_lock(void **state)
{
	struct ckpt *c, *c2;
	char err[512], want[600];
	pid_t pid;
	int status;

	(void)state;
	unlink(path);
	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	/* flock is per open file: a second open in a child is refused */
	pid = fork();
	if (pid == 0) {
		bool ok = ckpt_open(path, &c2, err, sizeof(err));

		snprintf(want, sizeof(want), "%s is in use by another rowcast (pid %ld)", path,
			 (long)getppid());
		_exit(!ok && strcmp(err, want) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ckpt_close(c);
	assert_true(ckpt_open(path, &c, err, sizeof(err)));
	ckpt_close(c);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	log_setup(LOG_ERROR, 0, "test");
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_then_roundtrip),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_newer_format),
		cmocka_unit_test(test_lock),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
