/* Sender loss recovery state (the extension record's rec): the RFC 6675
 * SACK scoreboard (Update, IsLost, SetPipe, NextSeg) and the RFC 8985
 * tail loss probe timer. The scoreboard keeps PM_TCP_SB_BLOCKS SACKed
 * ranges; a range it cannot keep is forgotten (its bytes count as
 * unSACKed: a spurious retransmission at worst, never a hole taken for
 * received). A TCB without a record reads as an empty scoreboard. */
#include "tcp/tcp_internal.h"

#define DUPTHRESH 3u /* RFC 6675 2: DupThresh */

static pm_tcp_recovery *rec_of(const pm_tcp_stack *st, const pm_tcp *t)
{
    pm_tcp_ext *x = tcp_ext(st, t);
    return x ? &x->rec : NULL;
}

static int sb_count(const pm_tcp_recovery *r)
{
    int n = 0;
    if (!r) return 0;
    while (n < PM_TCP_SB_BLOCKS && r->blk[n].right != r->blk[n].left) n++;
    return n;
}

static void sb_drop(pm_tcp_recovery *r, int i, int n)
{
    for (; i + 1 < n; i++) r->blk[i] = r->blk[i + 1];
    r->blk[n - 1].left = r->blk[n - 1].right = 0;
}

void tcp_rec_reset(pm_tcp_stack *st, pm_tcp *t)
{
    pm_tcp_recovery *r = rec_of(st, t);
    if (!r) return;
    for (int i = 0; i < PM_TCP_SB_BLOCKS; i++) r->blk[i].left = r->blk[i].right = 0;
    r->high_rxt = r->tlp_high = t->snd_una;
}

void tcp_rec_rto(pm_tcp_stack *st, pm_tcp *t)
{
    pm_tcp_recovery *r = rec_of(st, t);
    if (!r) return;
    /* RFC 6675 5.1: the scoreboard outlives one RTO (go-back-N skips what
     * was SACKed); a second one may mean the receiver reneged (RFC 2018
     * 8): forget it. */
    if (t->retries >= 2)
        for (int i = 0; i < PM_TCP_SB_BLOCKS; i++) r->blk[i].left = r->blk[i].right = 0;
    r->high_rxt = r->tlp_high = t->snd_una;
}

/* snd_una moved: drop what it covers; HighRxt and TLP.end_seq never lag
 * behind it (so that "> snd_una" stays the test for "set"). */
static void sb_prune(pm_tcp_recovery *r, const pm_tcp *t)
{
    int n = sb_count(r);
    for (int i = 0; i < n;) {
        if (SEQ_LEQ(r->blk[i].right, t->snd_una) || SEQ_GT(r->blk[i].right, t->snd_max)) {
            sb_drop(r, i, n--);
            continue;
        }
        if (SEQ_LT(r->blk[i].left, t->snd_una)) r->blk[i].left = t->snd_una;
        i++;
    }
    if (SEQ_LT(r->high_rxt, t->snd_una)) r->high_rxt = t->snd_una;
    if (SEQ_LT(r->tlp_high, t->snd_una)) r->tlp_high = t->snd_una;
}

/* Adds [l, r), merged with the ranges it touches. */
static void sb_insert(pm_tcp_recovery *rc, uint32_t l, uint32_t r)
{
    int n = sb_count(rc);
    for (int i = 0; i < n;) {
        uint32_t bl = rc->blk[i].left, br = rc->blk[i].right;
        if (SEQ_LT(br, l) || SEQ_GT(bl, r)) {
            i++;
            continue;
        }
        if (SEQ_LT(bl, l)) l = bl;
        if (SEQ_GT(br, r)) r = br;
        sb_drop(rc, i, n--);
    }
    int at = 0;
    while (at < n && SEQ_LT(rc->blk[at].left, l)) at++;
    if (n == PM_TCP_SB_BLOCKS) {
        /* Full: forget the highest range (the holes that matter are low). */
        if (at == n) return;
        n--;
    }
    for (int i = n; i > at; i--) rc->blk[i] = rc->blk[i - 1];
    rc->blk[at].left = l;
    rc->blk[at].right = r;
}

static uint32_t sb_sacked(const pm_tcp_recovery *r)
{
    uint32_t s = 0;
    for (int i = 0; i < sb_count(r); i++) s += r->blk[i].right - r->blk[i].left;
    return s;
}

uint32_t tcp_rec_sacked(const pm_tcp_stack *st, const pm_tcp *t)
{
    return sb_sacked(rec_of(st, t));
}

uint32_t tcp_rec_high_rxt(const pm_tcp_stack *st, const pm_tcp *t)
{
    const pm_tcp_recovery *r = rec_of(st, t);
    return r ? r->high_rxt : t->snd_una;
}

uint32_t tcp_rec_tlp_high(const pm_tcp_stack *st, const pm_tcp *t)
{
    const pm_tcp_recovery *r = rec_of(st, t);
    return r ? r->tlp_high : t->snd_una;
}

void tcp_rec_set_high_rxt(pm_tcp_stack *st, pm_tcp *t, uint32_t seq)
{
    pm_tcp_recovery *r = rec_of(st, t);
    if (r) r->high_rxt = seq;
}

bool tcp_rec_idle(const pm_tcp_stack *st, pm_tcp *t)
{
    pm_tcp_recovery *r = rec_of(st, t);
    if (!r) return true;
    sb_prune(r, t);
    return sb_count(r) == 0 && !SEQ_GT(r->high_rxt, t->snd_una) && !SEQ_GT(r->tlp_high, t->snd_una);
}

uint32_t tcp_rec_update(pm_tcp_stack *st, pm_tcp *t, const pm_tcp_repr *seg, bool *dsack)
{
    pm_tcp_recovery *r = rec_of(st, t);
    if (r) sb_prune(r, t);
    *dsack = false;
    if (!(t->opts & PM_TCPO_SACK) || !pm_tcp_has(&seg->opts, PM_TCPOPT_SACK)) return 0;
    uint32_t before = sb_sacked(r);
    for (int k = 0; k < seg->opts.sack_count && k < PM_TCP_MAX_SACK; k++) {
        uint32_t l = seg->opts.sack[k].left, rt = seg->opts.sack[k].right;
        if (!SEQ_LT(l, rt)) continue;
        if (SEQ_LT(l, t->snd_una)) {
            /* RFC 2883 4: a block below the cumulative ACK is a D-SACK. */
            if (k == 0) {
                *dsack = true;
                st->stats.dsacks_in++;
            }
            continue;
        }
        if (SEQ_GT(rt, t->snd_max)) continue; /* Linux tcp_is_sackblock_valid() */
        if (r) sb_insert(r, l, rt);
    }
    uint32_t after = sb_sacked(r);
    return after > before ? after - before : 0;
}

/* RFC 6675 4 IsLost() for the bytes of hole i (below blk[i]): DupThresh
 * discontiguous SACKed ranges above, or more than (DupThresh - 1) * SMSS
 * SACKed bytes above. RFC 8985 7.4 (RACK's view of a tail loss probe):
 * when the probe itself is SACKed, everything sent before it is lost. */
static bool hole_lost(const pm_tcp_recovery *r, const pm_tcp *t, int i, int n)
{
    if ((unsigned)(n - i) >= DUPTHRESH) return true;
    uint32_t above = 0;
    for (int k = i; k < n; k++) above += r->blk[k].right - r->blk[k].left;
    if (above > (DUPTHRESH - 1) * t->mss) return true;
    return SEQ_GT(r->tlp_high, t->snd_una) && SEQ_GEQ(r->blk[n - 1].right, r->tlp_high);
}

/* SACKed bytes above seq. */
static uint32_t sacked_above(const pm_tcp_recovery *r, uint32_t seq)
{
    uint32_t s = 0;
    for (int i = 0; i < sb_count(r); i++) {
        uint32_t l = r->blk[i].left, rt = r->blk[i].right;
        if (SEQ_GT(rt, seq)) s += rt - (SEQ_GT(l, seq) ? l : seq);
    }
    return s;
}

/* In SACK recovery: was the retransmission at snd_una lost? It went out
 * when snd_max was RecoveryPoint (recover); when more than (DupThresh - 1)
 * * SMSS sent after it are SACKed and snd_una is still missing, it was
 * (Linux's old tcp_mark_lost_retrans(), RFC 8985's reasoning with sequence
 * numbers for times). Then: resend the lost holes again, and the marker
 * moves to snd_max. */
bool tcp_rec_lost_rxt(pm_tcp_stack *st, pm_tcp *t)
{
    pm_tcp_recovery *r = rec_of(st, t);
    if (!r || !SEQ_GT(r->high_rxt, t->snd_una)) return false;
    if (sacked_above(r, t->recover) <= (DUPTHRESH - 1) * t->mss) return false;
    r->high_rxt = t->snd_una;
    t->recover = t->snd_max;
    return true;
}

bool tcp_rec_first_lost(const pm_tcp_stack *st, const pm_tcp *t)
{
    const pm_tcp_recovery *r = rec_of(st, t);
    int n = sb_count(r);
    return n > 0 && hole_lost(r, t, 0, n);
}

static uint32_t hole_start(const pm_tcp_recovery *r, const pm_tcp *t, int i)
{
    return i == 0 ? t->snd_una : r->blk[i - 1].right;
}

/* RFC 6675 4 SetPipe(): the octets in flight. */
uint32_t tcp_rec_pipe(const pm_tcp_stack *st, const pm_tcp *t)
{
    const pm_tcp_recovery *r = rec_of(st, t);
    if (!r) return t->snd_max - t->snd_una;
    int n = sb_count(r);
    uint32_t pipe = 0, hr = r->high_rxt;
    for (int i = 0; i <= n; i++) {
        uint32_t s = hole_start(r, t, i), e = i < n ? r->blk[i].left : t->snd_max;
        if (!SEQ_LT(s, e)) continue;
        if (i == n || !hole_lost(r, t, i, n)) pipe += e - s;       /* (a) not lost: in flight */
        if (SEQ_GT(hr, s)) pipe += SEQ_LT(hr, e) ? hr - s : e - s; /* (b) retransmitted */
    }
    return pipe;
}

/* RFC 6675 4 NextSeg() rules 1 (lost) and, with any, 3 (unSACKed below
 * the highest SACK): the first such bytes above HighRxt. */
bool tcp_rec_next(const pm_tcp_stack *st, const pm_tcp *t, bool any, uint32_t *seq, uint32_t *len)
{
    const pm_tcp_recovery *r = rec_of(st, t);
    int n = sb_count(r);
    for (int i = 0; i < n; i++) {
        uint32_t s = hole_start(r, t, i), e = r->blk[i].left;
        if (SEQ_LT(s, r->high_rxt)) s = r->high_rxt;
        if (!SEQ_LT(s, e)) continue;
        if (!any && !hole_lost(r, t, i, n)) continue;
        uint32_t l = e - s;
        *seq = s;
        *len = l < t->mss ? l : t->mss;
        return true;
    }
    return false;
}

/* After an RTO, go-back-N skips what the receiver holds (RFC 6675 5.1):
 * seq moved past a SACKed range; *end: where the next one starts. */
uint32_t tcp_rec_skip(const pm_tcp_stack *st, const pm_tcp *t, uint32_t seq, uint32_t *end)
{
    const pm_tcp_recovery *r = rec_of(st, t);
    int n = sb_count(r);
    *end = t->snd_max;
    for (int i = 0; i < n; i++) {
        if (SEQ_GEQ(seq, r->blk[i].left) && SEQ_LT(seq, r->blk[i].right))
            seq = r->blk[i].right;
        else if (SEQ_LT(seq, r->blk[i].left)) {
            *end = r->blk[i].left;
            break;
        }
    }
    return seq;
}

/* RFC 8985 7.2: may a probe be scheduled? With SACK, not in fast or RTO
 * recovery, not while a probe is out; the linux personality (FreeBSD's
 * default stack has no TLP). */
static bool tlp_allowed(const pm_tcp_stack *st, const pm_tcp *t)
{
    return !st->cfg.bsd && (t->opts & PM_TCPO_SACK) && !(t->flags & F_RECOVERY) &&
           !SEQ_LT(t->snd_una, t->recover) && !SEQ_GT(tcp_rec_tlp_high(st, t), t->snd_una) &&
           t->retries == 0 && t->snd_una != t->snd_max;
}

/* The retransmission timer after new data was sent or acknowledged: the
 * PTO when a probe is allowed (and an extension record holds its state),
 * else the RTO (RFC 6298 5.1 / 5.3). restart: RFC 6298 5.3 (an ACK of new
 * data); otherwise 5.1 (start if not running). */
void tcp_rec_arm(pm_tcp_stack *st, pm_tcp *t, uint64_t now, bool restart)
{
    if (t->timer != PM_TCP_TIMER_NONE && t->timer != PM_TCP_TIMER_RTX &&
        t->timer != PM_TCP_TIMER_TLP)
        return;
    /* A PTO already running is kept when more data goes (an earlier probe
     * at worst; the ACKs restart it): no timer move per segment sent. */
    if (!restart && t->timer == PM_TCP_TIMER_TLP) return;
    uint64_t rto_at = now + t->rto_us;
    if (t->timer == PM_TCP_TIMER_RTX && !restart) rto_at = t->timer_at;
    bool tlp = tlp_allowed(st, t), no_record = false;
    if (tlp && !tcp_ext_get(st, t)) {
        no_record = true; /* no record for the probe's state: the RTO */
        tlp = false;
    }
    if (!tlp) {
        if (t->timer != PM_TCP_TIMER_RTX || restart) {
            tcp_arm_timer(t, PM_TCP_TIMER_RTX, rto_at);
            if (!restart) t->backoff = 0;
            if (no_record) st->stats.ext_no_tlp++;
        }
        return;
    }
    /* RFC 8985 7.2, as Linux tcp_schedule_loss_probe(): PTO = 2 * SRTT,
     * plus the worst-case delayed ACK (rto_min) when one segment is out,
     * plus 2 ms (TCP_TIMEOUT_MIN) otherwise; 1 s without an RTT; never
     * later than the RTO would fire. */
    uint64_t pto;
    if (t->srtt_us) {
        pto = 2ull * t->srtt_us;
        pto += t->snd_max - t->snd_una <= t->mss ? st->cfg.rto_min_us : 2000;
    } else {
        pto = st->cfg.rto_initial_us;
    }
    uint64_t at = now + pto;
    if (at > rto_at) at = rto_at;
    tcp_arm_timer(t, PM_TCP_TIMER_TLP, at);
}

void tcp_rec_set_tlp_high(pm_tcp_stack *st, pm_tcp *t, uint32_t seq)
{
    pm_tcp_recovery *r = rec_of(st, t);
    if (r) r->tlp_high = seq;
}
