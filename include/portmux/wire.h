/* Wire formats: IPv4, IPv6, TCP, UDP, ICMPv4, ICMPv6.
 *
 * As in smoltcp's wire module, each protocol has a representation (repr)
 * that is parsed once from bytes, validated, and emitted once back into
 * bytes. parse never reads past len, never trusts a length field it has not
 * checked, and returns 0 or a negative pm_err (err.h) naming what was wrong;
 * when stats is not NULL the matching counter is bumped. emit writes the
 * header, options and payload, fills in checksums, and returns the number
 * of bytes written, -ENOSPC, -EMSGSIZE, or -EINVAL for a repr that cannot
 * be sent. docs/wire.md has the errors, their RFCs, and what is checked.
 *
 * Multi-byte fields in reprs are in host order. Payload pointers point into
 * the parsed buffer: a repr does not own bytes. */
#ifndef PORTMUX_WIRE_H
#define PORTMUX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"
#include "portmux/err.h"

/* Counters: one per pm_err code, and the packets that parsed. Every parse
 * function bumps the counter of the error it returns; ok is bumped by
 * pm_packet_parse only, so a packet counts once however it is parsed. */
typedef struct pm_wire_stats {
    uint64_t ok;
    uint64_t err[PM_E_COUNT]; /* index: -err - PM_ERR_BASE */
} pm_wire_stats;

/* ---- IP (v4 or v6) ---------------------------------------------------- */

typedef struct pm_ip_repr {
    uint8_t version;      /* 4 or 6 */
    uint8_t proto;        /* upper-layer protocol (after IPv6 extension headers) */
    uint8_t ttl;          /* TTL or hop limit */
    uint8_t tos;          /* DSCP+ECN or traffic class */
    uint32_t flow;        /* IPv6 flow label */
    uint16_t id;          /* IPv4 identification (low 16 bits of the IPv6 one) */
    bool df;              /* IPv4 don't-fragment */
    bool fragment;        /* part of a fragmented datagram */
    bool more_frags;      /* MF / M flag */
    uint16_t frag_off;    /* fragment offset in bytes */
    pm_ip src, dst;       /* IPv4 as IPv4-mapped */
    uint16_t header_len;  /* bytes before the transport header, options and
                             extension headers included (parse only; emit
                             ignores it: it writes no IPv4 options and no
                             IPv6 extension header but a Fragment one) */
    uint16_t payload_len; /* transport bytes after header_len */
} pm_ip_repr;

/* Parses the IP header(s) of buf, IPv6 extension headers included. A
 * fragment parses (fragment is set) and the caller decides; pm_packet_parse
 * reports it as -PM_E_FRAGMENT. (Named pm_ip_hdr_*: addr.h's pm_ip_parse
 * parses address text.) */
int pm_ip_hdr_parse(const uint8_t *buf, size_t len, pm_ip_repr *out, pm_wire_stats *stats);
/* Writes a 20-byte IPv4 or 40-byte IPv6 header for payload_len bytes; for
 * an IPv6 fragment (fragment, more_frags or frag_off set) a Fragment header
 * follows (48 bytes). Returns the header length, -ENOSPC, -EMSGSIZE, or
 * -EINVAL (an address of the other family, an unaligned offset). */
int pm_ip_hdr_emit(const pm_ip_repr *r, uint8_t *buf, size_t cap);
/* The first name of pm_ip_hdr_emit, kept for code written against it. */
static inline int pm_ip_emit(const pm_ip_repr *r, uint8_t *buf, size_t cap)
{
    return pm_ip_hdr_emit(r, buf, cap);
}

/* Longest IPv6 extension-header chain parsed; longer is -PM_E_EXTHDR. */
#define PM_IP6_MAX_EXT 8

/* ---- TCP -------------------------------------------------------------- */

enum {
    PM_TH_FIN = 0x01,
    PM_TH_SYN = 0x02,
    PM_TH_RST = 0x04,
    PM_TH_PSH = 0x08,
    PM_TH_ACK = 0x10,
    PM_TH_URG = 0x20,
    PM_TH_ECE = 0x40,
    PM_TH_CWR = 0x80,
    PM_TH_AE = 0x100, /* RFC 3540's NS bit, now AccECN's AE */
};

enum {
    PM_TCPOPT_EOL = 0,
    PM_TCPOPT_NOP = 1,
    PM_TCPOPT_MSS = 2,
    PM_TCPOPT_WSCALE = 3,
    PM_TCPOPT_SACK_PERM = 4,
    PM_TCPOPT_SACK = 5,
    PM_TCPOPT_TS = 8,
};

#define PM_TCP_OPT_SPACE 40 /* 60-byte header max minus 20 */
#define PM_TCP_MAX_SACK  4

typedef struct pm_tcp_opts {
    /* Bit (1u << kind) for each known kind present. */
    uint32_t present;
    uint16_t mss;
    uint8_t wscale;
    uint8_t sack_count;
    uint32_t ts_val, ts_ecr;
    struct {
        uint32_t left, right;
    } sack[PM_TCP_MAX_SACK];
    /* The kinds in wire order, NOP and EOL included, so that a segment
     * re-emits byte for byte and a personality picks its own layout. When
     * order_len is 0, emit uses Linux's layout: SYN "mss,sackOK,TS,nop,
     * wscale"; otherwise "nop,nop,TS" and "nop,nop,sack". Emit pads the
     * area with zeros to 32 bits; parse stops at EOL (the rest is padding). */
    uint8_t order_len;
    uint8_t order[PM_TCP_OPT_SPACE];
    /* Unknown kinds, kept opaque as kind, length, data..., in wire order;
     * each appears in order[] by its kind. */
    uint8_t opaque_len;
    uint8_t opaque[PM_TCP_OPT_SPACE];
} pm_tcp_opts;

static inline bool pm_tcp_has(const pm_tcp_opts *o, int kind)
{
    return (o->present >> kind) & 1u;
}

typedef struct pm_tcp_repr {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint16_t flags; /* PM_TH_*; the 3 reserved bits (0xe00) kept as received */
    uint16_t window;
    uint16_t urg;
    pm_tcp_opts opts;
    const uint8_t *payload;
    size_t payload_len;
} pm_tcp_repr;

/* ip gives the pseudo-header for the checksum (RFC 9293 3.1; RFC 8200 8.1).
 * verify_csum false skips it (offloaded, or a quoted header in an ICMP
 * error, which is truncated). */
int pm_tcp_parse(const pm_ip_repr *ip, const uint8_t *seg, size_t len, bool verify_csum,
                 pm_tcp_repr *out, pm_wire_stats *stats);
int pm_tcp_emit(const pm_ip_repr *ip, const pm_tcp_repr *r, uint8_t *buf, size_t cap);
/* 20 + padded options; 0 when the options do not fit in 40 bytes or do not
 * match order[] (pm_tcp_emit then returns -EINVAL). */
size_t pm_tcp_header_len(const pm_tcp_repr *r);

/* ---- UDP -------------------------------------------------------------- */

typedef struct pm_udp_repr {
    uint16_t sport, dport;
    const uint8_t *payload;
    size_t payload_len;
} pm_udp_repr;

/* A zero UDP checksum over IPv4 means "none" (RFC 768); over IPv6 it is an
 * error (RFC 8200 8.1). */
int pm_udp_parse(const pm_ip_repr *ip, const uint8_t *dgram, size_t len, bool verify_csum,
                 pm_udp_repr *out, pm_wire_stats *stats);
int pm_udp_emit(const pm_ip_repr *ip, const pm_udp_repr *r, uint8_t *buf, size_t cap);

/* ---- ICMPv4 / ICMPv6 -------------------------------------------------- */

enum {
    PM_ICMP4_ECHO_REPLY = 0,
    PM_ICMP4_UNREACH = 3,
    PM_ICMP4_ECHO = 8,
    PM_ICMP4_TIME_EXCEEDED = 11,
    PM_ICMP4_PARAMPROB = 12,
    PM_ICMP4_UNREACH_NET = 0, /* codes of PM_ICMP4_UNREACH */
    PM_ICMP4_UNREACH_HOST = 1,
    PM_ICMP4_UNREACH_PROTO = 2,
    PM_ICMP4_UNREACH_PORT = 3,
    PM_ICMP4_UNREACH_NEEDFRAG = 4,
    PM_ICMP4_UNREACH_ADMIN = 13,
};
enum {
    PM_ICMP6_UNREACH = 1,
    PM_ICMP6_PACKET_TOO_BIG = 2,
    PM_ICMP6_TIME_EXCEEDED = 3,
    PM_ICMP6_PARAMPROB = 4,
    PM_ICMP6_ECHO = 128,
    PM_ICMP6_ECHO_REPLY = 129,
    PM_ICMP6_UNREACH_NOROUTE = 0, /* codes of PM_ICMP6_UNREACH */
    PM_ICMP6_UNREACH_ADMIN = 1,
    PM_ICMP6_UNREACH_ADDR = 3,
    PM_ICMP6_UNREACH_PORT = 4,
};

typedef struct pm_icmp_repr {
    uint8_t version; /* 4: ICMPv4, 6: ICMPv6 */
    uint8_t type, code;
    bool is_error; /* an error that quotes a packet */
    uint32_t rest; /* the header's second word: echo id<<16|seq, MTU, pointer */
    /* For errors: the quoted packet, parsed as far as it goes, so the error
     * can be matched to a 5-tuple (RFC 1122 3.2.2, RFC 4443 2.4). */
    pm_ip_repr inner;
    bool inner_ports; /* the first 8 transport bytes were quoted */
    uint16_t inner_sport, inner_dport;
    uint32_t inner_seq; /* TCP only */
    /* Echo data, or for errors the quoted bytes; emit copies these. */
    const uint8_t *data;
    size_t data_len;
} pm_icmp_repr;

/* ip is the outer header: ICMPv6's checksum covers a pseudo-header. */
int pm_icmp_parse(const pm_ip_repr *ip, const uint8_t *msg, size_t len, pm_icmp_repr *out,
                  pm_wire_stats *stats);
/* Writes the header, rest and data; type, code, rest and data are all it
 * reads (an error's quote is data, built by the caller). */
int pm_icmp_emit(const pm_ip_repr *ip, const pm_icmp_repr *r, uint8_t *buf, size_t cap);
/* Whether a type is an error that quotes a datagram (version 4 or 6). */
bool pm_icmp_type_is_error(int version, uint8_t type);
/* How many bytes of an offending datagram an error quotes: RFC 1812
 * 4.3.2.3 (576-byte IPv4 errors), RFC 4443 2.4(c) (1280-byte ICMPv6). */
size_t pm_icmp_quote_len(int version, size_t offending_len);

/* ---- Whole packets ---------------------------------------------------- */

typedef struct pm_packet {
    pm_ip_repr ip;
    union {
        pm_tcp_repr tcp;
        pm_udp_repr udp;
        pm_icmp_repr icmp;
    };
} pm_packet;

/* IP, then TCP, UDP, ICMP or ICMPv6, checksums verified. Other protocols:
 * -PM_E_PROTO with ip filled in. Fragments: -PM_E_FRAGMENT, ip filled in. */
int pm_packet_parse(const uint8_t *buf, size_t len, pm_packet *out, pm_wire_stats *stats);
/* IP header plus transport, lengths and checksums computed. */
int pm_packet_emit(const pm_packet *p, uint8_t *buf, size_t cap);
/* The 5-tuple a received packet belongs to, from the receiving host's side
 * (laddr = dst, lport = dport). For an ICMP or ICMPv6 error, the tuple of
 * the quoted packet, which the host sent (laddr = its src, lport = its
 * sport, proto = its proto): the socket the error is for. 0, -PM_E_ICMP
 * for an error that quotes no ports, -PM_E_PROTO for anything else (echo,
 * informational ICMP). */
int pm_packet_tuple(const pm_packet *p, pm_tuple *t);

/* Like pm_packet_parse; flags PM_PARSE_CSUM_OK skips the TCP and UDP
 * checksums: a device verified them, or they were never computed because
 * the packet never left the machine (a TUN's virtio_net_hdr NEEDS_CSUM or
 * DATA_VALID; Linux: skb_csum_unnecessary() counts CHECKSUM_PARTIAL as
 * verified). The IPv4 header and ICMP checksums are still checked. */
#define PM_PARSE_CSUM_OK 1u
int pm_packet_parse_flags(const uint8_t *buf, size_t len, unsigned flags, pm_packet *out,
                          pm_wire_stats *stats);

/* ---- virtio_net_hdr (a TUN device's offload header) --------------------- */

/* The legacy 10-byte header (virtio 1.x 5.1.6), little-endian, that a TUN
 * device opened with IFF_VNET_HDR puts before every packet both ways. */
#define PM_VNET_HDR_LEN      10
#define PM_VNET_F_NEEDS_CSUM 1 /* checksum at csum_start + csum_offset is partial */
#define PM_VNET_F_DATA_VALID 2 /* checksum already verified */
#define PM_VNET_GSO_NONE     0
#define PM_VNET_GSO_TCPV4    1
#define PM_VNET_GSO_TCPV6    4
#define PM_VNET_GSO_ECN      0x80

typedef struct pm_vnet_hdr {
    uint8_t flags;    /* PM_VNET_F_* */
    uint8_t gso_type; /* PM_VNET_GSO_*, without the ECN bit */
    bool ecn;
    uint16_t hdr_len;  /* headers' length (a hint) */
    uint16_t gso_size; /* payload bytes per segment once cut */
    uint16_t csum_start, csum_offset;
} pm_vnet_hdr;

/* buf is the header and the packet after it (len both together). Returns
 * PM_VNET_HDR_LEN, -PM_E_TRUNCATED when shorter, -EINVAL for unknown flags,
 * a partial checksum outside the packet or a GSO packet without one or
 * without a segment size, -EPROTONOSUPPORT for a GSO type other than TCP. */
int pm_vnet_hdr_parse(const uint8_t *buf, size_t len, pm_vnet_hdr *out);
/* PM_VNET_HDR_LEN or -ENOSPC. */
int pm_vnet_hdr_emit(const pm_vnet_hdr *h, uint8_t *buf, size_t cap);

/* ---- Checksums -------------------------------------------------------- */

/* One's-complement sum of len bytes added to sum, not folded. */
uint32_t pm_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t pm_csum_fold(uint32_t sum); /* folded and complemented */
/* Pseudo-header sum for src, dst, proto, length (IPv4 or IPv6 by ip->version). */
uint32_t pm_csum_pseudo(const pm_ip_repr *ip, uint8_t proto, uint32_t len);
/* A checksum field after one 16-bit word it covers changed from old to new,
 * without summing again (RFC 1624 eqn. 3, which never yields -0). */
uint16_t pm_csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word);

/* Printable one-line summary, tcpdump style, for tests and drill's diffs:
 * "IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S.], seq 1, ack 2, win 65535,
 * options [mss 1460,nop,wscale 7], length 0". Returns what snprintf would
 * (the full length; the text is cut to cap). */
int pm_packet_format(const pm_packet *p, char *buf, size_t cap);

#endif
