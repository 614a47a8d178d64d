/* Listing 100k sockets: `portmux ss -tan` against `ss -tan`, same run, same
 * namespace. The benchmark unshares a network namespace of its own (gone
 * when it exits), opens N/2 connected pairs on loopback, then times each
 * command with its output to /dev/null; medians over several runs.
 *
 *   build/bench/ss [--quick] [--json] [--sockets N] [--runs R] [--portmux PATH]
 *
 * Needs root (unshare). The last line is one JSON object:
 * portmux_seconds, ss_seconds, ratio (portmux / ss; below 1 is faster). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define LISTENERS 8
#define BASE_PORT 10000

static double now(void)
{
    return bench_now_s(CLOCK_MONOTONIC);
}

static int listeners[LISTENERS];

static int open_listeners(void)
{
    for (int i = 0; i < LISTENERS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(BASE_PORT + i)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 65535) < 0) {
            perror("listener");
            return -1;
        }
        listeners[i] = fd;
    }
    return 0;
}

/* Opens pairs connected pairs on the listeners, in batches. */
static int open_pairs(int pairs)
{
    const int batch = 1000;
    for (int done = 0; done < pairs;) {
        int n = pairs - done < batch ? pairs - done : batch;
        for (int k = 0; k < n; k++) {
            int l = (done + k) % LISTENERS;
            int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(BASE_PORT + l)};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
                perror("connect");
                return -1;
            }
        }
        for (int k = 0; k < n; k++) {
            int l = (done + k) % LISTENERS;
            if (accept4(listeners[l], NULL, NULL, SOCK_CLOEXEC) < 0) {
                perror("accept");
                return -1;
            }
        }
        done += n;
    }
    return 0;
}

/* A process may hold only RLIMIT_NOFILE descriptors (and raising the hard
 * limit needs CAP_SYS_RESOURCE), so holder processes share the sockets:
 * each opens its part, says so through a pipe, and sleeps until killed. */
#define MAX_HOLDERS 64
static pid_t holders[MAX_HOLDERS];
static int nholders;

static void kill_holders(void)
{
    for (int i = 0; i < nholders; i++) kill(holders[i], SIGKILL);
    for (int i = 0; i < nholders; i++) waitpid(holders[i], NULL, 0);
    nholders = 0;
}

static int spawn_holders(int pairs)
{
    rlim_t nofile = bench_raise_nofile();
    int per = (int)((nofile > 400000 ? 400000 : nofile) - 64) / 2;
    if (per < 100) return -1;
    for (int done = 0; done < pairs;) {
        int n = pairs - done < per ? pairs - done : per;
        int fds[2];
        if (nholders == MAX_HOLDERS || pipe(fds) < 0) return -1;
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(fds[0]);
            char ok = open_pairs(n) == 0 ? 'y' : 'n';
            if (write(fds[1], &ok, 1) != 1) _exit(1);
            for (;;) pause();
        }
        holders[nholders++] = pid;
        close(fds[1]);
        char ok = 'n';
        if (read(fds[0], &ok, 1) != 1 || ok != 'y') {
            close(fds[0]);
            return -1;
        }
        close(fds[0]);
        done += n;
    }
    return 0;
}

/* Runs argv with stdout to out_fd (-1: /dev/null); returns seconds or -1. */
static double run(char *const argv[], int out_fd)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) return -1;
    double t = now() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t : -1;
}

static long count_lines(char *const argv[])
{
    char path[] = "/tmp/pm-bench-ss-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    if (run(argv, fd) < 0) {
        close(fd);
        return -1;
    }
    lseek(fd, 0, SEEK_SET);
    long lines = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
    close(fd);
    return lines;
}

int main(int argc, char **argv)
{
    int sockets = 100000, runs = 7;
    char portmux[PATH_MAX] = "";
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--json"))
            ; /* JSON is the only output */
        else if (!strcmp(argv[i], "--sockets") && i + 1 < argc)
            sockets = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--portmux") && i + 1 < argc)
            snprintf(portmux, sizeof portmux, "%s", argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--json] [--sockets N] [--runs R] "
                    "[--portmux PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (quick) {
        sockets = 20000;
        runs = 5;
    }
    if (runs < 1 || runs > 101 || sockets < 2 || sockets > 400000) {
        fprintf(stderr, "ss bench: --runs 1-101, --sockets 2-400000\n");
        return 2;
    }
    if (!portmux[0]) {
        /* build/bench/ss -> build/portmux */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0) return 1;
        self[n] = '\0';
        snprintf(portmux, sizeof portmux, "%s/../portmux", dirname(self));
    }
    if (geteuid() != 0) {
        printf("{\"bench\":\"ss\",\"skipped\":\"needs root (unshare a network namespace)\"}\n");
        return 0;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        printf("{\"bench\":\"ss\",\"skipped\":\"unshare(CLONE_NEWNET): %s\"}\n", strerror(errno));
        return 0;
    }
    if (netns_lo_up() < 0 ||
        netns_write_file("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535") < 0 ||
        netns_write_file("/proc/sys/net/core/somaxconn", "65535") < 0) {
        fprintf(stderr, "ss bench: namespace setup: %s\n", strerror(errno));
        return 1;
    }
    double t0 = now();
    if (open_listeners() < 0 || spawn_holders(sockets / 2) < 0) {
        fprintf(stderr, "ss bench: could not open %d sockets\n", sockets);
        kill_holders();
        return 1;
    }
    double setup = now() - t0;

    char *pm_argv[] = {portmux, "ss", "-tan", NULL};
    char *ss_argv[] = {"ss", "-tan", NULL};
    long pm_lines = count_lines(pm_argv), ss_lines = count_lines(ss_argv);
    if (pm_lines < 0 || ss_lines < 0) {
        fprintf(stderr, "ss bench: cannot run %s or ss\n", portmux);
        kill_holders();
        return 1;
    }
    if (pm_lines != ss_lines) {
        fprintf(stderr, "ss bench: portmux printed %ld lines, ss %ld\n", pm_lines, ss_lines);
        kill_holders();
        return 1;
    }
    double *pm = calloc((size_t)runs, sizeof *pm), *ss = calloc((size_t)runs, sizeof *ss);
    if (!pm || !ss) return 1;
    for (int i = 0; i < runs; i++) { /* interleaved: both see the same noise */
        pm[i] = run(pm_argv, -1);
        ss[i] = run(ss_argv, -1);
        if (pm[i] < 0 || ss[i] < 0) {
            kill_holders();
            return 1;
        }
    }
    kill_holders();
    printf("{\"bench\":\"ss\",\"sockets\":%d,\"rows\":%ld,\"runs\":%d,\"setup_seconds\":%.3f,"
           "\"portmux_samples\":[",
           sockets + LISTENERS, pm_lines - 1, runs, setup);
    for (int i = 0; i < runs; i++) printf("%s%.4f", i ? "," : "", pm[i]);
    printf("],\"ss_samples\":[");
    for (int i = 0; i < runs; i++) printf("%s%.4f", i ? "," : "", ss[i]);
    printf("]}\n");
    double mp = bench_median(pm, runs), ms = bench_median(ss, runs);
    printf("{\"bench\":\"ss\",\"what\":\"list %ld TCP sockets, -tan to /dev/null, median of %d\","
           "\"portmux_seconds\":%.4f,\"ss_seconds\":%.4f,\"ratio\":%.3f}\n",
           pm_lines - 1, runs, mp, ms, mp / ms);
    free(pm);
    free(ss);
    return 0;
}
