/* Grouped connected owners (bind.h): the bind table folds connected TCP
 * owners of one class into their port's group, and no answer may change.
 * A differential test runs random call sequences on three tables, grouping
 * on, on with a class pool of 2 (most owners fall back to records) and
 * off, and compares every answer and every owner's view; a memory test
 * holds 100k connected owners in O(1) records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rng.h"
#include "host_pair.h"
#include "portmux/addr.h"
#include "portmux/bind.h"
#include "ports/bind_internal.h"

enum { TCP = PM_IPPROTO_TCP, UDP = PM_IPPROTO_UDP };
enum { NT = 3, NSLOT = 40, NPORT = 3, BASE_PORT = 5000, SEEDS = 24, STEPS = 1500 };

typedef struct slot {
    bool live;
    uint8_t proto, family;
    pm_bind_id id[NT];
} slot;

static const uint32_t uids[] = {0, 1000};

static pm_ip addr_at(unsigned i)
{
    static const pm_ip one6 = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    switch (i) {
    case 0: return pm_ip4(0);
    case 1: return pm_ip4(0x7f000001);
    case 2: return pm_ip4(0x7f000002);
    case 3: return pm_ip_any6;
    default: return one6;
    }
}

/* Random socket: half of them the "common connection" (127.0.0.1, no
 * options, uid 1000), so that groups form. */
static void rand_sock(pm_rng *r, uint8_t family, pm_sockaddr *sa, pm_bind_opts *o, uint32_t *uid)
{
    memset(o, 0, sizeof *o);
    o->family = family;
    sa->family = family;
    sa->port = (uint16_t)(BASE_PORT + pm_rng_below(r, NPORT));
    if (pm_rng_below(r, 2)) {
        sa->ip = addr_at(family == PM_AF_INET ? 1 : 4);
        *uid = 1000;
        return;
    }
    sa->ip = addr_at(family == PM_AF_INET ? pm_rng_below(r, 3) : pm_rng_below(r, 5));
    o->reuseaddr = pm_rng_below(r, 2);
    o->reuseport = pm_rng_below(r, 2);
    o->v6only = family == PM_AF_INET6 && !pm_ip_is_v4(&sa->ip) && pm_rng_below(r, 3) == 0;
    *uid = uids[pm_rng_below(r, 2)];
}

static bool owner_eq(const pm_bind_owner *a, const pm_bind_owner *b)
{
    return a->proto == b->proto && a->local.family == b->local.family &&
           a->local.port == b->local.port && pm_ip_eq(&a->local.ip, &b->local.ip) &&
           a->opts.family == b->opts.family && a->opts.reuseaddr == b->opts.reuseaddr &&
           a->opts.reuseport == b->opts.reuseport && a->opts.v6only == b->opts.v6only &&
           a->uid == b->uid && a->state == b->state && a->by_connect == b->by_connect;
}

/* A total order on views, to compare owner lists as multisets. */
static int owner_cmp(const void *x, const void *y)
{
    const pm_bind_owner *a = x, *b = y;
    int c = memcmp(a->local.ip.b, b->local.ip.b, 16);
    if (c) return c;
    uint64_t ka = (uint64_t)a->uid << 24 | (uint64_t)a->local.family << 16 |
                  (uint64_t)a->opts.reuseaddr << 12 | (uint64_t)a->opts.reuseport << 8 |
                  (uint64_t)a->opts.v6only << 6 | (uint64_t)a->state << 2 | a->by_connect;
    uint64_t kb = (uint64_t)b->uid << 24 | (uint64_t)b->local.family << 16 |
                  (uint64_t)b->opts.reuseaddr << 12 | (uint64_t)b->opts.reuseport << 8 |
                  (uint64_t)b->opts.v6only << 6 | (uint64_t)b->state << 2 | b->by_connect;
    return ka < kb ? -1 : ka > kb;
}

static void check_owner_lists(pm_bind_table *t[NT])
{
    pm_bind_id ids[NSLOT + 1];
    pm_bind_owner v[NT][NSLOT];
    for (int pi = 0; pi < 2; pi++) {
        uint8_t proto = pi ? UDP : TCP;
        for (unsigned port = BASE_PORT; port < BASE_PORT + NPORT; port++) {
            unsigned n[NT];
            for (int k = 0; k < NT; k++) {
                n[k] = pm_bind_owners(t[k], proto, (uint16_t)port, ids, NSLOT + 1);
                assert_true(n[k] <= NSLOT);
                for (unsigned j = 0; j < n[k]; j++)
                    assert_int_equal(pm_bind_get(t[k], ids[j], &v[k][j]), 0);
                qsort(v[k], n[k], sizeof v[k][0], owner_cmp);
            }
            for (int k = 1; k < NT; k++) {
                assert_int_equal(n[k], n[0]);
                for (unsigned j = 0; j < n[0]; j++) assert_true(owner_eq(&v[k][j], &v[0][j]));
            }
            for (int k = 1; k < NT; k++) {
                assert_int_equal(pm_portmap_test(pm_bind__owned(t[k], proto), port),
                                 pm_portmap_test(pm_bind__owned(t[0], proto), port));
                assert_int_equal(pm_portmap_test(pm_bind__held(t[k], proto), port),
                                 pm_portmap_test(pm_bind__held(t[0], proto), port));
            }
        }
    }
}

static void check_stats(pm_bind_table *t[NT])
{
    pm_bind_stats s0 = pm_bind_get_stats(t[0]);
    for (int k = 1; k < NT; k++) {
        pm_bind_stats s = pm_bind_get_stats(t[k]);
        assert_int_equal(s.owners, s0.owners);
        assert_int_equal(s.ports, s0.ports);
        assert_int_equal(s.binds, s0.binds);
        assert_int_equal(s.eaddrinuse, s0.eaddrinuse);
        assert_int_equal(s.eacces, s0.eacces);
        assert_int_equal(s.einval, s0.einval);
        assert_int_equal(s.pool_full, 0);
    }
    for (int k = 0; k < NT; k++) {
        pm_bind_stats s = pm_bind_get_stats(t[k]);
        assert_true(s.records <= s.owners);
        assert_int_equal(s.bytes_in_use, s.records * s.owner_bytes + s.classes * s.class_bytes);
    }
}

/* One call on all tables; every table must answer alike. */
#define ALL(expr)                                                                                  \
    do {                                                                                           \
        int r0_ = 0;                                                                               \
        for (int k = 0; k < NT; k++) {                                                             \
            int r_ = (expr);                                                                       \
            if (k == 0) r0_ = r_;                                                                  \
            assert_int_equal(r_, r0_);                                                             \
        }                                                                                          \
    } while (0)

static void run_seed(uint64_t seed, uint64_t *folded, uint64_t *class_full)
{
    pm_bind_config cfg[NT];
    pm_bind_table *t[NT];
    for (int k = 0; k < NT; k++) {
        pm_bind_config_default(&cfg[k]);
        cfg[k].max_owners = 256;
    }
    cfg[1].max_classes = 2;
    cfg[2].max_classes = 0;
    for (int k = 0; k < NT; k++) assert_non_null(t[k] = pm_bind_create(&cfg[k]));
    pm_rng r;
    pm_rng_seed(&r, seed);
    slot s[NSLOT];
    memset(s, 0, sizeof s);
    for (unsigned step = 0; step < STEPS; step++) {
        slot *m = &s[pm_rng_below(&r, NSLOT)];
        unsigned op = pm_rng_below(&r, 100);
        pm_sockaddr sa;
        pm_bind_opts o;
        uint32_t uid;
        pm_cred cred = {0, pm_rng_below(&r, 4) != 0};
        if (!m->live) {
            m->proto = pm_rng_below(&r, 4) ? TCP : UDP;
            m->family = pm_rng_below(&r, 3) ? PM_AF_INET : PM_AF_INET6;
            rand_sock(&r, m->family, &sa, &o, &uid);
            cred.uid = uid;
            int res[NT];
            if (op < 30) { /* bind() */
                for (int k = 0; k < NT; k++) {
                    m->id[k] = PM_BIND_NONE;
                    res[k] = pm_bind(t[k], m->proto, &sa, &o, &cred, &m->id[k]);
                }
            } else if (op < 90) { /* connect() from port 0, or an accepted child */
                if (m->proto != TCP) continue;
                bool by_connect = pm_rng_below(&r, 2);
                pm_bind_state st = pm_rng_below(&r, 8) ? PM_BIND_CONNECTED : PM_BIND_TIME_WAIT;
                for (int k = 0; k < NT; k++)
                    res[k] =
                        pm_bind__insert(t[k], m->proto, &sa, &o, uid, st, by_connect, &m->id[k]);
            } else { /* would bind() succeed? would bind(0) take this port? */
                ALL(pm_bind_check(t[k], m->proto, &sa, &o, &cred));
                ALL(pm_bind__autobind_ok(t[k], m->proto, &sa, &o, uid));
                continue;
            }
            for (int k = 1; k < NT; k++) assert_int_equal(res[k], res[0]);
            m->live = res[0] == 0;
        } else if (op < 15) {
            ALL(pm_bind_listen(t[k], m->id[k]));
        } else if (op < 45) { /* connect() completing, or TIME_WAIT */
            pm_bind_state st = pm_rng_below(&r, 2) ? PM_BIND_CONNECTED : PM_BIND_TIME_WAIT;
            ALL(pm_bind_set_state(t[k], &m->id[k], st));
        } else if (op < 60) {
            bool ra = pm_rng_below(&r, 2), rp = pm_rng_below(&r, 2);
            ALL(pm_bind_set_reuse(t[k], &m->id[k], ra, rp));
        } else if (op < 70) {
            pm_ip ip = addr_at(m->family == PM_AF_INET ? pm_rng_below(&r, 3) : pm_rng_below(&r, 5));
            ALL(pm_bind__set_addr(t[k], &m->id[k], &ip));
        } else if (op < 85) {
            for (int k = 0; k < NT; k++) pm_bind_release(t[k], m->id[k]);
            m->live = false;
        } else { /* a second socket tries the port */
            rand_sock(&r, pm_rng_below(&r, 2) ? PM_AF_INET : PM_AF_INET6, &sa, &o, &uid);
            cred.uid = uid;
            ALL(pm_bind_check(t[k], m->proto, &sa, &o, &cred));
            ALL(pm_bind__autobind_ok(t[k], m->proto, &sa, &o, uid));
        }
        /* every owner's view is the same in all tables */
        for (int i = 0; i < NSLOT; i++) {
            if (!s[i].live) continue;
            pm_bind_owner v[NT];
            for (int k = 0; k < NT; k++) assert_int_equal(pm_bind_get(t[k], s[i].id[k], &v[k]), 0);
            for (int k = 1; k < NT; k++) assert_true(owner_eq(&v[k], &v[0]));
        }
        check_stats(t);
        check_owner_lists(t);
        pm_bind_stats s0 = pm_bind_get_stats(t[0]);
        *folded += s0.owners - s0.records;
        *class_full += pm_bind_get_stats(t[1]).class_full;
    }
    for (int i = 0; i < NSLOT; i++)
        if (s[i].live)
            for (int k = 0; k < NT; k++) pm_bind_release(t[k], s[i].id[k]);
    for (int k = 0; k < NT; k++) {
        pm_bind_stats st = pm_bind_get_stats(t[k]);
        assert_int_equal(st.owners, 0);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.classes, 0);
        assert_int_equal(st.ports, 0);
        assert_int_equal(st.bytes_in_use, 0);
        pm_bind_destroy(t[k]);
    }
}

static void test_differential(void **state)
{
    (void)state;
    uint64_t folded = 0, class_full = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++)
        run_seed(seed * 0x9e3779b97f4a7c15ull, &folded, &class_full);
    printf("%u seeds x %u steps: owners grouped %llu owner-steps, class pool full %llu\n", SEEDS,
           STEPS, (unsigned long long)folded, (unsigned long long)class_full);
    /* the test means something only if owners were grouped, and fell back */
    assert_true(folded > 0);
    assert_true(class_full > 0);
}

/* 100k connected owners from one address in O(1) records: 60000 ports
 * with one connect()ed owner each, and 40000 accepted children on one
 * listener's port, then all of them through TIME_WAIT. */
static void test_memory(void **state)
{
    (void)state;
    enum { NPORTS = 60000, NCHILD = 40000 };
    pm_bind_table *t = pm_bind_create(NULL); /* max_owners 65536 < 100k */
    assert_non_null(t);
    static pm_bind_id ids[NPORTS + NCHILD];
    pm_bind_opts o = {PM_AF_INET, false, false, false};
    pm_cred root = {0, true};
    pm_sockaddr l = {PM_AF_INET, 80, pm_ip4(0x7f000001)};
    pm_bind_id lid = PM_BIND_NONE;
    assert_int_equal(pm_bind(t, TCP, &l, &o, &root, &lid), 0);
    assert_int_equal(pm_bind_listen(t, lid), 0);
    for (unsigned i = 0; i < NPORTS; i++) {
        pm_sockaddr sa = {PM_AF_INET, (uint16_t)(1024 + i), pm_ip4(0x7f000001)};
        assert_int_equal(pm_bind__insert(t, TCP, &sa, &o, 1000, PM_BIND_CONNECTED, true, &ids[i]),
                         0);
    }
    for (unsigned i = 0; i < NCHILD; i++)
        assert_int_equal(
            pm_bind__insert(t, TCP, &l, &o, 0, PM_BIND_CONNECTED, false, &ids[NPORTS + i]), 0);
    pm_bind_stats st = pm_bind_get_stats(t);
    printf("100k connected owners: %llu records, %llu classes, %llu bytes in use\n",
           (unsigned long long)st.records, (unsigned long long)st.classes,
           (unsigned long long)st.bytes_in_use);
    assert_int_equal(st.owners, 1 + NPORTS + NCHILD);
    assert_int_equal(st.records, 1); /* the listener */
    assert_int_equal(st.classes, 2);
    assert_true(st.bytes_in_use <= st.owner_bytes + 2 * st.class_bytes);
    /* the children still make the listener's port busy, as in Linux */
    pm_bind_id x = PM_BIND_NONE;
    pm_sockaddr any = {PM_AF_INET, 80, pm_ip4(0)};
    assert_int_equal(pm_bind(t, TCP, &any, &o, &root, &x), -EADDRINUSE);
    pm_bind_release(t, lid);
    assert_int_equal(pm_bind(t, TCP, &any, &o, &root, &x), -EADDRINUSE);
    /* a child that sets SO_REUSEADDR takes a record; its siblings without
     * it still refuse an SO_REUSEADDR bind (Linux inet_bind_conflict()) */
    pm_bind_opts ra = {PM_AF_INET, true, false, false};
    assert_int_equal(pm_bind_set_reuse(t, &ids[NPORTS], true, false), 0);
    assert_true(ids[NPORTS] >= 0 && ids[NPORTS] < PM_BIND_GROUP);
    assert_int_equal(pm_bind_get_stats(t).records, 1);
    assert_int_equal(pm_bind_check(t, TCP, &any, &ra, &root), -EADDRINUSE);
    for (unsigned i = 0; i < NPORTS + NCHILD; i++)
        assert_int_equal(pm_bind_set_state(t, &ids[i], PM_BIND_TIME_WAIT), 0);
    st = pm_bind_get_stats(t);
    assert_int_equal(st.records, 1);
    pm_bind_owner ow;
    assert_int_equal(pm_bind_get(t, ids[5], &ow), 0);
    assert_int_equal(ow.state, PM_BIND_TIME_WAIT);
    assert_int_equal(ow.local.port, 1029);
    assert_true(ow.by_connect);
    assert_int_equal(ow.uid, 1000);
    assert_int_equal(pm_bind_owners(t, TCP, 80, NULL, 0), NCHILD);
    for (unsigned i = 0; i < NPORTS + NCHILD; i++) pm_bind_release(t, ids[i]);
    st = pm_bind_get_stats(t);
    assert_int_equal(st.owners, 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.classes, 0);
    assert_int_equal(st.ports, 0);
    pm_bind_destroy(t);
}

/* Group handles: a stale one is refused, and one group handle stands for
 * each owner of its group. */
static void test_group_handles(void **state)
{
    (void)state;
    pm_bind_table *t = pm_bind_create(NULL);
    pm_bind_opts o = {PM_AF_INET, false, false, false};
    pm_sockaddr sa = {PM_AF_INET, 7000, pm_ip4(0x7f000001)};
    pm_bind_id a, b;
    assert_int_equal(pm_bind__insert(t, TCP, &sa, &o, 5, PM_BIND_CONNECTED, true, &a), 0);
    assert_int_equal(pm_bind__insert(t, TCP, &sa, &o, 5, PM_BIND_CONNECTED, true, &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(a, PM_BIND_GROUP | 7000);
    pm_bind_id tw = a;
    assert_int_equal(pm_bind_set_state(t, &tw, PM_BIND_TIME_WAIT), 0);
    assert_int_equal(tw, PM_BIND_GROUP | PM_BIND_GROUP_TW | 7000);
    pm_bind_id ids[4];
    assert_int_equal(pm_bind_owners(t, TCP, 7000, ids, 4), 2);
    assert_int_equal(ids[0], a);
    assert_int_equal(ids[1], tw);
    pm_bind_release(t, tw);
    pm_bind_owner ow;
    assert_int_equal(pm_bind_get(t, tw, &ow), -EINVAL); /* no TIME_WAIT owner left */
    assert_int_equal(pm_bind_set_state(t, &tw, PM_BIND_CONNECTED), -EINVAL);
    assert_int_equal(pm_bind_listen(t, a), -EINVAL); /* not bound: as for a record */
    assert_int_equal(pm_bind_get(t, a | 0x20000, &ow), -EINVAL);
    pm_bind_release(t, a);
    assert_int_equal(pm_bind_get(t, a, &ow), -EINVAL);
    pm_bind_release(t, a); /* stale: nothing happens */
    assert_int_equal(pm_bind_get_stats(t).owners, 0);
    /* a bound socket that connects joins the group of its port */
    pm_cred c = {5, false};
    pm_bind_id s = PM_BIND_NONE;
    sa.ip = pm_ip4(0);
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &c, &s), 0);
    pm_ip lo = pm_ip4(0x7f000001);
    assert_int_equal(pm_bind__set_addr(t, &s, &lo), 0);
    assert_int_equal(pm_bind_set_state(t, &s, PM_BIND_CONNECTED), 0);
    assert_int_equal(s, PM_BIND_GROUP | 7000);
    assert_int_equal(pm_bind_get_stats(t).records, 0);
    assert_int_equal(pm_bind_get(t, s, &ow), 0);
    assert_false(ow.by_connect);
    assert_true(pm_ip_eq(&ow.local.ip, &lo));
    pm_bind_release(t, s);
    assert_int_equal(pm_bind_get_stats(t).classes, 0);
    pm_bind_destroy(t);
}

/* Through the host: grouped owners whose handle changes (SO_REUSEADDR on
 * a connection, TIME_WAIT) keep every copy of it in step (the socket's,
 * the TIME_WAIT entry's, the allocator's), so nothing leaks once the
 * connections and their TIME_WAIT entries are gone. */
typedef struct acc {
    hp_pair *p;
    int l[2], fds[3];
    unsigned got;
} acc;

static bool all_accepted(void *arg)
{
    acc *a = arg;
    pm_cred root = {0, true};
    for (int k = 0; k < 2; k++) {
        int fd;
        while (a->got < 3 && (fd = pm_sock_accept(a->p->h[1], a->l[k], NULL, &root)) >= 0)
            a->fds[a->got++] = fd;
    }
    return a->got == 3;
}

static int setopt(pm_host *h, int fd, int name, int v)
{
    return pm_sock_setsockopt(h, fd, PM_SOL_SOCKET, name, &v, sizeof v);
}

static void test_host_handles(void **state)
{
    (void)state;
    static hp_pair pair;
    hp_pair *p = &pair;
    pm_cred root = {0, true};
    assert_int_equal(hp_init(p, PM_PERS_LINUX, 64, 256), 0);
    acc a = {p, {-1, -1}, {-1, -1, -1}, 0};
    pm_sockaddr la[2] = {hp_sa4(p, 1, 80), hp_sa4(p, 1, 81)};
    for (int k = 0; k < 2; k++) {
        a.l[k] = pm_sock_socket(p->h[1], PM_AF_INET, PM_SOCK_STREAM, &root);
        assert_int_equal(pm_sock_bind(p->h[1], a.l[k], &la[k], &root), 0);
        assert_int_equal(pm_sock_listen(p->h[1], a.l[k], 8, &root), 0);
    }
    /* c0 and c1 share port 40000 (SO_REUSEADDR) towards two listeners: one
     * group of two; c2 takes an ephemeral port towards the first */
    int c[3];
    pm_sockaddr src = hp_sa4(p, 0, 40000);
    for (int i = 0; i < 3; i++) {
        c[i] = pm_sock_socket(p->h[0], PM_AF_INET, PM_SOCK_STREAM, &root);
        if (i < 2) {
            assert_int_equal(setopt(p->h[0], c[i], PM_SO_REUSEADDR, 1), 0);
            assert_int_equal(pm_sock_bind(p->h[0], c[i], &src, &root), 0);
        }
        assert_int_equal(pm_sock_connect(p->h[0], c[i], &la[i == 1], &root, p->now), -EINPROGRESS);
    }
    assert_true(hp_run(p, all_accepted, &a, 5 * HP_SEC));
    /* c0 and a child of the first listener leave their groups for records:
     * their sockets' handles change */
    assert_int_equal(setopt(p->h[0], c[0], PM_SO_REUSEADDR, 0), 0);
    int child = -1;
    for (int i = 0; i < 3; i++) {
        pm_sockaddr n;
        assert_int_equal(pm_sock_getsockname(p->h[1], a.fds[i], &n), 0);
        if (n.port == 80) child = a.fds[i];
    }
    assert_int_equal(setopt(p->h[1], child, PM_SO_REUSEADDR, 1), 0);
    pm_host_stats st;
    pm_host_get_stats(p->h[0], &st);
    assert_int_equal(st.bind_owners, 3);
    pm_host_get_stats(p->h[1], &st);
    assert_int_equal(st.bind_owners, 5);
    /* clients 0 and 1 close first (their side enters TIME_WAIT), the
     * server's side closes first for c2's connection */
    pm_sock_close(p->h[0], c[0], p->now);
    pm_sock_close(p->h[0], c[1], p->now);
    hp_run(p, NULL, NULL, 1 * HP_SEC);
    for (int i = 0; i < 3; i++) pm_sock_close(p->h[1], a.fds[i], p->now);
    hp_run(p, NULL, NULL, 1 * HP_SEC);
    pm_sock_close(p->h[0], c[2], p->now);
    for (int k = 0; k < 2; k++) pm_sock_close(p->h[1], a.l[k], p->now);
    hp_run(p, NULL, NULL, 1 * HP_SEC);
    pm_host_get_stats(p->h[0], &st);
    assert_int_equal(st.time_wait, 2);
    pm_host_get_stats(p->h[1], &st);
    assert_int_equal(st.time_wait, 1);
    hp_run(p, NULL, NULL, 200 * HP_SEC);
    for (int i = 0; i < 2; i++) {
        pm_host_get_stats(p->h[i], &st);
        assert_int_equal(st.time_wait, 0);
        assert_int_equal(st.bind_owners, 0);
        assert_int_equal(st.eph_conns, 0);
    }
    hp_fini(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_group_handles),
        cmocka_unit_test(test_host_handles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
