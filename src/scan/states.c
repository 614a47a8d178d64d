/* nmap's names for port states and reasons. */
#include "portmux/scan.h"

const char *pm_port_state_name(int s)
{
    switch (s) {
    case PM_PORT_OPEN: return "open";
    case PM_PORT_CLOSED: return "closed";
    case PM_PORT_FILTERED: return "filtered";
    case PM_PORT_UNFILTERED: return "unfiltered";
    case PM_PORT_OPENFILTERED: return "open|filtered";
    default: return "unknown";
    }
}

const char *pm_reason_name(int r)
{
    static const char *const names[PM_R_COUNT] = {
        [PM_R_NONE] = "unknown",
        [PM_R_SYN_ACK] = "syn-ack",
        [PM_R_RESET] = "reset",
        [PM_R_CONN_REFUSED] = "conn-refused",
        [PM_R_NO_RESPONSE] = "no-response",
        [PM_R_UDP_RESPONSE] = "udp-response",
        [PM_R_PORT_UNREACH] = "port-unreach",
        [PM_R_HOST_UNREACH] = "host-unreach",
        [PM_R_NET_UNREACH] = "net-unreach",
        [PM_R_PROTO_UNREACH] = "proto-unreach",
        [PM_R_NET_PROHIBITED] = "net-prohibited",
        [PM_R_HOST_PROHIBITED] = "host-prohibited",
        [PM_R_ADMIN_PROHIBITED] = "admin-prohibited",
        [PM_R_ADDR_UNREACH] = "addr-unreach",
    };
    return r >= 0 && r < PM_R_COUNT ? names[r] : "unknown";
}
