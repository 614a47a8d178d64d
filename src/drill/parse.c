/* The packetdrill parser: a hand-written recursive descent over the lexer's
 * tokens, building the script model of drill.h. The grammar follows
 * upstream's parser.y as scripts use it (see docs/drill.md); every error
 * names its line, and no input makes it crash, loop or overflow. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill/drill_int.h"

#define LOOKAHEAD  4
#define MAX_DEPTH  32
#define MAX_EVENTS 200000

typedef struct parser {
    pm_lexer lx;
    pm_tok la[LOOKAHEAD];
    int n_la;
    pm_drill_arena *a;
    pm_drill_script *s;
    char *err;
    size_t errcap;
    bool failed;
    int depth;
    size_t cap_events;
    int last_line;
} parser;

/* ---- Token plumbing ----------------------------------------------------- */

static const pm_tok *peek(parser *p, int k)
{
    while (p->n_la <= k) p->la[p->n_la++] = pm_lex_next(&p->lx);
    return &p->la[k];
}

static pm_tok next(parser *p)
{
    peek(p, 0);
    pm_tok t = p->la[0];
    memmove(p->la, p->la + 1, sizeof(pm_tok) * (size_t)(p->n_la - 1));
    p->n_la--;
    p->last_line = t.line;
    return t;
}

static void fail(parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(parser *p, int line, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = true;
    int n = snprintf(p->err, p->errcap, "%d: ", line);
    if (n < 0 || (size_t)n >= p->errcap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
    va_end(ap);
}

static const char *tok_desc(const pm_tok *t, char *buf, size_t cap)
{
    switch (t->kind) {
    case TK_EOF: return "end of file";
    case TK_ERROR: return t->msg;
    case TK_STRING: return "a string";
    case TK_BACKTICK: return "a `command`";
    case TK_CODE: return "a %{code}%";
    case TK_CHAR:
        if ((unsigned char)t->c < 0x20 || (unsigned char)t->c >= 0x7f)
            snprintf(buf, cap, "byte 0x%02x", (unsigned char)t->c);
        else
            snprintf(buf, cap, "'%c'", t->c);
        return buf;
    default: snprintf(buf, cap, "'%.*s'", t->len > 40 ? 40 : (int)t->len, t->p); return buf;
    }
}

static void fail_tok(parser *p, const pm_tok *t, const char *expected)
{
    char b[64];
    if (t->kind == TK_EOF) {
        /* Report what is missing where the text stopped. */
        fail(p, p->last_line, "expected %s, found end of file", expected);
        return;
    }
    if (t->kind == TK_ERROR)
        fail(p, t->line, "%s", t->msg);
    else
        fail(p, t->line, "expected %s, found %s", expected, tok_desc(t, b, sizeof b));
}

static bool is_char(const pm_tok *t, char c)
{
    return t->kind == TK_CHAR && t->c == c;
}

static bool is_word(const pm_tok *t, const char *w)
{
    return t->kind == TK_WORD && t->len == strlen(w) && !memcmp(t->p, w, t->len);
}

static bool expect_char(parser *p, char c)
{
    const pm_tok *t = peek(p, 0);
    if (is_char(t, c)) {
        next(p);
        return true;
    }
    char what[8];
    snprintf(what, sizeof what, "'%c'", c);
    fail_tok(p, t, what);
    return false;
}

static char *tok_str(parser *p, const pm_tok *t)
{
    char *s = pm_drill_strndup(p->a, t->p, t->len);
    if (!s) fail(p, t->line, "out of memory");
    return s;
}

static void *alloc(parser *p, size_t n)
{
    void *v = pm_drill_alloc(p->a, n);
    if (!v) fail(p, p->last_line, "out of memory");
    return v;
}

/* An integer within [lo, hi]. */
static bool expect_int(parser *p, int64_t lo, int64_t hi, const char *what, int64_t *out)
{
    const pm_tok *t = peek(p, 0);
    if (t->kind != TK_INT && t->kind != TK_HEX) {
        fail_tok(p, t, what);
        return false;
    }
    pm_tok tk = next(p);
    if (tk.overflow || tk.i < lo || tk.i > hi) {
        fail(p, tk.line, "%s out of range: %.*s", what, (int)tk.len, tk.p);
        return false;
    }
    *out = tk.i;
    return true;
}

/* ---- Times ----------------------------------------------------------------- */

static bool is_num(const pm_tok *t)
{
    return t->kind == TK_INT || t->kind == TK_FLOAT;
}

/* Seconds (integer or float) to microseconds. */
static bool time_value(parser *p, int64_t *usecs)
{
    pm_tok t = next(p);
    if (!is_num(&t)) {
        fail_tok(p, &t, "a time");
        return false;
    }
    double secs = t.kind == TK_INT ? (double)t.i : t.f;
    if (t.overflow || secs < 0 || secs > 1e9) {
        fail(p, t.line, "time out of range: %.*s", (int)t.len, t.p);
        return false;
    }
    *usecs = (int64_t)llround(secs * 1e6);
    return true;
}

/* Is there "~" or "..." here that starts a range end (not a blocking
 * syscall's end time)? k is the lookahead index of the separator. */
static bool range_follows(parser *p)
{
    const pm_tok *sep = peek(p, 0);
    if (is_char(sep, '~')) return true;
    if (sep->kind != TK_ELLIPSIS) return false;
    int k = 1;
    if (is_char(peek(p, k), '+')) k++;
    if (!is_num(peek(p, k))) return false;
    const pm_tok *after = peek(p, k + 1);
    return is_char(after, '<') || is_char(after, '>');
}

static bool parse_time(parser *p, pm_drill_time *tm)
{
    const pm_tok *t = peek(p, 0);
    tm->usecs_end = -1;
    if (is_char(t, '*')) {
        next(p);
        tm->kind = PM_DRILL_TIME_ANY;
        return true;
    }
    bool rel = false;
    if (is_char(t, '+')) {
        next(p);
        rel = true;
    }
    if (!time_value(p, &tm->usecs)) return false;
    tm->kind = rel ? PM_DRILL_TIME_RELATIVE : PM_DRILL_TIME_ABSOLUTE;
    if (range_follows(p)) {
        pm_tok sep = next(p);
        bool rel2 = false;
        if (is_char(peek(p, 0), '+')) {
            next(p);
            rel2 = true;
        }
        if (rel2 != rel) {
            fail(p, sep.line, "a time range's ends must both be relative or both absolute");
            return false;
        }
        if (!time_value(p, &tm->usecs_end)) return false;
        if (tm->usecs_end < tm->usecs) {
            fail(p, sep.line, "time range is backwards");
            return false;
        }
        tm->kind = rel ? PM_DRILL_TIME_REL_RANGE : PM_DRILL_TIME_ABS_RANGE;
    }
    return true;
}

/* ---- Packets --------------------------------------------------------------- */

static bool parse_ip_info(parser *p, pm_drill_packet *pk)
{
    pm_tok open = next(p);
    char close = open.c == '(' ? ')' : ']';
    for (;;) {
        const pm_tok *t = peek(p, 0);
        if (is_word(t, "ect0") || is_word(t, "ect1") || is_word(t, "ce") || is_word(t, "noecn")) {
            pk->ecn = is_word(t, "noecn") ? 0 : is_word(t, "ect1") ? 1 : is_word(t, "ect0") ? 2 : 3;
            pk->pkt.ip.tos = (uint8_t)((pk->pkt.ip.tos & ~3u) | (unsigned)pk->ecn);
            pk->ignore &= ~(uint32_t)PM_DRILL_IGN_TOS;
            next(p);
        } else if (is_word(t, "ect01")) {
            if (pk->dir != '>') {
                fail(p, t->line, "[ect01] can only be used with outbound packets");
                return false;
            }
            pk->ignore |= PM_DRILL_IGN_ECN_ECT01;
            pk->ignore &= ~(uint32_t)PM_DRILL_IGN_TOS;
            next(p);
        } else if (is_word(t, "tos")) {
            next(p);
            int64_t v;
            if (!expect_int(p, 0, 255, "tos value", &v)) return false;
            pk->pkt.ip.tos = (uint8_t)v;
            pk->tos_given = true;
            pk->ignore &= ~(uint32_t)PM_DRILL_IGN_TOS;
        } else if (is_word(t, "flowlabel")) {
            next(p);
            int64_t v;
            if (!expect_int(p, 0, 0xfffff, "flowlabel", &v)) return false;
            pk->pkt.ip.flow = (uint32_t)v;
            pk->ignore &= ~(uint32_t)PM_DRILL_IGN_FLOWLABEL;
        } else if (is_word(t, "ttl")) {
            next(p);
            int64_t v;
            if (!expect_int(p, 0, 255, "ttl", &v)) return false;
            pk->pkt.ip.ttl = (uint8_t)v;
            pk->ignore &= ~(uint32_t)PM_DRILL_IGN_TTL;
        } else {
            fail_tok(p, t, "ect0, ect1, ect01, ce, noecn, tos, flowlabel or ttl");
            return false;
        }
        if (is_char(peek(p, 0), ',')) {
            next(p);
            continue;
        }
        return expect_char(p, close);
    }
}

static bool parse_ports(parser *p, pm_drill_packet *pk, uint16_t *sport, uint16_t *dport)
{
    if ((peek(p, 0)->kind == TK_INT) && is_char(peek(p, 1), '>')) {
        int64_t a, b;
        if (!expect_int(p, 0, 65535, "source port", &a)) return false;
        next(p);
        if (!expect_int(p, 0, 65535, "destination port", &b)) return false;
        *sport = (uint16_t)a;
        *dport = (uint16_t)b;
        pk->ignore &= ~(uint32_t)PM_DRILL_IGN_PORTS;
    }
    return true;
}

static bool parse_flags(parser *p, pm_drill_packet *pk)
{
    const pm_tok *t = peek(p, 0);
    char text[16];
    size_t n = 0;
    int line = t->line;
    if (t->kind == TK_WORD) {
        if (t->len >= sizeof text - 1) {
            fail(p, line, "bad TCP flags '%.*s'", (int)(t->len > 20 ? 20 : t->len), t->p);
            return false;
        }
        memcpy(text, t->p, t->len);
        n = t->len;
        next(p);
        if (is_char(peek(p, 0), '.')) {
            next(p);
            text[n++] = '.';
        }
    } else if (is_char(t, '.')) {
        next(p);
        text[n++] = '.';
    } else if (is_char(t, '-')) {
        next(p);
    } else {
        fail_tok(p, t, "TCP flags (S, S., F., R, P., ., -, ...)");
        return false;
    }
    text[n] = '\0';
    uint16_t f = 0;
    for (size_t i = 0; i < n; i++) {
        switch (text[i]) {
        case 'F': f |= PM_TH_FIN; break;
        case 'S': f |= PM_TH_SYN; break;
        case 'R': f |= PM_TH_RST; break;
        case 'P': f |= PM_TH_PSH; break;
        case '.': f |= PM_TH_ACK; break;
        case 'U': f |= PM_TH_URG; break;
        case 'E': f |= PM_TH_ECE; break;
        case 'W': f |= PM_TH_CWR; break;
        case 'A': f |= PM_TH_AE; break;
        default: fail(p, line, "bad TCP flag '%c' in '%s'", text[i], text); return false;
        }
    }
    pk->pkt.tcp.flags = f;
    pk->flags = pm_drill_strndup(p->a, text, n);
    if (!pk->flags) fail(p, line, "out of memory");
    return !p->failed;
}

/* start:end(len) or ...(len) */
static bool parse_seq(parser *p, bool allow_wild, uint32_t *seq, uint32_t *len, bool *wild)
{
    const pm_tok *t = peek(p, 0);
    int line = t->line;
    int64_t s = 0, e = 0, l = 0;
    *wild = false;
    if (t->kind == TK_ELLIPSIS) {
        if (!allow_wild) {
            fail(p, line, "a '...' sequence number is only allowed in outbound packets");
            return false;
        }
        next(p);
        *wild = true;
    } else {
        if (!expect_int(p, 0, UINT32_MAX, "TCP start sequence number", &s)) return false;
        if (!expect_char(p, ':')) return false;
        if (!expect_int(p, 0, UINT32_MAX, "TCP end sequence number", &e)) return false;
    }
    if (!expect_char(p, '(')) return false;
    if (!expect_int(p, 0, 65535, "TCP payload size", &l)) return false;
    if (!expect_char(p, ')')) return false;
    if (!*wild && e != s + l && (uint32_t)(s + l) != (uint32_t)e) {
        fail(p, line, "inconsistent TCP sequence numbers and payload size");
        return false;
    }
    *seq = (uint32_t)s;
    *len = (uint32_t)l;
    return true;
}

static bool opt_push(parser *p, pm_tcp_opts *o, uint8_t kind, size_t bytes, size_t *used, int line)
{
    if (o->order_len >= PM_TCP_OPT_SPACE || *used + bytes > PM_TCP_OPT_SPACE) {
        fail(p, line, "TCP option list too long (more than %d bytes)", PM_TCP_OPT_SPACE);
        return false;
    }
    o->order[o->order_len++] = kind;
    *used += bytes;
    if (kind < 32) o->present |= 1u << kind;
    return true;
}

/* Hex cookie for FO/FOEXP/md5: an even number of hex digits (a WORD or INT). */
static bool opt_opaque(parser *p, pm_tcp_opts *o, uint8_t kind, const uint8_t *prefix,
                       size_t prefix_len, size_t *used, int line)
{
    uint8_t data[PM_TCP_OPT_SPACE];
    size_t dl = 0;
    if (prefix_len) memcpy(data, prefix, prefix_len);
    dl = prefix_len;
    const pm_tok *t = peek(p, 0);
    if ((t->kind == TK_WORD || t->kind == TK_INT) && !is_char(t, ',')) {
        pm_tok h = next(p);
        if (h.len % 2) {
            fail(p, h.line, "hex blob needs an even number of digits");
            return false;
        }
        for (size_t i = 0; i < h.len; i += 2) {
            char b[3] = {h.p[i], h.p[i + 1], 0};
            char *endp;
            long v = strtol(b, &endp, 16);
            if (*endp || dl + 2 >= PM_TCP_OPT_SPACE) {
                fail(p, h.line, "bad hex blob '%.*s'", (int)(h.len > 40 ? 40 : h.len), h.p);
                return false;
            }
            data[dl++] = (uint8_t)v;
        }
    }
    size_t total = 2 + dl;
    if (o->opaque_len + total > PM_TCP_OPT_SPACE) {
        fail(p, line, "TCP option list too long");
        return false;
    }
    if (!opt_push(p, o, kind, total, used, line)) return false;
    uint8_t *d = o->opaque + o->opaque_len;
    d[0] = kind;
    d[1] = (uint8_t)total;
    memcpy(d + 2, data, dl);
    o->opaque_len = (uint8_t)(o->opaque_len + total);
    return true;
}

static bool parse_tcp_options(parser *p, pm_drill_packet *pk)
{
    pm_tok open = next(p); /* '<' */
    pm_tcp_opts *o = &pk->pkt.tcp.opts;
    if (peek(p, 0)->kind == TK_ELLIPSIS) {
        next(p);
        if (pk->dir != '>') {
            fail(p, open.line, "<...> for TCP options can only be used with outbound packets");
            return false;
        }
        pk->ignore |= PM_DRILL_IGN_OPTIONS;
        return expect_char(p, '>');
    }
    size_t used = 0;
    for (;;) {
        const pm_tok *t = peek(p, 0);
        int line = t->line;
        int64_t v, v2;
        if (is_word(t, "nop")) {
            next(p);
            if (!opt_push(p, o, PM_TCPOPT_NOP, 1, &used, line)) return false;
        } else if (is_word(t, "eol")) {
            next(p);
            if (!opt_push(p, o, PM_TCPOPT_EOL, 1, &used, line)) return false;
        } else if (is_word(t, "mss")) {
            next(p);
            if (!expect_int(p, 0, 65535, "mss value", &v)) return false;
            if (!opt_push(p, o, PM_TCPOPT_MSS, 4, &used, line)) return false;
            o->mss = (uint16_t)v;
        } else if (is_word(t, "wscale")) {
            next(p);
            if (!expect_int(p, 0, 255, "window scale shift count", &v)) return false;
            if (!opt_push(p, o, PM_TCPOPT_WSCALE, 3, &used, line)) return false;
            o->wscale = (uint8_t)v;
        } else if (is_word(t, "sackOK")) {
            next(p);
            if (!opt_push(p, o, PM_TCPOPT_SACK_PERM, 2, &used, line)) return false;
        } else if (is_word(t, "sack")) {
            next(p);
            if (pm_tcp_has(o, PM_TCPOPT_SACK)) {
                fail(p, line, "only one sack option per packet");
                return false;
            }
            int nb = 0;
            while (peek(p, 0)->kind == TK_INT) {
                if (nb == PM_TCP_MAX_SACK) {
                    fail(p, line, "more than %d SACK blocks", PM_TCP_MAX_SACK);
                    return false;
                }
                if (!expect_int(p, 0, UINT32_MAX, "SACK left edge", &v)) return false;
                if (!expect_char(p, ':')) return false;
                if (!expect_int(p, 0, UINT32_MAX, "SACK right edge", &v2)) return false;
                o->sack[nb].left = (uint32_t)v;
                o->sack[nb].right = (uint32_t)v2;
                nb++;
            }
            if (nb == 0) {
                fail_tok(p, peek(p, 0), "a SACK block left:right");
                return false;
            }
            o->sack_count = (uint8_t)nb;
            if (!opt_push(p, o, PM_TCPOPT_SACK, 2 + 8 * (size_t)nb, &used, line)) return false;
        } else if (is_word(t, "TS")) {
            next(p);
            if (!is_word(peek(p, 0), "val")) {
                fail_tok(p, peek(p, 0), "'val'");
                return false;
            }
            next(p);
            if (!expect_int(p, 0, UINT32_MAX, "TS val", &v)) return false;
            if (!is_word(peek(p, 0), "ecr")) {
                fail_tok(p, peek(p, 0), "'ecr'");
                return false;
            }
            next(p);
            if (!expect_int(p, 0, UINT32_MAX, "TS ecr", &v2)) return false;
            if (!opt_push(p, o, PM_TCPOPT_TS, 10, &used, line)) return false;
            o->ts_val = (uint32_t)v;
            o->ts_ecr = (uint32_t)v2;
        } else if (is_word(t, "FO")) {
            next(p);
            if (!opt_opaque(p, o, 34, NULL, 0, &used, line)) return false; /* RFC 7413 */
        } else if (is_word(t, "FOEXP")) {
            next(p);
            static const uint8_t magic[2] = {0xf9, 0x89}; /* RFC 6994 ExID */
            if (!opt_opaque(p, o, 254, magic, 2, &used, line)) return false;
        } else if (is_word(t, "md5")) {
            next(p);
            if (!opt_opaque(p, o, 19, NULL, 0, &used, line)) return false; /* RFC 2385 */
        } else {
            fail_tok(p, t, "a TCP option (nop, eol, mss, wscale, sackOK, sack, TS, FO, md5)");
            return false;
        }
        if (is_char(peek(p, 0), ',')) {
            next(p);
            continue;
        }
        return expect_char(p, '>');
    }
}

static void packet_addrs(parser *p, pm_drill_packet *pk, uint8_t proto)
{
    const pm_drill_config *c = &p->s->config;
    pk->pkt.ip.version = c->ip_version == 6 ? 6 : 4;
    pk->pkt.ip.proto = proto;
    if (pk->dir == '<') {
        pk->pkt.ip.src = c->remote_ip;
        pk->pkt.ip.dst = c->local_ip;
    } else {
        pk->pkt.ip.src = c->local_ip;
        pk->pkt.ip.dst = c->remote_ip;
    }
}

static bool parse_addr_prefix(parser *p, pm_drill_packet *pk)
{
    pm_tok v = next(p); /* ipv4 / ipv6 */
    bool v6 = is_word(&v, "ipv6");
    pm_tok a = next(p);
    if (a.kind != (v6 ? TK_IPV6 : TK_IPV4)) {
        fail_tok(p, &a, v6 ? "an IPv6 address" : "an IPv4 address");
        return false;
    }
    if (!expect_char(p, '>')) return false;
    pm_tok b = next(p);
    if (b.kind != a.kind) {
        fail_tok(p, &b, v6 ? "an IPv6 address" : "an IPv4 address");
        return false;
    }
    if (!expect_char(p, ':')) return false;
    char buf[PM_IP_STRLEN];
    pm_ip ia, ib;
    snprintf(buf, sizeof buf, "%.*s", (int)a.len, a.p);
    if (pm_ip_parse(buf, &ia, NULL) != 0) {
        fail(p, a.line, "bad address %s", buf);
        return false;
    }
    snprintf(buf, sizeof buf, "%.*s", (int)b.len, b.p);
    if (pm_ip_parse(buf, &ib, NULL) != 0) {
        fail(p, b.line, "bad address %s", buf);
        return false;
    }
    pk->pkt.ip.version = v6 ? 6 : 4;
    pk->pkt.ip.src = ia;
    pk->pkt.ip.dst = ib;
    pk->ignore &= ~(uint32_t)PM_DRILL_IGN_ADDRS;
    return true;
}

static bool parse_packet(parser *p, pm_drill_event *ev)
{
    pm_drill_packet *pk = &ev->packet;
    pm_tok d = next(p);
    pk->dir = d.c;
    pk->ecn = PM_DRILL_ECN_NONE;
    pk->icmp_mtu = -1;
    pk->ignore = PM_DRILL_IGN_TOS | PM_DRILL_IGN_TTL | PM_DRILL_IGN_FLOWLABEL | PM_DRILL_IGN_PORTS |
                 PM_DRILL_IGN_ADDRS | PM_DRILL_IGN_PAYLOAD;
    packet_addrs(p, pk, PM_IPPROTO_TCP);
    bool explicit_addrs = false;
    if (is_word(peek(p, 0), "ipv4") || is_word(peek(p, 0), "ipv6")) {
        if (!parse_addr_prefix(p, pk)) return false;
        explicit_addrs = true;
    }
    if (is_char(peek(p, 0), '(') || is_char(peek(p, 0), '[')) {
        if (!parse_ip_info(p, pk)) return false;
    }
    const pm_tok *t = peek(p, 0);
    uint8_t v = pk->pkt.ip.version;
    if (is_word(t, "udp")) {
        next(p);
        pk->proto = pk->pkt.ip.proto = PM_IPPROTO_UDP;
        if (!parse_ports(p, pk, &pk->pkt.udp.sport, &pk->pkt.udp.dport)) return false;
        int64_t len;
        if (!expect_char(p, '(')) return false;
        if (!expect_int(p, 0, 65507, "UDP payload size", &len)) return false;
        if (!expect_char(p, ')')) return false;
        pk->pkt.udp.payload_len = (size_t)len;
        return true;
    }
    if (is_word(t, "icmp")) {
        pm_tok it = next(p);
        pk->proto = pk->pkt.ip.proto = v == 6 ? PM_IPPROTO_ICMPV6 : PM_IPPROTO_ICMP;
        pm_icmp_repr *ic = &pk->pkt.icmp;
        ic->version = v;
        pm_tok ty = next(p);
        if (ty.kind != TK_WORD) {
            fail_tok(p, &ty, "an ICMP type (unreachable, echo_request, ...)");
            return false;
        }
        pk->icmp_type_name = tok_str(p, &ty);
        const pm_tok *ct = peek(p, 0);
        if (ct->kind == TK_WORD && !is_word(ct, "mtu") && !is_word(ct, "id")) {
            pm_tok c = next(p);
            pk->icmp_code_name = tok_str(p, &c);
        }
        if (p->failed) return false;
        int type = pm_drill_icmp_type(v, pk->icmp_type_name);
        if (type < 0 || type > 255) {
            fail(p, ty.line, "bad ICMP type %s", pk->icmp_type_name);
            return false;
        }
        int code = pm_drill_icmp_code(v, type, pk->icmp_code_name);
        if (code < 0 || code > 255) {
            fail(p, it.line, "bad ICMP code %s", pk->icmp_code_name);
            return false;
        }
        ic->type = (uint8_t)type;
        ic->code = (uint8_t)code;
        ic->is_error =
            v == 6 ? type < 128 : (type == 3 || type == 4 || type == 5 || type == 11 || type == 12);
        if (is_word(peek(p, 0), "mtu")) {
            next(p);
            int64_t mtu;
            if (!expect_int(p, 0, v == 6 ? UINT32_MAX : 65535, "ICMP MTU", &mtu)) return false;
            pk->icmp_mtu = mtu;
            ic->rest = (uint32_t)mtu;
        }
        if (is_word(peek(p, 0), "id")) {
            next(p);
            int64_t id;
            if (!expect_int(p, 0, 65535, "ICMP echo id", &id)) return false;
            ic->rest = (uint32_t)id << 16;
        }
        pk->icmp_inner_proto = PM_IPPROTO_TCP;
        if (is_char(peek(p, 0), '[')) {
            next(p);
            if (is_word(peek(p, 0), "udp") || is_word(peek(p, 0), "raw")) {
                bool udp = is_word(peek(p, 0), "udp");
                next(p);
                int64_t len;
                if (!expect_char(p, '(')) return false;
                if (!expect_int(p, 0, 65507, "payload size", &len)) return false;
                if (!expect_char(p, ')')) return false;
                pk->icmp_inner_proto = udp ? PM_IPPROTO_UDP : 255;
                pk->icmp_inner_len = (uint32_t)len;
            } else {
                bool wild;
                if (!parse_seq(p, false, &pk->icmp_inner_seq, &pk->icmp_inner_len, &wild))
                    return false;
            }
            if (!expect_char(p, ']')) return false;
        }
        return true;
    }
    /* TCP */
    pk->proto = PM_IPPROTO_TCP;
    pm_tcp_repr *tcp = &pk->pkt.tcp;
    if (!parse_ports(p, pk, &tcp->sport, &tcp->dport)) return false;
    if (!parse_flags(p, pk)) return false;
    uint32_t len;
    bool wild;
    if (!parse_seq(p, pk->dir == '>', &tcp->seq, &len, &wild)) return false;
    tcp->payload_len = len;
    if (wild) pk->ignore |= PM_DRILL_IGN_SEQ;
    int64_t v64;
    if (is_word(peek(p, 0), "ack")) {
        next(p);
        if (!expect_int(p, 0, UINT32_MAX, "TCP ack sequence number", &v64)) return false;
        tcp->ack = (uint32_t)v64;
        pk->ack_given = true;
    }
    if (is_word(peek(p, 0), "win")) {
        next(p);
        if (!expect_int(p, 0, 65535, "TCP window value", &v64)) return false;
        tcp->window = (uint16_t)v64;
    } else {
        pk->ignore |= PM_DRILL_IGN_WIN;
    }
    if (is_word(peek(p, 0), "urg")) {
        next(p);
        if (!expect_int(p, 0, 65535, "urg_ptr value", &v64)) return false;
        tcp->urg = (uint16_t)v64;
    }
    if (is_char(peek(p, 0), '<')) {
        if (!parse_tcp_options(p, pk)) return false;
    }
    (void)explicit_addrs;
    return true;
}

/* ---- Expressions (syscall arguments) -------------------------------------- */

static pm_drill_expr *parse_expr(parser *p);

static pm_drill_expr *new_expr(parser *p, pm_drill_expr_kind k, int line)
{
    pm_drill_expr *e = alloc(p, sizeof *e);
    if (e) {
        e->kind = k;
        e->line = line;
    }
    return e;
}

/* Comma-separated expressions up to the closing char (not consumed). */
static bool parse_expr_list(parser *p, char close, pm_drill_expr ***items, size_t *n)
{
    size_t cap = 0;
    *items = NULL;
    *n = 0;
    if (is_char(peek(p, 0), close)) return true;
    for (;;) {
        pm_drill_expr *e = parse_expr(p);
        if (!e) return false;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            pm_drill_expr **ni = alloc(p, nc * sizeof *ni);
            if (!ni) return false;
            if (*n) memcpy(ni, *items, *n * sizeof *ni);
            *items = ni;
            cap = nc;
        }
        (*items)[(*n)++] = e;
        if (!is_char(peek(p, 0), ',')) return true;
        next(p);
    }
}

static const pm_drill_expr *field(const pm_drill_expr *st, const char *name)
{
    for (size_t i = 0; i < st->n_items; i++) {
        const pm_drill_expr *it = st->items[i];
        if (it->kind == PM_DX_BINARY && !strcmp(it->str, "=") && it->items[0]->kind == PM_DX_WORD &&
            !strcmp(it->items[0]->str, name))
            return it->items[1];
    }
    return NULL;
}

/* An address argument: inet_addr("1.2.3.4"), inet6_addr("::1"), or a
 * string. */
static bool sa_ip(const pm_drill_expr *e, int want_family, pm_ip *out)
{
    const pm_drill_expr *s = e;
    if (e->kind == PM_DX_CALL && e->n_items >= 1) s = e->items[e->n_items == 3 ? 1 : 0];
    if (s->kind != PM_DX_STRING) return false;
    int fam = 0;
    if (pm_ip_parse(s->str, out, &fam) != 0) return false;
    return fam == want_family;
}

static bool sa_port(const pm_drill_expr *e, uint16_t *out)
{
    int64_t v;
    if (pm_drill_expr_int(e, &v) != 0 || v < 0 || v > 65535) return false;
    *out = (uint16_t)v;
    return true;
}

/* Extension: {sa_family=AF_INET, sin_port=htons(80),
 * sin_addr=inet_addr("192.0.2.1")} and the AF_INET6 form (sin6_port,
 * inet_pton(AF_INET6, "::1", &sin6_addr) or sin6_addr=inet6_addr("::1")),
 * as strace prints them. */
static pm_drill_expr *maybe_sockaddr(parser *p, pm_drill_expr *st)
{
    const pm_drill_expr *fam = field(st, "sa_family");
    if (!fam) return st;
    if (fam->kind != PM_DX_WORD || (strcmp(fam->str, "AF_INET") && strcmp(fam->str, "AF_INET6"))) {
        fail(p, st->line, "sa_family must be AF_INET or AF_INET6");
        return NULL;
    }
    bool v6 = !strcmp(fam->str, "AF_INET6");
    pm_drill_expr *e = new_expr(p, PM_DX_SOCKADDR, st->line);
    if (!e) return NULL;
    e->items = st->items;
    e->n_items = st->n_items;
    e->sa.family = v6 ? PM_AF_INET6 : PM_AF_INET;
    const pm_drill_expr *port = field(st, v6 ? "sin6_port" : "sin_port");
    if (!port || !sa_port(port, &e->sa.port)) {
        fail(p, st->line, "%s needs %s=htons(PORT)", fam->str, v6 ? "sin6_port" : "sin_port");
        return NULL;
    }
    const pm_drill_expr *addr = field(st, v6 ? "sin6_addr" : "sin_addr");
    if (!addr && v6)
        for (size_t i = 0; i < st->n_items; i++)
            if (st->items[i]->kind == PM_DX_CALL && !strcmp(st->items[i]->str, "inet_pton"))
                addr = st->items[i];
    if (!addr || !sa_ip(addr, e->sa.family, &e->sa.ip)) {
        fail(p, st->line, "%s needs %s", fam->str,
             v6 ? "inet_pton(AF_INET6, \"ADDR\", &sin6_addr) or sin6_addr=inet6_addr(\"ADDR\")"
                : "sin_addr=inet_addr(\"A.B.C.D\")");
        return NULL;
    }
    return e;
}

static pm_drill_expr *parse_primary(parser *p)
{
    const pm_tok *t = peek(p, 0);
    int line = t->line;
    pm_drill_expr *e;
    switch (t->kind) {
    case TK_ELLIPSIS: next(p); return new_expr(p, PM_DX_ELLIPSIS, line);
    case TK_INT:
    case TK_HEX: {
        pm_tok n = next(p);
        if (n.overflow) {
            fail(p, line, "number out of range: %.*s", (int)(n.len > 40 ? 40 : n.len), n.p);
            return NULL;
        }
        e = new_expr(p, PM_DX_INT, line);
        if (e) {
            e->num = n.i;
            e->hex = n.kind == TK_HEX;
        }
        return e;
    }
    case TK_STRING: {
        /* Adjacent strings concatenate, as in C. */
        pm_tok s = next(p);
        size_t total = s.len;
        const pm_tok *more;
        char *buf = tok_str(p, &s);
        while (buf && (more = peek(p, 0))->kind == TK_STRING) {
            pm_tok m = next(p);
            char *nb = alloc(p, total + m.len + 1);
            if (!nb) return NULL;
            memcpy(nb, buf, total);
            memcpy(nb + total, m.p, m.len);
            total += m.len;
            nb[total] = '\0';
            buf = nb;
        }
        e = new_expr(p, PM_DX_STRING, line);
        if (!e || !buf) return NULL;
        e->str = buf;
        if (peek(p, 0)->kind == TK_ELLIPSIS) {
            next(p);
            e->str_ellipsis = true;
        }
        return e;
    }
    case TK_CHAR:
        if (t->c == '[' || t->c == '{') {
            char close = t->c == '[' ? ']' : '}';
            next(p);
            e = new_expr(p, close == ']' ? PM_DX_LIST : PM_DX_STRUCT, line);
            if (!e || !parse_expr_list(p, close, &e->items, &e->n_items)) return NULL;
            if (!expect_char(p, close)) return NULL;
            return close == '}' ? maybe_sockaddr(p, e) : e;
        }
        if (t->c == '&') { /* &sin6_addr in inet_pton(): a name */
            next(p);
            const pm_tok *w = peek(p, 0);
            if (w->kind != TK_WORD) {
                fail_tok(p, w, "a name after '&'");
                return NULL;
            }
            pm_tok wt = next(p);
            e = new_expr(p, PM_DX_WORD, line);
            if (e) e->str = tok_str(p, &wt);
            return e;
        }
        break;
    case TK_WORD: {
        pm_tok w = next(p);
        char *name = tok_str(p, &w);
        if (!name) return NULL;
        if (is_char(peek(p, 0), '(')) {
            next(p);
            e = new_expr(p, PM_DX_CALL, line);
            if (!e) return NULL;
            e->str = name;
            if (!parse_expr_list(p, ')', &e->items, &e->n_items)) return NULL;
            if (!expect_char(p, ')')) return NULL;
        } else {
            e = new_expr(p, PM_DX_WORD, line);
            if (!e) return NULL;
            e->str = name;
        }
        /* name = value, and msghdr's msg_iov(1) = [...] */
        if (is_char(peek(p, 0), '=')) {
            next(p);
            pm_drill_expr *rhs = parse_expr(p);
            if (!rhs) return NULL;
            pm_drill_expr *b = new_expr(p, PM_DX_BINARY, line);
            if (!b) return NULL;
            b->str = "=";
            b->items = alloc(p, 2 * sizeof *b->items);
            if (!b->items) return NULL;
            b->items[0] = e;
            b->items[1] = rhs;
            b->n_items = 2;
            return b;
        }
        return e;
    }
    default: break;
    }
    fail_tok(p, t, "an expression");
    return NULL;
}

static pm_drill_expr *parse_expr(parser *p)
{
    if (++p->depth > MAX_DEPTH) {
        fail(p, peek(p, 0)->line, "expression nested too deeply");
        return NULL;
    }
    pm_drill_expr *lhs = parse_primary(p);
    while (lhs && is_char(peek(p, 0), '|')) {
        pm_tok op = next(p);
        pm_drill_expr *rhs = parse_primary(p);
        if (!rhs) {
            lhs = NULL;
            break;
        }
        pm_drill_expr *b = new_expr(p, PM_DX_BINARY, op.line);
        if (!b) return NULL;
        b->str = "|";
        b->items = alloc(p, 2 * sizeof *b->items);
        if (!b->items) return NULL;
        b->items[0] = lhs;
        b->items[1] = rhs;
        b->n_items = 2;
        lhs = b;
    }
    p->depth--;
    return lhs;
}

/* ---- Syscalls ------------------------------------------------------------- */

static bool parse_syscall(parser *p, pm_drill_event *ev)
{
    pm_drill_syscall *sc = &ev->syscall;
    sc->end_usecs = -1;
    if (peek(p, 0)->kind == TK_ELLIPSIS) {
        next(p);
        if (!time_value(p, &sc->end_usecs)) return false;
    }
    pm_tok name = next(p);
    if (name.kind != TK_WORD) {
        fail_tok(p, &name, "a system call name");
        return false;
    }
    sc->name = tok_str(p, &name);
    if (!expect_char(p, '(')) return false;
    if (!parse_expr_list(p, ')', &sc->args, &sc->n_args)) return false;
    if (!expect_char(p, ')')) return false;
    if (!expect_char(p, '=')) return false;
    sc->result = parse_expr(p);
    if (!sc->result) return false;
    const pm_tok *t = peek(p, 0);
    /* errno: a WORD E...; a note: (words), possibly spanning tokens. */
    if (t->kind == TK_WORD && t->len > 1 && t->p[0] == 'E' && t->line == p->last_line) {
        pm_tok e = next(p);
        sc->errno_name = tok_str(p, &e);
    }
    t = peek(p, 0);
    if (is_char(t, '(') && t->line == p->last_line) {
        pm_tok open = next(p);
        const char *start = open.p + 1;
        const char *end = start;
        int depth = 1;
        for (;;) {
            pm_tok w = next(p);
            if (w.kind == TK_EOF || w.kind == TK_ERROR) {
                fail(p, open.line, "unterminated ( note )");
                return false;
            }
            if (is_char(&w, '(')) depth++;
            if (is_char(&w, ')') && --depth == 0) {
                end = w.p;
                break;
            }
        }
        while (start < end && (*start == ' ' || *start == '\t')) start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        sc->note = pm_drill_strndup(p->a, start, (size_t)(end - start));
    }
    if (sc->errno_name && !pm_drill_errno_value(sc->errno_name)) {
        fail(p, name.line, "unknown errno %s", sc->errno_name);
        return false;
    }
    return !p->failed;
}

/* ---- Options and config ----------------------------------------------------- */

static bool parse_option(parser *p, pm_drill_option *o)
{
    pm_tok t = next(p);
    o->name = tok_str(p, &t);
    o->line = t.line;
    if (is_char(peek(p, 0), '=')) {
        pm_tok eq = next(p);
        /* The value is the raw run of tokens glued to the '=': it may be
         * ipv4-mapped-ipv6, 192.0.2.1/24, NAME=VALUE, "str". */
        pm_tok v = *peek(p, 0);
        if (v.space_before || v.kind == TK_EOF || v.kind == TK_ERROR) {
            fail(p, eq.line, "--%s= needs a value", o->name ? o->name : "");
            return false;
        }
        const char *start = v.p, *end = v.p + v.len;
        bool quoted = v.kind == TK_STRING || v.kind == TK_BACKTICK;
        next(p);
        if (!quoted) {
            while (!peek(p, 0)->space_before && peek(p, 0)->kind != TK_EOF &&
                   peek(p, 0)->kind != TK_ERROR && peek(p, 0)->kind != TK_STRING &&
                   peek(p, 0)->kind != TK_OPTION) {
                pm_tok n = next(p);
                end = n.p + n.len;
            }
        }
        o->value = pm_drill_strndup(p->a, start, (size_t)(end - start));
    }
    return !p->failed;
}

static bool opt_int(parser *p, const pm_drill_option *o, int64_t lo, int64_t hi, int64_t *out)
{
    char *endp;
    if (!o->value || !*o->value) {
        fail(p, o->line, "--%s needs a number", o->name);
        return false;
    }
    errno = 0;
    long long v = strtoll(o->value, &endp, 0);
    if (*endp || errno || v < lo || v > hi) {
        fail(p, o->line, "--%s: bad value '%s'", o->name, o->value);
        return false;
    }
    *out = v;
    return true;
}

static bool opt_ip(parser *p, const pm_drill_option *o, pm_ip *out)
{
    char buf[PM_IP_STRLEN + 8];
    if (!o->value) {
        fail(p, o->line, "--%s needs an address", o->name);
        return false;
    }
    snprintf(buf, sizeof buf, "%s", o->value);
    char *slash = strchr(buf, '/');
    if (slash) *slash = '\0';
    int fam;
    if (pm_ip_parse(buf, out, &fam) != 0) {
        fail(p, o->line, "--%s: bad address '%s'", o->name, o->value);
        return false;
    }
    return true;
}

static bool finalize_config(parser *p, const pm_drill_parse_opts *opts)
{
    pm_drill_config *c = &p->s->config;
    c->ip_version = 4;
    c->tolerance_usecs = 4000; /* packetdrill's default */
    c->bind_port = 8080;
    c->connect_port = 8080;
    c->remote_port = 49152;
    c->mss = 1460;
    c->personality = opts && opts->personality ? opts->personality : "linux";
    bool have_local = false, have_remote = false;
    for (size_t i = 0; i < p->s->n_options; i++) {
        const pm_drill_option *o = &p->s->options[i];
        int64_t v;
        if (!strcmp(o->name, "ip_version")) {
            const char *val = o->value ? o->value : "";
            if (!strcmp(val, "ipv4"))
                c->ip_version = 4;
            else if (!strcmp(val, "ipv6"))
                c->ip_version = 6;
            else if (!strcmp(val, "ipv4-mapped-ipv6"))
                c->ip_version = 46;
            else {
                fail(p, o->line, "--ip_version must be ipv4, ipv6 or ipv4-mapped-ipv6");
                return false;
            }
        } else if (!strcmp(o->name, "tolerance_usecs")) {
            if (!opt_int(p, o, 0, INT64_MAX / 4, &v)) return false;
            c->tolerance_usecs = v;
        } else if (!strcmp(o->name, "tcp_ts_tick_usecs")) {
            if (!opt_int(p, o, 0, 1000000, &v)) return false;
            c->tcp_ts_tick_usecs = (int)v;
        } else if (!strcmp(o->name, "bind_port") || !strcmp(o->name, "connect_port") ||
                   !strcmp(o->name, "remote_port")) {
            if (!opt_int(p, o, 1, 65535, &v)) return false;
            if (o->name[0] == 'b')
                c->bind_port = (uint16_t)v;
            else if (o->name[0] == 'c')
                c->connect_port = (uint16_t)v;
            else
                c->remote_port = (uint16_t)v;
        } else if (!strcmp(o->name, "mss")) {
            if (!opt_int(p, o, 1, 65535, &v)) return false;
            c->mss = (uint16_t)v;
        } else if (!strcmp(o->name, "local_ip")) {
            if (!opt_ip(p, o, &c->local_ip)) return false;
            have_local = true;
        } else if (!strcmp(o->name, "remote_ip")) {
            if (!opt_ip(p, o, &c->remote_ip)) return false;
            have_remote = true;
        }
        /* Every other option is kept in s->options, without effect here. */
    }
    bool v6 = c->ip_version == 6;
    if (!have_local) pm_ip_parse(v6 ? "fd3d:fa7b:d17d::1" : "192.168.0.1", &c->local_ip, NULL);
    if (!have_remote) pm_ip_parse(v6 ? "2001:db8::1" : "192.0.2.1", &c->remote_ip, NULL);
    if (pm_ip_is_v4(&c->local_ip) == v6 || pm_ip_is_v4(&c->remote_ip) == v6) {
        fail(p, 1, "--local_ip/--remote_ip do not match --ip_version");
        return false;
    }
    return true;
}

/* ---- Events -------------------------------------------------------------- */

static pm_drill_event *new_event(parser *p)
{
    pm_drill_script *s = p->s;
    if (s->n_events == MAX_EVENTS) {
        fail(p, p->last_line, "too many events");
        return NULL;
    }
    if (s->n_events == p->cap_events) {
        size_t nc = p->cap_events ? p->cap_events * 2 : 32;
        pm_drill_event *ne = alloc(p, nc * sizeof *ne);
        if (!ne) return NULL;
        if (s->n_events) memcpy(ne, s->events, s->n_events * sizeof *ne);
        s->events = ne;
        p->cap_events = nc;
    }
    pm_drill_event *ev = &s->events[s->n_events++];
    memset(ev, 0, sizeof *ev);
    return ev;
}

static bool parse_action(parser *p, pm_drill_event *ev)
{
    const pm_tok *t = peek(p, 0);
    if (is_char(t, '<') || is_char(t, '>')) {
        ev->kind = PM_DRILL_EV_PACKET;
        return parse_packet(p, ev);
    }
    if (t->kind == TK_BACKTICK || t->kind == TK_CODE) {
        pm_tok c = next(p);
        ev->kind = c.kind == TK_BACKTICK ? PM_DRILL_EV_COMMAND : PM_DRILL_EV_CODE;
        /* As packetdrill does for code: strip blanks at both ends. */
        while (c.len && (c.p[0] == ' ' || c.p[0] == '\t')) {
            c.p++;
            c.len--;
        }
        while (c.len && (c.p[c.len - 1] == ' ' || c.p[c.len - 1] == '\t')) c.len--;
        ev->text = tok_str(p, &c);
        return !p->failed;
    }
    if (is_word(t, "uid") && peek(p, 1)->kind == TK_INT) {
        next(p);
        int64_t uid;
        if (!expect_int(p, 0, UINT32_MAX, "uid", &uid)) return false;
        ev->kind = PM_DRILL_EV_UID;
        ev->uid = (uint32_t)uid;
        return true;
    }
    if ((t->kind == TK_WORD && is_char(peek(p, 1), '(')) || t->kind == TK_ELLIPSIS) {
        ev->kind = PM_DRILL_EV_SYSCALL;
        return parse_syscall(p, ev);
    }
    fail_tok(p, t, "a packet (< or >), a system call, a `command` or %{code}%");
    return false;
}

static bool time_ok_for(parser *p, const pm_drill_event *ev)
{
    pm_drill_time_kind k = ev->time.kind;
    bool outbound = ev->kind == PM_DRILL_EV_PACKET && ev->packet.dir == '>';
    if (k == PM_DRILL_TIME_ANY && !outbound) {
        fail(p, ev->line, "event time <star> can only be used with outbound packets");
        return false;
    }
    if ((k == PM_DRILL_TIME_ABS_RANGE || k == PM_DRILL_TIME_REL_RANGE) && !outbound) {
        fail(p, ev->line, "event time range can only be used with outbound packets");
        return false;
    }
    return true;
}

static bool parse_events(parser *p)
{
    bool first = true;
    for (;;) {
        const pm_tok *t = peek(p, 0);
        if (t->kind == TK_EOF) return true;
        if (t->kind == TK_ERROR) {
            fail(p, t->line, "%s", t->msg);
            return false;
        }
        if (t->kind == TK_OPTION) {
            fail(p, t->line, "options (--%.*s) must come before the first event",
                 (int)(t->len > 40 ? 40 : t->len), t->p);
            return false;
        }
        pm_drill_event *ev = new_event(p);
        if (!ev) return false;
        ev->line = t->line;
        if (t->kind == TK_BACKTICK) {
            /* An init command (first) or cleanup command (last): no time. */
            pm_tok c = next(p);
            if (!first && peek(p, 0)->kind != TK_EOF) {
                fail(p, c.line, "a `command` needs a time unless it is the first or last event");
                return false;
            }
            ev->kind = PM_DRILL_EV_COMMAND;
            ev->time.kind = PM_DRILL_TIME_NONE;
            ev->text = tok_str(p, &c);
            first = false;
            continue;
        }
        if (!parse_time(p, &ev->time)) return false;
        if (!parse_action(p, ev)) return false;
        if (!time_ok_for(p, ev)) return false;
        first = false;
    }
}

int pm_drill_parse(const char *text, size_t len, const char *path, const pm_drill_parse_opts *opts,
                   pm_drill_script **out, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    err[0] = '\0';
    *out = NULL;
    if (!text && len) {
        snprintf(err, errcap, "0: no text");
        return -EINVAL;
    }
    pm_drill_arena *a = pm_drill_arena_new();
    if (!a) {
        snprintf(err, errcap, "0: out of memory");
        return -ENOMEM;
    }
    pm_drill_script *s = pm_drill_alloc(a, sizeof *s);
    const char *const *defs = opts ? opts->defines : NULL;
    size_t n_defs = opts ? opts->n_defines : 0;
    if (n_defs > PM_DRILL_MAX_DEFINES) n_defs = PM_DRILL_MAX_DEFINES;
    char *pre = s ? pm_drill_preprocess(a, text ? text : "", len, defs, n_defs, err, errcap) : NULL;
    if (!s || !pre) {
        if (!s) snprintf(err, errcap, "0: out of memory");
        pm_drill_arena_free(a);
        return -EINVAL;
    }
    s->arena = a;
    s->path = path ? pm_drill_strndup(a, path, strlen(path)) : "-";
    parser p;
    memset(&p, 0, sizeof p);
    pm_lex_init(&p.lx, pre, len);
    p.a = a;
    p.s = s;
    p.err = err;
    p.errcap = errcap;
    p.last_line = 1;
    /* Options: --name[=value] at the top. */
    size_t cap_opts = 0;
    while (!p.failed && peek(&p, 0)->kind == TK_OPTION) {
        if (s->n_options == cap_opts) {
            size_t nc = cap_opts ? cap_opts * 2 : 8;
            pm_drill_option *no = alloc(&p, nc * sizeof *no);
            if (!no) break;
            if (s->n_options) memcpy(no, s->options, s->n_options * sizeof *no);
            s->options = no;
            cap_opts = nc;
        }
        parse_option(&p, &s->options[s->n_options++]);
    }
    if (!p.failed) finalize_config(&p, opts);
    if (!p.failed) parse_events(&p);
    if (p.failed) {
        pm_drill_arena_free(a);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

void pm_drill_script_free(pm_drill_script *s)
{
    if (s) pm_drill_arena_free(s->arena);
}
