/* A drill target that is a portmux host (pm_host) in virtual time: the
 * script's system calls go to the socket API, its '<' packets to
 * pm_host_input, its '>' packets come from pm_host_output, and time is the
 * interpreter's (pm_host_next_deadline / pm_host_advance). A fresh host is
 * created for every script with the script's local address and the
 * personality asked for, so scripts cannot leak state into each other.
 *
 * The host's calls never block; a call the script makes on a blocking fd
 * (no O_NONBLOCK) that would block is reported as PM_DRILL_BLOCKED and
 * retried by the interpreter as time passes, as kernel.c does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill/drill_int.h"
#include "portmux/host.h"
#include "portmux/socket.h"

#define HFD_MAX      64
#define L_O_RDWR     02 /* Linux fcntl values: the scripts' symbols */
#define L_O_NONBLOCK 04000
#define L_F_GETFL    3
#define L_F_SETFL    4

typedef struct hfd {
    int fd;
    bool nonblock;   /* the script's O_NONBLOCK */
    bool connecting; /* a blocking connect in flight */
} hfd;

typedef struct htarget {
    pm_host *h;
    pm_personality pers;
    pm_drill_config cfg;
    pm_cred cred;
    hfd fds[HFD_MAX];
    size_t n_fds;
    uint8_t buf[65536];
} htarget;

static hfd *find(htarget *t, int64_t fd)
{
    for (size_t i = 0; i < t->n_fds; i++)
        if (t->fds[i].fd == fd) return &t->fds[i];
    return NULL;
}

static void forget(htarget *t, int fd)
{
    for (size_t i = 0; i < t->n_fds; i++)
        if (t->fds[i].fd == fd) {
            t->fds[i] = t->fds[--t->n_fds];
            return;
        }
}

static int64_t track(htarget *t, int fd, bool nonblock)
{
    if (fd < 0) return fd;
    if (t->n_fds == HFD_MAX) return -EMFILE;
    t->fds[t->n_fds++] = (hfd){fd, nonblock, false};
    return fd;
}

static int h_reset(void *ctx, const pm_drill_config *cfg)
{
    htarget *t = ctx;
    if (t->h) pm_host_destroy(t->h);
    t->h = NULL;
    t->n_fds = 0;
    t->cfg = *cfg;
    t->cred = (pm_cred){0, true};
    pm_personality p = t->pers;
    if (cfg->personality && pm_personality_parse(cfg->personality, &p) < 0) return -ENOTSUP;
    pm_host_config hc;
    pm_host_config_default(&hc, p);
    /* Small pools: a script holds a handful of sockets. Creation is per
     * script, so this is what keeps the suite fast. */
    hc.max_sockets = 64;
    hc.max_tcbs = 32;
    hc.max_tw = 64;
    hc.max_udp = 16;
    hc.out_packets = 256;
    hc.seed = 0x706f72746d7578ull; /* deterministic runs */
    hc.local[0] = cfg->local_ip;
    hc.n_local = 1;
    return pm_host_create(&t->h, &hc);
}

/* {onoff=.., linger=..} or an integer argument. */
static size_t opt_value(const pm_drill_expr *e, const pm_drill_call *c, size_t i, void *out)
{
    if (e && e->kind == PM_DX_STRUCT && e->n_items == 2) {
        pm_linger l = {0, 0};
        int64_t v;
        for (size_t k = 0; k < 2; k++) {
            const pm_drill_expr *it = e->items[k];
            if (it->kind != PM_DX_BINARY || pm_drill_expr_int(it->items[1], &v)) return 0;
            if (!strcmp(it->items[0]->str, "onoff") || !strcmp(it->items[0]->str, "l_onoff"))
                l.l_onoff = (int32_t)v;
            else
                l.l_linger = (int32_t)v;
        }
        memcpy(out, &l, sizeof l);
        return sizeof l;
    }
    if (!c->arg_is_int[i]) return 0;
    int v = (int)c->arg_int[i];
    memcpy(out, &v, sizeof v);
    return sizeof v;
}

static int64_t blocked_or(const hfd *f, int64_t err)
{
    if ((err == -EAGAIN || err == -EINPROGRESS || err == -EALREADY) && f && !f->nonblock)
        return PM_DRILL_BLOCKED;
    return err;
}

static size_t len_arg(const pm_drill_call *c, size_t i, size_t cap)
{
    size_t len = c->arg_is_int[i] && c->arg_int[i] > 0 ? (size_t)c->arg_int[i] : 0;
    return len > cap ? cap : len;
}

static int64_t h_syscall(void *ctx, pm_drill_call *c, uint64_t now)
{
    htarget *t = ctx;
    pm_host *h = t->h;
    const char *n = c->name;
    int64_t fd64 = c->n_args > 0 && c->arg_is_int[0] ? c->arg_int[0] : -1;
    if (!h) return -ENOSYS;
    if (!strcmp(n, "socket") && c->n_args == 3) {
        int type = c->arg_is_int[1] ? (int)c->arg_int[1] : 0;
        bool nb = (type & L_O_NONBLOCK) != 0; /* SOCK_NONBLOCK == O_NONBLOCK */
        type &= ~(L_O_NONBLOCK | 02000000);   /* SOCK_CLOEXEC */
        int fam = c->arg_is_int[0] ? (int)c->arg_int[0] : c->domain;
        return track(t, pm_sock_socket(h, fam, type, &t->cred), nb);
    }
    hfd *f = find(t, fd64);
    if (!f) return -EBADF;
    int fd = (int)fd64;
    if (!strcmp(n, "bind") && c->n_args >= 2 && c->arg_is_sa[1])
        return pm_sock_bind(h, fd, &c->arg_sa[1], &t->cred);
    if (!strcmp(n, "listen") && c->n_args >= 2)
        return pm_sock_listen(h, fd, c->arg_is_int[1] ? (int)c->arg_int[1] : 1, &t->cred);
    if (!strcmp(n, "connect") && c->n_args >= 2 && c->arg_is_sa[1]) {
        if (f->connecting) {
            /* A retry of a blocked connect: has it finished? */
            unsigned ev = pm_sock_poll(h, fd);
            if (!(ev & (PM_POLLOUT | PM_POLLERR | PM_POLLHUP))) return PM_DRILL_BLOCKED;
            f->connecting = false;
            int err = 0;
            size_t el = sizeof err;
            pm_sock_getsockopt(h, fd, PM_SOL_SOCKET, PM_SO_ERROR, &err, &el);
            return err ? -err : 0;
        }
        int64_t r = pm_sock_connect(h, fd, &c->arg_sa[1], &t->cred, now);
        if (r == -EINPROGRESS && !f->nonblock) f->connecting = true;
        return blocked_or(f, r);
    }
    if ((!strcmp(n, "accept") || !strcmp(n, "accept4")) && c->n_args >= 1) {
        pm_sockaddr peer;
        int nfd = pm_sock_accept(h, fd, &peer, &t->cred);
        if (nfd < 0) return blocked_or(f, nfd);
        if (c->n_args >= 2) {
            c->out_is_sa[1] = true;
            c->out_sa[1] = peer;
        }
        bool nb = !strcmp(n, "accept4") && c->n_args >= 4 && c->arg_is_int[3] &&
                  (c->arg_int[3] & L_O_NONBLOCK);
        int64_t r = track(t, nfd, nb);
        if (r < 0) pm_sock_close(h, nfd, now);
        return r;
    }
    if (!strcmp(n, "close")) {
        forget(t, fd);
        return pm_sock_close(h, fd, now);
    }
    if (!strcmp(n, "shutdown") && c->n_args >= 2 && c->arg_is_int[1])
        return pm_sock_shutdown(h, fd, (int)c->arg_int[1], now);
    if (!strcmp(n, "fcntl") && c->n_args >= 2 && c->arg_is_int[1]) {
        /* Both personalities' F_GETFL of a socket is O_RDWR (FreeBSD:
         * FREAD|FWRITE read back as O_RDWR), plus O_NONBLOCK when set. */
        if (c->arg_int[1] == L_F_GETFL) return L_O_RDWR | (f->nonblock ? L_O_NONBLOCK : 0);
        if (c->arg_int[1] == L_F_SETFL && c->n_args >= 3 && c->arg_is_int[2]) {
            f->nonblock = (c->arg_int[2] & L_O_NONBLOCK) != 0;
            return 0;
        }
        return -EINVAL;
    }
    if ((!strcmp(n, "setsockopt") || !strcmp(n, "getsockopt")) && c->n_args >= 4 &&
        c->arg_is_int[1] && c->arg_is_int[2]) {
        int level = (int)c->arg_int[1], opt = (int)c->arg_int[2];
        uint8_t v[16];
        if (n[0] == 's') {
            size_t l = opt_value(c->args[3], c, 3, v);
            if (!l) return -EINVAL;
            return pm_sock_setsockopt(h, fd, level, opt, v, l);
        }
        memset(v, 0, sizeof v);
        size_t l = sizeof(int);
        if (opt == PM_SO_LINGER && level == PM_SOL_SOCKET) l = sizeof(pm_linger);
        int r = pm_sock_getsockopt(h, fd, level, opt, v, &l);
        if (r < 0) return r;
        int iv;
        memcpy(&iv, v, sizeof iv);
        c->out_is_int[3] = true;
        c->out_int[3] = iv;
        if (c->n_args >= 5) {
            c->out_is_int[4] = true;
            c->out_int[4] = (int64_t)l;
        }
        return 0;
    }
    if ((!strcmp(n, "read") || !strcmp(n, "recv")) && c->n_args >= 3) {
        long got = pm_sock_recv(h, fd, t->buf, len_arg(c, 2, sizeof t->buf), now);
        return got < 0 ? blocked_or(f, got) : got;
    }
    if ((!strcmp(n, "write") || !strcmp(n, "send")) && c->n_args >= 3) {
        size_t len = len_arg(c, 2, sizeof t->buf);
        memset(t->buf, 0, len);
        if (c->args[1]->kind == PM_DX_STRING) {
            size_t sl = strlen(c->args[1]->str);
            memcpy(t->buf, c->args[1]->str, sl < len ? sl : len);
        }
        long put = pm_sock_send(h, fd, t->buf, len, now);
        return put < 0 ? blocked_or(f, put) : put;
    }
    if (!strcmp(n, "sendto") && c->n_args >= 5) {
        size_t len = len_arg(c, 2, sizeof t->buf);
        memset(t->buf, 0, len);
        long put = pm_sock_sendto(h, fd, t->buf, len, c->arg_is_sa[4] ? &c->arg_sa[4] : NULL,
                                  &t->cred, now);
        return put < 0 ? blocked_or(f, put) : put;
    }
    if (!strcmp(n, "recvfrom") && c->n_args >= 3) {
        pm_sockaddr from;
        long got = pm_sock_recvfrom(h, fd, t->buf, len_arg(c, 2, sizeof t->buf), &from, now);
        if (got >= 0 && c->n_args >= 5) {
            c->out_is_sa[4] = true;
            c->out_sa[4] = from;
        }
        return got < 0 ? blocked_or(f, got) : got;
    }
    if ((!strcmp(n, "getsockname") || !strcmp(n, "getpeername")) && c->n_args >= 2) {
        pm_sockaddr sa;
        int r = n[3] == 's' ? pm_sock_getsockname(h, fd, &sa) : pm_sock_getpeername(h, fd, &sa);
        if (r == 0) {
            c->out_is_sa[1] = true;
            c->out_sa[1] = sa;
        }
        return r;
    }
    return -ENOSYS;
}

static int h_inject(void *ctx, const uint8_t *pkt, size_t len, uint64_t now)
{
    htarget *t = ctx;
    if (!t->h) return -ENOSYS;
    (void)pm_host_input(t->h, pkt, len, now); /* a drop is the host's answer, not an error */
    return 0;
}

static int h_output(void *ctx, uint8_t *buf, size_t cap, uint64_t now)
{
    htarget *t = ctx;
    if (!t->h) return 0;
    int n = pm_host_output(t->h, buf, cap, now);
    return n < 0 ? 0 : n;
}

static uint64_t h_deadline(void *ctx)
{
    htarget *t = ctx;
    return t->h ? pm_host_next_deadline(t->h) : UINT64_MAX;
}

static void h_advance(void *ctx, uint64_t now)
{
    htarget *t = ctx;
    if (t->h) pm_host_advance(t->h, now);
}

/* drill's state numbering -> pm_tcp_state. */
static int tcp_state(int ds)
{
    static const int map[PM_DRILL_ST__COUNT] = {
        [PM_DRILL_ST_CLOSED] = PM_TCP_CLOSED,
        [PM_DRILL_ST_LISTEN] = PM_TCP_LISTEN,
        [PM_DRILL_ST_SYN_SENT] = PM_TCP_SYN_SENT,
        [PM_DRILL_ST_SYN_RCVD] = PM_TCP_SYN_RCVD,
        [PM_DRILL_ST_ESTABLISHED] = PM_TCP_ESTABLISHED,
        [PM_DRILL_ST_CLOSE_WAIT] = PM_TCP_CLOSE_WAIT,
        [PM_DRILL_ST_FIN_WAIT_1] = PM_TCP_FIN_WAIT_1,
        [PM_DRILL_ST_CLOSING] = PM_TCP_CLOSING,
        [PM_DRILL_ST_LAST_ACK] = PM_TCP_LAST_ACK,
        [PM_DRILL_ST_FIN_WAIT_2] = PM_TCP_FIN_WAIT_2,
        [PM_DRILL_ST_TIME_WAIT] = PM_TCP_TIME_WAIT,
    };
    return ds >= 0 && ds < PM_DRILL_ST__COUNT ? map[ds] : -1;
}

static int drill_state(int ts)
{
    for (int d = 0; d < PM_DRILL_ST__COUNT; d++)
        if (tcp_state(d) == ts) return d;
    return -1;
}

typedef struct count_ctx {
    const pm_drill_cmd *c;
    int64_t n;
} count_ctx;

static int count_one(void *arg, const pm_host_sock_info *s)
{
    count_ctx *cc = arg;
    const pm_drill_cmd *c = cc->c;
    if (c->proto && s->proto != c->proto) return 0;
    if (c->family == 4 && s->family != PM_AF_INET) return 0;
    if (c->family == 6 && s->family != PM_AF_INET6) return 0;
    if (c->port && s->local.port != c->port) return 0;
    if (c->state >= 0 && (s->proto != PM_IPPROTO_TCP || s->state != tcp_state(c->state))) return 0;
    cc->n++;
    return 0;
}

typedef struct fd_state_ctx {
    int fd;
    int state;
} fd_state_ctx;

/* The state of one descriptor as ss sees it (a listener has no TCB). */
static int fd_state(void *arg, const pm_host_sock_info *s)
{
    fd_state_ctx *fs = arg;
    if (s->fd != fs->fd) return 0;
    fs->state = s->state;
    return 1;
}

static int h_command(void *ctx, pm_drill_cmd *c, uint64_t now)
{
    htarget *t = ctx;
    if (!t->h) return -ENOSYS;
    switch (c->kind) {
    case PM_DRILL_CMD_KNOB: {
        /* A knob the host lacks, or a value it cannot take, skips the
         * script: pm_host_knob_set() accepts FreeBSD's fixed ones (ecn 2,
         * hostcache_purge, maxsockbuf) only at the value the host has. */
        int rc = pm_host_knob_set(t->h, c->knob, c->value, c->value2);
        return rc == -EINVAL || rc == -ENOENT ? -ENOTSUP : rc;
    }
    case PM_DRILL_CMD_COUNT: {
        count_ctx cc = {c, 0};
        pm_host_sockets(t->h, now, count_one, &cc);
        c->answer = cc.n;
        return 0;
    }
    case PM_DRILL_CMD_DROP:
        if (c->state != PM_DRILL_ST_TIME_WAIT) return -ENOTSUP;
        pm_host_drop_time_wait(t->h);
        return 0;
    case PM_DRILL_CMD_STATE: {
        if (!find(t, c->fd)) return -EBADF;
        fd_state_ctx fs = {(int)c->fd, PM_TCP_CLOSED};
        pm_host_sockets(t->h, now, fd_state, &fs);
        c->answer = drill_state(fs.state);
        return 0;
    }
    case PM_DRILL_CMD_UID:
        t->cred.uid = c->uid;
        t->cred.cap_net_bind_service = c->uid == 0;
        return 0;
    }
    return -ENOTSUP;
}

int pm_drill_host_open(const char *personality, pm_drill_target *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    pm_personality p = PM_PERS_LINUX;
    if (personality && pm_personality_parse(personality, &p) < 0) {
        snprintf(err, errcap, "unknown personality '%s'", personality);
        return -EINVAL;
    }
    htarget *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    t->pers = p;
    out->ctx = t;
    out->reset = h_reset;
    out->syscall = h_syscall;
    out->inject = h_inject;
    out->output = h_output;
    out->next_deadline = h_deadline;
    out->advance = h_advance;
    out->command = h_command;
    return 0;
}

void pm_drill_host_close(pm_drill_target *t)
{
    htarget *ht = t ? t->ctx : NULL;
    if (!ht) return;
    if (ht->h) pm_host_destroy(ht->h);
    free(ht);
    t->ctx = NULL;
}
