/* SPDX-License-Identifier: MIT */
/*
 * The row condition language: a tokenizer and recursive-descent parser
 * (nesting bounded by EXPR_MAX_DEPTH) that build a small tree of nodes in
 * arrays, and an evaluator over native JSON value texts with SQL's
 * three-valued logic.  Numbers compare exactly as decimals (never through
 * a double); strings compare bytewise after JSON unescaping.
 */
#include "route/expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/log.h"

/* ---------------- compiled form ---------------- */

enum node_kind {
	N_CONST,	/* sub: EXPR_TRUE or EXPR_FALSE */
	N_AND,		/* children from first, linked by next */
	N_OR,
	N_NOT,		/* child first */
	N_CMP,		/* a sub b */
	N_ISNULL,	/* a is [not] null; neg */
	N_IN,		/* a [not] in (lits first..first+n); neg */
	N_FUNC,		/* sub(a, b) */
	N_CHANGED,	/* changed(column a.ref) */
	N_OPMASK,	/* op = / != / [not] in with names: bit 1 << op of n */
};

enum cmp_op { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };
enum func { F_STARTS, F_ENDS, F_CONTAINS };
enum operand_kind { O_LIT, O_COL, O_OP, O_DB, O_TABLE };
enum lit_kind { L_NULL, L_BOOL, L_NUM, L_STR };

/* A value source: a literal, a column of one image, or a row attribute. */
struct operand {
	uint8_t kind;		/* O_* */
	uint8_t side;		/* O_COL: EXPR_BEFORE or EXPR_AFTER */
	uint32_t ref;		/* O_LIT: literal index; O_COL: column name index */
};

struct node {
	uint8_t kind;		/* N_* */
	uint8_t sub;		/* N_CMP: C_*; N_FUNC: F_*; N_CONST: the value */
	bool neg;		/* N_ISNULL, N_IN: the "not" form */
	int32_t next;		/* next sibling under N_AND/N_OR, -1 at the end */
	uint32_t first;		/* N_AND/N_OR/N_NOT: first child; N_IN: first literal */
	uint32_t n;		/* N_IN: literals in the list */
	struct operand a;	/* left operand (N_CHANGED: the column) */
	struct operand b;	/* right operand */
};

/* An exact decimal: 0.DIGITS x 10^e, DIGITS without leading or trailing
 * zeros, split in two runs of the source text (around its '.'). */
struct num {
	bool neg;		/* below zero */
	bool zero;		/* the value is 0 (other fields unused) */
	int64_t e;		/* decimal exponent */
	const char *s1;		/* first run of digits */
	uint32_t n1;		/* its length */
	const char *s2;		/* second run (the fraction), may be empty */
	uint32_t n2;		/* its length */
};

struct lit {
	uint8_t kind;		/* L_* */
	bool b;			/* L_BOOL value */
	uint32_t off;		/* L_STR: decoded bytes in the pool; L_NUM: its text */
	uint32_t len;		/* their length */
	const char *s;		/* pool + off once compiled */
	struct num num;		/* L_NUM parsed once compiled (L_BOOL: 0 or 1) */
};

struct expr {
	struct node *nodes;	/* all nodes */
	uint32_t nnodes;	/* in use */
	uint32_t capnodes;	/* allocated */
	struct lit *lits;	/* literals */
	uint32_t nlits;		/* in use */
	uint32_t caplits;	/* allocated */
	uint32_t *col_off;	/* column names: start in the pool */
	uint32_t *col_len;	/* and length */
	uint32_t ncols;		/* distinct names */
	uint32_t capcols;	/* allocated */
	struct rc_buf pool;	/* string literals and names, each NUL-terminated */
	uint32_t root;		/* the condition */
};

static void *grow(void *p, uint32_t *cap, size_t size)
{
	uint32_t n = *cap ? *cap * 2 : 8;

	p = realloc(p, (size_t)n * size);
	if (!p)
		log_oom();
	*cap = n;
	return p;
}

/* ---------------- exact decimal numbers ---------------- */

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parse [p, p + n) as a JSON number (RFC 8259 grammar, nothing around it). */
static bool num_parse(const char *p, size_t n, struct num *v)
{
	size_t i = 0, i0, ilen, f0 = 0, flen = 0, total, lead = 0, end;
	int64_t x = 0;
	bool xneg = false;

	memset(v, 0, sizeof(*v));
	if (i < n && p[i] == '-') {
		v->neg = true;
		i++;
	}
	i0 = i;
	if (i >= n || !is_digit(p[i]))
		return false;
	if (p[i] == '0')
		i++;
	else
		while (i < n && is_digit(p[i]))
			i++;
	ilen = i - i0;
	if (i < n && p[i] == '.') {
		f0 = ++i;
		while (i < n && is_digit(p[i]))
			i++;
		flen = i - f0;
		if (!flen)
			return false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			xneg = p[i++] == '-';
		if (i >= n || !is_digit(p[i]))
			return false;
		for (; i < n && is_digit(p[i]); i++)
			if (x < 1000000000000000LL)	/* saturate: 10^15 is beyond any use */
				x = x * 10 + (p[i] - '0');
		if (xneg)
			x = -x;
	}
	if (i != n)
		return false;
	total = ilen + flen;
#define DIGIT(k) ((k) < ilen ? p[i0 + (k)] : p[f0 + (k) - ilen])
	while (lead < total && DIGIT(lead) == '0')
		lead++;
	if (lead == total) {
		v->zero = true;
		v->neg = false;
		return true;
	}
	end = total;
	while (DIGIT(end - 1) == '0')
		end--;
#undef DIGIT
	v->e = (int64_t)(total - lead) + x - (int64_t)flen;
	if (lead < ilen) {
		v->s1 = p + i0 + lead;
		v->n1 = (uint32_t)((end < ilen ? end : ilen) - lead);
		v->s2 = p + f0;
		v->n2 = (uint32_t)(end > ilen ? end - ilen : 0);
	} else {
		v->s1 = p + f0 + (lead - ilen);
		v->n1 = (uint32_t)(end - lead);
		v->s2 = NULL;
		v->n2 = 0;
	}
	return true;
}

static inline char num_digit(const struct num *v, uint32_t k)
{
	return k < v->n1 ? v->s1[k] : v->s2[k - v->n1];
}

/* -1, 0 or 1 as a is below, equal to or above b. */
static int num_cmp(const struct num *a, const struct num *b)
{
	uint32_t na, nb, n;
	int s;

	if (a->zero || b->zero) {
		if (a->zero && b->zero)
			return 0;
		if (a->zero)
			return b->neg ? 1 : -1;
		return a->neg ? -1 : 1;
	}
	if (a->neg != b->neg)
		return a->neg ? -1 : 1;
	s = a->neg ? -1 : 1;
	if (a->e != b->e)
		return a->e < b->e ? -s : s;
	na = a->n1 + a->n2;
	nb = b->n1 + b->n2;
	n = na < nb ? na : nb;
	for (uint32_t k = 0; k < n; k++) {
		char da = num_digit(a, k), db = num_digit(b, k);

		if (da != db)
			return da < db ? -s : s;
	}
	if (na == nb)
		return 0;
	return na < nb ? -s : s;
}

/* ---------------- JSON string bytes ---------------- */

/* Yields the bytes a JSON string's inside stands for, one at a time. */
struct sit {
	const char *p;		/* next source byte */
	const char *end;	/* end of the inside */
	uint8_t buf[4];		/* UTF-8 of an escape being yielded */
	uint8_t bi;		/* next byte of buf */
	uint8_t bn;		/* bytes in buf */
	bool esc;		/* the source has escapes to decode */
};

static unsigned hex4(const char *p, const char *end, bool *ok)
{
	unsigned v = 0;

	if (end - p < 4) {
		*ok = false;
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			*ok = false;
	}
	return v;
}

static uint8_t utf8_put(uint8_t *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xC0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xE0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decode one escape at p (p[0] == '\\') into o; returns the bytes written
 * and advances *pp.  A \u escape that is not a valid code point (a lone
 * surrogate) gives U+FFFD; *ok becomes false on a malformed escape (then
 * the backslash stands for itself).
 */
static uint8_t unescape(const char **pp, const char *end, uint8_t *o, bool *ok)
{
	const char *p = *pp;
	unsigned cp;
	bool good = true;

	if (end - p < 2) {
		*ok = false;
		*pp = p + 1;
		o[0] = '\\';
		return 1;
	}
	switch (p[1]) {
	case '"': case '\\': case '/': case '\'':
		o[0] = (uint8_t)p[1];
		*pp = p + 2;
		return 1;
	case 'b': o[0] = '\b'; *pp = p + 2; return 1;
	case 'f': o[0] = '\f'; *pp = p + 2; return 1;
	case 'n': o[0] = '\n'; *pp = p + 2; return 1;
	case 'r': o[0] = '\r'; *pp = p + 2; return 1;
	case 't': o[0] = '\t'; *pp = p + 2; return 1;
	case 'u':
		cp = hex4(p + 2, end, &good);
		if (!good)
			break;
		p += 6;
		if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
			bool good2 = true;
			unsigned lo = hex4(p + 2, end, &good2);

			if (good2 && lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
		}
		if (cp >= 0xD800 && cp < 0xE000) {
			*ok = false;	/* lone surrogate */
			cp = 0xFFFD;
		}
		*pp = p;
		return utf8_put(o, cp);
	default:
		break;
	}
	*ok = false;
	*pp = p + 1;
	o[0] = '\\';
	return 1;
}

static void sit_init(struct sit *it, const char *s, size_t n, bool esc)
{
	it->p = s;
	it->end = s + n;
	it->bi = it->bn = 0;
	it->esc = esc;
}

/* The next byte, or -1 at the end. */
static int sit_next(struct sit *it)
{
	bool ok = true;

	if (it->bi < it->bn)
		return it->buf[it->bi++];
	if (it->p >= it->end)
		return -1;
	if (!it->esc || *it->p != '\\')
		return (uint8_t)*it->p++;
	it->bn = unescape(&it->p, it->end, it->buf, &ok);
	it->bi = 1;
	return it->buf[0];
}

/* ---------------- evaluation ---------------- */

enum val_kind { V_UNKNOWN, V_NUM, V_STR, V_BOOL, V_OTHER };

/* An operand's value for one row. */
struct val {
	uint8_t kind;		/* V_*: V_UNKNOWN for absent, NULL, a null
				   literal or a JSON null */
	bool b;			/* V_BOOL */
	bool esc;		/* V_STR: s holds JSON escapes */
	bool parsed;		/* num is filled */
	const char *s;		/* V_STR: the string's inside; V_NUM, V_OTHER: text */
	size_t n;		/* its length */
	struct num num;		/* V_NUM once parsed */
	enum expr_state state;	/* for "is null" */
	char nbuf[40];		/* a string with escapes decoded to parse it */
};

/* Whether s holds a backslash; a loop beats the libc call on short values. */
static inline bool has_backslash(const char *s, size_t n)
{
	if (n > 32)
		return memchr(s, '\\', n) != NULL;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\\')
			return true;
	return false;
}

static const char *const op_names[EXPR_NOPS] = { "insert", "update", "delete", "read" };
static const size_t op_lens[EXPR_NOPS] = { 6, 6, 6, 4 };
#define OPMASK_ALL ((1u << EXPR_NOPS) - 1)	/* every operation's bit */

/* The row's operation as an index of op_names; one out of range reads as
 * an insert rather than past the table. */
static unsigned op_index(const struct expr_env *env)
{
	return (unsigned)env->op < EXPR_NOPS ? (unsigned)env->op : 0;
}

static void get_val(const struct expr *e, const struct expr_env *env, const struct operand *o,
		    struct val *v)
{
	const struct lit *l;
	const char *t;
	size_t n;
	int32_t idx;

	v->parsed = false;
	v->esc = false;
	v->state = EXPR_VALUE;
	switch (o->kind) {
	case O_LIT:
		l = &e->lits[o->ref];
		switch (l->kind) {
		case L_NULL:
			v->kind = V_UNKNOWN;
			v->state = EXPR_NULL;
			return;
		case L_BOOL:
			v->kind = V_BOOL;
			v->b = l->b;
			return;
		case L_NUM:
			v->kind = V_NUM;
			v->num = l->num;
			v->parsed = true;
			v->s = l->s;
			v->n = l->len;
			return;
		default:
			v->kind = V_STR;
			v->s = l->s;
			v->n = l->len;
			return;
		}
	case O_OP:
		v->kind = V_STR;
		v->s = op_names[op_index(env)];
		v->n = op_lens[op_index(env)];
		return;
	case O_DB:
		v->kind = V_STR;
		v->s = env->db;
		v->n = env->db_len;
		return;
	case O_TABLE:
		v->kind = V_STR;
		v->s = env->table;
		v->n = env->table_len;
		return;
	default:
		break;
	}
	idx = env->cols[o->ref];
	v->kind = V_UNKNOWN;
	if (idx < 0) {
		v->state = EXPR_ABSENT;
		return;
	}
	v->state = env->value(env->ctx, (enum expr_side)o->side, idx, &t, &n);
	if (v->state != EXPR_VALUE || !n)
		return;
	switch (t[0]) {
	case '"':
		v->kind = V_STR;
		v->s = t + 1;
		v->n = n >= 2 ? n - 2 : 0;
		v->esc = has_backslash(v->s, v->n);
		return;
	case 't':
	case 'f':
		v->kind = V_BOOL;
		v->b = t[0] == 't';
		return;
	case 'n':
		return;		/* JSON null: compares like NULL */
	case '{':
	case '[':
		v->kind = V_OTHER;
		break;
	default:
		v->kind = V_NUM;
		break;
	}
	v->s = t;
	v->n = n;
}

/* Make v a number when it is one or holds one (a string such as a DECIMAL's
 * "19.90", a boolean as 1 or 0); false when it cannot be. */
static bool as_num(struct val *v)
{
	static const char one = '1';

	if (v->parsed)
		return true;
	switch (v->kind) {
	case V_NUM:
		break;
	case V_STR:
		if (v->esc) {
			struct sit it;
			size_t n = 0;
			int c;

			sit_init(&it, v->s, v->n, true);
			while ((c = sit_next(&it)) >= 0) {
				if (n == sizeof(v->nbuf))
					return false;	/* too long for a number */
				v->nbuf[n++] = (char)c;
			}
			if (!num_parse(v->nbuf, n, &v->num))
				return false;
			v->parsed = true;
			return true;
		}
		break;
	case V_BOOL:
		memset(&v->num, 0, sizeof(v->num));
		v->num.zero = !v->b;
		v->num.e = 1;
		v->num.s1 = &one;
		v->num.n1 = 1;
		v->parsed = true;
		return true;
	default:
		return false;
	}
	if (!num_parse(v->s, v->n, &v->num))
		return false;
	v->parsed = true;
	return true;
}

static int str_cmp(const struct val *a, const struct val *b)
{
	struct sit ia, ib;

	if (!a->esc && !b->esc) {
		size_t n = a->n < b->n ? a->n : b->n;
		int c = n ? memcmp(a->s, b->s, n) : 0;

		if (c)
			return c < 0 ? -1 : 1;
		return a->n == b->n ? 0 : a->n < b->n ? -1 : 1;
	}
	sit_init(&ia, a->s, a->n, a->esc);
	sit_init(&ib, b->s, b->n, b->esc);
	for (;;) {
		int ca = sit_next(&ia), cb = sit_next(&ib);

		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca < 0)
			return 0;
	}
}

static enum expr_tv tv_of(bool b)
{
	return b ? EXPR_TRUE : EXPR_FALSE;
}

/* a op b over two fetched values. */
static enum expr_tv compare(struct val *a, struct val *b, enum cmp_op op)
{
	int ord;

	if (a->kind == V_UNKNOWN || b->kind == V_UNKNOWN)
		return EXPR_UNKNOWN;
	if (a->kind == V_STR && b->kind == V_STR) {
		ord = str_cmp(a, b);
	} else if (a->kind == V_BOOL && b->kind == V_BOOL) {
		ord = (int)a->b - (int)b->b;
	} else if ((a->kind == V_NUM || b->kind == V_NUM) && as_num(a) && as_num(b)) {
		ord = num_cmp(&a->num, &b->num);
	} else if (a->kind == V_OTHER && b->kind == V_OTHER) {
		/* JSON documents: equal when their texts are */
		bool eq = a->n == b->n && !memcmp(a->s, b->s, a->n);

		if (op == C_EQ || op == C_NE)
			return tv_of(eq == (op == C_EQ));
		return EXPR_UNKNOWN;
	} else {
		/* values of different kinds */
		if (op == C_EQ || op == C_NE)
			return tv_of(op == C_NE);
		return EXPR_UNKNOWN;
	}
	switch (op) {
	case C_EQ: return tv_of(ord == 0);
	case C_NE: return tv_of(ord != 0);
	case C_LT: return tv_of(ord < 0);
	case C_LE: return tv_of(ord <= 0);
	case C_GT: return tv_of(ord > 0);
	default: return tv_of(ord >= 0);
	}
}

/* Decoded length of a string value. */
static size_t str_len(const struct val *v)
{
	struct sit it;
	size_t n = 0;

	if (!v->esc)
		return v->n;
	sit_init(&it, v->s, v->n, true);
	while (sit_next(&it) >= 0)
		n++;
	return n;
}

/* Whether the bytes of it continue with all of needle's. */
static bool sit_prefix(struct sit it, const struct val *needle)
{
	struct sit in;
	int c;

	sit_init(&in, needle->s, needle->n, needle->esc);
	while ((c = sit_next(&in)) >= 0)
		if (sit_next(&it) != c)
			return false;
	return true;
}

/* Replace an escaped string value by its bytes in buf (size bytes) when
 * they fit. */
static void str_flatten(struct val *v, char *buf, size_t size)
{
	struct sit it;
	size_t n = 0;
	int c;

	if (!v->esc || v->n > size)	/* decoding never makes it longer */
		return;
	sit_init(&it, v->s, v->n, true);
	while ((c = sit_next(&it)) >= 0)
		buf[n++] = (char)c;
	v->s = buf;
	v->n = n;
	v->esc = false;
}

static enum expr_tv func(struct val *a, struct val *b, enum func f)
{
	char abuf[512], bbuf[128];
	struct sit it;
	size_t la, lb;

	if (a->kind != V_STR || b->kind != V_STR)
		return EXPR_UNKNOWN;
	str_flatten(a, abuf, sizeof(abuf));
	str_flatten(b, bbuf, sizeof(bbuf));
	if (!a->esc && !b->esc) {
		if (b->n > a->n)
			return EXPR_FALSE;
		if (!b->n)
			return EXPR_TRUE;
		switch (f) {
		case F_STARTS: return tv_of(!memcmp(a->s, b->s, b->n));
		case F_ENDS: return tv_of(!memcmp(a->s + a->n - b->n, b->s, b->n));
		default: return tv_of(memmem(a->s, a->n, b->s, b->n) != NULL);
		}
	}
	sit_init(&it, a->s, a->n, a->esc);
	switch (f) {
	case F_STARTS:
		return tv_of(sit_prefix(it, b));
	case F_ENDS:
		la = str_len(a);
		lb = str_len(b);
		if (lb > la)
			return EXPR_FALSE;
		for (size_t k = 0; k < la - lb; k++)
			(void)sit_next(&it);
		return tv_of(sit_prefix(it, b));
	default:
		for (;;) {
			if (sit_prefix(it, b))
				return EXPR_TRUE;
			if (sit_next(&it) < 0)
				return EXPR_FALSE;
		}
	}
}

static enum expr_tv changed(const struct expr_env *env, int32_t idx)
{
	const char *tb = NULL, *ta = NULL;
	size_t nb = 0, na = 0;
	enum expr_state sb, sa;

	if (idx < 0)
		return EXPR_FALSE;
	sb = env->value(env->ctx, EXPR_BEFORE, idx, &tb, &nb);
	sa = env->value(env->ctx, EXPR_AFTER, idx, &ta, &na);
	if (sb != sa)
		return EXPR_TRUE;
	if (sb != EXPR_VALUE)
		return EXPR_FALSE;
	return tv_of(na != nb || memcmp(ta, tb, na));
}

static enum expr_tv eval(const struct expr *e, const struct expr_env *env, uint32_t i)
{
	const struct node *nd = &e->nodes[i];
	struct val a, b;
	enum expr_tv r, t;
	bool null_seen;

	switch (nd->kind) {
	case N_CONST:
		return (enum expr_tv)nd->sub;
	case N_AND:
	case N_OR:
		/* false (and) or true (or) decides; otherwise unknown wins */
		t = nd->kind == N_AND ? EXPR_FALSE : EXPR_TRUE;
		r = nd->kind == N_AND ? EXPR_TRUE : EXPR_FALSE;
		for (int32_t k = (int32_t)nd->first; k >= 0; k = e->nodes[k].next) {
			enum expr_tv c = eval(e, env, (uint32_t)k);

			if (c == t)
				return t;
			if (c == EXPR_UNKNOWN)
				r = EXPR_UNKNOWN;
		}
		return r;
	case N_NOT:
		r = eval(e, env, nd->first);
		return r == EXPR_UNKNOWN ? r : tv_of(r == EXPR_FALSE);
	case N_OPMASK:
		return tv_of(nd->n >> op_index(env) & 1);
	case N_CMP:
		get_val(e, env, &nd->a, &a);
		if (nd->b.kind == O_LIT && a.kind == V_STR && !a.esc && nd->sub <= C_NE &&
		    e->lits[nd->b.ref].kind == L_STR) {
			/* a string without escapes = 'text': bytewise */
			const struct lit *l = &e->lits[nd->b.ref];

			return tv_of((a.n == l->len && !memcmp(a.s, l->s, a.n)) == (nd->sub == C_EQ));
		}
		get_val(e, env, &nd->b, &b);
		return compare(&a, &b, (enum cmp_op)nd->sub);
	case N_ISNULL:
		get_val(e, env, &nd->a, &a);
		if (a.state == EXPR_ABSENT)
			return EXPR_UNKNOWN;
		return tv_of((a.state == EXPR_NULL) != nd->neg);
	case N_IN:
		get_val(e, env, &nd->a, &a);
		if (a.kind == V_UNKNOWN)
			return EXPR_UNKNOWN;
		null_seen = false;
		r = EXPR_FALSE;
		for (uint32_t k = 0; k < nd->n; k++) {
			struct operand o = { O_LIT, 0, nd->first + k };

			get_val(e, env, &o, &b);
			if (b.kind == V_UNKNOWN)
				null_seen = true;
			else if (compare(&a, &b, C_EQ) == EXPR_TRUE) {
				r = EXPR_TRUE;
				break;
			}
		}
		if (r == EXPR_FALSE && null_seen)
			r = EXPR_UNKNOWN;
		if (nd->neg && r != EXPR_UNKNOWN)
			r = tv_of(r == EXPR_FALSE);
		return r;
	case N_FUNC:
		get_val(e, env, &nd->a, &a);
		get_val(e, env, &nd->b, &b);
		return func(&a, &b, (enum func)nd->sub);
	default:
		return changed(env, env->cols[nd->a.ref]);
	}
}

enum expr_tv expr_eval(const struct expr *e, const struct expr_env *env)
{
	return eval(e, env, e->root);
}

/* ---------------- parsing ---------------- */

enum tok_kind { T_END, T_WORD, T_QNAME, T_NUM, T_STR, T_LP, T_RP, T_COMMA, T_DOT, T_CMP };

struct tok {
	uint8_t kind;		/* T_* */
	uint8_t cmp;		/* T_CMP: C_* */
	size_t pos;		/* first byte in the text */
	size_t len;		/* bytes in the text */
};

struct parser {
	const char *text;	/* the whole condition */
	size_t pos;		/* next byte to read */
	struct tok t;		/* the current token */
	struct expr *e;		/* being built */
	struct rc_buf sbuf;	/* decoded bytes of a T_STR or T_QNAME */
	char *err;		/* the caller's buffer, may be NULL */
	size_t errlen;		/* its size */
	bool failed;		/* an error was written: keep the first */
};

__attribute__((format(printf, 3, 4)))
static bool fail(struct parser *ps, size_t pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->failed)
		return false;
	ps->failed = true;
	if (!ps->err || !ps->errlen)
		return false;
	n = snprintf(ps->err, ps->errlen, "column %zu: ", pos + 1);
	if (n < 0 || (size_t)n >= ps->errlen)
		return false;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* The current token as error messages quote it. */
static const char *found(struct parser *ps, char *out, size_t size)
{
	size_t n = ps->t.len;

	if (ps->t.kind == T_END)
		return "end of text";
	if (ps->t.kind == T_STR || ps->t.kind == T_QNAME) {	/* quoted already */
		snprintf(out, size, "%.*s%s", (int)(n > 24 ? 24 : n), ps->text + ps->t.pos,
			 n > 24 ? "..." : "");
		return out;
	}
	if (n > 24)
		snprintf(out, size, "'%.24s...'", ps->text + ps->t.pos);
	else
		snprintf(out, size, "'%.*s'", (int)n, ps->text + ps->t.pos);
	return out;
}

/* "expected WHAT, found TOKEN" at the current token. */
static bool expected(struct parser *ps, const char *what)
{
	char b[40];

	return fail(ps, ps->t.pos, "expected %s, found %s", what, found(ps, b, sizeof(b)));
}

static bool word_char(unsigned char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
	       c == '@' || c >= 0x80 || (!first && c >= '0' && c <= '9');
}

/* Read a quoted string or name starting at the quote; decoded into sbuf. */
static bool lex_quoted(struct parser *ps, char q)
{
	const char *s = ps->text, *end;
	size_t start = ps->pos, i = start + 1;

	buf_reset(&ps->sbuf);
	end = s + start + 1 + strlen(s + start + 1);
	for (;;) {
		if (!s[i])
			return fail(ps, start, q == '`' ? "unterminated quoted name" :
				    "unterminated string");
		if (s[i] == q) {
			if (q == '`' && s[i + 1] == '`') {	/* `` is one backtick */
				buf_putc(&ps->sbuf, '`');
				i += 2;
				continue;
			}
			i++;
			break;
		}
		if (s[i] == '\\' && q != '`' && !s[i + 1])
			return fail(ps, start, "unterminated string");
		if (s[i] == '\\' && q != '`') {
			const char *p = s + i;
			uint8_t o[4];
			bool ok = true;
			uint8_t n = unescape(&p, end, o, &ok);

			if (!ok) {
				if (s[i + 1] == 'u')
					return fail(ps, i, "bad \\u escape in string");
				return fail(ps, i, "bad escape '\\%c' in string", s[i + 1] ? s[i + 1] : ' ');
			}
			buf_append(&ps->sbuf, o, n);
			i = (size_t)(p - s);
			continue;
		}
		buf_putc(&ps->sbuf, s[i++]);
	}
	ps->t.kind = q == '`' ? T_QNAME : T_STR;
	ps->t.len = i - start;
	ps->pos = i;
	return true;
}

/* Move to the next token. */
static bool lex(struct parser *ps)
{
	const char *s = ps->text;
	size_t i = ps->pos;
	unsigned char c;

	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
		i++;
	ps->pos = i;
	ps->t.pos = i;
	ps->t.len = 1;
	c = (unsigned char)s[i];
	switch (c) {
	case '\0': ps->t.kind = T_END; ps->t.len = 0; return true;
	case '(': ps->t.kind = T_LP; ps->pos++; return true;
	case ')': ps->t.kind = T_RP; ps->pos++; return true;
	case ',': ps->t.kind = T_COMMA; ps->pos++; return true;
	case '.': ps->t.kind = T_DOT; ps->pos++; return true;
	case '\'': case '"': case '`':
		return lex_quoted(ps, (char)c);
	case '=': case '<': case '>': case '!':
		ps->t.kind = T_CMP;
		if (c == '=') {
			ps->t.cmp = C_EQ;
			if (s[i + 1] == '=')
				ps->t.len = 2;
		} else if (c == '!') {
			if (s[i + 1] != '=')
				return fail(ps, i, "unexpected character '!'");
			ps->t.cmp = C_NE;
			ps->t.len = 2;
		} else if (c == '<') {
			ps->t.cmp = s[i + 1] == '=' ? C_LE : s[i + 1] == '>' ? C_NE : C_LT;
			ps->t.len = ps->t.cmp == C_LT ? 1 : 2;
		} else {
			ps->t.cmp = s[i + 1] == '=' ? C_GE : C_GT;
			ps->t.len = ps->t.cmp == C_GT ? 1 : 2;
		}
		ps->pos += ps->t.len;
		return true;
	default:
		break;
	}
	if (c == '-' || is_digit((char)c)) {
		struct num v;
		size_t j = i + 1;

		while (word_char((unsigned char)s[j], false) || s[j] == '.' ||
		       ((s[j] == '+' || s[j] == '-') && (s[j - 1] == 'e' || s[j - 1] == 'E')))
			j++;
		ps->t.len = j - i;
		if (!num_parse(s + i, j - i, &v))
			return fail(ps, i, "invalid number '%.*s'", (int)(j - i > 24 ? 24 : j - i),
				    s + i);
		ps->t.kind = T_NUM;
		ps->pos = j;
		return true;
	}
	if (word_char(c, true)) {
		size_t j = i + 1;

		while (word_char((unsigned char)s[j], false))
			j++;
		ps->t.kind = T_WORD;
		ps->t.len = j - i;
		ps->pos = j;
		return true;
	}
	if (c >= 0x20 && c < 0x7F)
		return fail(ps, i, "unexpected character '%c'", c);
	return fail(ps, i, "unexpected byte 0x%02X", c);
}

/* Whether the current token is the keyword kw (any case). */
static bool word_is(const struct parser *ps, const char *kw)
{
	size_t n = strlen(kw);

	return ps->t.kind == T_WORD && ps->t.len == n && !strncasecmp(ps->text + ps->t.pos, kw, n);
}

static int32_t new_node(struct parser *ps, uint8_t kind)
{
	struct expr *e = ps->e;
	struct node *nd;

	if (e->nnodes == e->capnodes)
		e->nodes = grow(e->nodes, &e->capnodes, sizeof(*e->nodes));
	nd = &e->nodes[e->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->kind = kind;
	nd->next = -1;
	return (int32_t)e->nnodes++;
}

static uint32_t pool_add(struct expr *e, const char *s, size_t n)
{
	uint32_t off = (uint32_t)e->pool.len;

	buf_append(&e->pool, s, n);
	buf_putc(&e->pool, '\0');
	return off;
}

/* Add a literal from the current token (a number, string, true, false or
 * null); false with an error when it is none of those. */
static bool add_lit(struct parser *ps, uint32_t *ref)
{
	struct expr *e = ps->e;
	struct lit *l;

	if (e->nlits == e->caplits)
		e->lits = grow(e->lits, &e->caplits, sizeof(*e->lits));
	l = &e->lits[e->nlits];
	memset(l, 0, sizeof(*l));
	if (ps->t.kind == T_NUM) {
		l->kind = L_NUM;
		l->len = (uint32_t)ps->t.len;
		l->off = pool_add(e, ps->text + ps->t.pos, ps->t.len);
	} else if (ps->t.kind == T_STR) {
		l->kind = L_STR;
		l->len = (uint32_t)ps->sbuf.len;
		l->off = pool_add(e, ps->sbuf.data ? ps->sbuf.data : "", ps->sbuf.len);
	} else if (word_is(ps, "true") || word_is(ps, "false")) {
		l->kind = L_BOOL;
		l->b = word_is(ps, "true");
	} else if (word_is(ps, "null")) {
		l->kind = L_NULL;
	} else {
		return false;
	}
	*ref = e->nlits++;
	return lex(ps);
}

/* The index of column name s, added when new. */
static uint32_t add_col(struct expr *e, const char *s, size_t n)
{
	for (uint32_t i = 0; i < e->ncols; i++)
		if (e->col_len[i] == n && !memcmp(e->pool.data + e->col_off[i], s, n))
			return i;
	if (e->ncols == e->capcols) {
		uint32_t cap = e->capcols;

		e->col_off = grow(e->col_off, &cap, sizeof(*e->col_off));
		e->col_len = grow(e->col_len, &e->capcols, sizeof(*e->col_len));
	}
	e->col_off[e->ncols] = pool_add(e, s, n);
	e->col_len[e->ncols] = (uint32_t)n;
	return e->ncols++;
}

/* A column name token (plain or `quoted`) into a column index. */
static bool col_name(struct parser *ps, uint32_t *ref)
{
	if (ps->t.kind == T_WORD)
		*ref = add_col(ps->e, ps->text + ps->t.pos, ps->t.len);
	else if (ps->t.kind == T_QNAME)
		*ref = add_col(ps->e, ps->sbuf.data ? ps->sbuf.data : "", ps->sbuf.len);
	else
		return expected(ps, "a column name");
	return lex(ps);
}

static bool is_func_name(const struct parser *ps)
{
	return word_is(ps, "changed") || word_is(ps, "starts_with") || word_is(ps, "ends_with") ||
	       word_is(ps, "contains");
}

static bool parse_operand(struct parser *ps, struct operand *o)
{
	memset(o, 0, sizeof(*o));
	if (ps->t.kind == T_NUM || ps->t.kind == T_STR || word_is(ps, "true") ||
	    word_is(ps, "false") || word_is(ps, "null")) {
		o->kind = O_LIT;
		return add_lit(ps, &o->ref);
	}
	if (word_is(ps, "op") || word_is(ps, "db") || word_is(ps, "table")) {
		o->kind = word_is(ps, "op") ? O_OP : word_is(ps, "db") ? O_DB : O_TABLE;
		return lex(ps);
	}
	if (word_is(ps, "before") || word_is(ps, "after")) {
		o->kind = O_COL;
		o->side = word_is(ps, "after") ? EXPR_AFTER : EXPR_BEFORE;
		if (!lex(ps))
			return false;
		if (ps->t.kind != T_DOT)
			return expected(ps, "'.' and a column name");
		return lex(ps) && col_name(ps, &o->ref);
	}
	if (ps->t.kind == T_WORD && !is_func_name(ps) &&
	    ps->text[ps->pos + strspn(ps->text + ps->pos, " \t\r\n")] == '(')
		return fail(ps, ps->t.pos, "unknown function '%.*s'",
			    (int)(ps->t.len > 64 ? 64 : ps->t.len), ps->text + ps->t.pos);
	if (ps->t.kind == T_WORD && !is_func_name(ps))
		return fail(ps, ps->t.pos, "unknown name '%.*s' (a column is before.%.*s or after.%.*s)",
			    (int)(ps->t.len > 64 ? 64 : ps->t.len), ps->text + ps->t.pos,
			    (int)(ps->t.len > 64 ? 64 : ps->t.len), ps->text + ps->t.pos,
			    (int)(ps->t.len > 64 ? 64 : ps->t.len), ps->text + ps->t.pos);
	return expected(ps, "a value");
}

static bool expect_tok(struct parser *ps, uint8_t kind, const char *what)
{
	if (ps->t.kind != kind)
		return expected(ps, what);
	return lex(ps);
}

static int32_t parse_bool(struct parser *ps, int depth, bool is_or);

/* changed(NAME), starts_with(A, B), ends_with(A, B), contains(A, B) */
static int32_t parse_func(struct parser *ps)
{
	struct operand a, b;
	int32_t n;
	uint8_t f = word_is(ps, "starts_with") ? F_STARTS : word_is(ps, "ends_with") ? F_ENDS :
		    F_CONTAINS;
	bool is_changed = word_is(ps, "changed");

	if (!lex(ps) || !expect_tok(ps, T_LP, "'('"))
		return -1;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (is_changed) {
		a.kind = O_COL;
		if ((word_is(ps, "before") || word_is(ps, "after")) && ps->text[ps->pos] == '.') {
			expected(ps, "a column name (without before. or after.)");
			return -1;
		}
		if (!col_name(ps, &a.ref))
			return -1;
	} else {
		if (!parse_operand(ps, &a) || !expect_tok(ps, T_COMMA, "','") ||
		    !parse_operand(ps, &b))
			return -1;
	}
	if (!expect_tok(ps, T_RP, "')'"))
		return -1;
	n = new_node(ps, is_changed ? N_CHANGED : N_FUNC);
	ps->e->nodes[n].sub = f;
	ps->e->nodes[n].a = a;
	ps->e->nodes[n].b = b;
	return n;
}

/* Bit 1 << op of each operation name equal to string literal ref; false
 * when the literal is not a string. */
static bool op_bits(const struct parser *ps, uint32_t ref, uint32_t *mask)
{
	const struct lit *l = &ps->e->lits[ref];
	const char *s = ps->e->pool.data + l->off;

	if (l->kind != L_STR)
		return false;
	for (int i = 0; i < EXPR_NOPS; i++)
		if (l->len == op_lens[i] && !memcmp(s, op_names[i], l->len))
			*mask |= 1u << i;
	return true;
}

/* Turn "op = 'x'", "op != 'x'" and "op [not] in ('x', ...)" into a bit
 * test: the row's operation is then never compared as text. */
static void to_opmask(struct parser *ps, int32_t n)
{
	struct node *nd = &ps->e->nodes[n];
	uint32_t mask = 0;

	if (nd->kind == N_CMP && nd->sub <= C_NE) {
		struct operand *lit = nd->a.kind == O_OP ? &nd->b : nd->b.kind == O_OP ? &nd->a : NULL;

		if (!lit || lit->kind != O_LIT || !op_bits(ps, lit->ref, &mask))
			return;
		if (nd->sub == C_NE)
			mask ^= OPMASK_ALL;
	} else if (nd->kind == N_IN && nd->a.kind == O_OP) {
		for (uint32_t k = 0; k < nd->n; k++)
			if (!op_bits(ps, nd->first + k, &mask))
				return;
		if (nd->neg)
			mask ^= OPMASK_ALL;
	} else {
		return;
	}
	nd->kind = N_OPMASK;
	nd->n = mask;
}

/* A value, then what is said of it. */
static int32_t parse_predicate(struct parser *ps)
{
	struct operand a, b;
	struct node *nd;
	int32_t n;
	uint32_t first = 0, count = 0;
	bool neg = false;

	if (!parse_operand(ps, &a))
		return -1;
	if (ps->t.kind == T_CMP) {
		uint8_t op = ps->t.cmp;

		if (!lex(ps) || !parse_operand(ps, &b))
			return -1;
		n = new_node(ps, N_CMP);
		nd = &ps->e->nodes[n];
		nd->sub = op;
		nd->a = a;
		nd->b = b;
		to_opmask(ps, n);
		return n;
	}
	if (word_is(ps, "is")) {
		if (!lex(ps))
			return -1;
		if (word_is(ps, "not")) {
			neg = true;
			if (!lex(ps))
				return -1;
		}
		if (!word_is(ps, "null")) {
			expected(ps, neg ? "'null'" : "'null' or 'not null'");
			return -1;
		}
		if (!lex(ps))
			return -1;
		n = new_node(ps, N_ISNULL);
		ps->e->nodes[n].a = a;
		ps->e->nodes[n].neg = neg;
		return n;
	}
	if (word_is(ps, "not")) {
		neg = true;
		if (!lex(ps))
			return -1;
		if (!word_is(ps, "in")) {
			expected(ps, "'in'");
			return -1;
		}
	}
	if (word_is(ps, "in")) {
		if (!lex(ps) || !expect_tok(ps, T_LP, "'('"))
			return -1;
		first = ps->e->nlits;
		for (;;) {
			uint32_t ref;

			if (!add_lit(ps, &ref)) {
				if (!ps->failed)
					expected(ps, "a literal value");
				return -1;
			}
			count++;
			if (ps->t.kind == T_RP)
				break;
			if (!expect_tok(ps, T_COMMA, "',' or ')'"))
				return -1;
		}
		if (!lex(ps))
			return -1;
		n = new_node(ps, N_IN);
		nd = &ps->e->nodes[n];
		nd->a = a;
		nd->neg = neg;
		nd->first = first;
		nd->n = count;
		to_opmask(ps, n);
		return n;
	}
	if (a.kind == O_LIT && ps->e->lits[a.ref].kind == L_BOOL) {
		n = new_node(ps, N_CONST);
		ps->e->nodes[n].sub = ps->e->lits[a.ref].b ? EXPR_TRUE : EXPR_FALSE;
		return n;
	}
	expected(ps, "=, !=, <, <=, >, >=, 'is' or 'in'");
	return -1;
}

static int32_t parse_not(struct parser *ps, int depth)
{
	int32_t c, n;

	if (word_is(ps, "not")) {
		if (depth + 1 > EXPR_MAX_DEPTH) {
			fail(ps, ps->t.pos, "nested deeper than %d levels", EXPR_MAX_DEPTH);
			return -1;
		}
		if (!lex(ps) || (c = parse_not(ps, depth + 1)) < 0)
			return -1;
		n = new_node(ps, N_NOT);
		ps->e->nodes[n].first = (uint32_t)c;
		return n;
	}
	if (ps->t.kind == T_LP) {
		if (depth + 1 > EXPR_MAX_DEPTH) {
			fail(ps, ps->t.pos, "nested deeper than %d levels", EXPR_MAX_DEPTH);
			return -1;
		}
		if (!lex(ps) || (n = parse_bool(ps, depth + 1, true)) < 0)
			return -1;
		if (ps->t.kind != T_RP) {
			expected(ps, "'and', 'or' or ')'");
			return -1;
		}
		return lex(ps) ? n : -1;
	}
	if (is_func_name(ps))
		return parse_func(ps);
	if (ps->t.kind == T_END || ps->t.kind == T_RP || ps->t.kind == T_COMMA ||
	    ps->t.kind == T_CMP || ps->t.kind == T_DOT || word_is(ps, "and") || word_is(ps, "or")) {
		expected(ps, "a condition");
		return -1;
	}
	return parse_predicate(ps);
}

/* Conditions joined by "or" (is_or) or by "and". */
static int32_t parse_bool(struct parser *ps, int depth, bool is_or)
{
	const char *kw = is_or ? "or" : "and";
	int32_t first, last, n, k;

	first = is_or ? parse_bool(ps, depth, false) : parse_not(ps, depth);
	if (first < 0 || !word_is(ps, kw))
		return first;
	n = new_node(ps, is_or ? N_OR : N_AND);
	ps->e->nodes[n].first = (uint32_t)first;
	last = first;
	while (word_is(ps, kw)) {
		if (!lex(ps))
			return -1;
		k = is_or ? parse_bool(ps, depth, false) : parse_not(ps, depth);
		if (k < 0)
			return -1;
		ps->e->nodes[last].next = k;
		last = k;
	}
	return n;
}

bool expr_compile(const char *text, struct expr **out, char *err, size_t errlen)
{
	struct parser ps = { .text = text, .err = err, .errlen = errlen };
	struct expr *e = calloc(1, sizeof(*e));
	int32_t root;
	bool ok = false;

	*out = NULL;
	if (!e)
		log_oom();
	if (err && errlen)
		err[0] = '\0';
	ps.e = e;
	if (!lex(&ps) || (root = parse_bool(&ps, 0, true)) < 0)
		goto out;
	if (ps.t.kind != T_END) {
		expected(&ps, "'and', 'or' or end of text");
		goto out;
	}
	e->root = (uint32_t)root;
	for (uint32_t i = 0; i < e->nlits; i++) {
		struct lit *l = &e->lits[i];

		l->s = e->pool.data + l->off;
		if (l->kind == L_NUM && !num_parse(l->s, l->len, &l->num))
			goto out;	/* cannot happen: the lexer checked it */
	}
	*out = e;
	ok = true;
out:
	buf_free(&ps.sbuf);
	if (!ok)
		expr_free(e);
	return ok;
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	free(e->nodes);
	free(e->lits);
	free(e->col_off);
	free(e->col_len);
	buf_free(&e->pool);
	free(e);
}

size_t expr_ncols(const struct expr *e)
{
	return e->ncols;
}

const char *expr_col(const struct expr *e, size_t i, size_t *len)
{
	if (len)
		*len = e->col_len[i];
	return e->pool.data + e->col_off[i];
}

size_t expr_bind(const struct expr *e, int32_t *cols,
		 int32_t (*lookup)(const void *ctx, const char *name, size_t len),
		 const void *ctx)
{
	size_t missing = 0;

	for (uint32_t i = 0; i < e->ncols; i++) {
		cols[i] = lookup(ctx, e->pool.data + e->col_off[i], e->col_len[i]);
		if (cols[i] < 0) {
			cols[i] = -1;
			missing++;
		}
	}
	return missing;
}

/* ---------------- canonical text ---------------- */

static void dump_col(struct rc_buf *b, const struct expr *e, uint32_t ref)
{
	const char *s = e->pool.data + e->col_off[ref];
	uint32_t n = e->col_len[ref];
	bool plain = n > 0 && word_char((unsigned char)s[0], true);

	for (uint32_t i = 0; i < n && plain; i++)
		plain = word_char((unsigned char)s[i], false);
	if (plain) {
		buf_append(b, s, n);
		return;
	}
	buf_putc(b, '`');
	for (uint32_t i = 0; i < n; i++) {
		if (s[i] == '`')
			buf_putc(b, '`');
		buf_putc(b, s[i]);
	}
	buf_putc(b, '`');
}

static void dump_lit(struct rc_buf *b, const struct lit *l)
{
	switch (l->kind) {
	case L_NULL: buf_puts(b, "null"); break;
	case L_BOOL: buf_puts(b, l->b ? "true" : "false"); break;
	case L_NUM: buf_append(b, l->s, l->len); break;
	default: buf_json_str(b, l->s, l->len, NULL); break;
	}
}

static void dump_operand(struct rc_buf *b, const struct expr *e, const struct operand *o)
{
	switch (o->kind) {
	case O_LIT: dump_lit(b, &e->lits[o->ref]); break;
	case O_OP: buf_puts(b, "op"); break;
	case O_DB: buf_puts(b, "db"); break;
	case O_TABLE: buf_puts(b, "table"); break;
	default:
		buf_puts(b, o->side == EXPR_AFTER ? "after." : "before.");
		dump_col(b, e, o->ref);
		break;
	}
}

static void dump(struct rc_buf *b, const struct expr *e, uint32_t i)
{
	static const char *const cmps[] = { " = ", " != ", " < ", " <= ", " > ", " >= " };
	static const char *const funcs[] = { "starts_with(", "ends_with(", "contains(" };
	const struct node *nd = &e->nodes[i];

	switch (nd->kind) {
	case N_CONST:
		buf_puts(b, nd->sub == EXPR_TRUE ? "true" : "false");
		break;
	case N_AND:
	case N_OR:
		buf_putc(b, '(');
		for (int32_t k = (int32_t)nd->first; k >= 0; k = e->nodes[k].next) {
			if (k != (int32_t)nd->first)
				buf_puts(b, nd->kind == N_AND ? " and " : " or ");
			dump(b, e, (uint32_t)k);
		}
		buf_putc(b, ')');
		break;
	case N_NOT:
		buf_puts(b, "(not ");
		dump(b, e, nd->first);
		buf_putc(b, ')');
		break;
	case N_CMP:
		dump_operand(b, e, &nd->a);
		buf_puts(b, cmps[nd->sub]);
		dump_operand(b, e, &nd->b);
		break;
	case N_ISNULL:
		dump_operand(b, e, &nd->a);
		buf_puts(b, nd->neg ? " is not null" : " is null");
		break;
	case N_IN:
		dump_operand(b, e, &nd->a);
		buf_puts(b, nd->neg ? " not in (" : " in (");
		for (uint32_t k = 0; k < nd->n; k++) {
			if (k)
				buf_puts(b, ", ");
			dump_lit(b, &e->lits[nd->first + k]);
		}
		buf_putc(b, ')');
		break;
	case N_OPMASK:
		if (!nd->n || nd->n == OPMASK_ALL) {
			buf_puts(b, nd->n ? "true" : "false");
			break;
		}
		buf_puts(b, "op in (");
		for (unsigned k = 0, any = 0; k < EXPR_NOPS; k++) {
			if (!(nd->n >> k & 1))
				continue;
			buf_puts(b, any++ ? ", \"" : "\"");
			buf_puts(b, op_names[k]);
			buf_putc(b, '"');
		}
		buf_putc(b, ')');
		break;
	case N_FUNC:
		buf_puts(b, funcs[nd->sub]);
		dump_operand(b, e, &nd->a);
		buf_puts(b, ", ");
		dump_operand(b, e, &nd->b);
		buf_putc(b, ')');
		break;
	default:
		buf_puts(b, "changed(");
		dump_col(b, e, nd->a.ref);
		buf_putc(b, ')');
		break;
	}
}

void expr_dump(const struct expr *e, char *out, size_t size)
{
	struct rc_buf b = { 0 };

	if (!size)
		return;
	dump(&b, e, e->root);
	buf_strcpy(out, size, b.data ? b.data : "");
	buf_free(&b);
}
