/* Wire benchmark: the Internet checksum (the per-byte cost of every packet
 * in and out) against DPDK's rte_raw_cksum, and whole-packet parse and emit
 * rates. Medians of repeated runs; the last line is the JSON figure:
 * nanoseconds to checksum 1500 bytes, DPDK's in the same run, the ratio
 * (DPDK's is inline header code, built here with our flags).
 * --quick: fewer repetitions (< 30 s); --json: JSON lines only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "bench.h"
#include "portmux/wire.h"

#ifdef PM_HAVE_DPDK
#include <rte_ip.h>
#define PEER "dpdk rte_raw_cksum"
#else
#define PEER "rfc1071 byte loop"
#endif

static volatile uint32_t sink;

/* CPU time of this thread: on a shared, loaded machine wall time mostly
 * measures the other processes. */
static double now_ns(void)
{
    return bench_now_ns(CLOCK_THREAD_CPUTIME_ID);
}

static uint32_t byte_loop(const uint8_t *p, size_t len)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1) s += (uint32_t)p[len - 1] << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return s;
}

enum { OURS, PEER_IMPL };

/* ns per call of one checksum over len bytes, median of reps. */
static double time_csum(int which, const uint8_t *buf, size_t len, int reps, long iters)
{
    double v[64];
    for (int r = 0; r < reps; r++) {
        double t0 = now_ns();
        uint32_t acc = 0;
        for (long i = 0; i < iters; i++) {
            const uint8_t *p = buf + (i & 7) * 2; /* vary alignment a little */
            if (which == OURS)
                acc += pm_csum_add(0, p, len);
            else
#ifdef PM_HAVE_DPDK
                acc += rte_raw_cksum(p, len);
#else
                acc += byte_loop(p, len);
#endif
        }
        sink = acc;
        v[r] = (now_ns() - t0) / (double)iters;
    }
    return bench_median(v, reps);
}

int main(int argc, char **argv)
{
    bool quick = false, json = false;
    if (bench_args(argc, argv, &quick, &json)) return 2;
    int reps = quick ? 5 : 15;
    long iters = quick ? 200000 : 1000000;
    static uint8_t buf[2048];
    pm_rng r;
    pm_rng_seed(&r, 7);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)pm_rng_next(&r);
    /* Same answers first: a benchmark of a wrong checksum means nothing. */
    for (size_t len = 0; len < 1600; len++) {
        uint32_t want = byte_loop(buf, len);
        if (pm_csum_fold(pm_csum_add(0, buf, len)) != pm_csum_fold(want)) {
            fprintf(stderr, "checksum mismatch at len %zu\n", len);
            return 1;
        }
#ifdef PM_HAVE_DPDK
        /* DPDK sums native words: its result is in memory order. */
        uint16_t d = rte_raw_cksum(buf, len);
        if (rte_be_to_cpu_16(d) != want && !(want == 0xffff && d == 0)) {
            fprintf(stderr, "peer checksum mismatch at len %zu\n", len);
            return 1;
        }
#endif
    }
    static const size_t sizes[] = {40, 64, 576, 1500};
    double ours1500 = 0, peer1500 = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t len = sizes[k];
        double a = time_csum(OURS, buf, len, reps, iters);
        double b = time_csum(PEER_IMPL, buf, len, reps, iters);
        if (len == 1500) ours1500 = a, peer1500 = b;
        if (json)
            printf("{\"bench\":\"wire_csum\",\"bytes\":%zu,\"ns\":%.1f,\"peer\":\"%s\","
                   "\"peer_ns\":%.1f,\"gbit_s\":%.2f}\n",
                   len, a, PEER, b, (double)len * 8 / a);
        else
            printf("checksum %4zu bytes: portmux %7.1f ns (%.2f Gbit/s), %s %7.1f ns\n", len, a,
                   (double)len * 8 / a, PEER, b);
    }

    /* Whole packets: parse and emit of a TCP segment with options. */
    pm_packet p;
    memset(&p, 0, sizeof p);
    p.ip.version = 4;
    p.ip.proto = PM_IPPROTO_TCP;
    p.ip.ttl = 64;
    p.ip.src = pm_ip4(0x0a000001);
    p.ip.dst = pm_ip4(0x0a000002);
    p.tcp.sport = 40000;
    p.tcp.dport = 80;
    p.tcp.flags = PM_TH_ACK;
    p.tcp.opts.present = 1u << PM_TCPOPT_TS;
    static const size_t plens[] = {0, 1448};
    for (size_t k = 0; k < 2; k++) {
        static uint8_t pkt[2048];
        p.tcp.payload = buf;
        p.tcp.payload_len = plens[k];
        int n = pm_packet_emit(&p, pkt, sizeof pkt);
        if (n <= 0) return 1;
        double pv[64], ev[64];
        long it = iters / 2;
        for (int rr = 0; rr < reps; rr++) {
            pm_packet q;
            double t0 = now_ns();
            for (long i = 0; i < it; i++) {
                if (pm_packet_parse(pkt, (size_t)n, &q, NULL)) return 1;
                sink += q.tcp.seq;
            }
            pv[rr] = (now_ns() - t0) / (double)it;
            t0 = now_ns();
            for (long i = 0; i < it; i++) {
                p.tcp.seq = (uint32_t)i;
                sink += (uint32_t)pm_packet_emit(&p, pkt, sizeof pkt);
            }
            ev[rr] = (now_ns() - t0) / (double)it;
        }
        double pm = bench_median(pv, reps), em = bench_median(ev, reps);
        if (json)
            printf("{\"bench\":\"wire_packet\",\"bytes\":%d,\"parse_ns\":%.1f,\"emit_ns\":%.1f}\n",
                   n, pm, em);
        else
            printf("TCP/IPv4 %4d bytes: parse %6.1f ns, emit %6.1f ns\n", n, pm, em);
    }
    printf("{\"bench\":\"wire\",\"metric\":\"csum_1500_ns\",\"value\":%.1f,\"peer\":\"%s\","
           "\"peer_value\":%.1f,\"ratio\":%.3f}\n",
           ours1500, PEER, peer1500, ours1500 / peer1500);
    return 0;
}
