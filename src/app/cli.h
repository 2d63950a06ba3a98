/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of the rowcast program besides running the daemon.
 */
#ifndef RC_APP_CLI_H
#define RC_APP_CLI_H

/* `rowcast decode [options] FILE...`; returns the exit code. */
int cli_decode(int argc, char **argv);

#endif
