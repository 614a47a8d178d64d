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

/* Listening ports, per protocol, as a bitmap. */
typedef struct portset {
    uint8_t bits[2][65536 / 8];
} portset;

static bool in_set(const portset *s, uint8_t proto, uint16_t port)
{
    return s->bits[proto == PM_IPPROTO_UDP][port / 8] & (1u << (port % 8));
}

int pm_diag_ports_analyse(const pm_diag_sock *rows, size_t n, uint16_t lo, uint16_t hi,
                          pm_diag_ports *out)
{
    memset(out, 0, sizeof *out);
    out->lo = lo;
    out->hi = hi;
    portset *listen = calloc(1, sizeof *listen);
    pm_diag_dest *d = calloc(n ? n : 1, sizeof *d);
    if (!listen || !d) {
        free(listen);
        free(d);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const pm_diag_sock *s = &rows[i];
        if (s->proto == PM_IPPROTO_TCP && s->state == PM_SS_LISTEN) {
            uint8_t *b = &listen->bits[0][s->lport / 8];
            if (!(*b & (1u << (s->lport % 8))) && s->lport >= lo && s->lport <= hi) out->blocked++;
            *b |= (uint8_t)(1u << (s->lport % 8));
        }
    }
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
        if (s->lport < lo || s->lport > hi || in_set(listen, s->proto, s->lport)) continue;
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
