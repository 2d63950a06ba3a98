/* SPDX-License-Identifier: MIT */
/*
 * Micro-benchmark of row conditions (src/route/expr.c): ns per evaluation
 * of the OrderPaid condition of rowcast.conf(5) and a few others over a
 * realistic orders row, set against formatting the same row with
 * native_format() in the same run (issue 17 asks a condition to cost under
 * 5 % of a plain route).  Not built by make:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc -Ibuild -o bench/work/expr_bench bench/expr_bench.c \
 *      build/.libs/librowcast_core.a -llua5.4 -lnettle -lz -lzstd -ldeflate -lcjson -lm -lpthread
 *   bench/work/expr_bench [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "change/change.h"
#include "route/expr.h"
#include "route/native.h"

/* The decoder's row as struct expr_env wants it. */
static enum expr_state row_value(const void *ctx, enum expr_side side, int32_t idx,
				 const char **text, size_t *len)
{
	const struct ch_row *row = ctx;
	const struct ch_image *im = side == EXPR_AFTER ? row->after : row->before;

	if (!im || im->state[idx] != CH_VALUE)
		return im ? (enum expr_state)im->state[idx] : EXPR_ABSENT;
	*text = im->text.data + im->off[idx];
	*len = im->len[idx];
	return EXPR_VALUE;
}

static int32_t table_lookup(const void *ctx, const char *name, size_t len)
{
	const struct ch_table *t = ctx;

	for (uint32_t i = 0; i < t->ncols; i++)
		if (t->cols[i].name_len == len && !strncasecmp(t->cols[i].name, name, len))
			return (int32_t)i;
	return -1;
}

#define NCOLS 10
static struct ch_column cols[NCOLS] = {
	{ .name = "id", .name_len = 2 },
	{ .name = "customer_id", .name_len = 11 },
	{ .name = "status", .name_len = 6 },
	{ .name = "total", .name_len = 5 },
	{ .name = "currency", .name_len = 8 },
	{ .name = "placed", .name_len = 6 },
	{ .name = "paid_at", .name_len = 7 },
	{ .name = "email", .name_len = 5 },
	{ .name = "note", .name_len = 4 },
	{ .name = "items", .name_len = 5 },
};

static void fill(struct ch_image *im, const char *const *vals)
{
	memset(im, 0, sizeof(*im));
	im->off = calloc(NCOLS, sizeof(*im->off));
	im->len = calloc(NCOLS, sizeof(*im->len));
	im->state = calloc(NCOLS, sizeof(*im->state));
	im->cap = NCOLS;
	for (int i = 0; i < NCOLS; i++) {
		if (!vals[i]) {
			im->state[i] = CH_NULL;
			continue;
		}
		im->state[i] = CH_VALUE;
		im->off[i] = (uint32_t)im->text.len;
		im->len[i] = (uint32_t)strlen(vals[i]);
		buf_append(&im->text, vals[i], strlen(vals[i]));
	}
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The whole plain route per row: rowcast's stdout sink took 176,681 rows/s
 * (bench/RESULTS.md, run E), 5,660 ns a row of which formatting is a part. */
#define ROUTE_ROW_NS 5660.0

static volatile unsigned sink;

int main(int argc, char **argv)
{
	static const char *const before[NCOLS] = {
		"1042", "77", "\"new\"", "\"119.90\"", "\"EUR\"", "\"2026-11-28 10:15:02\"", NULL,
		"\"anna.schmidt@example.org\"", "\"bitte klingeln \\\"hinten\\\"\"",
		"[{\"sku\":\"A-1\",\"qty\":2},{\"sku\":\"B-7\",\"qty\":1}]",
	};
	static const char *const after[NCOLS] = {
		"1042", "77", "\"paid\"", "\"119.90\"", "\"EUR\"", "\"2026-11-28 10:15:02\"",
		"\"2026-11-28 10:17:45.120000\"", "\"anna.schmidt@example.org\"",
		"\"bitte klingeln \\\"hinten\\\"\"",
		"[{\"sku\":\"A-1\",\"qty\":2},{\"sku\":\"B-7\",\"qty\":1}]",
	};
	static const char *const conds[] = {
		"op = 'update' and changed(status) and after.status = 'paid'",
		"changed(status) and after.status = 'paid'",
		"op = 'update' and changed(email)",
		"after.total >= 100 and after.currency in ('EUR', 'CHF')",
		"contains(after.note, 'hinten') or after.paid_at is null",
	};
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	struct ch_table t = { .db = "shop", .name = "orders", .ncols = NCOLS,
			       .cols = cols };
	struct ch_trx trx = { .gtid = "0-1-4242", .id = "0-1-4242", .ts_ms = 1764324945000ULL };
	struct ch_image b, a;
	struct ch_row row = { .table = &t, .op = CH_UPDATE, .before = &b, .after = &a };
	struct rc_buf out = { 0 };
	double fmt_best = 1e30;

	fill(&b, before);
	fill(&a, after);
	for (int run = 0; run < 5; run++) {
		double t0 = now_ns();

		for (long i = 0; i < iters; i++) {
			row.index = (uint64_t)i;
			native_format(&out, &trx, &row);
			sink += (unsigned)out.len;
		}
		double ns = (now_ns() - t0) / (double)iters;

		if (ns < fmt_best)
			fmt_best = ns;
	}
	printf("native_format of the row (%zu bytes): %.1f ns\n", out.len, fmt_best);
	for (size_t c = 0; c < sizeof(conds) / sizeof(conds[0]); c++) {
		struct expr *e;
		char err[200];
		int32_t map[16];
		double best = 1e30;
		struct expr_env env = { .op = EXPR_UPDATE, .db = t.db, .db_len = strlen(t.db),
					.table = t.name, .table_len = strlen(t.name),
					.cols = map, .value = row_value, .ctx = &row };
		enum expr_tv r = EXPR_FALSE;

		if (!expr_compile(conds[c], &e, err, sizeof(err))) {
			fprintf(stderr, "%s: %s\n", conds[c], err);
			return 1;
		}
		expr_bind(e, map, table_lookup, &t);
		for (int run = 0; run < 5; run++) {
			double t0 = now_ns();

			for (long i = 0; i < iters; i++) {
				r = expr_eval(e, &env);
				sink += r;
			}
			double ns = (now_ns() - t0) / (double)iters;

			if (ns < best)
				best = ns;
		}
		printf("%-60s %s  %5.1f ns  %4.1f %% of formatting, %.2f %% of a stdout-route row\n",
		       conds[c], r == EXPR_TRUE ? "true " : r == EXPR_FALSE ? "false" : "unkn.",
		       best, 100.0 * best / fmt_best, 100.0 * best / ROUTE_ROW_NS);
		expr_free(e);
	}
	buf_free(&out);
	return 0;
}
