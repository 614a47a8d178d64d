/* portmux ss output: ss's columns, aligned as ss aligns them when its
 * output is not a terminal (iproute2 misc/ss.c render()), then the
 * Service and RFC 6335 Class of the local port. And the same rows as JSON. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/ports.h"
#include "ss.h"

const char *ss_service(ss_names *nm, uint16_t port, uint8_t proto)
{
    int u = proto == PM_IPPROTO_UDP;
    if (!nm->tried) {
        nm->tried = true;
        if (pm_registry_load(&nm->reg, NULL) < 0) nm->reg = NULL;
    }
    if (!nm->reg) return NULL;
    if (!nm->cache[u] && !(nm->cache[u] = calloc(65536, sizeof(const char *)))) return NULL;
    const char *c = nm->cache[u][port];
    if (!c) {
        const pm_service *s = pm_registry_by_port(nm->reg, port, proto);
        c = nm->cache[u][port] = s ? s->name : "";
    }
    return *c ? c : NULL;
}

void ss_names_free(ss_names *nm)
{
    if (nm->reg) pm_registry_free(nm->reg);
    free(nm->cache[0]);
    free(nm->cache[1]);
    memset(nm, 0, sizeof *nm);
}

/* ---- text cells ---------------------------------------------------- */

enum {
    C_NETID,
    C_STATE,
    C_RECVQ,
    C_SENDQ,
    C_LADDR,
    C_LPORT,
    C_RADDR,
    C_RPORT,
    C_PROC,
    C_SERVICE,
    C_CLASS,
    NCOL
};

/* ss: columns[]: alignment, header, left delimiter. */
static const struct {
    const char *header;
    bool right;
    const char *ldelim;
} cols[NCOL] = {
    {"Netid", false, ""},         {"State", false, " "},         {"Recv-Q", false, " "},
    {"Send-Q", false, " "},       {"Local Address:", true, " "}, {"Port", false, ""},
    {"Peer Address:", true, " "}, {"Port", false, ""},           {"Process", false, ""},
    {"Service", false, " "},      {"Class", false, " "},
};

typedef struct arena {
    char *p;
    size_t n, cap;
} arena;

static int reserve(arena *a, size_t more)
{
    if (a->n + more <= a->cap) return 0;
    size_t cap = a->cap ? a->cap : 1 << 20;
    while (cap < a->n + more) cap *= 2;
    char *p = realloc(a->p, cap);
    if (!p) return -1;
    a->p = p;
    a->cap = cap;
    return 0;
}

static char *u32_text(char *end, uint32_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* Appends the text of a number; returns its length. */
static size_t put_u32(char *dst, uint32_t v)
{
    char tmp[12], *s = u32_text(tmp + sizeof tmp, v);
    size_t n = (size_t)(tmp + sizeof tmp - s);
    memcpy(dst, s, n);
    return n;
}

static size_t put_ip4(char *dst, const uint8_t *b)
{
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (i) dst[n++] = '.';
        n += put_u32(dst + n, b[i]);
    }
    return n;
}

/* Host names for -r, cached by address. */
typedef struct rcache {
    pm_ip ip;
    uint8_t family;
    char name[NI_MAXHOST];
} rcache;

typedef struct renderer {
    const ss_opts *o;
    ss_names *nm;
    arena a;
    rcache *rc;
    size_t nrc, caprc;
    char ifname[64][IF_NAMESIZE + 1];
} renderer;

static const char *resolve_host(renderer *r, const pm_ip *ip, uint8_t family)
{
    for (size_t i = 0; i < r->nrc; i++)
        if (r->rc[i].family == family && pm_ip_eq(&r->rc[i].ip, ip))
            return r->rc[i].name[0] ? r->rc[i].name : NULL;
    if (r->nrc == r->caprc) {
        size_t cap = r->caprc ? r->caprc * 2 : 16;
        rcache *v = realloc(r->rc, cap * sizeof *v);
        if (!v) return NULL;
        r->rc = v;
        r->caprc = cap;
    }
    rcache *c = &r->rc[r->nrc];
    c->ip = *ip;
    c->family = family;
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    /* A v4-mapped address is looked up as the IPv4 address it holds. */
    if (family == PM_AF_INET || pm_ip_is_v4(ip)) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, ip->b + 12, 4);
        len = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, ip->b, 16);
        len = sizeof *s6;
    }
    if (getnameinfo((struct sockaddr *)&ss, len, c->name, sizeof c->name, NULL, 0, NI_NAMEREQD))
        c->name[0] = '\0';
    r->nrc++;
    return c->name[0] ? c->name : NULL;
}

static const char *if_name(renderer *r, uint32_t ifindex, char buf[IF_NAMESIZE + 1])
{
    if (ifindex < 64) {
        if (!r->ifname[ifindex][0] && !if_indextoname(ifindex, r->ifname[ifindex]))
            snprintf(r->ifname[ifindex], sizeof r->ifname[ifindex], "%u", ifindex);
        return r->ifname[ifindex];
    }
    if (!if_indextoname(ifindex, buf)) snprintf(buf, IF_NAMESIZE + 1, "%u", ifindex);
    return buf;
}

/* ss: inet_addr_print(): the address column, delimiter ':' included. */
static size_t addr_text(renderer *r, char *dst, const pm_ip *ip, uint8_t family, int8_t v6only,
                        uint32_t ifindex)
{
    size_t n = 0;
    const char *name = r->o->resolve ? resolve_host(r, ip, family) : NULL;
    if (name) {
        size_t l = strlen(name);
        memcpy(dst, name, l);
        n = l;
    } else if (family == PM_AF_INET) {
        n = put_ip4(dst, ip->b + 12);
    } else if (v6only != 1 && pm_ip_eq(ip, &pm_ip_any6)) {
        dst[n++] = '*';
    } else {
        char b[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, ip->b, b, sizeof b);
        size_t l = strlen(b);
        dst[n++] = '[';
        memcpy(dst + n, b, l);
        n += l;
        dst[n++] = ']';
    }
    if (ifindex) {
        char buf[IF_NAMESIZE + 1];
        const char *ifn = if_name(r, ifindex, buf);
        dst[n++] = '%';
        size_t l = strlen(ifn);
        memcpy(dst + n, ifn, l);
        n += l;
    }
    dst[n++] = ':';
    return n;
}

/* ss: resolve_service(): "*" for 0, a name outside the ephemeral range. */
static size_t port_text(renderer *r, char *dst, uint16_t port, uint8_t proto)
{
    if (port == 0) {
        dst[0] = '*';
        return 1;
    }
    if (!r->o->numeric && (port < r->nm->eph_lo || port > r->nm->eph_hi)) {
        const char *s = ss_service(r->nm, port, proto);
        if (s) {
            size_t l = strlen(s);
            if (l > 64) l = 64;
            memcpy(dst, s, l);
            return l;
        }
    }
    return put_u32(dst, port);
}

static size_t padded_u32(char *dst, uint32_t v)
{
    /* ss: "%-6d" */
    size_t n = put_u32(dst, v);
    while (n < 6) dst[n++] = ' ';
    return n;
}

static bool service_shown(const pm_diag_sock *s, const ss_names *nm)
{
    /* A client's ephemeral port names no service. */
    bool bound = s->state == PM_SS_LISTEN || s->state == PM_SS_CLOSE;
    return bound || s->lport < nm->eph_lo || s->lport > nm->eph_hi;
}

static size_t owners_text(char *dst, size_t cap, const pm_diag_owner *w, size_t count)
{
    /* ss: users:(("name",pid=1,fd=3),...) */
    size_t n = (size_t)snprintf(dst, cap, " users:(");
    for (size_t i = 0; i < count && n < cap; i++)
        n += (size_t)snprintf(dst + n, cap - n, "%s(\"%s\",pid=%d,fd=%d)", i ? "," : "", w[i].comm,
                              w[i].pid, w[i].fd);
    if (n < cap) n += (size_t)snprintf(dst + n, cap - n, ")");
    return n < cap ? n : cap - 1;
}

/* The Process column: users, timer, details, as ss appends them. */
static size_t proc_text(renderer *r, char *dst, size_t cap, const pm_diag_sock *s,
                        const pm_diag_owners *owners)
{
    size_t n = 0;
    if (r->o->procs && owners) {
        size_t count;
        const pm_diag_owner *w = pm_diag_owners_find(owners, s->inode, &count);
        if (count) n += owners_text(dst + n, cap - n, w, count);
    }
    if (r->o->timers && s->timer) {
        char ms[32];
        n += (size_t)snprintf(dst + n, cap - n, " timer:(%s,%s,%u)", pm_diag_timer_name(s->timer),
                              pm_diag_ms_text(s->timer_ms, ms), s->retrans);
    }
    if (r->o->ext && n < cap) {
        if (s->uid) n += (size_t)snprintf(dst + n, cap - n, " uid:%u", s->uid);
        if (n < cap)
            n += (size_t)snprintf(dst + n, cap - n, " ino:%llu", (unsigned long long)s->inode);
        if (n < cap)
            n += (size_t)snprintf(dst + n, cap - n, " sk:%llx", (unsigned long long)s->cookie);
        if (s->mark && n < cap) n += (size_t)snprintf(dst + n, cap - n, " fwmark:0x%x", s->mark);
        if (s->family == PM_AF_INET6 && s->v6only >= 0 && n < cap)
            n += (size_t)snprintf(dst + n, cap - n, " v6only:%d", s->v6only);
        if (s->has_shutdown && n < cap)
            n += (size_t)snprintf(dst + n, cap - n, " %c-%c", s->shutdown & 1 ? '-' : '<',
                                  s->shutdown & 2 ? '-' : '>');
    }
    return n < cap ? n : cap - 1;
}

typedef struct cell {
    uint32_t off;
    uint16_t len;
} cell;

static void add_cell(renderer *r, cell *c, const char *s, size_t len)
{
    c->off = (uint32_t)r->a.n;
    c->len = (uint16_t)len;
    memcpy(r->a.p + r->a.n, s, len);
    r->a.n += len;
}

/* Output through a big buffer: the table can be many megabytes. */
typedef struct outbuf {
    FILE *f;
    char buf[1 << 16];
    size_t n;
} outbuf;

static void ob_flush(outbuf *b)
{
    if (b->n) fwrite(b->buf, 1, b->n, b->f);
    b->n = 0;
}

static void ob_put(outbuf *b, const char *s, size_t n)
{
    if (b->n + n > sizeof b->buf) {
        ob_flush(b);
        if (n > sizeof b->buf) {
            fwrite(s, 1, n, b->f);
            return;
        }
    }
    memcpy(b->buf + b->n, s, n);
    b->n += n;
}

static void ob_spaces(outbuf *b, int n)
{
    static const char sp[64] = "                                                               ";
    while (n > 0) {
        int k = n > 63 ? 63 : n;
        ob_put(b, sp, (size_t)k);
        n -= k;
    }
}

int ss_print_table(const ss_opts *o, ss_names *nm, const pm_diag_table *t,
                   const pm_diag_owners *owners, FILE *f)
{
    renderer r = {.o = o, .nm = nm};
    bool on[NCOL];
    for (int c = 0; c < NCOL; c++) on[c] = true;
    on[C_NETID] = o->tcp && o->udp;
    /* ss: no State column when a single state can show. */
    on[C_STATE] = (o->states & (o->states - 1)) != 0;
    on[C_SERVICE] = on[C_CLASS] = !o->no_extra;
    size_t nrows = t->n + 1; /* row 0: the header */
    cell *cells = calloc(nrows * NCOL, sizeof *cells);
    if (!cells) return -1;
    size_t maxlen[NCOL] = {0};
    if (!o->no_header) {
        for (int c = 0; c < NCOL; c++) {
            if (reserve(&r.a, 64) < 0) goto oom;
            add_cell(&r, &cells[c], cols[c].header, strlen(cols[c].header));
            if (on[c] && cells[c].len > maxlen[c]) maxlen[c] = cells[c].len;
        }
    }
    char proc[4096];
    for (size_t i = 0; i < t->n; i++) {
        const pm_diag_sock *s = &t->rows[i];
        cell *row = &cells[(i + 1) * NCOL];
        char tmp[NI_MAXHOST + 128];
        size_t n;
        if (reserve(&r.a, 2 * sizeof tmp + sizeof proc + 256) < 0) goto oom;
        const char *netid = s->proto == PM_IPPROTO_UDP ? "udp" : "tcp";
        add_cell(&r, &row[C_NETID], netid, 3);
        const char *st = pm_diag_state_name(s->state);
        add_cell(&r, &row[C_STATE], st, strlen(st));
        n = padded_u32(tmp, s->rqueue);
        add_cell(&r, &row[C_RECVQ], tmp, n);
        n = padded_u32(tmp, s->wqueue);
        add_cell(&r, &row[C_SENDQ], tmp, n);
        n = addr_text(&r, tmp, &s->laddr, s->family, s->v6only, s->ifindex);
        add_cell(&r, &row[C_LADDR], tmp, n);
        n = port_text(&r, tmp, s->lport, s->proto);
        add_cell(&r, &row[C_LPORT], tmp, n);
        n = addr_text(&r, tmp, &s->raddr, s->family, s->v6only, 0);
        add_cell(&r, &row[C_RADDR], tmp, n);
        n = port_text(&r, tmp, s->rport, s->proto);
        add_cell(&r, &row[C_RPORT], tmp, n);
        n = (o->procs || o->timers || o->ext) ? proc_text(&r, proc, sizeof proc, s, owners) : 0;
        add_cell(&r, &row[C_PROC], proc, n);
        if (!o->no_extra) {
            const char *svc = service_shown(s, nm) ? ss_service(nm, s->lport, s->proto) : NULL;
            if (!svc || s->lport == 0) svc = "-";
            n = strlen(svc);
            add_cell(&r, &row[C_SERVICE], svc, n > 64 ? 64 : n);
            const char *cls = pm_port_class_name(pm_port_class_of(s->lport));
            add_cell(&r, &row[C_CLASS], cls, strlen(cls));
        }
        for (int c = 0; c < NCOL; c++)
            if (on[c] && row[c].len > maxlen[c]) maxlen[c] = row[c].len;
    }
    /* ss: render_calc_width(), compact output (not a terminal). */
    int width[NCOL] = {0};
    bool first = true;
    for (int c = 0; c < NCOL; c++) {
        if (!on[c]) continue;
        width[c] = (int)maxlen[c] + (!first && maxlen[c] ? (int)strlen(cols[c].ldelim) : 0);
        if (width[c]) first = false;
    }
    outbuf *ob = malloc(sizeof *ob);
    if (!ob) goto oom;
    ob->f = f;
    ob->n = 0;
    for (size_t i = o->no_header ? 1 : 0; i < nrows; i++) {
        const cell *row = &cells[i * NCOL];
        bool started = false;
        for (int c = 0; c < NCOL; c++) {
            if (!on[c]) continue;
            int printed = 0;
            if (started) {
                size_t dl = strlen(cols[c].ldelim);
                ob_put(ob, cols[c].ldelim, dl);
                printed = (int)dl;
            }
            started = true;
            if (cols[c].right) {
                int pad = width[c] - row[c].len - printed;
                ob_spaces(ob, pad);
                if (pad > 0) printed += pad;
            }
            ob_put(ob, r.a.p + row[c].off, row[c].len);
            printed += row[c].len;
            if (!cols[c].right) ob_spaces(ob, width[c] - printed);
        }
        ob_put(ob, "\n", 1);
    }
    ob_flush(ob);
    free(ob);
    free(cells);
    free(r.a.p);
    free(r.rc);
    return 0;
oom:
    free(cells);
    free(r.a.p);
    free(r.rc);
    return -1;
}

/* ---- JSON ------------------------------------------------------------ */

static void json_addr(renderer *r, pm_json *j, const char *key, const pm_ip *ip, uint8_t family,
                      uint16_t port, uint32_t ifindex)
{
    char b[INET6_ADDRSTRLEN];
    if (family == PM_AF_INET)
        inet_ntop(AF_INET, ip->b + 12, b, sizeof b);
    else
        inet_ntop(AF_INET6, ip->b, b, sizeof b);
    pm_json_obj_begin(j, key);
    pm_json_str(j, "address", b);
    pm_json_int(j, "port", port);
    if (ifindex) {
        char buf[IF_NAMESIZE + 1];
        pm_json_str(j, "interface", if_name(r, ifindex, buf));
    }
    if (r->o->resolve) pm_json_str(j, "host", resolve_host(r, ip, family));
    pm_json_obj_end(j);
}

void ss_print_json_rows(const ss_opts *o, ss_names *nm, const pm_diag_table *t,
                        const pm_diag_owners *owners, pm_json *j)
{
    renderer r = {.o = o, .nm = nm};
    pm_json_arr_begin(j, "sockets");
    for (size_t i = 0; i < t->n; i++) {
        const pm_diag_sock *s = &t->rows[i];
        pm_json_obj_begin(j, NULL);
        pm_json_str(j, "netid", s->proto == PM_IPPROTO_UDP ? "udp" : "tcp");
        pm_json_str(j, "family", s->family == PM_AF_INET ? "inet" : "inet6");
        pm_json_str(j, "state", pm_diag_state_name(s->state));
        pm_json_int(j, "recv_q", s->rqueue);
        pm_json_int(j, "send_q", s->wqueue);
        json_addr(&r, j, "local", &s->laddr, s->family, s->lport, s->ifindex);
        json_addr(&r, j, "peer", &s->raddr, s->family, s->rport, 0);
        const char *svc = service_shown(s, nm) ? ss_service(nm, s->lport, s->proto) : NULL;
        pm_json_str(j, "service", s->lport ? svc : NULL);
        pm_json_str(j, "class", pm_port_class_name(pm_port_class_of(s->lport)));
        if (o->procs && owners) {
            size_t count;
            const pm_diag_owner *w = pm_diag_owners_find(owners, s->inode, &count);
            pm_json_arr_begin(j, "process");
            for (size_t k = 0; k < count; k++) {
                pm_json_obj_begin(j, NULL);
                pm_json_str(j, "name", w[k].comm);
                pm_json_int(j, "pid", w[k].pid);
                pm_json_int(j, "fd", w[k].fd);
                pm_json_obj_end(j);
            }
            pm_json_arr_end(j);
        }
        if (o->timers && s->timer) {
            pm_json_obj_begin(j, "timer");
            pm_json_str(j, "name", pm_diag_timer_name(s->timer));
            pm_json_int(j, "expires_ms", s->timer_ms);
            pm_json_int(j, "retrans", s->retrans);
            pm_json_obj_end(j);
        }
        if (o->ext) {
            pm_json_int(j, "uid", s->uid);
            pm_json_int(j, "inode", (long long)s->inode);
            pm_json_int(j, "cookie", (long long)s->cookie);
            if (s->mark) pm_json_int(j, "fwmark", s->mark);
            if (s->family == PM_AF_INET6 && s->v6only >= 0) pm_json_bool(j, "v6only", s->v6only);
            if (s->has_shutdown) pm_json_int(j, "shutdown", s->shutdown);
        }
        pm_json_obj_end(j);
    }
    pm_json_arr_end(j);
    free(r.rc);
}
