/* The scan loop shared by the connect, SYN and UDP scans: it walks the
 * permutation, keeps probes in flight, paces them (--max-rate/--min-rate),
 * retransmits on adaptive timeouts and records states. A backend sends a
 * probe and reports replies through pm_engine_resolve(). */
#ifndef PM_SCAN_ENGINE_H
#define PM_SCAN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "portmux/scan.h"

typedef struct pm_probe {
    uint64_t idx;       /* ip_index * nports + port_index */
    uint64_t pos;       /* permutation position, for --resume */
    uint64_t sent_us;   /* last transmission */
    uint64_t prev_us;   /* the one before it (nmap's prevSent) */
    uint64_t first_us;  /* first transmission */
    uint64_t wait_from; /* its current try's timeout runs from here */
    uint32_t gen;       /* bumped on each reuse: stale FIFO entries skip */
    uint8_t tries;      /* transmissions so far */
    bool used;
    int fd; /* connect scan: the socket, -1 otherwise */
} pm_probe;

typedef struct pm_fifo_ent {
    uint32_t slot, gen;
} pm_fifo_ent;

/* A probe parked at the try limit while the limit may still rise (nmap's
 * probe_bench): it holds no slot. */
typedef struct pm_bench_ent {
    uint64_t idx, pos;
    uint8_t tries;
} pm_bench_ent;

typedef struct pm_engine pm_engine;

typedef struct pm_backend {
    /* Transmits try number p->tries (1-based) of probe p. 0, or a negative
     * errno: -EAGAIN to try again later (the buffer is full), others end
     * the scan. */
    int (*send)(pm_engine *e, pm_probe *p, uint64_t now);
    /* Releases what a probe holds (its socket) when it concludes. */
    void (*release)(pm_engine *e, pm_probe *p);
    /* Waits up to timeout_ms for replies and resolves them. */
    int (*poll)(pm_engine *e, int timeout_ms);
    void (*close)(pm_engine *e);
    /* connect(): the kernel retransmits the SYN itself, so a "retry" only
     * extends the wait. */
    bool kernel_retransmits;
    bool spin; /* poll without sleeping while unsent probes remain */
} pm_backend;

struct pm_engine {
    const pm_scan_cfg *cfg;
    pm_scan_result *res;
    pm_scan_stats *st;
    const pm_backend *be;
    void *be_state;
    pm_perm perm;
    uint64_t nports, n; /* n = targets x ports */
    uint64_t pos, npos; /* shard positions: next, and how many */
    pm_probe *slot;
    uint32_t nslots, nused, window;
    uint32_t *freelist;
    uint32_t nfree;
    uint32_t *hash; /* open addressing: idx -> slot + 1 */
    uint32_t hmask;
    pm_fifo_ent *fifo;
    size_t fhead, ftail, fcap; /* ring of size fcap (a power of two) */
    pm_rtt rtt;
    double tokens;
    uint64_t last_refill, last_progress, rate_mark_us, rate_mark_sent;
    double cur_rate;
    uint64_t done;       /* probes concluded */
    uint64_t key[2];     /* cookie key */
    uint16_t sport_base; /* raw scans: source ports in use */
    /* nmap's max_successful_tryno: the highest try (1-based) that drew a
     * reply. Unanswered probes are retried up to one try beyond it (and
     * at most max_retries times): a target that answers first probes is
     * not losing them, one that answers only retries is. */
    unsigned max_ok_try;
    /* nmap's tryno_mayincrease, cleared (for good) once every probe left
     * has timed out at the limit: the limit cannot rise any more. */
    bool tryno_final;
    /* nmap's rate-limit detection: the first try numbered above any sent
     * waits a second (rld_until), nothing being sent meanwhile, so that a
     * target's ICMP rate limiter refills before the retries that test it. */
    unsigned max_try_sent;
    uint64_t rld_until;
    bool icmp_seen;         /* an ICMP error (the kind targets rate-limit) came back */
    uint64_t icmp_sent_max; /* the latest transmission an ICMP error answered */
    pm_bench_ent *bench;
    size_t bench_n, bench_cap, bench_live; /* entries; live = not concluded by a late reply */
    uint32_t window_max;
    uint64_t delay_us, last_boost, last_send; /* nmap's send delay */
    uint64_t dropped, good; /* replies to retries / other replies, since last_boost */
    double window_f;        /* congestion window, grown per reply, halved on loss */
};

/* Target index -> address and port. */
pm_ip pm_engine_ip(const pm_engine *e, uint64_t idx, int *family);
uint16_t pm_engine_port(const pm_engine *e, uint64_t idx);
/* Address and port -> target index; false when not a target. */
bool pm_engine_index(const pm_engine *e, const pm_ip *ip, uint16_t port, uint64_t *idx);
/* A reply for target idx. tryno: which transmission it answers (1-based)
 * or 0 if unknown (Karn: then no RTT sample unless only one was sent). */
void pm_engine_resolve(pm_engine *e, uint64_t idx, int state, int reason, uint8_t ttl,
                       unsigned tryno, uint64_t now);

int pm_backend_connect(pm_engine *e);
int pm_backend_raw(pm_engine *e);

#endif
