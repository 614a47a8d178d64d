/* The kernel's socket table through NETLINK_SOCK_DIAG (inet_diag), plain
 * netlink: one SOCK_DIAG_BY_FAMILY dump per (protocol, family), the state
 * mask and the filter's bytecode in the request, as ss sends them. */
#include "portmux/diag.h"
#include "portmux/ssfilter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#define RECV_BUF (64 * 1024)
#define BC_MAX   4096

static void fill_row(const struct inet_diag_msg *m, size_t len, uint8_t proto, pm_diag_sock *s)
{
    memset(s, 0, sizeof *s);
    s->proto = proto;
    s->family = m->idiag_family;
    s->state = m->idiag_state;
    s->timer = m->idiag_timer;
    s->retrans = m->idiag_retrans;
    s->timer_ms = m->idiag_expires;
    s->rqueue = m->idiag_rqueue;
    s->wqueue = m->idiag_wqueue;
    s->uid = m->idiag_uid;
    s->inode = m->idiag_inode;
    s->ifindex = m->id.idiag_if;
    s->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
    s->lport = ntohs(m->id.idiag_sport);
    s->rport = ntohs(m->id.idiag_dport);
    s->v6only = -1;
    if (m->idiag_family == AF_INET) {
        s->laddr = pm_ip4_bytes((const uint8_t *)m->id.idiag_src);
        s->raddr = pm_ip4_bytes((const uint8_t *)m->id.idiag_dst);
    } else {
        memcpy(s->laddr.b, m->id.idiag_src, 16);
        memcpy(s->raddr.b, m->id.idiag_dst, 16);
    }
    /* Attributes: the ones ss -e shows. */
    const uint8_t *p = (const uint8_t *)m + NLMSG_ALIGN(sizeof *m);
    size_t left = len > NLMSG_ALIGN(sizeof *m) ? len - NLMSG_ALIGN(sizeof *m) : 0;
    while (left >= sizeof(struct rtattr)) {
        struct rtattr rta;
        memcpy(&rta, p, sizeof rta);
        if (rta.rta_len < sizeof rta || rta.rta_len > left) break;
        const uint8_t *data = p + RTA_LENGTH(0);
        size_t dlen = rta.rta_len - RTA_LENGTH(0);
        switch (rta.rta_type) {
        case INET_DIAG_SHUTDOWN:
            if (dlen >= 1) {
                s->shutdown = data[0];
                s->has_shutdown = true;
            }
            break;
        case INET_DIAG_SKV6ONLY:
            if (dlen >= 1) s->v6only = (int8_t)(data[0] != 0);
            break;
        case INET_DIAG_MARK:
            if (dlen >= 4) memcpy(&s->mark, data, 4);
            break;
        default: break;
        }
        size_t step = RTA_ALIGN(rta.rta_len);
        if (step >= left) break;
        p += step;
        left -= step;
    }
}

/* One dump; appends matching rows. Returns 0 or a negative errno. */
static int dump(int fd, uint8_t family, uint8_t proto, const pm_diag_query *q, const uint8_t *bc,
                int bclen, uint8_t *buf, pm_diag_table *out)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
        struct rtattr rta;
        uint8_t bc[BC_MAX];
    } req;
    memset(&req, 0, sizeof req);
    size_t len = NLMSG_LENGTH(sizeof req.r);
    req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nlh.nlmsg_seq = 1;
    req.r.sdiag_family = family;
    req.r.sdiag_protocol = proto;
    req.r.idiag_states = q->states & PM_SS_ALL;
    if (bclen > 0) {
        req.rta.rta_type = INET_DIAG_REQ_BYTECODE;
        req.rta.rta_len = (unsigned short)RTA_LENGTH(bclen);
        memcpy(req.bc, bc, (size_t)bclen);
        len += RTA_SPACE(bclen);
    }
    req.nlh.nlmsg_len = (uint32_t)len;
    struct sockaddr_nl nladdr = {.nl_family = AF_NETLINK};
    if (sendto(fd, &req, len, 0, (struct sockaddr *)&nladdr, sizeof nladdr) < 0) return -errno;

    bool filter_here = q->filter && q->filter->root >= 0 && bclen <= 0;
    for (;;) {
        ssize_t n = recv(fd, buf, RECV_BUF, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return -EIO;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                return h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error ? e->error : -EIO;
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
            pm_diag_sock s;
            fill_row(NLMSG_DATA(h), h->nlmsg_len - NLMSG_LENGTH(0), proto, &s);
            if (s.state >= PM_SS_MAX || !(q->states & PM_SS_BIT(s.state))) continue;
            if (filter_here && !pm_ssf_match(q->filter, &s)) continue;
            int r = pm_diag_table_push(out, &s);
            if (r < 0) return r;
        }
    }
}

int pm_diag_read_netlink(const pm_diag_query *q, pm_diag_table *out)
{
    uint8_t bc[BC_MAX];
    int bclen = 0;
    if (q->filter && !q->no_bytecode) {
        bclen = pm_ssf_compile(q->filter, bc, sizeof bc);
        if (bclen < 0) bclen = 0; /* too long for the kernel: filter here */
    }
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    uint8_t *buf = malloc(RECV_BUF);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    int r = 0;
    /* ss's order: UDP, then TCP; IPv4, then IPv6. */
    const uint8_t protos[2] = {IPPROTO_UDP, IPPROTO_TCP};
    for (int i = 0; i < 2 && r == 0; i++) {
        if (protos[i] == IPPROTO_UDP ? !q->udp : !q->tcp) continue;
        for (int fam = 0; fam < 2 && r == 0; fam++) {
            if (fam == 0 ? !q->v4 : !q->v6) continue;
            size_t before = out->n;
            r = dump(fd, fam == 0 ? AF_INET : AF_INET6, protos[i], q, bc, bclen, buf, out);
            if (r == -EINVAL && bclen > 0) {
                /* The kernel refused the bytecode: filter here instead. */
                out->n = before;
                bclen = 0;
                r = dump(fd, fam == 0 ? AF_INET : AF_INET6, protos[i], q, bc, 0, buf, out);
            }
        }
    }
    free(buf);
    close(fd);
    out->kernel_filtered = r == 0 && bclen > 0;
    return r;
}
