/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of the MariaDB source (msnap.h): requests, the snapshot part
 * of a position, and the driver that reads chunks on a second connection
 * between the binlog's transactions and hands them over once the binlog
 * reader has passed their point.
 *
 * The driver runs in the reader thread, so while a chunk is read no binlog
 * event is: the chunk's point P is at or after the reader's position, and
 * the reader hands over every change up to P before the chunk.  Rows whose
 * key changed between the chunk's read and its hand-over are dropped from
 * it (the change went out first and is at least as new), which covers a
 * reader that stepped past P on a non-transaction event.
 *
 * While a chunk is handed over and acknowledged, the next one is read on a
 * thread of its own (prefetch), and the next chunk goes out only once the
 * one before is on disk.  Meanwhile the reader may read the binlog up to
 * the prefetch's point P (those changes are older than the chunk and go
 * out before it anyway), never past it: so the rule above holds as if it
 * read the chunk itself.
 */
#include "source/mysql/msnap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "source/mysql/snapshot.h"

/* ---- the driver ---- */

/* A request waiting for the reader thread (copied). */
struct request {
	char **tables;
	unsigned ntables;
	bool all;
	char *where;
	bool on_demand;
	void (*done)(void *arg, bool ok, const char *msg);
	void *arg;
};

struct msnap {
	const struct rc_config *cfg;
	const struct source_callbacks *cb;
	struct msnap_out out;
	pthread_mutex_t mu;		/* guards rq */
	struct request *rq;		/* requests not yet taken */
	int nrq, caprq;
	atomic_int pending;		/* nrq, read without the lock */
	bool initial_only;		/* end the run once nothing is left */

	struct snap_conn *conn;		/* the snapshot connection, NULL when closed */
	struct snap_table *t;		/* the table open (pos v[0]), or NULL */
	uint64_t t_id;			/* the snapshot it was opened for */
	struct snap_chunk ch;		/* the chunk read */
	struct snap_chunk next;		/* the prefetch's chunk (swapped into ch) */
	pthread_t pf_th;		/* the prefetch thread */
	bool pf_running;		/* pf_th runs or is not yet joined: it owns
					   t, conn, next, pf_* and the pace fields */
	bool pf_keep;			/* msnap_step() returns to read the binlog
					   up to pf_file:pf_pos, pf_th running */
	pthread_mutex_t pf_mu;		/* guards pf_state, pf_file, pf_pos */
	pthread_cond_t pf_cv;		/* pf_state moved */
	enum { PF_READING, PF_POINT, PF_DONE } pf_state; /* the prefetch's progress */
	char pf_file[512];		/* PF_POINT on: P of the chunk it reads */
	uint64_t pf_pos;
	bool pf_ok;			/* its snap_chunk() succeeded */
	size_t pf_rows;			/* the rows it asked for */
	struct rc_buf pf_key;		/* the key it reads after */
	char pf_why[1024];		/* why it failed */
	bool held;			/* ch waits for the reader to pass its point */
	bool skip_table;		/* a chunk's read showed the table cannot be read */
	bool stale;			/* a DDL came: read it again, describe anew */
	bool *drop;			/* per row of ch: its key changed meanwhile */
	size_t drop_cap;
	uint32_t *slots;		/* key index of ch: row + 1, 0 empty */
	size_t nslots;			/* a power of two */
	size_t rows_next;		/* rows of the next chunk */
	int64_t retry_at_us;		/* after a failure: not before */
	int64_t pace_start_us;		/* the rows/s limit counts from here */
	uint64_t pace_rows;		/* rows read since */
	uint64_t rows_total;		/* rows handed over since the start */
	int64_t wait_us;		/* the reader's wait for ch to be read */
	int64_t drain_us;		/* its wait for the chunk before on disk */

	struct ch_table view;		/* the open table as the change model sees it */
	struct ch_column *cols;		/* view.cols */
	uint32_t *pk;			/* view.pk */
	struct ch_image img;		/* a row's after image */
	struct ch_snap info;		/* the chunk's transaction's */
	struct ch_trx trx;		/* the chunk's transaction */
	struct rc_buf step;		/* step text */
	struct rc_buf tables;		/* snap_list_tables() */
	char msg[1024];
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct msnap *msnap_new(const struct rc_config *cfg, const struct source_callbacks *cb,
			const struct msnap_out *out)
{
	struct msnap *s = calloc(1, sizeof(*s));

	if (!s)
		log_oom();
	s->cfg = cfg;
	s->cb = cb;
	s->out = *out;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->pf_mu, NULL);
	pthread_cond_init(&s->pf_cv, NULL);
	s->rows_next = (size_t)cfg->snap_chunk_rows;
	/* initial_only: the run ends once nothing is left to read (at once
	 * when a checkpoint says the snapshot was done) */
	s->initial_only = cfg->snap_mode == SNAP_INITIAL_ONLY;
	return s;
}

static void request_free(struct request *r)
{
	for (unsigned i = 0; i < r->ntables; i++)
		free(r->tables[i]);
	free(r->tables);
	free(r->where);
}

/* Wait for a prefetch to end; its chunk is dropped (read again later). */
static void prefetch_drop(struct msnap *s)
{
	if (!s->pf_running)
		return;
	pthread_join(s->pf_th, NULL);
	s->pf_running = false;
}

/* Forget the open table: its view goes too (the pipeline's plan with it). */
static void table_close(struct msnap *s)
{
	prefetch_drop(s);
	if (s->view.user && s->cb->table_gone)
		s->cb->table_gone(s->cb->ctx, &s->view);
	s->view.user = NULL;
	ch_table_free_caches(&s->view);
	snap_table_free(s->t);
	s->t = NULL;
	s->held = false;
	s->stale = false;
}

void msnap_reset(struct msnap *s)
{
	table_close(s);
	snap_close(s->conn);
	s->conn = NULL;
}

void msnap_free(struct msnap *s)
{
	if (!s)
		return;
	msnap_reset(s);
	for (int i = 0; i < s->nrq; i++)
		request_free(&s->rq[i]);
	free(s->rq);
	snap_chunk_release(&s->ch);
	snap_chunk_release(&s->next);
	buf_free(&s->pf_key);
	free(s->drop);
	free(s->slots);
	free(s->cols);
	free(s->pk);
	ch_image_free(&s->img);
	buf_free(&s->step);
	buf_free(&s->tables);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->pf_mu);
	pthread_cond_destroy(&s->pf_cv);
	free(s);
}

/* A name as "db.table" a request may hold: both parts, no tab or newline. */
static bool table_name_ok(const char *t)
{
	const char *dot = strchr(t, '.');

	return dot && dot != t && dot[1] && !strpbrk(t, "\t\n\r`");
}

bool msnap_request(struct msnap *s, const struct source_snap_request *rq, char *err,
		   size_t errlen)
{
	struct request r = { 0 };

	if (!rq->all && rq->ntables == 0) {
		snprintf(err, errlen, "no table named");
		return false;
	}
	for (unsigned i = 0; i < rq->ntables; i++) {
		if (!table_name_ok(rq->tables[i])) {
			snprintf(err, errlen, "'%s' is not db.table", rq->tables[i]);
			return false;
		}
	}
	if (rq->where) {
		for (const char *p = rq->where; *p; p++) {
			if ((unsigned char)*p < 0x20) {
				snprintf(err, errlen, "the WHERE condition holds a control character");
				return false;
			}
		}
	}
	r.tables = calloc(rq->ntables + 1, sizeof(char *));
	if (!r.tables)
		log_oom();
	for (unsigned i = 0; i < rq->ntables; i++)
		r.tables[i] = snap_strdup(rq->tables[i]);
	r.ntables = rq->ntables;
	r.all = rq->all;
	r.where = rq->where && rq->where[0] ? snap_strdup(rq->where) : NULL;
	r.on_demand = rq->on_demand;
	r.done = rq->done;
	r.arg = rq->arg;
	pthread_mutex_lock(&s->mu);
	if (s->nrq == s->caprq) {
		s->caprq = s->caprq ? s->caprq * 2 : 4;
		s->rq = realloc(s->rq, (size_t)s->caprq * sizeof(*s->rq));
		if (!s->rq)
			log_oom();
	}
	s->rq[s->nrq++] = r;
	atomic_fetch_add(&s->pending, 1);
	pthread_mutex_unlock(&s->mu);
	return true;
}

/* Connect the snapshot session when it is not. */
static bool ensure_conn(struct msnap *s, char *err, size_t errlen)
{
	const struct rc_config *c = s->cfg;
	struct snap_conn_opts o = { 0 };
	char host[256] = "";
	unsigned port = (unsigned)c->src_port;

	if (s->conn)
		return true;
	if (c->src_hosts && c->src_hosts[0]) {
		/* the first of a hosts list: the replica connection moves on
		 * its own; a snapshot reads from the primary named first */
		const char *colon;

		snprintf(host, sizeof(host), "%.*s", (int)strcspn(c->src_hosts, ","), c->src_hosts);
		colon = strrchr(host, ':');
		if (colon) {
			port = (unsigned)atoi(colon + 1);
			host[colon - host] = '\0';
		}
		o.host = host;
	} else {
		o.host = c->src_host;
	}
	o.port = port;
	o.socket = c->src_socket && c->src_socket[0] ? c->src_socket : NULL;
	o.user = c->src_user;
	o.password = c->src_password && c->src_password[0] ? c->src_password : NULL;
	o.max_statement_time = c->snap_statement_timeout_s;
	o.tls = c->src_ssl_mode != SSLM_DISABLED;
	o.tls_required = c->src_ssl_mode >= SSLM_REQUIRED;
	o.tls_verify = c->src_ssl_mode >= SSLM_VERIFY_CA;
	o.ssl_ca = c->src_ssl_ca[0] ? c->src_ssl_ca : NULL;
	o.ssl_cert = c->src_ssl_cert[0] ? c->src_ssl_cert : NULL;
	o.ssl_key = c->src_ssl_key[0] ? c->src_ssl_key : NULL;
	o.connect_timeout = (unsigned)c->src_connect_timeout_s;
	return snap_connect(&o, &s->conn, err, errlen);
}

/* "a.b" into db and table (db is a buffer of dblen bytes). */
static const char *split_name(const char *name, char *db, size_t dblen)
{
	const char *dot = strchr(name, '.');

	snprintf(db, dblen, "%.*s", (int)(dot - name), name);
	return dot + 1;
}

/* Is db.table among the listed base tables? Its engine when it is. */
static const char *listed(struct msnap *s, const char *db, const char *table)
{
	const char *p = s->tables.data;
	size_t dl = strlen(db), tl = strlen(table);

	while (p && *p) {
		const char *nl = strchr(p, '\n');

		if (!strncmp(p, db, dl) && p[dl] == '\t' && !strncmp(p + dl + 1, table, tl) &&
		    p[dl + 1 + tl] == '\t')
			return p + dl + tl + 2;
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* Turn a request into the step text of its tables; false (msg) when it
 * cannot be taken. */
static bool take_request(struct msnap *s, const struct snap_pos *pos, const struct request *r,
			 char *msg, size_t msglen)
{
	char err[900], db[256];
	uint64_t id = pos->last_id + 1;
	unsigned n = 0;

	if (!ensure_conn(s, err, sizeof(err)) ||
	    !snap_list_tables(s->conn, &s->tables, err, sizeof(err))) {
		snprintf(msg, msglen, "snapshot: %s", err);
		return false;
	}
	if (!snap_is_mariadb(s->conn)) {
		/* MySQL 8 has no read view's binlog point: doc/SNAPSHOTS.md
		 * says what a MySQL snapshot would take */
		snprintf(msg, msglen, "snapshot: %s is not MariaDB: rowcast snapshots need "
			 "MariaDB's Binlog_snapshot_file/position (no lock, exact point)",
			 s->cfg->src_host);
		return false;
	}
	buf_reset(&s->step);
	for (unsigned i = 0; i < r->ntables; i++) {
		const char *t = split_name(r->tables[i], db, sizeof(db));

		if (!listed(s, db, t)) {
			snprintf(msg, msglen, "snapshot: no table %s on the server", r->tables[i]);
			return false;
		}
		if (r->where && !snap_check_where(s->conn, db, t, r->where, err, sizeof(err))) {
			snprintf(msg, msglen, "snapshot: %s", err);
			return false;
		}
	}
	if (r->all) {
		const char *p = s->tables.data;

		while (p && *p) {
			char *line = snap_strndup(p, strcspn(p, "\n")), *f[3];
			const char *nl = strchr(p, '\n');

			if (snap_split_tabs(line, f, 3) == 3 && s->cb->wants_table &&
			    s->cb->wants_table(s->cb->ctx, f[0], f[1])) {
				buf_printf(&s->step, "q\t%llu\t%c\t%s\t%s\t%s\n", (unsigned long long)id,
					   r->on_demand ? 'd' : 'i', f[0], f[1],
					   r->where ? r->where : "");
				n++;
			}
			free(line);
			p = nl ? nl + 1 : NULL;
		}
	}
	for (unsigned i = 0; i < r->ntables; i++) {
		const char *t = split_name(r->tables[i], db, sizeof(db));
		const char *engine = listed(s, db, t);

		if (engine && strncasecmp(engine, "InnoDB", 6))
			log_warn("snapshot %llu: %s is a %.*s table: its chunks are not consistent with the binlog (only InnoDB reads are)",
				 (unsigned long long)id, r->tables[i], (int)strcspn(engine, "\n"),
				 engine);
		buf_printf(&s->step, "q\t%llu\t%c\t%s\t%s\t%s\n", (unsigned long long)id,
			   r->on_demand ? 'd' : 'i', db, t, r->where ? r->where : "");
		n++;
	}
	snprintf(msg, msglen, "snapshot %llu: %u table%s queued%s%s", (unsigned long long)id, n,
		 n == 1 ? "" : "s", r->where ? " where " : "", r->where ? r->where : "");
	return true;
}

/* Hand over a transaction with no rows whose step is s->step (a snapshot's
 * bookkeeping: no chunk, no marker). */
static bool emit_step(struct msnap *s, const char *idtext)
{
	memset(&s->trx, 0, sizeof(s->trx));
	memset(&s->info, 0, sizeof(s->info));
	snprintf(s->trx.id, sizeof(s->trx.id), "%s", idtext);
	s->trx.ts_ms = (uint64_t)wall_ms();
	s->trx.snap = &s->info;
	return s->out.begin(s->out.ctx, &s->trx) &&
	       s->out.commit(s->out.ctx, &s->trx, s->step.data ? s->step.data : "", s->step.len);
}

/* Take the requests queued; false when a callback said stop. */
static bool take_requests(struct msnap *s, const struct snap_pos *pos)
{
	for (;;) {
		struct request r;
		bool ok;
		char id[64];

		/* between every two transactions: no lock unless asked */
		if (atomic_load(&s->pending) == 0)
			return true;
		pthread_mutex_lock(&s->mu);
		r = s->rq[0];
		memmove(s->rq, s->rq + 1, (size_t)(s->nrq - 1) * sizeof(*s->rq));
		s->nrq--;
		atomic_fetch_sub(&s->pending, 1);
		pthread_mutex_unlock(&s->mu);
		ok = take_request(s, pos, &r, s->msg, sizeof(s->msg));
		if (ok) {
			snprintf(id, sizeof(id), "snapshot-%llu-request",
				 (unsigned long long)pos->last_id + 1);
			log_info("%s", s->msg);
			if (!emit_step(s, id)) {
				if (r.done)
					r.done(r.arg, false, "rowcast is stopping");
				request_free(&r);
				return false;
			}
		} else {
			log_warn("%s", s->msg);
		}
		if (r.done)
			r.done(r.arg, ok, s->msg);
		request_free(&r);
	}
}

/* The change model's logical type of a snapshot column (as the binlog
 * decoder's tablemap.c gives it for the same column). */
static void column_of(const struct snap_col *c, struct ch_column *o)
{
	const char *dt = c->data_type;
	const char *paren = strchr(c->column_type, '(');

	memset(o, 0, sizeof(*o));
	o->name = c->name;
	o->name_len = (uint32_t)strlen(c->name);
	o->nullable = c->nullable;
	o->fsp = (uint8_t)c->fsp;
	o->native_type = dt;
	switch (c->kind) {
	case SNAP_INT: o->type = c->is_unsigned ? CT_UINT : CT_INT; return;
	case SNAP_DECIMAL:
		o->type = CT_DECIMAL;
		o->precision = (uint8_t)(paren ? atoi(paren + 1) : 10);
		o->scale = (uint8_t)c->scale;
		o->native_type = "decimal";
		return;
	case SNAP_FLOAT: o->type = CT_FLOAT; return;
	case SNAP_DOUBLE: o->type = CT_DOUBLE; o->native_type = "double"; return;
	case SNAP_YEAR: o->type = CT_YEAR; return;
	case SNAP_DATE: o->type = CT_DATE; return;
	case SNAP_DATETIME: o->type = CT_DATETIME; return;
	case SNAP_TIMESTAMP: o->type = CT_TIMESTAMP; return;
	case SNAP_TIME: o->type = CT_TIME; return;
	case SNAP_TEXT:
		o->type = CT_STRING;
		o->native_type = strstr(dt, "text") || !strcmp(dt, "json") ? "text" :
				 !strcmp(dt, "char") ? "char" : "varchar";
		return;
	case SNAP_BINARY:
		o->type = CT_BINARY;
		o->native_type = strstr(dt, "blob") ? "blob" :
				 !strcmp(dt, "binary") ? "binary" : "varbinary";
		return;
	case SNAP_FIXBIN: o->type = CT_BINARY; o->native_type = "binary"; return;
	case SNAP_GEOMETRY: o->type = CT_GEOMETRY; o->native_type = "geometry"; return;
	case SNAP_ENUM: o->type = CT_ENUM; return;
	case SNAP_SET: o->type = CT_SET; return;
	case SNAP_BIT:
		o->type = CT_BIT;
		o->bits = (uint16_t)(paren ? atoi(paren + 1) : 1);
		return;
	}
	o->type = CT_OTHER;
}

/* The change model's view of the open table. */
static void make_view(struct msnap *s)
{
	struct snap_table *t = s->t;

	free(s->cols);
	free(s->pk);
	s->cols = calloc(t->ncols ? t->ncols : 1, sizeof(*s->cols));
	s->pk = calloc(t->nkey ? t->nkey : 1, sizeof(*s->pk));
	if (!s->cols || !s->pk)
		log_oom();
	for (unsigned i = 0; i < t->ncols; i++)
		column_of(&t->cols[i], &s->cols[i]);
	ch_table_free_caches(&s->view);
	memset(&s->view, 0, sizeof(s->view));
	s->view.db = t->db;
	s->view.name = t->name;
	s->view.ncols = t->ncols;
	s->view.cols = s->cols;
	s->view.names_known = true;
	if (t->key_name && !strcmp(t->key_name, "PRIMARY")) {
		for (unsigned k = 0; k < t->nkey; k++)
			s->pk[k] = t->key[k];
		s->view.pk = s->pk;
		s->view.npk = t->nkey;
	}
	ch_image_fit(&s->img, t->ncols);
}

/* ---- the key index of a chunk ---- */

static uint64_t hash_bytes(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= 0x1f;	/* the parts stay apart */
	return h * 0x100000001b3ULL;
}

static uint64_t chunk_key_hash(const struct msnap *s, size_t row)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (unsigned k = 0; k < s->t->nkey; k++) {
		size_t len;
		const char *v = snap_value(&s->ch, row, s->t->key[k], &len);

		h = hash_bytes(h, v, len);
	}
	return h;
}

static void index_chunk(struct msnap *s)
{
	size_t n = s->ch.nrows, want = 16;

	if (s->drop_cap < n + 1) {
		free(s->drop);
		s->drop_cap = n + 1;
		s->drop = malloc(s->drop_cap);
		if (!s->drop)
			log_oom();
	}
	memset(s->drop, 0, n + 1);
	if (s->t->nkey == 0)
		return;
	while (want < 2 * n)
		want *= 2;
	if (s->nslots < want) {
		free(s->slots);
		s->slots = malloc(want * sizeof(*s->slots));
		if (!s->slots)
			log_oom();
		s->nslots = want;
	}
	memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	for (size_t r = 0; r < n; r++) {
		size_t i = (size_t)chunk_key_hash(s, r) & (s->nslots - 1);

		while (s->slots[i])
			i = (i + 1) & (s->nslots - 1);
		s->slots[i] = (uint32_t)r + 1;
	}
}

/* Drop the chunk's row with the key that the image's key columns hold
 * (an absent key column takes the value of alt, the before image). */
static void drop_key(struct msnap *s, const struct ch_image *im, const struct ch_image *alt)
{
	const char *v[64];
	uint32_t l[64];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	if (s->t->nkey > 64)
		return;
	for (unsigned k = 0; k < s->t->nkey; k++) {
		unsigned c = s->t->key[k];
		const struct ch_image *src = im->state[c] == CH_VALUE ? im :
					     alt && alt->state[c] == CH_VALUE ? alt : NULL;

		if (!src)
			return;	/* not a row of this key (cannot be: NOT NULL) */
		v[k] = ch_value(src, c, &l[k]);
		h = hash_bytes(h, v[k], l[k]);
	}
	for (i = (size_t)h & (s->nslots - 1); s->slots[i]; i = (i + 1) & (s->nslots - 1)) {
		size_t r = s->slots[i] - 1;
		unsigned k;

		for (k = 0; k < s->t->nkey; k++) {
			size_t len;
			const char *cv = snap_value(&s->ch, r, s->t->key[k], &len);

			if (len != l[k] || memcmp(cv, v[k], len))
				break;
		}
		if (k == s->t->nkey) {
			s->drop[r] = true;
			return;
		}
	}
}

void msnap_row_seen(struct msnap *s, const struct ch_row *row)
{
	const struct ch_table *t = row->table;

	if (!s->held || !s->t || strcmp(t->name, s->t->name) || strcmp(t->db, s->t->db))
		return;
	if (t->ncols != s->t->ncols) {
		s->stale = true;	/* another shape: altered meanwhile */
		return;
	}
	if (s->t->nkey == 0)
		return;
	if (row->before)
		drop_key(s, row->before, NULL);
	if (row->after)
		drop_key(s, row->after, row->before);
}

void msnap_ddl_seen(struct msnap *s)
{
	if (s->t)
		s->stale = true;
}

bool msnap_holding(const struct msnap *s)
{
	return s->held;
}

/* ---- reading and handing over ---- */

/* The number of a binlog file name ("mariadb-bin.000012" -> 12). */
static unsigned long long file_seq(const char *f)
{
	const char *dot = strrchr(f, '.');

	return dot ? strtoull(dot + 1, NULL, 10) : 0;
}

/* Is the reader at file:offset at or past the point pfile:ppos? */
static bool past(const char *file, uint64_t offset, const char *pfile, uint64_t ppos)
{
	unsigned long long a, b;

	if (!file || !file[0])
		return false;
	a = file_seq(file);
	b = file_seq(pfile);
	if (a != b)
		return a > b;
	return offset >= ppos;
}

/* Has the reader at file:offset passed the chunk's point? */
static bool passed(const struct msnap *s, const char *file, uint64_t offset)
{
	return past(file, offset, s->ch.binlog_file, s->ch.binlog_pos);
}

/* Tell the pipeline where the snapshot stands: pos's first table with
 * rows and chunks done, finished or not. */
static void report(struct msnap *s, const struct snap_pos *pos, uint64_t rows, uint64_t chunks,
		   bool table_done)
{
	struct source_snap_progress p = { 0 };

	if (!s->cb->snapshot_progress || pos->n == 0)
		return;
	p.id = pos->v[0].id;
	p.db = pos->v[0].db;
	p.table = pos->v[0].table;
	p.rows = rows;
	p.chunks = chunks;
	p.est_rows = s->t ? s->t->est_rows : 0;
	p.tables_left = (unsigned)pos->n - (table_done ? 1 : 0);
	p.tables_done = pos->tables_done + (table_done ? 1 : 0);
	p.rows_total = s->rows_total;
	p.table_done = table_done;
	s->cb->snapshot_progress(s->cb->ctx, &p);
}

/* Hand the chunk over: its rows not dropped, and the step that records
 * it (and the table's end when it is the last). */
static bool emit_chunk(struct msnap *s, const struct snap_pos *pos)
{
	const struct snap_item *it = &pos->v[0];
	struct ch_row row = { 0 };
	uint64_t sent = 0;
	bool keyless = s->t->nkey == 0;
	int64_t t0 = now_us();

	memset(&s->trx, 0, sizeof(s->trx));
	s->info.id = it->id;
	s->info.db = s->t->db;
	s->info.table = s->t->name;
	s->info.on_demand = it->on_demand;
	s->info.chunk = pos->chunks + 1;
	s->info.first = !pos->started && pos->chunks == 0;
	s->info.last = s->ch.last;
	s->info.rows_before = pos->rows;
	s->info.est_rows = s->t->est_rows;
	snprintf(s->trx.id, sizeof(s->trx.id), "snapshot-%llu-%s.%s-%llu",
		 (unsigned long long)it->id, s->t->db, s->t->name,
		 (unsigned long long)s->info.chunk);
	s->trx.ts_ms = (uint64_t)wall_ms();
	s->trx.snap = &s->info;
	if (!s->out.begin(s->out.ctx, &s->trx))
		return false;
	row.table = &s->view;
	row.op = CH_READ;
	row.after = &s->img;
	for (size_t r = 0; r < s->ch.nrows; r++) {
		size_t row0 = s->ch.offs[r * s->ch.ncols];

		if (s->drop[r])
			continue;
		for (unsigned c = 0; c < s->t->ncols; c++) {
			size_t i = r * s->ch.ncols + c, len = s->ch.offs[i + 1] - s->ch.offs[i];

			s->img.off[c] = (uint32_t)(s->ch.offs[i] - row0);
			s->img.len[c] = (uint32_t)len;
			s->img.state[c] = len == 4 && !memcmp(s->ch.vals.data + s->ch.offs[i], "null", 4) ?
					  CH_NULL : CH_VALUE;
		}
		/* this row's values in place (not owned, cap 0: no NUL after
		 * them): the image is the row's, not the chunk's, since a
		 * formatter sizes its output by text.len */
		s->img.text.data = s->ch.vals.data + row0;
		s->img.text.len = s->ch.offs[(r + 1) * s->ch.ncols] - row0;
		s->img.text.cap = 0;
		row.index = sent++;
		s->trx.nrows = sent;
		if (!s->out.row(s->out.ctx, &s->trx, &row, s->ch.binlog_file, s->ch.binlog_pos)) {
			memset(&s->img.text, 0, sizeof(s->img.text));
			return false;
		}
	}
	memset(&s->img.text, 0, sizeof(s->img.text));
	s->rows_total += sent;
	buf_reset(&s->step);
	if (keyless)	/* no progress to keep: a restart reads it all again */
		buf_printf(&s->step, "k\t%llu\n", (unsigned long long)sent);
	else
		buf_printf(&s->step, "c\t%llu\t%s\t%s\n", (unsigned long long)sent,
			   s->ch.last_key.data ? s->ch.last_key.data : "",
			   s->t->max_key ? s->t->max_key : "");
	if (s->ch.last)
		buf_puts(&s->step, "d\n");
	s->held = false;
	report(s, pos, pos->rows + sent, pos->chunks + 1, s->ch.last);
	if (!s->out.commit(s->out.ctx, &s->trx, s->step.data, s->step.len))
		return false;
	/* where a chunk's time goes, for a live stream that lags behind one */
	log_debug("snapshot %llu: %s.%s chunk %llu: %llu rows, %.1f MB read in %.0f ms (%.0f ms of it waited for), drain before it %.0f ms, handed over in %.0f ms",
		  (unsigned long long)it->id, s->t->db, s->t->name,
		  (unsigned long long)s->info.chunk, (unsigned long long)sent,
		  (double)s->ch.bytes / 1e6, (double)s->ch.elapsed_us / 1e3,
		  (double)s->wait_us / 1e3, (double)s->drain_us / 1e3,
		  (double)(now_us() - t0) / 1e3);
	return true;
}

/* The table of pos->v[0] open, described, narrowed to its range; false
 * with a reason to log (skip says the table cannot be read at all). */
static bool open_first(struct msnap *s, const struct snap_pos *pos, bool *skip, char *err,
		       size_t errlen)
{
	const struct snap_item *it = &pos->v[0];
	unsigned code;

	*skip = false;
	if (s->t && !s->stale && s->t_id == it->id && !strcmp(s->t->db, it->db) &&
	    !strcmp(s->t->name, it->table))
		return true;
	table_close(s);
	if (!ensure_conn(s, err, errlen))
		return false;
	if (!snap_table_open(s->conn, it->db, it->table, s->cfg->snap_allow_keyless, &s->t, err,
			     errlen)) {
		code = snap_errno(s->conn);
		/* no such table (gone, or no columns), or no usable key: no
		 * retry can help; other failures are the connection's */
		*skip = code == 1146 || code == 1049 || code == 0;
		if (!*skip)
			msnap_reset(s);
		return false;
	}
	s->t_id = it->id;
	if (!snap_table_set_range(s->t, pos->started ? pos->max_key : NULL, it->where, err,
				  errlen)) {
		table_close(s);
		*skip = true;
		return false;
	}
	if (s->t->nkey == 0)
		log_warn("snapshot %llu: %s.%s has no usable key: read in one pass, the binlog waits meanwhile",
			 (unsigned long long)it->id, it->db, it->table);
	make_view(s);
	if (!pos->started) {
		log_info("snapshot %llu: %s.%s: about %llu rows, by %s%s%s",
			 (unsigned long long)it->id, it->db, it->table,
			 (unsigned long long)s->t->est_rows,
			 s->t->key_name ? s->t->key_name : "one pass",
			 it->where ? " where " : "", it->where ? it->where : "");
		s->pace_start_us = 0;
	}
	return true;
}

/* Wait as the rows/s limit says (at most a second at a time, then the
 * binlog is read again). */
static void pace(struct msnap *s)
{
	uint64_t wait;
	int64_t now = now_us();

	if (s->cfg->snap_max_rows_per_s <= 0)
		return;
	if (s->pace_start_us == 0) {
		s->pace_start_us = now;
		s->pace_rows = 0;
	}
	wait = snap_pace_us(s->pace_rows, (uint64_t)(now - s->pace_start_us),
			    s->cfg->snap_max_rows_per_s);
	if (wait > 1000000)
		wait = 1000000;
	if (wait) {
		struct timespec ts = { (time_t)(wait / 1000000), (long)(wait % 1000000) * 1000 };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
}

/* The rows of the next chunk: as sized by time, within the rows/s limit. */
static size_t chunk_rows(const struct msnap *s)
{
	size_t max_rows = s->rows_next;

	if (s->cfg->snap_max_rows_per_s > 0 && max_rows > (size_t)s->cfg->snap_max_rows_per_s)
		max_rows = (size_t)s->cfg->snap_max_rows_per_s;
	return max_rows;
}

/*
 * A chunk was read into s->ch (ok), or not (why, and the connection's
 * error): hold it for its point, or note what to do next (a smaller chunk,
 * the table described again, another try in 5 s).  max_rows: the rows
 * asked for.
 */
static void chunk_read(struct msnap *s, bool ok, const char *why, size_t max_rows)
{
	size_t fit;

	if (!ok) {
		unsigned code = snap_errno(s->conn);

		if (code == 1969 && s->rows_next > 1) {
			/* max_statement_time: smaller next time */
			s->rows_next /= 2;
			log_warn("snapshot: %s (next chunk %zu rows)", why, s->rows_next);
			return;
		}
		if (code == 1054 || code == 1064 || code == 1142 || code == 1143 ||
		    code == 1146) {
			/* the condition or the table cannot be read: no retry
			 * helps; the caller ends the table */
			log_error("snapshot: %s: the table is skipped", why);
			table_close(s);
			s->skip_table = true;
			return;
		}
		if (code == 0) {
			/* the table is not as described (altered): anew */
			log_info("snapshot: %s: described again", why);
			table_close(s);
			return;
		}
		log_warn("snapshot: %s (trying again in 5 s)", why);
		msnap_reset(s);
		s->retry_at_us = now_us() + 5000000;
		return;
	}
	s->pace_rows += s->ch.nrows;
	s->rows_next = snap_next_rows(s->ch.nrows ? s->ch.nrows : max_rows, s->ch.elapsed_us,
				      (uint64_t)s->cfg->snap_chunk_time_ms * 1000,
				      1, (size_t)s->cfg->snap_max_chunk_rows);
	/* no more rows than chunk_bytes holds: the rest of a LIMIT cut by
	 * the byte limit would be sent and dropped */
	fit = snap_rows_in_bytes(s->ch.nrows, s->ch.bytes, (uint64_t)s->cfg->snap_chunk_bytes);
	if (s->rows_next > fit)
		s->rows_next = fit;
	index_chunk(s);
	s->held = true;
}

/* Read the next chunk of pos->v[0]; MSNAP_OK also when it failed in a way
 * worth another try later (logged). */
static enum msnap_result read_chunk(struct msnap *s, const struct snap_pos *pos, char *err,
				    size_t errlen)
{
	size_t max_rows = chunk_rows(s);
	char why[1024];
	bool skip, ok;

	(void)err;
	(void)errlen;
	if (!open_first(s, pos, &skip, why, sizeof(why))) {
		if (skip) {
			log_warn("snapshot %llu: %s.%s skipped: %s", (unsigned long long)pos->v[0].id,
				 pos->v[0].db, pos->v[0].table, why);
			buf_reset(&s->step);
			buf_puts(&s->step, "d\n");
			report(s, pos, pos->rows, pos->chunks, true);
			if (!emit_step(s, "snapshot-skip"))
				return MSNAP_STOPPED;
			return MSNAP_OK;
		}
		log_warn("snapshot: %s (trying again in 5 s)", why);
		s->retry_at_us = now_us() + 5000000;
		return MSNAP_OK;
	}
	pace(s);
	s->wait_us = now_us();
	ok = snap_chunk(s->t, s->t->nkey ? pos->last_key : NULL, max_rows,
			(size_t)s->cfg->snap_chunk_bytes, &s->ch, why, sizeof(why));
	s->wait_us = now_us() - s->wait_us;
	chunk_read(s, ok, why, max_rows);
	return MSNAP_OK;
}

static void prefetch_state(struct msnap *s, int state)
{
	pthread_mutex_lock(&s->pf_mu);
	if (state == PF_POINT) {
		snprintf(s->pf_file, sizeof(s->pf_file), "%s", s->next.binlog_file);
		s->pf_pos = s->next.binlog_pos;
	}
	s->pf_state = state;
	pthread_cond_broadcast(&s->pf_cv);
	pthread_mutex_unlock(&s->pf_mu);
}

/* The prefetch thread: the chunk after pf_key into s->next; its point is
 * published (PF_POINT) before the rows are read. */
static void *prefetch_main(void *arg)
{
	struct msnap *s = arg;
	bool ok;

	(void)pthread_setname_np(pthread_self(), "rowcast-snap");
	snap_thread_init();
	pace(s);
	ok = snap_chunk_begin(s->t, s->pf_key.data, &s->next, s->pf_why, sizeof(s->pf_why));
	if (ok) {
		prefetch_state(s, PF_POINT);
		ok = snap_chunk_rows(s->t, s->pf_key.data, s->pf_rows,
				     (size_t)s->cfg->snap_chunk_bytes, &s->next, s->pf_why,
				     sizeof(s->pf_why));
	}
	s->pf_ok = ok;
	snap_thread_end();
	prefetch_state(s, PF_DONE);
	return NULL;
}

/* May the reader at file:offset read on while the prefetch runs?  Only up
 * to its point P (known a moment after it starts: waited for). */
static bool prefetch_behind(struct msnap *s, const char *file, uint64_t offset)
{
	bool behind;

	pthread_mutex_lock(&s->pf_mu);
	while (s->pf_state == PF_READING)
		pthread_cond_wait(&s->pf_cv, &s->pf_mu);
	behind = s->pf_state == PF_POINT && !past(file, offset, s->pf_file, s->pf_pos);
	pthread_mutex_unlock(&s->pf_mu);
	return behind;
}

/*
 * Before the held chunk is handed over: start reading the one after it (a
 * keyed table with rows left), on the prefetch thread.  Nothing else may
 * use the table or the connection until prefetch_collect() or
 * prefetch_drop().
 */
static void prefetch_start(struct msnap *s)
{
	if (s->pf_running || !s->t || !s->conn || s->t->nkey == 0 || s->ch.last || s->stale ||
	    !s->ch.last_key.len)
		return;
	buf_reset(&s->pf_key);
	buf_append(&s->pf_key, s->ch.last_key.data, s->ch.last_key.len);
	s->pf_rows = chunk_rows(s);
	s->pf_ok = false;
	s->pf_why[0] = '\0';
	s->pf_state = PF_READING;
	s->pf_running = pthread_create(&s->pf_th, NULL, prefetch_main, s) == 0;
}

/* The prefetched chunk becomes the held one (or its failure is noted). */
static void prefetch_collect(struct msnap *s)
{
	struct snap_chunk t;

	s->wait_us = now_us();
	pthread_join(s->pf_th, NULL);
	s->wait_us = now_us() - s->wait_us;
	s->pf_running = false;
	t = s->ch;
	s->ch = s->next;
	s->next = t;
	chunk_read(s, s->pf_ok, s->pf_why, s->pf_rows);
}

static enum msnap_result step(struct msnap *s, const struct snap_pos *pos, const char *file,
			       uint64_t offset, char *err, size_t errlen)
{
	for (;;) {
		enum msnap_result r;
		bool keyless_rest;

		/* between chunks too: a request is answered while a long
		 * table is read */
		if (!s->pf_running && !(s->t && s->t->pass_open) && !take_requests(s, pos))
			return MSNAP_STOPPED;	/* (not while a prefetch or a keyless
						   pass's result has the connection) */

		if (s->held && s->stale) {
			log_info("snapshot: DDL while a chunk of %s.%s waited: read again",
				 s->t->db, s->t->name);
			table_close(s);
		}
		if (s->held) {
			if (!passed(s, file, offset))
				return MSNAP_OK;	/* the binlog first */
			keyless_rest = s->t->nkey == 0 && !s->ch.last;
			/* the next chunk is read while this one goes out */
			prefetch_start(s);
			if (!emit_chunk(s, pos))
				return MSNAP_STOPPED;
			if (keyless_rest) {
				/* one pass, one point: the rest before any binlog */
				r = read_chunk(s, pos, err, errlen);
				if (r != MSNAP_OK)
					return r;
				if (!s->held) {
					log_warn("snapshot: a one-pass read failed: it starts again");
					table_close(s);
				}
				continue;
			}
		}
		if (pos->n == 0) {
			if (s->t)
				table_close(s);
			if (s->initial_only) {
				if (s->cb->drain && !s->cb->drain(s->cb->ctx))
					return MSNAP_STOPPED;
				return MSNAP_DONE;
			}
			return MSNAP_OK;
		}
		if (s->retry_at_us && now_us() < s->retry_at_us)
			return MSNAP_OK;
		s->retry_at_us = 0;
		if (pos->started && !pos->max_key) {
			/* empty at its start: nothing to read */
			buf_reset(&s->step);
			buf_puts(&s->step, "d\n");
			if (!emit_step(s, "snapshot-empty"))
				return MSNAP_STOPPED;
			continue;
		}
		/* the binlog up to the next chunk's point meanwhile: older than
		 * the chunk, it goes out first anyway */
		if (s->pf_running && prefetch_behind(s, file, offset)) {
			s->pf_keep = true;
			return MSNAP_OK;
		}
		/* one chunk in flight: the last one acknowledged first */
		s->drain_us = now_us();
		if (s->cb->drain && !s->cb->drain(s->cb->ctx))
			return MSNAP_STOPPED;
		s->drain_us = now_us() - s->drain_us;
		if (s->pf_running) {
			prefetch_collect(s);
		} else {
			r = read_chunk(s, pos, err, errlen);
			if (r != MSNAP_OK)
				return r;
		}
		if (s->skip_table) {
			s->skip_table = false;
			report(s, pos, pos->rows, pos->chunks, true);
			buf_reset(&s->step);
			buf_puts(&s->step, "d\n");
			if (!emit_step(s, "snapshot-skip"))
				return MSNAP_STOPPED;
			continue;
		}
		if (!s->held)
			return MSNAP_OK;	/* skipped, or to be tried later */
	}
}

enum msnap_result msnap_step(struct msnap *s, const struct snap_pos *pos, const char *file,
			     uint64_t offset, char *err, size_t errlen)
{
	enum msnap_result r;

	s->pf_keep = false;
	r = step(s, pos, file, offset, err, errlen);
	/* the binlog is read next: past a prefetch's point only once its
	 * chunk is held (only when a callback stopped the step can one still
	 * run here) */
	if (r != MSNAP_OK || !s->pf_keep)
		prefetch_drop(s);
	return r;
}
