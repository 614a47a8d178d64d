/* Addresses, socket addresses and the 5-tuple. */
#ifndef PORTMUX_ADDR_H
#define PORTMUX_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Address families and protocol numbers, with Linux's values. */
enum { PM_AF_INET = 2, PM_AF_INET6 = 10 };
enum {
    PM_IPPROTO_ICMP = 1,
    PM_IPPROTO_TCP = 6,
    PM_IPPROTO_UDP = 17,
    PM_IPPROTO_ICMPV6 = 58,
    PM_IPPROTO_DCCP = 33,
    PM_IPPROTO_SCTP = 132,
};

/* An IP address. IPv4 is held IPv4-mapped (::ffff:a.b.c.d, RFC 4291
 * 2.5.5.2), as Linux's dual-stack sockets see it, so every table keys on
 * the same 16 bytes. The IPv4 wildcard is ::ffff:0.0.0.0, distinct from
 * the IPv6 wildcard ::. */
typedef struct pm_ip {
    uint8_t b[16];
} pm_ip;

/* A socket address: (family, IP, port). The port is in host order. */
typedef struct pm_sockaddr {
    uint16_t family; /* PM_AF_INET or PM_AF_INET6 */
    uint16_t port;
    pm_ip ip;
} pm_sockaddr;

/* A connection's 5-tuple, from the local host's side. Ports in host order. */
typedef struct pm_tuple {
    pm_ip laddr;
    pm_ip faddr;
    uint16_t lport;
    uint16_t fport;
    uint8_t proto;
} pm_tuple;

/* Longest text forms, NUL included. */
#define PM_IP_STRLEN       46
#define PM_SOCKADDR_STRLEN 56

pm_ip pm_ip4(uint32_t host_order);        /* a.b.c.d as ::ffff:a.b.c.d */
pm_ip pm_ip4_bytes(const uint8_t b[4]);   /* from network-order bytes */
bool pm_ip_is_v4(const pm_ip *ip);        /* IPv4-mapped? */
uint32_t pm_ip_v4(const pm_ip *ip);       /* the IPv4 address, host order */
bool pm_ip_is_any(const pm_ip *ip);       /* :: or 0.0.0.0 */
bool pm_ip_is_loopback(const pm_ip *ip);  /* ::1 or 127/8 */
bool pm_ip_is_multicast(const pm_ip *ip); /* ff00::/8 or 224/4 */
bool pm_ip_eq(const pm_ip *a, const pm_ip *b);
int pm_ip_cmp(const pm_ip *a, const pm_ip *b);
extern const pm_ip pm_ip_any6; /* :: */
extern const pm_ip pm_ip_any4; /* ::ffff:0.0.0.0 */

/* Text forms. parse accepts dotted quads and RFC 4291 IPv6 text and sets
 * *family (PM_AF_INET or PM_AF_INET6); returns 0 or -EINVAL. format writes
 * IPv4-mapped addresses as dotted quads. */
int pm_ip_parse(const char *s, pm_ip *out, int *family);
const char *pm_ip_format(const pm_ip *ip, char buf[PM_IP_STRLEN]);
/* "1.2.3.4:80", "[::1]:80". */
const char *pm_sockaddr_format(const pm_sockaddr *sa, char buf[PM_SOCKADDR_STRLEN]);

/* A prefix, "10.0.0.0/8" or "2001:db8::/32"; plen counts bits of the
 * 128-bit form, so an IPv4 /8 is stored as /104. */
typedef struct pm_prefix {
    pm_ip ip;
    uint8_t plen;
    uint8_t family;
} pm_prefix;
int pm_prefix_parse(const char *s, pm_prefix *out); /* 0 or -EINVAL */
bool pm_prefix_contains(const pm_prefix *p, const pm_ip *ip);

#endif
