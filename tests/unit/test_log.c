/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the logger's fan-out.  One log_write() reaches stderr, the
 * log file and syslog (syslog() is replaced at link time by --wrap, so the
 * test reads what would have gone to the system logger), each with the
 * level, and nothing is written below the threshold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"

/* LOG_ERR of <syslog.h>, whose names clash with log.h's levels */
#define SYSLOG_ERR 3

static char dir[] = "/tmp/rowcast-test-log-XXXXXX";
static char path[300];		/* the log file */
static char errpath[300];	/* where stderr goes during a test */
static int sys_prio = -1;	/* last priority given to syslog() */
static char sys_msg[4096];	/* last line given to syslog() */

static void record(int prio, const char *fmt, va_list ap)
{
	sys_prio = prio;
	vsnprintf(sys_msg, sizeof(sys_msg), fmt, ap);
}

void __wrap_syslog(int prio, const char *fmt, ...);
void __wrap_syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(prio, fmt, ap);
	va_end(ap);
}

/* _FORTIFY_SOURCE turns syslog() into this */
void __wrap___syslog_chk(int prio, int flag, const char *fmt, ...);
void __wrap___syslog_chk(int prio, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	record(prio, fmt, ap);
	va_end(ap);
}

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *s = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(s);
	if (fread(s, 1, 65535, f) == 0)
		s[0] = '\0';
	fclose(f);
	return s;
}

/* Everything written to stderr between the two calls. */
static int saved_stderr = -1;
static void capture_stderr(void)
{
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(freopen(errpath, "w", stderr) != NULL);
}

static char *release_stderr(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	return slurp(errpath);
}

static void test_fatal_line_reaches_every_destination(void **state)
{
	char err[256], *file, *out;

	(void)state;
	unlink(path);
	sys_prio = -1;
	assert_true(log_file_open(path, err, sizeof(err)));
	log_setup(LOG_INFO, LOG_TO_STDERR | LOG_TO_SYSLOG, "rowcast-test");
	capture_stderr();
	log_write(LOG_ERROR, "127.0.0.1:3306", "Access denied for user 'rowcast'");
	log_debug("below the threshold");
	out = release_stderr();
	file = slurp(path);
	/* 2026-11-28T10:00:00.123Z rowcast error: where: message */
	assert_int_equal(strlen(file), 24 + strlen(" rowcast error: 127.0.0.1:3306: Access denied for user 'rowcast'\n"));
	assert_string_equal(file + 24, " rowcast error: 127.0.0.1:3306: Access denied for user 'rowcast'\n");
	assert_true(file[4] == '-' && file[10] == 'T' && file[23] == 'Z');
	assert_non_null(strstr(out, "rowcast error: 127.0.0.1:3306: Access denied for user 'rowcast'\n"));
	assert_null(strstr(out, "below"));
	assert_int_equal(sys_prio, SYSLOG_ERR);
	assert_string_equal(sys_msg, "127.0.0.1:3306: Access denied for user 'rowcast'");
	/* a later log_setup (a reload) keeps the file */
	log_setup(LOG_DEBUG, LOG_TO_STDERR, "rowcast-test");
	capture_stderr();
	log_warn("after reload %d", 2);
	free(release_stderr());
	free(file);
	file = slurp(path);
	assert_non_null(strstr(file, " rowcast warning: after reload 2\n"));
	assert_true(log_file_open(NULL, err, sizeof(err)));
	free(file);
	free(out);
}

static void test_unopenable_file_keeps_the_old_one(void **state)
{
	char err[256], *file;

	(void)state;
	unlink(path);
	assert_true(log_file_open(path, err, sizeof(err)));
	assert_false(log_file_open("/nonexistent-dir/x.log", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent-dir/x.log: cannot open log file: No such file or directory");
	log_setup(LOG_INFO, 0, "rowcast-test");
	log_error("still here");
	file = slurp(path);
	assert_string_equal(file + 24, " rowcast error: still here\n");
	assert_true(log_file_open("", err, sizeof(err)));
	log_error("not written");
	free(file);
	file = slurp(path);
	assert_null(strstr(file, "not written"));
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fatal_line_reaches_every_destination),
		cmocka_unit_test(test_unopenable_file_keeps_the_old_one),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/rowcast.log", dir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	unlink(errpath);
	rmdir(dir);
	return rc;
}
