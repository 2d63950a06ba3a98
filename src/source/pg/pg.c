/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL source (source.h): a libpq connection in replication mode
 * (replication=database) streams a logical replication slot with the
 * pgoutput plugin, protocol version 1, for the tables of a publication.
 * Relation messages describe tables, Insert/Update/Delete become change-
 * model rows whose values pgvalue renders, Truncate becomes a truncate
 * statement for the router.  A position is the end LSN of the last commit
 * handed over, plus the cluster's system identifier; the server is told
 * to forget (the flush LSN of a standby status update) only what confirm()
 * says is in the checkpoint on disk.  Formats no messages, knows no sink.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "source/pg/pgoutput.h"
#include "source/pg/pgvalue.h"
#include "source/snappos.h"
#include "source/source.h"

/* A position of this source. */
struct source_pos {
	uint64_t lsn;			/* end LSN of the last commit, 0: none */
	char sysid[32];			/* the cluster's system identifier, "" unknown */
	bool snap_pending;		/* the initial snapshot began, not yet ended */
	struct snap_pos od;		/* snapshots asked for while running */
};

/* How a position moves past a snapshot's step (a commit's is its LSN). */
struct psnap_step {
	uint64_t lsn;			/* the slot's consistent point */
	char op;			/* 'S' began, 'D' done, 0 a chunk */
};

/* A table as its last Relation message described it. */
struct pgrel {
	uint32_t relid;			/* relation OID */
	struct ch_table t;		/* the change model's table */
	uint32_t *oids;			/* per column: type OID */
	int32_t *typmods;		/* per column: type modifier */
	bool *key;			/* per column: part of the replica identity */
	char replident;			/* 'd', 'n', 'f' or 'i' */
	char *names;			/* column names, NUL-separated (t.cols point in) */
};

/* A snapshot of chosen tables while running (rowcast snapshot): chunks by
 * primary key on a plain connection, each held until the stream reaches
 * the high-water message written after it; rows whose key a change
 * streamed meanwhile touched are left out (that change is newer). */
struct pgsnap_rq {
	char **tables;			/* "schema.table" each */
	unsigned n;
	char *where;			/* or NULL */
	void (*done)(void *arg, bool ok, const char *msg);
	void *arg;
};

struct pgsnap {
	pthread_mutex_t mu;		/* guards rq */
	struct pgsnap_rq *rq;		/* requests not yet taken */
	int nrq, caprq;
	atomic_int pending;		/* nrq, read without the lock */
	struct snap_pos pos;		/* what is left, as handed over (the read
					   side of the position's od part) */
	PGconn *c;			/* the snapshot connection */
	uint32_t relid;			/* the first table's OID (0: not open) */
	uint64_t rel_for;		/* the snapshot it was opened for */
	int keycols[32];		/* its primary key: column indexes */
	int nkey;
	PGresult *held;			/* a chunk waiting for its high-water mark */
	char hw[64];			/* that mark's content */
	bool *drop;			/* per held row: a change touched its key */
	bool stale;			/* the table changed: read the chunk again */
	int rows_next;			/* rows of the next chunk */
	int64_t pace_start_us;		/* the rows/s limit counts from here */
	uint64_t pace_rows;		/* rows read since */
	struct rc_buf step;		/* a step: struct psnap_step + text */
	struct rc_buf text;		/* the step's text */
};

struct pgsource {
	struct source base;		/* must be first */
	PGconn *conn;			/* the replication connection, NULL when closed */
	PGconn *side;			/* a plain connection for lag(), or NULL */
	struct rc_buf lagq;		/* lag()'s query (reader thread) */
	bool streaming;			/* START_REPLICATION answered COPY BOTH */
	int wake[2];			/* interrupt(): a byte here wakes poll() */
	struct pgo_parser ps;		/* pgoutput parser (reused arrays) */
	struct pgrel *rels;		/* relations seen on this connection */
	size_t nrels, caprels;		/* used and allocated */
	struct ch_image before, after;	/* images of the row being handed over */
	struct ch_table msgt;		/* pg_message.PREFIX: the outbox messages'
					   table, columns = the last message's keys */
	struct rc_buf msgnames;		/* its column names, NUL-separated */
	struct rc_buf msgkeys;		/* its keys, "\n"-joined, to see a change */
	struct ch_trx trx;		/* the transaction being read */
	bool in_trx;			/* between Begin and Commit */
	uint64_t read_lsn;		/* end LSN of the last commit handed over */
	_Atomic uint64_t durable;	/* confirm(): the end LSN on disk */
	uint64_t flushed;		/* the flush LSN last sent to the server */
	uint64_t server_end;		/* the server's WAL end, last heard */
	uint64_t received;		/* the last XLogData start received */
	int64_t last_status_us;		/* when the last status update went */
	char sysid[32];			/* the server's system identifier */
	char ckpt_sysid[32];		/* the checkpoint's, "" when none */
	bool have_ckpt;			/* ckpt_load() found a checkpoint */
	bool want_snapshot;		/* [snapshot] mode: snapshot at the slot's creation */
	bool redo_snapshot;		/* the checkpoint's snapshot did not end */
	bool snapshot_done;		/* this process took the initial snapshot */
	struct pgsnap *od;		/* snapshots asked for while running */
	struct ch_snap snapinfo;	/* a chunk's snapshot (trx.snap) */
	struct rc_buf scratch;		/* conninfo, queries, statement texts */
};

/* µs since 2000-01-01 UTC, PostgreSQL's clock. */
static int64_t pg_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec - PGO_EPOCH_OFFSET_US;
}

static void lsn_format(uint64_t lsn, char *out, size_t n)
{
	snprintf(out, n, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

static bool lsn_parse(const char *s, uint64_t *out)
{
	unsigned hi, lo;
	int used = 0;

	if (sscanf(s, "%X/%X%n", &hi, &lo, &used) != 2 || s[used])
		return false;
	*out = (uint64_t)hi << 32 | lo;
	return true;
}

/* ---- positions ---- */

static struct source_pos *p_pos_new(struct source *s)
{
	struct source_pos *p = calloc(1, sizeof(*p));

	(void)s;
	if (!p)
		log_oom();
	return p;
}

static bool p_pos_parse(struct source *s, struct source_pos *p, const char *text, char *err,
			size_t errlen)
{
	(void)s;
	if (!strcmp(text, "current") || !strcmp(text, "earliest")) {
		p->lsn = 0;	/* the slot's confirmed position */
		return true;
	}
	if (!lsn_parse(text, &p->lsn)) {
		snprintf(err, errlen, "'%s' is not an LSN (X/Y)", text);
		return false;
	}
	return true;
}

static void p_pos_format(struct source *s, const struct source_pos *p, struct rc_buf *out)
{
	char t[32];

	(void)s;
	lsn_format(p->lsn, t, sizeof(t));
	buf_puts(out, t);
}

static void p_pos_advance(struct source *s, struct source_pos *p, const void *step, size_t len)
{
	uint64_t lsn;

	(void)s;
	if (len >= sizeof(struct psnap_step)) {
		struct psnap_step st;

		memcpy(&st, step, sizeof(st));
		if (st.op == 'S') {
			p->lsn = st.lsn;	/* a new slot: its stream starts here */
			p->snap_pending = true;
		} else if (st.op == 'D') {
			p->snap_pending = false;
		}
		if (len > sizeof(st))	/* a snapshot asked for while running */
			snap_pos_apply(&p->od, (const char *)step + sizeof(st), len - sizeof(st));
		return;
	}
	if (len != sizeof(lsn))
		return;
	memcpy(&lsn, step, sizeof(lsn));
	if (lsn > p->lsn)
		p->lsn = lsn;
}

static void p_pos_copy(struct source *s, struct source_pos *dst, const struct source_pos *src)
{
	(void)s;
	dst->lsn = src->lsn;
	memcpy(dst->sysid, src->sysid, sizeof(dst->sysid));
	dst->snap_pending = src->snap_pending;
	snap_pos_copy(&dst->od, &src->od);
}

static void p_pos_free(struct source *s, struct source_pos *p)
{
	(void)s;
	if (!p)
		return;
	snap_pos_free(&p->od);
	free(p);
}

/* ---- the checkpoint's [source] section ---- */

static bool p_ckpt_load(struct source *s, struct ckpt *c, struct source_pos *p, char **text,
			char *err, size_t errlen)
{
	struct pgsource *m = (struct pgsource *)s;
	const char *type = ckpt_get(c, "source", "type");
	const char *lsn = ckpt_get(c, "source", "lsn");
	const char *sysid = ckpt_get(c, "source", "system_identifier");

	if (!type || strcmp(type, "postgresql")) {
		snprintf(err, errlen,
			 "checkpoint is of another kind of source (%s) than this one (postgresql)",
			 type ? type : "mysql");
		return false;
	}
	if (!lsn || !lsn_parse(lsn, &p->lsn)) {
		snprintf(err, errlen, "checkpoint has no LSN ([source] lsn = X/Y)");
		return false;
	}
	snprintf(p->sysid, sizeof(p->sysid), "%s", sysid ? sysid : "");
	p->snap_pending = (lsn = ckpt_get(c, "source", "snapshot")) && !strcmp(lsn, "pending");
	if (!snap_pos_load(&p->od, c, err, errlen))
		return false;
	m->redo_snapshot = p->snap_pending;
	lsn = ckpt_get(c, "source", "lsn");
	m->have_ckpt = true;
	*text = strdup(lsn);
	if (!*text)
		log_oom();
	return true;
}

static void p_ckpt_store(struct source *s, const struct source_pos *p, struct ckpt *c)
{
	struct pgsource *m = (struct pgsource *)s;
	char t[32];

	lsn_format(p->lsn, t, sizeof(t));
	ckpt_set(c, "source", "type", "postgresql");
	ckpt_set(c, "source", "lsn", t);
	ckpt_set(c, "source", "slot", s->cfg->src_slot);
	if (m->sysid[0] || p->sysid[0])
		ckpt_set(c, "source", "system_identifier", m->sysid[0] ? m->sysid : p->sysid);
	if (p->snap_pending || ckpt_get(c, "source", "snapshot"))
		ckpt_set(c, "source", "snapshot", p->snap_pending ? "pending" : "done");
	snap_pos_store(&p->od, c);
}

/* p is on disk: the reader thread sends it as the flush LSN. */
static bool p_confirm(struct source *s, const struct source_pos *p, char *err, size_t errlen)
{
	struct pgsource *m = (struct pgsource *)s;
	uint64_t cur = atomic_load(&m->durable);

	(void)err;
	(void)errlen;
	while (p->lsn > cur && !atomic_compare_exchange_weak(&m->durable, &cur, p->lsn))
		;
	return true;
}

/* ---- connecting ---- */

static const char *sslmode_name(int mode)
{
	switch (mode) {
	case SSLM_DISABLED: return "disable";
	case SSLM_REQUIRED: return "require";
	case SSLM_VERIFY_CA: return "verify-ca";
	case SSLM_VERIFY_IDENTITY: return "verify-full";
	default: return "prefer";
	}
}

/* A connection to the server: in replication mode for the stream, or a
 * plain one (the lag query).  NULL only when memory is out. */
static PGconn *pg_open(struct pgsource *m, bool replication)
{
	const struct rc_config *cfg = m->base.cfg;
	const char *kw[20], *val[20];
	char port[16], timeout[16];
	int n = 0;

	snprintf(port, sizeof(port), "%d", cfg->src_port);
	snprintf(timeout, sizeof(timeout), "%d", cfg->src_connect_timeout_s);
	if (cfg->src_conninfo[0]) {
		kw[n] = "dbname", val[n++] = cfg->src_conninfo;
	} else {
		kw[n] = "host", val[n++] = cfg->src_socket[0] ? cfg->src_socket : cfg->src_host;
		kw[n] = "port", val[n++] = port;
		kw[n] = "dbname", val[n++] = cfg->src_dbname;
		kw[n] = "user", val[n++] = cfg->src_user;
		if (cfg->src_password[0])
			kw[n] = "password", val[n++] = cfg->src_password;
		kw[n] = "sslmode", val[n++] = sslmode_name(cfg->src_ssl_mode);
		if (cfg->src_ssl_ca[0])
			kw[n] = "sslrootcert", val[n++] = cfg->src_ssl_ca;
		if (cfg->src_ssl_cert[0])
			kw[n] = "sslcert", val[n++] = cfg->src_ssl_cert;
		if (cfg->src_ssl_key[0])
			kw[n] = "sslkey", val[n++] = cfg->src_ssl_key;
	}
	if (replication)
		kw[n] = "replication", val[n++] = "database";
	kw[n] = "fallback_application_name", val[n++] = "rowcast";
	kw[n] = "connect_timeout", val[n++] = timeout;
	/* the text forms pgvalue parses, whatever the server's defaults */
	kw[n] = "options", val[n++] = "-c datestyle=ISO -c extra_float_digits=3 -c bytea_output=hex -c intervalstyle=iso_8601 -c timezone=UTC";
	kw[n] = NULL, val[n] = NULL;
	return PQconnectStartParams(kw, val, 1);
}

/* Wait up to ms for fd (none when < 0) to be ready for events, or for
 * interrupt(); false when interrupted. */
static bool wait_fd(struct pgsource *m, int fd, short events, int ms)
{
	struct pollfd pf[2];
	int n = 0;

	pf[n].fd = m->wake[0], pf[n].events = POLLIN, pf[n++].revents = 0;
	if (fd >= 0)
		pf[n].fd = fd, pf[n].events = events, pf[n++].revents = 0;
	if (poll(pf, (nfds_t)n, ms) < 0)
		return true;	/* EINTR: look again */
	return !(pf[0].revents & POLLIN);
}

/* How connect_wait() ended. */
enum cw { CW_DONE, CW_INTERRUPTED, CW_TIMEOUT };

/* Drive a PQconnectStartParams() connection to its end (PQstatus says
 * which), within connect_timeout, waking for interrupt(). */
static enum cw connect_wait(struct pgsource *m, PGconn *c)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int64_t deadline = pg_now_us() + (int64_t)m->base.cfg->src_connect_timeout_s * 1000000;

	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		int64_t left = (deadline - pg_now_us()) / 1000;

		if (left <= 0)
			return CW_TIMEOUT;
		if (!wait_fd(m, PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
			     left > 1000 ? 1000 : (int)left))
			return CW_INTERRUPTED;
		st = PQconnectPoll(c);
	}
	return CW_DONE;
}

/* Connect in replication mode; false with err (*fatal when retrying
 * cannot help). */
static bool pg_connect(struct pgsource *m, bool *fatal, char *err, size_t errlen)
{
	m->conn = pg_open(m, true);
	if (!m->conn)
		log_oom();
	if (PQstatus(m->conn) != CONNECTION_BAD) {
		enum cw w = connect_wait(m, m->conn);

		if (w != CW_DONE) {
			snprintf(err, errlen, "%s: %s", m->base.peer,
				 w == CW_TIMEOUT ? "cannot connect: timed out" :
				 "interrupted while connecting");
			PQfinish(m->conn);
			m->conn = NULL;
			return false;
		}
	}
	if (PQstatus(m->conn) == CONNECTION_OK) {
		snprintf(m->base.peer, sizeof(m->base.peer), "%s:%s/%s",
			 PQhost(m->conn) ? PQhost(m->conn) : "?",
			 PQport(m->conn) ? PQport(m->conn) : "?", PQdb(m->conn));
		return true;
	}
	{
		const char *e = PQerrorMessage(m->conn);
		size_t l = strlen(e);

		while (l && (e[l - 1] == '\n' || e[l - 1] == ' '))
			l--;
		if (strstr(e, "must be superuser or replication role") ||
		    strstr(e, "permission denied to start WAL sender")) {
			snprintf(err, errlen,
				 "%s: role %s lacks the REPLICATION attribute (ALTER ROLE %s REPLICATION): %.*s",
				 m->base.peer, PQuser(m->conn), PQuser(m->conn), (int)l, e);
			*fatal = true;
		} else {
			snprintf(err, errlen, "%s: cannot connect: %.*s", m->base.peer, (int)l, e);
		}
	}
	PQfinish(m->conn);
	m->conn = NULL;
	return false;
}

/* Run q; the result when it has status want, else NULL with err. */
static PGresult *run_on(struct pgsource *m, PGconn *c, const char *q, ExecStatusType want,
			char *err, size_t errlen)
{
	PGresult *r = PQexec(c, q);

	if (r && PQresultStatus(r) == want)
		return r;
	snprintf(err, errlen, "%s: %.60s: %s", m->base.peer, q,
		 r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	err[strcspn(err, "\n")] = '\0';
	PQclear(r);
	return NULL;
}

static PGresult *run(struct pgsource *m, const char *q, ExecStatusType want, char *err,
		     size_t errlen)
{
	return run_on(m, m->conn, q, want, err, errlen);
}

/* s as an SQL literal or identifier appended to scratch (escaped for c). */
static bool quote_c(struct pgsource *m, PGconn *c, const char *s, bool ident)
{
	char *q = ident ? PQescapeIdentifier(c, s, strlen(s)) : PQescapeLiteral(c, s, strlen(s));

	if (!q)
		return false;
	buf_puts(&m->scratch, q);
	PQfreemem(q);
	return true;
}

static bool quote(struct pgsource *m, const char *s, bool ident)
{
	return quote_c(m, m->conn, s, ident);
}

static bool quote_on(struct pgsource *m, PGconn *c, const char *s)
{
	return quote_c(m, c, s, true);
}

static bool quote_lit_on(struct pgsource *m, PGconn *c, const char *s)
{
	return quote_c(m, c, s, false);
}


/* ---- the initial snapshot: the new slot's exported snapshot ---- */

static struct pgrel *rel_define(struct pgsource *m, const struct pgo_msg *msg, bool *changed);
static struct pgrel *rel_find(struct pgsource *m, uint32_t relid);

#define PG_SNAP_FETCH 5000	/* rows per chunk (one FETCH) */

/* [snapshot] max_rows_per_second: wait until rows read since start_us are
 * within the rate (nothing when no limit). */
static void snap_pace(struct pgsource *m, int64_t start_us, uint64_t rows)
{
	int rate = m->base.cfg->snap_max_rows_per_s;
	int64_t due;

	if (rate <= 0)
		return;
	due = start_us + (int64_t)((double)rows / rate * 1e6) - pg_now_us();
	if (due > 0) {
		struct timespec ts = { (time_t)(due / 1000000), (long)(due % 1000000) * 1000 };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
}

/* Hand over a transaction without rows whose step says op at lsn. */
static bool snap_step(struct pgsource *m, uint64_t lsn, char op, const char *id)
{
	struct psnap_step st = { lsn, op };
	struct ch_trx trx = { .ts_ms = 0 };

	memset(&m->snapinfo, 0, sizeof(m->snapinfo));
	snprintf(trx.id, sizeof(trx.id), "%s", id);
	trx.snap = &m->snapinfo;
	return m->base.cb.begin(m->base.cb.ctx, &trx) &&
	       m->base.cb.commit(m->base.cb.ctx, &trx, &st, sizeof(st));
}

/* Describe table oid as a Relation message would (same columns, types and
 * key flags as pgoutput sends), so that its stream reuses the view. */
static struct pgrel *snap_relation(struct pgsource *m, PGconn *c, const char *oid,
				   const char *nsp, const char *rel, char replident, char *err,
				   size_t errlen)
{
	struct pgo_msg msg;
	struct pgo_relcol *cols;
	PGresult *r;
	bool changed;
	struct pgrel *out;
	int n;

	buf_reset(&m->scratch);
	buf_printf(&m->scratch,
		   "SELECT a.attname, a.atttypid, a.atttypmod, '%c' = 'f' OR"
		   " COALESCE(a.attnum = ANY(i.indkey), false)"
		   " FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND"
		   " (('%c' = 'd' AND i.indisprimary) OR ('%c' = 'i' AND i.indisreplident))"
		   " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped"
		   " AND a.attgenerated = '' ORDER BY a.attnum",
		   replident, replident, replident, oid);
	if (!(r = run_on(m, c, m->scratch.data, PGRES_TUPLES_OK, err, errlen)))
		return NULL;
	n = PQntuples(r);
	cols = calloc(n ? (size_t)n : 1, sizeof(*cols));
	if (!cols)
		log_oom();
	memset(&msg, 0, sizeof(msg));
	msg.u.relation.relid = (uint32_t)strtoul(oid, NULL, 10);
	msg.u.relation.nspname = (struct pgo_str){ nsp, strlen(nsp) };
	msg.u.relation.relname = (struct pgo_str){ rel, strlen(rel) };
	msg.u.relation.replident = replident;
	msg.u.relation.ncols = (uint16_t)n;
	msg.u.relation.cols = cols;
	for (int i = 0; i < n; i++) {
		cols[i].name = (struct pgo_str){ PQgetvalue(r, i, 0), strlen(PQgetvalue(r, i, 0)) };
		cols[i].type_oid = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
		cols[i].typmod = (int32_t)strtol(PQgetvalue(r, i, 2), NULL, 10);
		cols[i].flags = PQgetvalue(r, i, 3)[0] == 't';
	}
	out = rel_define(m, &msg, &changed);
	free(cols);
	PQclear(r);
	return out;
}

/* Row k of result r (text values of rel's columns) as the after image,
 * rendered as the stream renders tuples. */
static void image_of_result(struct pgsource *m, const struct pgrel *rel, const PGresult *r,
			    int k)
{
	ch_image_fit(&m->after, rel->t.ncols);
	buf_reset(&m->after.text);
	for (uint32_t i = 0; i < rel->t.ncols; i++) {
		m->after.off[i] = (uint32_t)m->after.text.len;
		m->after.len[i] = 0;
		if (PQgetisnull(r, k, (int)i)) {
			m->after.state[i] = CH_NULL;
			continue;
		}
		pgv_render(&m->after.text, rel->oids[i], rel->typmods[i], PQgetvalue(r, k, (int)i),
			   (size_t)PQgetlength(r, k, (int)i));
		m->after.len[i] = (uint32_t)(m->after.text.len - m->after.off[i]);
		m->after.state[i] = CH_VALUE;
	}
}

/* Read one table through a cursor, FETCH by FETCH, each a chunk. */
static enum source_result snap_table(struct pgsource *m, PGconn *c, struct pgrel *rel,
				     uint64_t lsn, uint64_t id, char *err, size_t errlen)
{
	struct ch_trx trx = { .ts_ms = 0 };
	struct ch_row row = { 0 };
	uint64_t rows = 0, chunk = 0;
	PGresult *r;
	bool last = false;
	int64_t start_us = pg_now_us();

	buf_reset(&m->scratch);
	buf_puts(&m->scratch, "DECLARE rowcast_snap NO SCROLL CURSOR FOR SELECT ");
	for (uint32_t i = 0; i < rel->t.ncols; i++) {
		if (i)
			buf_putc(&m->scratch, ',');
		if (!quote_on(m, c, rel->t.cols[i].name))
			return SRC_LOST;
	}
	buf_puts(&m->scratch, " FROM ONLY ");
	if (!quote_on(m, c, rel->t.db))
		return SRC_LOST;
	buf_putc(&m->scratch, '.');
	if (!quote_on(m, c, rel->t.name))
		return SRC_LOST;
	if (!(r = run_on(m, c, m->scratch.data, PGRES_COMMAND_OK, err, errlen)))
		return SRC_LOST;
	PQclear(r);
	log_info("snapshot %llu: %s.%s: reading (the slot's exported snapshot)",
		 (unsigned long long)id, rel->t.db, rel->t.name);
	row.table = &rel->t;
	row.op = CH_READ;
	row.after = &m->after;
	while (!last) {
		char q[64];
		int n;

		snprintf(q, sizeof(q), "FETCH FORWARD %d FROM rowcast_snap", PG_SNAP_FETCH);
		if (!(r = run_on(m, c, q, PGRES_TUPLES_OK, err, errlen)))
			return SRC_LOST;
		n = PQntuples(r);
		last = n < PG_SNAP_FETCH;
		if (m->base.cb.drain && !m->base.cb.drain(m->base.cb.ctx)) {
			PQclear(r);
			return SRC_STOPPED;
		}
		memset(&m->snapinfo, 0, sizeof(m->snapinfo));
		m->snapinfo = (struct ch_snap){ .id = id, .db = rel->t.db, .table = rel->t.name,
						.chunk = ++chunk, .first = chunk == 1, .last = last,
						.rows_before = rows };
		memset(&trx, 0, sizeof(trx));
		snprintf(trx.id, sizeof(trx.id), "snapshot-%llu-%s.%s-%llu", (unsigned long long)id,
			 rel->t.db, rel->t.name, (unsigned long long)chunk);
		trx.snap = &m->snapinfo;
		if (!m->base.cb.begin(m->base.cb.ctx, &trx)) {
			PQclear(r);
			return SRC_STOPPED;
		}
		for (int k = 0; k < n; k++) {
			image_of_result(m, rel, r, k);
			row.index = (uint64_t)k;
			trx.nrows = (uint64_t)k + 1;
			if (!m->base.cb.row(m->base.cb.ctx, &trx, &row, "", lsn)) {
				PQclear(r);
				return SRC_STOPPED;
			}
		}
		PQclear(r);
		rows += (uint64_t)n;
		snap_pace(m, start_us, rows);
		{
			struct psnap_step st = { lsn, 0 };
			struct source_snap_progress pr = { id, rel->t.db, rel->t.name, rows, 0, chunk,
							   1, 0, rows, last };

			if (m->base.cb.snapshot_progress)
				m->base.cb.snapshot_progress(m->base.cb.ctx, &pr);
			if (!m->base.cb.commit(m->base.cb.ctx, &trx, &st, sizeof(st)))
				return SRC_STOPPED;
		}
	}
	if (!(r = run_on(m, c, "CLOSE rowcast_snap", PGRES_COMMAND_OK, err, errlen)))
		return SRC_LOST;
	PQclear(r);
	return SRC_OK;
}

/*
 * The tables of the publication as the new slot's exported snapshot shows
 * them, before its stream: the stream starts exactly after.  A crash
 * before its end leaves the checkpoint's snapshot pending: the next start
 * drops the slot and does it all again (read rows again; nothing lost).
 */
static enum source_result initial_snapshot(struct pgsource *m, const char *name, uint64_t lsn,
					   char *err, size_t errlen)
{
	PGconn *c = pg_open(m, false);
	enum source_result res = SRC_LOST;
	PGresult *tabs = NULL, *r;
	const uint64_t id = 1;

	if (!c)
		log_oom();
	if (PQstatus(c) == CONNECTION_BAD || connect_wait(m, c) != CW_DONE ||
	    PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s: snapshot connection: %s", m->base.peer, PQerrorMessage(c));
		err[strcspn(err, "\n")] = '\0';
		goto out;
	}
	if (!snap_step(m, lsn, 'S', "snapshot-1-begin")) {
		res = SRC_STOPPED;
		goto out;
	}
	if (!(r = run_on(m, c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			 PGRES_COMMAND_OK, err, errlen)))
		goto out;
	PQclear(r);
	buf_reset(&m->scratch);
	buf_puts(&m->scratch, "SET TRANSACTION SNAPSHOT ");
	if (!quote_lit_on(m, c, name))
		goto out;
	if (!(r = run_on(m, c, m->scratch.data, PGRES_COMMAND_OK, err, errlen)))
		goto out;
	PQclear(r);
	buf_reset(&m->scratch);
	buf_puts(&m->scratch,
		 "SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_publication_tables pt"
		 " JOIN pg_namespace n ON n.nspname = pt.schemaname"
		 " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename"
		 " WHERE pt.pubname = ");
	if (!quote_lit_on(m, c, m->base.cfg->src_publication))
		goto out;
	buf_puts(&m->scratch, " ORDER BY 2, 3");
	if (!(tabs = run_on(m, c, m->scratch.data, PGRES_TUPLES_OK, err, errlen)))
		goto out;
	log_info("snapshot %llu: %d published table%s at %s's exported snapshot",
		 (unsigned long long)id, PQntuples(tabs), PQntuples(tabs) == 1 ? "" : "s", name);
	for (int i = 0; i < PQntuples(tabs); i++) {
		const char *nsp = PQgetvalue(tabs, i, 1), *rel = PQgetvalue(tabs, i, 2);
		struct pgrel *pr;

		if (m->base.cb.wants_table && !m->base.cb.wants_table(m->base.cb.ctx, nsp, rel))
			continue;
		pr = snap_relation(m, c, PQgetvalue(tabs, i, 0), nsp, rel,
				   PQgetvalue(tabs, i, 3)[0], err, errlen);
		if (!pr)
			goto out;
		res = snap_table(m, c, pr, lsn, id, err, errlen);
		if (res != SRC_OK)
			goto out;
		res = SRC_LOST;
	}
	if (!(r = run_on(m, c, "COMMIT", PGRES_COMMAND_OK, err, errlen)))
		goto out;
	PQclear(r);
	if (!snap_step(m, lsn, 'D', "snapshot-1-end")) {
		res = SRC_STOPPED;
		goto out;
	}
	m->redo_snapshot = false;
	m->snapshot_done = true;
	res = SRC_OK;
out:
	PQclear(tabs);
	PQfinish(c);
	return res;
}


/* ---- snapshots of chosen tables while running ---- */

#define PG_OD_PREFIX "rowcast-snapshot"	/* the high-water messages' prefix */
#define PG_OD_ROWS 5000			/* rows per chunk */

static void od_close_table(struct pgsource *m)
{
	struct pgsnap *o = m->od;

	PQclear(o->held);
	o->held = NULL;
	o->relid = 0;
	o->stale = false;
	o->nkey = 0;
}

static void od_reset(struct pgsource *m)
{
	if (!m->od)
		return;
	od_close_table(m);
	PQfinish(m->od->c);
	m->od->c = NULL;
}

/* The snapshot connection, connected. */
static bool od_conn(struct pgsource *m, char *err, size_t errlen)
{
	struct pgsnap *o = m->od;

	if (o->c && PQstatus(o->c) == CONNECTION_OK)
		return true;
	PQfinish(o->c);
	o->c = pg_open(m, false);
	if (!o->c)
		log_oom();
	if (PQstatus(o->c) == CONNECTION_BAD || connect_wait(m, o->c) != CW_DONE ||
	    PQstatus(o->c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s: snapshot connection: %s", m->base.peer,
			 PQerrorMessage(o->c));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(o->c);
		o->c = NULL;
		return false;
	}
	return true;
}

/* Run a query with text parameters on the snapshot connection. */
static PGresult *od_run(struct pgsource *m, const char *q, int n, const char *const *params,
			ExecStatusType want, char *err, size_t errlen)
{
	PGresult *r = PQexecParams(m->od->c, q, n, NULL, params, NULL, NULL, 0);

	if (r && PQresultStatus(r) == want)
		return r;
	snprintf(err, errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(m->od->c));
	err[strcspn(err, "\n")] = '\0';
	PQclear(r);
	return NULL;
}

/* Hand over a transaction whose step moves the position's od part by
 * o->text (trx: a chunk's, or NULL for bookkeeping without rows). */
static bool od_commit(struct pgsource *m, struct ch_trx *trx, const char *id)
{
	struct pgsnap *o = m->od;
	struct psnap_step st = { m->read_lsn, 0 };
	struct ch_trx own = { .ts_ms = 0 };

	if (!trx) {
		memset(&m->snapinfo, 0, sizeof(m->snapinfo));
		snprintf(own.id, sizeof(own.id), "%s", id);
		own.snap = &m->snapinfo;
		trx = &own;
		if (!m->base.cb.begin(m->base.cb.ctx, trx))
			return false;
	}
	buf_reset(&o->step);
	buf_append(&o->step, &st, sizeof(st));
	buf_append(&o->step, o->text.data, o->text.len);
	if (!m->base.cb.commit(m->base.cb.ctx, trx, o->step.data, o->step.len))
		return false;
	snap_pos_apply(&o->pos, o->text.data, o->text.len);
	return true;
}

/* Is "schema.table" a published table with a primary key (and where a
 * condition on it)?  msg says why not. */
static bool od_check(struct pgsource *m, const char *name, const char *where, char *msg,
		     size_t msglen)
{
	const char *dot = strchr(name, '.');
	char nsp[256], err[512];
	const char *params[3];
	PGresult *r;
	bool ok;

	snprintf(nsp, sizeof(nsp), "%.*s", (int)(dot - name), name);
	params[0] = nsp;
	params[1] = dot + 1;
	params[2] = m->base.cfg->src_publication;
	r = od_run(m, "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
		   " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indisprimary"
		   " AND n.nspname = $1 AND c.relname = $2),"
		   " EXISTS (SELECT 1 FROM pg_publication_tables WHERE schemaname = $1"
		   " AND tablename = $2 AND pubname = $3)",
		   3, params, PGRES_TUPLES_OK, err, sizeof(err));
	if (!r) {
		snprintf(msg, msglen, "snapshot: %s: %s", name, err);
		return false;
	}
	ok = PQgetvalue(r, 0, 1)[0] == 't' && PQgetvalue(r, 0, 0)[0] == 't';
	if (PQgetvalue(r, 0, 1)[0] != 't')
		snprintf(msg, msglen, "snapshot: %s is not a table of publication %s", name,
			 m->base.cfg->src_publication);
	else if (!ok)
		snprintf(msg, msglen, "snapshot: %s has no primary key: it cannot be read in chunks",
			 name);
	PQclear(r);
	if (ok && where) {
		buf_reset(&m->scratch);
		buf_puts(&m->scratch, "SELECT 1 FROM ");
		if (!quote_on(m, m->od->c, nsp))
			return false;
		buf_putc(&m->scratch, '.');
		if (!quote_on(m, m->od->c, dot + 1))
			return false;
		buf_printf(&m->scratch, " WHERE (%s) LIMIT 0", where);
		r = od_run(m, m->scratch.data, 0, NULL, PGRES_TUPLES_OK, err, sizeof(err));
		if (!r) {
			snprintf(msg, msglen, "snapshot: %s: WHERE %s: %s", name, where, err);
			return false;
		}
		PQclear(r);
	}
	return ok;
}

static void od_request_free(struct pgsnap_rq *r)
{
	for (unsigned i = 0; r->tables && i < r->n; i++)
		free(r->tables[i]);
	free(r->tables);
	free(r->where);
}

/* Take the requests queued: each a snapshot of its own, its tables after
 * the ones left (a step, so the checkpoint keeps them); done() says taken
 * or why not.  false when a callback said stop. */
static bool od_take(struct pgsource *m)
{
	struct pgsnap *o = m->od;
	char msg[1024], err[512], id[64];

	for (;;) {
		struct pgsnap_rq r;
		uint64_t sid = o->pos.last_id + 1;
		bool ok = true;

		/* at every poll: no lock unless asked */
		if (atomic_load(&o->pending) == 0)
			return true;
		pthread_mutex_lock(&o->mu);
		r = o->rq[0];
		memmove(o->rq, o->rq + 1, (size_t)(o->nrq - 1) * sizeof(*o->rq));
		o->nrq--;
		atomic_fetch_sub(&o->pending, 1);
		pthread_mutex_unlock(&o->mu);
		if (!od_conn(m, err, sizeof(err))) {
			ok = false;
			snprintf(msg, sizeof(msg), "snapshot: %s", err);
		}
		for (unsigned i = 0; ok && i < r.n; i++)
			ok = od_check(m, r.tables[i], r.where, msg, sizeof(msg));
		if (ok) {
			buf_reset(&o->text);
			for (unsigned i = 0; i < r.n; i++) {
				const char *dot = strchr(r.tables[i], '.');

				buf_printf(&o->text, "q\t%llu\td\t%.*s\t%s\t%s\n", (unsigned long long)sid,
					   (int)(dot - r.tables[i]), r.tables[i], dot + 1,
					   r.where ? r.where : "");
			}
			snprintf(id, sizeof(id), "snapshot-%llu-request", (unsigned long long)sid);
			if (!od_commit(m, NULL, id)) {
				if (r.done)
					r.done(r.arg, false, "rowcast is stopping");
				od_request_free(&r);
				return false;
			}
			snprintf(msg, sizeof(msg), "snapshot %llu: %u table%s queued",
				 (unsigned long long)sid, r.n, r.n == 1 ? "" : "s");
			log_info("%s", msg);
		} else {
			log_warn("%s", msg);
		}
		if (r.done)
			r.done(r.arg, ok, msg);
		od_request_free(&r);
	}
}

/* The first table given up: a step that ends it. */
static bool od_skip(struct pgsource *m, const char *why)
{
	struct pgsnap *o = m->od;

	log_error("snapshot %llu: %s.%s: %s: the table is skipped",
		  (unsigned long long)o->pos.v[0].id, o->pos.v[0].db, o->pos.v[0].table, why);
	od_close_table(m);
	buf_reset(&o->text);
	buf_puts(&o->text, "d\n");
	return od_commit(m, NULL, "snapshot-skip");
}

/* Describe the first table (its relation as pgoutput would send it, and
 * its primary key). */
static bool od_open(struct pgsource *m, char *err, size_t errlen)
{
	struct pgsnap *o = m->od;
	const struct snap_item *it = &o->pos.v[0];
	const char *params[2] = { it->db, it->table };
	PGresult *r;
	struct pgrel *rel;
	char oid[32], replident;

	r = od_run(m, "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n"
		   " ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
		   2, params, PGRES_TUPLES_OK, err, errlen);
	if (!r)
		return false;
	if (PQntuples(r) == 0) {
		PQclear(r);
		snprintf(err, errlen, "no such table");
		return false;
	}
	snprintf(oid, sizeof(oid), "%s", PQgetvalue(r, 0, 0));
	replident = PQgetvalue(r, 0, 1)[0];
	PQclear(r);
	rel = snap_relation(m, o->c, oid, it->db, it->table, replident, err, errlen);
	if (!rel)
		return false;
	o->relid = rel->relid;
	o->rel_for = it->id;
	buf_reset(&m->scratch);
	buf_printf(&m->scratch, "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
		   " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
		   " WHERE i.indrelid = %s AND i.indisprimary"
		   " ORDER BY array_position(i.indkey::int2[], a.attnum)", oid);
	if (!(r = od_run(m, m->scratch.data, 0, NULL, PGRES_TUPLES_OK, err, errlen)))
		return false;
	o->nkey = 0;
	for (int k = 0; k < PQntuples(r) && k < 32; k++)
		for (uint32_t i = 0; i < rel->t.ncols; i++)
			if (!strcmp(rel->t.cols[i].name, PQgetvalue(r, k, 0)))
				o->keycols[o->nkey++] = (int)i;
	if (o->nkey == 0 || o->nkey != PQntuples(r)) {
		PQclear(r);
		o->relid = 0;
		snprintf(err, errlen, "no primary key among its published columns");
		return false;
	}
	PQclear(r);
	if (!o->pos.started)
		log_info("snapshot %llu: %s.%s: reading by its primary key",
			 (unsigned long long)it->id, it->db, it->table);
	return true;
}

/* Key texts kept in the position as hex, comma separated (any byte). */
static void key_hex(struct rc_buf *out, const char *v, int len)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < len; i++) {
		buf_putc(out, hex[(unsigned char)v[i] >> 4]);
		buf_putc(out, hex[(unsigned char)v[i] & 15]);
	}
}

/* Split the position's last key into n parameter texts in buf. */
static bool key_unhex(const char *text, int n, struct rc_buf *buf, const char **out)
{
	size_t start[33];
	int k = 0;

	buf_reset(buf);
	for (const char *p = text;; p++) {
		if (*p == ',' || *p == '\0') {
			buf_putc(buf, '\0');
			if (++k > n || !*p)
				break;
			start[k] = buf->len;
			continue;
		}
		if (!p[1] || p[1] == ',')
			return false;
		{
			char h[3] = { p[0], p[1], 0 };

			buf_putc(buf, (char)strtol(h, NULL, 16));
			p++;
		}
	}
	if (k != n)
		return false;
	start[0] = 0;
	for (int i = 0; i < n; i++)
		out[i] = buf->data + start[i];
	return true;
}

/* Read the next chunk of the first table and write its high-water mark. */
static bool od_read(struct pgsource *m, char *err, size_t errlen)
{
	struct pgsnap *o = m->od;
	struct pgrel *rel = rel_find(m, o->relid);
	const char *params[32];
	struct rc_buf keys = { 0 };
	PGresult *r;
	bool have_last = o->pos.last_key != NULL;

	if (!rel) {
		snprintf(err, errlen, "the table's description is gone");
		return false;
	}
	if (have_last && !key_unhex(o->pos.last_key, o->nkey, &keys, params)) {
		snprintf(err, errlen, "the last key kept (%s) does not have %d parts",
			 o->pos.last_key, o->nkey);
		buf_free(&keys);
		return false;
	}
	buf_reset(&m->scratch);
	buf_puts(&m->scratch, "SELECT ");
	for (uint32_t i = 0; i < rel->t.ncols; i++) {
		if (i)
			buf_putc(&m->scratch, ',');
		if (!quote_on(m, o->c, rel->t.cols[i].name))
			goto fail;
	}
	buf_puts(&m->scratch, " FROM ONLY ");
	if (!quote_on(m, o->c, rel->t.db))
		goto fail;
	buf_putc(&m->scratch, '.');
	if (!quote_on(m, o->c, rel->t.name))
		goto fail;
	buf_puts(&m->scratch, " WHERE true");
	if (have_last) {
		/* the row constructor compares as the index orders: by the server */
		buf_puts(&m->scratch, " AND (");
		for (int k = 0; k < o->nkey; k++) {
			if (k)
				buf_putc(&m->scratch, ',');
			if (!quote_on(m, o->c, rel->t.cols[o->keycols[k]].name))
				goto fail;
		}
		buf_puts(&m->scratch, ") > (");
		for (int k = 0; k < o->nkey; k++)
			buf_printf(&m->scratch, "%s$%d", k ? "," : "", k + 1);
		buf_putc(&m->scratch, ')');
	}
	if (o->pos.v[0].where)
		buf_printf(&m->scratch, " AND (%s)", o->pos.v[0].where);
	buf_puts(&m->scratch, " ORDER BY ");
	for (int k = 0; k < o->nkey; k++) {
		if (k)
			buf_putc(&m->scratch, ',');
		if (!quote_on(m, o->c, rel->t.cols[o->keycols[k]].name))
			goto fail;
	}
	buf_printf(&m->scratch, " LIMIT %d", o->rows_next);
	r = od_run(m, m->scratch.data, have_last ? o->nkey : 0, params, PGRES_TUPLES_OK, err,
		   errlen);
	buf_free(&keys);
	if (!r)
		return false;
	o->held = r;
	o->pace_rows += (uint64_t)PQntuples(r);
	free(o->drop);
	o->drop = calloc((size_t)PQntuples(r) + 1, 1);
	if (!o->drop)
		log_oom();
	/* the high-water mark: every change committed before the SELECT's
	 * snapshot is in the WAL before it */
	snprintf(o->hw, sizeof(o->hw), "%llu:%llu", (unsigned long long)o->pos.v[0].id,
		 (unsigned long long)o->pos.chunks + 1);
	params[0] = o->hw;
	r = od_run(m, "SELECT pg_logical_emit_message(false, '" PG_OD_PREFIX "', $1)", 1, params,
		   PGRES_TUPLES_OK, err, errlen);
	if (!r) {
		PQclear(o->held);
		o->held = NULL;
		return false;
	}
	PQclear(r);
	return true;
fail:
	buf_free(&keys);
	snprintf(err, errlen, "out of memory");
	return false;
}

/* A change streamed while a chunk waits: its key drops the chunk's row. */
static void od_seen(struct pgsource *m, const struct pgrel *rel, const struct ch_image *im)
{
	struct pgsnap *o = m->od;
	struct rc_buf *tmp = &m->scratch;

	if (!o || !o->held || rel->relid != o->relid || !im)
		return;
	for (int row = 0; row < PQntuples(o->held); row++) {
		int k;

		if (o->drop[row])
			continue;
		for (k = 0; k < o->nkey; k++) {
			int c = o->keycols[k];
			uint32_t len;
			const char *v;

			if (im->state[c] != CH_VALUE)
				break;
			v = ch_value(im, (uint32_t)c, &len);
			buf_reset(tmp);
			pgv_render(tmp, rel->oids[c], rel->typmods[c], PQgetvalue(o->held, row, c),
				   (size_t)PQgetlength(o->held, row, c));
			if (tmp->len != len || memcmp(tmp->data, v, len))
				break;
		}
		if (k == o->nkey)
			o->drop[row] = true;
	}
}

/* The stream reached the chunk's high-water mark: hand it over. */
static enum source_result od_emit(struct pgsource *m)
{
	struct pgsnap *o = m->od;
	const struct snap_item *it = &o->pos.v[0];
	struct pgrel *rel = rel_find(m, o->relid);
	struct ch_trx trx = { .ts_ms = 0 };
	struct ch_row row = { 0 };
	int n = PQntuples(o->held);
	bool last = n < o->rows_next;
	uint64_t sent = 0;

	if (!rel)
		return SRC_OK;
	m->snapinfo = (struct ch_snap){ .id = it->id, .db = rel->t.db, .table = rel->t.name,
					.on_demand = it->on_demand, .chunk = o->pos.chunks + 1,
					.first = !o->pos.started, .last = last,
					.rows_before = o->pos.rows };
	snprintf(trx.id, sizeof(trx.id), "snapshot-%llu-%s.%s-%llu", (unsigned long long)it->id,
		 rel->t.db, rel->t.name, (unsigned long long)m->snapinfo.chunk);
	trx.ts_ms = (uint64_t)(pg_now_us() / 1000 + PGO_EPOCH_OFFSET_US / 1000);
	trx.snap = &m->snapinfo;
	if (!m->base.cb.begin(m->base.cb.ctx, &trx))
		return SRC_STOPPED;
	row.table = &rel->t;
	row.op = CH_READ;
	row.after = &m->after;
	for (int k = 0; k < n; k++) {
		if (o->drop[k])
			continue;
		image_of_result(m, rel, o->held, k);
		row.index = sent++;
		trx.nrows = sent;
		if (!m->base.cb.row(m->base.cb.ctx, &trx, &row, "", m->read_lsn))
			return SRC_STOPPED;
	}
	buf_reset(&o->text);
	buf_printf(&o->text, "c\t%llu\t", (unsigned long long)sent);
	for (int k = 0; n > 0 && k < o->nkey; k++) {
		if (k)
			buf_putc(&o->text, ',');
		key_hex(&o->text, PQgetvalue(o->held, n - 1, o->keycols[k]),
			PQgetlength(o->held, n - 1, o->keycols[k]));
	}
	if (n == 0 && o->pos.last_key)
		buf_puts(&o->text, o->pos.last_key);
	buf_puts(&o->text, "\t\n");
	if (last)
		buf_puts(&o->text, "d\n");
	PQclear(o->held);
	o->held = NULL;
	{
		struct source_snap_progress pr = { it->id, rel->t.db, rel->t.name,
						   o->pos.rows + sent, 0, o->pos.chunks + 1,
						   (unsigned)o->pos.n - (last ? 1 : 0),
						   o->pos.tables_done + (last ? 1 : 0),
						   o->pos.rows + sent, last };

		if (m->base.cb.snapshot_progress)
			m->base.cb.snapshot_progress(m->base.cb.ctx, &pr);
	}
	if (!od_commit(m, &trx, NULL))
		return SRC_STOPPED;
	if (last)
		od_close_table(m);
	return SRC_OK;
}

/* Between transactions of the stream: take requests, and read the next
 * chunk when none waits. */
static enum source_result od_step(struct pgsource *m)
{
	struct pgsnap *o = m->od;
	char err[1024];

	if (!od_take(m))
		return SRC_STOPPED;
	if (o->held && o->stale)
		od_close_table(m);	/* described anew, read again */
	if (o->held || o->pos.n == 0)
		return SRC_OK;
	if (o->relid && o->rel_for != o->pos.v[0].id)
		od_close_table(m);
	if (m->base.cb.drain && !m->base.cb.drain(m->base.cb.ctx))
		return SRC_STOPPED;
	if (!o->pace_start_us)
		o->pace_start_us = pg_now_us();
	snap_pace(m, o->pace_start_us, o->pace_rows);
	if (!od_conn(m, err, sizeof(err))) {
		log_warn("snapshot: %s (trying again)", err);
		return SRC_OK;
	}
	if ((!o->relid && !od_open(m, err, sizeof(err))) || !od_read(m, err, sizeof(err))) {
		if (!od_skip(m, err))
			return SRC_STOPPED;
	}
	return SRC_OK;
}

/* The start-up checks: wal_level, the publication, replica identities,
 * the slot (created only when asked and there is no checkpoint). */
static enum source_result check_server(struct pgsource *m, char *err, size_t errlen)
{
	const struct rc_config *cfg = m->base.cfg;
	const char *peer = m->base.peer;
	PGresult *r;
	enum source_result res = SRC_FATAL;
	/* snapshot at the slot's creation: a first start, or one whose
	 * snapshot did not end */
	bool snapshot = m->want_snapshot && (!m->have_ckpt || m->redo_snapshot);

	if (!(r = run(m, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, err, errlen)))
		return SRC_LOST;
	snprintf(m->sysid, sizeof(m->sysid), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (m->ckpt_sysid[0] && strcmp(m->ckpt_sysid, m->sysid)) {
		snprintf(err, errlen,
			 "%s: the checkpoint is of PostgreSQL cluster %s but this server is cluster %s: a checkpoint of another server? (remove it to start afresh)",
			 peer, m->ckpt_sysid, m->sysid);
		return SRC_MISMATCH;
	}
	if (!(r = run(m, "SHOW wal_level", PGRES_TUPLES_OK, err, errlen)))
		return SRC_LOST;
	if (strcmp(PQgetvalue(r, 0, 0), "logical")) {
		snprintf(err, errlen,
			 "%s: wal_level is %s; logical replication needs wal_level = logical (ALTER SYSTEM SET wal_level = logical, then restart the server)",
			 peer, PQgetvalue(r, 0, 0));
		PQclear(r);
		return SRC_FATAL;
	}
	PQclear(r);

	/* the publication */
	buf_reset(&m->scratch);
	buf_puts(&m->scratch, "SELECT pubupdate OR pubdelete FROM pg_publication WHERE pubname = ");
	if (!quote(m, cfg->src_publication, false))
		goto lost;
	if (!(r = run(m, m->scratch.data, PGRES_TUPLES_OK, err, errlen)))
		return SRC_LOST;
	if (PQntuples(r) == 0) {
		PQclear(r);
		if (!cfg->src_create_publication) {
			snprintf(err, errlen,
				 "%s: publication %s does not exist: CREATE PUBLICATION %s FOR TABLE ... (or FOR ALL TABLES), or set [source] create_publication = yes",
				 peer, cfg->src_publication, cfg->src_publication);
			return SRC_FATAL;
		}
		buf_reset(&m->scratch);
		buf_puts(&m->scratch, "CREATE PUBLICATION ");
		if (!quote(m, cfg->src_publication, true))
			goto lost;
		buf_puts(&m->scratch, " FOR ALL TABLES");
		if (!(r = run(m, m->scratch.data, PGRES_COMMAND_OK, err, errlen)))
			return SRC_FATAL;
		log_info("%s: created publication %s for all tables", peer, cfg->src_publication);
	}
	PQclear(r);

	/* published tables whose UPDATE and DELETE would fail */
	buf_reset(&m->scratch);
	buf_puts(&m->scratch,
		 "SELECT format('%I.%I', pt.schemaname, pt.tablename) FROM pg_publication_tables pt"
		 " JOIN pg_publication p ON p.pubname = pt.pubname"
		 " JOIN pg_namespace n ON n.nspname = pt.schemaname"
		 " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename"
		 " WHERE (p.pubupdate OR p.pubdelete) AND (c.relreplident = 'n' OR"
		 " (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i"
		 " WHERE i.indrelid = c.oid AND i.indisprimary)))"
		 " AND pt.pubname = ");
	if (!quote(m, cfg->src_publication, false))
		goto lost;
	buf_puts(&m->scratch, " ORDER BY 1 LIMIT 1");
	if (!(r = run(m, m->scratch.data, PGRES_TUPLES_OK, err, errlen)))
		return SRC_LOST;
	if (PQntuples(r) > 0) {
		snprintf(err, errlen,
			 "%s: table %s is in publication %s but has no replica identity (no primary key): the application's own UPDATE and DELETE on it fail; add a primary key or ALTER TABLE %s REPLICA IDENTITY FULL",
			 peer, PQgetvalue(r, 0, 0), cfg->src_publication, PQgetvalue(r, 0, 0));
		PQclear(r);
		return SRC_FATAL;
	}
	PQclear(r);

	/* the slot; active for a moment after our own previous session */
	for (int tries = 0;; tries++) {
		const char *pid;

		buf_reset(&m->scratch);
		buf_puts(&m->scratch,
			 "SELECT plugin, active_pid, wal_status, confirmed_flush_lsn, database"
			 " FROM pg_replication_slots WHERE slot_type = 'logical' AND slot_name = ");
		if (!quote(m, cfg->src_slot, false))
			goto lost;
		if (!(r = run(m, m->scratch.data, PGRES_TUPLES_OK, err, errlen)))
			return SRC_LOST;
		if (PQntuples(r) > 0 && snapshot && !PQgetvalue(r, 0, 1)[0]) {
			/* the initial snapshot needs the slot's own exported
			 * snapshot: a slot left by a start that did not finish
			 * its snapshot is made again */
			PQclear(r);
			if (!cfg->src_create_slot) {
				snprintf(err, errlen,
					 "%s: [snapshot] mode needs a slot rowcast creates (its exported snapshot meets its stream), but slot %s exists and create_slot = no: drop it, or set create_slot = yes",
					 peer, cfg->src_slot);
				return SRC_FATAL;
			}
			buf_reset(&m->scratch);
			buf_puts(&m->scratch, "DROP_REPLICATION_SLOT ");
			if (!quote(m, cfg->src_slot, true))
				goto lost;
			if (!(r = run(m, m->scratch.data, PGRES_COMMAND_OK, err, errlen)))
				return SRC_LOST;
			PQclear(r);
			log_warn("%s: dropped replication slot %s: its snapshot did not finish (or there is no checkpoint); made again with a new snapshot",
				 peer, cfg->src_slot);
			continue;
		}
		if (PQntuples(r) == 0) {
			PQclear(r);
			if (m->have_ckpt && !snapshot) {
				snprintf(err, errlen,
					 "%s: replication slot %s does not exist, but the checkpoint resumes from it: the changes since are lost (a fail-over to a standby, or the slot was dropped); it is not created again silently: take a new snapshot, then remove the checkpoint and start with create_slot = yes",
					 peer, cfg->src_slot);
				return SRC_FATAL;
			}
			if (!cfg->src_create_slot) {
				snprintf(err, errlen,
					 "%s: replication slot %s does not exist: SELECT pg_create_logical_replication_slot('%s', 'pgoutput'), or set [source] create_slot = yes",
					 peer, cfg->src_slot, cfg->src_slot);
				return SRC_FATAL;
			}
			buf_reset(&m->scratch);
			buf_puts(&m->scratch, "CREATE_REPLICATION_SLOT ");
			if (!quote(m, cfg->src_slot, true))
				goto lost;
			buf_printf(&m->scratch, " LOGICAL pgoutput (SNAPSHOT '%s')",
				   snapshot ? "export" : "nothing");
			if (!(r = run(m, m->scratch.data, PGRES_TUPLES_OK, err, errlen)))
				return SRC_FATAL;
			log_info("%s: created replication slot %s at %s", peer, cfg->src_slot,
				 PQgetvalue(r, 0, 1));
			if (snapshot) {
				uint64_t at = 0;
				char name[128];

				lsn_parse(PQgetvalue(r, 0, 1), &at);
				snprintf(name, sizeof(name), "%s", PQgetvalue(r, 0, 2));
				PQclear(r);
				res = initial_snapshot(m, name, at, err, errlen);
				if (res != SRC_OK)
					return res;
				m->read_lsn = at;
				break;
			}
			PQclear(r);
			break;
		}
		if (strcmp(PQgetvalue(r, 0, 0), "pgoutput")) {
			snprintf(err, errlen,
				 "%s: replication slot %s uses plugin %s; rowcast needs pgoutput",
				 peer, cfg->src_slot, PQgetvalue(r, 0, 0));
			PQclear(r);
			return SRC_FATAL;
		}
		if (!strcmp(PQgetvalue(r, 0, 2), "lost")) {
			snprintf(err, errlen,
				 "%s: replication slot %s is lost (wal_status lost: the server removed WAL it still needed, see max_slot_wal_keep_size): its changes are gone; drop the slot, take a new snapshot, remove the checkpoint and start again",
				 peer, cfg->src_slot);
			PQclear(r);
			return SRC_FATAL;
		}
		pid = PQgetvalue(r, 0, 1);
		if (!pid[0]) {
			PQclear(r);
			break;
		}
		if (tries >= 25) {
			snprintf(err, errlen,
				 "%s: replication slot %s is active for PID %s: another rowcast or consumer reads it; stop that one (or SELECT pg_terminate_backend(%s) if it is a stale session)",
				 peer, cfg->src_slot, pid, pid);
			PQclear(r);
			res = SRC_LOST;
			return res;
		}
		PQclear(r);
		if (!wait_fd(m, -1, 0, 200)) {
			snprintf(err, errlen, "%s: interrupted", peer);
			return SRC_LOST;
		}
	}
	return SRC_OK;
lost:
	snprintf(err, errlen, "%s: %s", peer, PQerrorMessage(m->conn));
	return SRC_LOST;
}

/* ---- relations ---- */

static struct pgrel *rel_find(struct pgsource *m, uint32_t relid)
{
	for (size_t i = 0; i < m->nrels; i++)
		if (m->rels[i].relid == relid)
			return &m->rels[i];
	return NULL;
}

static void rel_clear(struct pgsource *m, struct pgrel *r)
{
	m->base.cb.table_gone(m->base.cb.ctx, &r->t);
	ch_table_free_caches(&r->t);
	free((char *)r->t.db);
	free((char *)r->t.name);
	free(r->t.cols);
	free((uint32_t *)r->t.pk);
	free(r->oids);
	free(r->typmods);
	free(r->key);
	free(r->names);
	memset(r, 0, sizeof(*r));
}

/* The change model's type of a PostgreSQL type OID, and its name. */
static uint8_t type_of(uint32_t oid, const char **name)
{
	static const struct { uint32_t oid; uint8_t t; const char *n; } map[] = {
		{ 16, CT_BOOL, "boolean" }, { 17, CT_BINARY, "bytea" },
		{ 18, CT_STRING, "char" }, { 19, CT_STRING, "name" },
		{ 20, CT_INT, "bigint" }, { 21, CT_INT, "smallint" },
		{ 23, CT_INT, "integer" }, { 25, CT_STRING, "text" },
		{ 26, CT_UINT, "oid" }, { 114, CT_JSON, "json" },
		{ 700, CT_FLOAT, "real" }, { 701, CT_DOUBLE, "double precision" },
		{ 790, CT_OTHER, "money" }, { 869, CT_OTHER, "inet" },
		{ 650, CT_OTHER, "cidr" }, { 1042, CT_STRING, "character" },
		{ 1043, CT_STRING, "character varying" }, { 1082, CT_DATE, "date" },
		{ 1083, CT_TIME, "time without time zone" },
		{ 1114, CT_DATETIME, "timestamp without time zone" },
		{ 1184, CT_TIMESTAMP, "timestamp with time zone" },
		{ 1186, CT_INTERVAL, "interval" },
		{ 1266, CT_TIME, "time with time zone" }, { 1560, CT_BIT, "bit" },
		{ 1562, CT_BIT, "bit varying" }, { 1700, CT_DECIMAL, "numeric" },
		{ 2950, CT_UUID, "uuid" }, { 3802, CT_JSON, "jsonb" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].oid == oid) {
			*name = map[i].n;
			return map[i].t;
		}
	*name = pgv_array_elem(oid) ? "array" : "other";
	return CT_OTHER;
}

static char *dup_str(const struct pgo_str *s)
{
	char *d = strndup(s->p, s->len);

	if (!d)
		log_oom();
	return d;
}

/* Does msg describe r as it is? */
static bool rel_same(const struct pgrel *r, const struct pgo_msg *msg)
{
	const struct pgo_str *ns = &msg->u.relation.nspname, *rn = &msg->u.relation.relname;

	if (r->t.ncols != msg->u.relation.ncols || r->replident != msg->u.relation.replident ||
	    strlen(r->t.db) != ns->len || memcmp(r->t.db, ns->p, ns->len) ||
	    strlen(r->t.name) != rn->len || memcmp(r->t.name, rn->p, rn->len))
		return false;
	for (uint32_t i = 0; i < r->t.ncols; i++) {
		const struct pgo_relcol *c = &msg->u.relation.cols[i];

		if (r->t.cols[i].name_len != c->name.len ||
		    memcmp(r->t.cols[i].name, c->name.p, c->name.len) ||
		    r->oids[i] != c->type_oid || r->typmods[i] != c->typmod ||
		    r->key[i] != (bool)(c->flags & 1))
			return false;
	}
	return true;
}

/* A Relation message: (re)describe the table; *changed: it was known,
 * and is not the same now (a DDL). */
static struct pgrel *rel_define(struct pgsource *m, const struct pgo_msg *msg, bool *changed)
{
	struct pgrel *r = rel_find(m, msg->u.relation.relid);
	uint32_t n = msg->u.relation.ncols, npk = 0;
	size_t namelen = 0;
	uint32_t *pk;
	char *np;

	*changed = false;
	if (r) {
		/* sent again after a reconnect (the same), or after a DDL */
		if (rel_same(r, msg))
			return r;
		*changed = true;
		rel_clear(m, r);
	} else {
		if (m->nrels == m->caprels) {
			m->caprels = m->caprels ? 2 * m->caprels : 16;
			m->rels = realloc(m->rels, m->caprels * sizeof(*m->rels));
			if (!m->rels)
				log_oom();
		}
		r = &m->rels[m->nrels++];
		memset(r, 0, sizeof(*r));
	}
	r->relid = msg->u.relation.relid;
	r->replident = msg->u.relation.replident;
	r->t.db = dup_str(&msg->u.relation.nspname);
	r->t.name = dup_str(&msg->u.relation.relname);
	r->t.ncols = n;
	r->t.names_known = true;
	r->t.cols = calloc(n ? n : 1, sizeof(*r->t.cols));
	r->oids = calloc(n ? n : 1, sizeof(*r->oids));
	r->typmods = calloc(n ? n : 1, sizeof(*r->typmods));
	r->key = calloc(n ? n : 1, sizeof(*r->key));
	pk = calloc(n ? n : 1, sizeof(*pk));
	for (uint32_t i = 0; i < n; i++)
		namelen += msg->u.relation.cols[i].name.len + 1;
	r->names = np = malloc(namelen ? namelen : 1);
	if (!r->t.cols || !r->oids || !r->typmods || !r->key || !pk || !np)
		log_oom();
	for (uint32_t i = 0; i < n; i++) {
		const struct pgo_relcol *rc = &msg->u.relation.cols[i];
		struct ch_column *c = &r->t.cols[i];

		memcpy(np, rc->name.p, rc->name.len);
		np[rc->name.len] = '\0';
		c->name = np;
		c->name_len = (uint32_t)rc->name.len;
		np += rc->name.len + 1;
		c->type = type_of(rc->type_oid, &c->native_type);
		c->nullable = !(rc->flags & 1);
		if (rc->type_oid == 1700 && rc->typmod >= 4) {
			c->precision = (uint8_t)(((rc->typmod - 4) >> 16) & 0xff);
			c->scale = (uint8_t)((rc->typmod - 4) & 0xff);
		}
		if ((rc->type_oid == 1560 || rc->type_oid == 1562) && rc->typmod > 0)
			c->bits = (uint16_t)rc->typmod;
		if ((rc->type_oid == 1114 || rc->type_oid == 1184 || rc->type_oid == 1083 ||
		     rc->type_oid == 1266) && rc->typmod >= 0)
			c->fsp = (uint8_t)rc->typmod;
		r->oids[i] = rc->type_oid;
		r->typmods[i] = rc->typmod;
		r->key[i] = rc->flags & 1;
		if (r->key[i])
			pk[npk++] = i;
	}
	r->t.pk = pk;
	r->t.npk = npk;
	return r;
}

/* Fill im from a tuple; key_only: a 'K' tuple, whose other columns are
 * not sent (absent, not null). */
static void fill_image(struct pgsource *m, const struct pgrel *r, const struct pgo_tuple *tu,
		       bool key_only, struct ch_image *im)
{
	ch_image_fit(im, r->t.ncols);
	buf_reset(&im->text);
	(void)m;
	for (uint32_t i = 0; i < r->t.ncols; i++) {
		const struct pgo_col *c = i < tu->ncols ? &tu->cols[i] : NULL;

		im->off[i] = (uint32_t)im->text.len;
		im->len[i] = 0;
		if (!c || (key_only && !r->key[i]) || c->kind == PGO_COL_UNCHANGED) {
			im->state[i] = CH_ABSENT;	/* not sent: never null */
		} else if (c->kind == PGO_COL_NULL) {
			im->state[i] = CH_NULL;
		} else {
			pgv_render(&im->text, r->oids[i], r->typmods[i], c->data, c->len);
			im->len[i] = (uint32_t)(im->text.len - im->off[i]);
			im->state[i] = CH_VALUE;
		}
	}
}

/* An update without an old tuple (the key did not change): the before
 * image holds the key columns of the new row. */
static void key_from_new(const struct pgrel *r, const struct ch_image *after,
			 struct ch_image *im)
{
	ch_image_fit(im, r->t.ncols);
	buf_reset(&im->text);
	for (uint32_t i = 0; i < r->t.ncols; i++) {
		im->off[i] = (uint32_t)im->text.len;
		im->len[i] = 0;
		im->state[i] = CH_ABSENT;
		if (r->key[i] && after->state[i] != CH_ABSENT) {
			im->state[i] = after->state[i];
			buf_append(&im->text, after->text.data + after->off[i], after->len[i]);
			im->len[i] = after->len[i];
		}
	}
}

/* ---- the stream ---- */

static bool send_status(struct pgsource *m, bool reply, char *err, size_t errlen)
{
	uint8_t msg[PGO_STATUS_UPDATE_LEN];
	uint64_t flush = atomic_load(&m->durable);

	if (flush < m->flushed)
		flush = m->flushed;	/* an idle advance */
	pgo_build_status_update(msg, m->received > flush ? m->received : flush, flush, flush,
				pg_now_us(), reply);
	if (PQputCopyData(m->conn, (const char *)msg, sizeof(msg)) != 1 || PQflush(m->conn) < 0) {
		snprintf(err, errlen, "%s: cannot send a status update: %s", m->base.peer,
			 PQerrorMessage(m->conn));
		err[strcspn(err, "\n")] = '\0';
		return false;
	}
	m->flushed = flush;
	m->last_status_us = pg_now_us();
	return true;
}

static void msgt_clear(struct pgsource *m)
{
	if (!m->msgt.name)
		return;
	m->base.cb.table_gone(m->base.cb.ctx, &m->msgt);
	ch_table_free_caches(&m->msgt);
	free(m->msgt.cols);
	free((char *)m->msgt.name);
	memset(&m->msgt, 0, sizeof(m->msgt));
	buf_reset(&m->msgkeys);
}

/* A pg_logical_emit_message() with the configured prefix: its JSON object
 * as an inserted row of pg_message.PREFIX, one column per key. */
static enum source_result on_outbox_message(struct pgsource *m, const struct pgo_msg *msg,
					    uint64_t lsn)
{
	cJSON *js = cJSON_ParseWithLength(msg->u.message.content.p, msg->u.message.content.len);
	const cJSON *it;
	struct rc_buf keys = { 0 };
	struct ch_row row;
	uint32_t n = 0, i = 0;

	if (!cJSON_IsObject(js)) {
		log_warn("%s: at LSN %X/%X: a message with prefix %s is not a JSON object: skipped",
			 m->base.peer, (unsigned)(lsn >> 32), (unsigned)lsn,
			 m->base.cfg->src_message_prefix);
		cJSON_Delete(js);
		return SRC_OK;
	}
	cJSON_ArrayForEach(it, js) {
		buf_puts(&keys, it->string);
		buf_putc(&keys, '\n');
		n++;
	}
	if (!m->msgt.name || keys.len != m->msgkeys.len ||
	    memcmp(keys.data ? keys.data : "", m->msgkeys.data ? m->msgkeys.data : "", keys.len)) {
		char *np;

		msgt_clear(m);
		buf_reset(&m->msgkeys);
		buf_append(&m->msgkeys, keys.data ? keys.data : "", keys.len);
		buf_reset(&m->msgnames);
		buf_append(&m->msgnames, keys.data ? keys.data : "", keys.len);
		m->msgt.db = "pg_message";
		m->msgt.name = strdup(m->base.cfg->src_message_prefix);
		m->msgt.cols = calloc(n ? n : 1, sizeof(*m->msgt.cols));
		if (!m->msgt.name || !m->msgt.cols)
			log_oom();
		m->msgt.ncols = n;
		m->msgt.names_known = true;
		np = m->msgnames.data;
		for (uint32_t k = 0; k < n; k++) {
			char *nl = strchr(np, '\n');

			*nl = '\0';
			m->msgt.cols[k].name = np;
			m->msgt.cols[k].name_len = (uint32_t)(nl - np);
			m->msgt.cols[k].type = CT_JSON;
			m->msgt.cols[k].nullable = true;
			m->msgt.cols[k].native_type = "json";
			np = nl + 1;
		}
	}
	buf_free(&keys);
	ch_image_fit(&m->after, n);
	buf_reset(&m->after.text);
	cJSON_ArrayForEach(it, js) {
		char *t = cJSON_PrintUnformatted(it);

		if (!t)
			log_oom();
		m->after.off[i] = (uint32_t)m->after.text.len;
		m->after.state[i] = cJSON_IsNull(it) ? CH_NULL : CH_VALUE;
		if (!cJSON_IsNull(it))
			buf_puts(&m->after.text, t);
		m->after.len[i] = (uint32_t)(m->after.text.len - m->after.off[i]);
		free(t);
		i++;
	}
	cJSON_Delete(js);
	memset(&row, 0, sizeof(row));
	row.table = &m->msgt;
	row.op = CH_INSERT;
	row.after = &m->after;
	row.index = m->trx.nrows++;
	if (!m->base.cb.row(m->base.cb.ctx, &m->trx, &row, "", lsn))
		return SRC_STOPPED;
	return SRC_OK;
}

static enum source_result on_xlog(struct pgsource *m, const struct pgo_xlogdata *x, char *err,
				  size_t errlen)
{
	struct pgo_msg msg;
	struct pgo_error pe;
	struct pgrel *r;
	struct ch_row row;

	m->received = x->start_lsn;
	if (x->end_lsn > m->server_end)
		m->server_end = x->end_lsn;
	if (!pgo_parse(&m->ps, x->data, x->len, &msg, &pe)) {
		snprintf(err, errlen, "%s: at LSN %X/%X: %s", m->base.peer,
			 (unsigned)(x->start_lsn >> 32), (unsigned)x->start_lsn, pe.msg);
		return SRC_DECODE;
	}
	switch (msg.kind) {
	case PGO_BEGIN:
		memset(&m->trx, 0, sizeof(m->trx));
		lsn_format(msg.u.begin.final_lsn, m->trx.id, sizeof(m->trx.id));
		/* the commit LSN is the transaction's global id in the stream */
		memcpy(m->trx.gtid, m->trx.id, sizeof(m->trx.gtid));
		m->trx.ts_ms = (uint64_t)((msg.u.begin.commit_time + PGO_EPOCH_OFFSET_US) / 1000);
		m->in_trx = true;
		if (!m->base.cb.begin(m->base.cb.ctx, &m->trx))
			return SRC_STOPPED;
		return SRC_OK;
	case PGO_RELATION: {
		bool changed;

		r = rel_define(m, &msg, &changed);
		if (changed && m->od->relid == r->relid)
			m->od->stale = true;	/* a chunk waiting is read again */
		if (!changed || !m->in_trx)
			return SRC_OK;
		/* DDL is not in the stream: the new description is what shows
		 * it, before the first change that follows it */
		buf_reset(&m->scratch);
		buf_printf(&m->scratch, "ALTER TABLE `%s`.`%s` /* described anew by the server:",
			   r->t.db, r->t.name);
		for (uint32_t i = 0; i < r->t.ncols; i++)
			buf_printf(&m->scratch, "%s %s %s", i ? "," : "", r->t.cols[i].name,
				   r->t.cols[i].native_type);
		buf_puts(&m->scratch, " */");
		log_info("%s: table %s.%s changed: %s", m->base.peer, r->t.db, r->t.name,
			 m->scratch.data);
		if (!m->base.cb.ddl(m->base.cb.ctx, &m->trx, r->t.db, m->scratch.data,
				    m->scratch.len))
			return SRC_STOPPED;
		return SRC_OK;
	}
	case PGO_INSERT:
	case PGO_UPDATE:
	case PGO_DELETE:
		if (!m->in_trx || !(r = rel_find(m, msg.u.change.relid))) {
			snprintf(err, errlen, "%s: at LSN %X/%X: a change of relation %u %s",
				 m->base.peer, (unsigned)(x->start_lsn >> 32),
				 (unsigned)x->start_lsn, msg.u.change.relid,
				 m->in_trx ? "that was never described" : "outside a transaction");
			return SRC_DECODE;
		}
		memset(&row, 0, sizeof(row));
		row.table = &r->t;
		row.index = m->trx.nrows;
		if (msg.kind == PGO_INSERT) {
			row.op = CH_INSERT;
			fill_image(m, r, &msg.u.change.new, false, &m->after);
			row.after = &m->after;
		} else if (msg.kind == PGO_UPDATE) {
			row.op = CH_UPDATE;
			fill_image(m, r, &msg.u.change.new, false, &m->after);
			if (msg.u.change.old_kind)
				fill_image(m, r, &msg.u.change.old, msg.u.change.old_kind == 'K',
					   &m->before);
			else
				key_from_new(r, &m->after, &m->before);
			row.before = &m->before;
			row.after = &m->after;
		} else {
			row.op = CH_DELETE;
			fill_image(m, r, &msg.u.change.old, msg.u.change.old_kind != 'O',
				   &m->before);
			row.before = &m->before;
		}
		m->trx.nrows++;
		if (m->od->held) {
			od_seen(m, r, row.before);
			od_seen(m, r, row.after);
		}
		if (!m->base.cb.row(m->base.cb.ctx, &m->trx, &row, "", x->start_lsn))
			return SRC_STOPPED;
		return SRC_OK;
	case PGO_TRUNCATE:
		/* an event per relation, numbered on over the transaction's
		 * Truncate messages in the server's order (ids @truncate0,
		 * @truncate1, ...): one transaction may truncate many tables, in
		 * one statement or several */
		for (uint32_t i = 0; i < msg.u.truncate.nrels; i++, m->trx.table_events++) {
			r = rel_find(m, pgo_truncate_relid(&msg, i));
			if (!r)
				continue;
			if (m->od->relid == r->relid)
				m->od->stale = true;
			buf_reset(&m->scratch);
			buf_printf(&m->scratch, "TRUNCATE TABLE `%s`.`%s`", r->t.db, r->t.name);
			if (!m->base.cb.ddl(m->base.cb.ctx, &m->trx, r->t.db, m->scratch.data,
					    m->scratch.len))
				return SRC_STOPPED;
		}
		return SRC_OK;
	case PGO_MESSAGE:
		if (m->od->held && !(msg.u.message.flags & 1) &&
		    msg.u.message.prefix.len == strlen(PG_OD_PREFIX) &&
		    !memcmp(msg.u.message.prefix.p, PG_OD_PREFIX, msg.u.message.prefix.len) &&
		    msg.u.message.content.len == strlen(m->od->hw) &&
		    !memcmp(msg.u.message.content.p, m->od->hw, msg.u.message.content.len))
			return od_emit(m);	/* the chunk's high-water mark */
		if (!m->base.cfg->src_message_prefix[0] || !(msg.u.message.flags & 1) ||
		    !m->in_trx || strlen(m->base.cfg->src_message_prefix) != msg.u.message.prefix.len ||
		    memcmp(m->base.cfg->src_message_prefix, msg.u.message.prefix.p,
			   msg.u.message.prefix.len))
			return SRC_OK;
		return on_outbox_message(m, &msg, x->start_lsn);
	case PGO_COMMIT: {
		uint64_t end = msg.u.commit.end_lsn;

		m->in_trx = false;
		if (!m->base.cb.commit(m->base.cb.ctx, &m->trx, &end, sizeof(end)))
			return SRC_STOPPED;
		m->read_lsn = end;
		return SRC_OK;
	}
	default:
		return SRC_OK;	/* origin, type, message: nothing to hand over */
	}
}

static enum source_result p_start_position(struct source *s, char **out, char *err,
					   size_t errlen)
{
	(void)s;
	(void)err;
	(void)errlen;
	*out = strdup("current");	/* the slot keeps where to start */
	if (!*out)
		log_oom();
	return SRC_OK;
}

static void p_disconnect(struct source *s)
{
	struct pgsource *m = (struct pgsource *)s;

	if (m->conn)
		PQfinish(m->conn);
	m->conn = NULL;
	m->streaming = false;
	m->in_trx = false;
	if (m->od && m->od->held) {
		/* its mark may not come again: read the chunk again */
		PQclear(m->od->held);
		m->od->held = NULL;
	}
	/* relations are kept: the next connection describes them again, and
	 * one that changed meanwhile is seen as a change */
}

static enum source_result p_start(struct source *s, const struct source_pos *from, char *err,
				  size_t errlen)
{
	struct pgsource *m = (struct pgsource *)s;
	const struct rc_config *cfg = s->cfg;
	bool fatal = false;
	enum source_result res;
	PGresult *r;
	char lsn[32];

	/* an interrupt() byte still in the pipe stays: it is a stop that
	 * came between polls, and the first poll() returns for it */
	if (from) {
		snap_pos_copy(&m->od->pos, &from->od);
		m->read_lsn = from->lsn;
		snprintf(m->ckpt_sysid, sizeof(m->ckpt_sysid), "%s", from->sysid);
		atomic_store(&m->durable, from->lsn);
	}
	if (!pg_connect(m, &fatal, err, errlen))
		return fatal ? SRC_FATAL : SRC_LOST;
	res = check_server(m, err, errlen);
	if (res != SRC_OK) {
		p_disconnect(s);
		return res;
	}
	lsn_format(m->read_lsn, lsn, sizeof(lsn));
	buf_reset(&m->scratch);
	buf_puts(&m->scratch, "START_REPLICATION SLOT ");
	if (!quote(m, cfg->src_slot, true)) {
		p_disconnect(s);
		return SRC_LOST;
	}
	buf_printf(&m->scratch, " LOGICAL %s (proto_version '1', publication_names ", lsn);
	{
		char *pub = PQescapeIdentifier(m->conn, cfg->src_publication,
					       strlen(cfg->src_publication));
		char *lit = pub ? PQescapeLiteral(m->conn, pub, strlen(pub)) : NULL;

		if (lit)
			buf_puts(&m->scratch, lit);
		PQfreemem(pub);
		PQfreemem(lit);
		if (!lit) {
			p_disconnect(s);
			return SRC_LOST;
		}
	}
	buf_puts(&m->scratch, ", messages 'true')");
	if (!(r = run(m, m->scratch.data, PGRES_COPY_BOTH, err, errlen))) {
		p_disconnect(s);
		return SRC_LOST;
	}
	PQclear(r);
	if (PQsetnonblocking(m->conn, 1) != 0) {
		snprintf(err, errlen, "%s: PQsetnonblocking: %s", m->base.peer,
			 PQerrorMessage(m->conn));
		p_disconnect(s);
		return SRC_LOST;
	}
	m->streaming = true;
	m->flushed = atomic_load(&m->durable);
	m->last_status_us = pg_now_us();
	s->clock_offset_ms = 0;
	log_info("%s: streaming slot %s (publication %s, system %s) from %s", m->base.peer,
		 cfg->src_slot, cfg->src_publication, m->sysid,
		 m->read_lsn ? lsn : "the slot's confirmed position");
	return SRC_OK;
}

/* The initial snapshot is taken at the slot's creation (check_server);
 * a snapshot of chosen tables while running is MariaDB's only, for now. */
static bool p_snapshot(struct source *s, const struct source_snap_request *rq, char *err,
		       size_t errlen)
{
	struct pgsource *m = (struct pgsource *)s;
	struct pgsnap *o = m->od;
	struct pgsnap_rq r = { 0 };

	if (rq->all && !rq->on_demand && !rq->where)
		return true;	/* the initial one: at the slot's creation */
	if (rq->all || rq->ntables == 0) {
		snprintf(err, errlen, "PostgreSQL: name the tables (schema.table) to snapshot");
		return false;
	}
	for (unsigned i = 0; i < rq->ntables; i++) {
		const char *dot = strchr(rq->tables[i], '.');

		if (!dot || dot == rq->tables[i] || !dot[1] || dot - rq->tables[i] > 200) {
			snprintf(err, errlen, "'%s' is not schema.table", rq->tables[i]);
			return false;
		}
	}
	r.tables = calloc(rq->ntables, sizeof(char *));
	if (!r.tables)
		log_oom();
	for (unsigned i = 0; i < rq->ntables; i++)
		if (!(r.tables[i] = strdup(rq->tables[i])))
			log_oom();
	r.n = rq->ntables;
	r.where = rq->where && rq->where[0] ? strdup(rq->where) : NULL;
	r.done = rq->done;
	r.arg = rq->arg;
	pthread_mutex_lock(&o->mu);
	if (o->nrq == o->caprq) {
		o->caprq = o->caprq ? 2 * o->caprq : 4;
		o->rq = realloc(o->rq, (size_t)o->caprq * sizeof(*o->rq));
		if (!o->rq)
			log_oom();
	}
	o->rq[o->nrq++] = r;
	atomic_fetch_add(&o->pending, 1);
	pthread_mutex_unlock(&o->mu);
	/* taken by the reader at the next transaction boundary: wake it */
	if (write(m->wake[1], "s", 1) < 0) {
		/* full: it wakes anyway */
	}
	return true;
}

static enum source_result p_poll(struct source *s, char *err, size_t errlen)
{
	struct pgsource *m = (struct pgsource *)s;
	int64_t period_us = (int64_t)s->cfg->src_heartbeat_s * 1000000;

	if (m->snapshot_done && s->cfg->snap_mode == SNAP_INITIAL_ONLY) {
		/* everything acknowledged, then the run ends */
		if (s->cb.drain && !s->cb.drain(s->cb.ctx))
			return SRC_STOPPED;
		return SRC_DONE;
	}

	for (;;) {
		char *buf = NULL;
		int n;
		int64_t now = pg_now_us(), wait_ms;
		uint64_t durable = atomic_load(&m->durable);
		struct pollfd pf[2];

		if (!m->in_trx) {
			enum source_result sr = od_step(m);

			if (sr != SRC_OK)
				return sr;
		}

		if (durable > m->flushed || now - m->last_status_us >= period_us) {
			if (!send_status(m, false, err, errlen))
				return SRC_LOST;
		}
		n = PQgetCopyData(m->conn, &buf, 1);
		if (n > 0) {
			struct pgo_frame f;
			struct pgo_error pe;
			enum source_result res = SRC_OK;

			if (!pgo_parse_frame((const uint8_t *)buf, (size_t)n, &f, &pe)) {
				snprintf(err, errlen, "%s: %s", m->base.peer, pe.msg);
				res = SRC_DECODE;
			} else if (f.kind == 'w') {
				res = on_xlog(m, &f.u.xlog, err, errlen);
			} else {
				const struct pgo_keepalive *k = &f.u.keepalive;

				if (k->end_lsn > m->server_end)
					m->server_end = k->end_lsn;
				/* idle: all handed over is on disk, so the
				 * server may forget up to its WAL end */
				if (!m->in_trx && atomic_load(&m->durable) >= m->read_lsn &&
				    k->end_lsn > m->flushed)
					m->flushed = k->end_lsn;
				m->base.cb.heartbeat(m->base.cb.ctx);
				if (k->reply_requested && !send_status(m, false, err, errlen))
					res = SRC_LOST;
			}
			PQfreemem(buf);
			return res;
		}
		if (n == -2) {
			snprintf(err, errlen, "%s: %s", m->base.peer, PQerrorMessage(m->conn));
			err[strcspn(err, "\n")] = '\0';
			return SRC_LOST;
		}
		if (n == -1) {
			PGresult *r = PQgetResult(m->conn);

			snprintf(err, errlen, "%s: the server ended the stream: %s", m->base.peer,
				 r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) :
				 "no error given");
			err[strcspn(err, "\n")] = '\0';
			PQclear(r);
			return SRC_LOST;
		}
		pf[0].fd = PQsocket(m->conn);
		pf[0].events = POLLIN;
		pf[1].fd = m->wake[0];
		pf[1].events = POLLIN;
		wait_ms = (m->last_status_us + period_us - pg_now_us()) / 1000 + 1;
		if (wait_ms > 1000)
			wait_ms = 1000;	/* confirm() news within a second */
		if (wait_ms < 0)
			wait_ms = 0;
		if (poll(pf, 2, (int)wait_ms) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return SRC_LOST;
		}
		if (pf[1].revents) {
			char c;
			bool stop = false;

			while (read(m->wake[0], &c, 1) == 1)
				stop |= c != 's';	/* 's': a snapshot request only */
			if (stop) {
				snprintf(err, errlen, "%s: interrupted", m->base.peer);
				return SRC_LOST;
			}
		}
		if (pf[0].revents && !PQconsumeInput(m->conn)) {
			snprintf(err, errlen, "%s: %s", m->base.peer, PQerrorMessage(m->conn));
			err[strcspn(err, "\n")] = '\0';
			return SRC_LOST;
		}
	}
}

static void p_read_position(struct source *s, struct rc_buf *out)
{
	char t[32];

	lsn_format(((struct pgsource *)s)->read_lsn, t, sizeof(t));
	buf_puts(out, t);
}

/* Bytes of WAL the slot keeps on the server's disk (from its restart_lsn
 * to the end of WAL), asked on a plain connection of its own: what a
 * stalled broker makes grow. */
static enum source_lag p_lag(struct source *s, int64_t *bytes, char *err, size_t errlen)
{
	struct pgsource *m = (struct pgsource *)s;
	PGresult *r;
	enum source_lag res = LAG_ERROR;

	if (!m->side || PQstatus(m->side) != CONNECTION_OK) {
		PQfinish(m->side);
		m->side = pg_open(m, false);
		if (m->side && PQstatus(m->side) != CONNECTION_BAD &&
		    connect_wait(m, m->side) != CW_DONE) {
			snprintf(err, errlen, "lag: cannot connect");
			PQfinish(m->side);
			m->side = NULL;
			return LAG_ERROR;
		}
		if (!m->side || PQstatus(m->side) != CONNECTION_OK) {
			snprintf(err, errlen, "%s", m->side ? PQerrorMessage(m->side) : "out of memory");
			PQfinish(m->side);
			m->side = NULL;
			return LAG_ERROR;
		}
	}
	buf_reset(&m->lagq);
	buf_puts(&m->lagq, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
		 " FROM pg_replication_slots WHERE slot_name = ");
	{
		char *lit = PQescapeLiteral(m->side, s->cfg->src_slot, strlen(s->cfg->src_slot));

		if (!lit)
			return LAG_ERROR;
		buf_puts(&m->lagq, lit);
		PQfreemem(lit);
	}
	r = PQexec(m->side, m->lagq.data);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
	} else if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)) {
		res = LAG_UNKNOWN;
	} else {
		*bytes = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		res = LAG_KNOWN;
	}
	PQclear(r);
	return res;
}

static void p_interrupt(struct source *s)
{
	struct pgsource *m = (struct pgsource *)s;
	ssize_t w = write(m->wake[1], "x", 1);

	(void)w;	/* a full pipe wakes it as well */
}

static void p_free(struct source *s)
{
	struct pgsource *m = (struct pgsource *)s;

	if (!s)
		return;
	p_disconnect(s);
	od_reset(m);
	for (int i = 0; i < m->od->nrq; i++)
		od_request_free(&m->od->rq[i]);
	free(m->od->rq);
	snap_pos_free(&m->od->pos);
	free(m->od->drop);
	buf_free(&m->od->step);
	buf_free(&m->od->text);
	pthread_mutex_destroy(&m->od->mu);
	free(m->od);
	for (size_t i = 0; i < m->nrels; i++)
		rel_clear(m, &m->rels[i]);
	PQfinish(m->side);
	buf_free(&m->lagq);
	msgt_clear(m);
	buf_free(&m->msgnames);
	buf_free(&m->msgkeys);
	free(m->rels);
	pgo_parser_free(&m->ps);
	ch_image_free(&m->before);
	ch_image_free(&m->after);
	buf_free(&m->scratch);
	close(m->wake[0]);
	close(m->wake[1]);
	free(m);
}

static const struct source_ops pg_ops = {
	.name = "postgresql",
	.pos_new = p_pos_new,
	.pos_parse = p_pos_parse,
	.pos_format = p_pos_format,
	.pos_advance = p_pos_advance,
	.pos_copy = p_pos_copy,
	.pos_free = p_pos_free,
	.ckpt_load = p_ckpt_load,
	.ckpt_store = p_ckpt_store,
	.confirm = p_confirm,
	.start_position = p_start_position,
	.start = p_start,
	.poll = p_poll,
	.read_position = p_read_position,
	.lag = p_lag,
	.interrupt = p_interrupt,
	.snapshot = p_snapshot,
	.disconnect = p_disconnect,
	.free = p_free,
};

struct source *source_pg_new(const struct rc_config *cfg, const struct source_callbacks *cb)
{
	struct pgsource *m = calloc(1, sizeof(*m));

	if (!m)
		log_oom();
	m->base.ops = &pg_ops;
	m->base.cfg = cfg;
	m->base.cb = *cb;
	if (pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		log_error("pipe2: %s", strerror(errno));
		free(m);
		return NULL;
	}
	snprintf(m->base.peer, sizeof(m->base.peer), "%s:%d/%s",
		 cfg->src_conninfo[0] ? "conninfo" : cfg->src_socket[0] ? cfg->src_socket :
		 cfg->src_host, cfg->src_port, cfg->src_dbname);
	m->want_snapshot = cfg->snap_mode != SNAP_NEVER;
	m->od = calloc(1, sizeof(*m->od));
	if (!m->od)
		log_oom();
	pthread_mutex_init(&m->od->mu, NULL);
	m->od->rows_next = PG_OD_ROWS;
	return &m->base;
}
