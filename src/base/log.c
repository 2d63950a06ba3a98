/* SPDX-License-Identifier: MIT */
/*
 * Logging (see log.h).  stderr lines carry a timestamp unless stderr goes
 * to journald (JOURNAL_STREAM set), which stamps lines itself; file lines
 * always do.  A line is written to the file with one write(2) in append
 * mode, so lines of several threads never mix.
 */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

atomic_int log_threshold = LOG_INFO;
static atomic_int log_dest = LOG_TO_STDERR;
static atomic_bool log_stamp = true;
static atomic_int log_fd = -1;		/* the log file; -1 when none */
static void (*log_hook)(int, const char *, void *);
static void *log_hook_ctx;

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_setup(int level, int destinations, const char *ident)
{
	log_threshold = level;
	log_dest = (destinations & ~LOG_TO_FILE) | (log_fd >= 0 ? LOG_TO_FILE : 0);
	log_stamp = getenv("JOURNAL_STREAM") == NULL;
	if (destinations & LOG_TO_SYSLOG)
		openlog(ident ? ident : "rowcast", LOG_PID, LOG_DAEMON);
}

bool log_file_open(const char *path, char *err, size_t errlen)
{
	int fd = -1, old;

	if (path && path[0]) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "%s: cannot open log file: %s", path,
				 strerror(errno));
			return false;
		}
	}
	old = atomic_exchange(&log_fd, fd);
	if (fd >= 0)
		log_dest |= LOG_TO_FILE;
	else
		log_dest &= ~LOG_TO_FILE;
	if (old >= 0)
		close(old);
	return true;
}

bool log_file_reopen(const char *path, char *err, size_t errlen)
{
	int cur = atomic_load(&log_fd), fd;

	if (cur < 0 || !path || !path[0])
		return true;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open log file: %s", path, strerror(errno));
		return false;
	}
	/* dup2 swaps the file behind the number in one step: a thread
	 * writing meanwhile writes to the old file or the new, never to a
	 * closed or reused descriptor */
	if (dup2(fd, cur) < 0) {
		snprintf(err, errlen, "%s: dup2: %s", path, strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

void log_set_hook(void (*fn)(int level, const char *line, void *ctx), void *ctx)
{
	log_hook = fn;
	log_hook_ctx = ctx;
}

const char *log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

/* "2026-11-28T10:00:00.123Z" into ts */
static void stamp(char *ts, size_t len)
{
	struct timespec now;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(ts, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, len - n, ".%03ldZ", now.tv_nsec / 1000000);
}

void log_write(int level, const char *pos, const char *fmt, ...)
{
	char msg[2048], ts[40] = "";
	va_list ap;
	int n = 0, dest = log_dest, fd;

	if (pos)
		n = snprintf(msg, sizeof(msg), "%s: ", pos);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);

	if (dest & (LOG_TO_STDERR | LOG_TO_FILE))
		stamp(ts, sizeof(ts));
	if (dest & LOG_TO_STDERR) {
		if (log_stamp)
			fprintf(stderr, "%s rowcast %s: %s\n", ts, level_names[level], msg);
		else
			fprintf(stderr, "<%d>%s: %s\n", syslog_prio[level],
				level_names[level], msg);
	}
	fd = log_fd;
	if ((dest & LOG_TO_FILE) && fd >= 0) {
		char line[2200];
		int len = snprintf(line, sizeof(line), "%s rowcast %s: %s\n", ts,
				   level_names[level], msg);

		if (len >= (int)sizeof(line)) {
			len = (int)sizeof(line) - 1;
			line[len - 1] = '\n';
		}
		/* nowhere to report a failed log write */
		if (write(fd, line, (size_t)len) < 0)
			(void)0;
	}
	if (dest & LOG_TO_SYSLOG)
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
