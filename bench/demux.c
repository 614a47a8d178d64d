/* Established-table lookups: portmux's pm_ehash against DPDK's rte_hash
 * (rte_hash_lookup_bulk) on the same keys in the same run, a linear PCB
 * list like lwIP's at 10k, and an inline open-addressing layout (one of the
 * alternatives measured for docs/demux.md). Also memory per established
 * and per TIME_WAIT entry from the allocator's accounting (mallinfo2), RSS,
 * and insert/delete throughput. Figures are medians of repeated runs.
 *
 *   build/bench/demux [--json] [--quick]
 *
 * The last line is one JSON object with every figure; ratio_vs_rte_hash is
 * rte_hash's ns/lookup over ours, batched, uniform hits, at the largest size. */
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "bench.h"
#include "demux/tuple_hash.h"
#include "portmux/demux.h"

#ifdef PM_HAVE_RTE_HASH
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_log.h>
#endif

/* Keys per batched call (DPDK: RTE_HASH_LOOKUP_BULK_MAX is 64; NIC bursts are 32). */
#ifndef BATCH
#define BATCH 32
#endif

/* ---- output ------------------------------------------------------------ */

/* ---- time, memory -------------------------------------------------------- */

static double now_s(void)
{
    return bench_now_s(CLOCK_THREAD_CPUTIME_ID); /* CPU time: the machine is shared */
}

static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

/* ---- keys ---------------------------------------------------------------- */

/* Connections to a server with a few local addresses: 3 IPv4, 1 IPv6;
 * one in eight is IPv6. Misses differ from every hit in lport. */
static void make_key(pm_rng *r, pm_tuple *k, int miss)
{
    static const uint32_t l4[3] = {0x0a000001, 0x0a000002, 0xc0000201};
    memset(k, 0, sizeof *k);
    uint64_t x = pm_rng_next(r);
    if ((x & 7) == 0) {
        pm_ip_parse("2001:db8::1", &k->laddr, NULL);
        k->faddr.b[0] = 0x20;
        k->faddr.b[1] = 0x01;
        uint64_t y = pm_rng_next(r);
        memcpy(k->faddr.b + 8, &y, 8);
    } else {
        k->laddr = pm_ip4(l4[(x >> 3) % 3]);
        k->faddr = pm_ip4((uint32_t)(x >> 32));
    }
    k->lport = miss ? 8443 : 443;
    k->fport = (uint16_t)(1024 + (x >> 8) % 64000);
    k->proto = PM_IPPROTO_TCP;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Query positions: uniform, or Zipf(0.99) ranks scattered over the keys. */
static void make_queries(pm_rng *r, uint32_t *q, size_t nq, uint32_t n, int zipf)
{
    const double s = 0.99, a = pow((double)n, 1 - s);
    for (size_t i = 0; i < nq; i++) {
        if (!zipf) {
            q[i] = pm_rng_below(r, n);
            continue;
        }
        double u = (double)(pm_rng_next(r) >> 11) * 0x1.0p-53;
        double x = pow(((a - 1) * u + 1), 1 / (1 - s)); /* inverse CDF of x^-s on [1, n] */
        uint64_t rank = (uint64_t)x;
        if (rank < 1) rank = 1;
        if (rank > n) rank = n;
        q[i] = (uint32_t)(mix64(rank * 0x9e3779b97f4a7c15ULL) % n);
    }
}

/* ---- the lwIP-like list: one PCB after another ---------------------------- */

typedef struct list_pcb {
    pm_tuple k;
    uint32_t handle;
    struct list_pcb *next;
} list_pcb;

static uint32_t list_lookup(const list_pcb *head, const pm_tuple *k)
{
    for (const list_pcb *p = head; p; p = p->next)
        if (p->k.lport == k->lport && p->k.fport == k->fport && pm_ip_eq(&p->k.faddr, &k->faddr) &&
            pm_ip_eq(&p->k.laddr, &k->laddr) && p->k.proto == k->proto)
            return p->handle;
    return PM_EHASH_MISS;
}

/* ---- an alternative layout: inline open addressing -------------------------
 * Each 48-byte slot holds the whole key, the handle and a tag; linear
 * probing over slots. One cache line per hit most of the time, but 48
 * bytes per slot at 80% load for every entry, TIME_WAIT included. */

typedef struct alt_slot {
    pm_ip laddr, faddr;
    uint16_t lport, fport;
    uint8_t proto, pad[3];
    uint32_t handle;
    uint32_t tag; /* 0 = empty */
    uint32_t pad2;
} alt_slot;

typedef struct alt_table {
    alt_slot *s;
    uint32_t n;
    pm_sipkey key;
} alt_table;

static int alt_eq(const alt_slot *s, const pm_tuple *k)
{
    return s->lport == k->lport && s->fport == k->fport && s->proto == k->proto &&
           pm_ip_eq(&s->faddr, &k->faddr) && pm_ip_eq(&s->laddr, &k->laddr);
}

static void alt_insert(alt_table *t, const pm_tuple *k, uint32_t handle)
{
    uint64_t h = dm_hash_tuple(&t->key, k);
    uint32_t i = (uint32_t)(((h >> 32) * t->n) >> 32), tag = (uint32_t)h | 1;
    while (t->s[i].tag) i = i + 1 == t->n ? 0 : i + 1;
    alt_slot *s = &t->s[i];
    s->laddr = k->laddr;
    s->faddr = k->faddr;
    s->lport = k->lport;
    s->fport = k->fport;
    s->proto = k->proto;
    s->handle = handle;
    s->tag = tag;
}

static uint32_t alt_probe(const alt_table *t, const pm_tuple *k, uint64_t h)
{
    uint32_t i = (uint32_t)(((h >> 32) * t->n) >> 32), tag = (uint32_t)h | 1;
    for (;;) {
        const alt_slot *s = &t->s[i];
        if (!s->tag) return PM_EHASH_MISS;
        if (s->tag == tag && alt_eq(s, k)) return s->handle;
        i = i + 1 == t->n ? 0 : i + 1;
    }
}

static void alt_bulk(const alt_table *t, const pm_tuple *k, size_t n, uint32_t *out)
{
    uint64_t h[64];
    for (size_t base = 0; base < n; base += 64) {
        size_t g = n - base < 64 ? n - base : 64;
        for (size_t i = 0; i < g; i++) {
            h[i] = dm_hash_tuple(&t->key, &k[base + i]);
            __builtin_prefetch(&t->s[((h[i] >> 32) * t->n) >> 32]);
        }
        for (size_t i = 0; i < g; i++) out[base + i] = alt_probe(t, &k[base + i], h[i]);
    }
}

/* ---- DPDK ------------------------------------------------------------------ */

#ifdef PM_HAVE_RTE_HASH
static int g_eal_ok;
static char g_eal_why[256] = "";

static void eal_init(int quick)
{
    /* No hugepages, no PCI scan, no telemetry socket, no shared files. */
    char *argv[] = {"demux",       "--no-huge",           "--no-pci", "--no-telemetry",
                    "--no-shconf", "--log-level=*:error", "-m",       quick ? "512" : "3072",
                    NULL};
    int argc = 8;
    rte_log_set_global_level(RTE_LOG_ERR);
    if (rte_eal_init(argc, argv) < 0) {
        snprintf(g_eal_why, sizeof g_eal_why, "rte_eal_init: %s", rte_strerror(rte_errno));
        return;
    }
    g_eal_ok = 1;
}
#endif

/* ---- one size -------------------------------------------------------------- */

enum { W_UNIFORM, W_ZIPF };
static const char *wname[2] = {"uniform", "zipf"};

typedef struct cfg {
    int quick, reps;
    size_t nq;
} cfg;

static double g_ratio_largest = NAN;

static void run_size(const cfg *c, uint32_t n, const char *tag, int largest)
{
    char key[128];
    pm_rng r;
    pm_rng_seed(&r, 0xbe9c0000 + n);
    pm_tuple *keys = malloc(sizeof *keys * n), *miss = malloc(sizeof *miss * n);
    for (uint32_t i = 0; i < n; i++) {
        make_key(&r, &keys[i], 0);
        make_key(&r, &miss[i], 1);
    }
    bench_say("== %s entries (%u)\n", tag, n);

    /* Ours: build, with memory from the allocator's accounting. */
    size_t h0 = heap_bytes(), rss0 = rss_bytes();
    pm_ehash_config ec = {.key = {pm_rng_next(&r), pm_rng_next(&r)},
                          .initial_entries = n,
                          .max_entries = n,
                          .max_tw = 0,
                          .tw_timeout_us = 60000000};
    pm_ehash *t;
    if (pm_ehash_create(&t, &ec)) {
        fprintf(stderr, "pm_ehash_create failed\n");
        exit(1);
    }
    uint32_t dup = 0;
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) dup += pm_ehash_insert(t, &keys[i], i) != 0;
    double ins = n / (now_s() - t0);
    size_t heap = heap_bytes() - h0, rss = rss_bytes() - rss0;
    pm_ehash_stats st;
    pm_ehash_stats_get(t, &st);
    double bpe = (double)heap / (n - dup);
    bench_say("  ours: insert %.2f M/s, %.1f bytes/entry (heap), own count %.1f, RSS +%.0f MiB%s\n",
              ins / 1e6, bpe, (double)st.bytes / (n - dup), rss / 1048576.0,
              dup ? " (duplicate keys skipped)" : "");
    snprintf(key, sizeof key, "ours_insert_mops_%s", tag);
    bench_sum_num(key, ins / 1e6);
    snprintf(key, sizeof key, "ours_bytes_per_established_%s", tag);
    bench_sum_num(key, bpe);
    snprintf(key, sizeof key, "ours_rss_bytes_%s", tag);
    bench_sum_num(key, (double)rss);
    if (largest) {
        bench_sum_num("bytes_per_established", bpe);
        bench_sum_num("rss_bytes_largest", (double)rss);
        bench_sum_num("rss_bytes_10m", n >= 10000000 ? (double)rss : NAN);
    }

#ifdef PM_HAVE_RTE_HASH
    struct rte_hash *rh = NULL;
    if (g_eal_ok) {
        struct rte_hash_parameters p = {.name = "demux_bench",
                                        .entries = n + n / 4,
                                        .key_len = sizeof(pm_tuple),
                                        .socket_id = 0};
        rh = rte_hash_create(&p);
        if (!rh) {
            bench_say("  rte_hash_create failed: %s\n", rte_strerror(rte_errno));
        } else {
            t0 = now_s();
            for (uint32_t i = 0; i < n; i++) rte_hash_add_key(rh, &keys[i]);
            double rins = n / (now_s() - t0);
            bench_say("  rte_hash: insert %.2f M/s\n", rins / 1e6);
            snprintf(key, sizeof key, "rte_insert_mops_%s", tag);
            bench_sum_num(key, rins / 1e6);
        }
    }
#endif

    /* The same table hashed with SipHash-1-3: what the AES hash buys. */
    pm_ehash *ts;
    ec.siphash = true;
    if (pm_ehash_create(&ts, &ec)) exit(1);
    for (uint32_t i = 0; i < n; i++) pm_ehash_insert(ts, &keys[i], i);
    pm_ehash_stats_get(t, &st);
    if (largest) bench_sum_add("aes_hash", st.aes_hash ? "true" : "false");

    alt_table alt = {.n = n + n / 4, .key = {pm_rng_next(&r), pm_rng_next(&r)}};
    alt.s = calloc(alt.n, sizeof *alt.s);
    for (uint32_t i = 0; i < n; i++) alt_insert(&alt, &keys[i], i);

    list_pcb *list = NULL, *pcbs = NULL;
    if (n <= 10000) {
        pcbs = calloc(n, sizeof *pcbs);
        for (uint32_t i = 0; i < n; i++) {
            pcbs[i].k = keys[i];
            pcbs[i].handle = i;
            pcbs[i].next = list;
            list = &pcbs[i];
        }
    }

    size_t nq = c->nq;
    uint32_t *qi = malloc(sizeof *qi * nq), *out = malloc(sizeof *out * nq);
    pm_tuple *qk = malloc(sizeof *qk * nq);
    const void **qp = malloc(sizeof *qp * nq);
    int32_t *pos = malloc(sizeof *pos * nq);
    for (int w = 0; w < 2; w++) {
        for (int hit = 1; hit >= 0; hit--) {
            make_queries(&r, qi, nq, n, w == W_ZIPF);
            for (size_t i = 0; i < nq; i++) {
                qk[i] = hit ? keys[qi[i]] : miss[qi[i]];
                qp[i] = &qk[i];
            }
            /* Variants run interleaved, chunk by chunk in rotating order, so
             * that the shared machine's noise falls on all alike. */
            enum { V_OURS1, V_OURSB, V_SIP1, V_SIPB, V_ALTB, V_RTE1, V_RTEB, NV };
            double v[NV][16], rr[16];
            int nv = V_RTE1;
#ifdef PM_HAVE_RTE_HASH
            if (rh) nv = NV;
#endif
            const size_t chunk = 65536;
            for (int rep = 0; rep < c->reps; rep++) {
                uint64_t found = 0;
                double acc[NV] = {0};
                for (size_t c0 = 0; c0 < nq; c0 += chunk) {
                    size_t c1 = c0 + chunk < nq ? c0 + chunk : nq;
                    for (int vi = 0; vi < nv; vi++) {
                        int var = (vi + (int)(c0 / chunk)) % nv;
                        t0 = now_s();
                        switch (var) {
                        case V_OURS1:
                            for (size_t i = c0; i < c1; i++) out[i] = pm_ehash_lookup(t, &qk[i]);
                            break;
                        case V_OURSB:
                            for (size_t i = c0; i < c1; i += BATCH)
                                pm_ehash_lookup_bulk(t, qk + i, c1 - i < BATCH ? c1 - i : BATCH,
                                                     out + i);
                            break;
                        case V_SIP1:
                            for (size_t i = c0; i < c1; i++) out[i] = pm_ehash_lookup(ts, &qk[i]);
                            break;
                        case V_SIPB:
                            for (size_t i = c0; i < c1; i += BATCH)
                                pm_ehash_lookup_bulk(ts, qk + i, c1 - i < BATCH ? c1 - i : BATCH,
                                                     out + i);
                            break;
                        case V_ALTB:
                            for (size_t i = c0; i < c1; i += BATCH)
                                alt_bulk(&alt, qk + i, c1 - i < BATCH ? c1 - i : BATCH, out + i);
                            break;
#ifdef PM_HAVE_RTE_HASH
                        case V_RTE1:
                            for (size_t i = c0; i < c1; i++) {
                                int32_t p = rte_hash_lookup(rh, qp[i]);
                                out[i] = p < 0 ? PM_EHASH_MISS : (uint32_t)p;
                            }
                            break;
                        case V_RTEB:
                            for (size_t i = c0; i < c1; i += BATCH)
                                rte_hash_lookup_bulk(rh, qp + i,
                                                     (uint32_t)(c1 - i < BATCH ? c1 - i : BATCH),
                                                     pos + i);
                            for (size_t i = c0; i < c1; i++)
                                out[i] = pos[i] < 0 ? PM_EHASH_MISS : (uint32_t)pos[i];
                            break;
#endif
                        }
                        acc[var] += now_s() - t0;
                        for (size_t i = c0; i < c1; i++) found += out[i] != PM_EHASH_MISS;
                    }
                }
                for (int vi = 0; vi < nv; vi++) v[vi][rep] = acc[vi] * 1e9 / nq;
                rr[rep] = nv == NV ? acc[V_RTEB] / acc[V_OURSB] : NAN;
                if (found != (hit ? (uint64_t)nv * nq : 0)) {
                    fprintf(stderr, "bench: wrong lookup results (%llu)\n",
                            (unsigned long long)found);
                    exit(1);
                }
            }
            const char *hm = hit ? "hit" : "miss";
            double ours1 = bench_median(v[V_OURS1], c->reps),
                   oursb = bench_median(v[V_OURSB], c->reps);
            double sip1 = bench_median(v[V_SIP1], c->reps), sipb = bench_median(v[V_SIPB], c->reps);
            double altb = bench_median(v[V_ALTB], c->reps);
            double rte1 = nv == NV ? bench_median(v[V_RTE1], c->reps) : NAN;
            double rteb = nv == NV ? bench_median(v[V_RTEB], c->reps) : NAN;
            double ratio =
                nv == NV ? bench_median(rr, c->reps) : NAN; /* median of per-run ratios */
            bench_say(
                "  %-7s %-4s ns/lookup: ours %.1f single, %.1f batched (SipHash: %.1f, %.1f) | "
                "rte_hash %.1f single, %.1f bulk | inline-OA %.1f batched | ratio batched "
                "%.2fx\n",
                wname[w], hm, ours1, oursb, sip1, sipb, rte1, rteb, altb, ratio);
            snprintf(key, sizeof key, "ours_siphash_single_ns_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, sip1);
            snprintf(key, sizeof key, "ours_siphash_batch_ns_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, sipb);
            snprintf(key, sizeof key, "ours_single_ns_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, ours1);
            snprintf(key, sizeof key, "ours_batch_ns_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, oursb);
            snprintf(key, sizeof key, "ours_batch_mlookups_per_s_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, 1e3 / oursb);
            snprintf(key, sizeof key, "rte_single_ns_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, rte1);
            snprintf(key, sizeof key, "rte_bulk_ns_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, rteb);
            snprintf(key, sizeof key, "inline_oa_batch_ns_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, altb);
            snprintf(key, sizeof key, "ratio_batch_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, ratio);
            snprintf(key, sizeof key, "ratio_single_%s_%s_%s", wname[w], hm, tag);
            bench_sum_num(key, rte1 / ours1);
            if (largest && w == W_UNIFORM && hit) g_ratio_largest = ratio;
            if (list) {
                size_t lq = c->quick ? 4000 : 20000;
                double lv[16];
                for (int rep = 0; rep < c->reps; rep++) {
                    uint64_t f = 0;
                    t0 = now_s();
                    for (size_t i = 0; i < lq; i++) f += list_lookup(list, &qk[i]) != PM_EHASH_MISS;
                    lv[rep] = (now_s() - t0) * 1e9 / lq;
                    if (f != (hit ? lq : 0)) exit(1);
                }
                double l1 = bench_median(lv, c->reps);
                bench_say("  %-7s %-4s linear list (lwIP-like): %.1f ns/lookup, ours single %.1fx "
                          "faster\n",
                          wname[w], hm, l1, l1 / ours1);
                snprintf(key, sizeof key, "list_ns_%s_%s_%s", wname[w], hm, tag);
                bench_sum_num(key, l1);
                snprintf(key, sizeof key, "ratio_vs_list_%s_%s_%s", wname[w], hm, tag);
                bench_sum_num(key, l1 / ours1);
            }
        }
    }

    /* Delete throughput. */
    t0 = now_s();
    for (uint32_t i = 0; i < n; i++) pm_ehash_remove(t, &keys[i]);
    double del = n / (now_s() - t0);
    bench_say("  ours: delete %.2f M/s\n", del / 1e6);
    snprintf(key, sizeof key, "ours_delete_mops_%s", tag);
    bench_sum_num(key, del / 1e6);
#ifdef PM_HAVE_RTE_HASH
    if (rh) {
        t0 = now_s();
        for (uint32_t i = 0; i < n; i++) rte_hash_del_key(rh, &keys[i]);
        double rdel = n / (now_s() - t0);
        bench_say("  rte_hash: delete %.2f M/s\n", rdel / 1e6);
        snprintf(key, sizeof key, "rte_delete_mops_%s", tag);
        bench_sum_num(key, rdel / 1e6);
        rte_hash_free(rh);
    }
#endif
    pm_ehash_destroy(t);
    pm_ehash_destroy(ts);
    free(alt.s);
    free(pcbs);
    free(keys);
    free(miss);
    free(qi);
    free(out);
    free(qk);
    free(qp);
    free(pos);
}

/* The running kernel's slab object size for a cache (/proc/slabinfo, which
 * needs root), or NAN. */
static double slab_objsize(const char *cache)
{
    FILE *f = fopen("/proc/slabinfo", "r");
    char line[512], name[64];
    unsigned long active, num, objsize;
    double v = NAN;
    if (!f) return v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %lu %lu %lu", name, &active, &num, &objsize) == 4 &&
            !strcmp(name, cache))
            v = (double)objsize;
    fclose(f);
    return v;
}

/* Bytes per TIME_WAIT entry: a table holding only TIME_WAIT entries. */
static void run_timewait(uint32_t n)
{
    pm_rng r;
    pm_rng_seed(&r, 0x7e7e);
    size_t h0 = heap_bytes();
    pm_ehash_config ec = {.key = {1, 2},
                          .initial_entries = n,
                          .max_entries = 0,
                          .max_tw = n,
                          .tw_timeout_us = 60000000};
    pm_ehash *t;
    if (pm_ehash_create(&t, &ec)) exit(1);
    pm_tw_state st = {.snd_nxt = 1, .rcv_nxt = 2, .rcv_wnd = 65535};
    uint32_t ref, ok = 0;
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        pm_tuple k;
        make_key(&r, &k, 0);
        ok += pm_ehash_tw_insert(t, &k, &st, i, &ref) == 0;
    }
    double ins = ok / (now_s() - t0);
    size_t heap = heap_bytes() - h0;
    pm_ehash_stats s;
    pm_ehash_stats_get(t, &s);
    double bpt = (double)heap / s.timewait;
    double ltw = slab_objsize("tw_sock_TCP"), ltcp = slab_objsize("TCP");
    bench_say("== TIME_WAIT: %u entries, %.1f bytes/entry (heap), own count %.1f; insert %.2f M/s; "
              "this kernel's tw_sock_TCP slab object: %.0f B, TCP socket: %.0f B\n",
              n, bpt, (double)s.bytes / s.timewait, ins / 1e6, ltw, ltcp);
    bench_sum_num("linux_tw_sock_slab_bytes", ltw);
    bench_sum_num("linux_tcp_sock_slab_bytes", ltcp);
    bench_sum_num("ratio_timewait_bytes_vs_linux", ltw / bpt);
    bench_sum_num("bytes_per_timewait", bpt);
    bench_sum_num("tw_entries_measured", (double)s.timewait);
    bench_sum_num("tw_insert_mops", ins / 1e6);
    pm_ehash_destroy(t);
}

int main(int argc, char **argv)
{
    cfg c = {.quick = 0, .reps = 5, .nq = 2000000};
    int only = -1; /* --only 10k|1m|10m: one size (for development) */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            bench_quiet = 1;
        else if (!strcmp(argv[i], "--quick"))
            c.quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = !strcmp(argv[++i], "10k") ? 0 : !strcmp(argv[i], "1m") ? 1 : 2;
        else {
            fprintf(stderr, "usage: %s [--json] [--quick] [--only 10k|1m|10m]\n", argv[0]);
            return 2;
        }
    }
    if (c.quick) {
        c.reps = 3;
        c.nq = 262144;
    }
    bench_sum[bench_sumlen++] = '{';
    bench_sum_add("bench", "\"demux\"");
    bench_sum_add("quick", c.quick ? "true" : "false");
    bench_sum_add("peer", "\"DPDK rte_hash 22.11 rte_hash_lookup_bulk (CRC32), lwIP-like list\"");
#ifdef PM_HAVE_RTE_HASH
    eal_init(c.quick);
    if (!g_eal_ok) bench_say("rte_hash unavailable: %s\n", g_eal_why);
    bench_sum_add("rte_hash", g_eal_ok ? "\"ok\"" : "\"unavailable\"");
    if (!g_eal_ok) bench_sum_add("rte_hash_why", "\"%s\"", g_eal_why);
#else
    bench_say("rte_hash unavailable: built without DPDK\n");
    bench_sum_add("rte_hash", "\"not built\"");
#endif
    uint32_t sizes[3] = {10000, 1000000, 10000000};
    const char *tags[3] = {"10k", "1m", "10m"};
    int ns = c.quick ? 2 : 3;
    if (only < 0) run_timewait(1000000);
    for (int i = 0; i < ns || i == only; i++)
        if (only < 0 || i == only) run_size(&c, sizes[i], tags[i], only >= 0 || i == ns - 1);
    if (only >= 0) ns = only + 1;
    bench_sum_num("ratio_vs_rte_hash", g_ratio_largest);
    bench_sum_add("largest", "\"%s\"", tags[ns - 1]);
    bench_sum[bench_sumlen++] = '}';
    bench_sum[bench_sumlen] = 0;
    printf("%s\n", bench_sum);
    return 0;
}
