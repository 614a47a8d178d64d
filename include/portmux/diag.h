/* Socket diagnostics: one row per socket, as `ss` shows them.
 *
 * A pm_diag_sock is filled by a reader -- the Linux kernel through
 * NETLINK_SOCK_DIAG, /proc/net/{tcp,tcp6,udp,udp6}, or (later) a portmux
 * host through its control socket -- and consumed by the same filter
 * (ssfilter.h) and the same output code, so every source looks alike. */
#ifndef PORTMUX_DIAG_H
#define PORTMUX_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"

/* Socket states with Linux's numbers (include/net/tcp_states.h), which are
 * also ss's: UDP sockets are ESTABLISHED (connected) or CLOSE (unconnected). */
enum pm_diag_state {
    PM_SS_UNKNOWN = 0,
    PM_SS_ESTABLISHED = 1,
    PM_SS_SYN_SENT = 2,
    PM_SS_SYN_RECV = 3,
    PM_SS_FIN_WAIT1 = 4,
    PM_SS_FIN_WAIT2 = 5,
    PM_SS_TIME_WAIT = 6,
    PM_SS_CLOSE = 7,
    PM_SS_CLOSE_WAIT = 8,
    PM_SS_LAST_ACK = 9,
    PM_SS_LISTEN = 10,
    PM_SS_CLOSING = 11,
    PM_SS_MAX = 12,
};
#define PM_SS_BIT(s) (1u << (s))
#define PM_SS_ALL    ((1u << PM_SS_MAX) - 1)
/* ss's default for TCP: everything but LISTEN, CLOSE, TIME_WAIT, SYN_RECV. */
#define PM_SS_CONN                                                                                 \
    (PM_SS_ALL & ~(PM_SS_BIT(PM_SS_LISTEN) | PM_SS_BIT(PM_SS_CLOSE) | PM_SS_BIT(PM_SS_TIME_WAIT) | \
                   PM_SS_BIT(PM_SS_SYN_RECV)))

/* Timers, numbered as inet_diag's idiag_timer and /proc/net/tcp's "tr". */
enum pm_diag_timer {
    PM_TIMER_OFF = 0,
    PM_TIMER_ON = 1, /* retransmission (or probe0/loss probe) */
    PM_TIMER_KEEPALIVE = 2,
    PM_TIMER_TIMEWAIT = 3,
    PM_TIMER_PERSIST = 4,
};

typedef struct pm_diag_sock {
    pm_ip laddr, raddr; /* IPv4 held IPv4-mapped, as every pm_ip */
    uint16_t lport, rport;
    uint8_t proto;    /* PM_IPPROTO_TCP or PM_IPPROTO_UDP */
    uint8_t family;   /* the socket's: PM_AF_INET6 for a v4-mapped v6 socket */
    uint8_t state;    /* enum pm_diag_state */
    uint8_t timer;    /* enum pm_diag_timer */
    uint8_t retrans;  /* retransmits or probes, as ss prints them */
    uint8_t shutdown; /* bit 0: no more receives, bit 1: no more sends */
    bool has_shutdown;
    int8_t v6only;     /* -1 unknown */
    uint32_t timer_ms; /* time left on the timer */
    uint32_t rqueue, wqueue;
    uint32_t uid;
    uint32_t ifindex; /* bound device, 0 none */
    uint32_t mark;
    uint64_t inode;
    uint64_t cookie;
} pm_diag_sock;

/* "ESTAB", "TIME-WAIT", "UNCONN"... as ss prints them; never NULL. */
const char *pm_diag_state_name(unsigned state);
/* ss's names for `state` filters ("established", "time-wait", the groups
 * all, connected, synchronized, bucket, big, ...), case-insensitive.
 * Returns the state mask, or 0 for an unknown name. */
unsigned pm_diag_state_parse(const char *name);
/* "off", "on", "keepalive", "timewait", "persist", "unknown". */
const char *pm_diag_timer_name(unsigned timer);
/* ss's rendering of a timer: "59sec", "1min", "2.512ms"... into buf. */
const char *pm_diag_ms_text(uint32_t ms, char buf[32]);

/* A growable table of rows. */
typedef struct pm_diag_table {
    pm_diag_sock *rows;
    size_t n, cap;
    bool kernel_filtered; /* set by the netlink reader when the kernel ran the filter */
} pm_diag_table;
int pm_diag_table_push(pm_diag_table *t, const pm_diag_sock *s); /* 0 or -ENOMEM */
void pm_diag_table_free(pm_diag_table *t);

struct pm_ssf;

/* What to read. states is a mask of PM_SS_BIT(state); filter may be NULL. */
typedef struct pm_diag_query {
    unsigned states;
    bool tcp, udp;
    bool v4, v6;
    const struct pm_ssf *filter;
    bool no_bytecode; /* filter in user space even where the kernel could */
} pm_diag_query;

/* Reads the kernel's sockets through NETLINK_SOCK_DIAG (inet_diag), in ss's
 * order (UDP before TCP, IPv4 before IPv6), appending matches to *out. The
 * state mask and, where it compiles, the filter run in the kernel.
 * Returns 0 or a negative errno (-EPROTONOSUPPORT, -EACCES... when netlink
 * sock_diag is unavailable: the caller falls back to pm_diag_read_proc). */
int pm_diag_read_netlink(const pm_diag_query *q, pm_diag_table *out);
/* The same from /proc/net/{udp,udp6,tcp,tcp6} under proc_root ("/proc" if
 * NULL), filtering in user space. Returns 0 or a negative errno. */
int pm_diag_read_proc(const pm_diag_query *q, const char *proc_root, pm_diag_table *out);
/* Parses one line of /proc/net/{tcp,tcp6,udp,udp6} (not the header);
 * returns 0 or -EINVAL. family is the file's. */
int pm_diag_parse_proc_line(const char *line, uint8_t proto, uint8_t family, long user_hz,
                            pm_diag_sock *out);

/* Which processes hold which sockets: /proc/<pid>/fd/<fd> -> socket:[inode]. */
typedef struct pm_diag_owner {
    uint64_t inode;
    int pid, fd;
    char comm[32];
} pm_diag_owner;
typedef struct pm_diag_owners {
    pm_diag_owner *v; /* sorted by inode */
    size_t n, cap;
} pm_diag_owners;
int pm_diag_owners_scan(pm_diag_owners *o, const char *proc_root); /* 0 or -errno */
/* The owners of inode: *count entries from the returned pointer (NULL, 0 if none). */
const pm_diag_owner *pm_diag_owners_find(const pm_diag_owners *o, uint64_t inode, size_t *count);
void pm_diag_owners_free(pm_diag_owners *o);

/* Ephemeral port use (portmux ss --ports). Per destination (protocol, local
 * address, remote address, remote port): the sockets whose local port lies
 * in the ephemeral range -- the ports connect() has used toward it. Ports
 * held by listeners inside the range, and reserved ones, are unusable for
 * every destination.
 * Connections accepted on a listening port are not ephemeral use. */
typedef struct pm_diag_dest {
    uint8_t proto;
    pm_ip laddr, raddr;
    uint16_t rport;
    uint32_t in_use;    /* in the range, any state but TIME_WAIT */
    uint32_t time_wait; /* in the range, TIME_WAIT */
} pm_diag_dest;

#define PM_TW_BUCKETS   6 /* ages 0-10 s, ..., 50-60 s */
#define PM_TW_BUCKET_MS 10000
#define PM_TW_LEN_MS    60000 /* Linux: TCP_TIMEWAIT_LEN */

/* A set of ports, as a bitmap. */
typedef struct pm_portset {
    uint8_t bits[65536 / 8];
} pm_portset;
static inline bool pm_portset_has(const pm_portset *s, uint16_t port)
{
    return s->bits[port / 8] & (1u << (port % 8));
}
/* "8080,9000-9010" (net.ipv4.ip_local_reserved_ports) added to *s;
 * 0 or -EINVAL. */
int pm_diag_parse_port_list(const char *text, pm_portset *s);
/* net.ipv4.ip_local_reserved_ports under proc_root: the ports connect()
 * never picks (Linux: inet_is_local_reserved_port()). Empty if absent. */
int pm_diag_read_reserved_ports(const char *proc_root, pm_portset *s);

typedef struct pm_diag_ports {
    uint16_t lo, hi;     /* the ephemeral range, inclusive */
    uint32_t listening;  /* TCP listening ports inside the range */
    uint32_t reserved;   /* reserved ports inside the range (and not listening) */
    uint32_t blocked;    /* listening + reserved: unusable for every destination */
    pm_diag_dest *dests; /* most used first */
    size_t n;
    uint32_t tw_total;
    uint32_t tw_age[PM_TW_BUCKETS]; /* TIME_WAIT sockets by age (60 s - timer left) */
} pm_diag_ports;

/* reserved may be NULL. Returns 0 or -ENOMEM. */
int pm_diag_ports_analyse(const pm_diag_sock *rows, size_t n, uint16_t lo, uint16_t hi,
                          const pm_portset *reserved, pm_diag_ports *out);
/* Ports used toward d (in use, TIME_WAIT, and the blocked ones), and left. */
uint32_t pm_diag_dest_used(const pm_diag_ports *p, const pm_diag_dest *d);
uint32_t pm_diag_dest_left(const pm_diag_ports *p, const pm_diag_dest *d);
void pm_diag_ports_free(pm_diag_ports *p);
/* net.ipv4.ip_local_port_range under proc_root ("/proc" if NULL). */
int pm_diag_read_port_range(const char *proc_root, uint16_t *lo, uint16_t *hi);

#endif
