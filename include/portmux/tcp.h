/* The TCP endpoint: one connection's state machine (RFC 9293 with the RFC
 * 1122 corrections), pure. It works on parsed reprs (wire.h) and on time
 * passed in as microseconds; it never allocates: the send and receive rings
 * are the caller's memory, given to pm_tcp_init.
 *
 * How a host drives a TCB (the host owns demux, ports and the timing wheel):
 *   - a segment for the TCB: ev = pm_tcp_input(st, tcb, ip, seg, now);
 *   - after every input, API call or timer: while (pm_tcp_output(...) > 0)
 *     send the segment; then re-arm the TCB in the wheel at
 *     pm_tcp_next_deadline(tcb) (UINT64_MAX: no timer);
 *   - when the wheel fires: ev = pm_tcp_timer(st, tcb, now), then output;
 *   - ev & PM_TCP_EV_CLOSED: after draining output, the TCB may be freed;
 *     ev & PM_TCP_EV_TIME_WAIT: the host may pm_tcp_tw_export() it into its
 *     compact TIME_WAIT table and free the TCB.
 * Listeners are the host's (the SYN and accept queues); this module gives
 * what a listener needs: pm_tcp_listen_classify, pm_tcp_accept_syn (a
 * SYN-RCVD TCB), SYN cookies and the RST for segments that match nothing. */
#ifndef PORTMUX_TCP_H
#define PORTMUX_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"
#include "portmux/wire.h"

/* RFC 9293 3.3.2, in Linux's order of names (not values). */
typedef enum pm_tcp_state {
    PM_TCP_CLOSED = 0,
    PM_TCP_LISTEN,
    PM_TCP_SYN_SENT,
    PM_TCP_SYN_RCVD,
    PM_TCP_ESTABLISHED,
    PM_TCP_FIN_WAIT_1,
    PM_TCP_FIN_WAIT_2,
    PM_TCP_CLOSE_WAIT,
    PM_TCP_CLOSING,
    PM_TCP_LAST_ACK,
    PM_TCP_TIME_WAIT,
    PM_TCP_STATE_COUNT
} pm_tcp_state;

const char *pm_tcp_state_name(int state); /* "ESTABLISHED"...; "?" if bad */

/* Knobs, with Linux's sysctl defaults (pm_tcp_config_default). Times are
 * microseconds. */
typedef struct pm_tcp_config {
    uint32_t msl_us;               /* TIME_WAIT = 2*MSL; Linux TCP_TIMEWAIT_LEN 60 s */
    uint32_t fin_timeout_us;       /* orphaned FIN_WAIT_2: tcp_fin_timeout 60 s */
    uint32_t rto_initial_us;       /* RFC 6298 2.1 / Linux TCP_TIMEOUT_INIT: 1 s */
    uint32_t rto_min_us;           /* Linux TCP_RTO_MIN: 200 ms */
    uint32_t rto_max_us;           /* Linux TCP_RTO_MAX: 120 s */
    uint32_t delack_us;            /* Linux TCP_DELACK_MIN: 40 ms */
    uint32_t rmem_default;         /* tcp_rmem[1]: 131072 (ring sizes a host picks) */
    uint32_t wmem_default;         /* tcp_wmem[1]: 16384 */
    uint32_t rmem_max;             /* tcp_rmem[2]: 32 MiB; sets the window scale (10) */
    uint32_t challenge_ack_limit;  /* tcp_challenge_ack_limit/s: INT_MAX (Linux 6.0+) */
    uint32_t invalid_ratelimit_us; /* tcp_invalid_ratelimit: 500 ms per socket */
    uint16_t mss_local;            /* MSS we announce: 1460 (MTU 1500 - 40) */
    uint16_t mss_default;          /* peer sent no MSS: TCP_MSS_DEFAULT 536 */
    uint16_t min_snd_mss;          /* tcp_min_snd_mss: 48 */
    uint8_t init_cwnd;             /* segments; RFC 6928, TCP_INIT_CWND 10 */
    uint8_t syn_retries;           /* tcp_syn_retries 6 */
    uint8_t synack_retries;        /* tcp_synack_retries 5 */
    uint8_t retries2;              /* tcp_retries2 15 */
    uint8_t ttl;                   /* ip_default_ttl 64 */
    bool timestamps;               /* tcp_timestamps 1 (RFC 7323) */
    bool window_scaling;           /* tcp_window_scaling 1 */
    bool sack;                     /* tcp_sack 1 (SACK-permitted only) */
    bool dsack;                    /* tcp_dsack 1: report duplicates (RFC 2883) */
    bool rfc5961;                  /* true: RFC 5961; false: RFC 793 RST/SYN */
    bool rfc1337;                  /* tcp_rfc1337 0: a RST kills TIME_WAIT */
    bool nodelay;                  /* TCP_NODELAY default for new TCBs: off */
    uint8_t tw_reuse;              /* tcp_tw_reuse 2: for loopback connect() only */
    bool bsd;                      /* FreeBSD tcp_input/tcp_output where they differ */
} pm_tcp_config;

void pm_tcp_config_default(pm_tcp_config *c);

typedef struct pm_tcp_stats {
    uint64_t segs_in, segs_out, retrans_segs, rto_fired, fast_retrans;
    uint64_t challenge_acks, challenge_acks_limited, oow_acks_limited;
    uint64_t paws_rejected, bad_seq, bad_ack, rst_in, syn_in_window;
    uint64_t ooo_queued, ooo_dropped, rcvbuf_dropped;
    uint64_t cookies_sent, cookies_ok, cookies_bad;
    uint64_t tw_killed, tw_reopened, timeouts, aborts;
    uint64_t icmp_in, icmp_bad_seq, pmtu_reduced;
    uint64_t dup_segs;                   /* segments with nothing new (all below RCV.NXT) */
    uint64_t sack_recoveries;            /* RFC 6675 recovery episodes entered */
    uint64_t sack_rxt;                   /* retransmissions chosen by the scoreboard */
    uint64_t limited_tx;                 /* RFC 3042 segments sent on duplicate ACKs */
    uint64_t tlp_probes, tlp_recoveries; /* RFC 8985 7: probes; losses they repaired */
    uint64_t dsacks_in;                  /* RFC 2883 D-SACK blocks received */
    uint64_t dsacks_out;                 /* RFC 2883 D-SACK blocks sent */
    uint64_t rxt_lost;                   /* retransmissions found lost by SACK (no RTO) */
    /* The pool of TCB extensions (pm_tcp_ext): records held now (a gauge),
     * takes that found it empty, and what each fallback cost. */
    uint64_t ext_in_use, ext_full;
    uint64_t ext_ooo_dropped; /* out-of-order segments dropped (their dup ACK still sent) */
    uint64_t ext_newreno;     /* SACK connections' recoveries done NewReno (RFC 6582) */
    uint64_t ext_no_tlp;      /* PTOs not armed (the RTO instead) */
} pm_tcp_stats;

#define PM_TCP_OOO_RANGES 3 /* out-of-order islands a connection holds */
#define PM_TCP_SB_BLOCKS  3 /* SACKed ranges the sender remembers */

/* The sender's loss-recovery state (32 B): the RFC 6675 scoreboard and the
 * RFC 8985 tail loss probe. blk[] are the SACKed ranges above snd_una,
 * sorted, disjoint (len 0: unused); high_rxt and tlp_high are kept at or
 * above snd_una, so "> snd_una" means "set". A TCB without an extension
 * record has none of it: no ranges, both at snd_una. */
typedef struct pm_tcp_recovery {
    struct {
        uint32_t left, right;
    } blk[PM_TCP_SB_BLOCKS];
    uint32_t high_rxt; /* RFC 6675 HighRxt: retransmitted up to here */
    uint32_t tlp_high; /* RFC 8985 TLP.end_seq of a retransmitted probe */
} pm_tcp_recovery;

/* The TCB extension: the state a connection needs only while it recovers
 * from a loss, reassembles out-of-order data or has a tail loss probe
 * outstanding (56 B), taken from the stack's pool when that starts and
 * given back when it ends (Linux allocates its out-of-order queue and
 * SACK state on demand alike). ooo[] are the receiver's out-of-order
 * islands, relative to rcv_nxt, sorted, disjoint (len 0: unused). A free
 * record holds the next free one in its first bytes. */
typedef struct pm_tcp_ext {
    pm_tcp_recovery rec;
    struct {
        uint32_t off, len;
    } ooo[PM_TCP_OOO_RANGES];
} pm_tcp_ext;

/* What the TCBs of one host share: knobs, secrets, the host-wide challenge
 * ACK budget and the counters. */
typedef struct pm_tcp_stack {
    pm_tcp_config cfg;
    uint64_t isn_k0, isn_k1;   /* RFC 6528 F() key */
    uint64_t ts_k0, ts_k1;     /* timestamp offset key */
    uint64_t cookie_k[2][2];   /* SYN cookie hash keys */
    uint64_t rng;              /* challenge ACK jitter (splitmix64 state) */
    uint64_t challenge_second; /* RFC 5961 7: the second the budget is for */
    uint32_t challenge_left;   /* ACKs left in that second */
    uint8_t rcv_wscale;        /* our window scale (from rmem_max) */
    pm_tcp_ext *ext;           /* the extension pool (pm_tcp_stack_set_ext) */
    uint32_t ext_cap;          /* its records */
    uint32_t ext_free;         /* first free record + 1; 0: none free */
    /* RFC 2883: the duplicate the segment being processed carried, for the
     * ACK that answers it (valid for that TCB until the next input). */
    struct {
        const struct pm_tcp *tcb;
        uint32_t left, right;
    } dsack;
    pm_tcp_stats stats;
} pm_tcp_stack;

/* seed keys the ISN, timestamp and cookie hashes: a host seeds it from
 * getrandom(2). The stack starts with no extension pool: every TCB then
 * runs the fallbacks (see pm_tcp_ext). */
void pm_tcp_stack_init(pm_tcp_stack *st, const pm_tcp_config *cfg, uint64_t seed);
/* Hands the stack n extension records (the caller's memory, for the
 * stack's life), before any TCB uses it. Without a free record a
 * connection degrades, never fails: the receiver drops an out-of-order
 * segment (it still sends the duplicate ACK: the peer resends, as when
 * Linux prunes its out-of-order queue), the sender recovers without the
 * SACK scoreboard (RFC 6582 NewReno) and arms no tail loss probe (the
 * RTO instead). Each is a counter (ext_*). */
void pm_tcp_stack_set_ext(pm_tcp_stack *st, pm_tcp_ext *pool, uint32_t n);

/* The TCB. Fields are public for diagnostics (ss) and tests; change them
 * only through the functions below. Sequence numbers follow RFC 9293
 * 3.3.1; snd_max is BSD's highest sequence sent + 1 (snd_nxt rewinds to
 * snd_una on a retransmission timeout). The send ring holds the bytes from
 * the first unacknowledged data byte; the receive ring holds the bytes not
 * yet read, then (at their offsets) out-of-order data within the window,
 * whose islands are in the extension record (ext). No SND.WL2: the window
 * update test needs none (input.c). */
typedef struct pm_tcp {
    /* rtx/persist/TIME_WAIT/FIN_WAIT_2 deadline; with no timer armed and a
     * delayed ACK pending, the delayed ACK's time (its 64-bit base) */
    uint64_t timer_at;
    uint8_t *snd_buf; /* the send ring; the receive ring follows at snd_buf + snd_cap */
    uint32_t iss;     /* IRS is rcv_nxt - 1 while it matters (SYN_RCVD) */
    uint32_t snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, max_snd_wnd;
    uint32_t rcv_nxt, rcv_wup, rcv_wnd; /* rcv_wup + rcv_wnd = right edge advertised */
    uint32_t cwnd, ssthresh, recover;
    uint32_t srtt_us, rttvar_us, rto_us;
    union {
        struct { /* opts & PM_TCPO_TS: RFC 7323 TS.Recent; the stamp in seconds */
            uint32_t ts_recent, ts_recent_stamp;
        };
        struct { /* without timestamps: Karn timing (F_RTT_TIMING), rtt_start in us */
            uint32_t rtt_seq, rtt_start;
        };
    };
    uint32_t ts_off;      /* our TSval offset (RFC 7323 5.4) */
    uint32_t last_oow_ms; /* per-connection ACK rate limit */
    uint32_t rst_seq;     /* pending <SEQ=SEG.ACK><CTL=RST> */
    uint32_t delack_at;   /* the delayed ACK's deadline, low 32 bits of the
                             microseconds (timer_at gives the rest); 0: none */
    uint32_t snd_cap, snd_head, snd_len;
    uint32_t rcv_cap, rcv_head, rcv_len;
    uint32_t ext;      /* extension record + 1 in the stack's pool; 0: none */
    pm_tuple tuple;    /* the established table's key (demux est_key) */
    uint16_t mss;      /* payload bytes per segment we send (options deducted) */
    uint16_t user_mss; /* TCP_MAXSEG, 0: none */
    uint16_t flags;    /* PM_TCPF_* */
    uint8_t state : 4;
    uint8_t timer : 4; /* PM_TCP_TIMER_* */
    uint8_t snd_wscale : 4, rcv_wscale : 4;
    uint8_t backoff : 5; /* < 32 */
    uint8_t opts : 3;    /* PM_TCPO_*: negotiated options */
    uint8_t retries, dupacks;
    uint8_t quick : 5;      /* full segments since the last ACK (RFC 5681 4.2) */
    uint8_t reno : 1;       /* this recovery is NewReno: no record was free for SACK's */
    uint8_t ooo_recent : 2; /* the island holding the latest out-of-order segment; 3: none */
    uint8_t err;            /* pending SO_ERROR, positive errno */
    uint8_t soft_err;       /* RFC 1122 4.2.3.9: reported only if the connection times out */
} pm_tcp;

enum { /* pm_tcp.opts */
       PM_TCPO_TS = 1,
       PM_TCPO_WS = 2,
       PM_TCPO_SACK = 4
};

enum { /* pm_tcp.timer */
       PM_TCP_TIMER_NONE = 0,
       PM_TCP_TIMER_RTX,
       PM_TCP_TIMER_PERSIST,
       PM_TCP_TIMER_TIME_WAIT,
       PM_TCP_TIMER_FIN_WAIT_2,
       PM_TCP_TIMER_TLP /* RFC 8985 7.2 PTO; expired: the probe is due (output) */
};

/* Events returned by pm_tcp_input, pm_tcp_timer and the API calls. */
enum {
    PM_TCP_EV_CONNECTED = 1 << 0, /* reached ESTABLISHED */
    PM_TCP_EV_READABLE = 1 << 1,  /* new in-order data */
    PM_TCP_EV_WRITABLE = 1 << 2,  /* send space freed */
    PM_TCP_EV_PEER_FIN = 1 << 3,  /* the peer's FIN: EOF after the data */
    PM_TCP_EV_RESET = 1 << 4,     /* failed: pm_tcp_error() says why */
    PM_TCP_EV_TIME_WAIT = 1 << 5, /* entered TIME_WAIT */
    PM_TCP_EV_CLOSED = 1 << 6,    /* CLOSED: drain output, then free */
    PM_TCP_EV_REOPEN = 1 << 7,    /* a SYN reopened TIME_WAIT: closed; hand
                                     the SYN to the listener with the ISN
                                     pm_tcp_reopen_isn() */
};

/* Rings: memory the caller owns for the TCB's life (a pool slot): buf
 * holds the send ring (snd_cap bytes), then the receive ring (rcv_cap).
 * It forgets any extension record: pm_tcp_release a TCB that may hold one
 * first (a TCB left CLOSED or in TIME_WAIT by this module holds none). */
void pm_tcp_init(pm_tcp *tcb, uint8_t *buf, uint32_t snd_cap, uint32_t rcv_cap);
/* Gives back the TCB's extension record, if it holds one: for a host that
 * frees a TCB whatever its state (harmless on a TCB holding none). */
void pm_tcp_release(pm_tcp_stack *st, pm_tcp *tcb);
/* The TCB's extension record (read-only: ss, tests), NULL when none. */
const pm_tcp_ext *pm_tcp_ext_of(const pm_tcp_stack *st, const pm_tcp *tcb);

/* Active open (RFC 9293 3.10.1): SYN_SENT; output emits the SYN. isn 0:
 * RFC 6528. Returns 0 or -EISCONN / -EALREADY. */
int pm_tcp_connect(pm_tcp_stack *st, pm_tcp *tcb, const pm_tuple *t, uint32_t isn, uint64_t now);

/* RFC 6528: ISN = M + F(4-tuple, key), M a 4 us clock. */
uint32_t pm_tcp_isn(const pm_tcp_stack *st, const pm_tuple *t, uint64_t now);

/* ---- Listener side (RFC 9293 3.10.7.2) ----------------------------------- */

enum {
    PM_TCP_LISTEN_DROP = 0, /* RST, or nothing usable: ignore */
    PM_TCP_LISTEN_RST,      /* an ACK: answer pm_tcp_reset_reply() */
    PM_TCP_LISTEN_SYN,      /* a SYN: pm_tcp_accept_syn or a cookie */
    PM_TCP_LISTEN_ACK,      /* an ACK that may carry a cookie: try pm_tcp_cookie_check */
};
int pm_tcp_listen_classify(const pm_tcp_repr *seg);

/* A SYN to a listener: tcb (pm_tcp_init'ed) becomes SYN_RCVD and output
 * emits the SYN-ACK. isn 0: RFC 6528 (or pm_tcp_reopen_isn after a
 * TIME_WAIT reopen). */
int pm_tcp_accept_syn(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip, const pm_tcp_repr *syn,
                      uint32_t isn, uint64_t now);

/* SYN cookies (RFC 4987; Linux cookie_v4_init_sequence): the SYN-ACK
 * carries the MSS (as an index in {536,1300,1440,1460}) in its ISN and,
 * with timestamps, the peer's window scale and SACK-permitted in the low
 * 6 bits of TSval. */
typedef struct pm_tcp_synopts {
    uint16_t mss;    /* peer's MSS, from the table */
    uint8_t wscale;  /* peer's window scale */
    uint8_t opts;    /* PM_TCPO_* */
    uint32_t ts_val; /* peer's TSval (from the ACK) */
} pm_tcp_synopts;

uint32_t pm_tcp_cookie_make(const pm_tcp_stack *st, const pm_tuple *t, uint32_t peer_seq,
                            uint16_t peer_mss, uint64_t now);
/* The MSS index, or -1 when the cookie is bad or older than 2 minutes. */
int pm_tcp_cookie_decode(const pm_tcp_stack *st, const pm_tuple *t, uint32_t peer_seq,
                         uint32_t cookie, uint64_t now);
/* The stateless SYN-ACK for syn. */
void pm_tcp_cookie_reply(pm_tcp_stack *st, const pm_ip_repr *ip, const pm_tcp_repr *syn,
                         uint64_t now, pm_ip_repr *oip, pm_tcp_repr *oseg);
/* An ACK to a listener: 0 and *out if it completes a cookie handshake,
 * -EINVAL if not (the listener then answers RST). */
int pm_tcp_cookie_check(pm_tcp_stack *st, const pm_ip_repr *ip, const pm_tcp_repr *ack,
                        uint64_t now, pm_tcp_synopts *out);
/* tcb becomes ESTABLISHED from a checked cookie ACK (its data is queued). */
unsigned pm_tcp_accept_cookie(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip,
                              const pm_tcp_repr *ack, const pm_tcp_synopts *so, uint64_t now);

/* RFC 9293 3.10.7.1: the RST for a segment that matches no connection
 * (false for a RST, which gets nothing). */
bool pm_tcp_reset_reply(const pm_ip_repr *ip, const pm_tcp_repr *seg, pm_ip_repr *oip,
                        pm_tcp_repr *oseg);

/* ---- The connection ------------------------------------------------------ */

/* One segment for this TCB (its 4-tuple already matched). */
unsigned pm_tcp_input(pm_tcp_stack *st, pm_tcp *tcb, const pm_ip_repr *ip, const pm_tcp_repr *seg,
                      uint64_t now);

/* The next segment to send: 1 and *ip, *seg filled (seg->payload points
 * into buf, cap bytes at least the MSS), or 0 when there is nothing. */
int pm_tcp_output(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now, pm_ip_repr *ip, pm_tcp_repr *seg,
                  uint8_t *buf, size_t cap);

uint64_t pm_tcp_next_deadline(const pm_tcp *tcb); /* UINT64_MAX: none */
unsigned pm_tcp_timer(pm_tcp_stack *st, pm_tcp *tcb, uint64_t now);

/* Copy into the send ring / out of the receive ring. send: bytes queued,
 * -EAGAIN (full, or not yet connected), -EPIPE (after SHUT_WR or close),
 * -ENOTCONN, or the pending error. recv: bytes, 0 at EOF, -EAGAIN. */
long pm_tcp_send(pm_tcp_stack *st, pm_tcp *tcb, const void *data, size_t len, uint64_t now);
long pm_tcp_recv(pm_tcp_stack *st, pm_tcp *tcb, void *data, size_t len, uint64_t now);

enum { PM_SHUT_RD = 0, PM_SHUT_WR = 1, PM_SHUT_RDWR = 2 }; /* Linux's values */
int pm_tcp_shutdown(pm_tcp_stack *st, pm_tcp *tcb, int how, uint64_t now);
/* close(2): FIN after the data; unread data or linger_abort (SO_LINGER
 * {1,0}) sends a RST instead and skips TIME_WAIT. Returns events. */
unsigned pm_tcp_close(pm_tcp_stack *st, pm_tcp *tcb, bool linger_abort, uint64_t now);

void pm_tcp_set_nodelay(pm_tcp *tcb, bool on);
int pm_tcp_set_maxseg(pm_tcp *tcb, int mss); /* TCP_MAXSEG before connect */
uint32_t pm_tcp_readable(const pm_tcp *tcb); /* bytes recv would return */
uint32_t pm_tcp_writable(const pm_tcp *tcb); /* free send ring bytes */
bool pm_tcp_eof(const pm_tcp *tcb);          /* peer FIN received */
int pm_tcp_error(pm_tcp *tcb);               /* SO_ERROR: -errno once, then 0 */
uint32_t pm_tcp_reopen_isn(const pm_tcp *tcb);

/* An ICMP error quoting one of our segments (the host matched the 4-tuple
 * from the quote). err is the positive errno the ICMP type maps to
 * (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EMSGSIZE ...), hard as RFC 1122
 * 3.2.2.1 / Linux icmp_err_convert[].fatal; mtu for EMSGSIZE. RFC 5927 4.1:
 * ignored unless SND.UNA <= quoted_seq < SND.MAX. While connecting the
 * error aborts (Linux tcp_v4_err); afterwards it is a soft error, reported
 * only on a timeout; EMSGSIZE lowers the MSS and resends. Returns events. */
unsigned pm_tcp_icmp_error(pm_tcp_stack *st, pm_tcp *tcb, int err, bool hard, uint32_t quoted_seq,
                           uint32_t mtu, uint64_t now);

/* ---- Compact TIME_WAIT (FreeBSD's tcptw, Linux's tcp_timewait_sock) ----- */

typedef struct pm_tcp_tw {
    uint32_t snd_nxt, rcv_nxt, rcv_wnd;
    uint32_t ts_recent, ts_recent_stamp, ts_off;
    uint32_t last_oow_ms;
    uint64_t expire; /* 2*MSL after entry, restarted by Linux's rules */
    uint8_t opts, rcv_wscale;
} pm_tcp_tw;

enum {
    PM_TCP_TW_DROP = 0, /* nothing */
    PM_TCP_TW_ACK,      /* answer with pm_tcp_tw_ack_reply */
    PM_TCP_TW_KILL,     /* a RST assassinated it (tcp_rfc1337 off): free */
    PM_TCP_TW_SYN,      /* a new SYN may reopen: give it to the listener with isn */
    PM_TCP_TW_RESET,    /* bsd, RFC 793 SYN in the window: RST (tw_ack_reply as RST) and free */
};

void pm_tcp_tw_export(const pm_tcp *tcb, pm_tcp_tw *tw);
/* Linux: tcp_timewait_state_process(). *isn is set for PM_TCP_TW_SYN. */
int pm_tcp_tw_input(pm_tcp_stack *st, pm_tcp_tw *tw, const pm_tcp_repr *seg, uint64_t now,
                    uint32_t *isn);
/* Linux tcp_twsk_unique(): may connect() reuse this TIME_WAIT 4-tuple?
 * Only with timestamps, a second after the last one, and with tw_reuse 1
 * (or 2 and a loopback connection). *isn is then the ISN to use. */
bool pm_tcp_tw_reusable(const pm_tcp_stack *st, const pm_tcp_tw *tw, bool loopback, uint64_t now,
                        uint32_t *isn);
void pm_tcp_tw_ack_reply(const pm_tcp_stack *st, const pm_tcp_tw *tw, const pm_tuple *t,
                         uint64_t now, pm_ip_repr *oip, pm_tcp_repr *oseg);

#endif
