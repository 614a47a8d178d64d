/* Text parsers for addresses, prefixes, port ranges and classes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/addr.h"
#include "portmux/ports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128];
    if (size >= sizeof s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    pm_ip ip;
    int fam;
    char buf[PM_IP_STRLEN];
    if (pm_ip_parse(s, &ip, &fam) == 0) {
        /* Round trip: what we print, we parse back to the same address. */
        pm_ip again;
        if (pm_ip_parse(pm_ip_format(&ip, buf), &again, NULL) != 0) abort();
        if (!pm_ip_eq(&ip, &again)) abort();
    }
    pm_prefix p;
    if (pm_prefix_parse(s, &p) == 0) {
        if (p.plen > 128) abort();
        if (!pm_prefix_contains(&p, &p.ip)) abort();
    }
    pm_port_range r;
    if (pm_port_range_parse(s, &r) == 0 && r.lo > r.hi) abort();
    pm_port_class c;
    (void)pm_port_class_parse(s, &c);
    return 0;
}
