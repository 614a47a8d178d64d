/* The TUN offload header (virtio_net_hdr): parse, emit, every malformed
 * class the parser rejects, and a TSO super-segment with a partial checksum
 * that parses only when the checksum is trusted (PM_PARSE_CSUM_OK). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "portmux/wire.h"

static uint8_t pkt[PM_VNET_HDR_LEN + 20 + 20 + 3000];

static void put_hdr(uint8_t flags, uint8_t gso, uint16_t gso_size, uint16_t cs, uint16_t co)
{
    pm_vnet_hdr h = {.flags = flags,
                     .gso_type = (uint8_t)(gso & 0x7f),
                     .ecn = (gso & 0x80) != 0,
                     .hdr_len = 40,
                     .gso_size = gso_size,
                     .csum_start = cs,
                     .csum_offset = co};
    assert_int_equal(pm_vnet_hdr_emit(&h, pkt, sizeof pkt), PM_VNET_HDR_LEN);
}

/* IPv4 + TCP, 3000 bytes of data (over two MSS), the TCP checksum left
 * partial (the pseudo-header's sum only) as the kernel hands it over. */
static size_t make_tso_packet(void)
{
    pm_ip_repr ip = {.version = 4, .proto = PM_IPPROTO_TCP, .ttl = 64, .df = true};
    ip.src = pm_ip4(0x0a4d0001);
    ip.dst = pm_ip4(0x0a4d0002);
    static uint8_t data[3000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
    pm_packet p = {.ip = ip};
    p.tcp = (pm_tcp_repr){.sport = 40000,
                          .dport = 9,
                          .seq = 1,
                          .ack = 1,
                          .flags = PM_TH_ACK | PM_TH_PSH,
                          .window = 502,
                          .payload = data,
                          .payload_len = sizeof data};
    uint8_t *b = pkt + PM_VNET_HDR_LEN;
    int n = pm_packet_emit(&p, b, sizeof pkt - PM_VNET_HDR_LEN);
    assert_int_equal(n, 20 + 20 + 3000);
    pm_ip_repr got;
    assert_int_equal(pm_ip_hdr_parse(b, (size_t)n, &got, NULL), 0);
    uint16_t partial = (uint16_t)~pm_csum_fold(pm_csum_pseudo(&got, PM_IPPROTO_TCP, 20 + 3000));
    b[20 + 16] = (uint8_t)(partial >> 8);
    b[20 + 17] = (uint8_t)partial;
    return PM_VNET_HDR_LEN + (size_t)n;
}

static void test_parse_emit(void **state)
{
    (void)state;
    size_t len = make_tso_packet();
    put_hdr(PM_VNET_F_NEEDS_CSUM, PM_VNET_GSO_TCPV4 | PM_VNET_GSO_ECN, 1448, 20, 16);
    pm_vnet_hdr h;
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), PM_VNET_HDR_LEN);
    assert_int_equal(h.flags, PM_VNET_F_NEEDS_CSUM);
    assert_int_equal(h.gso_type, PM_VNET_GSO_TCPV4);
    assert_true(h.ecn);
    assert_int_equal(h.hdr_len, 40);
    assert_int_equal(h.gso_size, 1448);
    assert_int_equal(h.csum_start, 20);
    assert_int_equal(h.csum_offset, 16);
    uint8_t again[PM_VNET_HDR_LEN];
    assert_int_equal(pm_vnet_hdr_emit(&h, again, sizeof again), PM_VNET_HDR_LEN);
    assert_memory_equal(again, pkt, PM_VNET_HDR_LEN);
    /* Little-endian on the wire: gso_size 1448 = 0x05a8. */
    assert_int_equal(pkt[4], 0xa8);
    assert_int_equal(pkt[5], 0x05);
    assert_int_equal(pm_vnet_hdr_emit(&h, again, PM_VNET_HDR_LEN - 1), -ENOSPC);
    /* A plain header (no offload) and a verified one. */
    put_hdr(0, 0, 0, 0, 0);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), PM_VNET_HDR_LEN);
    put_hdr(PM_VNET_F_DATA_VALID, 0, 0, 0, 0);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), PM_VNET_HDR_LEN);
    /* Just the header, no packet: fine as a header. */
    assert_int_equal(pm_vnet_hdr_parse(pkt, PM_VNET_HDR_LEN, &h), PM_VNET_HDR_LEN);
}

static void test_malformed(void **state)
{
    (void)state;
    size_t len = make_tso_packet();
    pm_vnet_hdr h;
    put_hdr(PM_VNET_F_NEEDS_CSUM, PM_VNET_GSO_TCPV4, 1448, 20, 16);
    for (size_t l = 0; l < PM_VNET_HDR_LEN; l++)
        assert_int_equal(pm_vnet_hdr_parse(pkt, l, &h), -PM_E_TRUNCATED);
    /* RSC_INFO or any unknown flag. */
    put_hdr(4, 0, 0, 0, 0);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    put_hdr(0x80 | PM_VNET_F_NEEDS_CSUM, 0, 0, 20, 16);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    /* The checksum field past the packet, by one byte and by far. */
    size_t plen = len - PM_VNET_HDR_LEN;
    put_hdr(PM_VNET_F_NEEDS_CSUM, 0, 0, (uint16_t)(plen - 1), 0);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    put_hdr(PM_VNET_F_NEEDS_CSUM, 0, 0, (uint16_t)(plen - 2), 0);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), PM_VNET_HDR_LEN);
    put_hdr(PM_VNET_F_NEEDS_CSUM, 0, 0, 0xffff, 0xffff);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    put_hdr(PM_VNET_F_NEEDS_CSUM, 0, 0, 20, 17); /* odd offset */
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    /* GSO without a partial checksum, or with no segment size. */
    put_hdr(0, PM_VNET_GSO_TCPV4, 1448, 0, 0);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    put_hdr(PM_VNET_F_NEEDS_CSUM, PM_VNET_GSO_TCPV6, 0, 20, 16);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    /* ECN on a packet that is not GSO. */
    put_hdr(0, PM_VNET_GSO_ECN, 0, 0, 0);
    assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EINVAL);
    /* UDP fragmentation offload (3), UDP GSO (5), unknown (2): not offered. */
    uint8_t types[] = {2, 3, 5, 6, 0x7f};
    for (size_t i = 0; i < sizeof types; i++) {
        put_hdr(PM_VNET_F_NEEDS_CSUM, types[i], 1448, 20, 6);
        assert_int_equal(pm_vnet_hdr_parse(pkt, len, &h), -EPROTONOSUPPORT);
    }
}

static void test_trusted_checksum(void **state)
{
    (void)state;
    size_t len = make_tso_packet();
    const uint8_t *b = pkt + PM_VNET_HDR_LEN;
    size_t n = len - PM_VNET_HDR_LEN;
    pm_packet p;
    pm_wire_stats st = {0};
    /* Partial: wrong as a full checksum... */
    assert_int_equal(pm_packet_parse(b, n, &p, &st), -PM_E_CHECKSUM);
    /* ...taken when the device says so: one segment larger than an MSS. */
    assert_int_equal(pm_packet_parse_flags(b, n, PM_PARSE_CSUM_OK, &p, &st), 0);
    assert_int_equal(p.tcp.payload_len, 3000);
    assert_int_equal(p.tcp.payload[2999], (uint8_t)(2999 * 7));
    assert_int_equal(st.ok, 1);
    /* The IPv4 header's own checksum is still checked. */
    static uint8_t bad[sizeof pkt];
    memcpy(bad, b, n);
    bad[8]--; /* TTL */
    assert_int_equal(pm_packet_parse_flags(bad, n, PM_PARSE_CSUM_OK, &p, NULL), -PM_E_CHECKSUM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_emit),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_trusted_checksum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
