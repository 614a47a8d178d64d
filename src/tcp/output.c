/* Segment departure: one segment per call, in priority order: RSTs, the
 * SYN, a fast retransmission, a window probe, data and FIN (congestion and
 * send window, Nagle, sender SWS avoidance), then a bare ACK. */
#include <string.h>

#include "tcp/tcp_internal.h"

/* The window our SYN or SYN-ACK announces: unscaled (RFC 7323 2.2) and,
 * as Linux's tcp_select_initial_window(), a multiple of the MSS (FreeBSD's
 * tcp_output: the buffer space as it is, up to 65535). */
uint32_t tcp_syn_window(const pm_tcp_stack *st, uint32_t space, bool v6)
{
    uint32_t w = space < PM_TCP_MAX_WINDOW ? space : PM_TCP_MAX_WINDOW;
    uint32_t mss = tcp_local_mss(st, v6);
    if (mss && w > mss && !st->cfg.bsd) w = w / mss * mss;
    return w;
}

/* RFC 9293 3.8.6.2.2 (receiver SWS avoidance, RFC 1122 4.2.3.3): move the
 * right edge only by min(half the buffer, one MSS) or more, and never
 * shrink it. Returns the field value; *bytes the window it stands for. */
static uint16_t select_window(const pm_tcp_stack *st, pm_tcp *tcb, uint32_t *bytes)
{
    uint32_t space = tcb->rcv_cap - tcb->rcv_len;
    uint32_t right = tcb->rcv_wup + tcb->rcv_wnd;
    uint32_t cur = SEQ_GT(right, tcb->rcv_nxt) ? right - tcb->rcv_nxt : 0;
    uint32_t step = tcb->rcv_cap / 2 < tcb->mss ? tcb->rcv_cap / 2 : tcb->mss;
    uint32_t w = space;
    if (st->cfg.bsd) {
        /* FreeBSD tcp_output(): the space itself, 0 below min(buffer/4,
         * MSS) (RFC 1122 4.2.3.3), never less than what was announced. */
        if (w < tcb->rcv_cap / 4 && w < tcb->mss) w = 0;
    } else if (w > cur && w - cur < step) {
        w = cur;
    }
    if (w < cur) w = cur;
    uint32_t unit = 1u << tcb->rcv_wscale;
    uint32_t field = w >> tcb->rcv_wscale;
    uint32_t b = field << tcb->rcv_wscale;
    if (b < cur) {
        /* Keeping the edge: remember it exactly, announce it rounded up
         * (RFC 7323 2.4), so the edge never creeps forward. */
        field = (uint32_t)(((uint64_t)cur + unit - 1) >> tcb->rcv_wscale);
        b = cur;
    }
    if (field > PM_TCP_MAX_WINDOW) {
        field = PM_TCP_MAX_WINDOW;
        b = field << tcb->rcv_wscale;
    }
    *bytes = b;
    return (uint16_t)field;
}

static void seg_base(pm_tcp_stack *st, const pm_tcp *tcb, pm_ip_repr *ip, pm_tcp_repr *seg,
                     uint16_t flags, uint32_t seq)
{
    tcp_ip_out(st, &tcb->tuple, ip);
    memset(seg, 0, sizeof *seg);
    seg->sport = tcb->tuple.lport;
    seg->dport = tcb->tuple.fport;
    seg->seq = seq;
    seg->flags = flags;
    if (flags & PM_TH_ACK) seg->ack = tcb->rcv_nxt;
}

static void put_ts(pm_tcp_repr *seg, uint32_t val, uint32_t ecr)
{
    seg->opts.present |= 1u << PM_TCPOPT_TS;
    seg->opts.ts_val = val;
    seg->opts.ts_ecr = ecr;
}

/* Window, timestamps, bookkeeping of what the ACK told the peer. */
static int finish(pm_tcp_stack *st, pm_tcp *tcb, pm_tcp_repr *seg, uint64_t now)
{
    if (!(seg->flags & PM_TH_SYN)) {
        if (tcb->opts & PM_TCPO_TS) put_ts(seg, tcp_ts_now(now) + tcb->ts_off, tcb->ts_recent);
        const pm_tcp_ext *x = tcp_ext(st, tcb);
        bool islands = x && x->ooo[0].len && !(tcb->flags & F_FIN_RCVD);
        bool dsack = st->dsack.tcb == tcb;
        if ((tcb->opts & PM_TCPO_SACK) && (seg->flags & PM_TH_ACK) && (islands || dsack)) {
            /* RFC 2018 4: SACK blocks for the out-of-order islands (3 fit
             * beside the timestamps); the first holds the latest segment
             * received, the others follow in sequence order. RFC 2883 4:
             * a duplicate just received goes first, once. */
            pm_tcp_opts *o = &seg->opts;
            o->present |= 1u << PM_TCPOPT_SACK;
            int order[PM_TCP_OOO_RANGES], k = 0, n = 0;
            int room = (tcb->opts & PM_TCPO_TS) ? 3 : PM_TCP_MAX_SACK; /* 40 option bytes */
            if (dsack) {
                o->sack[n].left = st->dsack.left;
                o->sack[n].right = st->dsack.right;
                n++;
                st->dsack.tcb = NULL;
                st->stats.dsacks_out++;
            }
            if (tcb->ooo_recent < PM_TCP_OOO_RANGES) order[k++] = tcb->ooo_recent;
            for (int i = 0; i < PM_TCP_OOO_RANGES; i++)
                if (i != tcb->ooo_recent) order[k++] = i;
            for (int j = 0; islands && j < k && n < room; j++) {
                int i = order[j];
                if (!x->ooo[i].len) continue;
                o->sack[n].left = tcb->rcv_nxt + x->ooo[i].off;
                o->sack[n].right = tcb->rcv_nxt + x->ooo[i].off + x->ooo[i].len;
                n++;
            }
            o->sack_count = (uint8_t)n;
        }
        if (seg->flags & PM_TH_ACK) {
            uint32_t bytes;
            seg->window = select_window(st, tcb, &bytes);
            tcb->rcv_wup = tcb->rcv_nxt;
            tcb->rcv_wnd = bytes;
        }
    }
    if (seg->flags & PM_TH_ACK) {
        tcb->flags &= (uint16_t) ~(F_ACK_NOW | F_BARE_ACK);
        tcb->delack_at = 0;
        tcb->quick = 0;
    }
    st->stats.segs_out++;
    return 1;
}

static void copy_out(const pm_tcp *tcb, uint32_t off, uint8_t *buf, uint32_t len)
{
    uint32_t pos = (uint32_t)(((uint64_t)tcb->snd_head + off) % tcb->snd_cap);
    uint32_t first = tcb->snd_cap - pos < len ? tcb->snd_cap - pos : len;
    memcpy(buf, tcb->snd_buf + pos, first);
    memcpy(buf + first, tcb->snd_buf, len - first);
}

static int emit_data(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now, pm_ip_repr *ip, pm_tcp_repr *seg,
                     uint8_t *buf, uint32_t seq, uint32_t len, bool fin)
{
    uint32_t off = seq - tcp_data_base(tcb);
    uint16_t flags = PM_TH_ACK;
    if (fin) flags |= PM_TH_FIN;
    if (len && off + len == tcb->snd_len) flags |= PM_TH_PSH; /* Linux: PSH on the last */
    seg_base(st, tcb, ip, seg, flags, seq);
    if (len) copy_out(tcb, off, buf, len);
    seg->payload = buf;
    seg->payload_len = len;
    return finish(st, tcb, seg, now);
}

static void arm_rtx(pm_tcp *tcb, uint64_t now)
{
    /* RFC 6298 5.1: start the timer if it is not running. */
    if (tcb->timer != PM_TCP_TIMER_RTX) {
        tcp_arm_timer(tcb, PM_TCP_TIMER_RTX, now + tcb->rto_us);
        tcb->backoff = 0;
    }
}

static int emit_syn(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now, pm_ip_repr *ip, pm_tcp_repr *seg)
{
    bool active = tcb->state == PM_TCP_SYN_SENT;
    uint16_t flags = PM_TH_SYN | (active ? 0 : PM_TH_ACK);
    seg_base(st, tcb, ip, seg, flags, tcb->iss);
    const pm_tcp_config *c = &st->cfg;
    pm_tcp_opts *o = &seg->opts;
    uint16_t mss = tcp_local_mss(st, tcp_v6(&tcb->tuple));
    if (tcb->user_mss && tcb->user_mss < mss) mss = tcb->user_mss;
    o->present |= 1u << PM_TCPOPT_MSS;
    o->mss = mss;
    bool sack = active ? c->sack : (tcb->opts & PM_TCPO_SACK);
    bool ts = active ? c->timestamps : (tcb->opts & PM_TCPO_TS);
    bool ws = active ? c->window_scaling : (tcb->opts & PM_TCPO_WS);
    if (sack) o->present |= 1u << PM_TCPOPT_SACK_PERM;
    if (ts) put_ts(seg, tcp_ts_now(now) + tcb->ts_off, active ? 0 : tcb->ts_recent);
    if (ws) {
        o->present |= 1u << PM_TCPOPT_WSCALE;
        o->wscale = st->rcv_wscale;
        if (active) tcb->rcv_wscale = st->rcv_wscale; /* until the SYN-ACK says */
    }
    uint32_t w = tcp_syn_window(st, tcb->rcv_cap - tcb->rcv_len, tcp_v6(&tcb->tuple));
    seg->window = (uint16_t)w;
    if (!active) {
        tcb->rcv_wup = tcb->rcv_nxt;
        tcb->rcv_wnd = w;
    }
    if (tcb->snd_max == tcb->iss) {
        tcb->snd_max = tcb->iss + 1;
        if (!(tcb->opts & PM_TCPO_TS)) { /* a SYN-ACK's RTT from the ACK's TSecr */
            tcb->flags |= F_RTT_TIMING;
            tcb->rtt_seq = tcb->iss;
            tcb->rtt_start = (uint32_t)now;
        }
    } else {
        st->stats.retrans_segs++;
    }
    tcb->snd_nxt = tcb->iss + 1;
    arm_rtx(tcb, now);
    return finish(st, tcb, seg, now);
}

static int emit_rst(pm_tcp_stack *st, pm_tcp *tcb, pm_ip_repr *ip, pm_tcp_repr *seg, uint64_t now,
                    uint16_t flags, uint32_t seq)
{
    seg_base(st, tcb, ip, seg, flags, seq);
    (void)now;
    st->stats.segs_out++;
    return 1;
}

/* RFC 8985 7.3: the PTO expired: one new segment if the receive window
 * lets it go (cwnd does not count: Linux tcp_send_loss_probe()), else the
 * last segment again; then the RTO. */
static int send_tlp(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now, pm_ip_repr *ip, pm_tcp_repr *seg,
                    uint8_t *buf, uint32_t mss)
{
    tcp_arm_timer(tcb, PM_TCP_TIMER_RTX, now + tcb->rto_us);
    uint32_t base = tcp_data_base(tcb);
    bool fin_q = (tcb->flags & F_FIN_QUEUED) && !(tcb->flags & F_FIN_ACKED);
    uint32_t sent = tcb->snd_max - base; /* data bytes sent (+1 with a FIN) */
    bool fin_sent = fin_q && sent == tcb->snd_len + 1;
    if (fin_sent) sent--;
    uint32_t inflight = tcb->snd_max - tcb->snd_una;
    if (tcb->snd_nxt == tcb->snd_max && sent < tcb->snd_len && tcb->snd_wnd > inflight) {
        uint32_t len = tcb->snd_len - sent;
        if (len > mss) len = mss;
        if (len > tcb->snd_wnd - inflight) len = tcb->snd_wnd - inflight;
        bool fin = fin_q && sent + len == tcb->snd_len;
        uint32_t seq = tcb->snd_max;
        tcb->snd_nxt = tcb->snd_max = seq + len + (fin ? 1 : 0);
        st->stats.tlp_probes++;
        return emit_data(st, tcb, now, ip, seg, buf, seq, len, fin);
    }
    uint32_t end = base + sent;
    uint32_t len = end - tcb->snd_una;
    if (SEQ_LT(end, tcb->snd_una)) len = 0;
    if (len > mss) len = mss;
    if (len == 0 && !fin_sent) return 0;
    tcp_rec_set_tlp_high(st, tcb, tcb->snd_max); /* the PTO's record holds it */
    tcb->flags &= (uint16_t)~F_RTT_TIMING;
    st->stats.tlp_probes++;
    st->stats.retrans_segs++;
    return emit_data(st, tcb, now, ip, seg, buf, end - len, len, fin_sent);
}

/* The sequence number of a bare ACK. Linux tcp_acceptable_seq(): SND.MAX
 * unless it lies past the window's right edge (data sent into a window
 * the peer then closed or shrank), else that edge: a receiver whose
 * window is zero takes a segment only at RCV.NXT (RFC 9293 3.10.7.4), and
 * must not drop the ACK that would unblock its own sender. (Linux keeps
 * SND.NXT within one scale unit past the edge; that is still out of a
 * zero window, so not here. FreeBSD sends SND.MAX and so deadlocks
 * alike.) */
static uint32_t ack_seq(const pm_tcp *tcb)
{
    uint32_t edge = tcb->snd_una + tcb->snd_wnd;
    return SEQ_LEQ(tcb->snd_max, edge) ? tcb->snd_max : edge;
}

static int output_one(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now, pm_ip_repr *ip, pm_tcp_repr *seg,
                      uint8_t *buf, size_t cap)
{
    if (tcb->flags & F_RST_REPLY) {
        tcb->flags &= (uint16_t)~F_RST_REPLY;
        return emit_rst(st, tcb, ip, seg, now, PM_TH_RST, tcb->rst_seq);
    }
    if (tcb->flags & F_RST_ABORT) {
        tcb->flags &= (uint16_t)~F_RST_ABORT;
        return emit_rst(st, tcb, ip, seg, now, PM_TH_RST | PM_TH_ACK, tcb->snd_max);
    }
    switch (tcb->state) {
    case PM_TCP_CLOSED:
    case PM_TCP_LISTEN: return 0;
    case PM_TCP_TIME_WAIT:
        if (!(tcb->flags & F_ACK_NOW)) return 0;
        seg_base(st, tcb, ip, seg, PM_TH_ACK, tcb->snd_max);
        return finish(st, tcb, seg, now);
    default: break;
    }
    /* The SYN, first sent or rewound for a retransmission. */
    if (tcb->snd_una == tcb->iss && tcb->snd_nxt == tcb->iss)
        return emit_syn(st, tcb, now, ip, seg);
    if (tcb->state == PM_TCP_SYN_SENT) return 0;
    uint32_t mss = tcb->mss;
    if (cap < mss) mss = (uint32_t)cap;
    uint32_t base = tcp_data_base(tcb);
    bool fin_q = (tcb->flags & F_FIN_QUEUED) && !(tcb->flags & F_FIN_ACKED);

    /* RFC 6675 5 (C): in SACK recovery, cwnd - pipe >= 1 SMSS lets a
     * segment go: NextSeg() rule 1 (a lost hole), 2 (new data: below),
     * 3 (another unSACKed hole); the first retransmission ignores cwnd. */
    bool sack_rec = (tcb->flags & F_RECOVERY) && tcp_rec_sack(tcb);
    bool pipe_room = true;
    if (sack_rec) {
        bool first = (tcb->flags & F_FASTRXT) != 0;
        pipe_room = tcb->cwnd >= tcp_rec_pipe(st, tcb) + mss;
        uint32_t seq = 0, len = 0;
        bool got = (first || pipe_room) && tcp_rec_next(st, tcb, first, &seq, &len);
        if (!got && !first && pipe_room) {
            uint32_t unsent_at = tcb->snd_max;
            bool new_data = tcb->snd_nxt == tcb->snd_max &&
                            SEQ_LT(unsent_at, base + tcb->snd_len) &&
                            tcb->snd_wnd > tcb->snd_max - tcb->snd_una;
            if (!new_data) got = tcp_rec_next(st, tcb, true, &seq, &len); /* rule 3 */
        }
        if (got) {
            if (len > mss) len = mss;
            tcb->flags &= (uint16_t) ~(F_FASTRXT | F_RTT_TIMING);
            tcp_rec_set_high_rxt(st, tcb, seq + len);
            st->stats.retrans_segs++;
            st->stats.sack_rxt++;
            arm_rtx(tcb, now);
            return emit_data(st, tcb, now, ip, seg, buf, seq, len, false);
        }
    }
    if (tcb->flags & F_FASTRXT) {
        /* RFC 5681 3.2 step 3 / RFC 6582 step 4: resend the first
         * unacknowledged segment, whatever cwnd says. */
        tcb->flags &= (uint16_t) ~(F_FASTRXT | F_RTT_TIMING);
        uint32_t off = tcb->snd_una - base;
        if (SEQ_GT(tcb->snd_una, tcb->iss) && off <= tcb->snd_len) {
            uint32_t avail = tcb->snd_len - off;
            uint32_t sent = tcb->snd_max - tcb->snd_una; /* only what went out */
            if (avail > sent) avail = sent;
            uint32_t len = avail < mss ? avail : mss;
            bool fin =
                fin_q && off + len == tcb->snd_len && SEQ_GT(tcb->snd_max, tcb->snd_una + len);
            if (len || fin) {
                st->stats.retrans_segs++;
                if (sack_rec) tcp_rec_set_high_rxt(st, tcb, tcb->snd_una + len);
                if (SEQ_LT(tcb->snd_nxt, tcb->snd_una + len + fin))
                    tcb->snd_nxt = tcb->snd_una + len + fin;
                return emit_data(st, tcb, now, ip, seg, buf, tcb->snd_una, len, fin);
            }
        }
    }
    if (tcb->flags & F_PROBE) {
        /* Linux tcp_xmit_probe_skb(): an old sequence number makes the
         * receiver answer with its window (RFC 9293 3.8.6.1). */
        tcb->flags &= (uint16_t)~F_PROBE;
        seg_base(st, tcb, ip, seg, PM_TH_ACK, tcb->snd_una - 1);
        return finish(st, tcb, seg, now);
    }
    if (tcb->timer == PM_TCP_TIMER_TLP && now >= tcb->timer_at &&
        send_tlp(st, tcb, now, ip, seg, buf, mss))
        return 1;

    /* RFC 6675 5.1: after an RTO, go-back-N skips the SACKed ranges. */
    uint32_t hole_end = tcb->snd_max;
    if (!sack_rec && tcp_rec_sack(tcb) && SEQ_LT(tcb->snd_nxt, tcb->snd_max) &&
        SEQ_GT(tcb->snd_nxt, tcb->iss))
        tcb->snd_nxt = tcp_rec_skip(st, tcb, tcb->snd_nxt, &hole_end);
    uint32_t off = tcb->snd_nxt - base;
    uint32_t avail = 0;
    if (SEQ_GEQ(tcb->snd_nxt, base) && off <= tcb->snd_len) {
        avail = tcb->snd_len - off;
        uint32_t cwnd = tcb->cwnd;
        bool lt = false;
        if (!(tcb->flags & F_RECOVERY) && tcb->dupacks > 0 && tcb->dupacks < 3 &&
            tcb->snd_nxt == tcb->snd_max) {
            /* RFC 3042 2: limited transmit: a new segment for each of the
             * first two duplicate ACKs, cwnd itself unchanged. */
            cwnd += (uint32_t)tcb->dupacks * tcb->mss;
            lt = true;
        }
        if (sack_rec) cwnd = pipe_room ? tcb->snd_wnd : 0; /* the pipe decided (above) */
        uint32_t win = tcb->snd_wnd < cwnd ? tcb->snd_wnd : cwnd;
        uint32_t inflight = tcb->snd_nxt - tcb->snd_una;
        uint32_t usable = win > inflight ? win - inflight : 0;
        uint32_t len = avail < usable ? avail : usable;
        if (len > mss) len = mss;
        if (SEQ_LT(tcb->snd_nxt, tcb->snd_max) && len > hole_end - tcb->snd_nxt)
            len = hole_end - tcb->snd_nxt;
        if (lt && len && inflight + len > tcb->cwnd) st->stats.limited_tx++;
        bool send = len > 0;
        /* Only new data waits (SWS avoidance, Nagle): a resend may end
         * short at SND.MAX, a SACKed range or the window, and held back
         * it would never go, nothing sent after it growing it (Linux
         * tcp_retransmit_skb: neither, and it trims to the window). */
        if (send && len < mss && !(tcb->flags & F_FORCE) && !SEQ_LT(tcb->snd_nxt, tcb->snd_max)) {
            if (len < avail) {
                /* RFC 1122 4.2.3.4: sender SWS avoidance. */
                if (len < tcb->max_snd_wnd / 2) send = false;
            } else if (!(tcb->flags & (F_NODELAY | F_FIN_QUEUED)) && tcb->snd_nxt == tcb->snd_max &&
                       tcb->snd_max != tcb->snd_una) {
                send = false; /* RFC 896 / RFC 1122 4.2.3.4: Nagle */
            }
        }
        if (!send) len = 0;
        bool fin = fin_q && off + len == tcb->snd_len;
        if (send || fin) {
            uint32_t seq = tcb->snd_nxt;
            bool is_new = !SEQ_LT(seq, tcb->snd_max);
            if (!is_new) {
                st->stats.retrans_segs++;
            } else if (len && !(tcb->flags & F_RTT_TIMING) && !(tcb->opts & PM_TCPO_TS)) {
                tcb->flags |= F_RTT_TIMING;
                tcb->rtt_seq = seq;
                tcb->rtt_start = (uint32_t)now;
            }
            tcb->snd_nxt = seq + len + (fin ? 1 : 0);
            if (SEQ_GT(tcb->snd_nxt, tcb->snd_max)) tcb->snd_max = tcb->snd_nxt;
            tcb->flags &= (uint16_t)~F_FORCE;
            if (is_new)
                tcp_rec_arm(st, tcb, now, false); /* RFC 6298 5.1; RFC 8985 7.2 */
            else
                arm_rtx(tcb, now);
            return emit_data(st, tcb, now, ip, seg, buf, seq, len, fin);
        }
    }
    if (tcb->flags & F_ACK_NOW) {
        /* FreeBSD tcp_output(): while our FIN is unacknowledged, every
         * segment carries it again (snd_nxt-- when TF_SENTFIN). */
        if (st->cfg.bsd && fin_q && tcb->snd_max == base + tcb->snd_len + 1 &&
            !(tcb->flags & F_BARE_ACK))
            return emit_data(st, tcb, now, ip, seg, buf, tcb->snd_max - 1, 0, true);
        /* BSD tcp_output(): a bare ACK carries SND.MAX, not the rewound
         * SND.NXT of a retransmission, or the peer finds it old. */
        seg_base(st, tcb, ip, seg, PM_TH_ACK, ack_seq(tcb));
        return finish(st, tcb, seg, now);
    }
    /* RFC 9293 3.8.6.1: data waits on a closed window: the persist timer. */
    tcb->flags &= (uint16_t)~F_FORCE;
    if (avail > 0 && tcb->snd_una == tcb->snd_max && tcb->timer == PM_TCP_TIMER_NONE) {
        uint64_t d = (uint64_t)tcb->rto_us << (tcb->backoff < 16 ? tcb->backoff : 16);
        if (d > st->cfg.rto_max_us) d = st->cfg.rto_max_us;
        tcp_arm_timer(tcb, PM_TCP_TIMER_PERSIST, now + d);
    }
    return 0;
}

int pm_tcp_output(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now, pm_ip_repr *ip, pm_tcp_repr *seg,
                  uint8_t *buf, size_t cap)
{
    int r = output_one(st, tcb, now, ip, seg, buf, cap);
    tcp_ext_trim(st, tcb); /* a probe of new data ends the PTO's use of the record */
    return r;
}

uint64_t pm_tcp_next_deadline(const pm_tcp *tcb)
{
    uint64_t d = UINT64_MAX;
    if (tcb->timer != PM_TCP_TIMER_NONE) d = tcb->timer_at;
    if (tcb->delack_at && tcp_delack_deadline(tcb) < d) d = tcp_delack_deadline(tcb);
    return d;
}

static unsigned timer_fire(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now)
{
    unsigned ev = 0;
    if (tcb->delack_at && now >= tcp_delack_deadline(tcb)) {
        tcb->delack_at = 0;
        if (tcb->timer == PM_TCP_TIMER_NONE) tcb->timer_at = 0;
        if (tcb->state >= PM_TCP_SYN_RCVD) tcb->flags |= F_ACK_NOW;
    }
    if (tcb->timer == PM_TCP_TIMER_NONE || now < tcb->timer_at) return ev;
    const pm_tcp_config *c = &st->cfg;
    switch (tcb->timer) {
    case PM_TCP_TIMER_RTX: {
        uint8_t limit = tcb->state == PM_TCP_SYN_SENT   ? c->syn_retries
                        : tcb->state == PM_TCP_SYN_RCVD ? c->synack_retries
                                                        : c->retries2;
        if (tcb->retries >= limit) {
            /* Linux tcp_write_timeout(): give up, ETIMEDOUT, no RST. */
            st->stats.timeouts++;
            if (!(tcb->flags & F_ORPHAN) &&
                !(tcb->state == PM_TCP_SYN_RCVD && (tcb->flags & F_PASSIVE))) {
                tcb->err = tcb->soft_err ? tcb->soft_err : ETIMEDOUT; /* Linux tcp_write_err */
                ev |= PM_TCP_EV_RESET;
            }
            tcp_set_state(tcb, PM_TCP_CLOSED);
            return ev | PM_TCP_EV_CLOSED;
        }
        tcb->retries++;
        st->stats.rto_fired++;
        /* RFC 6298 5.5: back off. */
        uint64_t rto = 2ull * tcb->rto_us;
        tcb->rto_us = (uint32_t)(rto > c->rto_max_us ? c->rto_max_us : rto);
        if (SEQ_GT(tcb->snd_una, tcb->iss)) {
            /* RFC 5681 (4) and 3.1: loss window; RFC 6582: leave recovery. */
            uint32_t flight = tcb->snd_max - tcb->snd_una;
            uint32_t half = flight / 2;
            tcb->ssthresh = half > 2u * tcb->mss ? half : 2u * tcb->mss;
            tcb->cwnd = tcb->mss;
            tcb->recover = tcb->snd_max;
            tcb->flags &= (uint16_t)~F_RECOVERY;
            tcb->dupacks = 0;
        }
        tcb->flags &= (uint16_t) ~(F_RTT_TIMING | F_FASTRXT);
        tcb->snd_nxt = tcb->snd_una; /* go back N */
        /* Linux tcp_retransmit_timer() ("receiver dastardly shrinks
         * window"): with the window closed on data in flight the first
         * segment goes anyway, a zero window probe at the peer's RCV.NXT
         * whose ACK it takes (else neither side's ACK may get through).
         * FreeBSD's persist probe does the same from snd_una. */
        if (tcb->snd_wnd == 0 && tcb->snd_una != tcb->snd_max && SEQ_GT(tcb->snd_una, tcb->iss))
            tcb->flags |= F_FASTRXT;
        tcp_rec_rto(st, tcb);
        tcp_arm_timer(tcb, PM_TCP_TIMER_RTX, now + tcb->rto_us);
        break;
    }
    case PM_TCP_TIMER_PERSIST: {
        if (tcb->retries >= c->retries2) {
            st->stats.timeouts++;
            if (!(tcb->flags & F_ORPHAN)) {
                tcb->err = ETIMEDOUT;
                ev |= PM_TCP_EV_RESET;
            }
            tcp_set_state(tcb, PM_TCP_CLOSED);
            return ev | PM_TCP_EV_CLOSED;
        }
        tcb->retries++;
        tcb->flags |= tcb->snd_wnd == 0 ? F_PROBE : F_FORCE;
        if (tcb->backoff < 31) tcb->backoff++;
        uint64_t d = (uint64_t)tcb->rto_us << (tcb->backoff < 16 ? tcb->backoff : 16);
        if (d > c->rto_max_us) d = c->rto_max_us;
        tcp_arm_timer(tcb, PM_TCP_TIMER_PERSIST, now + d);
        break;
    }
    case PM_TCP_TIMER_TLP:
        /* RFC 8985 7.3: the probe is due; pm_tcp_output sends it. */
        if (tcb->snd_una == tcb->snd_max) tcp_arm_timer(tcb, PM_TCP_TIMER_NONE, 0);
        break;
    case PM_TCP_TIMER_TIME_WAIT:
    case PM_TCP_TIMER_FIN_WAIT_2: tcp_set_state(tcb, PM_TCP_CLOSED); return ev | PM_TCP_EV_CLOSED;
    default: tcp_arm_timer(tcb, PM_TCP_TIMER_NONE, 0); break;
    }
    return ev;
}

unsigned pm_tcp_timer(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now)
{
    unsigned ev = timer_fire(st, tcb, now);
    tcp_ext_trim(st, tcb);
    return ev;
}

static unsigned icmp_error(pm_tcp_stack *st, pm_tcp *tcb, int err, bool hard, uint32_t quoted_seq,
                           uint32_t mtu, uint64_t now)
{
    st->stats.icmp_in++;
    if (tcb->state == PM_TCP_CLOSED || tcb->state == PM_TCP_LISTEN ||
        tcb->state == PM_TCP_TIME_WAIT)
        return 0;
    /* RFC 5927 4.1: the quoted segment must be one in flight. */
    if (!(SEQ_GEQ(quoted_seq, tcb->snd_una) && SEQ_LT(quoted_seq, tcb->snd_max))) {
        st->stats.icmp_bad_seq++;
        return 0;
    }
    if (err == EMSGSIZE) {
        /* RFC 1191 / Linux tcp_v4_mtu_reduced(): shrink and resend. */
        uint32_t hdr = pm_ip_is_v4(&tcb->tuple.laddr) ? 40 : 60;
        if (tcb->opts & PM_TCPO_TS) hdr += PM_TCP_TS_LEN;
        if (mtu > hdr + st->cfg.min_snd_mss && mtu - hdr < tcb->mss) {
            tcb->mss = (uint16_t)(mtu - hdr);
            st->stats.pmtu_reduced++;
            if (SEQ_GT(tcb->snd_una, tcb->iss)) tcb->snd_nxt = tcb->snd_una;
            (void)now;
        }
        return 0;
    }
    if (err <= 0 || err > 255) return 0;
    bool connecting = tcb->state == PM_TCP_SYN_SENT ||
                      (tcb->state == PM_TCP_SYN_RCVD && !(tcb->flags & F_PASSIVE));
    if (connecting) {
        /* Linux tcp_v4_err(): a connect() fails at once. */
        tcb->err = (uint8_t)err;
        tcp_set_state(tcb, PM_TCP_CLOSED);
        return PM_TCP_EV_RESET | PM_TCP_EV_CLOSED;
    }
    if (tcb->state == PM_TCP_SYN_RCVD) {
        /* Linux tcp_req_err(): a fatal error drops the embryonic one. */
        if (hard) {
            tcp_set_state(tcb, PM_TCP_CLOSED);
            return PM_TCP_EV_CLOSED;
        }
        return 0;
    }
    tcb->soft_err = (uint8_t)err; /* RFC 1122 4.2.3.9 */
    return 0;
}

unsigned pm_tcp_icmp_error(pm_tcp_stack *st, pm_tcp *tcb, int err, bool hard, uint32_t quoted_seq,
                           uint32_t mtu, uint64_t now)
{
    unsigned ev = icmp_error(st, tcb, err, hard, quoted_seq, mtu, now);
    tcp_ext_trim(st, tcb);
    return ev;
}
