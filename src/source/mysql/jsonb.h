/* SPDX-License-Identifier: MIT */
/*
 * MySQL's binary JSON (the storage format of JSON columns in row events)
 * to JSON text.  Reads one document, bounds-checked against its length and
 * against each containing node; writes nothing on error.  Does not decode
 * partial-update diffs (PARTIAL_UPDATE_ROWS events).
 */
#ifndef RC_SOURCE_MYSQL_JSONB_H
#define RC_SOURCE_MYSQL_JSONB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/jsonnum.h"

/* Deepest nesting of arrays and objects accepted (MySQL's own limit). */
#define JSONB_MAX_DEPTH 100

/*
 * Append the JSON text of the binary JSON document p[0..n) to out.  An
 * empty document (n == 0) is JSON null.  On malformed input returns false
 * with a reason in err and out's length unchanged.
 */
bool jsonb_to_json(const uint8_t *p, size_t n, struct rc_buf *out, char *err,
		   size_t errlen);

/*
 * Number and time writers that value.c defines and jsonb.c shares.  They
 * belong in decode/value.h, which this module may not change; declared here
 * until they move there.
 */


/*
 * The decimal digits (no quotes) of the binary DECIMAL(prec, scale) at p:
 * exactly scale fractional digits, no sign on zero.  *used is the number of
 * bytes the value takes.  false with err on bad precision or bytes.
 */
bool value_put_decimal(const uint8_t *p, size_t avail, unsigned prec,
		       unsigned scale, size_t *used, struct rc_buf *out,
		       char *err, size_t errlen);

/* "YYYY-MM-DD" */
void value_put_date(struct rc_buf *out, unsigned year, unsigned month,
		    unsigned day);
/* "YYYY-MM-DD HH:MM:SS" then '.' and the first fsp digits of usec. */
void value_put_datetime(struct rc_buf *out, unsigned year, unsigned month,
			unsigned day, unsigned hour, unsigned minute,
			unsigned second, uint32_t usec, unsigned fsp);
/* "[-]HH:MM:SS" (three hour digits from 100 on) then the fraction. */
void value_put_time(struct rc_buf *out, bool neg, unsigned hour,
		    unsigned minute, unsigned second, uint32_t usec,
		    unsigned fsp);

#endif
