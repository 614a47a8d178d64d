/* Whole packets: IP, then the transport it carries. */
#include "wire_int.h"

int pm_packet_parse(const uint8_t *buf, size_t len, pm_packet *out, pm_wire_stats *stats)
{
    return pm_packet_parse_flags(buf, len, 0, out, stats);
}

int pm_packet_parse_flags(const uint8_t *buf, size_t len, unsigned flags, pm_packet *out,
                          pm_wire_stats *stats)
{
    bool verify = !(flags & PM_PARSE_CSUM_OK);
    int err = pm_ip_hdr_parse(buf, len, &out->ip, stats);
    if (err) return err;
    /* Not reassembled: the caller sees the header and decides. */
    if (out->ip.fragment) return pm_wire_fail(stats, -PM_E_FRAGMENT);
    const pm_ip_repr *ip = &out->ip;
    const uint8_t *t = buf + ip->header_len;
    size_t tl = ip->payload_len;
    if (ip->proto == PM_IPPROTO_TCP)
        err = pm_tcp_parse(ip, t, tl, verify, &out->tcp, stats);
    else if (ip->proto == PM_IPPROTO_UDP)
        err = pm_udp_parse(ip, t, tl, verify, &out->udp, stats);
    else if ((ip->proto == PM_IPPROTO_ICMP && ip->version == 4) ||
             (ip->proto == PM_IPPROTO_ICMPV6 && ip->version == 6))
        err = pm_icmp_parse(ip, t, tl, &out->icmp, stats);
    else
        err = pm_wire_fail(stats, -PM_E_PROTO);
    if (err == 0 && stats) stats->ok++;
    return err;
}

int pm_packet_emit(const pm_packet *p, uint8_t *buf, size_t cap)
{
    pm_ip_repr ip = p->ip;
    size_t hl = pm_ip_emit_len(&ip);
    int n;
    if (ip.version != 4 && ip.version != 6) return -EINVAL;
    if (cap < hl) return -ENOSPC;
    if (ip.proto == PM_IPPROTO_TCP)
        n = pm_tcp_emit(&ip, &p->tcp, buf + hl, cap - hl);
    else if (ip.proto == PM_IPPROTO_UDP)
        n = pm_udp_emit(&ip, &p->udp, buf + hl, cap - hl);
    else if ((ip.proto == PM_IPPROTO_ICMP && ip.version == 4) ||
             (ip.proto == PM_IPPROTO_ICMPV6 && ip.version == 6))
        n = pm_icmp_emit(&ip, &p->icmp, buf + hl, cap - hl);
    else
        return -EPROTONOSUPPORT;
    if (n < 0) return n;
    if ((size_t)n > 0xffff) return -EMSGSIZE;
    ip.payload_len = (uint16_t)n;
    int h = pm_ip_hdr_emit(&ip, buf, cap);
    if (h < 0) return h;
    return h + n;
}

int pm_packet_tuple(const pm_packet *p, pm_tuple *t)
{
    memset(t, 0, sizeof *t);
    switch (p->ip.proto) {
    case PM_IPPROTO_TCP:
    case PM_IPPROTO_UDP:
        t->laddr = p->ip.dst;
        t->faddr = p->ip.src;
        t->lport = p->ip.proto == PM_IPPROTO_TCP ? p->tcp.dport : p->udp.dport;
        t->fport = p->ip.proto == PM_IPPROTO_TCP ? p->tcp.sport : p->udp.sport;
        t->proto = p->ip.proto;
        return 0;
    case PM_IPPROTO_ICMP:
    case PM_IPPROTO_ICMPV6:
        if (!p->icmp.is_error) return -PM_E_PROTO;
        if (!p->icmp.inner_ports) return -PM_E_ICMP;
        /* RFC 1122 3.2.2.1, RFC 4443 2.4(b): demultiplex on the quote. */
        t->laddr = p->icmp.inner.src;
        t->faddr = p->icmp.inner.dst;
        t->lport = p->icmp.inner_sport;
        t->fport = p->icmp.inner_dport;
        t->proto = p->icmp.inner.proto;
        return 0;
    default: return -PM_E_PROTO;
    }
}
