/* Internals of pm_ehash, shared by ehash.c (the index and established
 * records), timewait.c (the TIME_WAIT FIFO) and laddr.c (local addresses).
 *
 * Layout (chosen by measurement, docs/demux.md):
 *   index    buckets of one cache line each: 10 slots of a 16-bit tag (from
 *            the keyed hash; 0 = empty) and a 32-bit reference, plus an
 *            overflow count. Linear probing over buckets; a lookup stops at
 *            the first bucket whose overflow count is 0.
 *   records  established: 32 bytes, in chunks of 1024 that never move;
 *            TIME_WAIT: 48 bytes in a FIFO ring of max_tw.
 *   laddr    local addresses are interned (a host has few): records keep a
 *            16-bit index instead of 16 bytes. */
#ifndef PM_DEMUX_EHASH_IMPL_H
#define PM_DEMUX_EHASH_IMPL_H

#include <stdint.h>

#include "base/siphash.h"
#include "portmux/demux.h"

#define DM_SLOTS      10
#define DM_OVF_STICKY 0xffff
#define DM_CHUNK_BITS 10
#define DM_CHUNK      (1u << DM_CHUNK_BITS)
#define DM_LADDR_MAX  65535u
#define DM_GROW_STEP  2 /* old buckets moved per modifying call */

typedef struct dm_bucket {
    _Alignas(64) uint16_t tag[DM_SLOTS];
    uint16_t ovf;   /* entries stored beyond this bucket whose probe passed it */
    uint16_t ofilt; /* their tags' filter bits (dm_tag_bit); 0 when ovf is */
    uint32_t ref[DM_SLOTS];
} dm_bucket;
_Static_assert(sizeof(dm_bucket) == 64, "one cache line");

typedef struct dm_index {
    dm_bucket *b;
    uint32_t nb;
} dm_index;

typedef struct dm_est {
    pm_ip faddr;
    uint16_t lidx, lport, fport;
    uint8_t proto, pad;
    uint32_t handle; /* or the next free record */
    uint32_t h32;    /* hash bits that choose the bucket, kept for the rehash */
} dm_est;
_Static_assert(sizeof(dm_est) == 32, "two records a cache line");

typedef struct dm_tw {
    pm_ip faddr;
    uint16_t lidx, lport, fport;
    uint8_t flags, wscale;
    uint32_t snd_nxt, rcv_nxt, rcv_wnd, ts_recent, ts_stamp;
    uint32_t expire; /* microseconds, modulo 2^32 (lifetimes < 2^31) */
} dm_tw;
_Static_assert(sizeof(dm_tw) == 48, "compact TIME_WAIT");
#define DM_TW_DEAD 0x80

typedef struct dm_laddr {
    pm_ip *ip;
    uint32_t *refs;  /* per index; a free index links the next free one */
    uint16_t *slots; /* open addressing: index + 1, 0 = empty */
    uint32_t cap, used, nslots, free_head;
} dm_laddr;

struct pm_ehash {
    _Alignas(16) uint8_t rk[8][16]; /* AES round keys (aes_hash.h) */
    int aes;                        /* hash with AES rounds, else SipHash-1-3 */
    pm_sipkey key;
    dm_index cur, old; /* old.b != NULL while growing */
    uint32_t mig;      /* next old bucket to move */
    uint64_t count;    /* index entries: established + TIME_WAIT */
    /* established records */
    dm_est **chunk;
    uint32_t nchunk, maxchunk, hwm, free_head, max_entries, est_count;
    /* external keys (pm_ehash_config.est_key): index refs are handles */
    const pm_tuple *(*est_key)(void *ctx, uint32_t handle);
    /* TIME_WAIT FIFO */
    dm_tw *tw;
    uint32_t tw_cap, tw_head, tw_len, tw_live, tw_timeout;
    uint64_t last_now; /* latest time seen, to widen 32-bit expiries */
    dm_laddr la;
    void (*tw_recycled)(void *ctx, const pm_tw_entry *e);
    void *ctx;
    pm_ehash_stats st;
    uint64_t bytes;
};

static inline uint32_t dm_fastrange(uint32_t h, uint32_t n)
{
    return (uint32_t)(((uint64_t)h * n) >> 32);
}

static inline uint16_t dm_tag(uint64_t h)
{
    uint16_t t = (uint16_t)h;
    return t ? t : 1;
}

/* A lookup that misses in bucket b goes on to the next one only when
 * some entry with the same filter bit passed b: most misses end at home. */
static inline uint16_t dm_tag_bit(uint16_t tag)
{
    return (uint16_t)(1u << (tag >> 12));
}

static inline int dm_passes(const dm_bucket *b, uint16_t tag)
{
    return b->ofilt & dm_tag_bit(tag);
}

static inline dm_est *dm_est_at(const pm_ehash *t, uint32_t i)
{
    return &t->chunk[i >> DM_CHUNK_BITS][i & (DM_CHUNK - 1)];
}

/* ehash.c */
void *dm_alloc(pm_ehash *t, size_t n);
void dm_free(pm_ehash *t, void *p, size_t n);
/* Finds the slot holding ref (tag known from hash h): bucket index in *ix. */
int dm_index_find_ref(pm_ehash *t, uint64_t h, uint32_t ref, dm_index **ix, uint32_t *b,
                      unsigned *slot);
void dm_index_erase(pm_ehash *t, dm_index *ix, uint64_t h, uint32_t b, unsigned slot);
uint64_t dm_tw_hash(const pm_ehash *t, const dm_tw *w);

/* laddr.c */
int dm_laddr_init(pm_ehash *t);
void dm_laddr_fini(pm_ehash *t);
int dm_laddr_get(pm_ehash *t, const pm_ip *ip); /* index with a reference, or -ENOSPC/-ENOMEM */
void dm_laddr_put(pm_ehash *t, uint32_t idx);

/* timewait.c */
/* At the limit, recycles the oldest entry (or reclaims a dead slot). */
void dm_tw_make_room(pm_ehash *t);
/* Appends a slot at the tail, expiring at now + timeout; needs room. */
uint32_t dm_tw_push(pm_ehash *t, uint64_t now);

#endif
