/* The drill interpreter against a mock target: a tiny scripted TCP peer
 * (passive and active open, SYN-ACK retransmission, FIN) that behaves as a
 * stack would, so that scripts pass; and deliberate mismatches that prove
 * the field-by-field diff, the timing tolerance, errno checks, timeouts and
 * the skip rules catch what they must. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "portmux/drill.h"

enum { CLOSED, LISTEN, SYN_RCVD, ESTAB, SYN_SENT, FIN_WAIT_1 };

typedef struct mock {
    uint64_t now;
    int state;
    pm_ip lip, rip;
    uint16_t lport, rport;
    uint32_t iss, snd_nxt, rcv_nxt;
    uint64_t rexmit_at;
    int accepted;
    uint8_t out[8][128];
    size_t outlen[8];
    size_t n_out;
    uint32_t ts_recent;
    uint32_t last_ecr; /* the TS ecr of the last segment received */
    uint32_t last_ack; /* the ack of the last segment received */
    int resets;
    bool fin_rcvd;
    char knob[32];
    int64_t knob_value;
    int uid;
    pm_drill_config cfg;
} mock;

static uint32_t mock_ts(const mock *m)
{
    return 7000 + (uint32_t)(m->now / 1000);
}

static void send_seg(mock *m, uint16_t flags, uint32_t seq, uint32_t ack, bool syn_opts)
{
    if (m->n_out == 8) return;
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip.version = m->cfg.ip_version == 6 ? 6 : 4;
    p.ip.proto = PM_IPPROTO_TCP;
    p.ip.ttl = 64;
    p.ip.src = m->lip;
    p.ip.dst = m->rip;
    p.tcp.sport = m->lport;
    p.tcp.dport = m->rport;
    p.tcp.seq = seq;
    p.tcp.ack = ack;
    p.tcp.flags = flags;
    p.tcp.window = 65535;
    if (syn_opts) {
        /* Linux's SYN layout: mss, sackOK, TS, nop, wscale */
        static const uint8_t order[] = {PM_TCPOPT_MSS, PM_TCPOPT_SACK_PERM, PM_TCPOPT_TS,
                                        PM_TCPOPT_NOP, PM_TCPOPT_WSCALE};
        memcpy(p.tcp.opts.order, order, sizeof order);
        p.tcp.opts.order_len = sizeof order;
        p.tcp.opts.present = (1u << PM_TCPOPT_MSS) | (1u << PM_TCPOPT_SACK_PERM) |
                             (1u << PM_TCPOPT_TS) | (1u << PM_TCPOPT_NOP) |
                             (1u << PM_TCPOPT_WSCALE);
        p.tcp.opts.mss = 1460;
        p.tcp.opts.wscale = 7;
        p.tcp.opts.ts_val = mock_ts(m);
        p.tcp.opts.ts_ecr = m->ts_recent;
    }
    int n = pm_packet_emit(&p, m->out[m->n_out], sizeof m->out[0]);
    assert_true(n > 0);
    m->outlen[m->n_out++] = (size_t)n;
}

static int mock_reset(void *ctx, const pm_drill_config *cfg)
{
    mock *m = ctx;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->lip = cfg->local_ip;
    m->rip = cfg->remote_ip;
    m->rexmit_at = UINT64_MAX;
    m->uid = -1;
    return 0;
}

static int64_t mock_syscall(void *ctx, pm_drill_call *c, uint64_t now)
{
    mock *m = ctx;
    m->now = now;
    const char *n = c->name;
    if (!strcmp(n, "socket")) return 10; /* the script calls it 3: fds are mapped */
    if (!strcmp(n, "bind")) {
        assert_true(c->arg_is_sa[1]);
        assert_int_equal(c->arg_int[0], 10);
        m->lport = c->arg_sa[1].port;
        return 0;
    }
    if (!strcmp(n, "listen")) {
        m->state = LISTEN;
        return 0;
    }
    if (!strcmp(n, "accept")) {
        if (m->state != ESTAB || m->accepted) return -EAGAIN;
        m->accepted = 1;
        return 11;
    }
    if (!strcmp(n, "connect")) {
        m->rport = c->arg_sa[1].port;
        m->rip = c->arg_sa[1].ip;
        m->lport = 40000;
        m->iss = 5000;
        m->state = SYN_SENT;
        send_seg(m, PM_TH_SYN, m->iss, 0, true);
        return -EINPROGRESS;
    }
    if (!strcmp(n, "getsockopt")) {
        c->out_is_int[3] = true;
        c->out_int[3] = 65536;
        return 0;
    }
    if (!strcmp(n, "read")) {
        if (m->fin_rcvd) return 0;
        return m->state == ESTAB ? PM_DRILL_BLOCKED : -ENOTCONN;
    }
    if (!strcmp(n, "close")) {
        if (c->arg_int[0] == 11 && m->state == ESTAB) {
            send_seg(m, PM_TH_FIN | PM_TH_ACK, m->snd_nxt, m->rcv_nxt, false);
            m->snd_nxt++;
            m->state = FIN_WAIT_1;
        } else if (c->arg_int[0] != 10 && c->arg_int[0] != 11) {
            return -EBADF;
        }
        return 0;
    }
    return -ENOSYS;
}

static int mock_inject(void *ctx, const uint8_t *b, size_t len, uint64_t now)
{
    mock *m = ctx;
    m->now = now;
    pm_packet p;
    assert_int_equal(pm_packet_parse(b, len, &p, NULL), 0);
    if (p.ip.proto != PM_IPPROTO_TCP) return 0;
    const pm_tcp_repr *t = &p.tcp;
    m->last_ack = t->ack;
    if (pm_tcp_has(&t->opts, PM_TCPOPT_TS)) {
        m->last_ecr = t->opts.ts_ecr;
        m->ts_recent = t->opts.ts_val;
    }
    if (t->flags & PM_TH_RST) {
        m->resets++;
        return 0;
    }
    if (m->state == LISTEN && t->flags == PM_TH_SYN) {
        m->rport = t->sport;
        m->rcv_nxt = t->seq + 1;
        m->iss = 1000000;
        m->snd_nxt = m->iss + 1;
        m->state = SYN_RCVD;
        send_seg(m, PM_TH_SYN | PM_TH_ACK, m->iss, m->rcv_nxt, true);
        m->rexmit_at = now + 1000000;
    } else if (m->state == SYN_RCVD && (t->flags & PM_TH_ACK) && t->ack == m->iss + 1) {
        m->state = ESTAB;
        m->rexmit_at = UINT64_MAX;
    } else if (m->state == SYN_SENT && (t->flags & PM_TH_SYN) && (t->flags & PM_TH_ACK)) {
        if (t->ack != m->iss + 1) {
            send_seg(m, PM_TH_RST, t->ack, 0, false);
            return 0;
        }
        m->rcv_nxt = t->seq + 1;
        m->snd_nxt = m->iss + 1;
        m->state = ESTAB;
        send_seg(m, PM_TH_ACK, m->snd_nxt, m->rcv_nxt, false);
    } else if ((t->flags & PM_TH_FIN) && m->state >= ESTAB) {
        m->fin_rcvd = true;
        m->rcv_nxt = t->seq + (uint32_t)t->payload_len + 1;
        send_seg(m, PM_TH_ACK, m->snd_nxt, m->rcv_nxt, false);
    }
    return 0;
}

static int mock_output(void *ctx, uint8_t *buf, size_t cap, uint64_t now)
{
    mock *m = ctx;
    m->now = now;
    if (!m->n_out) return 0;
    size_t n = m->outlen[0];
    assert_true(n <= cap);
    memcpy(buf, m->out[0], n);
    memmove(m->out, m->out + 1, sizeof m->out[0] * (m->n_out - 1));
    memmove(m->outlen, m->outlen + 1, sizeof m->outlen[0] * (m->n_out - 1));
    m->n_out--;
    return (int)n;
}

static uint64_t mock_deadline(void *ctx)
{
    return ((mock *)ctx)->rexmit_at;
}

static void mock_advance(void *ctx, uint64_t now)
{
    mock *m = ctx;
    m->now = now;
    if (now >= m->rexmit_at && m->state == SYN_RCVD) {
        send_seg(m, PM_TH_SYN | PM_TH_ACK, m->iss, m->rcv_nxt, true);
        m->rexmit_at = now + 2000000; /* RFC 6298 5.5: back off */
    }
}

static int mock_command(void *ctx, pm_drill_cmd *c, uint64_t now)
{
    mock *m = ctx;
    (void)now;
    switch (c->kind) {
    case PM_DRILL_CMD_KNOB:
        if (!strcmp(c->knob, "blackhole")) return -ENOTSUP;
        snprintf(m->knob, sizeof m->knob, "%s", c->knob);
        m->knob_value = c->value;
        return 0;
    case PM_DRILL_CMD_COUNT:
        c->answer = (c->state == PM_DRILL_ST_ESTABLISHED && m->state == ESTAB) ||
                    (c->state == PM_DRILL_ST_LISTEN && m->state == LISTEN);
        return 0;
    case PM_DRILL_CMD_STATE:
        c->answer = m->state == SYN_RCVD ? PM_DRILL_ST_SYN_RCVD
                    : m->state == ESTAB  ? PM_DRILL_ST_ESTABLISHED
                                         : PM_DRILL_ST_CLOSED;
        return 0;
    case PM_DRILL_CMD_UID: m->uid = (int)c->uid; return 0;
    default: return -ENOTSUP;
    }
}

static mock M;
static const pm_drill_target target = {&M,          mock_reset,    mock_syscall, mock_inject,
                                       mock_output, mock_deadline, mock_advance, mock_command};

static pm_drill_result R;

static int run_text(const char *text)
{
    pm_drill_script *s = NULL;
    char err[256];
    if (pm_drill_parse(text, strlen(text), "mock.pkt", NULL, &s, err, sizeof err))
        fail_msg("parse error: %s", err);
    int rc = pm_drill_run(s, &target, NULL, NULL, &R);
    pm_drill_script_free(s);
    return rc;
}

#define PASSIVE_OPEN                                                                               \
    "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"                                                \
    "+0 bind(3, ..., ...) = 0\n"                                                                   \
    "+0 listen(3, 1) = 0\n"                                                                        \
    "+0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 500 ecr 0,nop,wscale 7>\n"                    \
    "+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 500,nop,wscale 7>\n"

static void test_passive_open_passes(void **state)
{
    (void)state;
    int rc = run_text("--tolerance_usecs=10000\n" PASSIVE_OPEN
                      "+0 %{ assert tcpi_state == TCPI_SYN_RECEIVED }%\n"
                      "+.1 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 600 ecr 100>\n"
                      "+0 accept(3, ..., ...) = 4\n"
                      "+0 getsockopt(4, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0\n"
                      "+0 `sysctl -w net.ipv4.tcp_tw_reuse=1`\n"
                      "+0 `ss -tan | grep -c ESTAB | grep 1`\n"
                      "+0 uid 1000\n"
                      "+0 close(4) = 0\n"
                      "+0 > F. 1:1(0) ack 1 <...>\n"
                      "+.2 < F. 1:1(0) ack 2 win 257\n"
                      "+0 > . 2:2(0) ack 2\n");
    if (rc) fail_msg("line %d: %s\n  %s\n  %s", R.line, R.msg, R.expected, R.actual);
    assert_int_equal(R.verdict, PM_DRILL_PASS);
    /* Script ack 1 reached the target as the live ISS + 1; script ecr 100
     * as the live TS val it stood for. */
    assert_int_equal(M.last_ack, 1000002);
    assert_string_equal(M.knob, "tw_reuse");
    assert_int_equal(M.knob_value, 1);
    assert_int_equal(M.uid, 1000);
    /* Virtual time: 0.3 s of script in no wall time at all. */
    assert_int_equal(R.end_usecs, 300000);
}

static void test_ts_ecr_mapped(void **state)
{
    (void)state;
    assert_int_equal(run_text(PASSIVE_OPEN "+.5 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 600 ecr "
                                           "100>\n"),
                     0);
    /* The live TS val was the mock's clock in ms (7000 + 1000 at the
     * target's time 1 s = script time 0); the script's 100 stood for it. */
    assert_int_equal(M.last_ecr, 8000);
    /* An ecr never sent and no baseline: packetdrill's error. */
    assert_int_equal(run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                              "+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
                              "+0 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 600 ecr 99>\n"),
                     1);
    assert_non_null(strstr(R.msg, "TS ecr"));
}

static void test_active_open_learns_isn(void **state)
{
    (void)state;
    int rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                      "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n"
                      "+0 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>\n"
                      "+.05 < S. 0:0(0) ack 1 win 5840 <mss 1400>\n"
                      "+0 > . 1:1(0) ack 1 win 65535\n");
    if (rc) fail_msg("line %d: %s\n  %s\n  %s", R.line, R.msg, R.expected, R.actual);
    /* The SYN's seq 5000 was learned: script ack 1 became 5001. */
    assert_int_equal(M.last_ack, 5001);
    assert_int_equal(M.resets, 0);
    assert_int_equal(M.rport, 8080); /* connect(..., ...) = remote_ip:connect_port */
}

static void test_field_mismatch_reported(void **state)
{
    (void)state;
    int rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                      "+0 bind(3, ..., ...) = 0\n"
                      "+0 listen(3, 1) = 0\n"
                      "+0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 500 ecr 0,nop,wscale 7>\n"
                      "+0 > S. 0:0(0) ack 2 win 65535 <...>\n");
    assert_int_equal(rc, 1);
    assert_int_equal(R.verdict, PM_DRILL_FAIL);
    assert_int_equal(R.line, 5);
    assert_string_equal(R.msg,
                        "live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)");
    assert_string_equal(R.expected, "S. 0:0(0) ack 2 win 65535 <...>");
    assert_string_equal(R.actual, "S. 0:0(0) ack 1 win 65535 <...>");

    /* Window, flags, options: each caught. */
    rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 32792\n"
                  "+0 > S. 0:0(0) ack 1 win 1000 <...>\n");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(R.msg, "tcp_window"));
    rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 32792\n"
                  "+0 > R. 0:0(0) ack 1 win 65535 <...>\n");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(R.msg, "tcp_syn"));
    rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 32792\n"
                  "+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 8>\n");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(R.msg, "wscale"));
    rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 32792\n"
                  "+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 7>\n");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(R.msg, "tcp_data_offset"));
    rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n"
                  "+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 32792\n"
                  "+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 1 ecr 0,wscale 7,nop>\n");
    assert_int_equal(rc, 1);
    assert_string_equal(R.msg, "bad outbound TCP options");
    /* Outbound local seq is relative to the learned ISN. */
    rc = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                  "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n"
                  "+0 > S 0:0(0) <...>\n+0 < S. 0:0(0) ack 1 win 5840\n+0 > . 2:2(0) ack 1\n");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(R.msg, "tcp_seq: expected: 2 (0x2) vs actual: 1 (0x1)"));
}

static void test_timing_and_tolerance(void **state)
{
    (void)state;
    /* The SYN-ACK is retransmitted 1 s later, in virtual time. */
    const char *rexmit = PASSIVE_OPEN "+1 > S. 0:0(0) ack 1 <...>\n+2 > S. 0:0(0) ack 1 <...>\n";
    assert_int_equal(run_text(rexmit), 0);
    assert_int_equal(R.end_usecs, 3000000);
    /* 0.9 s is outside the default 4 ms tolerance ... */
    const char *early = PASSIVE_OPEN "+0.9 > S. 0:0(0) ack 1 <...>\n";
    assert_int_equal(run_text(early), 1);
    assert_non_null(strstr(R.msg, "timing error: expected outbound packet at 0.900000 sec but "
                                  "happened at 1.000000 sec"));
    assert_int_equal(R.line, 6);
    /* ... inside a 0.2 s one, and inside a range. */
    char buf[1024];
    snprintf(buf, sizeof buf, "--tolerance_usecs=200000\n%s", early);
    assert_int_equal(run_text(buf), 0);
    assert_int_equal(run_text(PASSIVE_OPEN "+0.5~+1.5 > S. 0:0(0) ack 1 <...>\n"), 0);
    assert_int_equal(run_text(PASSIVE_OPEN "* > S. 0:0(0) ack 1 <...>\n"), 0);
    /* Too late: the deadline passes without the packet. */
    assert_int_equal(run_text(PASSIVE_OPEN "+1.5 > S. 0:0(0) ack 1 <...>\n"), 1);
    assert_non_null(strstr(R.msg, "timing error"));
    /* A packet that never comes. */
    assert_int_equal(run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                              "+0 > S 0:0(0) <...>\n"),
                     1);
    assert_non_null(strstr(R.msg, "timed out"));
}

static void test_syscalls(void **state)
{
    (void)state;
    /* Wrong errno, wrong result, wrong out-value. */
    assert_int_equal(run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                              "+0 connect(3, ..., ...) = 0\n"),
                     1);
    assert_string_equal(R.msg, "connect: expected result 0 but got -1 EINPROGRESS (Operation now "
                               "in progress)");
    assert_int_equal(R.line, 2);
    assert_int_equal(run_text("0 close(9) = -1 EBADF (Bad file descriptor)\n"), 0);
    assert_int_equal(run_text("0 close(9) = -1 ENOTCONN (x)\n"), 1);
    assert_int_equal(run_text("0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65000], [4]) = 0\n"), 1);
    assert_string_equal(R.msg, "getsockopt: argument 4: expected 65000 but got 65536");
    /* A call that blocks needs START...END; with it, it completes when the
     * data (here: the peer's FIN) arrives... or fails when it never does. */
    assert_int_equal(run_text(PASSIVE_OPEN
                              "+0 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 6 ecr 100>\n"
                              "+0 accept(3, ..., ...) = 4\n"
                              "+0 read(4, ..., 10) = 0\n"),
                     1);
    assert_non_null(strstr(R.msg, "blocked"));
    assert_int_equal(run_text(PASSIVE_OPEN
                              "+0 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 6 ecr 100>\n"
                              "+0 accept(3, ..., ...) = 4\n"
                              "+0 ...0.5 read(4, ..., 10) = 0\n"),
                     1);
    assert_non_null(strstr(R.msg, "never returned"));
    /* It returns when the FIN comes, 0.5 s after it started. */
#define BLOCKING(END)                                                                              \
    PASSIVE_OPEN "+0 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 6 ecr 100>\n"                        \
                 "+0 accept(3, ..., ...) = 4\n"                                                    \
                 "+0 ..." END " read(4, ..., 10) = 0\n"                                            \
                 "+.5 < F. 1:1(0) ack 1 win 257\n"                                                 \
                 "+0 > . 1:1(0) ack 2\n"
    int rc = run_text(BLOCKING("0.5"));
    if (rc) fail_msg("line %d: %s", R.line, R.msg);
    assert_int_equal(run_text(BLOCKING("0.3")), 1);
    assert_non_null(strstr(R.msg, "timing error: expected system call return at 0.300000 sec but "
                                  "happened at 0.500000 sec"));
    assert_int_equal(R.line, 8);
}

static void test_commands_and_skips(void **state)
{
    (void)state;
    /* A count that disagrees fails; one that agrees passes. */
    assert_int_equal(
        run_text(PASSIVE_OPEN "+0 `sockstat -4 -P tcp | grep -c ESTABLISHED | grep 1`\n"), 1);
    assert_non_null(strstr(R.msg, "expected 1 sockets in ESTABLISHED but found 0"));
    assert_int_equal(run_text(PASSIVE_OPEN "+0 %{ assert tcpi_state == TCPI_ESTABLISHED }%\n"), 1);
    assert_non_null(strstr(R.msg, "tcpi_state"));
    /* Unsupported: the layer does not know it, or the target refuses it. */
    assert_int_equal(run_text("0 `echo hello`\n+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"), 2);
    assert_int_equal(R.verdict, PM_DRILL_SKIP);
    assert_int_equal(R.line, 1);
    assert_int_equal(run_text("0 `sysctl -w net.inet.tcp.blackhole=1`\n"), 2);
    assert_non_null(strstr(R.msg, "target does not support"));
    /* A skip is never a pass, even when a failure would follow. */
    assert_int_equal(run_text("0 %{ print(1) }%\n+0 close(9) = 0\n"), 2);
    /* No target at all. */
    pm_drill_script *s = NULL;
    char err[64];
    assert_int_equal(pm_drill_parse("0 close(3) = 0\n", 15, "x", NULL, &s, err, sizeof err), 0);
    assert_int_equal(pm_drill_run(s, NULL, NULL, NULL, &R), 2);
    assert_non_null(strstr(R.msg, "no target"));
    pm_drill_script_free(s);
}

static int traced;
static void count_trace(void *arg, char dir, const uint8_t *pkt, size_t len, uint64_t usecs)
{
    (void)arg;
    (void)usecs;
    assert_true(dir == '<' || dir == '>');
    assert_true(len >= 40 && pkt[0] >> 4 == 4);
    traced++;
}

static void test_trace_and_ipv6(void **state)
{
    (void)state;
    pm_drill_script *s = NULL;
    char err[128];
    const char *t = PASSIVE_OPEN;
    assert_int_equal(pm_drill_parse(t, strlen(t), "x", NULL, &s, err, sizeof err), 0);
    traced = 0;
    assert_int_equal(pm_drill_run(s, &target, count_trace, NULL, &R), 0);
    assert_int_equal(traced, 2);
    pm_drill_script_free(s);
    assert_int_equal(run_text("--ip_version=ipv6\n" PASSIVE_OPEN), 0);
    char ip[PM_IP_STRLEN];
    assert_string_equal(pm_ip_format(&M.rip, ip), "2001:db8::1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passive_open_passes),
        cmocka_unit_test(test_ts_ecr_mapped),
        cmocka_unit_test(test_active_open_learns_isn),
        cmocka_unit_test(test_field_mismatch_reported),
        cmocka_unit_test(test_timing_and_tolerance),
        cmocka_unit_test(test_syscalls),
        cmocka_unit_test(test_commands_and_skips),
        cmocka_unit_test(test_trace_and_ipv6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
