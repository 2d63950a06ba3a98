/* SPDX-License-Identifier: MIT */
/*
 * MySQL binary JSON to JSON text (see jsonb.h).  A document is a type byte
 * and a value; objects and arrays hold entry tables with offsets relative to
 * the container, checked against the container's own size before any read.
 * Scalars print as MySQL's JSON_EXTRACT would, opaque blobs as base64.
 * Does not write binary JSON and does not sort or deduplicate keys.
 */
#include "source/mysql/jsonb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "source/mysql/value.h"
#include "source/mysql/internal.h"

enum {
	JT_SMALL_OBJECT = 0x00, JT_LARGE_OBJECT = 0x01,
	JT_SMALL_ARRAY = 0x02, JT_LARGE_ARRAY = 0x03,
	JT_LITERAL = 0x04, JT_INT16 = 0x05, JT_UINT16 = 0x06,
	JT_INT32 = 0x07, JT_UINT32 = 0x08, JT_INT64 = 0x09,
	JT_UINT64 = 0x0a, JT_DOUBLE = 0x0b, JT_STRING = 0x0c,
	JT_OPAQUE = 0x0f,
};

enum { JL_NULL = 0, JL_TRUE = 1, JL_FALSE = 2 };

struct jctx {
	struct rc_buf *out;
	char *err;
	size_t errlen;
	size_t start;	/* out->len before the document */
	size_t limit;	/* most bytes of text the document may produce */
};

/*
 * Entries may share a value, so a small hostile document could expand
 * exponentially.  A real one gives at most about 6 bytes of text per byte
 * (control characters escaped as \u00XX), so stop well beyond that.
 */
#define JSONB_TEXT_FACTOR 8
#define JSONB_TEXT_SLACK 4096

static bool jfail(struct jctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool jfail(struct jctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dec_vfail(c->err, c->errlen, "JSON: ", fmt, ap);
	va_end(ap);
	return false;
}

/* Variable-length length: 7 bits a byte, low first, at most 5 bytes. */
static bool rd_varlen(struct jctx *c, const uint8_t *p, size_t n,
		      size_t *len, size_t *hdr)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 5; i++) {
		if (i >= n)
			return jfail(c, "truncated length");
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			if (v > UINT32_MAX)
				return jfail(c, "length too large");
			*len = (size_t)v;
			*hdr = i + 1;
			return true;
		}
	}
	return jfail(c, "length of more than 5 bytes");
}

static const char *type_name(uint8_t t)
{
	switch (t) {
	case JT_INT16: return "int16";
	case JT_UINT16: return "uint16";
	case JT_INT32: return "int32";
	case JT_UINT32: return "uint32";
	case JT_INT64: return "int64";
	case JT_UINT64: return "uint64";
	case JT_DOUBLE: return "double";
	case JT_LITERAL: return "literal";
	default: return "value";
	}
}

/* The packed temporal values MySQL keeps in opaque DATE/TIME/DATETIME. */
static void put_packed(struct jctx *c, uint8_t ftype, int64_t v)
{
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint32_t usec = (uint32_t)(a % (1u << 24));
	uint64_t ip = a >> 24;

	buf_putc(c->out, '"');
	if (ftype == COLT_TIME) {
		value_put_time(c->out, v < 0, (unsigned)(ip >> 12) % 1024,
			       (unsigned)(ip >> 6) % 64, (unsigned)ip % 64,
			       usec % 1000000, 6);
	} else {
		uint64_t ymd = ip >> 17, ym = ymd >> 5, hms = ip % (1 << 17);

		if (ftype == COLT_DATE || ftype == COLT_NEWDATE)
			value_put_date(c->out, (unsigned)(ym / 13),
				       (unsigned)(ym % 13), (unsigned)ymd % 32);
		else
			value_put_datetime(c->out, (unsigned)(ym / 13),
					   (unsigned)(ym % 13),
					   (unsigned)ymd % 32,
					   (unsigned)(hms >> 12),
					   (unsigned)(hms >> 6) % 64,
					   (unsigned)hms % 64, usec % 1000000,
					   6);
	}
	buf_putc(c->out, '"');
}

static bool put_opaque(struct jctx *c, const uint8_t *p, size_t n)
{
	size_t len, hdr, used;
	uint8_t ftype;

	if (n < 1)
		return jfail(c, "truncated opaque value");
	ftype = p[0];
	if (!rd_varlen(c, p + 1, n - 1, &len, &hdr))
		return false;
	if (len > n - 1 - hdr)
		return jfail(c, "opaque value of %zu bytes, %zu left", len,
			     n - 1 - hdr);
	p += 1 + hdr;
	switch (ftype) {
	case COLT_NEWDECIMAL:
		if (len < 2)
			return jfail(c, "truncated decimal");
		if (!value_put_decimal(p + 2, len - 2, p[0], p[1], &used,
				       c->out, c->err, c->errlen))
			return false;
		return true;
	case COLT_DATE:
	case COLT_NEWDATE:
	case COLT_TIME:
	case COLT_DATETIME:
	case COLT_TIMESTAMP:
		if (len != 8)
			return jfail(c, "temporal opaque of %zu bytes, not 8",
				     len);
		put_packed(c, ftype, (int64_t)le_get(p, 8));
		return true;
	default:
		buf_json_base64(c->out, p, len);
		return true;
	}
}

static bool put_value(struct jctx *c, uint8_t t, const uint8_t *p, size_t n,
		      unsigned depth);

static bool put_scalar(struct jctx *c, uint8_t t, const uint8_t *p, size_t n)
{
	static const uint8_t size[] = {
		[JT_LITERAL] = 1, [JT_INT16] = 2, [JT_UINT16] = 2,
		[JT_INT32] = 4, [JT_UINT32] = 4, [JT_INT64] = 8,
		[JT_UINT64] = 8, [JT_DOUBLE] = 8,
	};
	uint64_t v;
	double d;

	if (n < size[t])
		return jfail(c, "%s needs %u bytes, %zu left", type_name(t),
			     size[t], n);
	v = le_get(p, size[t]);
	switch (t) {
	case JT_LITERAL:
		if (v == JL_NULL)
			buf_append(c->out, "null", 4);
		else if (v == JL_TRUE)
			buf_append(c->out, "true", 4);
		else if (v == JL_FALSE)
			buf_append(c->out, "false", 5);
		else
			return jfail(c, "bad literal 0x%02x", (unsigned)v);
		return true;
	case JT_INT16:
		buf_put_i64(c->out, (int16_t)v);
		return true;
	case JT_INT32:
		buf_put_i64(c->out, (int32_t)(uint32_t)v);
		return true;
	case JT_INT64:
		buf_put_i64(c->out, (int64_t)v);
		return true;
	case JT_DOUBLE:
		memcpy(&d, &v, 8);
		buf_put_double(c->out, d);
		return true;
	default:	/* unsigned */
		buf_put_u64(c->out, v);
		return true;
	}
}

/*
 * An object or array of size bytes at p (n readable).  Layout: count,
 * size, then for objects count key entries (offset, 2-byte length), then
 * count value entries (type byte, offset or inlined value), then the data.
 */
static bool put_container(struct jctx *c, bool obj, bool large,
			  const uint8_t *p, size_t n, unsigned depth)
{
	const char *what = obj ? "object" : "array";
	unsigned w = large ? 4 : 2;
	size_t count, size, keys, vals, esize = 1 + (size_t)w;

	if (depth > JSONB_MAX_DEPTH)
		return jfail(c, "nesting deeper than %d", JSONB_MAX_DEPTH);
	if (n < 2 * (size_t)w)
		return jfail(c, "%s header needs %u bytes, %zu left", what,
			     2 * w, n);
	count = (size_t)le_get(p, w);
	size = (size_t)le_get(p + w, w);
	if (size > n)
		return jfail(c, "%s of %zu bytes, %zu left", what, size, n);
	keys = 2 * (size_t)w;
	vals = keys + (obj ? count * (w + 2) : 0);
	if (count > size || vals + count * esize > size)
		return jfail(c, "%s of %zu elements does not fit %zu bytes",
			     what, count, size);
	buf_putc(c->out, obj ? '{' : '[');
	for (size_t i = 0; i < count; i++) {
		const uint8_t *e = p + vals + i * esize;
		uint8_t t = e[0];
		bool inl;

		if (i)
			buf_putc(c->out, ',');
		if (obj) {
			const uint8_t *k = p + keys + i * (w + 2);
			size_t koff = (size_t)le_get(k, w);
			size_t klen = (size_t)le_get(k + w, 2);

			if (koff > size || klen > size - koff)
				return jfail(c, "key %zu at %zu+%zu outside object of %zu bytes",
					     i, koff, klen, size);
			buf_json_str(c->out, (const char *)p + koff, klen,
				     NULL);
			buf_putc(c->out, ':');
		}
		inl = t == JT_LITERAL || t == JT_INT16 || t == JT_UINT16 ||
		      (large && (t == JT_INT32 || t == JT_UINT32));
		if (inl) {
			if (!put_scalar(c, t, e + 1, w))
				return false;
		} else {
			size_t off = (size_t)le_get(e + 1, w);

			if (off >= size)
				return jfail(c, "value %zu at offset %zu outside %s of %zu bytes",
					     i, off, what, size);
			if (!put_value(c, t, p + off, size - off, depth + 1))
				return false;
		}
	}
	buf_putc(c->out, obj ? '}' : ']');
	return true;
}

/* The value of type t at p, n bytes readable within its container. */
static bool put_value(struct jctx *c, uint8_t t, const uint8_t *p, size_t n,
		      unsigned depth)
{
	size_t len, hdr;

	if (c->out->len - c->start > c->limit)
		return jfail(c, "text beyond %zu bytes: shared or looping offsets",
			     c->limit);
	switch (t) {
	case JT_SMALL_OBJECT:
	case JT_LARGE_OBJECT:
		return put_container(c, true, t == JT_LARGE_OBJECT, p, n, depth);
	case JT_SMALL_ARRAY:
	case JT_LARGE_ARRAY:
		return put_container(c, false, t == JT_LARGE_ARRAY, p, n, depth);
	case JT_LITERAL:
	case JT_INT16:
	case JT_UINT16:
	case JT_INT32:
	case JT_UINT32:
	case JT_INT64:
	case JT_UINT64:
	case JT_DOUBLE:
		return put_scalar(c, t, p, n);
	case JT_STRING:
		if (!rd_varlen(c, p, n, &len, &hdr))
			return false;
		if (len > n - hdr)
			return jfail(c, "string of %zu bytes, %zu left", len,
				     n - hdr);
		buf_json_str(c->out, (const char *)p + hdr, len, NULL);
		return true;
	case JT_OPAQUE:
		return put_opaque(c, p, n);
	default:
		return jfail(c, "unknown value type 0x%02x", t);
	}
}

bool jsonb_to_json(const uint8_t *p, size_t n, struct rc_buf *out, char *err,
		   size_t errlen)
{
	struct jctx c = { out, err, errlen, out->len, 0 };
	size_t start = out->len;

	if (n == 0) {
		buf_append(out, "null", 4);
		return true;
	}
	c.limit = n > (SIZE_MAX - JSONB_TEXT_SLACK) / JSONB_TEXT_FACTOR ?
		  SIZE_MAX : n * JSONB_TEXT_FACTOR + JSONB_TEXT_SLACK;
	if (put_value(&c, p[0], p + 1, n - 1, 1))
		return true;
	out->len = start;
	if (out->cap)
		out->data[start] = '\0';
	return false;
}
