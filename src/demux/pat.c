/* Bound sockets by (local port, local address); see pat.h. */
#include "demux/pat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "demux/tuple_hash.h"

static uint32_t slot_hash(const dm_pat *p, const pm_ip *laddr, uint16_t lport)
{
    uint64_t m[3] = {dm_le64(laddr->b), dm_le64(laddr->b + 8), lport};
    return (uint32_t)dm_sip13_words(&p->key, m, 3);
}

void *dm_pat_new(size_t size, const uint64_t key[2])
{
    dm_pat *p = calloc(1, size);
    if (!p) return NULL;
    p->key.k0 = key[0];
    p->key.k1 = key[1];
    p->nheads = 64;
    p->heads = calloc(p->nheads, sizeof *p->heads);
    if (!p->heads) {
        free(p);
        return NULL;
    }
    return p;
}

void dm_pat_free(dm_pat *p)
{
    if (!p) return;
    for (uint32_t i = 0; i < p->nheads; i++) {
        for (dm_pslot *s = p->heads[i], *nx; s; s = nx) {
            nx = s->next;
            free(s->v);
            free(s->seq);
            free(s);
        }
    }
    free(p->heads);
    free(p);
}

const dm_pslot *dm_pat_find(const dm_pat *p, const pm_ip *laddr, uint16_t lport)
{
    for (const dm_pslot *s = p->heads[slot_hash(p, laddr, lport) & (p->nheads - 1)]; s; s = s->next)
        if (s->lport == lport && pm_ip_eq(&s->laddr, laddr)) return s;
    return NULL;
}

/* Doubles the heads when slots outnumber them: binds and closes, never
 * packets, pay for it. */
static void maybe_grow(dm_pat *p)
{
    if (p->nslots <= p->nheads || p->nheads >= (1u << 30)) return;
    uint32_t nh = p->nheads * 2;
    dm_pslot **heads = calloc(nh, sizeof *heads);
    if (!heads) return; /* longer chains, still correct */
    for (uint32_t i = 0; i < p->nheads; i++) {
        for (dm_pslot *s = p->heads[i], *nx; s; s = nx) {
            nx = s->next;
            uint32_t h = slot_hash(p, &s->laddr, s->lport) & (nh - 1);
            s->next = heads[h];
            heads[h] = s;
        }
    }
    free(p->heads);
    p->heads = heads;
    p->nheads = nh;
}

int dm_pat_add(dm_pat *p, const pm_demux_sock *sk)
{
    dm_pslot *s = (dm_pslot *)dm_pat_find(p, &sk->laddr, sk->lport);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return -ENOMEM;
        s->laddr = sk->laddr;
        s->lport = sk->lport;
        uint32_t h = slot_hash(p, &sk->laddr, sk->lport) & (p->nheads - 1);
        s->next = p->heads[h];
        p->heads[h] = s;
        p->nslots++;
        maybe_grow(p);
    }
    if (s->n == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 2;
        pm_demux_sock *v = realloc(s->v, nc * sizeof *v);
        if (!v) return -ENOMEM; /* an empty new slot stays: harmless */
        s->v = v;
        uint64_t *seq = realloc(s->seq, nc * sizeof *seq);
        if (!seq) return -ENOMEM;
        s->seq = seq;
        s->cap = nc;
    }
    /* Linux's chain order, which lookups walk taking the first of equal
     * scores: a socket goes to the head, so the newest of equal bindings
     * wins, except an AF_INET6 SO_REUSEPORT one, which goes to the tail
     * (Linux: __inet_hash() and udp_lib_get_port(), so that IPv4 groups
     * are met first). seq orders entries of the two wildcard slots, which
     * Linux keeps in one chain (dm_walk). */
    uint32_t at = s->n;
    if (!(sk->family == PM_AF_INET6 && sk->reuseport)) {
        memmove(&s->v[1], &s->v[0], s->n * sizeof *s->v);
        memmove(&s->seq[1], &s->seq[0], s->n * sizeof *s->seq);
        at = 0;
    }
    s->v[at] = *sk;
    s->seq[at] = ++p->seq;
    s->n++;
    p->count++;
    return 0;
}

int dm_pat_del(dm_pat *p, const pm_demux_sock *sk)
{
    uint32_t h = slot_hash(p, &sk->laddr, sk->lport) & (p->nheads - 1);
    for (dm_pslot **pp = &p->heads[h], *s; (s = *pp) != NULL; pp = &s->next) {
        if (s->lport != sk->lport || !pm_ip_eq(&s->laddr, &sk->laddr)) continue;
        for (uint32_t i = 0; i < s->n; i++) {
            if (!dm_same_entry(&s->v[i], sk)) continue;
            /* Keep the order: reuseport members keep their positions. */
            memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
            memmove(&s->seq[i], &s->seq[i + 1], (s->n - i - 1) * sizeof *s->seq);
            s->n--;
            p->count--;
            if (!s->n) {
                *pp = s->next;
                free(s->v);
                free(s->seq);
                free(s);
                p->nslots--;
            }
            return 0;
        }
        return -ENOENT;
    }
    return -ENOENT;
}

int dm_pat_candidates(const dm_pat *p, const pm_ip *laddr, uint16_t lport, const dm_pslot *out[3],
                      int *nexact)
{
    int n = 0;
    *nexact = 0;
    if (!pm_ip_is_any(laddr) && (out[n] = dm_pat_find(p, laddr, lport)) != NULL) {
        n++;
        *nexact = 1;
    }
    if (dm_is_v4(laddr) && (out[n] = dm_pat_find(p, &pm_ip_any4, lport)) != NULL) n++;
    if ((out[n] = dm_pat_find(p, &pm_ip_any6, lport)) != NULL) n++;
    return n;
}

int dm_sock_valid(const pm_demux_sock *s)
{
    if (s->family == PM_AF_INET) {
        if (!dm_is_v4(&s->laddr) || s->v6only) return -EINVAL;
        if (!pm_ip_is_any(&s->faddr) && !dm_is_v4(&s->faddr)) return -EINVAL;
        return 0;
    }
    if (s->family == PM_AF_INET6) {
        /* Linux: an IPV6_V6ONLY socket cannot bind a v4-mapped address. */
        if (s->v6only && dm_is_v4(&s->laddr) && !pm_ip_eq(&s->laddr, &pm_ip_any6)) return -EINVAL;
        return 0;
    }
    return -EINVAL;
}

int dm_same_binding(const pm_demux_sock *a, const pm_demux_sock *b)
{
    return a->family == b->family && a->lport == b->lport && a->v6only == b->v6only &&
           a->ifindex == b->ifindex && pm_ip_eq(&a->laddr, &b->laddr);
}

int dm_same_entry(const pm_demux_sock *a, const pm_demux_sock *b)
{
    return dm_same_binding(a, b) && a->handle == b->handle && a->fport == b->fport &&
           pm_ip_eq(&a->faddr, &b->faddr);
}

uint32_t dm_reuseport_pick(const pm_sipkey *key, const pm_tuple *k, uint32_t n)
{
    /* Linux: reuseport_select_sock() scales inet_ehashfn() by the count. */
    return dm_fastrange_u32((uint32_t)(dm_hash_tuple(key, k) >> 32), n);
}
