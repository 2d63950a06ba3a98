/* SPDX-License-Identifier: MIT */
/*
 * Text of MySQL / MariaDB columns to UTF-8, chosen by collation id.  The
 * common charsets (utf8mb4/mb3, latin1 as cp1252, ascii, ucs2, utf16,
 * utf16le, utf32) are decoded here; the rarer 8-bit and CJK ones go through
 * glibc iconv with a per-thread cached descriptor.  Bytes invalid in their
 * charset become U+FFFD.  Does not know column types: callers pick base64.
 */
#ifndef RC_SOURCE_MYSQL_CHARSET_H
#define RC_SOURCE_MYSQL_CHARSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* The collation id of the binary pseudo-charset ("binary"). */
#define CHARSET_BINARY 63

/*
 * The charset name ("utf8mb4", "latin1", ...) of a collation id, or NULL
 * when the id is unknown (0 included).  Unknown ids are read as UTF-8.
 */
const char *charset_name(uint32_t collation);

/* True when the collation is the binary pseudo-charset (63). */
bool charset_is_binary(uint32_t collation);

/*
 * Append the JSON string literal (with the quotes) of the n bytes at s,
 * text in the collation's charset, as UTF-8.  Each invalid byte or code
 * unit becomes U+FFFD and adds one to *bad (when bad is not NULL).
 * Collation 63 (binary) gives the base64 of the bytes instead.
 */
void charset_json_str(uint32_t collation, const uint8_t *s, size_t n,
		      struct rc_buf *out, unsigned *bad);

/*
 * Append the raw UTF-8 (no quotes, no escaping) of the n bytes at s, text
 * in the collation's charset; invalid input as in charset_json_str.
 * Collation 63 and unknown ids are read as UTF-8.
 */
void charset_to_utf8(uint32_t collation, const uint8_t *s, size_t n,
		     struct rc_buf *out, unsigned *bad);

/* Close the calling thread's cached iconv descriptors (at thread exit). */
void charset_release(void);

#endif
