/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffer and JSON text writers (see buf.h).  Strings are
 * validated as UTF-8 while escaped, so every JSON text rowcast writes is
 * valid UTF-8 whatever the database held.
 */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "base/log.h"

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

const char rc_digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

char *buf_digits_back(char *end, uint64_t v, unsigned width)
{
	char *p = end;

	while (v >= 100) {
		p -= 2;
		memcpy(p, rc_digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, rc_digit_pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	while ((unsigned)(end - p) < width)
		*--p = '0';
	return p;
}

const uint64_t rc_pow10[20] = {
	1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
	1000000000u, 10000000000u, 100000000000u, 1000000000000u,
	10000000000000u, 100000000000000u, 1000000000000000u,
	10000000000000000u, 100000000000000000u, 1000000000000000000u,
	10000000000000000000u,
};

/* Decimal digits of v (1 to 20). */
static unsigned digit_count(uint64_t v)
{
	/* 1233/4096 is just above log10(2): bits * that is digits or one less */
	unsigned n = (unsigned)((64 - __builtin_clzll(v | 1)) * 1233) >> 12;

	return n == 0 ? 1 : n + (n < 20 && v >= rc_pow10[n]);
}

void buf_put_u64(struct rc_buf *b, uint64_t v)
{
	unsigned n = digit_count(v);

	buf_room(b, n);
	buf_digits_back(b->data + b->len + n, v, 0);
	b->len += n;
	b->data[b->len] = '\0';
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

/* Bytes that go out as they are: printable ASCII but '"' and '\\'. */
static const bool json_plain[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* 0x80-0xff: UTF-8, checked apart */
};

/*
 * The high bit of each of the 8 bytes of w (little-endian order) that needs
 * a look of its own: a control byte, '"', '\\' or a byte of a multi-byte
 * UTF-8 sequence.  A borrow can mark a byte above one that is marked
 * rightly, never below: the lowest mark is always the first such byte.
 */
static inline uint64_t word_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, high = ones << 7;
	uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w) &
	       high;
}

/* What follows '\\' for the escapes that have a short form, else 0. */
static const char json_short[32 + 93] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	['"'] = '"', ['\\'] = '\\',
};

void buf_json_inner(struct rc_buf *b, const char *str, size_t n, unsigned *bad)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	char *o;

	/*
	 * Bytes go out as they are read, 8 at a time where none needs a look
	 * (a store of all 8 even when one does: the ones after it are written
	 * again).  Invariant: from o there is room for the rest of the input
	 * plus 16 bytes plus the NUL; escapes and replacements, which write
	 * more than they read, make sure of it first.
	 */
	buf_room(b, n + 16);
	o = b->data + b->len;
	for (;;) {
		uint64_t w, m;
		unsigned char c;
		size_t k;

		while (n - i >= 8) {
			memcpy(&w, s + i, 8);
			memcpy(o, &w, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			w = __builtin_bswap64(w);	/* first byte lowest */
#endif
			m = word_special(w);
			if (m) {
				k = (size_t)__builtin_ctzll(m) >> 3;
				i += k;
				o += k;
				goto look;
			}
			i += 8;
			o += 8;
		}
		while (i < n && json_plain[s[i]])
			*o++ = (char)s[i++];
		if (i >= n)
			break;
look:
		c = s[i];
		if (c >= 0x80 && (k = utf8_seq(s + i, n - i)) != 0) {
			if (n - i >= 4)
				memcpy(o, s + i, 4);
			else
				memcpy(o, s + i, k);
			i += k;
			o += k;
			continue;
		}
		if ((size_t)(b->data + b->cap - o) < n - i + 16 + 6 + 1) {
			b->len = (size_t)(o - b->data);
			buf_reserve(b, n - i + 16 + 6);
			o = b->data + b->len;
		}
		if (c >= 0x80) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			if (bad)
				(*bad)++;
		} else if (json_short[c]) {
			o[0] = '\\';
			o[1] = json_short[c];
			o += 2;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
		}
		i++;
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

void buf_json_str(struct rc_buf *b, const char *str, size_t n, unsigned *bad)
{
	buf_putc(b, '"');
	buf_json_inner(b, str, n, bad);	/* reserves for the rest */
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
