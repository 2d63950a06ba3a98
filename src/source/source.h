/* SPDX-License-Identifier: MIT */
/*
 * The source interface: something that yields binlog-like events in commit
 * order from a resume point.  The core talks to a source only through this
 * table, and treats positions as text the source alone interprets, so a
 * PostgreSQL source (LSNs) can stand beside the MySQL/MariaDB one.
 */
#ifndef RC_SOURCE_SOURCE_H
#define RC_SOURCE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "config/config.h"

struct decoder;

/* Where to start reading: a position and rows of one transaction to skip. */
struct resume_point {
	char *state;		/* source position text, e.g. a GTID state */
	char *skip_gtid;	/* transaction partly done, or NULL */
	uint64_t skip_rows;	/* its row changes with index < this are done */
	bool file_mode;		/* state is FILE:OFFSET whatever the config says */
};

struct source;

struct source_ops {
	const char *name;
	/* Connect and check the server (blocking).  fatal says whether
	 * retrying cannot help. */
	bool (*connect)(struct source *s, bool *fatal, char *err, size_t errlen);
	/* The position "now" / "at the start of the oldest log", as text. */
	bool (*position)(struct source *s, int start_kind, char **out, char *err, size_t errlen);
	/* Ask the server to stream from the resume point. */
	bool (*start)(struct source *s, const struct resume_point *from, struct decoder *dec,
		      bool *fatal, char *err, size_t errlen);
	/* Next event (blocking); the bytes stay valid until the next call. */
	bool (*next)(struct source *s, const uint8_t **ev, size_t *len, bool *fatal,
		     char *err, size_t errlen);
	/* The columns of db.table now, one "name\ttype\tkey\tcollation id"
	 * line each, in table order (over a second connection: the first one
	 * streams); see decoder_table_describe(). */
	bool (*describe)(struct source *s, const char *db, const char *table, struct rc_buf *out,
			 char *err, size_t errlen);
	/* Bytes of log between file:pos and the server's end now (over the
	 * second connection); NULL when the source cannot tell. */
	bool (*lag)(struct source *s, const char *file, uint64_t pos, int64_t *bytes,
		    char *err, size_t errlen);
	/* From another thread: make a blocked next() return. */
	void (*interrupt)(struct source *s);
	/* Close the connection; the source can connect again. */
	void (*disconnect)(struct source *s);
	void (*free)(struct source *s);
};

struct source {
	const struct source_ops *ops;	/* implementation */
	const struct rc_config *cfg;	/* settings, owned by the caller */
	char peer[300];			/* host:port or socket, for messages */
	int64_t clock_offset_ms;	/* server clock minus ours, at connect */
	char server_uuid[64];		/* the server's identity (for the checkpoint) */
	char flavour[16];		/* "mariadb" or "mysql" */
	uint32_t server_id;		/* the id it registers with ([source] server_id,
					   or another for a second connection) */
};

/* The MySQL/MariaDB replica source. */
struct source *source_mysql_new(const struct rc_config *cfg);

#endif
