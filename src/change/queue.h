/* SPDX-License-Identifier: MIT */
/*
 * The bounded queue between the reader thread (decode, format) and the
 * loop thread (publish, acknowledge, checkpoint).  Entries are reused in
 * a ring: the reader fills at head, the loop publishes from pub and
 * releases from tail once acknowledged, in order.  A full ring blocks the
 * reader, so memory stays bounded and a slow broker pauses reading.
 */
#ifndef RC_CHANGE_QUEUE_H
#define RC_CHANGE_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "change/change.h"

enum q_kind {
	Q_ROW = 0,	/* a message to publish */
	Q_COMMIT = 1,	/* end of a transaction: the position moves */
	Q_FAIL = 2,	/* the reader stopped for good; error text in payload */
};

struct q_entry {
	uint8_t kind;			/* Q_* */
	atomic_int acked;		/* set once the sink acknowledged it */
	atomic_int failed;		/* set when the sink refused it */
	struct rc_buf topic;		/* Q_ROW: topic */
	struct rc_buf payload;		/* Q_ROW: message; Q_FAIL: error */
	struct rc_buf id;		/* Q_ROW: event id */
	struct rc_buf headers;		/* Q_ROW: extra headers, "key\0value\0" pairs */
	uint32_t nheaders;		/* how many pairs */
	uint8_t routed_topic;		/* topic set by a route or outbox template
					   (the AMQP sink uses it as routing key) */
	char gtid[128];			/* the transaction's GTID, "" if none */
	char trxkey[300];		/* the transaction's id (ch_trx.id) */
	char db[256];			/* Q_ROW: database name */
	char table[256];		/* Q_ROW: table name */
	uint8_t op;			/* Q_ROW: enum ch_op */
	uint64_t index;			/* Q_ROW: row index in the trx */
	uint8_t more;			/* Q_ROW: more messages of the same row follow */
	uint64_t ts_ms;			/* commit time of the trx */
	int64_t pub_ms;			/* Q_ROW: wall clock when published (loop) */
	struct rc_buf step;		/* Q_COMMIT: how the source's position moves
					   past the trx (its bytes, source.h) */
	uint8_t durable;		/* Q_COMMIT: write the checkpoint as soon as
					   it is acknowledged (a snapshot chunk) */
	int fail_status;		/* Q_FAIL: rc_status */
	void *owner;			/* the sink that took it (for callbacks) */
	void *mt;			/* Q_ROW: its table's metrics counters */
};

/*
 * head is written by the reader only and tail by the loop only, so neither
 * side locks to move them; the mutex and the condition are only for a
 * reader that waits for space (it says so in waiting, and the loop signals
 * only then).
 */
struct queue {
	pthread_mutex_t mu;		/* guards the waiting reader, closed's writes */
	pthread_cond_t space;		/* signalled when tail moves or closing */
	struct q_entry *e;		/* ring of cap entries */
	uint32_t cap;			/* ring size */
	_Atomic uint64_t head;		/* next entry the reader fills */
	uint64_t pub;			/* next entry the loop publishes (loop only) */
	_Atomic uint64_t tail;		/* oldest entry not released */
	atomic_bool waiting;		/* the reader waits (or is about to) on space */
	atomic_bool closed;		/* reader must stop */
	/* called by the reader just before it waits for space (the loop
	 * must know there is something to publish, or it never frees any) */
	void (*before_wait)(void *ctx);
	/* called by the reader every wait_tick_ms while it waits for space,
	 * outside the mutex (NULL: never), e.g. to keep a gauge current */
	void (*while_waiting)(void *ctx);
	unsigned wait_tick_ms;
	void *wait_ctx;
};

/* The value of header k of e ("key\0value\0" pairs), or NULL. */
static inline const char *queue_header(const struct q_entry *e, const char *k)
{
	const char *p = e->headers.data;

	for (uint32_t i = 0; p && i < e->nheaders; i++) {
		const char *v = p + strlen(p) + 1;

		if (!strcmp(p, k))
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

void queue_init(struct queue *q, uint32_t cap);
void queue_destroy(struct queue *q);
/* Reader: the next free entry, waiting for space; NULL once closed. */
struct q_entry *queue_reserve(struct queue *q);
/* Reader: hand the reserved entry over. */
void queue_push(struct queue *q);
/* Loop: entries filled so far (head). */
uint64_t queue_head(struct queue *q);
/* Loop: release entries up to new_tail and wake the reader. */
void queue_release(struct queue *q, uint64_t new_tail);
/* Loop: wake a reader waiting on space, after a change it may wait for
 * besides space (a checkpoint on disk, for a snapshot's drain). */
void queue_wake(struct queue *q);
/* Either side: make the reader stop waiting. */
void queue_close(struct queue *q);

static inline struct q_entry *queue_at(struct queue *q, uint64_t i)
{
	return &q->e[i % q->cap];
}

#endif
