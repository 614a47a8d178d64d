/* The host: portmux's transport layer as one object. Bytes and time go in,
 * bytes come out; there is no I/O and no clock inside.
 *
 *   pm_host_input(h, pkt, len, now)   one IP packet received
 *   pm_host_output(h, buf, cap, now)  the next IP packet to send, until 0
 *   pm_host_next_deadline(h)          when to call pm_host_advance(h, now)
 *
 * Input: wire parse -> demux (established -> TIME_WAIT -> listener, most
 * specific first -> none) -> TCP / UDP / ICMP -> queued output. Timers: one
 * timing wheel per host drives every TCB; TIME_WAIT entries expire from
 * demux's compact FIFO. The socket API is in socket.h. docs/host.md walks
 * one packet through, file by file.
 *
 * Everything is sized at creation (sockets, TCBs, buffers, TIME_WAIT
 * entries, the output queue); a full pool is a counter and an errno
 * (-ENOBUFS, -EMFILE), never a crash and never a malloc on the packet path.
 * Not thread-safe: one owner per host. */
#ifndef PORTMUX_HOST_H
#define PORTMUX_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"
#include "portmux/bind.h"
#include "portmux/ports.h"
#include "portmux/tcp.h"

typedef struct pm_host pm_host;

typedef enum pm_personality {
    PM_PERS_LINUX = 0,
    PM_PERS_FREEBSD = 1,
} pm_personality;

const char *pm_personality_name(pm_personality p);
int pm_personality_parse(const char *s, pm_personality *out); /* 0 or -EINVAL */

typedef struct pm_host_config {
    pm_personality personality;
    uint64_t seed; /* keys ISNs, hashes, cookies, ports: give it getrandom() bytes */
    /* Pools. */
    uint32_t max_sockets; /* socket descriptors (any kind) */
    uint32_t max_tcbs;    /* live TCP connections (SYN_RCVD .. LAST_ACK) */
    uint32_t max_tw;      /* compact TIME_WAIT entries: tcp_max_tw_buckets */
    uint32_t max_udp;     /* UDP sockets with a receive queue */
    /* Side records for TCP sockets that are not plain connections:
     * listeners, bound unconnected sockets, and connections with
     * SO_RCVBUF/SO_SNDBUF/TCP_MAXSEG/IP_LOCAL_PORT_RANGE set (76 bytes
     * each; full: -ENOBUFS, sock_ext_full). 0: max_sockets / 16 + 64. */
    uint32_t max_sock_ext;
    /* TCB extension records (pm_tcp_ext, 56 bytes each): held only while a
     * connection reassembles out-of-order data, recovers from a loss or has
     * a tail loss probe armed. Full: the connection degrades (drops the
     * out-of-order segment, recovers NewReno, no probe; tcp stats ext_*).
     * 0: max_tcbs / 8 + 16. */
    uint32_t max_tcp_ext;
    uint32_t tcp_sndbuf;      /* send ring per TCB, bytes (slot size) */
    uint32_t tcp_rcvbuf;      /* receive ring per TCB, bytes (slot size) */
    uint32_t udp_rcvbuf;      /* receive queue per UDP socket, bytes */
    uint32_t out_packets;     /* output queue slots (one packet each) */
    uint32_t max_syn_backlog; /* tcp_max_syn_backlog: SYN queue per listener */
    uint32_t somaxconn;       /* net.core.somaxconn: listen() backlog cap */
    uint8_t syncookies;       /* tcp_syncookies 1: cookies when the SYN queue is full; 2: always */
    /* Knobs (Linux sysctl defaults; the personality overrides some). */
    pm_tcp_config tcp;
    pm_port_range local_port_range; /* ip_local_port_range */
    uint16_t unprivileged_port_start;
    uint8_t tw_reuse;           /* tcp_tw_reuse 2 (loopback only) */
    uint32_t tw_reuse_delay_us; /* tcp_tw_reuse_delay 1 s */
    uint32_t icmp_msgs_per_sec; /* icmp_msgs_per_sec 1000 */
    uint32_t icmp_msgs_burst;   /* icmp_msgs_burst 50 */
    bool icmp_echo_ignore_all;  /* icmp_echo_ignore_all 0 */
    /* FreeBSD net.inet.tcp.blackhole: 1 no RST for a SYN to a closed port,
     * 2 no RST at all; net.inet.udp.blackhole: no port unreachable. */
    uint8_t blackhole;
    bool udp_blackhole;
    /* Addresses that are "ours": a packet to another address is dropped
     * (counter not_local). Empty (n_local 0): every address is ours. */
    pm_ip local[8];
    unsigned n_local;
} pm_host_config;

/* Linux defaults for personality p. */
void pm_host_config_default(pm_host_config *c, pm_personality p);

/* 0 and *out, -EINVAL (bad config) or -ENOMEM (creation only). */
int pm_host_create(pm_host **out, const pm_host_config *cfg);
void pm_host_destroy(pm_host *h);
const pm_host_config *pm_host_get_config(const pm_host *h);

/* One received IP packet. Returns 0, or the negative pm_err / errno that
 * says why it was dropped (also counted). */
int pm_host_input(pm_host *h, const uint8_t *pkt, size_t len, uint64_t now);
/* pm_host_input with pm_packet_parse_flags' flags (PM_PARSE_CSUM_OK: the
 * device says the TCP/UDP checksum needs no check). A TCP segment may be
 * larger than the MSS (a TUN's TSO/GRO super-segment): it is taken as one. */
int pm_host_input_flags(pm_host *h, const uint8_t *pkt, size_t len, unsigned flags, uint64_t now);
/* The next packet to send: its length, or 0 when the queue is empty;
 * -ENOSPC if cap is below PM_HOST_MIN_OUT. Also fires due timers. */
#define PM_HOST_MIN_OUT 2048
int pm_host_output(pm_host *h, uint8_t *buf, size_t cap, uint64_t now);
/* When timers next need pm_host_advance (or any host call); UINT64_MAX:
 * none. Earlier than due output never matters: pm_host_output first. */
uint64_t pm_host_next_deadline(const pm_host *h);
/* Fires the timers due at now (TCB timers, TIME_WAIT expiry). */
void pm_host_advance(pm_host *h, uint64_t now);

typedef struct pm_host_stats {
    uint64_t in_packets, in_errors, out_packets, out_dropped; /* queue full */
    uint64_t not_local, no_socket, rst_sent, port_unreach_sent, port_unreach_limited;
    uint64_t echo_replies, echo_limited, icmp_in_errors, icmp_matched, icmp_ignored;
    uint64_t syn_queue_full, accept_queue_full, cookies_sent, cookies_accepted;
    uint64_t tcb_pool_full, socket_pool_full, udp_pool_full, tw_pool_full, sock_ext_full;
    uint64_t tw_eph_full; /* TIME_WAIT entries without an ephemeral record (not reusable) */
    uint64_t tw_entered, tw_expired, tw_recycled, tw_reused, tw_reopened, tw_killed;
    uint64_t udp_in, udp_out, udp_rcvbuf_errors, udp_no_socket;
    uint64_t accepts, connects, conn_failed, resets_in;
    uint64_t timers_fired;
    /* Gauges, now: what is held. */
    uint64_t sockets, tcbs, time_wait, bind_owners, eph_conns, udp_queues;
} pm_host_stats;
void pm_host_get_stats(const pm_host *h, pm_host_stats *s);
/* Memory held per established connection outside its send and receive
 * rings (issue 5's target: 256 bytes): the socket slot, the TCB, its
 * share of the established table (index and record; the TIME_WAIT ring,
 * 48 B per max_tw slot, is not per connection), of the side-record pool
 * and of the TCB extension pool (each all of it, whoever holds the
 * records) and of the port owners' records (bind owners and ephemeral
 * registrations in use: an accepted connection holds one owner, a
 * connect()ed one an owner and a registration). */
typedef struct pm_host_conn_mem {
    uint64_t established; /* connections the shares are divided by */
    size_t socket, tcb;   /* sizeof */
    double demux, side, tcp_ext, ports;
    double total;
} pm_host_conn_mem;
void pm_host_conn_mem_get(const pm_host *h, pm_host_conn_mem *m);

/* The wire parser's and the TCP stack's counters. */
const pm_wire_stats *pm_host_wire_stats(const pm_host *h);
const pm_tcp_stats *pm_host_tcp_stats(const pm_host *h);

/* ---- Knobs by name (sysctl-like; drill's canonical names) ------------- */

/* 0, -ENOENT (unknown knob), -EINVAL (bad value). Names as docs/drill.md:
 * msl_ms, tw_reuse, timestamps, window_scaling, sack, rfc1337,
 * fin_timeout_s, max_tw_buckets (read-only after creation: -EINVAL if
 * larger), max_syn_backlog, syn_retries, synack_retries, challenge_ack_limit,
 * invalid_ratelimit_ms, local_port_range (two values), ephemeral_first,
 * ephemeral_last, unprivileged_port_start, syncookies, somaxconn,
 * insecure_rst, insecure_syn, mssdflt, rexmit_initial_ms, rexmit_min_ms,
 * icmp_msgs_per_sec, icmp_msgs_burst, icmp_echo_ignore_all,
 * tw_reuse_delay_ms, blackhole, udp_blackhole, recvspace, sendspace
 * (default SO_RCVBUF / SO_SNDBUF), hostcache_purge (no-op), ecn (0, or 2: no ECE),
 * maxsockbuf (its creation value only). */
int pm_host_knob_set(pm_host *h, const char *name, int64_t value, int64_t value2);
int pm_host_knob_get(const pm_host *h, const char *name, int64_t *value);

/* ---- Diagnostics: every socket, as ss shows it ----------------------- */

typedef struct pm_host_sock_info {
    int fd;           /* -1 for a TIME_WAIT entry or an unaccepted child */
    uint8_t proto;    /* PM_IPPROTO_TCP or _UDP */
    uint8_t family;   /* the socket's family */
    uint8_t state;    /* pm_tcp_state (UDP: ESTABLISHED if connected, else CLOSED) */
    uint8_t timer;    /* 0 off, 1 retransmit, 3 TIME_WAIT, 4 persist (ss's numbers) */
    uint8_t retrans;  /* retransmissions / probes */
    uint8_t shutdown; /* bit 0 SHUT_RD, bit 1 SHUT_WR */
    bool v6only;
    pm_sockaddr local, remote;
    uint32_t rqueue, wqueue; /* LISTEN: accept queue length and backlog */
    uint64_t timer_us;       /* time left on the timer */
    uint32_t uid;
} pm_host_sock_info;

/* Calls fn for every socket, then every TIME_WAIT entry; stops early if
 * fn returns non-zero. Returns how many were visited. */
size_t pm_host_sockets(const pm_host *h, uint64_t now,
                       int (*fn)(void *arg, const pm_host_sock_info *s), void *arg);
/* TCP sockets in state (pm_tcp_state; -1: any), proto 0 = any, family 0 any. */
size_t pm_host_count(const pm_host *h, int proto, int family, int state);
/* Drops every TIME_WAIT entry (tcpdrop -s TIME_WAIT); returns how many. */
size_t pm_host_drop_time_wait(pm_host *h);

#endif
