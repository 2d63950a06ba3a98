/* SPDX-License-Identifier: MIT */
/*
 * One logging function for the whole daemon: a level threshold, then the
 * line goes to every destination set: stderr (journald), a log file,
 * syslog.  Until the config is read only stderr is set; every reason for
 * exiting goes through here, so it reaches all of them.  Nothing is formatted below
 * the threshold.  A line may carry a source position (binlog file:offset or
 * GTID) as its prefix.  Never pass a secret to it.
 */
#ifndef RC_BASE_LOG_H
#define RC_BASE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Destinations, a bitmask. */
#define LOG_TO_STDERR 1
#define LOG_TO_SYSLOG 2
#define LOG_TO_FILE 4		/* set by log_file_open() */

/* Read by every thread, changed by a reload: atomic. */
extern atomic_int log_threshold;

/* Level and destinations (LOG_TO_STDERR | LOG_TO_SYSLOG); an open log
 * file stays a destination. */
void log_setup(int level, int destinations, const char *ident);
/*
 * Append lines to path as well (created 0640), each with time and level;
 * NULL or "" closes the file.  False, err filled and the old file kept,
 * when path cannot be opened.
 */
bool log_file_open(const char *path, char *err, size_t errlen);
/* Open path anew behind the same descriptor (after logrotate moved the
 * file); no-op without a log file.  False with err when it cannot be
 * opened: the old file stays in use. */
bool log_file_reopen(const char *path, char *err, size_t errlen);
const char *log_level_name(int level);

/* Send lines to fn as well (an embedding program's logger, tests); NULL
 * removes it.  fn gets the line without time stamp or level prefix. */
void log_set_hook(void (*fn)(int level, const char *line, void *ctx), void *ctx);

void log_write(int level, const char *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(lvl, pos, ...)                                   \
	do {                                                    \
		if ((lvl) <= atomic_load_explicit(&log_threshold, memory_order_relaxed)) \
			log_write((lvl), (pos), __VA_ARGS__);   \
	} while (0)

#define log_error(...) log_at(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, NULL, __VA_ARGS__)

/* Out of memory: log and abort.  Never returns. */
_Noreturn void log_oom(void);

#endif
