/* Linux's bind rules, kept literal (bind_rules.h). */
#include "ports/bind_rules.h"

#include <string.h>

/* Linux tb->fastreuseport values */
enum { FASTREUSEPORT_ANY = 1, FASTREUSEPORT_STRICT = 2 };
#define LOOPBACK4_IPV6 0x7f000006u /* Linux: v4 view of a specific IPv6 bind */

static bool ip6_any(const pm_ip *a)
{
    return pm_ip_eq(a, &pm_ip_any6);
}

/* ipv6_addr_type() reduced to what the rules ask: any, mapped, other. */
enum { T_ANY, T_MAPPED, T_OTHER };
static int addr_type(const pm_ip *a)
{
    if (ip6_any(a)) return T_ANY;
    if (pm_ip_is_v4(a)) return T_MAPPED;
    return T_OTHER;
}

/* Linux: ipv6_rcv_saddr_equal(). sk2_v6 NULL for an AF_INET sk2. */
static bool ipv6_rcv_saddr_equal(const pm_ip *sk1_v6, const pm_ip *sk2_v6, uint32_t sk1_rcv4,
                                 uint32_t sk2_rcv4, bool sk1_v6only, bool sk2_v6only,
                                 bool match_sk1_wildcard, bool match_sk2_wildcard)
{
    int t1 = addr_type(sk1_v6);
    int t2 = sk2_v6 ? addr_type(sk2_v6) : T_MAPPED;
    if (t1 == T_MAPPED && t2 == T_MAPPED) {
        if (!sk2_v6only) {
            if (sk1_rcv4 == sk2_rcv4) return true;
            return (match_sk1_wildcard && !sk1_rcv4) || (match_sk2_wildcard && !sk2_rcv4);
        }
        return false;
    }
    if (t1 == T_ANY && t2 == T_ANY) return true;
    if (t2 == T_ANY && match_sk2_wildcard && !(sk2_v6only && t1 == T_MAPPED)) return true;
    if (t1 == T_ANY && match_sk1_wildcard && !(sk1_v6only && t2 == T_MAPPED)) return true;
    if (sk2_v6 && pm_ip_eq(sk1_v6, sk2_v6)) return true;
    return false;
}

/* Linux: ipv4_rcv_saddr_equal() (inet_connection_sock.c) */
static bool ipv4_rcv_saddr_equal(uint32_t sk1, uint32_t sk2, bool sk2_v6only, bool match_sk1_wc,
                                 bool match_sk2_wc)
{
    if (!sk2_v6only) {
        if (sk1 == sk2) return true;
        return (match_sk1_wc && !sk1) || (match_sk2_wc && !sk2);
    }
    return false;
}

bool bind_rcv_saddr_equal(const ksock *sk, const ksock *sk2, bool match_wildcard)
{
    if (sk->family == PM_AF_INET6)
        return ipv6_rcv_saddr_equal(&sk->v6, sk2->family == PM_AF_INET6 ? &sk2->v6 : NULL, sk->rcv4,
                                    sk2->rcv4, sk->v6only, sk2->v6only, match_wildcard,
                                    match_wildcard);
    return ipv4_rcv_saddr_equal(sk->rcv4, sk2->rcv4, sk2->v6only, match_wildcard, match_wildcard);
}

bool bind_conflict(const ksock *sk, const ksock *sk2, uint8_t state2, bool relax, bool reuseport_ok)
{
    bool tw2 = state2 == PM_BIND_TIME_WAIT;
    if (sk->reuse && sk2->reuse && state2 != PM_BIND_LISTEN) {
        return !relax ||
               (!reuseport_ok && sk->reuseport && sk2->reuseport && (tw2 || sk->uid == sk2->uid));
    }
    return !reuseport_ok || !sk->reuseport || !sk2->reuseport || (!tw2 && sk->uid != sk2->uid);
}

bool bind_reuseport_match(const bind_fast *f, const ksock *sk)
{
    if (f->reuseport <= 0) return false;
    if (!sk->reuseport) return false;
    if (f->uid != sk->uid) return false;
    if (f->reuseport == FASTREUSEPORT_ANY) return true;
    if (f->family == PM_AF_INET6)
        return ipv6_rcv_saddr_equal(&f->v6, sk->family == PM_AF_INET6 ? &sk->v6 : NULL, f->rcv4,
                                    sk->rcv4, f->v6only, sk->v6only, true, false);
    return ipv4_rcv_saddr_equal(f->rcv4, sk->rcv4, sk->v6only, true, false);
}

static void set_fast_from(bind_fast *f, const ksock *sk, int8_t mode)
{
    f->reuseport = mode;
    f->uid = sk->uid;
    f->rcv4 = sk->rcv4;
    f->v6only = sk->v6only;
    f->family = sk->family;
    f->v6 = sk->v6;
}

/* Linux: inet_csk_update_fastreuse(). Since bhash2, inet_csk_get_port()
 * links the new inet_bind2_bucket into tb->bhash2 before this runs, so
 * the "first owner" branch (hlist_empty(&tb->bhash2)) is never taken: a
 * bucket starts with fastreuse = fastreuseport = 0 (inet_bind_bucket_create)
 * and the SO_REUSEADDR fast path stays off. The kernel behaves so (the
 * oracle test shows it); we mirror it. */
void bind_update_fast(bind_fast *f, const ksock *sk, bool listening)
{
    bool reuse = sk->reuse && !listening;
    if (!reuse) f->reuse = 0;
    if (sk->reuseport) {
        if (!bind_reuseport_match(f, sk)) set_fast_from(f, sk, FASTREUSEPORT_STRICT);
    } else {
        f->reuseport = 0;
    }
}

void bind_make_ksock(ksock *k, const pm_sockaddr *sa, const pm_bind_opts *o, uint32_t uid)
{
    memset(k, 0, sizeof *k);
    k->family = o->family;
    k->v6 = sa->ip;
    k->uid = uid;
    k->reuse = o->reuseaddr;
    k->reuseport = o->reuseport;
    k->v6only = o->family == PM_AF_INET6 && o->v6only;
    if (pm_ip_is_v4(&sa->ip))
        k->rcv4 = pm_ip_v4(&sa->ip);
    else if (ip6_any(&sa->ip))
        k->rcv4 = 0;
    else {
        k->rcv4 = LOOPBACK4_IPV6; /* Linux __inet6_bind() */
        k->v6only = true;         /* Linux: a specific IPv6 bind sets sk_ipv6only */
    }
}
