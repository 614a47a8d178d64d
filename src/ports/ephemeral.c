/* The ephemeral port allocator (RFC 6056), over the bind table. */
#include "portmux/ephemeral.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/siphash.h"
#include "ports/bind_internal.h"
#include "ports/portmap.h"

enum { C_CONNECTED = 0, C_TIME_WAIT = 1 };

/* A connection: its destination (proto, laddr, faddr, fport) holds the
 * rest of its 4-tuple, so the record is the local port and its state. */
typedef struct conn {
    uint16_t lport;
    uint8_t state;
    bool used, has_ts;
    uint64_t ts_stamp_us;
    int32_t hnext; /* hash chain; free list */
    int32_t dest;
    pm_bind_id bid;
} conn;

/* A destination: (proto, laddr, faddr, fport), and the local ports its
 * connections use (used) and, of those, the ones in TIME_WAIT (tw). */
typedef struct dest {
    pm_ip laddr, faddr;
    uint16_t fport;
    uint8_t proto;
    bool used;
    int32_t hnext;
    uint32_t nconn;
    pm_portmap usedm, twm;
} dest;

struct pm_eph {
    pm_eph_config cfg;
    pm_bind_table *bt;
    pm_sipkey key;
    pm_rng rng;     /* set-up only */
    pm_sipkey rkey; /* the run-time random stream: SipHash(rkey, counter) */
    uint64_t rcount;
    conn *conns;
    int32_t conn_free, *conn_hash;
    uint32_t conn_mask;
    dest *dests;
    int32_t dest_free, *dest_hash;
    uint32_t dest_mask;
    uint64_t *blocks;
    int32_t *block_next, block_free;
    uint32_t *perturb;
    uint32_t alg5_next;
    pm_eph_stats st;
};

void pm_eph_config_default(pm_eph_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->range.lo = 32768;
    cfg->range.hi = 60999;
    cfg->alg = PM_EPH_ALG4;
    cfg->max_dests = 1024;
    cfg->max_conns = 65536;
    cfg->max_blocks = 4096;
    cfg->perturb_size = 65536;
    cfg->alg5_step = 500;
    cfg->tw_reuse = 2;
    cfg->tw_reuse_delay_us = 1000000;
    cfg->parity_split = true;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n && p < (1u << 30)) p <<= 1;
    return p;
}

pm_eph *pm_eph_create(const pm_eph_config *cfg, pm_bind_table *bt)
{
    if (!bt) return NULL;
    pm_eph *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    if (cfg)
        e->cfg = *cfg;
    else
        pm_eph_config_default(&e->cfg);
    pm_eph_config *c = &e->cfg;
    if (!c->max_dests || !c->max_conns || !c->max_blocks || c->range.lo == 0 ||
        c->range.lo > c->range.hi || c->max_conns > (1u << 30) || c->max_dests > (1u << 30) ||
        c->max_blocks > (1u << 26))
        goto fail;
    if (c->perturb_size == 0 || (c->perturb_size & (c->perturb_size - 1))) goto fail;
    if (c->alg5_step == 0) c->alg5_step = 500;
    e->bt = bt;
    pm_rng_seed(&e->rng, c->seed);
    e->key.k0 = pm_rng_next(&e->rng);
    e->key.k1 = pm_rng_next(&e->rng);
    e->rkey.k0 = pm_rng_next(&e->rng);
    e->rkey.k1 = pm_rng_next(&e->rng);
    e->conn_mask = pow2_at_least(c->max_conns) - 1;
    e->dest_mask = pow2_at_least(c->max_dests) - 1;
    e->conns = calloc(c->max_conns, sizeof *e->conns);
    e->conn_hash = malloc(((size_t)e->conn_mask + 1) * sizeof(int32_t));
    e->dests = calloc(c->max_dests, sizeof *e->dests);
    e->dest_hash = malloc(((size_t)e->dest_mask + 1) * sizeof(int32_t));
    e->blocks = calloc((size_t)c->max_blocks * PM_PM_BLOCK_WORDS, sizeof(uint64_t));
    e->block_next = malloc((size_t)c->max_blocks * sizeof(int32_t));
    e->perturb = calloc(c->perturb_size, sizeof(uint32_t));
    if (!e->conns || !e->conn_hash || !e->dests || !e->dest_hash || !e->blocks || !e->block_next ||
        !e->perturb)
        goto fail;
    memset(e->conn_hash, 0xff, ((size_t)e->conn_mask + 1) * sizeof(int32_t));
    memset(e->dest_hash, 0xff, ((size_t)e->dest_mask + 1) * sizeof(int32_t));
    for (uint32_t i = 0; i < c->max_conns; i++)
        e->conns[i].hnext = i + 1 < c->max_conns ? (int32_t)(i + 1) : -1;
    for (uint32_t i = 0; i < c->max_dests; i++)
        e->dests[i].hnext = i + 1 < c->max_dests ? (int32_t)(i + 1) : -1;
    for (uint32_t i = 0; i < c->max_blocks; i++)
        e->block_next[i] = i + 1 < c->max_blocks ? (int32_t)(i + 1) : -1;
    /* Linux seeds table_perturb randomly too */
    for (uint32_t i = 0; i < c->perturb_size; i++) e->perturb[i] = (uint32_t)pm_rng_next(&e->rng);
    e->alg5_next = c->range.lo + pm_rng_below(&e->rng, pm_port_range_size(c->range));
    return e;
fail:
    pm_eph_destroy(e);
    return NULL;
}

void pm_eph_destroy(pm_eph *e)
{
    if (!e) return;
    free(e->conns);
    free(e->conn_hash);
    free(e->dests);
    free(e->dest_hash);
    free(e->blocks);
    free(e->block_next);
    free(e->perturb);
    free(e);
}

int pm_eph_set_range(pm_eph *e, pm_port_range r)
{
    if (r.lo == 0 || r.lo > r.hi) return -EINVAL;
    e->cfg.range = r;
    return 0;
}

int pm_eph_set_alg(pm_eph *e, pm_eph_alg alg)
{
    if (alg != PM_EPH_ALG1 && alg != PM_EPH_ALG3 && alg != PM_EPH_ALG4 && alg != PM_EPH_ALG5)
        return -EINVAL;
    e->cfg.alg = alg;
    return 0;
}

/* Linux inet_sk_get_local_port_range(): each bound of the socket's range
 * applies only if it lies inside the host's. */
static pm_port_range eff_range(const pm_eph *e, const pm_port_range *s)
{
    pm_port_range r = e->cfg.range;
    if (s && (s->lo || s->hi)) {
        if (r.lo <= s->lo && s->lo <= r.hi) r.lo = s->lo;
        if (r.lo <= s->hi && s->hi <= r.hi) r.hi = s->hi;
    }
    return r;
}

/* Uniform in [0, bound): a keyed PRF of a counter, so that the ports of
 * Algorithms 1 and 5 and of bind(0) do not reveal a generator's state to
 * whoever sees many of them (xoshiro would). */
static uint32_t rand_below(pm_eph *e, uint32_t bound)
{
    uint64_t c = e->rcount++;
    uint64_t x = pm_siphash24(&e->rkey, &c, sizeof c);
    return (uint32_t)(((x >> 32) * (uint64_t)bound) >> 32);
}

/* ---- bitmap blocks ---- */

static bool map_set(pm_eph *e, pm_portmap *m, unsigned port)
{
    unsigned b = port >> 12;
    if (!m->blk[b]) {
        if (e->block_free < 0) return false;
        int32_t i = e->block_free;
        e->block_free = e->block_next[i];
        m->blk[b] = e->blocks + (size_t)i * PM_PM_BLOCK_WORDS;
        memset(m->blk[b], 0, PM_PM_BLOCK_WORDS * sizeof(uint64_t));
    }
    pm_portmap_set(m, port);
    return true;
}

static void map_clear(pm_eph *e, pm_portmap *m, unsigned port)
{
    unsigned b = port >> 12;
    if (!pm_portmap_clear(m, port)) return;
    uint64_t *blk = m->blk[b];
    if (blk[(port >> 6) & 63]) return;
    for (int w = 0; w < PM_PM_BLOCK_WORDS; w++)
        if (blk[w]) return;
    int32_t i = (int32_t)((blk - e->blocks) / PM_PM_BLOCK_WORDS);
    e->block_next[i] = e->block_free;
    e->block_free = i;
    m->blk[b] = NULL;
}

/* ---- hashing ---- */

static uint64_t dest_hash(const pm_eph *e, uint8_t proto, const pm_ip *l, const pm_ip *f,
                          uint16_t fport)
{
    uint8_t buf[36];
    memcpy(buf, l->b, 16);
    memcpy(buf + 16, f->b, 16);
    buf[32] = (uint8_t)(fport >> 8);
    buf[33] = (uint8_t)fport;
    buf[34] = proto;
    buf[35] = 0;
    return pm_siphash13(&e->key, buf, sizeof buf);
}

static int32_t dest_find(const pm_eph *e, uint8_t proto, const pm_ip *l, const pm_ip *f,
                         uint16_t fport)
{
    uint32_t h = (uint32_t)dest_hash(e, proto, l, f, fport) & e->dest_mask;
    for (int32_t i = e->dest_hash[h]; i >= 0; i = e->dests[i].hnext) {
        const dest *d = &e->dests[i];
        if (d->proto == proto && d->fport == fport && pm_ip_eq(&d->laddr, l) &&
            pm_ip_eq(&d->faddr, f))
            return i;
    }
    return -1;
}

static int32_t dest_get(pm_eph *e, uint8_t proto, const pm_ip *l, const pm_ip *f, uint16_t fport)
{
    int32_t i = dest_find(e, proto, l, f, fport);
    if (i >= 0 || e->dest_free < 0) return i;
    i = e->dest_free;
    dest *d = &e->dests[i];
    e->dest_free = d->hnext;
    memset(d, 0, sizeof *d);
    d->laddr = *l;
    d->faddr = *f;
    d->fport = fport;
    d->proto = proto;
    d->used = true;
    uint32_t h = (uint32_t)dest_hash(e, proto, l, f, fport) & e->dest_mask;
    d->hnext = e->dest_hash[h];
    e->dest_hash[h] = i;
    e->st.dests++;
    return i;
}

static void dest_put(pm_eph *e, int32_t i)
{
    dest *d = &e->dests[i];
    if (d->nconn) return;
    uint32_t h = (uint32_t)dest_hash(e, d->proto, &d->laddr, &d->faddr, d->fport) & e->dest_mask;
    int32_t *pp = &e->dest_hash[h];
    while (*pp != i) pp = &e->dests[*pp].hnext;
    *pp = d->hnext;
    d->used = false;
    d->hnext = e->dest_free;
    e->dest_free = i;
    e->st.dests--;
}

static uint32_t conn_bucket(const pm_eph *e, const dest *d, uint16_t lport)
{
    return ((uint32_t)dest_hash(e, d->proto, &d->laddr, &d->faddr, d->fport) ^
            (uint32_t)lport * 0x9e3779b1u) &
           e->conn_mask;
}

static int32_t conn_find(const pm_eph *e, const dest *d, uint16_t lport)
{
    int32_t di = (int32_t)(d - e->dests);
    for (int32_t i = e->conn_hash[conn_bucket(e, d, lport)]; i >= 0; i = e->conns[i].hnext) {
        const conn *c = &e->conns[i];
        if (c->lport == lport && c->dest == di) return i;
    }
    return -1;
}

static void conn_tuple(const pm_eph *e, const conn *c, pm_tuple *t)
{
    const dest *d = &e->dests[c->dest];
    t->laddr = d->laddr;
    t->faddr = d->faddr;
    t->lport = c->lport;
    t->fport = d->fport;
    t->proto = d->proto;
}

/* Linux tcp_twsk_unique(): a TIME_WAIT tuple may be reused when the
 * connection had timestamps and, for a port being chosen (twp != NULL),
 * tw_reuse allows it (2: only when an end is loopback) and more than
 * tw_reuse_delay has passed since the entry's stamp. A socket that
 * connects from its bound port (twp == NULL) needs only the timestamps. */
static bool tw_reusable(const pm_eph *e, const conn *c, uint64_t now_us, bool bound_port)
{
    pm_tuple t;
    conn_tuple(e, c, &t);
    if (e->cfg.tw_ok) return e->cfg.tw_ok(e->cfg.tw_ctx, &t, c->has_ts, c->ts_stamp_us, now_us);
    if (!c->has_ts) return false;
    if (bound_port) return true;
    int reuse = e->cfg.tw_reuse;
    if (reuse == 2 && !pm_ip_is_loopback(&t.laddr) && !pm_ip_is_loopback(&t.faddr)) reuse = 0;
    return reuse && now_us > c->ts_stamp_us + e->cfg.tw_reuse_delay_us;
}

/* ---- starting points, RFC 6056 ---- */

static uint64_t tuple_hash(const pm_eph *e, const pm_eph_connect_req *r)
{
    return dest_hash(e, r->proto, &r->local.ip, &r->remote.ip, r->remote.port);
}

static unsigned choose_start(pm_eph *e, const pm_eph_connect_req *r, pm_port_range rg,
                             uint32_t *pindex)
{
    uint32_t n = pm_port_range_size(rg);
    switch (e->cfg.alg) {
    case PM_EPH_ALG1: /* 3.3.1: next_ephemeral = min + random() % num */
        return rg.lo + rand_below(e, n);
    case PM_EPH_ALG3: /* 3.3.3: offset = F(laddr, faddr, fport, key) */
        return rg.lo + (unsigned)(tuple_hash(e, r) % n);
    case PM_EPH_ALG5: { /* 3.3.5: next_ephemeral += random(1..N) */
        uint32_t off = (e->alg5_next >= rg.lo && e->alg5_next <= rg.hi) ? e->alg5_next - rg.lo : 0;
        return rg.lo + (off + 1 + rand_below(e, e->cfg.alg5_step)) % n;
    }
    case PM_EPH_ALG4:
    default: { /* 3.3.4, as Linux __inet_hash_connect(): F() + table[G()] */
        uint64_t h = tuple_hash(e, r);
        *pindex = (uint32_t)h & (e->cfg.perturb_size - 1);
        return rg.lo + (unsigned)(((uint64_t)e->perturb[*pindex] + (h >> 32)) % n);
    }
    }
}

static void after_choice(pm_eph *e, pm_port_range rg, unsigned start, unsigned port,
                         uint32_t pindex)
{
    uint32_t n = pm_port_range_size(rg);
    if (e->cfg.alg == PM_EPH_ALG5) e->alg5_next = port;
    if (e->cfg.alg == PM_EPH_ALG4) {
        /* Linux: table_perturb[index] += i + 2, i at least a small random */
        uint32_t dist = (port + n - start) % n;
        uint32_t r = rand_below(e, 8) * 2;
        e->perturb[pindex] += (dist > r ? dist : r) + 2;
    }
}

/* ---- bind(0) ---- */

int pm_eph_bind(pm_eph *e, uint8_t proto, pm_sockaddr *sa, const pm_bind_opts *opts,
                const pm_cred *cred, const pm_port_range *sock_range, pm_bind_id *id)
{
    if (!sa || !opts || !cred || !id || *id != PM_BIND_NONE) return -EINVAL;
    if (proto != PM_IPPROTO_TCP && proto != PM_IPPROTO_UDP) return -EINVAL;
    if (opts->family == PM_AF_INET ? !pm_ip_is_v4(&sa->ip) : opts->family != PM_AF_INET6)
        return -EAFNOSUPPORT;
    if (opts->family == PM_AF_INET6 && opts->v6only && pm_ip_is_v4(&sa->ip)) return -EINVAL;
    pm_port_range rg = eff_range(e, sock_range);
    uint32_t n = pm_port_range_size(rg);
    const pm_portmap *owned = pm_bind__owned(e->bt, proto);
    unsigned start = rg.lo + rand_below(e, n);
    /* Linux inet_csk_find_open_port(): the parity connect() does not favour */
    uint64_t first = (rg.lo & 1) ? PM_PM_EVEN : PM_PM_ODD;
    uint64_t second = first == PM_PM_ODD ? PM_PM_EVEN : PM_PM_ODD;
    if (!e->cfg.parity_split) first = second = PM_PM_ALL;
    int port =
        pm_portmap_find_clear_from(owned, NULL, rg.lo, rg.hi, start, first, &e->st.search_steps);
    if (port < 0)
        port = pm_portmap_find_clear_from(owned, NULL, rg.lo, rg.hi, start, second,
                                          &e->st.search_steps);
    if (port < 0) {
        /* Every port has an owner: one may still be free for this address
         * (owners on other addresses). Exact, and only when full. */
        for (uint32_t i = 0; i < n && port < 0; i++) {
            sa->port = (uint16_t)(rg.lo + (start - rg.lo + i) % n);
            if (pm_bind__autobind_ok(e->bt, proto, sa, opts, cred->uid)) port = sa->port;
        }
    }
    if (port < 0) {
        sa->port = 0;
        e->st.eaddrinuse++;
        return -EADDRINUSE;
    }
    sa->port = (uint16_t)port;
    int err = pm_bind__insert(e->bt, proto, sa, opts, cred->uid, PM_BIND_BOUND, false, id);
    if (err) {
        sa->port = 0;
        if (err == -ENOBUFS) e->st.pool_full++;
        return err;
    }
    e->st.binds++;
    return 0;
}

/* ---- connect() ---- */

static int32_t conn_alloc(pm_eph *e)
{
    int32_t i = e->conn_free;
    if (i >= 0) e->conn_free = e->conns[i].hnext;
    return i;
}

static void conn_unalloc(pm_eph *e, int32_t i)
{
    e->conns[i].used = false;
    e->conns[i].hnext = e->conn_free;
    e->conn_free = i;
}

/* Put conn i (filled in) into the tables. */
static int conn_insert(pm_eph *e, int32_t i, int32_t di)
{
    conn *c = &e->conns[i];
    dest *d = &e->dests[di];
    if (!map_set(e, &d->usedm, c->lport)) return -ENOBUFS;
    c->dest = di;
    c->used = true;
    uint32_t b = conn_bucket(e, d, c->lport);
    c->hnext = e->conn_hash[b];
    e->conn_hash[b] = i;
    d->nconn++;
    e->st.conns++;
    return 0;
}

static void conn_remove(pm_eph *e, int32_t i, bool release_owner)
{
    conn *c = &e->conns[i];
    dest *d = &e->dests[c->dest];
    uint32_t b = conn_bucket(e, d, c->lport);
    int32_t *pp = &e->conn_hash[b];
    while (*pp != i) pp = &e->conns[*pp].hnext;
    *pp = c->hnext;
    map_clear(e, &d->usedm, c->lport);
    if (c->state == C_TIME_WAIT) map_clear(e, &d->twm, c->lport);
    d->nconn--;
    e->st.conns--;
    if (release_owner && c->bid != PM_BIND_NONE) pm_bind_release(e->bt, c->bid);
    dest_put(e, c->dest);
    conn_unalloc(e, i);
}

/* The first TIME_WAIT port, from start, whose entry may be reused. */
static int tw_scan(pm_eph *e, const dest *d, pm_port_range rg, unsigned start,
                   const pm_portmap *held, uint64_t now, int32_t *twc)
{
    for (int pass = 0; pass < 2; pass++) {
        unsigned lo = pass ? rg.lo : start, hi = pass ? start - 1 : rg.hi;
        if (pass && start == rg.lo) break;
        int p = pm_portmap_find_set(&d->twm, lo, hi);
        while (p >= 0) {
            if (!pm_portmap_test(held, (unsigned)p)) {
                int32_t ci = conn_find(e, d, (uint16_t)p);
                if (ci >= 0 && tw_reusable(e, &e->conns[ci], now, false)) {
                    *twc = ci;
                    return p;
                }
            }
            if ((unsigned)p >= hi) break;
            p = pm_portmap_find_set(&d->twm, (unsigned)p + 1, hi);
        }
    }
    return -1;
}

int pm_eph_connect(pm_eph *e, const pm_eph_connect_req *req, pm_bind_id *id,
                   pm_eph_connect_res *res)
{
    if (!req || !id || !res) return -EINVAL;
    res->port = 0;
    res->conn = PM_EPH_NONE;
    res->reused_tw = PM_EPH_NONE;
    if (req->proto == PM_IPPROTO_UDP) {
        /* Linux inet_dgram_connect(): inet_autobind(), a bind(0) */
        if (*id == PM_BIND_NONE) {
            pm_sockaddr sa = req->local;
            sa.port = 0;
            sa.ip = req->opts.family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6;
            if (pm_eph_bind(e, req->proto, &sa, &req->opts, &req->cred, req->sock_range, id))
                return -EAGAIN;
            res->port = sa.port;
        } else {
            pm_bind_owner o;
            if (pm_bind_get(e->bt, *id, &o)) return -EINVAL;
            res->port = o.local.port;
        }
        e->st.connects++;
        return 0;
    }
    if (req->proto != PM_IPPROTO_TCP) return -EINVAL;
    bool bound = *id != PM_BIND_NONE;
    if (bound != (req->local.port != 0)) return -EINVAL;

    int32_t ci = conn_alloc(e);
    if (ci < 0) {
        e->st.pool_full++;
        return -ENOBUFS;
    }
    int32_t di = dest_get(e, req->proto, &req->local.ip, &req->remote.ip, req->remote.port);
    if (di < 0) {
        conn_unalloc(e, ci);
        e->st.pool_full++;
        return -ENOBUFS;
    }
    dest *d = &e->dests[di];
    d->nconn++; /* pin the destination while we look */
    const pm_portmap *held = pm_bind__held(e->bt, req->proto);
    int32_t twc = -1;
    int port = -1;
    pm_port_range rg = eff_range(e, req->sock_range);
    unsigned start = rg.lo;
    uint32_t pindex = 0;
    if (bound) {
        port = req->local.port;
        if (pm_portmap_test(&d->usedm, (unsigned)port)) {
            int32_t old = conn_find(e, d, (uint16_t)port);
            if (old < 0 || e->conns[old].state != C_TIME_WAIT ||
                !tw_reusable(e, &e->conns[old], req->now_us, true))
                port = -1;
            else
                twc = old;
        }
    } else {
        start = choose_start(e, req, rg, &pindex);
        /* Linux __inet_hash_connect(): the range's low parity first */
        uint64_t first = (rg.lo & 1) ? PM_PM_ODD : PM_PM_EVEN;
        uint64_t second = first == PM_PM_ODD ? PM_PM_EVEN : PM_PM_ODD;
        /* Linux: step = local_ports ? 1 : 2 (a socket's own range: no split) */
        bool sock_rg = req->sock_range && (req->sock_range->lo || req->sock_range->hi);
        if (!e->cfg.parity_split || sock_rg) first = second = PM_PM_ALL;
        port = pm_portmap_find_clear_from(&d->usedm, held, rg.lo, rg.hi, start, first,
                                          &e->st.search_steps);
        if (port < 0)
            port = pm_portmap_find_clear_from(&d->usedm, held, rg.lo, rg.hi, start, second,
                                              &e->st.search_steps);
        if (port < 0) port = tw_scan(e, d, rg, start, held, req->now_us, &twc);
    }
    d->nconn--;
    if (port < 0) {
        dest_put(e, di);
        conn_unalloc(e, ci);
        e->st.eaddrnotavail++;
        return -EADDRNOTAVAIL;
    }
    if (twc >= 0) {
        conn_remove(e, twc, true); /* the TIME_WAIT socket is gone */
        res->reused_tw = twc;
        e->st.tw_reused++;
        /* conn_remove may have freed the destination; take it again */
        di = dest_get(e, req->proto, &req->local.ip, &req->remote.ip, req->remote.port);
    }
    conn *c = &e->conns[ci];
    memset(c, 0, sizeof *c);
    c->lport = (uint16_t)port;
    c->state = C_CONNECTED;
    c->bid = *id;
    int err = conn_insert(e, ci, di);
    if (err) {
        dest_put(e, di);
        conn_unalloc(e, ci);
        e->st.pool_full++;
        return err;
    }
    if (!bound) {
        pm_sockaddr sa = req->local;
        sa.port = (uint16_t)port;
        err = pm_bind__insert(e->bt, req->proto, &sa, &req->opts, req->cred.uid, PM_BIND_CONNECTED,
                              true, &c->bid);
        if (err) {
            conn_remove(e, ci, false);
            e->st.pool_full++;
            return err;
        }
    }
    if (bound) {
        pm_bind_owner ow;
        if (pm_bind_get(e->bt, c->bid, &ow) == 0 && pm_ip_is_any(&ow.local.ip))
            pm_bind__set_addr(e->bt, &c->bid, &req->local.ip);
        pm_bind_set_state(e->bt, &c->bid, PM_BIND_CONNECTED);
    } else {
        after_choice(e, rg, start, (unsigned)port, pindex);
    }
    *id = c->bid;
    res->port = (uint16_t)port;
    res->conn = ci;
    e->st.connects++;
    return 0;
}

static conn *get_conn(const pm_eph *e, pm_eph_id i)
{
    if (i < 0 || (uint32_t)i >= e->cfg.max_conns || !e->conns[i].used) return NULL;
    return &e->conns[i];
}

int pm_eph_time_wait(pm_eph *e, pm_eph_id i, bool has_ts, uint64_t ts_stamp_us)
{
    conn *c = get_conn(e, i);
    if (!c) return -EINVAL;
    if (c->state != C_TIME_WAIT) {
        if (!map_set(e, &e->dests[c->dest].twm, c->lport)) {
            e->st.pool_full++;
            return -ENOBUFS;
        }
        c->state = C_TIME_WAIT;
        if (c->bid != PM_BIND_NONE) pm_bind_set_state(e->bt, &c->bid, PM_BIND_TIME_WAIT);
    }
    c->has_ts = has_ts;
    c->ts_stamp_us = ts_stamp_us;
    return 0;
}

void pm_eph_release(pm_eph *e, pm_eph_id i)
{
    if (get_conn(e, i)) conn_remove(e, i, true);
}

int pm_eph_tuple(const pm_eph *e, pm_eph_id i, pm_tuple *out)
{
    const conn *c = get_conn(e, i);
    if (!c) return -EINVAL;
    conn_tuple(e, c, out);
    return 0;
}

int pm_eph_set_owner(pm_eph *e, pm_eph_id i, pm_bind_id bid)
{
    conn *c = get_conn(e, i);
    if (!c) return -EINVAL;
    c->bid = bid;
    return 0;
}

pm_eph_stats pm_eph_get_stats(const pm_eph *e)
{
    pm_eph_stats s = e->st;
    s.conn_bytes = sizeof(conn) + sizeof(int32_t);
    return s;
}

pm_bind_table *pm_eph_bind_table(const pm_eph *e)
{
    return e->bt;
}

const char *pm_eph_alg_name(pm_eph_alg alg)
{
    switch (alg) {
    case PM_EPH_ALG1: return "alg1";
    case PM_EPH_ALG3: return "alg3";
    case PM_EPH_ALG4: return "alg4";
    case PM_EPH_ALG5: return "alg5";
    }
    return "?";
}
