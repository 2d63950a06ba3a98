/* SPDX-License-Identifier: MIT */
/*
 * Bounded reader-to-loop queue (see queue.h).
 */
#include "change/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "base/log.h"

/* Buffers above this are given back when their entry is released. */
#define KEEP_BYTES (256 * 1024)

void queue_init(struct queue *q, uint32_t cap)
{
	q->e = calloc(cap, sizeof(*q->e));
	if (!q->e)
		log_oom();
	q->cap = cap;
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	q->pub = 0;
	atomic_init(&q->waiting, false);
	atomic_init(&q->closed, false);
	q->before_wait = NULL;
	q->while_waiting = NULL;
	q->wait_tick_ms = 1000;
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
		buf_free(&q->e[i].step);
	}
	free(q->e);
	q->e = NULL;
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->space);
}

static bool full(struct queue *q, uint64_t head)
{
	return head - atomic_load(&q->tail) >= q->cap;
}

/* The slow path: wait under the mutex until the loop frees an entry. */
static bool wait_space(struct queue *q, uint64_t head)
{
	bool open;

	if (!atomic_load(&q->closed) && q->before_wait)
		q->before_wait(q->wait_ctx);
	pthread_mutex_lock(&q->mu);
	/* seq_cst: either queue_release() sees waiting, or this sees its
	 * new tail; the signal comes under the mutex, after the wait began */
	atomic_store(&q->waiting, true);
	while (!atomic_load(&q->closed) && full(q, head)) {
		struct timespec until;

		if (!q->while_waiting) {
			pthread_cond_wait(&q->space, &q->mu);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += q->wait_tick_ms / 1000;
		until.tv_nsec += (long)(q->wait_tick_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&q->space, &q->mu, &until) == ETIMEDOUT) {
			/* a release meanwhile is seen by full() above: waiting
			 * stays set, and the signal is not needed */
			pthread_mutex_unlock(&q->mu);
			q->while_waiting(q->wait_ctx);
			pthread_mutex_lock(&q->mu);
		}
	}
	atomic_store(&q->waiting, false);
	open = !atomic_load(&q->closed);
	pthread_mutex_unlock(&q->mu);
	return open;
}

struct q_entry *queue_reserve(struct queue *q)
{
	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	struct q_entry *e;

	if (atomic_load_explicit(&q->closed, memory_order_relaxed) || full(q, head)) {
		if (!wait_space(q, head))
			return NULL;
	}
	e = &q->e[head % q->cap];
	atomic_store(&e->acked, 0);
	atomic_store(&e->failed, 0);
	e->trxkey[0] = '\0';
	e->more = 0;
	return e;
}

void queue_push(struct queue *q)
{
	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);

	/* release: the entry's contents are visible with the new head */
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
}

uint64_t queue_head(struct queue *q)
{
	return atomic_load_explicit(&q->head, memory_order_acquire);
}

void queue_release(struct queue *q, uint64_t new_tail)
{
	for (uint64_t i = q->tail; i < new_tail; i++) {
		struct q_entry *e = &q->e[i % q->cap];

		if (e->payload.cap > KEEP_BYTES)
			buf_free(&e->payload);
	}
	atomic_store(&q->tail, new_tail);
	queue_wake(q);
}

void queue_wake(struct queue *q)
{
	/* seq_cst: either the reader sees what changed before this, or this
	 * sees waiting and signals under the mutex, after its wait began */
	if (atomic_load(&q->waiting)) {
		pthread_mutex_lock(&q->mu);
		pthread_cond_signal(&q->space);
		pthread_mutex_unlock(&q->mu);
	}
}

void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	atomic_store(&q->closed, true);
	pthread_cond_broadcast(&q->space);
	pthread_mutex_unlock(&q->mu);
}
