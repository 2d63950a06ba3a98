/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of the rowcast program besides running the daemon.
 */
#ifndef RC_APP_CLI_H
#define RC_APP_CLI_H

/* `rowcast decode [options] FILE...`; returns the exit code. */
int cli_decode(int argc, char **argv);

struct rc_config;
/* `rowcast test -c FILE CASES...` with cfg loaded (the caller frees it);
 * returns the exit code: 0 all cases pass, 1 some differ, 78 the routes do
 * not compile, 64/66 bad usage or files. */
int cli_test(struct rc_config *cfg, int argc, char **argv);

/* `rowcast snapshot [-c FILE] DB.TABLE... [--where CONDITION] | --all`:
 * ask the running daemon (its control socket) for a snapshot; cfgpath is
 * the config named before the verb.  Returns the exit code: 0 accepted,
 * 1 refused, 64 bad usage, 69 no daemon listens, 75 no answer in time,
 * 77 the socket is another user's, 78 a bad config. */
int cli_snapshot(const char *cfgpath, int argc, char **argv);

/* `rowcast status` while a daemon holds the checkpoint: the lines it
 * gives over its control socket (state, gauges, the snapshot), printed;
 * a line saying why when it does not answer. */
void cli_status_daemon(const struct rc_config *cfg);

#endif
