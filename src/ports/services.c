/* The service registry: services(5) text parsed into one sorted array of
 * (port, proto) entries and one name index, both binary-searched. Pure:
 * the file is read by services_file.c. */
#include "portmux/services.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/addr.h"

/* One (name or alias) -> entry mapping of the name index. seq is the
 * position in the file of the line that gave the entry this name. */
typedef struct name_ref {
    const char *key;
    size_t seq;
    uint32_t entry;
    uint8_t proto;
} name_ref;

struct pm_registry {
    char *arena; /* every string, NUL-terminated; sized once, never moved */
    pm_service *svc;
    size_t n;
    const char **aliases; /* the entries' NULL-terminated alias lists */
    name_ref *names;
    size_t nnames;
    char *origin;
    pm_registry_counters counters;
};

/* ---- protocols ---- */

static const struct {
    const char *name;
    uint8_t proto;
} protos[] = {
    {"tcp", PM_IPPROTO_TCP},
    {"udp", PM_IPPROTO_UDP},
    {"dccp", PM_IPPROTO_DCCP},
    {"sctp", PM_IPPROTO_SCTP},
};
#define N_PROTOS (sizeof protos / sizeof protos[0])

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ASCII-only case folding: the same answer in every locale. */
static int name_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = fold((unsigned char)*a), cb = fold((unsigned char)*b);
        if (ca != cb || !ca) return (int)ca - (int)cb;
    }
}

static bool name_eq_n(const char *s, const char *tok, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i] || fold((unsigned char)s[i]) != fold((unsigned char)tok[i])) return false;
    return s[n] == '\0';
}

static int proto_lookup(const char *s, size_t n)
{
    for (size_t i = 0; i < N_PROTOS; i++)
        if (name_eq_n(protos[i].name, s, n)) return protos[i].proto;
    return -EINVAL;
}

const char *pm_proto_name(uint8_t proto)
{
    for (size_t i = 0; i < N_PROTOS; i++)
        if (protos[i].proto == proto) return protos[i].name;
    return NULL;
}

int pm_proto_parse(const char *s)
{
    if (!s) return -EINVAL;
    return proto_lookup(s, strlen(s));
}

/* ---- parsing ---- */

/* A parsed line expands to one record per (port, proto); records share the
 * line's strings. seq keeps file order for merging duplicates. */
typedef struct rec {
    size_t seq;
    uint16_t port;
    uint8_t proto;
    const char *name;
    const char *comment;
    size_t alias0, nalias; /* into parser.alias */
} rec;

typedef struct parser {
    char *arena;
    size_t used;
    rec *recs;
    size_t nrecs, caprecs;
    const char **alias;
    size_t nalias, capalias;
    pm_registry_counters c;
} parser;

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return true;
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size) return false;
        n *= 2;
    }
    void *q = realloc(*p, n * size);
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

/* services(5) separates fields by blanks; NUL and the other control
 * characters count as blanks too, so no token ever holds one. */
static bool is_blank(unsigned char c)
{
    return c <= ' ' || c == 0x7f;
}

static const char *arena_put(parser *p, const char *s, size_t n)
{
    char *d = p->arena + p->used;
    memcpy(d, s, n);
    d[n] = '\0';
    p->used += n + 1;
    return d;
}

/* The comment is the description: control characters become spaces,
 * surrounding blanks go. */
static const char *arena_put_comment(parser *p, const char *s, size_t n)
{
    while (n && is_blank((unsigned char)*s)) s++, n--;
    while (n && is_blank((unsigned char)s[n - 1])) n--;
    char *d = p->arena + p->used;
    for (size_t i = 0; i < n; i++) d[i] = is_blank((unsigned char)s[i]) ? ' ' : s[i];
    d[n] = '\0';
    p->used += n + 1;
    return d;
}

/* A decimal port, 0-65535, no sign. Returns chars used, 0 if none/too big. */
static size_t parse_port(const char *s, size_t n, uint32_t *out)
{
    size_t i = 0;
    uint32_t v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        v = v * 10 + (uint32_t)(s[i] - '0');
        if (v > 65535) return 0;
        i++;
    }
    *out = v;
    return i;
}

typedef struct tok {
    const char *s;
    size_t n;
} tok;

static bool next_tok(const char **cur, const char *end, tok *t)
{
    const char *s = *cur;
    while (s < end && is_blank((unsigned char)*s)) s++;
    if (s == end) return false;
    const char *e = s;
    while (e < end && !is_blank((unsigned char)*e)) e++;
    t->s = s;
    t->n = (size_t)(e - s);
    *cur = e;
    return true;
}

/* "PORT[-PORT]/proto[/proto...]" -> range and a set of protocols (bit i is
 * protos[i]). Returns 0, or which counter to bump. */
enum { SPEC_OK, SPEC_BAD_PORT, SPEC_BAD_PROTO };
static int parse_spec(parser *p, tok t, uint32_t *lo, uint32_t *hi, unsigned *mask)
{
    size_t i = parse_port(t.s, t.n, lo);
    if (!i) return SPEC_BAD_PORT;
    *hi = *lo;
    if (i < t.n && t.s[i] == '-') {
        size_t j = parse_port(t.s + i + 1, t.n - i - 1, hi);
        if (!j || *hi < *lo || *hi - *lo + 1 > PM_REGISTRY_MAX_RANGE) return SPEC_BAD_PORT;
        i += 1 + j;
    }
    if (i == t.n || t.s[i] != '/') return i == t.n ? SPEC_BAD_PROTO : SPEC_BAD_PORT;
    *mask = 0;
    while (i < t.n) { /* at a '/' */
        size_t s = ++i;
        while (i < t.n && t.s[i] != '/') i++;
        if (i == s) return SPEC_BAD_PROTO;
        int pr = proto_lookup(t.s + s, i - s);
        if (pr < 0) {
            p->c.unknown_proto++;
            continue;
        }
        for (size_t k = 0; k < N_PROTOS; k++)
            if (protos[k].proto == pr) *mask |= 1u << k;
    }
    return *mask ? SPEC_OK : SPEC_BAD_PROTO;
}

static int parse_line(parser *p, const char *line, size_t len)
{
    const char *hash = memchr(line, '#', len);
    const char *end = hash ? hash : line + len;
    const char *cur = line;
    tok name, spec, t;
    if (!next_tok(&cur, end, &name)) return 0; /* blank or comment only */
    if (!next_tok(&cur, end, &spec)) {
        p->c.no_port++;
        return 0;
    }
    uint32_t lo, hi;
    unsigned mask;
    switch (parse_spec(p, spec, &lo, &hi, &mask)) {
    case SPEC_BAD_PORT: p->c.bad_port++; return 0;
    case SPEC_BAD_PROTO: p->c.bad_proto++; return 0;
    }

    const char *nm = arena_put(p, name.s, name.n);
    size_t alias0 = p->nalias, nalias = 0;
    while (next_tok(&cur, end, &t)) {
        if (nalias == PM_REGISTRY_MAX_ALIASES) {
            p->c.aliases_dropped++;
            continue;
        }
        if (!grow((void **)&p->alias, &p->capalias, p->nalias + 1, sizeof *p->alias))
            return -ENOMEM;
        p->alias[p->nalias++] = arena_put(p, t.s, t.n);
        nalias++;
    }
    const char *comment = "";
    if (hash) comment = arena_put_comment(p, hash + 1, (size_t)(line + len - hash - 1));

    for (uint32_t port = lo; port <= hi; port++) {
        for (size_t k = 0; k < N_PROTOS; k++) {
            if (!(mask & (1u << k))) continue;
            if (!grow((void **)&p->recs, &p->caprecs, p->nrecs + 1, sizeof *p->recs))
                return -ENOMEM;
            p->recs[p->nrecs] = (rec){.seq = p->nrecs,
                                      .port = (uint16_t)port,
                                      .proto = protos[k].proto,
                                      .name = nm,
                                      .comment = comment,
                                      .alias0 = alias0,
                                      .nalias = nalias};
            p->nrecs++;
        }
    }
    return 0;
}

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->port != y->port) return x->port < y->port ? -1 : 1;
    if (x->proto != y->proto) return x->proto < y->proto ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Name index order: (name, proto, file order). glibc's getservbyname()
 * answers with the first line carrying the name, alias or not; so do we. */
static int ref_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    int c = name_cmp(x->key, y->key);
    if (c) return c;
    if (x->proto != y->proto) return x->proto < y->proto ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void add_name(pm_registry *r, const pm_service *e, const char *s, size_t seq)
{
    r->names[r->nnames++] = (name_ref){s, seq, (uint32_t)(e - r->svc), e->proto};
}

/* Adds s to the alias list being built unless it repeats the name or an
 * alias already there (ignoring case). */
static void add_alias(pm_registry *r, size_t *na, const pm_service *e, const char *s, size_t seq)
{
    if (name_cmp(s, e->name) == 0) return;
    for (size_t i = 0; e->aliases[i]; i++)
        if (name_cmp(s, e->aliases[i]) == 0) return;
    if (*na == PM_REGISTRY_MAX_ALIASES) {
        r->counters.aliases_dropped++;
        return;
    }
    e->aliases[(*na)++] = s;
    e->aliases[*na] = NULL;
    add_name(r, e, s, seq);
}

static bool same_key(const rec *a, const rec *b)
{
    return a->port == b->port && a->proto == b->proto;
}

/* Alias slots an entry needs: its run's names past the first and every
 * alias, capped, plus the NULL. */
static size_t run_slots(const parser *p, size_t i, size_t *next)
{
    size_t k = p->recs[i].nalias, j = i + 1;
    for (; j < p->nrecs && same_key(&p->recs[j], &p->recs[i]); j++) k += 1 + p->recs[j].nalias;
    *next = j;
    return (k < PM_REGISTRY_MAX_ALIASES ? k : PM_REGISTRY_MAX_ALIASES) + 1;
}

/* Sorts the records, merges each (port, proto) run into one entry, builds
 * the name index. */
static int build(pm_registry *r, parser *p)
{
    if (p->nrecs > UINT32_MAX) return -ENOMEM;
    if (p->nrecs) qsort(p->recs, p->nrecs, sizeof *p->recs, rec_cmp);

    size_t n = 0, slots = 0;
    for (size_t i = 0, next; i < p->nrecs; i = next, n++) slots += run_slots(p, i, &next);
    r->counters.duplicates = p->nrecs - n;
    r->svc = calloc(n ? n : 1, sizeof *r->svc);
    r->aliases = calloc(slots ? slots : 1, sizeof *r->aliases);
    r->names = calloc(n + slots ? n + slots : 1, sizeof *r->names); /* a name each, and aliases */
    if (!r->svc || !r->aliases || !r->names) return -ENOMEM;

    size_t slot = 0;
    for (size_t i = 0, next; i < p->nrecs; i = next) {
        const rec *x = &p->recs[i];
        pm_service *e = &r->svc[r->n++];
        e->port = x->port;
        e->proto = x->proto;
        e->name = x->name;
        e->comment = x->comment;
        e->aliases = &r->aliases[slot];
        slot += run_slots(p, i, &next);
        add_name(r, e, e->name, x->seq);
        size_t na = 0;
        for (size_t j = i; j < next; j++) {
            const rec *y = &p->recs[j];
            if (j > i) {
                add_alias(r, &na, e, y->name, y->seq);
                if (!e->comment[0]) e->comment = y->comment;
            }
            for (size_t k = 0; k < y->nalias; k++)
                add_alias(r, &na, e, p->alias[y->alias0 + k], y->seq);
        }
    }
    if (r->nnames) qsort(r->names, r->nnames, sizeof *r->names, ref_cmp);
    r->counters.entries = r->n;
    return 0;
}

int pm_registry_parse(pm_registry **out, const char *text, size_t len, const char *origin)
{
    *out = NULL;
    if (!text) len = 0;
    /* Every string copied is a token or a comment plus its NUL; tokens are
     * blank-separated and a comment follows a '#', so len + 2 bytes hold all. */
    if (len > SIZE_MAX - 2) return -ENOMEM;
    pm_registry *r = calloc(1, sizeof *r);
    parser p = {0};
    int err = -ENOMEM;
    if (!r) return -ENOMEM;
    const char *o = origin ? origin : "-";
    r->origin = malloc(strlen(o) + 1);
    p.arena = malloc(len + 2);
    if (!r->origin || !p.arena) goto fail;
    memcpy(r->origin, o, strlen(o) + 1);

    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t eol = nl ? (size_t)(nl - text) : len;
        p.c.lines++;
        if ((err = parse_line(&p, text + pos, eol - pos)) < 0) goto fail;
        pos = eol + 1;
    }
    r->counters = p.c;
    r->arena = p.arena;
    p.arena = NULL;
    if ((err = build(r, &p)) < 0) goto fail;
    free(p.recs);
    free(p.alias);
    *out = r;
    return 0;
fail:
    free(p.arena);
    free(p.recs);
    free(p.alias);
    pm_registry_free(r);
    return err;
}

void pm_registry_free(pm_registry *r)
{
    if (!r) return;
    free(r->arena);
    free(r->svc);
    free(r->aliases);
    free(r->names);
    free(r->origin);
    free(r);
}

const char *pm_registry_origin(const pm_registry *r)
{
    return r->origin;
}

const pm_registry_counters *pm_registry_counters_of(const pm_registry *r)
{
    return &r->counters;
}

/* ---- lookups ---- */

size_t pm_registry_count(const pm_registry *r)
{
    return r->n;
}

const pm_service *pm_registry_at(const pm_registry *r, size_t i)
{
    return i < r->n ? &r->svc[i] : NULL;
}

/* First index with (port, proto) >= the key. */
static size_t lower_bound(const pm_registry *r, uint16_t port, uint8_t proto)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pm_service *s = &r->svc[mid];
        if (s->port < port || (s->port == port && s->proto < proto))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t pm_registry_lower_bound(const pm_registry *r, uint16_t port)
{
    return lower_bound(r, port, 0);
}

const pm_service *pm_registry_by_port(const pm_registry *r, uint16_t port, uint8_t proto)
{
    size_t i = lower_bound(r, port, proto);
    if (i == r->n || r->svc[i].port != port) return NULL;
    if (proto && r->svc[i].proto != proto) return NULL;
    return &r->svc[i];
}

/* First name_ref with (key, proto) >= (name, proto). */
static size_t name_lower_bound(const pm_registry *r, const char *name, uint8_t proto)
{
    size_t lo = 0, hi = r->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const name_ref *x = &r->names[mid];
        int c = name_cmp(x->key, name);
        if (c < 0 || (c == 0 && x->proto < proto))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool name_ref_matches(const pm_registry *r, size_t i, const char *name, uint8_t proto)
{
    return i < r->nnames && name_cmp(r->names[i].key, name) == 0 &&
           (!proto || r->names[i].proto == proto);
}

const pm_service *pm_registry_by_name(const pm_registry *r, const char *name, uint8_t proto)
{
    if (!name) return NULL;
    size_t i = name_lower_bound(r, name, proto);
    return name_ref_matches(r, i, name, proto) ? &r->svc[r->names[i].entry] : NULL;
}

size_t pm_registry_by_name_all(const pm_registry *r, const char *name, uint8_t proto,
                               const pm_service **out, size_t max)
{
    if (!name) return 0;
    size_t k = 0;
    for (size_t i = name_lower_bound(r, name, proto); name_ref_matches(r, i, name, proto); i++) {
        if (k < max) out[k] = &r->svc[r->names[i].entry];
        k++;
    }
    return k;
}
