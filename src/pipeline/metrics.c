/* SPDX-License-Identifier: MIT */
/*
 * Counters, gauges and the HTTP listener (see metrics.h).  Per-table
 * counters sit in a fixed-size hash under a mutex; entries are never moved
 * or freed before metrics_free().  libmicrohttpd serves /metrics in the
 * Prometheus text format 0.0.4 and /health from its own thread.
 */
#include "pipeline/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "base/log.h"
#include "config/config.h"

#define NBUCKETS 256

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

struct metrics_priv {
	pthread_mutex_t mu;			/* guards buckets and ntables */
	struct metrics_table *buckets[NBUCKETS];
	size_t ntables;
	struct MHD_Daemon *daemon;		/* NULL when not listening */
	char ckpt_why[200];			/* why the last checkpoint write failed
						   (under mu) */
};


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct metrics *metrics_new(int lag_threshold_s)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct metrics_priv *p = calloc(1, sizeof(*p));

	if (!m || !p)
		log_oom();
	pthread_mutex_init(&p->mu, NULL);
	m->lag_threshold_s = lag_threshold_s;
	m->http_max_conns = 32;
	m->http_max_per_addr = 8;
	m->http_idle_s = 10;
	atomic_store(&m->source_lag_bytes, -1);
	m->priv = p;
	return m;
}

void metrics_free(struct metrics *m)
{
	struct metrics_priv *p;

	if (!m)
		return;
	metrics_http_stop(m);
	p = m->priv;
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct metrics_table *t = p->buckets[i];

		while (t) {
			struct metrics_table *next = t->next;

			free(t);
			t = next;
		}
	}
	pthread_mutex_destroy(&p->mu);
	free(p);
	free(m);
}

/* FNV-1a over db, a NUL, then table. */
static size_t bucket_of(const char *db, const char *table)
{
	uint64_t h = 14695981039346656037ULL;

	for (const char *s = db; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h *= 1099511628211ULL;
	for (const char *s = table; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h % NBUCKETS);
}

struct metrics_table *metrics_table(struct metrics *m, const char *db, const char *table)
{
	struct metrics_priv *p = m->priv;
	struct metrics_table *t;
	char kdb[sizeof(t->db)], ktab[sizeof(t->table)];
	size_t b;

	/* Key on the stored (possibly truncated) names so lookups match. */
	snprintf(kdb, sizeof(kdb), "%s", db ? db : "");
	snprintf(ktab, sizeof(ktab), "%s", table ? table : "");
	b = bucket_of(kdb, ktab);
	pthread_mutex_lock(&p->mu);
	for (t = p->buckets[b]; t; t = t->next)
		if (strcmp(t->db, kdb) == 0 && strcmp(t->table, ktab) == 0)
			goto out;
	t = calloc(1, sizeof(*t));
	if (!t)
		log_oom();
	memcpy(t->db, kdb, sizeof(kdb));
	memcpy(t->table, ktab, sizeof(ktab));
	t->next = p->buckets[b];
	p->buckets[b] = t;
	p->ntables++;
out:
	pthread_mutex_unlock(&p->mu);
	return t;
}

double metrics_lag_seconds(struct metrics *m)
{
	int64_t oldest = atomic_load(&m->oldest_unacked_ms);
	int64_t off = atomic_load(&m->clock_offset_ms);
	int64_t d;

	if (oldest == 0)
		return 0.0;
	d = now_ms() + off - oldest;
	return d > 0 ? (double)d / 1000.0 : 0.0;
}

void metrics_checkpoint_result(struct metrics *m, bool ok, const char *why)
{
	struct metrics_priv *p = m->priv;

	if (ok) {
		atomic_store(&m->checkpoint_failing, 0);
		return;
	}
	atomic_fetch_add(&m->checkpoint_failures, 1);
	pthread_mutex_lock(&p->mu);
	snprintf(p->ckpt_why, sizeof(p->ckpt_why), "%s", why ? why : "");
	pthread_mutex_unlock(&p->mu);
	atomic_store(&m->checkpoint_failing, 1);
}

/* Seconds from a wall-clock stamp to now, never negative. */
static double age_s(int64_t stamp_ms)
{
	int64_t d = now_ms() - stamp_ms;

	return d > 0 ? (double)d / 1000.0 : 0.0;
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label(struct rc_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(out, "\\\\");
		else if (*s == '"')
			buf_puts(out, "\\\"");
		else if (*s == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *s);
	}
}

static void put_head(struct rc_buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{db="..",table=".."[,op=".."]} value */
static void put_table_sample(struct rc_buf *out, const char *name, const char *db,
			     const char *table, const char *op, uint64_t v)
{
	buf_puts(out, name);
	buf_puts(out, "{db=\"");
	put_label(out, db);
	buf_puts(out, "\",table=\"");
	put_label(out, table);
	if (op) {
		buf_puts(out, "\",op=\"");
		buf_puts(out, op);
	}
	buf_puts(out, "\"} ");
	buf_put_u64(out, v);
	buf_putc(out, '\n');
}

static void put_u64(struct rc_buf *out, const char *name, const char *type, const char *help,
		    uint64_t v)
{
	put_head(out, name, type, help);
	buf_puts(out, name);
	buf_putc(out, ' ');
	buf_put_u64(out, v);
	buf_putc(out, '\n');
}

static int cmp_table(const void *a, const void *b)
{
	const struct metrics_table *x = *(struct metrics_table *const *)a;
	const struct metrics_table *y = *(struct metrics_table *const *)b;
	int c = strcmp(x->db, y->db);

	return c ? c : strcmp(x->table, y->table);
}

/* The registry's entries sorted by db, table (stable output); *n set.
 * Entries outlive the lock: they are only freed by metrics_free(). */
static struct metrics_table **snapshot(struct metrics *m, size_t *n)
{
	struct metrics_priv *p = m->priv;
	struct metrics_table **v;
	size_t k = 0;

	pthread_mutex_lock(&p->mu);
	v = malloc((p->ntables ? p->ntables : 1) * sizeof(*v));
	if (!v)
		log_oom();
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct metrics_table *t = p->buckets[i]; t; t = t->next)
			v[k++] = t;
	pthread_mutex_unlock(&p->mu);
	qsort(v, k, sizeof(*v), cmp_table);
	*n = k;
	return v;
}

/* A family of samples, each read at a field's offset in a struct. */
struct series {
	const char *name, *help;
	size_t field;
};

/* The snapshot's series: the per-table ones only while a table is read
 * (the table changes as the snapshot goes on; none between two tables),
 * the rest always. */
static void put_snapshot(struct metrics *m, struct rc_buf *out)
{
	static const struct series per_table[] = {
		{ "rowcast_snapshot_table_rows", "Rows of the table being snapshotted handed over so far.",
		  offsetof(struct metrics_snap, rows) },
		{ "rowcast_snapshot_table_rows_estimated", "Estimated rows of the table being snapshotted.",
		  offsetof(struct metrics_snap, est_rows) },
		{ "rowcast_snapshot_table_chunks", "Chunks read of the table being snapshotted.",
		  offsetof(struct metrics_snap, chunks) },
	};
	struct metrics_snap s = { 0 };

	if (m->snap_read)
		m->snap_read(m->snap_arg, &s);
	put_u64(out, "rowcast_snapshot_active", "gauge",
		"1 while a snapshot reads a table, else 0.", s.active ? 1 : 0);
	for (size_t f = 0; f < sizeof(per_table) / sizeof(per_table[0]); f++) {
		put_head(out, per_table[f].name, "gauge", per_table[f].help);
		if (s.active && s.table[0])	/* not between two tables */
			put_table_sample(out, per_table[f].name, s.db, s.table, NULL,
					 *(const uint64_t *)((const char *)&s + per_table[f].field));
	}
	put_u64(out, "rowcast_snapshot_tables_left", "gauge",
		"Tables the snapshot has still to read, the current one included.",
		s.active ? s.tables_left : 0);
	put_u64(out, "rowcast_snapshot_tables_done_total", "counter",
		"Tables snapshots finished since the start.", s.tables_done);
	put_u64(out, "rowcast_snapshot_rows_total", "counter",
		"Rows snapshots handed over since the start, all tables.", s.rows_total);
}

void metrics_render(struct metrics *m, struct rc_buf *out)
{
	static const struct series per_op[] = {
		{ "rowcast_events_read_total", "Row changes decoded from the binlog.",
		  offsetof(struct metrics_table, read) },
		{ "rowcast_events_published_total", "Row changes handed to the sink.",
		  offsetof(struct metrics_table, published) },
		{ "rowcast_events_acked_total", "Row changes acknowledged by the broker.",
		  offsetof(struct metrics_table, acked) },
	};
	size_t n;
	struct metrics_table **tabs = snapshot(m, &n);
	int64_t last_ckpt;

	for (size_t f = 0; f < sizeof(per_op) / sizeof(per_op[0]); f++) {
		put_head(out, per_op[f].name, "counter", per_op[f].help);
		for (size_t i = 0; i < n; i++) {
			atomic_uint_fast64_t *c =
				(atomic_uint_fast64_t *)((char *)tabs[i] + per_op[f].field);

			for (int op = 0; op < CH_ROW_OPS; op++)
				put_table_sample(out, per_op[f].name, tabs[i]->db,
						 tabs[i]->table, ch_op_names[op],
						 atomic_load(&c[op]));
		}
	}
	put_head(out, "rowcast_published_bytes_total", "counter",
		 "Payload bytes handed to the sink.");
	for (size_t i = 0; i < n; i++)
		put_table_sample(out, "rowcast_published_bytes_total", tabs[i]->db,
				 tabs[i]->table, NULL, atomic_load(&tabs[i]->bytes));
	free(tabs);

	put_u64(out, "rowcast_inflight_messages", "gauge",
		"Messages published and not yet acknowledged.", atomic_load(&m->inflight));
	put_u64(out, "rowcast_inflight_bytes", "gauge",
		"Payload bytes of the messages in flight.", atomic_load(&m->inflight_bytes));
	put_head(out, "rowcast_reconnects_total", "counter",
		 "Reconnections to the database (source) and the broker (sink).");
	buf_puts(out, "rowcast_reconnects_total{peer=\"source\"} ");
	buf_put_u64(out, atomic_load(&m->reconnects_source));
	buf_puts(out, "\nrowcast_reconnects_total{peer=\"sink\"} ");
	buf_put_u64(out, atomic_load(&m->reconnects_sink));
	buf_putc(out, '\n');
	put_u64(out, "rowcast_decode_errors_total", "counter",
		"Binlog events that failed to decode.", atomic_load(&m->decode_errors));
	put_u64(out, "rowcast_unroutable_total", "counter",
		"Messages the broker returned as unroutable.", atomic_load(&m->unroutable));
	put_u64(out, "rowcast_unpublishable_skipped_total", "counter",
		"Messages skipped as unpublishable (on_unpublishable = skip).",
		atomic_load(&m->unpublishable));
	put_u64(out, "rowcast_checkpoint_writes_total", "counter",
		"Checkpoint files written.", atomic_load(&m->checkpoint_writes));
	put_u64(out, "rowcast_checkpoint_write_failures_total", "counter",
		"Checkpoint writes that failed.", atomic_load(&m->checkpoint_failures));
	put_u64(out, "rowcast_checkpoint_failing", "gauge",
		"1 while the last checkpoint write failed.",
		atomic_load(&m->checkpoint_failing) ? 1 : 0);

	/* No sample at all until the first checkpoint is written: an absent
	 * series is what Prometheus alerting (absent(), staleness) expects,
	 * where NaN or -1 would have to be filtered out by every query.
	 * While nothing acknowledged waits to be written (an idle database)
	 * it is 0, so that it grows only when the checkpoint is stuck. */
	put_head(out, "rowcast_seconds_since_checkpoint", "gauge",
		 "Seconds since the last checkpoint write while acknowledged changes wait to be written, 0 when none wait; absent until the first write.");
	last_ckpt = atomic_load(&m->last_checkpoint_ms);
	if (last_ckpt != 0)
		buf_printf(out, "rowcast_seconds_since_checkpoint %.3f\n",
			   atomic_load(&m->checkpoint_behind) ? age_s(last_ckpt) : 0.0);
	{
		int64_t pub = atomic_load(&m->oldest_pub_ms);

		put_head(out, "rowcast_oldest_unacked_message_seconds", "gauge",
			 "Seconds since the oldest message not yet acknowledged was published, 0 when none.");
		buf_printf(out, "rowcast_oldest_unacked_message_seconds %.3f\n",
			   pub ? age_s(pub) : 0.0);
	}
	{
		int64_t lag = atomic_load(&m->source_lag_bytes);

		put_head(out, "rowcast_source_lag_bytes", "gauge",
			 "Binlog bytes between the position read and the server's end; absent until measured.");
		if (lag >= 0) {
			buf_puts(out, "rowcast_source_lag_bytes ");
			buf_put_u64(out, (uint64_t)lag);
			buf_putc(out, '\n');
		}
	}
	put_head(out, "rowcast_replication_lag_seconds", "gauge",
		 "Age of the oldest unacknowledged transaction, 0 when none is pending.");
	buf_printf(out, "rowcast_replication_lag_seconds %.3f\n", metrics_lag_seconds(m));
	put_u64(out, "rowcast_source_connected", "gauge",
		"1 while streaming from the database.",
		atomic_load(&m->source_connected) ? 1 : 0);
	put_u64(out, "rowcast_sink_connected", "gauge",
		"1 while the broker session is up.", atomic_load(&m->sink_connected) ? 1 : 0);
	put_snapshot(m, out);
	put_u64(out, "rowcast_up", "gauge", "1 while the process runs.", 1);
}

bool metrics_healthy(struct metrics *m, char *why, size_t whylen)
{
	char tmp[256];
	bool ok = false;
	double lag;

	if (!atomic_load(&m->source_connected)) {
		snprintf(tmp, sizeof(tmp), "source not connected");
		goto out;
	}
	if (!atomic_load(&m->sink_connected)) {
		snprintf(tmp, sizeof(tmp), "sink not connected");
		goto out;
	}
	if (atomic_load(&m->checkpoint_failing)) {
		struct metrics_priv *p = m->priv;

		pthread_mutex_lock(&p->mu);
		snprintf(tmp, sizeof(tmp), "checkpoint cannot be written: %s", p->ckpt_why);
		pthread_mutex_unlock(&p->mu);
		goto out;
	}
	lag = metrics_lag_seconds(m);
	if (lag > (double)m->lag_threshold_s) {
		snprintf(tmp, sizeof(tmp), "lag %.1f s over %d s", lag, m->lag_threshold_s);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "ok");
	ok = true;
out:
	if (why && whylen)
		snprintf(why, whylen, "%s", tmp);
	return ok;
}

/* --- HTTP --------------------------------------------------------------- */

static mhd_result send_text(struct MHD_Connection *c, unsigned status, const char *type,
			    struct rc_buf *body, const char *allow)
{
	struct MHD_Response *r;
	mhd_result ret;

	/* MUST_FREE hands the buffer over: rc_buf memory comes from realloc. */
	r = MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		buf_free(body);
		return MHD_NO;
	}
	body->data = NULL;
	body->len = body->cap = 0;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static mhd_result on_request(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **req_state)
{
	struct metrics *m = cls;
	struct rc_buf body = { 0 };
	bool is_metrics = strcmp(url, "/metrics") == 0;
	bool is_health = strcmp(url, "/health") == 0;
	char why[256];

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)req_state;
	if (!is_metrics && !is_health) {
		buf_puts(&body, "not found\n");
		return send_text(c, MHD_HTTP_NOT_FOUND, "text/plain", &body, NULL);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		buf_puts(&body, "method not allowed\n");
		return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", &body,
				 "GET, HEAD");
	}
	if (is_metrics) {
		metrics_render(m, &body);
		return send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", &body, NULL);
	}
	if (metrics_healthy(m, why, sizeof(why))) {
		buf_puts(&body, "ok\n");
		return send_text(c, MHD_HTTP_OK, "text/plain", &body, NULL);
	}
	buf_printf(&body, "%s\n", why);
	return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", &body, NULL);
}

/* Raise the soft descriptor limit to the hard one, then check that the
 * HTTP connections leave METRICS_FD_RESERVE for the rest; false with err. */
static bool fd_room(struct metrics *m, char *err, size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(err, errlen, "metrics: getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return false;
	}
	if (rl.rlim_cur != rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;	/* keep going with the old one */
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)m->http_max_conns + METRICS_FD_RESERVE + 8 > rl.rlim_cur) {
		snprintf(err, errlen,
			 "metrics: max_connections = %u leaves too few of the %llu file descriptors allowed (LimitNOFILE): at most %llu",
			 m->http_max_conns, (unsigned long long)rl.rlim_cur,
			 rl.rlim_cur > METRICS_FD_RESERVE + 8 ?
			 (unsigned long long)(rl.rlim_cur - METRICS_FD_RESERVE - 8) : 0ULL);
		return false;
	}
	return true;
}

bool metrics_http_start(struct metrics *m, const char *listen, char *err, size_t errlen)
{
	struct metrics_priv *p = m->priv;
	struct sockaddr_storage sa;
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD;	/* poll: no FD_SETSIZE cap */
	const union MHD_DaemonInfo *info;
	bool v6;

	if (p->daemon) {
		snprintf(err, errlen, "metrics: already listening");
		return false;
	}
	if (!config_listen_parse(listen, &sa, &v6)) {
		snprintf(err, errlen,
			 "metrics: bad listen address \"%s\": expected host:port "
			 "(IPv4, localhost or [IPv6])", listen);
		return false;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	if (!fd_room(m, err, errlen))
		return false;
	/* libmicrohttpd leaves the errno of the failed socket call behind;
	 * start from 0 to tell it apart from a failure without one. */
	errno = 0;
	p->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				     MHD_OPTION_CONNECTION_TIMEOUT, m->http_idle_s,
				     MHD_OPTION_CONNECTION_LIMIT, m->http_max_conns,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, m->http_max_per_addr,
				     MHD_OPTION_END);
	if (!p->daemon) {
		int e = errno;

		snprintf(err, errlen, "metrics: cannot listen on %s: %s", listen,
			 e ? strerror(e) : "cannot start the HTTP server");
		return false;
	}
	info = MHD_get_daemon_info(p->daemon, MHD_DAEMON_INFO_BIND_PORT);
	log_info("metrics: listening on %s (port %u)", listen,
		 info ? (unsigned)info->port : 0u);
	return true;
}

void metrics_http_stop(struct metrics *m)
{
	struct metrics_priv *p = m->priv;

	if (p->daemon) {
		MHD_stop_daemon(p->daemon);
		p->daemon = NULL;
	}
}
