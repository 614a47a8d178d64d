/* Wire formats: parse, emit, checksums, every malformed-input class (the
 * AMNESIA:33 / Ripple20 bug classes), IPv6 extension chains, ICMP quotes,
 * and a seeded round-trip property test parse(emit(x)) == x. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rng.h"
#include "portmux/wire.h"

#define E(code)       (-(PM_E_##code))
#define CNT(st, code) ((st).err[PM_E_##code - PM_ERR_BASE])

static pm_ip ip_of(const char *s)
{
    pm_ip ip;
    assert_int_equal(pm_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static pm_ip_repr ip4(const char *src, const char *dst, uint8_t proto)
{
    pm_ip_repr r = {.version = 4, .proto = proto, .ttl = 64, .id = 0x1234, .df = true};
    r.src = ip_of(src);
    r.dst = ip_of(dst);
    return r;
}

static pm_ip_repr ip6(const char *src, const char *dst, uint8_t proto)
{
    pm_ip_repr r = {.version = 6, .proto = proto, .ttl = 64, .flow = 0x12345};
    r.src = ip_of(src);
    r.dst = ip_of(dst);
    return r;
}

static size_t emit_tcp(const pm_ip_repr *ip, const pm_tcp_repr *t, uint8_t *buf, size_t cap)
{
    pm_packet p = {.ip = *ip};
    p.ip.proto = PM_IPPROTO_TCP;
    p.tcp = *t;
    int n = pm_packet_emit(&p, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static size_t emit_udp(const pm_ip_repr *ip, const pm_udp_repr *u, uint8_t *buf, size_t cap)
{
    pm_packet p = {.ip = *ip};
    p.ip.proto = PM_IPPROTO_UDP;
    p.udp = *u;
    int n = pm_packet_emit(&p, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

/* Re-fills the IPv4 header checksum after a test edits the header. */
static void fix_ip4_csum(uint8_t *b)
{
    size_t hl = (size_t)(b[0] & 0xf) * 4;
    b[10] = b[11] = 0;
    uint16_t c = pm_csum_fold(pm_csum_add(0, b, hl));
    b[10] = (uint8_t)(c >> 8);
    b[11] = (uint8_t)c;
}

/* Re-fills a TCP/UDP/ICMP checksum at offset coff of the transport. */
static void fix_l4_csum(uint8_t *pkt, size_t len, size_t coff)
{
    pm_ip_repr ip;
    pm_wire_stats st = {0};
    /* Parse the IP header for the pseudo-header, whatever the transport. */
    assert_int_equal(pm_ip_hdr_parse(pkt, len, &ip, &st), 0);
    uint8_t *t = pkt + ip.header_len;
    t[coff] = t[coff + 1] = 0;
    uint32_t s = 0;
    if (ip.proto != PM_IPPROTO_ICMP) s = pm_csum_pseudo(&ip, ip.proto, ip.payload_len);
    uint16_t c = pm_csum_fold(pm_csum_add(s, t, ip.payload_len));
    t[coff] = (uint8_t)(c >> 8);
    t[coff + 1] = (uint8_t)c;
}

/* ---- checksums --------------------------------------------------------- */

static void test_csum_rfc1071(void **state)
{
    (void)state;
    /* RFC 1071 3: the example's sum is ddf2. */
    static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    assert_int_equal(pm_csum_add(0, b, sizeof b), 0xddf2);
    assert_int_equal(pm_csum_fold(pm_csum_add(0, b, sizeof b)), 0x220d);
    /* Chained sums equal the whole; an odd tail is zero padded. */
    assert_int_equal(pm_csum_add(pm_csum_add(0, b, 4), b + 4, 4), 0xddf2);
    static const uint8_t odd[] = {0xab};
    assert_int_equal(pm_csum_add(0, odd, 1), 0xab00);
    /* A well-known IPv4 header (checksum b861). */
    static const uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    assert_int_equal(pm_csum_fold(pm_csum_add(0, h, sizeof h)), 0);
    /* Large buffers cannot overflow the accumulator. */
    static uint8_t big[65536];
    memset(big, 0xff, sizeof big);
    assert_int_equal(pm_csum_add(0, big, sizeof big), 0xffff);
}

/* ---- basic parse/emit --------------------------------------------------- */

static void test_tcp4_syn(void **state)
{
    (void)state;
    uint8_t buf[128];
    pm_ip_repr ip = ip4("192.0.2.1", "198.51.100.2", PM_IPPROTO_TCP);
    pm_tcp_repr t = {.sport = 40000, .dport = 80, .seq = 1000, .flags = PM_TH_SYN, .window = 64240};
    t.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_SACK_PERM | 1u << PM_TCPOPT_TS |
                     1u << PM_TCPOPT_WSCALE;
    t.opts.mss = 1460;
    t.opts.wscale = 7;
    t.opts.ts_val = 0x01020304;
    t.opts.ts_ecr = 0;
    assert_int_equal(pm_tcp_header_len(&t), 40);
    size_t n = emit_tcp(&ip, &t, buf, sizeof buf);
    assert_int_equal(n, 60);
    /* Linux's SYN layout: mss, sackOK, TS, nop, wscale. */
    static const uint8_t opts[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2,
                                   3, 4, 0,    0,    0, 0, 1, 3,  3, 7};
    assert_memory_equal(buf + 40, opts, sizeof opts);
    assert_int_equal(buf[32] >> 4, 10);
    pm_packet p;
    pm_wire_stats st = {0};
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_int_equal(st.ok, 1);
    assert_int_equal(p.ip.version, 4);
    assert_int_equal(p.ip.header_len, 20);
    assert_int_equal(p.ip.payload_len, 40);
    assert_true(p.ip.df);
    assert_false(p.ip.fragment);
    assert_int_equal(p.tcp.sport, 40000);
    assert_int_equal(p.tcp.dport, 80);
    assert_int_equal(p.tcp.seq, 1000);
    assert_int_equal(p.tcp.flags, PM_TH_SYN);
    assert_int_equal(p.tcp.window, 64240);
    assert_int_equal(p.tcp.opts.mss, 1460);
    assert_int_equal(p.tcp.opts.wscale, 7);
    assert_int_equal(p.tcp.opts.ts_val, 0x01020304);
    assert_true(pm_tcp_has(&p.tcp.opts, PM_TCPOPT_SACK_PERM));
    assert_int_equal(p.tcp.opts.order_len, 5);
    assert_int_equal(p.tcp.payload_len, 0);
    /* Re-emit with the parsed order: byte exact. */
    uint8_t again[128];
    assert_int_equal(emit_tcp(&p.ip, &p.tcp, again, sizeof again), n);
    assert_memory_equal(buf, again, n);
}

static void test_tcp6_data(void **state)
{
    (void)state;
    uint8_t buf[256];
    static const uint8_t data[] = "hello, world";
    pm_ip_repr ip = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_TCP);
    pm_tcp_repr t = {.sport = 443,
                     .dport = 51000,
                     .seq = 0xfffffff0,
                     .ack = 7,
                     .flags = PM_TH_ACK | PM_TH_PSH,
                     .window = 501,
                     .payload = data,
                     .payload_len = sizeof data};
    t.opts.present = 1u << PM_TCPOPT_TS | 1u << PM_TCPOPT_SACK;
    t.opts.ts_val = 5;
    t.opts.ts_ecr = 6;
    t.opts.sack_count = 2;
    t.opts.sack[0].left = 100;
    t.opts.sack[0].right = 200;
    t.opts.sack[1].left = 300;
    t.opts.sack[1].right = 400;
    size_t n = emit_tcp(&ip, &t, buf, sizeof buf);
    assert_int_equal(n, 40 + 20 + 12 + 20 + sizeof data);
    pm_packet p;
    pm_wire_stats st = {0};
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_int_equal(p.ip.version, 6);
    assert_int_equal(p.ip.flow, 0x12345);
    assert_int_equal(p.tcp.flags, PM_TH_ACK | PM_TH_PSH);
    assert_int_equal(p.tcp.opts.sack_count, 2);
    assert_int_equal(p.tcp.opts.sack[1].right, 400);
    assert_int_equal(p.tcp.payload_len, sizeof data);
    assert_memory_equal(p.tcp.payload, data, sizeof data);
    /* A flipped payload bit breaks the checksum. */
    buf[n - 1] ^= 1;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(CHECKSUM));
    assert_int_equal(CNT(st, CHECKSUM), 1);
}

static void test_udp_basic(void **state)
{
    (void)state;
    uint8_t buf[128];
    static const uint8_t data[] = {1, 2, 3};
    pm_udp_repr u = {.sport = 5353, .dport = 53, .payload = data, .payload_len = 3};
    for (int v = 4; v <= 6; v += 2) {
        pm_ip_repr ip = v == 4 ? ip4("10.0.0.1", "10.0.0.2", PM_IPPROTO_UDP)
                               : ip6("fe80::1", "fe80::2", PM_IPPROTO_UDP);
        size_t n = emit_udp(&ip, &u, buf, sizeof buf);
        pm_packet p;
        pm_wire_stats st = {0};
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
        assert_int_equal(p.udp.sport, 5353);
        assert_int_equal(p.udp.dport, 53);
        assert_int_equal(p.udp.payload_len, 3);
        assert_memory_equal(p.udp.payload, data, 3);
        /* A zero checksum: "none" over IPv4 (RFC 768), an error over IPv6. */
        size_t c = p.ip.header_len + 6;
        buf[c] = buf[c + 1] = 0;
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), v == 4 ? 0 : E(CHECKSUM));
    }
}

/* ---- malformed input: one regression per bug class ---------------------- */

/* A valid IPv4 TCP segment with 4 bytes of data, options "mss" (24 bytes). */
static size_t base_tcp4(uint8_t *buf, size_t cap, uint16_t flags, uint16_t urg)
{
    static const uint8_t data[] = {'a', 'b', 'c', 'd'};
    pm_ip_repr ip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_TCP);
    pm_tcp_repr t = {.sport = 1,
                     .dport = 2,
                     .seq = 3,
                     .ack = 4,
                     .flags = flags,
                     .window = 5,
                     .urg = urg,
                     .payload = data,
                     .payload_len = 4};
    t.opts.present = 1u << PM_TCPOPT_MSS;
    t.opts.mss = 536;
    return emit_tcp(&ip, &t, buf, cap);
}

static void test_bad_truncated(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = base_tcp4(buf, sizeof buf, PM_TH_ACK, 0);
    pm_packet p;
    pm_wire_stats st = {0};
    /* Every prefix shorter than the IP header, and an empty buffer. */
    for (size_t l = 0; l < 20; l++)
        assert_int_equal(pm_packet_parse(buf, l, &p, &st), E(TRUNCATED));
    assert_int_equal(CNT(st, TRUNCATED), 20);
    /* A TCP header cut short (total length kept honest). */
    memset(&st, 0, sizeof st);
    for (size_t l = 20; l < 40; l++) {
        buf[2] = 0;
        buf[3] = (uint8_t)l;
        fix_ip4_csum(buf);
        assert_int_equal(pm_packet_parse(buf, l, &p, &st), E(TRUNCATED));
    }
    assert_int_equal(CNT(st, TRUNCATED), 20);
    /* UDP and ICMP headers cut short. */
    pm_ip_repr ip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_UDP);
    pm_udp_repr u = {.sport = 1, .dport = 2};
    n = emit_udp(&ip, &u, buf, sizeof buf);
    buf[3] = 27;
    fix_ip4_csum(buf);
    assert_int_equal(pm_packet_parse(buf, 27, &p, &st), E(TRUNCATED));
    buf[9] = PM_IPPROTO_ICMP;
    fix_ip4_csum(buf);
    assert_int_equal(pm_packet_parse(buf, 27, &p, &st), E(TRUNCATED));
    /* IPv6 shorter than 40 bytes. */
    uint8_t b6[40] = {0x60};
    assert_int_equal(pm_packet_parse(b6, 39, &p, &st), E(TRUNCATED));
    (void)n;
}

static void test_bad_version(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = base_tcp4(buf, sizeof buf, PM_TH_ACK, 0);
    pm_packet p;
    pm_wire_stats st = {0};
    for (int v = 0; v < 16; v++) {
        if (v == 4 || v == 6) continue;
        buf[0] = (uint8_t)(v << 4 | 5);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(VERSION));
    }
    assert_int_equal(CNT(st, VERSION), 14);
    /* An IPv6 version nibble on a 40-byte-too-short IPv4 packet. */
    buf[0] = 0x65;
    assert_int_equal(pm_packet_parse(buf, 39, &p, &st), E(TRUNCATED));
}

static void test_bad_ihl(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = base_tcp4(buf, sizeof buf, PM_TH_ACK, 0);
    pm_packet p;
    pm_wire_stats st = {0};
    for (int ihl = 0; ihl < 5; ihl++) {
        buf[0] = (uint8_t)(0x40 | ihl);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(IHL));
    }
    /* IHL past the end of the packet: 15 words = 60 bytes > 48 given. */
    buf[0] = 0x4f;
    assert_int_equal(pm_packet_parse(buf, 48, &p, &st), E(IHL));
    assert_int_equal(CNT(st, IHL), 6);
}

static void test_bad_totlen(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = base_tcp4(buf, sizeof buf, PM_TH_ACK, 0);
    pm_packet p;
    pm_wire_stats st = {0};
    /* Longer than the buffer. */
    buf[2] = 0;
    buf[3] = (uint8_t)(n + 1);
    fix_ip4_csum(buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(TOTLEN));
    buf[2] = 0xff;
    buf[3] = 0xff;
    fix_ip4_csum(buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(TOTLEN));
    /* Shorter than the header. */
    buf[2] = 0;
    buf[3] = 19;
    fix_ip4_csum(buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(TOTLEN));
    assert_int_equal(CNT(st, TOTLEN), 3);
    /* Shorter than the buffer is link padding: trimmed, and the TCP
     * checksum then covers fewer bytes, so it fails as it should. */
    buf[2] = 0;
    buf[3] = (uint8_t)(n - 1);
    fix_ip4_csum(buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(CHECKSUM));
    buf[3] = (uint8_t)n;
    fix_ip4_csum(buf);
    uint8_t padded[128];
    memcpy(padded, buf, n);
    memset(padded + n, 0xee, 6);
    assert_int_equal(pm_packet_parse(padded, n + 6, &p, &st), 0);
    assert_int_equal(p.tcp.payload_len, 4);
}

static void test_bad_ip4_options(void **state)
{
    (void)state;
    /* An IPv4 header with 4 option bytes in front of a UDP datagram. */
    uint8_t buf[64];
    pm_ip_repr ip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_UDP);
    pm_udp_repr u = {.sport = 7, .dport = 9};
    size_t n = emit_udp(&ip, &u, buf + 4, sizeof buf - 4); /* 28 bytes at buf+4 */
    memmove(buf, buf + 4, 20);
    buf[0] = 0x46;
    buf[3] = (uint8_t)(n + 4);
    static const struct {
        uint8_t opt[4];
        int err;
    } cases[] = {
        {{1, 1, 1, 0}, 0},         /* NOPs, EOL */
        {{0x94, 4, 0, 0}, 0},      /* router alert (RFC 2113) */
        {{7, 0, 0, 0}, E(OPTLEN)}, /* record route, length 0 */
        {{7, 1, 0, 0}, E(OPTLEN)}, /* length 1 */
        {{1, 1, 7, 3}, E(OPTLEN)}, /* length past the header */
        {{1, 1, 1, 7}, E(OPTLEN)}, /* no room for the length byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf + 20, cases[i].opt, 4);
        fix_ip4_csum(buf);
        pm_packet p;
        pm_wire_stats st = {0};
        assert_int_equal(pm_packet_parse(buf, n + 4, &p, &st), cases[i].err);
        if (cases[i].err == 0) {
            assert_int_equal(p.ip.header_len, 24);
            assert_int_equal(p.udp.dport, 9);
        } else {
            assert_int_equal(CNT(st, OPTLEN), 1);
        }
    }
}

static void test_bad_ip4_csum(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = base_tcp4(buf, sizeof buf, PM_TH_ACK, 0);
    pm_packet p;
    pm_wire_stats st = {0};
    buf[8]--; /* a router decremented the TTL and forgot the checksum */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(CHECKSUM));
    assert_int_equal(CNT(st, CHECKSUM), 1);
    assert_int_equal(st.ok, 0);
}

static void test_bad_doff(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = base_tcp4(buf, sizeof buf, PM_TH_ACK, 0);
    pm_packet p;
    pm_wire_stats st = {0};
    for (int d = 0; d < 5; d++) {
        buf[32] = (uint8_t)(d << 4);
        fix_l4_csum(buf, n, 16);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(DOFF));
    }
    /* 15 words = 60 bytes; the segment has 28. */
    buf[32] = 0xf0;
    fix_l4_csum(buf, n, 16);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(DOFF));
    /* 8 words = 32 bytes, 28 there: one word past. */
    buf[32] = 0x80;
    fix_l4_csum(buf, n, 16);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(DOFF));
    assert_int_equal(CNT(st, DOFF), 7);
}

/* Puts 8 option bytes in a TCP header (doff 7) and parses the packet. */
static int parse_with_opts(const uint8_t opt[8], pm_packet *p, pm_wire_stats *st)
{
    static uint8_t buf[128];
    pm_ip_repr ip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_TCP);
    pm_tcp_repr t = {.sport = 1, .dport = 2, .flags = PM_TH_SYN};
    t.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_WSCALE;
    t.opts.mss = 1000; /* 8 bytes: mss, nop, wscale */
    size_t n = emit_tcp(&ip, &t, buf, sizeof buf);
    assert_int_equal(n, 48);
    memcpy(buf + 40, opt, 8);
    fix_l4_csum(buf, n, 16);
    return pm_packet_parse(buf, n, p, st);
}

static void test_bad_tcp_options(void **state)
{
    (void)state;
    static const struct {
        uint8_t opt[8];
        int err;
    } cases[] = {
        {{1, 1, 1, 1, 1, 1, 1, 1}, 0},
        {{2, 4, 1, 0, 0, 0, 0, 0}, 0},           /* mss, EOL, padding */
        {{30, 2, 1, 1, 1, 1, 1, 1}, 0},          /* unknown kind, length 2 */
        {{254, 8, 1, 2, 3, 4, 5, 6}, 0},         /* experimental kind, whole area */
        {{1, 99, 0, 1, 1, 1, 1, 1}, E(OPTLEN)},  /* length 0: would loop */
        {{1, 99, 1, 1, 1, 1, 1, 1}, E(OPTLEN)},  /* length 1: would underflow */
        {{2, 0, 0, 0, 0, 0, 0, 0}, E(OPTLEN)},   /* mss, length 0 */
        {{1, 1, 1, 1, 1, 1, 1, 99}, E(OPTLEN)},  /* kind with no length byte */
        {{1, 1, 1, 1, 1, 1, 30, 3}, E(OPTLEN)},  /* length past the header */
        {{254, 9, 1, 2, 3, 4, 5, 6}, E(OPTLEN)}, /* one byte past */
        {{2, 3, 0, 1, 1, 1, 1, 1}, E(OPTLEN)},   /* mss must be 4 */
        {{3, 4, 7, 0, 1, 1, 1, 1}, E(OPTLEN)},   /* wscale must be 3 */
        {{4, 3, 0, 1, 1, 1, 1, 1}, E(OPTLEN)},   /* sackOK must be 2 */
        {{8, 8, 0, 0, 0, 0, 0, 0}, E(OPTLEN)},   /* TS must be 10 */
        {{5, 2, 1, 1, 1, 1, 1, 1}, E(OPTLEN)},   /* SACK with no block */
        {{5, 6, 0, 0, 0, 0, 1, 1}, E(OPTLEN)},   /* SACK of half a block */
        {{2, 4, 1, 0, 2, 4, 2, 0}, E(OPTDUP)},   /* mss twice */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pm_packet p;
        pm_wire_stats st = {0};
        int err = parse_with_opts(cases[i].opt, &p, &st);
        if (err != cases[i].err) fail_msg("case %zu: got %s", i, pm_errname(err));
        if (err) assert_int_equal(st.err[-err - PM_ERR_BASE], 1);
    }
    /* Parsed cases keep their layout. */
    pm_packet p;
    pm_wire_stats st = {0};
    static const uint8_t eol[8] = {2, 4, 1, 0, 0, 0, 0, 0};
    assert_int_equal(parse_with_opts(eol, &p, &st), 0);
    assert_int_equal(p.tcp.opts.order_len, 2);
    assert_int_equal(p.tcp.opts.order[1], PM_TCPOPT_EOL);
    assert_int_equal(p.tcp.opts.mss, 256);
    static const uint8_t exp[8] = {254, 8, 1, 2, 3, 4, 5, 6};
    assert_int_equal(parse_with_opts(exp, &p, &st), 0);
    assert_int_equal(p.tcp.opts.present, 0);
    assert_int_equal(p.tcp.opts.opaque_len, 8);
    assert_memory_equal(p.tcp.opts.opaque, exp, 8);
}

static void test_bad_urgent(void **state)
{
    (void)state;
    uint8_t buf[128];
    pm_packet p;
    pm_wire_stats st = {0};
    /* 4 data bytes: urgent pointer 4 is the end, 5 is past it. */
    size_t n = base_tcp4(buf, sizeof buf, PM_TH_ACK | PM_TH_URG, 4);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    n = base_tcp4(buf, sizeof buf, PM_TH_ACK | PM_TH_URG, 5);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(URGPTR));
    n = base_tcp4(buf, sizeof buf, PM_TH_ACK | PM_TH_URG, 0xffff);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(URGPTR));
    assert_int_equal(CNT(st, URGPTR), 2);
    /* Without URG the field means nothing (RFC 9293 3.1). */
    n = base_tcp4(buf, sizeof buf, PM_TH_ACK, 0xffff);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_int_equal(p.tcp.urg, 0xffff);
}

static void test_bad_udp(void **state)
{
    (void)state;
    uint8_t buf[128];
    static const uint8_t data[10] = {0};
    pm_ip_repr ip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_UDP);
    pm_udp_repr u = {.sport = 1, .dport = 2, .payload = data, .payload_len = 10};
    size_t n = emit_udp(&ip, &u, buf, sizeof buf);
    pm_packet p;
    pm_wire_stats st = {0};
    static const uint16_t lens[] = {0, 7, 19};
    for (size_t i = 0; i < 3; i++) {
        buf[24] = 0;
        buf[25] = (uint8_t)lens[i];
        fix_l4_csum(buf, n, 6);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(UDPLEN));
    }
    assert_int_equal(CNT(st, UDPLEN), 3);
    /* Shorter than the IP payload: trimmed (Linux), checksum over ulen. */
    buf[25] = 12;
    buf[26] = buf[27] = 0;
    uint32_t s = pm_csum_pseudo(&ip, PM_IPPROTO_UDP, 12);
    uint16_t c = pm_csum_fold(pm_csum_add(s, buf + 20, 12));
    buf[26] = (uint8_t)(c >> 8);
    buf[27] = (uint8_t)c;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_int_equal(p.udp.payload_len, 4);
    buf[27] ^= 0x40;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(CHECKSUM));
}

static void test_bad_ip6_paylen(void **state)
{
    (void)state;
    uint8_t buf[128];
    pm_ip_repr ip = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_UDP);
    pm_udp_repr u = {.sport = 1, .dport = 2};
    size_t n = emit_udp(&ip, &u, buf, sizeof buf);
    pm_packet p;
    pm_wire_stats st = {0};
    buf[5] = 9; /* 8 bytes there */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(PAYLEN));
    buf[4] = 0xff;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(PAYLEN));
    assert_int_equal(CNT(st, PAYLEN), 2);
    /* Shorter than the buffer: trailing bytes are ignored. */
    buf[4] = 0;
    buf[5] = 8;
    assert_int_equal(pm_packet_parse(buf, n + 3, &p, &st), 0);
}

static void test_bad_addr(void **state)
{
    (void)state;
    uint8_t buf[128];
    pm_packet p;
    pm_wire_stats st = {0};
    pm_udp_repr u = {.sport = 1, .dport = 2};
    pm_ip_repr ip = ip4("224.0.0.1", "192.0.2.2", PM_IPPROTO_UDP);
    size_t n = emit_udp(&ip, &u, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ADDR));
    ip = ip4("255.255.255.255", "192.0.2.2", PM_IPPROTO_UDP);
    n = emit_udp(&ip, &u, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ADDR));
    ip = ip6("ff02::1", "2001:db8::2", PM_IPPROTO_UDP);
    n = emit_udp(&ip, &u, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ADDR));
    /* An IPv4-mapped address inside IPv6 would alias an IPv4 tuple. */
    ip = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_UDP);
    n = emit_udp(&ip, &u, buf, sizeof buf);
    buf[8 + 10] = buf[8 + 11] = 0xff;
    memset(buf + 8, 0, 10);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ADDR));
    assert_int_equal(CNT(st, ADDR), 4);
    /* Emit refuses an address of the other family. */
    pm_ip_repr bad = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_UDP);
    bad.version = 6;
    assert_int_equal(pm_ip_hdr_emit(&bad, buf, sizeof buf), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csum_rfc1071),    cmocka_unit_test(test_tcp4_syn),
        cmocka_unit_test(test_tcp6_data),       cmocka_unit_test(test_udp_basic),
        cmocka_unit_test(test_bad_truncated),   cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_bad_ihl),         cmocka_unit_test(test_bad_totlen),
        cmocka_unit_test(test_bad_ip4_options), cmocka_unit_test(test_bad_ip4_csum),
        cmocka_unit_test(test_bad_doff),        cmocka_unit_test(test_bad_tcp_options),
        cmocka_unit_test(test_bad_urgent),      cmocka_unit_test(test_bad_udp),
        cmocka_unit_test(test_bad_ip6_paylen),  cmocka_unit_test(test_bad_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
