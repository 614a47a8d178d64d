/* TCP endpoint benchmark: two endpoints back to back in one process, every
 * segment as bytes (emitted, checksummed, parsed), no loss. Measures
 *   - bulk throughput one way (64 KiB send and receive buffers each side,
 *     lwIP's TCP_SND_BUF and TCP_WND in Debian's build),
 *   - segments per second during it (emit + parse + input + output:
 *     the whole in-memory path, both directions),
 *   - connections per second: open, one request byte, close both sides,
 *     TIME_WAIT dropped at once (as a compact entry would be),
 *   - bytes of connection state: sizeof(pm_tcp) and lwIP's tcp_pcb.
 * The peer is lwIP (Debian liblwip, two netifs, the same harness shape).
 * Medians of repeated runs. The last line is one JSON object.
 * --quick: fewer and smaller runs (< 30 s); --json: JSON lines only. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "portmux/tcp.h"
#include "portmux/wire.h"

#ifdef PM_HAVE_LWIP
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"
#endif

static double now_s(void)
{
    return bench_now_s(CLOCK_MONOTONIC);
}

/* ---- A byte queue between the two ends ------------------------------------ */

#define QN 512
typedef struct frame {
    uint16_t len;
    uint8_t to;
    uint8_t b[1600];
} frame;
static frame q[QN];
static int qhead, qlen;

static frame *q_push(void)
{
    if (qlen == QN) {
        fprintf(stderr, "queue full\n");
        exit(1);
    }
    frame *f = &q[(qhead + qlen) % QN];
    qlen++;
    return f;
}

static frame *q_pop(void)
{
    frame *f = &q[qhead];
    qhead = (qhead + 1) % QN;
    qlen--;
    return f;
}

/* ---- portmux ---------------------------------------------------------------- */

#define BUF 65536
static pm_tcp_stack pst[2];
static pm_tcp_ext pext[2][2]; /* each stack's TCB extension pool */
static pm_tcp ptcb[2];
static uint8_t pring[2][2 * BUF];     /* send ring, then receive ring */
static uint64_t vnow = 1000000000ull; /* virtual time: no timer fires */

static void pm_flush(int i)
{
    pm_ip_repr ip;
    pm_tcp_repr seg;
    uint8_t data[1600];
    while (pm_tcp_output(&pst[i], &ptcb[i], vnow, &ip, &seg, data, sizeof data) > 0) {
        pm_packet p;
        memset(&p, 0, sizeof p);
        p.ip = ip;
        p.tcp = seg;
        frame *f = q_push();
        int n = pm_packet_emit(&p, f->b, sizeof f->b);
        if (n <= 0) exit(1);
        f->len = (uint16_t)n;
        f->to = (uint8_t)(1 - i);
    }
}

static bool pm_listening;

static void pm_deliver(void)
{
    while (qlen) {
        frame *f = q_pop();
        pm_packet p;
        if (pm_packet_parse(f->b, f->len, &p, NULL) != 0) exit(1);
        int i = f->to;
        if (i == 1 && pm_listening && pm_tcp_listen_classify(&p.tcp) == PM_TCP_LISTEN_SYN) {
            pm_tcp_init(&ptcb[1], pring[1], BUF, BUF);
            pm_tcp_accept_syn(&pst[1], &ptcb[1], &p.ip, &p.tcp, 0, vnow);
            pm_listening = false;
        } else {
            pm_tcp_input(&pst[i], &ptcb[i], &p.ip, &p.tcp, vnow);
        }
        pm_flush(i);
    }
}

static pm_tuple pm_tup(uint16_t lport)
{
    pm_tuple t = {.lport = lport, .fport = 5001, .proto = PM_IPPROTO_TCP};
    t.laddr = pm_ip4(0x0a000101);
    t.faddr = pm_ip4(0x0a000201);
    return t;
}

static void pm_open(uint16_t lport)
{
    pm_tuple t = pm_tup(lport);
    pm_tcp_init(&ptcb[0], pring[0], BUF, BUF);
    pm_listening = true;
    pm_tcp_connect(&pst[0], &ptcb[0], &t, 0, vnow);
    pm_flush(0);
    pm_deliver();
}

/* Seconds to move bytes from 0 to 1; *segs: segments input. */
static double pm_bulk(uint64_t bytes, uint64_t *segs)
{
    pm_tcp_stack_init(&pst[0], NULL, 1);
    pm_tcp_stack_init(&pst[1], NULL, 2);
    pm_tcp_stack_set_ext(&pst[0], pext[0], 2);
    pm_tcp_stack_set_ext(&pst[1], pext[1], 2);
    static uint8_t chunk[BUF];
    memset(chunk, 0xa5, sizeof chunk);
    double t0 = now_s();
    pm_open(40000);
    uint64_t sent = 0, got = 0;
    while (got < bytes) {
        if (sent < bytes) {
            uint64_t n = bytes - sent < sizeof chunk ? bytes - sent : sizeof chunk;
            long w = pm_tcp_send(&pst[0], &ptcb[0], chunk, n, vnow);
            if (w > 0) sent += (uint64_t)w;
        }
        pm_flush(0);
        pm_deliver();
        long r;
        while ((r = pm_tcp_recv(&pst[1], &ptcb[1], chunk, sizeof chunk, vnow)) > 0)
            got += (uint64_t)r;
        pm_flush(1);
        pm_deliver();
        if (qlen == 0 && pm_tcp_next_deadline(&ptcb[1]) != UINT64_MAX) {
            vnow = pm_tcp_next_deadline(&ptcb[1]); /* the delayed ACK */
            pm_tcp_timer(&pst[1], &ptcb[1], vnow);
            pm_flush(1);
            pm_deliver();
        }
    }
    double dt = now_s() - t0;
    *segs = pst[0].stats.segs_in + pst[1].stats.segs_in;
    return dt;
}

static double pm_conns(int n)
{
    pm_tcp_stack_init(&pst[0], NULL, 3);
    pm_tcp_stack_init(&pst[1], NULL, 4);
    pm_tcp_stack_set_ext(&pst[0], pext[0], 2);
    pm_tcp_stack_set_ext(&pst[1], pext[1], 2);
    double t0 = now_s();
    for (int c = 0; c < n; c++) {
        pm_open((uint16_t)(10000 + c % 50000));
        if (ptcb[0].state != PM_TCP_ESTABLISHED || ptcb[1].state != PM_TCP_ESTABLISHED) exit(2);
        pm_tcp_send(&pst[0], &ptcb[0], "x", 1, vnow);
        pm_tcp_close(&pst[0], &ptcb[0], false, vnow);
        pm_flush(0);
        pm_deliver();
        char b[4];
        pm_tcp_recv(&pst[1], &ptcb[1], b, sizeof b, vnow);
        pm_tcp_close(&pst[1], &ptcb[1], false, vnow);
        pm_flush(1);
        pm_deliver();
        if (ptcb[0].state != PM_TCP_TIME_WAIT || ptcb[1].state != PM_TCP_CLOSED) exit(3);
    }
    return (double)n / (now_s() - t0);
}

/* ---- lwIP --------------------------------------------------------------------- */

#ifdef PM_HAVE_LWIP
static struct netif lnif[2];
static struct tcp_pcb *lpcb[2], *llisten;
static uint64_t lgot;
static bool lclosed[2];

static err_t l_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *ip)
{
    (void)ip;
    frame *f = q_push();
    f->len = (uint16_t)pbuf_copy_partial(p, f->b, sizeof f->b, 0);
    f->to = netif == &lnif[0] ? 1 : 0;
    return ERR_OK;
}

static err_t l_init(struct netif *netif)
{
    netif->output = l_output;
    netif->mtu = 1500;
    netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

static void l_deliver(void)
{
    while (qlen) {
        frame *f = q_pop();
        struct pbuf *p = pbuf_alloc(PBUF_RAW, f->len, PBUF_RAM);
        pbuf_take(p, f->b, f->len);
        struct netif *n = &lnif[f->to];
        if (n->input(p, n) != ERR_OK) pbuf_free(p);
    }
}

static err_t l_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)err;
    int i = (int)(intptr_t)arg;
    if (!p) {
        lclosed[i] = true;
        tcp_close(pcb);
        return ERR_OK;
    }
    lgot += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t l_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    (void)err;
    lpcb[1] = pcb;
    tcp_arg(pcb, (void *)(intptr_t)1);
    tcp_recv(pcb, l_recv);
    return ERR_OK;
}

static err_t l_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    (void)pcb;
    (void)err;
    return ERR_OK;
}

static void l_setup(void)
{
    tcpip_init(NULL, NULL);
    sys_lock_tcpip_core(); /* the whole benchmark runs as the core */
    ip4_addr_t a, m, g;
    IP4_ADDR(&m, 255, 255, 255, 0);
    IP4_ADDR(&g, 0, 0, 0, 0);
    IP4_ADDR(&a, 10, 0, 1, 1);
    netif_add(&lnif[0], &a, &m, &g, NULL, l_init, ip_input);
    IP4_ADDR(&a, 10, 0, 2, 1);
    netif_add(&lnif[1], &a, &m, &g, NULL, l_init, ip_input);
    netif_set_up(&lnif[0]);
    netif_set_up(&lnif[1]);
    llisten = tcp_new();
    tcp_bind_netif(llisten, &lnif[1]);
    tcp_bind(llisten, IP_ADDR_ANY, 5001);
    llisten = tcp_listen(llisten);
    tcp_accept(llisten, l_accept);
}

static void l_open(uint16_t lport)
{
    lpcb[0] = tcp_new();
    lpcb[1] = NULL;
    lclosed[0] = lclosed[1] = false;
    tcp_arg(lpcb[0], (void *)(intptr_t)0);
    tcp_recv(lpcb[0], l_recv);
    tcp_bind_netif(lpcb[0], &lnif[0]);
    tcp_bind(lpcb[0], IP_ADDR_ANY, lport);
    ip_addr_t dst;
    IP_ADDR4(&dst, 10, 0, 2, 1);
    tcp_connect(lpcb[0], &dst, 5001, l_connected);
    l_deliver();
}

static double l_bulk(uint64_t bytes)
{
    static uint8_t chunk[65536];
    memset(chunk, 0xa5, sizeof chunk);
    lgot = 0;
    double t0 = now_s();
    l_open(40001);
    uint64_t sent = 0;
    while (lgot < bytes) {
        if (sent < bytes) {
            uint32_t room = tcp_sndbuf(lpcb[0]);
            uint64_t n = bytes - sent;
            if (n > room) n = room;
            if (n > 65535) n = 65535;
            if (n && tcp_write(lpcb[0], chunk, (u16_t)n, 0) == ERR_OK) sent += n;
            tcp_output(lpcb[0]);
        }
        size_t before = (size_t)qlen;
        l_deliver();
        if (before == 0 && qlen == 0) {
            tcp_fasttmr(); /* delayed ACKs, as the 250 ms timer would */
            l_deliver();
        }
    }
    double dt = now_s() - t0;
    tcp_abort(lpcb[0]);
    if (lpcb[1]) tcp_abort(lpcb[1]);
    l_deliver();
    return dt;
}

static double l_conns(int n)
{
    double t0 = now_s();
    for (int c = 0; c < n; c++) {
        l_open((uint16_t)(10000 + c % 50000));
        if (!lpcb[1]) exit(4);
        tcp_write(lpcb[0], "x", 1, TCP_WRITE_FLAG_COPY);
        tcp_output(lpcb[0]);
        tcp_close(lpcb[0]);
        l_deliver();
        for (int k = 0; k < 4 && qlen == 0 && !lclosed[1]; k++) {
            tcp_fasttmr();
            l_deliver();
        }
        if (!lclosed[1]) exit(5);
        l_deliver();
        /* Drop the TIME_WAIT pcb at once, as the portmux loop does (lwIP
         * would keep it on a linear list for 2*MSL: tcp_slowtmr()). */
        while (tcp_tw_pcbs) {
            struct tcp_pcb *tw = tcp_tw_pcbs;
            tcp_pcb_remove(&tcp_tw_pcbs, tw);
            tcp_free(tw);
        }
    }
    return (double)n / (now_s() - t0);
}
#endif

int main(int argc, char **argv)
{
    bool quick = false, json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        if (!strcmp(argv[i], "--json")) json = true;
    }
    int reps = quick ? 3 : 7;
    uint64_t bytes = (quick ? 64ull : 256ull) << 20;
    int nconn = quick ? 20000 : 100000;
    double pm_g[16], pm_c[16], pm_segs[16], l_g[16], l_c[16];
#ifdef PM_HAVE_LWIP
    l_setup();
#endif
    for (int r = 0; r < reps; r++) {
        uint64_t segs = 0;
        double dt = pm_bulk(bytes, &segs);
        pm_g[r] = (double)bytes * 8 / dt / 1e9;
        pm_segs[r] = (double)segs / dt;
        pm_c[r] = pm_conns(nconn);
#ifdef PM_HAVE_LWIP
        l_g[r] = (double)bytes * 8 / l_bulk(bytes) / 1e9;
        l_c[r] = l_conns(nconn);
#else
        l_g[r] = l_c[r] = 0;
#endif
        if (!json)
            printf("# run %d: portmux %.2f Gbit/s, %.2f Mseg/s, %.0f conn/s; lwip %.2f Gbit/s, "
                   "%.0f conn/s\n",
                   r, pm_g[r], pm_segs[r] / 1e6, pm_c[r], l_g[r], l_c[r]);
    }
    double g = bench_median(pm_g, reps), c = bench_median(pm_c, reps),
           s = bench_median(pm_segs, reps);
    double lg = bench_median(l_g, reps), lc = bench_median(l_c, reps);
#ifdef PM_HAVE_LWIP
    const char *peer = "lwip 2.1 (Debian liblwip)";
    size_t peer_bytes = sizeof(struct tcp_pcb);
#else
    const char *peer = "none (liblwip-dev missing)";
    size_t peer_bytes = 0;
#endif
    printf("{\"bench\":\"tcp\",\"bulk_bytes\":%llu,\"conns\":%d,\"reps\":%d,"
           "\"throughput_gbps\":%.3f,\"mseg_per_s\":%.3f,\"conn_per_s\":%.0f,"
           "\"bytes_per_connection\":%zu,\"peer\":\"%s\",\"peer_throughput_gbps\":%.3f,"
           "\"peer_conn_per_s\":%.0f,\"peer_bytes_per_connection\":%zu,"
           "\"throughput_ratio\":%.3f,\"conn_ratio\":%.3f}\n",
           (unsigned long long)bytes, nconn, reps, g, s / 1e6, c, sizeof(pm_tcp), peer, lg, lc,
           peer_bytes, lg > 0 ? g / lg : 0, lc > 0 ? c / lc : 0);
    return 0;
}
