/* TCB extension records (pm_tcp_ext): the loss-recovery state and the
 * out-of-order islands live in a record from the stack's fixed pool only
 * while used. With a pool of one, two connections that both lose a
 * segment both recover byte-exact, one of them without the record (the
 * fallbacks: NewReno, no probe, an out-of-order segment dropped); every
 * record goes back to the pool, on every path a connection ends by. The
 * peers are hand-made, segment by segment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "portmux/tcp.h"

#define MS    1000ull
#define SEC   1000000ull
#define T0    (1000 * SEC)
#define MSS   1000u
#define ISN   1000u
#define PISN  5000u
#define NSEG  10
#define F_REC (1 << 12) /* F_RECOVERY */

static pm_tcp_stack st;
static pm_tcp_ext pool[1];

typedef struct conn {
    pm_tcp tcb;
    uint8_t ring[2 << 16];
    pm_tuple tup;
    pm_ip_repr pip; /* the peer's segments */
    uint16_t port;
} conn;
static conn C[2];

typedef struct seg {
    pm_ip_repr ip;
    pm_tcp_repr t;
    uint8_t data[2048];
} seg;
static seg outs[64];

static uint8_t pattern[NSEG * MSS];

/* segment i of the data, from 0; the peer's (pseq) or ours (seq) */
static uint32_t seq(int i)
{
    return ISN + 1 + (uint32_t)i * MSS;
}
static uint32_t pseq(int i)
{
    return PISN + 1 + (uint32_t)i * MSS;
}

static int setup_n(uint32_t n)
{
    pm_tcp_stack_init(&st, NULL, 11);
    pm_tcp_stack_set_ext(&st, pool, n);
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (uint8_t)(i * 13 + 5);
    for (int k = 0; k < 2; k++) {
        conn *c = &C[k];
        memset(c, 0, sizeof *c);
        pm_tcp_init(&c->tcb, c->ring, 1 << 16, 1 << 16);
        c->port = (uint16_t)(40000 + k);
        c->tup.laddr = pm_ip4(0x0a000001);
        c->tup.faddr = pm_ip4(0x0a000002);
        c->tup.lport = c->port;
        c->tup.fport = 80;
        c->tup.proto = PM_IPPROTO_TCP;
        c->pip.version = 4;
        c->pip.proto = PM_IPPROTO_TCP;
        c->pip.src = c->tup.faddr;
        c->pip.dst = c->tup.laddr;
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_n(1);
}

static int setup_nopool(void **state)
{
    (void)state;
    return setup_n(0);
}

static int drain(conn *c, uint64_t now)
{
    int n = 0;
    while (n < 64 && pm_tcp_output(&st, &c->tcb, now, &outs[n].ip, &outs[n].t, outs[n].data,
                                   sizeof outs[n].data) > 0)
        n++;
    return n;
}

static pm_tcp_repr peer_seg(conn *c, uint16_t flags, uint32_t s, uint32_t a)
{
    pm_tcp_repr r;
    memset(&r, 0, sizeof r);
    r.sport = 80;
    r.dport = c->port;
    r.seq = s;
    r.ack = a;
    r.flags = flags;
    r.window = 65535;
    return r;
}

/* An ACK from the peer; SACK blocks as our segment index ranges [a, b). */
static unsigned ack(conn *c, uint64_t now, uint32_t a, int nblk, const int blk[][2])
{
    pm_tcp_repr r = peer_seg(c, PM_TH_ACK, PISN + 1, a);
    if (nblk) {
        r.opts.present |= 1u << PM_TCPOPT_SACK;
        r.opts.sack_count = (uint8_t)nblk;
        for (int i = 0; i < nblk; i++) {
            r.opts.sack[i].left = seq(blk[i][0]);
            r.opts.sack[i].right = seq(blk[i][1]);
        }
    }
    return pm_tcp_input(&st, &c->tcb, &c->pip, &r, now);
}

/* The peer's data segment i (pattern bytes). */
static unsigned data(conn *c, uint64_t now, int i)
{
    pm_tcp_repr r = peer_seg(c, PM_TH_ACK | PM_TH_PSH, pseq(i), c->tcb.snd_nxt);
    r.payload = pattern + (size_t)i * MSS;
    r.payload_len = MSS;
    return pm_tcp_input(&st, &c->tcb, &c->pip, &r, now);
}

/* ESTABLISHED with SACK, no timestamps, MSS 1000; RTT 10 ms. */
static void open_conn(conn *c)
{
    assert_int_equal(pm_tcp_connect(&st, &c->tcb, &c->tup, ISN, T0), 0);
    assert_int_equal(drain(c, T0), 1);
    pm_tcp_repr sa = peer_seg(c, PM_TH_SYN | PM_TH_ACK, PISN, ISN + 1);
    sa.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_SACK_PERM;
    sa.opts.mss = MSS;
    assert_true(pm_tcp_input(&st, &c->tcb, &c->pip, &sa, T0 + 10 * MS) & PM_TCP_EV_CONNECTED);
    assert_int_equal(drain(c, T0 + 10 * MS), 1);
    assert_int_equal(c->tcb.mss, MSS);
}

/* The retransmission of our segment i carries its bytes. */
static void check_rxt(const seg *s, int i)
{
    assert_int_equal(s->t.seq, seq(i));
    assert_int_equal(s->t.payload_len, MSS);
    assert_memory_equal(s->data, pattern + (size_t)i * MSS, MSS);
}

/* Both connections send NSEG segments and lose segment 2. The first
 * takes the pool's one record for its probe timer and keeps it through a
 * SACK recovery; the second finds none: no probe (the RTO), and NewReno
 * recovery on three duplicate ACKs. Both resend exactly segment 2; the
 * record is back in the pool once the first is done. */
static void test_sender_pool_of_one(void **state)
{
    (void)state;
    open_conn(&C[0]);
    open_conn(&C[1]);
    uint64_t now = T0 + SEC;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pm_tcp_send(&st, &C[k].tcb, pattern, sizeof pattern, now),
                         (long)sizeof pattern);
        assert_int_equal(drain(&C[k], now), NSEG);
    }
    assert_int_equal(C[0].tcb.timer, PM_TCP_TIMER_TLP);
    assert_non_null(pm_tcp_ext_of(&st, &C[0].tcb));
    assert_int_equal(C[1].tcb.timer, PM_TCP_TIMER_RTX); /* no record: the RTO */
    assert_null(pm_tcp_ext_of(&st, &C[1].tcb));
    assert_int_equal(st.stats.ext_in_use, 1);
    assert_true(st.stats.ext_no_tlp >= 1);
    now += 10 * MS;
    /* Segment 2 lost on both: ACK of 0-1, then SACKs of 3.., 3-4.., 3-5.. */
    int b[3][1][2] = {{{3, 4}}, {{3, 5}}, {{3, 6}}};
    for (int k = 0; k < 2; k++) {
        ack(&C[k], now, seq(2), 0, NULL);
        drain(&C[k], now);
    }
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 2; k++) {
            ack(&C[k], now, seq(2), 1, b[j]);
            if (j < 2) drain(&C[k], now); /* limited transmit: nothing new to send */
        }
    assert_int_equal(st.stats.sack_recoveries, 1);
    assert_int_equal(st.stats.fast_retrans, 2);
    assert_int_equal(st.stats.ext_newreno, 1); /* the second: NewReno */
    assert_true(C[0].tcb.flags & F_REC);
    assert_true(C[1].tcb.flags & F_REC);
    assert_int_equal(C[1].tcb.reno, 1);
    for (int k = 0; k < 2; k++) {
        int n = drain(&C[k], now);
        assert_true(n >= 1);
        check_rxt(&outs[0], 2);
    }
    /* The retransmissions arrive: everything is acknowledged. */
    for (int k = 0; k < 2; k++) {
        ack(&C[k], now + 10 * MS, seq(NSEG), 0, NULL);
        assert_int_equal(C[k].tcb.snd_una, C[k].tcb.snd_max);
        assert_false(C[k].tcb.flags & F_REC);
        assert_int_equal(drain(&C[k], now + 10 * MS), 0);
        assert_null(pm_tcp_ext_of(&st, &C[k].tcb));
    }
    assert_int_equal(st.stats.ext_in_use, 0);
    assert_int_equal(st.stats.rto_fired, 0);
    assert_int_equal(st.stats.retrans_segs, 2);
}

/* Both connections receive segment 0, then 2 (1 lost). The first keeps 2
 * as an island in the record; the second has none: it drops 2 but still
 * sends its duplicate ACK (no SACK block). Segment 1 arrives at both, the
 * peer resends 2 to the second: each reads the 3000 bytes in order. */
static void test_receiver_pool_of_one(void **state)
{
    (void)state;
    open_conn(&C[0]);
    open_conn(&C[1]);
    uint64_t now = T0 + SEC;
    for (int k = 0; k < 2; k++) {
        assert_true(data(&C[k], now, 0) & PM_TCP_EV_READABLE);
        drain(&C[k], now);
        assert_int_equal(data(&C[k], now, 2), 0);
        int n = drain(&C[k], now);
        assert_int_equal(n, 1); /* the duplicate ACK, at once */
        assert_int_equal(outs[0].t.ack, pseq(1));
        if (k == 0) {
            assert_true(pm_tcp_has(&outs[0].t.opts, PM_TCPOPT_SACK));
            assert_int_equal(outs[0].t.opts.sack[0].left, pseq(2));
            assert_int_equal(outs[0].t.opts.sack[0].right, pseq(3));
        } else {
            assert_false(pm_tcp_has(&outs[0].t.opts, PM_TCPOPT_SACK));
        }
    }
    assert_int_equal(st.stats.ooo_queued, 1);
    assert_int_equal(st.stats.ext_ooo_dropped, 1);
    assert_int_equal(st.stats.ooo_dropped, 1);
    assert_int_equal(st.stats.ext_in_use, 1);
    for (int k = 0; k < 2; k++) data(&C[k], now + MS, 1);
    assert_int_equal(pm_tcp_readable(&C[0].tcb), 3 * MSS); /* 1 filled the hole */
    assert_int_equal(pm_tcp_readable(&C[1].tcb), 2 * MSS);
    assert_int_equal(st.stats.ext_in_use, 0); /* the island is in order: record back */
    data(&C[1], now + 2 * MS, 2);             /* the peer's retransmission */
    for (int k = 0; k < 2; k++) {
        uint8_t buf[3 * MSS];
        assert_int_equal(pm_tcp_recv(&st, &C[k].tcb, buf, sizeof buf, now + 3 * MS), 3 * MSS);
        assert_memory_equal(buf, pattern, 3 * MSS);
    }
}

/* A record held (an island waiting) goes back however the connection
 * ends: RST, close with unread data (abort), SO_LINGER {1,0}, the orphan's
 * FIN_WAIT_2 timeout, TIME_WAIT, retransmission timeouts, and
 * pm_tcp_release for a TCB a host frees. */
static void hold_record(conn *c, uint64_t now)
{
    open_conn(c);
    data(c, now, 1); /* an island above a hole */
    drain(c, now);
    assert_non_null(pm_tcp_ext_of(&st, &c->tcb));
    assert_int_equal(st.stats.ext_in_use, 1);
}

static void test_record_back_on_every_end(void **state)
{
    (void)state;
    uint64_t now = T0 + SEC;
    /* a RST at RCV.NXT */
    hold_record(&C[0], now);
    pm_tcp_repr r = peer_seg(&C[0], PM_TH_RST, PISN + 1, 0);
    assert_true(pm_tcp_input(&st, &C[0].tcb, &C[0].pip, &r, now) & PM_TCP_EV_CLOSED);
    assert_int_equal(st.stats.ext_in_use, 0);
    /* close() with unread data: an abort */
    setup_n(1);
    hold_record(&C[0], now);
    data(&C[0], now, 0);
    data(&C[0], now, 3); /* in order 0-1 (unread), an island at 3 */
    assert_int_equal(st.stats.ext_in_use, 1);
    assert_true(pm_tcp_close(&st, &C[0].tcb, false, now) & PM_TCP_EV_CLOSED);
    assert_int_equal(st.stats.ext_in_use, 0);
    /* SO_LINGER {1,0} */
    setup_n(1);
    hold_record(&C[0], now);
    assert_true(pm_tcp_close(&st, &C[0].tcb, true, now) & PM_TCP_EV_CLOSED);
    assert_int_equal(st.stats.ext_in_use, 0);
    /* our FIN, then the peer's FIN with the island still waiting: the
     * data up to the FIN never comes, TIME_WAIT is not reached; the
     * record goes when the FIN_WAIT_2 timer ends it */
    setup_n(1);
    hold_record(&C[0], now);
    pm_tcp_close(&st, &C[0].tcb, false, now);
    drain(&C[0], now);
    assert_int_equal(C[0].tcb.state, PM_TCP_FIN_WAIT_1);
    ack(&C[0], now, C[0].tcb.snd_max, 0, NULL);
    assert_int_equal(C[0].tcb.state, PM_TCP_FIN_WAIT_2);
    assert_int_equal(st.stats.ext_in_use, 1);
    uint64_t d = pm_tcp_next_deadline(&C[0].tcb);
    assert_true(pm_tcp_timer(&st, &C[0].tcb, d) & PM_TCP_EV_CLOSED);
    assert_int_equal(st.stats.ext_in_use, 0);
    /* TIME_WAIT: shutdown(SHUT_WR), the hole filled, the peer's FIN */
    setup_n(1);
    hold_record(&C[0], now);
    pm_tcp_shutdown(&st, &C[0].tcb, PM_SHUT_WR, now);
    drain(&C[0], now);
    ack(&C[0], now, C[0].tcb.snd_max, 0, NULL);
    pm_tcp_repr fin = peer_seg(&C[0], PM_TH_ACK | PM_TH_FIN, pseq(2), C[0].tcb.snd_max);
    pm_tcp_input(&st, &C[0].tcb, &C[0].pip, &fin, now); /* above the hole: not yet */
    assert_int_equal(st.stats.ext_in_use, 1);
    pm_tcp_repr d0 = peer_seg(&C[0], PM_TH_ACK, pseq(0), C[0].tcb.snd_max);
    d0.payload = pattern;
    d0.payload_len = MSS;
    pm_tcp_input(&st, &C[0].tcb, &C[0].pip, &d0, now);
    pm_tcp_input(&st, &C[0].tcb, &C[0].pip, &fin, now);
    assert_int_equal(C[0].tcb.state, PM_TCP_TIME_WAIT);
    assert_int_equal(st.stats.ext_in_use, 0);
    /* a sender's scoreboard through retransmission timeouts to the end */
    setup_n(1);
    open_conn(&C[0]);
    pm_tcp_send(&st, &C[0].tcb, pattern, 3 * MSS, now);
    drain(&C[0], now);
    int b[][2] = {{1, 3}};
    ack(&C[0], now + 10 * MS, seq(0), 1, b);
    assert_int_equal(st.stats.ext_in_use, 1);
    for (int i = 0; i < 40 && C[0].tcb.state != PM_TCP_CLOSED; i++) {
        d = pm_tcp_next_deadline(&C[0].tcb);
        pm_tcp_timer(&st, &C[0].tcb, d);
        drain(&C[0], d);
    }
    assert_int_equal(C[0].tcb.state, PM_TCP_CLOSED);
    assert_int_equal(st.stats.ext_in_use, 0);
    /* a host freeing a live TCB */
    setup_n(1);
    hold_record(&C[0], now);
    pm_tcp_release(&st, &C[0].tcb);
    assert_int_equal(st.stats.ext_in_use, 0);
    assert_null(pm_tcp_ext_of(&st, &C[0].tcb));
    pm_tcp_release(&st, &C[0].tcb); /* twice: harmless */
    assert_int_equal(st.stats.ext_in_use, 0);
    hold_record(&C[1], now); /* the record serves again */
}

/* No pool at all: a SACK connection recovers as NewReno and reads its
 * data in order after a resend; nothing is held. */
static void test_no_pool(void **state)
{
    (void)state;
    open_conn(&C[0]);
    uint64_t now = T0 + SEC;
    pm_tcp_send(&st, &C[0].tcb, pattern, sizeof pattern, now);
    assert_int_equal(drain(&C[0], now), NSEG);
    assert_int_equal(C[0].tcb.timer, PM_TCP_TIMER_RTX);
    now += 10 * MS;
    ack(&C[0], now, seq(2), 0, NULL);
    int b[3][1][2] = {{{3, 4}}, {{3, 5}}, {{3, 6}}};
    for (int j = 0; j < 3; j++) ack(&C[0], now, seq(2), 1, b[j]);
    assert_int_equal(st.stats.ext_newreno, 1);
    assert_true(drain(&C[0], now) >= 1);
    check_rxt(&outs[0], 2);
    ack(&C[0], now + 10 * MS, seq(NSEG), 0, NULL);
    assert_int_equal(C[0].tcb.snd_una, C[0].tcb.snd_max);
    assert_int_equal(st.stats.sack_recoveries, 0);
    assert_int_equal(st.stats.ext_in_use, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_sender_pool_of_one, setup),
        cmocka_unit_test_setup(test_receiver_pool_of_one, setup),
        cmocka_unit_test_setup(test_record_back_on_every_end, setup),
        cmocka_unit_test_setup(test_no_pool, setup_nopool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
