#include "base/siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL(v[2], 32);
}

static uint64_t load64le(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = (x << 8) | p[i];
    return x;
}

static uint64_t siphash(const pm_sipkey *key, const void *data, size_t len, int c, int d)
{
    const uint8_t *p = data;
    uint64_t v[4] = {key->k0 ^ 0x736f6d6570736575ULL, key->k1 ^ 0x646f72616e646f6dULL,
                     key->k0 ^ 0x6c7967656e657261ULL, key->k1 ^ 0x7465646279746573ULL};
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load64le(p + i);
        v[3] ^= m;
        for (int r = 0; r < c; r++) sipround(v);
        v[0] ^= m;
    }
    uint8_t tail[8] = {0};
    memcpy(tail, p + full, len - full);
    uint64_t b = ((uint64_t)len << 56) | load64le(tail);
    v[3] ^= b;
    for (int r = 0; r < c; r++) sipround(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int r = 0; r < d; r++) sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t pm_siphash24(const pm_sipkey *key, const void *data, size_t len)
{
    return siphash(key, data, len, 2, 4);
}

uint64_t pm_siphash13(const pm_sipkey *key, const void *data, size_t len)
{
    return siphash(key, data, len, 1, 3);
}
