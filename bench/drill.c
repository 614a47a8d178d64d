/* bench/drill: packetdrill scripts per second against the portmux host in
 * virtual time, and the same scripts against the Linux kernel in real time
 * (portmux drill --kernel: packetdrill's own setup, a TUN device in a
 * network namespace created here), measured in the same run.
 *
 *   the figure: the project's scripts (the .pkt files of tests/drill/linux, all checked
 *   against the kernel) -- scripts/s on the host vs on the kernel, the ratio;
 *   also: the shared tcp-testsuite (freebsd personality, -D STANDARD) on the
 *   host: seconds for the whole suite and scripts/s, and the virtual time it
 *   covers (what a real-time runner needs at least).
 *
 * Parsing is included in the host's time (as `portmux drill` does it); the
 * kernel's time is pm_drill_run only (namespace setup excluded). Medians of
 * the repetitions. --quick: every 4th short project script, on both targets. The
 * last line is one JSON object. */
#include <errno.h>
#include <glob.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "portmux/drill.h"

#ifndef PM_SOURCE_DIR
#define PM_SOURCE_DIR "."
#endif
#ifndef PM_SHARED_DIR
#define PM_SHARED_DIR "../shared"
#endif

typedef struct script {
    char *path;
    char *text;
    size_t len;
} script;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t load(const char *pattern, script **out)
{
    glob_t g;
    *out = NULL;
    if (glob(pattern, 0, NULL, &g) != 0) return 0;
    script *s = calloc(g.gl_pathc, sizeof *s);
    size_t n = 0;
    for (size_t i = 0; s && i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long l = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *t = l > 0 ? malloc((size_t)l) : NULL;
        if (t && fread(t, 1, (size_t)l, f) == (size_t)l) {
            s[n].path = strdup(g.gl_pathv[i]);
            s[n].text = t;
            s[n].len = (size_t)l;
            n++;
        } else {
            free(t);
        }
        fclose(f);
    }
    globfree(&g);
    *out = s;
    return n;
}

/* One pass over the scripts against target t: parse + run each. Returns
 * the passes; *virt the virtual seconds covered. */
static size_t run_all(const script *s, size_t n, const pm_drill_parse_opts *po,
                      const pm_drill_target *t, double *virt)
{
    size_t pass = 0;
    *virt = 0;
    for (size_t i = 0; i < n; i++) {
        pm_drill_script *sc;
        char err[PM_DRILL_ERRLEN];
        if (pm_drill_parse(s[i].text, s[i].len, s[i].path, po, &sc, err, sizeof err) < 0) continue;
        pm_drill_result r;
        if (pm_drill_run(sc, t, NULL, NULL, &r) == 0) pass++;
        *virt += (double)r.end_usecs / 1e6;
        pm_drill_script_free(sc);
    }
    return pass;
}

/* The host: reps passes; per-pass seconds into secs[]. */
static size_t bench_host(const script *s, size_t n, const char *pers, const char *define, int reps,
                         double *secs, double *virt)
{
    pm_drill_parse_opts po;
    memset(&po, 0, sizeof po);
    po.personality = pers;
    if (define) po.defines[po.n_defines++] = define;
    pm_drill_target t;
    char err[200];
    if (pm_drill_host_open(pers, &t, err, sizeof err) < 0) return 0;
    size_t pass = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pass = run_all(s, n, &po, &t, virt);
        secs[r] = now_s() - t0;
    }
    pm_drill_host_close(&t);
    return pass;
}

/* The kernel: each script in a fresh network namespace (a child process
 * that unshares it), as tests/netns/test_drill_kernel.sh runs them. The
 * child reports "seconds passed" on the pipe. */
static int kernel_one(const script *sc, double *secs, int *passed)
{
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(p[0]);
        if (unshare(CLONE_NEWNET) != 0) _exit(3);
        if (system("ip link set lo up && ip tuntap add dev pmdrill0 mode tun && "
                   "ip link set pmdrill0 up && ip addr add 192.168.0.1/16 dev pmdrill0 && "
                   "ip route add 192.0.2.0/24 dev pmdrill0 && "
                   "ip -6 addr add fd3d:fa7b:d17d::1/48 dev pmdrill0 nodad && "
                   "ip -6 route add 2001:db8::/32 dev pmdrill0") != 0)
            _exit(3);
        pm_drill_target t;
        char err[200];
        if (pm_drill_kernel_open("pmdrill0", &t, err, sizeof err) < 0) _exit(3);
        pm_drill_parse_opts po;
        memset(&po, 0, sizeof po);
        pm_drill_script *s;
        if (pm_drill_parse(sc->text, sc->len, sc->path, &po, &s, err, sizeof err) < 0) _exit(4);
        pm_drill_result r;
        double t0 = now_s();
        int rc = pm_drill_run(s, &t, NULL, NULL, &r);
        double d = now_s() - t0;
        char line[64];
        int l = snprintf(line, sizeof line, "%.6f %d\n", d, rc == 0);
        if (write(p[1], line, (size_t)l) != l) _exit(5);
        pm_drill_kernel_close(&t);
        _exit(0);
    }
    close(p[1]);
    char buf[64] = "";
    ssize_t got = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    buf[got] = '\0';
    return sscanf(buf, "%lf %d", secs, passed) == 2 ? 0 : -1;
}

int main(int argc, char **argv)
{
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (strcmp(argv[i], "--json")) {
            fprintf(stderr, "usage: %s [--json] [--quick]\n", argv[0]);
            return 2;
        }
    }
    mallopt(M_MMAP_THRESHOLD, 256 * 1024); /* as portmux drill (tools/cmd_drill.c) */
    const int reps = quick ? 5 : 21;
    double secs[21], virt = 0;

    script *own, *suite;
    size_t n_own = load(PM_SOURCE_DIR "/tests/drill/linux/*.pkt", &own);
    size_t n_suite =
        load(PM_SHARED_DIR "/conformance/tcp-testsuite/state-event-engine/*/*.pkt", &suite);
    if (n_own == 0) {
        fprintf(stderr, "no scripts under %s/tests/drill/linux\n", PM_SOURCE_DIR);
        return 1;
    }

    /* The suite on the host. */
    double suite_s = -1, suite_virt = 0;
    size_t suite_pass = 0;
    if (n_suite) {
        suite_pass = bench_host(suite, n_suite, "freebsd", "STANDARD", reps, secs, &suite_virt);
        suite_s = bench_median(secs, (size_t)reps);
        printf("{\"bench\":\"drill\",\"part\":\"suite_host\",\"scripts\":%zu,\"passed\":%zu,"
               "\"seconds_median\":%.6f,\"scripts_per_s\":%.1f,\"virtual_seconds\":%.3f}\n",
               n_suite, suite_pass, suite_s, (double)n_suite / suite_s, suite_virt);
    } else {
        printf("{\"bench\":\"drill\",\"part\":\"suite_host\",\"skipped\":\"no suite under %s\"}\n",
               PM_SHARED_DIR);
    }

    /* --quick: every 4th of the project's scripts, on both targets (the
     * kernel's namespace setup costs about a second per script). */
    if (quick) {
        /* ... among those that take under 3 s of (virtual = the kernel's
         * real) time: time-wait-expiry alone takes 65 s. */
        pm_drill_parse_opts po;
        memset(&po, 0, sizeof po);
        pm_drill_target t;
        char err[200];
        if (pm_drill_host_open("linux", &t, err, sizeof err) < 0) return 1;
        size_t k = 0, m = 0;
        for (size_t i = 0; i < n_own; i++) {
            double v;
            run_all(&own[i], 1, &po, &t, &v);
            if (v < 3.0 && m++ % 4 == 0) own[k++] = own[i];
        }
        pm_drill_host_close(&t);
        n_own = k;
    }

    /* The project's scripts on the host. */
    size_t own_pass = bench_host(own, n_own, "linux", NULL, reps, secs, &virt);
    double own_s = bench_median(secs, (size_t)reps);
    double host_rate = (double)n_own / own_s;
    printf("{\"bench\":\"drill\",\"part\":\"own_host\",\"scripts\":%zu,\"passed\":%zu,"
           "\"seconds_median\":%.6f,\"scripts_per_s\":%.1f,\"virtual_seconds\":%.3f}\n",
           n_own, own_pass, own_s, host_rate, virt);

    /* The same scripts on the kernel (one pass: it runs in real time). */
    double kern_s = 0, kern_rate = -1;
    int kern_pass = 0, kern_ok = 0;
    const char *why = NULL;
    if (geteuid() != 0)
        why = "needs root (network namespace, TUN)";
    else if (access("/dev/net/tun", R_OK | W_OK) != 0)
        why = "no /dev/net/tun";
    for (size_t i = 0; !why && i < n_own; i++) {
        double d;
        int ok;
        if (kernel_one(&own[i], &d, &ok) < 0) {
            why = "namespace or TUN setup failed";
            break;
        }
        kern_s += d;
        kern_pass += ok;
        kern_ok++;
    }
    if (!why && kern_ok) {
        kern_rate = kern_ok / kern_s;
        printf("{\"bench\":\"drill\",\"part\":\"own_kernel\",\"scripts\":%d,\"passed\":%d,"
               "\"seconds\":%.6f,\"scripts_per_s\":%.2f}\n",
               kern_ok, kern_pass, kern_s, kern_rate);
    }
    printf("{\"bench\":\"drill\",\"quick\":%s,\"figure\":\"scripts_per_s\",\"host_scripts_per_s\":%"
           ".1f,"
           "\"kernel_scripts_per_s\":",
           quick ? "true" : "false", host_rate);
    if (kern_rate > 0)
        printf("%.2f,\"ratio\":%.1f", kern_rate, host_rate / kern_rate);
    else
        printf("null,\"ratio\":null,\"kernel_skipped\":\"%s\"", why ? why : "no result");
    printf(",\"own_scripts\":%zu,\"suite_scripts\":%zu,\"suite_passed\":%zu,\"suite_seconds\":%.6f,"
           "\"suite_scripts_per_s\":%.1f}\n",
           n_own, n_suite, suite_pass, suite_s, suite_s > 0 ? (double)n_suite / suite_s : 0.0);
    return 0;
}
