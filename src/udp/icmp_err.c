/* ICMP error conversion and the ICMP rate limit. */
#include "udp/icmp_err.h"

#include <errno.h>

#include "portmux/wire.h"

static const struct {
    uint8_t err;
    bool fatal;
} v4_unreach[16] = {
    /* Linux net/ipv4/icmp.c icmp_err_convert[] */
    {ENETUNREACH, false},  /* 0 network unreachable */
    {EHOSTUNREACH, false}, /* 1 host unreachable */
    {ENOPROTOOPT, true},   /* 2 protocol unreachable */
    {ECONNREFUSED, true},  /* 3 port unreachable */
    {EMSGSIZE, false},     /* 4 fragmentation needed */
    {EOPNOTSUPP, false},   /* 5 source route failed */
    {ENETUNREACH, true},   /* 6 network unknown */
    {EHOSTDOWN, true},     /* 7 host unknown */
    {ENONET, true},        /* 8 source host isolated */
    {ENETUNREACH, true},   /* 9 network prohibited */
    {EHOSTUNREACH, true},  /* 10 host prohibited */
    {ENETUNREACH, false},  /* 11 network unreachable for TOS */
    {EHOSTUNREACH, false}, /* 12 host unreachable for TOS */
    {EHOSTUNREACH, true},  /* 13 administratively prohibited */
    {EHOSTUNREACH, true},  /* 14 precedence violation */
    {EHOSTUNREACH, true},  /* 15 precedence cutoff */
};

int pm_icmp_err_convert(int version, uint8_t type, uint8_t code, int *err, bool *hard)
{
    if (version == 4) {
        switch (type) {
        case PM_ICMP4_UNREACH:
            if (code > 15) return -1;
            *err = v4_unreach[code].err;
            *hard = v4_unreach[code].fatal;
            return 0;
        case PM_ICMP4_TIME_EXCEEDED: /* RFC 1122 3.2.2.4: soft */
            *err = EHOSTUNREACH;
            *hard = false;
            return 0;
        case PM_ICMP4_PARAMPROB: /* RFC 1122 3.2.2.5 */
            *err = EPROTO;
            *hard = true;
            return 0;
        default: return -1;
        }
    }
    switch (type) { /* Linux net/ipv6/icmp.c icmpv6_err_convert() */
    case PM_ICMP6_UNREACH:
        switch (code) {
        case PM_ICMP6_UNREACH_NOROUTE: *err = ENETUNREACH, *hard = false; return 0;
        case PM_ICMP6_UNREACH_ADMIN:
        case 5: /* source address failed policy */
        case 6: /* reject route */ *err = EACCES, *hard = true; return 0;
        case 2: /* beyond scope */
        case PM_ICMP6_UNREACH_ADDR: *err = EHOSTUNREACH, *hard = false; return 0;
        case PM_ICMP6_UNREACH_PORT: *err = ECONNREFUSED, *hard = true; return 0;
        default: return -1;
        }
    case PM_ICMP6_PACKET_TOO_BIG: *err = EMSGSIZE, *hard = false; return 0;
    case PM_ICMP6_PARAMPROB: *err = EPROTO, *hard = true; return 0;
    case PM_ICMP6_TIME_EXCEEDED: *err = EHOSTUNREACH, *hard = false; return 0;
    default: return -1;
    }
}

bool pm_icmp_limit_allow(pm_icmp_limit *l, uint32_t per_sec, uint32_t burst, uint64_t now)
{
    if (now > l->stamp_us) {
        uint64_t add = (now - l->stamp_us) * per_sec / 1000000u;
        if (add) {
            uint64_t t = l->tokens + add;
            l->tokens = (uint32_t)(t > burst ? burst : t);
            l->stamp_us = now;
        }
    } else if (now < l->stamp_us) {
        l->stamp_us = now;
    }
    if (!l->tokens) return false;
    l->tokens--;
    return true;
}
