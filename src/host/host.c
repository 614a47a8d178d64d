/* The host object: configuration and personalities, pools, the entry
 * points pm_host_input / output / next_deadline / advance. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "host/host_internal.h"

const char *pm_personality_name(pm_personality p)
{
    return p == PM_PERS_FREEBSD ? "freebsd" : p == PM_PERS_LINUX ? "linux" : "?";
}

int pm_personality_parse(const char *s, pm_personality *out)
{
    if (!s) return -EINVAL;
    if (!strcmp(s, "linux")) {
        *out = PM_PERS_LINUX;
        return 0;
    }
    if (!strcmp(s, "freebsd")) {
        *out = PM_PERS_FREEBSD;
        return 0;
    }
    return -EINVAL;
}

void pm_host_config_default(pm_host_config *c, pm_personality p)
{
    memset(c, 0, sizeof *c);
    c->personality = p;
    c->max_sockets = 1024;
    c->max_tcbs = 512;
    c->max_tw = 4096;
    c->max_udp = 64;
    c->tcp_sndbuf = 64 * 1024;
    c->tcp_rcvbuf = 64 * 1024;
    c->udp_rcvbuf = 64 * 1024;
    c->out_packets = 512;
    c->max_syn_backlog = 4096; /* Linux: tcp_max_syn_backlog (128..4096 by memory) */
    c->somaxconn = 4096;       /* Linux 5.4+: net.core.somaxconn */
    c->syncookies = 1;         /* Linux: tcp_syncookies 1 */
    pm_tcp_config_default(&c->tcp);
    c->local_port_range = (pm_port_range){32768, 60999}; /* Linux ip_local_port_range */
    c->unprivileged_port_start = 1024;                   /* Linux ip_unprivileged_port_start */
    c->tw_reuse = 2;                                     /* Linux tcp_tw_reuse */
    c->tw_reuse_delay_us = 1000000;                      /* Linux tcp_tw_reuse_delay 1000 ms */
    c->icmp_msgs_per_sec = 1000;                         /* Linux icmp_msgs_per_sec */
    c->icmp_msgs_burst = 50;                             /* Linux icmp_msgs_burst */
    if (p == PM_PERS_FREEBSD) {
        /* FreeBSD: net.inet.tcp.msl 30000 ms, 2*MSL TIME_WAIT; ephemeral
         * net.inet.ip.portrange.first/last 10000-65535; kern.ipc.maxsockbuf
         * 2 MiB gives window scale 6 (tcp_syncache: while (TCP_MAXWIN <<
         * wscale) < sb_max); SYN window 65535; 64 hop limit. */
        c->tcp.msl_us = 30000000;
        c->tcp.rmem_max = 2097152;
        c->tcp.rmem_default = 65536; /* FreeBSD: net.inet.tcp.recvspace */
        c->tcp_rcvbuf = 72 * 1024;   /* room for recvspace rounded up to the MSS */
        c->tcp.wmem_default = 32768; /* FreeBSD: net.inet.tcp.sendspace */
        c->local_port_range = (pm_port_range){10000, 65535};
        c->tw_reuse = 0;
        c->tcp.ttl = 64;
        c->tcp.delack_us = 100000;   /* net.inet.tcp.delacktime 100 ms */
        c->tcp.rto_min_us = 30000;   /* net.inet.tcp.rexmit_min 30 ms */
        c->tcp.rfc1337 = true;       /* tcp_twcheck(): a RST never ends TIME_WAIT */
        c->tcp.bsd = true;           /* tcp_output(): recwin = sbspace(), no MSS rounding */
        c->tcp.rmem_default = 65536; /* net.inet.tcp.recvspace */
        c->tcp.wmem_default = 32768; /* net.inet.tcp.sendspace */
    }
}

const pm_host_config *pm_host_get_config(const pm_host *h)
{
    return &h->cfg;
}

/* The established table keys each connection by its TCB's own tuple
 * (no second copy in a demux record): the handle is the socket. */
static const pm_tuple *est_key_cb(void *ctx, uint32_t handle)
{
    const pm_host *h = ctx;
    return &h->tcbs[h->socks[handle].tcb].tuple;
}

static void tw_recycled_cb(void *ctx, const pm_tw_entry *e);

/* Linux tcp_twsk_unique(): a TIME_WAIT tuple may serve a new connect()
 * when it had timestamps and either the socket connects from its bound
 * port (no twp) or tcp_tw_reuse allows it (2: loopback only) and
 * tcp_tw_reuse_delay has passed since the entry was made (6.13+
 * tw_entry_stamp). Knobs read at call time. */
static bool tw_ok_cb(void *ctx, const pm_tuple *t, bool has_ts, uint64_t stamp_us, uint64_t now)
{
    const pm_host *h = ctx;
    if (!has_ts) return false;
    if (h->connect_bound_port) return true;
    uint8_t reuse = h->cfg.tw_reuse;
    if (reuse == 2 && !pm_ip_is_loopback(&t->laddr) && !pm_ip_is_loopback(&t->faddr)) return false;
    return reuse && now > stamp_us + h->cfg.tw_reuse_delay_us;
}

static void host_free_all(pm_host *h)
{
    if (h->eh) pm_ehash_destroy(h->eh);
    if (h->lh) pm_lhash_destroy(h->lh);
    if (h->ut) pm_udptab_destroy(h->ut);
    if (h->eph) pm_eph_destroy(h->eph);
    if (h->bt) pm_bind_destroy(h->bt);
    free(h->socks);
    free(h->tcbs);
    free(h->tcb_mem);
    free(h->xs);
    free(h->tcp.ext);
    free(h->udpx);
    free(h->udpq);
    free(h->udp_mem);
    free(h->out.mem);
    free(h->out.len);
    free(h->tw);
    free(h->scratch);
    free(h);
}

int pm_host_create(pm_host **out, const pm_host_config *cfg)
{
    *out = NULL;
    pm_host_config c;
    if (cfg)
        c = *cfg;
    else
        pm_host_config_default(&c, PM_PERS_LINUX);
    if (!c.max_sockets || c.max_sockets >= PM_EHASH_HANDLE_MAX || !c.max_tcbs || !c.out_packets ||
        c.tcp_sndbuf < 1024 || c.tcp_rcvbuf < 1024 || c.udp_rcvbuf < 1024 || c.n_local > 8 ||
        c.local_port_range.lo == 0 || c.local_port_range.lo > c.local_port_range.hi ||
        2ull * c.tcp.msl_us >= (1ull << 31))
        return -EINVAL;
    pm_host *h = calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->cfg = c;
    pm_rng s;
    pm_rng_seed(&s, c.seed ^ 0x706f72746d7578ull);
    h->key[0] = pm_rng_next(&s);
    h->key[1] = pm_rng_next(&s);
    pm_tcp_stack_init(&h->tcp, &c.tcp, pm_rng_next(&s));

    pm_bind_config bc;
    pm_bind_config_default(&bc);
    bc.max_owners = c.max_sockets + c.max_tw + c.max_tcbs;
    bc.unprivileged_port_start = c.unprivileged_port_start;
    h->bt = pm_bind_create(&bc);
    pm_eph_config ec;
    pm_eph_config_default(&ec);
    ec.range = c.local_port_range;
    ec.seed = pm_rng_next(&s);
    ec.tw_reuse = c.tw_reuse;
    ec.tw_ok = tw_ok_cb;
    ec.tw_ctx = h;
    ec.max_tw = c.max_tw + 16;
    if (ec.max_dests < 64) ec.max_dests = 64;
    h->eph = h->bt ? pm_eph_create(&ec, h->bt) : NULL;
    pm_ehash_config hc = {
        .key = {pm_rng_next(&s), pm_rng_next(&s)},
        .initial_entries = c.max_tcbs,
        .max_entries = c.max_tcbs,
        .max_tw = c.max_tw,
        .tw_timeout_us = 2 * c.tcp.msl_us,
        .tw_recycled = tw_recycled_cb,
        .est_key = est_key_cb,
        .ctx = h,
    };
    uint64_t lk[2] = {pm_rng_next(&s), pm_rng_next(&s)};
    int err = 0;
    if (!h->eph || pm_ehash_create(&h->eh, &hc) || pm_lhash_create(&h->lh, lk) ||
        pm_udptab_create(&h->ut, lk))
        err = -ENOMEM;
    h->nsocks = c.max_sockets;
    h->socks = calloc(c.max_sockets, sizeof *h->socks);
    h->tcbs = calloc(c.max_tcbs, sizeof *h->tcbs);
    if (!c.max_sock_ext) c.max_sock_ext = h->cfg.max_sock_ext = c.max_sockets / 16 + 64;
    h->xs = calloc(c.max_sock_ext, sizeof *h->xs);
    /* the TCB extension pool belongs to the stack (host_free_all frees it) */
    if (!c.max_tcp_ext) c.max_tcp_ext = h->cfg.max_tcp_ext = c.max_tcbs / 8 + 16;
    pm_tcp_stack_set_ext(&h->tcp, calloc(c.max_tcp_ext, sizeof(pm_tcp_ext)), c.max_tcp_ext);
    h->udpx = calloc(c.max_udp ? c.max_udp : 1, sizeof *h->udpx);
    /* calloc'ed rings: pages are touched only when a connection uses them */
    h->tcb_mem = calloc(c.max_tcbs, (size_t)c.tcp_sndbuf + c.tcp_rcvbuf);
    h->udpq = calloc(c.max_udp ? c.max_udp : 1, sizeof *h->udpq);
    h->udp_mem = calloc(c.max_udp ? c.max_udp : 1, c.udp_rcvbuf);
    h->out.mem = malloc((size_t)c.out_packets * PM_HOST_MIN_OUT);
    h->out.len = calloc(c.out_packets, sizeof *h->out.len);
    h->out.cap = c.out_packets;
    h->tw = calloc(c.max_tw ? c.max_tw : 1, sizeof *h->tw);
    h->scratch_cap = PM_HOST_MIN_OUT;
    h->scratch = malloc(h->scratch_cap);
    if (err || !h->socks || !h->tcbs || !h->xs || !h->tcp.ext || !h->udpx || !h->tcb_mem ||
        !h->udpq || !h->udp_mem || !h->out.mem || !h->out.len || !h->tw || !h->scratch) {
        host_free_all(h);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < c.max_sockets; i++) {
        hsock *k = &h->socks[i];
        k->kind = SK_FREE;
        k->qnext = i + 1 < c.max_sockets ? i + 1 : NIL;
        k->tcb = NIL;
    }
    h->free_sock = 0;
    for (uint32_t i = 0; i < c.max_tcbs; i++) tcb_link(h, i, i + 1 < c.max_tcbs ? i + 1 : NIL);
    h->free_tcb = 0;
    for (uint32_t i = 0; i < c.max_sock_ext; i++)
        h->xs[i].acc_head = i + 1 < c.max_sock_ext ? i + 1 : NIL;
    h->free_x = 0;
    for (uint32_t i = 0; i < c.max_udp; i++) h->udpq[i].head = i + 1 < c.max_udp ? i + 1 : NIL;
    h->free_udp = c.max_udp ? 0 : NIL;
    h->dirty_head = h->dirty_tail = h->ready_head = h->ready_tail = NIL;
    wheel_init(&h->wh, 0);
    h->icmp_lim.tokens = c.icmp_msgs_burst;
    *out = h;
    return 0;
}

void pm_host_destroy(pm_host *h)
{
    if (h) host_free_all(h);
}

void pm_host_get_stats(const pm_host *h, pm_host_stats *s)
{
    *s = h->st;
    s->sockets = s->tcbs = 0;
    for (uint32_t i = 0; i < h->nsocks; i++)
        if (h->socks[i].kind != SK_FREE) s->sockets++;
    s->tcbs = h->ntcbs_used;
    pm_ehash_stats es;
    pm_ehash_stats_get(h->eh, &es);
    s->time_wait = es.timewait;
    s->bind_owners = pm_bind_get_stats(h->bt).owners;
    s->eph_conns = pm_eph_get_stats(h->eph).conns;
    s->udp_queues = 0;
    for (uint32_t i = 0; i < h->nsocks; i++)
        if (h->socks[i].kind == SK_UDP) s->udp_queues++;
}

void pm_host_conn_mem_get(const pm_host *h, pm_host_conn_mem *m)
{
    memset(m, 0, sizeof *m);
    pm_ehash_stats es;
    pm_ehash_stats_get(h->eh, &es);
    m->established = es.established;
    m->socket = sizeof(hsock);
    m->tcb = sizeof(pm_tcp);
    if (!es.established) return;
    double n = (double)es.established;
    m->demux = ((double)es.bytes - 48.0 * h->cfg.max_tw) / n;
    m->side = (double)h->cfg.max_sock_ext * sizeof(hsock_x) / n;
    m->tcp_ext = (double)h->cfg.max_tcp_ext * sizeof(pm_tcp_ext) / n;
    pm_bind_stats bs = pm_bind_get_stats(h->bt);
    pm_eph_stats ps = pm_eph_get_stats(h->eph);
    m->ports = ((double)bs.bytes_in_use + (double)ps.bytes_in_use) / n;
    m->total = (double)m->socket + (double)m->tcb + m->demux + m->side + m->tcp_ext + m->ports;
}

const pm_wire_stats *pm_host_wire_stats(const pm_host *h)
{
    return &h->wire;
}

const pm_tcp_stats *pm_host_tcp_stats(const pm_host *h)
{
    return &h->tcp.stats;
}

bool host_is_local(const pm_host *h, const pm_ip *ip)
{
    if (!h->cfg.n_local) return true;
    if (pm_ip_is_loopback(ip)) return true;
    for (unsigned i = 0; i < h->cfg.n_local; i++)
        if (pm_ip_eq(&h->cfg.local[i], ip)) return true;
    return false;
}

/* ---- Entry points ---------------------------------------------------- */

static void tick(pm_host *h, uint64_t now)
{
    if (now > h->now) h->now = now;
    wheel_run(h, h->now);
    host_tw_expire(h, h->now);
}

int pm_host_input(pm_host *h, const uint8_t *pkt, size_t len, uint64_t now)
{
    return pm_host_input_flags(h, pkt, len, 0, now);
}

int pm_host_input_flags(pm_host *h, const uint8_t *pkt, size_t len, unsigned flags, uint64_t now)
{
    tick(h, now);
    h->st.in_packets++;
    pm_packet p;
    int r = pm_packet_parse_flags(pkt, len, flags, &p, &h->wire);
    if (r < 0) {
        h->st.in_errors++;
        return r;
    }
    if (!host_is_local(h, &p.ip.dst) && !pm_ip_is_multicast(&p.ip.dst)) {
        h->st.not_local++;
        return -EADDRNOTAVAIL;
    }
    switch (p.ip.proto) {
    case PM_IPPROTO_TCP: host_tcp_input(h, &p); break;
    case PM_IPPROTO_UDP: host_udp_input(h, &p, pkt, len); break;
    default: /* ICMP, ICMPv6 */ host_icmp_input(h, &p, pkt, len); break;
    }
    return 0;
}

int pm_host_output(pm_host *h, uint8_t *buf, size_t cap, uint64_t now)
{
    if (cap < PM_HOST_MIN_OUT) return -ENOSPC;
    tick(h, now);
    for (;;) {
        outq *q = &h->out;
        if (q->n) {
            uint32_t i = q->head;
            int n = q->len[i];
            memcpy(buf, q->mem + (size_t)i * PM_HOST_MIN_OUT, (size_t)n);
            q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
            q->n--;
            h->st.out_packets++;
            return n;
        }
        if (h->dirty_head == NIL) return 0;
        hsock *s = &h->socks[h->dirty_head];
        h->dirty_head = s->dnext;
        if (h->dirty_head == NIL) h->dirty_tail = NIL;
        s->f &= ~(uint32_t)SF_IN_DIRTY;
        if (s->tcb != NIL && s->type == PM_SOCK_STREAM && s->kind != SK_DEAD)
            host_tcp_after(h, s, 0);
    }
}

uint64_t pm_host_next_deadline(const pm_host *h)
{
    uint64_t d = wheel_next(h), at;
    if (pm_ehash_tw_next_expiry(h->eh, h->now, &at) && at < d) d = at;
    if ((h->out.n || h->dirty_head != NIL) && h->now < d) d = h->now;
    return d;
}

void pm_host_advance(pm_host *h, uint64_t now)
{
    tick(h, now);
}

static void tw_recycled_cb(void *ctx, const pm_tw_entry *e)
{
    pm_host *h = ctx;
    h->st.tw_recycled++;
    /* The ring's head is being recycled: release what it held. */
    host_tw_release_head(h, &e->tuple);
}
