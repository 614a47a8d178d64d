/* The Linux kernel as the oracle for the wire code. In a network namespace
 * of its own (unshare(CLONE_NEWNET): nothing leaves it, and it vanishes
 * with the process) the test talks to the kernel through a TUN device:
 * packets we emit must be accepted (a SYN answered, a datagram delivered to
 * a socket, an echo answered), packets with a broken checksum must be
 * dropped and counted by the kernel, and what the kernel sends (SYN-ACK in
 * Linux's option layout, RST, ICMP and ICMPv6 port unreachable, echo
 * replies, fragments) must parse, map to the right 5-tuple and re-emit byte
 * for byte. Needs root and /dev/net/tun; otherwise it says why and exits 77. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portmux/wire.h"
#include "unit/testlib/netns.h"

#define LOCAL4  "10.77.0.1" /* the kernel's side of the TUN */
#define PEER4   "10.77.0.2" /* ours */
#define LOCAL6  "fd00:77::1"
#define PEER6   "fd00:77::2"
#define TCPPORT 8080
#define UDPPORT 5353

static int tun = -1;
static int lsock4 = -1, lsock6 = -1, usock4 = -1;
static uint8_t rx[65536];

static pm_ip ipof(const char *s)
{
    pm_ip ip;
    assert_int_equal(pm_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static pm_ip_repr ip_to_kernel(int v, uint8_t proto)
{
    pm_ip_repr r = {.version = (uint8_t)v, .proto = proto, .ttl = 64, .id = 7, .df = v == 4};
    r.src = ipof(v == 4 ? PEER4 : PEER6);
    r.dst = ipof(v == 4 ? LOCAL4 : LOCAL6);
    return r;
}

static void send_packet(const pm_packet *p, bool corrupt)
{
    uint8_t buf[2048];
    int n = pm_packet_emit(p, buf, sizeof buf);
    assert_true(n > 0);
    if (corrupt) buf[n - 1] ^= 0x01; /* the transport checksum covers it */
    assert_int_equal(write(tun, buf, (size_t)n), n);
}

/* Reads what the kernel sends until want() accepts a packet; up to 2 s.
 * Returns its parse result (0 or -PM_E_FRAGMENT...), or 1 on time out. */
static int recv_packet(bool (*want)(const pm_packet *, int, const void *), const void *arg,
                       pm_packet *out, size_t *len)
{
    for (int tries = 0; tries < 40; tries++) {
        struct pollfd pfd = {.fd = tun, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0) continue;
        ssize_t n = read(tun, rx, sizeof rx);
        if (n <= 0) continue;
        pm_wire_stats st = {0};
        int err = pm_packet_parse(rx, (size_t)n, out, &st);
        char line[256];
        pm_packet_format(out, line, sizeof line);
        print_message("kernel: %s [%s]\n", line, pm_errname(err));
        if (want(out, err, arg)) {
            *len = (size_t)n;
            return err;
        }
    }
    return 1;
}

static bool want_tcp(const pm_packet *p, int err, const void *arg)
{
    const uint16_t *port = arg;
    return err == 0 && p->ip.proto == PM_IPPROTO_TCP && p->tcp.dport == *port;
}

static bool want_icmp(const pm_packet *p, int err, const void *arg)
{
    const uint8_t *type = arg;
    return err == 0 && (p->ip.proto == PM_IPPROTO_ICMP || p->ip.proto == PM_IPPROTO_ICMPV6) &&
           p->icmp.type == *type;
}

static bool want_udp(const pm_packet *p, int err, const void *arg)
{
    const uint16_t *port = arg;
    return err == 0 && p->ip.proto == PM_IPPROTO_UDP && p->udp.dport == *port;
}

static bool want_frag(const pm_packet *p, int err, const void *arg)
{
    (void)arg;
    return err == -PM_E_FRAGMENT && p->ip.proto == PM_IPPROTO_UDP;
}

/* What the kernel sent re-emits byte for byte (no IP options, no
 * extension headers on these). */
static void assert_reemits(const pm_packet *p, size_t len)
{
    uint8_t again[2048];
    int n = pm_packet_emit(p, again, sizeof again);
    assert_int_equal(n, (int)len);
    assert_memory_equal(again, rx, len);
}

/* A counter of /proc/net/snmp (this namespace's), e.g. "Tcp" "InCsumErrors". */
static long snmp(const char *proto, const char *field)
{
    FILE *f = fopen("/proc/net/snmp", "r");
    assert_non_null(f);
    char names[4096], values[4096];
    long v = -1;
    while (fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
        size_t pl = strlen(proto);
        if (strncmp(names, proto, pl) != 0 || names[pl] != ':') continue;
        char *sn, *sv;
        char *n = strtok_r(names + pl + 1, " \n", &sn);
        char *x = strtok_r(values + pl + 1, " \n", &sv);
        while (n && x) {
            if (strcmp(n, field) == 0) v = strtol(x, NULL, 10);
            n = strtok_r(NULL, " \n", &sn);
            x = strtok_r(NULL, " \n", &sv);
        }
    }
    fclose(f);
    return v;
}

static pm_packet syn_to(int v, uint16_t sport, uint16_t dport, uint32_t seq)
{
    pm_packet p = {.ip = ip_to_kernel(v, PM_IPPROTO_TCP)};
    p.tcp = (pm_tcp_repr){
        .sport = sport, .dport = dport, .seq = seq, .flags = PM_TH_SYN, .window = 64240};
    p.tcp.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_SACK_PERM | 1u << PM_TCPOPT_TS |
                         1u << PM_TCPOPT_WSCALE;
    p.tcp.opts.mss = 1460;
    p.tcp.opts.wscale = 7;
    p.tcp.opts.ts_val = 12345;
    return p;
}

static void test_kernel_syn(void **state)
{
    (void)state;
    for (int v = 4; v <= 6; v += 2) {
        uint16_t sport = (uint16_t)(40000 + v);
        pm_packet syn = syn_to(v, sport, TCPPORT, 1000000);
        send_packet(&syn, false);
        pm_packet r;
        size_t len = 0;
        assert_int_equal(recv_packet(want_tcp, &sport, &r, &len), 0);
        assert_int_equal(r.tcp.flags, PM_TH_SYN | PM_TH_ACK);
        assert_int_equal(r.tcp.ack, 1000001);
        assert_int_equal(r.tcp.sport, TCPPORT);
        assert_int_equal(r.ip.version, v);
        /* Linux's SYN-ACK layout is the one emit uses by default. */
        static const uint8_t linux_layout[] = {PM_TCPOPT_MSS, PM_TCPOPT_SACK_PERM, PM_TCPOPT_TS,
                                               PM_TCPOPT_NOP, PM_TCPOPT_WSCALE};
        assert_int_equal(r.tcp.opts.order_len, sizeof linux_layout);
        assert_memory_equal(r.tcp.opts.order, linux_layout, sizeof linux_layout);
        assert_int_equal(r.tcp.opts.ts_ecr, 12345);
        assert_reemits(&r, len);
        pm_packet dflt = r;
        dflt.tcp.opts.order_len = 0;
        uint8_t again[256];
        assert_int_equal(pm_packet_emit(&dflt, again, sizeof again), (int)len);
        assert_memory_equal(again, rx, len);
        /* The 5-tuple, from our side of the wire. */
        pm_tuple t;
        assert_int_equal(pm_packet_tuple(&r, &t), 0);
        assert_true(pm_ip_eq(&t.laddr, &syn.ip.src) && t.lport == sport);
        /* Leave no half-open connection behind. */
        pm_packet rst = {.ip = syn.ip};
        rst.tcp =
            (pm_tcp_repr){.sport = sport, .dport = TCPPORT, .seq = 1000001, .flags = PM_TH_RST};
        send_packet(&rst, false);
    }
}

static void test_kernel_rst(void **state)
{
    (void)state;
    for (int v = 4; v <= 6; v += 2) {
        uint16_t sport = (uint16_t)(41000 + v);
        pm_packet syn = syn_to(v, sport, TCPPORT + 1, 77);
        send_packet(&syn, false);
        pm_packet r;
        size_t len = 0;
        assert_int_equal(recv_packet(want_tcp, &sport, &r, &len), 0);
        assert_int_equal(r.tcp.flags, PM_TH_RST | PM_TH_ACK);
        assert_int_equal(r.tcp.ack, 78);
        assert_reemits(&r, len);
    }
}

static void test_kernel_port_unreachable(void **state)
{
    (void)state;
    static const uint8_t data[] = "are you there?";
    for (int v = 4; v <= 6; v += 2) {
        pm_packet u = {.ip = ip_to_kernel(v, PM_IPPROTO_UDP)};
        u.udp =
            (pm_udp_repr){.sport = 33000, .dport = 9, .payload = data, .payload_len = sizeof data};
        send_packet(&u, false);
        uint8_t type = v == 4 ? PM_ICMP4_UNREACH : PM_ICMP6_UNREACH;
        pm_packet r;
        size_t len = 0;
        assert_int_equal(recv_packet(want_icmp, &type, &r, &len), 0);
        assert_int_equal(r.icmp.code, v == 4 ? PM_ICMP4_UNREACH_PORT : PM_ICMP6_UNREACH_PORT);
        assert_true(r.icmp.is_error && r.icmp.inner_ports);
        /* It maps to the datagram we sent. */
        pm_tuple t;
        assert_int_equal(pm_packet_tuple(&r, &t), 0);
        assert_true(pm_ip_eq(&t.laddr, &u.ip.src) && pm_ip_eq(&t.faddr, &u.ip.dst));
        assert_true(t.lport == 33000 && t.fport == 9 && t.proto == PM_IPPROTO_UDP);
        assert_reemits(&r, len);
    }
}

static void test_kernel_echo(void **state)
{
    (void)state;
    static const uint8_t data[32] = "ping from portmux";
    for (int v = 4; v <= 6; v += 2) {
        pm_packet e = {.ip = ip_to_kernel(v, v == 4 ? PM_IPPROTO_ICMP : PM_IPPROTO_ICMPV6)};
        e.icmp = (pm_icmp_repr){.version = (uint8_t)v,
                                .type = v == 4 ? PM_ICMP4_ECHO : PM_ICMP6_ECHO,
                                .rest = 0xbeefu << 16 | 3,
                                .data = data,
                                .data_len = sizeof data};
        send_packet(&e, false);
        uint8_t type = v == 4 ? PM_ICMP4_ECHO_REPLY : PM_ICMP6_ECHO_REPLY;
        pm_packet r;
        size_t len = 0;
        assert_int_equal(recv_packet(want_icmp, &type, &r, &len), 0);
        assert_int_equal(r.icmp.rest, 0xbeefu << 16 | 3);
        assert_int_equal(r.icmp.data_len, sizeof data);
        assert_memory_equal(r.icmp.data, data, sizeof data);
        assert_reemits(&r, len);
    }
}

/* Our UDP reaches a kernel socket intact; the kernel's reply parses. */
static void test_kernel_udp_socket(void **state)
{
    (void)state;
    static const uint8_t data[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    pm_packet u = {.ip = ip_to_kernel(4, PM_IPPROTO_UDP)};
    u.udp = (pm_udp_repr){
        .sport = 34000, .dport = UDPPORT, .payload = data, .payload_len = sizeof data};
    send_packet(&u, false);
    uint8_t got[64];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    struct pollfd pfd = {.fd = usock4, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    ssize_t n = recvfrom(usock4, got, sizeof got, 0, (struct sockaddr *)&from, &fl);
    assert_int_equal(n, sizeof data);
    assert_memory_equal(got, data, sizeof data);
    assert_int_equal(ntohs(from.sin_port), 34000);
    assert_int_equal(sendto(usock4, "pong", 4, 0, (struct sockaddr *)&from, fl), 4);
    uint16_t port = 34000;
    pm_packet r;
    size_t len = 0;
    assert_int_equal(recv_packet(want_udp, &port, &r, &len), 0);
    assert_int_equal(r.udp.sport, UDPPORT);
    assert_int_equal(r.udp.payload_len, 4);
    assert_memory_equal(r.udp.payload, "pong", 4);
    assert_reemits(&r, len);
}

/* The kernel drops, and counts, what has a bad checksum: so its answers
 * above mean our checksums are right. */
static void test_kernel_bad_checksum(void **state)
{
    (void)state;
    long udp0 = snmp("Udp", "InCsumErrors"), tcp0 = snmp("Tcp", "InCsumErrors");
    assert_true(udp0 >= 0 && tcp0 >= 0);
    static const uint8_t data[] = "corrupt";
    pm_packet u = {.ip = ip_to_kernel(4, PM_IPPROTO_UDP)};
    u.udp = (pm_udp_repr){
        .sport = 35000, .dport = UDPPORT, .payload = data, .payload_len = sizeof data};
    send_packet(&u, true);
    pm_packet syn = syn_to(4, 42000, TCPPORT, 5);
    send_packet(&syn, true);
    uint16_t port = 42000;
    pm_packet r;
    size_t len = 0;
    assert_int_equal(recv_packet(want_tcp, &port, &r, &len), 1); /* no SYN-ACK */
    uint8_t got[64];
    assert_int_equal(recv(usock4, got, sizeof got, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(snmp("Udp", "InCsumErrors"), udp0 + 1);
    assert_int_equal(snmp("Tcp", "InCsumErrors"), tcp0 + 1);
}

/* A datagram larger than the MTU leaves the kernel in fragments, which
 * parse as fragments (IPv4 MF/offset; IPv6 Fragment header). */
static void test_kernel_fragments(void **state)
{
    (void)state;
    static uint8_t big[3000];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(36000)};
    inet_pton(AF_INET, PEER4, &to.sin_addr);
    int off = IP_PMTUDISC_DONT;
    assert_int_equal(setsockopt(usock4, IPPROTO_IP, IP_MTU_DISCOVER, &off, sizeof off), 0);
    assert_int_equal(sendto(usock4, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)sizeof big);
    pm_packet r;
    size_t len = 0;
    unsigned seen = 0, last = 0, total = 0;
    uint16_t id = 0;
    while (recv_packet(want_frag, NULL, &r, &len) == -PM_E_FRAGMENT) {
        assert_true(r.ip.fragment);
        if (seen++ == 0) id = r.ip.id;
        assert_int_equal(r.ip.id, id);
        total += r.ip.payload_len;
        if (!r.ip.more_frags) last = 1;
        if (last && total == 8 + sizeof big) break;
    }
    assert_true(seen >= 3);
    assert_int_equal(total, 8 + sizeof big);

    int s6 = socket(AF_INET6, SOCK_DGRAM, 0);
    assert_true(s6 >= 0);
    struct sockaddr_in6 to6 = {.sin6_family = AF_INET6, .sin6_port = htons(36001)};
    inet_pton(AF_INET6, PEER6, &to6.sin6_addr);
    int dont = IPV6_PMTUDISC_DONT;
    setsockopt(s6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &dont, sizeof dont);
    assert_int_equal(sendto(s6, big, sizeof big, 0, (struct sockaddr *)&to6, sizeof to6),
                     (ssize_t)sizeof big);
    seen = total = 0;
    while (recv_packet(want_frag, NULL, &r, &len) == -PM_E_FRAGMENT) {
        assert_int_equal(r.ip.version, 6);
        assert_int_equal(r.ip.header_len, 48);
        seen++;
        total += r.ip.payload_len;
        if (total == 8 + sizeof big) break;
    }
    close(s6);
    assert_true(seen >= 3);
    assert_int_equal(total, 8 + sizeof big);
}

static int listener(int family, const char *addr, int type)
{
    int s = socket(family, type, 0);
    if (s < 0) return -1;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int err;
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(type == SOCK_STREAM ? TCPPORT : UDPPORT)};
        inet_pton(AF_INET, addr, &a.sin_addr);
        err = bind(s, (struct sockaddr *)&a, sizeof a);
    } else {
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(TCPPORT)};
        inet_pton(AF_INET6, addr, &a.sin6_addr);
        err = bind(s, (struct sockaddr *)&a, sizeof a);
    }
    if (err || (type == SOCK_STREAM && listen(s, 16))) {
        close(s);
        return -1;
    }
    return s;
}

static int setup(void)
{
    if (netns_enter() != 0 || (tun = netns_tun_open("pmw0", O_CLOEXEC)) < 0) return 77;
    if (system("command -v ip >/dev/null 2>&1") != 0) {
        printf("SKIP: iproute2's ip is not installed\n");
        return 77;
    }
    /* All of it inside this process's own namespace. ICMP rate limits off
     * so that every error the test provokes is sent. */
    if (system("ip link set lo up && ip link set pmw0 up && ip addr add " LOCAL4 "/24 dev pmw0 "
               "&& ip -6 addr add " LOCAL6 "/64 dev pmw0 nodad") != 0 ||
        netns_write_file("/proc/sys/net/ipv4/icmp_ratelimit", "0") != 0 ||
        netns_write_file("/proc/sys/net/ipv6/icmp/ratelimit", "0") != 0) {
        printf("FAIL: could not configure the namespace\n");
        return 1;
    }
    lsock4 = listener(AF_INET, LOCAL4, SOCK_STREAM);
    lsock6 = listener(AF_INET6, LOCAL6, SOCK_STREAM);
    usock4 = listener(AF_INET, LOCAL4, SOCK_DGRAM);
    if (lsock4 < 0 || lsock6 < 0 || usock4 < 0) {
        printf("FAIL: sockets in the namespace: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root (a network namespace and a TUN device)\n");
        return 77;
    }
    int rc = setup();
    if (rc) return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_syn),
        cmocka_unit_test(test_kernel_rst),
        cmocka_unit_test(test_kernel_port_unreachable),
        cmocka_unit_test(test_kernel_echo),
        cmocka_unit_test(test_kernel_udp_socket),
        cmocka_unit_test(test_kernel_bad_checksum),
        cmocka_unit_test(test_kernel_fragments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
