/* Wire parsers on arbitrary bytes. Every input is parsed as it is, then
 * once more with its checksums fixed up so that the fuzzer reaches the
 * option, extension-header and ICMP-quote parsers; the transport parsers
 * also run on the raw bytes without checksum checks. Whatever parses must
 * stay inside the buffer, re-emit, re-parse to the same repr, and emit the
 * same bytes again. The bytes are also read as a TUN's virtio_net_hdr and
 * the packet after it, parsed as the host does with its checksums trusted. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static void within(const uint8_t *base, size_t size, const uint8_t *p, size_t len)
{
    CHECK(len == 0 || (p >= base && len <= size && (size_t)(p - base) <= size - len));
}

static bool same_l4(const pm_packet *a, const pm_packet *b)
{
    switch (a->ip.proto) {
    case PM_IPPROTO_TCP: {
        const pm_tcp_repr *x = &a->tcp, *y = &b->tcp;
        const pm_tcp_opts *o = &x->opts, *q = &y->opts;
        if (x->sport != y->sport || x->dport != y->dport || x->seq != y->seq || x->ack != y->ack ||
            x->flags != y->flags || x->window != y->window || x->urg != y->urg ||
            x->payload_len != y->payload_len)
            return false;
        if (o->present != q->present || o->mss != q->mss || o->wscale != q->wscale ||
            o->ts_val != q->ts_val || o->ts_ecr != q->ts_ecr || o->sack_count != q->sack_count ||
            o->order_len != q->order_len || o->opaque_len != q->opaque_len ||
            memcmp(o->order, q->order, o->order_len) || memcmp(o->opaque, q->opaque, o->opaque_len))
            return false;
        for (unsigned i = 0; i < o->sack_count; i++)
            if (o->sack[i].left != q->sack[i].left || o->sack[i].right != q->sack[i].right)
                return false;
        return x->payload_len == 0 || memcmp(x->payload, y->payload, x->payload_len) == 0;
    }
    case PM_IPPROTO_UDP:
        return a->udp.sport == b->udp.sport && a->udp.dport == b->udp.dport &&
               a->udp.payload_len == b->udp.payload_len &&
               (a->udp.payload_len == 0 ||
                memcmp(a->udp.payload, b->udp.payload, a->udp.payload_len) == 0);
    default: {
        const pm_icmp_repr *x = &a->icmp, *y = &b->icmp;
        return x->type == y->type && x->code == y->code && x->rest == y->rest &&
               x->is_error == y->is_error && x->data_len == y->data_len &&
               x->inner_ports == y->inner_ports && x->inner_sport == y->inner_sport &&
               x->inner_dport == y->inner_dport && x->inner_seq == y->inner_seq &&
               x->inner.proto == y->inner.proto &&
               (x->data_len == 0 || memcmp(x->data, y->data, x->data_len) == 0);
    }
    }
}

static void check_packet(const uint8_t *buf, size_t size)
{
    pm_packet p;
    pm_wire_stats st = {0};
    char line[64];
    int err = pm_packet_parse(buf, size, &p, &st);
    if (err) {
        CHECK(err < 0 && -err >= PM_ERR_BASE && -err < PM_E__END);
        CHECK(st.err[-err - PM_ERR_BASE] == 1 && st.ok == 0);
        return;
    }
    CHECK(st.ok == 1);
    pm_packet_format(&p, line, sizeof line);
    CHECK((size_t)p.ip.header_len + p.ip.payload_len <= size);
    switch (p.ip.proto) {
    case PM_IPPROTO_TCP:
        within(buf, size, p.tcp.payload, p.tcp.payload_len);
        CHECK(!(p.tcp.flags & PM_TH_URG) || p.tcp.urg <= p.tcp.payload_len);
        break;
    case PM_IPPROTO_UDP: within(buf, size, p.udp.payload, p.udp.payload_len); break;
    default:
        within(buf, size, p.icmp.data, p.icmp.data_len);
        if (p.icmp.is_error) CHECK(p.icmp.inner.version == p.ip.version);
        break;
    }
    /* Re-emit (IPv4 options and IPv6 extension headers are dropped),
     * re-parse: the same packet. */
    static uint8_t out[70000], again[70000];
    int n = pm_packet_emit(&p, out, sizeof out);
    CHECK(n > 0);
    pm_packet q;
    CHECK(pm_packet_parse(out, (size_t)n, &q, NULL) == 0);
    CHECK(q.ip.version == p.ip.version && q.ip.proto == p.ip.proto && q.ip.ttl == p.ip.ttl &&
          q.ip.tos == p.ip.tos && q.ip.flow == p.ip.flow && q.ip.df == p.ip.df &&
          pm_ip_eq(&q.ip.src, &p.ip.src) && pm_ip_eq(&q.ip.dst, &p.ip.dst) && !q.ip.fragment);
    /* (Lengths may shrink: TCP padding after EOL is not kept.) */
    CHECK(q.ip.payload_len <= p.ip.payload_len);
    CHECK(p.ip.version == 6 || q.ip.id == p.ip.id);
    CHECK(same_l4(&p, &q));
    /* And now byte exact. */
    int m = pm_packet_emit(&q, again, sizeof again);
    CHECK(m == n && memcmp(out, again, (size_t)n) == 0);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Makes every checksum of a copy right, as far as the headers allow. */
static void fix_checksums(uint8_t *b, size_t size)
{
    if (size >= 20 && b[0] >> 4 == 4) {
        size_t hl = (size_t)(b[0] & 15) * 4;
        if (hl >= 20 && hl <= size) {
            put16(b + 10, 0);
            put16(b + 10, pm_csum_fold(pm_csum_add(0, b, hl)));
        }
    }
    pm_ip_repr ip;
    if (pm_ip_hdr_parse(b, size, &ip, NULL) != 0 || ip.fragment) return;
    uint8_t *t = b + ip.header_len;
    size_t len = ip.payload_len, off;
    uint32_t s = 0;
    if (ip.proto == PM_IPPROTO_TCP && len >= 20) {
        off = 16;
    } else if (ip.proto == PM_IPPROTO_UDP && len >= 8) {
        off = 6;
        size_t ul = (size_t)(t[4] << 8 | t[5]);
        if (ul >= 8 && ul <= len) len = ul;
    } else if ((ip.proto == PM_IPPROTO_ICMP || ip.proto == PM_IPPROTO_ICMPV6) && len >= 8) {
        off = 2;
    } else {
        return;
    }
    if (ip.proto != PM_IPPROTO_ICMP) s = pm_csum_pseudo(&ip, ip.proto, (uint32_t)len);
    put16(t + off, 0);
    put16(t + off, pm_csum_fold(pm_csum_add(s, t, len)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t copy[70000];
    if (size > sizeof copy) return 0;
    check_packet(data, size);
    memcpy(copy, data, size);
    fix_checksums(copy, size);
    check_packet(copy, size);

    /* The transport parsers straight on the bytes, checksums unchecked. */
    pm_ip_repr ip4 = {.version = 4, .src = pm_ip4(0xc0000201), .dst = pm_ip4(0xc0000202)};
    pm_tcp_repr t;
    pm_udp_repr u;
    if (pm_tcp_parse(&ip4, data, size, false, &t, NULL) == 0) {
        within(data, size, t.payload, t.payload_len);
        CHECK(t.opts.order_len <= PM_TCP_OPT_SPACE && t.opts.opaque_len <= PM_TCP_OPT_SPACE);
        CHECK(t.opts.sack_count <= PM_TCP_MAX_SACK);
        size_t hl = pm_tcp_header_len(&t);
        CHECK(hl >= 20 && hl <= 60 && hl % 4 == 0 && hl + t.payload_len <= size);
        static uint8_t seg[70000];
        int n = pm_tcp_emit(&ip4, &t, seg, sizeof seg);
        CHECK(n == (int)(hl + t.payload_len));
        pm_tcp_repr t2;
        CHECK(pm_tcp_parse(&ip4, seg, (size_t)n, true, &t2, NULL) == 0);
    }
    if (pm_udp_parse(&ip4, data, size, false, &u, NULL) == 0)
        within(data, size, u.payload, u.payload_len);

    pm_vnet_hdr vh;
    int vr = pm_vnet_hdr_parse(data, size, &vh);
    if (vr == PM_VNET_HDR_LEN) {
        size_t plen = size - PM_VNET_HDR_LEN;
        CHECK(!(vh.flags & PM_VNET_F_NEEDS_CSUM) ||
              (size_t)vh.csum_start + vh.csum_offset + 2 <= plen);
        CHECK(vh.gso_type == PM_VNET_GSO_NONE || vh.gso_size > 0);
        uint8_t hb[PM_VNET_HDR_LEN];
        CHECK(pm_vnet_hdr_emit(&vh, hb, sizeof hb) == PM_VNET_HDR_LEN);
        CHECK(memcmp(hb, data, sizeof hb) == 0);
        pm_packet p;
        pm_wire_stats st = {0};
        const uint8_t *pk = data + PM_VNET_HDR_LEN;
        int err = pm_packet_parse_flags(pk, plen, PM_PARSE_CSUM_OK, &p, &st);
        if (err == 0) {
            CHECK(st.ok == 1 && (size_t)p.ip.header_len + p.ip.payload_len <= plen);
            if (p.ip.proto == PM_IPPROTO_TCP) within(pk, plen, p.tcp.payload, p.tcp.payload_len);
            if (p.ip.proto == PM_IPPROTO_UDP) within(pk, plen, p.udp.payload, p.udp.payload_len);
        } else {
            CHECK(err < 0 && -err >= PM_ERR_BASE && -err < PM_E__END);
            CHECK(st.err[-err - PM_ERR_BASE] == 1);
        }
    } else {
        CHECK(vr == -PM_E_TRUNCATED || vr == -EINVAL || vr == -EPROTONOSUPPORT);
    }
    return 0;
}
