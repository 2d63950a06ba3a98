/* SPDX-License-Identifier: MIT */
/*
 * The decoder's row change as a script_change: borrowed pointers into the
 * decoder's images, plus the names array and position text kept in buffers
 * reused from row to row.  Nothing is copied per value.
 */
#ifndef RC_ROUTE_SCRIPT_ROW_H
#define RC_ROUTE_SCRIPT_ROW_H

#include "core/buf.h"
#include "decode/decoder.h"
#include "route/script.h"

/* Zero it before the first use; script_row_free() releases it. */
struct script_row {
	struct script_change change;	/* what script_run() takes */
	struct script_image before;	/* views of the decoder's images */
	struct script_image after;
	const char **names;		/* column names of the table */
	uint32_t *name_lens;		/* their lengths */
	uint32_t cap;			/* entries the two arrays hold */
	struct rc_buf position;		/* "<file>:<offset>" */
	uint64_t pos_offset;		/* the offset position holds */
};

/* Fill r->change from one row of trx (read from binlog file); valid while
 * the row is (during the decoder's on_row callback). */
void script_row_fill(struct script_row *r, const struct dec_trx *trx, const char *file,
		     const struct dec_row *row);
/* Release what r holds; r may be reused after (it is zeroed). */
void script_row_free(struct script_row *r);

#endif
