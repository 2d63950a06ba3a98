/* SPDX-License-Identifier: MIT */
/*
 * A growable byte vector for the unit tests that build binary JSON and
 * JSON diffs by hand.  Include after <cmocka.h>.
 */
#ifndef RC_TEST_BYTES_H
#define RC_TEST_BYTES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static inline void put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 16;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* v as w little-endian bytes at the end. */
static inline void put_le(struct bytes *b, uint64_t v, unsigned w)
{
	for (unsigned i = 0; i < w; i++) {
		uint8_t c = (uint8_t)(v >> (8 * i));

		put(b, &c, 1);
	}
}

/* v as w little-endian bytes over those at at. */
static inline void set_le(struct bytes *b, size_t at, uint64_t v, unsigned w)
{
	for (unsigned i = 0; i < w; i++)
		b->p[at + i] = (uint8_t)(v >> (8 * i));
}

#endif
