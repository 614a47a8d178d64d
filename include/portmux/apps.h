/* The host's built-in services, as applications on the socket API
 * (socket.h): they only call pm_sock_* and react to pm_host_events, as a
 * program on a kernel would react to epoll. Part of libportmux_sys
 * (daytime reads the wall clock; the rest is pure).
 *
 *   echo     RFC 862   TCP and UDP 7: everything back
 *   discard  RFC 863   TCP and UDP 9: everything dropped
 *   daytime  RFC 867   TCP and UDP 13: the date as text, then close
 *   chargen  RFC 864   TCP and UDP 19: the 72-column rotating pattern
 *   http     RFC 9112  TCP 80: a minimal HTTP/1.1 server (GET/HEAD) whose
 *                      status page lists the host's connection table;
 *                      one request per connection (Connection: close), so
 *                      the host closes first and holds the TIME_WAIT
 *   client             an outgoing TCP connection (portmux host --connect):
 *                      sends one line, half-closes, reads until EOF */
#ifndef PORTMUX_APPS_H
#define PORTMUX_APPS_H

#include <stdbool.h>
#include <stdint.h>

#include "portmux/host.h"
#include "portmux/socket.h"

typedef enum pm_app_kind {
    PM_APP_ECHO = 0,
    PM_APP_DISCARD,
    PM_APP_DAYTIME,
    PM_APP_CHARGEN,
    PM_APP_HTTP,
    PM_APP_CLIENT,
    PM_APP_KINDS
} pm_app_kind;

const char *pm_app_name(pm_app_kind k);
int pm_app_parse(const char *name, pm_app_kind *out); /* services only: 0 or -EINVAL */
uint16_t pm_app_default_port(pm_app_kind k);          /* 7, 9, 13, 19, 80 */
bool pm_app_has_udp(pm_app_kind k);                   /* all but http */

typedef struct pm_apps pm_apps;

/* A message for the operator (connections made by --connect, errors). */
typedef void (*pm_apps_log_fn)(void *arg, const char *msg);

/* Per-descriptor state for h's max_sockets descriptors. 0 or -ENOMEM. */
int pm_apps_create(pm_apps **out, pm_host *h, pm_apps_log_fn log, void *log_arg);
void pm_apps_destroy(pm_apps *a);

/* Serves k on proto:port on the wildcard of family (IPv6: V6ONLY).
 * 0 or the negative errno of socket/bind/listen. */
int pm_apps_listen(pm_apps *a, pm_app_kind k, uint8_t proto, int family, uint16_t port,
                   uint64_t now);
/* Opens an outgoing client connection to `to` (TCP). 0 or -errno. */
int pm_apps_connect(pm_apps *a, const pm_sockaddr *to, uint64_t now);

/* Handles every pending readiness event (pm_host_events). */
void pm_apps_run(pm_apps *a, uint64_t now);
/* Closes every descriptor: listeners first, then connections with a FIN
 * (rst false) or an RST (SO_LINGER {1,0}). */
void pm_apps_close_all(pm_apps *a, bool rst, uint64_t now);

typedef struct pm_apps_stats {
    uint64_t accepted[PM_APP_KINDS];
    uint64_t bytes_in, bytes_out;
    uint64_t datagrams_in, datagrams_out;
    uint64_t http_requests, http_errors;
    uint64_t clients_ok, clients_failed;
    uint64_t accept_errors;
    uint32_t open; /* descriptors held now */
} pm_apps_stats;
void pm_apps_get_stats(const pm_apps *a, pm_apps_stats *s);

#endif
