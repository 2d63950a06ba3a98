/* SPDX-License-Identifier: MIT */
/*
 * lat_writer: the writer of the rowcast latency benchmark.
 *
 *   lat_writer SOCKET RATE BATCH SECONDS FIRST_ID OUTFILE
 *
 * Inserts rows into rctest.lat at RATE rows/s, BATCH rows per
 * autocommitted INSERT (one transaction), for SECONDS, ids counting up
 * from FIRST_ID.  After each INSERT returns (its COMMIT is done) it records
 * "id commit_return_ns" (CLOCK_REALTIME) for every row of it in OUTFILE.
 * Prints "rows N seconds S behind_max_ms B" at the end, where B is how far
 * the writer ever fell behind its schedule.  SIGTERM or SIGINT ends it
 * early, after the INSERT under way, with OUTFILE written as far as it got
 * (bench/snapshot_live stops it when a snapshot is done).
 *
 * Build: gcc -O2 -I/usr/include/mariadb -o lat_writer lat_writer.c -lmariadb
 */
#define _POSIX_C_SOURCE 200809L
#include <mysql.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	if (argc != 7) {
		fprintf(stderr, "usage: lat_writer SOCKET RATE BATCH SECONDS FIRST_ID OUTFILE\n");
		return 2;
	}
	const char *sock = argv[1];
	double rate = atof(argv[2]);
	int batch = atoi(argv[3]);
	double secs = atof(argv[4]);
	long long id = atoll(argv[5]);
	FILE *out = fopen(argv[6], "w");
	MYSQL *m = mysql_init(NULL);
	long long total = (long long)(rate * secs), done = 0;
	int64_t step = (int64_t)(1e9 * batch / rate), t0, next, behind = 0;
	char *sql = malloc((size_t)batch * 300 + 100);
	int64_t *commit = malloc(sizeof(int64_t) * (size_t)total + 8);

	if (!out || !m || !sql || !commit || batch < 1) {
		fprintf(stderr, "lat_writer: bad arguments or out of memory\n");
		return 2;
	}
	if (!mysql_real_connect(m, NULL, "root", NULL, "rctest", 0, sock, 0)) {
		fprintf(stderr, "lat_writer: connect: %s\n", mysql_error(m));
		return 2;
	}
	mysql_query(m, "SET autocommit = 1");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	t0 = ns(CLOCK_MONOTONIC);
	next = t0;
	while (done < total && !stop) {
		int k = (int)(total - done < batch ? total - done : batch);
		size_t len = (size_t)sprintf(sql, "INSERT INTO lat VALUES ");
		int64_t now = ns(CLOCK_MONOTONIC);

		if (now < next) {
			struct timespec d = { (time_t)((next - now) / 1000000000), (long)((next - now) % 1000000000) };
			nanosleep(&d, NULL);
		} else if (now - next > behind)
			behind = now - next;
		for (int i = 0; i < k; i++)
			len += (size_t)sprintf(sql + len, "%s(%lld,%lld,'latency probe row %lld of the rowcast benchmark')",
					       i ? "," : "", id + i, (long long)ns(CLOCK_REALTIME), id + i);
		if (mysql_real_query(m, sql, (unsigned long)len)) {
			fprintf(stderr, "lat_writer: insert: %s\n", mysql_error(m));
			return 1;
		}
		int64_t ret = ns(CLOCK_REALTIME);
		for (int i = 0; i < k; i++)
			commit[done + i] = ret;
		id += k;
		done += k;
		next += step;
	}
	double el = (ns(CLOCK_MONOTONIC) - t0) / 1e9;
	long long first = atoll(argv[5]);
	for (long long i = 0; i < done; i++)
		fprintf(out, "%lld %lld\n", first + i, (long long)commit[i]);
	fclose(out);
	mysql_close(m);
	printf("rows %lld seconds %.3f behind_max_ms %.3f\n", done, el, behind / 1e6);
	return 0;
}
