/* SPDX-License-Identifier: MIT */
/*
 * MQTT sink over paho-mqtt-c's asynchronous client.  paho calls back on
 * its own threads; those callbacks only set atomic flags on queue entries
 * and wake the loop (ev_async), so all other state is the loop's.
 * A persistent session (clean session off) lets the broker and paho
 * resend unacknowledged QoS 1/2 messages after a reconnect.
 */
#include <MQTTAsync.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sink/sink.h"

struct mqtt_state {
	MQTTAsync client;		/* paho handle */
	atomic_int connected;		/* session up */
	atomic_int connecting;		/* a connect is in flight */
	atomic_int lost_logged;		/* a connection-lost line was logged */
	ev_timer retry;			/* reconnect when the first connect failed */
	struct sink *sink;		/* back pointer for callbacks */
	int fails;			/* connect failures in a row */
	atomic_int ever_connected;	/* a first connection succeeded */
};

static void on_delivered(void *ctx, MQTTAsync_successData *resp)
{
	struct q_entry *e = ctx;

	(void)resp;
	sink_ack(e->owner, e);
}

static void on_send_failed(void *ctx, MQTTAsync_failureData *resp)
{
	struct q_entry *e = ctx;
	struct sink *s = e->owner;

	if (resp && resp->message)
		snprintf(s->error, sizeof(s->error), "mqtt: publish of %s failed: %s (code %d)",
			 e->id.data ? e->id.data : "?", resp->message, resp->code);
	sink_refuse(s, e);
}

static void on_connected(void *ctx, char *cause)
{
	struct mqtt_state *st = ctx;

	(void)cause;
	atomic_store(&st->connected, 1);
	atomic_store(&st->connecting, 0);
	atomic_store(&st->ever_connected, 1);
	if (atomic_exchange(&st->lost_logged, 0) || st->fails)
		log_info("mqtt: connected to %s", st->sink->cfg->mqtt_uri);
	st->fails = 0;
	ev_async_send(st->sink->loop, st->sink->wake);
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	on_connected(ctx, NULL);
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_state *st = ctx;

	if (!atomic_load(&st->ever_connected)) {
		/* the first connection: a wrong address or refused
		 * credentials are reported, not retried for ever */
		snprintf(st->sink->error, sizeof(st->sink->error),
			 "mqtt: cannot connect to %s: %s (code %d)", st->sink->cfg->mqtt_uri,
			 resp && resp->message ? resp->message : "connection refused",
			 resp ? resp->code : 0);
		atomic_store(&st->connecting, 0);
		atomic_store(&st->sink->fatal, 1);
		ev_async_send(st->sink->loop, st->sink->wake);
		return;
	}
	if (st->fails++ == 0)
		log_warn("mqtt: cannot connect to %s: %s (code %d); retrying",
			 st->sink->cfg->mqtt_uri, resp && resp->message ? resp->message : "refused",
			 resp ? resp->code : 0);
	atomic_store(&st->connecting, 0);
	ev_async_send(st->sink->loop, st->sink->wake);
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
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	int rc;

	o.keepAliveInterval = c->mqtt_keepalive_s;
	o.cleansession = 0;
	o.automaticReconnect = 1;
	o.minRetryInterval = 1;
	o.maxRetryInterval = 30;
	o.connectTimeout = 10;
	o.maxInflight = c->sink_max_inflight;
	o.onSuccess = on_connect_ok;
	o.onFailure = on_connect_failed;
	o.context = st;
	if (c->mqtt_user[0]) {
		o.username = c->mqtt_user;
		o.password = c->mqtt_password;
	}
	atomic_store(&st->connecting, 1);
	rc = MQTTAsync_connect(st->client, &o);
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
	if (!atomic_load(&st->connected) && !atomic_load(&st->connecting) &&
	    !MQTTAsync_isConnected(st->client))
		start_connect(st);
}

static bool mq_open(struct sink *s, char *err, size_t errlen)
{
	const struct rc_config *c = s->cfg;
	struct mqtt_state *st = calloc(1, sizeof(*st));
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	int rc;

	if (!st)
		log_oom();
	st->sink = s;
	s->impl = st;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0;
	rc = MQTTAsync_createWithOptions(&st->client, c->mqtt_uri, c->mqtt_client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "mqtt: cannot create a client for %s: error %d", c->mqtt_uri,
			 rc);
		return false;
	}
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
	int rc;

	if (!atomic_load(&st->connected))
		return SINK_BUSY;
	m.payload = e->payload.data;
	m.payloadlen = (int)e->payload.len;
	m.qos = s->cfg->mqtt_qos;
	m.retained = 0;
	ro.onSuccess = on_delivered;
	ro.onFailure = on_send_failed;
	ro.context = e;
	e->owner = s;
	rc = MQTTAsync_sendMessage(st->client, e->topic.data, &m, &ro);
	if (rc == MQTTASYNC_SUCCESS)
		return SINK_OK;
	if (rc == MQTTASYNC_DISCONNECTED || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
	    rc == MQTTASYNC_OPERATION_INCOMPLETE)
		return SINK_BUSY;
	snprintf(s->error, sizeof(s->error), "mqtt: publish to %s refused by the client: error %d",
		 e->topic.data, rc);
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
