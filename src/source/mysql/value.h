/* SPDX-License-Identifier: MIT */
/*
 * Column values of row events, written as native JSON text straight into a
 * reused buffer.  One call decodes one non-NULL value; NULLs are decided by
 * the caller from the row's null bitmap.  Does not parse events or tables.
 */
#ifndef RC_SOURCE_MYSQL_VALUE_H
#define RC_SOURCE_MYSQL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Binlog column types (the numbers servers log in TABLE_MAP). */
enum {
	COLT_DECIMAL = 0, COLT_TINY = 1, COLT_SHORT = 2, COLT_LONG = 3,
	COLT_FLOAT = 4, COLT_DOUBLE = 5, COLT_NULL = 6, COLT_TIMESTAMP = 7,
	COLT_LONGLONG = 8, COLT_INT24 = 9, COLT_DATE = 10, COLT_TIME = 11,
	COLT_DATETIME = 12, COLT_YEAR = 13, COLT_NEWDATE = 14,
	COLT_VARCHAR = 15, COLT_BIT = 16, COLT_TIMESTAMP2 = 17,
	COLT_DATETIME2 = 18, COLT_TIME2 = 19, COLT_TYPED_ARRAY = 20,
	COLT_BLOB_COMPRESSED = 140, COLT_VARCHAR_COMPRESSED = 141, /* MariaDB */
	COLT_VECTOR = 242, COLT_INVALID = 243, COLT_BOOL = 244,
	COLT_JSON = 245, COLT_NEWDECIMAL = 246, COLT_ENUM = 247,
	COLT_SET = 248, COLT_TINY_BLOB = 249, COLT_MEDIUM_BLOB = 250,
	COLT_LONG_BLOB = 251, COLT_BLOB = 252, COLT_VAR_STRING = 253,
	COLT_STRING = 254, COLT_GEOMETRY = 255,
};

/* One column of a table as described by its TABLE_MAP event. */
struct dec_column {
	uint8_t type;		/* binlog type as logged (COLT_*) */
	uint8_t real_type;	/* for COLT_STRING: COLT_ENUM, COLT_SET or
				   COLT_STRING from the metadata; else = type */
	uint16_t meta;		/* type metadata from the TABLE_MAP, host order,
				   as the server wrote it (see value.c) */
	bool is_unsigned;	/* SIGNEDNESS optional metadata */
	bool nullable;		/* null bit of the TABLE_MAP */
	bool hidden;		/* COLUMN_VISIBILITY (MySQL): invisible column */
	uint32_t charset;	/* collation id, 0 when not logged */
	const char *name;	/* column name, NUL-terminated; never NULL */
	uint32_t name_len;	/* bytes of name */
	uint32_t n_members;	/* ENUM/SET: how many member names */
	const char *const *members; /* ENUM/SET member names (UTF-8), or NULL */
	const uint32_t *member_lens; /* their lengths */
	uint32_t geometry_type;	/* GEOMETRY_TYPE metadata, 0 when absent */
};

/* Counters a value decoder adds to while it works. */
struct dec_value_stats {
	unsigned bad_chars;	/* bytes invalid in their charset, as U+FFFD */
};

/*
 * Decode the non-NULL value of col at p (avail bytes readable) and append
 * its native JSON text to out.  On success *used is the number of bytes the
 * value takes in the row image.  On malformed or unsupported input returns
 * false with a reason in err (errlen bytes, NUL-terminated) and out's length
 * unchanged.  Never reads past p + avail.
 */
bool value_decode(const struct dec_column *col, const uint8_t *p, size_t avail,
		  size_t *used, struct rc_buf *out, struct dec_value_stats *st,
		  char *err, size_t errlen);

#endif
