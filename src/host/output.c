/* Pools (sockets, TCBs), the output queue, the per-TCB "after" step that
 * every input, timer and API call ends with, and the personality's touch
 * on what a peer sees of a SYN. */
#include <errno.h>
#include <string.h>

#include "host/host_internal.h"

/* ---- Pools --------------------------------------------------------------- */

hsock *host_sock_alloc(pm_host *h)
{
    if (h->free_sock == NIL) {
        h->st.socket_pool_full++;
        return NULL;
    }
    hsock *s = &h->socks[h->free_sock];
    h->free_sock = s->qnext;
    /* Links of the output and event lists survive reuse (lazy removal). */
    uint32_t keep = s->f & (SF_IN_DIRTY | SF_IN_READY);
    uint32_t dn = s->dnext, rn = s->rnext;
    memset(s, 0, sizeof *s);
    s->f = keep;
    s->dnext = dn;
    s->rnext = rn;
    s->bid = PM_BIND_NONE;
    s->tcb = s->x = s->parent = s->qnext = NIL;
    s->wnext = s->wprev = NIL;
    s->kind = SK_OPEN;
    return s;
}

void host_sock_free(pm_host *h, hsock *s)
{
    wheel_del(h, s);
    if (s->type != PM_SOCK_DGRAM && s->x != NIL) {
        h->xs[s->x].acc_head = h->free_x;
        h->free_x = s->x;
        h->nxs_used--;
        s->x = NIL;
    }
    s->kind = SK_FREE;
    s->tcb = NIL;
    /* Lowest descriptor first, as Linux hands out fds: keep the list sorted
     * only at the head (cheap, and what tests see). */
    uint32_t i = sk_index(h, s);
    if (h->free_sock == NIL || i < h->free_sock) {
        s->qnext = h->free_sock;
        h->free_sock = i;
    } else {
        hsock *f = &h->socks[h->free_sock];
        s->qnext = f->qnext;
        f->qnext = i;
    }
}

/* ---- Side records and the names they hold ---------------------------------- */

static pm_sockaddr any_name(const hsock *s)
{
    return (pm_sockaddr){s->family, 0, s->family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6};
}

/* A TCP socket whose names are its TCB's tuple. */
static const pm_tcp *name_tcb(const pm_host *h, const hsock *s)
{
    if (s->type != PM_SOCK_STREAM || s->tcb == NIL || s->kind == SK_OPEN) return NULL;
    return &h->tcbs[s->tcb];
}

pm_sockaddr sk_local(const pm_host *h, const hsock *s)
{
    const pm_tcp *t = name_tcb(h, s);
    if (t) return (pm_sockaddr){s->family, t->tuple.lport, t->tuple.laddr};
    const hsock_x *x = sk_x((pm_host *)h, s);
    return x ? x->local : any_name(s);
}

pm_sockaddr sk_remote(const pm_host *h, const hsock *s)
{
    const pm_tcp *t = name_tcb(h, s);
    if (t) return (pm_sockaddr){s->family, t->tuple.fport, t->tuple.faddr};
    const hsock_x *x = sk_x((pm_host *)h, s);
    return x ? x->remote : any_name(s);
}

/* Defaults: tcp_rmem[1] / tcp_wmem[1] (UDP records are always there). */
uint32_t sk_rcvbuf(const pm_host *h, const hsock *s)
{
    const hsock_x *x = sk_x((pm_host *)h, s);
    return x && (s->type == PM_SOCK_DGRAM || (s->f & SF_RCVBUF_SET)) ? x->rcvbuf
                                                                     : h->cfg.tcp.rmem_default;
}

uint32_t sk_sndbuf(const pm_host *h, const hsock *s)
{
    const hsock_x *x = sk_x((pm_host *)h, s);
    return x && (s->type == PM_SOCK_DGRAM || (s->f & SF_SNDBUF_SET)) ? x->sndbuf
                                                                     : h->cfg.tcp.wmem_default;
}

uint16_t sk_maxseg(const pm_host *h, const hsock *s)
{
    const hsock_x *x = sk_x((pm_host *)h, s);
    return x ? x->maxseg : 0;
}

uint16_t sk_linger_s(const pm_host *h, const hsock *s)
{
    const hsock_x *x = sk_x((pm_host *)h, s);
    return x ? x->linger_s : 0;
}

hsock_x *host_x_get(pm_host *h, hsock *s)
{
    hsock_x *x = sk_x(h, s);
    if (x) return x;
    if (h->free_x == NIL) {
        h->st.sock_ext_full++;
        return NULL;
    }
    pm_sockaddr l = sk_local(h, s), r = sk_remote(h, s);
    s->x = h->free_x;
    x = &h->xs[s->x];
    h->free_x = x->acc_head;
    h->nxs_used++;
    memset(x, 0, sizeof *x);
    x->local = l;
    x->remote = r;
    x->acc_head = x->acc_tail = NIL;
    return x;
}

void host_x_trim(pm_host *h, hsock *s)
{
    const hsock_x *x = sk_x(h, s);
    if (!x || s->type != PM_SOCK_STREAM || !name_tcb(h, s)) return;
    if ((s->f & (SF_RCVBUF_SET | SF_SNDBUF_SET)) || x->maxseg || x->range_lo || x->range_hi ||
        x->linger_s)
        return;
    h->xs[s->x].acc_head = h->free_x;
    h->free_x = s->x;
    h->nxs_used--;
    s->x = NIL;
}

static uint32_t ring_cap(uint32_t slot, uint32_t asked)
{
    return asked && asked < slot ? asked : slot;
}

int host_tcb_alloc(pm_host *h, hsock *s)
{
    if (h->free_tcb == NIL) {
        h->st.tcb_pool_full++;
        return -ENOBUFS;
    }
    uint32_t i = h->free_tcb;
    h->free_tcb = tcb_next(h, i);
    h->ntcbs_used++;
    size_t per = (size_t)h->cfg.tcp_sndbuf + h->cfg.tcp_rcvbuf;
    uint8_t *mem = h->tcb_mem + per * i;
    /* Linux keeps about half of SO_RCVBUF for the window (tcp_adv_win_scale
     * 1); FreeBSD's buffer is the window. */
    bool bsd = h->cfg.personality == PM_PERS_FREEBSD; /* recvspace is the window */
    uint32_t rcv = (s->f & SF_RCVBUF_SET) || bsd ? sk_rcvbuf(h, s) : 0;
    uint32_t snd = s->f & SF_SNDBUF_SET ? sk_sndbuf(h, s) : 0;
    if (h->cfg.personality == PM_PERS_LINUX) rcv /= 2, snd /= 2;
    /* the send ring ends where the receive ring's slot starts */
    uint32_t scap = ring_cap(h->cfg.tcp_sndbuf, snd);
    pm_tcp_init(&h->tcbs[i], mem + h->cfg.tcp_sndbuf - scap, scap,
                ring_cap(h->cfg.tcp_rcvbuf, rcv));
    if (s->f & SF_NODELAY) pm_tcp_set_nodelay(&h->tcbs[i], true);
    if (sk_maxseg(h, s)) pm_tcp_set_maxseg(&h->tcbs[i], sk_maxseg(h, s));
    s->tcb = i;
    return 0;
}

void host_tcb_free(pm_host *h, hsock *s)
{
    if (s->tcb == NIL) return;
    wheel_del(h, s);
    uint32_t i = s->tcb;
    pm_tcp_release(&h->tcp, &h->tcbs[i]); /* a TCB freed live holds its record */
    tcb_link(h, i, h->free_tcb);
    h->free_tcb = i;
    h->ntcbs_used--;
    s->tcb = NIL;
}

/* Linux keeps a finished connection's receive queue readable until
 * close(): while the fd is open and bytes are unread, the TCB stays with
 * the socket, off the wheel and out of the tables; recv() frees it once
 * drained, close() at the latest. */
void host_tcb_release(pm_host *h, hsock *s)
{
    if (s->kind == SK_CONN && s->tcb != NIL && h->tcbs[s->tcb].rcv_len > 0) {
        wheel_del(h, s);
        return;
    }
    host_tcb_free(h, s);
}

void host_mark_ready(pm_host *h, hsock *s)
{
    if (s->kind == SK_CHILD && s->parent != NIL) s = &h->socks[s->parent];
    if (s->f & SF_IN_READY) return;
    s->f |= SF_IN_READY;
    s->rnext = NIL;
    uint32_t i = sk_index(h, s);
    if (h->ready_tail == NIL)
        h->ready_head = i;
    else
        h->socks[h->ready_tail].rnext = i;
    h->ready_tail = i;
}

void host_mark_dirty(pm_host *h, hsock *s)
{
    if (s->f & SF_IN_DIRTY) return;
    s->f |= SF_IN_DIRTY;
    s->dnext = NIL;
    uint32_t i = sk_index(h, s);
    if (h->dirty_tail == NIL)
        h->dirty_head = i;
    else
        h->socks[h->dirty_tail].dnext = i;
    h->dirty_tail = i;
}

/* ---- Output queue -------------------------------------------------------- */

uint8_t *host_out_slot(pm_host *h)
{
    outq *q = &h->out;
    if (q->n == q->cap) return NULL;
    uint32_t i = (q->head + q->n) % q->cap;
    return q->mem + (size_t)i * PM_HOST_MIN_OUT;
}

void host_out_commit(pm_host *h, int len)
{
    outq *q = &h->out;
    uint32_t i = (q->head + q->n) % q->cap;
    q->len[i] = (uint16_t)len;
    q->n++;
}

int host_emit(pm_host *h, const pm_packet *p)
{
    uint8_t *slot = host_out_slot(h);
    if (!slot) {
        h->st.out_dropped++;
        return -ENOBUFS;
    }
    int n = pm_packet_emit(p, slot, PM_HOST_MIN_OUT);
    if (n < 0) {
        h->st.out_dropped++;
        return n;
    }
    host_out_commit(h, n);
    return n;
}

/* ---- Personality ---------------------------------------------------------- */

/* What FreeBSD's tcp_output / syncache_respond put on a SYN: options
 * "mss, nop, wscale, sackOK, TS" (tcp_addoptions() order: MSS, then
 * window scale padded with a NOP, SACK-permitted, timestamps) and the
 * unscaled window min(space, 65535), not rounded to the MSS. */
static void freebsd_syn(pm_tcp *tcb, pm_tcp_repr *seg)
{
    pm_tcp_opts *o = &seg->opts;
    uint8_t n = 0;
    if (pm_tcp_has(o, PM_TCPOPT_MSS)) o->order[n++] = PM_TCPOPT_MSS;
    if (pm_tcp_has(o, PM_TCPOPT_WSCALE)) {
        o->order[n++] = PM_TCPOPT_NOP;
        o->order[n++] = PM_TCPOPT_WSCALE;
    }
    if (pm_tcp_has(o, PM_TCPOPT_SACK_PERM)) o->order[n++] = PM_TCPOPT_SACK_PERM;
    if (pm_tcp_has(o, PM_TCPOPT_TS)) o->order[n++] = PM_TCPOPT_TS;
    /* tcp_addoptions(): "terminate and pad to a 4 byte boundary" with an
     * EOL and zeros (the emitter pads after the EOL). */
    unsigned len = 0;
    for (uint8_t i = 0; i < n; i++)
        len += o->order[i] == PM_TCPOPT_MSS         ? 4
               : o->order[i] == PM_TCPOPT_WSCALE    ? 3
               : o->order[i] == PM_TCPOPT_SACK_PERM ? 2
               : o->order[i] == PM_TCPOPT_TS        ? 10
                                                    : 1;
    if (len % 4) o->order[n++] = PM_TCPOPT_EOL;
    o->order_len = n;
    uint32_t space = tcb->rcv_cap - tcb->rcv_len;
    uint32_t w = space < 65535 ? space : 65535;
    seg->window = (uint16_t)w;
    if ((seg->flags & PM_TH_ACK) && tcb->rcv_wup == tcb->rcv_nxt) tcb->rcv_wnd = w;
}

/* FreeBSD tcp_mss_update(): once the peer's MSS is known the buffer grows
 * to a multiple of it (65536 -> 65700), and the window with it; as far as
 * the ring slot allows and while its bytes do not wrap. */
static void freebsd_grow_rcv(const pm_host *h, pm_tcp *tcb)
{
    uint32_t mss = tcb->mss + ((tcb->opts & PM_TCPO_TS) ? 12 : 0);
    if (!mss) return;
    uint32_t want = (tcb->rcv_cap + mss - 1) / mss * mss;
    if (want <= h->cfg.tcp_rcvbuf && tcb->rcv_head + tcb->rcv_len <= tcb->rcv_cap)
        tcb->rcv_cap = want;
}

/* ---- After every TCB event ------------------------------------------------ */

static void on_events(pm_host *h, hsock *s, unsigned ev)
{
    if (!ev) return;
    pm_tcp *tcb = sk_tcb(h, s);
    if ((ev & PM_TCP_EV_CONNECTED) && s->kind == SK_CHILD && !(s->f & SF_ACCEPTED)) {
        hsock_x *l = sk_x(h, &h->socks[s->parent]);
        l->syn_len--;
        s->f |= SF_ACCEPTED | SF_WAS_CONNECTED | SF_CONNECTED;
        s->qnext = NIL;
        uint32_t i = sk_index(h, s);
        if (l->acc_tail == NIL)
            l->acc_head = i;
        else
            h->socks[l->acc_tail].qnext = i;
        l->acc_tail = i;
        l->acc_len++;
    }
    if (ev & PM_TCP_EV_CONNECTED) {
        s->f |= SF_WAS_CONNECTED;
        if (s->kind == SK_CONN && !(s->f & SF_PASSIVE)) h->st.connects++;
    }
    if ((ev & PM_TCP_EV_RESET) && tcb) {
        int e = pm_tcp_error(tcb);
        if (e == -ETIMEDOUT && s->soft_error) e = -s->soft_error; /* Linux tcp_write_err */
        if (e) s->so_error = (uint8_t)-e;
        if (!(s->f & SF_WAS_CONNECTED)) h->st.conn_failed++;
    }
    host_mark_ready(h, s);
}

void host_tcp_after(pm_host *h, hsock *s, unsigned ev)
{
    pm_tcp *tcb = sk_tcb(h, s);
    if (!tcb) return;
    on_events(h, s, ev);
    if (h->cfg.personality == PM_PERS_FREEBSD && tcb->state >= PM_TCP_SYN_RCVD)
        freebsd_grow_rcv(h, tcb);
    pm_packet p;
    for (;;) {
        if (!host_out_slot(h)) {
            host_mark_dirty(h, s); /* resumed by pm_host_output */
            return;
        }
        if (!pm_tcp_output(&h->tcp, tcb, h->now, &p.ip, &p.tcp, h->scratch, h->scratch_cap)) break;
        if ((p.tcp.flags & PM_TH_SYN) && h->cfg.personality == PM_PERS_FREEBSD)
            freebsd_syn(tcb, &p.tcp);
        host_emit(h, &p);
    }
    if (tcb->state == PM_TCP_TIME_WAIT) {
        host_time_wait(h, s);
    } else if (tcb->state == PM_TCP_CLOSED) {
        host_conn_done(h, s);
    } else {
        wheel_set(h, s, pm_tcp_next_deadline(tcb));
        /* Writable and readable edges the TCB does not report itself. */
        if (ev & (PM_TCP_EV_WRITABLE | PM_TCP_EV_READABLE)) host_mark_ready(h, s);
    }
}
