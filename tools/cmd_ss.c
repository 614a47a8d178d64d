/* portmux ss: the kernel's connection table, as ss shows it (same options,
 * filters and columns), then each local port's service and RFC 6335 class;
 * beyond ss, ephemeral port use per destination and TIME_WAIT ages. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "portmux/err.h"
#include "host_ctl.h"
#include "portmux/ssfilter.h"
#include "ss.h"

static const char *const SUB = "ss";

static void usage(FILE *f)
{
    fprintf(f, "usage: portmux ss [options] [state NAME]... [exclude NAME]... [FILTER]\n"
               "\n"
               "Lists the kernel's TCP and UDP sockets as ss(8) does -- read through\n"
               "NETLINK_SOCK_DIAG, or /proc/net/{tcp,tcp6,udp,udp6} when netlink is\n"
               "unavailable -- with the same options, filters and columns, followed by\n"
               "two more: the service registered for the local port and the port's\n"
               "RFC 6335 class (system, user, dynamic).\n"
               "\n"
               "options (as ss):\n"
               "  -t, --tcp          TCP sockets\n"
               "  -u, --udp          UDP sockets (neither -t nor -u: both)\n"
               "  -l, --listening    listening (and unconnected UDP) sockets only\n"
               "  -a, --all          sockets in every state\n"
               "  -n, --numeric      numeric ports in the address columns\n"
               "  -r, --resolve      host names for addresses\n"
               "  -e, --extended     uid, inode, cookie (sk), v6only, shutdown state\n"
               "  -o, --options      timers: timer:(name,time left,retransmits)\n"
               "  -p, --processes    the processes holding each socket\n"
               "  -s, --summary      ss's summary (from /proc/net/sockstat), then per state\n"
               "  -4, --ipv4         IPv4 sockets only\n"
               "  -6, --ipv6         IPv6 sockets only\n"
               "  -H, --no-header    no header line\n"
               "beyond ss:\n"
               "  --ports            ephemeral port use per destination (local address,\n"
               "                     remote address, remote port), a warning above 80%%,\n"
               "                     and the ages of TIME_WAIT sockets\n"
               "  --json             JSON instead of a table\n"
               "  --no-extra         no Service and Class columns (ss's columns only)\n"
               "  --proc             read /proc/net even when netlink works\n"
               "  --no-bytecode      run the filter here, not as kernel bytecode\n"
               "  --host SOCKET      a portmux host's table, read from its control socket\n"
               "                     (portmux host --control SOCKET); same filters and columns\n"
               "  -h, --help         this text\n"
               "\n"
               "FILTER (ss's language; and/or group from the left, as in ss):\n"
               "  state established|syn-sent|syn-recv|fin-wait-1|fin-wait-2|time-wait|\n"
               "        closed|close-wait|last-ack|listening|closing, or a group:\n"
               "        all, connected, synchronized, bucket, big\n"
               "  sport|dport OP PORT     OP: = != < <= > >= (eq neq lt le gt ge)\n"
               "  src|dst ADDR[/PLEN][:PORT], [V6ADDR][:PORT], *:PORT, :PORT\n"
               "  EXPR and EXPR, EXPR or EXPR, not EXPR, ! EXPR, ( EXPR )\n"
               "\n"
               "exit: 0 ok, 1 the socket table could not be read, 2 usage error.\n"
               "examples:\n"
               "  portmux ss -tan\n"
               "  portmux ss -tln\n"
               "  portmux ss -tan state time-wait '( dport = :443 or dport = :80 )'\n"
               "  portmux ss -tan dst 10.0.0.0/8 and sport gt :1024\n"
               "  portmux ss --ports\n");
}

/* Service names in sport/dport/:PORT, through the registry, else libc. */
typedef struct port_ctx {
    ss_names *nm;
    const ss_opts *o;
} port_ctx;

static int port_by_name(void *ctx, const char *name)
{
    port_ctx *pc = ctx;
    if (!pc->nm->tried) (void)ss_service(pc->nm, 0, PM_IPPROTO_TCP);
    if (pc->nm->reg) {
        const pm_service *s = NULL;
        if (pc->o->tcp) s = pm_registry_by_name(pc->nm->reg, name, PM_IPPROTO_TCP);
        if (!s && pc->o->udp) s = pm_registry_by_name(pc->nm->reg, name, PM_IPPROTO_UDP);
        if (s) return s->port;
    }
    struct servent *se = getservbyname(name, pc->o->tcp ? "tcp" : "udp");
    return se ? ntohs((uint16_t)se->s_port) : -1;
}

/* ---- ss -s ----------------------------------------------------------- */

typedef struct sockstat {
    int socks, tcp4, tcp_orphans, tcp_tws, tcp_total, tcp_mem, udp4, raw4, frag4, frag_mem;
    int tcp6, udp6, raw6, frag6, frag6_mem;
} sockstat;

static void read_sockstat(sockstat *s)
{
    char line[256];
    FILE *f = fopen("/proc/net/sockstat", "re");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            sscanf(line, "sockets: used %d", &s->socks);
            sscanf(line, "UDP: inuse %d", &s->udp4);
            sscanf(line, "RAW: inuse %d", &s->raw4);
            sscanf(line, "FRAG: inuse %d memory %d", &s->frag4, &s->frag_mem);
            sscanf(line, "TCP: inuse %d orphan %d tw %d alloc %d mem %d", &s->tcp4, &s->tcp_orphans,
                   &s->tcp_tws, &s->tcp_total, &s->tcp_mem);
        }
        fclose(f);
    }
    if ((f = fopen("/proc/net/sockstat6", "re"))) {
        while (fgets(line, sizeof line, f)) {
            sscanf(line, "TCP6: inuse %d", &s->tcp6);
            sscanf(line, "UDP6: inuse %d", &s->udp6);
            sscanf(line, "RAW6: inuse %d", &s->raw6);
            sscanf(line, "FRAG6: inuse %d memory %d", &s->frag6, &s->frag6_mem);
        }
        fclose(f);
    }
}

/* Tcp: CurrEstab from /proc/net/snmp (a header line, then a value line). */
static int read_curr_estab(void)
{
    FILE *f = fopen("/proc/net/snmp", "re");
    if (!f) return 0;
    char head[1024], vals[1024];
    int result = 0;
    while (fgets(head, sizeof head, f)) {
        if (strncmp(head, "Tcp:", 4)) continue;
        if (!fgets(vals, sizeof vals, f)) break;
        char *sh, *sv;
        char *h = strtok_r(head, " \n", &sh), *v = strtok_r(vals, " \n", &sv);
        while (h && v) {
            if (!strcmp(h, "CurrEstab")) {
                result = atoi(v);
                break;
            }
            h = strtok_r(NULL, " \n", &sh);
            v = strtok_r(NULL, " \n", &sv);
        }
        break;
    }
    fclose(f);
    return result;
}

static void print_summary(const ss_opts *o, const pm_diag_table *t, pm_json *j)
{
    sockstat s = {0};
    read_sockstat(&s);
    int estab = read_curr_estab();
    unsigned counts[2][PM_SS_MAX] = {{0}};
    for (size_t i = 0; i < t->n; i++)
        counts[t->rows[i].proto == PM_IPPROTO_UDP][t->rows[i].state % PM_SS_MAX]++;
    /* ss: print_summary() */
    int closed = s.tcp_total - (s.tcp4 + s.tcp6 - s.tcp_tws);
    if (o->json) {
        pm_json_obj_begin(j, "summary");
        pm_json_int(j, "total", s.socks);
        pm_json_obj_begin(j, "tcp");
        pm_json_int(j, "total", s.tcp_total + s.tcp_tws);
        pm_json_int(j, "estab", estab);
        pm_json_int(j, "closed", closed);
        pm_json_int(j, "orphaned", s.tcp_orphans);
        pm_json_int(j, "timewait", s.tcp_tws);
        pm_json_obj_end(j);
        pm_json_obj_begin(j, "transport");
        const struct {
            const char *name;
            int v4, v6;
        } tr[] = {{"raw", s.raw4, s.raw6},
                  {"udp", s.udp4, s.udp6},
                  {"tcp", s.tcp4, s.tcp6},
                  {"inet", s.raw4 + s.udp4 + s.tcp4, s.raw6 + s.udp6 + s.tcp6},
                  {"frag", s.frag4, s.frag6}};
        for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++) {
            pm_json_obj_begin(j, tr[i].name);
            pm_json_int(j, "total", tr[i].v4 + tr[i].v6);
            pm_json_int(j, "ip", tr[i].v4);
            pm_json_int(j, "ipv6", tr[i].v6);
            pm_json_obj_end(j);
        }
        pm_json_obj_end(j);
        for (int u = 0; u < 2; u++) {
            pm_json_obj_begin(j, u ? "udp_states" : "tcp_states");
            for (unsigned st = 0; st < PM_SS_MAX; st++)
                if (counts[u][st]) pm_json_int(j, pm_diag_state_name(st), counts[u][st]);
            pm_json_obj_end(j);
        }
        pm_json_obj_end(j);
        return;
    }
    printf("Total: %d\n", s.socks);
    printf("TCP:   %d (estab %d, closed %d, orphaned %d, timewait %d)\n\n", s.tcp_total + s.tcp_tws,
           estab, closed, s.tcp_orphans, s.tcp_tws);
    printf("Transport Total     IP        IPv6\n");
    printf("RAW\t  %-9d %-9d %-9d\n", s.raw4 + s.raw6, s.raw4, s.raw6);
    printf("UDP\t  %-9d %-9d %-9d\n", s.udp4 + s.udp6, s.udp4, s.udp6);
    printf("TCP\t  %-9d %-9d %-9d\n", s.tcp4 + s.tcp6, s.tcp4, s.tcp6);
    printf("INET\t  %-9d %-9d %-9d\n", s.raw4 + s.udp4 + s.tcp4 + s.raw6 + s.udp6 + s.tcp6,
           s.raw4 + s.udp4 + s.tcp4, s.raw6 + s.udp6 + s.tcp6);
    printf("FRAG\t  %-9d %-9d %-9d\n\n", s.frag4 + s.frag6, s.frag4, s.frag6);
    /* portmux: the socket table by state. */
    for (int u = 0; u < 2; u++) {
        printf("%s states:", u ? "UDP" : "TCP");
        bool any = false;
        for (unsigned st = 0; st < PM_SS_MAX; st++) {
            if (!counts[u][st]) continue;
            printf("%s %s %u", any ? "," : "", pm_diag_state_name(st), counts[u][st]);
            any = true;
        }
        printf("%s\n", any ? "" : " none");
    }
    printf("\n");
}

/* ss -s for a portmux host: its counters, then the table by state. */
static void print_host_summary(const ss_opts *o, const hostctl_reply *hr, const pm_diag_table *t,
                               pm_json *j)
{
    unsigned counts[2][PM_SS_MAX] = {{0}};
    unsigned fam[2][2] = {{0}}; /* [udp?][v6?] */
    for (size_t i = 0; i < t->n; i++) {
        bool u = t->rows[i].proto == PM_IPPROTO_UDP;
        counts[u][t->rows[i].state % PM_SS_MAX]++;
        fam[u][t->rows[i].family == PM_AF_INET6]++;
    }
    unsigned tw = counts[0][PM_SS_TIME_WAIT], estab = counts[0][PM_SS_ESTABLISHED];
    if (o->json) {
        pm_json_obj_begin(j, "summary");
        pm_json_int(j, "total", (long long)t->n);
        pm_json_obj_begin(j, "tcp");
        pm_json_int(j, "total", fam[0][0] + fam[0][1]);
        pm_json_int(j, "estab", estab);
        pm_json_int(j, "timewait", tw);
        pm_json_obj_end(j);
        pm_json_obj_begin(j, "host");
        for (size_t i = 0; i < hr->n_stats; i++)
            pm_json_int(j, hr->stats[i].name, (long long)hr->stats[i].value);
        pm_json_obj_end(j);
        for (int u = 0; u < 2; u++) {
            pm_json_obj_begin(j, u ? "udp_states" : "tcp_states");
            for (unsigned st = 0; st < PM_SS_MAX; st++)
                if (counts[u][st]) pm_json_int(j, pm_diag_state_name(st), counts[u][st]);
            pm_json_obj_end(j);
        }
        pm_json_obj_end(j);
        return;
    }
    printf("Total: %zu (a portmux host: its own sockets, TIME-WAIT entries included)\n", t->n);
    printf("TCP:   %u (estab %u, timewait %u)\n\n", fam[0][0] + fam[0][1], estab, tw);
    printf("Transport Total     IP        IPv6\n");
    printf("UDP\t  %-9u %-9u %-9u\n", fam[1][0] + fam[1][1], fam[1][0], fam[1][1]);
    printf("TCP\t  %-9u %-9u %-9u\n\n", fam[0][0] + fam[0][1], fam[0][0], fam[0][1]);
    printf("Host:");
    for (size_t i = 0; i < hr->n_stats; i++)
        printf("%s %s %llu", i ? "," : "", hr->stats[i].name,
               (unsigned long long)hr->stats[i].value);
    printf("\n");
    for (int u = 0; u < 2; u++) {
        printf("%s states:", u ? "UDP" : "TCP");
        bool any = false;
        for (unsigned st = 0; st < PM_SS_MAX; st++) {
            if (!counts[u][st]) continue;
            printf("%s %s %u", any ? "," : "", pm_diag_state_name(st), counts[u][st]);
            any = true;
        }
        printf("%s\n", any ? "" : " none");
    }
    printf("\n");
}

/* The rows of a host's table that q selects, as the kernel readers do. */
static int host_select(const pm_diag_query *q, const pm_diag_table *all, pm_diag_table *t)
{
    for (size_t i = 0; i < all->n; i++) {
        const pm_diag_sock *r = &all->rows[i];
        if (!(q->states & PM_SS_BIT(r->state))) continue;
        if (r->proto == PM_IPPROTO_TCP ? !q->tcp : !q->udp) continue;
        if (r->family == PM_AF_INET6 ? !q->v6 : !q->v4) continue;
        if (!pm_ssf_match(q->filter, r)) continue;
        if (pm_diag_table_push(t, r) < 0) return -ENOMEM;
    }
    return 0;
}

/* ---- --ports --------------------------------------------------------- */

static int print_ports(const ss_opts *o, const pm_diag_table *t, uint16_t lo, uint16_t hi,
                       pm_json *j)
{
    pm_diag_ports p;
    pm_portset *reserved = malloc(sizeof *reserved);
    if (!reserved) return PM_EXIT_FAIL;
    if (pm_diag_read_reserved_ports(NULL, reserved) < 0) memset(reserved, 0, sizeof *reserved);
    int r = pm_diag_ports_analyse(t->rows, t->n, lo, hi, reserved, &p);
    free(reserved);
    if (r < 0) {
        fprintf(stderr, "portmux ss: out of memory\n");
        return PM_EXIT_FAIL;
    }
    uint32_t size = (uint32_t)hi - lo + 1;
    if (o->json) {
        pm_json_obj_begin(j, "ports");
        pm_json_obj_begin(j, "range");
        pm_json_int(j, "lo", lo);
        pm_json_int(j, "hi", hi);
        pm_json_int(j, "size", size);
        pm_json_obj_end(j);
        pm_json_int(j, "listening_in_range", p.listening);
        pm_json_int(j, "reserved_in_range", p.reserved);
        pm_json_arr_begin(j, "destinations");
        for (size_t i = 0; i < p.n; i++) {
            const pm_diag_dest *d = &p.dests[i];
            char a[PM_IP_STRLEN], b[PM_IP_STRLEN];
            uint32_t used = pm_diag_dest_used(&p, d);
            pm_json_obj_begin(j, NULL);
            pm_json_str(j, "proto", d->proto == PM_IPPROTO_UDP ? "udp" : "tcp");
            pm_json_str(j, "local", pm_ip_format(&d->laddr, a));
            pm_json_str(j, "remote", pm_ip_format(&d->raddr, b));
            pm_json_int(j, "remote_port", d->rport);
            pm_json_int(j, "in_use", d->in_use);
            pm_json_int(j, "time_wait", d->time_wait);
            pm_json_int(j, "used", used);
            pm_json_int(j, "remaining", pm_diag_dest_left(&p, d));
            pm_json_num(j, "used_pct", 100.0 * used / size);
            pm_json_bool(j, "warning", used * 5 > size * 4);
            pm_json_obj_end(j);
        }
        pm_json_arr_end(j);
        pm_json_obj_begin(j, "time_wait");
        pm_json_int(j, "total", p.tw_total);
        pm_json_arr_begin(j, "age_histogram");
        for (int b = 0; b < PM_TW_BUCKETS; b++) {
            pm_json_obj_begin(j, NULL);
            pm_json_int(j, "from_s", b * PM_TW_BUCKET_MS / 1000);
            pm_json_int(j, "to_s", (b + 1) * PM_TW_BUCKET_MS / 1000);
            pm_json_int(j, "count", p.tw_age[b]);
            pm_json_obj_end(j);
        }
        pm_json_arr_end(j);
        pm_json_obj_end(j);
        pm_json_obj_end(j);
        pm_diag_ports_free(&p);
        return PM_EXIT_OK;
    }
    printf("Ephemeral ports %u-%u (%u ports, net.ipv4.ip_local_port_range); inside it "
           "%u listening, %u reserved (ip_local_reserved_ports)\n\n",
           lo, hi, size, p.listening, p.reserved);
    /* Address columns as wide as their widest entry. */
    int wl = (int)strlen("Local Address"), wp = (int)strlen("Peer Address:Port");
    for (size_t i = 0; i < p.n; i++) {
        char a[PM_IP_STRLEN];
        int l = (int)strlen(pm_ip_format(&p.dests[i].laddr, a));
        int pw = (int)strlen(pm_ip_format(&p.dests[i].raddr, a)) + 6 +
                 (pm_ip_is_v4(&p.dests[i].raddr) ? 0 : 2);
        if (l > wl) wl = l;
        if (pw > wp) wp = pw;
    }
    if (!p.n)
        printf("No connection uses the ephemeral range.\n");
    else
        printf("%-5s %-*s %-*s %7s %9s %7s %9s %6s\n", "Proto", wl, "Local Address", wp,
               "Peer Address:Port", "In-use", "TIME-WAIT", "Used", "Remaining", "Use%");
    for (size_t i = 0; i < p.n; i++) {
        const pm_diag_dest *d = &p.dests[i];
        char a[PM_IP_STRLEN], b[PM_IP_STRLEN], peer[PM_IP_STRLEN + 10];
        uint32_t used = pm_diag_dest_used(&p, d);
        pm_ip_format(&d->raddr, b);
        snprintf(peer, sizeof peer, pm_ip_is_v4(&d->raddr) ? "%s:%u" : "[%s]:%u", b, d->rport);
        printf("%-5s %-*s %-*s %7u %9u %7u %9u %5.1f%%\n",
               d->proto == PM_IPPROTO_UDP ? "udp" : "tcp", wl, pm_ip_format(&d->laddr, a), wp, peer,
               d->in_use, d->time_wait, used, pm_diag_dest_left(&p, d), 100.0 * used / size);
    }
    for (size_t i = 0; i < p.n; i++) {
        const pm_diag_dest *d = &p.dests[i];
        uint32_t used = pm_diag_dest_used(&p, d);
        if (used * 5 <= size * 4) continue;
        char a[PM_IP_STRLEN], b[PM_IP_STRLEN];
        printf("WARNING: %s %s -> %s port %u: %.1f%% of the ephemeral range used (%u left); "
               "connect() to it will soon fail with EADDRNOTAVAIL\n",
               d->proto == PM_IPPROTO_UDP ? "udp" : "tcp", pm_ip_format(&d->laddr, a),
               pm_ip_format(&d->raddr, b), d->rport, 100.0 * used / size, pm_diag_dest_left(&p, d));
    }
    printf("\nTIME-WAIT sockets: %u; ages (60 s - time left):\n", p.tw_total);
    uint32_t max = 1;
    for (int b = 0; b < PM_TW_BUCKETS; b++)
        if (p.tw_age[b] > max) max = p.tw_age[b];
    for (int b = 0; b < PM_TW_BUCKETS; b++) {
        int bar = (int)((uint64_t)p.tw_age[b] * 50 / max);
        printf("  %2d-%2d s %8u%s", b * 10, b * 10 + 10, p.tw_age[b], bar ? " " : "");
        for (int k = 0; k < bar; k++) putchar('#');
        putchar('\n');
    }
    pm_diag_ports_free(&p);
    return PM_EXIT_OK;
}

/* ---- main ------------------------------------------------------------ */

enum { OPT_JSON = 256, OPT_PORTS, OPT_PROC, OPT_NO_BC, OPT_NO_EXTRA, OPT_HOST };

static int parse_opts(int argc, char **argv, ss_opts *o, int *first_arg, const char **host)
{
    static const struct option longopts[] = {
        {"tcp", no_argument, NULL, 't'},
        {"udp", no_argument, NULL, 'u'},
        {"listening", no_argument, NULL, 'l'},
        {"all", no_argument, NULL, 'a'},
        {"numeric", no_argument, NULL, 'n'},
        {"resolve", no_argument, NULL, 'r'},
        {"extended", no_argument, NULL, 'e'},
        {"options", no_argument, NULL, 'o'},
        {"processes", no_argument, NULL, 'p'},
        {"summary", no_argument, NULL, 's'},
        {"ipv4", no_argument, NULL, '4'},
        {"ipv6", no_argument, NULL, '6'},
        {"no-header", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, OPT_JSON},
        {"ports", no_argument, NULL, OPT_PORTS},
        {"proc", no_argument, NULL, OPT_PROC},
        {"no-bytecode", no_argument, NULL, OPT_NO_BC},
        {"no-extra", no_argument, NULL, OPT_NO_EXTRA},
        {"host", required_argument, NULL, OPT_HOST},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    /* As ss: options may come after the filter words (GNU permutation);
     * no filter word starts with '-'. */
    while ((c = getopt_long(argc, argv, "tulanreops46Hhx", longopts, NULL)) != -1) {
        switch (c) {
        case 't': o->tcp = true; break;
        case 'u': o->udp = true; break;
        case 'l': o->state_opt = PM_SS_BIT(PM_SS_LISTEN) | PM_SS_BIT(PM_SS_CLOSE); break;
        case 'a': o->state_opt = PM_SS_ALL; break;
        case 'n': o->numeric = true; break;
        case 'r': o->resolve = true; break;
        case 'e': o->ext = true; break;
        case 'o': o->timers = true; break;
        case 'p': o->procs = true; break;
        case 's': o->summary = true; break;
        case '4': o->v4 = true; break;
        case '6': o->v6 = true; break;
        case 'H': o->no_header = true; break;
        case 'h': usage(stdout); return -1;
        case OPT_JSON: o->json = true; break;
        case OPT_PORTS: o->ports = true; break;
        case OPT_PROC: o->force_proc = true; break;
        case OPT_NO_BC: o->no_bytecode = true; break;
        case OPT_NO_EXTRA: o->no_extra = true; break;
        case OPT_HOST: *host = optarg; break;
        case 'x': return pm_cli_usage_error(SUB, "-x (unix sockets) is not supported");
        default:
            if (c == ':' || (optopt == OPT_HOST))
                return pm_cli_usage_error(SUB, "%s needs an argument", argv[optind - 1]);
            if (optopt) return pm_cli_usage_error(SUB, "unknown option '-%c'", optopt);
            return pm_cli_usage_error(SUB, "unknown option '%s'", argv[optind - 1]);
        }
    }
    *first_arg = optind;
    return 0;
}

static int read_table(const ss_opts *o, const pm_diag_query *q, pm_diag_table *t,
                      const char **source)
{
    int r = -ENOSYS;
    if (!o->force_proc) {
        r = pm_diag_read_netlink(q, t);
        *source = "netlink";
    }
    if (r < 0) {
        t->n = 0; /* a partial dump is redone from /proc */
        r = pm_diag_read_proc(q, NULL, t);
        *source = "proc";
    }
    return r;
}

int cmd_ss(int argc, char **argv)
{
    ss_opts o = {0};
    int first = 1;
    const char *host = NULL;
    int r = parse_opts(argc, argv, &o, &first, &host);
    if (r < 0) return PM_EXIT_OK; /* --help */
    if (r > 0) return r;
    bool explicit_proto = o.tcp || o.udp;
    if (!o.tcp && !o.udp) o.tcp = o.udp = true;
    if (!o.v4 && !o.v6) o.v4 = o.v6 = true;

    ss_names nm = {.eph_lo = 1024, .eph_hi = 4999}; /* ss's default if unreadable */
    if (pm_diag_read_port_range(NULL, &nm.eph_lo, &nm.eph_hi) < 0) {
        nm.eph_lo = 1024;
        nm.eph_hi = 4999;
    }
    pm_ssf *filter = malloc(sizeof *filter);
    if (!filter) return PM_EXIT_FAIL;
    char err[256];
    port_ctx pc = {&nm, &o};
    if (pm_ssf_parse(filter, argc - first, argv + first, port_by_name, &pc, err, sizeof err) < 0) {
        free(filter);
        ss_names_free(&nm);
        return pm_cli_usage_error(SUB, "bad filter: %s", err);
    }

    /* ss: the state filter from the expression, else -a / -l, else each
     * protocol's default (TCP: all but LISTEN, CLOSE, TIME_WAIT, SYN_RECV;
     * UDP: connected). */
    unsigned states = filter->states ? filter->states & PM_SS_ALL : o.state_opt;
    if (!filter->states && !o.state_opt) {
        states = 0;
        if (o.tcp) states |= PM_SS_CONN;
        if (o.udp) states |= PM_SS_BIT(PM_SS_ESTABLISHED);
    }
    o.states = states;
    /* --ports and -s count everything. */
    bool listing = !o.ports && (!o.summary || explicit_proto || o.state_opt || first < argc);
    pm_diag_query q = {.states = states,
                       .tcp = o.tcp,
                       .udp = o.udp,
                       .v4 = o.v4,
                       .v6 = o.v6,
                       .filter = filter,
                       .no_bytecode = o.no_bytecode};
    pm_diag_query all = q;
    all.states = PM_SS_ALL;
    if (o.summary && !listing) all.filter = NULL;

    pm_diag_table t = {0}, t_all = {0};
    const char *source = "netlink";
    int rc = PM_EXIT_OK;
    hostctl_reply *hr = NULL;
    if (host) {
        /* A portmux host: every row over its control socket, then the same
         * selection and output as the kernel's. */
        source = "host";
        hr = calloc(1, sizeof *hr);
        if (!hr || hostctl_query(host, hr, err, sizeof err) < 0) {
            fprintf(stderr, "portmux ss: --host %s\n", hr ? err : "out of memory");
            free(hr);
            free(filter);
            ss_names_free(&nm);
            return PM_EXIT_FAIL;
        }
        nm.eph_lo = hr->eph_lo;
        nm.eph_hi = hr->eph_hi;
        if ((listing && (r = host_select(&q, &hr->t, &t)) < 0) ||
            ((o.ports || o.summary) && (r = host_select(&all, &hr->t, &t_all)) < 0)) {
            pm_diag_table_free(&hr->t);
            free(hr);
            goto fail;
        }
        pm_diag_table_free(&hr->t);
    } else {
        if (listing && (r = read_table(&o, &q, &t, &source)) < 0) goto fail;
        if ((o.ports || o.summary) && (r = read_table(&o, &all, &t_all, &source)) < 0) goto fail;
    }

    pm_diag_owners owners = {0};
    if (o.procs && listing && !host) (void)pm_diag_owners_scan(&owners, NULL);

    pm_json j;
    if (o.json) {
        pm_json_init(&j, stdout);
        pm_json_obj_begin(&j, NULL);
        pm_json_str(&j, "source", source);
    }
    if (o.summary && hr) print_host_summary(&o, hr, &t_all, &j);
    if (o.summary && !hr) print_summary(&o, &t_all, &j);
    if (o.ports) {
        uint16_t lo = nm.eph_lo, hi = nm.eph_hi;
        if (!hr && pm_diag_read_port_range(NULL, &lo, &hi) < 0) {
            lo = 32768;
            hi = 60999;
        }
        rc = print_ports(&o, &t_all, lo, hi, &j);
    }
    if (listing) {
        if (o.json) {
            if (filter->root >= 0) pm_json_bool(&j, "kernel_filter", t.kernel_filtered);
            ss_print_json_rows(&o, &nm, &t, &owners, &j);
        } else if (ss_print_table(&o, &nm, &t, &owners, stdout) < 0) {
            rc = PM_EXIT_FAIL;
        }
    }
    if (o.json) {
        pm_json_obj_end(&j);
        pm_json_end(&j);
    }
    fflush(stdout);
    pm_diag_owners_free(&owners);
    pm_diag_table_free(&t);
    pm_diag_table_free(&t_all);
    ss_names_free(&nm);
    free(filter);
    free(hr);
    return rc;
fail:
    fprintf(stderr, "portmux ss: cannot read the socket table: %s\n", pm_strerror(r));
    pm_diag_table_free(&t);
    pm_diag_table_free(&t_all);
    ss_names_free(&nm);
    free(filter);
    return PM_EXIT_FAIL;
}
