/* One-line packet summaries in tcpdump's style ("IP a.1 > b.2: Flags [S.],
 * seq 1, win 65535, options [mss 1460], length 0"), for tests, logs and
 * drill's packet diffs. */
#include <stdarg.h>
#include <stdio.h>

#include "wire_int.h"

struct out {
    char *buf;
    size_t cap, n; /* n: what would have been written */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->n < o->cap ? o->cap - o->n : 0;
    int w = vsnprintf(room ? o->buf + o->n : NULL, room, fmt, ap);
    va_end(ap);
    if (w > 0) o->n += (size_t)w;
}

static const char *proto_name(uint8_t p)
{
    switch (p) {
    case PM_IPPROTO_TCP: return "tcp";
    case PM_IPPROTO_UDP: return "udp";
    case PM_IPPROTO_ICMP: return "icmp";
    case PM_IPPROTO_ICMPV6: return "icmp6";
    default: return NULL;
    }
}

/* tcpdump's order and letters: F S R P . U E W, then AE as 'e'. */
static void put_flags(struct out *o, uint16_t f)
{
    static const struct {
        uint16_t bit;
        char c;
    } t[] = {{PM_TH_FIN, 'F'}, {PM_TH_SYN, 'S'}, {PM_TH_RST, 'R'},
             {PM_TH_PSH, 'P'}, {PM_TH_ACK, '.'}, {PM_TH_URG, 'U'},
             {PM_TH_ECE, 'E'}, {PM_TH_CWR, 'W'}, {PM_TH_AE, 'e'}};
    char s[16];
    size_t k = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (f & t[i].bit) s[k++] = t[i].c;
    s[k] = '\0';
    put(o, "Flags [%s]", k ? s : "none");
}

static bool is_known(uint8_t k)
{
    return k == PM_TCPOPT_MSS || k == PM_TCPOPT_WSCALE || k == PM_TCPOPT_SACK_PERM ||
           k == PM_TCPOPT_SACK || k == PM_TCPOPT_TS;
}

static void put_known_opt(struct out *o, const pm_tcp_opts *op, uint8_t kind)
{
    switch (kind) {
    case PM_TCPOPT_MSS: put(o, "mss %u", op->mss); break;
    case PM_TCPOPT_WSCALE: put(o, "wscale %u", op->wscale); break;
    case PM_TCPOPT_SACK_PERM: put(o, "sackOK"); break;
    case PM_TCPOPT_TS: put(o, "TS val %u ecr %u", op->ts_val, op->ts_ecr); break;
    case PM_TCPOPT_SACK:
        put(o, "sack %u ", op->sack_count);
        for (unsigned i = 0; i < op->sack_count && i < PM_TCP_MAX_SACK; i++)
            put(o, "{%u:%u}", op->sack[i].left, op->sack[i].right);
        break;
    default: break;
    }
}

static void put_opaque(struct out *o, const uint8_t *p, size_t l)
{
    put(o, "opt-%u", p[0]);
    if (l > 2) put(o, " 0x");
    for (size_t i = 2; i < l; i++) put(o, "%02x", p[i]);
}

static void put_opts(struct out *o, const pm_tcp_opts *op)
{
    static const uint8_t canon[] = {PM_TCPOPT_MSS, PM_TCPOPT_SACK_PERM, PM_TCPOPT_TS,
                                    PM_TCPOPT_WSCALE, PM_TCPOPT_SACK};
    size_t oc = 0, items = 0;
    if (!op->order_len && !op->present && !op->opaque_len) return;
    put(o, ", options [");
    if (op->order_len) {
        for (size_t i = 0; i < op->order_len && i < PM_TCP_OPT_SPACE; i++) {
            uint8_t k = op->order[i];
            if (items++) put(o, ",");
            if (k == PM_TCPOPT_EOL)
                put(o, "eol");
            else if (k == PM_TCPOPT_NOP)
                put(o, "nop");
            else if (is_known(k) && pm_tcp_has(op, k))
                put_known_opt(o, op, k);
            else if (oc + 2 <= op->opaque_len && op->opaque[oc] == k && op->opaque[oc + 1] >= 2 &&
                     oc + op->opaque[oc + 1] <= op->opaque_len) {
                put_opaque(o, op->opaque + oc, op->opaque[oc + 1]);
                oc += op->opaque[oc + 1];
            } else {
                put(o, "opt-%u?", k);
            }
        }
    } else {
        for (size_t i = 0; i < sizeof canon; i++) {
            if (!pm_tcp_has(op, canon[i])) continue;
            if (items++) put(o, ",");
            put_known_opt(o, op, canon[i]);
        }
        while (oc + 2 <= op->opaque_len && op->opaque[oc + 1] >= 2 &&
               oc + op->opaque[oc + 1] <= op->opaque_len) {
            if (items++) put(o, ",");
            put_opaque(o, op->opaque + oc, op->opaque[oc + 1]);
            oc += op->opaque[oc + 1];
        }
    }
    put(o, "]");
}

static void put_tcp(struct out *o, const pm_tcp_repr *t)
{
    put_flags(o, t->flags);
    if (t->payload_len || (t->flags & (PM_TH_SYN | PM_TH_FIN | PM_TH_RST))) {
        put(o, ", seq %u", t->seq);
        if (t->payload_len) put(o, ":%u", (uint32_t)(t->seq + t->payload_len));
    }
    if (t->flags & PM_TH_ACK) put(o, ", ack %u", t->ack);
    put(o, ", win %u", t->window);
    if (t->flags & PM_TH_URG) put(o, ", urg %u", t->urg);
    put_opts(o, &t->opts);
    put(o, ", length %zu", t->payload_len);
}

/* "10.0.0.2 udp port 53" from an error's quote. */
static void put_quoted(struct out *o, const pm_icmp_repr *m)
{
    char a[PM_IP_STRLEN];
    const char *pn = proto_name(m->inner.proto);
    pm_ip_format(&m->inner.dst, a);
    if (m->inner_ports && pn)
        put(o, "%s %s port %u", a, pn, m->inner_dport);
    else if (pn)
        put(o, "%s %s", a, pn);
    else
        put(o, "%s proto %u", a, m->inner.proto);
}

static void put_icmp4(struct out *o, const pm_icmp_repr *m)
{
    char a[PM_IP_STRLEN];
    put(o, "ICMP ");
    switch (m->type) {
    case PM_ICMP4_ECHO:
    case PM_ICMP4_ECHO_REPLY:
        put(o, "echo %s, id %u, seq %u", m->type == PM_ICMP4_ECHO ? "request" : "reply",
            m->rest >> 16, m->rest & 0xffff);
        break;
    case PM_ICMP4_UNREACH:
        pm_ip_format(&m->inner.dst, a);
        switch (m->code) {
        case PM_ICMP4_UNREACH_NET: put(o, "net %s unreachable", a); break;
        case PM_ICMP4_UNREACH_HOST: put(o, "host %s unreachable", a); break;
        case PM_ICMP4_UNREACH_PROTO: put(o, "%s protocol %u unreachable", a, m->inner.proto); break;
        case PM_ICMP4_UNREACH_PORT:
            put_quoted(o, m);
            put(o, " unreachable");
            break;
        case PM_ICMP4_UNREACH_NEEDFRAG:
            put(o, "%s unreachable - need to frag (mtu %u)", a, m->rest & 0xffff);
            break;
        case PM_ICMP4_UNREACH_ADMIN:
            put_quoted(o, m);
            put(o, " unreachable - admin prohibited filter");
            break;
        default:
            put_quoted(o, m);
            put(o, " unreachable - code %u", m->code);
            break;
        }
        break;
    case PM_ICMP4_TIME_EXCEEDED:
        put(o, "time exceeded %s, ", m->code ? "reassembly" : "in-transit");
        put_quoted(o, m);
        break;
    case PM_ICMP4_PARAMPROB:
        put(o, "parameter problem - octet %u, ", m->rest >> 24);
        put_quoted(o, m);
        break;
    default: put(o, "type %u code %u", m->type, m->code); break;
    }
    put(o, ", length %zu", m->data_len + 8);
}

static void put_icmp6(struct out *o, const pm_icmp_repr *m)
{
    static const char *const unreach[] = {
        "unreachable route", "unreachable prohibited", "beyond scope", "unreachable address",
        "unreachable port",  "failed policy",          "reject route"};
    put(o, "ICMP6, ");
    switch (m->type) {
    case PM_ICMP6_ECHO:
    case PM_ICMP6_ECHO_REPLY:
        put(o, "echo %s, id %u, seq %u", m->type == PM_ICMP6_ECHO ? "request" : "reply",
            m->rest >> 16, m->rest & 0xffff);
        break;
    case PM_ICMP6_UNREACH:
        if (m->code < sizeof unreach / sizeof unreach[0])
            put(o, "destination unreachable, %s, ", unreach[m->code]);
        else
            put(o, "destination unreachable, code %u, ", m->code);
        put_quoted(o, m);
        break;
    case PM_ICMP6_PACKET_TOO_BIG:
        put(o, "packet too big, mtu %u, ", m->rest);
        put_quoted(o, m);
        break;
    case PM_ICMP6_TIME_EXCEEDED:
        put(o, "time exceeded %s, ", m->code ? "reassembly" : "in-transit");
        put_quoted(o, m);
        break;
    case PM_ICMP6_PARAMPROB:
        put(o, "parameter problem, code %u, pointer %u, ", m->code, m->rest);
        put_quoted(o, m);
        break;
    default: put(o, "type %u code %u", m->type, m->code); break;
    }
    put(o, ", length %zu", m->data_len + 8);
}

int pm_packet_format(const pm_packet *p, char *buf, size_t cap)
{
    struct out o = {.buf = buf, .cap = cap, .n = 0};
    char s[PM_IP_STRLEN], d[PM_IP_STRLEN];
    const pm_ip_repr *ip = &p->ip;
    if (cap) buf[0] = '\0';
    pm_ip_format(&ip->src, s);
    pm_ip_format(&ip->dst, d);
    const char *v = ip->version == 6 ? "IP6" : "IP";
    if (ip->fragment) {
        put(&o, "%s %s > %s: frag (id %u, off %u%s), proto %u, length %u", v, s, d, ip->id,
            ip->frag_off, ip->more_frags ? ", more" : "", ip->proto, ip->payload_len);
    } else if (ip->proto == PM_IPPROTO_TCP) {
        put(&o, "%s %s.%u > %s.%u: ", v, s, p->tcp.sport, d, p->tcp.dport);
        put_tcp(&o, &p->tcp);
    } else if (ip->proto == PM_IPPROTO_UDP) {
        put(&o, "%s %s.%u > %s.%u: UDP, length %zu", v, s, p->udp.sport, d, p->udp.dport,
            p->udp.payload_len);
    } else if (ip->proto == PM_IPPROTO_ICMP && ip->version == 4) {
        put(&o, "%s %s > %s: ", v, s, d);
        put_icmp4(&o, &p->icmp);
    } else if (ip->proto == PM_IPPROTO_ICMPV6 && ip->version == 6) {
        put(&o, "%s %s > %s: ", v, s, d);
        put_icmp6(&o, &p->icmp);
    } else {
        put(&o, "%s %s > %s: ip-proto-%u %u", v, s, d, ip->proto, ip->payload_len);
    }
    return o.n > 0x7fffffff ? 0x7fffffff : (int)o.n;
}
