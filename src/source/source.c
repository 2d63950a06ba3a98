/* SPDX-License-Identifier: MIT */
/*
 * The source factory: [source] type to an implementation, as [sink] type
 * chooses a sink.  Nothing else here; each source is in its own folder.
 */
#include "source/source.h"

#include <stdio.h>

struct source *source_new(const struct rc_config *cfg, const struct source_callbacks *cb,
			  char *err, size_t errlen)
{
	switch (cfg->src_kind) {
	case SOURCE_MYSQL:
		return source_mysql_new(cfg, cb);
	case SOURCE_POSTGRESQL:
		return source_pg_new(cfg, cb);
	}
	snprintf(err, errlen, "[source] type %d is not known", cfg->src_kind);
	return NULL;
}
