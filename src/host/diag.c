/* Diagnostics (every socket, as ss needs them) and knobs by name. */
#include <errno.h>
#include <string.h>

#include "host/host_internal.h"

static int sock_state(const pm_host *h, const hsock *s)
{
    switch (s->kind) {
    case SK_LISTEN: return PM_TCP_LISTEN;
    case SK_UDP: return (s->f & SF_CONNECTED) ? PM_TCP_ESTABLISHED : PM_TCP_CLOSED;
    case SK_CONN:
    case SK_CHILD:
    case SK_ORPHAN: return s->tcb != NIL ? h->tcbs[s->tcb].state : PM_TCP_CLOSED;
    default: return PM_TCP_CLOSED;
    }
}

static bool fill(const pm_host *h, uint32_t i, uint64_t now, pm_host_sock_info *o)
{
    const hsock *s = &h->socks[i];
    if (s->kind == SK_FREE) return false;
    memset(o, 0, sizeof *o);
    o->fd = (s->kind == SK_CHILD || s->kind == SK_ORPHAN) ? -1 : (int)i;
    o->proto = s->type == PM_SOCK_STREAM ? PM_IPPROTO_TCP : PM_IPPROTO_UDP;
    o->family = s->family;
    o->state = (uint8_t)sock_state(h, s);
    o->v6only = (s->f & SF_V6ONLY) != 0;
    o->local = sk_local(h, s);
    o->remote = sk_remote(h, s);
    o->uid = s->uid;
    o->shutdown = (uint8_t)(((s->f & SF_SHUT_RD) ? 1 : 0) | ((s->f & SF_SHUT_WR) ? 2 : 0));
    if (s->kind == SK_LISTEN) {
        o->rqueue = h->xs[s->x].acc_len;
        o->wqueue = h->xs[s->x].backlog;
    } else if (s->type == PM_SOCK_DGRAM) {
        o->rqueue = h->udpq[s->tcb].bytes;
    } else if (s->tcb != NIL) {
        const pm_tcp *t = &h->tcbs[s->tcb];
        o->rqueue = t->rcv_len;
        o->wqueue = t->snd_len;
        o->retrans = t->backoff;
        if (t->timer == PM_TCP_TIMER_RTX) o->timer = 1;
        if (t->timer == PM_TCP_TIMER_TLP) o->timer = 1; /* Linux: ICSK_TIME_LOSS_PROBE is "on" */
        if (t->timer == PM_TCP_TIMER_PERSIST) o->timer = 4;
        if (t->timer == PM_TCP_TIMER_FIN_WAIT_2) o->timer = 3;
        if (o->timer && t->timer_at > now) o->timer_us = t->timer_at - now;
    }
    return true;
}

size_t pm_host_sockets(const pm_host *h, uint64_t now,
                       int (*fn)(void *arg, const pm_host_sock_info *s), void *arg)
{
    size_t n = 0;
    pm_host_sock_info o;
    for (uint32_t i = 0; i < h->nsocks; i++) {
        if (!fill(h, i, now, &o)) continue;
        n++;
        if (fn && fn(arg, &o)) return n;
    }
    for (uint32_t pos = 0; pos < h->cfg.max_tw; pos++) {
        const tw_side *d = &h->tw[pos];
        pm_tw_entry e;
        if (!d->hash || pm_ehash_tw_get(h->eh, PM_EHASH_TW | pos, &e) < 0) continue;
        memset(&o, 0, sizeof o);
        o.fd = -1;
        o.proto = PM_IPPROTO_TCP;
        o.family = d->family;
        o.state = PM_TCP_TIME_WAIT;
        o.timer = 3;
        o.timer_us = e.expire > now ? e.expire - now : 0;
        o.local = (pm_sockaddr){d->family, e.tuple.lport, e.tuple.laddr};
        o.remote = (pm_sockaddr){d->family, e.tuple.fport, e.tuple.faddr};
        o.uid = d->uid;
        n++;
        if (fn && fn(arg, &o)) return n;
    }
    return n;
}

typedef struct count_arg {
    int proto, family, state;
    size_t n;
} count_arg;

static int count_fn(void *arg, const pm_host_sock_info *s)
{
    count_arg *c = arg;
    if (c->proto && s->proto != c->proto) return 0;
    if (c->family && s->family != c->family) return 0;
    if (c->state >= 0 && s->state != c->state) return 0;
    c->n++;
    return 0;
}

size_t pm_host_count(const pm_host *h, int proto, int family, int state)
{
    count_arg c = {proto, family, state, 0};
    pm_host_sockets(h, h->now, count_fn, &c);
    return c.n;
}

/* ---- Knobs ------------------------------------------------------------------- */

static bool as_bool(int64_t v)
{
    return v != 0;
}

int pm_host_knob_set(pm_host *h, const char *name, int64_t v, int64_t v2)
{
    pm_tcp_config *t = &h->tcp.cfg;
    if (v < 0 && strcmp(name, "local_port_range")) return -EINVAL;
    if (!strcmp(name, "msl_ms")) {
        if (v <= 0 || v * 2000 >= (1ll << 31)) return -EINVAL;
        t->msl_us = (uint32_t)(v * 1000); /* ehash keeps the TIME_WAIT length of creation */
    } else if (!strcmp(name, "tw_reuse")) {
        if (v > 2) return -EINVAL;
        h->cfg.tw_reuse = (uint8_t)v; /* the allocator keeps its creation value */
    } else if (!strcmp(name, "blackhole")) {
        if (v > 2) return -EINVAL;
        h->cfg.blackhole = (uint8_t)v;
    } else if (!strcmp(name, "udp_blackhole")) {
        h->cfg.udp_blackhole = as_bool(v);
    } else if (!strcmp(name, "recvspace")) {
        t->rmem_default = (uint32_t)v;
    } else if (!strcmp(name, "sendspace")) {
        t->wmem_default = (uint32_t)v;
    } else if (!strcmp(name, "hostcache_purge")) {
        /* no host cache: nothing to purge */
    } else if (!strcmp(name, "ecn")) {
        /* no ECN: 0, or 2 (answer ECN-setup SYNs only; they get no ECE
         * here, which a script that sends one will see) */
        if (v != 0 && v != 2) return -ENOTSUP;
    } else if (!strcmp(name, "maxsockbuf")) {
        if ((uint64_t)v != t->rmem_max) return -ENOTSUP; /* sets the window scale at creation */
    } else if (!strcmp(name, "tw_reuse_delay_ms")) {
        h->cfg.tw_reuse_delay_us = (uint32_t)(v * 1000);
    } else if (!strcmp(name, "timestamps") || !strcmp(name, "rfc1323")) {
        t->timestamps = as_bool(v);
        if (!strcmp(name, "rfc1323")) t->window_scaling = as_bool(v);
    } else if (!strcmp(name, "window_scaling")) {
        t->window_scaling = as_bool(v);
    } else if (!strcmp(name, "sack")) {
        t->sack = as_bool(v);
    } else if (!strcmp(name, "rfc1337")) {
        t->rfc1337 = as_bool(v);
    } else if (!strcmp(name, "insecure_rst") || !strcmp(name, "insecure_syn")) {
        t->rfc5961 = !as_bool(v);
    } else if (!strcmp(name, "fin_timeout_s")) {
        t->fin_timeout_us = (uint32_t)(v * 1000000);
    } else if (!strcmp(name, "max_syn_backlog")) {
        h->cfg.max_syn_backlog = (uint32_t)v;
    } else if (!strcmp(name, "somaxconn")) {
        h->cfg.somaxconn = (uint32_t)v;
    } else if (!strcmp(name, "syncookies")) {
        if (v > 2) return -EINVAL;
        h->cfg.syncookies = (uint8_t)v;
    } else if (!strcmp(name, "syn_retries")) {
        t->syn_retries = (uint8_t)v;
    } else if (!strcmp(name, "synack_retries")) {
        t->synack_retries = (uint8_t)v;
    } else if (!strcmp(name, "challenge_ack_limit")) {
        t->challenge_ack_limit = (uint32_t)v;
    } else if (!strcmp(name, "invalid_ratelimit_ms")) {
        t->invalid_ratelimit_us = (uint32_t)(v * 1000);
    } else if (!strcmp(name, "mssdflt")) {
        t->mss_default = (uint16_t)v;
    } else if (!strcmp(name, "rexmit_initial_ms")) {
        t->rto_initial_us = (uint32_t)(v * 1000);
    } else if (!strcmp(name, "rexmit_min_ms")) {
        t->rto_min_us = (uint32_t)(v * 1000);
    } else if (!strcmp(name, "icmp_msgs_per_sec")) {
        h->cfg.icmp_msgs_per_sec = (uint32_t)v;
    } else if (!strcmp(name, "icmp_msgs_burst")) {
        h->cfg.icmp_msgs_burst = (uint32_t)v;
    } else if (!strcmp(name, "icmp_echo_ignore_all")) {
        h->cfg.icmp_echo_ignore_all = as_bool(v);
    } else if (!strcmp(name, "unprivileged_port_start")) {
        if (v > 65535) return -EINVAL;
        h->cfg.unprivileged_port_start = (uint16_t)v;
        pm_bind_set_unprivileged_port_start(h->bt, (uint16_t)v);
    } else if (!strcmp(name, "local_port_range") || !strcmp(name, "ephemeral_first") ||
               !strcmp(name, "ephemeral_last")) {
        pm_port_range r = h->cfg.local_port_range;
        if (!strcmp(name, "local_port_range")) {
            r.lo = (uint16_t)v;
            r.hi = (uint16_t)v2;
            if (v < 1 || v > 65535 || v2 < 1 || v2 > 65535) return -EINVAL;
        } else if (!strcmp(name, "ephemeral_first")) {
            r.lo = (uint16_t)v;
        } else {
            r.hi = (uint16_t)v;
        }
        int err = pm_eph_set_range(h->eph, r);
        if (err) return err;
        h->cfg.local_port_range = r;
    } else if (!strcmp(name, "max_tw_buckets")) {
        if (v > h->cfg.max_tw) return -EINVAL;
    } else {
        return -ENOENT;
    }
    h->cfg.tcp = *t;
    return 0;
}

int pm_host_knob_get(const pm_host *h, const char *name, int64_t *v)
{
    const pm_tcp_config *t = &h->tcp.cfg;
    if (!strcmp(name, "msl_ms"))
        *v = t->msl_us / 1000;
    else if (!strcmp(name, "tw_reuse"))
        *v = h->cfg.tw_reuse;
    else if (!strcmp(name, "timestamps"))
        *v = t->timestamps;
    else if (!strcmp(name, "window_scaling"))
        *v = t->window_scaling;
    else if (!strcmp(name, "sack"))
        *v = t->sack;
    else if (!strcmp(name, "rfc1337"))
        *v = t->rfc1337;
    else if (!strcmp(name, "fin_timeout_s"))
        *v = t->fin_timeout_us / 1000000;
    else if (!strcmp(name, "max_tw_buckets"))
        *v = h->cfg.max_tw;
    else if (!strcmp(name, "max_syn_backlog"))
        *v = h->cfg.max_syn_backlog;
    else if (!strcmp(name, "somaxconn"))
        *v = h->cfg.somaxconn;
    else if (!strcmp(name, "syncookies"))
        *v = h->cfg.syncookies;
    else if (!strcmp(name, "ephemeral_first"))
        *v = h->cfg.local_port_range.lo;
    else if (!strcmp(name, "ephemeral_last"))
        *v = h->cfg.local_port_range.hi;
    else if (!strcmp(name, "unprivileged_port_start"))
        *v = h->cfg.unprivileged_port_start;
    else if (!strcmp(name, "icmp_msgs_per_sec"))
        *v = h->cfg.icmp_msgs_per_sec;
    else
        return -ENOENT;
    return 0;
}
