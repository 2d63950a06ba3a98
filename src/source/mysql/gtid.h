/* SPDX-License-Identifier: MIT */
/*
 * GTID states as text and as values.  MariaDB: one domain-server-seq per
 * domain; applying a GTID replaces its domain's entry.  (MySQL GTID sets
 * join this module with the MySQL source.)
 */
#ifndef RC_SOURCE_MYSQL_GTID_H
#define RC_SOURCE_MYSQL_GTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct maria_gtid {
	uint32_t domain;	/* replication domain */
	uint32_t server;	/* server id that wrote it */
	uint64_t seq;		/* sequence number in the domain */
};

struct gtid_state {
	struct maria_gtid *v;	/* one entry per domain, sorted by domain */
	size_t n;		/* entries */
	size_t cap;		/* allocated entries */
};

/* Parse "D-S-N" into g; false when it is not one. */
bool gtid_parse_one(const char *s, size_t n, struct maria_gtid *g);
/* Parse "D-S-N,D-S-N" (may be empty) into st, replacing it. */
bool gtid_state_parse(struct gtid_state *st, const char *s, char *err, size_t errlen);
/* Record g as the latest GTID of its domain. */
void gtid_state_apply(struct gtid_state *st, const struct maria_gtid *g);
/* Record a GTID given as text; false when the text is not a GTID. */
bool gtid_state_apply_text(struct gtid_state *st, const char *s);
/* Append the state's text to out ("" when empty). */
void gtid_state_format(const struct gtid_state *st, struct rc_buf *out);
void gtid_state_copy(struct gtid_state *dst, const struct gtid_state *src);
void gtid_state_free(struct gtid_state *st);

#endif
