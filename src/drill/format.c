/* Evaluating and printing what a script says: integer expressions,
 * expressions as written, and packets in packetdrill's notation (used for
 * both the script's packet and the live one in a mismatch report). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drill/drill_int.h"

static int expr_int_depth(const pm_drill_expr *e, int64_t *out, int depth)
{
    if (!e || depth > 64) return -EINVAL;
    int64_t a, b;
    switch (e->kind) {
    case PM_DX_INT: *out = e->num; return 0;
    case PM_DX_WORD: return pm_drill_symbol(e->str, out) == 0 ? 0 : -EINVAL;
    case PM_DX_LIST:
        if (e->n_items != 1) return -EINVAL;
        return expr_int_depth(e->items[0], out, depth + 1);
    case PM_DX_BINARY:
        if (strcmp(e->str, "|") || e->n_items != 2) return -EINVAL;
        if (expr_int_depth(e->items[0], &a, depth + 1) ||
            expr_int_depth(e->items[1], &b, depth + 1))
            return -EINVAL;
        *out = a | b;
        return 0;
    case PM_DX_CALL:
        /* htons()/htonl()/ntohs()/ntohl(): ports and the like stay in host
         * order in portmux, so these are the identity on the value. */
        if (e->n_items == 1 && (!strcmp(e->str, "htons") || !strcmp(e->str, "htonl") ||
                                !strcmp(e->str, "ntohs") || !strcmp(e->str, "ntohl")))
            return expr_int_depth(e->items[0], out, depth + 1);
        if (e->n_items == 1 && !strcmp(e->str, "inet_addr") && e->items[0]->kind == PM_DX_STRING) {
            pm_ip ip;
            int fam;
            if (pm_ip_parse(e->items[0]->str, &ip, &fam) || fam != PM_AF_INET) return -EINVAL;
            *out = pm_ip_v4(&ip);
            return 0;
        }
        return -EINVAL;
    default: return -EINVAL;
    }
}

int pm_drill_expr_int(const pm_drill_expr *e, int64_t *out)
{
    int64_t v;
    int r = expr_int_depth(e, &v, 0);
    if (r == 0) *out = v;
    return r;
}

static void fmt_expr(pm_sbuf *b, const pm_drill_expr *e, int depth)
{
    if (!e) return;
    if (depth > 64) {
        pm_sbuf_printf(b, "...");
        return;
    }
    char ip[PM_IP_STRLEN];
    switch (e->kind) {
    case PM_DX_ELLIPSIS: pm_sbuf_printf(b, "..."); break;
    case PM_DX_INT:
        if (e->hex)
            pm_sbuf_printf(b, "%#llx", (unsigned long long)e->num);
        else
            pm_sbuf_printf(b, "%lld", (long long)e->num);
        break;
    case PM_DX_WORD: pm_sbuf_printf(b, "%s", e->str); break;
    case PM_DX_STRING: pm_sbuf_printf(b, "\"%s\"%s", e->str, e->str_ellipsis ? "..." : ""); break;
    case PM_DX_BINARY:
        fmt_expr(b, e->items[0], depth + 1);
        pm_sbuf_printf(b, !strcmp(e->str, "|") ? " | " : "=");
        fmt_expr(b, e->items[1], depth + 1);
        break;
    case PM_DX_LIST:
    case PM_DX_STRUCT:
    case PM_DX_CALL:
        if (e->kind == PM_DX_CALL) pm_sbuf_printf(b, "%s", e->str);
        pm_sbuf_printf(b, "%c", e->kind == PM_DX_LIST ? '[' : e->kind == PM_DX_STRUCT ? '{' : '(');
        for (size_t i = 0; i < e->n_items; i++) {
            if (i) pm_sbuf_printf(b, ", ");
            fmt_expr(b, e->items[i], depth + 1);
        }
        pm_sbuf_printf(b, "%c", e->kind == PM_DX_LIST ? ']' : e->kind == PM_DX_STRUCT ? '}' : ')');
        break;
    case PM_DX_SOCKADDR:
        pm_ip_format(&e->sa.ip, ip);
        if (e->sa.family == PM_AF_INET6)
            pm_sbuf_printf(b,
                           "{sa_family=AF_INET6, sin6_port=htons(%u), "
                           "inet_pton(AF_INET6, \"%s\", &sin6_addr)}",
                           e->sa.port, ip);
        else
            pm_sbuf_printf(b, "{sa_family=AF_INET, sin_port=htons(%u), sin_addr=inet_addr(\"%s\")}",
                           e->sa.port, ip);
        break;
    }
}

int pm_drill_expr_format(const pm_drill_expr *e, char *buf, size_t cap)
{
    pm_sbuf b;
    pm_sbuf_init(&b, buf, cap);
    fmt_expr(&b, e, 0);
    return (int)b.len;
}

static void fmt_tcp_opts(pm_sbuf *b, const pm_tcp_opts *o)
{
    pm_sbuf_printf(b, " <");
    size_t opq = 0;
    for (size_t i = 0; i < o->order_len; i++) {
        if (i) pm_sbuf_printf(b, ",");
        switch (o->order[i]) {
        case PM_TCPOPT_NOP: pm_sbuf_printf(b, "nop"); break;
        case PM_TCPOPT_EOL: pm_sbuf_printf(b, "eol"); break;
        case PM_TCPOPT_MSS: pm_sbuf_printf(b, "mss %u", o->mss); break;
        case PM_TCPOPT_WSCALE: pm_sbuf_printf(b, "wscale %u", o->wscale); break;
        case PM_TCPOPT_SACK_PERM: pm_sbuf_printf(b, "sackOK"); break;
        case PM_TCPOPT_SACK:
            pm_sbuf_printf(b, "sack");
            for (int k = 0; k < o->sack_count && k < PM_TCP_MAX_SACK; k++)
                pm_sbuf_printf(b, " %u:%u", o->sack[k].left, o->sack[k].right);
            break;
        case PM_TCPOPT_TS: pm_sbuf_printf(b, "TS val %u ecr %u", o->ts_val, o->ts_ecr); break;
        default: {
            /* Opaque: kind, length, data in opaque[]. */
            uint8_t kind = o->order[i];
            const char *name = kind == 34    ? "FO"
                               : kind == 254 ? "FOEXP"
                               : kind == 19  ? "md5"
                                             : NULL;
            if (name)
                pm_sbuf_printf(b, "%s", name);
            else
                pm_sbuf_printf(b, "kind%u", kind);
            if (opq + 2 <= o->opaque_len && o->opaque[opq] == kind) {
                size_t l = o->opaque[opq + 1];
                size_t skip = kind == 254 ? 2 : 0;
                if (l >= 2 + skip && opq + l <= o->opaque_len) {
                    if (l > 2 + skip) pm_sbuf_printf(b, " ");
                    for (size_t k = opq + 2 + skip; k < opq + l; k++)
                        pm_sbuf_printf(b, "%02x", o->opaque[k]);
                    opq += l;
                }
            }
        }
        }
    }
    pm_sbuf_printf(b, ">");
}

int pm_drill_packet_format(const pm_drill_packet *p, char *buf, size_t cap)
{
    pm_sbuf b;
    pm_sbuf_init(&b, buf, cap);
    const pm_packet *k = &p->pkt;
    if (!(p->ignore & PM_DRILL_IGN_ADDRS)) {
        char s[PM_IP_STRLEN], d[PM_IP_STRLEN];
        pm_sbuf_printf(&b, "%s %s > %s: ", k->ip.version == 6 ? "ipv6" : "ipv4",
                       pm_ip_format(&k->ip.src, s), pm_ip_format(&k->ip.dst, d));
    }
    if (p->ignore & PM_DRILL_IGN_ECN_ECT01)
        pm_sbuf_printf(&b, "[ect01] ");
    else if (p->ecn != PM_DRILL_ECN_NONE) {
        static const char *const ecn[4] = {"noecn", "ect1", "ect0", "ce"};
        pm_sbuf_printf(&b, "[%s] ", ecn[p->ecn & 3]);
    }
    if (p->tos_given) pm_sbuf_printf(&b, "(tos %#x) ", k->ip.tos);
    if (!(p->ignore & PM_DRILL_IGN_TTL)) pm_sbuf_printf(&b, "(ttl %u) ", k->ip.ttl);
    if (p->proto == PM_IPPROTO_UDP) {
        pm_sbuf_printf(&b, "udp ");
        if (!(p->ignore & PM_DRILL_IGN_PORTS))
            pm_sbuf_printf(&b, "%u>%u ", k->udp.sport, k->udp.dport);
        pm_sbuf_printf(&b, "(%zu)", k->udp.payload_len);
        return (int)b.len;
    }
    if (p->proto == PM_IPPROTO_ICMP || p->proto == PM_IPPROTO_ICMPV6) {
        pm_sbuf_printf(&b, "icmp ");
        if (p->icmp_type_name)
            pm_sbuf_printf(&b, "%s", p->icmp_type_name);
        else
            pm_sbuf_printf(&b, "type_%u", k->icmp.type);
        if (p->icmp_code_name)
            pm_sbuf_printf(&b, " %s", p->icmp_code_name);
        else if (k->icmp.code)
            pm_sbuf_printf(&b, " code_%u", k->icmp.code);
        if (p->icmp_mtu >= 0) pm_sbuf_printf(&b, " mtu %lld", (long long)p->icmp_mtu);
        if (p->icmp_inner_proto == PM_IPPROTO_UDP)
            pm_sbuf_printf(&b, " [udp (%u)]", p->icmp_inner_len);
        else if (p->icmp_inner_proto == PM_IPPROTO_TCP && (p->icmp_inner_seq || p->icmp_inner_len))
            pm_sbuf_printf(&b, " [%u:%u(%u)]", p->icmp_inner_seq,
                           (uint32_t)(p->icmp_inner_seq + p->icmp_inner_len), p->icmp_inner_len);
        return (int)b.len;
    }
    const pm_tcp_repr *t = &k->tcp;
    if (!(p->ignore & PM_DRILL_IGN_PORTS)) pm_sbuf_printf(&b, "%u>%u ", t->sport, t->dport);
    static const struct {
        uint16_t bit;
        char c;
    } fl[] = {{PM_TH_FIN, 'F'}, {PM_TH_SYN, 'S'}, {PM_TH_RST, 'R'},
              {PM_TH_PSH, 'P'}, {PM_TH_URG, 'U'}, {PM_TH_ECE, 'E'},
              {PM_TH_CWR, 'W'}, {PM_TH_AE, 'A'},  {PM_TH_ACK, '.'}};
    size_t nf = 0;
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        if (t->flags & fl[i].bit) {
            pm_sbuf_printf(&b, "%c", fl[i].c);
            nf++;
        }
    if (!nf) pm_sbuf_printf(&b, "-");
    if (p->ignore & PM_DRILL_IGN_SEQ)
        pm_sbuf_printf(&b, " ...(%zu)", t->payload_len);
    else
        pm_sbuf_printf(&b, " %u:%u(%zu)", t->seq, (uint32_t)(t->seq + (uint32_t)t->payload_len),
                       t->payload_len);
    if ((t->flags & PM_TH_ACK) || p->ack_given) pm_sbuf_printf(&b, " ack %u", t->ack);
    if (!(p->ignore & PM_DRILL_IGN_WIN)) pm_sbuf_printf(&b, " win %u", t->window);
    if (t->urg) pm_sbuf_printf(&b, " urg %u", t->urg);
    if (p->ignore & PM_DRILL_IGN_OPTIONS)
        pm_sbuf_printf(&b, " <...>");
    else if (t->opts.order_len)
        fmt_tcp_opts(&b, &t->opts);
    return (int)b.len;
}
