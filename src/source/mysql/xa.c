/* SPDX-License-Identifier: MIT */
/*
 * Lists of prepared XA transactions and their checkpoint text (xa.h).
 */
#include "source/mysql/xa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static bool same(const struct xa_pending *a, const struct xa_pending *b)
{
	return !strcmp(a->xid, b->xid) && !strcmp(a->file, b->file) && a->offset == b->offset &&
	       !strcmp(a->key, b->key);
}

void xa_list_add(struct xa_list *l, const struct xa_pending *x)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = realloc(l->v, (size_t)l->cap * sizeof(*l->v));
		if (!l->v)
			log_oom();
	}
	l->v[l->n++] = *x;
}

void xa_list_remove(struct xa_list *l, const struct xa_pending *x)
{
	for (int i = 0; i < l->n; i++) {
		if (!same(&l->v[i], x))
			continue;
		memmove(&l->v[i], &l->v[i + 1], (size_t)(l->n - i - 1) * sizeof(*l->v));
		l->n--;
		return;
	}
}

const struct xa_pending *xa_list_find(const struct xa_list *l, const char *xid)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].xid, xid))
			return &l->v[i];
	return NULL;
}

void xa_list_copy(struct xa_list *dst, const struct xa_list *src)
{
	dst->n = 0;
	for (int i = 0; i < src->n; i++)
		xa_list_add(dst, &src->v[i]);
}

void xa_list_free(struct xa_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void xa_format(const struct xa_pending *x, struct rc_buf *out)
{
	buf_printf(out, "%s\t%s:%llu\t%s", x->xid, x->file, (unsigned long long)x->offset, x->key);
}

/* Copy [s, e) into out (outlen bytes); false when it does not fit or is empty. */
static bool field(const char *s, const char *e, char *out, size_t outlen)
{
	if (e <= s || (size_t)(e - s) >= outlen)
		return false;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	return true;
}

bool xa_parse(const char *text, struct xa_pending *x)
{
	const char *t1 = strchr(text, '\t');
	const char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
	const char *colon;
	char num[32], *end;

	if (!t2 || strchr(t2 + 1, '\t'))
		return false;
	/* the file name may hold a colon; the offset follows the last one */
	for (colon = t2 - 1; colon > t1 && *colon != ':'; colon--)
		;
	if (colon <= t1 || !field(text, t1, x->xid, sizeof(x->xid)) ||
	    !field(t1 + 1, colon, x->file, sizeof(x->file)) ||
	    !field(colon + 1, t2, num, sizeof(num)) ||
	    !field(t2 + 1, t2 + 1 + strlen(t2 + 1), x->key, sizeof(x->key)))
		return false;
	x->offset = strtoull(num, &end, 10);
	return *end == '\0';
}
