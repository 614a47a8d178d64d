/* -sS, -sA and -sU. Probes are built with the wire module and sent in
 * batches (sendmmsg) by one of two paths:
 *   packet: when every target has one next hop on an Ethernet device, as
 *       masscan: whole frames to the device (AF_PACKET, PACKET_QDISC_BYPASS:
 *       no routing, netfilter or qdisc per probe); replies are read from a
 *       receive ring (PACKET_RX_RING) that a BPF filter feeds with only
 *       TCP/UDP to our source ports and ICMP, and an nftables ingress rule
 *       keeps those replies from our own IP stack (no RSTs, no work);
 *   raw: IP raw sockets (IP_HDRINCL), replies from raw TCP/UDP and ICMP
 *       sockets; otherwise, or with --raw-sockets.
 * Replies are parsed and matched statelessly:
 *   SYN: the sequence number is pm_scan_cookie(target, dport, sport); a
 *        SYN-ACK or RST acknowledges cookie + 1, an ICMP error quotes it.
 *   UDP: the source port (base + try) and the target (address, port).
 * The source port also names the try, so RTT samples are exact (no Karn
 * ambiguity). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "portmux/wire.h"
#include "scan/engine.h"
#include "scan/nexthop.h"
#include "scan/payloads.h"

#define SPORTS 16 /* source ports: base + (try - 1) % SPORTS */
#define BATCH  64
#define PKTMAX 320 /* Ethernet header + IP + TCP/UDP with the largest payload */
#define ETHLEN 14

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

typedef struct txq {
    struct mmsghdr msg[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in6 to[BATCH]; /* large enough for either family */
    uint8_t buf[BATCH][PKTMAX];
    unsigned n;
} txq;

typedef struct rstate {
    uint8_t proto;             /* PM_IPPROTO_TCP or _UDP */
    int tx[2], rx[2], icmp[2]; /* [0] IPv4, [1] IPv6; -1 if unused */
    int hold[SPORTS];          /* sockets holding our source ports */
    pm_ip *src;                /* source address per target range */
    txq q[2];
    pm_wire_stats ws;
    uint64_t tx_dropped;
    char nft_table[48];
    bool nft, nft_in;
    uint16_t id;
    /* packet path */
    bool pkt;
    int pfd; /* AF_PACKET socket: sends frames, fills the ring */
    uint8_t *ring;
    size_t ring_len;
    unsigned ring_blocks, ring_bsize, ring_pos; /* TPACKET_V3 blocks */
    pm_scan_nexthop nh;
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
                 rs->nft_table, rs->nh.ifname, l4, l4, lo, hi, l4, l4, lo, hi);
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

static int flush(rstate *rs, int fam)
{
    txq *q = &rs->q[fam];
    unsigned done = 0;
    while (done < q->n) {
        int n = sendmmsg(rs->pkt ? rs->pfd : rs->tx[fam], q->msg + done, q->n - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS || errno == EAGAIN) {
                /* the device queue is full: drop one, the timeout resends it */
                rs->tx_dropped++;
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
    txq *q = &rs->q[fam];
    if (q->n == BATCH) {
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
    uint8_t *buf = q->buf[q->n];
    if (rs->pkt) {
        /* Ethernet: next hop, us, IPv4 or IPv6 */
        memcpy(buf, rs->nh.dst_mac, 6);
        memcpy(buf + 6, rs->nh.src_mac, 6);
        buf[12] = fam ? 0x86 : 0x08;
        buf[13] = fam ? 0xdd : 0x00;
        int len = pm_packet_emit(&pk, buf + ETHLEN, PKTMAX - ETHLEN);
        if (len < 0) return len;
        q->iov[q->n] = (struct iovec){buf, (size_t)len + ETHLEN};
        memset(&q->msg[q->n], 0, sizeof q->msg[q->n]);
        q->msg[q->n].msg_hdr.msg_iov = &q->iov[q->n];
        q->msg[q->n].msg_hdr.msg_iovlen = 1;
        q->n++;
        return 0;
    }
    int len = pm_packet_emit(&pk, buf, PKTMAX);
    if (len < 0) return len;
    struct sockaddr_in6 *to = &q->to[q->n];
    memset(to, 0, sizeof *to);
    socklen_t tolen;
    if (!fam) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)to;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, dst.b + 12, 4);
        tolen = sizeof *s4;
    } else {
        to->sin6_family = AF_INET6;
        memcpy(&to->sin6_addr, dst.b, 16);
        tolen = sizeof *to;
    }
    q->iov[q->n] = (struct iovec){buf, (size_t)len};
    memset(&q->msg[q->n], 0, sizeof q->msg[q->n]);
    q->msg[q->n].msg_hdr.msg_name = to;
    q->msg[q->n].msg_hdr.msg_namelen = tolen;
    q->msg[q->n].msg_hdr.msg_iov = &q->iov[q->n];
    q->msg[q->n].msg_hdr.msg_iovlen = 1;
    q->n++;
    return 0;
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
static int parse_transport(const pm_ip_repr *ip, const uint8_t *t, size_t len, pm_packet *pk,
                           pm_wire_stats *ws)
{
    if (ip->proto == PM_IPPROTO_TCP) return pm_tcp_parse(ip, t, len, false, &pk->tcp, ws);
    if (ip->proto == PM_IPPROTO_UDP) return pm_udp_parse(ip, t, len, false, &pk->udp, ws);
    if (ip->proto == PM_IPPROTO_ICMP || ip->proto == PM_IPPROTO_ICMPV6)
        return pm_icmp_parse(ip, t, len, &pk->icmp, ws);
    return -PM_E_PROTO;
}

/* IPv6 raw sockets deliver the transport bytes only: the header is rebuilt
 * from the sender's address and IPV6_PKTINFO / IPV6_HOPLIMIT. */
static int parse6(uint8_t proto, const uint8_t *buf, size_t len, const struct msghdr *mh,
                  pm_packet *pk, pm_wire_stats *ws)
{
    memset(&pk->ip, 0, sizeof pk->ip);
    pk->ip.version = 6;
    pk->ip.proto = proto;
    pk->ip.payload_len = (uint16_t)len;
    const struct sockaddr_in6 *from = mh->msg_name;
    memcpy(pk->ip.src.b, &from->sin6_addr, 16);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        if (cm->cmsg_level != IPPROTO_IPV6) continue;
        if (cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            memcpy(pk->ip.dst.b, &pi.ipi6_addr, 16);
        } else if (cm->cmsg_type == IPV6_HOPLIMIT) {
            int hl;
            memcpy(&hl, CMSG_DATA(cm), sizeof hl);
            pk->ip.ttl = (uint8_t)hl;
        }
    }
    return parse_transport(&pk->ip, buf, len, pk, ws);
}

/* IPv4 (raw sockets), or either version (the packet ring): the header as
 * received, then the transport. */
static int parse_ip(const uint8_t *buf, size_t len, pm_packet *pk, pm_wire_stats *ws)
{
    int rc = pm_ip_hdr_parse(buf, len, &pk->ip, ws);
    if (rc) return rc;
    if (pk->ip.fragment) return -PM_E_FRAGMENT;
    return parse_transport(&pk->ip, buf + pk->ip.header_len, pk->ip.payload_len, pk, ws);
}

static void drain(pm_engine *e, rstate *rs, int fd, int fam, uint8_t proto)
{
    enum { N = 64, SZ = 2048 };
    static uint8_t bufs[N][SZ];
    static uint8_t ctl[N][128];
    struct mmsghdr m[N];
    struct iovec iov[N];
    struct sockaddr_in6 from[N];
    for (int round = 0; round < 64; round++) {
        for (int i = 0; i < N; i++) {
            iov[i] = (struct iovec){bufs[i], SZ};
            memset(&m[i], 0, sizeof m[i]);
            m[i].msg_hdr.msg_iov = &iov[i];
            m[i].msg_hdr.msg_iovlen = 1;
            m[i].msg_hdr.msg_name = &from[i];
            m[i].msg_hdr.msg_namelen = sizeof from[i];
            m[i].msg_hdr.msg_control = ctl[i];
            m[i].msg_hdr.msg_controllen = sizeof ctl[i];
        }
        int n = recvmmsg(fd, m, N, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        uint64_t now = pm_scan_now_us();
        for (int i = 0; i < n; i++) {
            pm_packet pk;
            int rc = fam ? parse6(proto, bufs[i], m[i].msg_len, &m[i].msg_hdr, &pk, &rs->ws)
                         : parse_ip(bufs[i], m[i].msg_len, &pk, &rs->ws);
            if (rc == 0) handle(e, rs, &pk, now);
        }
        if (n < N) return;
    }
}

/* The blocks the kernel has filled (TP_STATUS_USER: full, or retired by
 * its 1 ms timer), in ring order, each frame of each; a block is handed
 * back (TP_STATUS_KERNEL) once read. No system call. */
static unsigned ring_drain(pm_engine *e, rstate *rs)
{
    uint64_t now = 0;
    unsigned frames = 0;
    for (unsigned k = 0; k < rs->ring_blocks; k++) {
        struct tpacket_block_desc *bd = (void *)(rs->ring + (size_t)rs->ring_pos * rs->ring_bsize);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
        if (!now) now = pm_scan_now_us();
        const uint8_t *p = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
        for (uint32_t i = 0; i < bd->hdr.bh1.num_pkts; i++) {
            const struct tpacket3_hdr *h = (const void *)p;
            const uint8_t *f = p + h->tp_mac;
            unsigned len = h->tp_snaplen;
            if (len > ETHLEN &&
                ((f[12] == 0x08 && f[13] == 0x00) || (f[12] == 0x86 && f[13] == 0xdd))) {
                pm_packet pk;
                if (parse_ip(f + ETHLEN, len - ETHLEN, &pk, &rs->ws) == 0) handle(e, rs, &pk, now);
            }
            p += h->tp_next_offset;
        }
        frames += bd->hdr.bh1.num_pkts;
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        rs->ring_pos = rs->ring_pos + 1 == rs->ring_blocks ? 0 : rs->ring_pos + 1;
    }
    return frames;
}

static int r_poll(pm_engine *e, int timeout_ms)
{
    rstate *rs = e->be_state;
    for (int f = 0; f < 2; f++)
        if (rs->q[f].n) {
            int rc = flush(rs, f);
            if (rc < 0) return rc;
        }
    if (rs->pkt) {
        if (ring_drain(e, rs) || timeout_ms == 0) return 0;
        struct pollfd pf = {rs->pfd, POLLIN, 0};
        if (poll(&pf, 1, timeout_ms) < 0 && errno != EINTR) return -errno;
        ring_drain(e, rs);
        return 0;
    }
    struct pollfd pf[4];
    int map[4][2], n = 0;
    for (int f = 0; f < 2; f++) {
        if (rs->rx[f] >= 0) {
            pf[n] = (struct pollfd){rs->rx[f], POLLIN, 0};
            map[n][0] = f, map[n][1] = rs->proto, n++;
        }
        if (rs->icmp[f] >= 0) {
            pf[n] = (struct pollfd){rs->icmp[f], POLLIN, 0};
            map[n][0] = f, map[n][1] = f ? PM_IPPROTO_ICMPV6 : PM_IPPROTO_ICMP, n++;
        }
    }
    int r = poll(pf, (nfds_t)n, timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++)
        if (pf[i].revents & POLLIN) drain(e, rs, pf[i].fd, map[i][0], (uint8_t)map[i][1]);
    return 0;
}

static void r_close(pm_engine *e)
{
    rstate *rs = e->be_state;
    if (!rs) return;
    e->st->tx_dropped = rs->tx_dropped;
    if (rs->pfd >= 0) {
        struct tpacket_stats_v3 ps;
        socklen_t len = sizeof ps;
        if (getsockopt(rs->pfd, SOL_PACKET, PACKET_STATISTICS, &ps, &len) == 0)
            e->st->rx_dropped = ps.tp_drops;
    }
    nft_del(rs);
    for (int f = 0; f < 2; f++) {
        if (rs->tx[f] >= 0) close(rs->tx[f]);
        if (rs->rx[f] >= 0) close(rs->rx[f]);
        if (rs->icmp[f] >= 0) close(rs->icmp[f]);
    }
    for (int i = 0; i < SPORTS; i++)
        if (rs->hold[i] >= 0) close(rs->hold[i]);
    if (rs->ring) munmap(rs->ring, rs->ring_len);
    if (rs->pfd >= 0) close(rs->pfd);
    free(rs->src);
    free(rs);
    e->be_state = NULL;
}

static const pm_backend raw_backend = {r_send, NULL, r_poll, r_close, false, true};

static int open_raw(int domain, int proto, bool rx)
{
    int fd = socket(domain, SOCK_RAW | SOCK_CLOEXEC, proto);
    if (fd < 0) return -errno;
    int big = 8 << 20, on = 1;
    if (rx) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        if (domain == AF_INET6) {
            setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
            setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on);
        }
    } else {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
        if (domain == AF_INET6) {
#ifdef IPV6_HDRINCL
            setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &on, sizeof on);
#endif
        }
    }
    return fd;
}

/* The packet path applies when every target is reached through one next
 * hop on an Ethernet device whose address the kernel has (or resolves
 * now): a single address, or ranges behind one gateway. */
static bool packet_eligible(const pm_scan_cfg *c, rstate *rs)
{
    if (c->raw_sockets) return false;
    for (size_t i = 0; i < c->targets.n; i++) {
        const pm_target_range *r = &c->targets.r[i];
        pm_scan_nexthop nh[2];
        if (pm_scan_route(&r->base, r->family, &nh[0]) < 0) return false;
        /* on-link: each address is its own next hop */
        if (r->count > 1 && !nh[0].has_gateway) return false;
        if (r->count > 1) {
            int fam;
            pm_ip last = pm_targets_at(&c->targets, c->targets.cum[i] + r->count - 1, &fam);
            if (pm_scan_route(&last, r->family, &nh[1]) < 0 || nh[1].ifindex != nh[0].ifindex ||
                memcmp(nh[1].hop.b, nh[0].hop.b, 16) != 0)
                return false;
        }
        if (i == 0)
            rs->nh = nh[0];
        else if (nh[0].ifindex != rs->nh.ifindex || nh[0].family != rs->nh.family ||
                 memcmp(nh[0].hop.b, rs->nh.hop.b, 16) != 0)
            return false;
    }
    return pm_scan_neighbour(&rs->nh, 1000) == 0;
}

/* Classic BPF for the receive ring: TCP or UDP (proto) to our source
 * ports lo..hi, and every ICMP/ICMPv6 message; unfragmented IPv4, IPv6
 * without extension headers before the transport. */
static int attach_filter(int fd, uint8_t proto, uint16_t lo, uint16_t hi)
{
    struct sock_filter prog[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 1, 0),
        /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 9, 16),
        /* 3 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 13, 0),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, proto, 0, 13),
        /* 6 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),
        /* 7 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 11, 0),
        /* 8 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),
        /* 9 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),
        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 8),
        /* 11 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 7, 6),
        /* 12 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
        /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 4, 0),
        /* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, proto, 0, 4),
        /* 15 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 56),
        /* 16 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 2),
        /* 17 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 1, 0),
        /* 18 */ BPF_STMT(BPF_RET | BPF_K, 0xffff),
        /* 19 */ BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog fp = {(unsigned short)(sizeof prog / sizeof prog[0]), prog};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) < 0 ? -errno : 0;
}

/* The AF_PACKET socket on the next hop's device: frames out past the
 * qdisc, a TPACKET_V3 receive ring in: 32 blocks of 256 KB, into which the
 * kernel packs frames back to back (a RST takes ~130 bytes: ~60000 fit),
 * handing a block over when full or after 1 ms. */
static int packet_open(rstate *rs, uint16_t base)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* bound below */
    if (fd < 0) return -errno;
    int v = TPACKET_V3, on = 1, big = 8 << 20, rc = 0;
    struct tpacket_req3 req = {.tp_block_size = 1u << 18,
                               .tp_block_nr = 32,
                               .tp_frame_size = 2048,
                               .tp_frame_nr = ((1u << 18) / 2048) * 32,
                               .tp_retire_blk_tov = 10};
    struct sockaddr_ll ll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = rs->nh.ifindex};
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0 ||
        (rc = attach_filter(fd, rs->proto, base, (uint16_t)(base + SPORTS - 1))) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
        rc = rc ? rc : -errno;
        close(fd);
        return rc;
    }
    /* both optional: older kernels queue and tap our frames */
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &on, sizeof on);
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    size_t len = (size_t)req.tp_block_size * req.tp_block_nr;
    void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (bind(fd, (struct sockaddr *)&ll, sizeof ll) < 0) {
        rc = -errno;
        munmap(ring, len);
        close(fd);
        return rc;
    }
    rs->pfd = fd;
    rs->ring = ring;
    rs->ring_len = len;
    rs->ring_bsize = req.tp_block_size;
    rs->ring_blocks = req.tp_block_nr;
    rs->ring_pos = 0;
    return 0;
}

static int open_raw_family(rstate *rs, int f)
{
    int dom = f ? AF_INET6 : AF_INET;
    int fds[3] = {open_raw(dom, IPPROTO_RAW, false), open_raw(dom, rs->proto, true),
                  open_raw(dom, f ? IPPROTO_ICMPV6 : IPPROTO_ICMP, true)};
    rs->tx[f] = fds[0] < 0 ? -1 : fds[0];
    rs->rx[f] = fds[1] < 0 ? -1 : fds[1];
    rs->icmp[f] = fds[2] < 0 ? -1 : fds[2];
    for (int k = 0; k < 3; k++)
        if (fds[k] < 0) return fds[k];
    return 0;
}

int pm_backend_raw(pm_engine *e)
{
    const pm_scan_cfg *c = e->cfg;
    rstate *rs = calloc(1, sizeof *rs);
    if (!rs) return -ENOMEM;
    rs->proto = c->type == PM_SCAN_UDP ? PM_IPPROTO_UDP : PM_IPPROTO_TCP;
    for (int f = 0; f < 2; f++) rs->tx[f] = rs->rx[f] = rs->icmp[f] = -1;
    rs->pfd = -1;
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
    rs->pkt = packet_eligible(c, rs);
    for (int f = 0; f < 2; f++) {
        if (!fams[f]) continue;
        if ((rc = open_raw_family(rs, f)) < 0) goto fail;
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
    if (rs->pkt && packet_open(rs, base) < 0) rs->pkt = false;
    if (c->firewall) nft_add(rs, base, c->type == PM_SCAN_SYN);
    e->st->path = rs->pkt ? "packet" : "raw";
    return 0;
fail:
    r_close(e);
    e->be = NULL;
    return rc;
}
