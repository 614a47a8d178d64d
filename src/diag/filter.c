/* ss's filter language: lexer, parser (misc/ssfilter.y's grammar), the
 * evaluator (the kernel's inet_diag_bc_run() semantics) and a printer. */
#include "portmux/ssfilter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKENS 1024
#define TOKEN_LEN  128

typedef struct parser {
    pm_ssf *f;
    char tok[MAX_TOKENS][TOKEN_LEN];
    int ntok, pos;
    pm_ssf_port_fn port_fn;
    void *ctx;
    char *err;
    size_t errlen;
} parser;

static int fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser *p, const char *fmt, ...)
{
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static bool is_opchar(char c)
{
    return c == '!' || c == '=' || c == '<' || c == '>' || c == '&' || c == '|';
}

/* Splits one argument into tokens: blanks separate; parentheses and the
 * operator characters form tokens of their own ("sport>=:80" works, as do
 * ss's blank-separated forms). */
static int lex(parser *p, const char *s)
{
    while (*s) {
        if (*s == ' ' || *s == '\t' || *s == '\n') {
            s++;
            continue;
        }
        size_t n;
        if (*s == '(' || *s == ')') {
            n = 1;
        } else if (is_opchar(*s)) {
            static const char *const two[] = {"!=", "<=", ">=", "==", "&&", "||"};
            n = 1;
            for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
                if (s[0] == two[i][0] && s[1] == two[i][1]) n = 2;
        } else {
            n = 0;
            while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n' && s[n] != '(' &&
                   s[n] != ')' && !is_opchar(s[n]))
                n++;
        }
        if (p->ntok >= MAX_TOKENS) return fail(p, "filter too long (over %d tokens)", MAX_TOKENS);
        if (n >= TOKEN_LEN) return fail(p, "token too long: \"%.20s...\"", s);
        memcpy(p->tok[p->ntok], s, n);
        p->tok[p->ntok][n] = '\0';
        p->ntok++;
        s += n;
    }
    return 0;
}

static const char *peek(const parser *p)
{
    return p->pos < p->ntok ? p->tok[p->pos] : NULL;
}

static bool is(const char *t, const char *a)
{
    return t && !strcmp(t, a);
}

static int new_node(parser *p, const pm_ssf_node *n)
{
    if (p->f->n >= PM_SSF_MAX_NODES)
        return fail(p, "filter too complex (over %d terms)", PM_SSF_MAX_NODES);
    p->f->nodes[p->f->n] = *n;
    return p->f->n++;
}

static int new_op(parser *p, int kind, int a, int b)
{
    /* not not X is X: keeps the tree (and its printed form) no deeper than
     * the text, so a filter that parsed prints back to one that parses. */
    if (kind == PM_SSF_NOT && p->f->nodes[a].kind == PM_SSF_NOT) return p->f->nodes[a].a;
    pm_ssf_node n = {.kind = (uint8_t)kind, .port = -1, .a = (int16_t)a, .b = (int16_t)b};
    return new_node(p, &n);
}

/* A port: "22", ":22", "*", ":*", "http" (through port_fn). *port = -1 for any. */
static int parse_port(parser *p, const char *s, int32_t *port)
{
    if (*s == ':') s++;
    if (!*s || !strcmp(s, "*")) {
        *port = -1;
        return 0;
    }
    if (*s >= '0' && *s <= '9') {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end || v < 0 || v > 65535) return fail(p, "\"%s\" is not a port (0-65535)", s);
        *port = (int32_t)v;
        return 0;
    }
    int v = p->port_fn ? p->port_fn(p->ctx, s) : -1;
    if (v < 0 || v > 65535) return fail(p, "\"%s\" does not look like a port", s);
    *port = v;
    return 0;
}

static int parse_prefix(parser *p, const char *s, pm_ssf_node *n)
{
    pm_prefix pf;
    if (pm_prefix_parse(s, &pf) < 0)
        return fail(p, "an address or prefix is expected rather than \"%s\"", s);
    n->family = pf.family;
    n->addr = pf.ip;
    n->plen = (uint8_t)(pf.family == PM_AF_INET ? pf.plen - 96 : pf.plen);
    return 0;
}

/* HOST: ADDR[/PLEN][:PORT], [V6[/PLEN]][:PORT], *[:PORT], :PORT. */
static int parse_host(parser *p, const char *s, pm_ssf_node *n)
{
    char buf[TOKEN_LEN];
    snprintf(buf, sizeof buf, "%s", s);
    n->family = 0;
    n->plen = 0;
    n->port = -1;
    memset(&n->addr, 0, sizeof n->addr);
    char *addr = buf, *port = NULL;
    if (*addr == '[') {
        char *close = strchr(addr, ']');
        if (!close) return fail(p, "missing ']' in \"%s\"", s);
        *close = '\0';
        addr++;
        port = close + 1;
        if (*port && *port != ':') return fail(p, "junk after ']' in \"%s\"", s);
    } else if (*addr == '*') {
        port = addr + 1;
        if (*port && *port != ':') return fail(p, "junk after '*' in \"%s\"", s);
        addr = NULL;
    } else {
        char *slash = strchr(addr, '/');
        port = strrchr(slash ? slash : addr, ':');
        if (port) {
            /* ss splits at the last colon; an unbracketed IPv6 address whose
             * left part is no address is taken whole. */
            pm_prefix tmp;
            *port = '\0';
            bool left_ok = !*addr || pm_prefix_parse(addr, &tmp) == 0;
            *port = ':';
            if (!left_ok && pm_prefix_parse(addr, &tmp) == 0) {
                port = NULL;
            } else {
                *port++ = '\0';
            }
        }
    }
    if (port && *port == ':') port++;
    if (port && *port) {
        int r = parse_port(p, port, &n->port);
        if (r < 0) return r;
    }
    if (addr && *addr) return parse_prefix(p, addr, n);
    return 0;
}

static int parse_exprlist(parser *p, int depth);

static bool starts_expr(const char *t)
{
    return is(t, "(") || is(t, "!") || is(t, "not") || is(t, "src") || is(t, "dst") ||
           is(t, "sport") || is(t, "dport");
}

enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_NONE };

static int op_of(const char *t)
{
    if (!t) return OP_NONE;
    if (is(t, "=") || is(t, "==") || is(t, "eq")) return OP_EQ;
    if (is(t, "!=") || is(t, "ne") || is(t, "neq")) return OP_NE;
    if (is(t, "<") || is(t, "lt")) return OP_LT;
    if (is(t, "<=") || is(t, "le") || is(t, "leq")) return OP_LE;
    if (is(t, ">") || is(t, "gt")) return OP_GT;
    if (is(t, ">=") || is(t, "ge") || is(t, "geq")) return OP_GE;
    return OP_NONE;
}

static int parse_expr(parser *p, int depth)
{
    const char *t = peek(p);
    if (!t) return fail(p, "unexpected end of filter: a condition is expected");
    if (depth > PM_SSF_MAX_DEPTH) return fail(p, "filter nested too deeply");
    p->pos++;
    if (is(t, "(")) {
        int e = parse_exprlist(p, depth + 1);
        if (e < 0) return e;
        if (!is(peek(p), ")"))
            return peek(p) ? fail(p, "')' expected before \"%s\"", peek(p))
                           : fail(p, "missing ')' at end of filter");
        p->pos++;
        return e;
    }
    if (is(t, "!") || is(t, "not")) {
        int e = parse_expr(p, depth + 1);
        if (e < 0) return e;
        return new_op(p, PM_SSF_NOT, e, -1);
    }
    bool src = is(t, "src"), dst = is(t, "dst");
    bool sport = is(t, "sport"), dport = is(t, "dport");
    if (!src && !dst && !sport && !dport) {
        if (is(t, ")")) return fail(p, "unexpected ')'");
        if (is(t, "state") || is(t, "exclude") || is(t, "excl"))
            return fail(p, "\"%s\" must come before the expression", t);
        if (op_of(t) != OP_NONE || is(t, "and") || is(t, "or") || is(t, "&") || is(t, "|") ||
            is(t, "&&") || is(t, "||"))
            return fail(p, "unexpected \"%s\": a condition is expected", t);
        return fail(p, "unknown term \"%s\" (expected src, dst, sport, dport, not, '(')", t);
    }
    int op = op_of(peek(p));
    if (op != OP_NONE) p->pos++;
    const char *arg = peek(p);
    if (!arg || is(arg, ")") || is(arg, "(") || op_of(arg) != OP_NONE)
        return fail(p, "\"%s\" needs %s", t, (src || dst) ? "an address" : "a port");
    p->pos++;
    pm_ssf_node n = {.port = -1, .a = -1, .b = -1};
    int r;
    if (src || dst) {
        if (op != OP_NONE && op != OP_EQ && op != OP_NE)
            return fail(p, "\"%s\" takes = or != only", t);
        r = parse_host(p, arg, &n);
        if (r < 0) return r;
        n.kind = src ? PM_SSF_SCOND : PM_SSF_DCOND;
        int c = new_node(p, &n);
        if (c < 0 || op != OP_NE) return c;
        return new_op(p, PM_SSF_NOT, c, -1);
    }
    r = parse_port(p, arg, &n.port);
    if (r < 0) return r;
    if (n.port < 0 && op != OP_EQ && op != OP_NONE && op != OP_NE)
        return fail(p, "\"%s\" comparison needs a port number, not \"%s\"", t, arg);
    int ge = sport ? PM_SSF_S_GE : PM_SSF_D_GE, le = sport ? PM_SSF_S_LE : PM_SSF_D_LE;
    int c;
    switch (op) {
    case OP_GE: n.kind = (uint8_t)ge; return new_node(p, &n);
    case OP_LE: n.kind = (uint8_t)le; return new_node(p, &n);
    case OP_GT: /* ss: > is not <= */
        n.kind = (uint8_t)le;
        c = new_node(p, &n);
        return c < 0 ? c : new_op(p, PM_SSF_NOT, c, -1);
    case OP_LT:
        n.kind = (uint8_t)ge;
        c = new_node(p, &n);
        return c < 0 ? c : new_op(p, PM_SSF_NOT, c, -1);
    case OP_NE:
        n.kind = sport ? PM_SSF_SCOND : PM_SSF_DCOND;
        c = new_node(p, &n);
        return c < 0 ? c : new_op(p, PM_SSF_NOT, c, -1);
    default: n.kind = sport ? PM_SSF_SCOND : PM_SSF_DCOND; return new_node(p, &n);
    }
}

/* ss's exprlist: terms joined left to right by and/or (equal precedence). */
static int parse_exprlist(parser *p, int depth)
{
    int left = parse_expr(p, depth);
    while (left >= 0) {
        const char *t = peek(p);
        int kind;
        if (is(t, "|") || is(t, "||") || is(t, "or")) {
            kind = PM_SSF_OR;
            p->pos++;
        } else if (is(t, "&") || is(t, "&&") || is(t, "and")) {
            kind = PM_SSF_AND;
            p->pos++;
        } else if (starts_expr(t)) {
            kind = PM_SSF_AND;
        } else {
            break;
        }
        int right = parse_expr(p, depth);
        if (right < 0) return right;
        left = new_op(p, kind, left, right);
    }
    return left;
}

static int parse_tokens(parser *p)
{
    pm_ssf *f = p->f;
    bool saw = false;
    while (is(peek(p), "state") || is(peek(p), "exclude") || is(peek(p), "excl")) {
        bool excl = !is(peek(p), "state");
        p->pos++;
        const char *name = peek(p);
        if (!name) return fail(p, "\"%s\" needs a state name", excl ? "exclude" : "state");
        unsigned m = pm_diag_state_parse(name);
        if (!m) return fail(p, "wrong state name: \"%s\"", name);
        p->pos++;
        if (!saw) f->states = excl ? PM_SS_ALL : 0;
        saw = true;
        if (excl)
            f->states &= ~m;
        else
            f->states |= m;
    }
    /* "exclude all" leaves nothing: keep a non-zero mask meaning "none". */
    if (saw && !f->states) f->states = 1u << 31;
    if (p->pos == p->ntok) return 0;
    int root = parse_exprlist(p, 0);
    if (root < 0) return root;
    if (p->pos != p->ntok) {
        if (is(peek(p), ")")) return fail(p, "unbalanced ')'");
        if (is(peek(p), "state") || is(peek(p), "exclude") || is(peek(p), "excl"))
            return fail(p, "\"%s\" must come before the expression", peek(p));
        return fail(p, "unexpected \"%s\"", peek(p));
    }
    f->root = root;
    return 0;
}

static int parse_begin(parser **pp, pm_ssf *f, pm_ssf_port_fn port_fn, void *ctx, char *err,
                       size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->root = -1;
    if (err && errlen) err[0] = '\0';
    parser *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->f = f;
    p->port_fn = port_fn;
    p->ctx = ctx;
    p->err = err;
    p->errlen = errlen;
    *pp = p;
    return 0;
}

static int parse_end(parser *p, int r)
{
    if (r == 0) r = parse_tokens(p);
    if (r < 0) {
        pm_ssf *f = p->f;
        memset(f, 0, sizeof *f);
        f->root = -1;
    }
    free(p);
    return r;
}

int pm_ssf_parse(pm_ssf *f, int argc, char *const *argv, pm_ssf_port_fn port_fn, void *ctx,
                 char *err, size_t errlen)
{
    parser *p;
    int r = parse_begin(&p, f, port_fn, ctx, err, errlen);
    if (r < 0) return r;
    for (int i = 0; i < argc && r == 0; i++) r = lex(p, argv[i]);
    return parse_end(p, r);
}

int pm_ssf_parse_str(pm_ssf *f, const char *text, pm_ssf_port_fn port_fn, void *ctx, char *err,
                     size_t errlen)
{
    parser *p;
    int r = parse_begin(&p, f, port_fn, ctx, err, errlen);
    if (r < 0) return r;
    return parse_end(p, lex(p, text));
}

/* The first plen bits of a and b agree (the kernel's bitstring_match()). */
static bool bits_match(const uint8_t *a, const uint8_t *b, unsigned plen)
{
    unsigned bytes = plen / 8, rem = plen % 8;
    if (memcmp(a, b, bytes)) return false;
    if (!rem) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* Linux: inet_diag_bc_run(), INET_DIAG_BC_S_COND / D_COND. */
static bool cond_match(const pm_ssf_node *n, const pm_diag_sock *s, bool local)
{
    const pm_ip *ip = local ? &s->laddr : &s->raddr;
    int port = local ? s->lport : s->rport;
    if (n->port != -1 && n->port != port) return false;
    if (n->family == 0) return true;
    if (n->family == PM_AF_INET) {
        /* An IPv4 prefix matches IPv4 sockets and the v4-mapped addresses
         * of IPv6 sockets; pm_ip holds both the same way. */
        if (!pm_ip_is_v4(ip)) return false;
        return bits_match(ip->b + 12, n->addr.b + 12, n->plen);
    }
    if (s->family != PM_AF_INET6) return false;
    return bits_match(ip->b, n->addr.b, n->plen);
}

static bool eval(const pm_ssf *f, int i, const pm_diag_sock *s)
{
    const pm_ssf_node *n = &f->nodes[i];
    switch (n->kind) {
    case PM_SSF_AND: return eval(f, n->a, s) && eval(f, n->b, s);
    case PM_SSF_OR: return eval(f, n->a, s) || eval(f, n->b, s);
    case PM_SSF_NOT: return !eval(f, n->a, s);
    case PM_SSF_SCOND: return cond_match(n, s, true);
    case PM_SSF_DCOND: return cond_match(n, s, false);
    case PM_SSF_S_GE: return s->lport >= n->port;
    case PM_SSF_S_LE: return s->lport <= n->port;
    case PM_SSF_D_GE: return s->rport >= n->port;
    case PM_SSF_D_LE: return s->rport <= n->port;
    }
    return false;
}

bool pm_ssf_match(const pm_ssf *f, const pm_diag_sock *s)
{
    return !f || f->root < 0 || eval(f, f->root, s);
}

typedef struct out {
    char *buf;
    size_t cap, len;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

static void put_host(out *o, const pm_ssf_node *n)
{
    char ip[PM_IP_STRLEN];
    if (n->family == PM_AF_INET)
        put(o, "%s/%u", pm_ip_format(&n->addr, ip), n->plen);
    else if (n->family == PM_AF_INET6) {
        /* pm_ip_format would print a v4-mapped IPv6 prefix as IPv4. */
        char b[PM_IP_STRLEN];
        pm_ip tmp = n->addr;
        if (pm_ip_is_v4(&tmp))
            snprintf(b, sizeof b, "::ffff:%s", pm_ip_format(&tmp, ip));
        else
            pm_ip_format(&tmp, b);
        put(o, "[%s/%u]", b, n->plen);
    } else
        put(o, "*");
    if (n->port >= 0) put(o, ":%d", n->port);
}

static void format_node(const pm_ssf *f, int i, out *o)
{
    const pm_ssf_node *n = &f->nodes[i];
    switch (n->kind) {
    case PM_SSF_AND:
    case PM_SSF_OR:
        put(o, "( ");
        format_node(f, n->a, o);
        put(o, n->kind == PM_SSF_AND ? " and " : " or ");
        format_node(f, n->b, o);
        put(o, " )");
        break;
    case PM_SSF_NOT:
        put(o, "not ");
        format_node(f, n->a, o);
        break;
    case PM_SSF_SCOND:
    case PM_SSF_DCOND:
        put(o, n->kind == PM_SSF_SCOND ? "src " : "dst ");
        put_host(o, n);
        break;
    case PM_SSF_S_GE: put(o, "sport >= :%d", n->port); break;
    case PM_SSF_S_LE: put(o, "sport <= :%d", n->port); break;
    case PM_SSF_D_GE: put(o, "dport >= :%d", n->port); break;
    case PM_SSF_D_LE: put(o, "dport <= :%d", n->port); break;
    }
}

size_t pm_ssf_format(const pm_ssf *f, char *buf, size_t cap)
{
    out o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    const char *sep = "";
    if (f->states) {
        for (unsigned st = 0; st < PM_SS_MAX; st++) {
            if (!(f->states & PM_SS_BIT(st))) continue;
            static const char *const names[PM_SS_MAX] = {
                "unknown",   "established", "syn-sent",   "syn-recv", "fin-wait-1", "fin-wait-2",
                "time-wait", "unconnected", "close-wait", "last-ack", "listening",  "closing"};
            put(&o, "%sstate %s", sep, names[st]);
            sep = " ";
        }
        if (!(f->states & PM_SS_ALL)) {
            put(&o, "%sexclude all", sep);
            sep = " ";
        }
    }
    if (f->root >= 0) {
        put(&o, "%s", sep);
        format_node(f, f->root, &o);
    }
    return o.len;
}
