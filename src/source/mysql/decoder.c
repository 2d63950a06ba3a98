/* SPDX-License-Identifier: MIT */
/*
 * Event framing and transaction tracking: checksums, FORMAT_DESCRIPTION,
 * ROTATE, GTIDs of both servers, BEGIN/COMMIT/XID and DDL boundaries.
 * Rows and table maps are in rows.c and tablemap.c.  An event this code
 * does not know stops decoding unless the server marked it ignorable.
 */
#include "source/mysql/decoder.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libdeflate.h>
#include <zstd.h>

#include "base/log.h"
#include "source/mysql/charset.h"
#include "source/mysql/gtid_tagged.h"
#include "source/mysql/internal.h"

struct decoder *decoder_new(const struct dec_callbacks *cb)
{
	struct decoder *d = calloc(1, sizeof(*d));

	if (!d)
		log_oom();
	d->cb = *cb;
	d->checksum = -1;
	return d;
}

void decoder_free(struct decoder *d)
{
	if (!d)
		return;
	tablemap_free_all(d);
	for (int i = 0; i < 2; i++) {
		ch_image_free(&d->img[i].v);
		free(d->img[i].raw);
		free(d->img[i].rawlen);
		free(d->bitmap[i]);
	}
	buf_free(&d->scratch);
	buf_free(&d->query_utf8);
	buf_free(&d->payload_buf);
	ZSTD_freeDCtx(d->zstd);
	free(d);
}

void decoder_set_file(struct decoder *d, const char *file, uint64_t offset)
{
	if (file && file != d->file)
		snprintf(d->file, sizeof(d->file), "%s", file);
	d->next_offset = offset;
}

const char *decoder_file(const struct decoder *d)
{
	return d->file;
}

uint64_t decoder_offset(const struct decoder *d)
{
	return d->in_payload ? d->payload_offset : d->offset;
}

uint64_t decoder_next_offset(const struct decoder *d)
{
	return d->next_offset;
}

bool decoder_in_trx(const struct decoder *d)
{
	return d->trx.active;
}

void decoder_expect_checksum(struct decoder *d, bool crc32)
{
	d->checksum = crc32 ? 1 : 0;
}

uint64_t decoder_ignored(const struct decoder *d)
{
	return d->ignored;
}

uint64_t decoder_bad_chars(const struct decoder *d)
{
	return d->vstats.bad_chars;
}

const char *decoder_event_name(uint8_t type)
{
	switch (type) {
	case EV_START_V3: return "START_V3";
	case EV_QUERY: return "QUERY";
	case EV_STOP: return "STOP";
	case EV_ROTATE: return "ROTATE";
	case EV_INTVAR: return "INTVAR";
	case EV_SLAVE: return "SLAVE";
	case EV_APPEND_BLOCK: return "APPEND_BLOCK";
	case EV_DELETE_FILE: return "DELETE_FILE";
	case EV_RAND: return "RAND";
	case EV_USER_VAR: return "USER_VAR";
	case EV_FORMAT_DESCRIPTION: return "FORMAT_DESCRIPTION";
	case EV_XID: return "XID";
	case EV_BEGIN_LOAD_QUERY: return "BEGIN_LOAD_QUERY";
	case EV_EXECUTE_LOAD_QUERY: return "EXECUTE_LOAD_QUERY";
	case EV_TABLE_MAP: return "TABLE_MAP";
	case EV_WRITE_ROWS_V0: return "WRITE_ROWS_V0";
	case EV_UPDATE_ROWS_V0: return "UPDATE_ROWS_V0";
	case EV_DELETE_ROWS_V0: return "DELETE_ROWS_V0";
	case EV_WRITE_ROWS_V1: return "WRITE_ROWS_V1";
	case EV_UPDATE_ROWS_V1: return "UPDATE_ROWS_V1";
	case EV_DELETE_ROWS_V1: return "DELETE_ROWS_V1";
	case EV_INCIDENT: return "INCIDENT";
	case EV_HEARTBEAT: return "HEARTBEAT";
	case EV_IGNORABLE: return "IGNORABLE";
	case EV_ROWS_QUERY: return "ROWS_QUERY";
	case EV_WRITE_ROWS_V2: return "WRITE_ROWS_V2";
	case EV_UPDATE_ROWS_V2: return "UPDATE_ROWS_V2";
	case EV_DELETE_ROWS_V2: return "DELETE_ROWS_V2";
	case EV_GTID: return "GTID";
	case EV_ANONYMOUS_GTID: return "ANONYMOUS_GTID";
	case EV_PREVIOUS_GTIDS: return "PREVIOUS_GTIDS";
	case EV_TRANSACTION_CONTEXT: return "TRANSACTION_CONTEXT";
	case EV_VIEW_CHANGE: return "VIEW_CHANGE";
	case EV_XA_PREPARE: return "XA_PREPARE";
	case EV_PARTIAL_UPDATE_ROWS: return "PARTIAL_UPDATE_ROWS";
	case EV_TRANSACTION_PAYLOAD: return "TRANSACTION_PAYLOAD";
	case EV_HEARTBEAT_V2: return "HEARTBEAT_V2";
	case EV_GTID_TAGGED: return "GTID_TAGGED";
	case EV_ANNOTATE_ROWS: return "ANNOTATE_ROWS";
	case EV_BINLOG_CHECKPOINT: return "BINLOG_CHECKPOINT";
	case EV_MARIA_GTID: return "GTID(MariaDB)";
	case EV_GTID_LIST: return "GTID_LIST";
	case EV_START_ENCRYPTION: return "START_ENCRYPTION";
	case EV_QUERY_COMPRESSED: return "QUERY_COMPRESSED";
	case EV_WRITE_ROWS_COMPRESSED_V1: return "WRITE_ROWS_COMPRESSED_V1";
	case EV_UPDATE_ROWS_COMPRESSED_V1: return "UPDATE_ROWS_COMPRESSED_V1";
	case EV_DELETE_ROWS_COMPRESSED_V1: return "DELETE_ROWS_COMPRESSED_V1";
	case EV_WRITE_ROWS_COMPRESSED: return "WRITE_ROWS_COMPRESSED";
	case EV_UPDATE_ROWS_COMPRESSED: return "UPDATE_ROWS_COMPRESSED";
	case EV_DELETE_ROWS_COMPRESSED: return "DELETE_ROWS_COMPRESSED";
	}
	return "unknown";
}

/* Post-header length the FDE gave for type, or def before any FDE. */
static uint8_t ph_len(const struct decoder *d, uint8_t type, uint8_t def)
{
	if (type >= 1 && type - 1u < d->n_post)
		return d->post_header[type - 1];
	return def;
}

/* Server version "X.Y.Z..." at least major.minor.patch? */
static bool version_at_least(const char *v, int ma, int mi, int pa)
{
	int a = 0, b = 0, c = 0;

	sscanf(v, "%d.%d.%d", &a, &b, &c);
	if (a != ma)
		return a > ma;
	if (b != mi)
		return b > mi;
	return c >= pa;
}

static bool parse_fde(struct decoder *d, const uint8_t *ev, size_t len, char *err, size_t errlen)
{
	const uint8_t *b = ev + EV_HEADER_LEN;
	size_t n = len - EV_HEADER_LEN;
	size_t fixed = 2 + 50 + 4 + 1;
	bool has_alg;
	size_t npost;

	if (n < fixed) {
		snprintf(err, errlen, "FORMAT_DESCRIPTION truncated");
		return false;
	}
	memcpy(d->server_version, b + 2, 50);
	d->server_version[50] = '\0';
	d->mariadb = strstr(d->server_version, "MariaDB") != NULL;
	if (b[56] != EV_HEADER_LEN) {
		snprintf(err, errlen, "FORMAT_DESCRIPTION: header length %u is not 19", b[56]);
		return false;
	}
	/* Checksum-aware servers (MySQL 5.6.1+, MariaDB 5.3+) end it with
	 * the algorithm byte, then the CRC when the algorithm is CRC32. */
	has_alg = d->mariadb ? version_at_least(d->server_version, 5, 3, 0) :
			       version_at_least(d->server_version, 5, 6, 1);
	npost = n - fixed;
	if (has_alg) {
		uint8_t alg;

		/* the algorithm byte, then 4 bytes of CRC (present even
		 * when the algorithm is OFF) */
		if (npost < 5) {
			snprintf(err, errlen, "FORMAT_DESCRIPTION truncated");
			return false;
		}
		alg = ev[len - 5];
		npost -= 5;
		if (alg != 0 && alg != 1) {
			snprintf(err, errlen, "FORMAT_DESCRIPTION: unknown checksum algorithm %u", alg);
			return false;
		}
		d->checksum = alg;
	} else {
		d->checksum = 0;
	}
	if (npost > sizeof(d->post_header))
		npost = sizeof(d->post_header);
	memcpy(d->post_header, b + fixed, npost);
	d->n_post = (unsigned)npost;
	d->have_fde = true;
	return true;
}

/* A FDE's CRC, tried with and without the in-use flag (the server sets
 * that flag in the file after computing the checksum). */
static bool fde_crc_ok(const uint8_t *ev, size_t len)
{
	uint32_t want = (uint32_t)le_get(ev + len - 4, 4);
	uint32_t crc = libdeflate_crc32(0, ev, len - 4);
	uint8_t hdr[EV_HEADER_LEN];

	if (crc == want)
		return true;
	memcpy(hdr, ev, EV_HEADER_LEN);
	hdr[17] &= (uint8_t)~EV_FLAG_IN_USE;
	crc = libdeflate_crc32(0, hdr, EV_HEADER_LEN);
	crc = libdeflate_crc32(crc, ev + EV_HEADER_LEN, len - 4 - EV_HEADER_LEN);
	return crc == want;
}

/* A callback returned false: the feed ends, without an error. */
static bool stop(struct decoder *d)
{
	d->stopped = true;
	return false;
}

static bool commit(struct decoder *d, const uint8_t *hdr)
{
	bool ok = true;

	(void)hdr;
	if (d->cb.on_commit)
		ok = d->cb.on_commit(d->cb.ctx, &d->trx, d->file, d->next_offset);
	if (!ok)
		d->stopped = true;
	d->trx.active = false;
	d->trx.xa_prepare = false;
	d->trx.xa_held = false;
	d->trx.xa_one_phase = false;
	d->trx.xa_outcome = 0;
	d->trx.xid[0] = '\0';
	d->trx.ch.gtid[0] = '\0';
	d->trx.ch.id[0] = '\0';
	d->in_begin = false;
	d->gtid_expects_begin = false;
	tablemap_end_statement(d);
	return ok;
}

static bool begin(struct decoder *d, const uint8_t *hdr)
{
	d->trx.active = true;
	d->trx.ch.nrows = 0;
	d->trx.start_offset = d->offset;
	/* what names it across restarts: its GTID, else where it starts */
	if (d->trx.ch.gtid[0])
		memcpy(d->trx.ch.id, d->trx.ch.gtid, sizeof(d->trx.ch.gtid));
	else
		snprintf(d->trx.ch.id, sizeof(d->trx.ch.id), "%.270s:%llu", d->file,
			 (unsigned long long)d->trx.start_offset);
	if (d->trx.ch.ts_ms == 0)
		d->trx.ch.ts_ms = le_get(hdr, 4) * 1000;
	if (d->cb.on_begin && !d->cb.on_begin(d->cb.ctx, &d->trx))
		return stop(d);
	return true;
}

/* Skip leading white space and comments of a statement. */
static const char *stmt_start(const char *q, size_t n, size_t *left)
{
	const char *end;

	if (!q) {
		*left = 0;
		return "";
	}
	end = q + n;

	while (q < end) {
		if (isspace((unsigned char)*q)) {
			q++;
		} else if (end - q >= 2 && q[0] == '/' && q[1] == '*') {
			/* MySQL's executable comments start statements in dumps */
			if (end - q >= 3 && q[2] == '!')
				break;
			const char *c = memmem(q + 2, (size_t)(end - q - 2), "*/", 2);
			q = c ? c + 2 : end;
		} else if (*q == '#' || (end - q >= 3 && q[0] == '-' && q[1] == '-' &&
					 isspace((unsigned char)q[2]))) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			q = nl ? nl + 1 : end;
		} else {
			break;
		}
	}
	*left = (size_t)(end - q);
	return q;
}

static bool word_is(const char *q, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && strncasecmp(q, w, k) == 0 &&
	       (n == k || !isalnum((unsigned char)q[k]));
}

/*
 * The session's character_set_client from a QUERY's status variables
 * (Q_CHARSET_CODE), or 0 when absent.  Each variable's length follows from
 * its code; at a code this table does not know the walk stops, as the
 * rest cannot be skipped safely.
 */
static uint32_t query_client_charset(const uint8_t *p, size_t n)
{
	struct rd r = { p, n };
	uint8_t code, len;

	while (rd_u8(&r, &code)) {
		size_t skip;

		switch (code) {
		case 0: skip = 4; break;		/* flags2 */
		case 1: skip = 8; break;		/* sql_mode */
		case 2:					/* catalog, NUL-ended */
			if (!rd_u8(&r, &len))
				return 0;
			skip = (size_t)len + 1;
			break;
		case 3: skip = 4; break;		/* auto_increment */
		case 4:					/* charset */
			return r.n >= 6 ? (uint32_t)le_get(r.p, 2) : 0;
		case 5: case 6:				/* time zone, catalog */
			if (!rd_u8(&r, &len))
				return 0;
			skip = len;
			break;
		case 7: case 8: skip = 2; break;	/* lc_time_names, charset_database */
		case 9: skip = 8; break;		/* table map for update */
		case 10: skip = 4; break;		/* master data written */
		case 11:				/* invoker: user, host */
			if (!rd_u8(&r, &len) || !rd_skip(&r, len) || !rd_u8(&r, &len))
				return 0;
			skip = len;
			break;
		case 12:				/* updated db names */
			if (!rd_u8(&r, &len))
				return 0;
			if (len == 254) {
				skip = 0;
				break;
			}
			for (unsigned k = 0; k < len; k++) {
				const uint8_t *z = memchr(r.p, 0, r.n);

				if (!z)
					return 0;
				rd_skip(&r, (size_t)(z - r.p) + 1);
			}
			skip = 0;
			break;
		case 13: skip = 3; break;		/* microseconds */
		case 128: skip = 3; break;		/* MariaDB hrnow */
		case 129: skip = 8; break;		/* MariaDB xid */
		default:
			return 0;
		}
		if (!rd_skip(&r, skip))
			return 0;
	}
	return 0;
}

static bool parse_query(struct decoder *d, const uint8_t *hdr, uint8_t type, const uint8_t *b,
			size_t n, char *err, size_t errlen)
{
	struct rd r = { b, n };
	uint64_t thread, exec, dblen, code, svlen;
	struct dec_event_info info = { 0 };
	const char *q, *s;
	size_t qlen, slen;
	uint32_t client_cs;
	bool in_trx_body;

	if (!rd_le(&r, 4, &thread) || !rd_le(&r, 4, &exec) || !rd_le(&r, 1, &dblen) ||
	    !rd_le(&r, 2, &code) || !rd_le(&r, 2, &svlen))
		goto trunc;
	if (!rd_skip(&r, ph_len(d, type, 13) > 13 ? ph_len(d, type, 13) - 13u : 0))
		goto trunc;
	if (svlen > r.n)
		goto trunc;
	client_cs = query_client_charset(r.p, (size_t)svlen);
	rd_skip(&r, (size_t)svlen);
	if (r.n < dblen + 1)
		goto trunc;
	info.db = (const char *)r.p;
	rd_skip(&r, (size_t)dblen + 1);
	q = (const char *)r.p;
	qlen = r.n;
	if (type == EV_QUERY_COMPRESSED) {
		if (!maria_uncompress(r.p, r.n, &d->scratch, err, errlen))
			return false;
		q = d->scratch.data ? d->scratch.data : "";
		qlen = d->scratch.len;
	}
	if (client_cs && !charset_is_binary(client_cs) && charset_name(client_cs) &&
	    strncmp(charset_name(client_cs), "utf8", 4)) {
		unsigned bad = 0;

		buf_reset(&d->query_utf8);
		charset_to_utf8(client_cs, (const uint8_t *)q, qlen, &d->query_utf8, &bad);
		q = d->query_utf8.data ? d->query_utf8.data : "";
		qlen = d->query_utf8.len;
	}
	s = stmt_start(q, qlen, &slen);

	info.type = EV_QUERY;
	info.type_name = "QUERY";
	info.offset = d->offset;
	info.query = q;
	info.query_len = qlen;

	if (word_is(s, slen, "BEGIN") || word_is(s, slen, "XA START")) {
		if (!d->trx.active && !begin(d, hdr))
			return false;
		if (word_is(s, slen, "XA START"))
			d->trx.xa_held = true;
		d->in_begin = true;
		d->gtid_expects_begin = false;
		if (d->cb.on_event && !d->cb.on_event(d->cb.ctx, &d->trx, &info))
			return stop(d);
		return true;
	}
	if (word_is(s, slen, "COMMIT") || word_is(s, slen, "ROLLBACK") ||
	    word_is(s, slen, "XA END") || word_is(s, slen, "XA COMMIT") ||
	    word_is(s, slen, "XA ROLLBACK")) {
		if (d->cb.on_event && !d->cb.on_event(d->cb.ctx, &d->trx, &info))
			return stop(d);
		if (word_is(s, slen, "XA END"))
			return true;
		if (!d->trx.active)
			return true;
		if (word_is(s, slen, "XA COMMIT") || word_is(s, slen, "XA ROLLBACK")) {
			/* the outcome of a prepared transaction: its XID as the
			 * statement names it, which is how XA_PREPARE names it */
			size_t skip = word_is(s, slen, "XA COMMIT") ? 9 : 11;
			size_t k = skip, e;

			while (k < slen && isspace((unsigned char)s[k]))
				k++;
			e = slen;
			while (e > k && (isspace((unsigned char)s[e - 1]) || s[e - 1] == ';'))
				e--;
			d->trx.xa_outcome = skip == 9 ? 1 : 2;
			snprintf(d->trx.xid, sizeof(d->trx.xid), "%.*s", (int)(e - k), s + k);
			if (word_is(s + k, e - k, "ONE PHASE") || strstr(d->trx.xid, "ONE PHASE"))
				d->trx.xa_outcome = 0;	/* not a prepared one */
		}
		return commit(d, hdr);
	}
	if (word_is(s, slen, "XA PREPARE")) {	/* MariaDB: the prepared group ends */
		if (d->cb.on_event && !d->cb.on_event(d->cb.ctx, &d->trx, &info))
			return stop(d);
		if (!d->trx.active)
			return true;
		d->trx.xa_prepare = true;
		return commit(d, hdr);
	}

	info.is_ddl = word_is(s, slen, "CREATE") || word_is(s, slen, "ALTER") ||
		      word_is(s, slen, "DROP") || word_is(s, slen, "RENAME") ||
		      word_is(s, slen, "TRUNCATE");
	info.is_dml_statement = word_is(s, slen, "INSERT") || word_is(s, slen, "UPDATE") ||
				word_is(s, slen, "DELETE") || word_is(s, slen, "REPLACE") ||
				word_is(s, slen, "LOAD");
	in_trx_body = d->trx.active && d->in_begin && !d->trx.standalone;
	if (!d->trx.active && !begin(d, hdr))
		return false;
	if (d->cb.on_event && !d->cb.on_event(d->cb.ctx, &d->trx, &info))
		return stop(d);
	if (!in_trx_body)
		return commit(d, hdr);	/* a statement that is a transaction of its own */
	(void)err;
	(void)errlen;
	return true;
trunc:
	snprintf(err, errlen, "QUERY event truncated");
	return false;
}

static bool parse_maria_gtid(struct decoder *d, const uint8_t *hdr, const uint8_t *b, size_t n,
			     char *err, size_t errlen)
{
	struct rd r = { b, n };
	uint64_t seq, domain;
	uint8_t flags;

	if (!rd_le(&r, 8, &seq) || !rd_le(&r, 4, &domain) || !rd_u8(&r, &flags)) {
		snprintf(err, errlen, "GTID event truncated");
		return false;
	}
	memset(&d->trx, 0, sizeof(d->trx));
	d->trx.seq = seq;
	d->trx.domain = (uint32_t)domain;
	d->trx.server_id = (uint32_t)le_get(hdr + 5, 4);
	d->trx.standalone = flags & 0x01;
	d->trx.xa_held = flags & 0x40;	/* FL_PREPARED_XA: an XA START group */
	d->trx.ch.ts_ms = le_get(hdr, 4) * 1000;
	snprintf(d->trx.ch.gtid, sizeof(d->trx.ch.gtid), "%" PRIu32 "-%" PRIu32 "-%" PRIu64,
		 d->trx.domain, d->trx.server_id, seq);
	if (!begin(d, hdr))
		return false;
	d->in_begin = !d->trx.standalone;
	return true;
}

static void uuid_text(const uint8_t *u, char *out)
{
	static const char hx[] = "0123456789abcdef";
	int k = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hx[u[i] >> 4];
		out[k++] = hx[u[i] & 15];
	}
	out[k] = '\0';
}

/* MySQL GTID / ANONYMOUS_GTID (and GTID_TAGGED's common part). */
static bool parse_mysql_gtid(struct decoder *d, uint8_t type, const uint8_t *hdr,
			     const uint8_t *b, size_t n, char *err, size_t errlen)
{
	struct rd r = { b, n };
	uint8_t flags, lt;
	uint64_t gno, last, seqn, ts;
	char uuid[40];

	memset(&d->trx, 0, sizeof(d->trx));
	if (type == EV_GTID_TAGGED) {
		/* MySQL 8.3+: the same facts in the serialization codec */
		struct gtid_tagged g;

		if (!gtid_tagged_parse(b, n, &g, err, errlen))
			return false;
		gtid_tagged_text(&g, d->trx.ch.gtid, sizeof(d->trx.ch.gtid));
		d->trx.seq = g.gno;
		d->trx.ch.ts_ms = g.immediate_commit_ts ? g.immediate_commit_ts / 1000 :
						       le_get(hdr, 4) * 1000;
		if (!begin(d, hdr))
			return false;
		d->in_begin = false;
		d->gtid_expects_begin = true;
		return true;
	}
	if (!rd_u8(&r, &flags) || r.n < 16)
		goto trunc;
	uuid_text(r.p, uuid);
	rd_skip(&r, 16);
	if (!rd_le(&r, 8, &gno))
		goto trunc;
	d->trx.ch.ts_ms = le_get(hdr, 4) * 1000;
	if (rd_u8(&r, &lt) && lt == 2 && rd_le(&r, 8, &last) && rd_le(&r, 8, &seqn) &&
	    rd_le(&r, 7, &ts)) {
		/* immediate_commit_timestamp, microseconds; bit 55 says an
		 * original_commit_timestamp follows */
		d->trx.ch.ts_ms = (ts & ~(1ULL << 55)) / 1000;
	}
	d->trx.seq = gno;
	if (type == EV_GTID)
		snprintf(d->trx.ch.gtid, sizeof(d->trx.ch.gtid), "%s:%" PRIu64, uuid, gno);
	if (!begin(d, hdr))
		return false;
	d->in_begin = false;
	d->gtid_expects_begin = true;
	return true;
trunc:
	snprintf(err, errlen, "GTID event truncated");
	return false;
}

/* XA_PREPARE: one_phase (1), formatID (4), gtrid and bqual lengths (4
 * each), their bytes; the XID in the X'..',X'..',fmt form of the XA
 * statements. */
static bool xa_prepare_xid(const uint8_t *b, size_t n, struct dec_trx *trx)
{
	static const char hx[] = "0123456789ABCDEF";
	struct rd r = { b, n };
	uint8_t one;
	uint64_t fmt, gl, bl;
	size_t k = 0;

	if (!rd_u8(&r, &one) || !rd_le(&r, 4, &fmt) || !rd_le(&r, 4, &gl) || !rd_le(&r, 4, &bl) ||
	    gl > 64 || bl > 64 || r.n < gl + bl)
		return false;
	trx->xa_one_phase = one;
	k += (size_t)snprintf(trx->xid + k, sizeof(trx->xid) - k, "X'");
	for (uint64_t i = 0; i < gl; i++) {
		trx->xid[k++] = hx[r.p[i] >> 4];
		trx->xid[k++] = hx[r.p[i] & 15];
	}
	k += (size_t)snprintf(trx->xid + k, sizeof(trx->xid) - k, "',X'");
	for (uint64_t i = 0; i < bl; i++) {
		trx->xid[k++] = hx[r.p[gl + i] >> 4];
		trx->xid[k++] = hx[r.p[gl + i] & 15];
	}
	snprintf(trx->xid + k, sizeof(trx->xid) - k, "',%llu", (unsigned long long)(int32_t)fmt);
	return true;
}

static bool report(struct decoder *d, uint8_t type, uint32_t size)
{
	struct dec_event_info info = { 0 };

	if (!d->cb.on_event)
		return true;
	info.type = type;
	info.type_name = decoder_event_name(type);
	info.offset = d->offset;
	info.size = size;
	if (!d->cb.on_event(d->cb.ctx, &d->trx, &info))
		return stop(d);
	return true;
}

enum dec_result decoder_feed(struct decoder *d, const uint8_t *ev, size_t len, char *err,
			     size_t errlen)
{
	d->stopped = false;
	if (decoder_feed_one(d, ev, len, err, errlen))
		return DEC_OK;
	return d->stopped ? DEC_STOPPED : DEC_ERROR;
}

bool decoder_feed_one(struct decoder *d, const uint8_t *ev, size_t len, char *err, size_t errlen)
{
	uint8_t type;
	uint32_t size, log_pos;
	uint16_t flags;
	const uint8_t *body;
	size_t blen;
	char why[512];
	bool ok = true;

	why[0] = '\0';
	if (errlen)
		err[0] = '\0';	/* stays empty when a callback stops the feed */
	if (len < EV_HEADER_LEN) {
		snprintf(err, errlen, "%s:%" PRIu64 ": event of %zu bytes is shorter than its header",
			 d->file, d->next_offset, len);
		return false;
	}
	type = ev[4];
	size = (uint32_t)le_get(ev + 9, 4);
	log_pos = (uint32_t)le_get(ev + 13, 4);
	flags = (uint16_t)le_get(ev + 17, 2);
	d->offset = d->next_offset;
	if (!d->in_payload && log_pos != 0 && !(flags & EV_FLAG_ARTIFICIAL) && log_pos >= size &&
	    type != EV_ROTATE)
		d->offset = log_pos - size;
	if (size != len) {
		snprintf(err, errlen, "%s:%" PRIu64 ": %s event says %u bytes, %zu arrived",
			 d->file, d->offset, decoder_event_name(type), size, len);
		return false;
	}
	if (d->in_payload) {
		d->next_offset = d->payload_end;
		if (type == EV_FORMAT_DESCRIPTION || type == EV_TRANSACTION_PAYLOAD ||
		    type == EV_ROTATE) {
			snprintf(why, sizeof(why), "a %s event inside a TRANSACTION_PAYLOAD",
				 decoder_event_name(type));
			goto fail;
		}
	} else if (type == EV_GTID_LIST && (flags & EV_FLAG_ARTIFICIAL) && log_pos != 0) {
		/* MariaDB's fake Gtid_list, sent after the event groups it
		 * skipped to reach a GTID start: not in the file, its log_pos
		 * is where the dump stands (otherwise only a heartbeat, up to
		 * heartbeat_period later, would tell; a snapshot chunk waits
		 * for the reader to pass its point) */
		d->next_offset = log_pos > d->offset ? log_pos : d->offset;
	} else {
		d->next_offset = d->offset + size;
	}

	if (type == EV_FORMAT_DESCRIPTION) {
		if (!parse_fde(d, ev, len, why, sizeof(why)))
			goto fail;
		if (d->checksum == 1 && !fde_crc_ok(ev, len)) {
			snprintf(why, sizeof(why), "checksum mismatch");
			goto fail;
		}
		return report(d, type, size);
	}
	blen = len - EV_HEADER_LEN;
	if (d->checksum == 1 && !d->in_payload) {	/* inner events carry no CRC */
		uint32_t want, got;

		if (blen < 4) {
			snprintf(why, sizeof(why), "event too short for its checksum");
			goto fail;
		}
		blen -= 4;
		want = (uint32_t)le_get(ev + len - 4, 4);
		got = libdeflate_crc32(0, ev, len - 4);
		if (want != got) {
			snprintf(why, sizeof(why), "checksum mismatch (stored %08x, computed %08x)",
				 want, got);
			goto fail;
		}
	}
	body = ev + EV_HEADER_LEN;

	switch (type) {
	case EV_ROTATE: {
		uint64_t pos = blen >= 8 ? le_get(body, 8) : 4;
		size_t nl = blen >= 8 ? blen - 8 : 0;

		if (nl >= sizeof(d->file))
			nl = sizeof(d->file) - 1;
		memcpy(d->file, body + 8, nl);
		d->file[nl] = '\0';
		ok = report(d, type, size);
		d->next_offset = pos;
		return ok;
	}
	case EV_QUERY:
	case EV_QUERY_COMPRESSED:
		if (!parse_query(d, ev, type, body, blen, why, sizeof(why))) {
			if (why[0] == '\0')
				return false;	/* the consumer stopped */
			goto fail;
		}
		return true;
	case EV_XID:
		ok = report(d, type, size);
		if (ok && d->trx.active)
			ok = commit(d, ev);
		break;
	case EV_XA_PREPARE:	/* the prepared group ends here */
		ok = report(d, type, size);
		if (ok && d->trx.active) {
			if (!xa_prepare_xid(body, blen, &d->trx)) {
				snprintf(why, sizeof(why), "XA_PREPARE body is malformed");
				goto fail;
			}
			d->trx.xa_prepare = true;
			ok = commit(d, ev);
		}
		break;
	case EV_MARIA_GTID:
		if (!parse_maria_gtid(d, ev, body, blen, why, sizeof(why)))
			goto fail;
		ok = report(d, type, size);
		break;
	case EV_GTID:
	case EV_ANONYMOUS_GTID:
	case EV_GTID_TAGGED:
		if (!parse_mysql_gtid(d, type, ev, body, blen, why, sizeof(why)))
			goto fail;
		ok = report(d, type, size);
		break;
	case EV_TABLE_MAP:
		if (!tablemap_parse(d, body, blen, ph_len(d, type, 8), why, sizeof(why)))
			goto fail;
		ok = report(d, type, size);
		break;
	case EV_WRITE_ROWS_V1: case EV_UPDATE_ROWS_V1: case EV_DELETE_ROWS_V1:
	case EV_WRITE_ROWS_V2: case EV_UPDATE_ROWS_V2: case EV_DELETE_ROWS_V2:
	case EV_PARTIAL_UPDATE_ROWS:
	case EV_WRITE_ROWS_COMPRESSED_V1: case EV_UPDATE_ROWS_COMPRESSED_V1:
	case EV_DELETE_ROWS_COMPRESSED_V1: case EV_WRITE_ROWS_COMPRESSED:
	case EV_UPDATE_ROWS_COMPRESSED: case EV_DELETE_ROWS_COMPRESSED:
		if (!d->trx.active && !begin(d, ev))
			return false;
		if (!rows_parse(d, type, body, blen, ph_len(d, type, 8), why, sizeof(why))) {
			if (why[0] == '\0')
				return false;	/* the consumer stopped */
			goto fail;
		}
		break;
	case EV_TRANSACTION_PAYLOAD:
		ok = report(d, type, size);
		/* its fields start right after the common header, whatever
		 * post-header length the FORMAT_DESCRIPTION announces */
		if (ok && !payload_parse(d, body, blen, why, sizeof(why))) {
			if (why[0] == '\0')
				return false;
			goto fail;
		}
		break;
	case EV_INCIDENT: {
		uint64_t code = blen >= 2 ? le_get(body, 2) : 0;
		int ml = blen >= 3 ? body[2] : 0;

		if (ml > (int)blen - 3)
			ml = blen >= 3 ? (int)blen - 3 : 0;
		snprintf(why, sizeof(why), "the server logged an incident (%" PRIu64 "): %.*s",
			 code, ml, (const char *)body + 3);
		goto fail;
	}
	case EV_STOP: case EV_INTVAR: case EV_RAND: case EV_USER_VAR:
	case EV_HEARTBEAT: case EV_HEARTBEAT_V2: case EV_PREVIOUS_GTIDS:
	case EV_ANNOTATE_ROWS: case EV_BINLOG_CHECKPOINT: case EV_GTID_LIST:
	case EV_ROWS_QUERY: case EV_IGNORABLE: case EV_TRANSACTION_CONTEXT:
	case EV_VIEW_CHANGE: case EV_START_ENCRYPTION:
		ok = report(d, type, size);
		break;
	default:
		if (flags & EV_FLAG_IGNORABLE) {
			d->ignored++;
			ok = report(d, type, size);
			break;
		}
		snprintf(why, sizeof(why), "event type %u is not supported", type);
		goto fail;
	}
	return ok;
fail:
	if (why[0] == '\0')
		return false;	/* a callback stopped the feed: not an error */
	snprintf(err, errlen, "%s:%" PRIu64 ": %s event: %s", d->file, d->offset,
		 decoder_event_name(type), why);
	return false;
}
