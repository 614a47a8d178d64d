/* The Linux kernel as the peer (the oracle): the test enters a network
 * namespace of its own (unshare(CLONE_NEWNET): nothing leaves it), makes a
 * TUN device 10.9.0.1/24 there, and plays 10.9.0.2 with a portmux TCB
 * behind it, driven by real time. Kernel sockets on the other side:
 *   - kernel connect() to our listener, echo, kernel half-closes first;
 *   - the same through SYN cookies (Linux reads wscale/SACK from TSval);
 *   - our connect() to a kernel listener, both ways, we close first and
 *     end in TIME_WAIT;
 *   - kernel SO_LINGER {1,0} close -> our ECONNRESET; our linger abort ->
 *     kernel ECONNRESET.
 * Needs root and /dev/net/tun; otherwise it says why and exits 77. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "portmux/tcp.h"
#include "portmux/wire.h"
#include "unit/testlib/netns.h"

static int tun = -1;
static pm_tcp_stack st;
static pm_tcp tcb;
static bool have_tcb, listening, cookies;
static int drop_pct; /* seeded loss both ways */
static uint64_t drop_rng = 12345, dropped;
static bool lose(void)
{
    drop_rng = drop_rng * 6364136223846793005ull + 1442695040888963407ull;
    if ((int)((drop_rng >> 33) % 100) < drop_pct) {
        dropped++;
        return true;
    }
    return false;
}
static bool seen[PM_TCP_STATE_COUNT];
static bool have_tw; /* one compact TIME_WAIT entry */
static pm_tcp_tw tw;
static pm_tuple tw_tuple;
static int tw_verdicts[4];     /* states the TCB passed through */
static int kernel_syn_ws = -1; /* the window scale in the kernel's last SYN */
static uint16_t listen_port;
static unsigned events;
static uint8_t ring[2 * 65536]; /* send ring, then receive ring */
#define KERNEL_IP 0x0a090001u
#define OUR_IP    0x0a090002u

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int setup_netns(void)
{
    if (netns_enter() != 0 || (tun = netns_tun_open("pmtcp0", O_NONBLOCK)) < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "pmtcp0");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(KERNEL_IP);
    if (ioctl(s, SIOCSIFADDR, &ifr) != 0) return -1;
    a->sin_addr.s_addr = htonl(0xffffff00u);
    if (ioctl(s, SIOCSIFNETMASK, &ifr) != 0) return -1;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) return -1;
    close(s);
    return 0;
}

static void send_seg(const pm_ip_repr *ip, const pm_tcp_repr *seg)
{
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip = *ip;
    p.tcp = *seg;
    uint8_t buf[2048];
    int n = pm_packet_emit(&p, buf, sizeof buf);
    assert_true(n > 0);
    if (lose()) return;
    assert_int_equal(write(tun, buf, (size_t)n), n);
}

static void flush(uint64_t now)
{
    if (!have_tcb) return;
    pm_ip_repr ip;
    pm_tcp_repr seg;
    uint8_t buf[2048];
    while (pm_tcp_output(&st, &tcb, now, &ip, &seg, buf, sizeof buf) > 0) send_seg(&ip, &seg);
}

static void on_packet(const uint8_t *b, size_t n, uint64_t now)
{
    pm_packet p;
    if (pm_packet_parse(b, n, &p, NULL) != 0 || p.ip.proto != PM_IPPROTO_TCP) return;
    if (lose()) return;
    if (pm_ip_v4(&p.ip.dst) != OUR_IP) return;
    const pm_tcp_repr *seg = &p.tcp;
    if ((seg->flags & PM_TH_SYN) && pm_tcp_has(&seg->opts, PM_TCPOPT_WSCALE))
        kernel_syn_ws = seg->opts.wscale;
    pm_ip_repr oip;
    pm_tcp_repr oseg;
    if (have_tcb && tcb.state != PM_TCP_CLOSED && seg->dport == tcb.tuple.lport &&
        seg->sport == tcb.tuple.fport) {
        events |= pm_tcp_input(&st, &tcb, &p.ip, seg, now);
        seen[tcb.state] = true;
        flush(now);
        return;
    }
    uint32_t reopen_isn = 0;
    if (have_tw && seg->dport == tw_tuple.lport && seg->sport == tw_tuple.fport) {
        int v = pm_tcp_tw_input(&st, &tw, seg, now, &reopen_isn);
        tw_verdicts[v]++;
        if (v == PM_TCP_TW_ACK) {
            pm_tcp_tw_ack_reply(&st, &tw, &tw_tuple, now, &oip, &oseg);
            send_seg(&oip, &oseg);
        }
        if (v == PM_TCP_TW_KILL || v == PM_TCP_TW_SYN) have_tw = false;
        if (v != PM_TCP_TW_SYN) return;
        /* Linux: the SYN goes on to the listener, with the ISN given. */
        pm_tcp_init(&tcb, ring, 65536, 65536);
        assert_int_equal(pm_tcp_accept_syn(&st, &tcb, &p.ip, seg, reopen_isn, now), 0);
        have_tcb = true;
        flush(now);
        return;
    }
    if (listening && seg->dport == listen_port) {
        int k = pm_tcp_listen_classify(seg);
        if (k == PM_TCP_LISTEN_SYN && !cookies) {
            pm_tcp_init(&tcb, ring, 65536, 65536);
            assert_int_equal(pm_tcp_accept_syn(&st, &tcb, &p.ip, seg, 0, now), 0);
            have_tcb = true;
            listening = false;
            flush(now);
            return;
        }
        if (k == PM_TCP_LISTEN_SYN) {
            pm_tcp_cookie_reply(&st, &p.ip, seg, now, &oip, &oseg);
            send_seg(&oip, &oseg);
            return;
        }
        if (k == PM_TCP_LISTEN_ACK && cookies) {
            pm_tcp_synopts so;
            if (pm_tcp_cookie_check(&st, &p.ip, seg, now, &so) == 0) {
                pm_tcp_init(&tcb, ring, 65536, 65536);
                events |= pm_tcp_accept_cookie(&st, &tcb, &p.ip, seg, &so, now);
                have_tcb = true;
                listening = false;
                flush(now);
                return;
            }
        }
        if (k == PM_TCP_LISTEN_DROP) return;
    }
    if (pm_tcp_reset_reply(&p.ip, seg, &oip, &oseg)) send_seg(&oip, &oseg);
}

/* One turn of the event loop: timers, packets in, output. */
static void turn(int max_wait_ms)
{
    uint64_t now = now_us();
    if (have_tcb && pm_tcp_next_deadline(&tcb) <= now) {
        events |= pm_tcp_timer(&st, &tcb, now);
        flush(now);
    }
    int wait = max_wait_ms;
    if (have_tcb) {
        uint64_t d = pm_tcp_next_deadline(&tcb);
        if (d != UINT64_MAX) {
            uint64_t ms = d > now ? (d - now) / 1000 + 1 : 0;
            if (ms < (uint64_t)wait) wait = (int)ms;
        }
    }
    struct pollfd pfd = {.fd = tun, .events = POLLIN};
    poll(&pfd, 1, wait);
    uint8_t buf[4096];
    for (int i = 0; i < 256; i++) {
        ssize_t n = read(tun, buf, sizeof buf);
        if (n <= 0) break;
        on_packet(buf, (size_t)n, now_us());
    }
    flush(now_us());
}

static uint8_t pat(uint64_t i)
{
    return (uint8_t)(i * 7 + (i >> 9));
}

static int kernel_socket(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(s >= 0);
    return s;
}

static struct sockaddr_in sin_of(uint32_t ip, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(ip);
    a.sin_port = htons(port);
    return a;
}

static void reset_us(void)
{
    pm_tcp_stack_init(&st, NULL, (uint64_t)now_us());
    static pm_tcp_ext ext[2]; /* the TCB extension pool */
    pm_tcp_stack_set_ext(&st, ext, 2);
    memset(&tcb, 0, sizeof tcb);
    have_tcb = listening = cookies = have_tw = false;
    memset(tw_verdicts, 0, sizeof tw_verdicts);
    events = 0;
    memset(seen, 0, sizeof seen);
}

/* Kernel client, our echo server; the kernel half-closes first. */
static void echo_scenario(bool with_cookies, uint64_t total)
{
    reset_us();
    listening = true;
    cookies = with_cookies;
    listen_port = 7;
    int k = kernel_socket();
    struct sockaddr_in a = sin_of(OUR_IP, 7);
    assert_true(connect(k, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
    uint64_t ksent = 0, krcvd = 0;
    bool kshut = false, keof = false;
    uint8_t buf[16384];
    uint64_t deadline = now_us() + 40000000;
    while (!(keof && have_tcb && tcb.state == PM_TCP_CLOSED) && now_us() < deadline) {
        turn(5);
        /* Kernel side. */
        while (ksent < total) {
            size_t n = total - ksent < sizeof buf ? (size_t)(total - ksent) : sizeof buf;
            for (size_t i = 0; i < n; i++) buf[i] = pat(ksent + i);
            ssize_t w = send(k, buf, n, MSG_NOSIGNAL);
            if (w <= 0) break;
            ksent += (uint64_t)w;
        }
        if (ksent == total && !kshut) {
            assert_int_equal(shutdown(k, SHUT_WR), 0);
            kshut = true;
        }
        for (;;) {
            ssize_t r = recv(k, buf, sizeof buf, 0);
            if (r == 0) keof = true;
            if (r <= 0) break;
            for (ssize_t i = 0; i < r; i++) assert_int_equal(buf[i], pat(krcvd + (uint64_t)i));
            krcvd += (uint64_t)r;
        }
        /* Our side: echo, close after the peer's FIN once all is echoed. */
        if (have_tcb) {
            uint64_t now = now_us();
            uint32_t room = pm_tcp_writable(&tcb);
            if (room > sizeof buf) room = sizeof buf;
            long r = room ? pm_tcp_recv(&st, &tcb, buf, room, now) : 0;
            if (r > 0) assert_int_equal(pm_tcp_send(&st, &tcb, buf, (size_t)r, now), r);
            if (pm_tcp_eof(&tcb) && pm_tcp_readable(&tcb) == 0 && (tcb.state == PM_TCP_CLOSE_WAIT))
                events |= pm_tcp_close(&st, &tcb, false, now);
            flush(now);
        }
    }
    printf("echo%s: kernel sent %llu, got back %llu; our state %s, %llu segs in, %llu out, %llu "
           "rexmit, cookies ok %llu\n",
           with_cookies ? " (SYN cookies)" : "", (unsigned long long)ksent,
           (unsigned long long)krcvd, pm_tcp_state_name(tcb.state),
           (unsigned long long)st.stats.segs_in, (unsigned long long)st.stats.segs_out,
           (unsigned long long)st.stats.retrans_segs, (unsigned long long)st.stats.cookies_ok);
    assert_int_equal(krcvd, total);
    assert_true(keof);
    assert_int_equal(tcb.state, PM_TCP_CLOSED); /* LAST_ACK acked */
    assert_false(events & PM_TCP_EV_RESET);
    if (with_cookies) {
        assert_int_equal(st.stats.cookies_ok, 1);
        /* Linux sent TS, SACK-permitted and its wscale: the cookie kept them. */
        assert_int_equal(tcb.opts, PM_TCPO_TS | PM_TCPO_WS | PM_TCPO_SACK);
        assert_int_equal(tcb.snd_wscale, kernel_syn_ws);
    } else {
        assert_int_equal(tcb.opts, PM_TCPO_TS | PM_TCPO_WS | PM_TCPO_SACK);
    }
    close(k);
}

static void test_kernel_client_echo(void **state)
{
    (void)state;
    echo_scenario(false, 300000);
}

/* 3% loss each way: Linux's retransmissions and ours, out-of-order data. */
static void test_kernel_client_echo_lossy(void **state)
{
    (void)state;
    drop_pct = 3;
    echo_scenario(false, 200000);
    printf("lossy echo: %llu packets dropped, our retransmissions %llu, out-of-order %llu\n",
           (unsigned long long)dropped, (unsigned long long)st.stats.retrans_segs,
           (unsigned long long)st.stats.ooo_queued);
    assert_true(dropped > 0);
    drop_pct = 0;
}

static void test_kernel_client_cookies(void **state)
{
    (void)state;
    echo_scenario(true, 300000);
}

/* Our client to a kernel server; we close first and end in TIME_WAIT. */
static void test_we_connect(void **state)
{
    (void)state;
    reset_us();
    int l = kernel_socket();
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = sin_of(KERNEL_IP, 9000);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 8), 0);
    pm_tuple t = {.lport = 40000, .fport = 9000, .proto = PM_IPPROTO_TCP};
    t.laddr = pm_ip4(OUR_IP);
    t.faddr = pm_ip4(KERNEL_IP);
    pm_tcp_init(&tcb, ring, 65536, 65536);
    assert_int_equal(pm_tcp_connect(&st, &tcb, &t, 0, now_us()), 0);
    have_tcb = true;
    flush(now_us());
    int k = -1;
    const uint64_t total = 500000;
    uint64_t usent = 0, urcvd = 0, ksent = 0, krcvd = 0;
    bool kclosed = false, uclosed = false;
    uint8_t buf[16384];
    uint64_t deadline = now_us() + 20000000;
    while (!(tcb.state == PM_TCP_TIME_WAIT && kclosed) && now_us() < deadline) {
        turn(5);
        if (k < 0 && !kclosed) k = accept4(l, NULL, NULL, SOCK_NONBLOCK);
        /* Kernel: send total bytes, read ours, close at our EOF. */
        while (k >= 0 && ksent < total) {
            size_t n = total - ksent < sizeof buf ? (size_t)(total - ksent) : sizeof buf;
            for (size_t i = 0; i < n; i++) buf[i] = pat(ksent + i + 11);
            ssize_t w = send(k, buf, n, MSG_NOSIGNAL);
            if (w <= 0) break;
            ksent += (uint64_t)w;
        }
        while (k >= 0) {
            ssize_t r = recv(k, buf, sizeof buf, 0);
            if (r == 0) {
                close(k);
                k = -1;
                kclosed = true;
            }
            if (r <= 0) break;
            for (ssize_t i = 0; i < r; i++) assert_int_equal(buf[i], pat(krcvd + (uint64_t)i));
            krcvd += (uint64_t)r;
        }
        /* Us: send total bytes, read theirs, close when both done. */
        uint64_t now = now_us();
        while (usent < total) {
            size_t n = total - usent < sizeof buf ? (size_t)(total - usent) : sizeof buf;
            for (size_t i = 0; i < n; i++) buf[i] = pat(usent + i);
            long w = pm_tcp_send(&st, &tcb, buf, n, now);
            if (w <= 0) break;
            usent += (uint64_t)w;
        }
        for (;;) {
            long r = pm_tcp_recv(&st, &tcb, buf, sizeof buf, now);
            if (r <= 0) break;
            for (long i = 0; i < r; i++) assert_int_equal(buf[i], pat(urcvd + (uint64_t)i + 11));
            urcvd += (uint64_t)r;
        }
        if (usent == total && urcvd == total && !uclosed) {
            events |= pm_tcp_close(&st, &tcb, false, now);
            uclosed = true;
        }
        flush(now);
    }
    printf("we connect: sent %llu, got %llu; kernel got %llu; our state %s, rexmit %llu, srtt "
           "%u us, mss %u\n",
           (unsigned long long)usent, (unsigned long long)urcvd, (unsigned long long)krcvd,
           pm_tcp_state_name(tcb.state), (unsigned long long)st.stats.retrans_segs, tcb.srtt_us,
           tcb.mss);
    assert_int_equal(krcvd, total);
    assert_int_equal(urcvd, total);
    assert_int_equal(tcb.state, PM_TCP_TIME_WAIT);
    assert_int_equal(tcb.mss, 1460 - 12);
    assert_false(events & PM_TCP_EV_RESET);
    close(l);
}

/* Simultaneous open and simultaneous close with the kernel. */
static void test_simultaneous(void **state)
{
    (void)state;
    reset_us();
    int k = kernel_socket();
    struct sockaddr_in ka = sin_of(KERNEL_IP, 9100);
    assert_int_equal(bind(k, (struct sockaddr *)&ka, sizeof ka), 0);
    struct sockaddr_in ua = sin_of(OUR_IP, 9200);
    /* The kernel's SYN waits in the TUN queue while ours goes out. */
    assert_true(connect(k, (struct sockaddr *)&ua, sizeof ua) == 0 || errno == EINPROGRESS);
    pm_tuple t = {.lport = 9200, .fport = 9100, .proto = PM_IPPROTO_TCP};
    t.laddr = pm_ip4(OUR_IP);
    t.faddr = pm_ip4(KERNEL_IP);
    pm_tcp_init(&tcb, ring, 65536, 65536);
    assert_int_equal(pm_tcp_connect(&st, &tcb, &t, 0, now_us()), 0);
    have_tcb = true;
    flush(now_us());
    uint64_t deadline = now_us() + 5000000;
    while (tcb.state != PM_TCP_ESTABLISHED && now_us() < deadline) turn(5);
    bool saw_syn_rcvd = seen[PM_TCP_SYN_RCVD];
    assert_true(saw_syn_rcvd);
    assert_int_equal(tcb.state, PM_TCP_ESTABLISHED);
    struct pollfd pfd = {.fd = k, .events = POLLOUT};
    while (now_us() < deadline) {
        turn(2);
        if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) break;
    }
    int err = -1;
    socklen_t el = sizeof err;
    getsockopt(k, SOL_SOCKET, SO_ERROR, &err, &el);
    assert_int_equal(err, 0); /* the kernel is connected too */
    assert_int_equal(send(k, "hi", 2, 0), 2);
    while (pm_tcp_readable(&tcb) < 2 && now_us() < deadline) turn(5);
    char b[4];
    assert_int_equal(pm_tcp_recv(&st, &tcb, b, sizeof b, now_us()), 2);
    /* Both close before either FIN arrives: CLOSING, then TIME_WAIT. */
    shutdown(k, SHUT_WR);
    events |= pm_tcp_close(&st, &tcb, false, now_us());
    flush(now_us());
    while (tcb.state != PM_TCP_TIME_WAIT && now_us() < deadline) turn(5);
    bool saw_closing = seen[PM_TCP_CLOSING];
    printf("simultaneous: open via SYN_RCVD %d, close via CLOSING %d, state %s\n", saw_syn_rcvd,
           saw_closing, pm_tcp_state_name(tcb.state));
    assert_true(saw_closing);
    assert_int_equal(tcb.state, PM_TCP_TIME_WAIT);
    assert_int_equal(st.stats.challenge_acks, 0);
    close(k);
}

/* We close first as the server: TIME_WAIT goes compact; the kernel client
 * reconnects from the same port and its SYN (newer timestamp) reopens it. */
static void test_time_wait_reopen(void **state)
{
    (void)state;
    reset_us();
    listening = true;
    listen_port = 7;
    struct sockaddr_in a = sin_of(OUR_IP, 7);
    struct sockaddr_in ka = sin_of(KERNEL_IP, 5555);
    int one = 1;
    int k = kernel_socket();
    setsockopt(k, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(k, (struct sockaddr *)&ka, sizeof ka), 0);
    assert_true(connect(k, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
    uint64_t deadline = now_us() + 10000000;
    while (!(have_tcb && tcb.state == PM_TCP_ESTABLISHED) && now_us() < deadline) turn(5);
    for (int i = 0; i < 10; i++) turn(1);
    events |= pm_tcp_close(&st, &tcb, false, now_us());
    flush(now_us());
    char c;
    while (now_us() < deadline) {
        turn(5);
        if (recv(k, &c, 1, 0) == 0) break;
    }
    close(k);
    while (tcb.state != PM_TCP_TIME_WAIT && now_us() < deadline) turn(5);
    assert_int_equal(tcb.state, PM_TCP_TIME_WAIT);
    pm_tcp_tw_export(&tcb, &tw);
    tw_tuple = tcb.tuple;
    have_tw = true;
    have_tcb = false;
    for (int i = 0; i < 20; i++) turn(2); /* the kernel's last ACK, if late */
    /* Same 4-tuple again, while we hold TIME_WAIT. */
    k = kernel_socket();
    setsockopt(k, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(k, (struct sockaddr *)&ka, sizeof ka), 0);
    assert_true(connect(k, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
    while (!(have_tcb && tcb.state == PM_TCP_ESTABLISHED) && now_us() < deadline) turn(5);
    printf("TIME_WAIT reopen: verdicts drop %d ack %d kill %d syn %d; new state %s, iss %u "
           "(tw snd_nxt %u)\n",
           tw_verdicts[0], tw_verdicts[1], tw_verdicts[2], tw_verdicts[3],
           pm_tcp_state_name(tcb.state), tcb.iss, tw.snd_nxt);
    assert_int_equal(tw_verdicts[PM_TCP_TW_SYN], 1);
    assert_int_equal(tcb.state, PM_TCP_ESTABLISHED);
    assert_int_equal(tcb.iss, tw.snd_nxt + 65537);
    assert_int_equal(send(k, "again", 5, 0), 5);
    while (pm_tcp_readable(&tcb) < 5 && now_us() < deadline) turn(5);
    char b[8];
    assert_int_equal(pm_tcp_recv(&st, &tcb, b, sizeof b, now_us()), 5);
    close(k);
}

/* RSTs both ways. */
static void test_resets(void **state)
{
    (void)state;
    reset_us();
    listening = true;
    listen_port = 8;
    int k = kernel_socket();
    struct sockaddr_in a = sin_of(OUR_IP, 8);
    assert_true(connect(k, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
    uint64_t deadline = now_us() + 5000000;
    while (!(have_tcb && tcb.state == PM_TCP_ESTABLISHED) && now_us() < deadline) turn(5);
    assert_int_equal(tcb.state, PM_TCP_ESTABLISHED);
    for (int i = 0; i < 20; i++) turn(1); /* the kernel sees the handshake through */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(k, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(k);
    while (tcb.state != PM_TCP_CLOSED && now_us() < deadline) turn(5);
    assert_int_equal(tcb.state, PM_TCP_CLOSED);
    assert_true(events & PM_TCP_EV_RESET);
    assert_int_equal(pm_tcp_error(&tcb), -ECONNRESET);

    /* Our abortive close: the kernel's recv() says ECONNRESET. */
    reset_us();
    listening = true;
    listen_port = 8;
    k = kernel_socket();
    assert_true(connect(k, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
    deadline = now_us() + 5000000;
    while (!(have_tcb && tcb.state == PM_TCP_ESTABLISHED) && now_us() < deadline) turn(5);
    for (int i = 0; i < 20; i++) turn(1);
    assert_int_equal(pm_tcp_close(&st, &tcb, true, now_us()), PM_TCP_EV_CLOSED);
    flush(now_us());
    int err = 0;
    while (now_us() < deadline) {
        char c;
        ssize_t r = recv(k, &c, 1, 0);
        if (r < 0 && errno != EAGAIN) {
            err = errno;
            break;
        }
        turn(5);
    }
    assert_int_equal(err, ECONNRESET);
    close(k);
}

int main(void)
{
    if (setup_netns() != 0) return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_client_echo),
        cmocka_unit_test(test_kernel_client_cookies),
        cmocka_unit_test(test_kernel_client_echo_lossy),
        cmocka_unit_test(test_we_connect),
        cmocka_unit_test(test_simultaneous),
        cmocka_unit_test(test_time_wait_reopen),
        cmocka_unit_test(test_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
