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

/* Field by field: structs may hold padding. */
static bool ip_repr_eq(const pm_ip_repr *a, const pm_ip_repr *b)
{
    return a->version == b->version && a->proto == b->proto && a->ttl == b->ttl &&
           a->tos == b->tos && a->flow == b->flow && a->id == b->id && a->df == b->df &&
           a->fragment == b->fragment && a->more_frags == b->more_frags &&
           a->frag_off == b->frag_off && pm_ip_eq(&a->src, &b->src) && pm_ip_eq(&a->dst, &b->dst) &&
           a->header_len == b->header_len && a->payload_len == b->payload_len;
}

static bool tcp_opts_eq(const pm_tcp_opts *a, const pm_tcp_opts *b)
{
    if (a->present != b->present || a->mss != b->mss || a->wscale != b->wscale ||
        a->sack_count != b->sack_count || a->ts_val != b->ts_val || a->ts_ecr != b->ts_ecr ||
        a->order_len != b->order_len || a->opaque_len != b->opaque_len)
        return false;
    for (unsigned i = 0; i < a->sack_count && i < PM_TCP_MAX_SACK; i++)
        if (a->sack[i].left != b->sack[i].left || a->sack[i].right != b->sack[i].right)
            return false;
    return memcmp(a->order, b->order, a->order_len) == 0 &&
           memcmp(a->opaque, b->opaque, a->opaque_len) == 0;
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

/* The plain RFC 1071 loop, as a reference for the word-at-a-time sum. */
static uint32_t ref_csum(uint32_t sum, const uint8_t *p, size_t len)
{
    uint64_t s = sum;
    for (size_t i = 0; i + 1 < len; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1) s += (uint32_t)p[len - 1] << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

static void test_csum_reference(void **state)
{
    (void)state;
    pm_rng r;
    pm_rng_seed(&r, 1071);
    static uint8_t buf[4096 + 8];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)pm_rng_next(&r);
    for (int k = 0; k < 20000; k++) {
        size_t off = pm_rng_below(&r, 8), len = pm_rng_below(&r, 4096);
        uint32_t sum = pm_rng_below(&r, 0x20000);
        if (k % 7 == 0) memset(buf + off, 0xff, len); /* many carries */
        uint32_t a = pm_csum_add(sum, buf + off, len), b = ref_csum(sum, buf + off, len);
        if (pm_csum_fold(a) != pm_csum_fold(b))
            fail_msg("csum off %zu len %zu sum %x: %x != %x", off, len, sum, a, b);
        assert_true(a <= 0xffff);
        /* Chained at an even split equals the whole. */
        size_t cut = len / 2 & ~(size_t)1;
        uint32_t c = pm_csum_add(pm_csum_add(sum, buf + off, cut), buf + off + cut, len - cut);
        assert_int_equal(pm_csum_fold(c), pm_csum_fold(b));
        if (k % 7 == 0)
            for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)pm_rng_next(&r);
    }
}

/* RFC 1624: an incremental update equals summing again. */
static void test_csum_update(void **state)
{
    (void)state;
    pm_rng r;
    pm_rng_seed(&r, 1624);
    uint8_t h[20];
    for (int k = 0; k < 100000; k++) {
        for (int i = 0; i < 20; i++) h[i] = (uint8_t)pm_rng_next(&r);
        if (k % 5 == 0) memset(h, 0, 20); /* sums near zero */
        h[10] = h[11] = 0;
        uint16_t c = pm_csum_fold(pm_csum_add(0, h, 20));
        h[10] = (uint8_t)(c >> 8);
        h[11] = (uint8_t)c;
        size_t w = 2 * pm_rng_below(&r, 10);
        if (w == 10) w = 8; /* not the checksum field itself */
        uint16_t old = (uint16_t)(h[w] << 8 | h[w + 1]);
        uint16_t nw = k % 3 ? (uint16_t)pm_rng_next(&r) : (uint16_t)(old - 0x100); /* TTL-- */
        h[w] = (uint8_t)(nw >> 8);
        h[w + 1] = (uint8_t)nw;
        uint16_t inc = pm_csum_update16(c, old, nw);
        h[10] = h[11] = 0;
        uint16_t full = pm_csum_fold(pm_csum_add(0, h, 20));
        /* Both are right if the header then sums to zero; RFC 1624's
         * equation 3 gives the same field as a full recompute. */
        if (inc != full)
            fail_msg("update %d: word %zu %04x->%04x: %04x != %04x", k, w, old, nw, inc, full);
    }
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
    pm_udp_repr u = {
        .sport = 7, .dport = 9, .payload = (const uint8_t *)"abcdef", .payload_len = 6};
    size_t n = emit_udp(&ip, &u, buf + 4, sizeof buf - 4); /* 34 bytes at buf+4 */
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
            /* Re-emitted in place (options dropped): the payload moves
             * before the header is written over it. */
            uint8_t sep[64];
            int m = pm_packet_emit(&p, sep, sizeof sep);
            assert_int_equal(m, (int)n);
            uint8_t inplace[64];
            memcpy(inplace, buf, n + 4);
            pm_packet q;
            assert_int_equal(pm_packet_parse(inplace, n + 4, &q, &st), 0);
            assert_int_equal(pm_packet_emit(&q, inplace, sizeof inplace), m);
            assert_memory_equal(inplace, sep, (size_t)m);
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
    bad.version = 5;
    assert_int_equal(pm_ip_hdr_emit(&bad, buf, sizeof buf), -EINVAL);
    pm_packet other = {.ip = bad};
    assert_int_equal(pm_packet_emit(&other, buf, sizeof buf), -EINVAL);
}

/* ---- fragments ----------------------------------------------------------- */

static void test_fragments(void **state)
{
    (void)state;
    uint8_t buf[128];
    pm_packet p;
    pm_wire_stats st = {0};
    pm_udp_repr u = {.sport = 1, .dport = 2};
    for (int v = 4; v <= 6; v += 2) {
        pm_ip_repr ip = v == 4 ? ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_UDP)
                               : ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_UDP);
        ip.id = 0xbeef;
        ip.df = false;
        /* First fragment (offset 0, more), then a later one. */
        ip.more_frags = true;
        size_t n = emit_udp(&ip, &u, buf, sizeof buf);
        memset(&st, 0, sizeof st);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(FRAGMENT));
        assert_int_equal(CNT(st, FRAGMENT), 1);
        assert_true(p.ip.fragment);
        assert_true(p.ip.more_frags);
        assert_int_equal(p.ip.frag_off, 0);
        assert_int_equal(p.ip.id, 0xbeef);
        assert_int_equal(p.ip.proto, PM_IPPROTO_UDP);
        assert_int_equal(p.ip.header_len, v == 4 ? 20 : 48);
        pm_ip_repr r;
        assert_int_equal(pm_ip_hdr_parse(buf, n, &r, &st), 0);
        assert_true(r.fragment);
        ip.more_frags = false;
        ip.frag_off = 1480;
        n = emit_udp(&ip, &u, buf, sizeof buf);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(FRAGMENT));
        assert_false(p.ip.more_frags);
        assert_int_equal(p.ip.frag_off, 1480);
        assert_int_equal(p.ip.payload_len, 8);
        char line[160];
        pm_packet_format(&p, line, sizeof line);
        assert_non_null(strstr(line, "frag (id 48879, off 1480)"));
        /* An unaligned offset cannot be emitted. */
        ip.frag_off = 3;
        assert_int_equal(pm_ip_hdr_emit(&ip, buf, sizeof buf), -EINVAL);
    }
    /* RFC 6946: an IPv6 atomic fragment (offset 0, no more) is a whole
     * datagram. */
    pm_ip_repr ip = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_UDP);
    ip.more_frags = true;
    size_t n = emit_udp(&ip, &u, buf, sizeof buf);
    buf[43] &= (uint8_t)~1;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_false(p.ip.fragment);
    assert_int_equal(p.ip.header_len, 48);
    assert_int_equal(p.udp.dport, 2);
}

/* ---- IPv6 extension headers -------------------------------------------- */

enum { HBH = 0, RT = 43, FRAG = 44, AH = 51, DST = 60 };

/* Inserts an extension header of hl bytes right after the IPv6 header:
 * build a chain from its last header to its first. */
static void add_ext(uint8_t *pkt, size_t *len, uint8_t type, size_t hl)
{
    memmove(pkt + 40 + hl, pkt + 40, *len - 40);
    uint8_t *h = pkt + 40;
    memset(h, 0, hl);
    h[0] = pkt[6];
    pkt[6] = type;
    if (type == AH) {
        h[1] = (uint8_t)(hl / 4 - 2);
    } else if (type != FRAG) {
        h[1] = (uint8_t)(hl / 8 - 1);
        if (type != RT) { /* options: one PadN over the rest */
            h[2] = 1;
            h[3] = (uint8_t)(hl - 4);
        }
    }
    *len += hl;
    size_t pl = (size_t)(pkt[4] << 8 | pkt[5]) + hl;
    pkt[4] = (uint8_t)(pl >> 8);
    pkt[5] = (uint8_t)pl;
}

static size_t udp6(uint8_t *buf, size_t cap)
{
    pm_ip_repr ip = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_UDP);
    static const uint8_t data[] = {9, 8, 7};
    pm_udp_repr u = {.sport = 1000, .dport = 2000, .payload = data, .payload_len = 3};
    return emit_udp(&ip, &u, buf, cap);
}

static void test_ip6_ext_chain(void **state)
{
    (void)state;
    uint8_t buf[512];
    pm_packet p;
    pm_wire_stats st = {0};
    /* HBH, DST, RT, FRAG (atomic), AH, DST, then UDP: parsed through. */
    size_t n = udp6(buf, sizeof buf);
    add_ext(buf, &n, DST, 16);
    add_ext(buf, &n, AH, 24);
    add_ext(buf, &n, FRAG, 8);
    add_ext(buf, &n, RT, 24);
    add_ext(buf, &n, DST, 8);
    add_ext(buf, &n, HBH, 8);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_int_equal(p.ip.header_len, 40 + 16 + 24 + 8 + 24 + 8 + 8);
    assert_int_equal(p.ip.proto, PM_IPPROTO_UDP);
    assert_int_equal(p.udp.dport, 2000);
    assert_int_equal(p.udp.payload_len, 3);

    /* Hop-by-Hop anywhere but first (RFC 8200 4.3). */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, HBH, 8);
    add_ext(buf, &n, DST, 8);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));

    /* The longest chain allowed parses; one more is refused. */
    n = udp6(buf, sizeof buf);
    for (int i = 0; i < PM_IP6_MAX_EXT; i++) add_ext(buf, &n, DST, 8);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    add_ext(buf, &n, DST, 8);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));

    /* A header whose length runs past the payload, by one unit and by far. */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, DST, 8);
    buf[41] = 2; /* 24 bytes; 16 there */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    buf[41] = 255;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    /* An AH length past the end. */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, AH, 12);
    buf[41] = 4; /* (4 + 2) * 4 = 24 > 12 + 11 */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    /* The chain ends mid-header: payload length cut to 4 bytes of it. */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, DST, 8);
    buf[4] = 0;
    buf[5] = 4;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    /* A next header that loops back to a header with no room left. */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, DST, 8);
    buf[40] = DST; /* DST -> DST -> (the UDP header read as DST) ... */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));

    /* Options inside: a TLV past the header; an unknown option that asks
     * for a discard (RFC 8200 4.2); the Jumbo option (unsupported). */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, DST, 8);
    buf[43] = 5; /* PadN of 5 in a 6-byte area */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    buf[43] = 4;
    buf[42] = 0x7e; /* unknown, action 01: discard */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    buf[42] = 0x1e; /* unknown, action 00: skip */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    memset(buf + 42, 0, 6); /* six Pad1 options */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    buf[42] = 0xc2; /* Jumbo payload */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));

    /* RFC 5095: a type 0 routing header with segments left. */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, RT, 24);
    buf[43] = 1;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    buf[42] = 4; /* a segment routing header (RFC 8754) is walked over */
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);

    /* Two fragment headers. */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, FRAG, 8);
    add_ext(buf, &n, FRAG, 8);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(EXTHDR));
    assert_int_equal(CNT(st, EXTHDR), 12);

    /* ESP and No Next Header end the chain: not a transport we handle. */
    n = udp6(buf, sizeof buf);
    add_ext(buf, &n, DST, 8);
    buf[40] = 50;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(PROTO));
    assert_int_equal(p.ip.proto, 50);
    assert_int_equal(p.ip.header_len, 48);
    buf[40] = 59;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(PROTO));
    assert_int_equal(CNT(st, PROTO), 2);
}

/* ---- ICMP ---------------------------------------------------------------- */

static size_t icmp_error(const pm_ip_repr *outer, uint8_t type, uint8_t code, const uint8_t *quote,
                         size_t qlen, uint8_t *buf, size_t cap)
{
    pm_packet p = {.ip = *outer};
    p.ip.proto = outer->version == 4 ? PM_IPPROTO_ICMP : PM_IPPROTO_ICMPV6;
    p.icmp.version = outer->version;
    p.icmp.type = type;
    p.icmp.code = code;
    p.icmp.data = quote;
    p.icmp.data_len = qlen;
    int n = pm_packet_emit(&p, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static void test_icmp4_port_unreach(void **state)
{
    (void)state;
    uint8_t off[128], buf[256];
    pm_packet p;
    pm_wire_stats st = {0};
    /* We sent UDP 192.0.2.1:5000 -> 192.0.2.2:53; the peer says port
     * unreachable, quoting the IP header and 8 bytes (RFC 792). */
    pm_ip_repr oip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_UDP);
    static const uint8_t q[20] = {1};
    pm_udp_repr u = {.sport = 5000, .dport = 53, .payload = q, .payload_len = sizeof q};
    size_t on = emit_udp(&oip, &u, off, sizeof off);
    pm_ip_repr back = ip4("192.0.2.2", "192.0.2.1", PM_IPPROTO_ICMP);
    size_t n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, off, 28, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_true(p.icmp.is_error);
    assert_int_equal(p.icmp.type, PM_ICMP4_UNREACH);
    assert_int_equal(p.icmp.code, PM_ICMP4_UNREACH_PORT);
    assert_int_equal(p.icmp.inner.version, 4);
    assert_int_equal(p.icmp.inner.proto, PM_IPPROTO_UDP);
    assert_true(pm_ip_eq(&p.icmp.inner.src, &oip.src));
    assert_true(pm_ip_eq(&p.icmp.inner.dst, &oip.dst));
    /* The quote says 48 bytes were sent; 28 are here. */
    assert_int_equal(p.icmp.inner.payload_len, 28);
    assert_true(p.icmp.inner_ports);
    assert_int_equal(p.icmp.inner_sport, 5000);
    assert_int_equal(p.icmp.inner_dport, 53);
    assert_int_equal(p.icmp.data_len, 28);
    char line[200];
    pm_packet_format(&p, line, sizeof line);
    assert_string_equal(
        line, "IP 192.0.2.2 > 192.0.2.1: ICMP 192.0.2.2 udp port 53 unreachable, length 36");
    /* The error maps to the socket that sent the datagram. */
    pm_tuple tu, sent;
    assert_int_equal(pm_packet_tuple(&p, &tu), 0);
    assert_true(pm_ip_eq(&tu.laddr, &oip.src) && pm_ip_eq(&tu.faddr, &oip.dst));
    assert_int_equal(tu.lport, 5000);
    assert_int_equal(tu.fport, 53);
    assert_int_equal(tu.proto, PM_IPPROTO_UDP);
    /* ... the same tuple the peer's reply to it would map to. */
    pm_packet reply = {.ip = ip4("192.0.2.2", "192.0.2.1", PM_IPPROTO_UDP)};
    reply.udp = (pm_udp_repr){.sport = 53, .dport = 5000};
    uint8_t rb[64];
    size_t rn = (size_t)pm_packet_emit(&reply, rb, sizeof rb);
    assert_int_equal(pm_packet_parse(rb, rn, &reply, &st), 0);
    assert_int_equal(pm_packet_tuple(&reply, &sent), 0);
    assert_true(pm_ip_eq(&tu.laddr, &sent.laddr) && pm_ip_eq(&tu.faddr, &sent.faddr));
    assert_true(tu.lport == sent.lport && tu.fport == sent.fport && tu.proto == sent.proto);
    /* The whole datagram quoted works too. */
    n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, off, on, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_int_equal(p.icmp.inner_dport, 53);
    /* Fewer than 8 transport bytes: parsed, but no ports to match. */
    n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, off, 27, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_false(p.icmp.inner_ports);
    assert_int_equal(pm_packet_tuple(&p, &tu), E(ICMP));
    /* An unusable quote: too short for an IP header, a bad IHL, the
     * wrong IP version, nothing at all. */
    assert_int_equal(st.err[PM_E_ICMP - PM_ERR_BASE], 0);
    n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, off, 19, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ICMP));
    uint8_t bad[28];
    memcpy(bad, off, 28);
    bad[0] = 0x44;
    n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, bad, 28, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ICMP));
    bad[0] = 0x4f;
    n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, bad, 28, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ICMP));
    bad[0] = 0x65;
    n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, bad, 28, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ICMP));
    n = icmp_error(&back, PM_ICMP4_TIME_EXCEEDED, 0, NULL, 0, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ICMP));
    assert_int_equal(CNT(st, ICMP), 5);
    /* A bad ICMP checksum. */
    n = icmp_error(&back, PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PORT, off, 28, buf, sizeof buf);
    buf[n - 1] ^= 0x10;
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(CHECKSUM));
    /* ICMPv4 over IPv6 is not a protocol we handle. */
    pm_ip_repr v6 = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_ICMPV6);
    pm_packet e = {.ip = v6};
    e.icmp.version = 6;
    e.icmp.type = PM_ICMP6_ECHO;
    assert_int_equal(pm_packet_emit(&e, buf, sizeof buf), 48);
    buf[6] = PM_IPPROTO_ICMP;
    assert_int_equal(pm_packet_parse(buf, 48, &p, &st), E(PROTO));
    e.ip.proto = PM_IPPROTO_ICMP;
    assert_int_equal(pm_packet_emit(&e, buf, sizeof buf), -EPROTONOSUPPORT);
}

static void test_icmp_tcp_quote(void **state)
{
    (void)state;
    uint8_t off[256], buf[512];
    pm_packet p;
    pm_wire_stats st = {0};
    for (int v = 4; v <= 6; v += 2) {
        pm_ip_repr oip = v == 4 ? ip4("198.51.100.7", "203.0.113.9", PM_IPPROTO_TCP)
                                : ip6("2001:db8::7", "2001:db8:1::9", PM_IPPROTO_TCP);
        pm_tcp_repr t = {
            .sport = 33000, .dport = 443, .seq = 0xdeadbeef, .flags = PM_TH_SYN, .window = 1024};
        t.opts.present = 1u << PM_TCPOPT_MSS;
        t.opts.mss = 1400;
        size_t on = emit_tcp(&oip, &t, off, sizeof off);
        if (v == 6) add_ext(off, &on, DST, 8); /* a quoted extension chain is walked too */
        pm_ip_repr back =
            v == 4 ? ip4("203.0.113.9", "198.51.100.7", 0) : ip6("2001:db8:1::9", "2001:db8::7", 0);
        uint8_t type = v == 4 ? PM_ICMP4_UNREACH : PM_ICMP6_UNREACH;
        uint8_t code = v == 4 ? PM_ICMP4_UNREACH_ADMIN : PM_ICMP6_UNREACH_PORT;
        size_t hl = v == 4 ? 20 : 48;
        size_t n = icmp_error(&back, type, code, off, hl + 8, buf, sizeof buf);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
        assert_true(p.icmp.is_error);
        assert_int_equal(p.icmp.version, v);
        assert_int_equal(p.icmp.inner.proto, PM_IPPROTO_TCP);
        assert_int_equal(p.icmp.inner.header_len, hl);
        assert_true(p.icmp.inner_ports);
        assert_int_equal(p.icmp.inner_sport, 33000);
        assert_int_equal(p.icmp.inner_dport, 443);
        assert_int_equal(p.icmp.inner_seq, 0xdeadbeef);
        /* The error maps to the 5-tuple of the connection that caused it. */
        assert_true(pm_ip_eq(&p.icmp.inner.src, &oip.src));
        assert_true(pm_ip_eq(&p.icmp.inner.dst, &oip.dst));
        pm_tuple tu;
        assert_int_equal(pm_packet_tuple(&p, &tu), 0);
        assert_true(pm_ip_eq(&tu.laddr, &oip.src) && pm_ip_eq(&tu.faddr, &oip.dst));
        assert_true(tu.lport == 33000 && tu.fport == 443 && tu.proto == PM_IPPROTO_TCP);
        if (v == 6) {
            char line[200];
            pm_packet_format(&p, line, sizeof line);
            assert_string_equal(line, "IP6 2001:db8:1::9 > 2001:db8::7: ICMP6, destination "
                                      "unreachable, unreachable port, 2001:db8:1::9 tcp port "
                                      "443, length 64");
            /* ICMPv6's checksum covers the pseudo-header: a different
             * destination breaks it (RFC 4443 2.3). */
            buf[39] ^= 1;
            assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(CHECKSUM));
            buf[39] ^= 1;
            buf[n - 1] ^= 1;
            assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(CHECKSUM));
            /* A quote whose extension chain is cut short. */
            n = icmp_error(&back, type, code, off, 44, buf, sizeof buf);
            assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ICMP));
            /* A quote of IPv4 in ICMPv6. */
            uint8_t q4[28];
            pm_ip_repr i4 = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_UDP);
            pm_udp_repr u = {.sport = 1, .dport = 2};
            emit_udp(&i4, &u, q4, sizeof q4);
            n = icmp_error(&back, type, code, q4, 28, buf, sizeof buf);
            assert_int_equal(pm_packet_parse(buf, n, &p, &st), E(ICMP));
        }
    }
}

static void test_icmp_echo(void **state)
{
    (void)state;
    uint8_t buf[256];
    static const uint8_t data[56] = {0x42};
    pm_wire_stats st = {0};
    for (int v = 4; v <= 6; v += 2) {
        pm_packet e = {.ip = v == 4 ? ip4("127.0.0.1", "127.0.0.2", PM_IPPROTO_ICMP)
                                    : ip6("::1", "::1", PM_IPPROTO_ICMPV6)};
        e.icmp.version = (uint8_t)v;
        e.icmp.type = v == 4 ? PM_ICMP4_ECHO : PM_ICMP6_ECHO;
        e.icmp.rest = 0x1234u << 16 | 7;
        e.icmp.data = data;
        e.icmp.data_len = sizeof data;
        int n = pm_packet_emit(&e, buf, sizeof buf);
        assert_int_equal(n, (v == 4 ? 20 : 40) + 64);
        pm_packet p;
        assert_int_equal(pm_packet_parse(buf, (size_t)n, &p, &st), 0);
        assert_false(p.icmp.is_error);
        assert_int_equal(p.icmp.rest >> 16, 0x1234);
        pm_tuple tu;
        assert_int_equal(pm_packet_tuple(&p, &tu), E(PROTO));
        assert_int_equal(p.icmp.data_len, sizeof data);
        assert_memory_equal(p.icmp.data, data, sizeof data);
        char line[200];
        pm_packet_format(&p, line, sizeof line);
        assert_string_equal(line, v == 4 ? "IP 127.0.0.1 > 127.0.0.2: ICMP echo request, id "
                                           "4660, seq 7, length 64"
                                         : "IP6 ::1 > ::1: ICMP6, echo request, id 4660, seq 7, "
                                           "length 64");
    }
    assert_int_equal(pm_icmp_quote_len(4, 10000), 548);
    assert_int_equal(pm_icmp_quote_len(6, 10000), 1232);
    assert_int_equal(pm_icmp_quote_len(6, 100), 100);
    assert_true(pm_icmp_type_is_error(4, PM_ICMP4_UNREACH));
    assert_false(pm_icmp_type_is_error(4, PM_ICMP4_ECHO));
    assert_true(pm_icmp_type_is_error(6, PM_ICMP6_PACKET_TOO_BIG));
    assert_false(pm_icmp_type_is_error(6, PM_ICMP6_ECHO_REPLY));
}

/* ---- TCP option emit and layout ----------------------------------------- */

static void test_tcp_opts_emit(void **state)
{
    (void)state;
    uint8_t buf[256];
    pm_ip_repr ip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_TCP);
    pm_tcp_repr t = {.sport = 1, .dport = 2, .flags = PM_TH_ACK};
    /* Linux layout for a data segment: nop,nop,TS then nop,nop,sack. */
    t.opts.present = 1u << PM_TCPOPT_TS | 1u << PM_TCPOPT_SACK;
    t.opts.sack_count = 1;
    t.opts.sack[0].left = 10;
    t.opts.sack[0].right = 20;
    size_t n = emit_tcp(&ip, &t, buf, sizeof buf);
    static const uint8_t want[] = {1, 1, 8, 10, 0, 0, 0, 0,  0, 0, 0, 0,
                                   1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20};
    assert_int_equal(n, 40 + sizeof want);
    assert_memory_equal(buf + 40, want, sizeof want);
    /* A SYN without timestamps: mss, nop, nop, sackOK, nop, wscale. */
    pm_tcp_repr syn = {.sport = 1, .dport = 2, .flags = PM_TH_SYN};
    syn.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_SACK_PERM | 1u << PM_TCPOPT_WSCALE;
    syn.opts.mss = 1460;
    syn.opts.wscale = 2;
    n = emit_tcp(&ip, &syn, buf, sizeof buf);
    static const uint8_t want_syn[] = {2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 2};
    assert_int_equal(n, 40 + sizeof want_syn);
    assert_memory_equal(buf + 40, want_syn, sizeof want_syn);
    /* Too many options for 40 bytes: TS + 4 SACK blocks + MSS. */
    t.opts.present |= 1u << PM_TCPOPT_MSS;
    t.opts.sack_count = 4;
    assert_int_equal(pm_tcp_header_len(&t), 0);
    assert_int_equal(pm_tcp_emit(&ip, &t, buf, sizeof buf), -EINVAL);
    /* An explicit order must list exactly the present options. */
    memset(&t.opts, 0, sizeof t.opts);
    t.opts.present = 1u << PM_TCPOPT_MSS;
    t.opts.mss = 1;
    t.opts.order_len = 1;
    t.opts.order[0] = PM_TCPOPT_WSCALE;
    assert_int_equal(pm_tcp_emit(&ip, &t, buf, sizeof buf), -EINVAL);
    t.opts.order[0] = PM_TCPOPT_MSS;
    t.opts.order[1] = PM_TCPOPT_MSS;
    t.opts.order_len = 2;
    assert_int_equal(pm_tcp_emit(&ip, &t, buf, sizeof buf), -EINVAL);
    t.opts.order[1] = 77; /* an opaque kind with no opaque bytes */
    assert_int_equal(pm_tcp_emit(&ip, &t, buf, sizeof buf), -EINVAL);
    t.opts.opaque[0] = 77;
    t.opts.opaque[1] = 3;
    t.opts.opaque[2] = 0xaa;
    t.opts.opaque_len = 3;
    t.opts.order[2] = PM_TCPOPT_EOL;
    t.opts.order_len = 3;
    n = emit_tcp(&ip, &t, buf, sizeof buf);
    static const uint8_t want2[] = {2, 4, 0, 1, 77, 3, 0xaa, 0};
    assert_int_equal(n, 40 + sizeof want2);
    assert_memory_equal(buf + 40, want2, sizeof want2);
    pm_packet p;
    pm_wire_stats st = {0};
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    assert_true(tcp_opts_eq(&p.tcp.opts, &t.opts));
    /* Something after EOL cannot be emitted. */
    t.opts.order[3] = PM_TCPOPT_NOP;
    t.opts.order_len = 4;
    assert_int_equal(pm_tcp_emit(&ip, &t, buf, sizeof buf), -EINVAL);
    /* No room. */
    t.opts.order_len = 3;
    assert_int_equal(pm_tcp_emit(&ip, &t, buf, 27), -ENOSPC);
    pm_udp_repr u = {0};
    assert_int_equal(pm_udp_emit(&ip, &u, buf, 7), -ENOSPC);
    pm_packet e = {.ip = ip};
    e.ip.proto = PM_IPPROTO_UDP;
    assert_int_equal(pm_packet_emit(&e, buf, 27), -ENOSPC);
    assert_int_equal(pm_packet_emit(&e, buf, 19), -ENOSPC);
    e.ip.proto = 99;
    assert_int_equal(pm_packet_emit(&e, buf, sizeof buf), -EPROTONOSUPPORT);
}

static void test_format(void **state)
{
    (void)state;
    uint8_t buf[256];
    char line[256];
    pm_packet p;
    pm_wire_stats st = {0};
    pm_ip_repr ip = ip4("10.0.0.2", "10.0.0.1", PM_IPPROTO_TCP);
    pm_tcp_repr t = {.sport = 80,
                     .dport = 40000,
                     .seq = 5000,
                     .ack = 1001,
                     .flags = PM_TH_SYN | PM_TH_ACK,
                     .window = 65160};
    t.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_SACK_PERM | 1u << PM_TCPOPT_TS |
                     1u << PM_TCPOPT_WSCALE;
    t.opts.mss = 1460;
    t.opts.wscale = 7;
    t.opts.ts_val = 100;
    t.opts.ts_ecr = 200;
    size_t n = emit_tcp(&ip, &t, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    int w = pm_packet_format(&p, line, sizeof line);
    assert_string_equal(line, "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 5000, ack 1001, "
                              "win 65160, options [mss 1460,sackOK,TS val 100 ecr 200,nop,"
                              "wscale 7], length 0");
    assert_int_equal(w, (int)strlen(line));
    /* Cut short: still terminated, and the full length returned. */
    char small[16];
    assert_int_equal(pm_packet_format(&p, small, sizeof small), w);
    assert_int_equal(strlen(small), sizeof small - 1);
    static const uint8_t data[] = "GET /";
    pm_tcp_repr d = {.sport = 40000,
                     .dport = 80,
                     .seq = 1001,
                     .ack = 5001,
                     .flags = PM_TH_PSH | PM_TH_ACK | PM_TH_FIN,
                     .window = 502,
                     .payload = data,
                     .payload_len = 5};
    ip = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_TCP);
    n = emit_tcp(&ip, &d, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    pm_packet_format(&p, line, sizeof line);
    assert_string_equal(line, "IP6 2001:db8::1.40000 > 2001:db8::2.80: Flags [FP.], seq 1001:1006, "
                              "ack 5001, win 502, length 5");
    d.flags = PM_TH_RST;
    d.payload_len = 0;
    n = emit_tcp(&ip, &d, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    pm_packet_format(&p, line, sizeof line);
    assert_string_equal(line, "IP6 2001:db8::1.40000 > 2001:db8::2.80: Flags [R], seq 1001, "
                              "win 502, length 0");
    pm_udp_repr u = {.sport = 5353, .dport = 53, .payload = data, .payload_len = 5};
    ip = ip4("10.0.0.1", "10.0.0.2", PM_IPPROTO_UDP);
    n = emit_udp(&ip, &u, buf, sizeof buf);
    assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
    pm_packet_format(&p, line, sizeof line);
    assert_string_equal(line, "IP 10.0.0.1.5353 > 10.0.0.2.53: UDP, length 5");
}

/* Format lines for the less common messages: enough to read a capture. */
static void test_format_icmp(void **state)
{
    (void)state;
    uint8_t q[128], buf[256];
    char line[256];
    pm_packet p;
    pm_wire_stats st = {0};
    pm_ip_repr oip = ip4("192.0.2.1", "192.0.2.2", PM_IPPROTO_TCP);
    pm_tcp_repr t = {.sport = 1000, .dport = 80, .flags = PM_TH_SYN};
    size_t qn = emit_tcp(&oip, &t, q, sizeof q);
    pm_ip_repr back = ip4("198.51.100.9", "192.0.2.1", PM_IPPROTO_ICMP);
    static const struct {
        uint8_t type, code;
        uint32_t rest;
        const char *want;
    } v4[] = {
        {PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_NET, 0, "ICMP net 192.0.2.2 unreachable"},
        {PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_HOST, 0, "ICMP host 192.0.2.2 unreachable"},
        {PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_PROTO, 0, "ICMP 192.0.2.2 protocol 6 unreachable"},
        {PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_NEEDFRAG, 1400,
         "ICMP 192.0.2.2 unreachable - need to frag (mtu 1400)"},
        {PM_ICMP4_UNREACH, PM_ICMP4_UNREACH_ADMIN, 0,
         "ICMP 192.0.2.2 tcp port 80 unreachable - admin prohibited filter"},
        {PM_ICMP4_UNREACH, 9, 0, "ICMP 192.0.2.2 tcp port 80 unreachable - code 9"},
        {PM_ICMP4_TIME_EXCEEDED, 0, 0, "ICMP time exceeded in-transit, 192.0.2.2 tcp port 80"},
        {PM_ICMP4_PARAMPROB, 0, 20u << 24, "ICMP parameter problem - octet 20, 192.0.2.2 tcp"},
        {13, 0, 0, "ICMP type 13 code 0"},
    };
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
        pm_packet e = {.ip = back};
        e.icmp = (pm_icmp_repr){.version = 4,
                                .type = v4[i].type,
                                .code = v4[i].code,
                                .rest = v4[i].rest,
                                .data = q,
                                .data_len = qn};
        size_t n = (size_t)pm_packet_emit(&e, buf, sizeof buf);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
        pm_packet_format(&p, line, sizeof line);
        if (!strstr(line, v4[i].want)) fail_msg("'%s' lacks '%s'", line, v4[i].want);
    }
    oip = ip6("2001:db8::1", "2001:db8::2", PM_IPPROTO_UDP);
    pm_udp_repr u = {.sport = 1000, .dport = 53};
    qn = emit_udp(&oip, &u, q, sizeof q);
    back = ip6("2001:db8::9", "2001:db8::1", PM_IPPROTO_ICMPV6);
    static const struct {
        uint8_t type, code;
        uint32_t rest;
        const char *want;
    } v6[] = {
        {PM_ICMP6_UNREACH, PM_ICMP6_UNREACH_ADMIN, 0,
         "ICMP6, destination unreachable, unreachable prohibited, 2001:db8::2 udp port 53"},
        {PM_ICMP6_UNREACH, 9, 0, "destination unreachable, code 9"},
        {PM_ICMP6_PACKET_TOO_BIG, 0, 1280, "ICMP6, packet too big, mtu 1280"},
        {PM_ICMP6_TIME_EXCEEDED, 1, 0, "ICMP6, time exceeded reassembly"},
        {PM_ICMP6_PARAMPROB, 1, 40, "ICMP6, parameter problem, code 1, pointer 40"},
        {135, 0, 0, "ICMP6, type 135 code 0"},
    };
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        pm_packet e = {.ip = back};
        e.icmp = (pm_icmp_repr){.version = 6,
                                .type = v6[i].type,
                                .code = v6[i].code,
                                .rest = v6[i].rest,
                                .data = q,
                                .data_len = qn};
        size_t n = (size_t)pm_packet_emit(&e, buf, sizeof buf);
        assert_int_equal(pm_packet_parse(buf, n, &p, &st), 0);
        pm_packet_format(&p, line, sizeof line);
        if (!strstr(line, v6[i].want)) fail_msg("'%s' lacks '%s'", line, v6[i].want);
    }
    /* A protocol we do not parse, and TCP options without an order. */
    memset(&p, 0, sizeof p);
    p.ip = ip4("192.0.2.1", "192.0.2.2", 47);
    p.ip.payload_len = 24;
    pm_packet_format(&p, line, sizeof line);
    assert_string_equal(line, "IP 192.0.2.1 > 192.0.2.2: ip-proto-47 24");
    p.ip.proto = PM_IPPROTO_TCP;
    p.tcp.flags = PM_TH_ACK | PM_TH_URG | PM_TH_ECE | PM_TH_CWR | PM_TH_AE;
    p.tcp.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_SACK;
    p.tcp.opts.mss = 9000;
    p.tcp.opts.sack_count = 1;
    p.tcp.opts.sack[0].left = 1;
    p.tcp.opts.sack[0].right = 2;
    static const uint8_t opq[] = {77, 2, 78, 3, 0xee};
    memcpy(p.tcp.opts.opaque, opq, sizeof opq);
    p.tcp.opts.opaque_len = sizeof opq;
    pm_packet_format(&p, line, sizeof line);
    assert_string_equal(line, "IP 192.0.2.1.0 > 192.0.2.2.0: Flags [.UEWe], ack 0, win 0, urg 0, "
                              "options [mss 9000,sack 1 {1:2},opt-77,opt-78 0xee], length 0");
}

/* ---- round trip: parse(emit(x)) == x over random reprs ----------------- */

static uint32_t rnd(pm_rng *r, uint32_t bound)
{
    return pm_rng_below(r, bound);
}

static void rnd_bytes(pm_rng *r, uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)pm_rng_next(r);
}

static pm_ip_repr rnd_ip(pm_rng *r, int version, uint8_t proto)
{
    pm_ip_repr ip;
    memset(&ip, 0, sizeof ip);
    ip.version = (uint8_t)version;
    ip.proto = proto;
    ip.ttl = (uint8_t)pm_rng_next(r);
    ip.tos = (uint8_t)pm_rng_next(r);
    if (version == 4) {
        uint8_t a[4];
        rnd_bytes(r, a, 4);
        a[0] &= 0x7f; /* never multicast or broadcast */
        ip.src = pm_ip4_bytes(a);
        rnd_bytes(r, a, 4);
        ip.dst = pm_ip4_bytes(a);
        ip.id = (uint16_t)pm_rng_next(r);
        ip.df = rnd(r, 2);
        ip.header_len = 20;
    } else {
        rnd_bytes(r, ip.src.b, 16);
        rnd_bytes(r, ip.dst.b, 16);
        ip.src.b[0] = (uint8_t)(0x20 | (ip.src.b[0] & 0x1f)); /* unicast, not mapped */
        if (ip.dst.b[0] == 0xff) ip.dst.b[1] |= 1;            /* no scope-0 multicast */
        if (ip.dst.b[0] == 0) ip.dst.b[0] = 0xfe;
        ip.flow = (uint32_t)pm_rng_next(r) & 0xfffff;
        ip.header_len = 40;
    }
    return ip;
}

/* Random options in a canonical form: what parse would produce. */
static void rnd_tcp_opts(pm_rng *r, pm_tcp_opts *o)
{
    static const uint8_t kinds[] = {PM_TCPOPT_NOP,
                                    PM_TCPOPT_MSS,
                                    PM_TCPOPT_WSCALE,
                                    PM_TCPOPT_SACK_PERM,
                                    PM_TCPOPT_SACK,
                                    PM_TCPOPT_TS,
                                    30,
                                    34,
                                    253};
    static const uint8_t fixed[] = {[PM_TCPOPT_MSS] = 4,
                                    [PM_TCPOPT_WSCALE] = 3,
                                    [PM_TCPOPT_SACK_PERM] = 2,
                                    [PM_TCPOPT_TS] = 10};
    memset(o, 0, sizeof *o);
    size_t used = 0;
    unsigned tries = rnd(r, 10);
    for (unsigned i = 0; i < tries; i++) {
        uint8_t k = kinds[rnd(r, sizeof kinds)];
        size_t l;
        if (k == PM_TCPOPT_NOP)
            l = 1;
        else if (k == PM_TCPOPT_SACK)
            l = 2 + 8 * (1 + rnd(r, PM_TCP_MAX_SACK));
        else if (k < sizeof fixed && fixed[k])
            l = fixed[k];
        else
            l = 2 + rnd(r, 9);
        if (l > PM_TCP_OPT_SPACE - used) continue;
        if (k != PM_TCPOPT_NOP && k < 32 && pm_tcp_has(o, k)) continue;
        switch (k) {
        case PM_TCPOPT_NOP: break;
        case PM_TCPOPT_MSS: o->mss = (uint16_t)pm_rng_next(r); break;
        case PM_TCPOPT_WSCALE: o->wscale = (uint8_t)pm_rng_next(r); break;
        case PM_TCPOPT_SACK_PERM: break;
        case PM_TCPOPT_TS:
            o->ts_val = (uint32_t)pm_rng_next(r);
            o->ts_ecr = (uint32_t)pm_rng_next(r);
            break;
        case PM_TCPOPT_SACK:
            o->sack_count = (uint8_t)((l - 2) / 8);
            for (unsigned b = 0; b < o->sack_count; b++) {
                o->sack[b].left = (uint32_t)pm_rng_next(r);
                o->sack[b].right = (uint32_t)pm_rng_next(r);
            }
            break;
        default:
            o->opaque[o->opaque_len] = k;
            o->opaque[o->opaque_len + 1] = (uint8_t)l;
            rnd_bytes(r, o->opaque + o->opaque_len + 2, l - 2);
            o->opaque_len = (uint8_t)(o->opaque_len + l);
            break;
        }
        if (k != PM_TCPOPT_NOP && (k < 32 && k != 30)) o->present |= 1u << k;
        o->order[o->order_len++] = k;
        used += l;
    }
    /* Padding as parse sees it: NOPs, or EOL (then zeros, not listed). */
    if (used % 4 || (used < PM_TCP_OPT_SPACE && rnd(r, 4) == 0)) {
        if (rnd(r, 2)) {
            o->order[o->order_len++] = PM_TCPOPT_EOL;
        } else {
            while (used % 4) {
                o->order[o->order_len++] = PM_TCPOPT_NOP;
                used++;
            }
        }
    }
}

static size_t rnd_payload(pm_rng *r, uint8_t *b, size_t max)
{
    size_t n = rnd(r, 4) == 0 ? 0 : rnd(r, (uint32_t)max + 1);
    rnd_bytes(r, b, n);
    return n;
}

/* A random TCP or UDP packet; data gives room for its payload. */
static void rnd_l4(pm_rng *r, pm_packet *x, int version, uint8_t *data)
{
    uint8_t proto = rnd(r, 2) ? PM_IPPROTO_TCP : PM_IPPROTO_UDP;
    memset(x, 0, sizeof *x);
    x->ip = rnd_ip(r, version, proto);
    if (proto == PM_IPPROTO_TCP) {
        pm_tcp_repr *t = &x->tcp;
        t->sport = (uint16_t)pm_rng_next(r);
        t->dport = (uint16_t)pm_rng_next(r);
        t->seq = (uint32_t)pm_rng_next(r);
        t->ack = (uint32_t)pm_rng_next(r);
        t->flags = (uint16_t)(pm_rng_next(r) & 0xfff);
        t->window = (uint16_t)pm_rng_next(r);
        rnd_tcp_opts(r, &t->opts);
        t->payload = data;
        t->payload_len = rnd_payload(r, data, 80);
        t->urg = (t->flags & PM_TH_URG) ? (uint16_t)rnd(r, (uint32_t)t->payload_len + 1)
                                        : (uint16_t)pm_rng_next(r);
    } else {
        x->udp.sport = (uint16_t)pm_rng_next(r);
        x->udp.dport = (uint16_t)pm_rng_next(r);
        x->udp.payload = data;
        x->udp.payload_len = rnd_payload(r, data, 80);
    }
}

struct inner_want {
    bool ports;
    uint8_t proto;
    uint16_t sport, dport;
    uint32_t seq;
};

static void rnd_icmp(pm_rng *r, pm_packet *x, int version, uint8_t *data, uint8_t *quote,
                     struct inner_want *w)
{
    memset(x, 0, sizeof *x);
    memset(w, 0, sizeof *w);
    x->ip = rnd_ip(r, version, version == 4 ? PM_IPPROTO_ICMP : PM_IPPROTO_ICMPV6);
    pm_icmp_repr *m = &x->icmp;
    m->version = (uint8_t)version;
    m->rest = (uint32_t)pm_rng_next(r);
    if (rnd(r, 2)) { /* echo request or reply */
        if (version == 4)
            m->type = rnd(r, 2) ? PM_ICMP4_ECHO : PM_ICMP4_ECHO_REPLY;
        else
            m->type = rnd(r, 2) ? PM_ICMP6_ECHO : PM_ICMP6_ECHO_REPLY;
        m->data = data;
        m->data_len = rnd_payload(r, data, 80);
        return;
    }
    static const uint8_t t4[] = {PM_ICMP4_UNREACH, PM_ICMP4_TIME_EXCEEDED, PM_ICMP4_PARAMPROB};
    static const uint8_t t6[] = {PM_ICMP6_UNREACH, PM_ICMP6_PACKET_TOO_BIG, PM_ICMP6_TIME_EXCEEDED,
                                 PM_ICMP6_PARAMPROB};
    m->type = version == 4 ? t4[rnd(r, sizeof t4)] : t6[rnd(r, sizeof t6)];
    m->code = (uint8_t)rnd(r, 6);
    m->is_error = true;
    /* The quote: a packet of ours, cut anywhere past its IP header. */
    pm_packet in;
    rnd_l4(r, &in, version, data);
    int n = pm_packet_emit(&in, quote, 256);
    assert_true(n > 0);
    size_t hl = version == 4 ? 20 : 40;
    size_t q = hl + rnd(r, (uint32_t)(n - (int)hl) + 1);
    m->data = quote;
    m->data_len = q;
    w->proto = in.ip.proto;
    w->ports = q >= hl + 8;
    if (w->ports) {
        w->sport = in.ip.proto == PM_IPPROTO_TCP ? in.tcp.sport : in.udp.sport;
        w->dport = in.ip.proto == PM_IPPROTO_TCP ? in.tcp.dport : in.udp.dport;
        w->seq = in.ip.proto == PM_IPPROTO_TCP ? in.tcp.seq : 0;
    }
}

static uint64_t test_seed(void)
{
    const char *e = getenv("PM_SEED");
    return e ? strtoull(e, NULL, 0) : 0x5eed2026u;
}

#define RT_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg("round trip %lu (seed 0x%llx, rerun with PM_SEED): %s", (unsigned long)i,     \
                     (unsigned long long)seed, #cond);                                             \
    } while (0)

static void test_roundtrip_property(void **state)
{
    (void)state;
    uint64_t seed = test_seed();
    pm_rng r;
    pm_rng_seed(&r, seed);
    uint8_t buf[512], again[512], data[256], quote[256];
    pm_wire_stats st = {0};
    const unsigned long rounds = 120000;
    unsigned long kinds[2][3] = {{0}}, parsed = 0;
    for (unsigned long i = 0; i < rounds; i++) {
        int version = rnd(&r, 2) ? 4 : 6;
        unsigned which = rnd(&r, 3);
        pm_packet x, y;
        struct inner_want w = {0};
        if (which < 2)
            rnd_l4(&r, &x, version, data);
        else
            rnd_icmp(&r, &x, version, data, quote, &w);
        which = x.ip.proto == PM_IPPROTO_TCP ? 0 : x.ip.proto == PM_IPPROTO_UDP ? 1 : 2;
        kinds[version == 6][which]++;
        int n = pm_packet_emit(&x, buf, sizeof buf);
        RT_CHECK(n > 0);
        int err = pm_packet_parse(buf, (size_t)n, &y, &st);
        if (err)
            fail_msg("round trip %lu (seed 0x%llx): %s", i, (unsigned long long)seed,
                     pm_errname(err));
        parsed++;
        /* The IP repr: what was given, with the lengths emit computed. */
        x.ip.payload_len = (uint16_t)(n - x.ip.header_len);
        RT_CHECK(ip_repr_eq(&x.ip, &y.ip));
        if (which == 0) {
            RT_CHECK(x.tcp.sport == y.tcp.sport && x.tcp.dport == y.tcp.dport);
            RT_CHECK(x.tcp.seq == y.tcp.seq && x.tcp.ack == y.tcp.ack);
            RT_CHECK(x.tcp.flags == y.tcp.flags && x.tcp.window == y.tcp.window);
            RT_CHECK(x.tcp.urg == y.tcp.urg);
            RT_CHECK(tcp_opts_eq(&x.tcp.opts, &y.tcp.opts));
            RT_CHECK(x.tcp.payload_len == y.tcp.payload_len);
            RT_CHECK(y.tcp.payload_len == 0 ||
                     memcmp(x.tcp.payload, y.tcp.payload, y.tcp.payload_len) == 0);
            RT_CHECK(y.tcp.payload + y.tcp.payload_len == buf + n);
        } else if (which == 1) {
            RT_CHECK(x.udp.sport == y.udp.sport && x.udp.dport == y.udp.dport);
            RT_CHECK(x.udp.payload_len == y.udp.payload_len);
            RT_CHECK(y.udp.payload_len == 0 ||
                     memcmp(x.udp.payload, y.udp.payload, y.udp.payload_len) == 0);
        } else {
            RT_CHECK(x.icmp.version == y.icmp.version && x.icmp.type == y.icmp.type);
            RT_CHECK(x.icmp.code == y.icmp.code && x.icmp.rest == y.icmp.rest);
            RT_CHECK(x.icmp.is_error == y.icmp.is_error);
            RT_CHECK(x.icmp.data_len == y.icmp.data_len);
            RT_CHECK(y.icmp.data_len == 0 ||
                     memcmp(x.icmp.data, y.icmp.data, y.icmp.data_len) == 0);
            if (x.icmp.is_error) {
                RT_CHECK(y.icmp.inner.proto == w.proto);
                RT_CHECK(y.icmp.inner_ports == w.ports);
                RT_CHECK(y.icmp.inner_sport == w.sport && y.icmp.inner_dport == w.dport);
                RT_CHECK(y.icmp.inner_seq == w.seq);
            }
        }
        /* And the parsed repr emits the same bytes. */
        int m = pm_packet_emit(&y, again, sizeof again);
        RT_CHECK(m == n && memcmp(buf, again, (size_t)n) == 0);
        /* Any flipped bit is caught by a checksum or a length check
         * (the one's-complement sum misses no single-bit error). */
        size_t bit = rnd(&r, (uint32_t)n * 8);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        err = pm_packet_parse(buf, (size_t)n, &y, &st);
        if (err == 0) {
            parsed++;
            /* Only fields no checksum covers may change: IPv6's version-
             * traffic class-flow word and hop limit; or an IPv4 UDP
             * checksum flipped to zero, which means "none" (RFC 768). */
            bool v6_uncovered = version == 6 && (bit / 8 < 4 || bit / 8 == 7);
            bool udp4_none = version == 4 && which == 1 && buf[26] == 0 && buf[27] == 0;
            RT_CHECK(v6_uncovered || udp4_none);
        }
    }
    assert_int_equal(st.ok, parsed);
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 3; k++) assert_true(kinds[v][k] > rounds / 10);
    print_message("round trip: %lu packets, seed 0x%llx\n", rounds, (unsigned long long)seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csum_rfc1071),
        cmocka_unit_test(test_csum_reference),
        cmocka_unit_test(test_csum_update),
        cmocka_unit_test(test_tcp4_syn),
        cmocka_unit_test(test_tcp6_data),
        cmocka_unit_test(test_udp_basic),
        cmocka_unit_test(test_bad_truncated),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_bad_ihl),
        cmocka_unit_test(test_bad_totlen),
        cmocka_unit_test(test_bad_ip4_options),
        cmocka_unit_test(test_bad_ip4_csum),
        cmocka_unit_test(test_bad_doff),
        cmocka_unit_test(test_bad_tcp_options),
        cmocka_unit_test(test_bad_urgent),
        cmocka_unit_test(test_bad_udp),
        cmocka_unit_test(test_bad_ip6_paylen),
        cmocka_unit_test(test_bad_addr),
        cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_ip6_ext_chain),
        cmocka_unit_test(test_icmp4_port_unreach),
        cmocka_unit_test(test_icmp_tcp_quote),
        cmocka_unit_test(test_icmp_echo),
        cmocka_unit_test(test_tcp_opts_emit),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_icmp),
        cmocka_unit_test(test_roundtrip_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
