/* SPDX-License-Identifier: MIT */
/*
 * MySQL GTID sets (see gtidset.h).
 *
 * A set is an array of SIDs (uuid + tag) sorted by uuid bytes then tag,
 * the order MySQL sorts its Tsid map in, each with an array of half-open
 * intervals [start, end) kept sorted, disjoint and non-adjacent.  A SID
 * exists only while it has an interval.
 */
#include "source/mysql/gtidset.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct gtid_iv {
	uint64_t start;		/* first GTID number */
	uint64_t end;		/* last GTID number + 1 */
};

struct gtid_sid {
	uint8_t uuid[16];
	uint8_t taglen;			/* 0: untagged */
	char tag[GTID_TAG_MAX + 1];	/* lowercase, NUL-terminated */
	struct gtid_iv *iv;		/* intervals */
	size_t n;			/* intervals in use */
	size_t cap;			/* intervals allocated */
};

struct gtid_set {
	struct gtid_sid *v;	/* SIDs, sorted */
	size_t n;		/* SIDs in use */
	size_t cap;		/* SIDs allocated */
};

/* Smallest encoded SID: uuid, n_intervals (and the tag length byte when
 * tagged), with no interval. */
#define SID_MIN_BYTES 24

/* ---- characters ---------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_tag_char(char c, size_t pos)
{
	return is_alpha(c) || c == '_' || (pos > 0 && is_digit(c));
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char *skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" at p (at least 36 readable
 * characters or a NUL before them) into out. */
static bool uuid_parse(const char *p, uint8_t out[16])
{
	size_t k = 0;

	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (p[i] != '-')
				return false;
			continue;
		}
		int hi = hex_val(p[i]), lo;

		if (hi < 0)
			return false;
		i++;
		lo = hex_val(p[i]);
		if (lo < 0)
			return false;
		out[k++] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static void uuid_format(const uint8_t u[16], struct rc_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	char t[36];
	size_t k = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			t[k++] = '-';
		t[k++] = hex[u[i] >> 4];
		t[k++] = hex[u[i] & 15];
	}
	buf_append(out, t, sizeof(t));
}

/* Valid tag of n characters (n == 0 is the empty, untagged tag); copied
 * lowercase into dst (GTID_TAG_MAX + 1 bytes) when dst is not NULL. */
static bool tag_norm(const char *p, size_t n, char *dst)
{
	if (n > GTID_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_tag_char(p[i], i))
			return false;
		if (dst)
			dst[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] - 'A' + 'a') : p[i];
	}
	if (dst)
		dst[n] = '\0';
	return true;
}

/* ---- the set ------------------------------------------------------- */

static void *grow(void *p, size_t *cap, size_t size)
{
	*cap = *cap ? *cap * 2 : 4;
	p = realloc(p, *cap * size);
	if (!p)
		log_oom();
	return p;
}

static int sid_cmp(const struct gtid_sid *a, const uint8_t uuid[16], const char *tag)
{
	int c = memcmp(a->uuid, uuid, 16);

	return c ? c : strcmp(a->tag, tag);
}

/* Index of (uuid, tag), or where it would go; *found says which. */
static size_t sid_find(const struct gtid_set *s, const uint8_t uuid[16], const char *tag,
		       bool *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sid_cmp(&s->v[mid], uuid, tag);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* Add [start, end) to sid, merging what overlaps or touches it. */
static void sid_add(struct gtid_sid *d, uint64_t start, uint64_t end)
{
	size_t lo = 0, hi = d->n, i, j;

	/* first interval that ends at or after start */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->iv[mid].end < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo;
	if (i == d->n || d->iv[i].start > end) {
		if (d->n == d->cap)
			d->iv = grow(d->iv, &d->cap, sizeof(*d->iv));
		memmove(&d->iv[i + 1], &d->iv[i], (d->n - i) * sizeof(*d->iv));
		d->iv[i].start = start;
		d->iv[i].end = end;
		d->n++;
		return;
	}
	for (j = i; j + 1 < d->n && d->iv[j + 1].start <= end; j++)
		;
	if (d->iv[i].start > start)
		d->iv[i].start = start;
	d->iv[i].end = d->iv[j].end > end ? d->iv[j].end : end;
	memmove(&d->iv[i + 1], &d->iv[j + 1], (d->n - j - 1) * sizeof(*d->iv));
	d->n -= j - i;
}

/* Add [start, end) for (uuid, tag); tag is already normalised. */
static void set_add_range(struct gtid_set *s, const uint8_t uuid[16], const char *tag,
			  uint64_t start, uint64_t end)
{
	bool found;
	size_t i = sid_find(s, uuid, tag, &found);

	if (!found) {
		struct gtid_sid *d;

		if (s->n == s->cap)
			s->v = grow(s->v, &s->cap, sizeof(*s->v));
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		d = &s->v[i];
		memset(d, 0, sizeof(*d));
		memcpy(d->uuid, uuid, 16);
		d->taglen = (uint8_t)strlen(tag);
		memcpy(d->tag, tag, d->taglen + 1u);
		s->n++;
	}
	sid_add(&s->v[i], start, end);
}

static void set_release(struct gtid_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].iv);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Give dst the contents of src (freeing what dst had); src ends empty. */
static void set_take(struct gtid_set *dst, struct gtid_set *src)
{
	set_release(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

struct gtid_set *gtid_set_new(void)
{
	struct gtid_set *s = calloc(1, sizeof(*s));

	if (!s)
		log_oom();
	return s;
}

void gtid_set_free(struct gtid_set *s)
{
	if (!s)
		return;
	set_release(s);
	free(s);
}

void gtid_set_clear(struct gtid_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].iv);
	s->n = 0;
}

bool gtid_set_is_empty(const struct gtid_set *s)
{
	return s->n == 0;
}

bool gtid_set_add(struct gtid_set *s, const char *uuid, const char *tag, uint64_t gno)
{
	uint8_t u[16];
	char t[GTID_TAG_MAX + 1];

	if (!uuid || strnlen(uuid, 37) != 36 || !uuid_parse(uuid, u))
		return false;
	if (!tag)
		tag = "";
	if (!tag_norm(tag, strnlen(tag, GTID_TAG_MAX + 1), t))
		return false;
	if (gno < 1 || gno > GTID_GNO_MAX)
		return false;
	set_add_range(s, u, t, gno, gno + 1);
	return true;
}

bool gtid_set_contains(const struct gtid_set *s, const char *uuid, const char *tag,
		       uint64_t gno)
{
	uint8_t u[16];
	char t[GTID_TAG_MAX + 1];
	bool found;
	const struct gtid_sid *d;
	size_t lo, hi, i;

	if (!uuid || strnlen(uuid, 37) != 36 || !uuid_parse(uuid, u))
		return false;
	if (!tag)
		tag = "";
	if (!tag_norm(tag, strnlen(tag, GTID_TAG_MAX + 1), t))
		return false;
	i = sid_find(s, u, t, &found);
	if (!found)
		return false;
	d = &s->v[i];
	lo = 0;
	hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->iv[mid].end <= gno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->n && d->iv[lo].start <= gno;
}

/* ---- text ---------------------------------------------------------- */

/* Decimal at *p (digits only) into *v; *range false when above
 * GTID_GNO_MAX or zero.  False when there is no digit. */
uint64_t gtid_set_first_missing(const struct gtid_set *s, const char *uuid, const char *tag,
				uint64_t first, uint64_t last)
{
	uint8_t u[16];
	char t[GTID_TAG_MAX + 1];
	bool found;
	const struct gtid_sid *d;
	uint64_t g = first;

	if (!uuid || strnlen(uuid, 37) != 36 || !uuid_parse(uuid, u))
		return first;
	if (!tag)
		tag = "";
	if (!tag_norm(tag, strnlen(tag, GTID_TAG_MAX + 1), t))
		return first;
	{
		size_t i = sid_find(s, u, t, &found);

		if (!found)
			return first;
		d = &s->v[i];
	}
	/* intervals are sorted, disjoint and half-open [start, end) */
	for (size_t i = 0; i < d->n && g <= last; i++) {
		if (d->iv[i].end <= g)
			continue;
		if (d->iv[i].start > g)
			return g;
		g = d->iv[i].end;
	}
	return g <= last ? g : 0;
}

bool gtid_set_first_outside(const struct gtid_set *a, const struct gtid_set *b, struct rc_buf *out)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct gtid_sid *d = &a->v[i];
		const struct gtid_sid *e = NULL;
		bool found;
		size_t k = sid_find(b, d->uuid, d->tag, &found);

		if (found)
			e = &b->v[k];
		for (size_t j = 0; j < d->n; j++) {
			uint64_t g = d->iv[j].start;

			/* both interval lists are sorted, disjoint, half-open */
			for (size_t m = 0; e && m < e->n && g < d->iv[j].end; m++) {
				if (e->iv[m].end <= g)
					continue;
				if (e->iv[m].start > g)
					break;
				g = e->iv[m].end;
			}
			if (g < d->iv[j].end) {
				uuid_format(d->uuid, out);
				if (d->taglen) {
					buf_putc(out, ':');
					buf_append(out, d->tag, d->taglen);
				}
				buf_putc(out, ':');
				buf_put_u64(out, g);
				return true;
			}
		}
	}
	return false;
}

static bool gno_parse(const char **p, uint64_t *v, bool *range)
{
	const char *q = *p;
	uint64_t x = 0;
	bool big = false;

	if (!is_digit(*q))
		return false;
	for (; is_digit(*q); q++) {
		if (!big && x > (GTID_GNO_MAX - (uint64_t)(*q - '0')) / 10)
			big = true;
		if (!big)
			x = x * 10 + (uint64_t)(*q - '0');
	}
	*p = q;
	*v = x;
	*range = !big && x >= 1;
	return true;
}

/* Length of the item at p for messages: up to ':' or ',' or the end,
 * trailing white space dropped, at most 64. */
static int item_len(const char *p)
{
	size_t n = 0;

	while (p[n] && p[n] != ':' && p[n] != ',')
		n++;
	while (n > 0 && is_space(p[n - 1]))
		n--;
	return (int)(n > 64 ? 64 : n);
}

static bool item_end(char c)
{
	return c == ':' || c == ',' || c == '\0';
}

static bool parse_into(struct gtid_set *s, const char *text, char *err, size_t errlen)
{
	const char *p = text;

	for (;;) {
		uint8_t u[16];
		char tag[GTID_TAG_MAX + 1] = "";

		p = skip_space(p);
		while (*p == ',')
			p = skip_space(p + 1);
		if (!*p)
			return true;
		if (strnlen(p, 36) < 36 || !uuid_parse(p, u) || !item_end(*skip_space(p + 36))) {
			snprintf(err, errlen, "'%.*s' is not a UUID", item_len(p), p);
			return false;
		}
		p = skip_space(p + 36);
		while (*p == ':') {
			const char *item;

			p = skip_space(p + 1);
			item = p;
			if (is_digit(*p)) {
				uint64_t a, b;
				bool ra, rb = true;

				gno_parse(&p, &a, &ra);
				b = a;
				p = skip_space(p);
				if (*p == '-') {
					p = skip_space(p + 1);
					if (!gno_parse(&p, &b, &rb)) {
						snprintf(err, errlen,
							 "'%.*s' is not a GTID interval (N or N-M)",
							 item_len(item), item);
						return false;
					}
					p = skip_space(p);
				}
				if (!item_end(*p)) {
					snprintf(err, errlen,
						 "'%.*s' is not a GTID interval (N or N-M)",
						 item_len(item), item);
					return false;
				}
				if (!ra || !rb) {
					snprintf(err, errlen,
						 "'%.*s': GTID numbers run from 1 to %" PRIu64,
						 item_len(item), item, GTID_GNO_MAX);
					return false;
				}
				if (b < a) {
					snprintf(err, errlen, "'%.*s': interval ends before it starts",
						 item_len(item), item);
					return false;
				}
				set_add_range(s, u, tag, a, b + 1);
			} else if (is_tag_char(*p, 0)) {
				size_t n = 0;

				while (is_tag_char(p[n], n))
					n++;
				if (n > GTID_TAG_MAX || !item_end(*skip_space(p + n))) {
					snprintf(err, errlen,
						 "'%.*s' is not a tag (up to %d letters, digits "
						 "and '_', not starting with a digit)",
						 item_len(item), item, GTID_TAG_MAX);
					return false;
				}
				tag_norm(p, n, tag);
				p = skip_space(p + n);
			} else {
				snprintf(err, errlen, "'%.*s' is not a GTID interval or tag",
					 item_len(item), item);
				return false;
			}
		}
		/* after the last item of a UUID: ',' or the end (item_end) */
	}
}

bool gtid_set_parse(struct gtid_set *s, const char *text, char *err, size_t errlen)
{
	struct gtid_set t = { 0 };

	if (!parse_into(&t, text, err, errlen)) {
		set_release(&t);
		return false;
	}
	set_take(s, &t);
	return true;
}

bool gtid_set_add_text(struct gtid_set *s, const char *gtid)
{
	uint8_t u[16];
	char tag[GTID_TAG_MAX + 1] = "";
	const char *p = gtid;
	uint64_t gno;
	bool ok;

	if (!p || strnlen(p, 37) < 37 || !uuid_parse(p, u) || p[36] != ':')
		return false;
	p += 37;
	if (!is_digit(*p)) {
		size_t n = 0;

		while (is_tag_char(p[n], n))
			n++;
		if (n == 0 || p[n] != ':' || !tag_norm(p, n, tag))
			return false;
		p += n + 1;
	}
	if (!gno_parse(&p, &gno, &ok) || !ok || *p)
		return false;
	set_add_range(s, u, tag, gno, gno + 1);
	return true;
}

void gtid_set_format(const struct gtid_set *s, struct rc_buf *out)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct gtid_sid *d = &s->v[i];

		if (i == 0 || memcmp(d->uuid, s->v[i - 1].uuid, 16) != 0) {
			if (i)
				buf_putc(out, ',');
			uuid_format(d->uuid, out);
		}
		if (d->taglen) {
			buf_putc(out, ':');
			buf_append(out, d->tag, d->taglen);
		}
		for (size_t k = 0; k < d->n; k++) {
			buf_putc(out, ':');
			buf_put_u64(out, d->iv[k].start);
			if (d->iv[k].end - 1 > d->iv[k].start) {
				buf_putc(out, '-');
				buf_put_u64(out, d->iv[k].end - 1);
			}
		}
	}
}

/* ---- binary -------------------------------------------------------- */

static bool set_tagged(const struct gtid_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].taglen)
			return true;
	return false;
}

static void put_le(struct rc_buf *out, uint64_t v, unsigned n)
{
	uint8_t b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	buf_append(out, b, n);
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t gtid_set_encoded_size(const struct gtid_set *s)
{
	bool tagged = set_tagged(s);
	size_t n = 8;

	for (size_t i = 0; i < s->n; i++) {
		n += 16 + 8 + 16 * s->v[i].n;
		if (tagged)
			n += 1 + s->v[i].taglen;
	}
	return n;
}

void gtid_set_encode(const struct gtid_set *s, struct rc_buf *out)
{
	bool tagged = set_tagged(s);

	buf_reserve(out, gtid_set_encoded_size(s));
	if (tagged)
		put_le(out, (uint64_t)1 << 56 | (uint64_t)s->n << 8 | 1, 8);
	else
		put_le(out, s->n, 8);
	for (size_t i = 0; i < s->n; i++) {
		const struct gtid_sid *d = &s->v[i];

		buf_append(out, d->uuid, 16);
		if (tagged) {
			/* a string: its length as a variable-length integer
			 * (one byte, length << 1, for up to 63), then the text */
			put_le(out, (uint64_t)d->taglen << 1, 1);
			buf_append(out, d->tag, d->taglen);
		}
		put_le(out, d->n, 8);
		for (size_t k = 0; k < d->n; k++) {
			put_le(out, d->iv[k].start, 8);
			put_le(out, d->iv[k].end, 8);
		}
	}
}

/*
 * MySQL's variable-length unsigned integer: the count of trailing one bits
 * of the first byte, plus one, is the length in bytes (1..9); the value
 * follows those bits, little-endian.  0 when it does not fit in n.
 */
static size_t varlen_get(const uint8_t *p, size_t n, uint64_t *v)
{
	size_t len = 1;
	unsigned sh;
	uint64_t rest;

	if (n == 0)
		return 0;
	while (len < 9 && (p[0] >> (len - 1) & 1))
		len++;
	if (len > n)
		return 0;
	if (len == 1) {
		*v = p[0] >> 1;
		return 1;
	}
	rest = get_le(p + 1, (unsigned)(len - 1));
	sh = len == 9 ? 0 : (unsigned)(8 - len);
	*v = (len < 8 ? (uint64_t)(p[0] >> len) : 0) | rest << sh;
	return len;
}

static bool truncated(size_t at, size_t n, char *err, size_t errlen)
{
	snprintf(err, errlen, "GTID set encoding truncated at byte %zu of %zu", at, n);
	return false;
}

static bool decode_into(struct gtid_set *s, const uint8_t *p, size_t n, char *err,
			size_t errlen)
{
	size_t pos = 8, min;
	uint64_t word, nsids;
	unsigned format;

	if (n < 8)
		return truncated(0, n, err, errlen);
	word = get_le(p, 8);
	format = (unsigned)(word >> 56);
	if (format == 0) {
		nsids = word;
	} else if (format == 1) {
		nsids = word >> 8 & 0xffffffffffffULL;
	} else {
		snprintf(err, errlen, "unknown GTID set encoding format %u", format);
		return false;
	}
	min = SID_MIN_BYTES + (format == 1);
	if (nsids > (n - pos) / min) {
		snprintf(err, errlen, "GTID set encoding claims %" PRIu64 " SIDs in %zu bytes",
			 nsids, n);
		return false;
	}
	for (uint64_t i = 0; i < nsids; i++) {
		const uint8_t *uuid;
		char tag[GTID_TAG_MAX + 1] = "";
		uint64_t niv, last = 0;

		if (n - pos < 16)
			return truncated(pos, n, err, errlen);
		uuid = p + pos;
		pos += 16;
		if (format == 1) {
			uint64_t len;
			size_t k = varlen_get(p + pos, n - pos, &len);

			if (k == 0)
				return truncated(pos, n, err, errlen);
			pos += k;
			if (len > GTID_TAG_MAX) {
				snprintf(err, errlen, "GTID set encoding has a %" PRIu64
					 "-byte tag (at most %d)", len, GTID_TAG_MAX);
				return false;
			}
			if (n - pos < len)
				return truncated(pos, n, err, errlen);
			if (!tag_norm((const char *)p + pos, (size_t)len, tag)) {
				snprintf(err, errlen, "GTID set encoding has an invalid tag");
				return false;
			}
			pos += (size_t)len;
		}
		if (n - pos < 8)
			return truncated(pos, n, err, errlen);
		niv = get_le(p + pos, 8);
		pos += 8;
		if (niv > (n - pos) / 16) {
			snprintf(err, errlen, "GTID set encoding claims %" PRIu64
				 " intervals in %zu bytes", niv, n - pos);
			return false;
		}
		for (uint64_t k = 0; k < niv; k++) {
			uint64_t a = get_le(p + pos, 8), b = get_le(p + pos + 8, 8);

			/* as Gtid_set::add_gtid_encoding: increasing, non-empty,
			 * not touching the previous one; signed there, so above
			 * INT64_MAX is negative and refused */
			if (a <= last || b <= a || b > (uint64_t)INT64_MAX) {
				snprintf(err, errlen, "GTID set encoding has a bad interval [%"
					 PRIu64 ", %" PRIu64 ")", a, b);
				return false;
			}
			last = b;
			pos += 16;
			set_add_range(s, uuid, tag, a, b);
		}
	}
	if (pos != n) {
		snprintf(err, errlen, "GTID set encoding has %zu bytes after its end", n - pos);
		return false;
	}
	return true;
}

bool gtid_set_decode(struct gtid_set *s, const uint8_t *p, size_t n, char *err,
		     size_t errlen)
{
	struct gtid_set t = { 0 };

	if (!decode_into(&t, p, n, err, errlen)) {
		set_release(&t);
		return false;
	}
	set_take(s, &t);
	return true;
}

void gtid_dump_request(const struct gtid_set *s, uint32_t server_id, const char *file,
		       uint64_t pos, uint16_t flags, struct rc_buf *out)
{
	size_t name = file ? strlen(file) : 0;
	size_t data = gtid_set_encoded_size(s);

	buf_reserve(out, 2 + 4 + 4 + name + 8 + 4 + data);
	put_le(out, flags, 2);
	put_le(out, server_id, 4);
	put_le(out, name, 4);
	buf_append(out, file ? file : "", name);
	put_le(out, pos, 8);
	/* 4 bytes: a set needing more (~268M intervals) cannot be sent */
	put_le(out, data, 4);
	gtid_set_encode(s, out);
}
