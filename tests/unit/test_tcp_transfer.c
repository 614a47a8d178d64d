/* Two TCP endpoints back to back in memory, through a lossy wire: every
 * segment is emitted to bytes (wire.h), then dropped (1%), duplicated
 * (1%), delayed out of order (1%) or delivered after 1 ms, and parsed
 * again. Bulk transfer both ways, byte-exact; then connection churn with
 * a listener, SYN cookies off, compact TIME_WAIT entries, and a check that
 * nothing is left once 2*MSL of virtual time has passed.
 * PM_TCP_TRANSFER_MB (default 64) sets the bulk size each way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rng.h"
#include "portmux/tcp.h"
#include "portmux/wire.h"

#define MS  1000ull
#define SEC 1000000ull

/* ---- The wire --------------------------------------------------------------- */

typedef struct pkt {
    uint64_t at;
    uint32_t order;
    uint16_t len;
    uint8_t to; /* 0: A, 1: B */
    uint8_t bytes[1600];
} pkt;

static int loss_pct = 1;
static uint64_t link_free[2]; /* 1 Gbit/s each way: serialization */

#define WIRE_CAP 8192
static pkt *pool;
static pkt *heap[WIRE_CAP];
static pkt *freelist[WIRE_CAP];
static int nheap, nfree;
static uint32_t order_ctr;
static pm_rng wrng;
static struct {
    uint64_t sent, lost, duped, reordered, delivered, bad_parse;
} wstat;

static bool before(const pkt *a, const pkt *b)
{
    return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void heap_push(pkt *p)
{
    int i = nheap++;
    heap[i] = p;
    while (i > 0) {
        int up = (i - 1) / 2;
        if (!before(heap[i], heap[up])) break;
        pkt *t = heap[i];
        heap[i] = heap[up];
        heap[up] = t;
        i = up;
    }
}

static pkt *heap_pop(void)
{
    pkt *top = heap[0];
    heap[0] = heap[--nheap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < nheap && before(heap[l], heap[m])) m = l;
        if (r < nheap && before(heap[r], heap[m])) m = r;
        if (m == i) break;
        pkt *t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
    return top;
}

static void wire_init(uint64_t seed)
{
    if (!pool) pool = calloc(WIRE_CAP, sizeof *pool);
    assert_non_null(pool);
    nheap = 0;
    nfree = 0;
    for (int i = 0; i < WIRE_CAP; i++) freelist[nfree++] = &pool[i];
    pm_rng_seed(&wrng, seed);
    memset(&wstat, 0, sizeof wstat);
    link_free[0] = link_free[1] = 0;
}

static void wire_put(int to, const pm_ip_repr *ip, const pm_tcp_repr *seg, uint64_t now)
{
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip = *ip;
    p.tcp = *seg;
    uint8_t buf[1600];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    assert_true(n > 0);
    wstat.sent++;
    uint32_t r = pm_rng_below(&wrng, 100);
    if ((int)r < loss_pct) {
        wstat.lost++;
        return;
    }
    int copies = pm_rng_below(&wrng, 100) < (uint32_t)loss_pct ? 2 : 1;
    if (copies == 2) wstat.duped++;
    for (int c = 0; c < copies; c++) {
        assert_true(nfree > 0); /* the wire never holds this much */
        pkt *q = freelist[--nfree];
        uint64_t start = link_free[to] > now ? link_free[to] : now;
        link_free[to] = start + (uint64_t)n * 8 / 1000 + 1; /* us at 1 Gbit/s */
        q->at = link_free[to] + 1 * MS;
        if (pm_rng_below(&wrng, 100) < (uint32_t)loss_pct) {
            q->at += 1 * MS + pm_rng_below(&wrng, 5000); /* overtaken */
            wstat.reordered++;
        }
        q->order = order_ctr++;
        q->len = (uint16_t)n;
        q->to = (uint8_t)to;
        memcpy(q->bytes, buf, (size_t)n);
        heap_push(q);
    }
}

/* ---- Deterministic payload ---------------------------------------------- */

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void gen(uint64_t seed, uint64_t off, uint8_t *out, size_t len)
{
    size_t i = 0;
    while (i < len && ((off + i) & 7)) {
        uint64_t pos = off + i;
        out[i++] = (uint8_t)(mix(seed ^ (pos >> 3)) >> (8 * (pos & 7)));
    }
    for (; i + 8 <= len; i += 8) { /* whole words */
        uint64_t w = mix(seed ^ ((off + i) >> 3));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w); /* byte k is w >> 8k, as in the byte path */
#endif
        memcpy(out + i, &w, 8);
    }
    while (i < len) {
        uint64_t pos = off + i;
        uint64_t w = mix(seed ^ (pos >> 3));
        unsigned b = (unsigned)(pos & 7);
        for (; b < 8 && i < len; b++, i++) out[i] = (uint8_t)(w >> (8 * b));
    }
}

/* ---- Bulk transfer ------------------------------------------------------------ */

#define RBUF (256 * 1024)
#define SBUF (256 * 1024)

typedef struct ep {
    pm_tcp tcb;
    uint8_t *sb; /* send ring, then receive ring */
    uint64_t sent, rcvd, total;
    uint64_t seed_tx, seed_rx;
    bool shut, eof, closed;
    unsigned events;
} ep;

static pm_tcp_stack sa, sb;

static void bulk(uint64_t mb, uint64_t mb_back, uint64_t seed)
{
    wire_init(seed);
    pm_tcp_stack_init(&sa, NULL, seed + 1);
    pm_tcp_stack_init(&sb, NULL, seed + 2);
    static pm_tcp_ext ext[2][2]; /* each stack's TCB extension pool */
    pm_tcp_stack_set_ext(&sa, ext[0], 2);
    pm_tcp_stack_set_ext(&sb, ext[1], 2);
    pm_tcp_stack *stk[2] = {&sa, &sb};
    static ep e[2];
    memset(e, 0, sizeof e);
    for (int i = 0; i < 2; i++) {
        e[i].sb = malloc(SBUF + RBUF);
        pm_tcp_init(&e[i].tcb, e[i].sb, SBUF, RBUF);
        e[i].total = (i == 0 ? mb : mb_back) << 20;
    }
    e[0].seed_tx = e[1].seed_rx = seed * 7 + 1;
    e[1].seed_tx = e[0].seed_rx = seed * 7 + 2;
    pm_tuple t = {.lport = 33000, .fport = 5001, .proto = PM_IPPROTO_TCP};
    t.laddr = pm_ip4(0x7f000001);
    t.faddr = pm_ip4(0x7f000002);
    uint64_t now = 1000 * SEC;
    assert_int_equal(pm_tcp_connect(&sa, &e[0].tcb, &t, 0, now), 0);
    bool listening = true;
    static uint8_t chunk[65536];
    uint64_t steps = 0;
    for (;;) {
        steps++;
        /* Applications: write what fits, read and check what is there. */
        for (int i = 0; i < 2; i++) {
            ep *x = &e[i];
            pm_tcp_stack *s = stk[i];
            while (x->sent < x->total) {
                uint64_t n = x->total - x->sent;
                if (n > sizeof chunk) n = sizeof chunk;
                uint32_t room = pm_tcp_writable(&x->tcb);
                if (room == 0) break;
                if (n > room) n = room;
                gen(x->seed_tx, x->sent, chunk, n);
                long w = pm_tcp_send(s, &x->tcb, chunk, n, now);
                if (w <= 0) break;
                x->sent += (uint64_t)w;
            }
            if (x->sent == x->total && !x->shut && x->tcb.state >= PM_TCP_ESTABLISHED) {
                assert_int_equal(pm_tcp_shutdown(s, &x->tcb, PM_SHUT_WR, now), 0);
                x->shut = true;
            }
            for (;;) {
                static uint8_t got[65536], want[65536];
                long r = pm_tcp_recv(s, &x->tcb, got, sizeof got, now);
                if (r <= 0) {
                    if (r == 0 && x->tcb.state != PM_TCP_CLOSED) x->eof = true;
                    break;
                }
                gen(x->seed_rx, x->rcvd, want, (size_t)r);
                if (memcmp(got, want, (size_t)r) != 0)
                    fail_msg("corrupt at %llu", (unsigned long long)x->rcvd);
                x->rcvd += (uint64_t)r;
            }
            if (x->eof && x->shut && !x->closed && x->rcvd == e[1 - i].total) {
                x->events |= pm_tcp_close(s, &x->tcb, false, now);
                x->closed = true;
            }
        }
        /* Segments out. */
        for (int i = 0; i < 2; i++) {
            pm_ip_repr ip;
            pm_tcp_repr seg;
            uint8_t buf[1600];
            while (pm_tcp_output(stk[i], &e[i].tcb, now, &ip, &seg, buf, sizeof buf) > 0)
                wire_put(1 - i, &ip, &seg, now);
        }
        bool done = e[0].closed && e[1].closed &&
                    (e[0].tcb.state == PM_TCP_CLOSED || e[0].tcb.state == PM_TCP_TIME_WAIT) &&
                    (e[1].tcb.state == PM_TCP_CLOSED || e[1].tcb.state == PM_TCP_TIME_WAIT);
        if (done) break;
        /* The next event. */
        uint64_t next = UINT64_MAX;
        if (nheap) next = heap[0]->at;
        for (int i = 0; i < 2; i++) {
            uint64_t d = pm_tcp_next_deadline(&e[i].tcb);
            if (d < next) next = d;
        }
        if (next == UINT64_MAX) {
            for (int i = 0; i < 2; i++) {
                pm_tcp *q = &e[i].tcb;
                printf("stuck ev %x err %d timeouts %llu rst_in %llu aborts %llu\n", e[i].events,
                       q->err, (unsigned long long)stk[i]->stats.timeouts,
                       (unsigned long long)stk[i]->stats.rst_in,
                       (unsigned long long)stk[i]->stats.aborts);
                printf("stuck %d: %s una %u nxt %u max %u wnd %u cwnd %u len %u timer %d flags %x "
                       "rcv_nxt %u rlen %u sent %llu rcvd %llu\n",
                       i, pm_tcp_state_name(q->state), q->snd_una, q->snd_nxt, q->snd_max,
                       q->snd_wnd, q->cwnd, q->snd_len, q->timer, q->flags, q->rcv_nxt, q->rcv_len,
                       (unsigned long long)e[i].sent, (unsigned long long)e[i].rcvd);
            }
        }
        assert_true(next != UINT64_MAX);
        assert_true(next < 1000 * SEC + 3600 * SEC); /* an hour of virtual time at most */
        if (next > now) now = next;
        while (nheap && heap[0]->at <= now) {
            pkt *p = heap_pop();
            pm_packet pp;
            int rc = pm_packet_parse(p->bytes, p->len, &pp, NULL);
            if (rc == 0) {
                ep *x = &e[p->to];
                wstat.delivered++;
                if (listening && p->to == 1) {
                    /* B listens until its TCB exists. */
                    if (pm_tcp_listen_classify(&pp.tcp) == PM_TCP_LISTEN_SYN) {
                        assert_int_equal(pm_tcp_accept_syn(&sb, &x->tcb, &pp.ip, &pp.tcp, 0, now),
                                         0);
                        listening = false;
                    }
                } else {
                    x->events |= pm_tcp_input(stk[p->to], &x->tcb, &pp.ip, &pp.tcp, now);
                }
                /* As a host does: output after every input. */
                pm_ip_repr oip;
                pm_tcp_repr oseg;
                uint8_t obuf[1600];
                while (pm_tcp_output(stk[p->to], &x->tcb, now, &oip, &oseg, obuf, sizeof obuf) > 0)
                    wire_put(1 - p->to, &oip, &oseg, now);
            } else {
                wstat.bad_parse++;
            }
            freelist[nfree++] = p;
        }
        for (int i = 0; i < 2; i++)
            if (pm_tcp_next_deadline(&e[i].tcb) <= now)
                e[i].events |= pm_tcp_timer(stk[i], &e[i].tcb, now);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(e[i].rcvd, e[1 - i].total);
        assert_int_equal(e[i].tcb.snd_len, 0);
        assert_false(e[i].events & PM_TCP_EV_RESET);
        assert_true(e[i].tcb.snd_una == e[i].tcb.snd_max);
    }
    assert_int_equal(wstat.bad_parse, 0);
    printf("bulk %llu MiB each way: %.1f s virtual, %llu steps; wire sent %llu lost %llu dup %llu "
           "reord %llu; A: rexmit %llu rto %llu fast %llu ooo %llu; B: rexmit %llu rto %llu fast "
           "%llu ooo %llu\n",
           (unsigned long long)mb, (double)(now - 1000 * SEC) / SEC, (unsigned long long)steps,
           (unsigned long long)wstat.sent, (unsigned long long)wstat.lost,
           (unsigned long long)wstat.duped, (unsigned long long)wstat.reordered,
           (unsigned long long)sa.stats.retrans_segs, (unsigned long long)sa.stats.rto_fired,
           (unsigned long long)sa.stats.fast_retrans, (unsigned long long)sa.stats.ooo_queued,
           (unsigned long long)sb.stats.retrans_segs, (unsigned long long)sb.stats.rto_fired,
           (unsigned long long)sb.stats.fast_retrans, (unsigned long long)sb.stats.ooo_queued);
    /* Whoever is in TIME_WAIT leaves it after 2*MSL. */
    for (int i = 0; i < 2; i++) {
        if (e[i].tcb.state == PM_TCP_TIME_WAIT) {
            uint64_t d = pm_tcp_next_deadline(&e[i].tcb);
            assert_true(d <= now + 60 * SEC);
            assert_true(pm_tcp_timer(stk[i], &e[i].tcb, d) & PM_TCP_EV_CLOSED);
        }
        assert_int_equal(e[i].tcb.state, PM_TCP_CLOSED);
        free(e[i].sb);
    }
}

static uint64_t env_mb(void)
{
    const char *s = getenv("PM_TCP_TRANSFER_MB");
    if (!s || !*s) return 64;
    uint64_t v = strtoull(s, NULL, 10);
    return v ? v : 64;
}

static void test_bulk_lossy(void **state)
{
    (void)state;
    loss_pct = 1;
    bulk(env_mb(), env_mb(), 1);
}

static void test_bulk_clean_small(void **state)
{
    (void)state;
    loss_pct = 0;
    bulk(4, 4, 2);
    assert_int_equal(sa.stats.retrans_segs, 0);
    assert_int_equal(sb.stats.retrans_segs, 0);
    loss_pct = 1;
}

static void test_bulk_heavy_loss(void **state)
{
    (void)state;
    loss_pct = 10;
    bulk(2, 0, 3);
    assert_true(sa.stats.fast_retrans > 0); /* one way: duplicate ACKs are bare */
    loss_pct = 1;
}

/* ---- Churn ------------------------------------------------------------------- */

#define POOL     64
#define CBUF     8192
#define NCONN    10000
#define REQ_LEN  200
#define RESP_LEN 3000

typedef struct conn {
    pm_tcp tcb;
    bool used, app_closed;
    uint32_t got, sent;
    uint16_t port;
    uint8_t sbuf[2 * CBUF]; /* send ring, then receive ring */
} conn;

typedef struct side {
    pm_tcp_stack st;
    conn pool[POOL];
    conn *by_port[65536];
    pm_tcp_tw tw[65536];
    bool tw_used[65536];
    int live, tw_live;
    uint64_t tw_made, tw_expired, resets_sent, errors;
} side;

static side *A, *B; /* A: clients; B: server on port 80 */

static conn *conn_get(side *s, uint16_t port)
{
    for (int i = 0; i < POOL; i++)
        if (!s->pool[i].used) {
            conn *c = &s->pool[i];
            memset(c, 0, offsetof(conn, sbuf));
            c->used = true;
            c->port = port;
            pm_tcp_init(&c->tcb, c->sbuf, CBUF, CBUF);
            s->by_port[port] = c;
            s->live++;
            return c;
        }
    return NULL;
}

static void conn_free(side *s, conn *c)
{
    s->by_port[c->port] = NULL;
    c->used = false;
    s->live--;
}

/* Output, then events: TIME_WAIT goes compact, CLOSED frees. */
static void conn_events(side *s, int to, conn *c, unsigned ev, uint64_t now)
{
    pm_ip_repr ip;
    pm_tcp_repr seg;
    uint8_t buf[1600];
    while (pm_tcp_output(&s->st, &c->tcb, now, &ip, &seg, buf, sizeof buf) > 0)
        wire_put(to, &ip, &seg, now);
    if (ev & PM_TCP_EV_RESET) s->errors++;
    if (c->tcb.state == PM_TCP_TIME_WAIT) {
        assert_false(s->tw_used[c->port]);
        pm_tcp_tw_export(&c->tcb, &s->tw[c->port]);
        s->tw_used[c->port] = true;
        s->tw_live++;
        s->tw_made++;
        conn_free(s, c);
    } else if (c->tcb.state == PM_TCP_CLOSED) {
        conn_free(s, c);
    }
}

static void churn_app(side *s, int to, conn *c, bool server, uint64_t now, int idx)
{
    if (!c->used || c->app_closed) return;
    unsigned ev = 0;
    uint32_t want_send = server ? RESP_LEN : REQ_LEN;
    uint32_t want_recv = server ? REQ_LEN : RESP_LEN;
    uint8_t buf[4096];
    if (c->tcb.state == PM_TCP_ESTABLISHED || c->tcb.state == PM_TCP_CLOSE_WAIT) {
        bool may_send = !server || c->got == want_recv;
        while (may_send && c->sent < want_send) {
            uint32_t n = want_send - c->sent;
            if (n > sizeof buf) n = sizeof buf;
            gen(c->port, c->sent + (server ? 1u << 20 : 0), buf, n);
            long w = pm_tcp_send(&s->st, &c->tcb, buf, n, now);
            if (w <= 0) break;
            c->sent += (uint32_t)w;
        }
    }
    for (;;) {
        uint8_t want[4096];
        long r = pm_tcp_recv(&s->st, &c->tcb, buf, sizeof buf, now);
        if (r <= 0) break;
        gen(c->port, c->got + (server ? 0 : 1u << 20), want, (size_t)r);
        assert_memory_equal(buf, want, (size_t)r);
        c->got += (uint32_t)r;
    }
    /* Even connections: the client closes first; odd: the server. */
    bool first = (idx % 2 == 0) != server;
    bool done = c->got == want_recv && c->sent == want_send;
    if (done && (first || pm_tcp_eof(&c->tcb))) {
        ev |= pm_tcp_close(&s->st, &c->tcb, false, now);
        c->app_closed = true;
    }
    conn_events(s, to, c, ev, now);
}

static void deliver(side *s, int to_reply, const pm_packet *pp, uint64_t now, bool server)
{
    const pm_tcp_repr *seg = &pp->tcp;
    uint16_t cport = server ? seg->sport : seg->dport;
    conn *c = s->by_port[cport];
    pm_ip_repr oip;
    pm_tcp_repr oseg;
    if (c) {
        unsigned ev = pm_tcp_input(&s->st, &c->tcb, &pp->ip, seg, now);
        conn_events(s, to_reply, c, ev, now);
        return;
    }
    if (s->tw_used[cport]) {
        pm_tuple t = {.laddr = pp->ip.dst,
                      .faddr = pp->ip.src,
                      .lport = seg->dport,
                      .fport = seg->sport,
                      .proto = PM_IPPROTO_TCP};
        int v = pm_tcp_tw_input(&s->st, &s->tw[cport], seg, now, NULL);
        if (v == PM_TCP_TW_ACK) {
            pm_tcp_tw_ack_reply(&s->st, &s->tw[cport], &t, now, &oip, &oseg);
            wire_put(to_reply, &oip, &oseg, now);
        } else if (v == PM_TCP_TW_KILL) {
            s->tw_used[cport] = false;
            s->tw_live--;
        }
        return;
    }
    if (server && seg->dport == 80) {
        int k = pm_tcp_listen_classify(seg);
        if (k == PM_TCP_LISTEN_SYN) {
            conn *n = conn_get(s, cport);
            assert_non_null(n);
            assert_int_equal(pm_tcp_accept_syn(&s->st, &n->tcb, &pp->ip, seg, 0, now), 0);
            conn_events(s, to_reply, n, 0, now);
            return;
        }
        if (k == PM_TCP_LISTEN_DROP) return;
    }
    if (pm_tcp_reset_reply(&pp->ip, seg, &oip, &oseg)) {
        s->resets_sent++;
        wire_put(to_reply, &oip, &oseg, now);
    }
}

static void tw_expire(side *s, uint64_t now, uint64_t *next)
{
    for (int p = 20000; p < 20000 + NCONN; p++) {
        if (!s->tw_used[p]) continue;
        if (s->tw[p].expire <= now) {
            s->tw_used[p] = false;
            s->tw_live--;
            s->tw_expired++;
        } else if (s->tw[p].expire < *next) {
            *next = s->tw[p].expire;
        }
    }
}

static void test_churn(void **state)
{
    (void)state;
    loss_pct = 1;
    wire_init(99);
    A = calloc(1, sizeof *A);
    B = calloc(1, sizeof *B);
    assert_non_null(A);
    assert_non_null(B);
    pm_tcp_stack_init(&A->st, NULL, 5);
    pm_tcp_stack_init(&B->st, NULL, 6);
    /* fewer extension records than connections at once (32): some run
     * the fallbacks; every record comes back */
    static pm_tcp_ext ext[2][8];
    pm_tcp_stack_set_ext(&A->st, ext[0], 8);
    pm_tcp_stack_set_ext(&B->st, ext[1], 8);
    uint64_t now = 1000 * SEC, t0 = now;
    int started = 0;
    uint64_t iters = 0;
    int conc = 32;
    int idx_of[65536];
    for (;;) {
        iters++;
        /* Clients start while there is room on both sides. */
        while (started < NCONN && A->live < conc && B->live < conc) {
            uint16_t port = (uint16_t)(20000 + started);
            idx_of[port] = started;
            conn *c = conn_get(A, port);
            pm_tuple t = {.lport = port, .fport = 80, .proto = PM_IPPROTO_TCP};
            t.laddr = pm_ip4(0x7f000001);
            t.faddr = pm_ip4(0x7f000002);
            assert_int_equal(pm_tcp_connect(&A->st, &c->tcb, &t, 0, now), 0);
            conn_events(A, 1, c, 0, now);
            started++;
        }
        for (int i = 0; i < POOL; i++) {
            churn_app(A, 1, &A->pool[i], false, now, idx_of[A->pool[i].port]);
            churn_app(B, 0, &B->pool[i], true, now, idx_of[B->pool[i].port]);
        }
        uint64_t next = UINT64_MAX;
        if (nheap) next = heap[0]->at;
        for (int i = 0; i < POOL; i++) {
            if (A->pool[i].used && pm_tcp_next_deadline(&A->pool[i].tcb) < next)
                next = pm_tcp_next_deadline(&A->pool[i].tcb);
            if (B->pool[i].used && pm_tcp_next_deadline(&B->pool[i].tcb) < next)
                next = pm_tcp_next_deadline(&B->pool[i].tcb);
        }
        if (started == NCONN && A->live == 0 && B->live == 0 && nheap == 0) break;
        assert_true(next != UINT64_MAX);
        assert_true(next < t0 + 24 * 3600 * SEC);
        if (next > now) now = next;
        while (nheap && heap[0]->at <= now) {
            pkt *p = heap_pop();
            pm_packet pp;
            if (pm_packet_parse(p->bytes, p->len, &pp, NULL) == 0) {
                if (p->to == 1)
                    deliver(B, 0, &pp, now, true);
                else
                    deliver(A, 1, &pp, now, false);
            }
            freelist[nfree++] = p;
        }
        for (int i = 0; i < POOL; i++) {
            conn *c = &A->pool[i];
            if (c->used && pm_tcp_next_deadline(&c->tcb) <= now)
                conn_events(A, 1, c, pm_tcp_timer(&A->st, &c->tcb, now), now);
            c = &B->pool[i];
            if (c->used && pm_tcp_next_deadline(&c->tcb) <= now)
                conn_events(B, 0, c, pm_tcp_timer(&B->st, &c->tcb, now), now);
        }
        if (iters % 256 == 0) {
            uint64_t dummy = UINT64_MAX;
            tw_expire(A, now, &dummy);
            tw_expire(B, now, &dummy);
        }
    }
    uint64_t end = now;
    /* 2*MSL later every TIME_WAIT entry is gone. */
    uint64_t next = UINT64_MAX;
    tw_expire(A, now, &next);
    tw_expire(B, now, &next);
    assert_true(next == UINT64_MAX || next <= end + 60 * SEC);
    tw_expire(A, end + 60 * SEC, &next);
    tw_expire(B, end + 60 * SEC, &next);
    printf("churn: %d connections in %.1f s virtual; TIME_WAIT made A %llu B %llu; resets sent "
           "A %llu B %llu; errors A %llu B %llu; wire lost %llu dup %llu\n",
           NCONN, (double)(end - t0) / SEC, (unsigned long long)A->tw_made,
           (unsigned long long)B->tw_made, (unsigned long long)A->resets_sent,
           (unsigned long long)B->resets_sent, (unsigned long long)A->errors,
           (unsigned long long)B->errors, (unsigned long long)wstat.lost,
           (unsigned long long)wstat.duped);
    assert_int_equal(A->live, 0);
    assert_int_equal(B->live, 0);
    assert_int_equal(A->tw_live, 0);
    assert_int_equal(B->tw_live, 0);
    /* Each connection left exactly one TIME_WAIT, on its active closer's
     * side; each expired after 2*MSL or was killed by a RST (tcp_rfc1337 0:
     * the RST a late duplicate draws from the closed peer). */
    assert_int_equal(A->tw_made + B->tw_made, NCONN);
    assert_int_equal(A->tw_made + B->tw_made,
                     A->tw_expired + B->tw_expired + A->st.stats.tw_killed + B->st.stats.tw_killed);
    assert_int_equal(A->errors + B->errors, 0);
    /* Extension records: taken and all given back (none leaked by close,
     * RST, abort or TIME_WAIT); the pool ran out at times. */
    printf("churn: extension records: A full %llu, B full %llu; ooo dropped for want of one A "
           "%llu B %llu; NewReno A %llu B %llu; no PTO A %llu B %llu\n",
           (unsigned long long)A->st.stats.ext_full, (unsigned long long)B->st.stats.ext_full,
           (unsigned long long)A->st.stats.ext_ooo_dropped,
           (unsigned long long)B->st.stats.ext_ooo_dropped,
           (unsigned long long)A->st.stats.ext_newreno, (unsigned long long)B->st.stats.ext_newreno,
           (unsigned long long)A->st.stats.ext_no_tlp, (unsigned long long)B->st.stats.ext_no_tlp);
    assert_int_equal(A->st.stats.ext_in_use, 0);
    assert_int_equal(B->st.stats.ext_in_use, 0);
    assert_true(A->st.stats.ext_full + B->st.stats.ext_full > 0);
    free(A);
    free(B);
}

static int teardown(void **state)
{
    (void)state;
    free(pool);
    pool = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_clean_small),
        cmocka_unit_test(test_bulk_lossy),
        cmocka_unit_test(test_bulk_heavy_loss),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
