/* SPDX-License-Identifier: MIT */
/*
 * `rowcast test -c rowcast.conf CASES...`: row changes written as rowcast's
 * native JSON messages (inserts, updates, deletes and a snapshot's reads)
 * go through the config's router (the same code as the daemon's: filters,
 * routes, conditions, scripts, templates, envelopes) and the messages it
 * makes are compared with the ones a case expects.
 *
 * A case file holds JSON values, one a line or as one JSON array: a case
 * {"change": NATIVE, "expect": [MESSAGE, ...], "pk": ["col", ...]}, or a
 * bare native message (a captured stdout stream), whose messages are only
 * printed.  An expected MESSAGE has "payload" (a JSON value compared as
 * JSON, or a string compared as text) and, when given, "topic", "key",
 * "id" and "headers" (an object of the headers that must be there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "app/cli.h"
#include "base/buf.h"
#include "base/log.h"
#include "change/change.h"
#include "change/queue.h"
#include "config/config.h"
#include "route/router.h"

#define MAX_MSGS 64	/* messages one row change may make here */

/* The messages router_row() made for one change. */
struct made {
	struct q_entry e[MAX_MSGS];	/* filled entries */
	int n;				/* handed over */
	char fails[4096];		/* unpublishable messages, a line each */
};

static struct q_entry *made_next(void *ctx)
{
	struct made *m = ctx;

	return m->n < MAX_MSGS ? &m->e[m->n] : NULL;
}

static void made_push(void *ctx, struct q_entry *e, bool last)
{
	struct made *m = ctx;

	(void)e;
	(void)last;
	m->n++;
}

static bool made_fail(void *ctx, const char *why)
{
	struct made *m = ctx;
	size_t l = strlen(m->fails);

	/* as on_unpublishable = skip: noted, and the next routes go on */
	snprintf(m->fails + l, sizeof(m->fails) - l, "unpublishable: %s\n", why);
	return true;
}

/* A JSON number as an unsigned integer; 0 when it is none. */
static uint64_t json_u64(const cJSON *j)
{
	return cJSON_IsNumber(j) && j->valuedouble >= 0 ? (uint64_t)j->valuedouble : 0;
}

/* End of the JSON value at p (within end), or NULL: strings, nesting. */
static const char *value_end(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		char c = *p;

		if (c == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return NULL;
			p++;
		} else if (c == '{' || c == '[') {
			depth++;
			p++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return p;
			depth--;
			p++;
		} else if (c == ',' && depth == 0) {
			return p;
		} else {
			p++;
		}
		if (depth == 0 && (c == '"' || c == '}' || c == ']'))
			return p;
	}
	return depth == 0 ? p : NULL;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* A row image from the text of a JSON object: its keys become columns of t
 * (added in order of first appearance), its value texts are kept exactly
 * as written (big integers and all). */
struct cols {
	char *name[1024];	/* column names */
	uint32_t n;
};

static bool image_from(const char *p, const char *end, struct cols *c, struct rc_buf *vals,
		       uint32_t *which, uint32_t *off, uint32_t *len, uint32_t *nvals)
{
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return false;
	p = skip_ws(p + 1, end);
	*nvals = 0;
	while (p < end && *p != '}') {
		const char *ke = value_end(p, end), *v, *ve;
		cJSON *k;
		uint32_t i;

		if (*p != '"' || !ke)
			return false;
		k = cJSON_ParseWithLength(p, (size_t)(ke - p));
		if (!cJSON_IsString(k)) {
			cJSON_Delete(k);
			return false;
		}
		for (i = 0; i < c->n && strcmp(c->name[i], k->valuestring); i++)
			;
		if (i == c->n) {
			if (c->n == 1024) {
				cJSON_Delete(k);
				return false;
			}
			c->name[c->n++] = strdup(k->valuestring);
		}
		cJSON_Delete(k);
		p = skip_ws(ke, end);
		if (p >= end || *p != ':')
			return false;
		v = skip_ws(p + 1, end);
		ve = value_end(v, end);
		if (!ve || ve == v || *nvals == 1024)
			return false;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\n'))
			ve--;
		which[*nvals] = i;
		off[*nvals] = (uint32_t)vals->len;
		len[*nvals] = (uint32_t)(ve - v);
		buf_append(vals, v, (size_t)(ve - v));
		(*nvals)++;
		p = skip_ws(value_end(v, end), end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
	}
	return p < end;
}

/* The raw text of member key of the object text (top level), or NULL. */
static const char *member(const char *p, const char *end, const char *key, const char **vend)
{
	size_t kl = strlen(key);

	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return NULL;
	p = skip_ws(p + 1, end);
	while (p < end && *p == '"') {
		const char *ke = value_end(p, end), *v;
		bool hit = ke && (size_t)(ke - p) == kl + 2 && !memcmp(p + 1, key, kl);

		if (!ke)
			return NULL;
		p = skip_ws(ke, end);
		if (p >= end || *p != ':')
			return NULL;
		v = skip_ws(p + 1, end);
		*vend = value_end(v, end);
		if (!*vend)
			return NULL;
		if (hit)
			return v;
		p = skip_ws(*vend, end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
	}
	return NULL;
}

/* The canonical lines of a message for the diff; fields the expectation
 * leaves out are left out of the actual message's lines too. */
static void msg_lines(struct rc_buf *out, const char *topic, const char *key, const char *id,
		      const cJSON *headers, const char *payload)
{
	if (topic)
		buf_printf(out, "  topic: %s\n", topic);
	if (key)
		buf_printf(out, "  key: %s\n", key);
	if (id)
		buf_printf(out, "  id: %s\n", id);
	if (headers) {
		const cJSON *h;

		cJSON_ArrayForEach(h, headers)
			buf_printf(out, "  header %s: %s\n", h->string,
				   cJSON_IsString(h) ? h->valuestring : "?");
	}
	buf_printf(out, "  payload: %s\n", payload);
}

static int by_key(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	return strcmp(x->string, y->string);
}

/* Objects' members sorted by name, all the way down: JSON equality does
 * not depend on the order of members. */
static void sort_json(cJSON *j)
{
	cJSON **v, *c;
	int n = 0, i = 0;

	for (c = j ? j->child : NULL; c; c = c->next, n++)
		sort_json(c);
	if (!cJSON_IsObject(j) || n < 2)
		return;
	v = malloc((size_t)n * sizeof(*v));
	if (!v)
		log_oom();
	for (c = j->child; c; c = c->next)
		v[i++] = c;
	qsort(v, (size_t)n, sizeof(*v), by_key);
	for (i = 0; i < n; i++) {
		v[i]->prev = i ? v[i - 1] : v[n - 1];	/* cJSON: the head's prev is the tail */
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	}
	j->child = v[0];
	free(v);
}

/* JSON value j as canonical text (members sorted, no spaces); malloc'd. */
static char *canon_json(const cJSON *j)
{
	cJSON *d = cJSON_Duplicate(j, true);
	char *s;

	sort_json(d);
	s = d ? cJSON_PrintUnformatted(d) : NULL;
	cJSON_Delete(d);
	return s;
}

/* A payload as canonical text: JSON with sorted members (a JSON text made
 * by the router is reparsed, so neither spacing nor member order matters),
 * else the text. */
static void canon(struct rc_buf *out, const cJSON *want_json, const char *text, size_t len)
{
	buf_reset(out);
	if (want_json) {
		cJSON *j = cJSON_ParseWithLength(text, len);
		char *s = j ? canon_json(j) : NULL;

		if (s)
			buf_puts(out, s);
		else
			buf_append(out, text, len);
		free(s);
		cJSON_Delete(j);
		return;
	}
	buf_append(out, text, len);
}

/* Print lines of a and b as a unified-style diff (LCS over lines). */
static void diff(const char *a, const char *b)
{
	const char *la[256], *lb[256];
	int na = 0, nb = 0;
	static short L[257][257];

	for (const char *p = a; *p && na < 256; p = strchr(p, '\n') + 1)
		la[na++] = p;
	for (const char *p = b; *p && nb < 256; p = strchr(p, '\n') + 1)
		lb[nb++] = p;
#define LLEN(s) ((size_t)(strchr((s), '\n') - (s)))
#define LEQ(x, y) (LLEN(x) == LLEN(y) && !memcmp((x), (y), LLEN(x)))
	for (int i = na; i >= 0; i--)
		for (int j = nb; j >= 0; j--)
			L[i][j] = (short)(i == na || j == nb ? 0 :
				  LEQ(la[i], lb[j]) ? L[i + 1][j + 1] + 1 :
				  L[i + 1][j] > L[i][j + 1] ? L[i + 1][j] : L[i][j + 1]);
	printf("--- expected\n+++ got\n");
	for (int i = 0, j = 0; i < na || j < nb;) {
		if (i < na && j < nb && LEQ(la[i], lb[j])) {
			printf(" %.*s\n", (int)LLEN(la[i]), la[i]);
			i++;
			j++;
		} else if (i < na && (j == nb || L[i + 1][j] >= L[i][j + 1])) {
			printf("-%.*s\n", (int)LLEN(la[i]), la[i]);
			i++;
		} else {
			printf("+%.*s\n", (int)LLEN(lb[j]), lb[j]);
			j++;
		}
	}
#undef LEQ
#undef LLEN
}

/* Run one case (text of the change, the expectation or NULL); returns
 * 0 pass, 1 differs, 2 bad case. */
static int run_case(struct router *r, const char *where, const char *ct, const char *cend,
		    const cJSON *expect, const cJSON *pk)
{
	struct cols c = { .n = 0 };
	struct rc_buf vals[2] = { { 0 }, { 0 } }, want = { 0 }, got = { 0 }, tmp = { 0 };
	uint32_t which[2][1024], off[2][1024], len[2][1024], nv[2] = { 0, 0 };
	bool has[2] = { false, false };
	struct ch_image im[2];
	struct ch_table t;
	struct ch_trx trx;
	struct ch_row row;
	struct ch_column *cols = NULL;
	uint32_t pkidx[64], npk = 0;
	struct made *m = calloc(1, sizeof(*m));
	struct route_out out = { made_next, made_push, made_fail, m };
	struct table_plan *plan = NULL;
	cJSON *ch = cJSON_ParseWithLength(ct, (size_t)(cend - ct));
	const cJSON *id, *op, *db, *tab, *gtid, *ts, *snapshot;
	struct ch_snap snap;
	char err[700], *db_s = NULL, *tab_s = NULL;
	int res = 2, opi;

	memset(im, 0, sizeof(im));
	memset(&t, 0, sizeof(t));
	memset(&trx, 0, sizeof(trx));
	if (!m)
		log_oom();
	id = cJSON_GetObjectItemCaseSensitive(ch, "id");
	op = cJSON_GetObjectItemCaseSensitive(ch, "op");
	db = cJSON_GetObjectItemCaseSensitive(ch, "db");
	tab = cJSON_GetObjectItemCaseSensitive(ch, "table");
	gtid = cJSON_GetObjectItemCaseSensitive(ch, "gtid");
	ts = cJSON_GetObjectItemCaseSensitive(ch, "ts");
	snapshot = cJSON_GetObjectItemCaseSensitive(ch, "snapshot");
	if (!cJSON_IsString(id) || !strchr(id->valuestring, '@') || !cJSON_IsString(op) ||
	    !cJSON_IsString(db) || !cJSON_IsString(tab)) {
		printf("%s: not a native row message (id, op, db, table)\n", where);
		goto out;
	}
	for (opi = 0; opi < CH_ROW_OPS && strcmp(op->valuestring, ch_op_names[opi]); opi++)
		;
	if (opi == CH_ROW_OPS) {
		printf("%s: op '%s' is not insert, update, delete or read\n", where,
		       op->valuestring);
		goto out;
	}
	row.op = (enum ch_op)opi;
	if (cJSON_IsObject(snapshot)) {
		/* a snapshot's row as the native message names its snapshot */
		memset(&snap, 0, sizeof(snap));
		snap.id = json_u64(cJSON_GetObjectItemCaseSensitive(snapshot, "id"));
		snap.on_demand = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(snapshot,
									       "on_demand"));
		snap.chunk = json_u64(cJSON_GetObjectItemCaseSensitive(snapshot, "chunk"));
		snap.db = db->valuestring;
		snap.table = tab->valuestring;
		trx.snap = &snap;
	}
	snprintf(trx.id, sizeof(trx.id), "%.*s",
		 (int)(strrchr(id->valuestring, '@') - id->valuestring), id->valuestring);
	row.index = strtoull(strrchr(id->valuestring, '@') + 1, NULL, 10);
	if (cJSON_IsString(gtid))
		snprintf(trx.gtid, sizeof(trx.gtid), "%s", gtid->valuestring);
	trx.ts_ms = cJSON_IsNumber(ts) ? (uint64_t)ts->valuedouble : 0;
	trx.nrows = row.index + 1;
	for (int k = 0; k < 2; k++) {
		const char *ve, *v = member(ct, cend, k ? "after" : "before", &ve);

		if (!v || !strncmp(v, "null", 4))
			continue;
		if (!k && row.op == CH_READ) {
			printf("%s: a read row has no \"before\"\n", where);
			goto out;
		}
		has[k] = true;
		if (!image_from(v, ve, &c, &vals[k], which[k], off[k], len[k], &nv[k])) {
			printf("%s: \"%s\" is not an object of columns\n", where,
			       k ? "after" : "before");
			goto out;
		}
	}
	cols = calloc(c.n + 1, sizeof(*cols));
	if (!cols)
		log_oom();
	for (uint32_t i = 0; i < c.n; i++) {
		cols[i].name = c.name[i];
		cols[i].name_len = (uint32_t)strlen(c.name[i]);
		cols[i].type = CT_OTHER;
		cols[i].nullable = true;
		cols[i].native_type = "";
		if (pk ? false : !strcmp(c.name[i], "id") && npk < 64)
			pkidx[npk++] = i;
	}
	if (pk) {
		const cJSON *n;

		cJSON_ArrayForEach(n, pk)
			for (uint32_t i = 0; i < c.n && npk < 64; i++)
				if (cJSON_IsString(n) && !strcmp(c.name[i], n->valuestring))
					pkidx[npk++] = i;
	}
	t.db = db_s = strdup(db->valuestring);
	t.name = tab_s = strdup(tab->valuestring);
	t.cols = cols;
	t.ncols = c.n;
	t.names_known = true;
	t.pk = pkidx;
	t.npk = npk;
	for (int k = 0; k < 2; k++) {
		if (!has[k])
			continue;
		ch_image_fit(&im[k], c.n ? c.n : 1);
		memset(im[k].state, CH_ABSENT, c.n);
		buf_append(&im[k].text, vals[k].data ? vals[k].data : "", vals[k].len);
		for (uint32_t i = 0; i < nv[k]; i++) {
			uint32_t col = which[k][i];
			bool null = len[k][i] == 4 && !memcmp(vals[k].data + off[k][i], "null", 4);

			im[k].state[col] = null ? CH_NULL : CH_VALUE;
			im[k].off[col] = off[k][i];
			im[k].len[col] = len[k][i];
		}
	}
	row.table = &t;
	row.before = has[0] ? &im[0] : NULL;
	row.after = has[1] ? &im[1] : NULL;
	plan = router_plan(r, &t);
	if (router_row(r, plan, &trx, "", 0, &row, &out, err, sizeof(err)) == ROUTE_ERROR) {
		printf("%s: %s\n", where, err);
		goto out;
	}
	/* the lines of what was expected, and of what was made, alike */
	res = 0;
	if (!expect) {
		for (int i = 0; i < m->n; i++)
			printf("%.*s\t%s\t%.*s\n", (int)m->e[i].topic.len, m->e[i].topic.data,
			       m->e[i].id.data, (int)m->e[i].payload.len, m->e[i].payload.data);
		fputs(m->fails, stdout);
		goto out;
	}
	{
		int ne = cJSON_GetArraySize(expect);

		for (int i = 0; i < ne || i < m->n; i++) {
			const cJSON *x = i < ne ? cJSON_GetArrayItem(expect, i) : NULL;
			const cJSON *xt = cJSON_GetObjectItemCaseSensitive(x, "topic");
			const cJSON *xk = cJSON_GetObjectItemCaseSensitive(x, "key");
			const cJSON *xi = cJSON_GetObjectItemCaseSensitive(x, "id");
			const cJSON *xh = cJSON_GetObjectItemCaseSensitive(x, "headers");
			const cJSON *xp = cJSON_GetObjectItemCaseSensitive(x, "payload");
			bool json = xp && !cJSON_IsString(xp);
			char *ps = NULL;

			if (x) {
				buf_printf(&want, "message %d\n", i);
				if (xp)
					ps = json ? canon_json(xp) : NULL;
				msg_lines(&want, cJSON_GetStringValue(xt), cJSON_GetStringValue(xk),
					  cJSON_GetStringValue(xi), xh,
					  ps ? ps : xp ? cJSON_GetStringValue(xp) : "(none)");
				free(ps);
			}
			if (i < m->n) {
				const struct q_entry *e = &m->e[i];
				cJSON *gh = NULL;
				const cJSON *h;
				const char *k = queue_header(e, "key");

				if (xh) {
					gh = cJSON_CreateObject();
					cJSON_ArrayForEach(h, xh) {
						const char *v = queue_header(e, h->string);

						cJSON_AddStringToObject(gh, h->string,
									v ? v : "(absent)");
					}
				}
				canon(&tmp, json ? xp : NULL, e->payload.data, e->payload.len);
				buf_printf(&got, "message %d\n", i);
				msg_lines(&got, !x || xt ? e->topic.data : NULL,
					  !x || xk ? (k ? k : "(none)") : NULL,
					  !x || xi ? e->id.data : NULL, gh, tmp.data ? tmp.data : "");
				cJSON_Delete(gh);
			}
		}
		if (m->fails[0]) {
			buf_puts(&got, m->fails);
		}
	}
	if ((want.len != got.len || (want.len && memcmp(want.data, got.data, want.len)))) {
		printf("%s: the messages differ\n", where);
		diff(want.data ? want.data : "", got.data ? got.data : "");
		res = 1;
	}
out:
	router_plan_free(plan);
	for (int k = 0; k < 2; k++) {
		ch_image_free(&im[k]);
		buf_free(&vals[k]);
	}
	if (t.cols)
		ch_table_free_caches(&t);
	for (int i = 0; i < MAX_MSGS; i++) {
		buf_free(&m->e[i].topic);
		buf_free(&m->e[i].payload);
		buf_free(&m->e[i].id);
		buf_free(&m->e[i].headers);
	}
	for (uint32_t i = 0; i < c.n; i++)
		free(c.name[i]);
	free(cols);
	free(db_s);
	free(tab_s);
	free(m);
	buf_free(&want);
	buf_free(&got);
	buf_free(&tmp);
	cJSON_Delete(ch);
	return res;
}

/* One value of a case file: a case object or a bare native message. */
static int one_value(struct router *r, const char *where, const char *p, const char *end,
		     int *ncases, int *nfailed)
{
	const char *ve, *ct = member(p, end, "change", &ve);
	cJSON *whole;
	int res;

	(*ncases)++;
	if (!ct) {
		/* a bare native message: print what it makes */
		res = run_case(r, where, p, end, NULL, NULL);
	} else {
		whole = cJSON_ParseWithLength(p, (size_t)(end - p));
		if (!whole) {
			printf("%s: not JSON\n", where);
			res = 2;
		} else {
			const cJSON *ex = cJSON_GetObjectItemCaseSensitive(whole, "expect");

			if (!cJSON_IsArray(ex)) {
				printf("%s: \"expect\" must be a list of messages\n", where);
				res = 2;
			} else {
				res = run_case(r, where, ct, ve, ex,
					       cJSON_GetObjectItemCaseSensitive(whole, "pk"));
			}
			cJSON_Delete(whole);
		}
	}
	if (res)
		(*nfailed)++;
	return res;
}

int cli_test(struct rc_config *cfg, int argc, char **argv)
{
	char err[1024];
	struct router *r = router_new(cfg, err, sizeof(err));
	int ncases = 0, nfailed = 0, bad = 0;

	if (!r) {
		log_error("%s", err);
		return 78;
	}
	if (argc < 1) {
		fprintf(stderr, "rowcast test: give one case file or more\n");
		router_free(r);
		return 64;
	}
	for (int a = 0; a < argc; a++) {
		FILE *f = fopen(argv[a], "r");
		struct rc_buf text = { 0 };
		char chunk[65536], where[4200];
		size_t n;
		const char *p, *end;

		if (!f) {
			fprintf(stderr, "rowcast test: %s: cannot open it\n", argv[a]);
			bad = 1;
			continue;
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_append(&text, chunk, n);
		fclose(f);
		p = text.data ? text.data : "";
		end = p + text.len;
		p = skip_ws(p, end);
		if (p < end && *p == '[') {
			/* one JSON array of values */
			p = skip_ws(p + 1, end);
			for (int i = 0; p < end && *p != ']'; i++) {
				const char *ve = value_end(p, end);

				if (!ve) {
					printf("%s: value %d: not JSON\n", argv[a], i + 1);
					nfailed++;
					break;
				}
				snprintf(where, sizeof(where), "%s: value %d", argv[a], i + 1);
				one_value(r, where, p, ve, &ncases, &nfailed);
				p = skip_ws(ve, end);
				if (p < end && *p == ',')
					p = skip_ws(p + 1, end);
			}
		} else {
			/* one value a line; blank lines and # comments skipped */
			int line = 0;

			for (p = text.data ? text.data : ""; p < end;) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				const char *le = nl ? nl : end, *s = skip_ws(p, le);

				line++;
				if (s < le && *s != '#') {
					snprintf(where, sizeof(where), "%s:%d", argv[a], line);
					one_value(r, where, s, le, &ncases, &nfailed);
				}
				p = nl ? nl + 1 : end;
			}
		}
		buf_free(&text);
	}
	printf("%d case%s, %d failed\n", ncases, ncases == 1 ? "" : "s", nfailed);
	router_free(r);
	return bad ? 66 : nfailed ? 1 : 0;
}
