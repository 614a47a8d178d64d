/* The kernel as oracle for the host: random sequences of socket, options
 * (SO_REUSEADDR, SO_REUSEPORT, SO_LINGER {1,0}, IP_BIND_ADDRESS_NO_PORT),
 * bind, connect to a loopback listener, and close -- gracefully (client
 * or server first, so TIME_WAIT lands on either side) or abortively --
 * run against Linux in a network namespace of our own and against a
 * portmux host whose output is looped back into its input. Every call
 * must give the same result, and, when tcp_tw_reuse is off, the number of
 * client-side TIME_WAIT sockets (local port not the listener's) must agree
 * after each close. Server-side ones are not compared: which port a
 * connect() takes is random on both sides, and a SYN from a port with a
 * server-side TIME_WAIT reopens it, so their count depends on the draw.
 * Each sequence has its own ephemeral range of 4 ports (so connect()
 * exhausts it and meets TIME_WAIT, with tcp_tw_reuse 0, 1 or 2 drawn per
 * sequence) and its own two bind ports. The sibling of test_bind_oracle.c,
 * which drives the bind table directly. Needs root; exits 77 otherwise.
 *
 * PM_ORACLE_SEED=n and PM_HOST_ORACLE_SEQS=n override the seed and count. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"
#include "unit/testlib/netns.h"
#include "portmux/host.h"
#include "portmux/socket.h"
#include "unit/testlib/oracle.h"

#define NSLOTS 6
#define MAXOPS 40
#define LPORT  2000

static const pm_cred root = {0, true};

typedef struct slot {
    bool open, connected;
    int kfd, kafd; /* kernel: socket, accepted side */
    int lfd, lafd; /* library */
    uint8_t fam;
} slot;

static int klisten = -1;
static pm_host *H;
static int hlisten = -1;
static uint16_t seq_lo, seq_hi, bport[2];
static unsigned n_calls, n_ok, n_notavail, n_inuse, n_inval, n_isconn, n_other, n_tw_checks;
static unsigned n_reuse_seqs;

static char oplog[MAXOPS * 2 + 8][160];
static int nlog;

__attribute__((format(printf, 1, 2))) static void logop(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(oplog[nlog], sizeof oplog[0], fmt, ap);
    va_end(ap);
    if (nlog < (int)(sizeof oplog / sizeof oplog[0]) - 1) nlog++;
}

static int kres(int r)
{
    return r < 0 ? -errno : 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The host's loopback: its output is its input, until quiet. */
static void pump(void)
{
    static uint8_t buf[PM_HOST_MIN_OUT];
    for (int i = 0; i < 10000; i++) {
        uint64_t t = now_us();
        pm_host_advance(H, t);
        int n = pm_host_output(H, buf, sizeof buf, t);
        if (n <= 0) return;
        pm_host_input(H, buf, (size_t)n, t);
    }
}

/* TIME_WAIT sockets on this sequence's ports, from /proc/net/tcp{,6}. */
static unsigned kernel_tw(void)
{
    unsigned n = 0;
    const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp) continue;
        char line[512];
        if (!fgets(line, sizeof line, fp)) {
            fclose(fp);
            continue;
        }
        while (fgets(line, sizeof line, fp)) {
            char la[64], ra[64];
            unsigned st;
            if (sscanf(line, "%*d: %63s %63s %x", la, ra, &st) != 3) continue;
            if (st != 6) continue;
            char *lp = strrchr(la, ':'), *rp = strrchr(ra, ':');
            if (!lp || !rp) continue;
            unsigned l = (unsigned)strtoul(lp + 1, NULL, 16),
                     r = (unsigned)strtoul(rp + 1, NULL, 16);
            (void)r;
            bool mine = (l >= seq_lo && l <= seq_hi) || l == bport[0] || l == bport[1];
            if (mine) n++;
        }
        fclose(fp);
    }
    return n;
}

static int tw_fn(void *arg, const pm_host_sock_info *i)
{
    if (i->state == PM_TCP_TIME_WAIT && i->local.port != LPORT) (*(unsigned *)arg)++;
    return 0;
}

static unsigned host_tw(void)
{
    unsigned n = 0;
    pm_host_sockets(H, now_us(), tw_fn, &n);
    return n;
}

static void make_host(uint8_t tw_reuse)
{
    pm_host_config c;
    pm_host_config_default(&c, PM_PERS_LINUX);
    c.seed = now_us();
    c.max_sockets = 64;
    c.max_tcbs = 32;
    c.max_tw = 64;
    c.tcp_sndbuf = c.tcp_rcvbuf = 8192;
    c.n_local = 1;
    c.local[0] = pm_ip4(0x7f000001);
    c.local_port_range = (pm_port_range){seq_lo, seq_hi};
    c.tw_reuse = tw_reuse;
    c.tw_reuse_delay_us = 1000; /* as the sysctl below */
    if (pm_host_create(&H, &c)) {
        fprintf(stderr, "pm_host_create failed\n");
        exit(1);
    }
    hlisten = pm_sock_socket(H, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr a = {PM_AF_INET, LPORT, pm_ip4(0x7f000001)};
    if (pm_sock_bind(H, hlisten, &a, &root) || pm_sock_listen(H, hlisten, 64, &root)) {
        fprintf(stderr, "library listener failed\n");
        exit(1);
    }
}

static int k_sockaddr(uint8_t fam, const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (fam == 4) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        inet_pton(AF_INET, addr, &s->sin_addr);
        return sizeof *s;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    inet_pton(AF_INET6, addr, &s->sin6_addr);
    return sizeof *s;
}

static pm_sockaddr l_sockaddr(uint8_t fam, const char *addr, uint16_t port)
{
    pm_sockaddr sa;
    int f;
    memset(&sa, 0, sizeof sa);
    pm_ip_parse(addr, &sa.ip, &f);
    sa.family = fam == 4 ? PM_AF_INET : PM_AF_INET6;
    sa.port = port;
    return sa;
}

static void both_opt_int(slot *s, int level, int name, int v, int *kr, int *lr)
{
    *kr = kres(setsockopt(s->kfd, level, name, &v, sizeof v));
    int pl = level == SOL_SOCKET ? PM_SOL_SOCKET : level == IPPROTO_IP ? PM_SOL_IP : level;
    int pn = name;
    *lr = pm_sock_setsockopt(H, s->lfd, pl, pn, &v, sizeof v);
}

static int k_connect(slot *s)
{
    struct sockaddr_storage ss;
    int len = k_sockaddr(s->fam, s->fam == 4 ? "127.0.0.1" : "::ffff:127.0.0.1", LPORT, &ss);
    int r = kres(connect(s->kfd, (struct sockaddr *)&ss, (socklen_t)len));
    if (r == 0) s->kafd = accept(klisten, NULL, NULL);
    return r;
}

static int l_connect(slot *s)
{
    pm_sockaddr d = l_sockaddr(s->fam, s->fam == 4 ? "127.0.0.1" : "::ffff:127.0.0.1", LPORT);
    int r = pm_sock_connect(H, s->lfd, &d, &root, now_us());
    if (r != -EINPROGRESS) return r;
    pump();
    /* a blocking connect() is the non-blocking one followed by the call
     * that reports completion (__inet_stream_connect: 0 or the error) */
    r = pm_sock_connect(H, s->lfd, &d, &root, now_us());
    if (r) return r;
    s->lafd = pm_sock_accept(H, hlisten, NULL, &root);
    return s->lafd >= 0 ? 0 : s->lafd;
}

/* How a slot closes. */
enum { CL_CLIENT_FIRST, CL_SERVER_FIRST, CL_ABORT, CL_COUNT };

/* Waits (bounded) until the kernel socket fd reaches TCP state st. Fixed
 * sleeps were not enough on a loaded machine: a client still in FIN_WAIT_2
 * or LAST_ACK holds its port, and the kernel then refused a connect() the
 * host allowed. */
static void k_wait_state(int fd, int st)
{
    for (int i = 0; i < 4000; i++) {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || ti.tcpi_state == st) return;
        usleep(500);
    }
    printf("note: kernel socket did not reach TCP state %d in 2 s\n", st);
}

/* An orderly close, first side a then side b, that returns only once the
 * kernel's last ACK has landed: a ends in TIME_WAIT, b in CLOSED. */
static void k_close_orderly(int a, int b)
{
    shutdown(a, SHUT_WR);
    k_wait_state(b, TCP_CLOSE_WAIT);
    shutdown(b, SHUT_WR);
    k_wait_state(b, TCP_CLOSE);
    close(a);
    close(b);
}

static void both_close(slot *s, int how)
{
    if (s->connected && how == CL_ABORT) {
        struct linger l = {1, 0};
        setsockopt(s->kfd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        pm_linger pl = {1, 0};
        pm_sock_setsockopt(H, s->lfd, PM_SOL_SOCKET, PM_SO_LINGER, &pl, sizeof pl);
    }
    if (s->connected && how == CL_SERVER_FIRST) {
        k_close_orderly(s->kafd, s->kfd);
        pm_sock_close(H, s->lafd, now_us());
        pump();
        pm_sock_close(H, s->lfd, now_us());
    } else if (s->connected && how == CL_CLIENT_FIRST) {
        k_close_orderly(s->kfd, s->kafd);
        pm_sock_close(H, s->lfd, now_us());
        pump();
        pm_sock_close(H, s->lafd, now_us());
    } else {
        close(s->kfd);
        pm_sock_close(H, s->lfd, now_us());
        pump();
        usleep(2000);
        if (s->connected) {
            close(s->kafd);
            pm_sock_close(H, s->lafd, now_us());
        }
    }
    pump();
    usleep(2000); /* the last ACK lands: TIME_WAIT is counted after it */
    pump();
    s->open = s->connected = false;
}

static void count(int kr)
{
    n_calls++;
    if (kr == 0)
        n_ok++;
    else if (kr == -EADDRNOTAVAIL)
        n_notavail++;
    else if (kr == -EADDRINUSE)
        n_inuse++;
    else if (kr == -EINVAL)
        n_inval++;
    else if (kr == -EISCONN)
        n_isconn++;
    else
        n_other++;
}

static bool run_sequence(pm_rng *rng, unsigned q)
{
    slot s[NSLOTS];
    memset(s, 0, sizeof s);
    nlog = 0;
    seq_lo = (uint16_t)(40000 + 4 * q);
    seq_hi = (uint16_t)(seq_lo + 3);
    bport[0] = (uint16_t)(10000 + 2 * q);
    bport[1] = (uint16_t)(bport[0] + 1);
    uint8_t reuse = (uint8_t)pm_rng_below(rng, 3);
    char buf[64];
    snprintf(buf, sizeof buf, "%u %u", seq_lo, seq_hi);
    netns_write_file("/proc/sys/net/ipv4/ip_local_port_range", buf);
    snprintf(buf, sizeof buf, "%u", reuse);
    netns_write_file("/proc/sys/net/ipv4/tcp_tw_reuse", buf);
    make_host(reuse);
    if (reuse) n_reuse_seqs++;
    logop("ip_local_port_range %u-%u, tcp_tw_reuse %u", seq_lo, seq_hi, reuse);
    bool ok = true;
    unsigned nops = 6 + pm_rng_below(rng, MAXOPS - 6);
    for (unsigned op = 0; op < nops && ok; op++) {
        int i = (int)pm_rng_below(rng, NSLOTS);
        slot *m = &s[i];
        int kr = 0, lr = 0;
        if (!m->open) {
            m->fam = pm_rng_below(rng, 3) ? 4 : 6;
            m->kfd = socket(m->fam == 4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
            m->lfd =
                pm_sock_socket(H, m->fam == 4 ? PM_AF_INET : PM_AF_INET6, PM_SOCK_STREAM, &root);
            if (m->kfd < 0 || m->lfd < 0) {
                printf("socket failed\n");
                exit(1);
            }
            m->kafd = m->lafd = -1;
            m->open = true;
            logop("s%d = socket(tcp%u)", i, m->fam);
            continue;
        }
        /* steer: connected sockets mostly close, others mostly connect */
        unsigned roll = pm_rng_below(rng, 20);
        if (m->connected)
            roll = roll < 3 ? 0 : roll < 6 ? 10 : 19;
        else if (roll >= 16 && pm_rng_below(rng, 2))
            roll = 10;
        if (roll < 4) { /* options */
            static const int names[][2] = {{SOL_SOCKET, SO_REUSEADDR},
                                           {SOL_SOCKET, SO_REUSEPORT},
                                           {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT}};
            int k = (int)pm_rng_below(rng, 3), v = (int)pm_rng_below(rng, 2);
            both_opt_int(m, names[k][0], names[k][1], v, &kr, &lr);
            logop("setsockopt(s%d, %s, %d) = %d (lib %d)", i,
                  k == 0   ? "SO_REUSEADDR"
                  : k == 1 ? "SO_REUSEPORT"
                           : "IP_BIND_ADDRESS_NO_PORT",
                  v, kr, lr);
        } else if (roll < 9) { /* bind */
            const char *a4[] = {"127.0.0.1", "0.0.0.0"}, *a6[] = {"::ffff:127.0.0.1", "::"};
            const char *a = m->fam == 4 ? a4[pm_rng_below(rng, 2)] : a6[pm_rng_below(rng, 2)];
            /* bind(0) only without tcp_tw_reuse: Linux's connect() takes the
             * first port from a random offset that is free or has a
             * reusable TIME_WAIT, so which ports stay free for bind(0)
             * depends on the draw (the library reuses only when no port is
             * free) */
            uint16_t port = pm_rng_below(rng, 3) || reuse ? bport[pm_rng_below(rng, 2)] : 0;
            struct sockaddr_storage ss;
            int len = k_sockaddr(m->fam, a, port, &ss);
            kr = kres(bind(m->kfd, (struct sockaddr *)&ss, (socklen_t)len));
            pm_sockaddr sa = l_sockaddr(m->fam, a, port);
            lr = pm_sock_bind(H, m->lfd, &sa, &root);
            logop("bind(s%d, %s port %u) = %d (lib %d)", i, a, port, kr, lr);
        } else if (roll < 16) {      /* connect */
            if (reuse) usleep(3000); /* past tcp_tw_reuse_delay (1 ms here) */
            kr = k_connect(m);
            lr = l_connect(m);
            if (kr == 0 && lr == 0) m->connected = true;
            logop("connect(s%d, 127.0.0.1:%u) = %d (lib %d)", i, LPORT, kr, lr);
        } else { /* close */
            int how = (int)pm_rng_below(rng, CL_COUNT);
            logop("close(s%d) %s", i,
                  !m->connected            ? ""
                  : how == CL_CLIENT_FIRST ? "client first"
                  : how == CL_SERVER_FIRST ? "server first"
                                           : "SO_LINGER {1,0}");
            both_close(m, how);
            if (!reuse) {
                unsigned kt = kernel_tw(), lt = host_tw();
                logop("  TIME_WAIT: kernel %u, lib %u", kt, lt);
                n_tw_checks++;
                if (kt != lt) ok = false;
            }
            continue;
        }
        count(kr);
        if (kr != lr) ok = false;
    }
    for (int i = 0; i < NSLOTS; i++)
        if (s[i].open) both_close(&s[i], CL_ABORT);
    pm_host_destroy(H);
    H = NULL;
    return ok;
}

static int child(uint64_t seed, unsigned nseq)
{
    if (netns_enter() != 0) return 77;
    if (netns_lo_up() != 0) {
        printf("SKIP: cannot bring lo up\n");
        return 77;
    }
    if (netns_write_file("/proc/sys/net/ipv4/tcp_tw_reuse_delay", "1") != 0) {
        printf("SKIP: no net.ipv4.tcp_tw_reuse_delay (Linux < 6.13)\n");
        return 77;
    }
    klisten = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in lsin = {.sin_family = AF_INET, .sin_port = htons(LPORT)};
    lsin.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(klisten, (struct sockaddr *)&lsin, sizeof lsin) || listen(klisten, 64)) {
        printf("listener: %s\n", strerror(errno));
        return 1;
    }
    pm_rng rng;
    pm_rng_seed(&rng, seed);
    for (unsigned q = 0; q < nseq; q++) {
        if (!run_sequence(&rng, q)) {
            printf("DIVERGENCE with the kernel: seed %llu, sequence %u\n", (unsigned long long)seed,
                   q);
            for (int i = 0; i < nlog; i++) printf("  %s\n", oplog[i]);
            return 1;
        }
    }
    printf("host oracle: %u sequences (%u with tcp_tw_reuse), %u calls, %u TIME_WAIT counts, "
           "kernel and host agree (seed %llu)\n",
           nseq, n_reuse_seqs, n_calls, n_tw_checks, (unsigned long long)seed);
    printf("results: %u ok, %u EADDRNOTAVAIL, %u EADDRINUSE, %u EINVAL, %u EISCONN, %u other\n",
           n_ok, n_notavail, n_inuse, n_inval, n_isconn, n_other);
    if (!n_notavail || !n_inuse) {
        printf("the sequences did not reach port exhaustion and conflicts\n");
        return 1;
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (geteuid() != 0) {
        printf("SKIP: needs root (network namespace)\n");
        return 77;
    }
    uint64_t seed = oracle_seed();
    unsigned nseq =
        oracle_count("PM_HOST_ORACLE_SEQS", 150, 5000); /* 4 ports each in 40000-59999 */
    printf("host oracle seed %llu (PM_ORACLE_SEED=%llu reproduces)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return oracle_run_child(child, seed, nseq);
}
