/* SPDX-License-Identifier: MIT */
/*
 * stdout and file sinks: one JSON line per message.  A message counts as
 * acknowledged once its batch is flushed to the descriptor (stdout) or
 * flushed and fsynced (file), so the checkpoint never passes a line that a
 * crash could still lose.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "sink/sink.h"

struct out_state {
	FILE *f;			/* stdout or the file */
	bool sync;			/* fsync before acknowledging (file) */
	struct q_entry **pending;	/* written, not yet flushed */
	size_t n, cap;
};

static bool so_open(struct sink *s, char *err, size_t errlen)
{
	struct out_state *o = calloc(1, sizeof(*o));

	if (!o)
		log_oom();
	s->impl = o;
	if (s->cfg->sink_kind != SINK_FILE) {
		o->f = stdout;
		return true;
	}
	int fd = open(s->cfg->sink_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0 || !(o->f = fdopen(fd, "a"))) {
		snprintf(err, errlen, "file sink: cannot open %s: %s", s->cfg->sink_path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	setvbuf(o->f, NULL, _IOFBF, 1 << 16);
	o->sync = true;
	return true;
}

static enum sink_result so_publish(struct sink *s, struct q_entry *e)
{
	struct out_state *o = s->impl;

	if (fwrite(e->payload.data, 1, e->payload.len, o->f) != e->payload.len ||
	    fputc('\n', o->f) == EOF) {
		snprintf(s->error, sizeof(s->error), "%s: write: %s",
			 o->sync ? s->cfg->sink_path : "stdout", strerror(errno));
		return SINK_FATAL;
	}
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->pending = realloc(o->pending, o->cap * sizeof(*o->pending));
		if (!o->pending)
			log_oom();
	}
	o->pending[o->n++] = e;
	e->owner = s;
	return SINK_OK;
}

static void so_poll(struct sink *s)
{
	struct out_state *o = s->impl;

	if (o->n == 0)
		return;
	if (fflush(o->f) != 0 || (o->sync && fsync(fileno(o->f)) != 0)) {
		snprintf(s->error, sizeof(s->error), "%s: write: %s",
			 o->sync ? s->cfg->sink_path : "stdout", strerror(errno));
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
	fflush(o->f);
	if (o->sync)
		fclose(o->f);
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
