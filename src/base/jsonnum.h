/* SPDX-License-Identifier: MIT */
/*
 * JSON numbers for floating point (see jsonnum.c): shortest round-trip
 * text, "null" for NaN and the infinities.
 */
#ifndef RC_BASE_JSONNUM_H
#define RC_BASE_JSONNUM_H

#include "base/buf.h"

/* Append the shortest decimal that reads back as d (null when d is not
 * finite). */
void buf_put_double(struct rc_buf *out, double d);
/* The same for the float f. */
void buf_put_float(struct rc_buf *out, float f);

#endif
