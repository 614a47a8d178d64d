/* The service registry: port numbers and service names, read from a
 * services(5)-format file ("name port/proto [aliases...] [# comment]").
 *
 * Source, first found: $PORTMUX_SERVICES; IANA's registry as Debian ships
 * it in libwireshark-data (/usr/share/wireshark/services); /etc/services.
 *
 * Besides services(5) proper, the parser takes the two extensions of
 * Wireshark's copy of the IANA registry: merged protocols ("80/tcp/udp/sctp")
 * and port ranges ("6665-6669/tcp", expanded; at most PM_REGISTRY_MAX_RANGE
 * ports). One entry per (port, proto): a later line for the same pair adds
 * its name and aliases to the first one's aliases, and glibc's
 * getservbyport() would also answer with the first. */
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

#define PM_REGISTRY_MAX_RANGE   256         /* widest "lo-hi" range expanded */
#define PM_REGISTRY_MAX_ALIASES 32          /* aliases kept per entry */
#define PM_REGISTRY_MAX_FILE    (64u << 20) /* pm_registry_load refuses more: -EFBIG */

/* path NULL: the default search above. Returns 0 or a negative errno
 * (-ENOENT when no file is found); *out is owned by the caller. */
int pm_registry_load(pm_registry **out, const char *path);
/* Parses services(5) text from memory (what the fuzzer drives). Any bytes
 * are accepted; lines that cannot be used are skipped and counted. Returns 0
 * or -ENOMEM. origin names the source for pm_registry_origin (NULL: "-"). */
int pm_registry_parse(pm_registry **out, const char *text, size_t len, const char *origin);
void pm_registry_free(pm_registry *r);
const char *pm_registry_origin(const pm_registry *r); /* the file read */

/* What the parser saw and what it skipped, per line unless noted. */
typedef struct pm_registry_counters {
    size_t lines;           /* lines read, blank and comment lines included */
    size_t entries;         /* (port, proto) entries in the registry */
    size_t no_port;         /* a name with no port/proto field */
    size_t bad_port;        /* port not a number, > 65535, or a bad or too wide range */
    size_t bad_proto;       /* no "/proto", an empty one, or no known one */
    size_t unknown_proto;   /* protocols other than tcp/udp/sctp/dccp skipped (per name) */
    size_t duplicates;      /* entries merged into an earlier (port, proto) */
    size_t aliases_dropped; /* aliases past PM_REGISTRY_MAX_ALIASES */
} pm_registry_counters;
const pm_registry_counters *pm_registry_counters_of(const pm_registry *r);

/* O(log n) lookups; NULL when absent. Names match case-insensitively
 * (ASCII), aliases included. proto 0 means any protocol (TCP first, then
 * by protocol number). When a name is on several entries of a protocol,
 * by_name answers as glibc's getservbyname() does: with the first line of
 * the file that carries it, as name or alias ("http-alt" is 591, not 8080;
 * in /etc/services "dicom" is 104, an alias, before 11112). */
const pm_service *pm_registry_by_port(const pm_registry *r, uint16_t port, uint8_t proto);
const pm_service *pm_registry_by_name(const pm_registry *r, const char *name, uint8_t proto);
/* Every entry that name (or an alias) names, in by_name's order: writes
 * up to max of them to out and returns how many there are. O(log n + k). */
size_t pm_registry_by_name_all(const pm_registry *r, const char *name, uint8_t proto,
                               const pm_service **out, size_t max);
/* Every entry, sorted by (port, proto). */
size_t pm_registry_count(const pm_registry *r);
const pm_service *pm_registry_at(const pm_registry *r, size_t i);
/* First index with port >= port, for range listings. */
size_t pm_registry_lower_bound(const pm_registry *r, uint16_t port);

/* "tcp", "udp", "sctp", "dccp" <-> protocol number; NULL / -EINVAL if
 * unknown. Parsing ignores case. */
const char *pm_proto_name(uint8_t proto);
int pm_proto_parse(const char *s);

#endif
