/* Cross-check against an independent decoder: the packets our emitter
 * builds (every TCP option kind, SACK, IPv6 extension headers, UDP, ICMP
 * and ICMPv6 errors quoting TCP and UDP, echo) go into a pcap file that
 * tshark decodes with checksum validation on. No packet may be malformed
 * or carry a warning or error expert item, and tshark must read back the
 * fields we set. Without tshark the test says so and exits 77. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "portmux/pcap.h"
#include "portmux/wire.h"

#define MAXPKT 64

static char pcap_path[256];
static unsigned npkts;
static char expect[MAXPKT][256];     /* per packet: tshark fields we expect */
static const char *outer_cs[MAXPKT]; /* the outer transport's checksum status */
static bool outer_v4[MAXPKT];

static pm_ip mkip(const char *s)
{
    pm_ip ip;
    assert_int_equal(pm_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static pm_ip_repr v4(uint8_t proto)
{
    pm_ip_repr r = {.version = 4, .proto = proto, .ttl = 64, .id = 4242, .df = true};
    r.src = mkip("192.0.2.1");
    r.dst = mkip("198.51.100.2");
    return r;
}

static pm_ip_repr v6(uint8_t proto)
{
    pm_ip_repr r = {.version = 6, .proto = proto, .ttl = 64, .flow = 0xabcde};
    r.src = mkip("2001:db8::1");
    r.dst = mkip("2001:db8::2");
    return r;
}

static pm_ip_repr swap(pm_ip_repr r)
{
    pm_ip t = r.src;
    r.src = r.dst;
    r.dst = t;
    return r;
}

static void add(pm_pcap *pc, const uint8_t *b, size_t n, const char *want)
{
    assert_true(npkts < MAXPKT);
    /* Whatever we write must also parse back with our own parser. */
    pm_packet chk;
    int err = pm_packet_parse(b, n, &chk, NULL);
    if (err) fail_msg("packet %u does not parse: %s", npkts + 1, pm_errname(err));
    snprintf(expect[npkts], sizeof expect[npkts], "%s", want ? want : "");
    outer_v4[npkts] = chk.ip.version == 4;
    outer_cs[npkts] = chk.ip.proto == PM_IPPROTO_TCP   ? "tcp.checksum.status"
                      : chk.ip.proto == PM_IPPROTO_UDP ? "udp.checksum.status"
                      : chk.ip.version == 4            ? "icmp.checksum.status"
                                                       : "icmpv6.checksum.status";
    npkts++;
    assert_int_equal(pm_pcap_write(pc, b, n, 1700000000000000ull + npkts * 1000), 0);
}

static size_t emit(const pm_packet *p, uint8_t *buf)
{
    int n = pm_packet_emit(p, buf, 2048);
    assert_true(n > 0);
    return (size_t)n;
}

/* Inserts an IPv6 extension header right after the fixed header. */
static void add_ext(uint8_t *pkt, size_t *len, uint8_t type, const uint8_t *body, size_t hl)
{
    memmove(pkt + 40 + hl, pkt + 40, *len - 40);
    memcpy(pkt + 40, body, hl);
    pkt[40] = pkt[6];
    pkt[6] = type;
    *len += hl;
    size_t pl = (size_t)(pkt[4] << 8 | pkt[5]) + hl;
    pkt[4] = (uint8_t)(pl >> 8);
    pkt[5] = (uint8_t)pl;
}

static void build(pm_pcap *pc)
{
    uint8_t buf[2048], q[2048];
    static const uint8_t data[] = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    size_t n;

    /* 1. Linux SYN: mss, sackOK, TS, nop, wscale. */
    pm_packet p = {.ip = v4(PM_IPPROTO_TCP)};
    p.tcp = (pm_tcp_repr){
        .sport = 40000, .dport = 80, .seq = 123456789, .flags = PM_TH_SYN, .window = 64240};
    p.tcp.opts.present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_SACK_PERM | 1u << PM_TCPOPT_TS |
                         1u << PM_TCPOPT_WSCALE;
    p.tcp.opts.mss = 1460;
    p.tcp.opts.wscale = 7;
    p.tcp.opts.ts_val = 1000;
    add(pc, buf, emit(&p, buf),
        "tcp.srcport=40000 tcp.dstport=80 tcp.seq=123456789 tcp.options.mss_val=1460 "
        "tcp.options.wscale.shift=7 tcp.options.timestamp.tsval=1000");

    /* 2. SYN-ACK in another layout, ending in EOL; ECN flags. */
    pm_packet sa = {.ip = swap(v4(PM_IPPROTO_TCP))};
    sa.tcp = (pm_tcp_repr){.sport = 80,
                           .dport = 40000,
                           .seq = 555,
                           .ack = 123456790,
                           .flags = PM_TH_SYN | PM_TH_ACK | PM_TH_ECE,
                           .window = 65535};
    pm_tcp_opts *o = &sa.tcp.opts;
    o->present = 1u << PM_TCPOPT_MSS | 1u << PM_TCPOPT_WSCALE | 1u << PM_TCPOPT_SACK_PERM;
    o->mss = 1400;
    o->wscale = 14;
    static const uint8_t ord[] = {PM_TCPOPT_MSS, PM_TCPOPT_NOP, PM_TCPOPT_WSCALE,
                                  PM_TCPOPT_SACK_PERM, PM_TCPOPT_EOL};
    memcpy(o->order, ord, sizeof ord);
    o->order_len = sizeof ord;
    add(pc, buf, emit(&sa, buf),
        "tcp.srcport=80 tcp.seq=555 tcp.options.mss_val=1400 tcp.options.wscale.shift=14");

    /* 3. Data with TS and three SACK blocks, PSH. */
    pm_packet d = {.ip = v4(PM_IPPROTO_TCP)};
    d.tcp = (pm_tcp_repr){.sport = 40000,
                          .dport = 80,
                          .seq = 123456790,
                          .ack = 556,
                          .flags = PM_TH_ACK | PM_TH_PSH,
                          .window = 502,
                          .payload = data,
                          .payload_len = sizeof data - 1};
    d.tcp.opts.present = 1u << PM_TCPOPT_TS | 1u << PM_TCPOPT_SACK;
    d.tcp.opts.ts_val = 2000;
    d.tcp.opts.ts_ecr = 3000;
    d.tcp.opts.sack_count = 3;
    for (unsigned i = 0; i < 3; i++) {
        d.tcp.opts.sack[i].left = 1000 + 100 * i;
        d.tcp.opts.sack[i].right = 1050 + 100 * i;
    }
    add(pc, buf, emit(&d, buf),
        "tcp.options.timestamp.tsval=2000 tcp.options.sack_le=1000,1100,1200 "
        "tcp.options.sack_re=1050,1150,1250");

    /* 4. Four SACK blocks, the most that fit (RFC 2018 3). */
    d.tcp.opts.present = 1u << PM_TCPOPT_SACK;
    d.tcp.opts.sack_count = 4;
    d.tcp.opts.sack[3].left = 7;
    d.tcp.opts.sack[3].right = 9;
    d.tcp.payload_len = 0;
    add(pc, buf, emit(&d, buf),
        "tcp.options.sack_le=1000,1100,1200,7 tcp.options.sack_re=1050,1150,1250,9");

    /* 5. An unknown option kept opaque, and an RFC 6994 experiment. */
    pm_packet u = {.ip = v4(PM_IPPROTO_TCP)};
    u.tcp = (pm_tcp_repr){
        .sport = 1234, .dport = 5678, .seq = 1, .ack = 1, .flags = PM_TH_ACK, .window = 100};
    static const uint8_t opq[] = {99, 4, 0xab, 0xcd, 253, 4, 0x12, 0x34};
    memcpy(u.tcp.opts.opaque, opq, sizeof opq);
    u.tcp.opts.opaque_len = sizeof opq;
    u.tcp.opts.order[0] = 99;
    u.tcp.opts.order[1] = 253;
    u.tcp.opts.order_len = 2;
    add(pc, buf, emit(&u, buf), "tcp.srcport=1234 tcp.dstport=5678");

    /* 6. Urgent data, FIN, RST. */
    pm_packet g = {.ip = v4(PM_IPPROTO_TCP)};
    g.tcp = (pm_tcp_repr){.sport = 40000,
                          .dport = 80,
                          .seq = 9,
                          .ack = 10,
                          .flags = PM_TH_ACK | PM_TH_URG | PM_TH_PSH,
                          .window = 1,
                          .urg = 3,
                          .payload = data,
                          .payload_len = 5};
    add(pc, buf, emit(&g, buf), "tcp.seq=9");
    g.tcp.flags = PM_TH_FIN | PM_TH_ACK;
    g.tcp.payload_len = 0;
    g.tcp.urg = 0;
    add(pc, buf, emit(&g, buf), NULL);
    g.tcp.flags = PM_TH_RST;
    g.tcp.ack = 0;
    add(pc, buf, emit(&g, buf), NULL);

    /* 9. IPv6 TCP SYN with the Linux layout, and data with TS. */
    p.ip = v6(PM_IPPROTO_TCP);
    add(pc, buf, emit(&p, buf),
        "tcp.srcport=40000 tcp.dstport=80 tcp.seq=123456789 tcp.options.mss_val=1460 "
        "tcp.options.wscale.shift=7 tcp.options.timestamp.tsval=1000");
    d.ip = v6(PM_IPPROTO_TCP);
    d.tcp.opts.present = 1u << PM_TCPOPT_TS;
    d.tcp.payload_len = sizeof data - 1;
    add(pc, buf, emit(&d, buf), "tcp.seq=123456790 tcp.options.timestamp.tsval=2000");

    /* 11. UDP over IPv4 and IPv6. */
    pm_packet ud = {.ip = v4(PM_IPPROTO_UDP)};
    ud.udp = (pm_udp_repr){.sport = 50000, .dport = 50001, .payload = data, .payload_len = 12};
    add(pc, buf, emit(&ud, buf), "udp.srcport=50000 udp.dstport=50001");
    ud.ip = v6(PM_IPPROTO_UDP);
    add(pc, buf, emit(&ud, buf), "udp.srcport=50000 udp.dstport=50001");

    /* 13. IPv6 extension chain: HBH (router alert), DST (PadN), SRH with
     * no segments left (RFC 8754), a Fragment header (atomic, RFC 6946),
     * then UDP. Built from last to first. */
    ud.udp.sport = 6000;
    n = emit(&ud, buf);
    static const uint8_t frag[8] = {0, 0, 0, 0, 0, 0, 0x12, 0x34};
    uint8_t srh[24] = {0, 2, 4, 0, 0, 0, 0, 0};
    memcpy(srh + 8, ud.ip.dst.b, 16);
    static const uint8_t dst[8] = {0, 0, 1, 4, 0, 0, 0, 0};
    static const uint8_t hbh[8] = {0, 0, 5, 2, 0, 0, 1, 0};
    add_ext(buf, &n, 44, frag, sizeof frag);
    add_ext(buf, &n, 43, srh, sizeof srh);
    add_ext(buf, &n, 60, dst, sizeof dst);
    add_ext(buf, &n, 0, hbh, sizeof hbh);
    add(pc, buf, n, "udp.srcport=6000 udp.dstport=50001");

    /* 14. ICMP port unreachable quoting UDP (IP header + 8, RFC 792). */
    pm_ip_repr ui = v4(PM_IPPROTO_UDP);
    ud.ip = ui;
    ud.udp.sport = 50000;
    size_t qn = emit(&ud, q);
    pm_packet e = {.ip = swap(v4(PM_IPPROTO_ICMP))};
    e.icmp = (pm_icmp_repr){.version = 4,
                            .type = PM_ICMP4_UNREACH,
                            .code = PM_ICMP4_UNREACH_PORT,
                            .data = q,
                            .data_len = 28};
    add(pc, buf, emit(&e, buf), "icmp.type=3 icmp.code=3 udp.srcport=50000 udp.dstport=50001");
    /* 15. ... quoting all of a TCP segment. */
    p.ip = v4(PM_IPPROTO_TCP);
    qn = emit(&p, q);
    e.icmp.data_len = qn;
    e.icmp.code = PM_ICMP4_UNREACH_HOST;
    add(pc, buf, emit(&e, buf), "icmp.type=3 icmp.code=1 tcp.srcport=40000 tcp.seq=123456789");
    /* 16. Fragmentation needed, with the MTU (RFC 1191). */
    e.icmp.code = PM_ICMP4_UNREACH_NEEDFRAG;
    e.icmp.rest = 1400;
    add(pc, buf, emit(&e, buf), "icmp.code=4 icmp.mtu=1400");

    /* 17. ICMPv6 port unreachable quoting UDP and TCP (RFC 4443 3.1). */
    ud.ip = v6(PM_IPPROTO_UDP);
    qn = emit(&ud, q);
    pm_packet e6 = {.ip = swap(v6(PM_IPPROTO_ICMPV6))};
    e6.icmp = (pm_icmp_repr){.version = 6,
                             .type = PM_ICMP6_UNREACH,
                             .code = PM_ICMP6_UNREACH_PORT,
                             .data = q,
                             .data_len = qn};
    add(pc, buf, emit(&e6, buf), "icmpv6.type=1 icmpv6.code=4 udp.srcport=50000 udp.dstport=50001");
    p.ip = v6(PM_IPPROTO_TCP);
    qn = emit(&p, q);
    e6.icmp.data_len = 48;
    add(pc, buf, emit(&e6, buf), "icmpv6.code=4 tcp.srcport=40000 tcp.dstport=80");
    /* 19. Packet too big (RFC 4443 3.2). */
    e6.icmp.type = PM_ICMP6_PACKET_TOO_BIG;
    e6.icmp.code = 0;
    e6.icmp.rest = 1280;
    e6.icmp.data_len = qn;
    add(pc, buf, emit(&e6, buf), "icmpv6.type=2 icmpv6.mtu=1280 tcp.options.mss_val=1460");

    /* 20. Echo request and reply, both versions. */
    pm_packet ec = {.ip = v4(PM_IPPROTO_ICMP)};
    ec.icmp = (pm_icmp_repr){.version = 4,
                             .type = PM_ICMP4_ECHO,
                             .rest = 0x4242u << 16 | 1,
                             .data = data,
                             .data_len = 16};
    add(pc, buf, emit(&ec, buf), "icmp.type=8 icmp.code=0");
    ec.ip = swap(ec.ip);
    ec.icmp.type = PM_ICMP4_ECHO_REPLY;
    add(pc, buf, emit(&ec, buf), "icmp.type=0");
    ec.ip = v6(PM_IPPROTO_ICMPV6);
    ec.icmp.version = 6;
    ec.icmp.type = PM_ICMP6_ECHO;
    add(pc, buf, emit(&ec, buf), "icmpv6.type=128");
    ec.ip = swap(ec.ip);
    ec.icmp.type = PM_ICMP6_ECHO_REPLY;
    add(pc, buf, emit(&ec, buf), "icmpv6.type=129");
}

/* The fields asked of tshark; expectations name them as key=value. */
static const char *const fields[] = {
    "frame.number",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
    "ip.checksum.status",
    "tcp.checksum.status",
    "udp.checksum.status",
    "icmp.checksum.status",
    "icmpv6.checksum.status",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval",
    "tcp.options.sack_le",
    "tcp.options.sack_re",
    "udp.srcport",
    "udp.dstport",
    "icmp.type",
    "icmp.code",
    "icmp.mtu",
    "icmpv6.type",
    "icmpv6.code",
    "icmpv6.mtu",
};
#define NFIELDS  (sizeof fields / sizeof fields[0])
#define SEV_WARN 0x600000 /* expert severities: chat 0x200000, note 0x400000 */

/* Runs tshark on path; calls check() on each row split into fields. */
static unsigned run_tshark(const char *path, void (*check)(char **f, unsigned row))
{
    char cmd[2048];
    int k = snprintf(cmd, sizeof cmd,
                     "tshark -n -r '%s' -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE "
                     "-o ip.check_checksum:TRUE -o tcp.analyze_sequence_numbers:FALSE "
                     "-o tcp.relative_sequence_numbers:FALSE -T fields -E 'separator=|' "
                     "-E occurrence=a -E aggregator=,",
                     path);
    for (size_t i = 0; i < NFIELDS; i++)
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, " -e %s", fields[i]);
    snprintf(cmd + k, sizeof cmd - (size_t)k, " 2>%s.err", path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[4096];
    unsigned rows = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        print_message("tshark: %s\n", line);
        char *fv[NFIELDS] = {0};
        char *c = line;
        for (size_t i = 0; i < NFIELDS; i++) {
            fv[i] = c;
            c = c ? strchr(c, '|') : NULL;
            if (c) *c++ = '\0';
        }
        for (size_t i = 0; i < NFIELDS; i++)
            if (!fv[i]) fv[i] = "";
        check(fv, rows++);
    }
    int rc = pclose(f);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat %s.err", path);
        if (system(cmd)) {
        }
        fail_msg("tshark exited with %d", rc);
    }
    snprintf(cmd, sizeof cmd, "%s.err", path);
    unlink(cmd);
    return rows;
}

static const char *field(char **f, const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i], name) == 0) return f[i];
    fail_msg("unknown field %s", name);
    return "";
}

static unsigned count_warns(char **f)
{
    char sev[256];
    unsigned n = 0;
    snprintf(sev, sizeof sev, "%s", field(f, "_ws.expert.severity"));
    for (char *t = strtok(sev, ","); t; t = strtok(NULL, ","))
        if (strtol(t, NULL, 0) >= SEV_WARN) n++;
    return n;
}

static long max_severity(char **f)
{
    char sev[256];
    long m = 0;
    snprintf(sev, sizeof sev, "%s", field(f, "_ws.expert.severity"));
    for (char *t = strtok(sev, ","); t; t = strtok(NULL, ","))
        if (strtol(t, NULL, 0) > m) m = strtol(t, NULL, 0);
    return m;
}

/* No malformed packet, no warning or error, every checksum good (1). */
static void check_clean(char **f, unsigned row)
{
    if (*field(f, "_ws.malformed")) fail_msg("packet %u: malformed", row + 1);
    /* A reset is a warning in Wireshark's TCP analysis: an event, not a
     * defect. Any other warning or error fails. */
    const char *msg = field(f, "_ws.expert.message");
    unsigned warns = max_severity(f) >= SEV_WARN ? count_warns(f) : 0;
    unsigned allowed = strstr(msg, "Connection reset (RST)") ? 1 : 0;
    if (warns > allowed) fail_msg("packet %u: expert warning: %s", row + 1, msg);
    static const char *const cs[] = {"ip.checksum.status", "tcp.checksum.status",
                                     "udp.checksum.status", "icmp.checksum.status",
                                     "icmpv6.checksum.status"};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        /* 0 is bad; 2, unverified, is right for a quoted packet (cut short). */
        const char *v = field(f, cs[i]);
        for (const char *c = v; *c; c++)
            if (*c == '0') fail_msg("packet %u: %s = %s", row + 1, cs[i], v);
    }
    /* The outermost checksums were verified and good (the first value). */
    if (field(f, outer_cs[row])[0] != '1')
        fail_msg("packet %u: %s not verified: '%s'", row + 1, outer_cs[row],
                 field(f, outer_cs[row]));
    if (outer_v4[row] && field(f, "ip.checksum.status")[0] != '1')
        fail_msg("packet %u: IPv4 header checksum not verified", row + 1);
    /* The fields we set, as tshark decodes them. */
    char want[256];
    assert_true(snprintf(want, sizeof want, "%s", expect[row]) < (int)sizeof want);
    char *save = NULL;
    for (char *kv = strtok_r(want, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        const char *got = field(f, kv);
        if (strcmp(got, eq + 1) != 0)
            fail_msg("packet %u: %s is '%s', want '%s'", row + 1, kv, got, eq + 1);
    }
}

static void test_tshark(void **state)
{
    (void)state;
    pm_pcap *pc;
    assert_int_equal(pm_pcap_create(&pc, pcap_path), 0);
    build(pc);
    assert_int_equal(pm_pcap_close(pc), 0);

    /* Our own reader reads back what we wrote. */
    assert_int_equal(pm_pcap_open(&pc, pcap_path), 0);
    assert_int_equal(pm_pcap_linktype(pc), PM_PCAP_LINKTYPE_RAW);
    uint8_t b[4096];
    size_t len;
    uint64_t ts;
    unsigned k = 0;
    while (pm_pcap_read(pc, b, sizeof b, &len, &ts) == 1) {
        k++;
        assert_int_equal(ts, 1700000000000000ull + k * 1000);
    }
    assert_int_equal(k, npkts);
    assert_int_equal(pm_pcap_close(pc), 0);

    assert_int_equal(run_tshark(pcap_path, check_clean), npkts);
}

static unsigned bad_rows_flagged;

static void check_flagged(char **f, unsigned row)
{
    (void)row;
    if (*field(f, "_ws.malformed") || max_severity(f) >= 0x800000) bad_rows_flagged++;
}

/* The cross-check can fail: tshark flags a corrupted checksum and a
 * malformed header in the same setup. */
static void test_tshark_sees_bad(void **state)
{
    (void)state;
    uint8_t buf[256];
    pm_packet p = {.ip = v4(PM_IPPROTO_TCP)};
    p.tcp = (pm_tcp_repr){.sport = 1, .dport = 2, .flags = PM_TH_ACK};
    int n = pm_packet_emit(&p, buf, sizeof buf);
    assert_true(n > 0);
    pm_pcap *pc;
    assert_int_equal(pm_pcap_create(&pc, pcap_path), 0);
    buf[n - 3] ^= 1; /* TCP checksum */
    assert_int_equal(pm_pcap_write(pc, buf, (size_t)n, 0), 0);
    buf[n - 3] ^= 1;
    buf[10] ^= 1; /* IPv4 header checksum */
    assert_int_equal(pm_pcap_write(pc, buf, (size_t)n, 1), 0);
    buf[10] ^= 1;
    buf[32] = 0x30; /* TCP data offset 3 */
    assert_int_equal(pm_pcap_write(pc, buf, (size_t)n, 2), 0);
    assert_int_equal(pm_pcap_close(pc), 0);
    assert_int_equal(run_tshark(pcap_path, check_flagged), 3);
    assert_int_equal(bad_rows_flagged, 3);
}

int main(void)
{
    if (system("command -v tshark >/dev/null 2>&1") != 0) {
        printf("SKIP: tshark is not installed (Debian package tshark)\n");
        return 77;
    }
    snprintf(pcap_path, sizeof pcap_path, "/tmp/pm-wire-tshark-%ld.pcap", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tshark),
        cmocka_unit_test(test_tshark_sees_bad),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc == 0) unlink(pcap_path);
    return rc;
}
