/* The Internet checksum (RFC 1071, incremental update RFC 1624) and the pseudo-headers of TCP and
 * UDP over IPv4 (RFC 9293 3.1, RFC 768) and IPv6 (RFC 8200 8.1). */
#include "wire_int.h"

static uint32_t fold32(uint64_t s)
{
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

uint32_t pm_csum_add(uint32_t sum, const void *data, size_t len)
{
    /* RFC 1071 2(B): the sum does not depend on byte order, so 64-bit
     * native words are added (a carry out of bit 63 is worth 1, as
     * 2^64 = 1 mod 0xffff) and the folded result swapped to network
     * order. RFC 1071 2(C): parallel summation. Only the last chunk of a
     * chained sum may have an odd length (its last byte is zero padded). */
    const uint8_t *p = data;
    uint64_t s = 0, carries = 0, w;
    while (len >= 8) {
        memcpy(&w, p, 8);
        s += w;
        carries += s < w;
        p += 8;
        len -= 8;
    }
    uint64_t f = (s & 0xffffffffu) + (s >> 32) + carries;
    uint32_t n = fold32(f);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    n = (uint32_t)((n >> 8) | ((n & 0xff) << 8));
#endif
    uint64_t t = (uint64_t)sum + n;
    while (len >= 2) {
        t += (uint32_t)(p[0] << 8 | p[1]);
        p += 2;
        len -= 2;
    }
    if (len) t += (uint32_t)p[0] << 8;
    return fold32(t);
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

uint16_t pm_csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word)
{
    /* RFC 1624 3: HC' = ~(~HC + ~m + m'). */
    uint32_t s = (uint32_t)(uint16_t)~csum + (uint16_t)~old_word + new_word;
    return (uint16_t)~fold32(s);
}
