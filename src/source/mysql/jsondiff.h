/* SPDX-License-Identifier: MIT */
/*
 * MySQL 8 partial JSON updates (PARTIAL_UPDATE_ROWS events logged with
 * binlog_row_value_options=PARTIAL_JSON): the after image of such a JSON
 * column is not a document but a list of diffs (replace, insert, remove at
 * a JSON path) against the before image.  This module applies them and
 * writes the resulting document as JSON text, in the style of
 * jsonb_to_json().  Does not parse row events or the column's length
 * prefix.
 *
 * Diff list: until the bytes run out, each diff is an operation byte
 * (0 replace, 1 insert, 2 remove), a length-encoded path length, the path
 * text ("$", ".name", ".\"quoted name\"", "[N]", "[last]", "[last-N]"),
 * and for replace and insert a length-encoded value length and the value
 * as binary JSON.
 */
#ifndef RC_SOURCE_MYSQL_JSONDIFF_H
#define RC_SOURCE_MYSQL_JSONDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/*
 * Apply the partial-update diffs at diff[0..dn) (the after-image bytes of
 * the column, without its length prefix) to the binary JSON document
 * before[0..bn) and append the JSON text of the resulting document to out.
 * false with err (out unchanged) on malformed input or a path that does not
 * apply.
 *
 * Semantics follow the server: replace needs an existing value at the
 * path; insert adds a member that must not exist yet (at its place in
 * MySQL's key order: shorter keys first, then bytewise) or inserts into an
 * array (appending when the index is past the end); remove needs an
 * existing member or element.  No auto-wrapping of scalars into arrays.
 */
bool jsondiff_apply(const uint8_t *before, size_t bn, const uint8_t *diff,
		    size_t dn, struct rc_buf *out, char *err, size_t errlen);

#endif
