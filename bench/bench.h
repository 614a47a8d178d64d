/* What every benchmark in bench/ needs: clocks, medians, --quick/--json,
 * and (from tests/unit/testlib) the setup of a network namespace of its own
 * for the kernel peer.
 * Header-only (each bench/<name>.c is one executable). */
#ifndef PM_BENCH_H
#define PM_BENCH_H

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

#endif
