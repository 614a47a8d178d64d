/* The bind table and the ephemeral allocator under arbitrary call
 * sequences: never a crash, and the books always balance: every live
 * handle is an owner, live 5-tuples are distinct, and releasing everything
 * leaves the tables empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/bind.h"
#include "portmux/ephemeral.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXH 64

static const uint32_t v4[] = {0x7f000001, 0x7f000002, 0, 0xc0000201};
static const uint16_t ports[] = {1023, 1024, 40001, 0};

static pm_ip addr_of(unsigned i)
{
    static const pm_ip v6one = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    if (i < 4) return pm_ip4(v4[i]);
    return i == 4 ? v6one : pm_ip_any6;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The bind table is big to create (all 65536 ports of two protocols)
     * and every run leaves it empty (checked below), so it is kept. */
    static pm_bind_table *t;
    if (!t) {
        pm_bind_config bc;
        pm_bind_config_default(&bc);
        bc.max_owners = 48;
        bc.max_classes = 3; /* grouped owners, and records when no class is free */
        t = pm_bind_create(&bc);
    }
    pm_eph_config ec;
    pm_eph_config_default(&ec);
    ec.range.lo = 40000;
    ec.range.hi = 40015;
    ec.max_tw = 40;
    ec.max_dests = 8;
    ec.max_blocks = 6;
    ec.perturb_size = 16;
    ec.tw_reuse = 1;
    ec.seed = size;
    pm_eph *e = pm_eph_create(&ec, t);
    if (!t || !e) abort();
    pm_bind_id owners[MAXH]; /* bind()-made owners not handed to a connection */
    pm_eph_id conns[MAXH];
    pm_bind_id cowners[MAXH]; /* each connection's bind owner */
    unsigned no = 0, nc = 0;
    uint64_t now = 0;
    size_t i = 0;
    while (i + 4 <= size) {
        uint8_t op = data[i], a = data[i + 1], b = data[i + 2], c = data[i + 3];
        i += 4;
        uint8_t proto = (a & 1) ? PM_IPPROTO_UDP : PM_IPPROTO_TCP;
        unsigned ai = (a >> 1) % 6;
        pm_bind_opts o = {ai >= 4   ? PM_AF_INET6
                          : (b & 8) ? PM_AF_INET6
                                    : PM_AF_INET,
                          b & 1, (b & 2) != 0, (b & 4) != 0};
        pm_cred cred = {(uint32_t)(c & 3), (c & 4) != 0};
        switch (op % 8) {
        case 0: { /* bind(port) or bind(0) */
            if (no >= MAXH) break;
            pm_sockaddr sa = {o.family, ports[(a >> 4) & 3], addr_of(ai)};
            pm_bind_id id = PM_BIND_NONE;
            int r = sa.port ? pm_bind(t, proto, &sa, &o, &cred, &id)
                            : pm_eph_bind(e, proto, &sa, &o, &cred, NULL, &id);
            if (r == 0) {
                if (id == PM_BIND_NONE) abort();
                owners[no++] = id;
            } else if (id != PM_BIND_NONE) {
                abort();
            }
            break;
        }
        case 1:
            if (no) pm_bind_listen(t, owners[b % no]);
            break;
        case 2:
            if (no) {
                unsigned k = b % no;
                pm_bind_release(t, owners[k]);
                owners[k] = owners[--no];
            }
            break;
        case 3: { /* connect(), from a bound socket or not */
            if (nc >= MAXH) break;
            pm_eph_connect_req rq;
            memset(&rq, 0, sizeof rq);
            rq.proto = PM_IPPROTO_TCP;
            rq.local.family = rq.remote.family = PM_AF_INET;
            rq.local.ip = pm_ip4(v4[b & 1]);
            rq.remote.ip = pm_ip4(0x7f000064 + (c & 1));
            rq.remote.port = (uint16_t)(80 + ((c >> 1) & 1));
            rq.opts.family = PM_AF_INET;
            rq.now_us = now;
            pm_bind_id id = PM_BIND_NONE;
            bool from_bound = (a & 0x80) && no;
            unsigned k = from_bound ? b % no : 0;
            if (from_bound) {
                pm_bind_owner ow;
                if (pm_bind_get(t, owners[k], &ow) != 0) abort();
                if (ow.proto != PM_IPPROTO_TCP || ow.state != PM_BIND_BOUND ||
                    ow.local.family != PM_AF_INET)
                    break;
                id = owners[k];
                rq.local.port = ow.local.port;
            }
            pm_eph_connect_res res;
            int r = pm_eph_connect(e, &rq, &id, &res);
            if (r == 0) {
                cowners[nc] = id;
                conns[nc++] = res.conn;
                if (from_bound) owners[k] = owners[--no]; /* now the connection's */
                if (res.reused_tw != PM_EPH_NONE) {
                    /* the TIME_WAIT entry (same tuple) and its owner are gone */
                    for (unsigned j = 0; j + 1 < nc; j++)
                        if (conns[j] == res.reused_tw) {
                            conns[j] = conns[nc - 2];
                            cowners[j] = cowners[nc - 2];
                            conns[nc - 2] = conns[nc - 1];
                            cowners[nc - 2] = cowners[nc - 1];
                            nc--;
                            break;
                        }
                }
            }
            break;
        }
        case 4:
            if (nc) {
                unsigned k = b % nc;
                pm_bind_set_state(t, &cowners[k], PM_BIND_TIME_WAIT);
                pm_eph_time_wait(e, conns[k], cowners[k], c & 1, now - (c & 1 ? 0 : 2000000));
            }
            break;
        case 5:
            if (nc) {
                unsigned k = b % nc;
                pm_eph_release(e, conns[k]);
                pm_bind_release(t, cowners[k]);
                conns[k] = conns[--nc];
                cowners[k] = cowners[nc];
            }
            break;
        case 6:
            if (no) pm_bind_set_reuse(t, &owners[b % no], c & 1, c & 2);
            break;
        default: now += (uint64_t)b * 100000; break;
        }
        /* the books balance */
        pm_bind_stats bst = pm_bind_get_stats(t);
        if (bst.owners != no + nc || bst.records > bst.owners) abort();
        if (pm_eph_get_stats(e).conns != nc) abort();
        /* live 5-tuples are distinct: the newest against the rest */
        if ((op % 8) == 3 && nc) {
            pm_tuple tx, ty;
            if (pm_eph_tuple(e, conns[nc - 1], &tx) != 0) abort();
            for (unsigned y = 0; y + 1 < nc; y++) {
                if (pm_eph_tuple(e, conns[y], &ty) != 0) abort();
                if (tx.lport == ty.lport && tx.fport == ty.fport &&
                    pm_ip_eq(&tx.laddr, &ty.laddr) && pm_ip_eq(&tx.faddr, &ty.faddr))
                    abort();
            }
        }
    }
    while (nc) {
        pm_eph_release(e, conns[--nc]);
        pm_bind_release(t, cowners[nc]);
    }
    while (no) pm_bind_release(t, owners[--no]);
    pm_bind_stats bs = pm_bind_get_stats(t);
    pm_eph_stats es = pm_eph_get_stats(e);
    if (bs.owners || bs.ports || bs.records || bs.classes || es.conns || es.dests || es.tw_records)
        abort();
    pm_eph_destroy(e);
    return 0;
}
