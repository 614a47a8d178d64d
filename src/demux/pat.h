/* The port-address table behind the listener and UDP tables: bound sockets
 * grouped by (local port, local address), as Linux's lhash2 and udp hash2
 * are. A lookup examines the slot for the packet's destination address,
 * then the wildcard slots; the scoring is the caller's (lhash.c, udptab.c). */
#ifndef PM_DEMUX_PAT_H
#define PM_DEMUX_PAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/siphash.h"
#include "portmux/demux.h"

typedef struct dm_pslot {
    pm_ip laddr;
    uint16_t lport;
    uint32_t n, cap;
    pm_demux_sock *v; /* in insertion order */
    struct dm_pslot *next;
} dm_pslot;

typedef struct dm_pat {
    pm_sipkey key;
    dm_pslot **heads;
    uint32_t nheads; /* a power of two */
    size_t nslots, count;
} dm_pat;

int dm_pat_init(dm_pat *p, const uint64_t key[2]);
void dm_pat_fini(dm_pat *p);
const dm_pslot *dm_pat_find(const dm_pat *p, const pm_ip *laddr, uint16_t lport);
int dm_pat_add(dm_pat *p, const pm_demux_sock *s); /* 0 or -ENOMEM */
int dm_pat_del(dm_pat *p, const pm_demux_sock *s); /* 0 or -ENOENT */
/* The slots a packet to (laddr, lport) may match, most specific first:
 * the exact address, then the wildcards (IPv4 packets: 0.0.0.0 and ::;
 * IPv6: ::). Returns how many were written to out[3] (missing ones are
 * skipped); *nexact is 1 when out[0] is the exact slot. */
int dm_pat_candidates(const dm_pat *p, const pm_ip *laddr, uint16_t lport, const dm_pslot *out[3],
                      int *nexact);
/* A socket description that makes sense: 0 or -EINVAL. */
int dm_sock_valid(const pm_demux_sock *s);
/* Same binding: what SO_REUSEPORT groups by (Linux: inet_reuseport_add_sock). */
int dm_same_binding(const pm_demux_sock *a, const pm_demux_sock *b);
/* Same binding, peer and handle: the entry remove() names. */
int dm_same_entry(const pm_demux_sock *a, const pm_demux_sock *b);
/* A member of n by the keyed 4-tuple hash, so one flow keeps its member. */
uint32_t dm_reuseport_pick(const pm_sipkey *key, const pm_tuple *k, uint32_t n);

#endif
