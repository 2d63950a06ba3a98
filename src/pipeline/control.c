/* SPDX-License-Identifier: MIT */
/*
 * The control socket (see control.h): the request parser, the socket's
 * path and the progress text, then the daemon's side, served by the loop.
 * A snapshot request is handed to the source, whose reader thread answers
 * later through done(); the answer comes back to the loop by an ev_async
 * and is written to the client then.  Reading, writing and answering never
 * block the loop: every socket is non-blocking and every state has a
 * deadline.
 */
#include "pipeline/control.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "pipeline/pipeline.h"

#define CONTROL_MAX_WAITING 32		/* snapshot requests the reader has not answered */
#define CONTROL_DRAIN_MAX 65536		/* unread bytes thrown away before a close */

/* ---- the request line ------------------------------------------------- */

/* Characters (not bytes) of a UTF-8 name. */
static size_t name_chars(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			k++;
	return k;
}

/* A table word: db.table with one dot, no backquote, names not too long. */
static bool table_ok(const char *t, char *err, size_t errlen)
{
	const char *dot = strchr(t, '.');

	if (!dot || dot == t || !dot[1] || strchr(dot + 1, '.')) {
		snprintf(err, errlen,
			 "table \"%.80s\" is not db.table (one dot; names with dots or spaces cannot be asked for here)",
			 t);
		return false;
	}
	if (strchr(t, '`')) {
		snprintf(err, errlen, "table \"%.80s\": backquotes are refused in names", t);
		return false;
	}
	if (name_chars(t, (size_t)(dot - t)) > CONTROL_NAME_MAX ||
	    name_chars(dot + 1, strlen(dot + 1)) > CONTROL_NAME_MAX) {
		snprintf(err, errlen, "table \"%.80s...\": a name is longer than %d characters", t,
			 CONTROL_NAME_MAX);
		return false;
	}
	return true;
}

/* The first control character of s[from..n) (a tab is none; nor are CR
 * and LF when framing, where they end the line): false with err naming
 * it and its place in the line. */
static bool no_control_char(const char *s, size_t from, size_t n, bool framing, char *err,
			    size_t errlen)
{
	for (size_t i = from; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 0x20 && ch != 0x7f) || ch == '\t' ||
		    (framing && (ch == '\r' || ch == '\n')))
			continue;
		snprintf(err, errlen, "the request has a control character (byte 0x%02x at %zu)", ch,
			 i);
		return false;
	}
	return true;
}

bool control_parse(char *line, size_t len, struct control_request *rq, char *err,
		   size_t errlen)
{
	static const char sep[] = " \t";
	char *p = line, *word;

	memset(rq, 0, sizeof(*rq));
	if (!no_control_char(line, 0, len, false, err, errlen))
		return false;
	line[len] = '\0';
	p += strspn(p, sep);
	word = p;
	p += strcspn(p, sep);
	if (*p)
		*p++ = '\0';
	if (!strcmp(word, "status")) {
		rq->verb = CONTROL_STATUS;
		if (p[strspn(p, sep)]) {
			snprintf(err, errlen, "status takes no arguments");
			return false;
		}
		return true;
	}
	if (strcmp(word, "snapshot")) {
		snprintf(err, errlen, "unknown request \"%.40s\"; the requests are: snapshot, status",
			 word);
		return false;
	}
	rq->verb = CONTROL_SNAPSHOT;
	for (;;) {
		p += strspn(p, sep);
		if (!*p)
			break;
		word = p;
		p += strcspn(p, sep);
		if (!strncmp(word, "--where", 7) && (word[7] == ' ' || word[7] == '\t' || !word[7])) {
			/* the condition is the rest of the line */
			size_t n;

			p = word + 7 + strspn(word + 7, sep);
			n = strlen(p);
			while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				p[--n] = '\0';
			if (!n) {
				snprintf(err, errlen, "--where needs a condition");
				return false;
			}
			rq->where = p;
			break;
		}
		if (*p)
			*p++ = '\0';
		if (!strcmp(word, "--all")) {
			rq->all = true;
			continue;
		}
		if (word[0] == '-') {
			snprintf(err, errlen, "unknown option \"%.40s\"; the options are --all, --where",
				 word);
			return false;
		}
		if (!table_ok(word, err, errlen))
			return false;
		for (unsigned i = 0; i < rq->ntables; i++)
			if (!strcmp(rq->tables[i], word)) {
				snprintf(err, errlen, "table %.140s is named twice", word);
				return false;
			}
		if (rq->ntables == CONTROL_MAX_TABLES) {
			snprintf(err, errlen, "more than %d tables in one request",
				 CONTROL_MAX_TABLES);
			return false;
		}
		rq->tables[rq->ntables++] = word;
	}
	if (rq->all && rq->ntables) {
		snprintf(err, errlen, "snapshot takes tables or --all, not both");
		return false;
	}
	if (rq->all && rq->where) {
		snprintf(err, errlen, "--where needs named tables, not --all");
		return false;
	}
	if (!rq->all && !rq->ntables) {
		snprintf(err, errlen, "snapshot needs tables (db.table ...) or --all");
		return false;
	}
	return true;
}

bool control_socket_path(const struct rc_config *cfg, char *out, size_t outlen, char *err,
			 size_t errlen)
{
	struct sockaddr_un sa;
	const char *slash = strrchr(cfg->ckpt_path, '/');
	int n;

	if (cfg->snap_control_socket && cfg->snap_control_socket[0])
		n = snprintf(out, outlen, "%s", cfg->snap_control_socket);
	else if (slash)
		n = snprintf(out, outlen, "%.*s/rowcast.sock", (int)(slash - cfg->ckpt_path),
			     cfg->ckpt_path);
	else
		n = snprintf(out, outlen, "rowcast.sock");
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof(sa.sun_path)) {
		snprintf(err, errlen,
			 "control socket %.300s: %d bytes, more than a Unix socket path may have (%zu): set [snapshot] control_socket to a shorter path",
			 out, n, sizeof(sa.sun_path) - 1);
		return false;
	}
	return true;
}

/* Text of a name or message for one reply or log line: control
 * characters become '?'. */
static void put_text(struct rc_buf *out, const char *s)
{
	for (; *s; s++)
		buf_putc(out, ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s);
}

/* "21 s", "5 min 03 s", "2 h 05 min" */
static void put_duration(struct rc_buf *out, double secs)
{
	uint64_t s = (uint64_t)(secs + 0.999);

	if (s < 100)
		buf_printf(out, "%" PRIu64 " s", s);
	else if (s < 3600)
		buf_printf(out, "%" PRIu64 " min %02" PRIu64 " s", s / 60, s % 60);
	else
		buf_printf(out, "%" PRIu64 " h %02" PRIu64 " min", s / 3600, s / 60 % 60);
}

void control_progress_line(const struct metrics_snap *s, int64_t now_ms, struct rc_buf *out)
{
	double rate = -1.0;

	buf_printf(out, "snapshot %" PRIu64 ": ", s->id);
	if (!s->table[0]) {
		/* one table done, the next not begun */
		buf_printf(out, "between tables, %u table%s left", s->tables_left,
			   s->tables_left == 1 ? "" : "s");
		return;
	}
	put_text(out, s->db);
	buf_putc(out, '.');
	put_text(out, s->table);
	if (s->est_rows && s->rows <= s->est_rows)
		buf_printf(out, ": %" PRIu64 "/%" PRIu64 " rows (%.1f %%)", s->rows, s->est_rows,
			   100.0 * (double)s->rows / (double)s->est_rows);
	else if (s->est_rows)
		buf_printf(out, ": %" PRIu64 " rows (estimated %" PRIu64 ")", s->rows, s->est_rows);
	else
		buf_printf(out, ": %" PRIu64 " rows", s->rows);
	buf_printf(out, ", %" PRIu64 " chunk%s", s->chunks, s->chunks == 1 ? "" : "s");
	/* from a second on: a rate over less says little */
	if (s->table_started_ms && now_ms - s->table_started_ms >= 1000 &&
	    s->rows >= s->rows_at_start)
		rate = (double)(s->rows - s->rows_at_start) * 1000.0 /
		       (double)(now_ms - s->table_started_ms);
	if (rate >= 0)
		buf_printf(out, ", %.0f rows/s", rate);
	else
		buf_puts(out, ", ? rows/s");
	buf_puts(out, ", ETA ");
	if (rate > 0 && s->est_rows > s->rows)
		put_duration(out, (double)(s->est_rows - s->rows) / rate);
	else
		buf_putc(out, '?');
	buf_printf(out, ", %u table%s left", s->tables_left, s->tables_left == 1 ? "" : "s");
}

void control_snap_read(void *arg, struct metrics_snap *out)
{
	struct rc *rc = arg;
	struct snap_status *s = &rc->snap;

	pthread_mutex_lock(&s->mu);
	out->active = s->active;
	out->id = s->id;
	memcpy(out->db, s->db, sizeof(out->db));
	memcpy(out->table, s->table, sizeof(out->table));
	out->rows = s->rows;
	out->est_rows = s->est_rows;
	out->chunks = s->chunks;
	out->tables_left = s->tables_left;
	out->tables_done = s->tables_done;
	out->rows_total = s->rows_total;
	out->table_started_ms = s->table_started_ms;
	out->rows_at_start = s->rows_at_start;
	pthread_mutex_unlock(&s->mu);
	out->db[sizeof(out->db) - 1] = out->table[sizeof(out->table) - 1] = '\0';
}

/* ---- the daemon's side -------------------------------------------------- */

enum client_state {
	CL_FREE = 0,	/* slot unused */
	CL_READ,	/* reading the request line */
	CL_WAIT,	/* waiting for the reader's answer to a snapshot request */
	CL_WRITE,	/* writing the reply; closed once written */
};

struct client {
	struct control *ctl;		/* owner */
	enum client_state state;
	int fd;				/* connection, -1 when free */
	ev_io io;			/* readable (READ, WAIT) or writable (WRITE) */
	ev_timer timer;			/* the state's deadline */
	char in[CONTROL_LINE_MAX + 2];	/* request bytes, newline and NUL included */
	size_t inlen;			/* bytes in it */
	struct rc_buf out;		/* the reply */
	size_t sent;			/* its bytes written */
	uint64_t req;			/* the snapshot request waited for (CL_WAIT) */
};

/* A snapshot request the source took and has not answered yet: done()'s
 * argument.  Allocated by the loop, answered by the reader thread, freed
 * by the loop once answered, or by control_free(). */
struct waiting {
	struct control *ctl;		/* owner */
	uint64_t id;			/* number, matched against client.req */
	bool answered;			/* done() was called (under ctl->mu) */
	bool ok;			/* accepted */
	char msg[600];			/* what the source said */
	struct waiting *next;		/* ctl->waiting chain */
};

struct control {
	struct rc *rc;			/* the instance served */
	int fd;				/* the listening socket, -1 once stopped */
	ev_io accept_io;		/* its readiness */
	ev_async answered;		/* the reader answered a request */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* the socket file */
	dev_t dev;			/* and its identity: removed at stop only */
	ino_t ino;			/* when it is still the one made here */
	struct client cl[CONTROL_MAX_CLIENTS];
	uint64_t last_id;		/* the last request number given */
	pthread_mutex_t mu;		/* guards waiting, nwaiting, stopped */
	struct waiting *waiting;	/* requests the reader has not answered */
	unsigned nwaiting;		/* how many */
	bool stopped;			/* answers no longer wake the loop */
};

/* Close a connection after its reply: what the client sent and was not
 * read is thrown away first, so that the close reaches it as an end after
 * the reply rather than as a reset that may hide it. */
static void close_drained(int fd)
{
	char junk[4096];
	size_t total = 0;
	ssize_t n;

	shutdown(fd, SHUT_WR);
	while (total < CONTROL_DRAIN_MAX && (n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	close(fd);
}

static void client_close(struct client *c)
{
	struct ev_loop *loop = c->ctl->rc->loop;

	if (c->state == CL_FREE)
		return;
	ev_io_stop(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	close_drained(c->fd);
	c->fd = -1;
	c->state = CL_FREE;
	c->inlen = c->sent = 0;
	c->req = 0;
	buf_free(&c->out);
}

static void client_deadline(struct client *c, double secs)
{
	struct ev_loop *loop = c->ctl->rc->loop;

	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, secs, 0.);
	ev_timer_start(loop, &c->timer);
}

/* Write what is left of the reply; the connection is closed once all of
 * it went out, or when the client cannot take it. */
static void client_flush(struct client *c)
{
	while (c->sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;		/* the write watcher calls again */
		if (n < 0) {
			log_debug("control: client went away: %s", strerror(errno));
			break;
		}
		c->sent += (size_t)n;
	}
	client_close(c);
}

/* Send c->out (one or more whole lines), then close. */
static void client_reply(struct client *c)
{
	struct ev_loop *loop = c->ctl->rc->loop;

	c->state = CL_WRITE;
	c->sent = 0;
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(loop, &c->io);
	client_deadline(c, CONTROL_IO_S);
	client_flush(c);
}

/* A one-line reply: "ok: text", "error: text" or "wait: text". */
static void client_reply_line(struct client *c, const char *kind, const char *text)
{
	buf_reset(&c->out);
	buf_puts(&c->out, kind);
	buf_puts(&c->out, ": ");
	put_text(&c->out, text);
	buf_putc(&c->out, '\n');
	client_reply(c);
}

/* The `status` reply: the daemon's state, key gauges, the snapshot. */
static void put_status(struct control *ctl, struct rc_buf *o)
{
	struct rc *rc = ctl->rc;
	struct metrics *m = rc->m;
	struct metrics_snap s = { 0 };
	int64_t now = pipeline_now_ms();
	int64_t last = atomic_load(&m->last_checkpoint_ms);
	int64_t lag_bytes = atomic_load(&m->source_lag_bytes);
	char why[256];

	buf_puts(o, "ok\n");
	buf_printf(o, "pid: %ld\n", (long)getpid());
	buf_printf(o, "state: %s\n", rc->stopping ? "stopping" : rc->ready_sent ? "streaming" :
		   "starting");
	if (rc->src && rc->acked) {
		struct rc_buf pos = { 0 };

		rc->src->ops->pos_format(rc->src, rc->acked, &pos);
		buf_puts(o, "acknowledged: ");
		put_text(o, pos.data ? pos.data : "");
		buf_putc(o, '\n');
		buf_free(&pos);
		buf_printf(o, "source: %s (", atomic_load(&m->source_connected) ? "connected" :
			   "not connected");
		put_text(o, rc->src->peer);
		buf_puts(o, ")\n");
	}
	buf_printf(o, "sink: %s\n", atomic_load(&m->sink_connected) ? "connected" :
		   "not connected");
	buf_printf(o, "lag: %.1f s\n", metrics_lag_seconds(m));
	if (lag_bytes >= 0)
		buf_printf(o, "source lag: %" PRId64 " bytes\n", lag_bytes);
	buf_printf(o, "in flight: %" PRIu64 " messages, %" PRIu64 " bytes\n",
		   (uint64_t)atomic_load(&m->inflight), (uint64_t)atomic_load(&m->inflight_bytes));
	if (last)
		buf_printf(o, "checkpoint written: %.1f s ago\n",
			   now > last ? (double)(now - last) / 1000.0 : 0.0);
	else
		buf_puts(o, "checkpoint written: not yet\n");
	metrics_healthy(m, why, sizeof(why));
	buf_puts(o, "health: ");
	put_text(o, why);
	buf_putc(o, '\n');
	control_snap_read(rc, &s);
	if (s.active)
		control_progress_line(&s, now, o);
	else
		buf_puts(o, "snapshot: none running");
	buf_printf(o, "\nsnapshot totals: %" PRIu64 " row%s, %" PRIu64 " table%s since the start\n",
		   s.rows_total, s.rows_total == 1 ? "" : "s", s.tables_done,
		   s.tables_done == 1 ? "" : "s");
}

/* Reader thread (or any): the source took or refused a request. */
static void answered_by_reader(void *arg, bool ok, const char *msg)
{
	struct waiting *w = arg;
	struct control *ctl = w->ctl;

	pthread_mutex_lock(&ctl->mu);
	w->answered = true;
	w->ok = ok;
	snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
	/* under the lock: control_stop() cannot end the loop meanwhile */
	if (!ctl->stopped)
		ev_async_send(ctl->rc->loop, &ctl->answered);
	pthread_mutex_unlock(&ctl->mu);
}

/* Words of a request for the log: the tables, or "every table". */
static void put_tables(struct rc_buf *o, const struct control_request *rq)
{
	if (rq->all)
		buf_puts(o, "every table");
	for (unsigned i = 0; i < rq->ntables; i++) {
		if (i)
			buf_puts(o, ", ");
		buf_puts(o, rq->tables[i]);
	}
	if (rq->where) {
		buf_puts(o, " where ");
		buf_puts(o, rq->where);
	}
}

/* `snapshot ...`: hand it to the source; the client waits for the answer. */
static void ask_snapshot(struct client *c, const struct control_request *rq)
{
	struct control *ctl = c->ctl;
	struct rc *rc = ctl->rc;
	struct source_snap_request srq = { 0 };
	struct waiting *w, **pp;
	struct rc_buf what = { 0 };
	char err[600];

	if (rc->stopping) {
		client_reply_line(c, "error", "rowcast is stopping; ask again once it runs");
		return;
	}
	if (!rc->src || !rc->src->ops->snapshot) {
		snprintf(err, sizeof(err), "this source (%s) has no snapshots",
			 rc->src ? rc->src->ops->name : "none");
		client_reply_line(c, "error", err);
		return;
	}
	pthread_mutex_lock(&ctl->mu);
	if (ctl->nwaiting >= CONTROL_MAX_WAITING) {
		pthread_mutex_unlock(&ctl->mu);
		snprintf(err, sizeof(err),
			 "%d snapshot requests wait for the reader already; ask again later",
			 CONTROL_MAX_WAITING);
		client_reply_line(c, "error", err);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		log_oom();
	w->ctl = ctl;
	w->id = ++ctl->last_id;
	/* linked before the call: the answer may come before it returns */
	w->next = ctl->waiting;
	ctl->waiting = w;
	ctl->nwaiting++;
	pthread_mutex_unlock(&ctl->mu);

	srq.tables = rq->tables;
	srq.ntables = rq->ntables;
	srq.all = rq->all;
	srq.where = rq->where;
	srq.on_demand = true;
	srq.done = answered_by_reader;
	srq.arg = w;
	put_tables(&what, rq);
	err[0] = '\0';
	if (!rc->src->ops->snapshot(rc->src, &srq, err, sizeof(err))) {
		/* refused at once: done() is not called for it */
		pthread_mutex_lock(&ctl->mu);
		for (pp = &ctl->waiting; *pp != w; pp = &(*pp)->next)
			;
		*pp = w->next;
		ctl->nwaiting--;
		pthread_mutex_unlock(&ctl->mu);
		free(w);
		log_info("control: snapshot of %s refused: %s", what.data, err);
		client_reply_line(c, "error", err[0] ? err : "the source refused the snapshot");
		goto out;
	}
	log_info("control: snapshot request %" PRIu64 " (%s) handed to the source; waiting for the reader",
		 w->id, what.data);
	c->state = CL_WAIT;
	c->req = w->id;
	client_deadline(c, CONTROL_WAIT_S);
out:
	buf_free(&what);
}

/* A whole request line arrived (len bytes, newline excluded). */
static void client_request(struct client *c, size_t len)
{
	struct control_request rq;
	char err[300];

	if (len && c->in[len - 1] == '\r')
		len--;
	if (!control_parse(c->in, len, &rq, err, sizeof(err))) {
		log_info("control: request refused: %s", err);
		client_reply_line(c, "error", err);
		return;
	}
	if (rq.verb == CONTROL_STATUS) {
		buf_reset(&c->out);
		put_status(c->ctl, &c->out);
		client_reply(c);
		return;
	}
	ask_snapshot(c, &rq);
}

/* The client closed both ways (not only its sending half). */
static bool peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* Readable: more of the request line, or (while waiting) only its end. */
static void client_read(struct client *c)
{
	char err[100];

	for (;;) {
		char junk[512];
		char *to = c->state == CL_WAIT ? junk : c->in + c->inlen;
		size_t room = c->state == CL_WAIT ? sizeof(junk) : CONTROL_LINE_MAX + 1 - c->inlen;
		ssize_t n = recv(c->fd, to, room, MSG_DONTWAIT);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0 && c->state == CL_WAIT && !peer_gone(c->fd)) {
			/* only its sending half is closed: it still reads */
			ev_io_stop(c->ctl->rc->loop, &c->io);
			return;
		}
		if (n <= 0) {
			/* the end: a last line without its newline still counts */
			if (n == 0 && c->state == CL_READ && c->inlen)
				client_request(c, c->inlen);
			else
				client_close(c);
			return;
		}
		if (c->state == CL_WAIT)
			continue;	/* one request per connection: the rest is ignored */
		/* binary garbage is told at once, not after a whole line of it */
		if (!no_control_char(c->in, c->inlen, c->inlen + (size_t)n, true, err,
				     sizeof(err))) {
			client_reply_line(c, "error", err);
			return;
		}
		nl = memchr(c->in + c->inlen, '\n', (size_t)n);
		c->inlen += (size_t)n;
		if (nl) {
			if ((size_t)(nl - c->in) + 1 != c->inlen)
				client_reply_line(c, "error", "one request line per connection");
			else
				client_request(c, (size_t)(nl - c->in));
			return;
		}
		if (c->inlen > CONTROL_LINE_MAX) {
			snprintf(err, sizeof(err), "a request line has at most %d bytes",
				 CONTROL_LINE_MAX);
			client_reply_line(c, "error", err);
			return;
		}
	}
}

static void client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == CL_WRITE)
		client_flush(c);
	else
		client_read(c);
}

static void client_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = w->data;
	char msg[200];

	(void)loop;
	(void)revents;
	switch (c->state) {
	case CL_READ:
		snprintf(msg, sizeof(msg), "no request line within %d s", CONTROL_IO_S);
		client_reply_line(c, "error", msg);
		break;
	case CL_WAIT:
		snprintf(msg, sizeof(msg),
			 "the reader did not answer within %d s; the request stays queued and the log says when it is taken",
			 CONTROL_WAIT_S);
		c->req = 0;
		client_reply_line(c, "wait", msg);
		break;
	default:
		client_close(c);	/* the client does not read its reply */
	}
}

/* Loop: answers came from the reader; reply to whoever still waits. */
static void answered_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct control *ctl = a->data;
	struct waiting *done = NULL, **pp;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&ctl->mu);
	for (pp = &ctl->waiting; *pp;) {
		struct waiting *w = *pp;

		if (!w->answered) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		ctl->nwaiting--;
		w->next = done;
		done = w;
	}
	pthread_mutex_unlock(&ctl->mu);
	while (done) {
		struct waiting *w = done;

		done = w->next;
		log_info("control: snapshot request %" PRIu64 " %s: %s", w->id,
			 w->ok ? "accepted" : "refused", w->msg);
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct client *c = &ctl->cl[i];

			if (c->state == CL_WAIT && c->req == w->id)
				client_reply_line(c, w->ok ? "ok" : "error", w->msg);
		}
		free(w);
	}
}

/* Who is at the other end: our own user or root only (the mode already
 * says so; this holds when the folder's rules are looser). */
static bool peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return false;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *ctl = w->data;

	(void)revents;
	for (;;) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c = NULL;
		const char *refuse = NULL;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("control: accept(%s): %s", ctl->path, strerror(errno));
			return;
		}
		for (int i = 0; i < CONTROL_MAX_CLIENTS && !c; i++)
			if (ctl->cl[i].state == CL_FREE)
				c = &ctl->cl[i];
		if (!peer_allowed(fd))
			refuse = "error: only the daemon's user and root may use this socket\n";
		else if (!c)
			refuse = "error: too many control connections at once; try again\n";
		if (refuse) {
			ssize_t n = send(fd, refuse, strlen(refuse), MSG_NOSIGNAL | MSG_DONTWAIT);

			(void)n;
			close_drained(fd);
			continue;
		}
		c->fd = fd;
		c->state = CL_READ;
		c->inlen = 0;
		ev_io_init(&c->io, client_io_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, client_timer_cb, CONTROL_IO_S, 0.);
		c->timer.data = c;
		ev_timer_start(loop, &c->timer);
	}
}

/* A socket file is at path already: remove it when nobody listens (left
 * by a daemon that was killed; the checkpoint's lock says no other rowcast
 * of this checkpoint runs), refuse otherwise. */
static bool replace_stale(const char *path, const struct sockaddr_un *sa, enum rc_status *st,
			  char *err, size_t errlen)
{
	struct stat sb;
	int fd, e;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return true;
		*st = RC_ERR_SYSTEM;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		return false;
	}
	*st = RC_ERR_CONFIG;
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen,
			 "control socket %s: a file that is not a socket is there; remove it or set [snapshot] control_socket",
			 path);
		return false;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*st = RC_ERR_SYSTEM;
		snprintf(err, errlen, "control socket: socket(): %s", strerror(errno));
		return false;
	}
	e = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : errno;
	close(fd);
	if (e != ECONNREFUSED && e != ENOENT) {
		snprintf(err, errlen,
			 "control socket %s is in use by another process (%s); give each rowcast its own [snapshot] control_socket",
			 path, e ? strerror(e) : "it answers");
		return false;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		*st = RC_ERR_SYSTEM;
		snprintf(err, errlen, "control socket %s: cannot remove the stale one: %s", path,
			 strerror(errno));
		return false;
	}
	log_info("control: replaced the socket %s a rowcast left that did not stop cleanly", path);
	return true;
}

/* Bind and listen at ctl->path, mode 0600; false with st and err. */
static bool listen_at(struct control *ctl, enum rc_status *st, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	mode_t old;
	int r;

	memcpy(sa.sun_path, ctl->path, strlen(ctl->path) + 1);
	if (!replace_stale(ctl->path, &sa, st, err, errlen))
		return false;
	*st = RC_ERR_SYSTEM;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		snprintf(err, errlen, "control socket: socket(): %s", strerror(errno));
		return false;
	}
	/* born 0600: no moment where another user could connect */
	old = umask(0177);
	r = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0) {
		snprintf(err, errlen, "control socket %s: bind(): %s", ctl->path, strerror(errno));
		goto failed;
	}
	if (stat(ctl->path, &sb) != 0 || chmod(ctl->path, 0600) != 0) {
		snprintf(err, errlen, "control socket %s: %s", ctl->path, strerror(errno));
		unlink(ctl->path);
		goto failed;
	}
	ctl->dev = sb.st_dev;
	ctl->ino = sb.st_ino;
	if (listen(ctl->fd, CONTROL_MAX_CLIENTS * 2) != 0) {
		snprintf(err, errlen, "control socket %s: listen(): %s", ctl->path, strerror(errno));
		unlink(ctl->path);
		goto failed;
	}
	return true;
failed:
	close(ctl->fd);
	ctl->fd = -1;
	return false;
}

bool control_start(struct rc *rc)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	enum rc_status st = RC_ERR_CONFIG;
	char err[700];
	bool fits;

	if (!ctl)
		log_oom();
	ctl->rc = rc;
	ctl->fd = -1;
	pthread_mutex_init(&ctl->mu, NULL);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		ctl->cl[i].ctl = ctl;
		ctl->cl[i].fd = -1;
	}
	rc->ctl = ctl;
	rc->m->snap_read = control_snap_read;
	rc->m->snap_arg = rc;
	fits = control_socket_path(rc->cfg, ctl->path, sizeof(ctl->path), err, sizeof(err));
	if (!fits && !rc->cfg->snap_control_socket[0]) {
		/* a checkpoint deep in the tree ran before there was a socket:
		 * it still runs, without one */
		log_warn("%s; running without it", err);
		ctl->stopped = true;
		return true;
	}
	if (!fits || !listen_at(ctl, &st, err, sizeof(err))) {
		ctl->stopped = true;
		pipeline_set_error(rc, st, "", "%s", err);
		return false;
	}
	ev_io_init(&ctl->accept_io, accept_cb, ctl->fd, EV_READ);
	ctl->accept_io.data = ctl;
	ev_io_start(rc->loop, &ctl->accept_io);
	ev_async_init(&ctl->answered, answered_cb);
	ctl->answered.data = ctl;
	ev_async_start(rc->loop, &ctl->answered);
	log_info("control: listening on %s", ctl->path);
	return true;
}

void control_stop(struct control *ctl)
{
	static const char bye[] = "error: rowcast stopped before the reader answered\n";
	struct ev_loop *loop;
	struct stat sb;

	if (!ctl || ctl->fd < 0)
		return;
	loop = ctl->rc->loop;
	pthread_mutex_lock(&ctl->mu);
	ctl->stopped = true;
	pthread_mutex_unlock(&ctl->mu);
	ev_async_stop(loop, &ctl->answered);
	ev_io_stop(loop, &ctl->accept_io);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &ctl->cl[i];

		if (c->state == CL_WAIT) {
			ssize_t n = send(c->fd, bye, sizeof(bye) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

			(void)n;
		}
		client_close(c);
	}
	close(ctl->fd);
	ctl->fd = -1;
	/* only our own file: never one a later daemon made */
	if (stat(ctl->path, &sb) == 0 && sb.st_dev == ctl->dev && sb.st_ino == ctl->ino &&
	    unlink(ctl->path) != 0)
		log_warn("control: cannot remove %s: %s", ctl->path, strerror(errno));
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	while (ctl->waiting) {
		struct waiting *w = ctl->waiting;

		ctl->waiting = w->next;
		free(w);
	}
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		buf_free(&ctl->cl[i].out);
	pthread_mutex_destroy(&ctl->mu);
	free(ctl);
}
