#include "portmux/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const pm_ip pm_ip_any6 = {{0}};
const pm_ip pm_ip_any4 = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0}};

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

pm_ip pm_ip4(uint32_t a)
{
    pm_ip ip = pm_ip_any4;
    ip.b[12] = (uint8_t)(a >> 24);
    ip.b[13] = (uint8_t)(a >> 16);
    ip.b[14] = (uint8_t)(a >> 8);
    ip.b[15] = (uint8_t)a;
    return ip;
}

pm_ip pm_ip4_bytes(const uint8_t b[4])
{
    pm_ip ip = pm_ip_any4;
    memcpy(ip.b + 12, b, 4);
    return ip;
}

bool pm_ip_is_v4(const pm_ip *ip)
{
    return memcmp(ip->b, v4mapped_prefix, 12) == 0;
}

uint32_t pm_ip_v4(const pm_ip *ip)
{
    return (uint32_t)ip->b[12] << 24 | (uint32_t)ip->b[13] << 16 | (uint32_t)ip->b[14] << 8 |
           ip->b[15];
}

bool pm_ip_is_any(const pm_ip *ip)
{
    return pm_ip_eq(ip, &pm_ip_any6) || pm_ip_eq(ip, &pm_ip_any4);
}

bool pm_ip_is_loopback(const pm_ip *ip)
{
    static const pm_ip lo6 = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    return pm_ip_is_v4(ip) ? ip->b[12] == 127 : pm_ip_eq(ip, &lo6);
}

bool pm_ip_is_multicast(const pm_ip *ip)
{
    return pm_ip_is_v4(ip) ? (ip->b[12] & 0xf0) == 0xe0 : ip->b[0] == 0xff;
}

bool pm_ip_eq(const pm_ip *a, const pm_ip *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

int pm_ip_cmp(const pm_ip *a, const pm_ip *b)
{
    return memcmp(a->b, b->b, 16);
}

int pm_ip_parse(const char *s, pm_ip *out, int *family)
{
    uint8_t b4[4];
    int fam;
    if (!s) return -EINVAL;
    if (inet_pton(AF_INET, s, b4) == 1) {
        *out = pm_ip4_bytes(b4);
        fam = PM_AF_INET;
    } else if (inet_pton(AF_INET6, s, out->b) == 1) {
        fam = PM_AF_INET6;
    } else {
        return -EINVAL;
    }
    if (family) *family = fam;
    return 0;
}

const char *pm_ip_format(const pm_ip *ip, char buf[PM_IP_STRLEN])
{
    if (pm_ip_is_v4(ip))
        inet_ntop(AF_INET, ip->b + 12, buf, PM_IP_STRLEN);
    else
        inet_ntop(AF_INET6, ip->b, buf, PM_IP_STRLEN);
    return buf;
}

const char *pm_sockaddr_format(const pm_sockaddr *sa, char buf[PM_SOCKADDR_STRLEN])
{
    char ip[PM_IP_STRLEN];
    pm_ip_format(&sa->ip, ip);
    if (sa->family == PM_AF_INET6)
        snprintf(buf, PM_SOCKADDR_STRLEN, "[%s]:%u", ip, sa->port);
    else
        snprintf(buf, PM_SOCKADDR_STRLEN, "%s:%u", ip, sa->port);
    return buf;
}

int pm_prefix_parse(const char *s, pm_prefix *out)
{
    char tmp[PM_IP_STRLEN + 8];
    size_t n = strlen(s);
    if (n >= sizeof tmp) return -EINVAL;
    memcpy(tmp, s, n + 1);
    char *slash = strchr(tmp, '/');
    long plen = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        if (!slash[1]) return -EINVAL;
        plen = strtol(slash + 1, &end, 10);
        if (*end || plen < 0) return -EINVAL;
    }
    int fam;
    if (pm_ip_parse(tmp, &out->ip, &fam) < 0) return -EINVAL;
    long max = fam == PM_AF_INET ? 32 : 128;
    if (plen < 0) plen = max;
    if (plen > max) return -EINVAL;
    out->family = (uint8_t)fam;
    out->plen = (uint8_t)(fam == PM_AF_INET ? plen + 96 : plen);
    /* Clear the host bits so that contains() is a plain compare. */
    for (int i = 0; i < 16; i++) {
        int keep = out->plen - i * 8;
        if (keep >= 8) continue;
        out->ip.b[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
    return 0;
}

bool pm_prefix_contains(const pm_prefix *p, const pm_ip *ip)
{
    if (p->family == PM_AF_INET && !pm_ip_is_v4(ip)) return false;
    for (int i = 0; i < 16; i++) {
        int keep = p->plen - i * 8;
        if (keep <= 0) break;
        uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff << (8 - keep));
        if ((ip->b[i] & mask) != p->ip.b[i]) return false;
    }
    return true;
}
