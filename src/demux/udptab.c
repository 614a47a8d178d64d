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
    dm_pat pat; /* first: dm_pat_new/dm_pat_free */
};

int pm_udptab_create(pm_udptab **out, const uint64_t key[2])
{
    *out = dm_pat_new(sizeof **out, key);
    return *out ? 0 : -ENOMEM;
}

void pm_udptab_destroy(pm_udptab *t)
{
    if (t) dm_pat_free(&t->pat);
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

static int in_group(const pm_demux_sock *m, const pm_demux_sock *s)
{
    return m->reuseport && dm_same_binding(m, s);
}

/* Linux: reuseport_has_conns(), set when a member connect()s while the
 * group has others. Measured on 6.18: a socket that connected while alone
 * does not count for sockets that join later (they fall back to the early
 * return), so a connected member counts only if an unconnected one was
 * added before it connected (connect is remove + insert: its seq). */
static int group_has_conns(const pm_udptab *t, const pm_demux_sock *s)
{
    const dm_pslot *sl = dm_pat_find(&t->pat, &s->laddr, s->lport);
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < sl->n; i++)
        if (in_group(&sl->v[i], s) && !connected(&sl->v[i]) && sl->seq[i] < oldest)
            oldest = sl->seq[i];
    for (uint32_t i = 0; i < sl->n; i++)
        if (in_group(&sl->v[i], s) && connected(&sl->v[i]) && sl->seq[i] > oldest) return 1;
    return 0;
}

/* Linux: reuseport_select_sock(), which skips connected members. */
static uint32_t group_pick(const pm_udptab *t, const pm_demux_sock *s, const pm_tuple *k)
{
    const dm_pslot *sl = dm_pat_find(&t->pat, &s->laddr, s->lport);
    uint32_t members = 0;
    for (uint32_t i = 0; i < sl->n; i++) members += in_group(&sl->v[i], s) && !connected(&sl->v[i]);
    uint32_t pick = dm_reuseport_pick(&t->pat.key, k, members);
    for (uint32_t i = 0; i < sl->n; i++)
        if (in_group(&sl->v[i], s) && !connected(&sl->v[i]) && pick-- == 0) return sl->v[i].handle;
    return s->handle;
}

uint32_t pm_udptab_lookup(const pm_udptab *t, const pm_tuple *k, uint32_t ifindex)
{
    const dm_pslot *cand[3];
    int nexact, n = dm_pat_candidates(&t->pat, &k->laddr, k->lport, cand, &nexact);
    int v4 = dm_is_v4(&k->laddr);
    const pm_demux_sock *best = NULL;
    int hi = -1;
    /* Linux >= 6.13: udp4_lib_lookup4() / udp6_lib_lookup4() first look the
     * full 4-tuple up among connected sockets (hash4), where the socket
     * connected last wins whatever its family (udp_lib_hash4() adds at
     * the head); connected sockets always have a specific local address. */
    if (nexact) {
        const dm_pslot *sl = cand[0];
        uint64_t newest = 0;
        for (uint32_t i = 0; i < sl->n; i++) {
            const pm_demux_sock *s = &sl->v[i];
            if (pm_ip_is_any(&s->faddr) || !s->fport || score(s, k, v4, ifindex) < 0) continue;
            if (sl->seq[i] > newest) {
                newest = sl->seq[i];
                best = s;
            }
        }
        if (best) return best->handle;
    }
    /* The exact address's chain, and only when it yields nothing the
     * wildcard chain; the first of the highest scores wins. */
    for (int pass = 0; pass < 2 && !best; pass++) {
        dm_walk w;
        if (!dm_walk_pass(&w, pass, cand, n, nexact)) continue;
        for (const pm_demux_sock *s; (s = dm_walk_next(&w)) != NULL;) {
            int sc = score(s, k, v4, ifindex);
            if (sc <= hi) continue;
            hi = sc;
            best = s;
            /* Linux: udp4_lib_lookup2() returns the first SO_REUSEPORT
             * group that beats the score so far, unless the group has
             * connected members (reuseport_has_conns()): then it goes on
             * scoring. */
            if (s->reuseport && !connected(s) && !group_has_conns(t, s)) return group_pick(t, s, k);
        }
    }
    if (!best) return PM_DEMUX_NONE;
    /* Connected sockets are not load-balanced (udp4_lib_lookup2: a socket
     * in TCP_ESTABLISHED is the result as it is). */
    if (!best->reuseport || connected(best)) return best->handle;
    return group_pick(t, best, k);
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
