/* Compact TIME_WAIT. Each entry is a 48-byte record (struct dm_tw) in a
 * ring of max_tw slots, plus its slot in the shared index, so one probe
 * finds an established connection or a TIME_WAIT entry. The ring is in
 * expiry order, as FreeBSD keeps its 2MSL list (tcp_tw_2msl_reset() moves
 * a rescheduled entry to the tail): expiry pops from the head, and at the
 * limit the oldest entry is recycled first (FreeBSD: tcp_tw_2msl_scan()
 * with reuse; Linux instead refuses new ones, "time wait bucket table
 * overflow"). Removing an entry from the middle marks its slot dead; dead
 * slots are reclaimed when the head reaches them. */
#include <errno.h>
#include <string.h>

#include "demux/ehash_impl.h"

static void fill_entry(const pm_ehash *t, const dm_tw *w, uint64_t now, pm_tw_entry *out);

static void pop_head(pm_ehash *t)
{
    t->tw_head = t->tw_head + 1 == t->tw_cap ? 0 : t->tw_head + 1;
    t->tw_len--;
}

/* Takes a live entry out of the index and releases its local address. */
static void unlink_entry(pm_ehash *t, uint32_t pos)
{
    dm_tw *w = &t->tw[pos];
    dm_index *ix;
    uint32_t b;
    unsigned s;
    uint64_t h = dm_tw_hash(t, w);
    if (dm_index_find_ref(t, h, PM_EHASH_TW | pos, &ix, &b, &s) == 0)
        dm_index_erase(t, ix, h, b, s);
    dm_laddr_put(t, w->lidx);
    w->flags |= DM_TW_DEAD;
    t->tw_live--;
    t->count--;
}

static void trim_dead(pm_ehash *t, unsigned max)
{
    while (max-- && t->tw_len && (t->tw[t->tw_head].flags & DM_TW_DEAD)) pop_head(t);
}

void dm_tw_make_room(pm_ehash *t)
{
    if (!t->tw_cap || t->tw_len < t->tw_cap) return;
    if (!(t->tw[t->tw_head].flags & DM_TW_DEAD)) {
        if (t->tw_recycled) {
            pm_tw_entry e;
            fill_entry(t, &t->tw[t->tw_head], t->last_now, &e);
            t->tw_recycled(t->ctx, &e);
        }
        unlink_entry(t, t->tw_head);
        t->st.tw_recycled++;
    }
    pop_head(t);
}

uint32_t dm_tw_push(pm_ehash *t, uint64_t now)
{
    if (now > t->last_now) t->last_now = now;
    uint32_t pos = (uint32_t)(((uint64_t)t->tw_head + t->tw_len) % t->tw_cap);
    uint32_t exp = (uint32_t)(now + t->tw_timeout);
    if (t->tw_len) {
        /* Keep the ring in expiry order even if time went backwards. */
        uint32_t tail = (uint32_t)(((uint64_t)t->tw_head + t->tw_len - 1) % t->tw_cap);
        if ((int32_t)(exp - t->tw[tail].expire) < 0) exp = t->tw[tail].expire;
    }
    memset(&t->tw[pos], 0, sizeof t->tw[pos]);
    t->tw[pos].expire = exp;
    t->tw_len++;
    t->tw_live++;
    return pos;
}

static uint64_t widen(uint64_t now, uint32_t exp)
{
    int64_t d = (int32_t)(exp - (uint32_t)now);
    return d < 0 && (uint64_t)-d > now ? 0 : (uint64_t)((int64_t)now + d);
}

/* The ring position of a live entry, or -ENOENT. */
static int64_t live_pos(const pm_ehash *t, uint32_t ref)
{
    if (ref == PM_EHASH_MISS || !(ref & PM_EHASH_TW)) return -ENOENT;
    uint32_t pos = ref & ~PM_EHASH_TW;
    if (pos >= t->tw_cap) return -ENOENT;
    uint32_t off = pos >= t->tw_head ? pos - t->tw_head : pos + t->tw_cap - t->tw_head;
    if (off >= t->tw_len || (t->tw[pos].flags & DM_TW_DEAD)) return -ENOENT;
    return pos;
}

static void fill_entry(const pm_ehash *t, const dm_tw *w, uint64_t now, pm_tw_entry *out)
{
    memset(out, 0, sizeof *out);
    out->tuple.laddr = t->la.ip[w->lidx];
    out->tuple.faddr = w->faddr;
    out->tuple.lport = w->lport;
    out->tuple.fport = w->fport;
    out->tuple.proto = PM_IPPROTO_TCP;
    out->st.snd_nxt = w->snd_nxt;
    out->st.rcv_nxt = w->rcv_nxt;
    out->st.rcv_wnd = w->rcv_wnd;
    out->st.ts_recent = w->ts_recent;
    out->st.ts_recent_stamp = w->ts_stamp;
    out->st.rcv_wscale = w->wscale;
    out->st.flags = w->flags & PM_TW_F_USER_MASK;
    out->expire = widen(now, w->expire);
}

int pm_ehash_tw_get(const pm_ehash *t, uint32_t ref, pm_tw_entry *out)
{
    int64_t pos = live_pos(t, ref);
    if (pos < 0) return (int)pos;
    fill_entry(t, &t->tw[pos], t->last_now, out);
    return 0;
}

int pm_ehash_tw_update(pm_ehash *t, uint32_t ref, const pm_tw_state *st)
{
    int64_t pos = live_pos(t, ref);
    if (pos < 0) return (int)pos;
    dm_tw *w = &t->tw[pos];
    w->snd_nxt = st->snd_nxt;
    w->rcv_nxt = st->rcv_nxt;
    w->rcv_wnd = st->rcv_wnd;
    w->ts_recent = st->ts_recent;
    w->ts_stamp = st->ts_recent_stamp;
    w->wscale = st->rcv_wscale;
    w->flags = st->flags & PM_TW_F_USER_MASK;
    return 0;
}

int pm_ehash_tw_remove(pm_ehash *t, uint32_t ref)
{
    int64_t pos = live_pos(t, ref);
    if (pos < 0) return (int)pos;
    unlink_entry(t, (uint32_t)pos);
    t->st.tw_removed++;
    trim_dead(t, 8);
    pm_ehash_maintain(t, DM_GROW_STEP);
    return 0;
}

int pm_ehash_tw_reschedule(pm_ehash *t, uint32_t ref, uint64_t now, uint32_t *newref)
{
    int64_t pos = live_pos(t, ref);
    if (pos < 0) return (int)pos;
    dm_tw copy = t->tw[pos];
    /* Dead but still in the index until the slot is repointed below. */
    t->tw[pos].flags |= DM_TW_DEAD;
    t->tw_live--;
    dm_tw_make_room(t);
    uint32_t np = dm_tw_push(t, now);
    uint32_t exp = t->tw[np].expire;
    t->tw[np] = copy;
    t->tw[np].expire = exp;
    dm_index *ix;
    uint32_t b;
    unsigned s;
    if (dm_index_find_ref(t, dm_tw_hash(t, &copy), ref, &ix, &b, &s) == 0)
        ix->b[b].ref[s] = PM_EHASH_TW | np;
    trim_dead(t, 8);
    t->st.tw_rescheduled++;
    *newref = PM_EHASH_TW | np;
    return 0;
}

size_t pm_ehash_tw_expire(pm_ehash *t, uint64_t now, pm_tw_entry *out, size_t max)
{
    size_t n = 0, dead = 0;
    if (now > t->last_now) t->last_now = now;
    while (n < max && t->tw_len) {
        dm_tw *w = &t->tw[t->tw_head];
        if (w->flags & DM_TW_DEAD) {
            if (dead++ == max) break; /* bounded: at most 2 * max slots */
            pop_head(t);
            continue;
        }
        if ((int32_t)(w->expire - (uint32_t)now) > 0) break;
        fill_entry(t, w, now, &out[n++]);
        unlink_entry(t, t->tw_head);
        pop_head(t);
        t->st.tw_expired++;
    }
    return n;
}

bool pm_ehash_tw_next_expiry(const pm_ehash *t, uint64_t now, uint64_t *at)
{
    if (!t->tw_len) return false;
    *at = widen(now, t->tw[t->tw_head].expire);
    return true;
}
