/* UDP sockets by (port, local address). Unicast: the slot of the exact
 * destination address, then (only if it yields nothing) the wildcard
 * slots, as Linux's __udp4_lib_lookup() runs udp4_lib_lookup2() twice;
 * within a pass the highest compute_score() wins, so a connected socket
 * (4-tuple) beats an unconnected one. Multicast and broadcast go to every
 * socket __udp_is_mcast_sock() accepts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "demux/pat.h"
#include "demux/tuple_hash.h"

struct pm_udptab {
    dm_pat pat;
};

int pm_udptab_create(pm_udptab **out, const uint64_t key[2])
{
    pm_udptab *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) return -ENOMEM;
    if (dm_pat_init(&t->pat, key)) {
        free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

void pm_udptab_destroy(pm_udptab *t)
{
    if (!t) return;
    dm_pat_fini(&t->pat);
    free(t);
}

int pm_udptab_insert(pm_udptab *t, const pm_demux_sock *s)
{
    if (dm_sock_valid(s)) return -EINVAL;
    const dm_pslot *sl = dm_pat_find(&t->pat, &s->laddr, s->lport);
    for (uint32_t i = 0; sl && i < sl->n; i++)
        if (sl->v[i].handle == s->handle && dm_same_entry(&sl->v[i], s)) return -EEXIST;
    return dm_pat_add(&t->pat, s);
}

int pm_udptab_remove(pm_udptab *t, const pm_demux_sock *s)
{
    return dm_pat_del(&t->pat, s);
}

size_t pm_udptab_count(const pm_udptab *t)
{
    return t->pat.count;
}

static int connected(const pm_demux_sock *s)
{
    return !pm_ip_is_any(&s->faddr) || s->fport;
}

/* Linux: udp4's and udp6's compute_score(). The local address already
 * matched (the slot). */
static int score(const pm_demux_sock *s, const pm_tuple *k, int v4, uint32_t ifindex)
{
    int sc;
    if (v4) {
        if (s->family == PM_AF_INET6 && s->v6only) return -1;
        sc = s->family == PM_AF_INET ? 2 : 1;
        if (!pm_ip_is_any(&s->faddr)) {
            if (!pm_ip_eq(&s->faddr, &k->faddr)) return -1;
            sc += 4;
        }
        if (s->fport) {
            if (s->fport != k->fport) return -1;
            sc += 4;
        }
        if (s->ifindex) {
            if (s->ifindex != ifindex) return -1;
            sc += 4;
        }
        return sc;
    }
    if (s->family != PM_AF_INET6) return -1;
    sc = 0;
    if (s->fport) {
        if (s->fport != k->fport) return -1;
        sc++;
    }
    if (!pm_ip_is_any(&s->faddr)) {
        if (!pm_ip_eq(&s->faddr, &k->faddr)) return -1;
        sc++;
    }
    if (s->ifindex) {
        if (s->ifindex != ifindex) return -1;
        sc++;
    }
    return sc;
}

uint32_t pm_udptab_lookup(const pm_udptab *t, const pm_tuple *k, uint32_t ifindex)
{
    const dm_pslot *cand[3];
    int nexact, n = dm_pat_candidates(&t->pat, &k->laddr, k->lport, cand, &nexact);
    int v4 = dm_is_v4(&k->laddr);
    const pm_demux_sock *best = NULL;
    int hi = -1;
    for (int c = 0; c < n; c++) {
        if (c == nexact && best) break; /* the exact pass found one */
        for (uint32_t i = 0; i < cand[c]->n; i++) {
            int sc = score(&cand[c]->v[i], k, v4, ifindex);
            if (sc > hi) {
                hi = sc;
                best = &cand[c]->v[i];
            }
        }
    }
    if (!best) return PM_DEMUX_NONE;
    /* Connected sockets are not load-balanced (udp4_lib_lookup2: a socket
     * in TCP_ESTABLISHED is the result as it is). */
    if (!best->reuseport || connected(best)) return best->handle;
    const dm_pslot *sl = dm_pat_find(&t->pat, &best->laddr, best->lport);
    uint32_t members = 0;
    for (uint32_t i = 0; i < sl->n; i++)
        members += sl->v[i].reuseport && !connected(&sl->v[i]) && dm_same_binding(&sl->v[i], best);
    uint32_t pick = dm_reuseport_pick(&t->pat.key, k, members);
    for (uint32_t i = 0; i < sl->n; i++)
        if (sl->v[i].reuseport && !connected(&sl->v[i]) && dm_same_binding(&sl->v[i], best) &&
            pick-- == 0)
            return sl->v[i].handle;
    return best->handle;
}

/* Linux: __udp_is_mcast_sock() / __udp_v6_is_mcast_sock(). */
static int mcast_match(const pm_demux_sock *s, const pm_tuple *k, int v4, uint32_t ifindex)
{
    if (v4 ? (s->family == PM_AF_INET6 && s->v6only) : s->family != PM_AF_INET6) return 0;
    if (!pm_ip_is_any(&s->faddr) && !pm_ip_eq(&s->faddr, &k->faddr)) return 0;
    if (s->fport && s->fport != k->fport) return 0;
    if (s->ifindex && s->ifindex != ifindex) return 0;
    return 1;
}

void pm_udptab_mcast_begin(const pm_udptab *t, pm_udptab_iter *it, const pm_tuple *k,
                           uint32_t ifindex)
{
    (void)t;
    memset(it, 0, sizeof *it);
    it->k = *k;
    it->ifindex = ifindex;
}

bool pm_udptab_mcast_next(const pm_udptab *t, pm_udptab_iter *it, uint32_t *handle)
{
    const dm_pslot *cand[3];
    int nexact, n = dm_pat_candidates(&t->pat, &it->k.laddr, it->k.lport, cand, &nexact);
    int v4 = dm_is_v4(&it->k.laddr);
    (void)nexact;
    while ((int)it->pass < n) {
        const dm_pslot *sl = cand[it->pass];
        while (it->i < sl->n) {
            const pm_demux_sock *s = &sl->v[it->i++];
            if (mcast_match(s, &it->k, v4, it->ifindex)) {
                *handle = s->handle;
                return true;
            }
        }
        it->pass++;
        it->i = 0;
    }
    return false;
}
