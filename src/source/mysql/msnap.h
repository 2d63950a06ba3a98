/* SPDX-License-Identifier: MIT */
/*
 * The MariaDB source's snapshots: existing rows of chosen tables, read in
 * chunks by key beside the live stream and handed over as transactions of
 * CH_READ rows.  A chunk is the table at the binlog point P of its read
 * view (snapshot.h); it goes out when the binlog reader has passed P,
 * without the rows whose key the reader saw change meanwhile (the change,
 * newer, was handed over instead).  So no row of a chunk is older than a
 * change of the same key handed over before it, and a consumer applying
 * read rows as upserts ends with the table's rows.
 *
 * What is left to read is part of the source's position (struct
 * snap_pos): tables waiting, the first one's last key and largest key,
 * moved by the steps of the chunks' commits like a GTID, so the checkpoint
 * holds the acknowledged progress and a restart reads on from there.
 */
#ifndef RC_SOURCE_MYSQL_MSNAP_H
#define RC_SOURCE_MYSQL_MSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "change/change.h"
#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "source/snappos.h"
#include "source/source.h"

struct msnap;

/* How the driver hands a chunk's transaction over (the source's own
 * callbacks wrap the step into a position step). */
struct msnap_out {
	bool (*begin)(void *ctx, const struct ch_trx *trx);
	bool (*row)(void *ctx, const struct ch_trx *trx, const struct ch_row *row,
		    const char *log, uint64_t offset);
	/* step: snapshot text for snap_pos_apply() */
	bool (*commit)(void *ctx, const struct ch_trx *trx, const char *step, size_t len);
	void *ctx;
};

struct msnap *msnap_new(const struct rc_config *cfg, const struct source_callbacks *cb,
			const struct msnap_out *out);
void msnap_free(struct msnap *s);

/* Any thread: queue a request; taken by msnap_step(). */
bool msnap_request(struct msnap *s, const struct source_snap_request *rq, char *err,
		   size_t errlen);

/* What msnap_step() came to. */
enum msnap_result {
	MSNAP_OK = 0,		/* read the binlog on */
	MSNAP_STOPPED,		/* a callback said stop */
	MSNAP_DONE,		/* nothing is left and initial_only: end the run */
	MSNAP_FATAL,		/* err says why */
};

/*
 * Between transactions of the binlog: take requests, hand over a chunk the
 * reader has passed the point of (it is at file:offset), and read the
 * next one.  pos is the read position's snapshot part (what was handed
 * over), which the out->commit steps move.
 */
enum msnap_result msnap_step(struct msnap *s, const struct snap_pos *pos, const char *file,
			     uint64_t offset, char *err, size_t errlen);

/* A row change of the binlog (between a chunk's read and its hand-over,
 * its key drops the chunk's row). */
void msnap_row_seen(struct msnap *s, const struct ch_row *row);
/* A DDL statement in the binlog: a chunk read before it is read again. */
void msnap_ddl_seen(struct msnap *s);
/* Is a chunk waiting for the reader to pass its point? */
bool msnap_holding(const struct msnap *s);
/* Drop the snapshot connection (the replica connection failed: a chunk
 * waiting is read again after the reconnect). */
void msnap_reset(struct msnap *s);

#endif
