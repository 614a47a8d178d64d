/* A TUN device (IFF_TUN | IFF_NO_PI): every read is one IPv4 or IPv6
 * packet, every write sends one to the kernel. Non-blocking; batches are
 * loops of read(2)/write(2) until EAGAIN or the batch is full (a TUN fd has
 * no recvmmsg). Part of libportmux_sys: it does I/O. Needs CAP_NET_ADMIN. */
#ifndef PORTMUX_TUN_H
#define PORTMUX_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"

#define PM_TUN_MTU 1500

typedef struct pm_tun {
    int fd;
    char name[16]; /* IFNAMSIZ: the name the kernel gave */
    bool vnet;     /* every read and write starts with a virtio_net_hdr */
    bool csum;     /* TUNSETOFFLOAD took TUN_F_CSUM: checksums may be partial */
    bool tso;      /* and TSO4/6: reads may be TCP super-segments of 64 KiB */
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t tx_dropped; /* EAGAIN/ENOBUFS on write: the kernel's queue was full */
    uint64_t rx_errors, tx_errors;
} pm_tun;

/* Opens (creating if needed) the TUN device name ("" or NULL: the kernel
 * picks pmtun%d). 0 or a negative errno (-EPERM without CAP_NET_ADMIN,
 * -ENOENT without /dev/net/tun, -EBUSY if another process holds it). */
int pm_tun_open(pm_tun *t, const char *name);
/* pm_tun_open with the offloads Linux has for a TUN. PM_TUN_OFFLOAD_CSUM:
 * IFF_VNET_HDR (a 10-byte virtio_net_hdr, wire.h's pm_vnet_hdr, before
 * every packet read; pm_tun_write adds one) and TUNSETOFFLOAD TUN_F_CSUM:
 * the kernel leaves TCP/UDP checksums partial. PM_TUN_OFFLOAD_TSO adds
 * TUN_F_TSO4 | TUN_F_TSO6: it hands over TCP segments of up to 64 KiB
 * instead of cutting them to the MTU. Falls back to less when the kernel
 * refuses (t->vnet, t->csum, t->tso say what was had). */
#define PM_TUN_OFFLOAD_CSUM 1u
#define PM_TUN_OFFLOAD_TSO  2u
/* The largest packet a read returns with TSO: 64 KiB plus the header. */
#define PM_TUN_MAX_READ (65536 + 16)
int pm_tun_open_flags(pm_tun *t, const char *name, unsigned flags);
void pm_tun_close(pm_tun *t);

/* The kernel's side of the link: sets the MTU, gives the interface addr
 * (IPv4 with plen4 bits of netmask; an IPv6 address, DAD off, with plen6;
 * either may be NULL) and brings the link up. 0 or a negative errno. */
int pm_tun_configure(const pm_tun *t, const pm_ip *addr4, unsigned plen4, const pm_ip *addr6,
                     unsigned plen6, unsigned mtu);

/* Reads up to max packets into bufs (max slots of stride bytes each),
 * their lengths into lens; when t->vnet each starts with its
 * virtio_net_hdr (PM_VNET_HDR_LEN bytes, counted in lens and rx_bytes). Returns how many (0:
 * nothing pending) or a negative errno. */
int pm_tun_read_batch(pm_tun *t, uint8_t *bufs, size_t stride, size_t *lens, size_t max);
/* Writes one packet (after a zero virtio_net_hdr when t->vnet: checksums
 * complete, no GSO). 0, or -EAGAIN when the kernel's queue is full (the
 * packet is dropped and counted: TCP retransmits), or another -errno. */
int pm_tun_write(pm_tun *t, const uint8_t *pkt, size_t len);

/* The kernel's address on the link for a host address: the first host
 * address of the subnet (network + 1), or network + 2 when that is the
 * host's own. -EINVAL if the prefix leaves no room. */
int pm_tun_peer_for(const pm_ip *host, unsigned plen, int family, pm_ip *out);

#endif
