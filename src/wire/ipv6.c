/* IPv6 headers (RFC 8200) and the extension-header chain, walked with
 * bounds: every length is checked against the end of the payload before
 * it is used, and the chain is cut at PM_IP6_MAX_EXT headers. */
#include "wire_int.h"

#define IPV6_HLEN 40
#define FRAG_HLEN 8

enum {
    NH_HOPOPTS = 0,
    NH_ROUTING = 43,
    NH_FRAGMENT = 44,
    NH_AH = 51,
    NH_DSTOPTS = 60,
};

/* RFC 8200 4.2: options are TLVs; Pad1 is a lone zero byte. An unknown
 * option whose two high type bits are not 00 asks for the packet to be
 * discarded. */
static int ipv6_tlv_check(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t type = p[i];
        if (type == 0) { /* Pad1 */
            i++;
            continue;
        }
        if (len - i < 2 || (size_t)p[i + 1] + 2 > len - i) return -PM_E_EXTHDR;
        /* PadN (1), tunnel limit (4, RFC 2473), router alert (5, RFC 2711)
         * are known and skippable; others obey their action bits. */
        if (type != 1 && type != 4 && type != 5 && (type >> 6) != 0) return -PM_E_EXTHDR;
        i += (size_t)p[i + 1] + 2;
    }
    return 0;
}

static bool ip6_is_v4mapped(const uint8_t *a)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, pfx, 12) == 0;
}

int pm_ipv6_parse(const uint8_t *buf, size_t len, unsigned flags, pm_ip_repr *out,
                  pm_wire_stats *stats)
{
    if (len < IPV6_HLEN) return pm_wire_fail(stats, -PM_E_TRUNCATED);
    if (buf[0] >> 4 != 6) return pm_wire_fail(stats, -PM_E_VERSION);
    size_t plen = pm_rd16(buf + 4);
    size_t end = IPV6_HLEN + plen; /* end of the datagram */
    if (end > len) {
        /* RFC 8200 3: payload length past the buffer. A quoted datagram
         * (RFC 4443 2.4(c)) is cut short: walk what is there. */
        if (!(flags & PM_IPF_QUOTED)) return pm_wire_fail(stats, -PM_E_PAYLEN);
        end = len;
    }
    /* Payload length 0 with a Jumbo option (RFC 2675) is not supported;
     * the Jumbo option's action bits (11) make ipv6_tlv_check drop it. */

    memset(out, 0, sizeof *out);
    out->version = 6;
    out->tos = (uint8_t)((buf[0] & 0x0f) << 4 | buf[1] >> 4);
    out->flow = (uint32_t)(buf[1] & 0x0f) << 16 | pm_rd16(buf + 2);
    out->ttl = buf[7];
    memcpy(out->src.b, buf + 8, 16);
    memcpy(out->dst.b, buf + 24, 16);

    /* RFC 4291 2.7: a multicast source, or a multicast destination of
     * scope 0, is dropped. Linux ip6_rcv_core() also drops v4-mapped
     * sources; we drop v4-mapped destinations too, since an IPv4-mapped
     * address here would alias an IPv4 tuple. */
    if (ip6_is_v4mapped(buf + 8) || ip6_is_v4mapped(buf + 24))
        return pm_wire_fail(stats, -PM_E_ADDR);
    if (!(flags & PM_IPF_QUOTED) && (buf[8] == 0xff || (buf[24] == 0xff && (buf[25] & 0xf) == 0)))
        return pm_wire_fail(stats, -PM_E_ADDR);

    uint8_t nh = buf[6];
    size_t off = IPV6_HLEN;
    unsigned count = 0;
    bool seen_frag = false;
    for (;;) {
        size_t hl;
        if (nh != NH_HOPOPTS && nh != NH_ROUTING && nh != NH_FRAGMENT && nh != NH_AH &&
            nh != NH_DSTOPTS)
            break; /* an upper layer, ESP, No Next Header (59), or unknown */
        /* A chain longer than any real stack sends is an attack (the
         * Ripple20/AMNESIA:33 class): stop it before walking further. */
        if (++count > PM_IP6_MAX_EXT) return pm_wire_fail(stats, -PM_E_EXTHDR);
        /* RFC 8200 4.3: Hop-by-Hop only right after the IPv6 header. */
        if (nh == NH_HOPOPTS && off != IPV6_HLEN) return pm_wire_fail(stats, -PM_E_EXTHDR);
        if (end - off < 8) return pm_wire_fail(stats, -PM_E_EXTHDR);
        const uint8_t *h = buf + off;
        if (nh == NH_FRAGMENT) {
            /* RFC 8200 4.5: fixed 8 bytes. A second one cannot be
             * represented and has no legitimate use. */
            if (seen_frag) return pm_wire_fail(stats, -PM_E_EXTHDR);
            seen_frag = true;
            hl = FRAG_HLEN;
            uint16_t fo = pm_rd16(h + 2);
            out->frag_off = fo & 0xfff8;
            out->more_frags = (fo & 1) != 0;
            out->id = (uint16_t)pm_rd32(h + 4);
            /* RFC 6946: an atomic fragment (offset 0, M 0) is a whole
             * datagram and is processed as one. */
            out->fragment = out->frag_off != 0 || out->more_frags;
            nh = h[0];
            off += hl;
            /* Past the first fragment there is no next header to walk. */
            if (out->frag_off != 0) break;
            continue;
        }
        if (nh == NH_AH)
            hl = ((size_t)h[1] + 2) * 4; /* RFC 4302 2.2: 32-bit words, minus 2 */
        else
            hl = ((size_t)h[1] + 1) * 8; /* RFC 8200 4.3-4.6: 8-byte units, minus 1 */
        if (hl > end - off) return pm_wire_fail(stats, -PM_E_EXTHDR);
        if (nh == NH_HOPOPTS || nh == NH_DSTOPTS) {
            int err = ipv6_tlv_check(h + 2, hl - 2);
            if (err) return pm_wire_fail(stats, err);
        }
        /* RFC 5095 3: a type 0 routing header with segments left is dropped. */
        if (nh == NH_ROUTING && h[2] == 0 && h[3] != 0) return pm_wire_fail(stats, -PM_E_EXTHDR);
        nh = h[0];
        off += hl;
    }
    out->proto = nh;
    out->header_len = (uint16_t)off;
    out->payload_len = (uint16_t)(IPV6_HLEN + plen - off);
    return 0;
}

int pm_ipv6_emit(const pm_ip_repr *r, uint8_t *buf, size_t cap)
{
    bool frag = r->fragment || r->more_frags || r->frag_off;
    size_t hlen = IPV6_HLEN + (frag ? FRAG_HLEN : 0);
    if (pm_ip_is_v4(&r->src) || pm_ip_is_v4(&r->dst)) return -EINVAL;
    if (r->flow > 0xfffff || r->frag_off & 7) return -EINVAL;
    if (hlen - IPV6_HLEN + r->payload_len > 0xffff) return -EMSGSIZE;
    if (cap < hlen) return -ENOSPC;
    buf[0] = (uint8_t)(0x60 | r->tos >> 4);
    buf[1] = (uint8_t)((r->tos & 0x0f) << 4 | r->flow >> 16);
    pm_wr16(buf + 2, (uint16_t)r->flow);
    pm_wr16(buf + 4, (uint16_t)(hlen - IPV6_HLEN + r->payload_len));
    buf[6] = frag ? NH_FRAGMENT : r->proto;
    buf[7] = r->ttl;
    memcpy(buf + 8, r->src.b, 16);
    memcpy(buf + 24, r->dst.b, 16);
    if (frag) {
        uint8_t *h = buf + IPV6_HLEN;
        h[0] = r->proto;
        h[1] = 0;
        pm_wr16(h + 2, (uint16_t)(r->frag_off | (r->more_frags ? 1 : 0)));
        pm_wr32(h + 4, r->id);
    }
    return (int)hlen;
}
