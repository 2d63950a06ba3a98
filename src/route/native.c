/* SPDX-License-Identifier: MIT */
/*
 * The native message: id, op, db, table, gtid, ts, before, after (and
 * snapshot for a snapshot's rows).  Fields are written in that order,
 * straight from the source's value texts.  Also the snapshot's per-table
 * start and end markers.
 */
#include "route/native.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

void native_event_id(struct rc_buf *out, const struct ch_trx *trx, uint64_t index)
{
	buf_puts(out, trx->id);
	buf_putc(out, '@');
	buf_put_u64(out, index);
}

/* Each column's JSON key ("name":) made once per table map, not per row. */
static void make_keys(struct ch_table *t)
{
	uint32_t *end = realloc(t->key_end, (t->ncols ? t->ncols : 1) * sizeof(*end));

	if (!end)
		log_oom();
	t->key_end = end;
	buf_reset(&t->keys);
	for (uint32_t i = 0; i < t->ncols; i++) {
		buf_json_str(&t->keys, t->cols[i].name, t->cols[i].name_len, NULL);
		buf_putc(&t->keys, ':');
		end[i] = (uint32_t)t->keys.len;
	}
}

static void image_json(struct rc_buf *out, struct ch_table *t, const struct ch_image *im)
{
	char *o;

	if (!im) {
		buf_append(out, "null", 4);
		return;
	}
	if (!t->keys.len && t->ncols)
		make_keys(t);
	/* every key and value, plus a comma or "null" per column, fits */
	buf_room(out, 2 + t->keys.len + im->text.len + 5 * (size_t)t->ncols);
	o = out->data + out->len;
	*o++ = '{';
	for (uint32_t i = 0; i < t->ncols; i++) {
		uint32_t k0 = i ? t->key_end[i - 1] : 0;

		if (im->state[i] == CH_ABSENT)
			continue;
		buf_copy(o, t->keys.data + k0, t->key_end[i] - k0);
		o += t->key_end[i] - k0;
		if (im->state[i] == CH_NULL) {
			memcpy(o, "null", 4);
			o += 4;
		} else {
			buf_copy(o, im->text.data + im->off[i], im->len[i]);
			o += im->len[i];
		}
		*o++ = ',';
	}
	if (o[-1] == ',')
		o--;
	*o++ = '}';
	*o = '\0';
	out->len = (size_t)(o - out->data);
}

/* The fields after the id: ,"op":OP,"db":DB,"table":TABLE,"gtid":G,"ts":TS */
static void fields(struct rc_buf *out, const char *op, const char *db, const char *table,
		   const struct ch_trx *trx)
{
	buf_append(out, ",\"op\":\"", 7);
	buf_puts(out, op);
	buf_append(out, "\",\"db\":", 7);
	buf_json_str(out, db, strlen(db), NULL);
	buf_append(out, ",\"table\":", 9);
	buf_json_str(out, table, strlen(table), NULL);
	buf_append(out, ",\"gtid\":", 8);
	if (trx->gtid[0]) {
		buf_putc(out, '"');
		buf_puts(out, trx->gtid);
		buf_putc(out, '"');
	} else {
		buf_append(out, "null", 4);
	}
	buf_append(out, ",\"ts\":", 6);
	buf_put_u64(out, trx->ts_ms);
}

/* ,"snapshot":{"id":N,"on_demand":B  (the caller closes the object) */
static void snapshot_object(struct rc_buf *out, const struct ch_snap *s)
{
	buf_puts(out, ",\"snapshot\":{\"id\":");
	buf_put_u64(out, s->id);
	buf_puts(out, s->on_demand ? ",\"on_demand\":true" : ",\"on_demand\":false");
}

void native_format(struct rc_buf *out, const struct ch_trx *trx, const struct ch_row *row)
{
	/* the table's own caches are the consumer's to fill (change.h) */
	struct ch_table *t = (struct ch_table *)row->table;

	buf_reset(out);
	buf_append(out, "{\"id\":\"", 7);
	native_event_id(out, trx, row->index);
	buf_putc(out, '"');
	fields(out, ch_op_names[row->op], t->db, t->name, trx);
	buf_append(out, ",\"before\":", 10);
	image_json(out, t, row->before);
	buf_append(out, ",\"after\":", 9);
	image_json(out, t, row->after);
	if (trx->snap) {
		snapshot_object(out, trx->snap);
		buf_append(out, ",\"chunk\":", 9);
		buf_put_u64(out, trx->snap->chunk);
		buf_putc(out, '}');
	}
	buf_putc(out, '}');
}

void native_snapshot_marker_id(struct rc_buf *out, const struct ch_snap *snap, bool end)
{
	buf_puts(out, "snapshot-");
	buf_put_u64(out, snap->id);
	buf_putc(out, '-');
	buf_puts(out, snap->db);
	buf_putc(out, '.');
	buf_puts(out, snap->table);
	buf_puts(out, end ? "-complete" : "-start");
}

void native_snapshot_marker(struct rc_buf *out, const struct ch_trx *trx, bool end, uint64_t rows,
			    const char *id)
{
	const struct ch_snap *s = trx->snap;

	buf_reset(out);
	buf_append(out, "{\"id\":", 6);
	buf_json_str(out, id, strlen(id), NULL);
	/* the fields of every native message, before and after null as in
	 * truncate and drop messages */
	fields(out, end ? "snapshot-complete" : "snapshot-start", s->db, s->table, trx);
	buf_append(out, ",\"before\":null,\"after\":null", 27);
	snapshot_object(out, s);
	buf_putc(out, '}');
	buf_puts(out, end ? ",\"rows\":" : ",\"rows_estimated\":");
	buf_put_u64(out, end ? rows : s->est_rows);
	buf_putc(out, '}');
}

void topic_escape(struct rc_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/' || c == '+' || c == '#' || c == '\0' || c == '%' ||
		    (i == 0 && c == '$')) {
			buf_putc(out, '%');
			buf_putc(out, hex[c >> 4]);
			buf_putc(out, hex[c & 15]);
		} else {
			buf_putc(out, (char)c);
		}
	}
}

void native_topic(struct rc_buf *out, const char *prefix, const char *db, const char *table)
{
	buf_reset(out);
	buf_puts(out, prefix);
	buf_putc(out, '/');
	topic_escape(out, db, strlen(db));
	buf_putc(out, '/');
	topic_escape(out, table, strlen(table));
}
