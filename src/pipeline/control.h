/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket (mode 0600) where `rowcast
 * snapshot` and `rowcast status` talk to the running daemon, served by
 * the loop without ever blocking it.  One request line per connection,
 * then reply lines, then the daemon closes.  Also the request parser and
 * the progress text, which the command-line verbs and the log share.
 * The snapshot itself is the source's; this only asks for it.
 */
#ifndef RC_PIPELINE_CONTROL_H
#define RC_PIPELINE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "config/config.h"
#include "pipeline/metrics.h"

#define CONTROL_LINE_MAX 4096		/* bytes of a request line, newline excluded */
#define CONTROL_MAX_CLIENTS 8		/* connections served at once */
#define CONTROL_MAX_TABLES 256		/* tables named in one request */
#define CONTROL_NAME_MAX 64		/* characters of a database or table name */
#define CONTROL_WAIT_S 60		/* a snapshot request waits this long for the reader */
#define CONTROL_IO_S 10			/* to send a request line, or to read a reply */

enum control_verb {
	CONTROL_SNAPSHOT = 1,		/* snapshot [--all] [db.table ...] [--where SQL] */
	CONTROL_STATUS,			/* status */
};

/* One parsed request; its strings point into the line it was parsed from. */
struct control_request {
	enum control_verb verb;
	const char *tables[CONTROL_MAX_TABLES];	/* "db.table" each (ntables) */
	unsigned ntables;
	bool all;			/* every table the filters take */
	const char *where;		/* condition the rows must meet, or NULL */
};

/*
 * Parse a request line of len bytes (its newline, and a CR before it,
 * already removed).  The line is changed in place and rq points into it.
 * False with err saying what is refused: control characters, unknown
 * verbs or options, tables not written db.table (one dot, no backquote,
 * each name at most CONTROL_NAME_MAX characters), a table named twice.
 */
bool control_parse(char *line, size_t len, struct control_request *rq, char *err,
		   size_t errlen);

/*
 * The socket's path for cfg: [snapshot] control_socket, or rowcast.sock
 * in the checkpoint file's folder.  False with err when it does not fit
 * a Unix socket address (107 bytes).
 */
bool control_socket_path(const struct rc_config *cfg, char *out, size_t outlen, char *err,
			 size_t errlen);

/*
 * One line on a snapshot's table, appended to out without a newline:
 * "snapshot 3: db.t: 1200/10000 rows (12.0 %), 37 chunks, 410 rows/s,
 * ETA 21 s, 2 tables left", or "snapshot 3: between tables, 2 tables
 * left" when s->table is "".  Rate and ETA count from when this process
 * began the table (now_ms: wall clock); names have control characters
 * replaced by '?'.
 */
void control_progress_line(const struct metrics_snap *s, int64_t now_ms, struct rc_buf *out);

/* ---- the daemon's side (loop thread) ---- */

struct rc;
struct control;

/*
 * Listen on the control socket of rc->cfg, served by rc->loop; sets
 * rc->ctl, and /metrics' view of the snapshot.  Call with the
 * checkpoint's lock held: a socket file left by a killed daemon is
 * replaced then, one another process listens on is not.  False with the
 * error set on rc (pipeline_set_error).
 */
bool control_start(struct rc *rc);
/* Stop serving: close the clients, then the socket, and remove its file
 * while the checkpoint's lock is still held.  NULL is fine. */
void control_stop(struct control *c);
/* Free what control_start() made, after control_stop() and once no
 * reader thread can answer a request any more.  NULL is fine. */
void control_free(struct control *c);

/* The snapshot's progress as the reader last reported it (a copy of
 * rc->snap taken under its lock); arg is the instance.  Any thread. */
void control_snap_read(void *arg, struct metrics_snap *out);

#endif
