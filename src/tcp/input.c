/* Segment arrival: RFC 9293 3.10.7 ("SEGMENT ARRIVES"), in its order of
 * checks, with RFC 5961 (RST, SYN and ACK hardening), RFC 7323 (PAWS),
 * RFC 5681 / 6582 (congestion control) and RFC 6298 (RTT). */
#include <string.h>

#include "tcp/tcp_internal.h"

/* ---- Out-of-order islands (smoltcp's Assembler, bounded) ---------------- */
_Static_assert(PM_TCP_OOO_RANGES <= 3, "pm_tcp.ooo_recent has 2 bits, 3 meaning none");

/* Records [off, off+len) relative to rcv_nxt; false (counted) when no
 * island or no extension record is left. ooo_recent follows the island it
 * lands in (RFC 2018 4: the first SACK block reports it). */
static bool ooo_add(pm_tcp_stack *st, pm_tcp *tcb, uint32_t off, uint32_t len)
{
    pm_tcp_ext *x = tcp_ext_get(st, tcb);
    if (!x) {
        st->stats.ooo_dropped++;
        st->stats.ext_ooo_dropped++;
        return false;
    }
    uint32_t end = off + len;
    int n = 0;
    while (n < PM_TCP_OOO_RANGES && x->ooo[n].len) n++;
    /* Merge with every island it touches. */
    for (int i = 0; i < n;) {
        uint32_t s = x->ooo[i].off, e = s + x->ooo[i].len;
        if (e < off || s > end) {
            i++;
            continue;
        }
        if (s < off) off = s;
        if (e > end) end = e;
        memmove(&x->ooo[i], &x->ooo[i + 1], (size_t)(n - i - 1) * sizeof x->ooo[0]);
        n--;
        x->ooo[n].off = x->ooo[n].len = 0;
    }
    if (n == PM_TCP_OOO_RANGES) {
        st->stats.ooo_dropped++;
        return false;
    }
    int at = 0;
    while (at < n && x->ooo[at].off < off) at++;
    memmove(&x->ooo[at + 1], &x->ooo[at], (size_t)(n - at) * sizeof x->ooo[0]);
    x->ooo[at].off = off;
    x->ooo[at].len = end - off;
    tcb->ooo_recent = (unsigned)at & 3;
    st->stats.ooo_queued++;
    return true;
}

/* RFC 2883 4: the ACK answering a duplicate reports it in its first SACK
 * block (Linux tcp_dsack_set(): the first duplicate range of the segment).
 * The range lives until the next segment arrives, so that ACK goes now
 * (Linux may delay it after a partial duplicate, keeping the range). */
static void dsack_set(pm_tcp_stack *st, pm_tcp *tcb, uint32_t left, uint32_t right)
{
    if (!st->cfg.dsack || !(tcb->opts & PM_TCPO_SACK) || !SEQ_LT(left, right)) return;
    if (st->dsack.tcb == tcb) return;
    tcb->flags |= F_ACK_NOW;
    st->dsack.tcb = tcb;
    st->dsack.left = left;
    st->dsack.right = right;
}

/* A segment at [off, off+len) that an island already holds, in part or
 * whole: that part is a duplicate (Linux tcp_data_queue_ofo()). */
static void ooo_dsack(pm_tcp_stack *st, pm_tcp *tcb, uint32_t off, uint32_t len)
{
    const pm_tcp_ext *x = tcp_ext(st, tcb);
    for (int i = 0; x && i < PM_TCP_OOO_RANGES && x->ooo[i].len; i++) {
        uint32_t s = x->ooo[i].off > off ? x->ooo[i].off : off;
        uint32_t e = x->ooo[i].off + x->ooo[i].len;
        if (e > off + len) e = off + len;
        if (s < e) {
            dsack_set(st, tcb, tcb->rcv_nxt + s, tcb->rcv_nxt + e);
            return;
        }
    }
}

/* rcv_nxt moved by adv bytes: shift the islands; returns how many more
 * bytes are now in order. */
static uint32_t ooo_advance(pm_tcp_stack *st, pm_tcp *tcb, uint32_t adv)
{
    pm_tcp_ext *x = tcp_ext(st, tcb);
    if (!x) return 0;
    uint32_t extra = 0;
    while (x->ooo[0].len) {
        uint32_t s = x->ooo[0].off, e = s + x->ooo[0].len;
        if (s > adv + extra) break;
        if (e > adv + extra) extra = e - adv;
        memmove(&x->ooo[0], &x->ooo[1], (PM_TCP_OOO_RANGES - 1) * sizeof x->ooo[0]);
        x->ooo[PM_TCP_OOO_RANGES - 1].off = x->ooo[PM_TCP_OOO_RANGES - 1].len = 0;
        tcb->ooo_recent = tcb->ooo_recent && tcb->ooo_recent < 3 ? tcb->ooo_recent - 1u : 3u;
    }
    uint32_t shift = adv + extra;
    for (int i = 0; i < PM_TCP_OOO_RANGES && x->ooo[i].len; i++) x->ooo[i].off -= shift;
    return extra;
}

/* Out-of-order islands are waiting (first: where). */
static bool ooo_pending(const pm_tcp_stack *st, const pm_tcp *tcb, uint32_t *first)
{
    const pm_tcp_ext *x = tcp_ext(st, tcb);
    if (!x || !x->ooo[0].len) return false;
    if (first) *first = x->ooo[0].off;
    return true;
}

static void ring_write(pm_tcp *tcb, uint32_t off, const uint8_t *data, uint32_t len)
{
    uint32_t pos = (uint32_t)(((uint64_t)tcb->rcv_head + tcb->rcv_len + off) % tcb->rcv_cap);
    uint32_t first = tcb->rcv_cap - pos < len ? tcb->rcv_cap - pos : len;
    memcpy(tcp_rcv_buf(tcb) + pos, data, first);
    memcpy(tcp_rcv_buf(tcb), data + first, len - first);
}

/* ---- Replies ---------------------------------------------------------------- */

/* Linux tcp_oow_rate_limited(): duplicate ACKs for pure ACKs and SYNs are
 * rate-limited per connection; segments with data or a FIN always get theirs. */
static void oow_ack(pm_tcp_stack *st, pm_tcp *tcb, uint32_t len, uint16_t flags, uint64_t now)
{
    if (flags & PM_TH_FIN) len++;
    if ((len > 0 && !(flags & PM_TH_SYN)) || tcp_oow_allowed(st, &tcb->last_oow_ms, now))
        tcb->flags |= F_ACK_NOW;
}

static void challenge_ack(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now)
{
    /* RFC 5961 3.2, 4.2, 5.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
    if (tcp_challenge_allowed(st, &tcb->last_oow_ms, now)) tcb->flags |= F_ACK_NOW | F_BARE_ACK;
}

static void rst_reply(pm_tcp *tcb, uint32_t seq)
{
    tcb->flags |= F_RST_REPLY;
    tcb->rst_seq = seq;
}

static unsigned conn_reset(pm_tcp *tcb, int err)
{
    unsigned ev = PM_TCP_EV_CLOSED;
    if (err && !(tcb->flags & F_ORPHAN)) {
        tcb->err = (uint8_t)err;
        ev |= PM_TCP_EV_RESET;
    }
    tcb->flags &= (uint16_t) ~(F_RST_ABORT | F_RST_REPLY);
    tcp_set_state(tcb, PM_TCP_CLOSED);
    return ev;
}

static void rtt_from_ack(pm_tcp_stack *st, pm_tcp *tcb, const pm_tcp_repr *seg, uint64_t now)
{
    if (tcb->opts & PM_TCPO_TS) {
        /* RFC 7323 4.1: RTT from the echoed timestamp; with timestamps
         * on, no other (rtt_seq and rtt_start are TS.Recent's room). */
        tcb->flags &= (uint16_t)~F_RTT_TIMING;
        if (!pm_tcp_has(&seg->opts, PM_TCPOPT_TS) || !seg->opts.ts_ecr) return;
        uint32_t ms = tcp_ts_now(now) - (seg->opts.ts_ecr - tcb->ts_off);
        if (ms < 600000) tcp_rtt_sample(st, tcb, ms ? ms * 1000 : 500);
    } else if ((tcb->flags & F_RTT_TIMING) && SEQ_GT(seg->ack, tcb->rtt_seq)) {
        /* RFC 6298 3 (Karn): only segments never retransmitted are timed. */
        tcp_rtt_sample(st, tcb, (uint32_t)now - tcb->rtt_start);
        tcb->flags &= (uint16_t)~F_RTT_TIMING;
    }
}

/* RFC 5681 3.1 / Linux: after a lost SYN or SYN-ACK, the initial window is
 * one segment. */
static void handshake_done(pm_tcp_stack *st, pm_tcp *tcb)
{
    if (tcb->retries > 0) tcb->cwnd = tcb->mss;
    tcb->retries = 0;
    tcb->backoff = 0;
    tcp_arm_timer(tcb, PM_TCP_TIMER_NONE, 0);
    tcb->recover = tcb->iss;
    tcp_rec_reset(st, tcb);
}

/* ---- SYN_SENT (RFC 9293 3.10.7.3) ----------------------------------------- */

static unsigned synchronized(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip,
                             const pm_tcp_repr *seg, uint64_t now);

static unsigned syn_sent(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip,
                         const pm_tcp_repr *seg, uint64_t now)
{
    uint16_t fl = seg->flags;
    if (fl & PM_TH_ACK) {
        /* first: an ACK of something other than our SYN. */
        if (SEQ_LEQ(seg->ack, tcb->iss) || SEQ_GT(seg->ack, tcb->snd_max)) {
            st->stats.bad_ack++;
            if (!(fl & PM_TH_RST)) rst_reply(tcb, seg->ack);
            /* Linux tcp_rcv_synsent_state_process(): "previous FIN/ACK or
             * RST/ACK might be ignored": the SYN again after
             * TCP_TIMEOUT_MIN (2 jiffies), on the first try only. */
            if (!st->cfg.bsd && tcb->retries == 0) tcp_arm_timer(tcb, PM_TCP_TIMER_RTX, now + 2000);
            return 0;
        }
    }
    if (fl & PM_TH_RST) {
        /* second: RFC 5961 3.2 / RFC 9293: a RST is acceptable here only
         * if it acknowledges our SYN. */
        st->stats.rst_in++;
        if (fl & PM_TH_ACK) return conn_reset(tcb, ECONNREFUSED);
        return 0;
    }
    if (!(fl & PM_TH_SYN)) return 0; /* fifth */
    /* fourth: the SYN. */
    tcb->rcv_nxt = tcb->rcv_wup = seg->seq + 1;
    tcb->rcv_wnd = tcp_syn_window(st, tcb->rcv_cap - tcb->rcv_len,
                                  tcp_v6(&tcb->tuple)); /* what our SYN said */
    tcp_syn_options(st, tcb, seg, true);
    if (tcb->opts & PM_TCPO_TS) tcb->ts_recent_stamp = (uint32_t)(now / 1000000);
    tcb->cwnd = (uint32_t)st->cfg.init_cwnd * tcb->mss;
    tcb->snd_wnd = seg->window; /* RFC 7323 2.2: not scaled on a SYN */
    tcb->max_snd_wnd = tcb->snd_wnd;
    tcb->snd_wl1 = seg->seq;
    if (fl & PM_TH_ACK) {
        tcb->snd_una = seg->ack;
        if (SEQ_LT(tcb->snd_nxt, seg->ack)) tcb->snd_nxt = seg->ack;
        rtt_from_ack(st, tcb, seg, now);
        handshake_done(st, tcb);
        tcp_set_state(tcb, PM_TCP_ESTABLISHED);
        tcb->flags |= F_ACK_NOW;
        unsigned ev = PM_TCP_EV_CONNECTED;
        if (seg->payload_len || (fl & PM_TH_FIN)) {
            pm_tcp_repr rest = *seg;
            rest.flags = (uint16_t)(fl & ~PM_TH_SYN);
            rest.seq = seg->seq + 1;
            ev |= synchronized(st, tcb, ip, &rest, now);
        }
        return ev;
    }
    /* Simultaneous open: SYN_RCVD, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. */
    if (st->cfg.bsd && seg->payload_len) {
        /* RFC 9293 3.10.7.3: text is queued for processing once
         * ESTABLISHED (FreeBSD: tcp_reass); Linux drops it. */
        uint32_t l = (uint32_t)seg->payload_len;
        if (l > tcb->rcv_cap - tcb->rcv_len) l = tcb->rcv_cap - tcb->rcv_len;
        ring_write(tcb, 0, seg->payload, l);
        if (l) ooo_add(st, tcb, 0, l); /* without a record: dropped, the peer resends */
    }
    tcb->snd_nxt = tcb->iss;
    tcb->flags &= (uint16_t)~F_RTT_TIMING;
    tcp_set_state(tcb, PM_TCP_SYN_RCVD);
    return 0;
}

/* ---- Receiving data ---------------------------------------------------------- */

/* Returns the events; *in_order tells whether everything up to seq+len is
 * now received (so that a FIN right after it may be taken). */
static unsigned receive_data(pm_tcp_stack *st, pm_tcp *tcb, uint32_t seq, const uint8_t *data,
                             uint32_t len, bool *in_order, uint64_t now)
{
    uint32_t off = seq - tcb->rcv_nxt;
    uint32_t space = tcb->rcv_cap - tcb->rcv_len;
    *in_order = false;
    if (off >= space) {
        st->stats.rcvbuf_dropped++;
        tcb->flags |= F_ACK_NOW;
        return 0;
    }
    bool whole = true;
    if (len > space - off) {
        len = space - off;
        whole = false;
        st->stats.rcvbuf_dropped++;
    }
    if (off == 0) {
        ring_write(tcb, 0, data, len);
        tcb->rcv_len += len;
        tcb->rcv_nxt += len;
        uint32_t extra = ooo_advance(st, tcb, len);
        tcb->rcv_len += extra;
        tcb->rcv_nxt += extra;
        *in_order = whole && extra == 0;
        if (extra > 0 || ooo_pending(st, tcb, NULL)) {
            tcb->flags |= F_ACK_NOW; /* RFC 5681 4.2: a hole filled, or holes left */
        } else if (++tcb->quick >= 2) {
            tcb->flags |= F_ACK_NOW; /* RFC 5681 4.2: every second full segment */
        } else {
            tcp_delack_arm(tcb, now + st->cfg.delack_us); /* RFC 1122 4.2.3.2 */
        }
        return len + extra ? PM_TCP_EV_READABLE : 0;
    }
    ring_write(tcb, off, data, len);
    ooo_dsack(st, tcb, off, len);
    ooo_add(st, tcb, off, len);
    tcb->flags |= F_ACK_NOW; /* RFC 5681 4.2: out of order: a duplicate ACK now */
    return 0;
}

/* ---- Synchronized states (RFC 9293 3.10.7.4) -------------------------------- */

static bool paws_reject(const pm_tcp *tcb, const pm_tcp_repr *seg, uint64_t now)
{
    /* RFC 7323 5.3 (Linux tcp_paws_check): TSval older than TS.Recent,
     * unless TS.Recent is more than 24 days old (5.5) or unset. */
    if ((int32_t)(seg->opts.ts_val - tcb->ts_recent) >= 0) return false;
    if (now / 1000000 >= (uint64_t)tcb->ts_recent_stamp + 24ull * 86400) return false;
    if (tcb->ts_recent == 0) return false;
    return true;
}

static unsigned synchronized(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip,
                             const pm_tcp_repr *seg, uint64_t now)
{
    (void)ip;
    uint16_t fl = seg->flags;
    uint32_t seq = seg->seq;
    const uint8_t *data = seg->payload;
    uint32_t len = (uint32_t)seg->payload_len;
    bool has_ts = (tcb->opts & PM_TCPO_TS) && pm_tcp_has(&seg->opts, PM_TCPOPT_TS);
    unsigned ev = 0;

    /* RFC 5961 4.2 exception, as Linux tcp_validate_incoming(): the
     * SYN-ACK that completes a simultaneous open is an ACK. */
    if (tcb->state == PM_TCP_SYN_RCVD && !(tcb->flags & F_PASSIVE) && (fl & PM_TH_SYN) &&
        (fl & PM_TH_ACK) && !(fl & PM_TH_RST) && seq + 1 == tcb->rcv_nxt) {
        fl = (uint16_t)(fl & ~PM_TH_SYN);
        seq++;
        tcb->flags |= F_ACK_NOW; /* the peer may still wait for our SYN-ACK */
    }

    /* RFC 7323 5.3: PAWS first; a RST is taken even if it fails. */
    if (has_ts && !(fl & PM_TH_RST) && paws_reject(tcb, seg, now)) {
        st->stats.paws_rejected++;
        if (fl & PM_TH_SYN)
            challenge_ack(st, tcb, now);
        else
            oow_ack(st, tcb, len, fl, now);
        return 0;
    }

    uint32_t right = tcb->rcv_wup + tcb->rcv_wnd;
    /* RFC 7323 2.4: a kept edge is announced rounded up to the scale unit
     * (select_window keeps the exact edge, which never moves left), so
     * each ACK announced it somewhere in [edge, edge + unit): the peer may
     * send up to any of those, and its segments (and their ACKs) from
     * there must not be dropped as out of window when a later ACK's
     * rounding came out lower. */
    if (!st->cfg.bsd && tcb->rcv_wscale) right += (1u << tcb->rcv_wscale) - 1;
    uint32_t wnd = SEQ_GT(right, tcb->rcv_nxt) ? right - tcb->rcv_nxt : 0;
    /* FreeBSD tcp_input(): rcv_wnd = imax(sbspace(), rcv_adv - rcv_nxt). */
    /* (A passive SYN_RCVD is FreeBSD's syncache: the announced window.) */
    if (st->cfg.bsd && tcb->rcv_cap - tcb->rcv_len > wnd &&
        !(tcb->state == PM_TCP_SYN_RCVD && (tcb->flags & F_PASSIVE)))
        wnd = tcb->rcv_cap - tcb->rcv_len;
#define IN_WINDOW(s) (SEQ_GEQ((s), tcb->rcv_nxt) && SEQ_LT((s), tcb->rcv_nxt + wnd))

    /* second: RST. RFC 5961 3.2: exactly RCV.NXT resets; elsewhere in the
     * window draws a challenge ACK; outside it, nothing. RFC 793 mode:
     * anywhere in the window resets. */
    if (fl & PM_TH_RST) {
        st->stats.rst_in++;
        bool exact = seq == tcb->rcv_nxt;
        if (!exact && !(wnd && IN_WINDOW(seq))) return 0;
        if (st->cfg.rfc5961 && !exact) {
            challenge_ack(st, tcb, now);
            return 0;
        }
        switch (tcb->state) {
        case PM_TCP_SYN_RCVD:
            /* A passive open just goes away (its listener stays);
             * an active one is refused. */
            return conn_reset(tcb, (tcb->flags & F_PASSIVE) ? 0 : ECONNREFUSED);
        case PM_TCP_CLOSE_WAIT:
            /* Linux tcp_reset(): EPIPE; FreeBSD tcp_input(): ECONNRESET. */
            return conn_reset(tcb, st->cfg.bsd ? ECONNRESET : EPIPE);
        default: return conn_reset(tcb, ECONNRESET);
        }
    }

    /* fourth: SYN. */
    if (fl & PM_TH_SYN) {
        /* IRS is RCV.NXT - 1 until the handshake completes */
        if (tcb->state == PM_TCP_SYN_RCVD && (tcb->flags & F_PASSIVE) && seq + 1 == tcb->rcv_nxt &&
            !(fl & PM_TH_ACK)) {
            /* Linux tcp_check_req(): a retransmitted SYN: the SYN-ACK again. */
            if (tcp_oow_allowed(st, &tcb->last_oow_ms, now) && tcb->snd_una == tcb->iss)
                tcb->snd_nxt = tcb->iss;
            return 0;
        }
        st->stats.syn_in_window++;
        if (st->cfg.rfc5961) {
            challenge_ack(st, tcb, now); /* RFC 5961 4.2 */
            return 0;
        }
        /* RFC 793: a SYN in the window is an error: reset. */
        if (wnd && IN_WINDOW(seq)) {
            unsigned e = conn_reset(tcb, ECONNRESET);
            tcb->flags |= F_RST_ABORT;
            return e;
        }
        if (st->cfg.bsd) {
            challenge_ack(st, tcb, now); /* FreeBSD tcp_input(): tcp_send_challenge_ack() */
            return 0;
        }
        oow_ack(st, tcb, len, fl, now);
        return 0;
    }

    /* first: the acceptance test (RFC 9293 3.10.7.4, table). */
    uint32_t seg_len = len + ((fl & PM_TH_FIN) ? 1 : 0);
    bool ok;
    bool zero_wnd_data = false;
    if (seg_len == 0) {
        ok = wnd == 0 ? seq == tcb->rcv_nxt : IN_WINDOW(seq);
    } else if (wnd == 0) {
        /* "special allowance ... valid ACKs": take the ACK, drop the data.
         * Linux takes a bare FIN at RCV.NXT too (tcp_data_queue). */
        ok = seq == tcb->rcv_nxt;
        zero_wnd_data = ok && len > 0;
    } else {
        ok = IN_WINDOW(seq) || IN_WINDOW(seq + seg_len - 1);
    }
#undef IN_WINDOW
    if (!ok) {
        st->stats.bad_seq++;
        if (seg_len && SEQ_LEQ(seq + seg_len, tcb->rcv_nxt)) {
            st->stats.dup_segs++; /* all old */
            dsack_set(st, tcb, seq, seq + len);
        }
        oow_ack(st, tcb, len, fl, now);
        return 0;
    }
    if (zero_wnd_data) {
        st->stats.rcvbuf_dropped++;
        len = 0;
        fl = (uint16_t)(fl & ~PM_TH_FIN);
        tcb->flags |= F_ACK_NOW;
    }
    /* Trim what was already received, and what lies past the window. */
    if (SEQ_LT(seq, tcb->rcv_nxt)) {
        uint32_t d = tcb->rcv_nxt - seq;
        if (d > len) d = len;
        dsack_set(st, tcb, seq, seq + d);
        data += d;
        len -= d;
        seq += d;
        if (len == 0 && !(fl & PM_TH_FIN)) {
            tcb->flags |= F_ACK_NOW; /* a duplicate */
            st->stats.dup_segs++;
        }
    }
    if (len && SEQ_GT(seq + len, tcb->rcv_nxt + wnd)) {
        len = tcb->rcv_nxt + wnd - seq;
        fl = (uint16_t)(fl & ~PM_TH_FIN);
    }
    /* RFC 7323 4.3: TS.Recent from segments that start at or before the
     * last ACK sent. */
    if (has_ts && SEQ_LEQ(seg->seq, tcb->rcv_wup) &&
        (int32_t)(seg->opts.ts_val - tcb->ts_recent) >= 0) {
        tcb->ts_recent = seg->opts.ts_val;
        tcb->ts_recent_stamp = (uint32_t)(now / 1000000);
    }

    /* fifth: ACK. */
    if (!(fl & PM_TH_ACK)) return 0;
    uint32_t ack = seg->ack;
    if (tcb->state == PM_TCP_SYN_RCVD) {
        if (!(SEQ_GT(ack, tcb->snd_una) && SEQ_LEQ(ack, tcb->snd_max))) {
            st->stats.bad_ack++;
            rst_reply(tcb, ack); /* <SEQ=SEG.ACK><CTL=RST> */
            return 0;
        }
        tcp_set_state(tcb, PM_TCP_ESTABLISHED);
        ev |= PM_TCP_EV_CONNECTED;
        tcb->snd_wnd = (uint32_t)seg->window << tcb->snd_wscale;
        tcb->snd_wl1 = seq;
        if (tcb->snd_wnd > tcb->max_snd_wnd) tcb->max_snd_wnd = tcb->snd_wnd;
        rtt_from_ack(st, tcb, seg, now);
        handshake_done(st, tcb);
        uint32_t first;
        if (ooo_pending(st, tcb, &first) && first == 0) {
            /* The text a simultaneous-open SYN carried (syn_sent). */
            uint32_t extra = ooo_advance(st, tcb, 0);
            tcb->rcv_len += extra;
            tcb->rcv_nxt += extra;
            tcp_delack_arm(tcb, now + st->cfg.delack_us);
            ev |= PM_TCP_EV_READABLE;
        }
    }
    if (SEQ_GT(ack, tcb->snd_max)) {
        /* RFC 5961 5.2 / RFC 9293: it acks what was never sent. */
        st->stats.bad_ack++;
        challenge_ack(st, tcb, now);
        return ev;
    }
    uint32_t max_wnd = tcb->max_snd_wnd > tcb->mss ? tcb->max_snd_wnd : tcb->mss;
    if (SEQ_LT(ack, tcb->snd_una - max_wnd)) {
        /* RFC 5961 5.2: far too old: blind data injection. */
        st->stats.bad_ack++;
        challenge_ack(st, tcb, now);
        return ev;
    }
    uint32_t swnd = (uint32_t)seg->window << tcb->snd_wscale;
    if (tcb->timer == PM_TCP_TIMER_PERSIST) tcb->retries = 0; /* the peer answers probes */
    /* SACK recovery needs the scoreboard's record: an ACK with SACK
     * blocks takes one (outside a recovery, whose kind is settled); none
     * free: this ACK counts as for a peer without SACK (NewReno). */
    bool sack = tcp_rec_sack(tcb);
    if (sack && !tcb->ext && !(tcb->flags & F_RECOVERY) && pm_tcp_has(&seg->opts, PM_TCPOPT_SACK) &&
        !tcp_ext_get(st, tcb))
        sack = false;
    uint32_t prior_una = tcb->snd_una, tlp_high = tcp_rec_tlp_high(st, tcb);
    bool tlp_out = SEQ_GT(tlp_high, prior_una);
    if (SEQ_GT(ack, tcb->snd_una)) {
        uint32_t acked = ack - tcb->snd_una;
        uint32_t base = tcp_data_base(tcb);
        uint32_t data_acked = SEQ_GT(ack, base) ? ack - base : 0;
        if (data_acked > tcb->snd_len) {
            data_acked = tcb->snd_len;
            if ((tcb->flags & F_FIN_QUEUED) && ack == base + tcb->snd_len + 1)
                tcb->flags |= F_FIN_ACKED;
        }
        if (data_acked) {
            tcb->snd_head = (tcb->snd_head + data_acked) % tcb->snd_cap;
            tcb->snd_len -= data_acked;
            ev |= PM_TCP_EV_WRITABLE;
        }
        tcb->snd_una = ack;
        if (SEQ_LT(tcb->snd_nxt, ack)) tcb->snd_nxt = ack;
        rtt_from_ack(st, tcb, seg, now);
        bool dsack = false;
        if (sack) tcp_rec_update(st, tcb, seg, &dsack);
        if (tlp_out && SEQ_GEQ(ack, tlp_high) && !dsack && !(tcb->flags & F_RECOVERY)) {
            /* RFC 8985 7.4.2: the probe repaired a loss (no D-SACK says
             * the original arrived too): the fast recovery response. */
            uint32_t half = (tlp_high - prior_una) / 2;
            if (half < tcb->cwnd / 2) half = tcb->cwnd / 2;
            tcb->ssthresh = half > 2u * tcb->mss ? half : 2u * tcb->mss;
            if (tcb->cwnd > tcb->ssthresh) tcb->cwnd = tcb->ssthresh;
            st->stats.tlp_recoveries++;
        }
        if (tcb->flags & F_RECOVERY) {
            if (SEQ_GEQ(ack, tcb->recover)) {
                /* RFC 6582 3.2 step 3 / RFC 6675 5: full acknowledgment. */
                tcb->cwnd = tcb->ssthresh;
                tcb->flags &= (uint16_t)~F_RECOVERY;
                tcb->dupacks = 0;
            } else if (sack) {
                /* RFC 6675 5 (C): the scoreboard picks what to resend; a
                 * partial ACK with no SACK ranges left resends snd_una
                 * (RFC 6582 3.2 step 4). */
                if (tcp_rec_sacked(st, tcb) == 0) tcb->flags |= F_FASTRXT;
            } else {
                /* RFC 6582 3.2 step 4: partial: resend the next hole, deflate. */
                tcb->flags |= F_FASTRXT;
                tcb->cwnd = tcb->cwnd > acked ? tcb->cwnd - acked : 0;
                if (acked >= tcb->mss) tcb->cwnd += tcb->mss;
                if (tcb->cwnd < tcb->mss) tcb->cwnd = tcb->mss;
            }
        } else {
            tcb->dupacks = 0;
            if (tcb->cwnd < tcb->ssthresh)
                tcb->cwnd += acked < tcb->mss ? acked : tcb->mss; /* RFC 5681 (2) */
            else
                tcb->cwnd += tcb->mss * tcb->mss / tcb->cwnd ? tcb->mss * tcb->mss / tcb->cwnd
                                                             : 1; /* RFC 5681 (3) */
        }
        tcb->retries = 0;
        if (tcb->snd_una == tcb->snd_max) {
            if (tcb->timer == PM_TCP_TIMER_RTX || tcb->timer == PM_TCP_TIMER_TLP)
                tcp_arm_timer(tcb, PM_TCP_TIMER_NONE, 0);
        } else {
            tcp_rec_arm(st, tcb, now, true); /* RFC 6298 5.3; RFC 8985 7.2 */
        }
    } else if (sack) {
        /* RFC 6675 2: a DupAck is an ACK that SACKs new bytes (data or
         * a window update may ride on it). */
        bool dsack;
        if (tcp_rec_update(st, tcb, seg, &dsack) && ack == tcb->snd_una &&
            tcb->snd_max != tcb->snd_una && !(tcb->flags & F_RECOVERY) && tcb->dupacks < 255)
            tcb->dupacks++;
    } else if (ack == tcb->snd_una && len == 0 && !(fl & (PM_TH_SYN | PM_TH_FIN)) &&
               tcb->snd_max != tcb->snd_una && swnd == tcb->snd_wnd) {
        /* RFC 5681 2: a duplicate ACK. */
        tcb->dupacks++;
        if (tcb->flags & F_RECOVERY) {
            tcb->cwnd += tcb->mss; /* RFC 5681 3.2 step 4 */
        } else if (tcb->dupacks == 3 && SEQ_GT(ack, tcb->recover)) {
            /* RFC 5681 3.2 steps 2-3, RFC 6582 3.2 step 2. */
            uint32_t flight = tcb->snd_max - tcb->snd_una;
            uint32_t half = flight / 2;
            tcb->ssthresh = half > 2u * tcb->mss ? half : 2u * tcb->mss;
            tcb->recover = tcb->snd_max;
            tcb->cwnd = tcb->ssthresh + 3u * tcb->mss;
            tcb->flags |= F_RECOVERY | F_FASTRXT;
            tcb->flags &= (uint16_t)~F_RTT_TIMING;
            tcb->reno = 1; /* the whole episode, even if a record frees up */
            st->stats.fast_retrans++;
            if (tcb->opts & PM_TCPO_SACK) st->stats.ext_newreno++;
        }
    }
    if (sack && (tcb->flags & F_RECOVERY) && tcp_rec_lost_rxt(st, tcb)) {
        tcb->flags |= F_FASTRXT; /* the first hole again, whatever the pipe says */
        st->stats.rxt_lost++;
    }
    if (sack && !(tcb->flags & F_RECOVERY) && tcb->snd_una != tcb->snd_max &&
        SEQ_GEQ(tcb->snd_una, tcb->recover) && tcp_rec_sacked(st, tcb) &&
        (tcb->dupacks >= 3 || tcp_rec_first_lost(st, tcb))) {
        /* RFC 6675 5 steps (1)-(2) and (4): DupThresh DupAcks, or
         * IsLost(HighACK + 1): ssthresh = cwnd = FlightSize / 2 (RFC 5681
         * (4)), RecoveryPoint = HighData, resend HighACK + 1 first. */
        uint32_t half = (tcb->snd_max - tcb->snd_una) / 2;
        tcb->ssthresh = half > 2u * tcb->mss ? half : 2u * tcb->mss;
        tcb->cwnd = tcb->ssthresh;
        tcb->recover = tcb->snd_max;
        tcp_rec_set_high_rxt(st, tcb, tcb->snd_una);
        tcp_rec_set_tlp_high(st, tcb, tcb->snd_una);
        tcb->flags |= F_RECOVERY | F_FASTRXT;
        tcb->reno = 0;
        tcb->flags &= (uint16_t)~F_RTT_TIMING;
        st->stats.fast_retrans++;
        st->stats.sack_recoveries++;
    }
    /* RFC 9293 3.10.7.4: the send window from the newest segment: SND.WL1
     * < SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK. Here SEG.ACK
     * = SND.UNA, and WL2 would be the SND.UNA of the last update, never
     * above it: that test always holds, so SND.WL2 is not kept (nor in
     * Linux's tcp_may_update_window). */
    if (SEQ_GEQ(ack, tcb->snd_una) && SEQ_LEQ(tcb->snd_wl1, seq)) {
        if (swnd > tcb->snd_wnd) ev |= PM_TCP_EV_WRITABLE;
        tcb->snd_wnd = swnd;
        tcb->snd_wl1 = seq;
        if (swnd > tcb->max_snd_wnd) tcb->max_snd_wnd = swnd;
        if (swnd > 0 && tcb->timer == PM_TCP_TIMER_PERSIST) {
            tcp_arm_timer(tcb, PM_TCP_TIMER_NONE, 0);
            tcb->backoff = 0;
        }
    }
    switch (tcb->state) {
    case PM_TCP_FIN_WAIT_1:
        if (tcp_fin_acked(tcb)) {
            tcp_set_state(tcb, PM_TCP_FIN_WAIT_2);
            /* Linux tcp_fin_timeout: only an orphan's FIN_WAIT_2 is bounded. */
            if (tcb->flags & F_ORPHAN)
                tcp_arm_timer(tcb, PM_TCP_TIMER_FIN_WAIT_2, now + st->cfg.fin_timeout_us);
        }
        break;
    case PM_TCP_CLOSING:
        if (tcp_fin_acked(tcb)) {
            tcp_enter_time_wait(st, tcb, now);
            return ev | PM_TCP_EV_TIME_WAIT;
        }
        break;
    case PM_TCP_LAST_ACK:
        if (tcp_fin_acked(tcb)) {
            tcp_set_state(tcb, PM_TCP_CLOSED);
            return ev | PM_TCP_EV_CLOSED;
        }
        break;
    default: break;
    }

    /* seventh: text (URG is not supported: urgent data is plain data). */
    bool in_order = len == 0 && seq == tcb->rcv_nxt;
    if (len > 0) {
        switch (tcb->state) {
        case PM_TCP_FIN_WAIT_1:
        case PM_TCP_FIN_WAIT_2:
            if (tcb->flags & F_SHUT_RD) {
                /* RFC 1122 4.2.2.13 (Linux TCPABORTONDATA): data for a
                 * closed reader: RST. */
                if (SEQ_GT(seq + len, tcb->rcv_nxt)) {
                    st->stats.aborts++;
                    unsigned e = conn_reset(tcb, 0);
                    tcb->flags |= F_RST_ABORT;
                    return ev | e;
                }
                break;
            }
            /* fall through */
        case PM_TCP_ESTABLISHED: ev |= receive_data(st, tcb, seq, data, len, &in_order, now); break;
        default: in_order = false; break; /* RFC 9293: ignore after the peer's FIN */
        }
    }

    /* eighth: FIN, once everything before it is in. */
    if ((fl & PM_TH_FIN) && in_order && !(tcb->flags & F_FIN_RCVD) && seq + len == tcb->rcv_nxt) {
        tcb->rcv_nxt++;
        tcb->flags |= F_FIN_RCVD | F_ACK_NOW;
        ev |= PM_TCP_EV_PEER_FIN | PM_TCP_EV_READABLE;
        switch (tcb->state) {
        case PM_TCP_SYN_RCVD:
        case PM_TCP_ESTABLISHED: tcp_set_state(tcb, PM_TCP_CLOSE_WAIT); break;
        case PM_TCP_FIN_WAIT_1: tcp_set_state(tcb, PM_TCP_CLOSING); break;
        case PM_TCP_FIN_WAIT_2:
            tcp_enter_time_wait(st, tcb, now);
            ev |= PM_TCP_EV_TIME_WAIT;
            break;
        default: break;
        }
    }
    return ev;
}

unsigned pm_tcp_input(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip, const pm_tcp_repr *seg,
                      uint64_t now)
{
    st->stats.segs_in++;
    st->dsack.tcb = NULL;
    unsigned ev;
    switch (tcb->state) {
    case PM_TCP_CLOSED:
    case PM_TCP_LISTEN: return 0; /* the host answers with pm_tcp_reset_reply */
    case PM_TCP_SYN_SENT: ev = syn_sent(st, tcb, ip, seg, now); break;
    case PM_TCP_TIME_WAIT: ev = tcp_tw_tcb_input(st, tcb, seg, now); break;
    default: ev = synchronized(st, tcb, ip, seg, now); break;
    }
    tcp_ext_trim(st, tcb);
    return ev;
}
