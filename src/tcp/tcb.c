/* TCB life: configuration, opens, the application calls (send, recv,
 * shutdown, close) and the helpers the input and output paths share. */
#include <string.h>

#include "base/siphash.h"
#include "tcp/tcp_internal.h"

static const char *const state_names[PM_TCP_STATE_COUNT] = {
    "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK", "TIME_WAIT",
};

const char *pm_tcp_state_name(int state)
{
    return state >= 0 && state < PM_TCP_STATE_COUNT ? state_names[state] : "?";
}

void pm_tcp_config_default(pm_tcp_config *c)
{
    memset(c, 0, sizeof *c);
    c->msl_us = 30000000;         /* Linux: TCP_TIMEWAIT_LEN (60 s) = 2*MSL */
    c->fin_timeout_us = 60000000; /* Linux: tcp_fin_timeout 60 */
    c->rto_initial_us = 1000000;  /* RFC 6298 2.1; Linux TCP_TIMEOUT_INIT */
    c->rto_min_us = 200000;       /* Linux: TCP_RTO_MIN */
    c->rto_max_us = 120000000;    /* Linux: TCP_RTO_MAX */
    c->delack_us = 40000;         /* Linux: TCP_DELACK_MIN */
    c->rmem_default = 131072;     /* Linux: tcp_rmem = 4096 131072 33554432 */
    c->wmem_default = 16384;      /* Linux: tcp_wmem = 4096 16384 4194304 */
    c->rmem_max = 33554432;       /* tcp_rmem[2], Linux 6.x (was 6 MiB): window scale 10 */
    /* Linux 6.0+ (79e3602caa6f): host-wide limit off, INT_MAX; 4.7-5.19: 1000. */
    c->challenge_ack_limit = 0x7fffffff;
    c->invalid_ratelimit_us = 500000; /* Linux: tcp_invalid_ratelimit 500 ms */
    c->mss_local = 1460;              /* Ethernet MTU 1500 - 40 */
    c->mss_default = 536;             /* RFC 9293 3.7.1; Linux TCP_MSS_DEFAULT */
    c->min_snd_mss = 48;              /* Linux: tcp_min_snd_mss */
    c->init_cwnd = 10;                /* RFC 6928; Linux TCP_INIT_CWND */
    c->syn_retries = 6;               /* Linux: tcp_syn_retries */
    c->synack_retries = 5;            /* Linux: tcp_synack_retries */
    c->retries2 = 15;                 /* Linux: tcp_retries2 */
    c->ttl = 64;                      /* Linux: ip_default_ttl */
    c->timestamps = true;             /* Linux: tcp_timestamps 1 */
    c->window_scaling = true;         /* Linux: tcp_window_scaling 1 */
    c->sack = true;                   /* Linux: tcp_sack 1 */
    c->dsack = true;                  /* Linux: tcp_dsack 1 */
    c->rfc5961 = true;                /* Linux since 3.6 */
    c->rfc1337 = false;               /* Linux: tcp_rfc1337 0 */
    c->nodelay = false;
    c->tw_reuse = 2; /* Linux 4.19+: tcp_tw_reuse 2 */
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void pm_tcp_stack_init(pm_tcp_stack *st, const pm_tcp_config *cfg, uint64_t seed)
{
    memset(st, 0, sizeof *st);
    if (cfg)
        st->cfg = *cfg;
    else
        pm_tcp_config_default(&st->cfg);
    uint64_t s = seed;
    st->isn_k0 = splitmix(&s);
    st->isn_k1 = splitmix(&s);
    st->ts_k0 = splitmix(&s);
    st->ts_k1 = splitmix(&s);
    for (int i = 0; i < 2; i++) {
        st->cookie_k[i][0] = splitmix(&s);
        st->cookie_k[i][1] = splitmix(&s);
    }
    st->rng = splitmix(&s);
    st->challenge_second = UINT64_MAX;
    /* Linux tcp_select_initial_window(): the smallest scale that lets the
     * window reach the largest receive buffer. */
    uint8_t ws = 0;
    if (st->cfg.window_scaling)
        while (ws < PM_TCP_MAX_WSCALE && ((uint64_t)PM_TCP_MAX_WINDOW << ws) < st->cfg.rmem_max)
            ws++;
    st->rcv_wscale = ws;
}

void pm_tcp_init(pm_tcp *tcb, uint8_t *buf, uint32_t snd_cap, uint32_t rcv_cap)
{
    memset(tcb, 0, sizeof *tcb);
    tcb->snd_buf = buf;
    tcb->snd_cap = buf ? snd_cap : 0;
    tcb->rcv_cap = buf ? rcv_cap : 0;
    tcb->state = PM_TCP_CLOSED;
}

/* ---- ISN and timestamp offset -------------------------------------------- */

static uint64_t hash_tuple(uint64_t k0, uint64_t k1, const pm_tuple *t, uint32_t extra)
{
    uint8_t b[16 + 16 + 2 + 2 + 4];
    memcpy(b, t->laddr.b, 16);
    memcpy(b + 16, t->faddr.b, 16);
    b[32] = (uint8_t)(t->lport >> 8);
    b[33] = (uint8_t)t->lport;
    b[34] = (uint8_t)(t->fport >> 8);
    b[35] = (uint8_t)t->fport;
    memcpy(b + 36, &extra, 4);
    pm_sipkey k = {k0, k1};
    return pm_siphash24(&k, b, sizeof b);
}

uint32_t pm_tcp_isn(const pm_tcp_stack *st, const pm_tuple *t, uint64_t now)
{
    /* RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport,
     * secretkey); M ticks every 4 microseconds. */
    return (uint32_t)hash_tuple(st->isn_k0, st->isn_k1, t, 0) + (uint32_t)(now / 4);
}

uint32_t tcp_ts_off(const pm_tcp_stack *st, const pm_tuple *t)
{
    /* RFC 7323 5.4 / Linux secure_tcp_ts_off(): a per-connection offset
     * so TSval reveals no host clock; keyed on the addresses only. */
    pm_tuple a = *t;
    a.lport = a.fport = 0;
    return (uint32_t)hash_tuple(st->ts_k0, st->ts_k1, &a, 0);
}

void tcp_tuple_from(pm_tuple *t, const pm_ip_repr *ip, const pm_tcp_repr *seg)
{
    memset(t, 0, sizeof *t);
    t->laddr = ip->dst;
    t->faddr = ip->src;
    t->lport = seg->dport;
    t->fport = seg->sport;
    t->proto = PM_IPPROTO_TCP;
}

void tcp_ip_out(const pm_tcp_stack *st, const pm_tuple *t, pm_ip_repr *ip)
{
    memset(ip, 0, sizeof *ip);
    ip->version = pm_ip_is_v4(&t->laddr) ? 4 : 6;
    ip->proto = PM_IPPROTO_TCP;
    ip->ttl = st->cfg.ttl;
    ip->df = true; /* Linux: PMTU discovery on */
    ip->src = t->laddr;
    ip->dst = t->faddr;
}

/* ---- Option negotiation -------------------------------------------------- */

uint16_t tcp_clamp_mss(const pm_tcp_stack *st, const pm_tcp_repr *syn, bool v6)
{
    /* RFC 9293 3.7.1: without the option, 536 (IPv4) or 1220 (IPv6, as
     * Linux tcp_v6_conn_request's IPV6_MIN_MTU - 60). */
    uint32_t dflt = v6 ? 1220 : st->cfg.mss_default;
    uint32_t mss = pm_tcp_has(&syn->opts, PM_TCPOPT_MSS) ? syn->opts.mss : dflt;
    uint16_t local = tcp_local_mss(st, v6);
    if (mss > local) mss = local;
    if (mss < st->cfg.min_snd_mss) mss = st->cfg.min_snd_mss; /* Linux: tcp_min_snd_mss */
    return (uint16_t)mss;
}

void tcp_syn_options(pm_tcp_stack *st, pm_tcp *tcb, const pm_tcp_repr *syn, bool active)
{
    const pm_tcp_opts *o = &syn->opts;
    const pm_tcp_config *c = &st->cfg;
    /* An option is on when we offer it (or would) and the peer sent it. */
    tcb->opts = 0;
    if (c->timestamps && pm_tcp_has(o, PM_TCPOPT_TS)) tcb->opts |= PM_TCPO_TS;
    if (c->sack && pm_tcp_has(o, PM_TCPOPT_SACK_PERM)) tcb->opts |= PM_TCPO_SACK;
    if (c->window_scaling && pm_tcp_has(o, PM_TCPOPT_WSCALE)) {
        tcb->opts |= PM_TCPO_WS;
        /* RFC 7323 2.3: a shift above 14 is used as 14. */
        tcb->snd_wscale = o->wscale > PM_TCP_MAX_WSCALE ? PM_TCP_MAX_WSCALE : o->wscale;
        tcb->rcv_wscale = st->rcv_wscale;
    } else {
        tcb->snd_wscale = tcb->rcv_wscale = 0;
    }
    (void)active;
    uint16_t mss = tcp_clamp_mss(st, syn, tcp_v6(&tcb->tuple));
    if (tcb->user_mss && tcb->user_mss < mss) mss = tcb->user_mss;
    /* Linux tcp_mss_to_mtu(): the MSS counts the timestamp option out. */
    if ((tcb->opts & PM_TCPO_TS) && mss > PM_TCP_TS_LEN + 8) mss -= PM_TCP_TS_LEN;
    tcb->mss = mss;
    if (tcb->opts & PM_TCPO_TS) {
        tcb->ts_recent = o->ts_val;
        tcb->ts_recent_stamp = 0; /* set by the caller with now */
    }
}

/* ---- Timers and RTT (RFC 6298) ------------------------------------------- */

void tcp_arm_timer(pm_tcp *tcb, int kind, uint64_t at)
{
    tcb->timer = (uint8_t)kind & 0xf;
    if (kind != PM_TCP_TIMER_NONE) {
        /* timer_at becomes the delayed ACK's base: it must stay in reach */
        if (tcb->delack_at) {
            int64_t d = (int64_t)(tcp_delack_deadline(tcb) - at);
            if (d != (int32_t)d) {
                tcb->delack_at = 0;
                tcb->flags |= F_ACK_NOW;
            }
        }
        tcb->timer_at = at;
    } else if (!tcb->delack_at)
        tcb->timer_at = 0; /* else it stays the delayed ACK's base */
}

void tcp_delack_arm(pm_tcp *tcb, uint64_t at)
{
    if (tcb->delack_at) return;
    if (tcb->timer == PM_TCP_TIMER_NONE) tcb->timer_at = at;
    int64_t d = (int64_t)(at - tcb->timer_at);
    if (d != (int32_t)d) { /* a timer over 35 minutes away: no room, ACK now */
        tcb->flags |= F_ACK_NOW;
        return;
    }
    tcb->delack_at = (uint32_t)at ? (uint32_t)at : 1;
}

void tcp_rto_reset(pm_tcp_stack *st, pm_tcp *tcb)
{
    const pm_tcp_config *c = &st->cfg;
    uint64_t rto;
    if (tcb->srtt_us == 0) {
        rto = c->rto_initial_us;
    } else {
        /* RFC 6298 2.3 with Linux's floor: RTO = SRTT + max(4*RTTVAR,
         * rto_min) (Linux __tcp_set_rto, tcp_rtt_estimator). */
        uint64_t var = 4ull * tcb->rttvar_us;
        if (var < c->rto_min_us) var = c->rto_min_us;
        rto = tcb->srtt_us + var;
    }
    if (rto > c->rto_max_us) rto = c->rto_max_us;
    tcb->rto_us = (uint32_t)rto;
}

void tcp_rtt_sample(pm_tcp_stack *st, pm_tcp *tcb, uint32_t r)
{
    if (r == 0) r = 1;
    if (tcb->srtt_us == 0) {
        /* RFC 6298 2.2: the first measurement. */
        tcb->srtt_us = r;
        tcb->rttvar_us = r / 2;
    } else {
        /* RFC 6298 2.3: beta 1/4, alpha 1/8. */
        uint32_t d = tcb->srtt_us > r ? tcb->srtt_us - r : r - tcb->srtt_us;
        tcb->rttvar_us = tcb->rttvar_us - tcb->rttvar_us / 4 + d / 4;
        tcb->srtt_us = tcb->srtt_us - tcb->srtt_us / 8 + r / 8;
        if (tcb->srtt_us == 0) tcb->srtt_us = 1;
    }
    tcb->backoff = 0;
    tcp_rto_reset(st, tcb);
}

/* RFC 5961 7 and Linux tcp_send_challenge_ack(): a per-connection limit
 * (tcp_invalid_ratelimit) and a host-wide budget per second, randomised
 * so that it is no side channel (CVE-2016-5696). */
bool tcp_oow_allowed(pm_tcp_stack *st, uint32_t *last_oow_ms, uint64_t now)
{
    uint32_t ms = tcp_ms(now);
    uint32_t lim = st->cfg.invalid_ratelimit_us / 1000;
    if (*last_oow_ms != 0 && (int32_t)(ms - *last_oow_ms) >= 0 &&
        (int32_t)(ms - *last_oow_ms) < (int32_t)lim) {
        st->stats.oow_acks_limited++;
        return false;
    }
    *last_oow_ms = ms ? ms : 1;
    return true;
}

bool tcp_challenge_allowed(pm_tcp_stack *st, uint32_t *last_oow_ms, uint64_t now)
{
    if (!tcp_oow_allowed(st, last_oow_ms, now)) return false;
    uint64_t sec = now / 1000000;
    if (sec != st->challenge_second) {
        uint32_t lim = st->cfg.challenge_ack_limit;
        uint32_t half = (lim + 1) / 2;
        st->challenge_second = sec;
        uint64_t left = half + (lim ? splitmix(&st->rng) % lim : 0);
        st->challenge_left = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
    }
    if (st->challenge_left == 0) {
        st->stats.challenge_acks_limited++;
        return false;
    }
    st->challenge_left--;
    st->stats.challenge_acks++;
    return true;
}

/* ---- States --------------------------------------------------------------- */

void tcp_set_state(pm_tcp *tcb, int state)
{
    tcb->state = (uint8_t)state;
    if (state == PM_TCP_CLOSED) {
        tcb->timer = PM_TCP_TIMER_NONE;
        tcb->timer_at = 0;
        tcb->delack_at = 0;
        tcb->flags &= (uint16_t) ~(F_ACK_NOW | F_FASTRXT | F_PROBE | F_FORCE);
    }
}

void tcp_enter_time_wait(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now)
{
    tcp_set_state(tcb, PM_TCP_TIME_WAIT);
    /* RFC 9293 3.10.7.4: the 2 MSL timer. */
    tcp_arm_timer(tcb, PM_TCP_TIMER_TIME_WAIT, now + 2ull * st->cfg.msl_us);
    tcb->delack_at = 0;
}

static uint32_t initial_ssthresh(void)
{
    return PM_TCP_INF_SSTHRESH;
}

static void tcb_open_common(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now)
{
    tcb->snd_una = tcb->snd_nxt = tcb->snd_max = tcb->iss;
    tcb->cwnd = 0; /* set once the MSS is known */
    tcb->ssthresh = initial_ssthresh();
    tcb->srtt_us = tcb->rttvar_us = 0;
    tcp_rto_reset(st, tcb);
    tcb->ts_off = tcp_ts_off(st, &tcb->tuple);
    if (st->cfg.nodelay) tcb->flags |= F_NODELAY;
    (void)now;
}

static void init_cwnd(pm_tcp_stack *st, pm_tcp *tcb)
{
    /* RFC 6928 / Linux tcp_init_cwnd(): 10 segments. */
    tcb->cwnd = (uint32_t)st->cfg.init_cwnd * tcb->mss;
}

int pm_tcp_connect(pm_tcp_stack *st, pm_tcp *tcb, const pm_tuple *t, uint32_t isn, uint64_t now)
{
    if (tcb->state == PM_TCP_SYN_SENT) return -EALREADY;
    if (tcb->state != PM_TCP_CLOSED) return -EISCONN;
    uint16_t flags = tcb->flags & F_NODELAY;
    uint16_t user_mss = tcb->user_mss;
    pm_tcp_release(st, tcb);
    pm_tcp_init(tcb, tcb->snd_buf, tcb->snd_cap, tcb->rcv_cap);
    tcb->flags = flags;
    tcb->user_mss = user_mss;
    tcb->tuple = *t;
    tcb->tuple.proto = PM_IPPROTO_TCP;
    tcb->iss = isn ? isn : pm_tcp_isn(st, t, now);
    tcb_open_common(st, tcb, now);
    /* The MSS we announce bounds our estimate until the SYN-ACK. */
    tcb->mss = tcb->user_mss && tcb->user_mss < tcp_local_mss(st, tcp_v6(t))
                   ? tcb->user_mss
                   : tcp_local_mss(st, tcp_v6(t));
    tcp_set_state(tcb, PM_TCP_SYN_SENT);
    return 0;
}

int pm_tcp_listen_classify(const pm_tcp_repr *seg)
{
    /* RFC 9293 3.10.7.2: in LISTEN, a RST is ignored, an ACK gets a RST, a
     * SYN opens. A SYN+ACK is an ACK first. */
    if (seg->flags & PM_TH_RST) return PM_TCP_LISTEN_DROP;
    if (seg->flags & PM_TH_ACK) {
        if (seg->flags & PM_TH_SYN) return PM_TCP_LISTEN_RST;
        return PM_TCP_LISTEN_ACK;
    }
    if (seg->flags & PM_TH_SYN) {
        if (seg->flags & PM_TH_FIN) return PM_TCP_LISTEN_DROP; /* Linux drops SYN+FIN */
        return PM_TCP_LISTEN_SYN;
    }
    return PM_TCP_LISTEN_DROP;
}

int pm_tcp_accept_syn(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip, const pm_tcp_repr *syn,
                      uint32_t isn, uint64_t now)
{
    if (pm_tcp_listen_classify(syn) != PM_TCP_LISTEN_SYN) return -EINVAL;
    if (tcb->state != PM_TCP_CLOSED) return -EISCONN;
    uint16_t flags = tcb->flags & F_NODELAY;
    uint16_t user_mss = tcb->user_mss;
    pm_tcp_release(st, tcb);
    pm_tcp_init(tcb, tcb->snd_buf, tcb->snd_cap, tcb->rcv_cap);
    tcb->flags = flags | F_PASSIVE;
    tcb->user_mss = user_mss;
    tcp_tuple_from(&tcb->tuple, ip, syn);
    tcb->iss = isn ? isn : pm_tcp_isn(st, &tcb->tuple, now);
    tcb_open_common(st, tcb, now);
    /* RFC 9293 3.10.7.2: RCV.NXT = SEG.SEQ+1, IRS = SEG.SEQ. Data on a SYN
     * is not queued (Linux without Fast Open); the peer resends it. */
    tcb->rcv_nxt = tcb->rcv_wup = syn->seq + 1;
    tcp_syn_options(st, tcb, syn, false);
    if (tcb->opts & PM_TCPO_TS) tcb->ts_recent_stamp = (uint32_t)(now / 1000000);
    tcb->snd_wnd = syn->window; /* RFC 7323 2.2: never scaled on a SYN */
    tcb->max_snd_wnd = tcb->snd_wnd;
    tcb->snd_wl1 = syn->seq;
    init_cwnd(st, tcb);
    tcp_set_state(tcb, PM_TCP_SYN_RCVD);
    return 0;
}

unsigned pm_tcp_accept_cookie(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip,
                              const pm_tcp_repr *ack, const pm_tcp_synopts *so, uint64_t now)
{
    uint16_t flags = tcb->flags & F_NODELAY;
    uint16_t user_mss = tcb->user_mss;
    pm_tcp_release(st, tcb);
    pm_tcp_init(tcb, tcb->snd_buf, tcb->snd_cap, tcb->rcv_cap);
    tcb->flags = flags | F_PASSIVE;
    tcb->user_mss = user_mss;
    tcp_tuple_from(&tcb->tuple, ip, ack);
    tcb->iss = ack->ack - 1;
    tcb_open_common(st, tcb, now);
    tcb->snd_una = tcb->snd_nxt = tcb->snd_max = ack->ack;
    tcb->rcv_nxt = tcb->rcv_wup = ack->seq;
    tcb->opts = so->opts;
    if (so->opts & PM_TCPO_WS) {
        tcb->snd_wscale = so->wscale;
        tcb->rcv_wscale = st->rcv_wscale;
    }
    uint16_t mss = so->mss;
    if (tcb->user_mss && tcb->user_mss < mss) mss = tcb->user_mss;
    if ((tcb->opts & PM_TCPO_TS) && mss > PM_TCP_TS_LEN + 8) mss -= PM_TCP_TS_LEN;
    tcb->mss = mss;
    if (tcb->opts & PM_TCPO_TS) {
        tcb->ts_recent = so->ts_val;
        tcb->ts_recent_stamp = (uint32_t)(now / 1000000);
    }
    /* The window our SYN-ACK announced was unscaled and at most 65535. */
    tcb->rcv_wnd = tcp_syn_window(st, st->cfg.rmem_default, tcp_v6(&tcb->tuple));
    tcb->snd_wnd = (uint32_t)ack->window << tcb->snd_wscale;
    tcb->max_snd_wnd = tcb->snd_wnd;
    tcb->snd_wl1 = ack->seq;
    init_cwnd(st, tcb);
    tcp_set_state(tcb, PM_TCP_ESTABLISHED);
    unsigned ev = PM_TCP_EV_CONNECTED;
    /* The ACK's data and FIN go through the established path. */
    if (ack->payload_len || (ack->flags & PM_TH_FIN)) ev |= pm_tcp_input(st, tcb, ip, ack, now);
    return ev;
}

/* ---- Application calls ---------------------------------------------------- */

uint32_t pm_tcp_readable(const pm_tcp *tcb)
{
    return tcb->rcv_len;
}

uint32_t pm_tcp_writable(const pm_tcp *tcb)
{
    return tcb->snd_cap - tcb->snd_len;
}

bool pm_tcp_eof(const pm_tcp *tcb)
{
    return (tcb->flags & F_FIN_RCVD) != 0;
}

int pm_tcp_error(pm_tcp *tcb)
{
    int e = tcb->err;
    tcb->err = 0;
    return -e;
}

uint32_t pm_tcp_reopen_isn(const pm_tcp *tcb)
{
    return tcb->rst_seq;
}

void pm_tcp_set_nodelay(pm_tcp *tcb, bool on)
{
    if (on)
        tcb->flags |= F_NODELAY;
    else
        tcb->flags &= (uint16_t)~F_NODELAY;
    if (on) tcb->flags |= F_FORCE; /* Linux: setting TCP_NODELAY pushes pending data */
}

int pm_tcp_set_maxseg(pm_tcp *tcb, int mss)
{
    /* Linux do_tcp_setsockopt(TCP_MAXSEG): 0 resets; else 88..65535
     * (TCP_MIN_MSS .. MAX_TCP_WINDOW). */
    if (mss != 0 && (mss < 88 || mss > 65535)) return -EINVAL;
    tcb->user_mss = (uint16_t)mss;
    return 0;
}

long pm_tcp_send(pm_tcp_stack *st, pm_tcp *tcb, const void *data, size_t len, uint64_t now)
{
    (void)st;
    (void)now;
    if (tcb->err) return pm_tcp_error(tcb);
    if (tcb->flags & F_FIN_QUEUED) return -EPIPE;
    switch (tcb->state) {
    case PM_TCP_ESTABLISHED:
    case PM_TCP_CLOSE_WAIT: break;
    case PM_TCP_SYN_SENT:
    case PM_TCP_SYN_RCVD: return -EAGAIN; /* Linux: sk_stream_wait_connect, non-blocking */
    case PM_TCP_CLOSED:
    case PM_TCP_LISTEN: return -ENOTCONN;
    default: return -EPIPE;
    }
    uint32_t room = tcb->snd_cap - tcb->snd_len;
    if (room == 0) return -EAGAIN;
    uint32_t n = len < room ? (uint32_t)len : room;
    uint32_t pos = (tcb->snd_head + tcb->snd_len) % tcb->snd_cap;
    uint32_t first = tcb->snd_cap - pos < n ? tcb->snd_cap - pos : n;
    memcpy(tcb->snd_buf + pos, data, first);
    memcpy(tcb->snd_buf, (const uint8_t *)data + first, n - first);
    tcb->snd_len += n;
    return n;
}

long pm_tcp_recv(pm_tcp_stack *st, pm_tcp *tcb, void *data, size_t len, uint64_t now)
{
    (void)now;
    if (tcb->rcv_len == 0) {
        if (tcb->err) return pm_tcp_error(tcb);
        if (tcb->flags & (F_FIN_RCVD | F_SHUT_RD)) return 0;
        if (tcb->state == PM_TCP_CLOSED) return 0; /* after a reset reported */
        if (tcb->state == PM_TCP_LISTEN) return -ENOTCONN;
        return -EAGAIN;
    }
    uint32_t n = len < tcb->rcv_len ? (uint32_t)len : tcb->rcv_len;
    uint32_t first = tcb->rcv_cap - tcb->rcv_head < n ? tcb->rcv_cap - tcb->rcv_head : n;
    memcpy(data, tcp_rcv_buf(tcb) + tcb->rcv_head, first);
    memcpy((uint8_t *)data + first, tcp_rcv_buf(tcb), n - first);
    uint32_t before = tcb->rcv_wup + tcb->rcv_wnd - tcb->rcv_nxt;
    tcb->rcv_head = (tcb->rcv_head + n) % tcb->rcv_cap;
    tcb->rcv_len -= n;
    /* Linux tcp_cleanup_rbuf(): a window update when reading at least
     * doubles the window the peer sees and that window was small. */
    if (tcb->state >= PM_TCP_ESTABLISHED && !(tcb->flags & F_FIN_RCVD)) {
        uint32_t now_wnd = tcp_rcv_space(tcb);
        uint32_t clamp = tcb->rcv_cap;
        if ((int32_t)before < 0) before = 0;
        if (2 * before <= clamp && now_wnd >= 2 * before && now_wnd - before >= tcb->mss)
            tcb->flags |= F_ACK_NOW;
    }
    (void)st;
    return n;
}

/* Queues our FIN (RFC 9293 3.10.4 CLOSE, and shutdown(SHUT_WR)). */
static unsigned queue_fin(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now)
{
    (void)st;
    (void)now;
    switch (tcb->state) {
    case PM_TCP_SYN_RCVD:
    case PM_TCP_ESTABLISHED:
        tcb->flags |= F_FIN_QUEUED;
        tcp_set_state(tcb, PM_TCP_FIN_WAIT_1);
        break;
    case PM_TCP_CLOSE_WAIT:
        tcb->flags |= F_FIN_QUEUED;
        tcp_set_state(tcb, PM_TCP_LAST_ACK);
        break;
    default: break;
    }
    return 0;
}

static unsigned abort_conn(pm_tcp_stack *st, pm_tcp *tcb)
{
    /* Linux tcp_disconnect()/tcp_send_active_reset(): <SEQ=SND.NXT><CTL=RST,ACK>
     * from a synchronized state; nothing from SYN_SENT or CLOSED. */
    st->stats.aborts++;
    if (tcb->state != PM_TCP_CLOSED && tcb->state != PM_TCP_LISTEN &&
        tcb->state != PM_TCP_SYN_SENT && tcb->state != PM_TCP_TIME_WAIT)
        tcb->flags |= F_RST_ABORT;
    tcp_set_state(tcb, PM_TCP_CLOSED);
    tcb->flags |= F_ORPHAN;
    return PM_TCP_EV_CLOSED;
}

static int shutdown_conn(pm_tcp_stack *st, pm_tcp *tcb, int how, uint64_t now)
{
    if (how < PM_SHUT_RD || how > PM_SHUT_RDWR) return -EINVAL;
    /* Linux inet_shutdown(): -ENOTCONN unless connected or connecting. */
    if (tcb->state == PM_TCP_CLOSED || tcb->state == PM_TCP_LISTEN) return -ENOTCONN;
    if (how == PM_SHUT_RD || how == PM_SHUT_RDWR) tcb->flags |= F_SHUT_RD;
    if (how == PM_SHUT_WR || how == PM_SHUT_RDWR) {
        if (tcb->state == PM_TCP_SYN_SENT) {
            /* Linux tcp_shutdown(): nothing to send yet; close it. */
            tcp_set_state(tcb, PM_TCP_CLOSED);
            return 0;
        }
        queue_fin(st, tcb, now);
    }
    return 0;
}

int pm_tcp_shutdown(pm_tcp_stack *st, pm_tcp *tcb, int how, uint64_t now)
{
    int r = shutdown_conn(st, tcb, how, now);
    tcp_ext_trim(st, tcb);
    return r;
}

static unsigned close_conn(pm_tcp_stack *st, pm_tcp *tcb, bool linger_abort, uint64_t now)
{
    tcb->flags |= F_ORPHAN | F_SHUT_RD;
    switch (tcb->state) {
    case PM_TCP_CLOSED:
    case PM_TCP_LISTEN:
    case PM_TCP_SYN_SENT:
        /* RFC 9293 3.10.4: delete the TCB. */
        tcp_set_state(tcb, PM_TCP_CLOSED);
        return PM_TCP_EV_CLOSED;
    case PM_TCP_TIME_WAIT:
        if (linger_abort) {
            tcp_set_state(tcb, PM_TCP_CLOSED);
            return PM_TCP_EV_CLOSED;
        }
        return 0;
    default: break;
    }
    /* Linux tcp_close(): unread data, or SO_LINGER {1,0}, aborts with a
     * RST (RFC 2525 2.17) and skips TIME_WAIT. */
    if (linger_abort || tcb->rcv_len > 0) return abort_conn(st, tcb);
    queue_fin(st, tcb, now);
    if (tcb->state == PM_TCP_FIN_WAIT_2 && tcb->timer == PM_TCP_TIMER_NONE)
        tcp_arm_timer(tcb, PM_TCP_TIMER_FIN_WAIT_2, now + st->cfg.fin_timeout_us);
    return 0;
}

unsigned pm_tcp_close(pm_tcp_stack *st, pm_tcp *tcb, bool linger_abort, uint64_t now)
{
    unsigned ev = close_conn(st, tcb, linger_abort, now);
    tcp_ext_trim(st, tcb); /* ended (CLOSED): the record goes back */
    return ev;
}

uint32_t tcp_rcv_space(const pm_tcp *tcb)
{
    return tcb->rcv_cap - tcb->rcv_len;
}
