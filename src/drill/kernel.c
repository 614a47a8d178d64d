/* A drill target that is the running Linux kernel: system calls are real,
 * packets go in and out through a TUN device, and time is the wall clock
 * (advance() sleeps). This is packetdrill's own setup, and it makes the
 * kernel the oracle for drill scripts: a script is first shown to pass
 * against Linux (tests/netns/test_drill_kernel.sh), then run against the
 * portmux host's linux personality.
 *
 * The TUN device must exist, be up, carry the script's local address and
 * route the remote one (the test creates it inside its own namespace). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "drill/drill_int.h"

#define KFD_MAX 64
#define T0      1000000u /* the interpreter's time 0 (interp.c) */

typedef struct kfd {
    int fd;
    bool user_nonblock;
    bool connecting;
} kfd;

typedef struct kernel {
    int tun;
    uint64_t start_ns; /* wall time of virtual T0 */
    pm_drill_config cfg;
    uint32_t uid; /* "uid N": the effective uid of the calls */
    kfd fds[KFD_MAX];
    size_t n_fds;
    uint8_t buf[65536];
} kernel;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_virtual(const kernel *k)
{
    return T0 + (mono_ns() - k->start_ns) / 1000;
}

static kfd *find(kernel *k, int64_t fd)
{
    for (size_t i = 0; i < k->n_fds; i++)
        if (k->fds[i].fd == fd) return &k->fds[i];
    return NULL;
}

static void forget(kernel *k, int fd)
{
    for (size_t i = 0; i < k->n_fds; i++)
        if (k->fds[i].fd == fd) {
            k->fds[i] = k->fds[--k->n_fds];
            return;
        }
}

static int64_t track(kernel *k, int fd)
{
    if (fd < 0) return -errno;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (k->n_fds == KFD_MAX) {
        close(fd);
        return -EMFILE;
    }
    k->fds[k->n_fds++] = (kfd){fd, false, false};
    return fd;
}

static int k_reset(void *ctx, const pm_drill_config *cfg)
{
    kernel *k = ctx;
    for (size_t i = 0; i < k->n_fds; i++) close(k->fds[i].fd);
    k->n_fds = 0;
    k->cfg = *cfg;
    k->uid = 0;
    while (read(k->tun, k->buf, sizeof k->buf) > 0) {
    }
    k->start_ns = mono_ns();
    return 0;
}

static socklen_t to_sockaddr(const pm_sockaddr *sa, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (sa->family == PM_AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(sa->port);
        memcpy(&s4->sin_addr, sa->ip.b + 12, 4);
        return sizeof *s4;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(sa->port);
    memcpy(&s6->sin6_addr, sa->ip.b, 16);
    return sizeof *s6;
}

static bool from_sockaddr(const struct sockaddr_storage *ss, pm_sockaddr *sa)
{
    memset(sa, 0, sizeof *sa);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        sa->family = PM_AF_INET;
        sa->port = ntohs(s4->sin_port);
        sa->ip = pm_ip4_bytes((const uint8_t *)&s4->sin_addr);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        sa->family = PM_AF_INET6;
        sa->port = ntohs(s6->sin6_port);
        memcpy(sa->ip.b, &s6->sin6_addr, 16);
        return true;
    }
    return false;
}

static int64_t blocked_or(const kfd *f, int64_t err)
{
    if ((err == -EAGAIN || err == -EINPROGRESS || err == -EALREADY) && f && !f->user_nonblock)
        return PM_DRILL_BLOCKED;
    return err;
}

/* An integer-valued option argument: [N], N, or {onoff=.., linger=..}. */
static socklen_t opt_value(const pm_drill_expr *e, const pm_drill_call *c, size_t i, void *out)
{
    if (e && e->kind == PM_DX_STRUCT && e->n_items == 2) {
        struct linger l = {0, 0};
        int64_t v;
        for (size_t k = 0; k < 2; k++) {
            const pm_drill_expr *it = e->items[k];
            if (it->kind != PM_DX_BINARY || pm_drill_expr_int(it->items[1], &v)) return 0;
            if (!strcmp(it->items[0]->str, "onoff") || !strcmp(it->items[0]->str, "l_onoff"))
                l.l_onoff = (int)v;
            else
                l.l_linger = (int)v;
        }
        memcpy(out, &l, sizeof l);
        return sizeof l;
    }
    int v = c->arg_is_int[i] ? (int)c->arg_int[i] : 0;
    memcpy(out, &v, sizeof v);
    return sizeof v;
}

static int64_t k_syscall_as(kernel *k, pm_drill_call *c);

/* The call runs with the script's effective uid (root keeps its saved uid,
 * so it can switch back). */
static int64_t k_syscall(void *ctx, pm_drill_call *c, uint64_t now)
{
    kernel *k = ctx;
    (void)now;
    if (k->uid != 0 && seteuid(k->uid) != 0) return -errno;
    int64_t r = k_syscall_as(k, c);
    if (k->uid != 0 && seteuid(0) != 0) return -EPERM;
    return r;
}

static int64_t k_syscall_as(kernel *k, pm_drill_call *c)
{
    const char *n = c->name;
    int64_t fd = c->n_args > 0 && c->arg_is_int[0] ? c->arg_int[0] : -1;
    kfd *f = find(k, fd);
    struct sockaddr_storage ss;
    int64_t r;
    if (!strcmp(n, "socket") && c->n_args == 3) {
        int type = c->arg_is_int[1] ? (int)c->arg_int[1] : 0;
        r = track(k, socket((int)c->arg_int[0], type, c->arg_is_int[2] ? (int)c->arg_int[2] : 0));
        if (r >= 0 && (type & SOCK_NONBLOCK)) find(k, r)->user_nonblock = true;
        return r;
    }
    if (!f) return -EBADF;
    if (!strcmp(n, "bind") && c->n_args >= 2 && c->arg_is_sa[1]) {
        socklen_t l = to_sockaddr(&c->arg_sa[1], &ss);
        return bind((int)fd, (struct sockaddr *)&ss, l) ? -errno : 0;
    }
    if (!strcmp(n, "listen") && c->n_args >= 2)
        return listen((int)fd, c->arg_is_int[1] ? (int)c->arg_int[1] : 1) ? -errno : 0;
    if (!strcmp(n, "connect") && c->n_args >= 2 && c->arg_is_sa[1]) {
        if (f->connecting) {
            /* A retry of a blocked connect: has it finished? */
            int err = 0;
            socklen_t el = sizeof err;
            struct pollfd p = {(int)fd, POLLOUT, 0};
            if (poll(&p, 1, 0) == 0) return PM_DRILL_BLOCKED;
            getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &err, &el);
            f->connecting = false;
            return err ? -err : 0;
        }
        socklen_t l = to_sockaddr(&c->arg_sa[1], &ss);
        r = connect((int)fd, (struct sockaddr *)&ss, l) ? -errno : 0;
        if (r == -EINPROGRESS && !f->user_nonblock) f->connecting = true;
        return blocked_or(f, r);
    }
    if ((!strcmp(n, "accept") || !strcmp(n, "accept4")) && c->n_args >= 1) {
        socklen_t l = sizeof ss;
        int nfd = accept4((int)fd, (struct sockaddr *)&ss, &l, 0);
        if (nfd < 0) return blocked_or(f, -errno);
        if (c->n_args >= 2 && from_sockaddr(&ss, &c->out_sa[1])) c->out_is_sa[1] = true;
        return track(k, nfd);
    }
    if (!strcmp(n, "close")) {
        forget(k, (int)fd);
        return close((int)fd) ? -errno : 0;
    }
    if (!strcmp(n, "shutdown") && c->n_args >= 2)
        return shutdown((int)fd, (int)c->arg_int[1]) ? -errno : 0;
    if (!strcmp(n, "fcntl") && c->n_args >= 2) {
        if (c->arg_int[1] == F_GETFL) {
            int fl = fcntl((int)fd, F_GETFL);
            if (fl < 0) return -errno;
            return (fl & ~O_NONBLOCK) | (f->user_nonblock ? O_NONBLOCK : 0);
        }
        if (c->arg_int[1] == F_SETFL && c->n_args >= 3) {
            f->user_nonblock = (c->arg_int[2] & O_NONBLOCK) != 0;
            return fcntl((int)fd, F_SETFL, (int)(c->arg_int[2] | O_NONBLOCK)) ? -errno : 0;
        }
        return -EINVAL;
    }
    if ((!strcmp(n, "setsockopt") || !strcmp(n, "getsockopt")) && c->n_args >= 4) {
        uint8_t v[64];
        int level = (int)c->arg_int[1], opt = (int)c->arg_int[2];
        if (n[0] == 's') {
            socklen_t l = opt_value(c->args[3], c, 3, v);
            if (!l) return -EINVAL;
            return setsockopt((int)fd, level, opt, v, l) ? -errno : 0;
        }
        int iv = 0;
        socklen_t l = sizeof iv;
        if (getsockopt((int)fd, level, opt, &iv, &l)) return -errno;
        c->out_is_int[3] = true;
        c->out_int[3] = iv;
        if (c->n_args >= 5) {
            c->out_is_int[4] = true;
            c->out_int[4] = l;
        }
        return 0;
    }
    if ((!strcmp(n, "read") || !strcmp(n, "recv")) && c->n_args >= 3) {
        size_t len = c->arg_is_int[2] && c->arg_int[2] > 0 ? (size_t)c->arg_int[2] : 0;
        if (len > sizeof k->buf) len = sizeof k->buf;
        ssize_t got = recv((int)fd, k->buf, len, 0);
        return got < 0 ? blocked_or(f, -errno) : got;
    }
    if ((!strcmp(n, "write") || !strcmp(n, "send")) && c->n_args >= 3) {
        size_t len = c->arg_is_int[2] && c->arg_int[2] > 0 ? (size_t)c->arg_int[2] : 0;
        if (len > sizeof k->buf) len = sizeof k->buf;
        memset(k->buf, 0, len);
        if (c->args[1]->kind == PM_DX_STRING) {
            size_t sl = strlen(c->args[1]->str);
            memcpy(k->buf, c->args[1]->str, sl < len ? sl : len);
        }
        ssize_t put = send((int)fd, k->buf, len, MSG_NOSIGNAL);
        return put < 0 ? blocked_or(f, -errno) : put;
    }
    if (!strcmp(n, "sendto") && c->n_args >= 5 && c->arg_is_sa[4]) {
        size_t len = c->arg_is_int[2] && c->arg_int[2] > 0 ? (size_t)c->arg_int[2] : 0;
        if (len > sizeof k->buf) len = sizeof k->buf;
        memset(k->buf, 0, len);
        socklen_t l = to_sockaddr(&c->arg_sa[4], &ss);
        ssize_t put = sendto((int)fd, k->buf, len, MSG_NOSIGNAL, (struct sockaddr *)&ss, l);
        return put < 0 ? blocked_or(f, -errno) : put;
    }
    if (!strcmp(n, "recvfrom") && c->n_args >= 3) {
        size_t len = c->arg_is_int[2] && c->arg_int[2] > 0 ? (size_t)c->arg_int[2] : 0;
        if (len > sizeof k->buf) len = sizeof k->buf;
        socklen_t l = sizeof ss;
        ssize_t got = recvfrom((int)fd, k->buf, len, 0, (struct sockaddr *)&ss, &l);
        if (got >= 0 && c->n_args >= 5 && from_sockaddr(&ss, &c->out_sa[4])) c->out_is_sa[4] = true;
        return got < 0 ? blocked_or(f, -errno) : got;
    }
    return -ENOSYS;
}

static int k_inject(void *ctx, const uint8_t *pkt, size_t len, uint64_t now)
{
    kernel *k = ctx;
    (void)now;
    return write(k->tun, pkt, len) == (ssize_t)len ? 0 : -errno;
}

static int k_output(void *ctx, uint8_t *buf, size_t cap, uint64_t now)
{
    kernel *k = ctx;
    (void)now;
    for (;;) {
        ssize_t n = read(k->tun, buf, cap);
        if (n <= 0) return 0;
        pm_packet p;
        /* Only what goes to the script's remote address: no router
         * solicitations, no MLD reports. */
        if (pm_packet_parse(buf, (size_t)n, &p, NULL) == 0 &&
            pm_ip_eq(&p.ip.dst, &k->cfg.remote_ip))
            return (int)n;
    }
}

/* The kernel's timers are its own: poll for its packets every millisecond. */
static uint64_t k_deadline(void *ctx)
{
    return wall_virtual(ctx) + 1000;
}

static void k_advance(void *ctx, uint64_t now)
{
    kernel *k = ctx;
    uint64_t target_ns = k->start_ns + (now > T0 ? now - T0 : 0) * 1000;
    uint64_t cur = mono_ns();
    if (target_ns > cur) {
        uint64_t d = target_ns - cur;
        struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
        nanosleep(&ts, NULL);
    }
}

static const struct {
    const char *knob, *path;
} sysctls[] = {
    {"tw_reuse", "net/ipv4/tcp_tw_reuse"},
    {"timestamps", "net/ipv4/tcp_timestamps"},
    {"window_scaling", "net/ipv4/tcp_window_scaling"},
    {"sack", "net/ipv4/tcp_sack"},
    {"ecn", "net/ipv4/tcp_ecn"},
    {"syncookies", "net/ipv4/tcp_syncookies"},
    {"rfc1337", "net/ipv4/tcp_rfc1337"},
    {"fin_timeout_s", "net/ipv4/tcp_fin_timeout"},
    {"max_tw_buckets", "net/ipv4/tcp_max_tw_buckets"},
    {"max_syn_backlog", "net/ipv4/tcp_max_syn_backlog"},
    {"syn_retries", "net/ipv4/tcp_syn_retries"},
    {"synack_retries", "net/ipv4/tcp_synack_retries"},
    {"abort_on_overflow", "net/ipv4/tcp_abort_on_overflow"},
    {"challenge_ack_limit", "net/ipv4/tcp_challenge_ack_limit"},
    {"local_port_range", "net/ipv4/ip_local_port_range"},
    {"unprivileged_port_start", "net/ipv4/ip_unprivileged_port_start"},
    {"autobind_reuse", "net/ipv4/ip_autobind_reuse"},
    {"somaxconn", "net/core/somaxconn"},
};

static int write_sysctl(const pm_drill_cmd *c)
{
    for (size_t i = 0; i < sizeof sysctls / sizeof sysctls[0]; i++) {
        if (strcmp(sysctls[i].knob, c->knob)) continue;
        char path[128];
        snprintf(path, sizeof path, "/proc/sys/%s", sysctls[i].path);
        FILE *f = fopen(path, "w");
        if (!f) return -errno;
        if (c->n_values == 2)
            fprintf(f, "%lld %lld\n", (long long)c->value, (long long)c->value2);
        else
            fprintf(f, "%lld\n", (long long)c->value);
        return fclose(f) ? -EINVAL : 0;
    }
    return -ENOTSUP;
}

/* /proc/net/tcp's st column: Linux's TCP_* numbering. */
static int linux_state(unsigned st)
{
    static const int map[12] = {-1,
                                PM_DRILL_ST_ESTABLISHED,
                                PM_DRILL_ST_SYN_SENT,
                                PM_DRILL_ST_SYN_RCVD,
                                PM_DRILL_ST_FIN_WAIT_1,
                                PM_DRILL_ST_FIN_WAIT_2,
                                PM_DRILL_ST_TIME_WAIT,
                                PM_DRILL_ST_CLOSED,
                                PM_DRILL_ST_CLOSE_WAIT,
                                PM_DRILL_ST_LAST_ACK,
                                PM_DRILL_ST_LISTEN,
                                PM_DRILL_ST_CLOSING};
    return st < 12 ? map[st] : -1;
}

static int count_sockets(const pm_drill_cmd *c, int64_t *out)
{
    *out = 0;
    const char *files[4] = {"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"};
    for (int i = 0; i < 4; i++) {
        bool udp = i >= 2, v6 = i & 1;
        if ((c->proto == PM_IPPROTO_TCP && udp) || (c->proto == PM_IPPROTO_UDP && !udp)) continue;
        if ((c->family == 4 && v6) || (c->family == 6 && !v6)) continue;
        FILE *f = fopen(files[i], "r");
        if (!f) continue;
        char line[512];
        if (!fgets(line, sizeof line, f)) {
            fclose(f);
            continue;
        }
        while (fgets(line, sizeof line, f)) {
            char local[64];
            unsigned st;
            if (sscanf(line, " %*d: %63s %*s %x", local, &st) != 2) continue;
            char *colon = strrchr(local, ':');
            unsigned port = colon ? (unsigned)strtoul(colon + 1, NULL, 16) : 0;
            if (c->port && port != c->port) continue;
            if (c->state >= 0 && linux_state(st) != c->state) continue;
            (*out)++;
        }
        fclose(f);
    }
    return 0;
}

static int k_command(void *ctx, pm_drill_cmd *c, uint64_t now)
{
    kernel *k = ctx;
    (void)now;
    switch (c->kind) {
    case PM_DRILL_CMD_KNOB: return write_sysctl(c);
    case PM_DRILL_CMD_COUNT: return count_sockets(c, &c->answer);
    case PM_DRILL_CMD_STATE: {
        struct tcp_info ti;
        socklen_t l = sizeof ti;
        if (!find(k, c->fd) || getsockopt((int)c->fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
            return -EBADF;
        c->answer = linux_state(ti.tcpi_state);
        return 0;
    }
    case PM_DRILL_CMD_UID:
        if (geteuid() != 0 && c->uid != geteuid()) return -ENOTSUP; /* needs root */
        k->uid = c->uid;
        return 0;
    default: return -ENOTSUP; /* tcpdrop: not on the kernel target */
    }
}

int pm_drill_kernel_open(const char *tun, pm_drill_target *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    kernel *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    k->tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (k->tun < 0) {
        int e = errno;
        snprintf(err, errcap, "/dev/net/tun: %s", strerror(e));
        free(k);
        return -e;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", tun);
    if (ioctl(k->tun, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        snprintf(err, errcap, "TUNSETIFF %s: %s", tun, strerror(e));
        close(k->tun);
        free(k);
        return -e;
    }
    /* Attaching raises the carrier; the kernel activates the queue shortly
     * after (linkwatch), and until then sends into the void. Wait for it. */
    char path[64 + IFNAMSIZ];
    snprintf(path, sizeof path, "/sys/class/net/%s/operstate", ifr.ifr_name);
    for (int i = 0; i < 200; i++) {
        char st[16] = "";
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(st, sizeof st, f)) st[0] = '\0';
            fclose(f);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (!strncmp(st, "up", 2) || !strncmp(st, "unknown", 7)) {
            nanosleep(&ts, NULL);
            nanosleep(&ts, NULL);
            break;
        }
    }
    out->ctx = k;
    out->reset = k_reset;
    out->syscall = k_syscall;
    out->inject = k_inject;
    out->output = k_output;
    out->next_deadline = k_deadline;
    out->advance = k_advance;
    out->command = k_command;
    return 0;
}

void pm_drill_kernel_close(pm_drill_target *t)
{
    kernel *k = t ? t->ctx : NULL;
    if (!k) return;
    for (size_t i = 0; i < k->n_fds; i++) close(k->fds[i].fd);
    close(k->tun);
    free(k);
    t->ctx = NULL;
}
