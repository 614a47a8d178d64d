/* TCB extension records (pm_tcp_ext): a fixed pool the caller hands the
 * stack, a record taken when a connection starts to reassemble, recover
 * or arm a tail loss probe, and given back at the end of the entry point
 * that ends the last of them (or the connection). FreeBSD bounds the same
 * state host-wide: SACK holes by net.inet.tcp.sack.globalmaxholes
 * (tcp_sackhole_alloc fails, tcps_sack_sboverflow), queued out-of-order
 * segments by net.inet.tcp.reass.maxsegments. */
#include <string.h>

#include "tcp/tcp_internal.h"

/* A free record holds the next free one (+ 1, 0: none) in its first bytes. */
static uint32_t ext_next(const pm_tcp_stack *st, uint32_t i)
{
    uint32_t next;
    memcpy(&next, &st->ext[i], sizeof next);
    return next;
}

static void ext_link(pm_tcp_stack *st, uint32_t i, uint32_t next)
{
    memcpy(&st->ext[i], &next, sizeof next);
}

void pm_tcp_stack_set_ext(pm_tcp_stack *st, pm_tcp_ext *pool, uint32_t n)
{
    if (!pool || n == UINT32_MAX) n = 0;
    st->ext = pool;
    st->ext_cap = n;
    st->ext_free = n ? 1 : 0;
    for (uint32_t i = 0; i < n; i++) ext_link(st, i, i + 1 < n ? i + 2 : 0);
    st->stats.ext_in_use = 0;
}

pm_tcp_ext *tcp_ext_get(pm_tcp_stack *st, pm_tcp *t)
{
    if (t->ext) return tcp_ext(st, t);
    if (!st->ext_free) {
        st->stats.ext_full++;
        return NULL;
    }
    uint32_t i = st->ext_free - 1;
    st->ext_free = ext_next(st, i);
    st->stats.ext_in_use++;
    pm_tcp_ext *x = &st->ext[i];
    memset(x, 0, sizeof *x);
    x->rec.high_rxt = x->rec.tlp_high = t->snd_una; /* unset */
    t->ext = i + 1;
    return x;
}

void pm_tcp_release(pm_tcp_stack *st, pm_tcp *t)
{
    uint32_t e = t->ext;
    t->ext = 0;
    if (!e || e > st->ext_cap) return; /* none (or not this stack's) */
    ext_link(st, e - 1, st->ext_free);
    st->ext_free = e;
    st->stats.ext_in_use--;
}

const pm_tcp_ext *pm_tcp_ext_of(const pm_tcp_stack *st, const pm_tcp *t)
{
    return tcp_ext(st, t);
}

void tcp_ext_trim(pm_tcp_stack *st, pm_tcp *t)
{
    pm_tcp_ext *x = tcp_ext(st, t);
    if (!x) return;
    bool live =
        t->state != PM_TCP_CLOSED && t->state != PM_TCP_LISTEN && t->state != PM_TCP_TIME_WAIT;
    if (live) {
        if (x->ooo[0].len) return;                              /* reassembling */
        if (t->timer == PM_TCP_TIMER_TLP) return;               /* a PTO armed */
        if ((t->flags & F_RECOVERY) && tcp_rec_sack(t)) return; /* SACK recovery */
        if (!tcp_rec_idle(st, t)) return; /* SACKed ranges kept, HighRxt or a probe out */
    }
    pm_tcp_release(st, t);
}
