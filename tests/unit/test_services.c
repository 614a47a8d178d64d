/* The service registry: the services(5) parser on well-formed and broken
 * text, lookups by port+proto and by name, the file loader, and a random
 * cross-check against a linear-search model. IANA's data: test_services_iana. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/rng.h"
#include "portmux/addr.h"
#include "portmux/services.h"

enum { TCP = PM_IPPROTO_TCP, UDP = PM_IPPROTO_UDP, SCTP = 132, DCCP = 33 };

static pm_registry *parse(const char *text)
{
    pm_registry *r = NULL;
    assert_int_equal(pm_registry_parse(&r, text, strlen(text), "test"), 0);
    assert_non_null(r);
    return r;
}

static size_t n_aliases(const pm_service *s)
{
    size_t n = 0;
    while (s->aliases[n]) n++;
    return n;
}

static void test_basic_line(void **state)
{
    (void)state;
    pm_registry *r = parse("# a comment line\n"
                           "\n"
                           "http\t\t80/tcp\t\twww www-http\t# World Wide Web HTTP \n"
                           "ssh 22/tcp # SSH Remote Login Protocol\n"
                           "echo 7/udp\n");
    assert_string_equal(pm_registry_origin(r), "test");
    assert_int_equal(pm_registry_count(r), 3);
    const pm_service *s = pm_registry_by_port(r, 80, TCP);
    assert_non_null(s);
    assert_int_equal(s->port, 80);
    assert_int_equal(s->proto, TCP);
    assert_string_equal(s->name, "http");
    assert_int_equal(n_aliases(s), 2);
    assert_string_equal(s->aliases[0], "www");
    assert_string_equal(s->aliases[1], "www-http");
    assert_string_equal(s->comment, "World Wide Web HTTP");
    s = pm_registry_by_port(r, 7, UDP);
    assert_non_null(s);
    assert_string_equal(s->comment, "");
    assert_int_equal(n_aliases(s), 0);
    assert_null(pm_registry_by_port(r, 7, TCP));
    assert_null(pm_registry_by_port(r, 80, UDP));
    assert_null(pm_registry_by_port(r, 81, 0));
    const pm_registry_counters *c = pm_registry_counters_of(r);
    assert_int_equal(c->lines, 5);
    assert_int_equal(c->entries, 3);
    assert_int_equal(c->no_port + c->bad_port + c->bad_proto + c->duplicates, 0);
    pm_registry_free(r);
}

/* Wireshark's IANA copy merges protocols and writes ranges. */
static void test_merged_protocols_and_ranges(void **state)
{
    (void)state;
    pm_registry *r = parse("discard 9/tcp/udp/sctp/dccp # Discard\n"
                           "ircu 6665-6669/tcp # IRCU\n"
                           "wide 1000-1300/udp\n" /* wider than PM_REGISTRY_MAX_RANGE */
                           "back 20-10/tcp\n"
                           "twice 5/tcp/TCP/udp\n");
    assert_int_equal(pm_registry_count(r), 4 + 5 + 2);
    const uint8_t all[] = {TCP, UDP, SCTP, DCCP};
    for (size_t i = 0; i < 4; i++) {
        const pm_service *s = pm_registry_by_port(r, 9, all[i]);
        assert_non_null(s);
        assert_string_equal(s->name, "discard");
        assert_string_equal(s->comment, "Discard");
    }
    for (unsigned p = 6665; p <= 6669; p++) {
        const pm_service *s = pm_registry_by_port(r, (uint16_t)p, TCP);
        assert_non_null(s);
        assert_string_equal(s->name, "ircu");
    }
    assert_null(pm_registry_by_port(r, 6664, 0));
    assert_null(pm_registry_by_port(r, 6670, 0));
    assert_null(pm_registry_by_port(r, 1000, 0));
    assert_null(pm_registry_by_port(r, 15, 0));
    assert_int_equal(pm_registry_counters_of(r)->bad_port, 2);
    /* The sorted order is (port, proto), TCP first. */
    for (size_t i = 1; i < pm_registry_count(r); i++) {
        const pm_service *a = pm_registry_at(r, i - 1), *b = pm_registry_at(r, i);
        assert_true(a->port < b->port || (a->port == b->port && a->proto < b->proto));
    }
    assert_null(pm_registry_at(r, pm_registry_count(r)));
    pm_registry_free(r);
}

static void test_crlf_tabs_and_blanks(void **state)
{
    (void)state;
    pm_registry *r = parse("ssh\t22/tcp\tsecure-shell\r\n"
                           "  \t telnet   23/tcp\t \r\n"
                           "smtp 25/tcp mail\t#\tSimple Mail Transfer\t\r\n"
                           "\r\n"
                           "nonl 26/tcp # no newline at the end");
    const pm_service *s = pm_registry_by_port(r, 22, TCP);
    assert_non_null(s);
    assert_string_equal(s->name, "ssh");
    assert_string_equal(s->aliases[0], "secure-shell");
    assert_non_null(pm_registry_by_name(r, "secure-shell", TCP));
    s = pm_registry_by_port(r, 23, TCP);
    assert_non_null(s);
    assert_string_equal(s->name, "telnet");
    assert_int_equal(n_aliases(s), 0);
    s = pm_registry_by_port(r, 25, TCP);
    assert_string_equal(s->comment, "Simple Mail Transfer");
    assert_string_equal(s->aliases[0], "mail");
    s = pm_registry_by_port(r, 26, TCP);
    assert_non_null(s);
    assert_string_equal(s->comment, "no newline at the end");
    assert_int_equal(pm_registry_counters_of(r)->lines, 5);
    pm_registry_free(r);
}

static void test_bad_lines_are_skipped_and_counted(void **state)
{
    (void)state;
    pm_registry *r = parse("lonely\n"                      /* no_port */
                           "lonely2 # 80/tcp\n"            /* no_port: the port is a comment */
                           "x1 /tcp\n"                     /* bad_port */
                           "x2 70000/tcp\n"                /* bad_port */
                           "x3 65536/udp\n"                /* bad_port */
                           "x4 99999999999999999999/tcp\n" /* bad_port, no overflow */
                           "x5 -5/tcp\n"                   /* bad_port */
                           "x6 8x/tcp\n"                   /* bad_port */
                           "x7 80\n"                       /* bad_proto */
                           "x8 80/\n"                      /* bad_proto */
                           "x9 80//tcp\n"                  /* bad_proto */
                           "x10 80/ddp\n"                  /* bad_proto, unknown_proto */
                           "ok1 81/tcp/ddp\n"              /* kept, unknown_proto */
                           "ok2 65535/udp\n"
                           "ok3 0/tcp\n"
                           "ok4 00443/tcp\n");
    const pm_registry_counters *c = pm_registry_counters_of(r);
    assert_int_equal(c->no_port, 2);
    assert_int_equal(c->bad_port, 6);
    assert_int_equal(c->bad_proto, 4);
    assert_int_equal(c->unknown_proto, 2);
    assert_int_equal(pm_registry_count(r), 4);
    assert_string_equal(pm_registry_by_port(r, 81, 0)->name, "ok1");
    assert_string_equal(pm_registry_by_port(r, 65535, UDP)->name, "ok2");
    assert_string_equal(pm_registry_by_port(r, 0, TCP)->name, "ok3");
    assert_string_equal(pm_registry_by_port(r, 443, TCP)->name, "ok4");
    for (int i = 1; i <= 10; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "x%d", i);
        assert_null(pm_registry_by_name(r, nm, 0));
    }
    assert_null(pm_registry_by_name(r, "lonely", 0));
    pm_registry_free(r);
}

static void test_long_lines_and_odd_bytes(void **state)
{
    (void)state;
    /* A 64 KiB name and 1000 aliases on one line. */
    size_t n = 65536 + 1000 * 8 + 64;
    char *t = malloc(n), *p = t;
    assert_non_null(t);
    memset(p, 'n', 65536);
    p += 65536;
    p += sprintf(p, " 1234/tcp");
    for (int i = 0; i < 1000; i++) p += sprintf(p, " a%d", i);
    p += sprintf(p, "\n");
    pm_registry *r = parse(t);
    const pm_service *s = pm_registry_by_port(r, 1234, TCP);
    assert_non_null(s);
    assert_int_equal(strlen(s->name), 65536);
    assert_ptr_equal(pm_registry_by_name(r, s->name, 0), s);
    assert_int_equal(n_aliases(s), PM_REGISTRY_MAX_ALIASES);
    assert_int_equal(pm_registry_counters_of(r)->aliases_dropped, 1000 - PM_REGISTRY_MAX_ALIASES);
    assert_ptr_equal(pm_registry_by_name(r, "A31", TCP), s);
    assert_null(pm_registry_by_name(r, "a32", TCP));
    pm_registry_free(r);
    free(t);

    /* NUL bytes separate fields like blanks; control bytes in a comment
     * become spaces. */
    static const char odd[] = "nul\0001/tcp\000x # a\001b\000c\n\377\376 2/udp";
    assert_int_equal(pm_registry_parse(&r, odd, sizeof odd - 1, NULL), 0);
    assert_string_equal(pm_registry_origin(r), "-");
    s = pm_registry_by_port(r, 1, TCP);
    assert_non_null(s);
    assert_string_equal(s->name, "nul");
    assert_string_equal(s->aliases[0], "x");
    assert_string_equal(s->comment, "a b c");
    s = pm_registry_by_port(r, 2, UDP);
    assert_non_null(s);
    assert_string_equal(s->name, "\377\376");
    assert_ptr_equal(pm_registry_by_name(r, "\377\376", 0), s);
    pm_registry_free(r);

    /* Empty text and a NULL buffer give an empty registry. */
    assert_int_equal(pm_registry_parse(&r, NULL, 0, "empty"), 0);
    assert_int_equal(pm_registry_count(r), 0);
    assert_null(pm_registry_by_port(r, 80, 0));
    assert_null(pm_registry_by_name(r, "http", 0));
    assert_int_equal(pm_registry_lower_bound(r, 80), 0);
    pm_registry_free(r);
    pm_registry_free(NULL);
}

/* One entry per (port, proto): later lines add their names as aliases, as
 * getservbyport() answers with the first. */
static void test_duplicates_merge(void **state)
{
    (void)state;
    pm_registry *r = parse("http 80/tcp www\n"
                           "WWW 80/tcp www-http HTTP\n"
                           "http 80/udp\n"
                           "alt 80/tcp # Later comment\n");
    assert_int_equal(pm_registry_count(r), 2);
    assert_int_equal(pm_registry_counters_of(r)->duplicates, 2);
    const pm_service *s = pm_registry_by_port(r, 80, TCP);
    assert_string_equal(s->name, "http");
    assert_int_equal(n_aliases(s), 3); /* www, www-http, alt: no repeats, any case */
    assert_string_equal(s->aliases[0], "www");
    assert_string_equal(s->aliases[1], "www-http");
    assert_string_equal(s->aliases[2], "alt");
    assert_string_equal(s->comment, "Later comment"); /* the first had none */
    assert_ptr_equal(pm_registry_by_name(r, "alt", 0), s);
    assert_ptr_equal(pm_registry_by_name(r, "WWW-HTTP", TCP), s);
    pm_registry_free(r);
}

static void test_name_lookups(void **state)
{
    (void)state;
    pm_registry *r = parse("domain 53/tcp\n"
                           "domain 53/udp nameserver\n"
                           "http-alt 591/tcp/udp\n"
                           "http-alt 8008/tcp\n"
                           "http-alt 8080/tcp/udp webcache\n"
                           "sctponly 9999/sctp\n"
                           "first 10/tcp b\n"
                           "b 20/tcp\n"
                           "udpfirst 30/udp\n"
                           "udpfirst 31/tcp\n");
    const pm_service *s = pm_registry_by_name(r, "domain", 0);
    assert_non_null(s);
    assert_int_equal(s->proto, TCP); /* proto 0: TCP first */
    s = pm_registry_by_name(r, "DOMAIN", UDP);
    assert_non_null(s);
    assert_int_equal(s->proto, UDP);
    assert_int_equal(s->port, 53);
    assert_null(pm_registry_by_name(r, "domain", SCTP));
    assert_ptr_equal(pm_registry_by_name(r, "NameServer", 0), s);
    assert_null(pm_registry_by_name(r, "nameserver", TCP));
    assert_null(pm_registry_by_name(r, "domai", 0));
    assert_null(pm_registry_by_name(r, "domains", 0));
    assert_null(pm_registry_by_name(r, "", 0));
    assert_null(pm_registry_by_name(r, NULL, 0));

    /* A name on several ports: the first line, as getservbyname() says. */
    s = pm_registry_by_name(r, "Http-Alt", 0);
    assert_int_equal(s->port, 591);
    assert_int_equal(s->proto, TCP);
    const pm_service *all[8];
    assert_int_equal(pm_registry_by_name_all(r, "http-alt", 0, all, 8), 5);
    assert_int_equal(pm_registry_by_name_all(r, "http-alt", UDP, all, 8), 2);
    assert_int_equal(all[0]->port, 591);
    assert_int_equal(all[1]->port, 8080);
    assert_int_equal(pm_registry_by_name_all(r, "http-alt", TCP, all, 1), 3); /* counts past max */
    assert_int_equal(all[0]->port, 591);
    assert_int_equal(pm_registry_by_name_all(r, "nope", 0, all, 8), 0);
    assert_int_equal(pm_registry_by_name_all(r, "webcache", 0, NULL, 0), 2);

    /* Only protocol there: proto 0 finds it. An alias on an earlier line
     * wins over a primary name on a later one (file order, as glibc). */
    assert_int_equal(pm_registry_by_name(r, "sctponly", 0)->proto, SCTP);
    assert_int_equal(pm_registry_by_port(r, 9999, 0)->proto, SCTP);
    assert_int_equal(pm_registry_by_name(r, "b", 0)->port, 10);
    assert_int_equal(pm_registry_by_name(r, "udpfirst", 0)->port, 31); /* TCP first */
    pm_registry_free(r);
}

static void test_lower_bound(void **state)
{
    (void)state;
    pm_registry *r = parse("a 10/tcp/udp\nb 20/udp\nc 30/tcp\n");
    assert_int_equal(pm_registry_lower_bound(r, 0), 0);
    assert_int_equal(pm_registry_lower_bound(r, 10), 0);
    assert_int_equal(pm_registry_lower_bound(r, 11), 2);
    assert_int_equal(pm_registry_lower_bound(r, 20), 2);
    assert_int_equal(pm_registry_lower_bound(r, 30), 3);
    assert_int_equal(pm_registry_lower_bound(r, 31), 4);
    assert_int_equal(pm_registry_lower_bound(r, 65535), 4);
    pm_registry_free(r);
}

static void test_proto_names(void **state)
{
    (void)state;
    assert_int_equal(pm_proto_parse("tcp"), TCP);
    assert_int_equal(pm_proto_parse("UDP"), UDP);
    assert_int_equal(pm_proto_parse("sctp"), SCTP);
    assert_int_equal(pm_proto_parse("dccp"), DCCP);
    assert_int_equal(pm_proto_parse("tc"), -EINVAL);
    assert_int_equal(pm_proto_parse("tcpx"), -EINVAL);
    assert_int_equal(pm_proto_parse(""), -EINVAL);
    assert_int_equal(pm_proto_parse(NULL), -EINVAL);
    assert_string_equal(pm_proto_name(TCP), "tcp");
    assert_string_equal(pm_proto_name(UDP), "udp");
    assert_string_equal(pm_proto_name(SCTP), "sctp");
    assert_string_equal(pm_proto_name(DCCP), "dccp");
    assert_null(pm_proto_name(0));
    assert_null(pm_proto_name(PM_IPPROTO_ICMP));
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/pm-services-test-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_load(void **state)
{
    (void)state;
    char *path = write_temp("mine 4242/tcp # from a file\n");
    pm_registry *r = NULL;
    assert_int_equal(pm_registry_load(&r, path), 0);
    assert_string_equal(pm_registry_origin(r), path);
    assert_string_equal(pm_registry_by_port(r, 4242, TCP)->comment, "from a file");
    pm_registry_free(r);

    /* $PORTMUX_SERVICES overrides the defaults, and does not fall back. */
    setenv("PORTMUX_SERVICES", path, 1);
    assert_int_equal(pm_registry_load(&r, NULL), 0);
    assert_string_equal(pm_registry_origin(r), path);
    assert_int_equal(pm_registry_count(r), 1);
    pm_registry_free(r);
    unlink(path);
    assert_int_equal(pm_registry_load(&r, NULL), -ENOENT);
    assert_null(r);
    unsetenv("PORTMUX_SERVICES");
    assert_int_equal(pm_registry_load(&r, path), -ENOENT);
    assert_int_equal(pm_registry_load(&r, "/"), -EISDIR);
    free(path);

    /* The defaults: IANA's copy, else /etc/services. */
    int err = pm_registry_load(&r, NULL);
    if (access("/usr/share/wireshark/services", R_OK) == 0) {
        assert_int_equal(err, 0);
        assert_string_equal(pm_registry_origin(r), "/usr/share/wireshark/services");
    } else if (access("/etc/services", R_OK) == 0) {
        assert_int_equal(err, 0);
        assert_string_equal(pm_registry_origin(r), "/etc/services");
    } else {
        assert_int_equal(err, -ENOENT);
    }
    pm_registry_free(r);
}

/* Random services text against a model that scans the lines linearly, as
 * getservbyport()/getservbyname() do: first line wins per (port, proto). */
#define MODEL_LINES 400
typedef struct mline {
    char name[16], alias[16];
    uint16_t port;
    uint8_t proto;
} mline;

static void test_random_against_model(void **state)
{
    (void)state;
    static const uint8_t ps[] = {TCP, UDP, SCTP, DCCP};
    static mline m[MODEL_LINES];
    static char text[MODEL_LINES * 64];
    pm_rng rng;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        pm_rng_seed(&rng, seed);
        char *p = text;
        for (int i = 0; i < MODEL_LINES; i++) {
            snprintf(m[i].name, sizeof m[i].name, "%cs%u", pm_rng_below(&rng, 2) ? 'S' : 's',
                     pm_rng_below(&rng, 150));
            snprintf(m[i].alias, sizeof m[i].alias, "a%u", pm_rng_below(&rng, 150));
            m[i].port = (uint16_t)pm_rng_below(&rng, 200);
            m[i].proto = ps[pm_rng_below(&rng, 4)];
            p += sprintf(p, "%s%s %u/%s %s # line %d\n", pm_rng_below(&rng, 4) ? "" : "\t",
                         m[i].name, m[i].port, pm_proto_name(m[i].proto), m[i].alias, i);
        }
        pm_registry *r = parse(text);
        for (unsigned port = 0; port < 210; port++) {
            for (size_t k = 0; k < 4; k++) {
                const mline *want = NULL;
                for (int i = 0; i < MODEL_LINES && !want; i++)
                    if (m[i].port == port && m[i].proto == ps[k]) want = &m[i];
                const pm_service *got = pm_registry_by_port(r, (uint16_t)port, ps[k]);
                if (!want) {
                    assert_null(got);
                    continue;
                }
                assert_non_null(got);
                assert_string_equal(got->name, want->name);
            }
        }
        /* Every line's name and alias name its (port, proto) entry. */
        for (int i = 0; i < MODEL_LINES; i++) {
            const pm_service *s = pm_registry_by_port(r, m[i].port, m[i].proto);
            const pm_service *all[MODEL_LINES];
            size_t n = pm_registry_by_name_all(r, m[i].name, m[i].proto, all, MODEL_LINES);
            size_t found = 0;
            for (size_t k = 0; k < n; k++) found += all[k] == s;
            assert_int_equal(found, 1);
            n = pm_registry_by_name_all(r, m[i].alias, m[i].proto, all, MODEL_LINES);
            found = 0;
            for (size_t k = 0; k < n; k++) found += all[k] == s;
            assert_int_equal(found, 1);
        }
        /* By name: the first line (file order) carrying the name, as name
         * or alias, of the protocol asked; for any protocol, TCP first,
         * then by protocol number. */
        for (unsigned v = 0; v < 150; v++) {
            char nm[16];
            snprintf(nm, sizeof nm, v % 2 ? "S%u" : "a%u", v);
            for (size_t k = 0; k <= 4; k++) {
                uint8_t proto = k < 4 ? ps[k] : 0;
                const mline *want = NULL;
                for (int i = 0; i < MODEL_LINES; i++) {
                    if (proto && m[i].proto != proto) continue;
                    if (strcasecmp(m[i].name, nm) && strcasecmp(m[i].alias, nm)) continue;
                    if (!want || m[i].proto < want->proto) want = &m[i];
                }
                const pm_service *got = pm_registry_by_name(r, nm, proto);
                if (!want) {
                    assert_null(got);
                    continue;
                }
                assert_ptr_equal(got, pm_registry_by_port(r, want->port, want->proto));
            }
        }
        pm_registry_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_line),
        cmocka_unit_test(test_merged_protocols_and_ranges),
        cmocka_unit_test(test_crlf_tabs_and_blanks),
        cmocka_unit_test(test_bad_lines_are_skipped_and_counted),
        cmocka_unit_test(test_long_lines_and_odd_bytes),
        cmocka_unit_test(test_duplicates_merge),
        cmocka_unit_test(test_name_lookups),
        cmocka_unit_test(test_lower_bound),
        cmocka_unit_test(test_proto_names),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
