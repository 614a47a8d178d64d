/* Service registry lookups: pm_registry_by_port/by_name against glibc's
 * getservbyport/getservbyname on the same file (/etc/services, the one
 * glibc reads), every entry and every name, in the same run. Also the cost
 * of loading IANA's registry and of lookups in it (no peer: glibc cannot
 * read that file).
 *
 *   build/bench/services [--quick] [--json]
 *
 * The last line is one JSON object: portmux's lookups per second, glibc's,
 * and the ratio (medians of the rounds). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "portmux/services.h"

static double now_s(void)
{
    return bench_now_s(CLOCK_MONOTONIC);
}

typedef struct query {
    uint16_t port;
    uint8_t proto;
    const char *name;
} query;

static volatile uintptr_t sink;

/* Lookups per second over the query set, repeated for about secs. */
static double rate_portmux(const pm_registry *r, const query *q, size_t nq, double secs)
{
    size_t done = 0;
    double t0 = now_s(), t;
    do {
        for (size_t i = 0; i < nq; i++) {
            sink += (uintptr_t)pm_registry_by_port(r, q[i].port, q[i].proto);
            sink += (uintptr_t)pm_registry_by_name(r, q[i].name, q[i].proto);
        }
        done += 2 * nq;
    } while ((t = now_s() - t0) < secs);
    return (double)done / t;
}

static double rate_libc(const query *q, size_t nq, double secs)
{
    size_t done = 0;
    double t0 = now_s(), t;
    setservent(1); /* keep the file open between calls, glibc's fastest mode */
    do {
        for (size_t i = 0; i < nq; i++) {
            const char *proto = pm_proto_name(q[i].proto);
            sink += (uintptr_t)getservbyport(htons(q[i].port), proto);
            sink += (uintptr_t)getservbyname(q[i].name, proto);
        }
        done += 2 * nq;
    } while ((t = now_s() - t0) < secs);
    endservent();
    return (double)done / t;
}

static query *queries_of(const pm_registry *r, size_t *nq)
{
    size_t n = pm_registry_count(r);
    query *q = malloc((n ? n : 1) * sizeof *q);
    if (!q) exit(1);
    for (size_t i = 0; i < n; i++) {
        const pm_service *s = pm_registry_at(r, i);
        q[i] = (query){s->port, s->proto, s->name};
    }
    *nq = n;
    return q;
}

int main(int argc, char **argv)
{
    bool quick = false, json = false;
    if (bench_args(argc, argv, &quick, &json)) return 2;
    const int rounds = quick ? 5 : 9;
    const double secs = quick ? 0.4 : 1.5;

    pm_registry *etc;
    if (pm_registry_load(&etc, "/etc/services") != 0) {
        fprintf(stderr, "services bench: /etc/services is needed (glibc's file)\n");
        return 1;
    }
    size_t nq;
    query *q = queries_of(etc, &nq);
    double pm[9], lc[9];
    for (int i = 0; i < rounds; i++) {
        pm[i] = rate_portmux(etc, q, nq, secs);
        lc[i] = rate_libc(q, nq, secs);
        if (!json)
            printf("round %d: portmux %.3g lookups/s, glibc %.3g lookups/s\n", i + 1, pm[i], lc[i]);
    }
    double pm_med = bench_median(pm, rounds), lc_med = bench_median(lc, rounds);

    /* IANA's registry: load time and lookups, no peer. */
    double load_ms = -1, iana_rate = -1;
    size_t iana_n = 0;
    pm_registry *iana;
    if (pm_registry_load(&iana, "/usr/share/wireshark/services") == 0) {
        pm_registry_free(iana);
        double loads[9], rates[9];
        for (int i = 0; i < rounds; i++) {
            double t0 = now_s();
            if (pm_registry_load(&iana, "/usr/share/wireshark/services") != 0) return 1;
            loads[i] = (now_s() - t0) * 1e3;
            size_t n;
            query *iq = queries_of(iana, &n);
            iana_n = n;
            rates[i] = rate_portmux(iana, iq, n, secs / 2);
            free(iq);
            pm_registry_free(iana);
        }
        load_ms = bench_median(loads, rounds);
        iana_rate = bench_median(rates, rounds);
        if (!json)
            printf("IANA registry: %zu entries, load %.2f ms, %.3g lookups/s\n", iana_n, load_ms,
                   iana_rate);
    }

    printf("{\"bench\":\"services\",\"metric\":\"lookups_per_s\",\"file\":\"/etc/services\","
           "\"entries\":%zu,\"rounds\":%d,\"portmux\":%.0f,\"peer\":\"glibc "
           "getservbyport+getservbyname\",\"peer_value\":%.0f,\"ratio\":%.1f,"
           "\"iana_entries\":%zu,\"iana_load_ms\":%.2f,\"iana_lookups_per_s\":%.0f}\n",
           nq, rounds, pm_med, lc_med, lc_med > 0 ? pm_med / lc_med : 0.0, iana_n, load_ms,
           iana_rate);
    free(q);
    pm_registry_free(etc);
    return 0;
}
