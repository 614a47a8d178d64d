/* Two hosts back to back in memory, through an impaired wire (1% loss,
 * 1% duplication, 1% reordering by up to 3 ms):
 *   - bulk: PM_HOST_TRANSFER_MB (default 64) MiB each way at once over
 *     one connection, byte-exact (docs/host.md has the 1 GiB run);
 *   - churn: PM_HOST_CHURN (default 20000) short connections, request and
 *     response, closing first on alternating sides, 64 at a time; after
 *     2*MSL of virtual time no socket, TCB, port owner, 5-tuple or
 *     TIME_WAIT entry is left on either host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "host_pair.h"

static const pm_cred root = {0, true};

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

static int connect_accept(hp_pair *p, int *cfd, int *afd, int *lfd)
{
    *lfd = pm_sock_socket(p->h[1], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr any = {PM_AF_INET, 5001, pm_ip_any4};
    assert_int_equal(pm_sock_bind(p->h[1], *lfd, &any, &root), 0);
    assert_int_equal(pm_sock_listen(p->h[1], *lfd, 128, &root), 0);
    *cfd = pm_sock_socket(p->h[0], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr dst = hp_sa4(p, 1, 5001);
    assert_int_equal(pm_sock_connect(p->h[0], *cfd, &dst, &root, p->now), -EINPROGRESS);
    *afd = -1;
    for (int i = 0; i < 100000 && *afd < 0; i++) {
        hp_step(p, p->now + 10 * HP_SEC);
        *afd = pm_sock_accept(p->h[1], *lfd, NULL, &root);
    }
    return *afd;
}

static void test_bulk(void **state)
{
    (void)state;
    hp_pair p;
    /* bigger rings for a long fat virtual link */
    assert_int_equal(hp_init(&p, PM_PERS_LINUX, 0, 65536), 0);
    p.loss = p.dup = p.reorder = 10;
    p.delay_us = 500;
    int cfd, afd, lfd;
    assert_true(connect_accept(&p, &cfd, &afd, &lfd) >= 0);
    uint64_t total = env_u64("PM_HOST_TRANSFER_MB", 64) << 20;
    hp_flow ab = {p.h[0], p.h[1], cfd, afd, 0, 0, total, 1, false};
    hp_flow ba = {p.h[1], p.h[0], afd, cfd, 0, 0, total, 2, false};
    uint64_t start = p.now;
    while ((ab.rcvd < total || ba.rcvd < total) && p.now - start < 3600 * HP_SEC) {
        hp_pump(&ab, p.now);
        hp_pump(&ba, p.now);
        hp_step(&p, p.now + HP_SEC);
    }
    assert_false(ab.bad);
    assert_false(ba.bad);
    assert_int_equal(ab.rcvd, total);
    assert_int_equal(ba.rcvd, total);
    pm_host_stats s;
    pm_host_get_stats(p.h[0], &s);
    const pm_tcp_stats *ts = pm_host_tcp_stats(p.h[0]);
    print_message("bulk: %llu MiB each way in %.1f s virtual; wire dropped %llu dup %llu reordered "
                  "%llu; A retrans %llu fast %llu rto %llu\n",
                  (unsigned long long)(total >> 20), (double)(p.now - start) / 1e6,
                  (unsigned long long)p.dropped, (unsigned long long)p.duplicated,
                  (unsigned long long)p.reordered, (unsigned long long)ts->retrans_segs,
                  (unsigned long long)ts->fast_retrans, (unsigned long long)ts->rto_fired);
    print_message("bulk: A sack_rxt %llu rxt_lost %llu tlp %llu tlp_recoveries %llu limited_tx "
                  "%llu; both dup_segs %llu\n",
                  (unsigned long long)ts->sack_rxt, (unsigned long long)ts->rxt_lost,
                  (unsigned long long)ts->tlp_probes, (unsigned long long)ts->tlp_recoveries,
                  (unsigned long long)ts->limited_tx, (unsigned long long)ts->dup_segs);
    const pm_tcp_stats *tb = pm_host_tcp_stats(p.h[1]);
    print_message("bulk: extension records full A %llu B %llu (ooo dropped %llu/%llu, NewReno "
                  "%llu/%llu, PTOs not armed %llu/%llu)\n",
                  (unsigned long long)ts->ext_full, (unsigned long long)tb->ext_full,
                  (unsigned long long)ts->ext_ooo_dropped, (unsigned long long)tb->ext_ooo_dropped,
                  (unsigned long long)ts->ext_newreno, (unsigned long long)tb->ext_newreno,
                  (unsigned long long)ts->ext_no_tlp, (unsigned long long)tb->ext_no_tlp);
    assert_int_equal(ts->ext_full + tb->ext_full, 0); /* one connection: a record at hand */
    assert_true(p.dropped > 0 && p.duplicated > 0 && p.reordered > 0);
    pm_sock_close(p.h[0], cfd, p.now);
    pm_sock_close(p.h[1], afd, p.now);
    pm_sock_close(p.h[1], lfd, p.now);
    hp_run(&p, NULL, NULL, 200 * HP_SEC);
    for (int i = 0; i < 2; i++) {
        pm_host_get_stats(p.h[i], &s);
        assert_int_equal(s.sockets, 0);
        assert_int_equal(s.tcbs, 0);
        assert_int_equal(s.time_wait, 0);
        assert_int_equal(s.bind_owners, 0);
        assert_int_equal(s.eph_conns, 0);
        assert_int_equal(pm_host_tcp_stats(p.h[i])->ext_in_use, 0); /* records all back */
    }
    hp_fini(&p);
}

/* ---- Churn --------------------------------------------------------------- */

#define CONC 64
typedef struct conn {
    int cfd, afd;
    int phase; /* 0 free, 1 connecting, 2 request sent, 3 response sent, 4 closing */
    bool server_first;
    uint32_t got_c, got_s;
} conn;

static void test_churn(void **state)
{
    (void)state;
    hp_pair p;
    assert_int_equal(hp_init(&p, PM_PERS_LINUX, 1024, 65536), 0);
    p.loss = p.dup = p.reorder = 10;
    /* tcp_tw_reuse 1: client TIME_WAIT tuples are reused after a second */
    assert_int_equal(pm_host_knob_set(p.h[0], "tw_reuse", 1, 0), 0);
    uint64_t total = env_u64("PM_HOST_CHURN", 20000);
    int lfd = pm_sock_socket(p.h[1], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr any = {PM_AF_INET, 80, pm_ip_any4};
    assert_int_equal(pm_sock_bind(p.h[1], lfd, &any, &root), 0);
    assert_int_equal(pm_sock_listen(p.h[1], lfd, 256, &root), 0);
    pm_sockaddr dst = hp_sa4(&p, 1, 80);
    conn c[CONC];
    memset(c, 0, sizeof c);
    uint64_t started = 0, done = 0, failed = 0;
    char req[100], rsp[100], buf[256];
    memset(req, 'q', sizeof req);
    memset(rsp, 's', sizeof rsp);
    uint64_t start = p.now;
    while (done < total && p.now - start < 7200 * HP_SEC) {
        for (int i = 0; i < CONC; i++) {
            conn *k = &c[i];
            if (k->phase == 0 && started < total) {
                k->cfd = pm_sock_socket(p.h[0], PM_AF_INET, PM_SOCK_STREAM, &root);
                assert_true(k->cfd >= 0);
                int r = pm_sock_connect(p.h[0], k->cfd, &dst, &root, p.now);
                if (r != -EINPROGRESS) {
                    print_message("connect %d\n", r);
                    fail();
                }
                k->afd = -1;
                k->server_first = (started & 1) != 0;
                k->got_c = k->got_s = 0;
                k->phase = 1;
                started++;
            }
        }
        int afd;
        while ((afd = pm_sock_accept(p.h[1], lfd, NULL, &root)) >= 0) {
            /* match by peer port */
            pm_sockaddr peer;
            pm_sock_getpeername(p.h[1], afd, &peer);
            bool found = false;
            for (int i = 0; i < CONC && !found; i++) {
                pm_sockaddr me;
                if (c[i].phase == 0 || c[i].afd >= 0) continue;
                pm_sock_getsockname(p.h[0], c[i].cfd, &me);
                if (me.port == peer.port) {
                    c[i].afd = afd;
                    found = true;
                }
            }
            assert_true(found);
        }
        for (int i = 0; i < CONC; i++) {
            conn *k = &c[i];
            if (k->phase == 1 && (pm_sock_poll(p.h[0], k->cfd) & PM_POLLOUT)) {
                long r = pm_sock_send(p.h[0], k->cfd, req, sizeof req, p.now);
                if (r < 0) {
                    failed++;
                    pm_sock_close(p.h[0], k->cfd, p.now);
                    if (k->afd >= 0) pm_sock_close(p.h[1], k->afd, p.now);
                    k->phase = 0;
                    done++;
                    continue;
                }
                assert_int_equal(r, sizeof req);
                k->phase = 2;
            }
            if (k->phase == 2 && k->afd >= 0) {
                long r = pm_sock_recv(p.h[1], k->afd, buf, sizeof buf, p.now);
                if (r > 0) k->got_s += (uint32_t)r;
                if (k->got_s == sizeof req) {
                    assert_int_equal(pm_sock_send(p.h[1], k->afd, rsp, sizeof rsp, p.now),
                                     sizeof rsp);
                    if (k->server_first) pm_sock_close(p.h[1], k->afd, p.now);
                    k->phase = 3;
                }
            }
            if (k->phase == 3) {
                long r = pm_sock_recv(p.h[0], k->cfd, buf, sizeof buf, p.now);
                if (r > 0) k->got_c += (uint32_t)r;
                if (k->got_c == sizeof rsp) {
                    pm_sock_close(p.h[0], k->cfd, p.now);
                    if (!k->server_first)
                        k->phase = 4;
                    else {
                        k->phase = 0;
                        done++;
                    }
                }
            }
            if (k->phase == 4) {
                /* the server closes once it sees the client's FIN */
                long r = pm_sock_recv(p.h[1], k->afd, buf, sizeof buf, p.now);
                if (r == 0 || (r < 0 && r != -EAGAIN)) {
                    pm_sock_close(p.h[1], k->afd, p.now);
                    k->phase = 0;
                    done++;
                }
            }
        }
        hp_step(&p, p.now + HP_SEC);
    }
    assert_int_equal(done, total);
    pm_host_stats s0, s1;
    pm_host_get_stats(p.h[0], &s0);
    pm_host_get_stats(p.h[1], &s1);
    print_message("churn: %llu connections in %.1f s virtual, %llu failed; client TW entered "
                  "%llu reused %llu recycled %llu; server TW %llu reopened %llu\n",
                  (unsigned long long)total, (double)(p.now - start) / 1e6,
                  (unsigned long long)failed, (unsigned long long)s0.tw_entered,
                  (unsigned long long)s0.tw_reused, (unsigned long long)s0.tw_recycled,
                  (unsigned long long)s1.tw_entered, (unsigned long long)s1.tw_reopened);
    assert_true(failed * 100 <= total); /* a few may time out under loss */
    assert_true(s1.tw_reopened > 0);    /* SYNs reopened server TIME_WAIT entries */
    assert_true(s0.tw_recycled > 0);    /* and the client recycled at max_tw */
    pm_sock_close(p.h[1], lfd, p.now);
    /* 2*MSL (60 s) plus the longest orphan (FIN_WAIT_2 60 s) and retries */
    hp_run(&p, NULL, NULL, 200 * HP_SEC);
    for (int i = 0; i < 2; i++) {
        pm_host_stats s;
        pm_host_get_stats(p.h[i], &s);
        if (s.sockets || s.tcbs || s.time_wait || s.bind_owners || s.eph_conns)
            print_message("host %d: sockets %llu tcbs %llu tw %llu owners %llu conns %llu\n", i,
                          (unsigned long long)s.sockets, (unsigned long long)s.tcbs,
                          (unsigned long long)s.time_wait, (unsigned long long)s.bind_owners,
                          (unsigned long long)s.eph_conns);
        assert_int_equal(s.sockets, 0);
        assert_int_equal(s.tcbs, 0);
        assert_int_equal(s.time_wait, 0);
        assert_int_equal(s.bind_owners, 0);
        assert_int_equal(s.eph_conns, 0);
        assert_int_equal(pm_host_tcp_stats(p.h[i])->ext_in_use, 0); /* records all back */
    }
    hp_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
