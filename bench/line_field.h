/* SPDX-License-Identifier: MIT */
/* The bare publishers' look into a native message line (see bench/README.md). */
#ifndef BENCH_LINE_FIELD_H
#define BENCH_LINE_FIELD_H

/* the including file defines _GNU_SOURCE first (memmem) */
#include <stdio.h>
#include <string.h>

/* The string value of "key":"..." in line (the values asked for hold no
 * escaped quotes): its start, and its length in *n (0 when absent). */
static inline const char *line_field(const char *line, size_t len, const char *key, size_t *n)
{
	char pat[32];
	const char *p, *q;
	size_t k = (size_t)snprintf(pat, sizeof(pat), "\"%s\":\"", key);

	*n = 0;
	p = memmem(line, len, pat, k);
	if (!p)
		return line;
	p += k;
	q = memchr(p, '"', (size_t)(line + len - p));
	*n = q ? (size_t)(q - p) : 0;
	return p;
}

#endif
