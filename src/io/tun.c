/* TUN device: open, configure the kernel's side, batched non-blocking I/O. */
#include "portmux/tun.h"

#include "portmux/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* linux/ipv6.h's in6_ifreq (that header clashes with netinet/in.h). */
struct pm_in6_ifreq {
    struct in6_addr ifr6_addr;
    uint32_t ifr6_prefixlen;
    int ifr6_ifindex;
};

int pm_tun_open(pm_tun *t, const char *name)
{
    return pm_tun_open_flags(t, name, 0);
}

static int tun_setiff(int fd, const char *name, short flags, char *got)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = flags;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name && *name ? name : "pmtun%d");
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) return -errno;
    snprintf(got, 16, "%s", ifr.ifr_name);
    return 0;
}

int pm_tun_open_flags(pm_tun *t, const char *name, unsigned flags)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (name && strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = -EINVAL;
    if (flags & PM_TUN_OFFLOAD_TSO) flags |= PM_TUN_OFFLOAD_CSUM;
    if (flags & PM_TUN_OFFLOAD_CSUM) {
        r = tun_setiff(fd, name, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, t->name);
        t->vnet = r == 0;
    }
    if (r < 0 && (r = tun_setiff(fd, name, IFF_TUN | IFF_NO_PI, t->name)) < 0) {
        close(fd);
        return r;
    }
    t->fd = fd;
    if (t->vnet) {
        int sz = PM_VNET_HDR_LEN; /* the legacy header, as the parser reads it */
        /* The header is little-endian: native on a little-endian machine. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        int le = 1;
        if (ioctl(fd, TUNSETVNETLE, &le) < 0) sz = -1;
#endif
        if (sz < 0 || ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
            /* Cannot turn IFF_VNET_HDR off on an attached fd: start over. */
            close(fd);
            return pm_tun_open_flags(t, name, 0);
        }
        /* The kernel only hands over what it was offered (tun_set_offload). */
        if ((flags & PM_TUN_OFFLOAD_TSO) &&
            ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) == 0)
            t->csum = t->tso = true;
        else
            t->csum = ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0;
    }
    return 0;
}

void pm_tun_close(pm_tun *t)
{
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
}

static int write_sysctl(const char *path, const char *val)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, val, strlen(val));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

int pm_tun_configure(const pm_tun *t, const pm_ip *addr4, unsigned plen4, const pm_ip *addr6,
                     unsigned plen6, unsigned mtu)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    int r = 0;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", t->name);
    if (mtu) {
        ifr.ifr_mtu = (int)mtu;
        if (ioctl(s, SIOCSIFMTU, &ifr) < 0) goto fail;
    }
    if (addr4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
        memset(&ifr.ifr_addr, 0, sizeof ifr.ifr_addr);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(pm_ip_v4(addr4));
        if (ioctl(s, SIOCSIFADDR, &ifr) < 0) goto fail;
        memset(&ifr.ifr_addr, 0, sizeof ifr.ifr_addr);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = plen4 ? htonl(~0u << (32 - plen4)) : 0;
        if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) goto fail;
    }
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) goto fail;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) goto fail;
    if (addr6) {
        /* No duplicate address detection: the address is usable at once
         * (a tentative address cannot be bound or sent from). */
        char path[128];
        snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", t->name);
        (void)write_sysctl(path, "0");
        snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/accept_dad", t->name);
        (void)write_sysctl(path, "0");
        int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s6 < 0) goto fail;
        if (ioctl(s6, SIOCGIFINDEX, &ifr) < 0) {
            r = -errno;
            close(s6);
            close(s);
            return r;
        }
        struct pm_in6_ifreq i6;
        memset(&i6, 0, sizeof i6);
        memcpy(&i6.ifr6_addr, addr6->b, 16);
        i6.ifr6_prefixlen = plen6;
        i6.ifr6_ifindex = ifr.ifr_ifindex;
        if (ioctl(s6, SIOCSIFADDR, &i6) < 0 && errno != EEXIST) {
            r = -errno;
            close(s6);
            close(s);
            return r;
        }
        close(s6);
    }
    close(s);
    return 0;
fail:
    r = -errno;
    close(s);
    return r;
}

int pm_tun_read_batch(pm_tun *t, uint8_t *bufs, size_t stride, size_t *lens, size_t max)
{
    size_t n = 0;
    while (n < max) {
        ssize_t k = read(t->fd, bufs + n * stride, stride);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            t->rx_errors++;
            return n ? (int)n : -errno;
        }
        lens[n++] = (size_t)k;
        t->rx_packets++;
        t->rx_bytes += (uint64_t)k;
    }
    return (int)n;
}

int pm_tun_write(pm_tun *t, const uint8_t *pkt, size_t len)
{
    static const uint8_t zero_hdr[PM_VNET_HDR_LEN];
    struct iovec iov[2] = {{(void *)zero_hdr, sizeof zero_hdr}, {(void *)pkt, len}};
    for (;;) {
        ssize_t k = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);
        if (k >= 0) {
            t->tx_packets++;
            t->tx_bytes += len;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == ENOBUFS) {
            t->tx_dropped++;
            return -EAGAIN;
        }
        t->tx_errors++;
        return -errno;
    }
}

int pm_tun_peer_for(const pm_ip *host, unsigned plen, int family, pm_ip *out)
{
    unsigned bits = family == PM_AF_INET ? 32 : 128;
    if (plen > bits || bits - plen < 2) return -EINVAL;
    unsigned off = family == PM_AF_INET ? 96 : 0; /* IPv4 is mapped */
    pm_ip net = *host;
    for (unsigned i = off + plen; i < 128; i++) net.b[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    for (unsigned add = 1; add <= 2; add++) {
        pm_ip p = net;
        unsigned carry = add;
        for (int i = 15; i >= 0 && carry; i--) {
            unsigned v = p.b[i] + carry;
            p.b[i] = (uint8_t)v;
            carry = v >> 8;
        }
        if (!pm_ip_eq(&p, host)) {
            *out = p;
            return 0;
        }
    }
    return -EINVAL;
}
