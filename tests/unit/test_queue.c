/* SPDX-License-Identifier: MIT */
/* Unit tests: the reader-to-loop ring, filled and drained by two threads. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "change/queue.h"

#define N 200000

struct side {
	struct queue *q;
	uint64_t made;		/* entries the producer handed over */
	int waits;		/* before_wait calls */
};

static void *produce(void *arg)
{
	struct side *s = arg;

	for (uint64_t i = 0; i < N; i++) {
		struct q_entry *e = queue_reserve(s->q);

		if (!e)
			break;
		e->index = i;
		buf_reset(&e->payload);
		buf_put_u64(&e->payload, i * 7);
		queue_push(s->q);
		s->made = i + 1;
	}
	return NULL;
}

static void on_wait(void *ctx)
{
	((struct side *)ctx)->waits++;
}

/* Entries come out in order with what was written into them, through a
 * ring small enough that the producer waits for space all the time. */
static void test_order_under_pressure(void **state)
{
	struct queue q;
	struct side s = { &q, 0, 0 };
	pthread_t t;
	uint64_t next = 0;

	(void)state;
	queue_init(&q, 4);
	q.before_wait = on_wait;
	q.wait_ctx = &s;
	assert_int_equal(pthread_create(&t, NULL, produce, &s), 0);
	while (next < N) {
		uint64_t head = queue_head(&q), upto = next;

		while (upto < head) {
			struct q_entry *e = queue_at(&q, upto);
			char want[24];

			assert_int_equal(e->index, upto);
			snprintf(want, sizeof(want), "%llu", (unsigned long long)(upto * 7));
			assert_string_equal(e->payload.data, want);
			upto++;
		}
		if (upto > next) {
			queue_release(&q, upto);
			next = upto;
		}
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.made, N);
	assert_true(s.waits > 0);
	queue_destroy(&q);
}

static void *reserve_one(void *arg)
{
	struct queue *q = arg;

	return queue_reserve(q);
}

/* A reader waiting on a full ring is let go by queue_close() with NULL. */
static void test_close_wakes_waiter(void **state)
{
	struct queue q;
	pthread_t t;
	void *got = &q;

	(void)state;
	queue_init(&q, 2);
	for (int i = 0; i < 2; i++) {
		assert_non_null(queue_reserve(&q));
		queue_push(&q);
	}
	assert_int_equal(pthread_create(&t, NULL, reserve_one, &q), 0);
	while (!atomic_load(&q.waiting))
		sched_yield();
	queue_close(&q);
	assert_int_equal(pthread_join(t, &got), 0);
	assert_null(got);
	assert_null(queue_reserve(&q));
	queue_destroy(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_under_pressure),
		cmocka_unit_test(test_close_wakes_waiter),
	};

	alarm(120);	/* a lost wakeup hangs: make it a failure instead */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
