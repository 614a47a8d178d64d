/* Interned local addresses. A host owns few addresses, so records keep a
 * 16-bit index into this table instead of 16 bytes; the lookup compares
 * the packet's destination with ip[index], which stays in cache. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "demux/ehash_impl.h"
#include "demux/tuple_hash.h"

static uint32_t slot_of(const pm_ehash *t, const pm_ip *ip, uint32_t nslots)
{
    uint64_t m[2] = {dm_le64(ip->b), dm_le64(ip->b + 8)};
    return (uint32_t)dm_sip13_words(&t->key, m, 2) & (nslots - 1);
}

static int grow(pm_ehash *t)
{
    dm_laddr *la = &t->la;
    uint32_t ncap = la->cap ? la->cap * 2 : 16;
    if (ncap > DM_LADDR_MAX) ncap = DM_LADDR_MAX;
    if (ncap <= la->cap) return -ENOSPC;
    uint32_t nslots = 1;
    while (nslots < ncap * 2) nslots <<= 1;
    pm_ip *ip = dm_alloc(t, ncap * sizeof *ip);
    uint32_t *refs = dm_alloc(t, ncap * sizeof *refs);
    uint16_t *slots = dm_alloc(t, nslots * sizeof *slots);
    if (!ip || !refs || !slots) {
        dm_free(t, ip, ncap * sizeof *ip);
        dm_free(t, refs, ncap * sizeof *refs);
        dm_free(t, slots, nslots * sizeof *slots);
        return -ENOMEM;
    }
    if (la->cap) {
        memcpy(ip, la->ip, la->cap * sizeof *ip);
        memcpy(refs, la->refs, la->cap * sizeof *refs);
    }
    for (uint32_t i = 0; i < la->used; i++) {
        if (!refs[i]) continue;
        uint32_t s = slot_of(t, &ip[i], nslots);
        while (slots[s]) s = (s + 1) & (nslots - 1);
        slots[s] = (uint16_t)(i + 1);
    }
    dm_free(t, la->ip, la->cap * sizeof *la->ip);
    dm_free(t, la->refs, la->cap * sizeof *la->refs);
    dm_free(t, la->slots, la->nslots * sizeof *la->slots);
    la->ip = ip;
    la->refs = refs;
    la->slots = slots;
    la->cap = ncap;
    la->nslots = nslots;
    return 0;
}

int dm_laddr_init(pm_ehash *t)
{
    memset(&t->la, 0, sizeof t->la);
    t->la.free_head = UINT32_MAX;
    return grow(t);
}

void dm_laddr_fini(pm_ehash *t)
{
    dm_laddr *la = &t->la;
    dm_free(t, la->ip, la->cap * sizeof *la->ip);
    dm_free(t, la->refs, la->cap * sizeof *la->refs);
    dm_free(t, la->slots, la->nslots * sizeof *la->slots);
    memset(la, 0, sizeof *la);
}

int dm_laddr_get(pm_ehash *t, const pm_ip *ip)
{
    dm_laddr *la = &t->la;
    uint32_t s = slot_of(t, ip, la->nslots);
    for (; la->slots[s]; s = (s + 1) & (la->nslots - 1)) {
        uint32_t i = la->slots[s] - 1u;
        if (pm_ip_eq(&la->ip[i], ip)) {
            la->refs[i]++;
            return (int)i;
        }
    }
    uint32_t i;
    if (la->free_head != UINT32_MAX) {
        i = la->free_head;
        la->free_head = la->refs[i];
    } else {
        if (la->used == la->cap) {
            int err = grow(t);
            if (err) return err;
            s = slot_of(t, ip, la->nslots);
            while (la->slots[s]) s = (s + 1) & (la->nslots - 1);
        }
        i = la->used++;
    }
    la->ip[i] = *ip;
    la->refs[i] = 1;
    la->slots[s] = (uint16_t)(i + 1);
    return (int)i;
}

void dm_laddr_put(pm_ehash *t, uint32_t idx)
{
    dm_laddr *la = &t->la;
    if (--la->refs[idx]) return;
    /* Remove from the open-addressing set by backward shift (Knuth 6.4 R). */
    uint32_t mask = la->nslots - 1, s = slot_of(t, &la->ip[idx], la->nslots);
    while (la->slots[s] != idx + 1) s = (s + 1) & mask;
    for (uint32_t j = (s + 1) & mask; la->slots[j]; j = (j + 1) & mask) {
        uint32_t home = slot_of(t, &la->ip[la->slots[j] - 1u], la->nslots);
        /* j's entry may move to s when its home is not in (s, j]. */
        if (((j - home) & mask) >= ((j - s) & mask)) {
            la->slots[s] = la->slots[j];
            s = j;
        }
    }
    la->slots[s] = 0;
    la->refs[idx] = la->free_head;
    la->free_head = idx;
}
