/* The Linux kernel as the oracle for the listener and UDP demux tables.
 *
 * In a network namespace of its own (127.0.0.0/8 and ::1, ::2 on lo), the
 * test builds seeded random scenarios: a few TCP listeners (or UDP sockets,
 * some connect()ed) on one port with random local addresses, IPV6_V6ONLY,
 * SO_REUSEADDR and SO_REUSEPORT; then it sends SYNs / datagrams from
 * chosen sources to chosen destinations and sees which socket the kernel
 * gives them to. The same sockets, as the kernel reports them (getsockname,
 * getpeername, IPV6_V6ONLY read back), go into pm_lhash / pm_udptab, whose
 * lookups must name the same socket. SO_REUSEPORT groups pick a member
 * with a different hash: there only the group must agree. Broadcast
 * datagrams (127.255.255.255) and multicast (224.0.0.100 joined on lo) must
 * reach exactly the set the multicast iterator yields.
 *
 * Root only (exits 77 otherwise). PM_ORACLE_SEED=n and PM_ORACLE_SCENARIOS=n
 * (per protocol) override the seed and the count. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit/testlib/netns.h"
#include "base/rng.h"
#include "portmux/addr.h"
#include "portmux/demux.h"
#include "unit/testlib/oracle.h"

#define MAXS       5
#define BASE_PORT  10000
#define CPORT      3000 /* client source ports CPORT, CPORT + 1 */
#define SENTINEL   2999
#define MCAST_ADDR "224.0.0.100"
#define BCAST_ADDR "127.255.255.255"

static uint64_t g_seed;
static unsigned g_scenarios = 1200; /* per protocol */
static bool have_v6_2;              /* ::2 could be added to lo */
static bool have_mcast;             /* 224.0.0.100 joined on lo works */
static unsigned lo_index;
static unsigned tun_index; /* a second device, or 0 */
static bool hash4_kernel;  /* Linux >= 6.13: UDP 4-tuple hash (udp4_lib_lookup4) */
#define TUN_NAME "pmo0"
static const uint64_t tkey[2] = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL};

/* What each run covered, printed at the end. */
static struct {
    unsigned scenarios, sockets, refused_binds, lookups, kernel_none, reuseport_hits;
    unsigned pre_hash4_ties, devbound, late_connects;
    unsigned udp_scenarios, udp_sockets, udp_connected, datagrams, udp_none, bcasts, mcasts,
        mcast_deliveries;
} st;

/* The scenario log, printed with the seed on a divergence. */
static char logbuf[64][320];
static int nlog;

__attribute__((format(printf, 1, 2))) static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(logbuf[nlog], sizeof logbuf[0], fmt, ap);
    va_end(ap);
    if (nlog < 63) nlog++;
}

static void dump(const char *what, unsigned q)
{
    printf("DIVERGENCE (%s) with the kernel: seed %llu, scenario %u "
           "(PM_ORACLE_SEED=%llu reproduces)\n",
           what, (unsigned long long)g_seed, q, (unsigned long long)g_seed);
    for (int i = 0; i < nlog; i++) printf("  %s\n", logbuf[i]);
}

/* ------------------------------------------------------------------------
 * Addresses. */
typedef struct saddr {
    struct sockaddr_storage ss;
    socklen_t len;
} saddr;

static saddr mk(const char *ip, uint16_t port)
{
    saddr a;
    memset(&a, 0, sizeof a);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
        a.len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        inet_pton(AF_INET, ip, &s4->sin_addr);
        a.len = sizeof *s4;
    }
    return a;
}

/* A kernel socket address as the library holds it (IPv4 mapped). */
static void to_pm(const struct sockaddr_storage *ss, pm_ip *ip, uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        *ip = pm_ip4_bytes((const uint8_t *)&s4->sin_addr);
        *port = ntohs(s4->sin_port);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        memcpy(ip->b, &s6->sin6_addr, 16);
        *port = ntohs(s6->sin6_port);
    }
}

static const char *fmt_ip(const pm_ip *ip, char *buf)
{
    return pm_ip_format(ip, buf);
}

/* ------------------------------------------------------------------------
 * Namespace setup. */
static int sentinel_fd = -1, marker_fd = -1;

/* Loopback delivery runs from the sender's CPU backlog, in order (the
 * process is pinned to one CPU): once the marker datagram sent after the
 * test datagram has arrived, the test datagram has been demultiplexed. */
static void flush_marker(void)
{
    saddr s = mk("127.0.0.1", SENTINEL);
    char c = 'm', buf[8];
    sendto(marker_fd, &c, 1, 0, (struct sockaddr *)&s.ss, s.len);
    struct pollfd p = {sentinel_fd, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) {
        printf("marker datagram lost\n");
        exit(1);
    }
    while (recv(sentinel_fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

/* ------------------------------------------------------------------------
 * Sockets of a scenario. */
typedef struct ksock {
    int fd;
    pm_demux_sock m; /* the model, read back from the kernel */
    bool connected;
    bool joined;   /* IP_ADD_MEMBERSHIP of MCAST_ADDR on lo */
    bool deferred; /* connect() to peer after every socket is bound */
    saddr peer;
    pm_ip bound; /* the local address before connect() */
    char desc[200];
} ksock;

static const char *const laddrs[] = {
    "0.0.0.0", "127.0.0.1", "127.0.0.2", "::", "::1", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "::2"};

static bool v6only_of(int fd)
{
    int v = 0;
    socklen_t l = sizeof v;
    return getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && v;
}

/* socket + options + bind; false (socket closed) when the kernel refuses. */
static bool open_bound(pm_rng *rng, ksock *s, int type, const char *addr, uint16_t port, int ra_pct,
                       int rp_pct, int v6only_pct)
{
    bool v6 = strchr(addr, ':') != NULL;
    s->fd = socket(v6 ? AF_INET6 : AF_INET, type, 0);
    if (s->fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    bool ra = (int)pm_rng_below(rng, 100) < ra_pct, rp = (int)pm_rng_below(rng, 100) < rp_pct;
    bool v6o = v6 && (int)pm_rng_below(rng, 100) < v6only_pct;
    if (ra) setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rp) setsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (v6o) setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    /* SO_BINDTODEVICE: lo (the packets' device) or a TUN device that
     * sees none of them */
    unsigned dr = pm_rng_below(rng, 100);
    const char *dev = dr < 12 ? "lo" : dr < 17 && tun_index ? TUN_NAME : NULL;
    if (dev) setsockopt(s->fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev) + 1);
    saddr a = mk(addr, port);
    int r = bind(s->fd, (struct sockaddr *)&a.ss, a.len);
    snprintf(s->desc, sizeof s->desc, "%s%s%s%s%s%s bind %s:%u = %s", v6 ? "inet6" : "inet",
             ra ? " REUSEADDR" : "", rp ? " REUSEPORT" : "", v6o ? " V6ONLY" : "",
             dev ? " BINDTODEVICE " : "", dev ? dev : "", addr, port, r ? strerror(errno) : "0");
    if (r) {
        close(s->fd);
        return false;
    }
    memset(&s->m, 0, sizeof s->m);
    s->m.family = v6 ? PM_AF_INET6 : PM_AF_INET;
    s->m.reuseport = rp;
    s->m.faddr = v6 ? pm_ip_any6 : pm_ip_any4;
    s->connected = false;
    s->joined = false;
    return true;
}

/* Reads the binding back: the kernel may have set IPV6_V6ONLY (a specific
 * IPv6 address, __inet6_bind) or the local address (connect). */
static void read_back(ksock *s)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    getsockname(s->fd, (struct sockaddr *)&ss, &l);
    to_pm(&ss, &s->m.laddr, &s->m.lport);
    if (s->m.family == PM_AF_INET6) s->m.v6only = v6only_of(s->fd);
    int ifi = 0;
    l = sizeof ifi;
    if (getsockopt(s->fd, SOL_SOCKET, SO_BINDTOIFINDEX, &ifi, &l) == 0)
        s->m.ifindex = (uint32_t)ifi;
    l = sizeof ss;
    if (getpeername(s->fd, (struct sockaddr *)&ss, &l) == 0) {
        to_pm(&ss, &s->m.faddr, &s->m.fport);
        s->connected = true;
    }
}

static void model_str(const ksock *s, int i, char *out, size_t n)
{
    char a[PM_IP_STRLEN], f[PM_IP_STRLEN];
    snprintf(out, n, "s%d: %s [%s]:%u%s%s dev %u peer [%s]:%u", i,
             s->m.family == PM_AF_INET ? "inet" : "inet6", fmt_ip(&s->m.laddr, a), s->m.lport,
             s->m.v6only ? " v6only" : "", s->m.reuseport ? " reuseport" : "", s->m.ifindex,
             fmt_ip(&s->m.faddr, f), s->m.fport);
}

/* Same SO_REUSEPORT group (Linux: inet_reuseport_add_sock / the UDP
 * equivalent): both reuseport with the same binding. */
static bool same_group(const ksock *a, const ksock *b)
{
    return a->m.reuseport && b->m.reuseport && a->m.family == b->m.family &&
           a->m.v6only == b->m.v6only && a->m.ifindex == b->m.ifindex &&
           pm_ip_eq(&a->m.laddr, &b->m.laddr);
}

/* ------------------------------------------------------------------------
 * TCP listeners. */
static const char *const dst4[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
static const char *const dst6[] = {"::1", "::2"};
static const char *const src4[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
static const char *const src6[] = {"::1", "::2"};

static const char *pick_laddr(pm_rng *rng)
{
    unsigned n = have_v6_2 ? 8 : 7;
    return laddrs[pm_rng_below(rng, n)];
}

/* One client connection to dst:port; returns the index of the listener
 * that accept()ed it, -1 when refused; fills the tuple the listener saw. */
static int tcp_probe(ksock *ls, int nl, const char *src, const char *dst, bool mapped_client,
                     uint16_t port, pm_tuple *k, unsigned q)
{
    char dbuf[64];
    snprintf(dbuf, sizeof dbuf, "%s%s", mapped_client ? "::ffff:" : "", dst);
    bool v6 = strchr(dbuf, ':') != NULL;
    char sbuf[64];
    snprintf(sbuf, sizeof sbuf, "%s%s", mapped_client ? "::ffff:" : "", src);
    int c = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    saddr sa = mk(sbuf, 0), da = mk(dbuf, port);
    if (c < 0 || bind(c, (struct sockaddr *)&sa.ss, sa.len)) {
        printf("client bind %s: %s\n", sbuf, strerror(errno));
        exit(1);
    }
    struct linger lg = {1, 0}; /* RST on close: no TIME_WAIT */
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    int r = connect(c, (struct sockaddr *)&da.ss, da.len);
    int err = r ? errno : 0;
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    getsockname(c, (struct sockaddr *)&ss, &l);
    memset(k, 0, sizeof *k);
    k->proto = PM_IPPROTO_TCP;
    to_pm(&ss, &k->faddr, &k->fport);
    uint16_t p;
    to_pm(&da.ss, &k->laddr, &p);
    k->lport = port;
    int winner = -1;
    if (err == 0) {
        struct pollfd pf[MAXS];
        for (int i = 0; i < nl; i++) pf[i] = (struct pollfd){ls[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)nl, 2000) < 1) {
            dump("connected but no listener has the connection", q);
            exit(1);
        }
        int got = 0;
        for (int i = 0; i < nl; i++) {
            int a = accept4(ls[i].fd, NULL, NULL, SOCK_NONBLOCK);
            if (a < 0) continue;
            setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(a);
            got++;
            winner = i;
        }
        if (got != 1) {
            logf_("connect %s -> %s:%u: %d listeners accepted", sbuf, dbuf, port, got);
            dump("not exactly one accept", q);
            exit(1);
        }
    } else if (err != ECONNREFUSED) {
        printf("connect %s -> %s: %s\n", sbuf, dbuf, strerror(err));
        exit(1);
    }
    logf_("connect [%s] -> [%s]:%u: %s", sbuf, dbuf, port,
          winner < 0 ? "refused" : (char[]){'s', (char)('0' + winner), 0});
    close(c);
    return winner;
}

static bool tcp_scenario(pm_rng *rng, unsigned q)
{
    uint16_t port = (uint16_t)(BASE_PORT + q);
    ksock ls[MAXS];
    int nl = 0;
    nlog = 0;
    unsigned want = 1 + pm_rng_below(rng, MAXS);
    /* one reuseport coin per scenario, mostly on, so that overlapping
     * bindings are allowed and groups form */
    int rp_pct = pm_rng_below(rng, 4) ? 80 : 0;
    for (unsigned i = 0; i < want; i++) {
        const char *a = pick_laddr(rng);
        if (!open_bound(rng, &ls[nl], SOCK_STREAM, a, port, 50, rp_pct, 40)) {
            logf_("%s (dropped)", ls[nl].desc);
            st.refused_binds++;
            continue;
        }
        fcntl(ls[nl].fd, F_SETFL, O_NONBLOCK); /* accept() must not wait */
        if (listen(ls[nl].fd, 16)) {
            logf_("%s; listen = %s (dropped)", ls[nl].desc, strerror(errno));
            close(ls[nl].fd);
            st.refused_binds++;
            continue;
        }
        read_back(&ls[nl]);
        st.devbound += ls[nl].m.ifindex != 0;
        ls[nl].m.handle = (uint32_t)nl;
        char mbuf[160];
        model_str(&ls[nl], nl, mbuf, sizeof mbuf);
        logf_("%s; listen -> %s", ls[nl].desc, mbuf);
        nl++;
    }
    pm_lhash *t;
    if (pm_lhash_create(&t, tkey)) exit(1);
    /* Inserted in listen() order, as Linux hashes at listen(). */
    for (int i = 0; i < nl; i++) {
        int r = pm_lhash_insert(t, &ls[i].m);
        if (r) {
            logf_("pm_lhash_insert(s%d) = %d", i, r);
            dump("the kernel has a listener the table refuses", q);
            return false;
        }
    }
    st.scenarios++;
    st.sockets += (unsigned)nl;
    bool ok = true;
    unsigned nprobe = 2 + pm_rng_below(rng, 4);
    for (unsigned j = 0; j < nprobe && ok; j++) {
        bool v6 = pm_rng_below(rng, 5) < 2;
        bool mapped = !v6 && pm_rng_below(rng, 3) == 0;
        const char *dst =
            v6 ? dst6[pm_rng_below(rng, have_v6_2 ? 2 : 1)] : dst4[pm_rng_below(rng, 3)];
        const char *src =
            v6 ? src6[pm_rng_below(rng, have_v6_2 ? 2 : 1)] : src4[pm_rng_below(rng, 3)];
        pm_tuple k;
        int kw = tcp_probe(ls, nl, src, dst, mapped, port, &k, q);
        uint32_t lw = pm_lhash_lookup(t, &k, lo_index);
        uint32_t lw2 = pm_lhash_lookup(t, &k, lo_index);
        st.lookups++;
        if (kw < 0) {
            st.kernel_none++;
            if (lw != PM_DEMUX_NONE) {
                logf_("pm_lhash_lookup = s%u, kernel refused", lw);
                ok = false;
            }
            continue;
        }
        if (lw == PM_DEMUX_NONE || lw != lw2) {
            logf_("pm_lhash_lookup = %d (again %d), kernel s%d", (int)lw, (int)lw2, kw);
            ok = false;
            continue;
        }
        if ((int)lw == kw) {
            st.reuseport_hits += ls[kw].m.reuseport;
            continue;
        }
        /* SO_REUSEPORT: the member is chosen by another hash. */
        if (same_group(&ls[kw], &ls[lw])) {
            st.reuseport_hits++;
            continue;
        }
        logf_("pm_lhash_lookup = s%u, kernel s%d", lw, kw);
        ok = false;
    }
    if (!ok) dump("tcp listener", q);
    pm_lhash_destroy(t);
    for (int i = 0; i < nl; i++) close(ls[i].fd);
    return ok;
}

/* ------------------------------------------------------------------------
 * UDP. */
static const char *const peers4[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};

/* A datagram from src:sport to dst:port; returns a bitmask of the sockets
 * that received it. */
static unsigned udp_send(ksock *us, int nu, const char *src, uint16_t sport, const char *dst,
                         uint16_t port, bool bcast)
{
    bool v6 = strchr(dst, ':') != NULL;
    int c = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bcast) setsockopt(c, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    if (!strcmp(dst, MCAST_ADDR)) {
        struct ip_mreqn mr;
        memset(&mr, 0, sizeof mr);
        mr.imr_ifindex = (int)lo_index;
        setsockopt(c, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr);
    }
    saddr sa = mk(src, sport), da = mk(dst, port);
    if (bind(c, (struct sockaddr *)&sa.ss, sa.len)) {
        printf("udp client bind [%s]:%u: %s\n", src, sport, strerror(errno));
        exit(1);
    }
    char b = 'x';
    if (sendto(c, &b, 1, 0, (struct sockaddr *)&da.ss, da.len) != 1) {
        printf("sendto [%s]:%u: %s\n", dst, port, strerror(errno));
        exit(1);
    }
    flush_marker();
    unsigned got = 0;
    char buf[16];
    for (int i = 0; i < nu; i++)
        while (recv(us[i].fd, buf, sizeof buf, MSG_DONTWAIT) > 0) got |= 1u << i;
    close(c);
    return got;
}

static bool udp_scenario(pm_rng *rng, unsigned q)
{
    uint16_t port = (uint16_t)(BASE_PORT + q);
    ksock us[MAXS];
    int nu = 0;
    nlog = 0;
    unsigned want = 1 + pm_rng_below(rng, MAXS);
    bool mc = have_mcast && pm_rng_below(rng, 6) == 0;
    bool bc = !mc && pm_rng_below(rng, 6) == 0;
    int rp_pct = pm_rng_below(rng, 3) ? 50 : 0;
    for (unsigned i = 0; i < want; i++) {
        const char *a = mc && pm_rng_below(rng, 3) == 0 ? MCAST_ADDR : pick_laddr(rng);
        if (!open_bound(rng, &us[nu], SOCK_DGRAM, a, port, 70, rp_pct, 30)) {
            logf_("%s (dropped)", us[nu].desc);
            st.refused_binds++;
            continue;
        }
        ksock *s = &us[nu];
        s->deferred = false;
        {
            struct sockaddr_storage ss;
            socklen_t l = sizeof ss;
            uint16_t bport;
            getsockname(s->fd, (struct sockaddr *)&ss, &l);
            to_pm(&ss, &s->bound, &bport);
        }
        if (!mc && !bc && pm_rng_below(rng, 5) < 2) {
            /* connect() to a peer the clients may use */
            char pbuf[64];
            uint16_t pport = (uint16_t)(CPORT + pm_rng_below(rng, 2));
            if (s->m.family == PM_AF_INET6 && pm_rng_below(rng, 2))
                snprintf(pbuf, sizeof pbuf, "%s", src6[pm_rng_below(rng, have_v6_2 ? 2 : 1)]);
            else
                snprintf(pbuf, sizeof pbuf, "%s%s", s->m.family == PM_AF_INET6 ? "::ffff:" : "",
                         peers4[pm_rng_below(rng, 3)]);
            saddr pa = mk(pbuf, pport);
            if (pm_rng_below(rng, 10) < 3) { /* after the others are bound */
                s->deferred = true;
                s->peer = pa;
                size_t dl = strlen(s->desc);
                snprintf(s->desc + dl, sizeof s->desc - dl, "; connect [%s]:%u later", pbuf, pport);
                goto bound;
            }
            int r = connect(s->fd, (struct sockaddr *)&pa.ss, pa.len);
            size_t dl = strlen(s->desc);
            snprintf(s->desc + dl, sizeof s->desc - dl, "; connect [%s]:%u = %s", pbuf, pport,
                     r ? strerror(errno) : "0");
            if (r) {
                logf_("%s (dropped)", s->desc);
                close(s->fd);
                continue;
            }
        }
        if (mc && pm_rng_below(rng, 2)) {
            struct ip_mreqn mr;
            memset(&mr, 0, sizeof mr);
            inet_pton(AF_INET, MCAST_ADDR, &mr.imr_multiaddr);
            mr.imr_ifindex = (int)lo_index;
            if (setsockopt(s->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) == 0 &&
                (s->joined = true))
                snprintf(s->desc + strlen(s->desc), sizeof s->desc - strlen(s->desc), "; join");
        }
    bound:
        read_back(s);
        /* connect() from a wildcard: rehashed out of its reuseport group */
        if (s->connected && !pm_ip_eq(&s->bound, &s->m.laddr)) s->m.reuseport = false;
        s->m.handle = (uint32_t)nu;
        char mbuf[160];
        model_str(s, nu, mbuf, sizeof mbuf);
        logf_("%s -> %s", s->desc, mbuf);
        st.udp_connected += s->connected;
        st.devbound += s->m.ifindex != 0;
        nu++;
    }
    /* The deferred connects: connect() is remove + insert for the table,
     * so these go in last, in the order they connected. */
    bool late[MAXS] = {false};
    for (int i = 0; i < nu; i++) {
        ksock *s = &us[i];
        if (!s->deferred) continue;
        int r = connect(s->fd, (struct sockaddr *)&s->peer.ss, s->peer.len);
        read_back(s);
        if (s->connected && !pm_ip_eq(&s->bound, &s->m.laddr)) s->m.reuseport = false;
        late[i] = r == 0;
        st.udp_connected += s->connected;
        st.late_connects += late[i];
        char mbuf[160];
        model_str(s, i, mbuf, sizeof mbuf);
        logf_("connect(s%d) later = %s -> %s", i, r ? strerror(errno) : "0", mbuf);
    }
    pm_udptab *t;
    if (pm_udptab_create(&t, tkey)) exit(1);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < nu; i++) {
            if (late[i] != (pass == 1)) continue;
            int r = pm_udptab_insert(t, &us[i].m);
            if (r) {
                logf_("pm_udptab_insert(s%d) = %d", i, r);
                dump("the kernel has a socket the table refuses", q);
                return false;
            }
        }
    }
    st.udp_scenarios++;
    st.udp_sockets += (unsigned)nu;
    bool ok = true;
    if (mc || bc) {
        /* Every socket that matches: with IP_MULTICAST_ALL (the default)
         * a socket gets every group some socket joined on lo. */
        const char *dst = mc ? MCAST_ADDR : BCAST_ADDR;
        const char *src = src4[pm_rng_below(rng, 3)];
        uint16_t sport = (uint16_t)(CPORT + pm_rng_below(rng, 2));
        unsigned got = udp_send(us, nu, src, sport, dst, port, bc);
        pm_tuple k = {.proto = PM_IPPROTO_UDP, .lport = port, .fport = sport};
        int fam;
        pm_ip_parse(dst, &k.laddr, &fam);
        pm_ip_parse(src, &k.faddr, &fam);
        pm_udptab_iter it;
        uint32_t h;
        unsigned want_set = 0;
        pm_udptab_mcast_begin(t, &it, &k, lo_index);
        while (pm_udptab_mcast_next(t, &it, &h)) {
            /* Group membership is the caller's filter (demux.h): an
             * AF_INET socket has IP_MULTICAST_ALL on from inet_create();
             * an AF_INET6 one (inet6_create() leaves it off) gets IPv4
             * multicast only for a group it joined (ip_mc_sf_allow()). */
            if (mc && us[h].m.family == PM_AF_INET6 && !us[h].joined) continue;
            want_set |= 1u << h;
        }
        if (mc)
            st.mcasts++;
        else
            st.bcasts++;
        st.mcast_deliveries += (unsigned)__builtin_popcount(got);
        logf_("%s %s:%u -> %s:%u: kernel set 0x%x, pm_udptab 0x%x", mc ? "multicast" : "broadcast",
              src, sport, dst, port, got, want_set);
        if (got != want_set) ok = false;
    }
    unsigned nsend = 2 + pm_rng_below(rng, 5);
    for (unsigned j = 0; j < nsend && ok; j++) {
        bool v6 = pm_rng_below(rng, 5) < 2;
        const char *dst =
            v6 ? dst6[pm_rng_below(rng, have_v6_2 ? 2 : 1)] : dst4[pm_rng_below(rng, 3)];
        const char *src =
            v6 ? src6[pm_rng_below(rng, have_v6_2 ? 2 : 1)] : src4[pm_rng_below(rng, 3)];
        uint16_t sport = (uint16_t)(CPORT + pm_rng_below(rng, 2));
        unsigned got = udp_send(us, nu, src, sport, dst, port, false);
        pm_tuple k = {.proto = PM_IPPROTO_UDP, .lport = port, .fport = sport};
        int fam;
        pm_ip_parse(dst, &k.laddr, &fam);
        pm_ip_parse(src, &k.faddr, &fam);
        uint32_t lw = pm_udptab_lookup(t, &k, lo_index);
        uint32_t lw2 = pm_udptab_lookup(t, &k, lo_index);
        st.datagrams++;
        int kw = got ? __builtin_ctz(got) : -1;
        logf_("datagram [%s]:%u -> [%s]:%u: kernel %s%d, pm_udptab %d", src, sport, dst, port,
              got & (got - 1) ? "SEVERAL " : "", kw, (int)lw);
        if (got & (got - 1)) {
            ok = false;
            break;
        }
        if (kw < 0) {
            st.udp_none++;
            if (lw != PM_DEMUX_NONE) ok = false;
            continue;
        }
        if (lw == PM_DEMUX_NONE || lw != lw2) {
            ok = false;
            continue;
        }
        if ((int)lw == kw) continue;
        if (same_group(&us[kw], &us[lw]) && !us[kw].connected && !us[lw].connected) continue;
        /* Before 6.13 two sockets connected to the same 4-tuple are told
         * apart by compute_score() (AF_INET first), not by hash4. */
        if (!hash4_kernel && us[kw].connected && us[lw].connected) {
            st.pre_hash4_ties++;
            continue;
        }
        ok = false;
    }
    if (!ok) dump("udp", q);
    pm_udptab_destroy(t);
    for (int i = 0; i < nu; i++) close(us[i].fd);
    return ok;
}

static void test_tcp_listeners(void **state)
{
    (void)state;
    pm_rng rng;
    pm_rng_seed(&rng, g_seed);
    for (unsigned q = 0; q < g_scenarios; q++)
        if (!tcp_scenario(&rng, q)) fail();
    printf("tcp: %u scenarios, %u listeners (%u binds/listens refused and dropped), %u "
           "connections (%u refused), %u reuseport-group hits: kernel and pm_lhash agree\n",
           st.scenarios, st.sockets, st.refused_binds, st.lookups, st.kernel_none,
           st.reuseport_hits);
    assert_true(st.kernel_none > 0 && st.reuseport_hits > 0);
}

static void test_udp(void **state)
{
    (void)state;
    pm_rng rng;
    pm_rng_seed(&rng, g_seed ^ 0x5555);
    for (unsigned q = 0; q < g_scenarios; q++)
        if (!udp_scenario(&rng, q)) fail();
    printf("udp: %u scenarios, %u sockets (%u connected), %u datagrams (%u to nobody), %u "
           "broadcasts, %u multicasts (%u deliveries): kernel and pm_udptab agree\n",
           st.udp_scenarios, st.udp_sockets, st.udp_connected, st.datagrams, st.udp_none, st.bcasts,
           st.mcasts, st.mcast_deliveries);
    printf("sockets with SO_BINDTODEVICE (tcp + udp): %u; udp connects after the binds: %u; "
           "pre-6.13 connected ties let pass: %u\n",
           st.devbound, st.late_connects, st.pre_hash4_ties);
    assert_true(st.udp_connected > 0 && st.udp_none > 0 && st.bcasts > 0 && st.devbound > 0 &&
                st.late_connects > 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (geteuid() != 0) {
        printf("SKIP: needs root (a network namespace of its own)\n");
        return 77;
    }
    if (netns_enter() != 0) return 77;
    if (netns_lo_up() != 0) {
        printf("SKIP: cannot bring lo up in the namespace\n");
        return 77;
    }
    lo_index = if_nametoindex("lo");
    /* One CPU: loopback delivery in send order (see flush_marker). */
    cpu_set_t cs;
    CPU_ZERO(&cs);
    CPU_SET(sched_getcpu(), &cs);
    sched_setaffinity(0, sizeof cs, &cs);
    int tfd = open("/dev/net/tun", O_RDWR);
    if (tfd >= 0) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        strcpy(ifr.ifr_name, TUN_NAME);
        if (ioctl(tfd, TUNSETIFF, &ifr) == 0) tun_index = if_nametoindex(TUN_NAME);
    }
    if (!tun_index) printf("note: no TUN device; SO_BINDTODEVICE uses lo only\n");
    struct utsname un;
    unsigned kmaj = 0, kmin = 0;
    if (uname(&un) == 0) sscanf(un.release, "%u.%u", &kmaj, &kmin);
    hash4_kernel = kmaj > 6 || (kmaj == 6 && kmin >= 13);
    printf("kernel %u.%u: UDP hash4 %s\n", kmaj, kmin,
           hash4_kernel ? "(connected 4-tuple first, last connected wins)" : "absent");
    have_v6_2 = system("ip -6 addr add ::2/128 dev lo nodad 2>/dev/null") == 0;
    if (!have_v6_2) printf("note: could not add ::2 to lo; IPv6 uses ::1 only\n");
    /* multicast on lo: the flag and a route for 224/4 */
    have_mcast = system("ip link set lo multicast on 2>/dev/null && "
                        "ip route add 224.0.0.0/4 dev lo 2>/dev/null") == 0;
    if (!have_mcast) printf("note: no multicast on lo; broadcast only\n");
    sentinel_fd = socket(AF_INET, SOCK_DGRAM, 0);
    marker_fd = socket(AF_INET, SOCK_DGRAM, 0);
    saddr s = mk("127.0.0.1", SENTINEL);
    if (bind(sentinel_fd, (struct sockaddr *)&s.ss, s.len)) {
        printf("sentinel: %s\n", strerror(errno));
        return 1;
    }
    if (have_mcast) {
        /* The group is joined on lo (by the sentinel), so every socket
         * that matches gets it: IP_MULTICAST_ALL is on by default. */
        struct ip_mreqn mr;
        memset(&mr, 0, sizeof mr);
        inet_pton(AF_INET, MCAST_ADDR, &mr.imr_multiaddr);
        mr.imr_ifindex = (int)lo_index;
        if (setsockopt(sentinel_fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr)) {
            printf("note: IP_ADD_MEMBERSHIP on lo: %s; broadcast only\n", strerror(errno));
            have_mcast = false;
        }
    }
    g_seed = oracle_seed();
    /* ports BASE_PORT .. 29999 */
    g_scenarios = oracle_count("PM_ORACLE_SCENARIOS", g_scenarios, 20000);
    printf("demux oracle: seed %llu (PM_ORACLE_SEED=%llu reproduces), %u scenarios per protocol\n",
           (unsigned long long)g_seed, (unsigned long long)g_seed, g_scenarios);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_listeners),
        cmocka_unit_test(test_udp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
