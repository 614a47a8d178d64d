/* Built-in services on the socket API: one state per descriptor, driven by
 * pm_host_events as a server on epoll would be. Level-triggered events are
 * reported once per change, so every handler works until -EAGAIN. */
#include "portmux/apps.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROLE_NONE = 0, ROLE_LISTEN, ROLE_CONN, ROLE_UDP, ROLE_CLIENT };
#define REQ_MAX   4096 /* HTTP request head */
#define CHUNK     16384
#define CHARGEN_W 72

typedef struct app_fd {
    uint8_t role, kind;
    bool eof;      /* the peer's FIN read */
    bool closing;  /* close once pend is sent */
    bool sent;     /* client: request sent */
    uint32_t pos;  /* chargen position */
    uint8_t *pend; /* bytes accepted for sending but not yet taken by send() */
    uint32_t pend_len, pend_off;
    char *req; /* HTTP request head */
    uint32_t req_len;
    uint64_t got;    /* client: bytes received */
    pm_sockaddr dst; /* client: where to */
} app_fd;

struct pm_apps {
    pm_host *h;
    uint32_t n;
    app_fd *fds;
    pm_apps_log_fn log;
    void *log_arg;
    pm_apps_stats st;
};

static const pm_cred ROOT = {.uid = 0, .cap_net_bind_service = true};

static const char *const NAMES[PM_APP_KINDS] = {"echo",    "discard", "daytime",
                                                "chargen", "http",    "client"};
static const uint16_t PORTS[PM_APP_KINDS] = {7, 9, 13, 19, 80, 0};

const char *pm_app_name(pm_app_kind k)
{
    return k < PM_APP_KINDS ? NAMES[k] : "?";
}
uint16_t pm_app_default_port(pm_app_kind k)
{
    return k < PM_APP_KINDS ? PORTS[k] : 0;
}
bool pm_app_has_udp(pm_app_kind k)
{
    return k <= PM_APP_CHARGEN;
}

int pm_app_parse(const char *name, pm_app_kind *out)
{
    for (int k = 0; k < PM_APP_CLIENT; k++)
        if (!strcmp(name, NAMES[k])) {
            *out = (pm_app_kind)k;
            return 0;
        }
    return -EINVAL;
}

static void logf_(pm_apps *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(pm_apps *a, const char *fmt, ...)
{
    if (!a->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->log(a->log_arg, msg);
}

int pm_apps_create(pm_apps **out, pm_host *h, pm_apps_log_fn log, void *log_arg)
{
    pm_apps *a = calloc(1, sizeof *a);
    if (!a) return -ENOMEM;
    a->h = h;
    a->n = pm_host_get_config(h)->max_sockets;
    a->fds = calloc(a->n, sizeof *a->fds);
    if (!a->fds) {
        free(a);
        return -ENOMEM;
    }
    a->log = log;
    a->log_arg = log_arg;
    *out = a;
    return 0;
}

static void release(pm_apps *a, int fd)
{
    app_fd *f = &a->fds[fd];
    free(f->pend);
    free(f->req);
    if (f->role) a->st.open--;
    memset(f, 0, sizeof *f);
}

static void app_close(pm_apps *a, int fd, uint64_t now)
{
    release(a, fd);
    (void)pm_sock_close(a->h, fd, now);
}

void pm_apps_destroy(pm_apps *a)
{
    if (!a) return;
    for (uint32_t i = 0; i < a->n; i++) release(a, (int)i);
    free(a->fds);
    free(a);
}

static app_fd *track(pm_apps *a, int fd, uint8_t role, uint8_t kind)
{
    if (fd < 0 || (uint32_t)fd >= a->n) return NULL;
    app_fd *f = &a->fds[fd];
    release(a, fd);
    f->role = role;
    f->kind = kind;
    a->st.open++;
    return f;
}

int pm_apps_listen(pm_apps *a, pm_app_kind k, uint8_t proto, int family, uint16_t port,
                   uint64_t now)
{
    (void)now;
    bool udp = proto == PM_IPPROTO_UDP;
    int fd = pm_sock_socket(a->h, family, udp ? PM_SOCK_DGRAM : PM_SOCK_STREAM, &ROOT);
    if (fd < 0) return fd;
    int one = 1, r;
    if (family == PM_AF_INET6 &&
        (r = pm_sock_setsockopt(a->h, fd, PM_SOL_IPV6, PM_IPV6_V6ONLY, &one, sizeof one)) < 0)
        goto fail;
    if (!udp &&
        (r = pm_sock_setsockopt(a->h, fd, PM_SOL_SOCKET, PM_SO_REUSEADDR, &one, sizeof one)) < 0)
        goto fail;
    pm_sockaddr sa = {.family = (uint16_t)family, .port = port};
    sa.ip = family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6;
    if ((r = pm_sock_bind(a->h, fd, &sa, &ROOT)) < 0) goto fail;
    if (!udp && (r = pm_sock_listen(a->h, fd, 4096, &ROOT)) < 0) goto fail;
    if (!track(a, fd, udp ? ROLE_UDP : ROLE_LISTEN, (uint8_t)k)) {
        r = -EMFILE;
        goto fail;
    }
    return 0;
fail:
    (void)pm_sock_close(a->h, fd, now);
    return r;
}

int pm_apps_connect(pm_apps *a, const pm_sockaddr *to, uint64_t now)
{
    int fd = pm_sock_socket(a->h, to->family, PM_SOCK_STREAM, &ROOT);
    if (fd < 0) return fd;
    app_fd *f = track(a, fd, ROLE_CLIENT, PM_APP_CLIENT);
    if (!f) {
        (void)pm_sock_close(a->h, fd, now);
        return -EMFILE;
    }
    f->dst = *to;
    int r = pm_sock_connect(a->h, fd, to, &ROOT, now);
    if (r < 0 && r != -EINPROGRESS) {
        app_close(a, fd, now);
        return r;
    }
    return 0;
}

/* Queues bytes behind what is pending (the caller stops reading until
 * the queue drains, so it stays one chunk or one HTTP response). */
static int queue(app_fd *f, const void *buf, size_t len)
{
    if (!len) return 0;
    size_t have = f->pend_len - f->pend_off;
    uint8_t *p = malloc(have + len);
    if (!p) return -ENOMEM;
    if (have) memcpy(p, f->pend + f->pend_off, have);
    memcpy(p + have, buf, len);
    free(f->pend);
    f->pend = p;
    f->pend_off = 0;
    f->pend_len = (uint32_t)(have + len);
    return 0;
}

/* Sends what is pending: 1 when all is out, 0 blocked, -errno. */
static int flush(pm_apps *a, int fd, uint64_t now)
{
    app_fd *f = &a->fds[fd];
    while (f->pend_off < f->pend_len) {
        long n = pm_sock_send(a->h, fd, f->pend + f->pend_off, f->pend_len - f->pend_off, now);
        if (n == -EAGAIN) return 0;
        if (n < 0) return (int)n;
        f->pend_off += (uint32_t)n;
        a->st.bytes_out += (uint64_t)n;
    }
    free(f->pend);
    f->pend = NULL;
    f->pend_len = f->pend_off = 0;
    return 1;
}

static size_t daytime_text(char *buf, size_t cap)
{
    /* RFC 867: any ASCII date; this is the form of inetd's. */
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    return strftime(buf, cap, "%a %b %e %H:%M:%S %Y UTC\r\n", &tm);
}

/* RFC 864: line k is 72 characters of the 95 printable ones starting at
 * the k-th, then CR LF. */
static size_t chargen_fill(uint32_t *pos, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        uint32_t line = *pos / (CHARGEN_W + 2), col = *pos % (CHARGEN_W + 2);
        uint8_t c =
            col < CHARGEN_W ? (uint8_t)(' ' + (line + col) % 95) : (col == CHARGEN_W ? '\r' : '\n');
        buf[n++] = c;
        (*pos)++;
        if (*pos == 95u * (CHARGEN_W + 2)) *pos = 0;
    }
    return n;
}

/* ---- HTTP ------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

#define STATUS_ROWS 1000 /* rows on the status page; the rest are counted */

typedef struct status_ctx {
    sbuf *b;
    size_t rows, more;
} status_ctx;

static int status_row(void *arg, const pm_host_sock_info *s)
{
    status_ctx *c = arg;
    if (c->rows >= STATUS_ROWS) {
        c->more++;
        return 0;
    }
    c->rows++;
    char l[PM_SOCKADDR_STRLEN], r[PM_SOCKADDR_STRLEN];
    const char *state = s->proto == PM_IPPROTO_UDP
                            ? (s->state == PM_TCP_ESTABLISHED ? "ESTAB" : "UNCONN")
                            : pm_tcp_state_name(s->state);
    pm_sockaddr_format(&s->local, l);
    if (pm_ip_is_any(&s->remote.ip) && !s->remote.port)
        snprintf(r, sizeof r, "*");
    else
        pm_sockaddr_format(&s->remote, r);
    sb_printf(c->b, "%-5s %-12s %7u %7u  %-28s %-28s", s->proto == PM_IPPROTO_UDP ? "udp" : "tcp",
              state, s->rqueue, s->wqueue, l, r);
    if (s->timer) sb_printf(c->b, " timer %.1fs", (double)s->timer_us / 1e6);
    sb_printf(c->b, "\n");
    return 0;
}

static void status_page(pm_apps *a, sbuf *b, uint64_t now)
{
    pm_host_stats st;
    pm_host_get_stats(a->h, &st);
    const pm_host_config *cfg = pm_host_get_config(a->h);
    sb_printf(b,
              "<!DOCTYPE html>\n<html><head><title>portmux host</title></head><body>\n"
              "<h1>portmux host</h1>\n<p>personality %s; %llu sockets, %llu TCBs, %llu "
              "TIME_WAIT; %llu packets in, %llu out; %llu accepted, %llu RST sent</p>\n<pre>\n",
              pm_personality_name(cfg->personality), (unsigned long long)st.sockets,
              (unsigned long long)st.tcbs, (unsigned long long)st.time_wait,
              (unsigned long long)st.in_packets, (unsigned long long)st.out_packets,
              (unsigned long long)st.accepts, (unsigned long long)st.rst_sent);
    sb_printf(b, "%-5s %-12s %7s %7s  %-28s %-28s\n", "Netid", "State", "Recv-Q", "Send-Q",
              "Local Address:Port", "Peer Address:Port");
    status_ctx c = {b, 0, 0};
    pm_host_sockets(a->h, now, status_row, &c);
    if (c.more) sb_printf(b, "... and %zu more\n", c.more);
    sb_printf(b, "</pre>\n</body></html>\n");
}

/* A complete request head in f->req: builds the response into pend. */
static void http_respond(pm_apps *a, app_fd *f, uint64_t now)
{
    char method[16] = "", path[256] = "", version[16] = "";
    int code = 200;
    const char *reason = "OK";
    if (sscanf(f->req, "%15s %255s %15s", method, path, version) != 3 ||
        strncmp(version, "HTTP/1.", 7)) {
        code = 400;
        reason = "Bad Request";
    } else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        code = 405;
        reason = "Method Not Allowed";
    } else if (strcmp(path, "/") && strcmp(path, "/index.html")) {
        code = 404;
        reason = "Not Found";
    }
    sbuf body = {0};
    if (code == 200)
        status_page(a, &body, now);
    else
        sb_printf(&body, "%d %s\n", code, reason);
    sbuf resp = {0};
    sb_printf(&resp,
              "HTTP/1.1 %d %s\r\nServer: portmux\r\nContent-Type: %s\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
              code, reason, code == 200 ? "text/html; charset=utf-8" : "text/plain", body.len,
              code == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (body.len && strcmp(method, "HEAD")) sb_printf(&resp, "%.*s", (int)body.len, body.p);
    if (resp.oom || body.oom || queue(f, resp.p, resp.len) < 0) a->st.http_errors++;
    if (code == 200)
        a->st.http_requests++;
    else
        a->st.http_errors++;
    free(body.p);
    free(resp.p);
    f->closing = true;
}

/* ---- per-descriptor handlers ----------------------------------------- */

static void on_conn(pm_apps *a, int fd, unsigned ev, uint64_t now);

static void on_listen(pm_apps *a, int fd, uint64_t now)
{
    uint8_t kind = a->fds[fd].kind;
    for (;;) {
        int c = pm_sock_accept(a->h, fd, NULL, &ROOT);
        if (c == -EAGAIN) return;
        if (c < 0) {
            a->st.accept_errors++;
            return;
        }
        app_fd *f = track(a, c, ROLE_CONN, kind);
        if (!f) {
            (void)pm_sock_close(a->h, c, now);
            a->st.accept_errors++;
            continue;
        }
        a->st.accepted[kind]++;
        if (kind == PM_APP_DAYTIME) {
            char t[64];
            (void)queue(f, t, daytime_text(t, sizeof t));
            f->closing = true;
        }
        on_conn(a, c, pm_sock_poll(a->h, c), now);
    }
}

static void on_conn(pm_apps *a, int fd, unsigned ev, uint64_t now)
{
    app_fd *f = &a->fds[fd];
    uint8_t buf[CHUNK];
    int r = flush(a, fd, now);
    if (r < 0) goto done;
    if (ev & PM_POLLERR && !(ev & PM_POLLIN)) goto done;
    for (;;) {
        if (f->pend) break; /* blocked on send: read more once it drains */
        if (f->closing) goto done;
        if (f->kind == PM_APP_CHARGEN) {
            size_t n = chargen_fill(&f->pos, buf, sizeof buf);
            (void)queue(f, buf, n);
            if ((r = flush(a, fd, now)) < 0) goto done;
            /* Discard what the client sends; stop at its EOF. */
            long k;
            while ((k = pm_sock_recv(a->h, fd, buf, sizeof buf, now)) > 0) a->st.bytes_in += k;
            if (k == 0 || (k < 0 && k != -EAGAIN)) goto done;
            if (!r) break;
            continue;
        }
        if (f->eof) break;
        long n = pm_sock_recv(a->h, fd, buf, sizeof buf, now);
        if (n == -EAGAIN) break;
        if (n < 0) goto done;
        if (n == 0) {
            f->eof = true;
            if (f->kind != PM_APP_HTTP)
                f->closing = true;
            else
                goto done; /* no complete request */
            continue;
        }
        a->st.bytes_in += (uint64_t)n;
        switch (f->kind) {
        case PM_APP_ECHO:
            if (queue(f, buf, (size_t)n) < 0 || (r = flush(a, fd, now)) < 0) goto done;
            break;
        case PM_APP_HTTP: {
            if (!f->req && !(f->req = malloc(REQ_MAX + 1))) goto done;
            size_t take = (size_t)n;
            if (f->req_len + take > REQ_MAX) take = REQ_MAX - f->req_len;
            memcpy(f->req + f->req_len, buf, take);
            f->req_len += (uint32_t)take;
            f->req[f->req_len] = 0;
            if (strstr(f->req, "\r\n\r\n") || strstr(f->req, "\n\n") || f->req_len >= REQ_MAX) {
                http_respond(a, f, now);
                if ((r = flush(a, fd, now)) < 0) goto done;
            }
            break;
        }
        default: break; /* discard; daytime ignores input */
        }
    }
    return;
done:
    app_close(a, fd, now);
}

static void on_udp(pm_apps *a, int fd, uint64_t now)
{
    app_fd *f = &a->fds[fd];
    uint8_t buf[2048];
    pm_sockaddr from;
    for (;;) {
        long n = pm_sock_recvfrom(a->h, fd, buf, sizeof buf, &from, now);
        if (n < 0) return; /* -EAGAIN, or a queued ICMP error: nothing to do */
        a->st.datagrams_in++;
        a->st.bytes_in += (uint64_t)n;
        size_t len = 0;
        switch (f->kind) {
        case PM_APP_ECHO: len = (size_t)n; break;
        case PM_APP_DAYTIME: len = daytime_text((char *)buf, sizeof buf); break;
        case PM_APP_CHARGEN: {
            /* RFC 864: a datagram of 0 to 512 characters; ours is one line
             * per request, rotating. */
            uint32_t pos = f->pos;
            len = chargen_fill(&pos, buf, CHARGEN_W + 2);
            f->pos = (f->pos + CHARGEN_W + 2) % (95u * (CHARGEN_W + 2));
            break;
        }
        default: continue;
        }
        if (pm_sock_sendto(a->h, fd, buf, len, &from, &ROOT, now) >= 0) {
            a->st.datagrams_out++;
            a->st.bytes_out += len;
        }
    }
}

static void on_client(pm_apps *a, int fd, unsigned ev, uint64_t now)
{
    app_fd *f = &a->fds[fd];
    char d[PM_SOCKADDR_STRLEN], l[PM_SOCKADDR_STRLEN];
    pm_sockaddr me = {0};
    pm_sockaddr_format(&f->dst, d);
    if (!f->sent) {
        int err = 0;
        size_t el = sizeof err;
        (void)pm_sock_getsockopt(a->h, fd, PM_SOL_SOCKET, PM_SO_ERROR, &err, &el);
        if (err) {
            logf_(a, "connect %s: %s", d, strerror(err < 0 ? -err : err));
            a->st.clients_failed++;
            app_close(a, fd, now);
            return;
        }
        if (!(ev & PM_POLLOUT)) return;
        (void)pm_sock_getsockname(a->h, fd, &me);
        logf_(a, "connect %s: established from %s", d, pm_sockaddr_format(&me, l));
        static const char hello[] = "hello from portmux\n";
        (void)queue(f, hello, sizeof hello - 1);
        f->sent = true;
    }
    int r = flush(a, fd, now);
    if (r < 0) goto fail;
    uint8_t buf[CHUNK];
    for (;;) {
        long n = pm_sock_recv(a->h, fd, buf, sizeof buf, now);
        if (n == -EAGAIN) return;
        if (n < 0) goto fail;
        if (n == 0) break;
        f->got += (uint64_t)n;
        a->st.bytes_in += (uint64_t)n;
    }
    logf_(a, "connect %s: closed by the peer after %llu bytes", d, (unsigned long long)f->got);
    a->st.clients_ok++;
    app_close(a, fd, now);
    return;
fail:
    logf_(a, "connect %s: failed", d);
    a->st.clients_failed++;
    app_close(a, fd, now);
}

void pm_apps_run(pm_apps *a, uint64_t now)
{
    pm_sock_event ev[256];
    size_t n;
    while ((n = pm_host_events(a->h, ev, 256)) > 0) {
        for (size_t i = 0; i < n; i++) {
            int fd = ev[i].fd;
            if (fd < 0 || (uint32_t)fd >= a->n) continue;
            switch (a->fds[fd].role) {
            case ROLE_LISTEN: on_listen(a, fd, now); break;
            case ROLE_CONN: on_conn(a, fd, ev[i].events, now); break;
            case ROLE_UDP: on_udp(a, fd, now); break;
            case ROLE_CLIENT: on_client(a, fd, ev[i].events, now); break;
            default: break;
            }
        }
    }
}

void pm_apps_close_all(pm_apps *a, bool rst, uint64_t now)
{
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < a->n; i++) {
            app_fd *f = &a->fds[i];
            bool lst = f->role == ROLE_LISTEN || f->role == ROLE_UDP;
            if (!f->role || lst != (pass == 0)) continue;
            if (rst && !lst) {
                pm_linger lg = {1, 0};
                (void)pm_sock_setsockopt(a->h, (int)i, PM_SOL_SOCKET, PM_SO_LINGER, &lg, sizeof lg);
            }
            app_close(a, (int)i, now);
        }
}

void pm_apps_get_stats(const pm_apps *a, pm_apps_stats *s)
{
    *s = a->st;
}
