/* Two portmux hosts wired back to back in memory (each host's output is
 * the other's input, no loss): connections per second (connect, accept,
 * a close on each side), bulk throughput over one connection, packets per
 * second through pm_host_input for established data segments, and memory
 * per established connection without its data rings. The peer is lwIP
 * (Debian liblwip 2.1.3) in the same run where bench/host.cmake finds it:
 * one lwIP stack talking to itself over its loopback path with the raw
 * API, the like-for-like harness lwIP allows (see docs/host.md).
 *
 *   build/bench/host [--json] [--quick]
 *
 * Figures are medians of repeated runs. The last line is one JSON object:
 * conn_per_s, throughput_gbps, input_mpps, bytes_per_connection, and the
 * lwIP figures with the ratios when measured. */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "host/host_internal.h"
#include "portmux/host.h"
#include "portmux/socket.h"

static double wall(void)
{
    return bench_now_s(CLOCK_MONOTONIC);
}

#ifdef PM_HAVE_LWIP
#include "host_lwip.inc"
#endif

/* ---- Two hosts ----------------------------------------------------------- */

static const pm_cred root = {0, true};
static pm_host *A, *B;
static uint64_t vnow;
static double in_time;
static uint64_t in_data_pkts;
static bool time_input;

static void make(uint32_t socks, uint32_t tcbs, uint32_t ring)
{
    for (int i = 0; i < 2; i++) {
        pm_host_config c;
        pm_host_config_default(&c, PM_PERS_LINUX);
        c.seed = 99u + (unsigned)i;
        c.max_sockets = socks;
        c.max_tcbs = tcbs;
        c.max_tw = 8192;
        c.max_sock_ext = 64; /* side records: listeners, bound sockets, options */
        c.tcp_sndbuf = c.tcp_rcvbuf = ring;
        c.out_packets = 1024;
        c.n_local = 1;
        c.local[0] = pm_ip4(0x0a000001u + (uint32_t)i);
        if (pm_host_create(i ? &B : &A, &c)) {
            fprintf(stderr, "pm_host_create failed\n");
            exit(1);
        }
    }
    vnow = 1000000;
}

static void destroy(void)
{
    pm_host_destroy(A);
    pm_host_destroy(B);
}

/* Moves every queued packet across, both ways, until both are quiet. */
static void exchange(void)
{
    static uint8_t buf[PM_HOST_MIN_OUT];
    for (int moved = 1; moved;) {
        moved = 0;
        int n;
        while ((n = pm_host_output(A, buf, sizeof buf, vnow)) > 0) {
            if (time_input) {
                double t0 = wall();
                pm_host_input(B, buf, (size_t)n, vnow);
                in_time += wall() - t0;
                in_data_pkts++;
            } else {
                pm_host_input(B, buf, (size_t)n, vnow);
            }
            moved = 1;
        }
        while ((n = pm_host_output(B, buf, sizeof buf, vnow)) > 0) {
            pm_host_input(A, buf, (size_t)n, vnow);
            moved = 1;
        }
    }
}

static double run_conns(uint64_t total)
{
    make(1024, 512, 4096);
    int l = pm_sock_socket(B, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr any = {PM_AF_INET, 80, pm_ip_any4};
    pm_sock_bind(B, l, &any, &root);
    pm_sock_listen(B, l, 1024, &root);
    pm_sockaddr dst = {PM_AF_INET, 80, pm_ip4(0x0a000002)};
    uint64_t done = 0;
    double t0 = wall();
    while (done < total) {
        int c[64], k = 0;
        for (; k < 64; k++) {
            c[k] = pm_sock_socket(A, PM_AF_INET, PM_SOCK_STREAM, &root);
            if (pm_sock_connect(A, c[k], &dst, &root, vnow) != -EINPROGRESS) {
                fprintf(stderr, "connect failed\n");
                exit(1);
            }
        }
        exchange();
        int s;
        while ((s = pm_sock_accept(B, l, NULL, &root)) >= 0) {
            pm_sock_close(B, s, vnow);
            done++;
        }
        exchange();
        for (int i = 0; i < k; i++) pm_sock_close(A, c[i], vnow);
        vnow += 1000;
        exchange();
        pm_host_advance(A, vnow);
        pm_host_advance(B, vnow);
    }
    double dt = wall() - t0;
    pm_host_stats s;
    pm_host_get_stats(A, &s);
    if (s.connects < total) fprintf(stderr, "only %llu connects\n", (unsigned long long)s.connects);
    destroy();
    return (double)total / dt;
}

static double run_bulk(uint64_t bytes, double *mpps)
{
    make(16, 4, 1 << 20);
    int l = pm_sock_socket(B, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr any = {PM_AF_INET, 5001, pm_ip_any4};
    pm_sock_bind(B, l, &any, &root);
    pm_sock_listen(B, l, 4, &root);
    int c = pm_sock_socket(A, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr dst = {PM_AF_INET, 5001, pm_ip4(0x0a000002)};
    pm_sock_connect(A, c, &dst, &root, vnow);
    exchange();
    int s = pm_sock_accept(B, l, NULL, &root);
    static uint8_t chunk[1 << 16], sink[1 << 16];
    memset(chunk, 0x5a, sizeof chunk);
    uint64_t sent = 0, rcvd = 0;
    in_time = 0;
    in_data_pkts = 0;
    time_input = true;
    double t0 = wall();
    while (rcvd < bytes) {
        while (sent < bytes) {
            long n = pm_sock_send(A, c, chunk, sizeof chunk, vnow);
            if (n <= 0) break;
            sent += (uint64_t)n;
        }
        exchange();
        for (long n; (n = pm_sock_recv(B, s, sink, sizeof sink, vnow)) > 0;) rcvd += (uint64_t)n;
        exchange();
        vnow += 100;
        pm_host_advance(A, vnow);
        pm_host_advance(B, vnow);
    }
    double dt = wall() - t0;
    time_input = false;
    *mpps = (double)in_data_pkts / in_time / 1e6;
    destroy();
    return (double)bytes * 8 / dt / 1e9;
}

/* Established connections held (pm_host_conn_mem_get): the socket slot,
 * the TCB, their share of the established table, of the side-record pool,
 * of the TCB extension pool (default size) and of the port owners. */
static double run_memory(uint32_t n, pm_host_conn_mem *m)
{
    make(2 * n + 16, n + 16, 1024);
    int l = pm_sock_socket(B, PM_AF_INET, PM_SOCK_STREAM, &root);
    pm_sockaddr any = {PM_AF_INET, 80, pm_ip_any4};
    pm_sock_bind(B, l, &any, &root);
    pm_sock_listen(B, l, 4096, &root);
    pm_sockaddr dst = {PM_AF_INET, 80, pm_ip4(0x0a000002)};
    for (uint32_t i = 0; i < n; i++) {
        int c = pm_sock_socket(A, PM_AF_INET, PM_SOCK_STREAM, &root);
        pm_sock_connect(A, c, &dst, &root, vnow);
        if (i % 256 == 255) {
            exchange();
            while (pm_sock_accept(B, l, NULL, &root) >= 0) {
            }
        }
    }
    exchange();
    while (pm_sock_accept(B, l, NULL, &root) >= 0) {
    }
    pm_host_conn_mem_get(A, m);
    bench_say("memory: %llu established on A: socket %zu B + TCB %zu B + demux %.1f B + side "
              "records %.1f B + TCB extensions %.1f B + port owners %.1f B\n",
              (unsigned long long)m->established, m->socket, m->tcb, m->demux, m->side, m->tcp_ext,
              m->ports);
    destroy();
    return m->total;
}

int main(int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            bench_quiet = 1;
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: %s [--json] [--quick]\n", argv[0]);
            return 2;
        }
    }
    int reps = quick ? 3 : 5;
    uint64_t nconn = quick ? 20000 : 100000;
    uint64_t bulk = (quick ? 256ull : 1024ull) << 20;
    double cps[8], gbps[8], mpps[8];
#ifdef PM_HAVE_LWIP
    /* lwIP keeps TIME_WAIT PCBs on a list every segment scans (120 s of its
     * timer ticks, one tick per round here): a tenth of the connections
     * keeps the run short; its TIME_WAIT list is then that long at most.
     * Runs alternate between the two stacks, so load on the machine falls
     * on both alike. */
    double lc[8], lg[8], lm[8];
    uint64_t lconn = nconn / 10;
#endif
    for (int r = 0; r < reps; r++) {
        cps[r] = run_conns(nconn);
        gbps[r] = run_bulk(bulk, &mpps[r]);
        bench_say("run %d: %.0f conn/s, %.2f Gbit/s, %.2f Mpps input\n", r, cps[r], gbps[r],
                  mpps[r]);
#ifdef PM_HAVE_LWIP
        lc[r] = lwip_conns(lconn);
        lg[r] = lwip_bulk(bulk, &lm[r]);
        bench_say("lwip run %d: %.0f conn/s, %.2f Gbit/s, %.2f Mpps input\n", r, lc[r], lg[r],
                  lm[r]);
#endif
    }
    pm_host_conn_mem mb;
    double mem = run_memory(quick ? 10000 : 20000, &mb);
    double c = bench_median(cps, (size_t)(reps)), g = bench_median(gbps, (size_t)(reps)),
           m = bench_median(mpps, (size_t)(reps));
    bench_say("portmux: %.0f connections/s, %.2f Gbit/s bulk, %.2f Mpps established input, %.0f B "
              "per connection (target 256)\n",
              c, g, m, mem);
    bench_sum[bench_sumlen++] = '{';
    bench_sum_add("bench", "\"host\"");
    bench_sum_add("quick", quick ? "true" : "false");
    bench_sum_num("conn_per_s", c);
    bench_sum_num("throughput_gbps", g);
    bench_sum_num("input_mpps", m);
    bench_sum_num("bytes_per_connection", mem);
    bench_sum_add("bytes_breakdown",
                  "{\"socket\":%zu,\"tcb\":%zu,\"demux\":%.1f,\"side_records\":%.1f,"
                  "\"tcp_ext\":%.1f,\"port_owners\":%.1f}",
                  mb.socket, mb.tcb, mb.demux, mb.side, mb.tcp_ext, mb.ports);
    bench_sum_add("bytes_target", "256");
#ifdef PM_HAVE_LWIP
    double xc = bench_median(lc, (size_t)(reps)), xg = bench_median(lg, (size_t)(reps)),
           xm = bench_median(lm, (size_t)(reps));
    bench_say("lwIP:    %.0f connections/s, %.2f Gbit/s bulk, %.2f Mpps input, tcp_pcb %zu B\n", xc,
              xg, xm, lwip_pcb_size());
    bench_sum_add("peer", "\"lwIP 2.1.3 (Debian liblwip), one stack over its loopback, raw API\"");
    bench_sum_num("lwip_conn_per_s", xc);
    bench_sum_add("lwip_conns_measured", "%llu", (unsigned long long)lconn);
    bench_sum_num("lwip_throughput_gbps", xg);
    bench_sum_num("lwip_input_mpps", xm);
    bench_sum_add("lwip_bytes_per_connection", "%zu", lwip_pcb_size());
    bench_sum_num("ratio_conn_per_s", c / xc);
    bench_sum_num("ratio_throughput", g / xg);
    bench_sum_num("ratio_input_mpps", m / xm);
#else
    bench_sum_add("peer", "\"none: lwIP not found at build time\"");
#endif
    bench_sum[bench_sumlen++] = '}';
    bench_sum[bench_sumlen] = 0;
    printf("%s\n", bench_sum);
    return 0;
}
