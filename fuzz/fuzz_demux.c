/* The established/TIME_WAIT table driven by arbitrary operations, checked
 * against a model after each: 3 bytes an operation (what, which key,
 * argument) over 64 keys, with growth from a one-bucket index and a
 * TIME_WAIT limit of 8. The listener and UDP tables get the same keys as
 * sockets and must never crash or return an unknown handle. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/demux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { NK = 64 };

static pm_tuple key_of(unsigned i)
{
    pm_tuple k;
    memset(&k, 0, sizeof k);
    k.laddr = (i & 1) ? pm_ip4(0x0a000001) : pm_ip_any6;
    if (!(i & 1)) k.laddr.b[15] = 1; /* ::1 */
    k.faddr = (i & 1) ? pm_ip4(0xc0000200u | (i >> 3)) : pm_ip_any6;
    if (!(i & 1)) k.faddr.b[0] = 0x20, k.faddr.b[15] = (uint8_t)(i >> 3);
    k.lport = (uint16_t)(80 + ((i >> 1) & 3));
    k.fport = (uint16_t)(1000 + i);
    k.proto = (i & 32) ? PM_IPPROTO_UDP : PM_IPPROTO_TCP;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_ehash_config c = {.key = {1, 2},
                         .initial_entries = 1,
                         .max_entries = 48,
                         .max_tw = 8,
                         .tw_timeout_us = 1000,
                         .siphash = size & 1};
    pm_ehash *t;
    if (pm_ehash_create(&t, &c)) abort();
    pm_lhash *lh;
    pm_udptab *ut;
    uint64_t key[2] = {3, 4};
    if (pm_lhash_create(&lh, key) || pm_udptab_create(&ut, key)) abort();
    int kind[NK] = {0}; /* 0 absent, 1 established, 2 TIME_WAIT (may be recycled) */
    uint32_t handle[NK] = {0};
    int est = 0;
    uint64_t now = 0;
    for (size_t p = 0; p + 3 <= size; p += 3) {
        unsigned op = data[p] % 8, i = data[p + 1] % NK, arg = data[p + 2];
        pm_tuple k = key_of(i);
        pm_tw_state st = {.snd_nxt = arg};
        uint32_t ref, r = pm_ehash_lookup(t, &k);
        /* TIME_WAIT entries may be recycled or expire: refresh the model. */
        if (kind[i] == 2 && r == PM_EHASH_MISS) kind[i] = 0;
        if (kind[i] == 0 && r != PM_EHASH_MISS) abort();
        if (kind[i] == 1 && r != handle[i]) abort();
        if (kind[i] == 2 && !pm_ehash_is_tw(r)) abort();
        switch (op) {
        case 0:
        case 1: {
            int rc = pm_ehash_insert(t, &k, arg);
            if (kind[i] ? rc != -EEXIST : (est < 48 ? rc != 0 : rc != -ENOBUFS)) abort();
            if (rc == 0) kind[i] = 1, handle[i] = arg, est++;
            break;
        }
        case 2: {
            int64_t rc = pm_ehash_remove(t, &k);
            if (kind[i] == 1 ? rc != handle[i] : rc != -ENOENT) abort();
            if (rc >= 0) kind[i] = 0, est--;
            break;
        }
        case 3: {
            int64_t rc = pm_ehash_to_timewait(t, &k, &st, now, &ref);
            int ok = kind[i] == 1 && k.proto == PM_IPPROTO_TCP;
            if (ok ? rc != handle[i] : rc != -ENOENT) abort();
            if (ok) kind[i] = 2, est--;
            break;
        }
        case 4:
            if (kind[i] == 2) {
                if (arg & 1) {
                    if (pm_ehash_tw_remove(t, r)) abort();
                    kind[i] = 0;
                } else if (pm_ehash_tw_reschedule(t, r, now, &ref)) {
                    abort();
                }
            } else if (pm_ehash_tw_remove(t, r) != -ENOENT) {
                abort();
            }
            break;
        case 5: {
            now += arg * 10u;
            pm_tw_entry out[4];
            while (pm_ehash_tw_expire(t, now, out, 4) == 4) {
            }
            break;
        }
        case 6: {
            pm_tuple batch[8];
            uint32_t res[8];
            for (unsigned j = 0; j < 8; j++) batch[j] = key_of((i + j * arg) % NK);
            pm_ehash_lookup_bulk(t, batch, 8, res);
            for (unsigned j = 0; j < 8; j++)
                if (res[j] != pm_ehash_lookup(t, &batch[j])) abort();
            break;
        }
        default: {
            pm_demux_sock s;
            memset(&s, 0, sizeof s);
            s.family = (arg & 1) ? PM_AF_INET : PM_AF_INET6;
            s.laddr = (arg & 2) ? k.laddr : (s.family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6);
            s.faddr = (arg & 4) ? k.faddr : pm_ip_any6;
            s.fport = (arg & 4) ? k.fport : 0;
            s.lport = k.lport;
            s.v6only = arg & 8;
            s.reuseport = arg & 16;
            s.ifindex = (arg >> 5) & 1;
            s.handle = i;
            if (arg & 64) {
                pm_lhash_remove(lh, &s);
                pm_udptab_remove(ut, &s);
            } else {
                pm_lhash_insert(lh, &s);
                pm_udptab_insert(ut, &s);
            }
            uint32_t h1 = pm_lhash_lookup(lh, &k, arg & 1);
            uint32_t h2 = pm_udptab_lookup(ut, &k, arg & 1);
            if ((h1 != PM_DEMUX_NONE && h1 >= NK) || (h2 != PM_DEMUX_NONE && h2 >= NK)) abort();
            pm_udptab_iter it;
            uint32_t h;
            pm_udptab_mcast_begin(ut, &it, &k, 0);
            while (pm_udptab_mcast_next(ut, &it, &h))
                if (h >= NK) abort();
        }
        }
    }
    pm_ehash_destroy(t);
    pm_lhash_destroy(lh);
    pm_udptab_destroy(ut);
    return 0;
}
