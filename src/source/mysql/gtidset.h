/* SPDX-License-Identifier: MIT */
/*
 * MySQL GTID sets (@@gtid_executed): per source UUID, and per tag for the
 * tagged GTIDs of MySQL 8.3+ ("uuid:tag:1-5"), a sorted list of disjoint,
 * non-adjacent closed intervals of transaction numbers.  As text, as the
 * binary encoding COM_BINLOG_DUMP_GTID and PREVIOUS_GTIDS_LOG_EVENT carry,
 * and as the whole COM_BINLOG_DUMP_GTID request.
 *
 * Tags follow MySQL: [A-Za-z_][A-Za-z0-9_]{0,31}, stored lowercase.  GTID
 * numbers run from 1 to GTID_GNO_MAX (MySQL's GNO_END - 1).
 */
#ifndef RC_SOURCE_MYSQL_GTIDSET_H
#define RC_SOURCE_MYSQL_GTIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define GTID_GNO_MAX ((uint64_t)INT64_MAX - 1)
#define GTID_TAG_MAX 32

/* COM_BINLOG_DUMP_GTID flags. */
#define GTID_DUMP_NON_BLOCK 0x01
#define GTID_DUMP_THROUGH_POSITION 0x02
#define GTID_DUMP_THROUGH_GTID 0x04

struct gtid_set;

struct gtid_set *gtid_set_new(void);
void gtid_set_free(struct gtid_set *s);
/* Forget every GTID, keep the memory. */
void gtid_set_clear(struct gtid_set *s);
bool gtid_set_is_empty(const struct gtid_set *s);

/*
 * Parse MySQL's text form, replacing the contents of s:
 * "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11-18, 3e11...:tag:1-3"
 * (white space and empty entries allowed, UUIDs and tags case-insensitive,
 * "" is the empty set).  Overlapping and adjacent intervals merge.  On error
 * s is unchanged and err names the bad part.
 */
bool gtid_set_parse(struct gtid_set *s, const char *text, char *err, size_t errlen);
/* Add one GTID: uuid as 36 characters with dashes, tag NULL or "" for an
 * untagged GTID, 1 <= gno <= GTID_GNO_MAX.  False (s unchanged) when any
 * part is invalid. */
bool gtid_set_add(struct gtid_set *s, const char *uuid, const char *tag, uint64_t gno);
/* Add "uuid:gno" or "uuid:tag:gno", the text of a MySQL GTID event. */
bool gtid_set_add_text(struct gtid_set *s, const char *gtid);
bool gtid_set_contains(const struct gtid_set *s, const char *uuid, const char *tag,
		       uint64_t gno);

/* Append the canonical text: UUIDs lowercase and sorted, the untagged
 * intervals of a UUID first, then its tags sorted, "a-b" or "a"; UUIDs are
 * joined by "," (MySQL prints ",\n").  "" when empty. */
void gtid_set_format(const struct gtid_set *s, struct rc_buf *out);

/*
 * MySQL's binary encoding (Gtid_set::encode): n_sids (8 LE), then per SID
 * uuid (16), n_intervals (8 LE), per interval start (8 LE) and end + 1
 * (8 LE).  When any tag is present the tagged format is used: n_sids is
 * stored as 0x01 << 56 | n_sids << 8 | 0x01 and every SID carries its tag
 * (one byte 2 * length, then the characters) between uuid and n_intervals.
 */
/* The first GNO of [first, last] that s lacks for uuid (and tag), or 0
 * when s has them all. */
uint64_t gtid_set_first_missing(const struct gtid_set *s, const char *uuid, const char *tag,
				uint64_t first, uint64_t last);

/* The first GTID of a (in a's order) that b does not hold, appended to out
 * as uuid[:tag]:gno; false, out untouched, when b holds all of a. */
bool gtid_set_first_outside(const struct gtid_set *a, const struct gtid_set *b, struct rc_buf *out);

size_t gtid_set_encoded_size(const struct gtid_set *s);
void gtid_set_encode(const struct gtid_set *s, struct rc_buf *out);
/* Decode that encoding (a PREVIOUS_GTIDS_LOG_EVENT body without checksum),
 * replacing the contents of s; exactly n bytes must be used.  On error s is
 * unchanged and err says what is wrong. */
bool gtid_set_decode(struct gtid_set *s, const uint8_t *p, size_t n, char *err,
		     size_t errlen);

/*
 * Append the COM_BINLOG_DUMP_GTID body after the command byte 0x1e: flags
 * (2 LE), server_id (4 LE), file name length (4 LE), file name (file may be
 * NULL or "" for none), pos (8 LE), data size (4 LE), the encoded set.  The
 * data size and set are always written, whatever flags says: the server
 * (com_binlog_dump_gtid) reads them unconditionally.
 */
void gtid_dump_request(const struct gtid_set *s, uint32_t server_id, const char *file,
		       uint64_t pos, uint16_t flags, struct rc_buf *out);

#endif
