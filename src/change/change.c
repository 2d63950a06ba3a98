/* SPDX-License-Identifier: MIT */
/*
 * The change model's names (ops, logical types) and the image arrays.
 * Nothing here formats a message or knows a source.
 */
#include "change/change.h"

#include <stdlib.h>

#include "base/log.h"

const char *const ch_op_names[CH_NOPS] = {
	"insert", "update", "delete", "read", "truncate", "drop", "ddl", "marker",
};

const char *ch_op_name(unsigned op)
{
	return op < CH_NOPS ? ch_op_names[op] : "unknown";
}

const char *ch_type_name(unsigned type)
{
	static const char *const names[CT_NTYPES] = {
		"other", "int", "uint", "decimal", "float", "double", "bool", "bit", "year",
		"date", "datetime", "timestamp", "time", "interval", "string", "binary",
		"json", "enum", "set", "geometry", "uuid",
	};

	return type < CT_NTYPES ? names[type] : "unknown";
}

void ch_image_fit(struct ch_image *im, uint32_t ncols)
{
	if (im->cap >= ncols)
		return;
	im->off = realloc(im->off, ncols * sizeof(uint32_t));
	im->len = realloc(im->len, ncols * sizeof(uint32_t));
	im->state = realloc(im->state, ncols);
	if (!im->off || !im->len || !im->state)
		log_oom();
	im->cap = ncols;
}

void ch_image_free(struct ch_image *im)
{
	buf_free(&im->text);
	free(im->off);
	free(im->len);
	free(im->state);
	im->off = im->len = NULL;
	im->state = NULL;
	im->cap = 0;
}

void ch_table_free_caches(struct ch_table *t)
{
	buf_free(&t->keys);
	free(t->key_end);
	t->key_end = NULL;
}
