/* setsockopt / getsockopt with Linux's levels, names, sizes and errno. */
#include <errno.h>
#include <string.h>

#include "host/host_internal.h"

#define SOCK_MIN_RCVBUF 2304    /* Linux: 2048 + sizeof(struct sk_buff), x86-64 */
#define SOCK_MIN_SNDBUF 4608    /* 2 * SOCK_MIN_RCVBUF */
#define SYSCTL_MEM_MAX  212992u /* net.core.rmem_max / wmem_max */

static int get_int(const void *val, size_t len, int *out)
{
    if (!val || len < sizeof(int)) return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

static void set_flag(hsock *s, uint32_t f, bool on)
{
    if (on)
        s->f |= f;
    else
        s->f &= ~f;
}

/* Linux sock_setsockopt(SO_RCVBUF/SO_SNDBUF): clamped to the sysctl max,
 * doubled for bookkeeping; FreeBSD keeps the value as asked. */
static uint32_t buf_value(const pm_host *h, int v, bool rcv)
{
    if (h->cfg.personality == PM_PERS_FREEBSD) return v < 1 ? 1u : (uint32_t)v;
    uint32_t u = v < 0 ? 0 : (uint32_t)v;
    if (u > SYSCTL_MEM_MAX) u = SYSCTL_MEM_MAX;
    u *= 2;
    uint32_t min = rcv ? SOCK_MIN_RCVBUF : SOCK_MIN_SNDBUF;
    return u < min ? min : u;
}

int pm_sock_setsockopt(pm_host *h, int fd, int level, int name, const void *val, size_t len)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    int v = 0, err;
    if (level == PM_SOL_SOCKET) {
        if (name == PM_SO_LINGER) {
            if (!val || len < sizeof(pm_linger)) return -EINVAL;
            pm_linger l;
            memcpy(&l, val, sizeof l);
            uint16_t secs = (uint16_t)(l.l_linger < 0       ? 0
                                       : l.l_linger > 65535 ? 65535
                                                            : l.l_linger);
            /* the time needs a side record; {1,0} (abort) and off do not */
            hsock_x *x = secs ? host_x_get(h, s) : sk_x(h, s);
            if (secs && !x) return -ENOBUFS;
            if (x) x->linger_s = secs;
            set_flag(s, SF_LINGER, l.l_onoff != 0);
            return 0;
        }
        if ((err = get_int(val, len, &v))) return err;
        switch (name) {
        case PM_SO_REUSEADDR:
        case PM_SO_REUSEPORT:
            set_flag(s, name == PM_SO_REUSEADDR ? SF_REUSEADDR : SF_REUSEPORT, v != 0);
            /* the handle may change (a grouped owner takes a record) */
            if (s->bid != PM_BIND_NONE)
                pm_bind_set_reuse(h->bt, &s->bid, (s->f & SF_REUSEADDR) != 0,
                                  (s->f & SF_REUSEPORT) != 0);
            return 0;
        case PM_SO_RCVBUF: {
            hsock_x *x = host_x_get(h, s);
            if (!x) return -ENOBUFS;
            x->rcvbuf = buf_value(h, v, true);
            s->f |= SF_RCVBUF_SET;
            if (s->type == PM_SOCK_DGRAM) {
                pm_udp_queue *q = &h->udpq[s->tcb];
                q->limit = x->rcvbuf < q->cap ? x->rcvbuf : q->cap;
            }
            return 0;
        }
        case PM_SO_SNDBUF: {
            hsock_x *x = host_x_get(h, s);
            if (!x) return -ENOBUFS;
            x->sndbuf = buf_value(h, v, false);
            s->f |= SF_SNDBUF_SET;
            return 0;
        }
        default: return -ENOPROTOOPT;
        }
    }
    if (level == PM_SOL_TCP) {
        if (s->type != PM_SOCK_STREAM) return -ENOPROTOOPT;
        if ((err = get_int(val, len, &v))) return err;
        pm_tcp *tcb = s->kind == SK_CONN ? sk_tcb(h, s) : NULL;
        switch (name) {
        case PM_TCP_NODELAY:
            set_flag(s, SF_NODELAY, v != 0);
            if (tcb) {
                pm_tcp_set_nodelay(tcb, v != 0);
                host_tcp_after(h, s, 0); /* pending data goes now */
            }
            return 0;
        case PM_TCP_MAXSEG:
            /* do_tcp_setsockopt(): TCP_MIN_MSS 88 .. MAX_TCP_WINDOW */
            if (v && (v < 88 || v > 32767)) return -EINVAL;
            hsock_x *x = v || sk_x(h, s) ? host_x_get(h, s) : NULL;
            if (v && !x) return -ENOBUFS;
            if (x) x->maxseg = (uint16_t)v;
            if (tcb && tcb->state == PM_TCP_SYN_SENT) pm_tcp_set_maxseg(tcb, v);
            return 0;
        default: return -ENOPROTOOPT;
        }
    }
    if (level == PM_SOL_IP) {
        if ((err = get_int(val, len, &v))) return err;
        switch (name) {
        case PM_IP_BIND_ADDRESS_NO_PORT: set_flag(s, SF_NO_PORT, v != 0); return 0;
        case PM_IP_LOCAL_PORT_RANGE: {
            uint32_t u = (uint32_t)v;
            uint16_t lo = (uint16_t)u, hi = (uint16_t)(u >> 16);
            if (lo && hi && lo > hi) return -EINVAL; /* do_ip_setsockopt() */
            hsock_x *x = lo || hi || sk_x(h, s) ? host_x_get(h, s) : NULL;
            if ((lo || hi) && !x) return -ENOBUFS;
            if (x) x->range_lo = lo, x->range_hi = hi;
            return 0;
        }
        default: return -ENOPROTOOPT;
        }
    }
    if (level == PM_SOL_IPV6) {
        if (s->family != PM_AF_INET6) return -ENOPROTOOPT;
        if ((err = get_int(val, len, &v))) return err;
        if (name != PM_IPV6_V6ONLY) return -ENOPROTOOPT;
        /* do_ipv6_setsockopt(): not once bound */
        if (s->bid != PM_BIND_NONE || (s->f & SF_BOUND_ADDR) || s->kind != SK_OPEN) {
            if (s->kind != SK_UDP || s->bid != PM_BIND_NONE) return -EINVAL;
        }
        set_flag(s, SF_V6ONLY, v != 0);
        return 0;
    }
    return -ENOPROTOOPT;
}

static int put_int(void *val, size_t *len, int v)
{
    if (!val || !len) return -EFAULT;
    if (*len < sizeof(int)) return -EINVAL;
    memcpy(val, &v, sizeof v);
    *len = sizeof v;
    return 0;
}

/* FreeBSD tcp_mss_update(): once the MSS is known the buffers round up to
 * a multiple of it (65536 -> 65700 for MSS 1460). */
static uint32_t freebsd_round(const pm_host *h, const hsock *s, uint32_t v)
{
    if (h->cfg.personality != PM_PERS_FREEBSD || s->kind != SK_CONN) return v;
    pm_tcp *tcb = &h->tcbs[s->tcb];
    if (tcb->state < PM_TCP_SYN_RCVD || !tcb->mss) return v;
    uint32_t mss = tcb->mss + ((tcb->opts & PM_TCPO_TS) ? 12 : 0);
    return (v + mss - 1) / mss * mss;
}

int pm_sock_getsockopt(pm_host *h, int fd, int level, int name, void *val, size_t *len)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (level == PM_SOL_SOCKET) {
        switch (name) {
        case PM_SO_REUSEADDR: return put_int(val, len, (s->f & SF_REUSEADDR) != 0);
        case PM_SO_REUSEPORT: return put_int(val, len, (s->f & SF_REUSEPORT) != 0);
        case PM_SO_TYPE: return put_int(val, len, s->type);
        case PM_SO_DOMAIN: return put_int(val, len, s->family);
        case PM_SO_PROTOCOL:
            return put_int(val, len, s->type == PM_SOCK_STREAM ? PM_IPPROTO_TCP : PM_IPPROTO_UDP);
        case PM_SO_ACCEPTCONN: return put_int(val, len, s->kind == SK_LISTEN);
        case PM_SO_RCVBUF: return put_int(val, len, (int)freebsd_round(h, s, sk_rcvbuf(h, s)));
        case PM_SO_SNDBUF: return put_int(val, len, (int)freebsd_round(h, s, sk_sndbuf(h, s)));
        case PM_SO_ERROR: {
            int e = s->so_error;
            s->so_error = 0;
            if (!e && s->kind == SK_CONN) e = -pm_tcp_error(sk_tcb(h, s));
            return put_int(val, len, e);
        }
        case PM_SO_LINGER: {
            if (!val || !len || *len < sizeof(pm_linger)) return -EINVAL;
            pm_linger l = {(s->f & SF_LINGER) != 0, sk_linger_s(h, s)};
            memcpy(val, &l, sizeof l);
            *len = sizeof l;
            return 0;
        }
        default: return -ENOPROTOOPT;
        }
    }
    if (level == PM_SOL_TCP) {
        if (s->type != PM_SOCK_STREAM) return -EOPNOTSUPP;
        switch (name) {
        case PM_TCP_NODELAY: return put_int(val, len, (s->f & SF_NODELAY) != 0);
        case PM_TCP_MAXSEG: {
            /* do_tcp_getsockopt(): mss_cache once connected, else user_mss
             * or TCP_MSS_DEFAULT */
            pm_tcp *tcb = s->kind == SK_CONN ? sk_tcb(h, s) : NULL;
            if (tcb && tcb->state >= PM_TCP_ESTABLISHED) return put_int(val, len, tcb->mss);
            return put_int(val, len, sk_maxseg(h, s) ? sk_maxseg(h, s) : 536);
        }
        default: return -ENOPROTOOPT;
        }
    }
    if (level == PM_SOL_IP) {
        switch (name) {
        case PM_IP_BIND_ADDRESS_NO_PORT: return put_int(val, len, (s->f & SF_NO_PORT) != 0);
        case PM_IP_LOCAL_PORT_RANGE: {
            const hsock_x *x = sk_x(h, s);
            return put_int(val, len, x ? (int)((uint32_t)x->range_hi << 16 | x->range_lo) : 0);
        }
        default: return -ENOPROTOOPT;
        }
    }
    if (level == PM_SOL_IPV6) {
        if (s->family != PM_AF_INET6 || name != PM_IPV6_V6ONLY) return -ENOPROTOOPT;
        return put_int(val, len, (s->f & SF_V6ONLY) != 0);
    }
    return -ENOPROTOOPT;
}
