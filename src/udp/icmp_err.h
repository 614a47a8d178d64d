/* ICMP and ICMPv6 errors as a socket sees them: errno and whether the
 * error is hard (RFC 1122 3.2.2.1, 4.2.3.9; RFC 4443; RFC 5927). */
#ifndef PM_UDP_ICMP_ERR_H
#define PM_UDP_ICMP_ERR_H

#include <stdbool.h>
#include <stdint.h>

/* Linux icmp_err_convert[] / icmpv6_err_convert(): 0 and *err (positive
 * errno), *hard; -1 for an ICMP message that is not reported. */
int pm_icmp_err_convert(int version, uint8_t type, uint8_t code, int *err, bool *hard);

/* Linux icmp_global_allow(): a token bucket of burst tokens refilled at
 * per_sec. per_sec 0: nothing is sent. */
typedef struct pm_icmp_limit {
    uint64_t stamp_us;
    uint32_t tokens;
} pm_icmp_limit;
bool pm_icmp_limit_allow(pm_icmp_limit *l, uint32_t per_sec, uint32_t burst, uint64_t now);

#endif
