/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint file (see checkpoint.h).  Layout:
 *
 *   # comment lines
 *   [rowcast]            format = 1
 *   [source] ...         [progress] ...     (any other sections)
 *   [checksum]           crc32 = <hex of the CRC-32 of all bytes before>
 */
#include "checkpoint/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/log.h"

struct ckpt_kv {
	char *section;	/* section name */
	char *key;	/* key */
	char *value;	/* value */
};

struct ckpt {
	char *path;		/* the checkpoint file */
	int lock_fd;		/* PATH.lock, flock'ed; -1 when not locked */
	bool exists;		/* a file was read */
	struct ckpt_kv *kv;	/* entries in file order */
	size_t n, cap;		/* used / allocated */
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		log_oom();
	return p;
}

const char *ckpt_get(const struct ckpt *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->kv[i].section, section) && !strcmp(c->kv[i].key, key))
			return c->kv[i].value;
	return NULL;
}

void ckpt_set(struct ckpt *c, const char *section, const char *key, const char *value)
{
	size_t i, last = c->n;

	for (i = 0; i < c->n; i++) {
		if (strcmp(c->kv[i].section, section))
			continue;
		last = i + 1;
		if (strcmp(c->kv[i].key, key))
			continue;
		if (!value) {
			free(c->kv[i].section);
			free(c->kv[i].key);
			free(c->kv[i].value);
			memmove(&c->kv[i], &c->kv[i + 1], (c->n - i - 1) * sizeof(c->kv[0]));
			c->n--;
			return;
		}
		if (strcmp(c->kv[i].value, value)) {
			free(c->kv[i].value);
			c->kv[i].value = xstrdup(value);
		}
		return;
	}
	if (!value)
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->kv = realloc(c->kv, c->cap * sizeof(c->kv[0]));
		if (!c->kv)
			log_oom();
	}
	/* keep a section's keys together */
	memmove(&c->kv[last + 1], &c->kv[last], (c->n - last) * sizeof(c->kv[0]));
	c->kv[last].section = xstrdup(section);
	c->kv[last].key = xstrdup(key);
	c->kv[last].value = xstrdup(value);
	c->n++;
}

void ckpt_clear_section(struct ckpt *c, const char *section)
{
	size_t k = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (!strcmp(c->kv[i].section, section)) {
			free(c->kv[i].section);
			free(c->kv[i].key);
			free(c->kv[i].value);
		} else {
			c->kv[k++] = c->kv[i];
		}
	}
	c->n = k;
}

/* Forget every entry (a damaged file set aside: start empty). */
static void ckpt_clear_all(struct ckpt *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->kv[i].section);
		free(c->kv[i].key);
		free(c->kv[i].value);
	}
	c->n = 0;
	c->exists = false;
}

/* The body (everything the checksum covers). */
static void body_text(const struct ckpt *c, struct rc_buf *out)
{
	const char *section = NULL;

	buf_puts(out, "# rowcast checkpoint: the last position the broker acknowledged.\n"
		      "# Written by rowcast; do not edit: a changed file fails its checksum.\n");
	buf_printf(out, "[rowcast]\nformat = %d\n", CKPT_FORMAT);
	for (size_t i = 0; i < c->n; i++) {
		if (!strcmp(c->kv[i].section, "rowcast") || !strcmp(c->kv[i].section, "checksum"))
			continue;
		if (!section || strcmp(section, c->kv[i].section)) {
			section = c->kv[i].section;
			buf_printf(out, "\n[%s]\n", section);
		}
		buf_printf(out, "%s = %s\n", c->kv[i].key, c->kv[i].value);
	}
}

char *ckpt_text(const struct ckpt *c)
{
	struct rc_buf b = { 0 };

	body_text(c, &b);
	buf_printf(&b, "\n[checksum]\ncrc32 = %08lx\n",
		   crc32(0L, (const Bytef *)b.data, (uInt)b.len));
	return b.data;
}

const char *ckpt_path(const struct ckpt *c)
{
	return c->path;
}

bool ckpt_exists(const struct ckpt *c)
{
	return c->exists;
}

static bool parse_text(struct ckpt *c, char *text, size_t len, char *err, size_t errlen)
{
	char *sum = strstr(text, "\n[checksum]\n");
	char section[64] = "";
	unsigned long want;
	char *line, *save = NULL;
	int lineno = 0;
	const char *fmt;

	if (!sum || sscanf(sum, "\n[checksum]\ncrc32 = %lx", &want) != 1) {
		snprintf(err, errlen, "%s: damaged: no [checksum] section", c->path);
		return false;
	}
	if (crc32(0L, (const Bytef *)text, (uInt)(sum - text)) != want) {
		snprintf(err, errlen, "%s: damaged: checksum does not match its contents", c->path);
		return false;
	}
	(void)len;
	sum[1] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq;

		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '[') {
			char *close = strchr(line, ']');

			if (!close || close - line - 1 >= (long)sizeof(section)) {
				snprintf(err, errlen, "%s: damaged: bad section line", c->path);
				return false;
			}
			snprintf(section, sizeof(section), "%.*s", (int)(close - line - 1), line + 1);
			continue;
		}
		eq = strstr(line, " = ");
		if (!eq || !section[0]) {
			snprintf(err, errlen, "%s: damaged: bad line '%s'", c->path, line);
			return false;
		}
		*eq = '\0';
		ckpt_set(c, section, line, eq + 3);
	}
	fmt = ckpt_get(c, "rowcast", "format");
	if (!fmt) {
		snprintf(err, errlen, "%s: damaged: no format version", c->path);
		return false;
	}
	if (atoi(fmt) > CKPT_FORMAT) {
		snprintf(err, errlen,
			 "%s: format version %s is newer than this rowcast understands (%d)",
			 c->path, fmt, CKPT_FORMAT);
		return false;
	}
	return true;
}

/* Read c->path into c.  *damaged (when given) says the file was read but
 * is not a checkpoint (checksum, syntax, empty), as opposed to unreadable
 * or of a newer format. */
static bool load(struct ckpt *c, bool *damaged, char *err, size_t errlen)
{
	FILE *f = fopen(c->path, "r");
	struct rc_buf b = { 0 };
	char chunk[4096];
	size_t n;
	bool ok;

	if (!f) {
		if (errno == ENOENT)
			return true;
		snprintf(err, errlen, "%s: cannot read: %s", c->path, strerror(errno));
		return false;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf_append(&b, chunk, n);
		if (b.len > 16 << 20)
			break;
	}
	fclose(f);
	c->exists = true;
	ok = b.len > 0 && parse_text(c, b.data, b.len, err, errlen);
	if (b.len == 0)
		snprintf(err, errlen, "%s: damaged: the file is empty", c->path);
	if (!ok && damaged)
		*damaged = strstr(err, ": damaged: ") != NULL;
	buf_free(&b);
	return ok;
}

static struct ckpt *ckpt_alloc(const char *path)
{
	struct ckpt *c = calloc(1, sizeof(*c));

	if (!c)
		log_oom();
	c->path = xstrdup(path);
	c->lock_fd = -1;
	return c;
}

bool ckpt_read_only(const char *path, struct ckpt **out, char *err, size_t errlen)
{
	struct ckpt *c = ckpt_alloc(path);

	if (!load(c, NULL, err, errlen)) {
		ckpt_close(c);
		*out = NULL;
		return false;
	}
	*out = c;
	return true;
}

/*
 * Owner and mode a file at path should have: those of the file there now,
 * else (a new file) the owner of its folder and mode 0640.  Run as root
 * (`rowcast checkpoint set` by an operator), this keeps the files the
 * service's user can open.
 */
static void wanted_owner(const char *path, uid_t *uid, gid_t *gid, mode_t *mode)
{
	char dirbuf[4200];
	struct stat sb;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	*mode = 0640;
	if (stat(path, &sb) == 0) {
		*uid = sb.st_uid;
		*gid = sb.st_gid;
		*mode = sb.st_mode & 07777;
		return;
	}
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	if (stat(dirname(dirbuf), &sb) == 0) {
		*uid = sb.st_uid;
		*gid = sb.st_gid;
	}
}

/* Give fd the owner (when root) and mode wanted; false with err filled. */
static bool set_owner(int fd, const char *name, uid_t uid, gid_t gid, mode_t mode, char *err,
		      size_t errlen)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "%s: fstat: %s", name, strerror(errno));
		return false;
	}
	if (geteuid() == 0 && uid != (uid_t)-1 && (sb.st_uid != uid || sb.st_gid != gid) &&
	    fchown(fd, uid, gid) < 0) {
		snprintf(err, errlen, "%s: chown to %ld:%ld: %s", name, (long)uid, (long)gid,
			 strerror(errno));
		return false;
	}
	if ((sb.st_mode & 07777) != mode && fchmod(fd, mode) < 0) {
		snprintf(err, errlen, "%s: chmod %04o: %s", name, (unsigned)mode, strerror(errno));
		return false;
	}
	return true;
}

/* Move a damaged checkpoint aside as PATH.damaged-<UTC time>; saved gets
 * the new name. */
static bool set_aside(const char *path, char *saved, size_t savedlen, char *err, size_t errlen)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(saved, savedlen, "%s.damaged-%s", path, ts);
	if (rename(path, saved) < 0) {
		snprintf(err, errlen, "%s: cannot move it to %s: %s", path, saved, strerror(errno));
		return false;
	}
	return true;
}

static bool open_locked(const char *path, struct ckpt **out, char *saved, size_t savedlen,
			char *err, size_t errlen)
{
	struct ckpt *c = ckpt_alloc(path);
	char lockpath[4200], pidtxt[32];
	bool damaged = false;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	int fd, n;

	*out = NULL;
	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	/* the lock file belongs to whoever owns the checkpoint */
	wanted_owner(path, &uid, &gid, &mode);
	fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create lock file: %s", lockpath, strerror(errno));
		goto failed;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = (int)pread(fd, pidtxt, sizeof(pidtxt) - 1, 0);
		pidtxt[n > 0 ? n : 0] = '\0';
		pidtxt[strcspn(pidtxt, "\n")] = '\0';
		snprintf(err, errlen, "%s is in use by another rowcast (pid %s)", path,
			 pidtxt[0] ? pidtxt : "unknown");
		close(fd);
		goto failed;
	}
	c->lock_fd = fd;
	if (!set_owner(fd, lockpath, uid, gid, 0640, err, errlen))
		goto failed;
	n = snprintf(pidtxt, sizeof(pidtxt), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pidtxt, (size_t)n, 0) != n)
		log_warn("%s: cannot record our pid: %s", lockpath, strerror(errno));
	if (!load(c, &damaged, err, errlen)) {
		if (!damaged || !saved)
			goto failed;
		/* forced: keep the damaged file for a post-mortem, start empty */
		if (!set_aside(path, saved, savedlen, err, errlen))
			goto failed;
		ckpt_clear_all(c);
	}
	*out = c;
	return true;
failed:
	ckpt_close(c);
	return false;
}

bool ckpt_open(const char *path, struct ckpt **out, char *err, size_t errlen)
{
	return open_locked(path, out, NULL, 0, err, errlen);
}

bool ckpt_open_force(const char *path, struct ckpt **out, char *saved, size_t savedlen,
		     char *err, size_t errlen)
{
	saved[0] = '\0';
	return open_locked(path, out, saved, savedlen, err, errlen);
}

/* Put text at path atomically.  Touches nothing shared: any thread. */
static bool store(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[4200], dirbuf[4200];
	size_t len = strlen(text);
	int fd = -1, dfd;
	bool ok = false;
	uid_t uid;
	gid_t gid;
	mode_t mode;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	wanted_owner(path, &uid, &gid, &mode);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "%s: open: %s", tmp, strerror(errno));
		goto out;
	}
	if (!set_owner(fd, tmp, uid, gid, mode, err, errlen))
		goto out;
	if (write(fd, text, len) != (ssize_t)len) {
		snprintf(err, errlen, "%s: write: %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync(fd) < 0) {
		snprintf(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0) {
			snprintf(err, errlen, "%s: fsync of folder: %s", path, strerror(errno));
			close(dfd);
			goto out;
		}
		close(dfd);
	}
	ok = true;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	return ok;
}

bool ckpt_write(struct ckpt *c, char *err, size_t errlen)
{
	char *text = ckpt_text(c);
	bool ok = store(c->path, text, err, errlen);

	free(text);
	if (ok)
		c->exists = true;
	return ok;
}

/* ---- writing from a thread of its own --------------------------------- */

struct ckpt_async {
	struct ckpt *c;			/* the owner's checkpoint (its thread only) */
	char *path;			/* copy for the writer */
	pthread_t thread;
	pthread_mutex_t mu;		/* guards everything below */
	pthread_cond_t cv;		/* work came, or a write ended */
	char *text;			/* handed over, not yet written */
	bool busy;			/* text handed over or being written */
	atomic_bool ended;		/* a write ended, result not yet taken
					   (read without the lock first: the
					   loop asks after every batch) */
	bool ok;			/* ... its result */
	bool quit;
	char err[512];			/* why the last write failed */
	void (*done)(void *arg);	/* called by the writer after each write */
	void *arg;
};

static void *writer_main(void *arg)
{
	struct ckpt_async *a = arg;

	(void)pthread_setname_np(pthread_self(), "rowcast-ckpt");

	pthread_mutex_lock(&a->mu);
	for (;;) {
		char *text, err[512];
		bool ok;

		while (!a->text && !a->quit)
			pthread_cond_wait(&a->cv, &a->mu);
		if (!a->text)
			break;
		text = a->text;
		a->text = NULL;
		pthread_mutex_unlock(&a->mu);
		ok = store(a->path, text, err, sizeof(err));
		free(text);
		pthread_mutex_lock(&a->mu);
		a->ended = true;
		a->ok = ok;
		if (!ok)
			snprintf(a->err, sizeof(a->err), "%s", err);
		if (a->done) {
			pthread_mutex_unlock(&a->mu);
			a->done(a->arg);
			pthread_mutex_lock(&a->mu);
		}
		/* idle only now: once wait() returns, done() has run */
		a->busy = false;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

struct ckpt_async *ckpt_async_new(struct ckpt *c, void (*done)(void *arg), void *arg)
{
	struct ckpt_async *a = calloc(1, sizeof(*a));

	if (!a)
		log_oom();
	a->c = c;
	a->path = xstrdup(c->path);
	a->done = done;
	a->arg = arg;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0)
		log_oom();
	return a;
}

bool ckpt_async_submit(struct ckpt_async *a)
{
	char *text;

	pthread_mutex_lock(&a->mu);
	if (a->busy) {
		pthread_mutex_unlock(&a->mu);
		return false;
	}
	pthread_mutex_unlock(&a->mu);
	text = ckpt_text(a->c);		/* outside the lock: only this thread changes c */
	pthread_mutex_lock(&a->mu);
	a->text = text;
	a->busy = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return true;
}

int ckpt_async_result(struct ckpt_async *a, char *err, size_t errlen)
{
	int r = -1;

	if (!atomic_load(&a->ended))
		return -1;
	pthread_mutex_lock(&a->mu);
	if (a->ended) {
		a->ended = false;
		r = a->ok;
		if (!a->ok)
			snprintf(err, errlen, "%s", a->err);
	}
	pthread_mutex_unlock(&a->mu);
	if (r == 1)
		a->c->exists = true;
	return r;
}

void ckpt_async_wait(struct ckpt_async *a)
{
	pthread_mutex_lock(&a->mu);
	while (a->busy)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void ckpt_async_free(struct ckpt_async *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->quit = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);	/* a write under way ends first */
	free(a->text);
	free(a->path);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}

void ckpt_close(struct ckpt *c)
{
	if (!c)
		return;
	if (c->lock_fd >= 0)
		close(c->lock_fd);	/* releases the flock */
	for (size_t i = 0; i < c->n; i++) {
		free(c->kv[i].section);
		free(c->kv[i].key);
		free(c->kv[i].value);
	}
	free(c->kv);
	free(c->path);
	free(c);
}
