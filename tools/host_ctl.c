/* The host's control socket: server (portmux host) and client (portmux ss
 * --host). */
#include "host_ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "portmux/tcp.h"

static int sun_of(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path) {
        snprintf(err, errlen, "%s: path too long for a unix socket", path);
        return -1;
    }
    memcpy(sun->sun_path, path, strlen(path));
    return 0;
}

int hostctl_listen(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    if (sun_of(path, &sun, err, errlen) < 0) return -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket: refusing to replace it", path);
            return -1;
        }
        if (st.st_uid != geteuid()) {
            snprintf(err, errlen, "%s is a socket owned by uid %u, not us: refusing", path,
                     (unsigned)st.st_uid);
            return -1;
        }
        /* A live server answers connect(); a stale socket refuses. */
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c >= 0 && connect(c, (struct sockaddr *)&sun, sizeof sun) == 0) {
            close(c);
            snprintf(err, errlen, "%s: another host is serving it", path);
            return -1;
        }
        if (c >= 0) close(c);
        if (unlink(path) < 0) {
            snprintf(err, errlen, "%s: cannot remove the stale socket: %s", path, strerror(errno));
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    mode_t old = umask(0177); /* created 0600: no window with wider rights */
    int r = bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void hostctl_unlink(const char *path, int lfd)
{
    if (lfd >= 0) close(lfd);
    if (path) unlink(path);
}

unsigned hostctl_ss_state(uint8_t proto, uint8_t s)
{
    if (proto == PM_IPPROTO_UDP) return s == PM_TCP_ESTABLISHED ? PM_SS_ESTABLISHED : PM_SS_CLOSE;
    static const uint8_t map[PM_TCP_STATE_COUNT] = {
        [PM_TCP_CLOSED] = PM_SS_CLOSE,
        [PM_TCP_LISTEN] = PM_SS_LISTEN,
        [PM_TCP_SYN_SENT] = PM_SS_SYN_SENT,
        [PM_TCP_SYN_RCVD] = PM_SS_SYN_RECV,
        [PM_TCP_ESTABLISHED] = PM_SS_ESTABLISHED,
        [PM_TCP_FIN_WAIT_1] = PM_SS_FIN_WAIT1,
        [PM_TCP_FIN_WAIT_2] = PM_SS_FIN_WAIT2,
        [PM_TCP_CLOSE_WAIT] = PM_SS_CLOSE_WAIT,
        [PM_TCP_CLOSING] = PM_SS_CLOSING,
        [PM_TCP_LAST_ACK] = PM_SS_LAST_ACK,
        [PM_TCP_TIME_WAIT] = PM_SS_TIME_WAIT,
    };
    return s < PM_TCP_STATE_COUNT ? map[s] : PM_SS_UNKNOWN;
}

void hostctl_row(const pm_host_sock_info *s, pm_diag_sock *r)
{
    memset(r, 0, sizeof *r);
    r->proto = s->proto;
    r->family = s->family;
    r->state = (uint8_t)hostctl_ss_state(s->proto, s->state);
    r->timer = s->timer;
    r->retrans = s->retrans;
    r->shutdown = s->shutdown;
    r->has_shutdown = true;
    r->v6only = s->family == PM_AF_INET6 ? (int8_t)s->v6only : -1;
    r->laddr = s->local.ip;
    r->raddr = s->remote.ip;
    r->lport = s->local.port;
    r->rport = s->remote.port;
    r->rqueue = s->rqueue;
    r->wqueue = s->wqueue;
    r->timer_ms = (uint32_t)((s->timer_us + 999) / 1000);
    r->uid = s->uid;
    r->inode = s->fd >= 0 ? (uint64_t)s->fd : 0; /* the host's descriptor */
}

typedef struct wbuf {
    char *p;
    size_t len, cap;
    bool oom;
} wbuf;

static void wb_printf(wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wb_printf(wbuf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, line, (size_t)n);
    b->len += (size_t)n;
}

static int row_line(void *arg, const pm_host_sock_info *s)
{
    wbuf *b = arg;
    char l[PM_IP_STRLEN], r[PM_IP_STRLEN];
    wb_printf(b, "sock %u %u %u %u %u %u %u %s %u %s %u %u %u %llu %u %d\n", s->proto, s->family,
              hostctl_ss_state(s->proto, s->state), s->timer, s->retrans, s->shutdown, s->v6only,
              pm_ip_format(&s->local.ip, l), s->local.port, pm_ip_format(&s->remote.ip, r),
              s->remote.port, s->rqueue, s->wqueue, (unsigned long long)s->timer_us, s->uid, s->fd);
    return 0;
}

void hostctl_serve(int lfd, const pm_host *h, uint64_t now)
{
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) return;
    struct ucred cr;
    socklen_t cl = sizeof cr;
    struct timeval tv = {1, 0};
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
        (cr.uid != 0 && cr.uid != geteuid())) {
        static const char no[] = "error permission denied\nend\n";
        (void)!write(c, no, sizeof no - 1);
        close(c);
        return;
    }
    char req[64];
    ssize_t n = read(c, req, sizeof req - 1);
    req[n > 0 ? n : 0] = 0;
    wbuf b = {0};
    if (strncmp(req, "sockets", 7)) {
        wb_printf(&b, "error unknown request\nend\n");
    } else {
        const pm_host_config *cfg = pm_host_get_config(h);
        pm_host_stats st;
        pm_host_get_stats(h, &st);
        int64_t lo = cfg->local_port_range.lo, hi = cfg->local_port_range.hi;
        (void)pm_host_knob_get(h, "ephemeral_first", &lo);
        (void)pm_host_knob_get(h, "ephemeral_last", &hi);
        wb_printf(&b, "portmux-host 1\nrange %lld %lld\n", (long long)lo, (long long)hi);
#define STAT(f) wb_printf(&b, "stat " #f " %llu\n", (unsigned long long)st.f)
        STAT(sockets);
        STAT(tcbs);
        STAT(time_wait);
        STAT(udp_queues);
        STAT(in_packets);
        STAT(out_packets);
        STAT(out_dropped);
        STAT(accepts);
        STAT(connects);
        STAT(rst_sent);
        STAT(syn_queue_full);
        STAT(cookies_sent);
        STAT(tw_entered);
        STAT(tw_expired);
        STAT(tw_reopened);
        STAT(tw_recycled);
        STAT(tcb_pool_full);
        STAT(tw_pool_full);
        STAT(tw_eph_full);
#undef STAT
        /* The TCP stack's loss and recovery counters (docs/host-tun.md). */
        const pm_tcp_stats *ts = pm_host_tcp_stats(h);
#define TSTAT(f) wb_printf(&b, "stat tcp_" #f " %llu\n", (unsigned long long)ts->f)
        TSTAT(retrans_segs);
        TSTAT(rto_fired);
        TSTAT(fast_retrans);
        TSTAT(sack_recoveries);
        TSTAT(sack_rxt);
        TSTAT(limited_tx);
        TSTAT(tlp_probes);
        TSTAT(tlp_recoveries);
        TSTAT(dsacks_in);
        TSTAT(dsacks_out);
        TSTAT(rxt_lost);
        TSTAT(ooo_queued);
        TSTAT(ooo_dropped);
        TSTAT(dup_segs);
        TSTAT(ext_in_use);
        TSTAT(ext_full);
        TSTAT(ext_ooo_dropped);
        TSTAT(ext_newreno);
        TSTAT(ext_no_tlp);
#undef TSTAT
        pm_host_sockets(h, now, row_line, &b);
        wb_printf(&b, "end\n");
    }
    if (!b.oom) {
        size_t off = 0;
        while (off < b.len) {
            ssize_t k = write(c, b.p + off, b.len - off);
            if (k <= 0) break;
            off += (size_t)k;
        }
    }
    free(b.p);
    close(c);
}

/* ---- client ---------------------------------------------------------- */

uint64_t hostctl_stat_get(const hostctl_reply *r, const char *name)
{
    for (size_t i = 0; i < r->n_stats; i++)
        if (!strcmp(r->stats[i].name, name)) return r->stats[i].value;
    return 0;
}

static int parse_sock(char *line, pm_diag_sock *r)
{
    unsigned proto, fam, state, timer, retrans, shut, v6only, lport, rport, rq, wq, uid;
    unsigned long long tus;
    int fd;
    char l[PM_IP_STRLEN], rr[PM_IP_STRLEN];
    if (sscanf(line, "sock %u %u %u %u %u %u %u %45s %u %45s %u %u %u %llu %u %d", &proto, &fam,
               &state, &timer, &retrans, &shut, &v6only, l, &lport, rr, &rport, &rq, &wq, &tus,
               &uid, &fd) != 16)
        return -1;
    memset(r, 0, sizeof *r);
    int f;
    if (pm_ip_parse(l, &r->laddr, &f) < 0 || pm_ip_parse(rr, &r->raddr, &f) < 0) return -1;
    if (lport > 65535 || rport > 65535 || state >= PM_SS_MAX) return -1;
    r->proto = (uint8_t)proto;
    r->family = (uint8_t)fam;
    r->state = (uint8_t)state;
    r->timer = (uint8_t)timer;
    r->retrans = (uint8_t)retrans;
    r->shutdown = (uint8_t)shut;
    r->has_shutdown = true;
    r->v6only = fam == PM_AF_INET6 ? (int8_t)v6only : -1;
    r->lport = (uint16_t)lport;
    r->rport = (uint16_t)rport;
    r->rqueue = rq;
    r->wqueue = wq;
    r->timer_ms = (uint32_t)((tus + 999) / 1000);
    r->uid = uid;
    r->inode = fd >= 0 ? (uint64_t)fd : 0;
    return 0;
}

int hostctl_query(const char *path, hostctl_reply *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_un sun;
    if (sun_of(path, &sun, err, errlen) < 0) return -1;
    struct stat st;
    if (lstat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s is not a socket", path);
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s is owned by uid %u, neither root nor us: not trusted", path,
                 (unsigned)st.st_uid);
        return -1;
    }
    if (st.st_mode & 0077) {
        snprintf(err, errlen, "%s has mode %04o: a host's control socket is 0600, not trusted",
                 path, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {5, 0};
    if (c < 0) goto sys;
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(c, (struct sockaddr *)&sun, sizeof sun) < 0) goto sys;
    if (write(c, "sockets\n", 8) != 8) goto sys;
    FILE *f = fdopen(c, "r");
    if (!f) goto sys;
    char line[512];
    bool hello = false, end = false;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "end", 3)) {
            end = true;
            break;
        }
        if (!strncmp(line, "error ", 6)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(err, errlen, "%s: the host says: %s", path, line + 6);
            rc = -1;
            break;
        }
        if (!strncmp(line, "portmux-host ", 13)) {
            hello = true;
        } else if (!strncmp(line, "range ", 6)) {
            unsigned lo, hi;
            if (sscanf(line, "range %u %u", &lo, &hi) == 2 && lo <= hi && hi <= 65535) {
                out->eph_lo = (uint16_t)lo;
                out->eph_hi = (uint16_t)hi;
            }
        } else if (!strncmp(line, "stat ", 5)) {
            hostctl_stat *s = &out->stats[out->n_stats];
            unsigned long long v;
            if (out->n_stats < 64 && sscanf(line, "stat %31s %llu", s->name, &v) == 2) {
                s->value = v;
                out->n_stats++;
            }
        } else if (!strncmp(line, "sock ", 5)) {
            pm_diag_sock r;
            if (parse_sock(line, &r) < 0) {
                snprintf(err, errlen, "%s: malformed reply line", path);
                rc = -1;
                break;
            }
            if (pm_diag_table_push(&out->t, &r) < 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
        }
    }
    fclose(f);
    if (!rc && (!hello || !end)) {
        snprintf(err, errlen, "%s: incomplete reply (not a portmux host?)", path);
        rc = -1;
    }
    if (rc) pm_diag_table_free(&out->t);
    return rc;
sys:
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    if (c >= 0) close(c);
    return -1;
}
