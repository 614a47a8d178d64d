/* A host receiving TCP segments larger than its MSS with their checksum
 * left partial, as a TUN with TSO and TUN_F_CSUM hands them over
 * (docs/host-tun.md, "TUN offloads"): the sender's MSS-sized segments are
 * coalesced into one (GRO-style) before the receiver sees them. The
 * partial checksum is refused by pm_host_input, taken by
 * pm_host_input_flags(PM_PARSE_CSUM_OK), and the data arrives byte-exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host_pair.h"
#include "portmux/wire.h"

static const pm_cred root = {0, true};

/* Everything queued on from goes straight to to. */
static void pump(pm_host *from, pm_host *to, uint64_t now)
{
    uint8_t buf[PM_HOST_MIN_OUT];
    int n;
    while ((n = pm_host_output(from, buf, sizeof buf, now)) > 0)
        pm_host_input(to, buf, (size_t)n, now);
}

static uint8_t super_buf[70000], payload[70000];
static size_t super_count, biggest;

/* Sends the coalesced segment (the first one's headers, every payload)
 * to rx with a partial checksum, once refused and once trusted. */
static void deliver_super(pm_host *rx, pm_packet *first, size_t plen, uint64_t now)
{
    first->tcp.payload = payload;
    first->tcp.payload_len = plen;
    int n = pm_packet_emit(first, super_buf, sizeof super_buf);
    assert_true(n > 0);
    pm_ip_repr ip;
    assert_int_equal(pm_ip_hdr_parse(super_buf, (size_t)n, &ip, NULL), 0);
    uint8_t *th = super_buf + ip.header_len;
    uint16_t partial = (uint16_t)~pm_csum_fold(pm_csum_pseudo(&ip, PM_IPPROTO_TCP, ip.payload_len));
    th[16] = (uint8_t)(partial >> 8);
    th[17] = (uint8_t)partial;
    pm_host_stats a, b;
    pm_host_get_stats(rx, &a);
    assert_int_equal(pm_host_input(rx, super_buf, (size_t)n, now), -PM_E_CHECKSUM);
    assert_int_equal(pm_host_input_flags(rx, super_buf, (size_t)n, PM_PARSE_CSUM_OK, now), 0);
    pm_host_get_stats(rx, &b);
    assert_int_equal(b.in_errors, a.in_errors + 1);
    super_count++;
    if (plen > biggest) biggest = plen;
}

/* tx's output to rx, consecutive data segments coalesced. */
static void pump_coalesced(pm_host *tx, pm_host *rx, uint64_t now)
{
    static uint8_t seg[PM_HOST_MIN_OUT];
    pm_packet first, p;
    size_t plen = 0;
    uint32_t next = 0;
    int n;
    while ((n = pm_host_output(tx, seg, sizeof seg, now)) > 0) {
        assert_int_equal(pm_packet_parse(seg, (size_t)n, &p, NULL), 0);
        bool data = p.ip.proto == PM_IPPROTO_TCP && p.tcp.payload_len &&
                    !(p.tcp.flags & (PM_TH_SYN | PM_TH_FIN | PM_TH_RST));
        if (plen && (!data || p.tcp.seq != next || plen + p.tcp.payload_len > 60000)) {
            deliver_super(rx, &first, plen, now);
            plen = 0;
        }
        if (!data) {
            pm_host_input(rx, seg, (size_t)n, now);
            continue;
        }
        if (!plen) first = p;
        first.tcp.flags |= p.tcp.flags; /* PSH of the last */
        memcpy(payload + plen, p.tcp.payload, p.tcp.payload_len);
        plen += p.tcp.payload_len;
        next = p.tcp.seq + (uint32_t)p.tcp.payload_len;
    }
    if (plen) deliver_super(rx, &first, plen, now);
}

static void run(int family)
{
    static hp_pair pair;
    hp_pair *p = &pair;
    assert_int_equal(hp_init(p, PM_PERS_LINUX, 16, 64), 0);
    pm_host *tx = p->h[0], *rx = p->h[1];
    pm_sockaddr la = family == PM_AF_INET ? hp_sa4(p, 1, 9) : hp_sa6(p, 1, 9);
    int l = pm_sock_socket(rx, family, PM_SOCK_STREAM, &root);
    assert_int_equal(pm_sock_bind(rx, l, &la, &root), 0);
    assert_int_equal(pm_sock_listen(rx, l, 4, &root), 0);
    int c = pm_sock_socket(tx, family, PM_SOCK_STREAM, &root);
    uint64_t now = p->now;
    assert_int_equal(pm_sock_connect(tx, c, &la, &root, now), -EINPROGRESS);
    int a = -1;
    for (int i = 0; i < 10 && a < 0; i++) {
        pump(tx, rx, now);
        pump(rx, tx, now);
        a = pm_sock_accept(rx, l, NULL, &root);
    }
    assert_true(a >= 0);

    enum { TOTAL = 1 << 20 };
    static uint8_t data[TOTAL], got[TOTAL];
    for (size_t i = 0; i < TOTAL; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
    size_t sent = 0, recvd = 0;
    super_count = biggest = 0;
    for (int round = 0; round < 100000 && recvd < TOTAL; round++) {
        now += 100;
        if (sent < TOTAL) {
            long k = pm_sock_send(tx, c, data + sent, TOTAL - sent, now);
            if (k > 0) sent += (size_t)k;
        }
        pump_coalesced(tx, rx, now);
        long k;
        while ((k = pm_sock_recv(rx, a, got + recvd, TOTAL - recvd, now)) > 0) recvd += (size_t)k;
        pump(rx, tx, now);
        pm_host_advance(tx, now);
        pm_host_advance(rx, now);
    }
    print_message("%zu coalesced segments, biggest %zu bytes\n", super_count, biggest);
    assert_int_equal(recvd, TOTAL);
    assert_memory_equal(got, data, TOTAL);
    /* Segments of several MSS each made it, not one MSS at a time. */
    assert_true(biggest > 4 * 1460);
    assert_true(super_count < TOTAL / 1460 / 2);
    pm_sock_close(tx, c, now);
    pm_sock_close(rx, a, now);
    pm_sock_close(rx, l, now);
    hp_fini(p);
}

static void test_tso_ipv4(void **state)
{
    (void)state;
    run(PM_AF_INET);
}

static void test_tso_ipv6(void **state)
{
    (void)state;
    run(PM_AF_INET6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tso_ipv4),
        cmocka_unit_test(test_tso_ipv6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
