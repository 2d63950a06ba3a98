/* SPDX-License-Identifier: MIT */
/*
 * The binlog decoder: takes whole events (header, body, checksum) in log
 * order, checks them, keeps the table maps and the transaction in progress,
 * and hands each row change and each commit to its consumer through
 * callbacks.  It reads no sockets or files and formats no messages: the
 * source feeds it and the route stage turns rows into messages.
 */
#ifndef RC_SOURCE_MYSQL_DECODER_H
#define RC_SOURCE_MYSQL_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "change/change.h"
#include "source/mysql/value.h"

/* Event types this decoder knows (numbers as servers write them). */
enum {
	EV_UNKNOWN = 0, EV_START_V3 = 1, EV_QUERY = 2, EV_STOP = 3, EV_ROTATE = 4,
	EV_INTVAR = 5, EV_SLAVE = 7, EV_APPEND_BLOCK = 9, EV_DELETE_FILE = 11,
	EV_RAND = 13, EV_USER_VAR = 14, EV_FORMAT_DESCRIPTION = 15, EV_XID = 16,
	EV_BEGIN_LOAD_QUERY = 17, EV_EXECUTE_LOAD_QUERY = 18, EV_TABLE_MAP = 19,
	EV_WRITE_ROWS_V0 = 20, EV_UPDATE_ROWS_V0 = 21, EV_DELETE_ROWS_V0 = 22,
	EV_WRITE_ROWS_V1 = 23, EV_UPDATE_ROWS_V1 = 24, EV_DELETE_ROWS_V1 = 25,
	EV_INCIDENT = 26, EV_HEARTBEAT = 27, EV_IGNORABLE = 28, EV_ROWS_QUERY = 29,
	EV_WRITE_ROWS_V2 = 30, EV_UPDATE_ROWS_V2 = 31, EV_DELETE_ROWS_V2 = 32,
	EV_GTID = 33, EV_ANONYMOUS_GTID = 34, EV_PREVIOUS_GTIDS = 35,
	EV_TRANSACTION_CONTEXT = 36, EV_VIEW_CHANGE = 37, EV_XA_PREPARE = 38,
	EV_PARTIAL_UPDATE_ROWS = 39, EV_TRANSACTION_PAYLOAD = 40,
	EV_HEARTBEAT_V2 = 41, EV_GTID_TAGGED = 42,
	/* MariaDB */
	EV_ANNOTATE_ROWS = 160, EV_BINLOG_CHECKPOINT = 161, EV_MARIA_GTID = 162,
	EV_GTID_LIST = 163, EV_START_ENCRYPTION = 164,
	EV_QUERY_COMPRESSED = 165, EV_WRITE_ROWS_COMPRESSED_V1 = 166,
	EV_UPDATE_ROWS_COMPRESSED_V1 = 167, EV_DELETE_ROWS_COMPRESSED_V1 = 168,
	EV_WRITE_ROWS_COMPRESSED = 169, EV_UPDATE_ROWS_COMPRESSED = 170,
	EV_DELETE_ROWS_COMPRESSED = 171,
};

#define EV_HEADER_LEN 19
#define EV_FLAG_IN_USE 0x1		/* FDE: binlog not closed cleanly */
#define EV_FLAG_ARTIFICIAL 0x20		/* LOG_EVENT_ARTIFICIAL_F: made by the dump thread */
#define EV_FLAG_IGNORABLE 0x80		/* LOG_EVENT_IGNORABLE_F */

/* A table as its latest TABLE_MAP described it. */
struct dec_table {
	struct ch_table ch;		/* what the pipeline sees of it: names and
					   logical types (table_view() in
					   tablemap.c keeps it in step) */
	uint64_t id;			/* table id of the map */
	char *db;			/* database name, NUL-terminated */
	char *name;			/* table name, NUL-terminated */
	uint32_t ncols;			/* columns */
	struct dec_column *cols;	/* ncols descriptions */
	bool names_logged;		/* COLUMN_NAME metadata was present */
	uint32_t md_fields;		/* bit 1 << type for each optional metadata
					   field the map carried (MD_* numbers of
					   tablemap.c, below 32) */
	struct rc_buf raw;		/* the map's body, to skip re-parsing */
	struct rc_buf strings;		/* names and members point in here */
	struct rc_buf raw_tmp;		/* scratch while converting names */
	uint32_t *pk;			/* primary key column indexes */
	uint32_t npk;			/* how many */
	uint32_t ch_cap;		/* ch.cols allocated */
};

/* One image (before or after) of a row change. */
struct dec_image {
	struct ch_image v;		/* the value texts the pipeline sees */
	const uint8_t **raw;		/* per column: value bytes in the event
					   (valid only while it is decoded) */
	uint32_t *rawlen;		/* per column: their length */
	uint32_t cap;			/* columns raw and rawlen hold */
};

/* The transaction being read. */
struct dec_trx {
	struct ch_trx ch;		/* what the pipeline sees: GTID ("0-1-42",
					   "uuid:n" or "uuid:tag:n"), id, commit
					   time, rows so far */
	uint32_t domain;		/* MariaDB domain id */
	uint32_t server_id;		/* MariaDB server id of the GTID */
	uint64_t seq;			/* MariaDB seq_no or MySQL gno */
	uint64_t start_offset;		/* binlog offset of its first event */
	bool active;			/* between its start and its commit */
	bool standalone;		/* MariaDB FL_STANDALONE (one statement) */
	bool xa_prepare;		/* ended by XA PREPARE: its outcome comes later */
	bool xa_held;			/* a group of an XA transaction: its rows are
					   not committed yet when they are read */
	bool xa_one_phase;		/* XA_PREPARE said one phase: committed */
	uint8_t xa_outcome;		/* XA COMMIT (1) or XA ROLLBACK (2) group */
	char xid[300];			/* X'gtrid',X'bqual',format as servers print it */
};

/* Kinds of events reported to on_event (non-row events). */
struct dec_event_info {
	uint8_t type;			/* EV_* */
	const char *type_name;		/* printable name */
	uint64_t offset;		/* start offset in the binlog file */
	uint32_t size;			/* event size */
	const char *query;		/* QUERY text, UTF-8 (converted from the
					   session's character_set_client) */
	size_t query_len;		/* its length */
	const char *db;			/* QUERY default database, or NULL */
	bool is_ddl;			/* a QUERY that is DDL */
	bool is_dml_statement;		/* a statement-based INSERT/UPDATE/DELETE */
};

struct decoder;

/* What the decoder calls.  A callback returning false stops feeding. */
struct dec_callbacks {
	bool (*on_begin)(void *ctx, const struct dec_trx *trx);
	/* a row change: row->table is the ch view of a struct dec_table */
	bool (*on_row)(void *ctx, const struct dec_trx *trx, const struct ch_row *row);
	/* end of a transaction; next_offset is where the next event starts */
	bool (*on_commit)(void *ctx, const struct dec_trx *trx, const char *file,
			  uint64_t next_offset);
	/* every non-row event, when set (for `rowcast decode --events`) */
	bool (*on_event)(void *ctx, const struct dec_trx *trx, const struct dec_event_info *ev);
	void *ctx;
	/* a table map with a non-NULL ch.user is dropped or parsed anew:
	 * free what ch.user points to (optional) */
	void (*table_gone)(void *ctx, struct dec_table *t);
	/* a table map without column names (binlog_row_metadata below FULL):
	 * the consumer may name the columns with decoder_table_describe();
	 * false stops the feed (optional) */
	bool (*table_unnamed)(void *ctx, struct dec_table *t);
};

struct decoder *decoder_new(const struct dec_callbacks *cb);
void decoder_free(struct decoder *d);

/* The binlog file the next event comes from, and its offset (for messages). */
void decoder_set_file(struct decoder *d, const char *file, uint64_t offset);
const char *decoder_file(const struct decoder *d);
/* Start offset of the event being decoded (inside a callback). */
uint64_t decoder_offset(const struct decoder *d);
/* Where the event after the last one fed starts (its end). */
uint64_t decoder_next_offset(const struct decoder *d);

/* Is a transaction open (begun, not yet committed)? */
bool decoder_in_trx(const struct decoder *d);

/* What feeding an event came to. */
enum dec_result {
	DEC_OK = 0,	/* decoded, every callback went on */
	DEC_STOPPED,	/* a callback returned false */
	DEC_ERROR,	/* it cannot be decoded: err names file:offset and type */
};

/* Feed one whole event.  The event bytes are not kept after the call. */
enum dec_result decoder_feed(struct decoder *d, const uint8_t *ev, size_t len, char *err,
			     size_t errlen);

/* Tell the decoder whether the stream's events carry a CRC32 before its
 * FORMAT_DESCRIPTION arrives (the replica protocol sends a ROTATE first). */
void decoder_expect_checksum(struct decoder *d, bool crc32);
/*
 * Name the columns of a table map from a description, one line per column
 * in table order: "name<TAB>column type<TAB>key<TAB>collation id", as
 * information_schema COLUMNS gives COLUMN_NAME, COLUMN_TYPE and COLUMN_KEY
 * and COLLATIONS the ID of COLLATION_NAME ("enum('a','b')" gives ENUM
 * members, "PRI" the primary key, "... unsigned" the sign, 0 or nothing
 * no collation).  Signs and character sets come from the description only
 * where the map did not log them (binlog_row_metadata = NO_LOG).  false
 * with err when the number of columns differs from the map's.
 */
bool decoder_table_describe(struct dec_table *t, const char *lines, char *err, size_t errlen);

/* Events skipped because they were unknown but ignorable. */
uint64_t decoder_ignored(const struct decoder *d);
/* Text-conversion problems seen (bytes replaced by U+FFFD). */
uint64_t decoder_bad_chars(const struct decoder *d);
/* Name of an event type, "unknown" when not known. */
const char *decoder_event_name(uint8_t type);

#endif
