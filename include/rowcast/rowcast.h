/* SPDX-License-Identifier: MIT */
/*
 * rowcast: publish committed MySQL/MariaDB row changes to a message broker.
 *
 * The embeddable API.  It needs nothing but the standard headers.  A
 * program loads a config, creates an instance from it and runs it; the
 * rowcast daemon is a thin shell over these calls.  Nothing here reads
 * global state: everything comes from the config passed in.
 */
#ifndef ROWCAST_H
#define ROWCAST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RC_API __attribute__((visibility("default")))
#else
#define RC_API
#endif

#define RC_VERSION_STRING "0.1.0"

/* Results of the public calls.  0 is success. */
enum rc_status {
	RC_OK = 0,
	RC_ERR_CONFIG = 1,	/* the configuration is invalid */
	RC_ERR_SOURCE = 2,	/* database: transient (connection, server) */
	RC_ERR_SOURCE_FATAL = 3, /* database: permanent (purged binlog, bad data) */
	RC_ERR_SINK = 4,	/* broker: connection or refusal */
	RC_ERR_CHECKPOINT = 5,	/* checkpoint file: damaged, foreign, locked, I/O */
	RC_ERR_SYSTEM = 6,	/* out of memory, threads, event loop */
	RC_ERR_DECODE = 7,	/* a binlog event could not be decoded */
};

/* What failed, filled by the public calls when the caller passes one. */
struct rc_error {
	enum rc_status status;	/* same as the call's result */
	char where[256];	/* file:line, host:port, binlog file:offset, or "" */
	char message[768];	/* what was wrong, one line, no secrets */
};

/* Short text for a status code; never NULL, static storage. */
RC_API const char *rc_status_str(enum rc_status st);

/* The library's version, "MAJOR.MINOR.PATCH", static storage. */
RC_API const char *rc_version(void);

struct rc_config;

/*
 * Read and check the INI file at path.  On success *out holds a config the
 * caller frees with rc_config_free().  On failure *out is NULL and err (if
 * not NULL) names the first bad line; every bad line is also logged.
 */
RC_API enum rc_status rc_config_load(const char *path, struct rc_config **out,
				     struct rc_error *err);

/* Release a config.  NULL is fine. */
RC_API void rc_config_free(struct rc_config *cfg);

/*
 * Print the effective config (every option with its value or default) in
 * INI form to the FILE* given as stream; secrets are shown as "***".
 */
RC_API void rc_config_print(const struct rc_config *cfg, void *stream);

struct rc;

/*
 * Create an instance from cfg.  The instance keeps its own copy of what it
 * needs; cfg may be freed after.  Nothing is connected yet.  Free with
 * rc_free().
 */
RC_API enum rc_status rc_new(const struct rc_config *cfg, struct rc **out,
			     struct rc_error *err);

/*
 * Run until stopped: connect to the database and the broker, publish, and
 * write the checkpoint as the broker acknowledges.  Returns RC_OK after a
 * clean stop (rc_stop(), or SIGTERM/SIGINT when handle_signals is set in
 * the config), otherwise the error that ended the run.
 */
RC_API enum rc_status rc_run(struct rc *rc, struct rc_error *err);

/*
 * Ask a running instance to stop cleanly: stop reading, wait for the
 * outstanding acknowledgements, write the checkpoint.  Safe to call from
 * any thread and from a signal handler.
 */
RC_API void rc_stop(struct rc *rc);

/* Release an instance that is not running.  NULL is fine. */
RC_API void rc_free(struct rc *rc);

#ifdef __cplusplus
}
#endif
#endif
