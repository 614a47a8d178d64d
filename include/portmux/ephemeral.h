/* The ephemeral port allocator: picks the local port for connect() and
 * for bind(port 0), over the bind table (portmux/bind.h).
 *
 * connect() takes a port that makes the 5-tuple unique: one port serves
 * many destinations, as in Linux (__inet_hash_connect()). It never takes a
 * port that a bind() holds. bind(0) takes a port that no socket owns, so
 * that it is free for every destination; connect() prefers ports of the
 * range's low parity and bind(0) the other, as Linux does, so the two
 * kinds of user stay apart.
 *
 * Selection: RFC 6056 Algorithms 1, 3, 4 and 5; the default is 4 (keyed
 * SipHash plus a perturbation table, as Linux), unpredictable to an
 * off-path observer as long as the caller seeds it from a real random
 * source. Cost: per destination, the used ports sit in a bitmap with a
 * summary of full words, so finding the next free port from the chosen
 * offset costs O(range / 4096 + a few words) at any occupancy.
 *
 * Exhaustion: -EADDRNOTAVAIL exactly when no port of the range can make
 * the 5-tuple unique (free, or held by a TIME_WAIT entry that tw_reuse
 * lets go), never while one can.
 *
 * Pure: time is an argument (microseconds); pools sized at creation. */
#ifndef PORTMUX_EPHEMERAL_H
#define PORTMUX_EPHEMERAL_H

#include <stdbool.h>
#include <stdint.h>

#include "portmux/addr.h"
#include "portmux/bind.h"
#include "portmux/ports.h"

typedef struct pm_eph pm_eph;

/* A registered connection (5-tuple): its destination and local port, so
 * that a connection costs a bit in its destination's port map and no
 * record; PM_EPH_NONE for none. */
typedef int32_t pm_eph_id;
#define PM_EPH_NONE ((pm_eph_id)-1)

typedef enum pm_eph_alg {
    PM_EPH_ALG1 = 1, /* RFC 6056 3.3.1: simple port randomization */
    PM_EPH_ALG3 = 3, /* 3.3.3: simple hash-based (keyed, per destination) */
    PM_EPH_ALG4 = 4, /* 3.3.4: double hash (keyed hash + perturbation table) */
    PM_EPH_ALG5 = 5, /* 3.3.5: random-increments */
} pm_eph_alg;

/* May this TIME_WAIT entry give its 5-tuple to a new connect()? Called
 * only when no free port is left. ts_stamp_us: when the entry last saw a
 * timestamp (has_ts false: the connection did not use timestamps). */
typedef bool (*pm_eph_tw_fn)(void *ctx, const pm_tuple *tuple, bool has_ts, uint64_t ts_stamp_us,
                             uint64_t now_us);

typedef struct pm_eph_config {
    pm_port_range range;        /* net.ipv4.ip_local_port_range; Linux 32768-60999 */
    pm_eph_alg alg;             /* default PM_EPH_ALG4 */
    uint64_t seed;              /* keys the hashes and the RNG: give it getrandom() bytes */
    uint32_t max_dests;         /* pool: destinations (proto, laddr, faddr, fport), <= 32768 */
    uint32_t max_tw;            /* pool: records of connections in TIME_WAIT */
    uint32_t max_blocks;        /* pool: 4096-port bitmap blocks (about 2 per busy destination) */
    uint32_t perturb_size;      /* Alg 4 table entries, a power of two (Linux 65536) */
    uint16_t alg5_step;         /* Alg 5 N: increments are random in [1, N]; RFC 6056 500 */
    uint8_t tw_reuse;           /* net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (default) */
    uint32_t tw_reuse_delay_us; /* net.ipv4.tcp_tw_reuse_delay: 1 s */
    bool parity_split;          /* connect() favours the range's low parity, bind(0) the other */
    pm_eph_tw_fn tw_ok;         /* optional: replaces the tw_reuse rule */
    void *tw_ctx;
} pm_eph_config;

typedef struct pm_eph_stats {
    uint64_t connects, binds; /* successes */
    uint64_t eaddrnotavail;   /* connect() found no port */
    uint64_t eaddrinuse;      /* bind(0) found no port */
    uint64_t tw_reused;       /* TIME_WAIT entries taken over */
    uint64_t conns, dests;    /* now */
    uint64_t pool_full;       /* refusals because a pool was full */
    uint64_t tw_records;      /* now: TIME_WAIT records */
    uint64_t search_steps;    /* bitmap blocks + words looked at, all searches */
    uint64_t bytes_in_use;    /* destinations, port-map blocks and TIME_WAIT records held */
} pm_eph_stats;

void pm_eph_config_default(pm_eph_config *cfg);
/* The allocator works over bt (which it does not own). NULL cfg: defaults
 * (seed 0: reproducible but predictable; set a seed). */
pm_eph *pm_eph_create(const pm_eph_config *cfg, pm_bind_table *bt);
void pm_eph_destroy(pm_eph *e);
int pm_eph_set_range(pm_eph *e, pm_port_range r); /* -EINVAL if lo > hi or lo == 0 */
int pm_eph_set_alg(pm_eph *e, pm_eph_alg alg);

/* bind(2) with port 0: sa->port is set to the chosen port and the socket
 * becomes an owner (*id, which must be PM_BIND_NONE). sock_range:
 * IP_LOCAL_PORT_RANGE, or NULL; it narrows the host range as in Linux
 * (inet_sk_get_local_port_range(): each bound applies only if inside the
 * host range). Errors: those of pm_bind() and -EADDRINUSE (no port). */
int pm_eph_bind(pm_eph *e, uint8_t proto, pm_sockaddr *sa, const pm_bind_opts *opts,
                const pm_cred *cred, const pm_port_range *sock_range, pm_bind_id *id);

typedef struct pm_eph_connect_req {
    uint8_t proto;      /* TCP; UDP connect() autobinds like bind(0) */
    pm_sockaddr local;  /* source address (as routing chose it); port: the bound
                           port, or 0 to choose one (also for IP_BIND_ADDRESS_NO_PORT
                           sockets, whose bind() only recorded the address) */
    pm_sockaddr remote; /* destination */
    pm_bind_opts opts;
    pm_cred cred;
    const pm_port_range *sock_range; /* IP_LOCAL_PORT_RANGE or NULL */
    uint64_t now_us;
} pm_eph_connect_req;

typedef struct pm_eph_connect_res {
    uint16_t port;       /* the local port */
    pm_eph_id conn;      /* the 5-tuple's registration */
    pm_eph_id reused_tw; /* a TIME_WAIT entry whose tuple was taken, or PM_EPH_NONE: the
                            caller drops that TIME_WAIT socket (its registration and
                            bind owner are released here) */
} pm_eph_connect_res;

/* connect(2): chooses the port (or checks the bound one), registers the
 * 5-tuple and makes the socket's owner CONNECTED. *id: the socket's bind
 * owner, PM_BIND_NONE if it has none (then one is made and returned); the
 * caller keeps it and releases it when the connection ends.
 * Errors: -EADDRNOTAVAIL (no port can make the tuple unique), -EAGAIN
 * (UDP autobind failed), -ENOBUFS (a pool is full), -EINVAL. */
int pm_eph_connect(pm_eph *e, const pm_eph_connect_req *req, pm_bind_id *id,
                   pm_eph_connect_res *res);

/* The connection enters TIME_WAIT; owner is its bind owner (already
 * moved to PM_BIND_TIME_WAIT by the caller), released here if a connect()
 * takes the tuple over. has_ts: it used timestamps (Linux
 * tw_ts_recent_stamp != 0); ts_stamp_us: the time tw_reuse_delay counts
 * from: the entry's creation in Linux 6.13+ (tw_entry_stamp), the last
 * timestamp's arrival before. Reuse (tcp_twsk_unique()): a port being
 * chosen needs has_ts, tw_reuse and now > stamp + delay; a socket that
 * connects from its bound port needs only has_ts (Linux passes no twp).
 * -ENOBUFS: the TIME_WAIT record pool is full. */
int pm_eph_time_wait(pm_eph *e, pm_eph_id conn, pm_bind_id owner, bool has_ts,
                     uint64_t ts_stamp_us);
/* The connection is gone (closed, or TIME_WAIT ended): frees its 5-tuple.
 * Its bind owner is the caller's to release. */
void pm_eph_release(pm_eph *e, pm_eph_id conn);
/* A registered connection's handle from its tuple, or PM_EPH_NONE. */
pm_eph_id pm_eph_find(const pm_eph *e, const pm_tuple *t);
/* Its tuple, for the caller. */
int pm_eph_tuple(const pm_eph *e, pm_eph_id conn, pm_tuple *out);

pm_eph_stats pm_eph_get_stats(const pm_eph *e);
pm_bind_table *pm_eph_bind_table(const pm_eph *e); /* the table it works over */
const char *pm_eph_alg_name(pm_eph_alg alg);       /* "alg1" ... */

#endif
