/* The packetdrill lexer, hand-written: the token classes of upstream's
 * lexer.l (numbers, words, strings, `commands`, %{code}%, --options,
 * addresses, "..."), plus the nplab/FreeBSD #ifdef preprocessor. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drill/drill_int.h"
#include "portmux/addr.h"

/* ---- #ifdef NAME / #ifndef NAME / #else / #endif ----------------------- */

#define MAX_NEST 32

static bool defined(const char *name, size_t n, const char *const *defs, size_t n_defs)
{
    for (size_t i = 0; i < n_defs; i++) {
        /* -D NAME or -D NAME=VALUE both define NAME */
        size_t dl = defs[i] ? strcspn(defs[i], "=") : 0;
        if (defs[i] && dl == n && !memcmp(defs[i], name, n)) return true;
    }
    return false;
}

char *pm_drill_preprocess(pm_drill_arena *a, const char *text, size_t len, const char *const *defs,
                          size_t n_defs, char *err, size_t errcap)
{
    char *out = pm_drill_alloc(a, len + 1);
    if (!out) {
        snprintf(err, errcap, "0: out of memory");
        return NULL;
    }
    memcpy(out, text, len);
    out[len] = '\0';
    /* Per nesting level: is this level active, and has #else been seen. */
    bool active[MAX_NEST + 1], seen_else[MAX_NEST + 1];
    int open_line[MAX_NEST + 1];
    int depth = 0;
    active[0] = true;
    int line = 1;
    size_t i = 0;
    while (i < len) {
        size_t start = i, end = i;
        while (end < len && out[end] != '\n') end++;
        size_t p = start;
        while (p < end && (out[p] == ' ' || out[p] == '\t' || out[p] == '\r')) p++;
        bool directive = p < end && out[p] == '#';
        if (directive) {
            p++;
            size_t w = p;
            while (w < end && isalpha((unsigned char)out[w])) w++;
            size_t wl = w - p;
            const char *word = out + p;
            while (w < end && (out[w] == ' ' || out[w] == '\t')) w++;
            size_t nm = w;
            while (nm < end && (isalnum((unsigned char)out[nm]) || out[nm] == '_')) nm++;
            size_t rest = nm;
            while (rest < end && (out[rest] == ' ' || out[rest] == '\t' || out[rest] == '\r'))
                rest++;
            bool has_name = nm > w;
            bool trailing = rest < end && !(rest + 1 < end && out[rest] == '/' &&
                                            (out[rest + 1] == '/' || out[rest + 1] == '*'));
            if ((wl == 5 && !memcmp(word, "ifdef", 5)) || (wl == 6 && !memcmp(word, "ifndef", 6))) {
                if (!has_name || trailing) {
                    snprintf(err, errcap, "%d: #%.*s needs exactly one NAME", line, (int)wl, word);
                    return NULL;
                }
                if (depth == MAX_NEST) {
                    snprintf(err, errcap, "%d: #ifdef nested too deeply", line);
                    return NULL;
                }
                bool d = defined(out + w, nm - w, defs, n_defs);
                if (wl == 6) d = !d;
                depth++;
                active[depth] = active[depth - 1] && d;
                seen_else[depth] = false;
                open_line[depth] = line;
            } else if (wl == 4 && !memcmp(word, "else", 4)) {
                if (depth == 0 || seen_else[depth]) {
                    snprintf(err, errcap, "%d: #else without #ifdef", line);
                    return NULL;
                }
                seen_else[depth] = true;
                /* The branch taken is the one the #ifdef did not take. */
                bool was = active[depth];
                active[depth] = active[depth - 1] && !was;
            } else if (wl == 5 && !memcmp(word, "endif", 5)) {
                if (depth == 0) {
                    snprintf(err, errcap, "%d: #endif without #ifdef", line);
                    return NULL;
                }
                depth--;
            } else {
                snprintf(err, errcap, "%d: unknown directive '#%.*s'", line, (int)wl, word);
                return NULL;
            }
        }
        if (directive || !active[depth])
            for (size_t k = start; k < end; k++) out[k] = ' ';
        i = end < len ? end + 1 : end;
        line++;
    }
    if (depth > 0) {
        snprintf(err, errcap, "%d: #ifdef without #endif", open_line[depth]);
        return NULL;
    }
    return out;
}

/* ---- Tokens ------------------------------------------------------------- */

void pm_lex_init(pm_lexer *lx, const char *text, size_t len)
{
    lx->text = text;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
}

static char at(const pm_lexer *lx, size_t i)
{
    return i < lx->len ? lx->text[i] : '\0';
}

static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static bool is_hexc(char c)
{
    return isxdigit((unsigned char)c);
}

static pm_tok error_tok(pm_tok t, const char *msg)
{
    t.kind = TK_ERROR;
    t.msg = msg;
    return t;
}

/* Skips a delimited run (string, backtick, code), counting lines. Returns
 * false when it never closes. */
static bool skip_quoted(pm_lexer *lx, char q)
{
    size_t i = lx->pos + 1;
    while (i < lx->len) {
        char c = lx->text[i];
        if (c == '\\' && i + 1 < lx->len) {
            if (lx->text[i + 1] == '\n') lx->line++;
            i += 2;
            continue;
        }
        if (c == '\n') lx->line++;
        if (c == q) {
            lx->pos = i + 1;
            return true;
        }
        i++;
    }
    lx->pos = lx->len;
    return false;
}

static bool try_ipv6(pm_lexer *lx, pm_tok *t)
{
    size_t i = lx->pos, colons = 0;
    bool dbl = false;
    while (i < lx->len && (is_hexc(lx->text[i]) || lx->text[i] == ':' || lx->text[i] == '.')) {
        if (lx->text[i] == ':') {
            colons++;
            if (at(lx, i + 1) == ':') dbl = true;
        }
        i++;
    }
    size_t n = i - lx->pos;
    if (n < 2 || n >= PM_IP_STRLEN || (!dbl && colons != 7) || is_word(at(lx, i))) return false;
    char buf[PM_IP_STRLEN];
    memcpy(buf, lx->text + lx->pos, n);
    buf[n] = '\0';
    pm_ip ip;
    int fam = 0;
    if (pm_ip_parse(buf, &ip, &fam) != 0 || fam != PM_AF_INET6) return false;
    t->kind = TK_IPV6;
    t->len = n;
    lx->pos = i;
    return true;
}

static bool try_ipv4(pm_lexer *lx, pm_tok *t)
{
    size_t i = lx->pos;
    for (int part = 0; part < 4; part++) {
        size_t s = i;
        while (i < lx->len && isdigit((unsigned char)lx->text[i])) i++;
        if (i == s) return false;
        if (part < 3) {
            if (at(lx, i) != '.') return false;
            i++;
        }
    }
    if (is_word(at(lx, i))) return false;
    t->kind = TK_IPV4;
    t->len = i - lx->pos;
    lx->pos = i;
    return true;
}

static bool add_digit(int64_t *v, int base, int d)
{
    if (*v > (INT64_MAX - d) / base) return false;
    *v = *v * base + d;
    return true;
}

pm_tok pm_lex_next(pm_lexer *lx)
{
    pm_tok t;
    memset(&t, 0, sizeof t);
    /* Whitespace and comments. */
    for (;;) {
        char c = at(lx, lx->pos);
        if (lx->pos >= lx->len) break;
        if (c == '\n') {
            lx->line++;
            lx->pos++;
            t.space_before = true;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            lx->pos++;
            t.space_before = true;
        } else if (c == '/' && at(lx, lx->pos + 1) == '/') {
            while (lx->pos < lx->len && lx->text[lx->pos] != '\n') lx->pos++;
            t.space_before = true;
        } else if (c == '/' && at(lx, lx->pos + 1) == '*') {
            int start_line = lx->line;
            size_t i = lx->pos + 2;
            while (i < lx->len && !(lx->text[i] == '*' && at(lx, i + 1) == '/')) {
                if (lx->text[i] == '\n') lx->line++;
                i++;
            }
            if (i >= lx->len) {
                t.line = start_line;
                t.p = lx->text + lx->pos;
                lx->pos = lx->len;
                return error_tok(t, "unterminated /* comment");
            }
            lx->pos = i + 2;
            t.space_before = true;
        } else {
            break;
        }
    }
    t.line = lx->line;
    t.p = lx->text + lx->pos;
    if (lx->pos >= lx->len) {
        t.kind = TK_EOF;
        return t;
    }
    size_t start = lx->pos;
    char c = lx->text[start];
    char c1 = at(lx, start + 1), c2 = at(lx, start + 2);

    if (c == '"' || c == '`') {
        int l0 = lx->line;
        if (!skip_quoted(lx, c)) {
            t.line = l0;
            return error_tok(t, c == '"' ? "unterminated string" : "unterminated `command`");
        }
        t.kind = c == '"' ? TK_STRING : TK_BACKTICK;
        t.p = lx->text + start + 1;
        t.len = lx->pos - start - 2;
        return t;
    }
    if (c == '%' && c1 == '{') {
        size_t i = start + 2;
        int l0 = lx->line;
        while (i < lx->len && !(lx->text[i] == '}' && at(lx, i + 1) == '%')) {
            if (lx->text[i] == '\n') lx->line++;
            i++;
        }
        if (i >= lx->len) {
            lx->pos = lx->len;
            t.line = l0;
            return error_tok(t, "unterminated %{ code }%");
        }
        t.kind = TK_CODE;
        t.p = lx->text + start + 2;
        t.len = i - start - 2;
        lx->pos = i + 2;
        return t;
    }
    if (c == '-' && c1 == '-' && is_word(c2)) {
        size_t i = start + 2;
        while (i < lx->len && is_word(lx->text[i])) i++;
        t.kind = TK_OPTION;
        t.p = lx->text + start + 2;
        t.len = i - start - 2;
        lx->pos = i;
        return t;
    }
    if (c == '.' && c1 == '.' && c2 == '.') {
        t.kind = TK_ELLIPSIS;
        t.len = 3;
        lx->pos += 3;
        return t;
    }
    if ((is_hexc(c) || c == ':') && try_ipv6(lx, &t)) return t;
    if (isdigit((unsigned char)c) && try_ipv4(lx, &t)) return t;
    /* Numbers: [-]?[0-9]*[.][0-9]+ float, [-]?[0-9]+ integer, 0x.. hex. */
    {
        size_t i = start;
        bool neg = false;
        if (c == '-') {
            neg = true;
            i++;
        }
        size_t ds = i;
        while (i < lx->len && isdigit((unsigned char)lx->text[i])) i++;
        size_t de = i;
        if (at(lx, i) == '.' && isdigit((unsigned char)at(lx, i + 1))) {
            i++;
            while (i < lx->len && isdigit((unsigned char)lx->text[i])) i++;
            /* Convert by hand: no locale, no strtod on unterminated text. */
            double v = 0, scale = 1;
            for (size_t k = ds; k < de; k++) v = v * 10 + (lx->text[k] - '0');
            for (size_t k = de + 1; k < i; k++) {
                scale /= 10;
                v += (lx->text[k] - '0') * scale;
            }
            t.kind = TK_FLOAT;
            t.f = neg ? -v : v;
            t.len = i - start;
            lx->pos = i;
            return t;
        }
        if (de > ds) {
            if (!neg && c == '0' && (c1 == 'x' || c1 == 'X') && is_hexc(c2)) {
                size_t k = start + 2;
                int64_t v = 0;
                while (k < lx->len && is_hexc(lx->text[k])) {
                    char h = lx->text[k];
                    int d = isdigit((unsigned char)h) ? h - '0'
                                                      : (tolower((unsigned char)h) - 'a' + 10);
                    if (!add_digit(&v, 16, d)) t.overflow = true;
                    k++;
                }
                if (!is_word(at(lx, k))) {
                    t.kind = TK_HEX;
                    t.i = v;
                    t.len = k - start;
                    lx->pos = k;
                    return t;
                }
                t.overflow = false;
            } else if (neg || !is_word(at(lx, de))) {
                int64_t v = 0;
                for (size_t k = ds; k < de; k++)
                    if (!add_digit(&v, 10, lx->text[k] - '0')) t.overflow = true;
                t.kind = TK_INT;
                t.i = neg ? -v : v;
                t.len = de - start;
                lx->pos = de;
                return t;
            }
        }
    }
    if (is_word(c)) {
        size_t i = start;
        while (i < lx->len && is_word(lx->text[i])) i++;
        t.kind = TK_WORD;
        t.len = i - start;
        lx->pos = i;
        return t;
    }
    t.kind = TK_CHAR;
    t.c = c;
    t.len = 1;
    lx->pos++;
    return t;
}
