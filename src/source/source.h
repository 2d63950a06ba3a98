/* SPDX-License-Identifier: MIT */
/*
 * The source interface: something that reads a database's changes in
 * commit order from a position and hands them over as change-model
 * transactions and rows (change/change.h), through callbacks.  A source
 * owns its connection, its decoder and its positions: the pipeline keeps
 * positions only as opaque objects the source parses, formats, advances
 * and writes into the checkpoint, so a PostgreSQL source (LSNs, a slot to
 * confirm) fits beside the MySQL/MariaDB one.  [source] type picks one.
 */
#ifndef RC_SOURCE_SOURCE_H
#define RC_SOURCE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "change/change.h"
#include "checkpoint/checkpoint.h"
#include "config/config.h"

/* A position of a source: opaque, each source defines its own. */
struct source_pos;
struct source;

/* A request for a snapshot of existing rows ([snapshot] mode at start,
 * or `rowcast snapshot`). */
struct source_snap_request {
	const char *const *tables;	/* "db.table" each (ntables) */
	unsigned ntables;
	bool all;			/* every table wants_table() takes */
	const char *where;		/* SQL condition rows must meet, or NULL */
	bool on_demand;			/* asked for while running */
	/* Called once, from the reader thread, when the source accepted the
	 * request (ok; msg names the snapshot and its tables) or refused it
	 * (msg says why).  May be NULL. */
	void (*done)(void *arg, bool ok, const char *msg);
	void *arg;
};

/* Where a snapshot stands. */
struct source_snap_progress {
	uint64_t id;			/* the snapshot running (0: none) */
	const char *db, *table;		/* its current table (NULL: none) */
	uint64_t rows;			/* rows of it handed over (counted on from the checkpoint) */
	uint64_t est_rows;		/* estimate of its rows */
	uint64_t chunks;		/* chunks of it read */
	unsigned tables_left;		/* tables waiting, the current one included */
	uint64_t tables_done;		/* tables finished since the start */
	uint64_t rows_total;		/* rows read since the start, all tables */
	bool table_done;		/* this report ends the table */
};

/* What a source calls while it reads; each returns false to stop reading
 * (the source then returns SRC_STOPPED).  Reader thread. */
struct source_callbacks {
	/* a transaction starts */
	bool (*begin)(void *ctx, const struct ch_trx *trx);
	/* a row change of trx; log and offset: where its event lies in the
	 * source's log (Debezium's source.file and pos) */
	bool (*row)(void *ctx, const struct ch_trx *trx, const struct ch_row *row, const char *log,
		    uint64_t offset);
	/* trx committed; step says how a position moves past it: bytes for
	 * ops->pos_advance(), valid during the call */
	bool (*commit)(void *ctx, const struct ch_trx *trx, const void *step, size_t steplen);
	/* a DDL statement (db: the session's database, or NULL) */
	bool (*ddl)(void *ctx, const struct ch_trx *trx, const char *db, const char *query,
		    size_t qlen);
	/* the server said it is alive (a heartbeat) */
	void (*heartbeat)(void *ctx);
	/* the source forgets table t: free what t->user points to */
	void (*table_gone)(void *ctx, struct ch_table *t);

	/* ---- snapshots (optional for a source without them) ---- */
	/* Wait until everything handed over so far is acknowledged (one
	 * snapshot chunk in flight at a time); false when stopping. */
	bool (*drain)(void *ctx);
	/* Does the pipeline publish changes of db.table (its filters)? */
	bool (*wants_table)(void *ctx, const char *db, const char *table);
	/* Where a snapshot stands, after each chunk and state change. */
	void (*snapshot_progress)(void *ctx, const struct source_snap_progress *p);
	void *ctx;
};

/* What a call of the source came to. */
enum source_result {
	SRC_OK = 0,	/* done */
	SRC_STOPPED,	/* a callback returned false */
	SRC_LOST,	/* the connection failed or ended: connecting again may help */
	SRC_FATAL,	/* the source cannot go on from here (err says why) */
	SRC_ERROR,	/* it failed and stops (err says why); not retried */
	SRC_DECODE,	/* a change could not be decoded (err names where) */
	SRC_MISMATCH,	/* the position is of another server than this one */
	SRC_DONE,	/* nothing more to read: the run ends ([snapshot] mode =
			   initial_only once the snapshot is acknowledged) */
};

/* Whether ops->lag() could tell. */
enum source_lag { LAG_KNOWN = 0, LAG_UNKNOWN, LAG_ERROR };

struct source_ops {
	const char *name;		/* as [source] type names it */
	/* The reader thread begins and ends (a client library's per-thread
	 * state); NULL when not needed. */
	void (*thread_init)(void);
	void (*thread_end)(void);

	/* ---- positions (any thread, one object per thread) ---- */
	struct source_pos *(*pos_new)(struct source *s);
	/* The position a text names ([source] start_position, or what
	 * start_position() gave). */
	bool (*pos_parse)(struct source *s, struct source_pos *p, const char *text, char *err,
			  size_t errlen);
	void (*pos_format)(struct source *s, const struct source_pos *p, struct rc_buf *out);
	/* Move p past a committed transaction (its commit callback's step). */
	void (*pos_advance)(struct source *s, struct source_pos *p, const void *step, size_t len);
	void (*pos_copy)(struct source *s, struct source_pos *dst, const struct source_pos *src);
	void (*pos_free)(struct source *s, struct source_pos *p);

	/* ---- the checkpoint's [source] section(s), which are the source's ---- */
	/* Read p from an existing checkpoint; *text: what it resumes from,
	 * for the log (the caller frees it). */
	bool (*ckpt_load)(struct source *s, struct ckpt *c, struct source_pos *p, char **text,
			  char *err, size_t errlen);
	/* Write p into c (not yet to disk). */
	void (*ckpt_store)(struct source *s, const struct source_pos *p, struct ckpt *c);
	/* p is on disk now: the source may let the server forget what comes
	 * before it (a replication slot's confirmed position).  Loop thread. */
	bool (*confirm)(struct source *s, const struct source_pos *p, char *err, size_t errlen);

	/* ---- reading (reader thread, but where noted) ---- */
	/* Where to start without a checkpoint ([source] start_position), as
	 * text for pos_parse(); *out is the caller's to free. */
	enum source_result (*start_position)(struct source *s, char **out, char *err,
					     size_t errlen);
	/* Connect and stream from `from`, or, when NULL, from after the last
	 * transaction it handed over (a reconnect). */
	enum source_result (*start)(struct source *s, const struct source_pos *from, char *err,
				    size_t errlen);
	/* Read and hand over what comes next (blocking); the callbacks run
	 * inside. */
	enum source_result (*poll)(struct source *s, char *err, size_t errlen);
	/* Where reading stands: after the last transaction handed over. */
	void (*read_position)(struct source *s, struct rc_buf *out);
	/* How far reading is behind the server's end, in bytes. */
	enum source_lag (*lag)(struct source *s, int64_t *bytes, char *err, size_t errlen);
	/* Any thread: make a blocked poll() return. */
	void (*interrupt)(struct source *s);
	/* Any thread: queue a snapshot request; false with err when this
	 * source cannot (NULL: it has no snapshots).  Taken by the reader
	 * thread at the next transaction boundary. */
	bool (*snapshot)(struct source *s, const struct source_snap_request *rq, char *err,
			 size_t errlen);
	/* Close the connection; start() can connect again. */
	void (*disconnect)(struct source *s);
	void (*free)(struct source *s);
};

struct source {
	const struct source_ops *ops;	/* implementation */
	const struct rc_config *cfg;	/* settings, owned by the caller */
	struct source_callbacks cb;	/* the consumer */
	char peer[300];			/* the server, for messages */
	int64_t clock_offset_ms;	/* server clock minus ours, at connect */
};

/* The source [source] type names, calling cb; NULL with err when it
 * cannot be made. */
struct source *source_new(const struct rc_config *cfg, const struct source_callbacks *cb,
			  char *err, size_t errlen);

/* The implementations source_new() chooses from. */
struct source *source_mysql_new(const struct rc_config *cfg, const struct source_callbacks *cb);
struct source *source_pg_new(const struct rc_config *cfg, const struct source_callbacks *cb);

#endif
