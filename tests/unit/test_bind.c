/* The bind table: a fixed table of the classic cases (wildcard/specific x
 * SO_REUSEADDR x SO_REUSEPORT x listen x TIME_WAIT x v6only x uid x
 * privileged port), each checked against what Linux 6.x answers. The
 * random differential test against the kernel is test_bind_oracle.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "portmux/addr.h"
#include "portmux/bind.h"
#include "ports/bind_internal.h"

enum { RA = 1, RP = 2, V6O = 4 };                 /* options */
enum { S_BOUND, S_LISTEN, S_TW, S_LISTEN_FAILS }; /* what the first socket becomes */
enum { TCP = PM_IPPROTO_TCP, UDP = PM_IPPROTO_UDP };

typedef struct sock_spec {
    const char *addr; /* "0.0.0.0", "::", "::ffff:127.0.0.1" ... */
    int fam;          /* 4 or 6 */
    int opts;
    uint32_t uid;
} sock_spec;

typedef struct bind_case {
    const char *name;
    int proto;
    sock_spec a;
    int a_state;
    sock_spec b;
    bool b_listen; /* then listen() on b: expect is listen's result */
    int expect;
} bind_case;

static const bind_case cases[] = {
    /* wildcard vs specific: Linux inet_rcv_saddr_equal(match_wildcard) */
    {"any4 then specific",
     TCP,
     {"0.0.0.0", 4, 0, 0},
     S_BOUND,
     {"127.0.0.1", 4, 0, 0},
     false,
     -EADDRINUSE},
    {"specific then any4",
     TCP,
     {"127.0.0.1", 4, 0, 0},
     S_BOUND,
     {"0.0.0.0", 4, 0, 0},
     false,
     -EADDRINUSE},
    {"two specifics", TCP, {"127.0.0.1", 4, 0, 0}, S_BOUND, {"127.0.0.2", 4, 0, 0}, false, 0},
    {"same specific",
     TCP,
     {"127.0.0.1", 4, 0, 0},
     S_BOUND,
     {"127.0.0.1", 4, 0, 0},
     false,
     -EADDRINUSE},
    /* SO_REUSEADDR: TCP shares unless the other listens */
    {"reuseaddr both, bound",
     TCP,
     {"0.0.0.0", 4, RA, 0},
     S_BOUND,
     {"127.0.0.1", 4, RA, 0},
     false,
     0},
    {"reuseaddr both, same addr",
     TCP,
     {"127.0.0.1", 4, RA, 0},
     S_BOUND,
     {"127.0.0.1", 4, RA, 0},
     false,
     0},
    {"reuseaddr one side",
     TCP,
     {"0.0.0.0", 4, RA, 0},
     S_BOUND,
     {"127.0.0.1", 4, 0, 0},
     false,
     -EADDRINUSE},
    {"reuseaddr vs listener",
     TCP,
     {"0.0.0.0", 4, RA, 0},
     S_LISTEN,
     {"127.0.0.1", 4, RA, 0},
     false,
     -EADDRINUSE},
    {"reuseaddr, listen while other bound",
     TCP,
     {"127.0.0.1", 4, RA, 0},
     S_BOUND,
     {"127.0.0.1", 4, RA, 0},
     true,
     0},
    {"reuseaddr, second listener",
     TCP,
     {"127.0.0.1", 4, RA, 0},
     S_LISTEN,
     {"127.0.0.2", 4, RA, 0},
     true,
     0},
    /* SO_REUSEPORT: same uid; not against a listener without it */
    {"reuseport same uid",
     TCP,
     {"0.0.0.0", 4, RP, 1000},
     S_LISTEN,
     {"0.0.0.0", 4, RP, 1000},
     true,
     0},
    {"reuseport other uid",
     TCP,
     {"0.0.0.0", 4, RP, 1000},
     S_LISTEN,
     {"0.0.0.0", 4, RP, 1001},
     false,
     -EADDRINUSE},
    {"reuseport other uid, bound",
     TCP,
     {"127.0.0.1", 4, RP, 1000},
     S_BOUND,
     {"127.0.0.1", 4, RP, 0},
     false,
     -EADDRINUSE},
    {"reuseport one side",
     TCP,
     {"0.0.0.0", 4, RP, 0},
     S_LISTEN,
     {"0.0.0.0", 4, 0, 0},
     false,
     -EADDRINUSE},
    {"reuseport vs plain listener",
     TCP,
     {"0.0.0.0", 4, 0, 0},
     S_LISTEN,
     {"0.0.0.0", 4, RP, 0},
     false,
     -EADDRINUSE},
    {"reuseport+addr other uid, bound",
     TCP,
     {"127.0.0.1", 4, RA | RP, 1},
     S_BOUND,
     {"127.0.0.1", 4, RA | RP, 2},
     false,
     0},
    {"reuseport+addr other uid, listen",
     TCP,
     {"127.0.0.1", 4, RA | RP, 1},
     S_LISTEN,
     {"127.0.0.1", 4, RA | RP, 2},
     false,
     -EADDRINUSE},
    /* TIME_WAIT owners take part */
    {"time-wait blocks",
     TCP,
     {"127.0.0.1", 4, 0, 0},
     S_TW,
     {"127.0.0.1", 4, 0, 0},
     false,
     -EADDRINUSE},
    {"time-wait blocks wildcard",
     TCP,
     {"127.0.0.1", 4, 0, 0},
     S_TW,
     {"0.0.0.0", 4, RA, 0},
     false,
     -EADDRINUSE},
    {"time-wait, reuseaddr both",
     TCP,
     {"127.0.0.1", 4, RA, 0},
     S_TW,
     {"0.0.0.0", 4, RA, 0},
     false,
     0},
    {"time-wait, reuseport any uid",
     TCP,
     {"127.0.0.1", 4, RP, 5},
     S_TW,
     {"127.0.0.1", 4, RP, 6},
     false,
     0},
    {"time-wait, other address",
     TCP,
     {"127.0.0.2", 4, 0, 0},
     S_TW,
     {"127.0.0.1", 4, 0, 0},
     false,
     0},
    /* IPv6: :: covers IPv4 unless v6only */
    {":: then any4", TCP, {"::", 6, 0, 0}, S_BOUND, {"0.0.0.0", 4, 0, 0}, false, -EADDRINUSE},
    {":: then 127.0.0.1",
     TCP,
     {"::", 6, 0, 0},
     S_BOUND,
     {"127.0.0.1", 4, 0, 0},
     false,
     -EADDRINUSE},
    {":: v6only then any4", TCP, {"::", 6, V6O, 0}, S_BOUND, {"0.0.0.0", 4, 0, 0}, false, 0},
    {":: v6only then ::1", TCP, {"::", 6, V6O, 0}, S_BOUND, {"::1", 6, 0, 0}, false, -EADDRINUSE},
    {"any4 then ::", TCP, {"0.0.0.0", 4, 0, 0}, S_BOUND, {"::", 6, 0, 0}, false, -EADDRINUSE},
    {"any4 then :: v6only", TCP, {"0.0.0.0", 4, 0, 0}, S_BOUND, {"::", 6, V6O, 0}, false, 0},
    {":: then :: v6only", TCP, {"::", 6, 0, 0}, S_BOUND, {"::", 6, V6O, 0}, false, -EADDRINUSE},
    {"::1 then 127.0.0.1", TCP, {"::1", 6, 0, 0}, S_BOUND, {"127.0.0.1", 4, 0, 0}, false, 0},
    {"mapped vs v4",
     TCP,
     {"127.0.0.1", 4, 0, 0},
     S_BOUND,
     {"::ffff:127.0.0.1", 6, 0, 0},
     false,
     -EADDRINUSE},
    {"mapped vs :: v6only",
     TCP,
     {"::", 6, V6O, 0},
     S_BOUND,
     {"::ffff:127.0.0.1", 6, 0, 0},
     false,
     0},
    {"v6only cannot take mapped",
     TCP,
     {"::1", 6, 0, 0},
     S_BOUND,
     {"::ffff:127.0.0.1", 6, V6O, 0},
     false,
     -EINVAL},
    /* UDP: udp_lib_lport_inuse() */
    {"udp any4 then specific",
     UDP,
     {"0.0.0.0", 4, 0, 0},
     S_BOUND,
     {"127.0.0.1", 4, 0, 0},
     false,
     -EADDRINUSE},
    {"udp reuseaddr both", UDP, {"0.0.0.0", 4, RA, 0}, S_BOUND, {"0.0.0.0", 4, RA, 7}, false, 0},
    {"udp reuseaddr one side",
     UDP,
     {"0.0.0.0", 4, RA, 0},
     S_BOUND,
     {"0.0.0.0", 4, 0, 0},
     false,
     -EADDRINUSE},
    {"udp reuseport same uid",
     UDP,
     {"127.0.0.1", 4, RP, 9},
     S_BOUND,
     {"127.0.0.1", 4, RP, 9},
     false,
     0},
    {"udp reuseport other uid",
     UDP,
     {"127.0.0.1", 4, RP, 9},
     S_BOUND,
     {"127.0.0.1", 4, RP, 8},
     false,
     -EADDRINUSE},
    {"udp :: v6only vs any4", UDP, {"::", 6, V6O, 0}, S_BOUND, {"0.0.0.0", 4, 0, 0}, false, 0},
    {"udp :: vs 127.0.0.1",
     UDP,
     {"::", 6, 0, 0},
     S_BOUND,
     {"127.0.0.1", 4, 0, 0},
     false,
     -EADDRINUSE},
};

static void to_sa(const sock_spec *s, uint16_t port, pm_sockaddr *sa, pm_bind_opts *o)
{
    int fam;
    memset(sa, 0, sizeof *sa);
    assert_int_equal(pm_ip_parse(s->addr, &sa->ip, &fam), 0);
    sa->family = s->fam == 4 ? PM_AF_INET : PM_AF_INET6;
    sa->port = port;
    o->family = (uint8_t)sa->family;
    o->reuseaddr = s->opts & RA;
    o->reuseport = s->opts & RP;
    o->v6only = s->opts & V6O;
}

static void test_classic_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bind_case *c = &cases[i];
        pm_bind_table *t = pm_bind_create(NULL);
        assert_non_null(t);
        pm_sockaddr sa;
        pm_bind_opts o;
        pm_cred cred = {c->a.uid, false};
        pm_bind_id a = PM_BIND_NONE, b = PM_BIND_NONE;
        to_sa(&c->a, 5000, &sa, &o);
        assert_int_equal(pm_bind(t, (uint8_t)c->proto, &sa, &o, &cred, &a), 0);
        if (c->a_state == S_LISTEN) assert_int_equal(pm_bind_listen(t, a), 0);
        if (c->a_state == S_TW) {
            assert_int_equal(pm_bind_set_state(t, &a, PM_BIND_CONNECTED), 0);
            assert_int_equal(pm_bind_set_state(t, &a, PM_BIND_TIME_WAIT), 0);
        }
        to_sa(&c->b, 5000, &sa, &o);
        cred.uid = c->b.uid;
        int r = pm_bind_check(t, (uint8_t)c->proto, &sa, &o, &cred);
        int r2 = pm_bind(t, (uint8_t)c->proto, &sa, &o, &cred, &b);
        assert_int_equal(r, r2); /* check and bind agree */
        if (c->b_listen && r2 == 0) r2 = pm_bind_listen(t, b);
        if (r2 != c->expect)
            fprintf(stderr, "case \"%s\": got %d, Linux gives %d\n", c->name, r2, c->expect);
        assert_int_equal(r2, c->expect);
        pm_bind_destroy(t);
    }
}

static void test_errors_and_privilege(void **state)
{
    (void)state;
    pm_bind_table *t = pm_bind_create(NULL);
    pm_sockaddr sa = {PM_AF_INET, 80, pm_ip4(0x7f000001)};
    pm_bind_opts o = {PM_AF_INET, false, false, false};
    pm_cred user = {1000, false}, svc = {1000, true};
    pm_bind_id id = PM_BIND_NONE;
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &user, &id), -EACCES);
    assert_int_equal(id, PM_BIND_NONE);
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &svc, &id), 0);
    /* Linux checks the privilege before "already bound" */
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &user, &id), -EACCES);
    sa.port = 8080;
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &user, &id), -EINVAL);
    pm_bind_id id2 = PM_BIND_NONE;
    sa.port = 1023;
    assert_int_equal(pm_bind(t, UDP, &sa, &o, &user, &id2), -EACCES);
    pm_bind_set_unprivileged_port_start(t, 0); /* 0 turns the rule off */
    assert_int_equal(pm_bind(t, UDP, &sa, &o, &user, &id2), 0);
    pm_bind_set_unprivileged_port_start(t, 1023); /* below 1023 only */
    pm_bind_id id3 = PM_BIND_NONE;
    sa.port = 1023;
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &user, &id3), 0);
    /* an IPv4 socket cannot take an IPv6 address */
    pm_bind_id id4 = PM_BIND_NONE;
    sa.ip = pm_ip_any6;
    sa.port = 9000;
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &user, &id4), -EAFNOSUPPORT);
    pm_bind_stats st = pm_bind_get_stats(t);
    assert_int_equal(st.eacces, 3);
    assert_int_equal(st.einval, 1);
    assert_int_equal(st.owners, 3);
    pm_bind_destroy(t);
}

static void test_pool_full_and_release(void **state)
{
    (void)state;
    pm_bind_config cfg;
    pm_bind_config_default(&cfg);
    cfg.max_owners = 4;
    pm_bind_table *t = pm_bind_create(&cfg);
    pm_bind_opts o = {PM_AF_INET, true, false, false};
    pm_cred c = {0, true};
    pm_bind_id ids[5];
    for (int i = 0; i < 5; i++) {
        pm_sockaddr sa = {PM_AF_INET, (uint16_t)(7000 + i), pm_ip4(0x7f000001)};
        ids[i] = PM_BIND_NONE;
        assert_int_equal(pm_bind(t, TCP, &sa, &o, &c, &ids[i]), i < 4 ? 0 : -ENOBUFS);
    }
    assert_int_equal(pm_bind_get_stats(t).pool_full, 1);
    assert_true(pm_portmap_test(pm_bind__owned(t, TCP), 7001));
    pm_bind_release(t, ids[1]);
    assert_false(pm_portmap_test(pm_bind__owned(t, TCP), 7001));
    assert_int_equal(pm_bind_get_stats(t).ports, 3);
    pm_bind_owner ow;
    assert_int_equal(pm_bind_get(t, ids[1], &ow), -EINVAL);
    assert_int_equal(pm_bind_get(t, ids[2], &ow), 0);
    assert_int_equal(ow.local.port, 7002);
    assert_string_equal(pm_bind_state_name(ow.state), "bound");
    /* the freed slot is reused */
    pm_sockaddr sa = {PM_AF_INET, 7001, pm_ip4(0x7f000001)};
    pm_bind_id again = PM_BIND_NONE;
    assert_int_equal(pm_bind(t, TCP, &sa, &o, &c, &again), 0);
    pm_bind_destroy(t);
}

/* A listener closing frees the port; SO_REUSEADDR toggled after bind
 * counts at the next check, as in Linux. */
static void test_release_and_reuse_toggle(void **state)
{
    (void)state;
    pm_bind_table *t = pm_bind_create(NULL);
    pm_sockaddr sa = {PM_AF_INET, 6000, pm_ip4(0)};
    pm_bind_opts plain = {PM_AF_INET, false, false, false};
    pm_bind_opts ra = {PM_AF_INET, true, false, false};
    pm_cred c = {0, false};
    pm_bind_id a = PM_BIND_NONE, b = PM_BIND_NONE;
    assert_int_equal(pm_bind(t, TCP, &sa, &plain, &c, &a), 0);
    assert_int_equal(pm_bind(t, TCP, &sa, &ra, &c, &b), -EADDRINUSE);
    assert_int_equal(pm_bind_set_reuse(t, &a, true, false), 0);
    /* the slow path decides, with a's new option */
    assert_int_equal(pm_bind(t, TCP, &sa, &ra, &c, &b), 0);
    assert_int_equal(pm_bind_listen(t, a), 0);
    assert_int_equal(pm_bind_listen(t, b), -EADDRINUSE);
    pm_bind_release(t, a);
    assert_int_equal(pm_bind_listen(t, b), 0);
    pm_bind_id ids[4];
    assert_int_equal(pm_bind_owners(t, TCP, 6000, ids, 4), 1);
    assert_int_equal(ids[0], b);
    pm_bind_destroy(t);
}

/* Two history-dependent answers of Linux 6.x that the oracle found or
 * confirmed (a small kernel script reproduces both): */
static void test_kernel_fast_path_quirks(void **state)
{
    (void)state;
    pm_bind_table *t = pm_bind_create(NULL);
    pm_bind_opts rarp = {PM_AF_INET, true, true, false}, rp = {PM_AF_INET, false, true, false};
    pm_cred root = {0, true}, u = {1000, false};
    pm_sockaddr lo1 = {PM_AF_INET, 5000, pm_ip4(0x7f000001)}, any = {PM_AF_INET, 5000, pm_ip4(0)};
    pm_bind_id a = PM_BIND_NONE, b = PM_BIND_NONE, c = PM_BIND_NONE;
    /* 1. sk_reuseport_match(): B (other uid) got in through SO_REUSEADDR
     * and reset the bucket's reuseport cache to itself (STRICT, 0.0.0.0);
     * C matches that cache and skips the check that A would fail. */
    assert_int_equal(pm_bind(t, TCP, &lo1, &rarp, &root, &a), 0);
    assert_int_equal(pm_bind(t, TCP, &any, &rarp, &u, &b), 0);
    assert_int_equal(pm_bind_check(t, TCP, &lo1, &rp, &u), 0);
    assert_int_equal(pm_bind(t, TCP, &lo1, &rp, &u, &c), 0);
    pm_bind_destroy(t);
    /* 2. The SO_REUSEADDR fast path (tb->fastreuse) is never on since
     * bhash2: clearing SO_REUSEADDR on a bound owner counts at once. */
    t = pm_bind_create(NULL);
    a = b = PM_BIND_NONE;
    pm_bind_opts ra = {PM_AF_INET, true, false, false};
    pm_sockaddr lo2 = {PM_AF_INET, 5000, pm_ip4(0x7f000002)};
    assert_int_equal(pm_bind(t, TCP, &lo2, &ra, &root, &a), 0);
    assert_int_equal(pm_bind_set_reuse(t, &a, false, false), 0);
    assert_int_equal(pm_bind(t, TCP, &any, &ra, &root, &b), -EADDRINUSE);
    pm_bind_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic_table),
        cmocka_unit_test(test_errors_and_privilege),
        cmocka_unit_test(test_pool_full_and_release),
        cmocka_unit_test(test_release_and_reuse_toggle),
        cmocka_unit_test(test_kernel_fast_path_quirks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
