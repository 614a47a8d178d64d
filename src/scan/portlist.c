/* Port lists as nmap's -p, -F and --top-ports take them. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/scan.h"

/* Collects the set in 65536 bits, then lists it in order. */
static int list_from_bits(const uint8_t *bits, pm_portlist *out)
{
    size_t n = 0;
    for (uint32_t i = 0; i < 8192; i++) n += (size_t)__builtin_popcount(bits[i]);
    out->port = malloc((n ? n : 1) * sizeof *out->port);
    if (!out->port) return -ENOMEM;
    out->n = 0;
    for (uint32_t i = 0; i < 8192; i++)
        for (uint32_t b = bits[i]; b; b &= b - 1)
            out->port[out->n++] = (uint16_t)(i * 8 + (uint32_t)__builtin_ctz(b));
    return 0;
}

/* Sets bits lo..hi, whole bytes at a time in the middle. */
static void set_range(uint8_t *bits, uint32_t lo, uint32_t hi)
{
    while (lo <= hi && (lo & 7)) bits[lo >> 3] |= (uint8_t)(1u << (lo & 7)), lo++;
    if (lo + 7 <= hi) {
        memset(bits + (lo >> 3), 0xff, (hi + 1 - lo) >> 3);
        lo += (hi + 1 - lo) & ~7u;
    }
    while (lo <= hi) bits[lo >> 3] |= (uint8_t)(1u << (lo & 7)), lo++;
}

static int parse_num(const char **s, uint32_t *v)
{
    const char *p = *s;
    uint32_t x = 0;
    if (!isdigit((unsigned char)*p)) return -EINVAL;
    while (isdigit((unsigned char)*p)) {
        x = x * 10 + (uint32_t)(*p - '0');
        if (x > 65535) return -EINVAL;
        p++;
    }
    *v = x;
    *s = p;
    return 0;
}

int pm_portlist_parse(const char *spec, uint8_t proto, pm_portlist *out)
{
    out->port = NULL;
    out->n = 0;
    if (!spec || !*spec) return -EINVAL;
    uint8_t *bits = calloc(8192, 1);
    if (!bits) return -ENOMEM;
    int section = 0; /* 0: both, else the protocol of a T:/U: section */
    const char *s = spec;
    int rc = 0;
    for (;;) {
        /* "T:" / "U:" open a section; the item follows. */
        if ((s[0] == 'T' || s[0] == 'U' || s[0] == 't' || s[0] == 'u') && s[1] == ':') {
            section = (s[0] == 'T' || s[0] == 't') ? PM_IPPROTO_TCP : PM_IPPROTO_UDP;
            s += 2;
        }
        uint32_t lo = 1, hi = 65535;
        if (*s == '-') {
            s++; /* "-" alone or "-N": from 1 */
            if (isdigit((unsigned char)*s) && (rc = parse_num(&s, &hi)) < 0) break;
        } else {
            if ((rc = parse_num(&s, &lo)) < 0) break;
            hi = lo;
            if (*s == '-') {
                s++;
                hi = 65535; /* "N-": to 65535 */
                if (isdigit((unsigned char)*s) && (rc = parse_num(&s, &hi)) < 0) break;
            }
        }
        if (lo > hi) {
            rc = -EINVAL;
            break;
        }
        if (section == 0 || section == proto) set_range(bits, lo, hi);
        if (*s == '\0') break;
        if (*s != ',') {
            rc = -EINVAL;
            break;
        }
        s++;
    }
    if (rc == 0) rc = list_from_bits(bits, out);
    free(bits);
    return rc;
}

typedef struct top_entry {
    double freq;
    uint32_t order; /* line order, for a stable tie-break */
    uint16_t port;
} top_entry;

static int top_cmp(const void *a, const void *b)
{
    const top_entry *x = a, *y = b;
    if (x->freq != y->freq) return x->freq > y->freq ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int pm_portlist_top(const char *text, size_t len, uint8_t proto, size_t n, pm_portlist *out)
{
    out->port = NULL;
    out->n = 0;
    const char *want = proto == PM_IPPROTO_UDP ? "udp" : "tcp";
    size_t cap = 0, cnt = 0;
    top_entry *e = NULL;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        char line[256];
        size_t ll = (size_t)(eol - p) < sizeof line - 1 ? (size_t)(eol - p) : sizeof line - 1;
        memcpy(line, p, ll);
        line[ll] = '\0';
        p = eol + (eol < end);
        if (line[0] == '#') continue;
        /* name <ws> port/proto <ws> frequency */
        char name[64], pp[32];
        double freq;
        if (sscanf(line, "%63s %31s %lf", name, pp, &freq) != 3) continue;
        char *slash = strchr(pp, '/');
        if (!slash || strcmp(slash + 1, want)) continue;
        char *endnum;
        long port = strtol(pp, &endnum, 10);
        if (endnum != slash || port < 0 || port > 65535 || !(freq >= 0)) continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            top_entry *ne = realloc(e, nc * sizeof *e);
            if (!ne) {
                free(e);
                return -ENOMEM;
            }
            e = ne;
            cap = nc;
        }
        e[cnt].freq = freq;
        e[cnt].order = (uint32_t)cnt;
        e[cnt].port = (uint16_t)port;
        cnt++;
    }
    if (cnt == 0) {
        free(e);
        return -ENOENT;
    }
    qsort(e, cnt, sizeof *e, top_cmp);
    if (n > cnt) n = cnt;
    uint8_t *bits = calloc(8192, 1);
    if (!bits) {
        free(e);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) bits[e[i].port >> 3] |= (uint8_t)(1u << (e[i].port & 7));
    free(e);
    int rc = list_from_bits(bits, out);
    free(bits);
    return rc;
}

void pm_portlist_free(pm_portlist *l)
{
    free(l->port);
    l->port = NULL;
    l->n = 0;
}
