/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the control socket's request parser (a table of lines and
 * what each gives or why it is refused), the socket's path rule, the
 * progress line, and the socket itself served by a libev loop for an
 * instance whose source is a stand-in that answers from another thread,
 * as the reader does.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "pipeline/control.h"
#include "pipeline/pipeline.h"

/* ---- the parser ---- */

#define NOT_DB_TABLE \
	" is not db.table (one dot; names with dots or spaces cannot be asked for here)"

struct parse_case {
	const char *line;
	const char *want;	/* "verb all tables|where" as put_parsed() writes it, or NULL */
	const char *err;	/* the refusal, when want is NULL */
};

static const struct parse_case parse_cases[] = {
	{ "status", "status", NULL },
	{ "  status  ", "status", NULL },
	{ "status now", NULL, "status takes no arguments" },
	{ "snapshot shop.orders", "snapshot shop.orders", NULL },
	{ "snapshot\tshop.orders  shop.items ", "snapshot shop.orders,shop.items", NULL },
	{ "snapshot --all", "snapshot all", NULL },
	{ "snapshot shop.orders --where id > 10 AND note = 'a  b'  ",
	  "snapshot shop.orders|id > 10 AND note = 'a  b'", NULL },
	{ "snapshot shop.orders --where\tx=1", "snapshot shop.orders|x=1", NULL },
	{ "snapshot --where x=1 shop.orders", NULL, "snapshot needs tables (db.table ...) or --all" },
	{ "snapshot shop.orders --where", NULL, "--where needs a condition" },
	{ "snapshot shop.orders --where   ", NULL, "--where needs a condition" },
	{ "snapshot --all --where x=1", NULL, "--where needs named tables, not --all" },
	{ "snapshot --all shop.orders", NULL, "snapshot takes tables or --all, not both" },
	{ "snapshot", NULL, "snapshot needs tables (db.table ...) or --all" },
	{ "snapshot orders", NULL, "table \"orders\"" NOT_DB_TABLE },
	{ "snapshot a.b.c", NULL, "table \"a.b.c\"" NOT_DB_TABLE },
	{ "snapshot .t", NULL, "table \".t\"" NOT_DB_TABLE },
	{ "snapshot db.", NULL, "table \"db.\"" NOT_DB_TABLE },
	{ "snapshot shop.`x`", NULL, "table \"shop.`x`\": backquotes are refused in names" },
	{ "snapshot shop.orders shop.orders", NULL, "table shop.orders is named twice" },
	{ "snapshot --tables shop.orders", NULL,
	  "unknown option \"--tables\"; the options are --all, --where" },
	{ "snapshot --wherex shop.orders", NULL,
	  "unknown option \"--wherex\"; the options are --all, --where" },
	{ "snapshot shop.orders --where a = 1\x1b", NULL,
	  "the request has a control character (byte 0x1b at 34)" },
	{ "snapshot shop.orders\x7f", NULL, "the request has a control character (byte 0x7f at 20)" },
	{ "SNAPSHOT shop.orders", NULL, "unknown request \"SNAPSHOT\"; the requests are: snapshot, status" },
	{ "", NULL, "unknown request \"\"; the requests are: snapshot, status" },
	{ "hello there", NULL, "unknown request \"hello\"; the requests are: snapshot, status" },
	/* names of 64 characters pass (UTF-8 counted by characters), 65 do not */
	{ "snapshot d.\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	  "123456789012345678901234567890123456789012345678901234567890",
	  NULL, "table \"d.\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	  "123456789012345678901234567890123456789012345678901234567890...\": a name is longer than 64 characters" },
	{ "snapshot d.\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	  "123456789012345678901234567890123456789012345678901234567890",
	  "snapshot d.\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	  "123456789012345678901234567890123456789012345678901234567890", NULL },
};

/* What rq holds, as one string to compare. */
static void put_parsed(const struct control_request *rq, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "%s%s", rq->verb == CONTROL_STATUS ? "status" :
				    "snapshot", rq->all ? " all" : "");

	for (unsigned i = 0; i < rq->ntables; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", i ? "," : " ", rq->tables[i]);
	if (rq->where)
		snprintf(out + n, len - n, "|%s", rq->where);
}

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *pc = &parse_cases[i];
		char line[CONTROL_LINE_MAX + 1], got[1000], err[300] = "";
		struct control_request rq;
		bool ok;

		snprintf(line, sizeof(line), "%s", pc->line);
		ok = control_parse(line, strlen(line), &rq, err, sizeof(err));
		if (pc->want) {
			if (!ok)
				fail_msg("case %zu \"%s\": refused: %s", i, pc->line, err);
			put_parsed(&rq, got, sizeof(got));
			assert_string_equal(got, pc->want);
		} else {
			if (ok)
				fail_msg("case %zu \"%s\": taken", i, pc->line);
			assert_string_equal(err, pc->err);
		}
	}
}

/* A NUL inside the line is refused, not taken as its end. */
static void test_parse_nul(void **state)
{
	char line[] = "status\0x";
	struct control_request rq;
	char err[300];

	(void)state;
	assert_false(control_parse(line, sizeof(line) - 1, &rq, err, sizeof(err)));
	assert_string_equal(err, "the request has a control character (byte 0x00 at 6)");
}

/* Up to CONTROL_MAX_TABLES tables, not one more. */
static void test_parse_many(void **state)
{
	static char line[CONTROL_LINE_MAX * 2];
	struct control_request rq;
	char err[300];
	size_t n = (size_t)snprintf(line, sizeof(line), "snapshot");

	(void)state;
	for (int i = 0; i < CONTROL_MAX_TABLES; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " d.t%d", i);
	assert_true(control_parse(line, n, &rq, err, sizeof(err)));
	assert_int_equal(rq.ntables, CONTROL_MAX_TABLES);
	assert_string_equal(rq.tables[CONTROL_MAX_TABLES - 1], "d.t255");
	n = (size_t)snprintf(line, sizeof(line), "snapshot");
	for (int i = 0; i <= CONTROL_MAX_TABLES; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " d.t%d", i);
	assert_false(control_parse(line, n, &rq, err, sizeof(err)));
	assert_string_equal(err, "more than 256 tables in one request");
}

/* ---- the socket's path ---- */

static void test_socket_path(void **state)
{
	static const struct {
		const char *ckpt, *sock, *want;
	} cases[] = {
		{ "/var/lib/rowcast/checkpoint", "", "/var/lib/rowcast/rowcast.sock" },
		{ "/checkpoint", "", "/rowcast.sock" },
		{ "checkpoint", "", "rowcast.sock" },
		{ "checkpoint", "/run/rowcast/ctl", "/run/rowcast/ctl" },
	};
	struct rc_config cfg = { 0 };
	char path[200], err[600], longp[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg.ckpt_path = (char *)cases[i].ckpt;
		cfg.snap_control_socket = (char *)cases[i].sock;
		assert_true(control_socket_path(&cfg, path, sizeof(path), err, sizeof(err)));
		assert_string_equal(path, cases[i].want);
	}
	/* 107 bytes fit a sockaddr_un, 108 do not */
	memset(longp, 'x', sizeof(longp));
	longp[0] = '/';
	longp[107] = '\0';
	cfg.snap_control_socket = longp;
	assert_true(control_socket_path(&cfg, path, sizeof(path), err, sizeof(err)));
	longp[107] = 'x';
	longp[108] = '\0';
	assert_false(control_socket_path(&cfg, path, sizeof(path), err, sizeof(err)));
	assert_non_null(strstr(err, ": 108 bytes, more than a Unix socket path may have (107): set [snapshot] control_socket to a shorter path"));
}

/* ---- the progress line ---- */

static void test_progress_line(void **state)
{
	struct metrics_snap s = {
		.active = true, .id = 3, .db = "shop", .table = "orders", .rows = 120000,
		.est_rows = 1000000, .chunks = 37, .tables_left = 2,
		.table_started_ms = 1000000, .rows_at_start = 0,
	};
	struct rc_buf b = { 0 };

	(void)state;
	/* 120000 rows in 3 s: 40000 rows/s, 880000 left: 22 s */
	control_progress_line(&s, 1003000, &b);
	assert_string_equal(b.data, "snapshot 3: shop.orders: 120000/1000000 rows (12.0 %), 37 chunks, 40000 rows/s, ETA 22 s, 2 tables left");
	/* under a second: no rate yet */
	buf_reset(&b);
	control_progress_line(&s, 1000500, &b);
	assert_string_equal(b.data, "snapshot 3: shop.orders: 120000/1000000 rows (12.0 %), 37 chunks, ? rows/s, ETA ?, 2 tables left");
	/* resumed at 100000: the rate counts only this process's rows */
	buf_reset(&b);
	s.rows_at_start = 100000;
	s.tables_left = 1;
	s.chunks = 1;
	control_progress_line(&s, 1010000, &b);
	assert_string_equal(b.data, "snapshot 3: shop.orders: 120000/1000000 rows (12.0 %), 1 chunk, 2000 rows/s, ETA 7 min 20 s, 1 table left");
	/* past the estimate; hours; no estimate; a name with a line break */
	buf_reset(&b);
	s.est_rows = 100000;
	control_progress_line(&s, 1010000, &b);
	assert_string_equal(b.data, "snapshot 3: shop.orders: 120000 rows (estimated 100000), 1 chunk, 2000 rows/s, ETA ?, 1 table left");
	buf_reset(&b);
	s.est_rows = 20000000;
	control_progress_line(&s, 1010000, &b);
	assert_string_equal(b.data, "snapshot 3: shop.orders: 120000/20000000 rows (0.6 %), 1 chunk, 2000 rows/s, ETA 2 h 45 min, 1 table left");
	buf_reset(&b);
	s.est_rows = 0;
	snprintf(s.table, sizeof(s.table), "or\nders");
	control_progress_line(&s, 1010000, &b);
	assert_string_equal(b.data, "snapshot 3: shop.or?ders: 120000 rows, 1 chunk, 2000 rows/s, ETA ?, 1 table left");
	/* one table done, the next not begun */
	buf_reset(&b);
	s.table[0] = '\0';
	s.tables_left = 2;
	control_progress_line(&s, 1010000, &b);
	assert_string_equal(b.data, "snapshot 3: between tables, 2 tables left");
	buf_free(&b);
}

/* ---- the socket, served by a loop ---- */

enum fake_mode { FAKE_ACCEPT, FAKE_REFUSE_LATER, FAKE_REFUSE_NOW };

struct fixture {
	char dir[64];			/* a temporary folder */
	char ckpt[100], sock[100];
	struct rc_config cfg;
	struct rc rc;
	struct source src;
	struct source_ops ops;
	ev_async fin;			/* a client thread is done */
	ev_timer guard;			/* a test that hangs fails */
	enum fake_mode mode;
	char asked[CONTROL_LINE_MAX];	/* what the fake source was asked, copied */
	pthread_t answerer;		/* the "reader" answering */
	bool answering;
	void (*done)(void *, bool, const char *);
	void *done_arg;
};

static struct fixture *F;

static void *answer_later(void *arg)
{
	struct fixture *f = arg;

	usleep(50000);
	if (f->mode == FAKE_ACCEPT)
		f->done(f->done_arg, true, "snapshot 7: shop.orders");
	else
		f->done(f->done_arg, false, "shop.orders has no key");
	return NULL;
}

static bool fake_snapshot(struct source *s, const struct source_snap_request *rq, char *err,
			  size_t errlen)
{
	struct fixture *f = F;
	size_t n = 0;

	(void)s;
	n += (size_t)snprintf(f->asked + n, sizeof(f->asked) - n, "%s%s", rq->all ? "all" : "",
			      rq->on_demand ? "" : " not on demand");
	for (unsigned i = 0; i < rq->ntables; i++)
		n += (size_t)snprintf(f->asked + n, sizeof(f->asked) - n, "%s%s", i ? "," : "",
				      rq->tables[i]);
	if (rq->where)
		snprintf(f->asked + n, sizeof(f->asked) - n, "|%s", rq->where);
	if (f->mode == FAKE_REFUSE_NOW) {
		snprintf(err, errlen, "a snapshot runs already");
		return false;
	}
	f->done = rq->done;
	f->done_arg = rq->arg;
	f->answering = true;
	assert_int_equal(pthread_create(&f->answerer, NULL, answer_later, f), 0);
	return true;
}

static void fin_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
	fail_msg("the loop did not finish in time");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/rc-ctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ckpt, sizeof(f->ckpt), "%s/checkpoint", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/rowcast.sock", f->dir);
	f->cfg.ckpt_path = f->ckpt;
	f->cfg.snap_control_socket = "";
	f->ops.name = "fake";
	f->ops.snapshot = fake_snapshot;
	f->src.ops = &f->ops;
	snprintf(f->src.peer, sizeof(f->src.peer), "db.example:3306");
	f->rc.cfg = &f->cfg;
	f->rc.src = &f->src;
	f->rc.loop = ev_loop_new(EVFLAG_AUTO);
	f->rc.m = metrics_new(60);
	pthread_mutex_init(&f->rc.snap.mu, NULL);
	ev_async_init(&f->fin, fin_cb);
	ev_async_start(f->rc.loop, &f->fin);
	ev_timer_init(&f->guard, guard_cb, 10., 0.);
	F = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->answering)
		pthread_join(f->answerer, NULL);
	control_stop(f->rc.ctl);
	control_free(f->rc.ctl);
	metrics_free(f->rc.m);
	ev_loop_destroy(f->rc.loop);
	pthread_mutex_destroy(&f->rc.snap.mu);
	unlink(f->sock);
	rmdir(f->dir);
	free(f);
	return 0;
}

struct client_job {
	struct fixture *f;
	const char *send;		/* bytes to send */
	size_t len;
	bool half_close;		/* shutdown(SHUT_WR) once sent */
	char reply[8192];		/* what came back until the close */
	size_t got;
	int connect_errno;		/* 0 when connected */
};

static void *client_main(void *arg)
{
	struct client_job *j = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", j->f->sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		j->connect_errno = errno;
		goto out;
	}
	/* a refusal may come before all is sent: read it all the same */
	if (j->len && send(fd, j->send, j->len, MSG_NOSIGNAL) >= 0 && j->half_close)
		shutdown(fd, SHUT_WR);
	while ((n = recv(fd, j->reply + j->got, sizeof(j->reply) - 1 - j->got, 0)) > 0)
		j->got += (size_t)n;
out:
	j->reply[j->got] = '\0';
	close(fd);
	ev_async_send(j->f->rc.loop, &j->f->fin);
	return NULL;
}

/* Send len bytes as a client (then close its sending half when
 * half_close) and run the loop until the reply is read. */
static struct client_job *ask_as(struct fixture *f, const char *bytes, size_t len,
				 bool half_close)
{
	struct client_job *j = calloc(1, sizeof(*j));
	pthread_t t;

	j->f = f;
	j->send = bytes;
	j->len = len;
	j->half_close = half_close;
	assert_int_equal(pthread_create(&t, NULL, client_main, j), 0);
	ev_timer_start(f->rc.loop, &f->guard);
	ev_run(f->rc.loop, 0);
	ev_timer_stop(f->rc.loop, &f->guard);
	pthread_join(t, NULL);
	return j;
}

static struct client_job *ask(struct fixture *f, const char *bytes, size_t len)
{
	return ask_as(f, bytes, len, false);
}

static void expect_as(struct fixture *f, const char *request, bool half_close,
		      const char *reply)
{
	struct client_job *j = ask_as(f, request, strlen(request), half_close);

	assert_string_equal(j->reply, reply);
	free(j);
}

static void expect(struct fixture *f, const char *request, const char *reply)
{
	expect_as(f, request, false, reply);
}

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct stat sb;

	assert_true(control_start(&f->rc));
	assert_int_equal(stat(f->sock, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* a second instance on the same path is refused while this one listens */
	{
		struct rc other = f->rc;

		other.ctl = NULL;
		other.result = RC_OK;
		assert_false(control_start(&other));
		assert_int_equal(other.result, RC_ERR_CONFIG);
		assert_non_null(strstr(other.err.message, "is in use by another process"));
		control_free(other.ctl);
	}
	control_stop(f->rc.ctl);
	assert_int_equal(stat(f->sock, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

/* A socket file nobody listens on (a killed daemon's) is replaced; a
 * file that is not a socket is left alone and refused. */
static void test_stale_socket(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	FILE *fp;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);	/* the file stays, nothing listens */
	assert_true(control_start(&f->rc));
	expect(f, "status now\n", "error: status takes no arguments\n");
	control_stop(f->rc.ctl);
	control_free(f->rc.ctl);
	f->rc.ctl = NULL;

	fp = fopen(f->sock, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_false(control_start(&f->rc));
	assert_int_equal(f->rc.result, RC_ERR_CONFIG);
	assert_non_null(strstr(f->rc.err.message, "a file that is not a socket is there"));
	assert_int_equal(access(f->sock, F_OK), 0);
}

static void test_requests(void **state)
{
	struct fixture *f = *state;
	struct client_job *j;
	static char big[CONTROL_LINE_MAX + 100];

	assert_true(control_start(&f->rc));
	/* accepted: the answer comes from the "reader" thread */
	f->mode = FAKE_ACCEPT;
	expect(f, "snapshot shop.orders --where id > 5\n", "ok: snapshot 7: shop.orders\n");
	assert_string_equal(f->asked, "shop.orders|id > 5");
	pthread_join(f->answerer, NULL);
	f->answering = false;
	/* refused by the reader, and at once */
	f->mode = FAKE_REFUSE_LATER;
	/* (a client that closed its sending half still gets the answer) */
	expect_as(f, "snapshot shop.orders shop.items\r\n", true, "error: shop.orders has no key\n");
	assert_string_equal(f->asked, "shop.orders,shop.items");
	pthread_join(f->answerer, NULL);
	f->answering = false;
	f->mode = FAKE_REFUSE_NOW;
	/* no newline: the end of what it sends ends the line */
	expect_as(f, "snapshot --all", true, "error: a snapshot runs already\n");
	assert_string_equal(f->asked, "all");
	/* malformed: the reason, then the close */
	expect(f, "snapshot shop\n", "error: table \"shop\"" NOT_DB_TABLE "\n");
	expect(f, "status\nstatus\n", "error: one request line per connection\n");
	expect(f, "\x01\x02\n", "error: the request has a control character (byte 0x01 at 0)\n");
	memset(big, 'x', sizeof(big));
	j = ask(f, big, sizeof(big));
	assert_string_equal(j->reply, "error: a request line has at most 4096 bytes\n");
	free(j);
	/* a source without snapshots */
	f->ops.snapshot = NULL;
	expect(f, "snapshot shop.orders\n", "error: this source (fake) has no snapshots\n");
	/* while stopping */
	f->ops.snapshot = fake_snapshot;
	f->rc.stopping = true;
	expect(f, "snapshot shop.orders\n", "error: rowcast is stopping; ask again once it runs\n");
	f->rc.stopping = false;
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	struct client_job *j;
	char pid[40];

	assert_true(control_start(&f->rc));
	atomic_store(&f->rc.m->source_connected, 1);
	atomic_store(&f->rc.m->inflight, 3);
	j = ask(f, "status\n", 7);
	snprintf(pid, sizeof(pid), "ok\npid: %ld\n", (long)getpid());
	assert_memory_equal(j->reply, pid, strlen(pid));
	assert_non_null(strstr(j->reply, "\nstate: starting\n"));
	assert_non_null(strstr(j->reply, "\nsink: not connected\n"));
	assert_non_null(strstr(j->reply, "\nin flight: 3 messages, 0 bytes\n"));
	assert_non_null(strstr(j->reply, "\ncheckpoint written: not yet\n"));
	assert_non_null(strstr(j->reply, "\nhealth: sink not connected\n"));
	assert_non_null(strstr(j->reply, "\nsnapshot: none running\nsnapshot totals: 0 rows, 0 tables since the start\n"));
	free(j);

	pthread_mutex_lock(&f->rc.snap.mu);
	f->rc.snap.active = true;
	f->rc.snap.id = 2;
	snprintf(f->rc.snap.db, sizeof(f->rc.snap.db), "shop");
	snprintf(f->rc.snap.table, sizeof(f->rc.snap.table), "orders");
	f->rc.snap.rows = 10;
	f->rc.snap.est_rows = 40;
	f->rc.snap.chunks = 1;
	f->rc.snap.tables_left = 1;
	f->rc.snap.rows_total = 110;
	f->rc.snap.tables_done = 3;
	pthread_mutex_unlock(&f->rc.snap.mu);
	j = ask(f, "status\n", 7);
	assert_non_null(strstr(j->reply, "\nsnapshot 2: shop.orders: 10/40 rows (25.0 %), 1 chunk, ? rows/s, ETA ?, 1 table left\nsnapshot totals: 110 rows, 3 tables since the start\n"));
	free(j);
	/* /metrics shows it through the hook control_start() set */
	{
		struct rc_buf b = { 0 };

		metrics_render(f->rc.m, &b);
		assert_non_null(strstr(b.data, "\nrowcast_snapshot_table_rows{db=\"shop\",table=\"orders\"} 10\n"));
		assert_non_null(strstr(b.data, "\nrowcast_snapshot_rows_total 110\n"));
		buf_free(&b);
	}
}

/* More clients than CONTROL_MAX_CLIENTS: the extra one is told and
 * closed; the ones that send nothing hold their slots until their
 * deadline, and the loop goes on serving. */
static void test_too_many(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fds[CONTROL_MAX_CLIENTS];
	struct client_job *j;

	assert_true(control_start(&f->rc));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	ev_run(f->rc.loop, EVRUN_NOWAIT);	/* accept them */
	j = ask(f, "status\n", 7);
	assert_string_equal(j->reply, "error: too many control connections at once; try again\n");
	free(j);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		close(fds[i]);
	ev_run(f->rc.loop, EVRUN_NOWAIT);	/* see them go */
	j = ask(f, "status\n", 7);
	assert_memory_equal(j->reply, "ok\n", 3);
	free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_many),
		cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_progress_line),
		cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many, setup, teardown),
	};

	log_setup(LOG_ERROR, LOG_TO_STDERR, "test_control");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
