/* A drill target (drill.h) that is a portmux host: scripts run against the
 * library in virtual time. */
#ifndef PORTMUX_DRILL_HOST_H
#define PORTMUX_DRILL_HOST_H

#include "portmux/drill.h"

/* personality "linux" or "freebsd"; 0 or -EINVAL / -ENOMEM. */
int pm_drill_host_open(const char *personality, pm_drill_target *out);
void pm_drill_host_close(pm_drill_target *t);

#endif
