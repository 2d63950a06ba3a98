/* SPDX-License-Identifier: MIT */
/*
 * MariaDB snapshot reader: the existing rows of one table, in chunks by key,
 * each chunk read in its own consistent-snapshot transaction on a second
 * connection, with the exact binlog point P of that read view and every value
 * written as the native JSON text the binlog decoder publishes for it.  No
 * global or table lock.  Does not publish, buffer against the binlog reader,
 * checkpoint or pace itself: the pipeline does.
 */
#ifndef RC_SOURCE_MYSQL_SNAPSHOT_H
#define RC_SOURCE_MYSQL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Where and how to connect. */
struct snap_conn_opts {
	const char *host;		/* host name or address; NULL with socket */
	unsigned port;			/* TCP port, 0 = 3306 */
	const char *socket;		/* Unix socket path, or NULL */
	const char *user;		/* user name */
	const char *password;		/* password, or NULL */
	double max_statement_time;	/* seconds per statement, 0 = no limit */
	unsigned connect_timeout;	/* seconds, 0 = 10 */
	bool tls;			/* ask for TLS ([source] ssl_mode not disabled) */
	bool tls_required;		/* refuse a connection without it */
	bool tls_verify;		/* check the server's certificate */
	const char *ssl_ca, *ssl_cert, *ssl_key;	/* PEM files, or NULL */
};

/* How a column's values are read and written (see snapshot.c). */
enum snap_kind {
	SNAP_INT,		/* TINYINT..BIGINT: JSON number as the server writes it */
	SNAP_DECIMAL,		/* DECIMAL: JSON string with the column's scale */
	SNAP_FLOAT,		/* FLOAT: read as DOUBLE, shortest float text */
	SNAP_DOUBLE,		/* DOUBLE: shortest round-trip text */
	SNAP_YEAR,		/* YEAR: JSON number, 0 for 0000 */
	SNAP_DATE,		/* DATE: "YYYY-MM-DD" */
	SNAP_DATETIME,		/* DATETIME(fsp): "YYYY-MM-DD hh:mm:ss[.f]" */
	SNAP_TIMESTAMP,		/* TIMESTAMP(fsp): in UTC with Z (zero: no Z) */
	SNAP_TIME,		/* TIME(fsp): "[-]hhh:mm:ss[.f]" */
	SNAP_TEXT,		/* CHAR/VARCHAR/TEXT (and MariaDB JSON): to UTF-8 */
	SNAP_BINARY,		/* BINARY/VARBINARY/BLOB: base64 */
	SNAP_GEOMETRY,		/* GEOMETRY family: base64 of SRID + WKB */
	SNAP_ENUM,		/* ENUM: member name */
	SNAP_SET,		/* SET: member names joined by commas */
	SNAP_BIT,		/* BIT(n): JSON number */
	SNAP_FIXBIN,		/* UUID, INET6, INET4: base64 of the binary form */
};

/* One column of a snapshot table, in table order. */
struct snap_col {
	char *name;		/* column name (UTF-8), owned */
	char *data_type;	/* information_schema DATA_TYPE, owned */
	char *column_type;	/* information_schema COLUMN_TYPE, owned */
	char *collation_name;	/* COLLATION_NAME, owned; NULL when none */
	char *charset_name;	/* CHARACTER_SET_NAME, owned; NULL when none */
	uint32_t collation;	/* collation id; 63 (binary) for byte strings */
	unsigned scale;		/* NUMERIC_SCALE (DECIMAL) */
	unsigned fsp;		/* DATETIME_PRECISION (temporal types) */
	unsigned fixlen;	/* SNAP_FIXBIN: bytes of the binary form */
	bool is_unsigned;	/* UNSIGNED numeric column */
	bool nullable;		/* IS_NULLABLE */
	enum snap_kind kind;	/* how values are read and written */
	int key_part;		/* position in the chosen key, -1 when not in it */
};

struct snap_conn;

/* One table being snapshotted: its columns, key and key range. */
struct snap_table {
	struct snap_conn *conn;	/* the connection it reads on (not owned) */
	char *db;		/* schema name, owned */
	char *name;		/* table name, owned */
	struct snap_col *cols;	/* columns in table order, owned */
	unsigned ncols;		/* how many */
	unsigned *key;		/* column indexes of the key, in key order, owned;
				   snap_value(ch, row, key[k]) is the JSON text the
				   decoder writes for that column: match binlog row
				   keys against it byte for byte */
	unsigned nkey;		/* key columns; 0 for a keyless single pass */
	char *key_name;		/* "PRIMARY" or the UNIQUE index name; NULL keyless */
	unsigned *key_field;	/* per key column: result field with its key text */
	unsigned nfields;	/* result fields per row (ncols + extra key exprs) */
	char *max_key;		/* key literals of the largest key at open, owned;
				   NULL when the table was empty */
	uint64_t est_rows;	/* information_schema TABLES.TABLE_ROWS */
	char *where;		/* SQL condition rows must also meet, owned; NULL: none */
	struct rc_buf select;	/* "SELECT <exprs> FROM `db`.`t`", built once */
	struct rc_buf order;	/* " ORDER BY `k1`,`k2`" */
	struct rc_buf upper;	/* predicate "key <= max key", built once */
	bool pass_open;		/* keyless: the single pass's result is open */
	bool finished;		/* every row up to max_key was returned */
	void *res;		/* keyless: the open MYSQL_RES of the pass */
	char pass_file[512];	/* keyless: P of the single pass */
	uint64_t pass_pos;	/* keyless: P of the single pass */
};

/* One chunk: a prefix, in key order, of the rows after the last key. */
struct snap_chunk {
	char binlog_file[512];	/* P: Binlog_snapshot_file of the read view */
	uint64_t binlog_pos;	/* P: Binlog_snapshot_position */
	size_t nrows;		/* rows in this chunk */
	unsigned ncols;		/* values per row (the table's columns) */
	struct rc_buf vals;	/* every value's native JSON text, back to back */
	size_t *offs;		/* nrows * ncols + 1 offsets into vals, owned */
	size_t offs_cap;	/* entries allocated in offs */
	struct rc_buf last_key;	/* key literals of the last row ("" when none):
				   pass it as last_key to read on */
	bool last;		/* no rows remain after this chunk */
	uint64_t bytes;		/* bytes of row data received */
	uint64_t elapsed_us;	/* wall time of the chunk's transaction */
	uint64_t started_us;	/* when it began (monotonic) */
	bool open;		/* its transaction is open: snap_chunk_begin()
				   was called, snap_chunk_rows() not yet */
};

/*
 * Connect and set the session: REPEATABLE READ, time_zone '+00:00',
 * results in the columns' own character sets, max_statement_time.  On
 * success *out is the connection (free with snap_close()); on failure false
 * and the reason in err.
 */
bool snap_connect(const struct snap_conn_opts *o, struct snap_conn **out, char *err,
		  size_t errlen) __attribute__((warn_unused_result));

/* Close the connection; NULL is a no-op. */
void snap_close(struct snap_conn *c);

/* A thread other than the one that connected uses a connection (one
 * thread at a time): it calls these first and last. */
void snap_thread_init(void);
void snap_thread_end(void);

/* The libmariadb handle (MYSQL *), for diagnostics only. */
void *snap_conn_handle(struct snap_conn *c);

/*
 * Describe db.table: columns, the key (PRIMARY, else the first UNIQUE index
 * whose columns are all NOT NULL), the row estimate and, inside a consistent
 * snapshot, the largest key.  A table without such a key is refused unless
 * allow_keyless (then it is read in one pass, see snap_chunk()).  On success
 * *out is the table (free with snap_table_free()).
 */
bool snap_table_open(struct snap_conn *c, const char *db, const char *table, bool allow_keyless,
		     struct snap_table **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Narrow an open table: max_key (key literals, as a chunk's last_key) is the
 * largest key to read, kept from the snapshot's start across a restart
 * (NULL: the one found at open); where (NULL: none) is an SQL condition
 * every row read must also meet, as the server evaluates it.
 */
bool snap_table_set_range(struct snap_table *t, const char *max_key, const char *where,
			  char *err, size_t errlen) __attribute__((warn_unused_result));

/* Is the server MariaDB (the only one with Binlog_snapshot_file/position)? */
bool snap_is_mariadb(const struct snap_conn *c);

/* Does the server take where as a condition on db.table (its syntax, its
 * columns)?  err has the server's answer when not. */
bool snap_check_where(struct snap_conn *c, const char *db, const char *table, const char *where,
		      char *err, size_t errlen) __attribute__((warn_unused_result));

/* The server's error number of the last failure on c (0: none). */
unsigned snap_errno(const struct snap_conn *c);

/* Every base table, one "db<TAB>table<TAB>engine" line each (names with a
 * tab or newline left out). */
bool snap_list_tables(struct snap_conn *c, struct rc_buf *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Free a table (closing a keyless pass still open); NULL is a no-op. */
void snap_table_free(struct snap_table *t);

/*
 * Read the next chunk into ch (its buffers are reused; zero it before the
 * first use, release with snap_chunk_release()).  With a key: one consistent
 * snapshot transaction reading at most max_rows rows (> 0) after last_key
 * (key literals from a chunk's last_key, or NULL from the start) and up to
 * the table's max key, stopping early after the row that brings the data to
 * max_bytes (0 = no byte limit).  Keyless: consecutive calls continue one
 * pass in one transaction, all with the same P.  ch->last tells when the
 * table is done.
 */
bool snap_chunk(struct snap_table *t, const char *last_key, size_t max_rows, size_t max_bytes,
		struct snap_chunk *ch, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * snap_chunk() of a keyed table in two steps, for a caller that needs P
 * before the rows: snap_chunk_begin() opens the chunk's transaction and
 * sets ch's binlog_file and binlog_pos; snap_chunk_rows() (always called
 * after a successful begin, also to give up: it ends the transaction)
 * reads the rows.  The same last_key goes to both.
 */
bool snap_chunk_begin(struct snap_table *t, const char *last_key, struct snap_chunk *ch,
		      char *err, size_t errlen) __attribute__((warn_unused_result));
bool snap_chunk_rows(struct snap_table *t, const char *last_key, size_t max_rows,
		     size_t max_bytes, struct snap_chunk *ch, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The native JSON text of value col of row (len bytes, not NUL-terminated). */
static inline const char *snap_value(const struct snap_chunk *ch, size_t row, unsigned col,
				     size_t *len)
{
	size_t i = row * ch->ncols + col;

	*len = ch->offs[i + 1] - ch->offs[i];
	return ch->vals.data + ch->offs[i];
}

/*
 * Chunk sizing by time: the rows for the next chunk so that it takes about
 * target_us, from the last one (rows rows in elapsed_us), changing by at
 * most a factor of 2 per chunk and kept within [min_rows, max_rows].
 */
size_t snap_next_rows(size_t rows, uint64_t elapsed_us, uint64_t target_us, size_t min_rows,
		      size_t max_rows);

/*
 * The rows that fit in max_bytes of row data at the last chunk's size per
 * row (rows rows in bytes bytes), at least 1; SIZE_MAX when there is no
 * byte limit or nothing was measured.  A chunk asked for more rows than
 * that ends at the byte limit, and the server sends the rest of its LIMIT
 * for nothing (they are read and dropped).
 */
size_t snap_rows_in_bytes(size_t rows, uint64_t bytes, uint64_t max_bytes);

/*
 * The optional rows/s limit: microseconds to wait before the next chunk so
 * that rows_done rows read in elapsed_us stay at or under rate rows/s (0
 * when rate <= 0 or the reading is already that slow).
 */
uint64_t snap_pace_us(uint64_t rows_done, uint64_t elapsed_us, double rate);

/* Release a chunk's buffers (it may be reused after). */
void snap_chunk_release(struct snap_chunk *ch);

#endif
