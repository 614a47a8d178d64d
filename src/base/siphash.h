/* SipHash-2-4 and SipHash-1-3 (Aumasson and Bernstein, 2012): keyed
 * hashes for the tables and the ISN and port selectors, so that an attacker
 * who picks addresses and ports cannot predict or collide them. */
#ifndef PM_BASE_SIPHASH_H
#define PM_BASE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_sipkey {
    uint64_t k0, k1;
} pm_sipkey;

uint64_t pm_siphash24(const pm_sipkey *key, const void *data, size_t len);
uint64_t pm_siphash13(const pm_sipkey *key, const void *data, size_t len);

#endif
