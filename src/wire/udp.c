/* UDP (RFC 768; over IPv6, RFC 8200 8.1). */
#include "wire_int.h"

#define UDP_HLEN 8

int pm_udp_parse(const pm_ip_repr *ip, const uint8_t *dgram, size_t len, bool verify_csum,
                 pm_udp_repr *out, pm_wire_stats *stats)
{
    if (len < UDP_HLEN) return pm_wire_fail(stats, -PM_E_TRUNCATED);
    size_t ulen = pm_rd16(dgram + 4);
    /* RFC 768: the length counts header and data. Linux __udp4_lib_rcv():
     * longer than the packet is dropped, shorter trims the packet. A zero
     * length (RFC 2675 jumbogram) is not supported. */
    if (ulen < UDP_HLEN || ulen > len) return pm_wire_fail(stats, -PM_E_UDPLEN);
    if (verify_csum) {
        uint16_t c = pm_rd16(dgram + 6);
        if (c == 0) {
            /* RFC 768: zero means no checksum over IPv4; RFC 8200 8.1: an
             * IPv6 receiver discards it. */
            if (ip->version == 6) return pm_wire_fail(stats, -PM_E_CHECKSUM);
        } else {
            uint32_t s = pm_csum_pseudo(ip, PM_IPPROTO_UDP, (uint32_t)ulen);
            if (pm_csum_fold(pm_csum_add(s, dgram, ulen)))
                return pm_wire_fail(stats, -PM_E_CHECKSUM);
        }
    }
    out->sport = pm_rd16(dgram);
    out->dport = pm_rd16(dgram + 2);
    out->payload = dgram + UDP_HLEN;
    out->payload_len = ulen - UDP_HLEN;
    return 0;
}

int pm_udp_emit(const pm_ip_repr *ip, const pm_udp_repr *r, uint8_t *buf, size_t cap)
{
    if (r->payload_len > 0xffff - UDP_HLEN) return -EMSGSIZE;
    size_t total = UDP_HLEN + r->payload_len;
    if (cap < total) return -ENOSPC;
    if (r->payload_len) memmove(buf + UDP_HLEN, r->payload, r->payload_len);
    pm_wr16(buf, r->sport);
    pm_wr16(buf + 2, r->dport);
    pm_wr16(buf + 4, (uint16_t)total);
    pm_wr16(buf + 6, 0);
    uint16_t c =
        pm_csum_fold(pm_csum_add(pm_csum_pseudo(ip, PM_IPPROTO_UDP, (uint32_t)total), buf, total));
    /* RFC 768: a computed zero is sent as all ones. */
    pm_wr16(buf + 6, c ? c : 0xffff);
    return (int)total;
}
