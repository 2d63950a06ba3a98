/* SPDX-License-Identifier: MIT */
/*
 * Rendering of PostgreSQL column values, given in text format with their
 * type OID and type modifier (as pgoutput sends them), into rowcast's JSON
 * value forms (rowcast-format(7), section POSTGRESQL VALUES).  Built-in
 * types of PostgreSQL 15 have exact forms; any other OID (enums, domains,
 * composites, extension types) becomes a JSON string of the text.
 *
 * The text forms parsed here are those of the session settings the source
 * must use: DateStyle=ISO, extra_float_digits >= 1 (the default),
 * bytea_output=hex (the default).  TimeZone and IntervalStyle may be
 * anything: timestamptz is converted to UTC and intervals in the postgres
 * style are rewritten to ISO 8601.  Text that does not fit its type's form
 * is written as a JSON string, so the output is always valid JSON.
 */
#ifndef RC_SOURCE_PG_PGVALUE_H
#define RC_SOURCE_PG_PGVALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Append the JSON form of the value whose text is s[0..n) and whose type is
 * oid (typmod -1 when none) to out.  Returns true when the value was
 * rendered by its type's rule, false when it fell back to a JSON string of
 * the text (unknown OID, or text not in the expected form); the output is
 * valid JSON either way.  Allocates only for arrays and ranges with
 * escaped elements. */
bool pgv_render(struct rc_buf *out, uint32_t oid, int32_t typmod, const char *s, size_t n);

/* True when oid is a type with its own rendering rule (false: rendered as a
 * JSON string of its text). */
bool pgv_type_known(uint32_t oid);

/* Element type of a built-in array type, 0 when oid is not one. */
uint32_t pgv_array_elem(uint32_t oid);

#endif
