/* portmux scan's text inputs: -p port specs, targets, and nmap-services
 * text for --top-ports. Input: "spec\ntarget\nservices text...". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const pm_portlist *l)
{
    if (l->n > 65536) abort();
    for (size_t i = 1; i < l->n; i++)
        if (l->port[i - 1] >= l->port[i]) abort(); /* sorted, distinct */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *target = strchr(s, '\n');
    char *rest = NULL;
    if (target) {
        *target++ = '\0';
        rest = strchr(target, '\n');
        if (rest) *rest++ = '\0';
    }
    for (int k = 0; k < 2; k++) {
        pm_portlist l;
        int rc = pm_portlist_parse(s, k ? PM_IPPROTO_UDP : PM_IPPROTO_TCP, &l);
        if (rc == 0)
            check_list(&l);
        else if (l.port)
            abort(); /* nothing left allocated on failure */
        pm_portlist_free(&l);
    }
    if (target) {
        pm_targets t = {0};
        if (pm_targets_add(&t, target) == 0) {
            if (t.total == 0 || t.total > PM_TARGETS_MAX) abort();
            int fam;
            pm_ip first = pm_targets_at(&t, 0, &fam), last = pm_targets_at(&t, t.total - 1, NULL);
            if (pm_ip_cmp(&first, &last) > 0) abort(); /* a range never wraps */
            if ((fam == PM_AF_INET) != pm_ip_is_v4(&last)) abort();
        }
        pm_targets_free(&t);
    }
    if (rest) {
        pm_portlist l;
        size_t n = (size_t)(size % 300);
        if (pm_portlist_top(rest, strlen(rest), PM_IPPROTO_TCP, n, &l) == 0) {
            check_list(&l);
            if (l.n > n) abort();
        }
        pm_portlist_free(&l);
    }
    free(s);
    return 0;
}
