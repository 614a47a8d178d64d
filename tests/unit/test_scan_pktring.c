/* The scanner's packet path, in process: the Ethernet frames it sends, its
 * BPF filter's verdict on crafted frames (run by the kernel: the same
 * classic BPF on an AF_UNIX datagram socket, whose packets start where a
 * frame does), and the parsing of a TPACKET_V3 ring block. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "scan/raw.h"

static const uint8_t MAC_D[6] = {2, 0, 0, 0, 0, 0xd}, MAC_S[6] = {2, 0, 0, 0, 0, 0x5};

/* A packet from the target (192.0.2.2 or 2001:db8::2) to us. */
static pm_packet from_target(int version, uint8_t proto)
{
    pm_packet pk;
    memset(&pk, 0, sizeof pk);
    pk.ip.version = (uint8_t)version;
    pk.ip.proto = proto;
    pk.ip.ttl = 64;
    int fam;
    if (version == 4) {
        pk.ip.src = pm_ip4(0xc0000202);
        pk.ip.dst = pm_ip4(0xc0000201);
    } else {
        pm_ip_parse("2001:db8::2", &pk.ip.src, &fam);
        pm_ip_parse("2001:db8::1", &pk.ip.dst, &fam);
    }
    return pk;
}

static pm_packet tcp4(uint16_t sport, uint16_t dport)
{
    pm_packet pk = from_target(4, PM_IPPROTO_TCP);
    pk.tcp.sport = sport;
    pk.tcp.dport = dport;
    pk.tcp.seq = 0x12345678;
    pk.tcp.flags = PM_TH_SYN;
    pk.tcp.window = 1024;
    return pk;
}

static pm_packet udp(int version, uint16_t sport, uint16_t dport)
{
    pm_packet pk = from_target(version, PM_IPPROTO_UDP);
    pk.udp.sport = sport;
    pk.udp.dport = dport;
    static const uint8_t pl[4] = {1, 2, 3, 4};
    pk.udp.payload = pl;
    pk.udp.payload_len = sizeof pl;
    return pk;
}

static int frame(uint8_t *buf, size_t cap, pm_packet pk)
{
    int len = pm_pktring_frame(buf, cap, MAC_D, MAC_S, &pk);
    assert_true(len > PM_ETHLEN);
    return len;
}

static void test_frame(void **state)
{
    (void)state;
    uint8_t buf[PM_RAW_PKTMAX];
    int len = frame(buf, sizeof buf, tcp4(40000, 80));
    assert_memory_equal(buf, MAC_D, 6);
    assert_memory_equal(buf + 6, MAC_S, 6);
    assert_int_equal(buf[12] << 8 | buf[13], 0x0800);
    assert_int_equal(len, PM_ETHLEN + 20 + 20);
    /* what the receiving side parses is what was built */
    pm_packet back;
    pm_wire_stats ws;
    memset(&ws, 0, sizeof ws);
    assert_int_equal(pm_raw_parse_ip(buf + PM_ETHLEN, (size_t)len - PM_ETHLEN, &back, &ws), 0);
    assert_int_equal(back.ip.proto, PM_IPPROTO_TCP);
    assert_int_equal(back.tcp.sport, 40000);
    assert_int_equal(back.tcp.dport, 80);
    assert_int_equal(back.tcp.seq, 0x12345678);
    pm_ip want = pm_ip4(0xc0000201);
    assert_true(pm_ip_eq(&back.ip.dst, &want));

    len = frame(buf, sizeof buf, udp(6, 40001, 53));
    assert_int_equal(buf[12] << 8 | buf[13], 0x86dd);
    assert_int_equal(len, PM_ETHLEN + 40 + 8 + 4);
    assert_int_equal(pm_raw_parse_ip(buf + PM_ETHLEN, (size_t)len - PM_ETHLEN, &back, &ws), 0);
    assert_int_equal(back.ip.version, 6);
    assert_int_equal(back.udp.dport, 53);
    assert_int_equal(back.udp.payload_len, 4);

    /* no room: an error, never a partial frame */
    pm_packet pk = tcp4(1, 2);
    assert_int_equal(pm_pktring_frame(buf, 10, MAC_D, MAC_S, &pk), -ENOSPC);
    assert_true(pm_pktring_frame(buf, PM_ETHLEN + 30, MAC_D, MAC_S, &pk) < 0);
}

/* ---- the filter, run by the kernel ------------------------------------- */

enum { LO = 40000, HI = 40015 };

typedef struct {
    int tx, rx;
} pair;

static pair filtered_pair(uint8_t proto)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    struct sock_filter prog[PM_PKTRING_FILTER_LEN];
    struct sock_fprog fp = {(unsigned short)pm_pktring_filter(prog, proto, LO, HI), prog};
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp), 0);
    return (pair){sv[0], sv[1]};
}

/* true: the filter let the frame through */
static bool passes(pair p, const uint8_t *f, size_t len)
{
    assert_int_equal(send(p.tx, f, len, 0), (ssize_t)len); /* a rejected one is dropped silently */
    uint8_t in[2048];
    ssize_t n = recv(p.rx, in, sizeof in, MSG_DONTWAIT);
    if (n < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return false;
    }
    assert_int_equal(n, (ssize_t)len);
    return true;
}

static void test_filter_tcp(void **state)
{
    (void)state;
    pair p = filtered_pair(PM_IPPROTO_TCP);
    uint8_t f[PM_RAW_PKTMAX + 8];
    /* a reply comes to our source ports: its destination port */
    assert_true(passes(p, f, (size_t)frame(f, sizeof f, tcp4(80, LO))));
    assert_true(passes(p, f, (size_t)frame(f, sizeof f, tcp4(80, HI))));
    assert_false(passes(p, f, (size_t)frame(f, sizeof f, tcp4(80, LO - 1))));
    assert_false(passes(p, f, (size_t)frame(f, sizeof f, tcp4(80, HI + 1))));
    /* UDP to our ports is not a TCP scan's */
    assert_false(passes(p, f, (size_t)frame(f, sizeof f, udp(4, 53, LO))));
    /* ICMP, any: errors quote our probes (the filter looks at the
     * protocol only) */
    int len = frame(f, sizeof f, tcp4(80, 1));
    f[PM_ETHLEN + 9] = PM_IPPROTO_ICMP;
    assert_true(passes(p, f, (size_t)len));
    /* a later fragment has no ports: out; the first one is in */
    len = frame(f, sizeof f, tcp4(80, LO));
    f[PM_ETHLEN + 6] = 0x00, f[PM_ETHLEN + 7] = 0x10; /* offset 16 x 8 */
    assert_false(passes(p, f, (size_t)len));
    f[PM_ETHLEN + 6] = 0x20, f[PM_ETHLEN + 7] = 0x00; /* MF, offset 0 */
    assert_true(passes(p, f, (size_t)len));
    /* IPv4 options: the ports move with the header length */
    len = frame(f, sizeof f, tcp4(80, LO - 1));
    memmove(f + PM_ETHLEN + 24, f + PM_ETHLEN + 20, (size_t)len - PM_ETHLEN - 20);
    memset(f + PM_ETHLEN + 20, 1, 4); /* NOPs */
    f[PM_ETHLEN] = 0x46;
    assert_false(passes(p, f, (size_t)len + 4));
    f[PM_ETHLEN + 24 + 2] = LO >> 8, f[PM_ETHLEN + 24 + 3] = LO & 0xff;
    assert_true(passes(p, f, (size_t)len + 4));
    /* not IP */
    len = frame(f, sizeof f, tcp4(80, LO));
    f[12] = 0x08, f[13] = 0x06; /* ARP */
    assert_false(passes(p, f, (size_t)len));
    close(p.tx);
    close(p.rx);
}

static void test_filter_udp6(void **state)
{
    (void)state;
    pair p = filtered_pair(PM_IPPROTO_UDP);
    uint8_t f[PM_RAW_PKTMAX];
    assert_true(passes(p, f, (size_t)frame(f, sizeof f, udp(6, 53, LO))));
    assert_true(passes(p, f, (size_t)frame(f, sizeof f, udp(6, 53, HI))));
    assert_false(passes(p, f, (size_t)frame(f, sizeof f, udp(6, 53, HI + 1))));
    assert_false(passes(p, f, (size_t)frame(f, sizeof f, udp(6, 53, 53))));
    /* a TCP segment is not a UDP scan's */
    pm_packet t = from_target(6, PM_IPPROTO_TCP);
    t.tcp.sport = 80;
    t.tcp.dport = LO;
    assert_false(passes(p, f, (size_t)frame(f, sizeof f, t)));
    /* ICMPv6 (next header 58), any */
    int len = frame(f, sizeof f, udp(6, 53, 1));
    f[PM_ETHLEN + 6] = 58;
    assert_true(passes(p, f, (size_t)len));
    /* an extension header before UDP: out (the port is not where it looks) */
    len = frame(f, sizeof f, udp(6, 53, LO));
    f[PM_ETHLEN + 6] = 0; /* hop-by-hop */
    assert_false(passes(p, f, (size_t)len));
    close(p.tx);
    close(p.rx);
}

/* ---- ring blocks --------------------------------------------------------- */

typedef struct {
    int n;
    pm_packet got[4];
} seen;

static void on_reply(void *ctx, const pm_packet *pk, uint64_t now)
{
    seen *s = ctx;
    assert_int_equal(now, 777);
    assert_true(s->n < 4);
    s->got[s->n++] = *pk;
}

/* Appends one frame as the kernel packs it: a tpacket3_hdr, the frame at
 * tp_mac, the next header at tp_next_offset (aligned). */
static size_t put(uint8_t *blk, size_t off, const uint8_t *f, unsigned len, bool last)
{
    struct tpacket3_hdr h;
    memset(&h, 0, sizeof h);
    h.tp_mac = 80; /* the kernel leaves room for a sockaddr_ll and alignment */
    h.tp_snaplen = h.tp_len = len;
    size_t next = (h.tp_mac + len + 15) & ~(size_t)15;
    h.tp_next_offset = last ? 0 : (uint32_t)next;
    memcpy(blk + off, &h, sizeof h);
    memcpy(blk + off + h.tp_mac, f, len);
    return off + next;
}

static void test_ring_block(void **state)
{
    (void)state;
    static uint8_t blk[8192] __attribute__((aligned(16)));
    memset(blk, 0, sizeof blk);
    struct tpacket_block_desc bd;
    memset(&bd, 0, sizeof bd);
    size_t first = 48, off = first;
    uint8_t f[PM_RAW_PKTMAX];
    off = put(blk, off, f, (unsigned)frame(f, sizeof f, tcp4(80, LO)), false);
    int len = frame(f, sizeof f, tcp4(80, LO));
    f[12] = 0x08, f[13] = 0x06; /* ARP: skipped */
    off = put(blk, off, f, (unsigned)len, false);
    off = put(blk, off, f, PM_ETHLEN, false); /* no payload: skipped */
    off = put(blk, off, f, (unsigned)frame(f, sizeof f, udp(6, 53, HI)), true);
    bd.hdr.bh1.num_pkts = 4;
    bd.hdr.bh1.offset_to_first_pkt = (uint32_t)first;
    bd.hdr.bh1.blk_len = (uint32_t)off;
    memcpy(blk, &bd, sizeof bd);
    seen s = {0};
    pm_wire_stats ws;
    memset(&ws, 0, sizeof ws);
    pm_raw_rx rx = {on_reply, &s, &ws};
    assert_int_equal(pm_pktring_block((const struct tpacket_block_desc *)blk, &rx, 777), 4);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.got[0].ip.version, 4);
    assert_int_equal(s.got[0].tcp.dport, LO);
    assert_int_equal(s.got[1].ip.version, 6);
    assert_int_equal(s.got[1].udp.dport, HI);
    /* an empty block: nothing */
    bd.hdr.bh1.num_pkts = 0;
    memcpy(blk, &bd, sizeof bd);
    s.n = 0;
    assert_int_equal(pm_pktring_block((const struct tpacket_block_desc *)blk, &rx, 777), 0);
    assert_int_equal(s.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_filter_tcp),
        cmocka_unit_test(test_filter_udp6),
        cmocka_unit_test(test_ring_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
