/* The oracle: random sequences of socket / setsockopt(SO_REUSEADDR,
 * SO_REUSEPORT, IPV6_V6ONLY) / bind / listen / close, run against the real
 * Linux kernel (in a network namespace of our own) and against the bind
 * table; every call must give the same result (0 or the same errno).
 * uids are switched with setresuid() so that the SO_REUSEPORT uid rule
 * and the privileged-port rule (ip_unprivileged_port_start, set inside the
 * namespace) are exercised. Needs root; exits 77 otherwise.
 *
 * PM_ORACLE_SEED=n and PM_ORACLE_SEQS=n override the seed and the count. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"
#include "portmux/addr.h"
#include "portmux/bind.h"
#include "portmux/ephemeral.h"
#include "unit/testlib/netns.h"
#include "unit/testlib/oracle.h"

#define NSLOTS 5
#define MAXOPS 24

static const uint32_t uids[] = {0, 1000, 1001};
static const char *const addrs4[] = {"127.0.0.1", "127.0.0.2", "0.0.0.0"};
static const char *const addrs6[] = {"::1", "::", "::ffff:127.0.0.1"};

typedef struct msock {
    bool open;
    int fd;
    uint8_t proto; /* PM_IPPROTO_TCP / UDP */
    uint8_t fam;   /* 4 or 6 */
    uint32_t uid;
    bool ra, rp, v6only, listening;
    pm_bind_id id;
    int afd;        /* the listener's side of a connection, or -1 */
    pm_eph_id conn; /* the library's 5-tuple, or PM_EPH_NONE */
} msock;

static int listener = -1; /* 127.0.0.1:2000, outside the ports under test */

/* How often each result came up, to show the sequences reach every rule. */
static unsigned n_ok, n_inuse, n_acces, n_inval, n_notavail, n_isconn, n_connects, n_other;
static unsigned n_grouped; /* connections whose owner joined its port's group */

static char oplog[MAXOPS * 2 + 8][120];
static int nlog;

__attribute__((format(printf, 1, 2))) static void logop(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(oplog[nlog], sizeof oplog[0], fmt, ap);
    va_end(ap);
    if (nlog < (int)(sizeof oplog / sizeof oplog[0]) - 1) nlog++;
}

static int as_uid(uint32_t uid)
{
    /* euid (and so fsuid and the effective capabilities) follow uid; the
     * saved uid stays 0 so that we can come back. */
    return (int)syscall(SYS_setresuid, -1, (int)uid, -1);
}

static int kres(int r)
{
    return r < 0 ? -errno : 0;
}

/* The kernel side of bind(). */
static int k_bind(const msock *s, const char *addr, uint16_t port)
{
    if (s->fam == 4) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, addr, &sin.sin_addr);
        return kres(bind(s->fd, (struct sockaddr *)&sin, sizeof sin));
    }
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, addr, &sin6.sin6_addr);
    return kres(bind(s->fd, (struct sockaddr *)&sin6, sizeof sin6));
}

static pm_bind_opts lib_opts(const msock *s)
{
    pm_bind_opts o = {s->fam == 4 ? PM_AF_INET : PM_AF_INET6, s->ra, s->rp, s->v6only};
    return o;
}

static pm_cred lib_cred(const msock *s)
{
    pm_cred c = {s->uid, s->uid == 0};
    return c;
}

/* The library side: the socket layer's few lines around the bind table. */
static int l_bind(pm_bind_table *t, pm_eph *eph, msock *s, const char *addr, uint16_t port)
{
    pm_sockaddr sa;
    int fam;
    memset(&sa, 0, sizeof sa);
    pm_ip_parse(addr, &sa.ip, &fam);
    sa.family = s->fam == 4 ? PM_AF_INET : PM_AF_INET6;
    sa.port = port;
    pm_bind_opts o = lib_opts(s);
    pm_cred c = lib_cred(s);
    int r = port ? pm_bind(t, s->proto, &sa, &o, &c, &s->id)
                 : pm_eph_bind(eph, s->proto, &sa, &o, &c, NULL, &s->id);
    if (r == 0 && sa.family == PM_AF_INET6 && !pm_ip_is_any(&sa.ip) && !pm_ip_is_v4(&sa.ip))
        s->v6only = true; /* Linux __inet6_bind() */
    return r;
}

static int l_listen(pm_bind_table *t, pm_eph *eph, msock *s)
{
    if (s->proto == PM_IPPROTO_UDP) return -EOPNOTSUPP;
    if (s->listening) return 0;
    if (s->id == PM_BIND_NONE) {
        /* Linux inet_csk_listen_start(): get_port(0), an autobind */
        pm_sockaddr sa = {s->fam == 4 ? PM_AF_INET : PM_AF_INET6, 0,
                          s->fam == 4 ? pm_ip_any4 : pm_ip_any6};
        pm_bind_opts o = lib_opts(s);
        pm_cred c = lib_cred(s);
        int r = pm_eph_bind(eph, s->proto, &sa, &o, &c, NULL, &s->id);
        if (r) return -EADDRINUSE;
    }
    int r = pm_bind_listen(t, s->id);
    if (r == 0) s->listening = true;
    return r;
}

/* TIME_WAIT entries of this sequence, released (library) at its end; the
 * kernel's stay for 60 s, on ports no later sequence uses. */
static pm_eph_id tw_conns[64];
static pm_bind_id tw_owners[64];
static unsigned n_tw, n_tw_total;

static void l_close(pm_bind_table *t, pm_eph *eph, msock *s, bool time_wait)
{
    if (s->conn != PM_EPH_NONE) {
        if (time_wait && n_tw < 64) {
            pm_bind_set_state(t, &s->id, PM_BIND_TIME_WAIT); /* the owner stays */
            if (pm_eph_time_wait(eph, s->conn, s->id, true, 0) != 0) abort();
            tw_owners[n_tw] = s->id;
            tw_conns[n_tw++] = s->conn;
        } else {
            pm_eph_release(eph, s->conn);
            pm_bind_release(t, s->id);
        }
    } else if (s->id != PM_BIND_NONE) {
        pm_bind_release(t, s->id);
    }
    s->id = PM_BIND_NONE;
    s->conn = PM_EPH_NONE;
}

/* close(2) on both sides. A connection ends either with a RST (SO_LINGER
 * 0) or gracefully: we close first, then the listener's side, so our side
 * goes FIN_WAIT2 -> TIME_WAIT (with timestamps, as loopback has them). */
static void both_close(pm_bind_table *t, pm_eph *eph, msock *s, bool graceful)
{
    bool tw = s->conn != PM_EPH_NONE && graceful;
    if (s->conn != PM_EPH_NONE && !graceful) {
        struct linger l = {1, 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(s->fd);
    if (s->afd >= 0) close(s->afd);
    s->afd = -1;
    if (tw) n_tw_total++;
    l_close(t, eph, s, tw);
}

/* connect(2) to the listener: IPv4 TCP sockets only. */
static int k_connect(msock *s)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(2000)};
    sin.sin_addr.s_addr = htonl(0x7f000001);
    int r = kres(connect(s->fd, (struct sockaddr *)&sin, sizeof sin));
    if (r == 0) s->afd = accept(listener, NULL, NULL);
    return r;
}

static int l_connect(pm_eph *eph, msock *s)
{
    if (s->listening || s->conn != PM_EPH_NONE) return -EISCONN;
    pm_eph_connect_req r;
    memset(&r, 0, sizeof r);
    r.proto = PM_IPPROTO_TCP;
    r.local.family = r.remote.family = PM_AF_INET;
    r.local.ip = pm_ip4(0x7f000001); /* the route's source */
    if (s->id != PM_BIND_NONE) {
        pm_bind_owner o;
        pm_bind_get(pm_eph_bind_table(eph), s->id, &o);
        if (!pm_ip_is_any(&o.local.ip)) r.local.ip = o.local.ip;
        r.local.port = o.local.port;
    }
    r.remote.ip = pm_ip4(0x7f000001);
    r.remote.port = 2000;
    r.opts = lib_opts(s);
    r.cred = lib_cred(s);
    pm_eph_connect_res res;
    int err = pm_eph_connect(eph, &r, &s->id, &res);
    if (err == 0) s->conn = res.conn;
    for (unsigned k = 0; err == 0 && k < n_tw; k++)
        if (tw_conns[k] == res.reused_tw) { /* taken over: released by the allocator */
            tw_conns[k] = tw_conns[--n_tw];
            tw_owners[k] = tw_owners[n_tw];
        }
    return err;
}

/* setsockopt(SO_REUSEADDR/SO_REUSEPORT) on the library side: a grouped
 * owner may take a record (the handle changes). */
static void set_reuse(pm_bind_table *t, msock *m)
{
    if (m->id != PM_BIND_NONE) pm_bind_set_reuse(t, &m->id, m->ra, m->rp);
}

static int kernel_listen(const msock *s)
{
    return kres(listen(s->fd, 8));
}

static const char *pname(uint8_t p)
{
    return p == PM_IPPROTO_TCP ? "tcp" : "udp";
}

/* One random sequence; returns false on the first divergence. */
static bool run_sequence(pm_rng *rng, pm_bind_table *t, pm_eph *eph, unsigned *calls, unsigned q)
{
    msock s[NSLOTS];
    memset(s, 0, sizeof s);
    for (int i = 0; i < NSLOTS; i++) {
        s[i].id = PM_BIND_NONE;
        s[i].conn = PM_EPH_NONE;
        s[i].afd = -1;
    }
    nlog = 0;
    /* two fresh ports per sequence: TIME_WAIT entries outlive it */
    const uint16_t ports[2] = {(uint16_t)(10000 + 2 * q), (uint16_t)(10001 + 2 * q)};
    const uint16_t unpriv_starts[4] = {ports[1], 1024, 0, (uint16_t)(ports[1] + 1)};
    n_tw = 0;
    uint16_t unpriv = unpriv_starts[pm_rng_below(rng, 4)];
    char buf[16];
    snprintf(buf, sizeof buf, "%u", unpriv);
    if (netns_write_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", buf) != 0) {
        fprintf(stderr, "cannot set ip_unprivileged_port_start\n");
        exit(1);
    }
    pm_bind_set_unprivileged_port_start(t, unpriv);
    logop("ip_unprivileged_port_start = %u", unpriv);
    bool ok = true;
    unsigned nops = 6 + pm_rng_below(rng, MAXOPS - 6);
    for (unsigned op = 0; op < nops && ok; op++) {
        int i = (int)pm_rng_below(rng, NSLOTS);
        msock *m = &s[i];
        /* open slot: 5% new socket, 25% setsockopt, 35% bind, 25% listen, 10% close */
        unsigned roll = pm_rng_below(rng, 20);
        unsigned kind = !m->open    ? 0
                        : roll < 1  ? 0
                        : roll < 6  ? 1
                        : roll < 13 ? 4
                        : roll < 18 ? 7
                                    : 9;
        /* steer towards calls that test rules: bind unbound sockets, listen on TCP ones */
        bool bound = m->open && (m->id != PM_BIND_NONE || m->listening);
        if (kind == 4 && bound && pm_rng_below(rng, 5)) kind = m->proto == PM_IPPROTO_TCP ? 7 : 1;
        if (kind == 7 && m->proto == PM_IPPROTO_UDP && pm_rng_below(rng, 5)) kind = bound ? 1 : 4;
        if (kind == 7 && m->proto == PM_IPPROTO_TCP && m->fam == 4 && pm_rng_below(rng, 10) < 5)
            kind = 8;
        int kr = 0, lr = 0;
        if (kind == 0) { /* socket() */
            if (m->open) {
                bool graceful = pm_rng_below(rng, 2);
                logop(graceful && m->conn != PM_EPH_NONE ? "close(s%d) -> TIME_WAIT" : "close(s%d)",
                      i);
                both_close(t, eph, m, graceful);
            }
            memset(m, 0, sizeof *m);
            m->id = PM_BIND_NONE;
            m->conn = PM_EPH_NONE;
            m->afd = -1;
            m->proto = pm_rng_below(rng, 3) ? PM_IPPROTO_TCP : PM_IPPROTO_UDP;
            m->fam = pm_rng_below(rng, 2) ? 4 : 6;
            m->uid = uids[pm_rng_below(rng, 3)];
            as_uid(m->uid); /* sk_uid is the creator's fsuid */
            m->fd = socket(m->fam == 4 ? AF_INET : AF_INET6,
                           m->proto == PM_IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM, 0);
            as_uid(0);
            if (m->fd < 0) {
                perror("socket");
                exit(1);
            }
            m->open = true;
            logop("s%d = socket(%s%d) uid %u", i, pname(m->proto), m->fam, m->uid);
            /* options set before bind, the common way */
            int one = 1;
            if (pm_rng_below(rng, 2) && setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, 4) == 0) {
                m->ra = true;
                logop("setsockopt(s%d, SO_REUSEADDR, 1)", i);
            }
            if (pm_rng_below(rng, 2) && setsockopt(m->fd, SOL_SOCKET, SO_REUSEPORT, &one, 4) == 0) {
                m->rp = true;
                logop("setsockopt(s%d, SO_REUSEPORT, 1)", i);
            }
            if (m->fam == 6 && pm_rng_below(rng, 3) == 0 &&
                setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, 4) == 0) {
                m->v6only = true;
                logop("setsockopt(s%d, IPV6_V6ONLY, 1)", i);
            }
            continue;
        }
        (*calls)++;
        if (kind <= 3) { /* setsockopt */
            unsigned which = pm_rng_below(rng, m->fam == 6 ? 3 : 2);
            int v = (int)pm_rng_below(rng, 2); /* on or off */
            if (which == 0) {
                kr = kres(setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
                m->ra = v;
                set_reuse(t, m);
                logop("setsockopt(s%d, SO_REUSEADDR, %d) = %d", i, v, kr);
            } else if (which == 1) {
                kr = kres(setsockopt(m->fd, SOL_SOCKET, SO_REUSEPORT, &v, sizeof v));
                m->rp = v;
                set_reuse(t, m);
                logop("setsockopt(s%d, SO_REUSEPORT, %d) = %d", i, v, kr);
            } else {
                kr = kres(setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v));
                /* Linux do_ipv6_setsockopt(): not once bound */
                if (m->id != PM_BIND_NONE)
                    lr = -EINVAL;
                else
                    m->v6only = v;
                logop("setsockopt(s%d, IPV6_V6ONLY, %d) = %d (lib %d)", i, v, kr, lr);
            }
        } else if (kind <= 6) { /* bind */
            const char *a =
                m->fam == 4 ? addrs4[pm_rng_below(rng, 3)] : addrs6[pm_rng_below(rng, 3)];
            if (m->fam == 6 && m->v6only && strchr(a, '.') && pm_rng_below(rng, 2)) a = "::";
            uint16_t port = pm_rng_below(rng, 16) ? ports[pm_rng_below(rng, 4) == 0 ? 0 : 1] : 0;
            as_uid(m->uid);
            kr = k_bind(m, a, port);
            as_uid(0);
            lr = l_bind(t, eph, m, a, port);
            logop("bind(s%d, %s port %u) uid %u = %d (lib %d)", i, a, port, m->uid, kr, lr);
        } else if (kind == 8) { /* connect */
            kr = k_connect(m);
            lr = l_connect(eph, m);
            n_connects += kr == 0;
            n_grouped += lr == 0 && m->id >= PM_BIND_GROUP;
            logop("connect(s%d, 127.0.0.1:2000) = %d (lib %d)", i, kr, lr);
        } else if (kind <= 8) { /* listen */
            as_uid(m->uid);
            kr = kernel_listen(m);
            as_uid(0);
            lr = l_listen(t, eph, m);
            logop("listen(s%d) = %d (lib %d)", i, kr, lr);
        } else { /* close */
            bool graceful = pm_rng_below(rng, 4) != 0;
            if (graceful && m->conn != PM_EPH_NONE)
                logop("close(s%d) -> TIME_WAIT", i);
            else
                logop("close(s%d)", i);
            both_close(t, eph, m, graceful);
            m->open = false;
        }
        if (kr != lr) ok = false;
        if (kr == 0)
            n_ok++;
        else if (kr == -EADDRINUSE)
            n_inuse++;
        else if (kr == -EACCES)
            n_acces++;
        else if (kr == -EINVAL)
            n_inval++;
        else if (kr == -EADDRNOTAVAIL)
            n_notavail++;
        else if (kr == -EISCONN)
            n_isconn++;
        else
            n_other++;
    }
    for (int i = 0; i < NSLOTS; i++)
        if (s[i].open) both_close(t, eph, &s[i], false);
    for (unsigned k = 0; k < n_tw; k++) {
        pm_eph_release(eph, tw_conns[k]);
        pm_bind_release(t, tw_owners[k]);
    }
    n_tw = 0;
    return ok;
}

static int child(uint64_t seed, unsigned nseq)
{
    if (netns_enter() != 0) return 77;
    if (netns_lo_up() != 0) {
        printf("SKIP: cannot bring lo up\n");
        return 77;
    }
    /* keep autobinds (listen() without bind(), bind to port 0) away from
     * the ports under test */
    netns_write_file("/proc/sys/net/ipv4/ip_local_port_range", "40000 40999");
    listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in lsin = {.sin_family = AF_INET, .sin_port = htons(2000)};
    lsin.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(listener, (struct sockaddr *)&lsin, sizeof lsin) || listen(listener, 64)) {
        printf("listener: %s\n", strerror(errno));
        return 1;
    }
    pm_bind_table *t = pm_bind_create(NULL);
    pm_eph_config ec;
    pm_eph_config_default(&ec);
    ec.range.lo = 40000;
    ec.range.hi = 40999;
    ec.seed = seed;
    pm_eph *eph = pm_eph_create(&ec, t);
    if (!t || !eph) return 1;
    pm_rng rng;
    pm_rng_seed(&rng, seed);
    unsigned calls = 0;
    for (unsigned q = 0; q < nseq; q++) {
        if (!run_sequence(&rng, t, eph, &calls, q)) {
            printf("DIVERGENCE with the kernel: seed %llu, sequence %u\n", (unsigned long long)seed,
                   q);
            for (int i = 0; i < nlog; i++) printf("  %s\n", oplog[i]);
            printf("(each call: kernel result, then (lib ...) where it differs in kind)\n");
            return 1;
        }
        pm_bind_stats bs = pm_bind_get_stats(t);
        if (bs.owners || bs.records || bs.classes || pm_eph_get_stats(eph).conns != 0) {
            printf("owners leaked after sequence %u (seed %llu)\n", q, (unsigned long long)seed);
            return 1;
        }
    }
    printf("oracle: %u sequences, %u calls, kernel and library agree (seed %llu)\n", nseq, calls,
           (unsigned long long)seed);
    printf("TIME_WAIT entries made: %u\n", n_tw_total);
    printf("results: %u ok (%u connects), %u EADDRINUSE, %u EACCES, %u EINVAL, %u EADDRNOTAVAIL, "
           "%u EISCONN, %u other\n",
           n_ok, n_connects, n_inuse, n_acces, n_inval, n_notavail, n_isconn, n_other);
    printf("connections grouped in the bind table: %u of %u\n", n_grouped, n_connects);
    if (!n_inuse || !n_acces || !n_inval || !n_grouped) {
        printf("the sequences did not reach every rule\n");
        return 1;
    }
    pm_eph_destroy(eph);
    pm_bind_destroy(t);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (geteuid() != 0) {
        printf("SKIP: needs root (network namespace, setresuid)\n");
        return 77;
    }
    uint64_t seed = oracle_seed();
    /* each sequence has two ports of its own in 10000-37999 */
    unsigned nseq = oracle_count("PM_ORACLE_SEQS", 12000, 14000);
    printf("oracle seed %llu (PM_ORACLE_SEED=%llu reproduces)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return oracle_run_child(child, seed, nseq);
}
