/* The service registry: port numbers and service names, read from a
 * services(5)-format file ("name port/proto [aliases...] [# comment]").
 *
 * Source, first found: $PORTMUX_SERVICES; IANA's registry as Debian ships
 * it in libwireshark-data (/usr/share/wireshark/services); /etc/services. */
#ifndef PORTMUX_SERVICES_H
#define PORTMUX_SERVICES_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_service {
    uint16_t port;
    uint8_t proto;        /* PM_IPPROTO_TCP, _UDP, or 132 (SCTP), 33 (DCCP) */
    const char *name;     /* as written in the file */
    const char **aliases; /* NULL-terminated */
    const char *comment;  /* the text after '#', trimmed; "" if none */
} pm_service;

typedef struct pm_registry pm_registry;

/* path NULL: the default search above. Returns 0 or a negative errno
 * (-ENOENT when no file is found); *out is owned by the caller. */
int pm_registry_load(pm_registry **out, const char *path);
/* Parses services(5) text from memory (what the fuzzer drives). */
int pm_registry_parse(pm_registry **out, const char *text, size_t len, const char *origin);
void pm_registry_free(pm_registry *r);
const char *pm_registry_origin(const pm_registry *r); /* the file read */

/* O(log n) lookups; NULL when absent. Names match case-insensitively,
 * aliases included. proto 0 means any protocol (TCP first). */
const pm_service *pm_registry_by_port(const pm_registry *r, uint16_t port, uint8_t proto);
const pm_service *pm_registry_by_name(const pm_registry *r, const char *name, uint8_t proto);
/* Every entry, sorted by (port, proto). */
size_t pm_registry_count(const pm_registry *r);
const pm_service *pm_registry_at(const pm_registry *r, size_t i);
/* First index with port >= port, for range listings. */
size_t pm_registry_lower_bound(const pm_registry *r, uint16_t port);

/* "tcp", "udp", "sctp", "dccp" <-> protocol number; 0 / -EINVAL if unknown. */
const char *pm_proto_name(uint8_t proto);
int pm_proto_parse(const char *s);

#endif
