/* SPDX-License-Identifier: MIT */
/*
 * Counters and gauges of a running instance, and the optional HTTP
 * listener that serves them (Prometheus text at /metrics, /health).
 * Counters are atomics: the reader thread, the loop and the HTTP thread
 * touch them without locks.  Per-table counters live in a registry whose
 * entries never move, so a caller may keep the pointer.
 */
#ifndef RC_PIPELINE_METRICS_H
#define RC_PIPELINE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "change/change.h"

/* Per table: indexes [0..2] are insert, update, delete (enum ch_op). */
struct metrics_table {
	char db[256];			/* database name */
	char table[256];		/* table name */
	atomic_uint_fast64_t read[CH_ROW_OPS];	/* row changes decoded */
	atomic_uint_fast64_t published[CH_ROW_OPS]; /* handed to the sink */
	atomic_uint_fast64_t acked[CH_ROW_OPS];	/* acknowledged by the broker */
	atomic_uint_fast64_t bytes;	/* payload bytes published */
	struct metrics_table *next;	/* registry chain (private) */
};

/* A snapshot's progress: a copy of what the reader last reported. */
struct metrics_snap {
	bool active;			/* a table is being read */
	uint64_t id;			/* the snapshot's number */
	char db[256], table[256];	/* its current table */
	uint64_t rows;			/* rows of that table handed over */
	uint64_t est_rows;		/* the table's estimated rows */
	uint64_t chunks;		/* chunks of it read */
	unsigned tables_left;		/* tables waiting, the current one included */
	uint64_t tables_done;		/* tables finished since the start */
	uint64_t rows_total;		/* rows handed over since the start, all tables */
	int64_t table_started_ms;	/* wall clock when this process began the table */
	uint64_t rows_at_start;		/* rows of it already done then (resumed) */
};

struct metrics {
	atomic_uint_fast64_t inflight;		/* messages published, not acked */
	atomic_uint_fast64_t inflight_bytes;	/* their payload bytes */
	atomic_uint_fast64_t reconnects_source;	/* database reconnects */
	atomic_uint_fast64_t reconnects_sink;	/* broker reconnects */
	atomic_uint_fast64_t decode_errors;	/* events that failed to decode */
	atomic_uint_fast64_t unroutable;	/* AMQP returns counted */
	atomic_uint_fast64_t unpublishable;	/* messages skipped (on_unpublishable = skip) */
	atomic_uint_fast64_t checkpoint_writes;	/* checkpoint files written */
	atomic_uint_fast64_t checkpoint_failures; /* checkpoint writes that failed */
	atomic_int checkpoint_failing;		/* 1 while the last write failed */
	atomic_int checkpoint_behind;		/* 1 while acknowledged changes wait
						   to be written (0 when idle) */
	atomic_int_fast64_t last_checkpoint_ms;	/* wall clock of the last write, 0 = never */
	atomic_int_fast64_t oldest_pub_ms;	/* wall clock when the oldest unacked
						   message was published, 0 = none */
	atomic_int_fast64_t source_lag_bytes;	/* binlog bytes between what was read
						   and the server's end, -1 = unknown */
	atomic_int_fast64_t oldest_unacked_ms;	/* commit time of the oldest unacked trx,
						   0 when nothing is pending */
	atomic_int_fast64_t clock_offset_ms;	/* server clock minus ours */
	atomic_int_fast64_t last_heartbeat_ms;	/* wall clock of the last event or heartbeat */
	atomic_int source_connected;		/* 1 while streaming */
	atomic_int sink_connected;		/* 1 while the broker session is up */
	int lag_threshold_s;			/* /health: 503 above this lag */
	unsigned http_max_conns;		/* HTTP connections at once (before start) */
	unsigned http_max_per_addr;		/* of them per client address, 0 = no limit */
	unsigned http_idle_s;			/* idle HTTP connections closed after */
	/* Fills in the snapshot's progress (any thread), set before the
	 * listener starts; NULL: no snapshot to show. */
	void (*snap_read)(void *arg, struct metrics_snap *out);
	void *snap_arg;				/* its argument */
	void *priv;				/* registry and HTTP server (metrics.c) */
};

/* A zeroed instance; free with metrics_free(). */
struct metrics *metrics_new(int lag_threshold_s);
/* Stops the listener if running, frees the registry.  NULL is fine. */
void metrics_free(struct metrics *m);

/* The counters of db.table, created on first use; the pointer stays
 * valid until metrics_free().  Thread-safe (takes a lock: cache it). */
struct metrics_table *metrics_table(struct metrics *m, const char *db, const char *table);

/* Replication lag in seconds now: 0 when nothing is pending, else now
 * minus the oldest unacknowledged commit time, corrected by the measured
 * clock offset. */
double metrics_lag_seconds(struct metrics *m);

/* The Prometheus text exposition of everything, appended to out. */
void metrics_render(struct metrics *m, struct rc_buf *out);

/* Record how a checkpoint write ended: ok, or failed with why (counted,
 * and /health fails with it until a write succeeds).  Any thread. */
void metrics_checkpoint_result(struct metrics *m, bool ok, const char *why);

/* Healthy: both ends connected, the checkpoint writable and the lag
 * under the threshold. */
bool metrics_healthy(struct metrics *m, char *why, size_t whylen);

/* Descriptors kept free of HTTP clients for the rest of the process
 * (database, broker, checkpoint, log). */
#define METRICS_FD_RESERVE 64

/* Start the HTTP listener on "host:port" (its own thread) with the
 * http_* limits; false with err.  Raises the soft RLIMIT_NOFILE to the
 * hard one, and fails when http_max_conns + METRICS_FD_RESERVE do not
 * fit under it. */
bool metrics_http_start(struct metrics *m, const char *listen, char *err, size_t errlen);
void metrics_http_stop(struct metrics *m);

#endif
