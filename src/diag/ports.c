/* Ephemeral port use per destination and TIME_WAIT ages. */
#include "portmux/diag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_dest_key(const void *a, const void *b)
{
    const pm_diag_dest *x = a, *y = b;
    if (x->proto != y->proto) return x->proto < y->proto ? -1 : 1;
    int c = pm_ip_cmp(&x->laddr, &y->laddr);
    if (c) return c;
    if ((c = pm_ip_cmp(&x->raddr, &y->raddr))) return c;
    return x->rport < y->rport ? -1 : x->rport > y->rport;
}

static int cmp_dest_use(const void *a, const void *b)
{
    const pm_diag_dest *x = a, *y = b;
    uint32_t ux = x->in_use + x->time_wait, uy = y->in_use + y->time_wait;
    if (ux != uy) return ux > uy ? -1 : 1;
    return cmp_dest_key(a, b);
}

static void set_add(pm_portset *s, uint16_t port)
{
    s->bits[port / 8] |= (uint8_t)(1u << (port % 8));
}

int pm_diag_parse_port_list(const char *text, pm_portset *s)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || a < 0 || a > 65535) return -EINVAL;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1 || b < a || b > 65535) return -EINVAL;
            p = end;
        }
        for (long port = a; port <= b; port++) set_add(s, (uint16_t)port);
        if (*p == ',') {
            p++;
            continue;
        }
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (*p) return -EINVAL;
    }
    return 0;
}

int pm_diag_read_reserved_ports(const char *proc_root, pm_portset *s)
{
    char path[512], text[65536];
    snprintf(path, sizeof path, "%s/sys/net/ipv4/ip_local_reserved_ports",
             proc_root ? proc_root : "/proc");
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "re");
    if (!f) return errno == ENOENT ? 0 : -errno;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return pm_diag_parse_port_list(text, s);
}

int pm_diag_ports_analyse(const pm_diag_sock *rows, size_t n, uint16_t lo, uint16_t hi,
                          const pm_portset *reserved, pm_diag_ports *out)
{
    memset(out, 0, sizeof *out);
    out->lo = lo;
    out->hi = hi;
    pm_portset *listen = calloc(1, sizeof *listen);
    pm_diag_dest *d = calloc(n ? n : 1, sizeof *d);
    if (!listen || !d) {
        free(listen);
        free(d);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const pm_diag_sock *s = &rows[i];
        if (s->proto == PM_IPPROTO_TCP && s->state == PM_SS_LISTEN) {
            if (!pm_portset_has(listen, s->lport) && s->lport >= lo && s->lport <= hi)
                out->listening++;
            set_add(listen, s->lport);
        }
    }
    for (unsigned port = lo; reserved && port <= hi; port++)
        if (pm_portset_has(reserved, (uint16_t)port) && !pm_portset_has(listen, (uint16_t)port))
            out->reserved++;
    out->blocked = out->listening + out->reserved;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const pm_diag_sock *s = &rows[i];
        if (s->state == PM_SS_TIME_WAIT) {
            out->tw_total++;
            uint32_t left = s->timer_ms > PM_TW_LEN_MS ? PM_TW_LEN_MS : s->timer_ms;
            uint32_t b = (PM_TW_LEN_MS - left) / PM_TW_BUCKET_MS;
            out->tw_age[b < PM_TW_BUCKETS ? b : PM_TW_BUCKETS - 1]++;
        }
        if (s->state == PM_SS_LISTEN || s->state == PM_SS_CLOSE) continue;
        /* Accepted on a listening port: not ephemeral use. */
        if (s->lport < lo || s->lport > hi) continue;
        if (s->proto == PM_IPPROTO_TCP && pm_portset_has(listen, s->lport)) continue;
        d[m] = (pm_diag_dest){
            .proto = s->proto, .laddr = s->laddr, .raddr = s->raddr, .rport = s->rport};
        if (s->state == PM_SS_TIME_WAIT)
            d[m].time_wait = 1;
        else
            d[m].in_use = 1;
        m++;
    }
    free(listen);
    qsort(d, m, sizeof *d, cmp_dest_key);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k && !cmp_dest_key(&d[k - 1], &d[i])) {
            d[k - 1].in_use += d[i].in_use;
            d[k - 1].time_wait += d[i].time_wait;
        } else {
            d[k++] = d[i];
        }
    }
    qsort(d, k, sizeof *d, cmp_dest_use);
    out->dests = d;
    out->n = k;
    return 0;
}

uint32_t pm_diag_dest_used(const pm_diag_ports *p, const pm_diag_dest *d)
{
    return d->in_use + d->time_wait + (d->proto == PM_IPPROTO_TCP ? p->blocked : 0);
}

uint32_t pm_diag_dest_left(const pm_diag_ports *p, const pm_diag_dest *d)
{
    uint32_t size = (uint32_t)p->hi - p->lo + 1, used = pm_diag_dest_used(p, d);
    return used >= size ? 0 : size - used;
}

void pm_diag_ports_free(pm_diag_ports *p)
{
    free(p->dests);
    p->dests = NULL;
    p->n = 0;
}

int pm_diag_read_port_range(const char *proc_root, uint16_t *lo, uint16_t *hi)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sys/net/ipv4/ip_local_port_range",
             proc_root ? proc_root : "/proc");
    FILE *f = fopen(path, "re");
    if (!f) return -errno;
    unsigned a, b;
    int n = fscanf(f, "%u %u", &a, &b);
    fclose(f);
    if (n != 2 || a > 65535 || b > 65535 || a > b) return -EINVAL;
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return 0;
}
