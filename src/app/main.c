/* SPDX-License-Identifier: MIT */
/*
 * The rowcast program: a thin shell over the library (rc_* calls) that
 * parses the command line, sets up logging and maps results to exit
 * codes.  Subcommands that inspect files live in cli_*.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "checkpoint/checkpoint.h"
#include "app/cli.h"
#include "config/config.h"
#include "base/log.h"
#include "route/router.h"
#include "rowcast/rowcast.h"
#include "source/source.h"

#define DEFAULT_CONFIG "/etc/rowcast/rowcast.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: rowcast [-c FILE]                  run: publish row changes\n"
		"       rowcast check-config [-c FILE]     validate the config and exit\n"
		"       rowcast --print-config [-c FILE]   show the effective config\n"
		"       rowcast checkpoint show [-c FILE]  show the checkpoint\n"
		"       rowcast checkpoint set --position POSITION [--force] [-c FILE]\n"
		"                                          set it on purpose (rowcast stopped)\n"
		"       rowcast status [-c FILE]           position, age, running or not,\n"
		"                                          a running snapshot's progress\n"
		"       rowcast snapshot [-c FILE] DB.TABLE... [--where CONDITION] | --all\n"
		"                                          ask the running daemon for a\n"
		"                                          snapshot of existing rows\n"
		"       rowcast decode [--events] FILE...  decode binlog files to JSON\n"
		"       rowcast test [-c FILE] CASES...    run row changes through the routes,\n"
		"                                          compare with the expected messages\n"
		"       rowcast --help | --version\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
		"  -v, --verbose       log at debug level\n"
		"\n");
	config_print_help(f);
}

/* Exit code for a result (documented in rowcast(8)). */
static int exit_code(enum rc_status st)
{
	switch (st) {
	case RC_OK: return 0;
	case RC_ERR_CONFIG: return EX_CONFIG;			/* 78 */
	case RC_ERR_SOURCE_FATAL: return EX_PROTOCOL;		/* 76 */
	case RC_ERR_CHECKPOINT: return EX_PROTOCOL;		/* 76 */
	case RC_ERR_DECODE: return EX_DATAERR;			/* 65 */
	case RC_ERR_SOURCE: case RC_ERR_SINK: return EX_TEMPFAIL; /* 75 */
	case RC_ERR_SYSTEM: return EX_OSERR;			/* 71 */
	}
	return 1;
}

/* A bad command line: one line naming what is wrong, not the whole help. */
static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "rowcast: %s '%s'; try 'rowcast --help'\n", what, arg);
	return EX_USAGE;
}

/* The bad option getopt_long() just stopped at (opterr is off). */
static int bad_option(int opt, char **argv)
{
	char shortopt[3] = { '-', (char)optopt, '\0' };
	const char *arg = optopt ? shortopt : argv[optind - 1];

	if (opt == ':') {
		fprintf(stderr, "rowcast: option '%s' needs a value; try 'rowcast --help'\n", arg);
		return EX_USAGE;
	}
	return bad_usage("unknown option", arg);
}

/* The reason for exiting, through the logger: every destination set up
 * so far gets it, with time and level. */
static int print_error(const struct rc_error *e)
{
	log_write(LOG_ERROR, e->where[0] ? e->where : NULL, "%s", e->message);
	return exit_code(e->status);
}

static int cmd_checkpoint(const char *cfgpath, int argc, char **argv)
{
	struct rc_config *cfg;
	struct rc_error e = { 0 };
	struct ckpt *c = NULL;
	char err[1024], saved[4200];
	bool force = false;
	struct source *src = NULL;
	struct source_pos *pos = NULL;
	char *text;
	int rc = 0;

	if (argc == 4 && !strcmp(argv[0], "set") && !strcmp(argv[3], "--force")) {
		force = true;
		argc--;
	}
	/* --gtid-state: the older name of --position */
	if (argc < 1 || (strcmp(argv[0], "show") && strcmp(argv[0], "set")) ||
	    (!strcmp(argv[0], "set") &&
	     (argc != 3 || (strcmp(argv[1], "--position") && strcmp(argv[1], "--gtid-state"))))) {
		fprintf(stderr, "Usage: rowcast checkpoint show [-c FILE]\n"
				"       rowcast checkpoint set --position POSITION [--force] [-c FILE]\n");
		return EX_USAGE;
	}
	if (rc_config_load(cfgpath, &cfg, &e) != RC_OK)
		return exit_code(e.status);
	if (!strcmp(argv[0], "show")) {
		if (!ckpt_read_only(cfg->ckpt_path, &c, err, sizeof(err))) {
			log_error("%s", err);
			rc = EX_PROTOCOL;
		} else if (!ckpt_exists(c)) {
			printf("# no checkpoint at %s\n", cfg->ckpt_path);
		} else {
			text = ckpt_text(c);
			fputs(text, stdout);
			free(text);
		}
		goto out;
	}
	/* set: on purpose, with the lock (refused while rowcast runs); the
	 * source of [source] type parses the position and writes its own
	 * section, as the daemon does */
	{
		struct source_callbacks cb = { 0 };

		src = source_new(cfg, &cb, err, sizeof(err));
		if (!src) {
			log_error("%s", err);
			rc = EX_CONFIG;
			goto out;
		}
		pos = src->ops->pos_new(src);
		if (!src->ops->pos_parse(src, pos, argv[2], err, sizeof(err))) {
			log_error("%s: %s", argv[1], err);
			rc = EX_USAGE;
			goto out;
		}
	}
	if (force ? !ckpt_open_force(cfg->ckpt_path, &c, saved, sizeof(saved), err, sizeof(err)) :
		    !ckpt_open(cfg->ckpt_path, &c, err, sizeof(err))) {
		if (!force && strstr(err, ": damaged: "))
			log_error("%s (rowcast checkpoint set ... --force replaces it, keeping a copy)",
				  err);
		else
			log_error("%s", err);
		rc = EX_PROTOCOL;
		goto out;
	}
	if (force && saved[0])
		printf("%s: damaged; moved to %s\n", cfg->ckpt_path, saved);
	ckpt_clear_section(c, "source");
	src->ops->ckpt_store(src, pos, c);
	ckpt_clear_section(c, "progress");
	if (!ckpt_write(c, err, sizeof(err))) {
		log_error("%s", err);
		rc = EX_PROTOCOL;
		goto out;
	}
	{
		struct rc_buf b = { 0 };

		src->ops->pos_format(src, pos, &b);
		printf("%s: position = %s\n", cfg->ckpt_path, b.data ? b.data : "");
		buf_free(&b);
	}
out:
	ckpt_close(c);
	if (pos)
		src->ops->pos_free(src, pos);
	if (src)
		src->ops->free(src);
	rc_config_free(cfg);
	return rc;
}

/* `rowcast status`: the checkpoint's position and age, who holds it, and
 * what that daemon says over its control socket. */
static int cmd_status(const char *cfgpath)
{
	struct rc_config *cfg;
	struct rc_error e = { 0 };
	struct ckpt *c = NULL, *probe = NULL;
	struct stat sb;
	char err[1024];
	const char *v;
	int rc = 0;

	if (rc_config_load(cfgpath, &cfg, &e) != RC_OK)
		return exit_code(e.status);
	if (!ckpt_read_only(cfg->ckpt_path, &c, err, sizeof(err))) {
		fprintf(stderr, "rowcast: %s\n", err);
		rc = EX_PROTOCOL;
		goto out;
	}
	if (!ckpt_exists(c)) {
		printf("checkpoint: none at %s\n", cfg->ckpt_path);
		goto out;
	}
	printf("checkpoint: %s\n", cfg->ckpt_path);
	/* the position as the source of [source] type reads it */
	{
		struct source_callbacks cb = { 0 };
		struct source *src = source_new(cfg, &cb, err, sizeof(err));
		struct source_pos *pos = src ? src->ops->pos_new(src) : NULL;
		char *text = NULL;

		if (!src) {
			printf("position: ? (%s)\n", err);
		} else if (!src->ops->ckpt_load(src, c, pos, &text, err, sizeof(err))) {
			printf("position: ? (%s)\n", err);
		} else {
			struct rc_buf b = { 0 };

			src->ops->pos_format(src, pos, &b);
			printf("position: %s\n", b.data ? b.data : "");
			buf_free(&b);
		}
		free(text);
		if (pos)
			src->ops->pos_free(src, pos);
		if (src)
			src->ops->free(src);
	}
	if ((v = ckpt_get(c, "progress", "gtid")))
		printf("in progress: %s, rows before %s acknowledged\n", v,
		       ckpt_get(c, "progress", "next_row"));
	if (stat(cfg->ckpt_path, &sb) == 0)
		printf("age: %.0f s\n", difftime(time(NULL), sb.st_mtime));
	/* running? the lock says so */
	if (ckpt_open(cfg->ckpt_path, &probe, err, sizeof(err))) {
		printf("running: no\n");
	} else {
		printf("running: yes (%s)\n", err);
		cli_status_daemon(cfg);
	}
	ckpt_close(probe);
out:
	ckpt_close(c);
	rc_config_free(cfg);
	return rc;
}

/* Conditions and scripts are compiled as the daemon will: check-config
 * refuses what the daemon would (false, with the error logged, cfg freed). */
static bool routes_compile(struct rc_config *cfg)
{
	char msg[1024];
	struct router *r = router_new(cfg, msg, sizeof(msg));

	if (!r) {
		log_error("%s", msg);
		rc_config_free(cfg);
		return false;
	}
	router_free(r);
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "print-man-options", no_argument, NULL, 'M' },
		{ "print-sample-config", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfgpath = DEFAULT_CONFIG;
	const char *cmd = NULL;
	bool print = false, verbose = false;
	struct rc_config *cfg = NULL;
	struct rc_error e = { 0 };
	struct rc *rc = NULL;
	enum rc_status st;
	int opt;

	log_setup(LOG_INFO, LOG_TO_STDERR, "rowcast");
	if (argc > 1 && !strcmp(argv[1], "decode"))
		return cli_decode(argc - 1, argv + 1);

	opterr = 0;	/* bad_option() says it in one line */
	while ((opt = getopt_long(argc, argv, "+:c:hVvP", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': cfgpath = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("rowcast %s\n", rc_version()); return 0;
		case 'v': verbose = true; break;
		case 'P': print = true; break;
		case 'M': config_print_man(stdout); return 0;
		case 'S': config_print_sample(stdout); return 0;
		default: return bad_option(opt, argv);
		}
	}
	if (optind < argc) {
		cmd = argv[optind++];
		/* its own words: --where takes SQL, which getopt must not see */
		if (!strcmp(cmd, "snapshot"))
			return cli_snapshot(cfgpath, argc - optind, argv + optind);
		/* options may also follow the subcommand */
		while ((opt = getopt_long(argc, argv, "+:c:v", opts, NULL)) != -1) {
			if (opt == 'c')
				cfgpath = optarg;
			else if (opt == 'v')
				verbose = true;
			else
				return bad_option(opt, argv);
		}
	}
	/* subcommands take -c FILE anywhere among their words */
	for (int i = optind; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
			cfgpath = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 2) * sizeof(char *));
			argc -= 2;
			i--;
		}
	}
	if (cmd && !strcmp(cmd, "checkpoint"))
		return cmd_checkpoint(cfgpath, argc - optind, argv + optind);
	if (cmd && !strcmp(cmd, "status"))
		return cmd_status(cfgpath);
	if (cmd && !strcmp(cmd, "test")) {
		int code;

		if (config_load(cfgpath, CONFIG_NO_SECRETS, &cfg, &e) != RC_OK)
			return exit_code(e.status);
		code = cli_test(cfg, argc - optind, argv + optind);
		rc_config_free(cfg);
		return code;
	}
	if (cmd && strcmp(cmd, "check-config") && strcmp(cmd, "run"))
		return bad_usage("unknown command", cmd);

	/* check-config and the daemon check the same: the file, and what the
	 * running user needs (the checkpoint folder) */
	if (config_load(cfgpath, print ? 0 : CONFIG_CHECK_FOLDERS | CONFIG_WARN, &cfg, &e) != RC_OK)
		return exit_code(e.status);	/* every bad line was logged */
	if (!print && !routes_compile(cfg))
		return exit_code(RC_ERR_CONFIG);
	if (print) {
		rc_config_print(cfg, stdout);
		rc_config_free(cfg);
		return 0;
	}
	if (cmd && !strcmp(cmd, "check-config")) {
		printf("%s: ok\n", cfgpath);
		rc_config_free(cfg);
		return 0;
	}
	log_setup(verbose ? LOG_DEBUG : cfg->log_level,
		  LOG_TO_STDERR | (cfg->log_syslog ? LOG_TO_SYSLOG : 0), "rowcast");
	if (!log_file_open(cfg->log_file, e.message, sizeof(e.message))) {
		e.status = RC_ERR_CONFIG;
		rc_config_free(cfg);
		return print_error(&e);
	}
	log_info("rowcast %s starting with %s", rc_version(), cfgpath);
	cfg->handle_signals = true;
	st = rc_new(cfg, &rc, &e);
	rc_config_free(cfg);
	if (st == RC_OK)
		st = rc_run(rc, &e);
	rc_free(rc);
	if (st != RC_OK)
		return print_error(&e);
	return 0;
}
