/* SPDX-License-Identifier: MIT */
/*
 * MariaDB GTID states (see gtid.h).
 */
#include "source/mysql/gtid.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static bool num(const char **p, const char *end, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		if (x > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
		s++;
	}
	*p = s;
	*v = x;
	return true;
}

bool gtid_parse_one(const char *s, size_t n, struct maria_gtid *g)
{
	const char *p = s, *end = s + n;
	uint64_t d, sv, q;

	if (!num(&p, end, UINT32_MAX, &d) || p >= end || *p++ != '-' ||
	    !num(&p, end, UINT32_MAX, &sv) || p >= end || *p++ != '-' ||
	    !num(&p, end, UINT64_MAX, &q) || p != end)
		return false;
	g->domain = (uint32_t)d;
	g->server = (uint32_t)sv;
	g->seq = q;
	return true;
}

void gtid_state_apply(struct gtid_state *st, const struct maria_gtid *g)
{
	size_t i;

	for (i = 0; i < st->n && st->v[i].domain < g->domain; i++)
		;
	if (i < st->n && st->v[i].domain == g->domain) {
		st->v[i] = *g;
		return;
	}
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 4;
		st->v = realloc(st->v, st->cap * sizeof(*st->v));
		if (!st->v)
			log_oom();
	}
	memmove(&st->v[i + 1], &st->v[i], (st->n - i) * sizeof(*st->v));
	st->v[i] = *g;
	st->n++;
}

bool gtid_state_apply_text(struct gtid_state *st, const char *s)
{
	struct maria_gtid g;

	if (!gtid_parse_one(s, strlen(s), &g))
		return false;
	gtid_state_apply(st, &g);
	return true;
}

bool gtid_state_parse(struct gtid_state *st, const char *s, char *err, size_t errlen)
{
	st->n = 0;
	while (*s) {
		const char *comma;
		size_t n;
		struct maria_gtid g;

		while (*s == ' ')
			s++;
		comma = strchr(s, ',');
		n = comma ? (size_t)(comma - s) : strlen(s);
		while (n > 0 && s[n - 1] == ' ')
			n--;
		if (!gtid_parse_one(s, n, &g)) {
			snprintf(err, errlen, "'%.*s' is not a GTID (domain-server-sequence)",
				 (int)n, s);
			return false;
		}
		for (size_t i = 0; i < st->n; i++) {
			if (st->v[i].domain == g.domain) {
				snprintf(err, errlen, "domain %" PRIu32 " appears twice", g.domain);
				return false;
			}
		}
		gtid_state_apply(st, &g);
		if (!comma)
			break;
		s = comma + 1;
	}
	return true;
}

void gtid_state_format(const struct gtid_state *st, struct rc_buf *out)
{
	for (size_t i = 0; i < st->n; i++) {
		if (i)
			buf_putc(out, ',');
		buf_put_u64(out, st->v[i].domain);
		buf_putc(out, '-');
		buf_put_u64(out, st->v[i].server);
		buf_putc(out, '-');
		buf_put_u64(out, st->v[i].seq);
	}
}

void gtid_state_copy(struct gtid_state *dst, const struct gtid_state *src)
{
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++)
		gtid_state_apply(dst, &src->v[i]);
}

void gtid_state_free(struct gtid_state *st)
{
	free(st->v);
	st->v = NULL;
	st->n = st->cap = 0;
}
