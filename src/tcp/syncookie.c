/* SYN cookies (RFC 4987 3.6), laid out as Linux's (net/ipv4/syncookies.c):
 * ISN = H0(4-tuple) + SEG.SEQ + (minute << 24) + ((H1(4-tuple, minute) +
 * mss index) mod 2^24), and with timestamps the peer's window scale and
 * SACK-permitted in TSval's low 6 bits. H0, H1: keyed SipHash. */
#include <string.h>

#include "base/siphash.h"
#include "tcp/tcp_internal.h"

#define COOKIEBITS 24
#define COOKIEMASK ((1u << COOKIEBITS) - 1)
#define TSBITS     6
#define TSMASK     ((1u << TSBITS) - 1)
#define TS_WS_NONE 0xfu
#define TS_SACK    (1u << 4)
#define MAX_AGE    2 /* minutes: Linux MAX_SYNCOOKIE_AGE */

static const uint16_t msstab[4] = {536, 1300, 1440, 1460}; /* Linux msstab[] */

static uint32_t minute(uint64_t now)
{
    return (uint32_t)(now / 60000000ull); /* Linux tcp_cookie_time() */
}

static uint32_t cookie_hash(const pm_tcp_stack *st, const pm_tuple *t, uint32_t count, int c)
{
    uint8_t b[16 + 16 + 4 + 4];
    memcpy(b, t->laddr.b, 16);
    memcpy(b + 16, t->faddr.b, 16);
    uint32_t ports = (uint32_t)t->fport << 16 | t->lport;
    memcpy(b + 32, &ports, 4);
    memcpy(b + 36, &count, 4);
    pm_sipkey k = {st->cookie_k[c][0], st->cookie_k[c][1]};
    return (uint32_t)pm_siphash24(&k, b, sizeof b);
}

uint32_t pm_tcp_cookie_make(const pm_tcp_stack *st, const pm_tuple *t, uint32_t peer_seq,
                            uint16_t peer_mss, uint64_t now)
{
    uint32_t ind = 3;
    while (ind > 0 && peer_mss < msstab[ind]) ind--;
    uint32_t count = minute(now);
    return cookie_hash(st, t, 0, 0) + peer_seq + (count << COOKIEBITS) +
           ((cookie_hash(st, t, count, 1) + ind) & COOKIEMASK);
}

int pm_tcp_cookie_decode(const pm_tcp_stack *st, const pm_tuple *t, uint32_t peer_seq,
                         uint32_t cookie, uint64_t now)
{
    uint32_t count = minute(now);
    cookie -= cookie_hash(st, t, 0, 0) + peer_seq;
    uint32_t diff = (count - (cookie >> COOKIEBITS)) & (0xffffffffu >> COOKIEBITS);
    if (diff >= MAX_AGE) return -1;
    uint32_t data = (cookie - cookie_hash(st, t, count - diff, 1)) & COOKIEMASK;
    return data < 4 ? (int)data : -1;
}

/* Linux cookie_init_timestamp(). */
static uint32_t cookie_ts(uint64_t now, uint32_t options)
{
    uint32_t ts_now = tcp_ts_now(now);
    uint32_t ts = (ts_now & ~TSMASK) | options;
    if ((int32_t)(ts - ts_now) > 0) ts -= 1u << TSBITS;
    return ts;
}

void pm_tcp_cookie_reply(pm_tcp_stack *st, const pm_ip_repr *ip, const pm_tcp_repr *syn,
                         uint64_t now, pm_ip_repr *oip, pm_tcp_repr *oseg)
{
    const pm_tcp_config *c = &st->cfg;
    pm_tuple t;
    tcp_tuple_from(&t, ip, syn);
    uint16_t peer_mss = tcp_clamp_mss(st, syn, tcp_v6(&t));
    tcp_ip_out(st, &t, oip);
    memset(oseg, 0, sizeof *oseg);
    oseg->sport = t.lport;
    oseg->dport = t.fport;
    oseg->seq = pm_tcp_cookie_make(st, &t, syn->seq, peer_mss, now);
    oseg->ack = syn->seq + 1;
    oseg->flags = PM_TH_SYN | PM_TH_ACK;
    oseg->window = (uint16_t)tcp_syn_window(st, c->rmem_default, tcp_v6(&t));
    pm_tcp_opts *o = &oseg->opts;
    o->present |= 1u << PM_TCPOPT_MSS;
    o->mss = tcp_local_mss(st, tcp_v6(&t));
    /* Linux tcp_conn_request(): without timestamps a cookie carries no
     * options, so none are offered. */
    if (c->timestamps && pm_tcp_has(&syn->opts, PM_TCPOPT_TS)) {
        uint32_t opt = TS_WS_NONE;
        if (c->window_scaling && pm_tcp_has(&syn->opts, PM_TCPOPT_WSCALE)) {
            opt = syn->opts.wscale > PM_TCP_MAX_WSCALE ? PM_TCP_MAX_WSCALE : syn->opts.wscale;
            o->present |= 1u << PM_TCPOPT_WSCALE;
            o->wscale = st->rcv_wscale;
        }
        if (c->sack && pm_tcp_has(&syn->opts, PM_TCPOPT_SACK_PERM)) {
            opt |= TS_SACK;
            o->present |= 1u << PM_TCPOPT_SACK_PERM;
        }
        o->present |= 1u << PM_TCPOPT_TS;
        o->ts_val = cookie_ts(now, opt) + tcp_ts_off(st, &t);
        o->ts_ecr = syn->opts.ts_val;
    }
    st->stats.cookies_sent++;
    st->stats.segs_out++;
}

int pm_tcp_cookie_check(pm_tcp_stack *st, const pm_ip_repr *ip, const pm_tcp_repr *ack,
                        uint64_t now, pm_tcp_synopts *out)
{
    const pm_tcp_config *c = &st->cfg;
    if ((ack->flags & (PM_TH_ACK | PM_TH_SYN | PM_TH_RST)) != PM_TH_ACK) return -EINVAL;
    pm_tuple t;
    tcp_tuple_from(&t, ip, ack);
    int ind = pm_tcp_cookie_decode(st, &t, ack->seq - 1, ack->ack - 1, now);
    if (ind < 0) {
        st->stats.cookies_bad++;
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->mss = msstab[ind];
    if (c->timestamps && pm_tcp_has(&ack->opts, PM_TCPOPT_TS)) {
        /* Linux cookie_timestamp_decode(). */
        uint32_t opt = (ack->opts.ts_ecr - tcp_ts_off(st, &t)) & TSMASK;
        if ((opt & TS_WS_NONE) != TS_WS_NONE) {
            if (!c->window_scaling || (opt & TS_WS_NONE) > PM_TCP_MAX_WSCALE) goto bad;
            out->opts |= PM_TCPO_WS;
            out->wscale = (uint8_t)(opt & TS_WS_NONE);
        }
        if (opt & TS_SACK) {
            if (!c->sack) goto bad;
            out->opts |= PM_TCPO_SACK;
        }
        out->opts |= PM_TCPO_TS;
        out->ts_val = ack->opts.ts_val;
    }
    st->stats.cookies_ok++;
    return 0;
bad:
    st->stats.cookies_bad++;
    return -EINVAL;
}
