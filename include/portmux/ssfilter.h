/* ss's filter language over pm_diag_sock rows:
 *
 *   [state NAME]... [exclude NAME]... [EXPR]
 *   EXPR := EXPR and EXPR | EXPR or EXPR | EXPR EXPR (and) | not EXPR | ! EXPR
 *         | ( EXPR ) | src HOST | dst HOST | sport OP PORT | dport OP PORT
 *   OP   := = == eq != ne neq < lt <= le leq > gt >= ge geq (none: =)
 *   HOST := ADDR[/PLEN][:PORT] | [V6ADDR[/PLEN]][:PORT] | *[:PORT] | :PORT
 *   PORT := number | service name | *
 *
 * As in ss (misc/ssfilter.y), `and` and `or` bind equally and group from the
 * left: "a or b and c" is "(a or b) and c"; `not` takes one term.
 *
 * Matching follows the kernel's inet_diag_bc_run(), which is what ss shows
 * when its filter runs as bytecode: an IPv4 prefix matches IPv4 sockets and
 * IPv4-mapped addresses of IPv6 sockets; an IPv6 prefix matches IPv6
 * sockets only. The same filter compiles to inet_diag bytecode
 * (INET_DIAG_REQ_BYTECODE) so the kernel can run it.
 *
 * Pure code: no allocation (nodes live in the struct), no I/O. */
#ifndef PORTMUX_SSFILTER_H
#define PORTMUX_SSFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"
#include "portmux/diag.h"

enum pm_ssf_kind {
    PM_SSF_AND,
    PM_SSF_OR,
    PM_SSF_NOT,
    PM_SSF_SCOND, /* local address/prefix and/or port */
    PM_SSF_DCOND, /* remote address/prefix and/or port */
    PM_SSF_S_GE,  /* local port >= port */
    PM_SSF_S_LE,
    PM_SSF_D_GE,
    PM_SSF_D_LE,
};

typedef struct pm_ssf_node {
    uint8_t kind;
    uint8_t family; /* conditions: 0 (port only), PM_AF_INET, PM_AF_INET6 */
    uint8_t plen;   /* bits of the family's address; 0 with family 0 */
    int32_t port;   /* -1: any */
    pm_ip addr;
    int16_t a, b; /* children (AND, OR: a, b; NOT: a) */
} pm_ssf_node;

#define PM_SSF_MAX_NODES 256
#define PM_SSF_MAX_DEPTH 64

typedef struct pm_ssf {
    unsigned states; /* from state/exclude; 0 when none was given */
    int root;        /* -1: no expression */
    int n;
    pm_ssf_node nodes[PM_SSF_MAX_NODES];
} pm_ssf;

/* Resolves a service name for sport/dport/:PORT; returns the port or -1. */
typedef int (*pm_ssf_port_fn)(void *ctx, const char *name);

/* Parses argv[0..argc) (each element may hold several tokens). On error
 * returns -EINVAL and writes a message naming the offending token to err. */
int pm_ssf_parse(pm_ssf *f, int argc, char *const *argv, pm_ssf_port_fn port_fn, void *ctx,
                 char *err, size_t errlen);
/* One string. */
int pm_ssf_parse_str(pm_ssf *f, const char *text, pm_ssf_port_fn port_fn, void *ctx, char *err,
                     size_t errlen);

/* Does the socket pass the expression (the state mask not included)? */
bool pm_ssf_match(const pm_ssf *f, const pm_diag_sock *s);

/* Canonical text, fully parenthesised; what it prints, it parses back to
 * the same filter. Returns the length it needed (as snprintf). */
size_t pm_ssf_format(const pm_ssf *f, char *buf, size_t cap);

/* inet_diag bytecode (struct inet_diag_bc_op programs), as ss's
 * ssfilter_bytecompile() lays it out. Returns the length in bytes, 0 when
 * there is no expression, -E2BIG when it does not fit cap or the 16-bit
 * jump offsets. */
int pm_ssf_compile(const pm_ssf *f, uint8_t *buf, size_t cap);
/* The kernel's checks (inet_diag_bc_audit) and interpreter
 * (inet_diag_bc_run), in user space: what tests and the fuzzer hold the
 * compiler to. audit returns 0 or -EINVAL. */
int pm_ssf_bc_audit(const uint8_t *bc, size_t len);
bool pm_ssf_bc_run(const uint8_t *bc, size_t len, const pm_diag_sock *s);

#endif
