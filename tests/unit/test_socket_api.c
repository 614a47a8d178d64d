/* Each socket call and its errno values, as Linux returns them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "host_pair.h"

static const pm_cred root = {0, true};
static const pm_cred user = {1000, false};

static pm_host *mk(pm_personality pers)
{
    pm_host_config c;
    hp_config(&c, 0, pers, 64);
    pm_host *h;
    assert_int_equal(pm_host_create(&h, &c), 0);
    return h;
}

static pm_sockaddr sa4(uint32_t ip, uint16_t port)
{
    return (pm_sockaddr){PM_AF_INET, port, pm_ip4(ip)};
}

static pm_sockaddr sa6any(uint16_t port)
{
    return (pm_sockaddr){PM_AF_INET6, port, pm_ip_any6};
}

static void test_socket(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    assert_int_equal(pm_sock_socket(h, 1, PM_SOCK_STREAM, &root), -EAFNOSUPPORT);
    assert_int_equal(pm_sock_socket(h, PM_AF_INET, 3, &root), -ESOCKTNOSUPPORT);
    assert_int_equal(pm_sock_socket(h, PM_AF_INET, 99, &root), -EINVAL);
    int fd = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    assert_int_equal(fd, 0); /* lowest free descriptor */
    assert_int_equal(hp_gopt(h, fd, PM_SOL_SOCKET, PM_SO_TYPE), PM_SOCK_STREAM);
    assert_int_equal(hp_gopt(h, fd, PM_SOL_SOCKET, PM_SO_DOMAIN), PM_AF_INET);
    assert_int_equal(pm_sock_close(h, fd, 0), 0);
    assert_int_equal(pm_sock_close(h, fd, 0), -EBADF);
    assert_int_equal(pm_sock_close(h, 999, 0), -EBADF);
    /* the descriptor pool: EMFILE, then reuse of the lowest */
    int n = 0;
    while (pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root) >= 0) n++;
    assert_int_equal(n, 64);
    assert_int_equal(pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root), -EMFILE);
    pm_sock_close(h, 7, 0);
    pm_sock_close(h, 3, 0);
    assert_int_equal(pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root), 3);
    pm_host_destroy(h);
}

static void test_bind(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int a = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    int b = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr s = sa4(0x0a000001, 8080), s6 = sa6any(8080);
    assert_int_equal(pm_sock_bind(h, 77, &s, &root), -EBADF);
    assert_int_equal(pm_sock_bind(h, a, &s6, &root), -EAFNOSUPPORT);
    pm_sockaddr foreign = sa4(0x0b000001, 8080);
    assert_int_equal(pm_sock_bind(h, a, &foreign, &root), -EADDRNOTAVAIL);
    pm_sockaddr low = sa4(0x0a000001, 80);
    assert_int_equal(pm_sock_bind(h, a, &low, &user), -EACCES);
    assert_int_equal(pm_sock_bind(h, a, &s, &root), 0);
    assert_int_equal(pm_sock_bind(h, a, &s, &root), -EINVAL); /* already bound */
    assert_int_equal(pm_sock_bind(h, b, &s, &root), -EADDRINUSE);
    pm_sockaddr any = sa4(0, 8080);
    assert_int_equal(pm_sock_bind(h, b, &any, &root), -EADDRINUSE); /* wildcard overlaps */
    pm_sockaddr got;
    assert_int_equal(pm_sock_getsockname(h, a, &got), 0);
    assert_int_equal(got.port, 8080);
    /* SO_REUSEADDR on both, neither listening: shared */
    int c = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    int d = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    assert_int_equal(hp_iopt(h, c, PM_SOL_SOCKET, PM_SO_REUSEADDR, 1), 0);
    assert_int_equal(hp_iopt(h, d, PM_SOL_SOCKET, PM_SO_REUSEADDR, 1), 0);
    pm_sockaddr s2 = sa4(0, 9090);
    assert_int_equal(pm_sock_bind(h, c, &s2, &root), 0);
    assert_int_equal(pm_sock_bind(h, d, &s2, &root), 0);
    assert_int_equal(pm_sock_listen(h, c, 5, &root), 0);
    assert_int_equal(pm_sock_listen(h, d, 5, &root), -EADDRINUSE); /* inet_csk_listen_start */
    /* bind(0): an ephemeral port */
    int e = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr z = sa4(0, 0);
    assert_int_equal(pm_sock_bind(h, e, &z, &user), 0);
    pm_sock_getsockname(h, e, &got);
    assert_true(got.port >= 32768 && got.port <= 60999);
    /* IPV6_V6ONLY: a v4-mapped address is refused; not settable once bound */
    int f = pm_sock_socket(h, PM_AF_INET6, PM_SOCK_STREAM, &root);
    assert_int_equal(hp_iopt(h, f, PM_SOL_IPV6, PM_IPV6_V6ONLY, 1), 0);
    pm_sockaddr mapped = {PM_AF_INET6, 7000, pm_ip4(0x0a000001)};
    assert_int_equal(pm_sock_bind(h, f, &mapped, &root), -EINVAL);
    pm_sockaddr six = sa6any(7000);
    assert_int_equal(pm_sock_bind(h, f, &six, &root), 0);
    assert_int_equal(hp_iopt(h, f, PM_SOL_IPV6, PM_IPV6_V6ONLY, 0), -EINVAL);
    /* a v6only :: and an IPv4 0.0.0.0 share the port */
    int g = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr g4 = sa4(0, 7000);
    assert_int_equal(pm_sock_bind(h, g, &g4, &root), 0);
    /* a dual-stack :: conflicts with 0.0.0.0 */
    int k = pm_sock_socket(h, PM_AF_INET6, PM_SOCK_STREAM, &root);
    assert_int_equal(pm_sock_bind(h, k, &six, &root), -EADDRINUSE);
    pm_host_destroy(h);
}

static void test_listen_accept(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int u = pm_sock_socket(h, PM_AF_INET, PM_SOCK_DGRAM, &root);
    assert_int_equal(pm_sock_listen(h, u, 5, &root), -EOPNOTSUPP);
    assert_int_equal(pm_sock_accept(h, u, NULL, &root), -EOPNOTSUPP);
    int t = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    assert_int_equal(pm_sock_accept(h, t, NULL, &root), -EINVAL);
    assert_int_equal(pm_sock_listen(h, t, 5, &user), 0); /* autobind */
    pm_sockaddr got;
    pm_sock_getsockname(h, t, &got);
    assert_true(got.port >= 32768);
    assert_int_equal(pm_sock_listen(h, t, 50, &user), 0); /* again: backlog only */
    assert_int_equal(pm_sock_accept(h, t, NULL, &root), -EAGAIN);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_ACCEPTCONN), 1);
    pm_sockaddr dst = sa4(0x0a000002, 80);
    assert_int_equal(pm_sock_connect(h, t, &dst, &root, 0), -EISCONN);
    assert_int_equal(pm_sock_poll(h, t), 0u);
    pm_host_destroy(h);
}

static void test_connect_errors(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int t = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr d6 = sa6any(80);
    assert_int_equal(pm_sock_connect(h, t, &d6, &root, 0), -EAFNOSUPPORT);
    int v6 = pm_sock_socket(h, PM_AF_INET6, PM_SOCK_STREAM, &root);
    assert_int_equal(hp_iopt(h, v6, PM_SOL_IPV6, PM_IPV6_V6ONLY, 1), 0);
    pm_sockaddr mapped = {PM_AF_INET6, 80, pm_ip4(0x0a000002)};
    assert_int_equal(pm_sock_connect(h, v6, &mapped, &root, 0), -ENETUNREACH);
    /* connect picks an ephemeral port within IP_LOCAL_PORT_RANGE */
    int r = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    assert_int_equal(hp_iopt(h, r, PM_SOL_IP, PM_IP_LOCAL_PORT_RANGE, (int)(40010u << 16 | 40000u)),
                     0);
    assert_int_equal(hp_gopt(h, r, PM_SOL_IP, PM_IP_LOCAL_PORT_RANGE),
                     (int)(40010u << 16 | 40000u));
    assert_int_equal(hp_iopt(h, r, PM_SOL_IP, PM_IP_LOCAL_PORT_RANGE, (int)(40000u << 16 | 40010u)),
                     -EINVAL);
    pm_sockaddr dst = sa4(0x0a000002, 80);
    assert_int_equal(pm_sock_connect(h, r, &dst, &root, 0), -EINPROGRESS);
    pm_sockaddr me;
    pm_sock_getsockname(h, r, &me);
    assert_true(me.port >= 40000 && me.port <= 40010);
    assert_true(pm_ip_eq(&me.ip, &(pm_ip){0}) == false);
    assert_int_equal(pm_sock_getpeername(h, r, &me), -ENOTCONN); /* SYN_SENT */
    assert_int_equal(pm_sock_connect(h, r, &dst, &root, 0), -EALREADY);
    assert_int_equal(pm_sock_poll(h, r), 0u);
    /* eleven connects to one destination exhaust the eleven ports */
    int n = 1;
    for (;; n++) {
        int x = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
        hp_iopt(h, x, PM_SOL_IP, PM_IP_LOCAL_PORT_RANGE, (int)(40010u << 16 | 40000u));
        int e = pm_sock_connect(h, x, &dst, &root, 0);
        if (e != -EINPROGRESS) {
            assert_int_equal(e, -EADDRNOTAVAIL);
            break;
        }
    }
    assert_int_equal(n, 11);
    /* IP_BIND_ADDRESS_NO_PORT: bind keeps the address, connect picks the port */
    int np = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    assert_int_equal(hp_iopt(h, np, PM_SOL_IP, PM_IP_BIND_ADDRESS_NO_PORT, 1), 0);
    pm_sockaddr a = sa4(0x0a000001, 0);
    assert_int_equal(pm_sock_bind(h, np, &a, &root), 0);
    pm_sock_getsockname(h, np, &me);
    assert_int_equal(me.port, 0);
    assert_true(pm_ip_eq(&me.ip, &a.ip));
    pm_sockaddr dst2 = sa4(0x0a000003, 443);
    assert_int_equal(pm_sock_connect(h, np, &dst2, &root, 0), -EINPROGRESS);
    pm_sock_getsockname(h, np, &me);
    assert_true(me.port >= 32768);
    pm_host_destroy(h);
}

static void test_data_calls_unconnected(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int t = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    char b[8] = {0};
    assert_int_equal(pm_sock_send(h, t, b, sizeof b, 0), -EPIPE); /* sk_stream_wait_connect */
    assert_int_equal(pm_sock_recv(h, t, b, sizeof b, 0), -ENOTCONN);
    assert_int_equal(pm_sock_shutdown(h, t, PM_SHUT_WR, 0), -ENOTCONN);
    assert_int_equal(pm_sock_shutdown(h, t, 7, 0), -EINVAL);
    pm_sockaddr p;
    assert_int_equal(pm_sock_getpeername(h, t, &p), -ENOTCONN);
    assert_int_equal(pm_sock_poll(h, t), (unsigned)(PM_POLLOUT | PM_POLLHUP)); /* tcp_poll CLOSE */
    assert_int_equal(pm_sock_send(h, 55, b, 1, 0), -EBADF);
    int u = pm_sock_socket(h, PM_AF_INET, PM_SOCK_DGRAM, &root);
    assert_int_equal(pm_sock_send(h, u, b, 1, 0), -EDESTADDRREQ);
    assert_int_equal(pm_sock_recv(h, u, b, 1, 0), -EAGAIN);
    assert_int_equal(pm_sock_shutdown(h, u, PM_SHUT_RD, 0), -ENOTCONN);
    assert_int_equal(pm_sock_poll(h, u), (unsigned)PM_POLLOUT);
    pm_host_destroy(h);
}

static void test_sockopts(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int t = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    int u = pm_sock_socket(h, PM_AF_INET, PM_SOCK_DGRAM, &root);
    short sh = 1;
    assert_int_equal(pm_sock_setsockopt(h, t, PM_SOL_SOCKET, PM_SO_REUSEADDR, &sh, sizeof sh),
                     -EINVAL);
    assert_int_equal(hp_iopt(h, t, PM_SOL_SOCKET, 999, 1), -ENOPROTOOPT);
    assert_int_equal(hp_iopt(h, t, 77, 1, 1), -ENOPROTOOPT);
    assert_int_equal(hp_iopt(h, t, PM_SOL_SOCKET, PM_SO_REUSEADDR, 1), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_REUSEADDR), 1);
    assert_int_equal(hp_iopt(h, t, PM_SOL_SOCKET, PM_SO_REUSEPORT, 1), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_REUSEPORT), 1);
    /* SO_RCVBUF / SO_SNDBUF: Linux doubles, clamps to rmem_max, floors */
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_RCVBUF), 131072);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_SNDBUF), 16384);
    assert_int_equal(hp_iopt(h, t, PM_SOL_SOCKET, PM_SO_RCVBUF, 65536), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_RCVBUF), 131072);
    assert_int_equal(hp_iopt(h, t, PM_SOL_SOCKET, PM_SO_RCVBUF, 1), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_RCVBUF), 2304);
    assert_int_equal(hp_iopt(h, t, PM_SOL_SOCKET, PM_SO_SNDBUF, 1 << 30), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_SNDBUF), 2 * 212992);
    /* SO_LINGER */
    pm_linger l = {1, 0};
    assert_int_equal(pm_sock_setsockopt(h, t, PM_SOL_SOCKET, PM_SO_LINGER, &l, 4), -EINVAL);
    assert_int_equal(pm_sock_setsockopt(h, t, PM_SOL_SOCKET, PM_SO_LINGER, &l, sizeof l), 0);
    pm_linger g = {0, 9};
    size_t len = sizeof g;
    assert_int_equal(pm_sock_getsockopt(h, t, PM_SOL_SOCKET, PM_SO_LINGER, &g, &len), 0);
    assert_int_equal(g.l_onoff, 1);
    assert_int_equal(g.l_linger, 0);
    /* TCP options */
    assert_int_equal(hp_gopt(h, t, PM_SOL_TCP, PM_TCP_NODELAY), 0);
    assert_int_equal(hp_iopt(h, t, PM_SOL_TCP, PM_TCP_NODELAY, 1), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_TCP, PM_TCP_NODELAY), 1);
    assert_int_equal(hp_gopt(h, t, PM_SOL_TCP, PM_TCP_MAXSEG), 536); /* TCP_MSS_DEFAULT */
    assert_int_equal(hp_iopt(h, t, PM_SOL_TCP, PM_TCP_MAXSEG, 10), -EINVAL);
    assert_int_equal(hp_iopt(h, t, PM_SOL_TCP, PM_TCP_MAXSEG, 1000), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_TCP, PM_TCP_MAXSEG), 1000);
    assert_int_equal(hp_iopt(h, u, PM_SOL_TCP, PM_TCP_NODELAY, 1), -ENOPROTOOPT);
    /* IP options */
    assert_int_equal(hp_iopt(h, t, PM_SOL_IP, PM_IP_BIND_ADDRESS_NO_PORT, 1), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_IP, PM_IP_BIND_ADDRESS_NO_PORT), 1);
    assert_int_equal(hp_iopt(h, t, PM_SOL_IPV6, PM_IPV6_V6ONLY, 1), -ENOPROTOOPT);
    int s6 = pm_sock_socket(h, PM_AF_INET6, PM_SOCK_STREAM, &root);
    assert_int_equal(hp_gopt(h, s6, PM_SOL_IPV6, PM_IPV6_V6ONLY), 0);
    assert_int_equal(hp_iopt(h, s6, PM_SOL_IPV6, PM_IPV6_V6ONLY, 1), 0);
    assert_int_equal(hp_gopt(h, s6, PM_SOL_IPV6, PM_IPV6_V6ONLY), 1);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_ERROR), 0);
    pm_host_destroy(h);

    /* FreeBSD keeps SO_RCVBUF as asked */
    h = mk(PM_PERS_FREEBSD);
    t = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    assert_int_equal(hp_iopt(h, t, PM_SOL_SOCKET, PM_SO_RCVBUF, 65536), 0);
    assert_int_equal(hp_gopt(h, t, PM_SOL_SOCKET, PM_SO_RCVBUF), 65536);
    pm_host_destroy(h);
}

static void test_knobs(void **state)
{
    (void)state;
    pm_host *h = mk(PM_PERS_LINUX);
    int64_t v;
    assert_int_equal(pm_host_knob_get(h, "msl_ms", &v), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(pm_host_knob_set(h, "no_such_knob", 1, 0), -ENOENT);
    assert_int_equal(pm_host_knob_set(h, "local_port_range", 50000, 50001), 0);
    assert_int_equal(pm_host_knob_get(h, "ephemeral_first", &v), 0);
    assert_int_equal(v, 50000);
    int t = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr z = sa4(0, 0);
    assert_int_equal(pm_sock_bind(h, t, &z, &root), 0);
    pm_sockaddr me;
    pm_sock_getsockname(h, t, &me);
    assert_true(me.port == 50000 || me.port == 50001);
    assert_int_equal(pm_host_knob_set(h, "unprivileged_port_start", 80, 0), 0);
    int u = pm_sock_socket(h, PM_AF_INET, PM_SOCK_STREAM, &user);
    pm_sockaddr p = sa4(0, 100);
    assert_int_equal(pm_sock_bind(h, u, &p, &user), 0);
    pm_host_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_listen_accept),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_data_calls_unconnected),
        cmocka_unit_test(test_sockopts),
        cmocka_unit_test(test_knobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
