/* Sender loss recovery, segment by segment: RFC 6675 SACK recovery, RFC
 * 3042 limited transmit, RFC 8985 tail loss probes, SACK-aware go-back-N
 * after an RTO. The peer is hand-made: it loses what the test says and
 * answers with the ACKs and SACK blocks a receiver would send. */
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

static int setup(void **state)
{
    (void)state;
    tp_setup(NULL, 7);
    return 0;
}

/* An ACK from the peer; SACK blocks as segment index ranges [a, b). */
static unsigned ack(uint64_t now, uint32_t ackseq, int nblk, const int blk[][2])
{
    pm_tcp_repr r = tp_peer_seg(PM_TH_ACK, PISN + 1, ackseq, 65535);
    if (nblk) {
        r.opts.present |= 1u << PM_TCPOPT_SACK;
        r.opts.sack_count = (uint8_t)nblk;
        for (int i = 0; i < nblk; i++) {
            r.opts.sack[i].left = SEGSEQ(blk[i][0]);
            r.opts.sack[i].right = SEGSEQ(blk[i][1]);
        }
    }
    return pm_tcp_input(&st, &tcb, &pip, &r, now);
}

/* ESTABLISHED with SACK (sack_on) and MSS 1000; RTT 10 ms from the SYN. */
static void open_conn(bool sack_on)
{
    tp_open(ISN, PISN, MSS, sack_on);
    assert_int_equal(tcb.srtt_us, 10 * MS);
}

static uint8_t pattern[64 * 1024];

static void send_segs(int n, uint64_t now)
{
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(pm_tcp_send(&st, &tcb, pattern, (size_t)n * MSS, now), (long)n * MSS);
}

/* The data of outs[k] is what the send ring holds for its sequence. */
static void check_payload(int k)
{
    uint32_t off = outs[k].t.seq - (ISN + 1);
    assert_memory_equal(outs[k].data, pattern + off, outs[k].t.payload_len);
}

/* One loss in a window: three SACKed segments above it mark it lost
 * (RFC 6675 IsLost) and it is resent at once, without an RTO. */
static void test_one_loss(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(30, now);
    assert_int_equal(tp_drain(now), 10); /* the initial window */
    now += 10 * MS;
    /* Segment 2 lost: the peer ACKs 0-1, then SACKs 3, 3-4, 3-5. */
    ack(now, SEGSEQ(2), 0, NULL);
    assert_int_equal(tp_drain(now), 3); /* slow start: cwnd 11, 8 out */
    int b1[][2] = {{3, 4}};
    ack(now, SEGSEQ(2), 1, b1);
    assert_int_equal(tcb.dupacks, 1);
    assert_false(tcb.flags & (1 << 12)); /* not yet in recovery */
    /* RFC 3042: the first duplicate ACK lets one new segment go. */
    assert_int_equal(tp_drain(now), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(13));
    assert_int_equal(st.stats.limited_tx, 1);
    int b2[][2] = {{3, 5}};
    ack(now, SEGSEQ(2), 1, b2);
    assert_int_equal(tp_drain(now), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(14));
    int b3[][2] = {{3, 6}};
    ack(now, SEGSEQ(2), 1, b3);
    assert_int_equal(st.stats.sack_recoveries, 1);
    int n = tp_drain(now);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(2));
    assert_int_equal(outs[0].t.payload_len, MSS);
    check_payload(0);
    for (int k = 1; k < n; k++) assert_true(outs[k].t.seq >= SEGSEQ(15)); /* new data only */
    /* The cumulative ACK for everything ends the episode. */
    uint32_t ssthresh = tcb.ssthresh;
    ack(now + 10 * MS, tcb.snd_max, 0, NULL);
    assert_int_equal(tcb.snd_una, tcb.snd_max);
    assert_int_equal(tcb.cwnd, ssthresh);
    assert_int_equal(st.stats.rto_fired, 0);
    assert_int_equal(st.stats.retrans_segs, 1);
}

/* Three losses in one window: one recovery episode resends exactly the
 * three holes, the scoreboard choosing each; no RTO. */
static void test_three_losses_one_episode(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(10, now);
    assert_int_equal(tp_drain(now), 10);
    now += 10 * MS;
    /* Lost: 1, 4, 7. The peer's ACKs as its segments arrive. */
    int s1[][2] = {{2, 3}};
    int s2[][2] = {{2, 4}};
    int s3[][2] = {{5, 6}, {2, 4}};
    int s4[][2] = {{5, 7}, {2, 4}};
    int s5[][2] = {{8, 9}, {5, 7}, {2, 4}};
    int s6[][2] = {{8, 10}, {5, 7}, {2, 4}};
    ack(now, SEGSEQ(1), 0, NULL);
    ack(now, SEGSEQ(1), 1, s1);
    ack(now, SEGSEQ(1), 1, s2);
    ack(now, SEGSEQ(1), 2, s3);
    ack(now, SEGSEQ(1), 2, s4);
    ack(now, SEGSEQ(1), 3, s5);
    ack(now, SEGSEQ(1), 3, s6);
    assert_int_equal(st.stats.sack_recoveries, 1);
    int n = tp_drain(now);
    uint32_t rx[8];
    int nrx = 0;
    for (int k = 0; k < n; k++)
        if (outs[k].t.seq < SEGSEQ(10)) {
            check_payload(k);
            rx[nrx++] = outs[k].t.seq;
        }
    /* 1 and 4 are lost (3 SACKed ranges or > 2 MSS above them); 7 has
     * 2 SACKed segments above: rule 3 may resend it once the pipe allows. */
    assert_true(nrx >= 2);
    assert_int_equal(rx[0], SEGSEQ(1));
    assert_int_equal(rx[1], SEGSEQ(4));
    /* The resent 1 arrives: a partial ACK; 7 goes now if not already. */
    int p1[][2] = {{8, 10}, {5, 7}};
    ack(now + 10 * MS, SEGSEQ(4), 2, p1);
    n = tp_drain(now + 10 * MS);
    for (int k = 0; k < n; k++)
        if (outs[k].t.seq < SEGSEQ(10)) rx[nrx++] = outs[k].t.seq;
    assert_int_equal(nrx, 3);
    assert_int_equal(rx[2], SEGSEQ(7));
    int p2[][2] = {{8, 10}};
    ack(now + 10 * MS, SEGSEQ(7), 1, p2);
    ack(now + 20 * MS, tcb.snd_max, 0, NULL);
    assert_int_equal(tcb.snd_una, tcb.snd_max);
    assert_false(tcb.flags & (1 << 12));
    assert_int_equal(st.stats.sack_recoveries, 1);
    assert_int_equal(st.stats.retrans_segs, 3);
    assert_int_equal(st.stats.rto_fired, 0);
}

/* The retransmission is lost too: the RTO; go-back-N then resends only
 * the hole, not the SACKed segments (RFC 6675 5.1). */
static void test_lost_retransmission(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(6, now);
    assert_int_equal(tp_drain(now), 6);
    now += 10 * MS;
    int b[][2] = {{1, 6}};
    ack(now, SEGSEQ(0), 1, b); /* 0 lost; 1-5 SACKed: IsLost(0) */
    assert_int_equal(st.stats.sack_recoveries, 1);
    assert_int_equal(tp_drain(now), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(0));
    /* That retransmission is lost: nothing else arrives. */
    uint64_t d = pm_tcp_next_deadline(&tcb);
    assert_true(d > now);
    pm_tcp_timer(&st, &tcb, d);
    assert_int_equal(st.stats.rto_fired, 1);
    int n = tp_drain(d);
    assert_int_equal(n, 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(0));
    check_payload(0);
    /* The cwnd would allow more, but 1-5 are held by the receiver. */
    ack(d + 10 * MS, SEGSEQ(6), 0, NULL);
    assert_int_equal(tp_drain(d + 10 * MS), 0);
    assert_int_equal(tcb.snd_una, tcb.snd_max);
    assert_int_equal(st.stats.retrans_segs, 2);
}

/* The retransmission is lost, and segments sent after it are SACKed:
 * the loss is seen from the SACKs and the hole is resent again without
 * waiting for the RTO. */
static void test_lost_retransmission_sacked(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(30, now);
    assert_int_equal(tp_drain(now), 10);
    now += 10 * MS;
    /* 0 lost; 1..9 arrive: recovery, 0 resent (and lost again). */
    int b[][2] = {{1, 10}};
    ack(now, SEGSEQ(0), 1, b);
    assert_int_equal(st.stats.sack_recoveries, 1);
    int n = tp_drain(now);
    assert_true(n >= 2);
    assert_int_equal(outs[0].t.seq, SEGSEQ(0));
    /* New data went with it (the pipe is only the retransmission). */
    uint32_t hi = outs[n - 1].t.seq + outs[n - 1].t.payload_len;
    assert_true(hi >= SEGSEQ(13));
    /* Those new segments arrive: 10..12 SACKed, 0 still missing. */
    int b2[][2] = {{1, 13}};
    ack(now + 10 * MS, SEGSEQ(0), 1, b2);
    assert_int_equal(st.stats.rxt_lost, 1);
    n = tp_drain(now + 10 * MS);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(0));
    check_payload(0);
    assert_int_equal(st.stats.rto_fired, 0);
    assert_int_equal(st.stats.sack_recoveries, 1);
    /* This one arrives. */
    ack(now + 20 * MS, SEGSEQ(13), 0, NULL);
    assert_int_equal(tcb.snd_una, SEGSEQ(13));
}

/* A second RTO forgets the scoreboard (the receiver may have reneged,
 * RFC 2018 8): go-back-N then resends SACKed data too. */
static void test_second_rto_forgets_sack(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(3, now);
    assert_int_equal(tp_drain(now), 3);
    int b[][2] = {{1, 3}};
    ack(now + 10 * MS, SEGSEQ(0), 1, b);
    assert_int_equal(tp_drain(now + 10 * MS), 0);
    /* The probe (the last segment) is lost as well. */
    uint64_t d = pm_tcp_next_deadline(&tcb);
    pm_tcp_timer(&st, &tcb, d);
    assert_int_equal(tp_drain(d), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(2));
    assert_int_equal(st.stats.tlp_probes, 1);
    d = pm_tcp_next_deadline(&tcb);
    pm_tcp_timer(&st, &tcb, d);
    assert_int_equal(st.stats.rto_fired, 1);
    assert_int_equal(tp_drain(d), 1); /* 1-2 SACKed: only 0 */
    assert_int_equal(outs[0].t.seq, SEGSEQ(0));
    d = pm_tcp_next_deadline(&tcb);
    pm_tcp_timer(&st, &tcb, d);
    assert_int_equal(tp_drain(d), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(0));
    ack(d + 10 * MS, SEGSEQ(1), 0, NULL);
    int n = tp_drain(d + 10 * MS);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(1)); /* SACKed before, resent now */
}

/* A tail loss: the last segment of a burst is lost and nothing follows.
 * The probe (RFC 8985 7.3: the last segment again) goes after 2*SRTT,
 * long before the RTO; the ACK of the probe ends the episode with the
 * fast recovery response (7.4.2). */
static void test_tail_loss_probe(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(4, now);
    assert_int_equal(tp_drain(now), 4);
    assert_int_equal(tcb.timer, PM_TCP_TIMER_TLP);
    now += 10 * MS;
    ack(now, SEGSEQ(3), 0, NULL); /* 0-2 arrive; 3 is lost */
    assert_int_equal(tcb.timer, PM_TCP_TIMER_TLP);
    uint64_t d = pm_tcp_next_deadline(&tcb);
    /* One segment out: PTO = 2 SRTT + rto_min (the peer's delayed ACK),
     * capped by the RTO: the probe replaces the RTO (Linux alike). */
    assert_true(d <= now + tcb.rto_us);
    assert_true(d >= now + 2 * tcb.srtt_us);
    pm_tcp_timer(&st, &tcb, d);
    assert_int_equal(tp_drain(d), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(3));
    assert_int_equal(outs[0].t.payload_len, MSS);
    check_payload(0);
    assert_int_equal(st.stats.tlp_probes, 1);
    assert_int_equal(tcb.timer, PM_TCP_TIMER_RTX);
    uint32_t cwnd = tcb.cwnd;
    ack(d + 10 * MS, SEGSEQ(4), 0, NULL);
    assert_int_equal(tcb.snd_una, tcb.snd_max);
    assert_int_equal(st.stats.tlp_recoveries, 1);
    assert_true(tcb.cwnd < cwnd);
    assert_true(tcb.cwnd >= 2 * MSS); /* not the RTO's loss window */
    assert_int_equal(st.stats.rto_fired, 0);
    assert_int_equal(pm_tcp_next_deadline(&tcb), UINT64_MAX);
}

/* The last three segments lost: the probe (the last one) is SACKed, so
 * everything sent before it is lost (RFC 8985's view): one recovery
 * episode resends the other two; no RTO. */
static void test_tail_loss_several(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(6, now);
    assert_int_equal(tp_drain(now), 6);
    now += 10 * MS;
    ack(now, SEGSEQ(3), 0, NULL); /* 3, 4, 5 lost */
    uint64_t d = pm_tcp_next_deadline(&tcb);
    assert_true(d < now + tcb.rto_us);
    pm_tcp_timer(&st, &tcb, d);
    assert_int_equal(tp_drain(d), 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(5));
    int b[][2] = {{5, 6}};
    ack(d + 10 * MS, SEGSEQ(3), 1, b);
    assert_int_equal(st.stats.sack_recoveries, 1);
    int n = tp_drain(d + 10 * MS);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(3));
    if (n < 2) {
        ack(d + 20 * MS, SEGSEQ(4), 1, b);
        n = tp_drain(d + 20 * MS);
        assert_int_equal(n, 1);
        outs[1] = outs[0];
    }
    assert_int_equal(outs[1].t.seq, SEGSEQ(4));
    ack(d + 30 * MS, SEGSEQ(6), 0, NULL);
    assert_int_equal(tcb.snd_una, tcb.snd_max);
    assert_int_equal(st.stats.rto_fired, 0);
    assert_int_equal(st.stats.retrans_segs, 3);
}

/* Without SACK, the RFC 6582 NewReno fallback: partial ACKs resend each
 * hole in one episode; no probe is armed (RFC 8985 needs SACK). */
static void test_newreno_fallback(void **state)
{
    (void)state;
    open_conn(false);
    uint64_t now = T0 + SEC;
    send_segs(8, now);
    assert_int_equal(tp_drain(now), 8);
    assert_int_equal(tcb.timer, PM_TCP_TIMER_RTX);
    now += 10 * MS;
    /* 1 and 3 lost: dupacks from 2, 4, 5, 6, 7. */
    ack(now, SEGSEQ(1), 0, NULL);
    tp_drain(now);
    for (int i = 0; i < 3; i++) ack(now, SEGSEQ(1), 0, NULL);
    assert_int_equal(st.stats.fast_retrans, 1);
    int n = tp_drain(now);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(1));
    ack(now + 10 * MS, SEGSEQ(3), 0, NULL); /* partial */
    n = tp_drain(now + 10 * MS);
    assert_true(n >= 1);
    assert_int_equal(outs[0].t.seq, SEGSEQ(3));
    ack(now + 20 * MS, tcb.snd_max, 0, NULL);
    assert_int_equal(tcb.snd_una, tcb.snd_max);
    assert_int_equal(st.stats.fast_retrans, 1);
    assert_int_equal(st.stats.sack_recoveries, 0);
    assert_int_equal(st.stats.rto_fired, 0);
}

/* A D-SACK for a spurious probe: no congestion response. */
static void test_spurious_probe_dsack(void **state)
{
    (void)state;
    open_conn(true);
    uint64_t now = T0 + SEC;
    send_segs(2, now);
    assert_int_equal(tp_drain(now), 2);
    now += 10 * MS;
    ack(now, SEGSEQ(1), 0, NULL);
    uint64_t d = pm_tcp_next_deadline(&tcb);
    pm_tcp_timer(&st, &tcb, d);
    assert_int_equal(tp_drain(d), 1);
    uint32_t cwnd = tcb.cwnd;
    int ds[][2] = {{1, 2}}; /* below the ACK: the original arrived too */
    ack(d + 10 * MS, SEGSEQ(2), 1, ds);
    assert_int_equal(st.stats.dsacks_in, 1);
    assert_int_equal(st.stats.tlp_recoveries, 0);
    assert_true(tcb.cwnd >= cwnd); /* slow start goes on */
}

static void test_recovery_state_size(void **state)
{
    (void)state;
    assert_true(sizeof(pm_tcp_recovery) <= 32); /* the budget for this state */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_one_loss, setup),
        cmocka_unit_test_setup(test_three_losses_one_episode, setup),
        cmocka_unit_test_setup(test_lost_retransmission, setup),
        cmocka_unit_test_setup(test_lost_retransmission_sacked, setup),
        cmocka_unit_test_setup(test_second_rto_forgets_sack, setup),
        cmocka_unit_test_setup(test_tail_loss_probe, setup),
        cmocka_unit_test_setup(test_tail_loss_several, setup),
        cmocka_unit_test_setup(test_newreno_fallback, setup),
        cmocka_unit_test_setup(test_spurious_probe_dsack, setup),
        cmocka_unit_test_setup(test_recovery_state_size, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
