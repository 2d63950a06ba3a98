/* SPDX-License-Identifier: MIT */
/*
 * The instance behind rc_*: make it, decide where reading starts (the
 * checkpoint, else [source] start_position), start the reader thread and
 * run the loop until it stops, then write the last checkpoint.  The
 * reader is in reader.c, the loop in loop.c (pipeline.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "pipeline/control.h"
#include "pipeline/pipeline.h"

void pipeline_set_error(struct rc *rc, enum rc_status st, const char *where, const char *fmt, ...)
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

int64_t pipeline_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- public calls ----------------------------------------------------- */

enum rc_status rc_new(const struct rc_config *cfg, struct rc **out, struct rc_error *err)
{
	struct rc *rc = calloc(1, sizeof(*rc));

	*out = NULL;
	if (!rc)
		log_oom();
	/* a private copy of what the caller parsed (and checked): the
	 * instance runs that, not the file as it may be now */
	rc->cfg = config_dup(cfg);
	pthread_mutex_init(&rc->router_mu, NULL);
	pthread_mutex_init(&rc->snap.mu, NULL);
	rc->loop = ev_loop_new(EVFLAG_AUTO);
	if (!rc->loop) {
		rc_config_free(rc->cfg);
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

/* Decide where to start: the checkpoint, else the configured position. */
static bool resolve_start(struct rc *rc)
{
	struct source *src = rc->src;
	const char *pg = ckpt_get(rc->ckpt, "progress", "gtid");
	const char *pn = ckpt_get(rc->ckpt, "progress", "next_row");
	char err[1024];
	char *text = NULL;

	if (ckpt_exists(rc->ckpt)) {
		if (!src->ops->ckpt_load(src, rc->ckpt, rc->acked, &text, err, sizeof(err))) {
			pipeline_set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt), "%s", err);
			return false;
		}
		if (pg && pn) {
			rc->rd.skip_id = strdup(pg);
			if (!rc->rd.skip_id)
				log_oom();
			rc->rd.skip_from = strtoull(pn, NULL, 10);
			snprintf(rc->part_id, sizeof(rc->part_id), "%s", pg);
			rc->part_next = rc->rd.skip_from;
		}
		log_info("resuming from checkpoint %s: %s%s%s", ckpt_path(rc->ckpt),
			 text[0] ? text : "(empty state)", pg ? ", skipping rows already sent of " : "",
			 pg ? pg : "");
	} else {
		enum source_result r = src->ops->start_position(src, &text, err, sizeof(err));

		if (r != SRC_OK) {
			pipeline_set_error(rc, r == SRC_FATAL ? RC_ERR_SOURCE_FATAL : RC_ERR_SOURCE, "",
					   "%s", err);
			return false;
		}
		if (!src->ops->pos_parse(src, rc->acked, text, err, sizeof(err))) {
			pipeline_set_error(rc, RC_ERR_CONFIG, rc->cfg->path, "start_position: %s", err);
			free(text);
			return false;
		}
		log_info("no checkpoint at %s: starting at %s (start_position = %s)",
			 ckpt_path(rc->ckpt), text[0] ? text : "the first binlog (no GTID yet)",
			 rc->cfg->src_start);
		if (rc->cfg->snap_mode != SNAP_NEVER) {
			/* the snapshot's tables reach the checkpoint with the
			 * first acknowledgement; a crash before it starts over,
			 * snapshot included, so no first write here */
			struct source_snap_request rq = { .all = true };

			if (!src->ops->snapshot ||
			    !src->ops->snapshot(src, &rq, err, sizeof(err))) {
				pipeline_set_error(rc, RC_ERR_CONFIG, rc->cfg->path,
						   "[snapshot] mode: %s",
						   src->ops->snapshot ? err :
						   "this source has no snapshots");
				free(text);
				return false;
			}
		} else if (!loop_write_checkpoint(rc)) {
			/* written before the first publish: a crash now loses nothing */
			pipeline_set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt),
					   "cannot write the first checkpoint");
			free(text);
			return false;
		}
	}
	free(text);
	src->ops->pos_copy(src, rc->rd.from, rc->acked);
	return true;
}

enum rc_status rc_run(struct rc *rc, struct rc_error *err)
{
	char msg[1024];

	rc->result = RC_OK;
	loop_init(rc);
	rc->m = metrics_new(rc->cfg->metrics_lag_threshold_s);
	rc->m->http_max_conns = (unsigned)rc->cfg->metrics_max_conns;
	rc->m->http_max_per_addr = (unsigned)rc->cfg->metrics_max_conns_per_addr;
	rc->m->http_idle_s = (unsigned)rc->cfg->metrics_idle_timeout_s;
	rc->router = router_new(rc->cfg, msg, sizeof(msg));
	if (!rc->router) {
		pipeline_set_error(rc, RC_ERR_CONFIG, rc->cfg->path, "%s", msg);
		goto out;
	}
	/* the checkpoint's lock first: a second copy started by mistake is
	 * told who holds it, not that the metrics port is taken */
	if (!ckpt_open(rc->cfg->ckpt_path, &rc->ckpt, msg, sizeof(msg))) {
		pipeline_set_error(rc, RC_ERR_CHECKPOINT, "", "%s", msg);
		goto out;
	}
	if (!control_start(rc))	/* with the lock: a stale socket is ours to replace */
		goto out;
	if (rc->cfg->metrics_listen[0] &&
	    !metrics_http_start(rc->m, rc->cfg->metrics_listen, msg, sizeof(msg))) {
		pipeline_set_error(rc, RC_ERR_SYSTEM, "", "%s", msg);
		goto out;
	}
	{
		struct source_callbacks cb = reader_callbacks;

		cb.ctx = rc;
		rc->src = source_new(rc->cfg, &cb, msg, sizeof(msg));
	}
	if (!rc->src) {
		pipeline_set_error(rc, RC_ERR_CONFIG, rc->cfg->path, "%s", msg);
		goto out;
	}
	rc->acked = rc->src->ops->pos_new(rc->src);
	rc->writing = rc->src->ops->pos_new(rc->src);
	rc->rd.from = rc->src->ops->pos_new(rc->src);
	if (!resolve_start(rc))
		goto out;

	/* room for a window in flight and one more decoded behind it, so
	 * that acknowledgements find the next messages ready to go */
	queue_init(&rc->q, 2 * (uint32_t)rc->cfg->sink_max_inflight);
	rc->q.before_wait = reader_waits;
	if (rc->cfg->metrics_listen[0])
		rc->q.while_waiting = reader_still_waits;
	rc->q.wait_ctx = rc;
	rc->sink = sink_new(rc->cfg, rc->loop, &rc->wake);
	if (!rc->sink->ops->open(rc->sink, msg, sizeof(msg))) {
		pipeline_set_error(rc, RC_ERR_SINK, "", "%s", msg);
		goto out;
	}
	if (rc->cfg->sink_kind == SINK_MQTT && rc->cfg->mqtt_qos == 0)
		log_warn("mqtt qos 0 is at most once: messages lost in transit are not sent again");

	if (pthread_create(&rc->reader_thread, NULL, reader_main, rc)) {
		pipeline_set_error(rc, RC_ERR_SYSTEM, "", "cannot start the reader thread: %s",
				   strerror(errno));
		goto out;
	}
	rc->reader_started = true;
	loop_start(rc);
	ev_run(rc->loop, 0);

	/* stopped: the reader first, then the last checkpoint */
	loop_begin_stop(rc);
	pthread_join(rc->reader_thread, NULL);
	rc->reader_started = false;
	loop_drain_acks(rc);
	if (rc->ckpt_w) {
		ckpt_async_wait(rc->ckpt_w);
		loop_take_checkpoint_result(rc);
	}
	if (rc->dirty && !loop_write_checkpoint(rc))
		pipeline_set_error(rc, RC_ERR_CHECKPOINT, ckpt_path(rc->ckpt),
				   "cannot write the checkpoint");
	if (rc->result == RC_OK)
		log_info("stopped cleanly; checkpoint at %s", ckpt_path(rc->ckpt));
out:
	control_stop(rc->ctl);	/* its file goes while the lock is still held */
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
	if (rc->q.e)
		queue_destroy(&rc->q);
	ckpt_close(rc->ckpt);
	if (rc->src) {
		rc->src->ops->pos_free(rc->src, rc->acked);
		rc->src->ops->pos_free(rc->src, rc->writing);
		rc->src->ops->pos_free(rc->src, rc->rd.from);
		rc->src->ops->free(rc->src);
	}
	free(rc->rd.skip_id);
	buf_free(&rc->rd.scratch);
	if (rc->loop)
		ev_loop_destroy(rc->loop);
	metrics_free(rc->m);
	router_free(rc->router);
	router_free(rc->pending_router);
	control_free(rc->ctl);	/* after the reader and the source: no answer can come */
	pthread_mutex_destroy(&rc->router_mu);
	pthread_mutex_destroy(&rc->snap.mu);
	rc_config_free(rc->cfg);
	free(rc);
}
