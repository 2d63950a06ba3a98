/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is the body of a binlog file (the 4-byte
 * magic fe 62 69 6e is optional).  It is cut into events by the size field
 * of each header, as `rowcast decode` does, and fed to a fresh decoder
 * whose row callback formats every row change with native_format, the text
 * the daemon publishes.  Decoding stops at the first false.
 *
 * Each input is decoded twice:
 *   1. as it is;
 *   2. with decoder_expect_checksum(d, true) before the first event and
 *      each event's last 4 bytes replaced by the CRC32 of the rest, so that
 *      mutated events of checksummed binlogs (the MySQL 8 and MariaDB
 *      default) get past the CRC check and reach the event parsers.
 *
 * Every event is copied into its own heap block of exactly its size, so
 * AddressSanitizer sees a read past the event end (it would otherwise land
 * in the next event of the input).
 *
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/buf.h"
#include "base/log.h"
#include "source/mysql/decoder.h"
#include "route/native.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct decoder *dec;
	struct rc_buf out;		/* message text, reused across rows */
	volatile unsigned sink;		/* keeps the reads below from being dropped */
};

static struct fz fz;

static bool fz_begin(void *ctx, const struct dec_trx *trx)
{
	(void)ctx;
	(void)trx;
	return true;
}


static bool fz_row(void *ctx, const struct dec_trx *trx, const struct ch_row *row)
{
	struct fz *f = ctx;


	native_format(&f->out, &trx->ch, row);
	return true;
}

static bool fz_commit(void *ctx, const struct dec_trx *trx, const char *file, uint64_t next)
{
	(void)ctx;
	(void)trx;
	(void)file;
	(void)next;
	return true;
}

/* Non-row events: read the query text the decoder points at, so a length
 * that runs past the event is seen by AddressSanitizer.  Nothing else. */
static bool fz_event(void *ctx, const struct dec_trx *trx, const struct dec_event_info *ev)
{
	struct fz *f = ctx;
	unsigned s = 0;

	(void)trx;
	if (ev->query)
		for (size_t i = 0; i < ev->query_len; i++)
			s += (unsigned char)ev->query[i];
	f->sink = s;
	return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(LOG_ERROR, 0, "fuzz");
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}


static void run(const uint8_t *data, size_t size, bool crc)
{
	static const uint8_t magic[4] = { 0xfe, 'b', 'i', 'n' };
	static const struct dec_callbacks cb = { .on_begin = fz_begin, .on_row = fz_row,
						 .on_commit = fz_commit, .on_event = fz_event,
						 .ctx = &fz };
	struct dec_callbacks c = cb;
	size_t pos = 0;
	uint64_t off = 4;
	char err[1024];

	if (size >= 4 && memcmp(data, magic, 4) == 0)
		pos = 4;
	c.ctx = &fz;
	fz.dec = decoder_new(&c);
	if (crc)
		decoder_expect_checksum(fz.dec, true);
	while (size - pos >= EV_HEADER_LEN) {
		uint32_t evlen = le32(data + pos + 9);
		uint8_t *ev;
		bool ok;

		if (evlen < EV_HEADER_LEN || evlen > size - pos)
			break;
		ev = malloc(evlen);
		if (!ev)
			abort();
		memcpy(ev, data + pos, evlen);
		if (crc && evlen >= EV_HEADER_LEN + 4) {
			uint32_t sum = (uint32_t)crc32(0L, ev, (uInt)(evlen - 4));

			ev[evlen - 4] = (uint8_t)sum;
			ev[evlen - 3] = (uint8_t)(sum >> 8);
			ev[evlen - 2] = (uint8_t)(sum >> 16);
			ev[evlen - 1] = (uint8_t)(sum >> 24);
		}
		decoder_set_file(fz.dec, "fuzz", off);
		err[0] = '\0';
		ok = decoder_feed(fz.dec, ev, evlen, err, sizeof(err)) == DEC_OK;
		free(ev);
		if (!ok)
			break;
		pos += evlen;
		off += evlen;
	}
	decoder_free(fz.dec);
	fz.dec = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, false);
	run(data, size, true);
	return 0;
}
