/* Socket rows: /proc/net line parsing, ss's state and timer texts, the
 * ephemeral port analysis and the owner index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "portmux/diag.h"

static void test_proc_lines(void **state)
{
    (void)state;
    pm_diag_sock s;
    /* tcp4_seq_show(): a listener on 127.0.0.1:8080 with backlog 0. */
    const char *l1 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
                     "     0        0 12967 1 0000000000000000 100 0 0 10 0";
    assert_int_equal(pm_diag_parse_proc_line(l1, PM_IPPROTO_TCP, PM_AF_INET, 100, &s), 0);
    assert_int_equal(s.state, PM_SS_LISTEN);
    assert_int_equal(s.lport, 8080);
    assert_int_equal(s.rport, 0);
    assert_true(pm_ip_is_v4(&s.laddr));
    assert_int_equal(pm_ip_v4(&s.laddr), 0x7f000001);
    assert_int_equal(s.inode, 12967);
    assert_int_equal(s.family, PM_AF_INET);
    /* TIME_WAIT: timer 3, 0x1770 = 6000 ticks at USER_HZ 100 = 60 s. */
    const char *l2 = "   5: 0100007F:DBEC 0100007F:1F90 06 00000000:00000000 03:00001770 00000000"
                     "     0        0 0 3 0000000000000000";
    assert_int_equal(pm_diag_parse_proc_line(l2, PM_IPPROTO_TCP, PM_AF_INET, 100, &s), 0);
    assert_int_equal(s.state, PM_SS_TIME_WAIT);
    assert_int_equal(s.timer, PM_TIMER_TIMEWAIT);
    assert_int_equal(s.timer_ms, 60000);
    assert_int_equal(s.lport, 0xdbec);
    assert_int_equal(s.rport, 8080);
    /* Queues: tx_queue then rx_queue. */
    const char *l3 = "   1: 0100007F:1F90 0100007F:DBE2 01 00000010:00000064 00:00000000 00000000"
                     "  1000        0 12970 1 0000000000000000 20 4 30 10 -1";
    assert_int_equal(pm_diag_parse_proc_line(l3, PM_IPPROTO_TCP, PM_AF_INET, 100, &s), 0);
    assert_int_equal(s.wqueue, 16);
    assert_int_equal(s.rqueue, 100);
    assert_int_equal(s.uid, 1000);
    /* IPv6 (tcp6): [::1]:22 and a v4-mapped peer. Words are native-endian. */
    const char *l4 = "   0: 00000000000000000000000001000000:0016 0000000000000000FFFF00000100007F:"
                     "C350 01 00000000:00000000 02:000AFC80 00000000     0        0 4242 1 "
                     "0000000000000000 20 4 1 10 -1";
    assert_int_equal(pm_diag_parse_proc_line(l4, PM_IPPROTO_TCP, PM_AF_INET6, 100, &s), 0);
    pm_ip lo6;
    assert_int_equal(pm_ip_parse("::1", &lo6, NULL), 0);
    assert_true(pm_ip_eq(&s.laddr, &lo6));
    assert_true(pm_ip_is_v4(&s.raddr));
    assert_int_equal(pm_ip_v4(&s.raddr), 0x7f000001);
    assert_int_equal(s.rport, 50000);
    assert_int_equal(s.timer, PM_TIMER_KEEPALIVE);
    assert_int_equal(s.family, PM_AF_INET6);
    /* udp: unconnected on 0.0.0.0:53. */
    const char *l5 = "  123: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000"
                     "     0        0 555 2 0000000000000000 0";
    assert_int_equal(pm_diag_parse_proc_line(l5, PM_IPPROTO_UDP, PM_AF_INET, 100, &s), 0);
    assert_int_equal(s.state, PM_SS_CLOSE);
    assert_int_equal(s.lport, 53);
    assert_int_equal(s.proto, PM_IPPROTO_UDP);
    /* Garbage: -EINVAL, never a crash. */
    assert_int_equal(pm_diag_parse_proc_line("", PM_IPPROTO_TCP, PM_AF_INET, 100, &s), -EINVAL);
    assert_int_equal(pm_diag_parse_proc_line("  sl  local_address rem_address", PM_IPPROTO_TCP,
                                             PM_AF_INET, 100, &s),
                     -EINVAL);
    assert_int_equal(
        pm_diag_parse_proc_line("0: 0100007F:1F90 0100007F", PM_IPPROTO_TCP, PM_AF_INET, 100, &s),
        -EINVAL);
    assert_int_equal(pm_diag_parse_proc_line("0: 0100007F:1F90 00000000:0000 0F 0:0 0:0 0 0 0 1",
                                             PM_IPPROTO_TCP, PM_AF_INET, 100, &s),
                     -EINVAL); /* state 15 */
}

static void test_texts(void **state)
{
    (void)state;
    char b[32];
    /* ss: print_ms_timer() */
    assert_string_equal(pm_diag_ms_text(59000, b), "59sec");
    assert_string_equal(pm_diag_ms_text(59990, b), "59sec");
    assert_string_equal(pm_diag_ms_text(1500, b), "1.500ms");
    assert_string_equal(pm_diag_ms_text(200, b), "200ms");
    assert_string_equal(pm_diag_ms_text(61500, b), "1min1sec");
    assert_string_equal(pm_diag_ms_text(7200000, b), "120min");
    assert_string_equal(pm_diag_ms_text(0, b), "");
    assert_string_equal(pm_diag_state_name(PM_SS_ESTABLISHED), "ESTAB");
    assert_string_equal(pm_diag_state_name(PM_SS_TIME_WAIT), "TIME-WAIT");
    assert_string_equal(pm_diag_state_name(PM_SS_CLOSE), "UNCONN");
    assert_string_equal(pm_diag_state_name(99), "UNKNOWN");
    assert_string_equal(pm_diag_timer_name(PM_TIMER_TIMEWAIT), "timewait");
    assert_string_equal(pm_diag_timer_name(9), "unknown");
    assert_int_equal(pm_diag_state_parse("syn-rcv"), PM_SS_BIT(PM_SS_SYN_RECV));
    assert_int_equal(pm_diag_state_parse("LISTENING"), PM_SS_BIT(PM_SS_LISTEN));
    assert_int_equal(pm_diag_state_parse("nosuch"), 0);
    assert_int_equal(pm_diag_state_parse(NULL), 0);
}

static pm_diag_sock tcp(const char *l, int lp, const char *r, int rp, int st, uint32_t timer_ms)
{
    pm_diag_sock s = {.proto = PM_IPPROTO_TCP, .family = PM_AF_INET, .state = (uint8_t)st};
    assert_int_equal(pm_ip_parse(l, &s.laddr, NULL), 0);
    assert_int_equal(pm_ip_parse(r, &s.raddr, NULL), 0);
    s.lport = (uint16_t)lp;
    s.rport = (uint16_t)rp;
    s.timer_ms = timer_ms;
    return s;
}

static void test_ports(void **state)
{
    (void)state;
    pm_diag_table t = {0};
    pm_diag_sock s;
    /* 100-port range 40000-40099: 70 open + 15 TIME_WAIT toward 10.0.0.1:443. */
    for (int i = 0; i < 70; i++) {
        s = tcp("10.0.0.2", 40000 + i, "10.0.0.1", 443, PM_SS_ESTABLISHED, 0);
        assert_int_equal(pm_diag_table_push(&t, &s), 0);
    }
    for (int i = 0; i < 15; i++) {
        s = tcp("10.0.0.2", 40070 + i, "10.0.0.1", 443, PM_SS_TIME_WAIT, 60000 - 1000u * i * 4);
        assert_int_equal(pm_diag_table_push(&t, &s), 0);
    }
    /* Another destination; a port outside the range; a listener inside it
     * with one accepted connection (not ephemeral use). */
    s = tcp("10.0.0.2", 40090, "10.0.0.1", 80, PM_SS_SYN_SENT, 0);
    pm_diag_table_push(&t, &s);
    s = tcp("10.0.0.2", 1000, "10.0.0.1", 80, PM_SS_ESTABLISHED, 0);
    pm_diag_table_push(&t, &s);
    s = tcp("0.0.0.0", 40095, "0.0.0.0", 0, PM_SS_LISTEN, 0);
    pm_diag_table_push(&t, &s);
    s = tcp("10.0.0.2", 40095, "10.0.0.9", 50000, PM_SS_ESTABLISHED, 0);
    pm_diag_table_push(&t, &s);

    pm_diag_ports p;
    assert_int_equal(pm_diag_ports_analyse(t.rows, t.n, 40000, 40099, NULL, &p), 0);
    assert_int_equal(p.blocked, 1);
    assert_int_equal(p.listening, 1);
    assert_int_equal(p.n, 2);
    const pm_diag_dest *d = &p.dests[0]; /* most used first */
    assert_int_equal(d->rport, 443);
    assert_int_equal(d->in_use, 70);
    assert_int_equal(d->time_wait, 15);
    assert_int_equal(pm_diag_dest_used(&p, d), 86);
    assert_int_equal(pm_diag_dest_left(&p, d), 14);
    assert_int_equal(p.dests[1].rport, 80);
    assert_int_equal(p.dests[1].in_use, 1);
    /* Ages 0, 4, 8, ..., 56 s: buckets of 10 s. */
    assert_int_equal(p.tw_total, 15);
    assert_int_equal(p.tw_age[0], 3); /* 0 4 8 */
    assert_int_equal(p.tw_age[1], 2); /* 12 16 */
    assert_int_equal(p.tw_age[2], 3); /* 20 24 28 */
    assert_int_equal(p.tw_age[5], 2); /* 52 56 */
    pm_diag_ports_free(&p);
    /* Reserved ports (one of them also listening) block every destination. */
    static pm_portset rs;
    assert_int_equal(pm_diag_parse_port_list("40095,40096-40098,1000\n", &rs), 0);
    assert_int_equal(pm_diag_ports_analyse(t.rows, t.n, 40000, 40099, &rs, &p), 0);
    assert_int_equal(p.listening, 1);
    assert_int_equal(p.reserved, 3);
    assert_int_equal(pm_diag_dest_used(&p, &p.dests[0]), 89);
    assert_int_equal(pm_diag_dest_left(&p, &p.dests[0]), 11);
    pm_diag_ports_free(&p);
    /* Empty input. */
    assert_int_equal(pm_diag_ports_analyse(NULL, 0, 1, 2, NULL, &p), 0);
    assert_int_equal(p.n, 0);
    pm_diag_ports_free(&p);
    pm_diag_table_free(&t);
}

static void test_port_list(void **state)
{
    (void)state;
    static pm_portset s;
    memset(&s, 0, sizeof s);
    assert_int_equal(pm_diag_parse_port_list("", &s), 0);
    assert_int_equal(pm_diag_parse_port_list("8080,9000-9002", &s), 0);
    assert_true(pm_portset_has(&s, 8080));
    assert_true(pm_portset_has(&s, 9001));
    assert_false(pm_portset_has(&s, 9003));
    assert_int_equal(pm_diag_parse_port_list("0-65535", &s), 0);
    assert_true(pm_portset_has(&s, 65535));
    assert_int_equal(pm_diag_parse_port_list("9-8", &s), -EINVAL);
    assert_int_equal(pm_diag_parse_port_list("70000", &s), -EINVAL);
    assert_int_equal(pm_diag_parse_port_list("1,,2", &s), -EINVAL);
    assert_int_equal(pm_diag_parse_port_list("x", &s), -EINVAL);
}

static void test_owners(void **state)
{
    (void)state;
    pm_diag_owner v[] = {{.inode = 5, .pid = 1, .fd = 3},
                         {.inode = 7, .pid = 1, .fd = 4},
                         {.inode = 7, .pid = 2, .fd = 9},
                         {.inode = 9, .pid = 3, .fd = 1}};
    pm_diag_owners o = {.v = v, .n = 4, .cap = 4};
    size_t count;
    const pm_diag_owner *w = pm_diag_owners_find(&o, 7, &count);
    assert_int_equal(count, 2);
    assert_int_equal(w[0].pid, 1);
    assert_int_equal(w[1].pid, 2);
    assert_null(pm_diag_owners_find(&o, 6, &count));
    assert_int_equal(count, 0);
    assert_null(pm_diag_owners_find(&o, 0, &count));
    assert_non_null(pm_diag_owners_find(&o, 9, &count));
    assert_int_equal(count, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_lines), cmocka_unit_test(test_texts),
        cmocka_unit_test(test_ports),      cmocka_unit_test(test_port_list),
        cmocka_unit_test(test_owners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
