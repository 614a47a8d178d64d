/* Port numbers: the RFC 6335 classes and the ephemeral ranges that
 * operating systems use. */
#ifndef PORTMUX_PORTS_H
#define PORTMUX_PORTS_H

#include <stdint.h>

/* RFC 6335 6: System Ports 0-1023, User Ports 1024-49151, Dynamic and/or
 * Private Ports 49152-65535. */
typedef enum pm_port_class {
    PM_PORT_SYSTEM = 0,  /* "well-known" */
    PM_PORT_USER = 1,    /* "registered" */
    PM_PORT_DYNAMIC = 2, /* "ephemeral", "private" */
} pm_port_class;

pm_port_class pm_port_class_of(uint16_t port);
const char *pm_port_class_name(pm_port_class c); /* "system", "user", "dynamic" */
/* Accepts the RFC names and their common synonyms (well-known, registered,
 * ephemeral, private); returns 0 or -EINVAL. */
int pm_port_class_parse(const char *s, pm_port_class *out);

/* An inclusive port range, lo <= hi. */
typedef struct pm_port_range {
    uint16_t lo, hi;
} pm_port_range;

/* Named ephemeral ranges: linux 32768-60999 (net.ipv4.ip_local_port_range),
 * iana/windows/macos 49152-65535, old-unix (4.4BSD) 1024-5000. Also accepts
 * a custom "LO-HI". Returns 0, or -EINVAL for an unknown name or a bad range. */
int pm_port_range_parse(const char *s, pm_port_range *out);
/* The named profiles, for listing: name and range, NULL name at the end. */
typedef struct pm_port_profile {
    const char *name;
    pm_port_range range;
    const char *note;
} pm_port_profile;
extern const pm_port_profile pm_port_profiles[];

static inline unsigned pm_port_range_size(pm_port_range r)
{
    return (unsigned)r.hi - r.lo + 1u;
}

#endif
