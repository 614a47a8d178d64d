/* Output formats, following nmap 7.9x's output.cc so that scripts written
 * for nmap's -oG and tools reading its -oX work unchanged. */
#include "scan_output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define PM_VERSION "0.1.0"

/* nmap ignores (folds into "Not shown") a non-open state with more than
 * this many ports (portlist.cc isIgnoredState, no -v). */
#define PM_MAX_PER_STATE 25

static const char *type_name(int t)
{
    return t == PM_SCAN_SYN    ? "syn"
           : t == PM_SCAN_UDP  ? "udp"
           : t == PM_SCAN_ACK  ? "ack"
           : t == PM_SCAN_FIN  ? "fin"
           : t == PM_SCAN_NULL ? "null"
           : t == PM_SCAN_XMAS ? "xmas"
                               : "connect";
}

static uint8_t proto_of(const pm_scan_report *r)
{
    return r->cfg->type == PM_SCAN_UDP ? PM_IPPROTO_UDP : PM_IPPROTO_TCP;
}

static const char *proto_str(const pm_scan_report *r)
{
    return proto_of(r) == PM_IPPROTO_UDP ? "udp" : "tcp";
}

/* One host's view: its slice of the result arrays and counts by state. */
typedef struct host_view {
    uint64_t first; /* index of its first port */
    pm_ip ip;
    int family;
    unsigned counts[PM_PORT_STATE_MAX];
    unsigned concluded;
    bool ignored[PM_PORT_STATE_MAX];
    int nignored;
} host_view;

static void view(const pm_scan_report *r, uint64_t h, host_view *v)
{
    memset(v, 0, sizeof *v);
    size_t np = r->cfg->ports.n;
    v->first = h * np;
    v->ip = pm_targets_at(&r->cfg->targets, h, &v->family);
    for (size_t i = 0; i < np; i++) {
        uint8_t s = r->res->state[v->first + i];
        if (s && s < PM_PORT_STATE_MAX) {
            v->counts[s]++;
            v->concluded++;
        }
    }
    for (int s = 0; s < PM_PORT_STATE_MAX; s++) {
        if (s == PM_PORT_OPEN || s == PM_PORT_UNKNOWN) continue;
        if (v->counts[s] > PM_MAX_PER_STATE) {
            v->ignored[s] = true;
            v->nignored++;
        }
    }
}

/* nmap's nextIgnoredState: ignored states by count, descending; ties go
 * to the larger state number first. */
static int next_ignored(const host_view *v, int prev)
{
    int best = -1;
    for (int s = 0; s < PM_PORT_STATE_MAX; s++) {
        if (!v->ignored[s] || s == prev) continue;
        if (prev >= 0 &&
            (v->counts[s] > v->counts[prev] || (v->counts[s] == v->counts[prev] && s <= prev)))
            continue;
        if (best >= 0 && v->counts[best] >= v->counts[s]) continue;
        best = s;
    }
    return best;
}

/* The port's name in nmap-services, NULL if it has no entry there. */
static const char *svc_listed(const pm_scan_report *r, uint16_t port)
{
    return r->service ? r->service(r->svc_ctx, port, proto_of(r)) : NULL;
}

/* nmap's normal output says "unknown" for a port its table does not list
 * (its grepable output leaves the field empty, its XML the element out). */
static const char *svc(const pm_scan_report *r, uint16_t port)
{
    const char *s = svc_listed(r, port);
    return s ? s : "unknown";
}

static void ctime_str(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, "%a %b %e %H:%M:%S %Y", &tm);
}

static unsigned hosts_reported(const pm_scan_report *r)
{
    unsigned n = 0;
    host_view v;
    for (uint64_t h = 0; h < r->cfg->targets.total; h++) {
        view(r, h, &v);
        n += v.concluded > 0;
    }
    return n;
}

static double elapsed(const pm_scan_report *r)
{
    return (double)(r->st->end_us - r->st->start_us) / 1e6;
}

/* Reasons among a state's ports, by count. */
static void reason_counts(const pm_scan_report *r, const host_view *v, int state,
                          unsigned cnt[PM_R_COUNT])
{
    memset(cnt, 0, sizeof(unsigned) * PM_R_COUNT);
    for (size_t i = 0; i < r->cfg->ports.n; i++)
        if (r->res->state[v->first + i] == state) cnt[r->res->reason[v->first + i]]++;
}

static int top_reason(const unsigned cnt[PM_R_COUNT], const bool used[PM_R_COUNT])
{
    int best = -1;
    for (int k = 0; k < PM_R_COUNT; k++)
        if (cnt[k] && !used[k] && (best < 0 || cnt[k] > cnt[best])) best = k;
    return best;
}

/* ---- normal ------------------------------------------------------------- */

void pm_scan_write_normal(FILE *f, const pm_scan_report *r, bool file_form)
{
    char tbuf[64], ipbuf[PM_IP_STRLEN];
    if (file_form) {
        ctime_str(r->started, tbuf, sizeof tbuf);
        fprintf(f, "# portmux %s scan initiated %s as: %s\n", PM_VERSION, tbuf, r->cmdline);
    } else {
        struct tm tm;
        localtime_r(&r->started, &tm);
        strftime(tbuf, sizeof tbuf, "%Y-%m-%d %H:%M %Z", &tm);
        fprintf(f, "Starting portmux %s scan at %s\n", PM_VERSION, tbuf);
    }
    const char *proto = proto_str(r);
    host_view v;
    for (uint64_t h = 0; h < r->cfg->targets.total; h++) {
        view(r, h, &v);
        if (!v.concluded) continue;
        const char *ips = pm_ip_format(&v.ip, ipbuf);
        fprintf(f, "portmux scan report for %s\n", ips);
        if (r->st->srtt > 0)
            fprintf(f, "Host is up (%.2gs latency).\n", (double)r->st->srtt / 1e6);
        else
            fprintf(f, "Host is up.\n");
        unsigned nign = 0;
        for (int s = 0; s < PM_PORT_STATE_MAX; s++)
            if (v.ignored[s]) nign += v.counts[s];
        if (nign == v.concluded) {
            fprintf(f, "All %u scanned ports on %s are in ignored states.\n", nign, ips);
        }
        int prev = -1, s;
        bool first = true;
        while ((s = next_ignored(&v, prev)) >= 0) {
            unsigned rc[PM_R_COUNT];
            bool used[PM_R_COUNT] = {0};
            reason_counts(r, &v, s, rc);
            int k;
            while ((k = top_reason(rc, used)) >= 0) {
                used[k] = true;
                fprintf(f, "%s%u %s %s port%s (%s)", first ? "Not shown: " : ", ", rc[k],
                        pm_port_state_name(s), proto, rc[k] == 1 ? "" : "s", pm_reason_name(k));
                first = false;
            }
            prev = s;
        }
        if (!first) fputc('\n', f);
        if (nign < v.concluded) {
            /* the table: columns as wide as their widest cell, one space apart */
            size_t wp = 4, ws = 5;
            char cell[32];
            for (size_t i = 0; i < r->cfg->ports.n; i++) {
                int st = r->res->state[v.first + i];
                if (!st || v.ignored[st]) continue;
                size_t l =
                    (size_t)snprintf(cell, sizeof cell, "%u/%s", r->cfg->ports.port[i], proto);
                if (l > wp) wp = l;
                l = strlen(pm_port_state_name(st));
                if (l > ws) ws = l;
            }
            fprintf(f, "%-*s %-*s SERVICE\n", (int)wp, "PORT", (int)ws, "STATE");
            for (size_t i = 0; i < r->cfg->ports.n; i++) {
                int st = r->res->state[v.first + i];
                if (!st || v.ignored[st]) continue;
                snprintf(cell, sizeof cell, "%u/%s", r->cfg->ports.port[i], proto);
                const char *name = svc(r, r->cfg->ports.port[i]);
                fprintf(f, "%-*s %-*s %s\n", (int)wp, cell, (int)ws, pm_port_state_name(st), name);
            }
        }
        fputc('\n', f);
    }
    unsigned up = hosts_reported(r);
    uint64_t total = r->cfg->targets.total;
    if (file_form) {
        ctime_str(r->finished, tbuf, sizeof tbuf);
        fprintf(f,
                "# portmux done at %s -- %" PRIu64
                " IP address%s (%u host%s up) scanned in %.2f seconds\n",
                tbuf, total, total == 1 ? "" : "es", up, up == 1 ? "" : "s", elapsed(r));
    } else {
        fprintf(f,
                "portmux done: %" PRIu64 " IP address%s (%u host%s up) scanned in %.2f seconds\n",
                total, total == 1 ? "" : "es", up, up == 1 ? "" : "s", elapsed(r));
    }
}

/* ---- grepable ----------------------------------------------------------- */

void pm_scan_write_grep(FILE *f, const pm_scan_report *r)
{
    char tbuf[64], ipbuf[PM_IP_STRLEN];
    ctime_str(r->started, tbuf, sizeof tbuf);
    fprintf(f, "# portmux %s scan initiated %s as: %s\n", PM_VERSION, tbuf, r->cmdline);
    const char *proto = proto_str(r);
    host_view v;
    for (uint64_t h = 0; h < r->cfg->targets.total; h++) {
        view(r, h, &v);
        if (!v.concluded) continue;
        const char *ips = pm_ip_format(&v.ip, ipbuf);
        fprintf(f, "Host: %s ()\tStatus: Up\n", ips);
        fprintf(f, "Host: %s ()\tPorts: ", ips);
        bool first = true;
        for (size_t i = 0; i < r->cfg->ports.n; i++) {
            int st = r->res->state[v.first + i];
            if (!st || v.ignored[st]) continue;
            const char *name = svc_listed(r, r->cfg->ports.port[i]);
            if (!name) name = "";
            /* port/state/protocol/owner/service/rpc info/version/ */
            fprintf(f, "%s%u/%s/%s//%s///", first ? "" : ", ", r->cfg->ports.port[i],
                    pm_port_state_name(st), proto, name);
            first = false;
        }
        /* Grepable output has room for one ignored state only. */
        if (v.nignored == 1) {
            int s = next_ignored(&v, -1);
            fprintf(f, "\tIgnored State: %s (%u)", pm_port_state_name(s), v.counts[s]);
        }
        fputc('\n', f);
    }
    ctime_str(r->finished, tbuf, sizeof tbuf);
    unsigned up = hosts_reported(r);
    uint64_t total = r->cfg->targets.total;
    fprintf(f,
            "# portmux done at %s -- %" PRIu64
            " IP address%s (%u host%s up) scanned in %.2f seconds\n",
            tbuf, total, total == 1 ? "" : "es", up, up == 1 ? "" : "s", elapsed(r));
}

/* ---- XML ---------------------------------------------------------------- */

static void xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* "1-3,7,9-10" over the ports of one host in (state, reason), or all ports
 * when state < 0. */
static void port_ranges(FILE *f, const pm_scan_report *r, uint64_t first, int state, int reason)
{
    const uint16_t *p = r->cfg->ports.port;
    size_t n = r->cfg->ports.n, i = 0;
    bool any = false;
    while (i < n) {
        bool in =
            state < 0 || (r->res->state[first + i] == state && r->res->reason[first + i] == reason);
        if (!in) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < n && p[j + 1] == p[j] + 1 &&
               (state < 0 ||
                (r->res->state[first + j + 1] == state && r->res->reason[first + j + 1] == reason)))
            j++;
        fprintf(f, "%s%u", any ? "," : "", p[i]);
        if (j > i) fprintf(f, "-%u", p[j]);
        any = true;
        i = j + 1;
    }
}

void pm_scan_write_xml(FILE *f, const pm_scan_report *r)
{
    char tbuf[64], ipbuf[PM_IP_STRLEN];
    ctime_str(r->started, tbuf, sizeof tbuf);
    const char *proto = proto_str(r);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n");
    fprintf(f, "<!-- portmux %s scan initiated %s as: ", PM_VERSION, tbuf);
    /* "--" may not appear in a comment: write the second '-' as nmap does */
    for (const char *c = r->cmdline; *c; c++) {
        if (*c == '-' && c > r->cmdline && c[-1] == '-')
            fputs("&#45;", f);
        else
            fputc(*c, f);
    }
    /* nmap.dtd enumerates scanner as (nmap) only: tools that validate
     * or check it accept the file; the comment above and args name us. */
    fprintf(f, " -->\n<nmaprun scanner=\"nmap\" args=\"");
    xml_escape(f, r->cmdline);
    fprintf(f, "\" start=\"%lld\" startstr=\"%s\" version=\"%s\" xmloutputversion=\"1.05\">\n",
            (long long)r->started, tbuf, PM_VERSION);
    fprintf(f, "<scaninfo type=\"%s\" protocol=\"%s\" numservices=\"%zu\" services=\"",
            type_name(r->cfg->type), proto, r->cfg->ports.n);
    port_ranges(f, r, 0, -1, 0);
    fprintf(f, "\"/>\n<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n");
    host_view v;
    for (uint64_t h = 0; h < r->cfg->targets.total; h++) {
        view(r, h, &v);
        if (!v.concluded) continue;
        fprintf(
            f,
            "<host starttime=\"%lld\" endtime=\"%lld\"><status state=\"up\" reason=\"user-set\" "
            "reason_ttl=\"0\"/>\n",
            (long long)r->started, (long long)r->finished);
        fprintf(f, "<address addr=\"%s\" addrtype=\"%s\"/>\n<hostnames>\n</hostnames>\n<ports>",
                pm_ip_format(&v.ip, ipbuf), v.family == PM_AF_INET ? "ipv4" : "ipv6");
        int prev = -1, s;
        while ((s = next_ignored(&v, prev)) >= 0) {
            fprintf(f, "<extraports state=\"%s\" count=\"%u\">\n", pm_port_state_name(s),
                    v.counts[s]);
            unsigned rc[PM_R_COUNT];
            bool used[PM_R_COUNT] = {0};
            reason_counts(r, &v, s, rc);
            int k;
            while ((k = top_reason(rc, used)) >= 0) {
                used[k] = true;
                fprintf(f, "<extrareasons reason=\"%s\" count=\"%u\" proto=\"%s\" ports=\"",
                        pm_reason_name(k), rc[k], proto);
                port_ranges(f, r, v.first, s, k);
                fprintf(f, "\"/>\n");
            }
            fprintf(f, "</extraports>\n");
            prev = s;
        }
        for (size_t i = 0; i < r->cfg->ports.n; i++) {
            int st = r->res->state[v.first + i];
            if (!st || v.ignored[st]) continue;
            fprintf(f,
                    "<port protocol=\"%s\" portid=\"%u\"><state state=\"%s\" reason=\"%s\" "
                    "reason_ttl=\"%u\"/>",
                    proto, r->cfg->ports.port[i], pm_port_state_name(st),
                    pm_reason_name(r->res->reason[v.first + i]), r->res->ttl[v.first + i]);
            const char *name = svc_listed(r, r->cfg->ports.port[i]);
            if (name) {
                fprintf(f, "<service name=\"");
                xml_escape(f, name);
                fprintf(f, "\" method=\"table\" conf=\"3\"/>");
            }
            fprintf(f, "</port>\n");
        }
        fprintf(f, "</ports>\n<times srtt=\"%lld\" rttvar=\"%lld\" to=\"%lld\"/>\n</host>\n",
                (long long)(r->st->srtt > 0 ? r->st->srtt : 0),
                (long long)(r->st->rttvar > 0 ? r->st->rttvar : 0), (long long)r->st->timeout);
    }
    char ebuf[64];
    ctime_str(r->finished, ebuf, sizeof ebuf);
    unsigned up = hosts_reported(r);
    uint64_t total = r->cfg->targets.total;
    fprintf(
        f,
        "<runstats><finished time=\"%lld\" timestr=\"%s\" summary=\"portmux done at %s; %" PRIu64
        " IP address%s (%u host%s up) scanned in %.2f seconds\" elapsed=\"%.2f\" exit=\"success\"/>"
        "<hosts up=\"%u\" down=\"%" PRIu64 "\" total=\"%" PRIu64 "\"/>\n</runstats>\n</nmaprun>\n",
        (long long)r->finished, ebuf, ebuf, total, total == 1 ? "" : "es", up, up == 1 ? "" : "s",
        elapsed(r), elapsed(r), up, total - up, total);
}

/* ---- JSON --------------------------------------------------------------- */

void pm_scan_write_json(FILE *f, const pm_scan_report *r)
{
    pm_json j;
    char ipbuf[PM_IP_STRLEN];
    pm_json_init(&j, f);
    pm_json_obj_begin(&j, NULL);
    pm_json_str(&j, "scanner", "portmux");
    pm_json_str(&j, "version", PM_VERSION);
    pm_json_str(&j, "args", r->cmdline);
    pm_json_str(&j, "type", type_name(r->cfg->type));
    pm_json_str(&j, "protocol", proto_str(r));
    pm_json_int(&j, "start", (long long)r->started);
    pm_json_num(&j, "elapsed", elapsed(r));
    pm_json_int(&j, "seed", (long long)r->cfg->seed);
    pm_json_int(&j, "shard", r->cfg->shard + 1);
    pm_json_int(&j, "shards", r->cfg->nshards ? r->cfg->nshards : 1);
    pm_json_obj_begin(&j, "stats");
    pm_json_int(&j, "probes_sent", (long long)r->st->sent);
    pm_json_int(&j, "retransmissions", (long long)r->st->retrans);
    pm_json_int(&j, "replies", (long long)r->st->replies);
    pm_json_int(&j, "timeouts", (long long)r->st->timeouts);
    pm_json_num(&j, "pps", elapsed(r) > 0 ? (double)r->st->sent / elapsed(r) : 0);
    pm_json_int(&j, "srtt_us", r->st->srtt > 0 ? r->st->srtt : 0);
    pm_json_int(&j, "rttvar_us", r->st->rttvar > 0 ? r->st->rttvar : 0);
    pm_json_int(&j, "timeout_us", r->st->timeout);
    pm_json_int(&j, "tx_dropped", (long long)r->st->tx_dropped);
    pm_json_int(&j, "rx_dropped", (long long)r->st->rx_dropped);
    pm_json_bool(&j, "interrupted", r->st->interrupted);
    if (r->st->path) pm_json_str(&j, "path", r->st->path);
    pm_json_obj_end(&j);
    pm_json_arr_begin(&j, "hosts");
    host_view v;
    for (uint64_t h = 0; h < r->cfg->targets.total; h++) {
        view(r, h, &v);
        if (!v.concluded) continue;
        pm_json_obj_begin(&j, NULL);
        pm_json_str(&j, "addr", pm_ip_format(&v.ip, ipbuf));
        pm_json_str(&j, "family", v.family == PM_AF_INET ? "ipv4" : "ipv6");
        pm_json_obj_begin(&j, "counts");
        for (int s = 1; s < PM_PORT_STATE_MAX; s++)
            if (v.counts[s]) pm_json_int(&j, pm_port_state_name(s), v.counts[s]);
        pm_json_obj_end(&j);
        pm_json_arr_begin(&j, "ports");
        for (size_t i = 0; i < r->cfg->ports.n; i++) {
            int st = r->res->state[v.first + i];
            if (!st || v.ignored[st]) continue;
            pm_json_obj_begin(&j, NULL);
            pm_json_int(&j, "port", r->cfg->ports.port[i]);
            pm_json_str(&j, "proto", proto_str(r));
            pm_json_str(&j, "state", pm_port_state_name(st));
            pm_json_str(&j, "reason", pm_reason_name(r->res->reason[v.first + i]));
            pm_json_int(&j, "ttl", r->res->ttl[v.first + i]);
            pm_json_str(&j, "service", svc(r, r->cfg->ports.port[i]));
            pm_json_obj_end(&j);
        }
        pm_json_arr_end(&j);
        pm_json_arr_begin(&j, "extraports");
        int prev = -1, s;
        while ((s = next_ignored(&v, prev)) >= 0) {
            pm_json_obj_begin(&j, NULL);
            pm_json_str(&j, "state", pm_port_state_name(s));
            pm_json_int(&j, "count", v.counts[s]);
            pm_json_obj_end(&j);
            prev = s;
        }
        pm_json_arr_end(&j);
        pm_json_obj_end(&j);
    }
    pm_json_arr_end(&j);
    pm_json_obj_end(&j);
    pm_json_end(&j);
}
