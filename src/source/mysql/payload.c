/* SPDX-License-Identifier: MIT */
/*
 * MySQL 8's TRANSACTION_PAYLOAD: a whole transaction's events, compressed
 * (zstd) or not, inside one event.  The inner events carry no checksum and
 * no log position; they are decompressed a window at a time and fed to the
 * decoder as if they stood in the log at the payload's offset, so memory
 * is bounded by the largest inner event, not by the transaction.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "base/log.h"
#include "source/mysql/internal.h"

enum {
	PL_END = 0, PL_SIZE = 1, PL_COMPRESSION = 2, PL_UNCOMPRESSED_SIZE = 3,
};
enum { PL_ZSTD = 0, PL_NONE = 255 };

/* Feed every whole event at the start of buf; keep the partial rest. */
static bool feed_complete(struct decoder *d, struct rc_buf *buf, size_t *start,
			  uint64_t *count, char *err, size_t errlen)
{
	for (;;) {
		size_t avail = buf->len - *start;
		const uint8_t *p = (const uint8_t *)buf->data + *start;
		uint32_t size;

		if (avail < EV_HEADER_LEN)
			break;
		size = (uint32_t)le_get(p + 9, 4);
		if (size < EV_HEADER_LEN || size > (1u << 30)) {
			snprintf(err, errlen, "inner event %" PRIu64 " has size %u", *count, size);
			return false;
		}
		if (avail < size)
			break;
		d->offset = d->next_offset = d->payload_offset;
		if (!decoder_feed_one(d, p, size, err, errlen))
			return false;
		(*count)++;
		*start += size;
	}
	/* slide the partial event to the front now and then */
	if (*start > 0 && (*start >= buf->len / 2 || *start == buf->len)) {
		memmove(buf->data, buf->data + *start, buf->len - *start);
		buf->len -= *start;
		*start = 0;
	}
	return true;
}

bool payload_parse(struct decoder *d, const uint8_t *body, size_t n, char *err, size_t errlen)
{
	struct rd r = { body, n };
	uint64_t type, len, val, comp = PL_NONE, size = 0, usize = 0;
	struct rc_buf *buf = &d->payload_buf;
	size_t start = 0;
	uint64_t count = 0;
	bool ok = false;

	for (;;) {
		if (!rd_lenenc(&r, &type))
			goto trunc;
		if (type == PL_END)
			break;
		if (!rd_lenenc(&r, &len) || len > r.n)
			goto trunc;
		{
			struct rd f = { r.p, (size_t)len };

			if (!rd_lenenc(&f, &val))
				goto trunc;
		}
		rd_skip(&r, (size_t)len);
		if (type == PL_SIZE)
			size = val;
		else if (type == PL_COMPRESSION)
			comp = val;
		else if (type == PL_UNCOMPRESSED_SIZE)
			usize = val;
	}
	if (size != r.n) {
		snprintf(err, errlen, "payload size field says %" PRIu64 " bytes, %zu follow", size,
			 r.n);
		return false;
	}
	if (comp != PL_ZSTD && comp != PL_NONE) {
		snprintf(err, errlen, "compression type %" PRIu64 " is not supported", comp);
		return false;
	}
	d->payload_offset = d->offset;
	d->payload_end = d->next_offset;
	d->in_payload = true;
	buf_reset(buf);
	if (comp == PL_NONE) {
		buf_append(buf, r.p, r.n);
		if (!feed_complete(d, buf, &start, &count, err, errlen))
			goto out;
	} else {
		ZSTD_inBuffer in = { r.p, r.n, 0 };

		if (!d->zstd) {
			d->zstd = ZSTD_createDCtx();
			if (!d->zstd)
				log_oom();
		}
		ZSTD_DCtx_reset(d->zstd, ZSTD_reset_session_only);
		for (;;) {
			ZSTD_outBuffer outb;
			size_t zr;

			buf_reserve(buf, 128 * 1024);
			outb.dst = buf->data + buf->len;
			outb.size = buf->cap - buf->len - 1;
			outb.pos = 0;
			zr = ZSTD_decompressStream(d->zstd, &outb, &in);
			if (ZSTD_isError(zr)) {
				snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(zr));
				goto out;
			}
			buf->len += outb.pos;
			if (!feed_complete(d, buf, &start, &count, err, errlen))
				goto out;
			if (zr == 0 && in.pos == in.size)
				break;
			if (outb.pos == 0 && in.pos == in.size) {
				snprintf(err, errlen, "zstd: compressed data ends early");
				goto out;
			}
		}
	}
	if (buf->len - start != 0) {
		snprintf(err, errlen, "payload ends inside an event (%zu bytes left)",
			 buf->len - start);
		goto out;
	}
	(void)usize;
	ok = true;
out:
	d->in_payload = false;
	d->offset = d->payload_offset;
	d->next_offset = d->payload_end;
	if (buf->cap > (4u << 20))
		buf_free(buf);	/* a huge inner event: give the memory back */
	return ok;
trunc:
	snprintf(err, errlen, "payload header truncated");
	return false;
}

/*
 * MariaDB's compressed events (log_bin_compress): one header byte (0x80 |
 * algorithm << 4 | bytes of length), the uncompressed length big-endian in
 * that many bytes, then zlib data.
 */
bool maria_uncompress(const uint8_t *src, size_t n, struct rc_buf *out, char *err,
		      size_t errlen)
{
	unsigned lenlen;
	uint64_t want = 0;
	uLongf got;

	if (n < 1 || !(src[0] & 0x80)) {
		snprintf(err, errlen, "compressed data has no compression header");
		return false;
	}
	if ((src[0] & 0x70) != 0) {
		snprintf(err, errlen, "compression algorithm %u is not supported", (src[0] & 0x70) >> 4);
		return false;
	}
	lenlen = src[0] & 0x07;
	if (lenlen < 1 || lenlen > 4 || n < 1 + lenlen) {
		snprintf(err, errlen, "compressed data: bad length header");
		return false;
	}
	for (unsigned i = 0; i < lenlen; i++)
		want = want << 8 | src[1 + i];
	if (want > (1u << 30)) {
		snprintf(err, errlen, "compressed data says %" PRIu64 " bytes", want);
		return false;
	}
	buf_reset(out);
	buf_reserve(out, (size_t)want);
	got = (uLongf)want;
	if (uncompress((Bytef *)out->data, &got, src + 1 + lenlen, (uLong)(n - 1 - lenlen)) != Z_OK ||
	    got != want) {
		snprintf(err, errlen, "zlib: compressed data is damaged");
		return false;
	}
	out->len = (size_t)got;
	out->data[out->len] = '\0';
	return true;
}
