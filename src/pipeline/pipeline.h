/* SPDX-License-Identifier: MIT */
/*
 * Private to src/pipeline/: the instance behind rc_* and what its three
 * parts share.  instance.c makes, starts and frees it (rc_new, rc_run,
 * rc_free) and decides where reading starts; reader.c is the reader
 * thread (source -> routes -> queue); loop.c is the libev loop (queue ->
 * sink -> acknowledgements -> checkpoint, signals, reload).  Positions are
 * three: read (the source's), published and acknowledged (loop); only the
 * acknowledged one is written to disk.
 */
#ifndef RC_PIPELINE_PIPELINE_H
#define RC_PIPELINE_PIPELINE_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "change/queue.h"
#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "pipeline/metrics.h"
#include "route/router.h"
#include "rowcast/rowcast.h"
#include "sink/sink.h"
#include "source/source.h"

/* The reader thread's view: what it has handed to the queue. */
struct reader {
	char cur_id[300];		/* id of the transaction being read, "" between */
	uint64_t cur_rows;		/* its rows handed over so far */
	uint64_t skip_rows;		/* rows of the current trx to skip */
	struct source_pos *from;	/* where the first start reads from */
	char *skip_id;			/* a transaction partly handed over before a
					   restart or reconnect, or NULL */
	uint64_t skip_from;		/* its rows with index < this are done */
	bool unsignalled;		/* entries pushed, the loop not yet woken */
	time_t lag_at;			/* monotonic second of the last source lag
					   measurement */
	uint64_t durable_pushed;	/* durable commits handed over */
	struct rc_buf scratch;		/* position text for messages */
};

/* Where the snapshot stands, as the source last reported it (reader
 * thread writes, loop and metrics read, under mu). */
struct snap_status {
	pthread_mutex_t mu;
	bool active;			/* a snapshot has a table in progress */
	uint64_t id;			/* its number */
	char db[256], table[256];	/* its current table */
	uint64_t rows;			/* rows of that table handed over */
	uint64_t est_rows;		/* its estimated rows */
	uint64_t chunks;		/* its chunks */
	unsigned tables_left;		/* tables waiting, the current one included */
	uint64_t tables_done;		/* tables finished since the start */
	uint64_t rows_total;		/* rows handed over since the start */
	int64_t table_started_ms;	/* wall clock when this process began the
					   table (rate and ETA count from here) */
	uint64_t rows_at_start;		/* rows already done then (a resumed table) */
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
	ev_timer snap_timer;		/* snapshot progress lines in the log */
	struct control *ctl;		/* the control socket (control.h) */
	bool ready_sent;		/* READY=1 went out */
	struct metrics *m;		/* counters, /metrics, /health */
	struct router *router;		/* reader's routes and filters */
	struct router *pending_router;	/* from a reload, not yet taken */
	pthread_mutex_t router_mu;	/* guards pending_router */
	atomic_int stop_asked;		/* rc_stop() was called */
	bool stopping;			/* the loop is draining */

	struct queue q;			/* reader -> loop */
	struct source *src;		/* the database */
	struct sink *sink;		/* the broker */
	struct ckpt *ckpt;		/* the checkpoint file */
	struct ckpt_async *ckpt_w;	/* writes it off the loop (periodic writes) */
	pthread_t reader_thread;	/* runs reader_main */
	bool reader_started;		/* reader_thread is joinable */
	atomic_int reader_done;		/* reader_main returned */
	struct reader rd;		/* reader thread state */
	struct snap_status snap;	/* the snapshot's progress */

	/* acknowledged position, loop thread only */
	struct source_pos *acked;	/* after the last fully acked trx */
	struct source_pos *writing;	/* what the write under way holds */
	char part_id[300];		/* trx partly acknowledged (its id), "" if none */
	uint64_t part_next;		/* its next row index not acked */
	bool dirty;			/* acked moved since the last write */
	uint64_t durable_acked;		/* durable commits acknowledged (loop) */
	uint64_t durable_writing;	/* of them, in the write under way (loop) */
	bool write_now;			/* a durable commit waits for a write (loop) */
	_Atomic uint64_t durable_done;	/* durable commits on disk (loop writes) */
	double last_write;		/* ev_now of the last checkpoint write */

	enum rc_status result;		/* what rc_run returns */
	struct rc_error err;		/* first error */
};

/* instance.c */
void pipeline_set_error(struct rc *rc, enum rc_status st, const char *where, const char *fmt,
			...) __attribute__((format(printf, 4, 5)));
int64_t pipeline_now_ms(void);

/* reader.c */
/* The callbacks the source calls (ctx: the instance). */
extern const struct source_callbacks reader_callbacks;
void *reader_main(void *arg);
/* Ring full: wake the loop for what is in it (queue.before_wait). */
void reader_waits(void *ctx);
/* Still full: keep the source lag gauge current (queue.while_waiting). */
void reader_still_waits(void *ctx);

/* loop.c */
/* The wake-up and the stop timer, before anything can wake the loop. */
void loop_init(struct rc *rc);
/* The checkpoint writer, timers, signals and watchdog, once the reader
 * runs; the loop itself runs in rc_run(). */
void loop_start(struct rc *rc);
/* Write the checkpoint now and wait for it (start and stop). */
bool loop_write_checkpoint(struct rc *rc);
void loop_begin_stop(struct rc *rc);
void loop_drain_acks(struct rc *rc);
/* Take the result of a periodic write that ended, if any. */
void loop_take_checkpoint_result(struct rc *rc);

#endif
