/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffer, reused across events and rows so the hot path does
 * not allocate once warm.  Growth failure aborts the process (out of memory
 * is not a recoverable state for a streaming daemon).  Also the JSON text
 * writers used by every output format.
 */
#ifndef RC_BASE_BUF_H
#define RC_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rc_buf {
	char *data;	/* bytes, always NUL-terminated when cap > 0 */
	size_t len;	/* bytes in use, not counting the NUL */
	size_t cap;	/* bytes allocated */
};

/* Make room for extra more bytes (plus the NUL); aborts on OOM. */
void buf_reserve(struct rc_buf *b, size_t extra);
/* Forget the contents, keep the memory. */
static inline void buf_reset(struct rc_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->data[0] = '\0';
}
/* Release the memory; b may be reused after (it is zeroed). */
void buf_free(struct rc_buf *b);

static inline void buf_append(struct rc_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap)
		buf_reserve(b, n);
	if (n)		/* p may be NULL when n is 0 */
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void buf_putc(struct rc_buf *b, char c)
{
	if (b->len + 2 > b->cap)
		buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

/* Copy the string src into dst of size bytes (> 0), cut to fit, always
 * NUL-terminated; for the per-row paths where snprintf("%s") costs. */
static inline void buf_strcpy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Room for extra more bytes (plus the NUL) without the call when it is there. */
static inline void buf_room(struct rc_buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->cap)
		buf_reserve(b, extra);
}

void buf_puts(struct rc_buf *b, const char *s);
/* v in decimal, at least width digits (zeros in front), written so that it
 * ends at end; returns its start.  Needs max(20, width) bytes before end. */
char *buf_digits_back(char *end, uint64_t v, unsigned width);

/* Copy n bytes, inline for the short values of a row (reads and writes
 * only [s, s + n) and [d, d + n)). */
static inline void buf_copy(char *d, const char *s, size_t n)
{
	if (n > 16) {
		memcpy(d, s, n);
	} else if (n >= 8) {
		uint64_t x, y;

		memcpy(&x, s, 8);
		memcpy(&y, s + n - 8, 8);
		memcpy(d, &x, 8);
		memcpy(d + n - 8, &y, 8);
	} else if (n >= 4) {
		uint32_t x, y;

		memcpy(&x, s, 4);
		memcpy(&y, s + n - 4, 4);
		memcpy(d, &x, 4);
		memcpy(d + n - 4, &y, 4);
	} else if (n) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

/* "00" to "99", two characters each. */
extern const char rc_digit_pairs[201];
/* 10^0 to 10^19. */
extern const uint64_t rc_pow10[20];

/* Exactly width digits of v (v < 10^width) at p, returns p + width. */
static inline char *buf_digits_fixed(char *p, uint32_t v, unsigned width)
{
	char *q = p + width;

	while (q - p >= 2) {
		q -= 2;
		memcpy(q, rc_digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (q > p)
		*p = (char)('0' + v);
	return p + width;
}
void buf_printf(struct rc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct rc_buf *b, const char *fmt, va_list ap);

/* Decimal text of integers, no printf on the hot path. */
void buf_put_u64(struct rc_buf *b, uint64_t v);
void buf_put_i64(struct rc_buf *b, int64_t v);

/*
 * JSON string literal (with the quotes) from UTF-8 bytes.  Bytes that are
 * not valid UTF-8 become U+FFFD; the count of such replacements is added to
 * *bad when bad is not NULL.
 */
void buf_json_str(struct rc_buf *b, const char *s, size_t n, unsigned *bad);
/* The same without the quotes: the inside of a JSON string. */
void buf_json_inner(struct rc_buf *b, const char *s, size_t n, unsigned *bad);
/* JSON string literal holding the standard base64 (RFC 4648, padded) of p. */
void buf_json_base64(struct rc_buf *b, const uint8_t *p, size_t n);

#endif
