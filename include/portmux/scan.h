/* The port scanner's engine: port lists as nmap takes them, target ranges,
 * the keyed permutation that orders ip x port, the probe cookie, adaptive
 * RTT timeouts, and nmap's port states. The scan loops themselves (connect,
 * SYN, UDP) live in src/scan/ and are driven by pm_scan_run(). */
#ifndef PORTMUX_SCAN_H
#define PORTMUX_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "portmux/addr.h"

/* ---- Port states and reasons, with nmap's numbering (portlist.h) so that
 * "which ignored state comes first" breaks ties as nmap does. ------------ */
enum pm_port_state {
    PM_PORT_UNKNOWN = 0,
    PM_PORT_CLOSED = 1,
    PM_PORT_OPEN = 2,
    PM_PORT_FILTERED = 3,
    PM_PORT_UNFILTERED = 6,
    PM_PORT_OPENFILTERED = 7,
    PM_PORT_STATE_MAX = 8,
};
const char *pm_port_state_name(int state); /* "open|filtered" ... */

/* Why a port got its state: nmap's reason names (reason.cc). */
enum pm_reason {
    PM_R_NONE = 0,
    PM_R_SYN_ACK,
    PM_R_RESET,
    PM_R_CONN_REFUSED,
    PM_R_NO_RESPONSE,
    PM_R_UDP_RESPONSE,
    PM_R_PORT_UNREACH,
    PM_R_HOST_UNREACH,
    PM_R_NET_UNREACH,
    PM_R_PROTO_UNREACH,
    PM_R_NET_PROHIBITED,
    PM_R_HOST_PROHIBITED,
    PM_R_ADMIN_PROHIBITED,
    PM_R_ADDR_UNREACH,
    PM_R_COUNT
};
const char *pm_reason_name(int reason);

/* ---- Port lists ------------------------------------------------------- */

/* A sorted list of distinct ports for one protocol. */
typedef struct pm_portlist {
    uint16_t *port;
    size_t n;
} pm_portlist;

/* nmap's -p syntax: "22,80,1000-2000", "-" (1-65535), "-100", "60000-",
 * with optional "T:" / "U:" sections ("T:22,U:53"); ports before any
 * section apply to both protocols. proto is PM_IPPROTO_TCP or _UDP; the
 * list holds the ports that apply to it. Returns 0, -EINVAL (syntax,
 * range reversed, > 65535) or -ENOMEM. */
int pm_portlist_parse(const char *spec, uint8_t proto, pm_portlist *out);
/* The n most frequently open ports for proto, from nmap-services(5)-format
 * text (name port/proto frequency ...): nmap's --top-ports, and -F is
 * n = 100. Returns 0, -ENOENT (no frequency data) or -ENOMEM. */
int pm_portlist_top(const char *text, size_t len, uint8_t proto, size_t n, pm_portlist *out);
void pm_portlist_free(pm_portlist *l);

/* ---- Targets ---------------------------------------------------------- */

typedef struct pm_target_range {
    pm_ip base;     /* first address */
    uint64_t count; /* addresses from base on */
    uint8_t family; /* PM_AF_INET or PM_AF_INET6 */
} pm_target_range;

/* Ranges in the order given; address i of the whole list is found by a
 * binary search over the running totals. */
typedef struct pm_targets {
    pm_target_range *r;
    uint64_t *cum; /* cum[i]: addresses in ranges before i */
    size_t n, cap;
    uint64_t total;
} pm_targets;

#define PM_TARGETS_MAX (1ull << 32) /* addresses in one scan */

/* "192.0.2.1", "192.0.2.0/24", "192.0.2.10-20" (last octet), "2001:db8::1",
 * "2001:db8::/120". Names are resolved by the caller. 0, -EINVAL, -E2BIG
 * (more than PM_TARGETS_MAX in all) or -ENOMEM. */
int pm_targets_add(pm_targets *t, const char *spec);
int pm_targets_add_ip(pm_targets *t, const pm_ip *ip, int family);
pm_ip pm_targets_at(const pm_targets *t, uint64_t i, int *family);
void pm_targets_free(pm_targets *t);

/* ---- The keyed permutation of [0, n) ---------------------------------- */

/* A balanced Feistel network over the smallest even power of two >= n,
 * keyed by SipHash, with cycle walking to stay inside [0, n): a bijection
 * needing neither a table nor a visited bitmap. */
typedef struct pm_perm {
    uint64_t n;
    unsigned half; /* bits per half */
    uint64_t mask; /* (1 << half) - 1 */
    uint64_t k[2]; /* SipHash key */
} pm_perm;

void pm_perm_init(pm_perm *p, uint64_t n, uint64_t seed);
uint64_t pm_perm_at(const pm_perm *p, uint64_t i); /* i < n */

/* Shard `shard` of `nshards` (0-based) takes positions shard, shard +
 * nshards, ...: together the shards cover [0, n) exactly once. */
uint64_t pm_shard_count(uint64_t n, uint32_t shard, uint32_t nshards);

/* ---- The probe cookie ------------------------------------------------- */

/* The 32 bits a SYN probe carries as its sequence number (and a reply
 * acknowledges plus one): SipHash-2-4 of the target and both ports under a
 * per-scan key, so replies are matched with no per-probe state, as masscan
 * and zmap do, and forged or stray replies do not match. */
uint32_t pm_scan_cookie(const uint64_t key[2], const pm_ip *dst, uint16_t dport, uint16_t sport);

/* ---- Adaptive timeouts (RFC 6298, as nmap's adjust_timeouts2) ---------- */

typedef struct pm_rtt {
    int64_t srtt, rttvar; /* microseconds; srtt < 0: no sample yet */
    uint64_t timeout;     /* current retransmission timeout */
    uint64_t min_to, max_to;
} pm_rtt;

void pm_rtt_init(pm_rtt *r, uint64_t initial_us, uint64_t min_us, uint64_t max_us);
void pm_rtt_sample(pm_rtt *r, uint64_t rtt_us);

/* ---- The scan --------------------------------------------------------- */

enum pm_scan_type {
    PM_SCAN_CONNECT,
    PM_SCAN_SYN,
    PM_SCAN_UDP,
    PM_SCAN_ACK,
    PM_SCAN_FIN,  /* -sF: FIN */
    PM_SCAN_NULL, /* -sN: no flags */
    PM_SCAN_XMAS, /* -sX: FIN, PSH, URG */
};

/* nmap's state for a probe that drew no answer: filtered for SYN, connect
 * and ACK; open|filtered where an open port keeps silent (UDP, and FIN,
 * NULL, Xmas: RFC 9293 3.10.7.2, a LISTEN socket drops them). */
static inline int pm_scan_silent_state(int type)
{
    return type == PM_SCAN_UDP || type == PM_SCAN_FIN || type == PM_SCAN_NULL ||
                   type == PM_SCAN_XMAS
               ? PM_PORT_OPENFILTERED
               : PM_PORT_FILTERED;
}

typedef struct pm_scan_cfg {
    int type;
    pm_targets targets;
    pm_portlist ports;
    uint64_t seed;
    uint32_t shard, nshards;   /* 0-based shard of nshards (>= 1) */
    double max_rate, min_rate; /* packets/s; 0 = none */
    unsigned max_retries;      /* retransmissions after the first probe */
    unsigned max_parallel;     /* probes in flight */
    uint64_t initial_rtt_us, min_rtt_us, max_rtt_us;
    uint64_t scan_delay_us, max_scan_delay_us; /* between probes; 0: none / 1 s */
    uint64_t max_udp_scan_delay_us; /* -sU's cap (nmap's: -T4/-T5 lower only TCP's); 0: 1 s */
    uint16_t sport_base;            /* raw scans: first source port used */
    const char *resume_path;        /* state file, NULL: none */
    bool progress;                  /* progress line on stderr */
    bool firewall;                  /* -sS: suppress our kernel's RSTs (nftables) */
    bool raw_sockets;   /* raw scans: IP raw sockets, not frames to the device (AF_PACKET) */
    bool aggressive;    /* -T4, -T5: nmap's higher thresholds for slowing down */
    volatile int *stop; /* set by a signal handler: stop and save */
} pm_scan_cfg;

/* One byte per (ip, port): state in the low 4 bits, and the reason kept
 * beside it. Index = ip_index * nports + port_index. */
typedef struct pm_scan_result {
    uint8_t *state;  /* PM_PORT_*, 0 = not concluded (shard or stopped) */
    uint8_t *reason; /* PM_R_* */
    uint8_t *ttl;    /* reply TTL, 0 if none */
    uint64_t n;
} pm_scan_result;

typedef struct pm_scan_stats {
    uint64_t sent, retrans, replies, bad_cookie, timeouts, rate_limited;
    uint64_t tx_dropped, rx_dropped; /* device queue full; receive ring full (packet path) */
    uint64_t start_us, end_us;
    int64_t srtt, rttvar, timeout; /* final RTT estimate */
    const char *path;              /* how probes went: "connect", "raw" or "packet" */
    bool interrupted;
} pm_scan_stats;

/* Runs the scan; fills res (allocated here) and stats. 0 or a negative
 * errno (-EPERM: raw sockets need CAP_NET_RAW). */
int pm_scan_run(const pm_scan_cfg *cfg, pm_scan_result *res, pm_scan_stats *st);
void pm_scan_result_free(pm_scan_result *res);

/* The resume file: a small text file, "portmux-scan-resume 1" then
 * key=value lines (signature, seed, shard, nshards, next) and one line per
 * concluded non-default result "r index state reason ttl". */
int pm_scan_resume_save(const char *path, const pm_scan_cfg *cfg, uint64_t next,
                        const pm_scan_result *res);
/* Loads into res (allocated by the caller at cfg's size); *next: first
 * position to scan again. -ESTALE when the file belongs to another scan. */
int pm_scan_resume_load(const char *path, const pm_scan_cfg *cfg, uint64_t *next,
                        pm_scan_result *res);
uint64_t pm_scan_signature(const pm_scan_cfg *cfg);
/* The seed a resume file was written with (the order must not change). */
int pm_scan_resume_seed(const char *path, uint64_t *seed);

uint64_t pm_scan_now_us(void); /* CLOCK_MONOTONIC */

#endif
