/* What the kernel-oracle tests share: a seed that a failure prints and
 * PM_ORACLE_SEED reproduces, a count from the environment with a ceiling,
 * and running the comparison in a child (it enters its own namespace and
 * may drop privileges, which the parent keeps). Header-only. */
#ifndef PM_TESTLIB_ORACLE_H
#define PM_TESTLIB_ORACLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* PM_ORACLE_SEED, else drawn from the time and the pid. */
static inline uint64_t oracle_seed(void)
{
    const char *e = getenv("PM_ORACLE_SEED");
    if (e && *e) return strtoull(e, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* The environment variable var, else def; at most max (said when cut). */
static inline unsigned oracle_count(const char *var, unsigned def, unsigned max)
{
    const char *e = getenv(var);
    unsigned n = e && *e ? (unsigned)strtoul(e, NULL, 0) : def;
    if (n > max) {
        printf("%s %u: at most %u per run\n", var, n, max);
        n = max;
    }
    return n;
}

/* child(seed, n) in a forked process; its exit status (1 if it died). */
static inline int oracle_run_child(int (*child)(uint64_t, unsigned), uint64_t seed, unsigned n)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) _exit(child(seed, n));
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) return 1;
    return WEXITSTATUS(status);
}

#endif
