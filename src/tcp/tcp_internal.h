/* Private to src/tcp: sequence arithmetic, flags, shared helpers. */
#ifndef PM_TCP_INTERNAL_H
#define PM_TCP_INTERNAL_H

#include <stdint.h>

#include "portmux/tcp.h"

/* RFC 9293 3.4: sequence comparisons are modulo 2^32. */
#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

enum {                        /* pm_tcp.flags */
       F_PASSIVE = 1 << 0,    /* opened from a listener */
       F_FIN_QUEUED = 1 << 1, /* SHUT_WR or close: a FIN follows the data */
       F_ORPHAN = 1 << 2,     /* close() called: no application any more */
       F_SHUT_RD = 1 << 3,
       F_FIN_RCVD = 1 << 4, /* the peer's FIN is in rcv_nxt */
       F_ACK_NOW = 1 << 5,
       F_FASTRXT = 1 << 6,    /* retransmit the segment at snd_una */
       F_PROBE = 1 << 7,      /* zero-window probe due */
       F_FORCE = 1 << 8,      /* persist expired with a small window: send */
       F_RST_REPLY = 1 << 9,  /* <SEQ=rst_seq><CTL=RST> due */
       F_RST_ABORT = 1 << 10, /* <SEQ=SND.NXT><CTL=RST,ACK> due */
       F_NODELAY = 1 << 11,
       F_RECOVERY = 1 << 12,   /* RFC 6582 fast recovery */
       F_RTT_TIMING = 1 << 13, /* rtt_seq is being timed */
       F_FIN_ACKED = 1 << 14,
       F_BARE_ACK = 1 << 15 /* the ACK due is a challenge ACK (BSD tcp_respond) */
};

#define PM_TCP_MAX_WINDOW   65535u
#define PM_TCP_MAX_WSCALE   14          /* RFC 7323 2.3 */
#define PM_TCP_TS_LEN       12          /* TS option with its two NOPs */
#define PM_TCP_INF_SSTHRESH 0x7fffffffu /* Linux TCP_INFINITE_SSTHRESH */

/* The receive ring follows the send ring in the TCB's one buffer. */
static inline uint8_t *tcp_rcv_buf(const pm_tcp *t)
{
    return t->snd_buf + t->snd_cap;
}

static inline uint32_t tcp_ts_now(uint64_t now)
{
    return (uint32_t)(now / 1000); /* Linux: 1 ms TSval clock */
}

static inline uint32_t tcp_ms(uint64_t now)
{
    return (uint32_t)(now / 1000);
}

/* First sequence number of the send ring's data. */
static inline uint32_t tcp_data_base(const pm_tcp *t)
{
    return SEQ_GT(t->snd_una, t->iss) ? t->snd_una : t->iss + 1;
}

static inline uint32_t tcp_fin_seq(const pm_tcp *t)
{
    return tcp_data_base(t) + t->snd_len;
}

static inline bool tcp_fin_acked(const pm_tcp *t)
{
    return (t->flags & F_FIN_ACKED) != 0;
}

uint32_t tcp_ts_off(const pm_tcp_stack *st, const pm_tuple *t);
void tcp_tuple_from(pm_tuple *t, const pm_ip_repr *ip, const pm_tcp_repr *seg);
void tcp_ip_out(const pm_tcp_stack *st, const pm_tuple *t, pm_ip_repr *ip);
uint16_t tcp_clamp_mss(const pm_tcp_stack *st, const pm_tcp_repr *syn, bool v6);
/* The MSS we announce: mss_local is for IPv4; IPv6 headers take 20 more. */
static inline uint16_t tcp_local_mss(const pm_tcp_stack *st, bool v6)
{
    return (uint16_t)(v6 ? st->cfg.mss_local - 20 : st->cfg.mss_local);
}
static inline bool tcp_v6(const pm_tuple *t)
{
    return !pm_ip_is_v4(&t->laddr);
}
/* Options of a SYN into tcb (negotiation). */
void tcp_syn_options(pm_tcp_stack *st, pm_tcp *tcb, const pm_tcp_repr *syn, bool active);
void tcp_set_state(pm_tcp *tcb, int state);
void tcp_enter_time_wait(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now);
void tcp_rtt_sample(pm_tcp_stack *st, pm_tcp *tcb, uint32_t rtt_us);
void tcp_rto_reset(pm_tcp_stack *st, pm_tcp *tcb);
bool tcp_challenge_allowed(pm_tcp_stack *st, uint32_t *last_oow_ms, uint64_t now);
bool tcp_oow_allowed(pm_tcp_stack *st, uint32_t *last_oow_ms, uint64_t now);
uint32_t tcp_rcv_space(const pm_tcp *tcb);
void tcp_arm_timer(pm_tcp *tcb, int kind, uint64_t at);
/* The delayed ACK (RFC 1122 4.2.3.2) at `at`, unless one is pending. */
void tcp_delack_arm(pm_tcp *tcb, uint64_t at);
/* Its deadline in full microseconds (delack_at must be set). */
static inline uint64_t tcp_delack_deadline(const pm_tcp *t)
{
    return t->timer_at + (uint64_t)(int64_t)(int32_t)(t->delack_at - (uint32_t)t->timer_at);
}
uint32_t tcp_syn_window(const pm_tcp_stack *st, uint32_t space, bool v6);
/* The extension record (ext.c): the TCB's, or NULL. */
static inline pm_tcp_ext *tcp_ext(const pm_tcp_stack *st, const pm_tcp *t)
{
    return t->ext && t->ext <= st->ext_cap ? &st->ext[t->ext - 1] : NULL;
}
/* The TCB's record, taken from the pool if it has none: NULL (counted in
 * ext_full) when the pool is empty. */
pm_tcp_ext *tcp_ext_get(pm_tcp_stack *st, pm_tcp *t);
/* Gives the record back when nothing in it is needed any more; every
 * entry point that may end its use calls it last. */
void tcp_ext_trim(pm_tcp_stack *st, pm_tcp *t);

/* Loss recovery (recovery.c): the RFC 6675 scoreboard and the RFC 8985 PTO,
 * in the extension record; without one, an empty scoreboard. */
void tcp_rec_reset(pm_tcp_stack *st, pm_tcp *t);
void tcp_rec_rto(pm_tcp_stack *st, pm_tcp *t);
uint32_t tcp_rec_update(pm_tcp_stack *st, pm_tcp *t, const pm_tcp_repr *seg, bool *dsack);
uint32_t tcp_rec_sacked(const pm_tcp_stack *st, const pm_tcp *t);
uint32_t tcp_rec_high_rxt(const pm_tcp_stack *st, const pm_tcp *t);
uint32_t tcp_rec_tlp_high(const pm_tcp_stack *st, const pm_tcp *t);
void tcp_rec_set_high_rxt(pm_tcp_stack *st, pm_tcp *t, uint32_t seq);
void tcp_rec_set_tlp_high(pm_tcp_stack *st, pm_tcp *t, uint32_t seq);
bool tcp_rec_idle(const pm_tcp_stack *st, pm_tcp *t);
bool tcp_rec_first_lost(const pm_tcp_stack *st, const pm_tcp *t);
bool tcp_rec_lost_rxt(pm_tcp_stack *st, pm_tcp *t);
uint32_t tcp_rec_pipe(const pm_tcp_stack *st, const pm_tcp *t);
bool tcp_rec_next(const pm_tcp_stack *st, const pm_tcp *t, bool any, uint32_t *seq, uint32_t *len);
uint32_t tcp_rec_skip(const pm_tcp_stack *st, const pm_tcp *t, uint32_t seq, uint32_t *end);
void tcp_rec_arm(pm_tcp_stack *st, pm_tcp *t, uint64_t now, bool restart);
/* SACK-based recovery (RFC 6675) applies: negotiated, and not inside a
 * recovery that began as NewReno for want of a record (reno). */
static inline bool tcp_rec_sack(const pm_tcp *t)
{
    return (t->opts & PM_TCPO_SACK) && !((t->flags & F_RECOVERY) && t->reno);
}
unsigned tcp_tw_tcb_input(pm_tcp_stack *st, pm_tcp *tcb, const pm_tcp_repr *seg, uint64_t now);

#endif
