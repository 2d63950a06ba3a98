/* SPDX-License-Identifier: MIT */
/*
 * The change model: what a source hands the pipeline and what routes,
 * envelopes and sinks read.  A transaction, a table with typed columns, a
 * row change with its before and after images, one op enum and one name
 * table for the whole program.  Values are JSON texts the source already
 * wrote; nothing here knows a binlog type or a WAL record.
 */
#ifndef RC_CHANGE_CHANGE_H
#define RC_CHANGE_CHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

/* What a message stands for: the row operations first (CH_ROW_OPS of
 * them, indexes of per-op counters), then the others. */
enum ch_op {
	CH_INSERT = 0, CH_UPDATE = 1, CH_DELETE = 2,
	CH_READ = 3,	/* an existing row read by a snapshot (after image only) */
	CH_TRUNCATE = 4, CH_DROP = 5, CH_DDL = 6, CH_MARKER = 7,
	CH_NOPS
};
#define CH_ROW_OPS 4

/* "insert", "update", ..., "marker", by enum ch_op. */
extern const char *const ch_op_names[CH_NOPS];

/* The name of op, "unknown" out of range. */
const char *ch_op_name(unsigned op);

/* Is op a row change (insert, update, delete)? */
static inline bool ch_op_is_row(unsigned op)
{
	return op < CH_ROW_OPS;
}

/* A column's type as envelopes need it, whatever the source calls it. */
enum ch_type {
	CT_OTHER = 0,	/* none below: the value text is used as is */
	CT_INT,		/* signed integer */
	CT_UINT,	/* unsigned integer */
	CT_DECIMAL,	/* exact number (precision, scale) */
	CT_FLOAT,	/* single precision */
	CT_DOUBLE,	/* double precision */
	CT_BOOL,	/* true/false */
	CT_BIT,		/* bit string of `bits` bits */
	CT_YEAR,	/* a year */
	CT_DATE,	/* a calendar date */
	CT_DATETIME,	/* date and time without zone (fsp digits) */
	CT_TIMESTAMP,	/* an instant, UTC (fsp digits) */
	CT_TIME,	/* time of day or duration (fsp digits) */
	CT_INTERVAL,	/* a calendar interval */
	CT_STRING,	/* text */
	CT_BINARY,	/* bytes */
	CT_JSON,	/* a JSON document */
	CT_ENUM,	/* one of named members */
	CT_SET,		/* a set of named members, "a,b" */
	CT_GEOMETRY,	/* a geometry, WKB in the value text */
	CT_UUID,	/* a UUID */
	CT_NTYPES
};

/* "int", "uint", "decimal", ... by enum ch_type. */
const char *ch_type_name(unsigned type);

/* One column of a table. */
struct ch_column {
	const char *name;		/* NUL-terminated, never NULL */
	uint32_t name_len;		/* bytes of name */
	uint8_t type;			/* enum ch_type */
	uint8_t fsp;			/* DATETIME/TIMESTAMP/TIME: fraction digits */
	uint8_t precision;		/* DECIMAL: digits in all */
	uint8_t scale;			/* DECIMAL: digits after the point */
	uint16_t bits;			/* BIT: its width */
	bool nullable;			/* may hold NULL */
	bool hidden;			/* invisible to SELECT * */
	const char *native_type;	/* the source's name of the type, e.g.
					   "bigint", "datetime"; never NULL */
};

/* A table as the source describes it now. */
struct ch_table {
	const char *db;			/* database (or schema) name */
	const char *name;		/* table name */
	uint32_t ncols;			/* columns */
	struct ch_column *cols;		/* ncols, in table order */
	bool names_known;		/* the columns have their real names (else
					   @1, @2, ...) */
	const uint32_t *pk;		/* primary key column indexes */
	uint32_t npk;			/* how many */
	void *user;			/* the pipeline's per-table cache (its route
					   plan); NULL whenever the source describes
					   the table anew */
	struct rc_buf keys;		/* the native formatter's cache: each
					   column's "name": back to back; emptied
					   (len 0) whenever the names change */
	uint32_t *key_end;		/* key_end[i]: end of column i's in keys */
};

/* Per column of an image. */
enum ch_state { CH_ABSENT = 0, CH_NULL = 1, CH_VALUE = 2 };

/* One image (before or after) of a row change, as JSON value texts. */
struct ch_image {
	struct rc_buf text;		/* value texts back to back */
	uint32_t *off;			/* per column: start in text */
	uint32_t *len;			/* per column: length in text */
	uint8_t *state;			/* per column: enum ch_state */
	uint32_t cap;			/* columns the arrays hold */
};

/* What a transaction of snapshot rows (one chunk of a table) belongs to. */
struct ch_snap {
	uint64_t id;			/* the snapshot's number (a request's) */
	const char *db;			/* its table's database */
	const char *table;		/* and name */
	bool on_demand;			/* asked for while running ("rowcast
					   snapshot"), not the initial one */
	uint64_t chunk;			/* 1-based chunk number in the table */
	bool first;			/* the table's first chunk: its start
					   marker goes before it */
	bool last;			/* its last: the end marker goes after */
	uint64_t rows_before;		/* the table's rows in earlier chunks */
	uint64_t est_rows;		/* the table's estimated rows */
};

/* The transaction a change belongs to. */
struct ch_trx {
	char gtid[128];			/* its global id as the source prints it,
					   "" when it has none */
	char id[300];			/* what names it across restarts: the GTID,
					   else where it starts in the source's log */
	uint64_t ts_ms;			/* commit time, ms since the epoch, UTC */
	uint64_t nrows;			/* row changes seen so far (next index) */
	const struct ch_snap *snap;	/* a snapshot chunk (rows CH_READ), else NULL */
	uint32_t table_events;		/* truncate and drop events of the
					   transaction before the next DDL
					   statement's: the number its first
					   one's id takes (0 where each DDL
					   is a transaction of its own) */
};

/* A row change; valid during the callback that hands it over. */
struct ch_row {
	const struct ch_table *table;	/* its table */
	enum ch_op op;			/* CH_INSERT, CH_UPDATE, CH_DELETE or CH_READ */
	const struct ch_image *before;	/* NULL for an insert */
	const struct ch_image *after;	/* NULL for a delete */
	uint64_t index;			/* 0-based among the trx's row changes */
};

/* The value text of column i of im (JSON), which must be CH_VALUE. */
static inline const char *ch_value(const struct ch_image *im, uint32_t i, uint32_t *len)
{
	*len = im->len[i];
	return im->text.data + im->off[i];
}

/* Make room for ncols columns in im (aborts when memory is out). */
void ch_image_fit(struct ch_image *im, uint32_t ncols);
void ch_image_free(struct ch_image *im);
/* Drop the consumer caches of t (keys, key_end); not user. */
void ch_table_free_caches(struct ch_table *t);

#endif
