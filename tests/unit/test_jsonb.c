/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of jsonb_to_json(): hand-built MySQL binary JSON documents of
 * every node type with the exact JSON text expected, every truncation of
 * them, malformed offsets and lengths, the depth limit, shared-value
 * blow-up, and generated large containers.  Byte layouts are in comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "source/mysql/jsonb.h"

#define B(...)                                                  \
	.in = (const uint8_t[]){ __VA_ARGS__ },                 \
	.n = sizeof((const uint8_t[]){ __VA_ARGS__ })

struct jcase {
	const char *name;
	const uint8_t *in;
	size_t n;
	const char *want;	/* NULL: must fail */
	const char *errsub;
};

/*
 * Layout reminders.  Document = type byte + value.  Types: 00/01 small/
 * large object, 02/03 small/large array, 04 literal (00 null, 01 true,
 * 02 false), 05 int16, 06 uint16, 07 int32, 08 uint32, 09 int64,
 * 0a uint64, 0b double, 0c string, 0f opaque; all little-endian.
 * Container = count, size (2 bytes small, 4 large), [object: count key
 * entries = offset (2|4) + length (2)], count value entries = type byte +
 * offset (2|4) or inlined literal/int16/uint16 (and int32/uint32 when
 * large); offsets count from the container's first byte (its count).
 * String = length in 7-bit groups, low first, high bit = more; opaque =
 * field type byte + such a length + data.
 */
static const struct jcase cases[] = {
	{ "null", B(0x04, 0x00), .want = "null" },
	{ "true", B(0x04, 0x01), .want = "true" },
	{ "false", B(0x04, 0x02), .want = "false" },
	{ "bad literal", B(0x04, 0x03), .errsub = "literal" },
	{ "int16 -1", B(0x05, 0xff, 0xff), .want = "-1" },
	{ "int16 min", B(0x05, 0x00, 0x80), .want = "-32768" },
	{ "int16 max", B(0x05, 0xff, 0x7f), .want = "32767" },
	{ "uint16 max", B(0x06, 0xff, 0xff), .want = "65535" },
	{ "int32 min", B(0x07, 0x00, 0x00, 0x00, 0x80), .want = "-2147483648" },
	{ "int32 max", B(0x07, 0xff, 0xff, 0xff, 0x7f), .want = "2147483647" },
	{ "uint32 max", B(0x08, 0xff, 0xff, 0xff, 0xff), .want = "4294967295" },
	{ "int64 min", B(0x09, 0, 0, 0, 0, 0, 0, 0, 0x80),
	  .want = "-9223372036854775808" },
	{ "int64 max", B(0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
	  .want = "9223372036854775807" },
	{ "uint64 max", B(0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	  .want = "18446744073709551615" },
	/* 0.1 = 0x3fb999999999999a */
	{ "double 0.1", B(0x0b, 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f),
	  .want = "0.1" },
	/* 1e20 = 0x4415af1d78b58c40 */
	{ "double 1e20", B(0x0b, 0x40, 0x8c, 0xb5, 0x78, 0x1d, 0xaf, 0x15, 0x44),
	  .want = "1e+20" },
	{ "double -0", B(0x0b, 0, 0, 0, 0, 0, 0, 0, 0x80), .want = "-0" },
	{ "double nan", B(0x0b, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f), .want = "null" },
	{ "string", B(0x0c, 0x05, 'h', 'e', 'l', 'l', 'o'), .want = "\"hello\"" },
	{ "string empty", B(0x0c, 0x00), .want = "\"\"" },
	{ "string escapes", B(0x0c, 0x04, '"', '\\', '\n', 0x1f),
	  .want = "\"\\\"\\\\\\n\\u001f\"" },
	{ "string utf8", B(0x0c, 0x02, 0xc3, 0xa9), .want = "\"\xc3\xa9\"" },
	{ "string invalid utf8", B(0x0c, 0x01, 0xff),
	  .want = "\"\xef\xbf\xbd\"" },
	{ "string past end", B(0x0c, 0x05, 'h', 'i'), .errsub = "string" },
	/* a length of 6 groups is never valid */
	{ "string length 6 bytes", B(0x0c, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
	  .errsub = "5 bytes" },
	/* 5 groups: 0x7f << 28 overflows 32 bits */
	{ "string length > 4G", B(0x0c, 0xff, 0xff, 0xff, 0xff, 0x7f),
	  .errsub = "too large" },

	/* [] and {}: count 0, size 4 (8 when large) */
	{ "empty array", B(0x02, 0x00, 0x00, 0x04, 0x00), .want = "[]" },
	{ "empty object", B(0x00, 0x00, 0x00, 0x04, 0x00), .want = "{}" },
	{ "empty large array", B(0x03, 0, 0, 0, 0, 8, 0, 0, 0), .want = "[]" },
	{ "empty large object", B(0x01, 0, 0, 0, 0, 8, 0, 0, 0), .want = "{}" },
	/*
	 * [1,"ab",true,2.5]: count 4, header 4 + 4 * 3 = 16;
	 * 05 0100 (inline 1), 0c 1000 ("ab" at 16: 02 61 62),
	 * 04 0100 (inline true), 0b 1300 (double at 19: 2.5 =
	 * 0x4004000000000000), size 27 = 0x1b.
	 */
	{ "small array", B(0x02, 0x04, 0x00, 0x1b, 0x00,
			   0x05, 0x01, 0x00, 0x0c, 0x10, 0x00,
			   0x04, 0x01, 0x00, 0x0b, 0x13, 0x00,
			   0x02, 'a', 'b',
			   0, 0, 0, 0, 0, 0, 0x04, 0x40),
	  .want = "[1,\"ab\",true,2.5]" },
	/*
	 * {"a":1,"bc":[]}: count 2, header 4 + 2 * 4 + 2 * 3 = 18;
	 * keys 1200 0100 ("a" at 18), 1300 0200 ("bc" at 19);
	 * values 05 0100 (inline 1), 02 1500 ([] at 21: 0000 0400);
	 * size 25 = 0x19.
	 */
	{ "small object", B(0x00, 0x02, 0x00, 0x19, 0x00,
			    0x12, 0x00, 0x01, 0x00, 0x13, 0x00, 0x02, 0x00,
			    0x05, 0x01, 0x00, 0x02, 0x15, 0x00,
			    'a', 'b', 'c',
			    0x00, 0x00, 0x04, 0x00),
	  .want = "{\"a\":1,\"bc\":[]}" },
	/*
	 * Large {"k":-2,"s":"x","u":4000000000}: count 3, header
	 * 8 + 3 * 6 + 3 * 5 = 41; keys at 41, 42, 43; values: 07 fe ff ff ff
	 * (inline int32 -2), 0c 2c000000 (string at 44: 01 78),
	 * 08 00286bee (inline uint32 4000000000 = 0xee6b2800); size 46.
	 */
	{ "large object", B(0x01, 0x03, 0, 0, 0, 0x2e, 0, 0, 0,
			    0x29, 0, 0, 0, 0x01, 0x00,
			    0x2a, 0, 0, 0, 0x01, 0x00,
			    0x2b, 0, 0, 0, 0x01, 0x00,
			    0x07, 0xfe, 0xff, 0xff, 0xff,
			    0x0c, 0x2c, 0, 0, 0,
			    0x08, 0x00, 0x28, 0x6b, 0xee,
			    'k', 's', 'u', 0x01, 'x'),
	  .want = "{\"k\":-2,\"s\":\"x\",\"u\":4000000000}" },
	/* large [int64 max]: header 8 + 5 = 13, value at 13, size 21 */
	{ "large array int64", B(0x03, 0x01, 0, 0, 0, 0x15, 0, 0, 0,
				 0x09, 0x0d, 0, 0, 0,
				 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
	  .want = "[9223372036854775807]" },
	/* large [uint32 max] inline, size 13 */
	{ "large array inline uint32", B(0x03, 0x01, 0, 0, 0, 0x0d, 0, 0, 0,
					 0x08, 0xff, 0xff, 0xff, 0xff),
	  .want = "[4294967295]" },
	/* small [70000]: int32 is not inline in small containers:
	   07 0700, value at 7 = 70 11 01 00, size 11 */
	{ "small array int32", B(0x02, 0x01, 0x00, 0x0b, 0x00,
				 0x07, 0x07, 0x00, 0x70, 0x11, 0x01, 0x00),
	  .want = "[70000]" },
	/* small [-1 (int16), 65535 (uint16), null, false], all inline */
	{ "small array inline", B(0x02, 0x04, 0x00, 0x10, 0x00,
				  0x05, 0xff, 0xff, 0x06, 0xff, 0xff,
				  0x04, 0x00, 0x00, 0x04, 0x02, 0x00),
	  .want = "[-1,65535,null,false]" },
	/* small [uint64 max, int64 -1, 0.5]: 3 * 3 + 4 = 13 header,
	   values at 13, 21, 29 (0.5 = 0x3fe0000000000000), size 37 */
	{ "small array 8-byte values", B(0x02, 0x03, 0x00, 0x25, 0x00,
					 0x0a, 0x0d, 0x00, 0x09, 0x15, 0x00,
					 0x0b, 0x1d, 0x00,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0, 0, 0, 0, 0, 0, 0xe0, 0x3f),
	  .want = "[18446744073709551615,-1,0.5]" },
	/*
	 * {"a":{"b":[null,false]}}.  Inner array: 0200 0a00 04 0000 04 0200
	 * (10 bytes).  Middle object: header 4 + 4 + 3 = 11, key "b" at 11,
	 * array at 12, size 22.  Outer: same shape, object at 12, size 34.
	 */
	{ "nested", B(0x00,
		      0x01, 0x00, 0x22, 0x00, 0x0b, 0x00, 0x01, 0x00,
		      0x00, 0x0c, 0x00, 'a',
		      0x01, 0x00, 0x16, 0x00, 0x0b, 0x00, 0x01, 0x00,
		      0x02, 0x0c, 0x00, 'b',
		      0x02, 0x00, 0x0a, 0x00, 0x04, 0x00, 0x00, 0x04, 0x02, 0x00),
	  .want = "{\"a\":{\"b\":[null,false]}}" },
	/* large array holding a small object {"q":"w"}: header 8 + 5 = 13,
	   object at 13: 0100 0e00, key 0b00 0100, value 0c 0c00, "q",
	   01 "w" (14 bytes), size 27 */
	{ "small inside large", B(0x03, 0x01, 0, 0, 0, 0x1b, 0, 0, 0,
				  0x00, 0x0d, 0, 0, 0,
				  0x01, 0x00, 0x0e, 0x00, 0x0b, 0x00, 0x01, 0x00,
				  0x0c, 0x0c, 0x00, 'q', 0x01, 'w'),
	  .want = "[{\"q\":\"w\"}]" },
	/* ["x","x"]: two entries may share one value */
	{ "shared value", B(0x02, 0x02, 0x00, 0x0c, 0x00,
			    0x0c, 0x0a, 0x00, 0x0c, 0x0a, 0x00, 0x01, 'x'),
	  .want = "[\"x\",\"x\"]" },
	/* key with a quote: {"\"":true} */
	{ "escaped key", B(0x00, 0x01, 0x00, 0x0c, 0x00, 0x0b, 0x00, 0x01, 0x00,
			   0x04, 0x01, 0x00, '"'),
	  .want = "{\"\\\"\":true}" },

	/* opaque DECIMAL(5,2) 123.45: data = 05 02 + 80 7b 2d */
	{ "opaque decimal", B(0x0f, 0xf6, 0x05, 0x05, 0x02, 0x80, 0x7b, 0x2d),
	  .want = "123.45" },
	/* DECIMAL(2,2) -0.50: 50 = 32 -> b2 -> complemented 4d */
	{ "opaque decimal negative", B(0x0f, 0xf6, 0x03, 0x02, 0x02, 0x4d),
	  .want = "-0.50" },
	/* [1.5]: DECIMAL(2,1) = 81 05, value f6 04 02 01 81 05 at 7 */
	{ "decimal in array", B(0x02, 0x01, 0x00, 0x0d, 0x00, 0x0f, 0x07, 0x00,
				0xf6, 0x04, 0x02, 0x01, 0x81, 0x05),
	  .want = "[1.5]" },
	{ "opaque decimal short", B(0x0f, 0xf6, 0x03, 0x05, 0x02, 0x80),
	  .errsub = "DECIMAL(5,2)" },
	/*
	 * Packed temporals, 8 bytes LE: ((ymd << 17 | hms) << 24) + usec,
	 * ymd = (y * 13 + m) << 5 | d, hms = h << 12 | m << 6 | s; TIME
	 * packs only hms; negative values are negated.
	 * 2015-01-15 23:24:25 = 0x19951f7619000000.
	 */
	{ "opaque datetime", B(0x0f, 0x0c, 0x08,
			       0x00, 0x00, 0x00, 0x19, 0x76, 0x1f, 0x95, 0x19),
	  .want = "\"2015-01-15 23:24:25.000000\"" },
	{ "opaque datetime usec", B(0x0f, 0x0c, 0x08,
				    0x40, 0xe2, 0x01, 0x19, 0x76, 0x1f, 0x95, 0x19),
	  .want = "\"2015-01-15 23:24:25.123456\"" },
	{ "opaque timestamp", B(0x0f, 0x07, 0x08,
				0x00, 0x00, 0x00, 0x19, 0x76, 0x1f, 0x95, 0x19),
	  .want = "\"2015-01-15 23:24:25.000000\"" },
	/* 2015-01-15 = 0x19951e0000000000 */
	{ "opaque date", B(0x0f, 0x0a, 0x08,
			   0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x95, 0x19),
	  .want = "\"2015-01-15\"" },
	/* 23:24:25 = 0x17619 << 24 */
	{ "opaque time", B(0x0f, 0x0b, 0x08,
			   0x00, 0x00, 0x00, 0x19, 0x76, 0x01, 0x00, 0x00),
	  .want = "\"23:24:25.000000\"" },
	/* -01:00:00.5 = -((1 << 12 << 24) + 500000) */
	{ "opaque negative time", B(0x0f, 0x0b, 0x08,
				    0xe0, 0x5e, 0xf8, 0xff, 0xef, 0xff, 0xff, 0xff),
	  .want = "\"-01:00:00.500000\"" },
	{ "opaque time wrong size", B(0x0f, 0x0b, 0x07, 0, 0, 0, 0, 0, 0, 0),
	  .errsub = "not 8" },
	/* other opaque types (here BLOB 0xfc): base64 of the data */
	{ "opaque blob", B(0x0f, 0xfc, 0x03, 0x01, 0x02, 0x03),
	  .want = "\"AQID\"" },
	{ "opaque empty", B(0x0f, 0xfd, 0x00), .want = "\"\"" },
	{ "opaque past end", B(0x0f, 0xfc, 0x04, 0x01), .errsub = "opaque" },

	/* ---- malformed ---- */
	{ "unknown type", B(0x0d, 0x00), .errsub = "unknown value type 0x0d" },
	{ "unknown type in array", B(0x02, 0x01, 0x00, 0x08, 0x00,
				     0x0e, 0x07, 0x00, 0x00),
	  .errsub = "unknown" },
	/* size 7 but the value offset is 9 */
	{ "offset past size", B(0x02, 0x01, 0x00, 0x07, 0x00,
				0x0c, 0x09, 0x00, 0x00, 0x01, 'x'),
	  .errsub = "offset 9" },
	{ "offset at size", B(0x02, 0x01, 0x00, 0x07, 0x00,
			      0x0c, 0x07, 0x00, 0x01, 'x'),
	  .errsub = "offset 7" },
	/* size 9: the string "abcde" at 7 overruns the array, though the
	   document has the bytes */
	{ "string past container", B(0x02, 0x01, 0x00, 0x09, 0x00,
				     0x0c, 0x07, 0x00, 0x05, 'a',
				     'b', 'c', 'd', 'e'),
	  .errsub = "string of 5 bytes" },
	/* a nested array claiming more bytes than its parent has */
	{ "child bigger than parent", B(0x02, 0x01, 0x00, 0x0b, 0x00,
					0x02, 0x07, 0x00,
					0x00, 0x00, 0x20, 0x00, 0, 0, 0, 0),
	  .errsub = "array of 32 bytes" },
	/* key at 11 + 2 bytes in a 12-byte object */
	{ "key past size", B(0x00, 0x01, 0x00, 0x0c, 0x00,
			     0x0b, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 'a', 0),
	  .errsub = "key 0" },
	{ "count too large", B(0x02, 0xff, 0x00, 0x04, 0x00),
	  .errsub = "elements" },
	{ "size beyond document", B(0x02, 0x00, 0x00, 0xff, 0x00),
	  .errsub = "array of 255 bytes" },
	{ "size below header", B(0x03, 0x00, 0x00, 0x00, 0x00, 0x02, 0, 0, 0),
	  .errsub = "elements" },
	{ "bad inline literal", B(0x02, 0x01, 0x00, 0x07, 0x00,
				  0x04, 0x05, 0x00),
	  .errsub = "literal" },
	{ "double past container", B(0x02, 0x01, 0x00, 0x0b, 0x00,
				     0x0b, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0),
	  .errsub = "double needs 8 bytes, 4 left" },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* Convert from a heap copy of exactly n bytes, so overreads are caught. */
static bool run(const uint8_t *in, size_t n, struct rc_buf *out, char *err,
		size_t errlen)
{
	uint8_t *copy = malloc(n ? n : 1);
	bool ok;

	assert_non_null(copy);
	if (n)
		memcpy(copy, in, n);
	ok = jsonb_to_json(copy, n, out, err, errlen);
	free(copy);
	return ok;
}

static void test_table(void **state)
{
	struct rc_buf out = { 0 };
	unsigned failures = 0;

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const struct jcase *c = &cases[i];
		char err[160] = "";
		bool ok;

		buf_reset(&out);
		buf_puts(&out, "<");
		ok = run(c->in, c->n, &out, err, sizeof(err));
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
	buf_free(&out);
	assert_int_equal(failures, 0);
}

/* Every strict prefix of a good document fails; the empty one is null. */
static void test_truncated(void **state)
{
	struct rc_buf out = { 0 };
	unsigned failures = 0;

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const struct jcase *c = &cases[i];

		if (c->want == NULL)
			continue;
		for (size_t k = 0; k < c->n; k++) {
			char err[160] = "";
			bool ok;

			buf_reset(&out);
			buf_puts(&out, "<");
			ok = run(c->in, k, &out, err, sizeof(err));
			if (k == 0 ? !ok || strcmp(out.data, "<null") != 0 :
				     ok || out.len != 1 || err[0] == '\0') {
				print_error("FAIL %s truncated to %zu: ok=%d out=[%s]\n",
					    c->name, k, ok, out.data);
				failures++;
			}
		}
	}
	buf_free(&out);
	assert_int_equal(failures, 0);
}

/* depth nested single-element small arrays around [] */
static void nested(struct bytes *doc, unsigned depth)
{
	/* innermost: [] = 00 00 04 00; each wrap: 01 00 size 02 07 00 */
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

static void test_depth(void **state)
{
	struct bytes doc = { 0 };
	struct rc_buf out = { 0 };
	char err[120] = "";

	(void)state;
	nested(&doc, JSONB_MAX_DEPTH);
	assert_true(jsonb_to_json(doc.p, doc.n, &out, err, sizeof(err)));
	assert_int_equal(out.len, 2 * JSONB_MAX_DEPTH);
	for (unsigned i = 0; i < JSONB_MAX_DEPTH; i++) {
		assert_int_equal(out.data[i], '[');
		assert_int_equal(out.data[2 * JSONB_MAX_DEPTH - 1 - i], ']');
	}
	buf_reset(&out);
	nested(&doc, JSONB_MAX_DEPTH + 1);
	assert_false(jsonb_to_json(doc.p, doc.n, &out, err, sizeof(err)));
	assert_non_null(strstr(err, "nesting"));
	assert_int_equal(out.len, 0);
	free(doc.p);
	buf_free(&out);
}

/*
 * Each level an array of two entries sharing one child: 2^60 values from
 * about 600 bytes.  Must fail fast instead of exhausting memory.
 */
static void test_shared_blowup(void **state)
{
	struct bytes doc = { 0 }, in = { 0 };
	struct rc_buf out = { 0 };
	char err[120] = "";

	(void)state;
	put_le(&in, 0, 2);
	put_le(&in, 4, 2);
	for (unsigned d = 1; d < 60; d++) {
		struct bytes w = { 0 };

		/* count 2, size 10 + child, entries 02 0a00 02 0a00 */
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
	assert_false(jsonb_to_json(doc.p, doc.n, &out, err, sizeof(err)));
	assert_non_null(strstr(err, "shared"));
	assert_int_equal(out.len, 0);
	free(in.p);
	free(doc.p);
	buf_free(&out);
}

/*
 * Generated containers, small or large: an array of count elements,
 * alternating uint16 i (inline) and the string "s<i>" (out of line), or an
 * object with keys "k<i>" and int32 values -i (inline only when large).
 */
static void gen(struct bytes *doc, bool obj, bool large, unsigned count,
		struct rc_buf *want)
{
	unsigned w = large ? 4 : 2;
	size_t keys = 2 * w, vals = keys + (obj ? count * (w + 2) : 0);
	size_t data = vals + count * (1 + w);
	struct bytes c = { 0 };
	char tmp[32];

	buf_reset(want);
	c.p = calloc(1, data);
	assert_non_null(c.p);
	c.n = c.cap = data;
	set_le(&c, 0, count, w);	/* size is set at the end */
	buf_putc(want, obj ? '{' : '[');
	for (unsigned i = 0; i < count; i++) {
		size_t e = vals + i * (1 + w);

		if (i)
			buf_putc(want, ',');
		if (obj) {
			int k = snprintf(tmp, sizeof(tmp), "k%u", i);

			set_le(&c, keys + i * (w + 2), c.n, w);
			set_le(&c, keys + i * (w + 2) + w, (unsigned)k, 2);
			put(&c, tmp, (size_t)k);
			buf_printf(want, "\"%s\":%d", tmp, -(int)i);
			c.p[e] = 0x07;
			if (large) {
				set_le(&c, e + 1, (uint32_t)-(int32_t)i, 4);
			} else {
				set_le(&c, e + 1, c.n, w);
				put_le(&c, (uint32_t)-(int32_t)i, 4);
			}
		} else if (i % 2 == 0) {
			c.p[e] = 0x06;
			set_le(&c, e + 1, i, 2);
			buf_printf(want, "%u", i);
		} else {
			int k = snprintf(tmp, sizeof(tmp), "s%u", i);

			c.p[e] = 0x0c;
			set_le(&c, e + 1, c.n, w);
			put_le(&c, (unsigned)k, 1);
			put(&c, tmp, (size_t)k);
			buf_printf(want, "\"%s\"", tmp);
		}
	}
	buf_putc(want, obj ? '}' : ']');
	set_le(&c, w, c.n, w);
	doc->n = 0;
	put_le(doc, (obj ? 0x00 : 0x02) | (large ? 1 : 0), 1);
	put(doc, c.p, c.n);
	free(c.p);
}

static void test_generated(void **state)
{
	struct bytes doc = { 0 };
	struct rc_buf out = { 0 }, want = { 0 };
	char err[120] = "";

	(void)state;
	for (int obj = 0; obj < 2; obj++) {
		for (int large = 0; large < 2; large++) {
			unsigned count = large ? 3000 : 500;

			gen(&doc, obj, large, count, &want);
			buf_reset(&out);
			if (!jsonb_to_json(doc.p, doc.n, &out, err, sizeof(err)))
				fail_msg("obj=%d large=%d: %s", obj, large, err);
			assert_string_equal(out.data, want.data);
			/* one byte short fails */
			buf_reset(&out);
			assert_false(jsonb_to_json(doc.p, doc.n - 1, &out, err,
						   sizeof(err)));
		}
	}
	free(doc.p);
	buf_free(&out);
	buf_free(&want);
}

/* A 70000-byte string needs a large array and a 3-byte length. */
static void test_long_string(void **state)
{
	size_t len = 70000;
	struct bytes doc = { 0 };
	struct rc_buf out = { 0 };
	char err[120] = "";

	(void)state;
	/* 03 | count 1 | size | 0c off 13 | 70000 = f0 a2 04 | 'x' * len */
	put_le(&doc, 0x03, 1);
	put_le(&doc, 1, 4);
	put_le(&doc, 8 + 5 + 3 + len, 4);
	put_le(&doc, 0x0c, 1);
	put_le(&doc, 13, 4);
	put_le(&doc, 0xf0, 1);
	put_le(&doc, 0xa2, 1);
	put_le(&doc, 0x04, 1);
	for (size_t i = 0; i < len; i++)
		put(&doc, "x", 1);
	assert_true(jsonb_to_json(doc.p, doc.n, &out, err, sizeof(err)));
	assert_int_equal(out.len, len + 4);
	assert_memory_equal(out.data, "[\"xx", 4);
	assert_memory_equal(out.data + len + 1, "x\"]", 3);
	/* 200 = c8 01 as a top-level string */
	doc.n = 0;
	put_le(&doc, 0x0c, 1);
	put_le(&doc, 0xc8, 1);
	put_le(&doc, 0x01, 1);
	for (size_t i = 0; i < 200; i++)
		put(&doc, "y", 1);
	buf_reset(&out);
	assert_true(jsonb_to_json(doc.p, doc.n, &out, err, sizeof(err)));
	assert_int_equal(out.len, 202);
	free(doc.p);
	buf_free(&out);
}

/* Random mutations of the table's documents: no crash, no overread. */
static void test_garbage(void **state)
{
	struct rc_buf out = { 0 };
	uint32_t seed = 777;
	uint8_t buf[128];

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		const struct jcase *c = &cases[i];

		if (c->n > sizeof(buf))
			continue;
		for (int it = 0; it < 500; it++) {
			char err[120];
			size_t n = c->n;

			memcpy(buf, c->in, n);
			for (int m = 0; m < 1 + it % 3; m++) {
				seed = seed * 1103515245u + 12345u;
				buf[(seed >> 8) % n] = (uint8_t)(seed >> 20);
			}
			if (it % 4 == 0)
				n = (seed >> 4) % (n + 1);
			buf_reset(&out);
			if (!run(buf, n, &out, err, sizeof(err)))
				assert_int_equal(out.len, 0);
		}
	}
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_shared_blowup),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_long_string),
		cmocka_unit_test(test_garbage),
	};

	printf("jsonb cases: %zu\n", N_CASES);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
