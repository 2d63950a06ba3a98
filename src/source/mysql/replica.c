/* SPDX-License-Identifier: MIT */
/*
 * The replica connection: libmariadb connects and authenticates; this
 * file registers as a replica, asks for the binlog from a GTID state, a
 * GTID set or FILE:OFFSET and reads the event packets.  It does not use
 * libmariadb's mariadb_rpl_* parser, and decodes nothing itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "source/mysql/decoder.h"
#include "source/mysql/gtid.h"
#include "source/mysql/gtidset.h"
#include "source/mysql/replica.h"

#define COM_REGISTER_SLAVE_CMD 0x15
#define COM_BINLOG_DUMP_CMD 0x12
#define COM_BINLOG_DUMP_GTID_CMD 0x1e

struct msrc {
	struct replica base;		/* must be first */
	MYSQL *db;			/* connection, NULL when closed */
	pthread_mutex_t mu;		/* guards db against interrupt() */
	bool mariadb;			/* server flavour */
	char version[128];		/* SELECT VERSION() */
	bool checksum;			/* the server writes CRC32 */
	atomic_int interrupted;		/* interrupt() was called: stay down */
	bool warned_image;		/* the row image warning was given */
	bool warned_names;		/* the information_schema warning was given */
	MYSQL *meta;			/* second connection for describe() */
	char **host;			/* [source] hosts, or host */
	int *port;			/* their ports */
	int nhosts;			/* how many */
	int cur;			/* the one that served last */
	bool warned_fk;			/* the foreign-key cascade warnings were given */
};

static void set_err(struct msrc *m, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s", m->base.peer, what,
		 m->db ? mysql_error(m->db) : "no connection");
}

/* Run a query whose first row's first column is wanted; out may be NULL. */
static bool query_value(struct msrc *m, const char *sql, char *out, size_t outlen,
			char *err, size_t errlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	if (mysql_query(m->db, sql)) {
		snprintf(err, errlen, "%s: %s: %s", m->base.peer, sql, mysql_error(m->db));
		return false;
	}
	res = mysql_store_result(m->db);
	if (!out) {
		mysql_free_result(res);
		return true;
	}
	if (!res || !(row = mysql_fetch_row(res))) {
		snprintf(err, errlen, "%s: %s: no result", m->base.peer, sql);
		mysql_free_result(res);
		return false;
	}
	snprintf(out, outlen, "%s", row[0] ? row[0] : "");
	mysql_free_result(res);
	return true;
}

/* The grants rowcast needs, each named when missing. */
static bool check_grants(struct msrc *m, bool *fatal, char *err, size_t errlen)
{
	static const char *const need[] = { "REPLICATION SLAVE", "REPLICATION CLIENT", "SELECT" };
	struct rc_buf all = { 0 };
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool ok = true;

	if (mysql_query(m->db, "SHOW GRANTS") || !(res = mysql_store_result(m->db)))
		return true;	/* no verdict */
	while ((row = mysql_fetch_row(res)))
		if (row[0]) {
			buf_puts(&all, row[0]);
			buf_putc(&all, '\n');
		}
	mysql_free_result(res);
	if (all.data && !strstr(all.data, "ALL PRIVILEGES ON *.*") &&
	    !strstr(all.data, "ALL PRIVILEGES ON `*`.`*`")) {
		for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
			/* MariaDB 10.5+ also spells the first two as REPLICA and
			 * BINLOG MONITOR */
			if (strstr(all.data, need[i]) ||
			    (i == 0 && strstr(all.data, "REPLICATION REPLICA")) ||
			    (i == 1 && strstr(all.data, "BINLOG MONITOR")))
				continue;
			snprintf(err, errlen,
				 "%s: user '%s' lacks the %s privilege (GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO ...)",
				 m->base.peer, m->base.cfg->src_user, need[i]);
			*fatal = true;
			ok = false;
			break;
		}
	}
	buf_free(&all);
	return ok;
}

/* Another replica registered with our server id would have its stream
 * cut whenever we connect, and ours whenever it does. */
static bool check_server_id(struct msrc *m, bool *fatal, char *err, size_t errlen)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool ok = true;

	if (mysql_query(m->db, "SHOW SLAVE HOSTS") || !(res = mysql_store_result(m->db)))
		return true;
	while ((row = mysql_fetch_row(res))) {
		/* Server_id, Host, Port, Master_id */
		if (!row[0] || (unsigned)strtoul(row[0], NULL, 10) !=
				       (unsigned)m->base.cfg->src_server_id)
			continue;
		if (row[1] && !strcmp(row[1], "rowcast"))
			continue;	/* our own previous connection */
		snprintf(err, errlen,
			 "%s: server_id %u is already used by another replica (host %s, port %s); give rowcast a unique [source] server_id",
			 m->base.peer, (unsigned)m->base.cfg->src_server_id, row[1] ? row[1] : "?",
			 row[2] ? row[2] : "?");
		*fatal = true;
		ok = false;
		break;
	}
	mysql_free_result(res);
	return ok;
}

/*
 * Rows changed by InnoDB foreign-key cascades are not in the binlog.  The
 * rules are read from SHOW CREATE TABLE of the tables KEY_COLUMN_USAGE
 * names: REFERENTIAL_CONSTRAINTS shows nothing to a user with SELECT only.
 */
static void warn_fk_cascades(struct msrc *m)
{
	static const char *const rules[] = {
		"ON DELETE CASCADE", "ON DELETE SET NULL", "ON DELETE SET DEFAULT",
		"ON UPDATE CASCADE", "ON UPDATE SET NULL", "ON UPDATE SET DEFAULT",
	};
	MYSQL_RES *res, *cr;
	MYSQL_ROW row, crow;
	char q[1200];

	if (mysql_query(m->db,
			"SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE "
			"WHERE REFERENCED_TABLE_NAME IS NOT NULL") ||
	    !(res = mysql_store_result(m->db)))
		return;
	while ((row = mysql_fetch_row(res))) {
		char found[200] = "";

		if (!row[0] || !row[1] || strchr(row[0], '`') || strchr(row[1], '`'))
			continue;
		snprintf(q, sizeof(q), "SHOW CREATE TABLE `%s`.`%s`", row[0], row[1]);
		if (mysql_query(m->db, q) || !(cr = mysql_store_result(m->db)))
			continue;
		if ((crow = mysql_fetch_row(cr)) && crow[1]) {
			for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
				if (!strstr(crow[1], rules[i]))
					continue;
				if (found[0])
					strncat(found, ", ", sizeof(found) - strlen(found) - 1);
				strncat(found, rules[i], sizeof(found) - strlen(found) - 1);
			}
		}
		mysql_free_result(cr);
		if (found[0])
			log_warn("%s: table %s.%s changes through foreign keys (%s): the rows a cascade changes are not in the binlog and are not published",
				 m->base.peer, row[0], row[1], found);
	}
	mysql_free_result(res);
}

bool replica_connect(struct replica *s, bool *fatal, char *err, size_t errlen)
{
	struct msrc *m = (struct msrc *)s;
	const struct rc_config *c = s->cfg;
	unsigned timeout = (unsigned)c->src_connect_timeout_s;
	unsigned read_timeout = (unsigned)c->src_heartbeat_s * 3 + 5;
	char val[256];
	MYSQL *db;

	*fatal = false;
	db = NULL;
	/* with several hosts (one GTID topology), the first that answers,
	 * starting with the one that served last */
	for (int i = 0; i < m->nhosts && !db; i++) {
		int k = (m->cur + i) % m->nhosts;
		unsigned code;

		db = mysql_init(NULL);
		if (!db)
			log_oom();
		mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
		mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
		mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
		mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
		if (c->src_ssl_mode != SSLM_DISABLED) {
			my_bool on = 1;

			mysql_ssl_set(db, c->src_ssl_key[0] ? c->src_ssl_key : NULL,
				      c->src_ssl_cert[0] ? c->src_ssl_cert : NULL,
				      c->src_ssl_ca[0] ? c->src_ssl_ca : NULL, NULL, NULL);
			if (c->src_ssl_mode >= SSLM_REQUIRED)
				mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &on);
			if (c->src_ssl_mode >= SSLM_VERIFY_CA)
				mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
		}
		if (c->src_socket[0])
			snprintf(s->peer, sizeof(s->peer), "%s", c->src_socket);
		else
			snprintf(s->peer, sizeof(s->peer), "%s:%d", m->host[k], m->port[k]);
		if (mysql_real_connect(db, c->src_socket[0] ? NULL : m->host[k], c->src_user,
				       c->src_password, NULL, (unsigned)m->port[k],
				       c->src_socket[0] ? c->src_socket : NULL, 0)) {
			if (k != m->cur && m->nhosts > 1)
				log_warn("%s: the database moved here (hosts list)", s->peer);
			m->cur = k;
			break;
		}
		code = mysql_errno(db);
		snprintf(err, errlen, "%s: cannot connect: %s", s->peer, mysql_error(db));
		mysql_close(db);
		db = NULL;
		/* wrong credentials or missing grants will not fix themselves */
		if (code == 1045 || code == 1044) {
			*fatal = true;
			return false;
		}
	}
	if (!db)
		return false;
	pthread_mutex_lock(&m->mu);
	m->db = db;
	pthread_mutex_unlock(&m->mu);
	if (atomic_load(&m->interrupted)) {
		/* asked to stop while connecting: the socket was not there */
		snprintf(err, errlen, "%s: interrupted", s->peer);
		return false;
	}

	if (!query_value(m, "SELECT VERSION()", m->version, sizeof(m->version), err, errlen))
		return false;
	m->mariadb = strstr(m->version, "MariaDB") != NULL;
	if (!m->mariadb && c->src_position_mode == POS_GTID) {
		/* MySQL streams by GTID only with gtid_mode = ON */
		if (!query_value(m, "SELECT @@GLOBAL.gtid_mode", val, sizeof(val), err, errlen))
			return false;
		if (strcasecmp(val, "ON")) {
			snprintf(err, errlen,
				 "%s: gtid_mode is %s; rowcast's position_mode = gtid needs ON (or use position_mode = file)",
				 s->peer, val);
			*fatal = true;
			return false;
		}
	}
	if (!query_value(m, "SELECT @@GLOBAL.binlog_format", val, sizeof(val), err, errlen))
		return false;
	if (strcasecmp(val, "ROW")) {
		snprintf(err, errlen, "%s: binlog_format is %s; rowcast needs ROW", s->peer, val);
		*fatal = true;
		return false;
	}
	if (!query_value(m, "SELECT @@GLOBAL.binlog_row_metadata", val, sizeof(val), err, errlen))
		return false;
	if (strcasecmp(val, "FULL") && c->src_column_names == COLNAMES_BINLOG) {
		snprintf(err, errlen,
			 "%s: binlog_row_metadata is %s; rowcast needs FULL (SET GLOBAL binlog_row_metadata=FULL), or [source] column_names = information_schema",
			 s->peer, val);
		*fatal = true;
		return false;
	}
	if (strcasecmp(val, "FULL") && !m->warned_names) {
		log_warn("%s: binlog_row_metadata is %s: column names come from information_schema; a table changed while rowcast is down is described as it is now",
			 s->peer, val);
		m->warned_names = true;
	}
	if (!query_value(m, "SELECT @@GLOBAL.binlog_row_image", val, sizeof(val), err, errlen))
		return false;
	if (strcasecmp(val, "FULL") && !m->warned_image) {
		/* MINIMAL and NOBLOB images are decoded, but consumers see
		 * only the logged columns */
		log_warn("%s: binlog_row_image is %s: before and after images hold only the columns the server logs",
			 s->peer, val);
		m->warned_image = true;
	}
	if (!check_grants(m, fatal, err, errlen) || !check_server_id(m, fatal, err, errlen))
		return false;
	if (!m->warned_fk) {
		warn_fk_cascades(m);
		m->warned_fk = true;
	}
	if (!query_value(m, "SELECT @@GLOBAL.binlog_checksum", val, sizeof(val), err, errlen))
		return false;
	m->checksum = strcasecmp(val, "CRC32") == 0;
	snprintf(s->flavour, sizeof(s->flavour), "%s", m->mariadb ? "mariadb" : "mysql");
	/* the identity kept in the checkpoint: MariaDB's server_id (its GTIDs
	 * carry it), MySQL's server_uuid */
	if (!query_value(m, m->mariadb ? "SELECT @@GLOBAL.server_id" : "SELECT @@GLOBAL.server_uuid",
			 val, sizeof(val), err, errlen))
		return false;
	snprintf(s->server_uuid, sizeof(s->server_uuid), "%.63s", val);
	/* the server's clock against ours, for the lag of event times */
	if (query_value(m, "SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)", val,
			sizeof(val), err, errlen)) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		s->clock_offset_ms = strtoll(val, NULL, 10) -
				     ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	}
	return true;
}

bool replica_position(struct replica *s, int start_kind, char **out, char *err, size_t errlen)
{
	struct msrc *m = (struct msrc *)s;
	char val[4096];

	if (s->cfg->src_position_mode == POS_FILE) {
		MYSQL_RES *res;
		MYSQL_ROW row;
		const char *q = start_kind == START_EARLIEST ? "SHOW BINARY LOGS" : "SHOW MASTER STATUS";

		if (mysql_query(m->db, q) || !(res = mysql_store_result(m->db))) {
			snprintf(err, errlen, "%s: %s: %s", s->peer, q, mysql_error(m->db));
			return false;
		}
		row = mysql_fetch_row(res);
		if (!row || !row[0] || !row[1]) {
			snprintf(err, errlen, "%s: %s: no binlog (is log_bin on?)", s->peer, q);
			mysql_free_result(res);
			return false;
		}
		snprintf(val, sizeof(val), "%s:%s", row[0],
			 start_kind == START_EARLIEST ? "4" : row[1]);
		mysql_free_result(res);
		*out = strdup(val);
	} else if (start_kind == START_EARLIEST) {
		*out = strdup("");
	} else if (!m->mariadb) {
		if (!query_value(m, "SELECT @@GLOBAL.gtid_executed", val, sizeof(val), err, errlen))
			return false;
		*out = strdup(val);
	} else {
		if (!query_value(m, "SELECT @@GLOBAL.gtid_binlog_pos", val, sizeof(val), err, errlen))
			return false;
		*out = strdup(val);
	}
	if (!*out)
		log_oom();
	return true;
}

/* Append a string with a 1-byte length, as COM_REGISTER_SLAVE wants. */
static void put_str8(struct rc_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > 255)
		n = 255;
	buf_putc(b, (char)n);
	buf_append(b, s, n);
}

static void put_le(struct rc_buf *b, uint64_t v, int k)
{
	for (int i = 0; i < k; i++)
		buf_putc(b, (char)(v >> (8 * i)));
}

/*
 * Is the checkpoint's history this server's?  Every GTID d-s-n of the
 * resume state must name a server s that wrote in domain d here (or on the
 * primary this one replicated from): @@gtid_binlog_state keeps the last
 * GTID of every (domain, server id) pair the binlogs ever held, and
 * gtid_slave_pos the replicated ones.  A replica promoted after a
 * fail-over keeps its old primary's server id in the domain, so it passes;
 * another server that merely uses the same domain does not.  Two servers
 * with the same server_id cannot be told apart this way (replication
 * forbids that in one topology anyway).
 */
static bool check_same_server(struct msrc *m, const struct gtid_state *want, bool *fatal,
			      char *err, size_t errlen)
{
	char val[8192], seen[8192];
	struct maria_gtid pairs[256];
	size_t n = 0;

	if (!query_value(m, "SELECT CONCAT_WS(',', NULLIF(@@GLOBAL.gtid_binlog_state, ''), "
			    "NULLIF(@@GLOBAL.gtid_slave_pos, ''))", val, sizeof(val), err, errlen))
		return true;	/* no verdict */
	snprintf(seen, sizeof(seen), "%s", val[0] ? val : "no GTIDs");
	for (char *tok = strtok(val, ","); tok && n < 256; tok = strtok(NULL, ","))
		if (gtid_parse_one(tok, strlen(tok), &pairs[n]))
			n++;
	for (size_t i = 0; i < want->n; i++) {
		bool domain = false, known = false;

		for (size_t k = 0; k < n; k++) {
			domain |= pairs[k].domain == want->v[i].domain;
			known |= pairs[k].domain == want->v[i].domain &&
				 pairs[k].server == want->v[i].server;
		}
		if (!domain || known)
			continue;	/* an unknown domain is reported below */
		snprintf(err, errlen,
			 "%s: the checkpoint's GTID %u-%u-%llu was written by server_id %u, which never wrote in domain %u of this server (server_id %s, GTIDs %s): a checkpoint of another server? (rowcast(8), Repairing a checkpoint)",
			 m->base.peer, want->v[i].domain, want->v[i].server,
			 (unsigned long long)want->v[i].seq, want->v[i].server, want->v[i].domain,
			 m->base.server_uuid[0] ? m->base.server_uuid : "?", seen);
		*fatal = true;
		return false;
	}
	return true;
}

/*
 * Before asking for the stream: is every GTID after the resume state still
 * in the server's binlogs, and does the server know each of its domains?
 * The server's own refusal (error 1236) names no GTID; this does.
 */
static bool check_position(struct msrc *m, const char *state, bool *fatal, char *err,
			   size_t errlen)
{
	struct gtid_state want = { 0 }, oldest = { 0 }, have = { 0 };
	struct rc_buf shown = { 0 };
	char val[8192], file[512], msg[256];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	bool ok = true;

	if (!state[0] || !gtid_state_parse(&want, state, msg, sizeof(msg)))
		goto out;
	/* the domains this server knows: written here or replicated to it */
	if (!query_value(m, "SELECT CONCAT_WS(',', NULLIF(@@GLOBAL.gtid_binlog_pos, ''), "
			    "NULLIF(@@GLOBAL.gtid_slave_pos, ''))", val, sizeof(val), err, errlen))
		goto out;	/* no verdict: let the server decide */
	for (char *tok = strtok(val, ","); tok; tok = strtok(NULL, ",")) {
		struct maria_gtid g;

		if (gtid_parse_one(tok, strlen(tok), &g))
			gtid_state_apply(&have, &g);
	}
	if (!check_same_server(m, &want, fatal, err, errlen)) {
		ok = false;
		goto out;
	}
	gtid_state_format(&have, &shown);
	snprintf(val, sizeof(val), "%s", shown.data ? shown.data : "");
	for (size_t i = 0; i < want.n; i++) {
		bool known = false;

		for (size_t k = 0; k < have.n; k++)
			known |= have.v[k].domain == want.v[i].domain;
		if (!known) {
			snprintf(err, errlen,
				 "%s: the checkpoint's GTID %u-%u-%llu is of domain %u, which this server's binlogs do not have (%s): a checkpoint of another server?",
				 m->base.peer, want.v[i].domain, want.v[i].server,
				 (unsigned long long)want.v[i].seq, want.v[i].domain,
				 val[0] ? val : "no GTIDs");
			*fatal = true;
			ok = false;
			goto out;
		}
	}
	/* the oldest binlog starts after the GTIDs of its GTID_LIST */
	if (mysql_query(m->db, "SHOW BINARY LOGS") || !(res = mysql_store_result(m->db)) ||
	    !(row = mysql_fetch_row(res)) || !row[0])
		goto out;
	snprintf(file, sizeof(file), "%s", row[0]);
	mysql_free_result(res);
	res = NULL;
	snprintf(val, sizeof(val), "SHOW BINLOG EVENTS IN '%s' LIMIT 3", file);
	if (mysql_query(m->db, val) || !(res = mysql_store_result(m->db)))
		goto out;
	while ((row = mysql_fetch_row(res))) {
		char *lb, *rb;

		if (!row[2] || strcmp(row[2], "Gtid_list") || !row[5])
			continue;
		lb = strchr(row[5], '[');
		rb = lb ? strchr(lb, ']') : NULL;
		if (!rb)
			break;
		*rb = '\0';
		if (!gtid_state_parse(&oldest, lb + 1, msg, sizeof(msg)))
			break;
		for (size_t i = 0; i < want.n; i++) {
			for (size_t k = 0; k < oldest.n; k++) {
				if (oldest.v[k].domain != want.v[i].domain ||
				    oldest.v[k].seq <= want.v[i].seq)
					continue;
				snprintf(err, errlen,
					 "%s: binlogs the checkpoint needs were purged: the first missing GTID is %u-%u-%llu, and the oldest binlog %s starts after %u-%u-%llu",
					 m->base.peer, want.v[i].domain, want.v[i].server,
					 (unsigned long long)want.v[i].seq + 1, file,
					 oldest.v[k].domain, oldest.v[k].server,
					 (unsigned long long)oldest.v[k].seq);
				*fatal = true;
				m->base.purged = true;
				ok = false;
				goto out;
			}
		}
		break;
	}
out:
	mysql_free_result(res);
	gtid_state_free(&want);
	gtid_state_free(&have);
	gtid_state_free(&oldest);
	buf_free(&shown);
	return ok;
}

/*
 * MySQL: every GTID the server has purged must be in the resume set, or the
 * server cannot send what lies between; name the first that is not.  And
 * every GTID of the resume set must be one this server executed: a
 * checkpoint holding transactions the server never saw was written against
 * another server (a replica promoted after a fail-over has its old
 * primary's GTIDs, so it passes; an unrelated server does not) or against
 * this one before its history was reset.
 */
static bool check_position_mysql(struct msrc *m, const char *state, bool *fatal, char *err,
				 size_t errlen)
{
	struct gtid_set *want = gtid_set_new(), *purged = gtid_set_new(), *done = gtid_set_new();
	struct rc_buf first = { 0 };
	char val[65536], executed[65536], msg[256];
	bool ok = true;

	if (!gtid_set_parse(want, state, msg, sizeof(msg)) ||
	    !query_value(m, "SELECT @@GLOBAL.gtid_purged", val, sizeof(val), err, errlen) ||
	    !gtid_set_parse(purged, val, msg, sizeof(msg)))
		goto out;	/* no verdict: the server decides */
	if (gtid_set_first_outside(purged, want, &first)) {
		snprintf(err, errlen,
			 "%s: binlogs the checkpoint needs were purged: the first missing GTID is %s (gtid_purged is %s)",
			 m->base.peer, first.data, val);
		*fatal = true;
		m->base.purged = true;
		ok = false;
		goto out;
	}
	if (!query_value(m, "SELECT @@GLOBAL.gtid_executed", executed, sizeof(executed), err,
			 errlen) ||
	    !gtid_set_parse(done, executed, msg, sizeof(msg)))
		goto out;
	if (gtid_set_first_outside(want, done, &first)) {
		snprintf(err, errlen,
			 "%s: the checkpoint holds GTID %s, which this server (server_uuid %s) never executed (gtid_executed is %s): a checkpoint of another server? (rowcast(8), Repairing a checkpoint)",
			 m->base.peer, first.data,
			 m->base.server_uuid[0] ? m->base.server_uuid : "?", executed);
		*fatal = true;
		ok = false;
	}
out:
	buf_free(&first);
	gtid_set_free(want);
	gtid_set_free(purged);
	gtid_set_free(done);
	return ok;
}

bool replica_start(struct replica *s, const char *state, bool file_mode, struct decoder *dec,
		   bool *fatal, char *err, size_t errlen)
{
	struct msrc *m = (struct msrc *)s;
	const struct rc_config *c = s->cfg;
	struct rc_buf q = { 0 };
	bool filemode = c->src_position_mode == POS_FILE || file_mode;
	char file[512];
	uint64_t pos = 4;
	char *esc;
	bool ok = false;
	int r;

	s->purged = false;
	*fatal = false;
	if (filemode) {
		const char *colon = strrchr(state, ':');

		if (!colon || colon == state) {
			snprintf(err, errlen, "%s: '%s' is not FILE:OFFSET", s->peer, state);
			*fatal = true;
			return false;
		}
		snprintf(file, sizeof(file), "%.*s", (int)(colon - state), state);
		pos = strtoull(colon + 1, NULL, 10);
		/* capability 4: rowcast reads GTID events as they are (without
		 * it the server rewrites them for old replicas, and fails on XA
		 * ones) */
		buf_printf(&q, "SET @master_binlog_checksum = @@global.binlog_checksum, "
			       "@mariadb_slave_capability = 4, "
			       "@master_heartbeat_period = %llu, @@session.net_write_timeout = %d",
			   (unsigned long long)c->src_heartbeat_s * 1000000000ULL,
			   c->src_net_write_timeout_s);
	} else if (!m->mariadb) {
		if (!check_position_mysql(m, state, fatal, err, errlen))
			return false;
		buf_printf(&q, "SET @master_binlog_checksum = @@global.binlog_checksum, "
			       "@source_binlog_checksum = @@global.binlog_checksum, "
			       "@master_heartbeat_period = %llu, @source_heartbeat_period = %llu, "
			       "@@session.net_write_timeout = %d",
			   (unsigned long long)c->src_heartbeat_s * 1000000000ULL,
			   (unsigned long long)c->src_heartbeat_s * 1000000000ULL,
			   c->src_net_write_timeout_s);
	} else {
		if (!check_position(m, state, fatal, err, errlen))
			return false;
		esc = malloc(strlen(state) * 2 + 1);
		if (!esc)
			log_oom();
		mysql_real_escape_string(m->db, esc, state, (unsigned long)strlen(state));
		buf_printf(&q, "SET @master_binlog_checksum = @@global.binlog_checksum, "
			       "@mariadb_slave_capability = 4, @slave_connect_state = '%s', "
			       "@slave_gtid_strict_mode = 1, @slave_gtid_ignore_duplicates = 0, "
			       "@master_heartbeat_period = %llu, @@session.net_write_timeout = %d",
			   esc, (unsigned long long)c->src_heartbeat_s * 1000000000ULL,
			   c->src_net_write_timeout_s);
		free(esc);
	}
	if (mysql_query(m->db, q.data)) {
		set_err(m, "cannot set up the replica session", err, errlen);
		goto out;
	}

	buf_reset(&q);
	put_le(&q, s->server_id, 4);
	put_str8(&q, "rowcast");
	put_str8(&q, "");
	put_str8(&q, "");
	put_le(&q, 0, 2);
	put_le(&q, 0, 4);
	put_le(&q, 0, 4);
	r = m->db->methods->db_command(m->db, COM_REGISTER_SLAVE_CMD, q.data, q.len, 0, NULL);
	if (r) {
		set_err(m, "COM_REGISTER_SLAVE failed", err, errlen);
		goto out;
	}

	buf_reset(&q);
	if (!filemode && !m->mariadb) {
		/* MySQL: COM_BINLOG_DUMP_GTID with the executed set */
		struct gtid_set *set = gtid_set_new();

		if (!gtid_set_parse(set, state, err, errlen)) {
			gtid_set_free(set);
			*fatal = true;
			goto out;
		}
		gtid_dump_request(set, s->server_id, "", 4, GTID_DUMP_THROUGH_GTID, &q);
		gtid_set_free(set);
		r = m->db->methods->db_command(m->db, COM_BINLOG_DUMP_GTID_CMD, q.data, q.len, 1, NULL);
		if (r) {
			set_err(m, "COM_BINLOG_DUMP_GTID failed", err, errlen);
			goto out;
		}
		decoder_expect_checksum(dec, m->checksum);
		ok = true;
		goto out;
	}
	put_le(&q, filemode ? pos : 4, 4);	/* GTID mode: the state decides */
	put_le(&q, 0, 2);		/* flags: block at the end of the log */
	put_le(&q, s->server_id, 4);
	if (filemode) {
		buf_puts(&q, file);
		decoder_set_file(dec, file, pos);
	}
	r = m->db->methods->db_command(m->db, COM_BINLOG_DUMP_CMD, q.data, q.len, 1, NULL);
	if (r) {
		set_err(m, "COM_BINLOG_DUMP failed", err, errlen);
		goto out;
	}
	decoder_expect_checksum(dec, m->checksum);
	ok = true;
out:
	buf_free(&q);
	return ok;
}

bool replica_next(struct replica *s, const uint8_t **ev, size_t *len, bool *fatal, char *err,
		  size_t errlen)
{
	struct msrc *m = (struct msrc *)s;
	unsigned long n;
	const uint8_t *p;

	*fatal = false;
	if (atomic_load(&m->interrupted)) {
		snprintf(err, errlen, "%s: interrupted", s->peer);
		return false;
	}
	n = mysql_net_read_packet(m->db);
	if (n == packet_error || n == 0) {
		unsigned code = mysql_errno(m->db);

		snprintf(err, errlen, "%s: binlog stream: %s (error %u)", s->peer,
			 mysql_error(m->db), code);
		/* 1236: the server cannot serve our position (purged, or a
		 * GTID it does not have): reconnecting cannot help */
		*fatal = code == 1236;
		return false;
	}
	p = m->db->net.read_pos;
	if (p[0] == 0xfe && n < 9) {
		snprintf(err, errlen, "%s: the server ended the binlog stream", s->peer);
		return false;
	}
	if (p[0] != 0) {
		snprintf(err, errlen, "%s: unexpected packet 0x%02x in the binlog stream", s->peer,
			 p[0]);
		return false;
	}
	*ev = p + 1;
	*len = n - 1;
	return true;
}

/* The second connection (describe(), lag()), opened on first use; what
 * names the purpose in err. */
static bool meta_open(struct msrc *m, const char *what, char *err, size_t errlen)
{
	const struct rc_config *c = m->base.cfg;

	if (!m->meta) {
		unsigned timeout = (unsigned)c->src_connect_timeout_s;

		m->meta = mysql_init(NULL);
		if (!m->meta)
			log_oom();
		mysql_options(m->meta, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
		mysql_options(m->meta, MYSQL_SET_CHARSET_NAME, "utf8mb4");
		if (c->src_ssl_mode != SSLM_DISABLED)
			mysql_ssl_set(m->meta, c->src_ssl_key[0] ? c->src_ssl_key : NULL,
				      c->src_ssl_cert[0] ? c->src_ssl_cert : NULL,
				      c->src_ssl_ca[0] ? c->src_ssl_ca : NULL, NULL, NULL);
		if (!mysql_real_connect(m->meta, c->src_socket[0] ? NULL : m->host[m->cur],
					c->src_user, c->src_password, NULL,
					(unsigned)m->port[m->cur],
					c->src_socket[0] ? c->src_socket : NULL, 0)) {
			snprintf(err, errlen, "%s: %s: %s", m->base.peer, what,
				 mysql_error(m->meta));
			mysql_close(m->meta);
			m->meta = NULL;
			return false;
		}
	}
	return true;
}

/* Binlog bytes from file:pos to the server's end, from SHOW BINARY LOGS. */
bool replica_lag(struct replica *s, const char *file, uint64_t pos, int64_t *bytes, char *err,
		 size_t errlen)
{
	struct msrc *m = (struct msrc *)s;
	MYSQL_RES *res;
	MYSQL_ROW row;
	bool found = false;
	uint64_t total = 0;

	if (!meta_open(m, "SHOW BINARY LOGS", err, errlen))
		return false;
	if (mysql_query(m->meta, "SHOW BINARY LOGS") || !(res = mysql_store_result(m->meta))) {
		snprintf(err, errlen, "%s: SHOW BINARY LOGS: %s", s->peer, mysql_error(m->meta));
		mysql_close(m->meta);
		m->meta = NULL;
		return false;
	}
	while ((row = mysql_fetch_row(res))) {
		uint64_t size = row[1] ? strtoull(row[1], NULL, 10) : 0;

		if (found)
			total += size;
		else if (row[0] && strcmp(row[0], file) == 0) {
			found = true;
			total = size > pos ? size - pos : 0;
		}
	}
	mysql_free_result(res);
	if (!found) {
		snprintf(err, errlen, "%s: %s is not in SHOW BINARY LOGS", s->peer, file);
		return false;
	}
	*bytes = (int64_t)total;
	return true;
}

bool replica_describe(struct replica *s, const char *db, const char *table, struct rc_buf *out,
		      char *err, size_t errlen)
{
	struct msrc *m = (struct msrc *)s;
	char edb[600], etab[600], q[1500];
	MYSQL_RES *res;
	MYSQL_ROW row;

	if (!meta_open(m, "information_schema", err, errlen))
		return false;
	if (strlen(db) > 256 || strlen(table) > 256) {
		snprintf(err, errlen, "names too long");
		return false;
	}
	mysql_real_escape_string(m->meta, edb, db, (unsigned long)strlen(db));
	mysql_real_escape_string(m->meta, etab, table, (unsigned long)strlen(table));
	snprintf(q, sizeof(q),
		 "SELECT c.COLUMN_NAME, c.COLUMN_TYPE, c.COLUMN_KEY, IFNULL(co.ID, 0) "
		 "FROM information_schema.COLUMNS c LEFT JOIN information_schema.COLLATIONS co "
		 "ON co.COLLATION_NAME = c.COLLATION_NAME "
		 "WHERE c.TABLE_SCHEMA = '%s' AND c.TABLE_NAME = '%s' ORDER BY c.ORDINAL_POSITION",
		 edb, etab);
	if (mysql_query(m->meta, q) || !(res = mysql_store_result(m->meta))) {
		snprintf(err, errlen, "%s: information_schema: %s", s->peer, mysql_error(m->meta));
		mysql_close(m->meta);
		m->meta = NULL;
		return false;
	}
	buf_reset(out);
	while ((row = mysql_fetch_row(res)))
		buf_printf(out, "%s\t%s\t%s\t%s\n", row[0] ? row[0] : "", row[1] ? row[1] : "",
			   row[2] ? row[2] : "", row[3] ? row[3] : "0");
	mysql_free_result(res);
	return true;
}

void replica_interrupt(struct replica *s)
{
	struct msrc *m = (struct msrc *)s;

	atomic_store(&m->interrupted, 1);
	pthread_mutex_lock(&m->mu);
	if (m->db) {
		int fd = (int)mysql_get_socket(m->db);

		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&m->mu);
}

void replica_disconnect(struct replica *s)
{
	struct msrc *m = (struct msrc *)s;
	MYSQL *db;

	pthread_mutex_lock(&m->mu);
	db = m->db;
	m->db = NULL;
	pthread_mutex_unlock(&m->mu);
	if (db)
		mysql_close(db);
}

void replica_free(struct replica *s)
{
	struct msrc *m = (struct msrc *)s;

	if (!s)
		return;
	replica_disconnect(s);
	if (m->meta)
		mysql_close(m->meta);
	pthread_mutex_destroy(&m->mu);
	for (int i = 0; i < m->nhosts; i++)
		free(m->host[i]);
	free(m->host);
	free(m->port);
	free(m);
}

struct replica *replica_new(const struct rc_config *cfg)
{
	struct msrc *m = calloc(1, sizeof(*m));

	if (!m)
		log_oom();
	m->base.cfg = cfg;
	m->base.server_id = (uint32_t)cfg->src_server_id;
	/* "a:3306, b:3306, c" (port defaults to [source] port), or host */
	{
		const char *p = cfg->src_hosts[0] ? cfg->src_hosts : cfg->src_host;

		while (*p) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			char one[300], *colon;

			while (n && *p == ' ') {
				p++;
				n--;
			}
			snprintf(one, sizeof(one), "%.*s", (int)n, p);
			one[strcspn(one, " ")] = '\0';
			if (one[0]) {
				m->host = realloc(m->host, (size_t)(m->nhosts + 1) * sizeof(char *));
				m->port = realloc(m->port, (size_t)(m->nhosts + 1) * sizeof(int));
				if (!m->host || !m->port)
					log_oom();
				colon = strrchr(one, ':');
				m->port[m->nhosts] = colon ? atoi(colon + 1) : cfg->src_port;
				if (colon)
					*colon = '\0';
				m->host[m->nhosts] = strdup(one);
				if (!m->host[m->nhosts])
					log_oom();
				m->nhosts++;
			}
			if (!comma)
				break;
			p = comma + 1;
		}
	}
	if (cfg->src_socket[0])
		snprintf(m->base.peer, sizeof(m->base.peer), "%s", cfg->src_socket);
	else
		snprintf(m->base.peer, sizeof(m->base.peer), "%s:%d", m->host[0], m->port[0]);
	pthread_mutex_init(&m->mu, NULL);
	return &m->base;
}
