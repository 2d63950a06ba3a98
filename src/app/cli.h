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

#endif
