/* SPDX-License-Identifier: MIT */
/*
 * `rowcast decode`: binlog files in, one native JSON message per row
 * change out (the same text the daemon publishes), and with --events one
 * line per other event.  With -c FILE the rows go through that config's
 * router (filters, routes, conditions, scripts) instead, and each message
 * it makes is printed.  Reads files; connects to nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "app/cli.h"
#include "base/log.h"
#include "config/config.h"
#include "source/mysql/decoder.h"
#include "route/native.h"
#include "route/router.h"

struct dec_cli {
	struct decoder *dec;		/* the decoder */
	struct rc_buf out;		/* message text, reused */
	bool events;			/* --events */
	uint64_t rows;			/* row changes printed */
	uint64_t stmt_dml;		/* statement-based DML seen */
	const char *file;		/* file being read */
	struct router *router;		/* -c: the config's routes, else NULL */
	struct q_entry e;		/* -c: the message being made */
	uint64_t unpublishable;		/* -c: messages the routes could not make */
};

static struct q_entry *routed_next(void *ctx)
{
	struct dec_cli *c = ctx;

	return &c->e;
}

/* A routed message: its topic, id and payload on one line (tab separated),
 * as `rowcast test` prints them. */
static void routed_push(void *ctx, struct q_entry *e, bool last)
{
	(void)ctx;
	(void)last;
	printf("%.*s\t%s\t%.*s\n", (int)e->topic.len, e->topic.data ? e->topic.data : "",
	       e->id.data ? e->id.data : "", (int)e->payload.len,
	       e->payload.data ? e->payload.data : "");
}

static bool routed_fail(void *ctx, const char *why)
{
	struct dec_cli *c = ctx;

	c->unpublishable++;
	log_warn("%s (skipped)", why);
	return true;
}

static void cli_table_gone(void *ctx, struct dec_table *t)
{
	(void)ctx;
	router_plan_free(t->ch.user);
	t->ch.user = NULL;
}

static bool cli_row(void *ctx, const struct dec_trx *trx, const struct ch_row *row)
{
	struct dec_cli *c = ctx;

	if (c->router) {
		/* the decoder's table view; its user cache is ours (table_gone) */
		struct ch_table *t = (struct ch_table *)row->table;
		struct route_out out = { routed_next, routed_push, routed_fail, c };
		char err[700];

		if (!t->user)
			t->user = router_plan(c->router, t);
		(void)router_row(c->router, t->user, &trx->ch, decoder_file(c->dec),
				 decoder_offset(c->dec), row, &out, err, sizeof(err));
		c->rows++;
		return true;
	}
	native_format(&c->out, &trx->ch, row);
	buf_putc(&c->out, '\n');
	fwrite(c->out.data, 1, c->out.len, stdout);
	c->rows++;
	return true;
}

static bool cli_event(void *ctx, const struct dec_trx *trx, const struct dec_event_info *ev)
{
	struct dec_cli *c = ctx;

	if (ev->is_dml_statement) {
		c->stmt_dml++;
		log_write(LOG_WARN, NULL, "%s:%" PRIu64 ": statement-based DML is not decoded: %.*s",
			  decoder_file(c->dec), ev->offset,
			  (int)(ev->query_len > 200 ? 200 : ev->query_len), ev->query);
	}
	if (!c->events)
		return true;
	buf_reset(&c->out);
	buf_puts(&c->out, "{\"event\":");
	buf_json_str(&c->out, ev->type_name, strlen(ev->type_name), NULL);
	buf_puts(&c->out, ",\"file\":");
	buf_json_str(&c->out, decoder_file(c->dec), strlen(decoder_file(c->dec)), NULL);
	buf_puts(&c->out, ",\"offset\":");
	buf_put_u64(&c->out, ev->offset);
	if (trx->active && trx->ch.gtid[0]) {
		buf_puts(&c->out, ",\"gtid\":");
		buf_json_str(&c->out, trx->ch.gtid, strlen(trx->ch.gtid), NULL);
	}
	if (ev->query) {
		buf_puts(&c->out, ",\"query\":");
		buf_json_str(&c->out, ev->query, ev->query_len, NULL);
		if (ev->is_ddl)
			buf_puts(&c->out, ",\"ddl\":true");
	}
	buf_puts(&c->out, "}\n");
	fwrite(c->out.data, 1, c->out.len, stdout);
	return true;
}

static bool cli_commit(void *ctx, const struct dec_trx *trx, const char *file, uint64_t next)
{
	struct dec_cli *c = ctx;

	if (!c->events)
		return true;
	buf_reset(&c->out);
	buf_puts(&c->out, "{\"event\":\"COMMIT\",\"file\":");
	buf_json_str(&c->out, file, strlen(file), NULL);
	buf_puts(&c->out, ",\"next_offset\":");
	buf_put_u64(&c->out, next);
	if (trx->ch.gtid[0]) {
		buf_puts(&c->out, ",\"gtid\":");
		buf_json_str(&c->out, trx->ch.gtid, strlen(trx->ch.gtid), NULL);
	}
	buf_puts(&c->out, ",\"rows\":");
	buf_put_u64(&c->out, trx->ch.nrows);
	buf_puts(&c->out, "}\n");
	fwrite(c->out.data, 1, c->out.len, stdout);
	return true;
}

/* Read one binlog file through the decoder; false on the first error. */
static bool decode_file(struct dec_cli *c, const char *path, uint64_t start)
{
	static const uint8_t magic[4] = { 0xfe, 'b', 'i', 'n' };
	struct rc_buf ev = { 0 };
	uint8_t hdr[EV_HEADER_LEN];
	char err[1024];
	const char *base = strrchr(path, '/');
	uint64_t off = 4;
	bool ok = false;
	FILE *f = fopen(path, "rb");

	base = base ? base + 1 : path;
	if (!f) {
		log_error("%s: %s", path, strerror(errno));
		return false;
	}
	if (fread(hdr, 1, 4, f) != 4 || memcmp(hdr, magic, 4)) {
		log_error("%s: not a binlog file (no magic number)", path);
		goto out;
	}
	for (;;) {
		size_t got = fread(hdr, 1, EV_HEADER_LEN, f);
		uint32_t size;

		if (got == 0)
			break;
		if (got < EV_HEADER_LEN) {
			log_error("%s:%" PRIu64 ": truncated event header (%zu of 19 bytes)", path,
				  off, got);
			goto out;
		}
		size = (uint32_t)hdr[9] | (uint32_t)hdr[10] << 8 | (uint32_t)hdr[11] << 16 |
		       (uint32_t)hdr[12] << 24;
		if (size < EV_HEADER_LEN || size > (1u << 30)) {
			log_error("%s:%" PRIu64 ": event size %u is not plausible", path, off, size);
			goto out;
		}
		buf_reset(&ev);
		buf_reserve(&ev, size);
		memcpy(ev.data, hdr, EV_HEADER_LEN);
		if (fread(ev.data + EV_HEADER_LEN, 1, size - EV_HEADER_LEN, f) !=
		    size - EV_HEADER_LEN) {
			log_error("%s:%" PRIu64 ": truncated %s event (%u bytes announced)", path,
				  off, decoder_event_name(hdr[4]), size);
			goto out;
		}
		/* before --start-position only the format event is needed */
		if (off < start && hdr[4] != EV_FORMAT_DESCRIPTION) {
			off += size;
			continue;
		}
		decoder_set_file(c->dec, base, off);
		if (decoder_feed(c->dec, (uint8_t *)ev.data, size, err, sizeof(err)) != DEC_OK) {
			log_error("%s", err);
			goto out;
		}
		off += size;
	}
	ok = true;
out:
	fclose(f);
	buf_free(&ev);
	return ok;
}

int cli_decode(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "start-position", required_argument, NULL, 's' },
		{ "events", no_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dec_cli c = { 0 };
	struct dec_callbacks cb = { .on_row = cli_row, .on_commit = cli_commit,
				     .on_event = cli_event, .ctx = &c,
				     .table_gone = cli_table_gone };
	const char *cfgpath = NULL;
	uint64_t start = 0;
	int opt, rc = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:s:ec:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (strcmp(optarg, "native")) {
				fprintf(stderr, "rowcast decode: unknown format '%s' (known: native)\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			start = strtoull(optarg, NULL, 10);
			break;
		case 'e':
			c.events = true;
			break;
		case 'c':
			cfgpath = optarg;
			break;
		case 'h':
			printf("Usage: rowcast decode [--format native] [--start-position N] [--events]\n"
			       "                      [-c CONFIG] FILE...\n"
			       "Decode binlog files; print one JSON message per row change, or with\n"
			       "-c the messages the config's routes make of it (topic, id, payload).\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "rowcast decode: no binlog file given\n");
		return 2;
	}
	if (cfgpath) {
		struct rc_config *cfg;
		struct rc_error e = { 0 };
		char err[1024];

		if (config_load(cfgpath, CONFIG_NO_SECRETS, &cfg, &e) != RC_OK)
			return 78;	/* every bad line was logged */
		c.router = router_new(cfg, err, sizeof(err));
		rc_config_free(cfg);
		if (!c.router) {
			log_error("%s", err);
			return 78;
		}
	}
	for (int i = optind; i < argc && rc == 0; i++) {
		c.dec = decoder_new(&cb);
		if (!decode_file(&c, argv[i], i == optind ? start : 0))
			rc = 1;
		if (decoder_bad_chars(c.dec))
			log_warn("%s: %" PRIu64 " bytes invalid in their charset became U+FFFD",
				 argv[i], decoder_bad_chars(c.dec));
		decoder_free(c.dec);
	}
	fflush(stdout);
	buf_free(&c.out);
	buf_free(&c.e.topic);
	buf_free(&c.e.payload);
	buf_free(&c.e.id);
	buf_free(&c.e.headers);
	router_free(c.router);
	return rc;
}
