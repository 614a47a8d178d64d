/* Filters as inet_diag bytecode (INET_DIAG_REQ_BYTECODE), laid out as ss's
 * ssfilter_bytecompile() does, plus user-space copies of the kernel's
 * auditor and interpreter (net/ipv4/inet_diag.c) that the tests and the
 * fuzzer hold the compiler to.
 *
 * A compiled fragment of length L is true when control falls off its end
 * (offset L) and false when it jumps to L + 4; `and`, `or` and `not` glue
 * fragments by relocating those false exits. */
#include "portmux/ssfilter.h"

#include <errno.h>
#include <string.h>

#include <linux/inet_diag.h>

#define MAX_BC 0xff00 /* `no` offsets are 16 bits */

static void put_op(uint8_t *p, uint8_t code, uint8_t yes, uint16_t no)
{
    struct inet_diag_bc_op op = {.code = code, .yes = yes, .no = no};
    memcpy(p, &op, sizeof op);
}

static struct inet_diag_bc_op get_op(const uint8_t *p)
{
    struct inet_diag_bc_op op;
    memcpy(&op, p, sizeof op);
    return op;
}

/* ss: ssfilter_patch(): false exits of a fragment move by reloc. */
static void patch(uint8_t *a, int len, int reloc)
{
    while (len > 0) {
        struct inet_diag_bc_op op = get_op(a);
        if (op.no == len + 4) put_op(a, op.code, op.yes, (uint16_t)(op.no + reloc));
        len -= op.yes;
        a += op.yes;
    }
}

static int compile(const pm_ssf *f, int i, uint8_t *buf, size_t pos, size_t cap)
{
    const pm_ssf_node *n = &f->nodes[i];
    int l1, l2;
    switch (n->kind) {
    case PM_SSF_S_GE:
    case PM_SSF_S_LE:
    case PM_SSF_D_GE:
    case PM_SSF_D_LE: {
        static const uint8_t codes[] = {INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE, INET_DIAG_BC_D_GE,
                                        INET_DIAG_BC_D_LE};
        if (pos + 8 > cap) return -E2BIG;
        put_op(buf + pos, codes[n->kind - PM_SSF_S_GE], 8, 12);
        put_op(buf + pos + 4, 0, 0, (uint16_t)n->port);
        return 8;
    }
    case PM_SSF_SCOND:
    case PM_SSF_DCOND: {
        /* ss writes 4 address bytes for a port-only condition too. */
        int alen = n->family == PM_AF_INET6 ? 16 : 4;
        int oplen = 4 + (int)sizeof(struct inet_diag_hostcond) + alen;
        if (pos + (size_t)oplen > cap) return -E2BIG;
        uint8_t *p = buf + pos;
        put_op(p, n->kind == PM_SSF_SCOND ? INET_DIAG_BC_S_COND : INET_DIAG_BC_D_COND,
               (uint8_t)oplen, (uint16_t)(oplen + 4));
        struct inet_diag_hostcond hc = {
            .family = n->family, .prefix_len = n->plen, .port = n->port};
        memcpy(p + 4, &hc, sizeof hc);
        if (n->family == PM_AF_INET6)
            memcpy(p + 4 + sizeof hc, n->addr.b, 16);
        else if (n->family == PM_AF_INET)
            memcpy(p + 4 + sizeof hc, n->addr.b + 12, 4);
        else
            memset(p + 4 + sizeof hc, 0, 4);
        return oplen;
    }
    case PM_SSF_AND:
        if ((l1 = compile(f, n->a, buf, pos, cap)) < 0) return l1;
        if ((l2 = compile(f, n->b, buf, pos + (size_t)l1, cap)) < 0) return l2;
        if (l1 + l2 > MAX_BC) return -E2BIG;
        patch(buf + pos, l1, l2);
        return l1 + l2;
    case PM_SSF_OR:
        if ((l1 = compile(f, n->a, buf, pos, cap)) < 0) return l1;
        if (pos + (size_t)l1 + 4 > cap) return -E2BIG;
        if ((l2 = compile(f, n->b, buf, pos + (size_t)l1 + 4, cap)) < 0) return l2;
        if (l1 + l2 + 4 > MAX_BC) return -E2BIG;
        /* a true: jump past b (to the end); a false: lands on b. */
        put_op(buf + pos + l1, INET_DIAG_BC_JMP, 4, (uint16_t)(l2 + 4));
        return l1 + 4 + l2;
    case PM_SSF_NOT:
        if ((l1 = compile(f, n->a, buf, pos, cap)) < 0) return l1;
        if (pos + (size_t)l1 + 4 > cap || l1 + 4 > MAX_BC) return -E2BIG;
        /* a true: jump to end + 4 (false); a false: lands on the end. */
        put_op(buf + pos + l1, INET_DIAG_BC_JMP, 4, 8);
        return l1 + 4;
    }
    return -EINVAL;
}

int pm_ssf_compile(const pm_ssf *f, uint8_t *buf, size_t cap)
{
    if (!f || f->root < 0) return 0;
    return compile(f, f->root, buf, 0, cap);
}

/* Linux: valid_cc(): does some op start where cc bytes are left? */
static bool valid_cc(const uint8_t *bc, int len, int cc)
{
    while (len >= 0) {
        if (cc > len) return false;
        if (cc == len) return true;
        struct inet_diag_bc_op op = get_op(bc);
        if (op.yes < 4 || op.yes & 3) return false;
        len -= op.yes;
        bc += op.yes;
    }
    return false;
}

/* Linux: inet_diag_bc_audit() for the codes we emit (plus NOP, JMP). */
int pm_ssf_bc_audit(const uint8_t *bytecode, size_t length)
{
    const uint8_t *bc = bytecode;
    int bytecode_len = (int)length, len = (int)length;
    if (length > MAX_BC) return -EINVAL;
    while (len > 0) {
        if (len < (int)sizeof(struct inet_diag_bc_op)) return -EINVAL;
        int min_len = sizeof(struct inet_diag_bc_op);
        struct inet_diag_bc_op op = get_op(bc);
        switch (op.code) {
        case INET_DIAG_BC_S_COND:
        case INET_DIAG_BC_D_COND: {
            min_len += sizeof(struct inet_diag_hostcond);
            if (len < min_len) return -EINVAL;
            struct inet_diag_hostcond hc;
            memcpy(&hc, bc + 4, sizeof hc);
            int alen = hc.family == 0 ? 0 : hc.family == PM_AF_INET ? 4 : 16;
            if (hc.family != 0 && hc.family != PM_AF_INET && hc.family != PM_AF_INET6)
                return -EINVAL;
            min_len += alen;
            if (len < min_len || hc.prefix_len > 8 * alen) return -EINVAL;
            break;
        }
        case INET_DIAG_BC_S_GE:
        case INET_DIAG_BC_S_LE:
        case INET_DIAG_BC_D_GE:
        case INET_DIAG_BC_D_LE:
            min_len += sizeof(struct inet_diag_bc_op);
            if (len < min_len) return -EINVAL;
            break;
        case INET_DIAG_BC_JMP:
        case INET_DIAG_BC_NOP: break;
        default: return -EINVAL;
        }
        if (op.code != INET_DIAG_BC_NOP) {
            if (op.no < min_len || op.no > len + 4 || op.no & 3) return -EINVAL;
            /* cc: the length left at the jump's target. */
            if (op.no < len && !valid_cc(bytecode, bytecode_len, len - op.no)) return -EINVAL;
        }
        if (op.yes < min_len || op.yes > len + 4 || op.yes & 3) return -EINVAL;
        bc += op.yes;
        len -= op.yes;
    }
    return len == 0 ? 0 : -EINVAL;
}

static bool bits_match(const uint8_t *a, const uint8_t *b, unsigned plen)
{
    unsigned bytes = plen / 8, rem = plen % 8;
    if (memcmp(a, b, bytes)) return false;
    if (!rem) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* Linux: inet_diag_bc_run(), on an audited program. */
bool pm_ssf_bc_run(const uint8_t *bc, size_t length, const pm_diag_sock *s)
{
    int len = (int)length;
    while (len > 0) {
        struct inet_diag_bc_op op = get_op(bc);
        bool yes = true;
        switch (op.code) {
        case INET_DIAG_BC_NOP: break;
        case INET_DIAG_BC_JMP: yes = false; break;
        case INET_DIAG_BC_S_GE: yes = s->lport >= get_op(bc + 4).no; break;
        case INET_DIAG_BC_S_LE: yes = s->lport <= get_op(bc + 4).no; break;
        case INET_DIAG_BC_D_GE: yes = s->rport >= get_op(bc + 4).no; break;
        case INET_DIAG_BC_D_LE: yes = s->rport <= get_op(bc + 4).no; break;
        case INET_DIAG_BC_S_COND:
        case INET_DIAG_BC_D_COND: {
            struct inet_diag_hostcond hc;
            memcpy(&hc, bc + 4, sizeof hc);
            const uint8_t *caddr = bc + 4 + sizeof hc;
            bool local = op.code == INET_DIAG_BC_S_COND;
            const pm_ip *ip = local ? &s->laddr : &s->raddr;
            int port = local ? s->lport : s->rport;
            /* The kernel's entry: 4 address bytes for AF_INET, 16 for AF_INET6. */
            const uint8_t *addr = s->family == PM_AF_INET ? ip->b + 12 : ip->b;
            if (hc.port != -1 && hc.port != port) {
                yes = false;
                break;
            }
            if (hc.family != 0 && hc.family != s->family) {
                if (s->family == PM_AF_INET6 && hc.family == PM_AF_INET) {
                    if (pm_ip_is_v4(ip) && bits_match(ip->b + 12, caddr, hc.prefix_len)) break;
                }
                yes = false;
                break;
            }
            if (hc.prefix_len == 0) break;
            yes = bits_match(addr, caddr, hc.prefix_len);
            break;
        }
        default: return false;
        }
        if (yes) {
            len -= op.yes;
            bc += op.yes;
        } else {
            len -= op.no;
            bc += op.no;
        }
    }
    return len == 0;
}
