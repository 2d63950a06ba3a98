/* SPDX-License-Identifier: MIT */
/*
 * TABLE_MAP events: column types, type metadata and the optional metadata
 * of binlog_row_metadata (names, signedness, charsets, ENUM/SET members,
 * primary key).  A map whose bytes equal the cached one for its table id is
 * not parsed again.  Maps live until the end of their statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "source/mysql/charset.h"
#include "source/mysql/internal.h"

enum {
	MD_SIGNEDNESS = 1, MD_DEFAULT_CHARSET = 2, MD_COLUMN_CHARSET = 3,
	MD_COLUMN_NAME = 4, MD_SET_STR_VALUE = 5, MD_ENUM_STR_VALUE = 6,
	MD_GEOMETRY_TYPE = 7, MD_SIMPLE_PRIMARY_KEY = 8,
	MD_PRIMARY_KEY_WITH_PREFIX = 9, MD_ENUM_AND_SET_DEFAULT_CHARSET = 10,
	MD_ENUM_AND_SET_COLUMN_CHARSET = 11, MD_COLUMN_VISIBILITY = 12,
};

/*
 * Which columns a positional metadata field counts.  The server writes one
 * entry per counted column, in column order, and nothing says which column
 * an entry belongs to: a reader that counts one column more or less than
 * the server reads every later entry into the wrong column (an unsigned
 * flag or a character set one column off).  So each rule below is the
 * server's own, and where MariaDB and MySQL differ the flavour from the
 * FORMAT_DESCRIPTION decides.  Only the TABLE_MAP's column type byte (and,
 * for COLT_STRING, the real type in its metadata) is known here; the rules
 * are written in those terms.
 */
enum md_group {
	G_SIGNED,	/* SIGNEDNESS */
	G_TEXT,		/* DEFAULT_CHARSET, COLUMN_CHARSET */
	G_ENUM_SET,	/* ENUM_AND_SET_DEFAULT_CHARSET, ..._COLUMN_CHARSET */
};

/*
 * SIGNEDNESS, both servers: one bit per column whose field carries a sign
 * flag, YEAR included although nobody reads its bit.
 * - MariaDB, sql/log_event_server.cc Table_map_log_event::
 *   init_signedness_field(): a bit for every field whose Binlog_type_info
 *   has m_signedness != SIGN_NOT_APPLICABLE, i.e. the Field_num family:
 *   TINY, SHORT, INT24, LONG, LONGLONG, YEAR (Field_year is a Field_tiny),
 *   FLOAT, DOUBLE, DECIMAL and NEWDECIMAL.  BIT and the temporal types have
 *   none.
 * - MySQL 8, sql/log_event.cc init_signedness_field() with
 *   has_signedess_information_type() of sql/field_common_properties.h: the
 *   same ten types.
 * Bits are most significant first within each byte.
 */
static bool counts_signed(const struct dec_column *c)
{
	switch (c->type) {
	case COLT_TINY: case COLT_SHORT: case COLT_INT24: case COLT_LONG:
	case COLT_LONGLONG: case COLT_YEAR: case COLT_FLOAT: case COLT_DOUBLE:
	case COLT_DECIMAL: case COLT_NEWDECIMAL:
		return true;
	}
	return false;
}

/*
 * DEFAULT_CHARSET and COLUMN_CHARSET: the columns with a character set.
 * - MariaDB, sql/log_event_server.cc is_character_field(): every field
 *   whose Binlog_type_info has a charset (m_cs) and no ENUM/SET typelib:
 *   CHAR, VARCHAR, BINARY, VARBINARY, every BLOB and TEXT (JSON is a
 *   LONGTEXT), the COMPRESSED columns, GEOMETRY (Field_geom logs
 *   my_charset_bin) and the fixed binary types INET6, INET4 and UUID
 *   (logged as COLT_STRING, collation 63).
 * - MySQL 8, sql/log_event.cc is_character_field():
 *   is_character_type(field->real_type()), i.e. STRING, VAR_STRING,
 *   VARCHAR and BLOB.  GEOMETRY, JSON, ENUM and SET do not count.
 * The pairs of DEFAULT_CHARSET number a column among the counted ones.
 */
static bool counts_text(const struct dec_column *c, bool mariadb)
{
	switch (c->type) {
	case COLT_STRING:
		return c->real_type == COLT_STRING;
	case COLT_VAR_STRING: case COLT_VARCHAR: case COLT_BLOB:
	case COLT_TINY_BLOB: case COLT_MEDIUM_BLOB: case COLT_LONG_BLOB:
		return true;
	case COLT_GEOMETRY: case COLT_BLOB_COMPRESSED: case COLT_VARCHAR_COMPRESSED:
		return mariadb;
	}
	return false;
}

/*
 * ENUM_AND_SET_*_CHARSET, ENUM_STR_VALUE and SET_STR_VALUE, both servers:
 * the ENUM and SET columns (MariaDB: a field with an ENUM or SET typelib;
 * MySQL: is_enum_or_set_field(), real_type() ENUM or SET), which the
 * TABLE_MAP logs as COLT_STRING with the real type in the metadata.
 * GEOMETRY_TYPE, both: the GEOMETRY columns.  COLUMN_NAME, both, and
 * COLUMN_VISIBILITY (MySQL 8.0.23 and later; MariaDB has none): every
 * column.  SIMPLE_PRIMARY_KEY and PRIMARY_KEY_WITH_PREFIX name columns by
 * their index among all columns, counting nothing.
 */
static bool counts_enum_set(const struct dec_column *c)
{
	return c->real_type == COLT_ENUM || c->real_type == COLT_SET;
}

static bool in_group(const struct dec_column *c, enum md_group g, bool mariadb)
{
	switch (g) {
	case G_SIGNED:
		return counts_signed(c);
	case G_TEXT:
		return counts_text(c, mariadb);
	case G_ENUM_SET:
		return counts_enum_set(c);
	}
	return false;
}

/* Bytes of type metadata each column type has in the TABLE_MAP. */
static int meta_bytes(uint8_t type)
{
	switch (type) {
	case COLT_FLOAT: case COLT_DOUBLE: case COLT_BLOB: case COLT_TINY_BLOB:
	case COLT_MEDIUM_BLOB: case COLT_LONG_BLOB: case COLT_GEOMETRY:
	case COLT_JSON: case COLT_TIME2: case COLT_DATETIME2:
	case COLT_TIMESTAMP2: case COLT_VECTOR: case COLT_BLOB_COMPRESSED:
		return 1;
	case COLT_VARCHAR: case COLT_VAR_STRING: case COLT_BIT: case COLT_VARCHAR_COMPRESSED:
	case COLT_NEWDECIMAL: case COLT_STRING: case COLT_ENUM: case COLT_SET:
	case COLT_DECIMAL:
		return 2;
	case COLT_TYPED_ARRAY:
		return -1;
	}
	return 0;
}

/*
 * The change model's view of a column: the logical type envelopes switch
 * on, with the type's name as MySQL prints it.  Text and binary strings
 * are told apart by the collation (63 is binary; 0, not logged, counts as
 * text).  ENUM and SET are logged as STRING with the real type in the
 * metadata.
 */
static void column_view(const struct dec_column *c, struct ch_column *o)
{
	bool bin = c->charset == CHARSET_BINARY;
	uint8_t t = c->type;

	memset(o, 0, sizeof(*o));
	o->name = c->name;
	o->name_len = c->name_len;
	o->nullable = c->nullable;
	o->hidden = c->hidden;
	if (t == COLT_STRING && (c->real_type == COLT_SET || c->meta >> 8 == COLT_SET))
		t = COLT_SET;
	else if (t == COLT_STRING && (c->real_type == COLT_ENUM || c->meta >> 8 == COLT_ENUM))
		t = COLT_ENUM;
	switch (t) {
	case COLT_TINY: o->native_type = "tinyint"; goto integer;
	case COLT_SHORT: o->native_type = "smallint"; goto integer;
	case COLT_INT24: o->native_type = "mediumint"; goto integer;
	case COLT_LONG: o->native_type = "int"; goto integer;
	case COLT_LONGLONG: o->native_type = "bigint";
integer:
		o->type = c->is_unsigned ? CT_UINT : CT_INT;
		return;
	case COLT_DECIMAL: case COLT_NEWDECIMAL:
		o->type = CT_DECIMAL;
		o->native_type = "decimal";
		if (t == COLT_NEWDECIMAL) {
			o->precision = (uint8_t)(c->meta >> 8);
			o->scale = (uint8_t)(c->meta & 0xff);
		}
		return;
	case COLT_FLOAT: o->type = CT_FLOAT; o->native_type = "float"; return;
	case COLT_DOUBLE: o->type = CT_DOUBLE; o->native_type = "double"; return;
	case COLT_BOOL: o->type = CT_BOOL; o->native_type = "bool"; return;
	case COLT_BIT:
		o->type = CT_BIT;
		o->native_type = "bit";
		o->bits = (uint16_t)((c->meta & 0xff) * 8u + (c->meta >> 8));
		return;
	case COLT_YEAR: o->type = CT_YEAR; o->native_type = "year"; return;
	case COLT_DATE: case COLT_NEWDATE: o->type = CT_DATE; o->native_type = "date"; return;
	case COLT_DATETIME: case COLT_DATETIME2:
		o->type = CT_DATETIME;
		o->native_type = "datetime";
		o->fsp = t == COLT_DATETIME2 ? (uint8_t)c->meta : 0;
		return;
	case COLT_TIMESTAMP: case COLT_TIMESTAMP2:
		o->type = CT_TIMESTAMP;
		o->native_type = "timestamp";
		o->fsp = t == COLT_TIMESTAMP2 ? (uint8_t)c->meta : 0;
		return;
	case COLT_TIME: case COLT_TIME2:
		o->type = CT_TIME;
		o->native_type = "time";
		o->fsp = t == COLT_TIME2 ? (uint8_t)c->meta : 0;
		return;
	case COLT_VARCHAR: case COLT_VAR_STRING: case COLT_VARCHAR_COMPRESSED:
		o->type = bin ? CT_BINARY : CT_STRING;
		o->native_type = bin ? "varbinary" : "varchar";
		return;
	case COLT_STRING:
		o->type = bin ? CT_BINARY : CT_STRING;
		o->native_type = bin ? "binary" : "char";
		return;
	case COLT_TINY_BLOB: case COLT_MEDIUM_BLOB: case COLT_LONG_BLOB: case COLT_BLOB:
	case COLT_BLOB_COMPRESSED:
		o->type = bin ? CT_BINARY : CT_STRING;
		o->native_type = bin ? "blob" : "text";
		return;
	case COLT_JSON: o->type = CT_JSON; o->native_type = "json"; return;
	case COLT_ENUM: o->type = CT_ENUM; o->native_type = "enum"; return;
	case COLT_SET: o->type = CT_SET; o->native_type = "set"; return;
	case COLT_GEOMETRY: o->type = CT_GEOMETRY; o->native_type = "geometry"; return;
	case COLT_VECTOR: o->type = CT_OTHER; o->native_type = "vector"; return;
	}
	o->type = CT_OTHER;
	o->native_type = "unknown";
}

/* Bring t->ch in step with the map (after parsing it, or naming its
 * columns): the pipeline reads tables only through it. */
static void table_view(struct dec_table *t)
{
	if (t->ch_cap < t->ncols) {
		free(t->ch.cols);
		t->ch.cols = calloc(t->ncols, sizeof(*t->ch.cols));
		if (!t->ch.cols)
			log_oom();
		t->ch_cap = t->ncols;
	}
	for (uint32_t i = 0; i < t->ncols; i++)
		column_view(&t->cols[i], &t->ch.cols[i]);
	t->ch.db = t->db;
	t->ch.name = t->name;
	t->ch.ncols = t->ncols;
	t->ch.names_known = t->names_logged;
	t->ch.pk = t->pk;
	t->ch.npk = t->npk;
}

/*
 * Column name/member strings are appended to t->strings while parsing and
 * recorded as offsets; pointers are set once, after the buffer stops
 * growing.  These hold the offsets meanwhile.
 */
struct pending {
	uint32_t *name_off;		/* per column, UINT32_MAX = none */
	uint32_t *member_start;		/* per column: first member index */
	uint32_t *member_off;		/* per member: offset in strings */
	uint32_t *member_len;		/* per member: length */
	uint32_t nmembers, cap_members;
};

static void table_reset(struct decoder *d, struct dec_table *t)
{
	if (t->ch.user && d->cb.table_gone)
		d->cb.table_gone(d->cb.ctx, t);
	for (uint32_t i = 0; t->cols && i < t->ncols; i++) {
		free((void *)t->cols[i].members);
		free((void *)t->cols[i].member_lens);
	}
	free(t->cols);
	free(t->pk);
	free(t->db);
	free(t->name);
	t->cols = NULL;
	t->pk = NULL;
	t->db = t->name = NULL;
	t->ncols = t->npk = 0;
	t->md_fields = 0;
	t->names_logged = false;
	t->ch.user = NULL;
	t->ch.ncols = 0;
	t->ch.pk = NULL;
	t->ch.npk = 0;
	buf_reset(&t->strings);
	buf_reset(&t->ch.keys);
}

static bool add_members(struct pending *pd, struct dec_table *t, struct rd *r, uint32_t col)
{
	uint64_t count, len;

	if (!rd_lenenc(r, &count) || count > 65535)
		return false;
	pd->member_start[col] = pd->nmembers;
	t->cols[col].n_members = (uint32_t)count;
	for (uint64_t k = 0; k < count; k++) {
		if (!rd_lenenc(r, &len) || len > r->n)
			return false;
		if (pd->nmembers == pd->cap_members) {
			pd->cap_members = pd->cap_members ? pd->cap_members * 2 : 16;
			pd->member_off = realloc(pd->member_off, pd->cap_members * sizeof(uint32_t));
			pd->member_len = realloc(pd->member_len, pd->cap_members * sizeof(uint32_t));
			if (!pd->member_off || !pd->member_len)
				log_oom();
		}
		pd->member_off[pd->nmembers] = (uint32_t)t->strings.len;
		pd->member_len[pd->nmembers] = (uint32_t)len;
		pd->nmembers++;
		buf_append(&t->strings, r->p, (size_t)len);
		buf_putc(&t->strings, '\0');
		rd_skip(r, (size_t)len);
	}
	return true;
}

/* Columns of t in group g. */
static uint32_t group_size(const struct dec_table *t, enum md_group g, bool mariadb)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->ncols; i++)
		n += in_group(&t->cols[i], g, mariadb);
	return n;
}

/* One bit per counted column, most significant first: SIGNEDNESS. */
static bool read_signedness(struct dec_table *t, const struct rd *f, bool mariadb)
{
	uint32_t n = group_size(t, G_SIGNED, mariadb), k = 0;

	if (f->n != (n + 7) / 8)
		return false;
	for (uint32_t i = 0; i < t->ncols; i++) {
		if (!counts_signed(&t->cols[i]))
			continue;
		t->cols[i].is_unsigned = f->p[k / 8] & (0x80 >> (k % 8));
		k++;
	}
	return true;
}

/* DEFAULT_CHARSET: a default, then (index among the counted columns,
 * collation) pairs for the columns that differ from it. */
static bool read_default_charset(struct dec_table *t, struct rd *f, enum md_group g,
				 bool mariadb)
{
	uint32_t n = group_size(t, g, mariadb);
	uint64_t def, idx, cs;

	if (!rd_lenenc(f, &def))
		return false;
	for (uint32_t i = 0; i < t->ncols; i++)
		if (in_group(&t->cols[i], g, mariadb))
			t->cols[i].charset = (uint32_t)def;
	while (f->n > 0) {
		uint32_t k = 0;

		if (!rd_lenenc(f, &idx) || !rd_lenenc(f, &cs) || idx >= n)
			return false;
		for (uint32_t i = 0; i < t->ncols; i++) {
			if (in_group(&t->cols[i], g, mariadb) && k++ == idx) {
				t->cols[i].charset = (uint32_t)cs;
				break;
			}
		}
	}
	return true;
}

/* COLUMN_CHARSET: one collation per counted column, no more, no less. */
static bool read_column_charset(struct dec_table *t, struct rd *f, enum md_group g,
				bool mariadb)
{
	uint64_t cs;

	for (uint32_t i = 0; i < t->ncols; i++) {
		if (!in_group(&t->cols[i], g, mariadb))
			continue;
		if (!rd_lenenc(f, &cs))
			return false;
		t->cols[i].charset = (uint32_t)cs;
	}
	return f->n == 0;
}

/* COLUMN_VISIBILITY: one bit per column, most significant first, 1 for a
 * visible column. */
static bool read_visibility(struct dec_table *t, const struct rd *f)
{
	if (f->n != (t->ncols + 7) / 8)
		return false;
	for (uint32_t i = 0; i < t->ncols; i++)
		t->cols[i].hidden = !(f->p[i / 8] & (0x80 >> (i % 8)));
	return true;
}

/*
 * The optional metadata block (TLV fields) at the end of the map.  A field
 * whose entries do not match the columns its rule counts is an error: a
 * list read against the wrong columns would publish wrong values silently.
 */
static bool parse_optional(struct dec_table *t, struct pending *pd, struct rd *r,
			   bool mariadb, char *err, size_t errlen)
{
	while (r->n > 0) {
		uint8_t type;
		uint64_t len;
		struct rd f;
		bool ok = true;

		if (!rd_u8(r, &type) || !rd_lenenc(r, &len) || len > r->n) {
			snprintf(err, errlen, "optional metadata field truncated");
			return false;
		}
		f.p = r->p;
		f.n = (size_t)len;
		rd_skip(r, (size_t)len);
		if (type < 32)
			t->md_fields |= 1u << type;

		switch (type) {
		case MD_SIGNEDNESS:
			ok = read_signedness(t, &f, mariadb);
			break;
		case MD_DEFAULT_CHARSET:
			ok = read_default_charset(t, &f, G_TEXT, mariadb);
			break;
		case MD_ENUM_AND_SET_DEFAULT_CHARSET:
			ok = read_default_charset(t, &f, G_ENUM_SET, mariadb);
			break;
		case MD_COLUMN_CHARSET:
			ok = read_column_charset(t, &f, G_TEXT, mariadb);
			break;
		case MD_ENUM_AND_SET_COLUMN_CHARSET:
			ok = read_column_charset(t, &f, G_ENUM_SET, mariadb);
			break;
		case MD_COLUMN_NAME:
			for (uint32_t i = 0; ok && i < t->ncols; i++) {
				uint64_t n;

				if (!rd_lenenc(&f, &n) || n > f.n) {
					ok = false;
					break;
				}
				pd->name_off[i] = (uint32_t)t->strings.len;
				t->cols[i].name_len = (uint32_t)n;
				buf_append(&t->strings, f.p, (size_t)n);
				buf_putc(&t->strings, '\0');
				rd_skip(&f, (size_t)n);
			}
			ok = ok && f.n == 0;
			t->names_logged = ok;
			break;
		case MD_SET_STR_VALUE:
		case MD_ENUM_STR_VALUE: {
			uint8_t want = type == MD_SET_STR_VALUE ? COLT_SET : COLT_ENUM;

			for (uint32_t i = 0; ok && i < t->ncols; i++)
				if (t->cols[i].real_type == want)
					ok = add_members(pd, t, &f, i);
			ok = ok && f.n == 0;
			break;
		}
		case MD_GEOMETRY_TYPE:
			for (uint32_t i = 0; ok && i < t->ncols; i++) {
				uint64_t g = 0;

				if (t->cols[i].type != COLT_GEOMETRY)
					continue;
				ok = rd_lenenc(&f, &g);
				t->cols[i].geometry_type = (uint32_t)g;
			}
			ok = ok && f.n == 0;
			break;
		case MD_SIMPLE_PRIMARY_KEY:
		case MD_PRIMARY_KEY_WITH_PREFIX:
			while (ok && f.n > 0) {
				uint64_t idx, prefix;

				if (!rd_lenenc(&f, &idx) || idx >= t->ncols ||
				    (type == MD_PRIMARY_KEY_WITH_PREFIX && !rd_lenenc(&f, &prefix))) {
					ok = false;
					break;
				}
				t->pk = realloc(t->pk, (t->npk + 1) * sizeof(uint32_t));
				if (!t->pk)
					log_oom();
				t->pk[t->npk++] = (uint32_t)idx;
			}
			break;
		case MD_COLUMN_VISIBILITY:
			ok = read_visibility(t, &f);
			break;
		default:
			break;	/* fields of later servers: skipped */
		}
		if (!ok) {
			snprintf(err, errlen,
				 "optional metadata field %u does not match the table's %u columns",
				 type, t->ncols);
			return false;
		}
	}
	return true;
}

static bool parse_map(struct dec_table *t, const uint8_t *body, size_t n, uint8_t ph_len,
		      bool mariadb, char *err, size_t errlen)
{
	struct rd r = { body, n };
	struct pending pd = { 0 };
	uint64_t id, flags, len, ncols, mlen;
	const uint8_t *types;
	struct rd meta;
	char numname[16];
	uint8_t nlen;
	bool ok = false;

	if (!rd_le(&r, ph_len == 6 ? 4 : 6, &id) || !rd_le(&r, 2, &flags))
		goto trunc;
	if (!rd_u8(&r, &nlen))
		goto trunc;
	len = nlen;
	if (len + 1 > r.n)
		goto trunc;
	t->db = strndup((const char *)r.p, (size_t)len);
	rd_skip(&r, (size_t)len + 1);
	if (!rd_u8(&r, &nlen))
		goto trunc;
	len = nlen;
	if (len + 1 > r.n)
		goto trunc;
	t->name = strndup((const char *)r.p, (size_t)len);
	rd_skip(&r, (size_t)len + 1);
	if (!t->db || !t->name)
		log_oom();
	if (!rd_lenenc(&r, &ncols) || ncols == 0 || ncols > 4096 || ncols > r.n)
		goto trunc;
	t->id = id;
	t->ncols = (uint32_t)ncols;
	types = r.p;
	rd_skip(&r, (size_t)ncols);
	if (!rd_lenenc(&r, &mlen) || mlen > r.n)
		goto trunc;
	meta.p = r.p;
	meta.n = (size_t)mlen;
	rd_skip(&r, (size_t)mlen);

	t->cols = calloc(t->ncols, sizeof(*t->cols));
	pd.name_off = malloc(t->ncols * sizeof(uint32_t));
	pd.member_start = calloc(t->ncols, sizeof(uint32_t));
	if (!t->cols || !pd.name_off || !pd.member_start)
		log_oom();
	for (uint32_t i = 0; i < t->ncols; i++) {
		struct dec_column *c = &t->cols[i];
		int mb = meta_bytes(types[i]);
		uint64_t m = 0;

		pd.name_off[i] = UINT32_MAX;
		c->type = c->real_type = types[i];
		if (mb < 0) {
			snprintf(err, errlen, "column %u has type %u, which is not supported",
				 i + 1, types[i]);
			goto out;
		}
		if (!rd_le(&meta, (size_t)mb, &m)) {
			snprintf(err, errlen, "type metadata of column %u truncated", i + 1);
			goto out;
		}
		if (mb == 2 && types[i] != COLT_VARCHAR && types[i] != COLT_VAR_STRING &&
		    types[i] != COLT_VARCHAR_COMPRESSED)
			m = (m & 0xff) << 8 | m >> 8;	/* (byte0 << 8) | byte1 */
		c->meta = (uint16_t)m;
		if (c->type == COLT_STRING && (m >> 8 == COLT_ENUM || m >> 8 == COLT_SET))
			c->real_type = (uint8_t)(m >> 8);
	}
	if (r.n < (t->ncols + 7) / 8)
		goto trunc;
	for (uint32_t i = 0; i < t->ncols; i++)
		t->cols[i].nullable = r.p[i / 8] & (1u << (i % 8));
	rd_skip(&r, (t->ncols + 7) / 8);
	if (!parse_optional(t, &pd, &r, mariadb, err, errlen))
		goto out;

	/* Columns without logged names are named by position, "@1" etc. */
	for (uint32_t i = 0; i < t->ncols; i++) {
		if (pd.name_off[i] != UINT32_MAX)
			continue;
		int k = snprintf(numname, sizeof(numname), "@%u", i + 1);
		pd.name_off[i] = (uint32_t)t->strings.len;
		t->cols[i].name_len = (uint32_t)k;
		buf_append(&t->strings, numname, (size_t)k + 1);
	}
	/* ENUM/SET member names are logged in the column's charset */
	for (uint32_t i = 0; i < t->ncols; i++) {
		const struct dec_column *c = &t->cols[i];
		const char *cs = charset_name(c->charset);

		if (!c->n_members || !cs || !strncmp(cs, "utf8", 4) || !strcmp(cs, "ascii") ||
		    charset_is_binary(c->charset))
			continue;
		for (uint32_t k = 0; k < c->n_members; k++) {
			uint32_t m = pd.member_start[i] + k;
			size_t at = t->strings.len;
			unsigned bad = 0;

			/* copy out first: the buffer may move while it grows */
			buf_reset(&t->raw_tmp);
			buf_append(&t->raw_tmp, t->strings.data + pd.member_off[m], pd.member_len[m]);
			charset_to_utf8(c->charset, (const uint8_t *)t->raw_tmp.data, t->raw_tmp.len,
					&t->strings, &bad);
			pd.member_off[m] = (uint32_t)at;
			pd.member_len[m] = (uint32_t)(t->strings.len - at);
			buf_putc(&t->strings, '\0');
		}
	}
	for (uint32_t i = 0; i < t->ncols; i++) {
		struct dec_column *c = &t->cols[i];

		c->name = t->strings.data + pd.name_off[i];
		if (c->n_members) {
			const char **m = malloc(c->n_members * sizeof(char *));
			uint32_t *ml = malloc(c->n_members * sizeof(uint32_t));

			if (!m || !ml)
				log_oom();
			for (uint32_t k = 0; k < c->n_members; k++) {
				m[k] = t->strings.data + pd.member_off[pd.member_start[i] + k];
				ml[k] = pd.member_len[pd.member_start[i] + k];
			}
			c->members = m;
			c->member_lens = ml;
		}
	}
	ok = true;
	goto out;
trunc:
	snprintf(err, errlen, "TABLE_MAP truncated");
out:
	free(pd.name_off);
	free(pd.member_start);
	free(pd.member_off);
	free(pd.member_len);
	return ok;
}

static uint64_t map_id(const uint8_t *body, size_t n, uint8_t ph_len)
{
	size_t k = ph_len == 6 ? 4 : 6;

	return n >= k ? le_get(body, k) : 0;
}

bool tablemap_parse(struct decoder *d, const uint8_t *body, size_t n, uint8_t ph_len,
		    char *err, size_t errlen)
{
	uint64_t id = map_id(body, n, ph_len);
	struct dec_table *t = NULL;
	unsigned slot;

	for (slot = 0; slot < d->ntables; slot++) {
		if (d->tables[slot].id == id && d->tables[slot].ncols) {
			t = &d->tables[slot];
			break;
		}
	}
	if (t && t->raw.len == n && memcmp(t->raw.data, body, n) == 0) {
		d->active[slot] = true;
		return true;
	}
	if (!t) {
		if (d->ntables < DEC_MAX_TABLES) {
			slot = d->ntables++;
		} else {
			/* evict a map that is not in use by the current statement */
			for (unsigned k = 0; k < DEC_MAX_TABLES; k++) {
				slot = (d->evict_next + k) % DEC_MAX_TABLES;
				if (!d->active[slot])
					break;
			}
			d->evict_next = (slot + 1) % DEC_MAX_TABLES;
		}
		t = &d->tables[slot];
	}
	table_reset(d, t);
	buf_reset(&t->raw);
	if (!parse_map(t, body, n, ph_len, d->mariadb, err, errlen)) {
		table_reset(d, t);
		return false;
	}
	table_view(t);
	if (!t->names_logged && d->cb.table_unnamed && !d->cb.table_unnamed(d->cb.ctx, t)) {
		d->stopped = true;
		if (errlen && err[0] == '\0')
			snprintf(err, errlen, "table %s.%s: no column names", t->db, t->name);
		table_reset(d, t);
		return false;
	}
	buf_append(&t->raw, body, n);
	d->active[slot] = true;
	return true;
}

/* The members of "enum('a','b''c')" or "set(...)" appended to out as
 * NUL-terminated strings; their count. */
static uint32_t type_members(const char *type, struct rc_buf *out)
{
	const char *p = strchr(type, '(');
	uint32_t n = 0;

	if (!p)
		return 0;
	for (p++; *p == '\'';) {
		for (p++; *p; p++) {
			if (*p == '\'' && p[1] == '\'') {
				buf_putc(out, '\'');
				p++;
			} else if (*p == '\'') {
				break;
			} else {
				buf_putc(out, *p);
			}
		}
		buf_putc(out, '\0');
		n++;
		if (*p)
			p++;
		if (*p == ',')
			p++;
	}
	return n;
}

bool decoder_table_describe(struct dec_table *t, const char *lines, char *err, size_t errlen)
{
	struct rc_buf names = { 0 }, members = { 0 };
	uint32_t *noff, *mcount, ncols = 0;
	const char *p;
	bool need_sign = !(t->md_fields & 1u << MD_SIGNEDNESS);
	bool need_cs = !(t->md_fields & (1u << MD_DEFAULT_CHARSET | 1u << MD_COLUMN_CHARSET));

	noff = calloc(t->ncols + 1, sizeof(uint32_t));
	mcount = calloc(t->ncols + 1, sizeof(uint32_t));
	if (!noff || !mcount)
		log_oom();
	for (p = lines; *p; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[2048], *tab1, *tab2, *tab3;

		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		p += len + (nl ? 1 : 0);
		if (!line[0])
			continue;
		if (ncols >= t->ncols) {
			ncols++;
			continue;
		}
		tab1 = strchr(line, '\t');
		tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		tab3 = tab2 ? strchr(tab2 + 1, '\t') : NULL;
		if (tab1)
			*tab1 = '\0';
		if (tab2)
			*tab2 = '\0';
		if (tab3)
			*tab3 = '\0';
		/* NO_LOG: the sign and the character set as the server has them
		 * now (a binary string has no collation: 63, binary) */
		if (need_sign && tab1 && counts_signed(&t->cols[ncols]))
			t->cols[ncols].is_unsigned = strstr(tab1 + 1, "unsigned") != NULL;
		if (need_cs && counts_text(&t->cols[ncols], true)) {
			unsigned long id = tab3 ? strtoul(tab3 + 1, NULL, 10) : 0;

			t->cols[ncols].charset = id ? (uint32_t)id : CHARSET_BINARY;
		}
		noff[ncols] = (uint32_t)names.len;
		buf_append(&names, line, strlen(line) + 1);
		if (tab1 && (!strncasecmp(tab1 + 1, "enum(", 5) || !strncasecmp(tab1 + 1, "set(", 4)))
			mcount[ncols] = type_members(tab1 + 1, &members);
		if (tab2 && !strcmp(tab2 + 1, "PRI")) {
			t->pk = realloc(t->pk, (t->npk + 1) * sizeof(uint32_t));
			if (!t->pk)
				log_oom();
			t->pk[t->npk++] = ncols;
		}
		ncols++;
	}
	if (ncols != t->ncols) {
		snprintf(err, errlen,
			 "table %s.%s has %u columns in information_schema and %u in the binlog (changed while rowcast was down?)",
			 t->db, t->name, ncols, t->ncols);
		free(noff);
		free(mcount);
		buf_free(&names);
		buf_free(&members);
		return false;
	}
	/* the names replace the positional ones: a new strings buffer, and
	 * the formatter's keys made from them anew */
	buf_reset(&t->strings);
	buf_reset(&t->ch.keys);
	buf_append(&t->strings, names.data, names.len);
	{
		size_t mbase = t->strings.len;
		const char *m;

		buf_append(&t->strings, members.data ? members.data : "", members.len);
		m = t->strings.data + mbase;
		for (uint32_t i = 0; i < t->ncols; i++) {
			struct dec_column *c = &t->cols[i];

			c->name = t->strings.data + noff[i];
			c->name_len = (uint32_t)strlen(c->name);
			if (!mcount[i] || (c->real_type != COLT_ENUM && c->real_type != COLT_SET))
				continue;
			free((void *)c->members);
			free((void *)c->member_lens);
			c->members = malloc(mcount[i] * sizeof(char *));
			c->member_lens = malloc(mcount[i] * sizeof(uint32_t));
			if (!c->members || !c->member_lens)
				log_oom();
			c->n_members = mcount[i];
			for (uint32_t k = 0; k < mcount[i]; k++) {
				if (strchr(m, '?'))
					log_warn("%s.%s: member '%s' of %s as information_schema shows it: a character outside the BMP reads as '?' there (binlog_row_metadata = FULL logs the real name)",
						 t->db, t->name, m, c->name);
				((const char **)c->members)[k] = m;
				((uint32_t *)c->member_lens)[k] = (uint32_t)strlen(m);
				m += strlen(m) + 1;
			}
		}
	}
	t->names_logged = true;
	table_view(t);
	free(noff);
	free(mcount);
	buf_free(&names);
	buf_free(&members);
	return true;
}

struct dec_table *tablemap_find(struct decoder *d, uint64_t id)
{
	for (unsigned i = 0; i < d->ntables; i++)
		if (d->active[i] && d->tables[i].id == id && d->tables[i].ncols)
			return &d->tables[i];
	return NULL;
}

void tablemap_end_statement(struct decoder *d)
{
	memset(d->active, 0, sizeof(d->active));
}

void tablemap_free_all(struct decoder *d)
{
	for (unsigned i = 0; i < d->ntables; i++) {
		table_reset(d, &d->tables[i]);
		buf_free(&d->tables[i].raw);
		buf_free(&d->tables[i].strings);
		buf_free(&d->tables[i].raw_tmp);
		ch_table_free_caches(&d->tables[i].ch);
		free(d->tables[i].ch.cols);
		d->tables[i].ch.cols = NULL;
		d->tables[i].ch_cap = 0;
	}
	d->ntables = 0;
}
