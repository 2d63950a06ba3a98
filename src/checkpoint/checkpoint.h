/* SPDX-License-Identifier: MIT */
/*
 * The checkpoint file: the position the broker has acknowledged, as
 * sections of key = value lines, versioned and checksummed.  Sections are
 * owned by their writers ([source] by the source, [progress] by the core);
 * sections this version does not know are kept as read.  The file is
 * locked (flock on PATH.lock) while an instance holds it, and is replaced
 * atomically on every write.
 */
#ifndef RC_CHECKPOINT_CHECKPOINT_H
#define RC_CHECKPOINT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#define CKPT_FORMAT 1

struct ckpt;

/*
 * Lock and read the checkpoint at path.  A missing file is not an error
 * (ckpt_exists() says false).  A damaged, newer or locked file is: err
 * says why (with the holder's pid when locked).  The lock file gets the
 * owner of the checkpoint (or, for a new one, of its folder) when run as
 * root; every write keeps the file's owner and mode the same way.
 */
bool ckpt_open(const char *path, struct ckpt **out, char *err, size_t errlen);
/*
 * Like ckpt_open(), but a damaged file (not a locked, unreadable or newer
 * one) is renamed to PATH.damaged-<UTC time> and c starts empty; saved
 * gets that name, or "" when nothing was moved.
 */
bool ckpt_open_force(const char *path, struct ckpt **out, char *saved, size_t savedlen,
		     char *err, size_t errlen);
/* Read without locking (for `rowcast checkpoint show`). */
bool ckpt_read_only(const char *path, struct ckpt **out, char *err, size_t errlen);
bool ckpt_exists(const struct ckpt *c);
/* Value of section.key, or NULL. */
const char *ckpt_get(const struct ckpt *c, const char *section, const char *key);
/* Set section.key (value copied); NULL value removes the key. */
void ckpt_set(struct ckpt *c, const char *section, const char *key, const char *value);
/* Remove a whole section. */
void ckpt_clear_section(struct ckpt *c, const char *section);
/* Write atomically: temp file, fsync, rename, fsync of the folder. */
bool ckpt_write(struct ckpt *c, char *err, size_t errlen);
/*
 * Writing without stalling the caller: a thread of its own does the file
 * work (an fsync takes milliseconds).  submit() takes the text of c as it
 * is now and hands it over; false, and nothing done, while the previous
 * write has not ended.  done(arg) runs on the writer thread after every
 * write; result() then gives 1 (written) or 0 (failed, err says why), and
 * -1 when no write ended since the last call.  wait() returns once no
 * write is under way.  The caller must not call ckpt_write() or close c
 * while a write is under way; free() ends one under way first.
 */
struct ckpt_async;
struct ckpt_async *ckpt_async_new(struct ckpt *c, void (*done)(void *arg), void *arg);
bool ckpt_async_submit(struct ckpt_async *a);
int ckpt_async_result(struct ckpt_async *a, char *err, size_t errlen);
void ckpt_async_wait(struct ckpt_async *a);
void ckpt_async_free(struct ckpt_async *a);
/* The whole text as it would be written (for show); caller frees. */
char *ckpt_text(const struct ckpt *c);
const char *ckpt_path(const struct ckpt *c);
/* Unlock and free.  NULL is fine. */
void ckpt_close(struct ckpt *c);

#endif
