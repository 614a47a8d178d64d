/* The services(5) parser on arbitrary bytes: it never crashes or leaks,
 * and every entry it keeps is found again by port and by each of its names
 * (and a name finds exactly the entries that carry it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/services.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ref {
    const char *name;
    const pm_service *s;
} ref;

static int fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = fold((unsigned char)*a), y = fold((unsigned char)*b);
        if (x != y || !x) return x - y;
    }
}

static int ref_cmp(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    int c = casecmp(x->name, y->name);
    return c ? c : (int)x->s->proto - (int)y->s->proto;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Ranges expand up to PM_REGISTRY_MAX_RANGE x 4 entries a line: keep
     * inputs small enough to stay fast. */
    if (size > 16384) return 0;
    pm_registry *r;
    if (pm_registry_parse(&r, (const char *)data, size, "fuzz") != 0) abort();
    size_t n = pm_registry_count(r), nrefs = 0;
    if (pm_registry_counters_of(r)->entries != n) abort();
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        for (const char **a = pm_registry_at(r, i)->aliases; *a; a++) names++;
    ref *refs = malloc((n + names + 1) * sizeof *refs);
    const pm_service **buf = malloc((n + 1) * sizeof *buf);
    size_t *mark = calloc(n + 1, sizeof *mark);
    if (!refs || !buf || !mark) abort();
    const pm_service *base = pm_registry_at(r, 0);

    for (size_t i = 0; i < n; i++) {
        const pm_service *s = pm_registry_at(r, i);
        if (i > 0) { /* sorted by (port, proto), one entry per pair */
            const pm_service *p = pm_registry_at(r, i - 1);
            if (p->port > s->port || (p->port == s->port && p->proto >= s->proto)) abort();
        }
        if (!pm_proto_name(s->proto) || !s->name[0]) abort();
        if (pm_registry_by_port(r, s->port, s->proto) != s) abort();
        const pm_service *any = pm_registry_by_port(r, s->port, 0);
        if (!any || any->port != s->port || any->proto > s->proto) abort();
        if (pm_registry_lower_bound(r, s->port) > i) abort();
        for (const char *c = s->comment; *c; c++)
            if ((unsigned char)*c < ' ') abort();
        refs[nrefs++] = (ref){s->name, s};
        size_t k = 0;
        for (; s->aliases[k]; k++) {
            if (!casecmp(s->aliases[k], s->name)) abort();
            for (size_t j = 0; j < k; j++)
                if (!casecmp(s->aliases[k], s->aliases[j])) abort();
            refs[nrefs++] = (ref){s->aliases[k], s};
        }
        if (k > PM_REGISTRY_MAX_ALIASES) abort();
    }

    /* Each (name, proto) group: by_name_all returns exactly its entries,
     * by_name the first of them. */
    if (nrefs) qsort(refs, nrefs, sizeof *refs, ref_cmp);
    for (size_t g = 0, stamp = 1; g < nrefs; stamp++) {
        size_t e = g + 1;
        while (e < nrefs && ref_cmp(&refs[g], &refs[e]) == 0) e++;
        uint8_t proto = refs[g].s->proto;
        size_t got = pm_registry_by_name_all(r, refs[g].name, proto, buf, n + 1);
        if (got != e - g) abort();
        for (size_t k = 0; k < got; k++) mark[buf[k] - base] = stamp;
        for (size_t k = g; k < e; k++)
            if (mark[refs[k].s - base] != stamp) abort();
        if (pm_registry_by_name(r, refs[g].name, proto) != buf[0]) abort();
        const pm_service *any = pm_registry_by_name(r, refs[g].name, 0);
        if (!any || any->proto > proto) abort();
        g = e;
    }
    free(refs);
    free(buf);
    free(mark);
    pm_registry_free(r);
    return 0;
}
