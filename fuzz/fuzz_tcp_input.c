/* Two TCBs wired together; the input bytes are a script: deliver, drop,
 * duplicate or reorder their segments, forge segments relative to their
 * sequence numbers, call the API (send, recv, shutdown, close, linger
 * abort), and move time. After every step the invariants hold: a valid
 * state, SND.UNA <= SND.NXT <= SND.MAX, ring accounting, out-of-order
 * islands inside the window, timers consistent with the state, and the
 * bytes each side reads are the bytes the other wrote (until a forged
 * segment carries data, which TCP cannot tell from the peer's). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define QCAP          32

typedef struct qseg {
    pm_ip_repr ip;
    pm_tcp_repr t;
    uint8_t data[600];
} qseg;

typedef struct end {
    pm_tcp tcb;
    uint8_t ring[6000]; /* send ring, then receive ring */
    uint64_t wrote, read;
    qseg q[QCAP]; /* segments on their way to the other end */
    int nq;
} end;

static struct {
    const uint8_t *p;
    size_t n;
} in;

static uint8_t u8(void)
{
    if (!in.n) return 0;
    in.n--;
    return *in.p++;
}

static uint32_t u32(void)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | u8();
    return v;
}

static pm_tcp_stack st;
static pm_tcp_ext ext_pool[2];

static void check(const pm_tcp *t)
{
    if (t->state >= PM_TCP_STATE_COUNT) abort();
    if (!SEQ_LEQ(t->snd_una, t->snd_nxt) || !SEQ_LEQ(t->snd_nxt, t->snd_max)) abort();
    if (t->snd_len > t->snd_cap || t->rcv_len > t->rcv_cap) abort();
    if (t->snd_cap && t->snd_head >= t->snd_cap) abort();
    if (t->rcv_cap && t->rcv_head >= t->rcv_cap) abort();
    const pm_tcp_ext *x = pm_tcp_ext_of(&st, t);
    /* an ended connection holds no extension record */
    if (t->ext && (t->state == PM_TCP_CLOSED || t->state == PM_TCP_TIME_WAIT)) abort();
    if (t->ext && !x) abort();
    uint32_t prev_end = 0;
    for (int i = 0; x && i < PM_TCP_OOO_RANGES; i++) {
        if (!x->ooo[i].len) {
            for (int j = i; j < PM_TCP_OOO_RANGES; j++)
                if (x->ooo[j].len) abort();
            break;
        }
        if (i && x->ooo[i].off <= prev_end) abort(); /* sorted, apart */
        prev_end = x->ooo[i].off + x->ooo[i].len;
        if (prev_end > t->rcv_cap - t->rcv_len) abort();
    }
    if (t->state == PM_TCP_CLOSED && t->timer != PM_TCP_TIMER_NONE) abort();
    if (t->state == PM_TCP_TIME_WAIT && t->timer != PM_TCP_TIMER_TIME_WAIT) abort();
    if ((t->state == PM_TCP_ESTABLISHED || t->state == PM_TCP_CLOSE_WAIT) && t->mss == 0) abort();
}

static end E[2];

/* Every record in use is held by exactly one TCB (none leaked). */
static void check_pool(void)
{
    uint32_t a = E[0].tcb.ext, b = E[1].tcb.ext;
    if ((a != 0) + (b != 0) != st.stats.ext_in_use) abort();
    if (a && a == b) abort();
}
static bool forged_data;
static uint64_t now;

static uint8_t pattern(int who, uint64_t off)
{
    return (uint8_t)((off * 131u + (uint64_t)who * 7u) ^ (off >> 8));
}

static void pull(int i)
{
    end *e = &E[i];
    for (int guard = 0; guard < 64; guard++) {
        qseg tmp;
        int r = pm_tcp_output(&st, &e->tcb, now, &tmp.ip, &tmp.t, tmp.data, sizeof tmp.data);
        if (r <= 0) break;
        const pm_tcp *t = &e->tcb;
        if (tmp.t.payload_len > sizeof tmp.data) abort();
        if (tmp.t.payload_len > t->mss && t->mss) abort();
        if (!(tmp.t.flags & PM_TH_RST) && (tmp.t.flags & PM_TH_SYN) == 0 && tmp.t.payload_len &&
            !SEQ_LEQ(tmp.t.seq + (uint32_t)tmp.t.payload_len, t->snd_max))
            abort();
        if (e->nq < QCAP) {
            e->q[e->nq] = tmp;
            e->q[e->nq].t.payload = e->q[e->nq].data;
            e->nq++;
        }
    }
    check(&e->tcb);
}

static void deliver(int from, int k, bool keep)
{
    end *s = &E[from];
    if (!s->nq) return;
    k %= s->nq;
    qseg seg = s->q[k];
    seg.t.payload = seg.data;
    if (!keep) {
        memmove(&s->q[k], &s->q[k + 1], (size_t)(s->nq - k - 1) * sizeof s->q[0]);
        s->nq--;
        for (int j = 0; j < s->nq; j++) s->q[j].t.payload = s->q[j].data;
    }
    end *d = &E[1 - from];
    if (d->tcb.state == PM_TCP_CLOSED && !(seg.t.flags & PM_TH_ACK) && (seg.t.flags & PM_TH_SYN) &&
        d->tcb.iss == 0) {
        (void)pm_tcp_accept_syn(&st, &d->tcb, &seg.ip, &seg.t, 0, now);
    } else {
        (void)pm_tcp_input(&st, &d->tcb, &seg.ip, &seg.t, now);
    }
    check(&d->tcb);
    pull(1 - from);
}

static void app_read(int i)
{
    uint8_t buf[1024];
    long r = pm_tcp_recv(&st, &E[i].tcb, buf, u8() * 4u + 1u, now);
    if (r < 0 && r != -EAGAIN && r != -ECONNRESET && r != -ETIMEDOUT && r != -ECONNREFUSED &&
        r != -EPIPE && r != -ENOTCONN)
        abort();
    for (long j = 0; j < r; j++) {
        if (!forged_data && buf[j] != pattern(1 - i, E[i].read + (uint64_t)j)) abort();
    }
    if (r > 0) E[i].read += (uint64_t)r;
    if (!forged_data && E[i].read > E[1 - i].wrote) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    in.p = data;
    in.n = size;
    pm_tcp_config c;
    pm_tcp_config_default(&c);
    uint8_t knobs = u8();
    c.rfc5961 = !(knobs & 1);
    c.rfc1337 = knobs & 2;
    c.timestamps = !(knobs & 4);
    c.window_scaling = !(knobs & 8);
    c.sack = !(knobs & 16);
    c.mss_local = (uint16_t)(100 + (knobs >> 5) * 60);
    c.invalid_ratelimit_us = 0;
    pm_tcp_stack_init(&st, &c, 1);
    pm_tcp_stack_set_ext(&st, ext_pool, (knobs >> 5) % 3u); /* 0, 1 or 2: fallbacks too */
    memset(E, 0, sizeof E);
    forged_data = false;
    now = 1000000000ull;
    for (int i = 0; i < 2; i++) pm_tcp_init(&E[i].tcb, E[i].ring, 3000, 3000);
    pm_tuple t = {.lport = 1234, .fport = 80, .proto = PM_IPPROTO_TCP};
    t.laddr = pm_ip4(0x7f000001);
    t.faddr = pm_ip4(0x7f000002);
    pm_tuple r = {.lport = 80, .fport = 1234, .proto = PM_IPPROTO_TCP};
    r.laddr = t.faddr;
    r.faddr = t.laddr;
    (void)pm_tcp_connect(&st, &E[0].tcb, &t, u32(), now);
    if (knobs & 0x80) (void)pm_tcp_connect(&st, &E[1].tcb, &r, u32(), now); /* simultaneous */
    pull(0);
    pull(1);
    int steps = 0;
    while (in.n && steps++ < 2000) {
        uint8_t op = u8();
        int i = op & 1;
        end *e = &E[i];
        switch ((op >> 1) % 13) {
        case 0:
        case 1:
        case 2: deliver(i, u8(), false); break;
        case 3: deliver(i, u8(), true); break; /* duplicate */
        case 4:                                /* drop */
            if (e->nq) {
                int k = u8() % e->nq;
                memmove(&e->q[k], &e->q[k + 1], (size_t)(e->nq - k - 1) * sizeof e->q[0]);
                e->nq--;
                for (int j = 0; j < e->nq; j++) e->q[j].t.payload = e->q[j].data;
            }
            break;
        case 5: { /* write */
            uint8_t buf[1024];
            uint32_t n = u8() * 4u + 1u;
            for (uint32_t j = 0; j < n; j++) buf[j] = pattern(i, e->wrote + j);
            long w = pm_tcp_send(&st, &e->tcb, buf, n, now);
            if (w > 0) e->wrote += (uint64_t)w;
            if (w > (long)n) abort();
            pull(i);
            break;
        }
        case 6:
            app_read(i);
            pull(i);
            break;
        case 7: {
            uint8_t k = u8();
            if (k < 200)
                (void)pm_tcp_shutdown(&st, &e->tcb, k % 3, now);
            else
                (void)pm_tcp_close(&st, &e->tcb, k > 240, now);
            pull(i);
            break;
        }
        case 8: { /* time passes: run the timers that are due */
            uint64_t d = pm_tcp_next_deadline(&e->tcb);
            uint64_t step = (uint64_t)u8() * 10000;
            if (d != UINT64_MAX && (u8() & 1)) step = d > now ? d - now : 0;
            now += step;
            for (int j = 0; j < 2; j++) {
                if (pm_tcp_next_deadline(&E[j].tcb) <= now) (void)pm_tcp_timer(&st, &E[j].tcb, now);
                check(&E[j].tcb);
                pull(j);
            }
            break;
        }
        case 9:
        case 10: { /* a forged segment, near the receiver's numbers */
            pm_tcp *v = &E[1 - i].tcb;
            pm_tcp_repr s;
            memset(&s, 0, sizeof s);
            s.sport = v->tuple.fport;
            s.dport = v->tuple.lport;
            s.flags = (uint16_t)(u8() & 0x3f);
            int32_t ds = (int8_t)u8() * (int32_t)(1 + u8());
            int32_t da = (int8_t)u8() * (int32_t)(1 + u8());
            s.seq = v->rcv_nxt + (uint32_t)ds;
            s.ack = v->snd_una + (uint32_t)da;
            s.window = (uint16_t)(u8() << 8 | u8());
            uint8_t o = u8();
            if (o & 1) {
                s.opts.present |= 1u << PM_TCPOPT_TS;
                s.opts.ts_val = v->ts_recent + (uint32_t)(int8_t)u8();
                s.opts.ts_ecr = u32();
            }
            if (o & 2) {
                s.opts.present |= 1u << PM_TCPOPT_MSS;
                s.opts.mss = (uint16_t)(u8() << 8 | u8());
            }
            if (o & 4) {
                s.opts.present |= 1u << PM_TCPOPT_WSCALE;
                s.opts.wscale = u8();
            }
            static uint8_t junk[700];
            s.payload = junk;
            s.payload_len = (o & 8) ? u8() * 2u : 0;
            if (s.payload_len) forged_data = true;
            pm_ip_repr ip = {.version = 4,
                             .proto = PM_IPPROTO_TCP,
                             .src = v->tuple.faddr,
                             .dst = v->tuple.laddr};
            (void)pm_tcp_input(&st, v, &ip, &s, now);
            check(v);
            pull(1 - i);
            break;
        }
        case 11: { /* a SYN cookie round trip with random options */
            pm_ip_repr ip = {.version = 4, .proto = PM_IPPROTO_TCP, .src = t.faddr, .dst = t.laddr};
            pm_tcp_repr syn;
            memset(&syn, 0, sizeof syn);
            syn.sport = 999;
            syn.dport = 80;
            syn.flags = PM_TH_SYN;
            syn.seq = u32();
            uint8_t o = u8();
            syn.opts.present = (uint32_t)(o & 0x1e) << 1; /* MSS, WS, SACK-perm, ... */
            if (o & 1) syn.opts.present |= 1u << PM_TCPOPT_TS;
            syn.opts.mss = (uint16_t)(u8() << 4);
            syn.opts.wscale = u8();
            syn.opts.ts_val = u32();
            pm_ip_repr oip;
            pm_tcp_repr sa;
            pm_tcp_cookie_reply(&st, &ip, &syn, now, &oip, &sa);
            if (sa.ack != syn.seq + 1 || sa.flags != (PM_TH_SYN | PM_TH_ACK)) abort();
            pm_tcp_repr ack;
            memset(&ack, 0, sizeof ack);
            ack.sport = 999;
            ack.dport = 80;
            ack.flags = PM_TH_ACK;
            ack.seq = syn.seq + 1;
            ack.ack = sa.seq + 1;
            if (pm_tcp_has(&sa.opts, PM_TCPOPT_TS)) {
                ack.opts.present = 1u << PM_TCPOPT_TS;
                ack.opts.ts_val = syn.opts.ts_val + 1;
                ack.opts.ts_ecr = sa.opts.ts_val;
            }
            uint8_t mut = u8();
            pm_tcp_synopts so;
            int rc = pm_tcp_cookie_check(&st, &ip, &ack, now + (mut & 7) * 1000000ull, &so);
            if (rc != 0) abort(); /* a genuine cookie within seconds is valid */
            if (so.mss > 1460 || so.mss < 536) abort();
            if ((so.opts & PM_TCPO_WS) && so.wscale > 14) abort();
            if (mut & 8) ack.ack ^= 1u << (mut >> 4 & 15); /* forged: most fail */
            if (pm_tcp_cookie_check(&st, &ip, &ack, now, &so) == 0) {
                pm_tcp x;
                static uint8_t xring[4000];
                pm_tcp_init(&x, xring, 2000, 2000);
                (void)pm_tcp_accept_cookie(&st, &x, &ip, &ack, &so, now);
                check(&x);
                if (x.state != PM_TCP_ESTABLISHED) abort();
                pm_tcp_release(&st, &x);
            }
            break;
        }
        default: { /* the TIME_WAIT export and its rules */
            if (e->tcb.state == PM_TCP_TIME_WAIT) {
                pm_tcp_tw tw;
                pm_tcp_tw_export(&e->tcb, &tw);
                pm_tcp_repr s;
                memset(&s, 0, sizeof s);
                s.flags = (uint16_t)(u8() & 0x17);
                s.seq = tw.rcv_nxt + (uint32_t)(int8_t)u8();
                uint32_t isn = 0;
                int v = pm_tcp_tw_input(&st, &tw, &s, now, &isn);
                if (v < PM_TCP_TW_DROP || v > PM_TCP_TW_SYN) abort();
                if (v == PM_TCP_TW_SYN && isn != tw.snd_nxt + 65537 && isn != 1) abort();
            }
            break;
        }
        }
        check_pool();
    }
    return 0;
}
