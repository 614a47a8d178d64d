/* portmux scan: a port scanner with nmap's flags, states and outputs. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "portmux/scan.h"
#include "portmux/services.h"
#include "scan_output.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: portmux scan [options] TARGET...\n"
               "\n"
               "Scans TCP or UDP ports and reports nmap's states: open, closed, filtered,\n"
               "open|filtered. Targets: 192.0.2.1, 192.0.2.0/24, 192.0.2.10-20, 2001:db8::1,\n"
               "2001:db8::/120, or a host name (first address).\n"
               "\n"
               "scan type:\n"
               "  -sT              connect() scan, no privilege needed (default if not root)\n"
               "  -sS              SYN scan over a raw socket (default as root)\n"
               "  -sU              UDP scan (raw socket; DNS and SNMP probes carry payloads)\n"
               "  -sA              ACK scan: unfiltered (a RST came back) or filtered\n"
               "  -sF, -sN, -sX    FIN, NULL (no flags), Xmas (FIN PSH URG) scans: closed (a\n"
               "                   RST came back), open|filtered (silence) or filtered\n"
               "ports:\n"
               "  -p SPEC          22,80,1000-2000  -p- (all)  -100  60000-  T:22,U:53\n"
               "  -F               the 100 most frequently open ports (nmap-services)\n"
               "  --top-ports N    the N most frequently open ports (nmap-services)\n"
               "                   (default: --top-ports 1000)\n"
               "timing:\n"
               "  --max-rate R     send at most R packets/s\n"
               "  --min-rate R     send at least R packets/s (grows the window past -M)\n"
               "  --max-retries N  at most N retransmissions of a probe (default 10; as nmap,\n"
               "                   one more than the highest retry that drew an answer)\n"
               "  -M, --max-parallelism N  probes in flight (default 1024 -sT, 4096 raw)\n"
               "  --initial-rtt-timeout T, --min-rtt-timeout T, --max-rtt-timeout T\n"
               "                   T as 250ms, 1s, 2m (default 1s, 100ms, 10s)\n"
               "  -T0..-T5         nmap's timing templates for the timeouts and retries\n"
               "  --scan-delay T, --max-scan-delay T  gap between probes: at least T; it\n"
               "                   doubles (from 5 ms, up to the max, default 1s) while\n"
               "                   only retries are answered, as nmap's\n"
               "order and splitting:\n"
               "  --seed N         key of the ip x port permutation (default: random)\n"
               "  --shards I/N     scan the I-th (1-based) of N disjoint shards (same --seed)\n"
               "  --resume FILE    on interrupt (Ctrl-C), save the state to FILE; if FILE\n"
               "                   exists, continue from it; removed when the scan completes\n"
               "output (FILE '-' is stdout; without one, normal text goes to stdout):\n"
               "  -oN FILE  normal   -oG FILE  grepable   -oX FILE  nmap XML   -oJ FILE  JSON\n"
               "  --no-progress    no progress line on stderr (shown for scans over 1 s)\n"
               "other:\n"
               "  --sport N        first source port of raw scans (default 40000-ish, random)\n"
               "  --no-firewall    -sS: do not add the nftables rule that keeps our kernel\n"
               "                   from answering SYN-ACKs with RSTs\n"
               "  --raw-sockets    raw scans: send and receive through IP raw sockets (by\n"
               "                   default frames go straight to an Ethernet device over\n"
               "                   AF_PACKET when every target has one next hop)\n"
               "  -Pn, -n, -v      accepted for nmap compatibility (no host discovery, no DNS)\n"
               "\n"
               "Scan only hosts you are allowed to scan.\n");
}

static volatile int g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* "250ms", "1s", "2m", "1h"; a bare number is seconds (nmap). */
static int parse_time(const char *s, uint64_t *us)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0)) return -EINVAL;
    double mul = 1e6;
    if (!strcmp(end, "ms"))
        mul = 1e3;
    else if (!strcmp(end, "s") || !*end)
        mul = 1e6;
    else if (!strcmp(end, "m"))
        mul = 60e6;
    else if (!strcmp(end, "h"))
        mul = 3600e6;
    else
        return -EINVAL;
    *us = (uint64_t)(v * mul);
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) *len = n;
    return buf;
}

static const char *nmap_services_path(void)
{
    const char *p = getenv("PM_NMAP_SERVICES");
    return p && *p ? p : "/usr/share/nmap/nmap-services";
}

/* Service names as nmap prints them: from nmap-services, read at run time. */
typedef struct svc_table {
    char *text;
    const char *tcp[65536], *udp[65536];
} svc_table;

static svc_table *svc_load(const char *text, size_t len)
{
    svc_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->text = malloc(len + 1);
    if (!t->text) {
        free(t);
        return NULL;
    }
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    for (char *line = strtok(t->text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *name = line, *sp = strpbrk(line, " \t");
        if (!sp) continue;
        *sp = '\0';
        char *pp = sp + 1;
        while (*pp == ' ' || *pp == '\t') pp++;
        char *endp;
        long port = strtol(pp, &endp, 10);
        if (*endp != '/' || port < 0 || port > 65535) continue;
        if (!strncmp(endp + 1, "tcp", 3) && !t->tcp[port])
            t->tcp[port] = name;
        else if (!strncmp(endp + 1, "udp", 3) && !t->udp[port])
            t->udp[port] = name;
    }
    return t;
}

static const char *svc_lookup(void *ctx, uint16_t port, uint8_t proto)
{
    svc_table *t = ctx;
    if (!t) return NULL;
    const char *n = proto == PM_IPPROTO_UDP ? t->udp[port] : t->tcp[port];
    return n; /* "unknown" is a name there too: nmap prints it, but nothing for no entry */
}

/* Without nmap-services: names from the IANA registry (services.h). */
static const char *reg_lookup(void *ctx, uint16_t port, uint8_t proto)
{
    const pm_service *s = ctx ? pm_registry_by_port(ctx, port, proto) : NULL;
    return s ? s->name : NULL;
}

static int add_target(pm_targets *t, const char *spec)
{
    int rc = pm_targets_add(t, spec);
    if (rc != -EINVAL || strchr(spec, '/')) return rc;
    /* a host name: its first address, as nmap scans it */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(spec, NULL, &hints, &ai) != 0) return -ENOENT;
    pm_ip ip;
    int fam;
    if (ai->ai_family == AF_INET) {
        ip = pm_ip4_bytes((const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr);
        fam = PM_AF_INET;
    } else {
        memcpy(ip.b, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
        fam = PM_AF_INET6;
    }
    freeaddrinfo(ai);
    return pm_targets_add_ip(t, &ip, fam);
}

enum {
    OPT_TOP = 1000,
    OPT_MAXRATE,
    OPT_MINRATE,
    OPT_RETRIES,
    OPT_IRTT,
    OPT_MINRTT,
    OPT_MAXRTT,
    OPT_SEED,
    OPT_SHARDS,
    OPT_RESUME,
    OPT_NOPROG,
    OPT_SPORT,
    OPT_NOFW,
    OPT_RAWSOCK,
    OPT_DELAY,
    OPT_MAXDELAY,
};

static FILE *open_out(const char *path, bool *to_stdout)
{
    if (!strcmp(path, "-")) {
        *to_stdout = true;
        return stdout;
    }
    return fopen(path, "w");
}

int cmd_scan(int argc, char **argv)
{
    /* nmap's two-letter flags (-sT, -oG, -Pn, -T4) become getopt's. */
    const char *portspec = NULL, *out_n = NULL, *out_g = NULL, *out_x = NULL, *out_j = NULL;
    long top = -1;
    int type = geteuid() == 0 ? PM_SCAN_SYN : PM_SCAN_CONNECT;
    pm_scan_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_retries = 10; /* nmap's; tries beyond the highest answered one are not made */
    cfg.progress = true;
    cfg.firewall = true;
    cfg.nshards = 1;
    bool have_seed = false, type_set = false, parallel_set = false;
    int rc;

    /* the command line as typed, for the output headers */
    size_t cl = 16;
    for (int i = 0; i < argc; i++) cl += strlen(argv[i]) + 1;
    char *cmdline = malloc(cl);
    if (!cmdline) return PM_EXIT_FAIL;
    strcpy(cmdline, "portmux");
    for (int i = 0; i < argc; i++) {
        strcat(cmdline, " ");
        strcat(cmdline, argv[i]);
    }

    static const struct option lopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"top-ports", required_argument, NULL, OPT_TOP},
        {"max-rate", required_argument, NULL, OPT_MAXRATE},
        {"min-rate", required_argument, NULL, OPT_MINRATE},
        {"max-retries", required_argument, NULL, OPT_RETRIES},
        {"max-parallelism", required_argument, NULL, 'M'},
        {"initial-rtt-timeout", required_argument, NULL, OPT_IRTT},
        {"min-rtt-timeout", required_argument, NULL, OPT_MINRTT},
        {"max-rtt-timeout", required_argument, NULL, OPT_MAXRTT},
        {"seed", required_argument, NULL, OPT_SEED},
        {"shards", required_argument, NULL, OPT_SHARDS},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"no-progress", no_argument, NULL, OPT_NOPROG},
        {"sport", required_argument, NULL, OPT_SPORT},
        {"no-firewall", no_argument, NULL, OPT_NOFW},
        {"raw-sockets", no_argument, NULL, OPT_RAWSOCK},
        {"scan-delay", required_argument, NULL, OPT_DELAY},
        {"max-scan-delay", required_argument, NULL, OPT_MAXDELAY},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c = 0;
    /* Targets may come anywhere (nmap's habit): '+' stops getopt at each
     * one, which is collected, and parsing goes on after it. */
    char **targets = calloc((size_t)argc + 1, sizeof *targets);
    int ntargets = 0;
    if (!targets) {
        free(cmdline);
        return PM_EXIT_FAIL;
    }
    for (;;) {
        c = getopt_long(argc, argv, "+:hs:p:Fo:P:nvT:M:", lopts, NULL);
        if (c == -1) {
            if (optind >= argc) break;
            targets[ntargets++] = argv[optind++];
            continue;
        }
        switch (c) {
        case 'h':
            usage(stdout);
            free(targets);
            free(cmdline);
            return PM_EXIT_OK;
        case 's':
            type_set = true;
            if (!strcmp(optarg, "T"))
                type = PM_SCAN_CONNECT;
            else if (!strcmp(optarg, "S"))
                type = PM_SCAN_SYN;
            else if (!strcmp(optarg, "U"))
                type = PM_SCAN_UDP;
            else if (!strcmp(optarg, "A"))
                type = PM_SCAN_ACK;
            else if (!strcmp(optarg, "F"))
                type = PM_SCAN_FIN;
            else if (!strcmp(optarg, "N"))
                type = PM_SCAN_NULL;
            else if (!strcmp(optarg, "X"))
                type = PM_SCAN_XMAS;
            else
                goto bad;
            break;
        case 'p': portspec = optarg; break;
        case 'F': top = 100; break;
        case OPT_TOP:
            top = strtol(optarg, NULL, 10);
            if (top <= 0 || top > 65536) goto bad;
            break;
        case 'o': {
            /* -oG FILE (nmap's form) or -oGFILE */
            const char *path = optarg + 1;
            if (!optarg[0]) goto bad;
            if (!*path) {
                if (optind >= argc) goto bad;
                path = argv[optind++];
            }
            if (optarg[0] == 'N')
                out_n = path;
            else if (optarg[0] == 'G')
                out_g = path;
            else if (optarg[0] == 'X')
                out_x = path;
            else if (optarg[0] == 'J')
                out_j = path;
            else
                goto bad;
            break;
        }
        case 'P':
            if (strcmp(optarg, "n")) goto bad;
            break; /* -Pn: we never do host discovery */
        case 'n':
        case 'v': break;
        case 'T': {
            int t = optarg[0] - '0';
            if (t < 0 || t > 5 || optarg[1]) goto bad;
            /* nmap's templates (nmap.cc apply_timing_template) */
            static const uint64_t irtt[] = {300000000, 15000000, 1000000, 1000000, 500000, 250000};
            static const uint64_t minr[] = {100000, 100000, 100000, 100000, 100000, 50000};
            static const uint64_t maxr[] = {300000000, 15000000, 10000000,
                                            10000000,  1250000,  300000};
            cfg.initial_rtt_us = irtt[t];
            cfg.aggressive = t >= 4;
            cfg.min_rtt_us = minr[t];
            cfg.max_rtt_us = maxr[t];
            if (t == 4) cfg.max_retries = 6, cfg.max_scan_delay_us = 10000;
            if (t == 5) cfg.max_retries = 2, cfg.max_scan_delay_us = 5000;
            if (t <= 1 && !parallel_set) cfg.max_parallel = 1;
            break;
        }
        case 'M':
            cfg.max_parallel = (unsigned)strtoul(optarg, NULL, 10);
            if (!cfg.max_parallel) goto bad;
            parallel_set = true;
            break;
        case OPT_MAXRATE: cfg.max_rate = strtod(optarg, NULL); break;
        case OPT_MINRATE: cfg.min_rate = strtod(optarg, NULL); break;
        case OPT_RETRIES: cfg.max_retries = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_IRTT:
            if (parse_time(optarg, &cfg.initial_rtt_us) < 0) goto bad;
            break;
        case OPT_MINRTT:
            if (parse_time(optarg, &cfg.min_rtt_us) < 0) goto bad;
            break;
        case OPT_MAXRTT:
            if (parse_time(optarg, &cfg.max_rtt_us) < 0) goto bad;
            break;
        case OPT_SEED:
            cfg.seed = strtoull(optarg, NULL, 0);
            have_seed = true;
            break;
        case OPT_SHARDS: {
            unsigned i, n;
            char tail;
            if (sscanf(optarg, "%u/%u%c", &i, &n, &tail) != 2 || n == 0 || i == 0 || i > n)
                goto bad;
            cfg.shard = i - 1;
            cfg.nshards = n;
            break;
        }
        case OPT_RESUME: cfg.resume_path = optarg; break;
        case OPT_NOPROG: cfg.progress = false; break;
        case OPT_SPORT: {
            unsigned long v = strtoul(optarg, NULL, 10);
            if (v < 1024 || v > 65535 - 64) goto bad;
            cfg.sport_base = (uint16_t)v;
            break;
        }
        case OPT_NOFW: cfg.firewall = false; break;
        case OPT_RAWSOCK: cfg.raw_sockets = true; break;
        case OPT_DELAY:
            if (parse_time(optarg, &cfg.scan_delay_us) < 0) goto bad;
            break;
        case OPT_MAXDELAY:
            if (parse_time(optarg, &cfg.max_scan_delay_us) < 0) goto bad;
            cfg.max_udp_scan_delay_us = cfg.max_scan_delay_us;
            break;
        default: goto bad;
        }
    }
    (void)type_set;
    cfg.type = type;
    if (ntargets == 0) {
        free(targets);
        free(cmdline);
        return pm_cli_usage_error("scan", "no targets given");
    }
    if (cfg.max_rate < 0 || cfg.min_rate < 0 || (cfg.max_rate > 0 && cfg.min_rate > cfg.max_rate)) {
        free(targets);
        free(cmdline);
        return pm_cli_usage_error("scan", "--min-rate must not exceed --max-rate");
    }
    if (!parallel_set && !cfg.max_parallel)
        cfg.max_parallel = type == PM_SCAN_CONNECT ? 1024 : 4096;
    for (int i = 0; i < ntargets; i++) {
        if ((rc = add_target(&cfg.targets, targets[i])) < 0) {
            fprintf(stderr, "portmux scan: bad target '%s': %s\n", targets[i],
                    rc == -E2BIG    ? "more than 2^32 addresses"
                    : rc == -ENOENT ? "cannot resolve"
                                    : "not an address, prefix or range");
            pm_targets_free(&cfg.targets);
            free(targets);
            free(cmdline);
            return PM_EXIT_USAGE;
        }
    }
    free(targets);
    targets = NULL;
    uint8_t proto = type == PM_SCAN_UDP ? PM_IPPROTO_UDP : PM_IPPROTO_TCP;
    size_t svclen = 0;
    char *svctext = read_file(nmap_services_path(), &svclen);
    if (portspec) {
        if (pm_portlist_parse(portspec, proto, &cfg.ports) < 0 || cfg.ports.n == 0) {
            free(svctext);
            pm_targets_free(&cfg.targets);
            free(cmdline);
            return pm_cli_usage_error("scan", "bad port list '%s'", portspec);
        }
    } else {
        if (top < 0) top = 1000; /* nmap's default */
        rc = svctext ? pm_portlist_top(svctext, svclen, proto, (size_t)top, &cfg.ports) : -ENOENT;
        if (rc < 0) {
            fprintf(stderr,
                    "portmux scan: -F/--top-ports (the default) need port frequencies from %s, "
                    "which is %s; give ports with -p (set PM_NMAP_SERVICES to use another file)\n",
                    nmap_services_path(), svctext ? "without frequency data" : "not readable");
            free(svctext);
            pm_targets_free(&cfg.targets);
            free(cmdline);
            return PM_EXIT_FAIL;
        }
    }
    svc_table *svc = svctext ? svc_load(svctext, svclen) : NULL;
    free(svctext);
    pm_registry *reg = NULL;
    if (!svc && pm_registry_load(&reg, NULL) < 0) reg = NULL;

    if (cfg.resume_path && access(cfg.resume_path, F_OK) == 0) {
        uint64_t seed;
        if (pm_scan_resume_seed(cfg.resume_path, &seed) == 0) {
            if (have_seed && seed != cfg.seed)
                fprintf(stderr, "portmux scan: --seed differs from %s's; using the file's\n",
                        cfg.resume_path);
            cfg.seed = seed;
            have_seed = true;
        }
    }
    if (!have_seed && getrandom(&cfg.seed, sizeof cfg.seed, 0) != (ssize_t)sizeof cfg.seed)
        cfg.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    if (!cfg.sport_base) cfg.sport_base = (uint16_t)(40000 + (cfg.seed % 20000));
    cfg.stop = &g_stop;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    pm_scan_result res;
    pm_scan_stats st;
    time_t started = time(NULL);
    rc = pm_scan_run(&cfg, &res, &st);
    time_t finished = time(NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int exit_code = PM_EXIT_OK;
    if (rc < 0) {
        fprintf(stderr, "portmux scan: %s%s\n", strerror(-rc),
                rc == -EPERM    ? " (raw scans -sS/-sU need root or CAP_NET_RAW; -sT does not)"
                : rc == -ESTALE ? " (the --resume file belongs to another scan)"
                                : "");
        exit_code = PM_EXIT_FAIL;
    } else {
        pm_scan_report rep = {&cfg, &res, &st, cmdline, started, finished, svc_lookup, svc};
        if (!svc) {
            rep.service = reg_lookup;
            rep.svc_ctx = reg;
        }
        bool to_stdout = false;
        struct {
            const char *path;
            int kind;
        } outs[] = {{out_n, 'N'}, {out_g, 'G'}, {out_x, 'X'}, {out_j, 'J'}};
        for (size_t i = 0; i < 4; i++) {
            if (!outs[i].path) continue;
            FILE *f = open_out(outs[i].path, &to_stdout);
            if (!f) {
                fprintf(stderr, "portmux scan: cannot write %s: %s\n", outs[i].path,
                        strerror(errno));
                exit_code = PM_EXIT_FAIL;
                continue;
            }
            if (outs[i].kind == 'N')
                pm_scan_write_normal(f, &rep, f != stdout);
            else if (outs[i].kind == 'G')
                pm_scan_write_grep(f, &rep);
            else if (outs[i].kind == 'X')
                pm_scan_write_xml(f, &rep);
            else
                pm_scan_write_json(f, &rep);
            if (f != stdout)
                fclose(f);
            else
                fflush(stdout);
        }
        if (!to_stdout) pm_scan_write_normal(stdout, &rep, false);
        if (st.interrupted) {
            fprintf(stderr, "portmux scan: interrupted%s%s\n",
                    cfg.resume_path ? "; state saved to " : "",
                    cfg.resume_path ? cfg.resume_path : " (use --resume FILE to continue later)");
            exit_code = PM_EXIT_FAIL;
        }
        pm_scan_result_free(&res);
    }
    if (svc) {
        free(svc->text);
        free(svc);
    }
    pm_registry_free(reg);
    pm_portlist_free(&cfg.ports);
    pm_targets_free(&cfg.targets);
    free(cmdline);
    return exit_code;
bad:
    free(targets);
    free(cmdline);
    if (optopt && c == ':') return pm_cli_usage_error("scan", "option needs a value");
    return pm_cli_usage_error("scan", "bad option or value near '%s'", argv[optind - 1]);
}
