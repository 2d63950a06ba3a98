/* SPDX-License-Identifier: MIT */
/*
 * One column value of a row image to native JSON (see value.h): exact
 * integers and decimals, shortest round-trip floats, temporal types as
 * strings (TIMESTAMP in UTC with Z), text converted to UTF-8 by charset,
 * binary as base64, JSON columns as JSON.  Every read is checked against
 * avail.  Does not decide NULLs, parse TABLE_MAP metadata or apply time zones.
 */
#include "source/mysql/value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "source/mysql/charset.h"
#include "source/mysql/internal.h"
#include "source/mysql/jsonb.h"

static const uint32_t pow10_u32[10] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
	1000000000,
};

/* Bytes that hold 0..9 leftover decimal digits in the DECIMAL format. */
static const uint8_t dig2bytes[10] = { 0, 1, 1, 2, 2, 3, 3, 4, 4, 4 };

static bool fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

bool dec_vfail(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap)
{
	int k;

	if (err == NULL || errlen == 0)
		return false;
	k = snprintf(err, errlen, "%s", prefix);
	if (k >= 0 && (size_t)k < errlen)
		vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
	return false;
}

static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dec_vfail(err, errlen, "", fmt, ap);
	va_end(ap);
	return false;
}

/* "NAME: needs N bytes, M left", NAME with "(arg)" when arg >= 0. */
static bool short_input(char *err, size_t errlen, const char *name, int arg,
			size_t n, size_t avail)
{
	if (arg >= 0)
		return fail(err, errlen, "%s(%d): needs %zu bytes, %zu left",
			    name, arg, n, avail);
	return fail(err, errlen, "%s: needs %zu bytes, %zu left", name, n,
		    avail);
}

#define NEED(n, name, arg)                                              \
	do {                                                            \
		if (avail < (size_t)(n))                                \
			return short_input(err, errlen, (name), (arg),  \
					   (size_t)(n), avail);         \
	} while (0)

static uint64_t rd_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Write v in decimal, zero-padded to at least width digits (at most 9). */
static inline char *put_dig(char *p, uint64_t v, unsigned width)
{
	char tmp[24], *end = tmp + sizeof(tmp);
	const char *q;

	if (v < pow10_u32[width])	/* always, but from damaged events */
		return buf_digits_fixed(p, (uint32_t)v, width);
	q = buf_digits_back(end, v, width);
	memcpy(p, q, (size_t)(end - q));
	return p + (end - q);
}

static char *put_frac(char *p, uint32_t usec, unsigned fsp)
{
	if (fsp == 0)
		return p;
	*p++ = '.';
	return put_dig(p, usec / pow10_u32[6 - fsp], fsp);
}

void value_put_date(struct rc_buf *out, unsigned year, unsigned month,
		    unsigned day)
{
	char *p;

	buf_room(out, 48);
	p = out->data + out->len;
	p = put_dig(p, year, 4);
	*p++ = '-';
	p = put_dig(p, month, 2);
	*p++ = '-';
	p = put_dig(p, day, 2);
	*p = '\0';
	out->len = (size_t)(p - out->data);
}

static char *put_hms(char *p, unsigned hour, unsigned minute, unsigned second)
{
	p = put_dig(p, hour, 2);
	*p++ = ':';
	p = put_dig(p, minute, 2);
	*p++ = ':';
	return put_dig(p, second, 2);
}

void value_put_datetime(struct rc_buf *out, unsigned year, unsigned month,
			unsigned day, unsigned hour, unsigned minute,
			unsigned second, uint32_t usec, unsigned fsp)
{
	char *p;

	buf_room(out, 96);
	p = out->data + out->len;
	p = put_dig(p, year, 4);
	*p++ = '-';
	p = put_dig(p, month, 2);
	*p++ = '-';
	p = put_dig(p, day, 2);
	*p++ = ' ';
	p = put_hms(p, hour, minute, second);
	p = put_frac(p, usec, fsp);
	*p = '\0';
	out->len = (size_t)(p - out->data);
}

void value_put_time(struct rc_buf *out, bool neg, unsigned hour,
		    unsigned minute, unsigned second, uint32_t usec,
		    unsigned fsp)
{
	char *p;

	buf_room(out, 64);
	p = out->data + out->len;
	if (neg)
		*p++ = '-';
	p = put_hms(p, hour, minute, second);
	p = put_frac(p, usec, fsp);
	*p = '\0';
	out->len = (size_t)(p - out->data);
}

/*
 * Shortest round-trip text of floats without printf.  The printf way (kept
 * as put_double_slow() and put_float_slow() below) prints %.Pg for P = 15,
 * 16, 17 (6..9 for FLOAT) and keeps the first text that reads back as the
 * value; this decides the same things with integers and prints the same
 * text.  For each P the text is the value rounded half-even to P digits (as
 * glibc's printf does), and it reads back as the value exactly when it lies
 * within half a gap of the neighbouring floats (strtod rounds to nearest),
 * the bounds included when the mantissa is even.
 *
 * The value v = m * 2^e is scaled by 10^q into [10^(nd-1), 2*10^nd) as a
 * 64.64 fixed-point V, together with T = 2^e * 10^q, the gap to the next
 * float at the same scale.  5^q comes from a 128-bit table truncated twice,
 * so V and T are low by under 2 units of 2^-64 (relative error < 2^-126 of
 * V < 2^122 units, plus the shift).  A decision is taken from them only
 * when they stay FAST_SLACK units clear of its boundary.  Values exactly
 * on a boundary need more: ties are decided exactly where V is exact,
 * decimals exactly half a gap away (midpoints, like 1e23) by integer
 * arithmetic for integers below 2^64 and by dec_is() above.  What is left
 * (subnormals, near misses) goes back to printf.
 */
#define FAST_SLACK 32

struct u128 {
	uint64_t hi, lo;
};

static const uint64_t pow5_u64[28] = {
	1u, 5u, 25u, 125u, 625u, 3125u, 15625u, 78125u, 390625u, 1953125u,
	9765625u, 48828125u, 244140625u, 1220703125u, 6103515625u,
	30517578125u, 152587890625u, 762939453125u, 3814697265625u,
	19073486328125u, 95367431640625u, 476837158203125u,
	2384185791015625u, 11920928955078125u, 59604644775390625u,
	298023223876953125u, 1490116119384765625u, 7450580596923828125u,
};

/*
 * 5^(28i) for i = -11..11 is about (hi:lo) * 2^e with the top bit of hi
 * set, truncated (exact for i >= 0 while it fits): computed with exact
 * integers by floor(5^(28i) / 2^e).
 */
static const struct {
	uint64_t hi, lo;
	int e;
} pow5_28[23] = {
	{ 0xe61acf033d1a45df, 0x6fb92487298e33bd, -843 },	/* 5^-308 */
	{ 0xe858ad248f5c22c9, 0xd1b3400f8f9cff68, -778 },	/* 5^-280 */
	{ 0xea9c227723ee8bcb, 0x465e15a979c1cadc, -713 },	/* 5^-252 */
	{ 0xece53cec4a314ebd, 0xa4f8bf5635246428, -648 },	/* 5^-224 */
	{ 0xef340a98172aace4, 0x86fb897116c87c34, -583 },	/* 5^-196 */
	{ 0xf18899b1bc3f8ca1, 0xdc44e6c3cb279ac1, -518 },	/* 5^-168 */
	{ 0xf3e2f893dec3f126, 0x5a89dba3c3efccfa, -453 },	/* 5^-140 */
	{ 0xf64335bcf065d37d, 0x4d4617b5ff4a16d5, -388 },	/* 5^-112 */
	{ 0xf8a95fcf88747d94, 0x75a44c6397ce912a, -323 },	/* 5^-84 */
	{ 0xfb158592be068d2e, 0xeed6e2f0f0d56712, -258 },	/* 5^-56 */
	{ 0xfd87b5f28300ca0d, 0x8bca9d6e188853fc, -193 },	/* 5^-28 */
	{ 0x8000000000000000, 0x0000000000000000, -127 },	/* 5^0 */
	{ 0x813f3978f8940984, 0x4000000000000000, -62 },	/* 5^28 */
	{ 0x82818f1281ed449f, 0xbff8f10e7a8921a4, 3 },		/* 5^56 */
	{ 0x83c7088e1aab65db, 0x792667c6da79e0fa, 68 },		/* 5^84 */
	{ 0x850fadc09923329e, 0x03e2cf6bc604ddb0, 133 },	/* 5^112 */
	{ 0x865b86925b9bc5c2, 0x0b8a2392ba45a9b2, 198 },	/* 5^140 */
	{ 0x87aa9aff79042286, 0x90fb44d2f05d0842, 263 },	/* 5^168 */
	{ 0x88fcf317f22241e2, 0x441fece3bdf81f03, 328 },	/* 5^196 */
	{ 0x8a5296ffe33cc92f, 0x82bd6b70d99aaa6f, 393 },	/* 5^224 */
	{ 0x8bab8eefb6409c1a, 0x1ad089b6c2f7548e, 458 },	/* 5^252 */
	{ 0x8d07e33455637eb2, 0xdb0b487b6423e1e8, 523 },	/* 5^280 */
	{ 0x8e679c2f5e44ff8f, 0x570f09eaa7ea7648, 588 },	/* 5^308 */
};

static struct u128 mul_64(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	__extension__ unsigned __int128 p = (unsigned __int128)a * b;

	return (struct u128){ (uint64_t)(p >> 64), (uint64_t)p };
#else
	uint64_t al = a & 0xffffffff, ah = a >> 32;
	uint64_t bl = b & 0xffffffff, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl;
	uint64_t mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);

	return (struct u128){ ah * bh + (lh >> 32) + (hl >> 32) + (mid >> 32),
			      mid << 32 | (ll & 0xffffffff) };
#endif
}

static struct u128 sub_128(struct u128 a, struct u128 b)
{
	return (struct u128){ a.hi - b.hi - (a.lo < b.lo), a.lo - b.lo };
}

static bool lt_128(struct u128 a, struct u128 b)
{
	return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

/* a < b - slack: -1, a > b + slack: 1, too close to tell: 0 */
static int cmp_clear(struct u128 a, struct u128 b, uint64_t slack)
{
	struct u128 gap;
	int sign;

	if (lt_128(a, b)) {
		gap = sub_128(b, a);
		sign = -1;
	} else {
		gap = sub_128(a, b);
		sign = 1;
	}
	return gap.hi == 0 && gap.lo <= slack ? 0 : sign;
}

static int clz_64(uint64_t v)
{
#if defined(__GNUC__)
	return __builtin_clzll(v);
#else
	int n = 0;

	while (!(v >> 63)) {
		v <<= 1;
		n++;
	}
	return n;
#endif
}

static int ctz_64(uint64_t v)
{
#if defined(__GNUC__)
	return __builtin_ctzll(v);
#else
	int n = 0;

	while (!(v & 1)) {
		v >>= 1;
		n++;
	}
	return n;
#endif
}

/*
 * Is n * 10^s (n > 0) exactly odd * 2^z?  Above 2^64 (s > 0) short
 * decimals often fall exactly on a midpoint between two floats, like 1e23
 * between 99999999999999991611392 and 100000000000000008388608; V is not
 * exact there.
 */
static bool dec_is(uint64_t n, int s, uint64_t odd, int z)
{
	int tz = ctz_64(n);
	struct u128 p;

	if (s < 0 || s > 27 || tz + s != z)
		return false;
	p = mul_64(n >> tz, pow5_u64[s]);
	return p.hi == 0 && p.lo == odd;
}

/* v / 10^k: constant divisors for the usual k, a divide costs more */
static uint64_t div_pow10(uint64_t v, int k)
{
	switch (k) {
	case 0:
		return v;
	case 1:
		return v / 10;
	case 2:
		return v / 100;
	case 3:
		return v / 1000;
	case 4:
		return v / 10000;
	default:
		return v / rc_pow10[k];
	}
}

/* floor(l * log10(2)): 78913 / 2^18 is close enough for |l| < 1651 */
static int floor_log10_pow2(int l)
{
	int32_t n = l * 78913;

	return n >= 0 ? n / 262144 : -((-n + 262143) / 262144);
}

/* The answer: n, p digits (or 10^p, rounded up into one more power of ten:
 * then 10^(p-1) one decade up), times 10^(x - p + 1). */
static bool take(uint64_t n, int p, int x, uint64_t *dig, int *prec, int *x10)
{
	if (n == rc_pow10[p]) {
		n = rc_pow10[p - 1];
		x++;
	}
	*dig = n;
	*prec = p;
	*x10 = x;
	return true;
}

/*
 * For m * 2^e (m of mbits bits, top bit set; the float below is only half
 * as far when below_closer) find the first P of pmin..nd whose P-digit
 * rounding reads back as the value: *dig gets those P digits, *x10 the
 * decimal exponent of the first.  False when too close to call.
 */
static bool shortest_scaled(uint64_t m, int e, int mbits, bool below_closer,
			    int pmin, int nd, uint64_t *dig, int *prec,
			    int *x10)
{
	int x = floor_log10_pow2(e + mbits - 1);	/* v >= 10^x */
	int q = nd - 1 - x;
	int a = q >= 0 ? q / 28 : -((-q + 27) / 28);
	int sh, have;
	uint64_t hi, lo, ip, fp, p0, p1, p2, slack, quo[5];
	int pe;
	bool exact;
	struct u128 pl, ph, t;

	if (a < -11 || a > 11)
		return false;
	hi = pow5_28[a + 11].hi;
	lo = pow5_28[a + 11].lo;
	pe = pow5_28[a + 11].e;
	if (q != 28 * a) {
		/* times 5^(q - 28a), truncated back to 128 bits */
		uint64_t p5 = pow5_u64[q - 28 * a], r0, r1, r2;
		int s;

		pl = mul_64(lo, p5);
		ph = mul_64(hi, p5);
		r0 = pl.lo;
		r1 = pl.hi + ph.lo;
		r2 = ph.hi + (r1 < pl.hi);
		s = clz_64(r2);		/* r2 >= 2: hi >= 2^63, p5 >= 5 */
		hi = s ? r2 << s | r1 >> (64 - s) : r2;
		lo = s ? r1 << s | r0 >> (64 - s) : r1;
		pe += 64 - s;
	}
	/* V = m * 5^q * 2^(e+q) with 64 fraction bits; T likewise */
	sh = -(pe + e + q + 64);
	if (sh < 1 || sh > 63)
		return false;
	pl = mul_64(m, lo);
	ph = mul_64(m, hi);
	p0 = pl.lo;
	p1 = pl.hi + ph.lo;
	p2 = ph.hi + (p1 < pl.hi);
	ip = p2 << (64 - sh) | p1 >> sh;
	fp = p1 << (64 - sh) | p0 >> sh;
	t = (struct u128){ hi >> sh, hi << (64 - sh) | lo >> sh };
	/*
	 * 5^q fits the 128 bits for 0 <= q <= 55 and the shift may drop only
	 * zeros: then V is exact and so are ties, common among short binary
	 * fractions.  Otherwise V has bits below 2^-64, which rules out ties
	 * and midpoints, or q < 0 (v >= 10^nd): no ties there, and
	 * midpoints go to dec_is().
	 */
	exact = q >= 0 && q <= 55 && p0 << (64 - sh) == 0;
	slack = exact ? 0 : FAST_SLACK;

	/*
	 * V has nd digits, or nd + 1 (v >= 10^(x+1)), or nd - 1 when V is
	 * just under an exact 10^(nd-1): then rounding carries over to the
	 * same decimal the exact value gives.
	 */
	have = ip >= rc_pow10[nd] ? nd + 1 : ip >= rc_pow10[nd - 1] ? nd :
	       nd - 1;
	x += have - nd;
	/* ip / 10^k for every k = have - p used (k <= have - pmin <= 4),
	 * side by side with constant divisors */
	quo[0] = ip;
	quo[1] = ip / 10;
	quo[2] = ip / 100;
	quo[3] = ip / 1000;
	quo[4] = ip / 10000;
	for (int p = pmin; p <= nd; p++) {
		int k = have - p;
		uint64_t p10, n;
		struct u128 rem, half, err;
		int up, fits;

		if (k < 0 || k > 4)
			return false;
		p10 = rc_pow10[k];
		n = quo[k];
		/* the dropped digits against half a unit of the last kept */
		rem = (struct u128){ ip - n * p10, fp };
		half = (struct u128){ p10 >> 1, (p10 & 1) << 63 };
		up = cmp_clear(rem, half, slack);
		if (up == 0) {
			if (!exact)
				return false;
			up = n & 1 ? 1 : -1;	/* a tie: to even, as printf */
		}
		/* |decimal - V| twice (4x on a closer lower side) against T */
		if (up > 0) {
			err = sub_128((struct u128){ p10, 0 }, rem);
			err = (struct u128){ err.hi << 1 | err.lo >> 63,
					     err.lo << 1 };
		} else {
			int s = below_closer ? 2 : 1;

			err = (struct u128){ rem.hi << s | rem.lo >> (64 - s),
					     rem.lo << s };
		}
		fits = cmp_clear(err, t, slack);
		if (fits == 0) {
			bool low4 = up < 0 && below_closer;

			/*
			 * A midpoint?  Not where V is exact: there a midpoint
			 * has more digits than v, which rounds to itself
			 * first, so printf can have any coincidence.
			 */
			if (exact ||
			    !dec_is(n + (up > 0), k - q,
				    up > 0 ? 2 * m + 1 : low4 ? 4 * m - 1 :
				    2 * m - 1, low4 ? e - 2 : e - 1))
				return false;
			fits = m & 1 ? 1 : -1;	/* strtod rounds to even */
		}
		if (fits > 0)
			continue;
		return take(n + (up > 0), p, x, dig, prec, x10);
	}
	return false;
}

/*
 * The same, exactly, for m * 2^e when that is an integer below 2^64: the
 * scaling above cannot be exact for it from 10^17 up, where the decimal is
 * often exactly half a gap away.
 */
static bool shortest_int(uint64_t m, int e, bool below_closer, int pmin,
			 int nd, uint64_t *dig, int *prec, int *x10)
{
	uint64_t v = m << e, gap = (uint64_t)1 << e;
	int x = floor_log10_pow2(63 - clz_64(v));

	x += x < 19 && v >= rc_pow10[x + 1];
	for (int p = pmin; p <= nd; p++) {
		int s = x - p + 1;
		uint64_t p10, n, r, err;
		bool up;

		if (s <= 0)		/* v itself, zeros appended */
			return take(v * rc_pow10[-s], p, x, dig, prec, x10);
		p10 = rc_pow10[s];
		n = div_pow10(v, s);
		r = v - n * p10;
		/* a tie rounds to even, as printf */
		up = 2 * r > p10 || (2 * r == p10 && (n & 1));
		/* twice the distance (4x on a closer lower side) vs the gap */
		err = up ? 2 * (p10 - r) : r << (below_closer ? 2 : 1);
		if (err > gap || (err == gap && (m & 1)))
			continue;
		return take(n + up, p, x, dig, prec, x10);
	}
	return false;
}

static bool shortest(uint64_t m, int e, int mbits, bool below_closer,
		     int pmin, int nd, uint64_t *dig, int *prec, int *x10)
{
	if (e >= 0 && e <= 64 - mbits)
		return shortest_int(m, e, below_closer, pmin, nd, dig, prec,
				    x10);
	return shortest_scaled(m, e, mbits, below_closer, pmin, nd, dig, prec,
			       x10);
}

/*
 * What %.{prec}g prints for dig (prec digits) * 10^(x - prec + 1), into s
 * of at least 40 bytes: the copies have fixed sizes (variable-length
 * memcpy is a call) and may write past the text, up to s + 34.
 */
static size_t put_g(char *s, bool neg, uint64_t dig, int prec, int x)
{
	char buf[48], *d;
	char *p = s;
	int n = prec;

	/* drop trailing zeros: short decimals have many */
	if (dig % 100000000 == 0) {
		dig /= 100000000;
		n -= 8;
	}
	if (dig % 10000 == 0) {
		dig /= 10000;
		n -= 4;
	}
	if (dig % 100 == 0) {
		dig /= 100;
		n -= 2;
	}
	while (dig % 10 == 0) {		/* twice for 16 zeros */
		dig /= 10;
		n--;
	}
	/* the n digits left end at buf + 24, zeros follow them */
	(void)buf_digits_back(buf + 24, dig, (unsigned)n);
	memset(buf + 24, '0', 24);
	d = buf + 24 - n;
	*p = '-';
	p += neg;
	if (x < -4 || x >= prec) {
		unsigned ax = (unsigned)(x < 0 ? -x : x);

		p[0] = d[0];
		p[1] = '.';
		memcpy(p + 2, d + 1, 16);
		p += n > 1 ? n + 1 : 1;
		*p++ = 'e';
		*p++ = x < 0 ? '-' : '+';
		if (ax >= 100)
			*p++ = (char)('0' + ax / 100);
		*p++ = (char)('0' + ax / 10 % 10);
		*p++ = (char)('0' + ax % 10);
	} else if (x >= 0) {
		/* the integer part, its stripped zeros included */
		memcpy(p, d, 17);
		p += x + 1;
		if (n > x + 1) {
			*p = '.';
			memcpy(p + 1, d + x + 1, 16);
			p += n - x;
		}
	} else {
		memcpy(p, "0.0000", 6);
		p += 1 - x;
		memcpy(p, d, 17);
		p += n;
	}
	return (size_t)(p - s);
}

static void put_double_slow(struct rc_buf *out, double d)
{
	char tmp[40];

	/*
	 * The shortest decimal that reads back as d.  A double is exact to
	 * under 1.2e-16 relative, so when a decimal of 15 or fewer digits reads
	 * back as d, %.15g prints exactly it (trailing zeros dropped): start
	 * there, and only values that need 16 or 17 digits take more tries.
	 */
	/* subnormals carry fewer bits: they may have shorter forms */
	for (int prec = fpclassify(d) == FP_SUBNORMAL ? 1 : 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	buf_puts(out, tmp);
}

void value_put_double(struct rc_buf *out, double d)
{
	uint64_t bits, frac, dig;
	unsigned be;
	int prec, x;
	char s[40];

	memcpy(&bits, &d, sizeof(bits));
	be = (unsigned)(bits >> 52) & 0x7ff;
	frac = bits & (((uint64_t)1 << 52) - 1);
	if (be == 0x7ff) {
		buf_append(out, "null", 4);
		return;
	}
	if (be == 0 && frac == 0) {
		buf_puts(out, bits >> 63 ? "-0" : "0");
		return;
	}
	/* subnormals (be 0) keep the printf way */
	if (be != 0 &&
	    shortest(frac | (uint64_t)1 << 52, (int)be - 1075, 53,
		     frac == 0 && be > 1, 15, 17, &dig, &prec, &x)) {
		buf_append(out, s, put_g(s, bits >> 63, dig, prec, x));
		return;
	}
	put_double_slow(out, d);
}

static void put_float_slow(struct rc_buf *out, float f)
{
	char tmp[40];

	/* as for doubles: 6 digits (FLT_DIG) always print the shortest
	 * decimal of that length, when one reads back */
	for (int prec = fpclassify(f) == FP_SUBNORMAL ? 1 : 6; prec <= 9; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, (double)f);
		if (strtof(tmp, NULL) == f)
			break;
	}
	buf_puts(out, tmp);
}

void value_put_float(struct rc_buf *out, float f)
{
	uint32_t bits, frac;
	unsigned be;
	uint64_t dig;
	int prec, x;
	char s[40];

	memcpy(&bits, &f, sizeof(bits));
	be = (bits >> 23) & 0xff;
	frac = bits & ((1u << 23) - 1);
	if (be == 0xff) {
		buf_append(out, "null", 4);
		return;
	}
	if (be == 0 && frac == 0) {
		buf_puts(out, bits >> 31 ? "-0" : "0");
		return;
	}
	/* subnormals (be 0) keep the printf way */
	if (be != 0 &&
	    shortest(frac | 1u << 23, (int)be - 150, 24,
		     frac == 0 && be > 1, 6, 9, &dig, &prec, &x)) {
		buf_append(out, s, put_g(s, bits >> 31, dig, prec, x));
		return;
	}
	put_float_slow(out, f);
}

/*
 * Binary DECIMAL: the integer digits then the fraction digits, each part
 * in groups of 9 digits per 4 big-endian bytes, the integer part's leftover
 * digits first and the fraction's last.  The top bit of the first byte is
 * set for non-negative values; negative values are stored complemented.
 */
bool value_put_decimal(const uint8_t *p, size_t avail, unsigned prec,
		       unsigned scale, size_t *used, struct rc_buf *out,
		       char *err, size_t errlen)
{
	uint8_t b[40];
	char s[80], *q = s, *digits;
	unsigned intg, intg0, intg0x, frac0, frac0x, i;
	size_t size, off = 0;
	bool neg, nonzero = false;

	if (prec == 0 || prec > 65 || scale > 30 || scale > prec)
		return fail(err, errlen, "DECIMAL(%u,%u): bad precision/scale",
			    prec, scale);
	intg = prec - scale;
	intg0 = intg / 9;
	intg0x = intg % 9;
	frac0 = scale / 9;
	frac0x = scale % 9;
	size = intg0 * 4 + dig2bytes[intg0x] + frac0 * 4 + dig2bytes[frac0x];
	if (avail < size)
		return fail(err, errlen,
			    "DECIMAL(%u,%u): needs %zu bytes, %zu left", prec,
			    scale, size, avail);
	memcpy(b, p, size);
	neg = !(b[0] & 0x80);
	b[0] ^= 0x80;
	if (neg)
		for (i = 0; i < size; i++)
			b[i] ^= 0xff;

	*q++ = '-';
	digits = q;
	if (intg0x) {
		uint64_t v = rd_be(b, dig2bytes[intg0x]);

		if (v >= pow10_u32[intg0x])
			goto bad;
		q = put_dig(q, v, intg0x);
		off += dig2bytes[intg0x];
	}
	for (i = 0; i < intg0; i++, off += 4) {
		uint64_t v = rd_be(b + off, 4);

		if (v >= pow10_u32[9])
			goto bad;
		q = put_dig(q, v, 9);
	}
	/* Drop leading zeros of the integer part, keeping one. */
	{
		char *z = digits;

		while (z < q && *z == '0')
			z++;
		if (z == q) {
			*digits = '0';
			q = digits + 1;
		} else {
			nonzero = true;
			memmove(digits, z, (size_t)(q - z));
			q = digits + (q - z);
		}
	}
	if (scale) {
		char *f;

		*q++ = '.';
		f = q;
		for (i = 0; i < frac0; i++, off += 4) {
			uint64_t v = rd_be(b + off, 4);

			if (v >= pow10_u32[9])
				goto bad;
			q = put_dig(q, v, 9);
		}
		if (frac0x) {
			uint64_t v = rd_be(b + off, dig2bytes[frac0x]);

			if (v >= pow10_u32[frac0x])
				goto bad;
			q = put_dig(q, v, frac0x);
		}
		for (; f < q && !nonzero; f++)
			nonzero = *f != '0';
	}
	if (neg && nonzero)
		buf_append(out, s, (size_t)(q - s));
	else
		buf_append(out, digits, (size_t)(q - digits));
	*used = size;
	return true;
bad:
	return fail(err, errlen, "DECIMAL(%u,%u): digit group out of range",
		    prec, scale);
}

/* Days since 1970-01-01 to a proleptic Gregorian date. */
static void civil_from_days(uint64_t days, unsigned *y, unsigned *m,
			    unsigned *d)
{
	uint64_t z = days + 719468;		/* days since 0000-03-01 */
	uint64_t era = z / 146097;		/* 400-year cycles */
	uint64_t doe = z - era * 146097;	/* [0, 146096] */
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;	/* March = 0 */

	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = (unsigned)(yoe + era * 400 + (*m <= 2));
}

/* Fraction of fsp digits stored in (fsp + 1) / 2 big-endian bytes. */
static bool read_frac(const uint8_t *p, unsigned fsp, uint32_t *usec)
{
	switch ((fsp + 1) / 2) {
	case 0:
		*usec = 0;
		return true;
	case 1:
		*usec = p[0] * 10000u;
		return p[0] < 100;
	case 2:
		*usec = (uint32_t)rd_be(p, 2) * 100u;
		return *usec < 1000000;
	default:
		*usec = (uint32_t)rd_be(p, 3);
		return *usec < 1000000;
	}
}

static bool put_timestamp(struct rc_buf *out, uint64_t sec, uint32_t usec,
			  unsigned fsp)
{
	unsigned y, m, d, rem = (unsigned)(sec % 86400);

	if (sec == 0 && usec == 0) {
		value_put_datetime(out, 0, 0, 0, 0, 0, 0, 0, fsp);
		return true;
	}
	civil_from_days(sec / 86400, &y, &m, &d);
	value_put_datetime(out, y, m, d, rem / 3600, rem / 60 % 60, rem % 60,
			   usec, fsp);
	buf_putc(out, 'Z');
	return true;
}

static bool decode_time2(const uint8_t *p, unsigned fsp, struct rc_buf *out,
			 char *err, size_t errlen)
{
	int64_t ip = (int64_t)rd_be(p, 3) - 0x800000;
	int64_t packed, frac;
	uint64_t a, hms;
	uint32_t usec;

	switch ((fsp + 1) / 2) {
	case 0:
		packed = ip * (1 << 24);
		break;
	case 1:
		frac = p[3];
		if (ip < 0 && frac) {
			ip++;
			frac -= 0x100;
		}
		packed = ip * (1 << 24) + frac * 10000;
		break;
	case 2:
		frac = (int64_t)rd_be(p + 3, 2);
		if (ip < 0 && frac) {
			ip++;
			frac -= 0x10000;
		}
		packed = ip * (1 << 24) + frac * 100;
		break;
	default:
		packed = (int64_t)rd_be(p, 6) - INT64_C(0x800000000000);
		break;
	}
	a = packed < 0 ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
	hms = a >> 24;
	usec = (uint32_t)(a & 0xffffff);
	if (usec >= 1000000)
		return fail(err, errlen, "TIME2(%u): fraction out of range",
			    fsp);
	value_put_time(out, packed < 0, (unsigned)(hms >> 12) & 0x3ff,
		       (unsigned)(hms >> 6) & 63, (unsigned)hms & 63, usec, fsp);
	return true;
}

static void put_member(const struct dec_column *col, uint64_t i,
		       struct rc_buf *out, unsigned *bad)
{
	const char *s = col->members[i];
	size_t n;

	if (s == NULL)
		return;
	n = col->member_lens ? col->member_lens[i] : strlen(s);
	buf_json_inner(out, s, n, bad);
}

static bool decode_enum_set(const struct dec_column *col, bool is_set,
			    unsigned bytes, const uint8_t *p, size_t avail,
			    size_t *used, struct rc_buf *out, unsigned *bad,
			    char *err, size_t errlen)
{
	const char *name = is_set ? "SET" : "ENUM";
	uint64_t v;

	if (is_set ? bytes < 1 || bytes > 8 : bytes < 1 || bytes > 2)
		return fail(err, errlen, "%s: bad storage size %u", name, bytes);
	NEED(bytes, name, -1);
	v = le_get(p, bytes);
	*used = bytes;
	if (col->members == NULL) {
		buf_put_u64(out, v);
		return true;
	}
	if (!is_set) {
		if (v > col->n_members)
			return fail(err, errlen, "ENUM: index %u > %u members",
				    (unsigned)v, col->n_members);
		buf_putc(out, '"');
		if (v)
			put_member(col, v - 1, out, bad);
		buf_putc(out, '"');
		return true;
	}
	if (col->n_members < 64 && (v >> col->n_members) != 0)
		return fail(err, errlen, "SET: bit beyond %u members",
			    col->n_members);
	buf_putc(out, '"');
	for (unsigned i = 0, first = 1; i < 64 && i < col->n_members; i++) {
		if (!(v >> i & 1))
			continue;
		if (!first)
			buf_putc(out, ',');
		first = 0;
		put_member(col, i, out, bad);
	}
	buf_putc(out, '"');
	return true;
}

/* A length-prefixed value: prefix bytes pfx (LE), then that many bytes. */
static bool get_prefixed(const uint8_t *p, size_t avail, unsigned pfx,
			 const char *name, size_t *len, char *err,
			 size_t errlen)
{
	NEED(pfx, name, -1);
	*len = (size_t)le_get(p, pfx);
	if (*len > avail - pfx)
		return fail(err, errlen, "%s: needs %zu bytes, %zu left", name,
			    *len + pfx, avail);
	return true;
}

/* A MariaDB compressed column value (header byte, then data) into out. */
static bool column_uncompress(const uint8_t *d, size_t n, struct rc_buf *out, const char *name,
			      char *err, size_t errlen)
{
	unsigned lenlen = d[0] & 0x07;
	uint64_t want = 0;
	z_stream zs;
	int r;

	if (d[0] == 0) {	/* stored uncompressed */
		buf_append(out, d + 1, n - 1);
		return true;
	}
	if (!(d[0] & 0x80) || lenlen == 0 || lenlen > 4 || n < 1 + lenlen)
		return fail(err, errlen, "%s: bad compression header 0x%02x", name, d[0]);
	for (unsigned i = 0; i < lenlen; i++)
		want = want << 8 | d[1 + i];
	if (want > (1u << 30))
		return fail(err, errlen, "%s: original length %llu is not plausible", name,
			    (unsigned long long)want);
	buf_reserve(out, (size_t)want);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, (d[0] & 0x08) ? -MAX_WBITS : MAX_WBITS) != Z_OK)
		return fail(err, errlen, "%s: zlib cannot start", name);
	zs.next_in = (Bytef *)(d + 1 + lenlen);
	zs.avail_in = (uInt)(n - 1 - lenlen);
	zs.next_out = (Bytef *)out->data;
	zs.avail_out = (uInt)want;
	r = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	if (r != Z_STREAM_END || zs.total_out != want)
		return fail(err, errlen, "%s: compressed data is damaged", name);
	out->len = (size_t)want;
	out->data[out->len] = '\0';
	return true;
}

/* Text or, for the binary charset, base64. */
static void put_text(uint32_t charset, const uint8_t *s, size_t n,
		     struct rc_buf *out, unsigned *bad)
{
	if (charset == 0)
		buf_json_str(out, (const char *)s, n, bad);
	else
		charset_json_str(charset, s, n, out, bad);
}

static bool decode(const struct dec_column *col, const uint8_t *p,
		   size_t avail, size_t *used, struct rc_buf *out,
		   unsigned *bad, char *err, size_t errlen)
{
	unsigned meta = col->meta;
	unsigned fsp = meta;
	uint64_t u;
	uint32_t usec;
	size_t len;

	switch (col->type) {
	case COLT_TINY:
		NEED(1, "TINYINT", -1);
		*used = 1;
		if (col->is_unsigned)
			buf_put_u64(out, p[0]);
		else
			buf_put_i64(out, (int8_t)p[0]);
		return true;
	case COLT_SHORT:
		NEED(2, "SMALLINT", -1);
		*used = 2;
		u = le_get(p, 2);
		if (col->is_unsigned)
			buf_put_u64(out, u);
		else
			buf_put_i64(out, (int16_t)u);
		return true;
	case COLT_INT24:
		NEED(3, "MEDIUMINT", -1);
		*used = 3;
		u = le_get(p, 3);
		if (col->is_unsigned)
			buf_put_u64(out, u);
		else
			buf_put_i64(out, (int64_t)u - (u & 0x800000 ? 0x1000000 : 0));
		return true;
	case COLT_LONG:
		NEED(4, "INT", -1);
		*used = 4;
		u = le_get(p, 4);
		if (col->is_unsigned)
			buf_put_u64(out, u);
		else
			buf_put_i64(out, (int32_t)(uint32_t)u);
		return true;
	case COLT_LONGLONG:
		NEED(8, "BIGINT", -1);
		*used = 8;
		u = le_get(p, 8);
		if (col->is_unsigned)
			buf_put_u64(out, u);
		else
			buf_put_i64(out, (int64_t)u);
		return true;
	case COLT_YEAR:
		NEED(1, "YEAR", -1);
		*used = 1;
		buf_put_u64(out, p[0] ? 1900u + p[0] : 0);
		return true;
	case COLT_NEWDECIMAL:
		buf_putc(out, '"');
		if (!value_put_decimal(p, avail, meta >> 8, meta & 0xff, used,
				       out, err, errlen))
			return false;
		buf_putc(out, '"');
		return true;
	case COLT_FLOAT: {
		float f;

		NEED(4, "FLOAT", -1);
		u = le_get(p, 4);
		{
			uint32_t w = (uint32_t)u;

			memcpy(&f, &w, 4);
		}
		*used = 4;
		value_put_float(out, f);
		return true;
	}
	case COLT_DOUBLE: {
		double d;

		NEED(8, "DOUBLE", -1);
		u = le_get(p, 8);
		memcpy(&d, &u, 8);
		*used = 8;
		value_put_double(out, d);
		return true;
	}
	case COLT_DATE:
	case COLT_NEWDATE:
		NEED(3, "DATE", -1);
		*used = 3;
		u = le_get(p, 3);
		buf_putc(out, '"');
		value_put_date(out, (unsigned)(u >> 9), (unsigned)(u >> 5) & 15,
			       (unsigned)u & 31);
		buf_putc(out, '"');
		return true;
	case COLT_DATETIME: {
		uint64_t d, t;

		if (meta != 0)
			return fail(err, errlen,
				    "DATETIME: fractional (MariaDB 5.3) format unsupported");
		NEED(8, "DATETIME", -1);
		*used = 8;
		u = le_get(p, 8);
		d = u / 1000000;
		t = u % 1000000;
		buf_putc(out, '"');
		value_put_datetime(out, (unsigned)(d / 10000), d / 100 % 100,
				   d % 100, (unsigned)(t / 10000), t / 100 % 100,
				   t % 100, 0, 0);
		buf_putc(out, '"');
		return true;
	}
	case COLT_DATETIME2: {
		int64_t ip;
		uint64_t ymd, ym, hms;

		if (fsp > 6)
			return fail(err, errlen, "DATETIME2: bad fsp %u", fsp);
		NEED(5 + (fsp + 1) / 2, "DATETIME2", (int)fsp);
		ip = (int64_t)rd_be(p, 5) - INT64_C(0x8000000000);
		if (ip < 0)
			return fail(err, errlen, "DATETIME2(%u): negative value",
				    fsp);
		if (!read_frac(p + 5, fsp, &usec))
			return fail(err, errlen,
				    "DATETIME2(%u): fraction out of range", fsp);
		*used = 5 + (fsp + 1) / 2;
		ymd = (uint64_t)ip >> 17;
		ym = ymd >> 5;
		hms = (uint64_t)ip & 0x1ffff;
		buf_putc(out, '"');
		value_put_datetime(out, (unsigned)(ym / 13), (unsigned)(ym % 13),
				   (unsigned)ymd & 31, (unsigned)(hms >> 12),
				   (unsigned)(hms >> 6) & 63,
				   (unsigned)hms & 63, usec, fsp);
		buf_putc(out, '"');
		return true;
	}
	case COLT_TIMESTAMP:
		if (meta != 0)
			return fail(err, errlen,
				    "TIMESTAMP: fractional (MariaDB 5.3) format unsupported");
		NEED(4, "TIMESTAMP", -1);
		*used = 4;
		buf_putc(out, '"');
		put_timestamp(out, le_get(p, 4), 0, 0);
		buf_putc(out, '"');
		return true;
	case COLT_TIMESTAMP2:
		if (fsp > 6)
			return fail(err, errlen, "TIMESTAMP2: bad fsp %u", fsp);
		NEED(4 + (fsp + 1) / 2, "TIMESTAMP2", (int)fsp);
		if (!read_frac(p + 4, fsp, &usec))
			return fail(err, errlen,
				    "TIMESTAMP2(%u): fraction out of range",
				    fsp);
		*used = 4 + (fsp + 1) / 2;
		buf_putc(out, '"');
		put_timestamp(out, rd_be(p, 4), usec, fsp);
		buf_putc(out, '"');
		return true;
	case COLT_TIME: {
		int64_t v;
		uint64_t a;

		if (meta != 0)
			return fail(err, errlen,
				    "TIME: fractional (MariaDB 5.3) format unsupported");
		NEED(3, "TIME", -1);
		*used = 3;
		u = le_get(p, 3);
		v = (int64_t)u - (u & 0x800000 ? 0x1000000 : 0);
		a = v < 0 ? (uint64_t)-v : (uint64_t)v;
		buf_putc(out, '"');
		value_put_time(out, v < 0, (unsigned)(a / 10000),
			       (unsigned)(a / 100 % 100), (unsigned)(a % 100),
			       0, 0);
		buf_putc(out, '"');
		return true;
	}
	case COLT_TIME2:
		if (fsp > 6)
			return fail(err, errlen, "TIME2: bad fsp %u", fsp);
		NEED(3 + (fsp + 1) / 2, "TIME2", (int)fsp);
		buf_putc(out, '"');
		if (!decode_time2(p, fsp, out, err, errlen))
			return false;
		buf_putc(out, '"');
		*used = 3 + (fsp + 1) / 2;
		return true;
	case COLT_VARCHAR:
	case COLT_VAR_STRING:
		if (!get_prefixed(p, avail, meta < 256 ? 1 : 2, "VARCHAR", &len,
				  err, errlen))
			return false;
		*used = (meta < 256 ? 1 : 2) + len;
		put_text(col->charset, p + *used - len, len, out, bad);
		return true;
	case COLT_STRING: {
		unsigned byte0 = meta >> 8;
		unsigned max = (((meta >> 4) & 0x300) ^ 0x300) + (meta & 0xff);
		unsigned pfx = max < 256 ? 1 : 2;

		if (col->real_type == COLT_ENUM || byte0 == COLT_ENUM)
			return decode_enum_set(col, false, meta & 0xff, p,
					       avail, used, out, bad, err,
					       errlen);
		if (col->real_type == COLT_SET || byte0 == COLT_SET)
			return decode_enum_set(col, true, meta & 0xff, p, avail,
					       used, out, bad, err, errlen);
		if (!get_prefixed(p, avail, pfx, "CHAR", &len, err, errlen))
			return false;
		*used = pfx + len;
		if (col->charset == CHARSET_BINARY && len < max) {
			/* BINARY(n): the server strips trailing 0x00 bytes. */
			uint8_t tmp[1024];

			if (max <= sizeof(tmp)) {
				memcpy(tmp, p + pfx, len);
				memset(tmp + len, 0, max - len);
				buf_json_base64(out, tmp, max);
				return true;
			}
		}
		put_text(col->charset, p + pfx, len, out, bad);
		return true;
	}
	case COLT_ENUM:
		return decode_enum_set(col, false, meta & 0xff, p, avail, used,
				       out, bad, err, errlen);
	case COLT_SET:
		return decode_enum_set(col, true, meta & 0xff, p, avail, used,
				       out, bad, err, errlen);
	case COLT_BIT: {
		unsigned bytes = (meta & 0xff) + ((meta >> 8) ? 1 : 0);

		if (bytes < 1 || bytes > 8)
			return fail(err, errlen, "BIT: bad length %u bytes",
				    bytes);
		NEED(bytes, "BIT", -1);
		*used = bytes;
		buf_put_u64(out, rd_be(p, bytes));
		return true;
	}
	case COLT_TINY_BLOB:
	case COLT_MEDIUM_BLOB:
	case COLT_LONG_BLOB:
	case COLT_BLOB:
	case COLT_GEOMETRY:
	case COLT_JSON:
	case COLT_VECTOR: {
		const char *name = col->type == COLT_GEOMETRY ? "GEOMETRY" :
				   col->type == COLT_JSON ? "JSON" :
				   col->type == COLT_VECTOR ? "VECTOR" : "BLOB";
		const uint8_t *d;

		if (meta < 1 || meta > 4)
			return fail(err, errlen, "%s: bad length size %u", name,
				    meta);
		if (!get_prefixed(p, avail, meta, name, &len, err, errlen))
			return false;
		d = p + meta;
		if (col->type == COLT_JSON) {
			if (!jsonb_to_json(d, len, out, err, errlen))
				return false;
		} else if (col->type == COLT_VECTOR) {
			if (len % 4)
				return fail(err, errlen,
					    "VECTOR: %zu bytes, not whole floats",
					    len);
			buf_putc(out, '[');
			for (size_t i = 0; i < len; i += 4) {
				uint32_t w = (uint32_t)le_get(d + i, 4);
				float f;

				memcpy(&f, &w, 4);
				if (i)
					buf_putc(out, ',');
				value_put_float(out, f);
			}
			buf_putc(out, ']');
		} else if (col->type == COLT_GEOMETRY || col->charset == 0 ||
			   col->charset == CHARSET_BINARY) {
			buf_json_base64(out, d, len);
		} else {
			charset_json_str(col->charset, d, len, out, bad);
		}
		*used = meta + len;
		return true;
	}
	case COLT_VARCHAR_COMPRESSED:
	case COLT_BLOB_COMPRESSED: {
		/* MariaDB's COMPRESSED columns: the stored bytes start with a
		 * header: 0 = kept as is, else 0x80 | zlib flags | bytes of
		 * the original length, which follows big-endian */
		bool vc = col->type == COLT_VARCHAR_COMPRESSED;
		unsigned pfx = vc ? (meta < 256 ? 1 : 2) : meta;
		const char *name = vc ? "VARCHAR COMPRESSED" : "BLOB COMPRESSED";
		static _Thread_local struct rc_buf plain;
		const uint8_t *d;

		if (pfx < 1 || pfx > 4)
			return fail(err, errlen, "%s: bad length size %u", name, pfx);
		if (!get_prefixed(p, avail, pfx, name, &len, err, errlen))
			return false;
		d = p + pfx;
		*used = pfx + len;
		buf_reset(&plain);
		if (len > 0 && !column_uncompress(d, len, &plain, name, err, errlen))
			return false;
		if (col->charset == CHARSET_BINARY || (!vc && col->charset == 0))
			buf_json_base64(out, (const uint8_t *)plain.data, plain.len);
		else
			put_text(col->charset, (const uint8_t *)plain.data, plain.len, out, bad);
		if (plain.cap > (1u << 20))
			buf_free(&plain);
		return true;
	}
	default:
		return fail(err, errlen, "unsupported column type %u",
			    col->type);
	}
}

bool value_decode(const struct dec_column *col, const uint8_t *p, size_t avail,
		  size_t *used, struct rc_buf *out, struct dec_value_stats *st,
		  char *err, size_t errlen)
{
	size_t start = out->len;
	unsigned bad = 0;
	size_t n = 0;

	if (!decode(col, p, avail, &n, out, &bad, err, errlen)) {
		out->len = start;
		if (out->cap)
			out->data[start] = '\0';
		return false;
	}
	if (st)
		st->bad_chars += bad;
	*used = n;
	return true;
}
