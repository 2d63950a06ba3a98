/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: MySQL GTID sets.  The expected encodings are written out by
 * hand from the layouts in MySQL's source (mysql/mysql-server):
 *   sql/rpl_gtid_set.cc           Gtid_set::encode, encode_nsids_format,
 *                                 Gtid_set::add_gtid_encoding
 *   libs/mysql/gtid/tsid.cpp      Tsid::encode_tsid (uuid, then the tag)
 *   libs/mysql/gtid/tag.cpp       Tag::encode_tag (nothing when untagged)
 *   libs/mysql/gtid/gtid_format.h Gtid_format: untagged = 0, tagged = 1
 *   libs/mysql/serialization/primitive_type_codec.h and
 *   variable_length_integers.h    a string is its length as a
 *                                 variable-length integer (one byte,
 *                                 length << 1, below 64), then its bytes
 *   sql/rpl_source.cc             com_binlog_dump_gtid (the request)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "source/mysql/gtidset.h"

#define U "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define U_UP "3E11FA47-71CA-11E1-9E33-C80AA9429562"
#define U0 "00000000-0000-0000-0000-000000000001"
#define UF "ffffffff-0000-0000-0000-000000000000"

/* The 16 bytes of U, in text order (Uuid::copy_to). */
#define U_BYTES 0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, \
	0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62
#define U0_BYTES 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
/* int8store: 8 bytes little-endian (values below 256 here). */
#define LE8(v) (v), 0, 0, 0, 0, 0, 0, 0

static void expect_text(const struct gtid_set *s, const char *want)
{
	struct rc_buf b = { 0 };

	gtid_set_format(s, &b);
	assert_string_equal(b.data ? b.data : "", want);
	buf_free(&b);
}

/* ---- text ---------------------------------------------------------- */

static void test_parse_format(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ " \n, ,,\t", "" },
		{ U_UP ":1-5:11-18", U ":1-5:11-18" },
		{ U ":1-3:4-6", U ":1-6" },			/* adjacent merge */
		{ U ":4-6:1-3", U ":1-6" },
		{ U ":1-5:3-8", U ":1-8" },			/* overlap */
		{ U ":2-3:1-9", U ":1-9" },			/* swallow */
		{ U ":1:3:5:7:9:2-8", U ":1-9" },		/* bridge many */
		{ U ":1-3:5-7:4", U ":1-7" },			/* bridge two */
		{ U ":1-2:4", U ":1-2:4" },			/* gap stays */
		{ U ":5:5", U ":5" },
		{ U ":7-7", U ":7" },
		{ U ":1-3,\n" U ":4", U ":1-4" },		/* same uuid twice */
		{ U ":3, " U0 ":2", U0 ":2," U ":3" },		/* sorted by uuid */
		{ UF ":1," U ":1", U ":1," UF ":1" },
		{ U ":1-5,\n" U0 ":1", U0 ":1," U ":1-5" },	/* MySQL's ",\n" */
		{ "  " U " : 1 - 5 : 7 ,", U ":1-5:7" },	/* white space */
		{ U ":1-5:TagB:1:tagA:2-3", U ":1-5:taga:2-3:tagb:1" },
		{ U ":tag:1," U ":2", U ":2:tag:1" },		/* untagged first */
		{ U ":_x9:1", U ":_x9:1" },
		{ U ":a2345678901234567890123456789012:1",
		  U ":a2345678901234567890123456789012:1" },	/* 32: longest */
		{ U ":tag", "" },				/* no interval */
		{ U, "" },
		{ U ":9223372036854775806", U ":9223372036854775806" },
		{ U ":1-9223372036854775806", U ":1-9223372036854775806" },
	};
	struct gtid_set *s = gtid_set_new();
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!gtid_set_parse(s, cases[i].in, err, sizeof(err)))
			fail_msg("'%s': %s", cases[i].in, err);
		expect_text(s, cases[i].want);
		/* the canonical text parses to itself */
		assert_true(gtid_set_parse(s, cases[i].want, err, sizeof(err)));
		expect_text(s, cases[i].want);
	}
	gtid_set_free(s);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *in, *err;
	} cases[] = {
		{ "3e11fa47-71ca-11e1-9e33-c80aa942956:1",
		  "'3e11fa47-71ca-11e1-9e33-c80aa942956' is not a UUID" },
		{ "3e11fa4771ca11e19e33c80aa9429562:1",
		  "'3e11fa4771ca11e19e33c80aa9429562' is not a UUID" },
		{ "zz:1", "'zz' is not a UUID" },
		{ U "x:1", "'" U "x' is not a UUID" },
		{ U " x", "'" U " x' is not a UUID" },
		{ U ":1," U "g", "'" U "g' is not a UUID" },
		{ U ":0", "'0': GTID numbers run from 1 to 9223372036854775806" },
		{ U ":9223372036854775807",
		  "'9223372036854775807': GTID numbers run from 1 to 9223372036854775806" },
		{ U ":1-99999999999999999999999",
		  "'1-99999999999999999999999': GTID numbers run from 1 to "
		  "9223372036854775806" },
		{ U ":5-3", "'5-3': interval ends before it starts" },
		{ U ":1-", "'1-' is not a GTID interval (N or N-M)" },
		{ U ":1x", "'1x' is not a GTID interval (N or N-M)" },
		{ U ":1-2-3", "'1-2-3' is not a GTID interval (N or N-M)" },
		{ U ":1 " U0 ":1", "'1 " U0 "' is not a GTID interval (N or N-M)" },
		{ U ":", "'' is not a GTID interval or tag" },
		{ U "::1", "'' is not a GTID interval or tag" },
		{ U ":-1", "'-1' is not a GTID interval or tag" },
		{ U ":a23456789012345678901234567890123:1",
		  "'a23456789012345678901234567890123' is not a tag (up to 32 letters, "
		  "digits and '_', not starting with a digit)" },
		{ U ":ta-g:1",
		  "'ta-g' is not a tag (up to 32 letters, digits and '_', not starting "
		  "with a digit)" },
	};
	struct gtid_set *s = gtid_set_new();
	char err[256];

	(void)state;
	assert_true(gtid_set_parse(s, U ":42", err, sizeof(err)));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (gtid_set_parse(s, cases[i].in, err, sizeof(err)))
			fail_msg("'%s' parsed", cases[i].in);
		assert_string_equal(err, cases[i].err);
		expect_text(s, U ":42");	/* unchanged by a failed parse */
	}
	gtid_set_free(s);
}

static void test_add(void **state)
{
	static const struct {
		const char *tag;	/* NULL: add_text of uuid_or_text */
		const char *uuid_or_text;
		uint64_t gno;
		const char *want;
	} steps[] = {
		{ "", U, 5, U ":5" },
		{ "", U, 7, U ":5:7" },
		{ "", U, 6, U ":5-7" },			/* bridges 5 and 7 */
		{ "", U, 4, U ":4-7" },			/* extends down */
		{ "", U, 8, U ":4-8" },			/* extends up */
		{ "", U, 6, U ":4-8" },			/* already in */
		{ "", U, 1, U ":1:4-8" },
		{ "", U_UP, 2, U ":1-2:4-8" },
		{ "Foo", U, 3, U ":1-2:4-8:foo:3" },
		{ NULL, U ":FOO:4", 0, U ":1-2:4-8:foo:3-4" },
		{ NULL, U ":3", 0, U ":1-8:foo:3-4" },	/* bridges 1-2 and 4-8 */
		{ NULL, U0 ":9223372036854775806", 0,
		  U0 ":9223372036854775806," U ":1-8:foo:3-4" },
		{ "bar", U, 1, U0 ":9223372036854775806," U ":1-8:bar:1:foo:3-4" },
	};
	static const struct {
		const char *uuid, *tag;
		uint64_t gno;
	} bad_add[] = {
		{ U, NULL, 0 },
		{ U, NULL, 9223372036854775807ULL },
		{ U, NULL, UINT64_MAX },
		{ "3e11fa47-71ca-11e1-9e33-c80aa942956", NULL, 1 },
		{ U "0", NULL, 1 },
		{ "3e11fa47+71ca-11e1-9e33-c80aa9429562", NULL, 1 },
		{ NULL, NULL, 1 },
		{ U, "1abc", 1 },
		{ U, "a-b", 1 },
		{ U, "a23456789012345678901234567890123", 1 },
	};
	static const char *const bad_text[] = {
		"", U, U ":", U ":0", U ":1-2", U ":tag", U ":tag:", U "::1", U ":1 ",
		" " U ":1", U ":tag:0", U ":1tag:1", U ":ta g:1", U ":tag:1:2",
		U ":9223372036854775807", "3e11fa47-71ca-11e1-9e33-c80aa942956:1",
	};
	struct gtid_set *s = gtid_set_new();

	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].tag)
			assert_true(gtid_set_add(s, steps[i].uuid_or_text, steps[i].tag,
						 steps[i].gno));
		else
			assert_true(gtid_set_add_text(s, steps[i].uuid_or_text));
		expect_text(s, steps[i].want);
	}
	for (size_t i = 0; i < sizeof(bad_add) / sizeof(bad_add[0]); i++)
		assert_false(gtid_set_add(s, bad_add[i].uuid, bad_add[i].tag, bad_add[i].gno));
	for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++)
		if (gtid_set_add_text(s, bad_text[i]))
			fail_msg("'%s' added", bad_text[i]);
	assert_false(gtid_set_add_text(s, NULL));
	expect_text(s, steps[sizeof(steps) / sizeof(steps[0]) - 1].want);

	gtid_set_clear(s);
	assert_true(gtid_set_is_empty(s));
	expect_text(s, "");
	assert_true(gtid_set_add(s, U, NULL, 9));
	expect_text(s, U ":9");
	gtid_set_free(s);
	gtid_set_free(NULL);
}

static void test_contains(void **state)
{
	static const struct {
		const char *uuid, *tag;
		uint64_t gno;
		bool want;
	} cases[] = {
		{ U, NULL, 1, true },   { U, NULL, 5, true },  { U, NULL, 6, false },
		{ U, NULL, 10, false }, { U, NULL, 11, true }, { U, NULL, 14, true },
		{ U, NULL, 18, true },  { U, NULL, 19, false }, { U, NULL, 0, false },
		{ U, "", 3, true },     { U_UP, NULL, 3, true },
		{ U, "tag", 3, true },  { U, "TAG", 3, true }, { U, "tag", 4, false },
		{ U, "other", 3, false }, { U, "1bad", 3, false },
		{ U0, NULL, 1, false }, { "nonsense", NULL, 1, false },
		{ U, NULL, UINT64_MAX, false },
	};
	struct gtid_set *s = gtid_set_new();
	char err[256];

	(void)state;
	assert_false(gtid_set_contains(s, U, NULL, 1));
	assert_true(gtid_set_parse(s, U ":11-18:1-5:tag:3", err, sizeof(err)));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (gtid_set_contains(s, cases[i].uuid, cases[i].tag, cases[i].gno) !=
		    cases[i].want)
			fail_msg("case %zu", i);
	gtid_set_free(s);
}

/* ---- binary -------------------------------------------------------- */

/* Gtid_set::encode of the empty set: n_sids = 0, untagged. */
static const uint8_t enc_empty[] = { LE8(0) };

/* "U:1-5:11-18", untagged (no tag anywhere): n_sids = 1; uuid;
 * n_intervals = 2; [1, 6); [11, 19) -- intervals stored end-exclusive. */
static const uint8_t enc_one[] = {
	LE8(1),
	U_BYTES,
	LE8(2),
	LE8(1), LE8(6),
	LE8(11), LE8(19),
};

/* "U:3, U0:1-2": SIDs in uuid byte order (Tsid_map::get_sorted_sidno). */
static const uint8_t enc_two[] = {
	LE8(2),
	U0_BYTES, LE8(1), LE8(1), LE8(3),
	U_BYTES, LE8(1), LE8(3), LE8(4),
};

/* "U:1-5:abc:1-3": a tag is present, so Gtid_format::tagged for all SIDs.
 * encode_nsids_format: 1 << 56 | n_sids << 8 | 1 = 0x0100000000000201.
 * SIDs sorted by (uuid, tag), the empty tag first; Tag::encode_tag writes
 * the length as a one-byte varlen (0 -> 0x00, 3 -> 0x06) then the text. */
static const uint8_t enc_tagged[] = {
	0x01, 0x02, 0, 0, 0, 0, 0, 0x01,
	U_BYTES, 0x00, LE8(1), LE8(1), LE8(6),
	U_BYTES, 0x06, 'a', 'b', 'c', LE8(1), LE8(1), LE8(4),
};

/* "U:Z:7": only a tagged SID; the tag is stored lowercase. */
static const uint8_t enc_tag_only[] = {
	0x01, 0x01, 0, 0, 0, 0, 0, 0x01,
	U_BYTES, 0x02, 'z', LE8(1), LE8(7), LE8(8),
};

static const struct {
	const char *text, *canon;
	const uint8_t *enc;
	size_t n;
} vectors[] = {
	{ "", "", enc_empty, sizeof(enc_empty) },
	{ U_UP ":1-5:11-18", U ":1-5:11-18", enc_one, sizeof(enc_one) },
	{ U ":3, " U0 ":1-2", U0 ":1-2," U ":3", enc_two, sizeof(enc_two) },
	{ U ":1-5:ABC:1-3", U ":1-5:abc:1-3", enc_tagged, sizeof(enc_tagged) },
	{ U ":Z:7", U ":z:7", enc_tag_only, sizeof(enc_tag_only) },
};

static void test_encode(void **state)
{
	struct gtid_set *s = gtid_set_new();
	struct rc_buf b = { 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		assert_true(gtid_set_parse(s, vectors[i].text, err, sizeof(err)));
		assert_int_equal(gtid_set_encoded_size(s), vectors[i].n);
		buf_reset(&b);
		buf_puts(&b, "x");	/* appends after what is there */
		gtid_set_encode(s, &b);
		assert_int_equal(b.len, 1 + vectors[i].n);
		assert_memory_equal(b.data + 1, vectors[i].enc, vectors[i].n);
	}
	buf_free(&b);
	gtid_set_free(s);
}

static void test_decode(void **state)
{
	struct gtid_set *s = gtid_set_new();
	struct rc_buf b = { 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		if (!gtid_set_decode(s, vectors[i].enc, vectors[i].n, err, sizeof(err)))
			fail_msg("vector %zu: %s", i, err);
		expect_text(s, vectors[i].canon);
		buf_reset(&b);
		gtid_set_encode(s, &b);
		assert_int_equal(b.len, vectors[i].n);
		assert_memory_equal(b.data, vectors[i].enc, vectors[i].n);
	}
	buf_free(&b);
	gtid_set_free(s);
}

static void test_roundtrip(void **state)
{
	static const char *const texts[] = {
		"", U ":1", U ":1-9223372036854775806",
		U ":1-5:11-18:20:22-30:tag:1-3:t2:9," U0 ":4-5:x:1," UF ":7",
		U0 ":_:1:__:2:___:3",
	};
	struct gtid_set *s = gtid_set_new(), *d = gtid_set_new();
	struct rc_buf enc = { 0 }, t1 = { 0 }, t2 = { 0 }, enc2 = { 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_true(gtid_set_parse(s, texts[i], err, sizeof(err)));
		buf_reset(&enc);
		buf_reset(&enc2);
		buf_reset(&t1);
		buf_reset(&t2);
		gtid_set_encode(s, &enc);
		assert_int_equal(enc.len, gtid_set_encoded_size(s));
		if (!gtid_set_decode(d, (const uint8_t *)enc.data, enc.len, err, sizeof(err)))
			fail_msg("'%s': %s", texts[i], err);
		gtid_set_format(s, &t1);
		gtid_set_format(d, &t2);
		assert_string_equal(t1.data ? t1.data : "", t2.data ? t2.data : "");
		gtid_set_encode(d, &enc2);
		assert_int_equal(enc.len, enc2.len);
		assert_memory_equal(enc.data, enc2.data, enc.len);
	}
	buf_free(&enc);
	buf_free(&enc2);
	buf_free(&t1);
	buf_free(&t2);
	gtid_set_free(s);
	gtid_set_free(d);
}

static void test_truncated(void **state)
{
	struct gtid_set *s = gtid_set_new();
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		for (size_t k = 0; k < vectors[i].n; k++) {
			assert_true(gtid_set_parse(s, U ":42", err, sizeof(err)));
			if (gtid_set_decode(s, vectors[i].enc, k, err, sizeof(err)))
				fail_msg("vector %zu decoded from %zu bytes", i, k);
			expect_text(s, U ":42");	/* unchanged */
		}
	}
	assert_false(gtid_set_decode(s, NULL, 0, err, sizeof(err)));
	assert_string_equal(err, "GTID set encoding truncated at byte 0 of 0");
	gtid_set_free(s);
}

static void test_decode_bad(void **state)
{
	static const uint8_t fmt2[] = { 0, 0, 0, 0, 0, 0, 0, 0x02 };
	static const uint8_t many_sids[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	static const uint8_t many_tagged[] = { 0x01, 0x02, 0, 0, 0, 0, 0, 0x01,
		U_BYTES, 0x00, LE8(0) };
	static const uint8_t many_ivs[] = { LE8(1), U_BYTES, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, LE8(1), LE8(2) };
	static const uint8_t iv_zero[] = { LE8(1), U_BYTES, LE8(1), LE8(0), LE8(2) };
	static const uint8_t iv_empty[] = { LE8(1), U_BYTES, LE8(1), LE8(5), LE8(5) };
	static const uint8_t iv_touch[] = { LE8(1), U_BYTES, LE8(2), LE8(1), LE8(3),
		LE8(3), LE8(4) };
	static const uint8_t iv_order[] = { LE8(1), U_BYTES, LE8(2), LE8(5), LE8(6),
		LE8(1), LE8(2) };
	static const uint8_t iv_neg[] = { LE8(1), U_BYTES, LE8(1), LE8(1),
		0, 0, 0, 0, 0, 0, 0, 0x80 };
	static const uint8_t trailing[] = { LE8(0), 0 };
	static const uint8_t tag_long[] = { 0x01, 0x01, 0, 0, 0, 0, 0, 0x01, U_BYTES,
		0x42, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
		'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
		'a', 'a', 'a', 'a', 'a', 'a', LE8(1), LE8(1), LE8(2) };
	static const uint8_t tag_digit[] = { 0x01, 0x01, 0, 0, 0, 0, 0, 0x01, U_BYTES,
		0x04, '1', 'a', LE8(1), LE8(1), LE8(2) };
	static const struct {
		const uint8_t *p;
		size_t n;
		const char *err;
	} cases[] = {
		{ fmt2, sizeof(fmt2), "unknown GTID set encoding format 2" },
		{ many_sids, sizeof(many_sids),
		  "GTID set encoding claims 72057594037927935 SIDs in 8 bytes" },
		{ many_tagged, sizeof(many_tagged),
		  "GTID set encoding claims 2 SIDs in 33 bytes" },
		{ many_ivs, sizeof(many_ivs),
		  "GTID set encoding claims 18446744073709551615 intervals in 16 bytes" },
		{ iv_zero, sizeof(iv_zero), "GTID set encoding has a bad interval [0, 2)" },
		{ iv_empty, sizeof(iv_empty), "GTID set encoding has a bad interval [5, 5)" },
		{ iv_touch, sizeof(iv_touch), "GTID set encoding has a bad interval [3, 4)" },
		{ iv_order, sizeof(iv_order), "GTID set encoding has a bad interval [1, 2)" },
		{ iv_neg, sizeof(iv_neg),
		  "GTID set encoding has a bad interval [1, 9223372036854775808)" },
		{ trailing, sizeof(trailing), "GTID set encoding has 1 bytes after its end" },
		{ tag_long, sizeof(tag_long), "GTID set encoding has a 33-byte tag (at most 32)" },
		{ tag_digit, sizeof(tag_digit), "GTID set encoding has an invalid tag" },
		{ enc_one, sizeof(enc_one) - 1,
		  "GTID set encoding claims 2 intervals in 31 bytes" },
		{ enc_two, 68, "GTID set encoding truncated at byte 64 of 68" },
	};
	struct gtid_set *s = gtid_set_new();
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (gtid_set_decode(s, cases[i].p, cases[i].n, err, sizeof(err)))
			fail_msg("case %zu decoded", i);
		assert_string_equal(err, cases[i].err);
		assert_true(gtid_set_is_empty(s));
	}
	gtid_set_free(s);
}

static void test_decode_lenient(void **state)
{
	/* What MySQL's decoder also takes: a SID twice (merged), a SID with
	 * no interval, an upper-case tag, a tag length in a two-byte varlen
	 * (3 -> first byte 0b001101 = 0x0d, second 0x00), an empty tag in the
	 * tagged format (untagged). */
	static const uint8_t twice[] = { LE8(3), U_BYTES, LE8(1), LE8(1), LE8(3),
		U0_BYTES, LE8(0), U_BYTES, LE8(1), LE8(3), LE8(5) };
	static const uint8_t varlen2[] = { 0x01, 0x02, 0, 0, 0, 0, 0, 0x01,
		U_BYTES, 0x0d, 0x00, 'A', 'b', 'C', LE8(1), LE8(1), LE8(2),
		U_BYTES, 0x00, LE8(1), LE8(9), LE8(10) };
	struct gtid_set *s = gtid_set_new();
	char err[256];

	(void)state;
	assert_true(gtid_set_decode(s, twice, sizeof(twice), err, sizeof(err)));
	expect_text(s, U ":1-4");
	assert_true(gtid_set_decode(s, varlen2, sizeof(varlen2), err, sizeof(err)));
	expect_text(s, U ":9:abc:1");
	gtid_set_free(s);
}

/* COM_BINLOG_DUMP_GTID body, as com_binlog_dump_gtid (sql/rpl_source.cc)
 * reads it: flags int<2>, server_id int<4>, name_size int<4>, name,
 * pos int<8>, data_size int<4>, data (Gtid_set encoding). */
static void test_dump_request(void **state)
{
	static const uint8_t want1[] = {
		0x04, 0x00,				/* flags: THROUGH_GTID */
		0x04, 0x03, 0x02, 0x01,			/* server_id 0x01020304 */
		0x0d, 0x00, 0x00, 0x00,			/* name size 13 */
		'b', 'i', 'n', 'l', 'o', 'g', '.', '0', '0', '0', '0', '0', '1',
		0x04, 0, 0, 0, 0, 0, 0, 0,		/* pos 4 */
		0x40, 0x00, 0x00, 0x00,			/* data size 64 */
		LE8(1), U_BYTES, LE8(2), LE8(1), LE8(6), LE8(11), LE8(19),
	};
	static const uint8_t want2[] = {
		0x00, 0x00,				/* flags 0 */
		0xff, 0xff, 0xff, 0xff,			/* server_id */
		0x00, 0x00, 0x00, 0x00,			/* no name */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x08, 0x00, 0x00, 0x00,			/* data size 8 */
		LE8(0),					/* empty set */
	};
	struct gtid_set *s = gtid_set_new();
	struct rc_buf b = { 0 };
	char err[256];

	(void)state;
	assert_true(gtid_set_parse(s, U ":1-5:11-18", err, sizeof(err)));
	gtid_dump_request(s, 0x01020304, "binlog.000001", 4, GTID_DUMP_THROUGH_GTID, &b);
	assert_int_equal(b.len, sizeof(want1));
	assert_memory_equal(b.data, want1, sizeof(want1));

	gtid_set_clear(s);
	buf_reset(&b);
	gtid_dump_request(s, 0xffffffff, NULL, 0x0102030405060708ULL, 0, &b);
	assert_int_equal(b.len, sizeof(want2));
	assert_memory_equal(b.data, want2, sizeof(want2));
	buf_reset(&b);
	gtid_dump_request(s, 0xffffffff, "", 0x0102030405060708ULL, 0, &b);
	assert_int_equal(b.len, sizeof(want2));
	assert_memory_equal(b.data, want2, sizeof(want2));
	buf_free(&b);
	gtid_set_free(s);
}

/*
 * A real PREVIOUS_GTIDS_LOG_EVENT: the 31 bytes at offset 0x7e of
 * shared fixture mysql8/rustus_8.2.0_02_query.binlog.000001 (MySQL 8.2.0,
 * from rust-us/mysql-cdc-rs, MIT).  Every PREVIOUS_GTIDS event in the
 * mysql8 fixtures is this empty one; mysqlbinlog -vv (oracle
 * rustus_02_query.mysqlbinlog_vv.txt) prints "Previous-GTIDs" "[empty]".
 */
static void test_previous_gtids_fixture(void **state)
{
	static const uint8_t ev[] = {
		0x4d, 0x5e, 0x71, 0x65,		/* timestamp */
		0x23,				/* type 35 PREVIOUS_GTIDS */
		0x01, 0x00, 0x00, 0x00,		/* server id */
		0x1f, 0x00, 0x00, 0x00,		/* event size 31 */
		0x9d, 0x00, 0x00, 0x00,		/* next position */
		0x80, 0x00,			/* flags */
		0, 0, 0, 0, 0, 0, 0, 0,		/* body: n_sids = 0 */
		0x4d, 0x0d, 0x95, 0xb8,		/* CRC32 */
	};
	struct gtid_set *s = gtid_set_new();
	char err[256];

	(void)state;
	assert_int_equal(ev[4], 35);
	assert_int_equal(ev[9], sizeof(ev));
	assert_true(gtid_set_add(s, U, NULL, 1));
	assert_true(gtid_set_decode(s, ev + 19, sizeof(ev) - 19 - 4, err, sizeof(err)));
	assert_true(gtid_set_is_empty(s));
	expect_text(s, "");
	/* with the checksum left on, the 4 bytes are trailing garbage */
	assert_false(gtid_set_decode(s, ev + 19, sizeof(ev) - 19, err, sizeof(err)));
	assert_string_equal(err, "GTID set encoding has 4 bytes after its end");
	gtid_set_free(s);
}

static void test_first_missing(void **state)
{
	struct gtid_set *s = gtid_set_new();
	char err[256];
	const char *u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

	(void)state;
	assert_true(gtid_set_parse(s, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:8-10", err,
				   sizeof(err)));
	assert_int_equal(gtid_set_first_missing(s, u, NULL, 1, 5), 0);
	assert_int_equal(gtid_set_first_missing(s, u, NULL, 1, 9), 6);
	assert_int_equal(gtid_set_first_missing(s, u, NULL, 8, 12), 11);
	assert_int_equal(gtid_set_first_missing(s, u, "tg", 1, 2), 1);
	assert_int_equal(gtid_set_first_missing(s, "4e11fa47-71ca-11e1-9e33-c80aa9429562", NULL,
						3, 4), 3);
	gtid_set_free(s);
}

/* gtid_set_first_outside against a brute force over random small sets of
 * three SIDs (one tagged) and GNOs 1..40. */
static void test_first_outside(void **state)
{
	static const char *const sids[] = { U, U0, U ":tg" };
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		struct gtid_set *a = gtid_set_new(), *b = gtid_set_new();
		bool in_a[3][41] = { { 0 } }, in_b[3][41] = { { 0 } };
		struct rc_buf got = { 0 };
		char want[80] = "";

		for (int k = 0; k < 3; k++) {
			for (int g = 1; g <= 40; g++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				in_a[k][g] = (x & 3) == 0;
				in_b[k][g] = in_a[k][g] ? (x & 12) != 0 : (x & 16) != 0;
				if (in_a[k][g])
					assert_true(gtid_set_add(a, k == 1 ? U0 : U, k == 2 ? "tg" : NULL,
								 (uint64_t)g));
				if (in_b[k][g])
					assert_true(gtid_set_add(b, k == 1 ? U0 : U, k == 2 ? "tg" : NULL,
								 (uint64_t)g));
			}
		}
		/* a's order: SIDs sorted by uuid, then tag: U0, U, U:tg */
		for (int o = 0; o < 3 && !want[0]; o++) {
			int k = o == 0 ? 1 : o == 1 ? 0 : 2;

			for (int g = 1; g <= 40 && !want[0]; g++)
				if (in_a[k][g] && !in_b[k][g])
					snprintf(want, sizeof(want), "%s:%d", sids[k], g);
		}
		if (gtid_set_first_outside(a, b, &got))
			assert_string_equal(got.data, want);
		else
			assert_string_equal("", want);
		buf_free(&got);
		gtid_set_free(a);
		gtid_set_free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_missing),
		cmocka_unit_test(test_first_outside),
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_decode_bad),
		cmocka_unit_test(test_decode_lenient),
		cmocka_unit_test(test_dump_request),
		cmocka_unit_test(test_previous_gtids_fixture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
