/* Addresses, prefixes, errors, port classes and ranges, SipHash, the RNG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/rng.h"
#include "base/siphash.h"
#include "portmux/addr.h"
#include "portmux/err.h"
#include "portmux/ports.h"

static void test_ip_parse_format(void **state)
{
    (void)state;
    pm_ip ip;
    int fam;
    char buf[PM_IP_STRLEN];
    assert_int_equal(pm_ip_parse("192.0.2.1", &ip, &fam), 0);
    assert_int_equal(fam, PM_AF_INET);
    assert_true(pm_ip_is_v4(&ip));
    assert_int_equal(pm_ip_v4(&ip), 0xc0000201u);
    assert_string_equal(pm_ip_format(&ip, buf), "192.0.2.1");
    assert_int_equal(pm_ip_parse("2001:db8::1", &ip, &fam), 0);
    assert_int_equal(fam, PM_AF_INET6);
    assert_false(pm_ip_is_v4(&ip));
    assert_string_equal(pm_ip_format(&ip, buf), "2001:db8::1");
    assert_int_equal(pm_ip_parse("300.1.1.1", &ip, &fam), -EINVAL);
    assert_int_equal(pm_ip_parse("", &ip, &fam), -EINVAL);
    assert_int_equal(pm_ip_parse(NULL, &ip, &fam), -EINVAL);
}

static void test_ip_classes(void **state)
{
    (void)state;
    pm_ip ip;
    assert_true(pm_ip_is_any(&pm_ip_any4));
    assert_true(pm_ip_is_any(&pm_ip_any6));
    assert_false(pm_ip_eq(&pm_ip_any4, &pm_ip_any6));
    pm_ip_parse("127.1.2.3", &ip, NULL);
    assert_true(pm_ip_is_loopback(&ip));
    pm_ip_parse("::1", &ip, NULL);
    assert_true(pm_ip_is_loopback(&ip));
    pm_ip_parse("239.1.1.1", &ip, NULL);
    assert_true(pm_ip_is_multicast(&ip));
    pm_ip_parse("ff02::1", &ip, NULL);
    assert_true(pm_ip_is_multicast(&ip));
    pm_ip_parse("10.0.0.1", &ip, NULL);
    assert_false(pm_ip_is_multicast(&ip) || pm_ip_is_loopback(&ip) || pm_ip_is_any(&ip));
}

static void test_sockaddr_format(void **state)
{
    (void)state;
    char buf[PM_SOCKADDR_STRLEN];
    pm_sockaddr sa = {.family = PM_AF_INET, .port = 80, .ip = pm_ip4(0x7f000001)};
    assert_string_equal(pm_sockaddr_format(&sa, buf), "127.0.0.1:80");
    sa.family = PM_AF_INET6;
    pm_ip_parse("::1", &sa.ip, NULL);
    sa.port = 65535;
    assert_string_equal(pm_sockaddr_format(&sa, buf), "[::1]:65535");
}

static void test_prefix(void **state)
{
    (void)state;
    pm_prefix p;
    pm_ip ip;
    assert_int_equal(pm_prefix_parse("10.1.2.3/8", &p), 0);
    assert_int_equal(p.plen, 104);
    pm_ip_parse("10.200.0.1", &ip, NULL);
    assert_true(pm_prefix_contains(&p, &ip));
    pm_ip_parse("11.0.0.1", &ip, NULL);
    assert_false(pm_prefix_contains(&p, &ip));
    assert_int_equal(pm_prefix_parse("0.0.0.0/0", &p), 0);
    assert_true(pm_prefix_contains(&p, &ip));
    pm_ip_parse("::1", &ip, NULL);
    assert_false(pm_prefix_contains(&p, &ip)); /* an IPv4 prefix holds no IPv6 */
    assert_int_equal(pm_prefix_parse("2001:db8::/32", &p), 0);
    pm_ip_parse("2001:db8:ffff::1", &ip, NULL);
    assert_true(pm_prefix_contains(&p, &ip));
    pm_ip_parse("2001:db9::1", &ip, NULL);
    assert_false(pm_prefix_contains(&p, &ip));
    assert_int_equal(pm_prefix_parse("10.0.0.0/33", &p), -EINVAL);
    assert_int_equal(pm_prefix_parse("10.0.0.0/", &p), -EINVAL);
    assert_int_equal(pm_prefix_parse("10.0.0.0/-1", &p), -EINVAL);
    assert_int_equal(pm_prefix_parse("::/129", &p), -EINVAL);
    assert_int_equal(pm_prefix_parse("1.2.3.4", &p), 0);
    assert_int_equal(p.plen, 128);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(pm_errname(-EADDRINUSE), "EADDRINUSE");
    assert_string_equal(pm_errname(-PM_E_TRUNCATED), "E_TRUNCATED");
    assert_string_equal(pm_strerror(-PM_E_CHECKSUM), "bad checksum");
    for (int e = PM_ERR_BASE; e < PM_E__END; e++) {
        assert_non_null(pm_strerror(-e));
        assert_string_not_equal(pm_errname(-e), "E?");
    }
}

static void test_port_classes(void **state)
{
    (void)state;
    /* RFC 6335 6 boundaries. */
    assert_int_equal(pm_port_class_of(0), PM_PORT_SYSTEM);
    assert_int_equal(pm_port_class_of(1023), PM_PORT_SYSTEM);
    assert_int_equal(pm_port_class_of(1024), PM_PORT_USER);
    assert_int_equal(pm_port_class_of(49151), PM_PORT_USER);
    assert_int_equal(pm_port_class_of(49152), PM_PORT_DYNAMIC);
    assert_int_equal(pm_port_class_of(65535), PM_PORT_DYNAMIC);
    pm_port_class c;
    assert_int_equal(pm_port_class_parse("Ephemeral", &c), 0);
    assert_int_equal(c, PM_PORT_DYNAMIC);
    assert_int_equal(pm_port_class_parse("well-known", &c), 0);
    assert_int_equal(c, PM_PORT_SYSTEM);
    assert_int_equal(pm_port_class_parse("bogus", &c), -EINVAL);
}

static void test_port_ranges(void **state)
{
    (void)state;
    pm_port_range r;
    assert_int_equal(pm_port_range_parse("linux", &r), 0);
    assert_int_equal(r.lo, 32768);
    assert_int_equal(r.hi, 60999);
    assert_int_equal(pm_port_range_size(r), 28232);
    assert_int_equal(pm_port_range_parse("windows", &r), 0);
    assert_int_equal(r.lo, 49152);
    assert_int_equal(r.hi, 65535);
    assert_int_equal(pm_port_range_parse("old-unix", &r), 0);
    assert_int_equal(r.lo, 1024);
    assert_int_equal(r.hi, 5000);
    assert_int_equal(pm_port_range_parse("1000-2000", &r), 0);
    assert_int_equal(r.lo, 1000);
    assert_int_equal(r.hi, 2000);
    assert_int_equal(pm_port_range_parse("2000-1000", &r), -EINVAL);
    assert_int_equal(pm_port_range_parse("1-65536", &r), -EINVAL);
    assert_int_equal(pm_port_range_parse("1-", &r), -EINVAL);
    assert_int_equal(pm_port_range_parse("x", &r), -EINVAL);
}

static void test_siphash_vectors(void **state)
{
    (void)state;
    /* Reference vectors from the SipHash paper's appendix and its
     * vectors.h: key 00..0f, message 00..(n-1). */
    pm_sipkey k;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
    k.k0 = k.k1 = 0;
    for (int i = 7; i >= 0; i--) k.k0 = (k.k0 << 8) | key[i];
    for (int i = 15; i >= 8; i--) k.k1 = (k.k1 << 8) | key[i];
    assert_true(pm_siphash24(&k, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(pm_siphash24(&k, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(pm_siphash24(&k, msg, 8) == 0x93f5f5799a932462ULL);
    /* SipHash-1-3 differs from 2-4 on the same input. */
    assert_true(pm_siphash13(&k, msg, 15) != pm_siphash24(&k, msg, 15));
}

static void test_rng(void **state)
{
    (void)state;
    pm_rng a, b;
    pm_rng_seed(&a, 42);
    pm_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_true(pm_rng_next(&a) == pm_rng_next(&b));
    unsigned hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint32_t v = pm_rng_below(&a, 10);
        assert_true(v < 10);
        hist[v]++;
    }
    for (int i = 0; i < 10; i++) assert_in_range(hist[i], 9500, 10500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse_format),
        cmocka_unit_test(test_ip_classes),
        cmocka_unit_test(test_sockaddr_format),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_port_classes),
        cmocka_unit_test(test_port_ranges),
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
