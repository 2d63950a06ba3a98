/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of envelope_format(): hand-built tables and row images (the
 * value texts are native JSON as rowcast-format(7) defines them, so no
 * decoder is involved) formatted as every envelope and compared byte for
 * byte with tests/golden/envelope/<name>.json (the message, then one
 * newline).
 *
 * The golden files were computed independently of envelope.c, from the
 * documented rules below, with Python's datetime, decimal, base64, struct
 * and json modules; the numbers quoted here come from that computation.
 *
 * Debezium rules (Debezium MySQL connector documentation, 2.x, section
 * "Data type mappings", default settings; values as Kafka's JsonConverter
 * writes them with schemas.enable=false, which writes BYTES as base64):
 *  [D-basic]   Basic types table: TINYINT/SMALLINT -> INT16, MEDIUMINT/INT
 *              -> INT32, BIGINT -> INT64, FLOAT/DOUBLE -> FLOAT32/FLOAT64,
 *              CHAR/VARCHAR/TEXT -> STRING, BINARY/VARBINARY/BLOB -> BYTES
 *              (binary.handling.mode=bytes), ENUM -> io.debezium.data.Enum
 *              and SET -> io.debezium.data.EnumSet (STRING, the SET's
 *              members comma-separated as MySQL writes them), YEAR ->
 *              io.debezium.time.Year (INT32).
 *  [D-bit]     Basic types: BIT(1) -> BOOLEAN; BIT(>1) -> BYTES
 *              io.debezium.data.Bits, "little-endian form", numBytes =
 *              n/8 + (n%8 == 0 ? 0 : 1).
 *  [D-json]    Basic types: JSON -> STRING io.debezium.data.Json, "the
 *              string representation of a JSON document, array, or scalar".
 *  [D-ts]      Basic types: TIMESTAMP[(M)] -> STRING
 *              io.debezium.time.ZonedTimestamp, ISO 8601; temporal types
 *              example: TIMESTAMP 2018-06-20 06:37:03 (server zone
 *              America/Los_Angeles) -> "2018-06-20T13:37:03Z".  Fractional
 *              digits as many as the column's precision: DBZ-5996 (Debezium
 *              pull request 4186: TIMESTAMP(6) ...123000 stays ".123000").
 *  [D-date]    time.precision.mode=adaptive_time_microseconds (default):
 *              DATE -> INT32 io.debezium.time.Date, days since the epoch.
 *  [D-dt]      same table: DATETIME, DATETIME(0..3) -> INT64
 *              io.debezium.time.Timestamp, ms past the epoch (no zone, read
 *              as UTC); temporal example: DATETIME 2018-06-20 06:37:03 ->
 *              1529476623000.
 *  [D-dt6]     same table: DATETIME(4..6) -> INT64
 *              io.debezium.time.MicroTimestamp, µs past the epoch.
 *  [D-time]    same table: TIME[(M)] -> INT64 io.debezium.time.MicroTime, µs.
 *  [D-zero]    temporal types: zero values of DATE, DATETIME and TIMESTAMP
 *              are null when the column allows null, else the epoch.
 *  [D-dec]     decimal.handling.mode=precise (default): DECIMAL -> BYTES
 *              org.apache.kafka.connect.data.Decimal (Kafka Connect: the
 *              unscaled value as big-endian two's-complement bytes, as Java's
 *              BigInteger.toByteArray(), the scale in the schema).
 *  [D-decstr]  decimal.handling.mode=string: DECIMAL -> STRING.
 *  [D-geo]     Spatial types: GEOMETRY... -> STRUCT
 *              io.debezium.data.geometry.Geometry with srid (INT32) and wkb
 *              (BYTES); MySQL stores SRID (4 bytes, LE) then the WKB.
 *  [D-event]   "Data change events": value fields before, after, source,
 *              op ("c", "u", "d"), ts_ms; source fields version, connector,
 *              name, ts_ms, snapshot, db, sequence, table, server_id, gtid,
 *              file, pos, row, thread, query (schema-change example has them
 *              in this order with "snapshot":"false").
 *
 * Maxwell rules (Maxwell documentation, docs/docs/dataformat.md):
 *  [M-event]   insert/update/delete examples: database, table, type, ts
 *              (seconds), data; update adds "old" holding only the changed
 *              columns' previous values; delete's data is the row before.
 *  [M-dt]      "Datetime columns are output as YYYY-MM-DD hh:mm:ss strings",
 *              microseconds kept (example: timestamp(6) column
 *              "2016-10-21 05:33:37.523000"), and zero dates reproduced
 *              faithfully ("0000-00-00 00:00:00").
 *  [M-set]     "sets: output as JSON arrays" (["b_val","c_val"]).
 *  [M-blob]    BLOB, BINARY, VARBINARY base64.
 *  [M-num]     numbers as JSON numbers (example "m":4.2341); DECIMAL is a
 *              BigDecimal written as a number.
 *  Not in the documentation, from Maxwell's column classes: BIT is an
 *  integer (BitColumnDef), JSON columns the raw JSON (JsonColumnDef),
 *  GEOMETRY the WKT text of JTS's toText() (GeometryColumnDef).
 *
 * CloudEvents 1.0 (spec, JSON event format, structured mode): specversion,
 * id, source, type, subject, time (RFC 3339), datacontenttype, data.
 *
 * Snapshots (issue 15), expected strings written out in the tests:
 *  [D-snap]    Debezium: a row a snapshot read has op "r", before null, and
 *              source.snapshot one of the documented enum values
 *              (true, first, first_in_data_collection,
 *              last_in_data_collection, last, false, incremental): "true"
 *              in an initial snapshot, "incremental" in an incremental
 *              (ad hoc, on demand) one; the connector's snapshot records
 *              carry "row":0, thread and query null.  No table markers.
 *  [M-boot]    Maxwell, docs/docs/bootstrapping.md: a bootstrap is an event
 *              of type "bootstrap-start", one "bootstrap-insert" per row
 *              (data: the row), then "bootstrap-complete"; start and
 *              complete have "data":{}.
 *  [N-snap]    rowcast-format(7), SNAPSHOTS: op "read" with a trailing
 *              "snapshot":{"id","on_demand","chunk"}; markers op
 *              "snapshot-start" (rows_estimated) and "snapshot-complete"
 *              (rows), id "snapshot-<id>-<db>.<table>-start|-complete".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/envelope.h"
#include "route/native.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif
#define GOLDEN_DIR TEST_SRCDIR "/tests/golden/envelope/"

struct val {
	uint8_t state;
	const char *text;
};

#define V(s) { CH_VALUE, s }
#define NUL { CH_NULL, NULL }
#define ABS { CH_ABSENT, NULL }

/* A nullable column of a logical type (with its MySQL name); NN_COL a NOT
 * NULL one. */
#define COL(n, t, nt, ...) { .name = n, .name_len = sizeof(n) - 1, .type = t, \
			     .native_type = nt, .nullable = true, __VA_ARGS__ }
#define NN_COL(n, t, nt, ...) { .name = n, .name_len = sizeof(n) - 1, .type = t, \
				.native_type = nt, .nullable = false, __VA_ARGS__ }

/* ---------------- the table with every type ---------------- */

static struct ch_column all_cols[] = {
	NN_COL("id", CT_INT, "int"),
	COL("ti", CT_INT, "tinyint"),
	COL("si", CT_INT, "smallint"),
	COL("mi", CT_INT, "mediumint"),
	COL("bi", CT_INT, "bigint"),
	COL("bu", CT_UINT, "bigint"),
	COL("dec", CT_DECIMAL, "decimal", .precision = 10, .scale = 2),
	COL("fl", CT_FLOAT, "float"),
	COL("db", CT_DOUBLE, "double"),
	COL("d", CT_DATE, "date"),
	COL("dt", CT_DATETIME, "datetime", .fsp = 0),
	COL("dt3", CT_DATETIME, "datetime", .fsp = 3),
	COL("dt6", CT_DATETIME, "datetime", .fsp = 6),
	COL("ts", CT_TIMESTAMP, "timestamp", .fsp = 0),
	COL("ts6", CT_TIMESTAMP, "timestamp", .fsp = 6),
	COL("tm", CT_TIME, "time", .fsp = 0),
	COL("tm6", CT_TIME, "time", .fsp = 6),
	COL("yr", CT_YEAR, "year"),
	COL("vc", CT_STRING, "varchar"),
	COL("vb", CT_BINARY, "varbinary"),
	COL("bl", CT_BINARY, "blob"),
	COL("en", CT_ENUM, "enum"),
	COL("st", CT_SET, "set"),
	COL("b1", CT_BIT, "bit", .bits = 1),
	COL("b10", CT_BIT, "bit", .bits = 10),
	COL("js", CT_JSON, "json"),
	COL("geo", CT_GEOMETRY, "geometry"),
	COL("note", CT_STRING, "varchar"),
};
#define ALL_N (sizeof(all_cols) / sizeof(all_cols[0]))

/*
 * The inserted row.  Expected values, by rule:
 *  ti..bu          as is [D-basic]; BIGINT UNSIGNED 18446744073709551615
 *                  kept exact (see the report: Debezium's long mode would
 *                  wrap it to -1)
 *  dec -12.50      unscaled -1250 = 0xFB1E -> "+x4=" [D-dec]; Maxwell -12.50
 *                  [M-num]
 *  d 2018-06-20    17702 days [D-date]
 *  dt              1529476623000 (the documented example) [D-dt]
 *  dt3 .123        1529476623123 [D-dt]
 *  dt6 .123456     1529476623123456 [D-dt6]
 *  ts              "2018-06-20T13:37:03Z" (the documented example) [D-ts];
 *                  Maxwell "2018-06-20 13:37:03" [M-dt]
 *  ts6             "2018-06-20T13:37:03.123000Z" [D-ts]
 *  tm 12:34:56     45296000000 µs [D-time]
 *  tm6 00:00:01.000001  1000001 µs [D-time]
 *  vb 00 01 02     "AAEC" [D-basic] [M-blob]
 *  st a,c          "a,c" [D-basic]; ["a","c"] [M-set]
 *  b1 1            true [D-bit]; Maxwell 1
 *  b10 513         0x0201 little-endian: 01 02 -> "AQI=" [D-bit]; Maxwell 513
 *  js              "{\"a\":[1,2]}" [D-json]; Maxwell {"a":[1,2]}
 *  geo SRID 4326 + POINT(1 2)  {"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA",
 *                  "srid":4326} [D-geo]; Maxwell "POINT (1 2)"
 */
static const struct val all_ins[ALL_N] = {
	V("1"), /* id */
	V("-5"), /* ti */
	V("1234"), /* si */
	V("-8388608"), /* mi */
	V("-9223372036854775808"), /* bi */
	V("18446744073709551615"), /* bu */
	V("\"-12.50\""), /* dec */
	V("1.5"), /* fl */
	V("3.141592653589793"), /* db */
	V("\"2018-06-20\""), /* d */
	V("\"2018-06-20 06:37:03\""), /* dt */
	V("\"2018-06-20 06:37:03.123\""), /* dt3 */
	V("\"2018-06-20 06:37:03.123456\""), /* dt6 */
	V("\"2018-06-20 13:37:03Z\""), /* ts */
	V("\"2018-06-20 13:37:03.123000Z\""), /* ts6 */
	V("\"12:34:56\""), /* tm */
	V("\"00:00:01.000001\""), /* tm6 */
	V("2018"), /* yr */
	V("\"héllo \\\"q\\\"\""), /* vc */
	V("\"AAEC\""), /* vb */
	V("\"3q2+7w==\""), /* bl */
	V("\"M\""), /* en */
	V("\"a,c\""), /* st */
	V("1"), /* b1 */
	V("513"), /* b10 */
	V("{\"a\":[1,2]}"), /* js */
	V("\"5hAAAAEBAAAAAAAAAAAA8D8AAAAAAAAAQA==\""), /* geo */
	NUL, /* note */
};

/* The update's after image: dec 19.90 (unscaled 1990 = 0x07C6 -> "B8Y="),
 * ts6 13:38:00.000000 (".000000" kept, DBZ-5996), tm6 -01:00:00.5
 * (-3600500000 µs), vc, st empty ("" / []), b1 false, geo SRID 0
 * POINT(3.5 -4.25), note NULL -> "x". */
static const struct val all_upd[ALL_N] = {
	V("1"), /* id */
	V("-5"), /* ti */
	V("1234"), /* si */
	V("-8388608"), /* mi */
	V("-9223372036854775808"), /* bi */
	V("18446744073709551615"), /* bu */
	V("\"19.90\""), /* dec */
	V("1.5"), /* fl */
	V("3.141592653589793"), /* db */
	V("\"2018-06-20\""), /* d */
	V("\"2018-06-20 06:37:03\""), /* dt */
	V("\"2018-06-20 06:37:03.123\""), /* dt3 */
	V("\"2018-06-20 06:37:03.123456\""), /* dt6 */
	V("\"2018-06-20 13:37:03Z\""), /* ts */
	V("\"2018-06-20 13:38:00.000000Z\""), /* ts6 */
	V("\"12:34:56\""), /* tm */
	V("\"-01:00:00.500000\""), /* tm6 */
	V("2018"), /* yr */
	V("\"bye\""), /* vc */
	V("\"AAEC\""), /* vb */
	V("\"3q2+7w==\""), /* bl */
	V("\"M\""), /* en */
	V("\"\""), /* st */
	V("0"), /* b1 */
	V("513"), /* b10 */
	V("{\"a\":[1,2]}"), /* js */
	V("\"AAAAAAEBAAAAAAAAAAAADEAAAAAAAAARwA==\""), /* geo */
	V("\"x\""), /* note */
};

/* ---------------- zero dates and NULLs ---------------- */

static struct ch_column zero_cols[] = {
	NN_COL("id", CT_INT, "int"),
	COL("d_null", CT_DATE, "date"),
	NN_COL("d_nn", CT_DATE, "date"),
	COL("d_part", CT_DATE, "date"),
	COL("dt_null", CT_DATETIME, "datetime"),		/* the old DATETIME type: fsp 0 */
	NN_COL("dt_nn", CT_DATETIME, "datetime", .fsp = 6),
	COL("ts_null", CT_TIMESTAMP, "timestamp"),		/* the old TIMESTAMP type */
	NN_COL("ts_nn", CT_TIMESTAMP, "timestamp", .fsp = 3),
	COL("v", CT_STRING, "varchar"),
};

/* [D-zero]: nullable zero dates -> null; NOT NULL ones -> the epoch: DATE 0,
 * DATETIME 0, TIMESTAMP(3) "1970-01-01T00:00:00.000Z".  "2018-00-10" (a
 * zero month) is treated as a zero date too.  Maxwell keeps them [M-dt]. */
static const struct val zero_row[] = {
	V("7"), /* id */
	V("\"0000-00-00\""), /* d_null */
	V("\"0000-00-00\""), /* d_nn */
	V("\"2018-00-10\""), /* d_part */
	V("\"0000-00-00 00:00:00\""), /* dt_null */
	V("\"0000-00-00 00:00:00.000000\""), /* dt_nn */
	V("\"0000-00-00 00:00:00\""), /* ts_null */
	V("\"0000-00-00 00:00:00.000\""), /* ts_nn */
	NUL, /* v */
};

/* ---------------- decimals ---------------- */

static struct ch_column dec_cols[] = {
	NN_COL("id", CT_INT, "int"),
	COL("a", CT_DECIMAL, "decimal", .precision = 5, .scale = 2),
	COL("b", CT_DECIMAL, "decimal", .precision = 5, .scale = 2),
	COL("c", CT_DECIMAL, "decimal", .precision = 5, .scale = 2),
	COL("e", CT_DECIMAL, "decimal", .precision = 5, .scale = 2),
	COL("f", CT_DECIMAL, "decimal", .precision = 5, .scale = 2),
	COL("g", CT_DECIMAL, "decimal", .precision = 65, .scale = 30),
	COL("h", CT_DECIMAL, "decimal", .precision = 65, .scale = 30),
	COL("k", CT_DECIMAL, "decimal", .precision = 10, .scale = 0),
};

/*
 * [D-dec], minimal two's complement (BigInteger.toByteArray):
 *  1.28  -> 128   -> 00 80 "AIA=" (a sign byte is needed)
 * -1.28  -> -128  -> 80    "gA=="
 * -1.29  -> -129  -> FF 7F "/38="
 * -0.01  -> -1    -> FF    "/w=="
 *  0.00  -> 0     -> 00    "AA=="
 *  g, h  65 digits: 27 and 28 bytes (Python int.to_bytes(signed=True) of the
 *        digits without the point)
 *  128 (scale 0)  -> 00 80 "AIA="
 */
static const struct val dec_row[] = {
	V("9"), /* id */
	V("\"1.28\""), /* a */
	V("\"-1.28\""), /* b */
	V("\"-1.29\""), /* c */
	V("\"-0.01\""), /* e */
	V("\"0.00\""), /* f */
	V("\"12345678901234567890123456789012345.123456789012345678901234567890\""), /* g */
	V("\"-99999999999999999999999999999999999.999999999999999999999999999999\""), /* h */
	V("\"128\""), /* k */
};

/* ---------------- geometry ---------------- */

static struct ch_column geo_cols[] = {
	NN_COL("id", CT_INT, "int"),
	COL("p_be", CT_GEOMETRY, "geometry"),
	COL("p_frac", CT_GEOMETRY, "geometry"),
	COL("ls", CT_GEOMETRY, "geometry"),
	COL("pg", CT_GEOMETRY, "geometry"),
	COL("mp", CT_GEOMETRY, "geometry"),
	COL("ml", CT_GEOMETRY, "geometry"),
	COL("mpg", CT_GEOMETRY, "geometry"),
	COL("gc", CT_GEOMETRY, "geometry"),
	COL("gce", CT_GEOMETRY, "geometry"),
};

/*
 * SRID + WKB (OGC Simple Features, WKB: byte order, type 1..7, counts,
 * IEEE doubles).  p_be is a big-endian POINT(-71.0625 42.5) with SRID 4326;
 * p_frac POINT(0.1 1e21) (WKT: shortest digits, no exponent); the others
 * LINESTRING, POLYGON with a hole (SRID 3857), MULTIPOINT, MULTILINESTRING,
 * MULTIPOLYGON, GEOMETRYCOLLECTION and an empty GEOMETRYCOLLECTION.
 * Debezium splits SRID and WKB [D-geo]; Maxwell writes WKT as JTS does
 * ("POINT (1 2)", "MULTIPOINT ((1 2), (3 4))", "... EMPTY").
 */
static const struct val geo_row[] = {
	V("10"), /* id */
	V("\"5hAAAAAAAAABwFHEAAAAAABARUAAAAAAAA==\""), /* p_be */
	V("\"AAAAAAEBAAAAmpmZmZmZuT9Q7+LW5BpLRA==\""), /* p_frac */
	V("\"AAAAAAECAAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAkQAAAAAAAAOA/\""), /* ls */
	V("\"EQ8AAAEDAAAAAgAAAAUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEEAAAAAAAAAAAAAAAAAAABBAAAAAAAAAEEAAAAAAAAAAAAAAAAAAABBAAAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAADwPwAAAAAAAPA/AAAAAAAAAEAAAAAAAADwPwAAAAAAAABAAAAAAAAAAEAAAAAAAADwPwAAAAAAAPA/\""), /* pg */
	V("\"AAAAAAEEAAAAAgAAAAEBAAAAAAAAAAAA8D8AAAAAAAAAQAEBAAAAAAAAAAAACEAAAAAAAAAQQA==\""), /* mp */
	V("\"AAAAAAEFAAAAAQAAAAECAAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAkQAAAAAAAAOA/\""), /* ml */
	V("\"AAAAAAEGAAAAAQAAAAEDAAAAAgAAAAUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEEAAAAAAAAAAAAAAAAAAABBAAAAAAAAAEEAAAAAAAAAAAAAAAAAAABBAAAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAADwPwAAAAAAAPA/AAAAAAAAAEAAAAAAAADwPwAAAAAAAABAAAAAAAAAAEAAAAAAAADwPwAAAAAAAPA/\""), /* mpg */
	V("\"AAAAAAEHAAAAAgAAAAEBAAAAAAAAAAAA8D8AAAAAAAAAQAECAAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAkQAAAAAAAAOA/\""), /* gc */
	V("\"AAAAAAEHAAAAAAAAAA==\""), /* gce */
};

/* ---------------- building rows ---------------- */

struct img {
	struct ch_image im;
	uint32_t off[64], len[64];
	uint8_t state[64];
};

static void img_build(struct img *g, const struct val *v, uint32_t n)
{
	memset(g, 0, sizeof(*g));
	assert_true(n <= 64);
	g->im.off = g->off;
	g->im.len = g->len;
	g->im.state = g->state;
	g->im.cap = n;
	buf_reserve(&g->im.text, 1);
	for (uint32_t i = 0; i < n; i++) {
		g->state[i] = v[i].state;
		if (v[i].state != CH_VALUE)
			continue;
		g->off[i] = (uint32_t)g->im.text.len;
		g->len[i] = (uint32_t)strlen(v[i].text);
		buf_puts(&g->im.text, v[i].text);
	}
}

static void img_free(struct img *g)
{
	buf_free(&g->im.text);
}

/* What the formatters cached in a hand-built table (the decoder frees it
 * for the tables it makes). */
static void tbl_free(struct ch_table *t)
{
	buf_free(&t->keys);
	free(t->key_end);
}

static struct ch_table mk_table(const char *name, struct ch_column *cols, uint32_t n)
{
	struct ch_table t;

	memset(&t, 0, sizeof(t));
	t.db = "shop";
	t.name = name;
	t.cols = cols;
	t.ncols = n;
	t.names_known = true;
	return t;
}

/* Transaction 1: MariaDB GTID 0-1-42, committed 2018-06-20T13:37:03.123Z
 * (1529501823123 ms). */
static struct ch_trx trx_gtid(void)
{
	struct ch_trx t;

	memset(&t, 0, sizeof(t));
	strcpy(t.gtid, "0-1-42");
	strcpy(t.id, "0-1-42");
	t.ts_ms = 1529501823123;
	return t;
}

/* Transaction 2: no GTID, starts at mysql-bin.000003:805, 1529501824000 ms. */
static struct ch_trx trx_plain(void)
{
	struct ch_trx t;

	memset(&t, 0, sizeof(t));
	strcpy(t.id, "mysql-bin.000003:805");
	t.ts_ms = 1529501824000;
	return t;
}

static const struct envelope_opts dbz_opts = {
	.kind = ENV_DEBEZIUM, .server_name = "rowcast", .server_id = 223344,
};
static const struct envelope_opts mx_opts = { .kind = ENV_MAXWELL };
static const struct envelope_opts ce_opts = {
	.kind = ENV_CLOUDEVENTS, .source_uri = "rowcast://db-host:3306",
};

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long sz;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)sz + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	p[sz] = '\0';
	*n = (size_t)sz;
	return p;
}

/* Format twice into a used buffer (it must be reset, and the output must
 * not depend on what was there) and compare with the golden file. */
static void check(const char *golden, const struct envelope_opts *o, const struct ch_trx *trx,
		  uint64_t offset, const struct ch_row *row)
{
	struct rc_buf out = { 0 };
	char path[512];
	size_t n;
	char *want;

	snprintf(path, sizeof(path), "%s%s.json", GOLDEN_DIR, golden);
	want = slurp(path, &n);
	assert_true(n > 0 && want[n - 1] == '\n');
	want[--n] = '\0';
	buf_puts(&out, "left over from the last message");
	for (int round = 0; round < 2; round++) {
		envelope_format(&out, o, trx, "mysql-bin.000003", offset, row);
		if (out.len != n || memcmp(out.data, want, n) != 0) {
			print_error("%s:\n got: %s\nwant: %s\n", golden, out.data, want);
			fail();
		}
		assert_int_equal(strlen(out.data), out.len);
	}
	free(want);
	buf_free(&out);
}

/* ---------------- tests ---------------- */

static void test_native(void **state)
{
	struct ch_table t = mk_table("all_types", all_cols, ALL_N);
	struct ch_trx trx = trx_gtid();
	struct img a;
	struct ch_row row = { .table = &t, .op = CH_INSERT, .index = 0 };
	struct envelope_opts o = { .kind = ENV_NATIVE };
	struct rc_buf want = { 0 };

	(void)state;
	img_build(&a, all_ins, ALL_N);
	row.after = &a.im;
	check("native_insert", &o, &trx, 484, &row);
	/* exactly native_format() */
	native_format(&want, &trx, &row);
	{
		struct rc_buf got = { 0 };

		envelope_format(&got, &o, &trx, "mysql-bin.000003", 484, &row);
		assert_string_equal(got.data, want.data);
		buf_free(&got);
	}
	buf_free(&want);
	img_free(&a);
	tbl_free(&t);
}

static void all_rows(const char *insert, const char *update, const char *delete,
		     const struct envelope_opts *o)
{
	struct ch_table t = mk_table("all_types", all_cols, ALL_N);
	struct ch_trx t1 = trx_gtid(), t2 = trx_plain();
	struct img a, b;
	struct ch_row row = { .table = &t };

	img_build(&a, all_ins, ALL_N);
	img_build(&b, all_upd, ALL_N);
	row.op = CH_INSERT;
	row.after = &a.im;
	row.index = 0;
	check(insert, o, &t1, 484, &row);
	row.op = CH_UPDATE;
	row.before = &a.im;
	row.after = &b.im;
	row.index = 1;
	check(update, o, &t1, 484, &row);
	row.op = CH_DELETE;
	row.before = &b.im;
	row.after = NULL;
	row.index = 0;
	check(delete, o, &t2, 805, &row);
	img_free(&a);
	img_free(&b);
	tbl_free(&t);
}

static void test_debezium_rows(void **state)
{
	(void)state;
	/* [D-event]: insert has before null, delete after null; no GTID ->
	 * "gtid":null; "pos" is the event offset, "row" the row's index. */
	all_rows("debezium_insert", "debezium_update", "debezium_delete", &dbz_opts);
}

static void test_maxwell_rows(void **state)
{
	(void)state;
	/* [M-event]: update's "old" holds dec, ts6, tm6, vc, st, b1, geo and
	 * note (NULL before) only; delete's "data" is the before image. */
	all_rows("maxwell_insert", "maxwell_update", "maxwell_delete", &mx_opts);
}

/* binlog_row_image=MINIMAL: before has the key, after what changed; absent
 * columns stay out of every image. */
static void minimal(const char *golden, const struct envelope_opts *o)
{
	struct ch_table t = mk_table("all_types", all_cols, ALL_N);
	struct ch_trx t1 = trx_gtid();
	struct val bv[ALL_N], av[ALL_N];
	struct img a, b;
	struct ch_row row = { .table = &t, .op = CH_UPDATE, .index = 2 };

	for (size_t i = 0; i < ALL_N; i++)
		bv[i] = av[i] = (struct val)ABS;
	bv[0] = (struct val)V("1");
	av[6] = (struct val)V("\"0.00\"");	/* dec: 0 -> 00 -> "AA==" [D-dec] */
	av[18] = (struct val)V("\"min\"");
	av[27] = (struct val)NUL;
	img_build(&b, bv, ALL_N);
	img_build(&a, av, ALL_N);
	row.before = &b.im;
	row.after = &a.im;
	check(golden, o, &t1, 484, &row);
	img_free(&a);
	img_free(&b);
	tbl_free(&t);
}

static void test_minimal(void **state)
{
	(void)state;
	minimal("debezium_minimal", &dbz_opts);
	/* Maxwell: data = the after image as logged; "old" is empty as no
	 * column is in both images. */
	minimal("maxwell_minimal", &mx_opts);
}

static void one_insert(const char *golden, const struct envelope_opts *o, const char *table,
		       struct ch_column *cols, const struct val *v, uint32_t n, uint64_t index)
{
	struct ch_table t = mk_table(table, cols, n);
	struct ch_trx t1 = trx_gtid();
	struct img a;
	struct ch_row row = { .table = &t, .op = CH_INSERT, .index = index };

	img_build(&a, v, n);
	row.after = &a.im;
	check(golden, o, &t1, 484, &row);
	img_free(&a);
	tbl_free(&t);
}

#define NCOLS(c) ((uint32_t)(sizeof(c) / sizeof(c[0])))

static void test_zero_dates(void **state)
{
	(void)state;
	one_insert("debezium_zero", &dbz_opts, "zeros", zero_cols, zero_row, NCOLS(zero_cols), 3);
	one_insert("maxwell_zero", &mx_opts, "zeros", zero_cols, zero_row, NCOLS(zero_cols), 3);
}

static void test_decimals(void **state)
{
	struct envelope_opts s = dbz_opts;

	(void)state;
	one_insert("debezium_decimal", &dbz_opts, "decimals", dec_cols, dec_row, NCOLS(dec_cols), 4);
	/* [D-decstr]: the digits with the column's scale, as a string */
	s.decimal_string = true;
	one_insert("debezium_decimal_string", &s, "decimals", dec_cols, dec_row, NCOLS(dec_cols), 4);
	one_insert("maxwell_decimal", &mx_opts, "decimals", dec_cols, dec_row, NCOLS(dec_cols), 4);
}

static void test_geometry(void **state)
{
	(void)state;
	one_insert("debezium_geometry", &dbz_opts, "geo", geo_cols, geo_row, NCOLS(geo_cols), 5);
	one_insert("maxwell_geometry", &mx_opts, "geo", geo_cols, geo_row, NCOLS(geo_cols), 5);
}

static void test_cloudevents(void **state)
{
	struct ch_table t = mk_table("all_types", all_cols, ALL_N);
	struct ch_trx t1 = trx_gtid(), t2 = trx_plain();
	struct envelope_opts o = ce_opts;
	struct img a, b;
	struct ch_row row = { .table = &t };

	(void)state;
	img_build(&a, all_ins, ALL_N);
	img_build(&b, all_upd, ALL_N);
	/* id "0-1-42@0" as native; type "rowcast.shop.all_types.insert";
	 * time 1529501823123 ms = "2018-06-20T13:37:03.123Z"; data the native
	 * message */
	row.op = CH_INSERT;
	row.after = &a.im;
	check("cloudevents_insert", &o, &t1, 484, &row);
	/* without GTID: id "mysql-bin.000003:805@0"; a given type is escaped;
	 * no source_uri: "rowcast"; 1529501824000 ms -> ".000Z" */
	o.source_uri = NULL;
	o.event_type = "com.example.row \"deleted\"";
	row.op = CH_DELETE;
	row.before = &b.im;
	row.after = NULL;
	check("cloudevents_delete", &o, &t2, 805, &row);
	img_free(&a);
	img_free(&b);
	tbl_free(&t);
}

/* Value texts that are not what the decoder writes pass through unchanged
 * (and are read safely). */
static void test_unexpected_texts(void **state)
{
	static struct ch_column cols[] = {
		COL("g", CT_GEOMETRY, "geometry"),
		COL("g2", CT_GEOMETRY, "geometry"),
		COL("g3", CT_GEOMETRY, "geometry"),
		COL("d", CT_DATE, "date"),
		COL("dt", CT_DATETIME, "datetime", .fsp = 6),
		COL("t", CT_TIME, "time"),
		COL("dec", CT_DECIMAL, "decimal", .precision = 5, .scale = 2),
		COL("b", CT_BIT, "bit", .bits = 1),
		COL("s", CT_SET, "set"),
	};
	static const struct val v[] = {
		V("\"!!!\""),		/* not base64 */
		V("\"AAA=\""),		/* shorter than a SRID */
		V("\"AAAAAAEBAAAA\""),	/* a POINT cut short */
		V("\"2018-06\""),
		V("\"2018-06-20T06:37:03\""),
		V("\"12:34\""),
		V("\"1x\""),
		V("\"1\""),
		V("5"),			/* a SET without member names */
	};
	struct ch_table t = mk_table("odd", cols, NCOLS(cols));
	struct ch_trx t1 = trx_gtid();
	struct img a;
	struct ch_row row = { .table = &t, .op = CH_INSERT };
	struct rc_buf out = { 0 };
	/* Debezium does not look into the WKB: SRID 0, WKB 01 01 00 00 00 */
	const char *after = "{\"g\":\"!!!\",\"g2\":\"AAA=\",\"g3\":{\"wkb\":\"AQEAAAA=\",\"srid\":0},"
			    "\"d\":\"2018-06\","
			    "\"dt\":\"2018-06-20T06:37:03\",\"t\":\"12:34\",\"dec\":\"1x\","
			    "\"b\":\"1\",\"s\":5}";
	const char *p;

	(void)state;
	img_build(&a, v, NCOLS(cols));
	row.after = &a.im;
	envelope_format(&out, &dbz_opts, &t1, "f", 4, &row);
	p = strstr(out.data, "\"after\":");
	assert_non_null(p);
	assert_memory_equal(p + 8, after, strlen(after));
	envelope_format(&out, &mx_opts, &t1, "f", 4, &row);
	p = strstr(out.data, "\"data\":");
	assert_non_null(p);
	/* Maxwell writes the DECIMAL text without its quotes whatever it is */
	assert_memory_equal(p + 7, "{\"g\":\"!!!\",\"g2\":\"AAA=\",\"g3\":\"AAAAAAEBAAAA\"", 41);
	img_free(&a);
	buf_free(&out);
	tbl_free(&t);
}

/* ---------------- snapshots ---------------- */

/* The example table of rowcast-format(7): shop.orders. */
static struct ch_column ord_cols[] = {
	NN_COL("id", CT_INT, "int"),
	COL("total", CT_DECIMAL, "decimal", .precision = 8, .scale = 2),
	COL("placed", CT_DATETIME, "datetime", .fsp = 0),
	COL("status", CT_ENUM, "enum"),
};
static const struct val ord_row[] = {
	V("7"), V("\"19.90\""), V("\"2018-06-20 06:37:03\""), V("\"paid\""),
};

/* Chunk 3 of snapshot 7's read of shop.orders, read at 1529501823123 ms. */
static struct ch_trx trx_snap(struct ch_snap *snap, bool on_demand)
{
	struct ch_trx t;

	memset(snap, 0, sizeof(*snap));
	snap->id = 7;
	snap->db = "shop";
	snap->table = "orders";
	snap->on_demand = on_demand;
	snap->chunk = 3;
	snap->rows_before = 2000;
	snap->est_rows = 1200;
	memset(&t, 0, sizeof(t));
	strcpy(t.id, "snap-7-3");
	t.ts_ms = 1529501823123;
	t.snap = snap;
	return t;
}

static void expect_row(const struct envelope_opts *o, const struct ch_trx *trx,
		       const struct ch_row *row, const char *want)
{
	struct rc_buf out = { 0 };

	buf_puts(&out, "left over");
	envelope_format(&out, o, trx, "mysql-bin.000003", 484, row);
	if (strcmp(out.data, want)) {
		print_error(" got: %s\nwant: %s\n", out.data, want);
		fail();
	}
	buf_free(&out);
}

#define ORD_AFTER_NATIVE \
	"{\"id\":7,\"total\":\"19.90\",\"placed\":\"2018-06-20 06:37:03\",\"status\":\"paid\"}"
/* [D-snap]: source.snapshot given */
#define DBZ_READ(snapshot) \
	"{\"before\":null,\"after\":{\"id\":7,\"total\":\"B8Y=\"," \
	"\"placed\":1529476623000,\"status\":\"paid\"}," \
	"\"source\":{\"version\":\"rowcast-0.1.0\",\"connector\":\"mysql\"," \
	"\"name\":\"rowcast\",\"ts_ms\":1529501823123,\"snapshot\":\"" snapshot "\"," \
	"\"db\":\"shop\",\"sequence\":null,\"table\":\"orders\",\"server_id\":223344," \
	"\"gtid\":null,\"file\":\"mysql-bin.000003\",\"pos\":484,\"row\":0," \
	"\"thread\":null,\"query\":null},\"op\":\"r\",\"ts_ms\":1529501823123," \
	"\"transaction\":null}"
#define READ_NATIVE \
	"{\"id\":\"snap-7-3@4\",\"op\":\"read\",\"db\":\"shop\",\"table\":\"orders\"," \
	"\"gtid\":null,\"ts\":1529501823123,\"before\":null,\"after\":" ORD_AFTER_NATIVE "," \
	"\"snapshot\":{\"id\":7,\"on_demand\":false,\"chunk\":3}}"

static void test_snapshot_rows(void **state)
{
	struct ch_table t = mk_table("orders", ord_cols, 4);
	struct ch_snap snap;
	struct ch_trx trx = trx_snap(&snap, false);
	struct envelope_opts native = { .kind = ENV_NATIVE };
	struct img a;
	struct ch_row row = { .table = &t, .op = CH_READ, .index = 4 };

	(void)state;
	img_build(&a, ord_row, 4);
	row.after = &a.im;
	/* [N-snap] */
	expect_row(&native, &trx, &row, READ_NATIVE);
	/* [D-snap], values as [D-dec] (1990 = 07 c6) and [D-dt] */
	expect_row(&dbz_opts, &trx, &row, DBZ_READ("true"));
	/* [M-boot], values as [M-num] and [M-dt] */
	expect_row(&mx_opts, &trx, &row,
		   "{\"database\":\"shop\",\"table\":\"orders\",\"type\":\"bootstrap-insert\","
		   "\"ts\":1529501823,\"data\":{\"id\":7,\"total\":19.90,"
		   "\"placed\":\"2018-06-20 06:37:03\",\"status\":\"paid\"}}");
	/* CloudEvents: type rowcast.<db>.<table>.<op>, the native data */
	expect_row(&ce_opts, &trx, &row,
		   "{\"specversion\":\"1.0\",\"id\":\"snap-7-3@4\","
		   "\"source\":\"rowcast://db-host:3306\",\"type\":\"rowcast.shop.orders.read\","
		   "\"subject\":\"shop.orders\",\"time\":\"2018-06-20T13:37:03.123Z\","
		   "\"datacontenttype\":\"application/json\",\"data\":" READ_NATIVE "}");
	/* an on-demand snapshot: Debezium's incremental snapshot */
	snap.on_demand = true;
	expect_row(&dbz_opts, &trx, &row, DBZ_READ("incremental"));
	expect_row(&native, &trx, &row,
		   "{\"id\":\"snap-7-3@4\",\"op\":\"read\",\"db\":\"shop\",\"table\":\"orders\","
		   "\"gtid\":null,\"ts\":1529501823123,\"before\":null,\"after\":" ORD_AFTER_NATIVE
		   ",\"snapshot\":{\"id\":7,\"on_demand\":true,\"chunk\":3}}");
	/* a read without a snapshot (rowcast test): no snapshot object, and
	 * Debezium's initial snapshot */
	trx.snap = NULL;
	expect_row(&native, &trx, &row,
		   "{\"id\":\"snap-7-3@4\",\"op\":\"read\",\"db\":\"shop\",\"table\":\"orders\","
		   "\"gtid\":null,\"ts\":1529501823123,\"before\":null,\"after\":" ORD_AFTER_NATIVE
		   "}");
	{
		struct rc_buf out = { 0 };

		envelope_format(&out, &dbz_opts, &trx, "f", 1, &row);
		assert_non_null(strstr(out.data, ",\"snapshot\":\"true\","));
		buf_free(&out);
	}
	img_free(&a);
	tbl_free(&t);
}

/* A marker into a used buffer; want NULL: the envelope has none. */
static void expect_marker(const struct envelope_opts *o, const struct ch_trx *trx, bool end,
			  uint64_t rows, const char *want_id, const char *want)
{
	struct rc_buf id = { 0 }, out = { 0 };

	native_snapshot_marker_id(&id, trx->snap, end);
	assert_string_equal(id.data, want_id);
	buf_puts(&out, "left over");
	if (!want) {
		assert_false(envelope_snapshot_marker(&out, o, trx, end, rows, id.data));
		assert_string_equal(out.data, "left over");
	} else {
		assert_true(envelope_snapshot_marker(&out, o, trx, end, rows, id.data));
		if (strcmp(out.data, want)) {
			print_error(" got: %s\nwant: %s\n", out.data, want);
			fail();
		}
	}
	buf_free(&id);
	buf_free(&out);
}

#define START_NATIVE \
	"{\"id\":\"snapshot-7-shop.orders-start\",\"op\":\"snapshot-start\",\"db\":\"shop\"," \
	"\"table\":\"orders\",\"gtid\":null,\"ts\":1529501823123,\"before\":null,\"after\":null," \
	"\"snapshot\":{\"id\":7,\"on_demand\":false},\"rows_estimated\":1200}"

#define ODD_NATIVE \
	"{\"id\":\"snapshot-7-shop.a\\\"b-complete\",\"op\":\"snapshot-complete\"," \
	"\"db\":\"shop\",\"table\":\"a\\\"b\",\"gtid\":null," \
	"\"ts\":1529501823123,\"before\":null,\"after\":null," \
	"\"snapshot\":{\"id\":7,\"on_demand\":true},\"rows\":0}"

static void test_snapshot_markers(void **state)
{
	struct ch_snap snap;
	struct ch_trx trx = trx_snap(&snap, false);
	struct envelope_opts native = { .kind = ENV_NATIVE };
	struct envelope_opts ce = ce_opts;

	(void)state;
	/* [N-snap] */
	expect_marker(&native, &trx, false, 0, "snapshot-7-shop.orders-start", START_NATIVE);
	expect_marker(&native, &trx, true, 1187, "snapshot-7-shop.orders-complete",
		      "{\"id\":\"snapshot-7-shop.orders-complete\",\"op\":\"snapshot-complete\","
		      "\"db\":\"shop\",\"table\":\"orders\",\"gtid\":null,"
		      "\"ts\":1529501823123,\"before\":null,\"after\":null,"
		      "\"snapshot\":{\"id\":7,\"on_demand\":false},\"rows\":1187}");
	/* [M-boot] */
	expect_marker(&mx_opts, &trx, false, 0, "snapshot-7-shop.orders-start",
		      "{\"database\":\"shop\",\"table\":\"orders\",\"type\":\"bootstrap-start\","
		      "\"ts\":1529501823,\"data\":{}}");
	expect_marker(&mx_opts, &trx, true, 1187, "snapshot-7-shop.orders-complete",
		      "{\"database\":\"shop\",\"table\":\"orders\",\"type\":\"bootstrap-complete\","
		      "\"ts\":1529501823,\"data\":{}}");
	/* [D-snap]: none */
	expect_marker(&dbz_opts, &trx, false, 0, "snapshot-7-shop.orders-start", NULL);
	expect_marker(&dbz_opts, &trx, true, 1187, "snapshot-7-shop.orders-complete", NULL);
	/* CloudEvents: the native marker as data; a route's event type is for
	 * its rows, not for the markers */
	ce.event_type = "OrderChanged";
	expect_marker(&ce, &trx, false, 0, "snapshot-7-shop.orders-start",
		      "{\"specversion\":\"1.0\",\"id\":\"snapshot-7-shop.orders-start\","
		      "\"source\":\"rowcast://db-host:3306\","
		      "\"type\":\"rowcast.shop.orders.snapshot-start\",\"subject\":\"shop.orders\","
		      "\"time\":\"2018-06-20T13:37:03.123Z\",\"datacontenttype\":\"application/json\","
		      "\"data\":" START_NATIVE "}");
	/* names are escaped where JSON needs it, not in the id itself */
	snap.on_demand = true;
	snap.table = "a\"b";
	expect_marker(&native, &trx, true, 0, "snapshot-7-shop.a\"b-complete", ODD_NATIVE);
	expect_marker(&ce, &trx, true, 0, "snapshot-7-shop.a\"b-complete",
		      "{\"specversion\":\"1.0\",\"id\":\"snapshot-7-shop.a\\\"b-complete\","
		      "\"source\":\"rowcast://db-host:3306\","
		      "\"type\":\"rowcast.shop.a\\\"b.snapshot-complete\",\"subject\":\"shop.a\\\"b\","
		      "\"time\":\"2018-06-20T13:37:03.123Z\",\"datacontenttype\":\"application/json\","
		      "\"data\":" ODD_NATIVE "}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_native),
		cmocka_unit_test(test_debezium_rows),
		cmocka_unit_test(test_maxwell_rows),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_zero_dates),
		cmocka_unit_test(test_decimals),
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_cloudevents),
		cmocka_unit_test(test_unexpected_texts),
		cmocka_unit_test(test_snapshot_rows),
		cmocka_unit_test(test_snapshot_markers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
