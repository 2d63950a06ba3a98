/* SPDX-License-Identifier: MIT */
/* Unit tests: the option table and the exact messages for bad config lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/log.h"

static char path[] = "/tmp/rowcast-test-config-XXXXXX";
static char lines[16][600];
static int nlines;

static void hook(int level, const char *line, void *ctx)
{
	(void)level;
	(void)ctx;
	if (nlines < 16)
		snprintf(lines[nlines++], sizeof(lines[0]), "%s", line);
}

static enum rc_status load(const char *text, struct rc_config **cfg, struct rc_error *e)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	nlines = 0;
	memset(e, 0, sizeof(*e));
	return rc_config_load(path, cfg, e);
}

#define MIN "[source]\nuser = rep\nserver_id = 7\n"

static void test_minimal_and_defaults(void **state)
{
	struct rc_config *c;
	struct rc_error e;

	(void)state;
	assert_int_equal(load(MIN, &c, &e), RC_OK);
	assert_string_equal(c->src_user, "rep");
	assert_int_equal(c->src_server_id, 7);
	assert_int_equal(c->src_port, 3306);
	assert_string_equal(c->src_host, "127.0.0.1");
	assert_int_equal(c->mqtt_qos, 1);
	assert_string_equal(c->mqtt_topic_prefix, "rowcast");
	assert_int_equal(c->ckpt_interval_ms, 1000);
	assert_int_equal(c->sink_kind, SINK_MQTT);
	assert_int_equal(c->src_start_kind, START_CURRENT);
	rc_config_free(c);
}

static void test_values(void **state)
{
	struct rc_config *c;
	struct rc_error e;

	(void)state;
	assert_int_equal(load(MIN "password = a;b#c\nstart_position = 0-1-5,1-2-9\n"
			      "[sink]\ntype = stdout\n[mqtt]\nqos = 2\n[log]\nlevel = debug\n",
			      &c, &e), RC_OK);
	assert_string_equal(c->src_password, "a;b#c");	/* no inline comments */
	assert_int_equal(c->src_start_kind, START_GTID);
	assert_string_equal(c->src_start, "0-1-5,1-2-9");
	assert_int_equal(c->sink_kind, SINK_STDOUT);
	assert_int_equal(c->mqtt_qos, 2);
	assert_int_equal(c->log_level, LOG_DEBUG);
	rc_config_free(c);
}

static void test_long_lines(void **state)
{
	char text[4096], longval[1001];
	struct rc_config *c;
	struct rc_error e;

	(void)state;
	memset(longval, 'p', 1000);
	longval[1000] = '\0';
	/* inih reads long lines in pieces: a long comment with no '=' in its
	 * tail, and a long value, are fine */
	snprintf(text, sizeof(text),
		 "# %s and then the end of a long comment without an equals sign.\n" MIN
		 "password = %s\n", longval, longval);
	assert_int_equal(load(text, &c, &e), RC_OK);
	assert_int_equal(strlen(c->src_password), 1000);
	rc_config_free(c);
}

static void test_password_file(void **state)
{
	char pw[] = "/tmp/rowcast-test-pw-XXXXXX";
	char text[512];
	struct rc_config *c;
	struct rc_error e;
	int fd = mkstemp(pw);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\nignored\n", 15), 15);
	close(fd);
	snprintf(text, sizeof(text), MIN "password = wrong\npassword_file = %s\n", pw);
	assert_int_equal(load(text, &c, &e), RC_OK);
	assert_string_equal(c->src_password, "s3cret");
	rc_config_free(c);
	unlink(pw);
}

/* Each bad line gives exactly this message at exactly this line. */
static void test_errors(void **state)
{
	static const struct { const char *text; const char *where; const char *msg; } cases[] = {
		{ MIN "port = 70000\n", ":4", "[source] port: expected an integer from 1 to 65535, got '70000'" },
		{ MIN "port = 33o6\n", ":4", "[source] port: expected an integer from 1 to 65535, got '33o6'" },
		{ MIN "colour = red\n", ":4", "unknown option 'colour' in section [source]" },
		{ MIN "[bogus]\nx = 1\n", ":5", "unknown section [bogus]" },
		{ "x = 1\n" MIN, ":1", "option 'x' is outside any [section]" },
		{ MIN "[sink]\ntype = kafka\n", ":5", "[sink] type: expected one of mqtt|stdout|amqp|file, got 'kafka'" },
		{ MIN "[log]\nsyslog = maybe\n", ":5", "[log] syslog: expected true or false, got 'maybe'" },
		{ MIN "user = again\n", ":4", "[source] user is set twice (first on line 2)" },
		{ "[source]\nuser = rep\n", "", "[source] server_id is required" },
		{ MIN "start_position = yesterday\n", ":4",
		  "[source] start_position: expected current, earliest or a GTID state, got 'yesterday'" },
		{ MIN "[mqtt]\nuri = localhost:1883\n", ":5",
		  "[mqtt] uri: expected tcp://HOST:PORT or ssl://HOST:PORT, got 'localhost:1883'" },
		{ MIN "this is not ini\n", ":4", "syntax error: expected [section] or key = value" },
		{ MIN "password_file = /nonexistent/pw\n", ":4",
		  "[source] password_file: cannot read password file /nonexistent/pw: No such file or directory" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rc_config *c = NULL;
		struct rc_error e;
		char where[400];

		assert_int_equal(load(cases[i].text, &c, &e), RC_ERR_CONFIG);
		assert_null(c);
		snprintf(where, sizeof(where), "%s%s", path, cases[i].where);
		assert_string_equal(e.where, where);
		assert_string_equal(e.message, cases[i].msg);
		assert_int_equal(nlines, 1);
	}
}

static void test_every_error_reported(void **state)
{
	struct rc_config *c;
	struct rc_error e;

	(void)state;
	assert_int_equal(load(MIN "port = 0\nhost\n[mqtt]\nqos = 3\nnope = 1\n", &c, &e),
			 RC_ERR_CONFIG);
	assert_int_equal(nlines, 4);
	assert_true(strstr(lines[0], ":4: [source] port") != NULL);
	assert_true(strstr(lines[1], ":5: syntax error") != NULL ||
		    strstr(lines[1], ":5:") != NULL);
	assert_true(strstr(lines[2], ":7: [mqtt] qos") != NULL);
	assert_true(strstr(lines[3], ":8: unknown option 'nope'") != NULL);
}

static void test_missing_file(void **state)
{
	struct rc_config *c;
	struct rc_error e;

	(void)state;
	assert_int_equal(rc_config_load("/nonexistent/rowcast.conf", &c, &e), RC_ERR_CONFIG);
	assert_string_equal(e.where, "/nonexistent/rowcast.conf");
	assert_string_equal(e.message, "cannot open config file: No such file or directory");
}

static void test_print_hides_secrets(void **state)
{
	struct rc_config *c;
	struct rc_error e;
	char buf[8192];
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(load(MIN "password = hunter2\n", &c, &e), RC_OK);
	f = tmpfile();
	rc_config_print(c, f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_null(strstr(buf, "hunter2"));
	assert_non_null(strstr(buf, "password = ***"));
	assert_non_null(strstr(buf, "server_id = 7"));
	rc_config_free(c);
}

static int setup(void **state)
{
	int fd = mkstemp(path);

	(void)state;
	close(fd);
	log_setup(LOG_ERROR, 0, "test");
	log_set_hook(hook, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_print_hides_secrets),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
