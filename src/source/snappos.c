/* SPDX-License-Identifier: MIT */
/*
 * The snapshot part of a source's position (snappos.h): the tables a
 * snapshot has left and how far the first one is, moved by step texts and
 * kept in the checkpoint's [snapshot] section.
 */
#include "source/snappos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"


char *snap_strndup(const char *s, size_t n)
{
	char *d;

	if (!s || n == 0)
		return NULL;
	d = malloc(n + 1);
	if (!d)
		log_oom();
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *snap_strdup(const char *s)
{
	return s ? snap_strndup(s, strlen(s)) : NULL;
}

static void item_free(struct snap_item *it)
{
	free(it->db);
	free(it->table);
	free(it->where);
}

/* v[0]'s progress back to nothing. */
static void first_reset(struct snap_pos *p)
{
	p->started = false;
	free(p->max_key);
	free(p->last_key);
	p->max_key = p->last_key = NULL;
	p->rows = p->chunks = 0;
}

static void pos_add(struct snap_pos *p, const struct snap_item *it)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = realloc(p->v, (size_t)p->cap * sizeof(*p->v));
		if (!p->v)
			log_oom();
	}
	p->v[p->n].id = it->id;
	p->v[p->n].on_demand = it->on_demand;
	p->v[p->n].db = snap_strdup(it->db);
	p->v[p->n].table = snap_strdup(it->table);
	p->v[p->n].where = snap_strdup(it->where);
	p->n++;
	if (it->id > p->last_id)
		p->last_id = it->id;
}

static void pos_drop_first(struct snap_pos *p)
{
	if (p->n == 0)
		return;
	item_free(&p->v[0]);
	memmove(p->v, p->v + 1, (size_t)(p->n - 1) * sizeof(*p->v));
	p->n--;
	first_reset(p);
	p->tables_done++;
}

void snap_pos_copy(struct snap_pos *dst, const struct snap_pos *src)
{
	if (dst == src)
		return;
	while (dst->n)
		item_free(&dst->v[--dst->n]);
	first_reset(dst);
	for (int i = 0; i < src->n; i++)
		pos_add(dst, &src->v[i]);
	dst->last_id = src->last_id;
	dst->started = src->started;
	dst->max_key = snap_strdup(src->max_key);
	dst->last_key = snap_strdup(src->last_key);
	dst->rows = src->rows;
	dst->chunks = src->chunks;
	dst->tables_done = src->tables_done;
}

void snap_pos_free(struct snap_pos *p)
{
	while (p->n)
		item_free(&p->v[--p->n]);
	free(p->v);
	p->v = NULL;
	p->cap = 0;
	first_reset(p);
}

/* Split a tab-separated line into at most max fields (pointers into it,
 * which it changes); the number found. */
int snap_split_tabs(char *line, char **f, int max)
{
	int n = 0;

	while (n < max) {
		f[n++] = line;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

/*
 * Step text, one operation per line:
 *   q<TAB>id<TAB>i|d<TAB>db<TAB>table<TAB>where   a table to read
 *   c<TAB>rows<TAB>last key<TAB>max key            v[0]: a chunk done
 *   k<TAB>rows                                     v[0] (keyless): a chunk done
 *   d                                              v[0]: finished (or skipped)
 * An empty key is none.
 */
void snap_pos_apply(struct snap_pos *p, const char *text, size_t len)
{
	char *copy = snap_strndup(text, len), *line, *save = NULL;

	if (!copy)
		return;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[6];
		int n = snap_split_tabs(line, f, 6);

		if (f[0][0] == 'q' && n == 6) {
			struct snap_item it = { strtoull(f[1], NULL, 10), f[2][0] == 'd',
						 f[3], f[4], f[5][0] ? f[5] : NULL };

			pos_add(p, &it);
		} else if (f[0][0] == 'c' && n == 4 && p->n) {
			p->rows += strtoull(f[1], NULL, 10);
			p->chunks++;
			if (!p->started) {
				free(p->max_key);
				p->max_key = snap_strdup(f[3][0] ? f[3] : NULL);
				p->started = true;
			}
			if (f[2][0]) {
				free(p->last_key);
				p->last_key = snap_strdup(f[2]);
			}
		} else if (f[0][0] == 'k' && n == 2 && p->n) {
			p->rows += strtoull(f[1], NULL, 10);	/* keyless: counted only */
			p->chunks++;
		} else if (f[0][0] == 'd') {
			pos_drop_first(p);
		}
	}
	free(copy);
}

void snap_pos_store(const struct snap_pos *p, struct ckpt *c)
{
	struct rc_buf b = { 0 };
	char k[32];

	ckpt_clear_section(c, "snapshot");
	if (p->last_id == 0 && p->n == 0)
		return;
	buf_printf(&b, "%llu", (unsigned long long)p->last_id);
	ckpt_set(c, "snapshot", "last_id", b.data);
	buf_reset(&b);
	buf_printf(&b, "%llu", (unsigned long long)p->tables_done);
	ckpt_set(c, "snapshot", "tables_done", b.data);
	for (int i = 0; i < p->n; i++) {
		buf_reset(&b);
		buf_printf(&b, "%llu\t%s\t%s\t%s\t%s", (unsigned long long)p->v[i].id,
			   p->v[i].on_demand ? "demand" : "initial", p->v[i].db, p->v[i].table,
			   p->v[i].where ? p->v[i].where : "");
		snprintf(k, sizeof(k), "table.%d", i + 1);
		ckpt_set(c, "snapshot", k, b.data);
	}
	if (p->n) {
		ckpt_set(c, "snapshot", "started", p->started ? "1" : "0");
		ckpt_set(c, "snapshot", "max_key", p->max_key ? p->max_key : "");
		ckpt_set(c, "snapshot", "last_key", p->last_key ? p->last_key : "");
		buf_reset(&b);
		buf_printf(&b, "%llu", (unsigned long long)p->rows);
		ckpt_set(c, "snapshot", "rows", b.data);
		buf_reset(&b);
		buf_printf(&b, "%llu", (unsigned long long)p->chunks);
		ckpt_set(c, "snapshot", "chunks", b.data);
	}
	buf_free(&b);
}

bool snap_pos_load(struct snap_pos *p, struct ckpt *c, char *err, size_t errlen)
{
	const char *v;

	snap_pos_free(p);
	memset(p, 0, sizeof(*p));
	if ((v = ckpt_get(c, "snapshot", "last_id")))
		p->last_id = strtoull(v, NULL, 10);
	if ((v = ckpt_get(c, "snapshot", "tables_done")))
		p->tables_done = strtoull(v, NULL, 10);
	for (int i = 1;; i++) {
		char k[32], *copy, *f[5];

		snprintf(k, sizeof(k), "table.%d", i);
		if (!(v = ckpt_get(c, "snapshot", k)))
			break;
		copy = snap_strdup(v);
		if (snap_split_tabs(copy, f, 5) != 5 || !f[2][0] || !f[3][0]) {
			snprintf(err, errlen, "[snapshot] %s: '%s' is not ID<TAB>KIND<TAB>DB<TAB>TABLE<TAB>WHERE",
				 k, v);
			free(copy);
			return false;
		}
		struct snap_item it = { strtoull(f[0], NULL, 10), !strcmp(f[1], "demand"), f[2],
					 f[3], f[4][0] ? f[4] : NULL };

		pos_add(p, &it);
		free(copy);
	}
	if (p->n) {
		p->started = (v = ckpt_get(c, "snapshot", "started")) && !strcmp(v, "1");
		p->max_key = snap_strdup((v = ckpt_get(c, "snapshot", "max_key")) && v[0] ? v : NULL);
		p->last_key = snap_strdup((v = ckpt_get(c, "snapshot", "last_key")) && v[0] ? v : NULL);
		p->rows = (v = ckpt_get(c, "snapshot", "rows")) ? strtoull(v, NULL, 10) : 0;
		p->chunks = (v = ckpt_get(c, "snapshot", "chunks")) ? strtoull(v, NULL, 10) : 0;
	}
	return true;
}
