/* SPDX-License-Identifier: MIT */
/*
 * Choosing a sink by config.
 */
#include "sink/sink.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct sink *sink_new(const struct rc_config *cfg, struct ev_loop *loop, ev_async *wake)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (!s)
		log_oom();
	s->cfg = cfg;
	s->loop = loop;
	s->wake = wake;
	switch (cfg->sink_kind) {
	case SINK_STDOUT:
	case SINK_FILE:
		s->ops = &sink_stdout_ops;
		break;
	case SINK_AMQP:
		s->ops = &sink_amqp_ops;
		break;
	default:
		s->ops = cfg->mqtt_client == MQTT_CLIENT_MOSQUITTO ? &sink_mosq_ops :
								     &sink_mqtt_ops;
	}
	return s;
}

bool sink_mqtt_uri_tls(const char *uri)
{
	return !strncmp(uri, "ssl://", 6) || !strncmp(uri, "mqtts://", 8);
}

void sink_free(struct sink *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}
