/* ss's filter language: whatever the text, parsing never crashes; what
 * parses prints canonically and parses back the same; its bytecode passes
 * the kernel's audit and agrees with the tree evaluator on sample sockets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/ssfilter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int names(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "ssh") ? -1 : 22;
}

static pm_diag_sock sock(const char *l, int lp, const char *r, int rp, uint8_t family)
{
    pm_diag_sock s = {.proto = PM_IPPROTO_TCP, .family = family, .state = 1};
    pm_ip_parse(l, &s.laddr, NULL);
    pm_ip_parse(r, &s.raddr, NULL);
    s.lport = (uint16_t)lp;
    s.rport = (uint16_t)rp;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pm_ssf f, g;
    static char text[4096], c1[65536], c2[65536];
    static uint8_t bc[65536];
    if (size >= sizeof text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char err[256];
    if (pm_ssf_parse_str(&f, text, names, NULL, err, sizeof err) < 0) {
        if (!err[0]) abort(); /* every error says why */
        return 0;
    }
    size_t n1 = pm_ssf_format(&f, c1, sizeof c1);
    if (n1 >= sizeof c1) return 0;
    if (pm_ssf_parse_str(&g, c1, names, NULL, err, sizeof err) < 0) abort();
    pm_ssf_format(&g, c2, sizeof c2);
    if (strcmp(c1, c2)) abort();
    int len = pm_ssf_compile(&f, bc, sizeof bc);
    if (len <= 0) return 0;
    if (pm_ssf_bc_audit(bc, (size_t)len) != 0) abort();
    const pm_diag_sock socks[] = {
        sock("10.1.2.3", 40000, "192.0.2.7", 443, PM_AF_INET),
        sock("127.0.0.1", 22, "127.0.0.1", 50000, PM_AF_INET),
        sock("::ffff:10.1.2.3", 80, "::ffff:192.0.2.100", 65535, PM_AF_INET6),
        sock("2001:db8::1", 443, "2001:db8:ffff::1", 0, PM_AF_INET6),
    };
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        if (pm_ssf_bc_run(bc, (size_t)len, &socks[i]) != pm_ssf_match(&f, &socks[i])) abort();
    return 0;
}
