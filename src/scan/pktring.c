/* The packet path, as masscan's: probes leave as whole Ethernet frames on
 * an AF_PACKET socket bound to the next hop's device with
 * PACKET_QDISC_BYPASS (no routing, netfilter or qdisc per probe); replies
 * are read from a TPACKET_V3 receive ring that a classic BPF filter feeds
 * with only TCP/UDP to our source ports and ICMP/ICMPv6, without system
 * calls while blocks are waiting. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "scan/raw.h"

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* One next hop for a whole scan: a single address, or ranges behind one
 * gateway (checked at their first and last address). */
bool pm_pktring_eligible(const pm_scan_cfg *c, pm_scan_nexthop *out)
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
            *out = nh[0];
        else if (nh[0].ifindex != out->ifindex || nh[0].family != out->family ||
                 memcmp(nh[0].hop.b, out->hop.b, 16) != 0)
            return false;
    }
    return pm_scan_neighbour(out, 1000) == 0;
}

/* TCP or UDP (proto) to our source ports lo..hi, and every ICMP/ICMPv6
 * message; unfragmented IPv4, IPv6 without extension headers before the
 * transport. Offsets from the frame's start. */
unsigned pm_pktring_filter(struct sock_filter *prog, uint8_t proto, uint16_t lo, uint16_t hi)
{
    const struct sock_filter p[PM_PKTRING_FILTER_LEN] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12), /* EtherType */
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 1, 0),
        /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 9, 16),
        /* 3 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23), /* IPv4 protocol */
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 13, 0),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, proto, 0, 13),
        /* 6 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20), /* fragment offset */
        /* 7 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 11, 0),
        /* 8 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14), /* IPv4 header length */
        /* 9 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),  /* destination port */
        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 8),
        /* 11 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 7, 6),
        /* 12 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20), /* IPv6 next header */
        /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 4, 0),
        /* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, proto, 0, 4),
        /* 15 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 56), /* destination port */
        /* 16 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 2),
        /* 17 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 1, 0),
        /* 18 */ BPF_STMT(BPF_RET | BPF_K, 0xffff),
        /* 19 */ BPF_STMT(BPF_RET | BPF_K, 0),
    };
    memcpy(prog, p, sizeof p);
    return PM_PKTRING_FILTER_LEN;
}

/* 32 blocks of 256 KB, into which the kernel packs frames back to back (a
 * RST takes ~130 bytes: ~60000 fit), handing a block over when full or
 * after 10 ms (1 ms retired a block each millisecond of a burst of sends
 * and filled the ring). */
int pm_pktring_open(pm_pktring *pr, uint8_t proto, uint16_t lo, uint16_t hi)
{
    pr->fd = -1;
    pr->ring = NULL;
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* bound below */
    if (fd < 0) return -errno;
    int v = TPACKET_V3, on = 1, big = 8 << 20, rc = 0;
    struct tpacket_req3 req = {.tp_block_size = 1u << 18,
                               .tp_block_nr = 32,
                               .tp_frame_size = 2048,
                               .tp_frame_nr = ((1u << 18) / 2048) * 32,
                               .tp_retire_blk_tov = 10};
    struct sockaddr_ll ll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = pr->nh.ifindex};
    struct sock_filter prog[PM_PKTRING_FILTER_LEN];
    struct sock_fprog fp = {(unsigned short)pm_pktring_filter(prog, proto, lo, hi), prog};
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
        rc = -errno;
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
    pr->fd = fd;
    pr->ring = ring;
    pr->ring_len = len;
    pr->bsize = req.tp_block_size;
    pr->blocks = req.tp_block_nr;
    pr->pos = 0;
    return 0;
}

int pm_pktring_frame(uint8_t *buf, size_t cap, const uint8_t dst[6], const uint8_t src[6],
                     const pm_packet *pk)
{
    if (cap < PM_ETHLEN) return -ENOSPC;
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    bool v6 = pk->ip.version == 6;
    buf[12] = v6 ? 0x86 : 0x08;
    buf[13] = v6 ? 0xdd : 0x00;
    int len = pm_packet_emit(pk, buf + PM_ETHLEN, cap - PM_ETHLEN);
    return len < 0 ? len : len + PM_ETHLEN;
}

int pm_pktring_queue(pm_pktring *pr, pm_raw_txq *q, const pm_packet *pk)
{
    int len = pm_pktring_frame(q->buf[q->n], PM_RAW_PKTMAX, pr->nh.dst_mac, pr->nh.src_mac, pk);
    if (len < 0) return len;
    pm_raw_push(q, (size_t)len, NULL, 0);
    return 0;
}

unsigned pm_pktring_block(const struct tpacket_block_desc *bd, const pm_raw_rx *rx, uint64_t now)
{
    const uint8_t *p = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
    for (uint32_t i = 0; i < bd->hdr.bh1.num_pkts; i++) {
        const struct tpacket3_hdr *h = (const void *)p;
        const uint8_t *f = p + h->tp_mac;
        unsigned len = h->tp_snaplen;
        if (len > PM_ETHLEN &&
            ((f[12] == 0x08 && f[13] == 0x00) || (f[12] == 0x86 && f[13] == 0xdd))) {
            pm_packet pk;
            if (pm_raw_parse_ip(f + PM_ETHLEN, len - PM_ETHLEN, &pk, rx->ws) == 0)
                rx->reply(rx->ctx, &pk, now);
        }
        p += h->tp_next_offset;
    }
    return bd->hdr.bh1.num_pkts;
}

/* The blocks the kernel has filled (TP_STATUS_USER: full, or retired by
 * its timer), in ring order; each is handed back (TP_STATUS_KERNEL) once
 * read. No system call. */
static unsigned ring_drain(pm_pktring *pr, const pm_raw_rx *rx)
{
    uint64_t now = 0;
    unsigned frames = 0;
    for (unsigned k = 0; k < pr->blocks; k++) {
        struct tpacket_block_desc *bd = (void *)(pr->ring + (size_t)pr->pos * pr->bsize);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
        if (!now) now = pm_scan_now_us();
        frames += pm_pktring_block(bd, rx, now);
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        pr->pos = pr->pos + 1 == pr->blocks ? 0 : pr->pos + 1;
    }
    return frames;
}

int pm_pktring_poll(pm_pktring *pr, int timeout_ms, const pm_raw_rx *rx)
{
    if (ring_drain(pr, rx) || timeout_ms == 0) return 0;
    struct pollfd pf = {pr->fd, POLLIN, 0};
    if (poll(&pf, 1, timeout_ms) < 0 && errno != EINTR) return -errno;
    ring_drain(pr, rx);
    return 0;
}

void pm_pktring_close(pm_pktring *pr, uint64_t *rx_dropped)
{
    if (pr->fd >= 0) {
        struct tpacket_stats_v3 ps;
        socklen_t len = sizeof ps;
        if (getsockopt(pr->fd, SOL_PACKET, PACKET_STATISTICS, &ps, &len) == 0)
            *rx_dropped = ps.tp_drops;
    }
    if (pr->ring) munmap(pr->ring, pr->ring_len);
    if (pr->fd >= 0) close(pr->fd);
    pr->ring = NULL;
    pr->fd = -1;
}
