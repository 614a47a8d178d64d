/* Socket rows: state and timer names as ss prints and parses them, the row
 * table. */
#include "portmux/diag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *pm_diag_state_name(unsigned state)
{
    /* ss: sstate_name[] */
    static const char *const names[PM_SS_MAX] = {
        "UNKNOWN",   "ESTAB",  "SYN-SENT",   "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
        "TIME-WAIT", "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN",     "CLOSING"};
    return state < PM_SS_MAX ? names[state] : "UNKNOWN";
}

unsigned pm_diag_state_parse(const char *s)
{
    /* ss: scan_state(), the names and the groups. */
    static const char *const names[PM_SS_MAX] = {
        "unknown",   "established", "syn-sent",   "syn-recv", "fin-wait-1", "fin-wait-2",
        "time-wait", "unconnected", "close-wait", "last-ack", "listening",  "closing"};
    if (!s) return 0;
    if (!strcasecmp(s, "close") || !strcasecmp(s, "closed")) return PM_SS_BIT(PM_SS_CLOSE);
    if (!strcasecmp(s, "syn-rcv")) return PM_SS_BIT(PM_SS_SYN_RECV);
    if (!strcasecmp(s, "all")) return PM_SS_ALL;
    if (!strcasecmp(s, "connected"))
        return PM_SS_ALL & ~(PM_SS_BIT(PM_SS_CLOSE) | PM_SS_BIT(PM_SS_LISTEN));
    if (!strcasecmp(s, "synchronized"))
        return PM_SS_ALL &
               ~(PM_SS_BIT(PM_SS_CLOSE) | PM_SS_BIT(PM_SS_LISTEN) | PM_SS_BIT(PM_SS_SYN_SENT));
    if (!strcasecmp(s, "bucket")) return PM_SS_BIT(PM_SS_SYN_RECV) | PM_SS_BIT(PM_SS_TIME_WAIT);
    if (!strcasecmp(s, "big"))
        return PM_SS_ALL & ~(PM_SS_BIT(PM_SS_SYN_RECV) | PM_SS_BIT(PM_SS_TIME_WAIT));
    for (unsigned i = 0; i < PM_SS_MAX; i++)
        if (!strcasecmp(s, names[i])) return PM_SS_BIT(i);
    return 0;
}

const char *pm_diag_timer_name(unsigned timer)
{
    static const char *const names[] = {"off", "on", "keepalive", "timewait", "persist"};
    return timer < 5 ? names[timer] : "unknown";
}

const char *pm_diag_ms_text(uint32_t ms, char buf[32])
{
    /* ss: print_ms_timer() */
    unsigned secs = ms / 1000, minutes = secs / 60, msecs = ms % 1000;
    size_t n = 0;
    secs %= 60;
    buf[0] = '\0';
    if (minutes) {
        msecs = 0;
        n += (size_t)snprintf(buf, 32, "%umin", minutes);
        if (minutes > 9) secs = 0;
    }
    if (secs && n < 32) {
        if (secs > 9) msecs = 0;
        n += (size_t)snprintf(buf + n, 32 - n, "%u%s", secs, msecs ? "." : "sec");
    }
    if (msecs && n < 32) snprintf(buf + n, 32 - n, "%03ums", msecs);
    return buf;
}

int pm_diag_table_push(pm_diag_table *t, const pm_diag_sock *s)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        pm_diag_sock *rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows) return -ENOMEM;
        t->rows = rows;
        t->cap = cap;
    }
    t->rows[t->n++] = *s;
    return 0;
}

void pm_diag_table_free(pm_diag_table *t)
{
    free(t->rows);
    t->rows = NULL;
    t->n = t->cap = 0;
}
