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
		buf_put_float(out, f);
		return true;
	}
	case COLT_DOUBLE: {
		double d;

		NEED(8, "DOUBLE", -1);
		u = le_get(p, 8);
		memcpy(&d, &u, 8);
		*used = 8;
		buf_put_double(out, d);
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
				buf_put_float(out, f);
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
