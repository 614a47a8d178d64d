#include "ports/portmap.h"

static uint64_t range_mask(unsigned word_base, unsigned lo, unsigned hi)
{
    /* bits of the word [word_base, word_base+63] that lie in [lo, hi] */
    uint64_t m = PM_PM_ALL;
    if (lo > word_base) m &= PM_PM_ALL << (lo - word_base);
    if (hi < word_base + 63) m &= PM_PM_ALL >> (word_base + 63 - hi);
    return m;
}

static uint64_t word_of(const pm_portmap *m, unsigned w)
{
    const uint64_t *b = m->blk[w >> 6];
    return b ? b[w & 63] : 0;
}

int pm_portmap_find_clear(const pm_portmap *m, const pm_portmap *m2, unsigned lo, unsigned hi,
                          uint64_t allow, uint64_t *steps)
{
    uint64_t n = 0;
    int found = -1;
    unsigned w = lo >> 6, wend = hi >> 6;
    int par = allow == PM_PM_EVEN ? 0 : allow == PM_PM_ODD ? 1 : -1;
    while (w <= wend) {
        unsigned blk = w >> 6;
        /* Words of this block worth looking at: not full in m nor in m2. */
        uint64_t cand = ~(par < 0 ? m->full[blk] : m->fullp[par][blk]);
        if (m2) cand &= ~(par < 0 ? m2->full[blk] : m2->fullp[par][blk]);
        cand &= PM_PM_ALL << (w & 63);
        if (blk == (wend >> 6)) cand &= PM_PM_ALL >> (63 - (wend & 63));
        n++;
        while (cand) {
            unsigned wi = (blk << 6) | (unsigned)__builtin_ctzll(cand);
            n++;
            cand &= cand - 1;
            uint64_t used = word_of(m, wi);
            if (m2) used |= word_of(m2, wi);
            uint64_t freeb = ~used & allow & range_mask(wi << 6, lo, hi);
            if (freeb) {
                found = (int)((wi << 6) | (unsigned)__builtin_ctzll(freeb));
                goto out;
            }
        }
        w = (blk + 1) << 6;
    }
out:
    if (steps) *steps += n;
    return found;
}

int pm_portmap_find_clear_from(const pm_portmap *m, const pm_portmap *m2, unsigned lo, unsigned hi,
                               unsigned start, uint64_t allow, uint64_t *steps)
{
    if (start < lo || start > hi) start = lo;
    int p = pm_portmap_find_clear(m, m2, start, hi, allow, steps);
    if (p < 0 && start > lo) p = pm_portmap_find_clear(m, m2, lo, start - 1, allow, steps);
    return p;
}

int pm_portmap_find_set(const pm_portmap *m, unsigned lo, unsigned hi)
{
    for (unsigned w = lo >> 6; w <= (hi >> 6); w++) {
        if (!m->blk[w >> 6]) {
            w |= 63; /* skip the empty block */
            continue;
        }
        uint64_t s = word_of(m, w) & range_mask(w << 6, lo, hi);
        if (s) return (int)((w << 6) | (unsigned)__builtin_ctzll(s));
    }
    return -1;
}

unsigned pm_portmap_count_range(const pm_portmap *m, unsigned lo, unsigned hi)
{
    unsigned n = 0;
    for (unsigned w = lo >> 6; w <= (hi >> 6); w++)
        n += (unsigned)__builtin_popcountll(word_of(m, w) & range_mask(w << 6, lo, hi));
    return n;
}
