/* SPDX-License-Identifier: MIT */
/*
 * script_bench: ns per row of a route script against the native formatter,
 * in the same run, on the same hand-built decoder rows (an UPDATE of a
 * 5-column orders row whose id changes every row).
 *
 *   script_bench [ROWS [SCRIPT [PIPELINE_US]]]
 *   script_bench --binlog FILE [SCRIPT] > /dev/null
 *
 * ROWS defaults to 1000000, SCRIPT to tests/unit/scripts/five.lua (one
 * message from five columns), PIPELINE_US to 0.90: the wall time per row of
 * the live stdout route measured on 1.5M changes of this same 5-column
 * table (1.1M rows/s, 2026-12-03; bench/RESULTS.md run E has 5.66 for its
 * 24-column rows).  The estimate adds the script's extra time to that of
 * the row's thread, as if nothing overlapped it: a lower bound.  Each pass runs three
 * times and the best is kept.  Prints both costs, their ratio, and what
 * share of the plain route's rows/s a route with the script would keep if
 * the script replaced the native formatter in a pipeline of PIPELINE_US.
 *
 * With --binlog it times the whole offline pipeline on a real binlog file
 * instead (read, decode, format, write each message and a newline to
 * stdout): once with the native formatter, once with the script, three runs
 * each, CPU seconds and rows/s on stderr.  This is `rowcast decode` with
 * and without the script, the route's work minus the network.
 *
 * Build (from the worktree, after the build in build/):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc -Ibuild -I/usr/include/lua5.4 -o script_bench bench/script_bench.c build/.libs/librowcast_core.a -llua5.4 -lnettle -lz -lzstd -ldeflate -lcjson -lm -lpthread
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "change/change.h"
#include "source/mysql/decoder.h"
#include "route/native.h"
#include "route/script.h"
#include "route/script_row.h"

#define NCOLS 5

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);	/* a shared machine: CPU, not wall */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One image of the row with this id (status given), reusing im's memory. */
static void fill(struct ch_image *im, uint64_t id, const char *status)
{
	static const char *const rest[] = { NULL, NULL, NULL, "\"19.90\"", "\"EUR\"" };

	buf_reset(&im->text);
	for (int i = 0; i < NCOLS; i++) {
		im->off[i] = (uint32_t)im->text.len;
		if (i == 0)
			buf_put_u64(&im->text, id);
		else if (i == 1)
			buf_put_u64(&im->text, 1000 + id % 977);
		else if (i == 2)
			buf_puts(&im->text, status);
		else
			buf_puts(&im->text, rest[i]);
		im->len[i] = (uint32_t)im->text.len - im->off[i];
		im->state[i] = CH_VALUE;
	}
}

/* --binlog: the decoder's consumer, writing what it makes to stdout. */
struct pipe {
	struct decoder *dec;		/* the decoder */
	struct script *s;		/* NULL: the native formatter */
	struct script_row sr;		/* the change handed to s */
	struct rc_buf out;		/* native message */
	uint64_t rows;			/* row changes seen */
	uint64_t msgs;			/* messages written */
};

static bool pipe_row(void *ctx, const struct dec_trx *trx, const struct ch_row *row)
{
	struct pipe *p = ctx;
	const struct script_msg *m;
	size_t n;
	char err[512];

	p->rows++;
	if (!p->s) {
		native_format(&p->out, &trx->ch, row);
		buf_putc(&p->out, '\n');
		fwrite(p->out.data, 1, p->out.len, stdout);
		p->msgs++;
		return true;
	}
	script_row_fill(&p->sr, &trx->ch, row);
	if (script_run(p->s, &p->sr.change, &m, &n, err, sizeof(err)) != SCRIPT_OK) {
		fprintf(stderr, "script_bench: %s\n", err);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		fwrite(m[i].payload, 1, m[i].payload_len, stdout);
		putchar('\n');
	}
	p->msgs += n;
	return true;
}

/* Feed every event of the file in buf (len bytes) to a fresh decoder. */
static bool pipe_run(struct pipe *p, const uint8_t *buf, size_t len)
{
	struct dec_callbacks cb = { .on_row = pipe_row };
	char err[1024];
	size_t off = 4;

	cb.ctx = p;
	p->dec = decoder_new(&cb);
	while (off + EV_HEADER_LEN <= len) {
		uint32_t size = (uint32_t)buf[off + 9] | (uint32_t)buf[off + 10] << 8 |
				(uint32_t)buf[off + 11] << 16 | (uint32_t)buf[off + 12] << 24;

		if (size < EV_HEADER_LEN || size > len - off)
			break;
		decoder_set_file(p->dec, "mysql-bin.000001", off);
		if (decoder_feed(p->dec, buf + off, size, err, sizeof(err)) != DEC_OK) {
			fprintf(stderr, "script_bench: %s\n", err);
			decoder_free(p->dec);
			return false;
		}
		off += size;
	}
	decoder_free(p->dec);
	return true;
}

static int binlog_main(const char *file, const char *path)
{
	FILE *f = fopen(file, "rb");
	struct stat st;
	uint8_t *buf;
	double best[2] = { 1e9, 1e9 };
	uint64_t rows = 0, msgs[2] = { 0, 0 };
	struct script *s;
	char err[512];

	if (!f || fstat(fileno(f), &st) || !(buf = malloc((size_t)st.st_size)) ||
	    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		perror(file);
		return 1;
	}
	fclose(f);
	if (!script_load(path, NULL, &s, err, sizeof(err))) {
		fprintf(stderr, "script_bench: %s\n", err);
		return 1;
	}
	for (int run = 0; run < 3; run++) {
		for (int mode = 0; mode < 2; mode++) {
			struct pipe p = { 0 };
			double t0 = now(), dt;

			p.s = mode ? s : NULL;
			if (!pipe_run(&p, buf, (size_t)st.st_size))
				return 1;
			fflush(stdout);
			dt = now() - t0;
			if (dt < best[mode])
				best[mode] = dt;
			rows = p.rows;
			msgs[mode] = p.msgs;
			script_row_free(&p.sr);
			buf_free(&p.out);
		}
	}
	fprintf(stderr, "binlog %s, %llu row changes, script %s\n", file,
		(unsigned long long)rows, path);
	fprintf(stderr, "native: %.3f s CPU, %.0f rows/s, %llu messages\n", best[0],
		(double)rows / best[0], (unsigned long long)msgs[0]);
	fprintf(stderr, "script: %.3f s CPU, %.0f rows/s, %llu messages\n", best[1],
		(double)rows / best[1], (unsigned long long)msgs[1]);
	fprintf(stderr, "script keeps %.0f %% of the native pipeline's rows/s\n",
		100.0 * best[0] / best[1]);
	script_free(s);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dflt = "tests/unit/scripts/five.lua";
	uint64_t rows;
	const char *path;
	double pipeline_us;
	static const char *const names[NCOLS] = { "id", "customer_id", "status", "amount",
						  "currency" };
	struct ch_column cols[NCOLS];
	struct ch_table t;
	uint32_t off[2][NCOLS], len[2][NCOLS];
	uint8_t state[2][NCOLS];
	struct ch_image before, after;
	struct ch_trx trx;
	struct ch_row row;
	struct rc_buf out = { 0 };
	struct script_row sr = { 0 };
	struct script *s;
	char err[512];
	double best_native = 1e9, best_script = 1e9;
	uint64_t sink = 0;

	if (argc > 2 && !strcmp(argv[1], "--binlog"))
		return binlog_main(argv[2], argc > 3 ? argv[3] : dflt);
	rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	path = argc > 2 ? argv[2] : dflt;
	pipeline_us = argc > 3 ? strtod(argv[3], NULL) : 0.90;
	memset(cols, 0, sizeof(cols));
	for (int i = 0; i < NCOLS; i++) {
		cols[i].name = names[i];
		cols[i].name_len = (uint32_t)strlen(names[i]);
	}
	memset(&t, 0, sizeof(t));
	t.db = (char *)"shop";
	t.name = (char *)"orders";
	t.cols = cols;
	t.ncols = NCOLS;
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	before.off = off[0], before.len = len[0], before.state = state[0];
	after.off = off[1], after.len = len[1], after.state = state[1];
	memset(&trx, 0, sizeof(trx));
	strcpy(trx.gtid, "0-1-42");
	strcpy(trx.id, "0-1-42");
	trx.ts_ms = 1529501823123;
	memset(&row, 0, sizeof(row));
	row.table = &t;
	row.op = CH_UPDATE;
	row.before = &before;
	row.after = &after;

	if (!script_load(path, NULL, &s, err, sizeof(err))) {
		fprintf(stderr, "script_bench: %s\n", err);
		return 1;
	}
	for (int run = 0; run < 3; run++) {
		double t0 = now(), dt;

		for (uint64_t i = 0; i < rows; i++) {
			fill(&before, i, "\"placed\"");
			fill(&after, i, "\"paid\"");
			row.index = i;
			native_format(&out, &trx, &row);
			sink += out.len;
		}
		dt = (now() - t0) / (double)rows * 1e9;
		if (dt < best_native)
			best_native = dt;

		t0 = now();
		for (uint64_t i = 0; i < rows; i++) {
			const struct script_msg *m;
			size_t n;

			fill(&before, i, "\"placed\"");
			fill(&after, i, "\"paid\"");
			row.index = i;
			script_row_fill(&sr, &trx, &row);
			if (script_run(s, &sr.change, &m, &n, err, sizeof(err)) != SCRIPT_OK) {
				fprintf(stderr, "script_bench: %s\n", err);
				return 1;
			}
			sink += n ? m[0].payload_len : 0;
		}
		dt = (now() - t0) / (double)rows * 1e9;
		if (dt < best_script)
			best_script = dt;
	}
	printf("rows %llu, script %s\n", (unsigned long long)rows, path);
	printf("native_format: %.0f ns/row\n", best_native);
	printf("script:        %.0f ns/row\n", best_script);
	printf("ratio:         %.2fx the native formatter's time\n", best_script / best_native);
	printf("estimate:      %.0f %% of the plain route's rows/s at %.2f us/row\n",
	       100.0 * pipeline_us * 1000 / (pipeline_us * 1000 - best_native + best_script),
	       pipeline_us);
	fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);
	script_row_free(&sr);
	script_free(s);
	buf_free(&out);
	return 0;
}
