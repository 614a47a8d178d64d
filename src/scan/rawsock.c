/* The raw-socket path: one IPPROTO_RAW socket per family sends whole IP
 * packets; replies come from raw TCP/UDP and ICMP/ICMPv6 sockets, read
 * with recvmmsg. IPv6 raw sockets give no IP header: it is rebuilt from
 * the sender's address, IPV6_PKTINFO and IPV6_HOPLIMIT. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "scan/raw.h"

void pm_rawsock_init(pm_rawsock *s, uint8_t proto)
{
    for (int f = 0; f < 2; f++) s->tx[f] = s->rx[f] = s->icmp[f] = -1;
    s->proto = proto;
}

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

int pm_rawsock_open(pm_rawsock *s, int f)
{
    int dom = f ? AF_INET6 : AF_INET;
    int fds[3] = {open_raw(dom, IPPROTO_RAW, false), open_raw(dom, s->proto, true),
                  open_raw(dom, f ? IPPROTO_ICMPV6 : IPPROTO_ICMP, true)};
    s->tx[f] = fds[0] < 0 ? -1 : fds[0];
    s->rx[f] = fds[1] < 0 ? -1 : fds[1];
    s->icmp[f] = fds[2] < 0 ? -1 : fds[2];
    for (int k = 0; k < 3; k++)
        if (fds[k] < 0) return fds[k];
    return 0;
}

int pm_rawsock_queue(pm_raw_txq *q, const pm_packet *pk)
{
    int len = pm_packet_emit(pk, q->buf[q->n], PM_RAW_PKTMAX);
    if (len < 0) return len;
    struct sockaddr_in6 to;
    memset(&to, 0, sizeof to);
    socklen_t tolen;
    if (pk->ip.version == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&to;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, pk->ip.dst.b + 12, 4);
        tolen = sizeof *s4;
    } else {
        to.sin6_family = AF_INET6;
        memcpy(&to.sin6_addr, pk->ip.dst.b, 16);
        tolen = sizeof to;
    }
    pm_raw_push(q, (size_t)len, &to, tolen);
    return 0;
}

/* IPv6 raw sockets deliver the transport bytes only. */
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
    return pm_raw_parse_transport(&pk->ip, buf, len, pk, ws);
}

static void drain(int fd, int fam, uint8_t proto, const pm_raw_rx *rx)
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
            int rc = fam ? parse6(proto, bufs[i], m[i].msg_len, &m[i].msg_hdr, &pk, rx->ws)
                         : pm_raw_parse_ip(bufs[i], m[i].msg_len, &pk, rx->ws);
            if (rc == 0) rx->reply(rx->ctx, &pk, now);
        }
        if (n < N) return;
    }
}

int pm_rawsock_poll(pm_rawsock *s, int timeout_ms, const pm_raw_rx *rx)
{
    struct pollfd pf[4];
    int map[4][2], n = 0;
    for (int f = 0; f < 2; f++) {
        if (s->rx[f] >= 0) {
            pf[n] = (struct pollfd){s->rx[f], POLLIN, 0};
            map[n][0] = f, map[n][1] = s->proto, n++;
        }
        if (s->icmp[f] >= 0) {
            pf[n] = (struct pollfd){s->icmp[f], POLLIN, 0};
            map[n][0] = f, map[n][1] = f ? PM_IPPROTO_ICMPV6 : PM_IPPROTO_ICMP, n++;
        }
    }
    int r = poll(pf, (nfds_t)n, timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++)
        if (pf[i].revents & POLLIN) drain(pf[i].fd, map[i][0], (uint8_t)map[i][1], rx);
    return 0;
}

void pm_rawsock_close(pm_rawsock *s)
{
    for (int f = 0; f < 2; f++) {
        if (s->tx[f] >= 0) close(s->tx[f]);
        if (s->rx[f] >= 0) close(s->rx[f]);
        if (s->icmp[f] >= 0) close(s->icmp[f]);
        s->tx[f] = s->rx[f] = s->icmp[f] = -1;
    }
}
