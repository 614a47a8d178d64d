/* IP version dispatch. */
#include "wire_int.h"

int pm_ip_hdr_parse(const uint8_t *buf, size_t len, pm_ip_repr *out, pm_wire_stats *stats)
{
    if (len < 1) return pm_wire_fail(stats, -PM_E_TRUNCATED);
    switch (buf[0] >> 4) {
    case 4: return pm_ipv4_parse(buf, len, 0, out, stats);
    case 6: return pm_ipv6_parse(buf, len, 0, out, stats);
    default: return pm_wire_fail(stats, -PM_E_VERSION);
    }
}

size_t pm_ip_emit_len(const pm_ip_repr *r)
{
    if (r->version == 4) return 20;
    return r->fragment || r->more_frags || r->frag_off ? 48 : 40;
}

int pm_ip_hdr_emit(const pm_ip_repr *r, uint8_t *buf, size_t cap)
{
    switch (r->version) {
    case 4: return pm_ipv4_emit(r, buf, cap);
    case 6: return pm_ipv6_emit(r, buf, cap);
    default: return -EINVAL;
    }
}
