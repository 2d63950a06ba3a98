/* SPDX-License-Identifier: MIT */
/*
 * The snapshot part of a source's position: the tables a snapshot has left
 * to read and how far the first one is (its last key and largest key, rows
 * and chunks done).  A source moves it by the step texts of its snapshot
 * chunks' commits, like its log position, so the checkpoint holds the
 * acknowledged progress and a restart reads on from there.
 */
#ifndef RC_SOURCE_SNAPPOS_H
#define RC_SOURCE_SNAPPOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/checkpoint.h"

/* One table a snapshot is to read. */
struct snap_item {
	uint64_t id;			/* the snapshot (request) it belongs to */
	bool on_demand;			/* asked for while running */
	char *db, *table;		/* owned */
	char *where;			/* SQL condition, owned; NULL: none */
};

/* The snapshot part of a position. */
struct snap_pos {
	uint64_t last_id;		/* the last snapshot number given */
	struct snap_item *v;		/* tables to read; v[0] is under way */
	int n, cap;
	bool started;			/* v[0]: its first chunk is done */
	char *max_key;			/* v[0]: largest key at its start, owned
					   (NULL: started empty, or not started) */
	char *last_key;			/* v[0]: key of the last row done, owned */
	uint64_t rows, chunks;		/* v[0]: rows and chunks done */
	uint64_t tables_done;		/* tables finished, all snapshots */
};

void snap_pos_copy(struct snap_pos *dst, const struct snap_pos *src);
void snap_pos_free(struct snap_pos *p);
/* Apply a step's snapshot text (msnap.c writes them). */
void snap_pos_apply(struct snap_pos *p, const char *text, size_t len);
/* The [snapshot] section of the checkpoint. */
void snap_pos_store(const struct snap_pos *p, struct ckpt *c);
bool snap_pos_load(struct snap_pos *p, struct ckpt *c, char *err, size_t errlen);

/* n bytes of s as a new string (NULL for NULL or n = 0); aborts when
 * memory is out. */
char *snap_strndup(const char *s, size_t n);
/* A copy of s, or NULL for NULL. */
char *snap_strdup(const char *s);
/* Split a tab-separated line into at most max fields (pointers into it,
 * which it changes); the number found. */
int snap_split_tabs(char *line, char **f, int max);

#endif
