/* SPDX-License-Identifier: MIT */
/*
 * GTID positions of either flavour (see position.h).
 */
#include "source/mysql/position.h"

#include <string.h>

bool position_text_is_mysql(const char *text)
{
	/* "uuid:1-5" has a colon; MariaDB's "0-1-5" never does */
	return strchr(text, ':') != NULL;
}

static void setup(struct position *p, bool mysql)
{
	if (mysql && !p->set)
		p->set = gtid_set_new();
	p->mysql = mysql;
}

bool position_parse(struct position *p, bool mysql, const char *text, char *err, size_t errlen)
{
	setup(p, mysql);
	return mysql ? gtid_set_parse(p->set, text, err, errlen) :
		       gtid_state_parse(&p->maria, text, err, errlen);
}

bool position_apply(struct position *p, const char *gtid)
{
	if (position_text_is_mysql(gtid) != p->mysql)
		setup(p, position_text_is_mysql(gtid));
	return p->mysql ? gtid_set_add_text(p->set, gtid) : gtid_state_apply_text(&p->maria, gtid);
}

void position_format(const struct position *p, struct rc_buf *out)
{
	if (p->mysql)
		gtid_set_format(p->set, out);
	else
		gtid_state_format(&p->maria, out);
}

void position_copy(struct position *dst, const struct position *src)
{
	struct rc_buf b = { 0 };
	char err[64];

	setup(dst, src->mysql);
	if (src->mysql) {
		gtid_set_format(src->set, &b);
		(void)gtid_set_parse(dst->set, b.data ? b.data : "", err, sizeof(err));
		buf_free(&b);
	} else {
		gtid_state_copy(&dst->maria, &src->maria);
	}
}

void position_free(struct position *p)
{
	gtid_state_free(&p->maria);
	gtid_set_free(p->set);
	p->set = NULL;
}
