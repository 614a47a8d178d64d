/* The keyed permutation over ip x port, sharding, and the probe cookie. */
#include <string.h>

#include "base/siphash.h"
#include "portmux/scan.h"

void pm_perm_init(pm_perm *p, uint64_t n, uint64_t seed)
{
    p->n = n;
    unsigned bits = 0;
    while (bits < 64 && (1ull << bits) < n) bits++;
    if (bits < 2) bits = 2;
    bits += bits & 1; /* balanced halves */
    p->half = bits / 2;
    p->mask = (1ull << p->half) - 1;
    /* The key is derived from the seed, so --seed reproduces the order
     * across machines (--shards) and across runs (--resume). */
    pm_sipkey k0 = {0x706f72746d75782dull, 0x7065726d2d6b6579ull};
    uint64_t a = pm_siphash24(&k0, &seed, sizeof seed);
    uint64_t b = pm_siphash24(&k0, &a, sizeof a);
    p->k[0] = a;
    p->k[1] = b;
}

/* Four Luby-Rackoff rounds make a pseudo-random permutation of the domain. */
static uint64_t feistel(const pm_perm *p, uint64_t x)
{
    pm_sipkey key = {p->k[0], p->k[1]};
    uint64_t l = x >> p->half, r = x & p->mask;
    for (uint64_t round = 0; round < 4; round++) {
        uint64_t in[2] = {round, r};
        uint64_t f = pm_siphash13(&key, in, sizeof in) & p->mask;
        uint64_t nl = r;
        r = l ^ f;
        l = nl;
    }
    return l << p->half | r;
}

uint64_t pm_perm_at(const pm_perm *p, uint64_t i)
{
    /* Cycle walking: the domain is < 4n, so under 4 steps on average, and
     * the walk from i in [0, n) always lands back in [0, n). */
    uint64_t x = i;
    do x = feistel(p, x);
    while (x >= p->n);
    return x;
}

uint64_t pm_shard_count(uint64_t n, uint32_t shard, uint32_t nshards)
{
    if (nshards == 0 || shard >= nshards || n <= shard) return 0;
    return (n - shard + nshards - 1) / nshards;
}

uint32_t pm_scan_cookie(const uint64_t key[2], const pm_ip *dst, uint16_t dport, uint16_t sport)
{
    uint8_t buf[20];
    memcpy(buf, dst->b, 16);
    buf[16] = (uint8_t)(dport >> 8);
    buf[17] = (uint8_t)dport;
    buf[18] = (uint8_t)(sport >> 8);
    buf[19] = (uint8_t)sport;
    pm_sipkey k = {key[0], key[1]};
    return (uint32_t)pm_siphash24(&k, buf, sizeof buf);
}

void pm_rtt_init(pm_rtt *r, uint64_t initial_us, uint64_t min_us, uint64_t max_us)
{
    r->srtt = -1;
    r->rttvar = -1;
    r->min_to = min_us;
    r->max_to = max_us;
    r->timeout = initial_us;
}

/* RFC 6298 2.2-2.3, with nmap's constants (timing.cc adjust_timeouts2):
 * the first sample sets srtt = R, rttvar = max(R, 5 ms) capped at 2 s;
 * then srtt += (R - srtt)/8, rttvar += (|R - srtt| - rttvar)/4, and the
 * timeout is srtt + 4 rttvar, clamped to [min, max]. */
void pm_rtt_sample(pm_rtt *r, uint64_t rtt_us)
{
    int64_t R = (int64_t)(rtt_us > 8000000 ? 8000000 : rtt_us);
    if (r->srtt < 0) {
        r->srtt = R;
        r->rttvar = R < 5000 ? 5000 : (R > 2000000 ? 2000000 : R);
    } else {
        int64_t d = R - r->srtt;
        r->srtt += d / 8;
        r->rttvar += ((d < 0 ? -d : d) - r->rttvar) / 4;
    }
    int64_t to = r->srtt + 4 * r->rttvar;
    if (to < (int64_t)r->min_to) to = (int64_t)r->min_to;
    if (to > (int64_t)r->max_to) to = (int64_t)r->max_to;
    r->timeout = (uint64_t)to;
}
