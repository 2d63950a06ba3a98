/* SPDX-License-Identifier: MIT */
/*
 * Message envelopes (see envelope.h).  Every value starts from the
 * source's native JSON text of the column (rowcast-format(7)) and is
 * re-shaped only where the target format wants another representation:
 *
 * Debezium (MySQL connector 2.x defaults, JsonConverter, schemas off):
 *   DECIMAL        precise: base64 of the big-endian two's-complement
 *                  unscaled integer (Kafka Connect Decimal); string mode:
 *                  the digits as a string
 *   DATE           days since 1970-01-01 (io.debezium.time.Date)
 *   DATETIME(0-3)  ms since the epoch, read as UTC (io.debezium.time.Timestamp)
 *   DATETIME(4-6)  µs since the epoch (io.debezium.time.MicroTimestamp)
 *   TIMESTAMP      "YYYY-MM-DDTHH:MM:SS[.f]Z", the column's fractional
 *                  digits (io.debezium.time.ZonedTimestamp)
 *   TIME           µs (io.debezium.time.MicroTime)
 *   BIT(1)         true/false;  BIT(n>1): base64 of ceil(n/8) little-endian
 *                  bytes (io.debezium.data.Bits)
 *   JSON           a string holding the JSON text (io.debezium.data.Json)
 *   GEOMETRY       {"wkb":base64,"srid":n} (io.debezium.data.geometry.Geometry)
 *   zero dates     null when the column is nullable, else the epoch
 *   the rest       as native (integers, floats, strings, base64 bytes,
 *                  ENUM/SET strings, YEAR)
 *
 * Maxwell: DECIMAL as a JSON number, TIMESTAMP in UTC without the "Z", SET
 * as an array of member names, GEOMETRY as WKT text; the rest as native
 * (zero dates kept as "0000-00-00...", BIT as an integer, JSON as JSON).
 *
 * A snapshot's rows (op read): Debezium's "r" with before null, "row" 0
 * and source.snapshot "true" (initial) or "incremental" (on demand, as
 * Debezium's ad hoc incremental snapshots); Maxwell's "bootstrap-insert";
 * CloudEvents type "...<table>.read".  Per-table start and end markers:
 * native and CloudEvents "snapshot-start"/"-complete", Maxwell's
 * "bootstrap-start"/"-complete", none in Debezium.
 *
 * Values the source did not write as expected (which it does not do) are
 * passed through as native text rather than guessed at.
 */
#include "route/envelope.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/native.h"

/* Append a string literal. */
#define LIT(b, s) buf_append((b), (s), sizeof(s) - 1)

static const char *const dbz_ops[CH_ROW_OPS] = { "c", "u", "d", "r" };	/* by enum ch_op */
/* ---- calendar ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (any year >= 0). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;				/* [0, 399] */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;	/* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	/* [0, 146096] */
	return era * 146097 + doe - 719468;
}

/* The date of days since 1970-01-01 (days >= 0). */
static void civil_from_days(uint64_t days, unsigned *y, unsigned *m, unsigned *d)
{
	uint64_t z = days + 719468;
	uint64_t era = z / 146097;
	uint64_t doe = z - era * 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;

	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = (unsigned)(yoe + era * 400 + (*m <= 2));
}

static void put_dig(struct rc_buf *out, unsigned v, unsigned width)
{
	char tmp[24], *end = tmp + sizeof(tmp);
	const char *p = buf_digits_back(end, v, width < sizeof(tmp) ? width : sizeof(tmp));

	buf_append(out, p, (size_t)(end - p));
}

/* ---- parsing the native value texts ---- */

struct when {
	unsigned y, mo, d, h, mi, s;
	uint32_t us;
	bool neg;	/* TIME only */
	bool z;		/* TIMESTAMP: trailing Z (not a zero value) */
};

static const char *get_num(const char *p, const char *e, unsigned max_digits, unsigned *v)
{
	unsigned n = 0, k = 0;

	while (p < e && *p >= '0' && *p <= '9' && k < max_digits) {
		n = n * 10 + (unsigned)(*p++ - '0');
		k++;
	}
	*v = n;
	return k ? p : NULL;
}

static const char *get_frac(const char *p, const char *e, uint32_t *us)
{
	unsigned k = 0;
	uint32_t f = 0;

	*us = 0;
	if (p >= e || *p != '.')
		return p;
	p++;
	while (p < e && *p >= '0' && *p <= '9' && k < 6) {
		f = f * 10 + (uint32_t)(*p++ - '0');
		k++;
	}
	if (k == 0)
		return NULL;
	while (k++ < 6)
		f *= 10;
	*us = f;
	return p;
}

/* The inside of a JSON string value text: false when it is not one. */
static bool inner(const char *s, size_t n, const char **p, const char **e)
{
	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return false;
	*p = s + 1;
	*e = s + n - 1;
	return true;
}

static bool expect(const char **p, const char *e, char c)
{
	if (*p == NULL || *p >= e || **p != c)
		return false;
	(*p)++;
	return true;
}

/* "YYYY-MM-DD" */
static bool parse_date(const char *s, size_t n, struct when *w)
{
	const char *p, *e;

	memset(w, 0, sizeof(*w));
	if (!inner(s, n, &p, &e))
		return false;
	p = get_num(p, e, 4, &w->y);
	if (!expect(&p, e, '-'))
		return false;
	p = get_num(p, e, 2, &w->mo);
	if (!expect(&p, e, '-'))
		return false;
	p = get_num(p, e, 2, &w->d);
	return p == e;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff][Z]" */
static bool parse_datetime(const char *s, size_t n, struct when *w)
{
	const char *p, *e;

	memset(w, 0, sizeof(*w));
	if (!inner(s, n, &p, &e))
		return false;
	p = get_num(p, e, 4, &w->y);
	if (!expect(&p, e, '-'))
		return false;
	p = get_num(p, e, 2, &w->mo);
	if (!expect(&p, e, '-'))
		return false;
	p = get_num(p, e, 2, &w->d);
	if (!expect(&p, e, ' '))
		return false;
	p = get_num(p, e, 2, &w->h);
	if (!expect(&p, e, ':'))
		return false;
	p = get_num(p, e, 2, &w->mi);
	if (!expect(&p, e, ':'))
		return false;
	p = get_num(p, e, 2, &w->s);
	if (p == NULL || (p = get_frac(p, e, &w->us)) == NULL)
		return false;
	if (p < e && *p == 'Z') {
		w->z = true;
		p++;
	}
	return p == e;
}

/* "[-]HHH:MM:SS[.ffffff]" */
static bool parse_time(const char *s, size_t n, struct when *w)
{
	const char *p, *e;

	memset(w, 0, sizeof(*w));
	if (!inner(s, n, &p, &e))
		return false;
	if (p < e && *p == '-') {
		w->neg = true;
		p++;
	}
	p = get_num(p, e, 3, &w->h);
	if (!expect(&p, e, ':'))
		return false;
	p = get_num(p, e, 2, &w->mi);
	if (!expect(&p, e, ':'))
		return false;
	p = get_num(p, e, 2, &w->s);
	if (p == NULL || (p = get_frac(p, e, &w->us)) == NULL)
		return false;
	return p == e;
}

/* A zero or partly zero date ("0000-00-00", "2018-00-10"): not a day. */
static bool zero_date(const struct when *w)
{
	return w->mo == 0 || w->d == 0;
}

static int64_t epoch_us(const struct when *w)
{
	int64_t days = days_from_civil(w->y, w->mo, w->d);
	int64_t sec = days * 86400 + w->h * 3600 + w->mi * 60 + w->s;

	return sec * 1000000 + w->us;
}

/* Integer floor division for the ms of dates before the epoch. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- base64 ---- */

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode the base64 inside the JSON string text s (n bytes) and append the
 * bytes to out.  Returns false (out's length may have grown) when it is
 * not base64.
 */
static bool b64_decode_append(struct rc_buf *out, const char *s, size_t n)
{
	const char *p, *e;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (!inner(s, n, &p, &e))
		return false;
	while (e > p && e[-1] == '=')
		e--;
	buf_reserve(out, (size_t)(e - p) * 3 / 4 + 1);
	for (; p < e; p++) {
		int v = b64_val((unsigned char)*p);

		if (v < 0)
			return false;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (char)(acc >> bits & 0xff));
		}
	}
	return true;
}

/* ---- Debezium values ---- */


/*
 * DECIMAL, decimal.handling.mode=precise: Kafka Connect's Decimal logical
 * type is the unscaled value (the digits without the point; the scale is
 * in the schema) as the minimal big-endian two's-complement bytes, as
 * Java's BigInteger.toByteArray() gives them; JsonConverter writes bytes
 * as base64.
 */
static bool dbz_decimal(struct rc_buf *out, const char *s, size_t n)
{
	uint8_t mag[40];	/* little-endian; 10^66 < 2^220 */
	uint8_t be[41];
	const char *p, *e;
	bool neg = false, any = false;
	size_t k, start;

	if (!inner(s, n, &p, &e))
		return false;
	memset(mag, 0, sizeof(mag));
	if (p < e && *p == '-') {
		neg = true;
		p++;
	}
	for (; p < e; p++) {
		unsigned carry;

		if (*p == '.')
			continue;
		if (*p < '0' || *p > '9')
			return false;
		any = true;
		carry = (unsigned)(*p - '0');
		for (size_t i = 0; i < sizeof(mag); i++) {
			unsigned v = mag[i] * 10u + carry;

			mag[i] = (uint8_t)v;
			carry = v >> 8;
		}
		if (carry)
			return false;	/* more digits than DECIMAL has */
	}
	if (!any)
		return false;
	if (neg) {		/* two's complement: invert, add one */
		unsigned carry = 1;

		for (size_t i = 0; i < sizeof(mag); i++) {
			unsigned v = (uint8_t)~mag[i] + carry;

			mag[i] = (uint8_t)v;
			carry = v >> 8;
		}
	}
	for (k = 0; k < sizeof(mag); k++)
		be[k] = mag[sizeof(mag) - 1 - k];
	/* Drop leading sign-extension bytes, keeping the sign bit. */
	start = 0;
	while (start + 1 < sizeof(mag) &&
	       ((be[start] == 0x00 && !(be[start + 1] & 0x80)) ||
		(be[start] == 0xff && (be[start + 1] & 0x80))))
		start++;
	buf_json_base64(out, be + start, sizeof(mag) - start);
	return true;
}

/* GEOMETRY: the native base64 holds SRID (4 bytes, little-endian) + WKB. */
static bool dbz_geometry(struct rc_buf *out, const char *s, size_t n)
{
	size_t base = out->len, m, tail;
	const uint8_t *d;
	uint32_t srid;

	/* Room for the bytes and their re-encoding, so that nothing below
	 * moves out->data while it is being read. */
	buf_reserve(out, n / 4 * 3 + 3 + (n / 4 * 3 + 3) / 3 * 4 + 64);
	if (!b64_decode_append(out, s, n) || out->len - base < 4) {
		out->len = base;
		out->data[base] = '\0';
		return false;
	}
	m = out->len - base;
	d = (const uint8_t *)out->data + base;
	srid = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 |
	       (uint32_t)d[3] << 24;
	LIT(out, "{\"wkb\":");
	buf_json_base64(out, (const uint8_t *)out->data + base + 4, m - 4);
	LIT(out, ",\"srid\":");
	buf_put_u64(out, srid);
	buf_putc(out, '}');
	tail = out->len - base - m;
	memmove(out->data + base, out->data + base + m, tail);
	out->len = base + tail;
	out->data[out->len] = '\0';
	return true;
}

/* Zero dates: null for a nullable column, else the epoch. */
static void dbz_zero(struct rc_buf *out, const struct ch_column *c, const char *epoch)
{
	if (c->nullable)
		LIT(out, "null");
	else
		buf_puts(out, epoch);
}

static bool dbz_value(struct rc_buf *out, const struct envelope_opts *o,
		      const struct ch_column *c, const char *s, size_t n)
{
	struct when w;

	switch (c->type) {
	case CT_DECIMAL:
		if (o->decimal_string)
			return false;	/* native "-12.50" is the string mode */
		return dbz_decimal(out, s, n);
	case CT_DATE:
		if (!parse_date(s, n, &w))
			return false;
		if (zero_date(&w))
			dbz_zero(out, c, "0");
		else
			buf_put_i64(out, days_from_civil(w.y, w.mo, w.d));
		return true;
	case CT_DATETIME: {
		unsigned fsp = c->fsp;

		if (!parse_datetime(s, n, &w) || w.z)
			return false;
		if (zero_date(&w))
			dbz_zero(out, c, "0");
		else if (fsp <= 3)
			buf_put_i64(out, floor_div(epoch_us(&w), 1000));
		else
			buf_put_i64(out, epoch_us(&w));
		return true;
	}
	case CT_TIMESTAMP: {
		unsigned fsp = c->fsp;
		const char *p, *e;

		if (!parse_datetime(s, n, &w))
			return false;
		if (!w.z) {	/* the zero timestamp */
			if (c->nullable) {
				LIT(out, "null");
			} else {
				LIT(out, "\"1970-01-01T00:00:00");
				if (fsp) {
					buf_putc(out, '.');
					for (unsigned i = 0; i < fsp && i < 6; i++)
						buf_putc(out, '0');
				}
				LIT(out, "Z\"");
			}
			return true;
		}
		/* Same digits, ISO 8601: the space becomes "T". */
		if (!inner(s, n, &p, &e))
			return false;
		buf_putc(out, '"');
		for (; p < e; p++)
			buf_putc(out, *p == ' ' ? 'T' : *p);
		buf_putc(out, '"');
		return true;
	}
	case CT_TIME: {
		int64_t us;

		if (!parse_time(s, n, &w))
			return false;
		us = ((int64_t)w.h * 3600 + w.mi * 60 + w.s) * 1000000 + w.us;
		buf_put_i64(out, w.neg ? -us : us);
		return true;
	}
	case CT_BIT: {
		unsigned bits = c->bits;
		uint8_t le[8];
		uint64_t v = 0;
		unsigned nb;

		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9' || i >= 20)
				return false;
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		if (n == 0 || bits == 0 || bits > 64)
			return false;
		if (bits == 1) {
			if (v)
				LIT(out, "true");
			else
				LIT(out, "false");
			return true;
		}
		nb = (bits + 7) / 8;
		for (unsigned i = 0; i < nb; i++)
			le[i] = (uint8_t)(v >> (8 * i));
		buf_json_base64(out, le, nb);
		return true;
	}
	case CT_JSON:
		buf_json_str(out, s, n, NULL);
		return true;
	case CT_GEOMETRY:
		return dbz_geometry(out, s, n);
	default:
		return false;	/* native is Debezium's representation */
	}
}

/* ---- Maxwell values ---- */

/* WKB reader over bytes kept in the output buffer itself (by offset, as
 * the buffer may move while the WKT is appended). */
struct wkb {
	const struct rc_buf *b;
	size_t pos, end;
};

static bool wkb_u32(struct wkb *r, bool le, uint32_t *v)
{
	const uint8_t *p;

	if (r->end - r->pos < 4)
		return false;
	p = (const uint8_t *)r->b->data + r->pos;
	*v = le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			  (uint32_t)p[3] << 24
		: (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
			  (uint32_t)p[0] << 24;
	r->pos += 4;
	return true;
}

static bool wkb_f64(struct wkb *r, bool le, double *d)
{
	const uint8_t *p;
	uint64_t v = 0;

	if (r->end - r->pos < 8)
		return false;
	p = (const uint8_t *)r->b->data + r->pos;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[le ? 7 - i : i];
	memcpy(d, &v, 8);
	r->pos += 8;
	return true;
}

/* The shortest decimal that reads back as d, written without an exponent. */
static void put_plain_double(struct rc_buf *out, double d)
{
	char tmp[48], dig[24];
	int exp, k = 0, point;
	char *q;

	if (!isfinite(d)) {
		LIT(out, "NaN");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	q = tmp;
	if (*q == '-') {
		buf_putc(out, '-');
		q++;
	}
	for (; *q && *q != 'e'; q++)
		if (*q >= '0' && *q <= '9' && k < (int)sizeof(dig))
			dig[k++] = *q;
	exp = *q == 'e' ? atoi(q + 1) : 0;
	while (k > 1 && dig[k - 1] == '0')
		k--;
	point = exp + 1;	/* digits before the decimal point */
	if (point <= 0) {
		LIT(out, "0.");
		for (int i = 0; i < -point; i++)
			buf_putc(out, '0');
		buf_append(out, dig, (size_t)k);
	} else if (point >= k) {
		buf_append(out, dig, (size_t)k);
		for (int i = k; i < point; i++)
			buf_putc(out, '0');
	} else {
		buf_append(out, dig, (size_t)point);
		buf_putc(out, '.');
		buf_append(out, dig + point, (size_t)(k - point));
	}
}

static bool wkt_point(struct rc_buf *out, struct wkb *r, bool le)
{
	double x, y;

	if (!wkb_f64(r, le, &x) || !wkb_f64(r, le, &y))
		return false;
	put_plain_double(out, x);
	buf_putc(out, ' ');
	put_plain_double(out, y);
	return true;
}

static bool wkt_geom(struct rc_buf *out, struct wkb *r, unsigned depth,
		     uint32_t want, bool named);

/*
 * "(item, item, ...)" or "EMPTY": the body of every WKT type but POINT.
 * The items of a LINESTRING (2) are points, of a POLYGON (3) rings of
 * points, of a MULTI* (4..6) or GEOMETRYCOLLECTION (7) whole geometries.
 */
static bool wkt_list(struct rc_buf *out, struct wkb *r, bool le,
		     unsigned depth, uint32_t type)
{
	static const size_t min_item[8] = { 0, 0, 16, 4, 5, 5, 5, 5 };
	uint32_t n;

	if (!wkb_u32(r, le, &n))
		return false;
	if (n == 0) {
		LIT(out, "EMPTY");
		return true;
	}
	if (n > (r->end - r->pos) / min_item[type])
		return false;
	buf_putc(out, '(');
	for (uint32_t i = 0; i < n; i++) {
		bool ok;

		if (i)
			LIT(out, ", ");
		if (type == 2)
			ok = wkt_point(out, r, le);
		else if (type == 3)
			ok = wkt_list(out, r, le, depth, 2);
		else
			ok = wkt_geom(out, r, depth + 1, type == 7 ? 0 : type - 3,
				      type == 7);
		if (!ok)
			return false;
	}
	buf_putc(out, ')');
	return true;
}

static const char *const wkt_names[8] = {
	NULL, "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING",
	"MULTIPOLYGON", "GEOMETRYCOLLECTION",
};

/*
 * One WKB geometry as WKT, the way JTS's WKTWriter (which Maxwell uses)
 * spells it: "POINT (1 2)", "MULTIPOINT ((1 2), (3 4))", "... EMPTY".
 * want: the type a member of a MULTI* must have, 0 for any; named: write
 * the type name (not for members of MULTI*).
 */
static bool wkt_geom(struct rc_buf *out, struct wkb *r, unsigned depth, uint32_t want, bool named)
{
	uint32_t type;
	uint8_t order;
	bool le;

	if (depth > 32 || r->end - r->pos < 5)
		return false;
	order = (uint8_t)r->b->data[r->pos++];
	if (order > 1)
		return false;
	le = order == 1;
	if (!wkb_u32(r, le, &type) || type < 1 || type > 7 || (want && type != want))
		return false;
	if (named) {
		buf_puts(out, wkt_names[type]);
		buf_putc(out, ' ');
	}
	switch (type) {
	case 1: {
		size_t at = r->pos;
		double x, y;

		if (!wkb_f64(r, le, &x) || !wkb_f64(r, le, &y))
			return false;
		if (isnan(x) && isnan(y)) {
			LIT(out, "EMPTY");
			return true;
		}
		r->pos = at;
		buf_putc(out, '(');
		if (!wkt_point(out, r, le))
			return false;
		buf_putc(out, ')');
		return true;
	}
	default:
		return wkt_list(out, r, le, depth, type);
	}
}

/* GEOMETRY as a WKT string (SRID dropped, as JTS's toText() does). */
static bool mx_geometry(struct rc_buf *out, const char *s, size_t n)
{
	size_t base = out->len, m, tail;
	struct wkb r;

	if (!b64_decode_append(out, s, n) || out->len - base < 4)
		goto fail;
	m = out->len - base;
	r.b = out;
	r.pos = base + 4;
	r.end = base + m;
	buf_putc(out, '"');
	if (!wkt_geom(out, &r, 0, 0, true) || r.pos != r.end)
		goto fail;
	buf_putc(out, '"');
	tail = out->len - base - m;
	memmove(out->data + base, out->data + base + m, tail);
	out->len = base + tail;
	out->data[out->len] = '\0';
	return true;
fail:
	out->len = base;
	if (out->cap)
		out->data[base] = '\0';
	return false;
}

static bool mx_value(struct rc_buf *out, const struct ch_column *c, const char *s, size_t n)
{
	const char *p, *e;

	switch (c->type) {
	case CT_DECIMAL:		/* a JSON number, as Maxwell writes BigDecimal */
		if (!inner(s, n, &p, &e) || p == e)
			return false;
		buf_append(out, p, (size_t)(e - p));
		return true;
	case CT_TIMESTAMP:		/* UTC, "YYYY-MM-DD HH:MM:SS[.f]", no zone */
		if (!inner(s, n, &p, &e))
			return false;
		if (e > p && e[-1] == 'Z')
			e--;
		buf_putc(out, '"');
		buf_append(out, p, (size_t)(e - p));
		buf_putc(out, '"');
		return true;
	case CT_GEOMETRY:
		return mx_geometry(out, s, n);
	default:
		break;
	}
	if (c->type == CT_SET) {		/* ["a","b"]; members never hold a comma */
		const char *q;
		bool first = true;

		if (!inner(s, n, &p, &e))
			return false;	/* no member names: the bit mask, as native */
		buf_putc(out, '[');
		for (q = p; p < e; p = q + 1) {
			for (q = p; q < e && *q != ','; q++)
				;
			if (!first)
				buf_putc(out, ',');
			first = false;
			buf_putc(out, '"');
			buf_append(out, p, (size_t)(q - p));
			buf_putc(out, '"');
		}
		buf_putc(out, ']');
		return true;
	}
	return false;
}

/* ---- images ---- */

static void value_text(const struct ch_image *im, uint32_t i, const char **s, size_t *n)
{
	*s = im->text.data + im->off[i];
	*n = im->len[i];
}

static void image(struct rc_buf *out, const struct envelope_opts *o, const struct ch_table *t,
		  const struct ch_image *im)
{
	bool first = true;

	if (im == NULL) {
		LIT(out, "null");
		return;
	}
	buf_putc(out, '{');
	for (uint32_t i = 0; i < t->ncols; i++) {
		const struct ch_column *c = &t->cols[i];
		const char *s;
		size_t n;
		bool done;

		if (im->state[i] == CH_ABSENT)
			continue;
		if (!first)
			buf_putc(out, ',');
		first = false;
		buf_json_str(out, c->name, c->name_len, NULL);
		buf_putc(out, ':');
		if (im->state[i] == CH_NULL) {
			LIT(out, "null");
			continue;
		}
		value_text(im, i, &s, &n);
		done = o->kind == ENV_DEBEZIUM ? dbz_value(out, o, c, s, n) : mx_value(out, c, s, n);
		if (!done)
			buf_append(out, s, n);
	}
	buf_putc(out, '}');
}

/* Maxwell's "old": the before values of the columns the update changed. */
static void mx_old(struct rc_buf *out, const struct envelope_opts *o, const struct ch_table *t,
		   const struct ch_image *before, const struct ch_image *after)
{
	bool first = true;

	buf_putc(out, '{');
	for (uint32_t i = 0; i < t->ncols; i++) {
		const char *bs, *as;
		size_t bn, an;

		if (before->state[i] == CH_ABSENT || after->state[i] == CH_ABSENT)
			continue;
		if (before->state[i] == after->state[i]) {
			if (before->state[i] == CH_NULL)
				continue;
			value_text(before, i, &bs, &bn);
			value_text(after, i, &as, &an);
			if (bn == an && memcmp(bs, as, bn) == 0)
				continue;
		}
		if (!first)
			buf_putc(out, ',');
		first = false;
		buf_json_str(out, t->cols[i].name, t->cols[i].name_len, NULL);
		buf_putc(out, ':');
		if (before->state[i] == CH_NULL) {
			LIT(out, "null");
		} else {
			value_text(before, i, &bs, &bn);
			if (!mx_value(out, &t->cols[i], bs, bn))
				buf_append(out, bs, bn);
		}
	}
	(void)o;
	buf_putc(out, '}');
}

static void put_str(struct rc_buf *out, const char *s)
{
	buf_json_str(out, s, strlen(s), NULL);
}

static void format_debezium(struct rc_buf *out, const struct envelope_opts *o,
			    const struct ch_trx *trx, const char *file, uint64_t offset,
			    const struct ch_row *row)
{
	const struct ch_table *t = row->table;

	LIT(out, "{\"before\":");
	image(out, o, t, row->before);
	LIT(out, ",\"after\":");
	image(out, o, t, row->after);
	LIT(out, ",\"source\":{\"version\":\"rowcast-0.1.0\",\"connector\":\"mysql\",\"name\":");
	put_str(out, o->server_name ? o->server_name : "rowcast");
	LIT(out, ",\"ts_ms\":");
	buf_put_u64(out, trx->ts_ms);
	/* a read: "true" in an initial snapshot, "incremental" in one asked
	 * for while streaming (Debezium's ad hoc incremental snapshots) */
	if (row->op != CH_READ)
		LIT(out, ",\"snapshot\":\"false\",\"db\":");
	else if (trx->snap && trx->snap->on_demand)
		LIT(out, ",\"snapshot\":\"incremental\",\"db\":");
	else
		LIT(out, ",\"snapshot\":\"true\",\"db\":");
	put_str(out, t->db);
	LIT(out, ",\"sequence\":null,\"table\":");
	put_str(out, t->name);
	LIT(out, ",\"server_id\":");
	buf_put_u64(out, o->server_id);
	LIT(out, ",\"gtid\":");
	if (trx->gtid[0])
		put_str(out, trx->gtid);
	else
		LIT(out, "null");
	LIT(out, ",\"file\":");
	put_str(out, file ? file : "");
	LIT(out, ",\"pos\":");
	buf_put_u64(out, offset);
	LIT(out, ",\"row\":");
	buf_put_u64(out, row->op == CH_READ ? 0 : row->index);	/* a read is in no event */
	LIT(out, ",\"thread\":null,\"query\":null},\"op\":\"");
	buf_puts(out, dbz_ops[row->op]);
	LIT(out, "\",\"ts_ms\":");
	buf_put_u64(out, trx->ts_ms);
	LIT(out, ",\"transaction\":null}");
}

/* {"database":..,"table":..,"type":..,"ts":..,"data":  (the data follows) */
static void mx_head(struct rc_buf *out, const char *db, const char *table, const char *type,
		    uint64_t ts_ms)
{
	LIT(out, "{\"database\":");
	put_str(out, db);
	LIT(out, ",\"table\":");
	put_str(out, table);
	LIT(out, ",\"type\":\"");
	buf_puts(out, type);
	LIT(out, "\",\"ts\":");
	buf_put_u64(out, ts_ms / 1000);
	LIT(out, ",\"data\":");
}

static void format_maxwell(struct rc_buf *out, const struct envelope_opts *o,
			   const struct ch_trx *trx, const struct ch_row *row)
{
	const struct ch_table *t = row->table;

	/* a snapshot's row is Maxwell's bootstrap row */
	mx_head(out, t->db, t->name, row->op == CH_READ ? "bootstrap-insert" : ch_op_names[row->op],
		trx->ts_ms);
	image(out, o, t, row->op == CH_DELETE ? row->before : row->after);
	if (row->op == CH_UPDATE && row->before && row->after) {
		LIT(out, ",\"old\":");
		mx_old(out, o, t, row->before, row->after);
	}
	buf_putc(out, '}');
}

/* s escaped for the inside of a JSON string (no quotes). */
static void json_inner(struct rc_buf *out, const char *s)
{
	size_t at = out->len;

	buf_json_str(out, s, strlen(s), NULL);
	memmove(out->data + at, out->data + at + 1, out->len - at - 2);
	out->len -= 2;
	out->data[out->len] = '\0';
}

/* Reverse p[a, b). */
static void reverse(char *p, size_t a, size_t b)
{
	while (a + 1 < b) {
		char c = p[a];

		p[a++] = p[--b];
		p[b] = c;
	}
}

/* What a CloudEvents event says of its data. */
struct ce_attrs {
	const struct ch_trx *trx;	/* its time; with index, a row's id */
	uint64_t index;			/* the row's index */
	const char *id;			/* else this id (a marker's) */
	const char *db, *table;		/* the subject, and the default type's */
	const char *what;		/* the default type's last part (the op) */
};

/*
 * The CloudEvents envelope around the data out holds (a native message):
 * the head is appended after it, then the two are swapped in place, so
 * the data is written once.
 */
static void ce_wrap(struct rc_buf *out, const struct envelope_opts *o, const struct ce_attrs *a)
{
	size_t data_len = out->len;
	unsigned y, m, d;
	uint64_t ms = a->trx->ts_ms, sec = ms / 1000;

	LIT(out, "{\"specversion\":\"1.0\",\"id\":\"");
	if (a->id)
		json_inner(out, a->id);
	else
		native_event_id(out, a->trx, a->index);
	LIT(out, "\",\"source\":");
	put_str(out, o->source_uri ? o->source_uri : "rowcast");
	LIT(out, ",\"type\":");
	if (o->event_type) {
		put_str(out, o->event_type);
	} else {
		/* "rowcast.<db>.<table>.<op>" */
		LIT(out, "\"rowcast.");
		json_inner(out, a->db);
		buf_putc(out, '.');
		json_inner(out, a->table);
		buf_putc(out, '.');
		buf_puts(out, a->what);
		buf_putc(out, '"');
	}
	LIT(out, ",\"subject\":\"");
	json_inner(out, a->db);
	buf_putc(out, '.');
	json_inner(out, a->table);
	buf_putc(out, '"');
	LIT(out, ",\"time\":\"");
	civil_from_days(sec / 86400, &y, &m, &d);
	put_dig(out, y, 4);
	buf_putc(out, '-');
	put_dig(out, m, 2);
	buf_putc(out, '-');
	put_dig(out, d, 2);
	buf_putc(out, 'T');
	put_dig(out, (unsigned)(sec % 86400 / 3600), 2);
	buf_putc(out, ':');
	put_dig(out, (unsigned)(sec % 3600 / 60), 2);
	buf_putc(out, ':');
	put_dig(out, (unsigned)(sec % 60), 2);
	buf_putc(out, '.');
	put_dig(out, (unsigned)(ms % 1000), 3);
	LIT(out, "Z\",\"datacontenttype\":\"application/json\",\"data\":");
	/* [data][head] -> [head][data] */
	reverse(out->data, 0, data_len);
	reverse(out->data, data_len, out->len);
	reverse(out->data, 0, out->len);
	buf_putc(out, '}');
}

static void format_cloudevents(struct rc_buf *out, const struct envelope_opts *o,
			       const struct ch_trx *trx, const struct ch_row *row)
{
	struct ce_attrs a = { trx, row->index, NULL, row->table->db, row->table->name,
			      ch_op_names[row->op] };

	native_format(out, trx, row);
	ce_wrap(out, o, &a);
}

void envelope_format(struct rc_buf *out, const struct envelope_opts *o, const struct ch_trx *trx,
		     const char *file, uint64_t offset, const struct ch_row *row)
{
	switch (o->kind) {
	case ENV_DEBEZIUM:
		buf_reset(out);
		format_debezium(out, o, trx, file, offset, row);
		return;
	case ENV_MAXWELL:
		buf_reset(out);
		format_maxwell(out, o, trx, row);
		return;
	case ENV_CLOUDEVENTS:
		format_cloudevents(out, o, trx, row);
		return;
	case ENV_NATIVE:
	default:
		native_format(out, trx, row);
		return;
	}
}

bool envelope_snapshot_marker(struct rc_buf *out, const struct envelope_opts *o,
			      const struct ch_trx *trx, bool end, uint64_t rows, const char *id)
{
	const struct ch_snap *s = trx->snap;
	const char *what = end ? "snapshot-complete" : "snapshot-start";
	struct ce_attrs a = { trx, 0, id, s->db, s->table, what };
	struct envelope_opts ce = *o;

	ce.event_type = NULL;	/* a route's event type names its rows' events */
	switch (o->kind) {
	case ENV_DEBEZIUM:
		return false;	/* Debezium marks snapshot rows, not tables */
	case ENV_MAXWELL:
		buf_reset(out);
		mx_head(out, s->db, s->table, end ? "bootstrap-complete" : "bootstrap-start",
			trx->ts_ms);
		LIT(out, "{}}");
		return true;
	case ENV_CLOUDEVENTS:
		native_snapshot_marker(out, trx, end, rows, id);
		ce_wrap(out, &ce, &a);
		return true;
	case ENV_NATIVE:
	default:
		native_snapshot_marker(out, trx, end, rows, id);
		return true;
	}
}
