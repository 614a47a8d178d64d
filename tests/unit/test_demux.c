/* Demultiplexing tables: the established/TIME_WAIT table against a
 * reference model, adversarial keys, the listener and UDP precedence rules
 * (each mirrors a Linux function, named in the test). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rng.h"
#include "base/siphash.h"
#include "demux/aes_hash.h"
#include "demux/tuple_hash.h"
#include "portmux/addr.h"
#include "portmux/demux.h"

static pm_ip ip_of(const char *s)
{
    pm_ip ip;
    assert_int_equal(pm_ip_parse(s, &ip, NULL), 0);
    return ip;
}

static pm_tuple tup(const char *l, uint16_t lport, const char *f, uint16_t fport, uint8_t proto)
{
    pm_tuple k;
    memset(&k, 0, sizeof k);
    k.laddr = ip_of(l);
    k.faddr = ip_of(f);
    k.lport = lport;
    k.fport = fport;
    k.proto = proto;
    return k;
}

static bool g_siphash; /* the hash the tables built by mk() use */

static pm_ehash *mk(uint32_t initial, uint32_t max, uint32_t max_tw)
{
    pm_ehash_config c = {.siphash = g_siphash,
                         .key = {0x0123456789abcdefULL, 0xfedcba9876543210ULL},
                         .initial_entries = initial,
                         .max_entries = max,
                         .max_tw = max_tw,
                         .tw_timeout_us = 60000000};
    pm_ehash *t;
    assert_int_equal(pm_ehash_create(&t, &c), 0);
    return t;
}

/* ---- the hash ---------------------------------------------------------- */

static void test_hash_is_siphash13(void **state)
{
    (void)state;
    pm_sipkey key = {0x1111, 0x2222};
    pm_tuple k = tup("192.0.2.1", 80, "198.51.100.7", 40000, PM_IPPROTO_TCP);
    uint8_t m4[16] = {192, 0, 2, 1, 198, 51, 100, 7, 80, 0, 0x40, 0x9c, 6, 4, 0, 0};
    assert_true(dm_hash_tuple(&key, &k) == pm_siphash13(&key, m4, sizeof m4));
    k = tup("2001:db8::1", 443, "2001:db8::2", 5555, PM_IPPROTO_UDP);
    uint8_t m6[40];
    memcpy(m6, k.laddr.b, 16);
    memcpy(m6 + 16, k.faddr.b, 16);
    uint8_t tail[8] = {443 & 0xff, 443 >> 8, 5555 & 0xff, 5555 >> 8, 17, 6, 0, 0};
    memcpy(m6 + 32, tail, 8);
    assert_true(dm_hash_tuple(&key, &k) == pm_siphash13(&key, m6, sizeof m6));
    /* The secret matters. */
    pm_sipkey key2 = {0x1111, 0x2223};
    assert_true(dm_hash_tuple(&key, &k) != dm_hash_tuple(&key2, &k));
#if DM_HAVE_AES_HASH
    if (dm_cpu_has_aes()) {
        /* The AES hash is keyed too, and tells the families apart. */
        _Alignas(16) uint8_t rk1[8][16], rk2[8][16];
        for (int i = 0; i < 128; i++) rk1[i / 16][i % 16] = rk2[i / 16][i % 16] = (uint8_t)(i * 37);
        rk2[3][5] ^= 1;
        pm_tuple a = tup("10.0.0.1", 80, "10.0.0.2", 1234, PM_IPPROTO_TCP);
        pm_tuple b = a;
        b.laddr = ip_of("::a00:1"); /* 10.0.0.1's bytes, not IPv4-mapped */
        b.faddr = ip_of("::a00:2");
        uint64_t ha = dm_aes_hash_tuple((const uint8_t(*)[16])rk1, &a);
        assert_true(ha == dm_aes_hash_tuple((const uint8_t(*)[16])rk1, &a));
        assert_true(ha != dm_aes_hash_tuple((const uint8_t(*)[16])rk2, &a));
        assert_true(ha != dm_aes_hash_tuple((const uint8_t(*)[16])rk1, &b));
        assert_true(dm_aes_hash_tuple((const uint8_t(*)[16])rk1, &b) !=
                    dm_aes_hash_tuple((const uint8_t(*)[16])rk2, &b));
    }
#endif
}

/* ---- established ------------------------------------------------------- */

static void test_ehash_basic(void **state)
{
    (void)state;
    pm_ehash *t = mk(4, 100, 10);
    pm_tuple a = tup("10.0.0.1", 80, "10.0.0.2", 1234, PM_IPPROTO_TCP);
    pm_tuple b = a;
    b.proto = PM_IPPROTO_UDP; /* same addresses and ports, other protocol */
    pm_tuple c = tup("2001:db8::1", 80, "2001:db8::2", 1234, PM_IPPROTO_TCP);
    pm_tuple d = tup("::ffff:10.0.0.1", 80, "2001:db8::2", 1234, PM_IPPROTO_TCP);
    assert_int_equal(pm_ehash_lookup(t, &a), PM_EHASH_MISS);
    assert_int_equal(pm_ehash_insert(t, &a, 7), 0);
    assert_int_equal(pm_ehash_insert(t, &a, 8), -EEXIST);
    assert_int_equal(pm_ehash_insert(t, &b, 9), 0);
    assert_int_equal(pm_ehash_insert(t, &c, 10), 0);
    assert_int_equal(pm_ehash_insert(t, &d, 11), 0);
    assert_int_equal(pm_ehash_insert(t, &d, PM_EHASH_HANDLE_MAX), -EINVAL);
    assert_int_equal(pm_ehash_lookup(t, &a), 7);
    assert_int_equal(pm_ehash_lookup(t, &b), 9);
    assert_int_equal(pm_ehash_lookup(t, &c), 10);
    assert_int_equal(pm_ehash_lookup(t, &d), 11);
    pm_tuple keys[5] = {a, b, c, d, tup("10.0.0.1", 81, "10.0.0.2", 1234, PM_IPPROTO_TCP)};
    uint32_t out[5];
    pm_ehash_lookup_bulk(t, keys, 5, out);
    assert_int_equal(out[0], 7);
    assert_int_equal(out[1], 9);
    assert_int_equal(out[2], 10);
    assert_int_equal(out[3], 11);
    assert_int_equal(out[4], PM_EHASH_MISS);
    assert_int_equal(pm_ehash_remove(t, &a), 7);
    assert_int_equal(pm_ehash_remove(t, &a), -ENOENT);
    assert_int_equal(pm_ehash_lookup(t, &a), PM_EHASH_MISS);
    assert_int_equal(pm_ehash_lookup(t, &b), 9);
    pm_ehash_stats s;
    pm_ehash_stats_get(t, &s);
    assert_int_equal(s.established, 3);
    assert_int_equal(s.insert_exists, 1);
    pm_ehash_destroy(t);
}

static void test_ehash_full_and_growth(void **state)
{
    (void)state;
    pm_ehash *t = mk(1, 5000, 0);
    pm_tuple k = tup("10.0.0.1", 80, "10.1.0.0", 1, PM_IPPROTO_TCP);
    pm_ehash_stats s;
    uint64_t steps = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        k.fport = (uint16_t)(i + 1);
        k.faddr.b[15] = (uint8_t)(i >> 8);
        assert_int_equal(pm_ehash_insert(t, &k, i), 0);
        /* Growth is incremental: an insert moves at most 2 old buckets
         * (4 on the insert that starts a growth), never the whole index. */
        pm_ehash_stats_get(t, &s);
        assert_true(s.grow_steps - steps <= 4);
        steps = s.grow_steps;
        /* Every entry stays findable while the index grows under it. */
        if (i % 97 == 0)
            for (uint32_t j = 0; j <= i; j += 13) {
                pm_tuple q = k;
                q.fport = (uint16_t)(j + 1);
                q.faddr.b[15] = (uint8_t)(j >> 8);
                assert_int_equal(pm_ehash_lookup(t, &q), j);
            }
    }
    pm_ehash_stats_get(t, &s);
    assert_true(s.grows >= 8);
    k.fport = 6000;
    assert_int_equal(pm_ehash_insert(t, &k, 1), -ENOBUFS);
    pm_ehash_stats_get(t, &s);
    assert_int_equal(s.insert_full, 1);
    assert_int_equal(s.established, 5000);
    while (pm_ehash_maintain(t, 100)) {
    }
    pm_ehash_stats_get(t, &s);
    assert_false(s.growing);
    /* Load stays at most 4/5 after growth finishes. */
    assert_true(s.established * 5 <= s.capacity * 4);
    pm_ehash_destroy(t);
}

/* ---- TIME_WAIT --------------------------------------------------------- */

static void test_tw_basic(void **state)
{
    (void)state;
    pm_ehash *t = mk(16, 100, 4);
    pm_tuple a = tup("10.0.0.1", 80, "10.0.0.2", 1234, PM_IPPROTO_TCP);
    pm_tw_state st = {.snd_nxt = 1000,
                      .rcv_nxt = 2000,
                      .rcv_wnd = 65535,
                      .ts_recent = 77,
                      .ts_recent_stamp = 5,
                      .rcv_wscale = 7,
                      .flags = PM_TW_F_TS};
    uint32_t ref;
    assert_int_equal(pm_ehash_to_timewait(t, &a, &st, 0, &ref), -ENOENT);
    assert_int_equal(pm_ehash_insert(t, &a, 42), 0);
    assert_int_equal(pm_ehash_to_timewait(t, &a, &st, 1000, &ref), 42);
    assert_true(pm_ehash_is_tw(ref));
    /* One probe finds it, on the same path as established connections. */
    assert_int_equal(pm_ehash_lookup(t, &a), ref);
    assert_int_equal(pm_ehash_remove(t, &a), -ENOENT); /* not established */
    assert_int_equal(pm_ehash_insert(t, &a, 43), -EEXIST);
    pm_tw_entry e;
    assert_int_equal(pm_ehash_tw_get(t, ref, &e), 0);
    assert_int_equal(e.st.snd_nxt, 1000);
    assert_int_equal(e.st.rcv_nxt, 2000);
    assert_int_equal(e.st.rcv_wnd, 65535);
    assert_int_equal(e.st.ts_recent, 77);
    assert_int_equal(e.st.ts_recent_stamp, 5);
    assert_int_equal(e.st.rcv_wscale, 7);
    assert_int_equal(e.st.flags, PM_TW_F_TS);
    assert_int_equal(e.expire, 60001000);
    assert_true(pm_ip_eq(&e.tuple.laddr, &a.laddr) && e.tuple.lport == 80 && e.tuple.fport == 1234);
    st.ts_recent = 99;
    assert_int_equal(pm_ehash_tw_update(t, ref, &st), 0);
    assert_int_equal(pm_ehash_tw_get(t, ref, &e), 0);
    assert_int_equal(e.st.ts_recent, 99);
    /* Not expired before its time, expired at it. */
    pm_tw_entry out[4];
    assert_int_equal(pm_ehash_tw_expire(t, 60000999, out, 4), 0);
    uint64_t at;
    assert_true(pm_ehash_tw_next_expiry(t, 60000999, &at));
    assert_int_equal(at, 60001000);
    /* Reschedule moves the timer (and the id). */
    uint32_t ref2;
    assert_int_equal(pm_ehash_tw_reschedule(t, ref, 30000000, &ref2), 0);
    assert_int_equal(pm_ehash_lookup(t, &a), ref2);
    assert_int_equal(pm_ehash_tw_get(t, ref, &e), ref == ref2 ? 0 : -ENOENT);
    assert_int_equal(pm_ehash_tw_expire(t, 60001000, out, 4), 0);
    assert_int_equal(pm_ehash_tw_expire(t, 90000000, out, 4), 1);
    assert_true(pm_ip_eq(&out[0].tuple.faddr, &a.faddr));
    assert_int_equal(out[0].st.ts_recent, 99);
    assert_int_equal(pm_ehash_lookup(t, &a), PM_EHASH_MISS);
    assert_false(pm_ehash_tw_next_expiry(t, 90000000, &at));
    /* tw_insert directly, then remove. */
    assert_int_equal(pm_ehash_tw_insert(t, &a, &st, 100000, &ref), 0);
    assert_int_equal(pm_ehash_tw_insert(t, &a, &st, 100000, &ref2), -EEXIST);
    pm_tuple u = a;
    u.proto = PM_IPPROTO_UDP;
    assert_int_equal(pm_ehash_tw_insert(t, &u, &st, 100000, &ref2), -EINVAL);
    assert_int_equal(pm_ehash_lookup(t, &u), PM_EHASH_MISS); /* TIME_WAIT is TCP's */
    assert_int_equal(pm_ehash_tw_remove(t, ref), 0);
    assert_int_equal(pm_ehash_tw_remove(t, ref), -ENOENT);
    assert_int_equal(pm_ehash_tw_remove(t, 7), -ENOENT);
    assert_int_equal(pm_ehash_lookup(t, &a), PM_EHASH_MISS);
    pm_ehash_destroy(t);
}

typedef struct rec_log {
    int n;
    pm_tuple last;
} rec_log;

static void on_recycle(void *ctx, const pm_tw_entry *e)
{
    rec_log *l = ctx;
    l->n++;
    l->last = e->tuple;
}

static void test_tw_limit_recycles_oldest(void **state)
{
    (void)state;
    rec_log log = {0};
    pm_ehash_config c = {.key = {1, 2},
                         .initial_entries = 8,
                         .max_entries = 100,
                         .max_tw = 3,
                         .tw_timeout_us = 1000,
                         .tw_recycled = on_recycle,
                         .ctx = &log};
    pm_ehash *t;
    assert_int_equal(pm_ehash_create(&t, &c), 0);
    pm_tw_state st = {0};
    pm_tuple k[5];
    uint32_t ref;
    for (int i = 0; i < 5; i++) {
        k[i] = tup("10.0.0.1", 80, "10.0.0.2", (uint16_t)(1000 + i), PM_IPPROTO_TCP);
        assert_int_equal(pm_ehash_tw_insert(t, &k[i], &st, (uint64_t)i, &ref), 0);
    }
    /* tcp_max_tw_buckets = 3: the two oldest were recycled, in order. */
    pm_ehash_stats s;
    pm_ehash_stats_get(t, &s);
    assert_int_equal(s.tw_recycled, 2);
    assert_int_equal(s.timewait, 3);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.last.fport, 1001);
    assert_int_equal(pm_ehash_lookup(t, &k[0]), PM_EHASH_MISS);
    assert_int_equal(pm_ehash_lookup(t, &k[1]), PM_EHASH_MISS);
    for (int i = 2; i < 5; i++) assert_true(pm_ehash_is_tw(pm_ehash_lookup(t, &k[i])));
    /* Expiry is bounded per call and oldest first. */
    pm_tw_entry out[2];
    assert_int_equal(pm_ehash_tw_expire(t, 10000, out, 2), 2);
    assert_int_equal(out[0].tuple.fport, 1002);
    assert_int_equal(out[1].tuple.fport, 1003);
    assert_int_equal(pm_ehash_tw_expire(t, 10000, out, 2), 1);
    assert_int_equal(out[0].tuple.fport, 1004);
    pm_ehash_stats_get(t, &s);
    assert_int_equal(s.timewait, 0);
    assert_int_equal(s.tw_expired, 3);
    pm_ehash_destroy(t);
}

/* ---- model-based randomized test ---------------------------------------- */

enum { M_ABSENT, M_EST, M_TW };
typedef struct model_ent {
    int kind;
    uint32_t handle;
    uint64_t expire, seq;
    uint32_t snd_nxt;
} model_ent;

/* The reference: a plain array indexed by key number, a direct-mapped
 * finder from tuple to key number, and the TIME_WAIT entries in the order
 * they were (re)scheduled. */
#define MODEL_SLOTS 16384
typedef struct model {
    model_ent *e;
    pm_tuple *keys;
    size_t n;
    uint32_t finder[MODEL_SLOTS]; /* key number + 1 */
    uint64_t *fifo_seq;           /* (seq, key) pushed in seq order */
    size_t *fifo_key;
    size_t fifo_head, fifo_len;
    uint64_t recycled;
} model;

static uint32_t finder_slot(const pm_tuple *k)
{
    static const pm_sipkey fk = {7, 7};
    uint8_t b[37];
    memcpy(b, k->laddr.b, 16);
    memcpy(b + 16, k->faddr.b, 16);
    memcpy(b + 32, &k->lport, 2);
    memcpy(b + 34, &k->fport, 2);
    b[36] = k->proto;
    return (uint32_t)pm_siphash24(&fk, b, sizeof b) & (MODEL_SLOTS - 1);
}

static int same_tuple(const pm_tuple *a, const pm_tuple *b)
{
    return pm_ip_eq(&a->laddr, &b->laddr) && pm_ip_eq(&a->faddr, &b->faddr) &&
           a->lport == b->lport && a->fport == b->fport && a->proto == b->proto;
}

static size_t key_index(const model *m, const pm_tuple *k)
{
    for (uint32_t s = finder_slot(k); m->finder[s]; s = (s + 1) & (MODEL_SLOTS - 1))
        if (same_tuple(&m->keys[m->finder[s] - 1], k)) return m->finder[s] - 1;
    fail_msg("the table returned a tuple that was never inserted");
    return 0;
}

static void fifo_push(model *m, size_t i, uint64_t seq)
{
    m->fifo_seq[m->fifo_len] = seq;
    m->fifo_key[m->fifo_len++] = i;
}

/* The oldest live TIME_WAIT key in the model, or SIZE_MAX. */
static size_t fifo_oldest(model *m)
{
    for (; m->fifo_head < m->fifo_len; m->fifo_head++) {
        size_t i = m->fifo_key[m->fifo_head];
        if (m->e[i].kind == M_TW && m->e[i].seq == m->fifo_seq[m->fifo_head]) return i;
    }
    return SIZE_MAX;
}

static void model_recycled(void *ctx, const pm_tw_entry *e)
{
    model *m = ctx;
    size_t i = key_index(m, &e->tuple);
    assert_int_equal(m->e[i].kind, M_TW);
    assert_int_equal(fifo_oldest(m), i); /* the oldest goes first */
    m->e[i].kind = M_ABSENT;
    m->recycled++;
}

static void check_one(pm_ehash *t, model *m, size_t i, uint32_t r)
{
    model_ent *me = &m->e[i];
    if (me->kind == M_ABSENT) {
        assert_int_equal(r, PM_EHASH_MISS);
    } else if (me->kind == M_EST) {
        assert_int_equal(r, me->handle);
    } else {
        assert_true(pm_ehash_is_tw(r));
        pm_tw_entry e;
        assert_int_equal(pm_ehash_tw_get(t, r, &e), 0);
        assert_int_equal(e.st.snd_nxt, me->snd_nxt);
        assert_int_equal(e.expire, me->expire);
        assert_int_equal(e.tuple.fport, m->keys[i].fport);
    }
}

/* External keys: the handle is the key's number in the model. */
static const pm_tuple *model_est_key(void *ctx, uint32_t handle)
{
    model *m = ctx;
    assert_true(handle < m->n);
    return &m->keys[handle];
}

static void model_run(bool siphash, bool ext)
{
    const char *env = getenv("PM_DEMUX_MODEL_OPS");
    uint64_t ops = env ? strtoull(env, NULL, 10) : 1000000;
    const char *senv = getenv("PM_DEMUX_SEED");
    uint64_t seed = senv ? strtoull(senv, NULL, 0) : 0x5eed0001;
    printf("model: seed=0x%llx ops=%llu hash=%s keys=%s (PM_DEMUX_SEED, PM_DEMUX_MODEL_OPS)\n",
           (unsigned long long)seed, (unsigned long long)ops, siphash ? "siphash" : "default",
           ext ? "external" : "records");
    pm_rng r;
    pm_rng_seed(&r, seed);
    static model m;
    memset(&m, 0, sizeof m);
    m.n = 6000;
    m.keys = calloc(m.n, sizeof *m.keys);
    m.e = calloc(m.n, sizeof *m.e);
    m.fifo_seq = calloc(ops + 1, sizeof *m.fifo_seq);
    m.fifo_key = calloc(ops + 1, sizeof *m.fifo_key);
    const char *locals[] = {"10.0.0.1", "10.0.0.2", "2001:db8::1", "::ffff:192.0.2.1"};
    for (size_t i = 0; i < m.n; i++) {
        pm_tuple *k = &m.keys[i];
        memset(k, 0, sizeof *k);
        k->laddr = ip_of(locals[pm_rng_below(&r, 4)]);
        if (pm_ip_is_v4(&k->laddr) && pm_rng_below(&r, 8)) {
            k->faddr = pm_ip4(0xc6336400u | pm_rng_below(&r, 64));
        } else {
            k->faddr = ip_of("2001:db8:1::");
            k->faddr.b[15] = (uint8_t)pm_rng_below(&r, 64);
        }
        k->lport = (uint16_t)(80 + pm_rng_below(&r, 3));
        k->fport = (uint16_t)(1024 + pm_rng_below(&r, 4000));
        k->proto = pm_rng_below(&r, 5) ? PM_IPPROTO_TCP : PM_IPPROTO_UDP;
        uint32_t sl = finder_slot(k);
        for (; m.finder[sl]; sl = (sl + 1) & (MODEL_SLOTS - 1))
            if (same_tuple(&m.keys[m.finder[sl] - 1], k)) break;
        if (m.finder[sl]) { /* not distinct: draw again */
            i--;
            continue;
        }
        m.finder[sl] = (uint32_t)i + 1;
    }
    pm_ehash_config c = {.siphash = siphash,
                         .key = {seed, ~seed},
                         .initial_entries = 1,
                         .max_entries = 4000,
                         .max_tw = 100,
                         .tw_timeout_us = 20000,
                         .tw_recycled = model_recycled,
                         .est_key = ext ? model_est_key : NULL,
                         .ctx = &m};
    pm_ehash *t;
    assert_int_equal(pm_ehash_create(&t, &c), 0);
    uint64_t now = 0, seq = 0, est = 0;
    pm_tuple batch[40];
    uint32_t out[40];
    size_t bidx[40];
    pm_tw_entry exp[16];
    for (uint64_t op = 0; op < ops; op++) {
        size_t i = pm_rng_below(&r, (uint32_t)m.n);
        model_ent *me = &m.e[i];
        const pm_tuple *k = &m.keys[i];
        uint32_t dice = pm_rng_below(&r, 100), ref;
        pm_tw_state st = {.snd_nxt = (uint32_t)op};
        if (dice < 30) {
            uint32_t h = ext ? (uint32_t)i : pm_rng_below(&r, PM_EHASH_HANDLE_MAX);
            int rc = pm_ehash_insert(t, k, h);
            if (me->kind != M_ABSENT) {
                assert_int_equal(rc, -EEXIST);
            } else if (est >= 4000) {
                assert_int_equal(rc, -ENOBUFS);
            } else {
                assert_int_equal(rc, 0);
                me->kind = M_EST;
                me->handle = h;
                est++;
            }
        } else if (dice < 45) {
            int64_t rc = pm_ehash_remove(t, k);
            if (me->kind == M_EST) {
                assert_int_equal(rc, me->handle);
                me->kind = M_ABSENT;
                est--;
            } else {
                assert_int_equal(rc, -ENOENT);
            }
        } else if (dice < 52) {
            int64_t rc = pm_ehash_to_timewait(t, k, &st, now, &ref);
            if (me->kind == M_EST && k->proto == PM_IPPROTO_TCP) {
                assert_int_equal(rc, me->handle);
                est--;
                me->kind = M_TW;
                me->expire = now + 20000;
                me->seq = seq;
                fifo_push(&m, i, seq++);
                me->snd_nxt = st.snd_nxt;
            } else {
                assert_int_equal(rc, -ENOENT);
            }
        } else if (dice < 55) {
            int rc = pm_ehash_tw_insert(t, k, &st, now, &ref);
            if (k->proto != PM_IPPROTO_TCP) {
                assert_int_equal(rc, -EINVAL);
            } else if (me->kind != M_ABSENT) {
                assert_int_equal(rc, -EEXIST);
            } else {
                assert_int_equal(rc, 0);
                me->kind = M_TW;
                me->expire = now + 20000;
                me->seq = seq;
                fifo_push(&m, i, seq++);
                me->snd_nxt = st.snd_nxt;
            }
        } else if (dice < 58) {
            uint32_t lr = pm_ehash_lookup(t, k);
            if (me->kind == M_TW) {
                if (pm_rng_below(&r, 2)) {
                    assert_int_equal(pm_ehash_tw_remove(t, lr), 0);
                    me->kind = M_ABSENT;
                } else {
                    assert_int_equal(pm_ehash_tw_reschedule(t, lr, now, &ref), 0);
                    me->expire = now + 20000;
                    me->seq = seq;
                    fifo_push(&m, i, seq++);
                }
            } else {
                assert_int_equal(pm_ehash_tw_remove(t, lr), -ENOENT);
            }
        } else if (dice < 60) {
            now += pm_rng_below(&r, 50) ? pm_rng_below(&r, 200) : 25000; /* sometimes a jump */
            size_t got;
            do {
                got = pm_ehash_tw_expire(t, now, exp, 16);
                for (size_t j = 0; j < got; j++) {
                    size_t x = key_index(&m, &exp[j].tuple);
                    assert_int_equal(m.e[x].kind, M_TW);
                    assert_true(m.e[x].expire <= now);
                    assert_int_equal(exp[j].expire, m.e[x].expire);
                    m.e[x].kind = M_ABSENT;
                }
                uint64_t at;
                if (got < 16 && pm_ehash_tw_next_expiry(t, now, &at) && at <= now) got = 16;
            } while (got == 16);
            size_t old = fifo_oldest(&m); /* nothing expired is left */
            if (old != SIZE_MAX) assert_true(m.e[old].expire > now);
        } else if (dice < 65) {
            size_t nb = 1 + pm_rng_below(&r, 40);
            for (size_t j = 0; j < nb; j++) {
                bidx[j] = pm_rng_below(&r, (uint32_t)m.n);
                batch[j] = m.keys[bidx[j]];
            }
            pm_ehash_lookup_bulk(t, batch, nb, out);
            for (size_t j = 0; j < nb; j++) check_one(t, &m, bidx[j], out[j]);
        } else {
            check_one(t, &m, i, pm_ehash_lookup(t, k));
        }
    }
    /* Everything agrees at the end, too. */
    pm_ehash_stats s;
    pm_ehash_stats_get(t, &s);
    uint64_t n_est = 0, n_tw = 0;
    for (size_t i = 0; i < m.n; i++) {
        check_one(t, &m, i, pm_ehash_lookup(t, &m.keys[i]));
        n_est += m.e[i].kind == M_EST;
        n_tw += m.e[i].kind == M_TW;
    }
    assert_int_equal(s.established, n_est);
    assert_int_equal(s.timewait, n_tw);
    assert_int_equal(s.tw_recycled, m.recycled);
    printf("model: grows=%llu recycled=%llu expired=%llu est=%llu tw=%llu\n",
           (unsigned long long)s.grows, (unsigned long long)s.tw_recycled,
           (unsigned long long)s.tw_expired, (unsigned long long)n_est, (unsigned long long)n_tw);
    if (ops >= 100000) assert_true(s.grows > 0 && s.tw_recycled > 0 && s.tw_expired > 0);
    if (ext) { /* no established records: the index, the TIME_WAIT ring, local addresses */
        uint32_t max;
        uint64_t total;
        pm_ehash_displacement(t, &max, &total); /* rehashes through est_key */
        assert_true(s.bytes < s.buckets * 64 + 100 * 48 + 65536);
    }
    pm_ehash_destroy(t);
    free(m.keys);
    free(m.e);
    free(m.fifo_seq);
    free(m.fifo_key);
}

static void test_model_randomized(void **state)
{
    (void)state;
    model_run(false, false); /* AES rounds where the CPU has them */
}

static void test_model_randomized_external_keys(void **state)
{
    (void)state;
    model_run(false, true);
}

static void test_model_randomized_siphash(void **state)
{
    (void)state;
    model_run(true, false);
}

/* ---- adversarial keys ---------------------------------------------------- */

typedef struct probe_stats {
    uint32_t maxd;
    double mean_d, buckets, records;
    uint64_t worst;
} probe_stats;

/* Inserts n keys, then counts displacement and probes for each key (hit)
 * and for each key with lport + 1 (miss). */
static probe_stats measure(const pm_tuple *k, uint32_t n)
{
    pm_ehash *t = mk(n, n, 0);
    for (uint32_t i = 0; i < n; i++) assert_int_equal(pm_ehash_insert(t, &k[i], i), 0);
    probe_stats ps = {0};
    uint64_t total, buckets = 0, records = 0;
    pm_ehash_displacement(t, &ps.maxd, &total);
    ps.mean_d = (double)total / n;
    for (uint32_t i = 0; i < n; i++) {
        pm_tuple miss = k[i];
        miss.lport++;
        for (int j = 0; j < 2; j++) {
            pm_ehash_probe p = pm_ehash_probes(t, j ? &miss : &k[i]);
            buckets += p.buckets;
            records += p.records;
            if (p.buckets > ps.worst) ps.worst = p.buckets;
        }
    }
    ps.buckets = (double)buckets / (2.0 * n);
    ps.records = (double)records / (2.0 * n);
    pm_ehash_destroy(t);
    return ps;
}

/* An unkeyed hash of the kind a naive stack uses (Knuth multiplicative
 * over XOR-folded fields). */
static uint32_t unkeyed_bucket(const pm_tuple *k, unsigned bits)
{
    uint32_t x = pm_ip_v4(&k->faddr) ^ pm_ip_v4(&k->laddr) ^ k->fport ^ ((uint32_t)k->lport << 16);
    return (x * 0x9e3779b1u) >> (32 - bits);
}

static void adversarial(bool siphash)
{
    g_siphash = siphash;
    enum { N = 50000 };
    pm_tuple *k = calloc(N, sizeof *k);
    /* faddr ^ fport is constant: every key lands in one unkeyed bucket. */
    for (uint32_t i = 0; i < N; i++) {
        k[i] = tup("10.0.0.1", 443, "0.0.0.0", 0, PM_IPPROTO_TCP);
        k[i].fport = (uint16_t)(i & 0xffff);
        k[i].faddr = pm_ip4(0xcb007100u ^ (i & 0xffff) ^ ((i >> 16) << 24));
    }
    uint32_t b0 = unkeyed_bucket(&k[0], 20);
    for (uint32_t i = 0; i < N; i++) assert_int_equal(unkeyed_bucket(&k[i], 20), b0);
    probe_stats adv = measure(k, N);
    /* The same number of random keys, for the baseline. */
    pm_rng r;
    pm_rng_seed(&r, 99);
    for (uint32_t i = 0; i < N; i++) {
        k[i].faddr = pm_ip4((uint32_t)pm_rng_next(&r));
        k[i].fport = (uint16_t)pm_rng_next(&r);
    }
    probe_stats rnd = measure(k, N);
    printf("adversarial (%d keys, one unkeyed bucket): max displacement %u, mean %.3f, "
           "%.3f buckets + %.3f records per lookup, worst %llu buckets\n",
           N, adv.maxd, adv.mean_d, adv.buckets, adv.records, (unsigned long long)adv.worst);
    printf("random      (%d keys):                     max displacement %u, mean %.3f, "
           "%.3f buckets + %.3f records per lookup, worst %llu buckets\n",
           N, rnd.maxd, rnd.mean_d, rnd.buckets, rnd.records, (unsigned long long)rnd.worst);
    /* Flat: an unkeyed table would need N/2 records per lookup here. */
    assert_true(adv.buckets <= 3.0 && adv.records <= 1.1);
    assert_true(adv.buckets <= rnd.buckets * 1.25 + 0.05);
    assert_true(adv.mean_d <= rnd.mean_d * 1.25 + 0.05);
    assert_true(adv.worst <= 64 && adv.maxd <= 64);
    free(k);
    g_siphash = false;
}

static void test_adversarial_keys(void **state)
{
    (void)state;
    adversarial(false);
}

static void test_adversarial_keys_siphash(void **state)
{
    (void)state;
    adversarial(true);
}

/* ---- listeners ------------------------------------------------------------ */

static const uint64_t k2[2] = {3, 4};

static pm_demux_sock lsock(uint16_t family, const char *addr, uint16_t port, uint32_t handle)
{
    pm_demux_sock s;
    memset(&s, 0, sizeof s);
    s.family = family;
    s.lport = port;
    if (addr)
        s.laddr = ip_of(addr);
    else
        s.laddr = family == PM_AF_INET ? pm_ip_any4 : pm_ip_any6;
    s.faddr = pm_ip_any6;
    s.handle = handle;
    return s;
}

/* A SYN to laddr:lport from a fixed peer of the same family. */
static pm_tuple syn(const char *laddr, uint16_t lport)
{
    pm_ip l = ip_of(laddr);
    return tup(laddr, lport, pm_ip_is_v4(&l) ? "198.51.100.9" : "2001:db8:f::9", 40000,
               PM_IPPROTO_TCP);
}

static void test_listen_exact_over_wildcard(void **state)
{
    (void)state;
    pm_lhash *t;
    assert_int_equal(pm_lhash_create(&t, k2), 0);
    pm_demux_sock w4 = lsock(PM_AF_INET, NULL, 80, 1), e4 = lsock(PM_AF_INET, "10.0.0.1", 80, 2);
    pm_demux_sock w6 = lsock(PM_AF_INET6, NULL, 80, 3),
                  e6 = lsock(PM_AF_INET6, "2001:db8::1", 80, 4);
    /* Even a device-bound wildcard loses to the exact address: Linux looks
     * in the exact address's lhash2 slot first (__inet_lookup_listener). */
    w4.ifindex = 5;
    assert_int_equal(pm_lhash_insert(t, &w4), 0);
    assert_int_equal(pm_lhash_insert(t, &w6), 0);
    assert_int_equal(pm_lhash_insert(t, &e4), 0);
    assert_int_equal(pm_lhash_insert(t, &e6), 0);
    pm_tuple k = syn("10.0.0.1", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 5), 2);
    k = syn("10.0.0.2", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 5), 1); /* wildcard, right device */
    assert_int_equal(pm_lhash_lookup(t, &k, 6), 3); /* w4 is bound elsewhere: dual-stack :: */
    k = syn("2001:db8::1", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 5), 4);
    k = syn("2001:db8::2", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 5), 3);
    k = syn("10.0.0.1", 81);
    assert_int_equal(pm_lhash_lookup(t, &k, 5), PM_DEMUX_NONE);
    assert_int_equal(pm_lhash_count(t), 4);
    assert_int_equal(pm_lhash_remove(t, &e4), 0);
    assert_int_equal(pm_lhash_remove(t, &e4), -ENOENT);
    k = syn("10.0.0.1", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 5), 1);
    pm_lhash_destroy(t);
}

static void test_listen_v4_over_dualstack(void **state)
{
    (void)state;
    pm_lhash *t;
    assert_int_equal(pm_lhash_create(&t, k2), 0);
    /* The dual-stack socket comes first: order must not matter. */
    pm_demux_sock w6 = lsock(PM_AF_INET6, NULL, 443, 1), w4 = lsock(PM_AF_INET, NULL, 443, 2);
    assert_int_equal(pm_lhash_insert(t, &w6), 0);
    assert_int_equal(pm_lhash_insert(t, &w4), 0);
    pm_tuple k = syn("192.0.2.1", 443);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), 2); /* compute_score: PF_INET + 1 */
    k = syn("2001:db8::1", 443);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), 1); /* AF_INET never takes IPv6 */
    /* Same at an exact address: AF_INET6 bound to ::ffff:192.0.2.1. */
    pm_demux_sock m6 = lsock(PM_AF_INET6, "::ffff:192.0.2.1", 443, 3);
    pm_demux_sock e4 = lsock(PM_AF_INET, "192.0.2.1", 443, 4);
    assert_int_equal(pm_lhash_insert(t, &m6), 0);
    k = syn("192.0.2.1", 443);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), 3); /* exact beats wildcard */
    assert_int_equal(pm_lhash_insert(t, &e4), 0);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), 4);
    pm_lhash_destroy(t);
}

static void test_listen_v6only(void **state)
{
    (void)state;
    pm_lhash *t;
    assert_int_equal(pm_lhash_create(&t, k2), 0);
    pm_demux_sock s = lsock(PM_AF_INET6, NULL, 22, 1);
    s.v6only = true;
    assert_int_equal(pm_lhash_insert(t, &s), 0);
    pm_tuple k = syn("10.0.0.1", 22);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), PM_DEMUX_NONE); /* ipv6_only_sock() */
    k = syn("2001:db8::1", 22);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), 1);
    /* An IPv4 listener beside it takes IPv4 (Linux allows both binds). */
    pm_demux_sock s4 = lsock(PM_AF_INET, NULL, 22, 2);
    assert_int_equal(pm_lhash_insert(t, &s4), 0);
    k = syn("10.0.0.1", 22);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), 2);
    /* v6only cannot bind a v4-mapped address; AF_INET needs IPv4. */
    pm_demux_sock bad = lsock(PM_AF_INET6, "::ffff:10.0.0.1", 22, 3);
    bad.v6only = true;
    assert_int_equal(pm_lhash_insert(t, &bad), -EINVAL);
    bad = lsock(PM_AF_INET, "2001:db8::1", 22, 3);
    assert_int_equal(pm_lhash_insert(t, &bad), -EINVAL);
    bad = lsock(7, NULL, 22, 3);
    assert_int_equal(pm_lhash_insert(t, &bad), -EINVAL);
    pm_lhash_destroy(t);
}

static void test_listen_bound_device(void **state)
{
    (void)state;
    pm_lhash *t;
    assert_int_equal(pm_lhash_create(&t, k2), 0);
    pm_demux_sock any = lsock(PM_AF_INET, NULL, 80, 1), dev = lsock(PM_AF_INET, NULL, 80, 2);
    dev.ifindex = 3;
    assert_int_equal(pm_lhash_insert(t, &any), 0);
    assert_int_equal(pm_lhash_insert(t, &dev), 0);
    pm_tuple k = syn("10.0.0.1", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 3), 2); /* bound device scores 2 */
    assert_int_equal(pm_lhash_lookup(t, &k, 4), 1); /* other device: not a candidate */
    pm_lhash_destroy(t);
}

static void test_listen_reuseport(void **state)
{
    (void)state;
    pm_lhash *t;
    assert_int_equal(pm_lhash_create(&t, k2), 0);
    pm_demux_sock m[4];
    for (uint32_t i = 0; i < 4; i++) {
        m[i] = lsock(PM_AF_INET, NULL, 8080, 10 + i);
        m[i].reuseport = true;
        assert_int_equal(pm_lhash_insert(t, &m[i]), 0);
    }
    assert_int_equal(pm_lhash_insert(t, &m[0]), -EEXIST);
    pm_demux_sock plain = lsock(PM_AF_INET, NULL, 8080, 20);
    assert_int_equal(pm_lhash_insert(t, &plain), -EADDRINUSE); /* not in the group */
    int seen[4] = {0};
    uint32_t first[200];
    for (int f = 0; f < 200; f++) {
        pm_tuple k = syn("10.0.0.1", 8080);
        k.faddr = pm_ip4(0xc6336400u + (uint32_t)f);
        k.fport = (uint16_t)(1024 + f * 7);
        first[f] = pm_lhash_lookup(t, &k, 0);
        assert_true(first[f] >= 10 && first[f] < 14);
        seen[first[f] - 10]++;
        /* The same flow always reaches the same member. */
        for (int again = 0; again < 3; again++)
            assert_int_equal(pm_lhash_lookup(t, &k, 0), first[f]);
    }
    for (int i = 0; i < 4; i++) assert_true(seen[i] > 20); /* all members get flows */
    /* A member leaves: its flows move, the others' stay with their member
     * or move, but all land on members still there. */
    assert_int_equal(pm_lhash_remove(t, &m[2]), 0);
    for (int f = 0; f < 200; f++) {
        pm_tuple k = syn("10.0.0.1", 8080);
        k.faddr = pm_ip4(0xc6336400u + (uint32_t)f);
        k.fport = (uint16_t)(1024 + f * 7);
        uint32_t h = pm_lhash_lookup(t, &k, 0);
        assert_true(h == 10 || h == 11 || h == 13);
    }
    /* A more specific listener beats the whole group. */
    pm_demux_sock e = lsock(PM_AF_INET, "10.0.0.1", 8080, 30);
    assert_int_equal(pm_lhash_insert(t, &e), 0);
    pm_tuple k = syn("10.0.0.1", 8080);
    assert_int_equal(pm_lhash_lookup(t, &k, 0), 30);
    pm_lhash_destroy(t);
}

/* ---- UDP ---------------------------------------------------------------------- */

static pm_demux_sock usock(uint16_t family, const char *laddr, uint16_t lport, const char *faddr,
                           uint16_t fport, uint32_t handle)
{
    pm_demux_sock s = lsock(family, laddr, lport, handle);
    if (faddr) s.faddr = ip_of(faddr);
    s.fport = fport;
    return s;
}

static pm_tuple dgram(const char *laddr, uint16_t lport, const char *faddr, uint16_t fport)
{
    return tup(laddr, lport, faddr, fport, PM_IPPROTO_UDP);
}

static void test_udp_connected_over_unconnected(void **state)
{
    (void)state;
    pm_udptab *t;
    assert_int_equal(pm_udptab_create(&t, k2), 0);
    pm_demux_sock un = usock(PM_AF_INET, "10.0.0.1", 53, NULL, 0, 1);
    pm_demux_sock co = usock(PM_AF_INET, "10.0.0.1", 53, "192.0.2.7", 5353, 2);
    pm_demux_sock po = usock(PM_AF_INET, "10.0.0.1", 53, NULL, 6000, 3); /* port only */
    assert_int_equal(pm_udptab_insert(t, &un), 0);
    assert_int_equal(pm_udptab_insert(t, &co), 0);
    assert_int_equal(pm_udptab_insert(t, &po), 0);
    assert_int_equal(pm_udptab_insert(t, &co), -EEXIST);
    pm_tuple k = dgram("10.0.0.1", 53, "192.0.2.7", 5353);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 2); /* 2 + 4 + 4 beats 2 */
    k.fport = 5354;
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 1); /* co needs its peer port */
    k.fport = 6000;
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 3);
    k = dgram("10.0.0.1", 53, "192.0.2.8", 5353);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 1);
    /* connect() = remove + insert with the peer (Linux rehashes). */
    assert_int_equal(pm_udptab_remove(t, &co), 0);
    assert_int_equal(pm_udptab_remove(t, &co), -ENOENT);
    k = dgram("10.0.0.1", 53, "192.0.2.7", 5353);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 1);
    assert_int_equal(pm_udptab_count(t), 2);
    pm_udptab_destroy(t);
}

static void test_udp_exact_then_wildcard(void **state)
{
    (void)state;
    pm_udptab *t;
    assert_int_equal(pm_udptab_create(&t, k2), 0);
    pm_demux_sock w = usock(PM_AF_INET, NULL, 4000, NULL, 0, 1);
    pm_demux_sock wc = usock(PM_AF_INET, NULL, 4000, "192.0.2.7", 9, 2);
    pm_demux_sock e = usock(PM_AF_INET, "10.0.0.1", 4000, NULL, 0, 3);
    assert_int_equal(pm_udptab_insert(t, &w), 0);
    assert_int_equal(pm_udptab_insert(t, &wc), 0);
    pm_tuple k = dgram("10.0.0.1", 4000, "192.0.2.7", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 2); /* wildcard pass: connected wins */
    /* An unconnected socket at the exact address ends the lookup in the
     * first pass, as __udp4_lib_lookup() does. */
    assert_int_equal(pm_udptab_insert(t, &e), 0);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 3);
    k = dgram("10.0.0.2", 4000, "192.0.2.1", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 1);
    k = dgram("10.0.0.2", 4001, "192.0.2.1", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), PM_DEMUX_NONE);
    pm_udptab_destroy(t);
}

static void test_udp_families(void **state)
{
    (void)state;
    pm_udptab *t;
    assert_int_equal(pm_udptab_create(&t, k2), 0);
    pm_demux_sock d6 = usock(PM_AF_INET6, NULL, 123, NULL, 0, 1);
    pm_demux_sock o6 = usock(PM_AF_INET6, "2001:db8::1", 123, NULL, 0, 2);
    o6.v6only = true;
    assert_int_equal(pm_udptab_insert(t, &d6), 0);
    assert_int_equal(pm_udptab_insert(t, &o6), 0);
    pm_tuple k = dgram("10.0.0.1", 123, "192.0.2.7", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 1); /* dual-stack takes IPv4 */
    pm_demux_sock s4 = usock(PM_AF_INET, NULL, 123, NULL, 0, 3);
    assert_int_equal(pm_udptab_insert(t, &s4), 0);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 3); /* PF_INET scores 2, AF_INET6 1 */
    k = dgram("2001:db8::1", 123, "2001:db8::9", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 2);
    k = dgram("2001:db8::2", 123, "2001:db8::9", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 1); /* AF_INET never takes IPv6 */
    /* A v6only wildcard never takes IPv4. */
    pm_demux_sock w6 = usock(PM_AF_INET6, NULL, 124, NULL, 0, 4);
    w6.v6only = true;
    assert_int_equal(pm_udptab_insert(t, &w6), 0);
    k = dgram("10.0.0.1", 124, "192.0.2.7", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), PM_DEMUX_NONE);
    /* IPv6 connected scoring (udp6 compute_score). */
    pm_demux_sock c6 = usock(PM_AF_INET6, NULL, 124, "2001:db8::9", 9, 5);
    c6.v6only = true;
    assert_int_equal(pm_udptab_insert(t, &c6), 0);
    k = dgram("2001:db8::2", 124, "2001:db8::9", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 5);
    k.fport = 10;
    assert_int_equal(pm_udptab_lookup(t, &k, 0), 4);
    pm_udptab_destroy(t);
}

static void test_udp_device_and_reuseport(void **state)
{
    (void)state;
    pm_udptab *t;
    assert_int_equal(pm_udptab_create(&t, k2), 0);
    pm_demux_sock a = usock(PM_AF_INET, NULL, 500, NULL, 0, 1);
    pm_demux_sock d = usock(PM_AF_INET, NULL, 500, NULL, 0, 2);
    d.ifindex = 7;
    assert_int_equal(pm_udptab_insert(t, &a), 0);
    assert_int_equal(pm_udptab_insert(t, &d), 0);
    pm_tuple k = dgram("10.0.0.1", 500, "192.0.2.7", 9);
    assert_int_equal(pm_udptab_lookup(t, &k, 7), 2);
    assert_int_equal(pm_udptab_lookup(t, &k, 8), 1);
    for (uint32_t i = 0; i < 3; i++) {
        pm_demux_sock r = usock(PM_AF_INET, "10.0.0.5", 501, NULL, 0, 10 + i);
        r.reuseport = true;
        assert_int_equal(pm_udptab_insert(t, &r), 0);
    }
    int seen[3] = {0};
    for (int f = 0; f < 150; f++) {
        k = dgram("10.0.0.5", 501, "192.0.2.7", (uint16_t)(1000 + f));
        uint32_t h = pm_udptab_lookup(t, &k, 0);
        assert_true(h >= 10 && h < 13);
        assert_int_equal(pm_udptab_lookup(t, &k, 0), h);
        seen[h - 10]++;
    }
    for (int i = 0; i < 3; i++) assert_true(seen[i] > 10);
    pm_udptab_destroy(t);
}

/* Found by the kernel oracle (test_demux_oracle): among equal scores the
 * first socket of Linux's chain wins, and sockets are added at its head,
 * AF_INET6 SO_REUSEPORT ones at its tail (__inet_hash, udp_lib_get_port). */
static void test_udp_newest_of_equal_wins(void **state)
{
    (void)state;
    pm_udptab *t;
    assert_int_equal(pm_udptab_create(&t, k2), 0);
    pm_demux_sock a = usock(PM_AF_INET, NULL, 4000, NULL, 0, 1);
    pm_demux_sock b = usock(PM_AF_INET, NULL, 4000, NULL, 0, 2); /* SO_REUSEADDR twin */
    assert_int_equal(pm_udptab_insert(t, &a), 0);
    assert_int_equal(pm_udptab_insert(t, &b), 0);
    pm_tuple k = dgram("127.0.0.2", 4000, "127.0.0.1", 3000);
    assert_int_equal(pm_udptab_lookup(t, &k, 1), 2); /* the last bound */
    assert_int_equal(pm_udptab_remove(t, &b), 0);
    assert_int_equal(pm_udptab_lookup(t, &k, 1), 1);
    /* An AF_INET6 reuseport socket goes to the tail: the older plain one
     * is still met first. */
    pm_demux_sock p6 = usock(PM_AF_INET6, NULL, 4001, NULL, 0, 3);
    pm_demux_sock r6 = usock(PM_AF_INET6, NULL, 4001, NULL, 0, 4);
    r6.reuseport = true;
    assert_int_equal(pm_udptab_insert(t, &p6), 0);
    assert_int_equal(pm_udptab_insert(t, &r6), 0);
    k = dgram("::1", 4001, "::1", 3000);
    assert_int_equal(pm_udptab_lookup(t, &k, 1), 3);
    pm_udptab_destroy(t);
}

/* Linux keeps 0.0.0.0, :: and ::ffff:0.0.0.0 sockets in one wildcard
 * chain (their portaddr hashes are equal); ties follow that chain. */
static void test_listen_wildcard_chain_order(void **state)
{
    (void)state;
    pm_lhash *t;
    assert_int_equal(pm_lhash_create(&t, k2), 0);
    pm_demux_sock d6 = lsock(PM_AF_INET6, NULL, 80, 1);
    pm_demux_sock m6 = lsock(PM_AF_INET6, NULL, 80, 2);
    m6.laddr = pm_ip_any4; /* bound to ::ffff:0.0.0.0 */
    d6.reuseport = m6.reuseport = true;
    assert_int_equal(pm_lhash_insert(t, &d6), 0);
    assert_int_equal(pm_lhash_insert(t, &m6), 0);
    pm_tuple k = syn("127.0.0.3", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 1), 1); /* tail: oldest first */
    k = syn("::1", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 1), 1); /* ::ffff:0.0.0.0 takes no IPv6 */
    assert_int_equal(pm_lhash_remove(t, &d6), 0);
    assert_int_equal(pm_lhash_remove(t, &m6), 0);
    d6.reuseport = m6.reuseport = false;
    assert_int_equal(pm_lhash_insert(t, &d6), 0);
    assert_int_equal(pm_lhash_insert(t, &m6), 0);
    k = syn("127.0.0.3", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 1), 2); /* head: newest first */
    pm_lhash_destroy(t);
}

/* Linux >= 6.13 (udp4_lib_lookup4, hash4): the socket connected last to
 * the exact 4-tuple wins before any scoring, whatever its family. */
static void test_udp_hash4_last_connected_wins(void **state)
{
    (void)state;
    pm_udptab *t;
    assert_int_equal(pm_udptab_create(&t, k2), 0);
    pm_demux_sock c4 = usock(PM_AF_INET, "127.0.0.1", 5000, "127.0.0.3", 3001, 1);
    pm_demux_sock c6 = usock(PM_AF_INET6, "::ffff:127.0.0.1", 5000, "::ffff:127.0.0.3", 3001, 2);
    pm_demux_sock un = usock(PM_AF_INET, "127.0.0.1", 5000, NULL, 0, 3);
    assert_int_equal(pm_udptab_insert(t, &c4), 0);
    assert_int_equal(pm_udptab_insert(t, &c6), 0);
    assert_int_equal(pm_udptab_insert(t, &un), 0);
    pm_tuple k = dgram("127.0.0.1", 5000, "127.0.0.3", 3001);
    assert_int_equal(pm_udptab_lookup(t, &k, 1), 2); /* compute_score() would say 1 */
    /* connect() again = remove + insert: c4 is now the last connected */
    assert_int_equal(pm_udptab_remove(t, &c4), 0);
    assert_int_equal(pm_udptab_insert(t, &c4), 0);
    assert_int_equal(pm_udptab_lookup(t, &k, 1), 1);
    k.fport = 3002;
    assert_int_equal(pm_udptab_lookup(t, &k, 1), 3);
    pm_udptab_destroy(t);
}

/* Linux returns the first SO_REUSEPORT group that beats the score so far
 * (inet_lhash2_lookup, udp4_lib_lookup2): an unbound group met before a
 * device-bound socket wins although the latter scores higher. */
static void test_reuseport_group_returns_first(void **state)
{
    (void)state;
    pm_lhash *t;
    assert_int_equal(pm_lhash_create(&t, k2), 0);
    pm_demux_sock dev = lsock(PM_AF_INET, NULL, 80, 1), grp = lsock(PM_AF_INET, NULL, 80, 2);
    dev.ifindex = 1;
    dev.reuseport = grp.reuseport = true;
    assert_int_equal(pm_lhash_insert(t, &dev), 0);
    assert_int_equal(pm_lhash_insert(t, &grp), 0); /* newer: met first */
    pm_tuple k = syn("127.0.0.2", 80);
    assert_int_equal(pm_lhash_lookup(t, &k, 1), 2);
    assert_int_equal(pm_lhash_remove(t, &grp), 0);
    grp.reuseport = false; /* a plain socket does not stop the walk */
    assert_int_equal(pm_lhash_insert(t, &grp), 0);
    assert_int_equal(pm_lhash_lookup(t, &k, 1), 1);
    pm_lhash_destroy(t);

    pm_udptab *u;
    assert_int_equal(pm_udptab_create(&u, k2), 0);
    pm_demux_sock ud = usock(PM_AF_INET, NULL, 53, NULL, 0, 1),
                  ug = usock(PM_AF_INET, NULL, 53, NULL, 0, 2);
    ud.ifindex = 1;
    ud.reuseport = ug.reuseport = true;
    assert_int_equal(pm_udptab_insert(u, &ud), 0);
    assert_int_equal(pm_udptab_insert(u, &ug), 0);
    pm_tuple d = dgram("127.0.0.1", 53, "127.0.0.3", 3000);
    assert_int_equal(pm_udptab_lookup(u, &d, 1), 2);
    /* With a connected member the group no longer cuts the walk short
     * (reuseport_has_conns()): scoring decides, the bound socket wins. */
    pm_demux_sock uc = usock(PM_AF_INET, NULL, 53, "127.0.0.9", 9, 3);
    uc.reuseport = true;
    assert_int_equal(pm_udptab_insert(u, &uc), 0);
    assert_int_equal(pm_udptab_lookup(u, &d, 1), 1);
    pm_udptab_destroy(u);

    /* A member that connected while alone in its group does not count for
     * sockets that join later (measured on Linux 6.18): early return. */
    assert_int_equal(pm_udptab_create(&u, k2), 0);
    pm_demux_sock lone = usock(PM_AF_INET, "127.0.0.2", 53, "127.0.0.3", 9, 4);
    lone.reuseport = true;
    ud.laddr = ug.laddr = ip_of("127.0.0.2");
    assert_int_equal(pm_udptab_insert(u, &lone), 0);
    assert_int_equal(pm_udptab_insert(u, &ud), 0);
    assert_int_equal(pm_udptab_insert(u, &ug), 0);
    d = dgram("127.0.0.2", 53, "127.0.0.2", 3000);
    assert_int_equal(pm_udptab_lookup(u, &d, 1), 2);
    /* ... but connecting after ug joined does (remove + insert). */
    assert_int_equal(pm_udptab_remove(u, &lone), 0);
    assert_int_equal(pm_udptab_insert(u, &lone), 0);
    assert_int_equal(pm_udptab_lookup(u, &d, 1), 1);
    pm_udptab_destroy(u);
}

static void test_udp_multicast(void **state)
{
    (void)state;
    pm_udptab *t;
    assert_int_equal(pm_udptab_create(&t, k2), 0);
    pm_demux_sock s[] = {
        usock(PM_AF_INET, NULL, 5000, NULL, 0, 1),         /* wildcard: yes */
        usock(PM_AF_INET, "239.1.1.1", 5000, NULL, 0, 2),  /* the group: yes */
        usock(PM_AF_INET, "239.1.1.2", 5000, NULL, 0, 3),  /* another group: no */
        usock(PM_AF_INET6, NULL, 5000, NULL, 0, 4),        /* dual-stack: yes */
        usock(PM_AF_INET6, NULL, 5000, NULL, 0, 5),        /* v6only: no */
        usock(PM_AF_INET, NULL, 5000, "192.0.2.7", 9, 6),  /* its peer: yes */
        usock(PM_AF_INET, NULL, 5000, "192.0.2.8", 9, 7),  /* other peer: no */
        usock(PM_AF_INET, NULL, 5001, NULL, 0, 8),         /* other port: no */
        usock(PM_AF_INET, NULL, 5000, NULL, 0, 9),         /* other device: no */
        usock(PM_AF_INET, "239.1.1.1", 5000, NULL, 0, 10), /* a second member: yes */
    };
    s[4].v6only = true;
    s[8].ifindex = 99;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        assert_int_equal(pm_udptab_insert(t, &s[i]), 0);
    pm_tuple k = dgram("239.1.1.1", 5000, "192.0.2.7", 9);
    pm_udptab_iter it;
    uint32_t h, got = 0;
    pm_udptab_mcast_begin(t, &it, &k, 1);
    while (pm_udptab_mcast_next(t, &it, &h)) {
        assert_true(h <= 10);
        assert_false(got & (1u << h)); /* each once */
        got |= 1u << h;
    }
    assert_int_equal(got, (1u << 1) | (1u << 2) | (1u << 4) | (1u << 6) | (1u << 10));
    /* Broadcast the same way; an IPv6 group reaches only AF_INET6 sockets. */
    k = dgram("2001:db8::1", 5000, "2001:db8::9", 9);
    k.laddr = ip_of("ff02::1");
    got = 0;
    pm_udptab_mcast_begin(t, &it, &k, 1);
    while (pm_udptab_mcast_next(t, &it, &h)) got |= 1u << h;
    assert_int_equal(got, (1u << 4) | (1u << 5));
    pm_udptab_destroy(t);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_siphash13),
        cmocka_unit_test(test_ehash_basic),
        cmocka_unit_test(test_ehash_full_and_growth),
        cmocka_unit_test(test_tw_basic),
        cmocka_unit_test(test_tw_limit_recycles_oldest),
        cmocka_unit_test(test_model_randomized),
        cmocka_unit_test(test_model_randomized_siphash),
        cmocka_unit_test(test_model_randomized_external_keys),
        cmocka_unit_test(test_adversarial_keys),
        cmocka_unit_test(test_adversarial_keys_siphash),
        cmocka_unit_test(test_listen_exact_over_wildcard),
        cmocka_unit_test(test_listen_v4_over_dualstack),
        cmocka_unit_test(test_listen_v6only),
        cmocka_unit_test(test_listen_bound_device),
        cmocka_unit_test(test_listen_reuseport),
        cmocka_unit_test(test_udp_connected_over_unconnected),
        cmocka_unit_test(test_udp_exact_then_wildcard),
        cmocka_unit_test(test_udp_families),
        cmocka_unit_test(test_udp_device_and_reuseport),
        cmocka_unit_test(test_udp_multicast),
        cmocka_unit_test(test_udp_newest_of_equal_wins),
        cmocka_unit_test(test_listen_wildcard_chain_order),
        cmocka_unit_test(test_udp_hash4_last_connected_wins),
        cmocka_unit_test(test_reuseport_group_returns_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
