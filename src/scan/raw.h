/* The two ways raw probes (-sS, -sA, -sF/-sN/-sX, -sU) leave and their
 * replies come back; raw.c builds the probes, matches the replies and
 * picks the path:
 *   pktring.c: whole Ethernet frames on an AF_PACKET socket (qdisc bypass),
 *       replies from a TPACKET_V3 receive ring behind a BPF filter, when
 *       every target has one next hop on an Ethernet device;
 *   rawsock.c: IP raw sockets (IP_HDRINCL), replies from raw TCP/UDP and
 *       ICMP sockets; otherwise, or with --raw-sockets.
 * Both queue probes into a batch (one sendmmsg) and hand each parsed
 * reply to a callback. */
#ifndef PM_SCAN_RAW_H
#define PM_SCAN_RAW_H

#include <linux/filter.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "portmux/scan.h"
#include "portmux/wire.h"
#include "scan/nexthop.h"

#define PM_RAW_BATCH  64
#define PM_RAW_PKTMAX 320 /* Ethernet header + IP + TCP/UDP with the largest payload */
#define PM_ETHLEN     14

/* A batch of probes for one sendmmsg. */
typedef struct pm_raw_txq {
    struct mmsghdr msg[PM_RAW_BATCH];
    struct iovec iov[PM_RAW_BATCH];
    struct sockaddr_in6 to[PM_RAW_BATCH]; /* large enough for either family */
    uint8_t buf[PM_RAW_BATCH][PM_RAW_PKTMAX];
    unsigned n;
} pm_raw_txq;

/* Where parsed replies go. */
typedef struct pm_raw_rx {
    void (*reply)(void *ctx, const pm_packet *pk, uint64_t now);
    void *ctx;
    pm_wire_stats *ws;
} pm_raw_rx;

/* Sends the batch on fd; a full device queue or an unroutable probe drops
 * that probe (counted in *dropped, or left to time out). 0 or -errno. */
int pm_raw_flush(int fd, pm_raw_txq *q, uint64_t *dropped);
/* Appends a probe of len bytes (already in q->buf[q->n]) addressed to
 * to/tolen (NULL: the socket's). */
void pm_raw_push(pm_raw_txq *q, size_t len, const void *to, socklen_t tolen);
/* An IP packet (either version, header included), then its transport.
 * 0 or a negative pm_err / -errno. */
int pm_raw_parse_ip(const uint8_t *buf, size_t len, pm_packet *pk, pm_wire_stats *ws);
int pm_raw_parse_transport(const pm_ip_repr *ip, const uint8_t *t, size_t len, pm_packet *pk,
                           pm_wire_stats *ws);

/* ---- rawsock.c: IP raw sockets ------------------------------------------ */

typedef struct pm_rawsock {
    int tx[2], rx[2], icmp[2]; /* [0] IPv4, [1] IPv6; -1 if unused */
    uint8_t proto;             /* PM_IPPROTO_TCP or _UDP */
} pm_rawsock;

void pm_rawsock_init(pm_rawsock *s, uint8_t proto);
/* Opens the sending and receiving sockets of one family (fam: 1 = IPv6). */
int pm_rawsock_open(pm_rawsock *s, int fam);
/* Queues probe pk (emitted with its IP header) to its destination. */
int pm_rawsock_queue(pm_raw_txq *q, const pm_packet *pk);
int pm_rawsock_poll(pm_rawsock *s, int timeout_ms, const pm_raw_rx *rx);
void pm_rawsock_close(pm_rawsock *s);

/* ---- pktring.c: AF_PACKET frames and a TPACKET_V3 receive ring ----------- */

typedef struct pm_pktring {
    int fd; /* sends frames, fills the ring; -1 if closed */
    uint8_t *ring;
    size_t ring_len;
    unsigned blocks, bsize, pos;
    pm_scan_nexthop nh;
} pm_pktring;

/* Does every target have one next hop on an Ethernet device whose address
 * the kernel has (or resolves now)? Fills *nh if so. */
bool pm_pktring_eligible(const pm_scan_cfg *c, pm_scan_nexthop *nh);
/* Opens the socket on pr->nh's device, the ring and the filter for
 * TCP/UDP (proto) to source ports lo..hi plus ICMP. 0 or -errno. */
int pm_pktring_open(pm_pktring *pr, uint8_t proto, uint16_t lo, uint16_t hi);
/* The classic BPF program of that filter, into prog (room for
 * PM_PKTRING_FILTER_LEN instructions); returns its length. */
#define PM_PKTRING_FILTER_LEN 20
unsigned pm_pktring_filter(struct sock_filter *prog, uint8_t proto, uint16_t lo, uint16_t hi);
/* An Ethernet frame: dst, src, the IP version's type, then pk. Its length,
 * or -ENOSPC. */
int pm_pktring_frame(uint8_t *buf, size_t cap, const uint8_t dst[6], const uint8_t src[6],
                     const pm_packet *pk);
int pm_pktring_queue(pm_pktring *pr, pm_raw_txq *q, const pm_packet *pk);
/* Every frame of one ring block, parsed and passed on; returns its frame
 * count. */
unsigned pm_pktring_block(const struct tpacket_block_desc *bd, const pm_raw_rx *rx, uint64_t now);
int pm_pktring_poll(pm_pktring *pr, int timeout_ms, const pm_raw_rx *rx);
/* Closes; *rx_dropped: frames the ring had no room for. */
void pm_pktring_close(pm_pktring *pr, uint64_t *rx_dropped);

#endif
