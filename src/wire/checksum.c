/* The Internet checksum (RFC 1071) and the pseudo-headers of TCP and UDP
 * over IPv4 (RFC 9293 3.1, RFC 768) and IPv6 (RFC 8200 8.1). */
#include "wire_int.h"

uint32_t pm_csum_add(uint32_t sum, const void *data, size_t len)
{
    /* RFC 1071 4.1: sum 16-bit big-endian words; a 64-bit accumulator
     * cannot overflow for any length a packet has. Only the last chunk of
     * a chained sum may have an odd length (its last byte is padded). */
    const uint8_t *p = data;
    uint64_t s = sum;
    while (len >= 2) {
        s += (uint32_t)(p[0] << 8 | p[1]);
        p += 2;
        len -= 2;
    }
    if (len) s += (uint32_t)p[0] << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

uint16_t pm_csum_fold(uint32_t sum)
{
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

uint32_t pm_csum_pseudo(const pm_ip_repr *ip, uint8_t proto, uint32_t len)
{
    uint32_t s;
    if (ip->version == 4) {
        /* RFC 9293 3.1: src, dst, zero, protocol, TCP length (16 bits). */
        s = pm_csum_add(0, ip->src.b + 12, 4);
        s = pm_csum_add(s, ip->dst.b + 12, 4);
        s += proto;
        s += len & 0xffff;
    } else {
        /* RFC 8200 8.1: src, dst, upper-layer length (32), zero, next header. */
        s = pm_csum_add(0, ip->src.b, 16);
        s = pm_csum_add(s, ip->dst.b, 16);
        s += len >> 16;
        s += len & 0xffff;
        s += proto;
    }
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return s;
}
