/* ICMPv4 (RFC 792) and ICMPv6 (RFC 4443): echo, and errors, whose quoted
 * packet is parsed so that an error maps to the 5-tuple that caused it
 * (RFC 1122 3.2.2, RFC 4443 2.4). */
#include "wire_int.h"

#define ICMP_HLEN 8

bool pm_icmp_type_is_error(int version, uint8_t type)
{
    if (version == 6) return type < 128; /* RFC 4443 2.1 */
    /* RFC 792: the messages that quote the offending datagram. */
    return type == PM_ICMP4_UNREACH || type == 4 /* source quench */ || type == 5 /* redirect */ ||
           type == PM_ICMP4_TIME_EXCEEDED || type == PM_ICMP4_PARAMPROB;
}

size_t pm_icmp_quote_len(int version, size_t offending_len)
{
    /* RFC 1812 4.3.2.3: an IPv4 error fits in 576 bytes; RFC 4443 2.4(c):
     * an ICMPv6 error fits in the minimum MTU, 1280. */
    size_t max = version == 6 ? 1280 - 40 - ICMP_HLEN : 576 - 20 - ICMP_HLEN;
    return offending_len < max ? offending_len : max;
}

/* The quoted datagram: an IP header of the outer version (cut short is
 * fine), then if present the first 8 transport bytes: ports, and for TCP
 * the sequence number (RFC 792: "64 bits of the original data"). */
static int icmp_inner(int version, const uint8_t *q, size_t qlen, pm_icmp_repr *out)
{
    int err;
    if (qlen < 1 || q[0] >> 4 != version) return -PM_E_ICMP;
    if (version == 4)
        err = pm_ipv4_parse(q, qlen, PM_IPF_QUOTED, &out->inner, NULL);
    else
        err = pm_ipv6_parse(q, qlen, PM_IPF_QUOTED, &out->inner, NULL);
    if (err) return -PM_E_ICMP;
    const pm_ip_repr *in = &out->inner;
    size_t avail = qlen - in->header_len;
    if (in->frag_off == 0 && avail >= 8 &&
        (in->proto == PM_IPPROTO_TCP || in->proto == PM_IPPROTO_UDP)) {
        const uint8_t *t = q + in->header_len;
        out->inner_ports = true;
        out->inner_sport = pm_rd16(t);
        out->inner_dport = pm_rd16(t + 2);
        if (in->proto == PM_IPPROTO_TCP) out->inner_seq = pm_rd32(t + 4);
    }
    return 0;
}

int pm_icmp_parse(const pm_ip_repr *ip, const uint8_t *msg, size_t len, pm_icmp_repr *out,
                  pm_wire_stats *stats)
{
    if (len < ICMP_HLEN) return pm_wire_fail(stats, -PM_E_TRUNCATED);
    /* RFC 792: the checksum covers the message; RFC 4443 2.3: ICMPv6's
     * also covers the IPv6 pseudo-header. */
    uint32_t s = ip->version == 6 ? pm_csum_pseudo(ip, PM_IPPROTO_ICMPV6, (uint32_t)len) : 0;
    if (pm_csum_fold(pm_csum_add(s, msg, len))) return pm_wire_fail(stats, -PM_E_CHECKSUM);
    memset(out, 0, sizeof *out);
    out->version = ip->version;
    out->type = msg[0];
    out->code = msg[1];
    out->rest = pm_rd32(msg + 4);
    out->is_error = pm_icmp_type_is_error(ip->version, out->type);
    out->data = msg + ICMP_HLEN;
    out->data_len = len - ICMP_HLEN;
    if (out->is_error) {
        int err = icmp_inner(ip->version, out->data, out->data_len, out);
        if (err) return pm_wire_fail(stats, err);
    }
    return 0;
}

int pm_icmp_emit(const pm_ip_repr *ip, const pm_icmp_repr *r, uint8_t *buf, size_t cap)
{
    if (r->version != ip->version) return -EINVAL;
    if (r->data_len > 0xffff - ICMP_HLEN) return -EMSGSIZE;
    size_t total = ICMP_HLEN + r->data_len;
    if (cap < total) return -ENOSPC;
    if (r->data_len) memmove(buf + ICMP_HLEN, r->data, r->data_len);
    buf[0] = r->type;
    buf[1] = r->code;
    pm_wr16(buf + 2, 0);
    pm_wr32(buf + 4, r->rest);
    uint32_t s = ip->version == 6 ? pm_csum_pseudo(ip, PM_IPPROTO_ICMPV6, (uint32_t)total) : 0;
    pm_wr16(buf + 2, pm_csum_fold(pm_csum_add(s, buf, total)));
    return (int)total;
}
