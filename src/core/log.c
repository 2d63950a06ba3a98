/* SPDX-License-Identifier: MIT */
/*
 * Logging (see log.h).  stderr lines carry a timestamp unless stderr goes
 * to journald (JOURNAL_STREAM set), which stamps lines itself.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

atomic_int log_threshold = LOG_INFO;
static atomic_int log_dest = LOG_TO_STDERR;
static atomic_bool log_stamp = true;
static void (*log_hook)(int, const char *, void *);
static void *log_hook_ctx;

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_setup(int level, int destinations, const char *ident)
{
	log_threshold = level;
	log_dest = destinations;
	log_stamp = getenv("JOURNAL_STREAM") == NULL;
	if (destinations & LOG_TO_SYSLOG)
		openlog(ident ? ident : "rowcast", LOG_PID, LOG_DAEMON);
}

void log_set_hook(void (*fn)(int level, const char *line, void *ctx), void *ctx)
{
	log_hook = fn;
	log_hook_ctx = ctx;
}

bool log_level_parse(const char *s, int *level)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*level = i;
			return true;
		}
	}
	if (strcmp(s, "warn") == 0) {
		*level = LOG_WARN;
		return true;
	}
	return false;
}

const char *log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

void log_write(int level, const char *pos, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n = 0;

	if (pos)
		n = snprintf(msg, sizeof(msg), "%s: ", pos);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);

	if (log_dest & LOG_TO_STDERR) {
		if (log_stamp) {
			char ts[32];
			struct timespec now;
			struct tm tm;

			clock_gettime(CLOCK_REALTIME, &now);
			gmtime_r(&now.tv_sec, &tm);
			strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
			fprintf(stderr, "%s.%03ldZ rowcast %s: %s\n", ts,
				now.tv_nsec / 1000000, level_names[level], msg);
		} else {
			fprintf(stderr, "<%d>%s: %s\n", syslog_prio[level],
				level_names[level], msg);
		}
	}
	if (log_dest & LOG_TO_SYSLOG)
		syslog(syslog_prio[level], "%s", msg);
	if (log_hook)
		log_hook(level, msg, log_hook_ctx);
}

void log_oom(void)
{
	static const char m[] = "rowcast: out of memory\n";

	fputs(m, stderr);
	abort();
}
