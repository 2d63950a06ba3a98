/* SPDX-License-Identifier: MIT */
/*
 * Test driver for tests/integration/test_pg_values.py: reads pgoutput
 * messages, one hex string per line (encode(data, 'hex') of
 * pg_logical_slot_get_binary_changes), parses them with pgoutput.c and
 * renders every column with pgvalue.c.  Prints one JSON line per change:
 *   {"op":"I|U|D","table":"name","old":{..}|null,"new":{..}|null,
 *    "old_kind":"K|O|","unchanged":[cols],"inexact":[cols]}
 * and {"op":"T","nrels":N} / {"op":"M","prefix":..,"content":..}.
 * Exits 1 with the parser's message on malformed input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "source/pg/pgoutput.h"
#include "source/pg/pgvalue.h"

/* A relation as its last 'R' message described it. */
struct rel {
	uint32_t relid;		/* OID */
	char name[128];		/* table name */
	unsigned ncols;		/* columns */
	char (*colnames)[64];	/* their names */
	uint32_t *oids;		/* their type OIDs */
	int32_t *typmods;	/* their type modifiers */
};

static struct rel rels[64];
static unsigned nrels;

static struct rel *find_rel(uint32_t relid)
{
	for (unsigned i = 0; i < nrels; i++)
		if (rels[i].relid == relid)
			return &rels[i];
	return NULL;
}

static void remember(const struct pgo_msg *m)
{
	struct rel *r = find_rel(m->u.relation.relid);

	if (!r) {
		if (nrels == sizeof(rels) / sizeof(rels[0])) {
			fprintf(stderr, "too many relations\n");
			exit(1);
		}
		r = &rels[nrels++];
	} else {
		free(r->colnames);
		free(r->oids);
		free(r->typmods);
	}
	r->relid = m->u.relation.relid;
	buf_strcpy(r->name, sizeof(r->name), m->u.relation.relname.p);
	r->ncols = m->u.relation.ncols;
	r->colnames = calloc(r->ncols + 1, sizeof(*r->colnames));
	r->oids = calloc(r->ncols + 1, sizeof(*r->oids));
	r->typmods = calloc(r->ncols + 1, sizeof(*r->typmods));
	if (!r->colnames || !r->oids || !r->typmods)
		abort();
	for (unsigned i = 0; i < r->ncols; i++) {
		buf_strcpy(r->colnames[i], sizeof(r->colnames[i]), m->u.relation.cols[i].name.p);
		r->oids[i] = m->u.relation.cols[i].type_oid;
		r->typmods[i] = m->u.relation.cols[i].typmod;
	}
}

/* The tuple as a JSON object; unchanged and inexact column names go to
 * the two lists. */
static void tuple(struct rc_buf *out, const struct rel *r, const struct pgo_tuple *t,
		  struct rc_buf *unchanged, struct rc_buf *inexact)
{
	bool first = true;

	if (t->ncols != r->ncols) {
		fprintf(stderr, "tuple has %u columns, relation %u\n", t->ncols, r->ncols);
		exit(1);
	}
	buf_putc(out, '{');
	for (unsigned i = 0; i < t->ncols; i++) {
		const struct pgo_col *c = &t->cols[i];

		if (c->kind == PGO_COL_UNCHANGED) {
			if (unchanged->len > 1)
				buf_putc(unchanged, ',');
			buf_json_str(unchanged, r->colnames[i], strlen(r->colnames[i]), NULL);
			continue;
		}
		if (!first)
			buf_putc(out, ',');
		first = false;
		buf_json_str(out, r->colnames[i], strlen(r->colnames[i]), NULL);
		buf_putc(out, ':');
		if (c->kind == PGO_COL_NULL) {
			buf_puts(out, "null");
		} else if (!pgv_render(out, r->oids[i], r->typmods[i], c->data, c->len)) {
			if (inexact->len > 1)
				buf_putc(inexact, ',');
			buf_json_str(inexact, r->colnames[i], strlen(r->colnames[i]), NULL);
		}
	}
	buf_putc(out, '}');
}

int main(void)
{
	struct pgo_parser ps = { 0 };
	struct rc_buf out = { 0 }, unch = { 0 }, inex = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint8_t *bin = NULL;
	unsigned long lineno = 0;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		struct pgo_msg m;
		struct pgo_error err;
		size_t n;
		struct rel *r;

		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		n = (size_t)len / 2;
		bin = realloc(bin, n + 1);
		if (!bin)
			abort();
		for (size_t i = 0; i < n; i++) {
			unsigned v;

			if (sscanf(line + 2 * i, "%2x", &v) != 1) {
				fprintf(stderr, "line %lu: bad hex\n", lineno);
				return 1;
			}
			bin[i] = (uint8_t)v;
		}
		if (!pgo_parse(&ps, bin, n, &m, &err)) {
			fprintf(stderr, "line %lu: %s\n", lineno, err.msg);
			return 1;
		}
		buf_reset(&out);
		switch (m.kind) {
		case PGO_RELATION:
			remember(&m);
			continue;
		case PGO_INSERT:
		case PGO_UPDATE:
		case PGO_DELETE:
			r = find_rel(m.u.change.relid);
			if (!r) {
				fprintf(stderr, "line %lu: change before its relation\n", lineno);
				return 1;
			}
			buf_reset(&unch);
			buf_reset(&inex);
			buf_putc(&unch, '[');
			buf_putc(&inex, '[');
			buf_printf(&out, "{\"op\":\"%c\",\"table\":", m.kind);
			buf_json_str(&out, r->name, strlen(r->name), NULL);
			buf_puts(&out, ",\"old\":");
			if (m.u.change.old_kind)
				tuple(&out, r, &m.u.change.old, &unch, &inex);
			else
				buf_puts(&out, "null");
			buf_puts(&out, ",\"new\":");
			if (m.kind != PGO_DELETE)
				tuple(&out, r, &m.u.change.new, &unch, &inex);
			else
				buf_puts(&out, "null");
			buf_printf(&out, ",\"old_kind\":\"%s\"",
				   m.u.change.old_kind == 'K' ? "K" : m.u.change.old_kind == 'O' ? "O" : "");
			buf_putc(&unch, ']');
			buf_putc(&inex, ']');
			buf_puts(&out, ",\"unchanged\":");
			buf_append(&out, unch.data, unch.len);
			buf_puts(&out, ",\"inexact\":");
			buf_append(&out, inex.data, inex.len);
			buf_putc(&out, '}');
			break;
		case PGO_TRUNCATE:
			buf_printf(&out, "{\"op\":\"T\",\"nrels\":%u}", m.u.truncate.nrels);
			break;
		case PGO_MESSAGE:
			buf_puts(&out, "{\"op\":\"M\",\"prefix\":");
			buf_json_str(&out, m.u.message.prefix.p, m.u.message.prefix.len, NULL);
			buf_puts(&out, ",\"content\":");
			buf_json_str(&out, m.u.message.content.p, m.u.message.content.len, NULL);
			buf_putc(&out, '}');
			break;
		default:
			continue;
		}
		puts(out.data);
	}
	free(line);
	free(bin);
	buf_free(&out);
	buf_free(&unch);
	buf_free(&inex);
	pgo_parser_free(&ps);
	for (unsigned i = 0; i < nrels; i++) {
		free(rels[i].colnames);
		free(rels[i].oids);
		free(rels[i].typmods);
	}
	return 0;
}
