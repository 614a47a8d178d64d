/* TIME_WAIT, full or compact (FreeBSD tcptw, Linux tcp_timewait_sock), and
 * the RST for segments that match no connection. */
#include <string.h>

#include "tcp/tcp_internal.h"

void pm_tcp_tw_export(const pm_tcp *tcb, pm_tcp_tw *tw)
{
    memset(tw, 0, sizeof *tw);
    tw->snd_nxt = tcb->snd_max;
    tw->rcv_nxt = tcb->rcv_nxt;
    uint32_t right = tcb->rcv_wup + tcb->rcv_wnd;
    tw->rcv_wnd = SEQ_GT(right, tcb->rcv_nxt) ? right - tcb->rcv_nxt : 0;
    if (tcb->opts & PM_TCPO_TS) { /* else the TCB's room holds RTT timing */
        tw->ts_recent = tcb->ts_recent;
        tw->ts_recent_stamp = tcb->ts_recent_stamp;
    }
    tw->ts_off = tcb->ts_off;
    tw->last_oow_ms = tcb->last_oow_ms;
    tw->expire = tcb->timer == PM_TCP_TIMER_TIME_WAIT ? tcb->timer_at : 0;
    tw->opts = tcb->opts;
    tw->rcv_wscale = tcb->rcv_wscale;
}

/* Linux tcp_paws_reject() with TCP_PAWS_MSL: a RST within 60 s of the
 * last timestamp is taken even with an old TSval. */
static bool tw_paws_reject(const pm_tcp_tw *tw, const pm_tcp_repr *seg, uint64_t now)
{
    if ((int32_t)(tw->ts_recent - seg->opts.ts_val) <= 0) return false;
    uint64_t sec = now / 1000000;
    if (sec >= (uint64_t)tw->ts_recent_stamp + 24ull * 86400) return false;
    if (tw->ts_recent == 0) return false;
    if ((seg->flags & PM_TH_RST) && sec <= (uint64_t)tw->ts_recent_stamp + 60) return false;
    return true;
}

int pm_tcp_tw_input(pm_tcp_stack *st, pm_tcp_tw *tw, const pm_tcp_repr *seg, uint64_t now,
                    uint32_t *isn)
{
    uint16_t fl = seg->flags;
    bool saw_ts = (tw->opts & PM_TCPO_TS) && pm_tcp_has(&seg->opts, PM_TCPOPT_TS);
    bool paws = saw_ts && tw_paws_reject(tw, seg, now);
    uint32_t end = seg->seq + (uint32_t)seg->payload_len + ((fl & PM_TH_SYN) ? 1 : 0) +
                   ((fl & PM_TH_FIN) ? 1 : 0);
    uint64_t twlen = 2ull * st->cfg.msl_us;
    if (fl & PM_TH_RST) st->stats.rst_in++;

    if (!paws && seg->seq == tw->rcv_nxt && (seg->seq == end || (fl & PM_TH_RST))) {
        /* In window: only a RST or a bare ACK can be. */
        if (fl & PM_TH_RST) {
            /* RFC 1337: TIME_WAIT assassination. Linux kills unless
             * tcp_rfc1337 is set. */
            if (!st->cfg.rfc1337) {
                st->stats.tw_killed++;
                return PM_TCP_TW_KILL;
            }
        } else {
            tw->expire = now + twlen;
        }
        if (saw_ts) {
            tw->ts_recent = seg->opts.ts_val;
            tw->ts_recent_stamp = (uint32_t)(now / 1000000);
        }
        return PM_TCP_TW_DROP;
    }
    if (st->cfg.bsd && (fl & PM_TH_SYN) && !(fl & PM_TH_RST)) {
        /* RFC 9293 3.10.7.4 fourth (the suite's STANDARD): TIME-WAIT as
         * any synchronized state: RFC 793 resets on a SYN in the window,
         * RFC 5961 4.2 answers any SYN with a challenge ACK. */
        bool in_wnd = SEQ_GEQ(seg->seq, tw->rcv_nxt) && SEQ_LT(seg->seq, tw->rcv_nxt + tw->rcv_wnd);
        if (!st->cfg.rfc5961 && in_wnd) return PM_TCP_TW_RESET;
        return tcp_challenge_allowed(st, &tw->last_oow_ms, now) ? PM_TCP_TW_ACK : PM_TCP_TW_DROP;
    }
    /* Linux tcp_timewait_state_process(): a new SYN may reuse the
     * 4-tuple if its sequence number is higher or its timestamp newer. */
    if ((fl & PM_TH_SYN) && !(fl & (PM_TH_RST | PM_TH_ACK)) && !paws &&
        (SEQ_GT(seg->seq, tw->rcv_nxt) ||
         (saw_ts && (int32_t)(tw->ts_recent - seg->opts.ts_val) < 0))) {
        uint32_t n = tw->snd_nxt + 65535 + 2;
        if (n == 0) n++;
        if (isn) *isn = n;
        st->stats.tw_reopened++;
        return PM_TCP_TW_SYN;
    }
    if (paws) st->stats.paws_rejected++;
    if (!(fl & PM_TH_RST)) {
        /* Everything else is ACKed (rate-limited); an ACK-less SYN below
         * RCV.NXT does not restart the timer. */
        if (paws || (fl & PM_TH_ACK)) tw->expire = now + twlen;
        /* Linux tcp_oow_rate_limited(): a FIN or data is always answered. */
        if (end != seg->seq && !(fl & PM_TH_SYN)) return PM_TCP_TW_ACK;
        return tcp_oow_allowed(st, &tw->last_oow_ms, now) ? PM_TCP_TW_ACK : PM_TCP_TW_DROP;
    }
    return PM_TCP_TW_DROP;
}

bool pm_tcp_tw_reusable(const pm_tcp_stack *st, const pm_tcp_tw *tw, bool loopback, uint64_t now,
                        uint32_t *isn)
{
    int reuse = st->cfg.tw_reuse;
    if (reuse == 2) reuse = loopback;
    if (!reuse || !(tw->opts & PM_TCPO_TS) || tw->ts_recent_stamp == 0) return false;
    if ((int32_t)((uint32_t)(now / 1000000) - tw->ts_recent_stamp) <= 0) return false;
    uint32_t n = tw->snd_nxt + 65535 + 2;
    if (n == 0) n = 1;
    if (isn) *isn = n;
    return true;
}

void pm_tcp_tw_ack_reply(const pm_tcp_stack *st, const pm_tcp_tw *tw, const pm_tuple *t,
                         uint64_t now, pm_ip_repr *oip, pm_tcp_repr *oseg)
{
    tcp_ip_out(st, t, oip);
    memset(oseg, 0, sizeof *oseg);
    oseg->sport = t->lport;
    oseg->dport = t->fport;
    oseg->seq = tw->snd_nxt;
    oseg->ack = tw->rcv_nxt;
    oseg->flags = PM_TH_ACK;
    uint32_t field = tw->rcv_wnd >> tw->rcv_wscale;
    oseg->window = (uint16_t)(field > PM_TCP_MAX_WINDOW ? PM_TCP_MAX_WINDOW : field);
    if (tw->opts & PM_TCPO_TS) {
        oseg->opts.present |= 1u << PM_TCPOPT_TS;
        oseg->opts.ts_val = tcp_ts_now(now) + tw->ts_off;
        oseg->opts.ts_ecr = tw->ts_recent;
    }
}

/* A full TCB in TIME_WAIT runs the same rules. */
unsigned tcp_tw_tcb_input(pm_tcp_stack *st, pm_tcp *tcb, const pm_tcp_repr *seg, uint64_t now)
{
    pm_tcp_tw tw;
    pm_tcp_tw_export(tcb, &tw);
    uint32_t isn = 0;
    int v = pm_tcp_tw_input(st, &tw, seg, now, &isn);
    if (tcb->opts & PM_TCPO_TS) {
        tcb->ts_recent = tw.ts_recent;
        tcb->ts_recent_stamp = tw.ts_recent_stamp;
    }
    tcb->last_oow_ms = tw.last_oow_ms;
    if (tw.expire) tcb->timer_at = tw.expire;
    switch (v) {
    case PM_TCP_TW_ACK: tcb->flags |= F_ACK_NOW; return 0;
    case PM_TCP_TW_KILL: tcp_set_state(tcb, PM_TCP_CLOSED); return PM_TCP_EV_CLOSED;
    case PM_TCP_TW_SYN:
        tcb->rst_seq = isn; /* pm_tcp_reopen_isn() */
        tcp_set_state(tcb, PM_TCP_CLOSED);
        return PM_TCP_EV_CLOSED | PM_TCP_EV_REOPEN;
    default: return 0;
    }
}

bool pm_tcp_reset_reply(const pm_ip_repr *ip, const pm_tcp_repr *seg, pm_ip_repr *oip,
                        pm_tcp_repr *oseg)
{
    if (seg->flags & PM_TH_RST) return false; /* RFC 9293 3.10.7.1 */
    memset(oip, 0, sizeof *oip);
    oip->version = ip->version;
    oip->proto = PM_IPPROTO_TCP;
    oip->ttl = 64;
    oip->df = true;
    oip->src = ip->dst;
    oip->dst = ip->src;
    memset(oseg, 0, sizeof *oseg);
    oseg->sport = seg->dport;
    oseg->dport = seg->sport;
    if (seg->flags & PM_TH_ACK) {
        oseg->seq = seg->ack; /* <SEQ=SEG.ACK><CTL=RST> */
        oseg->flags = PM_TH_RST;
    } else {
        /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
        uint32_t len = (uint32_t)seg->payload_len + ((seg->flags & PM_TH_SYN) ? 1 : 0) +
                       ((seg->flags & PM_TH_FIN) ? 1 : 0);
        oseg->seq = 0;
        oseg->ack = seg->seq + len;
        oseg->flags = PM_TH_RST | PM_TH_ACK;
    }
    return true;
}
