/* Linux's bind rules, kept literal: how the kernel sees a socket that
 * holds a port (inet_sock's addresses and flags), whether two such sockets
 * conflict, and the per-port fast-path caches that make its answers depend
 * on history (inet_csk_update_fastreuse). Pure functions; the table that
 * stores owners is bind.c. Internal to src/ports. */
#ifndef PM_PORTS_BIND_RULES_H
#define PM_PORTS_BIND_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "portmux/bind.h"

/* A socket as Linux's rules see it. */
typedef struct ksock {
    pm_ip v6;      /* sk_v6_rcv_saddr; for AF_INET the mapped form */
    uint32_t rcv4; /* inet_rcv_saddr, host order */
    uint32_t uid;
    uint8_t family;
    bool v6only, reuse, reuseport;
} ksock;

/* A port's fast-path caches (Linux inet_bind_bucket's fastreuse,
 * fastreuseport and the fast_* copy of the socket that set them). */
typedef struct bind_fast {
    int8_t reuse, reuseport; /* -1: made by connect(); 0: off; > 0: on */
    bool v6only;
    uint8_t family;
    uint32_t uid, rcv4;
    pm_ip v6;
} bind_fast;

/* The kernel's view of a socket binding to sa (inet_bind, __inet6_bind). */
void bind_make_ksock(ksock *k, const pm_sockaddr *sa, const pm_bind_opts *o, uint32_t uid);
/* Linux inet_rcv_saddr_equal(sk, sk2, match_wildcard) */
bool bind_rcv_saddr_equal(const ksock *sk, const ksock *sk2, bool match_wildcard);
/* Linux inet_bind_conflict() (no devices bound here); state2: sk2's
 * pm_bind_state. */
bool bind_conflict(const ksock *sk, const ksock *sk2, uint8_t state2, bool relax,
                   bool reuseport_ok);
/* Linux sk_reuseport_match() */
bool bind_reuseport_match(const bind_fast *f, const ksock *sk);
/* Linux inet_csk_update_fastreuse() as of bhash2 (see bind_rules.c) */
void bind_update_fast(bind_fast *f, const ksock *sk, bool listening);

#endif
