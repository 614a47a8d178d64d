/* Where the kernel would send a packet to a target: the route's output
 * device, gateway and source (RTM_GETROUTE), and the next hop's link-layer
 * address (RTM_GETNEIGH), so that the SYN scan can hand whole Ethernet
 * frames to the device (AF_PACKET) as masscan does, past the IP output
 * path. rtnetlink(7). */
#include <errno.h>
#include <net/if_arp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "scan/nexthop.h"

typedef struct nlreq {
    struct nlmsghdr nh;
    union {
        struct rtmsg rt;
        struct ndmsg nd;
    } u;
    uint8_t attrs[64];
} nlreq;

static void add_attr(nlreq *r, unsigned type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((uint8_t *)r + NLMSG_ALIGN(r->nh.nlmsg_len));
    a->rta_type = (unsigned short)type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends one request, reads its one answer into buf: its length, or a
 * negative errno (the kernel's NLMSG_ERROR). */
static int nl_ask(nlreq *r, uint8_t *buf, size_t cap)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    r->nh.nlmsg_seq = 1;
    int rc;
    if (send(fd, r, r->nh.nlmsg_len, 0) < 0) {
        rc = -errno;
    } else {
        ssize_t n = recv(fd, buf, cap, 0);
        rc = n < 0 ? -errno : (int)n;
    }
    close(fd);
    if (rc < 0) return rc;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (unsigned)rc)) return -EPROTO;
    if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        return e->error ? e->error : -ENOENT;
    }
    return rc;
}

static size_t addr_bytes(int family, const pm_ip *ip, uint8_t out[16])
{
    if (family == PM_AF_INET) {
        memcpy(out, ip->b + 12, 4);
        return 4;
    }
    memcpy(out, ip->b, 16);
    return 16;
}

static pm_ip ip_from(int family, const void *p)
{
    pm_ip ip;
    if (family == PM_AF_INET) return pm_ip4_bytes(p);
    memcpy(ip.b, p, 16);
    return ip;
}

int pm_scan_route(const pm_ip *dst, int family, pm_scan_nexthop *out)
{
    memset(out, 0, sizeof *out);
    nlreq r;
    memset(&r, 0, sizeof r);
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof r.u.rt);
    r.nh.nlmsg_type = RTM_GETROUTE;
    r.nh.nlmsg_flags = NLM_F_REQUEST;
    r.u.rt.rtm_family = family == PM_AF_INET ? AF_INET : AF_INET6;
    uint8_t a[16];
    size_t alen = addr_bytes(family, dst, a);
    r.u.rt.rtm_dst_len = (unsigned char)(alen * 8);
    add_attr(&r, RTA_DST, a, alen);
    uint8_t buf[4096];
    int n = nl_ask(&r, buf, sizeof buf);
    if (n < 0) return n;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type != RTM_NEWROUTE) return -EPROTO;
    struct rtmsg *rt = NLMSG_DATA(h);
    if (rt->rtm_type != RTN_UNICAST) return -ENETUNREACH; /* local, blackhole... */
    int len = (int)RTM_PAYLOAD(h);
    bool src = false;
    for (struct rtattr *at = RTM_RTA(rt); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
        size_t pl = RTA_PAYLOAD(at);
        if (at->rta_type == RTA_OIF && pl == 4) {
            memcpy(&out->ifindex, RTA_DATA(at), 4);
        } else if (at->rta_type == RTA_GATEWAY && pl == alen) {
            out->gateway = ip_from(family, RTA_DATA(at));
            out->has_gateway = true;
        } else if (at->rta_type == RTA_PREFSRC && pl == alen) {
            out->src = ip_from(family, RTA_DATA(at));
            src = true;
        }
    }
    if (!out->ifindex || !src) return -ENOENT;
    out->family = family;
    out->hop = out->has_gateway ? out->gateway : *dst;
    /* The device: Ethernet only (loopback, tunnels and the like take
     * the raw-socket path). */
    if (!if_indextoname((unsigned)out->ifindex, out->ifname)) return -errno;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, out->ifname, IFNAMSIZ);
    int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
    if (rc == 0) {
        memcpy(out->src_mac, ifr.ifr_hwaddr.sa_data, 6);
        if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) rc = -EPFNOSUPPORT;
    } else {
        rc = -errno;
    }
    if (rc == 0) {
        memset(&ifr, 0, sizeof ifr);
        memcpy(ifr.ifr_name, out->ifname, IFNAMSIZ);
        if (ioctl(fd, SIOCGIFMTU, &ifr) == 0) out->mtu = ifr.ifr_mtu;
    }
    close(fd);
    return rc;
}

/* The neighbour entry of the next hop: 0 with its address when usable,
 * -EAGAIN while unresolved. With trigger, an absent or failed entry is
 * created and resolution started (NTF_USE: neigh_event_send, the same as
 * a packet waiting for it, but without sending one). */
static int neigh_get(pm_scan_nexthop *nh, bool trigger)
{
    nlreq r;
    memset(&r, 0, sizeof r);
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof r.u.nd);
    r.nh.nlmsg_type = trigger ? RTM_NEWNEIGH : RTM_GETNEIGH;
    r.nh.nlmsg_flags = NLM_F_REQUEST | (trigger ? NLM_F_CREATE | NLM_F_ACK : 0);
    r.u.nd.ndm_family = nh->family == PM_AF_INET ? AF_INET : AF_INET6;
    r.u.nd.ndm_ifindex = nh->ifindex;
    if (trigger) {
        r.u.nd.ndm_flags = NTF_USE;
        r.u.nd.ndm_state = NUD_NONE;
    }
    uint8_t a[16];
    size_t alen = addr_bytes(nh->family, &nh->hop, a);
    add_attr(&r, NDA_DST, a, alen);
    uint8_t buf[1024];
    int n = nl_ask(&r, buf, sizeof buf);
    if (trigger || n < 0) return n == -ENOENT ? -EAGAIN : (n < 0 ? n : -EAGAIN);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type != RTM_NEWNEIGH) return -EPROTO;
    struct ndmsg *nd = NLMSG_DATA(h);
    if (nd->ndm_state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NONE)) return -EAGAIN;
    if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT)))
        return -EAGAIN;
    int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *nd));
    for (struct rtattr *at = (struct rtattr *)((uint8_t *)nd + NLMSG_ALIGN(sizeof *nd));
         RTA_OK(at, len); at = RTA_NEXT(at, len)) {
        if (at->rta_type == NDA_LLADDR && RTA_PAYLOAD(at) == 6) {
            memcpy(nh->dst_mac, RTA_DATA(at), 6);
            return 0;
        }
    }
    return -EAGAIN;
}

int pm_scan_neighbour(pm_scan_nexthop *nh, int wait_ms)
{
    int rc = neigh_get(nh, false);
    if (rc != -EAGAIN) return rc;
    int t = neigh_get(nh, true);
    if (t < 0 && t != -EAGAIN) return t;
    for (int waited = 0; waited < wait_ms; waited += 5) {
        nanosleep(&(struct timespec){0, 5000000}, NULL);
        rc = neigh_get(nh, false);
        if (rc != -EAGAIN) return rc;
    }
    return -EHOSTUNREACH;
}
