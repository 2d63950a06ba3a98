/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the decoder over hand-built MariaDB events (format
 * description, GTID, table map with column names, rows, XID), checked
 * against the exact native messages; and its errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/log.h"
#include "source/mysql/decoder.h"
#include "evbuild.h"
#include "route/native.h"

struct got {
	char msgs[16][1024];
	int nmsgs;
	char commits[8][128];
	int ncommits;
	uint64_t commit_next[8];
	struct decoder *d;
};

static bool g_row(void *ctx, const struct dec_trx *trx, const struct ch_row *row)
{
	struct got *g = ctx;
	struct rc_buf b = { 0 };

	native_format(&b, &trx->ch, row);
	snprintf(g->msgs[g->nmsgs++], sizeof(g->msgs[0]), "%s", b.data);
	buf_free(&b);
	return true;
}

static bool g_commit(void *ctx, const struct dec_trx *trx, const char *file, uint64_t next)
{
	struct got *g = ctx;

	(void)file;
	g->commit_next[g->ncommits] = next;
	snprintf(g->commits[g->ncommits++], sizeof(g->commits[0]), "%s", trx->ch.gtid);
	return true;
}

/* MariaDB 10.11 FORMAT_DESCRIPTION with a CRC32. */
static void fde(struct rc_buf *b, uint32_t base)
{
	size_t s = eb_begin(b, EV_FORMAT_DESCRIPTION, 1700000000, 1);
	char ver[50] = "10.11.6-MariaDB-log";

	eb_le(b, 4, 2);
	buf_append(b, ver, 50);
	eb_le(b, 0, 4);
	eb_le(b, 19, 1);
	for (int t = 1; t <= 168; t++) {
		int len = 0;

		switch (t) {
		case EV_QUERY: len = 13; break;
		case EV_ROTATE: len = 8; break;
		case EV_FORMAT_DESCRIPTION: len = 84; break;
		case EV_TABLE_MAP: len = 8; break;
		case EV_WRITE_ROWS_V1: case EV_UPDATE_ROWS_V1: case EV_DELETE_ROWS_V1: len = 8; break;
		case EV_MARIA_GTID: len = 19; break;
		case EV_GTID_LIST: len = 4; break;
		}
		eb_le(b, (uint64_t)len, 1);
	}
	eb_le(b, 1, 1);		/* checksum algorithm: CRC32 */
	eb_end(b, s, 1, base);
}

static void gtid(struct rc_buf *b, uint32_t base, uint64_t seq, uint32_t domain, uint32_t ts)
{
	size_t s = eb_begin(b, EV_MARIA_GTID, ts, 1);

	eb_le(b, seq, 8);
	eb_le(b, domain, 4);
	eb_le(b, 0x0c, 1);	/* flags2: transactional, allow parallel */
	eb_le(b, 0, 6);
	eb_end(b, s, 1, base);
}

/* shop.orders (id INT UNSIGNED, name VARCHAR(20) utf8mb4, n BIGINT) */
static void table_map(struct rc_buf *b, uint32_t base)
{
	size_t s = eb_begin(b, EV_TABLE_MAP, 1700000001, 1);
	struct rc_buf md = { 0 };

	eb_le(b, 42, 6);		/* table id */
	eb_le(b, 1, 2);
	eb_str8(b, "shop");
	buf_putc(b, 0);
	eb_str8(b, "orders");
	buf_putc(b, 0);
	eb_lenenc(b, 3);
	eb_le(b, 3, 1);			/* LONG */
	eb_le(b, 15, 1);		/* VARCHAR */
	eb_le(b, 8, 1);			/* LONGLONG */
	eb_lenenc(b, 2);		/* metadata: VARCHAR max 80 bytes */
	eb_le(b, 80, 2);
	eb_le(b, 0x06, 1);		/* nullable: name, n */
	/* optional metadata */
	eb_le(b, 1, 1);			/* SIGNEDNESS: first numeric unsigned */
	eb_lenenc(b, 1);
	eb_le(b, 0x80, 1);
	eb_le(b, 2, 1);			/* DEFAULT_CHARSET: utf8mb4_general_ci */
	eb_lenenc(b, 1);
	eb_lenenc(b, 45);
	eb_lenenc(&md, 2);
	buf_puts(&md, "id");
	eb_lenenc(&md, 4);
	buf_puts(&md, "name");
	eb_lenenc(&md, 1);
	buf_puts(&md, "n");
	eb_le(b, 4, 1);			/* COLUMN_NAME */
	eb_lenenc(b, md.len);
	buf_append(b, md.data, md.len);
	buf_free(&md);
	eb_end(b, s, 1, base);
}

static void rows_begin(struct rc_buf *b, uint8_t type, size_t *s, int update)
{
	*s = eb_begin(b, type, 1700000002, 1);
	eb_le(b, 42, 6);
	eb_le(b, 1, 2);			/* STMT_END_F */
	eb_lenenc(b, 3);
	eb_le(b, 0x07, 1);		/* all columns present */
	if (update)
		eb_le(b, 0x07, 1);
}

static void row_image(struct rc_buf *b, uint32_t id, const char *name, int64_t n, int null_n)
{
	eb_le(b, null_n ? 0x04 : 0x00, 1);
	eb_le(b, id, 4);
	eb_le(b, strlen(name), 1);
	buf_puts(b, name);
	if (!null_n)
		eb_le(b, (uint64_t)n, 8);
}

static void xid(struct rc_buf *b, uint32_t base)
{
	size_t s = eb_begin(b, EV_XID, 1700000003, 1);

	eb_le(b, 99, 8);
	eb_end(b, s, 1, base);
}

static void build_stream(struct rc_buf *b)
{
	size_t s;

	fde(b, 4);
	gtid(b, 4, 7, 0, 1700000000);
	table_map(b, 4);
	rows_begin(b, EV_WRITE_ROWS_V1, &s, 0);
	row_image(b, 4294967295u, "caf\xc3\xa9 \"x\"", INT64_MIN, 0);
	row_image(b, 2, "", 0, 1);
	eb_end(b, s, 1, 4);
	table_map(b, 4);	/* each statement maps its tables again */
	rows_begin(b, EV_UPDATE_ROWS_V1, &s, 1);
	row_image(b, 2, "", 0, 1);
	row_image(b, 2, "b", 5, 0);
	eb_end(b, s, 1, 4);
	table_map(b, 4);
	rows_begin(b, EV_DELETE_ROWS_V1, &s, 0);
	row_image(b, 2, "b", 5, 0);
	eb_end(b, s, 1, 4);
	xid(b, 4);
}

/* Feed the events in b one at a time. */
static bool feed_all(struct decoder *d, struct rc_buf *b, char *err, size_t errlen)
{
	size_t off = 0;

	decoder_set_file(d, "mysql-bin.000001", 4);
	while (off < b->len) {
		const uint8_t *p = (const uint8_t *)b->data + off;
		uint32_t size = (uint32_t)p[9] | (uint32_t)p[10] << 8 | (uint32_t)p[11] << 16 |
				(uint32_t)p[12] << 24;

		if (decoder_feed(d, p, size, err, errlen) != DEC_OK)
			return false;
		off += size;
	}
	return true;
}

static void test_rows_to_native(void **state)
{
	struct got g = { 0 };
	struct dec_callbacks cb = { .on_row = g_row, .on_commit = g_commit, .ctx = &g };
	struct rc_buf b = { 0 };
	char err[512];

	(void)state;
	build_stream(&b);
	g.d = decoder_new(&cb);
	err[0] = '\0';
	if (!feed_all(g.d, &b, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(g.nmsgs, 4);
	assert_string_equal(g.msgs[0],
		"{\"id\":\"0-1-7@0\",\"op\":\"insert\",\"db\":\"shop\",\"table\":\"orders\","
		"\"gtid\":\"0-1-7\",\"ts\":1700000000000,\"before\":null,"
		"\"after\":{\"id\":4294967295,\"name\":\"caf\xc3\xa9 \\\"x\\\"\",\"n\":-9223372036854775808}}");
	assert_string_equal(g.msgs[1],
		"{\"id\":\"0-1-7@1\",\"op\":\"insert\",\"db\":\"shop\",\"table\":\"orders\","
		"\"gtid\":\"0-1-7\",\"ts\":1700000000000,\"before\":null,"
		"\"after\":{\"id\":2,\"name\":\"\",\"n\":null}}");
	assert_string_equal(g.msgs[2],
		"{\"id\":\"0-1-7@2\",\"op\":\"update\",\"db\":\"shop\",\"table\":\"orders\","
		"\"gtid\":\"0-1-7\",\"ts\":1700000000000,"
		"\"before\":{\"id\":2,\"name\":\"\",\"n\":null},"
		"\"after\":{\"id\":2,\"name\":\"b\",\"n\":5}}");
	assert_string_equal(g.msgs[3],
		"{\"id\":\"0-1-7@3\",\"op\":\"delete\",\"db\":\"shop\",\"table\":\"orders\","
		"\"gtid\":\"0-1-7\",\"ts\":1700000000000,"
		"\"before\":{\"id\":2,\"name\":\"b\",\"n\":5},\"after\":null}");
	assert_int_equal(g.ncommits, 1);
	assert_string_equal(g.commits[0], "0-1-7");
	assert_int_equal(g.commit_next[0], 4 + b.len);
	decoder_free(g.d);
	buf_free(&b);
}

static void test_crc_mismatch(void **state)
{
	struct got g = { 0 };
	struct dec_callbacks cb = { .on_row = g_row, .on_commit = g_commit, .ctx = &g };
	struct rc_buf b = { 0 };
	char err[512];
	size_t at;

	(void)state;
	fde(&b, 4);
	at = b.len;
	gtid(&b, 4, 7, 0, 1700000000);
	b.data[at + EV_HEADER_LEN] ^= 1;	/* flip a bit of the seq_no */
	g.d = decoder_new(&cb);
	assert_false(feed_all(g.d, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "mysql-bin.000001:"));
	assert_non_null(strstr(err, "GTID(MariaDB) event: checksum mismatch"));
	decoder_free(g.d);
	buf_free(&b);
}

static void test_truncated_rows(void **state)
{
	struct got g = { 0 };
	struct dec_callbacks cb = { .on_row = g_row, .on_commit = g_commit, .ctx = &g };
	struct rc_buf b = { 0 };
	char err[512], want[200];
	size_t s, rows_at;

	(void)state;
	fde(&b, 4);
	gtid(&b, 4, 7, 0, 1700000000);
	table_map(&b, 4);
	rows_at = b.len;
	rows_begin(&b, EV_WRITE_ROWS_V1, &s, 0);
	eb_le(&b, 0, 1);
	eb_le(&b, 1, 2);	/* INT cut after 2 of 4 bytes */
	eb_end(&b, s, 1, 4);
	g.d = decoder_new(&cb);
	assert_false(feed_all(g.d, &b, err, sizeof(err)));
	snprintf(want, sizeof(want), "mysql-bin.000001:%zu: WRITE_ROWS_V1 event: table shop.orders column id (1): ",
		 rows_at + 4);
	assert_memory_equal(err, want, strlen(want));
	assert_int_equal(g.nmsgs, 0);
	decoder_free(g.d);
	buf_free(&b);
}

static void test_unknown_events(void **state)
{
	struct got g = { 0 };
	struct dec_callbacks cb = { .on_row = g_row, .on_commit = g_commit, .ctx = &g };
	struct rc_buf b = { 0 };
	char err[512];
	size_t s;

	(void)state;
	fde(&b, 4);
	s = eb_begin(&b, 200, 1, 1);
	b.data[s + 17] = (char)0x80;	/* LOG_EVENT_IGNORABLE_F */
	eb_le(&b, 1234, 4);
	eb_end(&b, s, 1, 4);
	g.d = decoder_new(&cb);
	assert_true(feed_all(g.d, &b, err, sizeof(err)));
	assert_int_equal(decoder_ignored(g.d), 1);
	decoder_free(g.d);

	b.data[s + 17] = 0;	/* not ignorable: an error (CRC still over the old flag) */
	s = b.len;
	g.d = decoder_new(&cb);
	assert_false(feed_all(g.d, &b, err, sizeof(err)));
	decoder_free(g.d);
	buf_free(&b);
}

/* MariaDB's fake Gtid_list, sent once the dump skipped the event groups
 * before a GTID start, moves the position to its log_pos: it is not in
 * the file (artificial, timestamp 0).  A real one takes its own bytes. */
static void test_fake_gtid_list_moves_position(void **state)
{
	struct got g = { 0 };
	struct dec_callbacks cb = { .on_row = g_row, .on_commit = g_commit, .ctx = &g };
	struct rc_buf b = { 0 };
	char err[512];
	const uint32_t skipped_to = 373081443;
	uint32_t base, trx_start;
	size_t s;

	(void)state;
	fde(&b, 4);
	s = eb_begin(&b, EV_GTID_LIST, 0, 1);
	eb_le(&b, 1, 4);		/* one GTID: 0-1-14 */
	eb_le(&b, 0, 4);
	eb_le(&b, 1, 4);
	eb_le(&b, 14, 8);
	b.data[s + 17] = EV_FLAG_ARTIFICIAL;
	/* log_pos = base + s + size: the position after the skipped groups */
	eb_end(&b, s, 1, skipped_to - (uint32_t)(b.len + 4));
	trx_start = (uint32_t)b.len;
	base = skipped_to - trx_start;	/* the next events follow that point */
	gtid(&b, base, 15, 0, 1700000000);
	table_map(&b, base);
	{
		size_t r;

		rows_begin(&b, EV_WRITE_ROWS_V1, &r, 0);
		row_image(&b, 1, "a", 1, 0);
		eb_end(&b, r, 1, base);
	}
	xid(&b, base);
	g.d = decoder_new(&cb);
	assert_true(feed_all(g.d, &b, err, sizeof(err)));
	assert_int_equal(g.ncommits, 1);
	assert_int_equal(g.commit_next[0], (uint64_t)skipped_to + (b.len - trx_start));
	decoder_free(g.d);

	/* fed alone, the fake event leaves the reader at its log_pos */
	b.len = trx_start;
	g.d = decoder_new(&cb);
	assert_true(feed_all(g.d, &b, err, sizeof(err)));
	assert_int_equal(decoder_next_offset(g.d), skipped_to);
	decoder_free(g.d);

	/* a Gtid_list of the file's own takes its bytes */
	b.len = s;
	s = eb_begin(&b, EV_GTID_LIST, 1700000000, 1);
	eb_le(&b, 0, 4);
	eb_end(&b, s, 1, 4);
	g.d = decoder_new(&cb);
	assert_true(feed_all(g.d, &b, err, sizeof(err)));
	assert_int_equal(decoder_next_offset(g.d), 4 + b.len);
	decoder_free(g.d);
	buf_free(&b);
}

/* Every prefix of a valid stream, and every single-bit flip, fails cleanly. */
static void test_no_crash_on_damage(void **state)
{
	struct got g;
	struct dec_callbacks cb = { .on_row = g_row, .on_commit = g_commit, .ctx = &g };
	struct rc_buf b = { 0 };
	char err[512];

	(void)state;
	build_stream(&b);
	for (size_t cut = 0; cut < b.len; cut += 3) {
		struct decoder *d;
		size_t off = 0;

		memset(&g, 0, sizeof(g));
		d = g.d = decoder_new(&cb);
		decoder_set_file(d, "x", 4);
		while (off < cut) {
			const uint8_t *p = (const uint8_t *)b.data + off;
			size_t avail = cut - off;
			uint32_t size = avail >= 13 ? ((uint32_t)p[9] | (uint32_t)p[10] << 8) : 19;

			if (size > avail)
				size = (uint32_t)avail;
			if (decoder_feed(d, p, size, err, sizeof(err)) != DEC_OK)
				break;
			off += size;
		}
		decoder_free(d);
	}
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_to_native),
		cmocka_unit_test(test_crc_mismatch),
		cmocka_unit_test(test_truncated_rows),
		cmocka_unit_test(test_unknown_events),
		cmocka_unit_test(test_fake_gtid_list_moves_position),
		cmocka_unit_test(test_no_crash_on_damage),
	};
	log_setup(LOG_ERROR, 0, "test");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
