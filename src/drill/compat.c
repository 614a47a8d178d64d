/* The backtick compatibility layer: the shell commands packetdrill scripts
 * run (sysctl, sockstat, ss, tcpdrop) translated into knobs and checks the
 * target understands. Anything else is unsupported: the script is skipped,
 * never passed. The table is docs/drill.md's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill/drill_int.h"

static const struct {
    const char *sysctl, *knob;
} knobs[] = {
    /* FreeBSD */
    {"net.inet.tcp.insecure_rst", "insecure_rst"},
    {"net.inet.tcp.insecure_syn", "insecure_syn"},
    {"net.inet.tcp.rfc1323", "rfc1323"},
    {"net.inet.tcp.sack.enable", "sack"},
    {"net.inet.tcp.ecn.enable", "ecn"},
    {"net.inet.tcp.recvspace", "recvspace"},
    {"net.inet.tcp.sendspace", "sendspace"},
    {"net.inet.tcp.rexmit_initial", "rexmit_initial_ms"},
    {"net.inet.tcp.rexmit_min", "rexmit_min_ms"},
    {"net.inet.tcp.blackhole", "blackhole"},
    {"net.inet.udp.blackhole", "udp_blackhole"},
    {"net.inet.tcp.hostcache.purgenow", "hostcache_purge"},
    {"net.inet.tcp.msl", "msl_ms"},
    {"net.inet.tcp.syncookies", "syncookies"},
    {"net.inet.tcp.syncookies_only", "syncookies_only"},
    {"net.inet.tcp.nolocaltimewait", "nolocaltimewait"},
    {"net.inet.tcp.mssdflt", "mssdflt"},
    {"net.inet.tcp.tolerate_missing_ts", "tolerate_missing_ts"},
    {"net.inet.ip.portrange.first", "ephemeral_first"},
    {"net.inet.ip.portrange.last", "ephemeral_last"},
    {"kern.ipc.maxsockbuf", "maxsockbuf"},
    {"kern.ipc.somaxconn", "somaxconn"},
    /* Linux */
    {"net.ipv4.tcp_tw_reuse", "tw_reuse"},
    {"net.ipv4.tcp_timestamps", "timestamps"},
    {"net.ipv4.tcp_window_scaling", "window_scaling"},
    {"net.ipv4.tcp_sack", "sack"},
    {"net.ipv4.tcp_ecn", "ecn"},
    {"net.ipv4.tcp_syncookies", "syncookies"},
    {"net.ipv4.tcp_rfc1337", "rfc1337"},
    {"net.ipv4.tcp_fin_timeout", "fin_timeout_s"},
    {"net.ipv4.tcp_max_tw_buckets", "max_tw_buckets"},
    {"net.ipv4.tcp_max_syn_backlog", "max_syn_backlog"},
    {"net.ipv4.tcp_syn_retries", "syn_retries"},
    {"net.ipv4.tcp_synack_retries", "synack_retries"},
    {"net.ipv4.tcp_abort_on_overflow", "abort_on_overflow"},
    {"net.ipv4.tcp_challenge_ack_limit", "challenge_ack_limit"},
    {"net.ipv4.tcp_invalid_ratelimit", "invalid_ratelimit_ms"},
    {"net.ipv4.tcp_fastopen", "fastopen"},
    {"net.ipv4.ip_local_port_range", "local_port_range"},
    {"net.ipv4.ip_unprivileged_port_start", "unprivileged_port_start"},
    {"net.ipv4.ip_autobind_reuse", "autobind_reuse"},
    {"net.core.somaxconn", "somaxconn"},
};

#define MAX_WORDS  32
#define MAX_STAGES 6

typedef struct {
    char *w[MAX_WORDS];
    int n;
} stage;

/* Copies s with blanks around each unquoted '|', so words never touch a
 * bar. */
static bool spaced(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    char q = 0;
    for (; *s; s++) {
        if (n + 4 >= cap) return false;
        if (q) {
            if (*s == q) q = 0;
        } else if (*s == '"' || *s == '\'') {
            q = *s;
        } else if (*s == '|') {
            out[n++] = ' ';
            out[n++] = '|';
            out[n++] = ' ';
            continue;
        }
        out[n++] = *s;
    }
    out[n] = '\0';
    return true;
}

/* Splits "a b | c d" into stages of words; quotes ('..' "..") group words.
 * Returns the number of stages, or -1 when too long or malformed. */
static int split(char *s, stage *st)
{
    int ns = 0;
    st[0].n = 0;
    char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        if (*p == '|') {
            if (st[ns].n == 0 || ns + 1 >= MAX_STAGES) return -1;
            ns++;
            st[ns].n = 0;
            p++;
            continue;
        }
        if (st[ns].n >= MAX_WORDS) return -1;
        char *out = p, *w = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '|') {
            if (*p == '"' || *p == '\'') {
                char q = *p++;
                while (*p && *p != q) *out++ = *p++;
                if (*p != q) return -1;
                p++;
            } else {
                *out++ = *p++;
            }
        }
        char end = *p;
        if (end == '|') return -1; /* spaced() put blanks around every bar */
        *out = '\0';
        st[ns].w[st[ns].n++] = w;
        if (end) p++;
    }
    if (st[ns].n == 0) return ns == 0 ? 0 : -1;
    return ns + 1;
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) return false;
    *out = v;
    return true;
}

static int unsupported(char *err, size_t errcap, const char *why, const char *what)
{
    snprintf(err, errcap, "%s: %s", why, what);
    return -ENOTSUP;
}

static int sysctl_cmd(stage *s, pm_drill_cmd *cmd, char *err, size_t errcap)
{
    int i = 1;
    while (i < s->n && s->w[i][0] == '-') {
        if (strcmp(s->w[i], "-w") && strcmp(s->w[i], "-q") && strcmp(s->w[i], "-qw"))
            return unsupported(err, errcap, "unsupported sysctl flag", s->w[i]);
        i++;
    }
    if (i != s->n - 1 && !(i == s->n - 2))
        return unsupported(err, errcap, "sysctl: expected one NAME=VALUE", s->w[0]);
    char *name = s->w[i];
    char *eq = strchr(name, '=');
    char *value;
    if (eq) {
        *eq = '\0';
        value = eq + 1;
        if (i != s->n - 1) return unsupported(err, errcap, "sysctl: trailing words", name);
        /* "NAME=a b" was split by the quote-aware splitter already. */
    } else {
        return unsupported(err, errcap, "sysctl without =VALUE (a read) is not supported", name);
    }
    for (char *c = name; *c; c++)
        if (*c == '/') *c = '.';
    snprintf(cmd->sysctl, sizeof cmd->sysctl, "%s", name);
    const char *knob = NULL;
    for (size_t k = 0; k < sizeof knobs / sizeof knobs[0]; k++)
        if (!strcmp(knobs[k].sysctl, name)) knob = knobs[k].knob;
    if (!knob) return unsupported(err, errcap, "sysctl not in the compatibility table", name);
    cmd->kind = PM_DRILL_CMD_KNOB;
    cmd->knob = knob;
    /* One or two integers ("32768 60999" for a port range). */
    char *sp = strpbrk(value, " \t");
    if (sp) {
        *sp++ = '\0';
        while (*sp == ' ' || *sp == '\t') sp++;
    }
    if (!parse_i64(value, &cmd->value) || (sp && *sp && !parse_i64(sp, &cmd->value2)))
        return unsupported(err, errcap, "sysctl value is not an integer", name);
    cmd->n_values = sp && *sp ? 2 : 1;
    return 0;
}

/* sockstat [-46cln] [-P proto] [-p port] [-s] | ss [-tuan46H] [state S]
 * [sport = :N] */
static int list_cmd(stage *s, pm_drill_cmd *cmd, char *err, size_t errcap)
{
    bool is_ss = !strcmp(s->w[0], "ss");
    for (int i = 1; i < s->n; i++) {
        const char *w = s->w[i];
        if (!strcmp(w, "-P") && i + 1 < s->n) {
            const char *pr = s->w[++i];
            if (!strcmp(pr, "tcp"))
                cmd->proto = PM_IPPROTO_TCP;
            else if (!strcmp(pr, "udp"))
                cmd->proto = PM_IPPROTO_UDP;
            else
                return unsupported(err, errcap, "sockstat -P: only tcp or udp", pr);
        } else if (!strcmp(w, "-p") && i + 1 < s->n && !is_ss) {
            int64_t port;
            if (!parse_i64(s->w[++i], &port) || port < 1 || port > 65535)
                return unsupported(err, errcap, "sockstat -p: one port number", s->w[i]);
            cmd->port = (uint16_t)port;
        } else if (is_ss && !strcmp(w, "state") && i + 1 < s->n) {
            int st = pm_drill_state_parse(s->w[++i]);
            if (st < 0) return unsupported(err, errcap, "ss: unknown state", s->w[i]);
            cmd->state = st;
        } else if (is_ss && (!strcmp(w, "sport") || !strcmp(w, "dport")) && i + 2 < s->n &&
                   !strcmp(s->w[i + 1], "=") && s->w[i + 2][0] == ':' && w[0] == 's') {
            int64_t port;
            if (!parse_i64(s->w[i + 2] + 1, &port) || port < 1 || port > 65535)
                return unsupported(err, errcap, "ss: bad port", s->w[i + 2]);
            cmd->port = (uint16_t)port;
            i += 2;
        } else if (w[0] == '-' && w[1] && w[1] != '-') {
            for (const char *c = w + 1; *c; c++) {
                if (*c == '4')
                    cmd->family = 4;
                else if (*c == '6')
                    cmd->family = 6;
                else if (is_ss && *c == 't')
                    cmd->proto = PM_IPPROTO_TCP;
                else if (is_ss && *c == 'u')
                    cmd->proto = PM_IPPROTO_UDP;
                else if (!strchr(is_ss ? "anHlpe" : "clnsquwLN", *c))
                    return unsupported(err, errcap, "unsupported flag", w);
            }
        } else {
            return unsupported(err, errcap, "unsupported argument", w);
        }
    }
    return 0;
}

int pm_drill_command_parse(const char *line, pm_drill_cmd *cmd, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    memset(cmd, 0, sizeof *cmd);
    cmd->state = -1;
    char buf[1024];
    if (!line || strlen(line) >= 512 || !spaced(line, buf, sizeof buf))
        return unsupported(err, errcap, "command too long", "(512 bytes at most)");
    stage st[MAX_STAGES];
    int ns = split(buf, st);
    if (ns <= 0) return unsupported(err, errcap, "unsupported command", line);
    const char *prog = st[0].w[0];
    if (!strcmp(prog, "sysctl")) {
        if (ns != 1) return unsupported(err, errcap, "sysctl in a pipeline", line);
        return sysctl_cmd(&st[0], cmd, err, errcap);
    }
    if (!strcmp(prog, "tcpdrop")) {
        if (ns != 1) return unsupported(err, errcap, "tcpdrop in a pipeline", line);
        cmd->kind = PM_DRILL_CMD_DROP;
        if (st[0].n == 2 && !strcmp(st[0].w[1], "-a")) return 0;
        if (st[0].n == 3 && !strcmp(st[0].w[1], "-s")) {
            int s = pm_drill_state_parse(st[0].w[2]);
            if (s < 0) return unsupported(err, errcap, "tcpdrop: unknown state", st[0].w[2]);
            cmd->state = s;
            return 0;
        }
        return unsupported(err, errcap, "tcpdrop: only -a or -s STATE", line);
    }
    if (!strcmp(prog, "sockstat") || !strcmp(prog, "ss")) {
        cmd->kind = PM_DRILL_CMD_COUNT;
        int r = list_cmd(&st[0], cmd, err, errcap);
        if (r) return r;
        /* Then: grep WORD filters, one counting stage (grep -c STATE or wc
         * -l), and a final "grep N" asserting the count. */
        bool counted = false, asserted = false;
        for (int i = 1; i < ns; i++) {
            stage *s = &st[i];
            if (asserted) return unsupported(err, errcap, "stages after the final grep N", line);
            if (!strcmp(s->w[0], "wc") && s->n == 2 && !strcmp(s->w[1], "-l") && !counted) {
                counted = true;
            } else if (!strcmp(s->w[0], "grep") && s->n == 3 && !strcmp(s->w[1], "-c") &&
                       !counted) {
                int stt = pm_drill_state_parse(s->w[2]);
                if (stt < 0) return unsupported(err, errcap, "grep -c of a non-state", s->w[2]);
                cmd->state = stt;
                counted = true;
            } else if (!strcmp(s->w[0], "grep") && s->n == 2 && counted) {
                if (!parse_i64(s->w[1], &cmd->expect) || cmd->expect < 0)
                    return unsupported(err, errcap, "final grep must be a number", s->w[1]);
                asserted = true;
            } else if (!strcmp(s->w[0], "grep") && s->n == 2 && !counted) {
                /* A state name filters by state; any other word is taken to
                 * select this process's sockets (sockstat's command column,
                 * e.g. "packetdril"): the target's sockets are all ours. */
                int stt = pm_drill_state_parse(s->w[1]);
                if (stt >= 0) cmd->state = stt;
            } else {
                return unsupported(err, errcap, "unsupported pipeline stage", s->w[0]);
            }
        }
        if (!counted || !asserted)
            return unsupported(err, errcap,
                               "a socket listing must end in '| grep -c STATE | grep N'", line);
        return 0;
    }
    return unsupported(err, errcap, "unsupported command", line);
}

int pm_drill_code_parse(const char *code, pm_drill_cmd *cmd, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    memset(cmd, 0, sizeof *cmd);
    cmd->state = -1;
    char buf[256];
    if (!code || strlen(code) >= sizeof buf)
        return unsupported(err, errcap, "unsupported code", "(too long)");
    snprintf(buf, sizeof buf, "%s", code);
    stage st[MAX_STAGES];
    int ns = split(buf, st);
    if (ns == 1 && st[0].n == 4 && !strcmp(st[0].w[0], "assert") &&
        !strcmp(st[0].w[1], "tcpi_state") && !strcmp(st[0].w[2], "==")) {
        int s = pm_drill_state_parse(st[0].w[3]);
        if (s < 0) return unsupported(err, errcap, "unknown state", st[0].w[3]);
        cmd->kind = PM_DRILL_CMD_STATE;
        cmd->state = s;
        cmd->fd = -1;
        return 0;
    }
    return unsupported(err, errcap, "unsupported %{code}% (only assert tcpi_state == X)", code);
}
