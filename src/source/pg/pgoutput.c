/* SPDX-License-Identifier: MIT */
/*
 * pgoutput and replication-frame parser (see pgoutput.h).  A bounded reader
 * walks the buffer; the first failed read records its offset and what was
 * being read, and every later read fails, so a parser function checks once
 * at its end.  Nothing here allocates except the parser's reusable arrays.
 */
#include "source/pg/pgoutput.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded cursor over one buffer. */
struct rd {
	const uint8_t *p;	/* start of the buffer */
	size_t n;		/* its length */
	size_t pos;		/* next byte to read */
	bool failed;		/* a read failed: err is filled */
	struct pgo_error *err;	/* where failures go, may be NULL */
};

static void rd_fail(struct rd *r, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rd_fail(struct rd *r, size_t at, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (r->failed)
		return;
	r->failed = true;
	if (!r->err)
		return;
	r->err->offset = at;
	k = snprintf(r->err->msg, sizeof(r->err->msg), "offset %zu: ", at);
	if (k < 0 || (size_t)k >= sizeof(r->err->msg))
		return;
	va_start(ap, fmt);
	vsnprintf(r->err->msg + k, sizeof(r->err->msg) - (size_t)k, fmt, ap);
	va_end(ap);
}

/* Take n bytes; NULL (and the reader failed) when fewer remain. */
static const uint8_t *rd_take(struct rd *r, size_t n, const char *what)
{
	const uint8_t *q;

	if (r->failed)
		return NULL;
	if (r->n - r->pos < n) {
		rd_fail(r, r->pos, "truncated %s: %zu bytes needed, %zu left", what, n,
			r->n - r->pos);
		return NULL;
	}
	q = r->p + r->pos;
	r->pos += n;
	return q;
}

static uint8_t rd_u8(struct rd *r, const char *what)
{
	const uint8_t *q = rd_take(r, 1, what);

	return q ? q[0] : 0;
}

static uint16_t rd_u16(struct rd *r, const char *what)
{
	const uint8_t *q = rd_take(r, 2, what);

	return q ? (uint16_t)(q[0] << 8 | q[1]) : 0;
}

static uint32_t rd_u32(struct rd *r, const char *what)
{
	const uint8_t *q = rd_take(r, 4, what);

	return q ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3] : 0;
}

static uint64_t rd_u64(struct rd *r, const char *what)
{
	uint64_t hi = rd_u32(r, what);

	return hi << 32 | rd_u32(r, what);
}

/* A NUL-terminated string. */
static struct pgo_str rd_str(struct rd *r, const char *what)
{
	struct pgo_str s = { "", 0 };
	const uint8_t *end;

	if (r->failed)
		return s;
	end = memchr(r->p + r->pos, '\0', r->n - r->pos);
	if (!end) {
		rd_fail(r, r->pos, "unterminated string (%s)", what);
		return s;
	}
	s.p = (const char *)r->p + r->pos;
	s.len = (size_t)(end - (r->p + r->pos));
	r->pos += s.len + 1;
	return s;
}

/* Grow *arr (of elem-sized entries) to at least want entries. */
static bool grow(void **arr, size_t *cap, size_t want, size_t elem)
{
	void *q;
	size_t ncap;

	if (want <= *cap)
		return true;
	ncap = *cap ? *cap : 16;
	while (ncap < want)
		ncap *= 2;
	q = realloc(*arr, ncap * elem);
	if (!q)
		return false;
	*arr = q;
	*cap = ncap;
	return true;
}

/* A TupleData into (*cols, *cap). */
static void rd_tuple(struct rd *r, struct pgo_col **cols, size_t *cap, struct pgo_tuple *t)
{
	uint16_t n = rd_u16(r, "TupleData column count");

	t->ncols = 0;
	t->cols = NULL;
	if (r->failed)
		return;
	/* each column takes at least one byte: refuse counts the buffer can't hold */
	if (n > r->n - r->pos) {
		rd_fail(r, r->pos - 2, "TupleData claims %u columns, only %zu bytes left", n,
			r->n - r->pos);
		return;
	}
	if (!grow((void **)cols, cap, n ? n : 1, sizeof(**cols))) {
		rd_fail(r, r->pos, "out of memory for %u columns", n);
		return;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct pgo_col *c = &(*cols)[i];
		size_t at = r->pos;
		uint8_t k = rd_u8(r, "column kind");

		if (r->failed)
			return;
		c->kind = (char)k;
		c->len = 0;
		c->data = NULL;
		switch (k) {
		case 'n':
		case 'u':
			break;
		case 't':
		case 'b': {
			uint32_t len = rd_u32(r, "column length");
			const uint8_t *d;

			if (r->failed)
				return;
			if (len > INT32_MAX) {
				rd_fail(r, r->pos - 4, "column %u length %u out of range", i, len);
				return;
			}
			d = rd_take(r, len, "column value");
			if (!d)
				return;
			c->len = len;
			c->data = (const char *)d;
			break;
		}
		default:
			rd_fail(r, at, "unknown column kind 0x%02x in column %u", k, i);
			return;
		}
	}
	t->ncols = n;
	t->cols = *cols;
}

/* Expect the byte 'N' before a new tuple. */
static void rd_expect(struct rd *r, char want, const char *what)
{
	size_t at = r->pos;
	uint8_t c = rd_u8(r, what);

	if (!r->failed && c != (uint8_t)want)
		rd_fail(r, at, "expected '%c' (%s), got 0x%02x", want, what, c);
}

static void parse_relation(struct pgo_parser *ps, struct rd *r, struct pgo_msg *m)
{
	uint16_t n;

	m->u.relation.relid = rd_u32(r, "relation OID");
	m->u.relation.nspname = rd_str(r, "namespace");
	m->u.relation.relname = rd_str(r, "relation name");
	{
		size_t at = r->pos;
		uint8_t ri = rd_u8(r, "replica identity");

		if (!r->failed && ri != 'd' && ri != 'n' && ri != 'f' && ri != 'i')
			rd_fail(r, at, "unknown replica identity 0x%02x", ri);
		m->u.relation.replident = (char)ri;
	}
	n = rd_u16(r, "column count");
	m->u.relation.ncols = 0;
	m->u.relation.cols = NULL;
	if (r->failed)
		return;
	/* a column takes at least 10 bytes */
	if ((size_t)n * 10 > r->n - r->pos) {
		rd_fail(r, r->pos - 2, "Relation claims %u columns, only %zu bytes left", n,
			r->n - r->pos);
		return;
	}
	if (!grow((void **)&ps->relcols, &ps->relcols_cap, n ? n : 1, sizeof(*ps->relcols))) {
		rd_fail(r, r->pos, "out of memory for %u columns", n);
		return;
	}
	for (uint16_t i = 0; i < n && !r->failed; i++) {
		struct pgo_relcol *c = &ps->relcols[i];

		c->flags = rd_u8(r, "column flags");
		c->name = rd_str(r, "column name");
		c->type_oid = rd_u32(r, "column type OID");
		c->typmod = (int32_t)rd_u32(r, "column type modifier");
	}
	if (r->failed)
		return;
	m->u.relation.ncols = n;
	m->u.relation.cols = ps->relcols;
}

/* Old tuple ('K'/'O') if present; then the new tuple when want_new. */
static void parse_change(struct pgo_parser *ps, struct rd *r, struct pgo_msg *m, bool want_new,
			 bool old_required)
{
	size_t at;
	uint8_t c;

	m->u.change.relid = rd_u32(r, "relation OID");
	m->u.change.old_kind = 0;
	m->u.change.old.ncols = 0;
	m->u.change.old.cols = NULL;
	m->u.change.new.ncols = 0;
	m->u.change.new.cols = NULL;
	if (m->kind == PGO_INSERT) {
		rd_expect(r, 'N', "new tuple marker");
		rd_tuple(r, &ps->cols, &ps->cols_cap, &m->u.change.new);
		return;
	}
	at = r->pos;
	c = rd_u8(r, "tuple marker");
	if (r->failed)
		return;
	if (c == 'K' || c == 'O') {
		m->u.change.old_kind = (char)c;
		rd_tuple(r, &ps->old_cols, &ps->old_cols_cap, &m->u.change.old);
		if (!want_new)
			return;
		rd_expect(r, 'N', "new tuple marker");
	} else if (old_required) {
		rd_fail(r, at, "expected 'K' or 'O' (old tuple marker), got 0x%02x", c);
		return;
	} else if (c != 'N') {
		rd_fail(r, at, "expected 'K', 'O' or 'N' (tuple marker), got 0x%02x", c);
		return;
	}
	rd_tuple(r, &ps->cols, &ps->cols_cap, &m->u.change.new);
}

bool pgo_parse(struct pgo_parser *ps, const uint8_t *p, size_t n, struct pgo_msg *m,
	       struct pgo_error *err)
{
	struct rd r = { .p = p, .n = n, .err = err };
	uint8_t kind;

	memset(m, 0, sizeof(*m));
	kind = rd_u8(&r, "message kind");
	if (r.failed)
		goto out;
	m->kind = (char)kind;
	/* inside a stream block, data messages carry the transaction id first */
	if (ps->in_stream && kind && strchr("RYIUDTM", kind)) {
		m->has_xid = true;
		m->xid = rd_u32(&r, "streamed transaction id");
	}
	switch (kind) {
	case PGO_BEGIN:
		m->u.begin.final_lsn = rd_u64(&r, "Begin final LSN");
		m->u.begin.commit_time = (int64_t)rd_u64(&r, "Begin commit time");
		m->has_xid = true;
		m->xid = rd_u32(&r, "Begin xid");
		break;
	case PGO_COMMIT:
		m->u.commit.flags = rd_u8(&r, "Commit flags");
		m->u.commit.commit_lsn = rd_u64(&r, "Commit LSN");
		m->u.commit.end_lsn = rd_u64(&r, "Commit end LSN");
		m->u.commit.commit_time = (int64_t)rd_u64(&r, "Commit time");
		break;
	case PGO_ORIGIN:
		m->u.origin.commit_lsn = rd_u64(&r, "Origin commit LSN");
		m->u.origin.name = rd_str(&r, "origin name");
		break;
	case PGO_RELATION:
		parse_relation(ps, &r, m);
		break;
	case PGO_TYPE:
		m->u.type.oid = rd_u32(&r, "type OID");
		m->u.type.nspname = rd_str(&r, "type namespace");
		m->u.type.name = rd_str(&r, "type name");
		break;
	case PGO_INSERT:
		parse_change(ps, &r, m, true, false);
		break;
	case PGO_UPDATE:
		parse_change(ps, &r, m, true, false);
		break;
	case PGO_DELETE:
		parse_change(ps, &r, m, false, true);
		break;
	case PGO_TRUNCATE: {
		uint32_t nrels = rd_u32(&r, "Truncate relation count");

		m->u.truncate.options = rd_u8(&r, "Truncate options");
		if (r.failed)
			break;
		if (nrels > (r.n - r.pos) / 4) {
			rd_fail(&r, r.pos, "Truncate claims %u relations, only %zu bytes left", nrels,
				r.n - r.pos);
			break;
		}
		m->u.truncate.nrels = nrels;
		m->u.truncate.relids = rd_take(&r, (size_t)nrels * 4, "Truncate relation OIDs");
		break;
	}
	case PGO_MESSAGE: {
		uint32_t len;
		const uint8_t *d;

		m->u.message.flags = rd_u8(&r, "Message flags");
		m->u.message.lsn = rd_u64(&r, "Message LSN");
		m->u.message.prefix = rd_str(&r, "Message prefix");
		len = rd_u32(&r, "Message length");
		d = rd_take(&r, len, "Message content");
		if (d) {
			m->u.message.content.p = (const char *)d;
			m->u.message.content.len = len;
		}
		break;
	}
	case PGO_STREAM_START:
		m->has_xid = true;
		m->xid = rd_u32(&r, "Stream Start xid");
		m->u.stream_start.first_segment = rd_u8(&r, "Stream Start first-segment flag") == 1;
		if (!r.failed)
			ps->in_stream = true;
		break;
	case PGO_STREAM_STOP:
		ps->in_stream = false;
		break;
	case PGO_STREAM_COMMIT:
		m->has_xid = true;
		m->xid = rd_u32(&r, "Stream Commit xid");
		m->u.commit.flags = rd_u8(&r, "Stream Commit flags");
		m->u.commit.commit_lsn = rd_u64(&r, "Stream Commit LSN");
		m->u.commit.end_lsn = rd_u64(&r, "Stream Commit end LSN");
		m->u.commit.commit_time = (int64_t)rd_u64(&r, "Stream Commit time");
		break;
	case PGO_STREAM_ABORT:
		m->has_xid = true;
		m->xid = rd_u32(&r, "Stream Abort xid");
		m->u.stream_abort.subxid = rd_u32(&r, "Stream Abort subxid");
		break;
	default:
		if (kind >= 0x20 && kind < 0x7f)
			rd_fail(&r, 0, "unknown pgoutput message kind '%c'", kind);
		else
			rd_fail(&r, 0, "unknown pgoutput message kind 0x%02x", kind);
		break;
	}
	if (!r.failed && r.pos != r.n)
		rd_fail(&r, r.pos, "%zu trailing bytes after '%c' message", r.n - r.pos, kind);
out:
	if (r.failed) {
		m->kind = 0;
		return false;
	}
	return true;
}

bool pgo_parse_frame(const uint8_t *p, size_t n, struct pgo_frame *f, struct pgo_error *err)
{
	struct rd r = { .p = p, .n = n, .err = err };
	uint8_t kind;

	memset(f, 0, sizeof(*f));
	kind = rd_u8(&r, "frame kind");
	if (r.failed)
		goto out;
	f->kind = (char)kind;
	switch (kind) {
	case 'w':
		f->u.xlog.start_lsn = rd_u64(&r, "XLogData start LSN");
		f->u.xlog.end_lsn = rd_u64(&r, "XLogData end LSN");
		f->u.xlog.send_time = (int64_t)rd_u64(&r, "XLogData send time");
		if (r.failed)
			break;
		f->u.xlog.data = p + r.pos;
		f->u.xlog.len = n - r.pos;
		r.pos = n;
		break;
	case 'k': {
		size_t at;
		uint8_t rr;

		f->u.keepalive.end_lsn = rd_u64(&r, "keepalive end LSN");
		f->u.keepalive.send_time = (int64_t)rd_u64(&r, "keepalive send time");
		at = r.pos;
		rr = rd_u8(&r, "keepalive reply flag");
		if (!r.failed && rr > 1)
			rd_fail(&r, at, "keepalive reply flag %u is not 0 or 1", rr);
		f->u.keepalive.reply_requested = rr == 1;
		if (!r.failed && r.pos != r.n)
			rd_fail(&r, r.pos, "%zu trailing bytes after keepalive", r.n - r.pos);
		break;
	}
	default:
		if (kind >= 0x20 && kind < 0x7f)
			rd_fail(&r, 0, "unknown replication frame kind '%c'", kind);
		else
			rd_fail(&r, 0, "unknown replication frame kind 0x%02x", kind);
		break;
	}
out:
	if (r.failed) {
		f->kind = 0;
		return false;
	}
	return true;
}

static void put_u64(uint8_t *q, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		q[i] = (uint8_t)v;
		v >>= 8;
	}
}

void pgo_build_status_update(uint8_t out[PGO_STATUS_UPDATE_LEN], uint64_t write_lsn,
			     uint64_t flush_lsn, uint64_t apply_lsn, int64_t now_us,
			     bool reply_requested)
{
	out[0] = 'r';
	put_u64(out + 1, write_lsn);
	put_u64(out + 9, flush_lsn);
	put_u64(out + 17, apply_lsn);
	put_u64(out + 25, (uint64_t)now_us);
	out[33] = reply_requested ? 1 : 0;
}

void pgo_parser_free(struct pgo_parser *ps)
{
	if (!ps)
		return;
	free(ps->cols);
	free(ps->old_cols);
	free(ps->relcols);
	memset(ps, 0, sizeof(*ps));
}
