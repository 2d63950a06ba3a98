/* SPDX-License-Identifier: MIT */
/*
 * Route scripts: a Lua 5.4 function run once per matching row change, which
 * turns the change into zero or more messages (topic, key, headers, payload).
 * Each script lives in its own sandboxed lua_State with a memory cap and a
 * per-call instruction budget.  This module neither reads the binlog nor
 * publishes: it takes an abstract change (script_row.h fills one from the
 * decoder's rows) and hands back messages in buffers it reuses.
 */
#ifndef RC_ROUTE_SCRIPT_H
#define RC_ROUTE_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of the two limits (rowcast.conf: script_memory, script_budget). */
#define RC_SCRIPT_MEMORY_DEFAULT ((size_t)32 << 20)	/* bytes of Lua heap */
#define RC_SCRIPT_BUDGET_DEFAULT 1000000u		/* VM instructions per row */
#define RC_SCRIPT_MEMORY_MIN ((size_t)256 << 10)	/* the libraries need ~40 KiB */
#define RC_SCRIPT_BUDGET_MIN 1000u
#define RC_SCRIPT_BUDGET_MAX 2000000000u		/* lua_sethook takes an int */

/* What a script may use; 0 in a field means its default. */
struct script_limits {
	size_t memory;		/* cap on the bytes the Lua heap may hold */
	uint32_t budget;	/* VM instructions one call (one row) may run */
};

/* A column value's state, the same numbers as the decoder's DEC_*. */
enum { SCRIPT_ABSENT = 0, SCRIPT_NULL = 1, SCRIPT_VALUE = 2 };

/* One row image: per column a state and, for values, rowcast's native JSON
 * text of the value at text + off[i], len[i] bytes (not NUL-terminated). */
struct script_image {
	const char *text;	/* value texts back to back */
	const uint32_t *off;	/* per column: start in text */
	const uint32_t *len;	/* per column: length */
	const uint8_t *state;	/* per column: SCRIPT_ABSENT, _NULL or _VALUE */
};

/* The change handed to a script: borrowed, valid during script_run(). */
struct script_change {
	const char *op;		/* "insert", "update", "delete" or "read" (a
				   row a snapshot read: after only) */
	const char *db;		/* database name, NUL-terminated */
	const char *table;	/* table name, NUL-terminated */
	const char *id;		/* the row's event id, or NULL: then the script
				   sees "<gtid or position>@<index>", the
				   native id, made only if it reads it */
	uint64_t index;		/* the row's index in its transaction */
	const char *gtid;	/* GTID text, NULL or "" when none */
	const char *position;	/* "<binlog file>:<offset>" of the transaction */
	uint64_t ts_ms;		/* commit time, ms since the epoch, UTC */
	uint32_t ncols;		/* columns of the table */
	const char *const *names; /* ncols column names, UTF-8, NUL-terminated */
	const uint32_t *name_lens; /* their lengths */
	const struct script_image *before; /* NULL for an insert */
	const struct script_image *after;  /* NULL for a delete */
};

/* A header of a message; both texts borrowed from the script's buffers. */
struct script_header {
	const char *name;	/* header name */
	size_t name_len;
	const char *value;	/* header value */
	size_t value_len;
};

/* One message a script returned; valid until the next script_run() or
 * script_free() on the same script. */
struct script_msg {
	uint32_t index;		/* 0..n-1 in the order returned: ids derive
				   from it ("<row id>/<index>") */
	const char *topic;	/* NULL when the script gave none (the
				   route's topic applies) */
	size_t topic_len;
	const char *key;	/* message key, NULL when none */
	size_t key_len;
	const struct script_header *headers; /* sorted by name */
	size_t nheaders;
	const char *payload;	/* payload bytes, NUL-terminated */
	size_t payload_len;
	bool payload_json;	/* written from a Lua table (JSON text), not
				   a string returned as is */
};

/* How a call ended. */
enum script_status {
	SCRIPT_OK = 0,
	SCRIPT_ERR_RUNTIME,	/* the script raised an error */
	SCRIPT_ERR_MEMORY,	/* the memory cap was reached */
	SCRIPT_ERR_BUDGET,	/* the instruction budget ran out */
	SCRIPT_ERR_RESULT,	/* it returned something that is not messages */
};

/* Counters since script_load(). */
struct script_stats {
	uint64_t calls;		/* script_run() calls */
	uint64_t messages;	/* messages returned by successful calls */
	uint64_t errors;	/* calls that failed, any reason */
	uint64_t memory_errors;	/* of which: memory cap reached */
	uint64_t budget_errors;	/* of which: instruction budget ran out */
	uint64_t bad_chars;	/* invalid UTF-8 bytes written as U+FFFD */
	size_t heap_bytes;	/* Lua heap now */
	size_t heap_peak;	/* the most it held */
};

struct script;

/*
 * Compile the file at path once, in a fresh sandboxed state with the given
 * limits (NULL: defaults), run its top level, and find its function
 * transform(change).  On success *out is a new script the caller frees with
 * script_free().  On failure returns false, *out untouched, and err (may be
 * NULL) names the file and the reason.  Reloading is loading anew: the old
 * script keeps working until the caller swaps and frees it.
 */
bool script_load(const char *path, const struct script_limits *limits,
		 struct script **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Run transform(change).  The script sees c as Lua tables that are valid
 * during the call only: the same tables are refilled for the next row of
 * the same table (read-only to the script, id/before/after made when first
 * read).  On SCRIPT_OK *msgs and *n (0 or more) describe
 * what it returned; they stay valid until the next call on s.  Any other
 * status is an unpublishable row: err holds "<file>:<line>: <reason>"
 * where the script raised it, and s stays usable for the next row (the
 * state is not recreated: Lua unwinds to the call, and after a memory
 * error a full collection frees what the failed call built).
 */
enum script_status script_run(struct script *s, const struct script_change *c,
			      const struct script_msg **msgs, size_t *n,
			      char *err, size_t errlen);

/* The path the script was loaded from. */
const char *script_path(const struct script *s);
void script_get_stats(const struct script *s, struct script_stats *st);
/* Release s and its state; NULL is a no-op. */
void script_free(struct script *s);

#endif
