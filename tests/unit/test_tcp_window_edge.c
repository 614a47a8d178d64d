/* A sender whose peer closes or shrinks its window on data in flight, and
 * retransmissions shorter than a segment, segment by segment (the
 * deadlocks tests/unit/test_host_echo.c found under loss and reordering):
 *   - a bare ACK carries a sequence number the peer's zero window takes
 *     (RCV.NXT = our window edge), not SND.MAX beyond it;
 *   - an RTO with the window closed resends the first segment, the
 *     probe whose ACK the peer takes;
 *   - a go-back-N retransmission ending short of a segment (at SND.MAX)
 *     goes at once: sender SWS avoidance and Nagle hold new data only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "portmux/tcp.h"
#include "testlib/tcb_peer.h"

#define MSS       1000u
#define ISN       1000u
#define PISN      5000u
#define SEGSEQ(i) (ISN + 1 + (uint32_t)(i)*MSS) /* segment i, from 0 */

static uint8_t pattern[64 * 1024];

static int setup(void **state)
{
    (void)state;
    tp_setup(NULL, 7);
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (uint8_t)(i * 7 + 3);
    return 0;
}

/* A segment from the peer: its data (len bytes at peer offset off) and
 * its ACK with window wnd. */
static unsigned peer(uint64_t now, uint32_t off, uint32_t len, uint32_t ackseq, uint16_t wnd)
{
    pm_tcp_repr r = tp_peer_seg(PM_TH_ACK, PISN + 1 + off, ackseq, wnd);
    r.payload = pattern;
    r.payload_len = len;
    return pm_tcp_input(&st, &tcb, &pip, &r, now);
}

/* ESTABLISHED, no options, MSS 1000, the peer's window 65535. */
static void open_conn(void)
{
    tp_open(ISN, PISN, MSS, false);
}

/* Three segments out; the peer ACKs the first and closes its window (its
 * buffer is full: the other two were dropped there). */
static uint64_t shrink_to_zero(void)
{
    open_conn();
    uint64_t now = T0 + SEC;
    assert_int_equal(pm_tcp_send(&st, &tcb, pattern, 3 * MSS, now), 3 * MSS);
    assert_int_equal(tp_drain(now), 3);
    now += 10 * MS;
    peer(now, 0, 0, SEGSEQ(1), 0);
    assert_int_equal(tcb.snd_una, SEGSEQ(1));
    assert_int_equal(tcb.snd_wnd, 0);
    assert_int_equal(tcb.snd_max, SEGSEQ(3));
    return now;
}

/* RFC 9293 3.10.7.4: with RCV.WND 0 the peer takes a segment only at
 * RCV.NXT; Linux tcp_acceptable_seq(): the ACK goes at the window's
 * edge, SND.UNA here, or the peer drops it (and with it the ACK its
 * own retransmissions wait for). */
static void test_ack_at_window_edge(void **state)
{
    (void)state;
    uint64_t now = shrink_to_zero();
    /* Out-of-order data from the peer: a duplicate ACK at once. */
    peer(now, 500, 100, SEGSEQ(1), 0);
    assert_int_equal(tp_drain(now), 1);
    assert_int_equal(outs[0].t.payload_len, 0);
    assert_int_equal(outs[0].t.seq, SEGSEQ(1)); /* not SND.MAX, SEGSEQ(3) */
    assert_int_equal(outs[0].t.ack, PISN + 1);
    /* The window open again: ACKs at SND.MAX as before. */
    peer(now, 0, 0, SEGSEQ(1), 65535);
    peer(now, 500, 100, SEGSEQ(1), 65535);
    int n = tp_drain(now);
    assert_true(n >= 1);
    assert_int_equal(outs[n - 1].t.payload_len, 0);
    assert_int_equal(outs[n - 1].t.seq, tcb.snd_max);
}

/* Linux tcp_retransmit_timer(): the RTO with the window closed resends
 * the first segment anyway (a zero window probe at the peer's RCV.NXT),
 * so that the peer takes its ACK. */
static void test_rto_zero_window_resends_head(void **state)
{
    (void)state;
    uint64_t now = shrink_to_zero();
    assert_int_equal(tp_drain(now), 0);
    uint64_t at = pm_tcp_next_deadline(&tcb);
    assert_true(at != UINT64_MAX);
    pm_tcp_timer(&st, &tcb, at);
    assert_int_equal(tp_drain(at), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(1));
    assert_int_equal(outs[0].t.payload_len, MSS);
    assert_memory_equal(outs[0].data, pattern + MSS, MSS);
    /* The peer drops the data (no room) but takes the ACK, and ACKs. */
    peer(at + 10 * MS, 0, 0, SEGSEQ(1), 0);
    assert_int_equal(tcb.snd_una, SEGSEQ(1));
}

/* A 500-byte segment went out alone (Nagle lets it: nothing in flight),
 * more data was queued behind it, and it was lost: the RTO resends those
 * 500 bytes (go-back-N stops at SND.MAX), though less than a segment and
 * less than the data waiting. Sender SWS avoidance (RFC 1122 4.2.3.4)
 * held them back before, at every RTO, until the connection timed out. */
static void test_rto_short_resend_not_held(void **state)
{
    (void)state;
    open_conn();
    uint64_t now = T0 + SEC;
    assert_int_equal(pm_tcp_send(&st, &tcb, pattern, 500, now), 500);
    assert_int_equal(tp_drain(now), 1);
    assert_int_equal(outs[0].t.payload_len, 500);
    /* More data, queued before the RTO (the output that would send it
     * has not run). */
    assert_int_equal(pm_tcp_send(&st, &tcb, pattern + 500, 5000, now), 5000);
    uint64_t at = pm_tcp_next_deadline(&tcb);
    pm_tcp_timer(&st, &tcb, at);
    int n = tp_drain(at);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, ISN + 1);
    assert_int_equal(outs[0].t.payload_len, 500);
    assert_memory_equal(outs[0].data, pattern, 500);
    /* Once it is ACKed, the rest follows. */
    peer(at + 10 * MS, 0, 0, ISN + 1 + 500, 65535);
    n = tp_drain(at + 10 * MS);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, ISN + 1 + 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_ack_at_window_edge, setup),
        cmocka_unit_test_setup(test_rto_zero_window_resends_head, setup),
        cmocka_unit_test_setup(test_rto_short_resend_not_held, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
