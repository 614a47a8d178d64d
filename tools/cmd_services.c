/* portmux services: look ports and service names up in the registry
 * (IANA's, as a services(5) file) and tell each port's RFC 6335 class. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "portmux/err.h"
#include "portmux/ports.h"
#include "portmux/services.h"

static const char *const SUB = "services";

static void usage(FILE *f)
{
    fprintf(f, "usage: portmux services [options] QUERY...\n"
               "       portmux services [options] --range LO-HI|PROFILE | --class CLASS\n"
               "       portmux services --ranges\n"
               "\n"
               "Looks ports and service names up in the service registry and tells each\n"
               "port's RFC 6335 class: system (well-known) 0-1023, user (registered)\n"
               "1024-49151, dynamic (ephemeral, private) 49152-65535.\n"
               "\n"
               "QUERY is a port (443), a port and protocol (5432/tcp), or a service name\n"
               "or alias, any case, optionally with a protocol (https, domain/udp).\n"
               "\n"
               "options:\n"
               "  --proto P        only protocol P: tcp, udp, sctp or dccp\n"
               "  --range R        every service on a port in R: LO-HI (1-1024) or an\n"
               "                   ephemeral profile name (see --ranges)\n"
               "  --class C        every service in an RFC 6335 class: system, well-known,\n"
               "                   user, registered, dynamic, ephemeral, private\n"
               "  --ranges         list the RFC 6335 classes and the per-OS ephemeral\n"
               "                   port profiles (linux, iana, windows, macos, ...)\n"
               "  --file PATH      read this services(5) file\n"
               "  --json           print JSON instead of a table\n"
               "  -h, --help       this text\n"
               "\n"
               "The registry is read from $PORTMUX_SERVICES if set, else IANA's registry\n"
               "in /usr/share/wireshark/services (Debian: libwireshark-data), else\n"
               "/etc/services. Descriptions are the files' comments.\n"
               "\n"
               "exit: 0 found, 1 not found (or no registry), 2 usage error.\n"
               "examples:\n"
               "  portmux services 443\n"
               "  portmux services https\n"
               "  portmux services 5432/tcp\n"
               "  portmux services --range 1-1024 --proto udp\n"
               "  portmux services --class ephemeral --json\n");
}

typedef struct opts {
    const char *file;
    const char *range;
    const char *class_name;
    int proto; /* 0: any */
    int json;
    int ranges;
    char **queries;
    int nqueries;
} opts;

/* The results, one growable list per run. */
typedef struct results {
    const pm_service **v;
    size_t n, cap;
} results;

/* once: skip s if already there ("http 80" lists port 80 once). */
static int push(results *r, const pm_service *s, int once)
{
    for (size_t i = 0; once && i < r->n; i++)
        if (r->v[i] == s) return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        const pm_service **v = realloc(r->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = s;
    return 0;
}

static int by_port_proto(const void *a, const void *b)
{
    const pm_service *x = *(const pm_service *const *)a, *y = *(const pm_service *const *)b;
    if (x->port != y->port) return x->port < y->port ? -1 : 1;
    return (x->proto > y->proto) - (x->proto < y->proto);
}

/* ---- output ---- */

static const char *class_of(uint16_t port)
{
    return pm_port_class_name(pm_port_class_of(port));
}

static const char *proto_name(uint8_t p)
{
    const char *s = pm_proto_name(p);
    return s ? s : "?";
}

static void aliases_text(const pm_service *s, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; s->aliases[i] && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", s->aliases[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (!buf[0]) snprintf(buf, cap, "-");
}

static void print_table(const results *r)
{
    int wname = 4, walias = 7;
    char al[256];
    for (size_t i = 0; i < r->n; i++) {
        int n = (int)strlen(r->v[i]->name);
        if (n > wname) wname = n < 24 ? n : 24;
        aliases_text(r->v[i], al, sizeof al);
        n = (int)strlen(al);
        if (n > walias) walias = n < 24 ? n : 24;
    }
    printf("%-5s %-5s %-*s %-7s %-*s %s\n", "PORT", "PROTO", wname, "NAME", "CLASS", walias,
           "ALIASES", "DESCRIPTION");
    for (size_t i = 0; i < r->n; i++) {
        const pm_service *s = r->v[i];
        aliases_text(s, al, sizeof al);
        printf("%-5u %-5s %-*s %-7s %-*s %s\n", s->port, proto_name(s->proto), wname, s->name,
               class_of(s->port), walias, al, s->comment[0] ? s->comment : "-");
    }
}

static void json_service(pm_json *j, const pm_service *s)
{
    pm_json_obj_begin(j, NULL);
    pm_json_int(j, "port", s->port);
    pm_json_str(j, "proto", proto_name(s->proto));
    pm_json_str(j, "name", s->name);
    pm_json_arr_begin(j, "aliases");
    for (size_t i = 0; s->aliases[i]; i++) pm_json_str(j, NULL, s->aliases[i]);
    pm_json_arr_end(j);
    pm_json_str(j, "description", s->comment);
    pm_json_str(j, "class", class_of(s->port));
    pm_json_obj_end(j);
}

/* pr: the ports a listing covered (lo > hi: none); NULL for queries. */
static void print_json(const pm_registry *reg, const opts *o, const pm_port_range *pr,
                       const results *r)
{
    pm_json j;
    pm_json_init(&j, stdout);
    pm_json_obj_begin(&j, NULL);
    pm_json_str(&j, "source", pm_registry_origin(reg));
    pm_json_arr_begin(&j, "query");
    for (int i = 0; i < o->nqueries; i++) pm_json_str(&j, NULL, o->queries[i]);
    pm_json_arr_end(&j);
    pm_json_str(&j, "range", o->range);
    pm_json_str(&j, "class", o->class_name);
    if (pr && pr->lo <= pr->hi) {
        pm_json_obj_begin(&j, "ports");
        pm_json_int(&j, "lo", pr->lo);
        pm_json_int(&j, "hi", pr->hi);
        pm_json_obj_end(&j);
    }
    pm_json_str(&j, "proto", o->proto ? proto_name((uint8_t)o->proto) : NULL);
    pm_json_int(&j, "count", (long long)r->n);
    pm_json_arr_begin(&j, "services");
    for (size_t i = 0; i < r->n; i++) json_service(&j, r->v[i]);
    pm_json_arr_end(&j);
    pm_json_obj_end(&j);
    pm_json_end(&j);
}

/* RFC 6335 6 classes, then the per-OS ephemeral profiles. */
static int print_ranges(int json)
{
    static const struct {
        pm_port_class c;
        pm_port_range r;
        const char *aka;
    } classes[] = {
        {PM_PORT_SYSTEM, {0, 1023}, "well-known"},
        {PM_PORT_USER, {1024, 49151}, "registered"},
        {PM_PORT_DYNAMIC, {49152, 65535}, "ephemeral, private"},
    };
    if (json) {
        pm_json j;
        pm_json_init(&j, stdout);
        pm_json_obj_begin(&j, NULL);
        pm_json_arr_begin(&j, "classes");
        for (size_t i = 0; i < 3; i++) {
            pm_json_obj_begin(&j, NULL);
            pm_json_str(&j, "class", pm_port_class_name(classes[i].c));
            pm_json_str(&j, "also", classes[i].aka);
            pm_json_int(&j, "lo", classes[i].r.lo);
            pm_json_int(&j, "hi", classes[i].r.hi);
            pm_json_int(&j, "size", pm_port_range_size(classes[i].r));
            pm_json_obj_end(&j);
        }
        pm_json_arr_end(&j);
        pm_json_arr_begin(&j, "profiles");
        for (const pm_port_profile *p = pm_port_profiles; p->name; p++) {
            pm_json_obj_begin(&j, NULL);
            pm_json_str(&j, "profile", p->name);
            pm_json_int(&j, "lo", p->range.lo);
            pm_json_int(&j, "hi", p->range.hi);
            pm_json_int(&j, "size", pm_port_range_size(p->range));
            pm_json_str(&j, "note", p->note);
            pm_json_obj_end(&j);
        }
        pm_json_arr_end(&j);
        pm_json_obj_end(&j);
        pm_json_end(&j);
        return PM_EXIT_OK;
    }
    printf("RFC 6335 port classes:\n");
    printf("  %-9s %5s-%-5s %6s  %s\n", "CLASS", "LO", "HI", "PORTS", "ALSO");
    for (size_t i = 0; i < 3; i++)
        printf("  %-9s %5u-%-5u %6u  %s\n", pm_port_class_name(classes[i].c), classes[i].r.lo,
               classes[i].r.hi, pm_port_range_size(classes[i].r), classes[i].aka);
    printf("\nephemeral port profiles (--range NAME):\n");
    printf("  %-9s %5s-%-5s %6s  %s\n", "PROFILE", "LO", "HI", "PORTS", "SOURCE");
    for (const pm_port_profile *p = pm_port_profiles; p->name; p++)
        printf("  %-9s %5u-%-5u %6u  %s\n", p->name, p->range.lo, p->range.hi,
               pm_port_range_size(p->range), p->note);
    return PM_EXIT_OK;
}

/* ---- queries ---- */

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* One QUERY: adds what it names to r. Returns PM_EXIT_OK, PM_EXIT_FAIL
 * (nothing found; said on stderr) or PM_EXIT_USAGE. */
static int run_query(const pm_registry *reg, const opts *o, const char *q, results *r)
{
    char what[128];
    int proto = o->proto;
    snprintf(what, sizeof what, "%s", q);
    char *slash = strrchr(what, '/');
    if (slash) {
        *slash = '\0';
        int p = pm_proto_parse(slash + 1);
        if (p < 0)
            return pm_cli_usage_error(SUB, "unknown protocol '%s' in '%s' (tcp, udp, sctp, dccp)",
                                      slash + 1, q);
        if (proto && p != proto)
            return pm_cli_usage_error(SUB, "'%s' disagrees with --proto %s", q,
                                      proto_name((uint8_t)proto));
        proto = p;
    }
    if (!what[0] || strlen(q) >= sizeof what)
        return pm_cli_usage_error(SUB, "'%s' is not a port or a service name", q);

    size_t before = r->n;
    if (all_digits(what) || (what[0] == '-' && all_digits(what + 1)) ||
        (what[0] == '+' && all_digits(what + 1))) {
        char *end;
        errno = 0;
        long v = strtol(what, &end, 10);
        if (errno || v < 0 || v > 65535)
            return pm_cli_usage_error(SUB, "port %s is outside 0-65535", what);
        size_t i = pm_registry_lower_bound(reg, (uint16_t)v);
        for (const pm_service *s; (s = pm_registry_at(reg, i)) && s->port == v; i++)
            if (!proto || s->proto == proto)
                if (push(r, s, 1) < 0) return PM_EXIT_FAIL;
        if (r->n == before) {
            fprintf(stderr, "portmux services: no service registered on port %ld%s%s (class %s)\n",
                    v, proto ? "/" : "", proto ? proto_name((uint8_t)proto) : "",
                    class_of((uint16_t)v));
            return PM_EXIT_FAIL;
        }
        return PM_EXIT_OK;
    }

    size_t n = pm_registry_by_name_all(reg, what, (uint8_t)proto, NULL, 0);
    if (n == 0) {
        fprintf(stderr, "portmux services: no service named '%s'%s%s in %s\n", what,
                proto ? " over " : "", proto ? proto_name((uint8_t)proto) : "",
                pm_registry_origin(reg));
        return PM_EXIT_FAIL;
    }
    const pm_service **found = malloc(n * sizeof *found);
    if (!found) return PM_EXIT_FAIL;
    pm_registry_by_name_all(reg, what, (uint8_t)proto, found, n);
    int rc = PM_EXIT_OK;
    for (size_t i = 0; i < n && rc == PM_EXIT_OK; i++)
        if (push(r, found[i], 1) < 0) rc = PM_EXIT_FAIL;
    free(found);
    return rc;
}

/* --range and --class: every entry with a port in [lo, hi]. */
static int run_range(const pm_registry *reg, const opts *o, pm_port_range pr, results *r)
{
    for (size_t i = pm_registry_lower_bound(reg, pr.lo);; i++) {
        const pm_service *s = pm_registry_at(reg, i);
        if (!s || s->port > pr.hi) break;
        if (o->proto && s->proto != o->proto) continue;
        if (push(r, s, 0) < 0) return PM_EXIT_FAIL;
    }
    return PM_EXIT_OK; /* a listing answers even when it is empty */
}

static int class_range(const char *name, pm_port_range *out)
{
    pm_port_class c;
    if (pm_port_class_parse(name, &c) < 0) return -EINVAL;
    /* RFC 6335 6 */
    static const pm_port_range ranges[] = {{0, 1023}, {1024, 49151}, {49152, 65535}};
    *out = ranges[c];
    return 0;
}

/* ---- arguments ---- */

/* "--opt VALUE" or "--opt=VALUE"; NULL (after an error) when missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (arg[n] == '=') return arg + n + 1;
    if (*i + 1 >= argc) {
        pm_cli_usage_error(SUB, "%s needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

static int opt_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static int parse_args(int argc, char **argv, opts *o)
{
    int only_queries = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        /* "-1" is a (bad) port, not an option. */
        if (only_queries || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) {
            o->queries[o->nqueries++] = argv[i];
        } else if (!strcmp(a, "--")) {
            only_queries = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--ranges")) {
            o->ranges = 1;
        } else if (opt_is(a, "--proto")) {
            if (!(v = opt_value(argc, argv, &i, a, "--proto"))) return PM_EXIT_USAGE;
            if ((o->proto = pm_proto_parse(v)) < 0)
                return pm_cli_usage_error(SUB, "unknown protocol '%s' (tcp, udp, sctp, dccp)", v);
        } else if (opt_is(a, "--range")) {
            if (!(o->range = opt_value(argc, argv, &i, a, "--range"))) return PM_EXIT_USAGE;
        } else if (opt_is(a, "--class")) {
            if (!(o->class_name = opt_value(argc, argv, &i, a, "--class"))) return PM_EXIT_USAGE;
        } else if (opt_is(a, "--file")) {
            if (!(o->file = opt_value(argc, argv, &i, a, "--file"))) return PM_EXIT_USAGE;
        } else {
            return pm_cli_usage_error(SUB, "unknown option '%s'", a);
        }
    }
    return 0;
}

int cmd_services(int argc, char **argv)
{
    opts o = {0};
    o.queries = calloc((size_t)argc + 1, sizeof *o.queries);
    if (!o.queries) return PM_EXIT_FAIL;
    results r = {0};
    pm_registry *reg = NULL;
    pm_port_range pr = {0, 65535};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        rc = rc < 0 ? PM_EXIT_OK : rc; /* --help */
        goto out;
    }

    int listing = o.range || o.class_name;
    if (o.ranges) {
        if (listing || o.nqueries)
            rc = pm_cli_usage_error(SUB, "--ranges takes no queries, --range or --class");
        else
            rc = print_ranges(o.json);
        goto out;
    }
    if (!listing && !o.nqueries) {
        rc = pm_cli_usage_error(SUB, "nothing to look up: give a port, a name, --range or --class");
        goto out;
    }
    if (listing && o.nqueries) {
        rc = pm_cli_usage_error(SUB, "give queries or --range/--class, not both");
        goto out;
    }
    if (o.range && pm_port_range_parse(o.range, &pr) < 0) {
        rc = pm_cli_usage_error(SUB,
                                "bad range '%s': LO-HI with 0 <= LO <= HI <= 65535, "
                                "or a profile (see --ranges)",
                                o.range);
        goto out;
    }
    if (o.class_name) {
        pm_port_range cr;
        if (class_range(o.class_name, &cr) < 0) {
            rc = pm_cli_usage_error(SUB,
                                    "unknown class '%s' (system, well-known, user, registered, "
                                    "dynamic, ephemeral, private)",
                                    o.class_name);
            goto out;
        }
        /* --range and --class together: their intersection. */
        pr.lo = pr.lo > cr.lo ? pr.lo : cr.lo;
        pr.hi = pr.hi < cr.hi ? pr.hi : cr.hi;
    }

    int err = pm_registry_load(&reg, o.file);
    if (err < 0) {
        const char *env = getenv("PORTMUX_SERVICES");
        if (o.file)
            fprintf(stderr, "portmux services: cannot read %s: %s\n", o.file, pm_strerror(err));
        else if (env && *env)
            fprintf(stderr, "portmux services: cannot read %s ($PORTMUX_SERVICES): %s\n", env,
                    pm_strerror(err));
        else if (err == -ENOENT)
            fprintf(stderr, "portmux services: no services file: set PORTMUX_SERVICES, or install "
                            "libwireshark-data (/usr/share/wireshark/services) or netbase "
                            "(/etc/services)\n");
        else
            fprintf(stderr, "portmux services: cannot read the services file: %s\n",
                    pm_strerror(err));
        rc = PM_EXIT_FAIL;
        goto out;
    }

    if (listing) {
        if (pr.lo <= pr.hi) rc = run_range(reg, &o, pr, &r);
    } else {
        for (int i = 0; i < o.nqueries; i++) {
            int q = run_query(reg, &o, o.queries[i], &r);
            if (q == PM_EXIT_USAGE) {
                rc = q;
                goto out;
            }
            if (q != PM_EXIT_OK) rc = q;
        }
        if (r.n) qsort(r.v, r.n, sizeof *r.v, by_port_proto);
    }

    if (o.json)
        print_json(reg, &o, listing ? &pr : NULL, &r);
    else if (r.n)
        print_table(&r);
    if (listing && !o.json) {
        if (o.class_name && pm_port_class_of(pr.lo) == PM_PORT_DYNAMIC)
            printf("(RFC 6335 6: IANA never assigns dynamic ports; any listed here are local "
                   "additions)\n");
        if (pr.lo <= pr.hi)
            printf("(%zu %s on ports %u-%u", r.n, r.n == 1 ? "entry" : "entries", pr.lo, pr.hi);
        else
            printf("(no port is in both --range %s and --class %s", o.range, o.class_name);
        printf("%s%s, from %s)\n", o.proto ? " over " : "",
               o.proto ? proto_name((uint8_t)o.proto) : "", pm_registry_origin(reg));
    }
out:
    pm_registry_free(reg);
    free(r.v);
    free(o.queries);
    return rc;
}
