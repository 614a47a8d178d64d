/* The ephemeral port allocator (RFC 6056), over the bind table. */
#include "portmux/ephemeral.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/siphash.h"
#include "ports/bind_internal.h"
#include "ports/portmap.h"

/* A destination: (proto, laddr, faddr, fport), and the local ports its
 * connections use (usedm) and, of those, the ones in TIME_WAIT (twm). A
 * connection is its bit in usedm: its handle is (destination, port), so
 * it costs no record; only a TIME_WAIT entry keeps one, for tw_reuse. */
typedef struct dest {
    pm_ip laddr, faddr;
    uint16_t fport;
    uint8_t proto;
    bool used;
    int32_t hnext;
    uint32_t nconn;
    pm_portmap usedm, twm;
} dest;

/* A TIME_WAIT entry's record: what tcp_twsk_unique() asks of it. */
typedef struct twrec {
    pm_eph_id conn;
    int32_t hnext; /* hash chain; free list */
    pm_bind_id owner;
    bool has_ts;
    uint64_t ts_stamp_us;
} twrec;

#define DEST_MAX 32768 /* a handle is dest << 16 | port, and positive */

struct pm_eph {
    pm_eph_config cfg;
    pm_bind_table *bt;
    pm_sipkey key;
    pm_rng rng;     /* set-up only */
    pm_sipkey rkey; /* the run-time random stream: SipHash(rkey, counter) */
    uint64_t rcount;
    twrec *tws;
    int32_t tw_free, *tw_hash;
    uint32_t tw_mask;
    dest *dests;
    int32_t dest_free, *dest_hash;
    uint32_t dest_mask;
    uint64_t *blocks;
    int32_t *block_next, block_free;
    uint64_t blocks_used;
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
    cfg->max_tw = 65536;
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
    if (!c->max_dests || !c->max_tw || !c->max_blocks || c->range.lo == 0 ||
        c->range.lo > c->range.hi || c->max_tw > (1u << 30) || c->max_dests > DEST_MAX ||
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
    e->tw_mask = pow2_at_least(c->max_tw) - 1;
    e->dest_mask = pow2_at_least(c->max_dests) - 1;
    e->tws = calloc(c->max_tw, sizeof *e->tws);
    e->tw_hash = malloc(((size_t)e->tw_mask + 1) * sizeof(int32_t));
    e->dests = calloc(c->max_dests, sizeof *e->dests);
    e->dest_hash = malloc(((size_t)e->dest_mask + 1) * sizeof(int32_t));
    e->blocks = calloc((size_t)c->max_blocks * PM_PM_BLOCK_WORDS, sizeof(uint64_t));
    e->block_next = malloc((size_t)c->max_blocks * sizeof(int32_t));
    e->perturb = calloc(c->perturb_size, sizeof(uint32_t));
    if (!e->tws || !e->tw_hash || !e->dests || !e->dest_hash || !e->blocks || !e->block_next ||
        !e->perturb)
        goto fail;
    memset(e->tw_hash, 0xff, ((size_t)e->tw_mask + 1) * sizeof(int32_t));
    memset(e->dest_hash, 0xff, ((size_t)e->dest_mask + 1) * sizeof(int32_t));
    for (uint32_t i = 0; i < c->max_tw; i++)
        e->tws[i].hnext = i + 1 < c->max_tw ? (int32_t)(i + 1) : -1;
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
    free(e->tws);
    free(e->tw_hash);
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
        e->blocks_used++;
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
    e->blocks_used--;
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

/* ---- connections: (destination, port) ---- */

static pm_eph_id conn_id(int32_t di, unsigned lport)
{
    return (pm_eph_id)(((uint32_t)di << 16) | lport);
}

/* The destination of a live connection's handle, or NULL. */
static dest *conn_dest(const pm_eph *e, pm_eph_id id)
{
    if (id < 0 || (uint32_t)(id >> 16) >= e->cfg.max_dests) return NULL;
    dest *d = &e->dests[id >> 16];
    return d->used && pm_portmap_test(&d->usedm, (unsigned)id & 0xffff) ? d : NULL;
}

static void conn_tuple(const pm_eph *e, pm_eph_id id, pm_tuple *t)
{
    const dest *d = &e->dests[id >> 16];
    t->laddr = d->laddr;
    t->faddr = d->faddr;
    t->lport = (uint16_t)(id & 0xffff);
    t->fport = d->fport;
    t->proto = d->proto;
}

static uint32_t tw_bucket(const pm_eph *e, pm_eph_id id)
{
    return ((uint32_t)id * 0x9e3779b1u) >> 7 & e->tw_mask;
}

static int32_t tw_find(const pm_eph *e, pm_eph_id id)
{
    for (int32_t i = e->tw_hash[tw_bucket(e, id)]; i >= 0; i = e->tws[i].hnext)
        if (e->tws[i].conn == id) return i;
    return -1;
}

/* Linux tcp_twsk_unique(): a TIME_WAIT tuple may be reused when the
 * connection had timestamps and, for a port being chosen (twp != NULL),
 * tw_reuse allows it (2: only when an end is loopback) and more than
 * tw_reuse_delay has passed since the entry's stamp. A socket that
 * connects from its bound port (twp == NULL) needs only the timestamps. */
static bool tw_reusable(const pm_eph *e, const twrec *w, uint64_t now_us, bool bound_port)
{
    pm_tuple t;
    conn_tuple(e, w->conn, &t);
    if (e->cfg.tw_ok) return e->cfg.tw_ok(e->cfg.tw_ctx, &t, w->has_ts, w->ts_stamp_us, now_us);
    if (!w->has_ts) return false;
    if (bound_port) return true;
    int reuse = e->cfg.tw_reuse;
    if (reuse == 2 && !pm_ip_is_loopback(&t.laddr) && !pm_ip_is_loopback(&t.faddr)) reuse = 0;
    return reuse && now_us > w->ts_stamp_us + e->cfg.tw_reuse_delay_us;
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

/* The connection leaves its destination; a TIME_WAIT entry's record goes
 * too. The destination is freed with its last connection. */
static void conn_remove(pm_eph *e, pm_eph_id id)
{
    int32_t di = id >> 16;
    dest *d = &e->dests[di];
    unsigned port = (unsigned)id & 0xffff;
    map_clear(e, &d->usedm, port);
    if (pm_portmap_test(&d->twm, port)) {
        map_clear(e, &d->twm, port);
        int32_t *pp = &e->tw_hash[tw_bucket(e, id)];
        while (*pp >= 0 && e->tws[*pp].conn != id) pp = &e->tws[*pp].hnext;
        if (*pp >= 0) {
            int32_t i = *pp;
            *pp = e->tws[i].hnext;
            e->tws[i].conn = PM_EPH_NONE;
            e->tws[i].hnext = e->tw_free;
            e->tw_free = i;
            e->st.tw_records--;
        }
    }
    d->nconn--;
    e->st.conns--;
    dest_put(e, di);
}

/* The first TIME_WAIT port, from start, whose entry may be reused. */
static int tw_scan(pm_eph *e, int32_t di, pm_port_range rg, unsigned start, const pm_portmap *held,
                   uint64_t now, int32_t *twi)
{
    const dest *d = &e->dests[di];
    for (int pass = 0; pass < 2; pass++) {
        unsigned lo = pass ? rg.lo : start, hi = pass ? start - 1 : rg.hi;
        if (pass && start == rg.lo) break;
        int p = pm_portmap_find_set(&d->twm, lo, hi);
        while (p >= 0) {
            if (!pm_portmap_test(held, (unsigned)p)) {
                int32_t i = tw_find(e, conn_id(di, (unsigned)p));
                if (i >= 0 && tw_reusable(e, &e->tws[i], now, false)) {
                    *twi = i;
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

    int32_t di = dest_get(e, req->proto, &req->local.ip, &req->remote.ip, req->remote.port);
    if (di < 0) {
        e->st.pool_full++;
        return -ENOBUFS;
    }
    dest *d = &e->dests[di];
    d->nconn++; /* pin the destination until the connection is in */
    const pm_portmap *held = pm_bind__held(e->bt, req->proto);
    int32_t twi = -1;
    int port = -1;
    pm_port_range rg = eff_range(e, req->sock_range);
    unsigned start = rg.lo;
    uint32_t pindex = 0;
    if (bound) {
        port = req->local.port;
        if (pm_portmap_test(&d->usedm, (unsigned)port)) {
            twi = tw_find(e, conn_id(di, (unsigned)port));
            if (twi < 0 || !tw_reusable(e, &e->tws[twi], req->now_us, true)) {
                twi = -1;
                port = -1;
            }
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
        if (port < 0) port = tw_scan(e, di, rg, start, held, req->now_us, &twi);
    }
    int err = port < 0 ? -EADDRNOTAVAIL : 0;
    pm_eph_id cid = port < 0 ? PM_EPH_NONE : conn_id(di, (unsigned)port);
    pm_bind_id tw_owner = twi >= 0 ? e->tws[twi].owner : PM_BIND_NONE;
    if (twi >= 0) {
        conn_remove(e, cid); /* the TIME_WAIT socket is gone; d stays pinned */
        if (tw_owner != PM_BIND_NONE) pm_bind_release(e->bt, tw_owner);
        res->reused_tw = cid;
        e->st.tw_reused++;
    }
    if (!err && !bound) {
        pm_sockaddr sa = req->local;
        sa.port = (uint16_t)port;
        err = pm_bind__insert(e->bt, req->proto, &sa, &req->opts, req->cred.uid, PM_BIND_CONNECTED,
                              true, id);
    }
    if (!err && !map_set(e, &d->usedm, (unsigned)port)) {
        if (!bound) {
            pm_bind_release(e->bt, *id);
            *id = PM_BIND_NONE;
        }
        err = -ENOBUFS;
    }
    if (err) {
        d->nconn--;
        dest_put(e, di);
        if (err == -EADDRNOTAVAIL)
            e->st.eaddrnotavail++;
        else
            e->st.pool_full++;
        return err;
    }
    e->st.conns++; /* the pin is the connection's now */
    if (bound) {
        pm_bind_owner ow;
        if (pm_bind_get(e->bt, *id, &ow) == 0 && pm_ip_is_any(&ow.local.ip))
            pm_bind__set_addr(e->bt, id, &req->local.ip);
        pm_bind_set_state(e->bt, id, PM_BIND_CONNECTED);
    } else {
        after_choice(e, rg, start, (unsigned)port, pindex);
    }
    res->port = (uint16_t)port;
    res->conn = cid;
    e->st.connects++;
    return 0;
}

int pm_eph_time_wait(pm_eph *e, pm_eph_id conn, pm_bind_id owner, bool has_ts, uint64_t ts_stamp_us)
{
    dest *d = conn_dest(e, conn);
    if (!d) return -EINVAL;
    unsigned port = (unsigned)conn & 0xffff;
    int32_t i = tw_find(e, conn);
    if (i < 0) {
        if (e->tw_free < 0 || !map_set(e, &d->twm, port)) {
            e->st.pool_full++;
            return -ENOBUFS;
        }
        i = e->tw_free;
        e->tw_free = e->tws[i].hnext;
        e->tws[i].conn = conn;
        e->tws[i].hnext = e->tw_hash[tw_bucket(e, conn)];
        e->tw_hash[tw_bucket(e, conn)] = i;
        e->st.tw_records++;
    }
    e->tws[i].owner = owner;
    e->tws[i].has_ts = has_ts;
    e->tws[i].ts_stamp_us = ts_stamp_us;
    return 0;
}

void pm_eph_release(pm_eph *e, pm_eph_id conn)
{
    if (conn_dest(e, conn)) conn_remove(e, conn);
}

pm_eph_id pm_eph_find(const pm_eph *e, const pm_tuple *t)
{
    int32_t di = dest_find(e, t->proto, &t->laddr, &t->faddr, t->fport);
    if (di < 0 || !pm_portmap_test(&e->dests[di].usedm, t->lport)) return PM_EPH_NONE;
    return conn_id(di, t->lport);
}

int pm_eph_tuple(const pm_eph *e, pm_eph_id conn, pm_tuple *out)
{
    if (!conn_dest(e, conn)) return -EINVAL;
    conn_tuple(e, conn, out);
    return 0;
}

pm_eph_stats pm_eph_get_stats(const pm_eph *e)
{
    pm_eph_stats s = e->st;
    s.bytes_in_use = s.dests * sizeof(dest) +
                     e->blocks_used * PM_PM_BLOCK_WORDS * sizeof(uint64_t) +
                     s.tw_records * (sizeof(twrec) + sizeof(int32_t));
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
