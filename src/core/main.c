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
#include <sysexits.h>

#include "checkpoint/checkpoint.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "rowcast/rowcast.h"

#define DEFAULT_CONFIG "/etc/rowcast/rowcast.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: rowcast [-c FILE]                  run: publish row changes\n"
		"       rowcast check-config [-c FILE]     validate the config and exit\n"
		"       rowcast --print-config [-c FILE]   show the effective config\n"
		"       rowcast checkpoint show [-c FILE]  show the checkpoint\n"
		"       rowcast decode [--events] FILE...  decode binlog files to JSON\n"
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

static int print_error(const struct rc_error *e)
{
	if (e->where[0])
		fprintf(stderr, "rowcast: %s: %s\n", e->where, e->message);
	else
		fprintf(stderr, "rowcast: %s\n", e->message);
	return exit_code(e->status);
}

static int cmd_checkpoint(const char *cfgpath, int argc, char **argv)
{
	struct rc_config *cfg;
	struct rc_error e = { 0 };
	struct ckpt *c;
	char err[1024];
	char *text;

	if (argc < 1 || strcmp(argv[0], "show")) {
		fprintf(stderr, "Usage: rowcast checkpoint show [-c FILE]\n");
		return EX_USAGE;
	}
	if (rc_config_load(cfgpath, &cfg, &e) != RC_OK)
		return exit_code(e.status);
	if (!ckpt_read_only(cfg->ckpt_path, &c, err, sizeof(err))) {
		fprintf(stderr, "rowcast: %s\n", err);
		rc_config_free(cfg);
		return EX_PROTOCOL;
	}
	if (!ckpt_exists(c)) {
		printf("# no checkpoint at %s\n", cfg->ckpt_path);
	} else {
		text = ckpt_text(c);
		fputs(text, stdout);
		free(text);
	}
	ckpt_close(c);
	rc_config_free(cfg);
	return 0;
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

	while ((opt = getopt_long(argc, argv, "+c:hVvP", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': cfgpath = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("rowcast %s\n", rc_version()); return 0;
		case 'v': verbose = true; break;
		case 'P': print = true; break;
		case 'M': config_print_man(stdout); return 0;
		case 'S': config_print_sample(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind < argc) {
		cmd = argv[optind++];
		/* options may also follow the subcommand */
		while ((opt = getopt_long(argc, argv, "+c:v", opts, NULL)) != -1) {
			if (opt == 'c')
				cfgpath = optarg;
			else if (opt == 'v')
				verbose = true;
			else
				return EX_USAGE;
		}
	}
	if (cmd && !strcmp(cmd, "checkpoint"))
		return cmd_checkpoint(cfgpath, argc - optind, argv + optind);
	if (cmd && strcmp(cmd, "check-config") && strcmp(cmd, "run")) {
		fprintf(stderr, "rowcast: unknown command '%s'\n", cmd);
		usage(stderr);
		return EX_USAGE;
	}

	if (rc_config_load(cfgpath, &cfg, &e) != RC_OK)
		return exit_code(e.status);	/* every bad line was logged */
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
