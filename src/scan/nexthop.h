/* The route and next hop to a target (rtnetlink), for sending frames
 * straight to the device. */
#ifndef PM_SCAN_NEXTHOP_H
#define PM_SCAN_NEXTHOP_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "portmux/addr.h"

typedef struct pm_scan_nexthop {
    int family; /* PM_AF_INET or PM_AF_INET6 */
    int ifindex;
    int mtu;
    char ifname[IF_NAMESIZE];
    pm_ip src;     /* the route's preferred source */
    pm_ip gateway; /* if has_gateway */
    bool has_gateway;
    pm_ip hop; /* gateway, or the target itself when on-link */
    uint8_t src_mac[6], dst_mac[6];
} pm_scan_nexthop;

/* Route lookup; 0, or a negative errno (-EPFNOSUPPORT: not Ethernet,
 * -ENETUNREACH: not a unicast route). Fills all but dst_mac. */
int pm_scan_route(const pm_ip *dst, int family, pm_scan_nexthop *nh);
/* The next hop's MAC address, resolving it (ARP or neighbour discovery,
 * by the kernel) for up to wait_ms. 0, -EHOSTUNREACH, or a negative errno. */
int pm_scan_neighbour(pm_scan_nexthop *nh, int wait_ms);

#endif
