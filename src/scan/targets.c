/* Target ranges: hosts, CIDR prefixes and last-octet ranges, IPv4 and IPv6. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/scan.h"

static int push(pm_targets *t, const pm_ip *base, uint64_t count, int family)
{
    if (count == 0) return -EINVAL;
    /* ::ffff:a.b.c.d is IPv4 on the wire (RFC 4291 2.5.5.2) */
    if (family == PM_AF_INET6 && pm_ip_is_v4(base) && count <= (1ull << 32) - pm_ip_v4(base))
        family = PM_AF_INET;
    if (t->total + count > PM_TARGETS_MAX || t->total + count < t->total) return -E2BIG;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 8;
        pm_target_range *nr = realloc(t->r, nc * sizeof *nr);
        if (!nr) return -ENOMEM;
        t->r = nr;
        uint64_t *ncum = realloc(t->cum, nc * sizeof *ncum);
        if (!ncum) return -ENOMEM;
        t->cum = ncum;
        t->cap = nc;
    }
    t->r[t->n].base = *base;
    t->r[t->n].count = count;
    t->r[t->n].family = (uint8_t)family;
    t->cum[t->n] = t->total;
    t->n++;
    t->total += count;
    return 0;
}

int pm_targets_add_ip(pm_targets *t, const pm_ip *ip, int family)
{
    return push(t, ip, 1, family);
}

int pm_targets_add(pm_targets *t, const char *spec)
{
    if (!spec || !*spec || strlen(spec) >= 80) return -EINVAL;
    char buf[80];
    strcpy(buf, spec);
    pm_ip ip;
    int fam;
    char *slash = strchr(buf, '/');
    if (slash) {
        pm_prefix p;
        if (pm_prefix_parse(buf, &p) != 0) return -EINVAL;
        unsigned host_bits = 128u - p.plen;
        if (host_bits > 32) return -E2BIG; /* more than PM_TARGETS_MAX */
        /* nmap scans every address of the prefix, network and broadcast too */
        pm_ip base = p.ip;
        for (unsigned b = 0; b < host_bits; b++) base.b[15 - b / 8] &= (uint8_t) ~(1u << (b % 8));
        return push(t, &base, 1ull << host_bits, p.family);
    }
    /* a.b.c.d-e: a range in the last octet, as nmap writes it */
    char *dash = strrchr(buf, '-');
    if (dash && !strchr(buf, ':')) {
        *dash = '\0';
        char *end;
        long hi = strtol(dash + 1, &end, 10);
        if (*end || end == dash + 1 || hi < 0 || hi > 255) return -EINVAL;
        if (pm_ip_parse(buf, &ip, &fam) != 0 || fam != PM_AF_INET) return -EINVAL;
        if (hi < ip.b[15]) return -EINVAL;
        return push(t, &ip, (uint64_t)(hi - ip.b[15] + 1), fam);
    }
    if (pm_ip_parse(buf, &ip, &fam) != 0) return -EINVAL;
    return push(t, &ip, 1, fam);
}

pm_ip pm_targets_at(const pm_targets *t, uint64_t i, int *family)
{
    size_t lo = 0, hi = t->n; /* last range with cum <= i */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (t->cum[mid] <= i)
            lo = mid;
        else
            hi = mid;
    }
    const pm_target_range *r = &t->r[lo];
    uint64_t off = i - t->cum[lo];
    pm_ip ip = r->base;
    /* 128-bit add of off to the low bytes */
    unsigned carry = 0;
    for (int b = 15; b >= 0 && (off || carry); b--) {
        unsigned s = ip.b[b] + (unsigned)(off & 0xff) + carry;
        ip.b[b] = (uint8_t)s;
        carry = s >> 8;
        off >>= 8;
    }
    if (family) *family = r->family;
    return ip;
}

void pm_targets_free(pm_targets *t)
{
    free(t->r);
    free(t->cum);
    memset(t, 0, sizeof *t);
}
