/* The registry against the C library's own reader of the same file: for
 * /etc/services, getservbyport() and getservbyname() (glibc's nss "files"
 * backend) must give the answers pm_registry gives. Skips (77) without
 * /etc/services. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "portmux/services.h"

#define ETC_SERVICES "/etc/services"

static void test_same_answers_as_libc(void **state)
{
    (void)state;
    pm_registry *r;
    assert_int_equal(pm_registry_load(&r, ETC_SERVICES), 0);
    assert_true(pm_registry_count(r) > 100);
    size_t ports = 0, names = 0;
    for (size_t i = 0; i < pm_registry_count(r); i++) {
        const pm_service *s = pm_registry_at(r, i);
        const char *proto = pm_proto_name(s->proto);
        /* By port: glibc answers with the first line for (port, proto). */
        struct servent *se = getservbyport(htons(s->port), proto);
        if (!se) fail_msg("libc knows no %u/%s", s->port, proto);
        assert_string_equal(se->s_name, s->name);
        assert_string_equal(se->s_proto, proto);
        ports++;
        /* By every name: glibc gives the first line carrying it (file
         * order); ours the lowest port, a primary name first. The same
         * port in Debian's file, which is in port order. */
        for (size_t k = 0; k == 0 || s->aliases[k - 1]; k++) {
            const char *nm = k == 0 ? s->name : s->aliases[k - 1];
            se = getservbyname(nm, proto);
            const pm_service *ours = pm_registry_by_name(r, nm, s->proto);
            if (!se || !ours) fail_msg("'%s'/%s: libc %p, portmux %p", nm, proto, se, ours);
            if (ntohs((uint16_t)se->s_port) != ours->port)
                fail_msg("'%s'/%s: libc says %u, portmux %u", nm, proto,
                         ntohs((uint16_t)se->s_port), ours->port);
            names++;
        }
    }
    /* And the misses agree. */
    assert_null(getservbyname("no-such-service-here", "tcp"));
    assert_null(pm_registry_by_name(r, "no-such-service-here", 0));
    print_message("%s: %zu ports and %zu names answered as libc does\n", ETC_SERVICES, ports,
                  names);
    pm_registry_free(r);
}

int main(void)
{
    if (access(ETC_SERVICES, R_OK) != 0) {
        printf("SKIP: %s is absent (Debian package netbase)\n", ETC_SERVICES);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers_as_libc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
