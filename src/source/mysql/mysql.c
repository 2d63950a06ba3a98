/* SPDX-License-Identifier: MIT */
/*
 * The MySQL/MariaDB source (source.h): a replica connection feeds the
 * binlog decoder, whose transactions and rows go to the pipeline as the
 * change model.  Positions are a GTID state (MariaDB) or set (MySQL), the
 * binlog file and offset, and the prepared XA transactions waiting for
 * their outcome, whose rows it reads again when their XA COMMIT comes.
 * Formats no messages and knows no sink.
 */
#include <mysql.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "source/mysql/decoder.h"
#include "source/mysql/msnap.h"
#include "source/mysql/position.h"
#include "source/mysql/replica.h"
#include "source/mysql/xa.h"
#include "source/source.h"

/* A position of this source. */
struct source_pos {
	struct position gtid;		/* GTID state or set after the last commit */
	char file[256];			/* binlog file after it, "" when not known */
	uint64_t offset;		/* and the offset there */
	struct xa_list xa;		/* prepared XA transactions pending */
	struct snap_pos snap;		/* what snapshots have left to read */
};

/* How a position moves past one transaction (the commit callback's step);
 * xa is copied only when xa_op is set.  A snapshot's step is the whole
 * struct followed by its text for snap_pos_apply(). */
struct mstep {
	char gtid[128];			/* the trx's GTID, "" if none */
	char file[256];			/* binlog file of its end */
	uint64_t next_offset;		/* where the next event starts */
	char xa_op;			/* '+': xa is prepared now, '-': its outcome
					   came, 0: neither */
	struct xa_pending xa;		/* that XA transaction */
};

struct msource {
	struct source base;		/* must be first */
	struct replica *conn;		/* the streaming connection */
	struct decoder *dec;		/* its decoder */
	struct source_pos read;		/* after the last commit handed over */
	struct mstep step;		/* the step being handed over (reused) */
	struct msnap *snap;		/* the snapshot driver */
	struct rc_buf snapstep;		/* a snapshot step: mstep + text */
	char *reset;			/* when_needed: the new position to hand
					   over (its step resets the position) */
	struct rc_buf scratch;		/* describe() text, position text */
	struct rc_buf warned;		/* "db.table\n" of tables warned about
					   missing column names */
	enum source_result fail;	/* set by a decoder callback that stopped
					   the feed itself (SRC_OK: it did not) */
	char fail_msg[1024];		/* its message */
};

static bool filemode(const struct msource *m)
{
	return m->base.cfg->src_position_mode == POS_FILE;
}

/* Stop the feed from inside a callback, with what poll() returns. */
static bool fail(struct msource *m, enum source_result r, const char *msg)
{
	m->fail = r;
	snprintf(m->fail_msg, sizeof(m->fail_msg), "%s", msg);
	return false;
}

/* ---- positions ---- */

static struct source_pos *m_pos_new(struct source *s)
{
	struct source_pos *p = calloc(1, sizeof(*p));

	(void)s;
	if (!p)
		log_oom();
	return p;
}

/* "FILE:OFFSET" into p's file and offset. */
static bool parse_filepos(struct source_pos *p, const char *text, char *err, size_t errlen)
{
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long long off;

	if (!colon || colon == text || (size_t)(colon - text) >= sizeof(p->file)) {
		snprintf(err, errlen, "'%s' is not FILE:OFFSET", text);
		return false;
	}
	off = strtoull(colon + 1, &end, 10);
	if (*end || off < 4) {
		snprintf(err, errlen, "'%s' is not FILE:OFFSET (offset 4 or more)", text);
		return false;
	}
	snprintf(p->file, sizeof(p->file), "%.*s", (int)(colon - text), text);
	p->offset = off;
	return true;
}

static bool m_pos_parse(struct source *s, struct source_pos *p, const char *text, char *err,
			size_t errlen)
{
	struct msource *m = (struct msource *)s;
	const char *flavour = m->conn->flavour;

	if (filemode(m))
		return parse_filepos(p, text, err, errlen);
	/* the flavour of the server when it answered, else of the text */
	return position_parse(&p->gtid, flavour[0] ? !strcmp(flavour, "mysql") :
				       position_text_is_mysql(text), text, err, errlen);
}

static void m_pos_format(struct source *s, const struct source_pos *p, struct rc_buf *out)
{
	if (filemode((const struct msource *)s))
		buf_printf(out, "%s:%llu", p->file, (unsigned long long)p->offset);
	else
		position_format(&p->gtid, out);
}

static void m_pos_advance(struct source *s, struct source_pos *p, const void *step, size_t len)
{
	struct mstep st;

	(void)s;
	memset(&st, 0, sizeof(st));
	memcpy(&st, step, len < sizeof(st) ? len : sizeof(st));
	if (st.xa_op == '+')
		xa_list_add(&p->xa, &st.xa);
	else if (st.xa_op == '-')
		xa_list_remove(&p->xa, &st.xa);
	if (st.gtid[0])
		position_apply(&p->gtid, st.gtid);
	snprintf(p->file, sizeof(p->file), "%s", st.file);
	p->offset = st.next_offset;
	if (len > sizeof(st) + 2 && !memcmp((const char *)step + sizeof(st), "R\t", 2)) {
		/* when_needed: the position was purged; on from this one */
		struct snap_pos empty = { 0 };
		char *text = strndup((const char *)step + sizeof(st) + 2, len - sizeof(st) - 2);
		char why[256];

		if (!text)
			log_oom();
		if (!position_parse(&p->gtid, p->gtid.mysql, text, why, sizeof(why)))
			log_error("position reset to '%s': %s", text, why);
		free(text);
		xa_list_free(&p->xa);
		empty.last_id = p->snap.last_id;
		empty.tables_done = p->snap.tables_done;
		snap_pos_copy(&p->snap, &empty);
		return;
	}
	if (len > sizeof(st))
		snap_pos_apply(&p->snap, (const char *)step + sizeof(st), len - sizeof(st));
}

static void m_pos_copy(struct source *s, struct source_pos *dst, const struct source_pos *src)
{
	(void)s;
	position_copy(&dst->gtid, &src->gtid);
	memcpy(dst->file, src->file, sizeof(dst->file));
	dst->offset = src->offset;
	xa_list_copy(&dst->xa, &src->xa);
	snap_pos_copy(&dst->snap, &src->snap);
}

static void m_pos_free(struct source *s, struct source_pos *p)
{
	(void)s;
	if (!p)
		return;
	position_free(&p->gtid);
	xa_list_free(&p->xa);
	snap_pos_free(&p->snap);
	free(p);
}

/* ---- the checkpoint: [source] and [xa] ---- */

static bool m_ckpt_load(struct source *s, struct ckpt *c, struct source_pos *p, char **text,
			char *err, size_t errlen)
{
	struct msource *m = (struct msource *)s;
	bool fm = filemode(m);
	const char *state = ckpt_get(c, "source", "gtid_state");
	const char *fl = ckpt_get(c, "source", "flavour");
	const char *mode = ckpt_get(c, "source", "mode");
	const char *file = ckpt_get(c, "source", "file");
	const char *off = ckpt_get(c, "source", "offset");
	char fp[600];

	if ((fl && strcmp(fl, "mariadb") && strcmp(fl, "mysql")) ||
	    (mode && strcmp(mode, fm ? "file" : "gtid"))) {
		snprintf(err, errlen,
			 "checkpoint is of another kind (flavour %s, mode %s) than this source (mode %s)",
			 fl ? fl : "?", mode ? mode : "gtid", fm ? "file" : "gtid");
		return false;
	}
	p->gtid.mysql = fl && !strcmp(fl, "mysql");
	if (fm) {
		snprintf(fp, sizeof(fp), "%s:%s", file ? file : "", off ? off : "");
		if (!file || !off || !parse_filepos(p, fp, err, errlen)) {
			snprintf(err, errlen, "checkpoint has no binlog position ([source] file, offset)");
			return false;
		}
		state = fp;
	} else if (!state) {
		snprintf(err, errlen, "checkpoint has no MariaDB GTID state ([source] gtid_state)");
		return false;
	} else {
		char why[512];

		if (state[0] && !position_parse(&p->gtid, p->gtid.mysql, state, why, sizeof(why))) {
			snprintf(err, errlen, "gtid_state: %s", why);
			return false;
		}
	}
	for (int i = 1;; i++) {
		char k[32];
		const char *v;
		struct xa_pending x;

		snprintf(k, sizeof(k), "pending.%d", i);
		if (!(v = ckpt_get(c, "xa", k)))
			break;
		if (!xa_parse(v, &x)) {
			snprintf(err, errlen, "[xa] %s: '%s' is not XID<TAB>FILE:OFFSET<TAB>KEY", k, v);
			return false;
		}
		xa_list_add(&p->xa, &x);
	}
	if (!snap_pos_load(&p->snap, c, err, errlen))
		return false;
	*text = strdup(state);
	if (!*text)
		log_oom();
	return true;
}

static void m_ckpt_store(struct source *s, const struct source_pos *p, struct ckpt *c)
{
	struct msource *m = (struct msource *)s;
	struct rc_buf b = { 0 };
	char num[32];

	position_format(&p->gtid, &b);
	ckpt_set(c, "source", "flavour", p->gtid.mysql ? "mysql" : "mariadb");
	ckpt_set(c, "source", "mode", filemode(m) ? "file" : "gtid");
	ckpt_set(c, "source", "gtid_state", b.data ? b.data : "");
	/* the server it came from (kept when unknown yet: not connected) */
	if (m->conn->server_uuid[0])
		ckpt_set(c, "source", p->gtid.mysql ? "server_uuid" : "server_id",
			 m->conn->server_uuid);
	if (p->file[0]) {
		ckpt_set(c, "source", "file", p->file);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)p->offset);
		ckpt_set(c, "source", "offset", num);
	}
	/* prepared XA transactions still waiting for their outcome: their
	 * rows are read again from the binlog when it comes */
	ckpt_clear_section(c, "xa");
	for (int i = 0; i < p->xa.n; i++) {
		char k[32];

		buf_reset(&b);
		xa_format(&p->xa.v[i], &b);
		snprintf(k, sizeof(k), "pending.%d", i + 1);
		ckpt_set(c, "xa", k, b.data);
	}
	snap_pos_store(&p->snap, c);
	buf_free(&b);
}

/* A binlog position needs nothing from the server once it is on disk. */
static bool m_confirm(struct source *s, const struct source_pos *p, char *err, size_t errlen)
{
	(void)s;
	(void)p;
	(void)err;
	(void)errlen;
	return true;
}

/* ---- decoder callbacks ---- */

static bool on_begin(void *ctx, const struct dec_trx *trx)
{
	struct msource *m = ctx;

	return m->base.cb.begin(m->base.cb.ctx, &trx->ch);
}

static bool on_row(void *ctx, const struct dec_trx *trx, const struct ch_row *row)
{
	struct msource *m = ctx;

	if (trx->xa_held)
		return true;	/* an XA PREPARE group: published when committed */
	if (msnap_holding(m->snap))
		msnap_row_seen(m->snap, row);
	return m->base.cb.row(m->base.cb.ctx, &trx->ch, row, decoder_file(m->dec),
			      decoder_offset(m->dec));
}

static void table_gone(void *ctx, struct dec_table *t)
{
	struct msource *m = ctx;

	m->base.cb.table_gone(m->base.cb.ctx, &t->ch);
}

/* A table map without column names: information_schema names them when
 * configured; otherwise positional names, with a warning once per table. */
static bool table_unnamed(void *ctx, struct dec_table *t)
{
	struct msource *m = ctx;
	char err[1024], key[600];

	if (m->base.cfg->src_column_names == COLNAMES_INFO_SCHEMA) {
		if (!replica_describe(m->conn, t->db, t->name, &m->scratch, err, sizeof(err)) ||
		    !decoder_table_describe(t, m->scratch.data ? m->scratch.data : "", err,
					    sizeof(err)))
			return fail(m, SRC_FATAL, err);
		return true;
	}
	snprintf(key, sizeof(key), "\n%s.%s\n", t->db, t->name);
	if (!m->warned.data || !strstr(m->warned.data, key)) {
		if (!m->warned.len)
			buf_putc(&m->warned, '\n');
		buf_puts(&m->warned, key + 1);
		log_warn("table %s.%s: the binlog has no column names (binlog_row_metadata below FULL): columns are named @1, @2, ...",
			 t->db, t->name);
	}
	return true;
}

/* -- XA: rows of a prepared transaction are published at its commit -- */

struct xa_replay {
	struct msource *m;		/* the source */
	struct decoder *dec;		/* the replay decoder */
	bool began, done;		/* saw its start, and its end */
	bool stopped;			/* a pipeline callback said stop */
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
	struct msource *m = x->m;

	if (!m->base.cb.row(m->base.cb.ctx, &trx->ch, row, decoder_file(x->dec),
			    decoder_offset(x->dec))) {
		x->stopped = true;
		return false;
	}
	return true;
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

static void xr_table_gone(void *ctx, struct dec_table *t)
{
	struct xa_replay *x = ctx;

	table_gone(x->m, t);
}

static bool xr_table_unnamed(void *ctx, struct dec_table *t)
{
	struct xa_replay *x = ctx;

	return table_unnamed(x->m, t);
}

/*
 * Read the prepared group again at its FILE:OFFSET through a second
 * connection and hand its rows over: nothing of it was kept in memory
 * while it was pending, however long that was.
 */
static bool xa_replay(struct msource *m, const struct xa_pending *xa)
{
	struct xa_replay x = { 0 };
	struct dec_callbacks cb = { .on_begin = xr_begin, .on_row = xr_row,
				     .on_commit = xr_commit, .ctx = &x,
				     .table_gone = xr_table_gone,
				     .table_unnamed = xr_table_unnamed };
	struct replica *conn;
	char where[600], err[1024];
	const uint8_t *ev;
	size_t len;
	bool fatal = false, ok = false;

	x.m = m;
	x.dec = decoder_new(&cb);
	conn = replica_new(m->base.cfg);
	/* a server ends the stream of a replica whose id connects again:
	 * the re-read registers as server_id + 1 */
	conn->server_id = (uint32_t)m->base.cfg->src_server_id + 1;
	snprintf(where, sizeof(where), "%s:%llu", xa->file, (unsigned long long)xa->offset);
	if (!replica_connect(conn, &fatal, err, sizeof(err)) ||
	    !replica_start(conn, where, true, x.dec, &fatal, err, sizeof(err))) {
		fail(m, SRC_ERROR, err);
		goto out;
	}
	while (!x.done && !x.stopped && replica_next(conn, &ev, &len, &fatal, err, sizeof(err))) {
		if (decoder_feed(x.dec, ev, len, err, sizeof(err)) == DEC_ERROR) {
			fail(m, SRC_DECODE, err);
			goto out;
		}
	}
	ok = x.done;
	if (!ok && !x.stopped)
		fail(m, SRC_ERROR, "XA: the prepared transaction could not be read again");
out:
	replica_free(conn);
	decoder_free(x.dec);
	return ok;
}

static bool on_commit(void *ctx, const struct dec_trx *trx, const char *file, uint64_t next)
{
	struct msource *m = ctx;
	struct mstep *st = &m->step;
	size_t len = offsetof(struct mstep, xa);

	st->xa_op = 0;
	if (trx->xa_prepare && trx->xa_held) {
		/* the end of an XA PREPARE group */
		struct xa_pending *x = &st->xa;

		snprintf(x->xid, sizeof(x->xid), "%s", trx->xid);
		snprintf(x->file, sizeof(x->file), "%s", file);
		x->offset = trx->start_offset;
		snprintf(x->key, sizeof(x->key), "%s", trx->ch.id);
		if (trx->xa_one_phase) {
			if (!xa_replay(m, x))	/* committed at once */
				return false;
		} else {
			st->xa_op = '+';
			len = sizeof(*st);
		}
	} else if (trx->xa_outcome && trx->xid[0]) {
		const struct xa_pending *x = xa_list_find(&m->read.xa, trx->xid);

		if (!x) {
			log_warn("%s:%llu: XA %s of %s, prepared before rowcast's start position: its rows are not published",
				 file, (unsigned long long)trx->start_offset,
				 trx->xa_outcome == 1 ? "COMMIT" : "ROLLBACK", trx->xid);
		} else {
			st->xa = *x;
			if (trx->xa_outcome == 1 && !xa_replay(m, &st->xa))
				return false;
			st->xa_op = '-';
			len = sizeof(*st);
		}
	}
	snprintf(st->gtid, sizeof(st->gtid), "%s", trx->ch.gtid);
	snprintf(st->file, sizeof(st->file), "%s", file);
	st->next_offset = next;
	if (!m->base.cb.commit(m->base.cb.ctx, &trx->ch, st, len))
		return false;
	m_pos_advance(&m->base, &m->read, st, len);
	return true;
}

static bool on_event(void *ctx, const struct dec_trx *trx, const struct dec_event_info *ev)
{
	struct msource *m = ctx;
	char msg[600];

	if (ev->type == EV_HEARTBEAT || ev->type == EV_HEARTBEAT_V2)
		m->base.cb.heartbeat(m->base.cb.ctx);
	if (ev->is_ddl)
		msnap_ddl_seen(m->snap);
	if (ev->is_ddl && ev->query)
		return m->base.cb.ddl(m->base.cb.ctx, &trx->ch, ev->db, ev->query, ev->query_len);
	/* Statement-based DML carries no row images: never guess at it. */
	if (!ev->is_dml_statement)
		return true;
	snprintf(msg, sizeof(msg), "%s:%llu: statement-based DML in the binlog cannot be published: %.*s",
		 decoder_file(m->dec), (unsigned long long)ev->offset,
		 (int)(ev->query_len > 200 ? 200 : ev->query_len), ev->query);
	if (m->base.cfg->src_on_statement_dml == STMT_WARN) {
		log_warn("%s (on_statement_dml = warn: skipped)", msg);
		return true;
	}
	return fail(m, SRC_FATAL, msg);
}

/* ---- reading ---- */

static void thread_init(void)
{
	mysql_thread_init();
}

static void thread_end(void)
{
	mysql_thread_end();
}

static enum source_result m_start_position(struct source *s, char **out, char *err,
					   size_t errlen)
{
	struct msource *m = (struct msource *)s;
	bool fatal = false;

	*out = NULL;
	if (s->cfg->src_start_kind == START_GTID) {
		*out = strdup(s->cfg->src_start);
		if (!*out)
			log_oom();
		return SRC_OK;
	}
	if (!replica_connect(m->conn, &fatal, err, errlen) ||
	    !replica_position(m->conn, s->cfg->src_start_kind, out, err, errlen)) {
		snprintf(s->peer, sizeof(s->peer), "%s", m->conn->peer);
		replica_disconnect(m->conn);
		return fatal ? SRC_FATAL : SRC_LOST;
	}
	replica_disconnect(m->conn);
	return SRC_OK;
}

static enum source_result m_start(struct source *s, const struct source_pos *from, char *err,
				  size_t errlen);
static bool sn_begin(void *ctx, const struct ch_trx *trx);
static bool sn_commit(void *ctx, const struct ch_trx *trx, const char *text, size_t len);

/*
 * [snapshot] mode = when_needed and the binlogs the position needs are
 * gone: stream from the server's current position, with a snapshot of
 * every table (a new start, as without a checkpoint).  The position's
 * reset is handed over first, so the checkpoint moves there too.
 */
static enum source_result start_over(struct msource *m, char *err, size_t errlen)
{
	struct source_snap_request rq = { .all = true };
	char *text = NULL, why[512];
	bool fatal = false;

	log_warn("%s; [snapshot] mode = when_needed: streaming from the server's current position after a snapshot of every table",
		 err);
	replica_disconnect(m->conn);
	if (!replica_connect(m->conn, &fatal, err, errlen) ||
	    !replica_position(m->conn, START_CURRENT, &text, err, errlen)) {
		replica_disconnect(m->conn);
		free(text);
		return fatal ? SRC_FATAL : SRC_LOST;
	}
	replica_disconnect(m->conn);
	if (!position_parse(&m->read.gtid, m->read.gtid.mysql, text, why, sizeof(why)) ||
	    !msnap_request(m->snap, &rq, why, sizeof(why))) {
		snprintf(err, errlen, "when_needed: %s", why);
		free(text);
		return SRC_FATAL;
	}
	xa_list_free(&m->read.xa);
	free(m->reset);
	m->reset = text;
	return m_start(&m->base, NULL, err, errlen);
}

static enum source_result m_start(struct source *s, const struct source_pos *from, char *err,
				  size_t errlen)
{
	struct msource *m = (struct msource *)s;
	bool fatal = false, ok;
	bool flavour_mysql;

	if (from)
		m_pos_copy(s, &m->read, from);
	buf_reset(&m->scratch);
	m_pos_format(s, &m->read, &m->scratch);
	ok = replica_connect(m->conn, &fatal, err, errlen) &&
	     replica_start(m->conn, m->scratch.data ? m->scratch.data : "", false, m->dec, &fatal,
			   err, errlen);
	/* the server of a hosts list that answered, or was tried last */
	snprintf(s->peer, sizeof(s->peer), "%s", m->conn->peer);
	if (!ok && m->conn->purged && s->cfg->snap_mode == SNAP_WHEN_NEEDED && !filemode(m))
		return start_over(m, err, errlen);
	if (!ok) {
		replica_disconnect(m->conn);
		return fatal ? SRC_FATAL : SRC_LOST;
	}
	flavour_mysql = !strcmp(m->conn->flavour, "mysql");
	if (!filemode(m) && m->conn->flavour[0] && flavour_mysql != m->read.gtid.mysql) {
		snprintf(err, errlen,
			 "%s: the server is %s but the checkpoint's position is %s's: a checkpoint of another server?",
			 m->conn->peer, m->conn->flavour, m->read.gtid.mysql ? "MySQL" : "MariaDB");
		replica_disconnect(m->conn);
		return SRC_MISMATCH;
	}
	s->clock_offset_ms = m->conn->clock_offset_ms;
	log_info("%s: streaming from %s%s", s->peer,
		 filemode(m) ? "binlog position " : m->scratch.data && m->scratch.data[0] ?
		 "GTID state " : "",
		 m->scratch.data && m->scratch.data[0] ? m->scratch.data : "the oldest binlog");
	return SRC_OK;
}

static enum source_result m_poll(struct source *s, char *err, size_t errlen)
{
	struct msource *m = (struct msource *)s;
	const uint8_t *ev;
	size_t len;
	bool fatal = false;

	m->fail = SRC_OK;
	if (m->reset && !decoder_in_trx(m->dec)) {
		struct ch_trx trx = { .ts_ms = 0 };
		char *text = m->reset;
		bool ok;

		snprintf(trx.id, sizeof(trx.id), "position-reset");
		m->reset = NULL;
		buf_reset(&m->scratch);
		buf_printf(&m->scratch, "R\t%s", text);
		free(text);
		ok = sn_begin(m, &trx) && sn_commit(m, &trx, m->scratch.data, m->scratch.len);
		if (!ok)
			return SRC_STOPPED;
	}
	if (!decoder_in_trx(m->dec)) {
		/* between transactions: the snapshot's turn */
		switch (msnap_step(m->snap, &m->read.snap, decoder_file(m->dec),
				   decoder_next_offset(m->dec), err, errlen)) {
		case MSNAP_OK:
			break;
		case MSNAP_DONE:
			return SRC_DONE;
		case MSNAP_STOPPED:
			if (m->fail == SRC_OK)
				return SRC_STOPPED;
			snprintf(err, errlen, "%s", m->fail_msg);
			return m->fail;
		case MSNAP_FATAL:
			return SRC_FATAL;
		}
	}
	if (!replica_next(m->conn, &ev, &len, &fatal, err, errlen))
		return fatal ? SRC_FATAL : SRC_LOST;
	m->fail = SRC_OK;
	switch (decoder_feed(m->dec, ev, len, err, errlen)) {
	case DEC_OK:
		return SRC_OK;
	case DEC_ERROR:
		return SRC_DECODE;
	case DEC_STOPPED:
		break;
	}
	if (m->fail == SRC_OK)
		return SRC_STOPPED;
	snprintf(err, errlen, "%s", m->fail_msg);
	return m->fail;
}

static void m_read_position(struct source *s, struct rc_buf *out)
{
	m_pos_format(s, &((struct msource *)s)->read, out);
}

static enum source_lag m_lag(struct source *s, int64_t *bytes, char *err, size_t errlen)
{
	struct msource *m = (struct msource *)s;
	const char *file = decoder_file(m->dec);

	if (!file || !file[0])
		return LAG_UNKNOWN;
	if (!replica_lag(m->conn, file, decoder_next_offset(m->dec), bytes, err, errlen))
		return LAG_ERROR;
	return LAG_KNOWN;
}

static void m_interrupt(struct source *s)
{
	replica_interrupt(((struct msource *)s)->conn);
}

static void m_disconnect(struct source *s)
{
	struct msource *m = (struct msource *)s;

	replica_disconnect(m->conn);
	/* a chunk waiting for its point is read again after the reconnect */
	msnap_reset(m->snap);
}

static bool m_snapshot(struct source *s, const struct source_snap_request *rq, char *err,
		       size_t errlen)
{
	struct msource *m = (struct msource *)s;

	if (filemode(m)) {
		snprintf(err, errlen, "snapshots need position_mode = gtid");
		return false;
	}
	return msnap_request(m->snap, rq, err, errlen);
}

/* ---- snapshot chunks to the pipeline ---- */

static bool sn_begin(void *ctx, const struct ch_trx *trx)
{
	struct msource *m = ctx;

	return m->base.cb.begin(m->base.cb.ctx, trx);
}

static bool sn_row(void *ctx, const struct ch_trx *trx, const struct ch_row *row, const char *log,
		   uint64_t offset)
{
	struct msource *m = ctx;

	return m->base.cb.row(m->base.cb.ctx, trx, row, log, offset);
}

/* A chunk's (or request's) commit: the position stays where the binlog
 * is; its snapshot part moves by the text. */
static bool sn_commit(void *ctx, const struct ch_trx *trx, const char *text, size_t len)
{
	struct msource *m = ctx;
	struct mstep st;

	memset(&st, 0, sizeof(st));
	snprintf(st.file, sizeof(st.file), "%s", m->read.file);
	st.next_offset = m->read.offset;
	buf_reset(&m->snapstep);
	buf_append(&m->snapstep, &st, sizeof(st));
	buf_append(&m->snapstep, text, len);
	if (!m->base.cb.commit(m->base.cb.ctx, trx, m->snapstep.data, m->snapstep.len))
		return false;
	m_pos_advance(&m->base, &m->read, m->snapstep.data, m->snapstep.len);
	return true;
}

static void m_free(struct source *s)
{
	struct msource *m = (struct msource *)s;

	if (!s)
		return;
	msnap_free(m->snap);
	free(m->reset);
	replica_free(m->conn);
	decoder_free(m->dec);
	position_free(&m->read.gtid);
	xa_list_free(&m->read.xa);
	snap_pos_free(&m->read.snap);
	buf_free(&m->snapstep);
	buf_free(&m->scratch);
	buf_free(&m->warned);
	free(m);
}

static const struct source_ops mysql_ops = {
	.name = "mysql",
	.thread_init = thread_init,
	.thread_end = thread_end,
	.pos_new = m_pos_new,
	.pos_parse = m_pos_parse,
	.pos_format = m_pos_format,
	.pos_advance = m_pos_advance,
	.pos_copy = m_pos_copy,
	.pos_free = m_pos_free,
	.ckpt_load = m_ckpt_load,
	.ckpt_store = m_ckpt_store,
	.confirm = m_confirm,
	.start_position = m_start_position,
	.start = m_start,
	.poll = m_poll,
	.read_position = m_read_position,
	.lag = m_lag,
	.interrupt = m_interrupt,
	.snapshot = m_snapshot,
	.disconnect = m_disconnect,
	.free = m_free,
};

struct source *source_mysql_new(const struct rc_config *cfg, const struct source_callbacks *cb)
{
	struct msource *m = calloc(1, sizeof(*m));
	struct dec_callbacks dcb = { .on_begin = on_begin, .on_row = on_row,
				     .on_commit = on_commit, .on_event = on_event,
				     .table_gone = table_gone, .table_unnamed = table_unnamed };

	if (!m)
		log_oom();
	m->base.ops = &mysql_ops;
	m->base.cfg = cfg;
	m->base.cb = *cb;
	m->conn = replica_new(cfg);
	snprintf(m->base.peer, sizeof(m->base.peer), "%s", m->conn->peer);
	dcb.ctx = m;
	m->dec = decoder_new(&dcb);
	m->snap = msnap_new(cfg, &m->base.cb, &(struct msnap_out){ sn_begin, sn_row, sn_commit, m });
	return &m->base;
}
