/* SPDX-License-Identifier: MIT */
/*
 * Bounded reader-to-loop queue (see queue.h).
 */
#include "core/queue.h"

#include <stdlib.h>

#include "core/log.h"

/* Buffers above this are given back when their entry is released. */
#define KEEP_BYTES (256 * 1024)

void queue_init(struct queue *q, uint32_t cap)
{
	q->e = calloc(cap, sizeof(*q->e));
	if (!q->e)
		log_oom();
	q->cap = cap;
	q->head = q->pub = q->tail = 0;
	q->closed = false;
	q->before_wait = NULL;
	q->wait_ctx = NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->space, NULL);
}

void queue_destroy(struct queue *q)
{
	for (uint32_t i = 0; i < q->cap; i++) {
		buf_free(&q->e[i].topic);
		buf_free(&q->e[i].payload);
		buf_free(&q->e[i].id);
		buf_free(&q->e[i].headers);
	}
	free(q->e);
	q->e = NULL;
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->space);
}

struct q_entry *queue_reserve(struct queue *q)
{
	struct q_entry *e;

	pthread_mutex_lock(&q->mu);
	if (!q->closed && q->head - q->tail >= q->cap && q->before_wait) {
		pthread_mutex_unlock(&q->mu);
		q->before_wait(q->wait_ctx);
		pthread_mutex_lock(&q->mu);
	}
	while (!q->closed && q->head - q->tail >= q->cap)
		pthread_cond_wait(&q->space, &q->mu);
	if (q->closed) {
		pthread_mutex_unlock(&q->mu);
		return NULL;
	}
	e = &q->e[q->head % q->cap];
	pthread_mutex_unlock(&q->mu);
	atomic_store(&e->acked, 0);
	atomic_store(&e->failed, 0);
	e->trxkey[0] = '\0';
	e->xa_op = 0;
	return e;
}

void queue_push(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->head++;
	pthread_mutex_unlock(&q->mu);
}

uint64_t queue_head(struct queue *q)
{
	uint64_t h;

	pthread_mutex_lock(&q->mu);
	h = q->head;
	pthread_mutex_unlock(&q->mu);
	return h;
}

void queue_release(struct queue *q, uint64_t new_tail)
{
	for (uint64_t i = q->tail; i < new_tail; i++) {
		struct q_entry *e = &q->e[i % q->cap];

		if (e->payload.cap > KEEP_BYTES)
			buf_free(&e->payload);
	}
	pthread_mutex_lock(&q->mu);
	q->tail = new_tail;
	pthread_cond_signal(&q->space);
	pthread_mutex_unlock(&q->mu);
}

void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	pthread_cond_broadcast(&q->space);
	pthread_mutex_unlock(&q->mu);
}
