/* SPDX-License-Identifier: MIT */
/*
 * WRITE/UPDATE/DELETE_ROWS events, v1 and v2: columns-present bitmaps,
 * null bitmaps and the row images, decoded value by value into the
 * decoder's reused images and handed to the consumer one row change at a
 * time.  Partial JSON updates and compressed rows are not handled here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "source/mysql/internal.h"
#include "source/mysql/jsondiff.h"

static void image_fit(struct dec_image *im, uint32_t ncols)
{
	ch_image_fit(&im->v, ncols);
	if (im->cap >= ncols)
		return;
	im->raw = realloc(im->raw, ncols * sizeof(*im->raw));
	im->rawlen = realloc(im->rawlen, ncols * sizeof(*im->rawlen));
	if (!im->raw || !im->rawlen)
		log_oom();
	im->cap = ncols;
}

/*
 * A JSON column of a PARTIAL_UPDATE_ROWS after image: a length prefix
 * (the column's meta bytes) and diffs against the before image's value.
 */
static bool partial_json(const struct dec_column *col, const struct dec_image *before,
			 uint32_t i, struct rd *r, struct rc_buf *out, size_t *used,
			 char *err, size_t errlen)
{
	uint64_t n;
	unsigned lb = col->meta ? col->meta : 4;
	const uint8_t *bj = NULL;
	size_t bn = 0;

	if (lb > 4 || !rd_le(r, lb, &n) || n > r->n) {
		snprintf(err, errlen, "partial JSON value truncated");
		return false;
	}
	if (before->v.state[i] != CH_VALUE || before->rawlen[i] < lb) {
		snprintf(err, errlen, "partial JSON update without a before value");
		return false;
	}
	bj = before->raw[i] + lb;
	bn = before->rawlen[i] - lb;
	if (!jsondiff_apply(bj, bn, r->p, (size_t)n, out, err, errlen))
		return false;
	*used = lb + (size_t)n;
	return true;
}

static inline bool bit_set(const uint8_t *bm, uint32_t i)
{
	return bm[i / 8] & (1u << (i % 8));
}

/* One row image: null bitmap over the present columns, then the values. */
static bool read_image(struct decoder *d, const struct dec_table *t, uint32_t width,
		       const uint8_t *present, struct rd *r, struct dec_image *im,
		       const uint8_t *partial, const struct dec_image *before,
		       char *err, size_t errlen)
{
	uint32_t kjson = 0;
	uint32_t npresent = 0, k = 0;
	const uint8_t *nulls;

	for (uint32_t i = 0; i < width; i++)
		npresent += bit_set(present, i);
	if (r->n < (npresent + 7) / 8) {
		snprintf(err, errlen, "row image truncated (null bitmap)");
		return false;
	}
	nulls = r->p;
	rd_skip(r, (npresent + 7) / 8);
	buf_reset(&im->v.text);
	for (uint32_t i = 0; i < t->ncols; i++) {
		size_t used = 0;
		bool is_partial;

		if (i >= width || !bit_set(present, i)) {
			im->v.state[i] = CH_ABSENT;
			continue;
		}
		is_partial = partial && t->cols[i].type == COLT_JSON && bit_set(partial, kjson++);
		if (bit_set(nulls, k++)) {
			im->v.state[i] = CH_NULL;
			continue;
		}
		im->v.off[i] = (uint32_t)im->v.text.len;
		im->raw[i] = r->p;
		if (is_partial) {
			struct rd pr = *r;

			if (!partial_json(&t->cols[i], before, i, &pr, &im->v.text, &used,
					  d->errbuf, sizeof(d->errbuf))) {
				snprintf(err, errlen, "table %s.%s column %s (%u): %s", t->db,
					 t->name, t->cols[i].name, i + 1, d->errbuf);
				return false;
			}
		} else if (!value_decode(&t->cols[i], r->p, r->n, &used, &im->v.text, &d->vstats,
				  d->errbuf, sizeof(d->errbuf))) {
			snprintf(err, errlen, "table %s.%s column %s (%u): %s", t->db, t->name,
				 t->cols[i].name, i + 1, d->errbuf);
			return false;
		}
		rd_skip(r, used);
		im->rawlen[i] = (uint32_t)used;
		im->v.len[i] = (uint32_t)(im->v.text.len - im->v.off[i]);
		im->v.state[i] = CH_VALUE;
	}
	return true;
}

static int op_of(uint8_t type)
{
	switch (type) {
	case EV_WRITE_ROWS_V0: case EV_WRITE_ROWS_V1: case EV_WRITE_ROWS_V2:
	case EV_WRITE_ROWS_COMPRESSED: case EV_WRITE_ROWS_COMPRESSED_V1:
		return CH_INSERT;
	case EV_UPDATE_ROWS_V0: case EV_UPDATE_ROWS_V1: case EV_UPDATE_ROWS_V2:
	case EV_UPDATE_ROWS_COMPRESSED: case EV_UPDATE_ROWS_COMPRESSED_V1:
	case EV_PARTIAL_UPDATE_ROWS:
		return CH_UPDATE;
	}
	return CH_DELETE;
}

static bool is_v2(uint8_t type)
{
	return (type >= EV_WRITE_ROWS_V2 && type <= EV_DELETE_ROWS_V2) ||
	       type == EV_PARTIAL_UPDATE_ROWS;
}

/* The plain rows event type of a MariaDB compressed one, or 0. */
static uint8_t uncompressed_type(uint8_t type)
{
	switch (type) {
	case EV_WRITE_ROWS_COMPRESSED_V1: return EV_WRITE_ROWS_V1;
	case EV_UPDATE_ROWS_COMPRESSED_V1: return EV_UPDATE_ROWS_V1;
	case EV_DELETE_ROWS_COMPRESSED_V1: return EV_DELETE_ROWS_V1;
	case EV_WRITE_ROWS_COMPRESSED: return EV_WRITE_ROWS_V2;
	case EV_UPDATE_ROWS_COMPRESSED: return EV_UPDATE_ROWS_V2;
	case EV_DELETE_ROWS_COMPRESSED: return EV_DELETE_ROWS_V2;
	}
	return 0;
}

bool rows_parse(struct decoder *d, uint8_t type, const uint8_t *body, size_t n,
		uint8_t ph_len, char *err, size_t errlen)
{
	struct rd r = { body, n };
	uint64_t id, flags, width, extra;
	struct dec_table *t;
	struct ch_row row;
	size_t bm_bytes;
	int op = op_of(type);

	if (!rd_le(&r, ph_len == 6 ? 4 : 6, &id) || !rd_le(&r, 2, &flags))
		goto trunc;
	if (uncompressed_type(type)) {
		/* MariaDB: everything after the post-header is zlib data */
		if (!maria_uncompress(r.p, r.n, &d->scratch, err, errlen))
			return false;
		type = uncompressed_type(type);
		r.p = (const uint8_t *)d->scratch.data;
		r.n = d->scratch.len;
	}
	if (is_v2(type)) {
		if (!rd_le(&r, 2, &extra) || extra < 2 || !rd_skip(&r, (size_t)extra - 2))
			goto trunc;
	}
	t = tablemap_find(d, id);
	if (!t) {
		snprintf(err, errlen, "rows event for table id %llu without a TABLE_MAP",
			 (unsigned long long)id);
		return false;
	}
	if (!rd_lenenc(&r, &width))
		goto trunc;
	if (width > t->ncols) {
		snprintf(err, errlen, "rows event has %llu columns, its table %s.%s has %u",
			 (unsigned long long)width, t->db, t->name, t->ncols);
		return false;
	}
	bm_bytes = ((size_t)width + 7) / 8;
	if (d->bitmap_cap < bm_bytes) {
		d->bitmap[0] = realloc(d->bitmap[0], bm_bytes);
		d->bitmap[1] = realloc(d->bitmap[1], bm_bytes);
		if (!d->bitmap[0] || !d->bitmap[1])
			log_oom();
		d->bitmap_cap = bm_bytes;
	}
	if (width == 0) {
		snprintf(err, errlen, "rows event with no columns");
		return false;
	}
	if (r.n < bm_bytes)
		goto trunc;
	memcpy(d->bitmap[0], r.p, bm_bytes);
	rd_skip(&r, bm_bytes);
	if (op == CH_UPDATE) {
		if (r.n < bm_bytes)
			goto trunc;
		memcpy(d->bitmap[1], r.p, bm_bytes);
		rd_skip(&r, bm_bytes);
	}
	image_fit(&d->img[0], t->ncols);
	image_fit(&d->img[1], t->ncols);

	row.table = &t->ch;
	row.op = (enum ch_op)op;
	while (r.n > 0) {
		struct dec_image *first = &d->img[0];
		size_t left = r.n;

		const uint8_t *partial = NULL;

		if (!read_image(d, t, (uint32_t)width, d->bitmap[0], &r, first, NULL, NULL,
				err, errlen))
			return false;
		row.before = op == CH_INSERT ? NULL : &first->v;
		row.after = op == CH_DELETE ? NULL : &first->v;
		if (type == EV_PARTIAL_UPDATE_ROWS) {
			/* value options, then one bit per JSON column of the after
			 * image saying whether it is logged as a diff */
			uint64_t opts;
			uint32_t njson = 0;

			if (!rd_lenenc(&r, &opts))
				goto trunc;
			if (opts & 1) {
				for (uint32_t i = 0; i < width; i++)
					if (bit_set(d->bitmap[1], i) && t->cols[i].type == COLT_JSON)
						njson++;
				if (r.n < (njson + 7) / 8)
					goto trunc;
				partial = r.p;
				rd_skip(&r, (njson + 7) / 8);
			}
		}
		if (op == CH_UPDATE) {
			if (!read_image(d, t, (uint32_t)width, d->bitmap[1], &r, &d->img[1],
					partial, first, err, errlen))
				return false;
			row.after = &d->img[1].v;
		}
		if (r.n == left) {
			/* an image of no bytes: the event would repeat it for ever */
			snprintf(err, errlen, "rows event with an empty row image");
			return false;
		}
		row.index = d->trx.ch.nrows++;
		if (d->cb.on_row && !d->cb.on_row(d->cb.ctx, &d->trx, &row)) {
			d->stopped = true;
			err[0] = '\0';
			return false;
		}
	}
	if (flags & 1)	/* STMT_END_F: the maps of this statement end here */
		tablemap_end_statement(d);
	return true;
trunc:
	snprintf(err, errlen, "rows event truncated");
	return false;
}
