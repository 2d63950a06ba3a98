/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: which column each entry of the TABLE_MAP's optional metadata
 * belongs to, for MySQL 8 and for MariaDB.  No MySQL server exists for
 * Debian and no public MySQL 8 binlog carries binlog_row_metadata = FULL,
 * so the maps are built here byte by byte from each server's documented
 * writer (the rules below, kept apart from tablemap.c's reader), over
 * seeded random layouts in which column order matters, and parsed by the
 * decoder; every column's sign, character set, ENUM/SET members, geometry
 * type, name and visibility, and the primary key, must come back as built.
 *
 * Writer rules (MySQL: sql/log_event.cc Table_map_log_event::init_*;
 * MariaDB: sql/log_event_server.cc, the same functions):
 *   SIGNEDNESS  one bit per TINY SHORT INT24 LONG LONGLONG YEAR FLOAT
 *               DOUBLE NEWDECIMAL column, most significant first (both)
 *   charsets    MySQL: STRING (real type STRING), VARCHAR, BLOB;
 *               MariaDB: the same and GEOMETRY, VARCHAR_COMPRESSED,
 *               BLOB_COMPRESSED (141 and 140; JSON is a BLOB there)
 *   DEFAULT_CHARSET  default collation, then (index among the charset
 *               columns, collation) for each other one
 *   ENUM/SET    charsets and member lists: the ENUM and SET columns
 *   GEOMETRY_TYPE  the GEOMETRY columns;  COLUMN_NAME  every column
 *   COLUMN_VISIBILITY  MySQL only: a bit per column, 1 = visible
 *   primary key  column indexes among all columns (with prefixes: pairs)
 *
 * ROWCAST_TEST_SEED=N reruns a seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "source/mysql/decoder.h"
#include "source/mysql/internal.h"
#include "evbuild.h"

enum { MYSQL = 0, MARIADB = 1 };
#define MAXC 64
#define TABLE_ID 77

struct col {
	uint8_t type;		/* binlog type byte */
	uint8_t real;		/* STRING: 254, 247 (ENUM) or 248 (SET) */
	uint16_t meta;		/* as it reads back (tablemap.c's c->meta) */
	int metalen;		/* bytes of type metadata */
	bool uns;		/* unsigned (signed group only) */
	uint32_t cs;		/* collation (charset groups only) */
	uint32_t geom;		/* geometry type */
	bool hidden;		/* MySQL invisible column */
	char name[16];
	int nmem;		/* ENUM/SET members m0.. */
};

struct layout {
	int flavour;
	int n;
	struct col c[MAXC];
	int npk;
	uint32_t pk[MAXC];
	bool pk_prefix;
	bool default_cs;	/* DEFAULT_CHARSET rather than COLUMN_CHARSET */
};

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

static bool w_signed(const struct col *c)
{
	switch (c->type) {
	case 1: case 2: case 9: case 3: case 8: case 13: case 4: case 5: case 246:
		return true;
	}
	return false;
}

static bool w_text(const struct col *c, int flavour)
{
	if (c->type == 254)
		return c->real == 254;
	if (c->type == 15 || c->type == 252)
		return true;
	return flavour == MARIADB && (c->type == 255 || c->type == 140 || c->type == 141);
}

static bool w_enum_set(const struct col *c)
{
	return c->type == 254 && (c->real == 247 || c->real == 248);
}

static const uint32_t COLLS[] = { 8, 33, 45, 46, 63, 224, 35, 54, 101, 60, 83, 2048 + 256 + 1 };
static const uint32_t UTF8_COLLS[] = { 33, 45, 46, 192, 224, 255, 2048 + 256 + 2 };

/* A random column of the flavour's binlog types. */
static void random_col(struct col *c, int flavour, int i)
{
	static const uint8_t types[] = { 1, 2, 9, 3, 8, 13, 246, 4, 5, 16, 10, 19, 18, 17,
					 254, 254, 254, 15, 15, 252, 255, 245, 140, 141 };
	uint8_t t;

	memset(c, 0, sizeof(*c));
	do {
		t = types[rnd(sizeof(types))];
	} while ((flavour == MARIADB && t == 245) || (flavour == MYSQL && (t == 140 || t == 141)));
	c->type = c->real = t;
	switch (t) {
	case 246: c->metalen = 2; c->meta = (uint16_t)((20 << 8) | 4); break;
	case 4: c->metalen = 1; c->meta = 4; break;
	case 5: c->metalen = 1; c->meta = 8; break;
	case 16: c->metalen = 2; c->meta = (uint16_t)((1 << 8) | 3); break;
	case 19: case 18: case 17: c->metalen = 1; c->meta = (uint16_t)rnd(7); break;
	case 254:
		c->real = (uint8_t[]){ 254, 247, 248 }[rnd(3)];
		c->metalen = 2;
		c->meta = (uint16_t)((c->real << 8) | (c->real == 254 ? 40 : 1));
		break;
	case 15: case 141: c->metalen = 2; c->meta = 300; break;
	case 252: case 255: case 245: case 140: c->metalen = 1; c->meta = 4; break;
	}
	if (w_signed(c))
		c->uns = rnd(2);
	if (w_text(c, flavour))
		c->cs = COLLS[rnd(sizeof(COLLS) / sizeof(COLLS[0]))];
	if (w_enum_set(c)) {
		c->cs = UTF8_COLLS[rnd(sizeof(UTF8_COLLS) / sizeof(UTF8_COLLS[0]))];
		c->nmem = 1 + (int)rnd(5);
	}
	if (t == 255)
		c->geom = rnd(8);
	if (flavour == MYSQL)
		c->hidden = rnd(5) == 0;
	snprintf(c->name, sizeof(c->name), "col%d_%u", i, rnd(1000));
}

static void random_layout(struct layout *l, int flavour)
{
	memset(l, 0, sizeof(*l));
	l->flavour = flavour;
	l->n = 1 + (int)rnd(MAXC);
	for (int i = 0; i < l->n; i++)
		random_col(&l->c[i], flavour, i);
	l->npk = (int)rnd(4);
	if (l->npk > l->n)
		l->npk = l->n;
	for (int k = 0; k < l->npk; k++)
		l->pk[k] = rnd((uint32_t)l->n);
	l->pk_prefix = rnd(2);
	l->default_cs = rnd(2);
}

static void field(struct rc_buf *b, uint8_t type, const struct rc_buf *f)
{
	eb_le(b, type, 1);
	eb_lenenc(b, f->len);
	buf_append(b, f->data ? f->data : "", f->len);
}

/* The charset field of one group: DEFAULT_CHARSET or COLUMN_CHARSET. */
static void charsets(struct rc_buf *b, const struct layout *l, bool enum_set)
{
	struct rc_buf f = { 0 };
	uint32_t def = 0, k = 0;
	bool any = false;

	for (int i = 0; i < l->n; i++) {
		const struct col *c = &l->c[i];

		if (enum_set ? w_enum_set(c) : w_text(c, l->flavour)) {
			if (!any)
				def = c->cs;
			any = true;
		}
	}
	if (!any)
		return;
	if (l->default_cs) {
		eb_lenenc(&f, def);
		for (int i = 0; i < l->n; i++) {
			const struct col *c = &l->c[i];

			if (!(enum_set ? w_enum_set(c) : w_text(c, l->flavour)))
				continue;
			if (c->cs != def) {
				eb_lenenc(&f, k);
				eb_lenenc(&f, c->cs);
			}
			k++;
		}
		field(b, enum_set ? 10 : 2, &f);
	} else {
		for (int i = 0; i < l->n; i++) {
			const struct col *c = &l->c[i];

			if (enum_set ? w_enum_set(c) : w_text(c, l->flavour))
				eb_lenenc(&f, c->cs);
		}
		field(b, enum_set ? 11 : 3, &f);
	}
	buf_free(&f);
}

/* A FORMAT_DESCRIPTION of server fde, then the layout's TABLE_MAP as
 * l->flavour's server writes it. */
static void build(struct rc_buf *b, const struct layout *l, int fde)
{
	const char *ver = fde == MARIADB ? "10.11.6-MariaDB-log" : "8.0.36";
	struct rc_buf f = { 0 };
	char v[50] = { 0 };
	size_t s = eb_begin(b, EV_FORMAT_DESCRIPTION, 1700000000, 1);
	uint8_t bits = 0;
	int k = 0;

	eb_le(b, 4, 2);
	snprintf(v, sizeof(v), "%s", ver);
	buf_append(b, v, 50);
	eb_le(b, 0, 4);
	eb_le(b, 19, 1);
	for (int t = 1; t <= (fde == MARIADB ? 168 : 41); t++)
		eb_le(b, t == EV_TABLE_MAP ? 8 : t == EV_FORMAT_DESCRIPTION ? 84 : 0, 1);
	eb_le(b, 1, 1);
	eb_end(b, s, 1, 4);

	s = eb_begin(b, EV_TABLE_MAP, 1700000001, 1);
	eb_le(b, TABLE_ID, 6);
	eb_le(b, 1, 2);
	eb_str8(b, "db");
	buf_putc(b, 0);
	eb_str8(b, "t");
	buf_putc(b, 0);
	eb_lenenc(b, (uint64_t)l->n);
	for (int i = 0; i < l->n; i++)
		eb_le(b, l->c[i].type, 1);
	for (int i = 0; i < l->n; i++)
		if (l->c[i].metalen == 2 && l->c[i].type != 15 && l->c[i].type != 141)
			eb_be(&f, l->c[i].meta, 2);	/* (byte0 << 8) | byte1 */
		else
			eb_le(&f, l->c[i].meta, l->c[i].metalen);
	eb_lenenc(b, f.len);
	buf_append(b, f.data ? f.data : "", f.len);
	for (int i = 0; i < (l->n + 7) / 8; i++)
		eb_le(b, 0xff, 1);

	/* SIGNEDNESS */
	buf_reset(&f);
	for (int i = 0; i < l->n; i++) {
		if (!w_signed(&l->c[i]))
			continue;
		if (l->c[i].uns)
			bits |= (uint8_t)(0x80 >> (k % 8));
		if (++k % 8 == 0) {
			eb_le(&f, bits, 1);
			bits = 0;
		}
	}
	if (k % 8)
		eb_le(&f, bits, 1);
	field(b, 1, &f);
	charsets(b, l, false);
	/* COLUMN_NAME */
	buf_reset(&f);
	for (int i = 0; i < l->n; i++) {
		eb_lenenc(&f, strlen(l->c[i].name));
		buf_puts(&f, l->c[i].name);
	}
	field(b, 4, &f);
	/* SET_STR_VALUE, ENUM_STR_VALUE */
	for (int set = 1; set >= 0; set--) {
		bool any = false;

		buf_reset(&f);
		for (int i = 0; i < l->n; i++) {
			if (l->c[i].real != (set ? 248 : 247))
				continue;
			any = true;
			eb_lenenc(&f, (uint64_t)l->c[i].nmem);
			for (int m = 0; m < l->c[i].nmem; m++) {
				char mem[16];

				snprintf(mem, sizeof(mem), "%c%d_%d", set ? 's' : 'e', i, m);
				eb_lenenc(&f, strlen(mem));
				buf_puts(&f, mem);
			}
		}
		if (any)
			field(b, set ? 5 : 6, &f);
	}
	/* GEOMETRY_TYPE */
	buf_reset(&f);
	for (int i = 0; i < l->n; i++)
		if (l->c[i].type == 255)
			eb_lenenc(&f, l->c[i].geom);
	if (f.len)
		field(b, 7, &f);
	/* primary key */
	if (l->npk) {
		buf_reset(&f);
		for (int p = 0; p < l->npk; p++) {
			eb_lenenc(&f, l->pk[p]);
			if (l->pk_prefix)
				eb_lenenc(&f, p);
		}
		field(b, l->pk_prefix ? 9 : 8, &f);
	}
	charsets(b, l, true);
	/* COLUMN_VISIBILITY (MySQL 8.0.23+) */
	if (l->flavour == MYSQL) {
		buf_reset(&f);
		for (int i = 0; i < (l->n + 7) / 8; i++) {
			uint8_t vb = 0;

			for (int j = 0; j < 8 && i * 8 + j < l->n; j++)
				if (!l->c[i * 8 + j].hidden)
					vb |= (uint8_t)(0x80 >> j);
			eb_le(&f, vb, 1);
		}
		field(b, 12, &f);
	}
	eb_end(b, s, 1, 4);
	buf_free(&f);
}

static bool feed(struct decoder *d, const struct rc_buf *b, char *err, size_t errlen)
{
	size_t off = 0;

	decoder_set_file(d, "binlog.000001", 4);
	while (off < b->len) {
		const uint8_t *p = (const uint8_t *)b->data + off;
		uint32_t size = (uint32_t)le_get(p + 9, 4);

		if (decoder_feed(d, p, size, err, errlen) != DEC_OK)
			return false;
		off += size;
	}
	return true;
}

/* Parse l's map; compare every column with what was built.  Returns the
 * first difference, or NULL. */
static const char *check(const struct layout *l, char *why, size_t whylen)
{
	struct dec_callbacks cb = { 0 };
	struct decoder *d = decoder_new(&cb);
	struct rc_buf b = { 0 };
	const struct dec_table *t;
	char err[512] = "";
	const char *res = NULL;

	build(&b, l, l->flavour);
	if (!feed(d, &b, err, sizeof(err))) {
		snprintf(why, whylen, "parse failed: %s", err);
		res = why;
		goto out;
	}
	t = tablemap_find(d, TABLE_ID);
	if (!t || (int)t->ncols != l->n) {
		snprintf(why, whylen, "no table of %d columns", l->n);
		res = why;
		goto out;
	}
	for (int i = 0; i < l->n && !res; i++) {
		const struct col *c = &l->c[i];
		const struct dec_column *dc = &t->cols[i];
		uint32_t want_cs = (w_text(c, l->flavour) || w_enum_set(c)) ? c->cs : 0;

		if (dc->is_unsigned != c->uns)
			snprintf(why, whylen, "column %d (type %u): unsigned %d, built %d", i,
				 c->type, dc->is_unsigned, c->uns), res = why;
		else if (dc->charset != want_cs)
			snprintf(why, whylen, "column %d (type %u/%u): collation %u, built %u", i,
				 c->type, c->real, dc->charset, want_cs), res = why;
		else if (strcmp(dc->name, c->name))
			snprintf(why, whylen, "column %d: name %s, built %s", i, dc->name,
				 c->name), res = why;
		else if (dc->geometry_type != c->geom)
			snprintf(why, whylen, "column %d: geometry type %u, built %u", i,
				 dc->geometry_type, c->geom), res = why;
		else if (dc->hidden != c->hidden)
			snprintf(why, whylen, "column %d: hidden %d, built %d", i, dc->hidden,
				 c->hidden), res = why;
		else if ((int)dc->n_members != (w_enum_set(c) ? c->nmem : 0))
			snprintf(why, whylen, "column %d: %u members, built %d", i,
				 dc->n_members, c->nmem), res = why;
		for (uint32_t m = 0; !res && m < dc->n_members; m++) {
			char mem[16];

			snprintf(mem, sizeof(mem), "%c%d_%u", c->real == 248 ? 's' : 'e', i, m);
			if (strcmp(dc->members[m], mem))
				snprintf(why, whylen, "column %d: member %u is %s, built %s", i, m,
					 dc->members[m], mem), res = why;
		}
	}
	if (!res && (int)t->npk != l->npk)
		snprintf(why, whylen, "%u key columns, built %d", t->npk, l->npk), res = why;
	for (int p = 0; !res && p < l->npk; p++)
		if (t->pk[p] != l->pk[p])
			snprintf(why, whylen, "key column %d is %u, built %u", p, t->pk[p],
				 l->pk[p]), res = why;
out:
	decoder_free(d);
	buf_free(&b);
	return res;
}

static uint64_t seed(void)
{
	const char *e = getenv("ROWCAST_TEST_SEED");
	uint64_t s = e && *e ? strtoull(e, NULL, 10) : (uint64_t)time(NULL);

	printf("# ROWCAST_TEST_SEED=%llu\n", (unsigned long long)s);
	return s ? s : 1;
}

static void mk(struct layout *l, uint8_t type, uint8_t real, int metalen, uint16_t meta,
	       bool uns, uint32_t cs)
{
	struct col *c = &l->c[l->n];

	memset(c, 0, sizeof(*c));
	c->type = type;
	c->real = real;
	c->metalen = metalen;
	c->meta = meta;
	c->uns = uns;
	c->cs = cs;
	c->geom = type == 255 ? 1 : 0;
	c->nmem = real == 247 || real == 248 ? 3 : 0;
	snprintf(c->name, sizeof(c->name), "c%d", l->n);
	l->n++;
}

/* The layouts, by hand: GEOMETRY before text columns, YEAR and
 * DECIMAL between integers. */
static void fixed(struct layout *l, int flavour)
{
	memset(l, 0, sizeof(*l));
	l->flavour = flavour;
	mk(l, 3, 3, 0, 0, false, 0);			/* INT */
	mk(l, 255, 255, 1, 4, false, 63);		/* GEOMETRY */
	mk(l, 15, 15, 2, 300, false, 8);		/* VARCHAR latin1 */
	mk(l, 252, 252, 1, 2, false, 35);		/* TEXT ucs2 */
	mk(l, 254, 247, 2, (247 << 8) | 1, false, 46);	/* ENUM utf8mb4_bin */
	mk(l, 13, 13, 0, 0, true, 0);			/* YEAR */
	mk(l, 1, 1, 0, 0, true, 0);			/* TINYINT UNSIGNED */
	mk(l, 246, 246, 2, (20 << 8) | 4, false, 0);	/* DECIMAL(20,4) */
	mk(l, 2, 2, 0, 0, false, 0);			/* SMALLINT */
	mk(l, 16, 16, 2, (1 << 8) | 3, false, 0);	/* BIT(25): 3 bytes and 1 bit */
	mk(l, 8, 8, 0, 0, true, 0);			/* BIGINT UNSIGNED */
	mk(l, 8, 8, 0, 0, false, 0);			/* BIGINT */
	l->npk = 2;
	l->pk[0] = 10;
	l->pk[1] = 0;
}

static void test_fixed_layouts(void **state)
{
	struct layout l;
	char why[256];

	(void)state;
	for (int f = MYSQL; f <= MARIADB; f++) {
		for (int dcs = 0; dcs < 2; dcs++) {
			fixed(&l, f);
			l.default_cs = dcs;
			if (check(&l, why, sizeof(why)))
				fail_msg("%s, %s charsets: %s", f == MARIADB ? "MariaDB" : "MySQL",
					 dcs ? "default" : "column", why);
		}
	}
}

static void test_random_layouts(void **state)
{
	struct layout l;
	char why[256];
	int n = 0;

	(void)state;
	rng_state = seed();
	for (int round = 0; round < 3000; round++) {
		uint64_t at = rng_state;

		random_layout(&l, round % 2 ? MARIADB : MYSQL);
		if (check(&l, why, sizeof(why))) {
			for (int i = 0; i < l.n; i++)
				printf("# column %d: type %u real %u cs %u\n", i, l.c[i].type,
				       l.c[i].real, l.c[i].cs);
			fail_msg("layout %d (%s, state %llu): %s", round,
				 l.flavour == MARIADB ? "MariaDB" : "MySQL", (unsigned long long)at, why);
		}
		n++;
	}
	printf("# %d random layouts, both flavours\n", n);
}

/* What the pipeline sees of the fixed layout: logical types, the MySQL
 * type names, the DECIMAL digits and BIT width taken from the metadata,
 * the names and the key. */
static void test_change_view(void **state)
{
	static const struct { uint8_t type; const char *native; } want[] = {
		{ CT_INT, "int" }, { CT_GEOMETRY, "geometry" }, { CT_STRING, "varchar" },
		{ CT_STRING, "text" }, { CT_ENUM, "enum" }, { CT_YEAR, "year" },
		{ CT_UINT, "tinyint" }, { CT_DECIMAL, "decimal" }, { CT_INT, "smallint" },
		{ CT_BIT, "bit" }, { CT_UINT, "bigint" }, { CT_INT, "bigint" },
	};
	struct dec_callbacks cb = { 0 };
	struct decoder *d = decoder_new(&cb);
	struct rc_buf b = { 0 };
	const struct dec_table *t;
	struct layout l;
	char err[512] = "";

	(void)state;
	fixed(&l, MARIADB);
	build(&b, &l, l.flavour);
	assert_true(feed(d, &b, err, sizeof(err)));
	t = tablemap_find(d, TABLE_ID);
	assert_non_null(t);
	assert_int_equal(t->ch.ncols, 12);
	assert_string_equal(t->ch.db, t->db);
	assert_string_equal(t->ch.name, t->name);
	assert_true(t->ch.names_known);
	for (uint32_t i = 0; i < 12; i++) {
		char name[8];

		snprintf(name, sizeof(name), "c%u", i);
		assert_string_equal(t->ch.cols[i].name, name);
		assert_string_equal(ch_type_name(t->ch.cols[i].type), ch_type_name(want[i].type));
		assert_string_equal(t->ch.cols[i].native_type, want[i].native);
	}
	assert_int_equal(t->ch.cols[7].precision, 20);
	assert_int_equal(t->ch.cols[7].scale, 4);
	assert_int_equal(t->ch.cols[9].bits, 25);
	assert_int_equal(t->ch.npk, 2);
	assert_int_equal(t->ch.pk[0], 10);
	assert_int_equal(t->ch.pk[1], 0);
	decoder_free(d);
	buf_free(&b);
}

/* A map whose lists count other columns than the FDE's server does (a
 * MariaDB map read as MySQL's, GEOMETRY before a text column) is refused,
 * never read one column off. */
static void test_flavour_mismatch_refused(void **state)
{
	struct layout l;
	struct rc_buf b = { 0 };
	struct dec_callbacks cb = { 0 };
	struct decoder *d;
	char err[512] = "";

	(void)state;
	fixed(&l, MARIADB);
	l.default_cs = false;
	build(&b, &l, MYSQL);
	d = decoder_new(&cb);
	assert_false(feed(d, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "TABLE_MAP event: optional metadata field 3 does not match "
				   "the table's 12 columns"));
	decoder_free(d);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_layouts),
		cmocka_unit_test(test_random_layouts),
		cmocka_unit_test(test_change_view),
		cmocka_unit_test(test_flavour_mismatch_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
