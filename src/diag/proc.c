/* The kernel's socket table from /proc/net/{udp,udp6,tcp,tcp6}: the
 * fallback when NETLINK_SOCK_DIAG is unavailable. Lines are as
 * tcp4_seq_show() / udp4_format_sock() print them. */
#include "portmux/diag.h"
#include "portmux/ssfilter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* n hex digits into *v; returns the position after them or NULL. */
static const char *hex(const char *p, int n, uint32_t *v)
{
    uint32_t x = 0;
    for (int i = 0; i < n; i++) {
        int d = hexval(p[i]);
        if (d < 0) return NULL;
        x = x << 4 | (uint32_t)d;
    }
    *v = x;
    return p + n;
}

/* "0100007F:1F90": the kernel prints each 32-bit word of the address as a
 * native-endian integer (%08X), so the bytes are the word's memory. */
static const char *addr_port(const char *p, uint8_t family, pm_ip *ip, uint16_t *port)
{
    while (*p == ' ') p++;
    int words = family == PM_AF_INET ? 1 : 4;
    uint8_t b[16];
    for (int i = 0; i < words; i++) {
        uint32_t w;
        if (!(p = hex(p, 8, &w))) return NULL;
        memcpy(b + 4 * i, &w, 4);
    }
    if (*p++ != ':') return NULL;
    uint32_t v;
    if (!(p = hex(p, 4, &v))) return NULL;
    *port = (uint16_t)v;
    if (family == PM_AF_INET)
        *ip = pm_ip4_bytes(b);
    else
        memcpy(ip->b, b, 16);
    return p;
}

int pm_diag_parse_proc_line(const char *line, uint8_t proto, uint8_t family, long user_hz,
                            pm_diag_sock *s)
{
    memset(s, 0, sizeof *s);
    s->proto = proto;
    s->family = family;
    s->v6only = -1;
    const char *p = strchr(line, ':'); /* after "sl" */
    if (!p) return -EINVAL;
    p++;
    if (!(p = addr_port(p, family, &s->laddr, &s->lport))) return -EINVAL;
    if (!(p = addr_port(p, family, &s->raddr, &s->rport))) return -EINVAL;
    unsigned st, tx, rx, tr, retrnsmt, uid, probes;
    unsigned long when;
    unsigned long long inode;
    int n = sscanf(p, "%x %x:%x %x:%lx %x %u %u %llu", &st, &tx, &rx, &tr, &when, &retrnsmt, &uid,
                   &probes, &inode);
    if (n != 9 || st >= PM_SS_MAX) return -EINVAL;
    s->state = (uint8_t)st;
    s->wqueue = tx;
    s->rqueue = rx;
    s->timer = (uint8_t)(tr > 4 ? 5 : tr);
    /* ss: tcp_show_line(): probes stand in for retransmits except on the
     * retransmit timer; tm->when is in USER_HZ ticks. */
    s->retrans = (uint8_t)(tr != 1 ? probes : retrnsmt);
    if (user_hz <= 0) user_hz = 100;
    s->timer_ms = (uint32_t)((when * 1000 + (unsigned long)user_hz - 1) / (unsigned long)user_hz);
    s->uid = uid;
    s->inode = inode;
    return 0;
}

static int read_file(const char *path, uint8_t proto, uint8_t family, const pm_diag_query *q,
                     pm_diag_table *out)
{
    FILE *f = fopen(path, "re");
    if (!f) return errno == ENOENT ? 0 : -errno; /* no IPv6: no file */
    char line[512];
    long hz = sysconf(_SC_CLK_TCK);
    int r = 0;
    if (!fgets(line, sizeof line, f)) goto done; /* header */
    while (fgets(line, sizeof line, f)) {
        pm_diag_sock s;
        if (pm_diag_parse_proc_line(line, proto, family, hz, &s) < 0) continue;
        if (!(q->states & PM_SS_BIT(s.state))) continue;
        if (!pm_ssf_match(q->filter, &s)) continue;
        if ((r = pm_diag_table_push(out, &s)) < 0) break;
    }
done:
    fclose(f);
    return r;
}

int pm_diag_read_proc(const pm_diag_query *q, const char *proc_root, pm_diag_table *out)
{
    static const struct {
        const char *name;
        uint8_t proto, family;
    } files[] = {
        {"net/udp", PM_IPPROTO_UDP, PM_AF_INET},
        {"net/udp6", PM_IPPROTO_UDP, PM_AF_INET6},
        {"net/tcp", PM_IPPROTO_TCP, PM_AF_INET},
        {"net/tcp6", PM_IPPROTO_TCP, PM_AF_INET6},
    };
    if (!proc_root) proc_root = "/proc";
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        bool want_proto = files[i].proto == PM_IPPROTO_TCP ? q->tcp : q->udp;
        bool want_fam = files[i].family == PM_AF_INET ? q->v4 : q->v6;
        if (!want_proto || !want_fam) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", proc_root, files[i].name);
        int r = read_file(path, files[i].proto, files[i].family, q, out);
        if (r < 0) return r;
    }
    return 0;
}
