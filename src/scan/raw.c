/* -sS, -sA, -sF/-sN/-sX and -sU: probes built with the wire module, sent
 * in batches over one of two paths (raw.h: pktring.c or rawsock.c), and
 * replies matched statelessly:
 *   SYN: the sequence number is pm_scan_cookie(target, dport, sport); a
 *        SYN-ACK or RST acknowledges cookie + 1, an ICMP error quotes it.
 *   UDP: the source port (base + try) and the target (address, port).
 * The source port also names the try, so RTT samples are exact (no Karn
 * ambiguity). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scan/engine.h"
#include "scan/payloads.h"
#include "scan/raw.h"

#define SPORTS 16 /* source ports: base + (try - 1) % SPORTS */

typedef struct rstate {
    uint8_t proto;    /* PM_IPPROTO_TCP or _UDP */
    int hold[SPORTS]; /* sockets holding our source ports */
    pm_ip *src;       /* source address per target range */
    pm_raw_txq q[2];  /* [0] IPv4, [1] IPv6 */
    pm_wire_stats ws;
    uint64_t tx_dropped;
    char nft_table[48];
    bool nft, nft_in;
    uint16_t id;
    bool pkt;        /* the packet path, else raw sockets */
    pm_rawsock sock; /* opened for both: they need CAP_NET_RAW */
    pm_pktring ring; /* the packet path */
    pm_engine *e;    /* for replies */
} rstate;

/* ---- source addresses and ports ---------------------------------------- */

/* The address the kernel would send from to reach dst (a UDP connect()
 * sends nothing). */
static int route_source(const pm_ip *dst, int family, pm_ip *src)
{
    int fd = socket(family == PM_AF_INET ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == PM_AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(9);
        memcpy(&s->sin_addr, dst->b + 12, 4);
        len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(9);
        memcpy(&s->sin6_addr, dst->b, 16);
        len = sizeof *s;
    }
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        rc = -errno;
    else if (family == PM_AF_INET)
        *src = pm_ip4_bytes((const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr);
    else
        memcpy(src->b, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    close(fd);
    return rc;
}

/* Binds dual-stack sockets to base..base+SPORTS-1 so that no local
 * connection is given one of our source ports, and (UDP) so that our
 * kernel does not answer replies with ICMP port unreachable. */
static int hold_ports(rstate *rs, uint16_t base)
{
    for (int i = 0; i < SPORTS; i++) {
        int fd = socket(AF_INET6,
                        (rs->proto == PM_IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fd = socket(AF_INET,
                        (rs->proto == PM_IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        int off = 0, small = 4096;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)(base + i))};
        struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + i))};
        int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
        if (rc < 0 && errno == EAFNOSUPPORT) rc = bind(fd, (struct sockaddr *)&a4, sizeof a4);
        if (rc < 0) {
            int err = errno;
            close(fd);
            for (int k = 0; k < i; k++) close(rs->hold[k]), rs->hold[k] = -1;
            return -err;
        }
        rs->hold[i] = fd;
    }
    return 0;
}

/* nftables: drop the RSTs our kernel would send from our source ports
 * (it knows no connection for the SYN-ACKs our probes draw). Scoped to
 * those ports, in a table of our own, deleted when the scan ends. */
static int nft_run(const char *script)
{
    FILE *p = popen("nft -f - >/dev/null 2>&1", "w");
    if (!p) return -errno;
    fputs(script, p);
    int st = pclose(p);
    return st == 0 ? 0 : -EIO;
}

static void nft_add(rstate *rs, uint16_t base, bool syn)
{
    snprintf(rs->nft_table, sizeof rs->nft_table, "portmux_scan_%d", (int)getpid());
    char script[1024];
    unsigned lo = base, hi = base + SPORTS - 1;
    if (rs->pkt) {
        /* The packet path reads replies from the ring, which the device
         * feeds before its ingress hook: dropping them there spares our IP
         * stack the work, and our kernel never sees a SYN-ACK to answer. */
        const char *l4 = rs->proto == PM_IPPROTO_TCP ? "tcp" : "udp";
        snprintf(script, sizeof script,
                 "table netdev %s_in {\n chain in {\n  type filter hook ingress device \"%s\" "
                 "priority 0; policy accept;\n  ip protocol %s %s dport %u-%u drop\n"
                 "  ip6 nexthdr %s %s dport %u-%u drop\n }\n}\n",
                 rs->nft_table, rs->ring.nh.ifname, l4, l4, lo, hi, l4, l4, lo, hi);
        rs->nft_in = nft_run(script) == 0;
        if (rs->nft_in) return;
    }
    if (!syn) return;
    snprintf(script, sizeof script,
             "table inet %s {\n chain out {\n  type filter hook output priority 0; policy accept;\n"
             "  tcp sport %u-%u tcp flags & rst == rst drop\n }\n}\n",
             rs->nft_table, lo, hi);
    rs->nft = nft_run(script) == 0;
    if (!rs->nft)
        fprintf(stderr, "portmux scan: note: could not add the nftables rule that stops our "
                        "kernel's RSTs (nft missing?); results are unaffected\n");
}

static void nft_del(rstate *rs)
{
    char script[128];
    if (rs->nft) {
        snprintf(script, sizeof script, "delete table inet %s\n", rs->nft_table);
        nft_run(script);
        rs->nft = false;
    }
    if (rs->nft_in) {
        snprintf(script, sizeof script, "delete table netdev %s_in\n", rs->nft_table);
        nft_run(script);
        rs->nft_in = false;
    }
}

/* ---- sending ------------------------------------------------------------ */

static size_t range_of(const pm_targets *t, uint64_t ipi)
{
    size_t lo = 0, hi = t->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (t->cum[mid] <= ipi)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int pm_raw_flush(int fd, pm_raw_txq *q, uint64_t *dropped)
{
    unsigned done = 0;
    while (done < q->n) {
        int n = sendmmsg(fd, q->msg + done, q->n - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS || errno == EAGAIN) {
                /* the device queue is full: drop one, the timeout resends it */
                (*dropped)++;
                done++;
                continue;
            }
            if (errno == EHOSTUNREACH || errno == ENETUNREACH || errno == EPERM ||
                errno == EACCES) {
                done++; /* this one cannot leave; it will time out */
                continue;
            }
            return -errno;
        }
        done += (unsigned)n;
    }
    q->n = 0;
    return 0;
}

void pm_raw_push(pm_raw_txq *q, size_t len, const void *to, socklen_t tolen)
{
    unsigned i = q->n++;
    q->iov[i] = (struct iovec){q->buf[i], len};
    memset(&q->msg[i], 0, sizeof q->msg[i]);
    if (to) {
        memcpy(&q->to[i], to, tolen);
        q->msg[i].msg_hdr.msg_name = &q->to[i];
        q->msg[i].msg_hdr.msg_namelen = tolen;
    }
    q->msg[i].msg_hdr.msg_iov = &q->iov[i];
    q->msg[i].msg_hdr.msg_iovlen = 1;
}

static int flush(rstate *rs, int fam)
{
    return pm_raw_flush(rs->pkt ? rs->ring.fd : rs->sock.tx[fam], &rs->q[fam], &rs->tx_dropped);
}

/* -sF, -sN, -sX: the probe's flags (nmap's). */
static uint8_t fin_null_xmas_flags(int type)
{
    return type == PM_SCAN_FIN    ? PM_TH_FIN
           : type == PM_SCAN_XMAS ? PM_TH_FIN | PM_TH_PSH | PM_TH_URG
                                  : 0;
}

static int r_send(pm_engine *e, pm_probe *p, uint64_t now)
{
    (void)now;
    rstate *rs = e->be_state;
    const pm_scan_cfg *c = e->cfg;
    uint64_t ipi = p->idx / e->nports;
    int family;
    pm_ip dst = pm_targets_at(&c->targets, ipi, &family);
    int fam = family == PM_AF_INET6;
    uint16_t dport = pm_engine_port(e, p->idx);
    uint16_t sport = (uint16_t)(e->sport_base + (p->tries - 1) % SPORTS);
    pm_raw_txq *q = &rs->q[fam];
    if (q->n == PM_RAW_BATCH) {
        int rc = flush(rs, fam);
        if (rc < 0) return rc;
    }
    pm_packet pk;
    memset(&pk, 0, sizeof pk);
    pk.ip.version = fam ? 6 : 4;
    pk.ip.proto = rs->proto;
    pk.ip.ttl = 64;
    pk.ip.id = rs->id++;
    pk.ip.src = rs->src[range_of(&c->targets, ipi)];
    pk.ip.dst = dst;
    if (rs->proto == PM_IPPROTO_TCP) {
        pk.tcp.sport = sport;
        pk.tcp.dport = dport;
        pk.tcp.seq = pm_scan_cookie(e->key, &dst, dport, sport);
        if (c->type == PM_SCAN_ACK) {
            /* RFC 9293 3.10.7.1: the RST to an ACK takes its sequence
             * number from our acknowledgment: the cookie comes back there */
            pk.tcp.flags = PM_TH_ACK;
            pk.tcp.ack = pk.tcp.seq;
        } else if (c->type == PM_SCAN_SYN) {
            pk.tcp.flags = PM_TH_SYN;
            pk.tcp.opts.present = 1u << PM_TCPOPT_MSS;
            pk.tcp.opts.mss = 1460;
        } else {
            pk.tcp.flags = fin_null_xmas_flags(c->type);
        }
        pk.tcp.window = 1024;
    } else {
        pk.udp.sport = sport;
        pk.udp.dport = dport;
        pm_scan_payload(dport, &pk.udp.payload, &pk.udp.payload_len);
    }
    return rs->pkt ? pm_pktring_queue(&rs->ring, q, &pk) : pm_rawsock_queue(q, &pk);
}

/* ---- receiving ---------------------------------------------------------- */

static bool our_port(const pm_engine *e, uint16_t port, unsigned *tryno)
{
    uint16_t base = e->sport_base;
    if (port < base || port >= base + SPORTS) return false;
    *tryno = (unsigned)(port - base) + 1;
    return true;
}

/* nmap's reading of ICMP destination unreachable (scan_engine_raw.cc). */
static bool icmp_state(int version, uint8_t type, uint8_t code, uint8_t proto, int *state,
                       int *reason)
{
    *state = PM_PORT_FILTERED;
    if (version == 4) {
        if (type != PM_ICMP4_UNREACH) return false;
        switch (code) {
        case 0: *reason = PM_R_NET_UNREACH; return true;
        case 1: *reason = PM_R_HOST_UNREACH; return true;
        case 2: *reason = PM_R_PROTO_UNREACH; return true;
        case 3:
            *reason = PM_R_PORT_UNREACH;
            if (proto == PM_IPPROTO_UDP) *state = PM_PORT_CLOSED;
            return true;
        case 9: *reason = PM_R_NET_PROHIBITED; return true;
        case 10: *reason = PM_R_HOST_PROHIBITED; return true;
        case 13: *reason = PM_R_ADMIN_PROHIBITED; return true;
        default: return false;
        }
    }
    if (type != PM_ICMP6_UNREACH) return false;
    switch (code) {
    case 0: *reason = PM_R_NET_UNREACH; return true;
    case 1: *reason = PM_R_ADMIN_PROHIBITED; return true;
    case 3: *reason = PM_R_HOST_UNREACH; return true;
    case 4:
        *reason = PM_R_PORT_UNREACH;
        if (proto == PM_IPPROTO_UDP) *state = PM_PORT_CLOSED;
        return true;
    default: return false;
    }
}

static void handle(pm_engine *e, rstate *rs, const pm_packet *pk, uint64_t now)
{
    uint64_t idx;
    unsigned tryno;
    const pm_ip_repr *ip = &pk->ip;
    if (ip->proto == PM_IPPROTO_TCP && rs->proto == PM_IPPROTO_TCP) {
        const pm_tcp_repr *t = &pk->tcp;
        if (!our_port(e, t->dport, &tryno)) return;
        if (e->cfg->type == PM_SCAN_ACK) {
            /* nmap: any RST means the probe got through: unfiltered */
            if (!(t->flags & PM_TH_RST)) return;
            if (t->seq != pm_scan_cookie(e->key, &ip->src, t->sport, t->dport)) {
                e->st->bad_cookie++;
                return;
            }
            if (pm_engine_index(e, &ip->src, t->sport, &idx))
                pm_engine_resolve(e, idx, PM_PORT_UNFILTERED, PM_R_RESET, ip->ttl, tryno, now);
            return;
        }
        if (e->cfg->type != PM_SCAN_SYN) {
            /* FIN, NULL, Xmas: RFC 9293 3.10.7.1, a closed port answers a
             * segment without ACK with RST-ACK acknowledging seq + length
             * (the FIN counts one); a LISTEN socket drops it (3.10.7.2). */
            if ((t->flags & (PM_TH_RST | PM_TH_ACK)) != (PM_TH_RST | PM_TH_ACK)) return;
            uint32_t len = fin_null_xmas_flags(e->cfg->type) & PM_TH_FIN ? 1 : 0;
            if (t->ack - len != pm_scan_cookie(e->key, &ip->src, t->sport, t->dport)) {
                e->st->bad_cookie++;
                return;
            }
            if (pm_engine_index(e, &ip->src, t->sport, &idx))
                pm_engine_resolve(e, idx, PM_PORT_CLOSED, PM_R_RESET, ip->ttl, tryno, now);
            return;
        }
        if (!(t->flags & PM_TH_ACK)) return;
        if (t->ack - 1 != pm_scan_cookie(e->key, &ip->src, t->sport, t->dport)) {
            e->st->bad_cookie++;
            return;
        }
        if (!pm_engine_index(e, &ip->src, t->sport, &idx)) return;
        if (t->flags & PM_TH_RST)
            pm_engine_resolve(e, idx, PM_PORT_CLOSED, PM_R_RESET, ip->ttl, tryno, now);
        else if (t->flags & PM_TH_SYN)
            pm_engine_resolve(e, idx, PM_PORT_OPEN, PM_R_SYN_ACK, ip->ttl, tryno, now);
        return;
    }
    if (ip->proto == PM_IPPROTO_UDP && rs->proto == PM_IPPROTO_UDP) {
        const pm_udp_repr *u = &pk->udp;
        if (!our_port(e, u->dport, &tryno)) return;
        if (!pm_engine_index(e, &ip->src, u->sport, &idx)) return;
        pm_engine_resolve(e, idx, PM_PORT_OPEN, PM_R_UDP_RESPONSE, ip->ttl, tryno, now);
        return;
    }
    if (ip->proto == PM_IPPROTO_ICMP || ip->proto == PM_IPPROTO_ICMPV6) {
        const pm_icmp_repr *ic = &pk->icmp;
        if (!ic->is_error || !ic->inner_ports || ic->inner.proto != rs->proto) return;
        if (!our_port(e, ic->inner_sport, &tryno)) return;
        if (rs->proto == PM_IPPROTO_TCP &&
            ic->inner_seq !=
                pm_scan_cookie(e->key, &ic->inner.dst, ic->inner_dport, ic->inner_sport)) {
            e->st->bad_cookie++;
            return;
        }
        int state, reason;
        if (!icmp_state(ip->version, ic->type, ic->code, rs->proto, &state, &reason)) return;
        if (!pm_engine_index(e, &ic->inner.dst, ic->inner_dport, &idx)) return;
        pm_engine_resolve(e, idx, state, reason, ip->ttl, tryno, now);
    }
}

/* TCP and UDP checksums are not verified: over loopback and veth the
 * sender leaves them to offload (CHECKSUM_PARTIAL), so a raw socket sees
 * them unfinished. The cookie authenticates TCP replies instead; ICMP is
 * checksummed in software and is verified. */
int pm_raw_parse_transport(const pm_ip_repr *ip, const uint8_t *t, size_t len, pm_packet *pk,
                           pm_wire_stats *ws)
{
    if (ip->proto == PM_IPPROTO_TCP) return pm_tcp_parse(ip, t, len, false, &pk->tcp, ws);
    if (ip->proto == PM_IPPROTO_UDP) return pm_udp_parse(ip, t, len, false, &pk->udp, ws);
    if (ip->proto == PM_IPPROTO_ICMP || ip->proto == PM_IPPROTO_ICMPV6)
        return pm_icmp_parse(ip, t, len, &pk->icmp, ws);
    return -PM_E_PROTO;
}

int pm_raw_parse_ip(const uint8_t *buf, size_t len, pm_packet *pk, pm_wire_stats *ws)
{
    int rc = pm_ip_hdr_parse(buf, len, &pk->ip, ws);
    if (rc) return rc;
    if (pk->ip.fragment) return -PM_E_FRAGMENT;
    return pm_raw_parse_transport(&pk->ip, buf + pk->ip.header_len, pk->ip.payload_len, pk, ws);
}

static void on_reply(void *ctx, const pm_packet *pk, uint64_t now)
{
    rstate *rs = ctx;
    handle(rs->e, rs, pk, now);
}

static int r_poll(pm_engine *e, int timeout_ms)
{
    rstate *rs = e->be_state;
    for (int f = 0; f < 2; f++)
        if (rs->q[f].n) {
            int rc = flush(rs, f);
            if (rc < 0) return rc;
        }
    pm_raw_rx rx = {on_reply, rs, &rs->ws};
    return rs->pkt ? pm_pktring_poll(&rs->ring, timeout_ms, &rx)
                   : pm_rawsock_poll(&rs->sock, timeout_ms, &rx);
}

static void r_close(pm_engine *e)
{
    rstate *rs = e->be_state;
    if (!rs) return;
    e->st->tx_dropped = rs->tx_dropped;
    pm_pktring_close(&rs->ring, &e->st->rx_dropped);
    nft_del(rs);
    pm_rawsock_close(&rs->sock);
    for (int i = 0; i < SPORTS; i++)
        if (rs->hold[i] >= 0) close(rs->hold[i]);
    free(rs->src);
    free(rs);
    e->be_state = NULL;
}

static const pm_backend raw_backend = {r_send, NULL, r_poll, r_close, false, true};

int pm_backend_raw(pm_engine *e)
{
    const pm_scan_cfg *c = e->cfg;
    rstate *rs = calloc(1, sizeof *rs);
    if (!rs) return -ENOMEM;
    rs->proto = c->type == PM_SCAN_UDP ? PM_IPPROTO_UDP : PM_IPPROTO_TCP;
    pm_rawsock_init(&rs->sock, rs->proto);
    rs->ring.fd = -1;
    rs->e = e;
    for (int i = 0; i < SPORTS; i++) rs->hold[i] = -1;
    e->be_state = rs;
    e->be = &raw_backend;
    rs->id = (uint16_t)e->key[1];
    int rc = 0;
    bool fams[2] = {false, false};
    rs->src = calloc(c->targets.n, sizeof *rs->src);
    if (!rs->src) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < c->targets.n; i++) {
        int fam = c->targets.r[i].family;
        fams[fam == PM_AF_INET6] = true;
        if ((rc = route_source(&c->targets.r[i].base, fam, &rs->src[i])) < 0) {
            char b[PM_IP_STRLEN];
            fprintf(stderr, "portmux scan: no route to %s\n",
                    pm_ip_format(&c->targets.r[i].base, b));
            goto fail;
        }
    }
    /* Raw sockets are opened even for the packet path: they need
     * CAP_NET_RAW, so that both paths fail alike without it. */
    rs->pkt = pm_pktring_eligible(c, &rs->ring.nh);
    for (int f = 0; f < 2; f++) {
        if (!fams[f]) continue;
        if ((rc = pm_rawsock_open(&rs->sock, f)) < 0) goto fail;
    }
    /* Our source ports: the configured base, moved on if another socket has one. */
    uint16_t base = c->sport_base;
    for (int attempt = 0; attempt < 64; attempt++) {
        rc = hold_ports(rs, base);
        if (rc == 0) break;
        base = (uint16_t)(base + SPORTS < 65535 - SPORTS ? base + SPORTS : 1024);
    }
    if (rc < 0) goto fail;
    e->sport_base = base;
    if (rs->pkt && pm_pktring_open(&rs->ring, rs->proto, base, (uint16_t)(base + SPORTS - 1)) < 0)
        rs->pkt = false;
    /* The ring sends and receives: raw receive sockets would only take a
     * copy of every TCP/UDP and ICMP packet the machine gets. */
    if (rs->pkt) pm_rawsock_close(&rs->sock);
    if (c->firewall) nft_add(rs, base, c->type == PM_SCAN_SYN);
    e->st->path = rs->pkt ? "packet" : "raw";
    return 0;
fail:
    r_close(e);
    e->be = NULL;
    return rc;
}
