/* What the ephemeral allocator needs from the bind table. Internal. */
#ifndef PM_PORTS_BIND_INTERNAL_H
#define PM_PORTS_BIND_INTERNAL_H

#include "portmux/bind.h"
#include "ports/portmap.h"

/* Ports of proto that have any owner. */
const pm_portmap *pm_bind__owned(const pm_bind_table *t, uint8_t proto);
/* Ports of proto that connect() may not share: their bucket was made or
 * joined by bind() (Linux __inet_hash_connect(): tb->fastreuse >= 0 ||
 * tb->fastreuseport >= 0). */
const pm_portmap *pm_bind__held(const pm_bind_table *t, uint8_t proto);
/* May a bind(port 0) socket take this port? Linux inet_csk_find_open_port()
 * with relax = false: no owner whose address overlaps (TCP); for UDP,
 * udp_lib_lport_inuse(). */
bool pm_bind__autobind_ok(const pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa,
                          const pm_bind_opts *opts, uint32_t uid);
/* Add an owner with no check (the allocator has checked). by_connect:
 * the port came from connect() (Linux: a bucket with fastreuse = -1). */
int pm_bind__insert(pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa,
                    const pm_bind_opts *opts, uint32_t uid, pm_bind_state state, bool by_connect,
                    pm_bind_id *id);

/* connect() on a socket bound to a wildcard: its owner takes the source
 * address (Linux inet_bhash2_update_saddr()). *id may change, as with
 * pm_bind_set_reuse(). */
int pm_bind__set_addr(pm_bind_table *t, pm_bind_id *id, const pm_ip *ip);

#endif
