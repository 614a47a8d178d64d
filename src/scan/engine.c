/* The scan loop: permutation walk, probes in flight, pacing, timeouts. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/siphash.h"
#include "scan/engine.h"

/* Beside the engine: the port -> index map and the sorted range copy that
 * turn a reply's (address, port) back into a target index. */
typedef struct lookup {
    uint32_t port_index[65536]; /* port index + 1; 0: not scanned */
    size_t n;
    pm_target_range *r; /* sorted by base */
    uint64_t *cum;      /* index of each sorted range's first address */
} lookup;

static lookup *g_lookup; /* one scan at a time per process */

uint64_t pm_scan_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

pm_ip pm_engine_ip(const pm_engine *e, uint64_t idx, int *family)
{
    return pm_targets_at(&e->cfg->targets, idx / e->nports, family);
}

uint16_t pm_engine_port(const pm_engine *e, uint64_t idx)
{
    return e->cfg->ports.port[idx % e->nports];
}

/* (ip - base) if ip lies in [base, base + count), else UINT64_MAX. */
static uint64_t offset_in(const pm_target_range *r, const pm_ip *ip)
{
    if (memcmp(ip->b, r->base.b, 8) != 0) return UINT64_MAX;
    uint64_t a = 0, b = 0;
    for (int i = 8; i < 16; i++) {
        a = a << 8 | ip->b[i];
        b = b << 8 | r->base.b[i];
    }
    if (a < b || a - b >= r->count) return UINT64_MAX;
    return a - b;
}

bool pm_engine_index(const pm_engine *e, const pm_ip *ip, uint16_t port, uint64_t *idx)
{
    const lookup *lk = g_lookup;
    uint32_t pi = lk->port_index[port];
    if (!pi) return false;
    /* last range whose base <= ip */
    size_t lo = 0, hi = lk->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (memcmp(lk->r[mid].base.b, ip->b, 16) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* ranges may nest: look back a few */
    for (size_t k = lo, steps = 0; k > 0 && steps < 8; k--, steps++) {
        uint64_t off = offset_in(&lk->r[k - 1], ip);
        if (off != UINT64_MAX) {
            *idx = (lk->cum[k - 1] + off) * e->nports + (pi - 1);
            return true;
        }
    }
    return false;
}

static int range_cmp(const void *a, const void *b)
{
    const pm_target_range *x = a, *y = b;
    return memcmp(x->base.b, y->base.b, 16);
}

static int lookup_build(pm_engine *e)
{
    lookup *lk = calloc(1, sizeof *lk);
    if (!lk) return -ENOMEM;
    for (size_t i = 0; i < e->cfg->ports.n; i++)
        lk->port_index[e->cfg->ports.port[i]] = (uint32_t)i + 1;
    const pm_targets *t = &e->cfg->targets;
    lk->n = t->n;
    lk->r = malloc(t->n * sizeof *lk->r);
    lk->cum = malloc(t->n * sizeof *lk->cum);
    if (!lk->r || !lk->cum) {
        free(lk->r);
        free(lk->cum);
        free(lk);
        return -ENOMEM;
    }
    /* sort (range, index of its first address) pairs by base */
    typedef struct {
        pm_target_range r;
        uint64_t cum;
    } pair;
    pair *p = malloc(t->n * sizeof *p);
    if (!p) {
        free(lk->r);
        free(lk->cum);
        free(lk);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->n; i++) {
        p[i].r = t->r[i];
        p[i].cum = t->cum[i];
    }
    qsort(p, t->n, sizeof *p, range_cmp); /* r is the first member */
    for (size_t i = 0; i < t->n; i++) {
        lk->r[i] = p[i].r;
        lk->cum[i] = p[i].cum;
    }
    free(p);
    g_lookup = lk;
    return 0;
}

static void lookup_free(void)
{
    if (!g_lookup) return;
    free(g_lookup->r);
    free(g_lookup->cum);
    free(g_lookup);
    g_lookup = NULL;
}

/* ---- in-flight table ---------------------------------------------------- */

static uint32_t hslot(const pm_engine *e, uint64_t idx)
{
    return (uint32_t)((idx * 0x9e3779b97f4a7c15ull) >> 32) & e->hmask;
}

static pm_probe *find(pm_engine *e, uint64_t idx, uint32_t *hpos)
{
    for (uint32_t h = hslot(e, idx);; h = (h + 1) & e->hmask) {
        uint32_t s = e->hash[h];
        if (!s) return NULL;
        if (e->slot[s - 1].idx == idx) {
            if (hpos) *hpos = h;
            return &e->slot[s - 1];
        }
    }
}

static void hash_insert(pm_engine *e, uint64_t idx, uint32_t s)
{
    uint32_t h = hslot(e, idx);
    while (e->hash[h]) h = (h + 1) & e->hmask;
    e->hash[h] = s + 1;
}

/* Linear probing deletion by backward shift (Knuth 6.4 Algorithm R). */
static void hash_delete(pm_engine *e, uint32_t h)
{
    e->hash[h] = 0;
    for (uint32_t j = (h + 1) & e->hmask; e->hash[j]; j = (j + 1) & e->hmask) {
        uint32_t s = e->hash[j];
        uint32_t home = hslot(e, e->slot[s - 1].idx);
        /* can s move to the hole at h? yes unless home lies in (h, j] */
        bool stay = (h <= j) ? (h < home && home <= j) : (h < home || home <= j);
        if (!stay) {
            e->hash[h] = s;
            e->hash[j] = 0;
            h = j;
        }
    }
}

static int fifo_push(pm_engine *e, uint32_t s)
{
    if (e->ftail - e->fhead == e->fcap) {
        size_t nc = e->fcap * 2;
        pm_fifo_ent *nf = malloc(nc * sizeof *nf);
        if (!nf) return -ENOMEM;
        for (size_t i = e->fhead; i < e->ftail; i++) nf[i - e->fhead] = e->fifo[i & (e->fcap - 1)];
        free(e->fifo);
        e->fifo = nf;
        e->ftail -= e->fhead;
        e->fhead = 0;
        e->fcap = nc;
    }
    e->fifo[e->ftail++ & (e->fcap - 1)] = (pm_fifo_ent){s, e->slot[s].gen};
    return 0;
}

static void conclude(pm_engine *e, pm_probe *p, int state, int reason, uint8_t ttl)
{
    uint32_t h;
    if (find(e, p->idx, &h) == p) hash_delete(e, h);
    e->res->state[p->idx] = (uint8_t)state;
    e->res->reason[p->idx] = (uint8_t)reason;
    e->res->ttl[p->idx] = ttl;
    if (e->be->release) e->be->release(e, p); /* after: it may look at the state */
    p->used = false;
    p->gen++;
    e->freelist[e->nfree++] = (uint32_t)(p - e->slot);
    e->nused--;
    e->done++;
}

/* res->reason of a benched probe, its state still 0 (not concluded) */
#define R_BENCHED 0xff
/* nmap benches per host, in host groups; one scan here may cover millions
 * of silent addresses, so the bench is bounded (24 B an entry): past this,
 * a probe at the limit is given up at once. */
#define BENCH_MAX 65536

static bool udp_scan(const pm_engine *e)
{
    return e->cfg->type == PM_SCAN_UDP;
}

/* nmap's boostScanDelay: 50 ms (UDP) or 5 ms at first, then doubled up to
 * a second (or the cap: --max-scan-delay; -T4/-T5 lower TCP's only). */
static void boost_delay(pm_engine *e, uint64_t now)
{
    uint64_t cap = udp_scan(e) ? e->cfg->max_udp_scan_delay_us : e->cfg->max_scan_delay_us;
    if (!cap) cap = 1000000;
    uint64_t d = e->delay_us == 0 ? (udp_scan(e) ? 50000 : 5000) : e->delay_us * 2;
    if (e->delay_us && d > 1000000) d = e->delay_us > 1000000 ? e->delay_us : 1000000;
    e->delay_us = d < cap ? d : cap;
    e->last_boost = now;
    e->dropped = e->good = 0;
}

/* nmap's ultrascan_adjust_timing and max_successful_tryno rule, for a
 * reply to try tryno whose previous transmission went out at prev_us. */
static void adjust_timing(pm_engine *e, int state, unsigned tryno, uint64_t prev_us, uint64_t now)
{
    /* nmap: an ICMP error meaning "filtered", where silence means filtered
     * too, is often rate-limited or from elsewhere: as the answer to a
     * retry it neither slows the scan nor raises the try limit. */
    if (tryno > 1 && state == PM_PORT_FILTERED &&
        pm_scan_silent_state(e->cfg->type) == PM_PORT_FILTERED)
        return;
    bool retry = tryno > 1 && !e->be->kernel_retransmits;
    /* Congestion window, as nmap's group window: +1 per reply up to the
     * maximum; a reply to a retransmission means an earlier probe was
     * lost: halve. */
    if (retry) {
        e->window_f /= 2;
        if (e->window_f < 8) e->window_f = 8;
    } else if (e->window_f < e->window_max) {
        e->window_f += 1;
    }
    e->window = (uint32_t)e->window_f;
    if (e->window > e->window_max) e->window = e->window_max;
    if (e->be->kernel_retransmits) {
        if (tryno > e->max_ok_try) e->max_ok_try = tryno;
        return;
    }
    /* The send delay: a drop is a reply to a retry whose previous try went
     * out after the delay last grew; past 10 drops, making up over 30% of
     * the replies since then (40% at -T4/-T5), the delay grows ("due to 11
     * out of 18 dropped probes since last increase"). */
    if (retry && prev_us > e->last_boost)
        e->dropped++;
    else
        e->good++;
    if (e->dropped > 10 &&
        (double)e->dropped > (e->cfg->aggressive ? 0.4 : 0.3) * (double)(e->dropped + e->good))
        boost_delay(e, now);
    /* And when a try beyond the 4th (5th at -T4) is answered: "due to
     * max_successful_tryno increase to 4" (nmap counts from 0). */
    if (tryno > e->max_ok_try) {
        e->max_ok_try = tryno;
        if (tryno > (e->cfg->aggressive ? 5u : 4u)) boost_delay(e, now);
    }
}

void pm_engine_resolve(pm_engine *e, uint64_t idx, int state, int reason, uint8_t ttl,
                       unsigned tryno, uint64_t now)
{
    if (idx >= e->n) return;
    e->st->replies++;
    if (reason >= PM_R_PORT_UNREACH && reason < PM_R_COUNT) e->icmp_seen = true;
    pm_probe *p = find(e, idx, NULL);
    if (!p) {
        if (e->res->state[idx] == 0 && e->res->reason[idx] == R_BENCHED) {
            /* benched: concluded now, and skipped when the bench is sent */
            e->res->state[idx] = (uint8_t)state;
            e->res->reason[idx] = (uint8_t)reason;
            e->res->ttl[idx] = ttl;
            e->bench_live--;
            e->done++;
            adjust_timing(e, state, tryno, 0, now);
            return;
        }
        /* A late reply to a probe already given up on: the reply is the
         * truth (the cookie vouched for it), so it replaces the default. */
        if (e->res->reason[idx] == PM_R_NO_RESPONSE) {
            e->res->state[idx] = (uint8_t)state;
            e->res->reason[idx] = (uint8_t)reason;
            e->res->ttl[idx] = ttl;
        }
        return;
    }
    /* Karn's rule (RFC 6298 3): sample only replies that name their try. */
    if (tryno == p->tries || (tryno == 0 && p->tries == 1))
        pm_rtt_sample(&e->rtt, now > p->sent_us ? now - p->sent_us : 0);
    if (reason >= PM_R_PORT_UNREACH && reason < PM_R_COUNT) {
        uint64_t sent = tryno == p->tries ? p->sent_us : p->first_us;
        if (sent > e->icmp_sent_max) e->icmp_sent_max = sent;
    }
    adjust_timing(e, state, tryno, tryno == p->tries ? p->prev_us : p->first_us, now);
    conclude(e, p, state, reason, ttl);
}

/* ---- the bench (nmap's probe_bench) -------------------------------------- */

/* Kept with the fewest tries last: those are sent first when the limit
 * rises (all have the same count but for a limit rising mid-way). */
static int bench_put(pm_engine *e, pm_probe *p)
{
    if (e->bench_live == 0) e->bench_n = 0; /* only late-concluded entries left */
    if (e->bench_n == e->bench_cap) {
        size_t nc = e->bench_cap ? e->bench_cap * 2 : 64;
        pm_bench_ent *nb = realloc(e->bench, nc * sizeof *nb);
        if (!nb) return -ENOMEM;
        e->bench = nb;
        e->bench_cap = nc;
    }
    size_t i = e->bench_n;
    while (i > 0 && e->bench[i - 1].tries < p->tries) {
        e->bench[i] = e->bench[i - 1];
        i--;
    }
    e->bench[i] = (pm_bench_ent){p->idx, p->pos, p->tries};
    e->bench_n++;
    e->bench_live++;
    conclude(e, p, 0, R_BENCHED, 0); /* frees the slot, state 0: not concluded */
    e->done--;
    return 0;
}

/* The limit can no longer rise: what is on the bench had no reply. */
static void bench_finish(pm_engine *e)
{
    for (size_t i = 0; i < e->bench_n; i++) {
        uint64_t idx = e->bench[i].idx;
        if (e->res->state[idx]) continue;
        e->res->state[idx] = (uint8_t)pm_scan_silent_state(e->cfg->type);
        e->res->reason[idx] = PM_R_NO_RESPONSE;
        e->st->timeouts++;
        e->done++;
    }
    e->bench_n = e->bench_live = 0;
}

/* ---- pacing ------------------------------------------------------------- */

static void refill(pm_engine *e, uint64_t now)
{
    const pm_scan_cfg *c = e->cfg;
    if (c->max_rate <= 0) return;
    double add = (double)(now - e->last_refill) * c->max_rate / 1e6;
    e->last_refill = now;
    /* A 50 ms bucket: the loop may sleep a few ms (a busy host, poll's
     * granularity) without the average falling below the rate. */
    double burst = c->max_rate / 20.0;
    if (burst < 1) burst = 1;
    e->tokens += add;
    if (e->tokens > burst) e->tokens = burst;
}

static bool may_send(pm_engine *e)
{
    uint64_t now = e->rld_until || e->delay_us ? pm_scan_now_us() : 0;
    if (e->rld_until && now < e->rld_until) return false;
    if (e->delay_us && now < e->last_send + e->delay_us) return false;
    return e->cfg->max_rate <= 0 || e->tokens >= 1.0;
}

static void spent(pm_engine *e)
{
    if (e->cfg->max_rate > 0) e->tokens -= 1.0;
    if (e->delay_us) e->last_send = pm_scan_now_us();
}

/* The window: max_parallel probes, but --min-rate lets it grow while the
 * measured rate is below the floor (nmap: "send at least this fast"). */
static bool window_open(pm_engine *e)
{
    if (e->nfree == 0) return false;
    if (e->nused < e->window) return true;
    return e->cfg->min_rate > 0 && e->cur_rate < e->cfg->min_rate;
}

static int transmit(pm_engine *e, pm_probe *p, uint64_t now)
{
    (void)now;
    now = pm_scan_now_us(); /* a burst of sends takes a while: stamp each */
    p->tries++;
    int rc = e->be->send(e, p, now);
    if (rc < 0) {
        p->tries--;
        return rc;
    }
    spent(e);
    e->st->sent++;
    if (p->tries > 1) e->st->retrans++;
    if (p->tries > e->max_try_sent) e->max_try_sent = p->tries;
    p->prev_us = p->tries > 1 ? p->sent_us : 0;
    p->sent_us = now;
    if (p->tries == 1) p->first_us = now;
    p->wait_from = now;
    return fifo_push(e, (uint32_t)(p - e->slot));
}

static int send_new(pm_engine *e, uint64_t now)
{
    uint64_t pos = e->pos;
    uint64_t x = (uint64_t)e->cfg->shard + pos * e->cfg->nshards;
    uint64_t idx = pm_perm_at(&e->perm, x);
    if (e->res->state[idx]) { /* concluded in an earlier run (--resume) */
        e->pos++;
        return 0;
    }
    uint32_t s = e->freelist[e->nfree - 1];
    pm_probe *p = &e->slot[s];
    p->idx = idx;
    p->pos = pos;
    p->tries = 0;
    p->fd = -1;
    int rc = transmit(e, p, now);
    if (rc < 0) return rc;
    e->nfree--;
    p->used = true;
    e->nused++;
    hash_insert(e, idx, s);
    e->pos++;
    return 0;
}

static int default_state(const pm_engine *e)
{
    return pm_scan_silent_state(e->cfg->type);
}

/* Tries allowed now: one beyond the highest answered (nmap's
 * allowedTryno), two at least, --max-retries + 1 at most. */
static unsigned allowed_tries(const pm_engine *e)
{
    unsigned cap = e->cfg->max_retries + 1;
    unsigned a = e->max_ok_try + 1 < cap ? e->max_ok_try + 1 : cap;
    if (a < 2 && e->cfg->max_retries >= 1) a = 2; /* one retry at least */
    return a;
}

/* nmap's rate-limit detection: before the first try numbered above any
 * sent so far, wait a second with nothing sent, so that a rate limiter
 * refills and can answer the retry (if more than one port is scanned).
 * Two conditions of ours keep unlimited targets fast, where nmap always
 * waits: the target has sent an ICMP error (what targets rate-limit: RFC
 * 1812 4.3.2.8, Linux icmp_ratelimit; Linux does not limit its RSTs), and
 * the silent probe p was sent after every probe an ICMP error answered,
 * as past a limiter's burst (a limiter answers the first probes of a
 * burst, then none). Silent ports among answered ones, in the random
 * order, are silent for good. p NULL: the limit has risen (a retry was
 * answered: a loss), wait as nmap. true: wait now. */
static bool rld_wait(pm_engine *e, unsigned try_next, const pm_probe *p, uint64_t now)
{
    if (try_next <= e->max_try_sent) return false;
    e->max_try_sent = try_next;
    if (!e->icmp_seen || e->nports < 2) return false;
    if (p && p->sent_us < e->icmp_sent_max) return false;
    e->rld_until = now + 1000000;
    return true;
}

/* Times out probes at the FIFO head: retransmit, bench or give up. */
static int expire(pm_engine *e, uint64_t now)
{
    while (e->fhead < e->ftail) {
        pm_fifo_ent fe = e->fifo[e->fhead & (e->fcap - 1)];
        pm_probe *p = &e->slot[fe.slot];
        if (!p->used || p->gen != fe.gen) {
            e->fhead++;
            continue;
        }
        /* The timeout now, not the one when it was sent: the first probes
         * go out before any RTT sample, under the 1 s initial timeout
         * (nmap, too, judges a probe by the host's current timeout). */
        if (p->wait_from + e->rtt.timeout > now) break;
        unsigned allowed = allowed_tries(e);
        if (e->be->kernel_retransmits) {
            /* connect(): the socket keeps waiting; only the deadline moves */
            if (p->tries < allowed) {
                e->fhead++;
                p->tries++;
                p->wait_from = now;
                int rc = fifo_push(e, fe.slot);
                if (rc < 0) return rc;
                continue;
            }
            e->fhead++;
            e->st->timeouts++;
            conclude(e, p, default_state(e), PM_R_NO_RESPONSE, 0);
            continue;
        }
        if (p->tries < allowed) {
            if (!may_send(e)) break;
            if (rld_wait(e, p->tries + 1u, p, now)) break;
            if (e->be->release) e->be->release(e, p);
            e->fhead++;
            int rc = transmit(e, p, now);
            if (rc == -EAGAIN) {
                e->fhead--;
                e->fifo[e->fhead & (e->fcap - 1)] = fe;
                break;
            }
            if (rc < 0) return rc;
        } else if (!e->tryno_final && (e->pos < e->npos || e->nused > 1) &&
                   e->bench_live < BENCH_MAX) {
            /* At the limit, but others are still out: an answer to one
             * of them may raise the limit (nmap's bench). */
            e->fhead++;
            int rc = bench_put(e, p);
            if (rc < 0) return rc;
        } else {
            e->fhead++;
            e->st->timeouts++;
            conclude(e, p, default_state(e), PM_R_NO_RESPONSE, 0);
            if (e->pos >= e->npos && e->nused == 0) {
                /* the last one out: the limit cannot rise any more */
                e->tryno_final = true;
                bench_finish(e);
            }
        }
    }
    return 0;
}

/* Benched probes go out again once the limit has risen past their tries
 * (nmap's retransmitBench), before new probes. */
static int bench_resend(pm_engine *e, uint64_t now)
{
    while (e->bench_n && window_open(e) && may_send(e)) {
        pm_bench_ent b = e->bench[e->bench_n - 1];
        if (e->res->state[b.idx]) { /* a late reply concluded it */
            e->bench_n--;
            continue;
        }
        if (b.tries >= allowed_tries(e)) break;
        if (rld_wait(e, b.tries + 1u, NULL, now)) break;
        uint32_t s = e->freelist[e->nfree - 1];
        pm_probe *p = &e->slot[s];
        p->idx = b.idx;
        p->pos = b.pos;
        p->tries = b.tries;
        p->sent_us = p->first_us = 0;
        p->fd = -1;
        e->res->reason[b.idx] = 0;
        int rc = transmit(e, p, now);
        if (rc < 0) {
            e->res->reason[b.idx] = R_BENCHED;
            return rc;
        }
        e->bench_n--;
        e->bench_live--;
        e->nfree--;
        p->used = true;
        e->nused++;
        hash_insert(e, b.idx, s);
    }
    return 0;
}

static uint64_t next_deadline(pm_engine *e)
{
    for (size_t i = e->fhead; i < e->ftail; i++) {
        pm_fifo_ent fe = e->fifo[i & (e->fcap - 1)];
        pm_probe *p = &e->slot[fe.slot];
        if (p->used && p->gen == fe.gen) return p->wait_from + e->rtt.timeout;
        e->fhead = i + 1;
    }
    return UINT64_MAX;
}

static void progress(pm_engine *e, uint64_t now, bool final)
{
    const pm_scan_cfg *c = e->cfg;
    if (now - e->rate_mark_us >= 250000) {
        double dt = (double)(now - e->rate_mark_us) / 1e6;
        e->cur_rate = (double)(e->st->sent - e->rate_mark_sent) / dt;
        e->rate_mark_us = now;
        e->rate_mark_sent = e->st->sent;
    }
    if (!c->progress) return;
    uint64_t el = now - e->st->start_us;
    if (el < 1000000 || (!final && now - e->last_progress < 1000000)) return;
    if (final && e->last_progress == 0) return;
    e->last_progress = now;
    double frac = e->npos ? (double)e->done / (double)e->npos : 1.0;
    if (frac > 1) frac = 1;
    double rate = (double)e->st->sent * 1e6 / (double)el;
    double eta = frac > 0 ? (double)el / 1e6 * (1 - frac) / frac : 0;
    fprintf(stderr, "portmux scan: %5.1f%% done, %.0f pkts/s, %llu/%llu probes, ETA %d:%02d:%02d%s",
            frac * 100, rate, (unsigned long long)e->done, (unsigned long long)e->npos,
            (int)eta / 3600, (int)eta / 60 % 60, (int)eta % 60, final ? "\n" : "\n");
}

void pm_scan_result_free(pm_scan_result *res)
{
    free(res->state);
    free(res->reason);
    free(res->ttl);
    memset(res, 0, sizeof *res);
}

static uint64_t resume_position(const pm_engine *e)
{
    uint64_t lo = e->pos;
    for (uint32_t i = 0; i < e->nslots; i++)
        if (e->slot[i].used && e->slot[i].pos < lo) lo = e->slot[i].pos;
    for (size_t i = 0; i < e->bench_n; i++)
        if (!e->res->state[e->bench[i].idx] && e->bench[i].pos < lo) lo = e->bench[i].pos;
    return lo;
}

int pm_scan_run(const pm_scan_cfg *cfg, pm_scan_result *res, pm_scan_stats *st)
{
    memset(st, 0, sizeof *st);
    memset(res, 0, sizeof *res);
    pm_engine E, *e = &E;
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    e->res = res;
    e->st = st;
    e->nports = cfg->ports.n;
    if (cfg->targets.total == 0 || e->nports == 0) return -EINVAL;
    if (cfg->targets.total > UINT64_MAX / e->nports) return -E2BIG;
    e->n = cfg->targets.total * e->nports;
    if (e->n > (1ull << 34)) return -E2BIG; /* three bytes a result */
    uint32_t nshards = cfg->nshards ? cfg->nshards : 1;
    e->npos = pm_shard_count(e->n, cfg->shard, nshards);
    pm_perm_init(&e->perm, e->n, cfg->seed);
    /* The cookie key is secret per run: a reply cannot be forged by
     * someone who knows the seed (which may be shared for --shards). */
    if (getrandom(e->key, sizeof e->key, 0) != (ssize_t)sizeof e->key) {
        e->key[0] = pm_scan_now_us() * 0x9e3779b97f4a7c15ull;
        e->key[1] = (uint64_t)getpid() ^ e->key[0] << 7;
    }
    res->n = e->n;
    res->state = calloc(e->n, 1);
    res->reason = calloc(e->n, 1);
    res->ttl = calloc(e->n, 1);
    if (!res->state || !res->reason || !res->ttl) {
        pm_scan_result_free(res);
        return -ENOMEM;
    }
    int rc = 0;
    if (cfg->resume_path && access(cfg->resume_path, F_OK) == 0) {
        rc = pm_scan_resume_load(cfg->resume_path, cfg, &e->pos, res);
        if (rc < 0) {
            pm_scan_result_free(res);
            return rc;
        }
        /* Positions before the saved one were concluded; those without a
         * recorded reply had none. */
        pm_perm_init(&e->perm, e->n, cfg->seed);
        for (uint64_t pos = 0; pos < e->pos; pos++) {
            uint64_t idx = pm_perm_at(&e->perm, (uint64_t)cfg->shard + pos * nshards);
            if (!res->state[idx]) {
                res->state[idx] = (uint8_t)pm_scan_silent_state(cfg->type);
                res->reason[idx] = PM_R_NO_RESPONSE;
            }
        }
    }
    e->window = cfg->max_parallel ? cfg->max_parallel : 1024;
    e->delay_us = cfg->scan_delay_us;
    e->window_max = e->window;
    e->window_f = e->window;
    uint64_t extra = cfg->min_rate > 0 ? (uint64_t)(cfg->min_rate * 2.0) : 0;
    uint64_t nslots = e->window + extra;
    if (nslots > (1u << 20)) nslots = 1u << 20;
    if (nslots > e->npos + 1) nslots = e->npos + 1;
    if (e->window > nslots) e->window = (uint32_t)nslots;
    e->nslots = (uint32_t)nslots;
    uint32_t hsize = 1;
    while (hsize < 2 * e->nslots) hsize <<= 1;
    e->hmask = hsize - 1;
    e->slot = calloc(e->nslots, sizeof *e->slot);
    e->freelist = malloc(e->nslots * sizeof *e->freelist);
    e->hash = calloc(hsize, sizeof *e->hash);
    e->fcap = 1024;
    while (e->fcap < e->nslots) e->fcap <<= 1;
    e->fifo = malloc(e->fcap * sizeof *e->fifo);
    if (!e->slot || !e->freelist || !e->hash || !e->fifo || lookup_build(e) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < e->nslots; i++) {
        e->slot[i].fd = -1;
        e->freelist[e->nfree++] = e->nslots - 1 - i;
    }
    pm_rtt_init(&e->rtt, cfg->initial_rtt_us ? cfg->initial_rtt_us : 1000000,
                cfg->min_rtt_us ? cfg->min_rtt_us : 100000,
                cfg->max_rtt_us ? cfg->max_rtt_us : 10000000);
    rc = cfg->type == PM_SCAN_CONNECT ? pm_backend_connect(e) : pm_backend_raw(e);
    if (rc < 0) goto out;

    uint64_t now = pm_scan_now_us();
    st->start_us = now;
    e->last_refill = now;
    e->last_boost = now;
    e->max_try_sent = 1;
    e->rate_mark_us = now;
    e->tokens = 1;
    while (!(cfg->stop && *cfg->stop)) {
        now = pm_scan_now_us();
        refill(e, now);
        if ((rc = expire(e, now)) < 0) break;
        /* Paced: send in batches of up to 32 (one sendmmsg), not one
         * packet per wakeup. */
        double batch = cfg->max_rate / 20.0 < 32 ? cfg->max_rate / 20.0 : 32;
        if (batch < 1) batch = 1;
        bool go = cfg->max_rate <= 0 || e->tokens >= batch;
        if (go && e->bench_n && (rc = bench_resend(e, now)) < 0 && rc != -EAGAIN) break;
        while (go && e->pos < e->npos && window_open(e) && may_send(e)) {
            rc = send_new(e, now);
            if (rc == -EAGAIN) break;
            if (rc < 0) goto stop;
        }
        rc = 0;
        if (e->pos >= e->npos && e->nused == 0) {
            /* nothing out: what is benched and cannot go again had no reply */
            bool resend = e->bench_live && !e->tryno_final &&
                          e->bench[e->bench_n - 1].tries < allowed_tries(e);
            if (!resend) {
                e->tryno_final = true;
                bench_finish(e);
                break;
            }
        }
        /* Sleep until the next deadline, token or reply; replies wake us.
         * A send (new or retry) waits for the pacer: a token, the delay. */
        uint64_t send_ok = now;
        if (cfg->max_rate > 0 && e->tokens < batch)
            send_ok = now + (uint64_t)((batch - e->tokens) * 1e6 / cfg->max_rate);
        if (e->delay_us && e->last_send + e->delay_us > send_ok)
            send_ok = e->last_send + e->delay_us;
        if (e->rld_until > send_ok) send_ok = e->rld_until;
        uint64_t wake = next_deadline(e);
        if (wake <= now && send_ok > wake) wake = send_ok; /* expired, but paced */
        if ((e->pos < e->npos || e->bench_live) && window_open(e) && send_ok < wake) wake = send_ok;
        int ms = wake == UINT64_MAX ? 100 : (wake > now ? (int)((wake - now + 999) / 1000) : 0);
        if (ms > 100) ms = 100;
        /* Unpaced raw scans spin while probes remain to be sent, as masscan
         * does: a sleeping sender waits for the scheduler on a busy host. */
        if (e->be->spin && cfg->max_rate <= 0 && !e->delay_us && e->pos < e->npos &&
            now >= e->rld_until)
            ms = 0;
        if ((rc = e->be->poll(e, ms)) < 0) break;
        progress(e, pm_scan_now_us(), false);
    }
stop:
    st->interrupted = cfg->stop && *cfg->stop;
    if (rc >= 0 && cfg->resume_path) {
        if (st->interrupted) {
            rc = pm_scan_resume_save(cfg->resume_path, cfg, resume_position(e), res);
        } else {
            unlink(cfg->resume_path); /* finished: nothing to resume */
        }
    }
    /* Probes still in flight or benched (interrupted) stay unconcluded. */
    for (size_t i = 0; i < e->bench_n; i++)
        if (!e->res->state[e->bench[i].idx]) e->res->reason[e->bench[i].idx] = 0;
    for (uint32_t i = 0; i < e->nslots; i++)
        if (e->slot[i].used && e->be->release) e->be->release(e, &e->slot[i]);
    st->end_us = pm_scan_now_us();
    progress(e, st->end_us, true);
    st->srtt = e->rtt.srtt;
    st->rttvar = e->rtt.rttvar;
    st->timeout = (int64_t)e->rtt.timeout;
    if (e->be && e->be->close) e->be->close(e);
out:
    lookup_free();
    free(e->slot);
    free(e->freelist);
    free(e->hash);
    free(e->fifo);
    free(e->bench);
    if (rc < 0) pm_scan_result_free(res);
    return rc;
}
