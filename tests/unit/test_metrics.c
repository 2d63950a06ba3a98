/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the per-table registry, the exact Prometheus text, lag and
 * health, and the HTTP listener spoken to over a plain socket.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "base/log.h"
#include "pipeline/metrics.h"

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static void test_registry(void **state)
{
	struct metrics *m = metrics_new(60);
	struct metrics_table *a, *b, *c, *d, *e;
	char longname[400];

	(void)state;
	a = metrics_table(m, "shop", "orders");
	b = metrics_table(m, "shop", "orders");
	c = metrics_table(m, "shop", "items");
	d = metrics_table(m, "shopo", "rders");
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_ptr_not_equal(a, d);
	assert_ptr_not_equal(c, d);
	assert_string_equal(a->db, "shop");
	assert_string_equal(a->table, "orders");
	/* many entries: earlier pointers stay valid and found */
	for (int i = 0; i < 2000; i++) {
		char t[32];

		snprintf(t, sizeof(t), "t%d", i);
		e = metrics_table(m, "bulk", t);
		assert_ptr_equal(e, metrics_table(m, "bulk", t));
	}
	assert_ptr_equal(metrics_table(m, "shop", "orders"), a);
	assert_ptr_equal(metrics_table(m, "shop", "items"), c);
	/* over-long names are truncated, and still map to one entry */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	e = metrics_table(m, longname, "t");
	assert_ptr_equal(e, metrics_table(m, longname, "t"));
	assert_int_equal(strlen(e->db), sizeof(e->db) - 1);
	metrics_free(m);
	metrics_free(NULL);
}

/* Every sample line belongs to the family of the last TYPE line, and each
 * family is announced once (the exposition format's grouping rule). */
static void check_grouping(const char *text)
{
	char family[128] = "";
	char seen[4096] = "|";
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n;

		assert_non_null(nl);
		n = (size_t)(nl - p);
		if (strncmp(p, "# TYPE ", 7) == 0) {
			const char *sp = memchr(p + 7, ' ', n - 7);
			char key[140];

			assert_non_null(sp);
			snprintf(family, sizeof(family), "%.*s", (int)(sp - (p + 7)), p + 7);
			snprintf(key, sizeof(key), "|%s|", family);
			assert_null(strstr(seen, key));
			strncat(seen, family, sizeof(seen) - strlen(seen) - 2);
			strcat(seen, "|");
		} else if (p[0] != '#') {
			size_t fl = strlen(family);

			assert_true(fl > 0);
			assert_memory_equal(p, family, fl);
			assert_true(p[fl] == ' ' || p[fl] == '{');
		}
		p = nl + 1;
	}
}

static void test_render(void **state)
{
	struct metrics *m = metrics_new(60);
	struct metrics_table *t, *w;
	struct rc_buf b = { 0 };

	(void)state;
	t = metrics_table(m, "shop", "orders");
	w = metrics_table(m, "shop", "we\"ird\\na\nme");
	atomic_store(&t->read[0], 10);
	atomic_store(&t->read[1], 4);
	atomic_store(&t->read[2], 1);
	atomic_store(&t->published[0], 9);
	atomic_store(&t->acked[0], 8);
	atomic_store(&t->bytes, 12345);
	atomic_store(&w->read[2], 7);
	atomic_store(&w->bytes, 99);
	atomic_store(&m->inflight, 3);
	atomic_store(&m->inflight_bytes, 4096);
	atomic_store(&m->reconnects_source, 2);
	atomic_store(&m->reconnects_sink, 5);
	atomic_store(&m->decode_errors, 1);
	atomic_store(&m->unroutable, 6);
	atomic_store(&m->checkpoint_writes, 11);
	atomic_store(&m->unpublishable, 4);
	atomic_store(&m->source_connected, 1);
	metrics_checkpoint_result(m, false, "x");
	metrics_checkpoint_result(m, false, "y");

	metrics_render(m, &b);
	check_grouping(b.data);
	assert_true(has_line(b.data, "# HELP rowcast_events_read_total Row changes decoded from the binlog."));
	assert_true(has_line(b.data, "# TYPE rowcast_events_read_total counter"));
	assert_true(has_line(b.data, "rowcast_events_read_total{db=\"shop\",table=\"orders\",op=\"insert\"} 10"));
	assert_true(has_line(b.data, "rowcast_events_read_total{db=\"shop\",table=\"orders\",op=\"update\"} 4"));
	assert_true(has_line(b.data, "rowcast_events_read_total{db=\"shop\",table=\"orders\",op=\"delete\"} 1"));
	assert_true(has_line(b.data, "rowcast_events_read_total{db=\"shop\",table=\"we\\\"ird\\\\na\\nme\",op=\"delete\"} 7"));
	assert_true(has_line(b.data, "rowcast_events_read_total{db=\"shop\",table=\"we\\\"ird\\\\na\\nme\",op=\"insert\"} 0"));
	assert_true(has_line(b.data, "# TYPE rowcast_events_published_total counter"));
	assert_true(has_line(b.data, "rowcast_events_published_total{db=\"shop\",table=\"orders\",op=\"insert\"} 9"));
	assert_true(has_line(b.data, "rowcast_events_published_total{db=\"shop\",table=\"orders\",op=\"update\"} 0"));
	assert_true(has_line(b.data, "# TYPE rowcast_events_acked_total counter"));
	assert_true(has_line(b.data, "rowcast_events_acked_total{db=\"shop\",table=\"orders\",op=\"insert\"} 8"));
	assert_true(has_line(b.data, "# TYPE rowcast_published_bytes_total counter"));
	assert_true(has_line(b.data, "rowcast_published_bytes_total{db=\"shop\",table=\"orders\"} 12345"));
	assert_true(has_line(b.data, "rowcast_published_bytes_total{db=\"shop\",table=\"we\\\"ird\\\\na\\nme\"} 99"));
	assert_true(has_line(b.data, "# TYPE rowcast_inflight_messages gauge"));
	assert_true(has_line(b.data, "rowcast_inflight_messages 3"));
	assert_true(has_line(b.data, "# TYPE rowcast_inflight_bytes gauge"));
	assert_true(has_line(b.data, "rowcast_inflight_bytes 4096"));
	assert_true(has_line(b.data, "# TYPE rowcast_reconnects_total counter"));
	assert_true(has_line(b.data, "rowcast_reconnects_total{peer=\"source\"} 2"));
	assert_true(has_line(b.data, "rowcast_reconnects_total{peer=\"sink\"} 5"));
	assert_true(has_line(b.data, "# TYPE rowcast_decode_errors_total counter"));
	assert_true(has_line(b.data, "rowcast_decode_errors_total 1"));
	assert_true(has_line(b.data, "rowcast_unroutable_total 6"));
	assert_true(has_line(b.data, "rowcast_checkpoint_writes_total 11"));
	assert_true(has_line(b.data, "# TYPE rowcast_unpublishable_skipped_total counter"));
	assert_true(has_line(b.data, "rowcast_unpublishable_skipped_total 4"));
	assert_true(has_line(b.data, "# TYPE rowcast_checkpoint_write_failures_total counter"));
	assert_true(has_line(b.data, "rowcast_checkpoint_write_failures_total 2"));
	assert_true(has_line(b.data, "# TYPE rowcast_checkpoint_failing gauge"));
	assert_true(has_line(b.data, "rowcast_checkpoint_failing 1"));
	assert_true(has_line(b.data, "# TYPE rowcast_oldest_unacked_message_seconds gauge"));
	assert_true(has_line(b.data, "rowcast_oldest_unacked_message_seconds 0.000"));
	/* not measured yet: family announced, no sample */
	assert_true(has_line(b.data, "# TYPE rowcast_source_lag_bytes gauge"));
	assert_null(strstr(b.data, "\nrowcast_source_lag_bytes "));
	/* never written: family announced, no sample */
	assert_true(has_line(b.data, "# TYPE rowcast_seconds_since_checkpoint gauge"));
	assert_null(strstr(b.data, "\nrowcast_seconds_since_checkpoint "));
	assert_true(has_line(b.data, "# TYPE rowcast_replication_lag_seconds gauge"));
	assert_true(has_line(b.data, "rowcast_replication_lag_seconds 0.000"));
	assert_true(has_line(b.data, "# TYPE rowcast_source_connected gauge"));
	assert_true(has_line(b.data, "rowcast_source_connected 1"));
	assert_true(has_line(b.data, "rowcast_sink_connected 0"));
	assert_true(has_line(b.data, "# TYPE rowcast_up gauge"));
	assert_true(has_line(b.data, "rowcast_up 1"));
	/* a raw newline of the table name never reaches the output */
	assert_null(strstr(b.data, "a\nme"));
	/* sorted: items come in db, table order */
	assert_true(strstr(b.data, "table=\"orders\"") < strstr(b.data, "table=\"we"));
	assert_int_equal(b.data[b.len - 1], '\n');

	/* written 2 s ago and nothing waits to be written (idle): 0 */
	atomic_store(&m->last_checkpoint_ms, wall_ms() - 2000);
	buf_reset(&b);
	metrics_render(m, &b);
	assert_true(has_line(b.data, "rowcast_seconds_since_checkpoint 0.000"));
	/* acknowledged changes wait: a sample near 2 s; the other gauges */
	atomic_store(&m->checkpoint_behind, 1);
	atomic_store(&m->oldest_pub_ms, wall_ms() - 3000);
	atomic_store(&m->source_lag_bytes, 123456);
	metrics_checkpoint_result(m, true, NULL);
	buf_reset(&b);
	metrics_render(m, &b);
	check_grouping(b.data);
	assert_true(has_line(b.data, "rowcast_source_lag_bytes 123456"));
	assert_true(has_line(b.data, "rowcast_checkpoint_failing 0"));
	assert_true(has_line(b.data, "rowcast_checkpoint_write_failures_total 2"));
	{
		const char *s = strstr(b.data, "\nrowcast_oldest_unacked_message_seconds ");
		double v;

		assert_non_null(s);
		v = strtod(s + strlen("\nrowcast_oldest_unacked_message_seconds "), NULL);
		assert_true(v >= 2.9 && v < 10.0);
	}
	{
		const char *s = strstr(b.data, "\nrowcast_seconds_since_checkpoint ");
		double v;

		assert_non_null(s);
		v = strtod(s + strlen("\nrowcast_seconds_since_checkpoint "), NULL);
		assert_true(v >= 1.9 && v < 10.0);
	}
	buf_free(&b);
	metrics_free(m);
}

static void test_empty_render(void **state)
{
	struct metrics *m = metrics_new(60);
	struct rc_buf b = { 0 };

	(void)state;
	metrics_render(m, &b);
	check_grouping(b.data);
	assert_true(has_line(b.data, "# TYPE rowcast_events_read_total counter"));
	assert_null(strstr(b.data, "rowcast_events_read_total{"));
	assert_true(has_line(b.data, "rowcast_up 1"));
	assert_true(has_line(b.data, "rowcast_source_connected 0"));
	buf_free(&b);
	metrics_free(m);
}

/* A stand-in for the pipeline's view of the snapshot. */
static void fake_snap(void *arg, struct metrics_snap *out)
{
	*out = *(const struct metrics_snap *)arg;
}

/* b: the exposition of m anew, its grouping checked. */
static void render_again(struct metrics *m, struct rc_buf *b)
{
	buf_reset(b);
	metrics_render(m, b);
	check_grouping(b->data);
}

static void test_snapshot_render(void **state)
{
	struct metrics *m = metrics_new(60);
	struct metrics_snap s = { .tables_done = 4, .rows_total = 5000 };
	struct rc_buf b = { 0 };

	(void)state;
	/* no hook (a library without snapshots): zeros, no table series */
	render_again(m, &b);
	assert_true(has_line(b.data, "rowcast_snapshot_active 0"));
	assert_true(has_line(b.data, "rowcast_snapshot_rows_total 0"));
	/* between snapshots: the totals, still no table series */
	m->snap_read = fake_snap;
	m->snap_arg = &s;
	render_again(m, &b);
	assert_true(has_line(b.data, "# TYPE rowcast_snapshot_active gauge"));
	assert_true(has_line(b.data, "rowcast_snapshot_active 0"));
	assert_true(has_line(b.data, "# TYPE rowcast_snapshot_table_rows gauge"));
	assert_null(strstr(b.data, "rowcast_snapshot_table_rows{"));
	assert_true(has_line(b.data, "rowcast_snapshot_tables_left 0"));
	assert_true(has_line(b.data, "# TYPE rowcast_snapshot_tables_done_total counter"));
	assert_true(has_line(b.data, "rowcast_snapshot_tables_done_total 4"));
	assert_true(has_line(b.data, "# TYPE rowcast_snapshot_rows_total counter"));
	assert_true(has_line(b.data, "rowcast_snapshot_rows_total 5000"));
	/* a table being read */
	s.active = true;
	snprintf(s.db, sizeof(s.db), "shop");
	snprintf(s.table, sizeof(s.table), "or\"ders");
	s.rows = 1200;
	s.est_rows = 10000;
	s.chunks = 3;
	s.tables_left = 2;
	render_again(m, &b);
	assert_true(has_line(b.data, "rowcast_snapshot_active 1"));
	assert_true(has_line(b.data, "rowcast_snapshot_table_rows{db=\"shop\",table=\"or\\\"ders\"} 1200"));
	assert_true(has_line(b.data, "rowcast_snapshot_table_rows_estimated{db=\"shop\",table=\"or\\\"ders\"} 10000"));
	assert_true(has_line(b.data, "rowcast_snapshot_table_chunks{db=\"shop\",table=\"or\\\"ders\"} 3"));
	assert_true(has_line(b.data, "rowcast_snapshot_tables_left 2"));
	/* between two tables: still active, no table series */
	s.table[0] = '\0';
	s.tables_left = 1;
	render_again(m, &b);
	assert_true(has_line(b.data, "rowcast_snapshot_active 1"));
	assert_null(strstr(b.data, "rowcast_snapshot_table_rows{"));
	assert_true(has_line(b.data, "rowcast_snapshot_tables_left 1"));
	buf_free(&b);
	metrics_free(m);
}

static void test_lag(void **state)
{
	struct metrics *m = metrics_new(60);
	double lag;

	(void)state;
	assert_true(metrics_lag_seconds(m) == 0.0);
	/* nothing pending: 0 whatever the offset */
	atomic_store(&m->clock_offset_ms, 50000);
	assert_true(metrics_lag_seconds(m) == 0.0);

	/* commit 5 s ago on a server whose clock matches ours */
	atomic_store(&m->clock_offset_ms, 0);
	atomic_store(&m->oldest_unacked_ms, wall_ms() - 5000);
	lag = metrics_lag_seconds(m);
	assert_true(lag >= 5.0 && lag < 6.0);

	/* server clock 2 s ahead of ours: its commit stamp is 2 s "later" */
	atomic_store(&m->clock_offset_ms, 2000);
	atomic_store(&m->oldest_unacked_ms, wall_ms() + 2000 - 5000);
	lag = metrics_lag_seconds(m);
	assert_true(lag >= 5.0 && lag < 6.0);
	/* the same stamp read without the offset would be 3 s */
	atomic_store(&m->clock_offset_ms, 0);
	lag = metrics_lag_seconds(m);
	assert_true(lag >= 3.0 && lag < 4.0);

	/* server clock behind: never negative */
	atomic_store(&m->clock_offset_ms, -60000);
	assert_true(metrics_lag_seconds(m) == 0.0);
	atomic_store(&m->clock_offset_ms, 0);
	atomic_store(&m->oldest_unacked_ms, wall_ms() + 100000);
	assert_true(metrics_lag_seconds(m) == 0.0);
	metrics_free(m);
}

static void test_healthy(void **state)
{
	struct metrics *m = metrics_new(60);
	char why[64];

	(void)state;
	assert_false(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "source not connected");
	atomic_store(&m->source_connected, 1);
	assert_false(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "sink not connected");
	atomic_store(&m->sink_connected, 1);
	assert_true(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "ok");
	/* lag under the threshold */
	atomic_store(&m->oldest_unacked_ms, wall_ms() - 30000);
	assert_true(metrics_healthy(m, why, sizeof(why)));
	/* 75.2 s over 60 s (the clock moves little in between) */
	atomic_store(&m->oldest_unacked_ms, wall_ms() - 75200);
	assert_false(metrics_healthy(m, why, sizeof(why)));
	assert_true(strcmp(why, "lag 75.2 s over 60 s") == 0 ||
		    strcmp(why, "lag 75.3 s over 60 s") == 0);
	/* short buffer: truncated, NUL-terminated; NULL why is fine */
	assert_false(metrics_healthy(m, why, 4));
	assert_string_equal(why, "lag");
	assert_false(metrics_healthy(m, NULL, 0));
	atomic_store(&m->source_connected, 0);
	assert_false(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "source not connected");
	metrics_free(m);
}

/* A checkpoint that cannot be written fails /health with the reason until
 * a write succeeds; each failure is counted. */
static void test_healthy_checkpoint(void **state)
{
	struct metrics *m = metrics_new(60);
	char why[256];

	(void)state;
	atomic_store(&m->source_connected, 1);
	atomic_store(&m->sink_connected, 1);
	metrics_checkpoint_result(m, true, NULL);
	assert_true(metrics_healthy(m, why, sizeof(why)));
	metrics_checkpoint_result(m, false,
				  "/var/lib/rowcast/checkpoint.tmp: open: Permission denied");
	assert_false(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "checkpoint cannot be written: "
			    "/var/lib/rowcast/checkpoint.tmp: open: Permission denied");
	metrics_checkpoint_result(m, false, "again");
	assert_false(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "checkpoint cannot be written: again");
	assert_int_equal(atomic_load(&m->checkpoint_failures), 2);
	/* a lost end is named first */
	atomic_store(&m->sink_connected, 0);
	assert_false(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "sink not connected");
	atomic_store(&m->sink_connected, 1);
	metrics_checkpoint_result(m, true, NULL);
	assert_true(metrics_healthy(m, why, sizeof(why)));
	assert_string_equal(why, "ok");
	assert_int_equal(atomic_load(&m->checkpoint_failures), 2);
	metrics_free(m);
}

/* A port nobody listens on right now. */
static unsigned free_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* One HTTP/1.0 exchange; returns the status, the whole response in resp. */
static int http(int family, unsigned port, const char *request, struct rc_buf *resp)
{
	struct sockaddr_storage ss = { 0 };
	struct timeval tv = { .tv_sec = 5 };
	socklen_t len;
	char chunk[4096];
	ssize_t n;
	size_t off = 0, rl = strlen(request);
	int fd, status = -1;

	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	buf_reset(resp);
	fd = socket(family, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
	while (off < rl) {
		n = write(fd, request + off, rl - off);
		assert_true(n > 0);
		off += (size_t)n;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(resp, chunk, (size_t)n);
	close(fd);
	if (resp->len > 12 && strncmp(resp->data, "HTTP/1.", 7) == 0)
		status = atoi(resp->data + 9);
	return status;
}

static const char *body_of(const struct rc_buf *resp)
{
	const char *p = strstr(resp->data, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static void test_http(void **state)
{
	struct metrics *m = metrics_new(60);
	struct metrics *m2 = metrics_new(60);
	struct rc_buf r = { 0 };
	unsigned port = free_port();
	char addr[64], err[256], want[256];

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_true(metrics_http_start(m, addr, err, sizeof(err)));
	atomic_store(&m->inflight, 42);
	metrics_table(m, "db", "t");

	assert_int_equal(http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n", &r), 200);
	assert_non_null(strstr(r.data, "\r\nContent-Type: text/plain; version=0.0.4\r\n"));
	assert_true(has_line(body_of(&r), "rowcast_inflight_messages 42"));
	assert_true(has_line(body_of(&r), "rowcast_events_read_total{db=\"db\",table=\"t\",op=\"insert\"} 0"));
	assert_true(has_line(body_of(&r), "rowcast_up 1"));

	assert_int_equal(http(AF_INET, port, "GET /health HTTP/1.0\r\n\r\n", &r), 503);
	assert_string_equal(body_of(&r), "source not connected\n");
	atomic_store(&m->source_connected, 1);
	atomic_store(&m->sink_connected, 1);
	assert_int_equal(http(AF_INET, port, "GET /health HTTP/1.0\r\n\r\n", &r), 200);
	assert_string_equal(body_of(&r), "ok\n");
	assert_int_equal(http(AF_INET, port, "GET /health?x=1 HTTP/1.1\r\nHost: a\r\n"
			      "Connection: close\r\n\r\n", &r), 200);

	assert_int_equal(http(AF_INET, port, "GET /nope HTTP/1.0\r\n\r\n", &r), 404);
	assert_int_equal(http(AF_INET, port, "GET / HTTP/1.0\r\n\r\n", &r), 404);
	assert_int_equal(http(AF_INET, port, "POST /metrics HTTP/1.0\r\n"
			      "Content-Length: 0\r\n\r\n", &r), 405);
	assert_non_null(strstr(r.data, "\r\nAllow: GET, HEAD\r\n"));
	assert_int_equal(http(AF_INET, port, "DELETE /health HTTP/1.0\r\n\r\n", &r), 405);
	assert_int_equal(http(AF_INET, port, "HEAD /metrics HTTP/1.0\r\n\r\n", &r), 200);
	assert_string_equal(body_of(&r), "");

	/* the port is taken: the second listener fails with the reason */
	assert_false(metrics_http_start(m2, addr, err, sizeof(err)));
	snprintf(want, sizeof(want), "metrics: cannot listen on %s: Address already in use", addr);
	assert_string_equal(err, want);
	/* a running listener is not started twice */
	assert_false(metrics_http_start(m, addr, err, sizeof(err)));
	assert_string_equal(err, "metrics: already listening");

	/* stop frees the port; the other instance may take it */
	metrics_http_stop(m);
	metrics_http_stop(m);
	assert_true(metrics_http_start(m2, addr, err, sizeof(err)));
	assert_int_equal(http(AF_INET, port, "GET /health HTTP/1.0\r\n\r\n", &r), 503);
	/* localhost, and freeing a running instance stops it */
	metrics_http_stop(m2);
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	assert_true(metrics_http_start(m2, addr, err, sizeof(err)));
	assert_int_equal(http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n", &r), 200);
	metrics_free(m2);
	/* port 0: the system picks one */
	assert_true(metrics_http_start(m, "127.0.0.1:0", err, sizeof(err)));
	metrics_free(m);
	buf_free(&r);
}

/* A connected TCP socket to 127.0.0.1:port that sends nothing. */
static int idle_conn(unsigned port)
{
	struct sockaddr_in a = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* True when the server closed fd within secs (read sees EOF or a reset). */
static bool closed_within(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };
	char c;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return read(fd, &c, 1) <= 0 && errno != EAGAIN && errno != EWOULDBLOCK;
}

/* Connections over the per-address limit are closed at once, idle ones
 * after the timeout; then a request is served again. */
static void test_http_limits(void **state)
{
	struct metrics *m = metrics_new(60);
	struct rc_buf r = { 0 };
	unsigned port = free_port();
	char addr[64], err[256];
	int fd[6];
	int64_t t0;

	(void)state;
	m->http_max_conns = 4;
	m->http_max_per_addr = 2;
	m->http_idle_s = 1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_true(metrics_http_start(m, addr, err, sizeof(err)));
	for (int i = 0; i < 6; i++) {
		fd[i] = idle_conn(port);
		usleep(50000);	/* let the server accept them in order */
	}
	/* over the limit: closed right away */
	for (int i = 2; i < 6; i++) {
		errno = 0;
		assert_true(closed_within(fd[i], 1));
	}
	/* the first two are held until the idle timeout (1 s) */
	t0 = wall_ms();
	for (int i = 0; i < 2; i++) {
		errno = 0;
		assert_true(closed_within(fd[i], 5));
	}
	assert_true(wall_ms() - t0 >= 300);
	for (int i = 0; i < 6; i++)
		close(fd[i]);
	/* served again once the server has let go of them (its thread
	 * releases the per-address count just after the close) */
	for (int i = 0; i < 40 && http(AF_INET, port, "GET /health HTTP/1.0\r\n\r\n", &r) != 503;
	     i++)
		usleep(50000);
	assert_int_equal(http(AF_INET, port, "GET /health HTTP/1.0\r\n\r\n", &r), 503);
	metrics_free(m);
	buf_free(&r);
}

/* max_connections must leave METRICS_FD_RESERVE under the descriptor
 * limit (after raising the soft limit to the hard one): checked in a
 * child, since a lowered hard limit cannot be raised again. */
static void test_http_fd_room(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { .rlim_cur = 50, .rlim_max = 200 };
		struct metrics *m = metrics_new(60);
		char err[256];
		bool ok;

		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(2);
		m->http_max_conns = 200;
		ok = metrics_http_start(m, "127.0.0.1:0", err, sizeof(err));
		if (ok || strcmp(err, "metrics: max_connections = 200 leaves too few of the 200 "
			    "file descriptors allowed (LimitNOFILE): at most 128") != 0) {
			fprintf(stderr, "got: %s\n", ok ? "started" : err);
			_exit(3);
		}
		/* the soft limit was raised to the hard one */
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur != 200)
			_exit(4);
		m->http_max_conns = 128;
		if (!metrics_http_start(m, "127.0.0.1:0", err, sizeof(err))) {
			fprintf(stderr, "got: %s\n", err);
			_exit(5);
		}
		metrics_free(m);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_http_ipv6(void **state)
{
	struct metrics *m = metrics_new(60);
	struct rc_buf r = { 0 };
	unsigned port = free_port();
	char addr[64], err[256];

	(void)state;
	snprintf(addr, sizeof(addr), "[::1]:%u", port);
	if (!metrics_http_start(m, addr, err, sizeof(err))) {
		/* a host without IPv6 loopback: only the message is checked */
		assert_non_null(strstr(err, "metrics: cannot listen on [::1]:"));
		metrics_free(m);
		skip();
	}
	assert_int_equal(http(AF_INET6, port, "GET /health HTTP/1.0\r\n\r\n", &r), 503);
	assert_string_equal(body_of(&r), "source not connected\n");
	metrics_free(m);
	buf_free(&r);
}

static void test_bad_listen(void **state)
{
	static const char *const bad[] = {
		"", "9187", ":9187", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x", "256.1.1.1:80",
		"example.com:80", "[::1]", "[::1]80", "[nope]:80", "::1:80",
		"127.0.0.1: 80",
	};
	struct metrics *m = metrics_new(60);
	char err[256], want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(metrics_http_start(m, bad[i], err, sizeof(err)));
		snprintf(want, sizeof(want), "metrics: bad listen address \"%s\": expected "
			 "host:port (IPv4, localhost or [IPv6])", bad[i]);
		assert_string_equal(err, want);
	}
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_empty_render),
		cmocka_unit_test(test_snapshot_render),
		cmocka_unit_test(test_lag),
		cmocka_unit_test(test_healthy),
		cmocka_unit_test(test_healthy_checkpoint),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_limits),
		cmocka_unit_test(test_http_fd_room),
		cmocka_unit_test(test_http_ipv6),
		cmocka_unit_test(test_bad_listen),
	};

	log_setup(LOG_WARN, LOG_TO_STDERR, "test_metrics");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
