/* The ephemeral allocator: 5-tuple uniqueness, exact exhaustion,
 * per-socket ranges, IP_BIND_ADDRESS_NO_PORT, bind(0) apart from connect(),
 * tw_reuse, each RFC 6056 algorithm, and statistical tests of the ports
 * (uniform spread: chi-square; unpredictable from the previous ones:
 * successive differences and serial correlation). Seeded; the seed is
 * printed; PM_EPH_TEST_SEED overrides it. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rng.h"
#include "portmux/addr.h"
#include "portmux/bind.h"
#include "portmux/ephemeral.h"

static uint64_t seed = 20261125;

typedef struct fixture {
    pm_bind_table *bt;
    pm_eph *e;
    pm_bind_id last; /* the bind owner of the last conn() */
} fixture;

static fixture mk(pm_eph_alg alg, uint16_t lo, uint16_t hi, void (*tweak)(pm_eph_config *))
{
    fixture f;
    f.bt = pm_bind_create(NULL);
    pm_eph_config c;
    pm_eph_config_default(&c);
    c.alg = alg;
    c.range.lo = lo;
    c.range.hi = hi;
    c.seed = seed;
    if (tweak) tweak(&c);
    f.e = pm_eph_create(&c, f.bt);
    assert_non_null(f.bt);
    assert_non_null(f.e);
    return f;
}

static void rm(fixture *f)
{
    pm_eph_destroy(f->e);
    pm_bind_destroy(f->bt);
}

static pm_eph_connect_req req_to(uint32_t laddr, uint32_t faddr, uint16_t fport)
{
    pm_eph_connect_req r;
    memset(&r, 0, sizeof r);
    r.proto = PM_IPPROTO_TCP;
    r.local.family = PM_AF_INET;
    r.local.ip = pm_ip4(laddr);
    r.remote.family = PM_AF_INET;
    r.remote.ip = pm_ip4(faddr);
    r.remote.port = fport;
    r.opts.family = PM_AF_INET;
    r.cred.uid = 1000;
    return r;
}

static int conn(fixture *f, const pm_eph_connect_req *r, pm_eph_connect_res *res)
{
    f->last = PM_BIND_NONE;
    return pm_eph_connect(f->e, r, &f->last, res);
}

/* The connection ends: its registration and its owner go. */
static void drop(fixture *f, pm_eph_id c, pm_bind_id owner)
{
    pm_eph_release(f->e, c);
    pm_bind_release(f->bt, owner);
}

/* The connection enters TIME_WAIT, as a host does it. */
static int time_wait(fixture *f, pm_eph_id c, pm_bind_id *owner, bool has_ts, uint64_t stamp)
{
    pm_bind_set_state(f->bt, owner, PM_BIND_TIME_WAIT); /* the handle may change */
    return pm_eph_time_wait(f->e, c, *owner, has_ts, stamp);
}

#define LO1 0x7f000001u
#define SRV 0x7f000064u /* 127.0.0.100 */

static void test_unique_per_destination(void **state)
{
    (void)state;
    fixture f = mk(PM_EPH_ALG4, 40000, 40999, NULL);
    static uint8_t seen[65536];
    memset(seen, 0, sizeof seen);
    pm_eph_connect_req r = req_to(LO1, SRV, 80);
    pm_eph_connect_res res;
    for (int i = 0; i < 600; i++) {
        assert_int_equal(conn(&f, &r, &res), 0);
        assert_true(res.port >= 40000 && res.port <= 40999);
        assert_int_equal(seen[res.port], 0); /* unique for this destination */
        seen[res.port] = 1;
        pm_tuple t;
        assert_int_equal(pm_eph_tuple(f.e, res.conn, &t), 0);
        assert_int_equal(t.lport, res.port);
        assert_int_equal(t.fport, 80);
        assert_int_equal(pm_eph_find(f.e, &t), res.conn); /* the tuple gives the handle back */
    }
    /* another destination may use the same ports: all 1000 are open to it */
    pm_eph_connect_req r2 = req_to(LO1, SRV, 443);
    for (int i = 0; i < 1000; i++) assert_int_equal(conn(&f, &r2, &res), 0);
    assert_int_equal(conn(&f, &r2, &res), -EADDRNOTAVAIL);
    assert_int_equal(pm_eph_get_stats(f.e).conns, 1600);
    rm(&f);
}

/* A connection is a bit in its destination's port map, not a record: a
 * full range toward one server costs the destination and its blocks. */
static void test_conn_costs_no_record(void **state)
{
    (void)state;
    fixture f = mk(PM_EPH_ALG4, 32768, 60999, NULL);
    pm_eph_connect_req r = req_to(LO1, SRV, 80);
    pm_eph_connect_res res;
    uint32_t n = 60999 - 32768 + 1;
    for (uint32_t i = 0; i < n; i++) assert_int_equal(conn(&f, &r, &res), 0);
    assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL);
    pm_eph_stats st = pm_eph_get_stats(f.e);
    assert_int_equal(st.conns, n);
    assert_int_equal(st.dests, 1);
    assert_true(st.bytes_in_use * 4 < st.conns); /* under 2 bits each */
    rm(&f);
}

/* -EADDRNOTAVAIL exactly when no port can make the tuple unique. */
static void test_exhaustion_exact(void **state)
{
    (void)state;
    for (int alg = 1; alg <= 5; alg++) {
        if (alg == 2) continue;
        fixture f = mk((pm_eph_alg)alg, 50000, 50127, NULL);
        /* bind() holds 3 ports of the range: connect() may not share them */
        pm_bind_opts o = {PM_AF_INET, false, false, false};
        pm_cred c = {0, true};
        pm_bind_id b[3];
        for (int i = 0; i < 3; i++) {
            pm_sockaddr sa = {PM_AF_INET, (uint16_t)(50010 + 7 * i), pm_ip4(0x7f000009)};
            b[i] = PM_BIND_NONE;
            assert_int_equal(pm_bind(f.bt, PM_IPPROTO_TCP, &sa, &o, &c, &b[i]), 0);
        }
        pm_eph_connect_req r = req_to(LO1, SRV, 80);
        pm_eph_connect_res res;
        pm_eph_id ids[128];
        pm_bind_id owners[128];
        for (int i = 0; i < 125; i++) {
            assert_int_equal(conn(&f, &r, &res), 0);
            ids[i] = res.conn;
            owners[i] = f.last;
        }
        assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL);
        /* one freed port: found, wherever it is */
        pm_tuple t;
        assert_int_equal(pm_eph_tuple(f.e, ids[77], &t), 0);
        drop(&f, ids[77], owners[77]);
        assert_int_equal(pm_eph_tuple(f.e, ids[77], &t), -EINVAL);
        assert_int_equal(conn(&f, &r, &res), 0);
        assert_int_equal(res.port, t.lport);
        assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL);
        /* a bind() leaving frees its port for connect() */
        pm_bind_release(f.bt, b[1]);
        assert_int_equal(conn(&f, &r, &res), 0);
        assert_int_equal(res.port, 50017);
        assert_int_equal(pm_eph_get_stats(f.e).eaddrnotavail, 2);
        rm(&f);
    }
}

static void test_socket_range(void **state)
{
    (void)state;
    fixture f = mk(PM_EPH_ALG1, 40000, 40999, NULL);
    pm_eph_connect_req r = req_to(LO1, SRV, 80);
    pm_port_range sr = {40100, 40103};
    r.sock_range = &sr;
    pm_eph_connect_res res;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(conn(&f, &r, &res), 0);
        assert_true(res.port >= 40100 && res.port <= 40103);
    }
    assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL);
    /* Linux: a bound outside the host range is ignored (lo here) */
    pm_port_range sr2 = {1000, 40001};
    r.sock_range = &sr2;
    assert_int_equal(conn(&f, &r, &res), 0);
    assert_true(res.port <= 40001);
    assert_int_equal(conn(&f, &r, &res), 0);
    assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL);
    /* bind(0) honours it too */
    pm_sockaddr sa = {PM_AF_INET, 0, pm_ip4(0)};
    pm_bind_opts o = {PM_AF_INET, false, false, false};
    pm_cred c = {1000, false};
    pm_bind_id id = PM_BIND_NONE;
    pm_port_range sr3 = {40500, 40500};
    assert_int_equal(pm_eph_bind(f.e, PM_IPPROTO_TCP, &sa, &o, &c, &sr3, &id), 0);
    assert_int_equal(sa.port, 40500);
    pm_bind_id id2 = PM_BIND_NONE;
    sa.port = 0;
    assert_int_equal(pm_eph_bind(f.e, PM_IPPROTO_TCP, &sa, &o, &c, &sr3, &id2), -EADDRINUSE);
    rm(&f);
}

/* IP_BIND_ADDRESS_NO_PORT: bind() records the address, the port is chosen
 * at connect(), per destination; bind(0) would take it for everyone. */
static void test_bind_address_no_port(void **state)
{
    (void)state;
    fixture f = mk(PM_EPH_ALG4, 45000, 45000, NULL); /* one port */
    pm_eph_connect_res res;
    for (uint16_t fp = 1; fp <= 20; fp++) {
        pm_eph_connect_req r = req_to(0x7f000005, SRV, fp);
        assert_int_equal(conn(&f, &r, &res), 0);
        assert_int_equal(res.port, 45000);
    }
    /* the same with bind(0) first: the port is taken for every destination */
    fixture g = mk(PM_EPH_ALG4, 45000, 45000, NULL);
    pm_bind_opts o = {PM_AF_INET, false, false, false};
    pm_cred c = {1000, false};
    pm_sockaddr sa = {PM_AF_INET, 0, pm_ip4(0x7f000005)};
    pm_bind_id a = PM_BIND_NONE, b = PM_BIND_NONE;
    assert_int_equal(pm_eph_bind(g.e, PM_IPPROTO_TCP, &sa, &o, &c, NULL, &a), 0);
    pm_eph_connect_req r = req_to(0x7f000005, SRV, 1);
    r.local.port = sa.port;
    assert_int_equal(pm_eph_connect(g.e, &r, &a, &res), 0); /* a bound socket connects */
    assert_int_equal(res.port, 45000);
    pm_bind_owner ow;
    assert_int_equal(pm_bind_get(g.bt, a, &ow), 0);
    assert_int_equal(ow.state, PM_BIND_CONNECTED);
    sa.port = 0;
    assert_int_equal(pm_eph_bind(g.e, PM_IPPROTO_TCP, &sa, &o, &c, NULL, &b), -EADDRINUSE);
    rm(&f);
    rm(&g);
}

/* bind(0) never takes a port a connect() uses, and connect() never one a
 * bind() holds; when every port has an owner, bind(0) still finds one
 * free for its address, exactly. */
static void test_bind0_apart_from_connect(void **state)
{
    (void)state;
    fixture f = mk(PM_EPH_ALG1, 46000, 46063, NULL);
    pm_eph_connect_req r = req_to(LO1, SRV, 80);
    pm_eph_connect_res res;
    static uint8_t by_connect[65536];
    memset(by_connect, 0, sizeof by_connect);
    int odd = 0;
    for (int i = 0; i < 32; i++) {
        assert_int_equal(conn(&f, &r, &res), 0);
        by_connect[res.port] = 1;
        odd += res.port & 1;
    }
    assert_int_equal(odd, 0); /* connect() took the even ports first */
    pm_bind_opts o = {PM_AF_INET, false, false, false};
    pm_cred c = {1000, false};
    for (int i = 0; i < 32; i++) {
        pm_sockaddr sa = {PM_AF_INET, 0, pm_ip4(0)};
        pm_bind_id id = PM_BIND_NONE;
        assert_int_equal(pm_eph_bind(f.e, PM_IPPROTO_TCP, &sa, &o, &c, NULL, &id), 0);
        assert_int_equal(by_connect[sa.port], 0);
    }
    /* all 64 ports have owners now */
    pm_sockaddr sa = {PM_AF_INET, 0, pm_ip4(0)};
    pm_bind_id id = PM_BIND_NONE;
    assert_int_equal(pm_eph_bind(f.e, PM_IPPROTO_TCP, &sa, &o, &c, NULL, &id), -EADDRINUSE);
    /* 127.0.0.2 does not overlap the connect() users' 127.0.0.1: their
     * ports are free for it (the exact fallback finds one) */
    sa.ip = pm_ip4(0x7f000002);
    assert_int_equal(pm_eph_bind(f.e, PM_IPPROTO_TCP, &sa, &o, &c, NULL, &id), 0);
    assert_int_equal(by_connect[sa.port], 1);
    pm_bind_release(f.bt, id);
    /* a connect() to another destination finds nothing either: bind() holds half */
    pm_eph_connect_req r2 = req_to(LO1, SRV, 81);
    for (int i = 0; i < 32; i++) assert_int_equal(conn(&f, &r2, &res), 0);
    assert_int_equal(conn(&f, &r2, &res), -EADDRNOTAVAIL);
    rm(&f);
    /* exact fallback: ports owned only by 127.0.0.1 sockets, bind(0) on 127.0.0.2 */
    fixture g = mk(PM_EPH_ALG1, 47000, 47003, NULL);
    for (int i = 0; i < 4; i++) {
        pm_sockaddr s1 = {PM_AF_INET, 0, pm_ip4(LO1)};
        pm_bind_id i1 = PM_BIND_NONE;
        assert_int_equal(pm_eph_bind(g.e, PM_IPPROTO_TCP, &s1, &o, &c, NULL, &i1), 0);
    }
    pm_sockaddr s2 = {PM_AF_INET, 0, pm_ip4(0x7f000002)};
    pm_bind_id i2 = PM_BIND_NONE;
    assert_int_equal(pm_eph_bind(g.e, PM_IPPROTO_TCP, &s2, &o, &c, NULL, &i2), 0);
    assert_true(s2.port >= 47000 && s2.port <= 47003);
    s2.ip = pm_ip4(0);
    s2.port = 0;
    i2 = PM_BIND_NONE;
    assert_int_equal(pm_eph_bind(g.e, PM_IPPROTO_TCP, &s2, &o, &c, NULL, &i2), -EADDRINUSE);
    rm(&g);
}

static void cfg_tw1(pm_eph_config *c)
{
    c->tw_reuse = 1;
}

static int cb_calls;
static bool tw_always(void *ctx, const pm_tuple *t, bool has_ts, uint64_t stamp, uint64_t now)
{
    (void)ctx, (void)t, (void)has_ts, (void)stamp, (void)now;
    cb_calls++;
    return true;
}
static void cfg_cb(pm_eph_config *c)
{
    c->tw_ok = tw_always;
}

/* Linux tcp_twsk_unique(): timestamps, tw_reuse, > 1 s since the last. */
static void test_tw_reuse(void **state)
{
    (void)state;
    const uint64_t s = 1000000;
    fixture f = mk(PM_EPH_ALG4, 48000, 48000, NULL); /* default tw_reuse = 2 */
    pm_eph_connect_req r = req_to(LO1, SRV, 80);
    pm_eph_connect_res res;
    assert_int_equal(conn(&f, &r, &res), 0);
    pm_eph_id first = res.conn;
    assert_int_equal(time_wait(&f, first, &f.last, true, 10 * s), 0);
    uint64_t owners = pm_bind_get_stats(f.bt).owners;
    r.now_us = 10 * s + s / 2;
    assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL); /* too soon */
    r.now_us = 11 * s;                                    /* exactly 1 s: not yet ("after") */
    assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL);
    r.now_us = 11 * s + 1;
    assert_int_equal(conn(&f, &r, &res), 0);
    assert_int_equal(res.port, 48000);
    assert_int_equal(res.reused_tw, first);
    assert_int_equal(pm_eph_get_stats(f.e).tw_reused, 1);
    assert_int_equal(pm_eph_get_stats(f.e).conns, 1);
    assert_int_equal(pm_eph_get_stats(f.e).tw_records, 0);
    /* the TIME_WAIT entry's owner went, the new connection's came */
    assert_int_equal(pm_bind_get_stats(f.bt).owners, owners);
    /* without timestamps: never */
    assert_int_equal(time_wait(&f, res.conn, &f.last, false, 0), 0);
    r.now_us = 100 * s;
    assert_int_equal(conn(&f, &r, &res), -EADDRNOTAVAIL);
    rm(&f);
    /* tw_reuse = 2 is for loopback only; 1 for all */
    for (int mode = 2; mode >= 1; mode--) {
        fixture g = mk(PM_EPH_ALG4, 48000, 48000, mode == 1 ? cfg_tw1 : NULL);
        pm_eph_connect_req q = req_to(0xc0000201, 0xc6336401, 80); /* 192.0.2.1 -> 198.51.100.1 */
        assert_int_equal(conn(&g, &q, &res), 0);
        assert_int_equal(time_wait(&g, res.conn, &g.last, true, 0), 0);
        q.now_us = 5 * s;
        assert_int_equal(conn(&g, &q, &res), mode == 1 ? 0 : -EADDRNOTAVAIL);
        rm(&g);
    }
    /* a socket connecting from its bound port needs only the timestamps
     * (Linux __inet_hash_connect() -> check_established(twp = NULL)) */
    for (int ts = 1; ts >= 0; ts--) {
        fixture b = mk(PM_EPH_ALG4, 48000, 48000, NULL);
        pm_eph_connect_req q = req_to(LO1, SRV, 80);
        q.opts.reuseaddr = true;
        assert_int_equal(conn(&b, &q, &res), 0);
        pm_eph_id old = res.conn;
        assert_int_equal(time_wait(&b, old, &b.last, ts, 0), 0);
        /* SO_REUSEADDR on both sides: bind() may share with TIME_WAIT */
        pm_bind_opts ra = {PM_AF_INET, true, false, false};
        pm_cred cr = {0, true};
        pm_sockaddr bsa = {PM_AF_INET, 48000, pm_ip4(LO1)};
        pm_bind_id bid = PM_BIND_NONE;
        assert_int_equal(pm_bind(b.bt, PM_IPPROTO_TCP, &bsa, &ra, &cr, &bid), 0);
        q.local.port = 48000;
        q.now_us = 0; /* no delay, tw_reuse irrelevant */
        int got = pm_eph_connect(b.e, &q, &bid, &res);
        assert_int_equal(got, ts ? 0 : -EADDRNOTAVAIL);
        if (ts) assert_int_equal(res.reused_tw, old);
        rm(&b);
    }
    /* a caller's rule replaces it */
    fixture h = mk(PM_EPH_ALG4, 48000, 48000, cfg_cb);
    assert_int_equal(conn(&h, &r, &res), 0);
    assert_int_equal(time_wait(&h, res.conn, &h.last, false, 0), 0);
    cb_calls = 0;
    assert_int_equal(conn(&h, &r, &res), 0);
    assert_int_equal(cb_calls, 1);
    /* a connected (not TIME_WAIT) tuple is never taken */
    assert_int_equal(conn(&h, &r, &res), -EADDRNOTAVAIL);
    rm(&h);
}

/* Algorithm 3: one offset per destination, then sequential. */
static void test_alg3_and_determinism(void **state)
{
    (void)state;
    fixture f = mk(PM_EPH_ALG3, 40000, 40999, NULL);
    pm_eph_connect_req r = req_to(LO1, SRV, 80);
    pm_eph_connect_res res;
    assert_int_equal(conn(&f, &r, &res), 0);
    uint16_t p0 = res.port;
    assert_int_equal(conn(&f, &r, &res), 0);
    assert_int_equal((res.port - 40000 + 1000 - (p0 - 40000)) % 1000, 2); /* next even port */
    /* with the socket's own range: step 1 (Linux: no parity split) */
    pm_port_range sr = {40000, 40999};
    pm_eph_connect_req r2 = req_to(LO1, SRV, 8080);
    r2.sock_range = &sr;
    assert_int_equal(conn(&f, &r2, &res), 0);
    p0 = res.port;
    assert_int_equal(conn(&f, &r2, &res), 0);
    assert_int_equal((res.port - 40000 + 1000 - (p0 - 40000)) % 1000, 1);
    rm(&f);
    /* the same seed gives the same ports; another seed others */
    uint16_t a[3][8];
    for (int k = 0; k < 3; k++) {
        uint64_t keep = seed;
        if (k == 2) seed ^= 0x5555;
        fixture g = mk(PM_EPH_ALG4, 32768, 60999, NULL);
        for (int i = 0; i < 8; i++) {
            pm_eph_connect_req q = req_to(LO1, SRV + (uint32_t)i, 80);
            assert_int_equal(conn(&g, &q, &res), 0);
            a[k][i] = res.port;
        }
        rm(&g);
        seed = keep;
    }
    assert_memory_equal(a[0], a[1], sizeof a[0]);
    assert_memory_not_equal(a[0], a[2], sizeof a[0]);
}

static void test_udp_connect_and_pools(void **state)
{
    (void)state;
    fixture f = mk(PM_EPH_ALG4, 40000, 40001, NULL);
    pm_eph_connect_req r = req_to(LO1, SRV, 53);
    r.proto = PM_IPPROTO_UDP;
    pm_eph_connect_res res;
    pm_bind_id id = PM_BIND_NONE;
    assert_int_equal(pm_eph_connect(f.e, &r, &id, &res), 0); /* autobind */
    assert_true(id != PM_BIND_NONE);
    pm_bind_id id2 = PM_BIND_NONE, id3 = PM_BIND_NONE;
    assert_int_equal(pm_eph_connect(f.e, &r, &id2, &res), 0);
    assert_int_equal(pm_eph_connect(f.e, &r, &id3, &res), -EAGAIN);
    rm(&f);
    fixture g = mk(PM_EPH_ALG4, 40000, 40999, NULL);
    pm_eph_destroy(g.e);
    pm_eph_config c;
    pm_eph_config_default(&c);
    c.max_dests = 2;
    c.max_tw = 1;
    g.e = pm_eph_create(&c, g.bt);
    /* destinations: a third is refused, and nothing is left behind */
    pm_eph_connect_req q = req_to(LO1, SRV, 80);
    pm_eph_id ids[3];
    for (int i = 0; i < 3; i++) {
        q.remote.port = (uint16_t)(80 + i);
        assert_int_equal(conn(&g, &q, &res), i < 2 ? 0 : -ENOBUFS);
        ids[i] = res.conn;
    }
    assert_int_equal(pm_eph_get_stats(g.e).pool_full, 1);
    assert_int_equal(pm_eph_get_stats(g.e).conns, 2);
    assert_int_equal(pm_bind_get_stats(g.bt).owners, 2);
    /* TIME_WAIT records: a second is refused */
    assert_int_equal(pm_eph_time_wait(g.e, ids[0], PM_BIND_NONE, true, 0), 0);
    assert_int_equal(pm_eph_time_wait(g.e, ids[1], PM_BIND_NONE, true, 0), -ENOBUFS);
    assert_int_equal(pm_eph_get_stats(g.e).pool_full, 2);
    pm_eph_release(g.e, ids[0]);
    assert_int_equal(pm_eph_get_stats(g.e).tw_records, 0);
    assert_int_equal(pm_eph_time_wait(g.e, ids[1], PM_BIND_NONE, true, 0), 0);
    assert_int_equal(pm_eph_time_wait(g.e, ids[0], PM_BIND_NONE, true, 0), -EINVAL); /* gone */
    rm(&g);
    /* bad input */
    pm_eph_config bad;
    pm_eph_config_default(&bad);
    bad.range.lo = 5;
    bad.range.hi = 4;
    pm_bind_table *bt = pm_bind_create(NULL);
    assert_null(pm_eph_create(&bad, bt));
    pm_bind_destroy(bt);
}

/* ---- statistics ---- */

#define NB 64
/* chi-square critical values at p = 1e-4 (Wilson-Hilferty): a fair
 * generator fails one check in 10,000 seeds; a biased one fails by far */
#define CHI2_63 113.7
#define CHI2_49 94.8

static double chi2(const unsigned *bins, unsigned nb, double expect)
{
    double x = 0;
    for (unsigned i = 0; i < nb; i++) x += (bins[i] - expect) * (bins[i] - expect) / expect;
    return x;
}

static double serial_corr(const double *v, unsigned n)
{
    double m = 0, num = 0, den = 0;
    for (unsigned i = 0; i < n; i++) m += v[i];
    m /= n;
    for (unsigned i = 0; i + 1 < n; i++) num += (v[i] - m) * (v[i + 1] - m);
    for (unsigned i = 0; i < n; i++) den += (v[i] - m) * (v[i] - m);
    return num / den;
}

/* Sample N ports from fresh destinations (low occupancy: each released). */
static void sample(pm_eph_alg alg, unsigned n, uint16_t *out)
{
    fixture f = mk(alg, 32768, 60999, NULL);
    pm_rng rng;
    pm_rng_seed(&rng, seed ^ 0xabcdef);
    for (unsigned i = 0; i < n; i++) {
        pm_eph_connect_req r = req_to(LO1, 0x0a000000u | pm_rng_below(&rng, 1u << 24),
                                      (uint16_t)(1 + pm_rng_below(&rng, 65535)));
        pm_eph_connect_res res;
        assert_int_equal(conn(&f, &r, &res), 0);
        out[i] = res.port;
        drop(&f, res.conn, f.last);
    }
    rm(&f);
}

static void test_statistics(void **state)
{
    (void)state;
    enum { N = 20000 };
    static uint16_t p[N];
    static double v[N];
    const unsigned range = 60999 - 32768 + 1;
    pm_eph_alg algs[] = {PM_EPH_ALG1, PM_EPH_ALG4, PM_EPH_ALG5};
    for (int a = 0; a < 3; a++) {
        sample(algs[a], N, p);
        unsigned bins[NB] = {0}, dbins[NB] = {0};
        for (unsigned i = 0; i < N; i++) bins[(unsigned)(p[i] - 32768) * NB / range]++;
        double x = chi2(bins, NB, (double)N / NB);
        for (unsigned i = 0; i < N; i++) v[i] = p[i];
        double rho = serial_corr(v, N);
        double xd;
        if (algs[a] == PM_EPH_ALG5) {
            /* increments: uniform over [1, 500] (+1 for the parity step):
             * the next port is one of ~500, not predictable within them */
            unsigned inc_bins[50] = {0}, n_inc = 0;
            for (unsigned i = 0; i + 1 < N; i++) {
                unsigned d = (unsigned)(p[i + 1] - p[i] + range) % range;
                assert_true(d >= 1 && d <= 502);
                if (d <= 500) {
                    inc_bins[(d - 1) / 10]++;
                    n_inc++;
                }
                v[i] = d;
            }
            xd = chi2(inc_bins, 50, (double)n_inc / 50);
            double rho_inc = serial_corr(v, N - 1);
            printf("alg5: chi2(ports)=%.1f chi2(increments, 49 dof)=%.1f corr(increments)=%.4f\n",
                   x, xd, rho_inc);
            assert_true(xd < CHI2_49);
            assert_true(fabs(rho_inc) < 0.04);
        } else {
            /* successive differences of independent uniform ports are
             * uniform modulo the range */
            for (unsigned i = 0; i + 1 < N; i++)
                dbins[((unsigned)(p[i + 1] - p[i] + range) % range) * NB / range]++;
            xd = chi2(dbins, NB, (double)(N - 1) / NB);
            printf("%s: chi2(ports)=%.1f chi2(differences)=%.1f corr=%.4f\n",
                   pm_eph_alg_name(algs[a]), x, xd, rho);
            assert_true(xd < CHI2_63);
            assert_true(fabs(rho) < 0.04);
        }
        assert_true(x < CHI2_63);
    }
}

int main(void)
{
    const char *e = getenv("PM_EPH_TEST_SEED");
    if (e) seed = strtoull(e, NULL, 0);
    printf("test_ephemeral seed %llu (PM_EPH_TEST_SEED reproduces)\n", (unsigned long long)seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique_per_destination),
        cmocka_unit_test(test_conn_costs_no_record),
        cmocka_unit_test(test_exhaustion_exact),
        cmocka_unit_test(test_socket_range),
        cmocka_unit_test(test_bind_address_no_port),
        cmocka_unit_test(test_bind0_apart_from_connect),
        cmocka_unit_test(test_tw_reuse),
        cmocka_unit_test(test_alg3_and_determinism),
        cmocka_unit_test(test_udp_connect_and_pools),
        cmocka_unit_test(test_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
