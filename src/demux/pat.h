/* The port-address table behind the listener and UDP tables: bound sockets
 * grouped by (local port, local address), as Linux's lhash2 and udp hash2
 * are. A lookup examines the slot for the packet's destination address,
 * then the wildcard slots; the scoring is the caller's (lhash.c, udptab.c). */
#ifndef PM_DEMUX_PAT_H
#define PM_DEMUX_PAT_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/siphash.h"
#include "portmux/demux.h"

typedef struct dm_pslot {
    pm_ip laddr;
    uint16_t lport;
    uint32_t n, cap;
    pm_demux_sock *v; /* in Linux's chain order (dm_pat_add) */
    uint64_t *seq;    /* when each was added (dm_pat.seq) */
    struct dm_pslot *next;
} dm_pslot;

typedef struct dm_pat {
    pm_sipkey key;
    dm_pslot **heads;
    uint32_t nheads; /* a power of two */
    size_t nslots, count;
    uint64_t seq; /* additions so far */
} dm_pat;

/* A table object of size bytes whose first member is a dm_pat (pm_lhash,
 * pm_udptab), zeroed; NULL when out of memory. dm_pat_free frees it. */
void *dm_pat_new(size_t size, const uint64_t key[2]);
void dm_pat_free(dm_pat *p);
const dm_pslot *dm_pat_find(const dm_pat *p, const pm_ip *laddr, uint16_t lport);
int dm_pat_add(dm_pat *p, const pm_demux_sock *s); /* 0 or -ENOMEM */
int dm_pat_del(dm_pat *p, const pm_demux_sock *s); /* 0 or -ENOENT */
/* The slots a packet to (laddr, lport) may match, most specific first:
 * the exact address, then the wildcards (IPv4 packets: 0.0.0.0 and ::;
 * IPv6: ::). Returns how many were written to out[3] (missing ones are
 * skipped); *nexact is 1 when out[0] is the exact slot. */
int dm_pat_candidates(const dm_pat *p, const pm_ip *laddr, uint16_t lport, const dm_pslot *out[3],
                      int *nexact);
/* A walk over up to two slots in the order of Linux's single chain for
 * them: IPv4 packets meet the 0.0.0.0 and :: (and ::ffff:0.0.0.0) sockets
 * in one lhash2 / hash2 chain, the wildcard hash being the same
 * (ipv6_portaddr_hash() of :: equals ipv4_portaddr_hash() of 0). Head
 * entries (newest first), then tail ones (AF_INET6 SO_REUSEPORT, oldest
 * first), as dm_pat_add orders one slot. */
typedef struct dm_walk {
    const dm_pslot *a, *b;
    uint32_t i, j;
} dm_walk;

/* Pass 0 walks the exact address's chain (cand[0]), pass 1 the wildcard
 * chains after it (dm_pat_candidates' order); false: nothing to walk. */
static inline bool dm_walk_pass(dm_walk *w, int pass, const dm_pslot *const *cand, int n,
                                int nexact)
{
    *w = (dm_walk){NULL, NULL, 0, 0};
    if (pass == 0) {
        w->a = nexact ? cand[0] : NULL;
    } else {
        w->a = nexact < n ? cand[nexact] : NULL;
        w->b = nexact + 1 < n ? cand[nexact + 1] : NULL;
    }
    return w->a != NULL;
}

static inline int dm_walk_tail(const pm_demux_sock *s)
{
    return s->family == PM_AF_INET6 && s->reuseport;
}

static inline const pm_demux_sock *dm_walk_next(dm_walk *w)
{
    const dm_pslot *a = w->a, *b = w->b;
    int ha = a && w->i < a->n, hb = b && w->j < b->n;
    if (ha && hb) {
        const pm_demux_sock *x = &a->v[w->i], *y = &b->v[w->j];
        int tx = dm_walk_tail(x), ty = dm_walk_tail(y);
        uint64_t sx = a->seq[w->i], sy = b->seq[w->j];
        /* is y before x in the chain? */
        if (ty < tx || (ty == tx && (tx ? sy < sx : sy > sx))) ha = 0;
    }
    if (ha) return &a->v[w->i++];
    if (hb) return &b->v[w->j++];
    return NULL;
}

/* A socket description that makes sense: 0 or -EINVAL. */
int dm_sock_valid(const pm_demux_sock *s);
/* Same binding: what SO_REUSEPORT groups by (Linux: inet_reuseport_add_sock). */
int dm_same_binding(const pm_demux_sock *a, const pm_demux_sock *b);
/* Same binding, peer and handle: the entry remove() names. */
int dm_same_entry(const pm_demux_sock *a, const pm_demux_sock *b);
/* A member of n by the keyed 4-tuple hash, so one flow keeps its member. */
uint32_t dm_reuseport_pick(const pm_sipkey *key, const pm_tuple *k, uint32_t n);

#endif
