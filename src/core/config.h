/* SPDX-License-Identifier: MIT */
/*
 * The configuration: one option table drives the INI parser, --help,
 * --print-config and the OPTIONS section of rowcast.conf(5).  Values are
 * checked here (types, ranges, choices, required options); whether a
 * database or broker is reachable is not.
 */
#ifndef RC_CORE_CONFIG_H
#define RC_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rowcast/rowcast.h"

enum sink_kind { SINK_MQTT = 0, SINK_STDOUT = 1 };
enum start_kind { START_CURRENT = 0, START_EARLIEST = 1, START_GTID = 2 };
enum stmt_policy { STMT_STOP = 0, STMT_WARN = 1 };

struct rc_config {
	char *path;			/* file it was read from */

	/* [log] */
	int log_level;			/* LOG_* */
	bool log_syslog;		/* also to syslog */

	/* [source] */
	char *src_host;			/* database host name or address */
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

	/* [checkpoint] */
	char *ckpt_path;		/* the checkpoint file */
	int ckpt_interval_ms;		/* at most one write per this interval */

	/* [sink] */
	int sink_kind;			/* SINK_* */
	int sink_max_inflight;		/* messages published, not yet acked */
	int sink_shutdown_timeout_ms;	/* wait for acks at a clean stop */

	/* [mqtt] */
	char *mqtt_uri;			/* tcp://host:port */
	char *mqtt_client_id;		/* stable client id */
	char *mqtt_topic_prefix;	/* topic = prefix/db/table */
	char *mqtt_user;		/* user name, or empty */
	char *mqtt_password;		/* secret: from password or password_file */
	char *mqtt_password_file;	/* file whose first line is the password */
	int mqtt_qos;			/* 0, 1 or 2 */
	int mqtt_keepalive_s;		/* keep-alive interval, seconds */

	/* set by the program, not the file */
	bool handle_signals;		/* rc_run() installs SIGTERM/SIGINT watchers */
};

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_ENUM };

#define OPT_SECRET 0x1		/* never printed or logged */
#define OPT_RELOAD 0x2		/* a reload applies it (SIGHUP) */
#define OPT_REQUIRED 0x4	/* no default: the file must set it */

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

/* Print the option list for --help. */
void config_print_help(FILE *f);
/* Print the OPTIONS section of rowcast.conf(5), in roff. */
void config_print_man(FILE *f);
/* Print a sample config with every option commented out at its default. */
void config_print_sample(FILE *f);

#endif
