/* SPDX-License-Identifier: MIT */
/*
 * Row conditions ("when = EXPR" of a route or outbox): a small expression
 * language compiled once when the config loads and evaluated per row.  It
 * has no loops and no user recursion, so evaluation always terminates; it
 * allocates nothing.  It knows nothing of the decoder: rows reach it through
 * struct expr_env.  The language is described in rowcast.conf(5), CONDITIONS.
 */
#ifndef RC_ROUTE_EXPR_H
#define RC_ROUTE_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of parentheses, not and functions the compiler accepts;
 * evaluation recurses no deeper than this. */
#define EXPR_MAX_DEPTH 64

/* Three-valued result, as SQL: a comparison with NULL or with a column
 * missing from the row image is unknown. */
enum expr_tv { EXPR_FALSE = 0, EXPR_TRUE = 1, EXPR_UNKNOWN = 2 };

/* What a row image holds for a column (same numbers as DEC_ABSENT...). */
enum expr_state { EXPR_ABSENT = 0, EXPR_NULL = 1, EXPR_VALUE = 2 };

/* Operations (same numbers as the row ops of enum ch_op); a read is a
 * row a snapshot read: an after image only, as an insert. */
enum expr_op { EXPR_INSERT = 0, EXPR_UPDATE = 1, EXPR_DELETE = 2, EXPR_READ = 3, EXPR_NOPS };

/* Row images. */
enum expr_side { EXPR_BEFORE = 0, EXPR_AFTER = 1 };

struct expr;

/*
 * One row change as the expression sees it.  Column values are rowcast's
 * native JSON texts, exactly as published (rowcast-format(7)): integers as
 * JSON numbers, DECIMAL as a JSON string ("19.90"), text as a JSON string
 * with escapes, JSON columns embedded.
 */
struct expr_env {
	enum expr_op op;		/* the row's operation */
	const char *db;			/* database name (need not be NUL-terminated) */
	size_t db_len;			/* its length */
	const char *table;		/* table name */
	size_t table_len;		/* its length */
	const int32_t *cols;		/* expr_bind()'s indexes for this row's table,
					   expr_ncols() of them */
	/* The state of column idx (an index from cols, never negative) in
	 * the before or after image; for EXPR_VALUE also its JSON text.  A
	 * side the row has no image of (the before of an insert) answers
	 * EXPR_ABSENT. */
	enum expr_state (*value)(const void *ctx, enum expr_side side, int32_t idx,
				 const char **text, size_t *len);
	const void *ctx;		/* passed to value */
};

/*
 * Compile text (NUL-terminated).  On success *out is the expression (free
 * it with expr_free) and true is returned.  On failure *out is NULL, false
 * is returned and err (when not NULL) holds "column N: ..." with the
 * 1-based byte column in text and what was expected there; the caller adds
 * the file and line.
 */
bool expr_compile(const char *text, struct expr **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Release e; NULL is fine. */
void expr_free(struct expr *e);

/* Distinct column names the expression refers to; names are numbered 0..n-1
 * in order of first appearance. */
size_t expr_ncols(const struct expr *e);
/* Name i (NUL-terminated, owned by e), its length in *len when len is set. */
const char *expr_col(const struct expr *e, size_t i, size_t *len);

/*
 * Resolve the column names for one table: cols[i] (expr_ncols(e) entries,
 * the caller's memory) becomes lookup(ctx, name i), which returns the
 * column's index in the table or -1 when it has none (then the column is
 * absent from every row).  Do it once per table layout (e.g. per table
 * map) and keep cols with the table: evaluation then does no name search.
 * Returns how many names the table lacks, for a warning.
 */
size_t expr_bind(const struct expr *e, int32_t *cols,
		 int32_t (*lookup)(const void *ctx, const char *name, size_t len),
		 const void *ctx);

/* Evaluate e over one row: allocates nothing, recursion bounded by
 * EXPR_MAX_DEPTH. */
enum expr_tv expr_eval(const struct expr *e, const struct expr_env *env);

/* Whether the row matches: the condition is true (not false or unknown). */
static inline bool expr_match(const struct expr *e, const struct expr_env *env)
{
	return expr_eval(e, env) == EXPR_TRUE;
}

/* The canonical text of a compiled expression (fully parenthesised), into
 * buf of size bytes (cut to fit, NUL-terminated); for tests and logs. */
void expr_dump(const struct expr *e, char *buf, size_t size);

#endif
