/* SPDX-License-Identifier: MIT */
/*
 * JSON numbers for floating point: the shortest decimal text that reads
 * back as the same double or float, without printf on the common path.
 * Shared by every source's value writers and by script payloads; knows
 * nothing of where the number came from.
 */
#include "base/jsonnum.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void buf_put_double(struct rc_buf *out, double d)
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

void buf_put_float(struct rc_buf *out, float f)
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
