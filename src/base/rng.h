/* A seeded pseudo-random generator (xoshiro256**). The library never
 * reads /dev/urandom: the caller seeds it, which keeps runs reproducible.
 * Not for secrets by itself: callers that need unpredictability seed it
 * from getrandom(2) and key a SipHash with its output. */
#ifndef PM_BASE_RNG_H
#define PM_BASE_RNG_H

#include <stdint.h>

typedef struct pm_rng {
    uint64_t s[4];
} pm_rng;

void pm_rng_seed(pm_rng *r, uint64_t seed);
uint64_t pm_rng_next(pm_rng *r);
/* Uniform in [0, bound), bound > 0, without modulo bias (Lemire). */
uint32_t pm_rng_below(pm_rng *r, uint32_t bound);

#endif
