/* Errors. Every function that can fail returns a negative errno value, as
 * the Linux kernel does (-EADDRINUSE, -EACCES, ...), or one of portmux's own
 * codes below for malformed packets, which need finer names than errno has.
 * Each own code is also the index of a counter (pm_wire_stats). */
#ifndef PORTMUX_ERR_H
#define PORTMUX_ERR_H

#include <errno.h>

enum pm_err {
    PM_ERR_BASE = 4096,
    PM_E_TRUNCATED = PM_ERR_BASE, /* shorter than the header's fixed part */
    PM_E_VERSION,                 /* IP version is neither 4 nor 6 */
    PM_E_IHL,                     /* IPv4 IHL < 5 or past the packet */
    PM_E_TOTLEN,                  /* IPv4 total length lies */
    PM_E_PAYLEN,                  /* IPv6 payload length past the buffer */
    PM_E_EXTHDR,                  /* IPv6 extension chain overruns or loops */
    PM_E_CHECKSUM,                /* bad IPv4, TCP, UDP or ICMP checksum */
    PM_E_DOFF,                    /* TCP data offset < 5 or past the segment */
    PM_E_OPTLEN,                  /* option length 0, 1, wrong for its kind, or past the header */
    PM_E_URGPTR,                  /* urgent pointer past the data */
    PM_E_UDPLEN,                  /* UDP length < 8 or past the datagram */
    PM_E_ICMP,                    /* ICMP error whose quoted packet is unusable */
    PM_E_ADDR,                    /* source address that may not appear on the wire */
    PM_E_PROTO,                   /* transport protocol not handled */
    PM_E_FRAGMENT,                /* a fragment: recognised, not reassembled */
    PM_E_OPTDUP,                  /* a known TCP option kind appears twice */
    PM_E__END
};
#define PM_E_COUNT (PM_E__END - PM_ERR_BASE)

/* Words for a negative errno or a negative pm_err; never NULL. */
const char *pm_strerror(int err);
/* Short symbolic name: "EADDRINUSE", "E_TRUNCATED"; never NULL. */
const char *pm_errname(int err);

#endif
