/* SPDX-License-Identifier: MIT */
/*
 * The checkpoint file: the position the broker has acknowledged, as
 * sections of key = value lines, versioned and checksummed.  Sections are
 * owned by their writers ([source] by the source, [progress] by the core);
 * sections this version does not know are kept as read.  The file is
 * locked (flock on PATH.lock) while an instance holds it, and is replaced
 * atomically on every write.
 */
#ifndef RC_CHECKPOINT_H
#define RC_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#define CKPT_FORMAT 1

struct ckpt;

/*
 * Lock and read the checkpoint at path.  A missing file is not an error
 * (ckpt_exists() says false).  A damaged, newer or locked file is: err
 * says why (with the holder's pid when locked).
 */
bool ckpt_open(const char *path, struct ckpt **out, char *err, size_t errlen);
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
/* The whole text as it would be written (for show); caller frees. */
char *ckpt_text(const struct ckpt *c);
const char *ckpt_path(const struct ckpt *c);
/* Unlock and free.  NULL is fine. */
void ckpt_close(struct ckpt *c);

#endif
