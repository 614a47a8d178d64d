/* The socket API (socket.h) for TCP and UDP, with Linux's errno values.
 * Each call cites the kernel function whose checks it mirrors. */
#include <errno.h>
#include <string.h>

#include "host/host_internal.h"

int host_sock_bind_opts(const hsock *s, pm_bind_opts *o)
{
    o->family = s->family;
    o->reuseaddr = (s->f & SF_REUSEADDR) != 0;
    o->reuseport = (s->f & SF_REUSEPORT) != 0;
    o->v6only = (s->f & SF_V6ONLY) != 0;
    return 0;
}

static uint8_t sk_proto(const hsock *s)
{
    return s->type == PM_SOCK_STREAM ? PM_IPPROTO_TCP : PM_IPPROTO_UDP;
}

static const pm_port_range *sk_range(pm_host *h, const hsock *s, pm_port_range *r)
{
    const hsock_x *x = sk_x(h, s);
    if (!x || (!x->range_lo && !x->range_hi)) return NULL;
    r->lo = x->range_lo;
    r->hi = x->range_hi;
    return r;
}

int pm_sock_socket(pm_host *h, int family, int type, const pm_cred *cred)
{
    /* Linux __sock_create() / inet_create() */
    if (family != PM_AF_INET && family != PM_AF_INET6) return -EAFNOSUPPORT;
    if (type <= 0 || type > 10) return -EINVAL;
    if (type != PM_SOCK_STREAM && type != PM_SOCK_DGRAM) return -ESOCKTNOSUPPORT;
    uint32_t q = NIL;
    if (type == PM_SOCK_DGRAM) {
        if (h->free_udp == NIL) {
            h->st.udp_pool_full++;
            return -ENOBUFS;
        }
        q = h->free_udp;
    }
    hsock *s = host_sock_alloc(h);
    if (!s) return -EMFILE;
    s->type = (uint8_t)type;
    s->family = (uint8_t)family;
    s->uid = cred ? cred->uid : 0;
    if (type == PM_SOCK_DGRAM) {
        h->free_udp = h->udpq[q].head;
        pm_udp_queue_init(&h->udpq[q], h->udp_mem + (size_t)q * h->cfg.udp_rcvbuf,
                          h->cfg.udp_rcvbuf);
        s->tcb = q;
        s->kind = SK_UDP;
        hsock_x *x = &h->udpx[q];
        memset(x, 0, sizeof *x);
        x->rcvbuf = x->sndbuf = 212992; /* net.core.rmem_default / wmem_default */
        x->local = x->remote =
            (pm_sockaddr){(uint16_t)family, 0, family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6};
    }
    /* a TCP socket has no side record until it needs one (sk_rcvbuf gives
     * tcp_rmem[1] and tcp_wmem[1] meanwhile) */
    return (int)sk_index(h, s);
}

/* Linux inet_bind() / inet6_bind(): the address must be the socket's
 * family, and an IPv4 socket holds only IPv4. */
static int check_family(const hsock *s, const pm_sockaddr *sa)
{
    if (sa->family != s->family) return -EAFNOSUPPORT;
    if (s->family == PM_AF_INET && !pm_ip_is_v4(&sa->ip)) return -EAFNOSUPPORT;
    return 0;
}

static void udp_demux_sock(pm_host *h, const hsock *s, pm_demux_sock *d)
{
    const hsock_x *x = sk_x(h, s);
    memset(d, 0, sizeof *d);
    d->family = s->family;
    d->lport = x->local.port;
    d->laddr = x->local.ip;
    if (s->f & SF_CONNECTED) {
        d->faddr = x->remote.ip;
        d->fport = x->remote.port;
    } else {
        d->faddr = pm_ip_any6;
    }
    d->v6only = (s->f & SF_V6ONLY) != 0;
    d->reuseport = (s->f & SF_REUSEPORT) != 0;
    d->handle = sk_index(h, s);
}

static void sync_v6only(pm_host *h, hsock *s)
{
    pm_bind_owner o;
    if (s->bid != PM_BIND_NONE && pm_bind_get(h->bt, s->bid, &o) == 0 && o.opts.v6only)
        s->f |= SF_V6ONLY;
}

int pm_sock_bind(pm_host *h, int fd, const pm_sockaddr *sa, const pm_cred *cred)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (!sa) return -EINVAL;
    int err = check_family(s, sa);
    if (err) return err;
    /* Linux inet_bind_sk(): an address that is not ours: -EADDRNOTAVAIL
     * (ip_nonlocal_bind 0); checked before the port. */
    if (!pm_ip_is_any(&sa->ip) && !pm_ip_is_multicast(&sa->ip) && !host_is_local(h, &sa->ip))
        return -EADDRNOTAVAIL;
    if (s->kind != SK_OPEN && s->kind != SK_UDP) return -EINVAL;
    /* Linux __inet_bind(): "already bound" is inet_num != 0; an address
     * recorded under IP_BIND_ADDRESS_NO_PORT may be bound again */
    if (s->bid != PM_BIND_NONE) {
        /* already bound: the privilege check still comes first in Linux */
        if (sa->port && sa->port < h->cfg.unprivileged_port_start &&
            !(cred && cred->cap_net_bind_service))
            return -EACCES;
        return -EINVAL;
    }
    pm_bind_opts o;
    host_sock_bind_opts(s, &o);
    pm_cred c = cred ? *cred : (pm_cred){0, false};
    pm_sockaddr a = *sa;
    hsock_x *x = host_x_get(h, s);
    if (!x) return -ENOBUFS;
    if (a.port == 0 && s->type == PM_SOCK_STREAM && (s->f & SF_NO_PORT)) {
        /* IP_BIND_ADDRESS_NO_PORT: the port waits for connect() */
        if (s->family == PM_AF_INET6 && pm_ip_is_v4(&a.ip) && (s->f & SF_V6ONLY)) return -EINVAL;
        x->local = a;
        s->f |= SF_BOUND_ADDR;
        return 0;
    }
    pm_port_range r;
    if (a.port == 0)
        err = pm_eph_bind(h->eph, sk_proto(s), &a, &o, &c, sk_range(h, s, &r), &s->bid);
    else
        err = pm_bind(h->bt, sk_proto(s), &a, &o, &c, &s->bid);
    if (err) return err;
    x->local = a;
    sync_v6only(h, s);
    if (s->type == PM_SOCK_DGRAM) {
        pm_demux_sock d;
        udp_demux_sock(h, s, &d);
        pm_udptab_insert(h->ut, &d);
    }
    return 0;
}

static int autobind(pm_host *h, hsock *s, const pm_cred *cred)
{
    pm_bind_opts o;
    host_sock_bind_opts(s, &o);
    pm_cred c = cred ? *cred : (pm_cred){0, false};
    hsock_x *x = host_x_get(h, s);
    if (!x) return -ENOBUFS;
    pm_sockaddr a = x->local;
    a.port = 0;
    pm_port_range r;
    int err = pm_eph_bind(h->eph, sk_proto(s), &a, &o, &c, sk_range(h, s, &r), &s->bid);
    if (err) return err;
    x->local = a;
    s->f &= ~(uint32_t)SF_BOUND_ADDR;
    return 0;
}

static void listener_demux_sock(pm_host *h, const hsock *s, pm_demux_sock *d)
{
    const hsock_x *x = sk_x(h, s);
    memset(d, 0, sizeof *d);
    d->family = s->family;
    d->lport = x->local.port;
    d->laddr = x->local.ip;
    d->faddr = pm_ip_any6;
    d->v6only = (s->f & SF_V6ONLY) != 0;
    d->reuseport = (s->f & SF_REUSEPORT) != 0;
    d->handle = sk_index(h, s);
}

int pm_sock_listen(pm_host *h, int fd, int backlog, const pm_cred *cred)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    /* Linux inet_listen(): stream sockets only, unconnected */
    if (s->type != PM_SOCK_STREAM) return -EOPNOTSUPP;
    uint32_t b = (unsigned)backlog > h->cfg.somaxconn ? h->cfg.somaxconn : (uint32_t)backlog;
    if (s->kind == SK_LISTEN) {
        sk_x(h, s)->backlog = b; /* Linux: only the backlog changes */
        return 0;
    }
    if (s->kind != SK_OPEN) return -EINVAL;
    hsock_x *x = host_x_get(h, s);
    if (!x) return -ENOBUFS;
    int err;
    if (s->bid == PM_BIND_NONE && (err = autobind(h, s, cred))) return err;
    if ((err = pm_bind_listen(h->bt, s->bid))) return err;
    pm_demux_sock d;
    listener_demux_sock(h, s, &d);
    if ((err = pm_lhash_insert(h->lh, &d))) return err;
    s->kind = SK_LISTEN;
    x->backlog = b;
    x->acc_head = x->acc_tail = NIL;
    x->acc_len = 0;
    x->syn_len = 0;
    return 0;
}

int pm_sock_accept(pm_host *h, int fd, pm_sockaddr *peer, const pm_cred *cred)
{
    (void)cred;
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (s->type != PM_SOCK_STREAM) return -EOPNOTSUPP;
    if (s->kind != SK_LISTEN) return -EINVAL; /* Linux inet_accept() */
    hsock_x *x = sk_x(h, s);
    if (x->acc_head == NIL) return -EAGAIN;
    uint32_t ci = x->acc_head;
    hsock *c = &h->socks[ci];
    x->acc_head = c->qnext;
    if (x->acc_head == NIL) x->acc_tail = NIL;
    x->acc_len--;
    c->qnext = NIL;
    c->parent = NIL;
    if (peer) *peer = sk_remote(h, c);
    c->kind = c->tcb != NIL ? SK_CONN : SK_DEAD;
    h->st.accepts++;
    host_mark_ready(h, c);
    return (int)ci;
}

/* Source address for a destination (the routing decision, simplified):
 * the bound address, else loopback for loopback, else the first local
 * address of the family. */
static int pick_source(const pm_host *h, const hsock *s, const pm_ip *dst, pm_ip *src)
{
    pm_sockaddr l = sk_local(h, s);
    if (!pm_ip_is_any(&l.ip)) {
        *src = l.ip;
        return 0;
    }
    bool v4 = pm_ip_is_v4(dst);
    if (pm_ip_is_loopback(dst)) {
        *src = v4 ? pm_ip4(0x7f000001) : (pm_ip){{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
        return 0;
    }
    for (unsigned i = 0; i < h->cfg.n_local; i++)
        if (pm_ip_is_v4(&h->cfg.local[i]) == v4) {
            *src = h->cfg.local[i];
            return 0;
        }
    return -ENETUNREACH;
}

/* Linux __inet_stream_connect(): later calls report what happened. */
static int connect_again(pm_host *h, hsock *s)
{
    if (s->f & SF_CONNECTED) return -EISCONN;
    if (s->kind == SK_CONN) {
        pm_tcp *tcb = sk_tcb(h, s);
        if (tcb->state == PM_TCP_SYN_SENT || tcb->state == PM_TCP_SYN_RCVD) return -EALREADY;
        s->f |= SF_CONNECTED;
        return 0;
    }
    /* SK_DEAD: the attempt failed (sock_error), the socket is unconnected again */
    if (s->f & SF_WAS_CONNECTED) return -EISCONN;
    int e = s->so_error ? -s->so_error : -ECONNABORTED;
    s->so_error = 0;
    hsock_x *x = sk_x(h, s);
    s->kind = SK_OPEN;
    if (x) {
        x->local.port = 0;
        if (!(s->f & SF_BOUND_ADDR))
            x->local.ip = s->family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6;
    }
    return e;
}

static int udp_connect(pm_host *h, hsock *s, const pm_sockaddr *sa, const pm_cred *cred)
{
    pm_demux_sock d;
    if (sa->family == 0) { /* AF_UNSPEC: udp_disconnect() */
        if (s->bid != PM_BIND_NONE) {
            udp_demux_sock(h, s, &d);
            pm_udptab_remove(h->ut, &d);
        }
        s->f &= ~(uint32_t)SF_CONNECTED;
        if (s->bid != PM_BIND_NONE) {
            udp_demux_sock(h, s, &d);
            pm_udptab_insert(h->ut, &d);
        }
        return 0;
    }
    int err = check_family(s, sa);
    if (err) return err;
    if (s->family == PM_AF_INET6 && pm_ip_is_v4(&sa->ip) && (s->f & SF_V6ONLY)) return -ENETUNREACH;
    pm_ip src;
    if ((err = pick_source(h, s, &sa->ip, &src))) return err;
    if (s->bid == PM_BIND_NONE) {
        if ((err = autobind(h, s, cred))) return err == -EADDRINUSE ? -EAGAIN : err;
    } else {
        udp_demux_sock(h, s, &d);
        pm_udptab_remove(h->ut, &d);
    }
    /* Linux ip4_datagram_connect(): a wildcard local address is set to the
     * route's source and the socket rehashed */
    hsock_x *x = sk_x(h, s);
    x->local.ip = src;
    x->remote = *sa;
    x->remote.family = s->family;
    s->f |= SF_CONNECTED;
    udp_demux_sock(h, s, &d);
    pm_udptab_insert(h->ut, &d);
    host_mark_ready(h, s);
    return 0;
}

int pm_sock_connect(pm_host *h, int fd, const pm_sockaddr *sa, const pm_cred *cred, uint64_t now)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (!sa) return -EINVAL;
    if (now > h->now) h->now = now;
    if (s->type == PM_SOCK_DGRAM) return udp_connect(h, s, sa, cred);
    if (s->kind == SK_LISTEN) return -EISCONN;
    if (s->kind == SK_CONN || s->kind == SK_DEAD) return connect_again(h, s);
    int err = check_family(s, sa);
    if (err) return err;
    /* Linux tcp_v6_connect(): a v4-mapped peer on a v6only socket */
    if (s->family == PM_AF_INET6 && pm_ip_is_v4(&sa->ip) && (s->f & SF_V6ONLY)) return -ENETUNREACH;
    if (pm_ip_is_multicast(&sa->ip)) return -ENETUNREACH; /* tcp_v4_connect() */
    pm_ip src;
    if ((err = pick_source(h, s, &sa->ip, &src))) return err;
    if (pm_ip_is_v4(&src) != pm_ip_is_v4(&sa->ip)) return -ENETUNREACH;
    pm_sockaddr local = sk_local(h, s);
    pm_eph_connect_req req = {
        .proto = PM_IPPROTO_TCP,
        .local = {s->family, local.port, src},
        .remote = *sa,
        .cred = cred ? *cred : (pm_cred){0, false},
        .now_us = now,
    };
    pm_port_range r;
    req.sock_range = sk_range(h, s, &r);
    host_sock_bind_opts(s, &req.opts);
    pm_eph_connect_res res;
    pm_bind_id bid = s->bid;
    h->connect_bound_port = local.port != 0;
    err = pm_eph_connect(h->eph, &req, &bid, &res);
    h->connect_bound_port = false;
    if (err) return err;
    s->bid = bid;
    s->f |= SF_EPH;
    pm_tuple t = {.laddr = src,
                  .faddr = sa->ip,
                  .lport = res.port,
                  .fport = sa->port,
                  .proto = PM_IPPROTO_TCP};
    if (res.reused_tw != PM_EPH_NONE) {
        /* tcp_twsk_unique(): the TIME_WAIT entry gives its tuple away;
         * its ports were released by the allocator already. */
        uint32_t ref = pm_ehash_lookup(h->eh, &t);
        if (pm_ehash_is_tw(ref)) {
            memset(&h->tw[ref & ~PM_EHASH_TW], 0, sizeof(tw_side));
            pm_ehash_tw_remove(h->eh, ref);
        }
        h->st.tw_reused++;
    }
    if ((err = host_tcb_alloc(h, s)) < 0) goto fail;
    pm_tcp *tcb = sk_tcb(h, s);
    if ((err = pm_tcp_connect(&h->tcp, tcb, &t, 0, now)) < 0) goto fail_tcb;
    if (pm_ehash_insert(h->eh, &t, (uint32_t)fd) < 0) {
        err = -EADDRNOTAVAIL;
        goto fail_tcb;
    }
    s->kind = SK_CONN; /* the names are the TCB's now */
    s->f &= ~(uint32_t)(SF_CONNECTED | SF_BOUND_ADDR);
    host_x_trim(h, s);
    host_tcp_after(h, s, 0);
    return -EINPROGRESS;
fail_tcb:
    host_tcb_free(h, s);
fail:
    pm_eph_release(h->eph, res.conn);
    pm_bind_release(h->bt, s->bid);
    s->f &= ~(uint32_t)SF_EPH;
    s->bid = PM_BIND_NONE;
    return err;
}

/* ---- Data ---------------------------------------------------------------- */

static long udp_send(pm_host *h, hsock *s, const void *buf, size_t len, const pm_sockaddr *to,
                     const pm_cred *cred)
{
    if (s->f & SF_SHUT_WR) return -EPIPE;
    pm_sockaddr dst;
    if (to && to->family) {
        int err = check_family(s, to);
        if (err) return err;
        dst = *to;
    } else {
        if (!(s->f & SF_CONNECTED)) return -EDESTADDRREQ;
        dst = sk_x(h, s)->remote;
    }
    if (dst.port == 0) return -EINVAL; /* udp_sendmsg(): dport 0 */
    if (s->family == PM_AF_INET6 && pm_ip_is_v4(&dst.ip) && (s->f & SF_V6ONLY)) return -ENETUNREACH;
    if (len > 65507) return -EMSGSIZE;
    size_t hdr = (pm_ip_is_v4(&dst.ip) ? 20 : 40) + 8;
    if (len + hdr > 1500) return -EMSGSIZE; /* no fragmentation: one MTU */
    pm_ip src;
    int err = pick_source(h, s, &dst.ip, &src);
    if (err) return err;
    if (pm_ip_is_v4(&src) != pm_ip_is_v4(&dst.ip)) return -ENETUNREACH;
    if (s->bid == PM_BIND_NONE) {
        if ((err = autobind(h, s, cred))) return err == -EADDRINUSE ? -EAGAIN : err;
        pm_demux_sock d;
        udp_demux_sock(h, s, &d);
        pm_udptab_insert(h->ut, &d);
    }
    pm_packet p;
    memset(&p.ip, 0, sizeof p.ip);
    p.ip.version = pm_ip_is_v4(&dst.ip) ? 4 : 6;
    p.ip.proto = PM_IPPROTO_UDP;
    p.ip.ttl = h->cfg.tcp.ttl;
    p.ip.src = src;
    p.ip.dst = dst.ip;
    p.udp.sport = sk_x(h, s)->local.port;
    p.udp.dport = dst.port;
    p.udp.payload = buf;
    p.udp.payload_len = len;
    if (host_emit(h, &p) < 0) return -ENOBUFS;
    h->st.udp_out++;
    return (long)len;
}

long pm_sock_sendto(pm_host *h, int fd, const void *buf, size_t len, const pm_sockaddr *to,
                    const pm_cred *cred, uint64_t now)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (now > h->now) h->now = now;
    if (s->type == PM_SOCK_DGRAM) return udp_send(h, s, buf, len, to, cred);
    return pm_sock_send(h, fd, buf, len, now); /* TCP ignores the address */
}

long pm_sock_send(pm_host *h, int fd, const void *buf, size_t len, uint64_t now)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (now > h->now) h->now = now;
    if (s->type == PM_SOCK_DGRAM) return udp_send(h, s, buf, len, NULL, NULL);
    if (s->kind == SK_DEAD && s->so_error) {
        int e = s->so_error;
        s->so_error = 0;
        return -e;
    }
    if (s->kind != SK_CONN) return -EPIPE; /* sk_stream_wait_connect() */
    pm_tcp *tcb = sk_tcb(h, s);
    long n = pm_tcp_send(&h->tcp, tcb, buf, len, now);
    host_tcp_after(h, s, 0);
    return n;
}

long pm_sock_recvfrom(pm_host *h, int fd, void *buf, size_t len, pm_sockaddr *from, uint64_t now)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (now > h->now) h->now = now;
    if (s->type == PM_SOCK_DGRAM) {
        if (s->so_error) {
            int e = s->so_error;
            s->so_error = 0;
            return -e;
        }
        pm_sockaddr a;
        long n = pm_udp_queue_pop(&h->udpq[s->tcb], &a, buf, len);
        if (n == -EAGAIN && (s->f & SF_SHUT_RD)) return 0;
        if (n < 0) return n;
        if (from) {
            *from = a;
            from->family = s->family;
        }
        return n < (long)len ? n : (long)len;
    }
    if (from) *from = sk_remote(h, s);
    if (s->kind == SK_DEAD && s->tcb != NIL) { /* unread bytes of a finished connection */
        long n = pm_tcp_recv(&h->tcp, sk_tcb(h, s), buf, len, now);
        if (sk_tcb(h, s)->rcv_len == 0) host_tcb_free(h, s);
        if (n > 0) return n;
    }
    if (s->kind == SK_DEAD) {
        if (s->so_error) {
            int e = s->so_error;
            s->so_error = 0;
            return -e;
        }
        return (s->f & SF_WAS_CONNECTED) ? 0 : -ENOTCONN;
    }
    if (s->kind != SK_CONN) return -ENOTCONN; /* tcp_recvmsg(): never connected */
    pm_tcp *tcb = sk_tcb(h, s);
    long n = pm_tcp_recv(&h->tcp, tcb, buf, len, now);
    if (n == -EAGAIN && (s->f & SF_SHUT_RD)) n = 0;
    host_tcp_after(h, s, 0);
    return n;
}

long pm_sock_recv(pm_host *h, int fd, void *buf, size_t len, uint64_t now)
{
    return pm_sock_recvfrom(h, fd, buf, len, NULL, now);
}

int pm_sock_shutdown(pm_host *h, int fd, int how, uint64_t now)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (how < PM_SHUT_RD || how > PM_SHUT_RDWR) return -EINVAL;
    if (now > h->now) h->now = now;
    uint32_t bits = how == PM_SHUT_RD   ? SF_SHUT_RD
                    : how == PM_SHUT_WR ? SF_SHUT_WR
                                        : SF_SHUT_RD | SF_SHUT_WR;
    if (s->type == PM_SOCK_DGRAM) {
        if (!(s->f & SF_CONNECTED)) return -ENOTCONN;
        s->f |= bits;
        host_mark_ready(h, s);
        return 0;
    }
    if (s->kind == SK_LISTEN) {
        /* inet_shutdown(): SHUT_RD stops a listener (tcp_disconnect) */
        if (how == PM_SHUT_WR) return 0;
        host_listener_drop_children(h, s);
        pm_demux_sock d;
        listener_demux_sock(h, s, &d);
        pm_lhash_remove(h->lh, &d);
        pm_bind_release(h->bt, s->bid);
        s->bid = PM_BIND_NONE;
        s->kind = SK_OPEN;
        sk_x(h, s)->local.port = 0;
        return 0;
    }
    if (s->kind != SK_CONN) return -ENOTCONN;
    s->f |= bits;
    pm_tcp *tcb = sk_tcb(h, s);
    int r = pm_tcp_shutdown(&h->tcp, tcb, how, now);
    host_tcp_after(h, s, 0);
    host_mark_ready(h, s);
    return r < 0 ? r : 0;
}

int pm_sock_close(pm_host *h, int fd, uint64_t now)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    if (now > h->now) h->now = now;
    pm_demux_sock d;
    switch (s->kind) {
    case SK_UDP:
        if (s->bid != PM_BIND_NONE) {
            udp_demux_sock(h, s, &d);
            pm_udptab_remove(h->ut, &d);
            pm_bind_release(h->bt, s->bid);
        }
        h->udpq[s->tcb].head = h->free_udp;
        h->free_udp = s->tcb;
        s->tcb = NIL;
        host_sock_free(h, s);
        return 0;
    case SK_LISTEN:
        host_listener_drop_children(h, s);
        listener_demux_sock(h, s, &d);
        pm_lhash_remove(h->lh, &d);
        pm_bind_release(h->bt, s->bid);
        host_sock_free(h, s);
        return 0;
    case SK_CONN: {
        pm_tcp *tcb = sk_tcb(h, s);
        bool abort = (s->f & SF_LINGER) && sk_linger_s(h, s) == 0; /* SO_LINGER {1,0} */
        unsigned ev = pm_tcp_close(&h->tcp, tcb, abort, now);
        s->kind = SK_ORPHAN;
        host_tcp_after(h, s, ev);
        return 0;
    }
    default:                                         /* SK_OPEN, SK_DEAD */
        if (s->kind == SK_DEAD) host_tcb_free(h, s); /* unread bytes, if any, go */
        /* (a connection's ports went when it ended: host_conn_done) */
        if (s->bid != PM_BIND_NONE) pm_bind_release(h->bt, s->bid);
        host_sock_free(h, s);
        return 0;
    }
}

int pm_sock_getsockname(pm_host *h, int fd, pm_sockaddr *sa)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    *sa = sk_local(h, s);
    sa->family = s->family;
    if (s->kind == SK_DEAD && !(s->f & SF_BOUND_ADDR) && s->bid == PM_BIND_NONE) {
        sa->ip = s->family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6;
        sa->port = 0;
    }
    return 0;
}

int pm_sock_getpeername(pm_host *h, int fd, pm_sockaddr *sa)
{
    hsock *s = sk_get(h, fd);
    if (!s) return -EBADF;
    /* inet_getname(): no peer, or CLOSE / SYN_SENT */
    if (s->type == PM_SOCK_DGRAM) {
        if (!(s->f & SF_CONNECTED)) return -ENOTCONN;
    } else {
        pm_tcp *tcb = sk_tcb(h, s);
        if (s->kind != SK_CONN || !tcb || tcb->state == PM_TCP_SYN_SENT) return -ENOTCONN;
    }
    *sa = sk_remote(h, s);
    sa->family = s->family;
    return 0;
}

/* ---- Readiness ------------------------------------------------------------- */

unsigned pm_sock_poll(pm_host *h, int fd)
{
    hsock *s = sk_get(h, fd);
    if (!s) return PM_POLLERR | PM_POLLHUP; /* POLLNVAL's nearest */
    unsigned m = 0;
    if (s->so_error) m |= PM_POLLERR;
    switch (s->kind) {
    case SK_LISTEN:
        if (sk_x(h, s)->acc_head != NIL) m |= PM_POLLIN;
        return m;
    case SK_UDP:
        if (h->udpq[s->tcb].count || (s->f & SF_SHUT_RD)) m |= PM_POLLIN;
        if (!(s->f & SF_SHUT_WR)) m |= PM_POLLOUT;
        if ((s->f & (SF_SHUT_RD | SF_SHUT_WR)) == (SF_SHUT_RD | SF_SHUT_WR)) m |= PM_POLLHUP;
        return m;
    case SK_OPEN: /* tcp_poll(): CLOSE is HUP, and writable */ return m | PM_POLLOUT | PM_POLLHUP;
    case SK_DEAD: return m | PM_POLLIN | PM_POLLRDHUP | PM_POLLOUT | PM_POLLHUP;
    default: break;
    }
    pm_tcp *tcb = sk_tcb(h, s);
    if (!tcb) return m;
    if (tcb->state == PM_TCP_SYN_SENT || tcb->state == PM_TCP_SYN_RCVD) return m;
    bool eof = pm_tcp_eof(tcb);
    if (pm_tcp_readable(tcb) || eof || (s->f & SF_SHUT_RD)) m |= PM_POLLIN;
    if (eof || (s->f & SF_SHUT_RD)) m |= PM_POLLRDHUP;
    if (eof && (s->f & SF_SHUT_WR)) m |= PM_POLLHUP;
    if (!(s->f & SF_SHUT_WR)) {
        /* sk_stream_is_writeable(): free space at least half of what is queued */
        uint32_t free = pm_tcp_writable(tcb), used = tcb->snd_len;
        if (free && free >= used / 2) m |= PM_POLLOUT;
    } else {
        m |= PM_POLLOUT;
    }
    return m;
}

size_t pm_host_events(pm_host *h, pm_sock_event *out, size_t max)
{
    size_t n = 0;
    while (n < max && h->ready_head != NIL) {
        uint32_t i = h->ready_head;
        hsock *s = &h->socks[i];
        h->ready_head = s->rnext;
        if (h->ready_head == NIL) h->ready_tail = NIL;
        s->f &= ~(uint32_t)SF_IN_READY;
        if (!sk_get(h, (int)i)) continue;
        unsigned m = pm_sock_poll(h, (int)i);
        if (!m) continue;
        out[n].fd = (int)i;
        out[n].events = m;
        n++;
    }
    return n;
}

const pm_tcp *pm_sock_tcb(const pm_host *h, int fd)
{
    if (fd < 0 || (uint32_t)fd >= h->nsocks) return NULL;
    const hsock *s = &h->socks[fd];
    if (s->type != PM_SOCK_STREAM || s->tcb == NIL || s->kind == SK_FREE) return NULL;
    return &h->tcbs[s->tcb];
}
