/* SPDX-License-Identifier: MIT */
/*
 * amqp_pub: the bare AMQP 0-9-1 publisher of the rowcast benchmark
 * (librabbitmq, publisher confirms), and its helpers.
 *
 *   amqp_pub setup   HOST PORT EXCHANGE QUEUE
 *       declare a durable topic EXCHANGE and a QUEUE bound to it with '#',
 *       then purge the queue
 *   amqp_pub publish HOST PORT EXCHANGE ROUTING_KEY FILE [WINDOW [PERSISTENT [HEADERS]]]
 *       publish every line of FILE (without its newline) with confirms,
 *       at most WINDOW (default 1000) unconfirmed; prints
 *       "published N confirmed N nacked N seconds S".  HEADERS 1: the
 *       properties rowcast's AMQP sink sets, taken from each line (a
 *       rowcast native message): message_id = its "id", headers gtid, db,
 *       table and op, so that the broker has the same work per message
 *   amqp_pub count   HOST PORT QUEUE N TIMEOUT_S
 *       wait until QUEUE holds N messages; prints "count C seconds S"
 *       (exit 1 on timeout)
 *   amqp_pub purge   HOST PORT QUEUE
 *
 * Build: gcc -O2 -o amqp_pub amqp_pub.c -lrabbitmq
 * User guest/guest, vhost "/".
 */
#define _GNU_SOURCE	/* memmem */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "line_field.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die_reply(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		fprintf(stderr, "amqp_pub: %s: %s\n", what, amqp_error_string2(r.library_error));
	else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
		 r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *m = r.reply.decoded;
		fprintf(stderr, "amqp_pub: %s: channel closed %u %.*s\n", what, m->reply_code,
			(int)m->reply_text.len, (char *)m->reply_text.bytes);
	} else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
		   r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = r.reply.decoded;
		fprintf(stderr, "amqp_pub: %s: connection closed %u %.*s\n", what, m->reply_code,
			(int)m->reply_text.len, (char *)m->reply_text.bytes);
	} else
		fprintf(stderr, "amqp_pub: %s: failed (reply type %d)\n", what, r.reply_type);
	exit(2);
}

static amqp_connection_state_t connect_to(const char *host, int port)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);

	if (!s || amqp_socket_open(s, host, port) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp_pub: cannot connect to %s:%d\n", host, port);
		exit(2);
	}
	die_reply(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
		  "login");
	amqp_channel_open(c, 1);
	die_reply(amqp_get_rpc_reply(c), "channel.open");
	return c;
}

static void finish(amqp_connection_state_t c)
{
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}

static uint32_t queue_count(amqp_connection_state_t c, const char *queue)
{
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0,
							 amqp_empty_table);
	die_reply(amqp_get_rpc_reply(c), "queue.declare passive");
	return ok->message_count;
}

/* Read one confirm (basic.ack / basic.nack) or fail.  Returns the number
 * of messages it settles given the last settled tag. */
static uint64_t read_confirm(amqp_connection_state_t c, uint64_t settled, uint64_t *nacked,
			     const struct timeval *tv)
{
	amqp_frame_t f;
	int rc = amqp_simple_wait_frame_noblock(c, &f, tv);

	if (rc == AMQP_STATUS_TIMEOUT)
		return 0;
	if (rc != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp_pub: wait frame: %s\n", amqp_error_string2(rc));
		exit(2);
	}
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 0;
	if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
		amqp_basic_ack_t *a = f.payload.method.decoded;
		uint64_t upto = a->multiple ? a->delivery_tag : settled + 1;
		if (!a->multiple && a->delivery_tag != settled + 1)
			upto = a->delivery_tag > settled ? a->delivery_tag : settled;
		return upto > settled ? upto - settled : 0;
	}
	if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
		amqp_basic_nack_t *n = f.payload.method.decoded;
		uint64_t upto = n->multiple ? n->delivery_tag : settled + 1;
		uint64_t k = upto > settled ? upto - settled : 0;
		*nacked += k;
		return k;
	}
	if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
	    f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		fprintf(stderr, "amqp_pub: broker closed the channel\n");
		exit(2);
	}
	return 0;
}

/* The string value of "key":"..." in a native message line, or an empty one. */
static amqp_bytes_t field(const char *line, size_t len, const char *key)
{
	size_t n;
	const char *p = line_field(line, len, key, &n);

	return n ? (amqp_bytes_t){ .len = n, .bytes = (void *)p } : amqp_empty_bytes;
}

static int do_publish(int argc, char **argv)
{
	const char *host = argv[2], *exchange = argv[4], *rkey = argv[5], *path = argv[6];
	int port = atoi(argv[3]);
	uint64_t window = argc > 7 ? strtoull(argv[7], NULL, 10) : 1000;
	int persistent = argc > 8 ? atoi(argv[8]) : 0;
	int headers = argc > 9 ? atoi(argv[9]) : 0;
	amqp_table_entry_t h[4];
	FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t sent = 0, settled = 0, nacked = 0;
	amqp_connection_state_t c;
	amqp_basic_properties_t p;
	struct timeval zero = { 0, 0 }, block = { 5, 0 };
	double t0;

	if (!in) {
		perror(path);
		return 2;
	}
	c = connect_to(host, port);
	amqp_confirm_select(c, 1);
	die_reply(amqp_get_rpc_reply(c), "confirm.select");
	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.content_type = amqp_cstring_bytes("application/json");
	p.delivery_mode = persistent ? 2 : 1;
	t0 = now();
	while ((len = getline(&line, &cap, in)) > 0) {
		amqp_bytes_t body;

		if (line[len - 1] == '\n')
			len--;
		body.bytes = line;
		body.len = (size_t)len;
		if (headers) {
			static const char *const keys[4] = { "gtid", "db", "table", "op" };

			for (int i = 0; i < 4; i++) {
				h[i].key = amqp_cstring_bytes(keys[i]);
				h[i].value.kind = AMQP_FIELD_KIND_UTF8;
				h[i].value.value.bytes = field(line, (size_t)len, keys[i]);
			}
			p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
			p.message_id = field(line, (size_t)len, "id");
			p.headers.num_entries = 4;
			p.headers.entries = h;
		}
		while (sent - settled >= window) {
			uint64_t k = read_confirm(c, settled, &nacked, &block);
			if (k == 0 && sent - settled >= window)
				continue;
			settled += k;
		}
		if (amqp_basic_publish(c, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(rkey),
				       0, 0, &p, body) != AMQP_STATUS_OK) {
			fprintf(stderr, "amqp_pub: publish failed\n");
			return 2;
		}
		sent++;
		/* take the confirms that are already here, without waiting */
		for (;;) {
			uint64_t k = read_confirm(c, settled, &nacked, &zero);
			if (!k)
				break;
			settled += k;
		}
	}
	while (settled < sent)
		settled += read_confirm(c, settled, &nacked, &block);
	printf("published %llu confirmed %llu nacked %llu seconds %.6f\n",
	       (unsigned long long)sent, (unsigned long long)settled, (unsigned long long)nacked,
	       now() - t0);
	finish(c);
	free(line);
	return nacked ? 1 : 0;
}

int main(int argc, char **argv)
{
	amqp_connection_state_t c;

	if (argc >= 6 && !strcmp(argv[1], "setup")) {
		c = connect_to(argv[2], atoi(argv[3]));
		amqp_exchange_declare(c, 1, amqp_cstring_bytes(argv[4]), amqp_cstring_bytes("topic"),
				      0, 1, 0, 0, amqp_empty_table);
		die_reply(amqp_get_rpc_reply(c), "exchange.declare");
		amqp_queue_declare(c, 1, amqp_cstring_bytes(argv[5]), 0, 0, 0, 0, amqp_empty_table);
		die_reply(amqp_get_rpc_reply(c), "queue.declare");
		amqp_queue_bind(c, 1, amqp_cstring_bytes(argv[5]), amqp_cstring_bytes(argv[4]),
				amqp_cstring_bytes("#"), amqp_empty_table);
		die_reply(amqp_get_rpc_reply(c), "queue.bind");
		amqp_queue_purge(c, 1, amqp_cstring_bytes(argv[5]));
		die_reply(amqp_get_rpc_reply(c), "queue.purge");
		finish(c);
		return 0;
	}
	if (argc >= 7 && !strcmp(argv[1], "publish"))
		return do_publish(argc, argv);
	if (argc >= 7 && !strcmp(argv[1], "count")) {
		uint32_t want = (uint32_t)strtoul(argv[5], NULL, 10), have = 0;
		double t0 = now(), limit = atof(argv[6]);

		c = connect_to(argv[2], atoi(argv[3]));
		while ((have = queue_count(c, argv[4])) < want && now() - t0 < limit) {
			struct timespec d = { 0, 2000000 };
			nanosleep(&d, NULL);
		}
		printf("count %u seconds %.6f\n", have, now() - t0);
		finish(c);
		return have >= want ? 0 : 1;
	}
	if (argc >= 5 && !strcmp(argv[1], "purge")) {
		c = connect_to(argv[2], atoi(argv[3]));
		amqp_queue_purge(c, 1, amqp_cstring_bytes(argv[4]));
		die_reply(amqp_get_rpc_reply(c), "queue.purge");
		finish(c);
		return 0;
	}
	fprintf(stderr, "usage: amqp_pub setup|publish|count|purge ... (see the source)\n");
	return 2;
}
