/* One TCB against a hand-made peer, for the tcp unit tests: the stack
 * (a 4-record extension pool), the TCB with 64 KiB rings each way, its
 * tuple (local 10.0.0.1:40000, peer 10.0.0.2:80), the IP header of the
 * peer's segments, and what the TCB sends (outs, filled by tp_drain). */
#ifndef PM_TESTLIB_TCB_PEER_H
#define PM_TESTLIB_TCB_PEER_H

#include <stdint.h>
#include <string.h>

#include "portmux/tcp.h"

#define MS       1000ull
#define SEC      1000000ull
#define T0       (1000 * SEC)
#define RBUF_LEN 65536

static pm_tcp_stack st;
static pm_tcp tcb;
static uint8_t ring[65536 + RBUF_LEN]; /* send ring, then receive ring */
static pm_tuple tup;
static pm_ip_repr pip; /* peer -> us */

typedef struct seg {
    pm_ip_repr ip;
    pm_tcp_repr t;
    uint8_t data[2048];
} seg;
static seg outs[64];

/* cfg NULL: the defaults. */
static inline void tp_setup(const pm_tcp_config *cfg, uint64_t seed)
{
    pm_tcp_stack_init(&st, cfg, seed);
    static pm_tcp_ext ext[4];
    pm_tcp_stack_set_ext(&st, ext, 4);
    pm_tcp_init(&tcb, ring, 65536, RBUF_LEN);
    memset(&tup, 0, sizeof tup);
    tup.laddr = pm_ip4(0x0a000001);
    tup.faddr = pm_ip4(0x0a000002);
    tup.lport = 40000;
    tup.fport = 80;
    tup.proto = PM_IPPROTO_TCP;
    memset(&pip, 0, sizeof pip);
    pip.version = 4;
    pip.proto = PM_IPPROTO_TCP;
    pip.src = tup.faddr;
    pip.dst = tup.laddr;
}

/* Everything the TCB wants to send now, into outs; how many. */
static inline int tp_drain(uint64_t now)
{
    int n = 0;
    while (n < 64 && pm_tcp_output(&st, &tcb, now, &outs[n].ip, &outs[n].t, outs[n].data,
                                   sizeof outs[n].data) > 0)
        n++;
    return n;
}

/* A segment from the peer (10.0.0.2:80 -> 10.0.0.1:40000), no options. */
static inline pm_tcp_repr tp_peer_seg(uint16_t flags, uint32_t seq, uint32_t ack, uint16_t window)
{
    pm_tcp_repr r;
    memset(&r, 0, sizeof r);
    r.sport = 80;
    r.dport = 40000;
    r.seq = seq;
    r.ack = ack;
    r.flags = flags;
    r.window = window;
    return r;
}

/* connect() at T0 and the peer's SYN-ACK 10 ms later (window 65535, MSS
 * mss, SACK-permitted if sack): ESTABLISHED, its ACK sent. Include
 * cmocka.h first. */
static inline void tp_open(uint32_t iss, uint32_t peer_iss, uint16_t mss, bool sack)
{
    assert_int_equal(pm_tcp_connect(&st, &tcb, &tup, iss, T0), 0);
    assert_int_equal(tp_drain(T0), 1);
    pm_tcp_repr sa = tp_peer_seg(PM_TH_SYN | PM_TH_ACK, peer_iss, iss + 1, 65535);
    sa.opts.present = 1u << PM_TCPOPT_MSS;
    sa.opts.mss = mss;
    if (sack) sa.opts.present |= 1u << PM_TCPOPT_SACK_PERM;
    assert_true(pm_tcp_input(&st, &tcb, &pip, &sa, T0 + 10 * MS) & PM_TCP_EV_CONNECTED);
    assert_int_equal(tp_drain(T0 + 10 * MS), 1);
    assert_int_equal(tcb.mss, mss);
}

#endif
