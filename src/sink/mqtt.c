/* SPDX-License-Identifier: MIT */
/*
 * MQTT sink over paho-mqtt-c's asynchronous client, MQTT 5 (default) or
 * 3.1.1.  paho calls back on its own threads; those callbacks only set
 * atomic flags on queue entries and wake the loop (ev_async), so all other
 * state is the loop's.  A persistent session (clean start off) lets paho
 * and the broker resend unacknowledged QoS 1/2 messages after a reconnect:
 * that is the one layer that re-sends inside a running process.  With
 * MQTT 5 each message carries the event id, GTID, db, table and op as user
 * properties and its content type; a PUBACK reason code of 0x80 or above
 * is a refusal, never an acknowledgement.
 */
#include <MQTTAsync.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "sink/sink.h"

struct mqtt_state {
	MQTTAsync client;		/* paho handle */
	atomic_int connected;		/* session up */
	atomic_int connecting;		/* a connect is in flight */
	atomic_int lost_logged;		/* a connection-lost line was logged */
	atomic_int ever_connected;	/* a first connection succeeded */
	atomic_int outstanding;		/* handed to paho, no callback yet */
	ev_timer retry;			/* reconnect when the first connect failed */
	struct sink *sink;		/* back pointer for callbacks */
	int fails;			/* connect failures in a row */
	bool v5;			/* MQTT 5 */
	MQTTAsync_SSLOptions ssl;	/* TLS settings (ssl:// URIs) */
	MQTTAsync_willOptions will;	/* "offline" on the status topic */
};

/* A message's outcome came: it leaves the window (before e may be
 * reused, which the ack allows). */
static void settled(struct q_entry *e)
{
	struct mqtt_state *st = ((struct sink *)e->owner)->impl;

	atomic_fetch_sub(&st->outstanding, 1);
}

static void delivered(struct q_entry *e)
{
	settled(e);
	sink_ack(e->owner, e);
}

static void refused(struct q_entry *e, const char *what, int code)
{
	struct sink *s = e->owner;

	snprintf(s->error, sizeof(s->error),
		 "mqtt: the broker refused message %.140s (gtid %.100s, table %.64s.%.64s): %.80s (reason 0x%02x)",
		 e->id.data ? e->id.data : "?", e->gtid[0] ? e->gtid : "none", e->db, e->table,
		 what ? what : "refused", (unsigned)code);
	settled(e);
	sink_refuse(s, e);
}

static void on_delivered(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	delivered(ctx);
}

static void on_delivered5(void *ctx, MQTTAsync_successData5 *resp)
{
	if (resp && resp->reasonCode >= 0x80)
		refused(ctx, MQTTReasonCode_toString(resp->reasonCode), resp->reasonCode);
	else
		delivered(ctx);
}

static void on_send_failed(void *ctx, MQTTAsync_failureData *resp)
{
	refused(ctx, resp && resp->message ? resp->message : "publish failed",
		resp ? resp->code : 0);
}

static void on_send_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	refused(ctx, resp && resp->message ? resp->message :
		     resp ? MQTTReasonCode_toString(resp->reasonCode) : "publish failed",
		resp ? (int)resp->reasonCode : 0);
}

/* The retained status message; fire and forget. */
static void publish_status(struct mqtt_state *st, const char *text)
{
	const struct rc_config *c = st->sink->cfg;
	MQTTAsync_message m = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	if (!c->mqtt_status_topic[0])
		return;
	m.payload = (void *)text;
	m.payloadlen = (int)strlen(text);
	m.qos = 1;
	m.retained = 1;
	(void)MQTTAsync_sendMessage(st->client, c->mqtt_status_topic, &m, &ro);
}

static void on_connected(void *ctx, char *cause)
{
	struct mqtt_state *st = ctx;
	bool was_up;

	(void)cause;
	/* called twice for one connection (its onSuccess and the connected
	 * callback): only a session that was down counts as a reconnect */
	was_up = atomic_exchange(&st->connected, 1);
	atomic_store(&st->connecting, 0);
	if (atomic_exchange(&st->ever_connected, 1) && !was_up)
		atomic_fetch_add(&st->sink->reconnects, 1);
	if (atomic_exchange(&st->lost_logged, 0) && !st->fails)
		log_info("mqtt: connected to %s", st->sink->cfg->mqtt_uri);
	else if (st->fails)
		log_info("mqtt: connected to %s again after %d failed attempt%s",
			 st->sink->cfg->mqtt_uri, st->fails, st->fails == 1 ? "" : "s");
	st->fails = 0;
	publish_status(st, "online");
	ev_async_send(st->sink->loop, st->sink->wake);
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	on_connected(ctx, NULL);
}

static void on_connect_ok5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	on_connected(ctx, NULL);
}

static void connect_failed(struct mqtt_state *st, const char *msg, int code)
{
	if (!atomic_load(&st->ever_connected)) {
		/* the first connection: a wrong address or refused
		 * credentials are reported, not retried for ever */
		snprintf(st->sink->error, sizeof(st->sink->error),
			 "mqtt: cannot connect to %s: %s (code %d)", st->sink->cfg->mqtt_uri,
			 msg ? msg : "connection refused", code);
		atomic_store(&st->connecting, 0);
		atomic_store(&st->sink->fatal, 1);
		ev_async_send(st->sink->loop, st->sink->wake);
		return;
	}
	if (st->fails++ == 0)
		log_warn("mqtt: cannot connect to %s: %s (code %d); retrying",
			 st->sink->cfg->mqtt_uri, msg ? msg : "refused", code);
	atomic_store(&st->connecting, 0);
	ev_async_send(st->sink->loop, st->sink->wake);
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
	connect_failed(ctx, resp ? resp->message : NULL, resp ? resp->code : 0);
}

static void on_connect_failed5(void *ctx, MQTTAsync_failureData5 *resp)
{
	connect_failed(ctx, resp ? (resp->message ? resp->message :
				    MQTTReasonCode_toString(resp->reasonCode)) : NULL,
		       resp ? (resp->reasonCode ? (int)resp->reasonCode : resp->code) : 0);
}

static void on_lost(void *ctx, char *cause)
{
	struct mqtt_state *st = ctx;

	atomic_store(&st->connected, 0);
	if (!atomic_exchange(&st->lost_logged, 1))
		log_warn("mqtt: connection to %s lost: %s", st->sink->cfg->mqtt_uri,
			 cause ? cause : "unknown cause");
	ev_async_send(st->sink->loop, st->sink->wake);
}

static int on_message(void *ctx, char *topic, int topiclen, MQTTAsync_message *m)
{
	(void)ctx;
	(void)topiclen;
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void start_connect(struct mqtt_state *st)
{
	const struct rc_config *c = st->sink->cfg;
	MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_connectOptions o3 = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions *o = st->v5 ? &o5 : &o3;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry;
	int rc;

	o->keepAliveInterval = c->mqtt_keepalive_s;
	o->automaticReconnect = 1;
	o->minRetryInterval = 1;
	o->maxRetryInterval = 30;
	o->connectTimeout = 10;
	o->maxInflight = c->sink_max_inflight;
	o->context = st;
	if (st->v5) {
		/* keep the session (and its unacknowledged messages) across
		 * reconnects: clean start off, session kept for a day */
		o->cleanstart = 0;
		expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
		expiry.value.integer4 = 86400;
		MQTTProperties_add(&props, &expiry);
		o->connectProperties = &props;
		o->onSuccess5 = on_connect_ok5;
		o->onFailure5 = on_connect_failed5;
	} else {
		o->cleansession = 0;
		o->onSuccess = on_connect_ok;
		o->onFailure = on_connect_failed;
	}
	if (c->mqtt_user[0]) {
		o->username = c->mqtt_user;
		o->password = c->mqtt_password;
	}
	if (sink_mqtt_uri_tls(c->mqtt_uri))
		o->ssl = &st->ssl;
	if (c->mqtt_status_topic[0])
		o->will = &st->will;
	atomic_store(&st->connecting, 1);
	rc = MQTTAsync_connect(st->client, o);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS) {
		atomic_store(&st->connecting, 0);
		log_warn("mqtt: connect to %s: error %d", c->mqtt_uri, rc);
	}
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mqtt_state *st = w->data;

	(void)loop;
	(void)revents;
	if (atomic_load(&st->ever_connected) && !atomic_load(&st->connected) &&
	    !atomic_load(&st->connecting) && !MQTTAsync_isConnected(st->client))
		start_connect(st);
}

static bool mq_open(struct sink *s, char *err, size_t errlen)
{
	const struct rc_config *c = s->cfg;
	struct mqtt_state *st = calloc(1, sizeof(*st));
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	int rc;

	if (!st)
		log_oom();
	st->sink = s;
	s->impl = st;
	st->v5 = c->mqtt_version == MQTT_V5;
	co.MQTTVersion = st->v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0;
	rc = MQTTAsync_createWithOptions(&st->client, c->mqtt_uri, c->mqtt_client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "mqtt: cannot create a client for %s: error %d", c->mqtt_uri,
			 rc);
		return false;
	}
	ssl.enableServerCertAuth = 1;
	ssl.verify = c->mqtt_verify_host;
	ssl.trustStore = c->mqtt_ca_file[0] ? c->mqtt_ca_file : NULL;
	ssl.keyStore = c->mqtt_cert_file[0] ? c->mqtt_cert_file : NULL;
	ssl.privateKey = c->mqtt_key_file[0] ? c->mqtt_key_file : NULL;
	st->ssl = ssl;
	will.topicName = c->mqtt_status_topic;
	will.message = "offline";
	will.retained = 1;
	will.qos = 1;
	st->will = will;
	MQTTAsync_setCallbacks(st->client, st, on_lost, on_message, NULL);
	MQTTAsync_setConnected(st->client, st, on_connected);
	ev_timer_init(&st->retry, retry_cb, 1.0, 2.0);
	st->retry.data = st;
	ev_timer_start(s->loop, &st->retry);
	ev_unref(s->loop);	/* the retry timer alone does not keep the loop running */
	start_connect(st);
	return true;
}

static enum sink_result mq_publish(struct sink *s, struct q_entry *e)
{
	struct mqtt_state *st = s->impl;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message m = MQTTAsync_message_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	int rc;

	/* paho queues what it cannot send yet and scans that queue on every
	 * send: keep it to the window, as the other sinks do */
	if (!atomic_load(&st->connected) ||
	    atomic_load(&st->outstanding) >= s->cfg->sink_max_inflight)
		return SINK_BUSY;
	m.payload = e->payload.data;
	m.payloadlen = (int)e->payload.len;
	m.qos = s->cfg->mqtt_qos;
	m.retained = 0;
	ro.context = e;
	e->owner = s;
	if (st->v5) {
		static const char ctype[] = "application/json";
		const char *keys[5] = { "id", "gtid", "db", "table", "op" };
		const char *vals[5] = { e->id.data ? e->id.data : "", e->gtid, e->db, e->table,
					ch_op_name(e->op) };
		const char *h = e->headers.data;
		MQTTProperty p;

		p.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE;
		p.value.data.data = (char *)ctype;
		p.value.data.len = sizeof(ctype) - 1;
		MQTTProperties_add(&props, &p);
		for (int i = 0; i < 5; i++) {
			p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
			p.value.data.data = (char *)keys[i];
			p.value.data.len = (int)strlen(keys[i]);
			p.value.value.data = (char *)vals[i];
			p.value.value.len = (int)strlen(vals[i]);
			MQTTProperties_add(&props, &p);
		}
		/* route and outbox headers: key, event type, outbox columns */
		for (uint32_t i = 0; i < e->nheaders; i++) {
			const char *v = h + strlen(h) + 1;

			p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
			p.value.data.data = (char *)h;
			p.value.data.len = (int)strlen(h);
			p.value.value.data = (char *)v;
			p.value.value.len = (int)strlen(v);
			MQTTProperties_add(&props, &p);
			h = v + strlen(v) + 1;
		}
		m.properties = props;
		ro.onSuccess5 = on_delivered5;
		ro.onFailure5 = on_send_failed5;
	} else {
		ro.onSuccess = on_delivered;
		ro.onFailure = on_send_failed;
	}
	atomic_fetch_add(&st->outstanding, 1);	/* before: the callback may come first */
	rc = MQTTAsync_sendMessage(st->client, e->topic.data, &m, &ro);
	MQTTProperties_free(&props);
	if (rc == MQTTASYNC_SUCCESS)
		return SINK_OK;
	atomic_fetch_sub(&st->outstanding, 1);
	if (rc == MQTTASYNC_DISCONNECTED || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
	    rc == MQTTASYNC_OPERATION_INCOMPLETE)
		return SINK_BUSY;
	snprintf(s->error, sizeof(s->error),
		 "mqtt: message %.140s (gtid %.100s, table %.64s.%.64s) cannot be published to %.100s: %.40s (error %d)",
		 e->id.data ? e->id.data : "?", e->gtid[0] ? e->gtid : "none", e->db, e->table,
		 e->topic.data, MQTTAsync_strerror(rc), rc);
	return SINK_FATAL;
}

static void mq_poll(struct sink *s)
{
	(void)s;
}

static bool mq_ready(struct sink *s)
{
	struct mqtt_state *st = s->impl;

	return atomic_load(&st->connected);
}

static void mq_close(struct sink *s)
{
	struct mqtt_state *st = s->impl;

	if (!st)
		return;
	ev_ref(s->loop);
	ev_timer_stop(s->loop, &st->retry);
	if (MQTTAsync_isConnected(st->client)) {
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;

		publish_status(st, "offline");
		d.timeout = 1000;
		MQTTAsync_disconnect(st->client, &d);
		for (int i = 0; i < 100 && MQTTAsync_isConnected(st->client); i++)
			MQTTAsync_waitForCompletion(st->client, 0, 10);
	}
	MQTTAsync_destroy(&st->client);
	free(st);
	s->impl = NULL;
}

const struct sink_ops sink_mqtt_ops = {
	.name = "mqtt",
	.open = mq_open,
	.publish = mq_publish,
	.poll = mq_poll,
	.ready = mq_ready,
	.close = mq_close,
};
