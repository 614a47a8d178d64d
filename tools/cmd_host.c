/* portmux host: not built yet (see the open issues). */
#include <stdio.h>

#include "cli.h"

int cmd_host(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "portmux host: not implemented yet\n");
    return PM_EXIT_FAIL;
}
