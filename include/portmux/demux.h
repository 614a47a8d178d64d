/* Demultiplexing: which socket does an incoming segment belong to?
 *
 * Three tables, as Linux's inet_hashtables and FreeBSD's in_pcb have them:
 *   pm_ehash   established connections and TIME_WAIT entries, keyed by the
 *              5-tuple (Linux's ehash); one probe finds either kind;
 *   pm_lhash   TCP listeners keyed by (port, local address) with wildcard
 *              (Linux's lhash2), most specific wins, SO_REUSEPORT groups;
 *   pm_udptab  UDP sockets, connected or not (Linux's udp_table hash2).
 *
 * Pure: no clock (time is a microseconds argument), no I/O, no randomness
 * of its own (the caller passes each table's secret hash key). Lookups
 * return handles (uint32_t socket indexes chosen by the caller); the tables
 * never own application buffers. Not thread-safe: one owner per table.
 *
 * Tuples are seen from the local host: for an incoming packet,
 * laddr/lport are its destination and faddr/fport its source. IPv4
 * addresses are IPv4-mapped (addr.h); a tuple whose laddr is IPv4-mapped
 * is an IPv4 packet. */
#ifndef PORTMUX_DEMUX_H
#define PORTMUX_DEMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"

/* ------------------------------------------------------------------------
 * Established + TIME_WAIT table.
 *
 * A lookup returns a reference:
 *   PM_EHASH_MISS            nothing matches;
 *   r < PM_EHASH_TW          an established connection: r is its handle;
 *   r & PM_EHASH_TW          a TIME_WAIT entry: r is its id, to pass to the
 *                            pm_ehash_tw_* functions. Ids are valid until
 *                            the next call that modifies the table. */
#define PM_EHASH_MISS       UINT32_MAX
#define PM_EHASH_TW         0x80000000u
#define PM_EHASH_HANDLE_MAX 0x7fffffffu /* handles are 0 .. HANDLE_MAX - 1 */

static inline bool pm_ehash_is_tw(uint32_t ref)
{
    return ref != PM_EHASH_MISS && (ref & PM_EHASH_TW);
}

typedef struct pm_ehash pm_ehash;
typedef struct pm_tw_entry pm_tw_entry;

typedef struct pm_ehash_config {
    uint64_t key[2];          /* the table's secret SipHash key (draw it at random) */
    uint32_t initial_entries; /* index sized for this many without growing */
    uint32_t max_entries;     /* established connections; more: -ENOBUFS */
    uint32_t max_tw;          /* Linux's tcp_max_tw_buckets (0: none kept) */
    uint32_t tw_timeout_us;   /* TIME_WAIT lifetime (Linux: 60 s); < 2^31 */
    bool siphash;             /* hash with SipHash-1-3 even where AES-NI is there */
    /* Told of each TIME_WAIT entry recycled at the limit, while it is being
     * removed (e.g. to release its port); may be NULL. Must not call back
     * into the table. */
    void (*tw_recycled)(void *ctx, const struct pm_tw_entry *e);
    /* Optional: established entries keyed by the caller's own copy of the
     * tuple (a TCB's), as Linux's ehash compares the sock's own fields.
     * The index slot then holds the handle and no 32-byte record is kept;
     * lookups call est_key(ctx, handle) for each tag match. The tuple it
     * returns must equal the key inserted until the entry is removed or
     * turned into TIME_WAIT. Must not call back into the table. */
    const pm_tuple *(*est_key)(void *ctx, uint32_t handle);
    void *ctx;
} pm_ehash_config;

/* What TIME_WAIT keeps (Linux's tcp_timewait_sock, FreeBSD's tcptw). */
typedef struct pm_tw_state {
    uint32_t snd_nxt;         /* to answer with a correct ACK */
    uint32_t rcv_nxt;         /* to accept the peer's retransmitted FIN */
    uint32_t rcv_wnd;         /* window to advertise, unscaled */
    uint32_t ts_recent;       /* RFC 7323 TS.Recent, for PAWS */
    uint32_t ts_recent_stamp; /* when ts_recent was taken (seconds, as Linux) */
    uint8_t rcv_wscale;
    uint8_t flags; /* PM_TW_F_*; bit 7 is reserved */
} pm_tw_state;

enum {
    PM_TW_F_TS = 1 << 0,        /* timestamps were negotiated */
    PM_TW_F_FIN_WAIT2 = 1 << 1, /* Linux's tw_substate FIN_WAIT2 */
    PM_TW_F_USER_MASK = 0x7f,
};

/* A TIME_WAIT entry as read back or expired. */
struct pm_tw_entry {
    pm_tuple tuple;
    pm_tw_state st;
    uint64_t expire; /* microseconds */
};

typedef struct pm_ehash_stats {
    uint64_t established; /* entries now */
    uint64_t timewait;
    uint64_t buckets;  /* in the current index (+ the old one while growing) */
    uint64_t capacity; /* slots in those buckets */
    uint64_t bytes;    /* heap bytes this table asked for */
    bool growing;      /* an incremental rehash is in progress */
    bool aes_hash;     /* keyed with AES rounds (else SipHash-1-3) */
    /* counters */
    uint64_t inserts, removes, insert_exists, insert_full, insert_nomem;
    uint64_t tw_inserts, tw_recycled, tw_expired, tw_removed, tw_rescheduled;
    uint64_t grows, grow_steps;
    uint64_t laddr_full; /* more distinct local addresses than 65535 */
} pm_ehash_stats;

/* 0, -EINVAL (bad config), -ENOMEM. */
int pm_ehash_create(pm_ehash **out, const pm_ehash_config *cfg);
void pm_ehash_destroy(pm_ehash *t);

/* An established connection. 0, -EEXIST (tuple present, established or
 * TIME_WAIT), -ENOBUFS (max_entries), -ENOSPC (local addresses), -ENOMEM,
 * -EINVAL (handle >= PM_EHASH_HANDLE_MAX). Never moves other entries;
 * each call also advances a growing index by a bounded step. */
int pm_ehash_insert(pm_ehash *t, const pm_tuple *k, uint32_t handle);
/* Removes an established connection: its handle (>= 0) or -ENOENT. */
int64_t pm_ehash_remove(pm_ehash *t, const pm_tuple *k);

uint32_t pm_ehash_lookup(const pm_ehash *t, const pm_tuple *k);
/* n lookups at once, hashing and prefetching ahead: out[i] as above. */
void pm_ehash_lookup_bulk(const pm_ehash *t, const pm_tuple *keys, size_t n, uint32_t *out);

/* Advances an incremental rehash by up to `steps` old buckets (a host
 * calls it from its timer so growth also ends without inserts). Returns
 * true while a rehash remains. */
bool pm_ehash_maintain(pm_ehash *t, unsigned steps);

/* TIME_WAIT. Entries live in a FIFO of max_tw slots ordered by expiry
 * (FreeBSD's 2MSL list); at the limit the oldest is recycled
 * (stats.tw_recycled). Each holds a 48-byte record plus its index slot.
 *
 * to_timewait turns the established entry for k into a TIME_WAIT entry in
 * place (the same index slot): *ref receives its id; returns the old
 * handle (>= 0), -ENOENT, or -ENOBUFS when max_tw is 0. */
int64_t pm_ehash_to_timewait(pm_ehash *t, const pm_tuple *k, const pm_tw_state *st, uint64_t now,
                             uint32_t *ref);
/* A TIME_WAIT entry with no established one before it (k.proto must be
 * TCP). 0 (*ref set), -EEXIST, -ENOBUFS, -ENOSPC, -ENOMEM, -EINVAL. */
int pm_ehash_tw_insert(pm_ehash *t, const pm_tuple *k, const pm_tw_state *st, uint64_t now,
                       uint32_t *ref);
/* 0 or -ENOENT (not a live TIME_WAIT id). */
int pm_ehash_tw_get(const pm_ehash *t, uint32_t ref, pm_tw_entry *out);
int pm_ehash_tw_update(pm_ehash *t, uint32_t ref, const pm_tw_state *st);
int pm_ehash_tw_remove(pm_ehash *t, uint32_t ref);
/* Restarts the entry's timer at now + timeout (Linux: inet_twsk_reschedule)
 * by moving it to the FIFO's tail: *ref receives its new id. */
int pm_ehash_tw_reschedule(pm_ehash *t, uint32_t ref, uint64_t now, uint32_t *newref);
/* Removes entries whose expiry is <= now, oldest first, writing them to
 * out[] (the host releases their ports). Bounded work: at most `max`
 * entries and `max` dead slots per call. Returns how many were written;
 * more are due while pm_ehash_tw_next_expiry() says so. */
size_t pm_ehash_tw_expire(pm_ehash *t, uint64_t now, pm_tw_entry *out, size_t max);
/* When the oldest entry expires: true and *at, or false when none. */
bool pm_ehash_tw_next_expiry(const pm_ehash *t, uint64_t now, uint64_t *at);

void pm_ehash_stats_get(const pm_ehash *t, pm_ehash_stats *s);

/* Diagnostics (O(1) for probes, O(n) for the scan), used by the tests: how
 * many buckets and records a lookup of k examines; and the longest and
 * total distance of stored entries from their home bucket. */
typedef struct pm_ehash_probe {
    uint32_t buckets, records;
} pm_ehash_probe;
pm_ehash_probe pm_ehash_probes(const pm_ehash *t, const pm_tuple *k);
void pm_ehash_displacement(const pm_ehash *t, uint32_t *max, uint64_t *total);

/* ------------------------------------------------------------------------
 * Bound sockets, for the listener and UDP tables. */
typedef struct pm_demux_sock {
    uint16_t family; /* PM_AF_INET or PM_AF_INET6 */
    uint16_t lport;
    pm_ip laddr;    /* pm_ip_any4 (AF_INET) or pm_ip_any6 for the wildcard */
    pm_ip faddr;    /* UDP: connect()ed peer, or any */
    uint16_t fport; /* UDP: connect()ed peer port, or 0 */
    bool v6only;    /* IPV6_V6ONLY: an AF_INET6 socket that takes no IPv4 */
    /* SO_REUSEPORT group member. A UDP socket whose connect() filled in
     * its local address leaves its group (Linux: udp_lib_rehash() ->
     * reuseport_detach_sock()): insert it connected with false. */
    bool reuseport;
    uint32_t ifindex; /* SO_BINDTODEVICE, 0 for any */
    uint32_t handle;
} pm_demux_sock;

#define PM_DEMUX_NONE UINT32_MAX

/* ------------------------------------------------------------------------
 * Listener table. */
typedef struct pm_lhash pm_lhash;

int pm_lhash_create(pm_lhash **out, const uint64_t key[2]);
void pm_lhash_destroy(pm_lhash *t);
/* 0, -EADDRINUSE (same binding and not both SO_REUSEPORT), -EEXIST (same
 * handle), -EINVAL, -ENOMEM. */
int pm_lhash_insert(pm_lhash *t, const pm_demux_sock *s);
/* Removes the entry with s's binding and handle: 0 or -ENOENT. */
int pm_lhash_remove(pm_lhash *t, const pm_demux_sock *s);
/* The listener for an incoming SYN with tuple k arriving on ifindex, or
 * PM_DEMUX_NONE. Linux: __inet_lookup_listener() / inet6_lookup_listener(). */
uint32_t pm_lhash_lookup(const pm_lhash *t, const pm_tuple *k, uint32_t ifindex);
size_t pm_lhash_count(const pm_lhash *t);

/* ------------------------------------------------------------------------
 * UDP table. */
typedef struct pm_udptab pm_udptab;

int pm_udptab_create(pm_udptab **out, const uint64_t key[2]);
void pm_udptab_destroy(pm_udptab *t);
/* Bind conflicts are the bind table's business (ports.h): any binding is
 * accepted here. 0, -EEXIST (same binding and handle), -EINVAL, -ENOMEM.
 * connect() is remove + insert with faddr/fport set, as Linux rehashes. */
int pm_udptab_insert(pm_udptab *t, const pm_demux_sock *s);
int pm_udptab_remove(pm_udptab *t, const pm_demux_sock *s);
/* The socket for a unicast datagram, or PM_DEMUX_NONE.
 * Linux: __udp4_lib_lookup() / __udp6_lib_lookup(). */
uint32_t pm_udptab_lookup(const pm_udptab *t, const pm_tuple *k, uint32_t ifindex);
size_t pm_udptab_count(const pm_udptab *t);

/* Every socket a multicast or broadcast datagram is delivered to
 * (Linux: __udp4_lib_mcast_deliver(); group membership filters are the
 * caller's). The table must not change while iterating. */
typedef struct pm_udptab_iter {
    pm_tuple k;
    uint32_t ifindex;
    unsigned pass;
    uint32_t i;
} pm_udptab_iter;
void pm_udptab_mcast_begin(const pm_udptab *t, pm_udptab_iter *it, const pm_tuple *k,
                           uint32_t ifindex);
/* true and *handle, or false when done. */
bool pm_udptab_mcast_next(const pm_udptab *t, pm_udptab_iter *it, uint32_t *handle);

#endif
