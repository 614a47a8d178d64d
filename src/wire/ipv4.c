/* IPv4 headers (RFC 791). Options are walked for well-formedness and
 * skipped; fragments are recognised and reported, never reassembled. */
#include "wire_int.h"

#define IPV4_MIN_HLEN 20

/* RFC 791 3.1: each option is EOL, NOP, or type, length (>= 2), data. */
static int ipv4_options_check(const uint8_t *opt, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t type = opt[i];
        if (type == 0) break; /* end of option list */
        if (type == 1) {      /* no operation */
            i++;
            continue;
        }
        if (len - i < 2) return -PM_E_OPTLEN;
        uint8_t olen = opt[i + 1];
        if (olen < 2 || olen > len - i) return -PM_E_OPTLEN;
        i += olen;
    }
    return 0;
}

int pm_ipv4_parse(const uint8_t *buf, size_t len, unsigned flags, pm_ip_repr *out,
                  pm_wire_stats *stats)
{
    if (len < IPV4_MIN_HLEN) return pm_wire_fail(stats, -PM_E_TRUNCATED);
    if (buf[0] >> 4 != 4) return pm_wire_fail(stats, -PM_E_VERSION);
    size_t hlen = (size_t)(buf[0] & 0x0f) * 4;
    /* RFC 791 3.1: IHL counts 32-bit words, minimum 5. */
    if (hlen < IPV4_MIN_HLEN || hlen > len) return pm_wire_fail(stats, -PM_E_IHL);
    size_t tot = pm_rd16(buf + 2);
    /* Linux ip_rcv_core(): total length below the header, or past the
     * buffer, is dropped; a shorter one trims link-layer padding. A quoted
     * datagram (RFC 792) is cut short, so only the first rule holds. */
    if (tot < hlen) return pm_wire_fail(stats, -PM_E_TOTLEN);
    if (!(flags & PM_IPF_QUOTED) && tot > len) return pm_wire_fail(stats, -PM_E_TOTLEN);
    /* RFC 791 3.1 / RFC 1071: the header checksum sums to 0xffff. */
    if (!(flags & PM_IPF_QUOTED) && pm_csum_fold(pm_csum_add(0, buf, hlen)) != 0)
        return pm_wire_fail(stats, -PM_E_CHECKSUM);
    int err = ipv4_options_check(buf + IPV4_MIN_HLEN, hlen - IPV4_MIN_HLEN);
    if (err) return pm_wire_fail(stats, err);

    memset(out, 0, sizeof *out);
    out->version = 4;
    out->tos = buf[1];
    out->id = pm_rd16(buf + 4);
    uint16_t ff = pm_rd16(buf + 6);
    out->df = (ff & 0x4000) != 0;
    out->more_frags = (ff & 0x2000) != 0;
    out->frag_off = (uint16_t)((ff & 0x1fff) * 8);
    out->fragment = out->more_frags || out->frag_off != 0;
    out->ttl = buf[8];
    out->proto = buf[9];
    out->src = pm_ip4_bytes(buf + 12);
    out->dst = pm_ip4_bytes(buf + 16);
    out->header_len = (uint16_t)hlen;
    out->payload_len = (uint16_t)(tot - hlen);

    /* RFC 1122 3.2.1.3: a source is never multicast or limited broadcast. */
    if (!(flags & PM_IPF_QUOTED) && (buf[12] >= 224 || pm_rd32(buf + 12) == 0xffffffffu))
        return pm_wire_fail(stats, -PM_E_ADDR);
    return 0;
}

int pm_ipv4_emit(const pm_ip_repr *r, uint8_t *buf, size_t cap)
{
    if (!pm_ip_is_v4(&r->src) || !pm_ip_is_v4(&r->dst)) return -EINVAL;
    if (r->frag_off & 7 || r->frag_off > 0x1fff * 8) return -EINVAL;
    if ((size_t)r->payload_len + IPV4_MIN_HLEN > 0xffff) return -EMSGSIZE;
    if (cap < IPV4_MIN_HLEN) return -ENOSPC;
    buf[0] = 0x45;
    buf[1] = r->tos;
    pm_wr16(buf + 2, (uint16_t)(IPV4_MIN_HLEN + r->payload_len));
    pm_wr16(buf + 4, r->id);
    uint16_t ff = (uint16_t)(r->frag_off / 8);
    if (r->df) ff |= 0x4000;
    if (r->more_frags) ff |= 0x2000;
    pm_wr16(buf + 6, ff);
    buf[8] = r->ttl;
    buf[9] = r->proto;
    buf[10] = buf[11] = 0;
    memcpy(buf + 12, r->src.b + 12, 4);
    memcpy(buf + 16, r->dst.b + 12, 4);
    pm_wr16(buf + 10, pm_csum_fold(pm_csum_add(0, buf, IPV4_MIN_HLEN)));
    return IPV4_MIN_HLEN;
}
