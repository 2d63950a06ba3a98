/* SPDX-License-Identifier: MIT */
/*
 * The sink interface: one ops table {open, publish, poll, close} per
 * broker.  publish() takes a queue entry; the sink acknowledges it later,
 * from any thread, with sink_ack() or sink_refuse(), which wake the loop.
 * Sinks never see positions: only topics, payloads and ids.
 */
#ifndef RC_SINK_SINK_H
#define RC_SINK_SINK_H

#include <ev.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "change/queue.h"

enum sink_result {
	SINK_OK = 0,		/* taken; an ack (or refusal) follows */
	SINK_BUSY = 1,		/* not now (not connected, window full): retry later */
	SINK_FATAL = 2,		/* cannot go on */
};

struct sink;

struct sink_ops {
	const char *name;
	/* Start connecting; false only when that cannot even start. */
	bool (*open)(struct sink *s, char *err, size_t errlen);
	enum sink_result (*publish)(struct sink *s, struct q_entry *e);
	/* End of a publishing batch (flush buffered output). */
	void (*poll)(struct sink *s);
	/* Connected and able to take messages? */
	bool (*ready)(struct sink *s);
	void (*close)(struct sink *s);
};

struct sink {
	const struct sink_ops *ops;	/* implementation */
	const struct rc_config *cfg;	/* settings, owned by the caller */
	struct ev_loop *loop;		/* the loop to wake */
	ev_async *wake;			/* sent after acks and state changes */
	void *impl;			/* implementation state */
	char error[1024];		/* last fatal error, "" when none */
	atomic_int fatal;		/* set from any thread on a fatal error */
	atomic_uint_fast64_t reconnects; /* sessions up again after the first */
	atomic_uint_fast64_t returned;	/* messages the broker returned (counted) */
};

/* Acknowledged: the loop may release e.  Any thread. */
static inline void sink_ack(struct sink *s, struct q_entry *e)
{
	atomic_store(&e->acked, 1);
	ev_async_send(s->loop, s->wake);
}

/* Refused for good (the loop decides what that means).  Any thread. */
static inline void sink_refuse(struct sink *s, struct q_entry *e)
{
	atomic_store(&e->failed, 1);
	ev_async_send(s->loop, s->wake);
}

/* An MQTT broker URI that asks for TLS: ssl:// or mqtts://. */
bool sink_mqtt_uri_tls(const char *uri);
struct sink *sink_new(const struct rc_config *cfg, struct ev_loop *loop, ev_async *wake);
void sink_free(struct sink *s);

extern const struct sink_ops sink_mqtt_ops;
extern const struct sink_ops sink_stdout_ops;	/* stdout, and type = file */
extern const struct sink_ops sink_amqp_ops;
extern const struct sink_ops sink_mosq_ops;	/* MQTT over libmosquitto */

#endif
