/* TCP through the host: demux of a segment (established -> TIME_WAIT ->
 * listener -> none), the listen backlog (SYN queue, accept queue, SYN
 * cookies), the end of a connection and its compact TIME_WAIT entry, and
 * ICMP errors matched through the quoted header. */
#include <errno.h>
#include <string.h>

#include "host/host_internal.h"
#include "ports/bind_internal.h"
#include "tcp/tcp_internal.h"

/* ---- TIME_WAIT side records ------------------------------------------------ */

uint32_t host_tuple_hash(const pm_tuple *t)
{
    /* FNV-1a over the tuple: only to check that a side record belongs to
     * the entry demux hands back, never for lookup. */
    uint32_t x = 2166136261u;
    const uint8_t *b[2] = {t->laddr.b, t->faddr.b};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 16; i++) x = (x ^ b[k][i]) * 16777619u;
    x = (x ^ t->lport) * 16777619u;
    x = (x ^ t->fport) * 16777619u;
    return x | 1u;
}

static uint32_t tw_pos(uint32_t ref)
{
    return ref & ~PM_EHASH_TW;
}

void host_tw_note(pm_host *h, uint32_t ref, const tw_side *side, const pm_tuple *t)
{
    tw_side *d = &h->tw[tw_pos(ref)];
    *d = *side;
    d->hash = host_tuple_hash(t);
}

static void tw_release_side(pm_host *h, tw_side *d)
{
    if (d->eid != PM_EPH_NONE) pm_eph_release(h->eph, d->eid);
    if (d->bid != PM_BIND_NONE) pm_bind_release(h->bt, d->bid);
    memset(d, 0, sizeof *d);
}

/* The side record of the entry at the ring's head (expiring or recycled):
 * entries leave in FIFO order, so it is the first live record from the
 * cursor on. */
void host_tw_release_head(pm_host *h, const pm_tuple *t)
{
    uint32_t want = host_tuple_hash(t), cap = h->cfg.max_tw;
    for (uint32_t k = 0; k < cap; k++) {
        uint32_t pos = (h->tw_cursor + k) % cap;
        tw_side *d = &h->tw[pos];
        if (!d->hash) continue;
        if (d->hash == want) {
            tw_release_side(h, d);
            h->tw_cursor = (pos + 1) % cap;
            return;
        }
    }
}

void host_tw_remove_ref(pm_host *h, uint32_t ref, const pm_tuple *t)
{
    (void)t;
    tw_side *d = &h->tw[tw_pos(ref)];
    pm_ehash_tw_remove(h->eh, ref);
    tw_release_side(h, d);
}

void host_tw_expire(pm_host *h, uint64_t now)
{
    pm_tw_entry e[32];
    size_t n;
    do {
        n = pm_ehash_tw_expire(h->eh, now, e, 32);
        for (size_t i = 0; i < n; i++) {
            host_tw_release_head(h, &e[i].tuple);
            h->st.tw_expired++;
        }
    } while (n == 32);
}

size_t pm_host_drop_time_wait(pm_host *h)
{
    size_t n = 0;
    for (uint32_t pos = 0; pos < h->cfg.max_tw; pos++) {
        if (!h->tw[pos].hash) continue;
        pm_tw_entry e;
        if (pm_ehash_tw_get(h->eh, PM_EHASH_TW | pos, &e) == 0) {
            host_tw_remove_ref(h, PM_EHASH_TW | pos, &e.tuple);
            n++;
        }
    }
    return n;
}

void host_tw_convert_in(pm_host *h, const pm_tw_entry *e, pm_tcp_tw *tw)
{
    memset(tw, 0, sizeof *tw);
    tw->snd_nxt = e->st.snd_nxt;
    tw->rcv_nxt = e->st.rcv_nxt;
    tw->rcv_wnd = e->st.rcv_wnd;
    tw->ts_recent = e->st.ts_recent;
    tw->ts_recent_stamp = e->st.ts_recent_stamp;
    tw->rcv_wscale = e->st.rcv_wscale;
    tw->opts = (e->st.flags & PM_TW_F_TS) ? PM_TCPO_TS : 0;
    tw->expire = e->expire;
    /* The TSval offset is a keyed hash of the addresses: recomputed. */
    tw->ts_off = tcp_ts_off(&h->tcp, &e->tuple);
}

void host_tw_convert_out(const pm_tcp_tw *tw, pm_tw_state *st)
{
    memset(st, 0, sizeof *st);
    st->snd_nxt = tw->snd_nxt;
    st->rcv_nxt = tw->rcv_nxt;
    st->rcv_wnd = tw->rcv_wnd;
    st->ts_recent = tw->ts_recent;
    st->ts_recent_stamp = tw->ts_recent_stamp;
    st->rcv_wscale = tw->rcv_wscale;
    st->flags = (tw->opts & PM_TCPO_TS) ? PM_TW_F_TS : 0;
}

/* ---- End of a connection ---------------------------------------------------- */

static void unlink_child(pm_host *h, hsock *s)
{
    if (s->kind != SK_CHILD || s->parent == NIL) return;
    hsock_x *l = sk_x(h, &h->socks[s->parent]);
    if (!(s->f & SF_ACCEPTED)) {
        l->syn_len--;
        return;
    }
    uint32_t i = sk_index(h, s), prev = NIL;
    for (uint32_t c = l->acc_head; c != NIL; prev = c, c = h->socks[c].qnext) {
        if (c != i) continue;
        if (prev == NIL)
            l->acc_head = s->qnext;
        else
            h->socks[prev].qnext = s->qnext;
        if (l->acc_tail == i) l->acc_tail = prev;
        l->acc_len--;
        break;
    }
}

/* Before the TCB goes: a connect()ed socket's registration is its tuple. */
static void release_ports(pm_host *h, hsock *s)
{
    pm_tcp *tcb = sk_tcb(h, s);
    if ((s->f & SF_EPH) && tcb) pm_eph_release(h->eph, pm_eph_find(h->eph, &tcb->tuple));
    if (s->bid != PM_BIND_NONE) pm_bind_release(h->bt, s->bid);
    s->f &= ~(uint32_t)SF_EPH;
    s->bid = PM_BIND_NONE;
}

/* A child still in the accept queue loses its TCB: accept() gives its peer
 * all the same (Linux keeps inet_dport), so its names go to a side record
 * (none left: they read as the wildcard). */
static void keep_child_names(pm_host *h, hsock *s)
{
    if (s->kind == SK_CHILD && (s->f & SF_ACCEPTED)) host_x_get(h, s);
}

void host_conn_done(pm_host *h, hsock *s)
{
    pm_tcp *tcb = sk_tcb(h, s);
    release_ports(h, s);
    if (tcb) {
        pm_ehash_remove(h->eh, &tcb->tuple);
        if (tcb->err && !s->so_error) s->so_error = tcb->err;
        keep_child_names(h, s);
        host_tcb_release(h, s);
    }
    if (s->kind == SK_ORPHAN || (s->kind == SK_CHILD && !(s->f & SF_ACCEPTED))) {
        unlink_child(h, s);
        host_sock_free(h, s);
        return;
    }
    if (s->kind == SK_CONN) s->kind = SK_DEAD;
    host_mark_ready(h, s);
}

void host_time_wait(pm_host *h, hsock *s)
{
    pm_tcp *tcb = sk_tcb(h, s);
    pm_tcp_tw tw;
    pm_tcp_tw_export(tcb, &tw);
    pm_tw_state st;
    host_tw_convert_out(&tw, &st);
    uint32_t ref;
    pm_tuple t = tcb->tuple;
    int64_t r = pm_ehash_to_timewait(h->eh, &t, &st, h->now, &ref);
    if (r < 0) {
        h->st.tw_pool_full++;
        host_conn_done(h, s);
        return;
    }
    h->st.tw_entered++;
    if (s->bid != PM_BIND_NONE) pm_bind_set_state(h->bt, &s->bid, PM_BIND_TIME_WAIT);
    tw_side side = {.bid = s->bid, .eid = PM_EPH_NONE, .family = s->family, .uid = s->uid};
    if (s->f & SF_EPH) {
        side.eid = pm_eph_find(h->eph, &t);
        /* no record left: the tuple stays taken until TIME_WAIT ends */
        if (pm_eph_time_wait(h->eph, side.eid, s->bid, (tw.opts & PM_TCPO_TS) != 0, h->now))
            h->st.tw_eph_full++;
    }
    host_tw_note(h, ref, &side, &t);
    s->f &= ~(uint32_t)SF_EPH;
    s->bid = PM_BIND_NONE;
    keep_child_names(h, s);
    host_tcb_release(h, s);
    if (s->kind == SK_ORPHAN || (s->kind == SK_CHILD && !(s->f & SF_ACCEPTED))) {
        unlink_child(h, s);
        host_sock_free(h, s);
        return;
    }
    if (s->kind == SK_CONN) s->kind = SK_DEAD;
    host_mark_ready(h, s);
}

/* Linux inet_csk_listen_stop(): unaccepted connections are reset
 * (tcp_disconnect), half-open ones dropped silently. */
void host_listener_drop_children(pm_host *h, hsock *l)
{
    uint32_t li = sk_index(h, l);
    for (uint32_t i = 0; i < h->nsocks; i++) {
        hsock *c = &h->socks[i];
        if (c->kind != SK_CHILD || c->parent != li) continue;
        pm_tcp *tcb = sk_tcb(h, c);
        if (!(c->f & SF_ACCEPTED) || !tcb) {
            release_ports(h, c);
            if (tcb) {
                pm_ehash_remove(h->eh, &tcb->tuple);
                host_tcb_free(h, c);
            }
            host_sock_free(h, c);
            continue;
        }
        c->kind = SK_ORPHAN;
        c->parent = NIL;
        unsigned ev = pm_tcp_close(&h->tcp, tcb, true, h->now);
        host_tcp_after(h, c, ev);
    }
    hsock_x *lx = sk_x(h, l);
    lx->acc_head = lx->acc_tail = NIL;
    lx->acc_len = 0;
    lx->syn_len = 0;
}

/* ---- Input ------------------------------------------------------------------ */

static void send_rst(pm_host *h, const pm_packet *p)
{
    pm_packet o;
    if (pm_tcp_reset_reply(&p->ip, &p->tcp, &o.ip, &o.tcp)) {
        o.ip.ttl = h->cfg.tcp.ttl;
        if (host_emit(h, &o) > 0) h->st.rst_sent++;
    }
}

static hsock *new_child(pm_host *h, hsock *l, const pm_tuple *t)
{
    hsock *c = host_sock_alloc(h);
    if (!c) return NULL;
    c->kind = SK_CHILD;
    c->type = PM_SOCK_STREAM;
    c->family = l->family;
    c->uid = l->uid;
    c->f = (c->f & (SF_IN_DIRTY | SF_IN_READY)) |
           (l->f & (SF_REUSEADDR | SF_REUSEPORT | SF_V6ONLY | SF_NODELAY | SF_RCVBUF_SET |
                    SF_SNDBUF_SET | SF_LINGER)) |
           SF_PASSIVE;
    c->parent = sk_index(h, l);
    /* Options beyond the defaults go with a side record of its own. */
    const hsock_x *lx = sk_x(h, l);
    if ((l->f & (SF_RCVBUF_SET | SF_SNDBUF_SET)) || lx->maxseg || lx->linger_s) {
        hsock_x *cx = host_x_get(h, c);
        if (!cx) {
            host_sock_free(h, c);
            return NULL;
        }
        cx->rcvbuf = lx->rcvbuf;
        cx->sndbuf = lx->sndbuf;
        cx->maxseg = lx->maxseg;
        cx->linger_s = lx->linger_s;
    }
    if (host_tcb_alloc(h, c) < 0) {
        host_sock_free(h, c);
        return NULL;
    }
    /* Linux inet_inherit_port(): the child joins the listener's port. */
    pm_bind_opts o;
    host_sock_bind_opts(c, &o);
    pm_sockaddr local = {l->family, t->lport, t->laddr};
    if (pm_bind__insert(h->bt, PM_IPPROTO_TCP, &local, &o, c->uid, PM_BIND_CONNECTED, false,
                        &c->bid) < 0)
        c->bid = PM_BIND_NONE;
    return c;
}

static void free_child(pm_host *h, hsock *c)
{
    release_ports(h, c);
    host_tcb_free(h, c);
    host_sock_free(h, c);
}

static bool accept_queue_full(const hsock_x *l)
{
    return l->acc_len > l->backlog; /* Linux sk_acceptq_is_full(): > */
}

/* The ACK that takes a SYN_RCVD request to ESTABLISHED: ACK of our SYN,
 * no RST or SYN (Linux tcp_check_req()'s checks before syn_recv_sock). */
static bool completes_handshake(const pm_tcp *tcb, const pm_tcp_repr *seg)
{
    return (seg->flags & (PM_TH_ACK | PM_TH_RST | PM_TH_SYN)) == PM_TH_ACK &&
           seg->ack == tcb->iss + 1;
}

static void listener_input(pm_host *h, hsock *l, const pm_packet *p, const pm_tuple *t,
                           uint32_t isn)
{
    hsock_x *lx = sk_x(h, l);
    switch (pm_tcp_listen_classify(&p->tcp)) {
    case PM_TCP_LISTEN_RST: send_rst(h, p); return;
    case PM_TCP_LISTEN_SYN: {
        /* Linux tcp_conn_request(): a full SYN queue means cookies (when
         * enabled), a full accept queue drops the SYN. */
        uint32_t synmax =
            lx->backlog < h->cfg.max_syn_backlog ? lx->backlog : h->cfg.max_syn_backlog;
        if (synmax == 0) synmax = 1;
        /* tcp_syncookies 2: always (the SYN queue is never used) */
        bool want_cookie = h->cfg.syncookies == 2 && !isn;
        if (!want_cookie && lx->syn_len >= synmax && !isn) {
            h->st.syn_queue_full++;
            if (!h->cfg.syncookies) return;
            want_cookie = true;
        }
        if (h->cfg.syncookies == 2 && !isn) want_cookie = true; /* Linux: tcp_syncookies 2 */
        if (accept_queue_full(lx)) {
            h->st.accept_queue_full++;
            return;
        }
        hsock *c = want_cookie ? NULL : new_child(h, l, t);
        if (!c) {
            if (!h->cfg.syncookies) return;
            pm_packet o;
            pm_tcp_cookie_reply(&h->tcp, &p->ip, &p->tcp, h->now, &o.ip, &o.tcp);
            if (host_emit(h, &o) > 0) h->st.cookies_sent++;
            return;
        }
        pm_tcp *tcb = sk_tcb(h, c);
        if (pm_tcp_accept_syn(&h->tcp, tcb, &p->ip, &p->tcp, isn, h->now) < 0 ||
            pm_ehash_insert(h->eh, &tcb->tuple, sk_index(h, c)) < 0) {
            free_child(h, c);
            return;
        }
        lx->syn_len++;
        host_tcp_after(h, c, 0);
        return;
    }
    case PM_TCP_LISTEN_ACK: {
        pm_tcp_synopts so;
        if (!h->cfg.syncookies || pm_tcp_cookie_check(&h->tcp, &p->ip, &p->tcp, h->now, &so) < 0) {
            send_rst(h, p);
            return;
        }
        if (accept_queue_full(lx)) {
            h->st.accept_queue_full++;
            return;
        }
        hsock *c = new_child(h, l, t);
        if (!c) return;
        pm_tcp *tcb = sk_tcb(h, c);
        unsigned ev = pm_tcp_accept_cookie(&h->tcp, tcb, &p->ip, &p->tcp, &so, h->now);
        if (pm_ehash_insert(h->eh, &tcb->tuple, sk_index(h, c)) < 0) {
            free_child(h, c);
            return;
        }
        h->st.cookies_accepted++;
        lx->syn_len++; /* on_events moves it to the accept queue */
        host_tcp_after(h, c, ev | PM_TCP_EV_CONNECTED);
        return;
    }
    default: return;
    }
}

static void to_listener(pm_host *h, const pm_packet *p, const pm_tuple *t, uint32_t isn)
{
    uint32_t li = pm_lhash_lookup(h->lh, t, 0);
    if (li == PM_DEMUX_NONE || h->socks[li].kind != SK_LISTEN) {
        /* RFC 9293 3.10.7.1: CLOSED: RST for anything but a RST (unless
         * FreeBSD's blackhole: 1 spares SYNs, 2 everything). */
        h->st.no_socket++;
        if (h->cfg.blackhole == 2 || (h->cfg.blackhole == 1 && (p->tcp.flags & PM_TH_SYN))) return;
        send_rst(h, p);
        return;
    }
    listener_input(h, &h->socks[li], p, t, isn);
}

static void tw_input(pm_host *h, uint32_t ref, const pm_packet *p, const pm_tuple *t)
{
    pm_tw_entry e;
    if (pm_ehash_tw_get(h->eh, ref, &e) < 0) return;
    pm_tcp_tw tw;
    host_tw_convert_in(h, &e, &tw);
    uint64_t old_expire = tw.expire;
    uint32_t isn = 0;
    int r = pm_tcp_tw_input(&h->tcp, &tw, &p->tcp, h->now, &isn);
    switch (r) {
    case PM_TCP_TW_KILL:
        h->st.tw_killed++;
        host_tw_remove_ref(h, ref, t);
        return;
    case PM_TCP_TW_RESET: {
        pm_packet o;
        pm_tcp_tw_ack_reply(&h->tcp, &tw, t, h->now, &o.ip, &o.tcp);
        o.ip.ttl = h->cfg.tcp.ttl;
        o.tcp.flags = PM_TH_RST | PM_TH_ACK; /* RFC 9293 3.10.7.4: <SEQ=SND.NXT><CTL=RST> */
        o.tcp.window = 0;
        memset(&o.tcp.opts, 0, sizeof o.tcp.opts);
        host_emit(h, &o);
        h->st.tw_killed++;
        host_tw_remove_ref(h, ref, t);
        return;
    }
    case PM_TCP_TW_SYN:
        h->st.tw_reopened++;
        host_tw_remove_ref(h, ref, t);
        to_listener(h, p, t, isn);
        return;
    default: break;
    }
    pm_tw_state st;
    host_tw_convert_out(&tw, &st);
    pm_ehash_tw_update(h->eh, ref, &st);
    if (tw.expire != old_expire) {
        uint32_t nref;
        tw_side side = h->tw[tw_pos(ref)];
        if (pm_ehash_tw_reschedule(h->eh, ref, h->now, &nref) == 0) {
            memset(&h->tw[tw_pos(ref)], 0, sizeof(tw_side));
            /* The move may have recycled the head; the side moves after. */
            h->tw[tw_pos(nref)] = side;
            ref = nref;
        }
    }
    if (r == PM_TCP_TW_ACK) {
        pm_packet o;
        pm_tcp_tw_ack_reply(&h->tcp, &tw, t, h->now, &o.ip, &o.tcp);
        o.ip.ttl = h->cfg.tcp.ttl;
        host_emit(h, &o);
    }
}

void host_tcp_input(pm_host *h, const pm_packet *p)
{
    pm_tuple t;
    if (pm_packet_tuple(p, &t) < 0) return;
    if (pm_ip_is_multicast(&t.laddr) || pm_ip_is_any(&t.faddr)) return; /* RFC 9293 3.9 */
    uint32_t ref = pm_ehash_lookup(h->eh, &t);
    if (ref == PM_EHASH_MISS) {
        to_listener(h, p, &t, 0);
        return;
    }
    if (pm_ehash_is_tw(ref)) {
        tw_input(h, ref, p, &t);
        return;
    }
    hsock *s = &h->socks[ref];
    pm_tcp *tcb = sk_tcb(h, s);
    if (!tcb) return;
    if (p->tcp.flags & PM_TH_RST) h->st.resets_in++;
    if (s->kind == SK_CHILD && s->parent != NIL && tcb->state == PM_TCP_SYN_RCVD &&
        !h->cfg.tcp.bsd && completes_handshake(tcb, &p->tcp) &&
        accept_queue_full(sk_x(h, &h->socks[s->parent]))) {
        /* Linux tcp_check_req(): the child cannot be queued (syn_recv_sock
         * sees sk_acceptq_is_full), so with tcp_abort_on_overflow 0 the ACK
         * is dropped; the SYN-ACK timer goes on and a later ACK, once
         * accept() has made room, completes the connection. */
        h->st.accept_queue_full++;
        return;
    }
    unsigned ev = pm_tcp_input(&h->tcp, tcb, &p->ip, &p->tcp, h->now);
    if (ev & PM_TCP_EV_REOPEN) {
        /* A SYN reopened a full TIME_WAIT TCB: it closes, the listener
         * answers with the ISN Linux would pick. */
        uint32_t isn = pm_tcp_reopen_isn(tcb);
        host_tcp_after(h, s, ev);
        to_listener(h, p, &t, isn);
        return;
    }
    host_tcp_after(h, s, ev);
}

/* ---- ICMP errors for TCP (RFC 5927, RFC 1122 4.2.3.9) ------------------------- */

void host_tcp_icmp(pm_host *h, const pm_packet *p, const pm_tuple *t, int err, bool hard)
{
    uint32_t ref = pm_ehash_lookup(h->eh, t);
    if (ref == PM_EHASH_MISS || pm_ehash_is_tw(ref)) {
        h->st.icmp_ignored++;
        return;
    }
    hsock *s = &h->socks[ref];
    pm_tcp *tcb = sk_tcb(h, s);
    if (!tcb) return;
    uint32_t seq = p->icmp.inner_seq;
    /* Linux tcp_v4_err(): the quoted sequence must be in SND.UNA..SND.NXT
     * (RFC 5927 4.1), else the error may be forged. */
    if ((int32_t)(seq - tcb->snd_una) < 0 || (int32_t)(seq - tcb->snd_max) > 0) {
        h->st.icmp_ignored++;
        return;
    }
    h->st.icmp_matched++;
    if (err == EMSGSIZE) {
        /* RFC 1191 / RFC 8201, Linux tcp_v4_mtu_reduced(): a smaller MSS,
         * and what is in flight goes again in segments that fit. */
        uint32_t mtu = p->icmp.version == 4 ? (p->icmp.rest & 0xffff) : p->icmp.rest;
        if (tcb->state >= PM_TCP_ESTABLISHED)
            host_tcp_after(h, s, pm_tcp_icmp_error(&h->tcp, tcb, err, hard, seq, mtu, h->now));
        return;
    }
    if (tcb->state == PM_TCP_SYN_RCVD && s->kind == SK_CHILD) {
        /* Linux tcp_req_err(): a request dies only for the ISN and for
         * "abort" kinds (net/host unreachable, time exceeded, parameter). */
        bool abort = err == ENETUNREACH || err == EHOSTUNREACH || err == EPROTO;
        if (seq == tcb->iss && abort) {
            pm_ehash_remove(h->eh, &tcb->tuple);
            unlink_child(h, s);
            free_child(h, s);
        }
        return;
    }
    if (tcb->state == PM_TCP_SYN_SENT || tcb->state == PM_TCP_SYN_RCVD) {
        /* Linux: any error kills a connection being opened (hard or soft;
         * RFC 1122 4.2.3.9 asks only hard ones to). */
        s->so_error = (uint8_t)err;
        h->st.conn_failed++;
        host_conn_done(h, s);
        return;
    }
    /* Synchronized: soft, reported if the connection times out. */
    s->soft_error = (uint8_t)err;
}
