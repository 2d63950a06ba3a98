/* SPDX-License-Identifier: MIT */
/*
 * GTID_TAGGED_LOG_EVENT body, as MySQL 8.3+ writes it with its
 * serialization library (libs/mysql/serialization, "message format" of its
 * readme.md; fields of Gtid_event::define_fields in
 * libs/mysql/binlog/event/control_events.h).  The whole body is one
 * message:
 *
 *   varlen  format version      field id of the top-level message, always 1
 *   varlen  message size        bytes of the whole message, counted from the
 *                               format version byte (this size included)
 *   varlen  last non-ignorable  1 + id of the last encoded field a decoder
 *                               must understand, 0 when all are ignorable
 *   { varlen field id, field data }   ids ascending, optional ones omitted
 *
 * Every varlen is the library's variable-length integer: the count of
 * trailing one bits of the first byte, plus one, is the length (1..9
 * bytes); the value follows that bit pattern and its zero terminator, the
 * rest little-endian (9 bytes: the 8 bytes after 0xff are the value).
 * Signed values are mapped as x >= 0 ? x << 1 : (~x << 1) | 1 first.
 *
 *   id type                 field                       when omitted
 *    0 uint8 varlen         gtid_flags                  1 (may have SBR)
 *    1 16 x uint8 varlen    uuid (each byte a varlen)   an error here
 *    2 int64 varlen         gno                         an error here
 *    3 string (varlen length, <= 32 bytes) tag          ""
 *    4 int64 varlen         last_committed              0
 *    5 int64 varlen         sequence_number             0
 *    6 uint64 varlen        immediate_commit_timestamp  0
 *    7 uint64 varlen        original_commit_timestamp   = field 6
 *    8 uint64 varlen        transaction_length          0
 *    9 uint32 varlen        immediate_server_version    0
 *   10 uint32 varlen        original_server_version     = field 9
 *   11 uint64 varlen        commit_group_ticket         0
 *
 * A field is present when the next id equals its own id; the fields after
 * the last one known here (a newer server's additions) are skipped using
 * the message size, since their types are unknown.  A last non-ignorable
 * id beyond the known fields means the message cannot be read.  Bytes after
 * the message, within the body, are ignored as MySQL ignores them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "source/mysql/gtid_tagged.h"
#include "source/mysql/internal.h"

enum {
	FORMAT_VERSION = 1,	/* serialization_format_version */
	TAG_MAX = 32,		/* mysql::gtid::tag_max_length */
	F_FLAGS = 0, F_UUID, F_GNO, F_TAG, F_LAST_COMMITTED, F_SEQUENCE_NUMBER,
	F_IMMEDIATE_TS, F_ORIGINAL_TS, F_TRX_LENGTH, F_IMMEDIATE_VERSION,
	F_ORIGINAL_VERSION, F_TICKET,
	F_COUNT			/* number of known fields */
};

static const char *const field_name[F_COUNT] = {
	"gtid_flags", "uuid", "gno", "tag", "last_committed", "sequence_number",
	"immediate_commit_timestamp", "original_commit_timestamp",
	"transaction_length", "immediate_server_version",
	"original_server_version", "commit_group_ticket",
};

/* Variable-length unsigned integer of 1..9 bytes. */
static bool rd_varlen(struct rd *r, uint64_t *v)
{
	uint8_t b;
	size_t k = 1;
	uint64_t hi;

	if (r->n < 1)
		return false;
	b = r->p[0];
	while (k < 9 && (b >> (k - 1)) & 1)
		k++;
	if (r->n < k)
		return false;
	if (k == 1) {
		*v = b >> 1;
	} else {
		/* 2..8 bytes: 8 - k value bits in the first byte, the
		 * rest above them; 9 bytes: the 8 bytes are the value */
		hi = le_get(r->p + 1, k - 1);
		*v = k < 9 ? (hi << (8 - k)) | (uint64_t)(b >> k) : hi;
	}
	r->p += k;
	r->n -= k;
	return true;
}

static bool rd_varlen_signed(struct rd *r, int64_t *v)
{
	uint64_t u;

	if (!rd_varlen(r, &u))
		return false;
	/* (u >> 1) for even u, ~(u >> 1) for odd u */
	*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return true;
}

/* A varlen that must fit max (the field's C type in MySQL). */
static bool rd_varlen_max(struct rd *r, uint64_t max, uint64_t *v, bool *range)
{
	if (!rd_varlen(r, v))
		return false;
	*range = *v <= max;
	return true;
}

static bool tag_valid(const char *t, size_t n)
{
	/* mysql::gtid::Tag: [A-Za-z_][A-Za-z0-9_]* */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return false;
	}
	return true;
}

/* The data of field id into g; false with a reason in err. */
static bool read_field(struct rd *r, unsigned id, struct gtid_tagged *g, char *err,
		       size_t errlen)
{
	uint64_t u;
	bool ok = true;

	switch (id) {
	case F_FLAGS:
		if (!rd_varlen_max(r, UINT8_MAX, &u, &ok))
			goto trunc;
		g->flags = (uint8_t)u;
		break;
	case F_UUID:
		/* a fixed-size array: 16 elements, no count, each a varlen */
		for (int i = 0; i < 16; i++) {
			bool one = true;

			if (!rd_varlen_max(r, UINT8_MAX, &u, &one))
				goto trunc;
			ok = ok && one;
			g->uuid[i] = (uint8_t)u;
		}
		break;
	case F_GNO: {
		int64_t s;

		if (!rd_varlen_signed(r, &s))
			goto trunc;
		/* GTID_LOG_EVENT's range: 1 <= gno < INT64_MAX */
		if (s < 1 || s == INT64_MAX) {
			snprintf(err, errlen, "invalid GNO %" PRId64, s);
			return false;
		}
		g->gno = (uint64_t)s;
		break;
	}
	case F_TAG:
		if (!rd_varlen(r, &u))
			goto trunc;
		if (u > TAG_MAX) {
			snprintf(err, errlen, "tag of %" PRIu64 " bytes (at most %d)", u, TAG_MAX);
			return false;
		}
		if (r->n < u)
			goto trunc;
		if (!tag_valid((const char *)r->p, (size_t)u)) {
			snprintf(err, errlen, "invalid characters in the tag");
			return false;
		}
		memcpy(g->tag, r->p, (size_t)u);
		g->tag[u] = '\0';
		rd_skip(r, (size_t)u);
		break;
	case F_LAST_COMMITTED:
		if (!rd_varlen_signed(r, &g->last_committed))
			goto trunc;
		break;
	case F_SEQUENCE_NUMBER:
		if (!rd_varlen_signed(r, &g->sequence_number))
			goto trunc;
		break;
	case F_IMMEDIATE_TS:
		if (!rd_varlen(r, &g->immediate_commit_ts))
			goto trunc;
		break;
	case F_ORIGINAL_TS:
		if (!rd_varlen(r, &g->original_commit_ts))
			goto trunc;
		break;
	case F_TRX_LENGTH:
		if (!rd_varlen(r, &g->transaction_length))
			goto trunc;
		break;
	case F_IMMEDIATE_VERSION:
		if (!rd_varlen_max(r, UINT32_MAX, &u, &ok))
			goto trunc;
		g->immediate_server_version = (uint32_t)u;
		break;
	case F_ORIGINAL_VERSION:
		if (!rd_varlen_max(r, UINT32_MAX, &u, &ok))
			goto trunc;
		g->original_server_version = (uint32_t)u;
		break;
	case F_TICKET:
		if (!rd_varlen(r, &g->commit_group_ticket))
			goto trunc;
		break;
	}
	if (!ok) {
		snprintf(err, errlen, "%s out of range", field_name[id]);
		return false;
	}
	return true;
trunc:
	snprintf(err, errlen, "%s runs past the end of the message", field_name[id]);
	return false;
}

bool gtid_tagged_parse(const uint8_t *p, size_t n, struct gtid_tagged *out, char *err, size_t errlen)
{
	struct rd r = { p, n };
	struct gtid_tagged g;
	bool seen[F_COUNT] = { false };
	uint64_t version, size, last_ni;
	size_t head;

	if (errlen)
		err[0] = '\0';
	memset(&g, 0, sizeof(g));
	g.flags = 1;	/* the Gtid_event constructor's FLAG_MAY_HAVE_SBR */

	/* Serializer::operator>> -> decode_serializable_metadata */
	if (!rd_varlen(&r, &version))
		goto trunc;
	if (version != FORMAT_VERSION) {
		snprintf(err, errlen, "unsupported serialization format version %" PRIu64, version);
		return false;
	}
	if (!rd_varlen(&r, &size) || !rd_varlen(&r, &last_ni))
		goto trunc;
	head = n - r.n;
	if (size > n) {
		snprintf(err, errlen, "message of %" PRIu64 " bytes in a body of %zu: truncated",
			 size, n);
		return false;
	}
	if (size < head) {
		snprintf(err, errlen, "message size %" PRIu64 " is smaller than its header", size);
		return false;
	}
	if (last_ni > F_COUNT) {
		snprintf(err, errlen, "unknown non-ignorable field %" PRIu64 " (this reader knows %d)",
			 last_ni - 1, F_COUNT);
		return false;
	}
	r.n = (size_t)size - head;	/* fields stay inside the message */

	/* Serializer::decode_serializable_fields: one pass in id order */
	for (unsigned id = 0; id < F_COUNT && r.n > 0; id++) {
		struct rd peek = r;
		uint64_t got;

		if (!rd_varlen(&peek, &got)) {
			snprintf(err, errlen, "field id runs past the end of the message");
			return false;
		}
		if (got < id) {
			snprintf(err, errlen, "field %" PRIu64 " out of order (after %u)", got,
				 id - 1);
			return false;
		}
		if (got != id)
			continue;	/* this one omitted */
		r = peek;
		if (!read_field(&r, id, &g, err, errlen))
			return false;
		seen[id] = true;
	}
	/* whatever is left are fields of a newer server: skipped */

	if (!seen[F_UUID] || !seen[F_GNO]) {
		snprintf(err, errlen, "no %s field", seen[F_UUID] ? "gno" : "uuid");
		return false;
	}
	/* the Field_missing_functors */
	if (!seen[F_ORIGINAL_TS])
		g.original_commit_ts = g.immediate_commit_ts;
	if (!seen[F_ORIGINAL_VERSION])
		g.original_server_version = g.immediate_server_version;
	if (!seen[F_TICKET])
		g.commit_group_ticket = 0;	/* kGroupTicketUnset */
	*out = g;
	return true;
trunc:
	snprintf(err, errlen, "message header truncated");
	return false;
}

void gtid_tagged_text(const struct gtid_tagged *g, char *out, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	char uuid[37];
	int k = 0;

	if (len == 0)
		return;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			uuid[k++] = '-';
		uuid[k++] = hx[g->uuid[i] >> 4];
		uuid[k++] = hx[g->uuid[i] & 15];
	}
	uuid[k] = '\0';
	if (g->tag[0] != '\0')
		snprintf(out, len, "%s:%.32s:%" PRIu64, uuid, g->tag, g->gno);
	else
		snprintf(out, len, "%s:%" PRIu64, uuid, g->gno);
}
