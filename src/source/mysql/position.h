/* SPDX-License-Identifier: MIT */
/*
 * A GTID position of either server flavour: MariaDB's state (one GTID per
 * domain) or MySQL's executed GTID set.  The core keeps positions through
 * this and never looks inside; the text form is what the checkpoint holds.
 */
#ifndef RC_SOURCE_MYSQL_POSITION_H
#define RC_SOURCE_MYSQL_POSITION_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "source/mysql/gtid.h"
#include "source/mysql/gtidset.h"

struct position {
	bool mysql;			/* MySQL GTID set, else MariaDB state */
	struct gtid_state maria;	/* MariaDB: per domain */
	struct gtid_set *set;		/* MySQL: the executed set */
};

/* The flavour a position text is written in: MySQL sets name UUIDs. */
bool position_text_is_mysql(const char *text);
/* Parse text of the given flavour, replacing p (which must be set up). */
bool position_parse(struct position *p, bool mysql, const char *text, char *err, size_t errlen);
/* One committed GTID more. */
bool position_apply(struct position *p, const char *gtid);
void position_format(const struct position *p, struct rc_buf *out);
void position_copy(struct position *dst, const struct position *src);
void position_free(struct position *p);

#endif
