/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: route scripts (src/route/script.c) run on hand-built changes
 * with the fixtures of tests/unit/scripts/: the sandbox, the memory cap, the
 * instruction budget, errors with their positions, results of 0, 1 and
 * several messages, and the exact JSON of values in and out.
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
#include "route/script.h"
#include "route/script_row.h"

#define MAXC 32

/* A column of a hand-built change: "" absent, NULL SQL NULL, else the
 * native JSON text. */
struct col {
	const char *name;
	const char *before;
	const char *after;
};

struct img {
	struct script_image im;
	uint32_t off[MAXC], len[MAXC];
	uint8_t state[MAXC];
	char text[4096];
};

struct chg {
	struct script_change c;
	const char *names[MAXC];
	uint32_t lens[MAXC];
	struct img before, after;
};

static void img_build(struct img *g, const struct col *cols, uint32_t n, bool after)
{
	size_t used = 0;

	memset(g, 0, sizeof(*g));
	g->im.text = g->text;
	g->im.off = g->off;
	g->im.len = g->len;
	g->im.state = g->state;
	for (uint32_t i = 0; i < n; i++) {
		const char *t = after ? cols[i].after : cols[i].before;

		if (!t) {
			g->state[i] = SCRIPT_NULL;
		} else if (!*t) {
			g->state[i] = SCRIPT_ABSENT;
		} else {
			g->state[i] = SCRIPT_VALUE;
			g->off[i] = (uint32_t)used;
			g->len[i] = (uint32_t)strlen(t);
			assert_true(used + g->len[i] < sizeof(g->text));
			memcpy(g->text + used, t, g->len[i]);
			used += g->len[i];
		}
	}
}

/* A change of db "shop", table table, with op's images from cols. */
static void chg_build(struct chg *x, const char *op, const char *table,
		      const struct col *cols, uint32_t n)
{
	memset(x, 0, sizeof(*x));
	assert_true(n <= MAXC);
	for (uint32_t i = 0; i < n; i++) {
		x->names[i] = cols[i].name;
		x->lens[i] = (uint32_t)strlen(cols[i].name);
	}
	x->c.op = op;
	x->c.db = "shop";
	x->c.table = table;
	x->c.id = "0-1-42@3";
	x->c.gtid = "0-1-42";
	x->c.position = "mysql-bin.000001:300";
	x->c.ts_ms = 1529501823123;
	x->c.ncols = n;
	x->c.names = x->names;
	x->c.name_lens = x->lens;
	if (strcmp(op, "insert") && strcmp(op, "read")) {
		img_build(&x->before, cols, n, false);
		x->c.before = &x->before.im;
	}
	if (strcmp(op, "delete")) {
		img_build(&x->after, cols, n, true);
		x->c.after = &x->after.im;
	}
}

static struct script *load(const char *file, size_t memory, uint32_t budget)
{
	struct script_limits lim = { memory, budget };
	struct script *s = NULL;
	char err[512];

	if (!script_load(file, &lim, &s, err, sizeof(err)))
		fail_msg("%s", err);
	return s;
}

static void load_fails(const char *file, uint32_t budget, const char *want)
{
	struct script_limits lim = { 0, budget };
	struct script *s = NULL;
	char err[512] = "";

	assert_false(script_load(file, &lim, &s, err, sizeof(err)));
	assert_null(s);
	assert_string_equal(err, want);
}

/* Run table's case of a script on an update of one column n = 3. */
static const struct script_msg *run_case(struct script *s, const char *table, size_t *n,
					 enum script_status want, const char *want_err)
{
	static const struct col cols[] = { { "n", "2", "3" } };
	const struct script_msg *m = NULL;
	struct chg x;
	char err[512] = "";
	enum script_status st;

	chg_build(&x, "update", table, cols, 1);
	st = script_run(s, &x.c, &m, n, err, sizeof(err));
	if (st != want)
		fail_msg("%s: status %d, want %d (%s)", table, st, want, err);
	if (want_err)
		assert_string_equal(err, want_err);
	return m;
}

/* The only message's payload for table's case. */
static void payload_is(struct script *s, const char *table, const char *want)
{
	size_t n;
	const struct script_msg *m = run_case(s, table, &n, SCRIPT_OK, NULL);

	assert_int_equal(n, 1);
	assert_string_equal(m[0].payload, want);
	assert_int_equal(m[0].payload_len, strlen(want));
}

static int setup_dir(void **state)
{
	(void)state;
	/* messages name the file as given: load relative to the fixtures */
	return chdir(TEST_SRCDIR "/tests/unit/scripts");
}

/* ---------------- loading ---------------- */

static void test_load_errors(void **state)
{
	(void)state;
	load_fails("syntax.lua", 0, "syntax.lua:4: unexpected symbol near '='");
	load_fails("notransform.lua", 0, "notransform.lua: defines no function transform(change)");
	load_fails("missing.lua", 0, "cannot open missing.lua: No such file or directory");
	load_fails("toplevel_loop.lua", 1000,
		   "toplevel_loop.lua:3: instruction budget of 1000 exceeded");
}

static void test_load_memory(void **state)
{
	struct script_limits lim = { 16 << 10, 0 };
	struct script *s = NULL;
	char err[256] = "";

	(void)state;
	/* the libraries alone need more than 16 KiB */
	assert_false(script_load("cases.lua", &lim, &s, err, sizeof(err)));
	assert_null(s);
	assert_string_equal(err, "cases.lua: memory cap of 16384 bytes reached");
}

/* ---------------- the sandbox ---------------- */

static char logged[1024];

static void log_catch(int level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == LOG_INFO)
		snprintf(logged, sizeof(logged), "%s", line);
}

static void test_sandbox(void **state)
{
	struct script *s = load("sandbox.lua", 0, 0);

	(void)state;
	payload_is(s, "names",
		   "{\"collectgarbage\":true,\"coroutine\":false,\"debug\":false,"
		   "\"dofile\":false,\"io\":false,\"load\":false,\"loadfile\":false,"
		   "\"loadstring\":false,\"math\":true,\"math.random\":false,\"os\":false,"
		   "\"package\":false,\"pcall\":true,\"print\":true,\"require\":false,"
		   "\"rowcast.null\":true,\"setmetatable\":true,\"string\":true,"
		   "\"string.dump\":false,\"string.rep\":true,\"table\":true,\"utf8\":true}");
	run_case(s, "gc_stop", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME,
		 "sandbox.lua:16: bad argument #1 to 'collectgarbage' (invalid option 'stop')");
	run_case(s, "global", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME,
		 "sandbox.lua:19: assignment to undeclared global 'counter' (declare it local)");
	/* print goes to the log, not to stdout (which may be the sink) */
	log_setup(LOG_INFO, 0, "test");
	log_set_hook(log_catch, NULL);
	payload_is(s, "print", "{\"collectgarbage\":true,\"coroutine\":false,\"debug\":false,"
		   "\"dofile\":false,\"io\":false,\"load\":false,\"loadfile\":false,"
		   "\"loadstring\":false,\"math\":true,\"math.random\":false,\"os\":false,"
		   "\"package\":false,\"pcall\":true,\"print\":true,\"require\":false,"
		   "\"rowcast.null\":true,\"setmetatable\":true,\"string\":true,"
		   "\"string.dump\":false,\"string.rep\":true,\"table\":true,\"utf8\":true}");
	log_set_hook(NULL, NULL);
	assert_string_equal(logged, "script sandbox.lua: row\tupdate\t42");
	script_free(s);
}

/* ---------------- limits ---------------- */

static void test_memory_cap(void **state)
{
	struct script *s = load("memory.lua", 4 << 20, 100000000);
	struct script_stats st;

	(void)state;
	run_case(s, "table", &(size_t){ 0 }, SCRIPT_ERR_MEMORY,
		 "memory.lua: memory cap of 4194304 bytes reached");
	/* the state is still good for the next row */
	payload_is(s, "small", "ok");
	run_case(s, "string", &(size_t){ 0 }, SCRIPT_ERR_MEMORY,
		 "memory.lua: memory cap of 4194304 bytes reached");
	payload_is(s, "small", "ok");
	script_get_stats(s, &st);
	assert_int_equal(st.calls, 4);
	assert_int_equal(st.errors, 2);
	assert_int_equal(st.memory_errors, 2);
	assert_int_equal(st.messages, 2);
	assert_true(st.heap_peak <= (4 << 20));
	/* the full collection after the error gave the memory back */
	assert_true(st.heap_bytes < (1 << 20));
	script_free(s);
}

static void test_budget(void **state)
{
	struct script *s = load("loop.lua", 0, 100000);
	struct script_stats st;

	(void)state;
	run_case(s, "loop", &(size_t){ 0 }, SCRIPT_ERR_BUDGET,
		 "loop.lua:14: instruction budget of 100000 exceeded");
	/* catching the error does not buy more instructions */
	run_case(s, "catch", &(size_t){ 0 }, SCRIPT_ERR_BUDGET, NULL);
	payload_is(s, "small", "ok");
	run_case(s, "loop", &(size_t){ 0 }, SCRIPT_ERR_BUDGET,
		 "loop.lua:14: instruction budget of 100000 exceeded");
	script_get_stats(s, &st);
	assert_int_equal(st.budget_errors, 3);
	assert_int_equal(st.errors, 3);
	script_free(s);
}

/* ---------------- results ---------------- */

static void test_results(void **state)
{
	struct script *s = load("cases.lua", 0, 0);
	const struct script_msg *m;
	size_t n = 99;

	(void)state;
	m = run_case(s, "none", &n, SCRIPT_OK, NULL);
	assert_int_equal(n, 0);
	m = run_case(s, "empty_list", &n, SCRIPT_OK, NULL);
	assert_int_equal(n, 0);

	m = run_case(s, "one", &n, SCRIPT_OK, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].index, 0);
	assert_string_equal(m[0].topic, "t/one");
	assert_int_equal(m[0].topic_len, 5);
	assert_string_equal(m[0].key, "42");
	assert_int_equal(m[0].nheaders, 3);
	assert_string_equal(m[0].headers[0].name, "a");
	assert_string_equal(m[0].headers[0].value, "first");
	assert_string_equal(m[0].headers[1].name, "n");
	assert_string_equal(m[0].headers[1].value, "7");
	assert_string_equal(m[0].headers[2].name, "z");
	assert_string_equal(m[0].headers[2].value, "last");
	assert_int_equal(m[0].headers[2].value_len, 4);
	assert_string_equal(m[0].payload, "plain text");
	assert_false(m[0].payload_json);

	m = run_case(s, "several", &n, SCRIPT_OK, NULL);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		char want[32];

		assert_int_equal(m[i].index, i);
		snprintf(want, sizeof(want), "t/%zu", i + 1);
		assert_string_equal(m[i].topic, want);
		assert_null(m[i].key);
		assert_int_equal(m[i].nheaders, 0);
		snprintf(want, sizeof(want), "{\"i\":%zu}", i + 1);
		assert_string_equal(m[i].payload, want);
		assert_true(m[i].payload_json);
	}
	script_free(s);
}

static void test_payload_kinds(void **state)
{
	struct script *s = load("cases.lua", 0, 0);

	(void)state;
	payload_is(s, "kinds",
		   "{\"arr\":[1,\"two\",{\"three\":3}],\"big\":1e+300,\"empty\":{},"
		   "\"empty_arr\":[],\"float\":0.1,\"half\":2.5,\"int\":42,"
		   "\"marked\":[1,2],\"max\":9223372036854775807,"
		   "\"neg\":-9223372036854775808,\"negzero\":-0,\"nested\":[[{}]],"
		   "\"no\":false,\"none\":null,"
		   "\"obj\":{\"A\":0,\"a\":1,\"b\":2,\"\xc3\xa9\":3},"
		   "\"str\":\"a\\\"b\\\\c\\n\\t\\u0001 \xc3\xa9 \xe2\x82\xac\","
		   "\"tiny\":5e-324,\"whole\":3,\"yes\":true}");
	script_free(s);
}

static void test_runtime_errors(void **state)
{
	struct script *s = load("cases.lua", 0, 0);
	struct script_stats st;

	(void)state;
	run_case(s, "raise", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME, "cases.lua:36: boom");
	run_case(s, "index", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME,
		 "cases.lua:38: attempt to index a nil value (field 'nope')");
	run_case(s, "error_table", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME,
		 "cases.lua: error object is a table value");
	run_case(s, "no_such_case", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME,
		 "cases.lua:80: no case no_such_case");
	script_get_stats(s, &st);
	assert_int_equal(st.errors, 4);
	assert_int_equal(st.messages, 0);
	script_free(s);
}

/* The change tables are refilled row after row: scripts may not add
 * fields to them, and nothing of one row shows in the next. */
static void test_change_reused(void **state)
{
	static const struct col xy[] = { { "x", "1", "1" }, { "y", "", "2" } };
	static const struct col x[] = { { "x", "", "3" }, { "y", "", "" } };
	struct script *s = load("cases.lua", 0, 0);
	struct script *e = load("echo.lua", 0, 0);
	const struct script_msg *m;
	struct chg c;
	size_t n;
	char err[256];

	(void)state;
	run_case(s, "write_after", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME,
		 "cases.lua:64: the change is read-only: copy what you change into a table "
		 "of your own");
	run_case(s, "write_change", &(size_t){ 0 }, SCRIPT_ERR_RUNTIME,
		 "cases.lua:65: the change is read-only: copy what you change into a table "
		 "of your own");
	/* pairs() shows the fields made on first use too */
	payload_is(s, "keys", "after,before,db,gtid,id,op,position,table,ts");
	payload_is(s, "update_field", "{\"n\":99}");
	payload_is(s, "update_field", "{\"n\":99}");

	chg_build(&c, "update", "t", xy, 2);
	assert_int_equal(script_run(e, &c.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_non_null(strstr(m[0].payload, "\"after\":{\"x\":1,\"y\":2},\"before\":{\"x\":1},"));
	/* without a GTID, the native id is made from the position */
	chg_build(&c, "insert", "t", x, 2);
	c.c.id = NULL;
	c.c.gtid = NULL;
	assert_int_equal(script_run(e, &c.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_string_equal(m[0].payload,
			    "{\"after\":{\"x\":3},\"db\":\"shop\","
			    "\"id\":\"mysql-bin.000001:300@0\",\"op\":\"insert\","
			    "\"position\":\"mysql-bin.000001:300\",\"table\":\"t\","
			    "\"ts\":1529501823123}");
	/* an image's columns are made when read; pairs and JSON see them all,
	 * with what the script changed */
	chg_build(&c, "update", "lazy_image", xy, 2);
	assert_int_equal(script_run(s, &c.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_string_equal(m[0].payload,
			    "{\"after\":{\"x\":10,\"y\":2},\"before\":{\"x\":1},\"n\":2,\"y\":2}");
	/* the next row of the table starts from its own values */
	assert_int_equal(script_run(s, &c.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_string_equal(m[0].payload,
			    "{\"after\":{\"x\":10,\"y\":2},\"before\":{\"x\":1},\"n\":2,\"y\":2}");
	chg_build(&c, "insert", "lazy_image", x, 2);
	assert_int_equal(script_run(s, &c.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_string_equal(m[0].payload, "{\"after\":{\"x\":10},\"n\":1}");
	script_free(e);
	script_free(s);
}

static void test_bad_results(void **state)
{
	static const struct {
		const char *table;
		const char *err;
	} cases[] = {
		{ "number", "cases.lua: transform returned a number, not nil, a message or a "
		  "list of messages" },
		{ "neither", "cases.lua: transform returned a table that is neither a message "
		  "nor a list of messages" },
		{ "unknown_field", "cases.lua: message 1: unknown field topik (topic, key, "
		  "headers, payload)" },
		{ "no_payload", "cases.lua: message 1 has no payload" },
		{ "bad_payload", "cases.lua: message 1: payload must be a table or a string, "
		  "not a number" },
		{ "holes", "cases.lua: message 1: an array with holes (rowcast.null stands for "
		  "a missing value)" },
		{ "mixed", "cases.lua: message 1: a table with both array and object keys" },
		{ "nan", "cases.lua: message 1: NaN has no JSON form" },
		{ "inf", "cases.lua: message 1: an infinity has no JSON form" },
		{ "func", "cases.lua: message 1: a function value has no JSON form" },
		{ "cycle", "cases.lua: message 1: tables nested deeper than 128 levels (a cycle?)" },
		{ "float_key", "cases.lua: message 1: a table key of type number" },
		{ "empty_topic", "cases.lua: message 1: topic is empty" },
		{ "bad_key", "cases.lua: message 1: key must be a string, not a number" },
		{ "bad_header", "cases.lua: message 1: a header value must be a string, not a "
		  "table" },
		{ "list_of_junk", "cases.lua: message 1 is a number, not a table" },
		{ "second_bad", "cases.lua: message 2: payload must be a table or a string, not "
		  "a boolean" },
	};
	struct script *s = load("cases.lua", 0, 0);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(s, cases[i].table, &(size_t){ 0 }, SCRIPT_ERR_RESULT, cases[i].err);
		/* and the next row is fine */
		payload_is(s, "one", "plain text");
	}
	script_free(s);
}

/* ---------------- values in ---------------- */

static void test_values_in(void **state)
{
	/* every kind of native text, and how it comes back out */
	static const struct col cols[] = {
		{ "i", "1", "-42" },
		{ "imin", "", "-9223372036854775808" },
		{ "imax", "", "9223372036854775807" },
		{ "ubig", "", "18446744073709551615" },
		{ "dec", "", "\"19.90\"" },
		{ "f", "", "0.1" },
		{ "fbig", "", "1e+300" },
		{ "fneg0", "", "-0" },
		{ "fsub", "", "5e-324" },
		{ "s", "", "\"plain\"" },
		{ "esc", "", "\"q\\\"b\\\\n\\n\\u0001\\u00e9\\ud83d\\ude00\\ud800x\"" },
		{ "dt", "", "\"2018-06-20 13:37:03.123\"" },
		{ "j", "", "{\"b\": [1, 2.5, {}], \"a\": null, \"c\": [], \"t\": true, \"f\": false}" },
		{ "jstr", "", "\"\\\"in quotes\\\"\"" },
		{ "n", NULL, NULL },
		{ "gone", "1", "" },
	};
	static const char want[] =
		"{\"after\":{\"dec\":\"19.90\",\"dt\":\"2018-06-20 13:37:03.123\","
		"\"esc\":\"q\\\"b\\\\n\\n\\u0001\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx\","
		"\"f\":0.1,\"fbig\":1e+300,\"fneg0\":-0,\"fsub\":5e-324,\"i\":-42,"
		"\"imax\":9223372036854775807,\"imin\":-9223372036854775808,"
		"\"j\":{\"a\":null,\"b\":[1,2.5,{}],\"c\":[],\"f\":false,\"t\":true},"
		"\"jstr\":\"\\\"in quotes\\\"\",\"n\":null,\"s\":\"plain\","
		"\"ubig\":\"18446744073709551615\"},"
		"\"before\":{\"gone\":1,\"i\":1,\"n\":null},"
		"\"db\":\"shop\",\"gtid\":\"0-1-42\",\"id\":\"0-1-42@3\",\"op\":\"update\","
		"\"position\":\"mysql-bin.000001:300\",\"table\":\"kinds\",\"ts\":1529501823123}";
	struct script *s = load("echo.lua", 0, 0);
	const struct script_msg *m;
	struct chg x;
	size_t n;
	char err[256];

	(void)state;
	chg_build(&x, "update", "kinds", cols, sizeof(cols) / sizeof(cols[0]));
	assert_int_equal(script_run(s, &x.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].topic, "echo/shop/kinds");
	assert_string_equal(m[0].key, "0-1-42@3");
	assert_string_equal(m[0].payload, want);
	script_free(s);
}

/* A JSON column as deep as MySQL allows (100) comes through unchanged;
 * one deeper than the module's limit is an error, not a crash. */
static void test_json_depth(void **state)
{
	struct script *s = load("echo.lua", 0, 0);
	const struct script_msg *m;
	struct col cols[1] = { { "j", "", NULL } };
	char text[1024], want[1200], err[256];
	struct chg x;
	size_t n;

	(void)state;
	memset(text, '[', 100);
	text[100] = '1';
	memset(text + 101, ']', 100);
	text[201] = '\0';
	cols[0].after = text;
	chg_build(&x, "insert", "deep", cols, 1);
	assert_int_equal(script_run(s, &x.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	snprintf(want, sizeof(want), "{\"after\":{\"j\":%s},", text);
	assert_memory_equal(m[0].payload, want, strlen(want));

	memset(text, '[', 300);
	text[300] = '\0';
	chg_build(&x, "insert", "deep", cols, 1);
	assert_int_equal(script_run(s, &x.c, &m, &n, err, sizeof(err)), SCRIPT_ERR_RUNTIME);
	assert_string_equal(err, "echo.lua: column j: JSON nested deeper than 128 levels");
	script_free(s);
}

/* The column-name cache: another table, the same table with new names, and
 * more tables than it keeps. */
static void test_name_cache(void **state)
{
	static const struct col ab[] = { { "a", "", "1" }, { "b", "", "2" } };
	static const struct col ac[] = { { "a", "", "1" }, { "c", "", "2" } };
	static const struct col abc[] = { { "a", "", "1" }, { "b", "", "2" }, { "c", "", "3" } };
	struct script *s = load("echo.lua", 0, 0);
	const struct script_msg *m;
	struct chg x;
	size_t n;
	char err[256], want[512];

	(void)state;
	for (int round = 0; round < 2; round++) {
		for (int t = 0; t < 100; t++) {
			char table[16];
			const struct col *cols = t % 3 == 0 ? ab : t % 3 == 1 ? ac : abc;
			uint32_t nc = t % 3 == 2 ? 3 : 2;

			snprintf(table, sizeof(table), "t%d", t % 70);
			chg_build(&x, "insert", table, cols, nc);
			assert_int_equal(script_run(s, &x.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
			snprintf(want, sizeof(want),
				 "{\"after\":{\"a\":1,%s},\"db\":\"shop\",\"gtid\":\"0-1-42\","
				 "\"id\":\"0-1-42@3\",\"op\":\"insert\",\"position\":"
				 "\"mysql-bin.000001:300\",\"table\":\"%s\",\"ts\":1529501823123}",
				 t % 3 == 0 ? "\"b\":2" : t % 3 == 1 ? "\"c\":2" : "\"b\":2,\"c\":3",
				 table);
			assert_string_equal(m[0].payload, want);
		}
	}
	script_free(s);
}

/* The change model's rows through script_row_fill(). */
static void test_decoder_row(void **state)
{
	struct ch_column cols[2];
	struct ch_table t;
	struct ch_image im;
	struct ch_trx trx;
	struct ch_row row;
	uint32_t off[2] = { 0, 1 }, len[2] = { 1, 5 };
	uint8_t st[2] = { CH_VALUE, CH_VALUE };
	struct script_row r = { 0 };
	struct script *s = load("echo.lua", 0, 0);
	const struct script_msg *m;
	size_t n;
	char err[256];

	(void)state;
	memset(cols, 0, sizeof(cols));
	cols[0].name = "id";
	cols[0].name_len = 2;
	cols[1].name = "name";
	cols[1].name_len = 4;
	memset(&t, 0, sizeof(t));
	t.db = (char *)"shop";
	t.name = (char *)"users";
	t.cols = cols;
	t.ncols = 2;
	memset(&im, 0, sizeof(im));
	buf_puts(&im.text, "7\"ada\"");
	im.off = off;
	im.len = len;
	im.state = st;
	memset(&trx, 0, sizeof(trx));
	trx.ts_ms = 1000;
	snprintf(trx.id, sizeof(trx.id), "mysql-bin.000003:805");
	memset(&row, 0, sizeof(row));
	row.table = &t;
	row.op = CH_DELETE;
	row.before = &im;
	row.index = 2;
	script_row_fill(&r, &trx, &row);
	assert_int_equal(script_run(s, &r.change, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_string_equal(m[0].payload,
			    "{\"before\":{\"id\":7,\"name\":\"ada\"},\"db\":\"shop\","
			    "\"id\":\"mysql-bin.000003:805@2\",\"op\":\"delete\","
			    "\"position\":\"mysql-bin.000003:805\",\"table\":\"users\",\"ts\":1000}");
	/* a row a snapshot read: op "read", the after image only
	 * (rowcast.conf(5), SCRIPTS) */
	row.op = CH_READ;
	row.before = NULL;
	row.after = &im;
	row.index = 0;
	script_row_fill(&r, &trx, &row);
	assert_int_equal(script_run(s, &r.change, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_string_equal(m[0].payload,
			    "{\"after\":{\"id\":7,\"name\":\"ada\"},\"db\":\"shop\","
			    "\"id\":\"mysql-bin.000003:805@0\",\"op\":\"read\","
			    "\"position\":\"mysql-bin.000003:805\",\"table\":\"users\",\"ts\":1000}");
	script_row_free(&r);
	buf_free(&im.text);
	script_free(s);
}

/* examples/orders/order_events.lua: an event only when status becomes paid. */
static void test_example_order_events(void **state)
{
	static const struct col paid[] = {
		{ "id", "42", "42" }, { "customer", "\"ada\"", "\"ada\"" },
		{ "status", "\"placed\"", "\"paid\"" }, { "total", "\"19.90\"", "\"19.90\"" },
	};
	static const struct col again[] = {
		{ "id", "42", "42" }, { "customer", "\"ada\"", "\"bob\"" },
		{ "status", "\"paid\"", "\"paid\"" }, { "total", "\"19.90\"", "\"19.90\"" },
	};
	struct script *s = load("../../../examples/orders/order_events.lua", 0, 0);
	const struct script_msg *m;
	struct chg x;
	size_t n;
	char err[256];

	(void)state;
	chg_build(&x, "update", "orders", paid, 4);
	assert_int_equal(script_run(s, &x.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].topic, "events/Order/OrderPaid");
	assert_string_equal(m[0].key, "42");
	assert_int_equal(m[0].nheaders, 1);
	assert_string_equal(m[0].headers[0].name, "event_type");
	assert_string_equal(m[0].headers[0].value, "OrderPaid");
	assert_string_equal(m[0].payload,
			    "{\"customer\":\"ada\",\"eventId\":\"0-1-42@3/0\",\"orderId\":42,"
			    "\"paidAt\":1529501823123,\"total\":\"19.90\",\"type\":\"OrderPaid\"}");
	chg_build(&x, "update", "orders", again, 4);
	assert_int_equal(script_run(s, &x.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_int_equal(n, 0);
	chg_build(&x, "insert", "orders", paid, 4);
	assert_int_equal(script_run(s, &x.c, &m, &n, err, sizeof(err)), SCRIPT_OK);
	assert_int_equal(n, 0);
	script_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_memory),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_memory_cap),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_payload_kinds),
		cmocka_unit_test(test_runtime_errors),
		cmocka_unit_test(test_change_reused),
		cmocka_unit_test(test_bad_results),
		cmocka_unit_test(test_values_in),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_name_cache),
		cmocka_unit_test(test_decoder_row),
		cmocka_unit_test(test_example_order_events),
	};

	return cmocka_run_group_tests(tests, setup_dir, NULL);
}
