/* SPDX-License-Identifier: MIT */
/*
 * stdout and file sinks: one JSON line per message.  A message counts as
 * acknowledged once its batch is written to the descriptor (stdout) or
 * written and fsynced (file), so the checkpoint never passes a line that a
 * crash could still lose.
 *
 * The writing happens on a thread of its own ("rowcast-out"): a reader of
 * stdout that stops reading, or a slow fsync, holds up that thread and the
 * acknowledgements, never the event loop, which goes on answering signals,
 * reloads and /health, and stops after shutdown_timeout_ms as usual.  The
 * loop appends lines to one batch while the thread writes the other; how
 * much waits is bounded by the loop's in-flight window.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "sink/sink.h"

/* A batch buffer above this is given back once written. */
#define KEEP_BYTES (4u << 20)

struct batch {
	struct rc_buf text;		/* the lines */
	struct q_entry **e;		/* their entries, in order */
	size_t n, cap;
};

struct out_state {
	struct sink *s;
	int fd;				/* 1, or the file */
	bool sync;			/* fsync before acknowledging (file) */
	const char *name;		/* for errors: "stdout" or the path */
	pthread_t th;
	bool started;			/* th runs */
	pthread_mutex_t mu;		/* guards fill, stop, exited */
	pthread_cond_t cv;		/* work for the thread; its exit */
	struct batch fill;		/* the loop appends here */
	struct batch busy;		/* the thread writes this one */
	bool stop;			/* the thread is to end when idle */
	bool exited;			/* it has */
};

static void batch_free(struct batch *b)
{
	buf_free(&b->text);
	free(b->e);
	memset(b, 0, sizeof(*b));
}

/* Write all of p, or say why not (errno). */
static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static void *writer_main(void *arg)
{
	struct out_state *o = arg;
	struct sink *s = o->s;

	(void)pthread_setname_np(pthread_self(), "rowcast-out");
	/* cancelled only while it writes or syncs (see so_close) */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&o->mu);
	for (;;) {
		struct batch t;
		bool ok;
		int olds;

		while (!o->stop && o->fill.n == 0)
			pthread_cond_wait(&o->cv, &o->mu);
		if (o->fill.n == 0)
			break;	/* stop, and nothing left */
		t = o->fill;
		o->fill = o->busy;
		o->busy = t;
		pthread_mutex_unlock(&o->mu);

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &olds);
		ok = write_all(o->fd, o->busy.text.data, o->busy.text.len) &&
		     (!o->sync || fsync(o->fd) == 0);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &olds);
		if (!ok) {
			snprintf(s->error, sizeof(s->error), "%s: write: %s", o->name,
				 strerror(errno));
			atomic_store(&s->fatal, 1);
			ev_async_send(s->loop, s->wake);
			pthread_mutex_lock(&o->mu);
			break;	/* what is not written stays unacknowledged */
		}
		/* the batch acknowledged, the loop woken once for all of it */
		for (size_t i = 0; i < o->busy.n; i++)
			atomic_store(&o->busy.e[i]->acked, 1);
		ev_async_send(s->loop, s->wake);
		o->busy.n = 0;
		if (o->busy.text.cap > KEEP_BYTES)
			buf_free(&o->busy.text);
		buf_reset(&o->busy.text);
		pthread_mutex_lock(&o->mu);
	}
	o->exited = true;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

static bool so_open(struct sink *s, char *err, size_t errlen)
{
	struct out_state *o = calloc(1, sizeof(*o));
	int r;

	if (!o)
		log_oom();
	s->impl = o;
	o->s = s;
	o->fd = 1;
	o->name = "stdout";
	if (s->cfg->sink_kind == SINK_FILE) {
		o->fd = open(s->cfg->sink_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (o->fd < 0) {
			snprintf(err, errlen, "file sink: cannot open %s: %s", s->cfg->sink_path,
				 strerror(errno));
			return false;
		}
		o->sync = true;
		o->name = s->cfg->sink_path;
	}
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	r = pthread_create(&o->th, NULL, writer_main, o);
	if (r != 0) {
		snprintf(err, errlen, "%s sink: cannot start its thread: %s", o->name,
			 strerror(r));
		return false;
	}
	o->started = true;
	return true;
}

static enum sink_result so_publish(struct sink *s, struct q_entry *e)
{
	struct out_state *o = s->impl;
	struct batch *b = &o->fill;

	e->owner = s;
	pthread_mutex_lock(&o->mu);
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->e = realloc(b->e, b->cap * sizeof(*b->e));
		if (!b->e)
			log_oom();
	}
	buf_room(&b->text, e->payload.len + 1);
	memcpy(b->text.data + b->text.len, e->payload.data, e->payload.len);
	b->text.len += e->payload.len;
	b->text.data[b->text.len++] = '\n';
	b->text.data[b->text.len] = '\0';
	b->e[b->n++] = e;
	pthread_mutex_unlock(&o->mu);
	return SINK_OK;
}

/* The end of a publishing batch: wake the thread if there is work. */
static void so_poll(struct sink *s)
{
	struct out_state *o = s->impl;

	pthread_mutex_lock(&o->mu);
	if (o->fill.n)
		pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static bool so_ready(struct sink *s)
{
	(void)s;
	return true;
}

static void so_close(struct sink *s)
{
	struct out_state *o = s->impl;
	struct timespec until;

	if (!o)
		return;
	if (o->started) {
		/* The loop has drained, or given up after shutdown_timeout_ms:
		 * the thread writes what it holds and ends, unless whatever reads
		 * stdout has stopped reading, in which case it is cancelled in
		 * its write after 2 s (those lines were never acknowledged). */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 2;
		pthread_mutex_lock(&o->mu);
		o->stop = true;
		pthread_cond_signal(&o->cv);
		while (!o->exited &&
		       pthread_cond_timedwait(&o->cv, &o->mu, &until) != ETIMEDOUT)
			;
		if (!o->exited)
			pthread_cancel(o->th);
		pthread_mutex_unlock(&o->mu);
		pthread_join(o->th, NULL);
	}
	if (o->sync && o->fd >= 0)
		close(o->fd);
	if (o->started) {
		pthread_mutex_destroy(&o->mu);
		pthread_cond_destroy(&o->cv);
	}
	batch_free(&o->fill);
	batch_free(&o->busy);
	free(o);
	s->impl = NULL;
}

const struct sink_ops sink_stdout_ops = {
	.name = "stdout",
	.open = so_open,
	.publish = so_publish,
	.poll = so_poll,
	.ready = so_ready,
	.close = so_close,
};
