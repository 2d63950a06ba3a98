/* SPDX-License-Identifier: MIT */
/*
 * The reader thread: the source's changes through the router into the
 * queue, with reconnects and their back-off.  It knows no database: the
 * source hands it change-model transactions and rows, and tells it how a
 * position moves past each commit.  It blocks only in the source and on
 * a full queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "pipeline/pipeline.h"

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

/* Wake the loop for what the last source event pushed: once per event,
 * not per row (a wake-up per row cost a syscall and a context switch each
 * whenever the loop kept up with the reader). */
static void reader_signal(struct rc *rc)
{
	if (rc->rd.unsignalled) {
		rc->rd.unsignalled = false;
		ev_async_send(rc->loop, &rc->wake);
	}
}

void reader_waits(void *ctx)
{
	reader_signal(ctx);
}

static void measure_source_lag(struct rc *rc, time_t *last);

/* Waiting for room (a stalled broker or reader of stdout): the source lag
 * still moves, and that is when it matters. */
void reader_still_waits(void *ctx)
{
	struct rc *rc = ctx;

	measure_source_lag(rc, &rc->rd.lag_at);
}

/* Fill the common fields of a message entry and hand it over. */
static void push_message(struct rc *rc, struct q_entry *e, const struct ch_trx *trx,
			 uint64_t index, uint8_t op, void *mt)
{
	e->kind = Q_ROW;
	buf_strcpy(e->gtid, sizeof(e->gtid), trx->gtid);
	if (!e->trxkey[0])
		buf_strcpy(e->trxkey, sizeof(e->trxkey), rc->rd.cur_id);
	e->op = op;
	e->mt = mt;
	e->index = index;
	e->ts_ms = trx->ts_ms;
	queue_push(&rc->q);
	rc->rd.unsignalled = true;	/* the loop hears of it after the event */
}

/* A snapshot's start or end marker of its table, when the envelope has
 * one. */
static bool snapshot_marker(struct rc *rc, const struct ch_trx *trx, bool end)
{
	struct q_entry *e = queue_reserve(&rc->q);

	if (!e)
		return false;
	if (!router_snapshot_marker(rc->router, trx, end, trx->snap->rows_before + trx->nrows, e))
		return true;	/* reserved, not pushed: used by the next one */
	buf_strcpy(e->db, sizeof(e->db), trx->snap->db);
	buf_strcpy(e->table, sizeof(e->table), trx->snap->table);
	buf_strcpy(e->trxkey, sizeof(e->trxkey), trx->id);
	push_message(rc, e, trx, end ? trx->nrows : 0, CH_MARKER, NULL);
	return true;
}

static bool on_begin(void *ctx, const struct ch_trx *trx)
{
	struct rc *rc = ctx;
	struct reader *r = &rc->rd;
	struct q_entry *e;

	take_pending_router(rc);
	buf_strcpy(r->cur_id, sizeof(r->cur_id), trx->id);
	r->cur_rows = 0;
	r->skip_rows = 0;
	/* a snapshot chunk read again may hold other rows: never skipped */
	if (r->skip_id && !strcmp(r->skip_id, r->cur_id) && !trx->snap) {
		r->skip_rows = r->skip_from;
		r->cur_rows = r->skip_from;
	}
	if (router_markers(rc->router) && trx->gtid[0] && r->skip_rows == 0) {
		if (!(e = queue_reserve(&rc->q)))
			return false;
		router_marker_begin(rc->router, trx, e);
		e->db[0] = e->table[0] = '\0';
		push_message(rc, e, trx, 0, CH_MARKER, NULL);
	}
	if (trx->snap && trx->snap->first && !snapshot_marker(rc, trx, false))
		return false;
	return true;
}

static void table_gone(void *ctx, struct ch_table *t)
{
	(void)ctx;
	router_plan_free(t->user);
	t->user = NULL;
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

/* router_row's way to get entries and hand messages over. */
struct row_out {
	struct rc *rc;			/* the instance */
	const struct ch_trx *trx;	/* the row's transaction */
	const struct ch_row *row;	/* the row */
	struct metrics_table *mt;	/* its table's counters */
	bool closed;			/* the ring is closing */
};

static struct q_entry *row_next(void *ctx)
{
	struct row_out *ro = ctx;
	struct q_entry *e = queue_reserve(&ro->rc->q);

	if (!e)
		ro->closed = true;
	return e;
}

static void row_push(void *ctx, struct q_entry *e, bool last)
{
	struct row_out *ro = ctx;
	struct rc *rc = ro->rc;
	const struct ch_table *t = ro->row->table;

	buf_strcpy(e->db, sizeof(e->db), t->db);
	buf_strcpy(e->table, sizeof(e->table), t->name);
	if (router_markers(rc->router))
		router_marker_count(rc->router, t->db, t->name);
	buf_strcpy(e->trxkey, sizeof(e->trxkey), ro->trx->id);
	e->more = !last;
	push_message(rc, e, ro->trx, ro->row->index, p_op(e, ro->row), ro->mt);
}

static bool row_fail(void *ctx, const char *why)
{
	struct row_out *ro = ctx;

	return unpublishable(ro->rc, why);
}

/*
 * Route a row change and hand its messages over.  Its transaction is the
 * one being read, or one the source reads again inside it (a prepared XA
 * transaction at its commit), whose rows count on their own.
 */
static bool on_row(void *ctx, const struct ch_trx *trx, const struct ch_row *row,
		   const char *log, uint64_t offset)
{
	struct rc *rc = ctx;
	struct reader *r = &rc->rd;
	/* the table's user cache is the pipeline's to fill (change.h) */
	struct ch_table *t = (struct ch_table *)row->table;
	struct table_plan *plan = t->user;
	bool current = !strcmp(trx->id, r->cur_id);
	uint64_t skip = current ? r->skip_rows :
			r->skip_id && !strcmp(r->skip_id, trx->id) ? r->skip_from : 0;
	struct row_out ro = { rc, trx, row, NULL, false };
	struct route_out out = { row_next, row_push, row_fail, &ro };
	char err[700];

	if (plan && !router_plan_current(rc->router, plan)) {
		router_plan_free(plan);	/* made by a router a reload replaced */
		plan = t->user = NULL;
	}
	if (!plan) {
		plan = t->user = router_plan(rc->router, t);
		router_plan_set_metrics(plan, metrics_table(rc->m, t->db, t->name));
	}
	ro.mt = router_plan_metrics(plan);
	if (row->index < skip)
		return true;	/* handed over before a reconnect or restart */
	if (current)
		r->cur_rows = row->index + 1;
	atomic_fetch_add(&ro.mt->read[row->op], 1);
	if (router_row(rc->router, plan, trx, log, offset, row, &out, err, sizeof(err)) ==
	    ROUTE_ERROR)
		return false;	/* stopped before it (unpublishable() said why) */
	return !ro.closed;
}

static bool on_commit(void *ctx, const struct ch_trx *trx, const void *step, size_t steplen)
{
	struct rc *rc = ctx;
	struct reader *r = &rc->rd;
	struct q_entry *e;

	if (router_markers(rc->router) && trx->gtid[0]) {
		if (!(e = queue_reserve(&rc->q)))
			return false;
		router_marker_end(rc->router, trx, e);
		e->db[0] = e->table[0] = '\0';
		push_message(rc, e, trx, trx->nrows, CH_MARKER, NULL);
	}
	if (trx->snap && trx->snap->last && !snapshot_marker(rc, trx, true))
		return false;
	e = queue_reserve(&rc->q);
	if (!e)
		return false;
	e->kind = Q_COMMIT;
	e->durable = trx->snap != NULL;
	if (e->durable)
		r->durable_pushed++;
	buf_reset(&e->step);
	buf_append(&e->step, step, steplen);
	buf_strcpy(e->gtid, sizeof(e->gtid), trx->gtid);
	e->index = trx->nrows;
	e->ts_ms = trx->ts_ms;
	queue_push(&rc->q);
	if (r->skip_id && !strcmp(r->skip_id, r->cur_id)) {
		free(r->skip_id);
		r->skip_id = NULL;
	}
	r->cur_id[0] = '\0';
	r->cur_rows = 0;
	r->skip_rows = 0;
	r->unsignalled = true;
	return true;
}

/* router_ddl's way to get entries: the previous one is handed over first. */
struct ddl_emit {
	struct rc *rc;			/* the instance */
	const struct ch_trx *trx;	/* the statement's transaction */
	struct q_entry *pending;	/* the entry being filled, not yet pushed */
	int n;				/* entries emitted */
};

static bool ddl_emit(void *ctx, struct q_entry **out)
{
	struct ddl_emit *de = ctx;

	if (de->pending)
		push_message(de->rc, de->pending, de->trx, de->trx->nrows, de->pending->op, NULL);
	de->pending = queue_reserve(&de->rc->q);
	if (!de->pending)
		return false;
	de->pending->op = CH_DDL;
	de->n++;
	*out = de->pending;
	return true;
}

static bool on_ddl(void *ctx, const struct ch_trx *trx, const char *db, const char *query,
		   size_t qlen)
{
	struct rc *rc = ctx;
	struct ddl_emit de = { rc, trx, NULL, 0 };

	if (!router_ddl(rc->router, trx, db, query, qlen, ddl_emit, &de))
		return false;
	if (de.pending) {
		/* op from the payload: truncate, drop or ddl */
		const char *p = strstr(de.pending->payload.data, "\"op\":\"");

		if (p && !strncmp(p + 6, "truncate", 8))
			de.pending->op = CH_TRUNCATE;
		else if (p && !strncmp(p + 6, "drop", 4))
			de.pending->op = CH_DROP;
		push_message(rc, de.pending, trx, trx->nrows, de.pending->op, NULL);
	}
	return true;
}

static void on_heartbeat(void *ctx)
{
	struct rc *rc = ctx;

	atomic_store(&rc->m->last_heartbeat_ms, pipeline_now_ms());
}

/* The checkpoint is not awaited longer than this (a failing write must
 * not stop the live stream; /health says it fails). */
#define RC_DRAIN_DURABLE_MS 5000

/* One snapshot chunk in flight: wait until everything handed over is
 * acknowledged (the loop releases it) and the last chunk's progress is on
 * disk, or the queue closes. */
static bool on_drain(void *ctx)
{
	struct rc *rc = ctx;
	struct queue *q = &rc->q;
	int64_t give_up = pipeline_now_ms() + RC_DRAIN_DURABLE_MS;
	bool open;

	reader_signal(rc);
	pthread_mutex_lock(&q->mu);
	atomic_store(&q->waiting, true);
	while (!q->closed && (atomic_load(&q->tail) != atomic_load(&q->head) ||
			      (atomic_load(&rc->durable_done) < rc->rd.durable_pushed &&
			       pipeline_now_ms() < give_up))) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->space, &q->mu, &until);
	}
	atomic_store(&q->waiting, false);
	open = !q->closed;
	pthread_mutex_unlock(&q->mu);
	return open;
}

static bool on_wants_table(void *ctx, const char *db, const char *table)
{
	struct rc *rc = ctx;

	take_pending_router(rc);
	return router_table_wanted(rc->router, db, table);
}

static void on_snapshot_progress(void *ctx, const struct source_snap_progress *p)
{
	struct rc *rc = ctx;
	struct snap_status *st = &rc->snap;

	pthread_mutex_lock(&st->mu);
	if (!st->active || st->id != p->id || strcmp(st->db, p->db) || strcmp(st->table, p->table)) {
		/* a table begins (in this process) */
		st->table_started_ms = pipeline_now_ms();
		st->rows_at_start = p->rows;
	}
	st->active = !p->table_done || p->tables_left > 0;
	st->id = p->id;
	buf_strcpy(st->db, sizeof(st->db), p->db);
	buf_strcpy(st->table, sizeof(st->table), p->table);
	st->rows = p->rows;
	st->est_rows = p->est_rows;
	st->chunks = p->chunks;
	st->tables_left = p->tables_left;
	st->tables_done = p->tables_done;
	st->rows_total = p->rows_total;
	if (p->table_done)
		st->table[0] = '\0';	/* the next one starts afresh */
	pthread_mutex_unlock(&st->mu);
	if (p->table_done)
		log_info("snapshot %llu: %s.%s done: %llu rows in %llu chunks; %u table%s left",
			 (unsigned long long)p->id, p->db, p->table, (unsigned long long)p->rows,
			 (unsigned long long)p->chunks, p->tables_left,
			 p->tables_left == 1 ? "" : "s");
}

const struct source_callbacks reader_callbacks = {
	.begin = on_begin,
	.row = on_row,
	.commit = on_commit,
	.ddl = on_ddl,
	.heartbeat = on_heartbeat,
	.table_gone = table_gone,
	.drain = on_drain,
	.wants_table = on_wants_table,
	.snapshot_progress = on_snapshot_progress,
};

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

/* At most every RC_LAG_POLL_S while events (or heartbeats) arrive: how far
 * reading is behind the server's end, for rowcast_source_lag_bytes.  The
 * per-event cost is reading a coarse clock. */
static void measure_source_lag(struct rc *rc, time_t *last)
{
	struct timespec now;
	char err[512];
	int64_t bytes;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec - *last < RC_LAG_POLL_S)
		return;
	*last = now.tv_sec;
	switch (rc->src->ops->lag(rc->src, &bytes, err, sizeof(err))) {
	case LAG_KNOWN:
		atomic_store(&rc->m->source_lag_bytes, bytes);
		break;
	case LAG_ERROR:
		atomic_store(&rc->m->source_lag_bytes, -1);
		log_debug("source lag: %s", err);
		break;
	case LAG_UNKNOWN:
		break;
	}
}

/* Resume from what was read: the source knows where; the transaction in
 * progress is skipped as far as it was handed over. */
static void reader_resume_point(struct reader *r)
{
	if (r->cur_id[0] && r->cur_rows > 0) {
		free(r->skip_id);
		r->skip_id = strdup(r->cur_id);
		if (!r->skip_id)
			log_oom();
		r->skip_from = r->cur_rows;
	}
	r->cur_id[0] = '\0';
	r->cur_rows = 0;
}

/* What a failed source call ends the run with. */
static enum rc_status failure_status(enum source_result res)
{
	switch (res) {
	case SRC_FATAL: return RC_ERR_SOURCE_FATAL;
	case SRC_DECODE: return RC_ERR_DECODE;
	case SRC_MISMATCH: return RC_ERR_CHECKPOINT;
	default: return RC_ERR_SOURCE;
	}
}

void *reader_main(void *arg)
{
	struct rc *rc = arg;
	struct reader *r = &rc->rd;
	struct source *src = rc->src;
	char err[1024];
	unsigned backoff = (unsigned)rc->cfg->src_reconnect_min_ms;
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	struct repeat_log rl = { "", 0 };
	unsigned failed = 0;		/* failed attempts since the last stream */
	bool first = true;
	bool ever_streamed = false;	/* a failure before this ends the run */

	/* named for top -H, perf and gdb (15 characters at most) */
	(void)pthread_setname_np(pthread_self(), "rowcast-reader");
	if (src->ops->thread_init)
		src->ops->thread_init();
	while (!reader_closed(rc)) {
		enum source_result res;

		if (!first) {
			atomic_fetch_add(&rc->m->reconnects_source, 1);
			reader_resume_point(r);
			/* exponential back-off with +-25 % jitter, so replicas
			 * of a restarted server do not all come back at once */
			unsigned wait = backoff - backoff / 4 + (unsigned)(rand_r(&seed) %
					(backoff / 2 + 1));

			if (rl.count <= 1) {
				buf_reset(&r->scratch);
				src->ops->read_position(src, &r->scratch);
				log_info("%s: reconnecting in %u ms from %s", src->peer, wait,
					 r->scratch.len ? r->scratch.data : "the oldest binlog");
			}
			if (!reader_sleep(rc, wait))
				break;
			backoff = backoff * 2 > (unsigned)rc->cfg->src_reconnect_max_ms ?
				  (unsigned)rc->cfg->src_reconnect_max_ms : backoff * 2;
		}
		res = src->ops->start(src, first ? r->from : NULL, err, sizeof(err));
		first = false;
		if (res == SRC_MISMATCH) {
			reader_fail(rc, RC_ERR_CHECKPOINT, err);
			break;
		}
		if (res != SRC_OK) {
			if (res == SRC_FATAL || !ever_streamed) {
				reader_fail(rc, res == SRC_FATAL ? RC_ERR_SOURCE_FATAL : RC_ERR_SOURCE,
					    err);
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
			log_info("%s: connected again after %u failed attempt%s", src->peer,
				 failed, failed == 1 ? "" : "s");
		failed = 0;
		rl.last[0] = '\0';
		rl.count = 0;
		ever_streamed = true;
		atomic_store(&rc->m->clock_offset_ms, src->clock_offset_ms);
		atomic_store(&rc->m->source_connected, 1);
		ev_async_send(rc->loop, &rc->wake);	/* READY may be due now */
		while ((res = src->ops->poll(src, err, sizeof(err))) == SRC_OK) {
			backoff = (unsigned)rc->cfg->src_reconnect_min_ms;
			reader_signal(rc);
			if (rc->cfg->metrics_listen[0])
				measure_source_lag(rc, &rc->rd.lag_at);
		}
		reader_signal(rc);
		if (res == SRC_STOPPED)
			goto out;	/* the callback that stopped said why */
		if (res == SRC_DONE) {
			log_info("%s: nothing more to read: stopping", src->peer);
			rc_stop(rc);
			goto out;
		}
		if (res != SRC_LOST && res != SRC_FATAL) {
			if (res == SRC_DECODE)
				atomic_fetch_add(&rc->m->decode_errors, 1);
			reader_fail(rc, failure_status(res), err);
			goto out;
		}
		atomic_store(&rc->m->source_connected, 0);
		atomic_store(&rc->m->source_lag_bytes, -1);
		src->ops->disconnect(src);
		if (reader_closed(rc))
			break;
		if (res == SRC_FATAL) {
			reader_fail(rc, RC_ERR_SOURCE_FATAL, err);
			break;
		}
		log_warn("%s", err);
	}
out:
	atomic_store(&rc->m->source_connected, 0);
	src->ops->disconnect(src);
	if (src->ops->thread_end)
		src->ops->thread_end();
	atomic_store(&rc->reader_done, 1);
	ev_async_send(rc->loop, &rc->wake);
	return NULL;
}
