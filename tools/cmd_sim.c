/* portmux sim: TIME_WAIT and ephemeral-port capacity planning.
 *
 * A client that opens connections to one destination (address, port) from
 * one source address can have at most one connection per source port: the
 * 5-tuple must be unique. Each connection holds its port while it is open
 * and, when the client closes first, for the TIME_WAIT that follows
 * (2 x MSL, RFC 9293 3.6.1; Linux fixes it at TCP_TIMEWAIT_LEN = 60 s).
 * By Little's law the ports in use are rate x (hold + time_wait); when
 * that passes the ports available, connect() fails with EADDRNOTAVAIL. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "portmux/ports.h"

typedef struct sim_in {
    double rate; /* new requests per second, per destination */
    double hold; /* seconds a connection stays open */
    double tw;   /* TIME_WAIT seconds */
    unsigned sources;
    pm_port_range range;
    const char *range_name;
    double per_conn; /* requests carried by one connection (keep-alive) */
    int tw_reuse;    /* net.ipv4.tcp_tw_reuse: reuse after 1 s (timestamps on) */
    int linger0;     /* SO_LINGER {1,0}: RST, no TIME_WAIT */
    int server_closes;
} sim_in;

typedef struct sim_out {
    double ports;       /* ports available per destination */
    double conn_rate;   /* connections per second */
    double port_secs;   /* seconds one connection keeps its port */
    double in_use;      /* steady-state ports in use (open + TIME_WAIT) */
    double time_wait;   /* of which in TIME_WAIT */
    double utilisation; /* in_use / ports */
    double max_rate;    /* highest connection rate the ports sustain */
    double exhaust_s;   /* seconds until exhaustion; INFINITY if never */
    double fail_frac;   /* share of connect()s failing once exhausted */
} sim_out;

/* Linux: tcp_twsk_unique() lets connect() take a TIME_WAIT port once its
 * last timestamp is more than 1 s old. */
#define TW_REUSE_AFTER 1.0

static sim_out sim_run(const sim_in *in)
{
    sim_out o;
    double tw = in->tw;
    if (in->server_closes || in->linger0)
        tw = 0; /* TIME_WAIT is elsewhere, or skipped */
    else if (in->tw_reuse && tw > TW_REUSE_AFTER)
        tw = TW_REUSE_AFTER;
    o.ports = (double)pm_port_range_size(in->range) * in->sources;
    o.conn_rate = in->rate / in->per_conn;
    o.port_secs = in->hold + tw;
    o.time_wait = o.conn_rate * tw;
    o.in_use = o.conn_rate * o.port_secs;
    o.utilisation = o.in_use / o.ports;
    o.max_rate = o.port_secs > 0 ? o.ports / o.port_secs : INFINITY;
    if (o.conn_rate > o.max_rate) {
        o.exhaust_s = o.ports / o.conn_rate;
        o.fail_frac = 1.0 - o.max_rate / o.conn_rate;
    } else {
        o.exhaust_s = INFINITY;
        o.fail_frac = 0;
    }
    return o;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: portmux sim [options]\n\n"
               "Plans ephemeral port capacity toward one destination (address, port):\n"
               "ports in use = connection rate x (hold time + TIME_WAIT), by Little's law.\n\n"
               "options:\n"
               "  --rate N         new requests per second to the destination (default 1000)\n"
               "  --hold S         seconds each connection stays open (default 0.05)\n"
               "  --range R        ephemeral range: linux, iana, windows, macos, freebsd,\n"
               "                   old-unix, or LO-HI (default linux: 32768-60999)\n"
               "  --sources N      local source addresses (default 1)\n"
               "  --time-wait S    TIME_WAIT seconds (default 60, Linux's TCP_TIMEWAIT_LEN)\n"
               "  --msl S          set TIME_WAIT to 2 x MSL instead\n"
               "  --reuse N        requests per connection, HTTP keep-alive style (default 1)\n"
               "  --tw-reuse       net.ipv4.tcp_tw_reuse=1: reuse a TIME_WAIT port after 1 s\n"
               "  --linger0        close with SO_LINGER {1,0}: RST, no TIME_WAIT\n"
               "  --server-closes  the server closes first, so TIME_WAIT stays on its side\n"
               "  --json           one JSON object\n"
               "  -h, --help       this text\n\n"
               "Without --tw-reuse/--linger0/--reuse/--server-closes the output also shows\n"
               "what each cure would give.\n");
}

static int parse_num(const char *s, double lo, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < lo) return -1;
    *out = v;
    return 0;
}

static void print_text(const sim_in *in, const sim_out *o)
{
    printf("destination capacity (one address:port)\n");
    printf("  ephemeral range      %s (%u-%u, %u ports) x %u source address%s = %.0f ports\n",
           in->range_name, in->range.lo, in->range.hi, pm_port_range_size(in->range), in->sources,
           in->sources == 1 ? "" : "es", o->ports);
    printf("  connections          %.6g/s (%.6g requests/s, %.6g per connection)\n", o->conn_rate,
           in->rate, in->per_conn);
    printf("  port held for        %.6g s (open %.6g s + TIME_WAIT %.6g s)\n", o->port_secs,
           in->hold, o->port_secs - in->hold);
    printf("  ports %s%.0f (%.0f in TIME_WAIT), %.1f%% of the range\n",
           o->utilisation > 1 ? "needed      " : "in use      ", o->in_use, o->time_wait,
           100.0 * o->utilisation);
    printf("  sustainable rate     %.6g connections/s = %.6g requests/s\n", o->max_rate,
           o->max_rate * in->per_conn);
    if (isfinite(o->exhaust_s))
        printf("  EXHAUSTED after      %.3g s: then %.1f%% of connect() calls fail with "
               "EADDRNOTAVAIL\n",
               o->exhaust_s, 100.0 * o->fail_frac);
    else if (o->utilisation > 0.8)
        printf("  warning              above 80%% of the range: little headroom\n");
    else
        printf("  verdict              fits\n");
}

typedef struct cure {
    const char *name, *what;
    sim_in in;
} cure;

static int make_cures(const sim_in *base, cure *c)
{
    int n = 0;
    c[n] = (cure){"tw_reuse", "net.ipv4.tcp_tw_reuse=1 (timestamps on)", *base};
    c[n++].in.tw_reuse = 1;
    c[n] = (cure){"linger0", "SO_LINGER {1,0}: abortive close, no TIME_WAIT", *base};
    c[n++].in.linger0 = 1;
    c[n] = (cure){"wider_range", "ip_local_port_range 1024 65535", *base};
    c[n].in.range = (pm_port_range){1024, 65535};
    c[n++].in.range_name = "1024-65535";
    c[n] = (cure){"more_sources", "4 source addresses", *base};
    c[n++].in.sources = base->sources * 4;
    c[n] = (cure){"keepalive", "100 requests per connection", *base};
    c[n++].in.per_conn = base->per_conn * 100;
    c[n] = (cure){"server_closes", "let the server close first", *base};
    c[n++].in.server_closes = 1;
    return n;
}

int cmd_sim(int argc, char **argv)
{
    sim_in in = {.rate = 1000, .hold = 0.05, .tw = 60, .sources = 1, .per_conn = 1};
    const char *range = "linux";
    int json = 0;
    enum {
        O_RATE = 256,
        O_HOLD,
        O_RANGE,
        O_SOURCES,
        O_TW,
        O_MSL,
        O_REUSE,
        O_TWREUSE,
        O_LINGER0,
        O_SERVER,
        O_JSON
    };
    static const struct option opts[] = {
        {"rate", required_argument, 0, O_RATE},
        {"hold", required_argument, 0, O_HOLD},
        {"range", required_argument, 0, O_RANGE},
        {"sources", required_argument, 0, O_SOURCES},
        {"time-wait", required_argument, 0, O_TW},
        {"msl", required_argument, 0, O_MSL},
        {"reuse", required_argument, 0, O_REUSE},
        {"tw-reuse", no_argument, 0, O_TWREUSE},
        {"linger0", no_argument, 0, O_LINGER0},
        {"server-closes", no_argument, 0, O_SERVER},
        {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    double v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_RATE:
            if (parse_num(optarg, 0, &in.rate) < 0 || in.rate <= 0)
                return pm_cli_usage_error("sim", "--rate: a positive number, not '%s'", optarg);
            break;
        case O_HOLD:
            if (parse_num(optarg, 0, &in.hold) < 0)
                return pm_cli_usage_error("sim", "--hold: seconds >= 0, not '%s'", optarg);
            break;
        case O_RANGE: range = optarg; break;
        case O_SOURCES:
            if (parse_num(optarg, 1, &v) < 0 || v != floor(v) || v > 1e6)
                return pm_cli_usage_error("sim", "--sources: a count >= 1, not '%s'", optarg);
            in.sources = (unsigned)v;
            break;
        case O_TW:
            if (parse_num(optarg, 0, &in.tw) < 0)
                return pm_cli_usage_error("sim", "--time-wait: seconds >= 0, not '%s'", optarg);
            break;
        case O_MSL:
            if (parse_num(optarg, 0, &v) < 0)
                return pm_cli_usage_error("sim", "--msl: seconds >= 0, not '%s'", optarg);
            in.tw = 2 * v;
            break;
        case O_REUSE:
            if (parse_num(optarg, 1, &in.per_conn) < 0)
                return pm_cli_usage_error("sim", "--reuse: requests >= 1, not '%s'", optarg);
            break;
        case O_TWREUSE: in.tw_reuse = 1; break;
        case O_LINGER0: in.linger0 = 1; break;
        case O_SERVER: in.server_closes = 1; break;
        case O_JSON: json = 1; break;
        case 'h': usage(stdout); return PM_EXIT_OK;
        default: return pm_cli_usage_error("sim", "unknown option");
        }
    }
    if (optind < argc) return pm_cli_usage_error("sim", "unexpected argument '%s'", argv[optind]);
    if (pm_port_range_parse(range, &in.range) < 0)
        return pm_cli_usage_error("sim", "--range: unknown profile or bad LO-HI '%s'", range);
    in.range_name = range;

    sim_out o = sim_run(&in);
    cure cures[8];
    int ncures = 0;
    if (!in.tw_reuse && !in.linger0 && !in.server_closes && in.per_conn == 1)
        ncures = make_cures(&in, cures);

    if (json) {
        pm_json j;
        pm_json_init(&j, stdout);
        pm_json_obj_begin(&j, NULL);
        pm_json_str(&j, "range", in.range_name);
        pm_json_int(&j, "range_lo", in.range.lo);
        pm_json_int(&j, "range_hi", in.range.hi);
        pm_json_int(&j, "sources", in.sources);
        pm_json_num(&j, "ports", o.ports);
        pm_json_num(&j, "request_rate", in.rate);
        pm_json_num(&j, "conn_rate", o.conn_rate);
        pm_json_num(&j, "port_seconds", o.port_secs);
        pm_json_num(&j, "ports_in_use", o.in_use);
        pm_json_num(&j, "ports_in_time_wait", o.time_wait);
        pm_json_num(&j, "utilisation", o.utilisation);
        pm_json_num(&j, "max_conn_rate", o.max_rate);
        pm_json_num(&j, "max_request_rate", o.max_rate * in.per_conn);
        pm_json_bool(&j, "exhausted", isfinite(o.exhaust_s));
        pm_json_num(&j, "exhausted_after_s", o.exhaust_s);
        pm_json_num(&j, "connect_fail_fraction", o.fail_frac);
        pm_json_arr_begin(&j, "cures");
        for (int i = 0; i < ncures; i++) {
            sim_out co = sim_run(&cures[i].in);
            pm_json_obj_begin(&j, NULL);
            pm_json_str(&j, "cure", cures[i].name);
            pm_json_str(&j, "what", cures[i].what);
            pm_json_num(&j, "utilisation", co.utilisation);
            pm_json_num(&j, "max_conn_rate", co.max_rate);
            pm_json_num(&j, "max_request_rate", co.max_rate * cures[i].in.per_conn);
            pm_json_bool(&j, "exhausted", isfinite(co.exhaust_s));
            pm_json_obj_end(&j);
        }
        pm_json_arr_end(&j);
        pm_json_obj_end(&j);
        pm_json_end(&j);
    } else {
        print_text(&in, &o);
        if (ncures) {
            printf("\ncures, one at a time\n");
            for (int i = 0; i < ncures; i++) {
                sim_out co = sim_run(&cures[i].in);
                printf("  %-13s %-46s %6.1f%% used, up to %.6g requests/s%s\n", cures[i].name,
                       cures[i].what, 100.0 * co.utilisation, co.max_rate * cures[i].in.per_conn,
                       isfinite(co.exhaust_s) ? "  (still exhausted)" : "");
            }
        }
    }
    return isfinite(o.exhaust_s) ? PM_EXIT_FAIL : PM_EXIT_OK;
}
