/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 sink over librabbitmq, with publisher confirms.
 *
 * librabbitmq is blocking, so one worker thread owns the connection and
 * does every socket operation; the loop thread never blocks on it:
 *
 *   publish()  (loop)   appends the entry to `pend` under a mutex;
 *   poll()     (loop)   wakes the worker through an eventfd, once a batch;
 *   worker              moves `pend` to its own FIFO `todo`, publishes up
 *                       to sink_max_inflight messages not yet confirmed,
 *                       and reads basic.ack / basic.nack / basic.return.
 *
 * publish() accepts entries at all times, also while disconnected: the
 * worker keeps them in order and sends them once connected.  The loop's
 * ring (twice sink_max_inflight entries) bounds what can wait here, and the
 * checkpoint follows acknowledgements only, so accepting early costs
 * nothing.  ready() tells whether a connection is up.
 *
 * Delivery tags are sequential per channel from 1 after confirm.select;
 * `ring` holds the entry of every tag in [first_tag, next_tag) that was
 * published on the current channel.  When the connection is lost, every
 * record not yet confirmed goes back to the front of `todo`, in the
 * original order, and is published again after the reconnect (the same
 * message_id: consumers can drop duplicates).
 *
 * An entry acknowledged with sink_ack() may be released and reused by the
 * loop at once: the worker never touches it after that call.
 */
#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "sink/sink.h"

#define AM_CHANNEL 1
#define AM_FRAME_MAX 131072
#define AM_KEY_MAX 255			/* AMQP short string */
#define AM_MAX_HEADERS 32		/* route/outbox headers carried at most */
#define AM_BATCH 256			/* publishes between two reads */
#define AM_IDLE_MS 200			/* longest wait without servicing heartbeats */
#define AM_CONNECT_S 10			/* TCP (and TLS) connect timeout */
#define AM_RPC_S 15			/* handshake and RPC timeout */
#define AM_UNROUTABLE_LOG_EVERY 1000	/* on_unroutable = count: log 1st, then every N */

/* One published message waiting for its confirm. */
struct am_rec {
	struct q_entry *e;		/* the entry (valid until done) */
	bool done;			/* acked or refused: nothing more to do */
	bool returned;			/* came back unroutable (counted) */
};

/* Results of the worker's steps. */
enum am_res {
	AM_OK = 0,
	AM_LOST = 1,			/* the connection broke: reconnect */
	AM_FATAL = 2,			/* reported through s->fatal: give up */
	AM_STOP = 3,			/* close() asked */
};

struct am_state {
	struct sink *sink;		/* back pointer */
	char peer[300];			/* host:port for messages */
	int wake_fd;			/* eventfd: loop/close -> worker */
	pthread_t thread;		/* the worker */
	bool started;			/* thread is joinable */
	atomic_int stop;		/* close() asked the worker to end */
	atomic_int connected;		/* a channel with confirms is up */
	atomic_int error_set;		/* s->error written (the first writer wins) */

	/* shutting a socket stuck in a blocking write (close() only) */
	pthread_mutex_t fd_mu;		/* guards sock_fd against its close */
	int sock_fd;			/* the connection's socket, -1 if none */

	/* loop -> worker */
	pthread_mutex_t mu;		/* guards pend, npend, cap_pend, signalled */
	struct q_entry **pend;		/* handed over, not yet taken */
	size_t npend, cap_pend;
	bool signalled;			/* the eventfd was written since the last take */

	/* worker only */
	amqp_connection_state_t conn;	/* NULL when not connected */
	struct q_entry **todo;		/* FIFO to publish: todo[todo_head..todo_n) */
	size_t todo_head, todo_n, cap_todo;
	struct am_rec *ring;		/* records by tag & (ring_cap - 1) */
	size_t ring_cap;		/* a power of two >= window */
	uint64_t first_tag;		/* oldest tag not known done */
	uint64_t next_tag;		/* tag of the next publish */
	uint64_t window;		/* most confirms outstanding */
	uint64_t unroutable;		/* returned messages counted */
	uint64_t published;		/* basic.publish calls (for the last log) */
};

/* ---- errors ------------------------------------------------------------ */

static void set_error(struct am_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write s->error once: later errors are consequences of the first. */
static void set_error(struct am_state *st, const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange(&st->error_set, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(st->sink->error, sizeof(st->sink->error), fmt, ap);
	va_end(ap);
}

/* Give up: the loop stops with s->error. */
static void fail(struct am_state *st, const char *msg)
{
	set_error(st, "%s", msg);
	atomic_store(&st->sink->fatal, 1);
	ev_async_send(st->sink->loop, st->sink->wake);
}

static const char *entry_id(const struct q_entry *e)
{
	return e->id.data ? e->id.data : "?";
}

/* A broker's reply in words: "403 ACCESS_REFUSED - ..." or the library's. */
static void describe_reply(amqp_rpc_reply_t r, char *out, size_t n)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		snprintf(out, n, "ok");
		return;
	case AMQP_RESPONSE_NONE:
		snprintf(out, n, "no reply");
		return;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(out, n, "%s", amqp_error_string2(r.library_error));
		return;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = r.reply.decoded;

			snprintf(out, n, "%u %.*s", m->reply_code, (int)m->reply_text.len,
				 (const char *)m->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = r.reply.decoded;

			snprintf(out, n, "%u %.*s", m->reply_code, (int)m->reply_text.len,
				 (const char *)m->reply_text.bytes);
		} else {
			snprintf(out, n, "unexpected method 0x%08x", (unsigned)r.reply.id);
		}
		return;
	}
	snprintf(out, n, "unknown reply");
}

static uint16_t close_code(amqp_rpc_reply_t r)
{
	if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
		return 0;
	if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
		return ((const amqp_connection_close_t *)r.reply.decoded)->reply_code;
	if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
		return ((const amqp_channel_close_t *)r.reply.decoded)->reply_code;
	return 0;
}

/* ---- routing keys ------------------------------------------------------ */

/* Fill the template; false when the key would pass 255 bytes. */
static bool render_key(const char *tmpl, const struct q_entry *e, char *out, size_t *outlen)
{
	size_t n = 0;
	const char *p = tmpl;

	while (*p) {
		const char *v = NULL;
		size_t skip = 0;

		if (*p == '{') {
			if (!strncmp(p, "{db}", 4)) {
				v = e->db;
				skip = 4;
			} else if (!strncmp(p, "{table}", 7)) {
				v = e->table;
				skip = 7;
			} else if (!strncmp(p, "{op}", 4)) {
				v = ch_op_name(e->op);
				skip = 4;
			}
		}
		if (v) {
			size_t len = strnlen(v, 256);

			if (n + len > AM_KEY_MAX)
				return false;
			memcpy(out + n, v, len);
			n += len;
			p += skip;
		} else {
			if (n + 1 > AM_KEY_MAX)
				return false;
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	*outlen = n;
	return true;
}

/* ---- worker: queues ---------------------------------------------------- */

static struct am_rec *rec_at(struct am_state *st, uint64_t tag)
{
	return &st->ring[tag & (st->ring_cap - 1)];
}

static size_t todo_len(const struct am_state *st)
{
	return st->todo_n - st->todo_head;
}

/* Room for extra more entries at the end of todo. */
static void todo_reserve(struct am_state *st, size_t extra)
{
	if (st->todo_head > 0 && st->todo_n + extra > st->cap_todo) {
		memmove(st->todo, st->todo + st->todo_head, todo_len(st) * sizeof(*st->todo));
		st->todo_n -= st->todo_head;
		st->todo_head = 0;
	}
	if (st->todo_n + extra > st->cap_todo) {
		size_t cap = st->cap_todo ? st->cap_todo : 256;

		while (cap < st->todo_n + extra)
			cap *= 2;
		st->todo = realloc(st->todo, cap * sizeof(*st->todo));
		if (!st->todo)
			log_oom();
		st->cap_todo = cap;
	}
}

/* Move what the loop handed over to the end of todo. */
static void take_pending(struct am_state *st)
{
	pthread_mutex_lock(&st->mu);
	if (st->npend) {
		todo_reserve(st, st->npend);
		memcpy(st->todo + st->todo_n, st->pend, st->npend * sizeof(*st->pend));
		st->todo_n += st->npend;
		st->npend = 0;
	}
	st->signalled = false;
	pthread_mutex_unlock(&st->mu);
}

/* After a lost connection: what was not confirmed goes first, in order. */
static size_t requeue_unconfirmed(struct am_state *st)
{
	size_t n = 0, rest = todo_len(st);
	struct q_entry **v;

	for (uint64_t t = st->first_tag; t < st->next_tag; t++)
		if (!rec_at(st, t)->done)
			n++;
	if (n) {
		size_t cap = st->cap_todo > n + rest ? st->cap_todo : n + rest;

		v = malloc(cap * sizeof(*v));
		if (!v)
			log_oom();
		n = 0;
		for (uint64_t t = st->first_tag; t < st->next_tag; t++)
			if (!rec_at(st, t)->done)
				v[n++] = rec_at(st, t)->e;
		if (rest)
			memcpy(v + n, st->todo + st->todo_head, rest * sizeof(*v));
		free(st->todo);
		st->todo = v;
		st->cap_todo = cap;
		st->todo_head = 0;
		st->todo_n = n + rest;
	}
	st->first_tag = st->next_tag = 1;	/* a new channel counts from 1 */
	return n;
}

/* ---- worker: connection ------------------------------------------------ */

static void drop_connection(struct am_state *st)
{
	if (!st->conn)
		return;
	pthread_mutex_lock(&st->fd_mu);
	st->sock_fd = -1;
	amqp_destroy_connection(st->conn);	/* closes the socket */
	st->conn = NULL;
	pthread_mutex_unlock(&st->fd_mu);
}

/* Polite goodbye, bounded by the RPC timeout, then drop. */
static void close_connection(struct am_state *st)
{
	struct timeval tv = { 2, 0 };

	if (!st->conn)
		return;
	amqp_set_rpc_timeout(st->conn, &tv);
	if (amqp_channel_close(st->conn, AM_CHANNEL, AMQP_REPLY_SUCCESS).reply_type ==
	    AMQP_RESPONSE_NORMAL)
		(void)amqp_connection_close(st->conn, AMQP_REPLY_SUCCESS);
	drop_connection(st);
}

/*
 * librabbitmq says only "a socket error occurred" when a connection fails;
 * try once more, briefly, to name the cause (refused, unreachable, no such
 * host).  False when that attempt finds nothing to say.
 */
static bool connect_reason(const char *host, int port, char *out, size_t n)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char portstr[16];
	int g, soerr = 0;

	snprintf(portstr, sizeof(portstr), "%d", port);
	g = getaddrinfo(host, portstr, &hints, &res);
	if (g) {
		snprintf(out, n, "%s", gai_strerror(g));
		return true;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		struct pollfd pfd;
		socklen_t len = sizeof(soerr);

		if (fd < 0) {
			soerr = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			soerr = 0;	/* it works now */
			close(fd);
			break;
		}
		soerr = errno;
		if (soerr == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, 2000) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0) {
				/* soerr: 0 connected, else the reason */
			} else {
				soerr = ETIMEDOUT;
			}
		}
		close(fd);
		if (!soerr)
			break;
	}
	freeaddrinfo(res);
	if (!soerr)
		return false;
	snprintf(out, n, "%s", strerror(soerr));
	return true;
}

/*
 * Connect, log in, open the channel, select confirms, declare the
 * exchange.  AM_OK, AM_LOST (worth retrying once we were connected) or
 * AM_FATAL (a setting is wrong: retrying cannot help); err says why.
 */
static enum am_res do_connect(struct am_state *st, char *err, size_t errlen)
{
	const struct rc_config *c = st->sink->cfg;
	struct timeval conn_tv = { AM_CONNECT_S, 0 }, rpc_tv = { AM_RPC_S, 0 };
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	char why[300];
	int rc;

	st->conn = amqp_new_connection();
	if (!st->conn)
		log_oom();
	if (c->amqp_tls) {
		sock = amqp_ssl_socket_new(st->conn);
		if (!sock) {
			snprintf(err, errlen, "amqp: cannot create a TLS socket");
			return AM_FATAL;
		}
		if (c->amqp_ca_file && c->amqp_ca_file[0] &&
		    (rc = amqp_ssl_socket_set_cacert(sock, c->amqp_ca_file)) != AMQP_STATUS_OK) {
			snprintf(err, errlen, "amqp: ca_file %s: %s", c->amqp_ca_file,
				 amqp_error_string2(rc));
			return AM_FATAL;
		}
		if (c->amqp_cert_file && c->amqp_cert_file[0] &&
		    (rc = amqp_ssl_socket_set_key(sock, c->amqp_cert_file,
						  c->amqp_key_file && c->amqp_key_file[0] ?
						  c->amqp_key_file : c->amqp_cert_file)) !=
		    AMQP_STATUS_OK) {
			snprintf(err, errlen, "amqp: cert_file %s / key_file %s: %s",
				 c->amqp_cert_file, c->amqp_key_file ? c->amqp_key_file : "",
				 amqp_error_string2(rc));
			return AM_FATAL;
		}
		amqp_ssl_socket_set_verify_peer(sock, 1);
		amqp_ssl_socket_set_verify_hostname(sock, c->amqp_verify_host ? 1 : 0);
	} else {
		sock = amqp_tcp_socket_new(st->conn);
		if (!sock) {
			snprintf(err, errlen, "amqp: cannot create a socket");
			return AM_FATAL;
		}
	}
	rc = amqp_socket_open_noblock(sock, c->amqp_host, c->amqp_port, &conn_tv);
	if (rc != AMQP_STATUS_OK) {
		if (rc == AMQP_STATUS_SOCKET_ERROR && connect_reason(c->amqp_host, c->amqp_port,
								     why, sizeof(why)))
			snprintf(err, errlen, "amqp: cannot connect to %s: %s", st->peer, why);
		else
			snprintf(err, errlen, "amqp: cannot connect to %s: %s", st->peer,
				 amqp_error_string2(rc));
		return AM_LOST;
	}
	pthread_mutex_lock(&st->fd_mu);
	st->sock_fd = amqp_get_sockfd(st->conn);
	pthread_mutex_unlock(&st->fd_mu);
	amqp_set_handshake_timeout(st->conn, &rpc_tv);
	amqp_set_rpc_timeout(st->conn, &rpc_tv);

	r = amqp_login(st->conn, c->amqp_vhost, 0, AM_FRAME_MAX, c->amqp_heartbeat_s,
		       AMQP_SASL_METHOD_PLAIN, c->amqp_user, c->amqp_password ? c->amqp_password : "");
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		uint16_t code = close_code(r);

		describe_reply(r, why, sizeof(why));
		if (code == AMQP_ACCESS_REFUSED ||
		    (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		     r.library_error == AMQP_STATUS_CONNECTION_CLOSED))
			/* RabbitMQ answers bad credentials with 403, or by
			 * closing the socket when the client cannot take it */
			snprintf(err, errlen, "amqp: login refused for user '%s' on vhost '%s'",
				 c->amqp_user, c->amqp_vhost);
		else if (code)
			snprintf(err, errlen, "amqp: login refused for user '%s' on vhost '%s': %s",
				 c->amqp_user, c->amqp_vhost, why);
		else
			snprintf(err, errlen, "amqp: cannot log in to %s: %s", st->peer, why);
		return AM_LOST;
	}
	amqp_channel_open(st->conn, AM_CHANNEL);
	r = amqp_get_rpc_reply(st->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		describe_reply(r, why, sizeof(why));
		snprintf(err, errlen, "amqp: cannot open a channel on %s: %s", st->peer, why);
		return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION ? AM_FATAL : AM_LOST;
	}
	amqp_confirm_select(st->conn, AM_CHANNEL);
	r = amqp_get_rpc_reply(st->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		describe_reply(r, why, sizeof(why));
		snprintf(err, errlen, "amqp: %s refused publisher confirms: %s", st->peer, why);
		return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION ? AM_FATAL : AM_LOST;
	}
	if (c->amqp_declare_exchange && c->amqp_exchange[0]) {
		amqp_exchange_declare(st->conn, AM_CHANNEL, amqp_cstring_bytes(c->amqp_exchange),
				      amqp_cstring_bytes(c->amqp_exchange_type), 0, 1, 0, 0,
				      amqp_empty_table);
		r = amqp_get_rpc_reply(st->conn);
		if (r.reply_type != AMQP_RESPONSE_NORMAL) {
			describe_reply(r, why, sizeof(why));
			snprintf(err, errlen, "amqp: cannot declare exchange '%s' (type %s, durable): %s",
				 c->amqp_exchange, c->amqp_exchange_type, why);
			return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION ? AM_FATAL : AM_LOST;
		}
	}
	return AM_OK;
}

/* ---- worker: publishing ------------------------------------------------ */

/* Publish e under tag next_tag.  AM_OK (also when e was refused) or AM_LOST. */
static enum am_res publish_one(struct am_state *st, struct q_entry *e, char *err, size_t errlen)
{
	const struct rc_config *c = st->sink->cfg;
	char key[AM_KEY_MAX + 1];
	size_t klen;
	amqp_table_entry_t h[4 + AM_MAX_HEADERS];
	uint32_t nh = 4;
	const char *hp = e->headers.data;
	amqp_basic_properties_t p;
	struct am_rec *rec;
	int rc;

	if (e->routed_topic) {
		/* a route or outbox template made the routing key */
		klen = e->topic.len;
		if (klen > AM_KEY_MAX) {
			set_error(st, "amqp: message %s cannot be published: its routing key from a route template is %zu bytes, over %d",
				  entry_id(e), klen, AM_KEY_MAX);
			sink_refuse(st->sink, e);
			return AM_OK;
		}
		memcpy(key, e->topic.data, klen);
	} else if (!render_key(c->amqp_routing_key, e, key, &klen)) {
		set_error(st, "amqp: message %s cannot be published: its routing key (template '%s', db '%s', table '%s') is longer than %d bytes",
			  entry_id(e), c->amqp_routing_key, e->db, e->table, AM_KEY_MAX);
		sink_refuse(st->sink, e);
		return AM_OK;
	}
	h[0].key = amqp_cstring_bytes("gtid");
	h[0].value.kind = AMQP_FIELD_KIND_UTF8;
	h[0].value.value.bytes = amqp_cstring_bytes(e->gtid);
	h[1].key = amqp_cstring_bytes("db");
	h[1].value.kind = AMQP_FIELD_KIND_UTF8;
	h[1].value.value.bytes = amqp_cstring_bytes(e->db);
	h[2].key = amqp_cstring_bytes("table");
	h[2].value.kind = AMQP_FIELD_KIND_UTF8;
	h[2].value.value.bytes = amqp_cstring_bytes(e->table);
	h[3].key = amqp_cstring_bytes("op");
	h[3].value.kind = AMQP_FIELD_KIND_UTF8;
	h[3].value.value.bytes = amqp_cstring_bytes(ch_op_name(e->op));
	/* route and outbox headers: key, event type, outbox columns,
	 * CloudEvents attributes */
	for (uint32_t i = 0; i < e->nheaders && nh < 4 + AM_MAX_HEADERS; i++) {
		const char *v = hp + strlen(hp) + 1;

		h[nh].key = amqp_cstring_bytes(hp);
		h[nh].value.kind = AMQP_FIELD_KIND_UTF8;
		h[nh].value.value.bytes = amqp_cstring_bytes(v);
		nh++;
		hp = v + strlen(v) + 1;
	}

	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
	p.content_type = amqp_cstring_bytes("application/json");
	p.delivery_mode = c->amqp_persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
	p.message_id.bytes = e->id.data;
	p.message_id.len = e->id.len;
	p.headers.num_entries = (int)nh;
	p.headers.entries = h;

	/* recorded first: if the write fails, it is sent again after the
	 * reconnect like any other unconfirmed message */
	rec = rec_at(st, st->next_tag++);
	rec->e = e;
	rec->done = false;
	rec->returned = false;
	rc = amqp_basic_publish(st->conn, AM_CHANNEL, amqp_cstring_bytes(c->amqp_exchange),
				(amqp_bytes_t){ .len = klen, .bytes = key }, c->amqp_mandatory, 0, &p,
				(amqp_bytes_t){ .len = e->payload.len, .bytes = e->payload.data });
	if (rc != AMQP_STATUS_OK) {
		snprintf(err, errlen, "%s", amqp_error_string2(rc));
		return AM_LOST;
	}
	st->published++;
	return AM_OK;
}

/* basic.ack / basic.nack: tag, or every tag up to it when multiple. */
static void on_confirm(struct am_state *st, uint64_t tag, bool multiple, bool nack)
{
	uint64_t t = multiple ? st->first_tag : tag;

	if (tag >= st->next_tag)
		return;		/* not ours (cannot happen on a sane channel) */
	for (; t <= tag; t++) {
		struct am_rec *r;

		if (t < st->first_tag)
			continue;
		r = rec_at(st, t);
		if (r->done)
			continue;
		r->done = true;
		if (nack) {
			set_error(st, "amqp: broker nacked message %s", entry_id(r->e));
			sink_refuse(st->sink, r->e);
		} else {
			sink_ack(st->sink, r->e);	/* r->e may be reused from here */
		}
	}
	while (st->first_tag < st->next_tag && rec_at(st, st->first_tag)->done)
		st->first_tag++;
}

/* basic.return: the message could not be routed.  Its confirm follows. */
static enum am_res on_return(struct am_state *st, const amqp_frame_t *f, char *err, size_t errlen)
{
	const amqp_basic_return_t *m = f->payload.method.decoded;
	char ex[256], key[256], mid[256];
	amqp_message_t msg;
	amqp_rpc_reply_t r;
	struct am_rec *found = NULL;

	snprintf(ex, sizeof(ex), "%.*s", (int)m->exchange.len, (const char *)m->exchange.bytes);
	snprintf(key, sizeof(key), "%.*s", (int)m->routing_key.len,
		 (const char *)m->routing_key.bytes);
	r = amqp_read_message(st->conn, f->channel, &msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		describe_reply(r, err, errlen);
		return AM_LOST;
	}
	mid[0] = '\0';
	if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
		amqp_bytes_t id = msg.properties.message_id;

		snprintf(mid, sizeof(mid), "%.*s", (int)id.len, (const char *)id.bytes);
		for (uint64_t t = st->first_tag; t < st->next_tag; t++) {
			struct am_rec *rec = rec_at(st, t);

			if (!rec->done && !rec->returned && rec->e->id.len == id.len &&
			    !memcmp(rec->e->id.data, id.bytes, id.len)) {
				found = rec;
				break;
			}
		}
	}
	amqp_destroy_message(&msg);
	if (!found) {
		log_warn("amqp: a message came back unroutable (exchange '%s', key '%s', message_id '%s') but is not outstanding",
			 ex, key, mid);
		return AM_OK;
	}
	found->returned = true;
	if (st->sink->cfg->amqp_on_unroutable == UNROUTABLE_COUNT) {
		atomic_fetch_add(&st->sink->returned, 1);
		if (st->unroutable++ % AM_UNROUTABLE_LOG_EVERY == 0)
			log_warn("amqp: message %s unroutable (exchange '%s', key '%s'); %llu so far, counted and dropped (on_unroutable = count)",
				 mid, ex, key, (unsigned long long)st->unroutable);
		return AM_OK;	/* acknowledged when its confirm arrives */
	}
	set_error(st, "amqp: message %s unroutable (exchange '%s', key '%s')", mid, ex, key);
	found->done = true;
	sink_refuse(st->sink, found->e);
	return AM_OK;
}

static enum am_res handle_frame(struct am_state *st, const amqp_frame_t *f, char *err,
				size_t errlen)
{
	char msg[700];

	if (f->frame_type != AMQP_FRAME_METHOD)
		return AM_OK;	/* stray content of something we do not read */
	switch (f->payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		const amqp_basic_ack_t *a = f->payload.method.decoded;

		on_confirm(st, a->delivery_tag, a->multiple, false);
		return AM_OK;
	}
	case AMQP_BASIC_NACK_METHOD: {
		const amqp_basic_nack_t *a = f->payload.method.decoded;

		on_confirm(st, a->delivery_tag, a->multiple, true);
		return AM_OK;
	}
	case AMQP_BASIC_RETURN_METHOD:
		return on_return(st, f, err, errlen);
	case AMQP_CHANNEL_CLOSE_METHOD: {
		/* the broker rejected what we sent (no such exchange, access):
		 * sending it again cannot help */
		const amqp_channel_close_t *m = f->payload.method.decoded;
		amqp_channel_close_ok_t ok = { 0 };

		snprintf(msg, sizeof(msg), "amqp: the broker closed the channel: %u %.*s",
			 m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		(void)amqp_send_method(st->conn, f->channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
		fail(st, msg);
		return AM_FATAL;
	}
	case AMQP_CONNECTION_CLOSE_METHOD: {
		const amqp_connection_close_t *m = f->payload.method.decoded;
		amqp_connection_close_ok_t ok = { 0 };

		snprintf(err, errlen, "closed by the broker: %u %.*s", m->reply_code,
			 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		(void)amqp_send_method(st->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		return AM_LOST;
	}
	case AMQP_CONNECTION_BLOCKED_METHOD:
		log_warn("amqp: %s blocks publishing (a resource alarm on the broker)", st->peer);
		return AM_OK;
	case AMQP_CONNECTION_UNBLOCKED_METHOD:
		log_info("amqp: %s takes messages again", st->peer);
		return AM_OK;
	}
	return AM_OK;
}

/* Read every frame already there (servicing heartbeats on the way). */
static enum am_res read_frames(struct am_state *st, char *err, size_t errlen)
{
	for (;;) {
		/* not zero: a zero timeout would skip the heartbeat check */
		struct timeval tv = { 0, 1 };
		amqp_frame_t f;
		enum am_res r;
		int rc = amqp_simple_wait_frame_noblock(st->conn, &f, &tv);

		if (rc == AMQP_STATUS_TIMEOUT)
			break;
		if (rc != AMQP_STATUS_OK) {
			snprintf(err, errlen, "%s", amqp_error_string2(rc));
			return AM_LOST;
		}
		r = handle_frame(st, &f, err, errlen);
		if (r != AM_OK)
			return r;
	}
	amqp_maybe_release_buffers(st->conn);
	return AM_OK;
}

static void drain_wake_fd(struct am_state *st)
{
	uint64_t v;
	ssize_t n = read(st->wake_fd, &v, sizeof(v));

	(void)n;
}

static void cork(int fd, bool on)
{
	int v = on;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

/* Connected: publish and read confirms until the connection ends. */
static enum am_res session(struct am_state *st, char *err, size_t errlen)
{
	int fd = amqp_get_sockfd(st->conn);

	for (;;) {
		struct pollfd pfd[2];
		enum am_res r;
		int sent = 0;

		if (atomic_load(&st->stop))
			return AM_STOP;
		take_pending(st);
		/* librabbitmq sends each message on its own: corked, a batch
		 * leaves in full segments and the broker reads it in fewer,
		 * larger chunks (uncorking sends the rest at once) */
		if (todo_len(st))
			cork(fd, true);
		while (todo_len(st) && st->next_tag - st->first_tag < st->window && sent < AM_BATCH) {
			r = publish_one(st, st->todo[st->todo_head++], err, errlen);
			if (r != AM_OK)
				return r;
			sent++;
		}
		cork(fd, false);
		if (st->todo_head == st->todo_n)
			st->todo_head = st->todo_n = 0;
		r = read_frames(st, err, errlen);
		if (r != AM_OK)
			return r;
		if (sent)
			continue;	/* maybe more to send; wait only when idle */
		if (todo_len(st) && st->next_tag - st->first_tag < st->window)
			continue;
		if (amqp_frames_enqueued(st->conn) || amqp_data_in_buffer(st->conn))
			continue;
		pfd[0].fd = fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = st->wake_fd;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, AM_IDLE_MS) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return AM_LOST;
		}
		if (pfd[1].revents & POLLIN)
			drain_wake_fd(st);
	}
}

/* Sleep up to ms, waking early when close() asks. */
static void worker_sleep(struct am_state *st, int ms)
{
	struct pollfd pfd = { .fd = st->wake_fd, .events = POLLIN };
	struct timespec end, now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (!atomic_load(&st->stop)) {
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (end.tv_sec - now.tv_sec) * 1000L + (end.tv_nsec - now.tv_nsec) / 1000000L;
		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)left) > 0)
			drain_wake_fd(st);	/* entries handed over: they wait */
	}
}

static void *worker_main(void *arg)
{
	struct am_state *st = arg;
	struct sink *s = st->sink;
	char err[1024];			/* cut to s->error's size when reported */
	int backoff_ms = 500;

	(void)pthread_setname_np(pthread_self(), "rowcast-amqp");
	bool ever = false;		/* a connection succeeded once */
	bool outage = false;		/* lost; the outage was logged */
	unsigned failed = 0;		/* failed reconnects; the first is logged */

	while (!atomic_load(&st->stop)) {
		enum am_res r;
		size_t again;

		if (outage) {
			worker_sleep(st, backoff_ms);
			backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
			if (atomic_load(&st->stop))
				break;
		}
		err[0] = '\0';
		r = do_connect(st, err, sizeof(err));
		if (r != AM_OK) {
			drop_connection(st);
			if (!ever || r == AM_FATAL) {
				/* never connected: a wrong address or refused
				 * credentials are reported, not retried for ever */
				fail(st, err);
				break;
			}
			if (failed++ == 0)
				log_warn("%s; retrying (backoff up to 30 s)", err);
			continue;
		}
		again = requeue_unconfirmed(st);
		atomic_store(&st->connected, 1);
		if (ever)
			atomic_fetch_add(&s->reconnects, 1);
		if (!ever)
			log_info("amqp: connected to %s (vhost '%s', exchange '%s')", st->peer,
				 s->cfg->amqp_vhost, s->cfg->amqp_exchange);
		else if (failed)
			log_info("amqp: reconnected to %s after %u failed attempt%s; publishing %zu unconfirmed messages again",
				 st->peer, failed, failed == 1 ? "" : "s", again);
		else
			log_info("amqp: reconnected to %s; publishing %zu unconfirmed messages again",
				 st->peer, again);
		ever = true;
		outage = false;
		failed = 0;
		backoff_ms = 500;
		ev_async_send(s->loop, s->wake);

		err[0] = '\0';
		r = session(st, err, sizeof(err));
		atomic_store(&st->connected, 0);
		ev_async_send(s->loop, s->wake);
		if (r == AM_STOP) {
			close_connection(st);
			break;
		}
		drop_connection(st);
		if (r == AM_FATAL)
			break;
		log_warn("amqp: connection to %s lost: %s; reconnecting (%llu messages unconfirmed)",
			 st->peer, err[0] ? err : "unknown cause",
			 (unsigned long long)(st->next_tag - st->first_tag));
		outage = true;
	}
	drop_connection(st);
	return NULL;
}

/* ---- the sink interface (loop thread) ---------------------------------- */

static bool am_open(struct sink *s, char *err, size_t errlen)
{
	const struct rc_config *c = s->cfg;
	struct am_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		log_oom();
	st->sink = s;
	s->impl = st;
	st->sock_fd = -1;
	st->wake_fd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->fd_mu, NULL);
	snprintf(st->peer, sizeof(st->peer), "%s:%d", c->amqp_host, c->amqp_port);
	st->window = c->sink_max_inflight > 0 ? (uint64_t)c->sink_max_inflight : 1;
	st->ring_cap = 1;
	while (st->ring_cap < st->window)
		st->ring_cap *= 2;
	st->ring = calloc(st->ring_cap, sizeof(*st->ring));
	if (!st->ring)
		log_oom();
	st->first_tag = st->next_tag = 1;
	if (strlen(c->amqp_exchange) > AM_KEY_MAX) {
		snprintf(err, errlen, "amqp: exchange name '%.40s...' is longer than %d bytes",
			 c->amqp_exchange, AM_KEY_MAX);
		return false;
	}
	st->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->wake_fd < 0) {
		snprintf(err, errlen, "amqp: eventfd: %s", strerror(errno));
		return false;
	}
	rc = pthread_create(&st->thread, NULL, worker_main, st);
	if (rc) {
		snprintf(err, errlen, "amqp: cannot start the connection thread: %s", strerror(rc));
		return false;
	}
	st->started = true;
	return true;
}

static enum sink_result am_publish(struct sink *s, struct q_entry *e)
{
	struct am_state *st = s->impl;

	e->owner = s;
	pthread_mutex_lock(&st->mu);
	if (st->npend == st->cap_pend) {
		st->cap_pend = st->cap_pend ? st->cap_pend * 2 : 256;
		st->pend = realloc(st->pend, st->cap_pend * sizeof(*st->pend));
		if (!st->pend)
			log_oom();
	}
	st->pend[st->npend++] = e;
	pthread_mutex_unlock(&st->mu);
	return SINK_OK;
}

/* End of a batch: wake the worker once for everything handed over. */
static void am_poll(struct sink *s)
{
	struct am_state *st = s->impl;
	bool wake;

	pthread_mutex_lock(&st->mu);
	wake = st->npend > 0 && !st->signalled;
	if (wake)
		st->signalled = true;
	pthread_mutex_unlock(&st->mu);
	if (wake) {
		uint64_t one = 1;
		ssize_t n = write(st->wake_fd, &one, sizeof(one));

		(void)n;	/* EAGAIN: the counter is already non-zero */
	}
}

static bool am_ready(struct sink *s)
{
	struct am_state *st = s->impl;

	return st && atomic_load(&st->connected);
}

static void am_close(struct sink *s)
{
	struct am_state *st = s->impl;

	if (!st)
		return;
	if (st->started) {
		uint64_t one = 1;
		struct timespec until;
		ssize_t n;

		atomic_store(&st->stop, 1);
		n = write(st->wake_fd, &one, sizeof(one));
		(void)n;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		if (pthread_timedjoin_np(st->thread, NULL, &until) != 0) {
			/* stuck in a blocking write to a broker that does not
			 * read: end the socket under it */
			pthread_mutex_lock(&st->fd_mu);
			if (st->sock_fd >= 0)
				shutdown(st->sock_fd, SHUT_RDWR);
			pthread_mutex_unlock(&st->fd_mu);
			pthread_join(st->thread, NULL);
		}
		log_debug("amqp: %llu messages published", (unsigned long long)st->published);
	}
	if (st->wake_fd >= 0)
		close(st->wake_fd);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->fd_mu);
	free(st->pend);
	free(st->todo);
	free(st->ring);
	free(st);
	s->impl = NULL;
}

const struct sink_ops sink_amqp_ops = {
	.name = "amqp",
	.open = am_open,
	.publish = am_publish,
	.poll = am_poll,
	.ready = am_ready,
	.close = am_close,
};
