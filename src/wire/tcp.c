/* TCP headers (RFC 9293 3.1) and options: MSS (RFC 9293 3.2), window scale
 * and timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018). Unknown
 * kinds are kept opaque, and the wire order of every option (NOP and EOL
 * included) is kept, so that parse(emit(x)) is byte exact. */
#include "wire_int.h"

#define TCP_HLEN 20

#define KNOWN_MASK                                                                                 \
    (1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_WSCALE | 1u << PM_TCPOPT_SACK_PERM |                    \
     1u << PM_TCPOPT_SACK | 1u << PM_TCPOPT_TS)

static bool known_kind(uint8_t k)
{
    return k < 32 && ((KNOWN_MASK >> k) & 1u);
}

/* The length each known kind must have (SACK: 2 + 8n, n in 1..4). */
static bool known_len_ok(uint8_t kind, uint8_t l)
{
    switch (kind) {
    case PM_TCPOPT_MSS: return l == 4;
    case PM_TCPOPT_WSCALE: return l == 3;
    case PM_TCPOPT_SACK_PERM: return l == 2;
    case PM_TCPOPT_TS: return l == 10;
    case PM_TCPOPT_SACK: return l >= 10 && (l - 2) % 8 == 0 && (l - 2) / 8 <= PM_TCP_MAX_SACK;
    default: return false;
    }
}

static int tcp_opts_parse(const uint8_t *p, size_t n, pm_tcp_opts *o)
{
    size_t i = 0;
    while (i < n) {
        uint8_t kind = p[i];
        o->order[o->order_len++] = kind;  /* n <= 40: one entry per byte at most */
        if (kind == PM_TCPOPT_EOL) break; /* RFC 9293 3.1: the rest is padding */
        if (kind == PM_TCPOPT_NOP) {
            i++;
            continue;
        }
        /* RFC 9293 3.1 (MUST-7): be ready for illegal option lengths; a
         * length of 0 or 1 would loop or underflow a naive walker. */
        if (n - i < 2) return -PM_E_OPTLEN;
        uint8_t l = p[i + 1];
        if (l < 2 || l > n - i) return -PM_E_OPTLEN;
        const uint8_t *d = p + i + 2;
        if (known_kind(kind)) {
            if (!known_len_ok(kind, l)) return -PM_E_OPTLEN;
            if (pm_tcp_has(o, kind)) return -PM_E_OPTDUP;
            o->present |= 1u << kind;
            switch (kind) {
            case PM_TCPOPT_MSS: o->mss = pm_rd16(d); break;
            case PM_TCPOPT_WSCALE: o->wscale = d[0]; break;
            case PM_TCPOPT_TS:
                o->ts_val = pm_rd32(d);
                o->ts_ecr = pm_rd32(d + 4);
                break;
            case PM_TCPOPT_SACK:
                o->sack_count = (uint8_t)((l - 2) / 8);
                for (unsigned b = 0; b < o->sack_count; b++) {
                    o->sack[b].left = pm_rd32(d + 8 * b);
                    o->sack[b].right = pm_rd32(d + 8 * b + 4);
                }
                break;
            default: break; /* SACK-permitted: no data */
            }
        } else {
            memcpy(o->opaque + o->opaque_len, p + i, l); /* sum of lengths <= 40 */
            o->opaque_len = (uint8_t)(o->opaque_len + l);
        }
        i += l;
    }
    return 0;
}

/* Writes one known option at w (when w is not NULL); returns its length
 * or -EINVAL. */
static int put_known(const pm_tcp_opts *o, uint8_t kind, uint8_t *w)
{
    uint8_t t[PM_TCP_OPT_SPACE];
    int l;
    t[0] = kind;
    switch (kind) {
    case PM_TCPOPT_MSS:
        l = 4;
        pm_wr16(t + 2, o->mss);
        break;
    case PM_TCPOPT_WSCALE:
        l = 3;
        t[2] = o->wscale;
        break;
    case PM_TCPOPT_SACK_PERM: l = 2; break;
    case PM_TCPOPT_TS:
        l = 10;
        pm_wr32(t + 2, o->ts_val);
        pm_wr32(t + 6, o->ts_ecr);
        break;
    case PM_TCPOPT_SACK:
        if (o->sack_count < 1 || o->sack_count > PM_TCP_MAX_SACK) return -EINVAL;
        l = 2 + 8 * o->sack_count;
        for (unsigned b = 0; b < o->sack_count; b++) {
            pm_wr32(t + 2 + 8 * b, o->sack[b].left);
            pm_wr32(t + 6 + 8 * b, o->sack[b].right);
        }
        break;
    default: return -EINVAL;
    }
    t[1] = (uint8_t)l;
    if (w) memcpy(w, t, (size_t)l);
    return l;
}

/* Appends bytes to an option area of PM_TCP_OPT_SPACE, or fails. */
struct optbuf {
    uint8_t b[PM_TCP_OPT_SPACE];
    size_t n;
};

static int ob_raw(struct optbuf *ob, const uint8_t *p, size_t l)
{
    if (l > PM_TCP_OPT_SPACE - ob->n) return -EINVAL;
    memcpy(ob->b + ob->n, p, l);
    ob->n += l;
    return 0;
}

static int ob_known(struct optbuf *ob, const pm_tcp_opts *o, uint8_t kind)
{
    uint8_t t[PM_TCP_OPT_SPACE];
    int l = put_known(o, kind, t);
    return l < 0 ? l : ob_raw(ob, t, (size_t)l);
}

static int ob_nops(struct optbuf *ob, size_t k)
{
    static const uint8_t nops[4] = {1, 1, 1, 1};
    return ob_raw(ob, nops, k);
}

/* Linux tcp_options_write(): mss; sackOK+TS (or nop,nop,TS or
 * nop,nop,sackOK); nop,wscale; nop,nop,SACK. Opaque options follow. */
static int opts_linux(const pm_tcp_opts *o, struct optbuf *ob)
{
    int err = 0;
    bool ts = pm_tcp_has(o, PM_TCPOPT_TS), sp = pm_tcp_has(o, PM_TCPOPT_SACK_PERM);
    if (pm_tcp_has(o, PM_TCPOPT_MSS)) err |= ob_known(ob, o, PM_TCPOPT_MSS);
    if (ts) {
        err |= sp ? ob_known(ob, o, PM_TCPOPT_SACK_PERM) : ob_nops(ob, 2);
        err |= ob_known(ob, o, PM_TCPOPT_TS);
    } else if (sp) {
        err |= ob_nops(ob, 2);
        err |= ob_known(ob, o, PM_TCPOPT_SACK_PERM);
    }
    if (pm_tcp_has(o, PM_TCPOPT_WSCALE)) {
        err |= ob_nops(ob, 1);
        err |= ob_known(ob, o, PM_TCPOPT_WSCALE);
    }
    if (pm_tcp_has(o, PM_TCPOPT_SACK)) {
        err |= ob_nops(ob, 2);
        err |= ob_known(ob, o, PM_TCPOPT_SACK);
    }
    if (o->opaque_len > PM_TCP_OPT_SPACE) return -EINVAL;
    err |= ob_raw(ob, o->opaque, o->opaque_len);
    return err ? -EINVAL : 0;
}

/* The options exactly in o->order; every present kind and every opaque
 * option must appear there once. */
static int opts_ordered(const pm_tcp_opts *o, struct optbuf *ob)
{
    uint32_t done = 0;
    size_t oc = 0;
    if (o->order_len > PM_TCP_OPT_SPACE || o->opaque_len > PM_TCP_OPT_SPACE) return -EINVAL;
    for (size_t i = 0; i < o->order_len; i++) {
        uint8_t k = o->order[i];
        uint8_t one = k;
        if (k == PM_TCPOPT_EOL) {
            if (i + 1 != o->order_len) return -EINVAL; /* nothing follows EOL */
            if (ob_raw(ob, &one, 1)) return -EINVAL;
        } else if (k == PM_TCPOPT_NOP) {
            if (ob_raw(ob, &one, 1)) return -EINVAL;
        } else if (known_kind(k)) {
            if (!pm_tcp_has(o, k) || (done >> k & 1u)) return -EINVAL;
            done |= 1u << k;
            if (ob_known(ob, o, k)) return -EINVAL;
        } else {
            if (o->opaque_len - oc < 2 || o->opaque[oc] != k) return -EINVAL;
            uint8_t l = o->opaque[oc + 1];
            if (l < 2 || l > o->opaque_len - oc) return -EINVAL;
            if (ob_raw(ob, o->opaque + oc, l)) return -EINVAL;
            oc += l;
        }
    }
    if (done != (o->present & KNOWN_MASK) || oc != o->opaque_len) return -EINVAL;
    return 0;
}

/* Builds the option area, padded with zeros (EOL) to 32 bits as RFC 9293
 * 3.1 asks. Returns its length or -EINVAL. */
static int tcp_opts_build(const pm_tcp_opts *o, struct optbuf *ob)
{
    ob->n = 0;
    int err = o->order_len ? opts_ordered(o, ob) : opts_linux(o, ob);
    if (err) return err;
    while (ob->n % 4) ob->b[ob->n++] = 0;
    return (int)ob->n;
}

size_t pm_tcp_header_len(const pm_tcp_repr *r)
{
    struct optbuf ob;
    int n = tcp_opts_build(&r->opts, &ob);
    return n < 0 ? 0 : TCP_HLEN + (size_t)n;
}

int pm_tcp_parse(const pm_ip_repr *ip, const uint8_t *seg, size_t len, bool verify_csum,
                 pm_tcp_repr *out, pm_wire_stats *stats)
{
    if (len < TCP_HLEN) return pm_wire_fail(stats, -PM_E_TRUNCATED);
    /* RFC 9293 3.1: data offset counts 32-bit words, minimum 5. */
    size_t doff = (size_t)(seg[12] >> 4) * 4;
    if (doff < TCP_HLEN || doff > len) return pm_wire_fail(stats, -PM_E_DOFF);
    /* RFC 9293 3.1: the checksum covers a pseudo-header, header and data. */
    if (verify_csum &&
        pm_csum_fold(pm_csum_add(pm_csum_pseudo(ip, PM_IPPROTO_TCP, (uint32_t)len), seg, len)))
        return pm_wire_fail(stats, -PM_E_CHECKSUM);
    memset(out, 0, sizeof *out);
    out->sport = pm_rd16(seg);
    out->dport = pm_rd16(seg + 2);
    out->seq = pm_rd32(seg + 4);
    out->ack = pm_rd32(seg + 8);
    /* Flags with the AE bit and the three reserved bits above them, kept
     * as received so that a segment re-emits exactly. */
    out->flags = (uint16_t)((seg[12] & 0x0f) << 8 | seg[13]);
    out->window = pm_rd16(seg + 14);
    out->urg = pm_rd16(seg + 18);
    int err = tcp_opts_parse(seg + TCP_HLEN, doff - TCP_HLEN, &out->opts);
    if (err) return pm_wire_fail(stats, err);
    out->payload = seg + doff;
    out->payload_len = len - doff;
    /* AMNESIA:33 (CVE-2020-17443 class): an urgent pointer past the data
     * made stacks read beyond the segment. RFC 9293 3.8.5 lets it point
     * ahead; we refuse that rather than trust it. */
    if ((out->flags & PM_TH_URG) && out->urg > out->payload_len)
        return pm_wire_fail(stats, -PM_E_URGPTR);
    return 0;
}

int pm_tcp_emit(const pm_ip_repr *ip, const pm_tcp_repr *r, uint8_t *buf, size_t cap)
{
    struct optbuf ob;
    int n = tcp_opts_build(&r->opts, &ob);
    if (n < 0 || r->flags > 0xfff) return -EINVAL;
    size_t hlen = TCP_HLEN + (size_t)n;
    if (r->payload_len > 0xffff - hlen) return -EMSGSIZE;
    size_t total = hlen + r->payload_len;
    if (cap < total) return -ENOSPC;
    /* The payload first: it may sit where the header goes (re-emit in place). */
    if (r->payload_len) memmove(buf + hlen, r->payload, r->payload_len);
    pm_wr16(buf, r->sport);
    pm_wr16(buf + 2, r->dport);
    pm_wr32(buf + 4, r->seq);
    pm_wr32(buf + 8, r->ack);
    buf[12] = (uint8_t)((hlen / 4) << 4 | (r->flags >> 8));
    buf[13] = (uint8_t)r->flags;
    pm_wr16(buf + 14, r->window);
    pm_wr16(buf + 16, 0);
    pm_wr16(buf + 18, r->urg);
    memcpy(buf + TCP_HLEN, ob.b, (size_t)n);
    uint32_t s = pm_csum_pseudo(ip, PM_IPPROTO_TCP, (uint32_t)total);
    pm_wr16(buf + 16, pm_csum_fold(pm_csum_add(s, buf, total)));
    return (int)total;
}
