/* SPDX-License-Identifier: MIT */
/*
 * Test helper: builds binlog events byte by byte, as the server's docs lay
 * them out, with a correct CRC32 when asked.
 */
#ifndef RC_TEST_EVBUILD_H
#define RC_TEST_EVBUILD_H

#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "base/buf.h"

static inline void eb_le(struct rc_buf *b, uint64_t v, int k)
{
	for (int i = 0; i < k; i++)
		buf_putc(b, (char)(v >> (8 * i)));
}

static inline void eb_be(struct rc_buf *b, uint64_t v, int k)
{
	for (int i = k - 1; i >= 0; i--)
		buf_putc(b, (char)(v >> (8 * i)));
}

static inline void eb_lenenc(struct rc_buf *b, uint64_t v)
{
	if (v < 251) {
		eb_le(b, v, 1);
	} else if (v < 65536) {
		buf_putc(b, (char)252);
		eb_le(b, v, 2);
	} else {
		buf_putc(b, (char)253);
		eb_le(b, v, 3);
	}
}

static inline void eb_str8(struct rc_buf *b, const char *s)
{
	eb_le(b, strlen(s), 1);
	buf_puts(b, s);
}

/* Start an event: 19-byte header with size and log_pos fixed up later. */
static inline size_t eb_begin(struct rc_buf *b, uint8_t type, uint32_t ts, uint32_t server)
{
	size_t start = b->len;

	eb_le(b, ts, 4);
	eb_le(b, type, 1);
	eb_le(b, server, 4);
	eb_le(b, 0, 4);		/* size */
	eb_le(b, 0, 4);		/* log_pos */
	eb_le(b, 0, 2);		/* flags */
	return start;
}

/* Finish an event: append the CRC32 when crc, set size and log_pos
 * (file offset base + end of the event in b). */
static inline void eb_end(struct rc_buf *b, size_t start, int crc, uint32_t base)
{
	uint32_t size = (uint32_t)(b->len - start) + (crc ? 4 : 0);
	uint8_t *p = (uint8_t *)b->data + start;

	for (int i = 0; i < 4; i++) {
		p[9 + i] = (uint8_t)(size >> (8 * i));
		p[13 + i] = (uint8_t)((base + start + size) >> (8 * i));
	}
	if (crc) {
		uLong c = crc32(0L, (const Bytef *)b->data + start, (uInt)(b->len - start));

		eb_le(b, c, 4);
	}
}

#endif
