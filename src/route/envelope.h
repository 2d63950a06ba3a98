/* SPDX-License-Identifier: MIT */
/*
 * Message envelopes: the native message (rowcast-format(7)) or the same row
 * change shaped like the messages of other change-data-capture tools, so
 * their consumers can read rowcast's output unchanged:
 *
 *   ENV_DEBEZIUM     the value of a Debezium 2.x MySQL connector record as
 *                    Kafka's JsonConverter writes it with schemas.enable=false
 *                    (default type mappings, see envelope.c)
 *   ENV_MAXWELL      a Maxwell row message (database, table, type, ts, data,
 *                    old); a snapshot's rows and markers as Maxwell's
 *                    bootstrap-insert, bootstrap-start and -complete
 *   ENV_CLOUDEVENTS  a CloudEvents 1.0 event in structured JSON mode whose
 *                    data is the native message
 *
 * Pure formatting from the source's value texts: no state, and no memory
 * but the growth of the caller's reused buffer.
 */
#ifndef RC_ROUTE_ENVELOPE_H
#define RC_ROUTE_ENVELOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "change/change.h"
#include "config/config.h"		/* enum envelope_kind */

struct envelope_opts {
	enum envelope_kind kind;	/* not ENV_CLOUDEVENTS_BINARY (the router
					   formats that as ENV_NATIVE) */
	bool decimal_string;      /* debezium decimal.handling.mode=string (default precise) */
	const char *server_name;  /* debezium source.name / topic prefix, e.g. "rowcast";
				     NULL: "rowcast" */
	const char *source_uri;   /* cloudevents "source", e.g. "rowcast://db-host:3306";
				     NULL: "rowcast" */
	const char *event_type;   /* cloudevents "type" (already rendered), or NULL:
				     "rowcast.<db>.<table>.<op>" */
	uint32_t server_id;       /* for debezium source.server_id */
};

/* Append one message for row to out (out is reset first).  Pure: no state, no allocation on
 * the hot path beyond out's growth.  file = binlog file name, offset = event offset. */
void envelope_format(struct rc_buf *out, const struct envelope_opts *o, const struct ch_trx *trx,
		     const char *file, uint64_t offset, const struct ch_row *row);

/*
 * The start (end = false) or end marker of the table of trx->snap, a
 * snapshot chunk's transaction, with the given id; rows: the table's rows
 * sent (end marker).  Native: op snapshot-start/-complete; Maxwell:
 * bootstrap-start/-complete; CloudEvents: the native marker as data, type
 * "rowcast.<db>.<table>.snapshot-start" (o->event_type is not used).
 * Returns false, out untouched, for Debezium, which has no such marker.
 */
bool envelope_snapshot_marker(struct rc_buf *out, const struct envelope_opts *o,
			      const struct ch_trx *trx, bool end, uint64_t rows, const char *id);

#endif
