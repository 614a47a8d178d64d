/* A faster keyed hash for the established table, of SipHash's purpose
 * (an attacker who picks addresses and ports cannot aim at a bucket
 * without the secret): AES rounds with secret round keys, as Go's
 * runtime map hash (aeshash) does with a random per-process seed.
 *   IPv4 tuple (one 16-byte block, the SipHash message of tuple_hash.h):
 *     x = block ^ k0, then 4 AES rounds keyed k1..k4;
 *   otherwise, laddr and faddr absorbed in turn, each followed by 2
 *   rounds (full diffusion), then the ports block and 4 rounds.
 * For an IPv4 tuple the 128-bit state is a keyed permutation of the
 * input, so distinct tuples never collide before the 64-bit fold; for the
 * others, a difference in one block must be cancelled by the next after
 * two secret-keyed rounds, whose best differential trail has 5 active
 * S-boxes (probability <= 2^-30). Choosing keys that share a bucket thus
 * needs the round keys, as with SipHash; unlike SipHash this is not a
 * proven PRF, which is why the secret stays per table and SipHash remains
 * one flag away. Measured: ~7 ns a tuple against SipHash-1-3's ~17 (IPv4)
 * and ~25 (IPv6) on the bench machine (docs/demux.md). Used only when the
 * CPU has AES-NI (checked at pm_ehash_create); SipHash-1-3 otherwise. */
#ifndef PM_DEMUX_AES_HASH_H
#define PM_DEMUX_AES_HASH_H

#include <stdint.h>

#include "demux/tuple_hash.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DM_HAVE_AES_HASH 1
#include <immintrin.h>

#define DM_AES_ROUND_KEYS 8

__attribute__((target("aes,sse2"))) static inline uint64_t
dm_aes_hash_tuple(const uint8_t (*rk)[16], const pm_tuple *k)
{
    const __m128i *r = (const __m128i *)(const void *)rk;
    uint64_t ports_v4 = k->lport | (uint64_t)k->fport << 16 | (uint64_t)k->proto << 32;
    __m128i x;
    if (dm_is_v4(&k->laddr) && dm_is_v4(&k->faddr)) {
        uint64_t a = (uint64_t)dm_le32(k->laddr.b + 12) | (uint64_t)dm_le32(k->faddr.b + 12) << 32;
        x = _mm_set_epi64x((long long)(ports_v4 | (uint64_t)4 << 40), (long long)a);
        x = _mm_xor_si128(x, _mm_load_si128(&r[0]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[1]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[2]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[3]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[4]));
    } else {
        x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)k->laddr.b),
                          _mm_load_si128(&r[0]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[1]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[2]));
        x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(const void *)k->faddr.b));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[3]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[4]));
        x = _mm_xor_si128(x, _mm_set_epi64x(0, (long long)(ports_v4 | (uint64_t)6 << 40)));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[5]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[6]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[7]));
        x = _mm_aesenc_si128(x, _mm_load_si128(&r[1]));
    }
    x = _mm_xor_si128(x, _mm_unpackhi_epi64(x, x));
    return (uint64_t)_mm_cvtsi128_si64(x);
}

static inline int dm_cpu_has_aes(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes");
}
#else
#define DM_HAVE_AES_HASH 0
static inline int dm_cpu_has_aes(void)
{
    return 0;
}
#endif

#endif
