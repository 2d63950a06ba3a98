/* SPDX-License-Identifier: MIT */
/*
 * One replica connection to a MySQL/MariaDB server (private to
 * src/source/mysql/): connect and check the server, register, ask for the
 * binlog from a position and read its event packets; a second connection
 * answers information_schema and SHOW BINARY LOGS.  It decodes nothing.
 */
#ifndef RC_SOURCE_MYSQL_REPLICA_H
#define RC_SOURCE_MYSQL_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "config/config.h"

struct decoder;

/* What the connection tells of the server; the rest is private. */
struct replica {
	const struct rc_config *cfg;	/* settings, owned by the caller */
	char peer[300];			/* host:port or socket, for messages */
	int64_t clock_offset_ms;	/* server clock minus ours, at connect */
	char server_uuid[64];		/* the server's identity (for the checkpoint) */
	char flavour[16];		/* "mariadb" or "mysql", "" before a connect */
	uint32_t server_id;		/* the id it registers with ([source] server_id,
					   or another for a second connection) */
	bool purged;			/* the last start failed: binlogs it needs
					   were purged */
};

struct replica *replica_new(const struct rc_config *cfg);
void replica_free(struct replica *r);
/* Connect and check the server (blocking).  fatal says whether retrying
 * cannot help. */
bool replica_connect(struct replica *r, bool *fatal, char *err, size_t errlen);
/* The position "now" / "at the start of the oldest log", as text. */
bool replica_position(struct replica *r, int start_kind, char **out, char *err, size_t errlen);
/* Ask the server to stream from state (a GTID state or set, or FILE:OFFSET
 * when file_mode or [source] position_mode = file); dec is told the file
 * and whether events carry a checksum. */
bool replica_start(struct replica *r, const char *state, bool file_mode, struct decoder *dec,
		   bool *fatal, char *err, size_t errlen);
/* Next event (blocking); the bytes stay valid until the next call. */
bool replica_next(struct replica *r, const uint8_t **ev, size_t *len, bool *fatal, char *err,
		  size_t errlen);
/* The columns of db.table now, one "name\ttype\tkey\tcollation id" line
 * each, in table order (second connection); see decoder_table_describe(). */
bool replica_describe(struct replica *r, const char *db, const char *table, struct rc_buf *out,
		      char *err, size_t errlen);
/* Bytes of log between file:pos and the server's end now (second connection). */
bool replica_lag(struct replica *r, const char *file, uint64_t pos, int64_t *bytes, char *err,
		 size_t errlen);
/* From another thread: make a blocked replica_next() return. */
void replica_interrupt(struct replica *r);
/* Close the connection; it can connect again. */
void replica_disconnect(struct replica *r);

#endif
