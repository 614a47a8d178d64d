/* The established table: Linux's ehash / FreeBSD's pcbinfo hash, as a
 * bucketized index over compact records (layout in ehash_impl.h, the
 * measurements behind it in docs/demux.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "demux/aes_hash.h"
#include "demux/ehash_impl.h"
#include "demux/tuple_hash.h"

/* The table's keyed hash of a tuple (see aes_hash.h for the choice). */
static inline uint64_t thash(const pm_ehash *t, const pm_tuple *k)
{
#if DM_HAVE_AES_HASH
    if (t->aes) return dm_aes_hash_tuple((const uint8_t(*)[16])t->rk, k);
#endif
    return dm_hash_tuple(&t->key, k);
}

/* The same, with the choice made by the caller: the lookup paths are
 * compiled twice (AES-NI and generic) so that the hash inlines. */
#if DM_HAVE_AES_HASH
#define THASH(t, k, aes)                                                                           \
    ((aes) ? dm_aes_hash_tuple((const uint8_t(*)[16])(t)->rk, (k)) : dm_hash_tuple(&(t)->key, (k)))
#else
#define THASH(t, k, aes) dm_hash_tuple(&(t)->key, (k))
#endif

/* ---- memory: every byte this table asks for is counted ---------------- */

void *dm_alloc(pm_ehash *t, size_t n)
{
    if (!n) return NULL;
    void *p = calloc(1, n);
    if (p) t->bytes += n;
    return p;
}

void dm_free(pm_ehash *t, void *p, size_t n)
{
    if (!p) return;
    free(p);
    t->bytes -= n;
}

/* A zeroed, 64-byte aligned bucket array. calloc of a large block maps
 * fresh zero pages without touching them, so growing costs O(1) here and
 * the page faults are spread over the incremental rehash. */
static int index_alloc(pm_ehash *t, dm_index *ix, uint32_t nb)
{
    size_t n = (size_t)nb * sizeof(dm_bucket) + 64;
    void *raw = dm_alloc(t, n);
    if (!raw) return -ENOMEM;
    uintptr_t a = ((uintptr_t)raw + 64) & ~(uintptr_t)63;
    ix->b = (dm_bucket *)a;
    ((void **)a)[-1] = raw; /* the 64 spare bytes hold the raw pointer */
    ix->nb = nb;
    return 0;
}

static void index_free(pm_ehash *t, dm_index *ix)
{
    if (!ix->b) return;
    dm_free(t, ((void **)ix->b)[-1], (size_t)ix->nb * sizeof(dm_bucket) + 64);
    ix->b = NULL;
    ix->nb = 0;
}

/* ---- matching ---------------------------------------------------------- */

static inline unsigned dm_match(const dm_bucket *b, uint16_t tag)
{
#if defined(__SSE2__) && !defined(DM_SCALAR_TAGS)
    __m128i t = _mm_set1_epi16((short)tag);
    __m128i lo = _mm_load_si128((const __m128i *)(const void *)b->tag);
    __m128i hi = _mm_loadl_epi64((const __m128i *)(const void *)(b->tag + 8));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(lo, t));
    m |= ((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(hi, t)) & 0xf) << 16;
    return m & 0x55555u; /* one bit per slot: bit 2i */
#else
    unsigned m = 0;
    for (unsigned i = 0; i < DM_SLOTS; i++) m |= (unsigned)(b->tag[i] == tag) << (2 * i);
    return m;
#endif
}

static inline int ip_eq(const pm_ip *a, const pm_ip *b)
{
    return ((dm_le64(a->b) ^ dm_le64(b->b)) | (dm_le64(a->b + 8) ^ dm_le64(b->b + 8))) == 0;
}

static inline const void *ref_record(const pm_ehash *t, uint32_t ref)
{
    if (ref & PM_EHASH_TW) return &t->tw[ref & ~PM_EHASH_TW];
    if (t->est_key) return t->est_key(t->ctx, ref);
    return dm_est_at(t, ref);
}

static inline int ref_match(const pm_ehash *t, uint32_t ref, const pm_tuple *k)
{
    if (!(ref & PM_EHASH_TW) && t->est_key) {
        const pm_tuple *e = t->est_key(t->ctx, ref);
        return e->lport == k->lport && e->fport == k->fport && e->proto == k->proto &&
               ip_eq(&e->faddr, &k->faddr) && ip_eq(&e->laddr, &k->laddr);
    }
    if (!(ref & PM_EHASH_TW)) {
        const dm_est *e = dm_est_at(t, ref);
        return e->lport == k->lport && e->fport == k->fport && e->proto == k->proto &&
               ip_eq(&e->faddr, &k->faddr) && ip_eq(&t->la.ip[e->lidx], &k->laddr);
    }
    const dm_tw *w = &t->tw[ref & ~PM_EHASH_TW];
    return w->lport == k->lport && w->fport == k->fport && k->proto == PM_IPPROTO_TCP &&
           ip_eq(&w->faddr, &k->faddr) && ip_eq(&t->la.ip[w->lidx], &k->laddr);
}

static inline uint32_t next_bucket(const dm_index *ix, uint32_t b)
{
    return b + 1 == ix->nb ? 0 : b + 1;
}

/* Looks k up in one index from its home bucket. */
static inline uint32_t index_find(const pm_ehash *t, const dm_index *ix, const pm_tuple *k,
                                  uint64_t h, uint32_t *pb, unsigned *ps, pm_ehash_probe *pr)
{
    uint16_t tag = dm_tag(h);
    uint32_t b = dm_fastrange((uint32_t)(h >> 32), ix->nb);
    for (uint32_t n = 0; n < ix->nb; n++) {
        const dm_bucket *bk = &ix->b[b];
        if (pr) pr->buckets++;
        for (unsigned m = dm_match(bk, tag); m; m &= m - 1) {
            unsigned s = (unsigned)__builtin_ctz(m) / 2;
            if (pr) pr->records++;
            if (ref_match(t, bk->ref[s], k)) {
                if (pb) *pb = b;
                if (ps) *ps = s;
                return bk->ref[s];
            }
        }
        if (!dm_passes(bk, tag)) break;
        b = next_bucket(ix, b);
    }
    return PM_EHASH_MISS;
}

static void index_put(dm_index *ix, uint64_t h, uint32_t ref)
{
    uint16_t tag = dm_tag(h);
    uint32_t b = dm_fastrange((uint32_t)(h >> 32), ix->nb);
    for (;;) {
        dm_bucket *bk = &ix->b[b];
        for (unsigned s = 0; s < DM_SLOTS; s++) {
            if (!bk->tag[s]) {
                bk->tag[s] = tag;
                bk->ref[s] = ref;
                return;
            }
        }
        if (bk->ovf != DM_OVF_STICKY) bk->ovf++;
        bk->ofilt |= dm_tag_bit(tag);
        b = next_bucket(ix, b);
    }
}

void dm_index_erase(pm_ehash *t, dm_index *ix, uint64_t h, uint32_t b, unsigned slot)
{
    (void)t;
    ix->b[b].tag[slot] = 0;
    for (uint32_t i = dm_fastrange((uint32_t)(h >> 32), ix->nb); i != b; i = next_bucket(ix, i))
        if (ix->b[i].ovf != DM_OVF_STICKY && --ix->b[i].ovf == 0) ix->b[i].ofilt = 0;
}

static int index_find_ref_in(dm_index *ix, uint64_t h, uint32_t ref, uint32_t *pb, unsigned *ps)
{
    uint16_t tag = dm_tag(h);
    uint32_t b = dm_fastrange((uint32_t)(h >> 32), ix->nb);
    for (uint32_t n = 0; n < ix->nb; n++) {
        dm_bucket *bk = &ix->b[b];
        for (unsigned s = 0; s < DM_SLOTS; s++) {
            if (bk->tag[s] == tag && bk->ref[s] == ref) {
                *pb = b;
                *ps = s;
                return 0;
            }
        }
        if (!dm_passes(bk, tag)) break;
        b = next_bucket(ix, b);
    }
    return -ENOENT;
}

int dm_index_find_ref(pm_ehash *t, uint64_t h, uint32_t ref, dm_index **ix, uint32_t *b,
                      unsigned *slot)
{
    if (index_find_ref_in(&t->cur, h, ref, b, slot) == 0) {
        *ix = &t->cur;
        return 0;
    }
    if (t->old.b && index_find_ref_in(&t->old, h, ref, b, slot) == 0) {
        *ix = &t->old;
        return 0;
    }
    return -ENOENT;
}

uint64_t dm_tw_hash(const pm_ehash *t, const dm_tw *w)
{
    pm_tuple k;
    memset(&k, 0, sizeof k);
    k.laddr = t->la.ip[w->lidx];
    k.faddr = w->faddr;
    k.lport = w->lport;
    k.fport = w->fport;
    k.proto = PM_IPPROTO_TCP;
    return thash(t, &k);
}

static uint64_t ref_hash(const pm_ehash *t, uint32_t ref, uint16_t tag)
{
    if (ref & PM_EHASH_TW) return dm_tw_hash(t, &t->tw[ref & ~PM_EHASH_TW]);
    if (t->est_key) return thash(t, t->est_key(t->ctx, ref));
    return (uint64_t)dm_est_at(t, ref)->h32 << 32 | tag;
}

/* ---- incremental growth ------------------------------------------------ */

static uint64_t limit_of(uint32_t nb)
{
    return (uint64_t)nb * DM_SLOTS * 7 / 10; /* grow beyond 70% full */
}

/* Moves one old bucket into the current index. */
static void grow_step(pm_ehash *t)
{
    dm_bucket *bk = &t->old.b[t->mig];
    for (unsigned s = 0; s < DM_SLOTS; s++) {
        if (!bk->tag[s]) continue;
        uint32_t ref = bk->ref[s];
        uint64_t h = ref_hash(t, ref, bk->tag[s]);
        dm_index_erase(t, &t->old, h, t->mig, s);
        index_put(&t->cur, h, ref);
    }
    t->st.grow_steps++;
    if (++t->mig == t->old.nb) index_free(t, &t->old);
}

bool pm_ehash_maintain(pm_ehash *t, unsigned steps)
{
    while (t->old.b && steps--) grow_step(t);
    return t->old.b != NULL;
}

/* Called before adding one entry: makes room, growing if need be. */
static int reserve(pm_ehash *t)
{
    pm_ehash_maintain(t, DM_GROW_STEP);
    if (t->count + 1 <= limit_of(t->cur.nb)) return 0;
    if (!t->old.b && t->cur.nb <= UINT32_MAX / 2) {
        dm_index nx;
        if (index_alloc(t, &nx, t->cur.nb * 2) == 0) {
            t->old = t->cur;
            t->cur = nx;
            t->mig = 0;
            t->st.grows++;
            pm_ehash_maintain(t, DM_GROW_STEP);
            return 0;
        }
    }
    /* Cannot grow (yet): keep going until 15/16 full. A table that grows
     * while growing means inserts outran the rehash, which moves
     * DM_GROW_STEP buckets per insert and so cannot happen. */
    if (t->count + 1 <= (uint64_t)t->cur.nb * DM_SLOTS * 15 / 16) return 0;
    t->st.insert_nomem++;
    return -ENOMEM;
}

/* ---- public API -------------------------------------------------------- */

int pm_ehash_create(pm_ehash **out, const pm_ehash_config *cfg)
{
    *out = NULL;
    if (!cfg || cfg->max_entries >= PM_EHASH_HANDLE_MAX || cfg->max_tw >= PM_EHASH_HANDLE_MAX ||
        cfg->tw_timeout_us >= 0x80000000u)
        return -EINVAL;
    pm_ehash *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    t->bytes = sizeof *t;
    t->key.k0 = cfg->key[0];
    t->key.k1 = cfg->key[1];
    /* Round keys drawn from the secret by SipHash-2-4 in counter mode. */
    for (uint64_t i = 0; i < 16; i++) {
        uint64_t w = pm_siphash24(&t->key, &i, sizeof i);
        memcpy(&t->rk[i / 2][(i % 2) * 8], &w, 8);
    }
    t->aes = !cfg->siphash && dm_cpu_has_aes();
    t->max_entries = cfg->max_entries;
    t->free_head = UINT32_MAX;
    t->est_key = cfg->est_key;
    t->maxchunk = t->est_key ? 0 : (cfg->max_entries + DM_CHUNK - 1) / DM_CHUNK;
    t->tw_cap = cfg->max_tw;
    t->tw_timeout = cfg->tw_timeout_us;
    t->tw_recycled = cfg->tw_recycled;
    t->ctx = cfg->ctx;
    uint64_t want = cfg->initial_entries ? cfg->initial_entries : 1;
    uint64_t nb = (want * 10 + DM_SLOTS * 7 - 1) / (DM_SLOTS * 7);
    if (nb < 1) nb = 1;
    if (nb > UINT32_MAX / 2) nb = UINT32_MAX / 2;
    int err = -ENOMEM;
    if (t->maxchunk && !(t->chunk = dm_alloc(t, t->maxchunk * sizeof *t->chunk))) goto fail;
    if (t->tw_cap && !(t->tw = dm_alloc(t, (size_t)t->tw_cap * sizeof *t->tw))) goto fail;
    if ((err = dm_laddr_init(t)) != 0) goto fail;
    if ((err = index_alloc(t, &t->cur, (uint32_t)nb)) != 0) goto fail;
    *out = t;
    return 0;
fail:
    pm_ehash_destroy(t);
    return err;
}

void pm_ehash_destroy(pm_ehash *t)
{
    if (!t) return;
    index_free(t, &t->cur);
    index_free(t, &t->old);
    for (uint32_t i = 0; i < t->nchunk; i++) dm_free(t, t->chunk[i], DM_CHUNK * sizeof(dm_est));
    dm_free(t, t->chunk, t->maxchunk * sizeof *t->chunk);
    dm_free(t, t->tw, (size_t)t->tw_cap * sizeof *t->tw);
    dm_laddr_fini(t);
    free(t);
}

static uint32_t lookup_h(const pm_ehash *t, const pm_tuple *k, uint64_t h)
{
    uint32_t r = index_find(t, &t->cur, k, h, NULL, NULL, NULL);
    if (r == PM_EHASH_MISS && t->old.b) r = index_find(t, &t->old, k, h, NULL, NULL, NULL);
    return r;
}

/* What callers see: the handle of an established entry, TIME_WAIT ids
 * and misses as they are. */
static inline uint32_t public_ref(const pm_ehash *t, uint32_t ref)
{
    if (ref & PM_EHASH_TW) return ref; /* also PM_EHASH_MISS */
    if (t->est_key) return ref;
    return dm_est_at(t, ref)->handle;
}

static inline __attribute__((always_inline)) uint32_t lookup_one(const pm_ehash *t,
                                                                 const pm_tuple *k, int aes)
{
    (void)aes;
    return public_ref(t, lookup_h(t, k, THASH(t, k, aes)));
}

#if DM_HAVE_AES_HASH
__attribute__((target("aes"))) static uint32_t lookup_one_aes(const pm_ehash *t, const pm_tuple *k)
{
    return lookup_one(t, k, 1);
}
#endif

uint32_t pm_ehash_lookup(const pm_ehash *t, const pm_tuple *k)
{
#if DM_HAVE_AES_HASH
    if (t->aes) return lookup_one_aes(t, k);
#endif
    return lookup_one(t, k, 0);
}

static inline uint32_t match_in(const pm_ehash *t, const dm_bucket *b, unsigned m,
                                const pm_tuple *k)
{
    for (; m; m &= m - 1) {
        uint32_t ref = b->ref[__builtin_ctz(m) / 2];
        if (ref_match(t, ref, k)) return ref;
    }
    return PM_EHASH_MISS;
}

/* Batched lookups in passes over up to 64 keys, as DPDK's
 * rte_hash_lookup_bulk does, so that each pass's loads are in flight
 * together: hash all keys and prefetch their home buckets; match tags,
 * prefetch the candidate record, or the next bucket when the home bucket
 * has overflowed and holds no candidate; compare records; finish the few
 * keys that needed the next bucket. Only a key displaced two buckets or
 * more takes the plain path. */
static inline __attribute__((always_inline)) void
lookup_bulk(const pm_ehash *t, const pm_tuple *keys, size_t n, uint32_t *out, int aes)
{
    enum { G = 64 };
    uint64_t h[G];
    const dm_bucket *bk[G];
    unsigned m[G];
    uint8_t later[G];
    if (t->old.b) { /* growing: two indexes; take the plain path */
        for (size_t i = 0; i < n; i++) out[i] = pm_ehash_lookup(t, &keys[i]);
        return;
    }
    const dm_index *ix = &t->cur;
    for (size_t base = 0; base < n; base += G) {
        size_t g = n - base < G ? n - base : G, nl = 0;
        const pm_tuple *k = keys + base;
        uint32_t *o = out + base;
        for (size_t i = 0; i < g; i++) {
            h[i] = THASH(t, &k[i], aes);
            bk[i] = &ix->b[dm_fastrange((uint32_t)(h[i] >> 32), ix->nb)];
            __builtin_prefetch(bk[i]);
        }
        for (size_t i = 0; i < g; i++) {
            m[i] = dm_match(bk[i], dm_tag(h[i]));
            if (m[i])
                __builtin_prefetch(ref_record(t, bk[i]->ref[__builtin_ctz(m[i]) / 2]));
            else if (dm_passes(bk[i], dm_tag(h[i])))
                __builtin_prefetch(&ix->b[next_bucket(ix, (uint32_t)(bk[i] - ix->b))]);
        }
        for (size_t i = 0; i < g; i++) {
            uint32_t r = match_in(t, bk[i], m[i], &k[i]);
            if (r == PM_EHASH_MISS && dm_passes(bk[i], dm_tag(h[i]))) {
                /* Displaced: look at the next bucket in the last pass. */
                bk[i] = &ix->b[next_bucket(ix, (uint32_t)(bk[i] - ix->b))];
                m[i] = dm_match(bk[i], dm_tag(h[i]));
                if (m[i]) __builtin_prefetch(ref_record(t, bk[i]->ref[__builtin_ctz(m[i]) / 2]));
                later[nl++] = (uint8_t)i;
                continue;
            }
            o[i] = public_ref(t, r);
        }
        for (size_t j = 0; j < nl; j++) {
            size_t i = later[j];
            uint32_t r = match_in(t, bk[i], m[i], &k[i]);
            if (r == PM_EHASH_MISS && dm_passes(bk[i], dm_tag(h[i])))
                r = index_find(t, ix, &k[i], h[i], 0, 0, 0);
            o[i] = public_ref(t, r);
        }
    }
}

#if DM_HAVE_AES_HASH
__attribute__((target("aes"))) static void lookup_bulk_aes(const pm_ehash *t, const pm_tuple *keys,
                                                           size_t n, uint32_t *out)
{
    lookup_bulk(t, keys, n, out, 1);
}
#endif

void pm_ehash_lookup_bulk(const pm_ehash *t, const pm_tuple *keys, size_t n, uint32_t *out)
{
#if DM_HAVE_AES_HASH
    if (t->aes) {
        lookup_bulk_aes(t, keys, n, out);
        return;
    }
#endif
    lookup_bulk(t, keys, n, out, 0);
}

static int64_t est_alloc(pm_ehash *t)
{
    if (t->free_head != UINT32_MAX) {
        uint32_t i = t->free_head;
        t->free_head = dm_est_at(t, i)->handle;
        return i;
    }
    if (t->hwm >= t->max_entries) return -ENOBUFS;
    if ((t->hwm & (DM_CHUNK - 1)) == 0) {
        dm_est *c = dm_alloc(t, DM_CHUNK * sizeof *c);
        if (!c) return -ENOMEM;
        t->chunk[t->nchunk++] = c;
    }
    return t->hwm++;
}

static void est_free(pm_ehash *t, uint32_t i)
{
    dm_est *e = dm_est_at(t, i);
    e->handle = t->free_head;
    t->free_head = i;
}

int pm_ehash_insert(pm_ehash *t, const pm_tuple *k, uint32_t handle)
{
    if (handle >= PM_EHASH_HANDLE_MAX) return -EINVAL;
    uint64_t h = thash(t, k);
    if (lookup_h(t, k, h) != PM_EHASH_MISS) {
        t->st.insert_exists++;
        return -EEXIST;
    }
    if (t->est_count >= t->max_entries) {
        t->st.insert_full++;
        return -ENOBUFS;
    }
    int err = reserve(t);
    if (err) return err;
    if (t->est_key) { /* the key is the caller's: the slot holds the handle */
        index_put(&t->cur, h, handle);
        t->count++;
        t->est_count++;
        t->st.inserts++;
        return 0;
    }
    int lidx = dm_laddr_get(t, &k->laddr);
    if (lidx < 0) {
        t->st.laddr_full++;
        return lidx;
    }
    int64_t ri = est_alloc(t);
    if (ri < 0) {
        dm_laddr_put(t, (uint32_t)lidx);
        t->st.insert_nomem++;
        return (int)ri;
    }
    dm_est *e = dm_est_at(t, (uint32_t)ri);
    e->faddr = k->faddr;
    e->lidx = (uint16_t)lidx;
    e->lport = k->lport;
    e->fport = k->fport;
    e->proto = k->proto;
    e->pad = 0;
    e->handle = handle;
    e->h32 = (uint32_t)(h >> 32);
    index_put(&t->cur, h, (uint32_t)ri);
    t->count++;
    t->est_count++;
    t->st.inserts++;
    return 0;
}

/* Finds k in either index: its ref, and where it sits. */
static uint32_t locate(pm_ehash *t, const pm_tuple *k, uint64_t h, dm_index **ix, uint32_t *b,
                       unsigned *s)
{
    uint32_t r = index_find(t, &t->cur, k, h, b, s, NULL);
    *ix = &t->cur;
    if (r == PM_EHASH_MISS && t->old.b) {
        r = index_find(t, &t->old, k, h, b, s, NULL);
        *ix = &t->old;
    }
    return r;
}

int64_t pm_ehash_remove(pm_ehash *t, const pm_tuple *k)
{
    uint64_t h = thash(t, k);
    dm_index *ix;
    uint32_t b;
    unsigned s;
    uint32_t r = locate(t, k, h, &ix, &b, &s);
    if (r == PM_EHASH_MISS || (r & PM_EHASH_TW)) return -ENOENT;
    dm_index_erase(t, ix, h, b, s);
    uint32_t handle = r;
    if (!t->est_key) {
        dm_est *e = dm_est_at(t, r);
        handle = e->handle;
        dm_laddr_put(t, e->lidx);
        est_free(t, r);
    }
    t->count--;
    t->est_count--;
    t->st.removes++;
    pm_ehash_maintain(t, DM_GROW_STEP);
    return handle;
}

/* ---- TIME_WAIT entry points that touch the index ------------------------ */

static void tw_fill(pm_ehash *t, uint32_t pos, const pm_tuple *k, uint16_t lidx,
                    const pm_tw_state *st)
{
    dm_tw *w = &t->tw[pos];
    w->faddr = k->faddr;
    w->lidx = lidx;
    w->lport = k->lport;
    w->fport = k->fport;
    w->flags = st->flags & PM_TW_F_USER_MASK;
    w->wscale = st->rcv_wscale;
    w->snd_nxt = st->snd_nxt;
    w->rcv_nxt = st->rcv_nxt;
    w->rcv_wnd = st->rcv_wnd;
    w->ts_recent = st->ts_recent;
    w->ts_stamp = st->ts_recent_stamp;
}

int64_t pm_ehash_to_timewait(pm_ehash *t, const pm_tuple *k, const pm_tw_state *st, uint64_t now,
                             uint32_t *ref)
{
    if (!t->tw_cap) return -ENOBUFS;
    uint64_t h = thash(t, k);
    dm_index *ix;
    uint32_t b, pos;
    unsigned s;
    uint32_t r = locate(t, k, h, &ix, &b, &s);
    if (r == PM_EHASH_MISS || (r & PM_EHASH_TW) || k->proto != PM_IPPROTO_TCP) return -ENOENT;
    uint32_t handle = r;
    uint16_t lidx;
    if (t->est_key) { /* the TIME_WAIT record interns the local address now */
        int li = dm_laddr_get(t, &k->laddr);
        if (li < 0) {
            t->st.laddr_full++;
            return li;
        }
        lidx = (uint16_t)li;
    } else {
        dm_est *e = dm_est_at(t, r);
        handle = e->handle;
        lidx = e->lidx;
        est_free(t, r);
    }
    t->est_count--;
    /* Recycling the oldest entry may erase other slots but never moves
     * this one, so (ix, b, s) stays valid. */
    dm_tw_make_room(t);
    pos = dm_tw_push(t, now);
    tw_fill(t, pos, k, lidx, st);
    ix->b[b].ref[s] = PM_EHASH_TW | pos;
    t->st.tw_inserts++;
    *ref = PM_EHASH_TW | pos;
    return handle;
}

int pm_ehash_tw_insert(pm_ehash *t, const pm_tuple *k, const pm_tw_state *st, uint64_t now,
                       uint32_t *ref)
{
    if (k->proto != PM_IPPROTO_TCP) return -EINVAL;
    if (!t->tw_cap) return -ENOBUFS;
    uint64_t h = thash(t, k);
    if (lookup_h(t, k, h) != PM_EHASH_MISS) {
        t->st.insert_exists++;
        return -EEXIST;
    }
    /* Make room in the FIFO first: recycling frees an index slot too. */
    dm_tw_make_room(t);
    int err = reserve(t);
    if (err) return err;
    int lidx = dm_laddr_get(t, &k->laddr);
    if (lidx < 0) {
        t->st.laddr_full++;
        return lidx;
    }
    uint32_t pos = dm_tw_push(t, now);
    tw_fill(t, pos, k, (uint16_t)lidx, st);
    index_put(&t->cur, h, PM_EHASH_TW | pos);
    t->count++;
    t->st.tw_inserts++;
    *ref = PM_EHASH_TW | pos;
    return 0;
}

/* ---- diagnostics ------------------------------------------------------- */

pm_ehash_probe pm_ehash_probes(const pm_ehash *t, const pm_tuple *k)
{
    pm_ehash_probe pr = {0, 0};
    uint64_t h = thash(t, k);
    if (index_find(t, &t->cur, k, h, NULL, NULL, &pr) == PM_EHASH_MISS && t->old.b)
        index_find(t, &t->old, k, h, NULL, NULL, &pr);
    return pr;
}

static void displacement_of(const pm_ehash *t, const dm_index *ix, uint32_t *max, uint64_t *total)
{
    for (uint32_t b = 0; b < ix->nb; b++) {
        for (unsigned s = 0; s < DM_SLOTS; s++) {
            if (!ix->b[b].tag[s]) continue;
            uint64_t h = ref_hash(t, ix->b[b].ref[s], ix->b[b].tag[s]);
            uint32_t home = dm_fastrange((uint32_t)(h >> 32), ix->nb);
            uint32_t d = b >= home ? b - home : b + ix->nb - home;
            if (d > *max) *max = d;
            *total += d;
        }
    }
}

void pm_ehash_displacement(const pm_ehash *t, uint32_t *max, uint64_t *total)
{
    *max = 0;
    *total = 0;
    displacement_of(t, &t->cur, max, total);
    if (t->old.b) displacement_of(t, &t->old, max, total);
}

void pm_ehash_stats_get(const pm_ehash *t, pm_ehash_stats *s)
{
    *s = t->st;
    s->established = t->est_count;
    s->timewait = t->tw_live;
    s->buckets = (uint64_t)t->cur.nb + t->old.nb;
    s->capacity = s->buckets * DM_SLOTS;
    s->bytes = t->bytes;
    s->growing = t->old.b != NULL;
    s->aes_hash = t->aes != 0;
}
