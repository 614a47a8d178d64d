/* What a peer sees: packets injected into one host and its answers read
 * back. RSTs for segments that match nothing, the listener's answers,
 * SYN cookies under a flood, the personalities' SYN-ACKs, SO_RCVBUF
 * rounding, SO_LINGER {1,0}, UDP delivery and ICMP (port unreachable,
 * echo, errors delivered to sockets, rate limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "host_pair.h"

static const pm_cred root = {0, true};
#define US   pm_ip4(0x0a000001)
#define PEER pm_ip4(0x0a000009)

static pm_host *mk(pm_personality pers)
{
    pm_host_config c;
    hp_config(&c, 0, pers, 64);
    pm_host *h;
    assert_int_equal(pm_host_create(&h, &c), 0);
    return h;
}

static uint64_t now = HP_SEC;

static void tcp_in(pm_host *h, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                   uint16_t flags, const char *data)
{
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip.version = 4;
    p.ip.proto = PM_IPPROTO_TCP;
    p.ip.ttl = 64;
    p.ip.src = PEER;
    p.ip.dst = US;
    p.tcp.sport = sport;
    p.tcp.dport = dport;
    p.tcp.seq = seq;
    p.tcp.ack = ack;
    p.tcp.flags = flags;
    p.tcp.window = 65535;
    if (flags & PM_TH_SYN) {
        p.tcp.opts.present = 1u << PM_TCPOPT_MSS;
        p.tcp.opts.mss = 1460;
    }
    if (data) {
        p.tcp.payload = (const uint8_t *)data;
        p.tcp.payload_len = strlen(data);
    }
    uint8_t buf[2048];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(pm_host_input(h, buf, (size_t)n, now), 0);
}

static uint8_t obuf[2048];

/* The next packet out, parsed; false when none. */
static bool out(pm_host *h, pm_packet *p)
{
    int n = pm_host_output(h, obuf, sizeof obuf, now);
    assert_true(n >= 0);
    if (n == 0) return false;
    assert_int_equal(pm_packet_parse(obuf, (size_t)n, p, NULL), 0);
    return true;
}

static int listener(pm_host *h, uint16_t port, int backlog)
{
    int l = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr a = {PM_AF_INET, port, pm_ip_any4};
    assert_int_equal(pm_sock_bind(h, l, &a, &root), 0);
    assert_int_equal(pm_sock_listen(h, l, backlog, &root), 0);
    return l;
}

static void test_no_socket(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    pm_packet p;
    /* RFC 9293 3.10.7.1: SYN to a closed port -> <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> */
    tcp_in(h, 40000, 81, 1000, 0, PM_TH_SYN, NULL);
    assert_true(out(h, &p));
    assert_int_equal(p.tcp.flags, PM_TH_RST | PM_TH_ACK);
    assert_int_equal(p.tcp.seq, 0);
    assert_int_equal(p.tcp.ack, 1001);
    assert_int_equal(p.tcp.dport, 40000);
    assert_false(out(h, &p));
    /* an ACK -> <SEQ=SEG.ACK><CTL=RST> */
    tcp_in(h, 40000, 81, 1000, 777, PM_TH_ACK, NULL);
    assert_true(out(h, &p));
    assert_int_equal(p.tcp.flags, PM_TH_RST);
    assert_int_equal(p.tcp.seq, 777);
    /* a RST -> nothing */
    tcp_in(h, 40000, 81, 1000, 0, PM_TH_RST, NULL);
    assert_false(out(h, &p));
    /* to an address that is not ours: nothing at all */
    pm_host_stats s;
    pm_host_get_stats(h, &s);
    assert_int_equal(s.no_socket, 3);
    pm_host_destroy(h);
}

static void test_listener_answers(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int l = listener(h, 80, 8);
    pm_packet p;
    /* an ACK to a listener (no cookie) gets a RST */
    tcp_in(h, 40001, 80, 5000, 12345, PM_TH_ACK, NULL);
    assert_true(out(h, &p));
    assert_int_equal(p.tcp.flags, PM_TH_RST);
    assert_int_equal(p.tcp.seq, 12345);
    /* a RST to a listener: nothing */
    tcp_in(h, 40001, 80, 5000, 0, PM_TH_RST, NULL);
    assert_false(out(h, &p));
    /* SYN -> SYN-ACK with Linux's layout */
    tcp_in(h, 40002, 80, 7000, 0, PM_TH_SYN, NULL);
    assert_true(out(h, &p));
    assert_int_equal(p.tcp.flags, PM_TH_SYN | PM_TH_ACK);
    assert_int_equal(p.tcp.ack, 7001);
    assert_int_equal(p.ip.ttl, 64);
    uint32_t iss = p.tcp.seq;
    /* the peer offered only MSS: the answer carries only MSS */
    assert_int_equal(p.tcp.opts.mss, 1460);
    assert_false(pm_tcp_has(&p.tcp.opts, PM_TCPOPT_TS));
    assert_int_equal(p.tcp.window, 64240); /* rounded to the MSS */
    assert_int_equal(pm_host_count(h, PM_IPPROTO_TCP, 0, PM_TCP_SYN_RCVD), 1);
    tcp_in(h, 40002, 80, 7001, iss + 1, PM_TH_ACK, "GET /");
    int c = pm_sock_accept(h, l, NULL, &root);
    assert_true(c >= 0);
    char buf[16];
    assert_int_equal(pm_sock_recv(h, c, buf, sizeof buf, now), 5);
    assert_memory_equal(buf, "GET /", 5);
    pm_host_destroy(h);
}

static void syn_full_opts(pm_host *h, uint16_t sport, uint16_t dport, uint32_t seq)
{
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip.version = 4;
    p.ip.proto = PM_IPPROTO_TCP;
    p.ip.ttl = 64;
    p.ip.src = PEER;
    p.ip.dst = US;
    p.tcp.sport = sport;
    p.tcp.dport = dport;
    p.tcp.seq = seq;
    p.tcp.flags = PM_TH_SYN;
    p.tcp.window = 65535;
    p.tcp.opts.present = (1u << PM_TCPOPT_MSS) | (1u << PM_TCPOPT_WSCALE) |
                         (1u << PM_TCPOPT_SACK_PERM) | (1u << PM_TCPOPT_TS);
    p.tcp.opts.mss = 1460;
    p.tcp.opts.wscale = 7;
    p.tcp.opts.ts_val = 100;
    uint8_t buf[2048];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    assert_int_equal(pm_host_input(h, buf, (size_t)n, now), 0);
}

static void test_personality_synack(void **state)
{
    (void)state;
    pm_packet p;
    char txt[512];
    pm_host *h = mk(PM_PERS_LINUX);
    listener(h, 80, 8);
    syn_full_opts(h, 40003, 80, 1);
    assert_true(out(h, &p));
    pm_packet_format(&p, txt, sizeof txt);
    print_message("linux:   %s\n", txt);
    uint8_t linux_order[] = {PM_TCPOPT_MSS, PM_TCPOPT_SACK_PERM, PM_TCPOPT_TS, PM_TCPOPT_NOP,
                             PM_TCPOPT_WSCALE};
    assert_int_equal(p.tcp.opts.order_len, sizeof linux_order);
    assert_memory_equal(p.tcp.opts.order, linux_order, sizeof linux_order);
    /* the smallest shift reaching tcp_rmem[2] (Linux tcp_select_initial_window) */
    uint8_t ws = 0;
    while (((uint64_t)65535 << ws) < pm_host_get_config(h)->tcp.rmem_max) ws++;
    assert_int_equal(p.tcp.opts.wscale, ws);
    /* tcp rounds to mss_local (64240); Linux SYN-ACKs with TS show 65160 (MSS 1448) */
    assert_int_equal(p.tcp.window, 64240);
    pm_host_destroy(h);

    h = mk(PM_PERS_FREEBSD);
    int l = listener(h, 80, 8);
    int v = 65536;
    assert_int_equal(pm_sock_setsockopt(h, l, PM_SOL_SOCKET, PM_SO_RCVBUF, &v, sizeof v), 0);
    syn_full_opts(h, 40004, 80, 1);
    assert_true(out(h, &p));
    pm_packet_format(&p, txt, sizeof txt);
    print_message("freebsd: %s\n", txt);
    uint8_t bsd_order[] = {PM_TCPOPT_MSS, PM_TCPOPT_NOP, PM_TCPOPT_WSCALE, PM_TCPOPT_SACK_PERM,
                           PM_TCPOPT_TS};
    assert_int_equal(p.tcp.opts.order_len, sizeof bsd_order);
    assert_memory_equal(p.tcp.opts.order, bsd_order, sizeof bsd_order);
    assert_int_equal(p.tcp.opts.wscale, 6);
    assert_int_equal(p.tcp.window, 65535);
    /* FreeBSD rounds SO_RCVBUF up to the MSS once established */
    pm_packet a;
    memset(&a, 0, sizeof a);
    a.ip = p.ip;
    a.ip.src = PEER;
    a.ip.dst = US;
    a.tcp.sport = 40004;
    a.tcp.dport = 80;
    a.tcp.seq = 2;
    a.tcp.ack = p.tcp.seq + 1;
    a.tcp.flags = PM_TH_ACK;
    a.tcp.window = 1000;
    a.tcp.opts.present = 1u << PM_TCPOPT_TS;
    a.tcp.opts.ts_val = 101;
    a.tcp.opts.ts_ecr = p.tcp.opts.ts_val;
    uint8_t buf[256];
    int n = pm_packet_emit(&a, buf, sizeof buf);
    assert_int_equal(pm_host_input(h, buf, (size_t)n, now), 0);
    int c = pm_sock_accept(h, l, NULL, &root);
    assert_true(c >= 0);
    size_t len = sizeof v;
    assert_int_equal(pm_sock_getsockopt(h, c, PM_SOL_SOCKET, PM_SO_RCVBUF, &v, &len), 0);
    assert_int_equal(v, 65700);
    pm_host_destroy(h);
}

static void test_syn_flood_cookies(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int l = listener(h, 80, 4);
    pm_packet p;
    uint32_t cookie = 0;
    for (int i = 0; i < 200; i++) {
        tcp_in(h, (uint16_t)(20000 + i), 80, 1000u * (uint32_t)i, 0, PM_TH_SYN, NULL);
        assert_true(out(h, &p));
        assert_int_equal(p.tcp.flags, PM_TH_SYN | PM_TH_ACK);
        if (i == 150) cookie = p.tcp.seq;
    }
    pm_host_stats s;
    pm_host_get_stats(h, &s);
    assert_int_equal(s.tcbs, 4); /* the SYN queue, no more: the flood costs no memory */
    assert_int_equal(s.cookies_sent, 196);
    /* the cookie's ACK completes a connection */
    tcp_in(h, 20150, 80, 150001, cookie + 1, PM_TH_ACK, "x");
    int c = pm_sock_accept(h, l, NULL, &root);
    assert_true(c >= 0);
    pm_sockaddr peer;
    assert_int_equal(pm_sock_getpeername(h, c, &peer), 0);
    assert_int_equal(peer.port, 20150);
    /* a forged one gets a RST */
    tcp_in(h, 20151, 80, 151001, cookie + 77, PM_TH_ACK, NULL);
    while (out(h, &p) && p.tcp.dport != 20151) {
    }
    assert_int_equal(p.tcp.flags, PM_TH_RST);
    /* closing the listener drops the SYN queue silently */
    pm_sock_close(h, l, now);
    pm_host_get_stats(h, &s);
    assert_int_equal(s.tcbs, 1);
    pm_host_destroy(h);
}

/* ---- Two hosts: SO_LINGER, ICMP errors for TCP ----------------------------- */

static bool acc(void *v)
{
    int *a = v;
    return a[0] >= 0;
}

static void pair_conn(hp_pair *p, int *cfd, int *afd)
{
    int l = pm_sock_socket(p->h[1], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr any = {PM_AF_INET, 9000, pm_ip_any4};
    pm_sock_bind(p->h[1], l, &any, &root);
    pm_sock_listen(p->h[1], l, 4, &root);
    *cfd = pm_sock_socket(p->h[0], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr d = hp_sa4(p, 1, 9000);
    assert_int_equal(pm_sock_connect(p->h[0], *cfd, &d, &root, p->now), -EINPROGRESS);
    hp_run(p, NULL, NULL, 10 * HP_MS);
    *afd = pm_sock_accept(p->h[1], l, NULL, &root);
    assert_true(*afd >= 0);
    (void)acc;
}

static void test_linger_abort(void **state)
{
    (void)state;
    hp_pair p;
    assert_int_equal(hp_init(&p, PM_PERS_LINUX, 0, 1024), 0);
    int c, a;
    pair_conn(&p, &c, &a);
    pm_linger lg = {1, 0};
    assert_int_equal(pm_sock_setsockopt(p.h[0], c, PM_SOL_SOCKET, PM_SO_LINGER, &lg, sizeof lg), 0);
    assert_int_equal(pm_sock_close(p.h[0], c, p.now), 0);
    hp_run(&p, NULL, NULL, 10 * HP_MS);
    /* the peer got a RST: ECONNRESET; nobody is in TIME_WAIT */
    assert_true(pm_sock_poll(p.h[1], a) & PM_POLLERR);
    char b[4];
    assert_int_equal(pm_sock_recv(p.h[1], a, b, sizeof b, p.now), -ECONNRESET);
    assert_int_equal(pm_sock_recv(p.h[1], a, b, sizeof b, p.now), 0);
    assert_int_equal(pm_sock_send(p.h[1], a, b, 1, p.now), -EPIPE);
    pm_host_stats s;
    pm_host_get_stats(p.h[0], &s);
    assert_int_equal(s.time_wait, 0);
    assert_int_equal(s.tw_entered, 0);
    assert_int_equal(s.sockets, 0);
    assert_int_equal(s.bind_owners, 0);
    pm_host_get_stats(p.h[1], &s);
    assert_int_equal(s.time_wait, 0);
    hp_fini(&p);
}

static void test_connect_refused(void **state)
{
    (void)state;
    hp_pair p;
    assert_int_equal(hp_init(&p, PM_PERS_LINUX, 0, 1024), 0);
    int c = pm_sock_socket(p.h[0], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr d = hp_sa4(&p, 1, 9999);
    assert_int_equal(pm_sock_connect(p.h[0], c, &d, &root, p.now), -EINPROGRESS);
    hp_run(&p, NULL, NULL, 10 * HP_MS);
    unsigned m = pm_sock_poll(p.h[0], c);
    assert_true(m & PM_POLLERR);
    assert_true(m & PM_POLLHUP);
    /* __inet_stream_connect(): the error, then a fresh attempt */
    assert_int_equal(pm_sock_connect(p.h[0], c, &d, &root, p.now), -ECONNREFUSED);
    assert_int_equal(pm_sock_connect(p.h[0], c, &d, &root, p.now), -EINPROGRESS);
    hp_run(&p, NULL, NULL, 10 * HP_MS);
    int e = -1;
    size_t len = sizeof e;
    pm_sock_getsockopt(p.h[0], c, PM_SOL_SOCKET, PM_SO_ERROR, &e, &len);
    assert_int_equal(e, ECONNREFUSED);
    assert_int_equal(pm_sock_connect(p.h[0], c, &d, &root, p.now), -ECONNABORTED);
    hp_fini(&p);
}

static void icmp_in(pm_host *h, uint8_t type, uint8_t code, const uint8_t *quote, size_t qlen)
{
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip.version = 4;
    p.ip.proto = PM_IPPROTO_ICMP;
    p.ip.ttl = 64;
    p.ip.src = PEER;
    p.ip.dst = US;
    p.icmp.version = 4;
    p.icmp.type = type;
    p.icmp.code = code;
    p.icmp.data = quote;
    p.icmp.data_len = qlen;
    uint8_t buf[2048];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    assert_true(n > 0);
    pm_host_input(h, buf, (size_t)n, now);
}

static void test_icmp_tcp(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int c = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr d = {PM_AF_INET, 443, PEER};
    assert_int_equal(pm_sock_connect(h, c, &d, &root, now), -EINPROGRESS);
    int n = pm_host_output(h, obuf, sizeof obuf, now);
    assert_true(n > 0);
    uint8_t syn[2048];
    memcpy(syn, obuf, (size_t)n);
    /* a quote whose sequence number is not ours is ignored (RFC 5927) */
    uint8_t bad[2048];
    memcpy(bad, syn, (size_t)n);
    bad[24] ^= 0x55; /* TCP seq, after a 20-byte IPv4 header */
    icmp_in(h, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, bad, 28);
    assert_false(pm_sock_poll(h, c) & PM_POLLERR);
    /* port unreachable quoting our SYN: hard, the connect fails */
    icmp_in(h, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, syn, 28);
    assert_true(pm_sock_poll(h, c) & PM_POLLERR);
    int e = 0;
    size_t len = sizeof e;
    pm_sock_getsockopt(h, c, PM_SOL_SOCKET, PM_SO_ERROR, &e, &len);
    assert_int_equal(e, ECONNREFUSED);
    pm_host_stats s;
    pm_host_get_stats(h, &s);
    assert_int_equal(s.icmp_matched, 1);
    assert_int_equal(s.icmp_ignored, 1);
    assert_int_equal(s.tcbs, 0);
    pm_host_destroy(h);
}

/* ---- UDP and ICMP ------------------------------------------------------------ */

static void udp_in(pm_host *h, pm_ip src, uint16_t sport, uint16_t dport, const char *data)
{
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip.version = 4;
    p.ip.proto = PM_IPPROTO_UDP;
    p.ip.ttl = 64;
    p.ip.src = src;
    p.ip.dst = US;
    p.udp.sport = sport;
    p.udp.dport = dport;
    p.udp.payload = (const uint8_t *)data;
    p.udp.payload_len = strlen(data);
    uint8_t buf[2048];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    assert_int_equal(pm_host_input(h, buf, (size_t)n, now), 0);
}

static void test_udp(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int u = pm_sock_socket(h, PM_AF_INET, PM_SOCK_DGRAM, &root);
    pm_sockaddr a = {PM_AF_INET, 5353, pm_ip_any4};
    assert_int_equal(pm_sock_bind(h, u, &a, &root), 0);
    udp_in(h, PEER, 1111, 5353, "one");
    udp_in(h, PEER, 2222, 5353, "second");
    assert_true(pm_sock_poll(h, u) & PM_POLLIN);
    char b[16];
    pm_sockaddr from;
    /* boundaries kept; a short buffer truncates one datagram only */
    assert_int_equal(pm_sock_recvfrom(h, u, b, 2, &from, now), 2);
    assert_memory_equal(b, "on", 2);
    assert_int_equal(from.port, 1111);
    assert_int_equal(pm_sock_recvfrom(h, u, b, sizeof b, &from, now), 6);
    assert_memory_equal(b, "second", 6);
    assert_int_equal(from.port, 2222);
    assert_int_equal(pm_sock_recv(h, u, b, sizeof b, now), -EAGAIN);
    /* connected: only the peer's datagrams arrive */
    pm_sockaddr peer = {PM_AF_INET, 1111, PEER};
    assert_int_equal(pm_sock_connect(h, u, &peer, &root, now), 0);
    udp_in(h, PEER, 2222, 5353, "not for you");
    udp_in(h, PEER, 1111, 5353, "yes");
    assert_int_equal(pm_sock_recv(h, u, b, sizeof b, now), 3);
    assert_int_equal(pm_sock_recv(h, u, b, sizeof b, now), -EAGAIN);
    pm_packet p;
    /* the stray datagram got a port unreachable */
    assert_true(out(h, &p));
    assert_int_equal(p.icmp.type, PM_ICMP4_UNREACH);
    assert_int_equal(p.icmp.code, PM_ICMP4_UNREACH_PORT);
    assert_int_equal(p.icmp.inner_dport, 5353);
    /* send to the default peer */
    assert_int_equal(pm_sock_send(h, u, "abc", 3, now), 3);
    assert_true(out(h, &p));
    assert_int_equal(p.ip.proto, PM_IPPROTO_UDP);
    assert_int_equal(p.udp.dport, 1111);
    assert_int_equal(p.udp.sport, 5353);
    assert_int_equal(p.udp.payload_len, 3);
    /* the peer's port unreachable becomes ECONNREFUSED on the connected socket */
    int n = pm_packet_emit(&p, obuf, sizeof obuf);
    icmp_in(h, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, obuf, (size_t)n);
    assert_true(pm_sock_poll(h, u) & PM_POLLERR);
    assert_int_equal(pm_sock_recv(h, u, b, sizeof b, now), -ECONNREFUSED);
    assert_int_equal(pm_sock_recv(h, u, b, sizeof b, now), -EAGAIN);
    /* an oversize datagram, a zero port */
    static char big[2000];
    assert_int_equal(pm_sock_send(h, u, big, sizeof big, now), -EMSGSIZE);
    pm_sockaddr zero = {PM_AF_INET, 0, PEER};
    assert_int_equal(pm_sock_sendto(h, u, "x", 1, &zero, &root, now), -EINVAL);
    /* AF_UNSPEC dissolves the association */
    pm_sockaddr unspec = {0};
    assert_int_equal(pm_sock_connect(h, u, &unspec, &root, now), 0);
    assert_int_equal(pm_sock_send(h, u, "x", 1, now), -EDESTADDRREQ);
    pm_host_destroy(h);
}

static void test_icmp_rate_and_echo(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    pm_packet p;
    /* 200 datagrams to a closed port: a burst of 50 port unreachables */
    for (int i = 0; i < 200; i++) udp_in(h, PEER, 1234, 9, "x");
    int n = 0;
    while (out(h, &p)) n++;
    assert_int_equal(n, 50);
    pm_host_stats s;
    pm_host_get_stats(h, &s);
    assert_int_equal(s.port_unreach_limited, 150);
    /* a second later, 1000 more tokens up to the burst */
    now += HP_SEC;
    udp_in(h, PEER, 1234, 9, "x");
    assert_true(out(h, &p));
    /* echo */
    uint8_t data[] = "ping";
    pm_packet e;
    memset(&e, 0, sizeof e);
    e.ip.version = 4;
    e.ip.proto = PM_IPPROTO_ICMP;
    e.ip.ttl = 64;
    e.ip.src = PEER;
    e.ip.dst = US;
    e.icmp.version = 4;
    e.icmp.type = PM_ICMP4_ECHO;
    e.icmp.rest = 0x12340001;
    e.icmp.data = data;
    e.icmp.data_len = 4;
    uint8_t buf[256];
    n = pm_packet_emit(&e, buf, sizeof buf);
    pm_host_input(h, buf, (size_t)n, now);
    assert_true(out(h, &p));
    assert_int_equal(p.icmp.type, PM_ICMP4_ECHO_REPLY);
    assert_int_equal(p.icmp.rest, 0x12340001);
    assert_int_equal(p.icmp.data_len, 4);
    pm_ip peer_ip = PEER;
    assert_true(pm_ip_eq(&p.ip.dst, &peer_ip));
    assert_int_equal(pm_host_knob_set(h, "icmp_echo_ignore_all", 1, 0), 0);
    pm_host_input(h, buf, (size_t)n, now);
    assert_false(out(h, &p));
    pm_host_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_socket),          cmocka_unit_test(test_listener_answers),
        cmocka_unit_test(test_personality_synack), cmocka_unit_test(test_syn_flood_cookies),
        cmocka_unit_test(test_linger_abort),       cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_icmp_tcp),           cmocka_unit_test(test_udp),
        cmocka_unit_test(test_icmp_rate_and_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
