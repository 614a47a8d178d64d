/* libFuzzer target for the host input path: two small hosts wired to each
 * other, driven by the input as a script of operations: random and
 * structured packets (TCP near live sequence numbers, UDP, ICMP errors
 * quoting real output), socket calls with random arguments, packet
 * delivery, loss and duplication between the hosts, and time. After each
 * step the pools stay within their sizes; at the end every descriptor is
 * closed, virtual time runs out all timers, and nothing may be left:
 * no socket, TCB, TIME_WAIT entry, port owner or registered 5-tuple. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/host.h"
#include "portmux/socket.h"

#define NS 24

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static uint8_t u8(rd *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}
static uint16_t u16(rd *r)
{
    return (uint16_t)(u8(r) | u8(r) << 8);
}
static uint32_t u32(rd *r)
{
    return (uint32_t)u16(r) | (uint32_t)u16(r) << 16;
}

static pm_host *H[2];
static uint64_t now;
static const pm_cred root = {0, true};
static uint8_t last[2][PM_HOST_MIN_OUT];
static int last_len[2];

static pm_ip addr(int side, bool v6)
{
    if (!v6) return pm_ip4(0x0a000001u + (uint32_t)side);
    pm_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.b[0] = 0xfd;
    ip.b[15] = (uint8_t)(1 + side);
    return ip;
}

static void mkhost(int side)
{
    pm_host_config c;
    pm_host_config_default(&c, side ? PM_PERS_FREEBSD : PM_PERS_LINUX);
    c.seed = 7u + (unsigned)side;
    c.max_sockets = NS;
    c.max_tcbs = 12;
    c.max_tw = 8;
    c.max_tcp_ext = 2; /* fewer than TCBs: the fallbacks run too */
    c.max_udp = 4;
    c.tcp_sndbuf = c.tcp_rcvbuf = 4096;
    c.udp_rcvbuf = 2048;
    c.out_packets = 32;
    c.n_local = 2;
    c.local[0] = addr(side, false);
    c.local[1] = addr(side, true);
    if (pm_host_create(&H[side], &c)) abort();
}

static uint16_t port_of(rd *r)
{
    static const uint16_t ports[] = {80, 81, 5000, 33000, 40000, 60999, 7, 0};
    return ports[u8(r) % 8];
}

static pm_sockaddr sa_of(rd *r, int side)
{
    uint8_t k = u8(r);
    pm_sockaddr s;
    memset(&s, 0, sizeof s);
    s.family = (k & 1) ? PM_AF_INET6 : PM_AF_INET;
    s.port = port_of(r);
    switch ((k >> 1) & 3) {
    case 0: s.ip = (k & 1) ? pm_ip_any6 : pm_ip_any4; break;
    case 1: s.ip = addr(side, (k & 8) != 0); break;
    case 2: s.ip = addr(1 - side, (k & 8) != 0); break;
    default: s.ip = pm_ip4(0x7f000001); break;
    }
    return s;
}

/* Moves up to n packets from side's output to the other host. */
static void deliver(int side, int n, uint8_t mode)
{
    uint8_t buf[PM_HOST_MIN_OUT];
    for (int i = 0; i < n; i++) {
        int len = pm_host_output(H[side], buf, sizeof buf, now);
        if (len < 0) abort();
        if (len == 0) return;
        memcpy(last[side], buf, (size_t)len);
        last_len[side] = len;
        if ((mode & 3) == 1) continue; /* lost */
        pm_host_input(H[1 - side], buf, (size_t)len, now);
        if ((mode & 3) == 2) pm_host_input(H[1 - side], buf, (size_t)len, now);
    }
}

static void inject_tcp(rd *r, int side)
{
    /* a segment from the other host's address to this one, near a live
     * connection's numbers when there is one */
    pm_packet p;
    memset(&p, 0, sizeof p);
    bool v6 = u8(r) & 1;
    p.ip.version = v6 ? 6 : 4;
    p.ip.proto = PM_IPPROTO_TCP;
    p.ip.ttl = 64;
    p.ip.src = addr(1 - side, v6);
    p.ip.dst = addr(side, v6);
    p.tcp.sport = port_of(r);
    p.tcp.dport = port_of(r);
    p.tcp.seq = u32(r);
    p.tcp.ack = u32(r);
    const pm_tcp *t = pm_sock_tcb(H[side], u8(r) % NS);
    if (t) {
        p.ip.src = t->tuple.faddr;
        p.ip.dst = t->tuple.laddr;
        p.ip.version = pm_ip_is_v4(&t->tuple.laddr) ? 4 : 6;
        p.tcp.sport = t->tuple.fport;
        p.tcp.dport = t->tuple.lport;
        p.tcp.seq = t->rcv_nxt + (uint32_t)(int8_t)u8(r);
        p.tcp.ack = t->snd_una + (uint32_t)(int8_t)u8(r);
    }
    p.tcp.flags = u8(r);
    p.tcp.window = u16(r);
    uint8_t o = u8(r);
    if (o & 1) p.tcp.opts.present |= 1u << PM_TCPOPT_MSS, p.tcp.opts.mss = u16(r);
    if (o & 2) p.tcp.opts.present |= 1u << PM_TCPOPT_WSCALE, p.tcp.opts.wscale = u8(r) % 16;
    if (o & 4) p.tcp.opts.present |= 1u << PM_TCPOPT_SACK_PERM;
    if (o & 8) {
        p.tcp.opts.present |= 1u << PM_TCPOPT_TS;
        p.tcp.opts.ts_val = u32(r);
        p.tcp.opts.ts_ecr = u32(r);
    }
    static uint8_t data[600];
    size_t dl = (o >> 4) * 37u;
    p.tcp.payload = data;
    p.tcp.payload_len = dl;
    uint8_t buf[PM_HOST_MIN_OUT];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    if (n > 0) pm_host_input(H[side], buf, (size_t)n, now);
}

static void inject_icmp(rd *r, int side)
{
    /* an ICMP error quoting what this host last sent */
    if (!last_len[side]) return;
    pm_packet p;
    memset(&p, 0, sizeof p);
    bool v6 = (last[side][0] >> 4) == 6;
    p.ip.version = v6 ? 6 : 4;
    p.ip.proto = v6 ? PM_IPPROTO_ICMPV6 : PM_IPPROTO_ICMP;
    p.ip.ttl = 64;
    p.ip.src = addr(1 - side, v6);
    p.ip.dst = addr(side, v6);
    p.icmp.version = p.ip.version;
    p.icmp.type = v6 ? (uint8_t)(1 + u8(r) % 4) : (uint8_t)(u8(r) & 1 ? 3 : 11 + (u8(r) & 1));
    p.icmp.code = u8(r) % 16;
    p.icmp.rest = u32(r);
    p.icmp.data = last[side];
    size_t q = (size_t)u8(r) + 8;
    p.icmp.data_len = q < (size_t)last_len[side] ? q : (size_t)last_len[side];
    uint8_t buf[PM_HOST_MIN_OUT];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    if (n > 0) pm_host_input(H[side], buf, (size_t)n, now);
}

static void check(int side)
{
    pm_host_stats s;
    pm_host_get_stats(H[side], &s);
    if (s.sockets > NS || s.tcbs > 12 || s.time_wait > 8 || s.udp_queues > 4) abort();
    /* TCB extension records are held by live TCBs only */
    if (pm_host_tcp_stats(H[side])->ext_in_use > s.tcbs) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size};
    /* Hosts are made once: each input must leave them empty (checked
     * below), and creating them costs more than most inputs. Time only
     * moves forward across inputs. */
    if (!H[0]) {
        mkhost(0);
        mkhost(1);
        now = 1000000;
    }
    memset(last_len, 0, sizeof last_len);
    char buf[700];
    memset(buf, 'a', sizeof buf);
    while (r.n) {
        uint8_t op = u8(&r);
        int side = op >> 7;
        pm_host *h = H[side];
        int fd = u8(&r) % NS;
        switch (op % 20) {
        case 0: { /* raw bytes */
            size_t n = u8(&r);
            if (n > r.n) n = r.n;
            pm_host_input(h, r.p, n, now);
            r.p += n;
            r.n -= n;
            break;
        }
        case 1: inject_tcp(&r, side); break;
        case 2: {
            pm_packet p;
            memset(&p, 0, sizeof p);
            p.ip.version = 4;
            p.ip.proto = PM_IPPROTO_UDP;
            p.ip.ttl = 64;
            p.ip.src = addr(1 - side, false);
            p.ip.dst = addr(side, false);
            p.udp.sport = port_of(&r);
            p.udp.dport = port_of(&r);
            p.udp.payload = (const uint8_t *)buf;
            p.udp.payload_len = u8(&r);
            uint8_t b[PM_HOST_MIN_OUT];
            int n = pm_packet_emit(&p, b, sizeof b);
            if (n > 0) pm_host_input(h, b, (size_t)n, now);
            break;
        }
        case 3: inject_icmp(&r, side); break;
        case 4:
            pm_sock_socket(h, u8(&r) & 1 ? PM_AF_INET6 : PM_AF_INET,
                           u8(&r) & 1 ? PM_SOCK_DGRAM : PM_SOCK_STREAM, &root);
            break;
        case 5: {
            pm_sockaddr a = sa_of(&r, side);
            pm_cred c = {1000, (u8(&r) & 1) != 0};
            pm_sock_bind(h, fd, &a, &c);
            break;
        }
        case 6: pm_sock_listen(h, fd, u8(&r) % 6, &root); break;
        case 7: {
            pm_sockaddr a = sa_of(&r, side);
            pm_sock_connect(h, fd, &a, &root, now);
            break;
        }
        case 8: pm_sock_accept(h, fd, NULL, &root); break;
        case 9: {
            size_t n = (size_t)u8(&r) * 3;
            if (n > sizeof buf) n = sizeof buf;
            pm_sock_send(h, fd, buf, n, now);
            break;
        }
        case 10: {
            char in[512];
            pm_sock_recv(h, fd, in, u8(&r) * 2u, now);
            break;
        }
        case 11: pm_sock_close(h, fd, now); break;
        case 12: pm_sock_shutdown(h, fd, u8(&r) % 4, now); break;
        case 13: {
            static const int opts[][2] = {
                {PM_SOL_SOCKET, PM_SO_REUSEADDR},    {PM_SOL_SOCKET, PM_SO_REUSEPORT},
                {PM_SOL_SOCKET, PM_SO_RCVBUF},       {PM_SOL_TCP, PM_TCP_NODELAY},
                {PM_SOL_TCP, PM_TCP_MAXSEG},         {PM_SOL_IP, PM_IP_BIND_ADDRESS_NO_PORT},
                {PM_SOL_IP, PM_IP_LOCAL_PORT_RANGE}, {PM_SOL_IPV6, PM_IPV6_V6ONLY}};
            int k = u8(&r) % 9;
            if (k == 8) {
                pm_linger l = {u8(&r) & 1, u8(&r) & 1};
                pm_sock_setsockopt(h, fd, PM_SOL_SOCKET, PM_SO_LINGER, &l, sizeof l);
            } else {
                int v = (int)u32(&r);
                if (u8(&r) & 1) v &= 0xff;
                pm_sock_setsockopt(h, fd, opts[k][0], opts[k][1], &v, sizeof v);
                size_t len = sizeof v;
                pm_sock_getsockopt(h, fd, opts[k][0], opts[k][1], &v, &len);
            }
            break;
        }
        case 14:
            now += (uint64_t)u16(&r) * 100u;
            pm_host_advance(H[0], now);
            pm_host_advance(H[1], now);
            break;
        case 15: {
            uint64_t d = pm_host_next_deadline(h);
            if (d != UINT64_MAX && d > now && d - now < 200000000u) now = d;
            pm_host_advance(h, now);
            break;
        }
        case 16: {
            pm_sock_event ev[8];
            pm_host_events(h, ev, 8);
            pm_sockaddr a;
            pm_sock_getsockname(h, fd, &a);
            pm_sock_getpeername(h, fd, &a);
            pm_sock_poll(h, fd);
            break;
        }
        case 17: pm_sock_sendto(h, fd, buf, u8(&r), NULL, &root, now); break;
        default: deliver(side, 1 + u8(&r) % 8, u8(&r)); break;
        }
        check(0);
        check(1);
    }
    /* Close everything and let time run out: nothing may be left. */
    for (int s = 0; s < 2; s++)
        for (int fd = 0; fd < NS; fd++) pm_sock_close(H[s], fd, now);
    for (int i = 0; i < 20000; i++) {
        deliver(0, 64, 0);
        deliver(1, 64, 0);
        uint64_t d = pm_host_next_deadline(H[0]), d1 = pm_host_next_deadline(H[1]);
        if (d1 < d) d = d1;
        if (d == UINT64_MAX) break;
        now = d > now ? d : now + 1;
        pm_host_advance(H[0], now);
        pm_host_advance(H[1], now);
    }
    for (int s = 0; s < 2; s++) {
        pm_host_stats st;
        pm_host_get_stats(H[s], &st);
        if (st.sockets || st.tcbs || st.time_wait || st.bind_owners || st.eph_conns ||
            pm_host_tcp_stats(H[s])->ext_in_use) {
            fprintf(stderr,
                    "leak on host %d: sockets %llu tcbs %llu tw %llu owners %llu conns %llu\n", s,
                    (unsigned long long)st.sockets, (unsigned long long)st.tcbs,
                    (unsigned long long)st.time_wait, (unsigned long long)st.bind_owners,
                    (unsigned long long)st.eph_conns);
            abort();
        }
        pm_sock_event ev[64];
        while (pm_host_events(H[s], ev, 64)) {
        }
    }
    return 0;
}
