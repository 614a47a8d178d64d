/* TCP listeners by (port, local address), most specific first, as Linux's
 * __inet_lookup_listener() walks lhash2: the slot of the exact destination
 * address, and only when it yields nothing, the wildcard slots. Within a
 * pass the highest compute_score() wins; an SO_REUSEPORT group then picks
 * a member by the keyed 4-tuple hash. */
#include <errno.h>
#include <stdlib.h>

#include "demux/pat.h"
#include "demux/tuple_hash.h"

struct pm_lhash {
    dm_pat pat; /* first: dm_pat_new/dm_pat_free */
};

int pm_lhash_create(pm_lhash **out, const uint64_t key[2])
{
    *out = dm_pat_new(sizeof **out, key);
    return *out ? 0 : -ENOMEM;
}

void pm_lhash_destroy(pm_lhash *t)
{
    if (t) dm_pat_free(&t->pat);
}

int pm_lhash_insert(pm_lhash *t, const pm_demux_sock *s)
{
    if (dm_sock_valid(s) || !pm_ip_is_any(&s->faddr) || s->fport) return -EINVAL;
    const dm_pslot *sl = dm_pat_find(&t->pat, &s->laddr, s->lport);
    for (uint32_t i = 0; sl && i < sl->n; i++) {
        if (sl->v[i].handle == s->handle) return -EEXIST;
        /* The bind table decides conflicts; this only refuses two
         * listeners that could not be told apart. */
        if (dm_same_binding(&sl->v[i], s) && !(sl->v[i].reuseport && s->reuseport))
            return -EADDRINUSE;
    }
    return dm_pat_add(&t->pat, s);
}

int pm_lhash_remove(pm_lhash *t, const pm_demux_sock *s)
{
    return dm_pat_del(&t->pat, s);
}

size_t pm_lhash_count(const pm_lhash *t)
{
    return t->pat.count;
}

/* Linux: compute_score() (IPv4) and inet6's compute_score(): -1 when the
 * listener cannot take the segment; higher is more specific. The address
 * already matched (the slot). */
static int score(const pm_demux_sock *s, int v4, uint32_t ifindex)
{
    if (v4) {
        if (s->family == PM_AF_INET6 && s->v6only) return -1; /* ipv6_only_sock() */
    } else if (s->family != PM_AF_INET6) {
        return -1;
    }
    if (s->ifindex && s->ifindex != ifindex) return -1; /* inet_sk_bound_dev_eq() */
    int sc = s->ifindex ? 2 : 1;
    if (v4 && s->family == PM_AF_INET) sc++; /* an IPv4 socket beats a dual-stack one */
    return sc;
}

/* Linux: lookup_reuseport() -> reuseport_select_sock(): the member of s's
 * group chosen by the 4-tuple hash. */
static uint32_t group_pick(const pm_lhash *t, const pm_demux_sock *s, const pm_tuple *k)
{
    const dm_pslot *sl = dm_pat_find(&t->pat, &s->laddr, s->lport);
    uint32_t members = 0;
    for (uint32_t i = 0; i < sl->n; i++)
        members += sl->v[i].reuseport && dm_same_binding(&sl->v[i], s);
    uint32_t pick = dm_reuseport_pick(&t->pat.key, k, members);
    for (uint32_t i = 0; i < sl->n; i++)
        if (sl->v[i].reuseport && dm_same_binding(&sl->v[i], s) && pick-- == 0)
            return sl->v[i].handle;
    return s->handle;
}

uint32_t pm_lhash_lookup(const pm_lhash *t, const pm_tuple *k, uint32_t ifindex)
{
    const dm_pslot *cand[3];
    int nexact, n = dm_pat_candidates(&t->pat, &k->laddr, k->lport, cand, &nexact);
    int v4 = dm_is_v4(&k->laddr);
    const pm_demux_sock *best = NULL;
    int hi = -1;
    /* The exact address's chain, and only when it yields nothing the
     * wildcard chain; the first of the highest scores wins. */
    for (int pass = 0; pass < 2 && !best; pass++) {
        dm_walk w;
        if (!dm_walk_pass(&w, pass, cand, n, nexact)) continue;
        for (const pm_demux_sock *s; (s = dm_walk_next(&w)) != NULL;) {
            int sc = score(s, v4, ifindex);
            if (sc <= hi) continue;
            /* Linux: inet_lhash2_lookup() returns the first SO_REUSEPORT
             * group that beats the score so far, even when a socket later
             * in the chain would score higher (e.g. one bound to the
             * device behind an unbound group). */
            if (s->reuseport) return group_pick(t, s, k);
            hi = sc;
            best = s;
        }
    }
    return best ? best->handle : PM_DEMUX_NONE;
}
