/* The portmux host's control socket: a unix stream socket through which
 * `portmux ss --host SOCKET` reads the host's socket table. Text protocol,
 * one request line, a reply ended by "end" (docs/host-tun.md):
 *
 *   > sockets
 *   < portmux-host 1
 *   < range LO HI                (the host's ip_local_port_range)
 *   < stat NAME VALUE            (pm_host_stats, one per line)
 *   < sock PROTO FAMILY STATE TIMER RETRANS SHUT V6ONLY LADDR LPORT RADDR
 *          RPORT RQ WQ TIMER_US UID FD    (STATE, TIMER: ss's numbers)
 *   < end
 *
 * The server makes the socket 0600, refuses a path that exists and is not
 * a stale socket, and answers only its own uid or root (SO_PEERCRED). */
#ifndef PM_TOOLS_HOST_CTL_H
#define PM_TOOLS_HOST_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "portmux/diag.h"
#include "portmux/host.h"

/* Creates the listening socket: fd, or -1 with a message in err. */
int hostctl_listen(const char *path, char *err, size_t errlen);
/* Accepts one client and answers it (bounded: 1 s send timeout). */
void hostctl_serve(int lfd, const pm_host *h, uint64_t now);
void hostctl_unlink(const char *path, int lfd);

/* pm_tcp_state / UDP to ss's state number. */
unsigned hostctl_ss_state(uint8_t proto, uint8_t tcp_state);
/* A row as the kernel readers make them. */
void hostctl_row(const pm_host_sock_info *s, pm_diag_sock *row);

typedef struct hostctl_stat {
    char name[32];
    uint64_t value;
} hostctl_stat;

typedef struct hostctl_reply {
    pm_diag_table t; /* every socket: the caller filters */
    uint16_t eph_lo, eph_hi;
    hostctl_stat stats[64];
    size_t n_stats;
} hostctl_reply;

/* Client: 0, or -1 with a message in err. */
int hostctl_query(const char *path, hostctl_reply *out, char *err, size_t errlen);
uint64_t hostctl_stat_get(const hostctl_reply *r, const char *name);

#endif
