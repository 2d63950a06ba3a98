/* SPDX-License-Identifier: MIT */
/*
 * Parser of PostgreSQL logical replication messages: the outer CopyData
 * frames of the replication protocol (XLogData 'w', keepalive 'k', and a
 * builder for the client's standby status update 'r') and the pgoutput
 * messages inside XLogData (protocol version 1, plus version 2's stream
 * messages).  Parsing is zero-copy: strings and column values point into the
 * caller's buffer, which must outlive the parsed message.  Every read is
 * bounded; malformed input yields an error naming the byte offset.  This
 * module does not render values (see pgvalue.h) and keeps no relation cache.
 */
#ifndef RC_SOURCE_PG_PGOUTPUT_H
#define RC_SOURCE_PG_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A parse failure: what was wrong and where. */
struct pgo_error {
	size_t offset;		/* byte offset in the parsed buffer */
	char msg[160];		/* "offset N: what", NUL-terminated */
};

/* A counted string inside the message buffer.  pgoutput strings are
 * NUL-terminated on the wire, so p[len] is '\0' for names; the content of
 * a logical decoding message ('M') is not. */
struct pgo_str {
	const char *p;		/* first byte, inside the parsed buffer */
	size_t len;		/* bytes, not counting the NUL */
};

/* ---- outer frames (CopyData payloads of START_REPLICATION) ---- */

/* XLogData ('w'): WAL data with one pgoutput message. */
struct pgo_xlogdata {
	uint64_t start_lsn;	/* dataStart: WAL position of the message */
	uint64_t end_lsn;	/* walEnd: current end of WAL on the server */
	int64_t send_time;	/* µs since 2000-01-01 00:00 UTC */
	const uint8_t *data;	/* the pgoutput message, inside the frame */
	size_t len;		/* its length in bytes */
};

/* Primary keepalive ('k'). */
struct pgo_keepalive {
	uint64_t end_lsn;	/* walEnd: current end of WAL on the server */
	int64_t send_time;	/* µs since 2000-01-01 00:00 UTC */
	bool reply_requested;	/* the server wants a status update now */
};

/* One CopyData frame from the server. */
struct pgo_frame {
	char kind;			/* 'w' or 'k' */
	union {
		struct pgo_xlogdata xlog;	/* kind 'w' */
		struct pgo_keepalive keepalive;	/* kind 'k' */
	} u;
};

/* Parse one CopyData payload; false with *err filled on malformed input or
 * an unknown frame kind.  err may be NULL. */
bool pgo_parse_frame(const uint8_t *p, size_t n, struct pgo_frame *out,
		     struct pgo_error *err) __attribute__((warn_unused_result));

/* Size of a standby status update. */
#define PGO_STATUS_UPDATE_LEN 34

/* Write a standby status update ('r') into out (PGO_STATUS_UPDATE_LEN
 * bytes): the write, flush and apply positions, the client clock in µs
 * since 2000-01-01 UTC, and whether the server should reply at once.  The
 * flush position is what the server records as confirmed_flush_lsn. */
void pgo_build_status_update(uint8_t out[PGO_STATUS_UPDATE_LEN], uint64_t write_lsn,
			     uint64_t flush_lsn, uint64_t apply_lsn, int64_t now_us,
			     bool reply_requested);

/* µs between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch). */
#define PGO_EPOCH_OFFSET_US INT64_C(946684800000000)

/* ---- pgoutput messages ---- */

/* Kinds of tuple column ('n', 'u', 't', 'b' on the wire). */
enum pgo_col_kind {
	PGO_COL_NULL = 'n',		/* SQL NULL */
	PGO_COL_UNCHANGED = 'u',	/* unchanged TOASTed value, not sent */
	PGO_COL_TEXT = 't',		/* text form of the value */
	PGO_COL_BINARY = 'b',		/* binary form (binary mode only) */
};

/* One column of a TupleData. */
struct pgo_col {
	char kind;		/* enum pgo_col_kind */
	uint32_t len;		/* bytes of data for 't'/'b', else 0 */
	const char *data;	/* the bytes for 't'/'b' (not NUL-terminated), else NULL */
};

/* A TupleData: its columns, in relation order. */
struct pgo_tuple {
	uint16_t ncols;		/* number of columns */
	struct pgo_col *cols;	/* ncols entries, owned by the parser */
};

/* A column of a Relation message. */
struct pgo_relcol {
	uint8_t flags;		/* 1 = part of the replica identity key */
	struct pgo_str name;	/* column name */
	uint32_t type_oid;	/* data type OID */
	int32_t typmod;		/* type modifier, -1 when none */
};

/* Kinds of pgoutput message (the first byte). */
enum pgo_kind {
	PGO_BEGIN = 'B',
	PGO_COMMIT = 'C',
	PGO_ORIGIN = 'O',
	PGO_RELATION = 'R',
	PGO_TYPE = 'Y',
	PGO_INSERT = 'I',
	PGO_UPDATE = 'U',
	PGO_DELETE = 'D',
	PGO_TRUNCATE = 'T',
	PGO_MESSAGE = 'M',
	PGO_STREAM_START = 'S',		/* protocol 2 */
	PGO_STREAM_STOP = 'E',		/* protocol 2 */
	PGO_STREAM_COMMIT = 'c',	/* protocol 2 */
	PGO_STREAM_ABORT = 'A',		/* protocol 2 */
};

/* One parsed pgoutput message.  Pointers point into the parsed buffer or
 * into arrays owned by the parser; both stay valid until the next
 * pgo_parse() on the same parser. */
struct pgo_msg {
	char kind;		/* enum pgo_kind */
	bool has_xid;		/* xid below was sent (inside a stream block) */
	uint32_t xid;		/* transaction id: Begin, stream messages, or changes inside a stream */
	union {
		struct {
			uint64_t final_lsn;	/* LSN of the commit record */
			int64_t commit_time;	/* µs since 2000-01-01 UTC */
		} begin;			/* 'B' */
		struct {
			uint8_t flags;		/* unused, 0 */
			uint64_t commit_lsn;	/* LSN of the commit record */
			uint64_t end_lsn;	/* end of the transaction: the position to confirm */
			int64_t commit_time;	/* µs since 2000-01-01 UTC */
		} commit;			/* 'C' and 'c' */
		struct {
			uint64_t commit_lsn;	/* commit LSN on the origin server */
			struct pgo_str name;	/* origin name */
		} origin;			/* 'O' */
		struct {
			uint32_t relid;		/* relation OID */
			struct pgo_str nspname;	/* schema */
			struct pgo_str relname;	/* table */
			char replident;		/* 'd' default, 'n' nothing, 'f' full, 'i' index */
			uint16_t ncols;		/* number of columns */
			struct pgo_relcol *cols; /* ncols entries, owned by the parser */
		} relation;			/* 'R' */
		struct {
			uint32_t oid;		/* type OID */
			struct pgo_str nspname;	/* schema */
			struct pgo_str name;	/* type name */
		} type;				/* 'Y' */
		struct {
			uint32_t relid;		/* relation OID */
			char old_kind;		/* 'K' key, 'O' old row, or 0 when absent */
			struct pgo_tuple old;	/* the old key or row when old_kind != 0 */
			struct pgo_tuple new;	/* the new row (Insert, Update) */
		} change;			/* 'I', 'U', 'D' (Delete fills old only) */
		struct {
			uint32_t nrels;		/* number of relations */
			uint8_t options;	/* 1 = CASCADE, 2 = RESTART IDENTITY */
			const uint8_t *relids;	/* nrels big-endian uint32 OIDs; see pgo_truncate_relid() */
		} truncate;			/* 'T' */
		struct {
			uint8_t flags;		/* 1 = transactional */
			uint64_t lsn;		/* LSN of the message */
			struct pgo_str prefix;	/* prefix given to pg_logical_emit_message */
			struct pgo_str content;	/* the content (any bytes) */
		} message;			/* 'M' */
		struct {
			bool first_segment;	/* first stream block of this transaction */
		} stream_start;			/* 'S' */
		struct {
			uint32_t subxid;	/* the (sub)transaction aborted */
		} stream_abort;			/* 'A' */
	} u;
};

/* Parser state: reusable arrays (so the hot path allocates only while they
 * grow) and whether a stream block is open (protocol 2). */
struct pgo_parser {
	struct pgo_col *cols;		/* new-tuple columns */
	size_t cols_cap;		/* entries allocated in cols */
	struct pgo_col *old_cols;	/* old-tuple columns */
	size_t old_cols_cap;		/* entries allocated in old_cols */
	struct pgo_relcol *relcols;	/* Relation columns */
	size_t relcols_cap;		/* entries allocated in relcols */
	bool in_stream;			/* between Stream Start and Stream Stop */
};

/* Start with a zeroed parser; pgo_parser_free() releases its arrays
 * (NULL is fine; the parser is zeroed and reusable afterwards). */
void pgo_parser_free(struct pgo_parser *ps);

/* Parse one pgoutput message (an XLogData payload, or a row of
 * pg_logical_slot_get_binary_changes).  false with *err filled (err may be
 * NULL) on malformed input, an unknown kind, or trailing bytes. */
bool pgo_parse(struct pgo_parser *ps, const uint8_t *p, size_t n, struct pgo_msg *out,
	       struct pgo_error *err) __attribute__((warn_unused_result));

/* The i-th relation OID of a Truncate message (i < nrels). */
static inline uint32_t pgo_truncate_relid(const struct pgo_msg *m, uint32_t i)
{
	const uint8_t *q = m->u.truncate.relids + 4 * (size_t)i;

	return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

#endif
