/* SPDX-License-Identifier: MIT */
/*
 * The instance: a reader thread (source -> decoder -> native messages ->
 * queue) and the libev loop (queue -> sink -> acknowledgements ->
 * checkpoint).  Positions are three: read (reader), published (loop) and
 * acknowledged (loop); only the acknowledged one is written to disk.
 */
#include <errno.h>
#include <ev.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "base/log.h"
#include "pipeline/metrics.h"
#include "base/notify.h"
#include "change/queue.h"
#include "source/mysql/decoder.h"
#include "route/native.h"
#include "route/router.h"
#include "rowcast/rowcast.h"
#include "sink/sink.h"
#include "source/mysql/gtid.h"
#include "source/mysql/position.h"
#include "source/source.h"

/* The reader thread's view: what it has handed to the queue. */
struct reader {
	struct position read;		/* GTID position after the last commit read */
	char read_file[256];		/* binlog file after the last commit read */
	uint64_t read_pos;		/* and the offset there */
	char cur_gtid[300];		/* key of the transaction being read, "" between */
	uint64_t cur_rows;		/* its rows handed over so far */
	struct resume_point from;	/* where the next (re)connect starts */
	uint64_t skip_rows;		/* rows of the current trx to skip */
	struct rc_buf scratch;		/* state text */
	bool unsignalled;		/* entries pushed, the loop not yet woken */
	char (*xa)[700];		/* prepared XA groups pending:
					   "XID\tFILE:OFFSET\tKEY" */
	int nxa, capxa;
};

struct rc {
	struct rc_config *cfg;		/* private copy of the settings */
	struct ev_loop *loop;		/* the instance's own loop */
	ev_async wake;			/* reader pushed, sink acked, stop asked */
	ev_timer ckpt_timer;		/* batched checkpoint writes */
	ev_timer stop_timer;		/* shutdown_timeout */
	ev_signal sig_term, sig_int;	/* when handle_signals */
	ev_signal sig_hup;		/* reload the config */
	ev_timer watchdog;		/* WATCHDOG=1 for systemd */
	bool ready_sent;		/* READY=1 went out */
	struct metrics *m;		/* counters, /metrics, /health */
	struct router *router;		/* reader's routes and filters */
	struct router *pending_router;	/* from a reload, not yet taken */
	pthread_mutex_t router_mu;	/* guards pending_router */
	atomic_int stop_asked;		/* rc_stop() was called */
	bool stopping;			/* the loop is draining */

	struct queue q;			/* reader -> loop */
	struct source *src;		/* the database */
	struct decoder *dec;		/* reader's decoder */
	struct sink *sink;		/* the broker */
	struct ckpt *ckpt;		/* the checkpoint file */
	struct ckpt_async *ckpt_w;	/* writes it off the loop (periodic writes) */
	pthread_t reader_thread;	/* runs reader_main */
	bool reader_started;		/* reader_thread is joinable */
	atomic_int reader_done;		/* reader_main returned */
	struct reader rd;		/* reader thread state */

	/* acknowledged position, loop thread only */
	struct position acked;		/* after the last fully acked trx */
	char acked_file[256];		/* binlog file of that point */
	uint64_t acked_offset;		/* offset after it */
	char part_gtid[300];		/* trx partly acknowledged (its key), "" if none */
	uint64_t part_next;		/* its next row index not acked */
	bool dirty;			/* acked moved since the last write */
	char (*acked_xa)[700];		/* prepared XA pending, as acknowledged */
	int nacked_xa, capacked_xa;
	double last_write;		/* ev_now of the last checkpoint write */

	enum rc_status result;		/* what rc_run returns */
	struct rc_error err;		/* first error */
};

static void set_error(struct rc *rc, enum rc_status st, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_error(struct rc *rc, enum rc_status st, const char *where, const char *fmt, ...)
{
	va_list ap;

	if (rc->result != RC_OK)
		return;
	rc->result = st;
	rc->err.status = st;
	snprintf(rc->err.where, sizeof(rc->err.where), "%s", where ? where : "");
	va_start(ap, fmt);
	vsnprintf(rc->err.message, sizeof(rc->err.message), fmt, ap);
	va_end(ap);
}

const char *rc_version(void)
{
	return RC_VERSION_STRING;
}

const char *rc_status_str(enum rc_status st)
{
	switch (st) {
	case RC_OK: return "ok";
	case RC_ERR_CONFIG: return "configuration error";
	case RC_ERR_SOURCE: return "database error";
	case RC_ERR_SOURCE_FATAL: return "permanent database error";
	case RC_ERR_SINK: return "broker error";
	case RC_ERR_CHECKPOINT: return "checkpoint error";
	case RC_ERR_SYSTEM: return "system error";
	case RC_ERR_DECODE: return "decode error";
	}
	return "unknown error";
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- reader thread ---------------------------------------------------- */

static void reader_fail(struct rc *rc, enum rc_status st, const char *msg)
{
	struct q_entry *e = queue_reserve(&rc->q);

	if (!e)
		return;
	e->kind = Q_FAIL;
	e->fail_status = st;
	buf_reset(&e->payload);
	buf_puts(&e->payload, msg);
	queue_push(&rc->q);
	ev_async_send(rc->loop, &rc->wake);
}

/* The router the reader uses: a reload leaves a new one in pending, taken
 * here at a transaction boundary. */
static void take_pending_router(struct rc *rc)
{
	struct router *fresh;

	pthread_mutex_lock(&rc->router_mu);
	fresh = rc->pending_router;
	rc->pending_router = NULL;
	pthread_mutex_unlock(&rc->router_mu);
	if (fresh) {
		router_free(rc->router);
		rc->router = fresh;
		log_info("reload: routes and filters in effect from the next transaction on");
	}
}

/* Wake the loop for what the last binlog event pushed: once per event,
 * not per row (a wake-up per row cost a syscall and a context switch each
 * whenever the loop kept up with the reader). */
static void reader_signal(struct rc *rc)
{
	if (rc->rd.unsignalled) {
		rc->rd.unsignalled = false;
		ev_async_send(rc->loop, &rc->wake);
	}
}

/* The ring is full: whatever is in it must reach the loop before the
 * reader waits for space. */
static void reader_waits(void *ctx)
{
	reader_signal(ctx);
}

/* Fill the common fields of a message entry and hand it over. */
static void push_message(struct rc *rc, struct q_entry *e, const struct dec_trx *trx,
			 uint64_t index, uint8_t op, void *mt)
{
	e->kind = Q_ROW;
	rc_strcpy(e->gtid, sizeof(e->gtid), trx->ch.gtid);
	if (!e->trxkey[0])
		rc_strcpy(e->trxkey, sizeof(e->trxkey), rc->rd.cur_gtid);
	e->op = op;
	e->mt = mt;
	e->index = index;
	e->ts_ms = trx->ch.ts_ms;
	queue_push(&rc->q);
	rc->rd.unsignalled = true;	/* the loop hears of it after the event */
}

static bool on_begin(void *ctx, const struct dec_trx *trx)
{
	struct rc *rc = ctx;
	struct reader *r = &rc->rd;
	struct q_entry *e;

	take_pending_router(rc);
	rc_strcpy(r->cur_gtid, sizeof(r->cur_gtid), trx->ch.id);
	r->cur_rows = 0;
	r->skip_rows = 0;
	if (r->from.skip_gtid && !strcmp(r->from.skip_gtid, r->cur_gtid)) {
		r->skip_rows = r->from.skip_rows;
		r->cur_rows = r->from.skip_rows;
	}
	if (router_markers(rc->router) && trx->ch.gtid[0] && r->skip_rows == 0) {
		if (!(e = queue_reserve(&rc->q)))
			return false;
		router_marker_begin(rc->router, &trx->ch, e);
		e->db[0] = e->table[0] = '\0';
		push_message(rc, e, trx, 0, CH_MARKER, NULL);
	}
	return true;
}

static void table_gone(void *ctx, struct dec_table *t)
{
	(void)ctx;
	router_plan_free(t->ch.user);
	t->ch.user = NULL;
}

/* A table map without column names: information_schema names them when
 * configured; otherwise positional names, with a warning once per table. */
static bool table_unnamed(void *ctx, struct dec_table *t)
{
	struct rc *rc = ctx;
	char err[1024];

	if (rc->cfg->src_column_names == COLNAMES_INFO_SCHEMA) {
		if (!rc->src->ops->describe(rc->src, t->db, t->name, &rc->rd.scratch, err,
					    sizeof(err)) ||
		    !decoder_table_describe(t, rc->rd.scratch.data ? rc->rd.scratch.data : "",
					    err, sizeof(err))) {
			reader_fail(rc, RC_ERR_SOURCE_FATAL, err);
			return false;
		}
		return true;
	}
	if (!metrics_table(rc->m, t->db, t->name)->unnamed_warned) {
		metrics_table(rc->m, t->db, t->name)->unnamed_warned = 1;
		log_warn("table %s.%s: the binlog has no column names (binlog_row_metadata below FULL): columns are named @1, @2, ...",
			 t->db, t->name);
	}
	return true;
}

/* A message that can never be published: stop before it, or skip it. */
static bool unpublishable(struct rc *rc, const char *why)
{
	if (rc->cfg->sink_on_unpublishable == UNPUB_SKIP) {
		atomic_fetch_add(&rc->m->unpublishable, 1);
		log_warn("%s (on_unpublishable = skip: skipped)", why);
		return true;
	}
	reader_fail(rc, RC_ERR_SINK, why);
	return false;
}

/* The operation a routed message stands for (the router may turn a row
 * moved to history into a delete); outbox events keep the row's. */
static uint8_t p_op(const struct q_entry *e, const struct ch_row *row)
{
	return ch_op_is_row(e->op) ? e->op : (uint8_t)row->op;
}

/* Route a row change and hand its message over.  key names its
 * transaction (for the checkpoint); dec is the decoder it came from. */
static bool publish_row(struct rc *rc, struct decoder *dec, const char *key,
			const struct dec_trx *trx, const struct ch_row *row, uint64_t skip)
{
	/* the table's user cache is the pipeline's to fill (change.h) */
	struct ch_table *t = (struct ch_table *)row->table;
	struct table_plan *plan = t->user;
	struct metrics_table *mt;
	struct q_entry *e;
	char err[700];

	if (plan && !router_plan_current(rc->router, plan)) {
		router_plan_free(plan);	/* made by a router a reload replaced */
		plan = t->user = NULL;
	}
	if (!plan) {
		plan = t->user = router_plan(rc->router, t);
		router_plan_set_metrics(plan, metrics_table(rc->m, t->db, t->name));
	}
	mt = router_plan_metrics(plan);
	if (row->index < skip)
		return true;	/* handed over before a reconnect or restart */
	atomic_fetch_add(&mt->read[row->op], 1);
	e = queue_reserve(&rc->q);
	if (!e)
		return false;
	e->op = (uint8_t)row->op;
	switch (router_row(rc->router, plan, &trx->ch, decoder_file(dec), decoder_offset(dec), row, e,
			   err, sizeof(err))) {
	case ROUTE_SKIP:
		return true;	/* the reserved entry stays free */
	case ROUTE_ERROR:
		return unpublishable(rc, err);
	case ROUTE_PUBLISH:
		break;
	}
	rc_strcpy(e->db, sizeof(e->db), t->db);
	rc_strcpy(e->table, sizeof(e->table), t->name);
	if (router_markers(rc->router))
		router_marker_count(rc->router, t->db, t->name);
	rc_strcpy(e->trxkey, sizeof(e->trxkey), key);
	push_message(rc, e, trx, row->index, p_op(e, row), mt);
	return true;
}

static bool on_row(void *ctx, const struct dec_trx *trx, const struct ch_row *row)
{
	struct rc *rc = ctx;
	struct reader *r = &rc->rd;

	if (trx->xa_held)
		return true;	/* an XA PREPARE group: published when committed */
	if (!publish_row(rc, rc->dec, r->cur_gtid, trx, row, r->skip_rows))
		return false;
	if (row->index >= r->skip_rows)
		r->cur_rows = row->index + 1;
	return true;
}

/* ---- XA: rows of a prepared transaction are published at its commit ---- */

struct xa_replay {
	struct rc *rc;			/* the instance */
	struct decoder *dec;		/* the replay decoder */
	const char *key;		/* the prepared group's key (its GTID) */
	uint64_t skip;			/* rows already handed over */
	bool began, done;		/* saw its start, and its end */
};

static bool xr_begin(void *ctx, const struct dec_trx *trx)
{
	struct xa_replay *x = ctx;

	(void)trx;
	if (x->began) {
		x->done = true;	/* past the group: stop */
		return false;
	}
	x->began = true;
	return true;
}

static bool xr_row(void *ctx, const struct dec_trx *trx, const struct ch_row *row)
{
	struct xa_replay *x = ctx;

	return publish_row(x->rc, x->dec, x->key, trx, row, x->skip);
}

static bool xr_commit(void *ctx, const struct dec_trx *trx, const char *file, uint64_t next)
{
	struct xa_replay *x = ctx;

	(void)trx;
	(void)file;
	(void)next;
	x->done = true;
	return false;	/* the group is over: stop reading */
}

/*
 * Read the prepared group again at FILE:OFFSET through a second connection
 * and publish its rows: nothing of it was kept in memory while it was
 * pending, however long that was.
 */
static bool xa_replay(struct rc *rc, const char *rec)
{
	char xid[700], where[700], key[700], err[1024];
	struct xa_replay x = { 0 };
	struct dec_callbacks cb = { .on_begin = xr_begin, .on_row = xr_row,
				     .on_commit = xr_commit, .ctx = &x,
				     .table_gone = table_gone, .table_unnamed = table_unnamed };
	struct resume_point from = { 0 };
	struct source *src;
	const uint8_t *ev;
	size_t len;
	bool fatal = false, ok = false;

	if (sscanf(rec, "%699[^\t]\t%699[^\t]\t%699[^\t]", xid, where, key) != 3)
		return false;
	x.rc = rc;
	x.key = key;
	if (rc->rd.from.skip_gtid && !strcmp(rc->rd.from.skip_gtid, key))
		x.skip = rc->rd.from.skip_rows;
	x.dec = decoder_new(&cb);
	src = source_mysql_new(rc->cfg);
	/* a server ends the stream of a replica whose id connects again:
	 * the re-read registers as server_id + 1 */
	src->server_id = (uint32_t)rc->cfg->src_server_id + 1;
	from.state = where;
	from.file_mode = true;
	if (!src->ops->connect(src, &fatal, err, sizeof(err)) ||
	    !src->ops->start(src, &from, x.dec, &fatal, err, sizeof(err))) {
		reader_fail(rc, RC_ERR_SOURCE, err);
		goto out;
	}
	while (!x.done && src->ops->next(src, &ev, &len, &fatal, err, sizeof(err))) {
		bool fed = decoder_feed(x.dec, ev, len, err, sizeof(err));

		reader_signal(rc);
		if (!fed && err[0]) {
			reader_fail(rc, RC_ERR_DECODE, err);
			goto out;
		}
	}
	ok = x.done;
	if (!ok)
		reader_fail(rc, RC_ERR_SOURCE, "XA: the prepared transaction could not be read again");
out:
	src->ops->free(src);
	decoder_free(x.dec);
	return ok;
}

static int xa_find(struct reader *r, const char *xid)
{
	size_t n = strlen(xid);

	for (int i = 0; i < r->nxa; i++)
		if (!strncmp(r->xa[i], xid, n) && r->xa[i][n] == '\t')
			return i;
	return -1;
}

static void xa_list_add(char (**list)[700], int *n, int *cap, const char *rec)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		*list = realloc(*list, (size_t)*cap * sizeof(**list));
		if (!*list)
			log_oom();
	}
	snprintf((*list)[(*n)++], sizeof((*list)[0]), "%s", rec);
}

static void xa_list_remove(char (*list)[700], int *n, const char *rec)
{
	for (int i = 0; i < *n; i++) {
		if (strcmp(list[i], rec))
			continue;
		memmove(&list[i], &list[i + 1], (size_t)(*n - i - 1) * sizeof(list[0]));
		(*n)--;
		return;
	}
}

static bool on_commit(void *ctx, const struct dec_trx *trx, const char *file, uint64_t next)
{
	struct rc *rc = ctx;
	struct reader *r = &rc->rd;
	struct q_entry *e;

	if (router_markers(rc->router) && trx->ch.gtid[0]) {
		if (!(e = queue_reserve(&rc->q)))
			return false;
		router_marker_end(rc->router, &trx->ch, e);
		e->db[0] = e->table[0] = '\0';
		push_message(rc, e, trx, trx->ch.nrows, CH_MARKER, NULL);
	}
	char rec[700];
	char xa_op = 0;

	rec[0] = '\0';
	if (trx->xa_prepare && trx->xa_held) {
		/* the end of an XA PREPARE group */
		snprintf(rec, sizeof(rec), "%s\t%s:%llu\t%s", trx->xid, file,
			 (unsigned long long)trx->start_offset, r->cur_gtid);
		if (trx->xa_one_phase) {
			if (!xa_replay(rc, rec))	/* committed at once */
				return false;
			rec[0] = '\0';
		} else {
			xa_list_add(&r->xa, &r->nxa, &r->capxa, rec);
			xa_op = '+';
		}
	} else if (trx->xa_outcome && trx->xid[0]) {
		int i = xa_find(r, trx->xid);

		if (i < 0) {
			log_warn("%s:%llu: XA %s of %s, prepared before rowcast's start position: its rows are not published",
				 file, (unsigned long long)trx->start_offset,
				 trx->xa_outcome == 1 ? "COMMIT" : "ROLLBACK", trx->xid);
		} else {
			snprintf(rec, sizeof(rec), "%s", r->xa[i]);
			if (trx->xa_outcome == 1 && !xa_replay(rc, rec))
				return false;
			xa_list_remove(r->xa, &r->nxa, rec);
			xa_op = '-';
		}
	}
	e = queue_reserve(&rc->q);
	if (!e)
		return false;
	e->kind = Q_COMMIT;
	e->xa_op = xa_op;
	snprintf(e->xa_rec, sizeof(e->xa_rec), "%s", rec);
	snprintf(e->gtid, sizeof(e->gtid), "%s", trx->ch.gtid);
	snprintf(e->file, sizeof(e->file), "%s", file);
	e->next_offset = next;
	e->index = trx->ch.nrows;
	e->ts_ms = trx->ch.ts_ms;
	queue_push(&rc->q);
	if (trx->ch.gtid[0])
		position_apply(&r->read, trx->ch.gtid);
	snprintf(r->read_file, sizeof(r->read_file), "%s", file);
	r->read_pos = next;
	if (r->from.skip_gtid && !strcmp(r->from.skip_gtid, r->cur_gtid)) {
		free(r->from.skip_gtid);
		r->from.skip_gtid = NULL;
	}
	r->cur_gtid[0] = '\0';
	r->cur_rows = 0;
	r->skip_rows = 0;
	r->unsignalled = true;
	return true;
}

/* router_ddl's way to get entries: the previous one is handed over first. */
struct ddl_emit {
	struct rc *rc;
	const struct dec_trx *trx;
	struct q_entry *pending;
	int n;
};

static bool ddl_emit(void *ctx, struct q_entry **out)
{
	struct ddl_emit *de = ctx;

	if (de->pending)
		push_message(de->rc, de->pending, de->trx, de->trx->ch.nrows,
			     de->pending->op, NULL);
	de->pending = queue_reserve(&de->rc->q);
	if (!de->pending)
		return false;
	de->pending->op = CH_DDL;
	de->n++;
	*out = de->pending;
	return true;
}

static bool on_event(void *ctx, const struct dec_trx *trx, const struct dec_event_info *ev)
{
	struct rc *rc = ctx;
	char msg[600];

	if (ev->type == EV_HEARTBEAT || ev->type == EV_HEARTBEAT_V2)
		atomic_store(&rc->m->last_heartbeat_ms, now_ms());
	if (ev->is_ddl && ev->query) {
		struct ddl_emit de = { rc, trx, NULL, 0 };

		if (!router_ddl(rc->router, &trx->ch, ev->db, ev->query, ev->query_len, ddl_emit, &de))
			return false;
		if (de.pending) {
			/* op from the payload: truncate, drop or ddl */
			const char *p = strstr(de.pending->payload.data, "\"op\":\"");

			if (p && !strncmp(p + 6, "truncate", 8))
				de.pending->op = CH_TRUNCATE;
			else if (p && !strncmp(p + 6, "drop", 4))
				de.pending->op = CH_DROP;
			push_message(rc, de.pending, trx, trx->ch.nrows, de.pending->op, NULL);
		}
		return true;
	}
	/* Statement-based DML carries no row images: never guess at it. */
	if (!ev->is_dml_statement)
		return true;
	snprintf(msg, sizeof(msg), "%s:%llu: statement-based DML in the binlog cannot be published: %.*s",
		 decoder_file(rc->dec), (unsigned long long)ev->offset,
		 (int)(ev->query_len > 200 ? 200 : ev->query_len), ev->query);
	if (rc->cfg->src_on_statement_dml == STMT_WARN) {
		log_warn("%s (on_statement_dml = warn: skipped)", msg);
		return true;
	}
	reader_fail(rc, RC_ERR_SOURCE_FATAL, msg);
	return false;
}

/* Sleep up to ms, waking early when the queue closes. */
static bool reader_sleep(struct rc *rc, unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rc->q.mu);
	while (!rc->q.closed &&
	       pthread_cond_timedwait(&rc->q.space, &rc->q.mu, &until) != ETIMEDOUT)
		;
	bool open = !rc->q.closed;
	pthread_mutex_unlock(&rc->q.mu);
	return open;
}

static bool reader_closed(struct rc *rc)
{
	bool c;

	pthread_mutex_lock(&rc->q.mu);
	c = rc->q.closed;
	pthread_mutex_unlock(&rc->q.mu);
	return c;
}

/* A failure that repeats (the database down for a while) is logged the
 * first time and then at 2, 4, 8, ... repetitions with the count, not once
 * per retry; true when this one is to be logged. */
struct repeat_log {
	char last[1024];	/* the last message */
	unsigned count;		/* how often in a row */
};

static bool repeat_should_log(struct repeat_log *rl, const char *msg)
{
	if (strcmp(rl->last, msg)) {
		snprintf(rl->last, sizeof(rl->last), "%s", msg);
		rl->count = 1;
		return true;
	}
	rl->count++;
	return (rl->count & (rl->count - 1)) == 0;	/* a power of two */
}

#define RC_LAG_POLL_S 2		/* seconds between source lag measurements */

/* At most every RC_LAG_POLL_S while events (or heartbeats) arrive: the
 * binlog bytes between the read position and the server's end, for
 * rowcast_source_lag_bytes.  One cheap query on the second connection;
 * the per-event cost is reading a coarse clock.  Reader thread. */
static void measure_source_lag(struct rc *rc, time_t *last)
{
	struct timespec now;
	const char *file = decoder_file(rc->dec);
	char err[512];
	int64_t bytes;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec - *last < RC_LAG_POLL_S)
		return;
	*last = now.tv_sec;
	if (!rc->src->ops->lag || !file || !file[0])
		return;
	if (rc->src->ops->lag(rc->src, file, decoder_next_offset(rc->dec), &bytes, err,
			      sizeof(err))) {
		atomic_store(&rc->m->source_lag_bytes, bytes);
	} else {
		atomic_store(&rc->m->source_lag_bytes, -1);
		log_debug("source lag: %s", err);
	}
}

/* Resume from what was read: the state, and the trx in progress. */
static void reader_resume_point(struct rc *rc, struct reader *r)
{
	buf_reset(&r->scratch);
	if (rc->cfg->src_position_mode == POS_FILE)
		buf_printf(&r->scratch, "%s:%llu", r->read_file, (unsigned long long)r->read_pos);
	else
		position_format(&r->read, &r->scratch);
	free(r->from.state);
	r->from.state = strdup(r->scratch.data ? r->scratch.data : "");
	if (!r->from.state)
		log_oom();
	if (r->cur_gtid[0] && r->cur_rows > 0) {
		free(r->from.skip_gtid);
		r->from.skip_gtid = strdup(r->cur_gtid);
		if (!r->from.skip_gtid)
			log_oom();
		r->from.skip_rows = r->cur_rows;
	}
	r->cur_gtid[0] = '\0';
	r->cur_rows = 0;
}

static void *reader_main(void *arg)
{
	struct rc *rc = arg;
	struct reader *r = &rc->rd;
	char err[1024];
	unsigned backoff = (unsigned)rc->cfg->src_reconnect_min_ms;
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	struct repeat_log rl = { "", 0 };
	unsigned failed = 0;		/* failed attempts since the last stream */
	bool first = true;
	bool ever_streamed = false;	/* a failure before this ends the run */
	time_t lag_at = 0;		/* monotonic second of the last lag measurement */

	/* named for top -H, perf and gdb (15 characters at most) */
	(void)pthread_setname_np(pthread_self(), "rowcast-reader");
	mysql_thread_init();
	while (!reader_closed(rc)) {
		bool fatal = false;
		const uint8_t *ev;
		size_t len;

		if (!first) {
			atomic_fetch_add(&rc->m->reconnects_source, 1);
			reader_resume_point(rc, r);
			/* exponential back-off with +-25 % jitter, so replicas
			 * of a restarted server do not all come back at once */
			unsigned wait = backoff - backoff / 4 + (unsigned)(rand_r(&seed) %
					(backoff / 2 + 1));

			if (rl.count <= 1)
				log_info("%s: reconnecting in %u ms from %s", rc->src->peer, wait,
					 r->from.state[0] ? r->from.state : "the oldest binlog");
			if (!reader_sleep(rc, wait))
				break;
			backoff = backoff * 2 > (unsigned)rc->cfg->src_reconnect_max_ms ?
				  (unsigned)rc->cfg->src_reconnect_max_ms : backoff * 2;
		}
		first = false;
		if (!rc->src->ops->connect(rc->src, &fatal, err, sizeof(err)) ||
		    !rc->src->ops->start(rc->src, &r->from, rc->dec, &fatal, err, sizeof(err))) {
			rc->src->ops->disconnect(rc->src);
			if (fatal || !ever_streamed) {
				reader_fail(rc, fatal ? RC_ERR_SOURCE_FATAL : RC_ERR_SOURCE, err);
				break;
			}
			failed++;
			if (repeat_should_log(&rl, err)) {
				if (rl.count > 1)
					log_warn("%s (%u times in a row; still retrying)", err, rl.count);
				else
					log_warn("%s", err);
			}
			continue;
		}
		if (failed)
			log_info("%s: connected again after %u failed attempt%s", rc->src->peer,
				 failed, failed == 1 ? "" : "s");
		failed = 0;
		rl.last[0] = '\0';
		rl.count = 0;
		if (rc->cfg->src_position_mode == POS_GTID && rc->src->flavour[0] &&
		    !strcmp(rc->src->flavour, "mysql") != rc->rd.read.mysql) {
			snprintf(err, sizeof(err),
				 "%s: the server is %s but the checkpoint's position is %s's: a checkpoint of another server?",
				 rc->src->peer, rc->src->flavour,
				 rc->rd.read.mysql ? "MySQL" : "MariaDB");
			rc->src->ops->disconnect(rc->src);
			reader_fail(rc, RC_ERR_CHECKPOINT, err);
			break;
		}
		ever_streamed = true;
		atomic_store(&rc->m->clock_offset_ms, rc->src->clock_offset_ms);
		atomic_store(&rc->m->source_connected, 1);
		ev_async_send(rc->loop, &rc->wake);	/* READY may be due now */
		log_info("%s: streaming from %s%s", rc->src->peer,
			 rc->cfg->src_position_mode == POS_FILE ? "binlog position " :
			 r->from.state[0] ? "GTID state " : "",
			 r->from.state[0] ? r->from.state : "the oldest binlog");
		while (rc->src->ops->next(rc->src, &ev, &len, &fatal, err, sizeof(err))) {
			bool fed;

			backoff = (unsigned)rc->cfg->src_reconnect_min_ms;
			fed = decoder_feed(rc->dec, ev, len, err, sizeof(err));
			reader_signal(rc);
			if (rc->cfg->metrics_listen[0])
				measure_source_lag(rc, &lag_at);
			if (!fed) {
				if (err[0]) {
					atomic_fetch_add(&rc->m->decode_errors, 1);
					reader_fail(rc, RC_ERR_DECODE, err);
				}
				goto out;
			}
		}
		atomic_store(&rc->m->source_connected, 0);
		atomic_store(&rc->m->source_lag_bytes, -1);
		rc->src->ops->disconnect(rc->src);
		if (reader_closed(rc))
			break;
		if (fatal) {
			reader_fail(rc, RC_ERR_SOURCE_FATAL, err);
			break;
		}
		log_warn("%s", err);
	}
out:
	atomic_store(&rc->m->source_connected, 0);
	rc->src->ops->disconnect(rc->src);
	mysql_thread_end();
	atomic_store(&rc->reader_done, 1);
	ev_async_send(rc->loop, &rc->wake);
	return NULL;
}

/* ---- loop thread ------------------------------------------------------ */

/* Put the acknowledged position into rc->ckpt (not yet written). */
static void fill_checkpoint(struct rc *rc)
{
	struct rc_buf b = { 0 };
	char num[32];

	position_format(&rc->acked, &b);
	ckpt_set(rc->ckpt, "source", "flavour", rc->acked.mysql ? "mysql" : "mariadb");
	ckpt_set(rc->ckpt, "source", "mode",
		 rc->cfg->src_position_mode == POS_FILE ? "file" : "gtid");
	ckpt_set(rc->ckpt, "source", "gtid_state", b.data ? b.data : "");
	/* the server it came from (kept when unknown yet: not connected) */
	if (rc->src->server_uuid[0])
		ckpt_set(rc->ckpt, "source", rc->acked.mysql ? "server_uuid" : "server_id",
			 rc->src->server_uuid);
	if (rc->acked_file[0]) {
		ckpt_set(rc->ckpt, "source", "file", rc->acked_file);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)rc->acked_offset);
		ckpt_set(rc->ckpt, "source", "offset", num);
	}
	/* prepared XA transactions still waiting for their outcome: their
	 * rows are read again from the binlog when it comes */
	ckpt_clear_section(rc->ckpt, "xa");
	for (int i = 0; i < rc->nacked_xa; i++) {
		char k[32];

		snprintf(k, sizeof(k), "pending.%d", i + 1);
		ckpt_set(rc->ckpt, "xa", k, rc->acked_xa[i]);
	}
	ckpt_clear_section(rc->ckpt, "progress");
	if (rc->part_gtid[0]) {
		ckpt_set(rc->ckpt, "progress", "gtid", rc->part_gtid);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)rc->part_next);
		ckpt_set(rc->ckpt, "progress", "next_row", num);
	}
	buf_free(&b);
}

static void checkpoint_written(struct rc *rc)
{
	rc->last_write = ev_now(rc->loop);
	atomic_fetch_add(&rc->m->checkpoint_writes, 1);
	atomic_store(&rc->m->last_checkpoint_ms, now_ms());
	atomic_store(&rc->m->checkpoint_behind, rc->dirty);
	metrics_checkpoint_result(rc->m, true, NULL);
	log_debug("checkpoint written");
}

/* Write the checkpoint now, waiting for it (start and stop). */
static bool write_checkpoint(struct rc *rc)
{
	char err[512];

	if (rc->ckpt_w)
		ckpt_async_wait(rc->ckpt_w);	/* one writer at a time */
	fill_checkpoint(rc);
	if (!ckpt_write(rc->ckpt, err, sizeof(err))) {
		log_error("checkpoint: %s", err);
		metrics_checkpoint_result(rc->m, false, err);
		return false;
	}
	rc->dirty = false;
	checkpoint_written(rc);
	return true;
}

/* The periodic write: handed to the writer thread, so that an fsync never
 * holds up publishing; skipped while the previous one is under way. */
static void write_checkpoint_async(struct rc *rc)
{
	fill_checkpoint(rc);
	if (ckpt_async_submit(rc->ckpt_w))
		rc->dirty = false;	/* set again should the write fail */
}

/* Writer thread: a write ended. */
static void checkpoint_ended(void *arg)
{
	struct rc *rc = arg;

	ev_async_send(rc->loop, &rc->wake);
}

/* Loop: take the result of a write that ended, if any. */
static void take_checkpoint_result(struct rc *rc)
{
	char err[512];
	int r = rc->ckpt_w ? ckpt_async_result(rc->ckpt_w, err, sizeof(err)) : -1;

	if (r == 1) {
		checkpoint_written(rc);
	} else if (r == 0) {
		log_error("checkpoint: %s", err);
		metrics_checkpoint_result(rc->m, false, err);
		rc->dirty = true;	/* tried again at the next tick */
	}
}

static void begin_stop(struct rc *rc)
{
	if (rc->stopping)
		return;
	rc->stopping = true;
	notify_stopping();
	queue_close(&rc->q);
	if (rc->src)
		rc->src->ops->interrupt(rc->src);
	ev_timer_set(&rc->stop_timer, rc->cfg->sink_shutdown_timeout_ms / 1000.0, 0.);
	ev_timer_start(rc->loop, &rc->stop_timer);
}

/* Release acknowledged entries in order; move the acked position. */
static void drain_acks(struct rc *rc)
{
	uint64_t t = rc->q.tail;

	while (t < rc->q.pub) {
		struct q_entry *e = queue_at(&rc->q, t);

		if (atomic_load(&e->failed)) {
			set_error(rc, RC_ERR_SINK, "", "%s",
				  rc->sink->error[0] ? rc->sink->error : "the broker refused a message");
			log_error("%s: message %s not acknowledged; the checkpoint stays before it",
				  rc->sink->ops->name, e->id.data ? e->id.data : "?");
			begin_stop(rc);
			break;
		}
		if (e->kind == Q_ROW && !atomic_load(&e->acked))
			break;
		if (e->kind == Q_ROW) {
			struct metrics_table *mt = e->mt;

			if (mt && ch_op_is_row(e->op))
				atomic_fetch_add(&mt->acked[e->op], 1);
			atomic_fetch_sub(&rc->m->inflight, 1);
			atomic_fetch_sub(&rc->m->inflight_bytes, e->payload.len);
			rc_strcpy(rc->part_gtid, sizeof(rc->part_gtid), e->trxkey);
			rc->part_next = e->index + 1;
		} else if (e->kind == Q_COMMIT) {
			if (e->xa_op == '+')
				xa_list_add(&rc->acked_xa, &rc->nacked_xa, &rc->capacked_xa, e->xa_rec);
			else if (e->xa_op == '-')
				xa_list_remove(rc->acked_xa, &rc->nacked_xa, e->xa_rec);
			if (e->gtid[0])
				position_apply(&rc->acked, e->gtid);
			rc_strcpy(rc->acked_file, sizeof(rc->acked_file), e->file);
			rc->acked_offset = e->next_offset;
			rc->part_gtid[0] = '\0';
			rc->part_next = 0;
		}
		rc->dirty = true;
		t++;
	}
	if (t != rc->q.tail) {
		queue_release(&rc->q, t);
		atomic_store(&rc->m->checkpoint_behind, 1);
	}
	/* the oldest message published and not acknowledged (t stops at one) */
	atomic_store(&rc->m->oldest_pub_ms, t < rc->q.pub ? queue_at(&rc->q, t)->pub_ms : 0);
	/* lag: the commit time of the oldest transaction not yet acknowledged */
	atomic_store(&rc->m->oldest_unacked_ms,
		     t < queue_head(&rc->q) ? (int64_t)queue_at(&rc->q, t)->ts_ms : 0);
}

/* Publish what the reader queued, as far as the sink takes it. */
static void publish_ready(struct rc *rc)
{
	uint64_t head = queue_head(&rc->q);

	while (rc->q.pub < head) {
		struct q_entry *e = queue_at(&rc->q, rc->q.pub);
		enum sink_result r;

		if (e->kind == Q_FAIL) {
			set_error(rc, (enum rc_status)e->fail_status, "", "%s", e->payload.data);
			/* stop here: nothing after it is published */
			begin_stop(rc);
			break;
		}
		if (e->kind == Q_COMMIT) {
			rc->q.pub++;
			continue;
		}
		if (atomic_load(&rc->m->inflight) > 0 &&
		    atomic_load(&rc->m->inflight_bytes) + e->payload.len >
			    (uint64_t)rc->cfg->sink_max_inflight_bytes)
			break;	/* the byte window is full: wait for acks */
		r = rc->sink->ops->publish(rc->sink, e);
		if (r == SINK_BUSY)
			break;
		if (r == SINK_FATAL) {
			set_error(rc, RC_ERR_SINK, "", "%s", rc->sink->error);
			begin_stop(rc);
			break;
		}
		{
			struct metrics_table *mt = e->mt;

			if (mt && ch_op_is_row(e->op)) {
				atomic_fetch_add(&mt->published[e->op], 1);
				atomic_fetch_add(&mt->bytes, e->payload.len);
			}
			atomic_fetch_add(&rc->m->inflight, 1);
			atomic_fetch_add(&rc->m->inflight_bytes, e->payload.len);
			e->pub_ms = (int64_t)(ev_now(rc->loop) * 1000.0);
		}
		rc->q.pub++;
	}
	rc->sink->ops->poll(rc->sink);
}

static bool all_acked(struct rc *rc)
{
	return rc->q.tail == rc->q.pub;
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct rc *rc = w->data;

	(void)revents;
	if (atomic_load(&rc->stop_asked) && !rc->stopping) {
		log_info("stopping: waiting for outstanding acknowledgements");
		begin_stop(rc);
	}
	if (atomic_load(&rc->sink->fatal)) {
		set_error(rc, RC_ERR_SINK, "", "%s", rc->sink->error);
		begin_stop(rc);
	}
	atomic_store(&rc->m->sink_connected, rc->sink->ops->ready(rc->sink));
	atomic_store(&rc->m->reconnects_sink, atomic_load(&rc->sink->reconnects));
	atomic_store(&rc->m->unroutable, atomic_load(&rc->sink->returned));
	if (!rc->ready_sent && atomic_load(&rc->m->source_connected) &&
	    atomic_load(&rc->m->sink_connected)) {
		/* both ends answered once: the service is up */
		rc->ready_sent = true;
		notify_ready("streaming");
		log_info("connected to the database and the broker");
	}
	if (rc->result == RC_OK || !rc->stopping)
		publish_ready(rc);
	drain_acks(rc);
	take_checkpoint_result(rc);
	if (rc->stopping && atomic_load(&rc->reader_done) &&
	    (all_acked(rc) || rc->result != RC_OK) &&
	    (rc->q.pub == queue_head(&rc->q) || rc->result != RC_OK))
		ev_break(loop, EVBREAK_ALL);
}

static void ckpt_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rc *rc = w->data;

	(void)loop;
	(void)revents;
	if (rc->dirty)
		write_checkpoint_async(rc);
}

static void stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rc *rc = w->data;

	(void)revents;
	log_warn("shutdown_timeout: %llu messages still unacknowledged; they will be published again at the next start",
		 (unsigned long long)(rc->q.pub - rc->q.tail));
	ev_break(loop, EVBREAK_ALL);
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	notify_watchdog();
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct rc *rc = w->data;

	(void)loop;
	(void)revents;
	log_info("signal %d: stopping", w->signum);
	rc_stop(rc);
}

/* SIGHUP: read the file again; apply what a reload may change, name what
 * needs a restart, and keep the running config when the file is broken. */
static void reload_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct rc *rc = w->data;
	struct rc_config *fresh;
	struct rc_error e;

	(void)loop;
	(void)revents;
	notify_reloading();
	log_info("reload: reading %s", rc->cfg->path);
	if (rc_config_load(rc->cfg->path, &fresh, &e) != RC_OK) {
		log_error("reload: %s has errors (each logged above); keeping the running configuration",
			  rc->cfg->path);
		notify_ready("streaming");
		return;
	}
	{
		char msg[700];
		char *new_prefix = fresh->mqtt_topic_prefix;
		struct router *nr;

		/* the prefix needs a restart: the new router keeps the running one */
		fresh->mqtt_topic_prefix = rc->cfg->mqtt_topic_prefix;
		nr = router_new(fresh, msg, sizeof(msg));
		fresh->mqtt_topic_prefix = new_prefix;

		if (!nr) {
			log_error("reload: %s; keeping the running configuration", msg);
			rc_config_free(fresh);
			notify_ready("streaming");
			return;
		}
		pthread_mutex_lock(&rc->router_mu);
		router_free(rc->pending_router);
		rc->pending_router = nr;
		pthread_mutex_unlock(&rc->router_mu);
	}
	config_apply_reloadable(rc->cfg, fresh);
	rc_config_free(fresh);
	log_setup(rc->cfg->log_level, LOG_TO_STDERR | (rc->cfg->log_syslog ? LOG_TO_SYSLOG : 0),
		  "rowcast");
	ev_timer_set(&rc->ckpt_timer, rc->cfg->ckpt_interval_ms / 1000.0,
		     rc->cfg->ckpt_interval_ms / 1000.0);
	ev_timer_again(rc->loop, &rc->ckpt_timer);
	rc->m->lag_threshold_s = rc->cfg->metrics_lag_threshold_s;
	notify_ready("streaming");
	log_info("reload: done");
}

/* ---- public calls ----------------------------------------------------- */

enum rc_status rc_new(const struct rc_config *cfg, struct rc **out, struct rc_error *err)
{
	struct rc *rc = calloc(1, sizeof(*rc));
	struct rc_config *copy;
	struct rc_error e2;

	*out = NULL;
	if (!rc)
		log_oom();
	/* private copy: reload the same file (the caller's may go away) */
	if (rc_config_load(cfg->path, &copy, err ? err : &e2) != RC_OK) {
		free(rc);
		return RC_ERR_CONFIG;
	}
	copy->handle_signals = cfg->handle_signals;
	rc->cfg = copy;
	pthread_mutex_init(&rc->router_mu, NULL);
	rc->loop = ev_loop_new(EVFLAG_AUTO);
	if (!rc->loop) {
		rc_config_free(copy);
		free(rc);
		if (err) {
			err->status = RC_ERR_SYSTEM;
			snprintf(err->message, sizeof(err->message), "cannot create the event loop");
			err->where[0] = '\0';
		}
		return RC_ERR_SYSTEM;
	}
	*out = rc;
	return RC_OK;
}

void rc_stop(struct rc *rc)
{
	atomic_store(&rc->stop_asked, 1);
	ev_async_send(rc->loop, &rc->wake);
}

/* Split "FILE:OFFSET" into the acknowledged position. */
static bool parse_filepos(struct rc *rc, const char *text, char *err, size_t errlen)
{
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long long off;

	if (!colon || colon == text || (size_t)(colon - text) >= sizeof(rc->acked_file)) {
		snprintf(err, errlen, "'%s' is not FILE:OFFSET", text);
		return false;
	}
	off = strtoull(colon + 1, &end, 10);
	if (*end || off < 4) {
		snprintf(err, errlen, "'%s' is not FILE:OFFSET (offset 4 or more)", text);
		return false;
	}
	snprintf(rc->acked_file, sizeof(rc->acked_file), "%.*s", (int)(colon - text), text);
	rc->acked_offset = off;
	return true;
}

/* Decide where to start: the checkpoint, else the configured position. */
static bool resolve_start(struct rc *rc)
{
	bool filemode = rc->cfg->src_position_mode == POS_FILE;
	const char *state = ckpt_get(rc->ckpt, "source", "gtid_state");
	const char *pg = ckpt_get(rc->ckpt, "progress", "gtid");
	const char *pn = ckpt_get(rc->ckpt, "progress", "next_row");
	const char *fl = ckpt_get(rc->ckpt, "source", "flavour");
	const char *mode = ckpt_get(rc->ckpt, "source", "mode");
	const char *file = ckpt_get(rc->ckpt, "source", "file");
	const char *off = ckpt_get(rc->ckpt, "source", "offset");
	char err[1024], text[600];
	char *pos = NULL;
	bool fatal;

	if (ckpt_exists(rc->ckpt)) {
		if ((fl && strcmp(fl, "mariadb") && strcmp(fl, "mysql")) ||
		    (mode && strcmp(mode, filemode ? "file" : "gtid"))) {
			set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt),
				  "checkpoint is of another kind (flavour %s, mode %s) than this source (mode %s)",
				  fl ? fl : "?", mode ? mode : "gtid", filemode ? "file" : "gtid");
			return false;
		}
		rc->acked.mysql = fl && !strcmp(fl, "mysql");
		if (filemode) {
			snprintf(text, sizeof(text), "%s:%s", file ? file : "", off ? off : "");
			if (!file || !off || !parse_filepos(rc, text, err, sizeof(err))) {
				set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt),
					  "checkpoint has no binlog position ([source] file, offset)");
				return false;
			}
			state = text;
		} else if (!state) {
			set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt),
				  "checkpoint has no MariaDB GTID state ([source] gtid_state)");
			return false;
		}
		if (state[0] && !filemode &&
		    !position_parse(&rc->acked, rc->acked.mysql, state, err, sizeof(err))) {
			set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt), "gtid_state: %s", err);
			return false;
		}
		rc->rd.from.state = strdup(state);
		if (pg && pn) {
			rc->rd.from.skip_gtid = strdup(pg);
			rc->rd.from.skip_rows = strtoull(pn, NULL, 10);
			snprintf(rc->part_gtid, sizeof(rc->part_gtid), "%s", pg);
			rc->part_next = rc->rd.from.skip_rows;
		}
		log_info("resuming from checkpoint %s: %s%s%s", ckpt_path(rc->ckpt),
			 state[0] ? state : "(empty state)", pg ? ", skipping rows already sent of " : "",
			 pg ? pg : "");
	} else {
		if (rc->cfg->src_start_kind == START_GTID) {
			pos = strdup(rc->cfg->src_start);
		} else {
			if (!rc->src->ops->connect(rc->src, &fatal, err, sizeof(err)) ||
			    !rc->src->ops->position(rc->src, rc->cfg->src_start_kind, &pos, err,
						    sizeof(err))) {
				rc->src->ops->disconnect(rc->src);
				set_error(rc, fatal ? RC_ERR_SOURCE_FATAL : RC_ERR_SOURCE, "", "%s",
					  err);
				return false;
			}
			rc->src->ops->disconnect(rc->src);
		}
		if (!pos)
			log_oom();
		if (filemode ? !parse_filepos(rc, pos, err, sizeof(err)) :
			       !position_parse(&rc->acked, rc->src->flavour[0] ?
					       !strcmp(rc->src->flavour, "mysql") :
					       position_text_is_mysql(pos), pos, err, sizeof(err))) {
			set_error(rc, RC_ERR_CONFIG, rc->cfg->path, "start_position: %s", err);
			free(pos);
			return false;
		}
		rc->rd.from.state = pos;
		log_info("no checkpoint at %s: starting at %s (start_position = %s)",
			 ckpt_path(rc->ckpt), pos[0] ? pos : "the first binlog (no GTID yet)",
			 rc->cfg->src_start);
		/* written before the first publish: a crash now loses nothing */
		if (!write_checkpoint(rc)) {
			set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt),
				  "cannot write the first checkpoint");
			return false;
		}
	}
	if (!rc->rd.from.state)
		log_oom();
	for (int i = 1;; i++) {
		char k[32];
		const char *v;

		snprintf(k, sizeof(k), "pending.%d", i);
		if (!(v = ckpt_get(rc->ckpt, "xa", k)))
			break;
		xa_list_add(&rc->acked_xa, &rc->nacked_xa, &rc->capacked_xa, v);
		xa_list_add(&rc->rd.xa, &rc->rd.nxa, &rc->rd.capxa, v);
	}
	position_copy(&rc->rd.read, &rc->acked);
	snprintf(rc->rd.read_file, sizeof(rc->rd.read_file), "%s", rc->acked_file);
	rc->rd.read_pos = rc->acked_offset;
	return true;
}

enum rc_status rc_run(struct rc *rc, struct rc_error *err)
{
	struct dec_callbacks cb = { .on_begin = on_begin, .on_row = on_row,
				     .on_commit = on_commit, .on_event = on_event, .ctx = rc,
				     .table_gone = table_gone, .table_unnamed = table_unnamed };
	char msg[1024];

	rc->result = RC_OK;
	ev_async_init(&rc->wake, wake_cb);
	rc->wake.data = rc;
	ev_async_start(rc->loop, &rc->wake);
	ev_timer_init(&rc->stop_timer, stop_timeout_cb, 0., 0.);
	rc->stop_timer.data = rc;

	rc->m = metrics_new(rc->cfg->metrics_lag_threshold_s);
	rc->m->http_max_conns = (unsigned)rc->cfg->metrics_max_conns;
	rc->m->http_max_per_addr = (unsigned)rc->cfg->metrics_max_conns_per_addr;
	rc->m->http_idle_s = (unsigned)rc->cfg->metrics_idle_timeout_s;
	rc->router = router_new(rc->cfg, msg, sizeof(msg));
	if (!rc->router) {
		set_error(rc, RC_ERR_CONFIG, rc->cfg->path, "%s", msg);
		goto out;
	}
	/* the checkpoint's lock first: a second copy started by mistake is
	 * told who holds it, not that the metrics port is taken */
	if (!ckpt_open(rc->cfg->ckpt_path, &rc->ckpt, msg, sizeof(msg))) {
		set_error(rc, RC_ERR_CHECKPOINT, "", "%s", msg);
		goto out;
	}
	if (rc->cfg->metrics_listen[0] &&
	    !metrics_http_start(rc->m, rc->cfg->metrics_listen, msg, sizeof(msg))) {
		set_error(rc, RC_ERR_SYSTEM, "", "%s", msg);
		goto out;
	}
	rc->src = source_mysql_new(rc->cfg);
	if (!resolve_start(rc))
		goto out;

	/* room for a window in flight and one more decoded behind it, so
	 * that acknowledgements find the next messages ready to go */
	queue_init(&rc->q, 2 * (uint32_t)rc->cfg->sink_max_inflight);
	rc->q.before_wait = reader_waits;
	rc->q.wait_ctx = rc;
	rc->sink = sink_new(rc->cfg, rc->loop, &rc->wake);
	if (!rc->sink->ops->open(rc->sink, msg, sizeof(msg))) {
		set_error(rc, RC_ERR_SINK, "", "%s", msg);
		goto out;
	}
	if (rc->cfg->sink_kind == SINK_MQTT && rc->cfg->mqtt_qos == 0)
		log_warn("mqtt qos 0 is at most once: messages lost in transit are not sent again");

	rc->dec = decoder_new(&cb);
	if (pthread_create(&rc->reader_thread, NULL, reader_main, rc)) {
		set_error(rc, RC_ERR_SYSTEM, "", "cannot start the reader thread: %s",
			  strerror(errno));
		goto out;
	}
	rc->reader_started = true;

	rc->ckpt_w = ckpt_async_new(rc->ckpt, checkpoint_ended, rc);
	ev_timer_init(&rc->ckpt_timer, ckpt_cb, rc->cfg->ckpt_interval_ms / 1000.0,
		      rc->cfg->ckpt_interval_ms / 1000.0);
	rc->ckpt_timer.data = rc;
	ev_timer_start(rc->loop, &rc->ckpt_timer);
	if (rc->cfg->handle_signals) {
		ev_signal_init(&rc->sig_term, signal_cb, SIGTERM);
		ev_signal_init(&rc->sig_int, signal_cb, SIGINT);
		rc->sig_term.data = rc->sig_int.data = rc;
		ev_signal_start(rc->loop, &rc->sig_term);
		ev_signal_start(rc->loop, &rc->sig_int);
		ev_signal_init(&rc->sig_hup, reload_cb, SIGHUP);
		rc->sig_hup.data = rc;
		ev_signal_start(rc->loop, &rc->sig_hup);
	}
	if (notify_watchdog_usec()) {
		double every = notify_watchdog_usec() / 2e6;

		ev_timer_init(&rc->watchdog, watchdog_cb, every, every);
		ev_timer_start(rc->loop, &rc->watchdog);
		ev_unref(rc->loop);
	}
	ev_run(rc->loop, 0);

	/* stopped: the reader first, then the last checkpoint */
	begin_stop(rc);
	pthread_join(rc->reader_thread, NULL);
	rc->reader_started = false;
	drain_acks(rc);
	if (rc->ckpt_w) {
		ckpt_async_wait(rc->ckpt_w);
		take_checkpoint_result(rc);
	}
	if (rc->dirty && !write_checkpoint(rc))
		set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt), "cannot write the checkpoint");
	if (rc->result == RC_OK)
		log_info("stopped cleanly; checkpoint at %s", ckpt_path(rc->ckpt));
out:
	if (err) {
		*err = rc->err;
		err->status = rc->result;
	}
	return rc->result;
}

void rc_free(struct rc *rc)
{
	if (!rc)
		return;
	if (rc->reader_started) {
		queue_close(&rc->q);
		rc->src->ops->interrupt(rc->src);
		pthread_join(rc->reader_thread, NULL);
	}
	ckpt_async_free(rc->ckpt_w);
	sink_free(rc->sink);
	decoder_free(rc->dec);
	if (rc->src)
		rc->src->ops->free(rc->src);
	if (rc->q.e)
		queue_destroy(&rc->q);
	ckpt_close(rc->ckpt);
	position_free(&rc->acked);
	position_free(&rc->rd.read);
	free(rc->rd.from.state);
	free(rc->rd.from.skip_gtid);
	buf_free(&rc->rd.scratch);
	free(rc->rd.xa);
	free(rc->acked_xa);
	if (rc->loop)
		ev_loop_destroy(rc->loop);
	metrics_free(rc->m);
	router_free(rc->router);
	router_free(rc->pending_router);
	pthread_mutex_destroy(&rc->router_mu);
	rc_config_free(rc->cfg);
	free(rc);
}
