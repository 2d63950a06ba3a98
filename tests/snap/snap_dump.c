/* SPDX-License-Identifier: MIT */
/*
 * Test and benchmark driver of the MariaDB snapshot reader
 * (src/source/mysql/snapshot.c): reads one table chunk by chunk and prints
 *   T {"key":[names],"key_name":..,"max_key":..,"est_rows":N}
 *   C {"chunk":i,"file":..,"pos":N,"rows":n,"bytes":n,"last_key":..,"last":bool}
 *   R {"col":value,...}            (one per row, the native after image form)
 * With --session it first prints S followed by the session's
 * max_statement_time, transaction isolation and time zone; --pause-ms
 * waits between chunks (for tests that write meanwhile); --past-end asks
 * for one more chunk after the last; --no-rows reads every chunk but
 * prints only the C lines (the reader's own speed).  Exits 1 with
 * the reader's message on error.  Not installed.
 */
#include <getopt.h>
#include <inttypes.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "source/mysql/snapshot.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: snap_dump [--host H] [--port P] [--socket S] [--user U] [--password P]\n"
		"                 --db DB --table T [--rows N] [--bytes N] [--after KEY]\n"
		"                 [--chunks N] [--keyless] [--max-statement-time S] [--session]\n"
		"                 [--pause-ms MS] [--past-end] [--no-rows]\n");
	exit(2);
}

static void put_str(struct rc_buf *b, const char *s)
{
	if (s)
		buf_json_str(b, s, strlen(s), NULL);
	else
		buf_puts(b, "null");
}

static bool print_session(struct snap_conn *c)
{
	MYSQL *my = snap_conn_handle(c);
	MYSQL_RES *res;
	MYSQL_ROW row;

	if (mysql_query(my, "SELECT @@max_statement_time, @@tx_isolation, @@time_zone") != 0)
		return false;
	res = mysql_store_result(my);
	if (!res)
		return false;
	row = mysql_fetch_row(res);
	if (row)
		printf("S %s %s %s\n", row[0], row[1], row[2]);
	mysql_free_result(res);
	return row != NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'P' },
		{ "socket", required_argument, NULL, 'S' },
		{ "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "db", required_argument, NULL, 'd' },
		{ "table", required_argument, NULL, 't' },
		{ "rows", required_argument, NULL, 'r' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "after", required_argument, NULL, 'a' },
		{ "chunks", required_argument, NULL, 'n' },
		{ "keyless", no_argument, NULL, 'k' },
		{ "max-statement-time", required_argument, NULL, 'm' },
		{ "session", no_argument, NULL, 's' },
		{ "pause-ms", required_argument, NULL, 'w' },
		{ "past-end", no_argument, NULL, 'e' },
		{ "no-rows", no_argument, NULL, 'q' },
		{ 0 },
	};
	struct snap_conn_opts o = { .host = "127.0.0.1", .user = "root" };
	const char *db = NULL, *table = NULL;
	size_t rows = 1000, bytes = 0;
	long chunks = -1, pause_ms = 0;
	int past_end = 0;
	bool print_rows = true;
	bool keyless = false, session = false;
	struct snap_conn *c = NULL;
	struct snap_table *t = NULL;
	struct snap_chunk ch = { 0 };
	struct rc_buf out = { 0 }, key = { 0 }, *names = NULL;
	char err[1024];
	unsigned t_ncols = 0;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h': o.host = optarg; break;
		case 'P': o.port = (unsigned)atoi(optarg); break;
		case 'S': o.socket = optarg; break;
		case 'u': o.user = optarg; break;
		case 'p': o.password = optarg; break;
		case 'd': db = optarg; break;
		case 't': table = optarg; break;
		case 'r': rows = strtoul(optarg, NULL, 10); break;
		case 'b': bytes = strtoul(optarg, NULL, 10); break;
		case 'a': buf_puts(&key, optarg); break;
		case 'n': chunks = atol(optarg); break;
		case 'k': keyless = true; break;
		case 'm': o.max_statement_time = atof(optarg); break;
		case 's': session = true; break;
		case 'w': pause_ms = atol(optarg); break;
		case 'e': past_end = 1; break;
		case 'q': print_rows = false; break;
		default: usage();
		}
	}
	if (!db || !table || optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	if (!snap_connect(&o, &c, err, sizeof(err)))
		goto out;
	if (session && !print_session(c)) {
		snprintf(err, sizeof(err), "session query: %s",
			 mysql_error(snap_conn_handle(c)));
		goto out;
	}
	if (!snap_table_open(c, db, table, keyless, &t, err, sizeof(err)))
		goto out;
	/* each column's JSON key, made once */
	t_ncols = t->ncols;
	names = calloc(t->ncols, sizeof(*names));
	if (!names)
		abort();
	for (unsigned i = 0; i < t->ncols; i++) {
		put_str(&names[i], t->cols[i].name);
		buf_putc(&names[i], ':');
	}
	buf_puts(&out, "T {\"key\":[");
	for (unsigned k = 0; k < t->nkey; k++) {
		if (k)
			buf_putc(&out, ',');
		put_str(&out, t->cols[t->key[k]].name);
	}
	buf_puts(&out, "],\"key_name\":");
	put_str(&out, t->key_name);
	buf_puts(&out, ",\"max_key\":");
	put_str(&out, t->max_key);
	buf_printf(&out, ",\"est_rows\":%" PRIu64 "}\n", t->est_rows);
	fwrite(out.data, 1, out.len, stdout);
	for (long i = 0; chunks < 0 || i < chunks; i++) {
		if (!snap_chunk(t, key.len ? key.data : NULL, rows, bytes, &ch, err, sizeof(err)))
			goto out;
		buf_reset(&out);
		buf_printf(&out, "C {\"chunk\":%ld,\"file\":", i);
		put_str(&out, ch.binlog_file);
		buf_printf(&out, ",\"pos\":%" PRIu64 ",\"rows\":%zu,\"bytes\":%" PRIu64
			   ",\"last_key\":", ch.binlog_pos, ch.nrows, ch.bytes);
		put_str(&out, ch.last_key.len ? ch.last_key.data : NULL);
		buf_printf(&out, ",\"last\":%s}\n", ch.last ? "true" : "false");
		for (size_t r = 0; print_rows && r < ch.nrows; r++) {
			buf_puts(&out, "R {");
			for (unsigned col = 0; col < t->ncols; col++) {
				size_t len;
				const char *v = snap_value(&ch, r, col, &len);

				if (col)
					buf_putc(&out, ',');
				buf_append(&out, names[col].data, names[col].len);
				buf_append(&out, v, len);
			}
			buf_puts(&out, "}\n");
		}
		fwrite(out.data, 1, out.len, stdout);
		if (ch.last && !past_end--)
			break;
		if (pause_ms > 0) {
			fflush(stdout);
			usleep((useconds_t)pause_ms * 1000);
		}
		if (t->nkey) {
			buf_reset(&key);
			buf_append(&key, ch.last_key.data, ch.last_key.len);
		}
	}
	rc = 0;
out:
	fflush(stdout);
	if (rc)
		fprintf(stderr, "snap_dump: %s\n", err);
	snap_chunk_release(&ch);
	snap_table_free(t);
	snap_close(c);
	buf_free(&out);
	buf_free(&key);
	for (unsigned i = 0; names && i < t_ncols; i++)
		buf_free(&names[i]);
	free(names);
	return rc;
}
