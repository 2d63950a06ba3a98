/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: GTID_TAGGED_LOG_EVENT bodies (MySQL serialization library
 * format).  The byte layouts below follow, in MySQL's source:
 *  - Serializer::operator>> / Serializer_default::encode_serializable_metadata
 *    (serializer_impl.hpp, serializer_default_impl.hpp): format version 1
 *    as the message's field id, then message size, then last non-ignorable
 *    field id, all varlen;
 *  - Serializer_default::encode_field_id / encode_field: varlen field id,
 *    then the data; arrays (Serializer_array_tag) as their elements without
 *    a count, each element with the default (varlen) codec; strings
 *    (Primitive_type_codec<std::string>) as varlen length + bytes;
 *  - detail::write_varlen_bytes_unsigned / _signed
 *    (variable_length_integers.h) for every integer;
 *  - Gtid_event::define_fields() const (control_events.h) for the ids and
 *    for which fields may be omitted.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "source/mysql/gtid_tagged.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A real body (checksum stripped) written by Percona Server 8.4.11-11 for
 * GTID 77d1902c-01da-11f1-9a41-908d6e5f6e8d:test_tag:1, transaction_length
 * 337 (found as test data in a public repository; the external oracle).
 */
static const uint8_t REAL[] = {
	0x02,		/* format version 1 */
	0x7c,		/* message size 62 (= the whole body) */
	0x00,		/* last non-ignorable field id: none */
	0x00, 0x02,	/* id 0 gtid_flags = 1 */
	0x02,		/* id 1 uuid, 16 varlen bytes: */
	0xee, 0x45, 0x03, 0x41, 0x02, 0x58, 0x02, 0x69, 0x03, 0x22, 0xc5, 0x03,
	0x69, 0x02, 0x82, 0x41, 0x02, 0x35, 0x02, 0xdc, 0xbe, 0xdc, 0x35, 0x02,
	0x04, 0x04,	/* id 2 gno = 1 (signed: 1 << 1 = 2, varlen 0x04) */
	0x06, 0x10, 't', 'e', 's', 't', '_', 't', 'a', 'g', /* id 3 tag, length 8 */
	0x08, 0x00,	/* id 4 last_committed = 0 */
	0x0a, 0x04,	/* id 5 sequence_number = 1 */
	0x0c, 0x7f, 0x00, 0x3e, 0x89, 0x00, 0xfa, 0x5b, 0x06, /* id 6 immediate ts, 8-byte varlen */
			/* id 7 original ts omitted (equal) */
	0x10, 0x45, 0x05, /* id 8 transaction_length = 337, 2-byte varlen */
	0x12, 0xdb, 0xd0, 0x09, /* id 9 immediate_server_version = 80411, 3 bytes */
			/* ids 10, 11 omitted */
};

/* uuid 3e11fa47-71ca-11e1-9e33-c80aa9429562 as 16 varlen bytes: a byte
 * below 128 is (b << 1), one above is ((b << 2) | 1) & 0xff, b >> 6 */
#define UUID_3E11 \
	0x7c, 0x22, 0xe9, 0x03, 0x8e, 0xe2, 0x29, 0x03, 0x22, 0x85, 0x03, 0x79, \
	0x02, 0x66, 0x21, 0x03, 0x14, 0xa5, 0x02, 0x84, 0x55, 0x02, 0xc4

/* Untagged (empty tag), the fields a server always writes. */
static const uint8_t UNTAGGED[] = {
	0x02, 0x6a, 0x00,	/* version 1, size 53, last non-ignorable 0 */
	0x00, 0x02,		/* flags 1 */
	0x02, UUID_3E11,	/* uuid */
	0x04, 0xa8,		/* gno 42 */
	0x06, 0x00,		/* tag "" */
	0x08, 0x14,		/* last_committed 5 */
	0x0a, 0x18,		/* sequence_number 6 */
	0x0c, 0x7f, 0x40, 0x22, 0x20, 0x18, 0x24, 0x0a, 0x06, /* ts 1700000000123456 */
	0x10, 0xb1, 0x04,	/* transaction_length 300 */
	0x12, 0x63, 0xcd, 0x09,	/* immediate_server_version 80300 */
};

/* Tagged, every field present (a replica's event with a commit ticket). */
static const uint8_t ALL_FIELDS[] = {
	0x02, 0x92, 0x00,	/* version 1, size 73, last non-ignorable 0 */
	0x00, 0x00,		/* flags 0 */
	0x02, UUID_3E11,
	0x04, 0xa8,		/* gno 42 */
	0x06, 0x0a, 'B', 'l', 'u', 'e', '_', /* tag "Blue_" */
	0x08, 0x14,		/* last_committed 5 */
	0x0a, 0x18,		/* sequence_number 6 */
	0x0c, 0x7f, 0x40, 0x22, 0x20, 0x18, 0x24, 0x0a, 0x06, /* immediate ts */
	0x0e, 0x7f, 0xc1, 0xfd, 0x0e, 0x18, 0x24, 0x0a, 0x06, /* original ts 1699999999000001 */
	0x10, 0xb1, 0x04,	/* transaction_length 300 */
	0x12, 0x63, 0xcd, 0x09,	/* immediate_server_version 80300 */
	0x14, 0x23, 0xc5, 0x09,	/* original_server_version 80036 */
	0x16, 0x0e,		/* commit_group_ticket 7 */
};

/* Only the fields without which there is no GTID: everything else takes
 * its default. */
static const uint8_t MINIMAL[] = {
	0x02, 0x3a, 0x00,	/* version 1, size 29 */
	0x02, UUID_3E11,
	0x04, 0xa8,		/* gno 42 */
};

/* A newer server's fields 12 and 13 after the known ones, ignorable. */
static const uint8_t NEWER[] = {
	0x02, 0x78, 0x00,	/* version 1, size 60, last non-ignorable 0 */
	0x00, 0x00, 0x02, UUID_3E11, 0x04, 0xa8, 0x06, 0x00, 0x08, 0x14, 0x0a, 0x18,
	0x0c, 0x7f, 0x40, 0x22, 0x20, 0x18, 0x24, 0x0a, 0x06,
	0x10, 0xb1, 0x04, 0x12, 0x63, 0xcd, 0x09,
	0x18, 0xc6,		/* id 12: a varlen, 99 */
	0x1a, 0x06, 'x', 'y', 'z', /* id 13: a string, "xyz" */
};

/* Same as UNTAGGED with last non-ignorable id 12 (= 1 + id 11): known. */
static const uint8_t LAST_NI_KNOWN[] = {
	0x02, 0x6a, 0x18, 0x00, 0x02, 0x02, UUID_3E11, 0x04, 0xa8, 0x06, 0x00,
	0x08, 0x14, 0x0a, 0x18, 0x0c, 0x7f, 0x40, 0x22, 0x20, 0x18, 0x24, 0x0a, 0x06,
	0x10, 0xb1, 0x04, 0x12, 0x63, 0xcd, 0x09,
};

struct valid_case {
	const char *name;
	const uint8_t *body;
	size_t len;
	struct gtid_tagged want;
	const char *text;
};

#define U3E11 { 0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, \
		0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62 }
#define T3E11 "3e11fa47-71ca-11e1-9e33-c80aa9429562"

static const struct valid_case valid[] = {
	{ "real Percona 8.4.11", REAL, sizeof(REAL),
	  { .flags = 1,
	    .uuid = { 0x77, 0xd1, 0x90, 0x2c, 0x01, 0xda, 0x11, 0xf1,
		      0x9a, 0x41, 0x90, 0x8d, 0x6e, 0x5f, 0x6e, 0x8d },
	    .gno = 1, .tag = "test_tag", .last_committed = 0, .sequence_number = 1,
	    .immediate_commit_ts = 0x065bfa00893e00ULL,
	    .original_commit_ts = 0x065bfa00893e00ULL, .transaction_length = 337,
	    .immediate_server_version = 80411, .original_server_version = 80411,
	    .commit_group_ticket = 0 },
	  "77d1902c-01da-11f1-9a41-908d6e5f6e8d:test_tag:1" },
	{ "untagged", UNTAGGED, sizeof(UNTAGGED),
	  { .flags = 1, .uuid = U3E11, .gno = 42, .tag = "", .last_committed = 5,
	    .sequence_number = 6, .immediate_commit_ts = 1700000000123456ULL,
	    .original_commit_ts = 1700000000123456ULL, .transaction_length = 300,
	    .immediate_server_version = 80300, .original_server_version = 80300 },
	  T3E11 ":42" },
	{ "all fields", ALL_FIELDS, sizeof(ALL_FIELDS),
	  { .flags = 0, .uuid = U3E11, .gno = 42, .tag = "Blue_", .last_committed = 5,
	    .sequence_number = 6, .immediate_commit_ts = 1700000000123456ULL,
	    .original_commit_ts = 1699999999000001ULL, .transaction_length = 300,
	    .immediate_server_version = 80300, .original_server_version = 80036,
	    .commit_group_ticket = 7 },
	  T3E11 ":Blue_:42" },
	{ "minimal", MINIMAL, sizeof(MINIMAL),
	  { .flags = 1, .uuid = U3E11, .gno = 42 },
	  T3E11 ":42" },
	{ "newer fields skipped", NEWER, sizeof(NEWER),
	  { .flags = 0, .uuid = U3E11, .gno = 42, .tag = "", .last_committed = 5,
	    .sequence_number = 6, .immediate_commit_ts = 1700000000123456ULL,
	    .original_commit_ts = 1700000000123456ULL, .transaction_length = 300,
	    .immediate_server_version = 80300, .original_server_version = 80300 },
	  T3E11 ":42" },
	{ "last non-ignorable 12", LAST_NI_KNOWN, sizeof(LAST_NI_KNOWN),
	  { .flags = 1, .uuid = U3E11, .gno = 42, .tag = "", .last_committed = 5,
	    .sequence_number = 6, .immediate_commit_ts = 1700000000123456ULL,
	    .original_commit_ts = 1700000000123456ULL, .transaction_length = 300,
	    .immediate_server_version = 80300, .original_server_version = 80300 },
	  T3E11 ":42" },
};

static void assert_gtid_equal(const struct gtid_tagged *a, const struct gtid_tagged *b)
{
	assert_int_equal(a->flags, b->flags);
	assert_memory_equal(a->uuid, b->uuid, 16);
	assert_int_equal(a->gno, b->gno);
	assert_string_equal(a->tag, b->tag);
	assert_int_equal(a->last_committed, b->last_committed);
	assert_int_equal(a->sequence_number, b->sequence_number);
	assert_int_equal(a->immediate_commit_ts, b->immediate_commit_ts);
	assert_int_equal(a->original_commit_ts, b->original_commit_ts);
	assert_int_equal(a->transaction_length, b->transaction_length);
	assert_int_equal(a->immediate_server_version, b->immediate_server_version);
	assert_int_equal(a->original_server_version, b->original_server_version);
	assert_int_equal(a->commit_group_ticket, b->commit_group_ticket);
}

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
		const struct valid_case *c = &valid[i];
		struct gtid_tagged g;
		char err[256], text[96];

		print_message("# %s\n", c->name);
		memset(&g, 0xa5, sizeof(g));
		assert_true(gtid_tagged_parse(c->body, c->len, &g, err, sizeof(err)));
		assert_gtid_equal(&g, &c->want);
		gtid_tagged_text(&g, text, sizeof(text));
		assert_string_equal(text, c->text);
	}
}

/* Every proper prefix is a truncated message: false, a reason, no overrun
 * (each prefix is copied to a buffer of exactly its size for ASan). */
static void test_truncation(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
		const struct valid_case *c = &valid[i];

		for (size_t k = 0; k < c->len; k++) {
			uint8_t *copy = test_malloc(k ? k : 1);
			struct gtid_tagged g;
			char err[256];

			memcpy(copy, c->body, k);
			err[0] = '\0';
			if (gtid_tagged_parse(copy, k, &g, err, sizeof(err)))
				fail_msg("%s: prefix of %zu bytes accepted", c->name, k);
			assert_true(err[0] != '\0');
			test_free(copy);
		}
	}
}

/* Bytes after the message (inside the body) are ignored, as MySQL does. */
static void test_trailing(void **state)
{
	uint8_t buf[sizeof(UNTAGGED) + 4];
	struct gtid_tagged g;
	char err[256];

	(void)state;
	memcpy(buf, UNTAGGED, sizeof(UNTAGGED));
	memcpy(buf + sizeof(UNTAGGED), "\xde\xad\xbe\xef", 4);
	assert_true(gtid_tagged_parse(buf, sizeof(buf), &g, err, sizeof(err)));
	assert_gtid_equal(&g, &valid[1].want);
}

/* ---- a message builder for the tables below (write_varlen_bytes_*) ---- */

struct mb {
	uint8_t pay[512];	/* fields */
	size_t n;
	uint8_t out[600];	/* finished message */
	size_t len;
};

static size_t varlen_width(uint64_t v)
{
	size_t bits = 0;

	while (bits < 64 && (v >> bits) != 0)
		bits++;
	if (bits <= 56)
		return bits <= 7 ? 1 : (bits + 6) / 7;
	return 9;
}

static size_t put_varlen(uint8_t *o, uint64_t v)
{
	size_t k = varlen_width(v);

	if (k == 9) {
		o[0] = 0xff;
		for (size_t i = 0; i < 8; i++)
			o[1 + i] = (uint8_t)(v >> (8 * i));
		return 9;
	}
	/* k - 1 one bits, a zero bit, then the low 8 - k value bits */
	o[0] = (uint8_t)(((1u << (k - 1)) - 1) | (uint8_t)(v << k));
	v >>= 8 - k;
	for (size_t i = 1; i < k; i++, v >>= 8)
		o[i] = (uint8_t)v;
	return k;
}

static uint64_t zz(int64_t x)
{
	return x >= 0 ? (uint64_t)x << 1 : ((uint64_t)(-(x + 1)) << 1) | 1;
}

static void mb_u(struct mb *m, unsigned id, uint64_t v)
{
	m->n += put_varlen(m->pay + m->n, id);
	m->n += put_varlen(m->pay + m->n, v);
}

static void mb_s(struct mb *m, unsigned id, int64_t v)
{
	mb_u(m, id, zz(v));
}

static void mb_str(struct mb *m, unsigned id, const char *s, size_t len)
{
	mb_u(m, id, len);
	memcpy(m->pay + m->n, s, len);
	m->n += len;
}

static void mb_uuid(struct mb *m, const uint8_t u[16])
{
	m->n += put_varlen(m->pay + m->n, 1);
	for (int i = 0; i < 16; i++)
		m->n += put_varlen(m->pay + m->n, u[i]);
}

/* version, size (counting itself), last non-ignorable id, fields */
static void mb_finish(struct mb *m, uint64_t last_ni)
{
	size_t head = 1 + varlen_width(last_ni), s = 1;

	while (varlen_width(head + m->n + s) != s)
		s = varlen_width(head + m->n + s);
	m->len = 0;
	m->len += put_varlen(m->out, 1);
	m->len += put_varlen(m->out + m->len, head + m->n + s);
	m->len += put_varlen(m->out + m->len, last_ni);
	memcpy(m->out + m->len, m->pay, m->n);
	m->len += m->n;
	assert_int_equal(m->len, head + m->n + s);
}

static const uint8_t UUID_BYTES[16] = U3E11;

/* The encoder's own checks against the readme's worked examples. */
static void test_varlen_vectors(void **state)
{
	uint8_t o[9];

	(void)state;
	assert_int_equal(put_varlen(o, 65535), 3);
	assert_memory_equal(o, "\xfb\xff\x07", 3);
	assert_int_equal(put_varlen(o, zz(65535)), 3);
	assert_memory_equal(o, "\xf3\xff\x0f", 3);
	assert_int_equal(put_varlen(o, zz(-65535)), 3);
	assert_memory_equal(o, "\xeb\xff\x0f", 3);
	assert_int_equal(put_varlen(o, zz(-65536)), 3);
	assert_memory_equal(o, "\xfb\xff\x0f", 3);
	/* get_size_integer_varlen_unsigned: ((bit_width * 575) >> 12) + 1 */
	for (unsigned b = 0; b <= 64; b++) {
		uint64_t v = b == 0 ? 0 : (b == 64 ? UINT64_MAX : (1ULL << b) - 1);

		assert_int_equal(varlen_width(v), ((b * 575) >> 12) + 1);
	}
}

/* Readme vectors as field data, decoded by the parser. */
static void test_readme_bytes(void **state)
{
	/* MINIMAL's fields, then last_committed and sequence_number as the
	 * readme's signed examples and the immediate ts as the unsigned one */
	static const uint8_t body[] = {
		0x02, 0x52, 0x00,	/* size 41 */
		0x02, UUID_3E11, 0x04, 0xa8,
		0x08, 0xeb, 0xff, 0x0f,	/* last_committed -65535 */
		0x0a, 0xf3, 0xff, 0x0f,	/* sequence_number 65535 */
		0x0c, 0xfb, 0xff, 0x07,	/* immediate ts 65535 */
	};
	struct gtid_tagged g;
	char err[256];

	(void)state;
	assert_true(gtid_tagged_parse(body, sizeof(body), &g, err, sizeof(err)));
	assert_int_equal(g.last_committed, -65535);
	assert_int_equal(g.sequence_number, 65535);
	assert_int_equal(g.immediate_commit_ts, 65535);
	assert_int_equal(g.original_commit_ts, 65535);
}

/* Each varlen width (1..9 bytes) at its edges, in every integer field. */
static void test_widths(void **state)
{
	static const uint64_t uvals[] = {
		0, 1, 127, 128, (1ULL << 14) - 1, 1ULL << 14, (1ULL << 21) - 1,
		1ULL << 21, (1ULL << 28) - 1, 1ULL << 28, (1ULL << 35) - 1, 1ULL << 35,
		(1ULL << 42) - 1, 1ULL << 42, (1ULL << 49) - 1, 1ULL << 49,
		(1ULL << 56) - 1, 1ULL << 56, 1ULL << 63, UINT64_MAX,
	};
	static const int64_t svals[] = {
		0, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193,
		(1LL << 55) - 1, -(1LL << 55), 1LL << 55, -(1LL << 55) - 1,
		INT64_MAX, INT64_MIN,
	};
	static const uint32_t vers[] = { 0, 127, 128, 80411, UINT32_MAX };
	static const int64_t gnos[] = { 1, 63, 64, 1LL << 40, INT64_MAX - 1 };
	unsigned widths_seen = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(uvals); i++) {
		struct mb m = { .n = 0 };
		struct gtid_tagged g;
		char err[256];
		uint64_t v = uvals[i];

		widths_seen |= 1u << varlen_width(v);
		mb_uuid(&m, UUID_BYTES);
		mb_s(&m, 2, 7);
		mb_u(&m, 6, v);			/* immediate ts */
		mb_u(&m, 7, ~v);		/* original ts */
		mb_u(&m, 8, v);			/* transaction_length */
		mb_u(&m, 11, v);		/* commit_group_ticket */
		mb_finish(&m, 0);
		assert_true(gtid_tagged_parse(m.out, m.len, &g, err, sizeof(err)));
		assert_int_equal(g.immediate_commit_ts, v);
		assert_int_equal(g.original_commit_ts, ~v);
		assert_int_equal(g.transaction_length, v);
		assert_int_equal(g.commit_group_ticket, v);
		for (size_t k = 0; k < m.len; k++)
			assert_false(gtid_tagged_parse(m.out, k, &g, err, sizeof(err)));
	}
	assert_int_equal(widths_seen, 0x3fe);	/* widths 1..9 all used */
	for (size_t i = 0; i < ARRAY_LEN(svals); i++) {
		struct mb m = { .n = 0 };
		struct gtid_tagged g;
		char err[256];

		mb_uuid(&m, UUID_BYTES);
		mb_s(&m, 2, 7);
		mb_s(&m, 4, svals[i]);
		mb_s(&m, 5, svals[ARRAY_LEN(svals) - 1 - i]);
		mb_finish(&m, 0);
		assert_true(gtid_tagged_parse(m.out, m.len, &g, err, sizeof(err)));
		assert_int_equal(g.last_committed, svals[i]);
		assert_int_equal(g.sequence_number, svals[ARRAY_LEN(svals) - 1 - i]);
	}
	for (size_t i = 0; i < ARRAY_LEN(vers); i++) {
		struct mb m = { .n = 0 };
		struct gtid_tagged g;
		char err[256];

		mb_uuid(&m, UUID_BYTES);
		mb_s(&m, 2, gnos[i]);
		mb_u(&m, 9, vers[i]);
		mb_u(&m, 10, vers[ARRAY_LEN(vers) - 1 - i]);
		mb_finish(&m, 0);
		assert_true(gtid_tagged_parse(m.out, m.len, &g, err, sizeof(err)));
		assert_int_equal(g.gno, (uint64_t)gnos[i]);
		assert_int_equal(g.immediate_server_version, vers[i]);
		assert_int_equal(g.original_server_version, vers[ARRAY_LEN(vers) - 1 - i]);
	}
}

/* A long message: its size needs a 2-byte varlen (>= 128 bytes). */
static void test_long_message(void **state)
{
	static const char tag32[] = "abcdefghijklmnopqrstuvwxyz_01234";
	struct mb m = { .n = 0 };
	struct gtid_tagged g;
	char err[256], text[96];
	uint8_t uuid[16];

	(void)state;
	for (int i = 0; i < 16; i++)
		uuid[i] = (uint8_t)(0xf0 + i);	/* every byte a 2-byte varlen */
	mb_u(&m, 0, 255);
	mb_uuid(&m, uuid);
	mb_s(&m, 2, INT64_MAX - 1);
	mb_str(&m, 3, tag32, 32);
	mb_s(&m, 4, INT64_MIN);
	mb_s(&m, 5, INT64_MAX);
	mb_u(&m, 6, UINT64_MAX);
	mb_u(&m, 7, UINT64_MAX - 1);
	mb_u(&m, 8, UINT64_MAX);
	mb_u(&m, 9, UINT32_MAX);
	mb_u(&m, 10, UINT32_MAX - 1);
	mb_u(&m, 11, UINT64_MAX);
	mb_finish(&m, 12);
	assert_true(m.len >= 128);
	assert_true(gtid_tagged_parse(m.out, m.len, &g, err, sizeof(err)));
	assert_int_equal(g.flags, 255);
	assert_memory_equal(g.uuid, uuid, 16);
	assert_string_equal(g.tag, tag32);
	assert_int_equal(g.gno, INT64_MAX - 1);
	assert_int_equal(g.last_committed, INT64_MIN);
	assert_int_equal(g.sequence_number, INT64_MAX);
	assert_int_equal(g.original_commit_ts, UINT64_MAX - 1);
	assert_int_equal(g.original_server_version, UINT32_MAX - 1);
	gtid_tagged_text(&g, text, sizeof(text));
	assert_string_equal(text, "f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff:"
			    "abcdefghijklmnopqrstuvwxyz_01234:9223372036854775806");
	for (size_t k = 0; k < m.len; k++)
		assert_false(gtid_tagged_parse(m.out, k, &g, err, sizeof(err)));
}

/* ---- malformed or unsupported input ---- */

enum bad_kind {
	BAD_VERSION0, BAD_VERSION2, BAD_SIZE_BIG, BAD_SIZE_SMALL, BAD_LAST_NI,
	BAD_TAG_LONG, BAD_TAG_COLON, BAD_TAG_DIGIT, BAD_TAG_DASH, BAD_GNO0, BAD_GNO_NEG,
	BAD_GNO_MAX, BAD_NO_UUID, BAD_NO_GNO, BAD_ORDER, BAD_DUP, BAD_CROSS_END,
	BAD_FLAGS, BAD_UUID_BYTE, BAD_VERSION_RANGE, BAD_ID_TRUNC, BAD_EMPTY_MSG,
};

static const struct { enum bad_kind kind; const char *want; } bad[] = {
	{ BAD_VERSION0, "format version 0" },
	{ BAD_VERSION2, "format version 2" },
	{ BAD_SIZE_BIG, "truncated" },
	{ BAD_SIZE_SMALL, "smaller than its header" },
	{ BAD_LAST_NI, "unknown non-ignorable field 12" },
	{ BAD_TAG_LONG, "tag of 33 bytes" },
	{ BAD_TAG_COLON, "invalid characters" },
	{ BAD_TAG_DIGIT, "invalid characters" },
	{ BAD_TAG_DASH, "invalid characters" },
	{ BAD_GNO0, "invalid GNO 0" },
	{ BAD_GNO_NEG, "invalid GNO -5" },
	{ BAD_GNO_MAX, "invalid GNO 9223372036854775807" },
	{ BAD_NO_UUID, "no uuid" },
	{ BAD_NO_GNO, "no gno" },
	{ BAD_ORDER, "out of order" },
	{ BAD_DUP, "out of order" },
	{ BAD_CROSS_END, "past the end" },
	{ BAD_FLAGS, "gtid_flags out of range" },
	{ BAD_UUID_BYTE, "uuid out of range" },
	{ BAD_VERSION_RANGE, "immediate_server_version out of range" },
	{ BAD_ID_TRUNC, "field id runs past" },
	{ BAD_EMPTY_MSG, "no uuid" },
};

static void build_bad(enum bad_kind kind, struct mb *m)
{
	uint8_t u[16];

	memcpy(u, UUID_BYTES, 16);
	m->n = 0;
	switch (kind) {
	case BAD_NO_UUID:
		mb_u(m, 0, 1);
		mb_s(m, 2, 5);
		break;
	case BAD_NO_GNO:
		mb_uuid(m, u);
		mb_str(m, 3, "x", 1);
		break;
	case BAD_ORDER:
		mb_s(m, 2, 5);
		mb_uuid(m, u);
		break;
	case BAD_DUP:
		mb_uuid(m, u);
		mb_s(m, 2, 5);
		mb_s(m, 2, 6);
		break;
	case BAD_FLAGS:
		mb_u(m, 0, 256);
		mb_uuid(m, u);
		mb_s(m, 2, 5);
		break;
	case BAD_UUID_BYTE:
		mb_uuid(m, u);
		/* rewrite the last uuid element (0x62 -> 1 byte) as 0x100 */
		m->n--;
		m->n += put_varlen(m->pay + m->n, 0x100);
		mb_s(m, 2, 5);
		break;
	case BAD_VERSION_RANGE:
		mb_uuid(m, u);
		mb_s(m, 2, 5);
		mb_u(m, 9, (uint64_t)UINT32_MAX + 1);
		break;
	case BAD_EMPTY_MSG:
		break;
	default:
		mb_uuid(m, u);
		switch (kind) {
		case BAD_GNO0: mb_s(m, 2, 0); break;
		case BAD_GNO_NEG: mb_s(m, 2, -5); break;
		case BAD_GNO_MAX: mb_s(m, 2, INT64_MAX); break;
		default: mb_s(m, 2, 5); break;
		}
		if (kind == BAD_TAG_LONG)
			mb_str(m, 3, "abcdefghijklmnopqrstuvwxyz_0123456", 33);
		else if (kind == BAD_TAG_COLON)
			mb_str(m, 3, "a:b", 3);
		else if (kind == BAD_TAG_DIGIT)
			mb_str(m, 3, "1abc", 4);
		else if (kind == BAD_TAG_DASH)
			mb_str(m, 3, "a-b", 3);
		else if (kind == BAD_ID_TRUNC)
			m->pay[m->n++] = 0x01;	/* a 2-byte varlen's first byte */
		break;
	}
	mb_finish(m, kind == BAD_LAST_NI ? 13 : 0);
	switch (kind) {
	case BAD_VERSION0: m->out[0] = 0x00; break;
	case BAD_VERSION2: m->out[0] = 0x04; break;
	case BAD_SIZE_BIG: m->out[1] = (uint8_t)(m->out[1] + 2); break;
	case BAD_SIZE_SMALL: m->out[1] = 0x04; break;	/* 2 < 3-byte header */
	case BAD_CROSS_END:
		/* the message says it ends one byte before the gno's data;
		 * the body still holds the byte */
		m->out[1] = (uint8_t)(m->out[1] - 2);
		break;
	default: break;
	}
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct mb m;
		struct gtid_tagged g;
		char err[256];

		build_bad(bad[i].kind, &m);
		err[0] = '\0';
		if (gtid_tagged_parse(m.out, m.len, &g, err, sizeof(err)))
			fail_msg("case %zu (%s) accepted", i, bad[i].want);
		if (strstr(err, bad[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].want);
	}
}

static void test_empty(void **state)
{
	struct gtid_tagged g;
	char err[256];
	uint8_t one = 0x02;

	(void)state;
	assert_false(gtid_tagged_parse(NULL, 0, &g, err, sizeof(err)));
	assert_false(gtid_tagged_parse(&one, 1, &g, err, sizeof(err)));
	/* errlen 0: nothing written to err */
	assert_false(gtid_tagged_parse(&one, 1, &g, NULL, 0));
}

/* Damaged bytes anywhere: any answer, but no read outside the body. */
static void test_mutations(void **state)
{
	static const uint8_t repl[] = { 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff };

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
		const struct valid_case *c = &valid[i];
		uint8_t *copy = test_malloc(c->len);

		for (size_t pos = 0; pos < c->len; pos++) {
			for (size_t r = 0; r <= ARRAY_LEN(repl); r++) {
				struct gtid_tagged g;
				char err[256], text[96];

				memcpy(copy, c->body, c->len);
				copy[pos] = r < ARRAY_LEN(repl) ? repl[r] : (uint8_t)(copy[pos] ^ 1);
				if (gtid_tagged_parse(copy, c->len, &g, err, sizeof(err))) {
					gtid_tagged_text(&g, text, sizeof(text));
					assert_true(strlen(text) < sizeof(text));
					assert_true(strlen(g.tag) <= 32);
				} else {
					assert_true(err[0] != '\0');
				}
			}
		}
		test_free(copy);
	}
}

static void test_text(void **state)
{
	struct gtid_tagged g = { .uuid = U3E11, .gno = 18446744073709551615ULL };
	char small[10], text[96];

	(void)state;
	gtid_tagged_text(&g, text, sizeof(text));
	assert_string_equal(text, T3E11 ":18446744073709551615");
	memcpy(g.tag, "t", 2);
	gtid_tagged_text(&g, text, sizeof(text));
	assert_string_equal(text, T3E11 ":t:18446744073709551615");
	gtid_tagged_text(&g, small, sizeof(small));
	assert_string_equal(small, "3e11fa47-");
	gtid_tagged_text(&g, small, 0);	/* writes nothing */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_varlen_vectors),
		cmocka_unit_test(test_readme_bytes),
		cmocka_unit_test(test_widths),
		cmocka_unit_test(test_long_message),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
