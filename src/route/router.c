/* SPDX-License-Identifier: MIT */
/*
 * Filters, routes, the outbox router, markers and DDL events (see
 * router.h).  Templates are split into literal and placeholder parts once;
 * values placed into MQTT topics are percent-escaped so that a value never
 * adds a topic level.
 */
#include "route/router.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>

#include "base/log.h"
#include "route/envelope.h"
#include "route/expr.h"
#include "route/native.h"
#include "route/script.h"
#include "route/script_row.h"

enum tpl_kind {
	TP_LIT, TP_PREFIX, TP_DB, TP_TABLE, TP_OP, TP_OPCAP, TP_PK, TP_GTID, TP_ID, TP_COL,
	TP_AGG_TYPE, TP_AGG_ID, TP_TYPE,
};

struct tpl_part {
	enum tpl_kind kind;	/* what goes here */
	char *text;		/* TP_LIT: the text; TP_COL: the column name */
};

struct tpl {
	struct tpl_part *p;	/* parts in order */
	int n;			/* how many; 0 = template not set */
};

struct globs {
	char **g;		/* patterns */
	int n;
};

struct route {
	const struct route_cfg *cfg;	/* the section (names for messages) */
	struct globs match;		/* db.table patterns */
	unsigned ops;			/* bit per row op (enum ch_op) */
	struct tpl topic, key, event_type;
	struct globs keep;		/* columns kept; none = all */
	char **ren_from, **ren_to;	/* renames */
	int nren;
	int envelope;			/* enum envelope_kind */
	bool drop;
	struct expr *when;		/* condition, NULL = every row */
	struct script *script;		/* transform, NULL = the envelope */
};

struct outbox {
	const struct outbox_cfg *cfg;
	char *db, *table;		/* the outbox table */
	struct tpl topic;
	struct globs headers;		/* header columns (exact names) */
	struct expr *when;		/* condition, NULL = every row */
};

struct router {
	uint64_t id;			/* unique per router made in this process */
	struct rc_config *cfg;		/* private copy: routes point into it */
	char *prefix;			/* MQTT topic prefix */
	struct globs include, exclude, drop_cols;
	unsigned ops;
	struct route *routes;
	int nroutes;
	struct outbox *outboxes;
	int noutboxes;
	struct tpl markers_topic, ddl_topic;
	struct rc_buf scratch, val;	/* reused per row */
	/* markers: per-table counts of the current transaction */
	char (*cnt_name)[520];
	uint64_t *cnt;
	int ncnt, capcnt;
	uint64_t trx_events;
	struct envelope_opts env;	/* shared envelope settings */
	bool escape;			/* percent-escape topic values (MQTT) */
	struct script_row srow;		/* a row as scripts see it, reused */
};

struct table_plan {
	uint64_t router_id;		/* the router that made it */
	const struct route *route;	/* NULL: no route (default topic) */
	int route_idx;			/* its index in the router's routes */
	struct table_plan *next;	/* the plan of the next route that matches
					   the table (routes are tried in order),
					   ending with the one without a route */
	int32_t *when_cols;		/* route's or outbox's condition: bound
					   column indexes of the table */
	const struct outbox *outbox;	/* the table is this outbox */
	bool skip;			/* filtered out, or dropped by its route */
	struct ch_table shadow;	/* the table with renamed/dropped columns */
	uint8_t *keep;			/* per column: published? */
	int outbox_col[5];		/* id, aggregate type, aggregate id, type, payload */
	int *hdr_col;			/* outbox header columns */
	int nhdr;
	uint8_t *state[2];		/* shadow image states */
	int row_end;			/* system-versioned: the row_end column, or -1 */
	void *metrics;			/* the caller's counters */
	struct ch_image img[2];	/* shadow images (point into the real ones) */
	struct rc_buf topic;		/* the default topic, made on first use */
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		log_oom();
	return p;
}

/* Split "a, b ,c" into trimmed parts. */
static void split(const char *s, struct globs *g)
{
	const char *p = s;

	g->g = NULL;
	g->n = 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *a = p, *b = p + n;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a) {
			g->g = realloc(g->g, (size_t)(g->n + 1) * sizeof(char *));
			if (!g->g)
				log_oom();
			g->g[g->n++] = strndup(a, (size_t)(b - a));
		}
		if (!comma)
			break;
		p = comma + 1;
	}
}

static void globs_free(struct globs *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->g[i]);
	free(g->g);
	g->g = NULL;
	g->n = 0;
}

static bool globs_match(const struct globs *g, const char *s)
{
	for (int i = 0; i < g->n; i++)
		if (fnmatch(g->g[i], s, 0) == 0)
			return true;
	return false;
}

static bool parse_ops(const char *s, unsigned *mask, char *err, size_t errlen)
{
	struct globs g;

	split(s, &g);
	*mask = 0;
	for (int i = 0; i < g.n; i++) {
		int k;

		for (k = 0; k < CH_ROW_OPS && strcasecmp(g.g[i], ch_op_names[k]); k++)
			;
		if (k == CH_ROW_OPS) {
			snprintf(err, errlen, "unknown operation '%s' (insert, update, delete, read)",
				 g.g[i]);
			globs_free(&g);
			return false;
		}
		*mask |= 1u << k;
	}
	globs_free(&g);
	return true;
}

static void tpl_compile(const char *s, struct tpl *t)
{
	static const struct { const char *name; enum tpl_kind k; } names[] = {
		{ "prefix", TP_PREFIX }, { "db", TP_DB }, { "table", TP_TABLE }, { "op", TP_OP },
		{ "Op", TP_OPCAP }, { "pk", TP_PK }, { "gtid", TP_GTID }, { "id", TP_ID },
		{ "aggregate_type", TP_AGG_TYPE }, { "aggregate_id", TP_AGG_ID },
		{ "type", TP_TYPE },
	};
	const char *p = s;

	t->p = NULL;
	t->n = 0;
	while (*p) {
		const char *open = strchr(p, '{');
		const char *close = open ? strchr(open, '}') : NULL;
		struct tpl_part part = { TP_LIT, NULL };

		if (!open || !close) {
			part.text = xstrdup(p);
			p += strlen(p);
		} else if (open > p) {
			part.text = strndup(p, (size_t)(open - p));
			p = open;
		} else {
			size_t n = (size_t)(close - open - 1);

			if (n > 4 && !strncmp(open + 1, "col:", 4)) {
				part.kind = TP_COL;
				part.text = strndup(open + 5, n - 4);
			} else {
				for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
					if (strlen(names[k].name) == n &&
					    !strncmp(names[k].name, open + 1, n))
						part.kind = names[k].k;
				if (part.kind == TP_LIT)
					part.text = strndup(open, n + 2);
			}
			p = close + 1;
		}
		t->p = realloc(t->p, (size_t)(t->n + 1) * sizeof(*t->p));
		if (!t->p)
			log_oom();
		t->p[t->n++] = part;
	}
}

static void tpl_free(struct tpl *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->p[i].text);
	free(t->p);
	t->p = NULL;
	t->n = 0;
}

struct router *router_new(const struct rc_config *cfg, char *err, size_t errlen)
{
	struct router *r = calloc(1, sizeof(*r));

	static _Atomic uint64_t next_id = 1;

	if (!r)
		log_oom();
	r->id = next_id++;
	/* a private copy of what was parsed: a reload replaces the router,
	 * never changes the config under it */
	r->cfg = config_dup(cfg);
	cfg = r->cfg;
	r->prefix = xstrdup(cfg->mqtt_topic_prefix);
	split(cfg->flt_include, &r->include);
	split(cfg->flt_exclude, &r->exclude);
	split(cfg->flt_drop_columns, &r->drop_cols);
	if (!parse_ops(cfg->flt_ops, &r->ops, err, errlen))
		goto failed;
	r->routes = calloc((size_t)cfg->nroutes + 1, sizeof(*r->routes));
	r->outboxes = calloc((size_t)cfg->noutboxes + 1, sizeof(*r->outboxes));
	if (!r->routes || !r->outboxes)
		log_oom();
	for (int i = 0; i < cfg->nroutes; i++) {
		const struct route_cfg *rc = &cfg->routes[i];
		struct route *rt = &r->routes[r->nroutes++];
		struct globs ren;
		char why[256];

		rt->cfg = rc;
		split(rc->match, &rt->match);
		if (!parse_ops(rc->ops, &rt->ops, why, sizeof(why))) {
			snprintf(err, errlen, "[route %s] ops: %s", rc->name, why);
			goto failed;
		}
		tpl_compile(rc->topic, &rt->topic);
		tpl_compile(rc->key, &rt->key);
		tpl_compile(rc->event_type, &rt->event_type);
		split(rc->columns, &rt->keep);
		split(rc->rename, &ren);
		rt->ren_from = calloc((size_t)ren.n + 1, sizeof(char *));
		rt->ren_to = calloc((size_t)ren.n + 1, sizeof(char *));
		if (!rt->ren_from || !rt->ren_to)
			log_oom();
		for (int k = 0; k < ren.n; k++) {
			char *colon = strchr(ren.g[k], ':');

			if (!colon || colon == ren.g[k] || !colon[1]) {
				snprintf(err, errlen, "[route %s] rename: '%s' is not old:new", rc->name,
					 ren.g[k]);
				globs_free(&ren);
				goto failed;
			}
			rt->ren_from[rt->nren] = strndup(ren.g[k], (size_t)(colon - ren.g[k]));
			rt->ren_to[rt->nren++] = xstrdup(colon + 1);
		}
		globs_free(&ren);
		rt->envelope = rc->envelope;
		rt->drop = rc->drop;
		if (rc->when[0] && !expr_compile(rc->when, &rt->when, why, sizeof(why))) {
			snprintf(err, errlen, "%s:%d: [route %s] when: %s", cfg->path, rc->when_line,
				 rc->name, why);
			goto failed;
		}
		if (rc->script[0]) {
			struct script_limits lim = { (size_t)(unsigned)rc->script_memory,
						     (uint32_t)rc->script_budget };
			char path[4096], serr[600];
			const char *slash = strrchr(cfg->path ? cfg->path : "", '/');

			/* a relative path is the config file's neighbour */
			if (rc->script[0] != '/' && slash)
				snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - cfg->path),
					 cfg->path, rc->script);
			else
				snprintf(path, sizeof(path), "%s", rc->script);
			if (!script_load(path, &lim, &rt->script, serr, sizeof(serr))) {
				snprintf(err, errlen, "%s:%d: [route %s] script: %s", cfg->path,
					 rc->script_line, rc->name, serr);
				goto failed;
			}
		}
	}
	for (int i = 0; i < cfg->noutboxes; i++) {
		const struct outbox_cfg *oc = &cfg->outboxes[i];
		struct outbox *ob = &r->outboxes[r->noutboxes++];
		const char *dot = strchr(oc->table, '.');
		char why[256];

		ob->cfg = oc;
		if (!dot || dot == oc->table || !dot[1]) {
			snprintf(err, errlen, "[outbox %s] table: '%s' is not db.table", oc->name,
				 oc->table);
			goto failed;
		}
		ob->db = strndup(oc->table, (size_t)(dot - oc->table));
		ob->table = xstrdup(dot + 1);
		tpl_compile(oc->topic, &ob->topic);
		split(oc->headers, &ob->headers);
		if (oc->when[0] && !expr_compile(oc->when, &ob->when, why, sizeof(why))) {
			snprintf(err, errlen, "%s:%d: [outbox %s] when: %s", cfg->path, oc->when_line,
				 oc->name, why);
			goto failed;
		}
	}
	tpl_compile(cfg->rt_markers_topic, &r->markers_topic);
	tpl_compile(cfg->rt_ddl_topic, &r->ddl_topic);
	r->escape = cfg->sink_kind == SINK_MQTT;
	r->env.server_name = r->prefix;
	r->env.source_uri = cfg->rt_source_uri;
	r->env.server_id = (uint32_t)cfg->src_server_id;
	return r;
failed:
	router_free(r);
	return NULL;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	globs_free(&r->include);
	globs_free(&r->exclude);
	globs_free(&r->drop_cols);
	for (int i = 0; i < r->nroutes; i++) {
		struct route *rt = &r->routes[i];

		globs_free(&rt->match);
		globs_free(&rt->keep);
		tpl_free(&rt->topic);
		tpl_free(&rt->key);
		tpl_free(&rt->event_type);
		for (int k = 0; k < rt->nren; k++) {
			free(rt->ren_from[k]);
			free(rt->ren_to[k]);
		}
		free(rt->ren_from);
		free(rt->ren_to);
		expr_free(rt->when);
		script_free(rt->script);
	}
	for (int i = 0; i < r->noutboxes; i++) {
		free(r->outboxes[i].db);
		free(r->outboxes[i].table);
		tpl_free(&r->outboxes[i].topic);
		globs_free(&r->outboxes[i].headers);
		expr_free(r->outboxes[i].when);
	}
	free(r->routes);
	free(r->outboxes);
	tpl_free(&r->markers_topic);
	tpl_free(&r->ddl_topic);
	buf_free(&r->scratch);
	buf_free(&r->val);
	script_row_free(&r->srow);
	free(r->cnt_name);
	free(r->cnt);
	free(r->prefix);
	rc_config_free(r->cfg);
	free(r);
}

static int col_index(const struct ch_table *t, const char *name)
{
	for (uint32_t i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, name))
			return (int)i;
	return -1;
}

/* A MariaDB SEQUENCE table: its eight bookkeeping columns, by name when
 * the server logs names, else by their types. */
static bool is_sequence(const struct ch_table *t)
{
	static const char *const names[8] = {
		"next_not_cached_value", "minimum_value", "maximum_value", "start_value",
		"increment", "cache_size", "cycle_option", "cycle_count",
	};
	static const char *const types[8] = {
		"bigint", "bigint", "bigint", "bigint", "bigint", "bigint", "tinyint", "bigint",
	};

	if (t->ncols != 8)
		return false;
	for (int i = 0; i < 8; i++) {
		if (strcmp(t->cols[i].native_type, types[i]))
			return false;
		if (t->names_known && strcmp(t->cols[i].name, names[i]))
			return false;
	}
	return true;
}

/* Is the row_end value (a TIMESTAMP text) the "still current" maximum? */
static bool row_is_current(const struct ch_image *im, int re)
{
	const char *v;

	if (im->state[re] != CH_VALUE)
		return true;
	v = im->text.data + im->off[re];
	/* 2038 before MariaDB 11.5, 2106 after */
	return !strncmp(v, "\"2038-01-19 03:14:07.999999", 27) ||
	       !strncmp(v, "\"2106-02-07 06:28:15.999999", 27);
}

static int32_t lookup_col(const void *ctx, const char *name, size_t len)
{
	const struct ch_table *t = ctx;

	for (uint32_t i = 0; i < t->ncols; i++)
		if (t->cols[i].name_len == len && !memcmp(t->cols[i].name, name, len))
			return (int32_t)i;
	return -1;
}

/* Bind a condition to the table's columns (its own names, before any
 * rename); a name the table lacks is absent from every row: warn once. */
static int32_t *bind_when(const struct expr *w, const struct ch_table *t, const char *section)
{
	int32_t *cols;

	if (!w)
		return NULL;
	cols = calloc(expr_ncols(w) + 1, sizeof(*cols));
	if (!cols)
		log_oom();
	if (expr_bind(w, cols, lookup_col, t) == 0)
		return cols;
	for (size_t i = 0; i < expr_ncols(w); i++)
		if (cols[i] < 0)
			log_warn("%s when: table %s.%s has no column '%s'; the condition sees it "
				 "as absent", section, t->db, t->name, expr_col(w, i, NULL));
	return cols;
}

bool router_table_wanted(const struct router *r, const char *db, const char *table)
{
	static const char *const system[] = { "mysql", "information_schema",
					      "performance_schema", "sys" };
	char name[520];

	for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
		if (!strcmp(db, system[i]))
			return false;
	for (int i = 0; i < r->noutboxes; i++)
		if (!strcmp(r->outboxes[i].db, db) && !strcmp(r->outboxes[i].table, table))
			return false;	/* its rows are events, published once */
	snprintf(name, sizeof(name), "%s.%s", db, table);
	if (!(r->ops & 1u << CH_READ) ||
	    (r->include.n && !globs_match(&r->include, name)) || globs_match(&r->exclude, name))
		return false;
	/* the routes as router_row() tries a read row on them: the first
	 * without a condition decides (its ops and drop); one with a condition
	 * may publish some rows and passes the others on */
	for (int i = 0; i < r->nroutes; i++) {
		const struct route *rt = &r->routes[i];
		bool takes = (rt->ops & 1u << CH_READ) && !rt->drop;

		if (!globs_match(&rt->match, name))
			continue;
		if (!rt->when)
			return takes;
		if (takes)
			return true;
	}
	return r->cfg->rt_unmatched != UNMATCHED_DROP;
}

/* The plan for the first route from index start that matches t. */
static struct table_plan *plan_for(struct router *r, struct ch_table *t, int start)
{
	struct table_plan *p = calloc(1, sizeof(*p));
	char name[520], cname[800];

	if (!p)
		log_oom();
	snprintf(name, sizeof(name), "%s.%s", t->db, t->name);
	p->keep = calloc(t->ncols ? t->ncols : 1, 1);
	p->shadow = *t;
	p->shadow.cols = calloc(t->ncols ? t->ncols : 1, sizeof(*t->cols));
	p->state[0] = calloc(t->ncols ? t->ncols : 1, 1);
	p->state[1] = calloc(t->ncols ? t->ncols : 1, 1);
	if (!p->keep || !p->shadow.cols || !p->state[0] || !p->state[1])
		log_oom();
	memcpy(p->shadow.cols, t->cols, t->ncols * sizeof(*t->cols));
	p->shadow.user = NULL;
	/* the formatter's key cache is the shadow's own (router_plan_free) */
	memset(&p->shadow.keys, 0, sizeof(p->shadow.keys));
	p->shadow.key_end = NULL;
	p->router_id = r->id;
	p->row_end = -1;

	for (int i = 0; i < r->noutboxes; i++) {
		const struct outbox *ob = &r->outboxes[i];
		const struct outbox_cfg *oc = ob->cfg;
		const char *cols[5] = { oc->id_column, oc->aggregate_type_column,
					oc->aggregate_id_column, oc->type_column, oc->payload_column };

		if (strcmp(ob->db, t->db) || strcmp(ob->table, t->name))
			continue;
		p->outbox = ob;
		for (int k = 0; k < 5; k++)
			p->outbox_col[k] = col_index(t, cols[k]);
		p->hdr_col = calloc((size_t)ob->headers.n + 1, sizeof(int));
		if (!p->hdr_col)
			log_oom();
		for (int k = 0; k < ob->headers.n; k++)
			p->hdr_col[p->nhdr++] = col_index(t, ob->headers.g[k]);
		if (ob->when) {
			char sec[300];

			snprintf(sec, sizeof(sec), "[outbox %s]", oc->name);
			p->when_cols = bind_when(ob->when, t, sec);
		}
		return p;
	}
	if ((r->include.n && !globs_match(&r->include, name)) || globs_match(&r->exclude, name) ||
	    (!r->cfg->flt_sequences && is_sequence(t))) {
		p->skip = true;
		return p;
	}
	if (!r->cfg->flt_history) {
		int rs = col_index(t, "row_start"), re = col_index(t, "row_end");

		if (rs >= 0 && re >= 0 && t->cols[re].type == CT_TIMESTAMP)
			p->row_end = re;
	}
	for (int i = start; i < r->nroutes; i++) {
		if (globs_match(&r->routes[i].match, name)) {
			p->route = &r->routes[i];
			p->route_idx = i;
			break;
		}
	}
	if (p->route && p->route->when) {
		char sec[300];

		snprintf(sec, sizeof(sec), "[route %s]", p->route->cfg->name);
		p->when_cols = bind_when(p->route->when, t, sec);
	}
	if (!p->route && r->cfg->rt_unmatched == UNMATCHED_DROP)
		p->skip = true;
	for (uint32_t i = 0; i < t->ncols; i++) {
		snprintf(cname, sizeof(cname), "%s.%s", name, t->cols[i].name);
		p->keep[i] = !globs_match(&r->drop_cols, cname) &&
			     (r->cfg->flt_hidden || strncmp(t->cols[i].name, "DB_ROW_HASH_", 12));
		if (p->route && p->route->keep.n && !globs_match(&p->route->keep, t->cols[i].name))
			p->keep[i] = 0;
		if (!p->route)
			continue;
		for (int k = 0; k < p->route->nren; k++) {
			if (!strcmp(p->route->ren_from[k], t->cols[i].name)) {
				p->shadow.cols[i].name = p->route->ren_to[k];
				p->shadow.cols[i].name_len = (uint32_t)strlen(p->route->ren_to[k]);
			}
		}
	}
	return p;
}

struct table_plan *router_plan(struct router *r, struct ch_table *t)
{
	struct table_plan *p = plan_for(r, t, 0);

	/* a chain: each further route that matches the table, then none */
	for (struct table_plan *q = p; q->route && !q->skip; q = q->next)
		q->next = plan_for(r, t, q->route_idx + 1);
	return p;
}

void router_plan_free(struct table_plan *p)
{
	if (!p)
		return;
	router_plan_free(p->next);
	free(p->when_cols);
	free(p->keep);
	free(p->shadow.cols);
	buf_free(&p->shadow.keys);
	free(p->shadow.key_end);
	free(p->state[0]);
	free(p->state[1]);
	free(p->hdr_col);
	buf_free(&p->topic);
	free(p);
}

bool router_plan_current(const struct router *r, const struct table_plan *p)
{
	return p->router_id == r->id;
}

void *router_plan_metrics(struct table_plan *p)
{
	return p->metrics;
}

void router_plan_set_metrics(struct table_plan *p, void *mt)
{
	p->metrics = mt;
}

/* An entry about to be filled with a message: no headers yet, and a topic
 * that no route set (entries are reused). */
static void entry_reset(struct q_entry *e)
{
	buf_reset(&e->headers);
	e->nheaders = 0;
	e->routed_topic = 0;
}

void headers_add(struct q_entry *e, const char *k, const char *v, size_t vlen)
{
	buf_append(&e->headers, k, strlen(k) + 1);
	buf_append(&e->headers, v, vlen);
	buf_putc(&e->headers, '\0');
	e->nheaders++;
}

/* The value of column i of the row (after image, or before for a delete)
 * as plain text: JSON strings unescaped, other values as their JSON text.
 * false when the column is absent or NULL. */
static bool plain_value(const struct ch_row *row, int i, struct rc_buf *out)
{
	const struct ch_image *im = row->after ? row->after : row->before;
	const char *s;
	size_t n;

	buf_reset(out);
	if (i < 0 || !im || im->state[i] != CH_VALUE)
		return false;
	s = im->text.data + im->off[i];
	n = im->len[i];
	if (n < 2 || s[0] != '"') {
		buf_append(out, s, n);
		return true;
	}
	for (size_t k = 1; k + 1 < n; k++) {
		if (s[k] != '\\') {
			buf_putc(out, s[k]);
			continue;
		}
		k++;
		switch (s[k]) {
		case 'n': buf_putc(out, '\n'); break;
		case 't': buf_putc(out, '\t'); break;
		case 'r': buf_putc(out, '\r'); break;
		case 'b': buf_putc(out, '\b'); break;
		case 'f': buf_putc(out, '\f'); break;
		case 'u': {
			unsigned cp = 0;

			for (int h = 1; h <= 4 && k + h < n; h++)
				cp = cp * 16 + (unsigned)(isdigit((unsigned char)s[k + h]) ?
					s[k + h] - '0' : (tolower((unsigned char)s[k + h]) - 'a' + 10));
			k += 4;
			buf_putc(out, (char)cp);	/* only control characters are escaped so */
			break;
		}
		default: buf_putc(out, s[k]);
		}
	}
	return true;
}

/* Render a template; values are MQTT-escaped when escape is set. */
static bool render(struct router *r, const struct tpl *t, const struct ch_trx *trx,
		   const struct ch_table *tab, const struct ch_row *row, const struct q_entry *e,
		   const int *outbox_col, bool escape, struct rc_buf *out, char *err, size_t errlen)
{
	buf_reset(out);
	for (int i = 0; i < t->n; i++) {
		const struct tpl_part *pt = &t->p[i];
		const char *v = NULL;
		int col = -1;

		switch (pt->kind) {
		case TP_LIT: buf_puts(out, pt->text); continue;
		case TP_PREFIX: buf_puts(out, r->prefix); continue;
		case TP_DB: v = tab->db; break;
		case TP_TABLE: v = tab->name; break;
		case TP_OP: v = row ? ch_op_names[row->op] : ""; break;
		case TP_OPCAP:	/* "Insert": the name with a capital */
			if (row) {
				buf_putc(out, (char)toupper((unsigned char)ch_op_names[row->op][0]));
				buf_puts(out, ch_op_names[row->op] + 1);
			}
			continue;
		case TP_GTID: v = trx->gtid; break;
		case TP_ID: v = e && e->id.data ? e->id.data : ""; break;
		case TP_PK: {
			if (!row)
				continue;
			for (uint32_t k = 0; k < tab->npk; k++) {
				if (k)
					buf_putc(out, ',');
				if (plain_value(row, (int)tab->pk[k], &r->val)) {
					if (escape)
						topic_escape(out, r->val.data, r->val.len);
					else
						buf_append(out, r->val.data, r->val.len);
				}
			}
			continue;
		}
		case TP_COL: col = col_index(tab, pt->text); break;
		case TP_AGG_TYPE: col = outbox_col ? outbox_col[1] : -1; break;
		case TP_AGG_ID: col = outbox_col ? outbox_col[2] : -1; break;
		case TP_TYPE: col = outbox_col ? outbox_col[3] : -1; break;
		}
		if (!v) {
			if (!row || !plain_value(row, col, &r->val)) {
				snprintf(err, errlen, "template value {%s} is missing (absent or NULL)",
					 pt->kind == TP_COL ? pt->text : "outbox column");
				return false;
			}
			if (escape)
				topic_escape(out, r->val.data, r->val.len);
			else
				buf_append(out, r->val.data, r->val.len);
			continue;
		}
		if (escape)
			topic_escape(out, v, strlen(v));
		else
			buf_puts(out, v);
	}
	return true;
}

static enum route_result outbox_row(struct router *r, struct table_plan *p,
				    const struct ch_trx *trx, const char *file,
				    const struct ch_row *row, struct q_entry *e, char *err,
				    size_t errlen)
{
	const struct outbox *ob = p->outbox;
	const struct outbox_cfg *oc = ob->cfg;
	const char *names[5] = { oc->id_column, oc->aggregate_type_column, oc->aggregate_id_column,
				 oc->type_column, oc->payload_column };
	const struct ch_image *im;
	char why[300];

	/* a snapshot's reads of an outbox table (router_table_wanted() says
	 * none) would publish events again */
	if ((row->op == CH_UPDATE && !oc->publish_updates) ||
	    (row->op == CH_DELETE && !oc->publish_deletes) || row->op == CH_READ)
		return ROUTE_SKIP;
	im = row->after ? row->after : row->before;
	for (int k = 0; k < 5; k++) {
		int c = p->outbox_col[k];

		if (c < 0 || im->state[c] != CH_VALUE) {
			snprintf(err, errlen,
				 "outbox %s: table %s.%s column '%s' is %s in the row of GTID %s",
				 oc->name, ob->db, ob->table, names[k],
				 c < 0 ? "not in the table" :
				 im->state[c] == CH_NULL ? "NULL" : "not logged",
				 trx->gtid[0] ? trx->gtid : file);
			return ROUTE_ERROR;
		}
	}
	/* the event id is the message id */
	buf_reset(&e->id);
	plain_value(row, p->outbox_col[0], &e->id);
	e->routed_topic = 1;
	if (!render(r, &ob->topic, trx, &p->shadow, row, e, p->outbox_col, r->escape, &e->topic,
		    why, sizeof(why))) {
		snprintf(err, errlen, "outbox %s: topic: %s", oc->name, why);
		return ROUTE_ERROR;
	}
	/* the payload as is: JSON text, or a string's characters */
	buf_reset(&e->payload);
	{
		int c = p->outbox_col[4];
		const char *s = im->text.data + im->off[c];

		if (s[0] == '"') {
			/* a JSON string column: its characters, unescaped by the
			 * JSON parser (the outbox path, not every row's); one with
			 * a NUL, which a C string cannot hold, by plain_value() */
			cJSON *js = NULL;

			if (!memmem(s, im->len[c], "\\u0000", 6))
				js = cJSON_ParseWithLength(s, im->len[c]);
			if (cJSON_IsString(js)) {
				buf_puts(&e->payload, js->valuestring);
			} else {
				plain_value(row, c, &r->val);
				buf_append(&e->payload, r->val.data, r->val.len);
			}
			cJSON_Delete(js);
		} else {
			buf_append(&e->payload, s, im->len[c]);
		}
	}
	plain_value(row, p->outbox_col[2], &r->val);
	headers_add(e, "key", r->val.data, r->val.len);
	plain_value(row, p->outbox_col[1], &r->val);
	headers_add(e, "aggregate_type", r->val.data, r->val.len);
	plain_value(row, p->outbox_col[3], &r->val);
	headers_add(e, "event_type", r->val.data, r->val.len);
	for (int k = 0; k < p->nhdr; k++)
		if (plain_value(row, p->hdr_col[k], &r->val))
			headers_add(e, ob->headers.g[k], r->val.data, r->val.len);
	return ROUTE_PUBLISH;
}

/* CloudEvents binary mode: the attributes as headers (MQTT 5 user
 * properties, AMQP headers); the payload is the event data. */
static void cloudevents_headers(struct router *r, uint64_t ts_ms, const char *db,
				const char *table, const char *what, struct q_entry *e)
{
	char t[64], type[600], subject[600];
	time_t sec = (time_t)(ts_ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof(t) - n, ".%03uZ", (unsigned)(ts_ms % 1000));
	if (r->env.event_type)
		snprintf(type, sizeof(type), "%s", r->env.event_type);
	else
		snprintf(type, sizeof(type), "rowcast.%s.%s.%s", db, table, what);
	snprintf(subject, sizeof(subject), "%s.%s", db, table);
	headers_add(e, "specversion", "1.0", 3);
	headers_add(e, "id", e->id.data, e->id.len);
	headers_add(e, "source", r->cfg->rt_source_uri, strlen(r->cfg->rt_source_uri));
	headers_add(e, "type", type, strlen(type));
	headers_add(e, "subject", subject, strlen(subject));
	headers_add(e, "time", t, strlen(t));
	headers_add(e, "datacontenttype", "application/json", 16);
}

/* The message id of the row's message m: the native id, and for the
 * second message on (or any from a script) "/m" after it. */
static void message_id(struct q_entry *e, const struct ch_trx *trx, const struct ch_row *row,
		       uint32_t m, bool numbered)
{
	buf_reset(&e->id);
	native_event_id(&e->id, trx, row->index);
	if (numbered || m > 0) {
		buf_putc(&e->id, '/');
		buf_put_u64(&e->id, m);
	}
}

/* The rows as the route shows them: kept columns, new names. */
static void route_view(struct table_plan *q, const struct ch_row *in, struct ch_row *view)
{
	*view = *in;
	view->table = &q->shadow;
	for (int k = 0; k < 2; k++) {
		const struct ch_image *src = k ? in->after : in->before;

		if (!src)
			continue;
		q->img[k] = *src;
		for (uint32_t i = 0; i < q->shadow.ncols; i++)
			q->state[k][i] = q->keep[i] ? src->state[i] : CH_ABSENT;
		q->img[k].state = q->state[k];
		if (k)
			view->after = &q->img[1];
		else
			view->before = &q->img[0];
	}
}

/* e's topic: the route's template rendered for the row, else (no route, or
 * a route without a topic) the table's default topic, made once per plan. */
static bool set_topic(struct router *r, struct table_plan *q, const struct ch_trx *trx,
		      const struct ch_row *row, const struct ch_row *view, struct q_entry *e,
		      char *err, size_t errlen)
{
	const struct route *rt = q->route;
	char why[300];

	if (rt && rt->topic.n) {
		if (!render(r, &rt->topic, trx, row->table, view, e, NULL, r->escape, &e->topic, why,
			    sizeof(why))) {
			snprintf(err, errlen, "route %s: topic: %s", rt->cfg->name, why);
			return false;
		}
		return true;
	}
	if (!q->topic.len)
		native_topic(&q->topic, r->prefix, row->table->db, row->table->name);
	buf_reset(&e->topic);
	buf_append(&e->topic, q->topic.data, q->topic.len);
	return true;
}

/* One message of a route (or of no route) made from the row by the
 * envelope and the templates. */
static enum route_result format_row(struct router *r, struct table_plan *q,
				    const struct ch_trx *trx, const char *file, uint64_t offset,
				    const struct ch_row *row, const struct ch_row *in,
				    struct q_entry *e, uint32_t m, char *err, size_t errlen)
{
	const struct route *rt = q->route;
	struct ch_row view;
	bool binary_ce;
	char why[300];

	route_view(q, in, &view);
	message_id(e, trx, row, m, false);
	e->routed_topic = rt && rt->topic.n;
	if (!set_topic(r, q, trx, row, &view, e, err, errlen))
		return ROUTE_ERROR;
	{
		int k = rt ? rt->envelope : r->cfg->rt_envelope;

		binary_ce = k == ENV_CLOUDEVENTS_BINARY;
		r->env.kind = binary_ce ? ENV_NATIVE : (enum envelope_kind)k;
	}
	r->env.event_type = NULL;
	if (rt && rt->event_type.n) {
		if (!render(r, &rt->event_type, trx, row->table, &view, e, NULL, false, &r->scratch,
			    why, sizeof(why))) {
			snprintf(err, errlen, "route %s: event_type: %s", rt->cfg->name, why);
			return ROUTE_ERROR;
		}
		headers_add(e, "event_type", r->scratch.data, r->scratch.len);
		r->env.event_type = e->headers.data + e->headers.len - r->scratch.len - 1;
	}
	if (r->escape && e->topic.len > 65535) {
		/* MQTT topics are 16-bit length-prefixed strings */
		snprintf(err, errlen, "the topic for %s.%s is %zu bytes, over MQTT's 65535",
			 row->table->db, row->table->name, e->topic.len);
		return ROUTE_ERROR;
	}
	e->op = (uint8_t)view.op;
	envelope_format(&e->payload, &r->env, trx, file, offset, &view);
	if (binary_ce)
		cloudevents_headers(r, trx->ts_ms, row->table->db, row->table->name,
				    ch_op_names[row->op], e);
	if (r->env.event_type && r->env.kind == ENV_NATIVE && e->payload.len > 1) {
		/* the native message names the event type too */
		e->payload.len--;
		buf_puts(&e->payload, ",\"event_type\":");
		buf_json_str(&e->payload, r->env.event_type, strlen(r->env.event_type), NULL);
		buf_putc(&e->payload, '}');
	}
	if (rt && rt->key.n) {
		if (!render(r, &rt->key, trx, row->table, &view, e, NULL, false, &r->scratch, why,
			    sizeof(why))) {
			snprintf(err, errlen, "route %s: key: %s", rt->cfg->name, why);
			return ROUTE_ERROR;
		}
		headers_add(e, "key", r->scratch.data, r->scratch.len);
	}
	return ROUTE_PUBLISH;
}

/* The value of a column for a condition: the row's own images. */
static enum expr_state when_value(const void *ctx, enum expr_side side, int32_t idx,
				  const char **text, size_t *len)
{
	const struct ch_row *row = ctx;
	const struct ch_image *im = side == EXPR_AFTER ? row->after : row->before;

	if (!im || im->state[idx] == CH_ABSENT)
		return EXPR_ABSENT;
	if (im->state[idx] == CH_NULL)
		return EXPR_NULL;
	*text = im->text.data + im->off[idx];
	*len = im->len[idx];
	return EXPR_VALUE;
}

static bool when_match(const struct expr *w, const int32_t *cols, const struct ch_row *row)
{
	struct expr_env env;

	_Static_assert((int)EXPR_INSERT == (int)CH_INSERT && (int)EXPR_UPDATE == (int)CH_UPDATE &&
		       (int)EXPR_DELETE == (int)CH_DELETE && (int)EXPR_READ == (int)CH_READ &&
		       (int)EXPR_NOPS == CH_ROW_OPS, "operations differ");
	env.op = (enum expr_op)row->op;
	env.db = row->table->db;
	env.db_len = strlen(row->table->db);
	env.table = row->table->name;
	env.table_len = strlen(row->table->name);
	env.cols = cols;
	env.value = when_value;
	env.ctx = row;
	return expr_match(w, &env);
}

/* Hands entries out and in for one row's messages: an entry is handed
 * over only when the next one is needed or the row is done, so the last
 * message of the row is known. */
struct emitter {
	const struct route_out *out;	/* the caller's callbacks */
	struct q_entry *pending;	/* filled, not handed over */
	uint32_t n;			/* messages made for the row */
};

static struct q_entry *emit_next(struct emitter *em)
{
	struct q_entry *e;

	if (em->pending) {
		em->out->push(em->out->ctx, em->pending, false);
		em->pending = NULL;
	}
	e = em->out->next(em->out->ctx);
	if (e)
		entry_reset(e);
	return e;
}

/* A script route: each message the script returns. */
static enum route_result script_rows(struct router *r, struct table_plan *q,
				     const struct ch_trx *trx, const struct ch_row *row,
				     const struct ch_row *in, struct emitter *em, char *err,
				     size_t errlen)
{
	const struct route *rt = q->route;
	const struct script_msg *msgs;
	struct ch_row view;
	char why[600];
	size_t n;

	route_view(q, in, &view);
	script_row_fill(&r->srow, trx, &view);
	if (script_run(rt->script, &r->srow.change, &msgs, &n, why, sizeof(why)) != SCRIPT_OK) {
		buf_reset(&r->scratch);
		native_event_id(&r->scratch, trx, row->index);
		snprintf(err, errlen, "route %s: row %s: script %s", rt->cfg->name, r->scratch.data,
			 why);
		return ROUTE_ERROR;
	}
	for (size_t i = 0; i < n; i++) {
		const struct script_msg *sm = &msgs[i];
		struct q_entry *e = emit_next(em);

		if (!e)
			return ROUTE_SKIP;	/* closing */
		message_id(e, trx, row, em->n, true);
		e->op = (uint8_t)view.op;
		e->routed_topic = sm->topic || rt->topic.n;
		if (sm->topic) {
			buf_reset(&e->topic);
			buf_append(&e->topic, sm->topic, sm->topic_len);
		} else if (!set_topic(r, q, trx, row, &view, e, err, errlen)) {
			return ROUTE_ERROR;
		}
		if (sm->key) {
			headers_add(e, "key", sm->key, sm->key_len);
		} else if (rt->key.n) {
			if (!render(r, &rt->key, trx, row->table, &view, e, NULL, false, &r->scratch,
				    why, sizeof(why))) {
				snprintf(err, errlen, "route %s: key: %s", rt->cfg->name, why);
				return ROUTE_ERROR;
			}
			headers_add(e, "key", r->scratch.data, r->scratch.len);
		}
		for (size_t h = 0; h < sm->nheaders; h++) {
			buf_append(&e->headers, sm->headers[h].name, sm->headers[h].name_len);
			buf_putc(&e->headers, '\0');
			buf_append(&e->headers, sm->headers[h].value, sm->headers[h].value_len);
			buf_putc(&e->headers, '\0');
			e->nheaders++;
		}
		buf_reset(&e->payload);
		buf_append(&e->payload, sm->payload, sm->payload_len);
		em->pending = e;
		em->n++;
	}
	return ROUTE_PUBLISH;
}

enum route_result router_row(struct router *r, struct table_plan *p, const struct ch_trx *trx,
			     const char *file, uint64_t offset, const struct ch_row *row,
			     const struct route_out *out, char *err, size_t errlen)
{
	struct emitter em = { out, NULL, 0 };
	struct ch_row in = *row;
	bool taken = false;
	enum route_result res;
	struct q_entry *e;
	char why[700];

	if (p->outbox) {
		if (p->outbox->when && !when_match(p->outbox->when, p->when_cols, row))
			return ROUTE_SKIP;
		if (!(e = emit_next(&em)))
			return ROUTE_SKIP;
		buf_reset(&e->id);
		native_event_id(&e->id, trx, row->index);
		e->op = (uint8_t)row->op;
		res = outbox_row(r, p, trx, file, row, e, why, sizeof(why));
		if (res == ROUTE_ERROR && !out->fail(out->ctx, why)) {
			snprintf(err, errlen, "%s", why);
			return ROUTE_ERROR;
		}
		if (res != ROUTE_PUBLISH)
			return ROUTE_SKIP;
		out->push(out->ctx, e, true);
		return ROUTE_PUBLISH;
	}
	if (p->row_end >= 0) {
		/* system versioning: an old version inserted into history (or
		 * read from it) is not a row, and a current row moved to history
		 * is a delete */
		if ((row->op == CH_INSERT || row->op == CH_READ) &&
		    !row_is_current(row->after, p->row_end))
			return ROUTE_SKIP;
		if (row->op == CH_UPDATE && row_is_current(row->before, p->row_end) &&
		    !row_is_current(row->after, p->row_end)) {
			in.op = CH_DELETE;
			in.after = NULL;
		}
	}
	if (p->skip || !(r->ops & (1u << in.op)))
		return ROUTE_SKIP;

	/* routes in file order: the first that takes the row publishes it;
	 * one with continue = true lets the next ones try too */
	for (struct table_plan *q = p; q && !q->skip; q = q->next) {
		const struct route *rt = q->route;

		if (!rt && taken)
			break;
		if (rt && rt->when) {
			/* a condition that refuses the row passes it on */
			if (!(rt->ops & (1u << in.op)) || !when_match(rt->when, q->when_cols, &in))
				continue;
		} else if (rt && !(rt->ops & (1u << in.op))) {
			break;		/* the route takes the row, its ops drop it */
		}
		taken = true;
		if (rt && rt->drop)
			break;
		if (rt && rt->script) {
			res = script_rows(r, q, trx, row, &in, &em, why, sizeof(why));
		} else {
			if (!(e = emit_next(&em)))
				return ROUTE_SKIP;	/* closing */
			res = format_row(r, q, trx, file, offset, row, &in, e, em.n, why,
					 sizeof(why));
			if (res == ROUTE_PUBLISH) {
				em.pending = e;
				em.n++;
			}
		}
		if (res == ROUTE_ERROR && !out->fail(out->ctx, why)) {
			snprintf(err, errlen, "%s", why);
			return ROUTE_ERROR;	/* stop before it: nothing more is handed over */
		}
		if (!rt || !rt->cfg->cont)
			break;
	}
	if (!em.pending)
		return ROUTE_SKIP;
	out->push(out->ctx, em.pending, true);
	return ROUTE_PUBLISH;
}

/* The first route whose match names db.table (conditions aside): the one
 * whose topic and envelope a message of the whole table takes. */
static const struct route *table_route(const struct router *r, const char *db,
				       const char *table)
{
	char name[520];

	snprintf(name, sizeof(name), "%s.%s", db, table);
	for (int i = 0; i < r->nroutes; i++)
		if (globs_match(&r->routes[i].match, name))
			return &r->routes[i];
	return NULL;
}

/* Does the template need a row's values ({pk}, {col:..}, outbox columns)? */
static bool tpl_uses_row(const struct tpl *t)
{
	for (int i = 0; i < t->n; i++)
		if (t->p[i].kind == TP_PK || t->p[i].kind == TP_COL || t->p[i].kind == TP_AGG_TYPE ||
		    t->p[i].kind == TP_AGG_ID || t->p[i].kind == TP_TYPE)
			return true;
	return false;
}

/*
 * e's topic for a message of a whole table (a truncate, a drop, a
 * snapshot marker): the template of its route rt, with {op} the op given
 * (-1: empty), when it needs no row values; else the table's default topic.
 */
static void table_topic(struct router *r, const struct ch_trx *trx, const struct route *rt,
			const char *db, const char *table, int op, struct q_entry *e)
{
	struct ch_table t = { 0 };
	struct ch_row row = { 0 };
	char err[64];

	t.db = db;
	t.name = table;
	row.table = &t;
	row.op = (enum ch_op)op;
	e->routed_topic = rt && rt->topic.n && !tpl_uses_row(&rt->topic) &&
			  render(r, &rt->topic, trx, &t, op >= 0 ? &row : NULL, NULL, NULL, r->escape,
				 &e->topic, err, sizeof(err));
	if (!e->routed_topic)
		native_topic(&e->topic, r->prefix, db, table);
}

bool router_markers(const struct router *r)
{
	return r->cfg->rt_markers;
}

void router_marker_begin(struct router *r, const struct ch_trx *trx, struct q_entry *e)
{
	char err[64];

	r->ncnt = 0;
	r->trx_events = 0;
	entry_reset(e);
	render(r, &r->markers_topic, trx, NULL, NULL, NULL, NULL, true, &e->topic, err, sizeof(err));
	buf_reset(&e->id);
	buf_puts(&e->id, trx->gtid);
	buf_puts(&e->id, "@BEGIN");
	buf_reset(&e->payload);
	buf_printf(&e->payload, "{\"id\":\"%s\",\"marker\":\"BEGIN\",\"gtid\":\"%s\",\"ts\":%llu}",
		   e->id.data, trx->gtid, (unsigned long long)trx->ts_ms);
}

void router_marker_count(struct router *r, const char *db, const char *table)
{
	char name[520];
	int i;

	snprintf(name, sizeof(name), "%s.%s", db, table);
	r->trx_events++;
	for (i = 0; i < r->ncnt && strcmp(r->cnt_name[i], name); i++)
		;
	if (i == r->ncnt) {
		if (r->ncnt == r->capcnt) {
			r->capcnt = r->capcnt ? r->capcnt * 2 : 8;
			r->cnt_name = realloc(r->cnt_name, (size_t)r->capcnt * sizeof(*r->cnt_name));
			r->cnt = realloc(r->cnt, (size_t)r->capcnt * sizeof(*r->cnt));
			if (!r->cnt_name || !r->cnt)
				log_oom();
		}
		snprintf(r->cnt_name[i], sizeof(r->cnt_name[i]), "%s", name);
		r->cnt[i] = 0;
		r->ncnt++;
	}
	r->cnt[i]++;
}

void router_marker_end(struct router *r, const struct ch_trx *trx, struct q_entry *e)
{
	char err[64];

	entry_reset(e);
	render(r, &r->markers_topic, trx, NULL, NULL, NULL, NULL, true, &e->topic, err, sizeof(err));
	buf_reset(&e->id);
	buf_puts(&e->id, trx->gtid);
	buf_puts(&e->id, "@END");
	buf_reset(&e->payload);
	buf_printf(&e->payload, "{\"id\":\"%s\",\"marker\":\"END\",\"gtid\":\"%s\",\"ts\":%llu,"
		   "\"events\":%llu,\"tables\":{", e->id.data, trx->gtid,
		   (unsigned long long)trx->ts_ms, (unsigned long long)r->trx_events);
	for (int i = 0; i < r->ncnt; i++) {
		if (i)
			buf_putc(&e->payload, ',');
		buf_json_str(&e->payload, r->cnt_name[i], strlen(r->cnt_name[i]), NULL);
		buf_printf(&e->payload, ":%llu", (unsigned long long)r->cnt[i]);
	}
	buf_puts(&e->payload, "}}");
	r->ncnt = 0;
	r->trx_events = 0;
}

bool router_snapshot_marker(struct router *r, const struct ch_trx *trx, bool end, uint64_t rows,
			    struct q_entry *e)
{
	const struct ch_snap *s = trx->snap;
	const struct route *rt = table_route(r, s->db, s->table);
	int kind = rt ? rt->envelope : r->cfg->rt_envelope;

	/* the envelope of the table's route, as its rows get */
	r->env.kind = kind == ENV_CLOUDEVENTS_BINARY ? ENV_NATIVE : (enum envelope_kind)kind;
	r->env.event_type = NULL;
	buf_reset(&e->id);
	native_snapshot_marker_id(&e->id, s, end);
	if (!envelope_snapshot_marker(&e->payload, &r->env, trx, end, rows, e->id.data))
		return false;
	entry_reset(e);
	/* the topic of the table's read rows, so the markers frame them */
	table_topic(r, trx, rt, s->db, s->table, CH_READ, e);
	if (kind == ENV_CLOUDEVENTS_BINARY)
		cloudevents_headers(r, trx->ts_ms, s->db, s->table,
				    end ? "snapshot-complete" : "snapshot-start", e);
	e->op = CH_MARKER;
	buf_strcpy(e->db, sizeof(e->db), s->db);
	buf_strcpy(e->table, sizeof(e->table), s->table);
	return true;
}

/* ---- DDL ---------------------------------------------------------------- */

/* Next SQL word or identifier (backquotes removed) from *q; false at the end. */
static bool next_word(const char **q, const char *end, char *out, size_t outlen)
{
	const char *p = *q;
	size_t n = 0;

	while (p < end && (isspace((unsigned char)*p) || *p == ','))
		p++;
	if (p >= end)
		return false;
	if (*p == '`') {
		p++;
		while (p < end && *p != '`') {
			if (n + 1 < outlen)
				out[n++] = *p;
			p++;
		}
		p++;
	} else {
		while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '$' ||
				   (unsigned char)*p >= 0x80)) {
			if (n + 1 < outlen)
				out[n++] = *p;
			p++;
		}
		if (n == 0) {
			if (n + 1 < outlen)
				out[n++] = *p;
			p++;
		}
	}
	out[n] = '\0';
	*q = p;
	return true;
}

/* A possibly qualified table name: db.table or table. */
static bool next_table(const char **q, const char *end, const char *defdb, char *db,
		       char *table, size_t len)
{
	if (!next_word(q, end, table, len))
		return false;
	if (*q < end && **q == '.') {
		(*q)++;
		snprintf(db, len, "%s", table);
		return next_word(q, end, table, len);
	}
	snprintf(db, len, "%s", defdb ? defdb : "");
	return true;
}

static bool table_message(struct router *r, const struct ch_trx *trx, const char *db,
			  const char *table, const char *op, int n,
			  bool (*emit)(void *, struct q_entry **), void *ctx)
{
	struct q_entry *e;
	char name[520];

	snprintf(name, sizeof(name), "%s.%s", db, table);
	if ((r->include.n && !globs_match(&r->include, name)) || globs_match(&r->exclude, name))
		return true;
	if (!emit(ctx, &e))
		return false;
	entry_reset(e);
	table_topic(r, trx, table_route(r, db, table), db, table, -1, e);
	buf_reset(&e->id);
	buf_printf(&e->id, "%s@%s%d", trx->gtid, op, n);
	buf_reset(&e->payload);
	buf_puts(&e->payload, "{\"id\":");
	buf_json_str(&e->payload, e->id.data, e->id.len, NULL);
	buf_printf(&e->payload, ",\"op\":\"%s\",\"db\":", op);
	buf_json_str(&e->payload, db, strlen(db), NULL);
	buf_puts(&e->payload, ",\"table\":");
	buf_json_str(&e->payload, table, strlen(table), NULL);
	buf_puts(&e->payload, ",\"gtid\":");
	if (trx->gtid[0])
		buf_json_str(&e->payload, trx->gtid, strlen(trx->gtid), NULL);
	else
		buf_puts(&e->payload, "null");
	buf_printf(&e->payload, ",\"ts\":%llu,\"before\":null,\"after\":null}",
		   (unsigned long long)trx->ts_ms);
	snprintf(e->db, sizeof(e->db), "%s", db);
	snprintf(e->table, sizeof(e->table), "%s", table);
	return true;
}

static bool word_eq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool router_ddl(struct router *r, const struct ch_trx *trx, const char *db, const char *query,
		size_t qlen, bool (*emit)(void *ctx, struct q_entry **e), void *ctx)
{
	const char *q = query, *end = query + qlen;
	char w1[64], w2[64], tdb[256], tab[256];
	int n = (int)trx->table_events;

	if (!next_word(&q, end, w1, sizeof(w1)))
		return true;
	/* account statements are never published */
	if (word_eq(w1, "GRANT") || word_eq(w1, "REVOKE"))
		return true;
	{
		const char *save = q;

		if (next_word(&q, end, w2, sizeof(w2)) &&
		    (word_eq(w2, "USER") || word_eq(w2, "ROLE") || word_eq(w2, "PASSWORD")))
			return true;
		q = save;
	}
	if (word_eq(w1, "TRUNCATE")) {
		const char *save = q;

		if (!next_word(&q, end, w2, sizeof(w2)) || !word_eq(w2, "TABLE"))
			q = save;
		if (next_table(&q, end, db, tdb, tab, sizeof(tab)) &&
		    !table_message(r, trx, tdb, tab, "truncate", n++, emit, ctx))
			return false;
	} else if (word_eq(w1, "DROP")) {
		const char *save = q;

		if (next_word(&q, end, w2, sizeof(w2)) && (word_eq(w2, "TEMPORARY")))
			return true;	/* temporary tables are not replicated rows */
		q = save;
		if (next_word(&q, end, w2, sizeof(w2)) && word_eq(w2, "TABLE")) {
			save = q;
			if (next_word(&q, end, w1, sizeof(w1)) && word_eq(w1, "IF") &&
			    next_word(&q, end, w1, sizeof(w1)))
				;	/* IF EXISTS */
			else
				q = save;
			while (next_table(&q, end, db, tdb, tab, sizeof(tab))) {
				if (word_eq(tab, "RESTRICT") || word_eq(tab, "CASCADE") || tab[0] == '/')
					break;
				if (!table_message(r, trx, tdb, tab, "drop", n++, emit, ctx))
					return false;
			}
		}
	} else if (word_eq(w1, "ALTER")) {
		/* ALTER [ONLINE|IGNORE] TABLE t ... TRUNCATE|DROP|EXCHANGE PARTITION */
		while (next_word(&q, end, w2, sizeof(w2)) && !word_eq(w2, "TABLE"))
			;
		if (next_table(&q, end, db, tdb, tab, sizeof(tab))) {
			char prev[64] = "";

			while (next_word(&q, end, w2, sizeof(w2))) {
				if (word_eq(w2, "PARTITION") &&
				    (word_eq(prev, "TRUNCATE") || word_eq(prev, "DROP") ||
				     word_eq(prev, "EXCHANGE"))) {
					if (!table_message(r, trx, tdb, tab,
							   word_eq(prev, "TRUNCATE") ? "truncate" :
							   word_eq(prev, "DROP") ? "drop" : "truncate",
							   n++, emit, ctx))
						return false;
					break;
				}
				snprintf(prev, sizeof(prev), "%s", w2);
			}
		}
	}
	if (r->cfg->rt_ddl) {
		struct q_entry *e;
		char err[64];

		if (!emit(ctx, &e))
			return false;
		entry_reset(e);
		render(r, &r->ddl_topic, trx, NULL, NULL, NULL, NULL, true, &e->topic, err,
		       sizeof(err));
		buf_reset(&e->id);
		buf_printf(&e->id, "%s@ddl", trx->gtid);
		buf_reset(&e->payload);
		buf_puts(&e->payload, "{\"id\":");
		buf_json_str(&e->payload, e->id.data, e->id.len, NULL);
		buf_puts(&e->payload, ",\"op\":\"ddl\",\"db\":");
		buf_json_str(&e->payload, db ? db : "", db ? strlen(db) : 0, NULL);
		buf_puts(&e->payload, ",\"gtid\":");
		if (trx->gtid[0])
			buf_json_str(&e->payload, trx->gtid, strlen(trx->gtid), NULL);
		else
			buf_puts(&e->payload, "null");
		buf_printf(&e->payload, ",\"ts\":%llu", (unsigned long long)trx->ts_ms);
		if (r->cfg->rt_ddl_query) {
			buf_puts(&e->payload, ",\"query\":");
			buf_json_str(&e->payload, query, qlen, NULL);
		}
		buf_putc(&e->payload, '}');
		snprintf(e->db, sizeof(e->db), "%s", db ? db : "");
		e->table[0] = '\0';
	}
	return true;
}
