/* Private to src/host: the host object, its sockets and pools. */
#ifndef PM_HOST_INTERNAL_H
#define PM_HOST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "portmux/bind.h"
#include "portmux/demux.h"
#include "portmux/ephemeral.h"
#include "portmux/host.h"
#include "portmux/socket.h"
#include "portmux/tcp.h"
#include "portmux/wire.h"
#include "udp/icmp_err.h"
#include "udp/udp_queue.h"

#define NIL UINT32_MAX

/* Socket kinds of state, beyond the TCB's. */
enum {
    SK_FREE = 0,
    SK_OPEN,   /* created, maybe bound */
    SK_LISTEN, /* TCP listener */
    SK_CONN,   /* TCP with a TCB (connecting, connected, closing) */
    SK_DEAD,   /* TCP whose connection ended; the fd is still open */
    SK_UDP,    /* UDP (bound or not, connected or not) */
    SK_CHILD,  /* an unaccepted child in a listener's queue (no fd yet) */
    SK_ORPHAN, /* closed by the application, TCB still running */
};

enum { /* hsock.f */
       SF_REUSEADDR = 1 << 0,
       SF_REUSEPORT = 1 << 1,
       SF_V6ONLY = 1 << 2,
       SF_LINGER = 1 << 3,
       SF_NODELAY = 1 << 4,
       SF_NO_PORT = 1 << 5,    /* IP_BIND_ADDRESS_NO_PORT */
       SF_BOUND_ADDR = 1 << 6, /* bind() recorded an address (NO_PORT) */
       SF_SHUT_RD = 1 << 7,
       SF_SHUT_WR = 1 << 8,
       SF_CONNECTED = 1 << 9, /* UDP default peer / TCP peer known */
       SF_IN_DIRTY = 1 << 10,
       SF_IN_READY = 1 << 11,
       SF_IN_WHEEL = 1 << 12,
       SF_ACCEPTED = 1 << 13, /* reached the accept queue (established) */
       SF_RCVBUF_SET = 1 << 14,
       SF_SNDBUF_SET = 1 << 15,
       SF_EOF_SEEN = 1 << 16, /* the TCB's peer FIN was seen */
       SF_WAS_CONNECTED = 1 << 17,
       SF_PASSIVE = 1 << 18,
       SF_EPH = 1 << 19, /* connect() registered the TCB's tuple (pm_eph_find) */
       /* bits 20..31: the timing wheel slot while SF_IN_WHEEL */
       SF_WSLOT_SHIFT = 20,
};

/* A socket. What an established connection needs is here; its addresses
 * are its TCB's tuple. The rest (addresses before a TCB, listener queues,
 * buffer/MSS/port-range options) lives in a side record, hsock_x, that a
 * connected socket with default options does not hold. */
typedef struct hsock {
    uint8_t kind : 4;
    uint8_t type : 2;   /* PM_SOCK_STREAM / DGRAM */
    uint8_t family : 4; /* PM_AF_INET / INET6 */
    uint8_t so_error;   /* pending SO_ERROR, positive errno */
    uint8_t soft_error;
    uint32_t f;
    uint32_t uid;
    pm_bind_id bid;
    uint32_t tcb; /* TCB pool index, or NIL; UDP: its queue index */
    uint32_t x;   /* TCP: side record index, or NIL (UDP: h->udpx[tcb]) */
    /* A child's listener and its queue link. */
    uint32_t parent, qnext;
    /* Timing wheel links (the slot is in f, the deadline is the TCB's). */
    uint32_t wnext, wprev;
    /* Output (dirty) list and event (ready) list. */
    uint32_t dnext, rnext;
} hsock;

/* The side record. Without one: unbound, wildcard names, default options. */
typedef struct hsock_x {
    pm_sockaddr local, remote; /* a TCP socket with a TCB: its tuple instead */
    uint32_t rcvbuf, sndbuf;   /* if SF_RCVBUF_SET / SF_SNDBUF_SET (doubled, as Linux) */
    uint16_t maxseg;
    uint16_t range_lo, range_hi; /* IP_LOCAL_PORT_RANGE, 0: none */
    uint16_t linger_s;           /* SO_LINGER's time when not 0 (SF_LINGER says on) */
    uint16_t acc_len;
    /* Listener queues (children linked by qnext); acc_head links free records. */
    uint32_t acc_head, acc_tail, syn_len;
    uint32_t backlog;
} hsock_x;

/* Packet output queue: fixed slots, FIFO. */
typedef struct outq {
    uint8_t *mem;
    uint16_t *len;
    uint32_t cap, head, n;
} outq;

/* One timing wheel: 2^WHEEL_BITS slots of 2^WHEEL_SHIFT microseconds. */
#define WHEEL_BITS  12
#define WHEEL_SLOTS (1u << WHEEL_BITS)
#define WHEEL_SHIFT 10
_Static_assert(WHEEL_BITS <= 32 - SF_WSLOT_SHIFT, "the slot fits in hsock.f");
typedef struct wheel {
    uint32_t head[WHEEL_SLOTS];
    uint64_t bits[WHEEL_SLOTS / 64];
    uint64_t cur_tick; /* every slot before it has been processed */
    uint32_t count;
} wheel;

/* The side record of a TIME_WAIT entry, indexed by its ring position. */
typedef struct tw_side {
    pm_bind_id bid;
    pm_eph_id eid;
    uint32_t hash; /* of the tuple, 0: empty slot */
    uint8_t family, v6only;
    uint16_t pad;
    uint32_t uid;
} tw_side;

struct pm_host {
    pm_host_config cfg;
    pm_tcp_stack tcp;
    pm_wire_stats wire;
    pm_host_stats st;
    pm_bind_table *bt;
    pm_eph *eph;
    pm_ehash *eh;
    pm_lhash *lh;
    pm_udptab *ut;
    uint64_t now;
    /* Sockets: the fd is the index. Free ones on a list, lowest first. */
    hsock *socks;
    uint32_t nsocks, free_sock;
    /* TCBs and their rings. */
    pm_tcp *tcbs;
    uint8_t *tcb_mem; /* max_tcbs * (sndbuf + rcvbuf) */
    uint32_t free_tcb, ntcbs_used;
    /* Side records of TCP sockets (max_sock_ext), and of UDP sockets (one
     * per queue). */
    hsock_x *xs, *udpx;
    uint32_t free_x, nxs_used;
    /* UDP receive queues. */
    pm_udp_queue *udpq;
    uint8_t *udp_mem;
    uint32_t free_udp;
    outq out;
    uint32_t dirty_head, dirty_tail;
    uint32_t ready_head, ready_tail;
    wheel wh;
    tw_side *tw;
    uint32_t tw_cursor; /* oldest position that may hold a live entry */
    uint64_t key[2];
    /* ICMP token bucket (Linux icmp_global_allow). */
    pm_icmp_limit icmp_lim;
    bool connect_bound_port; /* during pm_eph_connect: the socket had a port */
    uint8_t *scratch;        /* a segment's payload on its way out */
    uint32_t scratch_cap;
};

static inline hsock *sk_get(pm_host *h, int fd)
{
    if (fd < 0 || (uint32_t)fd >= h->nsocks) return NULL;
    hsock *s = &h->socks[fd];
    if (s->kind == SK_FREE || s->kind == SK_CHILD || s->kind == SK_ORPHAN) return NULL;
    return s;
}

static inline uint32_t sk_index(const pm_host *h, const hsock *s)
{
    return (uint32_t)(s - h->socks);
}

static inline pm_tcp *sk_tcb(pm_host *h, const hsock *s)
{
    return s->tcb == NIL ? NULL : &h->tcbs[s->tcb];
}

/* A free TCB slot holds the next free one in its first bytes. */
static inline void tcb_link(pm_host *h, uint32_t i, uint32_t next)
{
    memcpy(&h->tcbs[i], &next, sizeof next);
}

static inline uint32_t tcb_next(const pm_host *h, uint32_t i)
{
    uint32_t next;
    memcpy(&next, &h->tcbs[i], sizeof next);
    return next;
}

static inline hsock_x *sk_x(pm_host *h, const hsock *s)
{
    if (s->type == PM_SOCK_DGRAM) return s->tcb == NIL ? NULL : &h->udpx[s->tcb];
    return s->x == NIL ? NULL : &h->xs[s->x];
}

/* Names: a TCP socket with a live TCB has them in its tuple. */
pm_sockaddr sk_local(const pm_host *h, const hsock *s);
pm_sockaddr sk_remote(const pm_host *h, const hsock *s);
uint32_t sk_rcvbuf(const pm_host *h, const hsock *s);
uint32_t sk_sndbuf(const pm_host *h, const hsock *s);
uint16_t sk_maxseg(const pm_host *h, const hsock *s);
uint16_t sk_linger_s(const pm_host *h, const hsock *s);
/* The side record, taken from the pool if the socket has none (its names
 * copied in): NULL when the pool is full. */
hsock_x *host_x_get(pm_host *h, hsock *s);
/* Gives the side record back if a connected socket no longer needs it. */
void host_x_trim(pm_host *h, hsock *s);

/* sockets.c: pools. */
hsock *host_sock_alloc(pm_host *h);
void host_sock_free(pm_host *h, hsock *s);
int host_tcb_alloc(pm_host *h, hsock *s);
void host_tcb_free(pm_host *h, hsock *s);
void host_tcb_release(pm_host *h, hsock *s); /* free, or keep while unread */
void host_mark_ready(pm_host *h, hsock *s);

/* output.c */
uint8_t *host_out_slot(pm_host *h);
void host_out_commit(pm_host *h, int len);
int host_emit(pm_host *h, const pm_packet *p);
void host_mark_dirty(pm_host *h, hsock *s);
/* After any TCB event: emit its output, re-arm its timer, handle ev. */
void host_tcp_after(pm_host *h, hsock *s, unsigned ev);

/* wheel.c */
void wheel_init(wheel *w, uint64_t now);
void wheel_set(pm_host *h, hsock *s, uint64_t at);
void wheel_del(pm_host *h, hsock *s);
uint64_t wheel_next(const pm_host *h);
void wheel_run(pm_host *h, uint64_t now);

/* tcp_conn.c: connection lifecycle shared by input and the socket API. */
void host_conn_done(pm_host *h, hsock *s); /* the TCB ended: release it */
void host_time_wait(pm_host *h, hsock *s); /* move to the compact table */
void host_tw_expire(pm_host *h, uint64_t now);
void host_tw_release_head(pm_host *h, const pm_tuple *t);
void host_tw_remove_ref(pm_host *h, uint32_t ref, const pm_tuple *t);
void host_tw_note(pm_host *h, uint32_t ref, const tw_side *side, const pm_tuple *t);
uint32_t host_tuple_hash(const pm_tuple *t);
void host_tw_convert_in(pm_host *h, const pm_tw_entry *e, pm_tcp_tw *tw);
void host_tw_convert_out(const pm_tcp_tw *tw, pm_tw_state *st);
void host_listener_drop_children(pm_host *h, hsock *l);
void host_tcp_input(pm_host *h, const pm_packet *p);
void host_tcp_icmp(pm_host *h, const pm_packet *p, const pm_tuple *t, int err, bool hard);

/* udp: input and ICMP. */
void host_udp_input(pm_host *h, const pm_packet *p, const uint8_t *raw, size_t rawlen);
void host_icmp_input(pm_host *h, const pm_packet *p, const uint8_t *raw, size_t rawlen);
bool host_icmp_allow(pm_host *h);
void host_icmp_unreach(pm_host *h, const pm_ip_repr *ip, const uint8_t *raw, size_t rawlen);

bool host_is_local(const pm_host *h, const pm_ip *ip);
int host_sock_bind_opts(const hsock *s, pm_bind_opts *o);

#endif
