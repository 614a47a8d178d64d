/* Helpers shared by the wire parsers and emitters; not public. */
#ifndef PM_WIRE_INT_H
#define PM_WIRE_INT_H

#include <stdint.h>
#include <string.h>

#include "portmux/wire.h"

static inline uint16_t pm_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pm_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void pm_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void pm_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Counts err (a negative pm_err) in stats and returns it. */
static inline int pm_wire_fail(pm_wire_stats *stats, int err)
{
    int e = -err - PM_ERR_BASE;
    if (stats && e >= 0 && e < PM_E_COUNT) stats->err[e]++;
    return err;
}

/* How the IP parsers treat the header they are given. */
enum {
    PM_IPF_QUOTED = 1, /* inside an ICMP error: no checksum, the datagram may
                          be cut short after the header(s) */
};

int pm_ipv4_parse(const uint8_t *buf, size_t len, unsigned flags, pm_ip_repr *out,
                  pm_wire_stats *stats);
int pm_ipv6_parse(const uint8_t *buf, size_t len, unsigned flags, pm_ip_repr *out,
                  pm_wire_stats *stats);
int pm_ipv4_emit(const pm_ip_repr *r, uint8_t *buf, size_t cap);
int pm_ipv6_emit(const pm_ip_repr *r, uint8_t *buf, size_t cap);
size_t pm_ip_emit_len(const pm_ip_repr *r); /* bytes pm_ip_emit writes */

#endif
