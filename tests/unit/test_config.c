/* SPDX-License-Identifier: MIT */
/* Unit tests: the option table and the exact messages for bad config lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "base/log.h"

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
		/* issue 14: values the daemon could not use passed the check */
		{ MIN "host =\n", ":4", "[source] host: must not be empty" },
		{ MIN "hosts = ,\n", ":4",
		  "[source] hosts: expected HOST or HOST:PORT (port 1 to 65535), comma separated, got ','" },
		{ MIN "hosts = 127.0.0.1:abc\n", ":4",
		  "[source] hosts: expected HOST or HOST:PORT (port 1 to 65535), comma separated, got '127.0.0.1:abc'" },
		{ MIN "hosts = a:3306, :3307\n", ":4",
		  "[source] hosts: expected HOST or HOST:PORT (port 1 to 65535), comma separated, got 'a:3306, :3307'" },
		{ MIN "host = db:0\n", ":4",
		  "[source] host: expected HOST or HOST:PORT (port 1 to 65535), comma separated, got 'db:0'" },
		{ MIN "[metrics]\nlisten = 127.0.0.1:99999\n", ":5",
		  "[metrics] listen: expected IPV4:PORT, localhost:PORT or [IPV6]:PORT (port 0 to 65535), got '127.0.0.1:99999'" },
		{ MIN "[metrics]\nlisten = notanaddress\n", ":5",
		  "[metrics] listen: expected IPV4:PORT, localhost:PORT or [IPV6]:PORT (port 0 to 65535), got 'notanaddress'" },
		{ MIN "[metrics]\nlisten = [::1:9187\n", ":5",
		  "[metrics] listen: expected IPV4:PORT, localhost:PORT or [IPV6]:PORT (port 0 to 65535), got '[::1:9187'" },
		{ MIN "[mqtt]\ntopic_prefix = bad/#\n", ":5",
		  "[mqtt] topic_prefix: must not hold the MQTT wildcards + or #, got 'bad/#'" },
		{ MIN "[mqtt]\ntopic_prefix = $SYS/x\n", ":5",
		  "[mqtt] topic_prefix: must not start with $ (topics kept for the broker), got '$SYS/x'" },
		{ MIN "[mqtt]\nclient_id =\n", ":5", "[mqtt] client_id: must not be empty" },
		{ MIN "[mqtt]\nuri = tcp://:21883\n", ":5",
		  "[mqtt] uri: expected tcp://HOST:PORT or ssl://HOST:PORT, got 'tcp://:21883'" },
		{ MIN "[mqtt]\nuri = tcp://127.0.0.1:0\n", ":5",
		  "[mqtt] uri: the port must be from 1 to 65535, got 'tcp://127.0.0.1:0'" },
		{ MIN "[mqtt]\nuri = tcp://127.0.0.1:1883x\n", ":5",
		  "[mqtt] uri: the port must be from 1 to 65535, got 'tcp://127.0.0.1:1883x'" },
		{ MIN "password_file = /tmp\n", ":4",
		  "[source] password_file: /tmp is a directory, not a password file" },
		{ MIN "[amqp]\npassword_file = /dev/null\n", ":5",
		  "[amqp] password_file: /dev/null: the first line (the password) is empty" },
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

/* Forms the daemon uses are accepted. */
static void test_good_forms(void **state)
{
	struct rc_config *c;
	struct rc_error e;

	(void)state;
	assert_int_equal(load(MIN "hosts = db1:3306, db2 ,[x]:3307\nhost = db0:3308\n"
			      "[metrics]\nlisten = [::1]:9187\n"
			      "[mqtt]\nuri = ssl://[::1]:8883/\ntopic_prefix = a/b c\n", &c, &e), RC_OK);
	rc_config_free(c);
	assert_int_equal(load(MIN "[metrics]\nlisten = localhost:0\n[mqtt]\nuri = mqtt://broker\n",
			      &c, &e), RC_OK);
	rc_config_free(c);
}

/* CONFIG_CHECK_FOLDERS: the checkpoint folder, for the running user. */
static void test_checkpoint_folder(void **state)
{
	static const struct { const char *ckpt; const char *msg; } cases[] = {
		{ "/nonexistent/ckpt", "[checkpoint] path: the folder /nonexistent does not exist" },
		{ "/tmp", "[checkpoint] path: /tmp is a directory: name a file in it" },
		{ "/dev/null/ckpt", "[checkpoint] path: /dev/null is not a folder" },
	};
	struct rc_config *c;
	struct rc_error e;
	char text[512], where[400];
	FILE *f;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), MIN "[checkpoint]\npath = %s\n", cases[i].ckpt);
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		memset(&e, 0, sizeof(e));
		/* without the check (status, reload) the file is fine */
		assert_int_equal(rc_config_load(path, &c, &e), RC_OK);
		rc_config_free(c);
		assert_int_equal(config_load(path, CONFIG_CHECK_FOLDERS, &c, &e), RC_ERR_CONFIG);
		snprintf(where, sizeof(where), "%s:5", path);
		assert_string_equal(e.where, where);
		assert_string_equal(e.message, cases[i].msg);
	}
	snprintf(text, sizeof(text), MIN "[checkpoint]\npath = /tmp/rowcast-test-ckpt\n");
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(config_load(path, CONFIG_CHECK_FOLDERS, &c, &e), RC_OK);
	rc_config_free(c);
}

/* A config path naming a directory says so. */
static void test_config_is_a_directory(void **state)
{
	struct rc_config *c;
	struct rc_error e;

	(void)state;
	assert_int_equal(rc_config_load("/tmp", &c, &e), RC_ERR_CONFIG);
	assert_string_equal(e.where, "/tmp");
	assert_string_equal(e.message, "is a directory");
}

/* CONFIG_WARN: inline passwords and world-readable password files. */
static void test_secret_warnings(void **state)
{
	char pw[] = "/tmp/rowcast-test-pw-XXXXXX";
	char text[512], want[600];
	struct rc_config *c;
	struct rc_error e;
	int fd = mkstemp(pw);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\n", 7), 7);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	snprintf(text, sizeof(text), MIN "[mqtt]\npassword = hunter2\npassword_file = %s\n", pw);
	log_setup(LOG_WARN, 0, "test");
	assert_int_equal(load(text, &c, &e), RC_OK);	/* no warning without CONFIG_WARN */
	assert_int_equal(nlines, 0);
	rc_config_free(c);
	assert_int_equal(config_load(path, CONFIG_WARN, &c, &e), RC_OK);
	log_setup(LOG_ERROR, 0, "test");
	assert_int_equal(nlines, 2);
	snprintf(want, sizeof(want), "%s:5: [mqtt] password is written in the config file; "
		 "prefer password_file, readable by rowcast only", path);
	assert_non_null(strstr(lines[0], want));
	snprintf(want, sizeof(want), "%s:6: [mqtt] password_file: %s can be read by every user "
		 "(mode 0644); chmod o-r it", path, pw);
	assert_non_null(strstr(lines[1], want));
	assert_null(strstr(lines[0], "hunter2"));
	assert_string_equal(c->mqtt_password, "s3cret");
	rc_config_free(c);
	unlink(pw);
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

/* rc_config_print() of c, whole, into buf. */
static void print_to(const struct rc_config *c, char *buf, size_t len)
{
	FILE *f = tmpfile();
	size_t n;

	assert_non_null(f);
	rc_config_print(c, f);
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_true(n < len - 1);
}

/* config_dup() copies every option, route and outbox, and the copy
 * stands on its own: the file may change and the original go away. */
static void test_dup(void **state)
{
	static char a[32768], b[32768];
	struct rc_config *c, *d, *now;
	struct rc_error e;

	(void)state;
	assert_int_equal(load(MIN "password = hunter2\n[filter]\ninclude = shop.*\n"
			      "[route r1]\nmatch = shop.orders\ntopic = o/{pk}\nrename = a:b\n"
			      "[route r2]\nmatch = shop.*\ndrop = true\n"
			      "[outbox ob]\ntable = shop.outbox\nheaders = trace\n", &c, &e), RC_OK);
	c->handle_signals = true;
	d = config_dup(c);
	print_to(c, a, sizeof(a));
	rc_config_free(c);
	/* the file changes after it was parsed: the copy keeps what was parsed */
	assert_int_equal(load(MIN "[route other]\nmatch = x.y\n", &now, &e), RC_OK);
	print_to(d, b, sizeof(b));
	assert_string_equal(a, b);
	assert_true(d->handle_signals);
	assert_int_equal(d->nroutes, 2);
	assert_string_equal(d->routes[0].name, "r1");
	assert_string_equal(d->routes[0].rename, "a:b");
	assert_true(d->routes[1].drop);
	assert_int_equal(d->noutboxes, 1);
	assert_string_equal(d->outboxes[0].headers, "trace");
	assert_string_equal(d->src_password, "hunter2");
	assert_string_equal(d->flt_include, "shop.*");
	assert_string_equal(d->path, path);
	assert_string_equal(now->routes[0].name, "other");
	rc_config_free(now);
	rc_config_free(d);
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
		cmocka_unit_test(test_good_forms),
		cmocka_unit_test(test_checkpoint_folder),
		cmocka_unit_test(test_config_is_a_directory),
		cmocka_unit_test(test_secret_warnings),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_print_hides_secrets),
		cmocka_unit_test(test_dup),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
