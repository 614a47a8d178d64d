/* The bind table (Linux's bhash): per protocol and per port, the sockets
 * that own the port, and the rules that decide whether one more may.
 *
 * Every socket that holds a local port is an owner: bound, listening,
 * connected or in TIME_WAIT. The socket layer keeps the owner's handle
 * (pm_bind_id) and reports its transitions: bind -> listen -> close, or
 * connect -> TIME_WAIT -> release. The rules are Linux 6.x's, including
 * the per-port fast-path caches that make its answers depend on history
 * (inet_csk_update_fastreuse), so that every call gives the same result
 * as the kernel; tests/unit/test_bind_oracle.c checks this against it.
 *
 * Connected owners (CONNECTED, TIME_WAIT) that agree on everything the
 * rules read (address, family, v6only, SO_REUSEADDR/SO_REUSEPORT, uid,
 * by_connect) are interchangeable for every TCP answer, so the table
 * folds them: a TCP port keeps one inline group (an owner class and a
 * count per state) and such an owner costs a count, not a record. Its
 * handle is a group handle (PM_BIND_GROUP | state | port), shared by the
 * owners of that group and valid while the group has one; an owner that
 * cannot join (the port's group holds another class, or the class pool is
 * full) gets a record, with the same answers either way. Calls that can
 * move an owner between a record and a group take the handle by pointer.
 *
 * Pure: no clock, no I/O; the record and class pools are sized at
 * creation. */
#ifndef PORTMUX_BIND_H
#define PORTMUX_BIND_H

#include <stdbool.h>
#include <stdint.h>

#include "portmux/addr.h"

typedef struct pm_bind_table pm_bind_table;

/* An owner's handle; PM_BIND_NONE means "not bound". A record's handle is
 * its index (< 2^30); a grouped owner's is PM_BIND_GROUP | PM_BIND_GROUP_TW
 * (in TIME_WAIT) | port. */
typedef int32_t pm_bind_id;
#define PM_BIND_NONE     ((pm_bind_id)-1)
#define PM_BIND_GROUP    ((pm_bind_id)1 << 30)
#define PM_BIND_GROUP_TW ((pm_bind_id)1 << 16)

/* State classes that matter to the rules. */
typedef enum pm_bind_state {
    PM_BIND_BOUND = 0,     /* bind() only (TCP_CLOSE with a port; any UDP socket) */
    PM_BIND_LISTEN = 1,    /* TCP_LISTEN */
    PM_BIND_CONNECTED = 2, /* SYN_SENT .. CLOSE_WAIT: a full 5-tuple */
    PM_BIND_TIME_WAIT = 3, /* a TIME_WAIT entry (Linux's inet_timewait_sock) */
} pm_bind_state;

/* The caller's credentials, passed with each call. */
typedef struct pm_cred {
    uint32_t uid;
    bool cap_net_bind_service; /* CAP_NET_BIND_SERVICE in the net namespace */
} pm_cred;

/* The socket options that take part in the rules. */
typedef struct pm_bind_opts {
    uint8_t family; /* PM_AF_INET or PM_AF_INET6: the socket's family */
    bool reuseaddr; /* SO_REUSEADDR */
    bool reuseport; /* SO_REUSEPORT */
    bool v6only;    /* IPV6_V6ONLY (AF_INET6 only) */
} pm_bind_opts;

typedef struct pm_bind_config {
    /* record pool: owners that are not grouped (all UDP, bound, listening,
     * and the connected ones that cannot join their port's group) */
    uint32_t max_owners;
    /* owner classes for grouping connected TCP owners (default 256, at
     * most 65535); 0 turns grouping off: every owner is a record */
    uint32_t max_classes;
    /* net.ipv4.ip_unprivileged_port_start: binding a port below it needs
     * CAP_NET_BIND_SERVICE; 0 turns the rule off. Linux's default 1024. */
    uint16_t unprivileged_port_start;
} pm_bind_config;

typedef struct pm_bind_stats {
    uint64_t owners;     /* owners now, grouped or not */
    uint64_t records;    /* owner records in use now (owners - grouped ones) */
    uint64_t classes;    /* owner classes in use now */
    uint64_t ports;      /* (proto, port) buckets in use now */
    uint64_t binds;      /* successful binds */
    uint64_t eaddrinuse; /* refusals, by errno */
    uint64_t eacces;
    uint64_t einval;
    uint64_t pool_full;    /* calls refused because the record pool was full */
    uint64_t class_full;   /* owners that took a record as the class pool was full */
    uint64_t owner_bytes;  /* one owner record */
    uint64_t class_bytes;  /* one owner class */
    uint64_t bytes_in_use; /* records * owner_bytes + classes * class_bytes */
} pm_bind_stats;

void pm_bind_config_default(pm_bind_config *cfg);
/* NULL cfg: defaults. Returns NULL if memory is short (creation only). */
pm_bind_table *pm_bind_create(const pm_bind_config *cfg);
void pm_bind_destroy(pm_bind_table *t);
void pm_bind_set_unprivileged_port_start(pm_bind_table *t, uint16_t port);

/* bind(2) to sa (port != 0; port 0 is pm_eph_bind()'s job). *id is the
 * socket's handle: PM_BIND_NONE for an unbound socket; on success it is
 * set. proto is PM_IPPROTO_TCP or PM_IPPROTO_UDP. Errors, in Linux's order
 * (inet_bind, __inet6_bind): -EACCES (privileged port), -EINVAL (already
 * bound; v6only socket and an IPv4-mapped address; bad family),
 * -EADDRINUSE (a conflict), -ENOBUFS (owner pool full).
 * An AF_INET6 socket bound to a specific IPv6 address becomes v6only, as
 * in Linux. */
int pm_bind(pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa, const pm_bind_opts *opts,
            const pm_cred *cred, pm_bind_id *id);

/* listen(2) on a bound TCP owner: BOUND -> LISTEN after Linux's re-check
 * (inet_csk_listen_start() calls get_port() again): -EADDRINUSE if another
 * owner's SO_REUSEADDR sharing does not survive listening. Listening
 * again is a no-op. */
int pm_bind_listen(pm_bind_table *t, pm_bind_id id);

/* setsockopt(SO_REUSEADDR / SO_REUSEPORT) on a bound socket: Linux lets
 * them change after bind; the per-port caches do not follow. A grouped
 * owner whose options change leaves its group for a record: *id changes
 * (-ENOBUFS if the record pool is full). */
int pm_bind_set_reuse(pm_bind_table *t, pm_bind_id *id, bool reuseaddr, bool reuseport);

/* A TCP transition without a check: CONNECTED after connect() or
 * accept(), TIME_WAIT when the connection enters it. -EINVAL otherwise.
 * *id may change (the owner joins its port's group, or moves in it). */
int pm_bind_set_state(pm_bind_table *t, pm_bind_id *id, pm_bind_state state);

/* close(2) or the end of TIME_WAIT: the owner leaves the port. */
void pm_bind_release(pm_bind_table *t, pm_bind_id id);

/* Would bind(sa) succeed now? 0 or the error pm_bind() would return,
 * without changing anything. */
int pm_bind_check(const pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa,
                  const pm_bind_opts *opts, const pm_cred *cred);

/* An owner's view, for ss-like listings and for the socket layer. */
typedef struct pm_bind_owner {
    uint8_t proto;
    pm_sockaddr local;
    pm_bind_opts opts;
    uint32_t uid;
    pm_bind_state state;
    bool by_connect; /* took its port from connect(), not bind() */
} pm_bind_owner;
int pm_bind_get(const pm_bind_table *t, pm_bind_id id, pm_bind_owner *out);
/* Owners of (proto, port): the records newest first, then the grouped
 * owners, CONNECTED then TIME_WAIT, each group handle repeated once per
 * owner. Writes up to cap handles and returns how many there are. */
unsigned pm_bind_owners(const pm_bind_table *t, uint8_t proto, uint16_t port, pm_bind_id *ids,
                        unsigned cap);
pm_bind_stats pm_bind_get_stats(const pm_bind_table *t);

const char *pm_bind_state_name(pm_bind_state s); /* "bound", "listen", ... */

#endif
