/* SPDX-License-Identifier: MIT */
/*
 * GTID_TAGGED_LOG_EVENT (type 42, MySQL 8.3+): the GTID event whose body is
 * written with MySQL's field-based serialization format (a message of
 * numbered, variable-length fields) instead of the fixed layout of
 * GTID_LOG_EVENT.  gtid_tagged.c describes the byte layout.
 */
#ifndef RC_SOURCE_MYSQL_GTID_TAGGED_H
#define RC_SOURCE_MYSQL_GTID_TAGGED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gtid_tagged {
	uint8_t flags;			/* gtid flags (may_have_sbr etc.) */
	uint8_t uuid[16];		/* source uuid */
	uint64_t gno;			/* transaction number */
	char tag[33];			/* "" when untagged */
	int64_t last_committed, sequence_number;
	uint64_t immediate_commit_ts;	/* microseconds */
	uint64_t original_commit_ts;	/* microseconds */
	uint64_t transaction_length;
	uint32_t immediate_server_version, original_server_version;
	uint64_t commit_group_ticket;
};

/* Parse the event body (after the 19-byte common header, without the CRC32).
 * false with a reason in err on malformed or unsupported input; never reads past n. */
bool gtid_tagged_parse(const uint8_t *p, size_t n, struct gtid_tagged *out, char *err, size_t errlen);

/* "uuid:tag:gno" or "uuid:gno" (lowercase uuid with dashes) into out (at least 96 bytes). */
void gtid_tagged_text(const struct gtid_tagged *g, char *out, size_t len);

#endif
