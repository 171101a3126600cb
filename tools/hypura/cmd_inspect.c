/* hypura inspect MODEL [--tensors] [--plan] */
#include "cli.h"

int cmd_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "hypura inspect: not built yet\n");
    return 1;
}
