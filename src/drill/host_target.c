/* The drill target over a portmux host (include/portmux/drill_host.h):
 * each script gets a fresh host with the script's local address and the
 * chosen personality; system calls map onto the socket API, blocking
 * where the script's socket is blocking (PM_DRILL_BLOCKED, retried by the
 * interpreter), packets go through pm_host_input / pm_host_output, and
 * time is the interpreter's virtual time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drill/drill_int.h"
#include "portmux/drill_host.h"
#include "portmux/host.h"
#include "portmux/socket.h"

#define HFD_MAX          256
#define O_NONBLOCK_LINUX 04000
#define F_GETFL_LINUX    3
#define F_SETFL_LINUX    4

typedef struct dhost {
    pm_host *h;
    pm_personality pers;
    pm_drill_config cfg;
    pm_cred cred;
    bool nonblock[HFD_MAX];
    bool connecting[HFD_MAX];
    uint8_t buf[65536];
} dhost;

static int d_reset(void *ctx, const pm_drill_config *cfg)
{
    dhost *d = ctx;
    if (d->h) pm_host_destroy(d->h);
    d->h = NULL;
    d->cfg = *cfg;
    pm_personality p = d->pers;
    if (cfg->personality) pm_personality_parse(cfg->personality, &p);
    pm_host_config c;
    pm_host_config_default(&c, p);
    c.seed = 1;
    c.max_sockets = HFD_MAX;
    c.max_tcbs = 64;
    c.max_tw = 256;
    c.n_local = 1;
    c.local[0] = cfg->local_ip;
    if (cfg->mss) c.tcp.mss_local = cfg->mss;
    memset(d->nonblock, 0, sizeof d->nonblock);
    memset(d->connecting, 0, sizeof d->connecting);
    d->cred = (pm_cred){0, true};
    return pm_host_create(&d->h, &c);
}

static int64_t blocked_or(const dhost *d, int64_t fd, int64_t r)
{
    bool nb = fd >= 0 && fd < HFD_MAX && d->nonblock[fd];
    if ((r == -EAGAIN || r == -EINPROGRESS || r == -EALREADY) && !nb) return PM_DRILL_BLOCKED;
    return r;
}

/* An option value: [N], N, or {l_onoff=.., l_linger=..}. */
static size_t opt_value(const pm_drill_call *c, size_t i, void *out)
{
    const pm_drill_expr *e = c->args[i];
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
    int v = c->arg_is_int[i] ? (int)c->arg_int[i] : 0;
    memcpy(out, &v, sizeof v);
    return sizeof v;
}

static size_t len_arg(const pm_drill_call *c, size_t i, size_t cap)
{
    size_t len = c->arg_is_int[i] && c->arg_int[i] > 0 ? (size_t)c->arg_int[i] : 0;
    return len > cap ? cap : len;
}

static int64_t d_syscall(void *ctx, pm_drill_call *c, uint64_t now)
{
    dhost *d = ctx;
    pm_host *h = d->h;
    const char *n = c->name;
    int64_t fd = c->n_args > 0 && c->arg_is_int[0] ? c->arg_int[0] : -1;
    int ifd = fd >= 0 && fd < HFD_MAX ? (int)fd : -1;
    if (!strcmp(n, "socket") && c->n_args == 3) {
        int type = c->arg_is_int[1] ? (int)c->arg_int[1] : 0;
        int r = pm_sock_socket(h, (int)c->arg_int[0], type & 0xf, &d->cred);
        if (r >= 0 && r < HFD_MAX) {
            d->nonblock[r] = (type & O_NONBLOCK_LINUX) != 0;
            d->connecting[r] = false;
        }
        return r;
    }
    if (ifd < 0) return -EBADF;
    if (!strcmp(n, "bind") && c->n_args >= 2 && c->arg_is_sa[1])
        return pm_sock_bind(h, ifd, &c->arg_sa[1], &d->cred);
    if (!strcmp(n, "listen") && c->n_args >= 2)
        return pm_sock_listen(h, ifd, c->arg_is_int[1] ? (int)c->arg_int[1] : 1, &d->cred);
    if (!strcmp(n, "connect") && c->n_args >= 2 && c->arg_is_sa[1]) {
        int r = pm_sock_connect(h, ifd, &c->arg_sa[1], &d->cred, now);
        if (d->connecting[ifd] && r == -EALREADY) return PM_DRILL_BLOCKED;
        d->connecting[ifd] = r == -EINPROGRESS && !d->nonblock[ifd];
        return blocked_or(d, fd, r);
    }
    if ((!strcmp(n, "accept") || !strcmp(n, "accept4")) && c->n_args >= 1) {
        pm_sockaddr peer;
        int r = pm_sock_accept(h, ifd, &peer, &d->cred);
        if (r < 0) return blocked_or(d, fd, r);
        if (c->n_args >= 2) {
            c->out_is_sa[1] = true;
            c->out_sa[1] = peer;
        }
        if (r < HFD_MAX) d->nonblock[r] = d->connecting[r] = false;
        return r;
    }
    if (!strcmp(n, "close")) return pm_sock_close(h, ifd, now);
    if (!strcmp(n, "shutdown") && c->n_args >= 2)
        return pm_sock_shutdown(h, ifd, (int)c->arg_int[1], now);
    if (!strcmp(n, "fcntl") && c->n_args >= 2) {
        if (!pm_sock_poll(h, ifd) && pm_sock_getsockname(h, ifd, &(pm_sockaddr){0}) < 0)
            return -EBADF;
        if (c->arg_int[1] == F_GETFL_LINUX) return 02 | (d->nonblock[ifd] ? O_NONBLOCK_LINUX : 0);
        if (c->arg_int[1] == F_SETFL_LINUX && c->n_args >= 3) {
            d->nonblock[ifd] = (c->arg_int[2] & O_NONBLOCK_LINUX) != 0;
            return 0;
        }
        return -EINVAL;
    }
    if ((!strcmp(n, "setsockopt") || !strcmp(n, "getsockopt")) && c->n_args >= 4) {
        uint8_t v[64];
        int level = (int)c->arg_int[1], opt = (int)c->arg_int[2];
        if (n[0] == 's') {
            size_t l = opt_value(c, 3, v);
            if (!l) return -EINVAL;
            return pm_sock_setsockopt(h, ifd, level, opt, v, l);
        }
        size_t l = sizeof v;
        int r = pm_sock_getsockopt(h, ifd, level, opt, v, &l);
        if (r) return r;
        int iv = 0;
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
        long r = pm_sock_recv(h, ifd, d->buf, len_arg(c, 2, sizeof d->buf), now);
        return blocked_or(d, fd, r);
    }
    if ((!strcmp(n, "write") || !strcmp(n, "send")) && c->n_args >= 3) {
        size_t len = len_arg(c, 2, sizeof d->buf);
        memset(d->buf, 0, len);
        if (c->args[1]->kind == PM_DX_STRING) {
            size_t sl = strlen(c->args[1]->str);
            memcpy(d->buf, c->args[1]->str, sl < len ? sl : len);
        }
        return blocked_or(d, fd, pm_sock_send(h, ifd, d->buf, len, now));
    }
    if (!strcmp(n, "sendto") && c->n_args >= 5 && c->arg_is_sa[4]) {
        size_t len = len_arg(c, 2, sizeof d->buf);
        memset(d->buf, 0, len);
        return blocked_or(d, fd, pm_sock_sendto(h, ifd, d->buf, len, &c->arg_sa[4], &d->cred, now));
    }
    if (!strcmp(n, "recvfrom") && c->n_args >= 3) {
        pm_sockaddr from;
        long r = pm_sock_recvfrom(h, ifd, d->buf, len_arg(c, 2, sizeof d->buf), &from, now);
        if (r >= 0 && c->n_args >= 5) {
            c->out_is_sa[4] = true;
            c->out_sa[4] = from;
        }
        return blocked_or(d, fd, r);
    }
    return -ENOSYS;
}

static int d_inject(void *ctx, const uint8_t *pkt, size_t len, uint64_t now)
{
    dhost *d = ctx;
    int r = pm_host_input(d->h, pkt, len, now);
    return r < 0 && r > -4096 ? r : 0;
}

static int d_output(void *ctx, uint8_t *buf, size_t cap, uint64_t now)
{
    dhost *d = ctx;
    int n = pm_host_output(d->h, buf, cap, now);
    return n < 0 ? 0 : n;
}

static uint64_t d_deadline(void *ctx)
{
    dhost *d = ctx;
    return pm_host_next_deadline(d->h);
}

static void d_advance(void *ctx, uint64_t now)
{
    dhost *d = ctx;
    pm_host_advance(d->h, now);
}

static int drill_state(int tcp_state)
{
    static const int map[PM_TCP_STATE_COUNT] = {
        PM_DRILL_ST_CLOSED,     PM_DRILL_ST_LISTEN,      PM_DRILL_ST_SYN_SENT,
        PM_DRILL_ST_SYN_RCVD,   PM_DRILL_ST_ESTABLISHED, PM_DRILL_ST_FIN_WAIT_1,
        PM_DRILL_ST_FIN_WAIT_2, PM_DRILL_ST_CLOSE_WAIT,  PM_DRILL_ST_CLOSING,
        PM_DRILL_ST_LAST_ACK,   PM_DRILL_ST_TIME_WAIT};
    return tcp_state >= 0 && tcp_state < PM_TCP_STATE_COUNT ? map[tcp_state] : -1;
}

static int tcp_state_of(int drill)
{
    for (int s = 0; s < PM_TCP_STATE_COUNT; s++)
        if (drill_state(s) == drill) return s;
    return -1;
}

typedef struct count_arg {
    const pm_drill_cmd *c;
    int64_t n;
} count_arg;

static int count_fn(void *arg, const pm_host_sock_info *s)
{
    count_arg *a = arg;
    const pm_drill_cmd *c = a->c;
    if (c->proto && s->proto != c->proto) return 0;
    bool v4 = pm_ip_is_v4(&s->local.ip) && s->family == PM_AF_INET;
    if ((c->family == 4 && !v4) || (c->family == 6 && v4)) return 0;
    if (c->port && s->local.port != c->port) return 0;
    if (c->state >= 0 && s->state != tcp_state_of(c->state)) return 0;
    a->n++;
    return 0;
}

typedef struct state_arg {
    int fd, state;
} state_arg;

static int state_fn(void *arg, const pm_host_sock_info *s)
{
    state_arg *a = arg;
    if (s->fd != a->fd) return 0;
    a->state = s->state;
    return 1;
}

static int d_command(void *ctx, pm_drill_cmd *c, uint64_t now)
{
    dhost *d = ctx;
    switch (c->kind) {
    case PM_DRILL_CMD_KNOB:
        return pm_host_knob_set(d->h, c->knob, c->value, c->value2) == 0 ? 0 : -ENOTSUP;
    case PM_DRILL_CMD_COUNT: {
        count_arg a = {c, 0};
        pm_host_sockets(d->h, now, count_fn, &a);
        c->answer = a.n;
        return 0;
    }
    case PM_DRILL_CMD_DROP:
        if (c->state != PM_DRILL_ST_TIME_WAIT && c->state != -1) return -ENOTSUP;
        pm_host_drop_time_wait(d->h);
        return 0;
    case PM_DRILL_CMD_STATE: {
        state_arg a = {(int)c->fd, PM_TCP_CLOSED};
        pm_host_sockets(d->h, now, state_fn, &a);
        c->answer = drill_state(a.state);
        return 0;
    }
    case PM_DRILL_CMD_UID: d->cred = (pm_cred){c->uid, c->uid == 0}; return 0;
    default: return -ENOTSUP;
    }
}

int pm_drill_host_open(const char *personality, pm_drill_target *out)
{
    memset(out, 0, sizeof *out);
    pm_personality p = PM_PERS_LINUX;
    if (personality && pm_personality_parse(personality, &p)) return -EINVAL;
    dhost *d = calloc(1, sizeof *d);
    if (!d) return -ENOMEM;
    d->pers = p;
    out->ctx = d;
    out->reset = d_reset;
    out->syscall = d_syscall;
    out->inject = d_inject;
    out->output = d_output;
    out->next_deadline = d_deadline;
    out->advance = d_advance;
    out->command = d_command;
    return 0;
}

void pm_drill_host_close(pm_drill_target *t)
{
    dhost *d = t ? t->ctx : NULL;
    if (!d) return;
    if (d->h) pm_host_destroy(d->h);
    free(d);
    t->ctx = NULL;
}
