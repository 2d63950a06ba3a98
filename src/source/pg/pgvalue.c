/* SPDX-License-Identifier: MIT */
/*
 * PostgreSQL text-format values to rowcast JSON (see pgvalue.h and
 * rowcast-format(7)).  Each renderer reads the server's text through a
 * bounded cursor; when the text does not have the expected form the output
 * written so far is dropped and the text is written as a JSON string.
 */
#include "source/pg/pgvalue.h"

#include <string.h>

/* How a type is rendered. */
enum kind {
	K_STRING,	/* JSON string of the text */
	K_BOOL,		/* true/false */
	K_INT,		/* JSON integer */
	K_NUMERIC,	/* JSON string of the exact decimal */
	K_FLOAT,	/* JSON number; NaN and infinities as strings */
	K_BYTEA,	/* base64 string */
	K_JSON,		/* embedded JSON */
	K_DATE,		/* "YYYY-MM-DD" */
	K_TIME,		/* "HH:MM:SS[.f]" */
	K_TIMETZ,	/* "HH:MM:SS[.f]+HH:MM" */
	K_TS,		/* "YYYY-MM-DD HH:MM:SS[.f]" */
	K_TSTZ,		/* the same in UTC with Z */
	K_INTERVAL,	/* ISO 8601 duration string */
	K_VECTOR,	/* int2vector/oidvector: array of integers */
	K_ARRAY,	/* JSON array */
	K_RANGE,	/* object with bounds */
	K_MULTIRANGE,	/* array of range objects */
	K_UNKNOWN,	/* not a built-in type: string of the text */
};

/* A built-in array type and its element type. */
struct arr_map {
	uint16_t array;	/* array type OID */
	uint16_t elem;	/* element type OID */
};

/* From pg_type of PostgreSQL 15 (typcategory 'A'). */
static const struct arr_map arrays[] = {
	{ 143, 142 }, { 199, 114 }, { 271, 5069 }, { 629, 628 }, { 651, 650 },
	{ 719, 718 }, { 775, 774 }, { 791, 790 }, { 1000, 16 }, { 1001, 17 },
	{ 1002, 18 }, { 1003, 19 }, { 1005, 21 }, { 1006, 22 }, { 1007, 23 },
	{ 1008, 24 }, { 1009, 25 }, { 1010, 27 }, { 1011, 28 }, { 1012, 29 },
	{ 1013, 30 }, { 1014, 1042 }, { 1015, 1043 }, { 1016, 20 }, { 1017, 600 },
	{ 1018, 601 }, { 1019, 602 }, { 1020, 603 }, { 1021, 700 }, { 1022, 701 },
	{ 1027, 604 }, { 1028, 26 }, { 1034, 1033 }, { 1040, 829 }, { 1041, 869 },
	{ 1115, 1114 }, { 1182, 1082 }, { 1183, 1083 }, { 1185, 1184 }, { 1187, 1186 },
	{ 1231, 1700 }, { 1263, 2275 }, { 1270, 1266 }, { 1561, 1560 }, { 1563, 1562 },
	{ 2201, 1790 }, { 2207, 2202 }, { 2208, 2203 }, { 2209, 2204 }, { 2210, 2205 },
	{ 2211, 2206 }, { 2949, 2970 }, { 2951, 2950 }, { 3221, 3220 }, { 3643, 3614 },
	{ 3644, 3642 }, { 3645, 3615 }, { 3735, 3734 }, { 3770, 3769 }, { 3807, 3802 },
	{ 3905, 3904 }, { 3907, 3906 }, { 3909, 3908 }, { 3911, 3910 }, { 3913, 3912 },
	{ 3927, 3926 }, { 4073, 4072 }, { 4090, 4089 }, { 4097, 4096 }, { 4192, 4191 },
	{ 5039, 5038 }, { 6150, 4451 }, { 6151, 4532 }, { 6152, 4533 }, { 6153, 4534 },
	{ 6155, 4535 }, { 6157, 4536 },
};

uint32_t pgv_array_elem(uint32_t oid)
{
	size_t lo = 0, hi = sizeof(arrays) / sizeof(arrays[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (arrays[mid].array == oid)
			return arrays[mid].elem;
		if (arrays[mid].array < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Subtype of a built-in range or multirange type, 0 when oid is not one. */
static uint32_t range_subtype(uint32_t oid)
{
	switch (oid) {
	case 3904: case 4451: return 23;	/* int4range */
	case 3906: case 4532: return 1700;	/* numrange */
	case 3908: case 4533: return 1114;	/* tsrange */
	case 3910: case 4534: return 1184;	/* tstzrange */
	case 3912: case 4535: return 1082;	/* daterange */
	case 3926: case 4536: return 20;	/* int8range */
	default: return 0;
	}
}

static enum kind kind_of(uint32_t oid)
{
	switch (oid) {
	case 16: return K_BOOL;
	case 20: case 21: case 23: case 26: case 28: case 29: case 5069:
		return K_INT;	/* int8, int2, int4, oid, xid, cid, xid8 */
	case 1700: return K_NUMERIC;
	case 700: case 701: return K_FLOAT;
	case 17: return K_BYTEA;
	case 114: case 3802: return K_JSON;
	case 1082: return K_DATE;
	case 1083: return K_TIME;
	case 1266: return K_TIMETZ;
	case 1114: return K_TS;
	case 1184: return K_TSTZ;
	case 1186: return K_INTERVAL;
	case 22: case 30: return K_VECTOR;
	case 3904: case 3906: case 3908: case 3910: case 3912: case 3926:
		return K_RANGE;
	case 4451: case 4532: case 4533: case 4534: case 4535: case 4536:
		return K_MULTIRANGE;
	/* strings: character types, network, uuid, bits, text search,
	 * geometry, xml, jsonpath, money, system types */
	case 18: case 19: case 24: case 25: case 27: case 142: case 194: case 600:
	case 601: case 602: case 603: case 604: case 628: case 650: case 718:
	case 774: case 790: case 829: case 869: case 1033: case 1042: case 1043:
	case 1560: case 1562: case 1790: case 2202: case 2203: case 2204:
	case 2205: case 2206: case 2275: case 2950: case 2970: case 3220:
	case 3361: case 3402: case 3614: case 3615: case 3642: case 3734:
	case 3769: case 4072: case 4089: case 4096: case 4191: case 4600:
	case 4601: case 5017: case 5038: case 705:
		return K_STRING;
	default:
		return pgv_array_elem(oid) ? K_ARRAY : K_UNKNOWN;
	}
}

bool pgv_type_known(uint32_t oid)
{
	return kind_of(oid) != K_UNKNOWN;
}

/* A bounded cursor over the text. */
struct cur {
	const char *s;	/* the text */
	size_t n;	/* its length */
	size_t pos;	/* next byte */
};

static bool at_end(const struct cur *c)
{
	return c->pos >= c->n;
}

static int peek(const struct cur *c)
{
	return c->pos < c->n ? (unsigned char)c->s[c->pos] : -1;
}

static bool eat(struct cur *c, char ch)
{
	if (peek(c) != (unsigned char)ch)
		return false;
	c->pos++;
	return true;
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* Between min and max digits into *v (max <= 9). */
static bool digits(struct cur *c, unsigned min, unsigned max, uint32_t *v)
{
	unsigned k = 0;

	*v = 0;
	while (k < max && is_digit(peek(c))) {
		*v = *v * 10 + (uint32_t)(c->s[c->pos++] - '0');
		k++;
	}
	return k >= min;
}

static bool text_is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; with
 * integer_only, no fraction or exponent. */
static bool json_number(const char *s, size_t n, bool integer_only)
{
	struct cur c = { s, n, 0 };

	eat(&c, '-');
	if (eat(&c, '0')) {
		/* nothing: a leading zero stands alone */
	} else if (is_digit(peek(&c))) {
		while (is_digit(peek(&c)))
			c.pos++;
	} else {
		return false;
	}
	if (integer_only)
		return at_end(&c);
	if (eat(&c, '.')) {
		if (!is_digit(peek(&c)))
			return false;
		while (is_digit(peek(&c)))
			c.pos++;
	}
	if (eat(&c, 'e') || eat(&c, 'E')) {
		if (!eat(&c, '+'))
			eat(&c, '-');
		if (!is_digit(peek(&c)))
			return false;
		while (is_digit(peek(&c)))
			c.pos++;
	}
	return at_end(&c);
}

/* Numeric text: NaN, [-]Infinity, or -?digits[.digits]. */
static bool numeric_text(const char *s, size_t n)
{
	struct cur c = { s, n, 0 };

	if (text_is(s, n, "NaN") || text_is(s, n, "Infinity") || text_is(s, n, "-Infinity"))
		return true;
	eat(&c, '-');
	if (!is_digit(peek(&c)))
		return false;
	while (is_digit(peek(&c)))
		c.pos++;
	if (eat(&c, '.')) {
		if (!is_digit(peek(&c)))
			return false;
		while (is_digit(peek(&c)))
			c.pos++;
	}
	return at_end(&c);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* bytea hex form "\x..." as a base64 JSON string, decoded on the fly. */
static bool render_bytea(struct rc_buf *out, const char *s, size_t n)
{
	size_t nbytes, i;
	uint8_t q[3];
	unsigned k = 0;

	if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2)
		return false;
	for (i = 2; i < n; i++)
		if (hexval((unsigned char)s[i]) < 0)
			return false;
	nbytes = (n - 2) / 2;
	buf_room(out, (nbytes + 2) / 3 * 4 + 2);
	buf_putc(out, '"');
	for (i = 0; i < nbytes; i++) {
		q[k++] = (uint8_t)(hexval((unsigned char)s[2 + 2 * i]) << 4 |
				   hexval((unsigned char)s[3 + 2 * i]));
		if (k == 3) {
			char o[4] = { b64[q[0] >> 2], b64[(q[0] & 3) << 4 | q[1] >> 4],
				      b64[(q[1] & 15) << 2 | q[2] >> 6], b64[q[2] & 63] };

			buf_append(out, o, 4);
			k = 0;
		}
	}
	if (k) {
		char o[4] = { b64[q[0] >> 2], 0, '=', '=' };

		if (k == 1) {
			o[1] = b64[(q[0] & 3) << 4];
		} else {
			o[1] = b64[(q[0] & 3) << 4 | q[1] >> 4];
			o[2] = b64[(q[1] & 15) << 2];
		}
		buf_append(out, o, 4);
	}
	buf_putc(out, '"');
	return true;
}

/* ---- dates and times ---- */

/* A parsed date and time of day. */
struct dt {
	int64_t year;		/* astronomical: 1 BC is 0 */
	uint32_t mon, day;	/* 1-12, 1-31 */
	uint32_t hour, min, sec; /* time of day */
	const char *frac;	/* fraction digits (after the '.'), inside the text */
	size_t frac_len;	/* their count, 0 when none */
	int32_t off;		/* UTC offset in seconds (east positive) */
};

static bool parse_date(struct cur *c, struct dt *d)
{
	uint32_t y;

	if (!digits(c, 4, 9, &y) || !eat(c, '-') || !digits(c, 2, 2, &d->mon) || !eat(c, '-') ||
	    !digits(c, 2, 2, &d->day))
		return false;
	d->year = y;
	return d->mon >= 1 && d->mon <= 12 && d->day >= 1 && d->day <= 31;
}

static bool parse_time(struct cur *c, struct dt *d)
{
	if (!digits(c, 2, 2, &d->hour) || !eat(c, ':') || !digits(c, 2, 2, &d->min) ||
	    !eat(c, ':') || !digits(c, 2, 2, &d->sec))
		return false;
	d->frac = NULL;
	d->frac_len = 0;
	if (eat(c, '.')) {
		d->frac = c->s + c->pos;
		while (is_digit(peek(c)))
			c->pos++;
		d->frac_len = (size_t)(c->s + c->pos - d->frac);
		if (!d->frac_len || d->frac_len > 6)
			return false;
	}
	return d->hour <= 24 && d->min <= 59 && d->sec <= 60;
}

/* [+-]HH[:MM[:SS]] */
static bool parse_offset(struct cur *c, struct dt *d)
{
	int sign;
	uint32_t h, m = 0, s = 0;

	if (eat(c, '+'))
		sign = 1;
	else if (eat(c, '-'))
		sign = -1;
	else
		return false;
	if (!digits(c, 2, 2, &h))
		return false;
	if (eat(c, ':')) {
		if (!digits(c, 2, 2, &m))
			return false;
		if (eat(c, ':') && !digits(c, 2, 2, &s))
			return false;
	}
	if (h > 15 || m > 59 || s > 59)
		return false;
	d->off = sign * (int32_t)(h * 3600 + m * 60 + s);
	return true;
}

/* " BC" at the end turns the year astronomical. */
static void parse_era(struct cur *c, struct dt *d)
{
	if (c->n - c->pos == 3 && memcmp(c->s + c->pos, " BC", 3) == 0) {
		d->year = 1 - d->year;
		c->pos += 3;
	}
}

static void put_year(struct rc_buf *out, int64_t y)
{
	char tmp[24];
	char *p;

	if (y < 0)
		buf_putc(out, '-');
	p = buf_digits_back(tmp + sizeof(tmp), (uint64_t)(y < 0 ? -y : y), 4);
	buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put2(struct rc_buf *out, uint32_t v)
{
	buf_append(out, rc_digit_pairs + 2 * (v % 100), 2);
}

/* The date part: year-MM-DD. */
static void put_date(struct rc_buf *out, const struct dt *d)
{
	put_year(out, d->year);
	buf_putc(out, '-');
	put2(out, d->mon);
	buf_putc(out, '-');
	put2(out, d->day);
}

/* HH:MM:SS and the fraction: exactly typmod digits when 0 <= typmod <= 6,
 * else the server's digits. */
static void put_time(struct rc_buf *out, const struct dt *d, int32_t typmod)
{
	put2(out, d->hour);
	buf_putc(out, ':');
	put2(out, d->min);
	buf_putc(out, ':');
	put2(out, d->sec);
	if (typmod >= 0 && typmod <= 6) {
		if (typmod == 0)
			return;
		buf_putc(out, '.');
		for (int32_t i = 0; i < typmod; i++)
			buf_putc(out, (size_t)i < d->frac_len ? d->frac[i] : '0');
	} else if (d->frac_len) {
		buf_putc(out, '.');
		buf_append(out, d->frac, d->frac_len);
	}
}

/* Days since 1970-01-01 of a proleptic Gregorian date (astronomical year). */
static int64_t days_from_civil(int64_t y, uint32_t m, uint32_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, uint32_t *m, uint32_t *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (uint32_t)(doy - (153 * mp + 2) / 5 + 1);
	*m = (uint32_t)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Move d by its offset to UTC. */
static void to_utc(struct dt *d)
{
	int64_t t;

	if (!d->off)
		return;
	t = days_from_civil(d->year, d->mon, d->day) * 86400 + d->hour * 3600 + d->min * 60 +
	    d->sec - d->off;
	{
		int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
		int64_t secs = t - days * 86400;

		civil_from_days(days, &d->year, &d->mon, &d->day);
		d->hour = (uint32_t)(secs / 3600);
		d->min = (uint32_t)(secs / 60 % 60);
		d->sec = (uint32_t)(secs % 60);
	}
	d->off = 0;
}

static bool render_infinity(struct rc_buf *out, const char *s, size_t n)
{
	if (text_is(s, n, "infinity") || text_is(s, n, "-infinity")) {
		buf_json_str(out, s, n, NULL);
		return true;
	}
	return false;
}

static bool render_datetime(struct rc_buf *out, enum kind k, int32_t typmod, const char *s,
			    size_t n)
{
	struct cur c = { s, n, 0 };
	struct dt d = { 0 };

	if (k != K_TIME && k != K_TIMETZ && render_infinity(out, s, n))
		return true;
	if (k == K_DATE || k == K_TS || k == K_TSTZ) {
		if (!parse_date(&c, &d))
			return false;
		if (k != K_DATE && !eat(&c, ' '))
			return false;
	}
	if (k != K_DATE && !parse_time(&c, &d))
		return false;
	if ((k == K_TSTZ || k == K_TIMETZ) && !parse_offset(&c, &d))
		return false;
	if (k == K_DATE || k == K_TS || k == K_TSTZ)
		parse_era(&c, &d);
	if (!at_end(&c))
		return false;
	if (k == K_TSTZ) {
		if (d.hour > 23 || d.sec > 59)
			return false;
		to_utc(&d);
	}
	buf_putc(out, '"');
	if (k == K_DATE || k == K_TS || k == K_TSTZ)
		put_date(out, &d);
	if (k == K_TS || k == K_TSTZ)
		buf_putc(out, ' ');
	if (k != K_DATE)
		put_time(out, &d, typmod);
	if (k == K_TSTZ)
		buf_putc(out, 'Z');
	if (k == K_TIMETZ) {
		int32_t o = d.off < 0 ? -d.off : d.off;

		buf_putc(out, d.off < 0 ? '-' : '+');
		put2(out, (uint32_t)o / 3600);
		buf_putc(out, ':');
		put2(out, (uint32_t)o / 60 % 60);
		if (o % 60) {
			buf_putc(out, ':');
			put2(out, (uint32_t)o % 60);
		}
	}
	buf_putc(out, '"');
	return true;
}

/* ---- intervals ---- */

/* Digits of a signed integer field, kept as text. */
struct ifield {
	bool neg;		/* a '-' was written */
	const char *p;		/* the digits */
	size_t len;		/* their count */
};

static bool ifield_zero(const struct ifield *f)
{
	for (size_t i = 0; i < f->len; i++)
		if (f->p[i] != '0')
			return false;
	return true;
}

/* "[-]N<unit>" with the digits' leading zeros dropped; nothing for zero. */
static void put_ifield(struct rc_buf *out, const struct ifield *f, char unit, bool neg)
{
	size_t i = 0;

	if (!f->len || ifield_zero(f))
		return;
	while (i + 1 < f->len && f->p[i] == '0')
		i++;
	if (neg)
		buf_putc(out, '-');
	buf_append(out, f->p + i, f->len - i);
	buf_putc(out, unit);
}

/* The postgres IntervalStyle ("1 year 2 mons -3 days +04:05:06.5") as
 * the ISO 8601 form the iso_8601 style prints ("P1Y2M-3DT4H5M6.5S"); text
 * already starting with 'P' is the iso_8601 style and passes through. */
static bool render_interval(struct rc_buf *out, const char *s, size_t n)
{
	struct cur c = { s, n, 0 };
	struct ifield ymd[3] = { { 0 } }, hms[3] = { { 0 } };
	struct ifield *f;
	const char *frac = NULL;
	size_t frac_len = 0;
	bool time_neg = false, any_time = false;
	size_t start;

	if (n && s[0] == 'P') {
		for (size_t i = 0; i < n; i++)
			if (!is_digit((unsigned char)s[i]) && !strchr("PYMDTHS-.", s[i]))
				return false;
		buf_json_str(out, s, n, NULL);
		return true;
	}
	while (!at_end(&c)) {
		bool neg = false;

		if (c.pos && !eat(&c, ' '))
			return false;
		if (eat(&c, '-'))
			neg = true;
		else
			eat(&c, '+');
		start = c.pos;
		while (is_digit(peek(&c)))
			c.pos++;
		if (c.pos == start || c.pos - start > 20)
			return false;
		if (eat(&c, ':')) {
			/* the time part: [+-]H+:MM:SS[.f], last */
			hms[0] = (struct ifield){ neg, s + start, c.pos - 1 - start };
			start = c.pos;
			if (!digits(&c, 2, 2, &(uint32_t){ 0 }) || !eat(&c, ':'))
				return false;
			hms[1] = (struct ifield){ neg, s + start, 2 };
			start = c.pos;
			if (!digits(&c, 2, 2, &(uint32_t){ 0 }))
				return false;
			hms[2] = (struct ifield){ neg, s + start, 2 };
			if (eat(&c, '.')) {
				frac = s + c.pos;
				while (is_digit(peek(&c)))
					c.pos++;
				frac_len = (size_t)(s + c.pos - frac);
				if (!frac_len)
					return false;
			}
			time_neg = neg;
			any_time = true;
			if (!at_end(&c))
				return false;
			break;
		}
		{
			size_t numlen = c.pos - start, ustart;
			static const char *const units[] = { "year", "years", "mon", "mons", "day", "days" };
			size_t u;

			if (!eat(&c, ' '))
				return false;
			ustart = c.pos;
			while (peek(&c) >= 'a' && peek(&c) <= 'z')
				c.pos++;
			for (u = 0; u < 6; u++)
				if (text_is(s + ustart, c.pos - ustart, units[u]))
					break;
			if (u == 6)
				return false;
			f = &ymd[u / 2];
			if (f->len)
				return false;	/* a unit twice */
			*f = (struct ifield){ neg, s + start, numlen };
		}
	}
	if (!any_time && !ymd[0].len && !ymd[1].len && !ymd[2].len)
		return false;
	{
		bool frac_zero = true;
		size_t fl = frac_len;

		for (size_t i = 0; i < frac_len; i++)
			if (frac[i] != '0')
				frac_zero = false;
		while (fl && frac[fl - 1] == '0')
			fl--;
		bool zero_date = ifield_zero(&ymd[0]) && ifield_zero(&ymd[1]) && ifield_zero(&ymd[2]);
		bool zero_hm = ifield_zero(&hms[0]) && ifield_zero(&hms[1]);
		bool zero_s = ifield_zero(&hms[2]) && frac_zero;

		buf_putc(out, '"');
		if (zero_date && zero_hm && zero_s) {
			buf_puts(out, "PT0S\"");
			return true;
		}
		buf_putc(out, 'P');
		put_ifield(out, &ymd[0], 'Y', ymd[0].neg);
		put_ifield(out, &ymd[1], 'M', ymd[1].neg);
		put_ifield(out, &ymd[2], 'D', ymd[2].neg);
		if (!zero_hm || !zero_s)
			buf_putc(out, 'T');
		put_ifield(out, &hms[0], 'H', time_neg);
		put_ifield(out, &hms[1], 'M', time_neg);
		if (!zero_s) {
			size_t i = 0;

			if (time_neg)
				buf_putc(out, '-');
			while (i + 1 < hms[2].len && hms[2].p[i] == '0')
				i++;
			buf_append(out, hms[2].p + i, hms[2].len - i);
			if (fl) {
				buf_putc(out, '.');
				buf_append(out, frac, fl);
			}
			buf_putc(out, 'S');
		}
		buf_putc(out, '"');
	}
	return true;
}

/* ---- arrays, ranges, multiranges ---- */

static bool render_value(struct rc_buf *out, uint32_t oid, int32_t typmod, const char *s,
			 size_t n, int depth);

/* Render a quoted item (c at the opening quote) by oid; doubled quotes
 * count as one quote when dq (range bounds).  scratch holds unescaped text. */
static bool render_quoted(struct rc_buf *out, struct rc_buf *scratch, struct cur *c, uint32_t oid,
			  int32_t typmod, bool dq, bool *exact, int depth)
{
	size_t start, i;
	bool esc = false;

	c->pos++;	/* the opening quote */
	start = c->pos;
	for (i = start; i < c->n; i++) {
		if (c->s[i] == '\\') {
			esc = true;
			i++;
		} else if (c->s[i] == '"') {
			if (dq && i + 1 < c->n && c->s[i + 1] == '"') {
				esc = true;
				i++;
			} else {
				break;
			}
		}
	}
	if (i >= c->n)
		return false;	/* no closing quote */
	c->pos = i + 1;
	if (!esc) {
		*exact &= render_value(out, oid, typmod, c->s + start, i - start, depth + 1);
		return true;
	}
	buf_reset(scratch);
	for (size_t j = start; j < i; j++) {
		if (c->s[j] == '\\' || (dq && c->s[j] == '"'))
			j++;
		buf_putc(scratch, c->s[j]);
	}
	{
		/* the element may itself need the scratch buffer: take it over */
		struct rc_buf mine = *scratch;

		*scratch = (struct rc_buf){ 0 };
		*exact &= render_value(out, oid, typmod, mine.data, mine.len, depth + 1);
		buf_free(scratch);
		*scratch = mine;
	}
	return true;
}

#define MAX_DEPTH 16

static bool array_level(struct rc_buf *out, struct rc_buf *scratch, struct cur *c, uint32_t elem,
			int32_t typmod, char delim, bool *exact, int depth)
{
	if (depth > MAX_DEPTH || !eat(c, '{'))
		return false;
	buf_putc(out, '[');
	if (eat(c, '}')) {
		buf_putc(out, ']');
		return true;
	}
	for (;;) {
		int ch = peek(c);

		if (ch == '{') {
			if (!array_level(out, scratch, c, elem, typmod, delim, exact, depth + 1))
				return false;
		} else if (ch == '"') {
			if (!render_quoted(out, scratch, c, elem, typmod, false, exact, depth))
				return false;
		} else {
			size_t start = c->pos;

			while (!at_end(c) && c->s[c->pos] != delim && c->s[c->pos] != '}' &&
			       c->s[c->pos] != '{' && c->s[c->pos] != '"')
				c->pos++;
			if (c->pos == start)
				return false;
			if (c->pos - start == 4 && strncasecmp(c->s + start, "NULL", 4) == 0)
				buf_puts(out, "null");
			else
				*exact &= render_value(out, elem, typmod, c->s + start, c->pos - start,
						       depth + 1);
		}
		if (eat(c, '}'))
			break;
		if (!eat(c, delim))
			return false;
		buf_putc(out, ',');
	}
	buf_putc(out, ']');
	return true;
}

static bool render_array(struct rc_buf *out, uint32_t oid, int32_t typmod, const char *s, size_t n,
			 bool *exact, int depth)
{
	struct cur c = { s, n, 0 };
	struct rc_buf scratch = { 0 };
	bool ok;

	/* "[lo:hi]...=" when a lower bound is not 1: the bounds are dropped */
	if (peek(&c) == '[') {
		while (!at_end(&c) && c.s[c.pos] != '=')
			c.pos++;
		if (!eat(&c, '='))
			return false;
	}
	ok = array_level(out, &scratch, &c, pgv_array_elem(oid), typmod, oid == 1020 ? ';' : ',',
			 exact, depth) && at_end(&c);
	buf_free(&scratch);
	return ok;
}

/* One range bound up to a ',' or closing bracket; null when empty. */
static bool range_bound(struct rc_buf *out, struct rc_buf *scratch, struct cur *c, uint32_t sub,
			bool *exact, int depth, bool *infinite)
{
	size_t start = c->pos;

	*infinite = false;
	if (peek(c) == '"')
		return render_quoted(out, scratch, c, sub, -1, true, exact, depth);
	while (!at_end(c) && !strchr(",)]", c->s[c->pos]))
		c->pos++;
	if (c->pos == start) {
		buf_puts(out, "null");
		*infinite = true;
		return true;
	}
	*exact &= render_value(out, sub, -1, c->s + start, c->pos - start, depth + 1);
	return true;
}

static bool range_at(struct rc_buf *out, struct rc_buf *scratch, struct cur *c, uint32_t sub,
		     bool *exact, int depth)
{
	bool lower_inc, upper_inc, inf;

	if (c->n - c->pos >= 5 && memcmp(c->s + c->pos, "empty", 5) == 0) {
		c->pos += 5;
		buf_puts(out, "{\"empty\":true}");
		return true;
	}
	if (eat(c, '['))
		lower_inc = true;
	else if (eat(c, '('))
		lower_inc = false;
	else
		return false;
	buf_puts(out, "{\"lower\":");
	if (!range_bound(out, scratch, c, sub, exact, depth, &inf) || !eat(c, ','))
		return false;
	buf_puts(out, ",\"upper\":");
	if (!range_bound(out, scratch, c, sub, exact, depth, &inf))
		return false;
	if (eat(c, ']'))
		upper_inc = true;
	else if (eat(c, ')'))
		upper_inc = false;
	else
		return false;
	buf_puts(out, lower_inc ? ",\"lower_inc\":true" : ",\"lower_inc\":false");
	buf_puts(out, upper_inc ? ",\"upper_inc\":true}" : ",\"upper_inc\":false}");
	return true;
}

static bool render_range(struct rc_buf *out, uint32_t oid, const char *s, size_t n, bool multi,
			 bool *exact, int depth)
{
	struct cur c = { s, n, 0 };
	struct rc_buf scratch = { 0 };
	uint32_t sub = range_subtype(oid);
	bool ok = false;

	if (!multi) {
		ok = range_at(out, &scratch, &c, sub, exact, depth) && at_end(&c);
		goto out;
	}
	if (!eat(&c, '{'))
		goto out;
	buf_putc(out, '[');
	if (!eat(&c, '}')) {
		for (;;) {
			if (!range_at(out, &scratch, &c, sub, exact, depth))
				goto out;
			if (eat(&c, '}'))
				break;
			if (!eat(&c, ','))
				goto out;
			buf_putc(out, ',');
		}
	}
	buf_putc(out, ']');
	ok = at_end(&c);
out:
	buf_free(&scratch);
	return ok;
}

/* int2vector / oidvector: "1 2 3". */
static bool render_vector(struct rc_buf *out, const char *s, size_t n)
{
	size_t i = 0;

	buf_putc(out, '[');
	while (i < n) {
		size_t start = i;

		while (i < n && s[i] != ' ')
			i++;
		if (!json_number(s + start, i - start, true))
			return false;
		if (start)
			buf_putc(out, ',');
		buf_append(out, s + start, i - start);
		if (i < n && ++i == n)
			return false;	/* trailing space */
	}
	buf_putc(out, ']');
	return true;
}

/* Render by kind; false (and out back as it was) when the text does not
 * fit, or *exact cleared when an element fell back. */
static bool render_kind(struct rc_buf *out, uint32_t oid, int32_t typmod, const char *s, size_t n,
			bool *exact, int depth)
{
	enum kind k = kind_of(oid);

	switch (k) {
	case K_BOOL:
		if (text_is(s, n, "t")) {
			buf_puts(out, "true");
			return true;
		}
		if (text_is(s, n, "f")) {
			buf_puts(out, "false");
			return true;
		}
		return false;
	case K_INT:
		if (!json_number(s, n, true))
			return false;
		buf_append(out, s, n);
		return true;
	case K_NUMERIC:
		if (!numeric_text(s, n))
			return false;
		buf_json_str(out, s, n, NULL);
		return true;
	case K_FLOAT:
		if (text_is(s, n, "NaN") || text_is(s, n, "Infinity") ||
		    text_is(s, n, "-Infinity")) {
			buf_json_str(out, s, n, NULL);
			return true;
		}
		if (!json_number(s, n, false))
			return false;
		buf_append(out, s, n);
		return true;
	case K_BYTEA:
		return render_bytea(out, s, n);
	case K_JSON:
		/* the server's json/jsonb output is JSON text: embed it */
		if (!n)
			return false;
		buf_append(out, s, n);
		return true;
	case K_DATE:
	case K_TIME:
	case K_TIMETZ:
	case K_TS:
	case K_TSTZ:
		return render_datetime(out, k, typmod, s, n);
	case K_INTERVAL:
		return render_interval(out, s, n);
	case K_VECTOR:
		return render_vector(out, s, n);
	case K_ARRAY:
		return render_array(out, oid, typmod, s, n, exact, depth);
	case K_RANGE:
	case K_MULTIRANGE:
		return render_range(out, oid, s, n, k == K_MULTIRANGE, exact, depth);
	case K_STRING:
		buf_json_str(out, s, n, NULL);
		return true;
	case K_UNKNOWN:
		break;
	}
	*exact = false;
	buf_json_str(out, s, n, NULL);
	return true;
}

static bool render_value(struct rc_buf *out, uint32_t oid, int32_t typmod, const char *s,
			 size_t n, int depth)
{
	size_t mark = out->len;
	bool exact = true;

	if (depth <= MAX_DEPTH && render_kind(out, oid, typmod, s, n, &exact, depth))
		return exact;
	out->len = mark;
	if (out->cap)
		out->data[mark] = '\0';
	buf_json_str(out, s, n, NULL);
	return false;
}

bool pgv_render(struct rc_buf *out, uint32_t oid, int32_t typmod, const char *s, size_t n)
{
	return render_value(out, oid, typmod, s, n, 0);
}
