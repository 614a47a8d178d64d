/* One timing wheel per host (Varghese & Lauck's hashed wheel, as Linux's
 * timer wheel and FreeBSD's callout): 4096 slots of 1.024 ms. Each TCB
 * sits in the slot of its one deadline (pm_tcp_next_deadline, read from the
 * TCB: the socket keeps only the slot number); entries a
 * lap or more ahead stay in their slot until their time comes, so firing
 * checks the deadline itself and is exact to the microsecond. */
#include <string.h>

#include "host/host_internal.h"

static uint32_t slot_of(uint64_t at)
{
    return (uint32_t)(at >> WHEEL_SHIFT) & (WHEEL_SLOTS - 1);
}

/* The deadline is the TCB's own (the wheel keeps only the slot): the host
 * re-arms after every TCB event, so the slot always matches it. */
static uint64_t deadline_of(const pm_host *h, uint32_t i)
{
    return pm_tcp_next_deadline(&h->tcbs[h->socks[i].tcb]);
}

void wheel_init(wheel *w, uint64_t now)
{
    for (uint32_t i = 0; i < WHEEL_SLOTS; i++) w->head[i] = NIL;
    memset(w->bits, 0, sizeof w->bits);
    w->cur_tick = now >> WHEEL_SHIFT;
    w->count = 0;
}

void wheel_del(pm_host *h, hsock *s)
{
    if (!(s->f & SF_IN_WHEEL)) return;
    wheel *w = &h->wh;
    uint32_t sl = s->f >> SF_WSLOT_SHIFT;
    if (s->wprev != NIL)
        h->socks[s->wprev].wnext = s->wnext;
    else
        w->head[sl] = s->wnext;
    if (s->wnext != NIL) h->socks[s->wnext].wprev = s->wprev;
    if (w->head[sl] == NIL) w->bits[sl / 64] &= ~(1ull << (sl % 64));
    s->f &= ~(uint32_t)SF_IN_WHEEL;
    w->count--;
}

void wheel_set(pm_host *h, hsock *s, uint64_t at)
{
    wheel *w = &h->wh;
    /* A deadline already past goes to the current slot. */
    if (at != UINT64_MAX && (at >> WHEEL_SHIFT) < w->cur_tick) at = w->cur_tick << WHEEL_SHIFT;
    if ((s->f & SF_IN_WHEEL) && at != UINT64_MAX && (s->f >> SF_WSLOT_SHIFT) == slot_of(at)) return;
    wheel_del(h, s);
    if (at == UINT64_MAX) return;
    uint32_t sl = slot_of(at), i = sk_index(h, s);
    s->f = (s->f & ((1u << SF_WSLOT_SHIFT) - 1)) | sl << SF_WSLOT_SHIFT;
    s->wprev = NIL;
    s->wnext = w->head[sl];
    if (s->wnext != NIL) h->socks[s->wnext].wprev = i;
    w->head[sl] = i;
    w->bits[sl / 64] |= 1ull << (sl % 64);
    s->f |= SF_IN_WHEEL;
    w->count++;
}

/* The earliest deadline: slots are visited in time order from the current
 * tick; the first slot holding an entry due within this lap has it. */
uint64_t wheel_next(const pm_host *h)
{
    const wheel *w = &h->wh;
    if (!w->count) return UINT64_MAX;
    uint64_t lap_end = (w->cur_tick + WHEEL_SLOTS) << WHEEL_SHIFT;
    for (uint32_t k = 0; k < WHEEL_SLOTS;) {
        uint32_t sl = (uint32_t)((w->cur_tick + k) & (WHEEL_SLOTS - 1));
        uint64_t word = w->bits[sl / 64] >> (sl % 64);
        if (!word) {
            k += 64 - sl % 64;
            continue;
        }
        unsigned skip = (unsigned)__builtin_ctzll(word);
        k += skip;
        if (k >= WHEEL_SLOTS) break;
        sl = (uint32_t)((w->cur_tick + k) & (WHEEL_SLOTS - 1));
        uint64_t best = UINT64_MAX;
        for (uint32_t i = w->head[sl]; i != NIL; i = h->socks[i].wnext) {
            uint64_t d = deadline_of(h, i);
            if (d < lap_end && d < best) best = d;
        }
        if (best != UINT64_MAX) return best;
        k++;
    }
    /* Everything is a lap or more away: scan it all (rare). */
    uint64_t best = UINT64_MAX;
    for (uint32_t sl = 0; sl < WHEEL_SLOTS; sl++)
        for (uint32_t i = w->head[sl]; i != NIL; i = h->socks[i].wnext)
            if (deadline_of(h, i) < best) best = deadline_of(h, i);
    return best;
}

static void fire(pm_host *h, hsock *s, uint64_t now)
{
    wheel_del(h, s);
    pm_tcp *tcb = sk_tcb(h, s);
    if (!tcb) return;
    h->st.timers_fired++;
    unsigned ev = pm_tcp_timer(&h->tcp, tcb, now);
    host_tcp_after(h, s, ev);
}

static void run_slot(pm_host *h, uint32_t sl, uint64_t now)
{
    /* Fired entries may re-arm into this slot: bound the pass. */
    uint32_t budget = h->wh.count + 1;
    uint32_t i = h->wh.head[sl];
    while (i != NIL && budget--) {
        hsock *s = &h->socks[i];
        uint32_t next = s->wnext;
        if (deadline_of(h, i) <= now) {
            fire(h, s, now);
            next = h->wh.head[sl]; /* the list may have changed: restart */
        }
        i = next;
        while (i != NIL && deadline_of(h, i) > now) i = h->socks[i].wnext;
    }
}

void wheel_run(pm_host *h, uint64_t now)
{
    wheel *w = &h->wh;
    uint64_t tick = now >> WHEEL_SHIFT;
    if (tick < w->cur_tick) return;
    uint64_t from = w->cur_tick;
    if (tick - from >= WHEEL_SLOTS) from = tick - WHEEL_SLOTS + 1;
    for (uint64_t t = from; t <= tick; t++) {
        uint32_t sl = (uint32_t)(t & (WHEEL_SLOTS - 1));
        if (w->bits[sl / 64] & (1ull << (sl % 64))) run_slot(h, sl, now);
    }
    w->cur_tick = tick;
}
