/* SPDX-License-Identifier: MIT */
/*
 * MariaDB snapshot reader (see snapshot.h).  Each chunk is one
 * START TRANSACTION WITH CONSISTENT SNAPSHOT; its binlog point P from
 * SHOW STATUS LIKE 'binlog_snapshot_%'; one keyset SELECT streamed with
 * mysql_use_result; COMMIT.  Key bounds are SQL literals the server compares
 * with the column's own collation (strings as hex with their charset and
 * collation), so membership is never decided by comparing text here.  Values
 * come in the columns' own bytes (character_set_results = binary) and are
 * written with the decoder's own formatters, so a snapshot row is the same
 * text as the binlog row of the same values.  Does not use mysql.c.
 */
#include "source/mysql/snapshot.h"

#include <inttypes.h>
#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "source/mysql/charset.h"
#include "source/mysql/jsonb.h"

struct snap_conn {
	MYSQL *my;		/* the session, REPEATABLE READ, UTC, binary results */
	struct rc_buf sql;	/* statement text, reused */
	struct rc_buf lit;	/* key literals being split, reused */
	char peer[300];		/* host:port or socket, for messages */
};

static bool failf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool failf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* "peer: what: server error" */
static bool fail_my(struct snap_conn *c, const char *what, char *err, size_t errlen)
{
	return failf(err, errlen, "%s: %s: %s", c->peer, what, mysql_error(c->my));
}

static bool run(struct snap_conn *c, const char *sql, size_t len, const char *what, char *err,
		size_t errlen)
{
	if (mysql_real_query(c->my, sql, (unsigned long)len) != 0)
		return fail_my(c, what, err, errlen);
	return true;
}

/* `name` with backticks doubled. */
static void put_ident(struct rc_buf *b, const char *s)
{
	buf_putc(b, '`');
	for (; *s; s++) {
		if (*s == '`')
			buf_putc(b, '`');
		buf_putc(b, *s);
	}
	buf_putc(b, '`');
}

static void put_hex(struct rc_buf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o;

	buf_room(b, 2 * n + 3);
	o = b->data + b->len;
	*o++ = 'X';
	*o++ = '\'';
	for (size_t i = 0; i < n; i++) {
		*o++ = hex[p[i] >> 4];
		*o++ = hex[p[i] & 15];
	}
	*o++ = '\'';
	*o = '\0';
	b->len = (size_t)(o - b->data);
}

/* A UTF-8 string as an exact literal (no escaping questions). */
static void put_utf8_lit(struct rc_buf *b, const char *s)
{
	buf_puts(b, "_utf8mb4 ");
	put_hex(b, (const uint8_t *)s, strlen(s));
}

bool snap_connect(const struct snap_conn_opts *o, struct snap_conn **out, char *err, size_t errlen)
{
	struct snap_conn *c = calloc(1, sizeof(*c));
	unsigned timeout = o->connect_timeout ? o->connect_timeout : 10;
	char sql[160];
	bool ok = false;

	*out = NULL;
	if (!c)
		log_oom();
	if (o->socket && o->socket[0])
		snprintf(c->peer, sizeof(c->peer), "%s", o->socket);
	else
		snprintf(c->peer, sizeof(c->peer), "%s:%u", o->host ? o->host : "localhost",
			 o->port ? o->port : 3306);
	c->my = mysql_init(NULL);
	if (!c->my)
		log_oom();
	mysql_options(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (o->tls) {
		/* as the replica connection: the snapshot's rows are the data */
		my_bool on = 1;

		mysql_ssl_set(c->my, o->ssl_key, o->ssl_cert, o->ssl_ca, NULL, NULL);
		if (o->tls_required)
			mysql_options(c->my, MYSQL_OPT_SSL_ENFORCE, &on);
		if (o->tls_verify)
			mysql_options(c->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
	}
	if (!mysql_real_connect(c->my, o->socket && o->socket[0] ? NULL : o->host, o->user,
				o->password, NULL, o->port, o->socket && o->socket[0] ? o->socket : NULL,
				0)) {
		fail_my(c, "connect", err, errlen);
		goto out;
	}
	/*
	 * Results in each column's own bytes: text is converted by the
	 * decoder's charset code, as binlog rows are; a long net_write_timeout
	 * because the pipeline may read a streamed chunk slowly.
	 */
	snprintf(sql, sizeof(sql),
		 "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
	if (!run(c, sql, strlen(sql), "SET TRANSACTION ISOLATION LEVEL", err, errlen))
		goto out;
	snprintf(sql, sizeof(sql),
		 "SET SESSION time_zone = '+00:00', character_set_results = binary, "
		 "net_write_timeout = 600, max_statement_time = %.6f",
		 o->max_statement_time > 0 ? o->max_statement_time : 0.0);
	if (!run(c, sql, strlen(sql), "SET SESSION", err, errlen))
		goto out;
	*out = c;
	ok = true;
out:
	if (!ok)
		snap_close(c);
	return ok;
}

void snap_close(struct snap_conn *c)
{
	if (!c)
		return;
	if (c->my)
		mysql_close(c->my);
	buf_free(&c->sql);
	buf_free(&c->lit);
	free(c);
}

void snap_thread_init(void)
{
	mysql_thread_init();
}

void snap_thread_end(void)
{
	mysql_thread_end();
}

void *snap_conn_handle(struct snap_conn *c)
{
	return c->my;
}

/* ------------------------------------------------------------ table */

static char *dup_field(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		log_oom();
	return d;
}

static bool kind_of(struct snap_col *col, char *why, size_t whylen)
{
	static const struct {
		const char *type;
		enum snap_kind kind;
	} kinds[] = {
		{ "tinyint", SNAP_INT }, { "smallint", SNAP_INT }, { "mediumint", SNAP_INT },
		{ "int", SNAP_INT }, { "bigint", SNAP_INT }, { "decimal", SNAP_DECIMAL },
		{ "float", SNAP_FLOAT }, { "double", SNAP_DOUBLE }, { "year", SNAP_YEAR },
		{ "date", SNAP_DATE }, { "datetime", SNAP_DATETIME },
		{ "timestamp", SNAP_TIMESTAMP }, { "time", SNAP_TIME },
		{ "char", SNAP_TEXT }, { "varchar", SNAP_TEXT }, { "tinytext", SNAP_TEXT },
		{ "text", SNAP_TEXT }, { "mediumtext", SNAP_TEXT }, { "longtext", SNAP_TEXT },
		{ "binary", SNAP_BINARY }, { "varbinary", SNAP_BINARY },
		{ "tinyblob", SNAP_BINARY }, { "blob", SNAP_BINARY },
		{ "mediumblob", SNAP_BINARY }, { "longblob", SNAP_BINARY },
		{ "geometry", SNAP_GEOMETRY }, { "point", SNAP_GEOMETRY },
		{ "linestring", SNAP_GEOMETRY }, { "polygon", SNAP_GEOMETRY },
		{ "multipoint", SNAP_GEOMETRY }, { "multilinestring", SNAP_GEOMETRY },
		{ "multipolygon", SNAP_GEOMETRY }, { "geometrycollection", SNAP_GEOMETRY },
		{ "enum", SNAP_ENUM }, { "set", SNAP_SET }, { "bit", SNAP_BIT },
		/* MariaDB's fixed binary types, logged as BINARY(n) */
		{ "uuid", SNAP_FIXBIN }, { "inet6", SNAP_FIXBIN }, { "inet4", SNAP_FIXBIN },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(col->data_type, kinds[i].type) != 0)
			continue;
		col->kind = kinds[i].kind;
		/* text types of the binary charset are byte strings */
		if (col->kind == SNAP_TEXT &&
		    (col->charset_name == NULL || strcmp(col->charset_name, "binary") == 0))
			col->kind = SNAP_BINARY;
		if (col->kind == SNAP_BINARY || col->kind == SNAP_GEOMETRY ||
		    col->kind == SNAP_FIXBIN)
			col->collation = CHARSET_BINARY;
		if (col->kind == SNAP_FIXBIN)
			col->fixlen = strcmp(col->data_type, "inet4") == 0 ? 4 : 16;
		return true;
	}
	snprintf(why, whylen, "column `%s` has type %s, which the snapshot reader does not read",
		 col->name, col->column_type);
	return false;
}

/* The SELECT expression of a column's value. */
static void put_value_expr(struct rc_buf *b, const struct snap_col *col)
{
	switch (col->kind) {
	case SNAP_FLOAT:
		/* the exact float as a double: its text reads back exactly */
		buf_puts(b, "CAST(");
		put_ident(b, col->name);
		buf_puts(b, " AS DOUBLE)");
		break;
	case SNAP_FIXBIN:
		/* the binary form, as the binlog holds it */
		buf_puts(b, "CAST(");
		put_ident(b, col->name);
		buf_printf(b, " AS BINARY(%u))", col->fixlen);
		break;
	default:
		put_ident(b, col->name);
		break;
	}
}

/*
 * Key columns whose key literal needs an expression of its own: ENUM and
 * SET by number (their order), UUID and INET by their text (which the
 * server reads back as the value).
 */
static bool key_by_index(const struct snap_col *col)
{
	return col->kind == SNAP_ENUM || col->kind == SNAP_SET;
}

static bool key_by_text(const struct snap_col *col)
{
	return col->kind == SNAP_FIXBIN;
}

static bool load_columns(struct snap_conn *c, struct snap_table *t, char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	unsigned n = 0, cap = 0;
	bool ok = false;

	buf_reset(&c->sql);
	buf_puts(&c->sql,
		 "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.COLLATION_NAME, "
		 "c.CHARACTER_SET_NAME, co.ID, c.NUMERIC_SCALE, c.DATETIME_PRECISION, "
		 "c.IS_NULLABLE FROM information_schema.COLUMNS c "
		 "LEFT JOIN information_schema.COLLATIONS co ON co.COLLATION_NAME = c.COLLATION_NAME "
		 "WHERE c.TABLE_SCHEMA = ");
	put_utf8_lit(&c->sql, t->db);
	buf_puts(&c->sql, " AND c.TABLE_NAME = ");
	put_utf8_lit(&c->sql, t->name);
	buf_puts(&c->sql, " ORDER BY c.ORDINAL_POSITION");
	if (!run(c, c->sql.data, c->sql.len, "information_schema.COLUMNS", err, errlen))
		goto out;
	res = mysql_store_result(c->my);
	if (!res) {
		fail_my(c, "information_schema.COLUMNS", err, errlen);
		goto out;
	}
	while ((row = mysql_fetch_row(res))) {
		struct snap_col *col;

		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			t->cols = realloc(t->cols, cap * sizeof(*t->cols));
			if (!t->cols)
				log_oom();
		}
		col = &t->cols[n++];
		memset(col, 0, sizeof(*col));
		t->ncols = n;
		col->name = dup_field(row[0]);
		col->data_type = dup_field(row[1]);
		col->column_type = dup_field(row[2]);
		col->collation_name = dup_field(row[3]);
		col->charset_name = dup_field(row[4]);
		col->collation = row[5] ? (uint32_t)strtoul(row[5], NULL, 10) : 0;
		col->scale = row[6] ? (unsigned)strtoul(row[6], NULL, 10) : 0;
		col->fsp = row[7] ? (unsigned)strtoul(row[7], NULL, 10) : 0;
		col->nullable = row[8] && strcmp(row[8], "YES") == 0;
		col->is_unsigned = strstr(col->column_type, "unsigned") != NULL;
		col->key_part = -1;
		if (!kind_of(col, err, errlen)) {
			char why[300];

			snprintf(why, sizeof(why), "%s", err);
			failf(err, errlen, "table `%s`.`%s`: %s", t->db, t->name, why);
			goto out;
		}
	}
	if (mysql_errno(c->my)) {
		fail_my(c, "information_schema.COLUMNS", err, errlen);
		goto out;
	}
	if (n == 0) {
		failf(err, errlen, "table `%s`.`%s` does not exist (or has no columns this user can see)",
		      t->db, t->name);
		goto out;
	}
	ok = true;
out:
	if (res)
		mysql_free_result(res);
	return ok;
}

static int find_col(const struct snap_table *t, const char *name)
{
	for (unsigned i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * The key: PRIMARY, else the first UNIQUE index (in the server's order)
 * whose columns are all NOT NULL.  Left with nkey 0 when there is none.
 */
static bool load_key(struct snap_conn *c, struct snap_table *t, char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char *cur = NULL;		/* index being collected */
	unsigned *cols = NULL, ncols = 0;
	bool cur_ok = false, ok = false, chosen = false;

	buf_reset(&c->sql);
	buf_puts(&c->sql,
		 "SELECT INDEX_NAME, COLUMN_NAME, NULLABLE FROM information_schema.STATISTICS "
		 "WHERE NON_UNIQUE = 0 AND TABLE_SCHEMA = ");
	put_utf8_lit(&c->sql, t->db);
	buf_puts(&c->sql, " AND TABLE_NAME = ");
	put_utf8_lit(&c->sql, t->name);
	if (!run(c, c->sql.data, c->sql.len, "information_schema.STATISTICS", err, errlen))
		goto out;
	res = mysql_store_result(c->my);
	if (!res) {
		fail_my(c, "information_schema.STATISTICS", err, errlen);
		goto out;
	}
	cols = calloc(t->ncols + 1, sizeof(*cols));
	if (!cols)
		log_oom();
	/*
	 * Rows come index by index in SEQ_IN_INDEX order.  Collect all, then
	 * choose: PRIMARY wins wherever it is listed.
	 */
	for (;;) {
		row = mysql_fetch_row(res);
		if (!row || (cur && strcmp(row[0], cur) != 0)) {
			/* the index in hand is complete */
			if (cur && cur_ok && ncols > 0 &&
			    (!chosen || strcmp(cur, "PRIMARY") == 0)) {
				if (!chosen || strcmp(t->key_name, "PRIMARY") != 0) {
					free(t->key_name);
					t->key_name = dup_field(cur);
					free(t->key);
					t->key = malloc(ncols * sizeof(*t->key));
					if (!t->key)
						log_oom();
					memcpy(t->key, cols, ncols * sizeof(*cols));
					t->nkey = ncols;
					chosen = true;
				}
			}
			free(cur);
			cur = NULL;
			if (!row)
				break;
		}
		if (!cur) {
			cur = dup_field(row[0]);
			ncols = 0;
			cur_ok = true;
		}
		{
			int k = find_col(t, row[1] ? row[1] : "");

			/* NULLABLE is "YES" for a column that may be NULL */
			if (k < 0 || (row[2] && strcmp(row[2], "YES") == 0) || ncols >= t->ncols)
				cur_ok = false;
			else
				cols[ncols++] = (unsigned)k;
		}
	}
	if (mysql_errno(c->my)) {
		fail_my(c, "information_schema.STATISTICS", err, errlen);
		goto out;
	}
	for (unsigned i = 0; i < t->nkey; i++)
		t->cols[t->key[i]].key_part = (int)i;
	ok = true;
out:
	free(cur);
	free(cols);
	if (res)
		mysql_free_result(res);
	return ok;
}

static bool load_estimate(struct snap_conn *c, struct snap_table *t, char *err, size_t errlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	buf_reset(&c->sql);
	buf_puts(&c->sql, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ");
	put_utf8_lit(&c->sql, t->db);
	buf_puts(&c->sql, " AND TABLE_NAME = ");
	put_utf8_lit(&c->sql, t->name);
	if (!run(c, c->sql.data, c->sql.len, "information_schema.TABLES", err, errlen))
		return false;
	res = mysql_store_result(c->my);
	if (!res)
		return fail_my(c, "information_schema.TABLES", err, errlen);
	row = mysql_fetch_row(res);
	t->est_rows = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return true;
}

/* SELECT list, ORDER BY and the field of each key column's key text. */
static void build_select(struct snap_table *t)
{
	unsigned extra = 0;

	t->key_field = calloc(t->nkey + 1, sizeof(*t->key_field));
	if (!t->key_field)
		log_oom();
	buf_reset(&t->select);
	buf_puts(&t->select, "SELECT ");
	for (unsigned i = 0; i < t->ncols; i++) {
		if (i)
			buf_putc(&t->select, ',');
		put_value_expr(&t->select, &t->cols[i]);
	}
	for (unsigned k = 0; k < t->nkey; k++) {
		const struct snap_col *col = &t->cols[t->key[k]];

		if (key_by_index(col)) {
			buf_putc(&t->select, ',');
			put_ident(&t->select, col->name);
			buf_puts(&t->select, "+0");
			t->key_field[k] = t->ncols + extra++;
		} else if (key_by_text(col)) {
			buf_puts(&t->select, ",CAST(");
			put_ident(&t->select, col->name);
			buf_puts(&t->select, " AS CHAR)");
			t->key_field[k] = t->ncols + extra++;
		} else {
			t->key_field[k] = t->key[k];
		}
	}
	t->nfields = t->ncols + extra;
	buf_puts(&t->select, " FROM ");
	put_ident(&t->select, t->db);
	buf_putc(&t->select, '.');
	put_ident(&t->select, t->name);
	buf_reset(&t->order);
	for (unsigned k = 0; k < t->nkey; k++) {
		buf_puts(&t->order, k ? "," : " ORDER BY ");
		put_ident(&t->order, t->cols[t->key[k]].name);
	}
}

/*
 * Append the SQL literal of key column k's value (field f of n bytes) and
 * a comma when not the last: the server reads it back as exactly the
 * stored value and compares it with the column's collation.
 */
static void put_key_lit(struct rc_buf *b, const struct snap_col *col, const char *f, size_t n)
{
	switch (col->kind) {
	case SNAP_TEXT:
		buf_putc(b, '_');
		buf_puts(b, col->charset_name);
		buf_putc(b, ' ');
		put_hex(b, (const uint8_t *)f, n);
		buf_puts(b, " COLLATE ");
		buf_puts(b, col->collation_name);
		break;
	case SNAP_BINARY:
	case SNAP_GEOMETRY:
		put_hex(b, (const uint8_t *)f, n);
		break;
	case SNAP_DATE:
	case SNAP_DATETIME:
	case SNAP_TIMESTAMP:
	case SNAP_TIME:
	case SNAP_FIXBIN:	/* its text: hex digits, '-', ':' and '.' */
		buf_putc(b, '\'');
		buf_append(b, f, n);
		buf_putc(b, '\'');
		break;
	case SNAP_BIT: {
		uint64_t v = 0;

		for (size_t i = 0; i < n; i++)
			v = v << 8 | (uint8_t)f[i];
		buf_put_u64(b, v);
		break;
	}
	default:	/* numbers, and ENUM/SET indexes (col+0) */
		buf_append(b, f, n);
		break;
	}
}

/* Key literals of the current row into b (reset first). */
static void row_key(const struct snap_table *t, MYSQL_ROW row, const unsigned long *lens,
		    struct rc_buf *b)
{
	buf_reset(b);
	for (unsigned k = 0; k < t->nkey; k++) {
		const struct snap_col *col = &t->cols[t->key[k]];
		unsigned f = t->key_field[k];
		const struct snap_col num = { .kind = SNAP_INT };

		if (k)
			buf_putc(b, ',');
		put_key_lit(b, key_by_index(col) ? &num : col, row[f], lens[f]);
	}
}

/*
 * Split key literals at their commas into lits[] (pointers into c->lit).
 * No literal holds a comma: numbers, 'temporal text', X'hex' with an
 * introducer and COLLATE name.
 */
static bool split_key(struct snap_conn *c, const struct snap_table *t, const char *key,
		      const char **lits, char *err, size_t errlen)
{
	unsigned k = 0;
	char *p;

	buf_reset(&c->lit);
	buf_puts(&c->lit, key);
	p = c->lit.data;
	while (k < t->nkey) {
		lits[k++] = p;
		p = strchr(p, ',');
		if (!p)
			break;
		*p++ = '\0';
	}
	if (k != t->nkey || p != NULL)
		return failf(err, errlen, "table `%s`.`%s`: key \"%s\" does not have %u parts",
			     t->db, t->name, key, t->nkey);
	return true;
}

/*
 * The keyset predicate on key tuples against lits: op_last is the
 * comparison of the last column (">" for after, "<=" for up to), op the
 * one of the others ('>' or '<').  Written as an OR of ranges, which the
 * range optimizer reads on the index.
 */
static void put_keyset(struct rc_buf *b, const struct snap_table *t, const char **lits,
		       const char *op, const char *op_last)
{
	buf_putc(b, '(');
	for (unsigned i = 0; i < t->nkey; i++) {
		if (i)
			buf_puts(b, " OR ");
		buf_putc(b, '(');
		for (unsigned j = 0; j < i; j++) {
			put_ident(b, t->cols[t->key[j]].name);
			buf_putc(b, '=');
			buf_puts(b, lits[j]);
			buf_puts(b, " AND ");
		}
		put_ident(b, t->cols[t->key[i]].name);
		buf_puts(b, i + 1 == t->nkey ? op_last : op);
		buf_puts(b, lits[i]);
		buf_putc(b, ')');
	}
	buf_putc(b, ')');
}

/* START TRANSACTION WITH CONSISTENT SNAPSHOT and its binlog point. */
static bool begin_snapshot(struct snap_conn *c, char *file, size_t filelen, uint64_t *pos,
			   char *err, size_t errlen)
{
	static const char start[] = "START TRANSACTION WITH CONSISTENT SNAPSHOT";
	static const char status[] = "SHOW STATUS LIKE 'binlog_snapshot_%'";
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool have_file = false, have_pos = false;

	if (!run(c, start, sizeof(start) - 1, "START TRANSACTION WITH CONSISTENT SNAPSHOT", err,
		 errlen))
		return false;
	if (!run(c, status, sizeof(status) - 1, "SHOW STATUS LIKE 'binlog_snapshot_%'", err, errlen))
		return false;
	res = mysql_store_result(c->my);
	if (!res)
		return fail_my(c, "SHOW STATUS LIKE 'binlog_snapshot_%'", err, errlen);
	while ((row = mysql_fetch_row(res))) {
		if (!row[0] || !row[1])
			continue;
		if (strcasecmp(row[0], "Binlog_snapshot_file") == 0 && row[1][0]) {
			snprintf(file, filelen, "%s", row[1]);
			have_file = true;
		} else if (strcasecmp(row[0], "Binlog_snapshot_position") == 0) {
			*pos = strtoull(row[1], NULL, 10);
			have_pos = true;
		}
	}
	mysql_free_result(res);
	if (!have_file || !have_pos) {
		run(c, "ROLLBACK", 8, "ROLLBACK", NULL, 0);
		return failf(err, errlen,
			     "%s: the server gives no Binlog_snapshot_file/position (a MariaDB "
			     "with log_bin is needed for a snapshot)", c->peer);
	}
	return true;
}

/* The largest key, in a consistent snapshot of its own. */
static bool load_max_key(struct snap_conn *c, struct snap_table *t, char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char file[512];
	uint64_t pos = 0;
	bool ok = false;

	if (!begin_snapshot(c, file, sizeof(file), &pos, err, errlen))
		return false;
	buf_reset(&c->sql);
	buf_append(&c->sql, t->select.data, t->select.len);
	for (unsigned k = 0; k < t->nkey; k++) {
		buf_puts(&c->sql, k ? "," : " ORDER BY ");
		put_ident(&c->sql, t->cols[t->key[k]].name);
		buf_puts(&c->sql, " DESC");
	}
	buf_puts(&c->sql, " LIMIT 1");
	if (!run(c, c->sql.data, c->sql.len, "SELECT (largest key)", err, errlen))
		goto out;
	res = mysql_store_result(c->my);
	if (!res) {
		fail_my(c, "SELECT (largest key)", err, errlen);
		goto out;
	}
	row = mysql_fetch_row(res);
	if (row) {
		struct rc_buf b = { 0 };

		row_key(t, row, mysql_fetch_lengths(res), &b);
		t->max_key = b.data;	/* the buffer is the string */
	}
	ok = true;
out:
	if (res)
		mysql_free_result(res);
	if (!run(c, "COMMIT", 6, "COMMIT", ok ? err : NULL, errlen))
		ok = false;
	return ok;
}

bool snap_table_open(struct snap_conn *c, const char *db, const char *table, bool allow_keyless,
		     struct snap_table **out, char *err, size_t errlen)
{
	struct snap_table *t = calloc(1, sizeof(*t));
	const char *lits[64];
	bool ok = false;

	*out = NULL;
	if (!t)
		log_oom();
	t->conn = c;
	t->db = dup_field(db);
	t->name = dup_field(table);
	if (!load_columns(c, t, err, errlen) || !load_key(c, t, err, errlen) ||
	    !load_estimate(c, t, err, errlen))
		goto out;
	if (t->nkey == 0 && !allow_keyless) {
		failf(err, errlen,
		      "table `%s`.`%s` has no primary key and no unique index on NOT NULL "
		      "columns, so it cannot be read in chunks: add such a key, or allow a "
		      "single-pass snapshot of keyless tables", db, table);
		goto out;
	}
	if (t->nkey > sizeof(lits) / sizeof(lits[0])) {
		failf(err, errlen, "table `%s`.`%s`: a key of %u columns is too long", db, table,
		      t->nkey);
		goto out;
	}
	build_select(t);
	if (t->nkey > 0) {
		if (!load_max_key(c, t, err, errlen))
			goto out;
		if (t->max_key) {
			if (!split_key(c, t, t->max_key, lits, err, errlen))
				goto out;
			buf_reset(&t->upper);
			put_keyset(&t->upper, t, lits, "<", "<=");
		} else {
			t->finished = true;	/* empty at open */
		}
	}
	*out = t;
	ok = true;
out:
	if (!ok)
		snap_table_free(t);
	return ok;
}

bool snap_is_mariadb(const struct snap_conn *c)
{
	const char *v = c && c->my ? mysql_get_server_info(c->my) : NULL;

	return v && strstr(v, "MariaDB");
}

bool snap_check_where(struct snap_conn *c, const char *db, const char *table, const char *where,
		      char *err, size_t errlen)
{
	MYSQL_RES *res;

	buf_reset(&c->sql);
	buf_puts(&c->sql, "SELECT 1 FROM ");
	put_ident(&c->sql, db);
	buf_putc(&c->sql, '.');
	put_ident(&c->sql, table);
	buf_puts(&c->sql, " WHERE (");
	buf_puts(&c->sql, where);
	buf_puts(&c->sql, ") LIMIT 0");
	if (mysql_real_query(c->my, c->sql.data, (unsigned long)c->sql.len) != 0)
		return failf(err, errlen, "%s.%s: WHERE %s: %s", db, table, where,
			     mysql_error(c->my));
	res = mysql_store_result(c->my);
	if (res)
		mysql_free_result(res);
	return true;
}

unsigned snap_errno(const struct snap_conn *c)
{
	return c && c->my ? mysql_errno(c->my) : 0;
}

bool snap_list_tables(struct snap_conn *c, struct rc_buf *out, char *err, size_t errlen)
{
	static const char q[] =
		"SELECT TABLE_SCHEMA, TABLE_NAME, IFNULL(ENGINE, '') FROM information_schema.TABLES "
		"WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME";
	MYSQL_RES *res;
	MYSQL_ROW row;

	buf_reset(out);
	if (!run(c, q, sizeof(q) - 1, "list of tables", err, errlen))
		return false;
	res = mysql_store_result(c->my);
	if (!res)
		return fail_my(c, "list of tables", err, errlen);
	while ((row = mysql_fetch_row(res))) {
		if (!row[0] || !row[1] || strpbrk(row[0], "\t\n") || strpbrk(row[1], "\t\n"))
			continue;
		buf_printf(out, "%s\t%s\t%s\n", row[0], row[1], row[2] ? row[2] : "");
	}
	mysql_free_result(res);
	return true;
}

bool snap_table_set_range(struct snap_table *t, const char *max_key, const char *where,
			  char *err, size_t errlen)
{
	const char *lits[64];

	if (where) {
		free(t->where);
		t->where = dup_field(where);
	}
	if (!max_key || t->nkey == 0)
		return true;
	if (!split_key(t->conn, t, max_key, lits, err, errlen))
		return false;
	free(t->max_key);
	t->max_key = dup_field(max_key);
	buf_reset(&t->upper);
	put_keyset(&t->upper, t, lits, "<", "<=");
	t->finished = false;
	return true;
}

void snap_table_free(struct snap_table *t)
{
	if (!t)
		return;
	if (t->res) {
		mysql_free_result(t->res);
		run(t->conn, "ROLLBACK", 8, "ROLLBACK", NULL, 0);
	}
	for (unsigned i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].data_type);
		free(t->cols[i].column_type);
		free(t->cols[i].collation_name);
		free(t->cols[i].charset_name);
	}
	free(t->cols);
	free(t->key);
	free(t->key_name);
	free(t->key_field);
	free(t->max_key);
	free(t->where);
	free(t->db);
	free(t->name);
	buf_free(&t->select);
	buf_free(&t->order);
	buf_free(&t->upper);
	free(t);
}

/* ------------------------------------------------------------ values */

/* A number field as a C string (fields are short; longer ones are cut). */
static const char *num_str(const char *f, size_t n, char *tmp, size_t tmplen)
{
	if (n >= tmplen)
		n = tmplen - 1;
	memcpy(tmp, f, n);
	tmp[n] = '\0';
	return tmp;
}

/* Append the native JSON text of one value (f NULL for SQL NULL). */
static void put_value(const struct snap_col *col, const char *f, size_t n, struct rc_buf *out)
{
	char tmp[64];

	if (!f) {
		buf_append(out, "null", 4);
		return;
	}
	switch (col->kind) {
	case SNAP_INT:
		buf_append(out, f, n);
		break;
	case SNAP_DECIMAL:
	case SNAP_DATE:
	case SNAP_DATETIME:
	case SNAP_TIME:
		buf_room(out, n + 2);
		out->data[out->len++] = '"';
		memcpy(out->data + out->len, f, n);
		out->len += n;
		out->data[out->len++] = '"';
		out->data[out->len] = '\0';
		break;
	case SNAP_TIMESTAMP:
		/* UTC (the session's zone); the zero value has no zone */
		buf_room(out, n + 3);
		out->data[out->len++] = '"';
		memcpy(out->data + out->len, f, n);
		out->len += n;
		if (!(n >= 10 && memcmp(f, "0000-00-00", 10) == 0))
			out->data[out->len++] = 'Z';
		out->data[out->len++] = '"';
		out->data[out->len] = '\0';
		break;
	case SNAP_FLOAT:
		buf_put_float(out, (float)strtod(num_str(f, n, tmp, sizeof(tmp)), NULL));
		break;
	case SNAP_DOUBLE:
		buf_put_double(out, strtod(num_str(f, n, tmp, sizeof(tmp)), NULL));
		break;
	case SNAP_YEAR:
		buf_put_u64(out, strtoull(num_str(f, n, tmp, sizeof(tmp)), NULL, 10));
		break;
	case SNAP_TEXT:
		charset_json_str(col->collation, (const uint8_t *)f, n, out, NULL);
		break;
	case SNAP_BINARY:
	case SNAP_GEOMETRY:
	case SNAP_FIXBIN:
		buf_json_base64(out, (const uint8_t *)f, n);
		break;
	case SNAP_ENUM:
	case SNAP_SET:
		/* names in the column's charset; the TABLE_MAP logs them in
		   UTF-8, which this gives back */
		charset_json_str(col->collation, (const uint8_t *)f, n, out, NULL);
		break;
	case SNAP_BIT: {
		uint64_t v = 0;

		for (size_t i = 0; i < n; i++)
			v = v << 8 | (uint8_t)f[i];
		buf_put_u64(out, v);
		break;
	}
	}
}

/* ------------------------------------------------------------ chunks */

static void chunk_reset(struct snap_chunk *ch, unsigned ncols)
{
	ch->binlog_file[0] = '\0';
	ch->binlog_pos = 0;
	ch->nrows = 0;
	ch->ncols = ncols;
	ch->bytes = 0;
	ch->last = false;
	ch->elapsed_us = 0;
	ch->started_us = 0;
	ch->open = false;
	buf_reset(&ch->vals);
	buf_reset(&ch->last_key);
	if (!ch->offs) {
		ch->offs_cap = (size_t)ncols * 64 + 1;
		ch->offs = malloc(ch->offs_cap * sizeof(*ch->offs));
		if (!ch->offs)
			log_oom();
	}
	ch->offs[0] = 0;
}

/* Room for one more row's offsets. */
static void chunk_grow(struct snap_chunk *ch)
{
	size_t need = (ch->nrows + 1) * ch->ncols + 1;

	if (need <= ch->offs_cap)
		return;
	while (ch->offs_cap < need)
		ch->offs_cap *= 2;
	ch->offs = realloc(ch->offs, ch->offs_cap * sizeof(*ch->offs));
	if (!ch->offs)
		log_oom();
}

/*
 * Read rows of res into ch until max_rows, max_bytes or the end.  *end is
 * true when the result is exhausted (false when a limit stopped it).
 */
static bool read_rows(struct snap_table *t, MYSQL_RES *res, size_t max_rows, size_t max_bytes,
		      struct snap_chunk *ch, bool *end, char *err, size_t errlen)
{
	struct snap_conn *c = t->conn;
	MYSQL_ROW row;

	*end = false;
	/* the columns were read at open: a table altered since is not read */
	if (mysql_num_fields(res) != t->nfields)
		return failf(err, errlen,
			     "table `%s`.`%s`: the SELECT gave %u columns, not %u: altered since "
			     "it was opened?", t->db, t->name, mysql_num_fields(res), t->nfields);
	while (ch->nrows < max_rows && (max_bytes == 0 || ch->bytes < max_bytes)) {
		unsigned long *lens;
		size_t base;

		row = mysql_fetch_row(res);
		if (!row) {
			if (mysql_errno(c->my))
				return fail_my(c, "SELECT (reading rows)", err, errlen);
			*end = true;
			return true;
		}
		lens = mysql_fetch_lengths(res);
		chunk_grow(ch);
		base = ch->nrows * ch->ncols;
		for (unsigned i = 0; i < t->ncols; i++) {
			ch->offs[base + i] = ch->vals.len;
			put_value(&t->cols[i], row[i], lens[i], &ch->vals);
			ch->bytes += lens[i];
		}
		ch->offs[base + t->ncols] = ch->vals.len;
		if (t->nkey)
			row_key(t, row, lens, &ch->last_key);
		ch->nrows++;
	}
	return true;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The keyless single pass: one transaction over consecutive calls. */
static bool chunk_keyless(struct snap_table *t, size_t max_rows, size_t max_bytes,
			  struct snap_chunk *ch, char *err, size_t errlen)
{
	struct snap_conn *c = t->conn;
	bool end = false, ok = false;

	if (t->finished) {	/* the pass is over: not a second one */
		snprintf(ch->binlog_file, sizeof(ch->binlog_file), "%s", t->pass_file);
		ch->binlog_pos = t->pass_pos;
		ch->last = true;
		return true;
	}
	if (!t->res) {
		if (!begin_snapshot(c, t->pass_file, sizeof(t->pass_file), &t->pass_pos, err,
				    errlen))
			return false;
		/*
		 * One statement reads the whole table: the per-statement time
		 * limit would cut every large table, so this one has none (the
		 * configuration allowed it).
		 */
		buf_reset(&c->sql);
		buf_puts(&c->sql, "SET STATEMENT max_statement_time = 0 FOR ");
		buf_append(&c->sql, t->select.data, t->select.len);
		if (t->where) {
			buf_puts(&c->sql, " WHERE (");
			buf_puts(&c->sql, t->where);
			buf_putc(&c->sql, ')');
		}
		if (!run(c, c->sql.data, c->sql.len, "SELECT", err, errlen))
			goto out;
		t->res = mysql_use_result(c->my);
		if (!t->res) {
			fail_my(c, "SELECT", err, errlen);
			goto out;
		}
	}
	snprintf(ch->binlog_file, sizeof(ch->binlog_file), "%s", t->pass_file);
	ch->binlog_pos = t->pass_pos;
	if (!read_rows(t, t->res, max_rows, max_bytes, ch, &end, err, errlen))
		goto out;
	if (end) {
		mysql_free_result(t->res);
		t->res = NULL;
		if (!run(c, "COMMIT", 6, "COMMIT", err, errlen))
			goto out;
		t->finished = true;
		ch->last = true;
	}
	ok = true;
out:
	if (!ok && t->res) {
		mysql_free_result(t->res);
		t->res = NULL;
	}
	if (!ok)
		run(c, "ROLLBACK", 8, "ROLLBACK", NULL, 0);
	return ok;
}

bool snap_chunk_begin(struct snap_table *t, const char *last_key, struct snap_chunk *ch,
		      char *err, size_t errlen)
{
	struct snap_conn *c = t->conn;
	const char *lits[64];
	uint64_t t0 = now_us();

	chunk_reset(ch, t->ncols);
	ch->started_us = t0;
	if (t->nkey == 0)
		return failf(err, errlen, "table `%s`.`%s` has no key: it is read in one pass",
			     t->db, t->name);
	if (last_key && !split_key(c, t, last_key, lits, err, errlen))
		return false;
	if (!begin_snapshot(c, ch->binlog_file, sizeof(ch->binlog_file), &ch->binlog_pos, err,
			    errlen))
		return false;
	ch->open = true;
	return true;
}

bool snap_chunk_rows(struct snap_table *t, const char *last_key, size_t max_rows,
		     size_t max_bytes, struct snap_chunk *ch, char *err, size_t errlen)
{
	struct snap_conn *c = t->conn;
	MYSQL_RES *res = NULL;
	const char *lits[64];
	bool end = false, ok = false;

	if (!ch->open)
		return failf(err, errlen, "table `%s`.`%s`: no chunk begun", t->db, t->name);
	if (max_rows == 0) {
		failf(err, errlen, "table `%s`.`%s`: a chunk of 0 rows", t->db, t->name);
		goto out;
	}
	if (t->max_key == NULL || (last_key && strcmp(last_key, t->max_key) == 0)) {
		ch->last = true;	/* nothing up to the max key is left */
		ok = true;
		goto out;
	}
	if (last_key && !split_key(c, t, last_key, lits, err, errlen))
		goto out;
	buf_reset(&c->sql);
	buf_append(&c->sql, t->select.data, t->select.len);
	buf_puts(&c->sql, " WHERE ");
	if (last_key) {
		put_keyset(&c->sql, t, lits, ">", ">");
		buf_puts(&c->sql, " AND ");
	}
	buf_append(&c->sql, t->upper.data, t->upper.len);
	if (t->where) {
		buf_puts(&c->sql, " AND (");
		buf_puts(&c->sql, t->where);
		buf_putc(&c->sql, ')');
	}
	buf_append(&c->sql, t->order.data, t->order.len);
	buf_printf(&c->sql, " LIMIT %zu", max_rows);
	if (!run(c, c->sql.data, c->sql.len, "SELECT", err, errlen))
		goto out;
	res = mysql_use_result(c->my);
	if (!res) {
		fail_my(c, "SELECT", err, errlen);
		goto out;
	}
	if (!read_rows(t, res, max_rows, max_bytes, ch, &end, err, errlen))
		goto out;
	/* fewer rows than asked and no byte limit hit: the range is done */
	if ((end && ch->nrows < max_rows) || ch->nrows == 0 ||
	    strcmp(ch->last_key.data, t->max_key) == 0)
		ch->last = true;
	ok = true;
out:
	if (res)
		mysql_free_result(res);	/* drains what a byte limit left */
	ch->open = false;
	if (!run(c, ok ? "COMMIT" : "ROLLBACK", ok ? 6 : 8, "COMMIT", ok ? err : NULL, errlen))
		ok = false;
	if (ok && ch->last)
		t->finished = true;
	ch->elapsed_us = now_us() - ch->started_us;
	return ok;
}

bool snap_chunk(struct snap_table *t, const char *last_key, size_t max_rows, size_t max_bytes,
		struct snap_chunk *ch, char *err, size_t errlen)
{
	uint64_t t0 = now_us();
	bool ok;

	if (max_rows == 0) {
		chunk_reset(ch, t->ncols);
		return failf(err, errlen, "table `%s`.`%s`: a chunk of 0 rows", t->db, t->name);
	}
	if (t->nkey == 0) {
		chunk_reset(ch, t->ncols);
		ok = chunk_keyless(t, max_rows, max_bytes, ch, err, errlen);
		ch->elapsed_us = now_us() - t0;
		return ok;
	}
	return snap_chunk_begin(t, last_key, ch, err, errlen) &&
	       snap_chunk_rows(t, last_key, max_rows, max_bytes, ch, err, errlen);
}

void snap_chunk_release(struct snap_chunk *ch)
{
	buf_free(&ch->vals);
	buf_free(&ch->last_key);
	free(ch->offs);
	ch->offs = NULL;
	ch->offs_cap = 0;
	ch->nrows = 0;
}

size_t snap_next_rows(size_t rows, uint64_t elapsed_us, uint64_t target_us, size_t min_rows,
		      size_t max_rows)
{
	double want;

	if (min_rows == 0)
		min_rows = 1;
	if (max_rows < min_rows)
		max_rows = min_rows;
	if (rows == 0)
		return min_rows;
	want = elapsed_us ? (double)rows * (double)target_us / (double)elapsed_us
			  : 2.0 * (double)rows;
	if (want > 2.0 * (double)rows)
		want = 2.0 * (double)rows;
	if (want < (double)rows / 2)
		want = (double)rows / 2;
	if (want < (double)min_rows)
		return min_rows;
	if (want > (double)max_rows)
		return max_rows;
	return (size_t)want;
}

size_t snap_rows_in_bytes(size_t rows, uint64_t bytes, uint64_t max_bytes)
{
	double fit;

	if (max_bytes == 0 || bytes == 0 || rows == 0)
		return SIZE_MAX;
	fit = (double)rows * (double)max_bytes / (double)bytes;
	if (fit < 1)
		return 1;
	if (fit >= (double)SIZE_MAX)
		return SIZE_MAX;
	return (size_t)fit;
}

uint64_t snap_pace_us(uint64_t rows_done, uint64_t elapsed_us, double rate)
{
	double due;

	if (rate <= 0)
		return 0;
	due = (double)rows_done / rate * 1e6;	/* when these rows are allowed */
	if (due <= (double)elapsed_us)
		return 0;
	return (uint64_t)(due - (double)elapsed_us);
}
