/* SPDX-License-Identifier: MIT */
/*
 * Prepared XA transactions waiting for their outcome.  The rows of an XA
 * PREPARE group are published only when its XA COMMIT comes, read again
 * from the binlog at the group's place; until then the position carries
 * the group here.  The checkpoint keeps each as "XID<TAB>FILE:OFFSET<TAB>KEY".
 */
#ifndef RC_SOURCE_MYSQL_XA_H
#define RC_SOURCE_MYSQL_XA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* One prepared group. */
struct xa_pending {
	char xid[300];			/* X'gtrid',X'bqual',format as servers print it */
	char file[256];			/* binlog file of the group */
	uint64_t offset;		/* where the group starts there */
	char key[300];			/* the group's transaction id (its GTID, else
					   FILE:OFFSET) */
};

/* The groups pending, oldest first. */
struct xa_list {
	struct xa_pending *v;		/* n of them */
	int n;				/* used */
	int cap;			/* allocated */
};

void xa_list_add(struct xa_list *l, const struct xa_pending *x);
/* Drop the entry equal to x, if there is one. */
void xa_list_remove(struct xa_list *l, const struct xa_pending *x);
/* The entry for xid, or NULL. */
const struct xa_pending *xa_list_find(const struct xa_list *l, const char *xid);
void xa_list_copy(struct xa_list *dst, const struct xa_list *src);
void xa_list_free(struct xa_list *l);

/* "XID<TAB>FILE:OFFSET<TAB>KEY" (the checkpoint's form) appended to out. */
void xa_format(const struct xa_pending *x, struct rc_buf *out);
/* That form back; false when it is not one. */
bool xa_parse(const char *text, struct xa_pending *x);

#endif
