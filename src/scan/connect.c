/* -sT: the kernel does the handshake; non-blocking connect() with epoll,
 * thousands in flight, no privilege needed.
 * Most ports of a scan are closed, and a refused socket is reusable: once
 * its error has been read by a second connect() (which also returns it to
 * unconnected), it connects to the next target. So a closed port costs two
 * connect() calls, where socket + connect + epoll_ctl + SO_ERROR + close
 * were five; the kernel's connect path is then most of the time. Sockets
 * join the epoll set once, edge-triggered. Open ports' sockets are closed
 * with a RST (SO_LINGER 0); IPv6 ones are not reused (see c_release). */
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

/* What each descriptor is doing, indexed by fd: epoll reports the fd. */
typedef struct fdent {
    uint32_t slot, gen; /* the probe it serves */
    bool flight;        /* connect() sent, outcome not yet read */
    bool reuse;         /* its connect() failed: it may connect again */
} fdent;

typedef struct cstate {
    int ep;
    pending *pend; /* connect() answered at once: resolved at the next poll */
    size_t npend, cap;
    fdent *fdt;
    size_t fdcap;
    int *idle[2]; /* [0] IPv4, [1] IPv6: unconnected sockets, ready to reuse */
    size_t nidle[2], idlecap[2];
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

static int fdt_set(cstate *cs, int fd, fdent v)
{
    if ((size_t)fd >= cs->fdcap) {
        size_t nc = cs->fdcap ? cs->fdcap : 1024;
        while (nc <= (size_t)fd) nc *= 2;
        fdent *nt = realloc(cs->fdt, nc * sizeof *nt);
        if (!nt) return -ENOMEM;
        memset(nt + cs->fdcap, 0, (nc - cs->fdcap) * sizeof *nt);
        cs->fdt = nt;
        cs->fdcap = nc;
    }
    cs->fdt[fd] = v;
    return 0;
}

static int idle_push(cstate *cs, int fam, int fd)
{
    if (cs->nidle[fam] == cs->idlecap[fam]) {
        size_t nc = cs->idlecap[fam] ? cs->idlecap[fam] * 2 : 256;
        int *ni = realloc(cs->idle[fam], nc * sizeof *ni);
        if (!ni) return -ENOMEM;
        cs->idle[fam] = ni;
        cs->idlecap[fam] = nc;
    }
    cs->idle[fam][cs->nidle[fam]++] = fd;
    return 0;
}

/* A socket for a connect(): an idle one, or a new one joined to the epoll
 * set once, edge-triggered (a reused socket is not re-armed: its next
 * outcome is a new edge). */
static int get_socket(cstate *cs, int family)
{
    int fam = family == PM_AF_INET6;
    if (cs->nidle[fam]) return cs->idle[fam][--cs->nidle[fam]];
    int fd = socket(fam ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return (errno == EMFILE || errno == ENFILE || errno == ENOBUFS) ? -EAGAIN : -errno;
    /* Linux (tcp_v6_err) holds an ICMPv6 error for a SYN_SENT socket as a
     * soft error, reported only when the SYN is retransmitted after a
     * second, unless the socket asked for errors (IPV6_RECVERR): then
     * "refused" or "prohibited" arrives with the ICMP message. */
    int on = 1;
    if (fam) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLET,
                             .data.u32 = (uint32_t)fd};
    int rc = fdt_set(cs, fd, (fdent){0, 0, false, false});
    if (rc == 0 && epoll_ctl(cs->ep, EPOLL_CTL_ADD, fd, &ev) < 0) rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int c_send(pm_engine *e, pm_probe *p, uint64_t now)
{
    (void)now;
    cstate *cs = e->be_state;
    int family;
    pm_ip ip = pm_engine_ip(e, p->idx, &family);
    int fd = get_socket(cs, family);
    if (fd < 0) return fd;
    struct sockaddr_storage ss;
    socklen_t len;
    to_sockaddr(&ip, family, pm_engine_port(e, p->idx), &ss, &len);
    uint32_t s = (uint32_t)(p - e->slot);
    int err = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) err = errno;
    if (err == EINPROGRESS) {
        cs->fdt[fd] = (fdent){s, p->gen, true, false};
        p->fd = fd;
        return 0;
    }
    /* A connect() that failed at once leaves the socket unconnected. */
    cs->fdt[fd] = (fdent){s, p->gen, false, err != 0};
    if (err == EADDRNOTAVAIL || err == EAGAIN || err == ENOBUFS) {
        /* out of ephemeral ports for now */
        if (idle_push(cs, family == PM_AF_INET6, fd) < 0) close(fd);
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
    cs->pend[cs->npend++] = (pending){s, p->gen, err};
    return 0;
}

static void c_release(pm_engine *e, pm_probe *p)
{
    cstate *cs = e->be_state;
    int fd = p->fd;
    if (fd < 0) return;
    p->fd = -1;
    fdent *f = &cs->fdt[fd];
    int family;
    pm_engine_ip(e, p->idx, &family);
    int fam = family == PM_AF_INET6;
    bool open = e->res->state[p->idx] == PM_PORT_OPEN && !f->reuse;
    /* IPv6 sockets ask for ICMP errors (IPV6_RECVERR): their error queue
     * and soft error outlive a connection, so they are not reused. */
    if (open || fam) {
        /* A connected socket closes with a RST (SO_LINGER 0): no TIME_WAIT
         * on our side, no FIN exchange. */
        if (open) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd); /* also leaves the epoll set */
        f->flight = false;
        return;
    }
    if (f->flight) {
        /* Given up on (or the scan stops) while SYN_SENT: connect() to
         * AF_UNSPEC aborts it (tcp_disconnect: no RST from SYN_SENT) and
         * leaves the socket unconnected, ready for another target. */
        struct sockaddr sa = {.sa_family = AF_UNSPEC};
        f->flight = false;
        if (connect(fd, &sa, sizeof sa) < 0) {
            close(fd);
            return;
        }
    }
    f->reuse = false;
    if (idle_push(cs, fam, fd) < 0) close(fd);
}

/* The outcome of a connect() in flight, read by calling connect() again
 * (Linux __inet_stream_connect): EALREADY while SYN_SENT; 0 once
 * established; the socket's error once closed (refused, unreachable),
 * which also returns the socket to unconnected so that it can be reused.
 * One system call, where SO_ERROR + close + socket + epoll_ctl were four. */
static void read_outcome(pm_engine *e, cstate *cs, int fd, uint32_t events, uint64_t now)
{
    fdent *f = &cs->fdt[fd];
    if (!f->flight) return; /* idle, or a stale edge */
    pm_probe *p = &e->slot[f->slot];
    if (!p->used || p->gen != f->gen || p->fd != fd) return;
    int family;
    pm_ip ip = pm_engine_ip(e, p->idx, &family);
    struct sockaddr_storage ss;
    socklen_t len;
    to_sockaddr(&ip, family, pm_engine_port(e, p->idx), &ss, &len);
    int err = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) err = errno;
    if (err == EALREADY || err == EINPROGRESS) {
        /* Still SYN_SENT, but an ICMP error that came while connect()
         * held the socket (tcp_v4_err: "LockDroppedIcmps") is reported as
         * EPOLLERR with the socket left in SYN_SENT: SO_ERROR has it. The
         * socket stays "in flight" so that its release aborts it. */
        if (!(events & EPOLLERR)) return;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err == 0) return;
        resolve_errno(e, p, err, now);
        return;
    }
    if (err == EISCONN) err = 0;
    f->flight = false;
    f->reuse = err != 0;
    resolve_errno(e, p, err, now);
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
    struct epoll_event ev[1024];
    int n = epoll_wait(cs->ep, ev, 1024, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    now = pm_scan_now_us();
    for (int i = 0; i < n; i++) read_outcome(e, cs, (int)ev[i].data.u32, ev[i].events, now);
    return 0;
}

static void c_close(pm_engine *e)
{
    cstate *cs = e->be_state;
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < cs->nidle[f]; i++) close(cs->idle[f][i]);
        free(cs->idle[f]);
    }
    close(cs->ep);
    free(cs->pend);
    free(cs->fdt);
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
    e->st->path = "connect";
    return 0;
}
