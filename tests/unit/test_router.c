/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the router over hand-built change-model rows (no source):
 * the default topic, filters, route templates and keys, renamed and
 * dropped columns, the outbox (topic, id, payload, headers) and the exact
 * messages of rows that cannot be routed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "change/change.h"
#include "change/queue.h"
#include "config/config.h"
#include "route/router.h"

static char path[] = "/tmp/rowcast-test-router-XXXXXX";
static char lua_path[] = "/tmp/rowcast-test-router-lua-XXXXXX";

#define MIN "[source]\nuser = rep\nserver_id = 7\n"

/* A router compiled from config text. */
static struct router *mk_router(const char *text)
{
	struct rc_config *cfg;
	struct rc_error e;
	struct router *r;
	char err[512] = "";
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	if (rc_config_load(path, &cfg, &e) != RC_OK)
		fail_msg("config: %s", e.message);
	r = router_new(cfg, err, sizeof(err));
	if (!r)
		fail_msg("router: %s", err);
	rc_config_free(cfg);	/* the router keeps its own copy */
	return r;
}

/* ---- a table, an image, a transaction ---- */

#define COL(n, t, nt) { .name = n, .name_len = sizeof(n) - 1, .type = t, .native_type = nt, \
			.nullable = true }

static struct ch_column order_cols[] = {
	COL("id", CT_INT, "int"), COL("status", CT_STRING, "varchar"),
	COL("note", CT_STRING, "varchar"), COL("secret", CT_STRING, "varchar"),
};
static const uint32_t order_pk[] = { 0 };

static struct ch_column outbox_cols[] = {
	COL("id", CT_STRING, "varchar"), COL("aggregatetype", CT_STRING, "varchar"),
	COL("aggregateid", CT_STRING, "varchar"), COL("type", CT_STRING, "varchar"),
	COL("payload", CT_STRING, "text"), COL("trace", CT_STRING, "varchar"),
};

static struct ch_table mk_table(const char *db, const char *name, struct ch_column *cols,
				uint32_t n, const uint32_t *pk, uint32_t npk)
{
	struct ch_table t;

	memset(&t, 0, sizeof(t));
	t.db = db;
	t.name = name;
	t.cols = cols;
	t.ncols = n;
	t.names_known = true;
	t.pk = pk;
	t.npk = npk;
	return t;
}

/* An image from JSON value texts; NULL stands for SQL NULL. */
static void mk_image(struct ch_image *im, const char *const *v, uint32_t n)
{
	memset(im, 0, sizeof(*im));
	ch_image_fit(im, n);
	for (uint32_t i = 0; i < n; i++) {
		if (!v[i]) {
			im->state[i] = CH_NULL;
			continue;
		}
		im->state[i] = CH_VALUE;
		im->off[i] = (uint32_t)im->text.len;
		im->len[i] = (uint32_t)strlen(v[i]);
		buf_puts(&im->text, v[i]);
	}
}

static struct ch_trx mk_trx(void)
{
	struct ch_trx t;

	memset(&t, 0, sizeof(t));
	strcpy(t.gtid, "0-1-42");
	strcpy(t.id, "0-1-42");
	t.ts_ms = 1529501823123;
	return t;
}

/* What router_row() made of one row change. */
struct routed {
	struct q_entry e;		/* the (first) message */
	struct q_entry more[4];		/* the row's messages after it */
	int n;				/* messages made */
	bool last[5];			/* pushed as the row's last */
	bool skip;			/* fail() answers skip (fail_skip) */
	int nfail;			/* fail() calls */
	char err[512];			/* why it cannot be routed */
	enum route_result res;		/* publish, skip or error */
};

static struct q_entry *out_next(void *ctx)
{
	struct routed *x = ctx;

	return x->n == 0 ? &x->e : x->n <= 4 ? &x->more[x->n - 1] : NULL;
}

static void out_push(void *ctx, struct q_entry *e, bool last)
{
	struct routed *x = ctx;

	assert_ptr_equal(e, out_next(ctx));
	x->last[x->n++] = last;
}

/* What out_fail() answers for the next route() calls: skip or stop. */
static bool fail_skip;

static bool out_fail(void *ctx, const char *why)
{
	struct routed *x = ctx;

	x->nfail++;
	snprintf(x->err, sizeof(x->err), "%s", why);
	return x->skip;
}

/* Route one row change of t through r (with a plan made for it). */
static void route(struct router *r, struct ch_table *t, enum ch_op op,
		  const struct ch_image *before, const struct ch_image *after, struct routed *out)
{
	struct ch_trx trx = mk_trx();
	struct ch_row row = { .table = t, .op = op, .before = before, .after = after, .index = 0 };
	struct table_plan *p = router_plan(r, t);

	struct route_out ro = { out_next, out_push, out_fail, out };

	memset(out, 0, sizeof(*out));
	out->skip = fail_skip;
	out->res = router_row(r, p, &trx, "mysql-bin.000003", 484, &row, &ro, out->err,
			      sizeof(out->err));
	router_plan_free(p);
}

static void routed_free(struct routed *x)
{
	buf_free(&x->e.topic);
	buf_free(&x->e.payload);
	buf_free(&x->e.id);
	buf_free(&x->e.headers);
	for (int i = 0; i < 4; i++) {
		buf_free(&x->more[i].topic);
		buf_free(&x->more[i].payload);
		buf_free(&x->more[i].id);
		buf_free(&x->more[i].headers);
	}
}

static const char *const order_row[] = { "1", "\"new\"", "\"a/b\"", "\"x\"" };

/* ---- tests ---- */

static void test_default_topic_and_native(void **state)
{
	struct router *r = mk_router(MIN);
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_image after;
	struct routed x;

	(void)state;
	mk_image(&after, order_row, 4);
	route(r, &t, CH_INSERT, NULL, &after, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_string_equal(x.e.topic.data, "rowcast/shop/orders");
	assert_string_equal(x.e.id.data, "0-1-42@0");
	assert_int_equal(x.e.routed_topic, 0);
	assert_int_equal(x.e.nheaders, 0);
	assert_string_equal(x.e.payload.data,
			    "{\"id\":\"0-1-42@0\",\"op\":\"insert\",\"db\":\"shop\",\"table\":\"orders\","
			    "\"gtid\":\"0-1-42\",\"ts\":1529501823123,\"before\":null,"
			    "\"after\":{\"id\":1,\"status\":\"new\",\"note\":\"a/b\",\"secret\":\"x\"}}");
	routed_free(&x);
	ch_image_free(&after);
	ch_table_free_caches(&t);
	router_free(r);
}

static void test_filters(void **state)
{
	struct router *r = mk_router(MIN "[filter]\ninclude = shop.*\nexclude = shop.audit\n"
				     "ops = insert,delete\ndrop_columns = shop.orders.secret\n");
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_table audit = mk_table("shop", "audit", order_cols, 4, order_pk, 1);
	struct ch_table other = mk_table("crm", "orders", order_cols, 4, order_pk, 1);
	struct ch_image im;
	struct routed x;

	(void)state;
	mk_image(&im, order_row, 4);
	route(r, &t, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_null(strstr(x.e.payload.data, "secret"));
	assert_non_null(strstr(x.e.payload.data, "\"note\":\"a/b\"}"));
	routed_free(&x);
	route(r, &t, CH_UPDATE, &im, &im, &x);
	assert_int_equal(x.res, ROUTE_SKIP);	/* ops */
	routed_free(&x);
	route(r, &t, CH_DELETE, &im, NULL, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_non_null(strstr(x.e.payload.data, "\"op\":\"delete\""));
	routed_free(&x);
	route(r, &audit, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_SKIP);	/* exclude */
	routed_free(&x);
	route(r, &other, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_SKIP);	/* not included */
	routed_free(&x);
	ch_image_free(&im);
	ch_table_free_caches(&t);
	ch_table_free_caches(&audit);
	ch_table_free_caches(&other);
	router_free(r);
}

static void test_route_templates_and_key(void **state)
{
	struct router *r = mk_router(MIN "[route orders]\nmatch = shop.orders\n"
				     "topic = t/{db}/{table}/{op}/{Op}/{pk}/{col:note}\n"
				     "key = {col:note}\nrename = status:state\ncolumns = id,status,note\n"
				     "event_type = Order{Op}\n"
				     "[route rest]\nmatch = shop.*\ndrop = true\n");
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_table items = mk_table("shop", "items", order_cols, 4, order_pk, 1);
	struct ch_image im;
	struct routed x;

	(void)state;
	mk_image(&im, order_row, 4);
	route(r, &t, CH_UPDATE, &im, &im, &x);
	if (x.res != ROUTE_PUBLISH)
		fail_msg("%d: %s", x.res, x.err);
	/* topic values are escaped for MQTT, the key is not */
	assert_string_equal(x.e.topic.data, "t/shop/orders/update/Update/1/a%2Fb");
	assert_int_equal(x.e.routed_topic, 1);
	assert_string_equal(queue_header(&x.e, "key"), "a/b");
	assert_string_equal(queue_header(&x.e, "event_type"), "OrderUpdate");
	/* kept columns under their new names, and the event type */
	assert_non_null(strstr(x.e.payload.data,
			       "\"after\":{\"id\":1,\"state\":\"new\",\"note\":\"a/b\"}"));
	assert_non_null(strstr(x.e.payload.data, ",\"event_type\":\"OrderUpdate\"}"));
	routed_free(&x);
	route(r, &items, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_SKIP);	/* drop = true */
	routed_free(&x);
	ch_image_free(&im);
	ch_table_free_caches(&t);
	ch_table_free_caches(&items);
	router_free(r);
}

static void test_route_missing_value(void **state)
{
	static const char *const row[] = { "1", "\"new\"", NULL, "\"x\"" };
	struct router *r = mk_router(MIN "[route orders]\nmatch = shop.orders\n"
				     "topic = t/{col:note}\n");
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_image im;
	struct routed x;

	(void)state;
	mk_image(&im, row, 4);
	route(r, &t, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_ERROR);
	assert_string_equal(x.err, "route orders: topic: template value {note} is missing (absent or NULL)");
	routed_free(&x);
	ch_image_free(&im);
	ch_table_free_caches(&t);
	router_free(r);
}

static void test_outbox(void **state)
{
	static const char *const ev[] = {
		"\"ev-1\"", "\"Order\"", "\"42\"", "\"Created\"",
		"\"{\\\"total\\\":\\\"9.50\\\",\\\"line\\\":\\\"a\\\\nb\\\"}\"", "\"t-9\"",
	};
	static const char *const ev_json[] = {
		"\"ev-2\"", "\"Order\"", "\"42\"", "\"Paid\"", "{\"total\": 9.5}", NULL,
	};
	static const char *const ev_null[] = {
		"\"ev-3\"", "\"Order\"", "\"42\"", NULL, "{}", NULL,
	};
	struct router *r = mk_router(MIN "[outbox orders]\ntable = shop.outbox\n"
				     "topic = events/{aggregate_type}/{type}\nheaders = trace\n");
	struct ch_table t = mk_table("shop", "outbox", outbox_cols, 6, NULL, 0);
	struct ch_image im;
	struct routed x;

	(void)state;
	mk_image(&im, ev, 6);
	route(r, &t, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_string_equal(x.e.topic.data, "events/Order/Created");
	assert_string_equal(x.e.id.data, "ev-1");
	/* a string column: its characters, as the service wrote them */
	assert_string_equal(x.e.payload.data, "{\"total\":\"9.50\",\"line\":\"a\\nb\"}");
	assert_string_equal(queue_header(&x.e, "key"), "42");
	assert_string_equal(queue_header(&x.e, "aggregate_type"), "Order");
	assert_string_equal(queue_header(&x.e, "event_type"), "Created");
	assert_string_equal(queue_header(&x.e, "trace"), "t-9");
	routed_free(&x);
	/* updates are not events unless publish_updates */
	route(r, &t, CH_UPDATE, &im, &im, &x);
	assert_int_equal(x.res, ROUTE_SKIP);
	routed_free(&x);
	ch_image_free(&im);

	/* a JSON column: its text as is; a NULL header column is left out */
	mk_image(&im, ev_json, 6);
	route(r, &t, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_string_equal(x.e.payload.data, "{\"total\": 9.5}");
	assert_null(queue_header(&x.e, "trace"));
	routed_free(&x);
	ch_image_free(&im);

	mk_image(&im, ev_null, 6);
	route(r, &t, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_ERROR);
	assert_string_equal(x.err,
			    "outbox orders: table shop.outbox column 'type' is NULL in the row of GTID 0-1-42");
	routed_free(&x);
	ch_image_free(&im);
	ch_table_free_caches(&t);
	router_free(r);
}

static void test_bad_ops(void **state)
{
	struct rc_config *cfg;
	struct rc_error e;
	char err[512] = "";
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	fputs(MIN "[filter]\nops = insert,upsert\n", f);
	fclose(f);
	assert_int_equal(rc_config_load(path, &cfg, &e), RC_OK);
	assert_null(router_new(cfg, err, sizeof(err)));
	assert_string_equal(err, "unknown operation 'upsert' (insert, update, delete, read)");
	rc_config_free(cfg);
}

static int setup(void **state)
{
	int fd = mkstemp(path);

	(void)state;
	close(fd);
	fd = mkstemp(lua_path);
	close(fd);
	log_setup(LOG_ERROR, 0, "test");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	unlink(lua_path);
	return 0;
}

/* ---- conditions, continue, scripts (issue 17) ---- */

static const char *const paid_row[] = { "1", "\"paid\"", "\"a/b\"", "\"x\"" };
static const char *const note_row[] = { "1", "\"new\"", "\"c\"", "\"x\"" };

#define PAID_ROUTES \
	"[route paid]\nmatch = shop.orders\nwhen = changed(status) and after.status = 'paid'\n" \
	"topic = events/OrderPaid\ncontinue = true\n" \
	"[route all]\nmatch = shop.orders\ntopic = shop/orders\n"

static void test_when_and_continue(void **state)
{
	struct router *r = mk_router(MIN PAID_ROUTES);
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_image before, paid, note;
	struct routed x;

	(void)state;
	mk_image(&before, order_row, 4);
	mk_image(&paid, paid_row, 4);
	mk_image(&note, note_row, 4);
	/* new -> paid: the event, then (continue) the change event */
	route(r, &t, CH_UPDATE, &before, &paid, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.e.topic.data, "events/OrderPaid");
	assert_string_equal(x.e.id.data, "0-1-42@0");
	assert_false(x.last[0]);
	assert_string_equal(x.more[0].topic.data, "shop/orders");
	assert_string_equal(x.more[0].id.data, "0-1-42@0/1");
	assert_true(x.last[1]);
	routed_free(&x);
	/* status unchanged: only the second route */
	route(r, &t, CH_UPDATE, &before, &note, &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.topic.data, "shop/orders");
	assert_string_equal(x.e.id.data, "0-1-42@0");
	assert_true(x.last[0]);
	routed_free(&x);
	/* an insert sets every column: changed() is true */
	route(r, &t, CH_INSERT, NULL, &paid, &x);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.e.topic.data, "events/OrderPaid");
	routed_free(&x);
	route(r, &t, CH_INSERT, NULL, &before, &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.topic.data, "shop/orders");
	routed_free(&x);
	ch_image_free(&before);
	ch_image_free(&paid);
	ch_image_free(&note);
	ch_table_free_caches(&t);
	router_free(r);
}

/* Without continue the first route that takes the row is the only one; a
 * row no condition takes goes where unmatched says. */
static void test_when_first_match(void **state)
{
	struct router *r = mk_router(MIN
		"[route paid]\nmatch = shop.orders\nwhen = after.status = 'paid'\ntopic = a\n"
		"[route big]\nmatch = shop.orders\nwhen = after.id in (1, 2)\ntopic = b\n");
	struct router *d = mk_router(MIN "[routing]\nunmatched = drop\n"
		"[route paid]\nmatch = shop.orders\nwhen = after.status = 'paid'\ntopic = a\n");
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_table t2 = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_image paid, other;
	static const char *const three[] = { "3", "\"new\"", "\"c\"", NULL };
	struct routed x;

	(void)state;
	mk_image(&paid, paid_row, 4);
	mk_image(&other, three, 4);
	route(r, &t, CH_INSERT, NULL, &paid, &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.topic.data, "a");
	routed_free(&x);
	route(r, &t, CH_INSERT, NULL, &other, &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.topic.data, "rowcast/shop/orders");	/* unmatched */
	routed_free(&x);
	route(d, &t2, CH_INSERT, NULL, &other, &x);
	assert_int_equal(x.res, ROUTE_SKIP);
	assert_int_equal(x.n, 0);
	routed_free(&x);
	ch_image_free(&paid);
	ch_image_free(&other);
	ch_table_free_caches(&t);
	ch_table_free_caches(&t2);
	router_free(r);
	router_free(d);
}

static void test_when_errors(void **state)
{
	struct rc_config *cfg;
	struct rc_error e;
	char err[512] = "", want[600];
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	fputs(MIN "[route x]\nmatch = *.*\nwhen = after.a = \n", f);
	fclose(f);
	assert_int_equal(rc_config_load(path, &cfg, &e), RC_OK);
	assert_null(router_new(cfg, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:6: [route x] when: column 10: expected a value, found end of text",
		 path);
	assert_string_equal(err, want);
	rc_config_free(cfg);
}

static void test_outbox_when(void **state)
{
	struct router *r = mk_router(MIN "[outbox o]\ntable = shop.outbox\n"
				     "when = after.type != 'Internal'\n");
	struct ch_table t = mk_table("shop", "outbox", outbox_cols, 6, NULL, 0);
	static const char *const ev[] = { "\"e1\"", "\"Order\"", "\"7\"", "\"Created\"",
					   "\"{}\"", NULL };
	static const char *const internal[] = { "\"e2\"", "\"Order\"", "\"7\"", "\"Internal\"",
						"\"{}\"", NULL };
	struct ch_image a, b;
	struct routed x;

	(void)state;
	mk_image(&a, ev, 6);
	mk_image(&b, internal, 6);
	route(r, &t, CH_INSERT, NULL, &a, &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.id.data, "e1");
	routed_free(&x);
	route(r, &t, CH_INSERT, NULL, &b, &x);
	assert_int_equal(x.res, ROUTE_SKIP);
	routed_free(&x);
	ch_image_free(&a);
	ch_image_free(&b);
	ch_table_free_caches(&t);
	router_free(r);
}

static void write_lua(const char *text)
{
	FILE *f = fopen(lua_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_script_route(void **state)
{
	char conf[1024];
	struct router *r;
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_image before, paid;
	struct routed x;

	(void)state;
	write_lua("function transform(c)\n"
		  "  if c.after.status == 'boom' then error('boom') end\n"
		  "  if c.after.status == 'spin' then while true do end end\n"
		  "  return { { topic = 'ev/' .. c.after.status, key = c.after.id,\n"
		  "             headers = { event_type = 'X' }, payload = { n = c.after.note } },\n"
		  "           { payload = 'second' } }\n"
		  "end\n");
	snprintf(conf, sizeof(conf), MIN "[route s]\nmatch = shop.orders\ntopic = def/{table}\n"
		 "rename = note:memo\nscript = %s\nscript_instruction_limit = 10000\n", lua_path);
	r = mk_router(conf);
	mk_image(&before, order_row, 4);
	mk_image(&paid, paid_row, 4);
	route(r, &t, CH_UPDATE, &before, &paid, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.e.id.data, "0-1-42@0/0");
	assert_string_equal(x.e.topic.data, "ev/paid");
	assert_string_equal(queue_header(&x.e, "key"), "1");
	assert_string_equal(queue_header(&x.e, "event_type"), "X");
	/* the script sees the route's view: note renamed to memo */
	assert_string_equal(x.e.payload.data, "{}");
	assert_string_equal(x.more[0].id.data, "0-1-42@0/1");
	assert_string_equal(x.more[0].topic.data, "def/orders");
	assert_string_equal(x.more[0].payload.data, "second");
	assert_false(x.last[0]);
	assert_true(x.last[1]);
	routed_free(&x);
	ch_image_free(&paid);
	{
		static const char *const boom[] = { "1", "\"boom\"", "\"a\"", "\"x\"" };
		static const char *const spin[] = { "1", "\"spin\"", "\"a\"", "\"x\"" };

		mk_image(&paid, boom, 4);
		route(r, &t, CH_UPDATE, &before, &paid, &x);	/* stop */
		assert_int_equal(x.res, ROUTE_ERROR);
		assert_int_equal(x.n, 0);
		assert_non_null(strstr(x.err, "route s: row 0-1-42@0: script "));
		assert_non_null(strstr(x.err, ": boom"));
		routed_free(&x);
		fail_skip = true;
		route(r, &t, CH_UPDATE, &before, &paid, &x);	/* skip */
		assert_int_equal(x.res, ROUTE_SKIP);
		assert_int_equal(x.nfail, 1);
		routed_free(&x);
		ch_image_free(&paid);
		mk_image(&paid, spin, 4);
		fail_skip = false;
		route(r, &t, CH_UPDATE, &before, &paid, &x);
		assert_int_equal(x.res, ROUTE_ERROR);
		assert_non_null(strstr(x.err, "instruction"));
		routed_free(&x);
		ch_image_free(&paid);
	}
	ch_image_free(&before);
	ch_table_free_caches(&t);
	router_free(r);
}

/* ---- rows a snapshot read (issue 15) ---- */

/* The default [filter] and [route] ops take reads; a read row gets the
 * topic and key an insert of the same row gets (per-key order). */
static void test_read_ops(void **state)
{
	struct router *r = mk_router(MIN "[route orders]\nmatch = shop.orders\n"
				     "topic = t/{db}/{table}/{pk}\nkey = {pk}\n");
	struct router *noread = mk_router(MIN "[filter]\nops = insert,update,delete\n");
	struct router *rt_noread = mk_router(MIN "[route orders]\nmatch = shop.orders\n"
					     "ops = insert,update,delete\n");
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_table t2 = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_table t3 = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_image im;
	struct routed ins, rd;

	(void)state;
	mk_image(&im, order_row, 4);
	route(r, &t, CH_INSERT, NULL, &im, &ins);
	route(r, &t, CH_READ, NULL, &im, &rd);
	assert_int_equal(rd.res, ROUTE_PUBLISH);
	assert_string_equal(rd.e.topic.data, "t/shop/orders/1");
	assert_string_equal(rd.e.topic.data, ins.e.topic.data);
	assert_string_equal(queue_header(&rd.e, "key"), "1");
	assert_string_equal(queue_header(&rd.e, "key"), queue_header(&ins.e, "key"));
	assert_int_equal(rd.e.op, CH_READ);
	assert_non_null(strstr(rd.e.payload.data, "\"op\":\"read\""));
	routed_free(&ins);
	routed_free(&rd);
	/* [filter] ops without read: no read row, and no table to snapshot */
	route(noread, &t2, CH_READ, NULL, &im, &rd);
	assert_int_equal(rd.res, ROUTE_SKIP);
	routed_free(&rd);
	assert_false(router_table_wanted(noread, "shop", "orders"));
	/* a route without a condition whose ops lack read drops read rows */
	route(rt_noread, &t3, CH_READ, NULL, &im, &rd);
	assert_int_equal(rd.res, ROUTE_SKIP);
	routed_free(&rd);
	route(rt_noread, &t3, CH_INSERT, NULL, &im, &rd);
	assert_int_equal(rd.res, ROUTE_PUBLISH);
	routed_free(&rd);
	assert_false(router_table_wanted(rt_noread, "shop", "orders"));
	assert_true(router_table_wanted(rt_noread, "shop", "items"));
	ch_image_free(&im);
	ch_table_free_caches(&t);
	ch_table_free_caches(&t2);
	ch_table_free_caches(&t3);
	router_free(r);
	router_free(noread);
	router_free(rt_noread);
}

/* Conditions and templates see op "read"; an outbox table's rows are
 * never read (they were published as events once). */
static void test_read_when_and_outbox(void **state)
{
	struct router *r = mk_router(MIN "[route snap]\nmatch = shop.orders\n"
				     "when = op = 'read'\ntopic = snap/{op}\nevent_type = Order{Op}\n"
				     "[route rest]\nmatch = shop.orders\ntopic = live/{op}\n"
				     "[outbox o]\ntable = shop.outbox\n");
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_table ob = mk_table("shop", "outbox", outbox_cols, 6, NULL, 0);
	static const char *const ev[] = { "\"e1\"", "\"Order\"", "\"7\"", "\"Created\"",
					   "\"{}\"", NULL };
	struct ch_image im, evim;
	struct routed x;

	(void)state;
	mk_image(&im, order_row, 4);
	mk_image(&evim, ev, 6);
	route(r, &t, CH_READ, NULL, &im, &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.topic.data, "snap/read");
	assert_string_equal(queue_header(&x.e, "event_type"), "OrderRead");
	routed_free(&x);
	route(r, &t, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.topic.data, "live/insert");
	routed_free(&x);
	route(r, &ob, CH_READ, NULL, &evim, &x);
	assert_int_equal(x.res, ROUTE_SKIP);
	routed_free(&x);
	route(r, &ob, CH_INSERT, NULL, &evim, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	routed_free(&x);
	ch_image_free(&im);
	ch_image_free(&evim);
	ch_table_free_caches(&t);
	ch_table_free_caches(&ob);
	router_free(r);
}

/* Which tables a snapshot of "all" reads: those whose read rows some
 * route (or the default topic) would publish. */
static void test_table_wanted(void **state)
{
	struct router *r = mk_router(MIN "[filter]\ninclude = shop.*, crm.*\nexclude = shop.audit\n"
				     "[routing]\nunmatched = drop\n"
				     "[route gone]\nmatch = shop.tmp_*\ndrop = true\n"
				     "[route some]\nmatch = shop.orders\nwhen = after.id > 1\n"
				     "drop = true\n"
				     "[route snapshots]\nmatch = shop.orders, shop.lines\n"
				     "when = op = 'read'\n"
				     "[route live]\nmatch = shop.lines, shop.items\nops = insert,update\n"
				     "[outbox o]\ntable = shop.events\n");
	struct router *all = mk_router(MIN);

	(void)state;
	assert_true(router_table_wanted(r, "shop", "orders"));	/* by a condition */
	assert_true(router_table_wanted(r, "shop", "lines"));	/* the same */
	assert_false(router_table_wanted(r, "shop", "items"));	/* ops without read */
	assert_false(router_table_wanted(r, "shop", "tmp_x"));	/* dropped */
	assert_false(router_table_wanted(r, "shop", "events"));	/* an outbox */
	assert_false(router_table_wanted(r, "shop", "audit"));	/* excluded */
	assert_false(router_table_wanted(r, "web", "pages"));	/* not included */
	assert_false(router_table_wanted(r, "crm", "people"));	/* unmatched = drop */
	assert_true(router_table_wanted(all, "crm", "people"));
	assert_false(router_table_wanted(all, "mysql", "user"));
	assert_false(router_table_wanted(all, "sys", "x"));
	assert_false(router_table_wanted(all, "information_schema", "TABLES"));
	assert_false(router_table_wanted(all, "performance_schema", "threads"));
	router_free(r);
	router_free(all);
}

/* A script sees a read row as op "read" with its after image only. */
static void test_read_script(void **state)
{
	char conf[1024];
	struct router *r;
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_image im;
	struct routed x;

	(void)state;
	write_lua("function transform(c)\n"
		  "  if c.op ~= 'read' then return {} end\n"
		  "  return { { payload = c.op .. ' ' .. tostring(c.before) .. ' ' .. c.after.status } }\n"
		  "end\n");
	snprintf(conf, sizeof(conf), MIN "[route s]\nmatch = shop.orders\nscript = %s\n",
		 lua_path);
	r = mk_router(conf);
	mk_image(&im, order_row, 4);
	route(r, &t, CH_READ, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_PUBLISH);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.e.payload.data, "read nil new");
	assert_string_equal(x.e.id.data, "0-1-42@0/0");
	assert_int_equal(x.e.op, CH_READ);
	routed_free(&x);
	route(r, &t, CH_INSERT, NULL, &im, &x);
	assert_int_equal(x.res, ROUTE_SKIP);
	routed_free(&x);
	ch_image_free(&im);
	ch_table_free_caches(&t);
	router_free(r);
}

/* ---- snapshot markers (rowcast-format(7), SNAPSHOTS) ---- */

/* Snapshot 7's chunk of shop.orders (or of table t). */
static struct ch_trx snap_trx(struct ch_snap *snap, const char *table)
{
	struct ch_trx trx = mk_trx();

	memset(snap, 0, sizeof(*snap));
	snap->id = 7;
	snap->db = "shop";
	snap->table = table;
	snap->chunk = 1;
	snap->first = true;
	snap->est_rows = 1200;
	trx.gtid[0] = '\0';
	strcpy(trx.id, "snap-7-1");
	trx.snap = snap;
	return trx;
}

/* A marker into an entry left dirty by an earlier message. */
static bool marker(struct router *r, const struct ch_trx *trx, bool end, uint64_t rows,
		   struct q_entry *e)
{
	memset(e, 0, sizeof(*e));
	headers_add(e, "key", "stale", 5);
	e->routed_topic = 1;
	buf_puts(&e->topic, "stale");
	return router_snapshot_marker(r, trx, end, rows, e);
}

static void entry_free(struct q_entry *e)
{
	buf_free(&e->topic);
	buf_free(&e->payload);
	buf_free(&e->id);
	buf_free(&e->headers);
}

static void test_snapshot_marker_native(void **state)
{
	struct router *r = mk_router(MIN);
	struct ch_snap snap;
	struct ch_trx trx = snap_trx(&snap, "orders");
	struct q_entry e;

	(void)state;
	assert_true(marker(r, &trx, false, 0, &e));
	assert_string_equal(e.topic.data, "rowcast/shop/orders");
	assert_int_equal(e.routed_topic, 0);
	assert_string_equal(e.id.data, "snapshot-7-shop.orders-start");
	assert_int_equal(e.nheaders, 0);
	assert_int_equal(e.op, CH_MARKER);
	assert_string_equal(e.db, "shop");
	assert_string_equal(e.table, "orders");
	assert_string_equal(e.payload.data,
			    "{\"id\":\"snapshot-7-shop.orders-start\",\"op\":\"snapshot-start\","
			    "\"db\":\"shop\",\"table\":\"orders\",\"gtid\":null,"
			    "\"ts\":1529501823123,\"before\":null,\"after\":null,"
			    "\"snapshot\":{\"id\":7,\"on_demand\":false},\"rows_estimated\":1200}");
	entry_free(&e);
	snap.on_demand = true;
	snap.last = true;
	assert_true(marker(r, &trx, true, 1187, &e));
	assert_string_equal(e.id.data, "snapshot-7-shop.orders-complete");
	assert_string_equal(e.payload.data,
			    "{\"id\":\"snapshot-7-shop.orders-complete\",\"op\":\"snapshot-complete\","
			    "\"db\":\"shop\",\"table\":\"orders\",\"gtid\":null,"
			    "\"ts\":1529501823123,\"before\":null,\"after\":null,"
			    "\"snapshot\":{\"id\":7,\"on_demand\":true},\"rows\":1187}");
	entry_free(&e);
	router_free(r);
}

/* The markers go where the table's read rows go: the route's topic with
 * {op} "read", or the default topic when the template needs row values. */
static void test_snapshot_marker_topic(void **state)
{
	struct router *r = mk_router(MIN "[route orders]\nmatch = shop.orders\n"
				     "topic = t/{db}/{table}/{op}\nevent_type = Order{Op}\n"
				     "[route items]\nmatch = shop.items\ntopic = i/{table}/{pk}\n"
				     "[route dbz]\nmatch = shop.dbz\nenvelope = debezium\n"
				     "[route mx]\nmatch = shop.mx\nenvelope = maxwell\n"
				     "[route ce]\nmatch = shop.ce\nenvelope = cloudevents-binary\n");
	struct ch_table t = mk_table("shop", "orders", order_cols, 4, order_pk, 1);
	struct ch_snap snap;
	struct ch_trx trx = snap_trx(&snap, "orders");
	struct ch_image im;
	struct routed x;
	struct q_entry e;

	(void)state;
	mk_image(&im, order_row, 4);
	route(r, &t, CH_READ, NULL, &im, &x);
	assert_true(marker(r, &trx, false, 0, &e));
	assert_string_equal(e.topic.data, "t/shop/orders/read");
	assert_string_equal(e.topic.data, x.e.topic.data);
	assert_int_equal(e.routed_topic, 1);
	assert_int_equal(e.nheaders, 0);	/* no key, no event type */
	routed_free(&x);
	entry_free(&e);

	snap.table = "items";
	assert_true(marker(r, &trx, false, 0, &e));
	assert_string_equal(e.topic.data, "rowcast/shop/items");
	assert_int_equal(e.routed_topic, 0);
	entry_free(&e);

	/* Debezium has no markers */
	snap.table = "dbz";
	memset(&e, 0, sizeof(e));
	assert_false(router_snapshot_marker(r, &trx, false, 0, &e));
	entry_free(&e);

	snap.table = "mx";
	assert_true(marker(r, &trx, true, 3, &e));
	assert_string_equal(e.payload.data,
			    "{\"database\":\"shop\",\"table\":\"mx\",\"type\":\"bootstrap-complete\","
			    "\"ts\":1529501823,\"data\":{}}");
	assert_string_equal(e.id.data, "snapshot-7-shop.mx-complete");
	entry_free(&e);

	/* CloudEvents binary mode: the attributes as headers, the native
	 * marker as payload */
	snap.table = "ce";
	assert_true(marker(r, &trx, false, 0, &e));
	assert_string_equal(queue_header(&e, "specversion"), "1.0");
	assert_string_equal(queue_header(&e, "id"), "snapshot-7-shop.ce-start");
	assert_string_equal(queue_header(&e, "source"), "rowcast://localhost");
	assert_string_equal(queue_header(&e, "type"), "rowcast.shop.ce.snapshot-start");
	assert_string_equal(queue_header(&e, "subject"), "shop.ce");
	assert_string_equal(queue_header(&e, "time"), "2018-06-20T13:37:03.123Z");
	assert_null(queue_header(&e, "key"));
	assert_string_equal(e.payload.data,
			    "{\"id\":\"snapshot-7-shop.ce-start\",\"op\":\"snapshot-start\","
			    "\"db\":\"shop\",\"table\":\"ce\",\"gtid\":null,"
			    "\"ts\":1529501823123,\"before\":null,\"after\":null,"
			    "\"snapshot\":{\"id\":7,\"on_demand\":false},\"rows_estimated\":1200}");
	entry_free(&e);
	ch_image_free(&im);
	ch_table_free_caches(&t);
	router_free(r);
}

static bool ddl_emit(void *ctx, struct q_entry **e)
{
	*e = ctx;
	return true;
}

/* TRUNCATE takes the table's route topic the same way: not one that
 * needs row values, and a topic set by the route is marked so. */
static void test_truncate_topic(void **state)
{
	struct router *r = mk_router(MIN "[route orders]\nmatch = shop.orders\ntopic = t/{table}\n"
				     "[route items]\nmatch = shop.items\ntopic = i/{table}/{pk}\n");
	struct ch_trx trx = mk_trx();
	struct q_entry e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_true(router_ddl(r, &trx, "shop", "TRUNCATE orders", 15, ddl_emit, &e));
	assert_string_equal(e.topic.data, "t/orders");
	assert_int_equal(e.routed_topic, 1);
	assert_string_equal(e.id.data, "0-1-42@truncate0");
	e.routed_topic = 1;
	assert_true(router_ddl(r, &trx, "shop", "TRUNCATE TABLE items", 20, ddl_emit, &e));
	assert_string_equal(e.topic.data, "rowcast/shop/items");
	assert_int_equal(e.routed_topic, 0);
	entry_free(&e);
	router_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_topic_and_native),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_route_templates_and_key),
		cmocka_unit_test(test_route_missing_value),
		cmocka_unit_test(test_outbox),
		cmocka_unit_test(test_bad_ops),
		cmocka_unit_test(test_when_and_continue),
		cmocka_unit_test(test_when_first_match),
		cmocka_unit_test(test_when_errors),
		cmocka_unit_test(test_outbox_when),
		cmocka_unit_test(test_script_route),
		cmocka_unit_test(test_read_ops),
		cmocka_unit_test(test_read_when_and_outbox),
		cmocka_unit_test(test_table_wanted),
		cmocka_unit_test(test_read_script),
		cmocka_unit_test(test_snapshot_marker_native),
		cmocka_unit_test(test_snapshot_marker_topic),
		cmocka_unit_test(test_truncate_topic),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
