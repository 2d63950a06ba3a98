/* SPDX-License-Identifier: MIT */
/*
 * A row change of the change model as a script_change: borrowed pointers
 * into its images, plus the names array kept in a buffer reused from row to
 * row.  Nothing is copied per value.
 */
#ifndef RC_ROUTE_SCRIPT_ROW_H
#define RC_ROUTE_SCRIPT_ROW_H

#include "base/buf.h"
#include "change/change.h"
#include "route/script.h"

/* Zero it before the first use; script_row_free() releases it. */
struct script_row {
	struct script_change change;	/* what script_run() takes */
	struct script_image before;	/* views of the row's images */
	struct script_image after;
	const char **names;		/* column names of the table */
	uint32_t *name_lens;		/* their lengths */
	uint32_t cap;			/* entries the two arrays hold */
};

/* Fill r->change from one row of trx; valid while the row is (during the
 * source's row callback).  The position is the transaction's id (its GTID,
 * else where it starts in the source's log). */
void script_row_fill(struct script_row *r, const struct ch_trx *trx, const struct ch_row *row);
/* Release what r holds; r may be reused after (it is zeroed). */
void script_row_free(struct script_row *r);

#endif
