/* Two portmux hosts back to back in memory, for tests and benchmarks: a
 * wire with a delay, and optional loss, duplication and reordering (per
 * mille, from a seeded generator), driven in virtual time. Header-only. */
#ifndef PM_TEST_HOST_PAIR_H
#define PM_TEST_HOST_PAIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "portmux/host.h"
#include "portmux/socket.h"

#define HP_MS  1000ull
#define HP_SEC 1000000ull

typedef struct hp_pkt {
    uint64_t at;
    uint64_t order;
    uint16_t len;
    uint8_t to;
    uint8_t bytes[PM_HOST_MIN_OUT];
} hp_pkt;

typedef struct hp_pair {
    pm_host *h[2];
    pm_ip ip4[2], ip6[2];
    uint64_t now;
    pm_rng rng;
    unsigned loss, dup, reorder; /* per mille */
    uint64_t delay_us, reorder_us;
    hp_pkt *pool;
    uint32_t *heap; /* indexes into pool, min-heap by (at, order) */
    uint32_t *free;
    uint32_t cap, n, nfree;
    uint64_t seq;
    uint64_t delivered, dropped, duplicated, reordered, overflow;
} hp_pair;

static inline bool hp_less(const hp_pair *p, uint32_t a, uint32_t b)
{
    const hp_pkt *x = &p->pool[a], *y = &p->pool[b];
    return x->at != y->at ? x->at < y->at : x->order < y->order;
}

static inline void hp_push(hp_pair *p, uint8_t to, const uint8_t *b, int len, uint64_t at)
{
    if (!p->nfree) {
        p->overflow++;
        return;
    }
    uint32_t k = p->free[--p->nfree];
    hp_pkt *x = &p->pool[k];
    x->at = at;
    x->order = p->seq++;
    x->len = (uint16_t)len;
    x->to = to;
    memcpy(x->bytes, b, (size_t)len);
    uint32_t i = p->n++;
    p->heap[i] = k;
    while (i && hp_less(p, p->heap[i], p->heap[(i - 1) / 2])) {
        uint32_t t = p->heap[i];
        p->heap[i] = p->heap[(i - 1) / 2];
        p->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static inline uint32_t hp_pop(hp_pair *p)
{
    uint32_t top = p->heap[0];
    p->heap[0] = p->heap[--p->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < p->n && hp_less(p, p->heap[l], p->heap[m])) m = l;
        if (r < p->n && hp_less(p, p->heap[r], p->heap[m])) m = r;
        if (m == i) break;
        uint32_t t = p->heap[i];
        p->heap[i] = p->heap[m];
        p->heap[m] = t;
        i = m;
    }
    return top;
}

static inline void hp_config(pm_host_config *c, int side, pm_personality pers, uint32_t scale)
{
    pm_host_config_default(c, pers);
    c->seed = 0x1234 + (uint64_t)side;
    c->n_local = 2;
    c->local[0] = pm_ip4(0x0a000001u + (uint32_t)side);
    memset(&c->local[1], 0, sizeof c->local[1]);
    c->local[1].b[0] = 0xfd;
    c->local[1].b[15] = (uint8_t)(1 + side);
    if (scale) {
        c->max_sockets = scale;
        c->max_tcbs = scale;
    }
}

static inline int hp_init(hp_pair *p, pm_personality pers, uint32_t scale, uint32_t wire_cap)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 2; i++) {
        pm_host_config c;
        hp_config(&c, i, pers, scale);
        if (scale > 4096) c.max_tw = scale;
        p->ip4[i] = c.local[0];
        p->ip6[i] = c.local[1];
        if (pm_host_create(&p->h[i], &c)) return -1;
    }
    pm_rng_seed(&p->rng, 42);
    p->delay_us = 100;
    p->reorder_us = 3000;
    p->now = HP_SEC;
    p->cap = wire_cap;
    p->pool = malloc(sizeof *p->pool * wire_cap);
    p->heap = malloc(sizeof *p->heap * wire_cap);
    p->free = malloc(sizeof *p->free * wire_cap);
    if (!p->pool || !p->heap || !p->free) return -1;
    for (uint32_t i = 0; i < wire_cap; i++) p->free[i] = wire_cap - 1 - i;
    p->nfree = wire_cap;
    return 0;
}

static inline void hp_fini(hp_pair *p)
{
    pm_host_destroy(p->h[0]);
    pm_host_destroy(p->h[1]);
    free(p->pool);
    free(p->heap);
    free(p->free);
}

/* Moves every queued output onto the wire, impaired as configured. */
static inline void hp_flush(hp_pair *p)
{
    uint8_t buf[PM_HOST_MIN_OUT];
    for (int i = 0; i < 2; i++) {
        int n;
        while ((n = pm_host_output(p->h[i], buf, sizeof buf, p->now)) > 0) {
            if (p->loss && pm_rng_below(&p->rng, 1000) < p->loss) {
                p->dropped++;
                continue;
            }
            uint64_t at = p->now + p->delay_us;
            if (p->reorder && pm_rng_below(&p->rng, 1000) < p->reorder) {
                at += 1 + pm_rng_below(&p->rng, (uint32_t)p->reorder_us);
                p->reordered++;
            }
            hp_push(p, (uint8_t)(1 - i), buf, n, at);
            if (p->dup && pm_rng_below(&p->rng, 1000) < p->dup) {
                hp_push(p, (uint8_t)(1 - i), buf, n, at + 1 + pm_rng_below(&p->rng, 500));
                p->duplicated++;
            }
        }
    }
}

/* One step of virtual time, no further than limit. false: nothing
 * happened before limit (time is now limit). */
static inline bool hp_step(hp_pair *p, uint64_t limit)
{
    hp_flush(p);
    uint64_t next = UINT64_MAX;
    if (p->n) next = p->pool[p->heap[0]].at;
    for (int i = 0; i < 2; i++) {
        uint64_t d = pm_host_next_deadline(p->h[i]);
        if (d < next) next = d;
    }
    if (next > limit) {
        if (limit > p->now) p->now = limit;
        for (int i = 0; i < 2; i++) pm_host_advance(p->h[i], p->now);
        hp_flush(p);
        return false;
    }
    if (next > p->now) p->now = next;
    while (p->n && p->pool[p->heap[0]].at <= p->now) {
        uint32_t k = hp_pop(p);
        hp_pkt *x = &p->pool[k];
        pm_host_input(p->h[x->to], x->bytes, x->len, p->now);
        p->free[p->nfree++] = k;
        p->delivered++;
    }
    for (int i = 0; i < 2; i++) pm_host_advance(p->h[i], p->now);
    hp_flush(p);
    return true;
}

/* Runs until cond(arg) is true or dur of virtual time passed. */
static inline bool hp_run(hp_pair *p, bool (*cond)(void *), void *arg, uint64_t dur)
{
    uint64_t end = p->now + dur;
    while (p->now < end) {
        if (cond && cond(arg)) return true;
        if (!hp_step(p, end) && !(cond && cond(arg))) return false;
    }
    return cond ? cond(arg) : true;
}

static inline pm_sockaddr hp_sa4(const hp_pair *p, int side, uint16_t port)
{
    return (pm_sockaddr){PM_AF_INET, port, p->ip4[side]};
}

static inline pm_sockaddr hp_sa6(const hp_pair *p, int side, uint16_t port)
{
    return (pm_sockaddr){PM_AF_INET6, port, p->ip6[side]};
}

/* An int socket option set / read (the value, or the error). */
static inline int hp_iopt(pm_host *h, int fd, int level, int name, int v)
{
    return pm_sock_setsockopt(h, fd, level, name, &v, sizeof v);
}

static inline int hp_gopt(pm_host *h, int fd, int level, int name)
{
    int v = -12345;
    size_t len = sizeof v;
    int r = pm_sock_getsockopt(h, fd, level, name, &v, &len);
    return r < 0 ? r : v;
}

/* Byte off of a test stream keyed by salt: any byte delivered at the wrong
 * place, or from another stream, shows. */
static inline uint8_t hp_pattern(uint64_t off, uint64_t salt)
{
    uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ull + salt;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (uint8_t)(x >> ((off & 7) * 8));
}

/* One direction of a bulk transfer: total bytes of the pattern written as
 * tx takes them, read on rx and checked (bad: a byte differed). */
typedef struct hp_flow {
    pm_host *tx, *rx;
    int txfd, rxfd;
    uint64_t sent, rcvd, total, salt;
    bool bad;
} hp_flow;

static inline void hp_pump(hp_flow *f, uint64_t now)
{
    uint8_t buf[16384];
    while (f->sent < f->total) {
        size_t n = sizeof buf;
        if (n > f->total - f->sent) n = (size_t)(f->total - f->sent);
        for (size_t i = 0; i < n; i++) buf[i] = hp_pattern(f->sent + i, f->salt);
        long r = pm_sock_send(f->tx, f->txfd, buf, n, now);
        if (r <= 0) break;
        f->sent += (uint64_t)r;
    }
    for (;;) {
        long r = pm_sock_recv(f->rx, f->rxfd, buf, sizeof buf, now);
        if (r <= 0) break;
        for (long i = 0; i < r; i++)
            if (buf[i] != hp_pattern(f->rcvd + (uint64_t)i, f->salt)) f->bad = true;
        f->rcvd += (uint64_t)r;
    }
}

#endif
