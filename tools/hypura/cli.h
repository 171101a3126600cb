/* Shared pieces of the CLI: the command table and option helpers. The CLI uses only
 * include/hypura.h. */
#ifndef HY_CLI_H
#define HY_CLI_H

#include "hypura.h"

#include <stdio.h>

struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);   /* argv[0] is the command name */
    const char *help;
};

int cmd_inspect(int argc, char **argv);
int cmd_iobench(int argc, char **argv);

#endif
