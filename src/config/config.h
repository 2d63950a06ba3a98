/* SPDX-License-Identifier: MIT */
/*
 * The configuration: one option table drives the INI parser, --help,
 * --print-config and the OPTIONS section of rowcast.conf(5).  Values are
 * checked here (types, ranges, choices, required options); whether a
 * database or broker is reachable is not.
 */
#ifndef RC_CONFIG_CONFIG_H
#define RC_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "rowcast/rowcast.h"

enum source_kind { SOURCE_MYSQL = 0, SOURCE_POSTGRESQL = 1 };
enum sink_kind { SINK_MQTT = 0, SINK_STDOUT = 1, SINK_AMQP = 2, SINK_FILE = 3 };
enum mqtt_version { MQTT_V5 = 0, MQTT_V311 = 1 };
enum mqtt_client { MQTT_CLIENT_PAHO = 0, MQTT_CLIENT_MOSQUITTO = 1 };
enum start_kind { START_CURRENT = 0, START_EARLIEST = 1, START_GTID = 2 };
enum position_mode { POS_GTID = 0, POS_FILE = 1 };
/* [snapshot] mode */
enum snap_mode { SNAP_NEVER = 0, SNAP_INITIAL, SNAP_WHEN_NEEDED, SNAP_INITIAL_ONLY };
enum column_names { COLNAMES_BINLOG = 0, COLNAMES_INFO_SCHEMA = 1 };
enum ssl_mode { SSLM_DISABLED = 0, SSLM_PREFERRED = 1, SSLM_REQUIRED = 2, SSLM_VERIFY_CA = 3,
		SSLM_VERIFY_IDENTITY = 4 };
enum stmt_policy { STMT_STOP = 0, STMT_WARN = 1 };
enum unpublishable_policy { UNPUB_STOP = 0, UNPUB_SKIP = 1 };
enum unroutable_policy { UNROUTABLE_ERROR = 0, UNROUTABLE_COUNT = 1 };

/* One [route NAME] section: which rows, and how they are published. */
struct route_cfg {
	char *name;			/* NAME of [route NAME] */
	int line;			/* line of its section header's first key */
	char *match;			/* db.table globs, comma separated */
	char *ops;			/* operations it takes: insert,update,delete,read */
	char *topic;			/* topic / routing key template; "" = default */
	char *key;			/* message key template; "" = none */
	char *columns;			/* columns to keep; "" = all */
	char *rename;			/* old:new pairs, comma separated */
	char *event_type;		/* event type name template; "" = none */
	int envelope;			/* ENV_* */
	bool drop;			/* matched rows are not published */
	char *when;			/* condition (route/expr.h); "" = every row */
	int when_line;			/* line of when, for its errors */
	bool cont;			/* continue: later routes are tried too */
	char *script;			/* Lua file (route/script.h); "" = none */
	int script_line;		/* line of script, for its errors */
	int script_memory;		/* Lua heap cap, bytes (read as unsigned) */
	int script_budget;		/* VM instructions per call */
};

/* One [outbox NAME] section: rows of an outbox table become domain events. */
struct outbox_cfg {
	char *name;			/* NAME of [outbox NAME] */
	int line;			/* line of its first key */
	char *table;			/* db.table of the outbox */
	char *id_column;		/* event id */
	char *aggregate_type_column;	/* aggregate type */
	char *aggregate_id_column;	/* aggregate id (the message key) */
	char *type_column;		/* event type */
	char *payload_column;		/* payload, published as is */
	char *topic;			/* template over the above */
	char *headers;			/* other columns sent as headers; "" = none */
	bool publish_updates;		/* updates of outbox rows are events too */
	bool publish_deletes;		/* deletes too */
	char *when;			/* condition (route/expr.h); "" = every row */
	int when_line;			/* line of when, for its errors */
};

/* Message formats, by [route] envelope / [routes] envelope (route/envelope.h
 * formats them; cloudevents-binary is the native message with CloudEvents
 * headers). */
enum envelope_kind { ENV_NATIVE = 0, ENV_DEBEZIUM = 1, ENV_MAXWELL = 2, ENV_CLOUDEVENTS = 3,
		     ENV_CLOUDEVENTS_BINARY = 4 };
enum unmatched_policy { UNMATCHED_PUBLISH = 0, UNMATCHED_DROP = 1 };

struct rc_config {
	char *path;			/* file it was read from */

	/* [filter] */
	char *flt_include;		/* db.table globs to publish; "" = all */
	char *flt_exclude;		/* db.table globs never published */
	char *flt_ops;			/* operations published */
	char *flt_drop_columns;		/* db.table.column globs never published */
	bool flt_hidden;		/* publish MariaDB's hidden DB_ROW_HASH_n columns */
	bool flt_sequences;		/* publish rows of MariaDB SEQUENCE tables */
	bool flt_history;		/* publish history rows of system-versioned tables */

	/* [routing] */
	int rt_unmatched;		/* UNMATCHED_* */
	int rt_envelope;		/* enum envelope_kind: for rows no route names one */
	char *rt_source_uri;		/* cloudevents source */
	bool rt_markers;		/* BEGIN/END messages per transaction */
	char *rt_markers_topic;		/* their topic */
	bool rt_ddl;			/* a message per DDL statement */
	char *rt_ddl_topic;		/* its topic */
	bool rt_ddl_query;		/* include the statement text */

	struct route_cfg *routes;	/* [route NAME] sections, in file order */
	int nroutes;
	struct outbox_cfg *outboxes;	/* [outbox NAME] sections */
	int noutboxes;

	/* [log] */
	int log_level;			/* LOG_* */
	bool log_syslog;		/* also to syslog */
	char *log_file;			/* also appended to this file; "" none */

	/* [source] */
	int src_kind;			/* SOURCE_* */
	char *src_host;			/* database host name or address */
	char *src_hosts;		/* host:port list of one GTID topology, or "" */
	int src_port;			/* TCP port */
	char *src_socket;		/* Unix socket; wins over host when set */
	char *src_user;			/* replication user */
	char *src_password;		/* secret: from password or password_file */
	char *src_password_file;	/* file whose first line is the password */
	int src_server_id;		/* our replica server id */
	int src_heartbeat_s;		/* server heartbeat period, seconds */
	int src_connect_timeout_s;	/* connect/read timeout, seconds */
	char *src_start;		/* raw start_position text */
	int src_start_kind;		/* START_* parsed from src_start */
	int src_on_statement_dml;	/* STMT_* */
	int src_position_mode;		/* POS_GTID or POS_FILE */
	int src_column_names;		/* COLNAMES_* */
	int src_ssl_mode;		/* SSL_* */
	char *src_ssl_ca;		/* CA certificates for the server's certificate */
	char *src_ssl_cert;		/* client certificate */
	char *src_ssl_key;		/* its key */
	int src_reconnect_min_ms;	/* first reconnect delay */
	int src_reconnect_max_ms;	/* longest reconnect delay */
	int src_net_write_timeout_s;	/* server's send timeout for our session */
	char *src_conninfo;		/* postgresql: libpq connection string, or "" */
	char *src_dbname;		/* postgresql: database */
	char *src_slot;			/* postgresql: replication slot */
	char *src_publication;		/* postgresql: publication */
	bool src_create_slot;		/* postgresql: create a missing slot */
	bool src_create_publication;	/* postgresql: create a missing publication */
	char *src_message_prefix;	/* postgresql: outbox message prefix, or "" */

	/* [snapshot] */
	int snap_mode;			/* SNAP_* */
	int snap_chunk_rows;		/* rows of the first chunk of a table */
	int snap_max_chunk_rows;	/* most rows in one chunk */
	int snap_chunk_time_ms;		/* time one chunk's read aims at */
	int snap_chunk_bytes;		/* most row bytes in one chunk */
	int snap_max_rows_per_s;	/* rows/s limit, 0 = none */
	int snap_statement_timeout_s;	/* max_statement_time of its queries */
	bool snap_allow_keyless;	/* single-pass snapshot of keyless tables */
	int snap_progress_s;		/* seconds between progress log lines */
	char *snap_control_socket;	/* control socket path; "" beside the checkpoint */

	/* [checkpoint] */
	char *ckpt_path;		/* the checkpoint file */
	int ckpt_interval_ms;		/* at most one write per this interval */

	/* [sink] */
	int sink_kind;			/* SINK_* */
	int sink_max_inflight;		/* messages published, not yet acked */
	int sink_shutdown_timeout_ms;	/* wait for acks at a clean stop */
	int sink_max_inflight_bytes;	/* payload bytes published, not yet acked */
	int sink_on_unpublishable;	/* UNPUB_* */
	char *sink_path;		/* type = file: the JSON-lines file */

	/* [mqtt] */
	char *mqtt_uri;			/* tcp://host:port */
	char *mqtt_client_id;		/* stable client id */
	char *mqtt_topic_prefix;	/* topic = prefix/db/table */
	char *mqtt_user;		/* user name, or empty */
	char *mqtt_password;		/* secret: from password or password_file */
	char *mqtt_password_file;	/* file whose first line is the password */
	int mqtt_qos;			/* 0, 1 or 2 */
	int mqtt_keepalive_s;		/* keep-alive interval, seconds */
	int mqtt_version;		/* MQTT_V5 or MQTT_V311 */
	int mqtt_client;		/* MQTT_CLIENT_*: paho or mosquitto */
	char *mqtt_status_topic;	/* retained online/offline; "" = none */
	char *mqtt_ca_file;		/* TLS: CA certificates */
	char *mqtt_cert_file;		/* TLS: client certificate */
	char *mqtt_key_file;		/* TLS: client key */
	bool mqtt_verify_host;		/* TLS: check the broker's host name */

	/* [amqp] */
	char *amqp_host;		/* broker host */
	int amqp_port;			/* broker port */
	char *amqp_vhost;		/* virtual host */
	char *amqp_user;		/* user name */
	char *amqp_password;		/* secret: from password or password_file */
	char *amqp_password_file;	/* file whose first line is the password */
	char *amqp_exchange;		/* exchange to publish to */
	char *amqp_exchange_type;	/* type when declared */
	bool amqp_declare_exchange;	/* declare it (durable) at connect */
	char *amqp_routing_key;		/* template: {db}, {table}, {op} */
	bool amqp_persistent;		/* delivery mode 2 */
	bool amqp_mandatory;		/* unroutable messages come back */
	int amqp_on_unroutable;		/* UNROUTABLE_* */
	int amqp_heartbeat_s;		/* AMQP heartbeat, seconds, 0 = off */
	bool amqp_tls;			/* TLS to the broker */
	char *amqp_ca_file;		/* TLS: CA certificates */
	char *amqp_cert_file;		/* TLS: client certificate */
	char *amqp_key_file;		/* TLS: client key */
	bool amqp_verify_host;		/* TLS: check the broker's host name */

	/* [metrics] */
	char *metrics_listen;		/* host:port of the HTTP listener; "" = off */
	int metrics_lag_threshold_s;	/* /health fails above this lag */
	int metrics_max_conns;		/* HTTP connections open at once */
	int metrics_max_conns_per_addr;	/* of them from one address, 0 = no limit */
	int metrics_idle_timeout_s;	/* an idle HTTP connection is closed after */

	/* set by the program, not the file */
	bool handle_signals;		/* rc_run() installs SIGTERM/SIGINT watchers */
};

/*
 * How a value is parsed and checked.  Every type from OPT_STR on is stored
 * as a string (char *); the others only add a check of its form, named in
 * rowcast.conf(5).
 */
enum opt_type {
	OPT_INT,		/* integer in [min, max] */
	OPT_BOOL,		/* true/false, yes/no, on/off, 1/0 */
	OPT_ENUM,		/* one of choices; its index is stored */
	OPT_STR,		/* any text */
	OPT_HOSTPORTS,		/* HOST[:PORT], comma separated, port 1-65535 */
	OPT_LISTEN,		/* IPv4:PORT, localhost:PORT or [IPv6]:PORT */
	OPT_TOPIC,		/* MQTT topic level(s): no wildcard, no leading $ */
	OPT_URI,		/* tcp|mqtt|ssl|mqtts://HOST[:PORT] */
	OPT_SECRET_FILE,	/* readable file, first line not empty */
};

#define OPT_SECRET 0x1		/* never printed or logged */
#define OPT_RELOAD 0x2		/* a reload applies it (SIGHUP) */
#define OPT_REQUIRED 0x4	/* no default: the file must set it */
#define OPT_NONEMPTY 0x8	/* a string that must not be empty */

/* What config_load() checks besides the file's own text. */
#define CONFIG_CHECK_FOLDERS 0x1	/* the checkpoint folder exists, is writable */
#define CONFIG_WARN 0x2			/* warn about inline or world-readable secrets */
#define CONFIG_NO_SECRETS 0x4		/* password files are not read (offline verbs
					   that never connect: rowcast test) */

/* One row of the option table. */
struct opt_def {
	const char *section;	/* INI section */
	const char *key;	/* INI key */
	enum opt_type type;	/* how the value is parsed */
	size_t offset;		/* field in struct rc_config */
	const char *def;	/* default, as text ("" for none) */
	unsigned flags;		/* OPT_* */
	long min, max;		/* OPT_INT range */
	const char *choices;	/* OPT_ENUM: "a|b|c", the index is stored */
	const char *summary;	/* one line for --help and the man page */
};

/* The table, terminated by a row with key NULL. */
extern const struct opt_def config_options[];

/*
 * rc_config_load() with more checks (CONFIG_*), for the daemon and
 * check-config.  The folder check is made for the user running it.
 */
enum rc_status config_load(const char *path, unsigned checks, struct rc_config **out,
			   struct rc_error *err);

/*
 * A deep copy of cfg, made from the option tables (every text option,
 * route and outbox), so an instance keeps exactly what was parsed and
 * validated; free it with rc_config_free().  Never fails (aborts when
 * memory is out).
 */
struct rc_config *config_dup(const struct rc_config *cfg);

/*
 * After a reload: copy into running the options a reload may change, and
 * log each changed option that needs a restart (it keeps its old value).
 */
void config_apply_reloadable(struct rc_config *running, const struct rc_config *fresh);

/* Print the option list for --help. */
/* "a.b.c.d:PORT", "localhost:PORT" or "[v6]:PORT" (port 0 to 65535) into
 * sa, *v6 saying which family; false when s is not one.  What [metrics]
 * listen accepts and what it binds. */
bool config_listen_parse(const char *s, struct sockaddr_storage *sa, bool *v6);

void config_print_help(FILE *f);
/* Print the OPTIONS section of rowcast.conf(5), in roff. */
void config_print_man(FILE *f);
/* Print a sample config with every option commented out at its default. */
void config_print_sample(FILE *f);

#endif
