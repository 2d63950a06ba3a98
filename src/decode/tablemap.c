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

#include "core/log.h"
#include "decode/charset.h"
#include "decode/internal.h"

enum {
	MD_SIGNEDNESS = 1, MD_DEFAULT_CHARSET = 2, MD_COLUMN_CHARSET = 3,
	MD_COLUMN_NAME = 4, MD_SET_STR_VALUE = 5, MD_ENUM_STR_VALUE = 6,
	MD_GEOMETRY_TYPE = 7, MD_SIMPLE_PRIMARY_KEY = 8,
	MD_PRIMARY_KEY_WITH_PREFIX = 9, MD_ENUM_AND_SET_DEFAULT_CHARSET = 10,
	MD_ENUM_AND_SET_COLUMN_CHARSET = 11, MD_COLUMN_VISIBILITY = 12,
};

static bool is_numeric(const struct dec_column *c)
{
	switch (c->type) {
	case COLT_TINY: case COLT_SHORT: case COLT_INT24: case COLT_LONG:
	case COLT_LONGLONG: case COLT_NEWDECIMAL: case COLT_DECIMAL:
	case COLT_FLOAT: case COLT_DOUBLE:
		return true;
	}
	return false;
}

static bool is_character(const struct dec_column *c)
{
	switch (c->type) {
	case COLT_STRING:
		return c->real_type == COLT_STRING;
	case COLT_VAR_STRING: case COLT_VARCHAR: case COLT_BLOB:
	case COLT_TINY_BLOB: case COLT_MEDIUM_BLOB: case COLT_LONG_BLOB:
	case COLT_BLOB_COMPRESSED: case COLT_VARCHAR_COMPRESSED:
		return true;
	}
	return false;
}

static bool is_enum_set(const struct dec_column *c)
{
	return c->real_type == COLT_ENUM || c->real_type == COLT_SET;
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
	if (t->user && d->cb.table_gone)
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
	t->names_logged = false;
	t->user = NULL;
	buf_reset(&t->strings);
	buf_reset(&t->keys);
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

/* The optional metadata block (TLV fields) at the end of the map. */
static bool parse_optional(struct dec_table *t, struct pending *pd, struct rd *r,
			   char *err, size_t errlen)
{
	while (r->n > 0) {
		uint8_t type;
		uint64_t len;
		struct rd f;
		uint32_t k = 0;

		if (!rd_u8(r, &type) || !rd_lenenc(r, &len) || len > r->n) {
			snprintf(err, errlen, "optional metadata field truncated");
			return false;
		}
		f.p = r->p;
		f.n = (size_t)len;
		rd_skip(r, (size_t)len);

		switch (type) {
		case MD_SIGNEDNESS:
			for (uint32_t i = 0; i < t->ncols; i++) {
				if (!is_numeric(&t->cols[i]))
					continue;
				if (k / 8 < f.n)
					t->cols[i].is_unsigned = f.p[k / 8] & (0x80 >> (k % 8));
				k++;
			}
			break;
		case MD_DEFAULT_CHARSET:
		case MD_ENUM_AND_SET_DEFAULT_CHARSET: {
			uint64_t def, idx, cs;
			bool es = type == MD_ENUM_AND_SET_DEFAULT_CHARSET;

			if (!rd_lenenc(&f, &def))
				goto bad;
			for (uint32_t i = 0; i < t->ncols; i++)
				if (es ? is_enum_set(&t->cols[i]) : is_character(&t->cols[i]))
					t->cols[i].charset = (uint32_t)def;
			while (f.n > 0) {
				if (!rd_lenenc(&f, &idx) || !rd_lenenc(&f, &cs))
					goto bad;
				k = 0;
				for (uint32_t i = 0; i < t->ncols; i++) {
					if (!(es ? is_enum_set(&t->cols[i]) :
						   is_character(&t->cols[i])))
						continue;
					if (k++ == idx) {
						t->cols[i].charset = (uint32_t)cs;
						break;
					}
				}
			}
			break;
		}
		case MD_COLUMN_CHARSET:
		case MD_ENUM_AND_SET_COLUMN_CHARSET: {
			bool es = type == MD_ENUM_AND_SET_COLUMN_CHARSET;
			uint64_t cs;

			for (uint32_t i = 0; i < t->ncols && f.n > 0; i++) {
				if (!(es ? is_enum_set(&t->cols[i]) : is_character(&t->cols[i])))
					continue;
				if (!rd_lenenc(&f, &cs))
					goto bad;
				t->cols[i].charset = (uint32_t)cs;
			}
			break;
		}
		case MD_COLUMN_NAME:
			for (uint32_t i = 0; i < t->ncols; i++) {
				uint64_t n;

				if (!rd_lenenc(&f, &n) || n > f.n)
					goto bad;
				pd->name_off[i] = (uint32_t)t->strings.len;
				t->cols[i].name_len = (uint32_t)n;
				buf_append(&t->strings, f.p, (size_t)n);
				buf_putc(&t->strings, '\0');
				rd_skip(&f, (size_t)n);
			}
			t->names_logged = true;
			break;
		case MD_SET_STR_VALUE:
		case MD_ENUM_STR_VALUE: {
			uint8_t want = type == MD_SET_STR_VALUE ? COLT_SET : COLT_ENUM;

			for (uint32_t i = 0; i < t->ncols; i++) {
				if (t->cols[i].real_type != want)
					continue;
				if (!add_members(pd, t, &f, i))
					goto bad;
			}
			break;
		}
		case MD_GEOMETRY_TYPE:
			for (uint32_t i = 0; i < t->ncols; i++) {
				uint64_t g;

				if (t->cols[i].type != COLT_GEOMETRY)
					continue;
				if (!rd_lenenc(&f, &g))
					goto bad;
				t->cols[i].geometry_type = (uint32_t)g;
			}
			break;
		case MD_SIMPLE_PRIMARY_KEY:
		case MD_PRIMARY_KEY_WITH_PREFIX:
			while (f.n > 0) {
				uint64_t idx, prefix;

				if (!rd_lenenc(&f, &idx) || idx >= t->ncols)
					goto bad;
				if (type == MD_PRIMARY_KEY_WITH_PREFIX && !rd_lenenc(&f, &prefix))
					goto bad;
				t->pk = realloc(t->pk, (t->npk + 1) * sizeof(uint32_t));
				if (!t->pk)
					log_oom();
				t->pk[t->npk++] = (uint32_t)idx;
			}
			break;
		default:
			break;	/* visibility and future fields: not needed */
		}
		continue;
bad:
		snprintf(err, errlen, "optional metadata field %u is malformed", type);
		return false;
	}
	return true;
}

static bool parse_map(struct dec_table *t, const uint8_t *body, size_t n, uint8_t ph_len,
		      char *err, size_t errlen)
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
	if (!parse_optional(t, &pd, &r, err, errlen))
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
	if (!parse_map(t, body, n, ph_len, err, errlen)) {
		table_reset(d, t);
		return false;
	}
	if (!t->names_logged && d->cb.table_unnamed && !d->cb.table_unnamed(d->cb.ctx, t)) {
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

	noff = calloc(t->ncols + 1, sizeof(uint32_t));
	mcount = calloc(t->ncols + 1, sizeof(uint32_t));
	if (!noff || !mcount)
		log_oom();
	for (p = lines; *p; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[2048], *tab1, *tab2;

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
		if (tab1)
			*tab1 = '\0';
		if (tab2)
			*tab2 = '\0';
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
	buf_reset(&t->keys);
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
				((const char **)c->members)[k] = m;
				((uint32_t *)c->member_lens)[k] = (uint32_t)strlen(m);
				m += strlen(m) + 1;
			}
		}
	}
	t->names_logged = true;
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
		buf_free(&d->tables[i].keys);
		free(d->tables[i].key_end);
		d->tables[i].key_end = NULL;
	}
	d->ntables = 0;
}
