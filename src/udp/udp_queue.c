/* UDP receive queue: datagrams in a byte ring. */
#include "udp/udp_queue.h"

#include <errno.h>
#include <string.h>

typedef struct rec {
    uint32_t len; /* payload bytes; SKIP: rest of the ring is unused */
    pm_sockaddr from;
} rec;
#define SKIP UINT32_MAX

static uint32_t rec_size(size_t len)
{
    return (uint32_t)((sizeof(rec) + len + 7) & ~(size_t)7);
}

void pm_udp_queue_init(pm_udp_queue *q, uint8_t *buf, uint32_t cap)
{
    memset(q, 0, sizeof *q);
    q->buf = buf;
    q->cap = cap & ~7u;
    q->limit = q->cap;
}

int pm_udp_queue_push(pm_udp_queue *q, const pm_sockaddr *from, const void *data, size_t len)
{
    if (len > q->cap) return -ENOBUFS;
    uint32_t need = rec_size(len);
    /* Linux __udp_enqueue_schedule_skb(): refused once rmem_alloc passes sk_rcvbuf. */
    if (q->bytes + len > q->limit && q->count) return -ENOBUFS;
    if (!q->used) q->head = 0;
    if (q->used >= q->cap) return -ENOBUFS;
    uint32_t tail = (q->head + q->used) % q->cap;
    if (q->used && tail <= q->head) {
        if (q->head - tail < need) return -ENOBUFS; /* wrapped: one gap */
    } else if (q->cap - tail < need) {
        if (q->head < need) return -ENOBUFS;
        uint32_t waste = q->cap - tail; /* the reader skips to 0 */
        if (waste >= sizeof(rec)) {
            uint32_t s = SKIP;
            memcpy(q->buf + tail, &s, sizeof s);
        }
        q->used += waste;
        tail = 0;
    }
    rec r = {(uint32_t)len, *from};
    memcpy(q->buf + tail, &r, sizeof r);
    if (len) memcpy(q->buf + tail + sizeof r, data, len);
    q->used += need;
    q->count++;
    q->bytes += (uint32_t)len;
    return 0;
}

static void skip_waste(pm_udp_queue *q)
{
    if (!q->used) return;
    uint32_t to_end = q->cap - q->head;
    uint32_t s = 0;
    if (to_end < sizeof(rec)) {
        q->used -= to_end;
        q->head = 0;
        return;
    }
    memcpy(&s, q->buf + q->head, sizeof s);
    if (s == SKIP) {
        q->used -= to_end;
        q->head = 0;
    }
}

long pm_udp_queue_peek_len(const pm_udp_queue *q)
{
    if (!q->count) return -1;
    pm_udp_queue c = *q;
    skip_waste(&c);
    rec r;
    memcpy(&r, c.buf + c.head, sizeof r);
    return (long)r.len;
}

long pm_udp_queue_pop(pm_udp_queue *q, pm_sockaddr *from, void *data, size_t cap)
{
    if (!q->count) return -EAGAIN;
    skip_waste(q);
    rec r;
    memcpy(&r, q->buf + q->head, sizeof r);
    size_t n = r.len < cap ? r.len : cap;
    if (n) memcpy(data, q->buf + q->head + sizeof r, n);
    if (from) *from = r.from;
    uint32_t sz = rec_size(r.len);
    q->head = (q->head + sz) % q->cap;
    q->used -= sz;
    q->count--;
    q->bytes -= r.len;
    if (!q->count) q->head = q->used = 0;
    return (long)r.len;
}
