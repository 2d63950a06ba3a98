/* SPDX-License-Identifier: MIT */
/*
 * snap_consumer: the reader of rowcast's stdout in bench/snapshot_live.
 *
 *   rowcast ... | snap_consumer READ_MARKER LAT_MARKER OUTFILE
 *
 * Reads JSON lines from stdin to its end and takes CLOCK_REALTIME after
 * each read(): that is when every line completed by it arrived.  Counts
 * the lines holding READ_MARKER (a snapshot's read rows of one table) and,
 * for each line holding LAT_MARKER (a live row), the number after
 * "after":{"id": and its arrival.  Every 100 ms (when something changed),
 * and at the end, it prints "lines L reads R live N first_read_ns F last_read_ns T" on
 * stdout; at the end it writes "id arrival_ns" lines to OUTFILE.  Written
 * in C so that reading ~300 MB/s of snapshot rows costs the shared CPUs
 * little and delays no line (a Python reader took 1.5 CPU s per 1,000,000
 * rows).
 *
 * Build: gcc -O2 -o snap_consumer snap_consumer.c
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct arrival {
	long long id;
	int64_t ns;
};

int main(int argc, char **argv)
{
	static const char after[] = "\"after\":{\"id\":";
	const char *rm, *lm;
	size_t rml, lml, have = 0, cap = 1 << 16, n = 0;
	char *buf = malloc(2 * CHUNK);
	struct arrival *arr = malloc(cap * sizeof(*arr));
	long long lines = 0, reads = 0, said_lines = -1, said_live = -1;
	int64_t first = 0, last = 0, said = 0;
	FILE *out;

	if (argc != 4 || !buf || !arr) {
		fprintf(stderr, "usage: snap_consumer READ_MARKER LAT_MARKER OUTFILE\n");
		return 2;
	}
	rm = argv[1];
	lm = argv[2];
	rml = strlen(rm);
	lml = strlen(lm);
	for (;;) {
		struct pollfd pfd = { 0, POLLIN, 0 };
		ssize_t k;
		int64_t t, mono;
		char *end, *p;

		mono = now_ns(CLOCK_MONOTONIC);
		if (mono - said >= 100000000 && (lines != said_lines || (long long)n != said_live)) {
			said = mono;
			said_lines = lines;
			said_live = (long long)n;
			printf("lines %lld reads %lld live %zu first_read_ns %lld last_read_ns %lld\n",
			       lines, reads, n, (long long)first, (long long)last);
			fflush(stdout);
		}
		if (poll(&pfd, 1, 100) == 0)
			continue;
		k = read(0, buf + have, 2 * CHUNK - have);
		t = now_ns(CLOCK_REALTIME);
		if (k <= 0)
			break;
		have += (size_t)k;
		end = memrchr(buf, '\n', have);
		if (!end) {
			if (have == 2 * CHUNK)
				have = 0;	/* a line longer than the buffer: dropped */
			continue;
		}
		end++;
		for (p = buf; (p = memchr(p, '\n', (size_t)(end - p))); p++)
			lines++;
		if (rml) {
			for (p = buf; (p = memmem(p, (size_t)(end - p), rm, rml)); p += rml) {
				if (!first)
					first = t;
				last = t;
				reads++;
			}
		}
		for (p = buf; (p = memmem(p, (size_t)(end - p), lm, lml)); p += lml) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			char *a = memmem(p, (size_t)(nl - p), after, sizeof(after) - 1);

			if (!a)
				continue;
			if (n == cap) {
				cap *= 2;
				arr = realloc(arr, cap * sizeof(*arr));
				if (!arr)
					return 2;
			}
			arr[n].id = strtoll(a + sizeof(after) - 1, NULL, 10);
			arr[n++].ns = t;
		}
		have -= (size_t)(end - buf);
		memmove(buf, end, have);
	}
	out = fopen(argv[3], "w");
	if (!out)
		return 2;
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%lld %lld\n", arr[i].id, (long long)arr[i].ns);
	fclose(out);
	printf("lines %lld reads %lld live %zu first_read_ns %lld last_read_ns %lld\n", lines, reads,
	       n, (long long)first, (long long)last);
	return 0;
}
