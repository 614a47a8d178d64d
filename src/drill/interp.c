/* The drill interpreter: runs a parsed script against a target in virtual
 * time, as packetdrill runs one against a kernel in real time.
 *
 * - '<' packets are built from the script (sequence numbers mapped from
 *   script space to live space) and injected;
 * - '>' packets are pulled from the target, mapped back to script space and
 *   compared field by field; the first mismatch ends the run;
 * - time only moves when the script says so: between events the target's
 *   timers fire at their deadlines, so a 3 s retransmission costs nothing.
 *
 * Sequence space (packetdrill's run_packet.c): the remote ISN is the
 * script's own (its inbound SYN's seq, used as is); the local ISN is learned
 * from the first outbound SYN, and every later local seq, inbound ack and
 * inbound SACK block is offset by it. TS val: the first outbound TS val maps onto the
 * script's, later ones keep their distance; an inbound ecr that echoes a
 * script TS val is rewritten to the live value it stood for. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill/drill_int.h"

#define T0         1000000u /* the target's clock at script time 0 */
#define QMAX       64
#define PKTMAX     65600
#define FDMAX      64
#define TSMAP      64
#define ANY_WAIT   (600u * 1000000u) /* '*' packets: wait up to 10 virtual minutes */
#define BAD_FD_OFF 0x40000000        /* script fds never created map here */
#define LATE_WAIT  (10u * 1000000u)  /* how long past its window a packet is awaited */

typedef struct qpkt {
    uint8_t *buf;
    size_t len;
    uint64_t t;
} qpkt;

typedef struct run {
    const pm_drill_script *s;
    const pm_drill_config *cfg;
    const pm_drill_target *t;
    pm_drill_trace_fn trace;
    void *trace_arg;
    pm_drill_result *res;
    bool done;
    uint64_t now; /* script time, usecs */
    qpkt q[QMAX];
    size_t qhead, qn;
    uint64_t dropped; /* outbound packets lost to a full queue */
    uint8_t *scratch;
    /* The connection under test. */
    bool have_local_isn;
    uint32_t local_isn_off; /* live - script */
    uint16_t local_port, remote_port;
    bool ts_first;
    uint32_t ts_first_script, ts_first_actual;
    uint32_t ts_script[TSMAP], ts_live[TSMAP];
    size_t ts_n;
    /* fds */
    int64_t fd_script[FDMAX], fd_target[FDMAX];
    size_t n_fd;
    int64_t last_fd; /* target fd of the socket under test, -1 none */
    /* A blocking syscall in flight. */
    const pm_drill_event *pending;
    int64_t pending_end;
} run;

static void set_result(run *r, pm_drill_verdict v, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_result(run *r, pm_drill_verdict v, int line, const char *fmt, ...)
{
    if (r->done) return;
    r->done = true;
    r->res->verdict = v;
    r->res->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->res->msg, sizeof r->res->msg, fmt, ap);
    va_end(ap);
}

static void trace(run *r, char dir, const uint8_t *b, size_t n)
{
    if (r->trace) r->trace(r->trace_arg, dir, b, n, r->now);
}

/* ---- Time and the outbound queue -------------------------------------- */

static void poll_pending(run *r);

static void drain(run *r)
{
    for (int guard = 0; guard < 4096; guard++) {
        int n = r->t->output(r->t->ctx, r->scratch, PKTMAX, T0 + r->now);
        if (n <= 0) return;
        if ((size_t)n > PKTMAX) n = PKTMAX;
        trace(r, '>', r->scratch, (size_t)n);
        if (r->qn == QMAX) {
            r->dropped++;
            continue;
        }
        qpkt *q = &r->q[(r->qhead + r->qn) % QMAX];
        memcpy(q->buf, r->scratch, (size_t)n);
        q->len = (size_t)n;
        q->t = r->now;
        r->qn++;
    }
}

/* Moves virtual time to `to`, firing the target's timers at their own
 * deadlines so the packets they send carry the right time. */
static void advance_to(run *r, uint64_t to)
{
    for (int guard = 0; guard < 100000 && !r->done; guard++) {
        uint64_t d = r->t->next_deadline(r->t->ctx);
        if (d == UINT64_MAX || d < T0 || d - T0 > to) break;
        uint64_t dt = d - T0;
        if (dt > r->now) r->now = dt;
        r->t->advance(r->t->ctx, T0 + r->now);
        drain(r);
        poll_pending(r);
        if (d - T0 <= r->now && r->t->next_deadline(r->t->ctx) == d) {
            /* A deadline that does not move would loop; step past it. */
            r->now++;
        }
    }
    if (to > r->now) r->now = to;
    r->t->advance(r->t->ctx, T0 + r->now);
    drain(r);
    poll_pending(r);
}

/* ---- fds and syscalls --------------------------------------------------- */

static bool fd_returning(const char *n)
{
    return !strcmp(n, "socket") || !strcmp(n, "accept") || !strcmp(n, "accept4") ||
           !strcmp(n, "dup") || !strcmp(n, "epoll_create") || !strcmp(n, "epoll_create1");
}

static bool takes_fd(const char *n)
{
    static const char *const no[] = {"socket",        "socketpair", "pipe", "poll",  "epoll_create",
                                     "epoll_create1", "select",     "open", "sleep", "usleep"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (!strcmp(n, no[i])) return false;
    return true;
}

static int64_t map_fd(const run *r, int64_t sfd)
{
    for (size_t i = 0; i < r->n_fd; i++)
        if (r->fd_script[i] == sfd) return r->fd_target[i];
    return BAD_FD_OFF + sfd;
}

static void remember_fd(run *r, int64_t sfd, int64_t tfd)
{
    for (size_t i = 0; i < r->n_fd; i++)
        if (r->fd_script[i] == sfd) {
            r->fd_target[i] = tfd;
            return;
        }
    if (r->n_fd < FDMAX) {
        r->fd_script[r->n_fd] = sfd;
        r->fd_target[r->n_fd++] = tfd;
    }
}

static int sa_family(const run *r)
{
    return r->cfg->ip_version == 4 ? PM_AF_INET : PM_AF_INET6;
}

/* Index of the socket-address argument, or -1. */
static int sa_index(const char *n)
{
    if (!strcmp(n, "bind") || !strcmp(n, "connect")) return 1;
    if (!strcmp(n, "sendto")) return 4;
    return -1;
}

static void build_call(run *r, const pm_drill_syscall *sc, pm_drill_call *c)
{
    memset(c, 0, sizeof *c);
    c->name = sc->name;
    c->n_args = sc->n_args < PM_DRILL_MAX_ARGS ? sc->n_args : PM_DRILL_MAX_ARGS;
    c->domain = sa_family(r);
    int sai = sa_index(sc->name);
    for (size_t i = 0; i < c->n_args; i++) {
        const pm_drill_expr *e = sc->args[i];
        c->args[i] = e;
        int64_t v;
        if (pm_drill_expr_int(e, &v) == 0) {
            c->arg_is_int[i] = true;
            c->arg_int[i] = v;
        }
        if (e->kind == PM_DX_SOCKADDR) {
            c->arg_is_sa[i] = true;
            c->arg_sa[i] = e->sa;
        } else if ((int)i == sai && e->kind == PM_DX_ELLIPSIS) {
            bool bind = !strcmp(sc->name, "bind");
            c->arg_is_sa[i] = true;
            c->arg_sa[i].family = (uint16_t)sa_family(r);
            c->arg_sa[i].ip = bind ? r->cfg->local_ip : r->cfg->remote_ip;
            c->arg_sa[i].port = bind ? r->cfg->bind_port : r->cfg->connect_port;
        }
    }
    if (!strcmp(sc->name, "socket") && c->n_args > 0 && sc->args[0]->kind == PM_DX_ELLIPSIS) {
        c->arg_is_int[0] = true;
        c->arg_int[0] = c->domain;
    }
    if (takes_fd(sc->name) && c->n_args > 0 && c->arg_is_int[0])
        c->arg_int[0] = map_fd(r, c->arg_int[0]);
}

/* An out-value the script wrote: [N], N, [ENAME] (SO_ERROR), or "...". */
static bool script_out_int(const pm_drill_expr *e, int64_t *v)
{
    if (e->kind == PM_DX_LIST && e->n_items == 1) e = e->items[0];
    if (e->kind == PM_DX_WORD && pm_drill_errno_value(e->str)) {
        *v = pm_drill_errno_value(e->str);
        return true;
    }
    return pm_drill_expr_int(e, v) == 0;
}

static void errno_text(int64_t ret, char *buf, size_t cap)
{
    if (ret < 0 && ret > -4096) {
        const char *n = pm_drill_errno_name((int)-ret);
        snprintf(buf, cap, "-1 %s (%s)", n ? n : "E?", strerror((int)-ret));
    } else {
        snprintf(buf, cap, "%lld", (long long)ret);
    }
}

/* Checks a completed call. */
static void check_call(run *r, const pm_drill_event *ev, pm_drill_call *c, int64_t ret)
{
    const pm_drill_syscall *sc = &ev->syscall;
    char got[96], want[96];
    errno_text(ret, got, sizeof got);
    int64_t exp = 0;
    bool any = sc->result->kind == PM_DX_ELLIPSIS;
    if (!any && pm_drill_expr_int(sc->result, &exp) != 0) {
        set_result(r, PM_DRILL_FAIL, ev->line, "%s: cannot evaluate the expected result", sc->name);
        return;
    }
    if (sc->errno_name)
        snprintf(want, sizeof want, "%lld %s", (long long)exp, sc->errno_name);
    else
        snprintf(want, sizeof want, "%lld", (long long)exp);
    if (!any) {
        bool ok;
        if (exp < 0) {
            int e = pm_drill_errno_value(sc->errno_name);
            ok = ret < 0 && (sc->errno_name == NULL || ret == -e);
        } else if (fd_returning(sc->name)) {
            ok = ret >= 0;
            if (ok) {
                remember_fd(r, exp, ret);
                r->last_fd = ret;
            }
        } else {
            ok = ret == exp;
        }
        if (!ok) {
            set_result(r, PM_DRILL_FAIL, ev->line, "%s: expected result %s but got %s", sc->name,
                       want, got);
            return;
        }
    }
    for (size_t i = 0; i < c->n_args; i++) {
        if (c->out_is_int[i]) {
            int64_t v;
            if (c->args[i]->kind == PM_DX_ELLIPSIS || !script_out_int(c->args[i], &v)) continue;
            if (v != c->out_int[i]) {
                set_result(r, PM_DRILL_FAIL, ev->line,
                           "%s: argument %zu: expected %lld but got %lld", sc->name, i + 1,
                           (long long)v, (long long)c->out_int[i]);
                return;
            }
        }
        if (c->out_is_sa[i] && c->args[i]->kind == PM_DX_SOCKADDR) {
            const pm_sockaddr *a = &c->args[i]->sa, *b = &c->out_sa[i];
            if (a->port != b->port || !pm_ip_eq(&a->ip, &b->ip)) {
                char sa[PM_SOCKADDR_STRLEN], sb[PM_SOCKADDR_STRLEN];
                set_result(r, PM_DRILL_FAIL, ev->line, "%s: argument %zu: expected %s but got %s",
                           sc->name, i + 1, pm_sockaddr_format(a, sa), pm_sockaddr_format(b, sb));
                return;
            }
        }
    }
    /* The connection under test: ports follow bind() and connect(). */
    int sai = sa_index(sc->name);
    if (sai >= 0 && (size_t)sai < c->n_args && c->arg_is_sa[sai] &&
        (ret >= 0 || ret == -EINPROGRESS)) {
        if (!strcmp(sc->name, "bind"))
            r->local_port = c->arg_sa[sai].port;
        else
            r->remote_port = c->arg_sa[sai].port;
    }
}

static void check_time(run *r, const pm_drill_event *ev, const char *what, int64_t lo, int64_t hi,
                       uint64_t actual)
{
    int64_t tol = r->cfg->tolerance_usecs;
    if ((int64_t)actual < lo - tol || (int64_t)actual > hi + tol) {
        r->res->expected_usecs = lo;
        r->res->actual_usecs = (int64_t)actual;
        if (lo == hi)
            set_result(r, PM_DRILL_FAIL, ev->line,
                       "timing error: expected %s at %.6f sec but happened at %.6f sec; "
                       "tolerance %.6f sec",
                       what, lo / 1e6, actual / 1e6, tol / 1e6);
        else
            set_result(r, PM_DRILL_FAIL, ev->line,
                       "timing error: expected %s between %.6f and %.6f sec but happened at "
                       "%.6f sec; tolerance %.6f sec",
                       what, lo / 1e6, hi / 1e6, actual / 1e6, tol / 1e6);
    }
}

static void poll_pending(run *r)
{
    if (!r->pending || r->done) return;
    const pm_drill_event *ev = r->pending;
    pm_drill_call c;
    build_call(r, &ev->syscall, &c);
    int64_t ret = r->t->syscall(r->t->ctx, &c, T0 + r->now);
    if (ret == PM_DRILL_BLOCKED) return;
    r->pending = NULL;
    check_call(r, ev, &c, ret);
    if (!r->done) check_time(r, ev, "system call return", r->pending_end, r->pending_end, r->now);
}

/* ---- Packets ------------------------------------------------------------ */

static const uint8_t zeros[65536];

static uint32_t ts_ecr_live(run *r, const pm_drill_event *ev, uint32_t ecr, bool *ok)
{
    *ok = true;
    for (size_t i = r->ts_n; i-- > 0;)
        if (r->ts_script[i % TSMAP] == ecr) return r->ts_live[i % TSMAP];
    if (r->ts_first) return ecr - r->ts_first_script + r->ts_first_actual;
    if (ecr == 0) return 0;
    *ok = false;
    set_result(r, PM_DRILL_FAIL, ev->line,
               "unable to infer live TS ecr for script TS ecr %u; no matching or preceding "
               "outbound TS val",
               ecr);
    return ecr;
}

static void inject(run *r, const pm_drill_event *ev)
{
    const pm_drill_packet *sp = &ev->packet;
    pm_packet p = sp->pkt;
    if (sp->ignore & PM_DRILL_IGN_TTL) p.ip.ttl = 64;
    uint16_t lport = r->local_port ? r->local_port : r->cfg->bind_port;
    uint16_t rport = r->remote_port ? r->remote_port : r->cfg->remote_port;
    uint8_t inner[80];
    if (sp->proto == PM_IPPROTO_TCP) {
        pm_tcp_repr *t = &p.tcp;
        if (sp->ignore & PM_DRILL_IGN_PORTS) {
            t->sport = rport;
            t->dport = lport;
        }
        if (t->flags & PM_TH_ACK) t->ack += r->local_isn_off;
        for (int i = 0; i < t->opts.sack_count && i < PM_TCP_MAX_SACK; i++) {
            t->opts.sack[i].left += r->local_isn_off;
            t->opts.sack[i].right += r->local_isn_off;
        }
        if ((t->flags & PM_TH_ACK) && pm_tcp_has(&t->opts, PM_TCPOPT_TS)) {
            bool ok;
            t->opts.ts_ecr = ts_ecr_live(r, ev, t->opts.ts_ecr, &ok);
            if (!ok) return;
        }
        t->payload = zeros;
    } else if (sp->proto == PM_IPPROTO_UDP) {
        if (sp->ignore & PM_DRILL_IGN_PORTS) {
            p.udp.sport = rport;
            p.udp.dport = lport;
        }
        p.udp.payload = zeros;
    } else {
        /* ICMP error quoting our own outbound packet: its IP header and the
         * first 8 transport bytes (RFC 792; RFC 4443 2.4). */
        pm_icmp_repr *ic = &p.icmp;
        ic->version = p.ip.version;
        if (ic->is_error && sp->icmp_inner_proto != 255) {
            pm_ip_repr ih;
            memset(&ih, 0, sizeof ih);
            ih.version = p.ip.version;
            ih.proto = sp->icmp_inner_proto;
            ih.ttl = 64;
            ih.src = p.ip.dst;
            ih.dst = p.ip.src;
            bool tcp = sp->icmp_inner_proto == PM_IPPROTO_TCP;
            ih.payload_len = (uint16_t)((tcp ? 20 : 8) + sp->icmp_inner_len);
            int hl = pm_ip_hdr_emit(&ih, inner, sizeof inner);
            if (hl < 0 || hl + 8 > (int)sizeof inner) {
                set_result(r, PM_DRILL_FAIL, ev->line, "cannot build the quoted packet: %s",
                           pm_strerror(hl));
                return;
            }
            uint8_t *l4 = inner + hl;
            l4[0] = (uint8_t)(lport >> 8);
            l4[1] = (uint8_t)lport;
            l4[2] = (uint8_t)(rport >> 8);
            l4[3] = (uint8_t)rport;
            if (tcp) {
                uint32_t seq = sp->icmp_inner_seq + r->local_isn_off;
                l4[4] = (uint8_t)(seq >> 24);
                l4[5] = (uint8_t)(seq >> 16);
                l4[6] = (uint8_t)(seq >> 8);
                l4[7] = (uint8_t)seq;
            } else {
                uint16_t ul = (uint16_t)(8 + sp->icmp_inner_len);
                l4[4] = (uint8_t)(ul >> 8);
                l4[5] = (uint8_t)ul;
                l4[6] = l4[7] = 0;
            }
            ic->data = inner;
            ic->data_len = (size_t)hl + 8;
        } else {
            ic->data = zeros;
            ic->data_len = sp->icmp_inner_len;
        }
    }
    int n = pm_packet_emit(&p, r->scratch, PKTMAX);
    if (n <= 0) {
        set_result(r, PM_DRILL_FAIL, ev->line, "cannot build the inbound packet: %s",
                   pm_strerror(n));
        return;
    }
    trace(r, '<', r->scratch, (size_t)n);
    /* What the host makes of the packet (accepted, dropped, answered with a
     * RST) shows in what it sends next, which the script checks; its return
     * value is not a verdict. */
    (void)r->t->inject(r->t->ctx, r->scratch, (size_t)n, T0 + r->now);
    drain(r);
    poll_pending(r);
}

static size_t opt_bytes(uint8_t kind, const pm_tcp_opts *o)
{
    switch (kind) {
    case PM_TCPOPT_EOL:
    case PM_TCPOPT_NOP: return 1;
    case PM_TCPOPT_MSS: return 4;
    case PM_TCPOPT_WSCALE: return 3;
    case PM_TCPOPT_SACK_PERM: return 2;
    case PM_TCPOPT_SACK: return 2 + 8 * (size_t)o->sack_count;
    case PM_TCPOPT_TS: return 10;
    default: return 0;
    }
}

/* Option area length, padded to 32 bits, as the data offset counts it. */
static size_t opts_len(const pm_tcp_opts *o)
{
    size_t n = 0, opq = 0;
    for (size_t i = 0; i < o->order_len; i++) {
        size_t b = opt_bytes(o->order[i], o);
        if (!b && opq + 1 < o->opaque_len) {
            b = o->opaque[opq + 1];
            opq += b ? b : 1;
        }
        n += b;
    }
    return (n + 3) & ~(size_t)3;
}

/* Kinds without the trailing EOLs, which are padding on the wire. */
static size_t kinds(const pm_tcp_opts *o)
{
    size_t n = o->order_len;
    while (n > 0 && o->order[n - 1] == PM_TCPOPT_EOL) n--;
    return n;
}

#define FIELD(name, e, a)                                                                          \
    do {                                                                                           \
        uint64_t e_ = (e), a_ = (a);                                                               \
        if (e_ != a_) {                                                                            \
            snprintf(why, whycap,                                                                  \
                     "live packet field %s: expected: %llu (%#llx) vs actual: %llu "               \
                     "(%#llx)",                                                                    \
                     name, (unsigned long long)e_, (unsigned long long)e_, (unsigned long long)a_, \
                     (unsigned long long)a_);                                                      \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

static bool compare_tcp_opts(run *r, const pm_tcp_opts *e, const pm_tcp_opts *a, char *why,
                             size_t whycap)
{
    size_t ne = kinds(e), na = kinds(a);
    bool order_ok = ne == na;
    for (size_t i = 0; order_ok && i < ne; i++) order_ok = e->order[i] == a->order[i];
    if (!order_ok) {
        snprintf(why, whycap, "bad outbound TCP options");
        return false;
    }
    if (pm_tcp_has(e, PM_TCPOPT_MSS)) FIELD("tcp_option_mss", e->mss, a->mss);
    if (pm_tcp_has(e, PM_TCPOPT_WSCALE)) FIELD("tcp_option_wscale", e->wscale, a->wscale);
    if (pm_tcp_has(e, PM_TCPOPT_SACK)) {
        FIELD("tcp_option_sack_blocks", e->sack_count, a->sack_count);
        for (int i = 0; i < e->sack_count && i < PM_TCP_MAX_SACK; i++) {
            FIELD("tcp_option_sack_left", e->sack[i].left, a->sack[i].left);
            FIELD("tcp_option_sack_right", e->sack[i].right, a->sack[i].right);
        }
    }
    if (pm_tcp_has(e, PM_TCPOPT_TS) && r->cfg->tcp_ts_tick_usecs) {
        int64_t d = (int32_t)(a->ts_val - e->ts_val);
        if (d < 0) d = -d;
        if (d * r->cfg->tcp_ts_tick_usecs > r->cfg->tolerance_usecs) {
            snprintf(why, whycap, "bad outbound TCP timestamp value, tolerance %lld",
                     (long long)r->cfg->tolerance_usecs);
            return false;
        }
    }
    if (e->opaque_len != a->opaque_len || memcmp(e->opaque, a->opaque, e->opaque_len)) {
        snprintf(why, whycap, "bad value outbound TCP option");
        return false;
    }
    return true;
}

/* Maps the live packet into script space (in act) and compares. */
static bool compare(run *r, const pm_drill_packet *sp, const pm_packet *live, pm_drill_packet *act,
                    char *why, size_t whycap)
{
    const pm_packet *e = &sp->pkt;
    memset(act, 0, sizeof *act);
    act->dir = '>';
    act->proto = live->ip.proto;
    act->pkt = *live;
    act->ecn = sp->ecn;
    act->tos_given = sp->tos_given;
    act->ignore = sp->ignore;
    act->icmp_mtu = -1;
    FIELD("ip_version", e->ip.version, live->ip.version);
    FIELD("ip_protocol", e->ip.proto, live->ip.proto);
    if (!pm_ip_eq(&e->ip.src, &live->ip.src) || !pm_ip_eq(&e->ip.dst, &live->ip.dst)) {
        char a[PM_IP_STRLEN], b[PM_IP_STRLEN], c[PM_IP_STRLEN], d[PM_IP_STRLEN];
        snprintf(why, whycap, "live packet addresses: expected %s > %s vs actual %s > %s",
                 pm_ip_format(&e->ip.src, a), pm_ip_format(&e->ip.dst, b),
                 pm_ip_format(&live->ip.src, c), pm_ip_format(&live->ip.dst, d));
        return false;
    }
    if (sp->ignore & PM_DRILL_IGN_ECN_ECT01) {
        unsigned ecn = live->ip.tos & 3u;
        if (ecn != 1 && ecn != 2) {
            snprintf(why, whycap, "live packet field ip_ecn: expected: 0x1 or 0x2 vs actual: %#x",
                     ecn);
            return false;
        }
    } else if (sp->tos_given) {
        FIELD("tos", e->ip.tos, live->ip.tos);
    } else if (sp->ecn != PM_DRILL_ECN_NONE) {
        FIELD("ip_ecn", (unsigned)sp->ecn, live->ip.tos & 3u);
    }
    if (!(sp->ignore & PM_DRILL_IGN_TTL)) FIELD("ttl", e->ip.ttl, live->ip.ttl);
    if (!(sp->ignore & PM_DRILL_IGN_FLOWLABEL) && e->ip.flow)
        FIELD("ipv6_flow_label", e->ip.flow, live->ip.flow);
    if (live->ip.proto == PM_IPPROTO_UDP) {
        uint16_t lp = r->local_port, rp = r->remote_port ? r->remote_port : r->cfg->connect_port;
        if (!(sp->ignore & PM_DRILL_IGN_PORTS)) {
            lp = e->udp.sport;
            rp = e->udp.dport;
        }
        if (lp) FIELD("udp_src_port", lp, live->udp.sport);
        FIELD("udp_dst_port", rp, live->udp.dport);
        FIELD("udp_payload_len", e->udp.payload_len, live->udp.payload_len);
        return true;
    }
    if (live->ip.proto == PM_IPPROTO_ICMP || live->ip.proto == PM_IPPROTO_ICMPV6) {
        act->icmp_type_name = NULL;
        FIELD("icmp_type", e->icmp.type, live->icmp.type);
        FIELD("icmp_code", e->icmp.code, live->icmp.code);
        act->icmp_type_name = sp->icmp_type_name;
        act->icmp_code_name = sp->icmp_code_name;
        return true;
    }
    /* TCP: map into script space first. */
    const pm_tcp_repr *et = &e->tcp;
    pm_tcp_repr *at = &act->pkt.tcp;
    if ((live->tcp.flags & PM_TH_SYN) && (!r->have_local_isn || (sp->ignore & PM_DRILL_IGN_SEQ))) {
        r->have_local_isn = true;
        r->local_isn_off = live->tcp.seq - ((sp->ignore & PM_DRILL_IGN_SEQ) ? 0 : et->seq);
    }
    if (!r->local_port) r->local_port = live->tcp.sport;
    /* Outbound SACK blocks are in the peer's sequence space, which is the
     * script's own: they compare as they are. */
    at->seq = live->tcp.seq - r->local_isn_off;
    if (pm_tcp_has(&et->opts, PM_TCPOPT_TS) && pm_tcp_has(&live->tcp.opts, PM_TCPOPT_TS)) {
        uint32_t sv = et->opts.ts_val, av = live->tcp.opts.ts_val;
        r->ts_script[r->ts_n % TSMAP] = sv;
        r->ts_live[r->ts_n % TSMAP] = av;
        r->ts_n++;
        if (!r->ts_first) {
            r->ts_first = true;
            r->ts_first_script = sv;
            r->ts_first_actual = av;
        }
        at->opts.ts_val = r->ts_first_script + (av - r->ts_first_actual);
    }
    uint16_t lp = r->local_port, rp = r->remote_port ? r->remote_port : r->cfg->remote_port;
    if (!(sp->ignore & PM_DRILL_IGN_PORTS)) {
        lp = et->sport;
        rp = et->dport;
    }
    FIELD("tcp_src_port", lp, live->tcp.sport);
    FIELD("tcp_dst_port", rp, live->tcp.dport);
    if (!(sp->ignore & PM_DRILL_IGN_OPTIONS))
        FIELD("tcp_data_offset", (20 + opts_len(&et->opts)) / 4,
              (20 + opts_len(&live->tcp.opts)) / 4);
    static const struct {
        uint16_t bit;
        const char *name;
    } fl[] = {{PM_TH_FIN, "tcp_fin"}, {PM_TH_SYN, "tcp_syn"}, {PM_TH_RST, "tcp_rst"},
              {PM_TH_PSH, "tcp_psh"}, {PM_TH_ACK, "tcp_ack"}, {PM_TH_URG, "tcp_urg"},
              {PM_TH_ECE, "tcp_ece"}, {PM_TH_CWR, "tcp_cwr"}, {PM_TH_AE, "tcp_ae"}};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        FIELD(fl[i].name, !!(et->flags & fl[i].bit), !!(live->tcp.flags & fl[i].bit));
    if (!(sp->ignore & PM_DRILL_IGN_SEQ)) FIELD("tcp_seq", et->seq, at->seq);
    FIELD("tcp_ack_seq", et->ack, at->ack);
    if (!(sp->ignore & PM_DRILL_IGN_WIN)) FIELD("tcp_window", et->window, at->window);
    FIELD("tcp_urg_ptr", et->urg, at->urg);
    FIELD("tcp_payload_len", et->payload_len, at->payload_len);
    if (!(sp->ignore & PM_DRILL_IGN_OPTIONS) &&
        !compare_tcp_opts(r, &et->opts, &at->opts, why, whycap))
        return false;
    return true;
}

static void expect_packet(run *r, const pm_drill_event *ev, int64_t lo, int64_t hi, bool any)
{
    const pm_drill_packet *sp = &ev->packet;
    int64_t tol = r->cfg->tolerance_usecs;
    /* Like packetdrill's sniffer, wait past the window so that a late
     * packet is reported with the time it came, not as missing. */
    uint64_t limit = any ? r->now + ANY_WAIT : (uint64_t)(hi + tol) + LATE_WAIT;
    while (r->qn == 0 && !r->done) {
        uint64_t d = r->t->next_deadline(r->t->ctx);
        if (d == UINT64_MAX || d < T0 || d - T0 > limit) {
            advance_to(r, limit > r->now ? limit : r->now);
            if (r->qn) break;
            pm_drill_packet_format(sp, r->res->expected, sizeof r->res->expected);
            r->res->expected_usecs = lo;
            set_result(r, PM_DRILL_FAIL, ev->line,
                       "timed out waiting for outbound packet (expected at %.6f sec)", lo / 1e6);
            return;
        }
        advance_to(r, d - T0 > r->now ? d - T0 : r->now);
    }
    if (r->done) return;
    qpkt *q = &r->q[r->qhead];
    r->qhead = (r->qhead + 1) % QMAX;
    r->qn--;
    if (q->t > r->now) r->now = q->t;
    pm_packet live;
    int rc = pm_packet_parse(q->buf, q->len, &live, NULL);
    pm_drill_packet_format(sp, r->res->expected, sizeof r->res->expected);
    r->res->expected_usecs = lo;
    r->res->actual_usecs = (int64_t)q->t;
    if (rc < 0) {
        set_result(r, PM_DRILL_FAIL, ev->line, "outbound packet does not parse: %s",
                   pm_strerror(rc));
        return;
    }
    pm_drill_packet act;
    char why[PM_DRILL_ERRLEN];
    bool ok = compare(r, sp, &live, &act, why, sizeof why);
    pm_drill_packet_format(&act, r->res->actual, sizeof r->res->actual);
    if (!ok) {
        set_result(r, PM_DRILL_FAIL, ev->line, "%s", why);
        return;
    }
    if (!any) check_time(r, ev, "outbound packet", lo, hi, q->t);
    if (!r->done) r->res->expected[0] = r->res->actual[0] = '\0';
}

/* ---- Commands ------------------------------------------------------------ */

static void run_cmd(run *r, const pm_drill_event *ev, pm_drill_cmd *cmd, const char *what)
{
    if (cmd->kind == PM_DRILL_CMD_STATE) cmd->fd = r->last_fd;
    int rc = r->t->command(r->t->ctx, cmd, T0 + r->now);
    if (rc == -ENOTSUP || rc == -EOPNOTSUPP) {
        set_result(r, PM_DRILL_SKIP, ev->line, "target does not support: %s", what);
        return;
    }
    if (rc < 0) {
        set_result(r, PM_DRILL_FAIL, ev->line, "command failed (%s): %s", pm_strerror(rc), what);
        return;
    }
    if (cmd->kind == PM_DRILL_CMD_COUNT && cmd->answer != cmd->expect)
        set_result(r, PM_DRILL_FAIL, ev->line, "expected %lld sockets in %s but found %lld: %s",
                   (long long)cmd->expect,
                   cmd->state >= 0 ? pm_drill_state_name(cmd->state) : "any state",
                   (long long)cmd->answer, what);
    if (cmd->kind == PM_DRILL_CMD_STATE && cmd->answer != cmd->state)
        set_result(r, PM_DRILL_FAIL, ev->line, "expected tcpi_state %s but it is %s",
                   pm_drill_state_name(cmd->state), pm_drill_state_name((int)cmd->answer));
    drain(r);
}

static void command_event(run *r, const pm_drill_event *ev)
{
    pm_drill_cmd cmd;
    char why[200];
    int rc;
    if (ev->kind == PM_DRILL_EV_UID) {
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = PM_DRILL_CMD_UID;
        cmd.uid = ev->uid;
        cmd.state = -1;
        rc = 0;
    } else if (ev->kind == PM_DRILL_EV_CODE) {
        rc = pm_drill_code_parse(ev->text, &cmd, why, sizeof why);
    } else {
        rc = pm_drill_command_parse(ev->text, &cmd, why, sizeof why);
    }
    if (rc < 0) {
        set_result(r, PM_DRILL_SKIP, ev->line, "unsupported: %s", why);
        return;
    }
    char what[160];
    if (ev->kind == PM_DRILL_EV_UID)
        snprintf(what, sizeof what, "uid %u", ev->uid);
    else
        snprintf(what, sizeof what, "%s", ev->text);
    run_cmd(r, ev, &cmd, what);
}

/* ---- The loop ------------------------------------------------------------ */

int pm_drill_run(const pm_drill_script *s, const pm_drill_target *target, pm_drill_trace_fn tr,
                 void *trace_arg, pm_drill_result *res)
{
    memset(res, 0, sizeof *res);
    if (!target) {
        res->verdict = PM_DRILL_SKIP;
        snprintf(res->msg, sizeof res->msg, "no target available (the portmux host is not built)");
        return 2;
    }
    run *r = calloc(1, sizeof *r);
    uint8_t *mem = r ? malloc((size_t)(QMAX + 1) * PKTMAX) : NULL;
    if (!r || !mem) {
        free(r);
        res->verdict = PM_DRILL_FAIL;
        snprintf(res->msg, sizeof res->msg, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < QMAX; i++) r->q[i].buf = mem + i * PKTMAX;
    r->scratch = mem + (size_t)QMAX * PKTMAX;
    r->s = s;
    r->cfg = &s->config;
    r->t = target;
    r->trace = tr;
    r->trace_arg = trace_arg;
    r->res = res;
    r->last_fd = -1;
    int rc = target->reset(target->ctx, &s->config);
    if (rc < 0) {
        set_result(r, rc == -ENOTSUP ? PM_DRILL_SKIP : PM_DRILL_FAIL, 0, "target reset failed: %s",
                   pm_strerror(rc));
    }
    for (size_t i = 0; i < s->n_events && !r->done; i++) {
        const pm_drill_event *ev = &s->events[i];
        const pm_drill_time *tm = &ev->time;
        int64_t lo = (int64_t)r->now, hi = lo;
        switch (tm->kind) {
        case PM_DRILL_TIME_NONE:
        case PM_DRILL_TIME_ANY: break;
        case PM_DRILL_TIME_ABSOLUTE: lo = hi = tm->usecs; break;
        case PM_DRILL_TIME_RELATIVE: lo = hi = (int64_t)r->now + tm->usecs; break;
        case PM_DRILL_TIME_ABS_RANGE:
            lo = tm->usecs;
            hi = tm->usecs_end;
            break;
        case PM_DRILL_TIME_REL_RANGE:
            lo = (int64_t)r->now + tm->usecs;
            hi = (int64_t)r->now + tm->usecs_end;
            break;
        }
        res->events_run = i + 1;
        if (ev->kind == PM_DRILL_EV_PACKET && ev->packet.dir == '>') {
            expect_packet(r, ev, lo, hi, tm->kind == PM_DRILL_TIME_ANY);
            continue;
        }
        if (lo > (int64_t)r->now) advance_to(r, (uint64_t)lo);
        if (r->done) break;
        switch (ev->kind) {
        case PM_DRILL_EV_PACKET: inject(r, ev); break;
        case PM_DRILL_EV_SYSCALL: {
            if (r->pending) {
                set_result(r, PM_DRILL_FAIL, ev->line,
                           "a system call starts while the blocking call at line %d is still "
                           "blocked",
                           r->pending->line);
                break;
            }
            pm_drill_call c;
            build_call(r, &ev->syscall, &c);
            /* A connect's SYN may go out before the call returns (a blocking
             * connect): the remote port is known from the start. */
            if (!strcmp(c.name, "connect") && c.n_args > 1 && c.arg_is_sa[1])
                r->remote_port = c.arg_sa[1].port;
            int64_t end = -1;
            if (ev->syscall.end_usecs >= 0)
                end = (tm->kind == PM_DRILL_TIME_RELATIVE ? (int64_t)r->now : 0) +
                      ev->syscall.end_usecs;
            int64_t ret = target->syscall(target->ctx, &c, T0 + r->now);
            if (ret == PM_DRILL_BLOCKED) {
                if (ev->syscall.end_usecs < 0) {
                    set_result(r, PM_DRILL_FAIL, ev->line,
                               "%s blocked, but the script expects it to return at once "
                               "(write START...END for a blocking call)",
                               ev->syscall.name);
                    break;
                }
                r->pending = ev;
                r->pending_end = end;
                break;
            }
            check_call(r, ev, &c, ret);
            if (!r->done && end >= 0) check_time(r, ev, "system call return", end, end, r->now);
            drain(r);
            poll_pending(r);
            break;
        }
        default: command_event(r, ev); break;
        }
    }
    if (!r->done && r->pending) {
        /* Let time run to the blocking call's end (plus tolerance). */
        advance_to(r, (uint64_t)(r->pending_end + r->cfg->tolerance_usecs));
        if (r->pending && !r->done)
            set_result(r, PM_DRILL_FAIL, r->pending->line, "%s never returned",
                       r->pending->syscall.name);
    }
    if (!r->done) {
        res->verdict = PM_DRILL_PASS;
        res->events_run = s->n_events;
    }
    res->end_usecs = r->now;
    free(mem);
    free(r);
    return res->verdict == PM_DRILL_PASS ? 0 : res->verdict == PM_DRILL_FAIL ? 1 : 2;
}
