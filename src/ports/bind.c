/* The bind table: Linux's bhash for TCP (inet_csk_get_port()) and the
 * UDP port hash (udp_lib_get_port()), with the same answers.
 *
 * Owners are records in a per-port list, except connected TCP owners,
 * which fold into their port's inline group when they can: Linux's TCP
 * answers ask "does any owner conflict?", and owners that agree on every
 * field the rules read (a class) give the same answer, so a class and a
 * count per state stand for them. UDP answers depend on list order
 * (udp_lib_lport_inuse()'s first match): UDP owners are always records. */
#include "portmux/bind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ports/bind_internal.h"
#include "ports/bind_rules.h"

enum { P_TCP = 0, P_UDP = 1, NPROTO = 2 };

typedef struct owner {
    ksock k;
    int32_t next, prev; /* in the port's list, newest first; next = free list */
    uint16_t port;
    uint8_t proto; /* P_TCP or P_UDP */
    uint8_t state; /* pm_bind_state */
    bool used, by_connect;
} owner;

/* An owner class: all the rules read of a connected owner. */
typedef struct oclass {
    ksock k;
    bool by_connect;
    uint32_t refs; /* groups that use it */
    int32_t hnext; /* hash chain; free list */
} oclass;

/* A TCP port's inline group: its class (index + 1; 0: none) and how many
 * owners of that class it stands for, per state. */
enum { G_CONNECTED = 0, G_TIME_WAIT = 1 };
typedef struct group {
    uint16_t cls1;
    uint32_t n[2];
} group;

/* head1/tail1 are owner index + 1 (0: none), so that a zeroed array is a
 * table of empty buckets and creation touches no page. */
typedef struct bucket {
    int32_t head1, tail1;
    uint32_t n;
    uint32_t n_bind; /* owners that did not come from connect() */
    bind_fast fast;
} bucket;

struct pm_bind_table {
    pm_bind_config cfg;
    owner *owners;
    int32_t free_head;
    bucket *buckets[NPROTO]; /* 65536 each */
    group *groups;           /* 65536, TCP only; NULL: grouping off */
    oclass *classes;
    int32_t class_free, *class_hash;
    uint32_t class_mask;
    pm_portmap owned[NPROTO], held[NPROTO];
    uint64_t *storage; /* the maps' blocks */
    pm_bind_stats st;
};

static int proto_index(uint8_t proto)
{
    if (proto == PM_IPPROTO_TCP) return P_TCP;
    if (proto == PM_IPPROTO_UDP) return P_UDP;
    return -1;
}

void pm_bind_config_default(pm_bind_config *cfg)
{
    cfg->max_owners = 65536;
    cfg->max_classes = 256;
    cfg->unprivileged_port_start = 1024;
}

pm_bind_table *pm_bind_create(const pm_bind_config *cfg)
{
    pm_bind_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (cfg)
        t->cfg = *cfg;
    else
        pm_bind_config_default(&t->cfg);
    /* record indices stay below PM_BIND_GROUP; class index + 1 fits 16 bits */
    if (t->cfg.max_owners == 0 || t->cfg.max_owners > INT32_MAX / 2 ||
        t->cfg.max_classes > UINT16_MAX)
        goto fail;
    t->owners = calloc(t->cfg.max_owners, sizeof *t->owners);
    if (t->cfg.max_classes) {
        t->class_mask = 1;
        while (t->class_mask < t->cfg.max_classes) t->class_mask <<= 1;
        t->classes = calloc(t->cfg.max_classes, sizeof *t->classes);
        t->class_hash = malloc(t->class_mask * sizeof *t->class_hash);
        t->groups = calloc(65536, sizeof *t->groups);
        if (!t->classes || !t->class_hash || !t->groups) goto fail;
        for (uint32_t i = 0; i < t->class_mask; i++) t->class_hash[i] = -1;
        for (uint32_t i = 0; i < t->cfg.max_classes; i++)
            t->classes[i].hnext = (i + 1 < t->cfg.max_classes) ? (int32_t)(i + 1) : -1;
        t->class_free = 0;
        t->class_mask--;
    }
    t->storage = calloc((size_t)NPROTO * 2 * 1024, sizeof(uint64_t));
    for (int p = 0; p < NPROTO; p++) t->buckets[p] = calloc(65536, sizeof(bucket));
    if (!t->owners || !t->storage || !t->buckets[0] || !t->buckets[1]) goto fail;
    for (int p = 0; p < NPROTO; p++) {
        for (int b = 0; b < PM_PM_BLOCKS; b++) {
            t->owned[p].blk[b] = t->storage + ((size_t)(p * 2) * 1024 + (size_t)b * 64);
            t->held[p].blk[b] = t->storage + ((size_t)(p * 2 + 1) * 1024 + (size_t)b * 64);
        }
    }
    for (uint32_t i = 0; i < t->cfg.max_owners; i++)
        t->owners[i].next = (i + 1 < t->cfg.max_owners) ? (int32_t)(i + 1) : -1;
    t->free_head = 0;
    return t;
fail:
    pm_bind_destroy(t);
    return NULL;
}

void pm_bind_destroy(pm_bind_table *t)
{
    if (!t) return;
    free(t->owners);
    free(t->classes);
    free(t->class_hash);
    free(t->groups);
    free(t->storage);
    for (int p = 0; p < NPROTO; p++) free(t->buckets[p]);
    free(t);
}

void pm_bind_set_unprivileged_port_start(pm_bind_table *t, uint16_t port)
{
    t->cfg.unprivileged_port_start = port;
}

static void sync_maps(pm_bind_table *t, int p, uint16_t port)
{
    const bucket *tb = &t->buckets[p][port];
    if (tb->n)
        pm_portmap_set(&t->owned[p], port);
    else
        pm_portmap_clear(&t->owned[p], port);
    if (tb->n && (tb->fast.reuse >= 0 || tb->fast.reuseport >= 0))
        pm_portmap_set(&t->held[p], port);
    else
        pm_portmap_clear(&t->held[p], port);
}

/* TCP: would sk conflict with an owner of port (other than self)?
 * Linux inet_csk_bind_conflict(): with bhash2 for specific addresses, the
 * same set as inet_bind_rcv_saddr_equal(sk, sk2, true) over all owners. The
 * group's owners are one class: one check per state stands for them. */
static bool tcp_conflict(const pm_bind_table *t, uint16_t port, const ksock *sk, int32_t self,
                         bool relax, bool reuseport_ok)
{
    for (int32_t i = t->buckets[P_TCP][port].head1 - 1; i >= 0; i = t->owners[i].next) {
        if (i == self) continue;
        const owner *o2 = &t->owners[i];
        if (bind_conflict(sk, &o2->k, o2->state, relax, reuseport_ok) &&
            bind_rcv_saddr_equal(sk, &o2->k, true))
            return true;
    }
    const group *g = t->groups ? &t->groups[port] : NULL;
    if (!g || !g->cls1) return false;
    const ksock *k2 = &t->classes[g->cls1 - 1].k;
    if (!bind_rcv_saddr_equal(sk, k2, true)) return false;
    return (g->n[G_CONNECTED] && bind_conflict(sk, k2, PM_BIND_CONNECTED, relax, reuseport_ok)) ||
           (g->n[G_TIME_WAIT] && bind_conflict(sk, k2, PM_BIND_TIME_WAIT, relax, reuseport_ok));
}

/* Linux: inet_csk_get_port() for a given port. listening: sk is entering
 * LISTEN (inet_csk_listen_start()) and is already an owner (self). */
static int tcp_get_port(const pm_bind_table *t, uint16_t port, const ksock *sk, bool listening,
                        int32_t self)
{
    const bucket *tb = &t->buckets[P_TCP][port];
    bool reuse = sk->reuse && !listening;
    if (tb->n) {
        if ((tb->fast.reuse > 0 && reuse) || bind_reuseport_match(&tb->fast, sk)) return 0;
    }
    return tcp_conflict(t, port, sk, self, true, true) ? -EADDRINUSE : 0;
}

/* Linux: udp_lib_lport_inuse(): the first matching owner decides. With
 * all = true (autobind's bitmap mode), any incompatible owner counts. */
static bool udp_inuse(const pm_bind_table *t, const bucket *tb, const ksock *sk, bool all)
{
    for (int32_t i = tb->head1 - 1; i >= 0; i = t->owners[i].next) {
        const ksock *sk2 = &t->owners[i].k;
        if ((!sk2->reuse || !sk->reuse) && bind_rcv_saddr_equal(sk, sk2, true)) {
            bool share = sk2->reuseport && sk->reuseport && sk->uid == sk2->uid;
            if (!all) return !share;
            if (!share) return true;
        }
    }
    return false;
}

static int precheck(const pm_bind_table *t, int p, const pm_sockaddr *sa, const pm_bind_opts *o,
                    const pm_cred *c, bool bound)
{
    if (p < 0 || !sa || !o || !c) return -EINVAL;
    /* Linux inet_bind()/__inet6_bind(): the privilege check comes first */
    if (sa->port && sa->port < t->cfg.unprivileged_port_start && !c->cap_net_bind_service)
        return -EACCES;
    if (bound) return -EINVAL; /* already bound */
    if (o->family == PM_AF_INET) {
        if (!pm_ip_is_v4(&sa->ip)) return -EAFNOSUPPORT;
    } else if (o->family == PM_AF_INET6) {
        /* Linux __inet6_bind(): a v6only socket cannot take a mapped address */
        if (pm_ip_is_v4(&sa->ip) && o->v6only) return -EINVAL;
    } else {
        return -EAFNOSUPPORT;
    }
    return 0;
}

static int check_port(const pm_bind_table *t, int p, const pm_sockaddr *sa, const pm_bind_opts *o,
                      uint32_t uid)
{
    ksock k;
    bind_make_ksock(&k, sa, o, uid);
    if (p == P_TCP) return tcp_get_port(t, sa->port, &k, false, -1);
    return udp_inuse(t, &t->buckets[p][sa->port], &k, false) ? -EADDRINUSE : 0;
}

static int count_err(pm_bind_table *t, int err)
{
    if (err == -EADDRINUSE)
        t->st.eaddrinuse++;
    else if (err == -EACCES)
        t->st.eacces++;
    else if (err == -EINVAL)
        t->st.einval++;
    return err;
}

/* ---- Owner classes and port groups ---- */

static bool class_eq(const oclass *c, const ksock *k, bool by_connect)
{
    return pm_ip_eq(&c->k.v6, &k->v6) && c->k.rcv4 == k->rcv4 && c->k.uid == k->uid &&
           c->k.family == k->family && c->k.v6only == k->v6only && c->k.reuse == k->reuse &&
           c->k.reuseport == k->reuseport && c->by_connect == by_connect;
}

static uint32_t class_hash(const ksock *k, bool by_connect)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++) h = (h ^ k->v6.b[i]) * 16777619u;
    uint32_t w[3] = {k->rcv4, k->uid,
                     (uint32_t)k->family << 8 | (uint32_t)k->v6only << 3 | (uint32_t)k->reuse << 2 |
                         (uint32_t)k->reuseport << 1 | (uint32_t)by_connect};
    for (int i = 0; i < 3; i++) h = (h ^ w[i]) * 16777619u;
    return h ^ (h >> 15);
}

/* The class of (k, by_connect), made if new; -1 if the pool is full. */
static int32_t class_get(pm_bind_table *t, const ksock *k, bool by_connect)
{
    uint32_t b = class_hash(k, by_connect) & t->class_mask;
    for (int32_t i = t->class_hash[b]; i >= 0; i = t->classes[i].hnext)
        if (class_eq(&t->classes[i], k, by_connect)) return i;
    if (t->class_free < 0) {
        t->st.class_full++;
        return -1;
    }
    int32_t i = t->class_free;
    oclass *c = &t->classes[i];
    t->class_free = c->hnext;
    c->k = *k;
    c->by_connect = by_connect;
    c->refs = 0;
    c->hnext = t->class_hash[b];
    t->class_hash[b] = i;
    t->st.classes++;
    return i;
}

static void class_put(pm_bind_table *t, int32_t i)
{
    oclass *c = &t->classes[i];
    if (--c->refs) return;
    int32_t *pp = &t->class_hash[class_hash(&c->k, c->by_connect) & t->class_mask];
    while (*pp != i) pp = &t->classes[*pp].hnext;
    *pp = c->hnext;
    c->hnext = t->class_free;
    t->class_free = i;
    t->st.classes--;
}

static pm_bind_id group_id(uint16_t port, int gs)
{
    return PM_BIND_GROUP | (gs == G_TIME_WAIT ? PM_BIND_GROUP_TW : 0) | port;
}

/* The group a handle names, if it has an owner in the handle's state. */
static group *get_group(const pm_bind_table *t, pm_bind_id id, int *gs)
{
    if (!t->groups || id < 0 || !(id & PM_BIND_GROUP) ||
        (id & ~(PM_BIND_GROUP | PM_BIND_GROUP_TW | 0xffff)))
        return NULL;
    group *g = &t->groups[id & 0xffff];
    int s = (id & PM_BIND_GROUP_TW) ? G_TIME_WAIT : G_CONNECTED;
    if (!g->cls1 || !g->n[s]) return NULL;
    *gs = s;
    return g;
}

static uint16_t group_port(const pm_bind_table *t, const group *g)
{
    return (uint16_t)(g - t->groups);
}

/* One more owner (k, by_connect) in port's group; false if it cannot join
 * (the group holds another class, or no class is free). */
static bool group_join(pm_bind_table *t, uint16_t port, const ksock *k, bool by_connect, int gs)
{
    if (!t->groups) return false;
    group *g = &t->groups[port];
    if (g->cls1) {
        if (!class_eq(&t->classes[g->cls1 - 1], k, by_connect)) return false;
    } else {
        int32_t c = class_get(t, k, by_connect);
        if (c < 0) return false;
        t->classes[c].refs++;
        g->cls1 = (uint16_t)(c + 1);
    }
    g->n[gs]++;
    return true;
}

static void group_leave(pm_bind_table *t, group *g, int gs)
{
    g->n[gs]--;
    if (!g->n[G_CONNECTED] && !g->n[G_TIME_WAIT]) {
        class_put(t, g->cls1 - 1);
        g->cls1 = 0;
    }
}

/* ---- Owner records ---- */

static owner *get_owner(const pm_bind_table *t, pm_bind_id id)
{
    if (id < 0 || (uint32_t)id >= t->cfg.max_owners || !t->owners[id].used) return NULL;
    return &t->owners[id];
}

/* A fresh record (zeroed, used) or -1 if the pool is full (counted). */
static int32_t record_alloc(pm_bind_table *t)
{
    if (t->free_head < 0) {
        t->st.pool_full++;
        return -1;
    }
    int32_t i = t->free_head;
    owner *o = &t->owners[i];
    t->free_head = o->next;
    memset(o, 0, sizeof *o);
    o->used = true;
    t->st.records++;
    return i;
}

static void record_free(pm_bind_table *t, int32_t i)
{
    owner *o = &t->owners[i];
    o->used = false;
    o->next = t->free_head;
    t->free_head = i;
    t->st.records--;
}

static void record_link(pm_bind_table *t, int32_t i)
{
    owner *o = &t->owners[i];
    bucket *tb = &t->buckets[o->proto][o->port];
    if (o->proto == P_UDP && o->k.family == PM_AF_INET6 && o->k.reuseport && tb->tail1 > 0) {
        /* Linux sk_add_node_rcu(): IPv6 SO_REUSEPORT sockets go to the
         * tail, the rest to the head; udp_lib_lport_inuse() sees them so */
        o->next = -1;
        o->prev = tb->tail1 - 1;
        t->owners[tb->tail1 - 1].next = i;
        tb->tail1 = i + 1;
    } else {
        o->prev = -1;
        o->next = tb->head1 - 1;
        if (tb->head1 > 0)
            t->owners[tb->head1 - 1].prev = i;
        else
            tb->tail1 = i + 1;
        tb->head1 = i + 1;
    }
}

static void record_unlink(pm_bind_table *t, int32_t i)
{
    owner *o = &t->owners[i];
    bucket *tb = &t->buckets[o->proto][o->port];
    if (o->prev >= 0)
        t->owners[o->prev].next = o->next;
    else
        tb->head1 = o->next + 1;
    if (o->next >= 0)
        t->owners[o->next].prev = o->prev;
    else
        tb->tail1 = o->prev + 1;
}

/* A grouped owner leaves its group for a record with the same view. */
static int unfold(pm_bind_table *t, pm_bind_id *id)
{
    int gs;
    group *g = get_group(t, *id, &gs);
    int32_t i = record_alloc(t);
    if (i < 0) return -ENOBUFS;
    owner *o = &t->owners[i];
    const oclass *c = &t->classes[g->cls1 - 1];
    o->k = c->k;
    o->by_connect = c->by_connect;
    o->port = group_port(t, g);
    o->proto = P_TCP;
    o->state = gs == G_TIME_WAIT ? PM_BIND_TIME_WAIT : PM_BIND_CONNECTED;
    record_link(t, i);
    group_leave(t, g, gs);
    *id = i;
    return 0;
}

/* A connected TCP record joins its port's group if it can. */
static void fold(pm_bind_table *t, pm_bind_id *id)
{
    owner *o = get_owner(t, *id);
    if (!o || o->proto != P_TCP) return;
    if (o->state != PM_BIND_CONNECTED && o->state != PM_BIND_TIME_WAIT) return;
    int gs = o->state == PM_BIND_TIME_WAIT ? G_TIME_WAIT : G_CONNECTED;
    if (!group_join(t, o->port, &o->k, o->by_connect, gs)) return;
    record_unlink(t, *id);
    record_free(t, *id);
    *id = group_id(o->port, gs);
}

/* ---- Owners joining and leaving a port ---- */

static void owner_joined(pm_bind_table *t, int p, uint16_t port, const ksock *k,
                         pm_bind_state state, bool by_connect)
{
    bucket *tb = &t->buckets[p][port];
    bool empty = tb->n == 0;
    if (p == P_TCP) {
        if (by_connect) {
            /* Linux __inet_hash_connect(): a bucket made by connect() */
            if (empty) tb->fast.reuse = tb->fast.reuseport = -1;
        } else {
            bind_update_fast(&tb->fast, k, state == PM_BIND_LISTEN);
        }
    }
    tb->n++;
    if (!by_connect) tb->n_bind++;
    if (empty) t->st.ports++;
    t->st.owners++;
    sync_maps(t, p, port);
}

static void owner_left(pm_bind_table *t, int p, uint16_t port, bool by_connect)
{
    bucket *tb = &t->buckets[p][port];
    tb->n--;
    if (!by_connect) tb->n_bind--;
    t->st.owners--;
    if (tb->n == 0) {
        memset(tb, 0, sizeof *tb);
        t->st.ports--;
    } else if (p == P_TCP && tb->n_bind == 0) {
        /* Linux __inet_put_port() since 6.17: only connect() users left,
         * the bucket is shareable by connect() again */
        tb->fast.reuse = tb->fast.reuseport = -1;
    }
    sync_maps(t, p, port);
}

int pm_bind__insert(pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa,
                    const pm_bind_opts *opts, uint32_t uid, pm_bind_state state, bool by_connect,
                    pm_bind_id *id)
{
    int p = proto_index(proto);
    if (p < 0) return -EINVAL;
    ksock k;
    bind_make_ksock(&k, sa, opts, uid);
    int gs = state == PM_BIND_TIME_WAIT ? G_TIME_WAIT : G_CONNECTED;
    if (p == P_TCP && (state == PM_BIND_CONNECTED || state == PM_BIND_TIME_WAIT) &&
        group_join(t, sa->port, &k, by_connect, gs)) {
        *id = group_id(sa->port, gs);
    } else {
        int32_t i = record_alloc(t);
        if (i < 0) return -ENOBUFS;
        owner *o = &t->owners[i];
        o->k = k;
        o->port = sa->port;
        o->proto = (uint8_t)p;
        o->state = (uint8_t)state;
        o->by_connect = by_connect;
        record_link(t, i);
        *id = i;
    }
    owner_joined(t, p, sa->port, &k, state, by_connect);
    return 0;
}

int pm_bind_check(const pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa,
                  const pm_bind_opts *opts, const pm_cred *cred)
{
    int p = proto_index(proto);
    int err = precheck(t, p, sa, opts, cred, false);
    if (err) return err;
    if (sa->port == 0) return -EINVAL;
    return check_port(t, p, sa, opts, cred->uid);
}

int pm_bind(pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa, const pm_bind_opts *opts,
            const pm_cred *cred, pm_bind_id *id)
{
    int p = proto_index(proto);
    int err = precheck(t, p, sa, opts, cred, id && *id != PM_BIND_NONE);
    if (!err && (!id || sa->port == 0)) err = -EINVAL;
    if (!err) err = check_port(t, p, sa, opts, cred->uid);
    if (!err) err = pm_bind__insert(t, proto, sa, opts, cred->uid, PM_BIND_BOUND, false, id);
    if (err) return count_err(t, err);
    t->st.binds++;
    return 0;
}

int pm_bind_listen(pm_bind_table *t, pm_bind_id id)
{
    owner *o = get_owner(t, id);
    if (!o || o->proto != P_TCP) return -EINVAL;
    if (o->state == PM_BIND_LISTEN) return 0;
    if (o->state != PM_BIND_BOUND) return -EINVAL;
    /* Linux inet_csk_listen_start(): state LISTEN, then get_port() again */
    int err = tcp_get_port(t, o->port, &o->k, true, id);
    if (err) return count_err(t, err);
    o->state = PM_BIND_LISTEN;
    bind_update_fast(&t->buckets[P_TCP][o->port].fast, &o->k, true);
    sync_maps(t, P_TCP, o->port);
    return 0;
}

int pm_bind_set_reuse(pm_bind_table *t, pm_bind_id *id, bool reuseaddr, bool reuseport)
{
    if (!id) return -EINVAL;
    int gs;
    const group *g = get_group(t, *id, &gs);
    if (g) {
        const ksock *k = &t->classes[g->cls1 - 1].k;
        if (k->reuse == reuseaddr && k->reuseport == reuseport) return 0;
        int err = unfold(t, id);
        if (err) return err;
    }
    owner *o = get_owner(t, *id);
    if (!o) return -EINVAL;
    o->k.reuse = reuseaddr;
    o->k.reuseport = reuseport;
    fold(t, id);
    return 0;
}

/* The socket's view with its address changed to ip. */
static void readdr(ksock *k, uint16_t port, const pm_ip *ip)
{
    pm_sockaddr sa = {k->family, port, *ip};
    pm_bind_opts opts = {k->family, k->reuse, k->reuseport, k->v6only};
    bool v6only = k->v6only;
    bind_make_ksock(k, &sa, &opts, k->uid);
    k->v6only = v6only; /* a connect() does not make the socket v6only */
}

int pm_bind__set_addr(pm_bind_table *t, pm_bind_id *id, const pm_ip *ip)
{
    if (!id || !ip) return -EINVAL;
    int gs;
    const group *g = get_group(t, *id, &gs);
    if (g) {
        const oclass *c = &t->classes[g->cls1 - 1];
        ksock k = c->k;
        readdr(&k, group_port(t, g), ip);
        if (class_eq(c, &k, c->by_connect)) return 0;
        int err = unfold(t, id);
        if (err) return err;
    }
    owner *o = get_owner(t, *id);
    if (!o) return -EINVAL;
    readdr(&o->k, o->port, ip);
    fold(t, id);
    return 0;
}

int pm_bind_set_state(pm_bind_table *t, pm_bind_id *id, pm_bind_state state)
{
    if (!id || (state != PM_BIND_CONNECTED && state != PM_BIND_TIME_WAIT)) return -EINVAL;
    int gs;
    group *g = get_group(t, *id, &gs);
    if (g) {
        int ns = state == PM_BIND_TIME_WAIT ? G_TIME_WAIT : G_CONNECTED;
        g->n[gs]--;
        g->n[ns]++;
        *id = group_id(group_port(t, g), ns);
        return 0;
    }
    owner *o = get_owner(t, *id);
    if (!o || o->proto != P_TCP) return -EINVAL;
    o->state = (uint8_t)state;
    fold(t, id);
    return 0;
}

void pm_bind_release(pm_bind_table *t, pm_bind_id id)
{
    int gs;
    group *g = get_group(t, id, &gs);
    if (g) {
        bool by_connect = t->classes[g->cls1 - 1].by_connect;
        group_leave(t, g, gs);
        owner_left(t, P_TCP, group_port(t, g), by_connect);
        return;
    }
    owner *o = get_owner(t, id);
    if (!o) return;
    record_unlink(t, id);
    owner_left(t, o->proto, o->port, o->by_connect);
    record_free(t, id);
}

bool pm_bind__autobind_ok(const pm_bind_table *t, uint8_t proto, const pm_sockaddr *sa,
                          const pm_bind_opts *opts, uint32_t uid)
{
    int p = proto_index(proto);
    if (p < 0) return false;
    ksock k;
    bind_make_ksock(&k, sa, opts, uid);
    const bucket *tb = &t->buckets[p][sa->port];
    if (!tb->n) return true;
    if (p == P_TCP) return !tcp_conflict(t, sa->port, &k, -1, false, false);
    return !udp_inuse(t, tb, &k, true);
}

const pm_portmap *pm_bind__owned(const pm_bind_table *t, uint8_t proto)
{
    int p = proto_index(proto);
    return p < 0 ? NULL : &t->owned[p];
}

const pm_portmap *pm_bind__held(const pm_bind_table *t, uint8_t proto)
{
    int p = proto_index(proto);
    return p < 0 ? NULL : &t->held[p];
}

static void view(pm_bind_owner *out, int p, uint16_t port, const ksock *k, uint8_t state,
                 bool by_connect)
{
    memset(out, 0, sizeof *out);
    out->proto = p == P_TCP ? PM_IPPROTO_TCP : PM_IPPROTO_UDP;
    out->local.family = k->family;
    out->local.port = port;
    out->local.ip = k->v6;
    out->opts.family = k->family;
    out->opts.reuseaddr = k->reuse;
    out->opts.reuseport = k->reuseport;
    out->opts.v6only = k->v6only;
    out->uid = k->uid;
    out->state = (pm_bind_state)state;
    out->by_connect = by_connect;
}

int pm_bind_get(const pm_bind_table *t, pm_bind_id id, pm_bind_owner *out)
{
    int gs;
    const group *g = get_group(t, id, &gs);
    if (g) {
        const oclass *c = &t->classes[g->cls1 - 1];
        view(out, P_TCP, group_port(t, g), &c->k,
             gs == G_TIME_WAIT ? PM_BIND_TIME_WAIT : PM_BIND_CONNECTED, c->by_connect);
        return 0;
    }
    const owner *o = get_owner(t, id);
    if (!o) return -EINVAL;
    view(out, o->proto, o->port, &o->k, o->state, o->by_connect);
    return 0;
}

unsigned pm_bind_owners(const pm_bind_table *t, uint8_t proto, uint16_t port, pm_bind_id *ids,
                        unsigned cap)
{
    int p = proto_index(proto);
    if (p < 0) return 0;
    unsigned n = 0;
    for (int32_t i = t->buckets[p][port].head1 - 1; i >= 0; i = t->owners[i].next, n++)
        if (n < cap) ids[n] = i;
    if (p != P_TCP || !t->groups) return n;
    const group *g = &t->groups[port];
    for (int gs = G_CONNECTED; gs <= G_TIME_WAIT; gs++)
        for (uint32_t k = 0; k < g->n[gs]; k++, n++)
            if (n < cap) ids[n] = group_id(port, gs);
    return n;
}

pm_bind_stats pm_bind_get_stats(const pm_bind_table *t)
{
    pm_bind_stats s = t->st;
    s.owner_bytes = sizeof(owner);
    s.class_bytes = sizeof(oclass);
    s.bytes_in_use = s.records * s.owner_bytes + s.classes * s.class_bytes;
    return s;
}

const char *pm_bind_state_name(pm_bind_state s)
{
    switch (s) {
    case PM_BIND_BOUND: return "bound";
    case PM_BIND_LISTEN: return "listen";
    case PM_BIND_CONNECTED: return "connected";
    case PM_BIND_TIME_WAIT: return "time-wait";
    }
    return "?";
}
