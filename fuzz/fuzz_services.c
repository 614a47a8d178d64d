/* The services(5) parser on arbitrary bytes: it never crashes or leaks,
 * and every entry it keeps is found again by port and by each of its names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "portmux/services.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int holds(const pm_service *const *v, size_t n, const pm_service *s)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == s) return 1;
    return 0;
}

/* name (or alias) finds s, over s's protocol and over any. */
static void check_name(const pm_registry *r, const pm_service *s, const char *name,
                       const pm_service **buf, size_t cap)
{
    const pm_service *first = pm_registry_by_name(r, name, s->proto);
    if (!first || first->proto != s->proto) abort();
    if (!pm_registry_by_name(r, name, 0)) abort();
    size_t n = pm_registry_by_name_all(r, name, s->proto, buf, cap);
    if (n == 0 || buf[0] != first) abort();
    if (!holds(buf, n < cap ? n : cap, s)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Ranges expand up to PM_REGISTRY_MAX_RANGE x 4 entries a line: keep
     * inputs small enough to stay fast. */
    if (size > 16384) return 0;
    pm_registry *r;
    if (pm_registry_parse(&r, (const char *)data, size, "fuzz") != 0) abort();
    size_t n = pm_registry_count(r);
    if (pm_registry_counters_of(r)->entries != n) abort();
    const pm_service **buf = malloc((n + 1) * sizeof *buf);
    if (!buf) abort();
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
        check_name(r, s, s->name, buf, n + 1);
        size_t k = 0;
        for (; s->aliases[k]; k++) {
            if (!strcasecmp(s->aliases[k], s->name)) abort();
            check_name(r, s, s->aliases[k], buf, n + 1);
        }
        if (k > PM_REGISTRY_MAX_ALIASES) abort();
    }
    free(buf);
    pm_registry_free(r);
    return 0;
}
