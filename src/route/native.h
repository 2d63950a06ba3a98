/* SPDX-License-Identifier: MIT */
/*
 * The native message format (documented in rowcast-format(7)) and the
 * default MQTT topic.  Pure formatting: writes into the caller's reused
 * buffers and keeps no state.
 */
#ifndef RC_ROUTE_NATIVE_H
#define RC_ROUTE_NATIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "change/change.h"

/* The event id: "<trx id>@<n>", the trx id being its GTID, or
 * "<file>:<offset>" without GTIDs. */
void native_event_id(struct rc_buf *out, const struct ch_trx *trx, uint64_t index);

/* The whole message for one row change; out is reset first.  A row of a
 * snapshot chunk (trx->snap) ends with "snapshot":{id, on_demand, chunk}. */
void native_format(struct rc_buf *out, const struct ch_trx *trx, const struct ch_row *row);

/* A snapshot marker's id, appended: "snapshot-<id>-<db>.<table>-start"
 * (end = false) or "...-complete". */
void native_snapshot_marker_id(struct rc_buf *out, const struct ch_snap *snap, bool end);

/* The start or end marker of trx->snap's table (rowcast-format(7),
 * SNAPSHOTS) with the given id; rows: the table's rows sent (end only).
 * out is reset first. */
void native_snapshot_marker(struct rc_buf *out, const struct ch_trx *trx, bool end, uint64_t rows,
			    const char *id);

/* "<prefix>/<db>/<table>" with db and table escaped for MQTT topics. */
void native_topic(struct rc_buf *out, const char *prefix, const char *db, const char *table);

/* Append s to out, percent-encoding what may not stand in an MQTT topic
 * level: '/', '+', '#', NUL, '%', and a leading '$'. */
void topic_escape(struct rc_buf *out, const char *s, size_t n);

#endif
