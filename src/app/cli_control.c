/* SPDX-License-Identifier: MIT */
/*
 * The verbs that talk to a running daemon over its control socket
 * (pipeline/control.h): `rowcast snapshot`, and the daemon's part of
 * `rowcast status`.  One request line, the reply read until the daemon
 * closes.  Nothing here reads the checkpoint or connects to a database.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "app/cli.h"
#include "base/buf.h"
#include "config/config.h"
#include "pipeline/control.h"
#include "rowcast/rowcast.h"

/* How a call of the daemon went. */
enum call_result {
	CALL_OK = 0,	/* a reply (maybe empty: closed without one) */
	CALL_NOBODY,	/* nothing listens at the path */
	CALL_DENIED,	/* the socket is not ours to use */
	CALL_FAILED,	/* anything else (err says what) */
};

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Send request (one line, no newline) to the socket at path and read the
 * reply into *reply until the daemon closes, for at most timeout_s. */
static enum call_result call(const char *path, const char *request, int timeout_s,
			     struct rc_buf *reply, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
	enum call_result res = CALL_FAILED;
	struct rc_buf line = { 0 };
	size_t sent = 0;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(): %s", strerror(errno));
		return CALL_FAILED;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		res = e == ENOENT || e == ECONNREFUSED ? CALL_NOBODY :
		      e == EACCES || e == EPERM ? CALL_DENIED : CALL_FAILED;
		goto out;
	}
	buf_puts(&line, request);
	buf_putc(&line, '\n');
	while (sent < line.len) {
		ssize_t n = send(fd, line.data + sent, line.len - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* refused before it read all (too many clients): the
			 * reason may be waiting to be read */
			snprintf(err, errlen, "%s: sending the request: %s", path, strerror(errno));
			break;
		}
		sent += (size_t)n;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mono_ms();
		char chunk[4096];
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			snprintf(err, errlen, "%s: no answer within %d s", path, timeout_s);
			goto out;
		}
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (sent < line.len && reply->len == 0 && n <= 0)
			goto out;	/* nothing came back: the send's error stands */
		/* a reset after the reply is its end too */
		if (n == 0 || (n < 0 && errno == ECONNRESET && reply->len))
			break;
		if (n < 0) {
			snprintf(err, errlen, "%s: reading the reply: %s", path, strerror(errno));
			goto out;
		}
		buf_append(reply, chunk, (size_t)n);
	}
	res = CALL_OK;
out:
	buf_free(&line);
	close(fd);
	return res;
}

/* The config's socket path; false (the reason printed) when there is none. */
static bool socket_of(const struct rc_config *cfg, char *path, size_t len)
{
	char err[600];

	if (control_socket_path(cfg, path, len, err, sizeof(err)))
		return true;
	fprintf(stderr, "rowcast: %s\n", err);
	return false;
}

/* The verb's usage: asked for (what NULL) on stdout, else after what is
 * wrong on stderr. */
static int snapshot_usage(const char *what, const char *arg)
{
	FILE *f = what ? stderr : stdout;

	if (what)
		fprintf(stderr, "rowcast: %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
	fprintf(f, "Usage: rowcast snapshot [-c FILE] DB.TABLE... [--where CONDITION]\n"
		   "       rowcast snapshot [-c FILE] --all\n");
	return what ? EX_USAGE : 0;
}

/* The request line for the words of the command line; false (the reason
 * printed) when the daemon would refuse it anyway. */
static bool snapshot_request(int ntables, char **tables, bool all, const char *where,
			     struct rc_buf *line)
{
	struct control_request rq;
	char err[300], *copy;
	bool ok;

	buf_puts(line, "snapshot");
	if (all)
		buf_puts(line, " --all");
	for (int i = 0; i < ntables; i++) {
		if (strpbrk(tables[i], " \t")) {
			fprintf(stderr, "rowcast: table \"%s\": names with spaces cannot be asked for\n",
				tables[i]);
			return false;
		}
		buf_putc(line, ' ');
		buf_puts(line, tables[i]);
	}
	if (where) {
		for (const char *s = where; *s; s++)
			if ((unsigned char)*s < 0x20 && *s != '\t') {
				fprintf(stderr, "rowcast: --where: the condition has a control character (a line break?); it is kept in the checkpoint as one line\n");
				return false;
			}
		buf_puts(line, " --where ");
		buf_puts(line, where);
	}
	if (line->len > CONTROL_LINE_MAX) {
		fprintf(stderr, "rowcast: the request is longer than %d bytes; ask for fewer tables at once\n",
			CONTROL_LINE_MAX);
		return false;
	}
	/* the daemon's own checks, before asking it */
	copy = strdup(line->data);
	if (!copy)
		return false;
	ok = control_parse(copy, strlen(copy), &rq, err, sizeof(err));
	if (!ok)
		fprintf(stderr, "rowcast: %s\n", err);
	free(copy);
	return ok;
}

int cli_snapshot(const char *cfgpath, int argc, char **argv)
{
	struct rc_config *cfg = NULL;
	struct rc_error e = { 0 };
	struct rc_buf line = { 0 }, reply = { 0 };
	char **tables = calloc((size_t)argc + 1, sizeof(char *));
	const char *where = NULL, *r;
	char path[200], err[700];
	bool all = false, options = true;
	int ntables = 0, code = EX_USAGE;

	if (!tables)
		return EX_OSERR;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (options && (!strcmp(a, "-c") || !strcmp(a, "--config") ||
				!strcmp(a, "--where"))) {
			if (i + 1 == argc) {
				code = snapshot_usage("option needs a value:", a);
				goto out;
			}
			if (a[2] == 'w')
				where = argv[++i];
			else
				cfgpath = argv[++i];
		} else if (options && !strncmp(a, "--config=", 9)) {
			cfgpath = a + 9;
		} else if (options && !strncmp(a, "--where=", 8)) {
			where = a + 8;
		} else if (options && !strcmp(a, "--all")) {
			all = true;
		} else if (options && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			code = snapshot_usage(NULL, NULL);
			goto out;
		} else if (options && !strcmp(a, "--")) {
			options = false;
		} else if (options && a[0] == '-' && a[1]) {
			code = snapshot_usage("unknown option", a);
			goto out;
		} else {
			tables[ntables++] = argv[i];
		}
	}
	if (!ntables && !all) {
		code = snapshot_usage("name the tables (db.table) or --all", NULL);
		goto out;
	}
	if (!snapshot_request(ntables, tables, all, where, &line))
		goto out;
	if (config_load(cfgpath, CONFIG_NO_SECRETS, &cfg, &e) != RC_OK) {
		code = EX_CONFIG;	/* every bad line was logged */
		goto out;
	}
	if (!socket_of(cfg, path, sizeof(path))) {
		code = EX_CONFIG;
		goto out;
	}
	switch (call(path, line.data, CONTROL_WAIT_S + 10, &reply, err, sizeof(err))) {
	case CALL_OK:
		break;
	case CALL_NOBODY:
		fprintf(stderr, "rowcast: no rowcast runs with %s (nothing listens on %s)\n",
			cfgpath, path);
		code = EX_UNAVAILABLE;
		goto out;
	case CALL_DENIED:
		fprintf(stderr, "rowcast: %s (the socket is the daemon user's: run as that user or root)\n",
			err);
		code = EX_NOPERM;
		goto out;
	case CALL_FAILED:
		fprintf(stderr, "rowcast: %s\n", err);
		code = EX_TEMPFAIL;
		goto out;
	}
	r = reply.data ? reply.data : "";
	if (!strncmp(r, "ok: ", 4) || !strncmp(r, "ok\n", 3)) {
		fputs(r + (r[2] == ':' ? 4 : 3), stdout);
		code = 0;
	} else if (!strncmp(r, "error: ", 7)) {
		fprintf(stderr, "rowcast: %s", r + 7);
		code = 1;
	} else if (!strncmp(r, "wait: ", 6)) {
		fprintf(stderr, "rowcast: %s", r + 6);
		code = EX_TEMPFAIL;
	} else {
		fprintf(stderr, "rowcast: %s closed the connection without an answer%s%s\n", path,
			reply.len ? ": " : "", r);
		code = EX_TEMPFAIL;
	}
out:
	buf_free(&line);
	buf_free(&reply);
	rc_config_free(cfg);
	free(tables);
	return code;
}

void cli_status_daemon(const struct rc_config *cfg)
{
	struct rc_buf reply = { 0 };
	char path[200], err[700];

	if (!socket_of(cfg, path, sizeof(path)))
		return;
	if (call(path, "status", CONTROL_IO_S, &reply, err, sizeof(err)) != CALL_OK)
		printf("daemon: no answer (%s)\n", err);
	else if (reply.len >= 3 && !strncmp(reply.data, "ok\n", 3))
		fputs(reply.data + 3, stdout);
	else
		printf("daemon: %s%s", reply.len ? reply.data : "no answer\n",
		       reply.len && reply.data[reply.len - 1] != '\n' ? "\n" : "");
	buf_free(&reply);
}
