/* -sS and -sU over raw sockets (probes built with the wire module). */
#include <errno.h>

#include "scan/engine.h"

int pm_backend_raw(pm_engine *e)
{
    (void)e;
    return -ENOTSUP;
}
