/* portmux host: the portmux stack on a TUN device. An epoll loop moves
 * packets between the TUN fd and the library (pm_host_input / _output),
 * fires timers from pm_host_next_deadline on CLOCK_MONOTONIC, runs the
 * built-in services (src/apps) on the socket API and answers the control
 * socket (portmux ss --host). docs/host-tun.md. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "host_ctl.h"
#include "portmux/apps.h"
#include "portmux/pcap.h"
#include "portmux/tun.h"
#include "ss.h"

static const char *const SUB = "host";

/* The embedded default (make demo): the link, then every built-in
 * service. The link part always applies first (options override it); the
 * services only when no --config, --service or --listen is given. */
static const char DEFAULT_LINK[] = "# portmux host: the embedded default configuration\n"
                                   "tun pmtun0\n"
                                   "addr 10.77.0.2/24\n"
                                   "addr6 fd00:77::2/64\n"
                                   "personality linux\n"
                                   "close-mode fin\n"
                                   "offload tso\n";
static const char DEFAULT_SERVICES[] = "service echo\n"
                                       "service discard\n"
                                       "service daytime\n"
                                       "service chargen\n"
                                       "service http\n";

#define MAX_LISTEN  64
#define MAX_CONNECT 64
#define MAX_KNOBS   32

typedef struct listen_spec {
    pm_app_kind kind;
    uint8_t proto;
    uint16_t port;
} listen_spec;

typedef struct host_opts {
    char tun[16];
    bool have_addr4, have_addr6, have_peer4, have_peer6;
    pm_ip addr4, addr6, peer4, peer6;
    unsigned plen4, plen6;
    bool no_configure;
    unsigned offload; /* PM_TUN_OFFLOAD_*: --offload none|csum|tso */
    pm_personality pers;
    listen_spec listen[MAX_LISTEN];
    size_t n_listen;
    pm_sockaddr connect[MAX_CONNECT];
    size_t n_connect;
    char pcap[256], control[108], netns[64];
    bool rst;
    struct {
        char name[40];
        int64_t v, v2;
    } knobs[MAX_KNOBS];
    size_t n_knobs;
    uint32_t max_sockets, max_tcbs, max_tw;
    uint32_t tcp_rcvbuf; /* bytes of receive buffer per TCB (0: the library's 64 KiB) */
    double duration;     /* seconds; 0: until a signal */
    bool quiet, virtual_demo, print_config;
    int config_depth;
} host_opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: portmux host [--tun NAME] [--addr A/N] [--addr6 A/N] [options]\n"
               "\n"
               "Runs the portmux stack on a TUN device: the Linux kernel on the other side\n"
               "of the link, and its clients (curl, nc, nmap), talk to portmux's TCP, UDP\n"
               "and ICMP. Without --config, --service or --listen the embedded default\n"
               "configuration applies (--print-config shows it: every built-in service).\n"
               "\n"
               "  --tun NAME            TUN device to create or open (default pmtun0)\n"
               "  --addr A/N            the host's IPv4 address and prefix (10.77.0.2/24)\n"
               "  --addr6 A/N           the host's IPv6 address and prefix\n"
               "  --peer-addr A         the kernel's address on the link (default: the first\n"
               "                        address of the subnet, or the second if that is ours)\n"
               "  --peer-addr6 A        the same for IPv6\n"
               "  --no-configure        leave the kernel's side of the TUN alone\n"
               "  --offload none|csum|tso  TUN offloads (default tso: 64 KiB TCP segments\n"
               "                        from the kernel, partial checksums; csum: only those)\n"
               "  --netns NAME          enter network namespace NAME (ip netns) first\n"
               "  --personality P       linux (default) or freebsd\n"
               "  --service NAME        echo, discard, daytime, chargen (TCP and UDP on 7, 9,\n"
               "                        13, 19) or http (TCP 80): repeatable\n"
               "  --listen PROTO:PORT[:SERVICE]\n"
               "                        serve SERVICE on tcp|udp PORT (default: the port's\n"
               "                        own service if built in, else discard)\n"
               "  --connect ADDR:PORT   open a TCP connection from the host, send a line, read\n"
               "                        until EOF ([v6]:port for IPv6); repeatable\n"
               "  --knob NAME=V[,V2]    a host knob (docs/drill.md names: local_port_range,\n"
               "                        msl_ms, syncookies, ...)\n"
               "  --max-sockets N, --max-tcbs N, --max-tw N   pool sizes\n"
               "  --tcp-rcvbuf BYTES    receive buffer (and most window) of each TCB\n"
               "                        (default 65536; every TCB's is reserved at start)\n"
               "  --config FILE         read options from FILE (one 'option value' a line)\n"
               "  --pcap FILE           record every packet in and out (LINKTYPE_RAW)\n"
               "  --control PATH        serve the socket table on a unix socket (0600) for\n"
               "                        portmux ss --host PATH\n"
               "  --close-mode fin|rst  how connections end on SIGINT/SIGTERM (default fin)\n"
               "  --duration SEC        stop after SEC seconds\n"
               "  --quiet               no log lines\n"
               "  --print-config        print the embedded default configuration, exit\n"
               "  --virtual-demo        no TUN, no root: the demo scenario between two hosts\n"
               "                        in one process, in virtual time\n"
               "  -h, --help            this text\n"
               "\n"
               "exit: 0 clean shutdown, 1 runtime failure (TUN, control socket), 2 bad\n"
               "options or configuration.\n");
}

static void logmsg(const host_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(const host_opts *o, const char *fmt, ...)
{
    if (o->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "portmux host: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_cidr(const char *s, int want, pm_ip *ip, unsigned *plen)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *slash = strchr(buf, '/');
    if (!slash) return -1;
    *slash = 0;
    int fam;
    uint32_t p;
    if (pm_ip_parse(buf, ip, &fam) < 0 || fam != want) return -1;
    if (parse_u32(slash + 1, 0, want == PM_AF_INET ? 30 : 126, &p) < 0) return -1;
    *plen = p;
    return 0;
}

static int parse_sockaddr(const char *s, pm_sockaddr *out)
{
    char buf[80];
    snprintf(buf, sizeof buf, "%s", s);
    char *host = buf, *port;
    if (buf[0] == '[') {
        char *e = strchr(buf, ']');
        if (!e || e[1] != ':') return -1;
        *e = 0;
        host = buf + 1;
        port = e + 2;
    } else {
        port = strrchr(buf, ':');
        if (!port) return -1;
        *port++ = 0;
    }
    int fam;
    uint32_t p;
    if (pm_ip_parse(host, &out->ip, &fam) < 0 || parse_u32(port, 1, 65535, &p) < 0) return -1;
    out->family = (uint16_t)fam;
    out->port = (uint16_t)p;
    return 0;
}

static int apply_file(host_opts *o, const char *path, char *err, size_t errlen);
static int apply_text(host_opts *o, const char *text, const char *origin, char *err, size_t errlen);

/* One option, from the command line or a config line. 0 or -1 + err. */
static int apply(host_opts *o, const char *key, const char *val, char *err, size_t errlen)
{
#define NEED_VAL                                                                                   \
    do {                                                                                           \
        if (!val || !*val) {                                                                       \
            snprintf(err, errlen, "%s needs a value", key);                                        \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)
#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return -1;                                                                                 \
    } while (0)
    if (!strcmp(key, "no-configure") || !strcmp(key, "quiet") || !strcmp(key, "virtual-demo") ||
        !strcmp(key, "print-config")) {
        if (val && *val) BAD("%s takes no value", key);
        if (!strcmp(key, "no-configure")) o->no_configure = true;
        if (key[0] == 'q') o->quiet = true;
        if (key[0] == 'v') o->virtual_demo = true;
        if (key[0] == 'p') o->print_config = true;
        return 0;
    }
    NEED_VAL;
    if (!strcmp(key, "offload")) {
        if (!strcmp(val, "none"))
            o->offload = 0;
        else if (!strcmp(val, "csum"))
            o->offload = PM_TUN_OFFLOAD_CSUM;
        else if (!strcmp(val, "tso"))
            o->offload = PM_TUN_OFFLOAD_TSO;
        else
            BAD("offload %s: want none, csum or tso", val);
    } else if (!strcmp(key, "tun")) {
        if (strlen(val) >= sizeof o->tun)
            BAD("tun %s: a device name has at most 15 characters", val);
        snprintf(o->tun, sizeof o->tun, "%s", val);
    } else if (!strcmp(key, "addr")) {
        if (parse_cidr(val, PM_AF_INET, &o->addr4, &o->plen4) < 0)
            BAD("addr %s: want an IPv4 address and a prefix length (0-30), A.B.C.D/N", val);
        o->have_addr4 = true;
    } else if (!strcmp(key, "addr6")) {
        if (parse_cidr(val, PM_AF_INET6, &o->addr6, &o->plen6) < 0)
            BAD("addr6 %s: want an IPv6 address and a prefix length (0-126), X::Y/N", val);
        o->have_addr6 = true;
    } else if (!strcmp(key, "peer-addr") || !strcmp(key, "peer-addr6")) {
        int fam, want = key[9] == '6' ? PM_AF_INET6 : PM_AF_INET;
        pm_ip ip;
        if (pm_ip_parse(val, &ip, &fam) < 0 || fam != want) BAD("%s %s: not an address", key, val);
        if (want == PM_AF_INET) {
            o->peer4 = ip;
            o->have_peer4 = true;
        } else {
            o->peer6 = ip;
            o->have_peer6 = true;
        }
    } else if (!strcmp(key, "personality")) {
        if (pm_personality_parse(val, &o->pers) < 0)
            BAD("personality %s: want linux or freebsd", val);
    } else if (!strcmp(key, "service")) {
        pm_app_kind k;
        if (pm_app_parse(val, &k) < 0)
            BAD("service %s: want echo, discard, daytime, chargen or http", val);
        for (int udp = 0; udp <= (int)pm_app_has_udp(k); udp++) {
            if (o->n_listen == MAX_LISTEN) BAD("too many listeners (at most %d)", MAX_LISTEN);
            o->listen[o->n_listen++] =
                (listen_spec){k, udp ? PM_IPPROTO_UDP : PM_IPPROTO_TCP, pm_app_default_port(k)};
        }
    } else if (!strcmp(key, "listen")) {
        char buf[64], *svc;
        snprintf(buf, sizeof buf, "%s", val);
        char *port = strchr(buf, ':');
        uint32_t p;
        listen_spec ls;
        if (!port) BAD("listen %s: want PROTO:PORT[:SERVICE]", val);
        *port++ = 0;
        if ((svc = strchr(port, ':'))) *svc++ = 0;
        if (!strcmp(buf, "tcp"))
            ls.proto = PM_IPPROTO_TCP;
        else if (!strcmp(buf, "udp"))
            ls.proto = PM_IPPROTO_UDP;
        else
            BAD("listen %s: protocol %s is not tcp or udp", val, buf);
        if (parse_u32(port, 1, 65535, &p) < 0) BAD("listen %s: port %s is not 1-65535", val, port);
        ls.port = (uint16_t)p;
        ls.kind = PM_APP_DISCARD;
        if (svc) {
            if (pm_app_parse(svc, &ls.kind) < 0) BAD("listen %s: unknown service %s", val, svc);
        } else {
            for (int k = 0; k < PM_APP_CLIENT; k++)
                if (pm_app_default_port((pm_app_kind)k) == p) ls.kind = (pm_app_kind)k;
        }
        if (ls.proto == PM_IPPROTO_UDP && !pm_app_has_udp(ls.kind))
            BAD("listen %s: %s is TCP only", val, pm_app_name(ls.kind));
        if (o->n_listen == MAX_LISTEN) BAD("too many listeners (at most %d)", MAX_LISTEN);
        o->listen[o->n_listen++] = ls;
    } else if (!strcmp(key, "connect")) {
        if (o->n_connect == MAX_CONNECT) BAD("too many --connect (at most %d)", MAX_CONNECT);
        if (parse_sockaddr(val, &o->connect[o->n_connect]) < 0)
            BAD("connect %s: want ADDR:PORT or [V6ADDR]:PORT", val);
        o->n_connect++;
    } else if (!strcmp(key, "knob")) {
        if (o->n_knobs == MAX_KNOBS) BAD("too many knobs");
        char buf[96];
        snprintf(buf, sizeof buf, "%s", val);
        char *eq = strchr(buf, '=');
        if (!eq) eq = strchr(buf, ' ');
        if (!eq) BAD("knob %s: want NAME=VALUE[,VALUE2]", val);
        *eq++ = 0;
        while (*eq == ' ') eq++;
        long long v, v2 = 0;
        char *end;
        v = strtoll(eq, &end, 10);
        if (end == eq) BAD("knob %s: bad value", val);
        if (*end == ',' || *end == ' ' || *end == '-') v2 = strtoll(end + 1, &end, 10);
        if (*end) BAD("knob %s: bad value", val);
        if (strlen(buf) >= sizeof o->knobs[0].name) BAD("knob %s: name too long", buf);
        memcpy(o->knobs[o->n_knobs].name, buf, strlen(buf) + 1);
        o->knobs[o->n_knobs].v = v;
        o->knobs[o->n_knobs].v2 = v2;
        o->n_knobs++;
    } else if (!strcmp(key, "tcp-rcvbuf")) {
        if (parse_u32(val, 4096, 16u << 20, &o->tcp_rcvbuf) < 0)
            BAD("tcp-rcvbuf %s: want 4096-16777216", val);
    } else if (!strcmp(key, "max-sockets") || !strcmp(key, "max-tcbs") || !strcmp(key, "max-tw")) {
        uint32_t v;
        if (parse_u32(val, 16, 1u << 20, &v) < 0) BAD("%s %s: want 16-1048576", key, val);
        *(key[4] == 's' ? &o->max_sockets : key[5] == 'c' ? &o->max_tcbs : &o->max_tw) = v;
    } else if (!strcmp(key, "config")) {
        return apply_file(o, val, err, errlen);
    } else if (!strcmp(key, "pcap")) {
        snprintf(o->pcap, sizeof o->pcap, "%s", val);
    } else if (!strcmp(key, "control")) {
        if (strlen(val) >= sizeof o->control) BAD("control %s: path too long", val);
        snprintf(o->control, sizeof o->control, "%s", val);
    } else if (!strcmp(key, "netns")) {
        if (strchr(val, '/') || strlen(val) >= sizeof o->netns) BAD("netns %s: bad name", val);
        snprintf(o->netns, sizeof o->netns, "%s", val);
    } else if (!strcmp(key, "close-mode")) {
        if (strcmp(val, "fin") && strcmp(val, "rst")) BAD("close-mode %s: want fin or rst", val);
        o->rst = !strcmp(val, "rst");
    } else if (!strcmp(key, "duration")) {
        char *end;
        o->duration = strtod(val, &end);
        if (*end || !(o->duration > 0)) BAD("duration %s: want seconds > 0", val);
    } else {
        BAD("unknown option '%s'", key);
    }
    return 0;
#undef NEED_VAL
#undef BAD
}

/* Config text: one option a line, "key value", '#' comments. */
static int apply_text(host_opts *o, const char *text, const char *origin, char *err, size_t errlen)
{
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        lineno++;
        if (len >= sizeof line) {
            snprintf(err, errlen, "%s:%d: line too long", origin, lineno);
            return -1;
        }
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *k = line;
        while (isspace((unsigned char)*k)) k++;
        char *e = k + strlen(k);
        while (e > k && isspace((unsigned char)e[-1])) *--e = 0;
        if (!*k) continue;
        char *v = k;
        while (*v && !isspace((unsigned char)*v)) v++;
        if (*v) {
            *v++ = 0;
            while (isspace((unsigned char)*v)) v++;
        }
        char why[256];
        if (apply(o, k, v, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%d: %s", origin, lineno, why);
            return -1;
        }
    }
    return 0;
}

static int apply_file(host_opts *o, const char *path, char *err, size_t errlen)
{
    if (o->config_depth > 4) {
        snprintf(err, errlen, "config %s: nested too deep", path);
        return -1;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    bool big = text && n == (1 << 20) - 1;
    fclose(f);
    if (!text || big) {
        free(text);
        snprintf(err, errlen, "config %s: %s", path, text ? "larger than 1 MiB" : "out of memory");
        return -1;
    }
    text[n] = 0;
    if (memchr(text, 0, n)) {
        free(text);
        snprintf(err, errlen, "config %s: not a text file", path);
        return -1;
    }
    o->config_depth++;
    int r = apply_text(o, text, path, err, errlen);
    o->config_depth--;
    free(text);
    return r;
}

static int parse_opts(int argc, char **argv, host_opts *o)
{
    static const struct option lo[] = {
        {"tun", required_argument, NULL, 0},
        {"addr", required_argument, NULL, 0},
        {"addr6", required_argument, NULL, 0},
        {"peer-addr", required_argument, NULL, 0},
        {"peer-addr6", required_argument, NULL, 0},
        {"no-configure", no_argument, NULL, 0},
        {"offload", required_argument, NULL, 0},
        {"netns", required_argument, NULL, 0},
        {"personality", required_argument, NULL, 0},
        {"service", required_argument, NULL, 0},
        {"listen", required_argument, NULL, 0},
        {"connect", required_argument, NULL, 0},
        {"knob", required_argument, NULL, 0},
        {"max-sockets", required_argument, NULL, 0},
        {"tcp-rcvbuf", required_argument, NULL, 0},
        {"max-tcbs", required_argument, NULL, 0},
        {"max-tw", required_argument, NULL, 0},
        {"config", required_argument, NULL, 0},
        {"pcap", required_argument, NULL, 0},
        {"control", required_argument, NULL, 0},
        {"close-mode", required_argument, NULL, 0},
        {"duration", required_argument, NULL, 0},
        {"quiet", no_argument, NULL, 0},
        {"print-config", no_argument, NULL, 0},
        {"virtual-demo", no_argument, NULL, 0},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* The embedded default applies unless services or a config are given;
     * then the command line, in order, on top. */
    bool own = false;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--config", 8) || !strncmp(argv[i], "--service", 9) ||
            !strncmp(argv[i], "--listen", 8))
            own = true;
    char err[512];
    if (apply_text(o, DEFAULT_LINK, "default config", err, sizeof err) < 0 ||
        (!own && apply_text(o, DEFAULT_SERVICES, "default config", err, sizeof err) < 0))
        return pm_cli_usage_error(SUB, "%s", err);
    int c, idx;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        if (c == ':') return pm_cli_usage_error(SUB, "%s needs a value", argv[optind - 1]);
        if (c != 0) {
            if (optopt && optopt < 256)
                return pm_cli_usage_error(SUB, "unknown option '-%c'", optopt);
            return pm_cli_usage_error(SUB, "unknown option '%s'", argv[optind - 1]);
        }
        if (apply(o, lo[idx].name, optarg, err, sizeof err) < 0)
            return pm_cli_usage_error(SUB, "%s", err);
    }
    if (optind < argc) return pm_cli_usage_error(SUB, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* ---- the host -------------------------------------------------------- */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void app_log(void *arg, const char *msg)
{
    logmsg(arg, "%s", msg);
}

static int make_host(const host_opts *o, pm_host **h)
{
    pm_host_config cfg;
    pm_host_config_default(&cfg, o->pers);
    if (getrandom(&cfg.seed, sizeof cfg.seed, 0) != sizeof cfg.seed) cfg.seed = mono_us();
    cfg.max_sockets = o->max_sockets ? o->max_sockets : 8192;
    cfg.max_tcbs = o->max_tcbs ? o->max_tcbs : 4096;
    cfg.max_tw = o->max_tw ? o->max_tw : 32768;
    cfg.max_udp = 64;
    /* The SYN queue (per listener) below the TCB pool: a flood of one port
     * leaves TCBs for the connections its cookies complete and for the
     * other ports (Linux keeps request socks apart from full sockets). */
    if (cfg.max_syn_backlog > cfg.max_tcbs / 4) cfg.max_syn_backlog = cfg.max_tcbs / 4;
    cfg.out_packets = 4096;
    if (o->tcp_rcvbuf) cfg.tcp_rcvbuf = o->tcp_rcvbuf;
    cfg.n_local = 0;
    if (o->have_addr4) cfg.local[cfg.n_local++] = o->addr4;
    if (o->have_addr6) cfg.local[cfg.n_local++] = o->addr6;
    return pm_host_create(h, &cfg);
}

static int setup_services(const host_opts *o, pm_host *h, pm_apps *apps, uint64_t now)
{
    char err[512];
    for (size_t i = 0; i < o->n_knobs; i++) {
        int r = pm_host_knob_set(h, o->knobs[i].name, o->knobs[i].v, o->knobs[i].v2);
        if (r < 0) {
            snprintf(err, sizeof err, "knob %s: %s", o->knobs[i].name,
                     r == -ENOENT ? "no such knob" : "bad value");
            return pm_cli_usage_error(SUB, "%s", err);
        }
    }
    for (size_t i = 0; i < o->n_listen; i++) {
        const listen_spec *ls = &o->listen[i];
        for (int fam = 0; fam < 2; fam++) {
            if (fam == 0 ? !o->have_addr4 : !o->have_addr6) continue;
            int r = pm_apps_listen(apps, ls->kind, ls->proto, fam ? PM_AF_INET6 : PM_AF_INET,
                                   ls->port, now);
            if (r < 0) {
                fprintf(stderr, "portmux host: %s %s port %u (%s): %s\n",
                        ls->proto == PM_IPPROTO_TCP ? "tcp" : "udp", fam ? "IPv6" : "IPv4",
                        ls->port, pm_app_name(ls->kind), strerror(-r));
                return PM_EXIT_USAGE;
            }
        }
    }
    return 0;
}

static int enter_netns(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
    close(fd);
    return r;
}

typedef struct loop {
    const host_opts *o;
    pm_host *h;
    pm_apps *apps;
    pm_tun tun;
    pm_pcap *pcap;
    uint64_t pcap_errors;
    uint64_t vnet_errors; /* reads whose virtio_net_hdr did not parse */
} loop;

/* Every queued output packet to the TUN (and the pcap). */
static void drain(loop *l, uint64_t now)
{
    uint8_t buf[PM_HOST_MIN_OUT + 64];
    int n;
    while ((n = pm_host_output(l->h, buf, sizeof buf, now)) > 0) {
        if (l->pcap && pm_pcap_write(l->pcap, buf, (size_t)n, wall_us()) < 0) l->pcap_errors++;
        (void)pm_tun_write(&l->tun, buf, (size_t)n);
    }
}

#define BATCH   64
#define MTU_BUF 2048

/* One read from the TUN: its virtio_net_hdr (with offloads) says whether
 * the TCP/UDP checksum is to be checked. */
static void tun_packet_in(loop *l, const uint8_t *p, size_t len, uint64_t now)
{
    unsigned flags = 0;
    if (l->tun.vnet) {
        pm_vnet_hdr vh;
        if (pm_vnet_hdr_parse(p, len, &vh) < 0) {
            l->vnet_errors++;
            return;
        }
        if (vh.flags & (PM_VNET_F_NEEDS_CSUM | PM_VNET_F_DATA_VALID)) flags |= PM_PARSE_CSUM_OK;
        p += PM_VNET_HDR_LEN;
        len -= PM_VNET_HDR_LEN;
    }
    if (l->pcap && pm_pcap_write(l->pcap, p, len, wall_us()) < 0) l->pcap_errors++;
    (void)pm_host_input_flags(l->h, p, len, flags, now);
}

static int run_tun(host_opts *o)
{
    if (o->netns[0]) {
        int r = enter_netns(o->netns);
        if (r < 0) {
            fprintf(stderr, "portmux host: cannot enter network namespace %s: %s\n", o->netns,
                    strerror(-r));
            return PM_EXIT_FAIL;
        }
    }
    if (!o->have_addr4 && !o->have_addr6)
        return pm_cli_usage_error(SUB, "no address: give --addr or --addr6");
    pm_ip peer4 = o->peer4, peer6 = o->peer6;
    if (o->have_addr4 && !o->have_peer4 &&
        pm_tun_peer_for(&o->addr4, o->plen4, PM_AF_INET, &peer4) < 0)
        return pm_cli_usage_error(SUB, "addr: the prefix leaves no address for the kernel");
    if (o->have_addr6 && !o->have_peer6 &&
        pm_tun_peer_for(&o->addr6, o->plen6, PM_AF_INET6, &peer6) < 0)
        return pm_cli_usage_error(SUB, "addr6: the prefix leaves no address for the kernel");
    if (o->have_addr4 && pm_ip_eq(&peer4, &o->addr4))
        return pm_cli_usage_error(SUB, "peer-addr is the host's own address");

    loop l = {.o = o};
    l.tun.fd = -1;
    int rc = PM_EXIT_FAIL, lfd = -1, ep = -1, sfd = -1;
    uint64_t now = mono_us();
    if (make_host(o, &l.h) < 0) {
        fprintf(stderr, "portmux host: cannot create the host (out of memory?)\n");
        return PM_EXIT_FAIL;
    }
    if (pm_apps_create(&l.apps, l.h, app_log, (void *)o) < 0) goto out;
    if ((rc = setup_services(o, l.h, l.apps, now)) != 0) goto out;
    rc = PM_EXIT_FAIL;

    int r = pm_tun_open_flags(&l.tun, o->tun, o->offload);
    if (r < 0) {
        fprintf(stderr, "portmux host: cannot open TUN device %s: %s%s\n", o->tun, strerror(-r),
                r == -EPERM || r == -EACCES ? " (needs root or CAP_NET_ADMIN)"
                : r == -ENOENT              ? " (no /dev/net/tun: modprobe tun?)"
                : r == -EBUSY               ? " (another process holds it)"
                                            : "");
        goto out;
    }
    if (!o->no_configure) {
        r = pm_tun_configure(&l.tun, o->have_addr4 ? &peer4 : NULL, o->plen4,
                             o->have_addr6 ? &peer6 : NULL, o->plen6, PM_TUN_MTU);
        if (r < 0) {
            fprintf(stderr, "portmux host: cannot configure %s: %s\n", l.tun.name, strerror(-r));
            goto out;
        }
    }
    if (o->pcap[0] && (r = pm_pcap_create(&l.pcap, o->pcap)) < 0) {
        fprintf(stderr, "portmux host: pcap %s: %s\n", o->pcap, strerror(-r));
        goto out;
    }
    char err[512];
    if (o->control[0] && (lfd = hostctl_listen(o->control, err, sizeof err)) < 0) {
        fprintf(stderr, "portmux host: control socket: %s\n", err);
        goto out;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGPIPE);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sigdelset(&mask, SIGPIPE);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || ep < 0) goto out;
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u32 = 0;
    epoll_ctl(ep, EPOLL_CTL_ADD, l.tun.fd, &ev);
    ev.data.u32 = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    if (lfd >= 0) {
        ev.data.u32 = 2;
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    }
    {
        char a4[PM_IP_STRLEN] = "-", p4[PM_IP_STRLEN] = "-", a6[PM_IP_STRLEN] = "-",
             p6[PM_IP_STRLEN] = "-";
        if (o->have_addr4) pm_ip_format(&o->addr4, a4), pm_ip_format(&peer4, p4);
        if (o->have_addr6) pm_ip_format(&o->addr6, a6), pm_ip_format(&peer6, p6);
        logmsg(o, "ready on %s: host %s %s, kernel %s %s%s; %llu sockets, %s personality; %s",
               l.tun.name, a4, a6, p4, p6, o->no_configure ? " (not configured)" : "",
               (unsigned long long)pm_host_count(l.h, 0, 0, -1), pm_personality_name(o->pers),
               l.tun.tso    ? "offloads: checksum, TSO"
               : l.tun.csum ? "offloads: checksum"
               : l.tun.vnet ? "offloads: virtio_net_hdr only"
                            : "no offloads");
    }
    now = mono_us();
    for (size_t i = 0; i < o->n_connect; i++) {
        char d[PM_SOCKADDR_STRLEN];
        if ((r = pm_apps_connect(l.apps, &o->connect[i], now)) < 0)
            logmsg(o, "connect %s: %s", pm_sockaddr_format(&o->connect[i], d), strerror(-r));
    }
    pm_apps_run(l.apps, now);
    drain(&l, now);

    uint64_t start = now, stop_at = o->duration > 0 ? start + (uint64_t)(o->duration * 1e6) : 0;
    uint64_t shutdown_at = 0; /* after a signal: the FINs' grace */
    /* With TSO a read is up to 64 KiB: fewer, larger slots. */
    static uint8_t
        bufs[BATCH * MTU_BUF > 16 * PM_TUN_MAX_READ ? BATCH * MTU_BUF : 16 * PM_TUN_MAX_READ];
    size_t lens[BATCH];
    size_t stride = l.tun.tso ? PM_TUN_MAX_READ : MTU_BUF + PM_VNET_HDR_LEN;
    size_t batch = sizeof bufs / stride < BATCH ? sizeof bufs / stride : BATCH;
    for (;;) {
        now = mono_us();
        uint64_t dl = pm_host_next_deadline(l.h);
        if (stop_at && stop_at < dl) dl = stop_at;
        if (shutdown_at && shutdown_at < dl) dl = shutdown_at;
        int timeout = -1;
        if (dl != UINT64_MAX) timeout = dl <= now ? 0 : (int)((dl - now + 999) / 1000);
        struct epoll_event evs[8];
        int ne = epoll_wait(ep, evs, 8, timeout);
        if (ne < 0 && errno != EINTR) break;
        now = mono_us();
        bool stop = false;
        for (int i = 0; i < ne; i++) {
            if (evs[i].data.u32 == 0) {
                int n;
                for (int round = 0; round < 64; round++) { /* until EAGAIN, bounded */
                    n = pm_tun_read_batch(&l.tun, bufs, stride, lens, batch);
                    if (n <= 0) break;
                    for (int k = 0; k < n; k++)
                        tun_packet_in(&l, bufs + (size_t)k * stride, lens[k], now);
                    pm_apps_run(l.apps, now);
                    drain(&l, now);
                    if ((size_t)n < batch) break;
                }
            } else if (evs[i].data.u32 == 1) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == sizeof si) stop = true;
            } else if (evs[i].data.u32 == 2) {
                hostctl_serve(lfd, l.h, now);
            }
        }
        pm_host_advance(l.h, now);
        pm_apps_run(l.apps, now);
        drain(&l, now);
        if ((stop || (stop_at && now >= stop_at)) && !shutdown_at) {
            logmsg(o, "shutting down: closing every connection with %s", o->rst ? "RST" : "FIN");
            pm_apps_close_all(l.apps, o->rst, now);
            drain(&l, now);
            /* FIN: a moment for the peers to answer, so nothing is left
             * half-open on the kernel's side. */
            shutdown_at = now + (o->rst ? 1 : 1000000);
            stop_at = 0;
        }
        if (shutdown_at &&
            (now >= shutdown_at || pm_host_count(l.h, PM_IPPROTO_TCP, 0, -1) ==
                                       pm_host_count(l.h, PM_IPPROTO_TCP, 0, PM_TCP_TIME_WAIT)))
            break;
    }
    {
        pm_host_stats st;
        pm_apps_stats as;
        pm_host_get_stats(l.h, &st);
        pm_apps_get_stats(l.apps, &as);
        logmsg(o,
               "stopped: %llu packets in, %llu out (%llu TUN write drops, %llu bad offload "
               "headers), %llu accepted, %llu bytes served, %llu HTTP requests",
               (unsigned long long)st.in_packets, (unsigned long long)st.out_packets,
               (unsigned long long)l.tun.tx_dropped, (unsigned long long)l.vnet_errors,
               (unsigned long long)st.accepts, (unsigned long long)as.bytes_out,
               (unsigned long long)as.http_requests);
    }
    rc = PM_EXIT_OK;
out:
    if (l.pcap && pm_pcap_close(l.pcap) < 0) {
        fprintf(stderr, "portmux host: pcap %s: write error\n", o->pcap);
        rc = PM_EXIT_FAIL;
    }
    if (lfd >= 0) hostctl_unlink(o->control, lfd);
    if (ep >= 0) close(ep);
    if (sfd >= 0) close(sfd);
    pm_tun_close(&l.tun);
    pm_apps_destroy(l.apps);
    pm_host_destroy(l.h);
    return rc;
}

int host_virtual_demo(const host_opts *o);

int cmd_host(int argc, char **argv)
{
    host_opts *o = calloc(1, sizeof *o);
    if (!o) return PM_EXIT_FAIL;
    int r = parse_opts(argc, argv, o);
    if (r) {
        free(o);
        return r < 0 ? PM_EXIT_OK : r;
    }
    if (o->print_config) {
        fputs(DEFAULT_LINK, stdout);
        fputs(DEFAULT_SERVICES, stdout);
        free(o);
        return PM_EXIT_OK;
    }
    r = o->virtual_demo ? host_virtual_demo(o) : run_tun(o);
    free(o);
    return r;
}

/* ---- --virtual-demo -------------------------------------------------- */

typedef struct vd {
    pm_host *a, *b; /* a: the client side (the kernel's role), b: the host */
    pm_apps *apps;
    pm_pcap *pcap;
    uint64_t now;
} vd;

static const pm_cred VD_CRED = {.uid = 1000, .cap_net_bind_service = false};

/* Moves packets both ways until quiet; then time jumps to the next
 * deadline. Returns false if nothing is left to happen. */
static bool vd_step(vd *v)
{
    uint8_t buf[PM_HOST_MIN_OUT];
    bool moved = false;
    int n;
    pm_apps_run(v->apps, v->now);
    while ((n = pm_host_output(v->a, buf, sizeof buf, v->now)) > 0) {
        if (v->pcap) pm_pcap_write(v->pcap, buf, (size_t)n, v->now);
        pm_host_input(v->b, buf, (size_t)n, v->now);
        moved = true;
    }
    pm_apps_run(v->apps, v->now);
    while ((n = pm_host_output(v->b, buf, sizeof buf, v->now)) > 0) {
        if (v->pcap) pm_pcap_write(v->pcap, buf, (size_t)n, v->now);
        pm_host_input(v->a, buf, (size_t)n, v->now);
        moved = true;
    }
    if (moved) {
        v->now += 50; /* 50 us per round trip leg */
        return true;
    }
    uint64_t d = pm_host_next_deadline(v->a), d2 = pm_host_next_deadline(v->b);
    if (d2 < d) d = d2;
    if (d == UINT64_MAX) return false;
    if (d > v->now) v->now = d;
    pm_host_advance(v->a, v->now);
    pm_host_advance(v->b, v->now);
    return true;
}

static bool vd_wait(vd *v, int fd, unsigned mask)
{
    for (int i = 0; i < 100000; i++) {
        if (pm_sock_poll(v->a, fd) & mask) return true;
        if (!vd_step(v)) return (pm_sock_poll(v->a, fd) & mask) != 0;
    }
    return false;
}

static int vd_connect(vd *v, uint16_t port)
{
    int fd = pm_sock_socket(v->a, PM_AF_INET, PM_SOCK_STREAM, &VD_CRED);
    pm_sockaddr to = {PM_AF_INET, port, pm_ip4(0x0a4d0002u)};
    if (fd < 0) return fd;
    int r = pm_sock_connect(v->a, fd, &to, &VD_CRED, v->now);
    if ((r < 0 && r != -EINPROGRESS) || !vd_wait(v, fd, PM_POLLOUT | PM_POLLERR)) {
        pm_sock_close(v->a, fd, v->now);
        return r < 0 && r != -EINPROGRESS ? r : -ETIMEDOUT;
    }
    int err = 0;
    size_t el = sizeof err;
    pm_sock_getsockopt(v->a, fd, PM_SOL_SOCKET, PM_SO_ERROR, &err, &el);
    if (err) {
        pm_sock_close(v->a, fd, v->now);
        return -abs(err);
    }
    return fd;
}

/* Sends all of buf (may be NULL: nothing), then reads until EOF or want
 * bytes, into out (may be NULL). Returns bytes read. */
static long vd_xfer(vd *v, int fd, const uint8_t *buf, size_t len, uint8_t *out, size_t want,
                    bool half_close)
{
    size_t sent = 0, got = 0;
    uint8_t tmp[16384];
    for (int i = 0; i < 1000000; i++) {
        while (sent < len) {
            long n = pm_sock_send(v->a, fd, buf + sent, len - sent, v->now);
            if (n <= 0) break;
            sent += (size_t)n;
        }
        if (sent == len && half_close) {
            pm_sock_shutdown(v->a, fd, PM_SHUT_WR, v->now);
            half_close = false;
        }
        long n;
        while ((n = pm_sock_recv(v->a, fd, tmp, sizeof tmp, v->now)) > 0) {
            if (out && got + (size_t)n <= want) memcpy(out + got, tmp, (size_t)n);
            got += (size_t)n;
        }
        if (n == 0 || (n < 0 && n != -EAGAIN)) break;
        if (want && got >= want && sent == len) break;
        if (!vd_step(v)) break;
    }
    return (long)got;
}

typedef struct vd_rows {
    pm_diag_table t;
} vd_rows;

static int vd_row(void *arg, const pm_host_sock_info *s)
{
    pm_diag_sock r;
    hostctl_row(s, &r);
    return pm_diag_table_push(arg, &r) < 0;
}

static void vd_ss(vd *v, const char *title, bool summary_only)
{
    pm_diag_table t = {0};
    pm_host_sockets(v->b, v->now, vd_row, &t);
    printf("\n# %s: the host's table as ss --host -tuano%s prints it\n", title,
           summary_only ? " state time-wait" : "");
    ss_opts so = {.tcp = true,
                  .udp = true,
                  .numeric = true,
                  .timers = true,
                  .v4 = true,
                  .v6 = true,
                  .states = PM_SS_ALL,
                  .state_opt = PM_SS_ALL};
    ss_names nm = {.eph_lo = 32768, .eph_hi = 60999};
    pm_diag_owners ow = {0};
    if (summary_only) {
        pm_diag_table tw = {0};
        size_t shown = 0, total = 0;
        for (size_t i = 0; i < t.n; i++)
            if (t.rows[i].state == PM_SS_TIME_WAIT && total++ < 8)
                (void)pm_diag_table_push(&tw, &t.rows[i]), shown++;
        ss_print_table(&so, &nm, &tw, &ow, stdout);
        printf("... %zu TIME-WAIT entries in all (shown %zu)\n", total, shown);
        pm_diag_table_free(&tw);
    } else {
        ss_print_table(&so, &nm, &t, &ow, stdout);
    }
    fflush(stdout);
    ss_names_free(&nm);
    pm_diag_table_free(&t);
}

int host_virtual_demo(const host_opts *o)
{
    vd v = {.now = 1000000};
    if (o->pcap[0] && pm_pcap_create(&v.pcap, o->pcap) < 0) {
        fprintf(stderr, "portmux host: pcap %s: cannot create\n", o->pcap);
        return PM_EXIT_FAIL;
    }
    pm_host_config ca, cb;
    pm_host_config_default(&ca, PM_PERS_LINUX);
    pm_host_config_default(&cb, PM_PERS_LINUX);
    ca.seed = 1;
    cb.seed = 2;
    ca.local[ca.n_local++] = pm_ip4(0x0a4d0001u); /* 10.77.0.1: the "kernel" side */
    cb.local[cb.n_local++] = pm_ip4(0x0a4d0002u); /* 10.77.0.2: the host */
    cb.max_tw = 8192;
    int rc = PM_EXIT_FAIL;
    if (pm_host_create(&v.a, &ca) < 0 || pm_host_create(&v.b, &cb) < 0 ||
        pm_apps_create(&v.apps, v.b, NULL, NULL) < 0)
        goto out;
    printf("# Virtual time: two portmux hosts back to back in one process (10.77.0.1, the\n"
           "# client, plays the kernel's part; 10.77.0.2 runs the embedded default config).\n");
    static const pm_app_kind kinds[] = {PM_APP_ECHO, PM_APP_DISCARD, PM_APP_DAYTIME, PM_APP_CHARGEN,
                                        PM_APP_HTTP};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (pm_apps_listen(v.apps, kinds[i], PM_IPPROTO_TCP, PM_AF_INET,
                           pm_app_default_port(kinds[i]), v.now) < 0)
            goto out;
        if (pm_app_has_udp(kinds[i]) && pm_apps_listen(v.apps, kinds[i], PM_IPPROTO_UDP, PM_AF_INET,
                                                       pm_app_default_port(kinds[i]), v.now) < 0)
            goto out;
    }
    vd_ss(&v, "the listeners", false);

    /* HTTP */
    printf("\n# curl http://10.77.0.2/ (the status page: the host's connection table)\n");
    int fd = vd_connect(&v, 80);
    static uint8_t page[65536];
    static const char get[] = "GET / HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n";
    long n = fd >= 0 ? vd_xfer(&v, fd, (const uint8_t *)get, sizeof get - 1, page, sizeof page - 1,
                               false)
                     : -1;
    if (n <= 0) {
        printf("HTTP request failed\n");
        goto out;
    }
    page[n < (long)sizeof page ? n : (long)sizeof page - 1] = 0;
    char *pre = strstr((char *)page, "<pre>");
    printf("%.*s", (int)strcspn((char *)page, "\r"), (char *)page);
    printf("  (%ld bytes)\n%s", n, pre ? pre + 6 : "");
    pm_sock_close(v.a, fd, v.now);

    /* echo, 1 MiB */
    static uint8_t data[1 << 20], back[1 << 20];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
    fd = vd_connect(&v, 7);
    /* No half-close: the host drops unread data of a socket whose TCB went
     * to TIME_WAIT (reported: src/host, SK_DEAD); read all, then close. */
    n = fd >= 0 ? vd_xfer(&v, fd, data, sizeof data, back, sizeof back, false) : -1;
    printf("\n# nc 10.77.0.2 7 < 1 MiB: %ld bytes back, %s\n", n,
           n == (long)sizeof data && !memcmp(data, back, sizeof data) ? "byte-exact" : "MISMATCH");
    if (fd >= 0) pm_sock_close(v.a, fd, v.now);

    /* 500 short daytime connections: the host closes first -> its TIME_WAIT */
    int ok = 0;
    char line[128] = "";
    for (int i = 0; i < 500; i++) {
        fd = vd_connect(&v, 13);
        if (fd < 0) continue;
        long k = vd_xfer(&v, fd, NULL, 0, (uint8_t *)line, sizeof line - 1, false);
        if (k > 0) ok++, line[k] = 0;
        pm_sock_close(v.a, fd, v.now);
    }
    printf("\n# 500 short connections to daytime (13): %d answered, last: %s", ok, line);
    vd_ss(&v, "TIME-WAIT on the host: it closed first", true);
    pm_host_stats st;
    pm_host_get_stats(v.b, &st);
    printf("\nhost: %llu accepted, %llu TIME_WAIT now, %llu packets in, %llu out; virtual time "
           "%.3f s\n",
           (unsigned long long)st.accepts, (unsigned long long)st.time_wait,
           (unsigned long long)st.in_packets, (unsigned long long)st.out_packets,
           (double)(v.now - 1000000) / 1e6);
    rc = ok == 500 && n == (long)sizeof data ? PM_EXIT_OK : PM_EXIT_FAIL;
out:
    if (rc) printf("virtual demo: FAILED\n");
    pm_pcap_close(v.pcap);
    pm_apps_destroy(v.apps);
    pm_host_destroy(v.a);
    pm_host_destroy(v.b);
    return rc;
}
