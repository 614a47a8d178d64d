/* The packetdrill parser: grammar cases, #ifdef, strace-form addresses,
 * the backtick compatibility layer, and errors that name their line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "portmux/drill.h"

static pm_drill_script *parse_d(const char *text, const char *def, char *err, size_t errcap)
{
    pm_drill_parse_opts o;
    memset(&o, 0, sizeof o);
    if (def) o.defines[o.n_defines++] = def;
    pm_drill_script *s = NULL;
    int rc = pm_drill_parse(text, strlen(text), "t.pkt", &o, &s, err, errcap);
    if (rc) assert_null(s);
    return s;
}

static pm_drill_script *parse_ok(const char *text)
{
    char err[256];
    pm_drill_script *s = parse_d(text, NULL, err, sizeof err);
    if (!s) fail_msg("unexpected parse error: %s", err);
    return s;
}

/* Parses text expecting an error on `line` whose message contains `what`. */
static void parse_err(const char *text, int line, const char *what)
{
    char err[256];
    pm_drill_script *s = parse_d(text, NULL, err, sizeof err);
    if (s) {
        pm_drill_script_free(s);
        fail_msg("parsed, expected error at line %d: %s", line, text);
    }
    if (atoi(err) != line || !strstr(err, what))
        fail_msg("error '%s', expected line %d containing '%s'", err, line, what);
}

static void test_suite_shape(void **state)
{
    (void)state;
    pm_drill_script *s = parse_ok(
        "// a comment\n"
        "--ip_version=ipv6\n"
        "--tolerance_usecs=75000\n"
        "--some_flag\n"
        " 0.00 `sysctl -w net.inet.tcp.rfc1323=1`\n"
        "+0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0.00 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)\n"
        "+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0\n"
        "+0.00 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0\n"
        "+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n"
        "+0.00 > S  0:0(0)       win 65535 <mss 1440,nop,wscale 6,sackOK,TS val 100 ecr 0>\n"
        "+0.10 < S. 0:0(0) ack 1 win 32767 <mss 1440,sackOK,eol,eol>\n"
        "+0.00 >  . 1:1(0) ack 1 win 65535\n"
        "+0.00 < R  1:1(0)  win 32767\n"
        "+0.00 > F. 1:1001(1000) ack 1\n");
    assert_int_equal(s->n_options, 3);
    assert_string_equal(s->options[0].name, "ip_version");
    assert_string_equal(s->options[0].value, "ipv6");
    assert_string_equal(s->options[2].name, "some_flag");
    assert_null(s->options[2].value);
    assert_int_equal(s->config.ip_version, 6);
    assert_int_equal(s->config.tolerance_usecs, 75000);
    assert_int_equal(s->n_events, 11);

    const pm_drill_event *e = &s->events[0];
    assert_int_equal(e->kind, PM_DRILL_EV_COMMAND);
    assert_int_equal(e->line, 5);
    assert_int_equal(e->time.kind, PM_DRILL_TIME_ABSOLUTE);
    assert_string_equal(e->text, "sysctl -w net.inet.tcp.rfc1323=1");

    e = &s->events[1];
    assert_int_equal(e->kind, PM_DRILL_EV_SYSCALL);
    assert_int_equal(e->time.kind, PM_DRILL_TIME_RELATIVE);
    assert_string_equal(e->syscall.name, "socket");
    assert_int_equal(e->syscall.n_args, 3);
    assert_int_equal(e->syscall.args[0]->kind, PM_DX_ELLIPSIS);
    int64_t v;
    assert_int_equal(pm_drill_expr_int(e->syscall.args[1], &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(pm_drill_expr_int(e->syscall.result, &v), 0);
    assert_int_equal(v, 3);

    e = &s->events[2];
    assert_true(e->syscall.result->hex);
    assert_int_equal(e->syscall.result->num, 2);
    assert_string_equal(e->syscall.note, "flags O_RDWR");
    assert_null(e->syscall.errno_name);

    e = &s->events[3];
    assert_int_equal(pm_drill_expr_int(e->syscall.args[2], &v), 0);
    assert_int_equal(v, 2 | 04000);

    e = &s->events[4];
    assert_int_equal(e->syscall.args[3]->kind, PM_DX_LIST);
    assert_int_equal(pm_drill_expr_int(e->syscall.args[3], &v), 0);
    assert_int_equal(v, 65536);

    e = &s->events[5];
    assert_string_equal(e->syscall.errno_name, "EINPROGRESS");
    assert_string_equal(e->syscall.note, "Operation now in progress");
    assert_int_equal(e->syscall.result->num, -1);

    e = &s->events[6];
    assert_int_equal(e->kind, PM_DRILL_EV_PACKET);
    assert_int_equal(e->packet.dir, '>');
    assert_int_equal(e->packet.proto, PM_IPPROTO_TCP);
    const pm_tcp_repr *t = &e->packet.pkt.tcp;
    assert_int_equal(t->flags, PM_TH_SYN);
    assert_int_equal(t->window, 65535);
    assert_int_equal(t->opts.order_len, 5);
    assert_int_equal(t->opts.order[0], PM_TCPOPT_MSS);
    assert_int_equal(t->opts.order[1], PM_TCPOPT_NOP);
    assert_int_equal(t->opts.order[4], PM_TCPOPT_TS);
    assert_int_equal(t->opts.mss, 1440);
    assert_int_equal(t->opts.wscale, 6);
    assert_int_equal(t->opts.ts_val, 100);
    assert_true(pm_tcp_has(&t->opts, PM_TCPOPT_SACK_PERM));
    assert_int_equal(e->packet.pkt.ip.version, 6);
    /* Outbound: from the local address to the remote one. */
    char ip[PM_IP_STRLEN];
    assert_string_equal(pm_ip_format(&e->packet.pkt.ip.src, ip), "fd3d:fa7b:d17d::1");

    e = &s->events[7];
    assert_int_equal(e->time.usecs, 100000);
    assert_int_equal(e->packet.pkt.tcp.flags, PM_TH_SYN | PM_TH_ACK);
    assert_int_equal(e->packet.pkt.tcp.ack, 1);
    assert_int_equal(e->packet.pkt.tcp.opts.order_len, 4);
    assert_int_equal(e->packet.pkt.tcp.opts.order[3], PM_TCPOPT_EOL);

    e = &s->events[10];
    assert_int_equal(e->packet.pkt.tcp.seq, 1);
    assert_int_equal(e->packet.pkt.tcp.payload_len, 1000);
    assert_true(e->packet.ignore & PM_DRILL_IGN_WIN);
    assert_false(e->packet.ignore & PM_DRILL_IGN_OPTIONS);

    char buf[256];
    pm_drill_packet_format(&s->events[7].packet, buf, sizeof buf);
    assert_string_equal(buf, "S. 0:0(0) ack 1 win 32767 <mss 1440,sackOK,eol,eol>");
    pm_drill_packet_format(&s->events[10].packet, buf, sizeof buf);
    assert_string_equal(buf, "F. 1:1001(1000) ack 1");
    pm_drill_script_free(s);
}

static void test_times(void **state)
{
    (void)state;
    pm_drill_script *s = parse_ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                                  "1.5 > S 0:0(0) <...>\n"
                                  "* > . 1:1(0) ack 1\n"
                                  "0.1~0.2 > . 1:1(0) ack 1\n"
                                  "0.1...0.2 > . 1:1(0) ack 1\n"
                                  "+0.1~+0.3 > . 1:1(0) ack 1\n"
                                  "+0.1...+0.3 > . 1:1(0) ack 1\n"
                                  "0.5...0.7 accept(3, ..., ...) = 4\n"
                                  "+0 ...2 read(4, ..., 10) = 10\n"
                                  "+0 uid 1000\n"
                                  "+0 %{ assert tcpi_state == TCPI_SYN_RECEIVED }%\n");
    assert_int_equal(s->n_events, 11);
    assert_int_equal(s->events[0].time.kind, PM_DRILL_TIME_ABSOLUTE);
    assert_int_equal(s->events[1].time.usecs, 1500000);
    assert_true(s->events[1].packet.ignore & PM_DRILL_IGN_OPTIONS);
    assert_int_equal(s->events[2].time.kind, PM_DRILL_TIME_ANY);
    for (int i = 3; i <= 4; i++) {
        assert_int_equal(s->events[i].time.kind, PM_DRILL_TIME_ABS_RANGE);
        assert_int_equal(s->events[i].time.usecs, 100000);
        assert_int_equal(s->events[i].time.usecs_end, 200000);
    }
    for (int i = 5; i <= 6; i++) {
        assert_int_equal(s->events[i].time.kind, PM_DRILL_TIME_REL_RANGE);
        assert_int_equal(s->events[i].time.usecs_end, 300000);
    }
    /* "START...END name(...)": a blocking call, not a range. */
    assert_int_equal(s->events[7].kind, PM_DRILL_EV_SYSCALL);
    assert_int_equal(s->events[7].time.kind, PM_DRILL_TIME_ABSOLUTE);
    assert_int_equal(s->events[7].time.usecs, 500000);
    assert_int_equal(s->events[7].syscall.end_usecs, 700000);
    assert_int_equal(s->events[8].syscall.end_usecs, 2000000);
    assert_int_equal(s->events[9].kind, PM_DRILL_EV_UID);
    assert_int_equal(s->events[9].uid, 1000);
    assert_int_equal(s->events[10].kind, PM_DRILL_EV_CODE);
    assert_string_equal(s->events[10].text, "assert tcpi_state == TCPI_SYN_RECEIVED");
    pm_drill_cmd cmd;
    char why[128];
    assert_int_equal(pm_drill_code_parse(s->events[10].text, &cmd, why, sizeof why), 0);
    assert_int_equal(cmd.kind, PM_DRILL_CMD_STATE);
    assert_int_equal(cmd.state, PM_DRILL_ST_SYN_RCVD);
    pm_drill_script_free(s);
}

static void test_udp_icmp_seq_wildcard(void **state)
{
    (void)state;
    pm_drill_script *s =
        parse_ok("0 < udp (100)\n"
                 "+0 > udp 1000>2000 (0)\n"
                 "+0 > icmp unreachable port_unreachable [udp (100)]\n"
                 "+0 < icmp unreachable frag_needed mtu 1300 [1:1461(1460)]\n"
                 "+0 > S. ...(0) ack 65538 win 65535 <mss 1460,sackOK,eol,eol>\n"
                 "+0 > [ect0, ttl 64] . 1:1(0) ack 1\n"
                 "+0 < (tos 0x10) P. 1:11(10) ack 1 win 100 <nop,nop,sack 5:6 7:8>\n"
                 "+0 > 40000>8080 R 0:0(0)\n");
    const pm_drill_event *e = s->events;
    assert_int_equal(e[0].packet.proto, PM_IPPROTO_UDP);
    assert_int_equal(e[0].packet.pkt.udp.payload_len, 100);
    assert_int_equal(e[1].packet.pkt.udp.sport, 1000);
    assert_false(e[1].packet.ignore & PM_DRILL_IGN_PORTS);
    assert_int_equal(e[2].packet.proto, PM_IPPROTO_ICMP);
    assert_int_equal(e[2].packet.pkt.icmp.type, 3);
    assert_int_equal(e[2].packet.pkt.icmp.code, 3);
    assert_int_equal(e[2].packet.icmp_inner_proto, PM_IPPROTO_UDP);
    assert_int_equal(e[3].packet.pkt.icmp.code, 4);
    assert_int_equal(e[3].packet.icmp_mtu, 1300);
    assert_int_equal(e[3].packet.icmp_inner_seq, 1);
    assert_int_equal(e[3].packet.icmp_inner_len, 1460);
    assert_true(e[4].packet.ignore & PM_DRILL_IGN_SEQ);
    assert_int_equal(e[4].packet.pkt.tcp.ack, 65538);
    assert_int_equal(e[5].packet.ecn, 2);
    assert_false(e[5].packet.ignore & PM_DRILL_IGN_TTL);
    assert_int_equal(e[5].packet.pkt.ip.ttl, 64);
    assert_true(e[6].packet.tos_given);
    assert_int_equal(e[6].packet.pkt.ip.tos, 0x10);
    assert_int_equal(e[6].packet.pkt.tcp.opts.sack_count, 2);
    assert_int_equal(e[6].packet.pkt.tcp.opts.sack[1].right, 8);
    assert_int_equal(e[7].packet.pkt.tcp.sport, 40000);
    char buf[200];
    pm_drill_packet_format(&e[4].packet, buf, sizeof buf);
    assert_string_equal(buf, "S. ...(0) ack 65538 win 65535 <mss 1460,sackOK,eol,eol>");
    pm_drill_packet_format(&e[2].packet, buf, sizeof buf);
    assert_string_equal(buf, "icmp unreachable port_unreachable [udp (100)]");
    pm_drill_script_free(s);
}

static void test_ifdef(void **state)
{
    (void)state;
    const char *text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                       "#ifdef STANDARD\n"
                       "+0 close(3) = 0\n"
                       "#else\n"
                       "+0 close(3) = -1 EBADF (Bad file descriptor)\n"
                       "+0 close(3) = -1 EBADF (Bad file descriptor)\n"
                       "#endif\n"
                       "#ifndef STANDARD\n"
                       "#ifdef FreeBSD\n"
                       "+0 < garbage that would not parse\n"
                       "#endif\n"
                       "#endif\n"
                       "+0 listen(3, 1) = 0\n";
    char err[256];
    pm_drill_script *s = parse_d(text, "STANDARD", err, sizeof err);
    assert_non_null(s);
    assert_int_equal(s->n_events, 3);
    assert_null(s->events[1].syscall.errno_name);
    assert_int_equal(s->events[1].line, 3);
    assert_int_equal(s->events[2].line, 13); /* line numbers survive */
    pm_drill_script_free(s);
    s = parse_d(text, "STANDARD=1", err, sizeof err); /* NAME=VALUE defines NAME */
    assert_non_null(s);
    assert_int_equal(s->n_events, 3);
    pm_drill_script_free(s);
    s = parse_d(text, "OTHER", err, sizeof err);
    assert_non_null(s);
    assert_int_equal(s->n_events, 4);
    assert_string_equal(s->events[1].syscall.errno_name, "EBADF");
    pm_drill_script_free(s);
    assert_null(parse_d(text, "FreeBSD", err, sizeof err));
    assert_int_equal(atoi(err), 10);
    parse_err("#ifdef X\n0 close(3) = 0\n", 1, "without #endif");
    parse_err("0 close(3) = 0\n#endif\n", 2, "#endif without");
    parse_err("#ifdef A\n#else\n#else\n#endif\n", 3, "#else without");
    parse_err("#include <x>\n", 1, "unknown directive");
}

static void test_sockaddr(void **state)
{
    (void)state;
    pm_drill_script *s = parse_ok(
        "0 bind(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"192.0.2.1\")}, "
        "16) = 0\n"
        "+0 connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
        "inet_pton(AF_INET6, \"2001:db8::5\", &sin6_addr), sin6_scope_id=0}, 28) = -1 "
        "EADDRNOTAVAIL (Cannot assign requested address)\n"
        "+0 bind(5, {sa_family=AF_INET6, sin6_port=htons(0), sin6_addr=inet6_addr(\"::\")}, 28) "
        "= 0\n"
        "+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n"
        "+0 poll([{fd=3, events=POLLIN, revents=POLLOUT}], 1, 0) = 1\n"
        "+0 write(3, \"ab\" \"cd\"..., 4) = 4\n"
        "+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0}, 0) = 100\n");
    const pm_drill_expr *a = s->events[0].syscall.args[1];
    assert_int_equal(a->kind, PM_DX_SOCKADDR);
    assert_int_equal(a->sa.family, PM_AF_INET);
    assert_int_equal(a->sa.port, 80);
    assert_int_equal(pm_ip_v4(&a->sa.ip), 0xc0000201u);
    a = s->events[1].syscall.args[1];
    assert_int_equal(a->kind, PM_DX_SOCKADDR);
    assert_int_equal(a->sa.family, PM_AF_INET6);
    assert_int_equal(a->sa.port, 443);
    char ip[PM_IP_STRLEN];
    assert_string_equal(pm_ip_format(&a->sa.ip, ip), "2001:db8::5");
    assert_true(pm_ip_is_any(&s->events[2].syscall.args[1]->sa.ip));
    const pm_drill_expr *lg = s->events[3].syscall.args[3];
    assert_int_equal(lg->kind, PM_DX_STRUCT);
    assert_int_equal(lg->n_items, 2);
    assert_string_equal(lg->items[0]->str, "=");
    const pm_drill_expr *pl = s->events[4].syscall.args[0];
    assert_int_equal(pl->kind, PM_DX_LIST);
    assert_int_equal(pl->items[0]->kind, PM_DX_STRUCT);
    const pm_drill_expr *msg = s->events[6].syscall.args[1];
    assert_int_equal(msg->kind, PM_DX_STRUCT);
    assert_int_equal(msg->n_items, 3);
    assert_int_equal(msg->items[0]->kind, PM_DX_BINARY);
    assert_int_equal(msg->items[0]->items[0]->kind, PM_DX_CALL);
    const pm_drill_expr *str = s->events[5].syscall.args[1];
    assert_string_equal(str->str, "abcd");
    assert_true(str->str_ellipsis);
    char buf[200];
    pm_drill_expr_format(s->events[0].syscall.args[1], buf, sizeof buf);
    assert_string_equal(
        buf, "{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"192.0.2.1\")}");
    pm_drill_script_free(s);
    parse_err("0 bind(3, {sa_family=AF_UNIX, sin_port=htons(1)}, 2) = 0\n", 1, "AF_INET");
    parse_err("0 bind(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"::1\")}, 16) "
              "= 0\n",
              1, "inet_addr");
    parse_err("0 bind(3, {sa_family=AF_INET, sin_port=htons(70000), sin_addr=inet_addr(\"1.2.3.4\")"
              "}, 16) = 0\n",
              1, "htons");
}

static void test_errors(void **state)
{
    (void)state;
    parse_err("0 socket(..., SOCK_STREAM) = 3\n+0 > S 0:0(0) <mss 1460,bogus>\n", 2, "TCP option");
    parse_err("0 > S 0:10(0)\n", 1, "inconsistent");
    parse_err("\n\n0 < S 0:0(0) <...>\n", 3, "outbound");
    parse_err("0 < S ...(0)\n", 1, "outbound");
    parse_err("* < S 0:0(0)\n", 1, "star");
    parse_err("0.1~0.2 close(3) = 0\n", 1, "range");
    parse_err("0.2~0.1 > S 0:0(0)\n", 1, "backwards");
    parse_err("0 close(3 = 0\n", 1, "expected ')'");
    parse_err("0 close(3) = -1 ENOTANERRNO\n", 1, "unknown errno");
    parse_err("0 > S 0:0(0) win 65536\n", 1, "window");
    parse_err("0 > Z 0:0(0)\n", 1, "bad TCP flag");
    parse_err("0 > S 0:0(0)\n--late_option=1\n", 2, "before the first event");
    parse_err("--ip_version=ipv5\n0 close(3) = 0\n", 1, "ip_version");
    parse_err("0 close(3) = 0\n/* never\nclosed\n", 2, "unterminated /*");
    parse_err("0 `unterminated\n", 1, "unterminated");
    parse_err("0 close(3) = 99999999999999999999\n", 1, "out of range");
    parse_err("0 > S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>\n", 1, "SACK");
    parse_err("0 frobnicate\n", 1, "expected");
    parse_err("/* a\n comment */ 0 close(3) = 0\n+0 > S 0:0(0) ack\n", 3, "ack");
    parse_err("0 close(3) = 0\n`mid` \n+0 close(4) = 0\n", 2, "needs a time");
    /* Deep nesting is refused, not a stack overflow. */
    char deep[400];
    strcpy(deep, "0 f(");
    for (int i = 0; i < 100; i++) strcat(deep, "[");
    strcat(deep, "\n");
    parse_err(deep, 1, "nested too deeply");
}

static void test_commands(void **state)
{
    (void)state;
    pm_drill_cmd c;
    char why[200];
    assert_int_equal(
        pm_drill_command_parse("sysctl -w net.inet.tcp.insecure_rst=1", &c, why, sizeof why), 0);
    assert_int_equal(c.kind, PM_DRILL_CMD_KNOB);
    assert_string_equal(c.knob, "insecure_rst");
    assert_int_equal(c.value, 1);
    assert_int_equal(
        pm_drill_command_parse("sysctl -q net.ipv4.tcp_tw_reuse=2", &c, why, sizeof why), 0);
    assert_string_equal(c.knob, "tw_reuse");
    assert_int_equal(c.value, 2);
    assert_int_equal(
        pm_drill_command_parse("sysctl -w net.ipv4.ip_local_port_range=\"40000 40010\"", &c, why,
                               sizeof why),
        0);
    assert_int_equal(c.n_values, 2);
    assert_int_equal(c.value2, 40010);
    assert_int_equal(
        pm_drill_command_parse("sockstat -6 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 0", &c, why,
                               sizeof why),
        0);
    assert_int_equal(c.kind, PM_DRILL_CMD_COUNT);
    assert_int_equal(c.family, 6);
    assert_int_equal(c.proto, PM_IPPROTO_TCP);
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.state, PM_DRILL_ST_SYN_RCVD);
    assert_int_equal(c.expect, 0);
    assert_int_equal(pm_drill_command_parse(
                         "sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1", &c,
                         why, sizeof why),
                     0);
    assert_int_equal(c.state, PM_DRILL_ST_TIME_WAIT);
    assert_int_equal(c.expect, 1);
    assert_int_equal(
        pm_drill_command_parse("ss -tan state TIME-WAIT|wc -l|grep 3", &c, why, sizeof why), 0);
    assert_int_equal(c.state, PM_DRILL_ST_TIME_WAIT);
    assert_int_equal(c.expect, 3);
    assert_int_equal(pm_drill_command_parse("tcpdrop -s TIME_WAIT", &c, why, sizeof why), 0);
    assert_int_equal(c.kind, PM_DRILL_CMD_DROP);
    assert_int_equal(c.state, PM_DRILL_ST_TIME_WAIT);
    /* Outside the layer: unsupported, never silently accepted. */
    assert_int_equal(pm_drill_command_parse("rm -rf /", &c, why, sizeof why), -ENOTSUP);
    assert_int_equal(pm_drill_command_parse("sysctl -w net.ipv4.tcp_congestion_control=bbr", &c,
                                            why, sizeof why),
                     -ENOTSUP);
    assert_int_equal(pm_drill_command_parse("sysctl net.ipv4.tcp_tw_reuse", &c, why, sizeof why),
                     -ENOTSUP);
    assert_int_equal(pm_drill_command_parse("sockstat -4 | grep -c TIME_WAIT", &c, why, sizeof why),
                     -ENOTSUP);
    assert_int_equal(pm_drill_command_parse("", &c, why, sizeof why), -ENOTSUP);
    assert_int_equal(pm_drill_command_parse("a | | b", &c, why, sizeof why), -ENOTSUP);
    assert_int_equal(pm_drill_code_parse("print(1)", &c, why, sizeof why), -ENOTSUP);
    assert_int_equal(pm_drill_state_parse("SYN-RECV"), PM_DRILL_ST_SYN_RCVD);
    assert_int_equal(pm_drill_state_parse("TCP_FIN_WAIT2"), PM_DRILL_ST_FIN_WAIT_2);
    assert_int_equal(pm_drill_state_parse("NOPE"), -1);
}

/* Nothing crashes: random bytes and truncations of a valid script. */
static void test_garbage(void **state)
{
    (void)state;
    const char *good = "--ip_version=ipv4\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                       "+0 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>\n"
                       "+.1 < S. 0:0(0) ack 1 win 5840 <mss 1460>\n#ifdef X\n#endif\n"
                       "+0 bind(3, {sa_family=AF_INET, sin_port=htons(1), "
                       "sin_addr=inet_addr(\"1.2.3.4\")}, 16) = 0\n";
    size_t n = strlen(good);
    for (size_t cut = 0; cut <= n; cut++) {
        pm_drill_script *s = NULL;
        char err[128];
        (void)pm_drill_parse(good, cut, "g", NULL, &s, err, sizeof err);
        pm_drill_script_free(s);
    }
    uint32_t x = 12345;
    char buf[300];
    static const char alphabet[] = "0123456789+.:<>()[]{},=|*~`\"%SFRP.ackwinmssnop#ifdef\n -/";
    for (int round = 0; round < 3000; round++) {
        size_t len = 1 + (x % (sizeof buf - 1));
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (round & 1) ? (char)(x >> 16) : alphabet[(x >> 16) % (sizeof alphabet - 1)];
        }
        pm_drill_script *s = NULL;
        char err[128];
        (void)pm_drill_parse(buf, len, "r", NULL, &s, err, sizeof err);
        pm_drill_script_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_shape),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_udp_icmp_seq_wildcard),
        cmocka_unit_test(test_ifdef),
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
