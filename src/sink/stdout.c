/* SPDX-License-Identifier: MIT */
/*
 * stdout sink: one JSON line per message.  A message counts as
 * acknowledged once it is flushed to the file descriptor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sink/sink.h"

/* Messages written since the last flush, to ack after it. */
struct out_state {
	struct q_entry **pending;	/* written, not yet flushed */
	size_t n, cap;
};

static bool so_open(struct sink *s, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	s->impl = calloc(1, sizeof(struct out_state));
	if (!s->impl)
		log_oom();
	return true;
}

static enum sink_result so_publish(struct sink *s, struct q_entry *e)
{
	struct out_state *o = s->impl;

	if (fwrite(e->payload.data, 1, e->payload.len, stdout) != e->payload.len ||
	    fputc('\n', stdout) == EOF) {
		snprintf(s->error, sizeof(s->error), "stdout: write: %s", strerror(errno));
		return SINK_FATAL;
	}
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->pending = realloc(o->pending, o->cap * sizeof(*o->pending));
		if (!o->pending)
			log_oom();
	}
	o->pending[o->n++] = e;
	return SINK_OK;
}

static void so_poll(struct sink *s)
{
	struct out_state *o = s->impl;

	if (o->n == 0)
		return;
	if (fflush(stdout) != 0) {
		snprintf(s->error, sizeof(s->error), "stdout: write: %s", strerror(errno));
		atomic_store(&s->fatal, 1);
		return;
	}
	for (size_t i = 0; i < o->n; i++)
		sink_ack(s, o->pending[i]);
	o->n = 0;
}

static bool so_ready(struct sink *s)
{
	(void)s;
	return true;
}

static void so_close(struct sink *s)
{
	struct out_state *o = s->impl;

	if (!o)
		return;
	fflush(stdout);
	free(o->pending);
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
