/* The virtio_net_hdr a TUN device with IFF_VNET_HDR puts before every
 * packet (virtio 1.x 5.1.6, legacy layout: 10 bytes, little-endian). */
#include "wire_int.h"

static uint16_t rd16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void wr16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

int pm_vnet_hdr_parse(const uint8_t *buf, size_t len, pm_vnet_hdr *out)
{
    if (len < PM_VNET_HDR_LEN) return -PM_E_TRUNCATED;
    memset(out, 0, sizeof *out);
    out->flags = buf[0];
    out->gso_type = buf[1] & (uint8_t)~PM_VNET_GSO_ECN;
    out->ecn = (buf[1] & PM_VNET_GSO_ECN) != 0;
    out->hdr_len = rd16le(buf + 2);
    out->gso_size = rd16le(buf + 4);
    out->csum_start = rd16le(buf + 6);
    out->csum_offset = rd16le(buf + 8);
    size_t plen = len - PM_VNET_HDR_LEN;
    /* Flags other than these two (RSC_INFO) are never offered to a TUN. */
    if (out->flags & ~(PM_VNET_F_NEEDS_CSUM | PM_VNET_F_DATA_VALID)) return -EINVAL;
    if (out->flags & PM_VNET_F_NEEDS_CSUM) {
        /* Linux: virtio_net_hdr_to_skb(): the field lies inside the packet. */
        if ((size_t)out->csum_start + out->csum_offset + 2 > plen) return -EINVAL;
        if (out->csum_offset & 1) return -EINVAL;
    }
    switch (out->gso_type) {
    case PM_VNET_GSO_NONE:
        if (out->ecn) return -EINVAL;
        break;
    case PM_VNET_GSO_TCPV4:
    case PM_VNET_GSO_TCPV6:
        /* Only TSO is negotiated; a GSO packet always needs its checksum. */
        if (!out->gso_size || !(out->flags & PM_VNET_F_NEEDS_CSUM)) return -EINVAL;
        break;
    default: return -EPROTONOSUPPORT;
    }
    return PM_VNET_HDR_LEN;
}

int pm_vnet_hdr_emit(const pm_vnet_hdr *h, uint8_t *buf, size_t cap)
{
    if (cap < PM_VNET_HDR_LEN) return -ENOSPC;
    buf[0] = h->flags;
    buf[1] = (uint8_t)(h->gso_type | (h->ecn ? PM_VNET_GSO_ECN : 0));
    wr16le(buf + 2, h->hdr_len);
    wr16le(buf + 4, h->gso_size);
    wr16le(buf + 6, h->csum_start);
    wr16le(buf + 8, h->csum_offset);
    return PM_VNET_HDR_LEN;
}
