/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of jsondiff_apply(): partial JSON update diffs applied to
 * binary JSON documents, with the exact JSON text expected.  Documents and
 * diff values are written as JSON text in the tables and turned into MySQL
 * binary JSON by a small encoder here (checked against jsonb_to_json()),
 * plus hand-written bytes for decimals and broken values.  Also: every
 * truncation of every diff list and document, hostile sharing, the depth
 * limit, and the PARTIAL_UPDATE_ROWS event of a MySQL 8.0 binlog from the
 * MariaDB test suite when it is installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "source/mysql/jsonb.h"
#include "source/mysql/jsondiff.h"

/* MySQL's length-encoded integer (net_store_length). */
static void put_netlen(struct bytes *b, uint64_t v)
{
	if (v < 251) {
		put_le(b, v, 1);
	} else if (v < 0x10000) {
		put_le(b, 0xfc, 1);
		put_le(b, v, 2);
	} else if (v < 0x1000000) {
		put_le(b, 0xfd, 1);
		put_le(b, v, 3);
	} else {
		put_le(b, 0xfe, 1);
		put_le(b, v, 8);
	}
}

/* ---- JSON text to MySQL binary JSON (test helper) ---- */

/*
 * Binary JSON as the server writes it: a document is a type byte and a
 * value; containers are count, size, key entries (offset, length), value
 * entries (type, offset or inlined literal/int16/uint16, and int32/uint32
 * when large), then keys and values; offsets count from the container's
 * count.  Object members must be given in MySQL's order (shorter keys
 * first, then bytewise), as the server stores them.  Integers take the
 * smallest of int16, int32, int64, then uint64; numbers with '.' or 'e'
 * are doubles.
 */
struct enc {
	const char *s;
	bool large;
};

static void ws(struct enc *e)
{
	while (*e->s == ' ' || *e->s == '\n')
		e->s++;
}

static void enc_strbody(struct enc *e, struct bytes *raw)
{
	assert_int_equal(*e->s, '"');
	e->s++;
	while (*e->s != '"') {
		char c = *e->s++;

		assert_int_not_equal(c, '\0');
		if (c == '\\') {
			c = *e->s++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned cp;

				assert_int_equal(sscanf(e->s, "%4x", &cp), 1);
				e->s += 4;
				assert_true(cp < 0x800);
				if (cp < 0x80) {
					c = (char)cp;
					break;
				}
				put_le(raw, 0xc0 | cp >> 6, 1);
				c = (char)(0x80 | (cp & 0x3f));
				break;
			}
			default: break;	/* \" \\ \/ */
			}
		}
		put(raw, &c, 1);
	}
	e->s++;
}

static void put_varlen(struct bytes *b, size_t n)
{
	do {
		uint8_t c = (uint8_t)(n & 0x7f);

		n >>= 7;
		if (n)
			c |= 0x80;
		put(b, &c, 1);
	} while (n);
}

/* One value at e->s: its value bytes into v, its type returned. */
static uint8_t enc_value(struct enc *e, struct bytes *v);

static uint8_t enc_container(struct enc *e, struct bytes *v, bool obj)
{
	unsigned w = e->large ? 4 : 2;
	struct bytes keys[64], vals[64];
	uint8_t types[64];
	size_t count = 0, hdr, at;
	struct bytes c = { 0 };

	e->s++;
	ws(e);
	while (*e->s != (obj ? '}' : ']')) {
		assert_true(count < 64);
		keys[count] = (struct bytes){ 0 };
		vals[count] = (struct bytes){ 0 };
		if (obj) {
			enc_strbody(e, &keys[count]);
			ws(e);
			assert_int_equal(*e->s, ':');
			e->s++;
			ws(e);
		}
		types[count] = enc_value(e, &vals[count]);
		count++;
		ws(e);
		if (*e->s == ',') {
			e->s++;
			ws(e);
		}
	}
	e->s++;
	hdr = 2 * w + (obj ? count * (w + 2) : 0) + count * (1 + w);
	c.p = calloc(1, hdr);
	assert_non_null(c.p);
	c.n = c.cap = hdr;
	set_le(&c, 0, count, w);
	at = 2 * w;
	if (obj) {
		for (size_t i = 0; i < count; i++) {
			set_le(&c, at + i * (w + 2), c.n, w);
			set_le(&c, at + i * (w + 2) + w, keys[i].n, 2);
			put(&c, keys[i].p, keys[i].n);
		}
		at += count * (w + 2);
	}
	for (size_t i = 0; i < count; i++) {
		size_t ent = at + i * (1 + w);
		uint8_t t = types[i];

		c.p[ent] = t;
		if (t == 0x04 || t == 0x05 || t == 0x06 ||
		    (e->large && (t == 0x07 || t == 0x08))) {
			memcpy(c.p + ent + 1, vals[i].p, vals[i].n);
		} else {
			set_le(&c, ent + 1, c.n, w);
			put(&c, vals[i].p, vals[i].n);
		}
		free(keys[i].p);
		free(vals[i].p);
	}
	set_le(&c, w, c.n, w);
	put(v, c.p, c.n);
	free(c.p);
	return (obj ? 0x00 : 0x02) | (e->large ? 1 : 0);
}

static uint8_t enc_value(struct enc *e, struct bytes *v)
{
	const char *s = e->s;

	ws(e);
	s = e->s;
	if (*s == '{' || *s == '[')
		return enc_container(e, v, *s == '{');
	if (*s == '"') {
		struct bytes raw = { 0 };

		enc_strbody(e, &raw);
		put_varlen(v, raw.n);
		put(v, raw.p, raw.n);
		free(raw.p);
		return 0x0c;
	}
	if (strncmp(s, "null", 4) == 0 || strncmp(s, "true", 4) == 0) {
		e->s += 4;
		put_le(v, *s == 'n' ? 0 : 1, 1);
		return 0x04;
	}
	if (strncmp(s, "false", 5) == 0) {
		e->s += 5;
		put_le(v, 2, 1);
		return 0x04;
	}
	{
		size_t n = strspn(s, "-+0123456789.eE");
		char *end;

		assert_true(n > 0);
		e->s += n;
		if (strcspn(s, ".eE") < n) {
			double d = strtod(s, &end);
			uint64_t bits;

			memcpy(&bits, &d, 8);
			put_le(v, bits, 8);
			return 0x0b;
		}
		if (*s == '-') {
			long long x = strtoll(s, &end, 10);

			if (x >= INT16_MIN) {
				put_le(v, (uint64_t)x, 2);
				return 0x05;
			}
			if (x >= INT32_MIN) {
				put_le(v, (uint64_t)x, 4);
				return 0x07;
			}
			put_le(v, (uint64_t)x, 8);
			return 0x09;
		} else {
			unsigned long long x = strtoull(s, &end, 10);

			if (x <= INT16_MAX) {
				put_le(v, x, 2);
				return 0x05;
			}
			if (x <= INT32_MAX) {
				put_le(v, x, 4);
				return 0x07;
			}
			if (x <= INT64_MAX) {
				put_le(v, x, 8);
				return 0x09;
			}
			put_le(v, x, 8);
			return 0x0a;
		}
	}
}

/* The binary document of JSON text s into doc (cleared first). */
static void encode(struct bytes *doc, const char *s, bool large)
{
	struct enc e = { s, large };
	struct bytes v = { 0 };
	uint8_t t = enc_value(&e, &v);

	ws(&e);
	assert_int_equal(*e.s, '\0');
	doc->n = 0;
	put(doc, &t, 1);
	put(doc, v.p, v.n);
	free(v.p);
}

/* ---- cases ---- */

#define RAW(...)                                                \
	.raw = (const uint8_t[]){ __VA_ARGS__ },                \
	.rawn = sizeof((const uint8_t[]){ __VA_ARGS__ })

enum { REPLACE = 0, INSERT = 1, REMOVE = 2 };

#define REP(p, v) { .op = REPLACE, .path = (p), .val = (v) }
#define INS(p, v) { .op = INSERT, .path = (p), .val = (v) }
#define REM(p) { .op = REMOVE, .path = (p) }
#define REP_RAW(p, ...) { .op = REPLACE, .path = (p), RAW(__VA_ARGS__) }
#define INS_RAW(p, ...) { .op = INSERT, .path = (p), RAW(__VA_ARGS__) }

struct diff {
	int op;		/* 0 ends the list when path is NULL */
	const char *path;
	const char *val;	/* JSON text of the value, or */
	const uint8_t *raw;	/* its binary document */
	size_t rawn;
};

struct dcase {
	const char *name;
	const char *before;	/* JSON text, members in MySQL order */
	bool large;		/* before image with large containers */
	struct diff d[6];
	const char *want;	/* NULL: must fail */
	const char *errsub;
};

static const struct dcase cases[] = {
	/* ---- replace ---- */
	{ "replace member", "{\"a\":1,\"b\":2}",
	  .d = { REP("$.a", "\"x\"") },
	  .want = "{\"a\":\"x\",\"b\":2}" },
	{ "replace last member", "{\"a\":1,\"b\":2}",
	  .d = { REP("$.b", "[true,false,null]") },
	  .want = "{\"a\":1,\"b\":[true,false,null]}" },
	{ "replace array element", "[1,2,3]",
	  .d = { REP("$[1]", "{\"k\":true}") },
	  .want = "[1,{\"k\":true},3]" },
	{ "replace [last]", "[1,2,3]",
	  .d = { REP("$[last]", "-7") },
	  .want = "[1,2,-7]" },
	{ "replace [last-2]", "[1,2,3]",
	  .d = { REP("$[last-2]", "0") },
	  .want = "[0,2,3]" },
	{ "replace nested", "{\"a\":{\"b\":[10,20]},\"c\":\"s\"}",
	  .d = { REP("$.a.b[0]", "1.5") },
	  .want = "{\"a\":{\"b\":[1.5,20]},\"c\":\"s\"}" },
	{ "replace nested large", "{\"a\":{\"b\":[10,20]},\"c\":\"s\"}",
	  .large = true,
	  .d = { REP("$.a.b[1]", "\"t\"") },
	  .want = "{\"a\":{\"b\":[10,\"t\"]},\"c\":\"s\"}" },
	{ "replace container", "{\"a\":{\"b\":[10,20]}}",
	  .d = { REP("$.a", "[]") },
	  .want = "{\"a\":[]}" },
	{ "replace with spaces in path", "{\"a\":[{\"b\":1}]}",
	  .d = { REP(" $ . a [ 0 ] .b ", "2") },
	  .want = "{\"a\":[{\"b\":2}]}" },
	{ "replace root", "[1]",
	  .d = { REP("$", "{\"z\":null}") },
	  .want = "{\"z\":null}" },
	{ "replace scalar root", "\"old\"",
	  .d = { REP("$", "42") },
	  .want = "42" },
	{ "exact numbers kept",
	  "{\"d\":0.1,\"e\":1e20,\"i\":-9223372036854775808,"
	  "\"u\":18446744073709551615,\"x\":0}",
	  .d = { REP("$.x", "4294967296") },
	  .want = "{\"d\":0.1,\"e\":1e+20,\"i\":-9223372036854775808,"
		  "\"u\":18446744073709551615,\"x\":4294967296}" },
	{ "exact numbers large",
	  "[70000,-70000,2147483647,-2147483648,65535,-1]", .large = true,
	  .d = { REP("$[5]", "18446744073709551615") },
	  .want = "[70000,-70000,2147483647,-2147483648,65535,"
		  "18446744073709551615]" },
	/* opaque DECIMAL(5,2) 123.45: f6, length 5, 05 02 80 7b 2d */
	{ "replace with decimal", "{\"p\":1}",
	  .d = { REP_RAW("$.p",
			 0x0f, 0xf6, 0x05, 0x05, 0x02, 0x80, 0x7b, 0x2d) },
	  .want = "{\"p\":123.45}" },
	/* opaque DATETIME 2015-01-15 23:24:25 */
	{ "insert datetime", "{}",
	  .d = { INS_RAW("$.t",
			 0x0f, 0x0c, 0x08, 0x00, 0x00, 0x00, 0x19, 0x76,
			 0x1f, 0x95, 0x19) },
	  .want = "{\"t\":\"2015-01-15 23:24:25.000000\"}" },
	{ "replace with escaped string", "[\"a\"]",
	  .d = { REP("$[0]", "\"q\\\"\\\\\\n\\u001f\"") },
	  .want = "[\"q\\\"\\\\\\n\\u001f\"]" },

	/* ---- insert ---- */
	{ "insert key between", "{\"b\":1,\"aa\":2}",
	  .d = { INS("$.c", "3") },
	  .want = "{\"b\":1,\"c\":3,\"aa\":2}" },
	{ "insert key first", "{\"b\":1,\"aa\":2}",
	  .d = { INS("$.a", "0") },
	  .want = "{\"a\":0,\"b\":1,\"aa\":2}" },
	{ "insert key longer", "{\"b\":1,\"aa\":2}",
	  .d = { INS("$.ab", "4") },
	  .want = "{\"b\":1,\"aa\":2,\"ab\":4}" },
	{ "insert key last", "{\"b\":1,\"aa\":2}",
	  .d = { INS("$.abc", "5") },
	  .want = "{\"b\":1,\"aa\":2,\"abc\":5}" },
	{ "insert key empty object", "{}",
	  .d = { INS("$.k", "\"v\"") },
	  .want = "{\"k\":\"v\"}" },
	{ "insert empty key", "{\"a\":1}",
	  .d = { INS("$.\"\"", "0") },
	  .want = "{\"\":0,\"a\":1}" },
	{ "insert key large", "{\"x\":1,\"zz\":2}", .large = true,
	  .d = { INS("$.y", "70000") },
	  .want = "{\"x\":1,\"y\":70000,\"zz\":2}" },
	{ "insert array middle", "[1,2,3]",
	  .d = { INS("$[1]", "9") },
	  .want = "[1,9,2,3]" },
	{ "insert array front", "[1,2,3]",
	  .d = { INS("$[0]", "\"f\"") },
	  .want = "[\"f\",1,2,3]" },
	{ "insert array end", "[1,2,3]",
	  .d = { INS("$[3]", "4") },
	  .want = "[1,2,3,4]" },
	{ "insert array past end", "[1,2,3]",
	  .d = { INS("$[100]", "{}") },
	  .want = "[1,2,3,{}]" },
	{ "insert array [last]", "[1,2,3]",
	  .d = { INS("$[last]", "0") },
	  .want = "[1,2,0,3]" },
	{ "insert empty array", "{\"a\":[]}",
	  .d = { INS("$.a[0]", "null") },
	  .want = "{\"a\":[null]}" },
	{ "insert nested", "{\"a\":{\"b\":{}}}",
	  .d = { INS("$.a.b.c", "[1,[2]]") },
	  .want = "{\"a\":{\"b\":{\"c\":[1,[2]]}}}" },

	/* ---- remove ---- */
	{ "remove member", "{\"a\":1,\"b\":2,\"c\":3}",
	  .d = { REM("$.b") },
	  .want = "{\"a\":1,\"c\":3}" },
	{ "remove only member", "{\"a\":{\"x\":[1]}}",
	  .d = { REM("$.a") },
	  .want = "{}" },
	{ "remove element", "[1,2,3]",
	  .d = { REM("$[0]") },
	  .want = "[2,3]" },
	{ "remove [last]", "[1,2,3]",
	  .d = { REM("$[last]") },
	  .want = "[1,2]" },
	{ "remove nested", "{\"a\":[{\"b\":1,\"c\":2}]}",
	  .d = { REM("$.a[0].c") },
	  .want = "{\"a\":[{\"b\":1}]}" },

	/* ---- several diffs ---- */
	{ "sequence", "{\"id\":7,\"name\":\"n\",\"tags\":[\"x\",\"y\"]}",
	  .d = { REP("$.id", "8"),
		 INS("$.tags[1]", "\"m\""),
		 REM("$.tags[0]"),
		 INS("$.new", "{}"),
		 INS("$.new.k", "true"),
		 REM("$.name") },
	  .want = "{\"id\":8,\"new\":{\"k\":true},\"tags\":[\"m\",\"y\"]}" },
	{ "replace twice", "[0]",
	  .d = { REP("$[0]", "1"), REP("$[0]", "2") },
	  .want = "[2]" },
	{ "remove then insert same key", "{\"a\":1}",
	  .d = { REM("$.a"), INS("$.a", "\"back\"") },
	  .want = "{\"a\":\"back\"}" },
	{ "no diffs", "{\"a\":[1,2.5,\"s\"]}",
	  .want = "{\"a\":[1,2.5,\"s\"]}" },

	/* ---- quoted member names ---- */
	{ "quoted key with space", "{\"a b\":1,\"c\\\"d\":2}",
	  .d = { REP("$.\"a b\"", "10"),
		 REP("$.\"c\\\"d\"", "20") },
	  .want = "{\"a b\":10,\"c\\\"d\":20}" },
	{ "quoted key escapes", "{\"\\u00e9\":1}",
	  .d = { REP("$.\"\\u00e9\"", "2"),
		 INS("$.\"\\t\\\\\"", "3") },
	  .want = "{\"\\t\\\\\":3,\"\xc3\xa9\":2}" },
	{ "quoted key surrogate pair", "{}",
	  .d = { INS("$.\"\\ud83d\\ude00\"", "1") },
	  .want = "{\"\xf0\x9f\x98\x80\":1}" },
	{ "quoted dot and bracket", "{\"[0]\":2,\"a.b\":1}",
	  .d = { REM("$.\"a.b\""), REP("$.\"[0]\"", "3") },
	  .want = "{\"[0]\":3}" },
	{ "unquoted utf8 name", "{\"\\u00e9\":1}",
	  .d = { REP("$.\xc3\xa9", "2") },
	  .want = "{\"\xc3\xa9\":2}" },

	/* ---- paths that do not apply ---- */
	{ "replace missing member", "{\"a\":1}",
	  .d = { REP("$.b", "1") }, .errsub = "not found" },
	{ "replace index out of range", "[1,2]",
	  .d = { REP("$[2]", "1") }, .errsub = "not found" },
	{ "replace [last-5]", "[1,2]",
	  .d = { REP("$[last-5]", "1") }, .errsub = "not found" },
	{ "member leg on array", "[1,2]",
	  .d = { REP("$.a", "1") }, .errsub = "not found" },
	{ "index leg on object (no autowrap)", "{\"a\":1}",
	  .d = { REP("$[0]", "1") }, .errsub = "not found" },
	{ "index leg on scalar (no autowrap)", "{\"a\":1}",
	  .d = { REP("$.a[0]", "1") }, .errsub = "not found" },
	{ "leg through scalar root", "5",
	  .d = { REP("$.a", "1") }, .errsub = "not found" },
	{ "insert existing member", "{\"a\":1}",
	  .d = { INS("$.a", "2") }, .errsub = "exists" },
	{ "insert index into object", "{\"a\":1}",
	  .d = { INS("$[0]", "2") }, .errsub = "not found" },
	{ "insert member into array", "[1]",
	  .d = { INS("$.a", "2") }, .errsub = "not found" },
	{ "insert missing parent", "{\"a\":1}",
	  .d = { INS("$.b.c", "2") }, .errsub = "not found" },
	{ "insert root", "[1]",
	  .d = { INS("$", "2") }, .errsub = "whole document" },
	{ "remove root", "[1]",
	  .d = { REM("$") }, .errsub = "whole document" },
	{ "remove missing member", "{\"a\":1}",
	  .d = { REM("$.b") }, .errsub = "not found" },
	{ "remove index out of range", "[1]",
	  .d = { REM("$[1]") }, .errsub = "not found" },
	{ "remove from empty array", "[]",
	  .d = { REM("$[last]") }, .errsub = "not found" },
	{ "second diff fails", "{\"a\":1}",
	  .d = { REP("$.a", "2"), REM("$.zz") },
	  .errsub = "remove at $.zz" },

	/* ---- bad paths ---- */
	{ "wildcard member", "{\"a\":1}",
	  .d = { REP("$.*", "1") }, .errsub = "wildcard" },
	{ "wildcard cell", "[1]",
	  .d = { REP("$[*]", "1") }, .errsub = "wildcard" },
	{ "ellipsis", "{\"a\":1}",
	  .d = { REP("$**.a", "1") }, .errsub = "wildcard" },
	{ "range", "[1,2]",
	  .d = { REM("$[0 to 1]") }, .errsub = "]" },
	{ "no dollar", "{\"a\":1}",
	  .d = { REP("a", "1") }, .errsub = "$" },
	{ "empty path", "{\"a\":1}",
	  .d = { REP("", "1") }, .errsub = "$" },
	{ "unterminated quote", "{\"a\":1}",
	  .d = { REP("$.\"a", "1") }, .errsub = "unterminated" },
	{ "bad escape", "{\"a\":1}",
	  .d = { REP("$.\"\\q\"", "1") }, .errsub = "escape" },
	{ "lone surrogate", "{\"a\":1}",
	  .d = { REP("$.\"\\ud800\"", "1") }, .errsub = "surrogate" },
	{ "empty member name", "{\"a\":1}",
	  .d = { REP("$.", "1") }, .errsub = "member name" },
	{ "negative index", "[1]",
	  .d = { REP("$[-1]", "1") }, .errsub = "index" },
	{ "huge index", "[1]",
	  .d = { REP("$[99999999999]", "1") }, .errsub = "too large" },
	{ "trailing junk", "[1]",
	  .d = { REP("$[0]x", "1") }, .errsub = "unexpected" },

	/* ---- bad values ---- */
	{ "value of unknown type", "[1]",
	  .d = { REP_RAW("$[0]", 0x0e, 0x00) },
	  .errsub = "unknown value type" },
	{ "value array too short", "[1]",
	  .d = { REP_RAW("$[0]", 0x02, 0x01, 0x00, 0x20, 0x00) },
	  .errsub = "array of 32 bytes" },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* Diffs of c into d; the byte offsets where each diff ends into ends. */
static void build_diffs(const struct dcase *c, struct bytes *d, size_t *ends,
			size_t *nends)
{
	struct bytes v = { 0 };

	d->n = 0;
	*nends = 0;
	for (size_t i = 0; i < 6 && c->d[i].path; i++) {
		const struct diff *x = &c->d[i];

		put_le(d, (uint64_t)x->op, 1);
		put_netlen(d, strlen(x->path));
		put(d, x->path, strlen(x->path));
		if (x->op != REMOVE) {
			if (x->raw) {
				put_netlen(d, x->rawn);
				put(d, x->raw, x->rawn);
			} else {
				encode(&v, x->val, false);
				put_netlen(d, v.n);
				put(d, v.p, v.n);
			}
		}
		ends[(*nends)++] = d->n;
	}
	free(v.p);
}

/* Apply on heap copies of exactly bn and dn bytes (overreads are caught). */
static bool run(const uint8_t *b, size_t bn, const uint8_t *d, size_t dn,
		struct rc_buf *out, char *err, size_t errlen)
{
	uint8_t *bc = malloc(bn ? bn : 1), *dc = malloc(dn ? dn : 1);
	bool ok;

	assert_non_null(bc);
	assert_non_null(dc);
	if (bn)
		memcpy(bc, b, bn);
	if (dn)
		memcpy(dc, d, dn);
	ok = jsondiff_apply(bc, bn, dc, dn, out, err, errlen);
	free(bc);
	free(dc);
	return ok;
}

/* The encoder itself: every before image reads back as its text. */
static void test_encoder(void **state)
{
	struct bytes doc = { 0 };
	struct rc_buf out = { 0 }, want = { 0 };
	char err[160] = "";

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const char *s = cases[i].before;

		encode(&doc, s, cases[i].large);
		buf_reset(&out);
		if (!jsonb_to_json(doc.p, doc.n, &out, err, sizeof(err)))
			fail_msg("%s: %s", cases[i].name, err);
		/* the tables write \u00e9 where the output has UTF-8 */
		buf_reset(&want);
		for (const char *p = s; *p; p++) {
			if (strncmp(p, "\\u00e9", 6) == 0) {
				buf_puts(&want, "\xc3\xa9");
				p += 5;
			} else {
				buf_putc(&want, *p);
			}
		}
		if (strstr(s, "1e20") == NULL)
			assert_string_equal(out.data, want.data);
	}
	free(doc.p);
	buf_free(&out);
	buf_free(&want);
}

static void test_table(void **state)
{
	struct bytes doc = { 0 }, d = { 0 };
	struct rc_buf out = { 0 };
	unsigned failures = 0;
	size_t ends[6], nends;

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const struct dcase *c = &cases[i];
		char err[160] = "";
		bool ok;

		encode(&doc, c->before, c->large);
		build_diffs(c, &d, ends, &nends);
		buf_reset(&out);
		buf_puts(&out, "<");
		ok = run(doc.p, doc.n, d.p, d.n, &out, err, sizeof(err));
		if (c->want) {
			if (!ok || strcmp(out.data + 1, c->want) != 0) {
				print_error("FAIL %s: ok=%d out=[%s] want=[%s] err=%s\n",
					    c->name, ok, out.data + 1, c->want,
					    err);
				failures++;
			}
		} else if (ok || out.len != 1 || err[0] == '\0' ||
			   (c->errsub && !strstr(err, c->errsub))) {
			print_error("FAIL %s: should fail with '%s': ok=%d out=[%s] err=%s\n",
				    c->name, c->errsub ? c->errsub : "", ok,
				    out.data, err);
			failures++;
		}
	}
	free(doc.p);
	free(d.p);
	buf_free(&out);
	assert_int_equal(failures, 0);
}

/*
 * Every truncation of every good case: a diff list cut inside a diff
 * fails (cut between diffs it is a shorter valid list), and every strict
 * non-empty prefix of the before image fails.  Out is never touched on
 * failure.
 */
static void test_truncated(void **state)
{
	struct bytes doc = { 0 }, d = { 0 };
	struct rc_buf out = { 0 };
	unsigned failures = 0, runs = 0;
	size_t ends[6], nends;

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const struct dcase *c = &cases[i];

		if (c->want == NULL)
			continue;
		encode(&doc, c->before, c->large);
		build_diffs(c, &d, ends, &nends);
		for (size_t k = 0; k < d.n; k++) {
			char err[160] = "";
			bool boundary = k == 0, ok;

			for (size_t j = 0; j < nends; j++)
				boundary |= ends[j] == k;
			buf_reset(&out);
			buf_puts(&out, "<");
			ok = run(doc.p, doc.n, d.p, k, &out, err, sizeof(err));
			runs++;
			if (!ok && out.len != 1) {
				print_error("FAIL %s: diff cut to %zu wrote output\n",
					    c->name, k);
				failures++;
			}
			if (!boundary && (ok || err[0] == '\0')) {
				print_error("FAIL %s: diff cut to %zu: ok=%d out=[%s]\n",
					    c->name, k, ok, out.data);
				failures++;
			}
		}
		for (size_t k = 1; k < doc.n; k++) {
			char err[160] = "";
			bool ok;

			buf_reset(&out);
			buf_puts(&out, "<");
			ok = run(doc.p, k, d.p, d.n, &out, err, sizeof(err));
			runs++;
			if (ok || out.len != 1 || err[0] == '\0') {
				print_error("FAIL %s: before cut to %zu: ok=%d out=[%s]\n",
					    c->name, k, ok, out.data);
				failures++;
			}
		}
	}
	free(doc.p);
	free(d.p);
	buf_free(&out);
	assert_true(runs > 1000);
	assert_int_equal(failures, 0);
}

/* Hand-built diff lists: bad operations and length encodings. */
struct rawcase {
	const char *name;
	const uint8_t *in;
	size_t n;
	const char *want;
	const char *errsub;
};

#define B(...)                                                  \
	.in = (const uint8_t[]){ __VA_ARGS__ },                 \
	.n = sizeof((const uint8_t[]){ __VA_ARGS__ })

static const struct rawcase rawcases[] = {
	/* before is [1,2] for all */
	{ "replace $[0] 5", B(0x00, 0x04, '$', '[', '0', ']', 0x03, 0x05,
			       0x05, 0x00),
	  .want = "[5,2]" },
	{ "2-byte path length", B(0x02, 0xfc, 0x04, 0x00, '$', '[', '1', ']'),
	  .want = "[1]" },
	{ "3-byte value length", B(0x00, 0x04, '$', '[', '0', ']',
				   0xfd, 0x02, 0x00, 0x00, 0x04, 0x01),
	  .want = "[true,2]" },
	{ "8-byte value length", B(0x01, 0x04, '$', '[', '9', ']',
				   0xfe, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x00),
	  .want = "[1,2,null]" },
	{ "bad op 3", B(0x03, 0x01, '$'), .errsub = "bad operation 3" },
	{ "bad op 0xff", B(0xff, 0x01, '$'), .errsub = "bad operation" },
	{ "path length 0xfb", B(0x02, 0xfb), .errsub = "NULL path length" },
	{ "path length 0xff", B(0x02, 0xff), .errsub = "path length" },
	{ "path past end", B(0x02, 0x09, '$', '[', '0', ']'),
	  .errsub = "path of 9 bytes" },
	{ "value past end", B(0x00, 0x04, '$', '[', '0', ']', 0x05, 0x05, 0x01),
	  .errsub = "value of 5 bytes" },
	{ "huge value length", B(0x00, 0x04, '$', '[', '0', ']',
				 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				 0xff),
	  .errsub = "value of 18446744073709551615 bytes" },
	{ "empty value", B(0x00, 0x04, '$', '[', '0', ']', 0x00),
	  .errsub = "empty value" },
	{ "nul in path", B(0x02, 0x04, '$', '[', 0x00, ']'),
	  .errsub = "index" },
};

static void test_raw(void **state)
{
	static const uint8_t before[] = { 0x02, 0x02, 0x00, 0x0a, 0x00,
					  0x05, 0x01, 0x00, 0x05, 0x02, 0x00 };
	struct rc_buf out = { 0 };
	unsigned failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rawcases) / sizeof(rawcases[0]); i++) {
		const struct rawcase *c = &rawcases[i];
		char err[160] = "";
		bool ok;

		buf_reset(&out);
		buf_puts(&out, "<");
		ok = run(before, sizeof(before), c->in, c->n, &out, err,
			 sizeof(err));
		if (c->want ? !ok || strcmp(out.data + 1, c->want) != 0 :
			      ok || out.len != 1 || !strstr(err, c->errsub)) {
			print_error("FAIL %s: ok=%d out=[%s] err=%s\n", c->name,
				    ok, out.data, err);
			failures++;
		}
		/* and every truncation of it fails cleanly */
		for (size_t k = 1; k < c->n; k++) {
			buf_reset(&out);
			buf_puts(&out, "<");
			if (run(before, sizeof(before), c->in, k, &out, err,
				sizeof(err)) || out.len != 1) {
				print_error("FAIL %s cut to %zu\n", c->name, k);
				failures++;
			}
		}
	}
	buf_free(&out);
	assert_int_equal(failures, 0);
}

/* An empty before image is JSON null; only "$" applies to it. */
static void test_empty_before(void **state)
{
	static const uint8_t rep[] = { 0x00, 0x01, '$', 0x03, 0x05, 0x07, 0x00 };
	static const uint8_t ins[] = { 0x01, 0x03, '$', '.', 'a', 0x03, 0x05,
				       0x07, 0x00 };
	struct rc_buf out = { 0 };
	char err[160] = "";

	(void)state;
	assert_true(run(NULL, 0, NULL, 0, &out, err, sizeof(err)));
	assert_string_equal(out.data, "null");
	buf_reset(&out);
	assert_true(run(NULL, 0, rep, sizeof(rep), &out, err, sizeof(err)));
	assert_string_equal(out.data, "7");
	buf_reset(&out);
	assert_false(run(NULL, 0, ins, sizeof(ins), &out, err, sizeof(err)));
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

/* A long string value: its length needs the 0xfc form. */
static void test_long_value(void **state)
{
	struct bytes doc = { 0 }, d = { 0 }, v = { 0 };
	struct rc_buf out = { 0 }, want = { 0 };
	char err[160] = "";

	(void)state;
	encode(&doc, "{\"k\":\"short\"}", false);
	put_le(&v, 0x0c, 1);
	put_varlen(&v, 300);
	buf_puts(&want, "{\"k\":\"");
	for (int i = 0; i < 300; i++) {
		put(&v, "z", 1);
		buf_putc(&want, 'z');
	}
	buf_puts(&want, "\"}");
	put_le(&d, 0x00, 1);
	put_netlen(&d, 3);
	put(&d, "$.k", 3);
	put_netlen(&d, v.n);
	assert_int_equal(d.p[d.n - 3], 0xfc);
	put(&d, v.p, v.n);
	assert_true(run(doc.p, doc.n, d.p, d.n, &out, err, sizeof(err)));
	assert_string_equal(out.data, want.data);
	free(doc.p);
	free(d.p);
	free(v.p);
	buf_free(&out);
	buf_free(&want);
}

/* depth nested single-element small arrays around [] (as test_jsonb.c) */
static void nested(struct bytes *doc, unsigned depth)
{
	struct bytes in = { 0 };

	put_le(&in, 0, 2);
	put_le(&in, 4, 2);
	for (unsigned d = 1; d < depth; d++) {
		struct bytes w = { 0 };

		put_le(&w, 1, 2);
		put_le(&w, 7 + in.n, 2);
		put_le(&w, 0x02, 1);
		put_le(&w, 7, 2);
		put(&w, in.p, in.n);
		free(in.p);
		in = w;
	}
	doc->n = 0;
	put_le(doc, 0x02, 1);
	put(doc, in.p, in.n);
	free(in.p);
}

/* Nothing deeper than JSONB_MAX_DEPTH, before or after the diffs. */
static void test_depth(void **state)
{
	struct bytes doc = { 0 }, d = { 0 }, v = { 0 };
	struct rc_buf out = { 0 };
	char err[160] = "";
	char path[4 * JSONB_MAX_DEPTH];
	size_t pl = 1;

	(void)state;
	/* path $[0][0]... to the innermost [] (JSONB_MAX_DEPTH - 1 legs) */
	path[0] = '$';
	for (unsigned i = 1; i < JSONB_MAX_DEPTH; i++) {
		memcpy(path + pl, "[0]", 3);
		pl += 3;
	}
	nested(&doc, JSONB_MAX_DEPTH);
	/* a scalar into the innermost array: fine */
	put_le(&d, 0x01, 1);
	put_netlen(&d, pl + 3);
	put(&d, path, pl);
	put(&d, "[0]", 3);
	put_netlen(&d, 2);
	put_le(&d, 0x04, 1);
	put_le(&d, 0x01, 1);
	assert_true(run(doc.p, doc.n, d.p, d.n, &out, err, sizeof(err)));
	assert_int_equal(out.len, 2 * JSONB_MAX_DEPTH + 4);
	assert_non_null(strstr(out.data, "[true]"));
	/* an array there would be one level too deep */
	d.n = 0;
	nested(&v, 1);
	put_le(&d, 0x01, 1);
	put_netlen(&d, pl + 3);
	put(&d, path, pl);
	put(&d, "[0]", 3);
	put_netlen(&d, v.n);
	put(&d, v.p, v.n);
	buf_reset(&out);
	assert_false(run(doc.p, doc.n, d.p, d.n, &out, err, sizeof(err)));
	assert_non_null(strstr(err, "deeper"));
	assert_int_equal(out.len, 0);
	/* a before image one level too deep */
	nested(&doc, JSONB_MAX_DEPTH + 1);
	assert_false(run(doc.p, doc.n, NULL, 0, &out, err, sizeof(err)));
	assert_non_null(strstr(err, "nesting"));
	/* and a value of JSONB_MAX_DEPTH levels at $[0] is too deep */
	encode(&doc, "[1]", false);
	nested(&v, JSONB_MAX_DEPTH);
	d.n = 0;
	put_le(&d, 0x00, 1);
	put_netlen(&d, 4);
	put(&d, "$[0]", 4);
	put_netlen(&d, v.n);
	put(&d, v.p, v.n);
	assert_false(run(doc.p, doc.n, d.p, d.n, &out, err, sizeof(err)));
	assert_non_null(strstr(err, "deeper"));
	/* but fine as the whole document */
	d.p[0] = 0x00;
	memcpy(d.p + 2, "$   ", 4);
	assert_true(run(doc.p, doc.n, d.p, d.n, &out, err, sizeof(err)));
	free(doc.p);
	free(d.p);
	free(v.p);
	buf_free(&out);
}

/* Entries sharing children: 2^60 nodes from 600 bytes must fail fast. */
static void test_shared_blowup(void **state)
{
	struct bytes doc = { 0 }, in = { 0 }, d = { 0 };
	struct rc_buf out = { 0 };
	char err[160] = "";

	(void)state;
	put_le(&in, 0, 2);
	put_le(&in, 4, 2);
	for (unsigned k = 1; k < 60; k++) {
		struct bytes w = { 0 };

		put_le(&w, 2, 2);
		put_le(&w, 10 + in.n, 2);
		put_le(&w, 0x02, 1);
		put_le(&w, 10, 2);
		put_le(&w, 0x02, 1);
		put_le(&w, 10, 2);
		put(&w, in.p, in.n);
		free(in.p);
		in = w;
	}
	put_le(&doc, 0x02, 1);
	put(&doc, in.p, in.n);
	assert_false(run(doc.p, doc.n, NULL, 0, &out, err, sizeof(err)));
	assert_non_null(strstr(err, "shared"));
	/* the same as a diff value */
	encode(&in, "[1]", false);
	put_le(&d, 0x00, 1);
	put_netlen(&d, 4);
	put(&d, "$[0]", 4);
	put_netlen(&d, doc.n);
	put(&d, doc.p, doc.n);
	assert_false(run(in.p, in.n, d.p, d.n, &out, err, sizeof(err)));
	assert_non_null(strstr(err, "shared"));
	assert_int_equal(out.len, 0);
	free(in.p);
	free(doc.p);
	free(d.p);
	buf_free(&out);
}

/* Random byte flips in diffs and documents: no crash, no overread. */
static void test_garbage(void **state)
{
	struct bytes doc = { 0 }, d = { 0 };
	struct rc_buf out = { 0 };
	size_t ends[6], nends;
	unsigned seed = 12345;

	(void)state;
	for (unsigned round = 0; round < 20; round++) {
		for (size_t i = 0; i < N_CASES; i++) {
			char err[160] = "";
			uint8_t *p;
			size_t n;

			encode(&doc, cases[i].before, cases[i].large);
			build_diffs(&cases[i], &d, ends, &nends);
			seed = seed * 1103515245 + 12345;
			if ((seed >> 16) & 1) {
				p = d.p;
				n = d.n;
			} else {
				p = doc.p;
				n = doc.n;
			}
			if (n == 0)
				continue;
			for (int f = 0; f < 3; f++) {
				seed = seed * 1103515245 + 12345;
				p[(seed >> 8) % n] ^= (uint8_t)(1u << ((seed >> 4) % 8));
			}
			buf_reset(&out);
			buf_puts(&out, "<");
			if (!run(doc.p, doc.n, d.p, d.n, &out, err, sizeof(err)))
				assert_int_equal(out.len, 1);
		}
	}
	free(doc.p);
	free(d.p);
	buf_free(&out);
}

/* ---- the MySQL 8.0 binlog from the MariaDB test suite ---- */

#define FIXTURE "/usr/share/mysql/mysql-test/std_data/" \
		"mdev35643_mysql_80_binlog.000001"

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/*
 * The file's one PARTIAL_UPDATE_ROWS event (type 39) updates t2 (a INT,
 * b JSON) with JSON_REPLACE(b, '$.b', REPEAT("oOo", 50)).  Its body:
 * table id (6), flags (2), extra data (length 2 = itself), column count,
 * before and after column bitmaps; the before image (null bitmap, a, b as
 * 4-byte length + binary JSON); the after image (value options 1 =
 * PARTIAL_JSON, partial bitmap, null bitmap, a, b as 4-byte length + the
 * diff list).
 */
static void test_fixture(void **state)
{
	FILE *f = fopen(FIXTURE, "rb");
	struct bytes file = { 0 };
	uint8_t chunk[4096];
	size_t got, pos = 4;
	const uint8_t *b = NULL, *dif = NULL;
	size_t bn = 0, dn = 0;
	struct rc_buf out = { 0 }, want = { 0 };
	char err[160] = "";

	(void)state;
	if (f == NULL) {
		print_message("skipping: %s: %s\n", FIXTURE, strerror(errno));
		skip();
	}
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		put(&file, chunk, got);
	fclose(f);
	assert_true(file.n > 4);
	assert_memory_equal(file.p, "\xfe" "bin", 4);
	while (pos + 19 <= file.n) {
		size_t size = (size_t)le(file.p + pos + 9, 4);
		const uint8_t *e = file.p + pos, *p;

		assert_true(size >= 19 && size <= file.n - pos);
		if (e[4] == 39) {
			p = e + 19 + 8;
			p += le(p, 2);	/* extra data */
			assert_int_equal(p[0], 2);	/* columns */
			assert_int_equal(p[1] & 3, 3);
			assert_int_equal(p[2] & 3, 3);
			p += 3;
			assert_int_equal(p[0], 0);	/* nulls */
			assert_int_equal(le(p + 1, 4), 1);	/* a */
			bn = (size_t)le(p + 5, 4);
			b = p + 9;
			p = b + bn;
			assert_int_equal(p[0], 1);	/* PARTIAL_JSON */
			assert_int_equal(p[1], 1);	/* b is partial */
			assert_int_equal(p[2], 0);	/* nulls */
			assert_int_equal(le(p + 3, 4), 1);	/* a */
			dn = (size_t)le(p + 7, 4);
			dif = p + 11;
			/* then the 4-byte checksum ends the event */
			assert_true(dif + dn + 4 == e + size);
		}
		pos += size;
	}
	assert_non_null(b);
	assert_non_null(dif);
	/* one diff: replace "$.b" with a 150-byte string */
	assert_int_equal(dif[0], 0);
	assert_int_equal(dif[1], 3);
	assert_memory_equal(dif + 2, "$.b", 3);

	buf_puts(&want, "{\"a\":\"hulu\",\"b\":\"");
	for (int i = 0; i < 100; i++)
		buf_puts(&want, "[zyzzy]");
	buf_puts(&want, "\",\"c\":\"bulu\"}");
	assert_true(jsonb_to_json(b, bn, &out, err, sizeof(err)));
	assert_string_equal(out.data, want.data);
	/* no diffs: the before image as is */
	buf_reset(&out);
	assert_true(run(b, bn, dif, 0, &out, err, sizeof(err)));
	assert_string_equal(out.data, want.data);

	buf_reset(&want);
	buf_puts(&want, "{\"a\":\"hulu\",\"b\":\"");
	for (int i = 0; i < 50; i++)
		buf_puts(&want, "oOo");
	buf_puts(&want, "\",\"c\":\"bulu\"}");
	buf_reset(&out);
	if (!run(b, bn, dif, dn, &out, err, sizeof(err)))
		fail_msg("fixture: %s", err);
	assert_string_equal(out.data, want.data);
	/* every cut of the diff fails */
	for (size_t k = 1; k < dn; k++) {
		buf_reset(&out);
		assert_false(run(b, bn, dif, k, &out, err, sizeof(err)));
		assert_int_equal(out.len, 0);
	}
	free(file.p);
	buf_free(&out);
	buf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoder),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_empty_before),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_shared_blowup),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_fixture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
