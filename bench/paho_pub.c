/* SPDX-License-Identifier: MIT */
/*
 * paho_pub: the bare MQTT publisher of the rowcast benchmark (paho-mqtt-c,
 * MQTTAsync), the "broker ceiling" for rowcast's paho-based MQTT sink.
 *
 *   paho_pub URI CLIENT_ID TOPIC FILE QOS [WINDOW [VERSION [PROPS]]]
 *       connect to URI (e.g. tcp://127.0.0.1:1883) as CLIENT_ID with a
 *       clean session, publish every line of FILE (without its newline;
 *       "-" is stdin) to TOPIC at QOS (0, 1 or 2) with MQTT VERSION 5
 *       (default) or 4 (3.1.1), at most WINDOW (default 1000, max 65535)
 *       messages not yet completed; then disconnect and print
 *       "published N acked N failed N seconds S"
 *       (S: wall seconds from after the connect to the last completion).
 *       A message is completed when paho calls its onSuccess/onFailure:
 *       for QoS 0 once written to the socket, for QoS 1 on PUBACK, for
 *       QoS 2 on PUBCOMP.  PROPS 1 (MQTT 5): the properties rowcast's sink
 *       sets on each message, taken from the line (a rowcast native
 *       message): content type and the user properties id, gtid, db,
 *       table, op.  Exit 0 if nothing failed, 1 if some messages
 *       failed, 2 on error (bad arguments, connect failure, lost connection).
 *
 * Build: gcc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra \
 *            -o paho_pub paho_pub.c -lpaho-mqtt3as -lpthread
 * (Debian/Ubuntu package libpaho-mqtt-dev.)  No user name or password.
 */
#define _GNU_SOURCE	/* memmem */
#include <MQTTAsync.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "line_field.h"

#define MAX_WINDOW 65535	/* MQTT packet identifiers */
#define CONNECT_TIMEOUT 10	/* seconds */
#define DISCONNECT_TIMEOUT 5	/* seconds */
#define MAX_FAIL_LOGS 5		/* failed publishes reported on stderr */

struct state {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* MQTTAsync_connect / MQTTAsync_disconnect results */
	int connected, connect_done;
	int disconnect_done, disconnect_ok;
	char error[512];
	/* publishing */
	unsigned long outstanding, acked, failed;
	int waiting;		/* the main thread sleeps on cv */
	int lost;		/* connection lost */
	double last;		/* time of the last completion */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: paho_pub URI CLIENT_ID TOPIC FILE QOS [WINDOW [VERSION [PROPS]]]\n"
			"       QOS 0|1|2, WINDOW 1..%d (default 1000), VERSION 5 (default) or 4,\n"
			"       PROPS 1: rowcast's MQTT 5 properties from each line\n",
		MAX_WINDOW);
	exit(2);
}

/* rowcast's properties for the message in line (as its MQTT sink sets them). */
static void add_props(MQTTProperties *props, char *line, size_t len)
{
	static const char *const keys[5] = { "id", "gtid", "db", "table", "op" };
	static char ctype[] = "application/json";
	MQTTProperty p;

	MQTTProperties_free(props);
	p.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE;
	p.value.data.data = ctype;
	p.value.data.len = (int)strlen(ctype);
	MQTTProperties_add(props, &p);
	for (int i = 0; i < 5; i++) {
		size_t n;

		p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
		p.value.data.data = (char *)keys[i];
		p.value.data.len = (int)strlen(keys[i]);
		p.value.value.data = (char *)line_field(line, len, keys[i], &n);
		p.value.value.len = (int)n;
		MQTTProperties_add(props, &p);
	}
}

static long parse_num(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "paho_pub: bad %s '%s' (want %ld..%ld)\n", what, s, lo, hi);
		usage();
	}
	return v;
}

/* MQTT 3.1.1 CONNACK return codes (paho passes them as the failure code) */
static const char *connack_text(int rc)
{
	switch (rc) {
	case 1:
		return "unacceptable protocol version";
	case 2:
		return "identifier rejected";
	case 3:
		return "server unavailable";
	case 4:
		return "bad user name or password";
	case 5:
		return "not authorized";
	}
	return NULL;
}

/* Describe a paho failure: library code, optional text, MQTT 5 reason code. */
static void describe(char *buf, size_t size, int code, const char *message, int reason)
{
	const char *ctext = code < 0 ? MQTTAsync_strerror(code) : connack_text(code);
	int n;

	n = snprintf(buf, size, "code %d (%s)", code, ctext ? ctext : "?");
	if (n >= 0 && (size_t)n < size && message)
		n += snprintf(buf + n, size - (size_t)n, ": %s", message);
	if (n >= 0 && (size_t)n < size && reason)
		snprintf(buf + n, size - (size_t)n, ", reason code 0x%02x (%s)", reason,
			 MQTTReasonCode_toString((enum MQTTReasonCodes)reason));
}

/* Set an int flag under the lock and wake the main thread. */
static void set_flag(struct state *st, int *flag, int value)
{
	pthread_mutex_lock(&st->mu);
	*flag = value;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* Wait until *flag is set or the timeout expires; returns the flag. */
static int wait_flag(struct state *st, int *flag, int seconds)
{
	struct timespec deadline;
	int v, rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds;
	pthread_mutex_lock(&st->mu);
	while (!*flag && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&st->cv, &st->mu, &deadline);
	v = *flag;
	pthread_mutex_unlock(&st->mu);
	return v;
}

/* --- callbacks: all run on paho's threads --- */

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
	struct state *st = ctx;

	(void)r;
	st->connected = 1;
	set_flag(st, &st->connect_done, 1);
}

static void on_connect5(void *ctx, MQTTAsync_successData5 *r)
{
	struct state *st = ctx;

	(void)r;
	st->connected = 1;
	set_flag(st, &st->connect_done, 1);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
	struct state *st = ctx;

	pthread_mutex_lock(&st->mu);
	describe(st->error, sizeof(st->error), r ? r->code : 0, r ? r->message : NULL, 0);
	pthread_mutex_unlock(&st->mu);
	set_flag(st, &st->connect_done, 1);
}

static void on_connect_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	struct state *st = ctx;

	pthread_mutex_lock(&st->mu);
	describe(st->error, sizeof(st->error), r ? r->code : 0, r ? r->message : NULL,
		 r ? (int)r->reasonCode : 0);
	pthread_mutex_unlock(&st->mu);
	set_flag(st, &st->connect_done, 1);
}

static void on_disconnect(void *ctx, MQTTAsync_successData *r)
{
	struct state *st = ctx;

	(void)r;
	st->disconnect_ok = 1;
	set_flag(st, &st->disconnect_done, 1);
}

static void on_disconnect5(void *ctx, MQTTAsync_successData5 *r)
{
	struct state *st = ctx;

	(void)r;
	st->disconnect_ok = 1;
	set_flag(st, &st->disconnect_done, 1);
}

static void on_disconnect_fail(void *ctx, MQTTAsync_failureData *r)
{
	(void)r;
	set_flag(ctx, &((struct state *)ctx)->disconnect_done, 1);
}

static void on_disconnect_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	(void)r;
	set_flag(ctx, &((struct state *)ctx)->disconnect_done, 1);
}

static void on_lost(void *ctx, char *cause)
{
	struct state *st = ctx;

	pthread_mutex_lock(&st->mu);
	if (!st->lost) {
		st->lost = 1;
		snprintf(st->error, sizeof(st->error), "%s",
			 cause ? cause : "closed by the broker or the network (paho gives no cause)");
	}
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* MQTT 5: the broker sent a DISCONNECT; on_lost follows. */
static void on_server_disconnect(void *ctx, MQTTProperties *props, enum MQTTReasonCodes reason)
{
	struct state *st = ctx;

	(void)props;
	pthread_mutex_lock(&st->mu);
	if (!st->lost) {
		st->lost = 1;
		snprintf(st->error, sizeof(st->error), "broker sent DISCONNECT, reason code 0x%02x (%s)",
			 (int)reason, MQTTReasonCode_toString(reason));
	}
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* One publish completed; fail_text is NULL on success. */
static void pub_done(struct state *st, const char *fail_text)
{
	double t = now();

	pthread_mutex_lock(&st->mu);
	if (fail_text) {
		if (st->failed < MAX_FAIL_LOGS)
			fprintf(stderr, "paho_pub: publish failed: %s\n", fail_text);
		st->failed++;
	} else
		st->acked++;
	st->outstanding--;
	st->last = t;
	if (st->waiting)
		pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

static void on_pub(void *ctx, MQTTAsync_successData *r)
{
	(void)r;
	pub_done(ctx, NULL);
}

static void on_pub5(void *ctx, MQTTAsync_successData5 *r)
{
	(void)r;
	pub_done(ctx, NULL);
}

static void on_pub_fail(void *ctx, MQTTAsync_failureData *r)
{
	char text[256];

	describe(text, sizeof(text), r ? r->code : 0, r ? r->message : NULL, 0);
	pub_done(ctx, text);
}

static void on_pub_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	char text[256];

	describe(text, sizeof(text), r ? r->code : 0, r ? r->message : NULL,
		 r ? (int)r->reasonCode : 0);
	pub_done(ctx, text);
}

/* --- main thread --- */

static void die_lost(struct state *st, unsigned long sent)
{
	pthread_mutex_lock(&st->mu);
	fprintf(stderr, "paho_pub: connection lost after %lu sent, %lu acked, %lu failed: %s\n",
		sent, st->acked, st->failed, st->error);
	pthread_mutex_unlock(&st->mu);
	exit(2);
}

static void connect_to(MQTTAsync c, struct state *st, const char *uri, int version, int window)
{
	MQTTAsync_connectOptions v5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_connectOptions v4 = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions *o;
	int rc;

	if (version == 5) {
		o = &v5;
		o->cleanstart = 1;
		o->onSuccess5 = on_connect5;
		o->onFailure5 = on_connect_fail5;
	} else {
		o = &v4;
		o->cleansession = 1;
		o->MQTTVersion = MQTTVERSION_3_1_1;
		o->onSuccess = on_connect;
		o->onFailure = on_connect_fail;
	}
	o->maxInflight = window;
	o->connectTimeout = CONNECT_TIMEOUT;
	o->automaticReconnect = 0;
	o->context = st;
	if ((rc = MQTTAsync_connect(c, o)) != MQTTASYNC_SUCCESS) {
		fprintf(stderr, "paho_pub: connect %s: %s\n", uri, MQTTAsync_strerror(rc));
		exit(2);
	}
	if (!wait_flag(st, &st->connect_done, CONNECT_TIMEOUT + 5)) {
		fprintf(stderr, "paho_pub: connect %s: no answer after %d s\n", uri,
			CONNECT_TIMEOUT + 5);
		exit(2);
	}
	if (!st->connected) {
		fprintf(stderr, "paho_pub: connect %s (MQTT %s) failed: %s\n", uri,
			version == 5 ? "5" : "3.1.1", st->error);
		MQTTAsync_destroy(&c);
		exit(2);
	}
}

static void disconnect(MQTTAsync c, struct state *st, int version)
{
	MQTTAsync_disconnectOptions v5 = MQTTAsync_disconnectOptions_initializer5;
	MQTTAsync_disconnectOptions v4 = MQTTAsync_disconnectOptions_initializer;
	MQTTAsync_disconnectOptions *o;
	int rc;

	if (version == 5) {
		o = &v5;
		o->onSuccess5 = on_disconnect5;
		o->onFailure5 = on_disconnect_fail5;
	} else {
		o = &v4;
		o->onSuccess = on_disconnect;
		o->onFailure = on_disconnect_fail;
	}
	o->timeout = 1000;	/* ms; nothing should be in flight any more */
	o->context = st;
	if ((rc = MQTTAsync_disconnect(c, o)) != MQTTASYNC_SUCCESS)
		fprintf(stderr, "paho_pub: warning: disconnect: %s\n", MQTTAsync_strerror(rc));
	else if (!wait_flag(st, &st->disconnect_done, DISCONNECT_TIMEOUT) || !st->disconnect_ok)
		fprintf(stderr, "paho_pub: warning: disconnect did not complete cleanly\n");
}

int main(int argc, char **argv)
{
	const char *uri, *client_id, *topic, *path;
	int qos, window = 1000, version = 5, with_props = 0, rc;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTAsync c;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	struct state st;
	FILE *in;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long sent = 0, acked, failed;
	double t0, t1;

	if (argc < 6 || argc > 9)
		usage();
	uri = argv[1];
	client_id = argv[2];
	topic = argv[3];
	path = argv[4];
	qos = (int)parse_num(argv[5], "QOS", 0, 2);
	if (argc > 6)
		window = (int)parse_num(argv[6], "WINDOW", 1, MAX_WINDOW);
	if (argc > 7)
		version = (int)parse_num(argv[7], "VERSION", 4, 5);
	if (argc > 8)
		with_props = (int)parse_num(argv[8], "PROPS", 0, 1) && version == 5;

	in = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!in) {
		fprintf(stderr, "paho_pub: %s: %s\n", path, strerror(errno));
		return 2;
	}

	memset(&st, 0, sizeof(st));
	pthread_mutex_init(&st.mu, NULL);
	pthread_cond_init(&st.cv, NULL);

	/* The buffered-message limit also counts publishes queued while
	 * connected (waiting for paho's send thread or for maxInflight), so
	 * it must be at least the window, or sends fail with
	 * MQTTASYNC_MAX_BUFFERED_MESSAGES.  Nothing is sent while
	 * disconnected: a lost connection is an error here. */
	co.MQTTVersion = version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0;
	co.maxBufferedMessages = window;
	rc = MQTTAsync_createWithOptions(&c, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		fprintf(stderr, "paho_pub: create client for %s: %s\n", uri, MQTTAsync_strerror(rc));
		return 2;
	}
	if (MQTTAsync_setConnectionLostCallback(c, &st, on_lost) != MQTTASYNC_SUCCESS ||
	    (version == 5 &&
	     MQTTAsync_setDisconnected(c, &st, on_server_disconnect) != MQTTASYNC_SUCCESS)) {
		fprintf(stderr, "paho_pub: cannot set callbacks\n");
		return 2;
	}
	connect_to(c, &st, uri, version, window);

	if (version == 5) {
		ro.onSuccess5 = on_pub5;
		ro.onFailure5 = on_pub_fail5;
	} else {
		ro.onSuccess = on_pub;
		ro.onFailure = on_pub_fail;
	}
	ro.context = &st;
	msg.qos = qos;
	msg.retained = 0;

	t0 = now();
	st.last = t0;
	while ((len = getline(&line, &cap, in)) > 0) {
		if (line[len - 1] == '\n')
			len--;
		if (len > INT_MAX) {
			fprintf(stderr, "paho_pub: line %lu too long (%zd bytes)\n", sent + 1, len);
			return 2;
		}
		pthread_mutex_lock(&st.mu);
		while (st.outstanding >= (unsigned long)window && !st.lost) {
			st.waiting = 1;
			pthread_cond_wait(&st.cv, &st.mu);
			st.waiting = 0;
		}
		if (st.lost) {
			pthread_mutex_unlock(&st.mu);
			die_lost(&st, sent);
		}
		st.outstanding++;
		pthread_mutex_unlock(&st.mu);

		/* paho copies the payload and topic, so the line buffer can be reused */
		msg.payload = line;
		msg.payloadlen = (int)len;
		if (with_props) {
			add_props(&props, line, (size_t)len);
			msg.properties = props;
		}
		rc = MQTTAsync_sendMessage(c, topic, &msg, &ro);
		if (rc != MQTTASYNC_SUCCESS) {
			pthread_mutex_lock(&st.mu);
			if (st.lost) {
				pthread_mutex_unlock(&st.mu);
				die_lost(&st, sent);
			}
			pthread_mutex_unlock(&st.mu);
			fprintf(stderr, "paho_pub: send message %lu: %s\n", sent + 1,
				MQTTAsync_strerror(rc));
			return 2;
		}
		sent++;
	}
	MQTTProperties_free(&props);	/* paho copied what it sent */
	if (ferror(in)) {
		fprintf(stderr, "paho_pub: read %s: %s\n", path, strerror(errno));
		return 2;
	}

	pthread_mutex_lock(&st.mu);
	while (st.outstanding > 0 && !st.lost) {
		st.waiting = 1;
		pthread_cond_wait(&st.cv, &st.mu);
		st.waiting = 0;
	}
	if (st.outstanding > 0) {
		pthread_mutex_unlock(&st.mu);
		die_lost(&st, sent);
	}
	acked = st.acked;
	failed = st.failed;
	t1 = st.last;
	pthread_mutex_unlock(&st.mu);

	disconnect(c, &st, version);
	MQTTAsync_destroy(&c);
	free(line);
	if (in != stdin)
		fclose(in);

	printf("published %lu acked %lu failed %lu seconds %.3f\n", sent, acked, failed, t1 - t0);
	return failed ? 1 : 0;
}
