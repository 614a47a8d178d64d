/* portmux ss: shared between cmd_ss.c (options, sources, summary, --ports)
 * and ss_out.c (the ss-compatible table and JSON rows). */
#ifndef PM_TOOLS_SS_H
#define PM_TOOLS_SS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "portmux/diag.h"
#include "portmux/services.h"

typedef struct ss_opts {
    bool tcp, udp;
    bool numeric, resolve;
    bool ext, timers, procs;
    bool summary, json, ports;
    bool v4, v6;
    bool no_header;
    bool no_extra;      /* drop the Service and Class columns */
    bool force_proc;    /* read /proc/net even when netlink works */
    bool no_bytecode;   /* filter in user space */
    unsigned state_opt; /* from -a / -l; 0 none */
    unsigned states;    /* the state mask in effect */
} ss_opts;

/* Service names for ports, from the registry (services.h); ss's rule for
 * the address columns: ports inside the ephemeral range are not named. */
typedef struct ss_names {
    pm_registry *reg;
    bool tried;
    uint16_t eph_lo, eph_hi;
    const char **cache[2]; /* [udp?][port]: lazily filled; "" = none */
} ss_names;

const char *ss_service(ss_names *nm, uint16_t port, uint8_t proto); /* NULL: none */
void ss_names_free(ss_names *nm);

/* Prints the rows as ss does, then Service and Class. */
int ss_print_table(const ss_opts *o, ss_names *nm, const pm_diag_table *t,
                   const pm_diag_owners *owners, FILE *out);
/* The rows as a JSON array under "sockets" in an open object. */
void ss_print_json_rows(const ss_opts *o, ss_names *nm, const pm_diag_table *t,
                        const pm_diag_owners *owners, pm_json *j);

#endif
