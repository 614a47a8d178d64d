/* UDP and ICMP through the host: datagram delivery, port unreachable,
 * echo, and ICMP errors handed to the socket they quote. */
#include <errno.h>
#include <string.h>

#include "host/host_internal.h"

bool host_icmp_allow(pm_host *h)
{
    return pm_icmp_limit_allow(&h->icmp_lim, h->cfg.icmp_msgs_per_sec, h->cfg.icmp_msgs_burst,
                               h->now);
}

/* RFC 1122 3.2.2: never about an ICMP error, a broadcast or multicast, a
 * non-first fragment, or a source that is not one host. */
static bool may_answer(const pm_ip_repr *ip)
{
    if (pm_ip_is_multicast(&ip->dst) || pm_ip_is_multicast(&ip->src)) return false;
    if (pm_ip_is_any(&ip->src)) return false;
    if (pm_ip_is_v4(&ip->dst) && pm_ip_v4(&ip->dst) == 0xffffffffu) return false;
    return true;
}

void host_icmp_unreach(pm_host *h, const pm_ip_repr *ip, const uint8_t *raw, size_t rawlen)
{
    if (!may_answer(ip)) return;
    if (!host_icmp_allow(h)) {
        h->st.port_unreach_limited++;
        return;
    }
    pm_packet o;
    memset(&o, 0, sizeof o);
    o.ip.version = ip->version;
    o.ip.proto = ip->version == 4 ? PM_IPPROTO_ICMP : PM_IPPROTO_ICMPV6;
    o.ip.ttl = h->cfg.tcp.ttl;
    o.ip.src = ip->dst;
    o.ip.dst = ip->src;
    o.icmp.version = ip->version;
    o.icmp.type = ip->version == 4 ? PM_ICMP4_UNREACH : PM_ICMP6_UNREACH;
    o.icmp.code = ip->version == 4 ? PM_ICMP4_UNREACH_PORT : PM_ICMP6_UNREACH_PORT;
    o.icmp.is_error = true;
    o.icmp.data = raw;
    o.icmp.data_len = pm_icmp_quote_len(ip->version, rawlen);
    if (o.icmp.data_len > rawlen) o.icmp.data_len = rawlen;
    if (host_emit(h, &o) > 0) h->st.port_unreach_sent++;
}

void host_udp_input(pm_host *h, const pm_packet *p, const uint8_t *raw, size_t rawlen)
{
    pm_tuple t;
    if (pm_packet_tuple(p, &t) < 0) return;
    h->st.udp_in++;
    uint32_t si = pm_udptab_lookup(h->ut, &t, 0);
    if (si == PM_DEMUX_NONE || h->socks[si].kind != SK_UDP) {
        h->st.udp_no_socket++;
        /* RFC 1122 3.2.2.1 / Linux __udp4_lib_rcv(): port unreachable */
        if (!h->cfg.udp_blackhole) host_icmp_unreach(h, &p->ip, raw, rawlen);
        return;
    }
    hsock *s = &h->socks[si];
    if (s->f & SF_SHUT_RD) return;
    pm_sockaddr from = {s->family, t.fport, t.faddr};
    if (pm_udp_queue_push(&h->udpq[s->tcb], &from, p->udp.payload, p->udp.payload_len) < 0) {
        h->st.udp_rcvbuf_errors++;
        return;
    }
    host_mark_ready(h, s);
}

static void echo_reply(pm_host *h, const pm_packet *p)
{
    if (h->cfg.icmp_echo_ignore_all || !may_answer(&p->ip)) return;
    if (!host_icmp_allow(h)) {
        h->st.echo_limited++;
        return;
    }
    pm_packet o;
    memset(&o, 0, sizeof o);
    o.ip.version = p->ip.version;
    o.ip.proto = p->ip.proto;
    o.ip.ttl = h->cfg.tcp.ttl;
    o.ip.src = p->ip.dst;
    o.ip.dst = p->ip.src;
    o.icmp.version = p->icmp.version;
    o.icmp.type = p->ip.version == 4 ? PM_ICMP4_ECHO_REPLY : PM_ICMP6_ECHO_REPLY;
    o.icmp.rest = p->icmp.rest;
    o.icmp.data = p->icmp.data;
    o.icmp.data_len = p->icmp.data_len;
    if (host_emit(h, &o) > 0) h->st.echo_replies++;
}

void host_icmp_input(pm_host *h, const pm_packet *p, const uint8_t *raw, size_t rawlen)
{
    (void)raw;
    (void)rawlen;
    const pm_icmp_repr *ic = &p->icmp;
    if ((p->ip.version == 4 && ic->type == PM_ICMP4_ECHO) ||
        (p->ip.version == 6 && ic->type == PM_ICMP6_ECHO)) {
        echo_reply(h, p);
        return;
    }
    if (!ic->is_error) return;
    h->st.icmp_in_errors++;
    int err;
    bool hard;
    pm_tuple t;
    if (pm_icmp_err_convert(p->ip.version, ic->type, ic->code, &err, &hard) < 0 ||
        pm_packet_tuple(p, &t) < 0) {
        h->st.icmp_ignored++;
        return;
    }
    if (t.proto == PM_IPPROTO_TCP) {
        host_tcp_icmp(h, p, &t, err, hard);
        return;
    }
    if (t.proto != PM_IPPROTO_UDP) return;
    uint32_t si = pm_udptab_lookup(h->ut, &t, 0);
    if (si == PM_DEMUX_NONE) {
        h->st.icmp_ignored++;
        return;
    }
    hsock *s = &h->socks[si];
    /* Linux __udp4_lib_err(): without IP_RECVERR only a connected socket
     * hears of it, and only a hard error. */
    if (!(s->f & SF_CONNECTED) || !hard) {
        h->st.icmp_ignored++;
        return;
    }
    h->st.icmp_matched++;
    s->so_error = (uint8_t)err;
    host_mark_ready(h, s);
}
