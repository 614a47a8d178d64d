/* The registry portmux loads by default (IANA's, from Debian's
 * libwireshark-data) against IANA's own CSV in $PM_SHARED_DIR/data: the
 * seed's well-known ports answer with IANA's names, and the registry holds
 * IANA's TCP assignments. Skips (77) when either file is missing. */
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

#include "portmux/addr.h"
#include "portmux/ports.h"
#include "portmux/services.h"

#define WIRESHARK_SERVICES "/usr/share/wireshark/services"
#define CSV_NAME           "data/iana-service-names-port-numbers.csv"

enum { TCP = PM_IPPROTO_TCP, UDP = PM_IPPROTO_UDP };

/* IANA's CSV: the service names of each (port, proto), as lists. */
typedef struct csv_name {
    char *name;
    struct csv_name *next;
} csv_name;

static const uint8_t csv_protos[] = {PM_IPPROTO_TCP, PM_IPPROTO_UDP, 132 /* SCTP */, 33 /* DCCP */};
static csv_name *csv[65536][4];
static size_t csv_rows;
static char csv_path[4096];

static int proto_index(uint8_t p)
{
    for (int i = 0; i < 4; i++)
        if (csv_protos[i] == p) return i;
    return -1;
}

/* One RFC 4180 field: quotes, doubled quotes, commas and newlines inside
 * quotes. Returns the separator that ended it (',', '\n' or EOF). */
static int csv_field(FILE *f, char *buf, size_t cap)
{
    size_t n = 0;
    int c, quoted = 0;
    c = fgetc(f);
    if (c == '"') {
        quoted = 1;
        c = fgetc(f);
    }
    for (;; c = fgetc(f)) {
        if (c == EOF) break;
        if (quoted && c == '"') {
            c = fgetc(f);
            if (c != '"') quoted = 0;
            if (!quoted) {
                while (c == '\r') c = fgetc(f);
                break;
            }
        } else if (!quoted && (c == ',' || c == '\n')) {
            break;
        } else if (!quoted && c == '\r') {
            continue;
        }
        if (n + 1 < cap) buf[n++] = (char)c;
    }
    buf[n] = '\0';
    return c == EOF ? EOF : c;
}

static void load_csv(void)
{
    FILE *f = fopen(csv_path, "r");
    assert_non_null(f);
    char field[4096], name[256], port[64], proto[16];
    int sep = csv_field(f, field, sizeof field); /* header */
    assert_string_equal(field, "Service Name");
    while (sep == ',') sep = csv_field(f, field, sizeof field);
    while (sep != EOF) {
        int col = 0;
        name[0] = port[0] = proto[0] = '\0';
        do {
            if (col == 0)
                sep = csv_field(f, name, sizeof name);
            else if (col == 1)
                sep = csv_field(f, port, sizeof port);
            else if (col == 2)
                sep = csv_field(f, proto, sizeof proto);
            else
                sep = csv_field(f, field, sizeof field);
            col++;
        } while (sep == ',');
        if (col < 3) continue;
        csv_rows++;
        char *end;
        long lo = strtol(port, &end, 10), hi = lo;
        if (end == port) continue; /* unassigned service names have no port */
        if (*end == '-') hi = strtol(end + 1, &end, 10);
        int pi = proto_index((uint8_t)(pm_proto_parse(proto) < 0 ? 0 : pm_proto_parse(proto)));
        if (!name[0] || pi < 0 || lo < 0 || hi > 65535 || lo > hi) continue;
        for (long p = lo; p <= hi; p++) {
            csv_name *e = malloc(sizeof *e);
            assert_non_null(e);
            e->name = strdup(name);
            assert_non_null(e->name);
            e->next = csv[p][pi];
            csv[p][pi] = e;
        }
    }
    fclose(f);
}

static void free_csv(void)
{
    for (size_t p = 0; p < 65536; p++)
        for (int i = 0; i < 4; i++)
            for (csv_name *e = csv[p][i], *next; e; e = next) {
                next = e->next;
                free(e->name);
                free(e);
            }
}

static int csv_has(uint16_t port, uint8_t proto, const char *name)
{
    for (const csv_name *e = csv[port][proto_index(proto)]; e; e = e->next)
        if (!strcasecmp(e->name, name)) return 1;
    return 0;
}

static pm_registry *reg;

static int setup(void **state)
{
    (void)state;
    load_csv();
    unsetenv("PORTMUX_SERVICES");
    return pm_registry_load(&reg, NULL);
}

static int teardown(void **state)
{
    (void)state;
    pm_registry_free(reg);
    free_csv();
    return 0;
}

static void test_default_is_iana(void **state)
{
    (void)state;
    assert_string_equal(pm_registry_origin(reg), WIRESHARK_SERVICES);
    assert_true(csv_rows > 10000);
}

/* The seed's table of well-known ports. name NULL: the seed names none;
 * the registry's name must still be one IANA gives. */
static const struct {
    uint16_t port;
    uint8_t proto;
    const char *name;
} seed[] = {
    {20, TCP, "ftp-data"},   {21, TCP, "ftp"},          {22, TCP, "ssh"},
    {23, TCP, "telnet"},     {25, TCP, "smtp"},         {53, UDP, "domain"},
    {67, UDP, "bootps"}, /* DHCP server */
    {68, UDP, "bootpc"}, /* DHCP client */
    {69, UDP, "tftp"},       {80, TCP, "http"},         {110, TCP, "pop3"},
    {123, UDP, "ntp"},       {143, TCP, "imap"},        {161, UDP, "snmp"},
    {389, TCP, "ldap"},      {443, TCP, "https"},       {445, TCP, "microsoft-ds"},
    {465, TCP, NULL},        {514, UDP, NULL},          {587, TCP, "submission"},
    {636, TCP, NULL},        {993, TCP, "imaps"},       {995, TCP, "pop3s"},
    {1433, TCP, NULL},       {1521, TCP, NULL},         {3306, TCP, "mysql"},
    {3389, TCP, NULL},       {5432, TCP, "postgresql"}, {5900, TCP, NULL},
    {6379, TCP, NULL},       {8080, TCP, "http-alt"},   {8443, TCP, NULL},
    {27017, TCP, "mongodb"},
};

static void test_seed_ports(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof seed / sizeof seed[0]; i++) {
        const pm_service *s = pm_registry_by_port(reg, seed[i].port, seed[i].proto);
        if (!s) fail_msg("no entry for %u/%s", seed[i].port, pm_proto_name(seed[i].proto));
        if (seed[i].name) assert_string_equal(s->name, seed[i].name);
        if (!csv_has(s->port, s->proto, s->name))
            fail_msg("%u/%s is '%s'; IANA's CSV disagrees", s->port, pm_proto_name(s->proto),
                     s->name);
        /* Found by its name too (a name may cover several ports). */
        const pm_service *all[16];
        size_t n = pm_registry_by_name_all(reg, s->name, s->proto, all, 16);
        size_t hits = 0;
        for (size_t k = 0; k < n && k < 16; k++) hits += all[k] == s;
        assert_int_equal(hits, 1);
        /* And over both TCP and UDP where IANA assigns both. */
        for (int p = 0; p < 2; p++) {
            uint8_t proto = p ? UDP : TCP;
            if (!csv[seed[i].port][proto_index(proto)]) continue;
            const pm_service *t = pm_registry_by_port(reg, seed[i].port, proto);
            if (!t)
                fail_msg("no entry for %u/%s, IANA has one", seed[i].port, pm_proto_name(proto));
            assert_true(csv_has(t->port, t->proto, t->name));
        }
    }
    /* The names the seed spells differently, through the case-insensitive
     * index. */
    assert_int_equal(pm_registry_by_name(reg, "HTTPS", TCP)->port, 443);
    assert_int_equal(pm_registry_by_name(reg, "Domain", UDP)->port, 53);
    assert_int_equal(pm_registry_by_name(reg, "PostgreSQL", 0)->port, 5432);
}

/* Every TCP/UDP assignment in the registry agrees with IANA's CSV, and
 * the registry holds IANA's TCP assignments (>= 5,800; Debian 12's copy
 * holds about 5,880). */
static void test_bulk_agreement(void **state)
{
    (void)state;
    size_t tcp = 0, checked = 0, agree = 0, csv_pairs = 0, answered = 0;
    for (size_t i = 0; i < pm_registry_count(reg); i++) {
        const pm_service *s = pm_registry_at(reg, i);
        if (s->proto == TCP) tcp++;
        if (s->proto != TCP && s->proto != UDP) continue;
        checked++;
        agree += csv_has(s->port, s->proto, s->name);
    }
    for (unsigned p = 0; p < 65536; p++) {
        for (int k = 0; k < 2; k++) {
            uint8_t proto = k ? UDP : TCP;
            if (!csv[p][proto_index(proto)]) continue;
            csv_pairs++;
            answered += pm_registry_by_port(reg, (uint16_t)p, proto) != NULL;
        }
    }
    print_message("registry %s: %zu entries, %zu TCP; %zu/%zu TCP+UDP entries named as in "
                  "IANA's CSV; %zu/%zu CSV TCP+UDP assignments answered\n",
                  pm_registry_origin(reg), pm_registry_count(reg), tcp, agree, checked, answered,
                  csv_pairs);
    assert_true(tcp >= 5800);
    /* The two are copies of one registry a year or two apart: names on
     * the same port differ only where IANA changed them since. */
    assert_true(agree * 100 >= checked * 99);
    assert_true(answered * 100 >= csv_pairs * 95);
}

static void test_classes_of_seed(void **state)
{
    (void)state;
    /* RFC 6335 6: every seed port below 1024 is a System Port, the rest
     * User Ports; IANA assigns no Dynamic Port. */
    for (size_t i = 0; i < sizeof seed / sizeof seed[0]; i++)
        assert_int_equal(pm_port_class_of(seed[i].port),
                         seed[i].port < 1024 ? PM_PORT_SYSTEM : PM_PORT_USER);
    size_t dynamic = 0;
    for (size_t i = pm_registry_lower_bound(reg, 49152); i < pm_registry_count(reg); i++) dynamic++;
    assert_int_equal(dynamic, 0);
}

int main(void)
{
    const char *shared = getenv("PM_SHARED_DIR");
    if (access(WIRESHARK_SERVICES, R_OK) != 0) {
        printf("SKIP: %s is absent (Debian package libwireshark-data)\n", WIRESHARK_SERVICES);
        return 77;
    }
    if (!shared || !*shared) {
        printf("SKIP: PM_SHARED_DIR is not set; IANA's CSV is in the shared folder\n");
        return 77;
    }
    snprintf(csv_path, sizeof csv_path, "%s/%s", shared, CSV_NAME);
    if (access(csv_path, R_OK) != 0) {
        printf("SKIP: %s is absent\n", csv_path);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_iana),
        cmocka_unit_test(test_seed_ports),
        cmocka_unit_test(test_bulk_agreement),
        cmocka_unit_test(test_classes_of_seed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
