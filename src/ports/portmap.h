/* A set of ports (65536 bits) in 16 blocks of 4096, with a summary of
 * full words per block, so that "the next clear port at or after x" costs
 * O(16 + words looked at) whatever the occupancy. Blocks may be NULL
 * (all clear), which keeps per-destination sets sparse. Internal to
 * src/ports. */
#ifndef PM_PORTS_PORTMAP_H
#define PM_PORTS_PORTMAP_H

#include <stdbool.h>
#include <stdint.h>

#define PM_PM_BLOCKS      16
#define PM_PM_BLOCK_BITS  4096
#define PM_PM_BLOCK_WORDS 64

typedef struct pm_portmap {
    uint64_t *blk[PM_PM_BLOCKS];     /* 64 words each, or NULL: all clear */
    uint64_t full[PM_PM_BLOCKS];     /* bit w: word w of the block is all ones */
    uint64_t fullp[2][PM_PM_BLOCKS]; /* the same for its even / odd ports */
    uint32_t count;                  /* bits set */
} pm_portmap;

/* Parity masks: bit i is port 64k+i. */
#define PM_PM_EVEN 0x5555555555555555ULL
#define PM_PM_ODD  0xaaaaaaaaaaaaaaaaULL
#define PM_PM_ALL  0xffffffffffffffffULL

static inline bool pm_portmap_test(const pm_portmap *m, unsigned port)
{
    const uint64_t *b = m->blk[port >> 12];
    return b && (b[(port >> 6) & 63] >> (port & 63)) & 1;
}

/* Set a bit; the block must exist. Returns false if it was set. */
static inline bool pm_portmap_set(pm_portmap *m, unsigned port)
{
    uint64_t *w = &m->blk[port >> 12][(port >> 6) & 63];
    uint64_t bit = 1ULL << (port & 63);
    if (*w & bit) return false;
    *w |= bit;
    uint64_t wb = 1ULL << ((port >> 6) & 63);
    if ((*w & PM_PM_EVEN) == PM_PM_EVEN) m->fullp[0][port >> 12] |= wb;
    if ((*w & PM_PM_ODD) == PM_PM_ODD) m->fullp[1][port >> 12] |= wb;
    if (*w == PM_PM_ALL) m->full[port >> 12] |= wb;
    m->count++;
    return true;
}

static inline bool pm_portmap_clear(pm_portmap *m, unsigned port)
{
    uint64_t *b = m->blk[port >> 12];
    if (!b) return false;
    uint64_t *w = &b[(port >> 6) & 63];
    uint64_t bit = 1ULL << (port & 63);
    if (!(*w & bit)) return false;
    *w &= ~bit;
    uint64_t wb = ~(1ULL << ((port >> 6) & 63));
    m->full[port >> 12] &= wb;
    m->fullp[port & 1][port >> 12] &= wb;
    m->count--;
    return true;
}

/* The first port p in [lo, hi] (lo <= hi) whose bit is clear in m and in
 * the optional second map m2, and set in allow (PM_PM_ALL, PM_PM_EVEN or
 * PM_PM_ODD); -1 if none. steps (may be NULL) grows by the blocks and
 * words looked at: the search's cost, free of timing noise. */
int pm_portmap_find_clear(const pm_portmap *m, const pm_portmap *m2, unsigned lo, unsigned hi,
                          uint64_t allow, uint64_t *steps);
/* Cyclic: first clear port from start through hi, then lo .. start-1. */
int pm_portmap_find_clear_from(const pm_portmap *m, const pm_portmap *m2, unsigned lo, unsigned hi,
                               unsigned start, uint64_t allow, uint64_t *steps);
/* The first set port in [lo, hi], or -1 (no summary: for fallbacks). */
int pm_portmap_find_set(const pm_portmap *m, unsigned lo, unsigned hi);
/* Ports in [lo, hi] that are set. */
unsigned pm_portmap_count_range(const pm_portmap *m, unsigned lo, unsigned hi);

#endif
