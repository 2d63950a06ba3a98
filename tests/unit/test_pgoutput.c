/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: pgoutput messages and replication frames.  Fixtures are the
 * exact bytes PostgreSQL 15.18 produced (pg_logical_slot_peek_binary_changes,
 * proto_version 1, messages on) plus hand-built messages of the kinds a
 * short session does not produce; every prefix and many mutations of each
 * must fail cleanly (run under ASan by --enable-sanitizers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "source/pg/pgoutput.h"

/* A message under construction. */
struct msg {
	uint8_t p[512];	/* bytes */
	size_t n;	/* used */
};

static void m_bytes(struct msg *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->p));
	memcpy(m->p + m->n, p, n);
	m->n += n;
}

static void m_be(struct msg *m, uint64_t v, unsigned w)
{
	for (unsigned i = 0; i < w; i++)
		m->p[m->n + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
	m->n += w;
}

static void m_str(struct msg *m, const char *s)
{
	m_bytes(m, s, strlen(s) + 1);
}

/* Text column 't' with its length. */
static void m_text(struct msg *m, const char *s)
{
	m_be(m, 't', 1);
	m_be(m, strlen(s), 4);
	m_bytes(m, s, strlen(s));
}

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* Captured from PostgreSQL 15.18: table g(id int primary key, t text,
 * n numeric(6,2)), publication gp. */
static const char *const captured[] = {
	/* B */ "42000000000156e5f0000304b4b0a8c6b2000002e1",
	/* R */ "52000040047075626c69630067006400030169640000000017ffffffff00740000000019ffffffff006e00000006a400060006",
	/* I */ "49000040044e0003740000000131740000000668c3a96c6c6f7400000004312e3530",
	/* I */ "49000040044e00037400000001326e6e",
	/* C */ "4300000000000156e5f0000000000156e620000304b4b0a8c6b2",
	/* U */ "55000040044e0003740000000131740000000668c3a96c6c6f7400000004322e3235",
	/* U K */ "55000040044b00037400000001326e6e4e00037400000001336e6e",
	/* D K */ "44000040044b00037400000001316e6e",
	/* T */ "54000000010000004004",
	/* M */ "4d01000000000156f510726f77636173742e6f7574626f7800000000077b2261223a317d",
};

static void parse_hex(struct pgo_parser *ps, const char *h, struct pgo_msg *m)
{
	static uint8_t buf[512];
	struct pgo_error err = { 0 };
	size_t n = unhex(h, buf);

	if (!pgo_parse(ps, buf, n, m, &err))
		fail_msg("%s: %s", h, err.msg);
}

static void test_captured(void **state)
{
	struct pgo_parser ps = { 0 };
	struct pgo_msg m;

	(void)state;
	parse_hex(&ps, captured[0], &m);
	assert_int_equal(m.kind, PGO_BEGIN);
	assert_int_equal(m.u.begin.final_lsn, 0x156e5f0);
	assert_int_equal(m.u.begin.commit_time, 0x304b4b0a8c6b2);
	assert_int_equal(m.xid, 0x2e1);

	parse_hex(&ps, captured[1], &m);
	assert_int_equal(m.kind, PGO_RELATION);
	assert_int_equal(m.u.relation.relid, 0x4004);
	assert_string_equal(m.u.relation.nspname.p, "public");
	assert_string_equal(m.u.relation.relname.p, "g");
	assert_int_equal(m.u.relation.relname.len, 1);
	assert_int_equal(m.u.relation.replident, 'd');
	assert_int_equal(m.u.relation.ncols, 3);
	assert_int_equal(m.u.relation.cols[0].flags, 1);
	assert_string_equal(m.u.relation.cols[0].name.p, "id");
	assert_int_equal(m.u.relation.cols[0].type_oid, 23);
	assert_int_equal(m.u.relation.cols[0].typmod, -1);
	assert_int_equal(m.u.relation.cols[1].flags, 0);
	assert_int_equal(m.u.relation.cols[1].type_oid, 25);
	assert_string_equal(m.u.relation.cols[2].name.p, "n");
	assert_int_equal(m.u.relation.cols[2].type_oid, 1700);
	assert_int_equal(m.u.relation.cols[2].typmod, (6 << 16 | 2) + 4);

	parse_hex(&ps, captured[2], &m);
	assert_int_equal(m.kind, PGO_INSERT);
	assert_int_equal(m.u.change.relid, 0x4004);
	assert_int_equal(m.u.change.old_kind, 0);
	assert_int_equal(m.u.change.new.ncols, 3);
	assert_int_equal(m.u.change.new.cols[1].kind, PGO_COL_TEXT);
	assert_int_equal(m.u.change.new.cols[1].len, 6);
	assert_memory_equal(m.u.change.new.cols[1].data, "h\xc3\xa9llo", 6);
	assert_memory_equal(m.u.change.new.cols[2].data, "1.50", 4);

	parse_hex(&ps, captured[3], &m);
	assert_int_equal(m.u.change.new.cols[1].kind, PGO_COL_NULL);
	assert_null(m.u.change.new.cols[1].data);

	parse_hex(&ps, captured[4], &m);
	assert_int_equal(m.kind, PGO_COMMIT);
	assert_int_equal(m.u.commit.flags, 0);
	assert_int_equal(m.u.commit.commit_lsn, 0x156e5f0);
	assert_int_equal(m.u.commit.end_lsn, 0x156e620);

	parse_hex(&ps, captured[5], &m);
	assert_int_equal(m.kind, PGO_UPDATE);
	assert_int_equal(m.u.change.old_kind, 0);
	assert_memory_equal(m.u.change.new.cols[2].data, "2.25", 4);

	parse_hex(&ps, captured[6], &m);
	assert_int_equal(m.u.change.old_kind, 'K');
	assert_int_equal(m.u.change.old.ncols, 3);
	assert_memory_equal(m.u.change.old.cols[0].data, "2", 1);
	assert_int_equal(m.u.change.old.cols[1].kind, PGO_COL_NULL);
	assert_memory_equal(m.u.change.new.cols[0].data, "3", 1);
	/* old and new are separate arrays */
	assert_true(m.u.change.old.cols != m.u.change.new.cols);

	parse_hex(&ps, captured[7], &m);
	assert_int_equal(m.kind, PGO_DELETE);
	assert_int_equal(m.u.change.old_kind, 'K');
	assert_int_equal(m.u.change.new.ncols, 0);

	parse_hex(&ps, captured[8], &m);
	assert_int_equal(m.kind, PGO_TRUNCATE);
	assert_int_equal(m.u.truncate.nrels, 1);
	assert_int_equal(m.u.truncate.options, 0);
	assert_int_equal(pgo_truncate_relid(&m, 0), 0x4004);

	parse_hex(&ps, captured[9], &m);
	assert_int_equal(m.kind, PGO_MESSAGE);
	assert_int_equal(m.u.message.flags, 1);
	assert_int_equal(m.u.message.lsn, 0x156f510);
	assert_string_equal(m.u.message.prefix.p, "rowcast.outbox");
	assert_int_equal(m.u.message.content.len, 7);
	assert_memory_equal(m.u.message.content.p, "{\"a\":1}", 7);
	pgo_parser_free(&ps);
	pgo_parser_free(NULL);
}

/* Messages a short session does not produce, built by hand. */
static void build_others(struct msg *out, size_t *count)
{
	struct msg *m;
	size_t k = 0;

	m = &out[k++];	/* Origin */
	m_be(m, 'O', 1); m_be(m, 0x1234, 8); m_str(m, "node_a");
	m = &out[k++];	/* Type */
	m_be(m, 'Y', 1); m_be(m, 16400, 4); m_str(m, "public"); m_str(m, "mood");
	m = &out[k++];	/* Update with the old row, an unchanged TOAST column and a binary one */
	m_be(m, 'U', 1); m_be(m, 77, 4);
	m_be(m, 'O', 1); m_be(m, 2, 2); m_text(m, "1"); m_text(m, "old");
	m_be(m, 'N', 1); m_be(m, 3, 2); m_text(m, "1"); m_be(m, 'u', 1);
	m_be(m, 'b', 1); m_be(m, 2, 4); m_bytes(m, "\x00\x01", 2);
	m = &out[k++];	/* Delete with the old row */
	m_be(m, 'D', 1); m_be(m, 77, 4); m_be(m, 'O', 1); m_be(m, 1, 2); m_text(m, "9");
	m = &out[k++];	/* Truncate of two tables, CASCADE | RESTART IDENTITY */
	m_be(m, 'T', 1); m_be(m, 2, 4); m_be(m, 3, 1); m_be(m, 10, 4); m_be(m, 11, 4);
	m = &out[k++];	/* Relation, replica identity full, no columns */
	m_be(m, 'R', 1); m_be(m, 5, 4); m_str(m, "s"); m_str(m, ""); m_be(m, 'f', 1); m_be(m, 0, 2);
	m = &out[k++];	/* non-transactional message with empty content */
	m_be(m, 'M', 1); m_be(m, 0, 1); m_be(m, 99, 8); m_str(m, "hb"); m_be(m, 0, 4);
	*count = k;
}

static void test_others(void **state)
{
	struct msg ms[8] = { 0 };
	struct pgo_parser ps = { 0 };
	struct pgo_error err = { 0 };
	struct pgo_msg m;
	size_t n;

	(void)state;
	build_others(ms, &n);
	assert_true(pgo_parse(&ps, ms[0].p, ms[0].n, &m, &err));
	assert_int_equal(m.kind, PGO_ORIGIN);
	assert_int_equal(m.u.origin.commit_lsn, 0x1234);
	assert_string_equal(m.u.origin.name.p, "node_a");

	assert_true(pgo_parse(&ps, ms[1].p, ms[1].n, &m, &err));
	assert_int_equal(m.kind, PGO_TYPE);
	assert_int_equal(m.u.type.oid, 16400);
	assert_string_equal(m.u.type.nspname.p, "public");
	assert_string_equal(m.u.type.name.p, "mood");

	assert_true(pgo_parse(&ps, ms[2].p, ms[2].n, &m, &err));
	assert_int_equal(m.kind, PGO_UPDATE);
	assert_int_equal(m.u.change.relid, 77);
	assert_int_equal(m.u.change.old_kind, 'O');
	assert_int_equal(m.u.change.old.ncols, 2);
	assert_memory_equal(m.u.change.old.cols[1].data, "old", 3);
	assert_int_equal(m.u.change.new.ncols, 3);
	assert_int_equal(m.u.change.new.cols[1].kind, PGO_COL_UNCHANGED);
	assert_int_equal(m.u.change.new.cols[1].len, 0);
	assert_int_equal(m.u.change.new.cols[2].kind, PGO_COL_BINARY);
	assert_int_equal(m.u.change.new.cols[2].len, 2);

	assert_true(pgo_parse(&ps, ms[3].p, ms[3].n, &m, &err));
	assert_int_equal(m.kind, PGO_DELETE);
	assert_int_equal(m.u.change.old_kind, 'O');
	assert_memory_equal(m.u.change.old.cols[0].data, "9", 1);

	assert_true(pgo_parse(&ps, ms[4].p, ms[4].n, &m, &err));
	assert_int_equal(m.u.truncate.nrels, 2);
	assert_int_equal(m.u.truncate.options, 3);
	assert_int_equal(pgo_truncate_relid(&m, 1), 11);

	assert_true(pgo_parse(&ps, ms[5].p, ms[5].n, &m, &err));
	assert_int_equal(m.u.relation.replident, 'f');
	assert_int_equal(m.u.relation.ncols, 0);
	assert_int_equal(m.u.relation.relname.len, 0);

	assert_true(pgo_parse(&ps, ms[6].p, ms[6].n, &m, &err));
	assert_int_equal(m.u.message.flags, 0);
	assert_int_equal(m.u.message.content.len, 0);
	pgo_parser_free(&ps);
}

/* Protocol 2: inside Stream Start .. Stream Stop, changes carry the xid. */
static void test_stream(void **state)
{
	struct msg s = { 0 }, i = { 0 }, e = { 0 }, c = { 0 }, a = { 0 };
	struct pgo_parser ps = { 0 };
	struct pgo_error err = { 0 };
	struct pgo_msg m;

	(void)state;
	m_be(&s, 'S', 1); m_be(&s, 700, 4); m_be(&s, 1, 1);
	m_be(&i, 'I', 1); m_be(&i, 700, 4); m_be(&i, 42, 4); m_be(&i, 'N', 1); m_be(&i, 1, 2);
	m_text(&i, "x");
	m_be(&e, 'E', 1);
	m_be(&c, 'c', 1); m_be(&c, 700, 4); m_be(&c, 0, 1); m_be(&c, 0x100, 8); m_be(&c, 0x180, 8);
	m_be(&c, 12345, 8);
	m_be(&a, 'A', 1); m_be(&a, 700, 4); m_be(&a, 701, 4);

	assert_true(pgo_parse(&ps, s.p, s.n, &m, &err));
	assert_int_equal(m.kind, PGO_STREAM_START);
	assert_int_equal(m.xid, 700);
	assert_true(m.u.stream_start.first_segment);
	assert_true(pgo_parse(&ps, i.p, i.n, &m, &err));
	assert_true(m.has_xid);
	assert_int_equal(m.xid, 700);
	assert_int_equal(m.u.change.relid, 42);
	assert_true(pgo_parse(&ps, e.p, e.n, &m, &err));
	assert_int_equal(m.kind, PGO_STREAM_STOP);
	/* outside a stream the same Insert has 4 bytes too many */
	assert_false(pgo_parse(&ps, i.p, i.n, &m, &err));
	assert_true(pgo_parse(&ps, c.p, c.n, &m, &err));
	assert_int_equal(m.kind, PGO_STREAM_COMMIT);
	assert_int_equal(m.xid, 700);
	assert_int_equal(m.u.commit.commit_lsn, 0x100);
	assert_int_equal(m.u.commit.end_lsn, 0x180);
	assert_int_equal(m.u.commit.commit_time, 12345);
	assert_true(pgo_parse(&ps, a.p, a.n, &m, &err));
	assert_int_equal(m.kind, PGO_STREAM_ABORT);
	assert_int_equal(m.u.stream_abort.subxid, 701);
	pgo_parser_free(&ps);
}

static void expect_error(const uint8_t *p, size_t n, const char *want)
{
	struct pgo_parser ps = { 0 };
	struct pgo_error err = { 0 };
	struct pgo_msg m;

	assert_false(pgo_parse(&ps, p, n, &m, &err));
	assert_string_equal(err.msg, want);
	assert_int_equal(m.kind, 0);
	pgo_parser_free(&ps);
}

static void test_errors(void **state)
{
	uint8_t b[64];
	size_t n;

	(void)state;
	expect_error(NULL, 0, "offset 0: truncated message kind: 1 bytes needed, 0 left");
	expect_error((const uint8_t *)"Z", 1, "offset 0: unknown pgoutput message kind 'Z'");
	expect_error((const uint8_t *)"\x01", 1, "offset 0: unknown pgoutput message kind 0x01");
	n = unhex(captured[0], b);
	expect_error(b, n - 1, "offset 17: truncated Begin xid: 4 bytes needed, 3 left");
	b[n] = 0;
	expect_error(b, n + 1, "offset 21: 1 trailing bytes after 'B' message");
	n = unhex(captured[3], b);	/* I ... 'n' 'n': make the last column kind 'x' */
	b[n - 1] = 'x';
	expect_error(b, n, "offset 15: unknown column kind 0x78 in column 2");
	n = unhex(captured[7], b);	/* D with 'N' instead of 'K' */
	b[5] = 'N';
	expect_error(b, n, "offset 5: expected 'K' or 'O' (old tuple marker), got 0x4e");
	n = unhex(captured[1], b);	/* R with replica identity 'x' */
	b[14] = 'x';
	expect_error(b, n, "offset 14: unknown replica identity 0x78");
	n = unhex(captured[1], b);	/* R claiming 3000 columns */
	b[15] = 0x0b;
	b[16] = 0xb8;
	expect_error(b, n, "offset 15: Relation claims 3000 columns, only 34 bytes left");
	n = unhex(captured[1], b);	/* unterminated namespace */
	expect_error(b, 8, "offset 5: unterminated string (namespace)");
	n = unhex(captured[2], b);	/* I with a column length of 2^31 */
	b[9] = 0x80;
	expect_error(b, n, "offset 9: column 0 length 2147483649 out of range");
	n = unhex(captured[8], b);	/* T claiming 2 relations */
	b[4] = 2;
	expect_error(b, n, "offset 6: Truncate claims 2 relations, only 4 bytes left");
	n = unhex(captured[2], b);	/* I claiming 1000 columns */
	b[6] = 0x03;
	b[7] = 0xe8;
	expect_error(b, n, "offset 6: TupleData claims 1000 columns, only 26 bytes left");
	n = unhex(captured[5], b);	/* U with 'X' tuple marker */
	b[5] = 'X';
	expect_error(b, n, "offset 5: expected 'K', 'O' or 'N' (tuple marker), got 0x58");
	n = unhex(captured[6], b);	/* U K without the 'N' */
	b[16] = 'Z';
	expect_error(b, n, "offset 16: expected 'N' (new tuple marker), got 0x5a");
}

/* Every prefix of every message fails with an offset inside it; every
 * single-byte mutation parses or fails without reading out of bounds. */
static void check_robust(const uint8_t *src, size_t n)
{
	struct pgo_parser ps = { 0 };
	struct pgo_error err;
	struct pgo_msg m;
	uint8_t *p;

	for (size_t len = 0; len < n; len++) {
		/* a heap copy of exactly len bytes, so ASan sees any overread */
		p = malloc(len ? len : 1);
		assert_non_null(p);
		memcpy(p, src, len);
		memset(&err, 0, sizeof(err));
		if (pgo_parse(&ps, p, len, &m, &err))
			fail_msg("prefix of %zu of %zu bytes parsed as '%c'", len, n, m.kind);
		assert_true(err.offset <= len);
		assert_true(strncmp(err.msg, "offset ", 7) == 0);
		free(p);
		ps.in_stream = false;
	}
	p = malloc(n);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		static const uint8_t vals[] = { 0x00, 0xff, 0x7f, 0x80, 0x01, 'N', 'K', 'O', 't', 'u', 'n', 'b' };

		for (size_t v = 0; v < sizeof(vals); v++) {
			memcpy(p, src, n);
			p[i] = vals[v];
			memset(&err, 0, sizeof(err));
			if (!pgo_parse(&ps, p, n, &m, &err))
				assert_true(err.offset <= n && err.msg[0]);
			ps.in_stream = false;
		}
	}
	free(p);
	pgo_parser_free(&ps);
}

static void test_robust(void **state)
{
	uint8_t b[512];
	struct msg ms[8] = { 0 };
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
		n = unhex(captured[i], b);
		check_robust(b, n);
	}
	build_others(ms, &n);
	for (size_t i = 0; i < n; i++)
		check_robust(ms[i].p, ms[i].n);
}

static void test_frames(void **state)
{
	struct msg w = { 0 }, k = { 0 };
	struct pgo_frame f;
	struct pgo_error err = { 0 };
	uint8_t r[PGO_STATUS_UPDATE_LEN];
	static const uint8_t want_r[PGO_STATUS_UPDATE_LEN] = {
		0x72, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x02, 0xea, 0x32, 0xed, 0x11, 0x00, 0x00, 0x01,
	};

	(void)state;
	m_be(&w, 'w', 1); m_be(&w, 0x156e5f0, 8); m_be(&w, 0x156e700, 8); m_be(&w, 77, 8);
	m_bytes(&w, "E", 1);
	assert_true(pgo_parse_frame(w.p, w.n, &f, &err));
	assert_int_equal(f.kind, 'w');
	assert_int_equal(f.u.xlog.start_lsn, 0x156e5f0);
	assert_int_equal(f.u.xlog.end_lsn, 0x156e700);
	assert_int_equal(f.u.xlog.send_time, 77);
	assert_int_equal(f.u.xlog.len, 1);
	assert_ptr_equal(f.u.xlog.data, w.p + 25);

	m_be(&k, 'k', 1); m_be(&k, 0x200, 8); m_be(&k, 5, 8); m_be(&k, 1, 1);
	assert_true(pgo_parse_frame(k.p, k.n, &f, &err));
	assert_int_equal(f.kind, 'k');
	assert_int_equal(f.u.keepalive.end_lsn, 0x200);
	assert_int_equal(f.u.keepalive.send_time, 5);
	assert_true(f.u.keepalive.reply_requested);

	k.p[17] = 2;
	assert_false(pgo_parse_frame(k.p, k.n, &f, &err));
	assert_string_equal(err.msg, "offset 17: keepalive reply flag 2 is not 0 or 1");
	assert_false(pgo_parse_frame(k.p, k.n + 1, &f, &err));
	assert_false(pgo_parse_frame((const uint8_t *)"d", 1, &f, &err));
	assert_string_equal(err.msg, "offset 0: unknown replication frame kind 'd'");
	for (size_t len = 0; len < 25; len++) {
		uint8_t *p = malloc(len ? len : 1);

		memcpy(p, w.p, len);
		assert_false(pgo_parse_frame(p, len, &f, NULL));
		assert_int_equal(f.kind, 0);
		free(p);
	}
	for (size_t len = 0; len < k.n; len++)
		assert_false(pgo_parse_frame(k.p, len, &f, &err));

	/* 2026-01-01 00:00 UTC in µs since 2000: 820454400 s */
	pgo_build_status_update(r, 0x01020304, 0x010203, 0, INT64_C(820454400000000), true);
	assert_memory_equal(r, want_r, sizeof(r));
	assert_int_equal(PGO_EPOCH_OFFSET_US, INT64_C(946684800) * 1000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_captured),
		cmocka_unit_test(test_others),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_robust),
		cmocka_unit_test(test_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
