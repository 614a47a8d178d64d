/* What every benchmark in bench/ needs: clocks, medians, --quick/--json,
 * and (from tests/unit/testlib) the setup of a network namespace of its own
 * for the kernel peer.
 * Header-only (each bench/<name>.c is one executable). */
#ifndef PM_BENCH_H
#define PM_BENCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* netns_lo_up, netns_write_file: shared with the oracle tests. */
#include "../tests/unit/testlib/netns.h"

/* Each benchmark picks its clock: CLOCK_MONOTONIC where the kernel or other
 * processes are part of what is measured, CLOCK_THREAD_CPUTIME_ID for pure
 * computation (on a shared machine wall time mostly measures the others). */
static inline double bench_now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double bench_now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n); sorts v in place. */
static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Parses [--quick] [--json] and nothing else: 0, or 2 after a usage line. */
static inline int bench_args(int argc, char **argv, bool *quick, bool *json)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            *quick = true;
        else if (!strcmp(argv[i], "--json"))
            *json = true;
        else {
            fprintf(stderr, "usage: %s [--quick] [--json]\n", argv[0]);
            return 2;
        }
    }
    return 0;
}

/* Raises the descriptor limit to the hard limit; returns the new soft one. */
static inline rlim_t bench_raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

/* The last line of a benchmark is one JSON object, built key by key with
 * bench_sum_add(); bench_say() prints progress unless --json asked for the
 * object alone (bench_quiet). */
__attribute__((unused)) static bool bench_quiet;
__attribute__((unused)) static char bench_sum[65536];
__attribute__((unused)) static size_t bench_sumlen;

__attribute__((format(printf, 2, 3))) static inline void bench_sum_add(const char *key,
                                                                       const char *fmt, ...)
{
    va_list ap;
    bench_sumlen += (size_t)snprintf(bench_sum + bench_sumlen, sizeof bench_sum - bench_sumlen,
                                     "%s\"%s\":", bench_sumlen > 1 ? "," : "", key);
    va_start(ap, fmt);
    bench_sumlen +=
        (size_t)vsnprintf(bench_sum + bench_sumlen, sizeof bench_sum - bench_sumlen, fmt, ap);
    va_end(ap);
}

static inline void bench_sum_num(const char *key, double v)
{
    if (v != v)
        bench_sum_add(key, "null");
    else
        bench_sum_add(key, "%.4g", v);
}

__attribute__((format(printf, 1, 2))) static inline void bench_say(const char *fmt, ...)
{
    if (bench_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

#endif
