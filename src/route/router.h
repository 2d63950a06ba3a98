/* SPDX-License-Identifier: MIT */
/*
 * From row changes to messages: filters, routes, envelopes, the outbox
 * router, transaction markers and DDL events.  A router is compiled from a
 * config once (globs split, templates checked) and is then immutable; a
 * reload compiles a new one that the reader takes at a transaction
 * boundary.  Per table map the router keeps a plan (which route, which
 * columns under which names) so the per-row work is formatting only.
 */
#ifndef RC_ROUTE_ROUTER_H
#define RC_ROUTE_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "config/config.h"
#include "change/queue.h"
#include "change/change.h"

struct router;
struct table_plan;

/* Compile cfg (the router keeps a copy of it); NULL with err when
 * something cannot be compiled. */
struct router *router_new(const struct rc_config *cfg, char *err, size_t errlen);
void router_free(struct router *r);

/* The plan for a table map, made on first use and kept in t->user; free
 * it with router_plan_free() when the source drops the table. */
struct table_plan *router_plan(struct router *r, struct ch_table *t);
void router_plan_free(struct table_plan *p);
/* Was the plan made by this router (and not by one a reload replaced)? */
bool router_plan_current(const struct router *r, const struct table_plan *p);
/* The metrics counters the plan was given (set by the caller). */
void *router_plan_metrics(struct table_plan *p);
void router_plan_set_metrics(struct table_plan *p, void *mt);

enum route_result {
	ROUTE_PUBLISH = 0,	/* one message or more were handed over */
	ROUTE_SKIP = 1,		/* none: filtered out, no route took it, or dropped */
	ROUTE_ERROR = 2,	/* unpublishable, and out->fail said stop (err says why) */
};

/* Where router_row() gets entries and hands messages over. */
struct route_out {
	/* A free entry to fill (the same one again until it is pushed); NULL
	 * when the caller is closing. */
	struct q_entry *(*next)(void *ctx);
	/* Hand over e, filled; last is false when more messages of the same
	 * row follow it (the row is done only after its last message). */
	void (*push)(void *ctx, struct q_entry *e, bool last);
	/* A message that cannot be made (a template value missing, a script
	 * error or overrun): true to skip it and go on, false to stop. */
	bool (*fail)(void *ctx, const char *why);
	void *ctx;		/* passed to the three */
};

/*
 * The messages of one row change.  Routes are tried in file order: the
 * first that takes the row (match, ops and when) publishes it, and the
 * ones after it too while each says continue = true; a route whose
 * condition is false passes the row on.  A script route publishes what its
 * script returns.  Ids: the native id for the row's first message, then
 * "<id>/<m>" for its message m (a script's messages always "<id>/<m>").
 */
enum route_result router_row(struct router *r, struct table_plan *p, const struct ch_trx *trx,
			     const char *file, uint64_t offset, const struct ch_row *row,
			     const struct route_out *out, char *err, size_t errlen);

/* Transaction markers: the BEGIN before the first published row of a
 * transaction and the END at its commit (with per-table counts); false
 * when markers are off. */
bool router_markers(const struct router *r);
void router_marker_begin(struct router *r, const struct ch_trx *trx, struct q_entry *e);
void router_marker_count(struct router *r, const char *db, const char *table);
void router_marker_end(struct router *r, const struct ch_trx *trx, struct q_entry *e);

/*
 * A DDL statement: TRUNCATE, DROP TABLE and partition TRUNCATE/DROP/
 * EXCHANGE become messages of their tables (op "truncate"/"drop"), always;
 * with ddl_events any other DDL becomes a schema message.  Calls emit once
 * per message to fill (emit returns false to stop).  Account statements
 * are never published.
 */
bool router_ddl(struct router *r, const struct ch_trx *trx, const char *db, const char *query,
		size_t qlen, bool (*emit)(void *ctx, struct q_entry **e), void *ctx);

/* Would rows of db.table be published (filters, routes, not an outbox
 * table, not a system schema)?  Which tables a snapshot of "all" reads. */
bool router_table_wanted(const struct router *r, const char *db, const char *table);

/*
 * The start (end = false) or end marker of the table of trx->snap (a
 * snapshot chunk's transaction) into e, in the envelope of the table's
 * route (the first whose match names it) or [routing] envelope: topic
 * (the one the table's read rows get when the route's template needs no
 * column values, else the table's default), payload, id
 * ("snapshot-<id>-<db>.<table>-start" or "-complete", the same after a
 * restart), headers (CloudEvents binary attributes), db, table and op
 * (CH_MARKER); rows: the table's rows sent (end marker).  Returns false
 * when the envelope has no such marker (Debezium): e is then not to be
 * published.
 */
bool router_snapshot_marker(struct router *r, const struct ch_trx *trx, bool end, uint64_t rows,
			    struct q_entry *e);

/* Header list helpers for q_entry.headers: "key\0value\0" pairs. */
void headers_add(struct q_entry *e, const char *k, const char *v, size_t vlen);

#endif
