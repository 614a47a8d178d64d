/* -sT: the kernel does the handshake; non-blocking connect() with epoll,
 * thousands in flight, no privilege needed. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scan/engine.h"

typedef struct pending {
    uint32_t slot, gen;
    int err;
} pending;

typedef struct cstate {
    int ep;
    pending *pend; /* connect() answered at once: resolved at the next poll */
    size_t npend, cap;
} cstate;

static void to_sockaddr(const pm_ip *ip, int family, uint16_t port, struct sockaddr_storage *ss,
                        socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (family == PM_AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        memcpy(&s->sin_addr, ip->b + 12, 4);
        *len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        memcpy(&s->sin6_addr, ip->b, 16);
        *len = sizeof *s;
    }
}

/* nmap's reading of connect()'s errno (scan_engine_connect.cc). */
static void resolve_errno(pm_engine *e, pm_probe *p, int err, uint64_t now)
{
    int state, reason;
    switch (err) {
    case 0: state = PM_PORT_OPEN, reason = PM_R_SYN_ACK; break;
    case ECONNREFUSED: state = PM_PORT_CLOSED, reason = PM_R_CONN_REFUSED; break;
    case EHOSTUNREACH: state = PM_PORT_FILTERED, reason = PM_R_HOST_UNREACH; break;
    case ENETUNREACH:
    case ENETDOWN: state = PM_PORT_FILTERED, reason = PM_R_NET_UNREACH; break;
    case EACCES:
    case EPERM: state = PM_PORT_FILTERED, reason = PM_R_ADMIN_PROHIBITED; break;
    case ENOPROTOOPT: state = PM_PORT_FILTERED, reason = PM_R_PROTO_UNREACH; break;
    default: state = PM_PORT_FILTERED, reason = PM_R_NO_RESPONSE; break;
    }
    /* one socket per probe: the answer is to its latest try */
    pm_engine_resolve(e, p->idx, state, reason, 0, p->tries == 1 ? 1 : 0, now);
}

static int c_send(pm_engine *e, pm_probe *p, uint64_t now)
{
    (void)now;
    cstate *cs = e->be_state;
    int family;
    pm_ip ip = pm_engine_ip(e, p->idx, &family);
    int fd = socket(family == PM_AF_INET ? AF_INET : AF_INET6,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return (errno == EMFILE || errno == ENFILE || errno == ENOBUFS) ? -EAGAIN : -errno;
    /* Linux (tcp_v6_err) holds an ICMPv6 error for a SYN_SENT socket as a
     * soft error, reported only when the SYN is retransmitted after a
     * second, unless the socket asked for errors (IPV6_RECVERR): then
     * "refused" or "prohibited" arrives with the ICMP message. */
    int on = 1;
    if (family == PM_AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    struct sockaddr_storage ss;
    socklen_t len;
    to_sockaddr(&ip, family, pm_engine_port(e, p->idx), &ss, &len);
    int err = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) err = errno;
    if (err == EINPROGRESS) {
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLERR | EPOLLHUP,
                                 .data.u64 = (uint64_t)p->gen << 32 | (uint32_t)(p - e->slot)};
        if (epoll_ctl(cs->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            return -errno;
        }
        p->fd = fd;
        return 0;
    }
    if (err == EADDRNOTAVAIL || err == EAGAIN || err == ENOBUFS) {
        close(fd); /* out of ephemeral ports for now */
        return -EAGAIN;
    }
    p->fd = fd;
    if (cs->npend == cs->cap) {
        size_t nc = cs->cap ? cs->cap * 2 : 64;
        pending *np = realloc(cs->pend, nc * sizeof *np);
        if (!np) return -ENOMEM;
        cs->pend = np;
        cs->cap = nc;
    }
    cs->pend[cs->npend++] = (pending){(uint32_t)(p - e->slot), p->gen, err};
    return 0;
}

static void c_release(pm_engine *e, pm_probe *p)
{
    (void)e;
    if (p->fd < 0) return;
    /* A connected socket closes with a RST (SO_LINGER 0): no TIME_WAIT on
     * our side, no FIN exchange. Refused ones have nothing to close. */
    if (e->res->state[p->idx] == PM_PORT_OPEN) {
        struct linger lg = {1, 0};
        setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(p->fd); /* also leaves the epoll set */
    p->fd = -1;
}

static int c_poll(pm_engine *e, int timeout_ms)
{
    cstate *cs = e->be_state;
    uint64_t now = pm_scan_now_us();
    if (cs->npend) {
        for (size_t i = 0; i < cs->npend; i++) {
            pm_probe *p = &e->slot[cs->pend[i].slot];
            if (p->used && p->gen == cs->pend[i].gen) resolve_errno(e, p, cs->pend[i].err, now);
        }
        cs->npend = 0;
        timeout_ms = 0;
    }
    struct epoll_event ev[512];
    int n = epoll_wait(cs->ep, ev, 512, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    now = pm_scan_now_us();
    for (int i = 0; i < n; i++) {
        uint32_t s = (uint32_t)ev[i].data.u64, gen = (uint32_t)(ev[i].data.u64 >> 32);
        pm_probe *p = &e->slot[s];
        if (!p->used || p->gen != gen || p->fd < 0) continue;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
        resolve_errno(e, p, err, now);
    }
    return 0;
}

static void c_close(pm_engine *e)
{
    cstate *cs = e->be_state;
    close(cs->ep);
    free(cs->pend);
    free(cs);
    e->be_state = NULL;
}

/* The kernel retransmits the SYN: a probe keeps its socket for all its
 * tries, so an answer to any of them is seen. */
static const pm_backend connect_backend = {c_send, c_release, c_poll, c_close, true, false};

int pm_backend_connect(pm_engine *e)
{
    /* One descriptor per probe in flight: raise the soft limit to the hard. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        e->window + 64 > rl.rlim_cur)
        e->window = rl.rlim_cur > 128 ? (uint32_t)(rl.rlim_cur - 64) : 64;
    cstate *cs = calloc(1, sizeof *cs);
    if (!cs) return -ENOMEM;
    cs->ep = epoll_create1(EPOLL_CLOEXEC);
    if (cs->ep < 0) {
        free(cs);
        return -errno;
    }
    e->be_state = cs;
    e->be = &connect_backend;
    return 0;
}
