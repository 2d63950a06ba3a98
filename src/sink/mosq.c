/* SPDX-License-Identifier: MIT */
/*
 * MQTT sink over libmosquitto ([mqtt] client = mosquitto), MQTT 5 (default)
 * or 3.1.1, with the same behaviour as the paho sink (mqtt.c) but without
 * any thread of its own: the loop watches the client's socket (ev_io) and
 * runs its keep-alive (ev_timer), so every libmosquitto callback runs on
 * the loop thread and acks are plain calls.
 *
 * Batching: the client is told it is "threaded" (mosquitto_threaded_set),
 * which only makes it queue packets instead of writing each one at once;
 * publish() queues, poll() - the end of a batch - writes them all.
 *
 * Re-sends: the session is persistent (clean start off, session kept for a
 * day).  libmosquitto keeps every QoS 1/2 message until its PUBACK/PUBCOMP,
 * across disconnections; after a reconnect (mosquitto_reconnect_async, same
 * handle) it sends the unacknowledged ones again, in order and with DUP
 * set, as soon as the CONNACK arrives, under their old packet ids.  That is
 * the one layer that re-sends inside a running process: rowcast never
 * publishes an entry twice, the mid -> entry map below simply keeps the
 * entries until libmosquitto reports them delivered.  QoS 0 messages not
 * written when the connection dropped are gone (at most once): they are
 * acknowledged at the disconnection.
 */
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "sink/sink.h"

/*
 * The window: libmosquitto walks its whole list of unacknowledged messages
 * on every publish and every PUBACK (message__release_to_inflight), so its
 * cost per message grows with the window, while a small window means small
 * batches and more wake-ups on both sides.  Per 200,000 rows of the bench
 * workload at QoS 1 the loop thread used 2.2-2.8 s of CPU with 100 to 300
 * in flight, 3.4-4.0 s with 1000 and 10-11 s with 3000; the broker a little
 * more below 200.  [sink] max_inflight applies up to this.
 */
#define MQ_WINDOW_MAX 256
#define MQ_CONNECT_TIMEOUT 10.0	/* seconds from the TCP connect to the CONNACK */
#define MQ_RETRY_MIN 1.0	/* reconnect back-off, seconds */
#define MQ_RETRY_MAX 30.0

enum mq_state {
	MQ_IDLE = 0,		/* no socket: waiting for the back-off timer */
	MQ_CONNECTING,		/* socket open, CONNACK not yet received */
	MQ_UP,			/* session up */
	MQ_DEAD,		/* fatal error or closing: nothing more happens */
};

struct mosq_state {
	struct mosquitto *m;		/* libmosquitto handle */
	struct sink *sink;		/* back pointer for callbacks */
	enum mq_state state;
	bool v5;			/* MQTT 5 */
	bool ever_connected;		/* a first connection succeeded */
	bool lost_logged;		/* a connection-lost line was logged */
	bool announce;			/* publish "online" once out of the callback */
	bool closing;			/* in close(): callbacks leave entries alone */
	int fails;			/* connect failures in a row */
	char host[256];			/* from the URI */
	int port;
	ev_io io;			/* the client's socket */
	ev_timer misc;			/* keep-alive and connect timeout, every second */
	ev_timer retry;			/* reconnect back-off */
	ev_tstamp connect_at;		/* when the current connect attempt began */
	/* packet id -> entry: ids are 16 bits and handed out in turn, so a
	 * flat array (512 KB, touched as the ids go round) beats any hash */
	struct q_entry **by_mid;
	uint32_t outstanding;		/* entries in by_mid */
	uint32_t window;		/* at most this many outstanding */
	int status_mid;			/* the "offline" message at close */
	bool status_done;		/* ... was acknowledged */
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
	mosquitto_lib_init();
}

/* ---- the packet id map ------------------------------------------------ */

static void map_put(struct mosq_state *st, int mid, struct q_entry *e)
{
	st->by_mid[(uint16_t)mid] = e;
	st->outstanding++;
}

/* Remove mid; its entry, or NULL when it is not there. */
static struct q_entry *map_take(struct mosq_state *st, int mid)
{
	struct q_entry *e;

	if (mid <= 0 || mid > 0xffff || !(e = st->by_mid[mid]))
		return NULL;
	st->by_mid[mid] = NULL;
	st->outstanding--;
	return e;
}

/* ---- socket watching --------------------------------------------------- */

/* Watch the client's current socket: always for reading, for writing while
 * the client has output queued or a TCP connect is under way. */
static void sync_io(struct mosq_state *st)
{
	struct ev_loop *loop = st->sink->loop;
	int fd = st->state == MQ_DEAD || st->state == MQ_IDLE ? -1 : mosquitto_socket(st->m);
	int want = 0;

	if (fd >= 0) {
		want = EV_READ;
		if (mosquitto_want_write(st->m))
			want |= EV_WRITE;
	}
	if (fd < 0) {
		ev_io_stop(loop, &st->io);
		return;
	}
	if (ev_is_active(&st->io) && st->io.fd == fd && (st->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(loop, &st->io);
	ev_io_set(&st->io, fd, want);
	ev_io_start(loop, &st->io);
}

/* Write what is queued (as far as the socket takes it), then re-arm.
 * libmosquitto sends each packet with its own send(); corked, a batch
 * leaves in full segments, and the broker wakes once per segment rather
 * than once per message.  Uncorking pushes the rest out at once. */
static void flush(struct mosq_state *st)
{
	int fd = mosquitto_socket(st->m), on = 1, off = 0;

	if (st->state != MQ_IDLE && st->state != MQ_DEAD && fd >= 0 &&
	    mosquitto_want_write(st->m)) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
		(void)mosquitto_loop_write(st->m, 1);
		(void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
	}
	sync_io(st);
}

static void wake(struct mosq_state *st)
{
	ev_async_send(st->sink->loop, st->sink->wake);
}

/* ---- connecting ---------------------------------------------------------- */

static void publish_status(struct mosq_state *st, const char *text, int *mid)
{
	const char *topic = st->sink->cfg->mqtt_status_topic;

	if (!topic[0])
		return;
	(void)mosquitto_publish_v5(st->m, mid, topic, (int)strlen(text), text, 1, true, NULL);
}

/* Why a call failed, in words (errno is read at once). */
static const char *mosq_reason(int rc, char *buf, size_t len)
{
	if (rc == MOSQ_ERR_ERRNO) {
		snprintf(buf, len, "%s", strerror(errno));
		return buf;
	}
	snprintf(buf, len, "%s", mosquitto_strerror(rc));
	return buf;
}

static void schedule_retry(struct mosq_state *st)
{
	double delay = MQ_RETRY_MIN;

	/* 1 s after a loss or a first failure, then doubling up to 30 s */
	for (int i = 1; i < st->fails && delay < MQ_RETRY_MAX; i++)
		delay *= 2;
	if (delay > MQ_RETRY_MAX)
		delay = MQ_RETRY_MAX;
	ev_timer_stop(st->sink->loop, &st->retry);
	ev_timer_set(&st->retry, delay, 0.);
	ev_timer_start(st->sink->loop, &st->retry);
}

/* QoS 0 messages not written before the connection went are lost for
 * good (at most once): acknowledge them so the queue moves on. */
static void drop_qos0(struct mosq_state *st)
{
	uint32_t n = 0;

	if (st->sink->cfg->mqtt_qos != 0 || !st->outstanding)
		return;
	for (uint32_t i = 1; i <= 0xffff; i++) {
		if (!st->by_mid[i])
			continue;
		if (!st->closing)
			sink_ack(st->sink, st->by_mid[i]);
		st->by_mid[i] = NULL;
		n++;
	}
	st->outstanding = 0;
	log_warn("mqtt: %u QoS 0 messages were not sent before the connection closed (at most once: not sent again)",
		 n);
}

/* A connect attempt failed (reason in words): fatal the first time,
 * else retried with back-off. */
static void connect_failed(struct mosq_state *st, const char *reason)
{
	struct sink *s = st->sink;

	ev_io_stop(s->loop, &st->io);
	if (st->state == MQ_DEAD)
		return;
	if (!st->ever_connected) {
		/* a wrong address or refused credentials are reported, not
		 * retried for ever */
		snprintf(s->error, sizeof(s->error), "mqtt: cannot connect to %s: %s",
			 s->cfg->mqtt_uri, reason);
		st->state = MQ_DEAD;
		atomic_store(&s->fatal, 1);
		wake(st);
		return;
	}
	if (st->fails++ == 0)
		log_warn("mqtt: cannot connect to %s: %s; retrying", s->cfg->mqtt_uri, reason);
	st->state = MQ_IDLE;
	schedule_retry(st);
	wake(st);
}

/* The socket is open and CONNECT queued: watch it. */
static void connect_started(struct mosq_state *st)
{
	st->state = MQ_CONNECTING;
	st->connect_at = ev_now(st->sink->loop);
	/* a fresh socket, perhaps under an old descriptor number */
	ev_io_stop(st->sink->loop, &st->io);
	flush(st);
}

static void start_reconnect(struct mosq_state *st)
{
	char why[256];
	int rc;

	rc = mosquitto_reconnect_async(st->m);
	if (rc != MOSQ_ERR_SUCCESS) {
		connect_failed(st, mosq_reason(rc, why, sizeof(why)));
		return;
	}
	connect_started(st);
}

static void on_connect(struct mosquitto *m, void *ctx, int rc, int flags,
		       const mosquitto_property *props)
{
	struct mosq_state *st = ctx;
	char why[160];

	(void)m;
	(void)flags;
	(void)props;
	if (st->closing || st->state != MQ_CONNECTING)
		return;
	if (rc != 0) {
		snprintf(why, sizeof(why), "%s (reason 0x%02x)",
			 st->v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc),
			 (unsigned)rc);
		connect_failed(st, why);
		return;
	}
	st->state = MQ_UP;
	if (st->ever_connected)
		atomic_fetch_add(&st->sink->reconnects, 1);
	st->ever_connected = true;
	if (st->fails)
		log_info("mqtt: connected to %s again after %d failed attempt%s",
			 st->sink->cfg->mqtt_uri, st->fails, st->fails == 1 ? "" : "s");
	else if (st->lost_logged)
		log_info("mqtt: connected to %s", st->sink->cfg->mqtt_uri);
	st->lost_logged = false;
	st->fails = 0;
	/* libmosquitto re-sends the unacknowledged messages right after this
	 * callback; "online" goes after them, once out of it */
	st->announce = true;
	wake(st);
}

static void on_disconnect(struct mosquitto *m, void *ctx, int rc, const mosquitto_property *props)
{
	struct mosq_state *st = ctx;
	char why[256];

	(void)m;
	(void)props;
	mosq_reason(rc, why, sizeof(why));	/* errno first */
	if (st->closing || rc == MOSQ_ERR_SUCCESS)
		return;
	if (st->state == MQ_CONNECTING) {
		connect_failed(st, why);
		return;
	}
	if (st->state != MQ_UP)
		return;
	st->state = MQ_IDLE;
	ev_io_stop(st->sink->loop, &st->io);
	if (!st->lost_logged) {
		st->lost_logged = true;
		log_warn("mqtt: connection to %s lost: %s", st->sink->cfg->mqtt_uri, why);
	}
	drop_qos0(st);
	st->fails = 0;
	schedule_retry(st);
	wake(st);
}

static void on_publish(struct mosquitto *m, void *ctx, int mid, int reason,
		       const mosquitto_property *props)
{
	struct mosq_state *st = ctx;
	struct q_entry *e;
	struct sink *s = st->sink;

	(void)m;
	(void)props;
	if (st->closing) {
		if (mid == st->status_mid)
			st->status_done = true;
		return;
	}
	e = map_take(st, mid);
	if (!e)
		return;		/* a status message */
	if (reason < 0x80) {
		sink_ack(s, e);
		return;
	}
	snprintf(s->error, sizeof(s->error),
		 "mqtt: the broker refused message %.140s (gtid %.100s, table %.64s.%.64s): %.80s (reason 0x%02x)",
		 e->id.data ? e->id.data : "?", e->gtid[0] ? e->gtid : "none", e->db, e->table,
		 mosquitto_reason_string(reason), (unsigned)reason);
	sink_refuse(s, e);
}

/* After any reading: say "online" if a session just began, then write. */
static void after_read(struct mosq_state *st)
{
	if (st->announce && st->state == MQ_UP) {
		st->announce = false;
		publish_status(st, "online", NULL);
	}
	flush(st);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mosq_state *st = w->data;

	(void)loop;
	/* reading also drives a TLS handshake, which may wait on either side */
	if ((revents & EV_READ || (revents & EV_WRITE && st->state == MQ_CONNECTING)) &&
	    mosquitto_socket(st->m) >= 0)
		(void)mosquitto_loop_read(st->m, 1);
	if (revents & EV_WRITE && st->state != MQ_IDLE && st->state != MQ_DEAD &&
	    mosquitto_socket(st->m) >= 0)
		(void)mosquitto_loop_write(st->m, 1);
	after_read(st);
}

static void misc_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mosq_state *st = w->data;

	(void)revents;
	if (st->state == MQ_CONNECTING && ev_now(loop) - st->connect_at > MQ_CONNECT_TIMEOUT) {
		connect_failed(st, "no answer from the broker (timed out)");
		return;
	}
	if (st->state == MQ_CONNECTING && mosquitto_socket(st->m) >= 0)
		(void)mosquitto_loop_read(st->m, 1);	/* a stalled TLS handshake */
	if ((st->state == MQ_UP || st->state == MQ_CONNECTING) && mosquitto_socket(st->m) >= 0)
		(void)mosquitto_loop_misc(st->m);
	after_read(st);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mosq_state *st = w->data;

	(void)loop;
	(void)revents;
	if (st->state == MQ_IDLE && !st->closing)
		start_reconnect(st);
}

/* ---- setup --------------------------------------------------------------- */

/* tcp://HOST:PORT, mqtt://, ssl://, mqtts://; [v6] hosts; default ports. */
static bool parse_uri(const char *uri, bool tls, char *host, size_t hostlen, int *port)
{
	const char *p = strstr(uri, "://"), *end, *colon;
	size_t n;

	if (!p)
		return false;
	p += 3;
	*port = tls ? 8883 : 1883;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			return false;
		n = (size_t)(end - p - 1);
		if (!n || n >= hostlen)
			return false;
		memcpy(host, p + 1, n);
		host[n] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (!colon && end[1] && end[1] != '/')
			return false;
	} else {
		colon = strchr(p, ':');
		end = colon ? colon : p + strcspn(p, "/");
		n = (size_t)(end - p);
		if (!n || n >= hostlen)
			return false;
		memcpy(host, p, n);
		host[n] = '\0';
	}
	if (colon) {
		char *e;
		long v = strtol(colon + 1, &e, 10);

		if (e == colon + 1 || (*e && *e != '/') || v < 1 || v > 65535)
			return false;
		*port = (int)v;
	}
	return true;
}

static bool mo_open(struct sink *s, char *err, size_t errlen)
{
	const struct rc_config *c = s->cfg;
	struct mosq_state *st = calloc(1, sizeof(*st));
	mosquitto_property *cprops = NULL;
	bool tls = sink_mqtt_uri_tls(c->mqtt_uri);
	char why[256];
	int rc;

	if (!st)
		log_oom();
	st->sink = s;
	s->impl = st;
	st->v5 = c->mqtt_version == MQTT_V5;
	st->status_mid = -1;
	st->window = c->sink_max_inflight > MQ_WINDOW_MAX ? MQ_WINDOW_MAX :
		     (uint32_t)c->sink_max_inflight;
	st->by_mid = calloc(0x10000, sizeof(*st->by_mid));
	if (!st->by_mid)
		log_oom();
	ev_io_init(&st->io, io_cb, 0, EV_READ);
	st->io.data = st;
	ev_timer_init(&st->misc, misc_cb, 1.0, 1.0);
	st->misc.data = st;
	ev_timer_init(&st->retry, retry_cb, MQ_RETRY_MIN, 0.);
	st->retry.data = st;

	if (!parse_uri(c->mqtt_uri, tls, st->host, sizeof(st->host), &st->port)) {
		snprintf(err, errlen, "mqtt: cannot parse the broker address %s", c->mqtt_uri);
		return false;
	}
	pthread_once(&lib_once, lib_init);
	/* clean session off: the broker keeps the session, and libmosquitto
	 * keeps unacknowledged messages across reconnects */
	st->m = mosquitto_new(c->mqtt_client_id, false, st);
	if (!st->m) {
		snprintf(err, errlen, "mqtt: cannot create a client for %s: %s", c->mqtt_uri,
			 errno == EINVAL ? "invalid client id" : strerror(errno));
		return false;
	}
	mosquitto_int_option(st->m, MOSQ_OPT_PROTOCOL_VERSION,
			     st->v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	/* queue packets, write them in poll(): one write per batch */
	mosquitto_threaded_set(st->m, true);
	mosquitto_int_option(st->m, MOSQ_OPT_SEND_MAXIMUM, (int)st->window);
	mosquitto_int_option(st->m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(st->m, on_connect);
	mosquitto_disconnect_v5_callback_set(st->m, on_disconnect);
	mosquitto_publish_v5_callback_set(st->m, on_publish);
	if (c->mqtt_user[0] &&
	    (rc = mosquitto_username_pw_set(st->m, c->mqtt_user, c->mqtt_password)) != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "mqtt: user name: %s", mosquitto_strerror(rc));
		return false;
	}
	if (c->mqtt_status_topic[0] &&
	    (rc = mosquitto_will_set_v5(st->m, c->mqtt_status_topic, 7, "offline", 1, true, NULL)) !=
		    MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "mqtt: status_topic %s: %s", c->mqtt_status_topic,
			 mosquitto_strerror(rc));
		return false;
	}
	if (tls) {
		if (!c->mqtt_ca_file[0])
			mosquitto_int_option(st->m, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		rc = mosquitto_tls_set(st->m, c->mqtt_ca_file[0] ? c->mqtt_ca_file : NULL,
				       c->mqtt_ca_file[0] ? NULL : "/etc/ssl/certs",
				       c->mqtt_cert_file[0] ? c->mqtt_cert_file : NULL,
				       c->mqtt_key_file[0] ? c->mqtt_key_file : NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_insecure_set(st->m, !c->mqtt_verify_host);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen, "mqtt: TLS settings for %s: %s", c->mqtt_uri,
				 mosq_reason(rc, why, sizeof(why)));
			return false;
		}
	}
	if (st->v5) {
		/* keep the session (and its unacknowledged messages) for a day */
		rc = mosquitto_property_add_int32(&cprops, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 86400);
		if (rc != MOSQ_ERR_SUCCESS)
			log_oom();
	}
	ev_timer_start(s->loop, &st->misc);
	/* the TCP connect of the first attempt waits (the properties given
	 * here are kept for every reconnect, which does not wait) */
	st->state = MQ_CONNECTING;
	rc = mosquitto_connect_bind_v5(st->m, st->host, st->port, c->mqtt_keepalive_s, NULL, cprops);
	mosquitto_property_free_all(&cprops);
	if (rc != MOSQ_ERR_SUCCESS) {
		connect_failed(st, mosq_reason(rc, why, sizeof(why)));
		return true;	/* reported through s->fatal, as a refused login is */
	}
	connect_started(st);
	return true;
}

/* ---- publishing ------------------------------------------------------------ */

static enum sink_result unpublishable(struct sink *s, struct q_entry *e, const char *why)
{
	snprintf(s->error, sizeof(s->error),
		 "mqtt: message %.140s (gtid %.100s, table %.64s.%.64s) cannot be published to %.100s: %.120s",
		 e->id.data ? e->id.data : "?", e->gtid[0] ? e->gtid : "none", e->db, e->table,
		 e->topic.data, why);
	return SINK_FATAL;
}

static int add_pair(mosquitto_property **props, const char *k, const char *v)
{
	return mosquitto_property_add_string_pair(props, MQTT_PROP_USER_PROPERTY, k, v);
}

static enum sink_result mo_publish(struct sink *s, struct q_entry *e)
{
	struct mosq_state *st = s->impl;
	mosquitto_property *props = NULL;
	int qos = s->cfg->mqtt_qos, mid = 0, rc;
	char why[200];

	if (st->state != MQ_UP || st->outstanding >= st->window)
		return SINK_BUSY;
	if (e->payload.len > MQTT_MAX_PAYLOAD)
		return unpublishable(s, e, "payload larger than MQTT allows (256 MB)");
	e->owner = s;
	if (st->v5) {
		const char *h = e->headers.data;

		rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "application/json");
		if (!rc)
			rc = add_pair(&props, "id", e->id.data ? e->id.data : "");
		if (!rc)
			rc = add_pair(&props, "gtid", e->gtid);
		if (!rc)
			rc = add_pair(&props, "db", e->db);
		if (!rc)
			rc = add_pair(&props, "table", e->table);
		if (!rc)
			rc = add_pair(&props, "op", ch_op_name(e->op));
		/* route and outbox headers: key, event type, outbox columns */
		for (uint32_t i = 0; !rc && i < e->nheaders; i++) {
			const char *v = h + strlen(h) + 1;

			rc = add_pair(&props, h, v);
			if (rc == MOSQ_ERR_MALFORMED_UTF8) {
				mosquitto_property_free_all(&props);
				snprintf(why, sizeof(why), "header %.60s is not valid UTF-8", h);
				return unpublishable(s, e, why);
			}
			h = v + strlen(v) + 1;
		}
		if (rc == MOSQ_ERR_NOMEM)
			log_oom();
		if (rc) {
			mosquitto_property_free_all(&props);
			return unpublishable(s, e, mosquitto_strerror(rc));
		}
	}
	rc = mosquitto_publish_v5(st->m, &mid, e->topic.data, (int)e->payload.len, e->payload.data,
				  qos, false, props);
	mosquitto_property_free_all(&props);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		break;
	case MOSQ_ERR_NO_CONN:
		/* QoS 1/2: stored, it goes after the reconnect; QoS 0: not taken */
		if (qos > 0 && mid > 0)
			break;
		return SINK_BUSY;
	case MOSQ_ERR_NOMEM:
		log_oom();
	case MOSQ_ERR_OVERSIZE_PACKET:
		return unpublishable(s, e, "larger than the broker's maximum packet size");
	case MOSQ_ERR_QOS_NOT_SUPPORTED:
		return unpublishable(s, e, "the broker does not support this QoS");
	default:
		snprintf(why, sizeof(why), "%s (error %d)", mosquitto_strerror(rc), rc);
		return unpublishable(s, e, why);
	}
	map_put(st, mid, e);
	return SINK_OK;
}

static void mo_poll(struct sink *s)
{
	struct mosq_state *st = s->impl;

	if (st->state == MQ_UP)
		flush(st);
}

static bool mo_ready(struct sink *s)
{
	struct mosq_state *st = s->impl;

	return st->state == MQ_UP;
}

/* Run the client outside the loop (at close) until done() or ms pass. */
static void pump(struct mosq_state *st, int ms, bool (*done)(struct mosq_state *))
{
	for (int waited = 0; waited < ms && !done(st);) {
		int fd = mosquitto_socket(st->m);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (fd < 0)
			return;
		if (mosquitto_want_write(st->m))
			p.events |= POLLOUT;
		if (poll(&p, 1, 10) < 0 && errno != EINTR)
			return;
		waited += 10;
		if (p.revents & (POLLIN | POLLERR | POLLHUP))
			(void)mosquitto_loop_read(st->m, 1);
		if (mosquitto_socket(st->m) >= 0 && mosquitto_want_write(st->m))
			(void)mosquitto_loop_write(st->m, 1);
	}
}

static bool status_acked(struct mosq_state *st)
{
	return st->status_done;
}

static bool socket_closed(struct mosq_state *st)
{
	return mosquitto_socket(st->m) < 0;
}

static void mo_close(struct sink *s)
{
	struct mosq_state *st = s->impl;

	if (!st)
		return;
	ev_io_stop(s->loop, &st->io);
	ev_timer_stop(s->loop, &st->misc);
	ev_timer_stop(s->loop, &st->retry);
	st->closing = true;
	if (st->m && st->state == MQ_UP) {
		if (s->cfg->mqtt_status_topic[0]) {
			publish_status(st, "offline", &st->status_mid);
			pump(st, 1000, status_acked);
		}
		if (mosquitto_socket(st->m) >= 0) {
			mosquitto_disconnect_v5(st->m, MQTT_RC_NORMAL_DISCONNECTION, NULL);
			pump(st, 1000, socket_closed);
		}
	}
	st->state = MQ_DEAD;
	if (st->m)
		mosquitto_destroy(st->m);
	free(st->by_mid);
	free(st);
	s->impl = NULL;
}

const struct sink_ops sink_mosq_ops = {
	.name = "mqtt",
	.open = mo_open,
	.publish = mo_publish,
	.poll = mo_poll,
	.ready = mo_ready,
	.close = mo_close,
};
