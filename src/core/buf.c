/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffer and JSON text writers (see buf.h).  Strings are
 * validated as UTF-8 while escaped, so every JSON text rowcast writes is
 * valid UTF-8 whatever the database held.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "core/log.h"

void buf_reserve(struct rc_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;
	char *p;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		log_oom();
	b->data = p;
	b->cap = cap;
}

void buf_free(struct rc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_puts(struct rc_buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_vprintf(struct rc_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(b->data ? b->data + b->len : NULL,
		      b->cap > b->len ? b->cap - b->len : 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void buf_printf(struct rc_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_put_u64(struct rc_buf *b, uint64_t v)
{
	char tmp[20];
	int i = 20;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_append(b, tmp + i, (size_t)(20 - i));
}

void buf_put_i64(struct rc_buf *b, int64_t v)
{
	if (v < 0) {
		buf_putc(b, '-');
		buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		buf_put_u64(b, (uint64_t)v);
	}
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && s[1] > 0x9f)
			return 0;	/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;
		if (c == 0xf4 && s[1] > 0x8f)
			return 0;
		return 4;
	}
	return 0;
}

void buf_json_str(struct rc_buf *b, const char *str, size_t n, unsigned *bad)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	buf_reserve(b, n + 2);
	buf_putc(b, '"');
	while (i < n) {
		unsigned char c = s[i];

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			run++;
			i++;
			continue;
		}
		buf_append(b, s + i - run, run);
		run = 0;
		if (c < 0x80) {
			buf_putc(b, '\\');
			switch (c) {
			case '"': buf_putc(b, '"'); break;
			case '\\': buf_putc(b, '\\'); break;
			case '\n': buf_putc(b, 'n'); break;
			case '\r': buf_putc(b, 'r'); break;
			case '\t': buf_putc(b, 't'); break;
			case '\b': buf_putc(b, 'b'); break;
			case '\f': buf_putc(b, 'f'); break;
			default:
				buf_append(b, "u00", 3);
				buf_putc(b, hex[c >> 4]);
				buf_putc(b, hex[c & 15]);
			}
			i++;
		} else {
			size_t k = utf8_seq(s + i, n - i);

			if (k == 0) {
				buf_append(b, "\xef\xbf\xbd", 3);
				if (bad)
					(*bad)++;
				i++;
			} else {
				buf_append(b, s + i, k);
				i += k;
			}
		}
	}
	buf_append(b, s + i - run, run);
	buf_putc(b, '"');
}

void buf_json_base64(struct rc_buf *b, const uint8_t *p, size_t n)
{
	size_t out = BASE64_ENCODE_RAW_LENGTH(n);

	buf_reserve(b, out + 2);
	b->data[b->len++] = '"';
	base64_encode_raw(b->data + b->len, n, p);
	b->len += out;
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}
