/* The drill host target (src/drill/host_target.c): what the adapter itself
 * decides, beyond the scripts in tests/drill: blocking calls, fcntl, knobs
 * the host lacks (accepted only at the value it behaves as, otherwise the
 * script is skipped), counts and drops, personalities, and that a wrong
 * expectation fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "portmux/drill.h"

static pm_drill_verdict run(const char *text, const char *pers, const char **defines,
                            pm_drill_result *res)
{
    pm_drill_parse_opts po;
    memset(&po, 0, sizeof po);
    po.personality = pers;
    for (; defines && *defines; defines++) po.defines[po.n_defines++] = *defines;
    pm_drill_script *s = NULL;
    char err[PM_DRILL_ERRLEN];
    int rc = pm_drill_parse(text, strlen(text), "t.pkt", &po, &s, err, sizeof err);
    if (rc) fprintf(stderr, "parse: %s\n", err);
    assert_int_equal(rc, 0);
    pm_drill_target t;
    assert_int_equal(pm_drill_host_open(pers, &t, err, sizeof err), 0);
    pm_drill_run(s, &t, NULL, NULL, res);
    if (res->verdict != PM_DRILL_PASS)
        fprintf(stderr, "line %d: %s\n  %s\n  %s\n", res->line, res->msg, res->expected,
                res->actual);
    pm_drill_host_close(&t);
    pm_drill_script_free(s);
    return res->verdict;
}

#define HANDSHAKE                                                                                  \
    "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"                                                \
    "+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"                                     \
    "+0 bind(3, ..., ...) = 0\n"                                                                   \
    "+0 listen(3, 1) = 0\n"                                                                        \
    "+0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n"                             \
    "+0 > S. 0:0(0) ack 1 <...>\n"

static void test_blocking_calls(void **state)
{
    (void)state;
    pm_drill_result r;
    /* accept() blocks until the handshake completes; a blocking connect()
     * returns when the SYN-ACK arrives. */
    assert_int_equal(run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                         "+0 bind(3, ..., ...) = 0\n"
                         "+0 listen(3, 1) = 0\n"
                         "+0...0.1 accept(3, ..., ...) = 4\n"
                         "+0 < S 0:0(0) win 32792 <mss 1000>\n"
                         "+0 > S. 0:0(0) ack 1 <...>\n"
                         "+.1 < . 1:1(0) ack 1 win 257\n",
                         "linux", NULL, &r),
                     PM_DRILL_PASS);
    assert_int_equal(run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                         "+0...0.05 connect(3, ..., ...) = 0\n"
                         "+0 > S 0:0(0) <...>\n"
                         "+.05 < S. 0:0(0) ack 1 win 5792 <mss 1460>\n"
                         "+0 > . 1:1(0) ack 1\n",
                         "linux", NULL, &r),
                     PM_DRILL_PASS);
    /* A call that blocks where the script expects it to return: a failure. */
    assert_int_equal(run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                         "+0 bind(3, ..., ...) = 0\n"
                         "+0 listen(3, 1) = 0\n"
                         "+0 accept(3, ..., ...) = 4\n",
                         "linux", NULL, &r),
                     PM_DRILL_FAIL);
    /* O_NONBLOCK: EAGAIN instead. */
    assert_int_equal(run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                         "+0 fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)\n"
                         "+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0\n"
                         "+0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)\n"
                         "+0 bind(3, ..., ...) = 0\n"
                         "+0 listen(3, 1) = 0\n"
                         "+0 accept(3, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)\n",
                         "linux", NULL, &r),
                     PM_DRILL_PASS);
}

static void test_knobs(void **state)
{
    (void)state;
    pm_drill_result r;
    /* Knobs the host has: set. */
    assert_int_equal(run("0 `sysctl -w net.inet.tcp.insecure_rst=1`\n"
                         "+0 `sysctl -w net.inet.tcp.rfc1323=1`\n",
                         "freebsd", NULL, &r),
                     PM_DRILL_PASS);
    /* FreeBSD defaults, as the suite sets them; fixed knobs only at the host's value. */
    assert_int_equal(run("0 `sysctl -w net.inet.tcp.blackhole=0`\n"
                         "+0 `sysctl -w net.inet.tcp.ecn.enable=2`\n"
                         "+0 `sysctl -w kern.ipc.maxsockbuf=2097152`\n"
                         "+0 `sysctl -w net.inet.tcp.recvspace=65536`\n"
                         "+0 `sysctl -w net.inet.tcp.sendspace=32768`\n"
                         "+0 `sysctl -w net.inet.tcp.hostcache.purgenow=1`\n",
                         "freebsd", NULL, &r),
                     PM_DRILL_PASS);
    /* The host has FreeBSD's blackhole knob (host.h): any value is set. */
    assert_int_equal(run("0 `sysctl -w net.inet.tcp.blackhole=2`\n", "freebsd", NULL, &r),
                     PM_DRILL_PASS);
    assert_int_equal(run("0 `sysctl -w net.inet.tcp.recvspace=1000`\n", "freebsd", NULL, &r),
                     PM_DRILL_PASS);
    assert_int_equal(run("0 `sysctl -w kern.ipc.maxsockbuf=1000`\n", "freebsd", NULL, &r),
                     PM_DRILL_SKIP);
    assert_int_equal(run("0 `sysctl -w net.inet.tcp.ecn.enable=1`\n", "linux", NULL, &r),
                     PM_DRILL_SKIP);
    assert_int_equal(run("0 `sysctl -w net.inet.tcp.bogus=1`\n", "linux", NULL, &r), PM_DRILL_SKIP);
}

static void test_counts_and_drops(void **state)
{
    (void)state;
    pm_drill_result r;
    assert_int_equal(run(HANDSHAKE
                         "+.05 < . 1:1(0) ack 1 win 257\n"
                         "+0 accept(3, ..., ...) = 4\n"
                         "+0 `ss -tan state ESTAB | wc -l | grep 1`\n"
                         "+0 `ss -tan state LISTEN | wc -l | grep 1`\n"
                         "+0 `sockstat -4 -P tcp -p 8080 -s | grep -c ESTABLISHED | grep 1`\n"
                         "+0 `sockstat -6 -P tcp -s | grep -c ESTABLISHED | grep 0`\n"
                         "+0 close(4) = 0\n"
                         "+0 > F. 1:1(0) ack 1 <...>\n"
                         "+.01 < F. 1:1(0) ack 2 win 257\n"
                         "+0 > . 2:2(0) ack 2 <...>\n"
                         "+0 `sockstat -4 -P tcp -s | grep -c TIME_WAIT | grep 1`\n"
                         "+0 `tcpdrop -s TIME_WAIT`\n"
                         "+0 `sockstat -4 -P tcp -s | grep -c TIME_WAIT | grep 0`\n",
                         "freebsd", NULL, &r),
                     PM_DRILL_PASS);
    /* A wrong count fails; tcpdrop of another state is outside the layer. */
    assert_int_equal(
        run(HANDSHAKE "+0 `ss -tan state ESTAB | wc -l | grep 1`\n", "linux", NULL, &r),
        PM_DRILL_FAIL);
    assert_string_equal(r.msg, "expected 1 sockets in ESTABLISHED but found 0: ss -tan state "
                               "ESTAB | wc -l | grep 1");
    assert_int_equal(run(HANDSHAKE "+0 `tcpdrop -s ESTABLISHED`\n", "linux", NULL, &r),
                     PM_DRILL_SKIP);
}

static void test_personalities(void **state)
{
    (void)state;
    pm_drill_result r;
    /* The same SYN, two SYN-ACKs: Linux's options and MSS-rounded window,
     * FreeBSD's 65535 and order. */
    assert_int_equal(run(HANDSHAKE, "linux", NULL, &r), PM_DRILL_PASS);
    assert_int_equal(run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                         "+0 bind(3, ..., ...) = 0\n"
                         "+0 listen(3, 1) = 0\n"
                         "+0 < S 0:0(0) win 32792 <mss 1460,sackOK,TS val 1 ecr 0>\n"
                         "+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 1>\n",
                         "freebsd", NULL, &r),
                     PM_DRILL_PASS);
    assert_int_equal(run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                         "+0 bind(3, ..., ...) = 0\n"
                         "+0 listen(3, 1) = 0\n"
                         "+0 < S 0:0(0) win 32792 <mss 1460,sackOK,TS val 1 ecr 0>\n"
                         "+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 1>\n",
                         "linux", NULL, &r),
                     PM_DRILL_FAIL);
    char err[64];
    pm_drill_target t;
    assert_int_equal(pm_drill_host_open("plan9", &t, err, sizeof err), -22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_calls),
        cmocka_unit_test(test_knobs),
        cmocka_unit_test(test_counts_and_drops),
        cmocka_unit_test(test_personalities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
