/* Cost of an ephemeral port allocation as the range fills up: portmux's
 * connect()-style and bind(0)-style allocation, and, in the same run, the
 * Linux kernel's connect() over loopback to a listener in a network
 * namespace of our own, with ip_local_port_range set to the same range.
 *
 *   build/bench/ephemeral [--json] [--quick]
 *
 * Occupancy is the share of the range in use for the destination (connect)
 * or in use at all (bind). Figures are medians over batches; the growth
 * ratio is cost at 99% / cost at 1%. Last line: one JSON object. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "portmux/addr.h"
#include "portmux/bind.h"
#include "portmux/ephemeral.h"

#define LO   32768
#define HI   60999
#define NOCC 5
static const double occs[NOCC] = {0.01, 0.50, 0.90, 0.99, 0.999};
static const char *const occ_names[NOCC] = {"1%", "50%", "90%", "99%", "99.9%"};

static bool quick;

static double now_ns(void)
{
    return bench_now_ns(CLOCK_MONOTONIC);
}

static unsigned batch_size(unsigned nfree)
{
    unsigned b = nfree / 2;
    if (b > 256) b = 256;
    return b ? b : 1;
}

/* ---- portmux ---- */

static pm_eph_connect_req dest_req(void)
{
    pm_eph_connect_req r;
    memset(&r, 0, sizeof r);
    r.proto = PM_IPPROTO_TCP;
    r.local.family = r.remote.family = PM_AF_INET;
    r.local.ip = pm_ip4(0x7f000001);
    r.remote.ip = pm_ip4(0x7f000064);
    r.remote.port = 80;
    r.opts.family = PM_AF_INET;
    return r;
}

/* kind 0: connect() to one destination; kind 1: bind(0) on 0.0.0.0 */
static void portmux_run(int kind, double out[NOCC], double steps[NOCC])
{
    pm_bind_config bc;
    pm_bind_config_default(&bc);
    bc.max_owners = 70000;
    pm_bind_table *bt = pm_bind_create(&bc);
    pm_eph_config ec;
    pm_eph_config_default(&ec);
    ec.range.lo = LO;
    ec.range.hi = HI;
    ec.seed = 0x5eed;
    pm_eph *e = pm_eph_create(&ec, bt);
    if (!bt || !e) {
        fprintf(stderr, "create failed\n");
        exit(1);
    }
    const unsigned n = HI - LO + 1;
    pm_eph_connect_req r = dest_req();
    pm_bind_opts bo = {PM_AF_INET, false, false, false};
    pm_cred cred = {1000, false};
    unsigned used = 0;
    static int32_t batch[256], owner[256];
    const unsigned nbatches = quick ? 101 : 401;
    static double per[401];
    for (int oi = 0; oi < NOCC; oi++) {
        unsigned target = (unsigned)(occs[oi] * n + 0.5);
        for (; used < target; used++) { /* fill, kept */
            pm_bind_id id = PM_BIND_NONE;
            int err;
            if (kind == 0) {
                pm_eph_connect_res res;
                err = pm_eph_connect(e, &r, &id, &res);
            } else {
                pm_sockaddr sa = {PM_AF_INET, 0, pm_ip4(0)};
                err = pm_eph_bind(e, PM_IPPROTO_TCP, &sa, &bo, &cred, NULL, &id);
            }
            if (err) {
                fprintf(stderr, "fill failed at %u: %d\n", used, err);
                exit(1);
            }
        }
        unsigned b = batch_size(n - used);
        uint64_t s0 = pm_eph_get_stats(e).search_steps;
        for (unsigned k = 0; k < nbatches; k++) {
            double t0 = now_ns();
            for (unsigned j = 0; j < b; j++) {
                pm_bind_id id = PM_BIND_NONE;
                if (kind == 0) {
                    pm_eph_connect_res res;
                    if (pm_eph_connect(e, &r, &id, &res)) exit(2);
                    batch[j] = res.conn;
                    owner[j] = id;
                } else {
                    pm_sockaddr sa = {PM_AF_INET, 0, pm_ip4(0)};
                    if (pm_eph_bind(e, PM_IPPROTO_TCP, &sa, &bo, &cred, NULL, &id)) exit(2);
                    batch[j] = PM_EPH_NONE;
                    owner[j] = id;
                }
            }
            per[k] = (now_ns() - t0) / b;
            for (unsigned j = 0; j < b; j++) {
                pm_eph_release(e, batch[j]);
                pm_bind_release(bt, owner[j]);
            }
        }
        out[oi] = bench_median(per, nbatches);
        steps[oi] = (double)(pm_eph_get_stats(e).search_steps - s0) / ((double)nbatches * b);
    }
    pm_eph_destroy(e);
    pm_bind_destroy(bt);
}

/* ---- Linux ---- */

static void close_rst(int fd)
{
    struct linger l = {1, 0}; /* RST, no TIME_WAIT: occupancy stays put */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* In a child, in its own netns: fills and measures; writes NOCC doubles
 * (ns per connect) to the pipe, or exits non-zero with a reason on stderr. */
static int linux_child(int wfd)
{
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return 3;
    }
    if (netns_lo_up() != 0) return 3;
    /* One fd per filled connection (the server side is closed at once and
     * lingers as an orphan), so the range is narrowed to the fd limit we
     * may use. */
    rlim_t nofile = bench_raise_nofile();
    unsigned n = HI - LO + 1;
    if (nofile < n + 512) n = (unsigned)nofile - 512;
    if (quick && n > 8192) n = 8192; /* the kernel's walk makes filling slow */
    char buf[64];
    snprintf(buf, sizeof buf, "%d %u", LO, LO + n - 1);
    if (netns_write_file("/proc/sys/net/ipv4/ip_local_port_range", buf) != 0) return 3;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
    sin.sin_addr.s_addr = htonl(0x7f000001);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&sin, sizeof sin) || listen(ls, 4096)) {
        fprintf(stderr, "listener: %s\n", strerror(errno));
        return 3;
    }
    int *cfd = calloc(n, sizeof(int));
    unsigned used = 0;
    double res[NOCC];
    const unsigned nbatches = quick ? 9 : 41;
    double per[41];
    int bc[256], bs[256];
    for (int oi = 0; oi < NOCC; oi++) {
        unsigned target = (unsigned)(occs[oi] * n + 0.5);
        for (; used < target; used++) {
            cfd[used] = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(cfd[used], (struct sockaddr *)&sin, sizeof sin) != 0) {
                fprintf(stderr, "fill connect %u: %s\n", used, strerror(errno));
                return 4;
            }
            int a = accept(ls, NULL, NULL);
            if (a >= 0) close(a); /* the client stays ESTABLISHED/CLOSE_WAIT: port held */
        }
        unsigned b = batch_size(n - used);
        if (b > 16) b = 16;
        for (unsigned k = 0; k < nbatches; k++) {
            double sum = 0;
            for (unsigned j = 0; j < b; j++) {
                bc[j] = socket(AF_INET, SOCK_STREAM, 0);
                double t0 = now_ns();
                int r = connect(bc[j], (struct sockaddr *)&sin, sizeof sin);
                sum += now_ns() - t0;
                if (r != 0) {
                    fprintf(stderr, "connect at %u: %s\n", used, strerror(errno));
                    return 4;
                }
                bs[j] = accept(ls, NULL, NULL);
            }
            per[k] = sum / b;
            for (unsigned j = 0; j < b; j++) {
                close_rst(bc[j]);
                close(bs[j]);
            }
        }
        res[oi] = bench_median(per, nbatches);
    }
    double nr = n;
    if (write(wfd, res, sizeof res) != (ssize_t)sizeof res) return 5;
    if (write(wfd, &nr, sizeof nr) != (ssize_t)sizeof nr) return 5;
    return 0; /* the namespace and every socket go with the process */
}

static unsigned linux_range;

static bool linux_run(double out[NOCC], char *why, size_t whylen)
{
    if (geteuid() != 0) {
        snprintf(why, whylen, "not root: no network namespace");
        return false;
    }
    int p[2];
    if (pipe(p) != 0) return false;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(linux_child(p[1]));
    }
    close(p[1]);
    ssize_t got = read(p[0], out, sizeof(double) * NOCC);
    double nr = 0;
    if (read(p[0], &nr, sizeof nr) == (ssize_t)sizeof nr) linux_range = (unsigned)nr;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got != (ssize_t)(sizeof(double) * NOCC) || !WIFEXITED(st) || WEXITSTATUS(st)) {
        snprintf(why, whylen, "kernel run failed (status %d)",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return false;
    }
    return true;
}

static void print_array(const char *name, const double *v)
{
    printf("\"%s\":[", name);
    for (int i = 0; i < NOCC; i++) printf("%s%.2f", i ? "," : "", v[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    bool json = false;
    if (bench_args(argc, argv, &quick, &json)) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    double pc[NOCC], pb[NOCC], lc[NOCC], sc[NOCC], sb[NOCC];
    portmux_run(0, pc, sc);
    portmux_run(1, pb, sb);
    char why[128] = "";
    bool have_linux = linux_run(lc, why, sizeof why);
    printf("# range %d-%d (%d ports), medians in ns per allocation\n", LO, HI, HI - LO + 1);
    printf("# %-6s %14s %14s %16s\n", "occ", "portmux conn", "portmux bind", "linux connect()");
    for (int i = 0; i < NOCC; i++) {
        printf("# %-6s %14.1f %14.1f", occ_names[i], pc[i], pb[i]);
        if (have_linux)
            printf(" %16.1f\n", lc[i]);
        else
            printf(" %16s\n", "-");
    }
    printf("# search steps (bitmap blocks + words looked at) per allocation:\n");
    for (int i = 0; i < NOCC; i++)
        printf("# %-6s connect %6.2f   bind %6.2f\n", occ_names[i], sc[i], sb[i]);
    double gc = pc[3] / pc[0], gb = pb[3] / pb[0];
    double gl = have_linux ? lc[3] / lc[0] : 0;
    printf("# growth 99%%/1%%: portmux connect %.2f, portmux bind %.2f", gc, gb);
    if (have_linux)
        printf(", linux connect %.2f\n", gl);
    else
        printf(", linux: %s\n", why);
    (void)json; /* the JSON line is always the last line */
    printf("{\"bench\":\"ephemeral\",\"quick\":%s,\"range\":%d,\"occupancy\":[0.01,0.5,0.9,0.99,"
           "0.999],",
           quick ? "true" : "false", HI - LO + 1);
    print_array("portmux_connect_ns", pc);
    printf(",");
    print_array("portmux_bind_ns", pb);
    printf(",\"portmux_growth_connect\":%.3f,\"portmux_growth_bind\":%.3f", gc, gb);
    printf(",");
    print_array("portmux_connect_search_steps", sc);
    printf(",");
    print_array("portmux_bind_search_steps", sb);
    if (have_linux) {
        printf(",");
        print_array("linux_connect_ns", lc);
        printf(",\"linux_range\":%u,\"linux_growth_connect\":%.3f,\"growth_ratio_linux_over_"
               "portmux\":%.2f",
               linux_range, gl, gl / gc);
    } else {
        printf(",\"linux_connect_ns\":null,\"linux_growth_connect\":null,\"linux_skipped\":\"%s\"",
               why);
    }
    printf("}\n");
    return 0;
}
