/* The keyed 5-tuple hash: SipHash-1-3 (as Linux's hsiphash on 64-bit
 * machines) over a fixed word layout, unrolled, so that it costs a few
 * nanoseconds instead of the byte-at-a-time generic one. Its value equals
 * pm_siphash13() over the same bytes (tests/unit/test_demux.c checks):
 *   both addresses IPv4-mapped: laddr4 faddr4 lport fport proto 4 0 0  (16 B)
 *   otherwise:     laddr16 faddr16 lport fport proto 6 0 0             (40 B)
 * ports little-endian, addresses in network byte order. */
#ifndef PM_DEMUX_TUPLE_HASH_H
#define PM_DEMUX_TUPLE_HASH_H

#include <stdint.h>
#include <string.h>

#include "base/siphash.h"
#include "portmux/addr.h"

#define DM_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define DM_SIPROUND                                                                                \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = DM_ROTL(v1, 13);                                                                      \
        v1 ^= v0;                                                                                  \
        v0 = DM_ROTL(v0, 32);                                                                      \
        v2 += v3;                                                                                  \
        v3 = DM_ROTL(v3, 16);                                                                      \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = DM_ROTL(v3, 21);                                                                      \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = DM_ROTL(v1, 17);                                                                      \
        v1 ^= v2;                                                                                  \
        v2 = DM_ROTL(v2, 32);                                                                      \
    } while (0)

static inline uint64_t dm_le64(const void *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

static inline uint32_t dm_le32(const void *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap32(x);
#endif
    return x;
}

static inline uint32_t dm_fastrange_u32(uint32_t h, uint32_t n)
{
    return (uint32_t)(((uint64_t)h * n) >> 32);
}

static inline int dm_is_v4(const pm_ip *ip)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(ip->b, pfx, 12) == 0;
}

/* SipHash-1-3 of words m[0..n-1] followed by a final block of `len`. */
static inline uint64_t dm_sip13_words(const pm_sipkey *key, const uint64_t *m, int n)
{
    uint64_t v0 = key->k0 ^ 0x736f6d6570736575ULL, v1 = key->k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = key->k0 ^ 0x6c7967656e657261ULL, v3 = key->k1 ^ 0x7465646279746573ULL;
    for (int i = 0; i < n; i++) {
        v3 ^= m[i];
        DM_SIPROUND;
        v0 ^= m[i];
    }
    uint64_t b = (uint64_t)(8 * n) << 56;
    v3 ^= b;
    DM_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    DM_SIPROUND;
    DM_SIPROUND;
    DM_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static inline uint64_t dm_hash_parts(const pm_sipkey *key, const pm_ip *laddr, const pm_ip *faddr,
                                     uint16_t lport, uint16_t fport, uint8_t proto)
{
    uint64_t m[5];
    if (dm_is_v4(laddr) && dm_is_v4(faddr)) {
        m[0] = (uint64_t)dm_le32(laddr->b + 12) | (uint64_t)dm_le32(faddr->b + 12) << 32;
        m[1] = lport | (uint64_t)fport << 16 | (uint64_t)proto << 32 | (uint64_t)4 << 40;
        return dm_sip13_words(key, m, 2);
    }
    m[0] = dm_le64(laddr->b);
    m[1] = dm_le64(laddr->b + 8);
    m[2] = dm_le64(faddr->b);
    m[3] = dm_le64(faddr->b + 8);
    m[4] = lport | (uint64_t)fport << 16 | (uint64_t)proto << 32 | (uint64_t)6 << 40;
    return dm_sip13_words(key, m, 5);
}

static inline uint64_t dm_hash_tuple(const pm_sipkey *key, const pm_tuple *k)
{
    return dm_hash_parts(key, &k->laddr, &k->faddr, k->lport, k->fport, k->proto);
}

#endif
