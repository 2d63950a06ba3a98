/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the row condition language (src/route/expr.c): a table of
 * conditions over hand-written row images with the expected three-valued
 * result; every syntax error with its exact message and column; a seeded
 * generative test that checks the evaluator against a model written here
 * from the documented rules (numbers as exact integer pairs, strings as
 * decoded bytes); and random bytes as condition text.  The seed is printed;
 * EXPR_SEED=N repeats a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <ctype.h>

#include "route/expr.h"

/* ---------------- a row image the tests build by hand ---------------- */

struct cell {
	uint8_t state;		/* EXPR_ABSENT / NULL / VALUE */
	const char *text;	/* native JSON text for EXPR_VALUE */
};

struct row {
	enum expr_op op;
	const char *db;
	const char *table;
	const char *const *names;	/* column names */
	int ncols;
	const struct cell *before;	/* NULL: no before image */
	const struct cell *after;	/* NULL: no after image */
};

static int32_t t_lookup(const void *ctx, const char *name, size_t len)
{
	const struct row *r = ctx;

	for (int i = 0; i < r->ncols; i++)
		if (strlen(r->names[i]) == len && !strncasecmp(r->names[i], name, len))
			return i;
	return -1;
}

static enum expr_state t_value(const void *ctx, enum expr_side side, int32_t idx,
			       const char **text, size_t *len)
{
	const struct row *r = ctx;
	const struct cell *im = side == EXPR_AFTER ? r->after : r->before;

	assert_true(idx >= 0 && idx < r->ncols);
	if (!im || im[idx].state != EXPR_VALUE)
		return im ? (enum expr_state)im[idx].state : EXPR_ABSENT;
	*text = im[idx].text;
	*len = strlen(im[idx].text);
	return EXPR_VALUE;
}

static enum expr_tv eval_on(const struct expr *e, const struct row *r)
{
	int32_t cols[64];
	struct expr_env env = {
		.op = r->op, .db = r->db, .db_len = strlen(r->db), .table = r->table,
		.table_len = strlen(r->table), .cols = cols, .value = t_value, .ctx = r,
	};

	assert_true(expr_ncols(e) <= 64);
	expr_bind(e, cols, t_lookup, r);
	return expr_eval(e, &env);
}

/* ---------------- the table of conditions ---------------- */

#define V(s) { EXPR_VALUE, s }
#define NUL { EXPR_NULL, NULL }
#define ABS { EXPR_ABSENT, NULL }

static const char *const ord_names[] = {
	"id", "status", "total", "email", "qty", "big", "price", "doc", "note", "flag", "big2",
};
#define ORD_N 11

/* update: status new -> paid */
static const struct cell paid_b[ORD_N] = {
	V("7"), V("\"new\""), V("\"19.90\""), V("\"a@x.org\""), V("3"),
	V("18446744073709551615"), V("0.1"), V("{\"a\":[1,2]}"), V("\"say \\\"hi\\\"\\n\""),
	V("1"), V("9007199254740993"),
};
static const struct cell paid_a[ORD_N] = {
	V("7"), V("\"paid\""), V("\"19.90\""), V("\"a@x.org\""), V("3"),
	V("18446744073709551615"), V("0.1"), V("{\"a\":[1,2]}"), V("\"say \\\"hi\\\"\\n\""),
	V("1"), V("9007199254740993"),
};
/* update: email set to NULL, note to a string with \u escapes */
static const struct cell mail_a[ORD_N] = {
	V("7"), V("\"new\""), V("\"19.90\""), NUL, V("3"),
	V("18446744073709551615"), V("0.1"), V("{\"a\":[1,2]}"), V("\"caf\\u00e9 \\ud83d\\ude00\""),
	V("0"), V("-1e3"),
};
/* binlog_row_image=MINIMAL: before has the key, after what was set */
static const struct cell min_b[ORD_N] = {
	V("7"), ABS, ABS, ABS, ABS, ABS, ABS, ABS, ABS, ABS, ABS,
};
static const struct cell min_a[ORD_N] = {
	ABS, V("\"paid\""), ABS, ABS, ABS, ABS, ABS, ABS, ABS, ABS, ABS,
};
/* JSON column holding JSON null, a boolean and a string */
static const struct cell json_a[ORD_N] = {
	V("8"), V("\"p\\u0061id\""), V("\"-0.000\""), V("\"\""), V("-0"),
	V("0"), V("1e-1"), V("null"), V("true"), V("\"1\""), V("[1,2]"),
};

static const struct row r_paid = { EXPR_UPDATE, "shop", "orders", ord_names, ORD_N, paid_b, paid_a };
static const struct row r_ins = { EXPR_INSERT, "shop", "orders", ord_names, ORD_N, NULL, paid_a };
static const struct row r_del = { EXPR_DELETE, "shop", "orders", ord_names, ORD_N, paid_b, NULL };
static const struct row r_mail = { EXPR_UPDATE, "crm", "customers", ord_names, ORD_N, paid_b, mail_a };
static const struct row r_min = { EXPR_UPDATE, "shop", "orders", ord_names, ORD_N, min_b, min_a };
static const struct row r_json = { EXPR_INSERT, "shop", "tmp_orders", ord_names, ORD_N, NULL, json_a };
/* a row a snapshot read: the after image only, as an insert */
static const struct row r_read = { EXPR_READ, "shop", "orders", ord_names, ORD_N, NULL, paid_a };

#define T EXPR_TRUE
#define F EXPR_FALSE
#define U EXPR_UNKNOWN

static const struct {
	const char *text;
	const struct row *row;
	enum expr_tv want;
} cases[] = {
	/* the documented examples */
	{ "op = 'update' and changed(status) and after.status = 'paid'", &r_paid, T },
	{ "op = 'update' and changed(status) and after.status = 'paid'", &r_ins, F },
	{ "op = 'update' and changed(status) and after.status = 'paid'", &r_mail, F },
	{ "op = 'update' and changed(status) and after.status = 'paid'", &r_min, T },
	{ "changed(status) and after.status = 'paid'", &r_ins, T },
	{ "op = 'update' and changed(email)", &r_mail, T },
	{ "op = 'update' and changed(email)", &r_paid, F },
	/* the other examples of rowcast.conf(5), CONDITIONS */
	{ "op = 'delete' or after.email is not null", &r_del, T },
	{ "op = 'delete' or after.email is not null", &r_mail, F },
	{ "op = 'delete' or after.email is not null", &r_ins, T },
	{ "op = 'delete' or after.nosuch is not null", &r_ins, U },
	{ "not starts_with(table, 'tmp_')", &r_json, F },
	{ "not starts_with(table, 'tmp_')", &r_paid, T },
	/* row attributes */
	{ "op = 'insert'", &r_ins, T },
	{ "op in ('insert', 'delete')", &r_del, T },
	{ "op in ('insert', 'delete')", &r_paid, F },
	{ "db = 'shop' and table = 'orders'", &r_paid, T },
	/* rows a snapshot read (rowcast.conf(5): op "read") */
	{ "op = 'read'", &r_read, T },
	{ "op = 'read'", &r_ins, F },
	{ "op = 'insert'", &r_read, F },
	{ "op != 'read'", &r_read, F },
	{ "op != 'insert'", &r_read, T },
	{ "op != 'read'", &r_del, T },
	{ "op in ('insert', 'read')", &r_read, T },
	{ "op in ('insert', 'read')", &r_ins, T },
	{ "op in ('insert', 'read')", &r_paid, F },
	{ "op not in ('insert', 'update', 'delete')", &r_read, T },
	{ "op not in ('insert', 'update', 'delete')", &r_del, F },
	{ "op = 'READ'", &r_read, F },
	{ "op = 'rea'", &r_read, F },
	{ "starts_with(op, 're')", &r_read, T },
	{ "op < 'update'", &r_read, T },
	{ "changed(status)", &r_read, T },
	{ "before.status is null", &r_read, U },
	{ "after.status = 'paid'", &r_read, T },
	{ "table = 'ORDERS'", &r_paid, F },
	{ "starts_with(table, 'tmp_')", &r_json, T },
	{ "ends_with(table, 'orders')", &r_json, T },
	{ "contains(db, 'ho')", &r_paid, T },
	/* numbers: exact, integers beyond 2^53, decimals as strings */
	{ "after.id = 7", &r_paid, T },
	{ "after.id = 7.0", &r_paid, T },
	{ "after.id = 70e-1", &r_paid, T },
	{ "after.id >= 7 and after.id < 8", &r_paid, T },
	{ "after.big = 18446744073709551615", &r_paid, T },
	{ "after.big > 18446744073709551614", &r_paid, T },
	{ "after.big = 18446744073709551614", &r_paid, F },
	{ "after.big2 = 9007199254740992", &r_paid, F },
	{ "after.big2 = 9007199254740993", &r_paid, T },
	{ "after.total = 19.9", &r_paid, T },
	{ "after.total = 19.90", &r_paid, T },
	{ "after.total = 19.91", &r_paid, F },
	{ "after.total >= 19.899999999999999999", &r_paid, T },
	{ "after.total = '19.9'", &r_paid, F },
	{ "after.total = '19.90'", &r_paid, T },
	{ "after.price = 0.1", &r_paid, T },
	{ "after.price = 1e-1", &r_json, T },
	{ "after.total = 0", &r_json, T },
	{ "after.qty = 0", &r_json, T },
	{ "after.big2 < -999.5", &r_mail, T },
	{ "after.big2 = -1000", &r_mail, T },
	{ "after.flag = true", &r_paid, T },
	{ "after.flag = false", &r_mail, T },
	{ "after.flag = 1", &r_json, T },
	{ "after.flag = true", &r_json, F },
	/* strings: bytewise on the decoded text */
	{ "after.status = \"paid\"", &r_json, T },
	{ "after.status < 'paie'", &r_paid, T },
	{ "after.status > 'Paid'", &r_paid, T },
	{ "after.note = 'say \"hi\"\\n'", &r_paid, T },
	{ "after.note = 'caf\\u00e9 \\ud83d\\ude00'", &r_mail, T },
	{ "after.note = 'café 😀'", &r_mail, T },
	{ "starts_with(after.note, 'café')", &r_mail, T },
	{ "ends_with(after.note, '😀')", &r_mail, T },
	{ "ends_with(after.note, 'x😀')", &r_mail, F },
	{ "contains(after.note, 'é 😀')", &r_mail, T },
	{ "contains(after.note, '\"hi')", &r_paid, T },
	{ "contains(after.note, '')", &r_paid, T },
	{ "starts_with(after.id, '7')", &r_paid, U },
	{ "starts_with(after.email, 'a')", &r_mail, U },
	{ "ends_with(after.email, '@x.org')", &r_paid, T },
	/* kinds that differ: never equal, not ordered */
	{ "after.status = 5", &r_paid, F },
	{ "after.status != 5", &r_paid, T },
	{ "after.status > 5", &r_paid, U },
	{ "after.flag = 'x'", &r_paid, F },
	{ "after.doc = '{\"a\":[1,2]}'", &r_paid, F },
	{ "after.doc = before.doc", &r_paid, T },
	{ "after.big2 = before.big2", &r_json, U },
	/* NULL, JSON null and absent columns */
	{ "after.email = null", &r_mail, U },
	{ "after.email != 'x'", &r_mail, U },
	{ "after.email is null", &r_mail, T },
	{ "after.email is not null", &r_mail, F },
	{ "after.email is not null", &r_paid, T },
	{ "after.doc is null", &r_json, F },
	{ "after.doc = null", &r_json, U },
	{ "after.doc = 1", &r_json, U },
	{ "before.status is null", &r_ins, U },
	{ "before.status = 'new'", &r_ins, U },
	{ "after.status is null", &r_del, U },
	{ "after.nosuch = 1", &r_paid, U },
	{ "changed(nosuch)", &r_paid, F },
	{ "not after.email = 'x'", &r_mail, U },
	{ "after.email = 'x' or true", &r_mail, T },
	{ "after.email = 'x' and false", &r_mail, F },
	{ "after.email = 'x' and true", &r_mail, U },
	{ "after.email = 'x' or false", &r_mail, U },
	/* changed() */
	{ "changed(status)", &r_paid, T },
	{ "changed(total)", &r_paid, F },
	{ "changed(status)", &r_del, T },
	{ "changed(id)", &r_min, T },
	{ "changed(total)", &r_min, F },
	{ "changed(note) and changed(big2)", &r_mail, T },
	/* in lists */
	{ "after.status in ('new', 'paid')", &r_paid, T },
	{ "after.status not in ('new', 'paid')", &r_paid, F },
	{ "after.status in ('new', null)", &r_paid, U },
	{ "after.status not in ('new', null)", &r_paid, U },
	{ "after.status in ('paid', null)", &r_paid, T },
	{ "after.total in (19.9, 20)", &r_paid, T },
	{ "after.email in ('x')", &r_mail, U },
	{ "after.id in (1, 2, 3, 7)", &r_paid, T },
	/* case, spacing, names */
	{ "OP = 'update' AND Changed(STATUS) And AFTER.Status = 'paid'", &r_paid, T },
	{ "after.`status`='paid'", &r_paid, T },
	{ "after . status<>'new'", &r_paid, T },
	{ "((after.status = 'paid'))", &r_paid, T },
	{ "not not after.status = 'paid'", &r_paid, T },
	{ "'paid' = after.status", &r_paid, T },
	{ "true", &r_paid, T },
	{ "false or not false", &r_paid, T },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr *e;
		char err[200];
		enum expr_tv got;

		if (!expr_compile(cases[i].text, &e, err, sizeof(err))) {
			fprintf(stderr, "case %zu: %s: %s\n", i, cases[i].text, err);
			fail();
		}
		got = eval_on(e, cases[i].row);
		if (got != cases[i].want) {
			fprintf(stderr, "case %zu: %s: got %d, want %d\n", i, cases[i].text, got,
				cases[i].want);
			fail();
		}
		expr_free(e);
	}
}

/* ---------------- syntax errors ---------------- */

static const struct {
	const char *text;
	const char *err;
} bad[] = {
	{ "", "column 1: expected a condition, found end of text" },
	{ "   ", "column 4: expected a condition, found end of text" },
	{ "after.status = ", "column 16: expected a value, found end of text" },
	{ "status = 'paid'",
	  "column 1: unknown name 'status' (a column is before.status or after.status)" },
	{ "foo (1)", "column 1: unknown function 'foo'" },
	{ "after.status = 'paid", "column 16: unterminated string" },
	{ "after.status = \"paid'", "column 16: unterminated string" },
	{ "after.`stat", "column 7: unterminated quoted name" },
	{ "after.status = 'paid' and", "column 26: expected a condition, found end of text" },
	{ "(op = 'insert'", "column 15: expected 'and', 'or' or ')', found end of text" },
	{ "op = 'insert')", "column 14: expected 'and', 'or' or end of text, found ')'" },
	{ "after.x = 1 after.y = 2",
	  "column 13: expected 'and', 'or' or end of text, found 'after'" },
	{ "after.x = 01", "column 11: invalid number '01'" },
	{ "after.x = 1.5.2", "column 11: invalid number '1.5.2'" },
	{ "after.x = 1.", "column 11: invalid number '1.'" },
	{ "after.x = -", "column 11: invalid number '-'" },
	{ "after.x = 1e", "column 11: invalid number '1e'" },
	{ "after.x = 12abc", "column 11: invalid number '12abc'" },
	{ "after.x is nul", "column 12: expected 'null' or 'not null', found 'nul'" },
	{ "after.x is not 5", "column 16: expected 'null', found '5'" },
	{ "after.x in 1, 2", "column 12: expected '(', found '1'" },
	{ "after.x in ()", "column 13: expected a literal value, found ')'" },
	{ "after.x in (1 2)", "column 15: expected ',' or ')', found '2'" },
	{ "after.x in (1,", "column 15: expected a literal value, found end of text" },
	{ "after.x in (after.y)", "column 13: expected a literal value, found 'after'" },
	{ "after.x not 5", "column 13: expected 'in', found '5'" },
	{ "after.x", "column 8: expected =, !=, <, <=, >, >=, 'is' or 'in', found end of text" },
	{ "after.x 'a'", "column 9: expected =, !=, <, <=, >, >=, 'is' or 'in', found 'a'" },
	{ "5", "column 2: expected =, !=, <, <=, >, >=, 'is' or 'in', found end of text" },
	{ "after status", "column 7: expected '.' and a column name, found 'status'" },
	{ "before.= 1", "column 8: expected a column name, found '='" },
	{ "after.x < > 1", "column 11: expected a value, found '>'" },
	{ "after.x = changed(y)", "column 11: expected a value, found 'changed'" },
	{ "changed(after.x)",
	  "column 9: expected a column name (without before. or after.), found 'after'" },
	{ "changed x", "column 9: expected '(', found 'x'" },
	{ "changed(x", "column 10: expected ')', found end of text" },
	{ "changed()", "column 9: expected a column name, found ')'" },
	{ "starts_with(after.s 'p')", "column 21: expected ',', found 'p'" },
	{ "starts_with(after.s, \"p\" and", "column 26: expected ')', found 'and'" },
	{ "contains", "column 9: expected '(', found end of text" },
	{ "after.s # 1", "column 9: unexpected character '#'" },
	{ "after.s ! 1", "column 9: unexpected character '!'" },
	{ "after.s = 'a\\q'", "column 13: bad escape '\\q' in string" },
	{ "after.s = '\\ud800'", "column 12: bad \\u escape in string" },
	{ "after.s = '\\ude00x'", "column 12: bad \\u escape in string" },
	{ "after.s = '\\u12'", "column 12: bad \\u escape in string" },
	{ "after.s = 'a\\", "column 11: unterminated string" },
	{ "not", "column 4: expected a condition, found end of text" },
	{ "and true", "column 1: expected a condition, found 'and'" },
	{ "true or", "column 8: expected a condition, found end of text" },
	{ "true or or true", "column 9: expected a condition, found 'or'" },
	{ "()", "column 2: expected a condition, found ')'" },
	{ "\x01", "column 1: unexpected byte 0x01" },
	{ "after.s = 'x' \x7f", "column 15: unexpected byte 0x7F" },
	{ "after.status=='paid'&&true", "column 21: unexpected character '&'" },
	{ "after.x = 'abcdefghijklmnopqrstuvwxyz' 1",
	  "column 40: expected 'and', 'or' or end of text, found '1'" },
	{ "after.x = 1 abcdefghijklmnopqrstuvwxyz0123",
	  "column 13: expected 'and', 'or' or end of text, found 'abcdefghijklmnopqrstuvwx...'" },
	{ "after.x = 1 'abcdefghijklmnopqrstuvwxyz'",
	  "column 13: expected 'and', 'or' or end of text, found 'abcdefghijklmnopqrstuvw..." },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct expr *e = (struct expr *)1;
		char err[200];

		assert_false(expr_compile(bad[i].text, &e, err, sizeof(err)));
		assert_null(e);
		if (strcmp(err, bad[i].err)) {
			fprintf(stderr, "%s\n  got  %s\n  want %s\n", bad[i].text, err, bad[i].err);
			fail();
		}
		/* a NULL or short buffer is fine */
		assert_false(expr_compile(bad[i].text, &e, NULL, 0));
		assert_false(expr_compile(bad[i].text, &e, err, 5));
		assert_true(strlen(err) <= 4);
	}
}

/* Nesting up to EXPR_MAX_DEPTH compiles and runs; one more is refused. */
static void test_depth(void **state)
{
	char text[4096], err[200];
	struct expr *e;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < EXPR_MAX_DEPTH; i++)
		text[n++] = '(';
	memcpy(text + n, "true", 4);
	n += 4;
	for (int i = 0; i < EXPR_MAX_DEPTH; i++)
		text[n++] = ')';
	text[n] = '\0';
	assert_true(expr_compile(text, &e, err, sizeof(err)));
	assert_int_equal(eval_on(e, &r_paid), EXPR_TRUE);
	expr_free(e);
	memmove(text + 1, text, n + 1);
	strcat(text, ")");
	assert_false(expr_compile(text, &e, err, sizeof(err)));
	assert_string_equal(err, "column 65: nested deeper than 64 levels");

	n = 0;
	for (int i = 0; i < EXPR_MAX_DEPTH + 1; i++) {
		memcpy(text + n, "not ", 4);
		n += 4;
	}
	strcpy(text + n, "true");
	assert_false(expr_compile(text, &e, err, sizeof(err)));
	assert_string_equal(err, "column 257: nested deeper than 64 levels");
	/* long and/or chains are not nesting */
	n = 0;
	for (int i = 0; i < 200; i++) {
		memcpy(text + n, "true and ", 9);
		n += 9;
	}
	strcpy(text + n, "false");
	assert_true(expr_compile(text, &e, err, sizeof(err)));
	assert_int_equal(eval_on(e, &r_paid), EXPR_FALSE);
	expr_free(e);
}

/* Column names: distinct, in order, resolved once; the canonical text. */
static void test_api(void **state)
{
	struct expr *e;
	char err[200], out[300];
	int32_t cols[4];
	size_t len;

	(void)state;
	assert_true(expr_compile("changed(status) and after.status = 'paid' and "
				 "before.`odd ``name` is null or after.qty > -1.50e0",
				 &e, err, sizeof(err)));
	assert_int_equal(expr_ncols(e), 3);
	assert_string_equal(expr_col(e, 0, &len), "status");
	assert_int_equal(len, 6);
	assert_string_equal(expr_col(e, 1, NULL), "odd `name");
	assert_string_equal(expr_col(e, 2, NULL), "qty");
	assert_int_equal(expr_bind(e, cols, t_lookup, &r_paid), 1);
	assert_int_equal(cols[0], 1);
	assert_int_equal(cols[1], -1);
	assert_int_equal(cols[2], 4);
	expr_dump(e, out, sizeof(out));
	assert_string_equal(out, "((changed(status) and after.status = \"paid\" and "
			    "before.`odd ``name` is null) or after.qty > -1.50e0)");
	expr_dump(e, out, 10);
	assert_string_equal(out, "((changed");
	expr_free(e);
	/* tests of the operation name: the four operations */
	assert_true(expr_compile("op != 'insert'", &e, err, sizeof(err)));
	expr_dump(e, out, sizeof(out));
	assert_string_equal(out, "op in (\"update\", \"delete\", \"read\")");
	expr_free(e);
	assert_true(expr_compile("op not in ('read', 'delete', 'update', 'insert')", &e, err,
				 sizeof(err)));
	expr_dump(e, out, sizeof(out));
	assert_string_equal(out, "false");
	expr_free(e);
	assert_true(expr_compile("op not in ('delete')", &e, err, sizeof(err)));
	expr_dump(e, out, sizeof(out));
	assert_string_equal(out, "op in (\"insert\", \"update\", \"read\")");
	expr_free(e);
	expr_free(NULL);
}

/* ---------------- the model ---------------- */

/* Random numbers from a seed (xorshift64*). */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* Value kinds of the model. */
enum mk { M_ABSENT, M_NULL, M_NUM, M_STR, M_BOOL, M_JNULL, M_DOC };

/* A value: numbers are m x 10^k exactly; strings their decoded bytes. */
struct mval {
	enum mk kind;
	long long m;		/* M_NUM */
	int k;			/* M_NUM */
	bool b;			/* M_BOOL */
	char s[32];		/* M_STR bytes (NUL-free), M_DOC text */
	char text[160];		/* as rendered (JSON text, or literal text) */
};

static const char *const str_pool[] = {
	"paid", "new", "pa", "id", "", "Paid", "café", "😀x", "a\"b", "a\\b", "l\nx",
	"19.90", "19.9", "-0.5", "7", "007", "1e3", "10", "\x01", "é",
	"insert", "update", "delete", "read",
};
#define NSTR (sizeof(str_pool) / sizeof(str_pool[0]))

/* Append the JSON-ish escaped form of s inside quote q (any escape style
 * the language and JSON both accept, chosen at random). */
static void render_str(char *out, size_t size, const char *s, char q)
{
	size_t n = 0;

	out[n++] = q;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char tmp[16];
		unsigned c = *p;

		if (c == (unsigned char)q || c == '\\')
			snprintf(tmp, sizeof(tmp), "\\%c", c);
		else if (c == '\n')
			snprintf(tmp, sizeof(tmp), rn(2) ? "\\n" : "\\u000a");
		else if (c < 0x20)
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
		else if (c < 0x80 && rn(8) == 0)
			snprintf(tmp, sizeof(tmp), "\\u%04X", c);
		else if (c == 0xc3 && p[1] == 0xa9 && rn(2)) {	/* é */
			snprintf(tmp, sizeof(tmp), "\\u00e9");
			p++;
		} else if (c == 0xf0 && rn(2)) {		/* 😀 as a surrogate pair */
			snprintf(tmp, sizeof(tmp), "\\ud83d\\ude00");
			p += 3;
		} else {
			tmp[0] = (char)c;
			tmp[1] = '\0';
		}
		assert_true(n + strlen(tmp) + 2 < size);
		memcpy(out + n, tmp, strlen(tmp));
		n += strlen(tmp);
	}
	out[n++] = q;
	out[n] = '\0';
}

/* Text of m x 10^k, one of several equivalent spellings. */
static void render_num(char *out, size_t size, long long m, int k)
{
	char d[40];
	int nd, pad = (int)rn(3);
	bool neg = m < 0;

	if (!m) {
		static const char *const zeros[] = { "0", "-0", "0.00", "0e3", "-0.0E-2" };

		snprintf(out, size, "%s", zeros[rn(5)]);
		return;
	}
	snprintf(d, sizeof(d), "%lld", neg ? -m : m);
	nd = (int)strlen(d);
	switch (rn(3)) {
	case 0:	/* exponent form */
		snprintf(out, size, "%s%s%s%d", neg ? "-" : "", d, rn(2) ? "e" : "E", k);
		return;
	case 1:
		if (k >= 0) {	/* plain integer, zeros written out */
			snprintf(out, size, "%s%s%.*s", neg ? "-" : "", d, k,
				 "000000000000000000");
			return;
		}
		/* fall through */
	default:
		if (k >= 0) {
			snprintf(out, size, "%s%s%.*s.%.*s", neg ? "-" : "", d, k, "000000000000",
				 pad + 1, "0000");
		} else if (nd > -k) {
			snprintf(out, size, "%s%.*s.%s%.*s", neg ? "-" : "", nd + k, d, d + nd + k,
				 pad, "0000");
		} else {
			snprintf(out, size, "%s0.%.*s%s%.*s", neg ? "-" : "", -k - nd,
				 "000000000000", d, pad, "0000");
		}
		return;
	}
}

static void gen_num(struct mval *v)
{
	static const long long ms[] = { 0, 1, 7, 10, 199, 1990, 5, 70, 123456789, 9999999999LL };

	v->kind = M_NUM;
	v->m = ms[rn(10)] * (rn(3) ? 1 : -1);
	v->k = (int)rn(9) - 5;
}

/* Strict JSON number check and exact value of the decoded string s (the
 * model's own reading of a DECIMAL text). */
static bool str_num(const char *s, long long *m, int *k)
{
	const char *p = s;
	long long v = 0;
	int frac = 0, nd = 0, ex = 0, exs = 1;
	bool neg = false;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++, nd++)
		v = v * 10 + (*p - '0');
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++, frac++)
			v = v * 10 + (*p - '0');
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			exs = *p++ == '-' ? -1 : 1;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++)
			ex = ex * 10 + (*p - '0');
	}
	if (*p)
		return false;
	*m = neg ? -v : v;
	*k = exs * ex - frac;
	return true;
}

static int num_order(long long m1, int k1, long long m2, int k2)
{
	int kmin = k1 < k2 ? k1 : k2;
	__int128 a = m1, b = m2;

	for (int i = kmin; i < k1; i++)
		a *= 10;
	for (int i = kmin; i < k2; i++)
		b *= 10;
	return a < b ? -1 : a > b;
}

/* Whether v holds a number for comparing with one: its m, k. */
static bool m_as_num(const struct mval *v, long long *m, int *k)
{
	switch (v->kind) {
	case M_NUM: *m = v->m; *k = v->k; return true;
	case M_BOOL: *m = v->b; *k = 0; return true;
	case M_STR: return str_num(v->s, m, k);
	default: return false;
	}
}

static bool m_unknown(const struct mval *v)
{
	return v->kind == M_ABSENT || v->kind == M_NULL || v->kind == M_JNULL;
}

static enum expr_tv m_tv(bool b)
{
	return b ? EXPR_TRUE : EXPR_FALSE;
}

/* The documented comparison rules. */
static enum expr_tv m_cmp(const struct mval *a, const struct mval *b, int op)
{
	long long ma, mb;
	int ka, kb, ord;

	if (m_unknown(a) || m_unknown(b))
		return U;
	if (a->kind == M_STR && b->kind == M_STR)
		ord = strcmp(a->s, b->s) < 0 ? -1 : strcmp(a->s, b->s) > 0;
	else if (a->kind == M_BOOL && b->kind == M_BOOL)
		ord = (int)a->b - (int)b->b;
	else if ((a->kind == M_NUM || b->kind == M_NUM) && m_as_num(a, &ma, &ka) &&
		 m_as_num(b, &mb, &kb))
		ord = num_order(ma, ka, mb, kb);
	else if (a->kind == M_DOC && b->kind == M_DOC)
		return op <= 1 ? m_tv((strcmp(a->text, b->text) == 0) == (op == 0)) : U;
	else
		return op <= 1 ? m_tv(op == 1) : U;
	switch (op) {
	case 0: return m_tv(ord == 0);
	case 1: return m_tv(ord != 0);
	case 2: return m_tv(ord < 0);
	case 3: return m_tv(ord <= 0);
	case 4: return m_tv(ord > 0);
	default: return m_tv(ord >= 0);
	}
}

/* A model row: 4 columns named c0..c3, a fifth name the table lacks. */
#define MCOLS 4
struct mrow {
	enum expr_op op;
	const char *table;
	struct mval im[2][MCOLS];	/* before, after */
	struct cell cells[2][MCOLS];	/* the same as the evaluator sees them */
	const char *names[MCOLS];
	struct row row;
};

static void gen_value(struct mval *v)
{
	static const char *const docs[] = { "{\"a\":1}", "[1,2]", "{}" };

	memset(v, 0, sizeof(*v));
	switch (rn(9)) {
	case 0: v->kind = M_ABSENT; return;
	case 1: v->kind = M_NULL; return;
	case 2: case 3:
		gen_num(v);
		render_num(v->text, sizeof(v->text), v->m, v->k);
		return;
	case 4: case 5: case 6:
		v->kind = M_STR;
		strcpy(v->s, str_pool[rn(NSTR)]);
		render_str(v->text, sizeof(v->text), v->s, '"');
		return;
	case 7:
		v->kind = M_BOOL;
		v->b = rn(2);
		strcpy(v->text, v->b ? "true" : "false");
		return;
	default:
		if (rn(2)) {
			v->kind = M_JNULL;
			strcpy(v->text, "null");
		} else {
			v->kind = M_DOC;
			strcpy(v->text, docs[rn(3)]);
		}
		return;
	}
}

static void gen_row(struct mrow *r)
{
	static const char *const names[MCOLS] = { "c0", "c1", "c2", "c3" };
	static const char *const tables[] = { "orders", "tmp_orders", "Orders" };

	memset(r, 0, sizeof(*r));
	r->op = (enum expr_op)rn(EXPR_NOPS);
	r->table = tables[rn(3)];
	for (int s = 0; s < 2; s++) {
		for (int c = 0; c < MCOLS; c++) {
			struct mval *v = &r->im[s][c];

			if ((s == 0 && (r->op == EXPR_INSERT || r->op == EXPR_READ)) ||
			    (s == 1 && r->op == EXPR_DELETE))
				v->kind = M_ABSENT;
			else if (s == 1 && rn(3) == 0)
				*v = r->im[0][c];	/* unchanged */
			else
				gen_value(v);
			r->cells[s][c].state = v->kind == M_ABSENT ? EXPR_ABSENT :
					       v->kind == M_NULL ? EXPR_NULL : EXPR_VALUE;
			r->cells[s][c].text = v->text;
		}
	}
	memcpy(r->names, names, sizeof(names));
	r->row = (struct row){ r->op, "shop", r->table, r->names, MCOLS,
			       r->op == EXPR_INSERT || r->op == EXPR_READ ? NULL : r->cells[0],
			       r->op == EXPR_DELETE ? NULL : r->cells[1] };
}

/* The model's expression tree. */
enum gk { G_CONST, G_AND, G_OR, G_NOT, G_CMP, G_ISNULL, G_IN, G_FUNC, G_CHANGED };
enum ok { GO_LIT, GO_COL, GO_OP, GO_DB, GO_TABLE };

struct gop {
	enum ok kind;
	int side;		/* GO_COL */
	int col;		/* GO_COL: 0..MCOLS (MCOLS: a name no table has) */
	struct mval lit;	/* GO_LIT */
};

struct gnode {
	enum gk kind;
	int sub;		/* cmp op, func, const value */
	bool neg;
	int nkids;
	struct gnode *kids[4];
	struct gop a, b;
	int nlits;
	struct mval lits[4];
};

static struct gnode pool_nodes[4096];
static int npool;

static void gen_lit(struct mval *v)
{
	memset(v, 0, sizeof(*v));
	switch (rn(6)) {
	case 0: case 1:
		gen_num(v);
		render_num(v->text, sizeof(v->text), v->m, v->k);
		break;
	case 2: case 3:
		v->kind = M_STR;
		strcpy(v->s, str_pool[rn(NSTR)]);
		render_str(v->text, sizeof(v->text), v->s, rn(2) ? '\'' : '"');
		break;
	case 4:
		v->kind = M_BOOL;
		v->b = rn(2);
		strcpy(v->text, v->b ? (rn(2) ? "true" : "TRUE") : "false");
		break;
	default:
		v->kind = M_NULL;
		strcpy(v->text, rn(2) ? "null" : "Null");
		break;
	}
}

static void gen_operand(struct gop *o)
{
	memset(o, 0, sizeof(*o));
	switch (rn(8)) {
	case 0: case 1: case 2:
		o->kind = GO_LIT;
		gen_lit(&o->lit);
		break;
	case 3:
		o->kind = rn(3) == 0 ? GO_OP : rn(2) ? GO_DB : GO_TABLE;
		break;
	default:
		o->kind = GO_COL;
		o->side = (int)rn(2);
		o->col = (int)rn(MCOLS + 1);
		break;
	}
}

static struct gnode *gen_node(int depth)
{
	struct gnode *g = &pool_nodes[npool++];
	unsigned pick = depth >= 6 ? 4 + rn(5) : rn(9);

	assert_true(npool < 4096);
	memset(g, 0, sizeof(*g));
	switch (pick) {
	case 0: case 1:
		g->kind = pick ? G_OR : G_AND;
		g->nkids = 2 + (int)rn(3);
		for (int i = 0; i < g->nkids; i++)
			g->kids[i] = gen_node(depth + 1);
		break;
	case 2:
		g->kind = G_NOT;
		g->nkids = 1;
		g->kids[0] = gen_node(depth + 1);
		break;
	case 3:
		g->kind = G_CONST;
		g->sub = (int)rn(2);
		break;
	case 4: case 5:
		g->kind = G_CMP;
		g->sub = (int)rn(6);
		gen_operand(&g->a);
		gen_operand(&g->b);
		break;
	case 6:
		g->kind = rn(2) ? G_ISNULL : G_IN;
		g->neg = rn(2);
		gen_operand(&g->a);
		g->nlits = 1 + (int)rn(4);
		for (int i = 0; i < g->nlits; i++)
			gen_lit(&g->lits[i]);
		break;
	case 7:
		g->kind = G_FUNC;
		g->sub = (int)rn(3);
		gen_operand(&g->a);
		gen_operand(&g->b);
		break;
	default:
		g->kind = G_CHANGED;
		g->a.col = (int)rn(MCOLS + 1);
		break;
	}
	return g;
}

static void cat(char *out, size_t size, const char *s)
{
	assert_true(strlen(out) + strlen(s) < size);
	strcat(out, s);
}

static const char *kw(const char *lower)
{
	static char buf[8][16];
	static int n;
	char *b = buf[n++ % 8];

	strcpy(b, lower);
	if (rn(4) == 0)
		for (char *p = b; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	return b;
}

static void render_col(char *out, size_t size, int col)
{
	char b[16];

	snprintf(b, sizeof(b), col < MCOLS ? (rn(4) ? "c%d" : "`c%d`") : "zz%d", col);
	cat(out, size, b);
}

static void render_operand(char *out, size_t size, const struct gop *o)
{
	switch (o->kind) {
	case GO_LIT: cat(out, size, o->lit.text); break;
	case GO_OP: cat(out, size, kw("op")); break;
	case GO_DB: cat(out, size, kw("db")); break;
	case GO_TABLE: cat(out, size, kw("table")); break;
	default:
		cat(out, size, kw(o->side ? "after" : "before"));
		cat(out, size, rn(8) ? "." : " . ");
		render_col(out, size, o->col);
		break;
	}
}

static void render(char *out, size_t size, const struct gnode *g)
{
	static const char *const ops[][2] = {
		{ "=", "==" }, { "!=", "<>" }, { "<", "<" }, { "<=", "<=" }, { ">", ">" },
		{ ">=", ">=" },
	};
	static const char *const fns[] = { "starts_with", "ends_with", "contains" };
	const char *sp = rn(4) ? " " : "  \t";

	switch (g->kind) {
	case G_CONST:
		cat(out, size, kw(g->sub ? "true" : "false"));
		break;
	case G_AND:
	case G_OR:
		for (int i = 0; i < g->nkids; i++) {
			if (i) {
				cat(out, size, sp);
				cat(out, size, kw(g->kind == G_AND ? "and" : "or"));
				cat(out, size, sp);
			}
			cat(out, size, "(");
			render(out, size, g->kids[i]);
			cat(out, size, ")");
		}
		break;
	case G_NOT:
		cat(out, size, kw("not"));
		cat(out, size, " (");
		render(out, size, g->kids[0]);
		cat(out, size, ")");
		break;
	case G_CMP:
		render_operand(out, size, &g->a);
		cat(out, size, rn(3) ? " " : "");
		cat(out, size, ops[g->sub][rn(2)]);
		cat(out, size, rn(3) ? " " : "");
		render_operand(out, size, &g->b);
		break;
	case G_ISNULL:
		render_operand(out, size, &g->a);
		cat(out, size, " ");
		cat(out, size, kw("is"));
		cat(out, size, g->neg ? " not null" : " null");
		break;
	case G_IN:
		render_operand(out, size, &g->a);
		cat(out, size, g->neg ? " not in (" : " in (");
		for (int i = 0; i < g->nlits; i++) {
			if (i)
				cat(out, size, rn(2) ? ", " : ",");
			cat(out, size, g->lits[i].text);
		}
		cat(out, size, ")");
		break;
	case G_FUNC:
		cat(out, size, kw(fns[g->sub]));
		cat(out, size, "(");
		render_operand(out, size, &g->a);
		cat(out, size, ", ");
		render_operand(out, size, &g->b);
		cat(out, size, ")");
		break;
	default:
		cat(out, size, kw("changed"));
		cat(out, size, "(");
		render_col(out, size, g->a.col);
		cat(out, size, ")");
		break;
	}
}

static void m_operand(const struct gop *o, const struct mrow *r, struct mval *v)
{
	static const char *const opn[] = { "insert", "update", "delete", "read" };

	memset(v, 0, sizeof(*v));
	switch (o->kind) {
	case GO_LIT: *v = o->lit; return;
	case GO_OP: v->kind = M_STR; strcpy(v->s, opn[r->op]); return;
	case GO_DB: v->kind = M_STR; strcpy(v->s, "shop"); return;
	case GO_TABLE: v->kind = M_STR; strcpy(v->s, r->table); return;
	default:
		if (o->col < MCOLS)
			*v = r->im[o->side][o->col];
		else
			v->kind = M_ABSENT;
		return;
	}
}

static enum expr_tv m_eval(const struct gnode *g, const struct mrow *r)
{
	struct mval a, b;
	enum expr_tv t;
	bool unk = false;

	switch (g->kind) {
	case G_CONST:
		return m_tv(g->sub);
	case G_AND:
	case G_OR:
		for (int i = 0; i < g->nkids; i++) {
			t = m_eval(g->kids[i], r);
			if (t == U)
				unk = true;
			else if ((t == T) == (g->kind == G_OR))
				return t;
		}
		return unk ? U : m_tv(g->kind == G_AND);
	case G_NOT:
		t = m_eval(g->kids[0], r);
		return t == U ? U : m_tv(t == F);
	case G_CMP:
		m_operand(&g->a, r, &a);
		m_operand(&g->b, r, &b);
		return m_cmp(&a, &b, g->sub);
	case G_ISNULL:
		m_operand(&g->a, r, &a);
		if (a.kind == M_ABSENT)
			return U;
		return m_tv((a.kind == M_NULL) != g->neg);
	case G_IN:
		m_operand(&g->a, r, &a);
		if (m_unknown(&a))
			return U;
		t = F;
		for (int i = 0; i < g->nlits; i++) {
			if (m_unknown(&g->lits[i]))
				unk = true;
			else if (m_cmp(&a, &g->lits[i], 0) == T)
				t = T;
		}
		if (t == F && unk)
			return U;
		return g->neg ? m_tv(t == F) : t;
	case G_FUNC:
		m_operand(&g->a, r, &a);
		m_operand(&g->b, r, &b);
		if (a.kind != M_STR || b.kind != M_STR)
			return U;
		if (g->sub == 0)
			return m_tv(!strncmp(a.s, b.s, strlen(b.s)));
		if (g->sub == 1)
			return m_tv(strlen(b.s) <= strlen(a.s) &&
				    !strcmp(a.s + strlen(a.s) - strlen(b.s), b.s));
		return m_tv(strstr(a.s, b.s) != NULL);
	default: {
		const struct mval *x, *y;

		if (g->a.col >= MCOLS)
			return F;
		x = &r->im[0][g->a.col];
		y = &r->im[1][g->a.col];
		if ((x->kind == M_ABSENT) != (y->kind == M_ABSENT) ||
		    (x->kind == M_NULL) != (y->kind == M_NULL))
			return T;
		if (x->kind == M_ABSENT || x->kind == M_NULL)
			return F;
		return m_tv(strcmp(x->text, y->text) != 0);
	}
	}
}

static uint64_t seed(void)
{
	const char *s = getenv("EXPR_SEED");
	uint64_t v = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)clock();

	return v ? v : 1;
}

static void test_model(void **state)
{
	uint64_t s = seed();
	static char text[16384];
	char err[200], d1[16384], d2[16384];
	struct mrow rows[16];
	long checked = 0;

	(void)state;
	printf("# test_model seed %llu (EXPR_SEED=%llu repeats it)\n", (unsigned long long)s,
	       (unsigned long long)s);
	rng_state = s;
	for (int it = 0; it < 3000; it++) {
		struct gnode *g;
		struct expr *e, *e2;

		npool = 0;
		g = gen_node(0);
		text[0] = '\0';
		render(text, sizeof(text), g);
		if (!expr_compile(text, &e, err, sizeof(err))) {
			fprintf(stderr, "seed %llu: %s: %s\n", (unsigned long long)s, text, err);
			fail();
		}
		for (int i = 0; i < 16; i++) {
			enum expr_tv want, got;

			gen_row(&rows[i]);
			want = m_eval(g, &rows[i]);
			got = eval_on(e, &rows[i].row);
			if (want != got) {
				fprintf(stderr, "seed %llu: %s\n  row %d: got %d, model says %d\n",
					(unsigned long long)s, text, i, got, want);
				for (int c = 0; c < MCOLS; c++)
					fprintf(stderr, "  c%d before %s after %s\n", c,
						rows[i].im[0][c].text, rows[i].im[1][c].text);
				fail();
			}
			checked++;
		}
		/* the canonical text compiles to the same expression */
		expr_dump(e, d1, sizeof(d1));
		if (!expr_compile(d1, &e2, err, sizeof(err))) {
			fprintf(stderr, "seed %llu: dump %s: %s\n", (unsigned long long)s, d1, err);
			fail();
		}
		expr_dump(e2, d2, sizeof(d2));
		assert_string_equal(d1, d2);
		for (int i = 0; i < 16; i++)
			assert_int_equal(eval_on(e, &rows[i].row), eval_on(e2, &rows[i].row));
		expr_free(e2);
		expr_free(e);
	}
	printf("# test_model: %ld evaluations agree with the model\n", checked);
}

/* Random bytes and mutated conditions: compile accepts or refuses cleanly
 * (with a "column N: " message inside the text), and what it accepts
 * evaluates without fault. */
static void test_random_text(void **state)
{
	static const char *const frags[] = {
		"after.", "before.", "c0", "c1", "zz", "`c2`", " and ", " or ", "not ", "(", ")",
		"=", "!=", "<", ">=", "<>", " is ", "null", " in (", ",", "'a", "'", "\"", "\\",
		"\\u", "d83d", "1", "-", ".", "e5", "changed(", "starts_with(", "contains(",
		"op", "db", "table", "true", " ", "é", "\xff", "\x01", "`",
	};
	uint64_t s = seed() + 1;
	char text[256], err[200], d[4096];
	struct mrow row;
	long accepted = 0;

	(void)state;
	printf("# test_random_text seed %llu\n", (unsigned long long)s);
	rng_state = s;
	gen_row(&row);
	for (int it = 0; it < 100000; it++) {
		struct expr *e;
		size_t n = 0, want = rn(60);

		if (it % 2) {
			/* a valid condition, then a few bytes changed */
			static char full[16384];

			npool = 0;
			full[0] = '\0';
			render(full, sizeof(full), gen_node(3));
			n = strlen(full) < sizeof(text) - 1 ? strlen(full) : sizeof(text) - 1;
			memcpy(text, full, n);
			for (unsigned m = rn(4); m > 0 && n > 0; m--) {
				size_t at = rn((unsigned)n);

				switch (rn(3)) {
				case 0: memmove(text + at, text + at + 1, n - at); n--; break;
				case 1: text[at] = (char)(1 + rn(255)); break;
				default: n = at; break;
				}
			}
		} else if (rn(4) == 0) {
			while (n < want)
				text[n++] = (char)(1 + rn(255));
		} else {
			while (n < want) {
				const char *f = frags[rn(sizeof(frags) / sizeof(frags[0]))];
				size_t fl = strlen(f);

				if (n + fl >= sizeof(text))
					break;
				memcpy(text + n, f, fl);
				n += fl;
			}
		}
		text[n] = '\0';
		if (expr_compile(text, &e, err, sizeof(err))) {
			accepted++;
			if (it % 16 == 0)
				gen_row(&row);
			(void)eval_on(e, &row.row);
			expr_dump(e, d, sizeof(d));
			expr_free(e);
		} else {
			unsigned long col = 0;

			assert_null(e);
			if (sscanf(err, "column %lu: ", &col) != 1 || col < 1 || col > n + 1) {
				fprintf(stderr, "%s: %s\n", text, err);
				fail();
			}
		}
	}
	printf("# test_random_text: %ld of 100000 texts compiled\n", accepted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_random_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
