/* SPDX-License-Identifier: MIT */
/*
 * INI configuration (see config.h).  inih splits the file into
 * section/key/value; the option table says what each key means.  Errors
 * name file:line and every bad line is reported, not only the first.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define F(field) offsetof(struct rc_config, field)

const struct opt_def config_options[] = {
	{ "log", "level", OPT_ENUM, F(log_level), "info", OPT_RELOAD, 0, 0,
	  "error|warning|info|debug", "Least severe message that is logged." },
	{ "log", "syslog", OPT_BOOL, F(log_syslog), "false", 0, 0, 0, NULL,
	  "Also log to syslog (facility daemon), besides standard error." },
	{ "log", "file", OPT_STR, F(log_file), "", 0, 0, 0, NULL,
	  "Also append log lines to this file, each with its time and level (empty: no file). Opened at start; SIGHUP opens it anew at the same path, so logrotate can move it and send SIGHUP (or use copytruncate)." },

	{ "source", "type", OPT_ENUM, F(src_kind), "mysql", 0, 0, 0, "mysql|postgresql",
	  "The kind of database: mysql reads the binlog of a MySQL or MariaDB server as a replica; postgresql reads a PostgreSQL 15 or later server's logical replication stream (pgoutput protocol 1) from a replication slot, for the tables of a publication." },
	{ "source", "host", OPT_HOSTPORTS, F(src_host), "127.0.0.1", OPT_NONEMPTY, 0, 0, NULL,
	  "Database server host name or address." },
	{ "source", "port", OPT_INT, F(src_port), "3306", 0, 1, 65535, NULL,
	  "Database server TCP port (5432 when type = postgresql and port is not set)." },
	{ "source", "hosts", OPT_HOSTPORTS, F(src_hosts), "", 0, 0, 0, NULL,
	  "Servers of one GTID topology, host:port comma separated; when set it replaces host and port, and rowcast moves to the next one that answers when its server is gone." },
	{ "source", "socket", OPT_STR, F(src_socket), "", 0, 0, 0, NULL,
	  "Unix socket of the database server; when set, host and port are not used." },
	{ "source", "user", OPT_STR, F(src_user), "", OPT_REQUIRED, 0, 0, NULL,
	  "User with REPLICATION SLAVE, REPLICATION CLIENT and SELECT; with type = postgresql a role with the REPLICATION attribute (not required when conninfo names one)." },
	{ "source", "password", OPT_STR, F(src_password), "", OPT_SECRET, 0, 0, NULL,
	  "Password of that user (prefer password_file)." },
	{ "source", "password_file", OPT_SECRET_FILE, F(src_password_file), "", 0, 0, 0, NULL,
	  "File whose first line is the password; wins over password." },
	{ "source", "server_id", OPT_INT, F(src_server_id), "", OPT_REQUIRED, 1, 4294967295L, NULL,
	  "Server id rowcast registers with; unique among the server's replicas (type = mysql; not used by postgresql, where it may be left out)." },
	{ "source", "heartbeat_period", OPT_INT, F(src_heartbeat_s), "5", 0, 1, 3600, NULL,
	  "Seconds between server heartbeats when the binlog is idle." },
	{ "source", "connect_timeout", OPT_INT, F(src_connect_timeout_s), "10", 0, 1, 3600, NULL,
	  "Seconds to wait for the database connection." },
	{ "source", "start_position", OPT_STR, F(src_start), "current", 0, 0, 0, NULL,
	  "Where to start when there is no checkpoint: current, earliest, a GTID state (0-1-42,1-1-7), or FILE:OFFSET with position_mode = file." },
	{ "source", "ssl_mode", OPT_ENUM, F(src_ssl_mode), "preferred", 0, 0, 0,
	  "disabled|preferred|required|verify_ca|verify_identity",
	  "TLS to the database: off; used when the server offers it; required; required with the server certificate checked against ssl_ca (verify_ca and verify_identity also check the host name: libmariadb checks both together)." },
	{ "source", "ssl_ca", OPT_STR, F(src_ssl_ca), "", 0, 0, 0, NULL,
	  "CA certificates (PEM) to check the database server's certificate with." },
	{ "source", "ssl_cert", OPT_STR, F(src_ssl_cert), "", 0, 0, 0, NULL,
	  "Client certificate (PEM), for servers that require one." },
	{ "source", "ssl_key", OPT_STR, F(src_ssl_key), "", 0, 0, 0, NULL,
	  "The client certificate's private key (PEM)." },
	{ "source", "column_names", OPT_ENUM, F(src_column_names), "binlog", 0, 0, 0,
	  "binlog|information_schema",
	  "Where column names come from: the binlog (binlog_row_metadata = FULL, required), or information_schema for servers that cannot log them (binlog_row_metadata MINIMAL, or NO_LOG, where signs and character sets come from there too). A table changed while rowcast is down is then described as it is now, not as it was, and an ENUM or SET member with a character outside the BMP reads as '?' from information_schema (rowcast warns)." },
	{ "source", "position_mode", OPT_ENUM, F(src_position_mode), "gtid", 0, 0, 0, "gtid|file",
	  "Resume by GTID state, or by binlog file and offset (servers without GTIDs)." },
	{ "source", "reconnect_min_ms", OPT_INT, F(src_reconnect_min_ms), "500", OPT_RELOAD, 10, 600000, NULL,
	  "First delay before reconnecting to the database; doubles after each failure, with jitter." },
	{ "source", "reconnect_max_ms", OPT_INT, F(src_reconnect_max_ms), "30000", OPT_RELOAD, 100, 3600000, NULL,
	  "Longest delay between reconnection attempts." },
	{ "source", "net_write_timeout", OPT_INT, F(src_net_write_timeout_s), "3600", 0, 10, 31536000, NULL,
	  "Seconds the server may wait to send to rowcast (a slow broker pauses reading) before it drops the stream; set for rowcast's session only." },
	{ "source", "on_statement_dml", OPT_ENUM, F(src_on_statement_dml), "stop", 0, 0, 0,
	  "stop|warn", "What a statement-based INSERT/UPDATE/DELETE in the binlog does." },
	{ "source", "conninfo", OPT_STR, F(src_conninfo), "", 0, 0, 0, NULL,
	  "type = postgresql: a libpq connection string (key=value or postgresql:// URI); when set it replaces host, port, socket, dbname, user, password and the ssl_ options (replication=database is added). Keep a password out of it (use password_file or ~/.pgpass)." },
	{ "source", "dbname", OPT_STR, F(src_dbname), "postgres", OPT_NONEMPTY, 0, 0, NULL,
	  "type = postgresql: the database whose changes are read (a slot belongs to one database)." },
	{ "source", "slot", OPT_STR, F(src_slot), "rowcast", OPT_NONEMPTY, 0, 0, NULL,
	  "type = postgresql: the logical replication slot (plugin pgoutput) rowcast reads from and confirms to; one rowcast per slot." },
	{ "source", "publication", OPT_STR, F(src_publication), "rowcast", OPT_NONEMPTY, 0, 0, NULL,
	  "type = postgresql: the publication naming the tables (and operations) that are streamed." },
	{ "source", "create_slot", OPT_BOOL, F(src_create_slot), "false", 0, 0, 0, NULL,
	  "type = postgresql: create the slot when it is missing and there is no checkpoint yet (streaming starts at its creation). A missing slot with a checkpoint is always an error: changes since would be lost." },
	{ "source", "message_prefix", OPT_STR, F(src_message_prefix), "", 0, 0, 0, NULL,
	  "type = postgresql: transactional messages of pg_logical_emit_message(true, PREFIX, CONTENT) with this prefix are an outbox without a table: CONTENT, a JSON object, is handed to the routes as an inserted row of table pg_message.PREFIX whose columns are its keys (so [outbox NAME] table = pg_message.PREFIX publishes it). Empty: messages are not read. Any role may emit one: treat the content as untrusted." },
	{ "source", "create_publication", OPT_BOOL, F(src_create_publication), "false", 0, 0, 0, NULL,
	  "type = postgresql: create the publication FOR ALL TABLES when it is missing (needs a superuser)." },

	{ "snapshot", "mode", OPT_ENUM, F(snap_mode), "never", 0, 0, 0,
	  "never|initial|when_needed|initial_only",
	  "When rowcast snapshots the existing rows of the tables it publishes: never; initial: when there is no checkpoint, then it streams on from the snapshot with nothing lost or repeated between the two; when_needed: also when the checkpoint's position was purged from the server (instead of exiting 76: the snapshot starts from the server's current position); initial_only: as initial, then exits 0 once every snapshot row is acknowledged (a later start streams on from the checkpoint). Snapshots of chosen tables can be asked for at any time with rowcast snapshot (MariaDB only)." },
	{ "snapshot", "chunk_rows", OPT_INT, F(snap_chunk_rows), "1000", 0, 1, 100000000, NULL,
	  "Rows of a table's first chunk; later chunks are sized to take about chunk_time_ms." },
	{ "snapshot", "max_chunk_rows", OPT_INT, F(snap_max_chunk_rows), "50000", 0, 1, 100000000, NULL,
	  "Most rows in one chunk (its rows wait in memory until the binlog reader reaches the chunk's point)." },
	{ "snapshot", "chunk_time_ms", OPT_INT, F(snap_chunk_time_ms), "50", 0, 1, 600000, NULL,
	  "How long reading one chunk should take. Live changes committed while a table is snapshotted wait up to about twice that (for the chunk being read and the one handed over before it); larger chunks read a table slightly faster." },
	{ "snapshot", "chunk_bytes", OPT_INT, F(snap_chunk_bytes), "16777216", 0, 1024, 1073741824, NULL,
	  "Most bytes of row data in one chunk: a chunk ends after the row that reaches it. Two chunks can be in memory at once (one read while the other is handed over)." },
	{ "snapshot", "max_rows_per_second", OPT_INT, F(snap_max_rows_per_s), "0", 0, 0, 100000000, NULL,
	  "Snapshot rows read per second at most, all tables together; 0 for no limit." },
	{ "snapshot", "statement_timeout", OPT_INT, F(snap_statement_timeout_s), "60", 0, 0, 86400, NULL,
	  "Seconds each snapshot query may run on the server (max_statement_time); 0 for no limit. A chunk that times out is read again, smaller." },
	{ "snapshot", "allow_keyless", OPT_BOOL, F(snap_allow_keyless), "false", 0, 0, 0, NULL,
	  "Snapshot a table with no primary key and no NOT NULL unique key in one pass, in one transaction; the live stream waits while it is read, and a restart reads it again from the start. Without it such a table is refused." },
	{ "snapshot", "progress_interval", OPT_INT, F(snap_progress_s), "5", 0, 1, 3600, NULL,
	  "Seconds between snapshot progress lines in the log." },
	{ "snapshot", "control_socket", OPT_STR, F(snap_control_socket), "", 0, 0, 0, NULL,
	  "Unix socket that rowcast snapshot and rowcast status talk to (mode 0600: the daemon's user and root); empty: rowcast.sock in the checkpoint's folder." },

	{ "checkpoint", "path", OPT_STR, F(ckpt_path), "/var/lib/rowcast/checkpoint", 0, 0, 0, NULL,
	  "Checkpoint file: the position acknowledged by the broker." },
	{ "checkpoint", "interval_ms", OPT_INT, F(ckpt_interval_ms), "1000", OPT_RELOAD, 10, 600000, NULL,
	  "At most one checkpoint write per this many milliseconds (and one at every clean stop)." },

	{ "sink", "type", OPT_ENUM, F(sink_kind), "mqtt", 0, 0, 0, "mqtt|stdout|amqp|file",
	  "Where messages go: an MQTT broker, JSON lines on standard output, an AMQP 0-9-1 broker, or JSON lines appended to a file. stdout and file lines count as acknowledged once written (file: and fsynced); a reader of stdout that stops reading holds up publishing, not the daemon, which still stops within shutdown_timeout_ms." },
	{ "sink", "path", OPT_STR, F(sink_path), "", 0, 0, 0, NULL,
	  "type = file: the file JSON lines are appended to (fsynced before they count as acknowledged)." },
	{ "sink", "max_inflight", OPT_INT, F(sink_max_inflight), "1000", 0, 1, 1000000, NULL,
	  "Messages published but not yet acknowledged, at most; as many more may wait decoded behind them, then reading pauses." },
	{ "sink", "max_inflight_bytes", OPT_INT, F(sink_max_inflight_bytes), "67108864", 0, 65536, 2147483647L, NULL,
	  "Payload bytes published but not yet acknowledged, at most; reading pauses at the limit." },
	{ "sink", "on_unpublishable", OPT_ENUM, F(sink_on_unpublishable), "stop", OPT_RELOAD, 0, 0, "stop|skip",
	  "A message that can never be published (refused by the broker, a bad outbox row): stop before it, or skip it with a log line and a count." },
	{ "sink", "shutdown_timeout_ms", OPT_INT, F(sink_shutdown_timeout_ms), "10000", OPT_RELOAD, 0, 3600000, NULL,
	  "At a clean stop, how long to wait for outstanding acknowledgements." },

	{ "mqtt", "uri", OPT_URI, F(mqtt_uri), "tcp://127.0.0.1:1883", OPT_NONEMPTY, 0, 0, NULL,
	  "Broker address, tcp://host:port." },
	{ "mqtt", "client_id", OPT_STR, F(mqtt_client_id), "rowcast", OPT_NONEMPTY, 0, 0, NULL,
	  "MQTT client id; keep it stable so the broker keeps the session." },
	{ "mqtt", "topic_prefix", OPT_TOPIC, F(mqtt_topic_prefix), "rowcast", 0, 0, 0, NULL,
	  "Messages go to PREFIX/DB/TABLE." },
	{ "mqtt", "qos", OPT_INT, F(mqtt_qos), "1", 0, 0, 2, NULL,
	  "MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once per connection." },
	{ "mqtt", "user", OPT_STR, F(mqtt_user), "", 0, 0, 0, NULL,
	  "MQTT user name; empty for none." },
	{ "mqtt", "password", OPT_STR, F(mqtt_password), "", OPT_SECRET, 0, 0, NULL,
	  "MQTT password (prefer password_file)." },
	{ "mqtt", "password_file", OPT_SECRET_FILE, F(mqtt_password_file), "", 0, 0, 0, NULL,
	  "File whose first line is the MQTT password; wins over password." },
	{ "mqtt", "keepalive", OPT_INT, F(mqtt_keepalive_s), "30", 0, 5, 3600, NULL,
	  "MQTT keep-alive interval, seconds." },
	{ "mqtt", "version", OPT_ENUM, F(mqtt_version), "5", 0, 0, 0, "5|3.1.1",
	  "MQTT protocol version; 5 carries the event id, GTID, db, table and op as user properties." },
	{ "mqtt", "client", OPT_ENUM, F(mqtt_client), "mosquitto", 0, 0, 0, "paho|mosquitto",
	  "MQTT client library: mosquitto (libmosquitto, driven from rowcast's event loop, no threads of its own, at most 256 messages in flight whatever [sink] max_inflight says; the faster, see bench/RESULTS.md) or paho (paho-mqtt-c, with threads of its own; any max_inflight, for a distant broker)." },
	{ "mqtt", "status_topic", OPT_STR, F(mqtt_status_topic), "", 0, 0, 0, NULL,
	  "Retained topic that says online while rowcast is connected and offline (last will) when not; empty for none." },
	{ "mqtt", "ca_file", OPT_STR, F(mqtt_ca_file), "", 0, 0, 0, NULL,
	  "TLS (ssl:// URIs): CA certificates to verify the broker with." },
	{ "mqtt", "cert_file", OPT_STR, F(mqtt_cert_file), "", 0, 0, 0, NULL,
	  "TLS: client certificate, for brokers that require one." },
	{ "mqtt", "key_file", OPT_STR, F(mqtt_key_file), "", 0, 0, 0, NULL,
	  "TLS: the client certificate's private key." },
	{ "mqtt", "verify_host", OPT_BOOL, F(mqtt_verify_host), "true", 0, 0, 0, NULL,
	  "TLS: check that the broker's certificate names its host." },

	{ "amqp", "host", OPT_STR, F(amqp_host), "127.0.0.1", 0, 0, 0, NULL,
	  "AMQP broker host." },
	{ "amqp", "port", OPT_INT, F(amqp_port), "5672", 0, 1, 65535, NULL,
	  "AMQP broker port (5671 is usual with TLS)." },
	{ "amqp", "vhost", OPT_STR, F(amqp_vhost), "/", 0, 0, 0, NULL,
	  "Virtual host." },
	{ "amqp", "user", OPT_STR, F(amqp_user), "guest", 0, 0, 0, NULL,
	  "User name." },
	{ "amqp", "password", OPT_STR, F(amqp_password), "guest", OPT_SECRET, 0, 0, NULL,
	  "Password (prefer password_file)." },
	{ "amqp", "password_file", OPT_SECRET_FILE, F(amqp_password_file), "", 0, 0, 0, NULL,
	  "File whose first line is the password; wins over password." },
	{ "amqp", "exchange", OPT_STR, F(amqp_exchange), "rowcast", 0, 0, 0, NULL,
	  "Exchange messages are published to." },
	{ "amqp", "exchange_type", OPT_STR, F(amqp_exchange_type), "topic", 0, 0, 0, NULL,
	  "Type of the exchange when rowcast declares it." },
	{ "amqp", "declare_exchange", OPT_BOOL, F(amqp_declare_exchange), "false", 0, 0, 0, NULL,
	  "Declare the exchange (durable) when connecting." },
	{ "amqp", "routing_key", OPT_STR, F(amqp_routing_key), "{db}.{table}", 0, 0, 0, NULL,
	  "Routing key template; {db}, {table} and {op} are replaced." },
	{ "amqp", "persistent", OPT_BOOL, F(amqp_persistent), "true", 0, 0, 0, NULL,
	  "Publish with delivery mode 2 (persistent)." },
	{ "amqp", "mandatory", OPT_BOOL, F(amqp_mandatory), "true", 0, 0, 0, NULL,
	  "Publish with the mandatory flag: a message no queue takes comes back." },
	{ "amqp", "on_unroutable", OPT_ENUM, F(amqp_on_unroutable), "error", 0, 0, 0, "error|count",
	  "A returned (unroutable) message: stop with an error, or count it and go on." },
	{ "amqp", "heartbeat", OPT_INT, F(amqp_heartbeat_s), "30", 0, 0, 3600, NULL,
	  "AMQP heartbeat interval, seconds; 0 turns heartbeats off." },
	{ "amqp", "tls", OPT_BOOL, F(amqp_tls), "false", 0, 0, 0, NULL,
	  "Connect with TLS." },
	{ "amqp", "ca_file", OPT_STR, F(amqp_ca_file), "", 0, 0, 0, NULL,
	  "TLS: CA certificates to verify the broker with." },
	{ "amqp", "cert_file", OPT_STR, F(amqp_cert_file), "", 0, 0, 0, NULL,
	  "TLS: client certificate." },
	{ "amqp", "key_file", OPT_STR, F(amqp_key_file), "", 0, 0, 0, NULL,
	  "TLS: the client certificate's private key." },
	{ "amqp", "verify_host", OPT_BOOL, F(amqp_verify_host), "true", 0, 0, 0, NULL,
	  "TLS: check that the broker's certificate names its host." },

	{ "filter", "include", OPT_STR, F(flt_include), "", OPT_RELOAD, 0, 0, NULL,
	  "db.table globs (* and ?) of the tables to publish, comma separated; empty publishes every table." },
	{ "filter", "exclude", OPT_STR, F(flt_exclude), "", OPT_RELOAD, 0, 0, NULL,
	  "db.table globs of tables never published; wins over include." },
	{ "filter", "ops", OPT_STR, F(flt_ops), "insert,update,delete,read", OPT_RELOAD, 0, 0, NULL,
	  "Operations published, comma separated: insert, update, delete and read (the rows a snapshot reads); without read no table is snapshotted." },
	{ "filter", "drop_columns", OPT_STR, F(flt_drop_columns), "", OPT_RELOAD, 0, 0, NULL,
	  "db.table.column globs of columns never published (secrets), comma separated." },

	{ "filter", "hidden_columns", OPT_BOOL, F(flt_hidden), "false", OPT_RELOAD, 0, 0, NULL,
	  "Publish MariaDB's hidden DB_ROW_HASH_n columns (of long UNIQUE keys)." },
	{ "filter", "sequences", OPT_BOOL, F(flt_sequences), "false", OPT_RELOAD, 0, 0, NULL,
	  "Publish the rows of MariaDB SEQUENCE tables (NEXTVAL bookkeeping)." },
	{ "filter", "versioning_history", OPT_BOOL, F(flt_history), "false", OPT_RELOAD, 0, 0, NULL,
	  "System-versioned tables: publish history rows as the server logs them (inserts of old versions); by default they are left out and a row moved to history is a delete." },

	{ "routing", "unmatched", OPT_ENUM, F(rt_unmatched), "publish", OPT_RELOAD, 0, 0, "publish|drop",
	  "A row no [route] matches: publish it to the default topic, or drop it." },
	{ "routing", "envelope", OPT_ENUM, F(rt_envelope), "native", OPT_RELOAD, 0, 0,
	  "native|debezium|maxwell|cloudevents|cloudevents-binary", "Message format of rows no [route] gives one; cloudevents-binary puts the CloudEvents attributes in headers (MQTT 5 user properties) and the native message in the payload." },
	{ "routing", "source_uri", OPT_STR, F(rt_source_uri), "rowcast://localhost", OPT_RELOAD, 0, 0, NULL,
	  "CloudEvents source attribute." },
	{ "routing", "transaction_markers", OPT_BOOL, F(rt_markers), "false", OPT_RELOAD, 0, 0, NULL,
	  "Publish a BEGIN and an END message per transaction (END counts the events per table)." },
	{ "routing", "markers_topic", OPT_STR, F(rt_markers_topic), "{prefix}/_transactions", OPT_RELOAD, 0, 0, NULL,
	  "Topic of the transaction markers." },
	{ "routing", "ddl_events", OPT_BOOL, F(rt_ddl), "false", OPT_RELOAD, 0, 0, NULL,
	  "Publish a message per DDL statement (never for account statements)." },
	{ "routing", "ddl_topic", OPT_STR, F(rt_ddl_topic), "{prefix}/_schema", OPT_RELOAD, 0, 0, NULL,
	  "Topic of DDL messages." },
	{ "routing", "include_query", OPT_BOOL, F(rt_ddl_query), "false", OPT_RELOAD, 0, 0, NULL,
	  "Include the statement text in DDL messages." },

	{ "metrics", "listen", OPT_LISTEN, F(metrics_listen), "", 0, 0, 0, NULL,
	  "Address of the HTTP listener for /metrics and /health, e.g. 127.0.0.1:9187; empty turns it off." },
	{ "metrics", "lag_threshold", OPT_INT, F(metrics_lag_threshold_s), "60", OPT_RELOAD, 1, 86400, NULL,
	  "Seconds of replication lag above which /health answers 503." },
	{ "metrics", "max_connections", OPT_INT, F(metrics_max_conns), "32", 0, 1, 1024, NULL,
	  "Most HTTP connections open at once; more are closed as they arrive, so that clients can never take the descriptors the checkpoint and the connections to the servers need." },
	{ "metrics", "max_connections_per_address", OPT_INT, F(metrics_max_conns_per_addr), "8", 0, 0, 1024, NULL,
	  "Most HTTP connections open at once from one client address; 0 for no limit besides max_connections." },
	{ "metrics", "idle_timeout", OPT_INT, F(metrics_idle_timeout_s), "10", 0, 1, 3600, NULL,
	  "Seconds after which an HTTP connection that sends nothing is closed." },
	{ NULL, NULL, OPT_STR, 0, NULL, 0, 0, 0, NULL, NULL },
};

#define R(field) offsetof(struct route_cfg, field)
#define O(field) offsetof(struct outbox_cfg, field)

/* Options of [route NAME] sections. */
const struct opt_def route_options[] = {
	{ "route", "match", OPT_STR, R(match), "*.*", OPT_RELOAD, 0, 0, NULL,
	  "db.table globs of the rows this route takes, comma separated." },
	{ "route", "ops", OPT_STR, R(ops), "insert,update,delete,read", OPT_RELOAD, 0, 0, NULL,
	  "Operations it takes, as [filter] ops names them." },
	{ "route", "topic", OPT_STR, R(topic), "", OPT_RELOAD, 0, 0, NULL,
	  "Topic (MQTT) or routing key (AMQP) template; placeholders {prefix} {db} {table} {op} {Op} {pk} {gtid} {col:NAME}; empty for the default PREFIX/DB/TABLE." },
	{ "route", "key", OPT_STR, R(key), "", OPT_RELOAD, 0, 0, NULL,
	  "Message key template (MQTT 5 user property and AMQP header key); empty for none." },
	{ "route", "columns", OPT_STR, R(columns), "", OPT_RELOAD, 0, 0, NULL,
	  "Columns to keep, comma separated; empty keeps all." },
	{ "route", "rename", OPT_STR, R(rename), "", OPT_RELOAD, 0, 0, NULL,
	  "Columns to rename, as old:new pairs, comma separated." },
	{ "route", "event_type", OPT_STR, R(event_type), "", OPT_RELOAD, 0, 0, NULL,
	  "Event type name template, e.g. Order{Op}; sent as the event_type field and header." },
	{ "route", "envelope", OPT_ENUM, R(envelope), "native", OPT_RELOAD, 0, 0,
	  "native|debezium|maxwell|cloudevents|cloudevents-binary", "Message format." },
	{ "route", "drop", OPT_BOOL, R(drop), "false", OPT_RELOAD, 0, 0, NULL,
	  "Drop the rows this route takes instead of publishing them." },
	{ "route", "when", OPT_STR, R(when), "", OPT_RELOAD, 0, 0, NULL,
	  "Condition on the row change (see CONDITIONS): the route takes only the rows it is true for; empty takes all." },
	{ "route", "continue", OPT_BOOL, R(cont), "false", OPT_RELOAD, 0, 0, NULL,
	  "After this route published a row, try the routes after it too (one row change may publish several events)." },
	{ "route", "script", OPT_STR, R(script), "", OPT_RELOAD, 0, 0, NULL,
	  "Lua 5.4 file whose function transform(change) turns each row this route takes into zero or more messages (see SCRIPTS); empty for none." },
	{ "route", "script_memory_limit", OPT_INT, R(script_memory), "33554432", OPT_RELOAD, 262144, 4294967295L, NULL,
	  "Bytes the script's Lua heap may hold; a row whose call needs more is unpublishable." },
	{ "route", "script_instruction_limit", OPT_INT, R(script_budget), "1000000", OPT_RELOAD, 1000, 2000000000L, NULL,
	  "Lua VM instructions one call (one row) may run; a row whose call needs more is unpublishable." },
	{ NULL, NULL, OPT_STR, 0, NULL, 0, 0, 0, NULL, NULL },
};

/* Options of [outbox NAME] sections. */
const struct opt_def outbox_options[] = {
	{ "outbox", "table", OPT_STR, O(table), "", OPT_REQUIRED, 0, 0, NULL,
	  "The outbox table, db.table." },
	{ "outbox", "id_column", OPT_STR, O(id_column), "id", OPT_RELOAD, 0, 0, NULL,
	  "Column of the event id (the message id)." },
	{ "outbox", "aggregate_type_column", OPT_STR, O(aggregate_type_column), "aggregatetype", OPT_RELOAD, 0, 0, NULL,
	  "Column of the aggregate type." },
	{ "outbox", "aggregate_id_column", OPT_STR, O(aggregate_id_column), "aggregateid", OPT_RELOAD, 0, 0, NULL,
	  "Column of the aggregate id (the message key)." },
	{ "outbox", "type_column", OPT_STR, O(type_column), "type", OPT_RELOAD, 0, 0, NULL,
	  "Column of the event type." },
	{ "outbox", "payload_column", OPT_STR, O(payload_column), "payload", OPT_RELOAD, 0, 0, NULL,
	  "Column whose value is published as is (JSON or text)." },
	{ "outbox", "topic", OPT_STR, O(topic), "events/{aggregate_type}", OPT_RELOAD, 0, 0, NULL,
	  "Topic template; placeholders {prefix} {aggregate_type} {aggregate_id} {type} {id} {db} {table}." },
	{ "outbox", "headers", OPT_STR, O(headers), "", OPT_RELOAD, 0, 0, NULL,
	  "Other columns sent as headers (MQTT 5 user properties, AMQP headers), comma separated." },
	{ "outbox", "publish_updates", OPT_BOOL, O(publish_updates), "false", OPT_RELOAD, 0, 0, NULL,
	  "Publish updates of outbox rows too (by default only inserts are events)." },
	{ "outbox", "publish_deletes", OPT_BOOL, O(publish_deletes), "false", OPT_RELOAD, 0, 0, NULL,
	  "Publish deletes of outbox rows too; by default a service may delete the row in the same transaction." },
	{ "outbox", "when", OPT_STR, O(when), "", OPT_RELOAD, 0, 0, NULL,
	  "Condition on the outbox row (see CONDITIONS): only the rows it is true for are published; empty publishes all." },
	{ NULL, NULL, OPT_STR, 0, NULL, 0, 0, 0, NULL, NULL },
};

/* Parser state while one file is read. */
struct parse_ctx {
	struct rc_config *cfg;		/* being filled */
	FILE *fp;			/* the file */
	const char *path;		/* its name, for messages */
	int line;			/* line of the current key */
	int next_line;			/* line the next read starts */
	bool mid_line;			/* the last piece read did not end a line */
	int *set_at;			/* per option: line it was set on, 0 = not */
	int errors;			/* bad lines so far */
	struct rc_error *err;		/* first error goes here */
	unsigned checks;		/* CONFIG_*: checks beyond the text */
};

static void cfg_error(struct parse_ctx *pc, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_error(struct parse_ctx *pc, int line, const char *fmt, ...)
{
	char where[256];
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), "%.200s:%d", pc->path, line);
	else
		snprintf(where, sizeof(where), "%.200s", pc->path);
	log_write(LOG_ERROR, where, "%s", msg);
	if (pc->errors++ == 0 && pc->err) {
		pc->err->status = RC_ERR_CONFIG;
		snprintf(pc->err->where, sizeof(pc->err->where), "%s", where);
		snprintf(pc->err->message, sizeof(pc->err->message), "%s", msg);
	}
}

/* Index of word in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *word)
{
	size_t wl = strlen(word);
	int i = 0;

	for (const char *p = choices; *p; i++) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);

		if (n == wl && strncasecmp(p, word, n) == 0)
			return i;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

/* The text of choice i in "a|b|c" into out. */
static const char *choice_name(const char *choices, int i, char *out, size_t outlen)
{
	const char *p = choices;

	while (i-- > 0 && p) {
		p = strchr(p, '|');
		if (p)
			p++;
	}
	if (!p)
		return "?";
	snprintf(out, outlen, "%.*s", (int)strcspn(p, "|"), p);
	return out;
}

/* Options whose value is kept as a string. */
static bool opt_is_str(const struct opt_def *o)
{
	return o->type >= OPT_STR;
}

/* n bytes at s are a port: digits, 1 to 65535 (0 too when zero_ok). */
static bool port_ok(const char *s, size_t n, bool zero_ok)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535 && (v > 0 || zero_ok);
}

/* n bytes at s are a host name or address: not empty, no blank or '/'. */
static bool host_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)s[i]) || s[i] == '/' || s[i] == ',')
			return false;
	return true;
}

/* "HOST[:PORT], HOST[:PORT]...": the form the source splits (mysql.c). */
static bool hostports_ok(const char *s)
{
	for (;;) {
		size_t n = strcspn(s, ",");
		const char *colon;

		while (n && *s == ' ') {
			s++;
			n--;
		}
		while (n && s[n - 1] == ' ')
			n--;
		colon = memrchr(s, ':', n);
		if (!host_ok(s, colon ? (size_t)(colon - s) : n) ||
		    (colon && !port_ok(colon + 1, n - (size_t)(colon - s) - 1, false)))
			return false;
		s = strchr(s, ',');
		if (!s)
			return true;
		s++;
	}
}

bool config_listen_parse(const char *s, struct sockaddr_storage *sa, bool *v6)
{
	const char *h = s, *colon;
	char host[64];
	size_t hl;

	memset(sa, 0, sizeof(*sa));
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || !port_ok(colon + 1, strlen(colon + 1), true))
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (*s == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
		*v6 = true;
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)sa;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	*v6 = false;
	if (strcmp(host, "localhost") == 0) {
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return true;
	}
	return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

/* A broker URI: scheme://HOST[:PORT][/]; *port_bad when only the port is. */
static bool uri_ok(const char *s, bool *port_bad)
{
	static const char *const schemes[] = { "tcp://", "mqtt://", "ssl://", "mqtts://", NULL };
	const char *p = NULL, *end;

	*port_bad = false;
	for (int i = 0; schemes[i] && !p; i++)
		if (!strncmp(s, schemes[i], strlen(schemes[i])))
			p = s + strlen(schemes[i]);
	if (!p)
		return false;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end == p + 1)
			return false;
		end++;
	} else {
		end = p + strcspn(p, ":/");
		if (!host_ok(p, (size_t)(end - p)))
			return false;
	}
	if (*end == ':') {
		size_t n = strcspn(end + 1, "/");

		if (!port_ok(end + 1, n, false)) {
			*port_bad = true;
			return false;
		}
		end += 1 + n;
	}
	return *end == '\0' || !strcmp(end, "/");
}

/* The form check of a string type; false with a message. */
static bool str_ok(const struct opt_def *o, const char *val, char *msg, size_t msglen)
{
	bool port_bad;

	if (!val[0]) {
		if (!(o->flags & OPT_NONEMPTY))
			return true;	/* empty: off, or the default meaning */
		snprintf(msg, msglen, "[%s] %s: must not be empty", o->section, o->key);
		return false;
	}
	switch (o->type) {
	case OPT_HOSTPORTS:
		if (hostports_ok(val))
			return true;
		snprintf(msg, msglen,
			 "[%s] %s: expected HOST or HOST:PORT (port 1 to 65535), comma separated, got '%s'",
			 o->section, o->key, val);
		return false;
	case OPT_LISTEN: {
		struct sockaddr_storage sa;
		bool v6;

		if (config_listen_parse(val, &sa, &v6))
			return true;
		snprintf(msg, msglen,
			 "[%s] %s: expected IPV4:PORT, localhost:PORT or [IPV6]:PORT (port 0 to 65535), got '%s'",
			 o->section, o->key, val);
		return false;
	}
	case OPT_TOPIC:
		if (strpbrk(val, "+#")) {
			snprintf(msg, msglen,
				 "[%s] %s: must not hold the MQTT wildcards + or #, got '%s'",
				 o->section, o->key, val);
			return false;
		}
		if (val[0] == '$') {
			snprintf(msg, msglen,
				 "[%s] %s: must not start with $ (topics kept for the broker), got '%s'",
				 o->section, o->key, val);
			return false;
		}
		return true;
	case OPT_URI:
		if (uri_ok(val, &port_bad))
			return true;
		if (port_bad)
			snprintf(msg, msglen, "[%s] %s: the port must be from 1 to 65535, got '%s'",
				 o->section, o->key, val);
		else
			snprintf(msg, msglen,
				 "[%s] %s: expected tcp://HOST:PORT or ssl://HOST:PORT, got '%s'",
				 o->section, o->key, val);
		return false;
	default:
		return true;	/* OPT_STR; OPT_SECRET_FILE is read in check_whole */
	}
}

/* Store text into the option's field; false with a message when invalid. */
static bool opt_store(void *base, const struct opt_def *o, const char *val,
		      char *msg, size_t msglen)
{
	void *field = (char *)base + o->offset;

	switch (o->type) {
	case OPT_STR:
	case OPT_HOSTPORTS:
	case OPT_LISTEN:
	case OPT_TOPIC:
	case OPT_URI:
	case OPT_SECRET_FILE: {
		char **sp = field;
		char *copy;

		if (!str_ok(o, val, msg, msglen))
			return false;
		copy = strdup(val);
		if (!copy)
			log_oom();
		free(*sp);
		*sp = copy;
		return true;
	}
	case OPT_INT: {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(val, &end, 10);
		if (errno || end == val || *end != '\0' || v < o->min || v > o->max) {
			snprintf(msg, msglen, "[%s] %s: expected an integer from %ld to %ld, got '%s'",
				 o->section, o->key, o->min, o->max, val);
			return false;
		}
		*(int *)field = (int)(unsigned)v;
		return true;
	}
	case OPT_BOOL:
		if (!strcasecmp(val, "true") || !strcasecmp(val, "yes") || !strcmp(val, "1") ||
		    !strcasecmp(val, "on")) {
			*(bool *)field = true;
		} else if (!strcasecmp(val, "false") || !strcasecmp(val, "no") ||
			   !strcmp(val, "0") || !strcasecmp(val, "off")) {
			*(bool *)field = false;
		} else {
			snprintf(msg, msglen, "[%s] %s: expected true or false, got '%s'",
				 o->section, o->key, val);
			return false;
		}
		return true;
	case OPT_ENUM: {
		int i = choice_index(o->choices, val);

		if (i < 0) {
			snprintf(msg, msglen, "[%s] %s: expected one of %s, got '%s'",
				 o->section, o->key, o->choices, val);
			return false;
		}
		*(int *)field = i;
		return true;
	}
	}
	return false;
}

static const struct opt_def *opt_find(const char *section, const char *key, int *idx)
{
	for (int i = 0; config_options[i].key; i++) {
		if (!strcmp(config_options[i].section, section) &&
		    !strcmp(config_options[i].key, key)) {
			*idx = i;
			return &config_options[i];
		}
	}
	return NULL;
}

static bool section_known(const char *section)
{
	for (int i = 0; config_options[i].key; i++)
		if (!strcmp(config_options[i].section, section))
			return true;
	return false;
}

/* What inih accepts: blank, comment, [section] or key = value.  inih
 * reports only the first bad line; this finds each one. */
static bool line_looks_valid(const char *l)
{
	while (*l == ' ' || *l == '\t')
		l++;
	if (*l == '\0' || *l == '\n' || *l == '\r' || *l == ';' || *l == '#')
		return true;
	if (*l == '[')
		return strchr(l, ']') != NULL;
	return strpbrk(l, "=:") != NULL && *l != '=' && *l != ':';
}

/* inih reads lines through this, so the handler knows which line it is on. */
static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *pc = stream;
	char *r = fgets(str, num, pc->fp);

	bool starts_line;

	pc->line = pc->next_line;
	/* inih reads a long line in several pieces: judge only its start */
	starts_line = !pc->mid_line;
	pc->mid_line = r && !strchr(r, '\n');
	if (r && strchr(r, '\n'))
		pc->next_line++;
	if (r && starts_line && !line_looks_valid(r))
		cfg_error(pc, pc->line, "syntax error: expected [section] or key = value");
	return r;
}

/* Placeholders a template may use; false with the bad one in msg. */
static bool template_ok(const char *t, const char *const *known, char *msg, size_t msglen)
{
	for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{')) {
		const char *end = strchr(p, '}');
		size_t n;
		bool ok = false;

		if (!end) {
			snprintf(msg, msglen, "'{' without '}' in template '%s'", t);
			return false;
		}
		n = (size_t)(end - p - 1);
		if (n > 4 && !strncmp(p + 1, "col:", 4))
			ok = true;
		for (int i = 0; known[i] && !ok; i++)
			ok = strlen(known[i]) == n && !strncmp(known[i], p + 1, n);
		if (!ok) {
			snprintf(msg, msglen, "unknown placeholder {%.*s} in template '%s'", (int)n,
				 p + 1, t);
			return false;
		}
	}
	return true;
}

static const char *const row_placeholders[] = {
	"prefix", "db", "table", "op", "Op", "pk", "gtid", "id", NULL,
};
static const char *const outbox_placeholders[] = {
	"prefix", "aggregate_type", "aggregate_id", "type", "id", "db", "table", NULL,
};

/* A key of a [route NAME] or [outbox NAME] section. */
static void named_option(struct parse_ctx *pc, bool is_route, const char *name, const char *key,
			 const char *val)
{
	const struct opt_def *tab = is_route ? route_options : outbox_options;
	const char *kind = is_route ? "route" : "outbox";
	struct rc_config *c = pc->cfg;
	const struct opt_def *o = NULL;
	void *base = NULL;
	char msg[600];
	int i;

	if (!name[0]) {
		cfg_error(pc, pc->line, "[%s] needs a name: [%s NAME]", kind, kind);
		return;
	}
	for (i = 0; tab[i].key; i++)
		if (!strcmp(tab[i].key, key))
			o = &tab[i];
	if (!o) {
		cfg_error(pc, pc->line, "unknown option '%s' in section [%s %s]", key, kind, name);
		return;
	}
	/* find or add the section */
	if (is_route) {
		for (i = 0; i < c->nroutes && strcmp(c->routes[i].name, name); i++)
			;
		if (i == c->nroutes) {
			c->routes = realloc(c->routes, (size_t)(c->nroutes + 1) * sizeof(*c->routes));
			if (!c->routes)
				log_oom();
			memset(&c->routes[i], 0, sizeof(c->routes[i]));
			c->routes[i].name = strdup(name);
			c->routes[i].line = pc->line;
			for (int k = 0; route_options[k].key; k++)
				(void)opt_store(&c->routes[i], &route_options[k], route_options[k].def,
						msg, sizeof(msg));
			c->nroutes++;
		}
		base = &c->routes[i];
	} else {
		for (i = 0; i < c->noutboxes && strcmp(c->outboxes[i].name, name); i++)
			;
		if (i == c->noutboxes) {
			c->outboxes = realloc(c->outboxes,
					      (size_t)(c->noutboxes + 1) * sizeof(*c->outboxes));
			if (!c->outboxes)
				log_oom();
			memset(&c->outboxes[i], 0, sizeof(c->outboxes[i]));
			c->outboxes[i].name = strdup(name);
			c->outboxes[i].line = pc->line;
			for (int k = 0; outbox_options[k].key; k++)
				(void)opt_store(&c->outboxes[i], &outbox_options[k],
						outbox_options[k].def, msg, sizeof(msg));
			c->noutboxes++;
		}
		base = &c->outboxes[i];
	}
	if (!opt_store(base, o, val, msg, sizeof(msg))) {
		cfg_error(pc, pc->line, "[%s %s] %s", kind, name, msg + strcspn(msg, "]") + 2);
		return;
	}
	/* the router compiles these and reports errors at their lines */
	if (!strcmp(key, "when")) {
		if (is_route)
			((struct route_cfg *)base)->when_line = pc->line;
		else
			((struct outbox_cfg *)base)->when_line = pc->line;
	} else if (!strcmp(key, "script")) {
		((struct route_cfg *)base)->script_line = pc->line;
	}
	if ((!strcmp(key, "topic") || !strcmp(key, "key") || !strcmp(key, "event_type")) &&
	    !template_ok(val, is_route ? row_placeholders : outbox_placeholders, msg, sizeof(msg)))
		cfg_error(pc, pc->line, "[%s %s] %s: %s", kind, name, key, msg);
}

static int handler(void *user, const char *section, const char *key, const char *val)
{
	struct parse_ctx *pc = user;
	const struct opt_def *o;
	char msg[512];
	int idx;

	if (!strncmp(section, "route", 5) && (section[5] == ' ' || section[5] == '\0')) {
		named_option(pc, true, section + 5 + (section[5] == ' '), key, val);
		return 1;
	}
	if (!strncmp(section, "outbox", 6) && (section[6] == ' ' || section[6] == '\0')) {
		named_option(pc, false, section + 6 + (section[6] == ' '), key, val);
		return 1;
	}
	o = opt_find(section, key, &idx);
	if (!o) {
		if (section[0] == '\0')
			cfg_error(pc, pc->line, "option '%s' is outside any [section]", key);
		else if (!section_known(section))
			cfg_error(pc, pc->line, "unknown section [%s]", section);
		else
			cfg_error(pc, pc->line, "unknown option '%s' in section [%s]", key, section);
		return 1;
	}
	if (pc->set_at[idx]) {
		cfg_error(pc, pc->line, "[%s] %s is set twice (first on line %d)", section, key,
			  pc->set_at[idx]);
		return 1;
	}
	pc->set_at[idx] = pc->line;
	if (!opt_store(pc->cfg, o, val, msg, sizeof(msg)))
		cfg_error(pc, pc->line, "%s", msg);
	return 1;
}

/* Read the first line of path into *out (without the newline): a
 * readable file, not a folder, whose first line is not empty. */
static bool read_secret_file(const char *path, char **out, char *msg, size_t msglen)
{
	char line[4096];
	struct stat sb;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(msg, msglen, "cannot read password file %s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(msg, msglen, "%s is a directory, not a password file", path);
		fclose(f);
		return false;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (!line[0]) {
		snprintf(msg, msglen, "%s: the first line (the password) is empty", path);
		return false;
	}
	free(*out);
	*out = strdup(line);
	if (!*out)
		log_oom();
	return true;
}

/* A GTID state as MariaDB writes it: domain-server-seq, comma separated. */
static bool gtid_text_ok(const char *s)
{
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s) && !strchr("-:,. ", *s))
			return false;
	return true;
}

/* The name of the user we run as, for messages. */
static const char *user_name(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "uid %ld", (long)geteuid());
	return buf;
}

/* The checkpoint's folder exists and this user may create files in it
 * (the temp file and the lock); the file, if there, is readable. */
static bool ckpt_folder_ok(const char *path, char *msg, size_t msglen)
{
	const char *slash = strrchr(path, '/');
	char dir[4096], user[64];
	struct stat sb;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(msg, msglen, "%.300s is a directory: name a file in it", path);
		return false;
	}
	if (stat(dir, &sb) < 0) {
		if (errno == ENOENT)
			snprintf(msg, msglen, "the folder %.300s does not exist", dir);
		else
			snprintf(msg, msglen, "the folder %.300s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(msg, msglen, "%.300s is not a folder", dir);
		return false;
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		snprintf(msg, msglen, "the folder %.300s is not writable by user %s (%s)", dir,
			 user_name(user, sizeof(user)), strerror(errno));
		return false;
	}
	if (faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) < 0 && errno != ENOENT) {
		snprintf(msg, msglen, "%.300s is not readable and writable by user %s (%s)", path,
			 user_name(user, sizeof(user)), strerror(errno));
		return false;
	}
	return true;
}

/* Warn about passwords written in the file, and password files any user
 * may read.  Never prints a secret. */
static void warn_secrets(struct parse_ctx *pc)
{
	char where[256];

	for (int i = 0; config_options[i].key; i++) {
		const struct opt_def *o = &config_options[i];
		const char *v;
		struct stat sb;

		if (!pc->set_at[i] || !opt_is_str(o))
			continue;
		v = *(char **)((char *)pc->cfg + o->offset);
		if (!v[0])
			continue;
		snprintf(where, sizeof(where), "%.200s:%d", pc->path, pc->set_at[i]);
		if (o->flags & OPT_SECRET)
			log_write(LOG_WARN, where,
				  "[%s] %s is written in the config file; prefer password_file, readable by rowcast only",
				  o->section, o->key);
		else if (o->type == OPT_SECRET_FILE && stat(v, &sb) == 0 && (sb.st_mode & S_IROTH))
			log_write(LOG_WARN, where,
				  "[%s] %s: %s can be read by every user (mode %04o); chmod o-r it",
				  o->section, o->key, v, (unsigned)(sb.st_mode & 07777));
	}
}

/* Checks that span options; line numbers from set_at where one applies. */
static void check_whole(struct parse_ctx *pc)
{
	struct rc_config *c = pc->cfg;
	char msg[512];
	int idx;

	for (int i = 0; config_options[i].key; i++) {
		/* a PostgreSQL source registers no server id */
		if (c->src_kind == SOURCE_POSTGRESQL &&
		    !strcmp(config_options[i].section, "source") &&
		    (!strcmp(config_options[i].key, "server_id") ||
		     (c->src_conninfo[0] && !strcmp(config_options[i].key, "user"))))
			continue;
		if ((config_options[i].flags & OPT_REQUIRED) && !pc->set_at[i])
			cfg_error(pc, 0, "[%s] %s is required", config_options[i].section,
				  config_options[i].key);
	}
	if (c->src_kind == SOURCE_POSTGRESQL) {
		opt_find("source", "port", &idx);
		if (!pc->set_at[idx])
			c->src_port = 5432;
	}
	if (!strcmp(c->src_start, "current"))
		c->src_start_kind = START_CURRENT;
	else if (!strcmp(c->src_start, "earliest"))
		c->src_start_kind = START_EARLIEST;
	else if (c->src_kind == SOURCE_POSTGRESQL) {
		opt_find("source", "start_position", &idx);
		cfg_error(pc, pc->set_at[idx],
			  "[source] start_position: expected current or earliest with type = postgresql (the slot keeps the position), got '%s'",
			  c->src_start);
	} else if (c->src_start[0] && (c->src_position_mode == POS_FILE ?
				     strchr(c->src_start, ':') != NULL : gtid_text_ok(c->src_start)))
		c->src_start_kind = START_GTID;	/* an explicit position */
	else {
		opt_find("source", "start_position", &idx);
		cfg_error(pc, pc->set_at[idx],
			  c->src_position_mode == POS_FILE ?
			  "[source] start_position: expected current, earliest or FILE:OFFSET, got '%s'" :
			  "[source] start_position: expected current, earliest or a GTID state, got '%s'",
			  c->src_start);
	}
	/* each password_file fills the password of its section */
	for (int i = 0; config_options[i].key; i++) {
		const struct opt_def *o = &config_options[i], *pw;
		const char *file;

		if (o->type != OPT_SECRET_FILE)
			continue;	/* only these fields hold a char * */
		file = *(char **)((char *)c + o->offset);
		if (!file[0] || (pc->checks & CONFIG_NO_SECRETS))
			continue;
		pw = opt_find(o->section, "password", &idx);
		if (pw && !read_secret_file(file, (char **)((char *)c + pw->offset), msg,
					    sizeof(msg)))
			cfg_error(pc, pc->set_at[i], "[%s] %s: %s", o->section, o->key, msg);
	}
	if (c->sink_kind == SINK_FILE && c->sink_path[0] == '\0') {
		opt_find("sink", "type", &idx);
		cfg_error(pc, pc->set_at[idx], "[sink] type = file needs [sink] path");
	}
	for (int i = 0; i < c->noutboxes; i++)
		if (!c->outboxes[i].table[0])
			cfg_error(pc, c->outboxes[i].line, "[outbox %s] table is required (db.table)",
				  c->outboxes[i].name);
	if (c->ckpt_path[0] == '\0') {
		opt_find("checkpoint", "path", &idx);
		cfg_error(pc, pc->set_at[idx], "[checkpoint] path must not be empty");
	} else if ((pc->checks & CONFIG_CHECK_FOLDERS) &&
		   !ckpt_folder_ok(c->ckpt_path, msg, sizeof(msg))) {
		opt_find("checkpoint", "path", &idx);
		cfg_error(pc, pc->set_at[idx], "[checkpoint] path: %s", msg);
	}
	if (pc->errors == 0 && (pc->checks & CONFIG_WARN))
		warn_secrets(pc);
}

static struct rc_config *config_defaults(void)
{
	struct rc_config *cfg = calloc(1, sizeof(*cfg));
	char msg[256];

	if (!cfg)
		log_oom();
	for (int i = 0; config_options[i].key; i++) {
		const struct opt_def *o = &config_options[i];

		if (o->def[0] || opt_is_str(o))
			(void)opt_store(cfg, o, o->def, msg, sizeof(msg));
	}
	return cfg;
}

enum rc_status rc_config_load(const char *path, struct rc_config **out, struct rc_error *err)
{
	return config_load(path, 0, out, err);
}

enum rc_status config_load(const char *path, unsigned checks, struct rc_config **out,
			   struct rc_error *err)
{
	struct parse_ctx pc = { 0 };
	struct stat sb;
	int nopts = 0, rc;

	*out = NULL;
	while (config_options[nopts].key)
		nopts++;
	pc.path = path;
	pc.err = err;
	pc.checks = checks;
	pc.next_line = 1;
	pc.cfg = config_defaults();
	pc.set_at = calloc((size_t)nopts, sizeof(int));
	if (!pc.set_at)
		log_oom();
	pc.cfg->path = strdup(path);
	if (!pc.cfg->path)
		log_oom();

	pc.fp = fopen(path, "r");
	if (!pc.fp) {
		cfg_error(&pc, 0, "cannot open config file: %s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(pc.fp), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		cfg_error(&pc, 0, "is a directory");
		fclose(pc.fp);
		goto out;
	}
	/* Values may hold ';' (passwords): only whole-line comments. */
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 16384;
	rc = ini_parse_stream(reader, &pc, handler, &pc);
	if (rc > 0 && pc.errors == 0)
		cfg_error(&pc, rc, "syntax error: expected [section] or key = value");
	else if (rc < 0 && pc.errors == 0)
		cfg_error(&pc, 0, "cannot read config file");
	fclose(pc.fp);
	if (pc.errors == 0)
		check_whole(&pc);
out:
	free(pc.set_at);
	if (pc.errors) {
		rc_config_free(pc.cfg);
		return RC_ERR_CONFIG;
	}
	*out = pc.cfg;
	return RC_OK;
}

static void free_named(void *base, const struct opt_def *tab)
{
	for (int i = 0; tab[i].key; i++)
		if (opt_is_str(&tab[i]))
			free(*(char **)((char *)base + tab[i].offset));
}

void rc_config_free(struct rc_config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < cfg->nroutes; i++) {
		free_named(&cfg->routes[i], route_options);
		free(cfg->routes[i].name);
	}
	for (int i = 0; i < cfg->noutboxes; i++) {
		free_named(&cfg->outboxes[i], outbox_options);
		free(cfg->outboxes[i].name);
	}
	free(cfg->routes);
	free(cfg->outboxes);
	for (int i = 0; config_options[i].key; i++)
		if (opt_is_str(&config_options[i]))
			free(*(char **)((char *)cfg + config_options[i].offset));
	free(cfg->path);
	free(cfg);
}

static char *dup_or_oom(const char *s)
{
	char *p = strdup(s);

	if (!p)
		log_oom();
	return p;
}

/* The text options of tab in dst, copied from src (dst is a byte copy). */
static void dup_named(void *dst, const void *src, const struct opt_def *tab)
{
	for (int i = 0; tab[i].key; i++) {
		const char *v;

		if (!opt_is_str(&tab[i]))
			continue;
		v = *(char *const *)((const char *)src + tab[i].offset);
		*(char **)((char *)dst + tab[i].offset) = v ? dup_or_oom(v) : NULL;
	}
}

struct rc_config *config_dup(const struct rc_config *cfg)
{
	struct rc_config *c = malloc(sizeof(*c));

	if (!c)
		log_oom();
	*c = *cfg;
	c->path = cfg->path ? dup_or_oom(cfg->path) : NULL;
	dup_named(c, cfg, config_options);
	c->routes = calloc((size_t)cfg->nroutes + 1, sizeof(*c->routes));
	c->outboxes = calloc((size_t)cfg->noutboxes + 1, sizeof(*c->outboxes));
	if (!c->routes || !c->outboxes)
		log_oom();
	for (int i = 0; i < cfg->nroutes; i++) {
		c->routes[i] = cfg->routes[i];
		c->routes[i].name = dup_or_oom(cfg->routes[i].name);
		dup_named(&c->routes[i], &cfg->routes[i], route_options);
	}
	for (int i = 0; i < cfg->noutboxes; i++) {
		c->outboxes[i] = cfg->outboxes[i];
		c->outboxes[i].name = dup_or_oom(cfg->outboxes[i].name);
		dup_named(&c->outboxes[i], &cfg->outboxes[i], outbox_options);
	}
	return c;
}

/* The value of option o in cfg as text. */
static const char *opt_text(const void *base, const struct opt_def *o, char *tmp,
			    size_t tmplen)
{
	const void *field = (const char *)base + o->offset;

	if (opt_is_str(o))
		return *(char *const *)field;
	switch (o->type) {
	case OPT_INT:
		snprintf(tmp, tmplen, "%u", *(const unsigned *)field);
		return tmp;
	case OPT_BOOL:
		return *(const bool *)field ? "true" : "false";
	case OPT_ENUM:
		return choice_name(o->choices, *(const int *)field, tmp, tmplen);
	default:
		break;
	}
	return "";
}

void rc_config_print(const struct rc_config *cfg, void *stream)
{
	FILE *f = stream;
	const char *section = "";
	char tmp[64];

	fprintf(f, "# effective configuration of %s\n", cfg->path);
	for (int i = 0; config_options[i].key; i++) {
		const struct opt_def *o = &config_options[i];
		const char *v = opt_text(cfg, o, tmp, sizeof(tmp));

		if (strcmp(section, o->section)) {
			section = o->section;
			fprintf(f, "\n[%s]\n", section);
		}
		if ((o->flags & OPT_SECRET) && v[0])
			v = "***";
		fprintf(f, "%s = %s\n", o->key, v);
	}
	for (int i = 0; i < cfg->nroutes; i++) {
		fprintf(f, "\n[route %s]\n", cfg->routes[i].name);
		for (int k = 0; route_options[k].key; k++)
			fprintf(f, "%s = %s\n", route_options[k].key,
				opt_text(&cfg->routes[i], &route_options[k], tmp, sizeof(tmp)));
	}
	for (int i = 0; i < cfg->noutboxes; i++) {
		fprintf(f, "\n[outbox %s]\n", cfg->outboxes[i].name);
		for (int k = 0; outbox_options[k].key; k++)
			fprintf(f, "%s = %s\n", outbox_options[k].key,
				opt_text(&cfg->outboxes[i], &outbox_options[k], tmp, sizeof(tmp)));
	}
}

void config_apply_reloadable(struct rc_config *running, const struct rc_config *fresh)
{
	char a[64], b[64];

	for (int i = 0; config_options[i].key; i++) {
		const struct opt_def *o = &config_options[i];
		const char *ov = opt_text(running, o, a, sizeof(a));
		const char *nv = opt_text(fresh, o, b, sizeof(b));
		char msg[256];

		if (!strcmp(ov, nv))
			continue;
		if (!(o->flags & OPT_RELOAD)) {
			log_warn("reload: [%s] %s changed; it takes effect at the next restart",
				 o->section, o->key);
			continue;
		}
		(void)opt_store(running, o, nv, msg, sizeof(msg));
		log_info("reload: [%s] %s = %s", o->section, o->key,
			 (o->flags & OPT_SECRET) ? "***" : nv);
	}
}

static const struct opt_def *const all_tables[] = { config_options, route_options,
						      outbox_options, NULL };

/* The section heading of an option as the documentation shows it. */
static const char *section_title(const struct opt_def *o, char *buf, size_t len)
{
	if (!strcmp(o->section, "route") || !strcmp(o->section, "outbox"))
		snprintf(buf, len, "%s NAME", o->section);
	else
		snprintf(buf, len, "%s", o->section);
	return buf;
}

void config_print_help(FILE *f)
{
	const char *section = "";
	char title[64];

	fprintf(f, "Configuration options (see rowcast.conf(5)):\n");
	for (int t = 0; all_tables[t]; t++)
	for (int i = 0; all_tables[t][i].key; i++) {
		const struct opt_def *o = &all_tables[t][i];

		if (strcmp(section, o->section)) {
			section = o->section;
			fprintf(f, "  [%s]\n", section_title(o, title, sizeof(title)));
		}
		fprintf(f, "    %-20s %s\n", o->key, o->summary);
		if (o->flags & OPT_REQUIRED)
			fprintf(f, "    %-20s (required)\n", "");
		else
			fprintf(f, "    %-20s (default: %s)\n", "", o->def[0] ? o->def : "empty");
	}
}

/* roff-escape text: backslashes and leading dots/quotes. */
static void roff_text(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

/* What the man page says of a string type's form, or NULL. */
static const char *type_doc(enum opt_type t)
{
	switch (t) {
	case OPT_HOSTPORTS:
		return "HOST or HOST:PORT, comma separated; a PORT is from 1 to 65535.";
	case OPT_LISTEN:
		return "IPV4:PORT, localhost:PORT or [IPV6]:PORT, PORT from 0 to 65535 (0: any free port, logged).";
	case OPT_TOPIC:
		return "MQTT topic levels: no wildcard (+ or #), and no $ at the start.";
	case OPT_URI:
		return "tcp://, mqtt://, ssl:// or mqtts://, then HOST or HOST:PORT ([IPV6] in brackets), PORT from 1 to 65535.";
	case OPT_SECRET_FILE:
		return "Read at start and at each reload: a file rowcast can read, not a directory, whose first line is not empty; a file any user may read gets a warning at start.";
	default:
		return NULL;
	}
}

void config_print_man(FILE *f)
{
	const char *section = "";
	char title[64];

	for (int t = 0; all_tables[t]; t++)
	for (int i = 0; all_tables[t][i].key; i++) {
		const struct opt_def *o = &all_tables[t][i];

		if (strcmp(section, o->section)) {
			section = o->section;
			fprintf(f, ".SS [%s]\n", section_title(o, title, sizeof(title)));
		}
		fprintf(f, ".TP\n.B %s\n", o->key);
		roff_text(f, o->summary);
		fputc('\n', f);
		if (o->type == OPT_ENUM) {
			fputs("One of: ", f);
			roff_text(f, o->choices);
			fputs(".\n", f);
		} else if (o->type == OPT_INT) {
			fprintf(f, "An integer from %ld to %ld.\n", o->min, o->max);
		} else if (type_doc(o->type)) {
			roff_text(f, type_doc(o->type));
			fputc('\n', f);
		}
		if (o->flags & OPT_NONEMPTY)
			fputs("Must not be empty.\n", f);
		if (o->flags & OPT_REQUIRED) {
			fputs("Required; no default.\n", f);
		} else {
			fputs("Default: ", f);
			if (o->def[0]) {
				fputs("\\fB", f);
				roff_text(f, o->def);
				fputs("\\fR", f);
			} else {
				fputs("empty", f);
			}
			fputs(".\n", f);
		}
		fputs(o->flags & OPT_RELOAD ? "A reload (SIGHUP) applies it.\n" :
					      "Applied at start only.\n", f);
	}
}

void config_print_sample(FILE *f)
{
	const char *section = "";

	fputs("# rowcast configuration: see rowcast.conf(5).\n"
	      "# Every option is listed, commented out, at its default value.\n"
	      "# Lines starting with # or ; are comments; values run to the end of the line.\n\n",
	      f);

	for (int t = 0; all_tables[t]; t++)
	for (int i = 0; all_tables[t][i].key; i++) {
		const struct opt_def *o = &all_tables[t][i];
		char title[64];

		if (strcmp(section, o->section)) {
			section = o->section;
			if (t > 0)	/* named sections are examples: all commented */
				fprintf(f, "\n#[%s]\n", section_title(o, title, sizeof(title)));
			else
				fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
		}
		fprintf(f, "# %s\n", o->summary);
		if (o->flags & OPT_REQUIRED)
			fprintf(f, "#%s = (required)\n", o->key);
		else
			fprintf(f, "#%s = %s\n", o->key, o->def);
	}
}
