/* The scanner's engine pieces: port lists, targets, the permutation and
 * sharding, the cookie, RTT timeouts, resume files, the output formats,
 * and a connect scan of loopback listeners end to end. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "portmux/scan.h"
#include "scan_output.h"

static void test_portlist_parse(void **state)
{
    (void)state;
    pm_portlist l;
    assert_int_equal(pm_portlist_parse("22,80,1000-2000", PM_IPPROTO_TCP, &l), 0);
    assert_int_equal(l.n, 2 + 1001);
    assert_int_equal(l.port[0], 22);
    assert_int_equal(l.port[1], 80);
    assert_int_equal(l.port[2], 1000);
    assert_int_equal(l.port[l.n - 1], 2000);
    pm_portlist_free(&l);
    /* -p- is 1-65535; "-N" and "N-" are open ranges */
    assert_int_equal(pm_portlist_parse("-", PM_IPPROTO_TCP, &l), 0);
    assert_int_equal(l.n, 65535);
    assert_int_equal(l.port[0], 1);
    pm_portlist_free(&l);
    assert_int_equal(pm_portlist_parse("-100", PM_IPPROTO_TCP, &l), 0);
    assert_int_equal(l.n, 100);
    pm_portlist_free(&l);
    assert_int_equal(pm_portlist_parse("60000-", PM_IPPROTO_TCP, &l), 0);
    assert_int_equal(l.n, 5536);
    pm_portlist_free(&l);
    /* duplicates and overlaps collapse, order is sorted */
    assert_int_equal(pm_portlist_parse("80,22,80,20-25", PM_IPPROTO_TCP, &l), 0);
    assert_int_equal(l.n, 7);
    assert_int_equal(l.port[0], 20);
    assert_int_equal(l.port[6], 80);
    pm_portlist_free(&l);
    /* T:/U: sections; ports before any section are for both */
    assert_int_equal(pm_portlist_parse("7,T:22,80,U:53,161", PM_IPPROTO_TCP, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.port[1], 22);
    pm_portlist_free(&l);
    assert_int_equal(pm_portlist_parse("7,T:22,80,U:53,161", PM_IPPROTO_UDP, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.port[2], 161);
    pm_portlist_free(&l);
    assert_int_equal(pm_portlist_parse("0", PM_IPPROTO_TCP, &l), 0); /* nmap allows 0 by name */
    assert_int_equal(l.port[0], 0);
    pm_portlist_free(&l);
    const char *bad[] = {"",   "65536", "5-1", "a",   "1,,2",  "1,",
                         ",1", "1-2-3", "22 ", "X:1", "-70000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(pm_portlist_parse(bad[i], PM_IPPROTO_TCP, &l), -EINVAL);
        assert_null(l.port);
    }
    assert_int_equal(pm_portlist_parse(NULL, PM_IPPROTO_TCP, &l), -EINVAL);
}

static void test_portlist_top(void **state)
{
    (void)state;
    const char text[] = "# comment\n"
                        "http\t80/tcp\t0.484143\t# World Wide Web HTTP\n"
                        "ssh\t22/tcp\t0.182286\n"
                        "domain\t53/udp\t0.213496\n"
                        "telnet\t23/tcp\t0.221265\n"
                        "tie-a\t9000/tcp\t0.100000\n"
                        "tie-b\t8000/tcp\t0.100000\n"
                        "nofreq\t7/tcp\n";
    pm_portlist l;
    assert_int_equal(pm_portlist_top(text, sizeof text - 1, PM_IPPROTO_TCP, 2, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.port[0], 23); /* the top two, listed in port order */
    assert_int_equal(l.port[1], 80);
    pm_portlist_free(&l);
    /* ties keep the file's order */
    assert_int_equal(pm_portlist_top(text, sizeof text - 1, PM_IPPROTO_TCP, 4, &l), 0);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.port[3], 9000);
    pm_portlist_free(&l);
    assert_int_equal(pm_portlist_top(text, sizeof text - 1, PM_IPPROTO_UDP, 100, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.port[0], 53);
    pm_portlist_free(&l);
    const char nodata[] = "http 80/tcp\n";
    assert_int_equal(pm_portlist_top(nodata, sizeof nodata - 1, PM_IPPROTO_TCP, 10, &l), -ENOENT);
}

static void test_targets(void **state)
{
    (void)state;
    pm_targets t = {0};
    char b[PM_IP_STRLEN];
    int fam;
    assert_int_equal(pm_targets_add(&t, "192.0.2.77/30"), 0); /* host bits cleared */
    assert_int_equal(pm_targets_add(&t, "198.51.100.10-12"), 0);
    assert_int_equal(pm_targets_add(&t, "2001:db8::ff/126"), 0);
    assert_int_equal(pm_targets_add(&t, "203.0.113.9"), 0);
    assert_int_equal(t.total, 4 + 3 + 4 + 1);
    pm_ip ip = pm_targets_at(&t, 0, &fam);
    assert_string_equal(pm_ip_format(&ip, b), "192.0.2.76");
    assert_int_equal(fam, PM_AF_INET);
    ip = pm_targets_at(&t, 3, NULL);
    assert_string_equal(pm_ip_format(&ip, b), "192.0.2.79");
    ip = pm_targets_at(&t, 6, NULL);
    assert_string_equal(pm_ip_format(&ip, b), "198.51.100.12");
    ip = pm_targets_at(&t, 10, &fam);
    assert_string_equal(pm_ip_format(&ip, b), "2001:db8::ff");
    assert_int_equal(fam, PM_AF_INET6);
    ip = pm_targets_at(&t, 11, NULL);
    assert_string_equal(pm_ip_format(&ip, b), "203.0.113.9");
    /* carries across bytes */
    pm_targets u = {0};
    assert_int_equal(pm_targets_add(&u, "10.0.0.0/16"), 0);
    ip = pm_targets_at(&u, 256 + 5, NULL);
    assert_string_equal(pm_ip_format(&ip, b), "10.0.1.5");
    pm_targets_free(&u);
    const char *bad[] = {"",       "10.0.0.1/33", "10.0.0.9-3", "10.0.0.1-300",
                         "nohost", "::1-5",       "1.2.3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(pm_targets_add(&t, bad[i]), -EINVAL);
    assert_int_equal(pm_targets_add(&t, "2001:db8::/64"), -E2BIG);
    /* an IPv4-mapped IPv6 address is scanned as IPv4 */
    pm_targets m = {0};
    assert_int_equal(pm_targets_add(&m, "::ffff:10.0.0.1"), 0);
    (void)pm_targets_at(&m, 0, &fam);
    assert_int_equal(fam, PM_AF_INET);
    pm_targets_free(&m);
    pm_targets_free(&t);
}

static void test_perm_bijective(void **state)
{
    (void)state;
    const uint64_t sizes[] = {1, 2, 3, 5, 16, 17, 1000, 65535, 3 * 65535 + 7};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        uint64_t n = sizes[k];
        pm_perm p;
        pm_perm_init(&p, n, 42 + k);
        uint8_t *seen = calloc(n, 1);
        assert_non_null(seen);
        uint64_t fixed = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t x = pm_perm_at(&p, i);
            assert_true(x < n);
            assert_int_equal(seen[x], 0); /* no repeats */
            seen[x] = 1;
            fixed += x == i;
        }
        if (n >= 1000) assert_true(fixed < n / 100); /* shuffled, not identity */
        free(seen);
    }
    /* the seed is the key: the same seed, the same order; another, another */
    pm_perm a, b, c;
    pm_perm_init(&a, 100000, 7);
    pm_perm_init(&b, 100000, 7);
    pm_perm_init(&c, 100000, 8);
    unsigned same = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        assert_int_equal(pm_perm_at(&a, i), pm_perm_at(&b, i));
        same += pm_perm_at(&a, i) == pm_perm_at(&c, i);
    }
    assert_true(same < 10);
}

static void test_shards_cover_once(void **state)
{
    (void)state;
    const uint64_t n = 10007; /* prime: shards of unequal size */
    for (uint32_t nsh = 1; nsh <= 5; nsh++) {
        pm_perm p;
        pm_perm_init(&p, n, 99);
        uint8_t *seen = calloc(n, 1);
        uint64_t total = 0;
        for (uint32_t s = 0; s < nsh; s++) {
            uint64_t cnt = pm_shard_count(n, s, nsh);
            total += cnt;
            for (uint64_t pos = 0; pos < cnt; pos++) {
                uint64_t x = pm_perm_at(&p, s + pos * nsh);
                assert_int_equal(seen[x], 0);
                seen[x] = 1;
            }
        }
        assert_int_equal(total, n);
        for (uint64_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
        free(seen);
    }
    assert_int_equal(pm_shard_count(5, 7, 8), 0);
    assert_int_equal(pm_shard_count(5, 0, 0), 0);
}

static void test_cookie(void **state)
{
    (void)state;
    uint64_t k1[2] = {1, 2}, k2[2] = {1, 3};
    pm_ip a = pm_ip4(0xc0000201), b = pm_ip4(0xc0000202);
    uint32_t c = pm_scan_cookie(k1, &a, 80, 40000);
    assert_int_equal(c, pm_scan_cookie(k1, &a, 80, 40000));
    assert_int_not_equal(c, pm_scan_cookie(k2, &a, 80, 40000)); /* key */
    assert_int_not_equal(c, pm_scan_cookie(k1, &b, 80, 40000)); /* target */
    assert_int_not_equal(c, pm_scan_cookie(k1, &a, 81, 40000)); /* port */
    assert_int_not_equal(c, pm_scan_cookie(k1, &a, 80, 40001)); /* our port */
    /* spread: 3000 ports give (nearly) 3000 distinct cookies */
    uint32_t *v = malloc(3000 * sizeof *v);
    for (uint16_t p = 0; p < 3000; p++) v[p] = pm_scan_cookie(k1, &a, p, 40000);
    unsigned dup = 0;
    for (int i = 0; i < 3000; i++)
        for (int j = i + 1; j < 3000; j++) dup += v[i] == v[j];
    assert_true(dup < 3);
    free(v);
}

static void test_rtt(void **state)
{
    (void)state;
    pm_rtt r;
    pm_rtt_init(&r, 1000000, 100000, 10000000);
    assert_int_equal(r.timeout, 1000000); /* before any sample */
    pm_rtt_sample(&r, 200000);
    assert_int_equal(r.srtt, 200000);
    assert_int_equal(r.rttvar, 200000);
    assert_int_equal(r.timeout, 200000 + 4 * 200000);
    pm_rtt_sample(&r, 200000); /* steady: rttvar decays by a quarter */
    assert_int_equal(r.srtt, 200000);
    assert_int_equal(r.rttvar, 150000);
    assert_int_equal(r.timeout, 800000);
    pm_rtt_init(&r, 1000000, 100000, 10000000);
    pm_rtt_sample(&r, 50); /* loopback: clamped to the minimum */
    assert_int_equal(r.rttvar, 5000);
    assert_int_equal(r.timeout, 100000);
    pm_rtt_init(&r, 1000000, 100000, 1250000);
    pm_rtt_sample(&r, 3000000); /* and to the maximum */
    assert_int_equal(r.timeout, 1250000);
}

/* ---- outputs ---------------------------------------------------------- */

static const char *fake_service(void *ctx, uint16_t port, uint8_t proto)
{
    (void)ctx;
    (void)proto;
    return port == 22 ? "ssh" : port == 80 ? "http" : NULL;
}

typedef struct fixture {
    pm_scan_cfg cfg;
    pm_scan_result res;
    pm_scan_stats st;
} fixture;

/* 192.0.2.1, ports 1-100: 22 and 80 open, 30 filtered (41-70), the rest
 * closed; filtered ports above 25 make two ignored states when asked. */
static void make_fixture(fixture *f, unsigned nfiltered)
{
    memset(f, 0, sizeof *f);
    f->cfg.type = PM_SCAN_SYN;
    f->cfg.nshards = 1;
    assert_int_equal(pm_targets_add(&f->cfg.targets, "192.0.2.1"), 0);
    assert_int_equal(pm_portlist_parse("1-100", PM_IPPROTO_TCP, &f->cfg.ports), 0);
    f->res.n = 100;
    f->res.state = calloc(100, 1);
    f->res.reason = calloc(100, 1);
    f->res.ttl = calloc(100, 1);
    for (int i = 0; i < 100; i++) {
        f->res.state[i] = PM_PORT_CLOSED;
        f->res.reason[i] = PM_R_RESET;
        f->res.ttl[i] = 64;
    }
    for (unsigned i = 0; i < nfiltered; i++) {
        f->res.state[40 + i] = PM_PORT_FILTERED;
        f->res.reason[40 + i] = PM_R_NO_RESPONSE;
        f->res.ttl[40 + i] = 0;
    }
    f->res.state[21] = f->res.state[79] = PM_PORT_OPEN;
    f->res.reason[21] = f->res.reason[79] = PM_R_SYN_ACK;
    f->st.start_us = 1000000;
    f->st.end_us = 1500000;
    f->st.srtt = 120;
}

static void free_fixture(fixture *f)
{
    pm_scan_result_free(&f->res);
    pm_portlist_free(&f->cfg.ports);
    pm_targets_free(&f->cfg.targets);
}

static char *render(fixture *f, void (*w)(FILE *, const pm_scan_report *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    pm_scan_report rep = {&f->cfg, &f->res, &f->st,       "portmux scan -p 1-100 192.0.2.1",
                          0,       1,       fake_service, NULL};
    w(m, &rep);
    fclose(m);
    return buf;
}

static void test_output_grep(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 3);
    char *out = render(&f, pm_scan_write_grep);
    /* nmap's exact layout: a status line, then the ports line; a port
     * nmap-services does not list has an empty service field */
    assert_non_null(strstr(out, "\nHost: 192.0.2.1 ()\tStatus: Up\n"));
    assert_non_null(strstr(out, "\nHost: 192.0.2.1 ()\tPorts: 22/open/tcp//ssh///, "
                                "41/filtered/tcp/////, 42/filtered/tcp/////, "
                                "43/filtered/tcp/////, 80/open/tcp//http///\t"
                                "Ignored State: closed (95)\n"));
    assert_non_null(strstr(out, "# portmux done at "));
    assert_non_null(strstr(out, "-- 1 IP address (1 host up) scanned in 0.50 seconds\n"));
    free(out);
    free_fixture(&f);
    /* two ignored states: the line lists the rest and names neither */
    make_fixture(&f, 30);
    out = render(&f, pm_scan_write_grep);
    assert_non_null(strstr(out, "\tPorts: 22/open/tcp//ssh///, 80/open/tcp//http///\n"));
    assert_null(strstr(out, "Ignored State"));
    free(out);
    free_fixture(&f);
}

static void test_output_normal_xml_json(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 30);
    char *out = render(&f, (void (*)(FILE *, const pm_scan_report *))pm_scan_write_xml);
    assert_non_null(strstr(out, "<nmaprun scanner=\"nmap\" args=\"portmux scan"));
    assert_non_null(strstr(out, "<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"100\" "
                                "services=\"1-100\"/>"));
    /* ignored states by count, each with its reasons and port ranges */
    const char *closed = strstr(out, "<extraports state=\"closed\" count=\"68\">\n"
                                     "<extrareasons reason=\"reset\" count=\"68\" proto=\"tcp\" "
                                     "ports=\"1-21,23-40,71-79,81-100\"/>");
    const char *filt = strstr(out, "<extraports state=\"filtered\" count=\"30\">");
    assert_non_null(closed);
    assert_non_null(filt);
    assert_true(closed < filt);
    assert_non_null(strstr(out, "<port protocol=\"tcp\" portid=\"22\"><state state=\"open\" "
                                "reason=\"syn-ack\" reason_ttl=\"64\"/><service name=\"ssh\" "
                                "method=\"table\" conf=\"3\"/></port>"));
    assert_non_null(strstr(out, "</nmaprun>\n"));
    free(out);
    out = render(&f, pm_scan_write_json);
    assert_non_null(strstr(out, "\"counts\":{\"closed\":68,\"open\":2,\"filtered\":30}"));
    assert_non_null(strstr(out, "{\"port\":80,\"proto\":\"tcp\",\"state\":\"open\","
                                "\"reason\":\"syn-ack\",\"ttl\":64,\"service\":\"http\"}"));
    free(out);
    free_fixture(&f);
    make_fixture(&f, 3);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    pm_scan_report rep = {&f.cfg, &f.res, &f.st, "x", 0, 1, fake_service, NULL};
    pm_scan_write_normal(m, &rep, false);
    fclose(m);
    assert_non_null(strstr(buf, "Not shown: 95 closed tcp ports (reset)\n"
                                "PORT   STATE    SERVICE\n"
                                "22/tcp open     ssh\n"
                                "41/tcp filtered unknown\n"));
    free(buf);
    free_fixture(&f);
}

static void test_resume_roundtrip(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 3);
    f.cfg.seed = 1234;
    char path[] = "/tmp/pm-scan-resume-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pm_scan_resume_save(path, &f.cfg, 57, &f.res), 0);
    uint64_t seed = 0;
    assert_int_equal(pm_scan_resume_seed(path, &seed), 0);
    assert_int_equal(seed, 1234);
    pm_scan_result r = {calloc(100, 1), calloc(100, 1), calloc(100, 1), 100};
    uint64_t next = 0;
    assert_int_equal(pm_scan_resume_load(path, &f.cfg, &next, &r), 0);
    assert_int_equal(next, 57);
    assert_int_equal(r.state[21], PM_PORT_OPEN);
    assert_int_equal(r.state[0], PM_PORT_CLOSED);
    assert_int_equal(r.state[40], 0); /* no-response is not stored: re-derived */
    /* another scan's file is refused */
    f.cfg.shard = 1;
    f.cfg.nshards = 2;
    assert_int_equal(pm_scan_resume_load(path, &f.cfg, &next, &r), -ESTALE);
    pm_scan_result_free(&r);
    unlink(path);
    free_fixture(&f);
}

/* A connect scan of loopback: a listener is open, a bound socket that does
 * not listen is closed; both shards together see both. */
static void test_connect_scan_loopback(void **state)
{
    (void)state;
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 16), 0);
    getsockname(l, (struct sockaddr *)&a, &al);
    uint16_t open_port = ntohs(a.sin_port);
    a.sin_port = 0;
    assert_int_equal(bind(c, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(c, (struct sockaddr *)&a, &al);
    uint16_t closed_port = ntohs(a.sin_port);
    char spec[32];
    snprintf(spec, sizeof spec, "%u,%u", open_port, closed_port);
    for (uint32_t shard = 0; shard < 2; shard++) {
        pm_scan_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.type = PM_SCAN_CONNECT;
        cfg.seed = 5;
        cfg.shard = shard;
        cfg.nshards = 2;
        cfg.max_retries = 1;
        assert_int_equal(pm_targets_add(&cfg.targets, "127.0.0.1"), 0);
        assert_int_equal(pm_portlist_parse(spec, PM_IPPROTO_TCP, &cfg.ports), 0);
        pm_scan_result res;
        pm_scan_stats st;
        assert_int_equal(pm_scan_run(&cfg, &res, &st), 0);
        unsigned concluded = 0;
        for (size_t i = 0; i < 2; i++) {
            if (!res.state[i]) continue;
            concluded++;
            if (cfg.ports.port[i] == open_port)
                assert_int_equal(res.state[i], PM_PORT_OPEN);
            else
                assert_int_equal(res.state[i], PM_PORT_CLOSED);
        }
        assert_int_equal(concluded, 1); /* two probes, two shards: one each */
        assert_int_equal(st.sent, 1);
        pm_scan_result_free(&res);
        pm_portlist_free(&cfg.ports);
        pm_targets_free(&cfg.targets);
    }
    close(l);
    close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portlist_parse),
        cmocka_unit_test(test_portlist_top),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_perm_bijective),
        cmocka_unit_test(test_shards_cover_once),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_rtt),
        cmocka_unit_test(test_output_grep),
        cmocka_unit_test(test_output_normal_xml_json),
        cmocka_unit_test(test_resume_roundtrip),
        cmocka_unit_test(test_connect_scan_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
