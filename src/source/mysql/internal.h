/* SPDX-License-Identifier: MIT */
/*
 * Private to the binlog decoder: the decoder's state and a bounds-checked byte
 * reader.  Every read of event bytes goes through struct rd, so a short or
 * damaged event becomes an error, never a read past its end.
 */
#ifndef RC_SOURCE_MYSQL_INTERNAL_H
#define RC_SOURCE_MYSQL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "source/mysql/decoder.h"

/* A cursor over bytes; reads fail (return false) instead of overrunning. */
struct rd {
	const uint8_t *p;	/* next byte */
	size_t n;		/* bytes left */
};

static inline bool rd_skip(struct rd *r, size_t k)
{
	if (r->n < k)
		return false;
	r->p += k;
	r->n -= k;
	return true;
}

static inline bool rd_u8(struct rd *r, uint8_t *v)
{
	if (r->n < 1)
		return false;
	*v = r->p[0];
	r->p++;
	r->n--;
	return true;
}

/* Little-endian unsigned of k bytes (1..8). */
static inline bool rd_le(struct rd *r, size_t k, uint64_t *v)
{
	uint64_t x = 0;

	if (r->n < k)
		return false;
	for (size_t i = 0; i < k; i++)
		x |= (uint64_t)r->p[i] << (8 * i);
	r->p += k;
	r->n -= k;
	*v = x;
	return true;
}

/* Length-encoded integer of the client/server protocol. */
static inline bool rd_lenenc(struct rd *r, uint64_t *v)
{
	uint8_t c;

	if (!rd_u8(r, &c))
		return false;
	if (c < 251) {
		*v = c;
		return true;
	}
	if (c == 252)
		return rd_le(r, 2, v);
	if (c == 253)
		return rd_le(r, 3, v);
	if (c == 254)
		return rd_le(r, 8, v);
	return false;	/* 251 is NULL, 255 is not a length */
}

static inline uint64_t le_get(const uint8_t *p, size_t k)
{
	uint64_t x = 0;

	for (size_t i = 0; i < k; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

#define DEC_MAX_TABLES 256

struct decoder {
	struct dec_callbacks cb;	/* the consumer */
	char file[512];			/* binlog file name */
	uint64_t offset;		/* start offset of the event being fed */
	uint64_t next_offset;		/* where the next event starts */
	int checksum;			/* -1 unknown, 0 none, 1 CRC32 */
	bool mariadb;			/* FDE server version says MariaDB */
	char server_version[64];	/* from the FDE */
	uint8_t post_header[256];	/* post-header length per type-1 */
	unsigned n_post;		/* entries of post_header from the FDE */
	bool have_fde;			/* a FORMAT_DESCRIPTION was seen */
	bool stopped;			/* a callback returned false in this feed */

	struct dec_trx trx;		/* transaction being read */
	bool in_begin;			/* BEGIN seen (MySQL) or GTID (MariaDB) */
	bool gtid_expects_begin;	/* MySQL GTID read, BEGIN not yet */

	struct dec_table tables[DEC_MAX_TABLES]; /* maps, by id */
	bool active[DEC_MAX_TABLES];	/* valid for the current statement */
	unsigned ntables;		/* slots used */
	unsigned evict_next;		/* round-robin eviction */

	struct dec_image img[2];	/* before/after, reused */
	uint8_t *bitmap[2];		/* columns-present bitmaps, reused */
	size_t bitmap_cap;
	struct dec_value_stats vstats;	/* value decoder counters */
	uint64_t ignored;		/* ignorable unknown events skipped */
	char errbuf[256];		/* scratch for value errors */
	struct rc_buf scratch;		/* decompression etc. */
	struct rc_buf query_utf8;	/* QUERY text converted to UTF-8 */

	/* TRANSACTION_PAYLOAD being unpacked (payload.c) */
	bool in_payload;		/* feeding its inner events */
	uint64_t payload_offset;	/* offset of the payload event */
	uint64_t payload_end;		/* offset after it */
	struct rc_buf payload_buf;	/* decompressed window */
	struct ZSTD_DCtx_s *zstd;	/* reused decompression context */
};

/* tablemap.c */
/* prefix then the formatted message into err (when err has room); false. */
bool dec_vfail(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

bool tablemap_parse(struct decoder *d, const uint8_t *body, size_t n, uint8_t ph_len,
		    char *err, size_t errlen);
struct dec_table *tablemap_find(struct decoder *d, uint64_t id);
void tablemap_end_statement(struct decoder *d);
void tablemap_free_all(struct decoder *d);

/* decoder.c: decoder_feed() without its result: false on an error or a
 * stop (stopped tells which); payload.c feeds inner events through it */
bool decoder_feed_one(struct decoder *d, const uint8_t *ev, size_t len, char *err, size_t errlen);

/* payload.c */
bool payload_parse(struct decoder *d, const uint8_t *body, size_t n, char *err, size_t errlen);

bool maria_uncompress(const uint8_t *src, size_t n, struct rc_buf *out, char *err,
		      size_t errlen);

/* rows.c */
bool rows_parse(struct decoder *d, uint8_t type, const uint8_t *body, size_t n,
		uint8_t ph_len, char *err, size_t errlen);

#endif
