/* The interpreter on arbitrary scripts against a reflecting target: every
 * injected packet comes back with its addresses and ports swapped, so the
 * comparison, sequence mapping and timing code see plausible and
 * implausible live packets alike. Nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/drill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct refl {
    uint8_t pkt[2048];
    size_t len;
    uint64_t deadline;
} refl;

static int r_reset(void *ctx, const pm_drill_config *cfg)
{
    (void)cfg;
    memset(ctx, 0, sizeof(refl));
    ((refl *)ctx)->deadline = UINT64_MAX;
    return 0;
}

static int64_t r_syscall(void *ctx, pm_drill_call *c, uint64_t now)
{
    (void)ctx;
    (void)now;
    if (!strcmp(c->name, "read")) return PM_DRILL_BLOCKED;
    if (!strcmp(c->name, "getsockopt") && c->n_args > 3) {
        c->out_is_int[3] = true;
        c->out_int[3] = 7;
    }
    return c->n_args;
}

static int r_inject(void *ctx, const uint8_t *b, size_t len, uint64_t now)
{
    refl *r = ctx;
    pm_packet p;
    if (pm_packet_parse(b, len, &p, NULL) != 0) return -1;
    pm_ip t = p.ip.src;
    p.ip.src = p.ip.dst;
    p.ip.dst = t;
    if (p.ip.proto == PM_IPPROTO_TCP) {
        uint16_t sp = p.tcp.sport;
        p.tcp.sport = p.tcp.dport;
        p.tcp.dport = sp;
    }
    int n = pm_packet_emit(&p, r->pkt, sizeof r->pkt);
    r->len = n > 0 ? (size_t)n : 0;
    r->deadline = now + 1000; /* and once more, a millisecond later */
    return 0;
}

static int r_output(void *ctx, uint8_t *buf, size_t cap, uint64_t now)
{
    refl *r = ctx;
    (void)now;
    if (!r->len || r->len > cap) return 0;
    memcpy(buf, r->pkt, r->len);
    int n = (int)r->len;
    r->len = 0;
    return n;
}

static uint64_t r_deadline(void *ctx)
{
    return ((refl *)ctx)->deadline;
}

static void r_advance(void *ctx, uint64_t now)
{
    refl *r = ctx;
    if (now >= r->deadline) r->deadline = UINT64_MAX;
}

static int r_command(void *ctx, pm_drill_cmd *c, uint64_t now)
{
    (void)ctx;
    (void)now;
    c->answer = c->expect;
    return c->kind == PM_DRILL_CMD_DROP ? -95 /* EOPNOTSUPP */ : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    pm_drill_script *s = NULL;
    char err[128];
    if (pm_drill_parse((const char *)data, size, "fuzz", NULL, &s, err, sizeof err) != 0) return 0;
    /* Keep virtual time short: scripts whose times are huge only loop. */
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i].time.usecs > 100000000 || s->events[i].time.usecs_end > 100000000) {
            pm_drill_script_free(s);
            return 0;
        }
    static refl ctx;
    pm_drill_target t = {&ctx,     r_reset,    r_syscall, r_inject,
                         r_output, r_deadline, r_advance, r_command};
    pm_drill_result res;
    int rc = pm_drill_run(s, &t, NULL, NULL, &res);
    if (rc < 0 || rc > 2 || (int)res.verdict != rc) abort();
    pm_drill_script_free(s);
    return 0;
}
