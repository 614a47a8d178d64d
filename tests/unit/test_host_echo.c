/* The echo service (src/apps) on one in-memory host, a client on the
 * other, over an impaired wire: each run sends a stream, shuts down its
 * write side and reads the echo to EOF; the echo must be byte-exact and
 * complete, the connection must end cleanly (EOF, no error), and every
 * extension record must come back. Seeds, loss, duplication and
 * reordering vary per run; small extension pools (max_tcp_ext 1) force
 * the take/release churn. PM_HOST_ECHO_RUNS (default 120) runs of
 * PM_HOST_ECHO_KB (default 512) KiB from seed PM_HOST_ECHO_SEED (1);
 * PM_HOST_ECHO_PERS=linux|freebsd: that personality only;
 * PM_HOST_ECHO_KEEP_GOING=1: all runs, the failures counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "host_pair.h"
#include "portmux/apps.h"

static const pm_cred root = {0, true};

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

typedef struct echo_result {
    uint64_t sent, rcvd, first_bad;
    long end; /* the recv result that ended the read: 0 (EOF) or -errno */
    bool bad, done;
} echo_result;

/* One echo run; returns what the client saw. */
static echo_result echo_run(uint64_t seed, uint64_t total, unsigned loss, unsigned dup,
                            unsigned reorder, uint32_t max_ext, pm_personality pers)
{
    echo_result res = {0, 0, UINT64_MAX, 1, false, false};
    hp_pair p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < 2; i++) {
        pm_host_config c;
        hp_config(&c, i, pers, 0);
        c.seed = seed * 2 + (uint64_t)i;
        if (max_ext) c.max_tcp_ext = max_ext;
        p.ip4[i] = c.local[0];
        p.ip6[i] = c.local[1];
        assert_int_equal(pm_host_create(&p.h[i], &c), 0);
    }
    pm_rng_seed(&p.rng, seed);
    p.delay_us = 1000;
    p.reorder_us = 4000;
    p.now = HP_SEC;
    p.cap = 65536;
    p.pool = malloc(sizeof *p.pool * p.cap);
    p.heap = malloc(sizeof *p.heap * p.cap);
    p.free = malloc(sizeof *p.free * p.cap);
    assert_non_null(p.pool);
    for (uint32_t i = 0; i < p.cap; i++) p.free[i] = p.cap - 1 - i;
    p.nfree = p.cap;
    p.loss = loss;
    p.dup = dup;
    p.reorder = reorder;

    pm_apps *apps;
    assert_int_equal(pm_apps_create(&apps, p.h[1], NULL, NULL), 0);
    assert_int_equal(pm_apps_listen(apps, PM_APP_ECHO, PM_IPPROTO_TCP, PM_AF_INET, 7, p.now), 0);
    int fd = pm_sock_socket(p.h[0], PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr dst = hp_sa4(&p, 1, 7);
    assert_int_equal(pm_sock_connect(p.h[0], fd, &dst, &root, p.now), -EINPROGRESS);
    uint8_t buf[16384];
    bool shut = false;
    uint64_t start = p.now;
    while (!res.done && p.now - start < 600 * HP_SEC) {
        pm_apps_run(apps, p.now);
        while (res.sent < total) {
            size_t n = sizeof buf;
            if (n > total - res.sent) n = (size_t)(total - res.sent);
            for (size_t i = 0; i < n; i++) buf[i] = hp_pattern(res.sent + i, seed);
            long r = pm_sock_send(p.h[0], fd, buf, n, p.now);
            if (r <= 0) break;
            res.sent += (uint64_t)r;
        }
        if (res.sent == total && !shut) {
            assert_int_equal(pm_sock_shutdown(p.h[0], fd, PM_SHUT_WR, p.now), 0);
            shut = true;
        }
        for (;;) {
            long r = pm_sock_recv(p.h[0], fd, buf, sizeof buf, p.now);
            if (r == -EAGAIN) break;
            if (r <= 0) {
                res.end = r;
                res.done = true;
                break;
            }
            for (long i = 0; i < r; i++)
                if (buf[i] != hp_pattern(res.rcvd + (uint64_t)i, seed) && !res.bad) {
                    res.bad = true;
                    res.first_bad = res.rcvd + (uint64_t)i;
                }
            res.rcvd += (uint64_t)r;
        }
        pm_apps_run(apps, p.now);
        hp_step(&p, p.now + HP_SEC);
    }
    pm_sock_close(p.h[0], fd, p.now);
    pm_apps_close_all(apps, false, p.now);
    hp_run(&p, NULL, NULL, 300 * HP_SEC);
    for (int i = 0; i < 2; i++) assert_int_equal(pm_host_tcp_stats(p.h[i])->ext_in_use, 0);
    pm_apps_destroy(apps);
    hp_fini(&p);
    return res;
}

/* Whether the run was exact and complete (printed when not). */
static bool run_ok(uint64_t seed, echo_result r, uint64_t total, const char *what)
{
    if (!r.bad && r.rcvd == total && r.end == 0) return true;
    print_message("%s seed %llu: sent %llu echoed %llu end %ld first bad byte %lld\n", what,
                  (unsigned long long)seed, (unsigned long long)r.sent, (unsigned long long)r.rcvd,
                  r.end, r.bad ? (long long)r.first_bad : -1ll);
    return false;
}

static void test_echo_impaired(void **state)
{
    (void)state;
    uint64_t runs = env_u64("PM_HOST_ECHO_RUNS", 120);
    uint64_t total = env_u64("PM_HOST_ECHO_KB", 512) << 10;
    uint64_t first = env_u64("PM_HOST_ECHO_SEED", 1);
    bool keep_going = env_u64("PM_HOST_ECHO_KEEP_GOING", 0) != 0; /* count every failure */
    uint64_t failed = 0;
    for (uint64_t s = first; s < first + runs; s++) {
        /* 2-5% loss, 1-3% duplication, 5-10% reordering; pools of 1, 2 or
         * the default; every fourth run the freebsd personality. */
        unsigned loss = 20 + (unsigned)(s % 4) * 10, dup = 10 + (unsigned)(s % 3) * 10;
        unsigned reo = 50 + (unsigned)(s % 2) * 50;
        uint32_t ext = (uint32_t)(s % 3);
        pm_personality pers = s % 4 == 3 ? PM_PERS_FREEBSD : PM_PERS_LINUX;
        if (getenv("PM_HOST_ECHO_PERS")) /* linux or freebsd for every run */
            pers = strcmp(getenv("PM_HOST_ECHO_PERS"), "freebsd") ? PM_PERS_LINUX : PM_PERS_FREEBSD;
        echo_result r = echo_run(s, total, loss, dup, reo, ext, pers);
        if (!run_ok(s, r, total, "impaired echo")) failed++;
        if (failed && !keep_going) break;
    }
    if (keep_going)
        print_message("%llu of %llu runs failed\n", (unsigned long long)failed,
                      (unsigned long long)runs);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_impaired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
