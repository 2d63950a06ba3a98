/* SPDX-License-Identifier: MIT */
/*
 * Adapter from the decoder's rows (decode/decoder.h) to the scripts'
 * abstract change (route/script.h).  The value texts are not copied: the
 * images are viewed in place.
 */
#include "route/script_row.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "route/native.h"

static void view(struct script_image *v, const struct dec_image *im)
{
	v->text = im->text.data;
	v->off = im->off;
	v->len = im->len;
	v->state = im->state;	/* DEC_ABSENT/NULL/VALUE = SCRIPT_* */
}

void script_row_fill(struct script_row *r, const struct dec_trx *trx, const char *file,
		     const struct dec_row *row)
{
	const struct dec_table *t = row->table;
	struct script_change *c = &r->change;
	size_t fl;

	_Static_assert((int)DEC_ABSENT == (int)SCRIPT_ABSENT && (int)DEC_NULL == (int)SCRIPT_NULL &&
		       (int)DEC_VALUE == (int)SCRIPT_VALUE, "column states differ");
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
	/* the same for every row of a transaction */
	fl = strlen(file);
	if (r->pos_offset != trx->start_offset || r->position.len <= fl ||
	    memcmp(r->position.data, file, fl) || r->position.data[fl] != ':') {
		buf_reset(&r->position);
		buf_puts(&r->position, file);
		buf_putc(&r->position, ':');
		buf_put_u64(&r->position, trx->start_offset);
		r->pos_offset = trx->start_offset;
	}

	c->op = native_op_names[row->op];
	c->db = t->db;
	c->table = t->name;
	c->id = NULL;			/* the native id, made by the script module */
	c->index = row->index;
	c->gtid = trx->gtid[0] ? trx->gtid : NULL;
	c->position = r->position.data;
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
	buf_free(&r->position);
	memset(r, 0, sizeof(*r));
}
