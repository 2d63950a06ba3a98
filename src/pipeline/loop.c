/* SPDX-License-Identifier: MIT */
/*
 * The loop thread: publish what the reader queued, release what the
 * broker acknowledged in order, move the acknowledged position and write
 * it to the checkpoint (batched, off the loop), then confirm it to the
 * source.  Also the loop's signals, reload, watchdog and the snapshot's
 * progress lines (the control socket is control.c).  It never waits on
 * the database.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/notify.h"
#include "pipeline/control.h"
#include "pipeline/pipeline.h"

/* Put the acknowledged position into rc->ckpt (not yet written): the
 * source's sections, then the transaction partly acknowledged. */
static void fill_checkpoint(struct rc *rc)
{
	char num[32];

	rc->src->ops->ckpt_store(rc->src, rc->acked, rc->ckpt);
	ckpt_clear_section(rc->ckpt, "progress");
	if (rc->part_id[0]) {
		ckpt_set(rc->ckpt, "progress", "gtid", rc->part_id);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)rc->part_next);
		ckpt_set(rc->ckpt, "progress", "next_row", num);
	}
}

/* A write is on disk: tell the source what it holds. */
static void checkpoint_written(struct rc *rc)
{
	char err[512];

	rc->last_write = ev_now(rc->loop);
	/* the reader may read the next snapshot chunk (reader.c, on_drain):
	 * woken now, not at its next 50 ms tick */
	atomic_store(&rc->durable_done, rc->durable_writing);
	queue_wake(&rc->q);
	atomic_fetch_add(&rc->m->checkpoint_writes, 1);
	atomic_store(&rc->m->last_checkpoint_ms, pipeline_now_ms());
	atomic_store(&rc->m->checkpoint_behind, rc->dirty);
	metrics_checkpoint_result(rc->m, true, NULL);
	log_debug("checkpoint written");
	if (!rc->src->ops->confirm(rc->src, rc->writing, err, sizeof(err)))
		log_warn("%s: %s", rc->src->peer, err);
}

bool loop_write_checkpoint(struct rc *rc)
{
	char err[512];

	if (rc->ckpt_w)
		ckpt_async_wait(rc->ckpt_w);	/* one writer at a time */
	fill_checkpoint(rc);
	rc->src->ops->pos_copy(rc->src, rc->writing, rc->acked);
	if (!ckpt_write(rc->ckpt, err, sizeof(err))) {
		log_error("checkpoint: %s", err);
		metrics_checkpoint_result(rc->m, false, err);
		return false;
	}
	rc->dirty = false;
	rc->durable_writing = rc->durable_acked;
	checkpoint_written(rc);
	return true;
}

/* The periodic write: handed to the writer thread, so that an fsync never
 * holds up publishing; skipped while the previous one is under way. */
static void write_checkpoint_async(struct rc *rc)
{
	fill_checkpoint(rc);
	if (ckpt_async_submit(rc->ckpt_w)) {
		rc->dirty = false;	/* set again should the write fail */
		rc->durable_writing = rc->durable_acked;
		rc->write_now = false;
		rc->src->ops->pos_copy(rc->src, rc->writing, rc->acked);
	}
}

/* Writer thread: a write ended. */
static void checkpoint_ended(void *arg)
{
	struct rc *rc = arg;

	ev_async_send(rc->loop, &rc->wake);
}

void loop_take_checkpoint_result(struct rc *rc)
{
	char err[512];
	int r = rc->ckpt_w ? ckpt_async_result(rc->ckpt_w, err, sizeof(err)) : -1;

	if (r == 1) {
		checkpoint_written(rc);
		if (rc->write_now && !rc->stopping)
			write_checkpoint_async(rc);	/* a snapshot chunk waits */
	} else if (r == 0) {
		log_error("checkpoint: %s", err);
		metrics_checkpoint_result(rc->m, false, err);
		rc->dirty = true;	/* tried again at the next tick */
	}
}

void loop_begin_stop(struct rc *rc)
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
void loop_drain_acks(struct rc *rc)
{
	uint64_t t = rc->q.tail;

	while (t < rc->q.pub) {
		struct q_entry *e = queue_at(&rc->q, t);

		if (atomic_load(&e->failed)) {
			pipeline_set_error(rc, RC_ERR_SINK, "", "%s",
					   rc->sink->error[0] ? rc->sink->error :
					   "the broker refused a message");
			log_error("%s: message %s not acknowledged; the checkpoint stays before it",
				  rc->sink->ops->name, e->id.data ? e->id.data : "?");
			loop_begin_stop(rc);
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
			buf_strcpy(rc->part_id, sizeof(rc->part_id), e->trxkey);
			/* a row is done with its last message: a restart
			 * sends all of a row's messages again, never a part */
			rc->part_next = e->more ? e->index : e->index + 1;
		} else if (e->kind == Q_COMMIT) {
			rc->src->ops->pos_advance(rc->src, rc->acked, e->step.data, e->step.len);
			rc->part_id[0] = '\0';
			rc->part_next = 0;
			if (e->durable) {
				rc->durable_acked++;
				rc->write_now = true;
			}
		}
		rc->dirty = true;
		t++;
	}
	if (t != rc->q.tail) {
		queue_release(&rc->q, t);
		atomic_store(&rc->m->checkpoint_behind, 1);
	}
	/* a snapshot chunk is acknowledged: on disk at once, so that a crash
	 * reads at most the chunk after it again */
	if (rc->write_now && rc->ckpt_w && !rc->stopping)
		write_checkpoint_async(rc);
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
			pipeline_set_error(rc, (enum rc_status)e->fail_status, "", "%s",
					   e->payload.data);
			/* stop here: nothing after it is published */
			loop_begin_stop(rc);
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
			pipeline_set_error(rc, RC_ERR_SINK, "", "%s", rc->sink->error);
			loop_begin_stop(rc);
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
		loop_begin_stop(rc);
	}
	if (atomic_load(&rc->sink->fatal)) {
		pipeline_set_error(rc, RC_ERR_SINK, "", "%s", rc->sink->error);
		loop_begin_stop(rc);
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
	loop_drain_acks(rc);
	loop_take_checkpoint_result(rc);
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

/* Every [snapshot] progress_interval: where the snapshot stands, while
 * one reads a table. */
static void snap_progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rc *rc = w->data;
	struct metrics_snap s;
	struct rc_buf line = { 0 };

	(void)loop;
	(void)revents;
	control_snap_read(rc, &s);
	if (!s.active)
		return;
	control_progress_line(&s, pipeline_now_ms(), &line);
	log_info("%s", line.data);
	buf_free(&line);
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
	{
		char err[512];

		/* a rotated log file: carry on in a new one at the same path */
		if (!log_file_reopen(rc->cfg->log_file, err, sizeof(err)))
			log_error("reload: %s; logging to the old file", err);
	}
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

void loop_init(struct rc *rc)
{
	ev_async_init(&rc->wake, wake_cb);
	rc->wake.data = rc;
	ev_async_start(rc->loop, &rc->wake);
	ev_timer_init(&rc->stop_timer, stop_timeout_cb, 0., 0.);
	rc->stop_timer.data = rc;
}

void loop_start(struct rc *rc)
{
	rc->ckpt_w = ckpt_async_new(rc->ckpt, checkpoint_ended, rc);
	ev_timer_init(&rc->ckpt_timer, ckpt_cb, rc->cfg->ckpt_interval_ms / 1000.0,
		      rc->cfg->ckpt_interval_ms / 1000.0);
	rc->ckpt_timer.data = rc;
	ev_timer_start(rc->loop, &rc->ckpt_timer);
	ev_timer_init(&rc->snap_timer, snap_progress_cb, rc->cfg->snap_progress_s,
		      rc->cfg->snap_progress_s);
	rc->snap_timer.data = rc;
	ev_timer_start(rc->loop, &rc->snap_timer);
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
}
