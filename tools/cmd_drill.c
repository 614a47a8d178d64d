/* portmux drill: not built yet (see the open issues). */
#include <stdio.h>

#include "cli.h"

int cmd_drill(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "portmux drill: not implemented yet\n");
    return PM_EXIT_FAIL;
}
