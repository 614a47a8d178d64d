/* The socket API of a portmux host, with Linux's semantics and errno
 * values (returned negative, as the kernel does). Every call is
 * non-blocking: where Linux would block, -EAGAIN or -EINPROGRESS, and
 * readiness (pm_sock_poll, pm_host_events) says when to retry.
 *
 * Descriptors are small integers local to the host. Calls that may touch
 * the bind table or send take the caller's credentials and the time.
 * docs/host.md has the table of calls and errno values. */
#ifndef PORTMUX_SOCKET_H
#define PORTMUX_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"
#include "portmux/bind.h"
#include "portmux/host.h"

/* Linux's values. */
enum { PM_SOCK_STREAM = 1, PM_SOCK_DGRAM = 2 };
enum { PM_SOL_SOCKET = 1, PM_SOL_IP = 0, PM_SOL_TCP = 6, PM_SOL_IPV6 = 41 };
enum {
    PM_SO_REUSEADDR = 2,
    PM_SO_TYPE = 3,
    PM_SO_ERROR = 4,
    PM_SO_SNDBUF = 7,
    PM_SO_RCVBUF = 8,
    PM_SO_LINGER = 13,
    PM_SO_REUSEPORT = 15,
    PM_SO_ACCEPTCONN = 30,
    PM_SO_DOMAIN = 39,
    PM_SO_PROTOCOL = 38,
};
enum { PM_TCP_NODELAY = 1, PM_TCP_MAXSEG = 2 };
enum { PM_IP_BIND_ADDRESS_NO_PORT = 24, PM_IP_LOCAL_PORT_RANGE = 51 };
enum { PM_IPV6_V6ONLY = 26 };

/* poll(2) bits, Linux values. */
enum {
    PM_POLLIN = 0x001,
    PM_POLLPRI = 0x002,
    PM_POLLOUT = 0x004,
    PM_POLLERR = 0x008,
    PM_POLLHUP = 0x010,
    PM_POLLRDHUP = 0x2000,
};

typedef struct pm_linger {
    int32_t l_onoff, l_linger;
} pm_linger;

/* socket(family, type, 0): fd >= 0, -EAFNOSUPPORT, -ESOCKTNOSUPPORT,
 * -EMFILE (descriptor pool full). */
int pm_sock_socket(pm_host *h, int family, int type, const pm_cred *cred);
/* bind(2): 0, -EBADF, -EINVAL, -EAFNOSUPPORT, -EACCES, -EADDRINUSE,
 * -EADDRNOTAVAIL (not a local address). */
int pm_sock_bind(pm_host *h, int fd, const pm_sockaddr *sa, const pm_cred *cred);
/* listen(2): 0, -EOPNOTSUPP (UDP), -EINVAL (connected), -EADDRINUSE. */
int pm_sock_listen(pm_host *h, int fd, int backlog, const pm_cred *cred);
/* accept(2): new fd, peer in *peer (may be NULL); -EAGAIN, -EINVAL (not
 * listening), -EMFILE. */
int pm_sock_accept(pm_host *h, int fd, pm_sockaddr *peer, const pm_cred *cred);
/* connect(2): TCP -EINPROGRESS then readiness (POLLOUT, SO_ERROR);
 * -EALREADY, -EISCONN, -ECONNREFUSED..., -EADDRNOTAVAIL, -EAFNOSUPPORT,
 * -ENETUNREACH (v6only and an IPv4 peer). UDP: sets the default peer, 0;
 * AF_UNSPEC (family 0) dissolves it. */
int pm_sock_connect(pm_host *h, int fd, const pm_sockaddr *sa, const pm_cred *cred, uint64_t now);
/* send/recv: bytes, -EAGAIN, -EPIPE, -ENOTCONN, pending SO_ERROR; recv 0 at
 * EOF. UDP recv truncates to len (the rest of the datagram is dropped, as
 * without MSG_TRUNC) and returns the bytes copied. */
long pm_sock_send(pm_host *h, int fd, const void *buf, size_t len, uint64_t now);
long pm_sock_recv(pm_host *h, int fd, void *buf, size_t len, uint64_t now);
/* UDP with an address (to NULL: the connected peer; -EDESTADDRREQ). */
long pm_sock_sendto(pm_host *h, int fd, const void *buf, size_t len, const pm_sockaddr *to,
                    const pm_cred *cred, uint64_t now);
long pm_sock_recvfrom(pm_host *h, int fd, void *buf, size_t len, pm_sockaddr *from, uint64_t now);
/* shutdown(2): PM_SHUT_RD/WR/RDWR; -ENOTCONN, -EINVAL. */
int pm_sock_shutdown(pm_host *h, int fd, int how, uint64_t now);
/* close(2): 0 or -EBADF. A TCP connection lingers (FIN, TIME_WAIT) on its
 * own; SO_LINGER {1,0} resets it. */
int pm_sock_close(pm_host *h, int fd, uint64_t now);
int pm_sock_getsockname(pm_host *h, int fd, pm_sockaddr *sa);
int pm_sock_getpeername(pm_host *h, int fd, pm_sockaddr *sa); /* -ENOTCONN */
/* Options are ints except SO_LINGER (pm_linger) and IP_LOCAL_PORT_RANGE
 * (uint32_t hi << 16 | lo, as Linux). *len in/out as Linux. */
int pm_sock_setsockopt(pm_host *h, int fd, int level, int name, const void *val, size_t len);
int pm_sock_getsockopt(pm_host *h, int fd, int level, int name, void *val, size_t *len);

/* Readiness: PM_POLL* bits now. */
unsigned pm_sock_poll(pm_host *h, int fd);

/* An epoll-like list: sockets whose readiness may have changed since they
 * were last reported, with their current bits (level, not edge). */
typedef struct pm_sock_event {
    int fd;
    unsigned events;
} pm_sock_event;
size_t pm_host_events(pm_host *h, pm_sock_event *out, size_t max);

/* The TCB of a TCP connection, read-only (tests, diagnostics); NULL if none. */
const pm_tcp *pm_sock_tcb(const pm_host *h, int fd);

#endif
