/* SPDX-License-Identifier: MIT */
/*
 * Partial JSON update diffs applied to a binary JSON document (see
 * jsondiff.h).  The before image becomes a small tree: objects and arrays
 * hold their members in order, every scalar is kept as the JSON text
 * jsonb_to_json() gives for it (so numbers, decimals, temporals and opaque
 * values print exactly as in a full image).  Diff values become trees the
 * same way, the diffs edit the tree, and the tree is written out at the
 * end, so nothing reaches the output unless every diff applied.
 *
 * Hostile inputs: binary JSON entries may share values, so the tree is
 * capped at one node per input byte and the scalar text at a fixed factor
 * of the input; nesting stays within JSONB_MAX_DEPTH, also after inserts.
 */
#include "source/mysql/jsondiff.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/mysql/jsonb.h"
#include "source/mysql/internal.h"

enum {
	JT_SMALL_OBJECT = 0x00, JT_LARGE_OBJECT = 0x01,
	JT_SMALL_ARRAY = 0x02, JT_LARGE_ARRAY = 0x03,
	JT_LITERAL = 0x04, JT_INT16 = 0x05, JT_UINT16 = 0x06,
	JT_INT32 = 0x07, JT_UINT32 = 0x08, JT_INT64 = 0x09,
	JT_UINT64 = 0x0a, JT_DOUBLE = 0x0b, JT_STRING = 0x0c,
	JT_OPAQUE = 0x0f,
};

enum { OP_REPLACE = 0, OP_INSERT = 1, OP_REMOVE = 2 };

enum { N_SCALAR, N_OBJECT, N_ARRAY };

/* Scalar text per input byte allowed (as jsonb.c) plus slack. */
#define JD_TEXT_FACTOR 8
#define JD_TEXT_SLACK 4096

struct jd_node;

struct jd_member {
	size_t koff, klen;	/* object key in the context's text arena */
	struct jd_node *val;
};

struct jd_node {
	int kind;		/* N_* */
	size_t toff, tlen;	/* N_SCALAR: JSON text in the arena */
	struct jd_member *m;	/* N_OBJECT, N_ARRAY: members in order */
	size_t n, cap;
};

/* One step of a path: a member name or an array index. */
struct jd_leg {
	bool member;
	bool from_end;		/* [last-idx] */
	size_t koff, klen;	/* member name in the context's key buffer */
	uint64_t idx;
};

struct jd_ctx {
	struct rc_buf text;	/* scalar texts and object keys */
	struct rc_buf scratch;	/* single-scalar documents to render */
	struct rc_buf keys;	/* member names of the current path */
	size_t nodes, max_nodes, max_text;
	char *err;
	size_t errlen;
};

static bool dfail(struct jd_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool dfail(struct jd_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dec_vfail(c->err, c->errlen, "JSON diff: ", fmt, ap);
	va_end(ap);
	return false;
}

/* ---- tree ---- */

static void node_free(struct jd_node *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++)
		node_free(x->m[i].val);
	free(x->m);
	free(x);
}

static struct jd_node *node_new(struct jd_ctx *c, int kind)
{
	struct jd_node *x;

	if (c->nodes >= c->max_nodes) {
		dfail(c, "more than %zu nodes: shared or looping offsets",
		      c->max_nodes);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		dfail(c, "out of memory");
		return NULL;
	}
	c->nodes++;
	x->kind = kind;
	return x;
}

/* Make room for one more member; false (with err) when out of memory. */
static bool node_grow(struct jd_ctx *c, struct jd_node *x)
{
	struct jd_member *m;
	size_t cap;

	if (x->n < x->cap)
		return true;
	cap = x->cap ? x->cap * 2 : 4;
	m = realloc(x->m, cap * sizeof(*m));
	if (m == NULL)
		return dfail(c, "out of memory");
	x->m = m;
	x->cap = cap;
	return true;
}

/* Nesting of containers in x: 0 for a scalar, 1 for a flat container. */
static unsigned node_depth(const struct jd_node *x)
{
	unsigned d = 0;

	if (x->kind == N_SCALAR)
		return 0;
	for (size_t i = 0; i < x->n; i++) {
		unsigned k = node_depth(x->m[i].val);

		if (k > d)
			d = k;
	}
	return d + 1;
}

/* ---- binary JSON to tree ---- */

/*
 * Bytes of the scalar of type t at p (n readable), as far as can be told;
 * n when its length cannot be read, so that jsonb_to_json() reports it.
 */
static size_t scalar_extent(uint8_t t, const uint8_t *p, size_t n)
{
	size_t need, pre = 0;
	uint64_t len = 0;

	switch (t) {
	case JT_LITERAL:
		need = 1;
		break;
	case JT_INT16:
	case JT_UINT16:
		need = 2;
		break;
	case JT_INT32:
	case JT_UINT32:
		need = 4;
		break;
	case JT_INT64:
	case JT_UINT64:
	case JT_DOUBLE:
		need = 8;
		break;
	case JT_OPAQUE:
		pre = 1;	/* field type byte */
		/* fall through */
	case JT_STRING:
		for (size_t i = 0; i < 5; i++) {
			if (pre + i >= n)
				return n;
			len |= (uint64_t)(p[pre + i] & 0x7f) << (7 * i);
			if (!(p[pre + i] & 0x80)) {
				if (len > n - pre - i - 1)
					return n;
				return pre + i + 1 + (size_t)len;
			}
		}
		return n;
	default:
		return 0;	/* unknown type: let jsonb_to_json() say so */
	}
	return need < n ? need : n;
}

/* Render the scalar of type t whose bytes start at p into a new node. */
static struct jd_node *build_scalar(struct jd_ctx *c, uint8_t t,
				    const uint8_t *p, size_t n)
{
	struct jd_node *x;
	size_t at = c->text.len;

	buf_reset(&c->scratch);
	buf_putc(&c->scratch, (char)t);
	buf_append(&c->scratch, p, scalar_extent(t, p, n));
	if (!jsonb_to_json((const uint8_t *)c->scratch.data, c->scratch.len,
			   &c->text, c->err, c->errlen))
		return NULL;
	if (c->text.len > c->max_text) {
		dfail(c, "text beyond %zu bytes: shared or looping offsets",
		      c->max_text);
		return NULL;
	}
	x = node_new(c, N_SCALAR);
	if (x == NULL)
		return NULL;
	x->toff = at;
	x->tlen = c->text.len - at;
	return x;
}

static struct jd_node *build(struct jd_ctx *c, uint8_t t, const uint8_t *p,
			     size_t n, unsigned depth);

/* The object or array of up to n bytes at p (layout as in jsonb.c). */
static struct jd_node *build_container(struct jd_ctx *c, bool obj, bool large,
				       const uint8_t *p, size_t n,
				       unsigned depth)
{
	const char *what = obj ? "object" : "array";
	unsigned w = large ? 4 : 2;
	size_t count, size, keys, vals, esize = 1 + (size_t)w;
	struct jd_node *x;

	if (depth > JSONB_MAX_DEPTH) {
		dfail(c, "nesting deeper than %d", JSONB_MAX_DEPTH);
		return NULL;
	}
	if (n < 2 * (size_t)w) {
		dfail(c, "%s header needs %u bytes, %zu left", what, 2 * w, n);
		return NULL;
	}
	count = (size_t)le_get(p, w);
	size = (size_t)le_get(p + w, w);
	if (size > n) {
		dfail(c, "%s of %zu bytes, %zu left", what, size, n);
		return NULL;
	}
	keys = 2 * (size_t)w;
	vals = keys + (obj ? count * (w + 2) : 0);
	if (count > size || vals + count * esize > size) {
		dfail(c, "%s of %zu elements does not fit %zu bytes", what,
		      count, size);
		return NULL;
	}
	x = node_new(c, obj ? N_OBJECT : N_ARRAY);
	if (x == NULL)
		return NULL;
	if (count) {
		x->m = calloc(count, sizeof(*x->m));
		if (x->m == NULL) {
			dfail(c, "out of memory");
			goto fail;
		}
		x->cap = count;
	}
	for (size_t i = 0; i < count; i++) {
		const uint8_t *e = p + vals + i * esize;
		struct jd_member *m = &x->m[i];
		uint8_t t = e[0];
		bool inl;

		if (obj) {
			const uint8_t *k = p + keys + i * (w + 2);
			size_t koff = (size_t)le_get(k, w);
			size_t klen = (size_t)le_get(k + w, 2);

			if (koff > size || klen > size - koff) {
				dfail(c, "key %zu at %zu+%zu outside object of %zu bytes",
				      i, koff, klen, size);
				goto fail;
			}
			m->koff = c->text.len;
			m->klen = klen;
			buf_append(&c->text, p + koff, klen);
		}
		inl = t == JT_LITERAL || t == JT_INT16 || t == JT_UINT16 ||
		      (large && (t == JT_INT32 || t == JT_UINT32));
		if (inl) {
			m->val = build_scalar(c, t, e + 1, w);
		} else {
			size_t off = (size_t)le_get(e + 1, w);

			if (off >= size) {
				dfail(c, "value %zu at offset %zu outside %s of %zu bytes",
				      i, off, what, size);
				goto fail;
			}
			m->val = build(c, t, p + off, size - off, depth + 1);
		}
		if (m->val == NULL)
			goto fail;
		x->n = i + 1;
	}
	return x;
fail:
	node_free(x);
	return NULL;
}

/* The value of type t at p, n bytes readable; depth as in jsonb.c. */
static struct jd_node *build(struct jd_ctx *c, uint8_t t, const uint8_t *p,
			     size_t n, unsigned depth)
{
	switch (t) {
	case JT_SMALL_OBJECT:
	case JT_LARGE_OBJECT:
		return build_container(c, true, t == JT_LARGE_OBJECT, p, n,
				       depth);
	case JT_SMALL_ARRAY:
	case JT_LARGE_ARRAY:
		return build_container(c, false, t == JT_LARGE_ARRAY, p, n,
				       depth);
	default:
		return build_scalar(c, t, p, n);
	}
}

/* A whole binary JSON document; the empty one is null. */
static struct jd_node *build_doc(struct jd_ctx *c, const uint8_t *p, size_t n)
{
	static const uint8_t null_lit = 0;

	if (n == 0)
		return build_scalar(c, JT_LITERAL, &null_lit, 1);
	return build(c, p[0], p + 1, n - 1, 1);
}

/* ---- paths ---- */

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	       ch == '\v' || ch == '\f';
}

static void skip_space(const char *s, size_t n, size_t *i)
{
	while (*i < n && is_space(s[*i]))
		(*i)++;
}

static void put_utf8(struct rc_buf *b, uint32_t cp)
{
	char u[4];
	size_t k;

	if (cp < 0x80) {
		u[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	buf_append(b, u, k);
}

/* Four hex digits at s[*i]; advances *i. */
static bool hex4(const char *s, size_t n, size_t *i, uint32_t *v)
{
	*v = 0;
	if (n - *i < 4)
		return false;
	for (int k = 0; k < 4; k++) {
		char ch = s[(*i)++];
		uint32_t d;

		if (ch >= '0' && ch <= '9')
			d = (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (uint32_t)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (uint32_t)(ch - 'A' + 10);
		else
			return false;
		*v = *v << 4 | d;
	}
	return true;
}

/* The JSON string literal at s[*i] (at its opening quote) into c->keys. */
static bool parse_quoted(struct jd_ctx *c, const char *s, size_t n, size_t *i)
{
	(*i)++;
	while (*i < n) {
		unsigned char ch = (unsigned char)s[(*i)++];
		uint32_t cp, lo;

		if (ch == '"')
			return true;
		if (ch < 0x20)
			return dfail(c, "control character in quoted path member");
		if (ch != '\\') {
			buf_putc(&c->keys, (char)ch);
			continue;
		}
		if (*i >= n)
			break;
		switch (s[(*i)++]) {
		case '"': buf_putc(&c->keys, '"'); break;
		case '\\': buf_putc(&c->keys, '\\'); break;
		case '/': buf_putc(&c->keys, '/'); break;
		case 'b': buf_putc(&c->keys, '\b'); break;
		case 'f': buf_putc(&c->keys, '\f'); break;
		case 'n': buf_putc(&c->keys, '\n'); break;
		case 'r': buf_putc(&c->keys, '\r'); break;
		case 't': buf_putc(&c->keys, '\t'); break;
		case 'u':
			if (!hex4(s, n, i, &cp))
				return dfail(c, "bad \\u escape in path");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return dfail(c, "lone low surrogate in path");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (n - *i < 2 || s[*i] != '\\' ||
				    s[*i + 1] != 'u')
					return dfail(c, "lone high surrogate in path");
				*i += 2;
				if (!hex4(s, n, i, &lo) || lo < 0xdc00 ||
				    lo > 0xdfff)
					return dfail(c, "bad surrogate pair in path");
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			put_utf8(&c->keys, cp);
			break;
		default:
			return dfail(c, "bad escape in path");
		}
	}
	return dfail(c, "unterminated quoted path member");
}

/* Decimal digits at s[*i] (at least one, at most UINT32_MAX). */
static bool parse_index(struct jd_ctx *c, const char *s, size_t n, size_t *i,
			uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		*v = *v * 10 + (uint64_t)(s[*i] - '0');
		if (*v > UINT32_MAX)
			return dfail(c, "array index too large in path");
		(*i)++;
	}
	if (*i == start)
		return dfail(c, "array index expected in path");
	return true;
}

/*
 * Parse the path s[0..n) into legs (room for n / 2 + 1), names into
 * c->keys.  Only "$", member and array-cell legs: no wildcards or ranges.
 */
static bool parse_path(struct jd_ctx *c, const char *s, size_t n,
		       struct jd_leg *legs, size_t *nlegs)
{
	size_t i = 0;

	buf_reset(&c->keys);
	*nlegs = 0;
	skip_space(s, n, &i);
	if (i >= n || s[i] != '$')
		return dfail(c, "path does not start with $");
	i++;
	for (;;) {
		struct jd_leg *l = &legs[*nlegs];

		skip_space(s, n, &i);
		if (i >= n)
			return true;
		memset(l, 0, sizeof(*l));
		if (s[i] == '.') {
			i++;
			skip_space(s, n, &i);
			l->member = true;
			l->koff = c->keys.len;
			if (i < n && s[i] == '"') {
				if (!parse_quoted(c, s, n, &i))
					return false;
			} else {
				size_t start = i;

				while (i < n && !is_space(s[i]) &&
				       s[i] != '.' && s[i] != '[' &&
				       s[i] != ']' && s[i] != '*' &&
				       s[i] != '"')
					i++;
				if (i < n && s[i] == '*')
					return dfail(c, "wildcard in path");
				if (i == start)
					return dfail(c, "member name expected in path");
				buf_append(&c->keys, s + start, i - start);
			}
			l->klen = c->keys.len - l->koff;
		} else if (s[i] == '[') {
			i++;
			skip_space(s, n, &i);
			if (i < n && s[i] == '*')
				return dfail(c, "wildcard in path");
			if (n - i >= 4 && memcmp(s + i, "last", 4) == 0) {
				i += 4;
				l->from_end = true;
				skip_space(s, n, &i);
				if (i < n && s[i] == '-') {
					i++;
					skip_space(s, n, &i);
					if (!parse_index(c, s, n, &i, &l->idx))
						return false;
				}
			} else if (!parse_index(c, s, n, &i, &l->idx)) {
				return false;
			}
			skip_space(s, n, &i);
			if (i >= n || s[i] != ']')
				return dfail(c, "] expected in path (no ranges)");
			i++;
		} else if (s[i] == '*') {
			return dfail(c, "wildcard in path");
		} else {
			return dfail(c, "unexpected '%c' in path", s[i]);
		}
		(*nlegs)++;
	}
}

/*
 * The position an array leg selects in an array of size elements, as
 * MySQL's Json_array_index: [N] is min(N, size), [last-N] is size-1-N or
 * 0 when that is before the start.  true when the position is an element.
 */
static bool leg_pos(const struct jd_leg *l, size_t size, size_t *pos)
{
	bool within = l->idx < size;

	if (l->from_end)
		*pos = within ? size - 1 - (size_t)l->idx : 0;
	else
		*pos = within ? (size_t)l->idx : size;
	return within;
}

static bool key_eq(const struct jd_ctx *c, const struct jd_member *m,
		   const char *k, size_t klen)
{
	return m->klen == klen &&
	       memcmp(c->text.data + m->koff, k, klen) == 0;
}

/* MySQL's key order: shorter first, then bytewise. */
static int key_cmp(const struct jd_ctx *c, const struct jd_member *m,
		   const char *k, size_t klen)
{
	int r;

	if (m->klen != klen)
		return m->klen < klen ? -1 : 1;
	r = memcmp(c->text.data + m->koff, k, klen);
	return r;
}

/*
 * Where leg l leads from container x: the index of the member or element,
 * or false when there is none (wrong kind of leg, missing, out of range).
 */
static bool step(const struct jd_ctx *c, const struct jd_node *x,
		 const struct jd_leg *l, size_t *at)
{
	if (x->kind == N_OBJECT && l->member) {
		const char *k = c->keys.data + l->koff;

		for (size_t i = 0; i < x->n; i++) {
			if (key_eq(c, &x->m[i], k, l->klen)) {
				*at = i;
				return true;
			}
		}
		return false;
	}
	if (x->kind == N_ARRAY && !l->member)
		return leg_pos(l, x->n, at);
	return false;
}

/* The slot holding the value at legs[0..k) from *root, or NULL. */
static struct jd_node **seek(const struct jd_ctx *c, struct jd_node **root,
			     const struct jd_leg *legs, size_t k)
{
	struct jd_node **slot = root;

	for (size_t i = 0; i < k; i++) {
		size_t at;

		if (!step(c, *slot, &legs[i], &at))
			return NULL;
		slot = &(*slot)->m[at].val;
	}
	return slot;
}

/* Describe a path for messages: its text, cut short. */
#define PATH_FMT "%.*s"
#define PATH_ARG(s, n) (int)((n) > 64 ? 64 : (n)), (s)

/* ---- diffs ---- */

/* MySQL length-encoded integer at p[*i] (n bytes). */
static bool net_len(struct jd_ctx *c, const uint8_t *p, size_t n, size_t *i,
		    uint64_t *v, const char *what)
{
	unsigned w;

	if (*i >= n)
		return dfail(c, "truncated %s length", what);
	switch (p[*i]) {
	case 0xfb:
		return dfail(c, "NULL %s length", what);
	case 0xfc: w = 2; break;
	case 0xfd: w = 3; break;
	case 0xfe: w = 8; break;
	case 0xff:
		return dfail(c, "bad %s length byte 0xff", what);
	default:
		*v = p[(*i)++];
		return true;
	}
	if (n - *i - 1 < w)
		return dfail(c, "truncated %s length", what);
	*v = le_get(p + *i + 1, w);
	*i += 1 + w;
	return true;
}

/* Apply one diff with value val (NULL for remove); takes val. */
static bool apply_one(struct jd_ctx *c, struct jd_node **root, int op,
		      const struct jd_leg *legs, size_t nlegs,
		      struct jd_node *val, const char *ptext, size_t plen)
{
	struct jd_node **slot, *parent;
	const struct jd_leg *last;
	size_t at;

	if (val != NULL && nlegs + node_depth(val) > JSONB_MAX_DEPTH) {
		node_free(val);
		return dfail(c, "value at " PATH_FMT " nests deeper than %d",
			     PATH_ARG(ptext, plen), JSONB_MAX_DEPTH);
	}
	if (op == OP_REPLACE) {
		slot = seek(c, root, legs, nlegs);
		if (slot == NULL)
			goto notfound;
		node_free(*slot);
		*slot = val;
		return true;
	}
	if (nlegs == 0) {
		node_free(val);
		return dfail(c, "cannot %s the whole document",
			     op == OP_INSERT ? "insert" : "remove");
	}
	slot = seek(c, root, legs, nlegs - 1);
	if (slot == NULL)
		goto notfound;
	parent = *slot;
	last = &legs[nlegs - 1];
	if (op == OP_REMOVE) {
		if (!step(c, parent, last, &at))
			goto notfound;
		node_free(parent->m[at].val);
		memmove(&parent->m[at], &parent->m[at + 1],
			(parent->n - at - 1) * sizeof(parent->m[0]));
		parent->n--;
		return true;
	}
	/* insert */
	if (parent->kind == N_OBJECT && last->member) {
		const char *k = c->keys.data + last->koff;

		at = parent->n;
		for (size_t i = 0; i < parent->n; i++) {
			int r = key_cmp(c, &parent->m[i], k, last->klen);

			if (r == 0) {
				node_free(val);
				return dfail(c, "insert at " PATH_FMT ": member exists",
					     PATH_ARG(ptext, plen));
			}
			if (r > 0 && at == parent->n)
				at = i;
		}
	} else if (parent->kind == N_ARRAY && !last->member) {
		leg_pos(last, parent->n, &at);
	} else {
		goto notfound;
	}
	if (!node_grow(c, parent)) {
		node_free(val);
		return false;
	}
	memmove(&parent->m[at + 1], &parent->m[at],
		(parent->n - at) * sizeof(parent->m[0]));
	parent->m[at].val = val;
	parent->m[at].koff = parent->m[at].klen = 0;
	if (parent->kind == N_OBJECT) {
		/* the key bytes live in c->keys until the next path */
		parent->m[at].koff = c->text.len;
		parent->m[at].klen = last->klen;
		buf_append(&c->text, c->keys.data + last->koff, last->klen);
	}
	parent->n++;
	return true;
notfound:
	node_free(val);
	return dfail(c, "%s at " PATH_FMT ": path not found",
		     op == OP_REPLACE ? "replace" :
		     op == OP_INSERT ? "insert" : "remove",
		     PATH_ARG(ptext, plen));
}

/* ---- output ---- */

static void put_node(const struct jd_ctx *c, const struct jd_node *x,
		     struct rc_buf *out)
{
	if (x->kind == N_SCALAR) {
		buf_append(out, c->text.data + x->toff, x->tlen);
		return;
	}
	buf_putc(out, x->kind == N_OBJECT ? '{' : '[');
	for (size_t i = 0; i < x->n; i++) {
		if (i)
			buf_putc(out, ',');
		if (x->kind == N_OBJECT) {
			buf_json_str(out, c->text.data + x->m[i].koff,
				     x->m[i].klen, NULL);
			buf_putc(out, ':');
		}
		put_node(c, x->m[i].val, out);
	}
	buf_putc(out, x->kind == N_OBJECT ? '}' : ']');
}

static bool apply_all(struct jd_ctx *c, struct jd_node **root,
		      const uint8_t *d, size_t dn)
{
	size_t i = 0;
	struct jd_leg *legs = NULL;
	size_t legcap = 0;
	bool ok = false;

	while (i < dn) {
		int op = d[i++];
		uint64_t plen, vlen;
		const char *ptext;
		size_t nlegs;
		struct jd_node *val = NULL;

		if (op != OP_REPLACE && op != OP_INSERT && op != OP_REMOVE) {
			dfail(c, "bad operation %d at byte %zu", op, i - 1);
			goto out;
		}
		if (!net_len(c, d, dn, &i, &plen, "path"))
			goto out;
		if (plen > dn - i) {
			dfail(c, "path of %llu bytes, %zu left",
			      (unsigned long long)plen, dn - i);
			goto out;
		}
		ptext = (const char *)d + i;
		if (plen / 2 + 1 > legcap) {
			struct jd_leg *nl;

			legcap = (size_t)plen / 2 + 1;
			nl = realloc(legs, legcap * sizeof(*legs));
			if (nl == NULL) {
				dfail(c, "out of memory");
				goto out;
			}
			legs = nl;
		}
		if (!parse_path(c, ptext, (size_t)plen, legs, &nlegs))
			goto out;
		i += (size_t)plen;
		if (op != OP_REMOVE) {
			if (!net_len(c, d, dn, &i, &vlen, "value"))
				goto out;
			if (vlen > dn - i) {
				dfail(c, "value of %llu bytes, %zu left",
				      (unsigned long long)vlen, dn - i);
				goto out;
			}
			if (vlen == 0) {
				dfail(c, "empty value at " PATH_FMT,
				      PATH_ARG(ptext, (size_t)plen));
				goto out;
			}
			val = build_doc(c, d + i, (size_t)vlen);
			if (val == NULL)
				goto out;
			i += (size_t)vlen;
		}
		if (!apply_one(c, root, op, legs, nlegs, val, ptext,
			       (size_t)plen))
			goto out;
	}
	ok = true;
out:
	free(legs);
	return ok;
}

bool jsondiff_apply(const uint8_t *before, size_t bn, const uint8_t *diff,
		    size_t dn, struct rc_buf *out, char *err, size_t errlen)
{
	struct jd_ctx c = { .err = err, .errlen = errlen };
	struct jd_node *root;
	size_t in = bn + dn;
	bool ok = false;

	if (in < bn) {
		dfail(&c, "input too large");
		return false;
	}
	c.max_nodes = in + 1;
	c.max_text = in > (SIZE_MAX - JD_TEXT_SLACK) / JD_TEXT_FACTOR ?
		     SIZE_MAX : in * JD_TEXT_FACTOR + JD_TEXT_SLACK;
	/* never a NULL data pointer, even for empty keys */
	buf_reserve(&c.text, 16);
	buf_reserve(&c.keys, 16);
	root = build_doc(&c, before, bn);
	if (root != NULL && apply_all(&c, &root, diff, dn)) {
		put_node(&c, root, out);
		ok = true;
	}
	node_free(root);
	buf_free(&c.text);
	buf_free(&c.scratch);
	buf_free(&c.keys);
	return ok;
}
