/* The TCB extension pool through the host: two hosts whose pools hold one
 * record each (max_tcp_ext 1) move data over two connections at once
 * through a lossy, reordering wire. Both transfers are byte-exact; the
 * counters show connections that ran without a record (out-of-order
 * segments dropped, NewReno recoveries, no probe) next to SACK recoveries
 * by the one that had it; after the close every record is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "host_pair.h"

static const pm_cred root = {0, true};

static void test_pool_of_one_two_transfers(void **state)
{
    (void)state;
    static hp_pair pair;
    hp_pair *p = &pair;
    assert_int_equal(hp_init(p, PM_PERS_LINUX, 64, 16384), 0);
    for (int i = 0; i < 2; i++) {
        pm_host_destroy(p->h[i]);
        pm_host_config c;
        hp_config(&c, i, PM_PERS_LINUX, 64);
        c.max_tcp_ext = 1;
        assert_int_equal(pm_host_create(&p->h[i], &c), 0);
    }
    p->loss = p->reorder = 20;
    p->delay_us = 2000;
    int l = pm_sock_socket(p->h[1], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr la = hp_sa4(p, 1, 80);
    assert_int_equal(pm_sock_bind(p->h[1], l, &la, &root), 0);
    assert_int_equal(pm_sock_listen(p->h[1], l, 8, &root), 0);
    int cfd[2], afd[2];
    for (int k = 0; k < 2; k++) {
        cfd[k] = pm_sock_socket(p->h[0], PM_AF_INET, PM_SOCK_STREAM, &root);
        assert_int_equal(pm_sock_connect(p->h[0], cfd[k], &la, &root, p->now), -EINPROGRESS);
        afd[k] = -1;
        for (int i = 0; i < 10000 && afd[k] < 0; i++) {
            hp_step(p, p->now + HP_SEC);
            afd[k] = pm_sock_accept(p->h[1], l, NULL, &root);
        }
        assert_true(afd[k] >= 0);
    }
    /* accept order may differ from connect order: pair them by port */
    pm_sockaddr me, peer;
    pm_sock_getsockname(p->h[0], cfd[0], &me);
    pm_sock_getpeername(p->h[1], afd[0], &peer);
    if (me.port != peer.port) {
        int t = afd[0];
        afd[0] = afd[1];
        afd[1] = t;
    }
    uint64_t total = 1 << 20;
    hp_flow f[2] = {{p->h[0], p->h[1], cfd[0], afd[0], 0, 0, total, 1, false},
                    {p->h[0], p->h[1], cfd[1], afd[1], 0, 0, total, 2, false}};
    uint64_t start = p->now;
    while ((f[0].rcvd < total || f[1].rcvd < total) && p->now - start < 600 * HP_SEC) {
        hp_pump(&f[0], p->now);
        hp_pump(&f[1], p->now);
        hp_step(p, p->now + HP_SEC);
    }
    for (int k = 0; k < 2; k++) {
        assert_false(f[k].bad);
        assert_int_equal(f[k].rcvd, total);
    }
    const pm_tcp_stats *tx = pm_host_tcp_stats(p->h[0]), *rx = pm_host_tcp_stats(p->h[1]);
    print_message("2 x 1 MiB, pool of 1: %.1f s virtual, wire dropped %llu reordered %llu; "
                  "sender: SACK recoveries %llu, NewReno for want of a record %llu, PTOs not "
                  "armed %llu, probes %llu, RTOs %llu; receiver: out-of-order queued %llu, "
                  "dropped for want of a record %llu; records full %llu / %llu\n",
                  (double)(p->now - start) / 1e6, (unsigned long long)p->dropped,
                  (unsigned long long)p->reordered, (unsigned long long)tx->sack_recoveries,
                  (unsigned long long)tx->ext_newreno, (unsigned long long)tx->ext_no_tlp,
                  (unsigned long long)tx->tlp_probes, (unsigned long long)tx->rto_fired,
                  (unsigned long long)rx->ooo_queued, (unsigned long long)rx->ext_ooo_dropped,
                  (unsigned long long)tx->ext_full, (unsigned long long)rx->ext_full);
    /* one record: both kinds of recovery, both kinds of receiver */
    assert_true(tx->sack_recoveries > 0);
    assert_true(tx->ext_newreno > 0);
    assert_true(tx->ext_no_tlp > 0);
    assert_true(rx->ooo_queued > 0);
    assert_true(rx->ext_ooo_dropped > 0);
    assert_true(tx->ext_in_use <= 1 && rx->ext_in_use <= 1);
    for (int k = 0; k < 2; k++) {
        pm_sock_close(p->h[0], cfd[k], p->now);
        pm_sock_close(p->h[1], afd[k], p->now);
    }
    pm_sock_close(p->h[1], l, p->now);
    hp_run(p, NULL, NULL, 200 * HP_SEC);
    for (int i = 0; i < 2; i++) {
        pm_host_stats s;
        pm_host_get_stats(p->h[i], &s);
        assert_int_equal(s.tcbs, 0);
        assert_int_equal(pm_host_tcp_stats(p->h[i])->ext_in_use, 0);
    }
    hp_fini(p);
}

/* The knob's default and its memory share. */
static void test_default_pool(void **state)
{
    (void)state;
    pm_host_config c;
    pm_host_config_default(&c, PM_PERS_LINUX);
    c.max_tcbs = 800;
    pm_host *h;
    assert_int_equal(pm_host_create(&h, &c), 0);
    assert_int_equal(pm_host_get_config(h)->max_tcp_ext, 800 / 8 + 16);
    assert_int_equal(pm_host_tcp_stats(h)->ext_in_use, 0);
    pm_host_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_of_one_two_transfers),
        cmocka_unit_test(test_default_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
