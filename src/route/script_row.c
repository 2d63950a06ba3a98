/* SPDX-License-Identifier: MIT */
/*
 * Adapter from the change model's rows (change/change.h) to the scripts'
 * abstract change (route/script.h).  The value texts are not copied: the
 * images are viewed in place.
 */
#include "route/script_row.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static void view(struct script_image *v, const struct ch_image *im)
{
	v->text = im->text.data;
	v->off = im->off;
	v->len = im->len;
	v->state = im->state;	/* CH_ABSENT/NULL/VALUE = SCRIPT_* */
}

void script_row_fill(struct script_row *r, const struct ch_trx *trx, const struct ch_row *row)
{
	const struct ch_table *t = row->table;
	struct script_change *c = &r->change;

	_Static_assert((int)CH_ABSENT == (int)SCRIPT_ABSENT && (int)CH_NULL == (int)SCRIPT_NULL &&
		       (int)CH_VALUE == (int)SCRIPT_VALUE, "column states differ");
	if (t->ncols > r->cap) {
		r->names = realloc(r->names, t->ncols * sizeof(*r->names));
		r->name_lens = realloc(r->name_lens, t->ncols * sizeof(*r->name_lens));
		if (!r->names || !r->name_lens)
			log_oom();
		r->cap = t->ncols;
	}
	for (uint32_t i = 0; i < t->ncols; i++) {
		r->names[i] = t->cols[i].name;
		r->name_lens[i] = t->cols[i].name_len;
	}
	c->op = ch_op_name(row->op);
	c->db = t->db;
	c->table = t->name;
	c->id = NULL;			/* the native id, made by the script module */
	c->index = row->index;
	c->gtid = trx->gtid[0] ? trx->gtid : NULL;
	c->position = trx->id;
	c->ts_ms = trx->ts_ms;
	c->ncols = t->ncols;
	c->names = r->names;
	c->name_lens = r->name_lens;
	c->before = NULL;
	c->after = NULL;
	if (row->before) {
		view(&r->before, row->before);
		c->before = &r->before;
	}
	if (row->after) {
		view(&r->after, row->after);
		c->after = &r->after;
	}
}

void script_row_free(struct script_row *r)
{
	free(r->names);
	free(r->name_lens);
	memset(r, 0, sizeof(*r));
}
