#include "portmux/ports.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

pm_port_class pm_port_class_of(uint16_t port)
{
    if (port <= 1023) return PM_PORT_SYSTEM;
    if (port <= 49151) return PM_PORT_USER;
    return PM_PORT_DYNAMIC;
}

const char *pm_port_class_name(pm_port_class c)
{
    switch (c) {
    case PM_PORT_SYSTEM: return "system";
    case PM_PORT_USER: return "user";
    case PM_PORT_DYNAMIC: return "dynamic";
    }
    return "?";
}

int pm_port_class_parse(const char *s, pm_port_class *out)
{
    static const struct {
        const char *name;
        pm_port_class c;
    } names[] = {
        {"system", PM_PORT_SYSTEM},     {"well-known", PM_PORT_SYSTEM},
        {"wellknown", PM_PORT_SYSTEM},  {"user", PM_PORT_USER},
        {"registered", PM_PORT_USER},   {"dynamic", PM_PORT_DYNAMIC},
        {"ephemeral", PM_PORT_DYNAMIC}, {"private", PM_PORT_DYNAMIC},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].c;
            return 0;
        }
    }
    return -EINVAL;
}

const pm_port_profile pm_port_profiles[] = {
    {"linux", {32768, 60999}, "net.ipv4.ip_local_port_range default"},
    {"iana", {49152, 65535}, "RFC 6335 dynamic ports"},
    {"windows", {49152, 65535}, "Windows Vista and later"},
    {"macos", {49152, 65535}, "net.inet.ip.portrange.first/last"},
    {"freebsd", {10000, 65535}, "net.inet.ip.portrange.first/last"},
    {"old-unix", {1024, 5000}, "4.4BSD, Windows XP and older"},
    {NULL, {0, 0}, NULL},
};

static int parse_port(const char *s, const char **end, uint16_t *out)
{
    char *e;
    if (*s < '0' || *s > '9') return -EINVAL;
    long v = strtol(s, &e, 10);
    if (v < 0 || v > 65535) return -EINVAL;
    *out = (uint16_t)v;
    *end = e;
    return 0;
}

int pm_port_range_parse(const char *s, pm_port_range *out)
{
    for (const pm_port_profile *p = pm_port_profiles; p->name; p++) {
        if (strcasecmp(s, p->name) == 0) {
            *out = p->range;
            return 0;
        }
    }
    const char *e;
    pm_port_range r;
    if (parse_port(s, &e, &r.lo) < 0 || *e != '-') return -EINVAL;
    if (parse_port(e + 1, &e, &r.hi) < 0 || *e) return -EINVAL;
    if (r.lo > r.hi) return -EINVAL;
    *out = r;
    return 0;
}
